"""Helpers and fixtures for mprelay's integration tests.

Everything runs on 127.0.0.1. Every process is started through the `procs`
fixture, which kills whatever is still running when the test ends (even on
failure) and fails the test if a sanitizer report shows up in any log.

Environment (set by `make integration`):
  MP_BIN    directory with mpclient and mpserver (ASan/UBSan builds there)
  MP_TOOLS  directory with impair
Both default to the repository's build directories.
  MP_REQUIRE_ALL=1 (CI sets it; CI=true implies it): a skipped test (no
            root, no /dev/net/tun, a tool missing) fails instead, so that a
            run that left a stage out cannot pass as a full one.

Stdlib only: run with Debian's /usr/bin/python3 -m pytest.
"""

import collections
import hashlib
import os
import random
import re
import select
import signal
import socket
import struct
import subprocess
import threading
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _bin_dir(var, default):
    d = os.environ.get(var)
    return Path(d).resolve() if d else default


MP_BIN = _bin_dir("MP_BIN", ROOT / "build" / "asan")
MP_TOOLS = _bin_dir("MP_TOOLS", ROOT / "build")
MPCLIENT = MP_BIN / "mpclient"
MPSERVER = MP_BIN / "mpserver"
IMPAIR = MP_TOOLS / "impair"
SOCAT = "socat"

HOST = "127.0.0.1"

# Wire format (common/wire.h): header, trailer, limits.
HDR_LEN = 16
CRC_LEN = 4
MAX_PAYLOAD = 65507 - 16 - 16  # MP_MAX_PAYLOAD = 65475
MAX_PATHS = 16
WINDOW_SIZE = 8192 - 64

SANITIZER_MARKS = ("ERROR: AddressSanitizer", "runtime error:", "LeakSanitizer",
                   "ERROR: UndefinedBehaviorSanitizer")

REQUIRE_ALL = (os.environ.get("MP_REQUIRE_ALL", "") not in ("", "0")
               or os.environ.get("CI", "") == "true")

SAN_ENV = {
    "ASAN_OPTIONS": os.environ.get("ASAN_OPTIONS", "detect_leaks=1"),
    "UBSAN_OPTIONS": os.environ.get("UBSAN_OPTIONS", "print_stacktrace=1"),
}

# ---------------------------------------------------------------- figures
# Measured figures are printed by the tests and repeated in the terminal
# summary, so that `make integration` shows them even when everything passes.

FIGURES = []


def figure(test, text):
    line = f"{test}: {text}"
    print(line)
    FIGURES.append(line)


def pytest_terminal_summary(terminalreporter):
    if FIGURES:
        terminalreporter.section("mprelay figures")
        for line in FIGURES:
            terminalreporter.write_line(line)
    if RERUNS:
        terminalreporter.section("mprelay stall reruns")
        for nodeid, stall in RERUNS:
            terminalreporter.write_line(f"{nodeid}: run again after a timing check failed "
                                        f"during a {stall:.0f} ms host stall")


# ---------------------------------------------------------------- host stalls
# The VM shares its host: now and then it is not scheduled at all for tens or
# hundreds of milliseconds, and every timer, including the programs' and the
# bridges', fires that much late. A thread here notices (a 2 ms sleep that
# takes far longer) and keeps each stall as an interval.
#
# A test checks a figure that such a stall can spoil (a delay, a rate, a
# count over a time window, a loss that a late timer causes) with
# timing_check(cond, msg, t0, t1), naming the interval [t0, t1]
# (time.monotonic()) the figure was measured over. If that check fails and a
# stall of at least STALL_RETRY_MS overlaps its interval, the test is run
# once more: the first failure's full text is printed first, and the rerun
# is listed among the figures. Nothing else is ever run again: a plain
# assert (an exact count, a state, an exit code), a timing check without an
# overlapping stall, a failure in setup or teardown (where sanitizer reports
# are checked), a program that exited on its own with a failure or left a
# sanitizer report, or a second failure all stand.

STALL_RETRY_MS = 80


class StallWatch(threading.Thread):
    def __init__(self):
        super().__init__(daemon=True, name="stall-watch")
        self.lock = threading.Lock()
        self.events = collections.deque(maxlen=4096)    # (start, end, ms late)

    def run(self):
        while True:
            t = time.monotonic()
            time.sleep(0.002)
            t2 = time.monotonic()
            late_ms = (t2 - t - 0.002) * 1000
            if late_ms >= 20:
                with self.lock:
                    self.events.append((t, t2, late_ms))

    def report(self, t0, t1, late_ms):
        """A stall over [t0, t1] seen another way (a program kept from its
        CPU), or injected by the rerun's self-test."""
        with self.lock:
            self.events.append((t0, t1, late_ms))

    def worst(self, t0, t1):
        """The longest stall overlapping [t0, t1], ms (0: none)."""
        with self.lock:
            return max((ms for s, e, ms in self.events if s <= t1 and e >= t0),
                       default=0.0)


STALLS = StallWatch()
STALLS.start()


class TimingFailure(AssertionError):
    """A timing figure out of its bound; t0, t1 (time.monotonic()) is the
    interval it was measured over."""

    def __init__(self, msg, t0, t1):
        super().__init__(f"timing: {msg} (measured over {t1 - t0:.2f} s)")
        self.t0, self.t1 = t0, t1


def timing_check(cond, msg, t0, t1):
    """assert cond, msg -- for a figure measured over [t0, t1] that a host
    stall can spoil (see above); t0, t1 from time.monotonic()."""
    if not cond:
        raise TimingFailure(msg, t0, t1)


def mono(wall):
    """A time.time() stamp on the time.monotonic() clock."""
    return time.monotonic() - (time.time() - wall)


RERUNS = []  # (nodeid, stall ms) of each test run again


def _text(rep):
    return str(rep.longrepr) if rep.longrepr is not None else ""


def _rerun_stall(item, reports, groups):
    """The stall (ms) that excuses the failed first run, or None: only a
    timing_check that failed in the test's body, with setup and teardown
    passed, no program ended on its own with a failure or a sanitizer
    report, and a stall of STALL_RETRY_MS or more within the check's
    interval."""
    if not any(r.failed for r in reports):
        return None
    if any(r.failed for r in reports if r.when != "call"):
        return None
    exc = getattr(item, "_mp_timing_failure", None)
    if exc is None:
        return None
    if any(g.crashes() for g in groups):
        return None
    stall = STALLS.worst(exc.t0, exc.t1)
    return stall if stall >= STALL_RETRY_MS else None


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_protocol(item, nextitem):
    from _pytest.runner import runtestprotocol
    item.ihook.pytest_runtest_logstart(nodeid=item.nodeid, location=item.location)
    for attempt in (1, 2):
        item._mp_timing_failure = None
        n_groups = len(ProcGroup.all)
        reports = runtestprotocol(item, nextitem=nextitem, log=False)
        # the test's own program groups, and the module's still open
        groups = ProcGroup.all[n_groups:] + [g for g in ProcGroup.all[:n_groups]
                                            if not g.closed]
        stall = None if attempt == 2 else _rerun_stall(item, reports, groups)
        if stall is None:
            break
        first = "\n".join(_text(r) for r in reports if r.failed)
        RERUNS.append((item.nodeid, stall))
        tr = item.config.pluginmanager.get_plugin("terminalreporter")
        if tr is not None:
            tr.ensure_newline()
            tr.section(f"{item.nodeid}: first run failed on timing during a "
                       f"{stall:.0f} ms host stall; its failure, then a rerun", sep="-")
            tr.write_line(first)
        figure(item.name, f"RERUN: a timing check failed while the host stalled for "
               f"{stall:.0f} ms (its failure printed before the rerun)")
    for r in reports:
        item.ihook.pytest_runtest_logreport(report=r)
    item.ihook.pytest_runtest_logfinish(nodeid=item.nodeid, location=item.location)
    return True


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if rep.when == "call" and call.excinfo is not None \
            and call.excinfo.errisinstance(TimingFailure):
        item._mp_timing_failure = call.excinfo.value
    if rep.skipped and REQUIRE_ALL and not hasattr(rep, "wasxfail"):
        why = rep.longrepr[2] if isinstance(rep.longrepr, tuple) else str(rep.longrepr)
        why = why.removeprefix("Skipped: ")
        rep.outcome = "failed"
        rep.longrepr = (f"skipped ({why}), and a skip is a failure here: "
                        f"MP_REQUIRE_ALL=1 (CI) wants every test run")
    setattr(item, "rep_" + rep.when, rep)


# ---------------------------------------------------------------- ports
# Programs take explicit ports (mpclient and mpserver refuse 0), so a free one
# is found by binding. Ports come from below the kernel's ephemeral range, so
# no socket bound to port 0 (ours or the programs') can take one between the
# probe and the program's bind, and none is handed out twice in a session.

# Options for tests that account for every packet: probes every 10 s (the
# first at once) instead of 20/s while traffic flows, so that counters read
# at slightly different moments still balance; no size-based routing, so
# the spreading modes' splits are exact.
STEADY = ["--probe-interval", "10000", "--small-bytes", "0"]

_handed_out = set()


def _ephemeral_low():
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def port_is_free(port):
    """True if nothing is bound to UDP `port` on any address."""
    for fam, addr in ((socket.AF_INET6, "::"), (socket.AF_INET, "0.0.0.0"),
                      (socket.AF_INET, HOST)):
        try:
            s = socket.socket(fam, socket.SOCK_DGRAM)
        except OSError:
            continue
        try:
            if fam == socket.AF_INET6:
                s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
            s.bind((addr, port))
        except OSError:
            return False
        finally:
            s.close()
    return True


def free_port():
    hi = min(_ephemeral_low(), 65536) - 1
    lo = max(10000, hi - 20000)
    rng = random.Random()
    for _ in range(1000):
        p = rng.randrange(lo, hi)
        if p in _handed_out or not port_is_free(p):
            continue
        _handed_out.add(p)
        return p
    raise RuntimeError("no free UDP port found")


def bigbuf(sock, size=4 << 20):
    """Large socket buffers; SO_*BUFFORCE (33/32) when we may, else plain."""
    for force, plain in ((33, socket.SO_RCVBUF), (32, socket.SO_SNDBUF)):
        for opt in (force, plain):
            try:
                sock.setsockopt(socket.SOL_SOCKET, opt, size)
                break
            except OSError:
                pass


def udp_socket(port=0):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    bigbuf(s)
    s.bind((HOST, port))
    return s


# ---------------------------------------------------------------- log times

_TS_RE = re.compile(r"^(\d\d):(\d\d):(\d\d)\.(\d\d\d) ")


def log_time(line):
    """Wall-clock time (epoch seconds) of a "HH:MM:SS.mmm prog[pid] ..." line.
    The programs log local time with millisecond resolution."""
    m = _TS_RE.match(line)
    if not m:
        raise ValueError(f"no timestamp in {line!r}")
    h, mi, s, ms = (int(x) for x in m.groups())
    now = time.time()
    lt = time.localtime(now)
    base = time.mktime((lt.tm_year, lt.tm_mon, lt.tm_mday, h, mi, s, 0, 0, -1))
    t = base + ms / 1000.0
    # a line logged just before midnight, read just after
    if t - now > 43200:
        t -= 86400
    elif now - t > 43200:
        t += 86400
    return t


# ---------------------------------------------------------------- stats

_STATS_RE = re.compile(r" info: stats (.*)$")


def _value(v):
    return int(v) if re.fullmatch(r"\d+", v) else v


class Stats:
    """One SIGUSR1 (or exit) report of mpclient or mpserver."""

    def __init__(self, lines):
        self.main = None
        self.paths = []          # mpclient: stats path ...
        self.sessions = []       # both: stats session ...
        self.session_paths = []  # mpserver: stats session_path ...
        self.lines = lines
        for line in lines:
            m = _STATS_RE.search(line)
            if not m:
                continue
            toks = m.group(1).split()
            if toks[0].startswith("mode="):
                kind, kv = "main", toks
            else:
                kind, kv = toks[0], toks[1:]
            d = {}
            for tok in kv:
                k, _, v = tok.partition("=")
                d[k] = v if k in ("id", "epoch") else _value(v)  # hex
            if kind == "main":
                self.main = d
            elif kind == "path":
                self.paths.append(d)
            elif kind == "session":
                self.sessions.append(d)
            elif kind == "session_path":
                self.session_paths.append(d)
        if self.main is None:
            raise ValueError("no 'stats mode=' line in:\n" + "\n".join(lines))

    def __getitem__(self, key):
        return self.main[key]

    def drops(self):
        return {k[5:]: v for k, v in self.main.items() if k.startswith("drop_")}

    def nonzero_drops(self):
        return {k: v for k, v in self.drops().items() if v}

    def spaths(self, session_id=None):
        """mpserver: session_path dicts by path index (one session)."""
        out = {}
        for sp in self.session_paths:
            if session_id is None or sp["id"] == session_id:
                out[sp["path"]] = sp
        return out


# ---------------------------------------------------------------- processes


def sanitizer_report(text):
    return [m for m in SANITIZER_MARKS if m in text]


class Proc:
    """A started program with its stderr (and stdout) in files."""

    def __init__(self, group, name, argv, env=None):
        self.group = group
        self.name = name
        self.argv = [str(a) for a in argv]
        self.err_path = group.logdir / f"{name}.stderr"
        self.out_path = group.logdir / f"{name}.stdout"
        full_env = dict(os.environ)
        full_env.update(SAN_ENV)
        if env:
            full_env.update(env)
        with open(self.out_path, "wb") as out, open(self.err_path, "wb") as err:
            # A new session: the program and anything it forks (socat) form
            # one process group that cleanup can end by its id.
            self.popen = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL,
                                          stdout=out, stderr=err,
                                          start_new_session=True, env=full_env)
        self.pid = self.popen.pid
        self.stopped = False

    def __repr__(self):
        return f"<{self.name} pid {self.pid}>"

    # -- logs
    def text(self):
        try:
            return self.err_path.read_bytes().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def size(self):
        try:
            return self.err_path.stat().st_size
        except FileNotFoundError:
            return 0

    def lines_from(self, offset):
        """Complete lines of stderr from byte offset on: (lines, end offset)."""
        data = self.err_path.read_bytes()[offset:]
        cut = data.rfind(b"\n") + 1
        text = data[:cut].decode("utf-8", "replace")
        return text.splitlines(), offset + cut

    def tail(self, n=40):
        lines = self.text().splitlines()
        return "\n".join(lines[-n:])

    def alive(self):
        return self.popen.poll() is None

    def wait_line(self, regex, timeout=10.0, since=0):
        """Waits for a stderr line matching regex (after byte offset since);
        returns the line. Fails early if the process exits."""
        rx = re.compile(regex)
        deadline = time.monotonic() + timeout
        while True:
            lines, _ = self.lines_from(since)
            for line in lines:
                if rx.search(line):
                    return line
            if not self.alive():
                lines, _ = self.lines_from(since)
                for line in lines:
                    if rx.search(line):
                        return line
                raise AssertionError(
                    f"{self.name} exited (rc={self.popen.returncode}) before "
                    f"logging /{regex}/:\n{self.tail()}")
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"{self.name}: no /{regex}/ within {timeout}s:\n{self.tail()}")
            time.sleep(0.005)

    def count_lines(self, regex, since=0):
        rx = re.compile(regex)
        return sum(1 for l in self.lines_from(since)[0] if rx.search(l))

    def wait_count(self, regex, n, timeout=10.0, since=0):
        """Waits until n stderr lines match regex."""
        deadline = time.monotonic() + timeout
        while self.count_lines(regex, since) < n:
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.name}: fewer than {n} /{regex}/ "
                                     f"within {timeout}s:\n{self.tail()}")
            time.sleep(0.01)

    # -- signals
    def signal(self, sig):
        if self.alive():
            os.kill(self.pid, sig)

    def kill9(self):
        """kill -9 the program (only it, by pid) and reap it."""
        os.kill(self.pid, signal.SIGKILL)
        self.popen.wait(timeout=10)
        self.stopped = True

    def terminate(self, timeout=10.0):
        """SIGTERM and wait; returns the exit code."""
        if self.alive():
            os.kill(self.pid, signal.SIGTERM)
        try:
            rc = self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill_group()
            raise AssertionError(f"{self.name} did not exit within {timeout}s "
                                 f"of SIGTERM:\n{self.tail()}")
        self.stopped = True
        return rc

    def kill_group(self):
        try:
            os.killpg(self.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        try:
            self.popen.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
        self.stopped = True


class MpProc(Proc):
    """mpclient or mpserver: stats on demand, a checked clean stop."""

    port = None

    def stats(self, timeout=10.0):
        """Current counters: SIGUSR1, wait for the report, then a second
        SIGUSR1 whose header line marks the end of the first report (the
        handler writes a whole report before the loop handles the next)."""
        start = self.size()
        self.signal(signal.SIGUSR1)
        self.wait_line(r" info: stats mode=", timeout, since=start)
        lines, _ = self.lines_from(start)
        first = next(i for i, l in enumerate(lines) if " info: stats mode=" in l)
        self.signal(signal.SIGUSR1)
        deadline = time.monotonic() + timeout
        while True:
            lines, _ = self.lines_from(start)
            heads = [i for i, l in enumerate(lines) if " info: stats mode=" in l]
            if len(heads) >= 2:
                return Stats(lines[first:heads[1]])
            if not self.alive() or time.monotonic() > deadline:
                raise AssertionError(f"{self.name}: no second stats report:\n"
                                     f"{self.tail()}")
            time.sleep(0.005)

    def poll_stats(self, cond, timeout=5.0):
        """Stats until cond(stats) holds or the timeout; returns the last."""
        deadline = time.monotonic() + timeout
        while True:
            st = self.stats()
            if cond(st) or time.monotonic() > deadline:
                return st
            time.sleep(0.05)

    def check_sanitizers(self):
        found = sanitizer_report(self.text())
        assert not found, f"{self.name}: sanitizer report {found}:\n{self.tail(80)}"

    def stop(self, timeout=15.0):
        """SIGTERM, wait, assert exit code 0 and no sanitizer report; returns
        the exit report's Stats."""
        start_of_last = None
        rc = self.terminate(timeout)
        self.check_sanitizers()
        assert rc == 0, f"{self.name} exited {rc} after SIGTERM:\n{self.tail()}"
        lines = self.text().splitlines()
        for i, l in enumerate(lines):
            if " info: stats mode=" in l:
                start_of_last = i
        assert start_of_last is not None, f"{self.name}: no exit stats:\n{self.tail()}"
        return Stats(lines[start_of_last:])


class ProcGroup:
    """Everything one test starts; cleaned up by the `procs` fixture."""

    all = []  # every group made, in order: the stall rerun looks for crashes

    def __init__(self, logdir):
        self.logdir = Path(logdir)
        self.procs = []
        self.closers = []
        self._names = collections.Counter()
        self.closed = False
        self.evidence = []
        ProcGroup.all.append(self)

    def crashes(self):
        """Programs that ended on their own with a failure (not stopped by
        the test) or wrote a sanitizer report: a failure with any of these
        is never run again. After cleanup: what there was at its start."""
        if self.closed:
            return self.evidence
        out = []
        for p in self.procs:
            rc = p.popen.poll()
            if rc not in (None, 0) and not p.stopped:
                out.append(f"{p.name} exited {rc} on its own")
            if isinstance(p, MpProc) and sanitizer_report(p.text()):
                out.append(f"{p.name}: sanitizer report")
        return out

    def _name(self, base):
        self._names[base] += 1
        n = self._names[base]
        return base if n == 1 else f"{base}-{n}"

    def start(self, base, argv, cls=Proc, env=None):
        p = cls(self, self._name(base), argv, env)
        self.procs.append(p)
        return p

    def on_cleanup(self, fn):
        self.closers.append(fn)

    def cleanup(self, failed):
        self.evidence = self.crashes()
        self.closed = True
        errors = []
        for fn in reversed(self.closers):
            try:
                fn()
            except Exception as e:  # noqa: BLE001 - report, keep cleaning
                errors.append(repr(e))
        for p in self.procs:
            # by process group: socat's forked children go with it
            if p.alive():
                p.kill_group()
        if failed:
            for p in self.procs:
                print(f"----- {p.name} ({' '.join(p.argv)}) stderr tail -----")
                print(p.tail(30))
        # A sanitizer report anywhere fails the test, even one from a program
        # the test killed or never stopped itself.
        for p in self.procs:
            if isinstance(p, MpProc):
                found = sanitizer_report(p.text())
                if found:
                    errors.append(f"{p.name}: sanitizer report {found}:\n{p.tail(80)}")
        if errors:
            raise AssertionError("cleanup: " + "\n".join(errors))


@pytest.fixture
def procs(tmp_path, request):
    g = ProcGroup(tmp_path)
    yield g
    rep = getattr(request.node, "rep_call", None)
    g.cleanup(failed=rep is None or rep.failed)


# ---------------------------------------------------------------- payloads
#
# An application datagram of size n from app `app` with counter k is
#   [k & 0xff] [app] [k as u32 BE] [shake128(those 6 bytes)...]  cut to n.
# From 6 bytes on a datagram names its app and counter, and every byte is
# checked. Shorter ones (sizes 1..5, and 0) are matched against the app's
# outstanding datagrams, where k & 0xff is unique (at most 255 in flight).


def make_payload(app_id, k, size):
    head = bytes([k & 0xFF, app_id]) + struct.pack(">I", k & 0xFFFFFFFF)
    if size <= 6:
        return head[:size]
    return head + hashlib.shake_128(head).digest(size - 6)


def parse_payload(data):
    """(app_id, k) of a datagram of 6+ bytes, else None."""
    if len(data) < 6:
        return None
    return data[1], struct.unpack(">I", data[2:6])[0]


class App:
    """One application socket talking to mpclient's local port. Keeps every
    datagram it sent and classifies every datagram it receives: ok (its own,
    byte-exact, first time), dup, corrupt, or foreign (another app's payload,
    or from another address)."""

    def __init__(self, app_id, dest_port):
        assert 1 <= app_id <= 255
        self.app_id = app_id
        self.dest = (HOST, dest_port)
        self.sock = udp_socket()
        self.sock.setblocking(False)
        self.port = self.sock.getsockname()[1]
        self.sent = {}           # k -> payload
        self.send_time = {}      # k -> time.time() once sendto returned
        self.send_start = {}     # k -> time.time() before sendto: no later
                                 # than the datagram left (for lower bounds
                                 # on its delay)
        self.recv_time = {}      # k -> time.time() of the first copy
        self.dups = []
        self.corrupt = []
        self.foreign = []
        self.short_pending = {}  # payload bytes -> k, for sizes < 6
        self.next_k = 0
        self.send_errors = 0

    def close(self):
        self.sock.close()

    def send(self, size=None, payload=None):
        k = self.next_k
        self.next_k += 1
        data = make_payload(self.app_id, k, size) if payload is None else payload
        self.sent[k] = data
        if len(data) < 6:
            assert data not in self.short_pending, "ambiguous short datagram"
            self.short_pending[data] = k
        self.send_start[k] = time.time()
        while True:
            try:
                self.sock.sendto(data, self.dest)
                break
            except BlockingIOError:
                select.select([], [self.sock], [], 0.1)
            except OSError:
                self.send_errors += 1
                break
        self.send_time[k] = time.time()
        return k

    def classify(self, data, addr):
        """Returns k if data is a first, byte-exact copy of one we sent."""
        now = time.time()
        if addr != self.dest:
            self.foreign.append(("addr", addr, data[:16]))
            return None
        ident = parse_payload(data)
        if ident is None:
            k = self.short_pending.pop(data, None)
            if k is None:
                if data in {self.sent[j] for j in self.recv_time
                            if len(self.sent[j]) == len(data)}:
                    self.dups.append(data)
                else:
                    self.corrupt.append(("short", data))
                return None
        else:
            app, k = ident
            if app != self.app_id:
                self.foreign.append(("app", app, k))
                return None
            if self.sent.get(k) != data:
                self.corrupt.append(("bytes", k, len(data)))
                return None
        if k in self.recv_time:
            self.dups.append(k)
            return None
        self.recv_time[k] = now
        return k

    def receive(self, timeout):
        """Receives for up to timeout seconds (returns at the first batch);
        returns the list of newly delivered ks."""
        got = []
        r, _, _ = select.select([self.sock], [], [], max(0.0, timeout))
        if not r:
            return got
        while True:
            try:
                data, addr = self.sock.recvfrom(65536)
            except (BlockingIOError, InterruptedError):
                break
            except OSError:
                continue  # an ICMP error report; not a datagram
            k = self.classify(data, addr)
            if k is not None:
                got.append(k)
        return got

    def drain(self, duration):
        """Receives everything arriving within `duration` seconds."""
        end = time.monotonic() + duration
        while time.monotonic() < end:
            self.receive(end - time.monotonic())

    def flow(self, sizes, window=32, stall=2.0, rate=None):
        """Sends one datagram per size with at most `window` awaiting their
        echo (loopback UDP drops when a buffer overflows, so no blasting),
        and at most `rate` per second if given. A datagram not echoed within
        `stall` seconds is given up (counted lost)."""
        sizes = list(sizes)
        pending = {}
        interval = 1.0 / rate if rate else 0.0
        next_send = time.monotonic()
        i = 0
        while i < len(sizes) or pending:
            now = time.monotonic()
            while (i < len(sizes) and len(pending) < window
                   and now >= next_send):
                k = self.send(sizes[i])
                pending[k] = now + stall
                i += 1
                if interval:
                    next_send = max(next_send + interval, now - 0.05)
            wait = 0.05
            if interval and i < len(sizes) and len(pending) < window:
                wait = max(0.0, min(wait, next_send - time.monotonic()))
            for k in self.receive(wait):
                pending.pop(k, None)
            now = time.monotonic()
            for k in [k for k, dl in pending.items() if dl < now]:
                del pending[k]
                data = self.sent[k]
                if len(data) < 6:
                    self.short_pending.pop(data, None)

    def lost(self, ks=None):
        ks = self.sent.keys() if ks is None else ks
        return sorted(k for k in ks if k not in self.recv_time)

    def summary(self):
        return {"sent": len(self.sent), "ok": len(self.recv_time),
                "lost": len(self.lost()), "dup": len(self.dups),
                "corrupt": len(self.corrupt), "foreign": len(self.foreign)}

    def assert_clean(self, what=""):
        s = self.summary()
        assert s["lost"] == 0 and s["dup"] == 0 and s["corrupt"] == 0 \
            and s["foreign"] == 0, (
                f"app {self.app_id}{what}: {s}; lost {self.lost()[:20]} "
                f"dups {self.dups[:10]} corrupt {self.corrupt[:10]} "
                f"foreign {self.foreign[:10]}")


class Stream(threading.Thread):
    """An app sending at a steady rate in its own thread (no flow control:
    the rate is low). pause() stops sending, resume() goes on."""

    def __init__(self, app, rate, size=200):
        super().__init__(daemon=True)
        self.app = app
        self.interval = 1.0 / rate
        self.size = size
        self.stop_evt = threading.Event()
        self.paused = threading.Event()
        self.sending = threading.Event()
        self.sending.set()
        self.error = None

    def run(self):
        try:
            nxt = time.monotonic()
            while not self.stop_evt.is_set():
                now = time.monotonic()
                if self.sending.is_set() and not self.paused.is_set():
                    if now >= nxt:
                        self.app.send(self.size)
                        nxt += self.interval
                        if nxt < now - 1.0:  # fell far behind: don't burst
                            nxt = now
                        continue
                    self.app.receive(nxt - now)
                else:
                    nxt = now
                    self.app.receive(0.01)
        except Exception as e:  # noqa: BLE001 - surfaced by finish()
            self.error = e

    def stop(self):
        self.stop_evt.set()
        self.join(5)

    def pause(self, settle=0.3):
        """Stops sending and waits (up to `settle` s) until everything sent
        has been echoed: afterwards nothing of ours is in flight."""
        self.paused.set()
        last = self.app.next_k - 1
        deadline = time.monotonic() + settle
        while time.monotonic() < deadline and last >= 0 and last not in self.app.recv_time:
            time.sleep(0.005)

    def resume(self):
        self.paused.clear()

    def finish(self, drain=1.0, need=()):
        """Stops sending; keeps receiving until every k in `need` arrived or
        `drain` seconds passed; stops the thread."""
        self.sending.clear()
        deadline = time.monotonic() + drain
        while time.monotonic() < deadline:
            if all(k in self.app.recv_time for k in need):
                break
            time.sleep(0.01)
        time.sleep(0.05)  # let late duplicates show up
        self.stop_evt.set()
        self.join(5)
        if self.error:
            raise self.error


# ---------------------------------------------------------------- echo target


class EchoServer(threading.Thread):
    """The target: echoes every datagram to its sender and records
    (source port, bytes) of each. `reply` may replace the echo: a function
    (data) -> list of datagrams to send back."""

    def __init__(self, reply=None):
        super().__init__(daemon=True)
        self.sock = udp_socket()
        self.sock.settimeout(0.1)
        self.port = self.sock.getsockname()[1]
        self.records = []
        self.reply = reply
        self.stop_evt = threading.Event()
        self.lock = threading.Lock()

    def run(self):
        while not self.stop_evt.is_set():
            try:
                data, addr = self.sock.recvfrom(65536)
            except socket.timeout:
                continue
            except OSError:
                if self.stop_evt.is_set():
                    return
                continue
            with self.lock:
                self.records.append((addr[1], data))
            out = [data] if self.reply is None else self.reply(data)
            for d in out:
                try:
                    self.sock.sendto(d, addr)
                except OSError:
                    pass

    def close(self):
        self.stop_evt.set()
        self.join(2)
        self.sock.close()

    def snapshot(self):
        with self.lock:
            return list(self.records)


def verify_target(records, apps, exact=True):
    """Checks what the target received against what the apps sent: every
    datagram an app sent arrived exactly once and byte-exact (with exact
    unset: at most once, and surely if the app got its echo), nothing else
    arrived. Returns {app_id: set of source ports} and the problems."""
    by_id = {a.app_id: a for a in apps}
    seen = collections.Counter()
    ports = collections.defaultdict(set)
    problems = []
    short = collections.defaultdict(list)
    for port, data in records:
        ident = parse_payload(data)
        if ident is None:
            short[data].append(port)
            continue
        app_id, k = ident
        a = by_id.get(app_id)
        if a is None or a.sent.get(k) != data:
            problems.append(("not sent by any app", app_id, k, len(data)))
            continue
        seen[(app_id, k)] += 1
        ports[app_id].add(port)
    # short datagrams: match by content against the apps' short sends
    for a in apps:
        for k, data in a.sent.items():
            if len(data) < 6 and short.get(data):
                short[data].pop()
                seen[(a.app_id, k)] += 1
    for data, left in short.items():
        for _ in left:
            problems.append(("short datagram not sent", data))
    for a in apps:
        for k in a.sent:
            n = seen[(a.app_id, k)]
            if n > 1 or (n == 0 and (exact or k in a.recv_time)):
                problems.append(("times received", a.app_id, k, n))
    return ports, problems


# ---------------------------------------------------------------- bridges


class PyBridge(threading.Thread):
    """A bridge in Python: relays like socat without fork (replies go to the
    latest client address), counts, and captures the first `capture`
    datagrams of each direction. inject_down() sends datagrams to the client
    from the bridge's own listening address."""

    def __init__(self, server_port, capture=300):
        super().__init__(daemon=True)
        self.lsock = udp_socket()
        self.port = self.lsock.getsockname()[1]
        self.usock = udp_socket()
        self.usock.connect((HOST, server_port))
        self.capture = capture
        self.up = []            # captured client -> server datagrams
        self.down = []          # captured server -> client datagrams
        self.up_fwd = 0
        self.down_fwd = 0
        self.injected = 0
        self.client = None
        self.stop_evt = threading.Event()
        self.lock = threading.Lock()

    def run(self):
        socks = [self.lsock, self.usock]
        while not self.stop_evt.is_set():
            r, _, _ = select.select(socks, [], [], 0.1)
            for s in r:
                for _ in range(64):
                    try:
                        data, addr = s.recvfrom(65536, socket.MSG_DONTWAIT)
                    except (BlockingIOError, InterruptedError):
                        break
                    except OSError:
                        continue
                    if s is self.lsock:
                        self.client = addr
                        if len(self.up) < self.capture:
                            self.up.append(data)
                        try:
                            self.usock.send(data)
                            self.up_fwd += 1
                        except OSError:
                            pass
                    else:
                        if len(self.down) < self.capture:
                            self.down.append(data)
                        if self.client:
                            with self.lock:
                                self.lsock.sendto(data, self.client)
                                self.down_fwd += 1

    def inject_down(self, datagrams, pace_every=50, pause=0.002):
        assert self.client, "no client seen yet"
        for i, d in enumerate(datagrams):
            with self.lock:
                self.lsock.sendto(d, self.client)
                self.injected += 1
            if pace_every and i % pace_every == pace_every - 1:
                time.sleep(pause)

    def close(self):
        self.stop_evt.set()
        self.join(2)
        self.lsock.close()
        self.usock.close()


# ---------------------------------------------------------------- wire model
# A Python model of wire_parse(), to predict why each junk datagram is
# dropped.

def _crc32c_table():
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    return table


_CRC_TABLE = _crc32c_table()


def crc32c(data, crc=0):
    crc ^= 0xFFFFFFFF
    t = _CRC_TABLE
    for b in data:
        crc = t[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def seal(body):
    """body = header + payload (path byte included); appends the CRC."""
    return body + struct.pack(">I", crc32c(body[1:]))


def make_packet(path, session, epoch, seq, payload, vts=0x11):
    hdr = bytes([path, vts]) + struct.pack(">II", session, epoch) + seq.to_bytes(6, "big")
    return seal(hdr + payload)


def wire_verdict(pkt):
    """The drop reason wire_parse() gives, or 'ok'."""
    if len(pkt) < HDR_LEN + CRC_LEN:
        return "runt"
    if pkt[1] >> 4 != 1:
        return "bad_version"
    if pkt[1] & 0x08:
        return "key_mismatch"
    if struct.unpack(">I", pkt[-4:])[0] != crc32c(pkt[1:-4]):
        return "bad_check"
    if pkt[1] & 0x07 not in (1, 2, 6, 7):  # DATA, PROBE, ACK, RECOVER
        return "bad_type"
    if pkt[0] >= MAX_PATHS:
        return "bad_path"
    session, epoch = struct.unpack(">II", pkt[2:10])
    seq = int.from_bytes(pkt[10:16], "big")
    if not session or not epoch or not seq:
        return "bad_field"
    return "ok"


def packet_ids(pkt):
    session, epoch = struct.unpack(">II", pkt[2:10])
    return session, epoch, int.from_bytes(pkt[10:16], "big")


WIRE_REASONS = ("runt", "bad_version", "bad_type", "bad_path", "bad_field",
                "key_mismatch", "bad_check")


# ---------------------------------------------------------------- the network


class Net:
    """Builds echo target, mpserver, bridges and mpclients for one test."""

    def __init__(self, procs, tmp_path):
        self.procs = procs
        self.tmp = Path(tmp_path)
        self._cfg_n = 0

    # -- pieces in Python
    def echo(self, reply=None):
        e = EchoServer(reply)
        e.start()
        self.procs.on_cleanup(e.close)
        return e

    def app(self, app_id, client):
        a = App(app_id, client.port)
        self.procs.on_cleanup(a.close)
        return a

    def stream(self, app, rate, size=200):
        """A started Stream, stopped at cleanup at the latest."""
        s = Stream(app, rate, size)
        self.procs.on_cleanup(s.stop)
        s.start()
        return s

    def pybridge(self, server_port, capture=300):
        b = PyBridge(server_port, capture)
        b.start()
        self.procs.on_cleanup(b.close)
        return b

    # -- programs
    def _start_listening(self, base, make_argv, ready, port=None, cls=Proc,
                         tries=4):
        """Starts a program on a port (a free one unless given), retrying
        with another port if the chosen one was taken meanwhile."""
        for attempt in range(tries):
            p_ = port if port is not None else free_port()
            argv, extra = make_argv(p_)
            proc = self.procs.start(base, argv, cls=cls)
            try:
                proc.wait_line(ready, timeout=15)
            except AssertionError:
                if (port is None and not proc.alive()
                        and "in use" in proc.text() and attempt < tries - 1):
                    proc.stopped = True  # its exit is expected: not a crash
                    continue
                raise
            proc.port = p_
            for k, v in extra.items():
                setattr(proc, k, v)
            return proc
        raise AssertionError("unreachable")

    def server(self, target_port, mode=None, port=None, bind=HOST, args=()):
        def argv(p_):
            a = [MPSERVER]
            if mode:
                a += ["--mode", mode]
            if bind:
                a += ["--bind", bind]
            return a + list(args) + [p_, HOST, target_port], {}
        s = self._start_listening("mpserver", argv, r" info: listening on ",
                                  port=port, cls=MpProc)
        s.target_port = target_port
        s.mode, s.bind, s.args = mode, bind, list(args)
        return s

    def restart_server(self, old):
        """A new mpserver like `old`, on the same port."""
        return self.server(old.target_port, old.mode, port=old.port,
                           bind=old.bind, args=old.args)

    def socat(self, server_port, fork=True, port=None):
        # Big socket buffers: in duplicate mode the application's window
        # bounds only the fastest path, a descheduled socat may fall behind.
        buf = f"rcvbuf={4 << 20},sndbuf={4 << 20}"

        def argv(p_):
            listen = f"udp-listen:{p_},bind={HOST},reuseaddr,{buf}"
            if fork:
                listen += ",fork"
            return [SOCAT, "-d", "-d", "-b", "65536", listen,
                    f"udp4:{HOST}:{server_port},{buf}"], {}
        b = self._start_listening("socat", argv, r"listening on", port=port)
        b.fork = fork
        return b

    def warm_up(self, app, bridges, children=1):
        """One datagram through, then waits until every socat bridge has a
        child process relaying for the mpclient (its "starting data transfer
        loop" line). socat's udp-listen,fork drops, or hands to the wrong
        child, what reaches the listening socket while it forks: a burst at
        the very start of a flow would measure socat, not mprelay."""
        socats = [b for b in bridges if getattr(b, "fork", None) is not None]
        rx = r"starting data transfer loop"
        # one datagram at a time until every path has carried one (the
        # scheduler may use one path per datagram)
        for _ in range(4 * len(bridges)):
            app.flow([32], stall=3.0)
            if all(b.count_lines(rx) >= children for b in socats):
                break
        for b in socats:
            b.wait_count(rx, children, timeout=5)

    def impair(self, server_port, *opts, port=0):
        argv = [IMPAIR] + [str(o) for o in opts] + [port, HOST, server_port]
        p = self.procs.start("impair", argv)
        line = p.wait_line(r"impair: listening on ", timeout=10)
        p.port = int(re.search(r"listening on \S+?:(\d+) ->", line).group(1))
        p.server_port = server_port
        p.opts = opts
        return p

    def config(self, lines, name=None):
        self._cfg_n += 1
        path = self.tmp / (name or f"mpclient-{self._cfg_n}.conf")
        path.write_text("".join(l + "\n" for l in lines))
        return path

    def client(self, bridges, mode=None, port=None, args=(), options=None,
               config_lines=None):
        """bridges: list of bridge ports (or objects with .port); options:
        per-bridge extra config text (e.g. "weight=2 sport=1234")."""
        ports = [b if isinstance(b, int) else b.port for b in bridges]
        options = options or [""] * len(ports)
        lines = config_lines or [
            f"{HOST} {p} name=b{i} {o}".rstrip()
            for i, (p, o) in enumerate(zip(ports, options))]
        cfg = self.config(lines)

        def argv(p_):
            a = [MPCLIENT]
            if mode:
                a += ["--mode", mode]
            return a + list(args) + [p_, cfg], {"config": cfg}
        c = self._start_listening("mpclient", argv, r" info: listening on ",
                                  port=port, cls=MpProc)
        c.mode, c.args, c.bridge_ports = mode, list(args), ports
        return c

    def restart_client(self, old):
        def argv(p_):
            a = [MPCLIENT]
            if old.mode:
                a += ["--mode", old.mode]
            return a + old.args + [p_, old.config], {"config": old.config}
        c = self._start_listening("mpclient", argv, r" info: listening on ",
                                  port=old.port, cls=MpProc)
        c.mode, c.args, c.bridge_ports = old.mode, old.args, old.bridge_ports
        return c


@pytest.fixture
def net(procs, tmp_path):
    return Net(procs, tmp_path)


def require_impair():
    if not IMPAIR.exists():
        pytest.fail(f"{IMPAIR} is missing: `make {IMPAIR.relative_to(ROOT) if IMPAIR.is_relative_to(ROOT) else IMPAIR}`")
