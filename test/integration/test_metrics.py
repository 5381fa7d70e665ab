"""The Prometheus endpoint (--metrics, docs/STATUS.md "Prometheus metrics")
of a running pair with traffic: Prometheus's own `promtool check metrics`
accepts both programs' exposition, and the figures are the traffic the test
made, exactly (payload bytes and datagrams each way; in duplicate mode
one deduplicated copy per datagram on each side, with two paths; and a
path's bytes and datagrams each way, on both programs, equal what a
bridge in the test saw cross it, whose data datagrams are the payload
plus 20 bytes of header and trailer each). Then the
server's manners: 404, 405, 400, an oversized request, IPv6, and a client
that never finishes its request is dropped while others are served."""
import re
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request

import pytest

from conftest import HOST, free_port, figure

N = 300
SIZES = [20 + (k * 37) % 1200 for k in range(N)]
PROMTOOL = shutil.which("promtool")

SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def scrape(url):
    with urllib.request.urlopen(url, timeout=5) as r:
        assert r.status == 200
        assert r.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        return r.read().decode()


def parse(text):
    """{(name, ((label, value), ...)): value} of every sample."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = SAMPLE.match(line)
        assert m, line
        labels = tuple(sorted(LABEL.findall(m.group(2) or "")))
        key = (m.group(1), labels)
        assert key not in out, f"series twice: {line}"
        out[key] = float(m.group(3))
    return out


def value(samples, name, **labels):
    want = tuple(sorted(labels.items()))
    return samples[(name, want)]


def promtool_check(text):
    if not PROMTOOL:
        pytest.skip("promtool missing (Debian package prometheus; scripts/deps.sh)")
    r = subprocess.run([PROMTOOL, "check", "metrics"], input=text.encode(),
                       capture_output=True, timeout=30)
    assert r.returncode == 0 and not r.stdout.strip() and not r.stderr.strip(), \
        (r.returncode, r.stdout.decode(), r.stderr.decode())


def raw(port, data, host=HOST, family=socket.AF_INET):
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.settimeout(5)
        s.connect((host, port))
        s.sendall(data)
        chunks = []
        while True:
            b = s.recv(65536)
            if not b:
                break
            chunks.append(b)
    return b"".join(chunks)


def test_metrics_pair(net):
    echo = net.echo()
    sport, cport = free_port(), free_port()
    srv = net.server(echo.port, mode="duplicate", args=["--metrics", str(sport)])
    # each path through a bridge that records what crosses it (each path
    # has its own socket, so source port, at mpserver)
    pyb, pyb1 = (net.pybridge(srv.port, capture=10 ** 6) for _ in range(2))
    cli = net.client([pyb, pyb1], mode="duplicate",
                     args=["--metrics", f"{HOST}:{cport}"])
    app = net.app(1, cli)
    app.flow(SIZES, window=8)
    app.assert_clean()

    # Duplicate mode, two paths: each side counts as duplicates the copies
    # past the first of each datagram, that is all the DATA the two bridges
    # carried its way less N. Not always 2 N - N: mpserver answers on a path
    # only once it has heard from it, and the first replies can precede the
    # first datagram over the slower bridge. Read until the counters agree
    # with the bridges (copies may still be on their way while the host
    # stalls), or 10 s have passed; asserted exactly below either way.
    def copies(direction):
        with pyb.lock, pyb1.lock:
            return sum(1 for b in (pyb, pyb1) for p in getattr(b, direction)
                       if p[1] == 0x11)     # version 1, DATA, plaintext
    deadline = time.monotonic() + 10
    while True:
        want = {"mpclient": copies("down") - N, "mpserver": copies("up") - N}
        texts = {name: scrape(f"http://{HOST}:{port}/metrics")
                 for name, port in (("mpclient", cport), ("mpserver", sport))}
        c, s = parse(texts["mpclient"]), parse(texts["mpserver"])
        got = {"mpclient": value(c, "mprelay_deduplicated_total"),
               "mpserver": value(s, "mprelay_deduplicated_total")}
        if got == want or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert want["mpserver"] == N, want     # mpclient knows both paths from the start
    assert 0 < want["mpclient"] <= N, want
    for text in texts.values():
        promtool_check(text)
    payload = sum(SIZES)
    (sid,) = {dict(k[1])["session"] for k in c if k[0] == "mprelay_session_sent_bytes_total"}
    figure("metrics", f"session {sid}: {N} datagrams, {payload} payload bytes each "
           f"way; exposition {len(texts['mpclient'])} + {len(texts['mpserver'])} bytes")
    # what the application sent is what mpclient sent up and mpserver delivered
    for name, samples, up, down in (("mpclient", c, "sent", "delivered"),
                                    ("mpserver", s, "delivered", "sent")):
        assert value(samples, f"mprelay_session_{up}_packets_total", session=sid) == N
        assert value(samples, f"mprelay_session_{up}_bytes_total", session=sid) == payload
        assert value(samples, f"mprelay_session_{down}_packets_total", session=sid) == N
        assert value(samples, f"mprelay_session_{down}_bytes_total", session=sid) == payload
        # what came twice (above); mpclient sent every one on both paths
        assert value(samples, "mprelay_session_deduplicated_total", session=sid) == want[name]
        assert value(samples, "mprelay_deduplicated_total") == want[name]
        assert value(samples, "mprelay_sessions") == 1
        # forward error correction is bond mode's: counted, never used here
        for fam in ("parity_sent", "parity_received", "fec_recovered", "fec_undecodable"):
            assert value(samples, f"mprelay_session_{fam}_total", session=sid) == 0
        drops = {dict(k[1])["reason"]: v for k, v in samples.items()
                 if k[0] == "mprelay_drops_total"}
        assert "bad_tag" in drops and not any(drops.values()), drops
    # every datagram went on both paths with its header and trailer (16 +
    # 4 bytes plaintext): at least that much, plus the probes, per path
    for p in ("b0", "b1"):
        assert value(c, "mprelay_session_path_state", session=sid, path=p, state="up") == 1
        assert value(c, "mprelay_session_path_sent_packets_total", session=sid, path=p) >= N
        assert value(c, "mprelay_session_path_sent_bytes_total", session=sid, path=p) \
            >= payload + N * 20
        assert value(c, "mprelay_session_path_rtt_seconds", session=sid, path=p) > 0
        assert value(c, "mprelay_path_sent_bytes_total", path=p) >= payload + N * 20
        for reason in ("send_fail", "paced", "damaged"):
            assert value(c, "mprelay_path_drops_total", path=p, reason=reason) == 0
    for p in ("0", "1"):
        assert value(s, "mprelay_session_path_received_bytes_total", session=sid, path=p) \
            >= payload + N * 20
    # Path 0 against the bridge's record, exactly. Probes go on while we
    # look: the record is read between two scrapes that agree.
    def path0():
        c_, s_ = (parse(scrape(f"http://{HOST}:{p}/metrics")) for p in (cport, sport))
        return [value(c_, f"mprelay_session_path_{d}_{u}_total", session=sid, path="b0")
                for d in ("sent", "received") for u in ("packets", "bytes")] + \
               [value(s_, f"mprelay_session_path_{d}_{u}_total", session=sid, path="0")
                for d in ("received", "sent") for u in ("packets", "bytes")]
    for _ in range(50):
        before = path0()
        time.sleep(0.05)
        with pyb.lock:
            up, down = list(pyb.up), list(pyb.down)
        if path0() == before:
            break
    else:
        pytest.fail("the counters of path 0 never held still for 50 ms")
    seen = [len(up), sum(map(len, up)), len(down), sum(map(len, down))]
    figure("metrics", f"path 0: mpclient sent/received, mpserver received/sent "
           f"{before}; the bridge saw up {seen[:2]}, down {seen[2:]}")
    assert before == seen + seen, (before, seen)
    data_up = [p for p in up if p[1] == 0x11]      # version 1, DATA, plaintext
    assert len(data_up) == N and sum(map(len, data_up)) == payload + N * (16 + 4)

    assert value(c, "mprelay_info", program="mpclient", version=dict(
        next(k for k in c if k[0] == "mprelay_info")[1])["version"]) == 1

    # -- the server's manners
    def status_of(port, data, **kw):
        head = raw(port, data, **kw).split(b"\r\n", 1)[0]
        return int(head.split()[1])
    assert status_of(sport, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n") == 404
    assert status_of(sport, b"POST /metrics HTTP/1.1\r\nContent-Length: 2\r\n\r\nhi") == 405
    assert status_of(sport, b"GET /metrics HTTP/2.0\r\n\r\n") == 505
    assert status_of(sport, b"GET /metrics HTTP/1.1\nHost: x\n\n") == 400
    assert status_of(sport, b"GET /metrics HTTP/1.1\r\n" + b"X: " + b"a" * 5000 + b"\r\n\r\n") == 431
    assert raw(sport, b"GET /metrics HTTP/1.0\r\n\r\n").startswith(b"HTTP/1.1 200 OK\r\n")
    # a client that never finishes its request: dropped after 2 s, and
    # others are served meanwhile
    slow = socket.create_connection((HOST, sport), timeout=5)
    slow.sendall(b"GET /metrics HTTP/1.1\r\n")
    assert status_of(sport, b"GET /metrics HTTP/1.1\r\n\r\n") == 200
    t0 = time.monotonic()
    assert slow.recv(100) == b""
    assert 1.5 < time.monotonic() - t0 < 4
    slow.close()
    for p in (cli, srv):
        p.stop()


def test_metrics_ipv6_and_bad_addresses(net):
    if not socket.has_ipv6:
        pytest.skip("no IPv6")
    echo = net.echo()
    port = free_port()
    srv = net.server(echo.port, args=["--metrics", f"[::1]:{port}"])
    r = raw(port, b"GET /metrics HTTP/1.1\r\n\r\n", host="::1", family=socket.AF_INET6)
    assert r.startswith(b"HTTP/1.1 200 OK\r\n")
    promtool_check(r.split(b"\r\n\r\n", 1)[1].decode())
    srv.stop()
    from conftest import MPSERVER
    for bad in ("0", "70000", "::1:9100", "[::1]9100", "localhost:9100", "1.2.3.4:"):
        r = subprocess.run([MPSERVER, "--metrics", bad, str(free_port()), HOST,
                            str(echo.port)], capture_output=True, timeout=10)
        assert r.returncode == 1, (bad, r)
        assert b"--metrics" in r.stderr, (bad, r.stderr)
