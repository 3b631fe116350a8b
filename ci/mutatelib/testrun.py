"""Runs a chosen set of ctest tests the way ctest would, but one process per GoogleTest
binary (its tests joined into one --gtest_filter, --gtest_fail_fast), so a mutant
costs one start per binary instead of one per test case."""
import json
import os
import signal
import subprocess
import tempfile
import time
from pathlib import Path

FILTER = "--gtest_filter="


def _gtest_name(t):
    for a in t["command"][1:]:
        if a.startswith(FILTER):
            return a[len(FILTER):]
    return None


def groups(tests) -> list:
    """[(command, cwd, env, [test names])]: gtest cases of one binary run together."""
    out = {}
    order = []
    for t in tests:
        g = _gtest_name(t)
        if g is not None:
            rest = [a for a in t["command"][1:] if not a.startswith(FILTER)]
            key = (t["command"][0], tuple(rest), t["cwd"], tuple(sorted(t["env"].items())))
        else:
            key = (t["name"],)
        if key not in out:
            out[key] = []
            order.append(key)
        out[key].append(t)
    result = []
    for key in order:
        ts = out[key]
        if len(key) == 1:
            t = ts[0]
            result.append((list(t["command"]), t["cwd"], t["env"], [t["name"]]))
        else:
            cmd = [key[0], *key[1], FILTER + ":".join(_gtest_name(t) for t in ts)]
            result.append((cmd, key[2], dict(key[3]), [t["name"] for t in ts]))
    return result


class Outcome:
    def __init__(self, passed: bool, timed_out: bool, failed: str, seconds: float, times=None):
        self.passed, self.timed_out, self.failed, self.seconds = passed, timed_out, failed, seconds
        self.times = times or {}


def _kill(proc):
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def run(tests, timeout: float, fail_fast=True, running=None, name_of=None) -> Outcome:
    """Runs tests until the first failure. running (a set) holds the live processes so
    an interrupt can kill them. Per-test times come from gtest's JSON output."""
    t0 = time.monotonic()
    times = {}
    by_gtest = {}
    for t in tests:
        g = _gtest_name(t)
        if g is not None:
            by_gtest[g] = t["name"]
    for cmd, cwd, env, names in groups(tests):
        left = timeout - (time.monotonic() - t0)
        if left <= 0:
            return Outcome(False, True, names[0], time.monotonic() - t0, times)
        with tempfile.TemporaryDirectory(prefix="pfs-mutate-") as tmp:
            json_out = Path(tmp) / "gtest.json"
            full = list(cmd)
            if any(a.startswith(FILTER) for a in cmd):
                full += [f"--gtest_output=json:{json_out}"]
                if fail_fast:
                    full.append("--gtest_fail_fast")
            proc = subprocess.Popen(full, cwd=cwd, env=dict(os.environ, **env),
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                    start_new_session=True)
            if running is not None:
                running.add(proc)
            try:
                rc = proc.wait(timeout=left)
            except subprocess.TimeoutExpired:
                _kill(proc)
                proc.wait()
                return Outcome(False, True, ", ".join(names[:3]), time.monotonic() - t0, times)
            finally:
                if running is not None:
                    running.discard(proc)
                _kill(proc)  # children it left behind
            failed = []
            if json_out.is_file():
                try:
                    data = json.loads(json_out.read_text())
                    for suite in data.get("testsuites", []):
                        for case in suite.get("testsuite", []):
                            full_name = f"{suite['name']}.{case['name']}"
                            ctest_name = by_gtest.get(full_name, full_name)
                            times[ctest_name] = float(str(case.get("time", "0s")).rstrip("s") or 0)
                            if case.get("failures"):
                                failed.append(ctest_name)
                except (ValueError, KeyError):
                    pass
            else:
                times[names[0]] = time.monotonic() - t0
            if rc != 0:
                what = ", ".join(failed[:3]) if failed else (names[0] if len(names) == 1 else
                                                             f"{Path(cmd[0]).name} (exit {rc})")
                return Outcome(False, False, what, time.monotonic() - t0, times)
    return Outcome(True, False, "", time.monotonic() - t0, times)


def baseline(tests) -> tuple:
    """Runs every test once, binary by binary without fail-fast. Returns (times by test,
    tests that fail on the unmutated sources)."""
    times, failing = {}, []
    for grp in groups(tests):
        names = set(grp[3])
        sub = [t for t in tests if t["name"] in names]
        out = run(sub, timeout=1800, fail_fast=False)
        times.update(out.times)
        if not out.passed:
            for t in sub:   # find which: run them alone
                one = run([t], timeout=600, fail_fast=False)
                times[t["name"]] = one.seconds
                if not one.passed:
                    failing.append(t["name"])
    return times, failing
