"""Fixtures for the VM suite (marker `vm`), loaded by conftest.py via pytest_plugins.

`vm_env` is session-scoped and parametrized by daemon ("virtiofsd", QEMU's C daemon as
the reference, and "pfsd"): one boot per daemon serves every test. Each boot has two
vhost-user-fs devices, each served by its own daemon on its own fresh shared dir:
  pfs-main  -> guest /mnt   cache=auto, xattrs on (pfsd: also --rewrite-security-xattrs)
  pfs-never -> guest /mnt2  cache=never (the cache-mode test, then the kill test)
Nothing skips for a missing tool: no QEMU, no kernel package, no pfsd vhost-user mode
all FAIL with the reason. Teardown kills QEMU and the daemons by PID and removes the tree.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

import pytest

import vm_harness as H

DAEMONS = ["virtiofsd", "pfsd"]
FIGURES: list[str] = []  # printed in the terminal summary


def _say(config, line: str) -> None:
    FIGURES.append(line)
    tr = config.pluginmanager.getplugin("terminalreporter")
    if tr is not None:
        tr.write_line(f"[vm] {line}")


def _daemon_args(kind: str, name: str) -> list[str]:
    if kind == "virtiofsd":
        return ["-o", "xattr"] if name == "main" else []
    args = ["--thread-pool-size", "2", "--xattr"]
    return args + (["--rewrite-security-xattrs"] if name == "main" else [])


@pytest.fixture(scope="session")
def vm_image(request) -> H.Image:
    if shutil.which(H.QEMU) is None:
        pytest.fail(f"{H.QEMU} not found: install qemu-system-x86 (ci/setup)", pytrace=False)
    if not H.VIRTIOFSD.is_file():
        pytest.fail(f"{H.VIRTIOFSD} not found: install qemu-system-common (ci/setup)", pytrace=False)
    t0 = time.monotonic()
    try:
        img, problem = H.build_image(), None
    except H.VmError as e:
        img, problem = None, str(e)
    if problem:
        pytest.fail(problem, pytrace=False)
    _say(request.config, f"image: {img.package}, booting the {img.kind} "
         f"(ci/vm-image {time.monotonic() - t0:.1f} s)")
    return img


@pytest.fixture(scope="session")
def vm_accel(request) -> str:
    accel = H.detect_accel()
    _say(request.config, f"accelerator: {accel}" + ("" if accel == "kvm" else " (no usable /dev/kvm)"))
    return accel


def _need_pfsd() -> None:
    try:
        H.check_pfsd_vhost_user()
        problem = None
    except H.VmError as e:
        problem = str(e)
    if problem:
        pytest.fail(problem, pytrace=False)


def _scratch_base(label: str) -> Path:
    base = Path(tempfile.mkdtemp(prefix=f"pfs-vm-{label}-", dir="/tmp"))
    base.chmod(0o755)
    return base


def _start(sess: H.VmSession, label: str) -> H.VmSession:
    """Start daemons + QEMU + mounts; on any failure clean up and pytest.fail."""
    problem = None
    try:
        sess.start()
    except H.VmError as e:
        problem = f"VM session ({label}) did not start: {e}"
    except BaseException:
        sess.close()
        raise
    if problem:
        sess.close()
        pytest.fail(problem, pytrace=False)
    return sess


def start_session(request, kind: str, image: H.Image, accel: str, share: bool = True,
                  names=("main", "never"), first_op_secs: int = 30) -> H.VmSession:
    """One daemon kind on every mount (see the module docstring)."""
    if kind == "pfsd":
        _need_pfsd()
    spec = {"main": ("auto", "/mnt"), "never": ("never", "/mnt2")}
    mounts = [(n, spec[n][0], spec[n][1], _daemon_args(kind, n)) for n in names]
    sess = H.VmSession(kind, image, accel, _scratch_base(kind), mounts, share=share,
                       first_op_secs=first_op_secs)
    return _start(sess, kind)


def start_pair_session(image: H.Image, accel: str) -> H.VmSession:
    """pfsd and QEMU's virtiofsd side by side in one guest, same options (cache auto,
    xattrs): tag pfs-pfsd on /mnt, tag pfs-ref on /mnt2. For differential tests."""
    _need_pfsd()
    mounts = [("pfsd", "auto", "/mnt", ["--thread-pool-size", "2", "--xattr"]),
              ("ref", "auto", "/mnt2", ["-o", "xattr"])]
    sess = H.VmSession("pfsd", image, accel, _scratch_base("pair"), mounts,
                       kinds={"ref": "virtiofsd"})
    return _start(sess, "pfsd beside virtiofsd")


@pytest.fixture(scope="session", params=DAEMONS)
def vm_env(request, vm_image, vm_accel):
    kind = request.param
    t0 = time.monotonic()
    sess = start_session(request, kind, vm_image, vm_accel)
    _say(request.config, f"{kind}: boot {sess.vm.boot_secs:.1f} s ({vm_accel}), "
         f"ready with both mounts in {time.monotonic() - t0:.1f} s")
    sess.t_start = t0
    yield sess
    problems = sess.close()
    _say(request.config, f"{kind}: session total {time.monotonic() - t0:.1f} s")
    if problems:
        pytest.fail(f"VM session ({kind}) teardown: " + "; ".join(problems), pytrace=False)


def pytest_collection_modifyitems(config, items):
    """Run all of one daemon's VM tests together, so each daemon boots once. A test that
    narrows vm_env's params (indirect parametrize, e.g. pfsd-only) would otherwise sit
    between the other daemon's tests and force a teardown and a second boot. The vm_env
    tests run as one block where the first of them was; tests that boot their own VM
    (differential, harness) follow the block."""
    def uses_vm_env(it) -> bool:
        return "vm_env" in getattr(getattr(it, "callspec", None), "params", {})

    first = next((i for i, it in enumerate(items) if uses_vm_env(it)), None)
    if first is None:
        return
    block = sorted((it for it in items if uses_vm_env(it)),
                   key=lambda it: DAEMONS.index(it.callspec.params["vm_env"]))
    rest = [it for it in items[first:] if not uses_vm_env(it)]
    items[first:] = block + rest


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if rep.failed and "vm_env" in getattr(item, "funcargs", {}):
        sess = item.funcargs["vm_env"]
        rep.sections.append((f"VM diagnostics ({sess.kind})", sess.vm.diagnostics()))


def pytest_terminal_summary(terminalreporter):
    if FIGURES:
        terminalreporter.section("VM suite figures")
        for line in FIGURES:
            terminalreporter.write_line(line)
