"""VM suite: checks of the harness itself (two extra short boots, QEMU's virtiofsd)."""

from __future__ import annotations

import os
import signal

import pytest

import conftest_vm
import vm_harness as H

pytestmark = pytest.mark.vm


def test_private_guest_memory_is_detected(request, vm_image, vm_accel):
    """Without share=on the daemon never sees the guest's requests and the first file
    operation waits forever: the harness must fail fast, naming share=on."""
    before = {d for d in os.listdir("/tmp") if d.startswith("pfs-vm-")}
    with pytest.raises(pytest.fail.Exception) as ei:
        conftest_vm.start_session(request, "virtiofsd", vm_image, vm_accel, share=False,
                                  names=("never",), first_op_secs=10)
    msg = str(ei.value)
    assert "share=on" in msg and "share=off" in msg, msg
    assert "did not answer" in msg, msg
    after = {d for d in os.listdir("/tmp") if d.startswith("pfs-vm-")}
    assert after <= before, f"the failed session left its scratch tree: {after - before}"


def test_command_timeout_reports_guest_and_daemon_state(request, vm_image, vm_accel):
    """When a guest command times out, the error must say where things stand: the
    guest's blocked task and its kernel stack (from the ttyS1 diagnostics channel), the
    daemon's threads and state, and QEMU's state. Staged by stopping the daemon, so a
    guest lookup waits for an answer that cannot come until it is continued."""
    sess = conftest_vm.start_session(request, "virtiofsd", vm_image, vm_accel,
                                     names=("never",), first_op_secs=30)
    daemon = sess.daemons["never"]
    try:
        pids = H.descendants(daemon.proc.pid)
        for p in pids:
            os.kill(p, signal.SIGSTOP)
        try:
            with pytest.raises(H.VmTimeout) as ei:
                sess.vm.run("stat /mnt2/never-answered", timeout=8)
        finally:
            for p in pids:
                os.kill(p, signal.SIGCONT)
        msg = str(ei.value)
        guest = msg.split("--- guest tasks (diagnostics channel ttyS1) ---", 1)[1]
        guest = guest.split("\n--- ", 1)[0]
        assert "no answer within" not in guest, guest
        stat_lines = [ln for ln in guest.splitlines() if " stat " in ln]
        assert stat_lines, f"the blocked `stat` is not in the guest report:\n{guest}"
        assert "fuse" in guest, f"no fuse frame in the guest stacks:\n{guest}"
        assert "--- QEMU: running" in msg, msg
        assert f"running, pid {daemon.proc.pid}" in msg, msg
        assert " T " in msg.split(f"running, pid {daemon.proc.pid}", 1)[1], \
            f"the stopped daemon's threads should show state T:\n{msg}"
        # The channel is marked unusable; later commands say so instead of hanging.
        with pytest.raises(H.VmError, match="unusable"):
            sess.vm.run("true")
    finally:
        problems = sess.close()
    assert not problems, problems
