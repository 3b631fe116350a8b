"""A real pfsd in vhost-user mode and a hostile guest talking to it: pfs_vhost_probe.

`VhostProbeSession` starts `pfsd --shared-dir BASE/shared --socket-path BASE/vhost.sock`
(the sandbox from pytests/pfsd_args.py: pfsd's default, or PFS_TEST_SANDBOX), waits
until it listens, then starts the probe (core/tests/tools/pfs_vhost_probe), which does
the vhost-user set-up as QEMU's vhost-user-fs-pci does and sends FUSE_INIT. `send(line)`
then sends one script line (the language is in core/tests/tools/probe_script.h) and
returns the parsed reply:

    r = s.send('lookup 1 ".."')
    r.ok, r.errno, r.fields["nodeid"], r.line

The fixture `vhost_probe` (a factory) always cleans up, even on failure: it closes the
probe's stdin (the probe exits, pfsd sees the front-end go and exits 0, which is
asserted), stops anything left by PID (SIGTERM, bounded wait, SIGKILL) and removes the
scratch tree. Nothing here skips: a missing probe binary fails with the build command.
"""

from __future__ import annotations

import errno
import os
import queue
import shutil
import signal
import struct
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from conftest import KILL_TIMEOUT, REPO_ROOT, SCRATCH_PREFIX, STOP_TIMEOUT
from pfsd_args import with_test_sandbox
from proc_stop import descendants, serving_pid, stop_by_pid

DEFAULT_PROBE = REPO_ROOT / "build" / "default" / "core" / "tests" / "tools" / "pfs_vhost_probe"
START_TIMEOUT = 10.0
REPLY_TIMEOUT = 30.0


def find_probe() -> Path:
    env = os.environ.get("PFS_VHOST_PROBE")
    p = Path(env) if env else DEFAULT_PROBE
    if not p.is_file() or not os.access(p, os.X_OK):
        pytest.fail(f"pfs_vhost_probe not found at {p} ({'$PFS_VHOST_PROBE' if env else 'default'}).\n"
                    f"Build it: cmake --build build/default --target pfs_vhost_probe (from {REPO_ROOT})",
                    pytrace=False)
    return p


@dataclass
class Reply:
    line: str
    kind: str  # ok, err, set, posted, collected, repeat, noreply, empty, timeout, error, ...
    errno: int = 0
    errno_name: str = ""
    fields: dict = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.kind == "ok"

    @property
    def errname(self) -> str:
        # The probe's name (EOPNOTSUPP, not Python's ENOTSUP for 95).
        return self.errno_name or errno.errorcode.get(self.errno, str(self.errno))

    def num(self, key: str) -> int:
        return int(self.fields[key], 0)

    def data(self) -> bytes:
        return bytes.fromhex(self.fields.get("data", ""))


def parse_reply(line: str) -> Reply:
    words = line.split(" ")
    kind = words[0]
    r = Reply(line=line, kind=kind)
    if kind == "err":
        r.errno = int(words[1])
        r.errno_name = words[2] if len(words) > 2 else ""
        words = words[3:]
    else:
        words = words[1:]
    for w in words:
        k, sep, v = w.partition("=")
        if sep:
            r.fields.setdefault(k, v)
    return r


class VhostProbeSession:
    """One pfsd (vhost-user) and one probe connected to it."""

    def __init__(self, pfsd_binary: Path, probe_binary: Path, base: Path, pfsd_args: list[str],
                 probe_args: list[str]):
        self.base = base
        self.shared = base / "shared"
        self.sock = base / "vhost.sock"
        self.pfsd_log = base / "pfsd.log"
        self.probe_err = base / "probe.stderr"
        self.pfsd_cmd = [str(pfsd_binary), "--shared-dir", str(self.shared), "--socket-path",
                         str(self.sock), *with_test_sandbox(pfsd_args)]
        self.probe_cmd = [str(probe_binary), "--socket", str(self.sock), *probe_args]
        self.pfsd: subprocess.Popen | None = None
        self.probe: subprocess.Popen | None = None
        self.ready_line = ""
        self._lines: queue.Queue = queue.Queue()
        self.pfsd_rc: int | None = None
        self.killed_on_purpose = False

    # -- lifecycle
    def start(self) -> "VhostProbeSession":
        with open(self.pfsd_log, "wb") as lf:
            self.pfsd = subprocess.Popen(self.pfsd_cmd, stdin=subprocess.DEVNULL, stdout=lf,
                                         stderr=subprocess.STDOUT)
        deadline = time.monotonic() + START_TIMEOUT
        while "waiting for a front-end" not in self.log_text():
            if self.pfsd.poll() is not None:
                pytest.fail(f"pfsd exited {self.pfsd.returncode} before listening\n"
                            f"command: {' '.join(self.pfsd_cmd)}\n{self.log_text()}", pytrace=False)
            if time.monotonic() > deadline:
                pytest.fail(f"pfsd did not listen within {START_TIMEOUT} s\n{self.log_text()}",
                            pytrace=False)
            time.sleep(0.01)
        with open(self.probe_err, "wb") as ef:
            self.probe = subprocess.Popen(self.probe_cmd, stdin=subprocess.PIPE,
                                          stdout=subprocess.PIPE, stderr=ef, bufsize=0)
        threading.Thread(target=self._reader, daemon=True).start()
        first = self._next_line(START_TIMEOUT)
        if first is None or not first.startswith("ready "):
            pytest.fail(f"probe did not get ready: {first!r}\nprobe stderr: {self.probe_stderr()}\n"
                        f"pfsd log:\n{self.log_text()}", pytrace=False)
        self.ready_line = first
        return self

    def _reader(self) -> None:
        assert self.probe is not None and self.probe.stdout is not None
        for raw in self.probe.stdout:
            self._lines.put(raw.decode(errors="replace").rstrip("\n"))
        self._lines.put(None)

    def _next_line(self, timeout: float) -> str | None:
        try:
            return self._lines.get(timeout=timeout)
        except queue.Empty:
            return None

    def log_text(self) -> str:
        try:
            return self.pfsd_log.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def probe_stderr(self) -> str:
        try:
            return self.probe_err.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    # -- talking
    def send_many(self, lines: list[str], timeout: float = REPLY_TIMEOUT) -> list[Reply]:
        """Sends every line (each must give one output line) and returns the replies."""
        assert self.probe is not None and self.probe.stdin is not None
        payload = "".join(ln + "\n" for ln in lines).encode("utf-8", errors="surrogateescape")
        writer_error: list[BaseException] = []

        def write():
            try:
                self.probe.stdin.write(payload)
                self.probe.stdin.flush()
            except BaseException as e:  # noqa: BLE001 - reported below
                writer_error.append(e)

        t = threading.Thread(target=write, daemon=True)
        t.start()
        out = []
        deadline = time.monotonic() + timeout
        for ln in lines:
            got = self._next_line(max(0.1, deadline - time.monotonic()))
            if got is None:
                raise AssertionError(f"probe gave no reply to {ln!r} (probe exit "
                                     f"{self.probe.poll()}, pfsd exit {self.pfsd.poll()})\n"
                                     f"probe stderr: {self.probe_stderr()}\npfsd log:\n{self.log_text()}")
            out.append(parse_reply(got))
        t.join(timeout=5)
        if writer_error:
            raise AssertionError(f"writing to the probe failed: {writer_error[0]!r}")
        for ln, r in zip(lines, out):
            if r.kind in ("error", "timeout"):
                raise AssertionError(f"probe: {ln!r} -> {r.line}\npfsd log:\n{self.log_text()}")
        return out

    def send(self, line: str, timeout: float = REPLY_TIMEOUT) -> Reply:
        return self.send_many([line], timeout)[0]

    # -- the daemon
    def serving_pid(self) -> int:
        assert self.pfsd is not None
        return serving_pid(self.pfsd.pid)

    def fd_count(self) -> int:
        return len(os.listdir(f"/proc/{self.serving_pid()}/fd"))

    def check_alive(self, case: str, answers: bool = True) -> None:
        """pfsd and every process of its chain run, and (with `answers`) it still
        answers a GETATTR of the root. The GETATTR goes out raw, with ids 0, so the
        header ids a test has set do not matter."""
        assert self.pfsd is not None
        assert self.pfsd.poll() is None, f"pfsd died ({case}): exit {self.pfsd.returncode}\n{self.log_text()}"
        for pid in descendants(self.pfsd.pid):
            assert os.path.exists(f"/proc/{pid}"), f"pfsd process {pid} gone ({case})"
        if not answers:
            return
        getattr_root = struct.pack("<IIQQIIIHH", 56, 3, 0xA11FE, 1, 0, 0, 1, 0, 0) + bytes(16)
        r = self.send(f"raw {getattr_root.hex()}")
        attr = r.data()
        # fuse_attr_out: 16 bytes, then fuse_attr with its mode at offset 60.
        ok = r.ok and len(attr) == 104 and struct.unpack_from("<I", attr, 76)[0] == 0o40755
        assert ok, f"pfsd does not answer ({case}): {r.line}"

    def teardown(self) -> list[str]:
        problems = []
        try:
            if self.probe is not None:
                try:
                    if self.probe.stdin:
                        self.probe.stdin.close()
                    self.probe.wait(timeout=STOP_TIMEOUT)
                except (OSError, subprocess.TimeoutExpired):
                    pass
                rc, killed = stop_by_pid(self.probe, signal.SIGTERM, STOP_TIMEOUT, KILL_TIMEOUT)
                del rc, killed
            if self.pfsd is not None:
                # The front-end went away: pfsd exits 0 by itself.
                try:
                    self.pfsd_rc = self.pfsd.wait(timeout=STOP_TIMEOUT)
                except subprocess.TimeoutExpired:
                    self.pfsd_rc, _ = stop_by_pid(self.pfsd, signal.SIGTERM, STOP_TIMEOUT, KILL_TIMEOUT)
                    problems.append(f"pfsd did not exit when the front-end disconnected (status "
                                    f"{self.pfsd_rc} after SIGTERM)")
                if self.pfsd_rc != 0 and not self.killed_on_purpose:
                    problems.append(f"pfsd exited {self.pfsd_rc} (want 0)\n{self.log_text()}")
        finally:
            shutil.rmtree(self.base, ignore_errors=True)
        return problems


@pytest.fixture(scope="session")
def probe_binary() -> Path:
    return find_probe()


@pytest.fixture
def vhost_probe(pfsd_binary, probe_binary, request):
    """vhost_probe(pfsd_args=(), probe_args=(), setup=fn(base, shared)) -> started session.

    The scratch base holds shared/ (the share) and whatever `setup` puts beside it
    (the canary); setup runs before pfsd starts."""
    sessions: list[VhostProbeSession] = []

    def make(pfsd_args=(), probe_args=(), setup=None) -> VhostProbeSession:
        base = Path(tempfile.mkdtemp(prefix=SCRATCH_PREFIX + "vhost-", dir="/tmp"))
        base.chmod(0o755)
        s = VhostProbeSession(pfsd_binary, probe_binary, base, list(pfsd_args), list(probe_args))
        sessions.append(s)
        s.shared.mkdir(mode=0o755)
        s.shared.chmod(0o755)
        if setup is not None:
            setup(base, s.shared)
        return s.start()

    yield make
    problems = []
    failed = getattr(request.node, "rep_call", None)
    for s in sessions:
        if failed is not None and failed.failed:
            print(f"--- pfsd log ({s.base}) ---\n{s.log_text()}\n--- probe stderr ---\n{s.probe_stderr()}")
        problems += s.teardown()
    if problems:
        pytest.fail("vhost probe teardown: " + "; ".join(problems), pytrace=False)
