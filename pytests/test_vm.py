"""VM suite, part 1: file operations in a QEMU guest over virtio-fs, each checked on the
host's shared dir too. Runs once per daemon (vm_env params: virtiofsd, pfsd), one boot
each. Guest paths: /mnt (cache=auto, xattrs), /mnt2 (cache=never). The heavy tests and
the daemon-kill test are in test_vm_z_heavy.py (named to run after these).
"""

from __future__ import annotations

import calendar
import errno
import hashlib
import os
import time

import pytest

pytestmark = pytest.mark.vm


def g(env, script, timeout=120, check=True):
    return env.vm.run(script, timeout=timeout, check=check)


def h(env, *parts):
    """Host path under the /mnt device's shared dir."""
    return env.daemons["main"].h(*parts)


def test_mounts_present(vm_env):
    out = g(vm_env, "grep virtiofs /proc/mounts").out
    assert "pfs-main /mnt virtiofs" in out, out
    assert "pfs-never /mnt2 virtiofs" in out, out


def test_read_host_file(vm_env):
    data = os.urandom(300_000).hex().encode()
    h(vm_env, "read").mkdir()
    h(vm_env, "read", "host.txt").write_bytes(data)
    h(vm_env, "read", "small.txt").write_text("hello from the host\n")
    out = g(vm_env, "sha256sum /mnt/read/host.txt; cat /mnt/read/small.txt; "
                    "stat -c %s /mnt/read/host.txt").out.split("\n")
    assert out[0].split()[0] == hashlib.sha256(data).hexdigest()
    assert out[1] == "hello from the host"
    assert int(out[2]) == len(data)


def test_create_write_append_truncate(vm_env):
    f = h(vm_env, "cwat", "f")
    g(vm_env, "mkdir /mnt/cwat && printf 'hello\\n' > /mnt/cwat/f")
    assert f.read_bytes() == b"hello\n"
    g(vm_env, "printf 'world\\n' >> /mnt/cwat/f")
    assert f.read_bytes() == b"hello\nworld\n"
    g(vm_env, "printf XY | dd of=/mnt/cwat/f bs=1 seek=2 conv=notrunc 2>/dev/null")
    assert f.read_bytes() == b"heXYo\nworld\n"
    g(vm_env, "truncate -s 3 /mnt/cwat/f")
    assert f.read_bytes() == b"heX"
    g(vm_env, "truncate -s 10000 /mnt/cwat/f")
    assert f.read_bytes() == b"heX" + b"\0" * 9997
    g(vm_env, ": > /mnt/cwat/f")
    assert f.stat().st_size == 0
    assert g(vm_env, "stat -c %s /mnt/cwat/f").out.strip() == "0"


def test_namespace_ops(vm_env):
    out = g(vm_env, """set -e
cd /mnt && mkdir ns && mkdir ns/d1 ns/d2 && rmdir ns/d2
echo data > ns/a && mv ns/a ns/b && ln ns/b ns/hard && ln -s b ns/sym
readlink ns/sym
mv ns/d1 ns/d1r
echo x > ns/gone && unlink ns/gone
stat -c %h ns/b
cat ns/sym""").out.split("\n")
    assert out[:3] == ["b", "2", "data"], out
    ns = h(vm_env, "ns")
    assert sorted(os.listdir(ns)) == ["b", "d1r", "hard", "sym"]
    assert (ns / "d1r").is_dir()
    assert (ns / "b").read_text() == "data\n"
    st_b, st_hard = os.lstat(ns / "b"), os.lstat(ns / "hard")
    assert st_b.st_nlink == 2 and (st_b.st_ino, st_b.st_dev) == (st_hard.st_ino, st_hard.st_dev)
    assert os.readlink(ns / "sym") == "b"
    # And the other way: a rename on the host shows in the guest (cache=never mount).
    d = vm_env.daemons["never"].h("ns2")
    d.mkdir()
    (d / "x").write_text("x")
    g(vm_env, "ls /mnt2/ns2/x")
    os.rename(d / "x", d / "y")
    assert g(vm_env, "ls /mnt2/ns2").out.split() == ["y"]


def test_chmod_chown_touch(vm_env):
    out = g(vm_env, """set -e
mkdir /mnt/meta && echo > /mnt/meta/f && mkdir /mnt/meta/d
chmod 0640 /mnt/meta/f && chmod 1777 /mnt/meta/d
chown 1234:5678 /mnt/meta/f
touch -d '2001-02-03 04:05:06' /mnt/meta/f
stat -c '%a %u %g %Y' /mnt/meta/f""").out.strip()
    want_mtime = calendar.timegm((2001, 2, 3, 4, 5, 6, 0, 0, 0))
    assert out == f"640 1234 5678 {want_mtime}"
    st = os.stat(h(vm_env, "meta", "f"))
    assert (st.st_mode & 0o7777, st.st_uid, st.st_gid, int(st.st_mtime)) == (0o640, 1234, 5678, want_mtime)
    assert os.stat(h(vm_env, "meta", "d")).st_mode & 0o7777 == 0o1777
    g(vm_env, "touch /mnt/meta/f")
    assert abs(os.stat(h(vm_env, "meta", "f")).st_mtime - time.time()) < 120


def test_xattr_user(vm_env):
    f = h(vm_env, "xa")
    g(vm_env, "echo > /mnt/xa && pfs-guest-tool setxattr /mnt/xa user.color blue")
    assert os.getxattr(f, "user.color") == b"blue"
    os.setxattr(f, "user.host", b"from-host")
    assert g(vm_env, "pfs-guest-tool getxattr /mnt/xa user.host").out == "from-host"
    names = g(vm_env, "pfs-guest-tool listxattr /mnt/xa").out.split()
    assert {"user.color", "user.host"} <= set(names), names
    g(vm_env, "pfs-guest-tool removexattr /mnt/xa user.color")
    with pytest.raises(OSError) as ei:
        os.getxattr(f, "user.color")
    assert ei.value.errno == errno.ENODATA
    r = g(vm_env, "pfs-guest-tool getxattr /mnt/xa user.color", check=False)
    assert r.rc == 1 and "ERRNO=ENODATA" in r.out, r.out


def test_one_call_moves_a_megabyte(vm_env):
    """One write(2) and one pread(2) of 1 MiB each move the whole MiB. The guest sends
    every page as its own descriptor; a daemon that stops at a batch of them answers
    short, and the program sees a short count (cache=never: direct I/O, one request per
    call; cache=auto: through the page cache)."""
    mib = 1 << 20
    want = bytes((i * 31 + i // 4096) & 0xFF for i in range(mib))
    for mnt, name in (("/mnt2", "never"), ("/mnt", "main")):
        out = g(vm_env, f"pfs-guest-tool onecall {mnt}/onecall.bin {mib}").out.strip()
        assert out == f"wrote={mib} read={mib} same=yes", f"{mnt}: {out}"
        host = vm_env.daemons[name].h("onecall.bin").read_bytes()
        assert host == want, f"{mnt}: the host file differs from what the guest wrote"


def test_large_readahead_reads_whole_file(vm_env):
    """With the guest's readahead raised to 1 MiB, one FUSE read asks for up to 256
    pages. A short answer to a readahead means end of file to the kernel, which then
    shrinks the file's cached size: the guest would see a truncated file."""
    data = os.urandom(8 << 20)
    h(vm_env, "ra").mkdir()
    h(vm_env, "ra", "big.bin").write_bytes(data)
    out = g(vm_env, """set -e
bdi=/sys/class/bdi/$(awk '$5 == "/mnt" {print $3}' /proc/self/mountinfo)/read_ahead_kb
old=$(cat $bdi)
trap 'echo $old > $bdi' EXIT
echo 1024 > $bdi
sync; echo 3 > /proc/sys/vm/drop_caches
sha256sum /mnt/ra/big.bin; stat -c %s /mnt/ra/big.bin""").out.split("\n")
    assert out[0].split()[0] == hashlib.sha256(data).hexdigest(), out
    assert int(out[1]) == len(data), out


# pfsd only: QEMU's C virtiofsd has no --rewrite-security-xattrs, so this test is
# generated for the pfsd session alone (not generated-then-skipped for virtiofsd).
@pytest.mark.parametrize("vm_env", ["pfsd"], indirect=True)
def test_xattr_rewrite_security(vm_env):
    f = h(vm_env, "sx")
    g(vm_env, "echo > /mnt/sx && pfs-guest-tool setxattr /mnt/sx security.pfstest v1")
    assert os.getxattr(f, "user.virtiofs.security.pfstest") == b"v1"
    assert "security.pfstest" not in os.listxattr(f)
    assert g(vm_env, "pfs-guest-tool getxattr /mnt/sx security.pfstest").out == "v1"
    os.setxattr(f, "user.virtiofs.security.hostset", b"h")
    names = g(vm_env, "pfs-guest-tool listxattr /mnt/sx").out.split()
    assert "security.pfstest" in names and "security.hostset" in names, names
    assert not [n for n in names if n.startswith("user.virtiofs.")], names
    r = g(vm_env, "pfs-guest-tool setxattr /mnt/sx user.virtiofs.x y", check=False)
    assert r.rc != 0, "the guest may not set user.virtiofs.* itself"
    g(vm_env, "pfs-guest-tool removexattr /mnt/sx security.pfstest")
    assert "user.virtiofs.security.pfstest" not in os.listxattr(f)


def test_host_change_visible_cache_never(vm_env):
    f = vm_env.daemons["never"].h("c.txt")
    f.write_text("one\n")
    assert g(vm_env, "cat /mnt2/c.txt").out == "one\n"
    with open(f, "r+") as fh:  # in place: same inode
        fh.write("two, longer\n")
    assert g(vm_env, "cat /mnt2/c.txt").out == "two, longer\n"
    vm_env.daemons["never"].h("new.txt").write_text("new\n")
    assert g(vm_env, "cat /mnt2/new.txt").out == "new\n"


def test_host_change_visible_cache_auto(vm_env):
    f = h(vm_env, "c.txt")
    f.write_text("one\n")
    assert g(vm_env, "cat /mnt/c.txt").out == "one\n"
    with open(f, "r+") as fh:
        fh.write("two, longer\n")
    t0 = time.monotonic()
    seen = None
    while time.monotonic() - t0 < 30:
        seen = g(vm_env, "cat /mnt/c.txt").out
        if seen == "two, longer\n":
            break
        time.sleep(0.5)
    assert seen == "two, longer\n", f"the guest still sees {seen!r} 30 s after the host change"
    print(f"cache=auto: host change visible after {time.monotonic() - t0:.1f} s")


def test_sync(vm_env):
    out = g(vm_env, "echo synced > /mnt/syncf && sync && echo s=$? && sync -f /mnt/syncf && "
                    "echo f=$?").out
    assert out.split() == ["s=0", "f=0"]
    assert h(vm_env, "syncf").read_text() == "synced\n"


def test_umount_remount(vm_env):
    g(vm_env, "echo before > /mnt/um_before")
    g(vm_env, "umount /mnt")
    assert " /mnt " not in g(vm_env, "cat /proc/mounts").out
    h(vm_env, "um_while").write_text("while unmounted\n")
    vm_env.mount("main")
    out = g(vm_env, "cat /mnt/um_before /mnt/um_while").out
    assert out == "before\nwhile unmounted\n"
    g(vm_env, "echo after > /mnt/um_after")
    assert h(vm_env, "um_after").read_text() == "after\n"
