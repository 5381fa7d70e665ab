"""Junk sprayed at mpserver's listening port and at mpclient's path socket
while a legit echo stream flows: nothing but legit payloads is delivered,
legit traffic loses nothing, and every junk datagram is counted under the
drop reason a Python model of wire_parse() predicts for it.

One of the three bridges is a Python relay (PyBridge) that captures the
packets passing through it; junk for mpclient is sent from that bridge's
address, the only one mpclient's connected path socket accepts.
"""

import collections
import random
import threading
import time

from conftest import (STEADY, HOST, MAX_PATHS, WIRE_REASONS, figure, make_packet,
                      packet_ids, udp_socket, verify_target, wire_verdict)

N_LEGIT = 2500
RATE = 1000  # legit datagrams per second: the stream lasts ~2.5 s


def craft_invalid(template, rng):
    """CRC-valid (or deliberately not) packets whose header is wrong in one
    field each, built on a real packet's ids."""
    session, epoch, seq = packet_ids(template)
    out = []
    body = b"junk payload"
    for vts in (0x10, 0x13, 0x14):                        # type 0; 3, 4 need a key
        out.append(make_packet(0, session, epoch, seq, body, vts=vts))
    out.append(make_packet(0, 0, epoch, seq, body))         # session 0
    out.append(make_packet(0, session, 0, seq, body))       # epoch 0
    out.append(make_packet(0, session, epoch, 0, body))     # seq 0
    out.append(make_packet(MAX_PATHS, session, epoch, seq, body))  # path 16
    out.append(make_packet(255, session, epoch, seq, body))        # path 255
    out.append(make_packet(0, session, epoch, seq, body, vts=0x21))  # version 2
    out.append(make_packet(0, session, epoch, seq, body, vts=0x01))  # version 0
    out.append(make_packet(0, session, epoch, seq, body, vts=0x19))  # sealed
    # header-valid, payload fine, CRC wrong: on a fresh session id too, so
    # a bad check can be seen not to open a session
    for sid in (session, rng.randrange(1, 1 << 32)):
        p = make_packet(0, sid, epoch, seq + 1000000, body)
        out.append(p[:-4] + bytes(b ^ 0xA5 for b in p[-4:]))
    return out


def make_junk(captured, rng, side):
    """A shuffled list of (datagram, kind, predicted drop reason)."""
    items = []

    def add(d, kind, expect_ok=None):
        v = wire_verdict(d)
        if v == "ok":
            if expect_ok is None:
                return False  # a random datagram that happens to be valid: skip
            v = expect_ok
        items.append((d, kind, v))
        return True

    for _ in range(20):
        add(b"", "empty")
    n = 0
    while n < 500:
        n += add(rng.randbytes(rng.randint(1, 1500)), "random")
    for _ in range(4):
        add(rng.randbytes(65000), "65000-byte")
    pool = captured[:64]
    n = 0
    while n < 100:
        c = rng.choice(pool)
        n += add(c[:rng.randrange(1, len(c))], "truncated")
    n = 0
    while n < 100:
        c = bytearray(rng.choice(pool))
        i = rng.randrange(1, len(c))  # byte 0 is covered below
        c[i] ^= 1 << rng.randrange(8)
        n += add(bytes(c), "bit flip")
    # Byte 0 (the path id) is outside the CRC on purpose: a flip there is a
    # valid packet for another path, i.e. a duplicate, or a bad path id.
    for bit in range(8):
        for c in rng.sample(pool, 2):
            d = bytes([c[0] ^ (1 << bit)]) + c[1:]
            add(d, "path-byte flip", expect_ok="duplicate")
    for c in rng.sample(pool, 10):
        add(c, "exact replay", expect_ok="duplicate")
    for d in craft_invalid(pool[0], rng):
        add(d, "crafted header")
    # a PROBE or ACK (types 2, 6: their own sequence) is valid, but one that
    # reuses a seen sequence number of its space is a duplicate like any
    # replay, and must teach mpserver no path
    # (the session's first probes, one per path, and their answers, carry
    # control sequence numbers 1..3)
    vts = 0x12 if side == "server" else 0x16
    for c in rng.sample(pool, 4):
        session, epoch, _ = packet_ids(c)
        add(make_packet(9, session, epoch, rng.randint(1, 3), b"", vts=vts), "probe replay",
            expect_ok="duplicate")
    if side == "client":
        # valid in every way but for a session mpclient does not have
        session, epoch, seq = packet_ids(pool[0])
        for i in range(5):
            add(make_packet(0, session ^ (0x5A5A0000 + i), epoch, seq, b"x" * 20),
                "unknown session", expect_ok="unknown_session")
    rng.shuffle(items)
    return items


def spray(send, items):
    for i, (d, _, _) in enumerate(items):
        send(d)
        if len(d) > 10000:
            time.sleep(0.01)  # big ones: let the receiver drain its buffer
        elif i % 25 == 24:
            time.sleep(0.002)


def breakdown(items):
    return collections.Counter(v for _, _, v in items)


def kinds(items):
    return collections.Counter(k for _, k, _ in items)


def test_junk(net):
    rng = random.Random(20240611)
    echo = net.echo()
    srv = net.server(echo.port)
    pyb = net.pybridge(srv.port)
    bridges = [pyb, net.socat(srv.port), net.socat(srv.port)]
    cli = net.client(bridges, args=STEADY)  # path 0 is the Python bridge
    app = net.app(1, cli)
    net.warm_up(app, bridges)
    pyb.up.clear()
    pyb.down.clear()

    flow = threading.Thread(target=app.flow, daemon=True,
                            args=([20 + (k * 53) % 1381 for k in range(N_LEGIT)],),
                            kwargs={"window": 32, "rate": RATE})
    flow.start()
    deadline = time.monotonic() + 10
    while (len(pyb.up) < 100 or len(pyb.down) < 100) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(pyb.up) >= 100 and len(pyb.down) >= 100, "no legit traffic captured"

    srv_junk = make_junk(pyb.up, rng, "server")
    cli_junk = make_junk(pyb.down, rng, "client")
    js = udp_socket()
    net.procs.on_cleanup(js.close)
    spray_srv = threading.Thread(target=spray, daemon=True, args=(
        lambda d: js.sendto(d, (HOST, srv.port)), srv_junk))
    spray_srv.start()
    spray(lambda d: pyb.inject_down([d], pace_every=0), cli_junk)
    spray_srv.join(30)
    still_flowing = flow.is_alive()
    flow.join(60)
    assert still_flowing, "the legit stream ended before the junk was sent"
    assert not flow.is_alive()
    app.drain(0.2)

    # Wait until both programs have read everything sent to them: mpserver
    # gets the client's copies (lossless loopback bridges) plus the junk;
    # mpclient gets the server's copies plus the junk.
    junk_addr = f"{HOST}:{js.getsockname()[1]}"
    cst = cli.stats()
    legit_up = sum(p["tx_pkts"] for p in cst.paths)
    sst = srv.poll_stats(lambda st: st["rx_pkts"] >= legit_up + len(srv_junk))
    legit_down = sum(sp["tx_pkts"] for sp in sst.session_paths
                     if sp["addr"] != junk_addr)
    cst = cli.poll_stats(lambda st: sum(p["rx_pkts"] + p["rx_bad"] for p in st.paths)
                         >= legit_down + len(cli_junk))

    # -- what was delivered
    s = app.summary()
    records = echo.snapshot()
    ports, problems = verify_target(records, [app])
    figure("junk", f"legit: app sent {s['sent']} echoed {s['ok']} lost {s['lost']} "
           f"dup {s['dup']} corrupt {s['corrupt']} foreign {s['foreign']}; target got "
           f"{len(records)} datagrams, {len(problems)} not legit or not once")
    app.assert_clean()
    assert not problems, problems[:20]
    n_app = len(app.sent)  # N_LEGIT and the warm-up datagram(s)
    assert len(records) == n_app

    # -- mpserver's accounting
    exp = breakdown(srv_junk)
    got = sst.drops()
    # what legit packets were not delivered were duplicate-mode copies, or
    # probes (each carried by its path alone)
    legit_dups = legit_up - sst.sessions[0]["up_pkts"] - sst.sessions[0]["probes"]
    figure("junk", f"mpserver: {len(srv_junk)} junk sent {dict(kinds(srv_junk))}")
    figure("junk", f"mpserver: predicted {dict(sorted(exp.items()))}; counted "
           f"{ {k: v for k, v in sorted(got.items()) if v} }, deduplicated "
           f"{sst['deduplicated']} ({legit_dups} legit duplicate-mode copies); "
           f"rx_pkts {sst['rx_pkts']} = legit {legit_up} + junk {len(srv_junk)}")
    assert sst["rx_pkts"] == legit_up + len(srv_junk)
    for r in WIRE_REASONS:
        assert got[r] == exp[r], f"mpserver drop_{r}: counted {got[r]}, predicted {exp[r]}"
    # duplicates are deduplicated, not drops
    assert sst["deduplicated"] + got["too_old"] == legit_dups + exp["duplicate"]
    assert sst["sessions"] == 1 and sst["sessions_opened"] == 1, sst.main
    assert sst.sessions[0]["up_pkts"] == n_app
    for r in ("unknown_session", "stale_epoch", "oversize", "session_limit", "send_fail",
              "seal_fail", "no_memory", "target_fail"):
        assert got[r] == 0, (r, got[r])
    # Replays and path-byte flips come from the sprayer's address: they are
    # duplicates, and must not make mpserver take that address for a path
    # (it would send the session's downstream traffic there).
    hijacked = [sp for sp in sst.session_paths if sp["addr"] == junk_addr]
    learned = [l for l in srv.text().splitlines()
               if " heard from " + junk_addr in l or " to " + junk_addr in l]
    figure("junk", f"mpserver paths at the sprayer's address {junk_addr}: " +
           (", ".join(f"path {sp['path']} (rx {sp['rx_pkts']}, tx {sp['tx_pkts']})"
                      for sp in hijacked) or "none"))

    # -- mpclient's accounting
    exp = breakdown(cli_junk)
    got = cst.drops()
    down_pkts = cst.sessions[0]["down_pkts"]
    legit_dups = legit_down - down_pkts - sum(p["acks"] for p in cst.paths)
    wire_junk = sum(exp[r] for r in WIRE_REASONS)
    figure("junk", f"mpclient: {len(cli_junk)} junk sent {dict(kinds(cli_junk))}")
    figure("junk", f"mpclient: predicted {dict(sorted(exp.items()))}; counted "
           f"{ {k: v for k, v in sorted(got.items()) if v} }, deduplicated "
           f"{cst['deduplicated']} ({legit_dups} legit copies); path rx_bad "
           f"{[p['rx_bad'] for p in cst.paths]}")
    # a path counts what it received whole (rx_pkts) or damaged (rx_bad);
    # packets of a session this client does not have are neither
    assert (sum(p["rx_pkts"] + p["rx_bad"] for p in cst.paths) + got["unknown_session"]
            == legit_down + len(cli_junk))
    for r in WIRE_REASONS:
        assert got[r] == exp[r], f"mpclient drop_{r}: counted {got[r]}, predicted {exp[r]}"
    assert [p["rx_bad"] for p in cst.paths] == [wire_junk, 0, 0]
    assert cst["deduplicated"] + got["too_old"] == legit_dups + exp["duplicate"]
    assert got["unknown_session"] == exp["unknown_session"]
    assert cst["app_tx"] == n_app and down_pkts == n_app
    assert cst["sessions"] == 1

    cli.stop()
    srv.stop()
    # last, so that a failure here comes after every other check
    assert not hijacked and not learned, (
        f"replayed duplicates from {junk_addr} became paths of the session; mpserver "
        f"sent them {sum(sp['tx_pkts'] for sp in hijacked)} downstream datagrams:\n"
        + "\n".join(learned))


def test_replayed_duplicate_does_not_add_a_path(net):
    """The smallest form of the replay case above: one real packet, sent
    again from another address with another path id (byte 0, outside the
    CRC). It is a duplicate and is dropped; it must not make that address a
    path of the session, or mpserver sends the session's traffic there."""
    echo = net.echo()
    srv = net.server(echo.port)
    pyb = net.pybridge(srv.port)
    cli = net.client([pyb])
    app = net.app(1, cli)
    app.flow([100] * 10)
    real = pyb.up[-1]
    spy = udp_socket()
    net.procs.on_cleanup(spy.close)
    spy.sendto(bytes([5]) + real[1:], (HOST, srv.port))
    sst = srv.poll_stats(lambda st: st["deduplicated"] >= 1)
    assert sst["deduplicated"] == 1 and not sst.nonzero_drops()
    app.flow([100] * 50)
    app.assert_clean()
    spy.settimeout(0.3)
    leaked = 0
    try:
        while True:
            spy.recv(65536)
            leaked += 1
    except OSError:
        pass
    sst = srv.stats()
    figure("replay", f"one replayed packet with path id 5 from {HOST}:{spy.getsockname()[1]}: "
           f"mpserver paths {sorted(sst.spaths())}, the replayer then received "
           f"{leaked} of the session's 50 echoes")
    cli.stop()
    srv.stop()
    assert leaked == 0 and sorted(sst.spaths()) == [0], \
        "a replayed duplicate made its source address a path of the session"
