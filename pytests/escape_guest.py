"""The most hostile caller a host mount can have: a "guest" process for the escape suite.

`in_guest(mnt, fn, *args)` forks a child that chroots into the FUSE mountpoint (so an
absolute symlink, or `..` from the top, resolves *inside* the share, as it would in a
VM: the client kernel never walks out to the host's own files and every name it meets
is a LOOKUP that pfsd answers), optionally drops to an unprivileged uid/gid with
setresuid (no supplementary groups), optionally gets its own /proc (new mount and pid
namespaces, procfs mounted on the share's `proc` folder, visible to this child only),
runs fn(*args) there and returns what it returned (pickled back through a pipe).

Attack steps inside use `step(name, fn, ...)`, which records what happened as text
("ok", "ok: <n> bytes", "ENOENT", ...) and keeps any bytes read, so the test can both
print a table and assert that the canary's secret was never among them.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import os
import pickle
import select
import signal
import time

_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
_libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong,
                        ctypes.c_void_p]
_libc.unshare.argtypes = [ctypes.c_int]

CLONE_NEWNS = 0x00020000
CLONE_NEWPID = 0x20000000
MS_REC = 0x4000
MS_PRIVATE = 1 << 18
MS_NOSUID, MS_NODEV, MS_NOEXEC = 2, 4, 8

GUEST_TIMEOUT = 60.0


class Steps:
    """What a guest did: ordered (name, outcome) rows plus every byte string it read."""

    def __init__(self):
        self.rows: list[tuple[str, str]] = []
        self.read: list[bytes] = []

    def step(self, name: str, fn, *args, **kw):
        """Runs fn; records "ok" (with the size when it returned bytes) or the errno
        name; returns fn's value or None."""
        try:
            v = fn(*args, **kw)
        except OSError as e:
            self.rows.append((name, errno.errorcode.get(e.errno, str(e.errno))))
            return None
        except ValueError as e:  # Python's own refusals (e.g. an embedded NUL)
            self.rows.append((name, f"ValueError ({e}) before any syscall"))
            return None
        if isinstance(v, (bytes, bytearray)):
            self.read.append(bytes(v))
            self.rows.append((name, f"ok: {len(v)} bytes"))
        elif v is None:
            self.rows.append((name, "ok"))
        else:
            self.rows.append((name, f"ok: {v!r}"[:160]))
        return v

    def outcome(self, name: str) -> str:
        return dict(self.rows)[name]


def read_file(path, flags=0) -> bytes:
    fd = os.open(path, os.O_RDONLY | flags)
    try:
        out = b""
        while chunk := os.read(fd, 65536):
            out += chunk
        return out
    finally:
        os.close(fd)


def _check(rc: int) -> None:
    if rc != 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))


def _give_proc(mnt: str) -> int | None:
    """New mount + pid namespaces and a fork; in the grandchild (pid 1 of its own pid
    namespace) mounts procfs on <mnt>/proc. Returns the grandchild's pid in the
    middle process, None in the grandchild."""
    _check(_libc.unshare(CLONE_NEWNS | CLONE_NEWPID))
    _check(_libc.mount(b"none", b"/", None, MS_REC | MS_PRIVATE, None))
    pid = os.fork()
    if pid:
        return pid
    _check(_libc.mount(b"proc", os.fsencode(os.path.join(mnt, "proc")), b"proc",
                       MS_NOSUID | MS_NODEV | MS_NOEXEC, None))
    return None


def _child(mnt, fn, args, uid, gid, proc, w) -> int:
    if proc:
        middle = _give_proc(mnt)
        if middle is not None:  # the middle process: wait for the guest, pass its status
            _, status = os.waitpid(middle, 0)
            return os.waitstatus_to_exitcode(status) & 0xFF
    os.chroot(mnt)
    os.chdir("/")
    if uid is not None:
        os.setgroups([])
        os.setresgid(gid, gid, gid)
        os.setresuid(uid, uid, uid)
    try:
        res = ("ok", fn(*args))
    except BaseException as e:  # noqa: BLE001 - reported to the parent, not hidden
        res = ("exc", f"{type(e).__name__}: {e}")
    data = pickle.dumps(res)
    view = memoryview(data)
    while view:
        n = os.write(w, view)
        view = view[n:]
    return 0


def in_guest(mnt, fn, *args, uid: int | None = None, gid: int | None = None,
             proc: bool = False, timeout: float = GUEST_TIMEOUT):
    """fn(*args) in a child chrooted into `mnt` (see the module doc). Returns its
    value; raises AssertionError if it raised, hung or died."""
    mnt = os.fspath(mnt)
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the guest: never returns into pytest
        code = 1
        try:
            os.close(r)
            code = _child(mnt, fn, args, uid, gid if gid is not None else uid, proc, w)
        except BaseException:  # noqa: BLE001
            code = 2
        finally:
            os._exit(code)
    os.close(w)
    chunks, deadline = [], time.monotonic() + timeout
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"guest {fn.__name__} still running after {timeout} s")
            ready, _, _ = select.select([r], [], [], left)
            if not ready:
                continue
            chunk = os.read(r, 1 << 20)
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        os.close(r)
        done, status = os.waitpid(pid, os.WNOHANG)
        if done == 0:
            os.kill(pid, signal.SIGKILL)  # by pid: only the guest we forked
            _, status = os.waitpid(pid, 0)
    code = os.waitstatus_to_exitcode(status)
    if not chunks:
        raise AssertionError(f"guest {fn.__name__} returned nothing (exit status {code})")
    kind, value = pickle.loads(b"".join(chunks))
    if kind != "ok":
        raise AssertionError(f"guest {fn.__name__} raised {value}")
    return value
