"""VM suite, escape: a root guest (and an unprivileged user in it) tries to get out of
the shared directory, once per daemon (vm_env: virtiofsd, pfsd). The canary tree sits
beside the share on the host (`..` of the share leads to it); after the attack it must
be unchanged: owner, mode, contents, times, xattrs, and inotify showing that nothing
opened or read it. The guest's output must not hold the canary's secret, the symlinks
the guest made must still say what they said, and the daemon must still be serving.

The attack (one guest script, every step allowed to fail; the canary is the verdict):
  - symlinks leading out (absolute host path, relative ../.., through /proc/self/cwd
    and /proc/self/root), read, written, appended, truncated, chmod/chown'ed, used as
    a parent (mkdir, create, listing) and renamed into the place of a directory;
  - hard links of those symlinks and of files, a link of a guest path outside the share;
  - paths through /proc/self/fd/N of a directory fd in the share, then `..`;
  - mknod of a block (8:0) and a character (1:1) device, then reads and writes of them;
  - an unprivileged user (uid 1000) making setuid/setgid copies, setting
    security.capability and trusted.* xattrs; root setting trusted.*, a forged
    security.capability and garbage system.posix_acl_access;
  - a flood of 2000 creates and lookups (ls -l) with no forgets.
"""

from __future__ import annotations

import os
import pytest

from canary import SECRET, Canary
from pfsd_args import sandbox_mode

pytestmark = pytest.mark.vm

# CAN: the canary's host path. Nothing in the guest is at that path: a daemon that
# resolved a guest's symlink on the host side would reach it.
ATTACK = r"""
set +e
cd /mnt && rm -rf esc && mkdir esc && cd esc || exit 9
step() { echo "== $*"; "$@" 2>&1; echo "rc=$?"; }
ln -s "$CAN/secret" abs
ln -s ../../escape-canary/secret rel
ln -s "$CAN" absdir
ln -s ../../escape-canary reldir
ln -s /proc/self/cwd/../.. pcwd
ln -s /proc/self/root proot
for p in abs rel absdir/secret reldir/secret absdir/sub/inner reldir/sub/inner \
         pcwd/escape-canary/secret "proot$CAN/secret"; do
  step cat "$p"
  step ls -la "$(dirname "$p")"
done
step sh -c 'echo overwritten > abs'
step sh -c 'echo appended >> rel'
step truncate -s 0 absdir/public
step chmod 0777 abs
step chown 1000:1000 rel
step touch -d 2001-01-01 absdir/secret
step mkdir absdir/new reldir/new
step sh -c 'echo planted > reldir/planted'
step pfs-guest-tool setxattr abs user.canary changed
step pfs-guest-tool setxattr absdir/public user.canary changed
# a directory, then a symlink out renamed into its place, then used
mkdir place && echo inside > place/secret
ln -s ../../escape-canary placelink
step mv -T placelink place
step cat place/secret
step sh -c 'echo x > place/secret'
# hard links: of the symlinks (the link itself), of a file, and from outside the share
echo in-share > f
step ln abs hl-abs
step ln f hl-f
step cat hl-abs
step ln /etc/hostname hl-outside
# /proc/self/fd and cwd of a process whose fd and cwd are in the share
exec 3</mnt/esc
step cat /proc/self/fd/3/../../escape-canary/secret
step ls /proc/self/fd/3/..
step sh -c 'cd /mnt/esc && cat /proc/self/cwd/../../escape-canary/secret'
exec 3<&-
# device nodes
step mknod blk b 8 0
step mknod chr c 1 1
step sh -c 'head -c 64 blk | od -c | head -3'
step sh -c 'head -c 64 chr | od -c | head -3'
step sh -c 'echo x > chr'
# an unprivileged user: setuid/setgid copies, capability and trusted xattrs
mkdir u && chmod 0777 u
step pfs-guest-tool as 1000 1000 cp /bin/busybox u/bb
step pfs-guest-tool as 1000 1000 chmod 4755 u/bb
step pfs-guest-tool as 1000 1000 chmod 6755 u/bb
step pfs-guest-tool as 1000 1000 chmod 4755 f
step pfs-guest-tool as 1000 1000 pfs-guest-tool setxattr u/bb security.capability forged
step pfs-guest-tool as 1000 1000 pfs-guest-tool setxattr u/bb trusted.evil 1
step pfs-guest-tool as 1000 1000 cat abs
step pfs-guest-tool as 1000 1000 ls absdir
# root: trusted.*, a forged capability, garbage ACLs
step pfs-guest-tool setxattr f trusted.evil 1
step pfs-guest-tool setxattr f security.capability forged
step pfs-guest-tool setxattr f system.posix_acl_access garbage
step pfs-guest-tool setxattr absdir trusted.evil 1
# a flood of creates and lookups, no forgets
mkdir flood
step pfs-guest-tool mkfiles /mnt/esc/flood 2000
step sh -c 'ls -l flood | wc -l'
cd / && echo attack-done
"""


def test_guest_cannot_reach_the_canary(vm_env):
    daemon = vm_env.daemons["main"]
    canary = Canary(daemon.shared.parent / "escape-canary")
    try:
        r = vm_env.vm.run(f"export CAN={canary.root}\n{ATTACK}", timeout=600, check=False)
        print(f"--- the attack through {vm_env.kind}, as the guest saw it ---\n{r.out}")
        assert "attack-done" in r.out, f"the attack script did not finish (rc {r.rc}):\n{r.out}"
        canary.check(f"VM attack through {vm_env.kind}")
        assert SECRET.decode().strip() not in r.out, f"the guest read the canary:\n{r.out}"
        esc = daemon.h("esc")
        assert os.readlink(esc / "abs") == f"{canary.root}/secret"
        assert os.readlink(esc / "rel") == "../../escape-canary/secret"
        # What the unprivileged guest user made is theirs, and no more.
        bb = esc / "u" / "bb"
        if bb.exists():
            assert bb.stat().st_uid == 1000, "the guest user's copy is not owned by uid 1000"
            assert "security.capability" not in os.listxattr(bb, follow_symlinks=False)
            assert "trusted.evil" not in os.listxattr(bb, follow_symlinks=False)
        assert not (esc / "f").stat().st_mode & 0o4000, "uid 1000 set setuid on root's file"
        confined = vm_env.kind == "virtiofsd" or sandbox_mode() != "none"
        if confined:  # CAP_SYS_ADMIN is gone: trusted.* refused even to guest root
            assert "trusted.evil" not in os.listxattr(esc / "f", follow_symlinks=False)
        assert len(list((esc / "flood").iterdir())) == 2000
        assert daemon.proc.poll() is None, f"{vm_env.kind} died during the attack"
        assert vm_env.vm.run("stat -c %s /mnt/esc/f").out.strip() == "9"
    finally:
        canary.close()
        vm_env.vm.run("rm -rf /mnt/esc", check=False, timeout=300)


def test_attack_script_reaches_a_canary_inside_the_share(vm_env):
    """The oracle can fail: the same steps aimed at a canary the guest may reach (inside
    the share) do change it and do show its secret."""
    daemon = vm_env.daemons["main"]
    inside = Canary(daemon.h("inside-canary"))
    try:
        r = vm_env.vm.run("cat /mnt/inside-canary/secret; echo x >> /mnt/inside-canary/public",
                          check=False)
        assert SECRET.decode().strip() in r.out
        assert inside.reached("guest read and appended"), "the canary saw nothing"
    finally:
        inside.close()
