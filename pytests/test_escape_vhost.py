"""The escape suite as raw FUSE requests over vhost-user (issue 10).

A real pfsd (the real binary, in its real sandbox: by default `--sandbox namespace
--seccomp kill`; with PFS_TEST_SANDBOX=none unconfined, so the core's own checks are
the only wall) serves `--socket-path`, and pfs_vhost_probe (core/tests/tools/) plays a
hostile guest: it does the vhost-user set-up as QEMU does and then sends whatever FUSE
bytes a guest could, including ids and names the kernel never sends.

Beside the shared dir sits a Canary (pytests/canary.py, `<base>/escape-canary`, where
`..` of the share leads); the share holds symlinks into it (absolute and relative), to
/, /proc/self/cwd, /proc/self/fd and /proc/self/root. After every case the canary must
be unchanged (owner, mode, contents, xattrs, and inotify showing nothing even opened
it) and pfsd must be alive (every process of its chain, and answering GETATTR).

Expected answers come from the core (core/fuse/server.cc, core/passthrough/): `want`
is the answer of the confined daemon, `none=` the unconfined one's where they differ
(trusted.* needs CAP_SYS_ADMIN, which the sandbox drops). With PFS_VHOSTESC_TABLE=FILE
every case's answer is appended to FILE (JSON lines) for the report.
"""

from __future__ import annotations

import json
import os
import struct
import time
from pathlib import Path

import pytest

from canary import SECRET, Canary
from pfsd_args import sandbox_mode
from vhost_probe import Reply, VhostProbeSession, vhost_probe, probe_binary  # noqa: F401

pytestmark = pytest.mark.host

CONFINED = sandbox_mode() != "none"
MODE = "confined" if CONFINED else "none"

# <linux/fuse.h> and ioctl numbers used below.
FUSE_LOOKUP, FUSE_GETATTR, FUSE_INIT, FUSE_DESTROY = 1, 3, 26, 38
FUSE_IOCTL_UNRESTRICTED = 1 << 1
RENAME_EXCHANGE = 1 << 1
O_RDONLY, O_RDWR, O_WRONLY_CREAT, O_DIRECTORY = 0, 2, 0o101, 0o200000
FS_IOC_GETFLAGS = 0x80086601
FS_IOC_FSGETXATTR = 0x801C581F
TCGETS = 0x5401
IOCTL_SIZE_MAX = 65536  # core/fuse/request_decoder.h kIoctlSizeMax


def makedev(major: int, minor: int) -> int:
    return os.makedev(major, minor)


def cstr(b: bytes | str) -> str:
    """A probe script string literal for any bytes."""
    if isinstance(b, str):
        b = b.encode()
    return '"' + "".join(chr(c) if 0x20 <= c < 0x7F and c not in (0x22, 0x5C) else f"\\x{c:02x}"
                         for c in b) + '"'


class Attack:
    """A probe session with a canary beside the share and the attack bookkeeping."""

    def __init__(self, session: VhostProbeSession, canary: Canary, family: str):
        self.s = session
        self.canary = canary
        self.family = family
        self.nodes: dict[str, int] = {}
        self.table = os.environ.get("PFS_VHOSTESC_TABLE")

    def record(self, case: str, line: str, r: Reply) -> None:
        if self.table:
            with open(self.table, "a") as f:
                f.write(json.dumps({"mode": MODE, "family": self.family, "case": case,
                                    "request": line, "reply": r.line[:160]}) + "\n")

    def expect(self, case: str, line: str, want: str, none: str | None = None,
               then: tuple[str, ...] = (), answers: bool = True) -> Reply:
        """Sends `line`; its answer must be `want` ('ok' or an errno name) when confined,
        `none` (default: want) when unconfined. Then the `then` lines (restoring the
        probe's state) are sent and the canary and pfsd are checked (`answers`: pfsd
        must also answer a GETATTR)."""
        r = self.s.send(line)
        for t in then:
            self.s.send(t)
        self.record(case, line, r)
        expected = want if CONFINED or none is None else none
        got = "ok" if r.ok else (r.errname if r.kind == "err" else r.line)
        assert got == expected, f"{case}: {line!r} answered {r.line!r}, want {expected}"
        self.after(case, answers)
        return r

    def after(self, case: str, answers: bool = True) -> None:
        self.canary.check(case)
        self.s.check_alive(case, answers)
        # check_alive's GETATTR of the root is not an attack on the canary.
        self.canary.check(case + " (after the liveness check)")

    def lookup(self, name: str, parent: int = 1) -> int:
        r = self.s.send(f"lookup {parent} {cstr(name)}")
        assert r.ok, f"lookup {name}: {r.line}"
        self.nodes[name] = r.num("nodeid")
        return self.nodes[name]


def share_layout(base: Path, shared: Path) -> None:
    """The share: plain entries, and symlinks that lead out of it in every way."""
    canary = base / "escape-canary"
    (shared / "file").write_bytes(b"inside\n")
    (shared / "dir").mkdir()
    (shared / "dir" / "inner").write_bytes(b"inner\n")
    (shared / "tmp").mkdir()
    os.chmod(shared / "tmp", 0o1777)
    links = {
        "abs_link": str(canary / "secret"),
        "abs_dir_link": str(canary),
        "rel_link": "../escape-canary/secret",
        "rel_dir_link": "../escape-canary",
        "root_link": "/",
        "cwd_link": "/proc/self/cwd",
        "fd_link": "/proc/self/fd",
        "proc_root_link": "/proc/self/root",
    }
    for name, target in links.items():
        os.symlink(target, shared / name)


@pytest.fixture
def attack(vhost_probe, request):  # noqa: F811
    """attack(family, pfsd_args=(), extra_setup=None) -> Attack on a fresh pfsd."""
    canaries: list[Canary] = []

    def make(family: str, pfsd_args=(), extra_setup=None) -> Attack:
        made = {}

        def setup(base: Path, shared: Path) -> None:
            share_layout(base, shared)
            if extra_setup is not None:
                extra_setup(shared)
            made["canary"] = Canary(base / "escape-canary")
            canaries.append(made["canary"])

        s = vhost_probe(pfsd_args=pfsd_args, setup=setup)
        a = Attack(s, made["canary"], family)
        a.canary.check("pfsd start-up and INIT")
        return a

    try:
        yield make
    finally:
        for c in canaries:
            c.close()


LINKS = ["abs_link", "abs_dir_link", "rel_link", "rel_dir_link", "root_link", "cwd_link",
         "fd_link", "proc_root_link"]
DIR_LINKS = ["abs_dir_link", "rel_dir_link", "root_link", "cwd_link", "fd_link", "proc_root_link"]


# --------------------------------------------------------------------------- names


def test_names_dot_dotdot_slash_nul(attack):
    a = attack("names")
    f = a.lookup("file")
    bad = ["..", ".", "", "/", "a/b", "../escape-canary", "..\0", "file\0junk", "\0", "dir/inner",
           "../escape-canary/secret"]
    for name in bad:
        a.expect(f"LOOKUP {name!r}", f"lookup 1 {cstr(name)}", "EINVAL")
    a.expect("LOOKUP a name of 256 bytes", f"lookup 1 {cstr('a' * 256)}", "ENAMETOOLONG")
    a.expect("LOOKUP bytes > 0x7f", f"lookup 1 {cstr(bytes([0xff, 0xfe, 0x80]))}", "ENOENT")
    a.expect("LOOKUP the canary's own name", "lookup 1 escape-canary", "ENOENT")
    a.expect("LOOKUP in a file", f"lookup {f} x", "ENOTDIR")
    # A name without its terminating NUL.
    a.expect("LOOKUP '..' without NUL", f"op {FUSE_LOOKUP} 1 2e2e", "EINVAL")
    for name in ["..", ".", "a/b", "x\0y", ""]:
        n = cstr(name)
        a.expect(f"MKDIR {name!r}", f"mkdir 1 {n} 0755", "EINVAL")
        a.expect(f"CREATE {name!r}", f"create 1 {n} 0644 {O_WRONLY_CREAT}", "EINVAL")
        a.expect(f"MKNOD {name!r}", f"mknod 1 {n} 0100644 0", "EINVAL")
        a.expect(f"SYMLINK {name!r}", f"symlink 1 {n} /", "EINVAL")
        a.expect(f"UNLINK {name!r}", f"unlink 1 {n}", "EINVAL")
        a.expect(f"RMDIR {name!r}", f"rmdir 1 {n}", "EINVAL")
        a.expect(f"RENAME file to {name!r}", f"rename 1 file 1 {n}", "EINVAL")
        a.expect(f"RENAME {name!r} to x", f"rename 1 {n} 1 x", "EINVAL")
        a.expect(f"LINK file as {name!r}", f"link {f} 1 {n}", "EINVAL")
    a.expect("RENAME file to ../escape-canary/x", "rename 1 file 1 ../escape-canary/x", "EINVAL")
    a.expect("SYMLINK with a NUL in the target", f"symlink 1 t {cstr('/a' + chr(0) + 'b')}", "EINVAL")
    # READDIR of the root lists the share, never what is beside it.
    r = a.expect("OPENDIR root", f"opendir 1 {O_DIRECTORY}", "ok")
    fh = r.num("fh")
    r = a.expect("READDIR root", f"readdir 1 {fh} 65536", "ok")
    listing = r.data()
    assert b"file" in listing and b"escape-canary" not in listing, listing
    a.expect("RELEASEDIR", f"releasedir 1 {fh}", "ok")


# --------------------------------------------------------------------------- symlinks


def test_symlinks_out_opened_followed_used_as_parent(attack):
    a = attack("symlinks")
    for name in LINKS:
        r = a.expect(f"LOOKUP {name}", f"lookup 1 {name}", "ok")
        assert r.fields["mode"] == "0120777", r.line  # the link itself, not its target
        a.nodes[name] = r.num("nodeid")
    for name in LINKS:
        n = a.nodes[name]
        a.expect(f"OPEN {name}", f"open {n} {O_RDONLY}", "ENXIO")
        a.expect(f"OPEN {name} O_RDWR", f"open {n} {O_RDWR}", "ENXIO")
        a.expect(f"OPENDIR {name}", f"opendir {n} {O_DIRECTORY}", "ENXIO")
        r = a.expect(f"READLINK {name}", f"readlink {n}", "ok")
        assert r.data() == os.readlink(a.s.shared / name).encode(), r.line
        a.expect(f"GETXATTR user.canary through {name}", f"getxattr {n} user.canary 100", "ENODATA")
        a.expect(f"SETXATTR user.x on {name}", f"setxattr {n} user.x abc", "EPERM")
        a.expect(f"REMOVEXATTR user.canary through {name}", f"removexattr {n} user.canary", "EPERM")
        a.expect(f"SETATTR mode through {name}", f"setattr {n} mode=0777", "EOPNOTSUPP")
        a.expect(f"SETATTR size=0 through {name}", f"setattr {n} size=0", "EINVAL")
        a.expect(f"IOCTL through {name}", f"ioctl {n} 1 {FS_IOC_GETFLAGS} 8", "EBADF")
    for name in DIR_LINKS:
        n = a.nodes[name]
        inside = {"root_link": "etc", "fd_link": "0", "proc_root_link": "etc",
                  "cwd_link": "escape-canary"}.get(name, "secret")
        a.expect(f"LOOKUP {inside} under {name}", f"lookup {n} {inside}", "ENOTDIR")
        a.expect(f"MKDIR under {name}", f"mkdir {n} x 0755", "ENOTDIR")
        a.expect(f"CREATE under {name}", f"create {n} x 0644 {O_WRONLY_CREAT}", "ENOTDIR")
        a.expect(f"MKNOD under {name}", f"mknod {n} x 0100644 0", "ENOTDIR")
        a.expect(f"SYMLINK under {name}", f"symlink {n} x y", "ENOTDIR")
        a.expect(f"UNLINK {inside} under {name}", f"unlink {n} {inside}", "ENOTDIR")
        a.expect(f"RENAME file into {name}", f"rename 1 file {n} x", "ENOTDIR")
        a.expect(f"RENAME {inside} out of {name}", f"rename {n} {inside} 1 stolen", "ENOTDIR")
    f = a.lookup("file")
    a.expect("LINK file into abs_dir_link", f"link {f} {a.nodes['abs_dir_link']} x", "ENOTDIR")


def test_symlinks_made_by_the_guest_and_renamed_into_place(attack):
    a = attack("symlinks-renamed")
    canary = a.canary.root
    d = a.lookup("dir")
    inner_before = a.lookup("inner", d)
    r = a.expect("SYMLINK evil -> canary dir (absolute)", f"symlink 1 evil {cstr(str(canary))}", "ok")
    evil = r.num("nodeid")
    a.expect("SYMLINK evil_rel -> ../escape-canary", "symlink 1 evil_rel ../escape-canary", "ok")
    a.expect("SYMLINK evil_file -> canary secret", f"symlink 1 evil_file {cstr(str(canary / 'secret'))}", "ok")
    # Swap the link in for the directory the guest already holds a node of.
    a.expect("RENAME_EXCHANGE evil <-> dir", f"rename2 1 evil 1 dir {RENAME_EXCHANGE}", "ok")
    r = a.expect("LOOKUP dir (now the link)", "lookup 1 dir", "ok")
    assert r.fields["mode"] == "0120777" and r.num("nodeid") == evil, r.line
    a.expect("LOOKUP secret under the swapped-in link", f"lookup {evil} secret", "ENOTDIR")
    a.expect("CREATE under the swapped-in link", f"create {evil} x 0644 {O_WRONLY_CREAT}", "ENOTDIR")
    # The old directory node names the directory (by fd), wherever it now is.
    r = a.expect("LOOKUP inner through the old dir node", f"lookup {d} inner", "ok")
    assert r.num("nodeid") == inner_before, r.line
    a.expect("CREATE through the old dir node", f"create {d} made 0644 {O_WRONLY_CREAT}", "ok")
    assert (a.s.shared / "evil" / "made").is_file()
    a.expect("RENAME evil_rel over tmp (a dir)", "rename 1 evil_rel 1 tmp", "EISDIR")
    a.expect("RENAME evil_rel over file", "rename 1 evil_rel 1 file", "ok")
    r = a.expect("LOOKUP file (now the relative link)", "lookup 1 file", "ok")
    a.expect("OPEN the relative link in file's place", f"open {r.num('nodeid')} {O_RDONLY}", "ENXIO")
    a.expect("LOOKUP secret through it", f"lookup {r.num('nodeid')} secret", "ENOTDIR")
    r = a.expect("LOOKUP evil_file", "lookup 1 evil_file", "ok")
    a.expect("OPEN evil_file", f"open {r.num('nodeid')} {O_RDONLY}", "ENXIO")
    a.expect("GETXATTR user.canary through evil_file", f"getxattr {r.num('nodeid')} user.canary 100",
             "ENODATA")
    assert os.readlink(a.s.shared / "dir") == str(canary)  # the swap happened in the share only


def test_link_of_an_inode_into_place(attack):
    a = attack("link")
    for name in ["abs_link", "abs_dir_link", "rel_link", "file", "dir"]:
        a.lookup(name)
    # LINK of a symlink inode links the link itself (linkat through /proc/self/fd/N
    # follows the magic link only): the new name is the same symlink, nlink 2.
    r = a.expect("LINK abs_link as hard_abs", f"link {a.nodes['abs_link']} 1 hard_abs", "ok")
    assert r.fields["mode"] == "0120777" and r.fields["nlink"] == "2", r.line
    assert os.readlink(a.s.shared / "hard_abs") == str(a.canary.root / "secret")
    r = a.expect("LINK abs_dir_link as hard_adl", f"link {a.nodes['abs_dir_link']} 1 hard_adl", "ok")
    a.expect("LOOKUP secret under hard_adl", f"lookup {r.num('nodeid')} secret", "ENOTDIR")
    a.expect("LINK rel_link into dir", f"link {a.nodes['rel_link']} {a.nodes['dir']} rl", "ok")
    a.expect("LOOKUP dir/rl", f"lookup {a.nodes['dir']} rl", "ok")
    a.expect("LINK the root dir", "link 1 1 rootlink", "EPERM")
    a.expect("LINK a dir", f"link {a.nodes['dir']} 1 dirlink", "EPERM")
    a.expect("LINK nodeid 0", "link 0 1 x", "EBADF")
    a.expect("LINK nodeid 2^64-1", "link 0xffffffffffffffff 1 x", "EBADF")
    a.expect("LINK onto an existing name", f"link {a.nodes['file']} 1 file", "EEXIST")
    a.expect("LINK into nodeid 2^64-1", f"link {a.nodes['file']} 0xffffffffffffffff x", "EBADF")
    # A forgotten node: LINK must not reach whatever now has that number.
    r = a.expect("LOOKUP dir/inner", f"lookup {a.nodes['dir']} inner", "ok")
    inner = r.num("nodeid")
    a.s.send(f"forget {inner} 1")
    a.after("FORGET dir/inner")
    a.expect("LINK a forgotten node", f"link {inner} 1 ghost", "EBADF")


def test_proc_self_fd_and_cwd_paths(attack):
    a = attack("proc")
    for name in ["proc", "self", "cwd", "fd", "root"]:
        a.expect(f"LOOKUP {name}", f"lookup 1 {name}", "ENOENT")
    for name in ["/proc/self/cwd", "/proc/self/fd/3", "/proc/self/root", "proc/self/cwd"]:
        a.expect(f"LOOKUP {name}", f"lookup 1 {cstr(name)}", "EINVAL")
    for target in ["/proc/self/fd/0", "/proc/self/fd/3", "/proc/self/cwd/..", "/proc/1/root",
                   "/proc/thread-self/cwd"]:
        nm = "p" + str(abs(hash(target)) % 100000)
        r = a.expect(f"SYMLINK -> {target}", f"symlink 1 {nm} {cstr(target)}", "ok")
        n = r.num("nodeid")
        a.expect(f"OPEN link -> {target}", f"open {n} {O_RDONLY}", "ENXIO")
        a.expect(f"LOOKUP under link -> {target}", f"lookup {n} escape-canary", "ENOTDIR")
        a.expect(f"GETXATTR user.canary via link -> {target}", f"getxattr {n} user.canary 100",
                 "ENODATA")
        a.expect(f"LINK link -> {target}", f"link {n} 1 {nm}h", "ok")
    cwd = a.lookup("cwd_link")
    a.expect("MKDIR under cwd_link", f"mkdir {cwd} x 0755", "ENOTDIR")
    fd = a.lookup("fd_link")
    for i in range(0, 12):
        a.expect(f"LOOKUP fd_link/{i}", f"lookup {fd} {i}", "ENOTDIR")


# --------------------------------------------------------------------------- ioctl


def test_ioctl_unknown_numbers_and_hostile_sizes(attack):
    a = attack("ioctl")
    f = a.lookup("file")
    d = a.lookup("dir")
    fh = a.expect("OPEN file O_RDWR", f"open {f} {O_RDWR}", "ok").num("fh")
    dfh = a.expect("OPENDIR dir", f"opendir {d} {O_DIRECTORY}", "ok").num("fh")
    for cmd in [0x1234, 0xDEADBEEF, 0xFFFFFFFF, 0, TCGETS, 0x541B, 0x1, 0x80081272, 0xC0185879]:
        a.expect(f"IOCTL unknown {cmd:#x}", f"ioctl {f} {fh} {cmd} 0", "ENOTTY")
        a.expect(f"IOCTL unknown {cmd:#x} on a dir", f"ioctl {d} {dfh} {cmd} 0", "ENOTTY")
    a.expect("IOCTL out_size 2^32-1", f"ioctl {f} {fh} 0xdeadbeef 0xffffffff", "ENOMEM")
    a.expect("IOCTL out_size max+1", f"ioctl {f} {fh} 0x1234 {IOCTL_SIZE_MAX + 1}", "ENOMEM")
    a.expect("IOCTL in_size 2^31-1 with 3 bytes", f'ioctl {f} {fh} 0x1234 0 "abc" 0x7fffffff', "ENOMEM")
    a.expect("IOCTL in_size 2^32-1 with 3 bytes", f'ioctl {f} {fh} 0x1234 0 "abc" 0xffffffff', "ENOMEM")
    a.expect("IOCTL in_size 100 with 3 bytes", f'ioctl {f} {fh} 0x1234 0 "abc" 100', "EINVAL")
    a.expect("IOCTL in_size 0 with 3 bytes", f'ioctl {f} {fh} 0x1234 0 "abc" 0', "EINVAL")
    a.expect("IOCTL unrestricted", f'ioctl {f} {fh} 0x1234 0 "" 0 {FUSE_IOCTL_UNRESTRICTED}', "ENOSYS")
    a.expect("IOCTL known cmd, bad fh", f"ioctl {f} 999 {FS_IOC_GETFLAGS} 8", "EBADF")
    a.expect("IOCTL known cmd, fh of another node", f"ioctl {d} {fh} {FS_IOC_GETFLAGS} 8", "EBADF")
    # Device-writable room smaller than out_size: refused before the file system runs.
    a.s.send("replyroom 4096")
    a.expect("IOCTL out_size 64 KiB into a 4 KiB reply", f"ioctl {f} {fh} 0x1234 {IOCTL_SIZE_MAX}",
             "ERANGE")
    a.expect("IOCTL GETFLAGS out 64 KiB into 4 KiB", f"ioctl {f} {fh} {FS_IOC_GETFLAGS} {IOCTL_SIZE_MAX}",
             "ERANGE")
    a.s.send("replyroom 16")
    a.expect("IOCTL with a 16-byte reply room", f"ioctl {f} {fh} {FS_IOC_GETFLAGS} 8", "EINVAL",
             then=("replyroom 262144",))
    r = a.expect("IOCTL GETFLAGS out_size 64 KiB", f"ioctl {f} {fh} {FS_IOC_GETFLAGS} {IOCTL_SIZE_MAX}", "ok")
    assert len(r.data()) <= 8, r.line  # only what the ioctl wrote comes back
    a.expect("IOCTL FSGETXATTR", f"ioctl {f} {fh} {FS_IOC_FSGETXATTR} 28", "ok")
    a.expect("IOCTL FSGETXATTR with 4 bytes out", f"ioctl {f} {fh} {FS_IOC_FSGETXATTR} 4", "ENOMEM")
    a.expect("RELEASE", f"release {f} {fh}", "ok")
    a.expect("IOCTL after RELEASE", f"ioctl {f} {fh} {FS_IOC_GETFLAGS} 8", "EBADF")


# --------------------------------------------------------------------------- mknod, set-id


def test_mknod_block_and_character_devices(attack):
    a = attack("mknod")
    tmp = a.lookup("tmp")
    vda = makedev(254, 0)
    mem = makedev(1, 1)
    made = {}
    # Guest root: CAP_MKNOD is among the capabilities pfsd keeps, so the nodes are made
    # (in the share, on the host). Opening them through pfsd is refused: devices,
    # fifos and sockets are opened by the guest kernel, never by pfsd (ENXIO).
    for name, mode, rdev in [("blk", 0o60600, vda), ("chr", 0o20666, mem), ("fifo", 0o10644, 0),
                             ("sock", 0o140644, 0)]:
        r = a.expect(f"MKNOD {name} as root", f"mknod 1 {name} 0{mode:o} {rdev:#x}", "ok")
        made[name] = r.num("nodeid")
        assert int(r.fields["mode"], 8) == mode and r.num("rdev") == rdev, r.line
    for name, n in made.items():
        a.expect(f"OPEN {name} O_RDONLY", f"open {n} {O_RDONLY}", "ENXIO")
        a.expect(f"OPEN {name} O_RDWR", f"open {n} {O_RDWR}", "ENXIO")
        a.expect(f"OPENDIR {name}", f"opendir {n} {O_DIRECTORY}", "ENXIO")
        a.expect(f"IOCTL {name}", f"ioctl {n} 1 {FS_IOC_GETFLAGS} 8", "EBADF")
        a.expect(f"SETATTR size=0 {name}", f"setattr {n} size=0", "EINVAL")
    a.expect("MKNOD of type 0170000", "mknod 1 weird 0170644 0", "EINVAL")
    a.s.send("uid 1000 gid 1000")
    a.expect("MKNOD blk as uid 1000", f"mknod {tmp} blk 060600 {vda:#x}", "EPERM")
    a.expect("MKNOD chr as uid 1000", f"mknod {tmp} chr 020666 {mem:#x}", "EPERM")
    a.expect("MKNOD fifo as uid 1000", f"mknod {tmp} fifo 010644 0", "ok")
    a.expect("MKNOD blk as uid 1000 in a root dir", f"mknod 1 blk2 060600 {vda:#x}", "EACCES")
    a.s.send("uid 0 gid 0")
    assert not (a.s.shared / "tmp" / "blk").exists() and not (a.s.shared / "tmp" / "chr").exists()


def test_setuid_setgid_by_an_unprivileged_caller(attack):
    a = attack("setid")
    tmp = a.lookup("tmp")
    f = a.lookup("file")
    a.s.send("uid 1000 gid 1000")
    # CREATE: O_TMPFILE, then fchown to the caller and linkat; the set-id bits do not
    # survive (the owner change clears them).
    r = a.expect("CREATE 04755 as uid 1000", f"create {tmp} suid 04755 {O_WRONLY_CREAT}", "ok")
    assert int(r.fields["mode"], 8) & 0o7777 == 0o755 and r.num("uid") == 1000, r.line
    suid = r.num("nodeid")
    r = a.expect("CREATE 02755 as uid 1000", f"create {tmp} sgid 02755 {O_WRONLY_CREAT}", "ok")
    assert int(r.fields["mode"], 8) & 0o7777 == 0o755 and r.num("gid") == 1000, r.line
    r = a.expect("MKDIR 02755 as uid 1000", f"mkdir {tmp} sgdir 02755", "ok")
    assert r.num("uid") == 1000, r.line
    # MKNOD runs as the caller: a set-uid file of its own, as on any Linux.
    r = a.expect("MKNOD 0104755 as uid 1000", f"mknod {tmp} suidn 0104755 0", "ok")
    assert int(r.fields["mode"], 8) == 0o104755 and r.num("uid") == 1000, r.line
    # SETATTR runs as pfsd (as crosvm's and virtiofsd's): the header's uid is not a
    # permission check, the guest kernel does those. So "uid 1000" sets the set-id bits
    # of a root-owned file in the share and gives a file away.
    r = a.expect("SETATTR mode=06755 as uid 1000 on its own file", f"setattr {suid} mode=06755", "ok")
    assert int(r.fields["mode"], 8) & 0o7777 == 0o6755, r.line
    r = a.expect("SETATTR mode=04755 as uid 1000 on a root file", f"setattr {f} mode=04755", "ok")
    assert int(r.fields["mode"], 8) & 0o7777 == 0o4755 and r.num("uid") == 0, r.line
    r = a.expect("SETATTR uid=0 gid=0 as uid 1000 on its file", f"setattr {suid} uid=0 gid=0", "ok")
    # chown by a privileged process clears the set-id bits of an executable.
    assert r.num("uid") == 0 and int(r.fields["mode"], 8) & 0o6000 == 0, r.line
    st = os.stat(a.s.shared / "file")
    assert st.st_mode & 0o7777 == 0o4755 and st.st_uid == 0
    a.s.send("uid 0 gid 0")


# --------------------------------------------------------------------------- xattrs


def test_xattrs_trusted_security_capability_system(attack):
    a = attack("xattr")
    f = a.lookup("file")
    # trusted.* needs CAP_SYS_ADMIN: the sandbox drops it (EPERM); unconfined root has it.
    a.expect("SETXATTR trusted.x garbage", f"setxattr {f} trusted.x {cstr(bytes(range(256))[::7])}",
             "EPERM", none="ok")
    a.expect("SETXATTR trusted.overlay.opaque on the root", "setxattr 1 trusted.overlay.opaque y",
             "EPERM", none="ok")
    a.expect("GETXATTR trusted.x", f"getxattr {f} trusted.x 100", "ENODATA", none="ok")
    a.s.send("uid 1000 gid 1000")
    a.expect("SETXATTR trusted.y as uid 1000", f"setxattr {f} trusted.y z", "EPERM", none="ok")
    a.s.send("uid 0 gid 0")
    # security.capability: the kernel validates the value; a valid one is stored
    # (CAP_SETFCAP is kept): the guest can give a file in the share file capabilities.
    a.expect("SETXATTR security.capability garbage", f'setxattr {f} security.capability "\\x01\\x00\\x00\\x02"',
             "EINVAL")
    a.expect("SETXATTR security.capability huge", f"setxattr {f} security.capability {cstr(b'A' * 5000)}",
             "EINVAL")
    vfs_cap_v2 = struct.pack("<IIIII", 0x02000000, 1 << 13, 0, 0, 0)  # CAP_NET_RAW permitted
    a.expect("SETXATTR security.capability valid v2", f"setxattr {f} security.capability {cstr(vfs_cap_v2)}",
             "ok")
    r = a.expect("GETXATTR security.capability", f"getxattr {f} security.capability 100", "ok")
    assert r.data() == vfs_cap_v2, r.line
    a.s.send("uid 1000 gid 1000")
    a.expect("SETXATTR security.capability as uid 1000", f"setxattr {f} security.capability {cstr(vfs_cap_v2)}",
             "ok")
    a.s.send("uid 0 gid 0")
    a.expect("SETXATTR system.posix_acl_access garbage", f"setxattr {f} system.posix_acl_access garbage!",
             "EOPNOTSUPP")
    a.expect("SETXATTR system.posix_acl_access bad entries",
             f'setxattr {f} system.posix_acl_access "\\x02\\x00\\x00\\x00\\x01\\x00\\x07\\x00\\xff\\xff\\xff\\xff"',
             "EINVAL")
    acl = struct.pack("<I", 2) + b"".join(struct.pack("<HHI", tag, perm, 0xFFFFFFFF)
                                          for tag, perm in [(0x01, 7), (0x04, 5), (0x20, 5)])
    a.expect("SETXATTR system.posix_acl_default on a file", f"setxattr {f} system.posix_acl_default {cstr(acl)}",
             "EACCES")
    a.expect("SETXATTR system.posix_acl_access valid", f"setxattr {f} system.posix_acl_access {cstr(acl)}",
             "ok")
    a.expect("SETXATTR system.foo", f"setxattr {f} system.foo x", "EOPNOTSUPP")
    a.expect("SETXATTR a name without a namespace", f"setxattr {f} noprefix x", "EOPNOTSUPP")
    a.expect("SETXATTR an empty name", f'setxattr {f} "" x', "ERANGE")
    a.expect("SETXATTR a 256-byte name", f"setxattr {f} user.{'n' * 251} x", "ERANGE")
    a.expect("SETXATTR user.x with a 64 KiB+1 value", f"setxattr {f} user.x {cstr(b'v' * 65537)}", "E2BIG")
    a.expect("SETXATTR user.canary", f"setxattr {f} user.canary forged", "ok")
    a.expect("GETXATTR user.canary size 0", f"getxattr {f} user.canary 0", "ok")
    a.expect("LISTXATTR size 3 (too small)", f"listxattr {f} 3", "ERANGE")
    a.expect("SETXATTR on nodeid 2^64-1", "setxattr 0xffffffffffffffff user.x y", "EBADF")


# --------------------------------------------------------------------------- ids, nodeids


def test_header_ids_the_kernel_never_sends(attack):
    a = attack("ids")
    tmp = a.lookup("tmp")
    for uid, gid in [(0xFFFFFFFF, 0), (0, 0xFFFFFFFF), (0xFFFFFFFF, 0xFFFFFFFF), (1000, 0xFFFFFFFF)]:
        a.s.send(f"uid {uid} gid {gid}")
        a.expect(f"GETATTR as {uid:#x}:{gid:#x}", "getattr 1", "EPERM")
        a.expect(f"CREATE as {uid:#x}:{gid:#x}", f"create {tmp} x{uid}{gid} 0644 {O_WRONLY_CREAT}", "EPERM")
        a.expect(f"MKNOD blk as {uid:#x}:{gid:#x}", f"mknod {tmp} b{uid}{gid} 060600 0xfe00", "EPERM")
        a.expect(f"SETATTR as {uid:#x}:{gid:#x}", "setattr 1 mode=0755", "EPERM")
        # FORGET has no reply; it is served (the header ids do not matter to it).
        r = a.s.send("forget 1 1")
        assert r.kind == "noreply", r.line
        a.after(f"FORGET as {uid:#x}:{gid:#x}")
    for uid, gid in [(0xFFFFFFFE, 0xFFFFFFFE), (65534, 65534), (4242, 4242), (0x80000000, 1)]:
        a.s.send(f"uid {uid} gid {gid}")
        r = a.expect(f"CREATE as {uid}:{gid}", f"create {tmp} c{uid} 0644 {O_WRONLY_CREAT}", "ok")
        assert r.num("uid") == uid and r.num("gid") == gid, r.line
        # MKDIR (as crosvm's) makes the directory as pfsd and then gives it to the
        # caller: no permission check with the caller's ids, unlike MKNOD and SYMLINK.
        r = a.expect(f"MKDIR in the root (0755 root) as {uid}:{gid}", f"mkdir 1 d{uid} 0755", "ok")
        assert r.num("uid") == uid, r.line
        a.expect(f"MKNOD in the root as {uid}:{gid}", f"mknod 1 n{uid} 0100644 0", "EACCES")
        a.expect(f"SYMLINK in the root as {uid}:{gid}", f"symlink 1 s{uid} /", "EACCES")
    a.s.send("uid 0 gid 0")
    st = os.stat(a.s.shared / "tmp" / "c4242")
    assert (st.st_uid, st.st_gid) == (4242, 4242)


def test_nodeids_never_handed_out_and_forgotten(attack):
    a = attack("nodeids")
    f = a.lookup("file")
    d = a.lookup("dir")
    for node in [0, 0xFFFFFFFFFFFFFFFF, 0x8000000000000000, 12345, f + 1000]:
        a.expect(f"GETATTR {node:#x}", f"getattr {node}", "EBADF")
        a.expect(f"LOOKUP under {node:#x}", f"lookup {node} file", "EBADF")
        a.expect(f"OPEN {node:#x}", f"open {node} 0", "EBADF")
        a.expect(f"SETATTR {node:#x}", f"setattr {node} mode=0777", "EBADF")
        a.expect(f"CREATE under {node:#x}", f"create {node} x 0644 {O_WRONLY_CREAT}", "EBADF")
        a.expect(f"RENAME into {node:#x}", f"rename 1 file {node} x", "EBADF")
        a.expect(f"READLINK {node:#x}", f"readlink {node}", "EBADF")
        r = a.s.send(f"forget {node} 1")
        assert r.kind == "noreply", r.line
        a.after(f"FORGET {node:#x}")
    r = a.s.send("batchforget 0 1 0xffffffffffffffff 5 777 0xffffffffffffffff")
    assert r.kind == "noreply", r.line
    a.after("BATCH_FORGET of unknown nodes")
    # The root is never forgotten.
    a.s.send("forget 1 0xffffffffffffffff")
    a.expect("GETATTR the root after FORGET 1 2^64-1", "getattr 1", "ok")
    # A forgotten node is gone, even after more lookups elsewhere.
    inner = a.expect("LOOKUP dir/inner", f"lookup {d} inner", "ok").num("nodeid")
    a.s.send(f"forget {inner} 1")
    a.expect("GETATTR a forgotten node", f"getattr {inner}", "EBADF")
    a.expect("OPEN a forgotten node", f"open {inner} 0", "EBADF")
    a.expect("LOOKUP under a forgotten node", f"lookup {inner} x", "EBADF")
    # Over-forgetting saturates: two lookups, FORGET 2^64-1, then the node is gone.
    a.expect("LOOKUP file again", "lookup 1 file", "ok")
    a.s.send(f"forget {f} 0xffffffffffffffff")
    a.expect("GETATTR an over-forgotten node", f"getattr {f}", "EBADF")
    a.expect("LOOKUP file after over-forget", "lookup 1 file", "ok")
    # A BATCH_FORGET whose count exceeds the entries is dropped whole.
    r = a.s.send("op 42 0 ffffff7f00000000" + "01" * 8 + "01" * 8)
    assert r.kind == "noreply", r.line
    a.after("BATCH_FORGET count 2^31-1 with one entry")
    a.expect("LOOKUP dir still held", f"getattr {d}", "ok")


# --------------------------------------------------------------------------- queues, raw


def test_two_request_queues_interleaved(attack):
    a = attack("queues")
    f = a.lookup("file")
    d = a.lookup("dir")
    lines = []
    for i in range(12):
        q = 1 + i % 2
        lines += [f"queue {q}", "post lookup 1 file", f"post lookup 1 {cstr('..')}",
                  f"post lookup {d} inner", f"post lookup {a.nodes['dir']} {cstr('../file')}"]
        if i % 3 == 2:
            lines.append("collect")
    lines.append("collect")
    replies = a.s.send_many(lines)
    answers = []
    for r in replies:
        if r.kind == "collected":
            answers += r.line.split(" | ")[1:]
    assert len(answers) == 48, replies[-1].line
    for i in range(0, 48, 4):
        assert f" ok nodeid={f} " in answers[i], answers[i]
        assert answers[i + 1].endswith("err 22 EINVAL"), answers[i + 1]
        assert " ok nodeid=" in answers[i + 2], answers[i + 2]
        assert answers[i + 3].endswith("err 22 EINVAL"), answers[i + 3]
    a.after("interleaved lookups on queues 1 and 2")
    # Racing a rename (queue 2) with lookups through the old name (queue 1).
    for i in range(10):
        rs = a.s.send_many(["queue 2", f"post rename2 1 dir 1 tmp {RENAME_EXCHANGE}", "queue 1",
                            "post lookup 1 dir", f"post lookup {d} inner",
                            f"post lookup 1 {cstr('dir/inner')}", "collect"])
        parts = rs[-1].line.split(" | ")[1:]
        assert parts[0].endswith(" ok"), parts[0]
        assert " ok nodeid=" in parts[1] and " ok nodeid=" in parts[2], parts
        assert parts[3].endswith("err 22 EINVAL"), parts[3]
    a.after("RENAME_EXCHANGE on queue 2 racing lookups on queue 1")
    # The hiprio queue (0) is for FORGET and INTERRUPT; a LOOKUP on it is served too.
    a.s.send("queue 0")
    a.expect("LOOKUP .. on the hiprio queue", f"lookup 1 {cstr('..')}", "EINVAL")
    a.s.send("queue 1")


def test_raw_requests(attack):
    a = attack("raw")

    def hdr(length, opcode, unique=0x99, nodeid=1, uid=0, gid=0, pid=1, extlen=0):
        return struct.pack("<IIQQIIIHH", length, opcode, unique, nodeid, uid, gid, pid, extlen, 0)

    def raw(case, data: bytes, want: str, none: str | None = None):
        return a.expect(case, f"raw {data.hex()}" if data else 'raw ""', want, none)

    a.expect("empty chain (no request bytes)", 'raw ""', "EINVAL")
    raw("short header", hdr(40, FUSE_GETATTR)[:20], "EINVAL")
    raw("len larger than the bytes", hdr(4096, FUSE_GETATTR) + bytes(16), "EINVAL")
    raw("len smaller than the bytes", hdr(40, FUSE_GETATTR) + bytes(16), "EINVAL")
    raw("len 0", hdr(0, FUSE_GETATTR) + bytes(16), "EINVAL")
    raw("len 2^32-1", hdr(0xFFFFFFFF, FUSE_GETATTR) + bytes(16), "EINVAL")
    raw("total_extlen beyond the request", hdr(56, FUSE_GETATTR, extlen=0xFFFF) + bytes(16), "EINVAL")
    raw("unknown opcode 9999", hdr(40, 9999), "ENOSYS")
    raw("opcode 0", hdr(40, 0), "ENOSYS")
    raw("CUSE_INIT", hdr(40 + 64, 4096) + bytes(64), "ENOSYS")
    raw("second INIT", hdr(40 + 64, FUSE_INIT) + struct.pack("<IIII", 7, 38, 0, 0) + bytes(48), "EIO")
    raw("LOOKUP .. with uid -1", hdr(43, FUSE_LOOKUP, uid=0xFFFFFFFF) + b"..\0", "EPERM")
    raw("LOOKUP a name running off the end", hdr(42, FUSE_LOOKUP) + b"..", "EINVAL")
    # DESTROY forgets everything; requests before the next INIT get EIO.
    a.s.send("lookup 1 file")
    a.expect("DESTROY", f"op {FUSE_DESTROY} 1", "ok", answers=False)
    a.expect("GETATTR after DESTROY", f"op {FUSE_GETATTR} 1 {bytes(16).hex()}", "EIO", answers=False)
    init = struct.pack("<IIII", 7, 38, 0x20000, 0) + bytes(48)
    a.canary.check("DESTROY")
    r = a.s.send(f"op {FUSE_INIT} 0 {init.hex()}")
    assert r.ok, r.line
    a.after("INIT again after DESTROY")
    a.expect("LOOKUP .. after re-INIT", f"lookup 1 {cstr('..')}", "EINVAL")


def test_hostile_sizes_and_offsets(attack):
    """Sizes and offsets in READ/WRITE/READDIR/xattr requests that no buffer holds."""
    a = attack("sizes")
    f = a.lookup("file")
    fh = a.expect("OPEN file O_RDWR", f"open {f} {O_RDWR}", "ok").num("fh")
    a.expect("READ size 2^32-1", f"read {f} {fh} 0xffffffff", "ENOMEM")
    a.expect("READ at offset 2^64-1", f"read {f} {fh} 100 0xffffffffffffffff", "EINVAL")
    a.expect("READ at offset 2^63-1", f"read {f} {fh} 100 0x7fffffffffffffff", "EINVAL")
    # A reply room smaller than the READ: the reply is cut to what fits, never beyond.
    a.s.send("replyroom 20")
    r = a.expect("READ 100 into a 20-byte reply", f"read {f} {fh} 100", "ok", then=("replyroom 262144",))
    assert r.data() == b"insi", r.line
    a.expect("WRITE at offset 2^64-16", f'write {f} {fh} 0xfffffffffffffff0 "abc"', "EINVAL")
    a.expect("WRITE at offset 2^63-16", f'write {f} {fh} 0x7ffffffffffffff0 "abc"', "EFBIG")
    write_in = struct.pack("<QQIIQII", fh, 0, 0xFFFFFFFF, 0, 0, 0, 0)
    a.expect("WRITE whose size says 2^32-1", f"op 16 {f} {write_in.hex()}", "ENOMEM")
    d = a.expect("OPENDIR root", f"opendir 1 {O_DIRECTORY}", "ok").num("fh")
    a.expect("READDIR size 2^32-1", f"readdir 1 {d} 0xffffffff", "ENOMEM")
    a.expect("READDIRPLUS size 2^32-1 at offset 2^64-1", f"readdirplus 1 {d} 0xffffffff 0xffffffffffffffff",
             "ENOMEM")
    a.expect("GETXATTR size 2^32-1", f"getxattr {f} user.x 0xffffffff", "ENOMEM")
    a.expect("LISTXATTR size 2^32-1", f"listxattr {f} 0xffffffff", "ENOMEM")
    setxattr_in = struct.pack("<II", 0xFFFFFFFF, 0) + b"user.x\0a"
    a.expect("SETXATTR whose size says 2^32-1", f"op 21 {f} {setxattr_in.hex()}", "E2BIG")
    a.expect("SETATTR size 2^64-1", f"setattr {f} size=0xffffffffffffffff", "EINVAL")
    a.expect("SETATTR size 2^63-1", f"setattr {f} size=0x7fffffffffffffff", "EFBIG")
    assert (a.s.shared / "file").read_bytes() == b"inside\n"


# --------------------------------------------------------------------------- lookup flood


def _flood_files(n: int):
    def setup(shared: Path) -> None:
        fl = shared / "flood"
        fl.mkdir()
        for i in range(n):
            (fl / f"f{i}").write_bytes(b"")
    return setup


def test_lookup_flood_without_forget(attack):
    n = 1000
    a = attack("flood", extra_setup=_flood_files(n))
    base_fds = a.s.fd_count()
    fl = a.lookup("flood")
    after_dir = a.s.fd_count()
    replies = a.s.send_many([f"lookup {fl} f{i}" for i in range(n)])
    assert all(r.ok for r in replies), [r.line for r in replies if not r.ok][:3]
    nodes = [r.num("nodeid") for r in replies]
    assert len(set(nodes)) == n
    grown = a.s.fd_count()
    # One O_PATH fd per inode the guest holds: the growth is the number of lookups.
    assert grown - after_dir == n, (base_fds, after_dir, grown)
    a.after(f"{n} LOOKUPs without FORGET")
    # The same name again and again: one inode, one fd, a refcount.
    r = a.s.send(f"repeat 5000 lookup {fl} f0")
    assert r.line.startswith("repeat 5000 ok=5000"), r.line
    assert a.s.fd_count() == grown
    # Names that do not exist cost nothing.
    r = a.s.send(f"repeat 2000 lookup {fl} missing")
    assert "ok=0" in r.line and "[err 2]=2000" in r.line, r.line
    assert a.s.fd_count() == grown
    # BATCH_FORGET gives every fd back (f0 was looked up 5001 times).
    chunks = [nodes[i:i + 100] for i in range(0, n, 100)]
    for c in chunks:
        a.s.send("batchforget " + " ".join(f"{x} {5001 if x == nodes[0] else 1}" for x in c))
    a.after("BATCH_FORGET of the flood")
    deadline = time.monotonic() + 5
    while a.s.fd_count() != after_dir and time.monotonic() < deadline:
        time.sleep(0.05)
    assert a.s.fd_count() == after_dir, (after_dir, a.s.fd_count())
    print(f"\nflood ({MODE}): fds {base_fds} at start, {after_dir} with the flood dir, "
          f"{grown} after {n} lookups (+{grown - after_dir}), {a.s.fd_count()} after BATCH_FORGET")


def test_lookup_flood_past_the_fd_limit(attack):
    """More inodes than pfsd may hold fds: LOOKUP fails with an errno, pfsd serves on,
    and FORGET gives the fds back."""
    a = attack("flood-limit", extra_setup=_flood_files(0))
    limit = None
    with open(f"/proc/{a.s.serving_pid()}/limits") as lf:
        for ln in lf:
            if ln.startswith("Max open files"):
                limit = int(ln.split()[3])
    assert limit is not None and limit <= 1 << 20, limit
    n = limit + 200
    fl_dir = a.s.shared / "flood"
    for i in range(n):
        (fl_dir / f"f{i}").write_bytes(b"")
    fl = a.lookup("flood")
    start = a.s.fd_count()
    t0 = time.monotonic()
    replies = a.s.send_many([f"lookup {fl} f{i}" for i in range(n)], timeout=300)
    took = time.monotonic() - t0
    ok = [r for r in replies if r.ok]
    failed = [r for r in replies if not r.ok]
    assert failed, f"{n} lookups against a limit of {limit} fds all succeeded"
    assert {r.errname for r in failed} <= {"EMFILE", "ENFILE"}, {r.line for r in failed}
    peak = a.s.fd_count()
    assert peak <= limit
    a.after(f"LOOKUP flood past RLIMIT_NOFILE {limit}")
    nodes = [r.num("nodeid") for r in ok]
    for i in range(0, len(nodes), 200):
        a.s.send("batchforget " + " ".join(f"{x} 1" for x in nodes[i:i + 200]))
    deadline = time.monotonic() + 5
    while a.s.fd_count() > start and time.monotonic() < deadline:
        time.sleep(0.05)
    assert a.s.fd_count() == start
    a.expect("LOOKUP after the flood was forgotten", f"lookup {fl} f{n - 1}", "ok")
    print(f"\nflood past the limit ({MODE}): RLIMIT_NOFILE {limit}; {len(ok)} lookups held an fd "
          f"(peak {peak} fds), {len(failed)} failed with "
          f"{sorted({r.errname for r in failed})}; {n} lookups in {took:.1f} s; "
          f"{a.s.fd_count()} fds after BATCH_FORGET")


def test_security_capability_rewritten(attack):
    """With --rewrite-security-xattrs a guest's security.capability lands in
    user.virtiofs.security.capability: the host file gets no capabilities, and the
    guest cannot write our prefix itself."""
    a = attack("xattr-rewrite", pfsd_args=["--rewrite-security-xattrs"])
    f = a.lookup("file")
    cap = struct.pack("<IIIII", 0x02000000, 1 << 13, 0, 0, 0)
    a.expect("SETXATTR security.capability (rewritten)", f"setxattr {f} security.capability {cstr(cap)}", "ok")
    host = a.s.shared / "file"
    assert os.getxattr(host, "user.virtiofs.security.capability") == cap
    assert "security.capability" not in os.listxattr(host)
    r = a.expect("GETXATTR security.capability (rewritten)", f"getxattr {f} security.capability 100", "ok")
    assert r.data() == cap
    a.expect("SETXATTR user.virtiofs.security.capability", f"setxattr {f} user.virtiofs.security.capability x",
             "EPERM")
    a.expect("GETXATTR user.virtiofs.security.capability", f"getxattr {f} user.virtiofs.security.capability 100",
             "ENODATA")


def test_modcaps_take_mknod_and_setfcap_away(attack):
    """The host's way to refuse device nodes and file capabilities to the guest:
    --modcaps=-mknod,-setfcap (applied with and without the sandbox)."""
    a = attack("modcaps", pfsd_args=["--modcaps=-mknod,-setfcap"])
    f = a.lookup("file")
    a.expect("MKNOD blk without CAP_MKNOD", f"mknod 1 blk 060600 {makedev(254, 0):#x}", "EPERM")
    a.expect("MKNOD chr without CAP_MKNOD", f"mknod 1 chr 020666 {makedev(1, 1):#x}", "EPERM")
    a.expect("MKNOD fifo without CAP_MKNOD", "mknod 1 fifo 010644 0", "ok")
    cap = struct.pack("<IIIII", 0x02000000, 1 << 13, 0, 0, 0)
    a.expect("SETXATTR security.capability without CAP_SETFCAP",
             f"setxattr {f} security.capability {cstr(cap)}", "EPERM")
    assert not (a.s.shared / "blk").exists() and not (a.s.shared / "chr").exists()


def test_control_the_oracle_sees_what_pfsd_does(attack):
    """Control: canaries placed inside the share are reached through the same probe
    requests, so the canary checks above would see pfsd (confined or not) opening,
    reading or changing the real one."""
    a = attack("control")
    read_canary = Canary(a.s.shared / "inside-read")
    xattr_canary = Canary(a.s.shared / "inside-xattr")
    try:
        c = a.lookup("inside-read")
        s = a.lookup("secret", c)
        assert not read_canary.reached("lookups only"), read_canary.changes()  # O_PATH: silent
        fh = a.expect("OPEN a canary inside the share", f"open {s} {O_RDONLY}", "ok").num("fh")
        r = a.expect("READ it", f"read {s} {fh} 4096", "ok")
        assert r.data() == SECRET
        found = read_canary.changes()
        assert any("OPEN" in x for x in found) and any("ACCESS" in x for x in found), found
        c = a.lookup("inside-xattr")
        s = a.lookup("public", c)
        a.expect("SETXATTR user.canary on a canary inside the share", f"setxattr {s} user.canary changed", "ok")
        found = xattr_canary.changes()
        assert any("xattrs" in x for x in found) and any("ATTRIB" in x for x in found), found
    finally:
        read_canary.close()
        xattr_canary.close()
