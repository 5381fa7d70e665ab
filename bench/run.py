#!/usr/bin/python3
"""mprelay's benchmark: every figure of the speed issue in one run, on 127.0.0.1.

  throughput  64 and 1,200-byte datagrams; mprelay with 1 and 3 bridges, in
              duplicate and roundrobin, without and with a key (rr3 also
              with per-client keys: +ckey); and the reference chain of 3 plain batched relays (the same hops).
              Delivered packets/s and Mbit/s, CPU us per packet of every
              process, peak RSS of mpclient and mpserver. ROUNDS rounds,
              interleaved; medians; each ratio is taken within its round.
  latency     round trips at a moderate rate (udpblast ping), direct, through
              the reference chain and through mprelay: the latency each
              program adds, p50 and p99.
  micro       aead_seal, aead_open and crc32c alone (build/micro), if built.
  sessions    1, 100 and 1,000 application sockets through one mpclient and
              one mpserver: every session must get its replies; RSS per
              session, CPU per packet at 1,000 sessions vs 1.
  bond        WireGuard through mprelay over three uplinks of unequal rate
              and delay in network namespaces (test/netns/bond.sh, as root):
              TCP each way against the sum of the rates and the fastest
              uplink alone, ping under load, the fastest uplink's rate
              halved mid-transfer; for each of --bond-modes that mpclient
              knows, and bond and weighted with each path's rate= too.
  recovery    bond's loss recovery (issue 12's targets): TCP through WireGuard
              over three unlimited paths losing 5/10/15 %, bond against
              duplicate in the same run, and the bytes bond puts on its paths
              (test/netns/netns.sh); the uplinks of the bond stage losing
              1/2/3 % (bond.sh); the same clean uplinks with --recover off,
              against the bond stage's figure; an echo at 300 datagrams/s over
              bridges losing 10/20/30 %, and over clean ones
              (test/integration/test_recovery.py, the optimized build).

Writes one directory per run, OUT/<UTC date>/ (OUT is BUILD_DIR/bench
unless --out says otherwise): result.json (every figure of every round, the
targets and whether each is met), tables.md (the tables, also printed) and
chart.png; OUT/latest points at the newest. Nothing it writes is tracked by
git: the README's copy is refreshed on purpose, by `make bench-readme`.
The method and how to read the figures: bench/README.md.

`--readme` measures nothing: it copies OUT/latest/tables.md into README.md
between its bench:begin and bench:end markers, OUT/latest/chart.png to
docs/bench.png and OUT/latest/bond.png to docs/bond.png (`make bench-readme`).

For quick before/after comparisons, the throughput stage can be narrowed
(--sizes, --chains: "ref" always runs, as the ratios are taken against it),
its sender paced instead of blasting (--rate), and every mpclient and
mpserver given more options (--extra-args, e.g. "--copies 2"). Such a run
says so in its tables, and --readme refuses it.

Usage: bench/run.py BUILD_DIR [--rounds N] [--duration S] [--out DIR]
                              [--only throughput,latency,sessions,bond,recovery]
                              [--bond-modes "bond roundrobin ..."]
                              [--sizes 64,1200] [--chains rr3,rr3+key,rr3+ckey,...]
                              [--rate PPS] [--extra-args "OPTIONS"]
       bench/run.py BUILD_DIR --readme [--out DIR]
"""
import argparse
import datetime
import json
import os
import random
import re
import resource
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

SIZES_BYTES = (64, 1200)
# name: (mode, bridges); "ref" is the reference chain
CHAINS = {
    "dup1": ("duplicate", 1),
    "rr1": ("roundrobin", 1),
    "dup3": ("duplicate", 3),
    "rr3": ("roundrobin", 3),
    "bond3": ("bond", 3),
}
# A chain's key: none, the shared key (+key), or per-client keys (+ckey:
# Noise IK, one `client` line; the same sealing per datagram once agreed).
KEYS = {"": False, "key": True, "ckey": "ckey"}
DRAIN_S = 0.5               # after the sender stops, before the sink stops
PING_RATE_PPS = 1000        # "a moderate rate"
PING_COUNT = 2000
PING_SIZE_BYTES = 1200
SESSION_COUNTS = (1, 100, 1000)
SESSIONS_RATE_PPS = 10000   # the same total rate however many sessions
SESSIONS_DURATION_S = 3
SESSIONS_SIZE_BYTES = 1200
SESSIONS_KEY_DURATION_S = 8
RELAY_HOPS = 3              # reference chain: send -> r1 -> r2 -> r3 -> sink

# A run during which other programs took more than this share of the
# machine is run again, at most NOISY_RETRIES times (the last one counts).
FOREIGN_MAX_PCT = 20
NOISY_RETRIES = 1

STAGES = ("throughput", "latency", "sessions", "bond", "recovery")
# The bond stage's modes (those the built mpclient does not know are left
# out, and said so), and those of them also run with each path's rate=.
BOND_MODES = "bond roundrobin adaptive weighted duplicate"
BOND_RATE_MODES = ("bond", "weighted")
BOND_SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "test", "netns",
                           "bond.sh")
# The recovery stage's: netns.sh's lossy paths, bond.sh's uplinks with this
# loss, and the echo over lossy bridges.
NETNS_SCRIPT = os.path.join(os.path.dirname(BOND_SCRIPT), "netns.sh")
RECOVERY_TEST = os.path.join(os.path.dirname(BOND_SCRIPT), "..", "integration",
                             "test_recovery.py")
BOND_LOSS_PCT = "1 2 3"

# The targets.
TARGET_RR3_PPS_RATIO = 0.8
TARGET_CPU_VS_REF_HOP = 1.5
TARGET_KEY_RATIO = 0.85
TARGET_LATENCY_P50_US = 50
TARGET_RSS_100_MIB = 16
# issue 12's: TCP over the lossy paths against duplicate, the bytes on the
# paths per application byte, round trips of the echo lost (%: 0.1 % each
# way) and its datagrams on the wire per datagram, TCP over the lossy
# uplinks against their sum, clean bridges' datagrams per datagram, and
# bond with recovery against without over the clean uplinks (one run of
# each: bond.sh's own spread is about 0.02)
RECOVERY_TARGETS = {"vs_duplicate": 3, "wire_per_app": 1.6, "echo_lost_pct": 0.2,
                    "echo_wire": 1.6, "lossy_of_sum": 0.7, "clean_wire": 1.02,
                    "clean_vs_off": 0.97}
# issue 11's, for the chart and the text (test/netns/bond.sh holds the bounds)
BOND_TARGETS = {"of_sum": 0.85, "of_sum_rate": 0.9, "rtt_ms": 25, "halved_of_new_sum": 0.8,
                "recovery_s": 3}


def log(msg):
    print(msg, file=sys.stderr, flush=True)


# ---- processes ---------------------------------------------------------------

def pinned(cpus):
    """A preexec_fn that keeps the process on cpus (None: no pinning)."""
    return None if cpus is None else (lambda: os.sched_setaffinity(0, cpus))


def split_cpus():
    """(the sender's CPUs, the chain's CPUs) for a pinned blast (PINNED_PAIR),
    or (None, None) on a single CPU."""
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        return None, None
    return {cpus[0]}, set(cpus[1:])


class Procs:
    """Every process the benchmark starts, stopped on the way out."""

    def __init__(self, tmp):
        self.tmp = tmp
        self.live = []
        self.cpus = None        # the CPUs what starts now may run on (None: any)

    def start(self, name, argv):
        out = open(os.path.join(self.tmp, name + ".out"), "w")
        err = open(os.path.join(self.tmp, name + ".err"), "w")
        p = subprocess.Popen(argv, stdout=out, stderr=err, preexec_fn=pinned(self.cpus))
        out.close()
        err.close()
        p.name = name
        self.live.append(p)
        return p

    def stop(self, *procs):
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
            if p in self.live:
                self.live.remove(p)

    def stop_all(self):
        self.stop(*list(self.live))

    def output(self, p):
        with open(os.path.join(self.tmp, p.name + ".out")) as f:
            return f.read()

    def errors(self, p):
        with open(os.path.join(self.tmp, p.name + ".err")) as f:
            return f.read()


def used_ports():
    ports = set()
    for path in ("/proc/net/udp", "/proc/net/udp6"):
        with open(path) as f:
            next(f)
            for line in f:
                ports.add(int(line.split()[1].rsplit(":", 1)[1], 16))
    return ports


def pick_ports(n):
    """n free ports below the ephemeral range: nothing the programs open
    by themselves can take one meanwhile."""
    used, picked = used_ports(), []
    while len(picked) < n:
        port = random.randrange(20000, 32000)
        if port not in used and port not in picked:
            picked.append(port)
    return picked


def wait_bound(port):
    want = "0100007F:%04X" % port
    for _ in range(250):
        with open("/proc/net/udp") as f:
            if any(line.split()[1] == want for line in list(f)[1:]):
                return
        time.sleep(0.02)
    raise RuntimeError("nothing bound to 127.0.0.1:%d" % port)


def cpu_ns(pid):
    """On-CPU time so far: /proc/PID/schedstat (ns), else utime+stime."""
    try:
        with open("/proc/%d/schedstat" % pid) as f:
            v = int(f.read().split()[0])
        if v:
            return v
    except (OSError, ValueError, IndexError):
        pass
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) * 10**9 // os.sysconf("SC_CLK_TCK")


def status_kib(pid, key):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def fields(line):
    """key=value pairs of a udpblast report line."""
    return {k: float(v) for k, v in
            (w.split("=", 1) for w in line.split() if "=" in w)}


def machine_busy_ns():
    """CPU time all CPUs spent busy so far (any process), from /proc/stat."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:9]]
    return (sum(v) - v[3] - v[4]) * 10**9 // os.sysconf("SC_CLK_TCK")


def children_cpu_ns():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return int((r.ru_utime + r.ru_stime) * 1e9)


def busy_pct():
    """Percent of all CPUs busy over 0.5 s (other programs)."""
    def snap():
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:9]]
        return sum(v), v[3] + v[4]
    t0, i0 = snap()
    time.sleep(0.5)
    t1, i1 = snap()
    return round(100 * (1 - (i1 - i0) / max(t1 - t0, 1)))


def median(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


# ---- the chains --------------------------------------------------------------

class Bench:
    def __init__(self, build, tmp, duration_s, send_rate_pps=None, extra_args=()):
        self.tmp = tmp
        self.duration_s = duration_s
        self.send_rate_pps = send_rate_pps     # None: blast
        self.extra_args = list(extra_args)     # for every mpclient and mpserver
        self.procs = Procs(tmp)
        self.sender_cpus = None                # the load generator's CPUs (blast)
        bindir = os.path.join(tmp, "bin")
        os.mkdir(bindir)
        # copies: one run measures one build even if BUILD is rebuilt meanwhile
        for b in ("udpblast", "mpclient", "mpserver"):
            shutil.copy(os.path.join(build, b), bindir)
        self.udpblast = os.path.join(bindir, "udpblast")
        self.mpclient = os.path.join(bindir, "mpclient")
        self.mpserver = os.path.join(bindir, "mpserver")
        self.keyfile = os.path.join(tmp, "key")
        subprocess.run([self.mpclient, "--genkey", self.keyfile], check=True)
        # per-client keys: the server's and one client's pair, its line
        self.server_key = os.path.join(tmp, "server.key")
        self.client_key = os.path.join(tmp, "client.key")
        pubs = []
        for k in (self.server_key, self.client_key):
            subprocess.run([self.mpclient, "--genkey", k], check=True)
            pubs.append(subprocess.run([self.mpclient, "--pubkey", k], check=True,
                                       capture_output=True, text=True).stdout.strip())
        self.server_pub = pubs[0]
        self.clients_conf = os.path.join(tmp, "clients.conf")
        with open(self.clients_conf, "w") as f:
            f.write("client bench %s\n" % pubs[1])
        self.seq = 0

    def tag(self, name):
        self.seq += 1
        return "%03d-%s" % (self.seq, name)

    def sink(self, port, echo=False):
        argv = [self.udpblast, "sink", str(port)] + (["--echo"] if echo else [])
        return self.procs.start(self.tag("sink"), argv)

    def reference(self, sink_port):
        """send -> relay1 -> relay2 -> relay3 -> sink: returns (entry port,
        [relay1, relay2, relay3])."""
        ports = pick_ports(RELAY_HOPS)
        relays, target = [], sink_port
        for i in reversed(range(RELAY_HOPS)):
            relays.insert(0, self.procs.start(self.tag("relay%d" % (i + 1)), [
                self.udpblast, "relay", str(ports[i]), str(target)]))
            target = ports[i]
        for p in ports:
            wait_bound(p)
        return ports[0], relays

    def mprelay(self, sink_port, mode, nbridges, key, client_args=()):
        """send -> mpclient -> bridge(s) -> mpserver -> sink: returns
        (entry port, client, bridges, server)."""
        server_port, client_port, *bridge_ports = pick_ports(2 + nbridges)
        extra = ["--key-file", self.keyfile] if key else []
        server_extra = client_extra = extra
        if key == "ckey":
            server_extra = ["-c", self.clients_conf, "--key-file", self.server_key]
            client_extra = ["--key-file", self.client_key, "--server-pubkey", self.server_pub]
        conf = os.path.join(self.tmp, self.tag("conf"))
        with open(conf, "w") as f:
            for p in bridge_ports:
                f.write("127.0.0.1 %d\n" % p)
        server = self.procs.start(self.tag("server"), [
            self.mpserver, "-q", "--mode", mode, "--bind", "127.0.0.1", *server_extra,
            *self.extra_args, str(server_port), "127.0.0.1", str(sink_port)])
        bridges = [self.procs.start(self.tag("bridge"), [
            self.udpblast, "relay", str(p), str(server_port)]) for p in bridge_ports]
        client = self.procs.start(self.tag("client"), [
            self.mpclient, "-q", "--mode", mode, *client_extra, *self.extra_args, *client_args,
            str(client_port), conf])
        for p in [server_port, client_port, *bridge_ports]:
            wait_bound(p)
        return client_port, client, bridges, server

    # ---- throughput ----

    def blast(self, entry_port, sink, groups, size):
        """Blasts for the duration (or sends at send_rate_pps); returns the
        sink's and sender's figures,
        the CPU ns of each group of processes over the send, and the share
        of the machine other programs took meanwhile (in percent)."""
        before = {g: sum(cpu_ns(p.pid) for p in ps) for g, ps in groups.items()}
        ours0 = children_cpu_ns() + cpu_ns(sink.pid)
        busy0, t0 = machine_busy_ns(), time.monotonic_ns()
        pace = ["--rate", str(self.send_rate_pps)] if self.send_rate_pps else []
        sent = subprocess.run([self.udpblast, "send", str(entry_port), "--size", str(size),
                               "--duration", str(self.duration_s), *pace],
                              check=True, capture_output=True, text=True,
                              preexec_fn=pinned(self.sender_cpus)).stdout
        time.sleep(DRAIN_S)
        for ps in groups.values():
            for p in ps:
                if p.poll() is not None:
                    raise RuntimeError("%s died: %s" % (p.name, self.procs.errors(p)[-500:]))
        cpu = {g: sum(cpu_ns(p.pid) for p in ps) - before[g] for g, ps in groups.items()}
        ours = children_cpu_ns() + cpu_ns(sink.pid) - ours0 + sum(cpu.values())
        busy, elapsed = machine_busy_ns() - busy0, time.monotonic_ns() - t0
        foreign_pct = max(0.0, 100.0 * (busy - ours) / (elapsed * os.cpu_count()))
        self.procs.stop(sink)
        return fields(sent), fields(self.procs.output(sink).splitlines()[0]), cpu, foreign_pct

    def throughput_run(self, chain, size, key, pinned=False):
        """pinned: the sender on a CPU of its own, the rest on the others."""
        if pinned:
            self.sender_cpus, self.procs.cpus = split_cpus()
        try:
            return self.throughput_one(chain, size, key)
        finally:
            self.sender_cpus = self.procs.cpus = None

    def throughput_one(self, chain, size, key):
        sink_port = pick_ports(1)[0]
        sink = self.sink(sink_port)
        wait_bound(sink_port)
        rss = {}
        if chain == "ref":
            entry, relays = self.reference(sink_port)
            groups = {"first": relays[:1], "middle": relays[1:2], "last": relays[2:]}
            sent, sunk, cpu, foreign = self.blast(entry, sink, groups, size)
            self.procs.stop(*relays)
        else:
            mode, nbridges = CHAINS[chain]
            entry, client, bridges, server = self.mprelay(sink_port, mode, nbridges, key)
            groups = {"first": [client], "middle": bridges, "last": [server]}
            sent, sunk, cpu, foreign = self.blast(entry, sink, groups, size)
            rss = {"mpclient_kib": status_kib(client.pid, "VmHWM"),
                   "mpserver_kib": status_kib(server.pid, "VmHWM")}
            self.procs.stop(client, *bridges, server)
        delivered = sunk.get("pkts", 0)
        us = {g: (ns / 1e3 / delivered if delivered else None) for g, ns in cpu.items()}
        return {
            "sent_pps": sent.get("pps"), "delivered_pps": sunk.get("pps"),
            "mbps": sunk.get("mbps"), "sent": sent.get("pkts"), "delivered": delivered,
            "lost": sunk.get("lost"), "dups": sunk.get("dups"),
            "cpu_us_per_pkt": us, "peak_rss": rss, "foreign_cpu_pct": foreign,
        }

    # ---- latency ----

    def ping(self, entry_port):
        out = subprocess.run([self.udpblast, "ping", str(entry_port), "--rate", str(PING_RATE_PPS),
                              "--count", str(PING_COUNT), "--size", str(PING_SIZE_BYTES)],
                             check=True, capture_output=True, text=True).stdout
        return fields(out)

    def latency_run(self, chain, key):
        sink_port = pick_ports(1)[0]
        sink = self.sink(sink_port, echo=True)
        wait_bound(sink_port)
        started = [sink]
        if chain == "direct":
            entry = sink_port
        elif chain == "ref":
            entry, relays = self.reference(sink_port)
            started += relays
        else:
            mode, nbridges = CHAINS[chain]
            entry, client, bridges, server = self.mprelay(sink_port, mode, nbridges, key)
            started += [client, *bridges, server]
        r = self.ping(entry)
        self.procs.stop(*started)
        return r

    # ---- sessions ----

    def sessions_run(self, n, key, duration_s=SESSIONS_DURATION_S):
        sink_port = pick_ports(1)[0]
        sink = self.sink(sink_port, echo=True)
        wait_bound(sink_port)
        entry, client, bridges, server = self.mprelay(sink_port, "roundrobin", 3, key)
        procs = {"mpclient": client, "mpserver": server}
        base_rss = {k: status_kib(p.pid, "VmRSS") for k, p in procs.items()}
        before = {k: cpu_ns(p.pid) for k, p in procs.items()}
        out = subprocess.run([self.udpblast, "sessions", str(entry), "--count", str(n),
                              "--rate", str(SESSIONS_RATE_PPS), "--duration",
                              str(duration_s), "--size", str(SESSIONS_SIZE_BYTES)],
                             check=True, capture_output=True, text=True).stdout
        r = fields(out)
        cpu = {k: cpu_ns(p.pid) - before[k] for k, p in procs.items()}
        # each datagram crosses each program twice: up, then its echo down
        pkts = r["sent"] + r["received"]
        res = {
            "sessions": n, "duration_s": duration_s, "answered": int(r["answered"]), "min_replies": int(r["min_replies"]),
            "sent": int(r["sent"]), "received": int(r["received"]),
            "misrouted": int(r["misrouted"]),
            "cpu_us_per_pkt": {k: v / 1e3 / pkts for k, v in cpu.items()},
            "rss_kib": {k: status_kib(p.pid, "VmRSS") for k, p in procs.items()},
            "peak_rss_kib": {k: status_kib(p.pid, "VmHWM") for k, p in procs.items()},
            "rss_before_kib": base_rss,
        }
        self.procs.stop(client, *bridges, server, sink)
        return res

    def instrument_check(self):
        """The load generator itself, straight into an echoing sink: every
        socket answered, nothing misrouted, or no figure below means much."""
        port = pick_ports(1)[0]
        sink = self.sink(port, echo=True)
        wait_bound(port)
        out = subprocess.run([self.udpblast, "sessions", str(port), "--count", "1000",
                              "--rate", "10000", "--duration", "1", "--size", "200"],
                             check=True, capture_output=True, text=True).stdout
        self.procs.stop(sink)
        r = fields(out)
        if r["answered"] != 1000 or r["misrouted"] or r["received"] < 0.99 * r["sent"]:
            raise RuntimeError("udpblast sessions fails without mprelay: " + out)


# ---- stages -------------------------------------------------------------------

def parse_chains(spec):
    """"rr3,rr3+key,rr3+ckey" -> [("ref", False), ("rr3", False), ("rr3", True),
    ("rr3", "ckey")]: the reference first, always, as every ratio is taken
    against it."""
    order = [("ref", False)]
    for name in spec.split(","):
        chain, _, suffix = name.partition("+")
        if chain not in CHAINS or suffix not in KEYS or (name.endswith("+") and not suffix):
            raise argparse.ArgumentTypeError("unknown chain %r: one of %s, each alone, "
                                             "with +key or with +ckey" % (name, ", ".join(CHAINS)))
        if (chain, KEYS[suffix]) not in order:
            order.append((chain, KEYS[suffix]))
    return order


def key_suffix(key):
    """The chain name's suffix for a key value of KEYS: "", "+key", "+ckey"."""
    return {v: "+" + k if k else "" for k, v in KEYS.items()}[key]


# every chain alone and with the shared key; per-client keys on rr3 (their
# data path is the shared key's once the handshake is done)
ALL_CHAINS = ",".join([c + k for k in ("", "+key") for c in CHAINS] + ["rr3+ckey"])


# Bond against roundrobin (issue 11) is also run with the sender on a CPU of
# its own: sharing the CPUs, it takes whatever a chain leaves idle, and bond's
# pacer, which drops at its bound what the paths' estimates do not let
# through, leaves the relays idle for moments where roundrobin keeps their
# sockets full (CPU over a 5 s blast: the sender 243 ticks of 10 ms under
# roundrobin, 304 under bond). The other figures stay unpinned: pinned, the
# chain shares one CPU, each process finds more waiting when it runs, and the
# CPU per packet is that of larger batches.
PINNED_PAIR = ("rr3", "bond3")
PINNED_ROUNDS_MIN = 7       # its rounds vary 0.7-1.3: at least this many


def stage_throughput(b, rounds, sizes, order):
    runs = []           # every run, for the JSON
    pinned = [(c, False, True) for c in PINNED_PAIR] if ("bond3", False) in order else []
    total = max(rounds, PINNED_ROUNDS_MIN) if pinned else rounds
    for rnd in range(1, total + 1):
        for size in sizes:
            main = [(c, k, False) for c, k in order] if rnd <= rounds else []
            for chain, key, pin in main + pinned:
                log("throughput: round %d/%d, %d B, %s%s%s" % (
                    rnd, total, size, chain, key_suffix(key),
                    ", the sender on a CPU of its own" if pin else ""))
                for attempt in range(1 + NOISY_RETRIES):
                    r = b.throughput_run(chain, size, key, pin)
                    if r["foreign_cpu_pct"] <= FOREIGN_MAX_PCT:
                        break
                    log("  other programs took %.0f%% of the CPUs: again" %
                        r["foreign_cpu_pct"])
                r.update(round=rnd, size_bytes=size, chain=chain, key=key, retries=attempt,
                         pinned=pin)
                runs.append(r)
    return runs


def summarize_pinned(runs, sizes):
    """Bond's delivered pps over roundrobin's, both with the sender pinned,
    paired within each round: {size: {median, min, max, rounds}}."""
    out = {}
    for size in sizes:
        by = {}
        for r in runs:
            if r.get("pinned") and r["size_bytes"] == size:
                by.setdefault(r["round"], {})[r["chain"]] = r["delivered_pps"]
        ratios = [v["bond3"] / v["rr3"] for v in by.values()
                  if v.get("rr3") and v.get("bond3") is not None]
        if ratios:
            out[str(size)] = {"median": median(ratios), "min": min(ratios),
                              "max": max(ratios), "rounds": len(ratios)}
    return out


def chain_cpu(run):
    """CPU us per delivered packet of mpclient, the bridges and mpserver."""
    c = run["cpu_us_per_pkt"]
    return None if None in c.values() else sum(c.values())


def summarize_throughput(runs, sizes, order):
    def pick(size, chain, key):
        return [r for r in runs if r["size_bytes"] == size and r["chain"] == chain
                and r["key"] == key and not r.get("pinned")]

    def by_round(rs):
        return {r["round"]: r for r in rs}

    rows = []
    for size in sizes:
        ref = by_round(pick(size, "ref", False))
        ref_hop = median([sum(r["cpu_us_per_pkt"].values()) / RELAY_HOPS
                          for r in ref.values() if None not in r["cpu_us_per_pkt"].values()])
        for chain, key in order:
            rs = by_round(pick(size, chain, key))
            plain = by_round(pick(size, chain, False))
            cpu = {g: median([r["cpu_us_per_pkt"][g] for r in rs.values()])
                   for g in ("first", "middle", "last")}
            ratios = [r["delivered_pps"] / ref[n]["delivered_pps"]
                      for n, r in rs.items() if n in ref and ref[n]["delivered_pps"]]
            row = {
                "size_bytes": size, "chain": chain, "key": key,
                "delivered_pps": median([r["delivered_pps"] for r in rs.values()]),
                "mbps": median([r["mbps"] for r in rs.values()]),
                "sent_pps": median([r["sent_pps"] for r in rs.values()]),
                "lost_pct": median([100 * r["lost"] / r["sent"] if r["sent"] else None
                                    for r in rs.values()]),
                "ratio_vs_ref": median(ratios),
                "ratio_vs_ref_min": min(ratios, default=None),
                "ratio_vs_ref_max": max(ratios, default=None),
                "cpu_us_per_pkt": cpu,
                "chain_cpu_us_per_pkt": median([chain_cpu(r) for r in rs.values()]),
                "ref_hop_cpu_us_per_pkt": ref_hop,
                "foreign_cpu_pct": median([r["foreign_cpu_pct"] for r in rs.values()]),
            }
            if chain != "ref":
                row["mpclient_cpu_vs_ref_hop"] = cpu["first"] / ref_hop if ref_hop else None
                row["mpserver_cpu_vs_ref_hop"] = cpu["last"] / ref_hop if ref_hop else None
                row["peak_rss_kib"] = {
                    k: max(r["peak_rss"][k] for r in rs.values())
                    for k in ("mpclient_kib", "mpserver_kib")}
                if key:
                    row["key_vs_plain_pps"] = median([
                        r["delivered_pps"] / plain[n]["delivered_pps"]
                        for n, r in rs.items() if n in plain and plain[n]["delivered_pps"]])
                    # the same from the CPU the chain spends per packet:
                    # steadier on a shared machine than packets/s
                    row["key_vs_plain_cpu"] = median([
                        chain_cpu(plain[n]) / chain_cpu(r) for n, r in rs.items()
                        if n in plain and chain_cpu(plain[n]) and chain_cpu(r)])
            rows.append(row)
    return rows


LATENCY_CHAINS = [("direct", False), ("ref", False), ("rr1", False), ("rr3", False),
                  ("dup3", False), ("rr3", True)]


def stage_latency(b, rounds):
    """Round trips through each chain, ROUNDS times interleaved. Each
    round's figures are taken against that round's direct and reference
    runs, then the medians over the rounds are reported."""
    per_round = []
    for rnd in range(1, rounds + 1):
        res = {}
        for chain, key in LATENCY_CHAINS:
            name = chain + ("_key" if key else "")
            log("latency: round %d/%d, %s" % (rnd, rounds, name))
            res[name] = b.latency_run(chain, key)
        per_round.append(res)
    out = {"rate_pps": PING_RATE_PPS, "count": PING_COUNT, "size_bytes": PING_SIZE_BYTES,
           "rounds": [{k: {p: v.get(p + "_us") for p in ("p50", "p90", "p99")} |
                       {"received": v.get("received"), "sent": v.get("sent")}
                       for k, v in res.items()} for res in per_round],
           "rtt_us": {}, "per_program_us": {}}
    names = list(per_round[0])
    for k in names:
        out["rtt_us"][k] = {p: median([r[k][p + "_us"] for r in per_round])
                            for p in ("p50", "p90", "p99")}
    # One-way transit through one plain relay, from the reference chain's
    # 2 x 3 crossings; mprelay's round trip crosses mpclient and mpserver
    # twice each and the bridge twice. Percentiles do not subtract exactly:
    # the p99 figures are an estimate.
    for p in ("p50", "p99"):
        hops, per = [], {}
        for r in per_round:
            direct = r["direct"][p + "_us"]
            hop = (r["ref"][p + "_us"] - direct) / (2 * RELAY_HOPS)
            hops.append(hop)
            for k in names:
                if k in ("direct", "ref"):
                    continue
                transit = (r[k][p + "_us"] - direct - 2 * hop) / 4
                per.setdefault(k, []).append((transit, transit - hop))
        out["relay_hop_us_" + p] = median(hops)
        for k, v in per.items():
            d = out["per_program_us"].setdefault(k, {})
            d["transit_" + p] = median([t for t, _ in v])
            d["over_relay_" + p] = median([o for _, o in v])
    return out


def stage_sessions(b):
    res = []
    for n in SESSION_COUNTS:
        log("sessions: %d" % n)
        res.append(b.sessions_run(n, False) | {"key": False})
    one = res[0]
    big = res[-1]
    per_session = {k: (big["rss_kib"][k] - one["rss_kib"][k]) / (big["sessions"] - one["sessions"])
                   for k in ("mpclient", "mpserver")}
    cost = {k: big["cpu_us_per_pkt"][k] / one["cpu_us_per_pkt"][k]
            for k in ("mpclient", "mpserver")}
    # and the largest once more with the key: as many handshakes at once,
    # which mpserver's HELLO rate limit and mpclient's HELLO back-off spread
    # over seconds: a longer run
    log("sessions: %d, key" % SESSION_COUNTS[-1])
    res.append(b.sessions_run(SESSION_COUNTS[-1], True, SESSIONS_KEY_DURATION_S) | {"key": True})
    return {"rate_pps": SESSIONS_RATE_PPS, "duration_s": SESSIONS_DURATION_S,
            "size_bytes": SESSIONS_SIZE_BYTES, "chain": "rr3", "runs": res,
            "rss_kib_per_session": per_session,
            "cpu_per_pkt_1000_vs_1": cost}


def known_modes(mpclient):
    """The --mode values mpclient takes, from what it says of one it does
    not ("--mode: expected duplicate, ... or bond, got '?'")."""
    out = subprocess.run([mpclient, "--mode", "?"], capture_output=True, text=True)
    line = next((ln for ln in (out.stdout + out.stderr).splitlines()
                 if ln.startswith("--mode: expected")), "")
    words = line.split("expected", 1)[-1].split(", got")[0]
    return set(words.replace(",", " ").replace(" or ", " ").split())


def netns_skip():
    """Why a stage in network namespaces cannot run here, or None."""
    if os.geteuid() != 0:
        return "needs root (network namespaces, tun devices)"
    if not os.path.exists("/dev/net/tun"):
        return "no /dev/net/tun"
    return None


def run_bond_sh(b, build, out, env):
    """test/netns/bond.sh with b's copies of mpclient and mpserver (impair
    from BUILD) and env over the process's own: its JSON and its output,
    or None and the line that says why it skipped. Its bounds missed do
    not stop the benchmark (exit 1, or 75 during a measured host stall:
    the figures stand as figures)."""
    env = dict(os.environ, MP_BIN=os.path.dirname(b.mpclient),
               MPRELAY_EXTRA_ARGS=" ".join(b.extra_args)) | env
    env.pop("BOND_ASSERT", None)
    p = subprocess.run([BOND_SCRIPT, build, out], env=env, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True)
    if p.returncode == 77:
        return None, p.stdout.strip().splitlines()[-1]
    if p.returncode not in (0, 1, 75) or not os.path.exists(out):
        raise RuntimeError("bond.sh failed (%d): %s" % (p.returncode, p.stdout[-2000:]))
    with open(out) as f:
        return json.load(f), p.stdout


def stage_bond(b, build, modes):
    """bond.sh, every figure from its JSON. Its own bounds (issue 11's
    targets, for bond) are in "checks". Skipped, saying why, without root
    or /dev/net/tun."""
    why = netns_skip()
    if why:
        return {"skipped": why}
    known = known_modes(b.mpclient)
    run = [m for m in modes.split() if m in known]
    left_out = [m for m in modes.split() if m not in known]
    if left_out:
        log("bond: mpclient has no mode %s: left out" % ", ".join(left_out))
    if not run:
        return {"skipped": "mpclient knows none of the modes " + modes}
    rate_modes = [m for m in run if m in BOND_RATE_MODES]
    log("bond: %s (about %d s)" % (" ".join(run), 30 + 40 * len(run) + 20 * len(rate_modes)))
    res, out = run_bond_sh(b, build, os.path.join(b.tmp, "bond.json"),
                           {"MODES": " ".join(run), "RATE_MODES": " ".join(rate_modes)})
    if res is None:
        return {"skipped": out}
    res["modes_left_out"] = left_out
    res["table"] = out[out.find("\nuplinks ") + 1:out.rfind("\nresult:")]
    return res


def bond_alone(b, build, name, env):
    """bond.sh for bond alone (no rate= run): its figures of bond."""
    res, _ = run_bond_sh(b, build, os.path.join(b.tmp, name),
                         {"MODES": "bond", "RATE_MODES": ""} | env)
    if res is None:
        raise RuntimeError("bond.sh skipped after netns.sh ran")
    return res["runs"]["bond"]


def netns_rows(text):
    """netns.sh's summary: TCP up and down per relay mode, and its line of
    bond against duplicate and bond's bytes on the paths."""
    res = {}
    for line in text.splitlines():
        if line.startswith("WireGuard via mprelay"):
            f = re.split(r"\s{2,}", line.strip())
            res[f[1]] = {"ping_loss_pct": float(f[3]), "tcp_up_mbps": float(f[5]),
                         "tcp_down_mbps": float(f[6])}
    m = re.search(r"TCP up and down: ([\d.]+)x ([\d.]+)x;.* up and down: ([\d.]+) ([\d.]+)",
                  text)
    if m:
        res["vs_duplicate"] = [float(m.group(1)), float(m.group(2))]
        res["wire_per_app"] = [float(m.group(3)), float(m.group(4))]
    return res


def echo_rows(text):
    """test_recovery.py's figures: round trips lost and the datagrams on
    the wire per datagram, per run."""
    res = {}
    for m in re.finditer(r"recovery: ([^:]*--recover on): round trip (\d+)/(\d+)"
                         r"[^,]*, wire per datagram up ([\d.]+) down ([\d.]+)", text):
        sent, got = int(m.group(3)), int(m.group(2))
        res[m.group(1)] = {"lost_pct": 100.0 * (sent - got) / sent,
                           "wire": [float(m.group(4)), float(m.group(5))]}
    return res


def stage_recovery(b, build):
    """Issue 12's figures; see the module's docstring. Skipped like bond."""
    why = netns_skip()
    if why:
        return {"skipped": why}
    res = {"loss_pct": BOND_LOSS_PCT.replace(" ", "/")}
    log("recovery: TCP over paths losing 5/10/15 %, duplicate and bond (about 40 s)")
    summary = os.path.join(b.tmp, "netns.txt")
    env = dict(os.environ, MP_BIN=os.path.dirname(b.mpclient), ONLY="wg-dup wg-bond",
               MPRELAY_EXTRA_ARGS=" ".join(b.extra_args))
    env.pop("MP_REQUIRE_ALL", None)
    env.pop("CI", None)
    p = subprocess.run([NETNS_SCRIPT, build, summary], env=env, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True)
    if p.returncode not in (0, 1) or not os.path.exists(summary):
        raise RuntimeError("netns.sh failed (%d): %s" % (p.returncode, p.stdout[-2000:]))
    with open(summary) as f:
        res["lossy_paths"] = netns_rows(f.read())
    log("recovery: bond over the bond stage's uplinks losing %s %% (about 60 s)" % BOND_LOSS_PCT)
    res["lossy_uplinks"] = bond_alone(b, build, "bond-lossy.json", {"BOND_LOSS": BOND_LOSS_PCT})
    log("recovery: bond over the clean uplinks with --recover off (about 60 s)")
    res["clean_off"] = bond_alone(b, build, "bond-off.json", {
        "MPRELAY_EXTRA_ARGS": " ".join(b.extra_args + ["--recover", "off"])})
    log("recovery: an echo over bridges losing 10/20/30 %, and over clean ones (about 45 s)")
    env = dict(os.environ, MP_BIN=os.path.dirname(b.mpclient), MP_TOOLS=build)
    p = subprocess.run(["/usr/bin/python3", "-m", "pytest", "-q", "-s", "-p", "no:cacheprovider",
                        RECOVERY_TEST], env=env, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True)
    res["echo"] = echo_rows(p.stdout)
    res["echo_passed"] = p.returncode == 0
    return res


# ---- targets, table, chart ------------------------------------------------------

def recovery_targets(rec, bond):
    t = []
    if not rec or "skipped" in rec:
        return t
    T = RECOVERY_TARGETS

    def add(name, value, limit, le=False):
        t.append({"target": "recovery: " + name + (" <=" if le else " >="), "value": value,
                  "limit": limit, "unit": "",
                  "met": None if value is None else (value <= limit if le else value >= limit)})

    lp = rec["lossy_paths"]
    for i, d in enumerate(("up", "down")):
        add("TCP %s over paths losing 5/10/15 %%, bond / duplicate" % d,
            (lp.get("vs_duplicate") or [None, None])[i], T["vs_duplicate"])
    add("the same, ping loss through bond, %", lp.get("bond", {}).get("ping_loss_pct"), 0, True)
    for i, (d, who) in enumerate((("up", "mpclient"), ("down", "mpserver"))):
        add("the same, bytes %s sent on its paths per application byte" % who,
            (lp.get("wire_per_app") or [None, None])[i], T["wire_per_app"], True)
    for label, e in sorted(rec.get("echo", {}).items()):
        if label.startswith("clean"):
            for i, d in enumerate(("up", "down")):
                add("echo over clean bridges, datagrams on the wire per datagram %s" % d,
                    e["wire"][i], T["clean_wire"], True)
            continue
        add("echo at 300/s over 10/20/30 %% loss (%s), round trips lost %%" % label,
            e["lost_pct"], T["echo_lost_pct"], True)
        for i, d in enumerate(("up", "down")):
            add("the same, datagrams on the wire per datagram %s" % d, e["wire"][i],
                T["echo_wire"], True)
    for d in ("up", "down"):
        add("TCP %s over the uplinks losing %s %%, / their sum" % (d, rec["loss_pct"]),
            rec["lossy_uplinks"].get(d, {}).get("of_sum"), T["lossy_of_sum"])
    on = ((bond or {}).get("runs") or {}).get("bond")
    for d in ("up", "down"):
        a, o = (on or {}).get(d, {}).get("of_sum"), rec["clean_off"].get(d, {}).get("of_sum")
        add("TCP %s over the clean uplinks, bond / bond --recover off" % d,
            None if not a or not o else round(a / o, 3), T["clean_vs_off"])
    return t


def targets(summary, latency, sessions, bond=None, pinned=None):
    t = []

    def add(name, value, limit, ok, unit=""):
        t.append({"target": name, "value": value, "limit": limit, "unit": unit,
                  "met": None if value is None else bool(ok)})

    row = next((r for r in summary if r["size_bytes"] == 1200 and r["chain"] == "rr3"
                and not r["key"]), None)
    krow = next((r for r in summary if r["size_bytes"] == 1200 and r["chain"] == "rr3"
                 and r["key"] is True), None)
    # issue 11: over equal clean paths, bond at least as fast as roundrobin
    # (the sender on a CPU of its own, paired per round: stage_throughput)
    for size in (64, 1200):
        p = (pinned or {}).get(str(size))
        if p:
            add("bond3 %d B: pps vs rr3, the sender on its own CPU, median of %d rounds >="
                % (size, p["rounds"]), p["median"], 1.0, p["median"] >= 1.0)
    if row:
        v = row["ratio_vs_ref"]
        add("rr3 1200 B: pps vs reference chain >=", v, TARGET_RR3_PPS_RATIO,
            v is not None and v >= TARGET_RR3_PPS_RATIO)
        for prog in ("mpclient", "mpserver"):
            v = row[prog + "_cpu_vs_ref_hop"]
            add("rr3 1200 B: %s CPU/pkt vs reference relay <=" % prog, v,
                TARGET_CPU_VS_REF_HOP, v is not None and v <= TARGET_CPU_VS_REF_HOP, "x")
    if krow:
        v = krow["key_vs_plain_pps"]
        add("rr3 1200 B: pps with key vs without >=", v, TARGET_KEY_RATIO,
            v is not None and v >= TARGET_KEY_RATIO)
        v = krow["key_vs_plain_cpu"]
        add("rr3 1200 B: chain CPU/pkt without key vs with (same, from CPU) >=", v,
            TARGET_KEY_RATIO, v is not None and v >= TARGET_KEY_RATIO)
    if latency:
        for name in ("rr3", "rr3_key"):
            v = latency["per_program_us"].get(name, {}).get("transit_p50")
            add("%s: latency added per program, p50 at %d pps <=" % (
                name, PING_RATE_PPS), v, TARGET_LATENCY_P50_US,
                v is not None and v <= TARGET_LATENCY_P50_US, "us")
    if sessions:
        r100 = next(r for r in sessions["runs"] if r["sessions"] == 100 and not r["key"])
        for prog in ("mpclient", "mpserver"):
            v = r100["peak_rss_kib"][prog] / 1024
            add("%s peak RSS with 100 sessions <=" % prog, v, TARGET_RSS_100_MIB,
                v <= TARGET_RSS_100_MIB, "MiB")
        for big in sessions["runs"]:
            if big["sessions"] != SESSION_COUNTS[-1]:
                continue
            add("%d sessions%s all answered within %d s, none misrouted" % (
                big["sessions"], " with the key (not an issue target)" if big["key"] else "",
                big["duration_s"]),
                big["answered"], big["sessions"],
                big["answered"] == big["sessions"] and big["misrouted"] == 0)
    # issue 11's, as test/netns/bond.sh checks them: those it asserts (the
    # bond mode's) and the instrument's own
    # (a figure it could not take, as a recovery that never came, is missed)
    for c in (bond or {}).get("checks", []):
        if c["asserted"] or c["name"].startswith("fastest alone"):
            t.append({"target": "bond netns: %s %s" % (
                c["name"], "<=" if c["op"] == "le" else ">="), "value": c["value"],
                "limit": c["limit"], "unit": "", "met": c["met"]})
    return t


def fmt(v, spec=".2f"):
    return "-" if v is None else format(v, spec)


KEY_LABEL = {"": "", "+key": "yes", "+ckey": "per client"}
LABEL = {"ref": "reference: 3 relays", "dup1": "duplicate, 1 bridge",
         "rr1": "roundrobin, 1 bridge", "dup3": "duplicate, 3 bridges",
         "rr3": "roundrobin, 3 bridges", "bond3": "bond, 3 bridges"}


def markdown(result):
    m = result["meta"]
    lines = ["Measured %s on %d CPUs (%s), %s, %d round%s of %s s per chain (medians); "
             "%d%% of the CPUs busy with other programs at the start." % (
                 m["date"], m["cpus"], m["cpu_model"], m["openssl"], m["rounds"],
                 "s" if m["rounds"] > 1 else "", m["duration_s"], m["busy_pct"]), ""]
    if m.get("options"):
        lines[0] += " Not a full `make bench`: `%s`." % " ".join(m["options"])
    if result.get("throughput"):
        lines += ["| size | chain | key | delivered pps | Mbit/s | vs ref | key vs plain: pps, CPU | "
                  "CPU us/pkt mpclient | bridges | mpserver | client/server vs ref hop | "
                  "peak RSS client/server KiB | others' CPU % |",
                  "|---:|---|:-:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for r in result["throughput"]:
            c = r["cpu_us_per_pkt"]
            rss = r.get("peak_rss_kib", {})
            lines.append("| %d | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
                r["size_bytes"], LABEL[r["chain"]], KEY_LABEL[key_suffix(r["key"])],
                fmt(r["delivered_pps"], ".0f"), fmt(r["mbps"], ".0f"),
                fmt(r["ratio_vs_ref"], ".3f"), "-" if not r["key"] else "%s, %s" % (
                    fmt(r.get("key_vs_plain_pps"), ".3f"), fmt(r.get("key_vs_plain_cpu"), ".3f")),
                fmt(c["first"]), fmt(c["middle"]), fmt(c["last"]),
                "-" if r["chain"] == "ref" else "%s / %s" % (
                    fmt(r["mpclient_cpu_vs_ref_hop"]), fmt(r["mpserver_cpu_vs_ref_hop"])),
                "-" if not rss else "%d / %d" % (rss["mpclient_kib"], rss["mpserver_kib"]),
                fmt(r["foreign_cpu_pct"], ".0f")))
        lines += ["", "For the reference chain the three CPU columns are relay 1, 2 and 3. "
                  "`duplicate` carries every datagram 3 times between mpclient and mpserver "
                  "with 3 bridges. *Others' CPU*: the share of the machine that other programs "
                  "took during the run (a run above %d%% is run once more)." % FOREIGN_MAX_PCT, ""]
    lat = result.get("latency")
    if lat:
        lines += ["Latency, %d-byte datagrams at %d pps, %d pings: round trip p50 / p99 us; "
                  "one-way transit per program (mpclient and mpserver averaged) and its excess "
                  "over a plain relay (%s / %s us per hop, p50 / p99); medians of %d rounds. "
                  "Percentiles do not subtract exactly: the p99 columns are an estimate, and "
                  "one below 0 says that the reference chain's own stalls set its p99." % (
                      lat["size_bytes"], lat["rate_pps"], lat["count"],
                      fmt(lat["relay_hop_us_p50"], ".1f"), fmt(lat["relay_hop_us_p99"], ".1f"),
                      len(lat["rounds"])),
                  "", "| path | RTT p50 | RTT p99 | per program p50 | p99 | over a relay p50 | p99 |",
                  "|---|---:|---:|---:|---:|---:|---:|"]
        for k, v in lat["rtt_us"].items():
            pp = lat["per_program_us"].get(k, {})
            lines.append("| %s | %s | %s | %s | %s | %s | %s |" % (
                k, fmt(v["p50"], ".1f"), fmt(v["p99"], ".1f"),
                fmt(pp.get("transit_p50"), ".1f"), fmt(pp.get("transit_p99"), ".1f"),
                fmt(pp.get("over_relay_p50"), ".1f"), fmt(pp.get("over_relay_p99"), ".1f")))
        lines.append("")
    ses = result.get("sessions")
    if ses:
        lines += ["Sessions: one mpclient, 3 bridges (roundrobin), one mpserver, an echoing "
                  "target; %d pps of %d-byte datagrams in all, whatever the number of "
                  "sessions. With the key, 1,000 new sessions at once are 1,000 handshakes, "
                  "which mpserver's HELLO rate limit and mpclient's HELLO back-off spread over "
                  "a few seconds: that run is longer." % (ses["rate_pps"], ses["size_bytes"]), "",
                  "| sessions | key | seconds | answered | fewest replies | misrouted | CPU us/pkt client | "
                  "server | RSS KiB client | server | peak RSS KiB client | server |",
                  "|---:|:-:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for r in ses["runs"]:
            lines.append("| %d | %s | %s | %d | %d | %d | %s | %s | %d | %d | %d | %d |" % (
                r["sessions"], "yes" if r.get("key") else "", r["duration_s"], r["answered"],
                r["min_replies"], r["misrouted"],
                fmt(r["cpu_us_per_pkt"]["mpclient"]), fmt(r["cpu_us_per_pkt"]["mpserver"]),
                r["rss_kib"]["mpclient"], r["rss_kib"]["mpserver"],
                r["peak_rss_kib"]["mpclient"], r["peak_rss_kib"]["mpserver"]))
        lines += ["", "Memory per session (RSS at %d sessions minus at 1, without the key): "
                  "mpclient %s KiB, mpserver %s KiB. CPU per packet at %d sessions vs 1: "
                  "mpclient %sx, mpserver %sx." % (
                      SESSION_COUNTS[-1], fmt(ses["rss_kib_per_session"]["mpclient"]),
                      fmt(ses["rss_kib_per_session"]["mpserver"]), SESSION_COUNTS[-1],
                      fmt(ses["cpu_per_pkt_1000_vs_1"]["mpclient"]),
                      fmt(ses["cpu_per_pkt_1000_vs_1"]["mpserver"])), ""]
    mic = result.get("micro")
    if mic:
        lines += ["Per-packet work outside the kernel, timed alone in a warm loop "
                  "(`build/micro`, ns per call):", "",
                  "| payload bytes | aead_seal | aead_open | crc32c |", "|---:|---:|---:|---:|"]
        for r in mic["ns_per_call"]:
            lines.append("| %d | %.0f | %.0f | %.0f |" % (
                r["payload_bytes"], r["aead_seal"], r["aead_open"], r["crc32c"]))
        lines.append("")
    bond = result.get("bond")
    if bond:
        lines += bond_markdown(bond)
    rec = result.get("recovery")
    if rec:
        lines += recovery_markdown(rec)
    if result.get("targets"):
        lines += ["| target | measured | limit | met |", "|---|---:|---:|:-:|"]
        for t in result["targets"]:
            lines.append("| %s | %s %s | %s | %s |" % (
                t["target"], fmt(t["value"], ".4g"), t["unit"], t["limit"],
                {True: "yes", False: "**no**", None: "-"}[t["met"]]))
        lines.append("")
    return "\n".join(lines)


def bond_markdown(bond):
    if "skipped" in bond:
        return ["Bonding (test/netns/bond.sh): skipped, %s." % bond["skipped"], ""]
    m, runs = bond["meta"], bond["runs"]
    alone = runs["alone"]
    lines = ["Bonding: WireGuard through mprelay over three uplinks of %s Mbit/s (sum %s), "
             "%s ms one way, queues of %s ms (test/netns/bond.sh, network namespaces); TCP %s "
             "%s s after %s s, each way; the same run measures WireGuard over the fastest "
             "uplink alone, whose idle RTT is %s ms. TCP carries at most %s of a rate through "
             "mprelay (headers). Ping: every 10 ms while TCP saturates the tunnel, its p95 over "
             "that idle RTT. Halved: the fastest uplink's rate halved %s s into a %s s transfer; "
             "seconds until TCP stays at 0.8 of the new sum (\"never\": not by the end). Load "
             "average %s to %s.%s" % (
                 "/".join(map(str, m["rates_mbit"])), fmt(m["sum_mbit"], "g"),
                 "/".join(map(str, m["delays_ms"])), m["queue_ms"], m["tcp_cc"],
                 m["tcp_seconds"], m["tcp_omit_seconds"],
                 fmt(alone.get("idle_ping", {}).get("p50_ms"), ".1f"),
                 fmt(m["tcp_ceiling_of_rate"], ".3f"), m["halve_at_s"], m["halved_seconds"],
                 m["loadavg_start"], m["loadavg_end"],
                 " Modes left out (mpclient lacks them): %s." % ", ".join(bond["modes_left_out"])
                 if bond.get("modes_left_out") else ""), "",
             "| run | TCP up Mbit/s | down | / sum up | down | / fastest up | down | "
             "ping loss up/down % | ping p95 over idle up/down ms | halved up s | down s |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    idle = alone.get("idle_ping", {}).get("p50_ms")

    def rec(r, d):
        h = r.get("halved", {}).get(d)
        if not h:
            return "-"
        return "never" if h.get("recovery_s") is None else fmt(h["recovery_s"], ".1f")

    for tag in bond["order"]:
        r = runs[tag]
        up, down = r.get("up", {}), r.get("down", {})
        over = ["-" if idle is None or x.get("ping", {}).get("p95_ms") is None
                else fmt(x["ping"]["p95_ms"] - idle, ".0f") for x in (up, down)]
        lines.append("| %s | %s | %s | %s | %s | %s | %s | %s / %s | %s / %s | %s | %s |" % (
            r["label"], fmt(up.get("mbps"), ".1f"), fmt(down.get("mbps"), ".1f"),
            fmt(up.get("of_sum")), fmt(down.get("of_sum")),
            fmt(up.get("of_fastest")), fmt(down.get("of_fastest")),
            fmt(up.get("ping", {}).get("loss_pct"), ".1f"),
            fmt(down.get("ping", {}).get("loss_pct"), ".1f"), over[0], over[1],
            rec(r, "up"), rec(r, "down")))
    lines += ["", "Issue 11's targets for `bond`: TCP >= %s of the sum (>= %s with `rate=`), no "
              "ping lost and its RTT within %s ms of the idle RTT, back to %s of the new sum "
              "within %s s of the rate halving (the targets table below)." % (
                  BOND_TARGETS["of_sum"], BOND_TARGETS["of_sum_rate"],
                  BOND_TARGETS["rtt_ms"], BOND_TARGETS["halved_of_new_sum"],
                  BOND_TARGETS["recovery_s"]), ""]
    return lines


def recovery_markdown(rec):
    if "skipped" in rec:
        return ["Loss recovery: skipped, %s." % rec["skipped"], ""]
    lp, lu, off = rec["lossy_paths"], rec["lossy_uplinks"], rec["clean_off"]
    lines = ["Loss recovery (`bond`): TCP through WireGuard over three unlimited paths losing "
             "5/10/15 %% with 10/20/30 ms one way (test/netns/netns.sh), `duplicate` and `bond` "
             "in the same run; the bond stage's uplinks losing %s %% and, clean, with "
             "`--recover off`, one run each; the rows of the targets table below whose names "
             "begin with \"recovery\" hold the ratios and the echo's figures "
             "(test/integration/test_recovery.py, whose own assertions %s)." % (
                 rec["loss_pct"], "passed" if rec.get("echo_passed") else "**failed**"), "",
             "| run | ping loss % | TCP up Mbit/s | down | / sum up | down |",
             "|---|---:|---:|---:|---:|---:|"]
    for mode in ("duplicate", "bond"):
        r = lp.get(mode, {})
        lines.append("| lossy paths, %s | %s | %s | %s | - | - |" % (
            mode, fmt(r.get("ping_loss_pct"), ".1f"), fmt(r.get("tcp_up_mbps"), ".1f"),
            fmt(r.get("tcp_down_mbps"), ".1f")))
    for label, r in (("uplinks losing %s %%, bond" % rec["loss_pct"], lu),
                     ("clean uplinks, bond --recover off", off)):
        up, down = r.get("up", {}), r.get("down", {})
        lines.append("| %s | - | %s | %s | %s | %s |" % (
            label, fmt(up.get("mbps"), ".1f"), fmt(down.get("mbps"), ".1f"),
            fmt(up.get("of_sum")), fmt(down.get("of_sum"))))
    lines.append("")
    return lines


def bond_chart(bond, png):
    """TCP through each mode as a fraction of the sum of the uplinks' rates,
    each way, with the fastest uplink alone and the targets."""
    dat = png + ".dat"
    with open(dat, "w") as f:
        for tag in bond["order"]:
            r = bond["runs"][tag]
            f.write('"%s" %f %f\n' % (r["label"], r.get("up", {}).get("of_sum") or 0,
                                      r.get("down", {}).get("of_sum") or 0))
    script = """
set terminal pngcairo size 900,450 font ",10"
set output '{png}'
set title "TCP inside WireGuard over 3 uplinks of {rates} Mbit/s ({date}): throughput / sum of the rates"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.8 border -1
set grid ytics
set key top left maxrows 2
set yrange [0:1.3]
set xtics rotate by -20 scale 0
set bmargin 5
plot '{dat}' using 2:xtic(1) title "up", '' using 3 title "down", \
     {t} with lines dt 2 lc rgb "red" title "target ({t})", \
     {tr} with lines dt 3 lc rgb "dark-red" title "target with rate= ({tr})", \
     {c} with lines dt 1 lc rgb "gray" title "headers' ceiling ({c})"
""".format(png=png, dat=dat, date=bond["meta"]["date"], t=BOND_TARGETS["of_sum"],
           tr=BOND_TARGETS["of_sum_rate"], c=round(bond["meta"]["tcp_ceiling_of_rate"], 3),
           rates="/".join(map(str, bond["meta"]["rates_mbit"])))
    subprocess.run(["gnuplot"], input=script, text=True, check=True)
    os.remove(dat)


def chart(result, png):
    """Two panels: delivered pps as a fraction of the reference chain, and
    mpclient's and mpserver's CPU per packet over the reference relay's."""
    rows = [r for r in result["throughput"] if r["chain"] != "ref"]
    dat = png + ".dat"
    with open(dat, "w") as f:
        for r in rows:
            f.write('"%s %s%s" %f %f %f\n' % (
                r["size_bytes"], r["chain"], key_suffix(r["key"]),
                r["ratio_vs_ref"] or 0, r["mpclient_cpu_vs_ref_hop"] or 0,
                r["mpserver_cpu_vs_ref_hop"] or 0))
    script = """
set terminal pngcairo size 1100,800 font ",10"
set output '{png}'
set multiplot layout 2,1 title "mprelay vs a chain of plain batched UDP relays ({date}, 127.0.0.1)"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.8 border -1
set grid ytics
set xtics rotate by -35 scale 0
set key top right
set ylabel "delivered pps / reference"
set yrange [0:*]
plot '{dat}' using 2:xtic(1) title "mprelay / reference chain", {rr} with lines dt 2 lc rgb "red" title "target rr3 1200 B ({rr})"
set ylabel "CPU per packet / reference relay"
plot '{dat}' using 3:xtic(1) title "mpclient", '' using 4 title "mpserver", {cpu} with lines dt 2 lc rgb "red" title "target ({cpu}x)"
unset multiplot
""".format(png=png, dat=dat, date=result["meta"]["date"], rr=TARGET_RR3_PPS_RATIO,
           cpu=TARGET_CPU_VS_REF_HOP)
    subprocess.run(["gnuplot"], input=script, text=True, check=True)
    os.remove(dat)


def write_run(result, out):
    """OUT/<UTC date>/{result.json,tables.md,chart.png}, then OUT/latest
    pointed at it (replaced in one step). Returns the directory and the
    tables."""
    stamp = result["meta"]["date"].replace(":", "").replace("-", "")
    run = os.path.join(out, stamp)
    os.makedirs(run, exist_ok=True)
    with open(os.path.join(run, "result.json"), "w") as f:
        f.write(json.dumps(result, indent=1) + "\n")
    md = markdown(result)
    with open(os.path.join(run, "tables.md"), "w") as f:
        f.write(md + "\n")
    if result.get("throughput"):
        chart(result, os.path.join(run, "chart.png"))
    if result.get("bond", {}).get("runs"):
        bond_chart(result["bond"], os.path.join(run, "bond.png"))
    link = os.path.join(out, "latest")
    if os.path.lexists(link + ".new"):
        os.remove(link + ".new")
    os.symlink(stamp, link + ".new")
    os.replace(link + ".new", link)
    return run, md


# The README's copy of a run: the tables between these two lines, the chart
# in README_CHART (the README links to it).
README_BEGIN = "<!-- bench:begin"
README_END = "<!-- bench:end"
README_CHART = "docs/bench.png"
README_BOND_CHART = "docs/bond.png"


def readme(out):
    """Copies the latest run in OUT into the README and README_CHART; the
    README's figures change only when someone runs this and commits it."""
    run = os.path.join(out, "latest")
    md, png = os.path.join(run, "tables.md"), os.path.join(run, "chart.png")
    if not os.path.exists(md):
        sys.exit("bench-readme: no run in %s/ (run `make bench` first)" % out)
    with open(os.path.join(run, "result.json")) as f:
        result = json.load(f)
    missing = [s for s in STAGES if s not in result]
    if missing:
        sys.exit("bench-readme: the latest run (%s) has no %s stage: the README shows "
                 "a full `make bench`" % (os.path.realpath(run), " or ".join(missing)))
    if result["meta"].get("options"):
        sys.exit("bench-readme: the latest run (%s) was made with %s: the README shows "
                 "a full `make bench`" % (os.path.realpath(run),
                                          " ".join(result["meta"]["options"])))
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    path = os.path.join(root, "README.md")
    with open(path) as f:
        lines = f.read().split("\n")
    begin = [i for i, line in enumerate(lines) if line.startswith(README_BEGIN)]
    end = [i for i, line in enumerate(lines) if line.startswith(README_END)]
    if len(begin) != 1 or len(end) != 1 or begin[0] > end[0]:
        sys.exit("bench-readme: README.md needs one '%s ... -->' line, then one '%s ... -->'"
                 % (README_BEGIN, README_END))
    with open(md) as f:
        tables = f.read().rstrip("\n").split("\n")
    lines[begin[0] + 1:end[0]] = tables
    with open(path + ".new", "w") as f:
        f.write("\n".join(lines))
    os.replace(path + ".new", path)
    shutil.copyfile(png, os.path.join(root, README_CHART))
    shutil.copyfile(os.path.join(run, "bond.png"), os.path.join(root, README_BOND_CHART))
    log("README.md, %s and %s now show %s: review and commit them"
        % (README_CHART, README_BOND_CHART, os.path.realpath(run)))


def cpu_clock():
    """Where cpu_ns() reads: schedstat (ns) when the kernel keeps it."""
    try:
        with open("/proc/self/schedstat") as f:
            return "schedstat" if int(f.read().split()[0]) else "stat"
    except (OSError, ValueError, IndexError):
        return "stat"


def meta(args):
    model = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    ssl = subprocess.run(["openssl", "version"], capture_output=True, text=True).stdout.strip()
    return {"date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "cpus": os.cpu_count(), "cpu_model": model, "openssl": ssl,
            "rounds": args.rounds, "duration_s": args.duration, "busy_pct": busy_pct(),
            "cpu_clock": cpu_clock(),
            "git": subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                                  text=True).stdout.strip()}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("build")
    ap.add_argument("--rounds", type=int, default=int(os.environ.get("ROUNDS", 3)))
    ap.add_argument("--duration", type=float, default=float(os.environ.get("DURATION_S", 2)))
    ap.add_argument("--out", help="where the runs go (default BUILD/bench)")
    ap.add_argument("--only", default=",".join(STAGES))
    ap.add_argument("--sizes", default=",".join(map(str, SIZES_BYTES)),
                    help="datagram sizes of the throughput stage, bytes")
    ap.add_argument("--chains", default=ALL_CHAINS,
                    help="the throughput stage's mprelay chains (the reference always runs)")
    ap.add_argument("--rate", type=int, help="pace the throughput sender to PPS (default: blast)")
    ap.add_argument("--bond-modes", default=BOND_MODES,
                    help="the bond stage's modes (those mpclient lacks are left out)")
    ap.add_argument("--extra-args", default="",
                    help="more options for every mpclient and mpserver (one string)")
    ap.add_argument("--readme", action="store_true",
                    help="copy the latest run into README.md and %s; measure nothing"
                    % README_CHART)
    args = ap.parse_args()
    args.out = args.out or os.path.join(args.build, "bench")
    if args.readme:
        readme(args.out)
        return
    stages = set(args.only.split(","))
    if stages - set(STAGES):
        ap.error("--only: stages are " + ",".join(STAGES))
    try:
        sizes = [int(x) for x in args.sizes.split(",")]
    except ValueError:
        ap.error("--sizes: datagram sizes in bytes, e.g. 64,1200")
    try:
        order = parse_chains(args.chains)
    except argparse.ArgumentTypeError as e:
        ap.error(str(e))
    # what makes this run other than a full `make bench`, said in its tables
    options = ["--%s %s" % (k.replace("_", "-"), shlex.quote(str(getattr(args, k))))
               for k in ("only", "sizes", "chains", "rate", "extra_args", "bond_modes")
               if getattr(args, k) != ap.get_default(k)]
    tmp = tempfile.mkdtemp(prefix="mprelay-bench.")
    result = {"bench": "mprelay", "meta": meta(args) | {"options": options}}
    if result["meta"]["busy_pct"] > 10:
        log("warning: %d%% of the CPUs busy before the run: noisy figures"
            % result["meta"]["busy_pct"])
    b = Bench(args.build, tmp, args.duration, args.rate, shlex.split(args.extra_args))
    ok = False
    try:
        micro = os.path.join(args.build, "micro")
        if os.access(micro, os.X_OK):
            log("micro: aead_seal, aead_open, crc32c")
            result["micro"] = json.loads(subprocess.run(
                [micro], check=True, capture_output=True, text=True).stdout)
        b.instrument_check()
        if "throughput" in stages:
            runs = stage_throughput(b, args.rounds, sizes, order)
            result["throughput_runs"] = runs
            result["throughput"] = summarize_throughput(runs, sizes, order)
            result["bond_vs_rr_pinned"] = summarize_pinned(runs, sizes)
        if "latency" in stages:
            result["latency"] = stage_latency(b, args.rounds)
        if "sessions" in stages:
            result["sessions"] = stage_sessions(b)
        if "bond" in stages:
            result["bond"] = stage_bond(b, os.path.abspath(args.build), args.bond_modes)
        if "recovery" in stages:
            result["recovery"] = stage_recovery(b, os.path.abspath(args.build))
        ok = True
    finally:
        b.procs.stop_all()
        if ok or not os.environ.get("KEEP"):
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            log("logs kept in " + tmp)
    result["targets"] = targets(result.get("throughput", []), result.get("latency"),
                                result.get("sessions"), result.get("bond"),
                                result.get("bond_vs_rr_pinned"))
    result["targets"] += recovery_targets(result.get("recovery"), result.get("bond"))
    run, md = write_run(result, args.out)
    print(md)
    log("written to %s/ (%s/latest); `make bench-readme` copies it into the README"
        % (run, args.out))


if __name__ == "__main__":
    main()
