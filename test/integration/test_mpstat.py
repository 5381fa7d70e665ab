"""scripts/mpstat against a stand-in status socket.

A thread plays the program's side of docs/STATUS.md: on each connection it
sends the next canned document and closes. The tests read mpstat's tables
column by column (by header), check --json gives the same document back,
that unknown, missing or mistyped fields do not crash it, that --watch
computes rates between refreshes, and that a missing, stale or garbled
socket is a clear error.
"""
import json
import os
import socket
import subprocess
import threading

import pytest

from conftest import ROOT

MPSTAT = ROOT / "scripts" / "mpstat"
PYTHON = "/usr/bin/python3"

CLIENT_DOC = {
    "program": "mpclient", "version": "0.1.0", "pid": 4242, "uptime_s": 3725,
    "mode": "roundrobin", "keyed": False,
    "counters": {"app_rx": 1000, "app_tx": 990},
    "drops": {"bad_tag": 7, "too_old": 0},
    "paths": [
        {"id": 0, "name": "lte", "peer": "10.0.0.1:7000", "state": "up",
         "backup": False, "rtt_ms": 12.25, "rttvar_ms": 0.5, "loss_pct": 1.5,
         "tx_pkts": 5000, "tx_bytes": 6000000, "rx_pkts": 4000,
         "rx_bytes": 2048, "probes": 12, "rate_bps": 0},
        {"id": 1, "name": "wifi", "peer": "10.0.1.1:7000", "state": "down",
         "backup": True, "rtt_ms": 80.0, "rttvar_ms": 4.75, "loss_pct": 100.0,
         "tx_pkts": 17, "tx_bytes": 900, "rx_pkts": 0, "rx_bytes": 0,
         "probes": 3, "rate_bps": 0},
    ],
    "sessions": [
        {"id": "1a2b3c4d", "app": "127.0.0.1:5000", "up_pkts": 321,
         "up_bytes": 1536, "down_pkts": 123, "down_bytes": 100, "deduplicated": 9,
         "idle_ms": 250,
         "paths": [{"id": 0, "state": "up", "rtt_ms": 12.25, "loss_pct": 1.5,
                    "tx_pkts": 300, "rx_pkts": 120},
                   {"id": 1, "state": "down", "rtt_ms": 80.0, "loss_pct": 100.0,
                    "tx_pkts": 21, "rx_pkts": 3}]},
    ],
}

SERVER_DOC = {
    "program": "mpserver", "version": "0.1.0", "pid": 7, "uptime_s": 5,
    "paths": [],
    "sessions": [
        {"id": "deadbeef", "target": "127.0.0.1:6000", "up_pkts": 1,
         "up_bytes": 2, "down_pkts": 3, "down_bytes": 4, "deduplicated": 0,
         "idle_ms": 5,
         "paths": [{"id": 2, "state": "up", "addr": "192.0.2.9:4000"}]},
    ],
}


class CannedServer:
    """Serves docs[0], docs[1], ... (the last one again and again)."""

    def __init__(self, path, docs):
        self.path = str(path)
        self.docs = [d if isinstance(d, bytes) else json.dumps(d).encode() + b"\n"
                     for d in docs]
        self.served = 0
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(self.path)
        self.sock.listen(8)
        self.sock.settimeout(0.2)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except socket.timeout:
                continue
            with conn:
                conn.sendall(self.docs[min(self.served, len(self.docs) - 1)])
            self.served += 1

    def close(self):
        self.stop.set()
        self.thread.join(5)
        self.sock.close()
        os.unlink(self.path)


@pytest.fixture
def serve(tmp_path):
    servers = []

    def start(*docs):
        s = CannedServer(tmp_path / "status.sock", docs)
        servers.append(s)
        return s
    yield start
    for s in servers:
        s.close()


def mpstat(*args, timeout=20):
    return subprocess.run([PYTHON, str(MPSTAT), *map(str, args)],
                          capture_output=True, text=True, timeout=timeout)


def section(out, title):
    """The table under the line starting with title, as dicts by header."""
    lines = out.splitlines()
    start = next(i for i, l in enumerate(lines) if l.startswith(title))
    header = lines[start + 1].split()
    rows = []
    for line in lines[start + 2:]:
        if not line.strip():
            break
        cells = line.split(None, len(header) - 1)
        rows.append(dict(zip(header, cells)))
    return rows


def test_client_tables(serve):
    srv = serve(CLIENT_DOC)
    r = mpstat(srv.path)
    assert r.returncode == 0, r.stderr
    out = r.stdout
    first = out.splitlines()[0].split()
    assert first == ["mpclient", "0.1.0", "pid", "4242", "up", "1h02m05s",
                     "mode", "roundrobin", "keyed", "no"]
    assert "counters: app_rx=1000 app_tx=990" in out
    assert "drops: bad_tag=7\n" in out                  # zero reasons left out

    paths = section(out, "paths (2)")
    assert len(paths) == 2
    lte, wifi = paths
    assert (lte["ID"], lte["NAME"], lte["PEER"], lte["STATE"]) == \
        ("0", "lte", "10.0.0.1:7000", "up")
    assert (lte["RTT_MS"], lte["RTTVAR_MS"], lte["LOSS_%"]) == ("12.25", "0.50", "1.50")
    assert (lte["TX_PKTS"], lte["TX_BYTES"], lte["RX_PKTS"], lte["RX_BYTES"]) == \
        ("5000", "5.7M", "4000", "2.0K")
    # one document: no rates yet
    assert (lte["TX_PPS"], lte["TX_BPS"], lte["RX_PPS"], lte["RX_BPS"]) == ("-",) * 4
    assert (wifi["ID"], wifi["NAME"], wifi["STATE"]) == ("1", "wifi", "down(backup)")
    assert (wifi["RTT_MS"], wifi["RTTVAR_MS"], wifi["LOSS_%"]) == ("80.00", "4.75", "100.00")
    assert (wifi["TX_PKTS"], wifi["TX_BYTES"], wifi["RX_PKTS"], wifi["RX_BYTES"]) == \
        ("17", "900", "0", "0")

    sessions = section(out, "sessions (1)")
    assert sessions == [{"ID": "1a2b3c4d", "APP": "127.0.0.1:5000", "UP_PKTS": "321",
                         "UP_BYTES": "1.5K", "DOWN_PKTS": "123", "DOWN_BYTES": "100",
                         "DEDUP": "9", "IDLE_MS": "250", "PATHS": "0:up 1:down"}]
    assert srv.served == 1


def test_server_tables(serve):
    srv = serve(SERVER_DOC)
    r = mpstat(srv.path)
    assert r.returncode == 0, r.stderr
    assert section(r.stdout, "paths (0)") == []
    s = section(r.stdout, "sessions (1)")
    assert s == [{"ID": "deadbeef", "TARGET": "127.0.0.1:6000", "UP_PKTS": "1",
                  "UP_BYTES": "2", "DOWN_PKTS": "3", "DOWN_BYTES": "4", "DEDUP": "0",
                  "IDLE_MS": "5", "PATHS": "2:up@192.0.2.9:4000"}]


def test_json_round_trip(tmp_path):
    for i, doc in enumerate((CLIENT_DOC, SERVER_DOC)):
        srv = CannedServer(tmp_path / f"{i}.sock", [doc])
        try:
            r = mpstat("--json", srv.path)
        finally:
            srv.close()
        assert r.returncode == 0, r.stderr
        assert json.loads(r.stdout) == doc
        assert r.stdout.count("\n") > 20            # pretty-printed


def test_schema_may_grow_or_shrink(serve):
    doc = {"program": "mpclient", "future": {"x": [1, 2]}, "counters": "oops",
           "drops": [1], "uptime_s": "long",
           "paths": [{"id": 3, "new_field": [1], "rtt_ms": None, "tx_pkts": "9"},
                     "not an object", 17],
           "sessions": [{}, {"paths": "none"}, {"paths": [{"state": True}]}]}
    srv = serve(doc)
    r = mpstat(srv.path)
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stderr
    paths = section(r.stdout, "paths (1)")
    assert paths[0]["ID"] == "3" and paths[0]["RTT_MS"] == "-" and paths[0]["TX_PKTS"] == "-"
    assert len(section(r.stdout, "sessions (3)")) == 3
    assert "up -" in r.stdout.splitlines()[0]

    # Control characters in a name never reach the terminal.
    srv3 = CannedServer(srv.path + ".3", [{"paths": [{"name": "a\x1b[2Jb\x01c"}]}])
    try:
        r = mpstat(srv3.path)
        assert r.returncode == 0, r.stderr
        assert "\x1b" not in r.stdout and "\x01" not in r.stdout
        assert "a?[2Jb?c" in r.stdout
    finally:
        srv3.close()

    srv2 = CannedServer(srv.path + ".2", [{}])
    try:
        r = mpstat(srv2.path)
        assert r.returncode == 0, r.stderr
        assert "paths (0)" in r.stdout and "sessions (0)" in r.stdout
    finally:
        srv2.close()


def test_watch_rates(serve):
    later = json.loads(json.dumps(CLIENT_DOC))
    later["paths"][0]["tx_pkts"] += 1000
    later["paths"][0]["tx_bytes"] += 125000       # 1 Mbit
    srv = serve(CLIENT_DOC, later)
    interval = 0.5
    r = mpstat("-w", interval, "-n", 2, srv.path)
    assert r.returncode == 0, r.stderr
    frames = r.stdout.split("\x1b[H\x1b[2J")[1:]
    assert len(frames) == 2
    assert srv.served == 2
    first = section(frames[0], "paths (2)")[0]
    second = section(frames[1], "paths (2)")
    assert first["TX_PPS"] == "-"
    # 1000 packets over at least the interval: at most 2000 p/s; the
    # second fetch comes within a few seconds even on a loaded machine.
    pps = second[0]["TX_PPS"]
    assert pps.endswith("p/s")
    value = float(pps[:-3].rstrip("k")) * (1000 if pps[:-3].endswith("k") else 1)
    assert 1000 / 5 <= value <= 1000 / interval, pps
    assert second[0]["TX_BPS"].endswith("b/s") and second[0]["TX_BPS"] != "-"
    # nothing moved on the path's receive side or on the second path
    assert second[0]["RX_PPS"] == "0p/s"
    assert second[1]["STATE"] == "down(backup)" and second[1]["TX_PPS"] == "0p/s"


def test_errors(tmp_path):
    missing = tmp_path / "nope.sock"
    r = mpstat(missing)
    assert r.returncode == 1
    assert "no such socket" in r.stderr and "Traceback" not in r.stderr

    stale = tmp_path / "stale.sock"
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(str(stale))
    s.close()
    r = mpstat(stale)
    assert r.returncode == 1 and "connection refused" in r.stderr

    r = mpstat("-w", "0", stale)
    assert r.returncode == 2 and "positive" in r.stderr


def test_garbled_answers(serve, tmp_path):
    srv = serve(b"{not json")
    r = mpstat(srv.path)
    assert r.returncode == 1 and "not a JSON document" in r.stderr

    srv2 = CannedServer(tmp_path / "empty.sock", [b""])
    try:
        r = mpstat(srv2.path)
        assert r.returncode == 1 and "closed without an answer" in r.stderr
    finally:
        srv2.close()

    srv3 = CannedServer(tmp_path / "list.sock", [b"[1,2]"])
    try:
        r = mpstat(srv3.path)
        assert r.returncode == 1 and "not a JSON object" in r.stderr
    finally:
        srv3.close()


def test_cut_short_or_error_answers(serve, tmp_path):
    """A document cut short (here half of a real one, as a program that
    failed while streaming leaves it), an error object, and a server that
    says nothing: each is an error (exit 1) with a clear message, never
    empty tables and exit 0."""
    whole = json.dumps(CLIENT_DOC).encode() + b"\n"
    srv = serve(whole[:len(whole) // 2])
    r = mpstat(srv.path)
    assert r.returncode == 1, r
    assert "not a JSON document" in r.stderr and "cut short after" in r.stderr, r.stderr
    assert "Traceback" not in r.stderr and not r.stdout

    bad = CannedServer(tmp_path / "err.sock", [{"error": "status document too large"}])
    try:
        r = mpstat(bad.path)
        assert r.returncode == 1 and "answered an error: status document too large" in r.stderr
    finally:
        bad.close()

    mute = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    mute.bind(str(tmp_path / "mute.sock"))
    mute.listen(1)      # accepted by the kernel, never answered
    try:
        r = mpstat(tmp_path / "mute.sock")
        assert r.returncode == 1 and "nothing came for 5 s" in r.stderr, r.stderr
    finally:
        mute.close()
