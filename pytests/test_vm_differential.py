"""VM suite, differential: pfsd and QEMU's virtiofsd side by side in one guest (one extra
boot), the same options (cache auto, xattrs). The battery in vm_battery.sh runs on each
mount; every step's exit status and output must match, and so must the trees the two
daemons left on the host (types, modes, owners, sizes, contents, xattrs). A difference
is either a pfsd bug or a deliberate one, and deliberate ones are listed here with why.
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
from pathlib import Path

import pytest

import conftest_vm
import vm_harness as H
from pfsd_args import sandbox_mode

pytestmark = pytest.mark.vm

BATTERY = Path(__file__).with_name("vm_battery.sh")

# label -> why pfsd answers differently from QEMU's virtiofsd on purpose. Confined (the
# default), pfsd drops CAP_SYS_ADMIN as virtiofsd does, and trusted.* is refused by both.
DELIBERATE: dict[str, str] = {}
UNCONFINED = sandbox_mode() == "none"
if UNCONFINED:
    DELIBERATE["xattr-trusted"] = (
        "with --sandbox none (PFS_TEST_SANDBOX=none) pfsd keeps the capabilities it was "
        "started with, CAP_SYS_ADMIN included, so root in the guest sets trusted.*; QEMU's "
        "virtiofsd drops CAP_SYS_ADMIN and answers EPERM")


@pytest.fixture(scope="module")
def pair(vm_image, vm_accel):
    sess = conftest_vm.start_pair_session(vm_image, vm_accel)
    yield sess
    problems = sess.close()
    if problems:
        pytest.fail("pair session teardown: " + "; ".join(problems), pytrace=False)


def _battery(pair, mnt: str) -> dict[str, str]:
    script = BATTERY.read_text()
    r = pair.vm.run(f"mkdir -p {mnt}/w && cat > /tmp/battery.sh <<'PFS_EOF'\n{script}PFS_EOF\n"
                    f"sh /tmp/battery.sh {mnt}/w", timeout=300, check=False)
    lines = [ln for ln in r.out.splitlines() if ": rc=" in ln]
    assert lines, f"the battery printed nothing on {mnt} (exit {r.rc}):\n{r.out}"
    out = {}
    for ln in lines:
        label, _, rest = ln.partition(": ")
        out[label] = rest
    return out


def _host_tree(root: Path) -> dict[str, tuple]:
    """What a daemon left on the host: per path, type, mode, owner, size, content hash
    (regular files), link target (symlinks), device numbers, and the xattrs."""
    tree = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            st = os.lstat(p)
            rel = str(p.relative_to(root))
            extra: tuple = ()
            if stat.S_ISREG(st.st_mode):
                extra = (st.st_size, hashlib.sha256(p.read_bytes()).hexdigest())
            elif stat.S_ISLNK(st.st_mode):
                extra = (os.readlink(p),)
            elif stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
                extra = (os.major(st.st_rdev), os.minor(st.st_rdev))
            xattrs: tuple = ()
            if not stat.S_ISLNK(st.st_mode):
                # trusted.*: see DELIBERATE["xattr-trusted"] (unconfined runs only).
                xattrs = tuple(sorted((n, os.getxattr(p, n)) for n in os.listxattr(p)
                                      if not (UNCONFINED and n.startswith("trusted."))))
            tree[rel] = (stat.S_IFMT(st.st_mode), stat.S_IMODE(st.st_mode), st.st_uid,
                         st.st_gid, extra, xattrs)
    return tree


def test_battery_matches_virtiofsd(pair, request):
    ours = _battery(pair, "/mnt")
    ref = _battery(pair, "/mnt2")
    assert list(ours) == list(ref), "the two runs did not print the same steps"
    diffs = [f"  {label}\n    pfsd:      {ours[label]}\n    virtiofsd: {ref[label]}"
             for label in ours if ours[label] != ref[label] and label not in DELIBERATE]
    assert not diffs, "pfsd and QEMU's virtiofsd answered differently:\n" + "\n".join(diffs)
    # The battery must have exercised things, not failed wholesale on both.
    ok = sum(1 for v in ours.values() if v.startswith("rc=0 "))
    assert ok >= len(ours) // 2, f"only {ok} of {len(ours)} steps succeeded:\n{ours}"

    a = _host_tree(pair.daemons["pfsd"].h("w"))
    b = _host_tree(pair.daemons["ref"].h("w"))
    only = sorted(set(a) ^ set(b))
    assert not only, f"paths on the host under one daemon only: {only}"
    tdiffs = [f"  {p}\n    pfsd:      {a[p]}\n    virtiofsd: {b[p]}" for p in sorted(a) if a[p] != b[p]]
    assert not tdiffs, "the host trees differ:\n" + "\n".join(tdiffs)
    same = sum(1 for label in ours if ours[label] == ref[label])
    conftest_vm._say(request.config, f"differential: {len(ours)} battery steps, {same} answered "
                     f"alike by pfsd and virtiofsd, {len(ours) - same} deliberate differences; "
                     f"host trees alike ({len(a)} paths)")


def test_throughput_side_by_side(pair, request):
    """Printed, not asserted: the same guest, the same moment, alternating which daemon
    goes first over two rounds (best of each): dd 128 MiB write (conv=fsync) and cold
    read, and files created per second. Fairer than the per-daemon figures of
    test_throughput_figures, which come from two boots in different states."""
    mib = 128
    best: dict[str, dict[str, float]] = {"pfsd": {}, "ref": {}}
    for rnd in range(2):
        order = [("/mnt", "pfsd"), ("/mnt2", "ref")]
        for mnt, name in (order if rnd == 0 else order[::-1]):
            r = pair.vm.run(f"mkdir -p {mnt}/tp && dd if=/dev/zero of={mnt}/tp/w bs=1M count={mib} "
                            "conv=fsync", timeout=300)
            w = mib / H.dd_secs(r.out, r.secs)
            assert pair.daemons[name].h("tp", "w").stat().st_size == mib << 20
            r = pair.vm.run(f"sync; echo 3 > /proc/sys/vm/drop_caches; dd if={mnt}/tp/w "
                            "of=/dev/null bs=1M", timeout=300)
            rd = mib / H.dd_secs(r.out, r.secs)
            r = pair.vm.run(f"rm -rf {mnt}/tp && mkdir -p {mnt}/tp/files && "
                            f"pfs-guest-tool mkfiles {mnt}/tp/files 1000 && rm -rf {mnt}/tp", timeout=300)
            files = float(re.search(r"rate=([0-9.]+)", r.out).group(1))
            for key, v in (("write", w), ("read", rd), ("files", files)):
                best[name][key] = max(best[name].get(key, 0.0), v)
    for name, label in (("pfsd", "pfsd"), ("ref", "virtiofsd")):
        b = best[name]
        conftest_vm._say(request.config, f"side by side ({pair.accel}), {label}: dd write {mib} MiB "
                         f"{b['write']:.1f} MiB/s, read {b['read']:.1f} MiB/s, "
                         f"create {b['files']:.1f} files/s (best of 2)")
