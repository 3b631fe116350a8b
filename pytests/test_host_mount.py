"""Host-mount suite: pfsd on /dev/fuse, the real kernel FUSE client, real tools.

Every test gets its own pfsd on a fresh shared dir (`.shared`, the host's view) and
mountpoint (`.mnt`, the view through FUSE), acts through one view, and checks the
other directly.
"""

from __future__ import annotations

import errno
import hashlib
import os
import signal
import stat
import subprocess
import threading
import time
from pathlib import Path

import pytest

from conftest import fuse_mounts_at, mounts_at
from helpers import (
    NOBODY,
    RENAME_EXCHANGE,
    RENAME_NOREPLACE,
    as_nobody,
    ename,
    errno_of,
    read_bytes,
    renameat2,
    run,
    run_ok,
    stat_view,
    tree_listing,
    write_bytes,
)

pytestmark = pytest.mark.host

MiB = 1024 * 1024


# =========================================================================== basics


def test_mount_is_fuse_and_serves_the_shared_dir(pfsd):
    info = pfsd.mount_info
    assert info["fstype"] == "fuse"
    assert info["source"] == str(pfsd.shared)
    # Other users are opt-in (--allow-other), and then always with the kernel's checks.
    assert "allow_other" not in info["super_options"]
    write_bytes(pfsd.h("from-host"), b"hello")
    assert read_bytes(pfsd.m("from-host")) == b"hello"
    assert sorted(os.listdir(pfsd.mnt)) == ["from-host"]


def test_logs_serving_line(pfsd):
    deadline = time.monotonic() + 5
    while "serving" not in pfsd.log_text() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert f"serving {pfsd.shared} on {pfsd.mnt}" in pfsd.log_text()


def test_ls_and_stat_match_host(pfsd):
    h = pfsd.h
    write_bytes(h("file"), b"x" * 12345)
    os.chmod(h("file"), 0o640)
    os.chown(h("file"), 1234, 5678)
    os.mkdir(h("dir"), 0o750)
    os.mkdir(h("dir", "sub"))
    os.symlink("file", h("link"))
    os.link(h("file"), h("hard"))
    os.mkfifo(h("fifo"), 0o600)
    os.mknod(h("null"), 0o644 | stat.S_IFCHR, os.makedev(1, 3))
    os.utime(h("file"), ns=(1_000_000_123, 2_000_000_456))

    names = ["file", "dir", "dir/sub", "link", "hard", "fifo", "null", "."]
    host = {n: stat_view(os.lstat(h(n))) for n in names}
    through = {n: stat_view(os.lstat(pfsd.m(n))) for n in names}
    # st_ino is passed through unchanged by our server (the FUSE attr carries the host
    # inode number); st_dev differs by design: the mount is its own device.
    assert through == host
    assert os.lstat(pfsd.m("file")).st_dev != os.lstat(h("file")).st_dev
    assert os.lstat(pfsd.m("file")).st_dev == os.stat(pfsd.mnt).st_dev

    # stat through a symlink follows it.
    assert os.stat(pfsd.m("link")).st_ino == os.stat(h("file")).st_ino

    # ls -la agrees on names, modes, link counts, owners, sizes.
    def ls(d):
        out = run_ok(["ls", "-lan", "--time-style=+%s", d]).stdout.splitlines()[1:]
        return sorted(line.split()[:6] + line.split()[7:] for line in out
                      if not line.split()[-1] in (".", ".."))

    assert ls(pfsd.mnt) == ls(pfsd.shared)

    # statfs is the host file system's.
    sv_m, sv_h = os.statvfs(pfsd.mnt), os.statvfs(pfsd.shared)
    assert (sv_m.f_bsize, sv_m.f_blocks, sv_m.f_namemax) == (sv_h.f_bsize, sv_h.f_blocks,
                                                             sv_h.f_namemax)


def test_cp_mv_rm_through_mount(pfsd, scratch_dir):
    src = scratch_dir / "src"
    (src / "a" / "b").mkdir(parents=True)
    write_bytes(src / "top.txt", b"top\n")
    write_bytes(src / "a" / "mid.bin", os.urandom(100_000))
    write_bytes(src / "a" / "b" / "deep", b"")
    os.chmod(src / "a" / "mid.bin", 0o600)
    os.symlink("../top.txt", src / "a" / "to-top")
    os.utime(src / "top.txt", ns=(5_000_000_000, 6_000_000_007))

    run_ok(["cp", "-a", src, pfsd.m("copy")])
    assert tree_listing(pfsd.h("copy")) == tree_listing(src)
    assert os.stat(pfsd.h("copy", "top.txt")).st_mtime_ns == 6_000_000_007

    run_ok(["mv", pfsd.m("copy", "a"), pfsd.m("moved")])
    assert not pfsd.h("copy", "a").exists()
    assert read_bytes(pfsd.h("moved", "mid.bin")) == read_bytes(src / "a" / "mid.bin")
    assert os.readlink(pfsd.h("moved", "to-top")) == "../top.txt"

    run_ok(["cp", pfsd.m("moved", "mid.bin"), pfsd.m("again.bin")])
    assert read_bytes(pfsd.h("again.bin")) == read_bytes(src / "a" / "mid.bin")

    run_ok(["rm", "-r", pfsd.m("moved"), pfsd.m("copy")])
    run_ok(["rm", pfsd.m("again.bin")])
    assert os.listdir(pfsd.shared) == []
    assert os.listdir(pfsd.mnt) == []


def test_ln_hard_and_symbolic(pfsd):
    write_bytes(pfsd.h("orig"), b"data")
    run_ok(["ln", pfsd.m("orig"), pfsd.m("hard1")])
    run_ok(["ln", pfsd.m("orig"), pfsd.m("hard2")])
    assert os.stat(pfsd.h("orig")).st_nlink == 3
    assert os.stat(pfsd.m("orig")).st_nlink == 3
    assert os.stat(pfsd.m("hard1")).st_ino == os.stat(pfsd.h("orig")).st_ino
    assert os.path.samefile(pfsd.h("hard2"), pfsd.h("orig"))

    run_ok(["ln", "-s", "orig", pfsd.m("sym")])
    run_ok(["ln", "-s", "/nowhere/at/all", pfsd.m("dangling")])
    assert os.readlink(pfsd.h("sym")) == "orig"
    assert os.readlink(pfsd.m("sym")) == "orig"
    assert os.readlink(pfsd.h("dangling")) == "/nowhere/at/all"
    assert run_ok(["readlink", pfsd.m("dangling")]).stdout == "/nowhere/at/all\n"
    assert read_bytes(pfsd.m("sym")) == b"data"
    assert stat.S_ISLNK(os.lstat(pfsd.h("sym")).st_mode)
    # An absolute symlink target is resolved by the client, never by the server: the
    # dangling link does not reach the host's /nowhere and stat says ENOENT.
    assert errno_of(os.stat, pfsd.m("dangling")) == errno.ENOENT


def test_mkfifo(pfsd):
    run_ok(["mkfifo", "-m", "0640", pfsd.m("fifo")])
    st = os.lstat(pfsd.h("fifo"))
    assert stat.S_ISFIFO(st.st_mode)
    assert stat.S_IMODE(st.st_mode) == 0o640
    assert stat.S_ISFIFO(os.lstat(pfsd.m("fifo")).st_mode)
    # The FIFO works through the mount (the kernel handles its data, not the server).
    def writer():
        with open(pfsd.m("fifo"), "wb") as f:
            f.write(b"through the pipe")
    t = threading.Thread(target=writer, daemon=True)
    t.start()
    with open(pfsd.m("fifo"), "rb") as f:
        assert f.read() == b"through the pipe"
    t.join(10)
    assert not t.is_alive()


def test_chmod_chown(pfsd):
    write_bytes(pfsd.h("f"), b"x")
    os.mkdir(pfsd.h("d"))
    run_ok(["chmod", "0604", pfsd.m("f")])
    run_ok(["chmod", "u=rwx,g=,o=x,+t", pfsd.m("d")])
    assert stat.S_IMODE(os.stat(pfsd.h("f")).st_mode) == 0o604
    assert stat.S_IMODE(os.stat(pfsd.h("d")).st_mode) == 0o1701
    run_ok(["chmod", "4755", pfsd.m("f")])
    assert stat.S_IMODE(os.stat(pfsd.h("f")).st_mode) == 0o4755

    run_ok(["chown", "1234:5678", pfsd.m("f")])
    st = os.stat(pfsd.h("f"))
    assert (st.st_uid, st.st_gid) == (1234, 5678)
    # chown clears set-user-ID, as on the host.
    assert stat.S_IMODE(st.st_mode) == 0o755
    run_ok(["chown", "-h", "42:43", pfsd.m("d")])
    assert (os.stat(pfsd.h("d")).st_uid, os.stat(pfsd.h("d")).st_gid) == (42, 43)
    assert stat_view(os.stat(pfsd.m("f"))) == stat_view(os.stat(pfsd.h("f")))

    # chown -h on a symlink changes the link itself.
    os.symlink("f", pfsd.h("l"))
    run_ok(["chown", "-h", "7:8", pfsd.m("l")])
    assert (os.lstat(pfsd.h("l")).st_uid, os.lstat(pfsd.h("l")).st_gid) == (7, 8)
    assert os.stat(pfsd.h("f")).st_uid == 1234


def test_truncate(pfsd):
    write_bytes(pfsd.h("f"), b"0123456789")
    run_ok(["truncate", "-s", "4", pfsd.m("f")])
    assert read_bytes(pfsd.h("f")) == b"0123"
    run_ok(["truncate", "-s", "1M", pfsd.m("f")])
    data = read_bytes(pfsd.h("f"))
    assert len(data) == MiB and data[:4] == b"0123" and data[4:] == bytes(MiB - 4)
    assert os.stat(pfsd.m("f")).st_size == MiB
    os.truncate(pfsd.m("f"), 0)
    assert os.stat(pfsd.h("f")).st_size == 0
    # ftruncate on an open fd through the mount.
    with open(pfsd.m("f"), "r+b") as f:
        f.write(b"abcdef")
        f.flush()
        os.ftruncate(f.fileno(), 3)
    assert read_bytes(pfsd.h("f")) == b"abc"


def test_touch_with_explicit_times(pfsd):
    run_ok(["touch", pfsd.m("new")])
    assert pfsd.h("new").is_file()

    run_ok(["touch", "-d", "2001-02-03 04:05:06.123456789 UTC", pfsd.m("new")])
    st = os.stat(pfsd.h("new"))
    want = 981173106_123456789
    assert st.st_mtime_ns == want and st.st_atime_ns == want

    run_ok(["touch", "-m", "-d", "1999-12-31 23:59:59 UTC", pfsd.m("new")])
    st = os.stat(pfsd.h("new"))
    assert st.st_mtime_ns == 946684799_000000000 and st.st_atime_ns == want

    run_ok(["touch", "-a", "-d", "@1234567890.5", pfsd.m("new")])
    st = os.stat(pfsd.h("new"))
    assert st.st_atime_ns == 1234567890_500000000 and st.st_mtime_ns == 946684799_000000000
    assert stat_view(os.stat(pfsd.m("new"))) == stat_view(os.stat(pfsd.h("new")))

    # touch -r copies times; os.utime with ns; UTIME_NOW via touch without -d.
    os.utime(pfsd.m("new"), ns=(111, 222_000_000_333))
    st = os.stat(pfsd.h("new"))
    assert (st.st_atime_ns, st.st_mtime_ns) == (111, 222_000_000_333)
    before = time.time_ns()
    run_ok(["touch", pfsd.m("new")])
    assert os.stat(pfsd.h("new")).st_mtime_ns >= before - 1_000_000_000

    # Directories too.
    os.mkdir(pfsd.h("d"))
    run_ok(["touch", "-d", "@1000000000", pfsd.m("d")])
    assert os.stat(pfsd.h("d")).st_mtime_ns == 1000000000_000000000


def test_touch_no_dereference_on_symlink(pfsd):
    """touch -h sets a symlink's own times (utimensat AT_SYMLINK_NOFOLLOW)."""
    write_bytes(pfsd.h("target"), b"t")
    os.symlink("target", pfsd.h("link"))
    target_before = os.stat(pfsd.h("target")).st_mtime_ns
    p = run(["touch", "-h", "-d", "@1500000000", pfsd.m("link")])
    assert p.returncode == 0, f"touch -h through the mount failed: {p.stderr}"
    assert os.lstat(pfsd.h("link")).st_mtime_ns == 1500000000_000000000
    assert os.stat(pfsd.h("target")).st_mtime_ns == target_before


# =========================================================================== xattrs


def test_user_xattrs_with_setfattr_getfattr(pfsd):
    write_bytes(pfsd.h("f"), b"x")
    os.mkdir(pfsd.h("d"))
    for name in ("f", "d"):
        run_ok(["setfattr", "-n", "user.color", "-v", "blue", pfsd.m(name)])
        run_ok(["setfattr", "-n", "user.empty", pfsd.m(name)])
        run_ok(["setfattr", "-n", "user.bin", "-v", "0x00ff10", pfsd.m(name)])
        assert os.getxattr(pfsd.h(name), "user.color") == b"blue"
        assert os.getxattr(pfsd.h(name), "user.empty") == b""
        assert os.getxattr(pfsd.h(name), "user.bin") == b"\x00\xff\x10"
        out = run_ok(["getfattr", "--absolute-names", "-d", "-e", "text", pfsd.m(name)]).stdout
        assert 'user.color="blue"' in out
        assert "user.empty" in out
        assert sorted(os.listxattr(pfsd.m(name))) == sorted(os.listxattr(pfsd.h(name)))

        # Host -> mount.
        os.setxattr(pfsd.h(name), "user.from_host", b"hv")
        out = run_ok(["getfattr", "--absolute-names", "-n", "user.from_host", "--only-values",
                      pfsd.m(name)]).stdout
        assert out == "hv"

        run_ok(["setfattr", "-x", "user.color", pfsd.m(name)])
        assert "user.color" not in os.listxattr(pfsd.h(name))
        p = run(["getfattr", "--absolute-names", "-n", "user.color", pfsd.m(name)])
        assert p.returncode != 0 and "No such attribute" in p.stderr
        assert errno_of(os.getxattr, pfsd.m(name), "user.color") == errno.ENODATA

    # A big value (near the 64 KiB limit is fine on ext4 only with ea_inode; use 3000 B).
    val = os.urandom(3000)
    os.setxattr(pfsd.m("f"), "user.big", val)
    assert os.getxattr(pfsd.h("f"), "user.big") == val
    assert os.getxattr(pfsd.m("f"), "user.big") == val
    # XATTR_CREATE on an existing name, XATTR_REPLACE on a missing one.
    assert errno_of(os.setxattr, pfsd.m("f"), "user.big", b"v", os.XATTR_CREATE) == errno.EEXIST
    assert errno_of(os.setxattr, pfsd.m("f"), "user.nope", b"v", os.XATTR_REPLACE) == errno.ENODATA


def test_xattrs_on_symlink_and_fifo(pfsd):
    """user.* xattrs are not allowed on symlinks/FIFOs by the kernel: same errno both ways."""
    os.symlink("x", pfsd.h("l"))
    os.mkfifo(pfsd.h("p"))
    for n in ("l", "p"):
        eh = errno_of(os.setxattr, pfsd.h(n), "user.a", b"1", follow_symlinks=False)
        em = errno_of(os.setxattr, pfsd.m(n), "user.a", b"1", follow_symlinks=False)
        assert ename(em) == ename(eh), n
        assert sorted(os.listxattr(pfsd.m(n), follow_symlinks=False)) == sorted(
            os.listxattr(pfsd.h(n), follow_symlinks=False))


def test_rewrite_security_xattrs(pfsd_factory):
    d = pfsd_factory("--rewrite-security-xattrs")
    write_bytes(d.h("f"), b"x")
    run_ok(["setfattr", "-n", "security.foo", "-v", "bar", d.m("f")])
    host_names = os.listxattr(d.h("f"))
    assert "user.virtiofs.security.foo" in host_names
    assert "security.foo" not in host_names
    assert os.getxattr(d.h("f"), "user.virtiofs.security.foo") == b"bar"

    out = run_ok(["getfattr", "--absolute-names", "-n", "security.foo", "--only-values",
                  d.m("f")]).stdout
    assert out == "bar"
    listed = run_ok(["getfattr", "--absolute-names", "-d", "-m", "-", d.m("f")]).stdout
    assert 'security.foo="bar"' in listed
    assert "user.virtiofs" not in listed
    assert "security.foo" in os.listxattr(d.m("f"))

    # The guest may not reach the reserved names itself.
    p = run(["setfattr", "-n", "user.virtiofs.security.x", "-v", "1", d.m("f")])
    assert p.returncode != 0
    assert errno_of(os.setxattr, d.m("f"), "user.virtiofs.y", b"1") == errno.EPERM
    assert "user.virtiofs.y" not in os.listxattr(d.h("f"))

    run_ok(["setfattr", "-x", "security.foo", d.m("f")])
    assert "user.virtiofs.security.foo" not in os.listxattr(d.h("f"))

    # Plain user.* names are untouched.
    run_ok(["setfattr", "-n", "user.plain", "-v", "p", d.m("f")])
    assert os.getxattr(d.h("f"), "user.plain") == b"p"


def test_no_xattr_option(pfsd_factory):
    d = pfsd_factory("--no-xattr")
    write_bytes(d.h("f"), b"x")
    os.setxattr(d.h("f"), "user.a", b"1")
    assert errno_of(os.setxattr, d.m("f"), "user.b", b"1") == errno.EOPNOTSUPP
    assert errno_of(os.getxattr, d.m("f"), "user.a") == errno.EOPNOTSUPP
    p = run(["setfattr", "-n", "user.c", "-v", "1", d.m("f")])
    assert p.returncode != 0 and "Operation not supported" in p.stderr
    assert "user.b" not in os.listxattr(d.h("f"))
    # The data path still works.
    write_bytes(d.m("g"), b"ok")
    assert read_bytes(d.h("g")) == b"ok"


# =========================================================================== big data


@pytest.mark.slow
def test_64mib_sha256_both_ways(pfsd):
    data = os.urandom(64 * MiB)
    want = hashlib.sha256(data).hexdigest()

    # Written through the mount (in odd-sized chunks) -> hashed on the host.
    with open(pfsd.m("through.bin"), "wb") as f:
        view = memoryview(data)
        off = 0
        while off < len(data):
            n = f.write(view[off:off + 1_000_003])
            off += n
    h = hashlib.sha256()
    with open(pfsd.h("through.bin"), "rb") as f:
        while chunk := f.read(4 * MiB):
            h.update(chunk)
    assert h.hexdigest() == want
    assert os.stat(pfsd.m("through.bin")).st_size == 64 * MiB

    # Written on the host -> read through the mount by a real tool.
    rev = data[::-1]
    write_bytes(pfsd.h("host.bin"), rev)
    out = run_ok(["sha256sum", pfsd.m("host.bin")]).stdout.split()[0]
    assert out == hashlib.sha256(rev).hexdigest()
    # And a copy that stays inside the mount.
    run_ok(["cp", pfsd.m("host.bin"), pfsd.m("copy.bin")])
    assert run_ok(["sha256sum", pfsd.h("copy.bin")]).stdout.split()[0] == out


def test_sparse_and_offset_io(pfsd):
    with open(pfsd.m("sparse"), "wb") as f:
        f.seek(10 * MiB)
        f.write(b"end")
    data = read_bytes(pfsd.h("sparse"))
    assert len(data) == 10 * MiB + 3 and data[-3:] == b"end" and data[:10] == bytes(10)
    fd = os.open(pfsd.m("sparse"), os.O_RDWR)
    try:
        assert os.pwrite(fd, b"mid", 5 * MiB) == 3
        assert os.pread(fd, 3, 10 * MiB) == b"end"
        # Reading past EOF returns nothing.
        assert os.pread(fd, 100, 20 * MiB) == b""
    finally:
        os.close(fd)
    assert read_bytes(pfsd.h("sparse"))[5 * MiB:5 * MiB + 3] == b"mid"
    # O_APPEND appends.
    with open(pfsd.m("sparse"), "ab") as f:
        f.write(b"+app")
    assert read_bytes(pfsd.h("sparse"))[-7:] == b"end+app"


# =========================================================================== renames


def test_rename_across_directories(pfsd):
    for d in ("a", "b", "a/inner"):
        os.mkdir(pfsd.h(d))
    write_bytes(pfsd.h("a", "f"), b"file a/f")
    write_bytes(pfsd.h("a", "inner", "g"), b"g")
    write_bytes(pfsd.h("b", "victim"), b"to be replaced")

    os.rename(pfsd.m("a", "f"), pfsd.m("b", "f2"))
    assert not pfsd.h("a", "f").exists()
    assert read_bytes(pfsd.h("b", "f2")) == b"file a/f"

    # A whole directory moves with its contents; link counts of both parents follow.
    nl_a, nl_b = os.stat(pfsd.h("a")).st_nlink, os.stat(pfsd.h("b")).st_nlink
    os.rename(pfsd.m("a", "inner"), pfsd.m("b", "inner"))
    assert read_bytes(pfsd.h("b", "inner", "g")) == b"g"
    assert read_bytes(pfsd.m("b", "inner", "g")) == b"g"
    assert os.stat(pfsd.h("a")).st_nlink == nl_a - 1
    assert os.stat(pfsd.m("a")).st_nlink == nl_a - 1
    assert os.stat(pfsd.m("b")).st_nlink == nl_b + 1

    # Replacing an existing file.
    os.rename(pfsd.m("b", "f2"), pfsd.m("b", "victim"))
    assert read_bytes(pfsd.h("b", "victim")) == b"file a/f"
    assert sorted(os.listdir(pfsd.m("b"))) == sorted(os.listdir(pfsd.h("b"))) == ["inner", "victim"]

    # mv(1) across directories too.
    run_ok(["mv", pfsd.m("b", "victim"), pfsd.m("a")])
    assert read_bytes(pfsd.h("a", "victim")) == b"file a/f"


def test_rename_exchange_and_noreplace(pfsd):
    os.mkdir(pfsd.h("d1"))
    os.mkdir(pfsd.h("d2"))
    write_bytes(pfsd.h("d1", "x"), b"X content")
    write_bytes(pfsd.h("d2", "y"), b"Y content")
    write_bytes(pfsd.h("d2", "marker"), b"in d2")
    ino_x = os.stat(pfsd.h("d1", "x")).st_ino

    renameat2(pfsd.m("d1", "x"), pfsd.m("d2", "y"), RENAME_EXCHANGE)
    assert read_bytes(pfsd.h("d1", "x")) == b"Y content"
    assert read_bytes(pfsd.h("d2", "y")) == b"X content"
    assert os.stat(pfsd.h("d2", "y")).st_ino == ino_x
    assert read_bytes(pfsd.m("d2", "y")) == b"X content"

    # A file and a directory swap places.
    renameat2(pfsd.m("d1", "x"), pfsd.m("d2"), RENAME_EXCHANGE)
    assert pfsd.h("d1", "x").is_dir() and read_bytes(pfsd.h("d1", "x", "marker")) == b"in d2"
    assert pfsd.h("d2").is_file() and read_bytes(pfsd.h("d2")) == b"Y content"
    assert read_bytes(pfsd.m("d1", "x", "marker")) == b"in d2"

    # RENAME_EXCHANGE needs both names; RENAME_NOREPLACE refuses an existing target.
    for flags, args, want in [
        (RENAME_EXCHANGE, ("d2", "missing"), errno.ENOENT),
        (RENAME_NOREPLACE, ("d2", "d1"), errno.EEXIST),
    ]:
        em = errno_of(renameat2, pfsd.m(args[0]), pfsd.m(args[1]), flags)
        eh = errno_of(renameat2, pfsd.h(args[0]), pfsd.h(args[1]), flags)
        assert (ename(em), ename(eh)) == (ename(want), ename(want))
    renameat2(pfsd.m("d2"), pfsd.m("fresh"), RENAME_NOREPLACE)
    assert read_bytes(pfsd.h("fresh")) == b"Y content"


# =========================================================================== links


def test_hard_link_counts(pfsd):
    write_bytes(pfsd.h("f"), b"linked")
    os.mkdir(pfsd.h("other"))
    for i in range(3):
        os.link(pfsd.m("f"), pfsd.m(f"l{i}"))
    os.link(pfsd.m("f"), pfsd.m("other", "far"))
    assert os.stat(pfsd.h("f")).st_nlink == 5
    for n in ("f", "l0", "l2", "other/far"):
        assert os.stat(pfsd.m(n)).st_nlink == 5, n
    os.unlink(pfsd.m("l1"))
    assert os.stat(pfsd.h("f")).st_nlink == 4
    assert os.stat(pfsd.m("f")).st_nlink == 4
    os.unlink(pfsd.m("l0"))
    assert os.stat(pfsd.h("f")).st_nlink == 3
    assert os.stat(pfsd.m("other", "far")).st_nlink == 3
    # A write through one name is visible through another.
    with open(pfsd.m("l2"), "ab") as f:
        f.write(b"+more")
    assert read_bytes(pfsd.h("other", "far")) == b"linked+more"

    # Directory link counts: 2 + number of subdirectories.
    os.mkdir(pfsd.m("dd"))
    for i in range(4):
        os.mkdir(pfsd.m("dd", f"s{i}"))
    assert os.stat(pfsd.h("dd")).st_nlink == 6
    assert os.stat(pfsd.m("dd")).st_nlink == 6


def test_hard_link_counts_without_attr_cache(pfsd_factory):
    """With cache=never, a link count changed on the host shows at once."""
    d = pfsd_factory("--cache", "never")
    write_bytes(d.h("f"), b"x")
    os.link(d.m("f"), d.m("g"))
    assert os.stat(d.m("f")).st_nlink == 2
    os.link(d.h("f"), d.h("h"))
    assert os.stat(d.m("f")).st_nlink == 3
    os.unlink(d.h("g"))
    os.unlink(d.h("h"))
    assert os.stat(d.m("f")).st_nlink == 1


# =========================================================================== readdir


@pytest.mark.slow
def test_readdir_10000_entries(pfsd):
    big = pfsd.h("big")
    big.mkdir()
    names = {f"entry-{i:05d}-{'x' * (i % 40)}" for i in range(10_000)}
    for n in names:
        fd = os.open(big / n, os.O_CREAT | os.O_WRONLY, 0o644)
        os.close(fd)
    through = os.listdir(pfsd.m("big"))
    assert len(through) == len(set(through)) == 10_000, "duplicates or missing entries"
    assert set(through) == set(os.listdir(big)) == names
    # A real tool sees the same (ls -f: unsorted, includes . and ..).
    out = run_ok(["ls", "-f", pfsd.m("big")]).stdout.split("\n")
    assert set(out) - {"", ".", ".."} == names

    # Entries created through the mount are listed too (1000 of them).
    made = set()
    for i in range(1000):
        n = f"m{i}"
        os.close(os.open(pfsd.m("big", n), os.O_CREAT | os.O_WRONLY, 0o600))
        made.add(n)
    assert set(os.listdir(pfsd.m("big"))) == names | made == set(os.listdir(big))


def test_readdir_contents_and_types_equal(pfsd):
    h = pfsd.h
    os.mkdir(h("d"))
    write_bytes(h("d", "reg"), b"r")
    os.mkdir(h("d", "sub"))
    os.symlink("reg", h("d", "sym"))
    os.mkfifo(h("d", "fifo"))
    os.mknod(h("d", "chr"), 0o600 | stat.S_IFCHR, os.makedev(1, 5))
    write_bytes(h("d", "name with spaces & ünïcödé"), b"")
    write_bytes(h("d", ".hidden"), b"")

    def entries(p):
        with os.scandir(p) as it:
            return sorted((e.name, e.is_dir(follow_symlinks=False), e.is_file(follow_symlinks=False),
                           e.is_symlink(), e.inode()) for e in it)

    assert entries(pfsd.m("d")) == entries(h("d"))
    assert len(entries(pfsd.m("d"))) == 7
    # Listing a directory emptied on the host.
    for e in os.listdir(h("d")):
        p = h("d", e)
        os.rmdir(p) if p.is_dir() and not p.is_symlink() else os.unlink(p)
    assert os.listdir(pfsd.m("d")) == []


# =========================================================================== concurrency


def test_concurrent_writers_different_files(pfsd):
    n, size = 8, 2 * MiB
    errors = []

    def writer(i):
        try:
            pattern = bytes([i]) * 4096
            with open(pfsd.m(f"w{i}"), "wb") as f:
                for _ in range(size // 4096):
                    f.write(pattern)
        except Exception as e:  # pragma: no cover - reported below
            errors.append((i, repr(e)))

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not any(t.is_alive() for t in threads), "writers hung"
    assert errors == []
    for i in range(n):
        assert read_bytes(pfsd.h(f"w{i}")) == bytes([i]) * size, f"w{i}"


def test_concurrent_writers_one_file_at_offsets(pfsd):
    n, region = 8, 1 * MiB
    # Separate processes, each with its own fd, write disjoint regions of one file.
    script = (
        "import os,sys\n"
        "i=int(sys.argv[2]); r=int(sys.argv[3])\n"
        "fd=os.open(sys.argv[1], os.O_WRONLY)\n"
        "buf=bytes([65+i])*65536\n"
        "for k in range(r//65536): os.pwrite(fd, buf, i*r+k*65536)\n"
        "os.close(fd)\n"
    )
    os.close(os.open(pfsd.m("shared.bin"), os.O_CREAT | os.O_WRONLY, 0o644))
    procs = [subprocess.Popen(["/usr/bin/python3", "-c", script, str(pfsd.m("shared.bin")), str(i),
                               str(region)]) for i in range(n)]
    try:
        for p in procs:
            assert p.wait(timeout=60) == 0
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait(5)
    data = read_bytes(pfsd.h("shared.bin"))
    assert len(data) == n * region
    for i in range(n):
        assert data[i * region:(i + 1) * region] == bytes([65 + i]) * region, f"region {i}"

    # Threads in one process sharing one fd, interleaved 4 KiB blocks.
    fd = os.open(pfsd.m("interleaved"), os.O_CREAT | os.O_RDWR, 0o644)
    try:
        def w(i):
            for k in range(64):
                os.pwrite(fd, bytes([i]) * 4096, (k * n + i) * 4096)
        ts = [threading.Thread(target=w, args=(i,)) for i in range(n)]
        for t in ts:
            t.start()
        for t in ts:
            t.join(60)
    finally:
        os.close(fd)
    data = read_bytes(pfsd.h("interleaved"))
    assert len(data) == 64 * n * 4096
    for blk in range(64 * n):
        assert data[blk * 4096:(blk + 1) * 4096] == bytes([blk % n]) * 4096, f"block {blk}"


# =========================================================================== permissions


def test_permissions_as_unprivileged_user(pfsd_factory):
    pfsd = pfsd_factory("--allow-other")
    h = pfsd.h
    # Two identical trees, one reached through the mount and one directly on the host,
    # so any unexpected success on one side cannot disturb the other.
    for side in ("via_mnt", "via_host"):
        base = h(side)
        base.mkdir(mode=0o755)
        base.chmod(0o755)
        write_bytes(base / "public", b"public\n")
        os.chmod(base / "public", 0o644)
        write_bytes(base / "secret", b"secret\n")
        os.chmod(base / "secret", 0o600)
        write_bytes(base / "readonly", b"ro\n")
        os.chmod(base / "readonly", 0o444)
        write_bytes(base / "mine", b"mine\n")
        os.chown(base / "mine", NOBODY, NOBODY)
        os.chmod(base / "mine", 0o600)
        (base / "closed").mkdir()
        os.chmod(base / "closed", 0o700)
        write_bytes(base / "closed" / "inside", b"in\n")
        os.chmod(base / "closed" / "inside", 0o644)
        (base / "xonly").mkdir()
        write_bytes(base / "xonly" / "known", b"known\n")
        os.chmod(base / "xonly" / "known", 0o644)
        os.chmod(base / "xonly", 0o711)
        (base / "open").mkdir()
        os.chmod(base / "open", 0o777)
        (base / "sticky").mkdir()
        os.chmod(base / "sticky", 0o1777)
        write_bytes(base / "sticky" / "roots", b"r\n")
        os.chmod(base / "sticky" / "roots", 0o666)
        write_bytes(base / "script", b"#!/bin/sh\necho ran\n")
        os.chmod(base / "script", 0o744)

    cases = [
        # (command with {} for the tree, expect success?)
        (["cat", "{}/public"], True),
        (["cat", "{}/secret"], False),
        (["cat", "{}/mine"], True),
        (["sh", "-c", "echo x >> {}/readonly"], False),
        (["sh", "-c", "echo x >> {}/public"], False),
        (["sh", "-c", "echo x >> {}/mine"], True),
        (["touch", "{}/newfile"], False),
        (["mkdir", "{}/newdir"], False),
        (["rm", "-f", "{}/public"], False),
        (["ls", "{}/closed"], False),
        (["cat", "{}/closed/inside"], False),
        (["ls", "{}/xonly"], False),
        (["cat", "{}/xonly/known"], True),
        (["touch", "{}/open/created"], True),
        (["mkdir", "{}/open/subdir"], True),
        (["rm", "-f", "{}/sticky/roots"], False),
        (["sh", "-c", "echo y > {}/sticky/roots"], True),
        (["chmod", "777", "{}/public"], False),
        (["chmod", "640", "{}/mine"], True),
        # Through sh: setpriv's own execve of the command is not a fair exec check.
        (["sh", "-c", "{}/script"], False),
        (["ls", "{}"], True),
    ]
    mismatches = []
    for cmd, want_ok in cases:
        results = {}
        for side, root in (("mnt", pfsd.m("via_mnt")), ("host", h("via_host"))):
            argv = [c.replace("{}", str(root)) for c in cmd]
            p = run(as_nobody(argv))
            denied = "Permission denied" in p.stderr or "Operation not permitted" in p.stderr
            results[side] = (p.returncode == 0, denied, p.stderr.strip().replace(str(root), "{}"))
        host_ok = results["host"][0]
        assert host_ok == want_ok, f"host itself behaves unexpectedly for {cmd}: {results['host']}"
        if results["mnt"][:2] != results["host"][:2]:
            mismatches.append((" ".join(cmd), results))
    assert mismatches == [], "through the mount differs from the host:\n" + "\n".join(
        f"  {c}: mount={r['mnt']} host={r['host']}" for c, r in mismatches)

    # Files made by nobody through the mount belong to nobody on the host.
    st = os.stat(h("via_mnt", "open", "created"))
    assert (st.st_uid, st.st_gid) == (NOBODY, NOBODY)
    st = os.stat(h("via_mnt", "open", "subdir"))
    assert (st.st_uid, st.st_gid) == (NOBODY, NOBODY)
    assert stat.S_IMODE(os.stat(h("via_mnt", "mine")).st_mode) == 0o640


def test_created_files_get_callers_owner_and_umask(pfsd_factory):
    pfsd = pfsd_factory("--allow-other")
    os.chmod(pfsd.shared, 0o777)
    p = run(["setpriv", "--reuid=1000", "--regid=2000", "--clear-groups", "sh", "-c",
             f"umask 027 && echo hi > {pfsd.m('f')} && mkdir {pfsd.m('d')} && "
             f"ln -s f {pfsd.m('s')} && mkfifo {pfsd.m('p')}"])
    assert p.returncode == 0, p.stderr
    for n, mode in (("f", 0o640), ("d", 0o750), ("p", 0o640)):
        st = os.lstat(pfsd.h(n))
        assert (st.st_uid, st.st_gid) == (1000, 2000), n
        assert stat.S_IMODE(st.st_mode) == mode, (n, oct(st.st_mode))
    st = os.lstat(pfsd.h("s"))
    assert (st.st_uid, st.st_gid) == (1000, 2000)
    # The server process's own credentials are restored afterwards: root creates as root.
    write_bytes(pfsd.m("rootfile"), b"r")
    st = os.stat(pfsd.h("rootfile"))
    assert (st.st_uid, st.st_gid) == (0, 0)


# =========================================================================== readonly


def test_readonly_refuses_writes_with_erofs(pfsd_factory):
    d = pfsd_factory("--readonly")
    write_bytes(d.h("f"), b"content")
    os.mkdir(d.h("dir"))
    os.setxattr(d.h("f"), "user.a", b"1")

    assert read_bytes(d.m("f")) == b"content"
    assert os.listdir(d.m("dir")) == []
    assert os.getxattr(d.m("f"), "user.a") == b"1"

    ops = {
        "open for write": lambda: os.close(os.open(d.m("f"), os.O_WRONLY)),
        "open O_RDWR": lambda: os.close(os.open(d.m("f"), os.O_RDWR)),
        "create": lambda: os.close(os.open(d.m("new"), os.O_CREAT | os.O_WRONLY, 0o644)),
        "mkdir": lambda: os.mkdir(d.m("newdir")),
        "unlink": lambda: os.unlink(d.m("f")),
        "rmdir": lambda: os.rmdir(d.m("dir")),
        "rename": lambda: os.rename(d.m("f"), d.m("g")),
        "link": lambda: os.link(d.m("f"), d.m("g")),
        "symlink": lambda: os.symlink("f", d.m("s")),
        "mkfifo": lambda: os.mkfifo(d.m("p")),
        "chmod": lambda: os.chmod(d.m("f"), 0o600),
        "chown": lambda: os.chown(d.m("f"), 1, 1),
        "truncate": lambda: os.truncate(d.m("f"), 0),
        "utime": lambda: os.utime(d.m("f"), ns=(1, 1)),
        "setxattr": lambda: os.setxattr(d.m("f"), "user.b", b"2"),
        "removexattr": lambda: os.removexattr(d.m("f"), "user.a"),
    }
    got = {k: ename(errno_of(fn)) for k, fn in ops.items()}
    assert got == {k: "EROFS" for k in ops}

    for cmd in (["touch", d.m("t")], ["mkdir", d.m("m")], ["rm", "-f", d.m("f")],
                ["setfattr", "-n", "user.c", "-v", "3", d.m("f")],
                ["sh", "-c", f"echo x > {d.m('f')}"]):
        p = run(cmd)
        assert p.returncode != 0 and "Read-only file system" in p.stderr, (cmd, p.stderr)

    assert read_bytes(d.h("f")) == b"content"
    assert sorted(os.listdir(d.shared)) == ["dir", "f"]
    assert os.listxattr(d.h("f")) == ["user.a"]


# =========================================================================== cache modes


@pytest.mark.parametrize("mode", ["never", "auto", "always", "metadata"])
def test_cache_mode_basic_read_write(pfsd_factory, mode):
    d = pfsd_factory("--cache", mode)
    assert f"cache={'never' if mode == 'metadata' else mode}" in _wait_log(d, "serving")
    payload = os.urandom(300_000)
    write_bytes(d.m("f"), payload)
    assert read_bytes(d.h("f")) == payload
    assert read_bytes(d.m("f")) == payload
    with open(d.m("f"), "r+b") as f:
        f.seek(1000)
        f.write(b"PATCH")
    assert read_bytes(d.h("f"))[1000:1005] == b"PATCH"
    os.mkdir(d.m("sub"))
    os.rename(d.m("f"), d.m("sub", "g"))
    assert read_bytes(d.m("sub", "g"))[1000:1005] == b"PATCH"
    os.unlink(d.m("sub", "g"))
    assert os.listdir(d.h("sub")) == []


def test_cache_never_sees_host_changes_immediately(pfsd_factory):
    d = pfsd_factory("--cache", "never")
    write_bytes(d.h("f"), b"version 1")
    assert read_bytes(d.m("f")) == b"version 1"
    assert os.stat(d.m("f")).st_size == 9
    write_bytes(d.h("f"), b"v2")  # shorter
    assert os.stat(d.m("f")).st_size == 2
    assert read_bytes(d.m("f")) == b"v2"
    write_bytes(d.h("f"), b"version three")  # same inode, longer
    assert read_bytes(d.m("f")) == b"version three"
    # Same size, different bytes: only uncached data can see this.
    write_bytes(d.h("f"), b"VERSION THREE")
    assert read_bytes(d.m("f")) == b"VERSION THREE"
    # An open fd sees it too (direct I/O).
    with open(d.m("f"), "rb") as f:
        assert f.read() == b"VERSION THREE"
        with open(d.h("f"), "r+b") as g:
            g.write(b"v")
        f.seek(0)
        assert f.read() == b"vERSION THREE"
    # Names created, removed and replaced on the host.
    write_bytes(d.h("new"), b"n")
    assert read_bytes(d.m("new")) == b"n"
    os.unlink(d.h("new"))
    assert not os.path.exists(d.m("new"))
    os.chmod(d.h("f"), 0o600)
    assert stat.S_IMODE(os.stat(d.m("f")).st_mode) == 0o600
    write_bytes(d.h("tmp"), b"replacement")
    os.rename(d.h("tmp"), d.h("f"))
    assert read_bytes(d.m("f")) == b"replacement"


def test_cache_auto_sees_host_changes_within_2s(pfsd_factory):
    d = pfsd_factory("--cache", "auto")
    write_bytes(d.h("f"), b"version 1")
    assert read_bytes(d.m("f")) == b"version 1"
    assert os.stat(d.m("f")).st_size == 9
    t0 = time.monotonic()
    write_bytes(d.h("f"), b"second version!")
    write_bytes(d.h("new"), b"n")
    seen = None
    while time.monotonic() - t0 < 2.5:
        try:
            if read_bytes(d.m("f")) == b"second version!" and read_bytes(d.m("new")) == b"n":
                seen = time.monotonic() - t0
                break
        except FileNotFoundError:
            pass
        time.sleep(0.05)
    assert seen is not None, "host change not visible through the mount after 2.5 s (cache=auto)"
    assert os.stat(d.m("f")).st_size == 15


def _wait_log(d, needle, timeout=5.0) -> str:
    deadline = time.monotonic() + timeout
    while needle not in d.log_text() and time.monotonic() < deadline:
        time.sleep(0.02)
    return d.log_text()


def test_writeback_and_timeouts_options(pfsd_factory):
    d = pfsd_factory("--writeback", "--entry-timeout", "0.5", "--attr-timeout", "0.25",
                     "--thread-pool-size", "1")
    assert "writeback" in _wait_log(d, "serving")
    write_bytes(d.m("f"), b"abc")
    with open(d.m("f"), "ab") as f:
        f.write(b"def")
    with open(d.m("wo"), "wb") as f:  # O_WRONLY becomes O_RDWR for the writeback cache
        f.write(b"x" * 10000)
    fd = os.open(d.m("f"), os.O_WRONLY | os.O_APPEND)
    os.write(fd, b"ghi")
    os.close(fd)
    os.sync()
    assert read_bytes(d.h("f")) == b"abcdefghi"
    assert read_bytes(d.h("wo")) == b"x" * 10000


def test_legacy_o_options(pfsd_factory):
    d = pfsd_factory(start=False)
    args = ["-o", f"source={d.shared},cache=never,no_xattr,thread_pool_size=2"]
    cmd = [str(d.binary), "--mount", str(d.mnt), *args]
    d.command = lambda args=None: cmd  # this run names the shared dir only through -o
    d.start()
    write_bytes(d.h("f"), b"1")
    assert read_bytes(d.m("f")) == b"1"
    write_bytes(d.h("f"), b"2")
    assert read_bytes(d.m("f")) == b"2"  # cache=never took effect
    assert errno_of(os.getxattr, d.m("f"), "user.x") == errno.EOPNOTSUPP  # no_xattr too


def test_ascii_casefold(pfsd_factory):
    d = pfsd_factory("--ascii-casefold")
    write_bytes(d.h("ReadMe.TXT"), b"case")
    assert read_bytes(d.m("readme.txt")) == b"case"
    assert read_bytes(d.m("README.TXT")) == b"case"
    assert os.stat(d.m("readme.txt")).st_ino == os.stat(d.h("ReadMe.TXT")).st_ino
    assert errno_of(os.stat, d.m("readme.txt2")) == errno.ENOENT
    # Without the option, lookups are exact.
    d2 = pfsd_factory()
    write_bytes(d2.h("ReadMe.TXT"), b"case")
    assert errno_of(os.stat, d2.m("readme.txt")) == errno.ENOENT


# =========================================================================== errno parity


def _setup_errno_tree(root: Path):
    root.mkdir()
    (root / "dir").mkdir()
    (root / "full").mkdir()
    write_bytes(root / "full" / "x", b"x")
    (root / "full2").mkdir()
    write_bytes(root / "full2" / "y", b"y")
    (root / "empty").mkdir()
    write_bytes(root / "file", b"f")
    os.symlink("file", root / "sym")


ERRNO_CASES = [
    # (name, operation on a tree root, expected errno on the host)
    ("open missing file", lambda r: os.open(r / "missing", os.O_RDONLY), errno.ENOENT),
    ("stat missing", lambda r: os.stat(r / "missing"), errno.ENOENT),
    ("unlink missing", lambda r: os.unlink(r / "missing"), errno.ENOENT),
    ("rmdir non-empty", lambda r: os.rmdir(r / "full"), errno.ENOTEMPTY),
    ("mkdir existing", lambda r: os.mkdir(r / "dir"), errno.EEXIST),
    ("mkdir over file", lambda r: os.mkdir(r / "file"), errno.EEXIST),
    ("unlink a dir", lambda r: os.unlink(r / "dir"), errno.EISDIR),
    ("rmdir a file", lambda r: os.rmdir(r / "file"), errno.ENOTDIR),
    ("open O_EXCL existing", lambda r: os.open(r / "file", os.O_CREAT | os.O_EXCL | os.O_WRONLY),
     errno.EEXIST),
    ("readlink regular file", lambda r: os.readlink(r / "file"), errno.EINVAL),
    ("rename dir into itself", lambda r: os.rename(r / "dir", r / "dir" / "sub"), errno.EINVAL),
    ("link to a dir", lambda r: os.link(r / "dir", r / "dirlink"), errno.EPERM),
    ("open dir for write", lambda r: os.open(r / "dir", os.O_WRONLY), errno.EISDIR),
    ("path through a file", lambda r: os.open(r / "file" / "x", os.O_RDONLY), errno.ENOTDIR),
    ("mkdir under a file", lambda r: os.mkdir(r / "file" / "d"), errno.ENOTDIR),
    ("listdir a file", lambda r: os.listdir(r / "file"), errno.ENOTDIR),
    ("O_DIRECTORY on a file", lambda r: os.open(r / "file", os.O_RDONLY | os.O_DIRECTORY),
     errno.ENOTDIR),
    ("O_NOFOLLOW on a symlink", lambda r: os.open(r / "sym", os.O_RDONLY | os.O_NOFOLLOW),
     errno.ELOOP),
    ("rename dir over non-empty dir", lambda r: os.rename(r / "full", r / "full2"),
     errno.ENOTEMPTY),
    ("rename file over dir", lambda r: os.rename(r / "file", r / "dir"), errno.EISDIR),
    ("rename dir over file", lambda r: os.rename(r / "dir", r / "file"), errno.ENOTDIR),
    ("rename missing", lambda r: os.rename(r / "missing", r / "other"), errno.ENOENT),
    ("symlink over existing", lambda r: os.symlink("t", r / "file"), errno.EEXIST),
    ("link over existing", lambda r: os.link(r / "file", r / "sym"), errno.EEXIST),
    ("mkfifo over existing", lambda r: os.mkfifo(r / "file"), errno.EEXIST),
    ("truncate a dir", lambda r: os.truncate(r / "dir", 0), errno.EISDIR),
    ("getxattr missing", lambda r: os.getxattr(r / "file", "user.missing"), errno.ENODATA),
    ("removexattr missing", lambda r: os.removexattr(r / "file", "user.missing"), errno.ENODATA),
    ("name too long", lambda r: os.open(r / ("n" * 256), os.O_CREAT | os.O_WRONLY, 0o644),
     errno.ENAMETOOLONG),
    ("stat name too long", lambda r: os.stat(r / ("n" * 256)), errno.ENAMETOOLONG),
    # (pathlib drops a trailing "/.", so join by hand)
    ("rmdir dot", lambda r: os.rmdir(os.path.join(r, "empty", ".")), errno.EINVAL),
    ("symlink loop", lambda r: (os.symlink("loop", r / "loop"), os.stat(r / "loop")), errno.ELOOP),
]


@pytest.mark.parametrize("name,op,want", ERRNO_CASES, ids=[c[0] for c in ERRNO_CASES])
def test_errno_parity(pfsd, name, op, want):
    _setup_errno_tree(pfsd.h("via_mnt"))
    _setup_errno_tree(pfsd.h("via_host"))
    eh = errno_of(op, pfsd.h("via_host"))
    em = errno_of(op, pfsd.m("via_mnt"))
    assert ename(eh) == ename(want), f"host gives {ename(eh)} for {name} (test assumption)"
    assert ename(em) == ename(eh), f"{name}: mount gives {ename(em)}, host gives {ename(eh)}"
    # The failed operation changed nothing on either side.
    assert tree_listing(pfsd.h("via_mnt")) == tree_listing(pfsd.h("via_host"))


# =========================================================================== kill -9 / restart


def test_kill9_leaves_enotconn_and_fresh_pfsd_remounts(pfsd):
    write_bytes(pfsd.m("before"), b"written before the crash")
    os.mkdir(pfsd.m("dir"))
    write_bytes(pfsd.m("dir", "inner"), os.urandom(50_000))
    inner = read_bytes(pfsd.h("dir", "inner"))
    os.sync()

    # Look at the mount root just before the crash, as any shell or file manager would:
    # the kernel now holds the root's attributes for the attribute timeout.
    os.stat(pfsd.mnt)
    rc = pfsd.kill9()
    assert rc == -signal.SIGKILL
    assert fuse_mounts_at(pfsd.mnt), "the dead pfsd's mount should still be there (stale)"
    with pytest.raises(OSError) as ei:
        os.stat(pfsd.m("before"))
    assert ei.value.errno == errno.ENOTCONN
    assert "Transport endpoint is not connected" in str(ei.value)
    p = run(["ls", pfsd.mnt])
    assert p.returncode != 0 and "Transport endpoint is not connected" in p.stderr

    assert read_bytes(pfsd.h("before")) == b"written before the crash"
    assert read_bytes(pfsd.h("dir", "inner")) == inner

    pfsd.start()  # a fresh pfsd on the same mountpoint detaches the stale mount
    # Mount ids are reused once the stale mount is gone, so compare liveness, not ids:
    # exactly one FUSE mount is left there, and it answers.
    live = fuse_mounts_at(pfsd.mnt)
    assert len(live) == 1, "stale mount still attached"
    os.statvfs(pfsd.mnt)
    assert read_bytes(pfsd.m("before")) == b"written before the crash"
    assert read_bytes(pfsd.m("dir", "inner")) == inner
    write_bytes(pfsd.m("after"), b"served again")
    assert read_bytes(pfsd.h("after")) == b"served again"
    # teardown asserts that this second pfsd exits 0 on SIGTERM.


# =========================================================================== signals / lifecycle


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_unmounts_and_exits_0(pfsd, sig):
    write_bytes(pfsd.m("f"), b"x")
    _wait_log(pfsd, "serving")
    rc = pfsd.stop(sig)
    assert rc == 0, pfsd.log_text()
    assert not pfsd.is_mounted()
    assert read_bytes(pfsd.h("f")) == b"x"
    assert os.listdir(pfsd.mnt) == []  # the bare mountpoint again


def test_sigterm_while_busy_unmounts_lazily(pfsd):
    os.mkdir(pfsd.h("d"))
    write_bytes(pfsd.h("d", "f"), b"x")
    holder = subprocess.Popen(["sleep", "60"], cwd=pfsd.m("d"))
    fd = os.open(pfsd.m("d", "f"), os.O_RDONLY)
    try:
        rc = pfsd.stop(signal.SIGTERM)
        assert rc == 0, pfsd.log_text()
        assert not pfsd.is_mounted(), "busy mount should have been detached lazily"
        assert read_bytes(pfsd.h("d", "f")) == b"x"
    finally:
        # The daemon is gone, so the kernel's FLUSH on close may fail with ENOTCONN.
        try:
            os.close(fd)
        except OSError as e:
            assert e.errno == errno.ENOTCONN
        holder.kill()
        holder.wait(10)


def test_exits_0_when_mount_goes_away(pfsd):
    write_bytes(pfsd.m("f"), b"x")
    run_ok(["umount", pfsd.mnt])
    try:
        rc = pfsd.proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        pytest.fail("pfsd did not exit within 10 s after its mount was unmounted")
    assert rc == 0, pfsd.log_text()
    pfsd.returncodes.append(rc)
    pfsd.proc = None


def test_restart_with_other_options(pfsd):
    write_bytes(pfsd.m("f"), b"x")
    pfsd.restart(["--readonly"])
    assert read_bytes(pfsd.m("f")) == b"x"
    assert errno_of(os.unlink, pfsd.m("f")) == errno.EROFS
    pfsd.restart([])
    os.unlink(pfsd.m("f"))
    assert not pfsd.h("f").exists()


# =========================================================================== bad use


def _bad_use_cases(tmp: Path):
    shared = tmp / "shared"
    mnt = tmp / "mnt"
    shared.mkdir()
    mnt.mkdir()
    afile = tmp / "afile"
    write_bytes(afile, b"")
    return {
        "missing shared dir": ([f"--shared-dir={tmp}/nope", "--mount", mnt], [f"{tmp}/nope"]),
        "shared dir is a file": (["--shared-dir", afile, "--mount", mnt], [str(afile),
                                                                         "not a directory"]),
        "missing mountpoint": (["--shared-dir", shared, "--mount", tmp / "nomnt"],
                               [f"{tmp}/nomnt"]),
        "mountpoint is a file": (["--shared-dir", shared, "--mount", afile], [str(afile)]),
        "unknown option": (["--shared-dir", shared, "--mount", mnt, "--bogus-flag"],
                           ["--bogus-flag"]),
        "bad --cache value": (["--shared-dir", shared, "--mount", mnt, "--cache", "sometimes"],
                              ["sometimes"]),
        "bad --log-level": (["--shared-dir", shared, "--mount", mnt, "--log-level", "loud"],
                            ["loud"]),
        "no --mount": (["--shared-dir", shared], ["--mount"]),
        "no --shared-dir": (["--mount", mnt], ["--shared-dir"]),
        "bad thread count": (["--shared-dir", shared, "--mount", mnt, "--thread-pool-size", "0"],
                             ["--thread-pool-size"]),
        "unknown -o key": (["-o", f"source={shared},frobnicate", "--mount", mnt], ["frobnicate"]),
    }


BAD_USE_NAMES = ["missing shared dir", "shared dir is a file", "missing mountpoint",
                 "mountpoint is a file", "unknown option", "bad --cache value", "bad --log-level",
                 "no --mount", "no --shared-dir", "bad thread count", "unknown -o key"]


def _check_bad_use(binary, args, needles, mnt):
    t0 = time.monotonic()
    try:
        p = run([binary, *args], timeout=10)
    except subprocess.TimeoutExpired:
        # subprocess.run kills the child on timeout.
        pytest.fail(f"pfsd {args} did not exit within 10 s (it should refuse at once)")
    took = time.monotonic() - t0
    assert p.returncode != 0, f"pfsd {args} exited 0\n{p.stderr}"
    assert took < 5, f"took {took:.1f} s"
    lines = [ln for ln in p.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, f"want exactly one stderr line, got {len(lines)}:\n{p.stderr}"
    for n in needles:
        assert n in lines[0], f"stderr line does not name {n!r}: {lines[0]}"
    assert p.stdout == "", f"unexpected stdout: {p.stdout}"
    assert not fuse_mounts_at(mnt)


@pytest.mark.parametrize("case", BAD_USE_NAMES)
def test_bad_use_exits_nonzero_with_one_clear_line(pfsd_binary, scratch_dir, case):
    args, needles = _bad_use_cases(scratch_dir)[case]
    _check_bad_use(pfsd_binary, args, needles, scratch_dir / "mnt")


def test_bad_use_mountpoint_already_mounted(pfsd_binary, scratch_dir):
    shared = scratch_dir / "shared"
    mnt = scratch_dir / "mnt"
    shared.mkdir()
    mnt.mkdir()
    run_ok(["mount", "-t", "tmpfs", "-o", "size=1m", "pfs-pytest-tmpfs", mnt])
    try:
        assert [m["fstype"] for m in mounts_at(mnt)] == ["tmpfs"]
        _check_bad_use(pfsd_binary, ["--shared-dir", shared, "--mount", mnt],
                       [str(mnt), "already a mount point"], mnt)
        assert [m["fstype"] for m in mounts_at(mnt)] == ["tmpfs"], "pfsd disturbed the tmpfs"
    finally:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True, timeout=10)
    assert mounts_at(mnt) == []


@pytest.mark.parametrize("flag", ["--version", "-V", "--help", "-h"])
def test_version_and_help_exit_0(pfsd_binary, flag):
    p = run([pfsd_binary, flag], timeout=10)
    assert p.returncode == 0, p.stderr
    assert "pfsd" in p.stdout
    if flag in ("--help", "-h"):
        for opt in ("--shared-dir", "--mount", "--cache", "--readonly", "--record"):
            assert opt in p.stdout
    else:
        assert p.stdout.count("\n") == 1


# =========================================================================== more data ops


def test_fallocate_copy_file_range_and_seek_data(pfsd):
    fd = os.open(pfsd.m("f"), os.O_CREAT | os.O_RDWR, 0o644)
    try:
        os.posix_fallocate(fd, 0, 3 * MiB)
        assert os.stat(pfsd.h("f")).st_size == 3 * MiB
        assert os.stat(pfsd.h("f")).st_blocks * 512 >= 3 * MiB
        os.pwrite(fd, b"data at 2M", 2 * MiB)
    finally:
        os.close(fd)
    src = os.open(pfsd.m("f"), os.O_RDONLY)
    dst = os.open(pfsd.m("g"), os.O_CREAT | os.O_WRONLY, 0o644)
    try:
        done = 0
        while done < 3 * MiB:
            n = os.copy_file_range(src, dst, 3 * MiB - done, done, done)
            assert n > 0
            done += n
    finally:
        os.close(src)
        os.close(dst)
    assert read_bytes(pfsd.h("g")) == read_bytes(pfsd.h("f"))
    assert read_bytes(pfsd.h("g"))[2 * MiB:2 * MiB + 10] == b"data at 2M"

    # SEEK_DATA/SEEK_HOLE answer like the host's for a sparse file.
    with open(pfsd.h("sparse"), "wb") as f:
        f.seek(4 * MiB)
        f.write(b"tail")
    results = {}
    for side, p in (("mnt", pfsd.m("sparse")), ("host", pfsd.h("sparse"))):
        fd = os.open(p, os.O_RDONLY)
        try:
            results[side] = (os.lseek(fd, 0, os.SEEK_DATA), os.lseek(fd, 0, os.SEEK_HOLE),
                             errno_of(os.lseek, fd, 4 * MiB + 4, os.SEEK_DATA))
        finally:
            os.close(fd)
    assert results["mnt"] == results["host"]


def test_mknod_device_node(pfsd):
    os.mknod(pfsd.m("null"), 0o600 | stat.S_IFCHR, os.makedev(1, 3))
    st = os.lstat(pfsd.h("null"))
    assert stat.S_ISCHR(st.st_mode) and st.st_rdev == os.makedev(1, 3)
    assert os.lstat(pfsd.m("null")).st_rdev == os.makedev(1, 3)
    # The mount is nodev: the node exists but cannot be opened through it.
    assert errno_of(os.open, pfsd.m("null"), os.O_RDONLY) == errno.EACCES


# =========================================================================== POSIX corners


def test_open_unlinked_and_renamed_over_files_stay_usable(pfsd):
    write_bytes(pfsd.h("victim"), b"old contents")
    fd = os.open(pfsd.m("victim"), os.O_RDWR)
    try:
        os.unlink(pfsd.m("victim"))
        assert not pfsd.h("victim").exists()
        assert os.pread(fd, 100, 0) == b"old contents"
        os.pwrite(fd, b"NEW", 0)
        assert os.pread(fd, 100, 0) == b"NEW contents"
        assert os.fstat(fd).st_nlink == 0
    finally:
        os.close(fd)
    write_bytes(pfsd.h("a"), b"a-data")
    write_bytes(pfsd.h("b"), b"b-data")
    fd = os.open(pfsd.m("b"), os.O_RDONLY)
    try:
        os.rename(pfsd.m("a"), pfsd.m("b"))
        assert os.pread(fd, 100, 0) == b"b-data"
        assert read_bytes(pfsd.m("b")) == b"a-data"
    finally:
        os.close(fd)
    # O_TRUNC on an existing file.
    fd = os.open(pfsd.m("b"), os.O_WRONLY | os.O_TRUNC)
    os.close(fd)
    assert read_bytes(pfsd.h("b")) == b""


def test_odd_names_round_trip(pfsd):
    names = ["with space", "new\nline", "back\\slash", "tab\there", "ünïcödé-名前", "-dash",
             "a" * 255, ".dot", "..dotdot", "quote'\"", "\x01ctrl", "*?[glob]"]
    for n in names:
        write_bytes(pfsd.m(n), n.encode("utf-8", "surrogateescape"))
    assert sorted(os.listdir(pfsd.shared)) == sorted(names)
    assert sorted(os.listdir(pfsd.mnt)) == sorted(names)
    for n in names:
        assert read_bytes(pfsd.h(n)) == n.encode()
    # A name that is not valid UTF-8 (bytes API).
    raw = b"bad-\xff\xfe-utf8"
    with open(os.path.join(os.fsencode(pfsd.mnt), raw), "wb") as f:
        f.write(b"raw")
    assert raw in os.listdir(os.fsencode(pfsd.shared))
    assert raw in os.listdir(os.fsencode(pfsd.mnt))


def test_deep_tree(pfsd):
    parts = [f"level{i:02d}" for i in range(60)]
    deep = pfsd.m(*parts)
    os.makedirs(deep)
    write_bytes(deep / "leaf", b"deep")
    assert read_bytes(pfsd.h(*parts, "leaf")) == b"deep"
    run_ok(["rm", "-r", pfsd.m("level00")])
    assert os.listdir(pfsd.shared) == []


def test_setgid_directory_inheritance(pfsd):
    os.mkdir(pfsd.h("sg"))
    os.chown(pfsd.h("sg"), 0, 4321)
    os.chmod(pfsd.h("sg"), 0o2775)
    os.mkdir(pfsd.m("sg", "sub"))
    write_bytes(pfsd.m("sg", "file"), b"x")
    # The same on the host, for reference.
    os.mkdir(pfsd.h("sg", "hsub"))
    write_bytes(pfsd.h("sg", "hfile"), b"x")
    for via_mnt, via_host in (("sub", "hsub"), ("file", "hfile")):
        sm, sh_ = os.stat(pfsd.h("sg", via_mnt)), os.stat(pfsd.h("sg", via_host))
        assert (sm.st_gid, stat.filemode(sm.st_mode)) == (sh_.st_gid, stat.filemode(sh_.st_mode)), \
            via_mnt
    assert os.stat(pfsd.h("sg", "sub")).st_gid == 4321
    assert os.stat(pfsd.h("sg", "sub")).st_mode & stat.S_ISGID


def test_access_as_nobody_matches_host(pfsd_factory):
    pfsd = pfsd_factory("--allow-other")
    os.chmod(pfsd.shared, 0o755)
    for name, mode in (("r", 0o444), ("w", 0o222), ("x", 0o111), ("none", 0o000),
                       ("all", 0o777), ("owner", 0o700)):
        write_bytes(pfsd.h(name), b"#!/bin/sh\n")
        os.chmod(pfsd.h(name), mode)
    script = ("import os,sys\n"
              "for n in sys.argv[2:]:\n"
              "  p=os.path.join(sys.argv[1],n)\n"
              "  print(n, os.access(p,os.R_OK), os.access(p,os.W_OK), os.access(p,os.X_OK))\n")
    names = ["r", "w", "x", "none", "all", "owner"]
    out_m = run_ok(as_nobody(["/usr/bin/python3", "-c", script, pfsd.mnt, *names])).stdout
    out_h = run_ok(as_nobody(["/usr/bin/python3", "-c", script, pfsd.shared, *names])).stdout
    assert out_m == out_h
    # And as root (which passes R/W always, X only with some x bit).
    out_m = run_ok(["/usr/bin/python3", "-c", script, pfsd.mnt, *names]).stdout
    out_h = run_ok(["/usr/bin/python3", "-c", script, pfsd.shared, *names]).stdout
    assert out_m == out_h


def test_inodes_forgotten_after_cache_drop_keep_working(pfsd):
    """Forces FORGET/BATCH_FORGET for many inodes (drop_caches), then uses them again."""
    os.mkdir(pfsd.m("d"))
    for i in range(300):
        write_bytes(pfsd.m("d", f"f{i}"), str(i).encode())
    for i in range(0, 300, 2):
        os.unlink(pfsd.m("d", f"f{i}"))
    os.sync()
    with open("/proc/sys/vm/drop_caches", "w") as f:
        f.write("2\n")  # dentries and inodes: the kernel FORGETs what it held
    for i in range(1, 300, 2):
        assert read_bytes(pfsd.m("d", f"f{i}")) == str(i).encode()
    assert len(os.listdir(pfsd.m("d"))) == 150
    for i in range(0, 300, 2):
        assert errno_of(os.stat, pfsd.m("d", f"f{i}")) == errno.ENOENT
    write_bytes(pfsd.m("d", "f0"), b"again")
    assert read_bytes(pfsd.h("d", "f0")) == b"again"
    # A plain workload leaves no warnings or errors in the log.
    bad = [ln for ln in pfsd.log_text().splitlines() if " warn:" in ln or " error:" in ln]
    assert bad == []


def test_relative_paths_on_the_command_line(pfsd_factory):
    d = pfsd_factory(start=False)
    cmd = [str(d.binary), "--shared-dir", "shared", "--mount", "./mnt"]
    d.command = lambda args=None: cmd
    old = os.getcwd()
    os.chdir(d.base)  # Popen inherits the cwd
    try:
        d.start()
    finally:
        os.chdir(old)
    write_bytes(d.m("f"), b"rel")
    assert read_bytes(d.h("f")) == b"rel"
