"""pfsd against local users of the host and a flooding guest (issue 9).

- the vhost-user socket is private (0600, or 0660 with --socket-group) whatever the umask;
- host mode: other users reach the mount only with --allow-other, and then always with
  the kernel's permission checks (default_permissions), with or without xattrs;
- pfsd drops supplementary groups, raises RLIMIT_NOFILE, makes --record files 0600,
  rate-limits its warnings, and answers errors (not a crash) when out of fds.

Every pfsd started here is stopped by PID (SIGTERM, bounded wait, SIGKILL) and every
mount is detached by the fixtures, even when a test fails.
"""

from __future__ import annotations

import errno
import grp
import json
import os
import signal
import socket
import stat
import struct
import subprocess
import time
from pathlib import Path

import pytest

from conftest import STOP_TIMEOUT, KILL_TIMEOUT
from helpers import NOBODY, as_nobody, run, write_bytes
from pfsd_args import with_test_sandbox
from proc_stop import serving_pid
from proc_stop import stop_by_pid

pytestmark = pytest.mark.host

START_TIMEOUT = 10.0


# --------------------------------------------------------------------------- vhost-user pfsd


class VhostPfsd:
    """pfsd --socket-path in a scratch folder; stopped by PID in stop()."""

    def __init__(self, binary: Path, base: Path, args: list[str], umask: int | None = None,
                 wrap: list[str] | None = None):
        self.base = base
        self.shared = base / "shared"
        self.shared.mkdir(mode=0o755, exist_ok=True)
        self.sock = base / "vhost.sock"
        self.log = base / "pfsd-vhost.log"
        cmd = [*(wrap or []), str(binary), "--shared-dir", str(self.shared), "--socket-path",
               str(self.sock), *with_test_sandbox(args)]

        def pre():
            if umask is not None:
                os.umask(umask)

        with open(self.log, "wb") as lf:
            self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=lf,
                                         stderr=subprocess.STDOUT, preexec_fn=pre)

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_listening(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while "waiting for a front-end" not in self.log_text():
            rc = self.proc.poll()
            if rc is not None:
                pytest.fail(f"pfsd exited {rc} before listening:\n{self.log_text()}",
                            pytrace=False)
            if time.monotonic() > deadline:
                pytest.fail(f"pfsd did not listen within {START_TIMEOUT} s:\n{self.log_text()}",
                            pytrace=False)
            time.sleep(0.01)

    def wait_exit(self, timeout: float = STOP_TIMEOUT) -> int:
        return self.proc.wait(timeout=timeout)

    def stop(self) -> int | None:
        rc, _ = stop_by_pid(self.proc, signal.SIGTERM, STOP_TIMEOUT, KILL_TIMEOUT)
        return rc


@pytest.fixture
def vhost_pfsd(pfsd_binary, scratch_dir):
    started: list[VhostPfsd] = []

    def make(*args: str, umask: int | None = None, wrap: list[str] | None = None) -> VhostPfsd:
        base = scratch_dir / f"v{len(started)}"
        base.mkdir(mode=0o755)
        d = VhostPfsd(pfsd_binary, base, list(args), umask=umask, wrap=wrap)
        started.append(d)
        return d

    try:
        yield make
    finally:
        for d in started:
            d.stop()


CONNECT_SCRIPT = (
    "import socket,sys,errno\n"
    "s=socket.socket(socket.AF_UNIX,socket.SOCK_STREAM)\n"
    "try:\n"
    "  s.connect(sys.argv[1]); print('OK')\n"
    "except OSError as e:\n"
    "  print(errno.errorcode.get(e.errno, e.errno))\n"
)


def connect_as(sock: Path, setpriv_args: list[str]) -> str:
    p = run(["setpriv", *setpriv_args, "/usr/bin/python3", "-c", CONNECT_SCRIPT, sock])
    assert p.returncode == 0, p.stderr
    return p.stdout.strip()


NOBODY_NO_GROUPS = [f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"]


# =========================================================================== hole 2: socket


@pytest.mark.parametrize("umask", [0o000, 0o077], ids=["umask000", "umask077"])
def test_socket_is_owner_only_whatever_the_umask(vhost_pfsd, umask):
    d = vhost_pfsd(umask=umask)
    d.wait_listening()
    st = os.lstat(d.sock)
    assert stat.S_ISSOCK(st.st_mode)
    assert stat.S_IMODE(st.st_mode) == 0o600, oct(st.st_mode)
    assert st.st_uid == 0
    assert connect_as(d.sock, NOBODY_NO_GROUPS) == "EACCES"
    assert d.proc.poll() is None, "a refused connection must not end pfsd"
    assert d.stop() == 0, d.log_text()


def test_socket_group_lets_its_members_connect(vhost_pfsd):
    gid = grp.getgrnam("users").gr_gid
    d = vhost_pfsd("--socket-group", "users", umask=0o000)
    d.wait_listening()
    st = os.lstat(d.sock)
    assert stat.S_IMODE(st.st_mode) == 0o660, oct(st.st_mode)
    assert (st.st_uid, st.st_gid) == (0, gid)
    # Not a member: refused; a member: connects (and becomes the front-end).
    assert connect_as(d.sock, NOBODY_NO_GROUPS) == "EACCES"
    assert connect_as(d.sock, [f"--reuid={NOBODY}", f"--regid={NOBODY}",
                               f"--groups={gid}"]) == "OK"
    # The front-end went away again: pfsd exits 0.
    assert d.wait_exit() == 0, d.log_text()


def test_bad_socket_group_is_one_clear_line(pfsd_binary, scratch_dir):
    (scratch_dir / "s").mkdir()
    p = run([pfsd_binary, "--shared-dir", scratch_dir / "s", "--socket-path",
             scratch_dir / "v.sock", "--socket-group", "no-such-group-pfs"], timeout=10)
    assert p.returncode == 1
    lines = [ln for ln in p.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "--socket-group" in lines[0] and "no-such-group-pfs" in lines[0], \
        p.stderr
    assert not (scratch_dir / "v.sock").exists()


# =========================================================================== hole 3: mount

PROBE_SCRIPT = r"""
import errno, json, os, sys
mnt = sys.argv[1]
def attempt(fn):
    try:
        fn()
        return "OK"
    except OSError as e:
        return errno.errorcode.get(e.errno, str(e.errno))
def read(p):
    with open(p, "rb") as f:
        f.read()
def create(p):
    os.close(os.open(p, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))
print(json.dumps({
    "stat_mount": attempt(lambda: os.stat(mnt)),
    "read_secret": attempt(lambda: read(os.path.join(mnt, "secret"))),
    "read_public": attempt(lambda: read(os.path.join(mnt, "public"))),
    "create_in_rootdir": attempt(lambda: create(os.path.join(mnt, "rootdir", "new"))),
    "chmod_suid": attempt(lambda: os.chmod(os.path.join(mnt, "public"), 0o4777)),
    "chown": attempt(lambda: os.chown(os.path.join(mnt, "public"), 65534, 65534)),
}))
"""

MOUNT_MODES = {
    "default": [],
    "allow-other": ["--allow-other"],
    "default-permissions": ["--default-permissions"],
    "allow-other+default-permissions": ["--allow-other", "--default-permissions"],
}


@pytest.mark.parametrize("xattr", ["--xattr", "--no-xattr"])
@pytest.mark.parametrize("mode", list(MOUNT_MODES))
def test_other_users_get_no_root_rights_through_the_mount(pfsd_factory, xattr, mode):
    d = pfsd_factory(xattr, *MOUNT_MODES[mode])
    write_bytes(d.h("secret"), b"secret\n")
    os.chmod(d.h("secret"), 0o600)
    write_bytes(d.h("public"), b"public\n")
    os.chmod(d.h("public"), 0o644)
    os.mkdir(d.h("rootdir"), 0o755)
    os.chmod(d.h("rootdir"), 0o755)

    p = run(as_nobody(["/usr/bin/python3", "-c", PROBE_SCRIPT, d.mnt]))
    assert p.returncode == 0, p.stderr
    got = json.loads(p.stdout)
    if "--allow-other" in MOUNT_MODES[mode]:
        want = {"stat_mount": "OK", "read_secret": "EACCES", "read_public": "OK",
                "create_in_rootdir": "EACCES", "chmod_suid": "EPERM", "chown": "EPERM"}
        assert "default_permissions" in d.mount_info["super_options"]
        assert "allow_other" in d.mount_info["super_options"]
    else:
        want = {k: "EACCES" for k in got}
        assert "allow_other" not in d.mount_info["super_options"]
    assert got == want
    # Nothing changed on the host.
    st = os.stat(d.h("public"))
    assert (stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid) == (0o644, 0, 0)
    assert os.listdir(d.h("rootdir")) == []


# =========================================================================== hole 4: groups


def test_pfsd_drops_supplementary_groups(pfsd_factory):
    d = pfsd_factory(start=False)
    inner = d.command
    d.command = lambda args=None: ["setpriv", "--groups", "4,24", *inner(args)]
    d.start()
    with open(f"/proc/{serving_pid(d.proc.pid)}/status") as f:
        groups = [ln for ln in f if ln.startswith("Groups:")]
    assert groups == ["Groups:\t\n"] or groups[0].split() == ["Groups:"], groups
    # Files it creates for root get root's group, none of the dropped ones.
    write_bytes(d.m("f"), b"x")
    assert os.stat(d.h("f")).st_gid == 0


# =========================================================================== hole 5


def test_record_file_is_private_under_umask_000(pfsd_factory, scratch_dir):
    rec = scratch_dir / "rec"
    d = pfsd_factory("--record", str(rec), start=False)
    inner = d.command
    d.command = lambda args=None: ["sh", "-c", 'umask 000 && exec "$@"', "sh", *inner(args)]
    d.start()
    write_bytes(d.m("f"), b"a payload nobody else may read")
    files = list(rec.glob("session-*.fuse"))
    assert len(files) == 1, os.listdir(rec)
    st = os.lstat(files[0])
    assert stat.S_IMODE(st.st_mode) == 0o600, oct(st.st_mode)
    assert st.st_uid == 0


def test_nofile_soft_limit_raised_to_hard(pfsd_factory):
    d = pfsd_factory(start=False)
    inner = d.command
    d.command = lambda args=None: ["prlimit", "--nofile=256:4096", *inner(args)]
    d.start()
    with open(f"/proc/{serving_pid(d.proc.pid)}/limits") as f:
        line = [ln for ln in f if ln.startswith("Max open files")][0]
    assert line.split()[3:5] == ["4096", "4096"], line
    deadline = time.monotonic() + 5  # logged with the "serving" line, just after the mount
    while "serving" not in d.log_text() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert "raised the open file limit from 256 to 4096" in d.log_text()


def _vhost_header(request: int, flags: int, size: int) -> bytes:
    return struct.pack("<III", request, flags, size)


def _recv_exact(s: socket.socket, n: int) -> bytes:
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            raise EOFError("pfsd closed the connection")
        buf += chunk
    return buf


def test_warnings_from_a_flooding_front_end_are_rate_limited(vhost_pfsd):
    VERSION, NEED_REPLY = 0x1, 0x8
    SET_PROTOCOL_FEATURES, SET_LOG_BASE = 16, 6
    REPLY_ACK = 1 << 3
    floods = 500
    d = vhost_pfsd()
    d.wait_listening()
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(10)
        s.connect(str(d.sock))
        s.sendall(_vhost_header(SET_PROTOCOL_FEATURES, VERSION, 8) + struct.pack("<Q", REPLY_ACK))
        for _ in range(floods):
            # An unsupported request with REPLY_ACK: refused, logged, the connection stays.
            s.sendall(_vhost_header(SET_LOG_BASE, VERSION | NEED_REPLY, 0))
            hdr = _recv_exact(s, 12)
            (_, _, size) = struct.unpack("<III", hdr)
            (status,) = struct.unpack("<Q", _recv_exact(s, size))
            assert status != 0
    assert d.wait_exit() == 0, d.log_text()
    lines = d.log_text().splitlines()
    warned = [ln for ln in lines
              if "unsupported vhost-user request" in ln and "suppressed" not in ln]
    assert 1 <= len(warned) <= 20, f"{len(warned)} warning lines for {floods} bad requests"
    summaries = [ln for ln in lines if "suppressed" in ln]
    assert summaries, "no 'suppressed K similar messages' line"
    counted = sum(int(ln.split("suppressed ")[1].split()[0]) for ln in summaries)
    assert counted + len(warned) == floods, summaries


def test_out_of_fds_gives_errors_not_a_dead_share(pfsd_factory):
    d = pfsd_factory("--thread-pool-size", "1", start=False)
    inner = d.command
    d.command = lambda args=None: ["prlimit", "--nofile=64:64", *inner(args)]
    count = 300
    for i in range(count):
        write_bytes(d.h(f"f{i}"), b"%d" % i)
    d.start()
    errors: dict[str, int] = {}
    held = []
    try:
        for i in range(count):
            try:
                held.append(os.open(d.m(f"f{i}"), os.O_RDONLY))
            except OSError as e:
                name = errno.errorcode.get(e.errno, str(e.errno))
                errors[name] = errors.get(name, 0) + 1
    finally:
        for fd in held:
            try:
                os.close(fd)  # FLUSH may be refused too (EMFILE): the fd is closed anyway
            except OSError:
                pass
    assert d.proc.poll() is None, f"pfsd died:\n{d.log_text()}"
    assert errors, "pfsd never ran out of fds: the test proves nothing"
    assert set(errors) <= {"EMFILE", "ENFILE", "ENOMEM"}, errors
    # Let the kernel FORGET what it looked up; pfsd serves again.
    os.sync()
    with open("/proc/sys/vm/drop_caches", "w") as f:
        f.write("2\n")
    assert os.stat(d.m("f0")).st_size == 1
    with open(d.m(f"f{count - 1}"), "rb") as f:
        assert f.read() == b"%d" % (count - 1)
    assert d.proc.poll() is None and d.is_mounted()
