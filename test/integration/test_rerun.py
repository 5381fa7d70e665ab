"""The conftest's own rules, proved on throwaway tests run by a second pytest:

- a timing_check that fails while a stall overlaps its interval is run once
  more, the first failure's text printed before the rerun, and the rerun
  listed among the figures; a second failure stands;
- a plain assert, a timing_check with no stall in its interval, and a timing
  failure after a program crashed or left a sanitizer report are never run
  again;
- a skip is a skip, but a failure under MP_REQUIRE_ALL=1.

The stalls are injected into the watcher (STALLS.report), as a stall seen
another way would be.
"""

import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

HERE = Path(__file__).resolve().parent

THROWAWAY = '''
import os
import time
from pathlib import Path

import pytest

from conftest import STALLS, MpProc, timing_check

COUNTS = Path(os.environ["RERUN_COUNTS"])


def attempt(name):
    """Counts the runs of a test; returns which run this is."""
    f = COUNTS / name
    n = int(f.read_text()) + 1 if f.exists() else 1
    f.write_text(str(n))
    return n


def stall(ms=200, ago=0.0):
    """Tells the watcher the host stalled for ms, ending `ago` seconds ago."""
    t = time.monotonic() - ago
    STALLS.report(t - ms / 1000, t, ms)


def test_timing_in_stall():
    n = attempt("timing_in_stall")
    t0 = time.monotonic()
    stall()
    timing_check(n > 1, "FIRST-RUN-TEXT timing_in_stall", t0, time.monotonic())


def test_timing_in_stall_twice():
    attempt("timing_in_stall_twice")
    t0 = time.monotonic()
    stall()
    timing_check(False, "fails every time", t0, time.monotonic())


def test_plain_assert_in_stall():
    attempt("plain_assert_in_stall")
    stall()
    assert False, "an exact count"


def test_timing_with_stall_before_its_interval():
    attempt("stall_before_interval")
    stall(ms=500, ago=5.0)
    t0 = time.monotonic()
    timing_check(False, "no stall in here", t0, time.monotonic())


def test_timing_after_a_crash(procs):
    attempt("after_a_crash")
    p = procs.start("crasher", ["sh", "-c", "exit 3"])
    p.popen.wait(10)
    t0 = time.monotonic()
    stall()
    timing_check(False, "late because a program died", t0, time.monotonic())


def test_timing_with_sanitizer_report(procs):
    attempt("sanitizer_report")
    p = procs.start("mpfake", ["sh", "-c", "echo 'ERROR: AddressSanitizer: fake' >&2"],
                    cls=MpProc)
    p.popen.wait(10)
    p.stopped = True
    t0 = time.monotonic()
    stall()
    timing_check(False, "late, and a sanitizer report", t0, time.monotonic())


def test_skipped():
    pytest.skip("no such thing on this machine")
'''


def run_throwaway(tmp_path, require_all):
    tests = tmp_path / "throwaway"
    tests.mkdir()
    (tests / "test_throwaway.py").write_text(THROWAWAY)
    counts = tmp_path / "counts"
    counts.mkdir()
    xml = tmp_path / "report.xml"
    env = {k: v for k, v in os.environ.items() if k not in ("MP_REQUIRE_ALL", "CI")}
    env.update(RERUN_COUNTS=str(counts), PYTHONPATH=str(HERE))
    if require_all:
        env["MP_REQUIRE_ALL"] = "1"
    # -p conftest: the real conftest as a plugin; --confcutdir: no other
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                        "-p", "conftest", "--rootdir", str(tests), "--confcutdir", str(tests),
                        "--junitxml", str(xml), str(tests)],
                       capture_output=True, text=True, timeout=120, env=env, cwd=tests)
    outcome = {}
    for case in ET.parse(xml).getroot().iter("testcase"):
        kinds = {child.tag for child in case}
        outcome[case.get("name")] = ("failed" if kinds & {"failure", "error"} else
                                     "skipped" if "skipped" in kinds else "passed")
    runs = {f.name: int(f.read_text()) for f in counts.iterdir()}
    return r, outcome, runs


def test_rerun_only_timing_in_a_stall(tmp_path):
    r, outcome, runs = run_throwaway(tmp_path, require_all=False)
    out = r.stdout
    assert outcome == {
        "test_timing_in_stall": "passed",
        "test_timing_in_stall_twice": "failed",
        "test_plain_assert_in_stall": "failed",
        "test_timing_with_stall_before_its_interval": "failed",
        "test_timing_after_a_crash": "failed",
        "test_timing_with_sanitizer_report": "failed",
        "test_skipped": "skipped",
    }, out
    assert runs == {
        "timing_in_stall": 2,
        "timing_in_stall_twice": 2,
        "plain_assert_in_stall": 1,
        "stall_before_interval": 1,
        "after_a_crash": 1,
        "sanitizer_report": 1,
    }, out
    # the first failure's text, printed before the end of the run, and the
    # rerun among the figures
    first = out.find("FIRST-RUN-TEXT timing_in_stall")
    assert first >= 0, out
    assert out.find("test_timing_in_stall: RERUN: a timing check failed", first) > first, out
    assert "mprelay stall reruns" in out, out
    assert r.returncode == 1, out


def test_skip_fails_under_require_all(tmp_path):
    r, outcome, runs = run_throwaway(tmp_path, require_all=True)
    assert outcome["test_skipped"] == "failed", r.stdout
    assert "MP_REQUIRE_ALL=1" in r.stdout, r.stdout
    # nothing else changes
    assert outcome["test_timing_in_stall"] == "passed", r.stdout
    assert runs["plain_assert_in_stall"] == 1, r.stdout
