"""VM harness: a vhost-user-fs daemon (QEMU's virtiofsd or pfsd) + QEMU + the guest
command channel. No pytest fixtures here (see conftest_vm.py); failures raise VmError
whose message carries the guest console tail and the daemons' logs.

Guest protocol (ci/vm-guest/init) on a virtio-serial port named pfs.cmd, a UNIX socket here:
  host -> guest  "PFSCMD <id> <base64 script>\\n"
  guest -> host  "@@PFS-RESULT <id> <rc> <len>\\n<base64 output>@@PFS-END <id>\\n"
and a diagnostics channel on the second serial port (ttyS1), used when a command times out:
  host -> guest  "PFSDIAG\\n"
  guest -> host  "@@PFS-DIAG\\n<fuse connections, task states and stacks>@@PFS-DIAG-END\\n"
"""

from __future__ import annotations

import base64
import os
import re
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from pfsd_args import with_test_sandbox
from proc_stop import stop_by_pid

REPO_ROOT = Path(__file__).resolve().parent.parent
VM_IMAGE_SCRIPT = REPO_ROOT / "ci" / "vm-image"
VIRTIOFSD = Path("/usr/lib/qemu/virtiofsd")
QEMU = "qemu-system-x86_64"
DEFAULT_PFSD = REPO_ROOT / "build" / "default" / "core" / "daemon" / "pfsd"

IMAGE_TIMEOUT = 900.0  # ci/vm-image (first build downloads ~70 MB and unpacks it)
SOCKET_TIMEOUT = 15.0  # daemon creates its vhost-user socket
BOOT_TIMEOUT = 180.0  # QEMU start -> "@@PFS-READY" from the guest's /init (TCG)
CMD_TIMEOUT = 120.0  # default per guest command
STOP_TIMEOUT = 10.0


class VmError(Exception):
    pass


class VmTimeout(VmError):
    pass


def detect_accel() -> str:
    """'kvm' when /dev/kvm opens read-write, else 'tcg'."""
    try:
        fd = os.open("/dev/kvm", os.O_RDWR | os.O_CLOEXEC)
    except OSError:
        return "tcg"
    os.close(fd)
    return "kvm"


@dataclass
class Image:
    kernel: Path
    initrd: Path
    kind: str  # vmlinux | bzImage
    package: str
    build_log: str


def build_image() -> Image:
    """Run ci/vm-image (cached) and return what it built. Raises VmError with its log."""
    try:
        p = subprocess.run([str(VM_IMAGE_SCRIPT)], capture_output=True, text=True,
                           timeout=IMAGE_TIMEOUT)
    except subprocess.TimeoutExpired as e:
        raise VmError(f"ci/vm-image did not finish within {IMAGE_TIMEOUT:.0f} s\n{e.stdout}\n{e.stderr}")
    log = p.stdout + p.stderr
    if p.returncode != 0:
        raise VmError(f"ci/vm-image failed (exit {p.returncode}):\n{log}")
    env = {}
    out_dir = Path(os.environ.get("PFS_VM_IMAGE_DIR", REPO_ROOT / "build" / "vm-image"))
    for line in (out_dir / "image.env").read_text().splitlines():
        k, _, v = line.partition("=")
        env[k] = v
    return Image(Path(env["KERNEL"]), Path(env["INITRD"]), env["KERNEL_KIND"],
                 f"{env['KERNEL_PKG']} {env['KERNEL_VERSION']}", log)


def _tail(path: Path, n: int = 4000) -> str:
    try:
        data = path.read_bytes()
    except OSError as e:
        return f"({path}: {e})"
    return data[-n:].decode(errors="replace")


def _proc_text(path: str) -> str:
    try:
        with open(path, "rb") as f:
            return f.read().decode(errors="replace").strip()
    except OSError:
        return ""


def descendants(pid: int) -> list[int]:
    """pid and every process below it (virtiofsd serves from a forked sandbox child)."""
    children: dict[int, list[int]] = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            stat = _proc_text(f"/proc/{d}/stat")
            if stat:
                ppid = int(stat.rsplit(")", 1)[1].split()[1])
                children.setdefault(ppid, []).append(int(d))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, []))
    return out


def task_report(pid: int) -> str:
    """One line per thread of pid and its descendants: state, wait channel, syscall
    number and the kernel stack (function names), read from /proc as root."""
    lines = []
    for p in descendants(pid):
        lines.append(f"  process {p} ({_proc_text(f'/proc/{p}/comm')})")
        try:
            tids = sorted(os.listdir(f"/proc/{p}/task"), key=int)
        except OSError:
            continue
        for tid in tids:
            t = f"/proc/{p}/task/{tid}"
            stat = _proc_text(f"{t}/stat")
            state = stat.rsplit(")", 1)[1].split()[0] if stat else "?"
            stack = [ln.split("] ", 1)[-1].split("+")[0] for ln in _proc_text(f"{t}/stack").splitlines()]
            lines.append(f"    tid {tid} {state} {_proc_text(f'{t}/comm')} wchan={_proc_text(f'{t}/wchan') or '-'} "
                         f"syscall={_proc_text(f'{t}/syscall').split(' ')[0] or '-'} "
                         f"stack: {' < '.join(stack) or '-'}")
    return "\n".join(lines)


def describe_exit(rc: int) -> str:
    if rc < 0:
        try:
            return f"killed by {signal.Signals(-rc).name}"
        except ValueError:
            return f"killed by signal {-rc}"
    return f"exit status {rc}"


def kernel_log_lines() -> list[str]:
    """The host kernel log (dmesg), or one line saying why it cannot be read."""
    try:
        p = subprocess.run(["dmesg"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired) as e:
        return [f"(dmesg: {e})"]
    if p.returncode != 0:
        return [f"(dmesg failed: {p.stderr.strip()})"]
    return p.stdout.splitlines()


def dd_secs(out: str, host_secs: float) -> float:
    """The seconds busybox dd reports ("... copied, 3.2 seconds, 80.0MB/s"), else the
    host-side time of the command."""
    m = re.search(r"copied, ([0-9.]+) seconds", out)
    return float(m.group(1)) if m else host_secs


def dd_rate(out: str, nbytes: int, host_secs: float) -> str:
    secs = dd_secs(out, host_secs)
    return f"{nbytes / (1 << 20) / secs:.1f} MiB/s ({secs:.1f} s)"


def _stop_pid(proc: subprocess.Popen | None, timeout=STOP_TIMEOUT) -> int | None:
    """SIGTERM one process by PID, bounded wait, SIGKILL as last resort."""
    return None if proc is None else stop_by_pid(proc, signal.SIGTERM, timeout, STOP_TIMEOUT)[0]


# --------------------------------------------------------------------------- daemons


class Daemon:
    """One vhost-user-fs back-end serving `shared` on `socket`."""

    def __init__(self, kind: str, base: Path, name: str, cache: str, extra: list[str]):
        self.kind, self.name, self.cache, self.extra = kind, name, cache, list(extra)
        self.shared = base / f"shared-{name}"
        self.socket = base / f"{name}.sock"
        self.log_path = base / f"{kind}-{name}.log"
        self.proc: subprocess.Popen | None = None
        self.killed_on_purpose = False
        self.shared.mkdir(mode=0o755)

    def h(self, *parts) -> Path:
        return self.shared.joinpath(*parts)

    def command(self) -> list[str]:
        if self.kind == "virtiofsd":
            # The C virtiofsd spells "never" as "none".
            cache = "none" if self.cache == "never" else self.cache
            cmd = [str(VIRTIOFSD), f"--socket-path={self.socket}", "-o", f"source={self.shared}",
                   "-o", f"cache={cache}"]
            return cmd + self.extra
        return [str(pfsd_binary()), "--socket-path", str(self.socket), "--shared-dir",
                str(self.shared), "--cache", self.cache, *with_test_sandbox(self.extra)]

    def start(self) -> None:
        with open(self.log_path, "wb") as lf:
            self.proc = subprocess.Popen(self.command(), stdin=subprocess.DEVNULL, stdout=lf,
                                         stderr=subprocess.STDOUT)
        deadline = time.monotonic() + SOCKET_TIMEOUT
        while not self.socket.exists():
            if self.proc.poll() is not None:
                raise VmError(f"{self.kind} ({self.name}) exited with {self.proc.returncode} "
                              f"before creating {self.socket}\ncommand: {' '.join(self.command())}\n"
                              f"log:\n{self.log()}")
            if time.monotonic() > deadline:
                raise VmError(f"{self.kind} ({self.name}) created no socket {self.socket} within "
                              f"{SOCKET_TIMEOUT:.0f} s\ncommand: {' '.join(self.command())}\n"
                              f"log:\n{self.log()}")
            time.sleep(0.02)

    def kill9(self) -> None:
        self.killed_on_purpose = True
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=STOP_TIMEOUT)

    def stop(self) -> int | None:
        return _stop_pid(self.proc)

    def log(self) -> str:
        return _tail(self.log_path, 6000)

    def status(self, threads: bool) -> str:
        """Alive or how it ended; with threads=True also where each thread waits."""
        if self.proc is None:
            return "not started"
        rc = self.proc.poll()
        if rc is not None:
            return f"{describe_exit(rc)}{' (killed on purpose)' if self.killed_on_purpose else ''}"
        return f"running, pid {self.proc.pid}" + (f"\n{task_report(self.proc.pid)}" if threads else "")


def pfsd_binary() -> Path:
    env = os.environ.get("PFSD")
    return Path(env) if env else DEFAULT_PFSD


def check_pfsd_vhost_user() -> None:
    """pfsd must exist and offer --socket-path (its vhost-user mode). Raises VmError."""
    b = pfsd_binary()
    if not (b.is_file() and os.access(b, os.X_OK)):
        raise VmError(f"pfsd binary not found or not executable at {b} (set $PFSD or build it: "
                      "cmake --preset default && cmake --build --preset default)")
    try:
        p = subprocess.run([str(b), "--help"], capture_output=True, text=True, timeout=10)
    except subprocess.TimeoutExpired:
        raise VmError(f"{b} --help did not finish within 10 s")
    if "--socket-path" not in p.stdout + p.stderr:
        raise VmError(f"pfsd at {b} has no vhost-user mode yet: '--socket-path' is not in "
                      f"`pfsd --help`. The VM suite starts it as:\n  {b} --socket-path SOCK "
                      "--shared-dir DIR --cache auto|never --thread-pool-size 2 --xattr "
                      "[--rewrite-security-xattrs]\n(issue 6: core/transport/vhost_user)")


# --------------------------------------------------------------------------- the VM


@dataclass
class Result:
    rc: int
    out: str
    secs: float


class Vm:
    """QEMU with one vhost-user-fs-pci device per (daemon, tag), the command channel on a
    virtio-serial port, diagnostics on ttyS1.

    The command channel was ttyS1 until two CI runs each lost one command: the guest's
    /init sat idle in read(), both daemons idle, nothing in flight. An emulated 16550
    under TCG is the suspect; virtio-serial is what qemu-guest-agent uses."""

    def __init__(self, base: Path, image: Image, devices: list[tuple[Daemon, str]],
                 accel: str, share: bool = True, smp: int = 2):
        self.base, self.image, self.devices = base, image, devices
        self.accel, self.share, self.smp = accel, share, smp
        self.cmd_socket = base / "cmd.sock"
        self.diag_socket = base / "diag.sock"
        self.diag_sock: socket.socket | None = None
        self.diag_cache: tuple[str, str] | None = None  # (wedged what, report)
        self.kmsg_start = 0  # host kernel log lines before this VM started
        self.console = base / "console.log"
        self.proc: subprocess.Popen | None = None
        self.sock: socket.socket | None = None
        self.buf = b""
        self.sent = self.received = 0  # bytes on the command channel
        self.next_id = 1
        self.wedged: str | None = None  # set when a command timed out: the channel is lost
        self.boot_secs = 0.0

    def command(self) -> list[str]:
        cpu = "host" if self.accel == "kvm" else "max"
        share = "on" if self.share else "off"
        cmd = [QEMU, "-machine", f"q35,accel={self.accel}", "-cpu", cpu, "-smp", str(self.smp),
               "-m", "512M", "-object", f"memory-backend-memfd,id=mem,size=512M,share={share}",
               "-numa", "node,memdev=mem"]
        for i, (d, tag) in enumerate(self.devices):
            cmd += ["-chardev", f"socket,id=vfs{i},path={d.socket}",
                    "-device", f"vhost-user-fs-pci,chardev=vfs{i},tag={tag},queue-size=1024"]
        cmd += ["-chardev", f"socket,id=cmd,path={self.cmd_socket},server=on,wait=off",
                "-chardev", f"socket,id=diag,path={self.diag_socket},server=on,wait=off",
                "-device", "virtio-serial-pci,id=vser0",
                "-device", "virtserialport,bus=vser0.0,chardev=cmd,name=pfs.cmd",
                "-serial", "mon:stdio", "-serial", "chardev:diag",
                "-kernel", str(self.image.kernel), "-initrd", str(self.image.initrd),
                "-append", "console=ttyS0 panic=-1 mitigations=off loglevel=6",
                "-nographic", "-no-reboot"]
        return cmd

    def diagnostics(self) -> str:
        """QEMU's command, the console tail, each daemon's state and log, the host kernel
        log since boot; after a command timed out also where every guest task and every
        daemon thread waits (to tell a daemon that never answered from a stuck guest)."""
        parts = [f"--- QEMU command ---\n{' '.join(self.command())}",
                 f"--- QEMU: {self._qemu_status()} ---",
                 f"--- guest console tail ({self.console}) ---\n{_tail(self.console)}"]
        if self.wedged:
            parts.append(f"--- command channel: {self.sent} bytes sent, {self.received} received ---")
            parts.append(f"--- guest tasks (diagnostics channel ttyS1) ---\n{self.guest_diagnostics()}")
        for d, tag in self.devices:
            head, _, threads = d.status(threads=bool(self.wedged)).partition("\n")
            parts.append(f"--- {d.kind} ({d.name}, tag {tag}): {head} ---" + (f"\n{threads}" if threads else ""))
            parts.append(f"--- {d.kind} log ({d.name}, tag {tag}) ---\n{d.log()}")
        new_kmsg = kernel_log_lines()[self.kmsg_start:]
        parts.append(f"--- host kernel log since this VM started ({len(new_kmsg)} lines, last 30) ---")
        parts.extend(new_kmsg[-30:])
        return "\n".join(parts)

    def _qemu_status(self) -> str:
        if self.proc is None:
            return "not started"
        rc = self.proc.poll()
        return f"running, pid {self.proc.pid}" if rc is None else describe_exit(rc)

    def guest_diagnostics(self, timeout: float = 20.0) -> str:
        """Ask the guest's /init, on ttyS1, for its fuse connections and task states.
        Cached per wedge: pytest's report hook asks again for the same failure."""
        if self.diag_cache and self.diag_cache[0] == self.wedged:
            return self.diag_cache[1]
        if self.diag_sock is None:
            return "(no diagnostics channel connected)"
        buf, deadline = b"", time.monotonic() + timeout
        try:
            self.diag_sock.sendall(b"PFSDIAG\n")
            while b"@@PFS-DIAG-END\n" not in buf:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise socket.timeout()
                self.diag_sock.settimeout(left)
                data = self.diag_sock.recv(1 << 16)
                if not data:
                    raise OSError("channel closed")
                buf += data
            report = buf.split(b"@@PFS-DIAG\n", 1)[-1].split(b"@@PFS-DIAG-END\n", 1)[0]
            text = report.decode(errors="replace").rstrip()
        except socket.timeout:
            text = (f"(no answer within {timeout:.0f} s: the guest's /init cannot run, so the "
                    f"guest kernel itself is stuck or starved)\n{buf.decode(errors='replace')}")
        except OSError as e:
            text = f"(diagnostics channel: {e})"
        self.diag_cache = (self.wedged, text)
        return text

    def fail(self, msg: str, cls=VmError):
        raise cls(f"{msg}\n{self.diagnostics()}")

    def boot(self) -> float:
        t0 = time.monotonic()
        self.kmsg_start = len(kernel_log_lines())
        with open(self.console, "wb") as cf:
            self.proc = subprocess.Popen(self.command(), stdin=subprocess.DEVNULL, stdout=cf,
                                         stderr=subprocess.STDOUT)
        deadline = t0 + BOOT_TIMEOUT
        while True:
            if self.proc.poll() is not None:
                self.fail(f"QEMU exited with {self.proc.returncode} during boot")
            try:
                s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                d = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                s.connect(str(self.cmd_socket))
                d.connect(str(self.diag_socket))  # created with cmd.sock, before the guest runs
                self.sock, self.diag_sock = s, d
                break
            except OSError:
                s.close()
                d.close()
            if time.monotonic() > deadline:
                self.fail("QEMU's command socket never appeared", VmTimeout)
            time.sleep(0.05)
        self._read_until(re.compile(rb"@@PFS-READY\n"), deadline, "the guest's /init to start")
        self.boot_secs = time.monotonic() - t0
        return self.boot_secs

    def _read_until(self, pattern: re.Pattern, deadline: float, what: str) -> re.Match:
        while True:
            m = pattern.search(self.buf)
            if m:
                self.buf = self.buf[m.end():]
                return m
            left = deadline - time.monotonic()
            if left <= 0:
                self.wedged = what
                self.fail(f"timed out waiting for {what}", VmTimeout)
            if self.proc.poll() is not None:
                self.wedged = what
                self.fail(f"QEMU exited with {self.proc.returncode} while waiting for {what}")
            self.sock.settimeout(min(left, 1.0))
            try:
                data = self.sock.recv(1 << 16)
            except socket.timeout:
                continue
            if not data:
                self.wedged = what
                self.fail(f"command channel closed while waiting for {what}")
            self.buf += data
            self.received += len(data)

    def run(self, script: str, timeout: float = CMD_TIMEOUT, check: bool = True) -> Result:
        """Run a sh script in the guest; returns its exit status and stdout+stderr."""
        if self.wedged:
            raise VmError(f"the guest command channel is unusable since an earlier command "
                          f"timed out ({self.wedged!r}); not sending {script[:80]!r}")
        cid = self.next_id
        self.next_id += 1
        t0 = time.monotonic()
        line = b"PFSCMD %d %s\n" % (cid, base64.b64encode(script.encode()))
        self.sock.sendall(line)
        self.sent += len(line)
        what = f"guest command #{cid} ({timeout:.0f} s limit): {script[:200]!r}"
        m = self._read_until(re.compile(rb"@@PFS-RESULT %d (\d+) (\d+)\n(.*?)@@PFS-END %d\n" % (cid, cid),
                                        re.S), t0 + timeout, what)
        rc, length = int(m.group(1)), int(m.group(2))
        out = base64.b64decode(re.sub(rb"\s+", b"", m.group(3)))
        if len(out) != length:
            self.fail(f"guest command #{cid}: framed length {length} but {len(out)} bytes decoded")
        res = Result(rc, out.decode(errors="replace"), time.monotonic() - t0)
        if check and rc != 0:
            raise VmError(f"guest command failed with exit status {rc}:\n$ {script}\n{res.out}")
        return res

    def stop(self) -> None:
        for s in (self.sock, self.diag_sock):
            if s is not None:
                s.close()
        _stop_pid(self.proc, timeout=5)


# --------------------------------------------------------------------------- a session


class VmSession:
    """A scratch tree, the daemons, QEMU, the guest mounts. `close()` always cleans up."""

    def __init__(self, kind: str, image: Image, accel: str, base: Path,
                 mounts: list[tuple[str, str, str, list[str]]], share: bool = True,
                 first_op_secs: int = 30, kinds: dict[str, str] | None = None):
        # mounts: (name, cache, guest mountpoint, extra daemon args); every mount is
        # served by a `kind` daemon unless `kinds` names another for it.
        self.kind, self.image, self.accel, self.base = kind, image, accel, base
        self.daemons: dict[str, Daemon] = {}
        self.mountpoints: dict[str, str] = {}
        for name, cache, mnt, extra in mounts:
            self.daemons[name] = Daemon((kinds or {}).get(name, kind), base, name, cache, extra)
            self.mountpoints[name] = mnt
        self.vm = Vm(base, image, [(d, f"pfs-{n}") for n, d in self.daemons.items()], accel, share)
        self.first_op_secs = first_op_secs

    def start(self) -> None:
        for d in self.daemons.values():
            d.start()
        self.vm.boot()
        for name, mnt in self.mountpoints.items():
            self.mount(name)

    def mount(self, name: str) -> Result:
        mnt = self.mountpoints[name]
        self.vm.run(f"mkdir -p {mnt} && mount -t virtiofs pfs-{name} {mnt}", timeout=60)
        # The first file operation: with a private (share=off) memory backend the daemon
        # never sees the guest's requests and this waits forever.
        try:
            # (Before FUSE_INIT is answered the wait is killable, so `timeout` works.)
            return self.vm.run(f"timeout {self.first_op_secs} ls -a {mnt} >/dev/null",
                               timeout=self.first_op_secs + 15)
        except VmError as e:
            raise VmError(
                f"the first file operation on {mnt} (virtio-fs tag pfs-{name}) did not answer: "
                "the daemon cannot see the guest's virtqueues. Is the guest RAM shared with it "
                "(-object memory-backend-memfd,...,share=on -numa node,memdev=mem)? "
                f"This session used share={'on' if self.vm.share else 'off'}.\n{e}") from None

    def close(self) -> list[str]:
        """Kill QEMU, then the daemons, by PID; remove the tree. Returns problems seen."""
        problems, gone = [], set()
        for name, d in self.daemons.items():
            # A daemon gone before teardown (nobody killed it) died under the guest.
            if d.proc is not None and d.proc.poll() is not None and not d.killed_on_purpose:
                gone.add(name)
                problems.append(f"{d.kind} {d.name} ended during the session: "
                                f"{describe_exit(d.proc.returncode)}")
        try:
            self.vm.stop()
        finally:
            for name, d in self.daemons.items():
                rc = d.stop()
                if name in gone:
                    continue
                # virtiofsd exits on its own when QEMU disconnects; a signal death of
                # a daemon we did not kill on purpose is worth reporting.
                if rc is not None and rc < 0 and rc != -signal.SIGTERM and not d.killed_on_purpose:
                    problems.append(f"{d.kind} {d.name} died of signal {-rc}")
            shutil.rmtree(self.base, ignore_errors=True)
        return problems
