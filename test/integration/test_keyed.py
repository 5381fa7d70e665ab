"""Keyed mode (--key-file: AES-256-GCM, HELLO/WELCOME/RESET handshake).

What is checked, test by test:
  1. byte-exact echo through bridges with a key, and no plaintext on the wire;
  2. a wrong key, and a key on one side only, deliver nothing and say so;
  3. every single-bit flip of a real sealed DATA packet, both directions,
     is dropped under the reason a model of the receive path predicts;
  4. replays, within a session and across an mpserver restart (RESET and a
     new handshake), deliver nothing and disturb nothing;
  5. a junk flood (random and sealed-looking) while a real stream flows,
     once (20,000 datagrams, CPU per datagram) and sustained for 2 s while
     a new application starts a session;
  6. key file errors and --genkey;
  7. no (direction, session, epoch, seq) -- the GCM nonce under the
     session's key -- is ever used for two different packets, across both
     programs' restarts and two applications;
  8. --user nobody (as root), with a root-only key file.

Packets are captured by PyBridge relays (conftest), which can also inject
from their own addresses: mpclient's path sockets are connected and accept
nothing from elsewhere.
"""

import base64
import collections
import os
import random
import re
import stat
import struct
import subprocess
import time

import pytest

from conftest import (STALLS, STEADY, HOST, MAX_PAYLOAD, MPCLIENT, MPSERVER, SAN_ENV, figure,
                      free_port, log_time, packet_ids, sanitizer_report, timing_check,
                      udp_socket, verify_target)

SEALED = 0x08
T_DATA, T_PROBE, T_HELLO, T_WELCOME, T_RESET, T_ACK = 1, 2, 3, 4, 5, 6
TAG_LEN = 16
HS_LEN = 64          # HELLO and WELCOME
RESET_LEN = 32
RATE = 100           # datagrams per second of the background streams
RESUME_MAX = 2.0     # seconds, as in test_restart

# A distinctive 32-byte pattern: if it is ever seen on the wire, the payload
# travelled in clear.
CANARY = b"mprelay-keyed-CANARY-plaintext!!"
assert len(CANARY) == 32


# ---------------------------------------------------------------- helpers


def write_key(path, raw=None):
    """A valid key file (base64 of 32 bytes + newline, mode 0600)."""
    raw = os.urandom(32) if raw is None else raw
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, base64.b64encode(raw) + b"\n")
    finally:
        os.close(fd)
    os.chmod(path, 0o600)
    return path


def key_args(path):
    return ["--key-file", str(path)]


def vts(pkt):
    return pkt[1]


def ptype(pkt):
    return pkt[1] & 0x07


def is_sealed(pkt):
    return len(pkt) >= 2 and bool(pkt[1] & SEALED)


def drop_delta(before, after):
    a, b = before.drops(), after.drops()
    return {k: b[k] - a.get(k, 0) for k in b if b[k] - a.get(k, 0)}


def verdict_delta(before, after):
    """drop_delta, with the copies deduplicated (no drop) as "duplicate"."""
    d = drop_delta(before, after)
    dedup = after["deduplicated"] - before["deduplicated"]
    if dedup:
        d["duplicate"] = dedup
    return d


def total_handled(st):
    return total_drops(st) + st["deduplicated"]


def total_drops(st):
    return sum(st.drops().values())


def canary_payload(app, size):
    """A payload App.classify accepts (its id and counter in front), with the
    canary repeated after it."""
    k = app.next_k
    head = bytes([k & 0xFF, app.app_id]) + struct.pack(">I", k)
    body = (CANARY * (size // 32 + 1))[:size - 6]
    return head + body


def wait_echoes(app, n, since=0.0, timeout=5.0):
    """Until the app has n echoes received at or after time.time() `since`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if sum(1 for t in list(app.recv_time.values()) if t >= since) >= n:
            return True
        time.sleep(0.01)
    return False


def first_echo_after(app, t):
    after = sorted(x for x in list(app.recv_time.values()) if x >= t)
    return after[0] if after else None


def flips(pkt):
    """Every single-bit flip of pkt: (byte index, bit, datagram)."""
    for i in range(len(pkt)):
        for bit in range(8):
            v = bytearray(pkt)
            v[i] ^= 1 << bit
            yield i, bit, bytes(v)


def _wire_keyed(v):
    """wire_parse() with a key: a drop reason, or None if it passes."""
    if len(v) < 20:
        return "runt"
    if v[1] >> 4 != 1:
        return "bad_version"
    if not v[1] & SEALED:
        return "key_mismatch"
    if len(v) < 32:
        return "runt"
    if ptype(v) not in (T_DATA, T_PROBE, T_HELLO, T_WELCOME, T_RESET):
        return "bad_type"
    if v[0] >= 16:
        return "bad_path"
    if 0 in packet_ids(v):
        return "bad_field"
    return None


def server_verdict(v, orig, sid, cep):
    """What a keyed mpserver with one confirmed session (sid, client epoch
    cep), which has already delivered `orig`, does with datagram v."""
    r = _wire_keyed(v)
    if r:
        return r
    s, e, _ = packet_ids(v)
    t = ptype(v)
    if t == T_HELLO:
        return "bad_handshake"       # wrong length or MAC
    if t in (T_WELCOME, T_RESET):
        return "bad_type"            # the wrong way
    if (s, e) != (sid, cep):
        return "unknown_session"     # and a RESET (rate-limited)
    if v[1:] == orig[1:]:
        return "duplicate"           # byte 0 is not authenticated
    return "bad_tag"


def client_verdict(v, orig, sid, sep, tx_epoch):
    """What a keyed mpclient with one ready session sid (server epoch sep,
    its own epoch tx_epoch), which has already delivered `orig`, does."""
    r = _wire_keyed(v)
    if r:
        return r
    s, e, _ = packet_ids(v)
    t = ptype(v)
    if s != sid:
        return "unknown_session"
    if t == T_HELLO:
        return "bad_type"
    if t == T_WELCOME:
        return "bad_handshake"       # wrong length or MAC
    if t == T_RESET:
        return "bad_handshake"       # not for our epoch / bad MAC
    if e != sep:
        return "stale_epoch"
    if v[1:] == orig[1:]:
        return "duplicate"
    return "bad_tag"


def wait_ns(pid):
    """Time the process's threads spent runnable but waiting for a CPU
    (schedstat's run_delay), ns."""
    ns = 0
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                ns += int(f.read().split()[1])
        except (OSError, ValueError, IndexError):
            pass
    return ns


def cpu_ns(pid):
    """CPU time of all the process's threads, in ns (schedstat), and from
    /proc/PID/stat (clock ticks), as seconds."""
    ns = 0
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                ns += int(f.read().split()[0])
        except (OSError, ValueError, IndexError):
            pass
    with open(f"/proc/{pid}/stat") as f:
        s = f.read()
    fields = s[s.rfind(")") + 2:].split()
    ticks = int(fields[11]) + int(fields[12])
    return ns, ticks / os.sysconf("SC_CLK_TCK")


def udp_rx_queue(port):
    """Bytes waiting in the receive queues of UDP sockets bound to port."""
    total = 0
    hexport = f":{port:04X}"
    for name in ("/proc/net/udp", "/proc/net/udp6"):
        try:
            with open(name) as f:
                next(f)
                for line in f:
                    cols = line.split()
                    if cols[1].endswith(hexport):
                        total += int(cols[4].split(":")[1], 16)
        except OSError:
            pass
    return total


def udp_drops(port):
    """The kernel's drop count for UDP sockets bound to port (all families)."""
    total = 0
    hexport = f":{port:04X}"
    for name in ("/proc/net/udp", "/proc/net/udp6"):
        try:
            with open(name) as f:
                next(f)
                for line in f:
                    cols = line.split()
                    if cols[1].endswith(hexport):
                        total += int(cols[-1])
        except OSError:
            pass
    return total


# ---------------------------------------------------------------- 1. integrity


N_ECHO = 3000


@pytest.mark.parametrize("mode", ["duplicate", "roundrobin"])
def test_keyed_echo_integrity(net, tmp_path, mode):
    """3 socat bridges and a 4th path through a PyBridge that records every
    datagram, to show that nothing of the payload is visible on the wire."""
    key = write_key(tmp_path / "k")
    echo = net.echo()
    srv = net.server(echo.port, mode=mode, args=key_args(key))
    socats = [net.socat(srv.port) for _ in range(3)]
    tap = net.pybridge(srv.port, capture=10 ** 6)
    bridges = socats + [tap]
    cli = net.client(bridges, mode=mode, args=key_args(key) + STEADY)
    app = net.app(1, cli)
    net.warm_up(app, bridges)

    t0 = time.monotonic()
    app.flow([k % 1400 + 1 for k in range(N_ECHO)], window=32)
    app.flow([0])
    app.flow([MAX_PAYLOAD], stall=5.0)
    # canaries: enough of them that every path carries some in roundrobin
    for i in range(16):
        size = 1401 + i  # sizes no other datagram has: countable on the wire
        payload = canary_payload(app, size)
        app.send(payload=payload)
        app.drain(0.02)
    app.drain(0.3)
    elapsed = time.monotonic() - t0
    n = len(app.sent)

    s = app.summary()
    figure(f"keyed_integrity[{mode}]", f"app sent {s['sent']} echoed {s['ok']} lost "
           f"{s['lost']} dup {s['dup']} corrupt {s['corrupt']} foreign {s['foreign']} "
           f"in {elapsed:.2f}s (incl. a 0-byte and a {MAX_PAYLOAD}-byte datagram)")
    app.assert_clean()
    records = echo.snapshot()
    ports, problems = verify_target(records, [app])
    assert not problems, problems[:20]
    assert len(records) == n
    assert len(ports[1]) == 1, ports
    assert sorted(len(d) for _, d in records)[-1] == MAX_PAYLOAD
    assert any(CANARY in d for _, d in records), "control: the canary reached the target"

    cst = cli.stats()
    sst = srv.stats()
    (cs,) = cst.sessions
    figure(f"keyed_integrity[{mode}]",
           f"mpclient session keys={cs['keys']} handshakes={cs['handshakes']} "
           f"resets={cs['resets']} bad_tag={cs['bad_tag']}; mpserver "
           f"welcomes_sent={sst['welcomes_sent']} resets_sent={sst['resets_sent']}; "
           f"drops mpclient {cst.nonzero_drops()} mpserver {sst.nonzero_drops()}")
    assert cs["keys"] == "ready"
    assert cs["handshakes"] == 1, cs
    assert cs["resets"] == 0 and cs["bad_tag"] == 0
    assert cst["drop_bad_tag"] == 0 and sst["drop_bad_tag"] == 0
    assert sst["sessions"] == 1 and sst["sessions_opened"] == 1, sst.main
    (ss,) = sst.sessions
    assert ss["up_pkts"] == n and ss["down_pkts"] == n, ss
    assert ss["bad_tag"] == 0
    # one HELLO per path, each answered
    assert sst["welcomes_sent"] == len(bridges), sst.main
    assert sst["resets_sent"] == 0
    assert cst["app_tx"] == n and cst["app_rx"] == n
    # Conservation: what mpserver sent down and was not delivered is a
    # duplicate at mpclient (or an answer to a probe); so are the WELCOMEs
    # after the first.
    down = sum(sp["tx_pkts"] for sp in sst.session_paths) - sum(p["acks"] for p in cst.paths)
    extra_welcomes = sst["welcomes_sent"] - 1
    assert cs["deduplicated"] == down - n, (cs, down)
    assert cst["deduplicated"] == cs["deduplicated"] + extra_welcomes
    if mode == "duplicate":
        assert sst["deduplicated"] == (len(bridges) - 1) * n, sst.main
    else:
        assert sst["deduplicated"] == 0 and cs["deduplicated"] == 0
    for st in (cst, sst):
        other = st.nonzero_drops()
        assert not other, other

    # -- the wire, as the tap saw it
    caps = tap.up + tap.down
    plain = [p for p in caps if not is_sealed(p)]
    leaked = [p for p in caps if CANARY in p]
    up_data = [p for p in tap.up if ptype(p) == T_DATA]
    down_data = [p for p in tap.down if ptype(p) == T_DATA]
    canary_sizes = {len(d) for d in app.sent.values() if CANARY in d}
    carried = sum(1 for p in up_data + down_data if len(p) - 32 in canary_sizes)
    sent_sizes = {len(d) for d in app.sent.values()}
    sizes_ok = all(len(p) - 32 in sent_sizes for p in up_data + down_data)
    # and no app payload's bytes where a plaintext packet would carry them
    chunks = {d[6:38] for d in app.sent.values() if len(d) >= 38}
    in_clear = [p for p in up_data + down_data if p[22:54] in chunks]
    figure(f"keyed_integrity[{mode}]",
           f"tap: {len(tap.up)} up / {len(tap.down)} down datagrams, {len(plain)} not "
           f"sealed, {len(leaked)} containing the 32-byte canary (it carried {carried} "
           f"canary-sized DATA packets), {len(in_clear)} with an app payload's bytes 6..37 at "
           f"offset 22; DATA overhead 32 B: {sizes_ok}")
    assert carried >= 2, "the tap carried no canary datagram: the check would be vacuous"
    assert not plain, plain[:3]
    assert not leaked, f"{len(leaked)} datagrams on the wire contain the plaintext canary"
    assert not in_clear, f"{len(in_clear)} DATA packets carry their payload in clear"
    assert sizes_ok

    cli.stop()
    srv.stop()


# ---------------------------------------------------------------- 2. wrong key


def test_wrong_key_and_key_mismatch(net, tmp_path):
    """Three setups at once: client and server with different keys; a keyed
    client and a plaintext server; a plaintext client and a keyed server.
    Each client path goes straight to its mpserver (no bridge needed)."""
    k1 = write_key(tmp_path / "k1")
    k2 = write_key(tmp_path / "k2")
    setups = {}
    for name, ckey, skey in (("wrong key", k1, k2), ("keyed client, plaintext server", k1, None),
                             ("plaintext client, keyed server", None, k2)):
        echo = net.echo()
        srv = net.server(echo.port, args=key_args(skey) if skey else ())
        cli = net.client([srv.port], args=key_args(ckey) if ckey else ())
        app = net.app(1, cli)
        setups[name] = (echo, srv, cli, app)
    for echo, srv, cli, app in setups.values():
        for _ in range(5):
            app.send(100)

    # -- wrong key: the client gives up warning after 6 HELLOs
    echo, srv, cli, app = setups["wrong key"]
    t_new = log_time(cli.wait_line(r"session [0-9a-f]{8}: new for "))
    warn = cli.wait_line(r"no answer to 6 HELLOs", timeout=9.0)
    t_warn = log_time(warn) - t_new
    fail_line = srv.wait_line(r"failed authentication", timeout=5.0)
    for echo_, srv_, cli_, app_ in setups.values():
        app_.drain(0.05)
    time.sleep(1.0)  # the plain client's probes, the keyed clients' resends
    for name, (echo_, srv_, cli_, app_) in setups.items():
        app_.drain(0.05)
        sst = srv_.stats()
        cst = cli_.stats()
        rec = echo_.snapshot()
        got = len(app_.recv_time) + len(app_.dups) + len(app_.corrupt) + len(app_.foreign)
        figure("keyed_wrong_key", f"{name}: target got {len(rec)}, app got {got}; mpserver "
               f"sessions={sst['sessions']} opened={sst['sessions_opened']} "
               f"welcomes_sent={sst['welcomes_sent']} drops {sst.nonzero_drops()}; "
               f"mpclient drops {cst.nonzero_drops()} "
               f"keys={[s['keys'] for s in cst.sessions]}")
        assert rec == [], f"{name}: the target received {len(rec)} datagrams"
        assert got == 0, f"{name}: the application received something"
        assert sst["sessions"] == 0 and sst["sessions_opened"] == 0, (name, sst.main)
        assert sst["welcomes_sent"] == 0, (name, sst.main)
        if name == "wrong key":
            assert sst["drop_bad_handshake"] > 0, sst.main
            assert all(s["keys"] == "waiting" for s in cst.sessions)
        else:
            assert sst["drop_key_mismatch"] > 0, (name, sst.main)
    figure("keyed_wrong_key", f"wrong key: mpclient warned {t_warn:.2f}s after the session "
           f"started: {warn.split(': ', 1)[-1][:90]}")
    figure("keyed_wrong_key", f"wrong key: mpserver: {fail_line.split(': ', 1)[-1][:110]}")
    # Nominal: HELLOs at 0, 0.25, 0.75, 1.75, 3.75, 5.75 s, each wait
    # jittered by up to +-25 % (at most 7.19 s in all); retries are checked
    # on mpclient's 10-ms sweep: 7.5 s leaves room for a loaded machine.
    assert t_warn <= 7.5, f"the 'no answer to 6 HELLOs' warning came after {t_warn:.2f}s"
    for echo_, srv_, cli_, app_ in setups.values():
        cli_.stop()
        srv_.stop()


# ---------------------------------------------------------------- 3. bit flips


def _settle(proc, cond, timeout=5.0):
    st = proc.poll_stats(cond, timeout)
    assert cond(st), f"{proc.name}: condition not reached:\n{st.main}"
    return st


def test_every_bit_flip(net, tmp_path):
    key = write_key(tmp_path / "k")
    echo = net.echo()
    srv = net.server(echo.port, args=key_args(key))
    pyb = net.pybridge(srv.port, capture=10 ** 5)
    cli = net.client([pyb], args=key_args(key))
    app = net.app(1, cli)
    # one first: what is sent while the keys are agreed waits in an 8-slot hold
    app.flow([20])
    app.flow([20] * 20)
    app.assert_clean()
    time.sleep(0.1)

    up = [p for p in pyb.up if vts(p) == 0x10 | SEALED | T_DATA and len(p) == 20 + 32]
    down = [p for p in pyb.down if vts(p) == 0x10 | SEALED | T_DATA and len(p) == 20 + 32]
    assert up and down, "no sealed DATA captured"
    orig_up, orig_down = up[-1], down[-1]
    sid, cep, _ = packet_ids(orig_up)
    sid_d, sep, _ = packet_ids(orig_down)
    assert sid == sid_d

    # -- toward mpserver, from the bridge's address
    n_target = len(echo.snapshot())
    n_app = len(app.recv_time)
    s0 = srv.stats()
    c0 = cli.stats()
    variants = list(flips(orig_up))
    expect = collections.Counter()
    by_byte0 = collections.Counter()
    for i, bit, v in variants:
        r = server_verdict(v, orig_up, sid, cep)
        expect[r] += 1
        if i == 0:
            by_byte0[r] += 1
    for j, (_, _, v) in enumerate(variants):
        pyb.usock.send(v)
        if j % 50 == 49:
            time.sleep(0.002)
    s1 = _settle(srv, lambda st: total_handled(st) - total_handled(s0) >= len(variants))
    time.sleep(0.2)
    s1 = srv.stats()
    got = verdict_delta(s0, s1)
    n_unknown = expect["unknown_session"]
    resets = s1["resets_sent"] - s0["resets_sent"]
    reset_limited = s1["reset_limited"] - s0["reset_limited"]
    figure("keyed_bitflip", f"toward mpserver: {len(variants)} flips of a {len(orig_up)}-byte "
           f"sealed DATA; predicted {dict(sorted(expect.items()))}; counted "
           f"{dict(sorted(got.items()))}; byte 0 (path id): {dict(by_byte0)}; "
           f"RESETs sent {resets}, rate-limited {reset_limited}")
    assert len(echo.snapshot()) == n_target, "a flipped packet reached the target"
    assert got == dict(expect), (got, dict(expect))
    assert resets + reset_limited == n_unknown
    assert s1["sessions"] == 1 and s1["welcomes_sent"] == s0["welcomes_sent"]

    # The RESETs went to the bridge, hence to mpclient, which must refuse
    # them all (they name a session or epoch it does not have).
    c1 = _settle(cli, lambda st: sum(drop_delta(c0, st).values()) >= resets)
    time.sleep(0.2)
    c1 = cli.stats()
    cgot = drop_delta(c0, c1)
    figure("keyed_bitflip", f"mpclient got the {resets} RESETs: drops {cgot}")
    assert sum(cgot.values()) == resets, cgot
    assert set(cgot) <= {"unknown_session", "bad_handshake"}, cgot
    assert c1.sessions[0]["resets"] == 0 and c1.sessions[0]["keys"] == "ready"

    # -- toward mpclient, from the bridge's address
    tx_epoch = cep  # mpclient's own epoch, as its packets up carry it
    variants = list(flips(orig_down))
    expect = collections.Counter()
    by_byte0 = collections.Counter()
    for i, bit, v in variants:
        r = client_verdict(v, orig_down, sid, sep, tx_epoch)
        expect[r] += 1
        if i == 0:
            by_byte0[r] += 1
    pyb.inject_down([v for _, _, v in variants])
    c2 = _settle(cli, lambda st: total_handled(st) - total_handled(c1) >= len(variants))
    time.sleep(0.2)
    app.drain(0.1)
    c2 = cli.stats()
    cgot = verdict_delta(c1, c2)
    rx_bad = [p["rx_bad"] for p in c2.paths][0] - [p["rx_bad"] for p in c1.paths][0]
    figure("keyed_bitflip", f"toward mpclient: {len(variants)} flips of a "
           f"{len(orig_down)}-byte sealed DATA; predicted {dict(sorted(expect.items()))}; "
           f"counted {dict(sorted(cgot.items()))}; byte 0: {dict(by_byte0)}; "
           f"path rx_bad +{rx_bad}")
    assert len(app.recv_time) == n_app, "a flipped packet reached the application"
    assert not app.dups and not app.corrupt and not app.foreign
    assert cgot == dict(expect), (cgot, dict(expect))
    # a path counts what fails the wire checks or the tag (rx_bad)
    wire_bad = sum(1 for _, _, v in variants if _wire_keyed(v)) + expect["bad_tag"]
    assert rx_bad == wire_bad, (rx_bad, wire_bad)

    # legit traffic is untouched
    app.flow([20 + k for k in range(50)])
    app.assert_clean(" (after the flips)")
    assert len(echo.snapshot()) == len(app.sent)
    cst = cli.stop()
    srv.stop()
    assert cst.sessions[0]["resets"] == 0 and cst.sessions[0]["handshakes"] == 1


# ---------------------------------------------------------------- 4. replay


def test_replay_and_server_restart(net, tmp_path):
    key = write_key(tmp_path / "k")
    echo = net.echo()
    srv = net.server(echo.port, args=key_args(key))
    pyb = net.pybridge(srv.port, capture=10 ** 6)
    socats = [net.socat(srv.port) for _ in range(2)]
    bridges = [pyb] + socats
    cli = net.client(bridges, args=key_args(key))
    app = net.app(1, cli)
    net.warm_up(app, bridges)
    stream = net.stream(app, RATE, size=120)
    assert wait_echoes(app, 110)  # 100 distinct packets to replay later

    # -- one packet replayed 100 times (stream paused: no legit duplicates)
    stream.pause()
    time.sleep(0.3)
    hello = [p for p in pyb.up if ptype(p) == T_HELLO]
    data = [p for p in pyb.up if ptype(p) == T_DATA and is_sealed(p)]
    assert hello and len(data) >= 100, (len(hello), len(data))
    n_target = len(echo.snapshot())
    s0 = srv.stats()
    one = data[-1]
    for _ in range(100):
        pyb.usock.send(one)
    s1 = _settle(srv, lambda st: st["deduplicated"] - s0["deduplicated"] >= 100)
    time.sleep(0.2)
    s1 = srv.stats()
    app.drain(0.1)
    figure("keyed_replay", f"one sealed DATA replayed 100 times: target +"
           f"{len(echo.snapshot()) - n_target}, mpserver drops {drop_delta(s0, s1)}")
    assert len(echo.snapshot()) == n_target
    # a replay is indistinguishable from a path's late copy: deduplicated
    assert s1["deduplicated"] - s0["deduplicated"] == 100
    assert drop_delta(s0, s1) == {}
    stream.resume()
    assert wait_echoes(app, 20, since=time.time())

    # -- mpserver restart: RESET, new handshake, traffic within 2 s
    old_data = data[-100:]
    old_hello = hello[0]
    c0 = cli.stats()
    assert c0.sessions[0]["resets"] == 0 and c0.sessions[0]["handshakes"] == 1, c0.sessions
    srv.kill9()
    time.sleep(0.5)
    srv = net.restart_server(srv)
    t_listen = log_time(srv.wait_line(r" info: listening on "))
    assert wait_echoes(app, 1, since=t_listen, timeout=RESUME_MAX + 3), "no resumption"
    t_first = first_echo_after(app, t_listen)
    gap = t_first - t_listen
    time.sleep(1.0)
    must = [k for k, ts in app.send_time.items() if ts > t_first]
    c1 = cli.stats()
    (cs,) = c1.sessions
    rst = cli.count_lines(r"the server does not know it")
    figure("keyed_replay", f"mpserver kill -9 + restart: first echo {gap * 1000:.0f} ms after "
           f"'listening on'; mpclient session resets={cs['resets']} "
           f"handshakes={cs['handshakes']} keys={cs['keys']}; lost during the outage "
           f"{len([k for k, ts in app.send_time.items() if ts <= t_first and k not in app.recv_time])}")
    assert gap <= RESUME_MAX, f"resumed after {gap:.3f}s"
    assert cs["resets"] >= 1 and cs["handshakes"] >= 2 and cs["keys"] == "ready", cs
    assert rst >= 1

    # -- the old packets and the old HELLO to the new mpserver, from the
    # bridge's address (so its RESETs and WELCOMEs reach the real client)
    s2 = srv.stats()
    c2 = cli.stats()
    t_replay = time.time()
    for d in old_data:
        pyb.usock.send(d)
    time.sleep(0.2)
    pyb.usock.send(old_hello)
    time.sleep(0.2)
    for d in old_data:
        pyb.usock.send(d)
    time.sleep(1.0)
    s3 = srv.stats()
    c3 = cli.stats()
    stream.finish(drain=2.0, need=[k for k, ts in app.send_time.items() if ts > t_replay])
    after = [k for k, ts in app.send_time.items() if ts > t_replay]
    lost_after = app.lost(after)
    sd = drop_delta(s2, s3)
    cd = drop_delta(c2, c3)
    (cs3,) = c3.sessions
    figure("keyed_replay", f"100 pre-restart packets, their HELLO, the 100 again, to the new "
           f"mpserver: drops {sd}, sessions {s3['sessions']} (opened +"
           f"{s3['sessions_opened'] - s2['sessions_opened']}), welcomes +"
           f"{s3['welcomes_sent'] - s2['welcomes_sent']}, resets +"
           f"{s3['resets_sent'] - s2['resets_sent']}; mpclient drops {cd}, session resets "
           f"{cs3['resets']}; stream after the replay: {len(after)} sent, "
           f"{len(lost_after)} lost")
    ports, problems = verify_target(echo.snapshot(), [app], exact=False)
    assert not problems, problems[:20]
    assert sd.get("unknown_session", 0) + sd.get("bad_tag", 0) >= 100, sd
    assert sd.get("bad_handshake", 0) == 0
    # the replayed HELLO authenticates: one unconfirmed session, one WELCOME
    # (which mpclient refuses: not its client random)
    assert s3["sessions_opened"] - s2["sessions_opened"] == 1 and s3["sessions"] == 2, s3.main
    assert s3["welcomes_sent"] - s2["welcomes_sent"] == 1
    assert cs3["resets"] == cs["resets"], "a replay made the live session start over"
    assert cs3["keys"] == "ready"
    assert not lost_after, lost_after
    assert not app.lost(must), f"lost after resumption: {app.lost(must)}"
    assert cd.get("bad_handshake", 0) >= 1, "the replayed HELLO's WELCOME did not reach mpclient"
    assert not app.dups and not app.corrupt and not app.foreign
    cli.stop()
    srv.stop()


# ---------------------------------------------------------------- 5. flood


N_JUNK = 20000


def make_flood(rng):
    out = []
    for i in range(N_JUNK):
        kind = i % 3
        if kind == 0:
            out.append(rng.randbytes(rng.randint(1, 1500)))
            continue
        t = 0x19 if kind == 1 else 0x1B
        n = 64 if kind == 2 and i % 2 else rng.randint(32, 1500)
        hdr = bytes([rng.randrange(16), t]) + struct.pack(
            ">II", rng.randrange(1, 1 << 32), rng.randrange(1, 1 << 32)) + \
            rng.randrange(1, 1 << 48).to_bytes(6, "big")
        out.append(hdr + rng.randbytes(n - 16))
    rng.shuffle(out)
    return out


def test_junk_flood(net, tmp_path):
    rng = random.Random(4242)
    key = write_key(tmp_path / "k")
    echo = net.echo()
    srv = net.server(echo.port, args=key_args(key))
    bridges = [net.socat(srv.port) for _ in range(3)]
    cli = net.client(bridges, args=key_args(key))
    app = net.app(1, cli)
    net.warm_up(app, bridges)
    junk = make_flood(rng)
    m_stream = time.monotonic()
    stream = net.stream(app, 200, size=300)
    assert wait_echoes(app, 100)

    js = udp_socket()
    net.procs.on_cleanup(js.close)
    s0 = srv.stats()
    # mpserver's CPU for the stream alone, to subtract
    b0, _ = cpu_ns(srv.pid)
    time.sleep(1.0)
    b1, _ = cpu_ns(srv.pid)
    base_rate = (b1 - b0) / 1.0  # ns per s
    kdrop0 = udp_drops(srv.port)
    ns0, cpu0 = cpu_ns(srv.pid)
    t0 = time.monotonic()
    tw0 = time.time()
    addr = (HOST, srv.port)
    send = js.sendto
    for d in junk:
        try:
            send(d, addr)
        except OSError:
            pass
    t_send = time.monotonic() - t0
    tw1 = time.time()
    # until mpserver has read everything queued for it (no stats requests
    # meanwhile: they cost CPU too)
    deadline = time.monotonic() + 10
    while udp_rx_queue(srv.port) and time.monotonic() < deadline:
        time.sleep(0.005)
    t_drained = time.monotonic() - t0
    ns1, cpu1 = cpu_ns(srv.pid)
    kdrop = udp_drops(srv.port) - kdrop0
    time.sleep(1.0)
    stream.finish(drain=1.0)
    s1 = srv.stats()
    assert srv.alive()

    sent = len(app.sent)
    lost = app.lost()
    during = [k for k, ts in app.send_time.items() if tw0 - 0.1 <= ts <= tw1 + 0.1]
    lost_during = [k for k in during if k not in app.recv_time]
    d = drop_delta(s0, s1)
    rx = s1["rx_pkts"] - s0["rx_pkts"]
    figure("keyed_flood", f"{N_JUNK} junk datagrams sent in {t_send:.2f}s "
           f"({N_JUNK / t_send:.0f}/s), all read by mpserver {t_drained:.2f}s after the "
           f"first; kernel drops at its socket {kdrop}; its rx_pkts +{rx} "
           f"(junk and ~{rx - N_JUNK} legit copies and probes)")
    figure("keyed_flood", f"mpserver drops {d}; hello_limited +"
           f"{s1['hello_limited'] - s0['hello_limited']}, reset_limited +"
           f"{s1['reset_limited'] - s0['reset_limited']}, resets_sent +"
           f"{s1['resets_sent'] - s0['resets_sent']}, welcomes_sent +"
           f"{s1['welcomes_sent'] - s0['welcomes_sent']}, sessions {s1['sessions']}")
    flood_ns = (ns1 - ns0) - base_rate * t_drained
    figure("keyed_flood", f"mpserver CPU from the first junk datagram until its queue was "
           f"empty: {(ns1 - ns0) / 1e6:.1f} ms (schedstat; /proc/PID/stat "
           f"{(cpu1 - cpu0) * 1000:.0f} ms), of which the stream alone "
           f"~{base_rate * t_drained / 1e6:.1f} ms: {flood_ns / N_JUNK / 1000:.2f} us per "
           f"junk datagram (ASan/UBSan build)")
    figure("keyed_flood", f"stream: {sent} sent, {len(lost)} lost "
           f"({100 * len(lost) / sent:.2f}%); during the flood {len(during)} sent, "
           f"{len(lost_during)} lost; dup {len(app.dups)} corrupt {len(app.corrupt)} "
           f"foreign {len(app.foreign)}")
    ports, problems = verify_target(echo.snapshot(), [app], exact=False)
    assert not problems, problems[:20]
    # what the stream loses is what had no CPU in time (mpserver, under the
    # flood): over the whole stream
    timing_check(len(lost) <= 0.01 * sent, f"{len(lost)} of {sent} lost", m_stream,
                 time.monotonic())
    assert not app.dups and not app.corrupt and not app.foreign
    assert s1["sessions"] == 1 and s1["sessions_opened"] == 1, s1.main
    assert s1["welcomes_sent"] == s0["welcomes_sent"]
    assert (s1["hello_limited"] - s0["hello_limited"]) + \
        (s1["reset_limited"] - s0["reset_limited"]) > 0, "no limiter worked"
    assert s1["resets_sent"] - s0["resets_sent"] <= 50 + 200 * (time.monotonic() - t0) + 1
    cli.stop()
    srv.stop()


SUSTAIN = 2.0  # seconds


def test_sustained_flood(net, tmp_path):
    """The same junk, resent for SUSTAIN seconds (as fast as one Python
    thread goes), while a 200-pps stream flows and a second application
    starts a session (a HELLO among the flood's HELLOs)."""
    rng = random.Random(4343)
    key = write_key(tmp_path / "k")
    echo = net.echo()
    srv = net.server(echo.port, args=key_args(key))
    bridges = [net.socat(srv.port) for _ in range(3)]
    cli = net.client(bridges, args=key_args(key))
    app = net.app(1, cli)
    net.warm_up(app, bridges)
    junk = make_flood(rng)
    stream = net.stream(app, 200, size=300)
    assert wait_echoes(app, 100)
    js = udp_socket()
    net.procs.on_cleanup(js.close)
    s0 = srv.stats()
    kdrop0 = udp_drops(srv.port)
    ns0, _ = cpu_ns(srv.pid)
    w0 = wait_ns(srv.pid)
    addr = (HOST, srv.port)
    send = js.sendto
    tw0 = time.time()
    t0 = time.monotonic()
    app2 = stream2 = None
    n = 0
    while time.monotonic() - t0 < SUSTAIN:
        if stream2 is None and time.monotonic() - t0 >= 0.5:
            # a new session once the limiters are saturated
            t2 = time.time()
            app2 = net.app(2, cli)
            stream2 = net.stream(app2, 20, size=100)
        for d in junk[:2000]:
            try:
                send(d, addr)
            except OSError:
                pass
        n += 2000
        junk = junk[2000:] + junk[:2000]
    elapsed = time.monotonic() - t0
    tw1 = time.time()
    ns1, _ = cpu_ns(srv.pid)
    waited = (wait_ns(srv.pid) - w0) / 1e9
    kdrop = udp_drops(srv.port) - kdrop0
    time.sleep(1.0)
    stream.finish(drain=1.0)
    stream2.finish(drain=1.0)
    s1 = srv.stats()
    during = [k for k, ts in app.send_time.items() if tw0 <= ts <= tw1]
    lost_during = [k for k in during if k not in app.recv_time]
    first2 = min(app2.recv_time.values()) - t2 if app2.recv_time else None
    cst = cli.stats()
    s2 = [s for s in cst.sessions if s["app"].endswith(f":{app2.port}")]
    figure("keyed_flood_sustained", f"{n} junk datagrams in {elapsed:.2f}s ({n / elapsed:.0f}/s); "
           f"mpserver CPU {(ns1 - ns0) / 1e6:.0f} ms, runnable but without a CPU "
           f"{1000 * waited:.0f} ms; kernel drops at its socket {kdrop}; "
           f"hello_limited +{s1['hello_limited'] - s0['hello_limited']} reset_limited "
           f"+{s1['reset_limited'] - s0['reset_limited']}")
    figure("keyed_flood_sustained", f"stream: {len(during)} sent during the flood, "
           f"{len(lost_during)} lost; a new app's first echo "
           f"{'never' if first2 is None else f'{first2:.2f}s'} after it started (0.5 s into the flood) "
           f"(its session: {s2[0]['hellos'] if s2 else '?'} HELLOs, keys "
           f"{s2[0]['keys'] if s2 else '?'}, drop_keys_wait {cst['drop_keys_wait']})")
    ports, problems = verify_target(echo.snapshot(), [app, app2], exact=False)
    assert not problems, problems[:20]
    if waited > 0.25 * elapsed:
        # The flooder (this process) and the relay share two cores: when
        # mpserver waited for a CPU for over a quarter of the flood, what
        # was lost says how busy the machine was, not what junk costs: a
        # stall of the program under test, over the flood.
        STALLS.report(t0, t0 + elapsed, 1000 * waited)
    timing_check(len(lost_during) <= 0.01 * len(during),
                 f"{len(lost_during)} of {len(during)} lost during the flood (mpserver "
                 f"waited {1000 * waited:.0f} ms for a CPU)", t0, t0 + elapsed)
    assert not app.dups and not app.corrupt and not app.foreign
    assert not app2.dups and not app2.corrupt and not app2.foreign
    assert s1["hello_limited"] > s0["hello_limited"] and s1["reset_limited"] > s0["reset_limited"]
    assert s1["welcomes_sent"] - s0["welcomes_sent"] <= 3 * (s2[0]["hellos"] if s2 else 0)
    # The new session's delay is a figure, not a check: HELLOs share one
    # limiter, so under a HELLO flood a new client's HELLO is refused with
    # the flood's odds (see the report).
    cli.stop()
    srv.stop()


# ---------------------------------------------------------------- 6. key files


def run(argv, timeout=10):
    env = dict(os.environ)
    env.update(SAN_ENV)
    try:
        p = subprocess.run([str(a) for a in argv], capture_output=True, text=True,
                           timeout=timeout, env=env, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired as e:
        raise AssertionError(f"{argv}: still running after {timeout}s "
                             f"(stderr: {e.stderr!r})") from None
    found = sanitizer_report(p.stdout + p.stderr)
    assert not found, f"{argv}: sanitizer report {found}:\n{p.stderr}"
    return p


GOOD_RAW = bytes(range(1, 33))
GOOD_TEXT = base64.b64encode(GOOD_RAW)  # 44 characters, one '='


def _file(tmp, name, content, mode=0o600):
    p = tmp / name
    p.write_bytes(content)
    os.chmod(p, mode)
    return p


def _noncanonical():
    t = bytearray(GOOD_TEXT)
    # the last data character carries 2 bits of padding that must be zero
    alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    t[42] = alphabet[alphabet.index(t[42]) | 1]
    return bytes(t)


KEY_CASES = {
    "mode 0644": (lambda d: _file(d, "k", GOOD_TEXT + b"\n", 0o644), r"chmod 600"),
    "mode 0640": (lambda d: _file(d, "k", GOOD_TEXT + b"\n", 0o640), r"chmod 600"),
    "mode 0604": (lambda d: _file(d, "k", GOOD_TEXT + b"\n", 0o604), r"chmod 600"),
    "directory": (lambda d: (d / "kdir").mkdir(mode=0o700) or d / "kdir",
                  r"not a regular file"),
    "/dev/null": (lambda d: "/dev/null", r"not a regular file"),
    "FIFO": (lambda d: os.mkfifo(d / "fifo", 0o600) or d / "fifo", r"not a regular file"),
    "43 chars": (lambda d: _file(d, "k", GOOD_TEXT[:43] + b"\n"), r"44 characters"),
    "45 chars": (lambda d: _file(d, "k", GOOD_TEXT + b"A\n"), r"44 characters"),
    "44 chars, 2 newlines": (lambda d: _file(d, "k", GOOD_TEXT + b"\n\n"), r"44 characters"),
    "44 chars, CRLF": (lambda d: _file(d, "k", GOOD_TEXT + b"\r\n"), r"44 characters"),
    "invalid base64": (lambda d: _file(d, "k", b"!" + GOOD_TEXT[1:] + b"\n"), r"base64"),
    "stray '=' inside": (lambda d: _file(d, "k", GOOD_TEXT[:10] + b"=" + GOOD_TEXT[11:] + b"\n"),
                         r"base64"),
    "'==' padding": (lambda d: _file(d, "k", GOOD_TEXT[:42] + b"==\n"), r"base64"),
    "non-canonical base64": (lambda d: _file(d, "k", _noncanonical() + b"\n"), r"base64"),
    "empty": (lambda d: _file(d, "k", b""), r"44 characters"),
    "symlink to a good key": (
        lambda d: os.symlink(_file(d, "good", GOOD_TEXT + b"\n"), d / "link") or d / "link",
        r"symbolic link|symlink"),
    "missing": (lambda d: d / "nonexistent", r"No such file|does not exist|not found"),
}


@pytest.mark.parametrize("case", list(KEY_CASES))
@pytest.mark.parametrize("prog", ["mpclient", "mpserver"])
def test_key_file_refused(tmp_path, prog, case):
    make, message = KEY_CASES[case]
    path = make(tmp_path)
    port = free_port()
    if prog == "mpclient":
        cfg = tmp_path / "c.conf"
        cfg.write_text(f"{HOST} {free_port()}\n")
        argv = [MPCLIENT, "--key-file", path, port, cfg]
    else:
        argv = [MPSERVER, "--bind", HOST, "--key-file", path, port, HOST, free_port()]
    p = run(argv, timeout=3)
    err = p.stderr.strip()
    figure("keyed_keyfile", f"{prog} {case}: exit {p.returncode}: "
           f"{err.splitlines()[-1].split(': ', 1)[-1] if err else '(nothing)'}")
    assert p.returncode == 1, (p.returncode, p.stderr)
    assert str(path) in p.stderr, p.stderr
    assert re.search(message, p.stderr), f"expected /{message}/ in: {p.stderr!r}"
    assert "listening on" not in p.stderr


def test_genkey(net, tmp_path):
    keys = {}
    for prog in (MPCLIENT, MPSERVER):
        path = tmp_path / f"{prog.name}.key"
        p = run([prog, "--genkey", path])
        assert p.returncode == 0, p.stderr
        assert str(path) in p.stdout
        st = os.stat(path)
        text = path.read_bytes()
        assert stat.S_ISREG(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o600, oct(st.st_mode)
        assert len(text) == 45 and text.endswith(b"\n"), text
        assert len(base64.b64decode(text[:44], validate=True)) == 32
        # a second time: refused, the key untouched
        p2 = run([prog, "--genkey", path])
        figure("keyed_genkey", f"{prog.name} --genkey: mode {oct(stat.S_IMODE(st.st_mode))}, "
               f"{len(text)} bytes; again: exit {p2.returncode}: "
               f"{p2.stderr.strip().split(': ', 1)[-1]}")
        assert p2.returncode == 1, p2.stderr
        assert "not overwriting" in p2.stderr
        assert path.read_bytes() == text
        keys[prog.name] = path
    assert keys["mpclient"].read_bytes() != keys["mpserver"].read_bytes()

    # onto a dangling symlink: refused, nothing created where it points
    target = tmp_path / "elsewhere"
    link = tmp_path / "dangling"
    os.symlink(target, link)
    p = run([MPCLIENT, "--genkey", link])
    assert p.returncode == 1, p.stderr
    assert not target.exists(), "--genkey followed a symlink"

    # the generated key loads, and works on both sides
    echo = net.echo()
    srv = net.server(echo.port, args=key_args(keys["mpclient"]))
    assert "AES-256-GCM" in srv.wait_line(r" info: listening on ")
    cli = net.client([srv.port], args=key_args(keys["mpclient"]))
    app = net.app(1, cli)
    app.flow([100])  # the first alone: see KEYS_WAIT's hold
    app.flow([100] * 20)
    app.assert_clean()
    cli.stop()
    srv.stop()


def test_genkey_to_stdout(net, tmp_path):
    """--genkey - prints the key and nothing else (like `wg genkey`), and
    creates no file named '-'."""
    env = dict(os.environ)
    env.update(SAN_ENV)
    keys = []
    for prog in (MPCLIENT, MPSERVER):
        p = subprocess.run([str(prog), "--genkey", "-"], capture_output=True, cwd=tmp_path,
                           timeout=10, env=env, stdin=subprocess.DEVNULL)
        assert p.returncode == 0, p.stderr
        assert not sanitizer_report(p.stderr.decode(errors="replace")), p.stderr
        assert len(p.stdout) == 45 and p.stdout.endswith(b"\n"), p.stdout
        assert len(base64.b64decode(p.stdout[:44], validate=True)) == 32
        assert not (tmp_path / "-").exists(), "--genkey - wrote a file named '-'"
        keys.append(p.stdout)
    assert keys[0] != keys[1]
    # what it printed is a key file both sides take
    path = tmp_path / "printed.key"
    path.write_bytes(keys[0])
    os.chmod(path, 0o600)
    echo = net.echo()
    srv = net.server(echo.port, args=key_args(path))
    assert "AES-256-GCM" in srv.wait_line(r" info: listening on ")
    cli = net.client([srv.port], args=key_args(path))
    app = net.app(1, cli)
    app.flow([100])  # the first alone: see KEYS_WAIT's hold
    app.flow([100] * 20)
    app.assert_clean()
    cli.stop()
    srv.stop()


# ---------------------------------------------------------------- 7. nonces


def test_nonce_uniqueness_across_restarts(net, tmp_path):
    key = write_key(tmp_path / "k")
    echo = net.echo()
    srv = net.server(echo.port, args=key_args(key))
    pybs = [net.pybridge(srv.port, capture=10 ** 6) for _ in range(2)]
    cli = net.client(pybs, args=key_args(key))
    app1 = net.app(1, cli)
    s1 = net.stream(app1, RATE, size=80)
    assert wait_echoes(app1, 50)

    srv.kill9()
    time.sleep(0.3)
    srv = net.restart_server(srv)
    t = log_time(srv.wait_line(r" info: listening on "))
    assert wait_echoes(app1, 50, since=t, timeout=5), "no resumption after mpserver restart"

    cli.kill9()
    time.sleep(0.3)
    cli = net.restart_client(cli)
    t = log_time(cli.wait_line(r" info: listening on "))
    assert wait_echoes(app1, 50, since=t, timeout=5), "no resumption after mpclient restart"

    app2 = net.app(2, cli)
    s2 = net.stream(app2, RATE, size=90)
    assert wait_echoes(app2, 50)
    time.sleep(0.3)
    s1.finish(drain=1.0)
    s2.finish(drain=1.0)
    cst = cli.stop()
    sst = srv.stop()
    for b in pybs:
        b.close()
    assert cst["drop_bad_tag"] == 0 and sst["drop_bad_tag"] == 0
    assert all(s["keys"] == "ready" for s in cst.sessions) and len(cst.sessions) == 2

    seen = {}
    kinds = collections.Counter()
    repeats = []
    same_bridge = []
    differ = []
    for bi, b in enumerate(pybs):
        for direction, caps in (("up", b.up), ("down", b.down)):
            for pkt in caps:
                assert is_sealed(pkt), f"plaintext packet on the wire: {pkt[:16].hex()}"
                t = ptype(pkt)
                kinds[(direction, t)] += 1
                if t not in (T_DATA, T_PROBE, T_ACK):
                    continue  # handshake messages: HMAC, no nonce
                # DATA and PROBE/ACK are numbered apart; the nonce says which
                nonce = (direction, t != T_DATA) + packet_ids(pkt)
                prev = seen.get(nonce)
                if prev is None:
                    seen[nonce] = [(bi, pkt[1:])]
                    continue
                repeats.append(nonce)
                if any(pbi == bi for pbi, _ in prev):
                    same_bridge.append(nonce)
                if any(pb != pkt[1:] for _, pb in prev):
                    differ.append(nonce)
                prev.append((bi, pkt[1:]))
    keys_up = {n[2:4] for n in seen if n[0] == "up"}
    keys_down = {n[2:4] for n in seen if n[0] == "down"}
    total = sum(v for (d, t), v in kinds.items() if t in (T_DATA, T_PROBE, T_ACK))
    figure("keyed_nonce", f"{total} sealed DATA/PROBE/ACK packets captured on 2 paths: "
           f"{len(seen)} distinct (direction, space, session, epoch, seq), {len(repeats)} repeats, "
           f"all cross-path copies: {not same_bridge}, byte-identical from byte 1: "
           f"{not differ}; (session, epoch) pairs up {len(keys_up)} down {len(keys_down)}; "
           f"handshake messages { {f'{d} type {t}': v for (d, t), v in sorted(kinds.items()) if 2 < t < 6} }")
    assert not differ, f"{len(differ)} nonces used for different bytes: {differ[:5]}"
    assert not same_bridge, f"{len(same_bridge)} packets sent twice on one path: {same_bridge[:5]}"
    assert repeats, "duplicate mode: expected cross-path copies"
    # original, after the RESET, after the mpclient restart, the second app
    assert len(keys_up) >= 4 and len(keys_down) >= 4, (keys_up, keys_down)
    for a in (app1, app2):
        assert not a.dups and not a.corrupt and not a.foreign


# ---------------------------------------------------------------- 8. --user


def test_user_nobody(net, tmp_path):
    if os.geteuid() != 0:
        pytest.skip("--user needs the programs to start as root; not running as root")
    key = write_key(tmp_path / "k")
    st = os.stat(key)
    assert st.st_uid == 0 and stat.S_IMODE(st.st_mode) == 0o600
    echo = net.echo()
    srv = net.server(echo.port, args=["--user", "nobody"] + key_args(key))
    cli = net.client([srv.port], args=["--user", "nobody"] + key_args(key))
    rows = []
    for p in (srv, cli):
        line = p.wait_line(r"running as nobody")
        with open(f"/proc/{p.pid}/status") as f:
            status = f.read()
        uid = re.search(r"^Uid:\s+(.*)$", status, re.M).group(1).split()
        gid = re.search(r"^Gid:\s+(.*)$", status, re.M).group(1).split()
        groups = re.search(r"^Groups:[ \t]*(.*)$", status, re.M).group(1).split()
        rows.append((p, line, uid, gid, groups))
        figure("keyed_user", f"{p.name}: '{line.split(': ', 1)[-1]}'; /proc status Uid {uid} "
               f"Gid {gid} Groups {groups}")
        assert uid == ["65534"] * 4, uid
        assert "0" not in gid and "0" not in groups
    app = net.app(1, cli)
    app.flow([32])  # the first alone: see KEYS_WAIT's hold
    app.flow([k % 1400 + 1 for k in range(300)])
    app.assert_clean()
    cst = cli.stats()
    assert cst.sessions[0]["keys"] == "ready"
    figure("keyed_user", f"traffic as nobody with a root-only key file: {app.summary()}")
    cli.stop()
    srv.stop()
