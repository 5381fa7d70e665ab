#!/usr/bin/python3
"""Writes the seed corpus of fuzz_fec (test/fuzz/corpus/fec/), in the two
forms of input the harness reads (see its top comment):

  mode 0 (a real group): 0x00, k-1, m-1, a 4-byte seed, k 2-byte lengths,
          then one byte per shard delivery (shard = byte % (k+m); 0x80: flip
          a byte, 2 more bytes; 0x40: 1 more byte, odd = another group)
  mode 1 (arbitrary shards): 0x01, then records of op, k, m, index, 2-byte
          length and that many bytes (op & 3: 0 data, 1 parity, 2 recover,
          3 start)

Run from anywhere: /usr/bin/python3 test/fuzz/gen_fec_seeds.py"""
import hashlib
import os
import struct

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", "fec")


def group(k, m, lens, deliveries, seed=0x12345678):
    body = bytes([0, k - 1, m - 1]) + struct.pack(">I", seed)
    body += b"".join(struct.pack(">H", n) for n in lens)
    return body + bytes(deliveries)


def record(op, k, m, index, payload):
    return bytes([op, k, m, index]) + struct.pack(">H", len(payload)) + payload


SEEDS = [
    # k=8, m=2, 1,400-ish lengths cut to the harness's 600: two data lost
    group(8, 2, [600, 599, 1, 0, 300, 64, 65, 600], [2, 3, 4, 5, 6, 7, 8, 9]),
    # every data shard lost but one, k=4 m=4, parity first
    group(4, 4, [10, 20, 30, 40], [7, 6, 5, 0]),
    # one too many lost: refused
    group(6, 2, [100] * 6, [0, 1, 2, 3, 6]),
    # duplicates and another group's shards
    group(3, 1, [5, 6, 7], [0, 0, 0x40, 1, 3, 3]),
    # a corrupted parity byte
    group(2, 2, [50, 40], [0, 0x80 | 2, 0, 7, 3]),
    # the largest group
    group(16, 4, [600 - i for i in range(16)], list(range(4, 20))),
    # arbitrary: data, parity, recover, restart, malformed
    b"\x01" + record(0, 0, 0, 0, b"abc") + record(1, 2, 1, 0, b"\x00\x03xyz")
    + record(2, 0, 0, 0, b"") + record(3, 0, 0, 0, b"")
    + record(1, 17, 5, 9, b"\xff" * 3) + record(0, 0, 0, 16, b"q"),
    b"\x01" + record(1, 1, 1, 0, b"\x00\x05hello") + record(2, 0, 0, 0, b"")
    + record(1, 1, 1, 0, b"\xff\xffjunk") + record(2, 0, 0, 0, b""),
]

os.makedirs(OUT, exist_ok=True)
for s in SEEDS:
    with open(os.path.join(OUT, hashlib.sha1(s).hexdigest()), "wb") as f:
        f.write(s)
print(f"gen_fec_seeds: {len(SEEDS)} seeds in {OUT}")
