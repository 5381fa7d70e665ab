"""Per-client keys in tun mode: AllowedIPs, in network namespaces this module
creates and deletes (root and /dev/net/tun; skipped otherwise, as test_tun).

      ns A: mpclient --tun mpt0 (alice)      ns S: mpserver --tun mpt0 -c (client lines)
      10.97.0.2/24, and 10.97.0.3/32          10.97.0.1/24
   | va0 .1 |====== 10.211.0.0/24 ======| vs0 .2 :2000 |
      ns B: mpclient --tun mpt0 (bob)         |              |
      10.97.0.3/24                            |              |
   | vb0 .1 |====== 10.212.0.0/24 ======| vs1 .2 :2000 |

    client alice KEY_A allowed-ips=10.97.0.2/32
    client bob   KEY_B allowed-ips=10.97.0.3/32,10.97.100.0/24

What is checked:
  1. each client's own address gets through (ping S), and S reaches bob at
     an address bob never sent from (10.97.100.7 on bob's device): the
     route comes from bob's allowed-ips (longest prefix), not from learning;
  2. alice sending from bob's address (10.97.0.3, added to her device) gets
     nothing through: S's device sees none of it (its rx counter, read from
     outside) and mpserver counts drop_not_allowed_ip; bob's pings go on.
"""

import os
import random
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from conftest import MPCLIENT, MPSERVER, MpProc, ProcGroup


def _why_skip():
    if os.geteuid() != 0:
        return "tun mode tests need root (network namespaces, /dev/net/tun)"
    if not os.path.exists("/dev/net/tun"):
        return "no /dev/net/tun on this machine"
    for tool in ("ip", "ping"):
        if not shutil.which(tool):
            return f"{tool} is not installed (scripts/deps.sh installs it)"
    return None


def sh(*argv, check=True, timeout=60):
    r = subprocess.run([str(a) for a in argv], capture_output=True, text=True, timeout=timeout)
    if check and r.returncode != 0:
        raise AssertionError(f"{' '.join(map(str, argv))} -> {r.returncode}\n{r.stdout}{r.stderr}")
    return r


def nsx(ns, *argv, **kw):
    return sh("ip", "netns", "exec", ns, *argv, **kw)


def rx_packets(ns, dev="mpt0"):
    return int(nsx(ns, "cat", f"/sys/class/net/{dev}/statistics/rx_packets").stdout)


def genkey(path):
    sh(MPCLIENT, "--genkey", path)
    return sh(MPCLIENT, "--pubkey", path).stdout.strip()


@pytest.fixture(scope="module")
def topo(tmp_path_factory, request):
    why = _why_skip()
    if why:
        pytest.skip(why)
    tmp = Path(tmp_path_factory.mktemp("ktun"))
    tag = f"{os.getpid() % 100000}{random.randrange(1000):03d}"
    a, b, s = f"mpk{tag}a", f"mpk{tag}b", f"mpk{tag}s"
    made = []
    group = ProcGroup(tmp)
    t = type("T", (), {})()
    t.a, t.b, t.s = a, b, s
    t.tmp = tmp
    try:
        for ns in (a, b, s):
            sh("ip", "netns", "add", ns)
            made.append(ns)
            nsx(ns, "ip", "link", "set", "lo", "up")
        for ns, dev, sdev, net in ((a, "va0", "vs0", "10.211.0"), (b, "vb0", "vs1", "10.212.0")):
            sh("ip", "link", "add", dev, "netns", ns, "type", "veth", "peer", "name", sdev,
               "netns", s)
            nsx(ns, "ip", "addr", "add", f"{net}.1/24", "dev", dev)
            nsx(s, "ip", "addr", "add", f"{net}.2/24", "dev", sdev)
            nsx(ns, "ip", "link", "set", dev, "up")
            nsx(s, "ip", "link", "set", sdev, "up")
        srv_pub = genkey(tmp / "srv.key")
        a_pub = genkey(tmp / "a.key")
        b_pub = genkey(tmp / "b.key")
        cfg = tmp / "mpserver.conf"
        cfg.write_text(f"client alice {a_pub} allowed-ips=10.97.0.2/32\n"
                       f"client bob {b_pub} allowed-ips=10.97.0.3/32,10.97.100.0/24\n")
        t.server = group.start("mpserver", [
            "ip", "netns", "exec", s, MPSERVER, "-c", cfg, "--key-file", tmp / "srv.key",
            "--bind", "0.0.0.0", "--tun", "mpt0", "--tun-addr", "10.97.0.1/24", "2000"],
            cls=MpProc)
        t.server.wait_line(r"listening on 0\.0\.0\.0:2000, target mpt0")
        for name, ns, key, addr, net in (("alice", a, "a.key", "10.97.0.2/24", "10.211.0"),
                                         ("bob", b, "b.key", "10.97.0.3/24", "10.212.0")):
            conf = tmp / f"{name}.conf"
            conf.write_text(f"{net}.2 2000 name=direct\n")
            p = group.start(name, [
                "ip", "netns", "exec", ns, MPCLIENT, "--server-pubkey", srv_pub,
                "--key-file", tmp / key, "--tun", "mpt0", "--tun-addr", addr, conf],
                cls=MpProc)
            p.wait_line(r"tun mpt0, 1 bridge path")
            setattr(t, name, p)
        # bob also holds an address of his prefix that he never sends from,
        # and S routes that prefix into its device
        nsx(b, "ip", "addr", "add", "10.97.100.7/24", "dev", "mpt0")
        nsx(s, "ip", "route", "add", "10.97.100.0/24", "dev", "mpt0")
        for ns in (a, b):
            deadline = time.monotonic() + 10
            while nsx(ns, "ping", "-c", "1", "-W", "1", "10.97.0.1", check=False).returncode:
                assert time.monotonic() < deadline, f"{ns}: no ping through the tun"
    except BaseException:
        group.cleanup(True)
        for ns in made:
            sh("ip", "netns", "del", ns, check=False)
        raise
    yield t
    failed = request.session.testsfailed > 0
    try:
        group.cleanup(failed)
    finally:
        for ns in made:
            sh("ip", "netns", "del", ns, check=False)
    left = sh("ip", "netns", "list").stdout
    assert not any(re.search(rf"^{ns}\b", left, re.M) for ns in made)


def test_own_addresses_and_prefix_route(topo):
    for ns in (topo.a, topo.b):
        out = nsx(ns, "ping", "-c", "5", "-i", "0.05", "-W", "1", "10.97.0.1").stdout
        assert " 0% packet loss" in out, out
    # S to an address of bob's allowed-ips that no packet came from: the
    # prefix picks bob; his device answers
    out = nsx(topo.s, "ping", "-c", "5", "-i", "0.05", "-W", "1", "10.97.100.7").stdout
    assert " 0% packet loss" in out, out


def test_source_outside_allowed_ips_dropped(topo):
    # alice takes bob's address and sends from it
    nsx(topo.a, "ip", "addr", "add", "10.97.0.3/32", "dev", "mpt0")
    try:
        before_rx = rx_packets(topo.s)
        before = topo.server.stats()["drop_not_allowed_ip"]
        r = nsx(topo.a, "ping", "-c", "10", "-i", "0.05", "-W", "1", "-I", "10.97.0.3",
                "10.97.0.1", check=False)
        assert "100% packet loss" in r.stdout, r.stdout
        # bob's own pings meanwhile
        out = nsx(topo.b, "ping", "-c", "5", "-i", "0.05", "-W", "1", "10.97.0.1").stdout
        assert " 0% packet loss" in out, out
        st = topo.server.stats()
        assert st["drop_not_allowed_ip"] - before == 10, st.nonzero_drops()
        # S's device got bob's 5 pings (and his replies' ...) but none of
        # alice's 10: at most what bob sent
        assert rx_packets(topo.s) - before_rx <= 5 + 2, rx_packets(topo.s) - before_rx
    finally:
        nsx(topo.a, "ip", "addr", "del", "10.97.0.3/32", "dev", "mpt0", check=False)


def test_reload_moves_address_down_direction(topo):
    """SIGHUP gives bob's 10.97.0.3 to alice. Bob's session had sent from
    it (the learned route was his); from the reload on, what S sends to
    10.97.0.3 goes to alice, whose allowed-ips now hold it, and none to
    bob: a learned route outlives no allowed-ips. The lines are put back
    after."""
    cfg = topo.tmp / "mpserver.conf"
    old = cfg.read_text()
    a_pub, b_pub = (re.search(rf"client {n} (\S+)", old).group(1) for n in ("alice", "bob"))
    out = nsx(topo.b, "ping", "-c", "3", "-i", "0.05", "-W", "1", "10.97.0.1").stdout
    assert " 0% packet loss" in out, out
    try:
        since = topo.server.size()
        cfg.write_text(f"client alice {a_pub} allowed-ips=10.97.0.2/32,10.97.0.3/32\n"
                       f"client bob {b_pub} allowed-ips=10.97.100.0/24\n")
        topo.server.signal(signal.SIGHUP)
        topo.server.wait_line(r"reload: clients: 2 kept", since=since)
        a0, b0 = rx_packets(topo.a), rx_packets(topo.b)
        nsx(topo.s, "ping", "-c", "5", "-i", "0.05", "-W", "1", "10.97.0.3", check=False)
        got_a, got_b = rx_packets(topo.a) - a0, rx_packets(topo.b) - b0
        assert got_b == 0 and got_a == 5, (got_a, got_b)
    finally:
        since = topo.server.size()
        cfg.write_text(old)
        topo.server.signal(signal.SIGHUP)
        topo.server.wait_line(r"reload: clients: 2 kept", since=since)
