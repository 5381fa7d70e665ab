"""The status document at scale (docs/STATUS.md, "The socket"): mpserver
with 10,000 sessions streams a document of several MiB through its 64 KiB
buffer, and mpstat shows exactly 10,000 sessions, in its table and in
--json, with each session once. (Before streaming, the document was capped
at 1 MiB: some 800 sessions, beyond which mpstat printed empty tables.)

The sessions are made cheaply: one socket sends PROBEs of 10,000 session
ids to mpserver in plaintext mode, which opens a session on first sight of
an id (a PROBE opens no socket toward the target)."""
import json
import subprocess
import time
import urllib.request

from conftest import HOST, ROOT, figure, free_port, make_packet, udp_socket

N = 10_000
MPSTAT = ROOT / "scripts" / "mpstat"
PROBE_VTS = 0x12                # version 1, PROBE
PROBE_BODY = bytes(52)          # MP_PROBE_LEN; its figures do not matter


def mpstat(*args):
    return subprocess.run(["/usr/bin/python3", str(MPSTAT), *map(str, args)],
                          capture_output=True, text=True, timeout=180)


def test_ten_thousand_sessions(net, tmp_path):
    echo = net.echo()
    sock_path = tmp_path / "srv.sock"
    mport = free_port()
    srv = net.server(echo.port, args=["--max-sessions", str(N + 10),
                                      "--status", sock_path, "--metrics", mport])
    s = udp_socket()
    net.procs.on_cleanup(s.close)
    ids = [0x10000000 + k for k in range(N)]
    # in bursts the receive buffer holds; a lost PROBE is sent again below
    for k, sid in enumerate(ids):
        s.sendto(make_packet(0, sid, 1, 1, PROBE_BODY, vts=PROBE_VTS), (HOST, srv.port))
        if k % 200 == 199:
            time.sleep(0.01)

    deadline = time.monotonic() + 60
    while True:
        r = mpstat("--json", sock_path)
        assert r.returncode == 0, r.stderr
        doc = json.loads(r.stdout)
        have = {int(x["id"], 16) for x in doc["sessions"]}
        if len(have) >= N or time.monotonic() > deadline:
            break
        for sid in ids:
            if sid not in have:
                s.sendto(make_packet(0, sid, 1, 1, PROBE_BODY, vts=PROBE_VTS),
                         (HOST, srv.port))
        time.sleep(0.5)
    raw = subprocess.run(["socat", "-u", f"UNIX-CONNECT:{sock_path}", "-"],
                         capture_output=True, timeout=60).stdout
    figure("status_scale", f"{N} sessions: a {len(raw) / 1048576:.1f} MiB document")
    assert len(raw) > 1 << 20 and raw.endswith(b"}\n")
    assert doc["counters"]["sessions"] == N
    assert len(doc["sessions"]) == N            # each once: no repeats
    assert have == set(ids)

    r = mpstat(sock_path)
    assert r.returncode == 0, r.stderr
    assert f"\nsessions ({N})\n" in r.stdout

    with urllib.request.urlopen(f"http://{HOST}:{mport}/metrics", timeout=60) as resp:
        text = resp.read().decode()
    series = [l for l in text.splitlines()
              if l.startswith("mprelay_session_delivered_packets_total{")]
    figure("status_scale", f"{N} sessions: a {len(text) / 1048576:.1f} MiB exposition")
    assert len(series) == N and len(set(series)) == N
    assert f"\nmprelay_sessions {N}\n" in text
    assert text.endswith("\n") and "# TYPE mprelay_session_path_received_bytes_total" in text
    srv.stop()
