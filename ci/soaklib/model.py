"""What one client believes its own subtree holds: directories, names, inodes (data and
user.* xattrs, shared by hard links) and symlink targets. Paths are relative to the
client's root ('' is the root). Names come from small fixed pools, so the tree (and the
number of inodes the kernel can hold on pfsd) stays bounded however long the run."""

from __future__ import annotations

import posixpath
from dataclasses import dataclass, field

FILE_NAMES = [f"f{i}" for i in range(12)]
LINK_NAMES = [f"l{i}" for i in range(4)]
DIR_NAMES = [f"d{i}" for i in range(3)]
MAX_DEPTH = 2  # root at depth 0; directories at depth 1 and 2


@dataclass
class Inode:
    data: bytearray = field(default_factory=bytearray)
    xattrs: dict = field(default_factory=dict)  # name -> bytes


@dataclass
class Entry:
    kind: str  # "file" | "symlink" | "dir"
    ino: int = 0  # for files
    target: str = ""  # for symlinks


def depth(path: str) -> int:
    return 0 if path == "" else path.count("/") + 1


class Model:
    def __init__(self):
        self.entries: dict[str, Entry] = {"": Entry("dir")}
        self.inodes: dict[int, Inode] = {}
        self._next_ino = 1

    # -- queries
    def paths(self, kind: str) -> list[str]:
        return sorted(p for p, e in self.entries.items() if e.kind == kind)

    def children(self, d: str) -> set[str]:
        return {posixpath.basename(p) for p in self.entries
                if p != "" and posixpath.dirname(p) == d}

    def nlink(self, ino: int) -> int:
        return sum(1 for e in self.entries.values() if e.kind == "file" and e.ino == ino)

    def free_names(self, d: str, pool: list[str]) -> list[str]:
        used = self.children(d)
        return [join(d, n) for n in pool if n not in used]

    def empty_dirs(self) -> list[str]:
        return [d for d in self.paths("dir") if d != "" and not self.children(d)]

    def inode_of(self, path: str) -> Inode:
        return self.inodes[self.entries[path].ino]

    # -- changes (called after the real operation succeeded)
    def create(self, path: str, data: bytes) -> None:
        ino = self._next_ino
        self._next_ino += 1
        self.inodes[ino] = Inode(bytearray(data))
        self.entries[path] = Entry("file", ino=ino)

    def write(self, path: str, off: int, data: bytes) -> None:
        buf = self.inode_of(path).data
        if not data:  # a write of nothing changes nothing, not even past the end (POSIX)
            return
        if off > len(buf):
            buf.extend(bytes(off - len(buf)))
        buf[off:off + len(data)] = data

    def truncate(self, path: str, size: int) -> None:
        buf = self.inode_of(path).data
        if size < len(buf):
            del buf[size:]
        else:
            buf.extend(bytes(size - len(buf)))

    def link(self, src: str, dst: str) -> None:
        self.entries[dst] = Entry("file", ino=self.entries[src].ino)

    def symlink(self, path: str, target: str) -> None:
        self.entries[path] = Entry("symlink", target=target)

    def mkdir(self, path: str) -> None:
        self.entries[path] = Entry("dir")

    def remove(self, path: str) -> None:
        """unlink or rmdir; drops the inode with its last name (an open fd may still
        hold it, but nothing checks it any more)."""
        e = self.entries.pop(path)
        if e.kind == "file" and self.nlink(e.ino) == 0:
            del self.inodes[e.ino]

    def rename(self, src: str, dst: str) -> None:
        """rename(2): dst (a file or symlink, or absent) is replaced; a directory moves
        with everything under it. Two names of one inode: rename(2) does nothing."""
        if src == dst:
            return
        a, b = self.entries.get(src), self.entries.get(dst)
        if a is not None and b is not None and a.kind == b.kind == "file" and a.ino == b.ino:
            return
        if dst in self.entries:
            self.remove(dst)
        moved = {p: e for p, e in self.entries.items() if p == src or p.startswith(src + "/")}
        for p in moved:
            del self.entries[p]
        for p, e in moved.items():
            self.entries[dst + p[len(src):]] = e


def join(d: str, name: str) -> str:
    return name if d == "" else f"{d}/{name}"
