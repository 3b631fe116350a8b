"""Stopping a child process by PID, bounded: shared by the host-mount fixtures
(conftest.py) and the VM harness (vm_harness.py)."""

from __future__ import annotations

import os
import signal
import subprocess
import time


def stop_by_pid(proc: subprocess.Popen, sig: int = signal.SIGTERM, timeout: float = 10.0,
                kill_timeout: float = 5.0) -> tuple[int | None, bool]:
    """Send `sig` to proc unless it has already exited, wait up to `timeout`, then SIGKILL
    and wait up to `kill_timeout`. Returns (exit status as Popen reports it, whether
    SIGKILL was needed)."""
    if proc.poll() is not None:
        return proc.returncode, False
    try:
        os.kill(proc.pid, sig)
    except ProcessLookupError:
        pass
    try:
        proc.wait(timeout=timeout)
        return proc.returncode, False
    except subprocess.TimeoutExpired:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=kill_timeout)
        return proc.returncode, True


def descendants(pid: int) -> list[int]:
    """pid's children, grandchildren, ... as /proc lists them now (a sandboxed pfsd is a
    chain: supervisor -> pid 1 of its pid namespace -> server)."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        try:
            with open(f"/proc/{p}/task/{p}/children") as f:
                kids = [int(x) for x in f.read().split()]
        except OSError:
            continue
        out += kids
        todo += kids
    return out


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except OSError:
        return False


def wait_gone(pids: list[int], timeout: float = 5.0) -> list[int]:
    """Waits until none of pids runs any more (zombies count as gone). Returns the ones
    still running at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        left = [p for p in pids if _alive(p)]
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.01)


def status_fields(pid: int) -> dict:
    """/proc/PID/status as a dict of its fields."""
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            out[k] = v.strip()
    return out


def _leaf(pid: int) -> int:
    for _ in range(3):
        try:
            with open(f"/proc/{pid}/task/{pid}/children") as f:
                kids = [int(x) for x in f.read().split()]
        except OSError:
            return pid
        if len(kids) != 1:
            assert not kids, f"pfsd process {pid} has several children: {kids}"
            return pid
        pid = kids[0]
    return pid


def serving_pid(pid: int, timeout: float = 10.0) -> int:
    """The process that serves requests: pid itself when pfsd is unconfined, else the
    leaf of its chain (supervisor -> [pid 1 of the sandbox's pid namespace ->] server).

    The mount (or the listening socket) exists before pfsd confines itself, so the
    chain may still be growing: wait until its leaf is the server, the process that
    has set no_new_privs (pfsd does so once, after the sandbox step) and is not pid 1
    of a pid namespace (which sets it too, after forking the server)."""
    deadline = time.monotonic() + timeout
    while True:
        leaf = _leaf(pid)
        try:
            st = status_fields(leaf)
            ready = st.get("NoNewPrivs") == "1" and st.get("NSpid", "").split()[-1:] != ["1"]
        except OSError:
            ready = False
        if ready or time.monotonic() > deadline:
            return leaf
        time.sleep(0.01)


