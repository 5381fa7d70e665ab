"""Byte-exact delivery through three bridges in every scheduling mode, the
scheduler's split as seen in mpclient's counters, and the payload size limit
(MP_MAX_PAYLOAD = 65475) in both directions."""

import time

import pytest

from conftest import STEADY, MAX_PAYLOAD, figure, make_payload, require_impair, verify_target

N = 5000
WEIGHTS = (1, 2, 1)


@pytest.mark.parametrize("mode", ["duplicate", "roundrobin", "weighted"])
def test_integrity(net, mode):
    echo = net.echo()
    srv = net.server(echo.port, mode=mode)
    bridges = [net.socat(srv.port) for _ in range(3)]
    options = [f"weight={w}" for w in WEIGHTS] if mode == "weighted" else None
    cli = net.client(bridges, mode=mode, options=options, args=STEADY)
    app = net.app(1, cli)
    net.warm_up(app, bridges)
    # The split is checked on the flow alone: the warm-up's few datagrams
    # went out while the session was new (paths joining one by one).
    tx0 = [p["tx_pkts"] - p["probes"] for p in cli.stats().paths]
    n0 = len(app.sent)

    t0 = time.monotonic()
    app.flow([k % 1400 + 1 for k in range(N)], window=32)
    app.flow([0])  # and one empty datagram
    elapsed = time.monotonic() - t0
    app.drain(0.2)  # late duplicates, if any, would show up here
    n = len(app.sent)  # N, the empty one, and the warm-up datagrams

    # Round trip: everything back, once, byte-exact, nothing foreign.
    s = app.summary()
    figure(f"integrity[{mode}]", f"app sent {s['sent']} echoed {s['ok']} lost {s['lost']} "
           f"dup {s['dup']} corrupt {s['corrupt']} foreign {s['foreign']} in {elapsed:.2f}s")
    app.assert_clean()
    # Up direction: the target got each datagram exactly once, byte-exact,
    # all from one source port (one session).
    records = echo.snapshot()
    ports, problems = verify_target(records, [app])
    assert not problems, problems[:20]
    assert len(records) == n
    assert len(ports[1]) == 1, ports

    cst = cli.stats()
    sst = srv.stats()
    # tx_pkts counts probes too (one per path per second, each on its path
    # alone); the distribution checks are about data.
    sent = [p["tx_pkts"] for p in cst.paths]
    tx = [p["tx_pkts"] - p["probes"] for p in cst.paths]
    probes = sum(p["probes"] for p in cst.paths)
    down = [sst.spaths()[i]["tx_pkts"] if i in sst.spaths() else 0 for i in range(3)]
    figure(f"integrity[{mode}]", f"mpclient path tx_pkts {tx} (n={n}); "
           f"mpserver path tx_pkts {down}; mpserver deduplicated "
           f"{sst['deduplicated']}, mpclient deduplicated {cst['deduplicated']}")
    assert cst["app_rx"] == n and cst["app_tx"] == n, cst.main
    assert [p["tx_fail"] for p in cst.paths] == [0, 0, 0]
    assert [p["rx_bad"] for p in cst.paths] == [0, 0, 0]
    assert sst["sessions"] == 1 and sst.sessions[0]["up_pkts"] == n
    assert sst.sessions[0]["down_pkts"] == n
    # Conservation at mpserver: every datagram received was forwarded once
    # or dropped as a duplicate; at mpclient likewise toward the app.
    assert sst.sessions[0]["probes"] == probes
    # socat is not ours: on a loaded machine a bridge may drop some. What
    # the programs do with what arrives is checked exactly below.
    bridge_loss = sum(sent) - sst["rx_pkts"]
    if bridge_loss:
        figure(f"integrity[{mode}]", f"the socat bridges dropped {bridge_loss} of "
               f"{sum(sent)} (per path: sent {sent}, arrived "
               f"{[sst.spaths()[i]['rx_pkts'] for i in range(3)]})")
    assert sst["rx_pkts"] == n + sst["deduplicated"] + probes
    acks = sum(p["acks"] for p in cst.paths)
    assert sum(p["rx_pkts"] for p in cst.paths) == sum(down)
    assert sum(down) == n + cst["deduplicated"] + acks
    for st in (cst, sst):
        other = st.nonzero_drops()
        assert not other, other

    if mode == "duplicate":
        assert tx == [n, n, n]
        assert sst["deduplicated"] == 2 * n - bridge_loss
    elif mode == "roundrobin":
        flow = [t - b for t, b in zip(tx, tx0)]
        for t in flow:
            assert abs(t - (n - n0) / 3) <= 1, (flow, tx)
        assert sst["deduplicated"] == 0 and cst["deduplicated"] == 0
    else:
        total = sum(WEIGHTS)
        shares = [t / n for t in tx]
        figure(f"integrity[{mode}]", "mpclient split " +
               " ".join(f"{100 * s:.2f}%" for s in shares) + " for weights 1:2:1")
        for share, w in zip(shares, WEIGHTS):
            assert abs(share - w / total) <= 0.01, shares
        assert sum(tx) == n
        assert sst["deduplicated"] == 0 and cst["deduplicated"] == 0
        check_server_mirrors_weights(net, srv, app)

    cli.stop()
    srv.stop()


def check_server_mirrors_weights(net, srv, app):
    """mpserver weighs the paths of a session, once a second, by what
    arrived on each over the last second: with a steady stream its split
    down follows the client's 1:2:1 from the first full second on."""
    stream = net.stream(app, 400)
    time.sleep(1.3)  # at least one sweep saw a whole second of the stream
    a = srv.stats().spaths()
    time.sleep(1.5)
    b = srv.stats().spaths()
    stream.finish(drain=0.5)
    delta = [b[i]["tx_pkts"] - a[i]["tx_pkts"] for i in range(3)]
    shares = [d / sum(delta) for d in delta]
    figure("integrity[weighted]", "mpserver split down over 1.5 s of a 400-pps stream: "
           + " ".join(f"{100 * s:.1f}%" for s in shares) + f" ({delta})")
    for share, w in zip(shares, WEIGHTS):
        assert abs(share - w / sum(WEIGHTS)) <= 0.03, shares
    assert not app.lost(app.send_time) and not app.dups and not app.corrupt


OVERSIZE_TRIGGER = 4242  # an app datagram of this size makes the target
                         # answer with an oversize reply before the echo


def test_max_payload(net):
    require_impair()
    big_reply = make_payload(200, 999999, MAX_PAYLOAD + 1)

    def reply(data):
        if len(data) == OVERSIZE_TRIGGER:
            return [big_reply, data]
        return [data]

    echo = net.echo(reply=reply)
    srv = net.server(echo.port)
    bridges = [net.impair(srv.port) for _ in range(3)]
    cli = net.client(bridges)
    app = net.app(1, cli)

    # 1. The largest application datagram arrives byte-exact both ways.
    app.flow([MAX_PAYLOAD], stall=5.0)
    app.assert_clean(" (65475-byte datagram)")
    rec = echo.snapshot()
    assert [len(d) for _, d in rec] == [MAX_PAYLOAD]

    # 2. One byte more from the application: dropped by mpclient and
    # counted. A normal datagram after it is the barrier: once its echo is
    # back, mpclient has read the oversize one.
    app.sock.sendto(b"\x01" * (MAX_PAYLOAD + 1), app.dest)
    app.flow([100])
    app.drain(0.2)
    cst = cli.poll_stats(lambda st: st["drop_oversize"] >= 1)
    rec = echo.snapshot()
    figure("max_payload", f"app sent {MAX_PAYLOAD + 1} bytes: mpclient drop_oversize="
           f"{cst['drop_oversize']} app_rx={cst['app_rx']}; target got sizes "
           f"{[len(d) for _, d in rec]}")
    assert cst["drop_oversize"] == 1
    assert all(len(d) <= MAX_PAYLOAD for _, d in rec)
    assert len(rec) == 2
    app.assert_clean(" (after the oversize datagram)")

    # 3. The target answers with MAX_PAYLOAD + 1 bytes: mpserver drops and
    # counts it; the echo sent right after it still arrives.
    app.flow([OVERSIZE_TRIGGER])
    app.drain(0.2)
    sst = srv.poll_stats(lambda st: st["drop_oversize"] >= 1)
    figure("max_payload", f"target replied {MAX_PAYLOAD + 1} bytes: mpserver "
           f"drop_oversize={sst['drop_oversize']}, app corrupt/foreign="
           f"{len(app.corrupt)}/{len(app.foreign)}")
    assert sst["drop_oversize"] == 1
    app.assert_clean(" (after the oversize reply)")

    cst = cli.stop()
    sst = srv.stop()
    assert cst["drop_oversize"] == 1 and sst["drop_oversize"] == 1
    for b in bridges:
        assert b.terminate() == 0
        stats = [l for l in b.text().splitlines() if l.startswith("impair stats")]
        assert stats and all(" truncated=0 " in l for l in stats), stats
