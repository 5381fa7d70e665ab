"""systemd's readiness protocol (Type=notify), spoken without libsystemd.

The test plays systemd: it listens on an AF_UNIX datagram socket (a path,
or an abstract name written '@name'), names it in $NOTIFY_SOCKET, and
checks what the programs send there: READY=1 only once their port is bound
and their status socket answers, STOPPING=1 on SIGTERM, nothing at all
from a program that could not open its port, and on SIGHUP RELOADING=1
(with the time of the reload) then READY=1 once the new config runs, or
once a broken one was refused.
"""
import json
import os
import re
import signal
import socket
import time

import pytest

from conftest import HOST, MPCLIENT, MPSERVER, MpProc, free_port, port_is_free

WAIT_S = 10.0


def listener(tmp_path, kind):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    if kind == "path":
        addr = str(tmp_path / "notify.sock")
        s.bind(addr)
        return s, addr
    name = f"h-units-notify-{os.getpid()}-{time.monotonic_ns()}"
    s.bind("\0" + name)
    return s, "@" + name


def receive(sock, timeout):
    sock.settimeout(timeout)
    try:
        return sock.recv(4096)
    except socket.timeout:
        return None


def status_doc(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(5)
    s.connect(str(path))
    chunks = []
    while True:
        data = s.recv(65536)
        if not data:
            break
        chunks.append(data)
    s.close()
    return json.loads(b"".join(chunks))


def argv_for(prog, tmp_path, port):
    if prog == "mpclient":
        cfg = tmp_path / "c.conf"
        cfg.write_text(f"{HOST} {free_port()}\n")
        return [MPCLIENT, "--status", tmp_path / "status.sock", port, cfg]
    return [MPSERVER, "--bind", HOST, "--status", tmp_path / "status.sock",
            port, HOST, free_port()]


@pytest.mark.parametrize("kind", ["path", "abstract"])
@pytest.mark.parametrize("prog", ["mpclient", "mpserver"])
def test_ready_once_listening_and_stopping(procs, tmp_path, prog, kind):
    sock, addr = listener(tmp_path, kind)
    port = free_port()
    p = procs.start(prog, argv_for(prog, tmp_path, port), cls=MpProc,
                    env={"NOTIFY_SOCKET": addr})
    msg = receive(sock, WAIT_S)
    assert msg == b"READY=1", (msg, p.tail())
    # At the moment READY=1 arrives, what it promises already holds.
    assert not port_is_free(port), f"READY=1 before UDP port {port} was bound"
    doc = status_doc(tmp_path / "status.sock")
    assert doc.get("program") == prog, doc
    assert receive(sock, 0.3) is None, "more than one READY=1"
    p.signal(signal.SIGTERM)
    assert receive(sock, WAIT_S) == b"STOPPING=1", p.tail()
    assert p.popen.wait(WAIT_S) == 0, p.tail()
    p.stopped = True
    sock.close()


@pytest.mark.parametrize("prog", ["mpclient", "mpserver"])
def test_no_ready_when_the_port_cannot_be_opened(procs, tmp_path, prog):
    sock, addr = listener(tmp_path, "path")
    held = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    held.bind((HOST, 0))
    port = held.getsockname()[1]
    p = procs.start(prog, argv_for(prog, tmp_path, port), cls=MpProc,
                    env={"NOTIFY_SOCKET": addr})
    rc = p.popen.wait(WAIT_S)
    p.stopped = True
    assert rc == 1, (rc, p.tail())
    assert receive(sock, 0.5) is None, "READY=1 from a program that failed to start"
    held.close()
    sock.close()


def test_bad_notify_socket_is_said_and_harmless(procs, tmp_path):
    port = free_port()
    p = procs.start("mpserver", argv_for("mpserver", tmp_path, port), cls=MpProc,
                    env={"NOTIFY_SOCKET": "relative/name"})
    p.wait_line(r"NOTIFY_SOCKET=relative/name: not a socket path", timeout=WAIT_S)
    assert status_doc(tmp_path / "status.sock").get("program") == "mpserver"
    p.stop()


RELOADING = re.compile(rb"RELOADING=1\nMONOTONIC_USEC=([0-9]+)")


def path_names(doc):
    return sorted(p["name"] for p in doc["paths"])


def server_mode(doc):
    return doc["mode"]


def reload_configs(prog, tmp_path, port):
    """For each program: argv, its config file, a function of the status
    document, its value before and after the reload, the config to reload
    to, and one with an error."""
    cfg = tmp_path / f"{prog}.conf"
    status = tmp_path / "status.sock"
    if prog == "mpclient":
        one = f"{HOST} {free_port()} name=a\n"
        cfg.write_text(one)
        return ([MPCLIENT, "--status", status, port, cfg], cfg, path_names, ["a"],
                ["a", "b"], one + f"{HOST} {free_port()} name=b\n", "a b nonsense=1\n")
    base = f"listen {port}\nbind {HOST}\ntarget {HOST} {free_port()}\n"
    cfg.write_text(base + "mode roundrobin\n")
    return ([MPSERVER, "-c", cfg, "--status", status], cfg, server_mode, "roundrobin",
            "bond", base + "mode bond\n", base + "mode nonsense\n")


def hup_notifies(p, sock):
    """SIGHUP; the two datagrams that follow, in order. RELOADING=1 must
    carry the moment of the reload on CLOCK_MONOTONIC (what systemd >= 253
    compares with its own clock): between the signal and its arrival."""
    before_us = time.monotonic_ns() // 1000
    p.signal(signal.SIGHUP)
    first = receive(sock, WAIT_S)
    after_us = time.monotonic_ns() // 1000
    m = RELOADING.fullmatch(first or b"")
    assert m, (first, p.tail())
    assert before_us <= int(m.group(1)) <= after_us, (before_us, first, after_us)
    second = receive(sock, WAIT_S)
    assert second == b"READY=1", (second, p.tail())
    assert receive(sock, 0.3) is None, "more than RELOADING=1 and READY=1"


@pytest.mark.parametrize("prog", ["mpclient", "mpserver"])
def test_reload_says_reloading_then_ready(procs, tmp_path, prog):
    sock, addr = listener(tmp_path, "path")
    port = free_port()
    argv, cfg, shows, old, new, changed, broken = reload_configs(prog, tmp_path, port)
    p = procs.start(prog, argv, cls=MpProc, env={"NOTIFY_SOCKET": addr})
    assert receive(sock, WAIT_S) == b"READY=1", p.tail()
    assert shows(status_doc(tmp_path / "status.sock")) == old

    # READY=1 comes once the new config runs: the change is there already.
    cfg.write_text(changed)
    hup_notifies(p, sock)
    assert shows(status_doc(tmp_path / "status.sock")) == new

    # A refused config still ends the reload with READY=1: the running one
    # is ready, and the program runs on with it.
    since = p.size()
    cfg.write_text(broken)
    hup_notifies(p, sock)
    p.wait_line(r"reload refused", since=since)
    assert p.popen.poll() is None, p.tail()
    assert shows(status_doc(tmp_path / "status.sock")) == new
    p.stop()
    sock.close()
