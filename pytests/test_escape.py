"""The escape suite through the host mount (issue 10), and the planted-bug control.

Every attack runs in a "guest": a child chrooted into the FUSE mountpoint
(escape_guest.in_guest), root or uid/gid 1000, so the client kernel resolves every
absolute symlink and every `..` inside the share and pfsd answers each name it meets.
A Canary (owner 4242, modes, contents, xattrs, inotify) sits beside the share, at
<base>/escape-canary, where `..` of the share leads. After every case: the canary is
unchanged and nothing opened it, the secret is in nothing the guest read, and pfsd is
alive and still serving (a file written and read back through the mount).

What the kernel stops before pfsd ever sees it (names with '/' or NUL, '.' and '..'
as names, mknod by an unprivileged caller, trusted.* by uid 1000 ...) still has a
case here, and the case says so; the raw-request versions, which reach pfsd, are the
vhost-user suite's.

The planted-bug control uses pfsd_planted (core/planted/, test-only): its LOOKUP
follows symlinks. Confined (namespace, chroot) it still cannot reach the canary;
with --sandbox none it does, which proves this oracle fires. Its other planted bug,
a LOOKUP that makes a syscall off the seccomp allow-list, tests --seccomp kill|log|trap.

Every row of what each guest did is printed as `ESCAPE|<sandbox>|<case>|<step>|<outcome>`
(run with -s to see the table).
"""

from __future__ import annotations

import ctypes
import errno
import os
import resource
import signal
import stat
import struct
import time
from pathlib import Path

import pytest

import proc_stop
from canary import SECRET, Canary
from conftest import find_pfsd_planted
from escape_guest import Steps, in_guest, read_file
from helpers import RENAME_EXCHANGE, renameat2
from pfsd_args import sandbox_mode

pytestmark = pytest.mark.host

GUEST_UID = 1000
FORBIDDEN = ".pfs-planted-forbidden-syscall"  # core/planted/planted_fs.h
_libc = ctypes.CDLL(None, use_errno=True)
_libc.ioctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_void_p]
_libc.open.argtypes = [ctypes.c_char_p, ctypes.c_int, ctypes.c_uint]
_libc.mkdir.argtypes = [ctypes.c_char_p, ctypes.c_uint]
_libc.linkat.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p,
                         ctypes.c_int]


def sandbox_label(d=None) -> str:
    if d is not None:
        for i, a in enumerate(d.command()):
            if a == "--sandbox":
                return d.command()[i + 1]
    return sandbox_mode() or "namespace"


# --------------------------------------------------------------------------- set-up


class Env:
    def __init__(self, d, canary: Canary):
        self.d = d
        self.canary = canary
        self.A = str(canary.root)  # the canary's absolute host path


def prepare_share(d, canary: Canary) -> None:
    """A small tree in the share, made on the host side."""
    d.h("file").write_bytes(b"inside the share\n")
    d.h("file").chmod(0o666)
    for name in ("sub", "open"):
        d.h(name).mkdir()
        d.h(name).chmod(0o777)
    d.h("proc").mkdir()  # where a guest with its own /proc mounts it (in its namespace)


def out_links(A: str) -> dict[str, str]:
    """Symlinks leading out of the share: name in the share -> target."""
    return {
        "abs_file": f"{A}/secret",
        "abs_dir": A,
        "rel_file": "../escape-canary/secret",
        "rel_dir": "../escape-canary",
        "sub/rel_file2": "../../escape-canary/secret",
        "deep_dotdot": "../" * 16 + A.lstrip("/"),
        "proc_cwd": "/proc/self/cwd/../escape-canary/secret",
        "proc_root": f"/proc/self/root{A}/secret",
        "proc_fd_dotdot": "/proc/self/fd/3/../escape-canary/secret",
    }


@pytest.fixture
def env(pfsd_factory):
    # --allow-other: the uid 1000 guest may use the mount (and default_permissions).
    d = pfsd_factory("--allow-other")
    canary = Canary(d.base / "escape-canary")
    try:
        prepare_share(d, canary)
        yield Env(d, canary)
    finally:
        canary.close()


def assert_serving(d, case: str) -> None:
    assert d.proc is not None and d.proc.poll() is None, f"pfsd died during {case}"
    probe = d.m(".serving-probe")
    token = f"still serving after {case}\n".encode()
    probe.write_bytes(token)
    assert probe.read_bytes() == token, f"pfsd answers wrongly after {case}"
    probe.unlink()


def table(d, case: str, steps: Steps) -> None:
    for name, outcome in steps.rows:
        print(f"ESCAPE|{sandbox_label(d)}|{case}|{name}|{outcome}")


def after(e: Env, case: str, steps: Steps) -> None:
    """The verdict after every case."""
    table(e.d, case, steps)
    leaked = [i for i, b in enumerate(steps.read) if SECRET in b]
    assert not leaked, f"{case}: the guest read the canary's secret"
    e.canary.check(case)
    assert_serving(e.d, case)


def creat(path) -> None:
    os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o644))


# --------------------------------------------------------------------------- names


def guest_dot_names() -> Steps:
    s = Steps()
    s.step("open /../escape-canary/secret", read_file, "/../escape-canary/secret")
    s.step("open /sub/../../escape-canary/secret", read_file,
           "/sub/../../escape-canary/secret")
    s.step("stat /.. is / (ino)", lambda: os.stat("/..").st_ino == os.stat("/").st_ino)
    s.step("listdir /sub/../../.. == listdir /",
           lambda: sorted(os.listdir("/sub/../../..")) == sorted(os.listdir("/")))
    s.step("mkdir /..", os.mkdir, "/..")
    s.step("rmdir /sub/..", os.rmdir, "/sub/..")
    s.step("rename /sub/. -> /x", os.rename, "/sub/.", "/x")
    s.step("rename /file -> /sub/..", os.rename, "/file", "/sub/..")
    s.step("symlink named ..", os.symlink, "/", "/sub/..")
    s.step("link /file -> /..", os.link, "/file", "/..")
    return s


def test_dot_and_dotdot(env):
    # The client kernel resolves '.' and '..' itself (at the chroot's top '..' stays
    # put): pfsd never gets a LOOKUP of '.' or '..' from a host mount.
    s = in_guest(env.d.mnt, guest_dot_names)
    after(env, "names . and ..", s)
    out = dict(s.rows)
    assert out["open /../escape-canary/secret"] == "ENOENT"
    assert out["open /sub/../../escape-canary/secret"] == "ENOENT"
    assert out["stat /.. is / (ino)"] == "ok: True"
    assert out["listdir /sub/../../.. == listdir /"] == "ok: True"


def guest_slash_nul_names() -> Steps:
    s = Steps()

    def c_open(raw: bytes) -> bytes:
        fd = _libc.open(raw, os.O_RDONLY, 0)
        if fd < 0:
            raise OSError(ctypes.get_errno(), os.strerror(ctypes.get_errno()))
        try:
            return os.read(fd, 4096)
        finally:
            os.close(fd)

    def c_mkdir(raw: bytes) -> None:
        if _libc.mkdir(raw, 0o755) != 0:
            raise OSError(ctypes.get_errno(), os.strerror(ctypes.get_errno()))

    # A NUL ends the C string: the kernel sees "file" and opens the share's file.
    s.step("open b'file\\0/../../escape-canary/secret' (C string)", c_open,
           b"file\0/../../escape-canary/secret")
    s.step("open 'file\\0..' (Python)", read_file, "file\0..")
    s.step("mkdir b'new\\0dir' (C string: makes 'new')", c_mkdir, b"new\0dir")
    # A '/' is a separator: "a/b" is two names, never one name with a slash.
    s.step("mkdir 'no/such' (two names)", os.mkdir, "no/such")
    s.step("open 'escape-canary/secret'", read_file, "escape-canary/secret")
    s.step("symlink name 'x/y'", os.symlink, "/file", "x/y")
    return s


def test_names_with_slash_and_nul(env):
    # Stopped by the kernel before pfsd: a NUL truncates the C string (Python refuses
    # it outright), a '/' splits the path. pfsd's own refusal of such names in a raw
    # request is covered by the vhost-user escape suite and core/tests.
    s = in_guest(env.d.mnt, guest_slash_nul_names)
    after(env, "names with / and NUL", s)
    out = dict(s.rows)
    assert out["open b'file\\0/../../escape-canary/secret' (C string)"] == "ok: 17 bytes"
    assert out["open 'file\\0..' (Python)"].startswith("ValueError")
    assert env.d.h("new").is_dir() and not env.d.h("dir").exists()
    assert out["mkdir 'no/such' (two names)"] == "ENOENT"


# --------------------------------------------------------------------------- symlinks


def guest_symlink_attacks(links: dict[str, str], make: bool) -> Steps:
    s = Steps()
    for name, target in links.items():
        if make:
            s.step(f"{name}: symlink made by the guest", os.symlink, target, name)
    for name in links:
        p = "/" + name
        s.step(f"{name}: open+read", read_file, p)
        s.step(f"{name}: open O_NOFOLLOW", read_file, p, os.O_NOFOLLOW)
        s.step(f"{name}: stat (follow)", lambda: oct(os.stat(p).st_mode))
        s.step(f"{name}: readlink", os.readlink, p)
        s.step(f"{name}: open O_CREAT", creat, p)
        s.step(f"{name}: truncate", os.truncate, p, 0)
        s.step(f"{name}: chmod 0777", os.chmod, p, 0o777)
        s.step(f"{name}: chown 0:0", os.chown, p, 0, 0)
        s.step(f"{name}: setxattr user.pwn", os.setxattr, p, "user.pwn", b"1")
        s.step(f"{name}: utime", os.utime, p)
        # Used as a parent.
        s.step(f"{name}/secret: open+read", read_file, p + "/secret")
        s.step(f"{name}/sub/inner: open+read", read_file, p + "/sub/inner")
        s.step(f"{name}: listdir", os.listdir, p)
        s.step(f"{name}/new: create", creat, p + "/new")
        s.step(f"{name}/newdir: mkdir", os.mkdir, p + "/newdir")
        s.step(f"{name}/public: unlink", os.unlink, p + "/public")
        s.step(f"{name}/secret: rename to /stolen", os.rename, p + "/secret", "/stolen")
        s.step(f"{name}/sl: symlink", os.symlink, "x", p + "/sl")
        s.step(f"{name}/secret: setxattr", os.setxattr, p + "/secret", "user.pwn", b"1")
    return s


@pytest.mark.parametrize("made_by", ["host", "guest"])
def test_symlinks_leading_out(env, made_by):
    links = out_links(env.A)
    if made_by == "host":
        for name, target in links.items():
            os.symlink(target, env.d.h(name))
    s = in_guest(env.d.mnt, guest_symlink_attacks, links, made_by == "guest")
    after(env, f"symlinks out (made by the {made_by})", s)
    out = dict(s.rows)
    for name in links:
        assert out[f"{name}: readlink"] == f"ok: {links[name]!r}"[:160]
        assert out[f"{name}: open O_NOFOLLOW"] == "ELOOP", name
        if name != "deep_dotdot":  # that one is the share's own top, a directory
            # ENOTDIR: an earlier step's O_CREAT through rel_dir made a *file*
            # /escape-canary inside the share (harmless, and where it belongs).
            assert out[f"{name}: open+read"] in ("ENOENT", "ENOTDIR"), name


def guest_rename_into_place(A: str) -> Steps:
    s = Steps()
    os.mkdir("/d")
    with open("/d/secret", "wb") as f:
        f.write(b"decoy\n")
    os.symlink(f"{A}/secret", "/abs_file")
    os.symlink("../escape-canary", "/rel_dir")
    os.symlink(A, "/abs_dir")
    with open("/victim", "wb") as f:
        f.write(b"victim\n")
    s.step("rename symlink abs_file over victim", os.rename, "/abs_file", "/victim")
    s.step("victim: open+read", read_file, "/victim")
    s.step("victim: stat", lambda: oct(os.lstat("/victim").st_mode))
    s.step("rename symlink rel_dir over empty dir", lambda: (os.mkdir("/e"),
                                                              os.rename("/rel_dir", "/e")))
    s.step("exchange symlink abs_dir with dir d", renameat2, "/abs_dir", "/d", RENAME_EXCHANGE)
    s.step("d/secret: open+read (d is now the symlink)", read_file, "/d/secret")
    s.step("abs_dir/secret: open+read (the real dir)", read_file, "/abs_dir/secret")
    s.step("d: create d/new", creat, "/d/new")
    return s


def test_symlink_renamed_into_place(env):
    s = in_guest(env.d.mnt, guest_rename_into_place, env.A)
    after(env, "symlink renamed into place", s)
    out = dict(s.rows)
    assert out["victim: open+read"] == "ENOENT"
    assert out["d/secret: open+read (d is now the symlink)"] == "ENOENT"
    assert out["abs_dir/secret: open+read (the real dir)"] == "ok: 6 bytes"


RACE_SECONDS = 2.0


def guest_two_clients(A: str) -> Steps:
    """Two processes: one swaps a symlink leading out with a file and a directory
    (renameat2 EXCHANGE), the other opens and reads through the names meanwhile."""
    s = Steps()
    with open("/victim", "wb") as f:
        f.write(b"victim\n")
    os.symlink(f"{A}/secret", "/swap")
    os.mkdir("/vdir")
    with open("/vdir/secret", "wb") as f:
        f.write(b"decoy\n")
    os.symlink("../escape-canary", "/dswap")
    end = time.monotonic() + RACE_SECONDS
    pid = os.fork()
    if pid == 0:  # the swapper
        try:
            while time.monotonic() < end:
                for a, b in (("/victim", "/swap"), ("/vdir", "/dswap")):
                    try:
                        renameat2(a, b, RENAME_EXCHANGE)
                    except OSError:
                        pass
        finally:
            os._exit(0)
    counts: dict[str, int] = {}
    while time.monotonic() < end:
        for path, flags in (("/victim", 0), ("/victim", os.O_NOFOLLOW), ("/vdir/secret", 0)):
            try:
                data = read_file(path, flags)
                key = f"{path} flags={flags}: ok"
                if SECRET in data:
                    s.read.append(data)
            except OSError as e:
                key = f"{path} flags={flags}: {errno.errorcode.get(e.errno)}"
            counts[key] = counts.get(key, 0) + 1
    os.waitpid(pid, 0)
    for k, v in sorted(counts.items()):
        s.rows.append((k, f"{v} times"))
    return s


def test_two_clients_race_a_symlink_into_place(env):
    s = in_guest(env.d.mnt, guest_two_clients, env.A)
    after(env, "two clients: rename race", s)
    assert sum(int(v.split()[0]) for k, v in s.rows if k.endswith(": ok")) > 0, \
        "the reader never read anything: the race did not run"


# --------------------------------------------------------------------------- link, /proc


def guest_links(A: str) -> Steps:
    s = Steps()
    os.symlink(f"{A}/secret", "/abs_file")
    s.step("link /file -> /hard", os.link, "/file", "/hard")
    s.step("link symlink abs_file (no follow) -> /hardsym", os.link, "/abs_file", "/hardsym",
           follow_symlinks=False)
    s.step("hardsym: open+read", read_file, "/hardsym")
    s.step("link abs_file (AT_SYMLINK_FOLLOW) -> /hardfollow", os.link, "/abs_file",
           "/hardfollow", follow_symlinks=True)
    s.step("link a directory /sub -> /subhard", os.link, "/sub", "/subhard")
    s.step(f"link {A}/secret (host path) -> /stolen", os.link, f"{A}/secret", "/stolen")
    # An unnamed file (O_TMPFILE) linked into place: the inode is the share's own.
    def tmpfile_linked():
        fd = os.open("/open", os.O_TMPFILE | os.O_RDWR, 0o600)
        try:
            os.write(fd, b"tmp\n")
            os.link(f"/proc/self/fd/{fd}", "/open/tmp_linked", follow_symlinks=True)
        finally:
            os.close(fd)
        return read_file("/open/tmp_linked")
    s.step("O_TMPFILE linked into place via /proc/self/fd", tmpfile_linked)

    def tmpfile_linked_empty_path():
        fd = os.open("/open", os.O_TMPFILE | os.O_RDWR, 0o600)
        try:
            os.write(fd, b"tmp2\n")
            if _libc.linkat(fd, b"", -100, b"/open/tmp_linked2", 0x1000) != 0:  # AT_EMPTY_PATH
                raise OSError(ctypes.get_errno(), os.strerror(ctypes.get_errno()))
        finally:
            os.close(fd)
        return read_file("/open/tmp_linked2")
    s.step("O_TMPFILE linked into place with AT_EMPTY_PATH", tmpfile_linked_empty_path)
    return s


def test_link_into_place(env):
    s = in_guest(env.d.mnt, guest_links, env.A, proc=True)
    # The host itself cannot hard-link the canary into the mount either (EXDEV).
    try:
        os.link(env.canary.root / "public", env.d.m("from_host"))
        s.rows.append(("host: link canary/public -> mnt/from_host", "ok"))
    except OSError as e:
        s.rows.append(("host: link canary/public -> mnt/from_host",
                       errno.errorcode[e.errno]))
    after(env, "LINK into place", s)
    out = dict(s.rows)
    assert out["hardsym: open+read"] == "ENOENT"
    assert out["link a directory /sub -> /subhard"] == "EPERM"
    assert out["host: link canary/public -> mnt/from_host"] == "EXDEV"
    assert os.path.islink(env.d.h("hardsym"))


def guest_proc_paths(A: str) -> Steps:
    """A guest with its own /proc (its pid namespace's): fds and cwd of its own."""
    s = Steps()
    fd = os.open("/file", os.O_RDONLY)
    dfd = os.open("/sub", os.O_RDONLY | os.O_DIRECTORY)
    s.step("/proc/self/fd/N (a share file): read", read_file, f"/proc/self/fd/{fd}")
    s.step("/proc/self/fd/N/../escape-canary/secret", read_file,
           f"/proc/self/fd/{fd}/../escape-canary/secret")
    s.step("/proc/self/fd/D/../../escape-canary/secret (D = /sub)", read_file,
           f"/proc/self/fd/{dfd}/../../escape-canary/secret")
    s.step("/proc/self/fd/D/..: listdir is /", lambda: sorted(os.listdir(
        f"/proc/self/fd/{dfd}/..")) == sorted(os.listdir("/")))
    s.step("/proc/self/cwd/../escape-canary/secret", read_file,
           "/proc/self/cwd/../escape-canary/secret")
    s.step("/proc/self/root/../escape-canary/secret", read_file,
           "/proc/self/root/../escape-canary/secret")
    s.step("/proc/self/root + host path of the canary", read_file,
           f"/proc/self/root{A}/secret")
    s.step("/proc/1/root + host path (pid 1 of the guest's namespace)", read_file,
           f"/proc/1/root{A}/secret")
    os.chdir("/sub")
    s.step("cwd /sub: ../../escape-canary/secret", read_file, "../../escape-canary/secret")
    s.step("cwd /sub: /proc/self/cwd/../../escape-canary/secret", read_file,
           "/proc/self/cwd/../../escape-canary/secret")
    # Symlinks in the share into /proc, resolved by the guest in its own /proc.
    for name, target in (("l_fd", f"/proc/self/fd/{dfd}/../../escape-canary/secret"),
                         ("l_cwd", "/proc/self/cwd/../../escape-canary/secret"),
                         ("l_root", f"/proc/self/root{A}/secret")):
        s.step(f"symlink /{name} -> {target}", os.symlink, target, "/" + name)
        s.step(f"/{name}: open+read", read_file, "/" + name)
    os.close(fd)
    os.close(dfd)
    return s


def test_proc_self_fd_and_cwd(env):
    s = in_guest(env.d.mnt, guest_proc_paths, env.A, proc=True)
    after(env, "/proc/self/fd and /proc/self/cwd", s)
    out = dict(s.rows)
    assert out["/proc/self/fd/N (a share file): read"] == "ok: 17 bytes"
    assert out["/proc/self/fd/D/..: listdir is /"] == "ok: True"
    assert out["/proc/self/cwd/../escape-canary/secret"] == "ENOENT"
    assert out["/l_fd: open+read"] == "ENOENT"


# --------------------------------------------------------------------------- ioctl


def _ioc(direction: int, typ: int, nr: int, size: int) -> int:
    return (direction << 30) | (size << 16) | (typ << 8) | nr


def guest_ioctls() -> Steps:
    s = Steps()
    buf = ctypes.create_string_buffer(b"\xa5" * 16384, 16384)
    fds = {"file": os.open("/file", os.O_RDWR), "dir": os.open("/sub", os.O_RDONLY)}
    counts: dict[str, int] = {}
    cmds = []
    for direction in (0, 1, 2, 3):  # none, write, read, read|write
        for size in (0, 1, 8, 4096, 16383):
            for typ, nr in ((0x00, 0x00), (0xff, 0xff), (ord("f"), 0x7f), (ord("X"), 0x42),
                            (0x94, 0x01), (0x12, 0x80)):
                cmds.append(_ioc(direction, typ, nr, size))
    cmds += [0xffffffff, 0x80000000, 0x7fffffff, 0xc0004000]
    for kind, fd in fds.items():
        for cmd in cmds:
            for argname, arg in (("buf", ctypes.addressof(buf)), ("NULL", None),
                                 ("bad ptr", 0xdead0000), ("kernel ptr", 0xffffffff81000000)):
                rc = _libc.ioctl(fd, cmd, arg)
                key = (f"{kind}: ok" if rc >= 0 else
                       f"{kind}: {errno.errorcode.get(ctypes.get_errno(), '?')}")
                counts[f"{key} ({argname})"] = counts.get(f"{key} ({argname})", 0) + 1
    for fd in fds.values():
        os.close(fd)
    s.read.append(buf.raw)
    for k, v in sorted(counts.items()):
        s.rows.append((f"{len(cmds)} unknown/hostile cmds, {k}", f"{v} times"))
    return s


def test_ioctls_unknown_numbers_and_hostile_sizes(env):
    s = in_guest(env.d.mnt, guest_ioctls)
    after(env, "ioctl unknown numbers, hostile sizes", s)
    assert not any(k.split(": ")[1].startswith("ok (") for k, _ in s.rows
                   if "NULL" in k or "bad ptr" in k or "kernel ptr" in k), s.rows


# --------------------------------------------------------------------------- mknod


def guest_mknod() -> Steps:
    s = Steps()
    p = "/open" if os.getuid() else "/"
    s.step("mknod char 1,3 (/dev/null)", os.mknod, f"{p}/cdev", stat.S_IFCHR | 0o666,
           os.makedev(1, 3))
    s.step("mknod char 1,1 (/dev/mem)", os.mknod, f"{p}/mem", stat.S_IFCHR | 0o666,
           os.makedev(1, 1))
    s.step("mknod block 7,0 (loop0)", os.mknod, f"{p}/bdev", stat.S_IFBLK | 0o666,
           os.makedev(7, 0))
    s.step("mknod fifo", os.mknod, f"{p}/fifo", stat.S_IFIFO | 0o666)
    s.step("open the char device (/dev/mem)", read_file, f"{p}/mem")
    s.step("open the block device", read_file, f"{p}/bdev")
    s.step("open the char device O_WRONLY", lambda: os.close(os.open(f"{p}/cdev",
                                                                     os.O_WRONLY)))
    return s


@pytest.mark.parametrize("who", ["root", "uid1000"])
def test_mknod_block_and_char_devices(env, who):
    uid = GUEST_UID if who == "uid1000" else None
    s = in_guest(env.d.mnt, guest_mknod, uid=uid)
    after(env, f"mknod devices ({who})", s)
    for name in ("cdev", "mem", "bdev"):
        p = env.d.h(*(["open"] if uid else []), name)
        if p.exists():
            st = os.lstat(p)
            print(f"ESCAPE|{sandbox_label(env.d)}|mknod devices ({who})|host: {name}|"
                  f"{oct(st.st_mode)} {st.st_uid}:{st.st_gid} rdev "
                  f"{os.major(st.st_rdev)},{os.minor(st.st_rdev)}")
    out = dict(s.rows)
    # The host mount is nodev: a device node in the share never opens a device here.
    assert out["open the char device (/dev/mem)"] in ("EACCES", "ENOENT", "EPERM")
    assert out["open the block device"] in ("EACCES", "ENOENT", "EPERM")
    if uid is not None:
        # The client kernel refuses (no CAP_MKNOD) before pfsd sees a request.
        assert out["mknod char 1,1 (/dev/mem)"] == "EPERM"
        assert out["mknod block 7,0 (loop0)"] == "EPERM"
        assert not env.d.h("open", "mem").exists() and not env.d.h("open", "bdev").exists()


def test_mknod_refused_with_modcaps_minus_mknod(pfsd_factory):
    # The mitigation for the weakness above (a root guest makes real device nodes in
    # the host's share): drop CAP_MKNOD. The capability drop is applied with and
    # without the sandbox.
    d = pfsd_factory("--allow-other", "--modcaps", "-mknod")
    canary = Canary(d.base / "escape-canary")
    try:
        prepare_share(d, canary)
        s = in_guest(d.mnt, guest_mknod)
        after(Env(d, canary), "mknod devices (root, --modcaps -mknod)", s)
        out = dict(s.rows)
        assert out["mknod char 1,1 (/dev/mem)"] == "EPERM"
        assert out["mknod block 7,0 (loop0)"] == "EPERM"
        assert out["mknod fifo"] == "ok"
    finally:
        canary.close()


# --------------------------------------------------------------------------- setuid


def guest_setid() -> Steps:
    s = Steps()

    def make(path, mode):
        fd = os.open(path, os.O_CREAT | os.O_WRONLY | os.O_EXCL, mode)
        os.close(fd)
        os.chmod(path, mode)  # the create mode is umasked; ask again

    s.step("create /open/suid 06755 (own file)", make, "/open/suid", 0o6755)
    s.step("create /sgid_root/f 02755 (dir setgid, group 0)", make, "/sgid_root/f", 0o2755)
    s.step("mkdir /sgid_root/d 02755", os.mkdir, "/sgid_root/d", 0o2755)
    s.step("chmod /sgid_root/own 02755 (group 0)", os.chmod, "/sgid_root/own", 0o2755)
    s.step("chown own file to 0:0", os.chown, "/open/suid", 0, 0)
    s.step("chown own file to gid 0", os.chown, "/open/suid", -1, 0)
    s.step("chmod root's /rootfile 04777", os.chmod, "/rootfile", 0o4777)
    s.step("write root's setuid /suidroot (0o6777)", lambda: open("/suidroot", "ab").write(b"x"))
    s.step("truncate root's setuid /suidroot2", os.truncate, "/suidroot2", 0)
    return s


def test_setuid_setgid_by_unprivileged_caller(env):
    d = env.d
    sg = d.h("sgid_root")
    sg.mkdir()
    os.chmod(sg, 0o2777)  # root:root, setgid, world-writable
    (sg / "own").write_bytes(b"")
    os.chown(sg / "own", GUEST_UID, 0)
    for name in ("rootfile", "suidroot", "suidroot2"):
        d.h(name).write_bytes(b"#!/bin/sh\n")
    os.chmod(d.h("rootfile"), 0o777)
    os.chmod(d.h("suidroot"), 0o6777)
    os.chmod(d.h("suidroot2"), 0o6777)
    s = in_guest(d.mnt, guest_setid, uid=GUEST_UID)
    after(env, "setuid/setgid by uid 1000", s)

    def host(name):
        st = os.lstat(d.h(*name.split("/")))
        return st.st_mode, st.st_uid, st.st_gid

    found = []
    for name in ("open/suid", "sgid_root/f", "sgid_root/d", "sgid_root/own", "rootfile",
                 "suidroot", "suidroot2"):
        try:
            mode, uid, gid = host(name)
        except FileNotFoundError:
            continue
        print(f"ESCAPE|{sandbox_label(d)}|setuid/setgid by uid 1000|host: {name}|"
              f"{oct(mode)} {uid}:{gid}")
        if mode & stat.S_ISUID and uid != GUEST_UID:
            found.append(f"{name}: setuid for uid {uid}")
        if mode & stat.S_ISGID and not stat.S_ISDIR(mode) and gid != GUEST_UID:
            found.append(f"{name}: setgid for gid {gid}")
    assert not found, "uid 1000 got a set-id bit it may not have: " + "; ".join(found)
    out = dict(s.rows)
    assert out["chown own file to 0:0"] == "EPERM"
    assert out["chmod root's /rootfile 04777"] == "EPERM"


# --------------------------------------------------------------------------- xattrs


def _vfs_cap_v2(caps: int) -> bytes:
    # struct vfs_cap_data, VFS_CAP_REVISION_2 | effective
    return struct.pack("<IIIII", 0x02000001, caps & 0xffffffff, 0, caps >> 32, 0)


CAP_XATTR = _vfs_cap_v2(1 << 21)  # CAP_SYS_ADMIN, permitted and effective


def guest_xattrs() -> Steps:
    s = Steps()
    f = "/open/x_root" if os.getuid() == 0 else "/open/x_user"
    with open(f, "wb") as fh:
        fh.write(b"#!/bin/sh\n")
    os.chmod(f, 0o755)
    for name, value in (("trusted.pfs", b"1"), ("trusted.overlay.redirect", b"/etc"),
                        ("security.capability", CAP_XATTR),
                        ("security.capability", b"\x00"),
                        ("system.posix_acl_access", b"\x02\x00\x00\x00garbage"),
                        ("system.posix_acl_default", b"\x02\x00\x00\x00"),
                        ("system.pfs_unknown", b"1"), ("system.nfs4_acl", b"1")):
        s.step(f"setxattr {name} ({len(value)} bytes)", os.setxattr, f, name, value)
    for name in ("trusted.pfs", "security.capability", "system.posix_acl_access"):
        s.step(f"getxattr {name}", os.getxattr, f, name)
    s.step("listxattr", os.listxattr, f)
    s.step("setxattr trusted.pfs on the share root", os.setxattr, "/", "trusted.pfs", b"1")
    s.step("removexattr user.canary on /file", os.removexattr, "/file", "user.canary")
    return s


@pytest.mark.parametrize("who", ["root", "uid1000"])
def test_xattrs_trusted_security_system(env, who):
    uid = GUEST_UID if who == "uid1000" else None
    s = in_guest(env.d.mnt, guest_xattrs, uid=uid)
    after(env, f"xattrs trusted/security/system ({who})", s)
    f = env.d.h("open", "x_user" if uid else "x_root")
    landed = sorted(os.listxattr(f, follow_symlinks=False))
    print(f"ESCAPE|{sandbox_label(env.d)}|xattrs ({who})|host: xattrs on the file|{landed}")
    if uid is not None:
        out = dict(s.rows)
        assert out["setxattr trusted.pfs (1 bytes)"] == "EPERM"
        assert out["setxattr security.capability (20 bytes)"] == "EPERM"
        assert not [x for x in landed if x.startswith(("trusted.", "security.capability"))], \
            landed


def test_security_capability_rewritten_with_rewrite_security_xattrs(pfsd_factory):
    # The mitigation for the weakness above (a root guest sets file capabilities
    # that the host honours): --rewrite-security-xattrs stores them under user.*.
    d = pfsd_factory("--allow-other", "--rewrite-security-xattrs")
    canary = Canary(d.base / "escape-canary")
    try:
        prepare_share(d, canary)
        s = in_guest(d.mnt, guest_xattrs)
        after(Env(d, canary), "xattrs (root, --rewrite-security-xattrs)", s)
        landed = sorted(os.listxattr(d.h("open", "x_root"), follow_symlinks=False))
        print(f"ESCAPE|{sandbox_label(d)}|xattrs (root, --rewrite-security-xattrs)|"
              f"host: xattrs on the file|{landed}")
        assert "security.capability" not in landed, landed
        assert dict(s.rows)["getxattr security.capability"] == "ok: 20 bytes"
    finally:
        canary.close()


# --------------------------------------------------------------------------- flood


FLOOD_FILES = 2000
FLOOD_MISSES = 20000


def guest_flood(n_files: int, n_misses: int) -> Steps:
    s = Steps()
    t0 = time.monotonic()
    found: dict[str, int] = {}
    for i in range(n_files):
        try:
            os.stat(f"/flood/f{i}")
            key = "found"
        except OSError as e:
            key = errno.errorcode.get(e.errno, str(e.errno))
        found[key] = found.get(key, 0) + 1
    misses: dict[str, int] = {}
    for i in range(n_misses):
        try:
            os.stat(f"/flood/missing{i}")
            key = "found (?)"
        except OSError as e:
            key = errno.errorcode.get(e.errno, str(e.errno))
        misses[key] = misses.get(key, 0) + 1
    s.rows.append((f"stat {n_files} files", ", ".join(f"{v} {k}" for k, v in found.items())))
    s.rows.append((f"stat {n_misses} missing names",
                   ", ".join(f"{v} {k}" for k, v in misses.items())))
    s.rows.append(("time", f"{time.monotonic() - t0:.1f} s"))
    return s


def fd_count(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def test_flood_of_lookups_without_forgets(env):
    d = env.d
    d.h("flood").mkdir()
    for i in range(FLOOD_FILES):
        d.h("flood", f"f{i}").write_bytes(b"")
    assert_serving(d, "start")  # the mount comes before confinement: now it is done
    server = proc_stop.serving_pid(d.proc.pid)
    before = fd_count(server)
    s = in_guest(d.mnt, guest_flood, FLOOD_FILES, FLOOD_MISSES, timeout=300)
    during = fd_count(server)
    s.rows.append(("pfsd server fds before / after the flood", f"{before} / {during}"))
    after(env, "lookup flood without forgets", s)
    # One O_PATH fd per file the client holds; a miss holds nothing.
    assert during <= before + FLOOD_FILES + 64, (before, during)


FD_LIMIT = 512


def guest_flood_pinned(n_files: int) -> Steps:
    """Looks up n_files and keeps each one pinned with an O_PATH fd (no OPEN is sent;
    the client cannot forget them while held, whatever the memory pressure), tries to
    create a file with pfsd's fd table full, then lets go of them all."""
    s = Steps()
    resource.setrlimit(resource.RLIMIT_NOFILE, (n_files + 256, n_files + 256))
    held, found = [], {}
    for i in range(n_files):
        try:
            held.append(os.open(f"/flood/f{i}", os.O_PATH))
            key = "found"
        except OSError as e:
            key = errno.errorcode.get(e.errno, str(e.errno))
        found[key] = found.get(key, 0) + 1
    s.rows.append((f"lookup {n_files} files, held", ", ".join(f"{v} {k}" for k, v in
                                                            found.items())))
    s.step("lookup a missing name with the fd table full", os.stat, "/flood/missing")
    s.step("create a file with the fd table full", creat, "/probe-full")
    for fd in held:
        os.close(fd)
    return s


def test_flood_past_the_fd_limit_then_forgets_recover(env):
    """Weakness (as in crosvm/virtiofsd without file handles): each inode the client
    holds pins one O_PATH fd in pfsd, so lookups without forgets can fill pfsd's fd
    table; pfsd then answers EMFILE to whatever needs a new fd. It must stay alive,
    confined and unreachable, and recover once the client forgets. The limit is
    lowered to FD_LIMIT (prlimit on the serving process) to get there quickly."""
    d = env.d
    assert_serving(d, "start")  # the mount comes before confinement: now it is done
    server = proc_stop.serving_pid(d.proc.pid)
    resource.prlimit(server, resource.RLIMIT_NOFILE, (FD_LIMIT, FD_LIMIT))
    n = FD_LIMIT + 200
    d.h("flood").mkdir()
    for i in range(n):
        d.h("flood", f"f{i}").write_bytes(b"")
    s = in_guest(d.mnt, guest_flood_pinned, n, timeout=120)
    assert d.proc.poll() is None, "pfsd died with its fd table full"
    # The client forgets (its dentries and inodes dropped): FORGETs free the fds.
    Path("/proc/sys/vm/drop_caches").write_text("2\n")
    deadline = time.monotonic() + 10
    while True:
        try:
            assert_serving(d, "fd table full, then forgets")
            break
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
    s.rows.append(("after the client forgot (drop_caches)", "serving again"))
    s.rows.append(("pfsd server fds after the forgets", f"{len(os.listdir(f'/proc/{server}/fd'))}"))
    after(env, "lookup flood past the fd limit", s)
    out = dict(s.rows)
    assert "EMFILE" in out[f"lookup {n} files, held"], "the flood did not fill the fd table"
    assert out["create a file with the fd table full"] == "EMFILE"


def test_modcaps_unconfined_still_unmounts(pfsd_factory):
    """Regression (found by this suite): `--sandbox none --modcaps ...` applied the
    kept capability set to the unconfined daemon too, CAP_SYS_ADMIN went with it, and
    on SIGTERM pfsd could not unmount ("could not unmount: Operation not permitted"),
    leaving a dead mount behind while exiting 0."""
    d = pfsd_factory("--sandbox", "none", "--modcaps", "-mknod")
    assert_serving(d, "start")
    rc = d.stop()
    assert rc == 0, d.log_text()
    deadline = time.monotonic() + 5
    while d.is_mounted() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not d.is_mounted(), "pfsd --sandbox none --modcaps left its mount\n" + d.log_text()


# --------------------------------------------------------------------------- planted bug


def guest_read_links(names: list[str]) -> Steps:
    s = Steps()
    s.step("lstat /inside_link: S_ISREG means LOOKUP followed it (planted bug live)",
           lambda: stat.S_ISREG(os.lstat("/inside_link").st_mode))
    for name in names:
        s.step(f"{name}: open+read", read_file, "/" + name)
    return s


@pytest.mark.parametrize("mode", ["namespace", "chroot", "none"])
def test_planted_lookup_follows_symlinks(pfsd_factory, mode):
    d = pfsd_factory("--sandbox", mode, binary=find_pfsd_planted())
    canary = Canary(d.base / "escape-canary")
    try:
        prepare_share(d, canary)
        links = out_links(str(canary.root))
        for name, target in links.items():
            os.symlink(target, d.h(name))
        os.symlink("file", d.h("inside_link"))
        assert_serving(d, "start")  # confined and serving: the start-up lines are written
        assert "TEST-ONLY BUILD pfsd_planted" in d.log_text()
        s = in_guest(d.mnt, guest_read_links, list(links))
        table(d, "planted LOOKUP follows symlinks", s)
        out = dict(s.rows)
        # The planted bug is live in every mode: a symlink inside the share comes back
        # as the regular file it points to.
        assert out["lstat /inside_link: S_ISREG means LOOKUP followed it (planted bug live)"] \
            == "ok: True"
        leaked = any(SECRET in b for b in s.read)
        if mode == "none":
            # The control: unconfined, the planted bug reaches the canary, and both
            # oracles (what the guest read, the canary's inotify) fire.
            assert leaked, "the planted bug did not reach the canary: the oracle is blind"
            assert out["abs_file: open+read"] == f"ok: {len(SECRET)} bytes"
            assert out["rel_file: open+read"] == f"ok: {len(SECRET)} bytes"
            assert canary.reached("planted, --sandbox none")
        else:
            assert not leaked, f"planted bug read the canary through --sandbox {mode}"
            canary.check(f"planted LOOKUP, --sandbox {mode}")
        assert_serving(d, "planted lookup")
    finally:
        canary.close()


# --------------------------------------------------------------------------- seccomp


def reap_dead(d, timeout=10.0) -> int:
    """pfsd died on purpose: wait for it, record it, and let teardown clean up."""
    rc = d.proc.wait(timeout=timeout)
    d.killed_on_purpose = True
    d.returncodes.append(rc)
    d.proc = None
    return rc


@pytest.mark.parametrize("mode", ["namespace", "chroot", "none"])
def test_seccomp_kill_ends_pfsd_on_a_forbidden_syscall(pfsd_factory, mode):
    d = pfsd_factory("--sandbox", mode, "--seccomp", "kill", binary=find_pfsd_planted())
    assert_serving(d, "start")
    err = None
    try:
        os.stat(d.m(FORBIDDEN))
    except OSError as e:
        err = e.errno
    rc = reap_dead(d)
    print(f"ESCAPE|{mode}|seccomp kill|stat {FORBIDDEN}|"
          f"{errno.errorcode.get(err, err)}, pfsd exit status {rc}")
    assert err in (errno.ENOTCONN, errno.ECONNABORTED), err
    if mode == "none":
        assert rc == -signal.SIGSYS, rc  # no supervisor: the process itself dies
        # Its mount is left dead (ENOTCONN); the fixture's teardown detaches it.
    else:
        assert rc == 128 + signal.SIGSYS, rc
        assert "killed by Bad system call" in d.log_text(), d.log_text()
        deadline = time.monotonic() + 5
        while d.is_mounted() and time.monotonic() < deadline:
            time.sleep(0.02)
        assert not d.is_mounted(), "the supervisor did not unmount after the kill"


def test_seccomp_log_lets_the_forbidden_syscall_through(pfsd_factory):
    d = pfsd_factory("--seccomp", "log", binary=find_pfsd_planted())
    err = None
    try:
        os.stat(d.m(FORBIDDEN))
    except OSError as e:
        err = e.errno
    print(f"ESCAPE|{sandbox_label(d)}|seccomp log|stat {FORBIDDEN}|{errno.errorcode.get(err)}")
    assert err == errno.ENOENT  # served: the planted lookup answers ENOENT
    assert_serving(d, "seccomp log")


def test_seccomp_trap_names_the_syscall(pfsd_factory):
    d = pfsd_factory("--sandbox", "namespace", "--seccomp", "trap", binary=find_pfsd_planted())
    err = None
    try:
        os.stat(d.m(FORBIDDEN))
    except OSError as e:
        err = e.errno
    rc = reap_dead(d)
    print(f"ESCAPE|namespace|seccomp trap|stat {FORBIDDEN}|{errno.errorcode.get(err)}, "
          f"exit {rc}")
    assert "forbidden syscall personality" in d.log_text(), d.log_text()
    assert rc == 1


def test_the_magic_name_is_plain_in_the_real_build(pfsd_factory):
    # The control for the controls: pfsd itself has no trigger.
    d = pfsd_factory("--seccomp", "kill")
    assert not os.path.exists(d.m(FORBIDDEN))
    assert_serving(d, "magic name on the real pfsd")
