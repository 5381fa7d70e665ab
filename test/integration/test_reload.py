"""Reload with SIGHUP (issue 13, point 2): the config read again while a
stream runs; added paths join, removed ones leave, changed ones change or
are re-opened; the session, its keys and the untouched path's counters
survive; a broken config is refused and the running one stays.

    app -> mpclient -+- "keep" (never touched)  -> impair b0 -+
                     +- "gone" (removed)        -> impair b1 -+-> mpserver -> echo
                     +- "new"  (added, then moved to b1)  b2 -+

Duplicate mode: "keep" carries every datagram whatever the others do, so
the app must see none lost.
"""

import os
import signal
import time

from conftest import MPSERVER, MpProc, free_port, require_impair
from test_paths import status, wait_socket, wait_status
from test_keyed import key_args, write_key


def names(doc):
    return sorted(p["name"] for p in doc["paths"])


def path_doc(doc, name):
    return next(p for p in doc["paths"] if p["name"] == name)


def hup(proc, cfg, lines):
    if lines is not None:
        cfg.write_text("".join(l + "\n" for l in lines))
    since = proc.size()
    proc.signal(signal.SIGHUP)
    return since


def test_client_reload_paths(net, tmp_path):
    require_impair()
    key = write_key(tmp_path / "k")
    echo = net.echo()
    cs = str(net.tmp / "cli.sock")
    srv = net.server(echo.port, args=key_args(key))
    b = [net.impair(srv.port) for _ in range(3)]
    cli = net.client(b, args=["--status", cs] + key_args(key), config_lines=[
        f"127.0.0.1 {b[0].port} name=keep",
        f"127.0.0.1 {b[1].port} name=gone"])
    wait_socket(cs)
    cfg = cli.config
    app = net.app(1, cli)
    stream = net.stream(app, 300)
    doc, _ = wait_status(cs, lambda d: all(p["state"] == "up" for p in d["paths"]))
    session = doc["sessions"][0]["id"]
    keep0 = path_doc(doc, "keep")

    # added and removed
    since = hup(cli, cfg, [f"127.0.0.1 {b[0].port} name=keep",
                           f"127.0.0.1 {b[2].port} name=new weight=3"])
    cli.wait_line(r"reloaded: 1 path added, 1 removed, 0 changed", since=since)
    doc, _ = wait_status(cs, lambda d: names(d) == ["keep", "new"]
                         and path_doc(d, "new")["state"] == "up")
    assert path_doc(doc, "new")["id"] == 1, doc["paths"]   # the freed slot
    tx_b1 = path_doc(doc, "new")["tx_pkts"]

    # changed: "new" re-opened toward b1, same slot
    since = hup(cli, cfg, [f"127.0.0.1 {b[0].port} name=keep",
                           f"127.0.0.1 {b[1].port} name=new weight=3"])
    cli.wait_line(r"path new changed, re-opened", since=since)
    doc, _ = wait_status(cs, lambda d: path_doc(d, "new")["peer"] == f"127.0.0.1:{b[1].port}"
                         and path_doc(d, "new")["state"] == "up"
                         and path_doc(d, "new")["tx_pkts"] > tx_b1 + 20)
    # changed in place: no new socket for "keep"
    since = hup(cli, cfg, [f"127.0.0.1 {b[0].port} name=keep weight=2 rate=50mbit",
                           f"127.0.0.1 {b[1].port} name=new weight=3"])
    cli.wait_line(r"reloaded: 0 paths added, 0 removed, 1 changed", since=since)
    assert cli.count_lines(r"path keep changed$", since=since) == 1, cli.tail()
    assert path_doc(status(cs), "keep")["rate_bps"] == 50000000
    # refused: a broken file changes nothing
    since = hup(cli, cfg, [f"127.0.0.1 {b[0].port} name=keep", "127.0.0.1 0 name=bad"])
    line = cli.wait_line(r"reload refused", since=since)
    assert cli.count_lines(r"error: .*:2: port must be 1\.\.65535, got '0'", since=since) == 1
    time.sleep(0.3)
    stream.finish(need=[app.next_k - 1])
    doc = status(cs)
    keep = path_doc(doc, "keep")
    assert names(doc) == ["keep", "new"], (line, doc["paths"])
    assert [s["id"] for s in doc["sessions"]] == [session], doc["sessions"]
    assert doc["sessions"][0]["keys"] == "ready"
    assert keep["opens"] == 1 and keep["id"] == 0 and keep["rate_bps"] == 50000000
    assert keep["tx_pkts"] > keep0["tx_pkts"] and keep["acks"] > keep0["acks"]
    app.assert_clean(" (the untouched path carried everything)")
    assert cli.alive() and srv.alive()
    # one session on the server too: its keys survived
    srv_doc_lines = srv.count_lines(r"session \w+: new")
    assert srv_doc_lines == 1, srv.tail()


def test_sighup_keeps_running(net):
    """SIGHUP used to kill both (exit 129) and leave the status sockets."""
    echo = net.echo()
    ss, cs = str(net.tmp / "srv.sock"), str(net.tmp / "cli.sock")
    srv = net.server(echo.port, args=["--status", ss])
    cli = net.client([srv.port], args=["--status", cs])
    wait_socket(cs)
    wait_socket(ss)
    for p in (srv, cli):
        p.signal(signal.SIGHUP)
    cli.wait_line(r"reloaded: 0 paths added, 0 removed, 0 changed")
    srv.wait_line(r"SIGHUP: no --config")
    app = net.app(1, cli)
    app.flow([100] * 50, window=8)
    app.assert_clean()
    assert status(ss)["program"] == "mpserver" and status(cs)["program"] == "mpclient"
    for p, sock in ((cli, cs), (srv, ss)):
        p.stop()
        assert not os.path.exists(sock)


def test_server_reload(net):
    echo = net.echo()
    port = free_port()
    ss = net.tmp / "srv.sock"
    cfg = net.tmp / "mpserver.conf"
    base = [f"listen {port}", f"target 127.0.0.1 {echo.port}", "bind 127.0.0.1",
            f"status {ss}"]
    cfg.write_text("\n".join(base + ["mode roundrobin"]) + "\n")
    srv = net.procs.start("mpserver", [MPSERVER, "-c", cfg], cls=MpProc)
    srv.wait_line(r" info: listening on .* mode roundrobin")
    srv.port = port
    wait_socket(str(ss))
    cli = net.client([port, port])
    app = net.app(1, cli)
    app.flow([100] * 50, window=8)

    since = hup(srv, cfg, base + ["mode duplicate", "small-bytes 0"])
    srv.wait_line(r"reloaded: mode duplicate", since=since)
    assert status(str(ss))["mode"] == "duplicate"

    since = hup(srv, cfg, [f"listen {port + 1}", f"target 127.0.0.1 {echo.port}",
                           "bind 127.0.0.1", f"status {ss}", "mode bond"])
    srv.wait_line(r"reload: listen cannot change without a restart", since=since)
    srv.wait_line(r"reloaded: mode bond", since=since)

    since = hup(srv, cfg, base + ["mode bond", "mode duplicate"])
    srv.wait_line(r"reload refused", since=since)
    assert srv.count_lines(r"mpserver.conf:6: 'mode' already set on line 5", since=since) == 1
    since = hup(srv, cfg, base + ["mode bnod"])
    srv.wait_line(r"reload refused: a bad setting", since=since)
    assert status(str(ss))["mode"] == "bond"
    app.flow([100] * 50, window=8)
    app.drain(0.2)
    app.assert_clean()
    srv.stop()


def test_key_reload(net, tmp_path):
    """The key file read again on SIGHUP: running sessions keep the keys
    they agreed, new ones agree keys under the new key (so a new session
    works only once both sides have it)."""
    ks, kc = tmp_path / "ks", tmp_path / "kc"
    raw1, raw2 = os.urandom(32), os.urandom(32)
    write_key(ks, raw1)
    write_key(kc, raw1)
    echo = net.echo()
    cs = str(net.tmp / "cli.sock")
    srv = net.server(echo.port, args=key_args(ks))
    cli = net.client([srv.port], args=["--status", cs] + key_args(kc))
    wait_socket(cs)
    app1 = net.app(1, cli)
    app1.flow([100] * 50, window=8)
    app1.assert_clean()

    kc.unlink()
    write_key(kc, raw2)
    since = hup(cli, None, None)
    cli.wait_line(r"a new key, for the sessions that agree keys from now on", since=since)
    app2 = net.app(2, cli)
    app2.send(100)
    app2.drain(1.0)
    assert not app2.recv_time, "a new session agreed keys across different keys"
    app1.flow([100] * 50, window=8)    # the running session keeps its keys
    assert not app1.lost(), app1.summary()

    ks.unlink()
    write_key(ks, raw2)
    since = hup(srv, None, None)
    srv.wait_line(r"a new key", since=since)
    wait_status(cs, lambda d: all(s["keys"] == "ready" for s in d["sessions"]), timeout=10)
    app2.flow([100] * 50, window=8)
    assert len(app2.recv_time) >= 50, app2.summary()
    assert not app1.dups and not app2.dups and not app1.corrupt and not app2.corrupt
