#!/usr/bin/python3
"""A UDP traffic source and sink for the demo and for trying mprelay by hand.

  udpflow.py echo PORT                 echo every datagram back to its sender
  udpflow.py send PORT [--count N] [--rate PPS] [--size BYTES]
                                       send numbered datagrams to 127.0.0.1:PORT,
                                       collect the echoes, report loss and RTT

The sender checks every echo byte for byte, so corruption and duplicates are
reported too. It prints one summary line of key=value pairs at the end.
"""
import argparse
import socket
import struct
import sys
import time


def echo(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", port))
    while True:
        data, addr = s.recvfrom(65535)
        s.sendto(data, addr)


def payload(seq, size):
    head = struct.pack("!IQ", seq, 0x6d7072656c6179)  # seq + "mprelay"
    body = bytes((seq * 31 + i) & 0xFF for i in range(max(0, size - len(head))))
    return (head + body)[:max(size, len(head))]


def send(port, count, rate, size, settle_s):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.connect(("127.0.0.1", port))
    s.setblocking(False)
    sent_at = {}
    rtts, dups, corrupt = [], 0, 0
    seen = set()
    interval = 1.0 / rate
    start = time.monotonic()
    seq = 0
    deadline = None
    while True:
        now = time.monotonic()
        if seq < count and now >= start + seq * interval:
            sent_at[seq] = now
            try:
                s.send(payload(seq, size))
            except OSError:
                pass
            seq += 1
            continue
        if seq == count and deadline is None:
            deadline = now + settle_s
        if deadline is not None and now >= deadline:
            break
        try:
            data = s.recv(65535)
        except (BlockingIOError, ConnectionRefusedError):
            time.sleep(min(interval, 0.001))
            continue
        if len(data) < 12:
            corrupt += 1
            continue
        rseq = struct.unpack("!I", data[:4])[0]
        if rseq not in sent_at or data != payload(rseq, size):
            corrupt += 1
        elif rseq in seen:
            dups += 1
        else:
            seen.add(rseq)
            rtts.append((time.monotonic() - sent_at[rseq]) * 1000)
    rtts.sort()
    pct = lambda p: rtts[min(len(rtts) - 1, int(p * len(rtts)))] if rtts else 0.0
    lost = count - len(seen)
    print(f"sent={count} received={len(seen)} lost={lost} loss_pct={100.0 * lost / count:.2f} "
          f"duplicates={dups} corrupt={corrupt} rtt_p50_ms={pct(0.5):.2f} rtt_p99_ms={pct(0.99):.2f}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    e = sub.add_parser("echo")
    e.add_argument("port", type=int)
    sd = sub.add_parser("send")
    sd.add_argument("port", type=int)
    sd.add_argument("--count", type=int, default=1000)
    sd.add_argument("--rate", type=float, default=200.0)
    sd.add_argument("--size", type=int, default=1200)
    sd.add_argument("--settle", type=float, default=1.0, help="seconds to wait for late echoes")
    a = ap.parse_args()
    if a.cmd == "echo":
        echo(a.port)
    else:
        send(a.port, a.count, a.rate, a.size, a.settle)


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit(0)
