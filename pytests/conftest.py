"""Fixtures for the pfsd host-mount suite.

`pfsd` starts a fresh daemon (default options) on a fresh shared dir + mountpoint;
`pfsd_factory(*args, ...)` starts one with custom options. Both always tear down:
SIGTERM by PID, bounded wait, SIGKILL if needed, `umount -l` if still mounted, and
removal of the scratch tree, and then assert that pfsd exited 0 on SIGTERM (unless
the test killed it on purpose). When a test fails, every pfsd log it used is
attached to the failure report.

Nothing here ever skips: if pfsd is missing, or we are not root, or /dev/fuse is
absent, the tests FAIL with the reason, because these tests are the real component.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from mountinfo import unescape as _unescape_mountinfo
from pfsd_args import with_test_sandbox
from proc_stop import descendants, stop_by_pid, wait_gone

# The VM suite's fixtures (vm_env, vm_image, vm_accel) live in their own plugin module.
pytest_plugins = ["conftest_vm"]

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_BINARY = REPO_ROOT / "build" / "default" / "core" / "daemon" / "pfsd"
MOUNT_TIMEOUT = 10.0  # seconds for a mount to appear in /proc/self/mountinfo
STOP_TIMEOUT = 10.0  # seconds for pfsd to exit after SIGTERM
KILL_TIMEOUT = 5.0  # seconds for pfsd to exit after SIGKILL
SCRATCH_PREFIX = "pfs-pytest-"


def _sigterm_as_interrupt(signum, frame):
    raise KeyboardInterrupt(f"terminated by signal {signum}")


def pytest_configure(config):
    # A SIGTERM (ci/test's `timeout`, a CI runner cancelling) would end pytest without
    # fixture teardown, leaving mounts, daemons and QEMU behind. As an interrupt, pytest
    # stops the run and still tears every fixture down.
    signal.signal(signal.SIGTERM, _sigterm_as_interrupt)


# --------------------------------------------------------------------------- helpers


def mounts_at(path: str | os.PathLike) -> list[dict]:
    """Every mount whose mount point is `path`, as dicts (id, fstype, source, options)."""
    # abspath, not realpath: realpath would stat a possibly dead mount. Scratch paths
    # live under /tmp and contain no symlinks.
    want = os.path.abspath(os.fspath(path))
    res = []
    with open("/proc/self/mountinfo", encoding="utf-8", errors="surrogateescape") as f:
        for line in f:
            pre, _, post = line.rstrip("\n").partition(" - ")
            fields = pre.split(" ")
            if len(fields) < 6:
                continue
            mnt = _unescape_mountinfo(fields[4])
            if mnt != want:
                continue
            post_fields = post.split(" ")
            res.append(
                {
                    "id": int(fields[0]),
                    "mountpoint": mnt,
                    "fstype": post_fields[0] if post_fields else "",
                    "source": _unescape_mountinfo(post_fields[1]) if len(post_fields) > 1 else "",
                    "options": fields[5],
                    "super_options": post_fields[2] if len(post_fields) > 2 else "",
                }
            )
    return res


def _answers_statfs(path) -> bool:
    try:
        os.statvfs(path)
        return True
    except OSError:
        return False


def fuse_mounts_at(path) -> list[dict]:
    return [m for m in mounts_at(path) if m["fstype"] == "fuse" or m["fstype"].startswith("fuse.")]


def find_pfsd() -> Path:
    """The pfsd binary: $PFSD, else build/default/core/daemon/pfsd. Fails loudly."""
    env = os.environ.get("PFSD")
    binary = Path(env) if env else DEFAULT_BINARY
    if not binary.is_file() or not os.access(binary, os.X_OK):
        pytest.fail(
            f"pfsd binary not found or not executable at {binary} "
            f"({'from $PFSD' if env else 'default location'}).\n"
            f"Build it from the repo root ({REPO_ROOT}):\n"
            "    cmake --preset default && cmake --build --preset default\n"
            "or point $PFSD at a built pfsd.",
            pytrace=False,
        )
    return binary


def find_pfsd_planted() -> Path:
    """The test-only pfsd_planted (core/planted/: bugs planted on purpose): $PFSD_PLANTED,
    else next to pfsd. Fails loudly: the escape suite's control needs it."""
    env = os.environ.get("PFSD_PLANTED")
    binary = Path(env) if env else find_pfsd().parent / "pfsd_planted"
    if not binary.is_file() or not os.access(binary, os.X_OK):
        pytest.fail(f"pfsd_planted not found or not executable at {binary} "
                    f"({'from $PFSD_PLANTED' if env else 'next to pfsd'}); build the "
                    "pfsd_planted target, or point $PFSD_PLANTED at it", pytrace=False)
    return binary


def check_host_prerequisites() -> None:
    """The host suite needs root and /dev/fuse; without them it fails, never skips."""
    problems = []
    if os.geteuid() != 0:
        problems.append(f"not running as root (euid {os.geteuid()}): mount(2) of fuse needs root")
    if not os.path.exists("/dev/fuse"):
        problems.append("/dev/fuse does not exist (modprobe fuse; in a container pass --device /dev/fuse)")
    elif not os.access("/dev/fuse", os.R_OK | os.W_OK):
        problems.append("/dev/fuse is not readable and writable by this user")
    if problems:
        pytest.fail("host-mount suite cannot run: " + "; ".join(problems), pytrace=False)


def _umount_lazy(path: str) -> None:
    for _ in range(5):
        if not mounts_at(path):
            return
        subprocess.run(["umount", "-l", path], capture_output=True, timeout=10)


# --------------------------------------------------------------------------- the daemon


class Pfsd:
    """One pfsd host mount: .shared (host path), .mnt (mount path), .proc (Popen)."""

    def __init__(self, binary: Path, base: Path, args: list[str], name: str):
        self.binary = binary
        self.base = base
        self.shared = base / "shared"
        self.mnt = base / "mnt"
        self.args = list(args)
        self.name = name
        self.proc: subprocess.Popen | None = None
        self.returncodes: list[int] = []  # exit status of every stopped run, in order
        self.killed_on_purpose = False
        self._log_paths: list[Path] = []
        self._run = 0
        self._log_cache: str | None = None

    # -- paths
    def m(self, *parts) -> Path:
        """A path through the mount."""
        return self.mnt.joinpath(*parts)

    def h(self, *parts) -> Path:
        """The same path directly on the host's shared dir."""
        return self.shared.joinpath(*parts)

    @property
    def log_path(self) -> Path:
        return self._log_paths[-1]

    def log_text(self) -> str:
        """stderr of the current (last) run."""
        try:
            return self.log_path.read_text(errors="replace")
        except (FileNotFoundError, IndexError):
            return ""

    def all_logs(self) -> str:
        if self._log_cache is not None:  # the scratch tree is gone; this is what it held
            return self._log_cache
        parts = []
        for i, p in enumerate(self._log_paths):
            try:
                txt = p.read_text(errors="replace")
            except FileNotFoundError:
                txt = "(log file missing)"
            parts.append(f"--- pfsd {self.name} run {i} ({p}) ---\n{txt}")
        return "\n".join(parts)

    def command(self, args=None) -> list[str]:
        return [str(self.binary), "--shared-dir", str(self.shared), "--mount", str(self.mnt),
                *with_test_sandbox(self.args if args is None else args)]

    # -- lifecycle
    def start(self, args: list[str] | None = None) -> "Pfsd":
        if args is not None:
            self.args = list(args)
        assert self.proc is None or self.proc.poll() is not None, "pfsd already running"
        before = {m["id"] for m in fuse_mounts_at(self.mnt)}
        log = self.base / f"pfsd-{self._run}.log"
        self._run += 1
        self._log_paths.append(log)
        with open(log, "wb") as lf:
            self.proc = subprocess.Popen(self.command(), stdin=subprocess.DEVNULL,
                                         stdout=lf, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + MOUNT_TIMEOUT
        while True:
            # A mount that was not there before, or (mount ids are reused once a
            # dead mount is detached) any FUSE mount that now answers statfs.
            new = [m for m in fuse_mounts_at(self.mnt) if m["id"] not in before]
            if not new and before and fuse_mounts_at(self.mnt) and _answers_statfs(self.mnt):
                new = fuse_mounts_at(self.mnt)
            if new:
                self.mount_info = new[-1]
                break
            rc = self.proc.poll()
            if rc is not None:
                self.returncodes.append(rc)
                self.proc = None
                pytest.fail(f"pfsd exited early with status {rc} before mounting {self.mnt}\n"
                            f"command: {' '.join(self.command())}\nlog:\n{self.log_text()}",
                            pytrace=False)
            if time.monotonic() > deadline:
                # Teardown stops it (and reports its exit status, if not 0).
                pytest.fail(f"pfsd did not mount {self.mnt} within {MOUNT_TIMEOUT:.0f} s\n"
                            f"command: {' '.join(self.command())}\nlog:\n{self.log_text()}",
                            pytrace=False)
            time.sleep(0.01)
        return self

    def is_mounted(self) -> bool:
        return bool(fuse_mounts_at(self.mnt))

    def stop(self, sig=signal.SIGTERM, timeout=STOP_TIMEOUT) -> int | None:
        """Signal pfsd by PID and wait (bounded; SIGKILL as last resort). Returns its status."""
        if self.proc is None:
            return None
        rc, killed = stop_by_pid(self.proc, sig, timeout, KILL_TIMEOUT)
        if killed:
            rc = -999  # marker: had to be SIGKILLed
        self.returncodes.append(rc)
        self.proc = None
        return rc

    def kill9(self) -> int:
        """kill -9 pfsd on purpose; the mount is left behind (stale). Returns once the
        confined processes are gone too: they die with the supervisor (PR_SET_PDEATHSIG,
        then the end of their pid namespace), a few milliseconds later."""
        self.killed_on_purpose = True
        assert self.proc is not None
        confined = descendants(self.proc.pid)
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=KILL_TIMEOUT)
        rc = self.proc.returncode
        left = wait_gone(confined, KILL_TIMEOUT)
        assert not left, f"pfsd's confined processes {left} outlived its kill -9"
        self.returncodes.append(rc)
        self.proc = None
        return rc

    def restart(self, args: list[str] | None = None) -> "Pfsd":
        """SIGTERM the running pfsd (asserting exit 0 and that it unmounted), start again."""
        if self.proc is not None:
            rc = self.stop()
            assert rc == 0, f"pfsd exited {rc} on SIGTERM during restart\n{self.log_text()}"
            deadline = time.monotonic() + STOP_TIMEOUT
            while self.is_mounted() and time.monotonic() < deadline:
                time.sleep(0.02)
            assert not self.is_mounted(), f"pfsd left {self.mnt} mounted after SIGTERM"
        return self.start(args)

    def teardown(self) -> list[str]:
        """Always: stop, unmount, remove. Returns problems found (for an assertion)."""
        problems = []
        try:
            rc = self.stop()
            # rc is None when no pfsd was running any more (e.g. the test kill -9'd
            # it on purpose and did not restart it): nothing to check then.
            if rc is not None and rc != 0:
                problems.append(f"pfsd {self.name} exited with status {rc} on SIGTERM (want 0;"
                                " -999 means it ignored SIGTERM and was SIGKILLed)")
            if rc == 0 and self.is_mounted():
                deadline = time.monotonic() + 3
                while self.is_mounted() and time.monotonic() < deadline:
                    time.sleep(0.02)
                if self.is_mounted():
                    problems.append(f"pfsd {self.name} exited 0 but left {self.mnt} mounted")
        finally:
            _umount_lazy(str(self.mnt))
            self._log_cache = self.all_logs()
            shutil.rmtree(self.base, ignore_errors=True)
        return problems


# --------------------------------------------------------------------------- hooks


@pytest.hookimpl(tryfirst=True, hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, "rep_" + rep.when, rep)
    # Attach the pfsd logs to any failed phase.
    if rep.failed:
        for d in getattr(item, "_pfsd_instances", []):
            rep.sections.append((f"pfsd log ({d.name})", d.all_logs()))


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="session")
def pfsd_binary() -> Path:
    check_host_prerequisites()
    return find_pfsd()


@pytest.fixture
def scratch_dir():
    """A scratch folder under /tmp, removed afterwards."""
    d = Path(tempfile.mkdtemp(prefix=SCRATCH_PREFIX, dir="/tmp"))
    d.chmod(0o755)
    try:
        yield d
    finally:
        _umount_lazy(str(d))
        shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def pfsd_factory(pfsd_binary, request):
    """pfsd_factory(*args, start=True, binary=None) -> Pfsd started with extra
    command-line args (`binary`: another build, e.g. find_pfsd_planted())."""
    instances: list[Pfsd] = []
    request.node._pfsd_instances = instances

    def make(*args: str, start: bool = True, name: str | None = None,
             binary: Path | None = None) -> Pfsd:
        base = Path(tempfile.mkdtemp(prefix=SCRATCH_PREFIX, dir="/tmp"))
        # World-traversable, so the unprivileged-user tests can reach the mount.
        base.chmod(0o755)
        d = Pfsd(binary or pfsd_binary, base, list(args), name or f"#{len(instances)}")
        instances.append(d)
        d.shared.mkdir(mode=0o755)
        d.mnt.mkdir(mode=0o755)
        d.shared.chmod(0o755)
        if start:
            d.start()
        return d

    yield make

    problems = []
    for d in instances:
        problems += d.teardown()
    failed = getattr(request.node, "rep_call", None)
    if failed is not None and failed.failed:
        # Also to the terminal: the report sections carry them too.
        for d in instances:
            print(d.all_logs())
    if problems:
        logs = "\n".join(d.all_logs() for d in instances)
        pytest.fail("pfsd teardown: " + "; ".join(problems) + "\n" + logs, pytrace=False)


@pytest.fixture
def pfsd(pfsd_factory) -> Pfsd:
    """A pfsd with default options on a fresh shared dir and mountpoint."""
    return pfsd_factory()
