"""The load: N client processes doing random operations through the mount.

Each client works in its own subtree (c<N>/), where it keeps a model of every name, inode,
byte and xattr (model.py), so every operation there must succeed and every read, stat,
readdir, readlink and getxattr is checked against the model; any failure or mismatch is
an unexpected error. All clients also share one subtree (shared/), where they race on
the same small set of names: there, the errors a race explains (ENOENT, EEXIST, ...)
are counted as races, any other error as unexpected.

The parent steers the clients through shared memory (Control): run, pause (each client
closes the files it holds open and acknowledges, so pfsd can be sampled quiet) and stop
(each client closes everything, checks its subtree against its model and writes
client-<N>.json with its counts, error samples and tree problems).
"""

from __future__ import annotations

import collections
import ctypes
import errno
import json
import multiprocessing
import os
import random
import signal
import time
import traceback
from pathlib import Path

from . import treecheck
from .model import DIR_NAMES, FILE_NAMES, LINK_NAMES, MAX_DEPTH, Model, depth

RUN, PAUSE, STOP = 0, 1, 2
MAX_FILE = 192 * 1024
MAX_HELD = 3  # files a client holds open at once
HOLD_S = (0.2, 3.0)
SHARED = "shared"
SHARED_FILES = [f"s{i}" for i in range(8)]
SHARED_LINKS = [f"sl{i}" for i in range(3)]
SHARED_DIRS = ["", "sd0", "sd1"]
# The errors racing clients explain in the shared subtree.
RACE_ERRNOS = {errno.ENOENT, errno.EEXIST, errno.ENOTEMPTY, errno.ENOTDIR, errno.EISDIR,
               errno.ENODATA, errno.EINVAL, errno.ELOOP}
XATTR_NAMES = [f"user.soak.k{i}" for i in range(3)]
MAX_ERROR_SAMPLES = 50


def tree_bound(clients: int) -> int:
    """An upper bound of the inodes the clients can keep alive at once (all the names
    their pools allow, plus the held files): the slack for fds of a busy pfsd."""
    dirs = 1 + len(DIR_NAMES) + len(DIR_NAMES) ** 2
    own = dirs * (1 + len(FILE_NAMES) + len(LINK_NAMES))
    shared = len(SHARED_DIRS) * (1 + len(SHARED_FILES) + len(SHARED_LINKS))
    return clients * (own + MAX_HELD) + shared + 1


class Control:
    """Shared memory between ci/soak and its clients. Each client writes only its slots."""

    def __init__(self, ctx, clients: int):
        self.state = ctx.Value("i", RUN, lock=False)
        self.ack = ctx.Array("i", clients, lock=False)  # 1: paused with nothing open
        self.ops = ctx.Array("q", clients, lock=False)
        self.errors = ctx.Array("q", clients, lock=False)
        self.races = ctx.Array("q", clients, lock=False)


class Mismatch(Exception):
    """What the mount answered is not what the client's model says."""


class Client:
    def __init__(self, idx: int, mnt: Path, seed: int, ctl: Control, out: Path,
                 host: Path | None = None):
        self.idx = idx
        self.mnt = mnt
        self.root = mnt / f"c{idx}"
        self.host_root = host / f"c{idx}" if host else None  # for diagnostics only
        self.recent: collections.deque = collections.deque(maxlen=400)  # own changes
        self.rng = random.Random(seed)
        self.ctl = ctl
        self.out = out
        self.model = Model()
        self.held: list[tuple[float, int]] = []  # (release time, fd)
        self.op_counts: dict[str, int] = {}
        self.error_samples: list[str] = []
        self.errlog = open(out / f"client-{idx}.log", "w", buffering=1)
        self.own_ops = [
            (self.create, 10), (self.write, 10), (self.read, 10), (self.stat, 10),
            (self.readdir, 6), (self.rename, 6), (self.link, 4), (self.unlink, 7),
            (self.mkdir, 2), (self.rmtree, 1), (self.symlink, 3), (self.readlink, 3),
            (self.setxattr, 3), (self.getxattr, 3), (self.listxattr, 2), (self.removexattr, 1),
            (self.truncate, 3), (self.fsync, 2), (self.hold, 2),
        ]
        self.shared_ops = [
            (self.s_create, 3), (self.s_write, 3), (self.s_read, 3), (self.s_stat, 3),
            (self.s_readdir, 2), (self.s_rename, 2), (self.s_link, 1), (self.s_unlink, 2),
            (self.s_mkdir, 1), (self.s_rmdir, 1), (self.s_symlink, 1), (self.s_readlink, 1),
            (self.s_setxattr, 1), (self.s_getxattr, 1), (self.s_listxattr, 1),
            (self.s_truncate, 1), (self.s_hold, 1),
        ]

    # ------------------------------------------------------------------ the loop
    def run(self) -> None:
        os.mkdir(self.root)
        os.makedirs(self.mnt / SHARED, exist_ok=True)
        own_fns, own_w = zip(*self.own_ops)
        sh_fns, sh_w = zip(*self.shared_ops)
        i = self.idx
        while True:
            st = self.ctl.state.value
            if st == STOP:
                break
            if st == PAUSE:
                self.release(all_=True)
                self.ctl.ack[i] = 1
                time.sleep(0.01)
                continue
            self.ctl.ack[i] = 0
            self.release()
            if self.rng.random() < 0.25:
                fn = self.rng.choices(sh_fns, sh_w)[0]
            else:
                fn = self.rng.choices(own_fns, own_w)[0]
            name = fn.__name__
            try:
                fn()
            except OSError as e:
                if name.startswith("s_") and e.errno in RACE_ERRNOS:
                    self.ctl.races[i] += 1
                else:
                    self.error(f"{name}: {e!r}")
            except Mismatch as e:
                self.error(f"{name}: {e}{self.diagnose(e.args[1] if len(e.args) > 1 else None)}")
            except Exception:  # noqa: BLE001  (a bug of ci/soak itself: say so, go on)
                self.error(f"{name}: internal error in ci/soak: {traceback.format_exc()}")
            self.op_counts[name] = self.op_counts.get(name, 0) + 1
            self.ctl.ops[i] += 1
        self.release(all_=True)

    def note(self, what: str) -> None:
        self.recent.append(f"{time.monotonic():.3f} {what}")

    def diagnose(self, rel: str | None) -> str:
        """What the mount and the host say about rel right now, and the client's recent
        changes to it (its names share the inode: any of them)."""
        if rel is None:
            return ""
        out = []
        for label, path in (("mount", self.p(rel)),
                            ("host", self.host_root / rel if self.host_root else None)):
            if path is None:
                continue
            try:
                st = os.lstat(path)
                out.append(f"{label} now: size {st.st_size} nlink {st.st_nlink} ino {st.st_ino}")
                if label == "mount":
                    out.append(f"mount re-read: {len(self.read_all(path))} bytes")
                    held = [fd for _, fd in self.held if os.fstat(fd).st_ino == st.st_ino]
                    out.append(f"held open by this client: {len(held)} fd(s)")
            except OSError as e:
                out.append(f"{label}: {e!r}")
        e = self.model.entries.get(rel)
        names = [p for p, x in self.model.entries.items()
                 if e is not None and x.kind == "file" and x.ino == e.ino]
        hist = [h for h in self.recent if any(f" {n} " in h or h.endswith(f" {n}") for n in names)]
        return "\n    " + "\n    ".join(out + [f"names of the inode: {names}"]
                                       + [f"recent: {h}" for h in hist[-15:]])

    def error(self, msg: str) -> None:
        self.ctl.errors[self.idx] += 1
        line = f"{time.strftime('%H:%M:%S')} client {self.idx}: {msg}"
        if len(self.error_samples) < MAX_ERROR_SAMPLES:
            self.error_samples.append(line)
            self.errlog.write(line + "\n")

    def finish(self) -> dict:
        problems = treecheck.check_model(self.root, self.model)
        m = self.model
        return {
            "client": self.idx, "ops": self.ctl.ops[self.idx], "errors": self.ctl.errors[self.idx],
            "races": self.ctl.races[self.idx], "op_counts": self.op_counts,
            "error_samples": self.error_samples, "tree_problems": problems,
            "tree": {"files": len(m.paths("file")), "dirs": len(m.paths("dir")),
                     "symlinks": len(m.paths("symlink")), "inodes": len(m.inodes),
                     "bytes": sum(len(n.data) for n in m.inodes.values())},
        }

    # ------------------------------------------------------------------ helpers
    def p(self, rel: str) -> Path:
        return self.root / rel if rel else self.root

    def pick(self, kind: str) -> str | None:
        paths = self.model.paths(kind)
        if kind == "dir":
            paths = [d for d in paths if d != ""]
        return self.rng.choice(paths) if paths else None

    def free(self, pool: list[str], max_depth: int = MAX_DEPTH) -> str | None:
        dirs = [d for d in self.model.paths("dir") if depth(d) <= max_depth]
        self.rng.shuffle(dirs)
        for d in dirs:
            names = self.model.free_names(d, pool)
            if names:
                return self.rng.choice(names)
        return None

    def data(self, hi: int) -> bytes:
        return self.rng.randbytes(self.rng.randint(0, hi))

    def release(self, all_: bool = False) -> None:
        now = time.monotonic()
        keep = []
        for t, fd in self.held:
            if all_ or t <= now:
                try:
                    os.fstat(fd)
                    self.note(f"release fd {fd}")
                except OSError as e:
                    self.error(f"fstat of a held file: {e!r}")
                finally:
                    os.close(fd)
            else:
                keep.append((t, fd))
        self.held = keep

    def hold_fd(self, path: Path, flags: int) -> None:
        if len(self.held) >= MAX_HELD:
            return
        fd = os.open(path, flags)
        self.note(f"hold {os.path.relpath(path, self.root)} fd {fd}")
        self.held.append((time.monotonic() + self.rng.uniform(*HOLD_S), fd))

    @staticmethod
    def read_all(path: Path) -> bytes:
        fd = os.open(path, os.O_RDONLY)
        try:
            chunks = []
            while True:
                b = os.read(fd, 65536)
                if not b:
                    return b"".join(chunks)
                chunks.append(b)
        finally:
            os.close(fd)

    # ------------------------------------------------------------------ own subtree
    def create(self) -> None:
        rel = self.free(FILE_NAMES)
        if rel is None:
            return self.unlink()
        data = self.data(32 * 1024)
        fd = os.open(self.p(rel), os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        try:
            if os.write(fd, data) != len(data):
                raise Mismatch(f"{rel}: short write", rel)
        finally:
            os.close(fd)
        self.model.create(rel, data)
        self.note(f"create {rel} size {len(data)}")

    def write(self) -> None:
        rel = self.pick("file")
        if rel is None:
            return self.create()
        size = len(self.model.inode_of(rel).data)
        if size > MAX_FILE:
            return self.truncate()
        off = self.rng.randint(0, size + 4096)
        data = self.data(8192)
        fd = os.open(self.p(rel), os.O_WRONLY)
        try:
            if os.pwrite(fd, data, off) != len(data):
                raise Mismatch(f"{rel}: short write", rel)
        finally:
            os.close(fd)
        self.model.write(rel, off, data)
        self.note(f"write {rel} off {off} len {len(data)} -> {len(self.model.inode_of(rel).data)}")

    def read(self) -> None:
        rel = self.pick("file")
        if rel is None:
            return
        got = self.read_all(self.p(rel))
        want = self.model.inode_of(rel).data
        if got != want:
            raise Mismatch(f"{rel}: read {len(got)} bytes, want {len(want)}"
                           + (" (same size, other data)" if len(got) == len(want) else ""), rel)

    def stat(self) -> None:
        rel = self.rng.choice([p for p in self.model.entries if p] or [""])
        st = os.lstat(self.p(rel))
        e = self.model.entries[rel]
        kind = treecheck._kind(st.st_mode)
        if kind != e.kind:
            raise Mismatch(f"{rel}: {kind}, want {e.kind}")
        if e.kind == "file":
            want = len(self.model.inodes[e.ino].data)
            if st.st_size != want or st.st_nlink != self.model.nlink(e.ino):
                raise Mismatch(f"{rel}: size {st.st_size} nlink {st.st_nlink}, want {want} "
                               f"{self.model.nlink(e.ino)}", rel)

    def readdir(self) -> None:
        d = self.rng.choice(self.model.paths("dir"))
        got = set(os.listdir(self.p(d)))
        want = self.model.children(d)
        if got != want:
            raise Mismatch(f"{d or '.'}: lists {sorted(got ^ want)} wrongly")

    def rename(self) -> None:
        if self.rng.random() < 0.15:
            src = self.pick("dir")
            if src is None:
                return self.mkdir()
            parent = os.path.dirname(src)
            names = self.model.free_names(parent, DIR_NAMES)
            if not names:
                return
            dst = self.rng.choice(names)
        else:
            kind = "symlink" if self.rng.random() < 0.2 else "file"
            src = self.pick(kind)
            if src is None:
                return self.create()
            existing = self.model.paths("file") + self.model.paths("symlink")
            if self.rng.random() < 0.3 and existing:
                dst = self.rng.choice(existing)  # replaces it (or a no-op: the same inode)
            else:
                dst = self.free(FILE_NAMES if kind == "file" else LINK_NAMES)
                if dst is None:
                    return self.unlink()
        os.rename(self.p(src), self.p(dst))
        self.model.rename(src, dst)
        self.note(f"rename {src} {dst}")

    def link(self) -> None:
        src, dst = self.pick("file"), self.free(FILE_NAMES)
        if src is None or dst is None:
            return
        os.link(self.p(src), self.p(dst))
        self.model.link(src, dst)
        self.note(f"link {src} {dst}")

    def unlink(self) -> None:
        rel = self.pick("symlink" if self.rng.random() < 0.2 else "file")
        if rel is None:
            return
        os.unlink(self.p(rel))
        self.model.remove(rel)
        self.note(f"unlink {rel}")

    def mkdir(self) -> None:
        rel = self.free(DIR_NAMES, max_depth=MAX_DEPTH - 1)
        if rel is None:
            return
        os.mkdir(self.p(rel), 0o755)
        self.model.mkdir(rel)

    def rmtree(self) -> None:
        """Empties one directory bottom-up (unlink, rmdir) and removes it."""
        top = self.pick("dir")
        if top is None:
            return
        under = sorted((p for p in self.model.entries if p == top or p.startswith(top + "/")),
                       key=lambda p: -p.count("/"))
        for rel in under:
            if self.model.entries[rel].kind == "dir":
                os.rmdir(self.p(rel))
            else:
                os.unlink(self.p(rel))
            self.model.remove(rel)
            self.note(f"rmtree-remove {rel}")

    def symlink(self) -> None:
        rel = self.free(LINK_NAMES)
        if rel is None:
            return
        target = self.rng.choice(["f0", "../f1", "d0/f2", "nowhere", "/etc/passwd", "l0"])
        os.symlink(target, self.p(rel))
        self.model.symlink(rel, target)

    def readlink(self) -> None:
        rel = self.pick("symlink")
        if rel is None:
            return self.symlink()
        got = os.readlink(self.p(rel))
        if got != self.model.entries[rel].target:
            raise Mismatch(f"{rel}: readlink {got!r}, want {self.model.entries[rel].target!r}")

    def setxattr(self) -> None:
        rel = self.pick("file")
        if rel is None:
            return
        name, value = self.rng.choice(XATTR_NAMES), self.data(200)
        os.setxattr(self.p(rel), name, value)
        self.model.inode_of(rel).xattrs[name] = value

    def getxattr(self) -> None:
        rel = self.pick("file")
        if rel is None:
            return
        xa = self.model.inode_of(rel).xattrs
        if not xa:
            try:
                os.getxattr(self.p(rel), XATTR_NAMES[0])
            except OSError as e:
                if e.errno == errno.ENODATA:
                    return
                raise
            raise Mismatch(f"{rel}: getxattr of a name never set succeeded")
        name = self.rng.choice(sorted(xa))
        got = os.getxattr(self.p(rel), name)
        if got != xa[name]:
            raise Mismatch(f"{rel}: {name} is {len(got)} bytes, other than set")

    def listxattr(self) -> None:
        rel = self.pick("file")
        if rel is None:
            return
        got = {n for n in os.listxattr(self.p(rel)) if n.startswith("user.")}
        want = set(self.model.inode_of(rel).xattrs)
        if got != want:
            raise Mismatch(f"{rel}: listxattr {sorted(got)}, want {sorted(want)}")

    def removexattr(self) -> None:
        rel = self.pick("file")
        if rel is None or not self.model.inode_of(rel).xattrs:
            return
        name = self.rng.choice(sorted(self.model.inode_of(rel).xattrs))
        os.removexattr(self.p(rel), name)
        del self.model.inode_of(rel).xattrs[name]

    def truncate(self) -> None:
        rel = self.pick("file")
        if rel is None:
            return
        size = self.rng.randint(0, 64 * 1024)
        os.truncate(self.p(rel), size)
        self.model.truncate(rel, size)
        self.note(f"truncate {rel} {size}")

    def fsync(self) -> None:
        rel = self.pick("file")
        if rel is None:
            return
        data = self.data(4096)
        off = len(self.model.inode_of(rel).data)
        fd = os.open(self.p(rel), os.O_WRONLY)
        try:
            if os.pwrite(fd, data, off) != len(data):
                raise Mismatch(f"{rel}: short write", rel)
            os.fsync(fd)
        finally:
            os.close(fd)
        self.model.write(rel, off, data)
        self.note(f"fsync-append {rel} off {off} len {len(data)}")

    def hold(self) -> None:
        rel = self.pick("file")
        if rel is not None:
            self.hold_fd(self.p(rel), os.O_RDWR)

    # ------------------------------------------------------------------ shared subtree
    def sp(self, pool: list[str] = SHARED_FILES) -> Path:
        return self.mnt / SHARED / self.rng.choice(SHARED_DIRS) / self.rng.choice(pool)

    def s_create(self) -> None:
        fd = os.open(self.sp(), os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o644)
        try:
            os.write(fd, self.data(16 * 1024))
        finally:
            os.close(fd)

    def s_write(self) -> None:
        fd = os.open(self.sp(), os.O_WRONLY)
        try:
            os.pwrite(fd, self.data(4096), self.rng.randint(0, 32 * 1024))
        finally:
            os.close(fd)

    def s_read(self) -> None:
        self.read_all(self.sp())

    def s_stat(self) -> None:
        os.lstat(self.sp(self.rng.choice([SHARED_FILES, SHARED_LINKS])))

    def s_readdir(self) -> None:
        os.listdir(self.mnt / SHARED / self.rng.choice(SHARED_DIRS))

    def s_rename(self) -> None:
        os.rename(self.sp(self.rng.choice([SHARED_FILES, SHARED_LINKS])), self.sp())

    def s_link(self) -> None:
        os.link(self.sp(), self.sp())

    def s_unlink(self) -> None:
        os.unlink(self.sp(self.rng.choice([SHARED_FILES, SHARED_LINKS])))

    def s_mkdir(self) -> None:
        os.mkdir(self.mnt / SHARED / self.rng.choice(SHARED_DIRS[1:]))

    def s_rmdir(self) -> None:
        os.rmdir(self.mnt / SHARED / self.rng.choice(SHARED_DIRS[1:]))

    def s_symlink(self) -> None:
        os.symlink(self.rng.choice(SHARED_FILES), self.sp(SHARED_LINKS))

    def s_readlink(self) -> None:
        os.readlink(self.sp(SHARED_LINKS))

    def s_setxattr(self) -> None:
        os.setxattr(self.sp(), self.rng.choice(XATTR_NAMES), self.data(100))

    def s_getxattr(self) -> None:
        os.getxattr(self.sp(), self.rng.choice(XATTR_NAMES))

    def s_listxattr(self) -> None:
        os.listxattr(self.sp())

    def s_truncate(self) -> None:
        os.truncate(self.sp(), self.rng.randint(0, 32 * 1024))

    def s_hold(self) -> None:
        self.hold_fd(self.sp(), os.O_RDONLY)


PR_SET_PDEATHSIG = 1


def die_with_parent(parent: int) -> None:
    """SIGKILL this process when ci/soak ends, however it ends: a client left behind
    keeps ci/soak's stdout open, so whoever reads it to the end waits forever."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG)")
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(1)


def client_main(idx: int, mnt: str, seed: int, ctl: Control, out: str, host: str,
                parent: int) -> None:
    die_with_parent(parent)
    # Ctrl-C reaches the whole process group: the parent alone decides when to stop.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    result: dict = {"client": idx}
    try:
        c = Client(idx, Path(mnt), seed, ctl, Path(out), Path(host))
        try:
            c.run()
        except Exception:  # noqa: BLE001  (a crash of the client is a result too)
            c.error("client crashed: " + traceback.format_exc())
        result = c.finish()
    except Exception:  # noqa: BLE001
        result["crash"] = traceback.format_exc()
    with open(Path(out) / f"client-{idx}.json", "w") as f:
        json.dump(result, f, indent=1)


def start_clients(n: int, mnt: Path, seed: int, out: Path, host: Path, procs: list) -> Control:
    """Starts n clients, appending each to `procs` as it starts (so an interrupt
    half-way leaves the caller knowing every client it must stop)."""
    ctx = multiprocessing.get_context("fork")
    ctl = Control(ctx, n)
    for i in range(n):
        p = ctx.Process(target=client_main,
                        args=(i, str(mnt), seed * 1000 + i, ctl, str(out), str(host),
                              os.getpid()),
                        name=f"soak-client-{i}")
        p.start()
        procs.append(p)
    return ctl


def pause(ctl: Control, timeout: float = 30.0) -> bool:
    """Pauses every client; True once all have closed their files and acknowledged."""
    for i in range(len(ctl.ack)):
        ctl.ack[i] = 0
    ctl.state.value = PAUSE
    deadline = time.monotonic() + timeout
    while not all(ctl.ack):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def resume(ctl: Control) -> None:
    ctl.state.value = RUN


def stop_clients(ctl: Control, procs, timeout: float = 120.0) -> list[str]:
    """Asks every client to stop (each then checks its subtree) and waits; kills (by PID)
    any that does not finish in time. Returns problems."""
    ctl.state.value = STOP
    problems = []
    deadline = time.monotonic() + timeout
    for p in procs:
        p.join(max(0.1, deadline - time.monotonic()))
        if p.is_alive():
            problems.append(f"{p.name} (pid {p.pid}) did not stop within {timeout:.0f} s: killed")
            p.kill()
            p.join(5)
    return problems


def load_results(out: Path, n: int) -> list[dict]:
    res = []
    for i in range(n):
        try:
            res.append(json.loads((out / f"client-{i}.json").read_text()))
        except (OSError, ValueError) as e:
            res.append({"client": i, "crash": f"no result file: {e}"})
    return res
