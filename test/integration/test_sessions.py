"""Several applications and several mpclients sharing bridges and one
mpserver: one session per application, no crosstalk; idle sessions expire on
both sides and a later datagram opens a new one."""

import threading
import time

from conftest import figure, verify_target

N_PER_APP = 1500


def test_concurrent_sessions(net):
    echo = net.echo()
    srv = net.server(echo.port)
    bridges = [net.socat(srv.port) for _ in range(3)]
    clients = [net.client(bridges), net.client(bridges)]
    apps = [net.app(1, clients[0]), net.app(2, clients[0]),
            net.app(3, clients[1]), net.app(4, clients[1])]
    # one client after the other: see Net.warm_up (socat's fork race)
    for n, a in enumerate(apps):
        net.warm_up(a, bridges, children=1 + n // 2)

    # Different size patterns per app, all flowing at once.
    def run(app):
        app.flow([6 + (k * (37 + 11 * app.app_id)) % 1400 for k in range(N_PER_APP)],
                 window=16)
    threads = [threading.Thread(target=run, args=(a,)) for a in apps]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    elapsed = time.monotonic() - t0
    for a in apps:
        a.drain(0.1)

    for a in apps:
        s = a.summary()
        figure("sessions", f"app {a.app_id} (mpclient {1 + (a.app_id - 1) // 2}): {s}")
    for a in apps:
        a.assert_clean()

    ports, problems = verify_target(echo.snapshot(), apps)
    assert not problems, problems[:20]
    figure("sessions", f"{4 * N_PER_APP} datagrams at once in {elapsed:.2f}s; target source "
           f"ports per app: {dict(sorted((k, sorted(v)) for k, v in ports.items()))}")
    assert all(len(p) == 1 for p in ports.values()), ports
    distinct = set().union(*ports.values())
    assert len(distinct) == 4, ports

    sst = srv.stats()
    assert sst["sessions"] == 4, sst.main
    assert sorted(s["target_port"] for s in sst.sessions) == sorted(distinct)
    for a in apps:
        (sess,) = [s for s in sst.sessions if s["target_port"] in ports[a.app_id]]
        assert sess["up_pkts"] == sess["down_pkts"] == len(a.sent), (a.app_id, sess)
    for c in clients:
        cst = c.stats()
        assert cst["sessions"] == 2, cst.main
        assert sorted(s["app"] for s in cst.sessions) == sorted(
            f"127.0.0.1:{a.port}" for a in apps if a.dest[1] == c.port)
        # the two sessions of one mpclient have distinct ids, and each id
        # is one mpserver session
        assert {s["id"] for s in cst.sessions} <= {s["id"] for s in sst.sessions}
    for c in clients:
        c.stop()
    srv.stop()


def test_idle_expiry(net):
    idle = ["--idle-timeout", "2"]
    echo = net.echo()
    srv = net.server(echo.port, args=idle)
    bridges = [net.socat(srv.port) for _ in range(3)]
    cli = net.client(bridges, args=idle)
    apps = [net.app(1, cli), net.app(2, cli)]
    net.warm_up(apps[0], bridges)
    for a in apps:
        a.flow([100] * 50)
    assert cli.stats()["sessions"] == 2
    assert srv.stats()["sessions"] == 2
    quiet_since = time.monotonic()
    first_ports = {p for p, _ in echo.snapshot()}

    # Both sides sweep once a second and close what has been idle >= 2 s:
    # gone after 3 s at the latest. Wait for the log lines, then look at the
    # counters at the 4 s mark.
    for prog in (cli, srv):
        prog.wait_count(r"session \w+: idle 2s, closed", 2, timeout=6)
    time.sleep(max(0.0, 4.0 - (time.monotonic() - quiet_since)))
    cst, sst = cli.stats(), srv.stats()
    figure("idle_expiry", f"after {time.monotonic() - quiet_since:.1f}s of silence: "
           f"mpclient sessions={cst['sessions']} mpserver sessions={sst['sessions']}")
    assert cst["sessions"] == 0 and sst["sessions"] == 0

    # The next datagram opens a new session on both sides and is echoed.
    before_c, before_s = cli.size(), srv.size()
    apps[0].flow([100])
    apps[0].assert_clean()
    cli.wait_line(r"session \w+: new for ", timeout=2, since=before_c)
    srv.wait_line(r"session \w+: new, client epoch ", timeout=2, since=before_s)
    cst, sst = cli.stats(), srv.stats()
    new_port = echo.snapshot()[-1][0]
    figure("idle_expiry", f"next datagram: echoed, mpclient sessions={cst['sessions']} "
           f"mpserver sessions={sst['sessions']} sessions_opened={sst['sessions_opened']}, "
           f"target saw port {new_port} (before: {sorted(first_ports)})")
    assert cst["sessions"] == 1 and sst["sessions"] == 1
    assert sst["sessions_opened"] == 3
    assert sst.sessions[0]["target_port"] == new_port
    cli.stop()
    srv.stop()
