"""ci/soak, the long-run fd/RSS/throughput check (issue 10), tested short.

- the verdict rule on synthetic samples: flat passes; a leak of fds (quiet or under
  load), of RSS or of threads fails; what happens during the warm-up does not count;
  a run too short to judge is not flat;
- the client's model of rename(2) (the one rule that is easy to get wrong);
- a real short run (pfsd confined as by default, or PFS_TEST_SANDBOX's mode): exit 0,
  a sane CSV (start, running and quiet rows), a PNG, summary.json flat and consistent,
  nothing left behind (no mount, no scratch tree);
- the tool can fail: a file slipped into a client's subtree behind its back (on the
  host) makes the run exit 1 with the tree check or the client naming it;
- Ctrl-C (SIGINT) mid-run: exit 1 with "interrupted", and still nothing left behind;
- --vm: exit 2, saying it is not implemented.

Every ci/soak run here has a hard timeout and is stopped by PID on failure.
"""

from __future__ import annotations

import csv
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from pfsd_args import sandbox_mode

REPO_ROOT = Path(__file__).resolve().parent.parent
SOAK = REPO_ROOT / "ci" / "soak"
sys.path.insert(0, str(REPO_ROOT / "ci"))
from soaklib.model import Model  # noqa: E402
from soaklib.verdict import Rule, Sample, judge  # noqa: E402

pytestmark = pytest.mark.host

RUN_TIMEOUT = 90  # seconds for any ci/soak run here


# --------------------------------------------------------------------------- verdict rule

RULE = Rule(warmup_s=60, run_fd_slack=50)
MIB = 1024


def series(fds_run, rss_run, fds_quiet=(10, 10), rss_quiet=None, threads=None, t_step=60):
    """Running samples at t = 0, 60, 120, ... and two quiet ones (after warm-up, at end)."""
    out = []
    for i, (f, r) in enumerate(zip(fds_run, rss_run)):
        th = threads[i] if threads else 5
        out.append(Sample(i * t_step, "run", f, r, th))
    end = (len(fds_run) - 1) * t_step
    rq = rss_quiet or (rss_run[1], rss_run[-1])
    out.append(Sample(t_step, "quiet", fds_quiet[0], rq[0], 5))
    out.append(Sample(end, "quiet", fds_quiet[1], rq[1], 5))
    return sorted(out, key=lambda s: s.t)


def test_verdict_flat_passes():
    # Noise under load (fds up and down within the slack, RSS +2 MiB), quiet fds equal.
    s = series([150, 300, 260, 330, 280, 310], [8 * MIB, 9 * MIB, 9 * MIB, 10 * MIB,
                                                 10 * MIB, 11 * MIB])
    v = judge(s, RULE)
    assert v.flat, v.text()
    assert sum(c.startswith("ok") for c in v.checks) == 5, v.text()


def test_verdict_quiet_fd_leak_fails():
    # Under load the leak hides in the noise; the quiet samples show it.
    s = series([300, 300, 300, 300], [8 * MIB] * 4, fds_quiet=(10, 15))
    v = judge(s, RULE)
    assert not v.flat
    assert any(c.startswith("GROWING: quiet fds") for c in v.checks), v.text()


def test_verdict_running_fd_leak_fails():
    s = series([300, 300, 400, 500], [8 * MIB] * 4)
    v = judge(s, RULE)
    assert not v.flat
    assert any(c.startswith("GROWING: running fds") for c in v.checks), v.text()


def test_verdict_rss_rule_is_max_of_10_percent_and_4_mib():
    # Small base: 4 MiB is the allowance.
    assert judge(series([200] * 4, [8 * MIB, 8 * MIB, 10 * MIB, 12 * MIB]), RULE).flat
    v = judge(series([200] * 4, [8 * MIB, 8 * MIB, 11 * MIB, 12 * MIB + 1]), RULE)
    assert not v.flat and any(c.startswith("GROWING: running RSS") for c in v.checks), v.text()
    # Large base: 10 %.
    assert judge(series([200] * 4, [100 * MIB, 100 * MIB, 105 * MIB, 110 * MIB]), RULE).flat
    assert not judge(series([200] * 4, [100 * MIB, 100 * MIB, 105 * MIB, 111 * MIB]), RULE).flat


def test_verdict_quiet_rss_leak_fails():
    s = series([200] * 4, [8 * MIB] * 4, rss_quiet=(8 * MIB, 20 * MIB))
    v = judge(s, RULE)
    assert not v.flat and any(c.startswith("GROWING: quiet RSS") for c in v.checks), v.text()


def test_verdict_thread_growth_fails():
    v = judge(series([200] * 4, [8 * MIB] * 4, threads=[5, 5, 6, 7]), RULE)
    assert not v.flat and any(c.startswith("GROWING: running threads") for c in v.checks)


def test_verdict_ignores_the_warm_up():
    # fds and RSS climb during the first minute (t=0 is before the warm-up ends), then hold.
    s = series([10, 300, 300, 300], [2 * MIB, 30 * MIB, 30 * MIB, 30 * MIB])
    assert judge(s, RULE).flat, judge(s, RULE).text()


def test_verdict_too_short_is_not_flat():
    s = [Sample(0, "run", 10, 8 * MIB, 5), Sample(60, "run", 10, 8 * MIB, 5)]
    v = judge(s, RULE)
    assert not v.flat and any(c.startswith("NOT JUDGED") for c in v.checks), v.text()


# --------------------------------------------------------------------------- the model


def test_model_rename_semantics():
    m = Model()
    m.mkdir("d0")
    m.create("d0/f0", b"abc")
    m.link("d0/f0", "f1")
    m.rename("d0/f0", "f1")  # two names of one inode: nothing happens
    assert set(m.entries) == {"", "d0", "d0/f0", "f1"} and m.nlink(m.entries["f1"].ino) == 2
    m.create("f2", b"x")
    m.rename("f2", "f1")  # replaces f1; the old inode keeps its other name
    assert m.inode_of("f1").data == b"x" and m.nlink(m.entries["d0/f0"].ino) == 1
    m.rename("d0", "d1")  # a directory moves with its contents
    assert set(m.entries) == {"", "d1", "d1/f0", "f1"}
    m.symlink("l0", "f1")
    m.rename("l0", "l0")
    assert m.entries["l0"].target == "f1"
    m.remove("d1/f0")
    assert len(m.inodes) == 1


# --------------------------------------------------------------------------- real runs


def soak_cmd(pfsd_binary: Path, out: Path, *args: str) -> list[str]:
    cmd = [str(SOAK), "--pfsd", str(pfsd_binary), "--out", str(out), *args]
    mode = sandbox_mode()
    if mode:
        cmd += ["--sandbox", mode]
    return cmd


def scratch_of(output: str) -> Path:
    m = re.search(r"--shared-dir (/tmp/pfs-soak-[^/\s]+)/shared", output)
    assert m, f"ci/soak did not print its pfsd command line:\n{output}"
    return Path(m.group(1))


def assert_left_nothing(base: Path) -> None:
    with open("/proc/self/mountinfo") as f:
        assert str(base) not in f.read(), f"a mount under {base} is left behind"
    assert not base.exists(), f"scratch tree {base} is left behind"


def session_members(sid: int) -> list[int]:
    """PIDs of the live processes whose session is `sid` (from /proc/PID/stat)."""
    pids = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()  # after "pid (comm) "
        if int(fields[3]) == sid and fields[0] != "Z":
            pids.append(int(d))
    return pids


def describe(pid: int) -> str:
    try:
        cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
        state = next(ln for ln in Path(f"/proc/{pid}/status").read_text().splitlines()
                     if ln.startswith("State:"))
        wchan = Path(f"/proc/{pid}/wchan").read_text().strip()
        return f"pid {pid} ({cmd}) {state}, wchan {wchan or '-'}"
    except (OSError, StopIteration) as e:
        return f"pid {pid} (gone: {e})"


class Soak:
    """ci/soak as a child process in its own session; a thread reads its output (so a
    child that inherits the pipe cannot block the test); .stop() ends it by PID
    (SIGTERM, then SIGKILL) and kills whatever it left in its session."""

    def __init__(self, cmd: list[str], sigint_ignored: bool = False):
        # sigint_ignored: start it as CI does (a background job of a non-interactive
        # shell inherits SIGINT ignored), which Ctrl-C handling must not depend on.
        self.proc = subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1,
            start_new_session=True,
            preexec_fn=(lambda: signal.signal(signal.SIGINT, signal.SIG_IGN)) if sigint_ignored
            else None)
        self.lines: list[str] = []
        self.cond = threading.Condition()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            with self.cond:
                self.lines.append(line)
                self.cond.notify_all()
        with self.cond:
            self.eof = True
            self.cond.notify_all()

    eof = False

    def wait_for(self, pattern: str, timeout: float = 30) -> str:
        deadline = time.monotonic() + timeout
        seen = 0
        with self.cond:
            while True:
                for line in self.lines[seen:]:
                    if re.search(pattern, line):
                        return line
                seen = len(self.lines)
                left = deadline - time.monotonic()
                if self.eof or left <= 0:
                    break
                self.cond.wait(left)
        raise AssertionError(f"no line matching {pattern!r} from ci/soak:\n{self.output()}")

    def finish(self, timeout: float = RUN_TIMEOUT) -> int:
        """Waits for ci/soak itself to exit; then nothing it started may be left in its
        session (a client holding its stdout would be a clean-up bug, named here)."""
        rc = self.proc.wait(timeout=timeout)
        left = session_members(self.proc.pid)
        if left:
            info = [describe(pid) for pid in left]
            self._kill(left)
            raise AssertionError(f"ci/soak exited {rc} but left processes behind:\n"
                                 + "\n".join(info) + f"\n{self.output()}")
        self.reader.join(10)
        return rc

    def output(self) -> str:
        with self.cond:
            return "".join(self.lines)

    @staticmethod
    def _kill(pids: list[int]) -> None:
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self._kill(session_members(self.proc.pid))


def test_short_soak_is_flat_and_writes_csv_png_verdict(pfsd_binary, scratch_dir):
    out = scratch_dir / "out"
    r = subprocess.run(soak_cmd(pfsd_binary, out, "--minutes", "0.25", "--interval", "4",
                                "--clients", "3", "--seed", "7"),
                       capture_output=True, text=True, timeout=RUN_TIMEOUT)
    text = r.stdout + r.stderr
    print(text)  # shown with any failure below
    assert r.returncode == 0, text
    assert "ci/soak: PASS" in text and "verdict: FLAT" in text, text
    assert_left_nothing(scratch_of(text))

    with open(out / "soak.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    kinds = [row["kind"] for row in rows]
    assert kinds[0] == "start" and kinds.count("quiet") == 2 and kinds.count("run") >= 3, kinds
    times = [float(row["t_s"]) for row in rows]
    assert times == sorted(times) and 14 <= times[-1] <= 40, times
    for row in rows:
        # (the start sample may be taken while the freshly forked server is still tiny)
        assert 3 <= int(row["fds"]) < 5000 and 0 < int(row["rss_kib"]) < 1024 * 1024, row
        assert row["kind"] == "start" or int(row["rss_kib"]) >= 512, row
        assert 1 <= int(row["threads"]) < 100 and int(row["errors"]) == 0, row
        if row["kind"] == "run":
            assert float(row["ops_per_s"]) > 10, row
    quiet = [int(row["fds"]) for row in rows if row["kind"] == "quiet"]
    busiest = max(int(row["fds"]) for row in rows if row["kind"] == "run")
    # The quiet samples really are quiet: the inode fds pfsd held under load are gone.
    assert max(quiet) < busiest, (quiet, busiest)
    assert int(rows[-1]["ops"]) > 100, rows[-1]

    png = (out / "soak.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000, len(png)

    summary = json.loads((out / "summary.json").read_text())
    assert summary["ok"] and summary["flat"] and summary["errors"] == 0, summary
    assert summary["tree_problems"] == [] and summary["pfsd_exit_status"] == 0, summary
    assert summary["drop_caches_error"] is None, summary
    assert summary["races"] > 0, "the clients never raced on shared/: the load is too tame"
    for i in range(3):
        c = json.loads((out / f"client-{i}.json").read_text())
        assert c["errors"] == 0 and c["tree_problems"] == [], c
        # Every kind of operation ran in this short run.
        assert {"create", "write", "read", "rename", "link", "symlink", "setxattr",
                "truncate", "fsync", "hold", "s_create", "s_rename"} <= set(c["op_counts"]), c


def test_soak_fails_when_the_tree_changes_behind_the_clients(pfsd_binary, scratch_dir):
    s = Soak(soak_cmd(pfsd_binary, scratch_dir / "out", "--minutes", "0.1", "--interval", "2",
                      "--clients", "2", "--seed", "3"))
    try:
        s.wait_for(r"^\s*[\d.]+\s+run\s")
        base = scratch_of(s.output())
        (base / "shared" / "c0" / "intruder").write_bytes(b"not made by client 0")
        rc = s.finish()
    finally:
        s.stop()
    text = s.output()
    assert rc == 1, text
    assert "intruder" in text and "ci/soak: FAIL" in text, text
    assert_left_nothing(base)


@pytest.mark.parametrize("sigint_ignored", [False, True], ids=["sigint-default", "sigint-ignored"])
def test_soak_cleans_up_on_ctrl_c(pfsd_binary, scratch_dir, sigint_ignored):
    s = Soak(soak_cmd(pfsd_binary, scratch_dir / "out", "--minutes", "1", "--interval", "2",
                      "--clients", "2"), sigint_ignored=sigint_ignored)
    try:
        s.wait_for(r"^\s*[\d.]+\s+run\s")
        base = scratch_of(s.output())
        s.proc.send_signal(signal.SIGINT)
        rc = s.finish(timeout=120)
    finally:
        s.stop()
    text = s.output()
    assert rc == 1 and "interrupted" in text, text  # not a full minute's run (rc 0)
    assert "pfsd exited with status" not in text, text  # pfsd stopped cleanly on SIGTERM
    assert_left_nothing(base)


def test_soak_vm_option_says_not_implemented():
    r = subprocess.run([str(SOAK), "--vm", "--minutes", "1"], capture_output=True, text=True,
                       timeout=30)
    assert r.returncode == 2 and "--vm is not implemented" in r.stderr, r


def test_model_write_of_nothing_past_the_end_keeps_the_size(tmp_path):
    # What the kernel does (a zero-length pwrite past EOF does not extend the file),
    # checked on a real file, and the clients' model must agree (a 10-minute soak
    # once reported "read 28459 bytes, want 30122" from exactly this).
    f = tmp_path / "f"
    f.write_bytes(b"x" * 10)
    fd = os.open(f, os.O_WRONLY)
    try:
        assert os.pwrite(fd, b"", 100) == 0
    finally:
        os.close(fd)
    assert f.stat().st_size == 10
    m = Model()
    m.create("f", b"x" * 10)
    m.write("f", 100, b"")
    assert len(m.inode_of("f").data) == 10
    m.write("f", 12, b"ab")
    assert bytes(m.inode_of("f").data) == b"x" * 10 + b"\0\0ab"


def test_a_client_dies_with_ci_soak(tmp_path):
    # ci/soak killed outright (SIGKILL: no clean-up runs) must not leave a client behind
    # holding its stdout: each client asks the kernel for SIGKILL when its parent dies.
    script = tmp_path / "parent.py"
    script.write_text(f"""
import os, sys, time
sys.path.insert(0, {str(REPO_ROOT / 'ci')!r})
from soaklib.load import die_with_parent
parent = os.getpid()
child = os.fork()
if child == 0:
    die_with_parent(parent)
    time.sleep(600)
    os._exit(0)
print(child, flush=True)
time.sleep(600)
""")
    parent = subprocess.Popen(["/usr/bin/python3", str(script)], stdout=subprocess.PIPE,
                              text=True, start_new_session=True)
    child = None
    try:
        child = int(parent.stdout.readline())
        time.sleep(0.5)  # the child has called prctl by now (or is about to: either works)
        assert sorted(session_members(parent.pid)) == sorted([parent.pid, child]), describe(child)
        parent.kill()
        parent.wait(timeout=10)
        deadline = time.monotonic() + 10
        while child in session_members(parent.pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert child not in session_members(parent.pid), \
            f"the client outlived its parent: {describe(child)}"
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait(timeout=10)
        Soak._kill(session_members(parent.pid))
