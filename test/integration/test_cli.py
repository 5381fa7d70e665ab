"""Command lines and config files: exit codes and messages."""

import base64
import os
import re
import subprocess

import pytest

from conftest import MPCLIENT, MPSERVER, SAN_ENV, free_port, sanitizer_report, udp_socket


def run(argv, timeout=10):
    env = dict(os.environ)
    env.update(SAN_ENV)
    p = subprocess.run([str(a) for a in argv], capture_output=True, text=True,
                       timeout=timeout, env=env, stdin=subprocess.DEVNULL)
    found = sanitizer_report(p.stdout + p.stderr)
    assert not found, f"{argv}: sanitizer report {found}:\n{p.stderr}"
    return p


@pytest.mark.parametrize("prog", [MPCLIENT, MPSERVER], ids=["mpclient", "mpserver"])
def test_help_and_version(prog):
    name = prog.name
    for opt in ("--help", "-h"):
        p = run([prog, opt])
        assert p.returncode == 0, p.stderr
        assert p.stdout.startswith(f"usage: {name} [options] "), p.stdout
        assert "--mode M" in p.stdout and "--idle-timeout" in p.stdout
    p = run([prog, "--version"])
    assert p.returncode == 0
    assert re.fullmatch(rf"{name} \d+\.\d+\.\d+\S*\n", p.stdout), p.stdout


BAD_SERVER_ARGS = [
    ["--frobnicate", "9000", "127.0.0.1", "9001"],
    ["-x", "9000", "127.0.0.1", "9001"],
    ["0", "127.0.0.1", "9001"],
    ["9000", "127.0.0.1", "0"],
    ["65536", "127.0.0.1", "9001"],
    ["nine", "127.0.0.1", "9001"],
    [],
    ["9000"],
    ["9000", "127.0.0.1"],
    ["9000", "127.0.0.1", "9001", "extra"],
    ["--mode", "foo", "9000", "127.0.0.1", "9001"],
    ["--mode"],
    ["--idle-timeout", "0", "9000", "127.0.0.1", "9001"],
    ["--idle-timeout", "x", "9000", "127.0.0.1", "9001"],
    ["--max-sessions", "0", "9000", "127.0.0.1", "9001"],
]


@pytest.mark.parametrize("args", BAD_SERVER_ARGS, ids=lambda a: " ".join(a) or "none")
def test_mpserver_bad_arguments(args):
    p = run([MPSERVER] + args)
    assert p.returncode == 2, (p.returncode, p.stderr)
    assert "usage: mpserver [options] LISTEN_PORT TARGET_HOST TARGET_PORT" in p.stderr
    assert p.stdout == ""


@pytest.fixture
def good_config(tmp_path):
    path = tmp_path / "good.conf"
    path.write_text("127.0.0.1 9000\n")
    return path


BAD_CLIENT_ARGS = [
    ["--frobnicate", "7000", "{cfg}"],
    ["0", "{cfg}"],
    ["70000", "{cfg}"],
    ["port", "{cfg}"],
    [],
    ["7000"],
    ["7000", "{cfg}", "extra"],
    ["--mode", "foo", "7000", "{cfg}"],
    ["--idle-timeout", "-1", "7000", "{cfg}"],
]


@pytest.mark.parametrize("args", BAD_CLIENT_ARGS, ids=lambda a: " ".join(a) or "none")
def test_mpclient_bad_arguments(args, good_config):
    p = run([MPCLIENT] + [a.format(cfg=good_config) for a in args])
    assert p.returncode == 2, (p.returncode, p.stderr)
    assert "usage: mpclient [options] LOCAL_PORT CONFIG_FILE" in p.stderr
    assert p.stdout == ""


BAD_LINES = [
    ("127.0.0.1 0", "port must be 1..65535, got '0'"),
    ("127.0.0.1 65536", "port must be 1..65535"),
    ("127.0.0.1 http", "port must be 1..65535"),
    ("127.0.0.1", "expected 'host port', got only '127.0.0.1'"),
    ("bad$host 9000", "bad host"),
    ("127.0.0.1 9000 frob=1", "unknown option 'frob'"),
    ("127.0.0.1 9000 weight", "expected key=value"),
    ("127.0.0.1 9000 weight=0", "weight must be 1..1000"),
    ("127.0.0.1 9000 weight=1001", "weight must be 1..1000"),
    ("127.0.0.1 9000 weight=1 weight=2", "option 'weight' given twice"),
    ("127.0.0.1 9000 name=first", "name 'first' already used on line 2"),
    ("127.0.0.1 9000 name=bad/name", "name must be"),
    ("127.0.0.1 9000 sport=0", "sport must be 1..65535"),
    ("127.0.0.1 9000 bind=example.com", "bind must be an IP address"),
    ("127.0.0.1 9000 mark=zz", "mark must be"),
    ("127.0.0.1 9000 dev=an-interface-name-too-long", "dev must be"),
    ("127.0.0.1 9000 " + "x" * 600, "line longer than"),
]


@pytest.mark.parametrize("line,reason", BAD_LINES, ids=[r for _, r in BAD_LINES])
@pytest.mark.parametrize("check_only", [True, False], ids=["-n", "run"])
def test_config_bad_line(tmp_path, line, reason, check_only):
    cfg = tmp_path / "bad.conf"
    # the bad line is line 3: a comment and a good bridge come first
    cfg.write_text(f"# bridges\n127.0.0.1 9000 name=first\n{line}\n127.0.0.1 9002\n")
    argv = [MPCLIENT] + (["-n"] if check_only else []) + [free_port(), cfg]
    p = run(argv)
    assert p.returncode != 0 and p.returncode != 2, (p.returncode, p.stderr)
    assert f"{cfg}:3: " in p.stderr, p.stderr
    assert reason in p.stderr.split(f"{cfg}:3: ", 1)[1], p.stderr
    assert p.stdout == ""


@pytest.mark.parametrize("text", ["", "\n\n", "# nothing here\n   \n\t# still nothing\n"],
                         ids=["empty", "blank", "comments"])
def test_config_without_bridges(tmp_path, text):
    cfg = tmp_path / "empty.conf"
    cfg.write_text(text)
    for opts in (["-n"], []):
        p = run([MPCLIENT] + opts + [free_port(), cfg])
        assert p.returncode not in (0, 2), p.stderr
        assert f"{cfg}: no bridges" in p.stderr, p.stderr


@pytest.mark.parametrize("opts", [["-n"], []], ids=["check", "run"])
def test_config_missing_file(tmp_path, opts):
    cfg = tmp_path / "does-not-exist.conf"
    p = run([MPCLIENT] + opts + [free_port(), cfg])
    assert p.returncode == 1, p.stderr
    assert re.search(rf" error: {re.escape(str(cfg))}: No such file or directory$", p.stderr,
                     re.M), p.stderr
    assert " warn: " not in p.stderr, p.stderr
    assert "listening on" not in p.stderr


def test_check_config_prints_canonical_form(tmp_path):
    cfg = tmp_path / "in.conf"
    cfg.write_text(
        "# mprelay bridges\n"
        "\n"
        "127.0.0.1 9000 weight=2 name=fast   # trailing comment\n"
        "  [::1]\t9001 mark=0x10 sport=4000\n"
        "localhost 9002 bind=127.0.0.1 dev=lo name=third weight=1000\r\n"
        "::1 9003\n")
    p = run([MPCLIENT, "-n", free_port(), cfg])
    assert p.returncode == 0, p.stderr
    expected = (
        f"{cfg}: OK\n"
        "127.0.0.1 9000 name=fast weight=2\n"
        "[::1] 9001 name=path1 weight=1 sport=4000 mark=16\n"
        "localhost 9002 name=third weight=1000 bind=127.0.0.1 dev=lo\n"
        "[::1] 9003 name=path3 weight=1\n")
    assert p.stdout == expected
    # the canonical form is a fixed point
    again = tmp_path / "canonical.conf"
    again.write_text(p.stdout.split("\n", 1)[1])
    p2 = run([MPCLIENT, "-n", free_port(), again])
    assert p2.returncode == 0
    assert p2.stdout.split("\n", 1)[1] == p.stdout.split("\n", 1)[1]


def test_mpserver_port_in_use():
    s = udp_socket()
    try:
        port = s.getsockname()[1]
        p = run([MPSERVER, "--bind", "127.0.0.1", port, "127.0.0.1", free_port()])
        assert p.returncode == 1, (p.returncode, p.stderr)
        assert "Address already in use" in p.stderr, p.stderr
    finally:
        s.close()


# ---- --pubkey: the X25519 public key of a key file, like `wg pubkey` ----

def run_in(argv, stdin, cwd=None):
    """run() with bytes on standard input."""
    env = dict(os.environ)
    env.update(SAN_ENV)
    p = subprocess.run([str(a) for a in argv], capture_output=True, timeout=10, env=env,
                       input=stdin, cwd=cwd)
    out, err = p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace")
    found = sanitizer_report(out + err)
    assert not found, f"{argv}: sanitizer report {found}:\n{err}"
    return p.returncode, out, err


def x25519_public_b64(private_b64):
    """The reference: python3-cryptography's X25519 on the same 32 bytes."""
    x25519 = pytest.importorskip("cryptography.hazmat.primitives.asymmetric.x25519")
    from cryptography.hazmat.primitives import serialization
    priv = x25519.X25519PrivateKey.from_private_bytes(base64.b64decode(private_b64, validate=True))
    pub = priv.public_key().public_bytes(serialization.Encoding.Raw,
                                         serialization.PublicFormat.Raw)
    return base64.b64encode(pub).decode()


@pytest.mark.parametrize("prog", [MPCLIENT, MPSERVER], ids=["mpclient", "mpserver"])
def test_pubkey(prog, tmp_path):
    """--genkey - | --pubkey - and --pubkey FILE print exactly the public
    key python3-cryptography derives from the same private key, and RFC
    7748's own pair (section 6.1) comes out as the RFC says."""
    for _ in range(3):
        rc, key, err = run_in([prog, "--genkey", "-"], b"")
        assert rc == 0 and re.fullmatch(r"[A-Za-z0-9+/]{43}=\n", key), (rc, key, err)
        want = x25519_public_b64(key.strip()) + "\n"
        rc, out, err = run_in([prog, "--pubkey", "-"], key.encode())
        assert (rc, out, err) == (0, want, ""), "genkey | pubkey"
        rc, out, _ = run_in([prog, "--pubkey", "-"], key.strip().encode())   # no newline
        assert (rc, out) == (0, want)
    path = tmp_path / "key"
    rc, _, err = run_in([prog, "--genkey", path], b"")
    assert rc == 0, err
    rc, out, err = run_in([prog, "--pubkey", path], b"")
    assert (rc, out, err) == (0, x25519_public_b64(path.read_text().strip()) + "\n", "")
    # RFC 7748, 6.1: Alice's private and public keys.
    alice = base64.b64encode(bytes.fromhex(
        "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a")).decode()
    alice_pub = base64.b64encode(bytes.fromhex(
        "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a")).decode()
    rc, out, _ = run_in([prog, "--pubkey", "-"], (alice + "\n").encode())
    assert (rc, out) == (0, alice_pub + "\n")
    assert x25519_public_b64(alice) == alice_pub


PUBKEY_BAD_STDIN = [
    b"",
    b"\n",
    b"short\n",
    b"A" * 43 + b"\n",                                   # no padding
    b"A" * 43 + b"==\n",                                 # 45
    b"A" * 42 + b"=A\n",                                 # '=' inside
    b"A" * 22 + b" " + b"A" * 20 + b"=\n",                # a space
    b"A" * 43 + b"=\n\n",                                # a second line
    b"A" * 43 + b"=\r\n",
    b"A" * 4000,
]


@pytest.mark.parametrize("prog", [MPCLIENT, MPSERVER], ids=["mpclient", "mpserver"])
def test_pubkey_bad_input(prog, tmp_path):
    """A key that is not exactly 44 characters of base64 (and a newline),
    a file others can read, a missing file: exit 1, nothing on stdout, the
    reason on stderr. No argument: exit 2 with the usage."""
    for text in PUBKEY_BAD_STDIN:
        rc, out, err = run_in([prog, "--pubkey", "-"], text)
        assert (rc, out) == (1, ""), (text, rc, out, err)
        assert "the key on standard input: expected 44 characters of base64" in err, err
    readable = tmp_path / "readable"
    readable.write_text("A" * 43 + "=\n")
    readable.chmod(0o644)
    rc, out, err = run_in([prog, "--pubkey", readable], b"")
    assert (rc, out) == (1, "") and "can be read by others" in err, err
    rc, out, err = run_in([prog, "--pubkey", tmp_path / "absent"], b"")
    assert (rc, out) == (1, "") and "cannot open key file" in err, err
    bad = tmp_path / "bad"
    bad.write_text("not a key\n")
    bad.chmod(0o600)
    rc, out, err = run_in([prog, "--pubkey", bad], b"")
    assert (rc, out) == (1, "") and f"key file {bad}: expected 44 characters" in err, err
    rc, out, err = run_in([prog, "--pubkey"], b"")
    assert (rc, out) == (2, "") and "requires an argument" in err and "usage:" in err, err
