"""systemd's readiness protocol (Type=notify), spoken without libsystemd.

The test plays systemd: it listens on an AF_UNIX datagram socket (a path,
or an abstract name written '@name'), names it in $NOTIFY_SOCKET, and
checks what the programs send there: READY=1 only once their port is bound
and their status socket answers, STOPPING=1 on SIGTERM, and nothing at all
from a program that could not open its port.
"""
import json
import os
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
