#!/usr/bin/python3
"""Writes the seed corpus of fuzz_wire: real mprelay packets, good and bad,
plaintext (CRC32C trailer) and sealed (16-byte tag, not verified by wire.c).

Independent of common/: the header layout and the CRC32C (Castagnoli,
reflected, over bytes 1..end of payload, stored big endian after the payload)
are written out here from docs/PROTOCOL.md, so the seeds also cross-check the
C code. Run from anywhere:  /usr/bin/python3 test/fuzz/gen_wire_seeds.py
Output: test/fuzz/corpus/wire/ (existing seed files are overwritten)."""
import os
import struct
import sys

HDR_LEN = 16
VERSION = 1
T_DATA = 1
SEALED = 0x08
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


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    out = os.path.join(here, "corpus", "wire")
    os.makedirs(out, exist_ok=True)

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
        "sealed-type-6": hdr(0, 1, 1, 1, typ=6, sealed=True) + b"T" * 16,
        "sealed-runt-31": (hdr(0, 1, 1, 1, sealed=True) + b"T" * 16)[:31],
        "bad-type-7": packet(typ=7),
        "bad-type-0": packet(typ=0),
        "type-2": packet(typ=2, seq=3, payload=b"probe"),  # PROBE, once known
        "bad-path": packet(path=16),
        "zero-session": packet(session=0),
        "zero-epoch": packet(epoch=0),
        "zero-seq": packet(seq=0),
        "empty": b"",
    }
    for name, data in seeds.items():
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)
    print("wrote %d seeds to %s" % (len(seeds), out), file=sys.stderr)


if __name__ == "__main__":
    main()
