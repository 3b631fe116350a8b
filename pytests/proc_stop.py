"""Stopping a child process by PID, bounded: shared by the host-mount fixtures
(conftest.py) and the VM harness (vm_harness.py)."""

from __future__ import annotations

import os
import signal
import subprocess


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
