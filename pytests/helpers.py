"""Small helpers shared by the host-mount tests."""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import os
import stat
import subprocess
from pathlib import Path

CMD_TIMEOUT = 60  # seconds: hard limit for any tool run through the mount

NOBODY = 65534
AT_FDCWD = -100
RENAME_NOREPLACE = 1
RENAME_EXCHANGE = 2

_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
_libc.renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p,
                            ctypes.c_uint]
_libc.renameat2.restype = ctypes.c_int


def renameat2(old, new, flags: int) -> None:
    """renameat2(2) through ctypes (os has no renameat2); raises OSError."""
    rc = _libc.renameat2(AT_FDCWD, os.fsencode(old), AT_FDCWD, os.fsencode(new), flags)
    if rc != 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e), str(old), None, str(new))


def run(cmd, check=False, timeout=CMD_TIMEOUT, **kw) -> subprocess.CompletedProcess:
    cmd = [str(c) for c in cmd]
    p = subprocess.run(cmd, capture_output=True, text=True, errors="surrogateescape",
                       timeout=timeout, **kw)
    if check and p.returncode != 0:
        raise AssertionError(f"{cmd} exited {p.returncode}\nstdout: {p.stdout}\nstderr: {p.stderr}")
    return p


def run_ok(cmd, **kw) -> subprocess.CompletedProcess:
    return run(cmd, check=True, **kw)


def as_nobody(cmd) -> list[str]:
    return ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups",
            *[str(c) for c in cmd]]


def errno_of(fn, *args, **kw) -> int:
    """0 if fn(*args) succeeds, else the OSError's errno."""
    try:
        fn(*args, **kw)
    except OSError as e:
        return e.errno
    return 0


def ename(e: int) -> str:
    return "OK" if e == 0 else errno.errorcode.get(e, str(e))


def stat_view(st: os.stat_result, with_atime=True) -> dict:
    """The stat fields that must match between the mount and the host."""
    d = {
        "mode": stat.filemode(st.st_mode),
        "nlink": st.st_nlink,
        "uid": st.st_uid,
        "gid": st.st_gid,
        "size": st.st_size,
        "mtime_ns": st.st_mtime_ns,
        "ctime_ns": st.st_ctime_ns,
        "ino": st.st_ino,
    }
    if with_atime:
        d["atime_ns"] = st.st_atime_ns
    if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
        d["rdev"] = st.st_rdev
    return d


def write_bytes(path, data: bytes) -> None:
    with open(path, "wb") as f:
        f.write(data)


def read_bytes(path) -> bytes:
    with open(path, "rb") as f:
        return f.read()


def tree_listing(root: Path) -> dict:
    """{relative path: (kind, size-or-target)} for a whole tree, without following links."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            st = p.lstat()
            rel = str(p.relative_to(root))
            if stat.S_ISLNK(st.st_mode):
                out[rel] = ("link", os.readlink(p))
            elif stat.S_ISDIR(st.st_mode):
                out[rel] = ("dir", stat.S_IMODE(st.st_mode))
            elif stat.S_ISREG(st.st_mode):
                out[rel] = ("file", stat.S_IMODE(st.st_mode), read_bytes(p))
            else:
                out[rel] = (stat.filemode(st.st_mode),)
    return out
