"""/proc of the serving pfsd process (the leaf of supervisor -> [pid 1 ->] server when
confined): open fds, VmRSS, threads. And a quiet sample: with the clients paused, drop
the kernel's unused dentries and inodes (vm.drop_caches=2), so the kernel FORGETs every
inode under the mount and pfsd's inode fds fall back to its floor; what is left then is
what pfsd keeps on its own, comparable across the run whatever the tree holds."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass


@dataclass
class Proc:
    fds: int
    rss_kib: int
    threads: int


def read_proc(pid: int) -> Proc:
    fds = len(os.listdir(f"/proc/{pid}/fd"))
    rss = threads = -1
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1])
            elif line.startswith("Threads:"):
                threads = int(line.split()[1])
    return Proc(fds, rss, threads)


def drop_dentries() -> str | None:
    """Writes 2 to /proc/sys/vm/drop_caches (dentries and inodes; not the page cache).
    Returns None, or why it could not."""
    try:
        with open("/proc/sys/vm/drop_caches", "w") as f:
            f.write("2\n")
        return None
    except OSError as e:
        return str(e)


def quiet_sample(pid: int, settle_s: float = 5.0) -> tuple[Proc, str | None]:
    """Drops dentries, then waits until pfsd's fd count holds still for 0.6 s (FORGETs
    arrive in batches) or settle_s passes. Returns the sample and the drop error."""
    err = drop_dentries()
    deadline = time.monotonic() + settle_s
    last, same_since = read_proc(pid), time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(0.1)
        cur = read_proc(pid)
        if cur.fds != last.fds:
            last, same_since = cur, time.monotonic()
        elif time.monotonic() - same_since >= 0.6:
            return cur, err
    return read_proc(pid), err
