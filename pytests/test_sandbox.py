"""pfsd's second wall (issue 10): --sandbox namespace|chroot, capabilities, seccomp.

pfsd is started in host mode with the sandbox on, does ordinary work through the
mount, and the serving process is inspected from the host: its capabilities are the
kept set, no_new_privs and a seccomp filter are on, its root (and, with namespace,
its mount, pid and net namespaces) are not the host's, and trusted.* xattrs are
refused because CAP_SYS_ADMIN is gone.

Every pfsd here is stopped by PID through the fixtures (the supervisor forwards the
signal, unmounts and exits 0; the confined processes die with it), even on failure.
"""

from __future__ import annotations

import errno
import os
import socket
import struct
import subprocess
from pathlib import Path

import pytest

import proc_stop
from helpers import read_bytes, run, write_bytes
from test_daemon_hardening import _recv_exact, _vhost_header, vhost_pfsd  # noqa: F401

pytestmark = pytest.mark.host

# CHOWN DAC_OVERRIDE FOWNER FSETID SETGID SETUID MKNOD SETFCAP
KEPT_CAPS = sum(1 << b for b in (0, 1, 3, 4, 6, 7, 27, 31))
CAP_SYS_ADMIN = 21


def _ancestors(pid: int) -> list[int]:
    out = []
    while pid > 1:
        with open(f"/proc/{pid}/stat") as f:
            pid = int(f.read().rsplit(")", 1)[1].split()[1])
        out.append(pid)
    return out


def serving_pid(pfsd) -> int:
    """The confined server: the leaf of pfsd's process chain (supervisor -> [pid 1 ->] server)."""
    return proc_stop.serving_pid(pfsd.proc.pid)


status_fields = proc_stop.status_fields


def ordinary_work(pfsd) -> None:
    write_bytes(pfsd.m("a.txt"), b"hello through the sandbox")
    assert read_bytes(pfsd.h("a.txt")) == b"hello through the sandbox"
    assert read_bytes(pfsd.m("a.txt")) == b"hello through the sandbox"
    os.mkdir(pfsd.m("dir"))
    os.rename(pfsd.m("a.txt"), pfsd.m("dir", "b.txt"))
    assert pfsd.h("dir", "b.txt").is_file() and not pfsd.h("a.txt").exists()
    os.setxattr(pfsd.m("dir", "b.txt"), "user.k", b"v")
    assert os.getxattr(pfsd.h("dir", "b.txt"), "user.k") == b"v"
    assert os.getxattr(pfsd.m("dir", "b.txt"), "user.k") == b"v"
    os.symlink("dir/b.txt", pfsd.m("link"))
    assert os.readlink(pfsd.h("link")) == "dir/b.txt"
    assert read_bytes(pfsd.m("link")) == b"hello through the sandbox"
    os.chmod(pfsd.m("dir", "b.txt"), 0o640)  # through /proc/self/fd in the core
    assert pfsd.h("dir", "b.txt").stat().st_mode & 0o777 == 0o640
    os.chown(pfsd.m("dir", "b.txt"), 1234, 1234)
    assert pfsd.h("dir", "b.txt").stat().st_uid == 1234
    os.truncate(pfsd.m("dir", "b.txt"), 5)  # reopens the inode via /proc/self/fd
    assert read_bytes(pfsd.h("dir", "b.txt")) == b"hello"
    os.unlink(pfsd.m("link"))
    os.unlink(pfsd.m("dir", "b.txt"))
    os.rmdir(pfsd.m("dir"))
    assert sorted(os.listdir(pfsd.m())) == sorted(os.listdir(pfsd.h()))


def check_confined(pfsd, mode: str) -> int:
    pid = serving_pid(pfsd)
    assert pid != pfsd.proc.pid, "the server should be a child of the supervisor"
    st = status_fields(pid)
    assert int(st["CapEff"], 16) == KEPT_CAPS, st["CapEff"]
    assert int(st["CapPrm"], 16) == KEPT_CAPS, st["CapPrm"]
    assert int(st["CapBnd"], 16) == KEPT_CAPS, st["CapBnd"]
    assert not int(st["CapEff"], 16) & (1 << CAP_SYS_ADMIN)
    assert st["NoNewPrivs"] == "1"
    # The root the server sees is the shared directory, and nothing else of the host.
    root, shared = os.stat(f"/proc/{pid}/root"), os.stat(pfsd.shared)
    assert (root.st_dev, root.st_ino) == (shared.st_dev, shared.st_ino)
    assert sorted(os.listdir(f"/proc/{pid}/root")) == sorted(os.listdir(pfsd.shared))
    if mode == "chroot":
        assert os.readlink(f"/proc/{pid}/root") == str(pfsd.shared)
    if mode == "namespace":
        for ns in ("mnt", "pid", "net", "ipc"):
            assert os.readlink(f"/proc/{pid}/ns/{ns}") != os.readlink(f"/proc/self/ns/{ns}"), ns
        # Its /proc is that of its own pid namespace: no host process is there.
        assert "NSpid" in st and len(st["NSpid"].split()) == 2, st.get("NSpid")
    return pid


@pytest.mark.parametrize("mode", ["namespace", "chroot"])
def test_sandboxed_server_works_and_is_confined(pfsd_factory, mode):
    pfsd = pfsd_factory("--sandbox", mode, "--seccomp", "kill")
    ordinary_work(pfsd)
    pid = check_confined(pfsd, mode)
    assert status_fields(pid)["Seccomp"] == "2"
    # CAP_SYS_ADMIN is gone: trusted.* is refused, as virtiofsd does.
    write_bytes(pfsd.m("t"), b"x")
    with pytest.raises(OSError) as ei:
        os.setxattr(pfsd.m("t"), "trusted.x", b"1")
    assert ei.value.errno == errno.EPERM
    p = run(["setfattr", "-n", "trusted.x", "-v", "1", str(pfsd.m("t"))])
    assert p.returncode != 0 and "not permitted" in p.stderr
    assert "trusted.x" not in os.listxattr(pfsd.h("t"))
    # Still alive and serving after all that (no syscall off the list was made).
    assert read_bytes(pfsd.m("t")) == b"x"
    assert pfsd.proc.poll() is None


def test_sandbox_none_keeps_trusted_xattrs(pfsd_factory):
    # The other wall on its own: without the sandbox, root in the client still sets
    # trusted.* (pfsd keeps CAP_SYS_ADMIN), but no_new_privs is on always.
    pfsd = pfsd_factory("--sandbox", "none")
    write_bytes(pfsd.m("t"), b"x")
    os.setxattr(pfsd.m("t"), "trusted.x", b"1")
    assert os.getxattr(pfsd.h("t"), "trusted.x") == b"1"
    assert status_fields(pfsd.proc.pid)["NoNewPrivs"] == "1"


def test_modcaps_gives_sys_admin_back(pfsd_factory):
    pfsd = pfsd_factory("--sandbox", "namespace", "--modcaps", "+sys_admin,-mknod")
    # The mount is made before confinement: a request answered means confinement is done.
    write_bytes(pfsd.m("t"), b"x")
    pid = serving_pid(pfsd)
    eff = int(status_fields(pid)["CapEff"], 16)
    assert eff == (KEPT_CAPS | 1 << CAP_SYS_ADMIN) & ~(1 << 27)
    os.setxattr(pfsd.m("t"), "trusted.x", b"1")
    assert os.getxattr(pfsd.h("t"), "trusted.x") == b"1"


@pytest.mark.parametrize("action", ["log", "trap"])
def test_seccomp_log_and_trap_serve_normally(pfsd_factory, action):
    pfsd = pfsd_factory("--sandbox", "namespace", "--seccomp", action)
    ordinary_work(pfsd)
    assert status_fields(serving_pid(pfsd))["Seccomp"] == "2"
    assert "forbidden syscall" not in pfsd.log_text()


def test_sandbox_stops_with_one_line_when_it_cannot_confine(pfsd_binary, tmp_path):
    # A shared dir pivot_root cannot use is hard to make as root; an unknown mode and a
    # bad capability name are the errors a user meets: one line, exit 1, nothing served.
    (tmp_path / "s").mkdir()
    (tmp_path / "m").mkdir()
    base = [str(pfsd_binary), "--shared-dir", str(tmp_path / "s"), "--mount", str(tmp_path / "m")]
    for extra, want in ((["--sandbox", "jail"], "--sandbox jail"),
                        (["--seccomp", "maybe"], "--seccomp maybe"),
                        (["--modcaps", "+no_such_cap"], "unknown capability")):
        p = subprocess.run(base + extra, capture_output=True, text=True, timeout=10)
        assert p.returncode == 1, p
        assert want in p.stderr and p.stderr.count("\n") == 1, p.stderr


def test_vhost_user_sandboxed_answers_and_exits(vhost_pfsd):
    # The listening socket is made before confinement; a front-end connects, is
    # answered by the confined server, and when it leaves pfsd exits 0 and the
    # supervisor removes the socket file. (No virtqueue traffic here: the ctest
    # end-to-end tests drive that in-process, and the VM suite does not run inside
    # the sandbox yet.)
    GET_FEATURES, VERSION = 1, 0x1
    d = vhost_pfsd("--sandbox", "namespace", "--seccomp", "kill")
    d.wait_listening()
    pid = proc_stop.serving_pid(d.proc.pid)
    assert pid != d.proc.pid and d.proc.pid in _ancestors(pid), "the server is not confined"
    st = status_fields(pid)
    assert int(st["CapEff"], 16) == KEPT_CAPS and st["Seccomp"] == "2"
    assert st["NoNewPrivs"] == "1"
    assert os.readlink(f"/proc/{pid}/ns/mnt") != os.readlink("/proc/self/ns/mnt")
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(10)
        s.connect(str(d.sock))
        s.sendall(_vhost_header(GET_FEATURES, VERSION, 0))
        (req, _, size) = struct.unpack("<III", _recv_exact(s, 12))
        assert req == GET_FEATURES and size == 8
        (features,) = struct.unpack("<Q", _recv_exact(s, 8))
        assert features & (1 << 32)  # VIRTIO_F_VERSION_1
    assert d.wait_exit() == 0, d.log_text()
    assert not d.sock.exists()
    assert "forbidden" not in d.log_text()


def _mount_options_of_root(pid: int) -> set[str]:
    """The per-mount options of "/" as the process `pid` sees it."""
    with open(f"/proc/{pid}/mountinfo") as f:
        for line in f:
            fields = line.split()
            if fields[4] == "/":
                return set(fields[5].split(","))
    raise AssertionError(f"no / in /proc/{pid}/mountinfo")


def _proc_dir_fds(pid: int) -> dict[str, list[str]]:
    """The server's fds that are /proc directories, by kind ("root": /proc itself,
    "self": a /proc/<pid> directory), each with its listing (followed from the host)."""
    out: dict[str, list[str]] = {}
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            names = os.listdir(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if "self" in names and "thread-self" in names:
            out["root"] = names
        elif {"fd", "task", "attr", "ns"} <= set(names):
            out["self"] = names
    return out


@pytest.mark.parametrize("mode", ["namespace", "chroot"])
def test_server_holds_only_its_own_proc_directory(pfsd_factory, mode):
    # The core reaches /proc through one fd, with constant paths (fd/N, task/T/attr):
    # that fd is /proc/self of the server, not /proc, so no other process (in a chroot
    # sandbox: no host process, no /proc/1/root) is one openat() away.
    pfsd = pfsd_factory("--sandbox", mode)
    ordinary_work(pfsd)
    pid = serving_pid(pfsd)
    fds = _proc_dir_fds(pid)
    assert "root" not in fds, f"the server holds a /proc fd: {sorted(fds['root'])[:20]}"
    assert "self" in fds, f"no /proc/self fd among the server's fds: {os.listdir(f'/proc/{pid}/fd')}"


@pytest.mark.parametrize("readonly", [False, True])
def test_namespace_sandbox_narrows_proc_and_the_share_mount(pfsd_factory, readonly):
    # The core keeps a /proc fd (for /proc/self/fd and thread-self/attr) and works as
    # root with DAC_OVERRIDE: whole, that /proc would hold sysrq-trigger and /proc/sys.
    # Only the per-process part is mounted (subset=pid), and the server's view of the
    # share is nodev,nosuid (ro with --readonly), so a device node the core were ever
    # fooled into opening stays closed by the mount itself.
    pfsd = pfsd_factory("--sandbox", "namespace", *(["--readonly"] if readonly else []))
    # A request answered means confinement is done (the mount is made before it).
    if readonly:
        assert os.listdir(pfsd.m()) == []
    else:
        ordinary_work(pfsd)
    pid = serving_pid(pfsd)
    # Its /proc/self fd's parent is the sandbox's /proc: `..` from the fd the core holds.
    (self_fd,) = [fd for fd in os.listdir(f"/proc/{pid}/fd")
                  if os.path.isdir(f"/proc/{pid}/fd/{fd}/task")]
    listing = os.listdir(f"/proc/{pid}/fd/{self_fd}/..")
    assert "self" in listing and "thread-self" in listing, listing
    for hidden in ("sysrq-trigger", "sys", "kcore", "kallsyms", "mounts"):
        assert hidden not in listing, f"the sandbox's /proc shows {hidden}: {sorted(listing)}"
    opts = _mount_options_of_root(pid)
    assert {"nodev", "nosuid"} <= opts, opts
    assert ("ro" in opts) == readonly, opts
    # The host's own view of the share is untouched.
    assert os.access(pfsd.shared, os.W_OK)
    if readonly:
        with pytest.raises(OSError) as ei:
            write_bytes(pfsd.m("new"), b"x")
        assert ei.value.errno == errno.EROFS
        assert not pfsd.h("new").exists()
