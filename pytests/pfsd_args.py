"""The sandbox every pfsd a suite starts runs in, unless a test picks its own.

pfsd confines itself by default (--sandbox namespace --seccomp kill). ci/test runs the
host and VM suites twice: as they are (the default sandbox), and once more with
PFS_TEST_SANDBOX=none, which adds `--sandbox none` to every pfsd command line that does
not name a sandbox itself, so the unconfined daemon (the core's checks on their own, the
host-mode unmount by pfsd itself) stays tested too.
"""

from __future__ import annotations

import os

MODES = ("namespace", "chroot", "none")


def sandbox_mode() -> str | None:
    """The mode PFS_TEST_SANDBOX asks for, or None for pfsd's default."""
    mode = os.environ.get("PFS_TEST_SANDBOX", "").strip()
    if not mode:
        return None
    if mode not in MODES:
        raise ValueError(f"PFS_TEST_SANDBOX={mode!r}: use one of {', '.join(MODES)}")
    return mode


def with_test_sandbox(args: list[str]) -> list[str]:
    """args, plus `--sandbox MODE` when PFS_TEST_SANDBOX is set and args name none."""
    mode = sandbox_mode()
    if mode is None or any(a == "--sandbox" or a.startswith("--sandbox=") for a in args):
        return list(args)
    return [*args, "--sandbox", mode]
