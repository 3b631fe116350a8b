"""VM suite: checks of the harness itself (one extra short boot, QEMU's virtiofsd)."""

from __future__ import annotations

import os

import pytest

import conftest_vm

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
