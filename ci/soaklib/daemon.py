"""pfsd in host mode on a scratch shared dir + mountpoint, as pytests/conftest.py starts
it, and its teardown: SIGTERM by PID (SIGKILL after a bounded wait), `umount -l` if the
mount is still there, removal of the scratch tree."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO_ROOT / "pytests"))
from proc_stop import serving_pid, stop_by_pid  # noqa: E402  (the suite's own helpers)
from mountinfo import unescape as _unescape  # noqa: E402

MOUNT_TIMEOUT = 10.0
STOP_TIMEOUT = 10.0
KILL_TIMEOUT = 5.0
SERVER_TIMEOUT = 5.0
STABLE_S = 0.3
SCRATCH_PREFIX = "pfs-soak-"


class DaemonError(RuntimeError):
    pass


def fuse_mounted(path: Path) -> bool:
    """Whether a FUSE mount sits on `path` (read from mountinfo: never stats the mount)."""
    want = os.path.abspath(path)
    with open("/proc/self/mountinfo", encoding="utf-8", errors="surrogateescape") as f:
        for line in f:
            pre, _, post = line.rstrip("\n").partition(" - ")
            fields = pre.split(" ")
            if len(fields) >= 5 and _unescape(fields[4]) == want and post.startswith("fuse"):
                return True
    return False


def holds_dev_fuse(pid: int) -> bool:
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return False
    for fd in fds:
        try:
            if os.readlink(f"/proc/{pid}/fd/{fd}") == "/dev/fuse":
                return True
        except OSError:
            pass
    return False


def check_prerequisites() -> list[str]:
    problems = []
    if os.geteuid() != 0:
        problems.append(f"not root (euid {os.geteuid()}): mounting /dev/fuse needs root")
    if not os.path.exists("/dev/fuse"):
        problems.append("/dev/fuse does not exist")
    return problems


class Daemon:
    """One pfsd: .shared (host path), .mnt (mount), .pid (supervisor), .server_pid."""

    def __init__(self, binary: Path, extra_args: list[str]):
        self.binary = Path(binary)
        self.extra_args = list(extra_args)
        self.base = Path(tempfile.mkdtemp(prefix=SCRATCH_PREFIX, dir="/tmp"))
        self.base.chmod(0o755)
        self.shared = self.base / "shared"
        self.mnt = self.base / "mnt"
        self.shared.mkdir(mode=0o755)
        self.mnt.mkdir(mode=0o755)
        self.log_path = self.base / "pfsd.log"
        self.proc: subprocess.Popen | None = None
        self.server_pid: int | None = None
        self.exit_status: int | None = None
        self.sigkilled = False

    def command(self) -> list[str]:
        return [str(self.binary), "--shared-dir", str(self.shared), "--mount", str(self.mnt),
                *self.extra_args]

    def start(self) -> None:
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(self.command(), stdin=subprocess.DEVNULL, stdout=log,
                                         stderr=subprocess.STDOUT, start_new_session=True)
        # start_new_session: a Ctrl-C at the terminal reaches ci/soak only; ci/soak then
        # stops pfsd itself (SIGTERM by PID), so the unmount happens in order.
        deadline = time.monotonic() + MOUNT_TIMEOUT
        while not fuse_mounted(self.mnt):
            if self.proc.poll() is not None:
                raise DaemonError(f"pfsd exited with status {self.proc.returncode} before "
                                  f"mounting\ncommand: {' '.join(self.command())}\n{self.log()}")
            if time.monotonic() > deadline:
                raise DaemonError(f"pfsd did not mount {self.mnt} within {MOUNT_TIMEOUT:.0f} s"
                                  f"\n{self.log()}")
            time.sleep(0.01)
        # The mount appears before the confined chain (supervisor -> pid 1 of the pid
        # namespace -> server) is complete, and pid 1 holds /dev/fuse for a moment
        # before it forks the server: the server is the leaf of the chain that holds
        # /dev/fuse, and stays so (the same answer over STABLE_S).
        deadline = time.monotonic() + SERVER_TIMEOUT
        seen, since = None, time.monotonic()
        while True:
            pid = self.find_server()
            if pid != seen:
                seen, since = pid, time.monotonic()
            elif pid is not None and time.monotonic() - since >= STABLE_S:
                self.server_pid = pid
                return
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise DaemonError(f"no stable pfsd process holding /dev/fuse under pid "
                                  f"{self.proc.pid} within {SERVER_TIMEOUT:.0f} s\n{self.log()}")
            time.sleep(0.02)

    def find_server(self) -> int | None:
        """The leaf of pfsd's process chain if it holds /dev/fuse, else None."""
        if self.proc is None:
            return None
        try:
            pid = serving_pid(self.proc.pid)
        except AssertionError:  # several children: mid-fork
            return None
        return pid if holds_dev_fuse(pid) else None

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self) -> int | None:
        """SIGTERM by PID, bounded wait, SIGKILL as last resort. Returns the exit status."""
        if self.proc is None:
            return self.exit_status
        rc, killed = stop_by_pid(self.proc, signal.SIGTERM, STOP_TIMEOUT, KILL_TIMEOUT)
        self.sigkilled = killed
        self.exit_status = rc
        self.proc = None
        return rc

    def cleanup(self) -> list[str]:
        """Always safe to call (twice too): stop, unmount, remove the scratch tree.
        Returns problems seen (pfsd not exiting 0 on SIGTERM, a mount left behind)."""
        problems = []
        try:
            was_running = self.proc is not None
            rc = self.stop()
            if was_running and rc != 0:
                problems.append(f"pfsd exited with status {rc} on SIGTERM (want 0)"
                                + (" after SIGKILL" if self.sigkilled else ""))
            deadline = time.monotonic() + 3.0
            while fuse_mounted(self.mnt) and time.monotonic() < deadline:
                time.sleep(0.02)
            if was_running and rc == 0 and fuse_mounted(self.mnt):
                problems.append(f"pfsd exited 0 but left {self.mnt} mounted")
        finally:
            for _ in range(5):
                if not fuse_mounted(self.mnt):
                    break
                subprocess.run(["umount", "-l", str(self.mnt)], capture_output=True, timeout=10)
            shutil.rmtree(self.base, ignore_errors=True)
        return problems
