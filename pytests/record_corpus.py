#!/usr/bin/python3
"""Record real kernel FUSE sessions into corpora/fuse_session/.

For each workload below: start pfsd (host mode, /dev/fuse) with --record on a fresh
scratch tree under /tmp, run the workload through the mount with real syscalls and
tools, stop pfsd with SIGTERM, and keep the session file: cut at a request boundary
to at most MAX_BYTES (the fuzz targets' max_len), named by its content hash
(sha256, first 16 hex digits), deduplicated.

Run as root from anywhere (needs /dev/fuse and a built pfsd, or $PFSD):
    /usr/bin/python3 pytests/record_corpus.py            # replace the corpus
    /usr/bin/python3 pytests/record_corpus.py --keep     # add to it
    /usr/bin/python3 pytests/record_corpus.py --out DIR  # somewhere else
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from conftest import REPO_ROOT, Pfsd, find_pfsd  # noqa: E402
from fuse_session import FUSE_INIT, OPCODES, parse_session, truncate_at_request  # noqa: E402
from helpers import RENAME_EXCHANGE, RENAME_NOREPLACE, renameat2  # noqa: E402

MAX_BYTES = 65536  # fuzz/options/fuse_session.options max_len
DEFAULT_OUT = REPO_ROOT / "corpora" / "fuse_session"


def sh(*cmd, check=True):
    return subprocess.run([str(c) for c in cmd], capture_output=True, timeout=30, check=check)


def quiet(fn, *a, **kw):
    """Run an operation that may fail on purpose (error paths are part of the corpus)."""
    try:
        fn(*a, **kw)
    except OSError:
        pass


# --------------------------------------------------------------------------- workloads


def wl_files(m: Path, h: Path):
    """create, write, read, pwrite, append, truncate, chmod, utime, fsync, unlink."""
    fd = os.open(m / "a.txt", os.O_CREAT | os.O_RDWR, 0o644)
    os.write(fd, b"hello, fuse\n")
    os.pwrite(fd, b"XY", 3)
    os.fsync(fd)
    os.pread(fd, 64, 0)
    os.ftruncate(fd, 5)
    os.close(fd)
    with open(m / "a.txt", "ab") as f:
        f.write(b" appended")
    (m / "a.txt").read_bytes()
    os.truncate(m / "a.txt", 2)
    os.chmod(m / "a.txt", 0o600)
    os.chown(m / "a.txt", 1000, 1000)
    os.utime(m / "a.txt", ns=(1_000_000_001, 2_000_000_002))
    with open(m / "b.bin", "wb") as f:
        f.write(bytes(range(256)) * 16)  # 4 KiB
    with open(m / "b.bin", "rb") as f:
        f.seek(1000)
        f.read(100)
    os.stat(m / "b.bin")
    os.statvfs(m)
    os.unlink(m / "b.bin")
    os.unlink(m / "a.txt")


def wl_dirs(m: Path, h: Path):
    """mkdir, readdir, rename (plain, exchange, noreplace), rmdir."""
    os.makedirs(m / "d1" / "d2" / "d3")
    os.mkdir(m / "e", 0o700)
    for i in range(12):
        (m / "d1" / f"f{i:02d}").write_bytes(b"")
    os.listdir(m / "d1")
    with os.scandir(m / "d1") as it:
        for e in it:
            e.stat()
    os.rename(m / "d1" / "f00", m / "e" / "moved")
    os.rename(m / "d1" / "d2", m / "e" / "d2")
    renameat2(m / "d1" / "f01", m / "e" / "moved", RENAME_EXCHANGE)
    quiet(renameat2, m / "d1" / "f02", m / "e" / "moved", RENAME_NOREPLACE)
    renameat2(m / "d1" / "f02", m / "e" / "fresh", RENAME_NOREPLACE)
    quiet(os.rename, m / "e", m / "e" / "d2" / "inside")  # EINVAL
    quiet(os.rmdir, m / "d1")  # ENOTEMPTY
    sh("rm", "-r", m / "d1")
    sh("ls", "-laR", m)
    sh("find", m, "-type", "f")
    os.rmdir(m / "e" / "d2" / "d3")
    os.rmdir(m / "e" / "d2")


def wl_links(m: Path, h: Path):
    """link, symlink, readlink, lstat/stat, unlink, dangling and absolute links."""
    (m / "orig").write_bytes(b"original\n")
    os.link(m / "orig", m / "hard")
    os.mkdir(m / "sub")
    os.link(m / "orig", m / "sub" / "hard2")
    os.symlink("orig", m / "rel")
    os.symlink("/etc/passwd", m / "abs")
    os.symlink("../orig", m / "sub" / "up")
    os.symlink("nowhere", m / "dangling")
    for n in ("rel", "abs", "sub/up", "dangling"):
        os.readlink(m / n)
        os.lstat(m / n)
    (m / "sub" / "up").read_bytes()
    quiet(os.stat, m / "dangling")
    quiet(os.readlink, m / "orig")  # EINVAL
    quiet(os.link, m / "sub", m / "dirlink")  # EPERM
    os.stat(m / "orig").st_nlink
    os.unlink(m / "hard")
    os.unlink(m / "rel")


def wl_xattrs(m: Path, h: Path):
    """setxattr/getxattr/listxattr/removexattr on a file, a dir and via tools."""
    (m / "x").write_bytes(b"x")
    os.mkdir(m / "xd")
    for p in (m / "x", m / "xd"):
        os.setxattr(p, "user.alpha", b"1")
        os.setxattr(p, "user.beta", b"\x00\x01binary")
        os.setxattr(p, "user.empty", b"")
        quiet(os.setxattr, p, "user.alpha", b"2", os.XATTR_CREATE)  # EEXIST
        quiet(os.setxattr, p, "user.nope", b"2", os.XATTR_REPLACE)  # ENODATA
        os.getxattr(p, "user.alpha")
        os.listxattr(p)
        quiet(os.getxattr, p, "user.missing")
        os.removexattr(p, "user.beta")
    quiet(os.setxattr, m / "x", "security.test", b"sec")
    quiet(os.setxattr, m / "x", "trusted.t", b"t")
    sh("getfattr", "-d", "-m", "-", m / "x", check=False)
    sh("setfattr", "-n", "user.tool", "-v", "0x0102", m / "x", check=False)
    os.symlink("x", m / "xl")
    quiet(os.setxattr, m / "xl", "user.onlink", b"1", follow_symlinks=False)
    os.listxattr(m / "xl", follow_symlinks=False)


def wl_tools(m: Path, h: Path):
    """coreutils through the mount: cp -a, mv, touch -d, mkfifo, chmod, df, stat."""
    src = h.parent / "src"
    src.mkdir()
    (src / "one").write_bytes(b"one\n")
    (src / "two").write_bytes(b"two" * 100)
    os.symlink("one", src / "lnk")
    sh("cp", "-a", src, m / "copy")
    sh("mv", m / "copy" / "two", m / "two")
    sh("touch", "-d", "2001-02-03 04:05:06", m / "two")
    sh("touch", "-h", m / "copy" / "lnk")
    sh("mkfifo", m / "fifo")
    sh("chmod", "-R", "go-rwx", m / "copy")
    sh("df", m)
    sh("stat", m / "two", m / "fifo")
    sh("cat", m / "copy" / "one")
    sh("wc", "-c", m / "two")
    sh("rm", "-rf", m / "copy")


def wl_errors(m: Path, h: Path):
    """Failing operations: what errno paths look like on the wire."""
    os.mkdir(m / "dir")
    (m / "dir" / "f").write_bytes(b"f")
    (m / "file").write_bytes(b"f")
    for op in (
        lambda: os.open(m / "missing", os.O_RDONLY),
        lambda: os.rmdir(m / "dir"),
        lambda: os.mkdir(m / "dir"),
        lambda: os.unlink(m / "dir"),
        lambda: os.rmdir(m / "file"),
        lambda: os.open(m / "file", os.O_CREAT | os.O_EXCL | os.O_WRONLY),
        lambda: os.open(m / "dir", os.O_WRONLY),
        lambda: os.open(m / "file" / "x", os.O_RDONLY),
        lambda: os.rename(m / "dir", m / "file"),
        lambda: os.rename(m / "file", m / "dir"),
        lambda: os.open(m / ("n" * 255), os.O_RDONLY),
        lambda: os.truncate(m / "dir", 0),
        lambda: os.listdir(m / "file"),
    ):
        quiet(op)
    # As an unprivileged user: permission errors.
    os.chmod(m / "file", 0o600)
    sh("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "cat", m / "file",
       check=False)
    sh("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "touch", m / "dir" / "n",
       check=False)


def wl_many(m: Path, h: Path):
    """A directory listing that needs several READDIR(PLUS) rounds; then FORGETs."""
    os.mkdir(m / "many")
    for i in range(60):
        (h / "many" / f"entry-with-a-longish-name-{i:04d}").write_bytes(b"")
    sorted(os.listdir(m / "many"))
    sh("ls", "-l", m / "many")
    sh("rm", "-r", m / "many")


WORKLOADS = [
    # (name, workload, extra pfsd options)
    ("files", wl_files, []),
    ("files-writeback", wl_files, ["--writeback"]),
    ("files-cache-never", wl_files, ["--cache", "never"]),
    ("dirs", wl_dirs, []),
    ("links", wl_links, []),
    ("xattrs", wl_xattrs, []),
    ("xattrs-rewrite", wl_xattrs, ["--rewrite-security-xattrs"]),
    ("tools", wl_tools, ["--cache", "always"]),
    ("errors", wl_errors, ["--allow-other"]),  # an unprivileged user gets EACCES
    ("many", wl_many, []),
]


# --------------------------------------------------------------------------- main


def record_one(binary: Path, name: str, workload, opts: list[str]) -> bytes:
    base = Path(tempfile.mkdtemp(prefix="pfs-record-", dir="/tmp"))
    base.chmod(0o755)
    rec = base / "rec"
    d = Pfsd(binary, base / "t", ["--thread-pool-size", "1", "--record", str(rec), *opts], name)
    try:
        d.base.mkdir(mode=0o755)
        d.shared.mkdir(mode=0o755)
        d.mnt.mkdir(mode=0o755)
        d.start()
        workload(d.mnt, d.shared)
        rc = d.stop()
        if rc != 0:
            raise RuntimeError(f"pfsd exited {rc} for workload {name}:\n{d.log_text()}")
        files = sorted(rec.glob("session-*.fuse"))
        if len(files) != 1:
            raise RuntimeError(f"want one session file for {name}, got {files}")
        return files[0].read_bytes()
    finally:
        d.teardown()
        shutil.rmtree(base, ignore_errors=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    ap.add_argument("--keep", action="store_true", help="keep the existing *.fuse files")
    args = ap.parse_args()
    if os.geteuid() != 0 or not os.path.exists("/dev/fuse"):
        print("record_corpus: needs root and /dev/fuse", file=sys.stderr)
        return 1
    binary = find_pfsd()
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    if not args.keep:
        for old in out.glob("*.fuse"):
            old.unlink()
    kept, total, rows = [], 0, []
    for name, workload, opts in WORKLOADS:
        raw = record_one(binary, name, workload, opts)
        data = truncate_at_request(raw, MAX_BYTES)
        reqs = parse_session(data)
        assert reqs and reqs[0].opcode == FUSE_INIT, name
        digest = hashlib.sha256(data).hexdigest()[:16]
        path = out / f"{digest}.fuse"
        if path.exists():
            print(f"{name:18s} duplicate of {path.name}, skipped")
            continue
        path.write_bytes(data)
        ops = sorted({OPCODES.get(r.opcode, str(r.opcode)) for r in reqs})
        cut = f" (cut from {len(raw)})" if len(data) < len(raw) else ""
        print(f"{name:18s} {path.name} {len(data):6d} bytes{cut}, {len(reqs)} requests: "
              f"{' '.join(ops)}")
        kept.append(path)
        total += len(data)
        rows.append(f"| `{path.name}` | {name} | `{' '.join(opts) or '(defaults)'}` | {len(data)} | "
                    f"{len(reqs)}{' (cut)' if cut else ''} |")
    print(f"{len(kept)} files, {total} bytes in {out}")
    update_manifest(out / "README.md", rows, args.keep)
    return 0


BEGIN, END = "<!-- manifest: begin -->", "<!-- manifest: end -->"


def update_manifest(readme: Path, rows: list[str], keep: bool) -> None:
    """Rewrite the table between the manifest markers of the corpus README, if any."""
    if not readme.exists():
        return
    text = readme.read_text()
    if BEGIN not in text or END not in text:
        return
    head, rest = text.split(BEGIN, 1)
    old, tail = rest.split(END, 1)
    header = ["| file | workload | pfsd options | bytes | requests |",
              "|---|---|---|---|---|"]
    old_rows = [ln for ln in old.splitlines() if ln.startswith("| `")] if keep else []
    table = "\n".join(header + old_rows + rows)
    readme.write_text(f"{head}{BEGIN}\n{table}\n{END}{tail}")


if __name__ == "__main__":
    sys.exit(main())
