"""A canary tree outside the shared directory: what an escape would read or change.

The escape suite puts one beside the share (`<base>/escape-canary`, where `..` of
the share leads) and, after every attack, asks whether anything about it changed:
owner, mode, size, contents, times, xattrs, the names in it, and (through inotify)
whether anything so much as opened or read it. inotify sees opens and reads made by
any process, pfsd's included, so "nothing opened it" is checked, not assumed.

    canary = Canary(base / "escape-canary")
    ... attack ...
    canary.check("symlink out, opened")      # AssertionError naming what changed
    canary.close()

`reached(case)` is the same test returning a bool, for the runs that expect the
canary to be reached (a planted core bug with --sandbox none).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import os
import shutil
import stat
import struct
from pathlib import Path

SECRET = b"escape-canary secret 7f3a9c: if a guest can read this, the share leaked\n"

_libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)

IN_ACCESS = 0x1
IN_MODIFY = 0x2
IN_ATTRIB = 0x4
IN_CLOSE_WRITE = 0x8
IN_OPEN = 0x20
IN_MOVED_FROM = 0x40
IN_MOVED_TO = 0x80
IN_CREATE = 0x100
IN_DELETE = 0x200
IN_DELETE_SELF = 0x400
IN_MOVE_SELF = 0x800
IN_NONBLOCK = 0o4000
IN_CLOEXEC = 0o2000000
_WATCHED = (IN_ACCESS | IN_MODIFY | IN_ATTRIB | IN_CLOSE_WRITE | IN_OPEN | IN_MOVED_FROM
            | IN_MOVED_TO | IN_CREATE | IN_DELETE | IN_DELETE_SELF | IN_MOVE_SELF)
_NAMES = {IN_ACCESS: "ACCESS", IN_MODIFY: "MODIFY", IN_ATTRIB: "ATTRIB",
          IN_CLOSE_WRITE: "CLOSE_WRITE", IN_OPEN: "OPEN", IN_MOVED_FROM: "MOVED_FROM",
          IN_MOVED_TO: "MOVED_TO", IN_CREATE: "CREATE", IN_DELETE: "DELETE",
          IN_DELETE_SELF: "DELETE_SELF", IN_MOVE_SELF: "MOVE_SELF"}

# The tree: name -> (kind, mode, contents). Owned by uid/gid 4242 so a chown shows.
_OWNER = 4242
_LAYOUT = {
    "secret": ("file", 0o600, SECRET),
    "public": ("file", 0o644, b"public canary file\n"),
    "sub": ("dir", 0o700, None),
    "sub/inner": ("file", 0o640, SECRET),
}


class Canary:
    def __init__(self, root: Path):
        self.root = Path(root)
        if self.root.exists():
            shutil.rmtree(self.root)
        self.root.mkdir(mode=0o755)
        for rel, (kind, mode, data) in _LAYOUT.items():
            p = self.root / rel
            if kind == "dir":
                p.mkdir()
            else:
                p.write_bytes(data)
            os.chmod(p, mode)
            os.setxattr(p, "user.canary", b"untouched")
            os.chown(p, _OWNER, _OWNER)
        os.chown(self.root, _OWNER, _OWNER)
        self._fd = _libc.inotify_init1(IN_NONBLOCK | IN_CLOEXEC)
        if self._fd < 0:
            e = ctypes.get_errno()
            raise OSError(e, f"inotify_init1: {os.strerror(e)}")
        self._wd = {}
        for p in [self.root, *(self.root / r for r, v in _LAYOUT.items())]:
            wd = _libc.inotify_add_watch(self._fd, str(p).encode(), _WATCHED)
            if wd < 0:
                e = ctypes.get_errno()
                raise OSError(e, f"inotify_add_watch {p}: {os.strerror(e)}")
            self._wd[wd] = p
        self._baseline = self._snapshot()
        self._drain()  # our own set-up and snapshot reads

    # -- observation
    def _snapshot(self) -> dict:
        snap = {}
        for dirpath, dirnames, filenames in os.walk(self.root):
            for name in [*dirnames, *filenames, ""]:
                p = Path(dirpath, name) if name else Path(dirpath)
                rel = str(p.relative_to(self.root))
                if rel in snap:
                    continue
                st = os.lstat(p)
                try:
                    xattrs = {k: os.getxattr(p, k, follow_symlinks=False)
                              for k in sorted(os.listxattr(p, follow_symlinks=False))}
                except OSError as e:
                    xattrs = {"<error>": str(e)}
                entry = {"mode": oct(st.st_mode), "uid": st.st_uid, "gid": st.st_gid,
                         "size": st.st_size, "nlink": st.st_nlink, "ino": st.st_ino,
                         "mtime": st.st_mtime_ns, "ctime": st.st_ctime_ns, "xattrs": xattrs}
                if stat.S_ISREG(st.st_mode):
                    with open(p, "rb") as f:
                        entry["data"] = f.read()
                snap[rel] = entry
        return snap

    def _drain(self) -> list[str]:
        events = []
        while True:
            try:
                buf = os.read(self._fd, 65536)
            except BlockingIOError:
                return events
            off = 0
            while off + 16 <= len(buf):
                wd, mask, _cookie, nlen = struct.unpack_from("iIII", buf, off)
                name = buf[off + 16:off + 16 + nlen].rstrip(b"\0").decode(errors="replace")
                off += 16 + nlen
                what = "|".join(n for bit, n in _NAMES.items() if mask & bit) or hex(mask)
                where = self._wd.get(wd, Path("?"))
                events.append(f"{what} {where / name if name else where}")

    def changes(self) -> list[str]:
        """Everything that happened to the canary since it was made (or last accepted)."""
        # Events first: the snapshot below reads the files and makes its own.
        found = [f"inotify: {e}" for e in dict.fromkeys(self._drain())]
        now = self._snapshot()
        self._drain()
        for rel in sorted(set(self._baseline) | set(now)):
            before, after = self._baseline.get(rel), now.get(rel)
            if before is None:
                found.append(f"new entry: {rel}")
            elif after is None:
                found.append(f"gone: {rel}")
            else:
                for k in before:
                    if before[k] != after[k]:
                        found.append(f"{rel}: {k} {before[k]!r} -> {after[k]!r}")
        return found

    def check(self, case: str) -> None:
        found = self.changes()
        assert not found, f"escape: the canary outside the share changed ({case}):\n  " + \
            "\n  ".join(found)

    def reached(self, case: str) -> bool:
        del case
        return bool(self.changes())

    def reset_events(self) -> None:
        self._drain()

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> "Canary":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def must_fail(fn, *args, allowed=None, **kw) -> int:
    """Runs an attack step that must fail; returns its errno (any errno, or one of
    `allowed`). A step that succeeds is returned as 0 for the caller to judge: most
    attacks may 'succeed' harmlessly inside the share, the canary is the verdict."""
    try:
        fn(*args, **kw)
    except OSError as e:
        if allowed is not None and e.errno not in allowed:
            raise AssertionError(f"{fn.__name__}{args}: errno {errno.errorcode.get(e.errno)} "
                                 f"not in {[errno.errorcode[a] for a in allowed]}") from e
        return e.errno
    return 0
