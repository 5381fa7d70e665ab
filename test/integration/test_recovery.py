"""Loss recovery in bond mode (docs/PROTOCOL.md, "Loss recovery"): over
bridges losing 10, 20 and 30 % each way, what the application loses and
what it costs on the wire, against the same stream with recovery off; over
clean bridges, what recovery costs (no parity, next to nothing)."""

import time

import pytest

from conftest import figure, require_impair, timing_check
from test_impaired import impair_stats
from test_keyed import write_key
from test_mpstat import mpstat
from test_paths import status, wait_socket

LOSS = (10, 20, 30)     # percent, each direction, per bridge
SEEDS = (11, 22, 33)
RATE = 300              # datagrams per second
SECONDS = 10
# The targets, per direction: at most 0.1 % delivered loss, at most
# 1.6 datagrams on the wire per application datagram (probes apart).
LOSS_MAX_PCT = 0.1
WIRE_MAX = 1.6


def run(net, recover, keyed=False, loss=LOSS, seconds=SECONDS):
    require_impair()
    echo = net.echo()
    cs = str(net.tmp / f"cli-{recover}.sock")
    ss = str(net.tmp / f"srv-{recover}.sock")
    key = []
    if keyed:
        key = ["--key-file", str(write_key(net.tmp / "key"))]
    srv = net.server(echo.port, args=["--recover", recover, "--status", ss] + key)
    bridges = [net.impair(srv.port, "--loss", l, "--seed", s) for l, s in zip(loss, SEEDS)]
    cli = net.client(bridges, mode="bond", args=["--recover", recover, "--status", cs] + key)
    wait_socket(cs)
    app = net.app(1, cli)
    stream = net.stream(app, RATE)
    t0 = time.monotonic()
    time.sleep(seconds)
    t1 = time.monotonic()
    # until every datagram's echo came, or 2 s (the last ones may wait out
    # a hold, or be resent)
    stream.finish(drain=2.0, need=list(app.sent))
    doc = status(cs)
    sdoc = status(ss)
    shown = mpstat(cs).stdout
    cli.stop()
    srv.stop()
    counts = [impair_stats(b.text()) if b.terminate() == 0 else None for b in bridges]
    assert all(counts), "an impair bridge did not exit cleanly"
    sent = len(app.sent)
    lost = len(app.lost())
    # What crossed the bridges (each bridge's own count of what reached it),
    # less the probes and their answers, which cost the same whatever the
    # mode; a probe lost on the way up has no answer.
    probes = sum(p["probes"] for p in doc["paths"])
    acks = sum(p["acks"] for p in doc["paths"])
    up_wire = sum(c["up"]["rx_pkts"] for c in counts) - probes
    up_lost = sum(c["up"]["lost"] for c in counts)
    # down: less the answers mpserver sent (one per probe it took)
    down_wire = sum(c["down"]["rx_pkts"] for c in counts) - sdoc["sessions"][0]["probes"]
    sess = doc["sessions"][0]
    # round-trip times of what came back: recovery shows in the tail
    rtts = sorted(app.recv_time[k] - app.send_time[k] for k in app.recv_time)
    pct = {q: round(1000 * rtts[min(len(rtts) - 1, int(q / 100 * len(rtts)))], 1)
           for q in (50, 90, 95, 99)} if rtts else {}
    return {
        "rtt_ms": pct,
        "mpstat": shown, "sent": sent, "lost": lost, "lost_ks": app.lost()[:20], "loss_pct": 100 * lost / sent,
        "up_per_dgram": up_wire / sent, "down_per_dgram": down_wire / sent,
        "up_lost_on_wire": up_lost, "acks": acks,
        "drops": {k: v for k, v in doc["drops"].items() if v},
        "srv_paths": [(p["capacity_bps"], p["pacing_bps"], p["capacity_phase"], p["capacity_cuts"],
                       p["tx_pkts"]) for p in sdoc["sessions"][0]["paths"]],
        "cli_paths": [(p["capacity_bps"], p["pacing_bps"], p["capacity_phase"], p["capacity_cuts"],
                       p["tx_pkts"]) for p in sess["paths"]],
        "srv_drops": {k: v for k, v in sdoc["drops"].items() if v},
        "reorder": sess["reorder"], "srv_reorder": sdoc["sessions"][0]["reorder"],
        "recovery": sess["recovery"], "srv_recovery": sdoc["sessions"][0]["recovery"], "dups": len(app.dups),
        "fec": sess["fec"], "srv_fec": sdoc["sessions"][0]["fec"],
        "corrupt": len(app.corrupt), "foreign": len(app.foreign), "t0": t0, "t1": t1,
    }


@pytest.mark.parametrize("keyed", [False, True], ids=["plain", "keyed"])
def test_bond_recovers_losses(net, keyed):
    """300 datagrams/s echoed over three bridges losing 10/20/30 % each way
    in bond mode: with recovery the application loses at most 0.1 % each way
    (a round trip at most 0.2 %), at most 1.6 datagrams on the wire per
    datagram; without it, bond loses about the bridges' mean loss each way
    (measured in plaintext; keyed, the NACKs and resends are sealed)."""
    off = run(net, "off") if not keyed else None
    on = run(net, "on", keyed)
    for name, r in (("off", off), ("on", on)):
        if r is None:
            continue
        figure("recovery", f"{'keyed, ' if keyed else ''}--recover {name}: round trip {r['sent'] - r['lost']}/{r['sent']} "
               f"(lost {r['loss_pct']:.2f} %), wire per datagram up {r['up_per_dgram']:.2f} "
               f"down {r['down_per_dgram']:.2f}; round-trip ms by percentile {r['rtt_ms']}; "
               f"lost {r['lost_ks'][:10]}; client recovery "
               f"{r['recovery']}, server recovery {r['srv_recovery']}; fec client {r['fec']}, "
               f"server {r['srv_fec']}; reorder client "
               f"{r['reorder']}, server {r['srv_reorder']}; drops {r['drops']} "
               f"{r['srv_drops']}; paths client {r['cli_paths']} server {r['srv_paths']}")
    # without recovery: each way loses about the mean of the bridges' losses
    assert off is None or off["loss_pct"] > 20, off
    # with it: the targets, each way (round trip: twice the one-way bound)
    timing_check(on["loss_pct"] <= 2 * LOSS_MAX_PCT,
                 f"round-trip loss {on['loss_pct']:.3f} % with recovery "
                 f"(bound {2 * LOSS_MAX_PCT} %)", on["t0"], on["t1"])
    assert on["up_per_dgram"] <= WIRE_MAX, on
    assert on["down_per_dgram"] <= WIRE_MAX, on
    assert on["dups"] == 0 and on["corrupt"] == 0 and on["foreign"] == 0, on
    assert on["recovery"]["resent"] > 0 and on["recovery"]["nacks_sent"] > 0, on
    # mpstat shows it; with recovery off there is nothing to show
    assert "loss recovery" in on["mpstat"], on["mpstat"]
    assert off is None or "loss recovery" not in off["mpstat"], off["mpstat"]
    # parity over the lossy paths, each way, and datagrams rebuilt from it
    # (the rest is resent); none without recovery
    for side in ("fec", "srv_fec"):
        assert on[side]["parity_sent"] > 0 and on[side]["recovered"] > 0, on[side]
        assert off is None or not off[side]["parity_sent"], off[side]
    assert "forward error correction" in on["mpstat"], on["mpstat"]


def test_bond_clean_paths_cost_nothing(net):
    """Over clean bridges recovery costs next to nothing (the issue: at most
    2 % extra bytes): no parity either way, since no path loses, and
    nothing lost or resent."""
    r = run(net, "on", loss=(0, 0, 0), seconds=4)
    figure("recovery", f"clean bridges, --recover on: round trip {r['sent'] - r['lost']}/{r['sent']}, "
           f"wire per datagram up {r['up_per_dgram']:.3f} down {r['down_per_dgram']:.3f}; "
           f"fec client {r['fec']}, server {r['srv_fec']}; client recovery {r['recovery']}")
    assert r["lost"] == 0, r
    for side in ("fec", "srv_fec"):
        assert r[side]["parity_sent"] == 0 and r[side]["groups"] == 0, r[side]
    # what is not the application's on the wire: the NACKs and resends of
    # a spurious ask at most (probes are counted apart)
    assert r["up_per_dgram"] <= 1.02 and r["down_per_dgram"] <= 1.02, r

