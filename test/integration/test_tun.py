"""Tun mode, end to end, in network namespaces this module creates and deletes.

Needs root and /dev/net/tun (CI runs `make check` as root); skips otherwise
(reported as skips; under MP_REQUIRE_ALL=1, as CI runs, a skip fails).

      ns C1: mpclient --tun mpt0                 ns S: mpserver --tun mpt0 2000
      10.99.0.2/24 fd99::2/64                    10.99.0.1/24 fd99::1/64
   +-----------+                                 +------------------------+
   | vc0 .1    |====== 10.201.0.0/24 ======| vs0 .2 :4001 impair -+      |
   | vc1 .1    |====== 10.202.0.0/24 ======| vs1 .2 :4002 impair -+-> 127.0.0.1:2000
   | vc2 .1    |====== 10.203.0.0/24 ======| vs2 .2 :4003 impair -+      |
   +-----------+                                 |                        |
      ns C2: mpclient --tun mpt0 --mtu 1500      |                        |
      --user nobody --up/--down hooks            |                        |
      10.99.0.3/24 fd99::3/64                    |                        |
   | vd0 .1    |====== 10.204.0.0/24 ======| vs3 .2 :2000 (mpserver direct) |

Keyed (AES-256-GCM): each side carries inner packets up to 1500 - 28 (IPv4 +
UDP) - 32 (ours) = 1440 bytes. C2 and S set their devices to MTU 1500 on
purpose, so that what does not fit is answered with ICMP "too big".
"""

import json
import os
import random
import re
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from conftest import (IMPAIR, MPCLIENT, MPSERVER, ROOT, MpProc, ProcGroup, figure,
                      timing_check)

ROUTES = ROOT / "scripts" / "mprelay-routes"
FIT = 1500 - 28 - 32          # keyed, IPv4 paths
NOBODY = 65534


def _why_skip():
    if os.geteuid() != 0:
        return "tun mode tests need root (network namespaces, /dev/net/tun)"
    if not os.path.exists("/dev/net/tun"):
        return "no /dev/net/tun on this machine"
    for tool in ("ip", "ping", "iperf3"):
        if not shutil.which(tool):
            return f"{tool} is not installed (scripts/deps.sh installs it)"
    return None


needs_root = pytest.mark.skipif(_why_skip() is not None, reason=str(_why_skip()))


def sh(*argv, check=True, timeout=60):
    r = subprocess.run([str(a) for a in argv], capture_output=True, text=True,
                       timeout=timeout)
    if check and r.returncode != 0:
        raise AssertionError(f"{' '.join(map(str, argv))} -> {r.returncode}\n"
                             f"{r.stdout}{r.stderr}")
    return r


def nsx(ns, *argv, **kw):
    return sh("ip", "netns", "exec", ns, *argv, **kw)


def tun_stats(st):
    """The `stats tun ...` line of a report, as a dict."""
    for line in st.lines:
        m = re.search(r" info: stats tun (.*)$", line)
        if m:
            return {k: (int(v) if v.isdigit() else v)
                    for k, _, v in (t.partition("=") for t in m.group(1).split())}
    raise AssertionError("no 'stats tun' line in:\n" + "\n".join(st.lines))


def rx_packets(ns, dev="mpt0"):
    return int(nsx(ns, "cat", f"/sys/class/net/{dev}/statistics/rx_packets").stdout)


def loss_pct(ping_out):
    m = re.search(r"(\d+(?:\.\d+)?)% packet loss", ping_out)
    assert m, ping_out
    return float(m.group(1))


class Topology:
    def __init__(self, tmp):
        self.tmp = Path(tmp)
        tag = f"{os.getpid() % 100000}{random.randrange(1000):03d}"
        self.c1, self.c2, self.s = f"mpt{tag}c1", f"mpt{tag}c2", f"mpt{tag}s"
        self.namespaces = []
        self.group = ProcGroup(self.tmp)
        self.impairs = []
        self.hookdir = None

    # -- build
    def netns(self, name):
        sh("ip", "netns", "add", name)
        self.namespaces.append(name)
        nsx(name, "ip", "link", "set", "lo", "up")

    def link(self, a, adev, b, bdev, net):
        sh("ip", "link", "add", adev, "netns", a, "type", "veth", "peer", "name", bdev,
           "netns", b)
        nsx(a, "ip", "addr", "add", f"{net}.1/24", "dev", adev)
        nsx(b, "ip", "addr", "add", f"{net}.2/24", "dev", bdev)
        nsx(a, "ip", "link", "set", adev, "up")
        nsx(b, "ip", "link", "set", bdev, "up")

    def start(self):
        for ns in (self.c1, self.c2, self.s):
            self.netns(ns)
        for i in range(3):
            self.link(self.c1, f"vc{i}", self.s, f"vs{i}", f"10.20{i + 1}.0")
        self.link(self.c2, "vd0", self.s, "vs3", "10.204.0")
        # a key readable only by root, as the programs demand
        self.key = self.tmp / "key"
        sh(MPSERVER, "--genkey", self.key)

        self.server = self.group.start("mpserver", [
            "ip", "netns", "exec", self.s, MPSERVER, "--key-file", self.key,
            "--bind", "0.0.0.0", "--tun", "mpt0", "--tun-addr", "10.99.0.1/24",
            "--tun-addr", "fd99::1/64", "--mtu", "1500", "2000"], cls=MpProc)
        self.server.wait_line(r"listening on 0\.0\.0\.0:2000, target mpt0")
        for i in range(3):
            self.impairs.append(self.group.start(f"impair{i}", [
                "ip", "netns", "exec", self.s, IMPAIR, "--bind", f"10.20{i + 1}.0.2",
                str(4001 + i), "127.0.0.1", "2000"]))
        time.sleep(0.3)

        conf1 = self.tmp / "c1.conf"
        conf1.write_text("".join(f"10.20{i + 1}.0.2 {4001 + i} name=p{i}\n"
                                 for i in range(3)))
        self.client1 = self.group.start("mpclient1", [
            "ip", "netns", "exec", self.c1, MPCLIENT, "--key-file", self.key,
            "--tun", "mpt0", "--tun-addr", "10.99.0.2/24", "--tun-addr", "fd99::2/64",
            conf1], cls=MpProc)
        self.client1.wait_line(r"tun mpt0, 3 bridge paths")

        # C2: drops root once the device is open; its hooks log what they got.
        # The --down hook runs as nobody: it needs a directory nobody can
        # reach (pytest's tmp_path is root's alone).
        hookdir = Path(tempfile.mkdtemp(prefix="mpt-hooks-"))
        self.hookdir = hookdir
        os.chmod(hookdir, 0o777)
        self.hook_out = hookdir
        for event in ("up", "down"):
            script = hookdir / f"{event}.sh"
            script.write_text("#!/bin/sh\n"
                              f'echo "$(id -u) $* | $MPRELAY_EVENT $MPRELAY_DEV '
                              f'$MPRELAY_MTU $MPRELAY_ADDRS" > {hookdir}/{event}.out\n')
            os.chmod(script, 0o755)
        conf2 = self.tmp / "c2.conf"
        conf2.write_text("10.204.0.2 2000 name=direct\n")
        self.client2 = self.group.start("mpclient2", [
            "ip", "netns", "exec", self.c2, MPCLIENT, "--key-file", self.key,
            "--tun", "mpt0", "--tun-addr", "10.99.0.3/24", "--tun-addr", "fd99::3/64",
            "--mtu", "1500", "--user", "nobody", "--up", hookdir / "up.sh",
            "--down", hookdir / "down.sh", conf2], cls=MpProc)
        self.client2.wait_line(r"running as nobody")
        # both sessions up: a first ping each way (handshakes, addresses learned)
        for ns in (self.c1, self.c2):
            deadline = time.monotonic() + 10
            while nsx(ns, "ping", "-c", "1", "-W", "1", "10.99.0.1",
                      check=False).returncode != 0:
                assert time.monotonic() < deadline, f"{ns}: no ping through the tun"
            nsx(ns, "ping", "-6", "-c", "1", "-W", "2", "fd99::1")

    # -- tear down, also after a failure
    def close(self, failed):
        errors = []
        try:
            self.group.cleanup(failed)
        except AssertionError as e:
            errors.append(str(e))
        for ns in self.namespaces:
            sh("ip", "netns", "del", ns, check=False)
        if self.hookdir:
            shutil.rmtree(self.hookdir, ignore_errors=True)
        left = sh("ip", "netns", "list").stdout
        for ns in self.namespaces:
            if re.search(rf"^{ns}\b", left, re.M):
                errors.append(f"namespace {ns} still exists")
        if errors:
            raise AssertionError("\n".join(errors))


@pytest.fixture(scope="module")
def topo(tmp_path_factory, request):
    why = _why_skip()
    if why:
        pytest.skip(why)
    t = Topology(tmp_path_factory.mktemp("tun"))
    try:
        t.start()
    except BaseException:
        t.close(failed=True)
        raise
    yield t
    t.close(failed=request.session.testsfailed > 0)


def iperf(topo, seconds, port, during=None):
    """TCP from C1 to S across the tun; returns iperf3's JSON result."""
    srv = topo.group.start("iperf3-s", ["ip", "netns", "exec", topo.s, "iperf3", "-s",
                                        "-1", "-B", "10.99.0.1", "-p", str(port)])
    time.sleep(0.5)
    cli = subprocess.Popen(["ip", "netns", "exec", topo.c1, "iperf3", "-c", "10.99.0.1",
                            "-p", str(port), "-t", str(seconds), "-i", "1", "-J"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if during:
        during()
    out, err = cli.communicate(timeout=seconds + 30)
    srv.popen.wait(timeout=10)
    assert cli.returncode == 0, f"iperf3 failed ({cli.returncode}):\n{out}\n{err}"
    return json.loads(out)


# ---------------------------------------------------------------- tests


@needs_root
def test_ping_clean_paths(topo):
    # -w: wait for every reply (without it ping gives the last one only two
    # RTTs, and a loaded machine's late reply would count as lost)
    r4 = nsx(topo.c1, "ping", "-c", "50", "-i", "0.02", "-W", "2", "-w", "20", "10.99.0.1")
    r6 = nsx(topo.c1, "ping", "-6", "-c", "20", "-i", "0.02", "-W", "2", "-w", "20", "fd99::1")
    assert loss_pct(r4.stdout) == 0.0, r4.stdout
    assert loss_pct(r6.stdout) == 0.0, r6.stdout
    assert "50 received" in r4.stdout and "20 received" in r6.stdout
    avg = re.search(r"= [\d.]+/([\d.]+)/", r4.stdout).group(1)
    figure("tun ping", f"IPv4 50/50, IPv6 20/20 replies, 0% loss, avg rtt {avg} ms")
    st = topo.client1.stats()
    assert tun_stats(st)["payload_max"] == FIT
    assert tun_stats(st)["mtu"] == FIT          # the default: what fits


@needs_root
def test_iperf3_tcp(topo):
    t0 = time.monotonic()
    res = iperf(topo, 4, 5201)
    t1 = time.monotonic()
    bps = res["end"]["sum_received"]["bits_per_second"]
    retr = res["end"]["sum_sent"].get("retransmits", 0)
    figure("tun iperf3", f"TCP C1->S over 3 paths (duplicate, keyed, ASan build): "
           f"{bps / 1e6:.1f} Mbit/s, {retr} retransmits")
    timing_check(bps > 1e6, f"TCP {bps / 1e6:.2f} Mbit/s", t0, t1)


@needs_root
def test_blackhole_mid_transfer(topo):
    p1 = topo.impairs[1]
    marks = {}

    def blackhole():
        time.sleep(2.0)
        marks["before"] = topo.client1.stats()
        p1.signal(signal.SIGUSR1)       # path p1 goes dark, both ways

    t0 = time.monotonic()
    try:
        res = iperf(topo, 6, 5202, during=blackhole)
        after = topo.client1.stats()
        t1 = time.monotonic()
    finally:
        p1.signal(signal.SIGUSR1)       # and comes back for the next tests
    ints = [i["sum"]["bits_per_second"] for i in res["intervals"]]
    bps = res["end"]["sum_received"]["bits_per_second"]
    rx = {p["name"]: p["rx_pkts"] for p in after.paths}
    rx0 = {p["name"]: p["rx_pkts"] for p in marks["before"].paths}
    d = {k: rx[k] - rx0[k] for k in rx}
    figure("tun blackhole", f"path p1 dark from 2 s of 6: TCP kept {bps / 1e6:.1f} Mbit/s, "
           f"per second {[round(x / 1e6, 1) for x in ints]}; packets received "
           f"after the blackhole per path {d}")
    timing_check(all(x > 0 for x in ints[2:]), f"TCP per second {ints}", t0, t1)
    # the blackhole was real: p1 went silent (but for what was in flight
    # between the snapshot and the signal) while p0 carried on
    timing_check(d["p0"] > 1000 and d["p1"] < d["p0"] / 20,
                 f"packets received after the blackhole per path {d}", t0, t1)


@needs_root
def test_two_clients_each_get_only_their_own(topo):
    r = nsx(topo.c2, "ping", "-c", "10", "-i", "0.02", "-W", "2", "-w", "20", "10.99.0.1")
    assert loss_pct(r.stdout) == 0.0
    for target, mine, other in (("10.99.0.2", topo.c1, topo.c2),
                                ("10.99.0.3", topo.c2, topo.c1),
                                ("fd99::3", topo.c2, topo.c1)):
        a, b = rx_packets(mine), rx_packets(other)
        r = nsx(topo.s, "ping", "-c", "20", "-i", "0.02", "-W", "2", "-w", "20", target)
        da, db = rx_packets(mine) - a, rx_packets(other) - b
        assert loss_pct(r.stdout) == 0.0, r.stdout
        figure("tun two clients", f"S pings {target}: 20/20 replies; its client's tun "
               f"received {da} packets, the other client's {db}")
        assert da >= 20 and db == 0
    st = topo.server.stats()
    assert len(st.sessions) == 2
    # 2 clients x (IPv4, IPv6 global, IPv6 link-local)
    assert tun_stats(st)["inner_addresses"] >= 4
    assert st.drops()["route_conflict"] == 0


@needs_root
def test_oversize_answered_with_icmp(topo):
    before_c2 = tun_stats(topo.client2.stats())["too_big_answered"]
    before_s = tun_stats(topo.server.stats())["too_big_answered"]
    # C2's device takes 1500, its paths carry FIT: one byte more than FIT is
    # answered, FIT itself goes through.
    r4 = nsx(topo.c2, "ping", "-c", "1", "-W", "2", "-M", "do", "-s",
             str(FIT - 28 + 1), "10.99.0.1", check=False)
    r6 = nsx(topo.c2, "ping", "-6", "-c", "1", "-W", "2", "-M", "do", "-s",
             str(FIT - 48 + 1), "fd99::1", check=False)
    ok = nsx(topo.c2, "ping", "-c", "1", "-W", "2", "-M", "do", "-s", str(FIT - 28),
             "10.99.0.1", check=False)
    # and the other way: mpserver's device too takes 1500
    rs = nsx(topo.s, "ping", "-c", "1", "-W", "2", "-M", "do", "-s", "1472", "10.99.0.2",
             check=False)
    assert f"Frag needed and DF set (mtu = {FIT})" in r4.stdout, r4.stdout
    assert f"Packet too big: mtu={FIT}" in r6.stdout, r6.stdout
    assert loss_pct(ok.stdout) == 0.0, ok.stdout
    assert f"Frag needed and DF set (mtu = {FIT})" in rs.stdout, rs.stdout
    c2 = topo.client2.stats()
    s = topo.server.stats()
    dc2 = tun_stats(c2)["too_big_answered"] - before_c2
    ds = tun_stats(s)["too_big_answered"] - before_s
    figure("tun too big", f"ICMP frag-needed/packet-too-big (mtu {FIT}) answered: "
           f"C2 {dc2}, S {ds}; {FIT}-byte packet carried")
    assert dc2 == 2 and ds == 1
    assert c2.drops()["too_big"] >= 2 and s.drops()["too_big"] >= 1


@needs_root
def test_address_conflict_resolved_and_logged(topo):
    """C2 claims C1's address: refused while C1 sends from it, logged; taken
    over once C1 has been quiet for the hold (3 s), logged as a move."""
    nsx(topo.c2, "ip", "addr", "add", "10.99.0.2/32", "dev", "mpt0")
    try:
        since = topo.server.size()
        before = topo.server.stats().drops()["route_conflict"]
        holder = subprocess.Popen(["ip", "netns", "exec", topo.c1, "ping", "-c", "30",
                                   "-i", "0.1", "-W", "2", "-w", "20", "10.99.0.1"],
                                  stdout=subprocess.PIPE, text=True)
        time.sleep(0.5)
        thief = nsx(topo.c2, "ping", "-c", "5", "-i", "0.2", "-W", "1", "-I", "10.99.0.2",
                    "10.99.0.1", check=False)
        held, _ = holder.communicate(timeout=30)
        conflicts = topo.server.stats().drops()["route_conflict"] - before
        line = topo.server.wait_line(r"inner address 10\.99\.0\.2: claimed by session "
                                     r"\w+ but held by session \w+", since=since)
        assert loss_pct(held) == 0.0, held
        assert " 0 received" in thief.stdout, thief.stdout
        assert conflicts >= 5, conflicts
        # the holder is quiet now: after the hold, the claim succeeds
        time.sleep(3.2)
        moved = nsx(topo.c2, "ping", "-c", "3", "-i", "0.2", "-W", "2", "-w", "20",
                    "-I", "10.99.0.2",
                    "10.99.0.1", check=False)
        assert loss_pct(moved.stdout) == 0.0, moved.stdout
        topo.server.wait_line(r"inner address 10\.99\.0\.2: moves from session", since=since)
        figure("tun conflict", f"C1 kept 10.99.0.2 while sending (30/30 replies), C2's "
               f"claim refused {conflicts} times and logged; 3.2 s after C1 went quiet "
               f"C2 got it (3/3 replies)")
    finally:
        nsx(topo.c2, "ip", "addr", "del", "10.99.0.2/32", "dev", "mpt0", check=False)


@needs_root
def test_root_dropped_and_hooks(topo):
    status = Path(f"/proc/{topo.client2.pid}/status").read_text()
    uids = re.search(r"^Uid:\s+(.*)$", status, re.M).group(1).split()
    assert uids == [str(NOBODY)] * 4, status
    up = (topo.hook_out / "up.out").read_text().strip()
    assert up == f"0 mpt0 1500 10.99.0.3/24 fd99::3/64 | up mpt0 1500 10.99.0.3/24 fd99::3/64"
    # still carrying packets as nobody
    r = nsx(topo.c2, "ping", "-c", "3", "-i", "0.05", "-W", "2", "-w", "20", "10.99.0.1")
    assert loss_pct(r.stdout) == 0.0
    st = topo.client2.stop()
    assert st["app_rx"] > 0
    down = (topo.hook_out / "down.out").read_text().strip()
    # the down hook runs after root is gone, as nobody
    assert down == (f"{NOBODY} mpt0 1500 10.99.0.3/24 fd99::3/64 | "
                    f"down mpt0 1500 10.99.0.3/24 fd99::3/64")
    figure("tun user/hooks", f"mpclient runs as uid {NOBODY}; up hook as 0, down as {NOBODY}")


@needs_root
def test_clean_stop(topo):
    c = topo.client1.stop()
    s = topo.server.stop()
    assert c.nonzero_drops().keys() <= {"duplicate"}, c.nonzero_drops()
    assert s["sessions_opened"] == 2
    figure("tun stop", f"client1 app_rx={c['app_rx']} app_tx={c['app_tx']}; "
           f"server drops {s.nonzero_drops()}")


# ---------------------------------------------------------------- routes


ROUTES_CONF = """\
# lte by device and source address, dsl by source address, wifi by mark
bridge.example.net 4001 name=lte dev=wwan0 bind=10.64.0.2
bridge.example.net 4002 name=dsl bind=192.168.1.2 dev=ppp0
198.51.100.7 4003 name=wifi mark=0x3 dev=wlan0
203.0.113.10 2000 name=direct
[2001:db8::1] 4004 bind=2001:db8:1::2 dev=eth1
"""

ROUTES_UP = """\
# lte: table 100, out of wwan0
ip -4 route replace default dev wwan0 table 100
ip -4 rule add from 10.64.0.2 lookup 100 priority 10000
# dsl: table 101, out of ppp0
ip -4 route replace default dev ppp0 table 101
ip -4 rule add from 192.168.1.2 lookup 101 priority 10001
# wifi: table 102, out of wlan0
ip -4 route replace default dev wlan0 table 102
ip -4 rule add fwmark 0x3 lookup 102 priority 10002
# direct: no bind=, mark= or dev=, left to the main table
# path4: table 104, out of eth1
ip -6 route replace default dev eth1 table 104
ip -6 rule add from 2001:db8:1::2 lookup 104 priority 10004
"""

ROUTES_DOWN = """\
ip -4 rule del priority 10000
ip -4 route flush table 100
ip -4 rule del priority 10001
ip -4 route flush table 101
ip -4 rule del priority 10002
ip -4 route flush table 102
# direct: no bind=, mark= or dev=, left to the main table
ip -6 rule del priority 10004
ip -6 route flush table 104
"""


def test_routes_dry_run(tmp_path):
    conf = tmp_path / "c.conf"
    conf.write_text(ROUTES_CONF)
    up = sh(ROUTES, "--dry-run", "up", conf)
    down = sh(ROUTES, "--dry-run", "down", conf)
    assert up.stdout == ROUTES_UP
    assert down.stdout == ROUTES_DOWN
    # the config is one mpclient accepts as it is
    sh(MPCLIENT, "-n", "4000", conf)
    bad = sh(ROUTES, "--dry-run", "sideways", conf, check=False)
    assert bad.returncode == 2


@needs_root
def test_routes_real(tmp_path):
    """up then down in a namespace of our own: the rules and tables appear
    and go, exactly."""
    ns = f"mpt{os.getpid() % 100000}{random.randrange(1000):03d}r"
    sh("ip", "netns", "add", ns)
    try:
        for i in range(2):
            nsx(ns, "ip", "link", "add", f"up{i}", "type", "veth", "peer", "name", f"gw{i}")
            nsx(ns, "ip", "addr", "add", f"10.21{i}.0.1/24", "dev", f"up{i}")
            nsx(ns, "ip", "link", "set", f"up{i}", "up")
            nsx(ns, "ip", "link", "set", f"gw{i}", "up")
        conf = tmp_path / "c.conf"
        # path 0 finds its device from its address; path 1 names it
        conf.write_text("192.0.2.1 4001 bind=10.210.0.1\n192.0.2.1 4002 bind=10.211.0.1 dev=up1\n")
        nsx(ns, ROUTES, "up", conf)
        rules = nsx(ns, "ip", "rule", "show").stdout
        t100 = nsx(ns, "ip", "route", "show", "table", "100").stdout
        t101 = nsx(ns, "ip", "route", "show", "table", "101").stdout
        assert "10000:\tfrom 10.210.0.1 lookup 100" in rules, rules
        assert "10001:\tfrom 10.211.0.1 lookup 101" in rules, rules
        assert t100.strip() == "default dev up0 scope link", t100
        assert t101.strip() == "default dev up1 scope link", t101
        got = nsx(ns, "ip", "route", "get", "192.0.2.1", "from", "10.211.0.1").stdout
        assert "dev up1" in got, got
        nsx(ns, ROUTES, "down", conf)
        rules = nsx(ns, "ip", "rule", "show").stdout
        assert "lookup 100" not in rules and "lookup 101" not in rules, rules
        assert nsx(ns, "ip", "route", "show", "table", "100", check=False).stdout == ""
    finally:
        sh("ip", "netns", "del", ns, check=False)


# ---------------------------------------------------------------- command line


@pytest.mark.parametrize("argv, says", [
    ([MPCLIENT, "--tun", "t0", "--bind", "127.0.0.1", "c.conf"], "--bind makes no sense"),
    ([MPCLIENT, "--tun", "t0", "4000", "c.conf"], "expected CONFIG_FILE only"),
    ([MPCLIENT, "--mtu", "1400", "4000", "c.conf"], "need --tun"),
    ([MPCLIENT, "--tun", "t0", "--tun-addr", "10.0.0.1/33", "c.conf"], "--tun-addr"),
    ([MPCLIENT, "--tun", "t0", "--path-mtu", "100", "c.conf"], "--path-mtu"),
    ([MPSERVER, "--tun", "t0", "2000", "127.0.0.1", "1194"], "expected LISTEN_PORT only"),
    ([MPSERVER, "--up", "/bin/true", "2000", "127.0.0.1", "1194"], "need --tun"),
    ([MPSERVER, "--tun", "this-name-is-too-long", "2000"], "--tun: expected"),
])
def test_cli_refuses(argv, says):
    r = sh(*argv, check=False)
    assert r.returncode == 2, r.stderr
    assert says in r.stderr, r.stderr
    assert "--tun NAME" in r.stderr     # the usage, tun line included


def test_help_shows_tun_usage():
    for prog, line in ((MPCLIENT, "mpclient [options] --tun NAME [tun options] CONFIG_FILE"),
                       (MPSERVER, "mpserver [options] --tun NAME [tun options] LISTEN_PORT")):
        out = sh(prog, "--help").stdout
        assert line in out
        for opt in ("--tun-addr", "--mtu", "--path-mtu", "--up", "--down"):
            assert opt in out
