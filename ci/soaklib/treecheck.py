"""The end check that the tree is consistent:
- check_model: a client's own subtree, read through the mount, is exactly what the
  client believes (the same names, kinds, sizes, data, link counts, hard links sharing
  an inode, symlink targets, user.* xattrs);
- compare_trees: the whole share read through the mount is what the host's shared dir
  holds (names, kinds, sizes, data digests, symlink targets, link counts)."""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

from .model import Model

MAX_PROBLEMS = 20


def _kind(mode: int) -> str:
    if stat.S_ISREG(mode):
        return "file"
    if stat.S_ISDIR(mode):
        return "dir"
    if stat.S_ISLNK(mode):
        return "symlink"
    return f"mode {mode:o}"


def _walk(root: Path) -> list[str]:
    """Every path under root, relative, '' for root itself (never follows symlinks)."""
    out = [""]
    for dirpath, dirnames, filenames in os.walk(root):
        rel = os.path.relpath(dirpath, root)
        rel = "" if rel == "." else rel
        for n in dirnames + filenames:
            out.append(n if rel == "" else f"{rel}/{n}")
    return out


def _user_xattrs(path: Path) -> dict:
    return {n: os.getxattr(path, n) for n in os.listxattr(path) if n.startswith("user.")}


def check_model(root: Path, model: Model) -> list[str]:
    problems: list[str] = []

    def bad(msg: str) -> None:
        if len(problems) < MAX_PROBLEMS:
            problems.append(msg)

    try:
        actual = set(_walk(root))
    except OSError as e:
        return [f"walking {root}: {e}"]
    expected = set(model.entries)
    for p in sorted(actual - expected):
        bad(f"{p}: exists but the client removed it or never made it")
    for p in sorted(expected - actual):
        bad(f"{p}: missing ({model.entries[p].kind})")
    inos: dict[int, int] = {}  # model inode -> st_ino
    for p in sorted(expected & actual):
        e = model.entries[p]
        full = root / p if p else root
        try:
            st = os.lstat(full)
            if _kind(st.st_mode) != e.kind:
                bad(f"{p}: is a {_kind(st.st_mode)}, want {e.kind}")
                continue
            if e.kind == "symlink":
                t = os.readlink(full)
                if t != e.target:
                    bad(f"{p}: symlink to {t!r}, want {e.target!r}")
            elif e.kind == "file":
                node = model.inodes[e.ino]
                if st.st_size != len(node.data):
                    bad(f"{p}: size {st.st_size}, want {len(node.data)}")
                elif Path(full).read_bytes() != node.data:
                    bad(f"{p}: data differs (size {st.st_size} right)")
                if st.st_nlink != model.nlink(e.ino):
                    bad(f"{p}: nlink {st.st_nlink}, want {model.nlink(e.ino)}")
                if inos.setdefault(e.ino, st.st_ino) != st.st_ino:
                    bad(f"{p}: a hard link with its own inode {st.st_ino}")
                xa = _user_xattrs(full)
                if xa != node.xattrs:
                    bad(f"{p}: user xattrs {sorted(xa)}, want {sorted(node.xattrs)}")
        except OSError as err:
            bad(f"{p}: {err}")
    if len(set(inos.values())) != len(inos):
        bad("distinct files share an inode number")
    return problems


def describe_tree(root: Path) -> dict[str, tuple]:
    """relpath -> (kind, size, nlink, sha1 of data or symlink target) for the whole tree."""
    out = {}
    for p in _walk(root):
        full = root / p if p else root
        st = os.lstat(full)
        k = _kind(st.st_mode)
        if k == "file":
            out[p] = (k, st.st_size, st.st_nlink, hashlib.sha1(full.read_bytes()).hexdigest())
        elif k == "symlink":
            out[p] = (k, 0, st.st_nlink, os.readlink(full))
        else:
            out[p] = (k, 0, 0, "")
    return out


def compare_trees(host: Path, mnt: Path) -> list[str]:
    try:
        h, m = describe_tree(host), describe_tree(mnt)
    except OSError as e:
        return [f"reading the trees: {e}"]
    problems = []
    for p in sorted(set(h) | set(m)):
        if h.get(p) != m.get(p):
            problems.append(f"{p or '.'}: host {h.get(p)} mount {m.get(p)}")
            if len(problems) >= MAX_PROBLEMS:
                break
    return problems
