"""Adversarial race through the host mount: pfsd on /dev/fuse, the real kernel client.

A hostile client works on one directory of the share ("arena") from two sides:

* a victim, an unprivileged process (uid 1234, through `setpriv`), doing mkdir/rmdir
  in a loop through pfsd's mount;
* a swapper (a thread here) listing the arena without pause and, for every hidden
  `.XXXXXX` name it sees (pfsd's mkdir builds the new directory under such a name,
  then renames it into place), swapping in a symlink to a canary directory outside
  the share with renameat2(RENAME_EXCHANGE).

The swapper goes through a second pfsd mount of the same shared directory (as a
second guest sharing it would): through the victim's own mount it cannot race at all,
because the client kernel holds the directory's lock across the whole MKDIR request,
and READDIR and RENAME2 in that directory wait for it. (A guest's kernel is hostile
and need not hold any lock; the ctest race_adversary_test sends raw requests for that.)

If pfsd opens its temp name again by name, following a symlink, and gives what it
opened to the caller (fchown), the canary outside the share changes owner. The
canary is owned by uid 4242 (neither root nor the victim), mode 0700, with a file and
xattrs in it, and must be exactly as it was afterwards. Bounded: RACE_SECONDS and
MAX_STEPS; the victim stops as soon as it sees the canary changed (the time to failure
is printed). The fixture unmounts both, stops each pfsd by PID and removes the scratch
trees; the test removes what the race left in the share.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import threading
import time

import pytest

from helpers import RENAME_EXCHANGE, renameat2
from proc_stop import serving_pid

pytestmark = pytest.mark.host

RACE_SECONDS = 15.0
MAX_STEPS = 20000
# Every thread of the race (both pfsds' workers, the victim, the swapper) on one CPU:
# they interleave at each preemption, as on a loaded host, and the window of a few
# instructions is found within seconds. PFS_RACE_ALL_CPUS=1 races on every CPU.
PIN_CPUS = (None if os.environ.get("PFS_RACE_ALL_CPUS") == "1"
            else {min(os.sched_getaffinity(0))})
# The swapper sleeps this long between listings: the timer that ends the sleep wakes
# it at an arbitrary point of pfsd's work, and the wakeup preempts pfsd there. (A busy
# loop hands over only at request boundaries.)
PAUSE = 20e-6
VICTIM_UID = VICTIM_GID = 1234
CANARY_UID = CANARY_GID = 4242
CANARY_CONTENTS = b"canary: nothing outside the share may change\n"

# The victim's loop, run as uid 1234. argv: arena, canary dir, seconds, max steps.
# Prints "steps <n> changed_after <seconds or -1> made <mkdirs that worked>".
VICTIM = r"""
import errno, os, sys, time
arena, canary, seconds, max_steps = sys.argv[1], sys.argv[2], float(sys.argv[3]), int(sys.argv[4])
start = time.monotonic()
steps, changed, made = 0, -1.0, 0
while steps < max_steps and time.monotonic() - start < seconds:
    name = os.path.join(arena, "d%d" % (steps % 4))
    try:
        os.mkdir(name, 0o750)
        made += 1
    except OSError:
        pass
    try:
        os.rmdir(name)
    except NotADirectoryError:
        os.unlink(name)
    except OSError:
        pass
    steps += 1
    st = os.lstat(canary)
    if (st.st_uid, st.st_gid) != (CANARY_UID, CANARY_GID):
        changed = time.monotonic() - start
        break
print("steps", steps, "changed_after", changed, "made", made, flush=True)
""".replace("CANARY_UID", str(CANARY_UID)).replace("CANARY_GID", str(CANARY_GID))


def _is_temp_name(name: str) -> bool:
    return len(name) == 7 and name[0] == "." and name[1:].isalnum() and name[1:].isascii()


def _canary_view(canary) -> dict:
    """Owner, mode, contents and xattrs of the canary dir and its file."""
    view = {}
    for p in (canary, canary / "secret"):
        st = os.lstat(p)
        xattrs = {n: os.getxattr(p, n, follow_symlinks=False)
                  for n in sorted(os.listxattr(p, follow_symlinks=False))}
        view[p.name] = (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode), st.st_nlink, xattrs)
    view["contents"] = (canary / "secret").read_bytes()
    view["names"] = sorted(os.listdir(canary))
    return view


def _make_canary(canary) -> None:
    canary.mkdir(mode=0o700)
    (canary / "secret").write_bytes(CANARY_CONTENTS)
    os.chmod(canary / "secret", 0o600)
    os.setxattr(canary / "secret", "user.canary", b"file")
    os.setxattr(canary, "user.canary", b"dir")
    os.chown(canary / "secret", CANARY_UID, CANARY_GID)
    os.chown(canary, CANARY_UID, CANARY_GID)
    os.chmod(canary, 0o700)


class Swapper:
    """Lists the arena and swaps hidden names with symlinks to the canary."""

    def __init__(self, arena, stash, canary):
        self.arena, self.stash, self.target = arena, stash, str(canary)
        self.stop = threading.Event()
        self.rounds = self.hidden_seen = self.swaps = 0
        self.errors: list[str] = []
        self._next = 0
        self._link = None

    def _ready_link(self):
        if self._link is None:
            self._link = self.stash / f"l{self._next}"
            self._next += 1
            os.symlink(self.target, self._link)
        return self._link

    def run(self) -> None:
        try:
            if PIN_CPUS is not None:
                os.sched_setaffinity(0, PIN_CPUS)  # this thread
            while not self.stop.is_set():
                self.rounds += 1
                try:
                    # d_type from READDIR: no extra request per name.
                    names = [e.name for e in os.scandir(self.arena)
                             if _is_temp_name(e.name) and not e.is_symlink()]
                except OSError:
                    continue
                for name in names:
                    self.hidden_seen += 1
                    try:
                        renameat2(self._ready_link(), self.arena / name, RENAME_EXCHANGE)
                    except OSError:
                        continue  # gone already (renamed into place, or removed)
                    self._link = None  # that link is in the arena now
                    self.swaps += 1
                time.sleep(PAUSE)
        except Exception as e:  # noqa: BLE001 - reported by the test, never lost in a thread
            self.errors.append(repr(e))


def _pin_process(pid: int, cpus: set[int]) -> None:
    """Every thread of `pid` (pfsd's workers included) onto `cpus`."""
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            os.sched_setaffinity(int(tid), cpus)
        except ProcessLookupError:
            pass  # the thread ended


def _remove_tree_contents(path) -> None:
    """Removes what the race left in `path` (never following a symlink)."""
    for root, dirs, files in os.walk(path, topdown=False):
        for n in files:
            os.unlink(os.path.join(root, n))
        for n in dirs:
            p = os.path.join(root, n)
            if os.path.islink(p):
                os.unlink(p)
            else:
                os.rmdir(p)


def test_mkdir_race_never_reaches_outside_the_share(pfsd_factory):
    # --allow-other: the victim is an unprivileged user (the kernel then checks
    # permissions itself: default_permissions comes with it).
    d = pfsd_factory("--cache", "never", "--allow-other", name="victim's mount")
    # The swapper's own mount of the same shared dir (see the module docstring).
    e = pfsd_factory("--cache", "never", start=False, name="swapper's mount")
    e.shared = d.shared
    e.start()
    canary = d.base / "canary"  # beside the shared dir, outside it
    _make_canary(canary)
    for name in ("arena", "stash"):
        d.h(name).mkdir(mode=0o755)
        os.chown(d.h(name), VICTIM_UID, VICTIM_GID)
    before = _canary_view(canary)
    old_mask = os.sched_getaffinity(0)
    if PIN_CPUS is not None:
        _pin_process(serving_pid(d.proc.pid), PIN_CPUS)
        _pin_process(serving_pid(e.proc.pid), PIN_CPUS)

    swapper = Swapper(e.m("arena"), e.m("stash"), canary)
    thread = threading.Thread(target=swapper.run, name="swapper", daemon=True)
    victim = None
    start = time.monotonic()
    try:
        if PIN_CPUS is not None:
            os.sched_setaffinity(0, PIN_CPUS)  # inherited by the victim
        thread.start()
        victim = subprocess.Popen(
            ["setpriv", f"--reuid={VICTIM_UID}", f"--regid={VICTIM_GID}", "--clear-groups",
             sys.executable, "-c", VICTIM, str(d.m("arena")), str(canary), str(RACE_SECONDS),
             str(MAX_STEPS)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        out, err = victim.communicate(timeout=RACE_SECONDS + 30)
    finally:
        os.sched_setaffinity(0, old_mask)
        if victim is not None and victim.poll() is None:
            victim.kill()  # by PID
            victim.wait(timeout=10)
        swapper.stop.set()
        thread.join(timeout=30)
        after = _canary_view(canary)
        cleanup_error = None
        try:
            _remove_tree_contents(d.h("arena"))
            _remove_tree_contents(d.h("stash"))
        except OSError as err:
            cleanup_error = err
    elapsed = time.monotonic() - start
    assert not thread.is_alive(), "the swapper thread did not stop"
    assert victim.returncode == 0, f"victim exited {victim.returncode}: {err}"
    fields = out.split()
    steps, changed_after, made = int(fields[1]), float(fields[3]), int(fields[5])
    print(f"[ race ] mkdir through the host mount: {steps} steps ({made} mkdirs) in "
          f"{elapsed:.2f} s; "
          f"swapper: {swapper.rounds} listings, {swapper.hidden_seen} hidden names seen, "
          f"{swapper.swaps} swaps"
          + (f"; CANARY CHANGED after {changed_after * 1000:.0f} ms" if changed_after >= 0 else ""))

    assert cleanup_error is None, f"could not remove what the race left: {cleanup_error}"
    assert swapper.errors == []
    assert after == before, (
        "the canary outside the share changed: pfsd's mkdir followed a swapped-in symlink "
        f"out of the share\nbefore: {before}\nafter:  {after}")
    # The race must really have run, or this test could not fail.
    assert made > 0, "no mkdir of the victim worked: the race never ran"
    assert swapper.hidden_seen > 0, "the swapper never saw a hidden name: the race never ran"
