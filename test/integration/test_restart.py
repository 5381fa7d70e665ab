"""Restarts under a steady 100-pps echo stream per application.

Resumption time is measured from the restarted program's "listening on" log
line (its own wall-clock timestamp, millisecond resolution: it is written
right after the socket is bound) to the moment the application receives its
first echo after it (time.time() taken right after recvfrom). The programs
must be back within 2.0 s: a 100-pps stream sends every 10 ms, so most of
that budget is margin for ASan, socat's fork and a loaded 2-core machine.

Bridges, and why the README's bridge line is `socat ... udp-listen:P,fork`:
socat's UDP-LISTEN without fork connects its socket to the first client
address it hears from and ignores every other source. A restarted mpclient
opens new path sockets with new source ports, so without fork it is cut off
for good (test_plain_socat_without_sport_stays_cut_off), unless each path
has a fixed source port (sport= in the config, test_client_restart_plain_socat_sport).
Plain socat also exits on the first ICMP port-unreachable it gets (a reply
sent to the dead mpclient), so the plain-socat tests stop the stream for a
moment (nothing in flight) before they kill mpclient.
"""

import time

from conftest import figure, free_port, log_time, verify_target

RATE = 100  # datagrams per second per application
OUTAGE = 0.5  # seconds between the kill and the restart
AFTER = 1.0  # seconds of stream checked after resumption
RESUME_MAX = 2.0


def build(net, fork=True, sport=False, napps=2):
    echo = net.echo()
    srv = net.server(echo.port, bind=None)  # default bind: [::], dual-stack
    bridges = [net.socat(srv.port, fork=fork) for _ in range(3)]
    options = [f"sport={free_port()}" for _ in range(3)] if sport else None
    cli = net.client(bridges, options=options)
    streams = [net.stream(net.app(i + 1, cli), RATE, size=100 + 50 * i)
               for i in range(napps)]
    wait_echoes(streams, 30)
    return echo, srv, bridges, cli, streams


def wait_echoes(streams, n, since=0.0, timeout=5.0):
    """Polls until every stream has n echoes received after time `since`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if all(sum(1 for t in list(s.app.recv_time.values()) if t >= since) >= n
               for s in streams):
            return True
        time.sleep(0.01)
    return False


def resumption(stream, t_listen):
    """(gap in s, time of the first echo after t_listen, ks sent after it)."""
    app = stream.app
    after = sorted(t for t in list(app.recv_time.values()) if t >= t_listen)
    if not after:
        return None, None, []
    t_first = after[0]
    must = [k for k, ts in app.send_time.items() if ts > t_first]
    return t_first - t_listen, t_first, must


def check_resumed(name, streams, t_listen, echo):
    assert wait_echoes(streams, 1, since=t_listen, timeout=RESUME_MAX + 3), \
        f"{name}: a stream did not resume"
    time.sleep(AFTER)  # let the stream run on: continuity is checked below
    results = []
    for s in streams:
        gap, t_first, _ = resumption(s, t_listen)
        results.append((s, gap, t_first))
    for s, gap, t_first in results:
        _, _, must = resumption(s, t_listen)
        s.finish(drain=2.0, need=must)
    for s, gap, t_first in results:
        app = s.app
        _, _, must = resumption(s, t_listen)
        outage_lost = [k for k, ts in app.send_time.items()
                       if ts <= t_first and k not in app.recv_time]
        lost_after = app.lost(must)
        figure(name, f"app {app.app_id}: resumed {gap * 1000:.0f} ms after 'listening on'; "
               f"lost during the outage {len(outage_lost)}, after resumption "
               f"{len(lost_after)} of {len(must)}; sent {len(app.sent)} "
               f"dup {len(app.dups)} corrupt {len(app.corrupt)} foreign {len(app.foreign)}")
        assert gap <= RESUME_MAX, f"app {app.app_id}: resumed after {gap:.3f}s"
        assert not lost_after, f"app {app.app_id}: lost after resumption: {lost_after}"
        assert len(must) >= AFTER * RATE * 0.8
        assert not app.dups and not app.corrupt and not app.foreign, \
            (app.dups[:5], app.corrupt[:5], app.foreign[:5])
    return check_no_crosstalk(name, streams, echo)


def check_no_crosstalk(name, streams, echo):
    """Every target-side source port (one per mpserver session) carried one
    application's payloads only, and nothing arrived twice or unsent."""
    ports, problems = verify_target(echo.snapshot(), [s.app for s in streams],
                                    exact=False)
    assert not problems, problems[:20]
    owners = {}
    for app_id, ps in ports.items():
        for p in ps:
            assert p not in owners, f"target port {p} carried apps {owners[p]} and {app_id}"
            owners[p] = app_id
    figure(name, "target source ports per app: " +
           ", ".join(f"app {a}: {sorted(p)}" for a, p in sorted(ports.items())))
    return ports


def test_server_restart(net):
    echo, srv, bridges, cli, streams = build(net)
    srv.kill9()
    time.sleep(OUTAGE)
    srv2 = net.restart_server(srv)
    t_listen = log_time(srv2.wait_line(r" info: listening on "))
    check_resumed("restart[server kill -9]", streams, t_listen, echo)
    cst = cli.stats()
    restarts = [s["peer_restarts"] for s in cst.sessions]
    figure("restart[server kill -9]", f"mpclient sessions peer_restarts={restarts}")
    assert len(restarts) == 2 and all(r >= 1 for r in restarts), cst.sessions
    sst = srv2.stats()
    assert sst["sessions"] == 2, sst.main
    cli.stop()
    srv2.stop()


def test_client_restart(net):
    echo, srv, bridges, cli, streams = build(net)
    cli.kill9()
    time.sleep(OUTAGE)  # the apps keep sending to the dead local port
    cli2 = net.restart_client(cli)
    t_listen = log_time(cli2.wait_line(r" info: listening on "))
    check_resumed("restart[client kill -9, socat fork]", streams, t_listen, echo)
    cst = cli2.stats()
    sst = srv.stats()
    figure("restart[client kill -9, socat fork]",
           f"mpclient sessions={cst['sessions']}, mpserver sessions={sst['sessions']} "
           f"(the 2 of the killed mpclient wait for the idle timeout)")
    assert cst["sessions"] == 2
    assert sst["sessions"] == 4
    cli2.stop()
    srv.stop()


def restart_client_quiet(net, cli, streams):
    """Stops the streams until nothing is in flight, kill -9s mpclient,
    resumes the streams (into the dead port), restarts mpclient."""
    for s in streams:
        s.pause()
    cli.kill9()
    for s in streams:
        s.resume()
    time.sleep(OUTAGE)
    cli2 = net.restart_client(cli)
    return cli2, log_time(cli2.wait_line(r" info: listening on "))


def test_client_restart_plain_socat_sport(net):
    echo, srv, bridges, cli, streams = build(net, fork=False, sport=True)
    cli2, t_listen = restart_client_quiet(net, cli, streams)
    check_resumed("restart[client kill -9, plain socat, sport=]", streams, t_listen, echo)
    assert all(b.alive() for b in bridges)
    cli2.stop()
    srv.stop()


def test_plain_socat_without_sport_stays_cut_off(net):
    """The negative control: without fork and without sport= a restarted
    mpclient's new source ports are refused by the bridges, which stay
    connected to the old ones."""
    echo, srv, bridges, cli, streams = build(net, fork=False, sport=False)
    cli2, t_listen = restart_client_quiet(net, cli, streams)
    sent_before = [s.app.next_k for s in streams]
    time.sleep(3.0)  # the claim is "nothing for 3 s": it must be waited out
    got = [sum(1 for t in list(s.app.recv_time.values()) if t >= t_listen) for s in streams]
    sent = [s.app.next_k - n for s, n in zip(streams, sent_before)]
    cst = cli2.stats()
    figure("restart[client kill -9, plain socat, no sport]",
           f"3 s after the restart: apps sent {sent}, echoes {got}; new mpclient "
           f"path tx_pkts {[p['tx_pkts'] for p in cst.paths]} tx_fail "
           f"{[p['tx_fail'] for p in cst.paths]} rx_pkts {[p['rx_pkts'] for p in cst.paths]}")
    assert got == [0] * len(streams)
    assert all(n >= 2.5 * RATE for n in sent)
    assert all(p["tx_pkts"] + p["tx_fail"] > 0 for p in cst.paths)
    assert all(p["rx_pkts"] == 0 for p in cst.paths)
    # still there: cut off by their connected sockets, not gone
    assert all(b.alive() for b in bridges)
    for s in streams:
        s.finish(drain=0.1)
        assert not s.app.corrupt and not s.app.foreign and not s.app.dups
    cli2.stop()
    srv.stop()


def test_no_crosstalk_across_restarts(net):
    """Three applications through a server restart and then a client restart:
    each only ever receives its own payloads, each mpserver session carries
    one application."""
    echo, srv, bridges, cli, streams = build(net, napps=3)
    srv.kill9()
    time.sleep(OUTAGE)
    srv = net.restart_server(srv)
    t1 = log_time(srv.wait_line(r" info: listening on "))
    assert wait_echoes(streams, 50, since=t1, timeout=RESUME_MAX + 3)
    cli.kill9()
    time.sleep(OUTAGE)
    cli = net.restart_client(cli)
    t2 = log_time(cli.wait_line(r" info: listening on "))
    ports = check_resumed("restart[server then client, 3 apps]", streams, t2, echo)
    # three server instances/sessions per app: before, after the server
    # restart, after the client restart (ports may in principle be reused)
    assert all(1 <= len(p) <= 3 for p in ports.values())
    cli.stop()
    srv.stop()
