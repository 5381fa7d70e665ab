"""mpserver --config FILE (issue 13, point 3): the settings of the command
line in a file, 'name value' a line; the command line overrides it; a bad
file is refused with its line and reason."""

import subprocess

from conftest import MPSERVER, MpProc, free_port, sanitizer_report
from test_paths import status, wait_socket


def write(net, name, text):
    path = net.tmp / name
    path.write_text(text)
    return path


def test_config_file_runs_and_command_line_overrides(net):
    echo = net.echo()
    port = free_port()
    ss = net.tmp / "srv.sock"
    cfg = write(net, "mpserver.conf", f"""# mpserver.conf
listen {port}
target 127.0.0.1 {echo.port}   # the application
bind 127.0.0.1
mode roundrobin
max-sessions 7
status {ss}
verbose
""")
    srv = net.procs.start("mpserver", [MPSERVER, "-c", cfg, "--mode", "duplicate"],
                          cls=MpProc)
    line = srv.wait_line(r" info: listening on ", timeout=15)
    assert f"listening on 127.0.0.1:{port}, target 127.0.0.1:{echo.port}, mode duplicate, up to 7 sessions" in line, line
    srv.port = port
    wait_socket(str(ss))
    assert status(str(ss))["mode"] == "duplicate"
    cli = net.client([port])
    app = net.app(1, cli)
    app.flow([200] * 100, window=8)
    app.drain(0.2)
    app.assert_clean()



def run(argv):
    p = subprocess.run([str(a) for a in argv], capture_output=True, text=True, timeout=10,
                       stdin=subprocess.DEVNULL)
    assert not sanitizer_report(p.stdout + p.stderr), p.stderr
    return p


def test_bad_config_files(net):
    cases = [
        ("listen 2000\nmdoe bond\n", 1, ":2: unknown setting 'mdoe'"),
        ("listen 2000\n\nlisten 2001\n", 1, ":3: 'listen' already set on line 1"),
        ("target 127.0.0.1\n", 1, ":1: 'target' takes 2 values, got 1"),
        ("listen 2000\ntarget 127.0.0.1 9\nmode bond2\n", 1, ":3: bad value for 'mode'"),
        ("listen 0\n", 1, ":1: bad value for 'listen'"),
        ("listen 2000\n", 2, "no target"),
        ("target 127.0.0.1 9\n", 2, "no listening port"),
    ]
    for i, (text, rc, says) in enumerate(cases):
        cfg = write(net, f"bad{i}.conf", text)
        p = run([MPSERVER, "--config", cfg])
        assert p.returncode == rc, (text, p.returncode, p.stderr)
        assert says in p.stderr, (text, p.stderr)
    p = run([MPSERVER, "-c", net.tmp / "missing.conf"])
    assert p.returncode == 1 and "missing.conf" in p.stderr, p.stderr
