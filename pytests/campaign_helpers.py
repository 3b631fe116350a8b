"""Running ci/campaign from the tests (test_campaign_*.py): the builds a short
campaign needs (one target, built once and then reused through --no-build), a
campaign as a child process with a hard timeout, and cleanup of every process it
started, by PID."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

from proc_stop import descendants, stop_by_pid, wait_gone

REPO_ROOT = Path(__file__).resolve().parent.parent
CAMPAIGN = REPO_ROOT / "ci" / "campaign"
BUILD_TIMEOUT = 1800  # seconds: the first build of a preset compiles pfs_core


def ensure_built(presets: list, target: str) -> None:
    """Builds fuzz_<target> in each preset (configuring it first if needed; through ccache when
    it is installed: a fresh machine has none). A failed build fails the test with its
    output."""
    env = dict(os.environ)
    launcher = []
    if shutil.which("ccache"):
        env.setdefault("CCACHE_BASEDIR", str(REPO_ROOT))
        env.setdefault("CCACHE_NOHASHDIR", "1")
        launcher = ["-DCMAKE_CXX_COMPILER_LAUNCHER=ccache", "-DCMAKE_C_COMPILER_LAUNCHER=ccache"]
    for preset in presets:
        # Configured once; always built (a no-op when up to date, never a stale binary).
        cmds = [["cmake", "--build", "--preset", preset, "--target", f"fuzz_{target}", "-j2"]]
        if not (REPO_ROOT / "build" / preset / "CMakeCache.txt").is_file():
            cmds.insert(0, ["cmake", "--preset", preset, *launcher])
        for cmd in cmds:
            r = subprocess.run(cmd, cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, timeout=BUILD_TIMEOUT)
            assert r.returncode == 0, f"{' '.join(cmd)} failed:\n{r.stdout[-4000:]}"


def start(args: list, log: Path) -> subprocess.Popen:
    """ci/campaign ARGS in its own session, stdout and stderr into `log`."""
    with open(log, "w") as out:
        return subprocess.Popen([str(CAMPAIGN), *args], cwd=REPO_ROOT, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)


def finish(proc: subprocess.Popen, log: Path, timeout: float) -> str:
    """Waits for the campaign; its output. On timeout it is stopped and the test fails."""
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        stop(proc, [])
        raise AssertionError(f"ci/campaign ran over {timeout} s:\n{log.read_text()[-4000:]}")
    return log.read_text()


def stop(proc: subprocess.Popen, marker_paths: list) -> None:
    """Stops the campaign and every fuzzer it started, by PID: its descendants, and any
    process whose command line or environment names one of `marker_paths` (the test's
    own scratch folders: fuzzers and their targets run in sessions of their own, and
    outlive a killed parent)."""
    pids = descendants(proc.pid)
    stop_by_pid(proc, signal.SIGTERM, timeout=5)
    pids += running_with(marker_paths)
    for pid in set(pids):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    left = wait_gone(sorted(set(pids)), timeout=10)
    assert not left, f"processes still running after SIGKILL: {left}"


def running_with(paths: list) -> list:
    """PIDs of the processes (but this one) whose command line or environment names
    one of `paths`; AFL++ targets carry __AFL_OUT_DIR=<their instance folder>."""
    if not paths:
        return []
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            text = (entry / "cmdline").read_bytes() + b"\0" + (entry / "environ").read_bytes()
        except OSError:
            continue
        if any(str(p).encode() in text for p in paths):
            out.append(int(entry.name))
    return out


# target, engine, libFuzzer/s, AFL++/s, execs, inst, corpus, KB, new, lines, branches,
# last 10%, crashes (ci/campaignlib/table.py); lines and branches are n/a without coverage.
_ROW_HEAD = (r"^(?P<target>\S+)\s+(?P<engine>\S+)\s+(?P<lf>[\d,]+|-)\s+(?P<afl>[\d,]+|-)\s+"
             r"(?P<execs>[\d,]+)\s+(?P<inst>\d+)\s+(?P<corpus>\d+)\s+(?P<kb>\d+)\s+(?P<new>\d+)\s+")
_ROW_TAIL = r"\s+(?P<late>\S+)\s+(?P<crashes>\d+)$"
ROW = re.compile(_ROW_HEAD + r"(?P<lines_cov>\d+)/(?P<lines_total>\d+) (?P<lines_pct>[\d.]+)%\s+"
                 r"(?P<br_cov>\d+)/(?P<br_total>\d+) (?P<br_pct>[\d.]+)%" + _ROW_TAIL)
ROW_NO_COVERAGE = re.compile(_ROW_HEAD + r"n/a\s+n/a" + _ROW_TAIL)


def table_row(output: str, target: str, with_coverage: bool = True) -> dict:
    """The table's row for `target`, as named fields (strings); fails if absent."""
    lines = output.splitlines()
    header = [i for i, line in enumerate(lines) if line.startswith("target ")]
    assert header, f"no table in the output:\n{output[-3000:]}"
    pattern = ROW if with_coverage else ROW_NO_COVERAGE
    for line in lines[header[-1] + 1:]:
        m = pattern.match(line)
        if m and m.group("target") == target:
            return m.groupdict()
    raise AssertionError(f"no well-formed table row for {target}:\n" +
                         "\n".join(lines[header[-1]:header[-1] + 5]))


def wait_for(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)
