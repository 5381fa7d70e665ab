#!/usr/bin/python3
"""Writes the seed corpora of fuzz_wire and fuzz_sealed: real mprelay packets
of every message type, good and bad.

  test/fuzz/corpus/wire/    plaintext packets (CRC32C trailer) of every type,
                            sealed ones with a fake tag (wire.c leaves the tag
                            to the caller), PROBE/ACK bodies padded as path MTU
                            discovery pads them, and path health scripts
  test/fuzz/corpus/sealed/  genuine sealed packets of every type under
                            fuzz_sealed's keys (so that they authenticate and
                            reach each type's receiver), and build recipes
                            for its second use of an input

Independent of common/: the header layout, the CRC32C (Castagnoli, reflected,
over bytes 1..end of payload, stored big endian after the payload), the
PROBE/ACK body, and the key schedule, AEAD and handshake MAC of keyed mode
(HKDF-SHA256, AES-256-GCM, HMAC-SHA256) are written out here from
docs/PROTOCOL.md, so the seeds also cross-check the C code: a sealed seed that
does not authenticate in fuzz_sealed is a disagreement. Needs
python3-cryptography for the sealed seeds. Run from anywhere:
  /usr/bin/python3 test/fuzz/gen_wire_seeds.py
Existing seed files of the same names are overwritten; others are left."""
import os
import struct
import sys

HDR_LEN = 16
CRC_LEN = 4
TAG_LEN = 16
VERSION = 1
T_DATA, T_PROBE, T_HELLO, T_WELCOME, T_RESET, T_ACK = 1, 2, 3, 4, 5, 6
SEALED = 0x08
PROBE_LEN = 40
PMTU_MAX = 1472     # fuzz_proto.h FUZZ_PMTU_MAX: the search's first size
SEQ_MAX = (1 << 48) - 1
WINDOW_SIZE = 8192 - 64

_TABLE = []
for i in range(256):
    c = i
    for _ in range(8):
        c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
    _TABLE.append(c)


def crc32c(data, crc=0):
    crc ^= 0xFFFFFFFF
    for b in data:
        crc = (crc >> 8) ^ _TABLE[(crc ^ b) & 0xFF]
    return crc ^ 0xFFFFFFFF


assert crc32c(b"123456789") == 0xE3069283  # the standard check value


def hdr(path, session, epoch, seq, typ=T_DATA, sealed=False, version=VERSION):
    vts = (version << 4) | (SEALED if sealed else 0) | (typ & 7)
    return (bytes([path & 0xFF, vts & 0xFF]) + struct.pack(">II", session, epoch)
            + seq.to_bytes(6, "big"))


def seal(head_and_payload):
    return head_and_payload + struct.pack(">I", crc32c(head_and_payload[1:]))


def packet(path=0, session=0x5EED0001, epoch=0xE0000001, seq=1, payload=b"",
           **kw):
    return seal(hdr(path, session, epoch, seq, **kw) + payload)


def script(*ops):
    """fuzz_wire reads a valid packet's payload as 8-byte records:
    op, then 7 argument bytes (see run_script in fuzz_wire.c): op & 3 picks
    the epoch, op >> 2 & 7 the seq, op & 0x20 calls seq_rx_start."""
    out = b""
    for op, arg in ops:
        out += bytes([op]) + arg.to_bytes(7, "big")
    return out


def d16(v):  # arguments 5..6 of a record: int16 delta
    return (v & 0xFFFF) << 8


def d8(v):   # argument 7 of a record: int8 delta
    return v & 0xFF


def new_epoch(e):  # arguments 1..4
    return e << 24


def probe_body(path=0, state=1, interval_ms=50, id=1, ts_us=1000, tx=1,
               echo_ts_us=0, echo_hold_us=0, echo_tx=0, echo_rx=0, echo_len=0,
               avoid=0, pmtu=0):
    """A PROBE/ACK body (wire.h, struct mp_probe), MP_PROBE_LEN bytes."""
    return struct.pack(">BBHIIIIIIIIHH", path, state, interval_ms, id, ts_us,
                       tx, echo_ts_us, echo_hold_us, echo_tx, echo_rx,
                       echo_len, avoid, pmtu)


assert len(probe_body()) == PROBE_LEN


def padded(body, total_payload):
    return body + bytes(total_payload - len(body))


# fuzz_wire's path health script (fuzz_health): records of a time step
# (2 bytes, microseconds * 64), op, fx and a body. op & 3: the active side
# receives (1 the body as an ACK, 2 the passive side's answer, 3 both);
# op >> 2 & 3: the passive side receives (1 the body as a PROBE, 2 a PROBE of
# the active side, 3 its path MTU probe if one is due); op >> 4: padding
# index; fx: 1 the active side's packet is lost, 2 the answer is lost, 4 path
# MTU re-check, 8 demoted.
EXCHANGE = 2 << 2 | 2
EXCHANGE_PMTU = 3 << 2 | 2


def rec(dt_us, op, fx=0, body=bytes(PROBE_LEN)):
    return struct.pack(">HBB", min(dt_us // 64, 0xFFFF), op, fx) + body


def health_scripts():
    steady = [rec(50000, EXCHANGE) for _ in range(30)]
    scripts = {
        "health-steady": steady,
        # silence: probes go out and nothing comes back, then it heals
        "health-outage": steady[:10]
        + [rec(50000, EXCHANGE, fx=1) for _ in range(40)] + steady,
        # one probe in five lost each way: degraded
        "health-lossy": [rec(50000, EXCHANGE, fx=(1 if i % 5 == 0 else 0)
                             | (2 if i % 7 == 3 else 0)) for i in range(80)],
        # the path MTU search: its probes go out, too big ones are lost
        "health-pmtu": [rec(250000, EXCHANGE_PMTU, fx=(1 if 3 <= i < 12 else 0))
                        for i in range(60)]
        + [rec(60000, EXCHANGE_PMTU, fx=4 if i == 0 else 0) for i in range(40)],
        # the latency cut-off, on and off
        "health-demoted": [rec(50000, EXCHANGE, fx=8 if 10 <= i < 30 else 0)
                           for i in range(40)],
        # long quiet: 4 s steps
        "health-idle": [rec(4000000, EXCHANGE) for _ in range(20)],
    }
    # A peer that writes its own bodies: the passive side takes PROBEs the
    # fuzzer controls (padded, as path MTU probes), the active side ACKs.
    peer = []
    for i in range(1, 25):
        probe = probe_body(id=i, ts_us=i * 50000, tx=i, echo_ts_us=i * 50000 - 20000,
                           echo_hold_us=100, echo_tx=i, echo_rx=i, echo_len=PROBE_LEN,
                           pmtu=1400)
        ack = probe_body(id=i, ts_us=i * 50000 + 5000, tx=i, echo_ts_us=(i * 50000) & 0xFFFFFFFF,
                         echo_hold_us=50, echo_tx=i, echo_rx=i, echo_len=PROBE_LEN)
        pad = (i % 16) << 4
        peer.append(rec(50000, pad | 1 << 2 | 2, body=probe))
        peer.append(rec(1000, 2 << 2 | 1, body=ack))
    scripts["health-peer-bodies"] = peer
    return {name: b"".join(recs) for name, recs in scripts.items()}


# ---- keyed mode, as fuzz_sealed's setup() keys it ---------------------------

KEY = bytes((i * 7 + 3) & 0xFF for i in range(32))
CLIENT_RANDOM, SERVER_RANDOM = b"\x01" * 16, b"\x02" * 16
SESSION, CLIENT_EPOCH, SERVER_EPOCH = 0x11223344, 0x55667788, 0x99AABBCC
KINDS = [T_DATA, T_PROBE, T_ACK, T_HELLO, T_WELCOME, T_RESET]  # its kinds[]


def sealed_seeds():
    from cryptography.hazmat.primitives import hashes, hmac
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    def hkdf(ikm, salt, info, n):
        return HKDF(hashes.SHA256(), n, salt, info).derive(ikm)

    mac_key = hkdf(KEY, None, b"mprelay v1 handshake mac", 32)
    both = hkdf(KEY, CLIENT_RANDOM + SERVER_RANDOM, b"mprelay v1 session keys"
                + struct.pack(">III", SESSION, CLIENT_EPOCH, SERVER_EPOCH), 64)
    c2s, s2c = AESGCM(both[:32]), AESGCM(both[32:])

    def seal(aead, path, typ, epoch, seq, payload):
        head = hdr(path, SESSION, epoch, seq, typ=typ, sealed=True)
        # nonce: epoch, 0, space (1 for PROBE/ACK), seq; AAD: bytes 1..15
        nonce = head[6:10] + bytes([0, typ != T_DATA]) + head[10:16]
        return head + aead.encrypt(nonce, payload, head[1:])

    def mac(head_and_body):
        h = hmac.HMAC(mac_key, hashes.SHA256())
        h.update(head_and_body[1:])
        return head_and_body + h.finalize()[:16]

    def hello(path=0, session=SESSION, epoch=CLIENT_EPOCH, rnd=CLIENT_RANDOM):
        return mac(hdr(path, session, epoch, 1, typ=T_HELLO, sealed=True)
                   + rnd + bytes(16))

    def welcome(path=0, session=SESSION, epoch=SERVER_EPOCH):
        return mac(hdr(path, session, epoch, 1, typ=T_WELCOME, sealed=True)
                   + CLIENT_RANDOM + SERVER_RANDOM)

    def build(typ, flip=0, path=1, seq=5, rest=b"", down=False):
        """fuzz_sealed's second use of an input: kind, flip (bit + 1), path,
        session, epoch, seq, then the payload (PROBE/ACK: a padding index
        first)."""
        kind = KINDS.index(typ) | (0x80 if down else 0)
        return (bytes([kind]) + flip.to_bytes(3, "big") + bytes([path])
                + struct.pack(">II", SESSION, CLIENT_EPOCH) + seq.to_bytes(6, "big")
                + rest)

    pmtu_plen = PMTU_MAX - HDR_LEN - TAG_LEN
    return {
        # genuine packets: they authenticate, and go to their receivers
        "data-up": seal(c2s, 0, T_DATA, CLIENT_EPOCH, 1, b"up, sealed"),
        "data-down": seal(s2c, 2, T_DATA, SERVER_EPOCH, 7, b"down, sealed"),
        "data-empty": seal(c2s, 0, T_DATA, CLIENT_EPOCH, 2, b""),
        "probe": seal(c2s, 1, T_PROBE, CLIENT_EPOCH, 1, probe_body(path=1)),
        "probe-echo": seal(c2s, 3, T_PROBE, CLIENT_EPOCH, 9, probe_body(
            path=3, id=5, ts_us=250000, tx=40, echo_ts_us=240000,
            echo_hold_us=500, echo_tx=38, echo_rx=37, echo_len=PROBE_LEN,
            avoid=0x0004, state=0x05, pmtu=1400)),
        "probe-padded-pmtu": seal(c2s, 1, T_PROBE, CLIENT_EPOCH, 2, padded(
            probe_body(path=1, id=0), pmtu_plen)),
        "probe-other-path": seal(c2s, 1, T_PROBE, CLIENT_EPOCH, 3,
                                 probe_body(path=2)),
        "ack": seal(s2c, 1, T_ACK, SERVER_EPOCH, 1, probe_body(
            path=1, id=1, echo_ts_us=1, echo_len=PROBE_LEN)),
        "ack-padded-pmtu": seal(s2c, 1, T_ACK, SERVER_EPOCH, 2, padded(
            probe_body(path=1, id=0, echo_len=pmtu_plen), pmtu_plen)),
        "ack-short": seal(s2c, 1, T_ACK, SERVER_EPOCH, 3, bytes(39)),
        "hello": hello(),
        "hello-other": hello(path=2, session=0x0BADCAFE, epoch=0x00C0FFEE,
                             rnd=b"\x07" * 16),
        "welcome": welcome(),
        "welcome-other": welcome(path=1, session=0x0BADCAFE),
        "reset": mac(hdr(0, SESSION, CLIENT_EPOCH, 3, typ=T_RESET, sealed=True)),
        # recipes for a packet built, then one bit flipped
        "build-data": build(T_DATA, rest=b"payload"),
        "build-data-down": build(T_DATA, down=True, rest=b"payload"),
        "build-data-flip-tag": build(T_DATA, flip=8 * (HDR_LEN + 7) + 3,
                                     rest=b"payload"),
        "build-probe": build(T_PROBE, rest=b"\x00" + probe_body(path=1)),
        "build-probe-padded": build(T_PROBE, rest=b"\x08" + probe_body(path=1, id=0)),
        # byte 0 flipped: opens, and the body's path is not the header's
        "build-probe-flip-path": build(T_PROBE, flip=1, rest=b"\x00" + probe_body(path=1)),
        "build-ack": build(T_ACK, rest=b"\x00" + probe_body(path=1, id=1)),
        "build-ack-padded-pmtu": build(T_ACK, rest=b"\x08" + probe_body(
            path=1, id=0, echo_len=pmtu_plen)),
        "build-hello": build(T_HELLO, rest=b"\x05" * 16),
        "build-welcome": build(T_WELCOME, rest=b"\x06" * 16),
        "build-welcome-flip": build(T_WELCOME, flip=8 * 20 + 1),
        "build-reset": build(T_RESET),
    }


def write(out, seeds):
    os.makedirs(out, exist_ok=True)
    for name, data in seeds.items():
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)
    print("wrote %d seeds to %s" % (len(seeds), out), file=sys.stderr)


def main():
    here = os.path.dirname(os.path.abspath(__file__))

    good = packet(path=2, seq=7, payload=b"hello, multipath")
    seeds = {
        "data-empty": packet(),
        "data-small": good,
        "data-1400": packet(path=1, seq=42,
                            payload=bytes((i * 7 + 1400) & 0xFF
                                          for i in range(1400))),
        "data-max-fields": packet(path=15, session=0xFFFFFFFF,
                                  epoch=0xFFFFFFFF, seq=SEQ_MAX, payload=b"\xff"),
        "data-window-script": packet(path=4, seq=10000, payload=script(
            (0 << 2 | 0, d16(1)),            # top + 1
            (0 << 2 | 0, d16(-5)),           # a little behind
            (3 << 2 | 0, 0),                 # the same again: dup
            (1 << 2 | 0, d8(0)),             # exactly WINDOW_SIZE behind: old
            (1 << 2 | 0, d8(1)),             # last one inside
            (5 << 2 | 0, d8(63)),            # word boundary
            (6 << 2 | 0, (2 << 8) | d8(3)),  # two ring turns ahead
            (7 << 2 | 0, d8(0)),             # one ring behind
            (2 << 2 | 0, 0x000000_0000_0001 << 8),  # absolute seq
        )),
        "data-epoch-script": packet(path=5, epoch=0x0A, seq=5, payload=script(
            (0 << 2 | 1, new_epoch(0x0B)),   # peer restarted
            (0 << 2 | 1, new_epoch(0x0C)),
            (0 << 2 | 2, 0),                 # straggler from a retired epoch
            (0 << 2 | 3, 0),                 # the packet's (retired) epoch
            (0 << 2 | 1, new_epoch(0x0D)),
            (0 << 2 | 1, new_epoch(0x0E)),
            (0 << 2 | 1, new_epoch(0x0F)),
            (0 << 2 | 3, 0),                 # 0x0A has aged out: followed
            (0x20 | 0, 0),                   # seq_rx_start, same epoch
            (3 << 2 | 0, 0),                 # the last seq: new again
            (0x20 | 2, 0),                   # seq_rx_start, a retired epoch
            (0 << 2 | 0, d16(1)),
        )),
        "runt-header-only": hdr(0, 1, 1, 1),
        "runt-19": packet()[:19],
        "truncated": good[:-3],
        "bad-crc": good[:-1] + bytes([good[-1] ^ 0x01]),
        "bad-payload-bit": good[:20] + bytes([good[20] ^ 0x80]) + good[21:],
        "bad-version": packet(version=2),
        # Sealed packets: header, payload, a 16-byte AEAD tag (fake: wire.c
        # leaves the tag to the caller; fuzz_wire parses these keyed).
        "sealed": hdr(0, 1, 1, 1, sealed=True) + b"x" * 16,
        "sealed-data": hdr(6, 0x5EED0002, 0xE0000002, 99, sealed=True)
        + b"sealed payload" + bytes(range(16)),
        "sealed-hello": hdr(0, 0x5EED0003, 0xE0000003, 1, typ=3, sealed=True)
        + bytes(32) + b"T" * 16,
        "sealed-welcome": hdr(1, 0x5EED0003, 0xE0000004, 1, typ=4,
                              sealed=True) + bytes(32) + b"T" * 16,
        "sealed-reset": hdr(0, 0x5EED0003, 0xE0000004, 2, typ=5, sealed=True)
        + b"T" * 16,
        "sealed-probe": hdr(1, 0x5EED0004, 0xE0000005, 3, typ=T_PROBE,
                            sealed=True) + b"P" * PROBE_LEN + b"T" * 16,
        "sealed-type-6": hdr(0, 1, 1, 1, typ=6, sealed=True) + b"T" * 16,
        "sealed-ack-padded": hdr(1, 0x5EED0004, 0xE0000006, 3, typ=T_ACK,
                                 sealed=True)
        + padded(b"A" * PROBE_LEN, PMTU_MAX - HDR_LEN - TAG_LEN) + b"T" * 16,
        "sealed-runt-31": (hdr(0, 1, 1, 1, sealed=True) + b"T" * 16)[:31],
        "bad-type-7": packet(typ=7),
        "bad-type-0": packet(typ=0),
        # PROBE and ACK: the bodies go to path health, both sides
        "probe": packet(typ=T_PROBE, seq=3, payload=probe_body()),
        "probe-short": packet(typ=T_PROBE, seq=3, payload=probe_body()[:-1]),
        "probe-bad-path": packet(typ=T_PROBE, seq=3,
                                 payload=probe_body(path=16)),
        "probe-other-path": packet(path=2, typ=T_PROBE, seq=3,
                                   payload=probe_body(path=3)),
        # a path MTU probe at the search's first size, and one at the floor
        # (the largest padding is in the health scripts' fuzz_pad_len: a
        # 64 KiB seed would slow every run of the fuzzer down)
        "probe-padded-pmtu": packet(typ=T_PROBE, seq=4, payload=padded(
            probe_body(id=0, pmtu=1400), PMTU_MAX - HDR_LEN - CRC_LEN)),
        "probe-padded-floor": packet(typ=T_PROBE, seq=4, payload=padded(
            probe_body(id=0), 548 - HDR_LEN - CRC_LEN)),
        "probe-echo": packet(typ=T_PROBE, seq=9, payload=probe_body(
            id=7, ts_us=400000, tx=90, echo_ts_us=380000, echo_hold_us=2000,
            echo_tx=88, echo_rx=80, echo_len=PROBE_LEN, avoid=0x0002,
            state=0x06, pmtu=1400)),
        # the answer to the active side's PROBE 1 (RTT from the echo)
        "ack": packet(typ=T_ACK, seq=3, payload=probe_body(
            id=1, echo_ts_us=(1 << 40) & 0xFFFFFFFF or 1, echo_len=PROBE_LEN)),
        # the answer to its path MTU probe: the size went both ways
        "ack-padded-pmtu": packet(typ=T_ACK, seq=5, payload=padded(probe_body(
            id=0, echo_len=PMTU_MAX - HDR_LEN - CRC_LEN),
            PMTU_MAX - HDR_LEN - CRC_LEN)),
        "ack-short": packet(typ=T_ACK, seq=3, payload=b"\x00" * 39),
        # keyed-only types without a key: refused as unknown
        "plain-hello": packet(typ=T_HELLO, payload=bytes(32)),
        "plain-welcome": packet(typ=T_WELCOME, payload=bytes(32)),
        "plain-reset": packet(typ=T_RESET),
        "bad-path": packet(path=16),
        "zero-session": packet(session=0),
        "zero-epoch": packet(epoch=0),
        "zero-seq": packet(seq=0),
        "empty": b"",
    }
    seeds.update(health_scripts())
    write(os.path.join(here, "corpus", "wire"), seeds)
    try:
        sealed = sealed_seeds()
    except ImportError as e:
        print("sealed seeds not written (python3-cryptography): %s" % e,
              file=sys.stderr)
        return
    write(os.path.join(here, "corpus", "sealed"), sealed)


if __name__ == "__main__":
    main()
