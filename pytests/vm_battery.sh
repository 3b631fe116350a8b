# shellcheck shell=sh
# The differential battery (test_vm_differential.py): run in the guest as
#   sh vm_battery.sh DIR
# once on a pfsd mount and once on a QEMU virtiofsd mount of the same guest. Every step
# prints one line "label: rc=N output" (output on one line, paths relative to DIR), so
# the two runs can be compared line by line. Steps run as root unless marked `as_user`
# (uid/gid 1000 through busybox setpriv). Nothing here depends on inode numbers or
# timestamps of "now"; the battery leaves its tree in place for the host-side check.
set -u
cd "$1" || exit 99

t() {
  label=$1
  shift
  out=$("$@" 2>&1)
  rc=$?
  printf '%s: rc=%s %s\n' "$label" "$rc" "$(printf '%s' "$out" | tr '\n' '|')"
}
as_user() {
  label=$1
  shift
  t "$label" setpriv --reuid 1000 --regid 1000 --clear-groups "$@"
}

# --- names and directories
t mkdir mkdir d
t mkdir-exists mkdir d
t rmdir-missing rmdir nope
t create sh -c 'echo data > d/f'
t cat cat d/f
t stat-file stat -c '%s %h %a %F %u %g' d/f
t noclobber sh -c 'set -C; echo x > d/f'
t hard-link ln d/f d/hard
t nlink stat -c '%h' d/f
t symlink ln -s f d/sym
t readlink readlink d/sym
t cat-via-symlink cat d/sym
t stat-symlink stat -c '%s %F' d/sym
t dangling-symlink ln -s nowhere d/dangle
t cat-dangling cat d/dangle
t rename mv d/f d/g
t rename-over-existing sh -c 'echo other > d/other && mv d/other d/g && cat d/g'
t subdirs sh -c 'mkdir d/s1 d/s2 && stat -c %h d'
t list sh -c 'ls -1a d | sort | tr "\n" " "'
t rmdir-nonempty rmdir d
t open-dir-for-write sh -c 'echo > d'
t mkdir-under-file mkdir d/g/x
t rename-into-own-subdir mv d/s1 d/s1/inner
t name-255 touch "d/$(printf 'n%.0s' $(seq 255))"
t name-256 touch "d/$(printf 'n%.0s' $(seq 256))"
t odd-names sh -c 'echo x > "d/a b	c" && echo y > "d/ünï €" && echo z > "d/-dash" && ls -1 d | sort | md5sum'
t unlink-open-file sh -c 'echo kept > d/tmpf && exec 3<d/tmpf && rm d/tmpf && cat <&3'
t rename-open-file sh -c 'echo moved > d/mv1 && exec 3<d/mv1 && mv d/mv1 d/mv2 && cat <&3 && cat d/mv2'

# --- special files
t mkfifo mkfifo d/fifo
t stat-fifo stat -c '%F %a' d/fifo
t mknod-char mknod d/null c 1 3
t stat-char stat -c '%F %t %T' d/null
t read-char-node cat d/null

# --- sizes and data
t truncate-grow sh -c 'truncate -s 100000 d/g && stat -c %s d/g'
t truncate-shrink sh -c 'truncate -s 3 d/g && cat d/g'
t sparse sh -c 'dd if=/dev/zero of=d/sparse bs=1 count=1 seek=10000000 2>/dev/null && stat -c %s d/sparse'
t fallocate sh -c 'fallocate -l 65536 d/falloc && stat -c %s d/falloc'
t append sh -c 'printf A > d/app && printf B >> d/app && printf C >> d/app && cat d/app'
t one-call-mib pfs-guest-tool onecall d/mib 1048576
t overwrite-middle sh -c 'printf 0123456789 > d/mid && printf XY | dd of=d/mid bs=1 seek=4 conv=notrunc 2>/dev/null && cat d/mid'
t copy-and-compare sh -c 'cp d/mib d/mib2 && cmp d/mib d/mib2 && echo same'

# --- metadata
t chmod sh -c 'chmod 0640 d/g && stat -c %a d/g'
t chmod-suid sh -c 'chmod 4755 d/g && stat -c %a d/g'
t chown sh -c 'chown 1234:5678 d/g && stat -c "%u %g %a" d/g'
t touch-date sh -c "touch -d '2001-02-03 04:05:06' d/g && stat -c %Y d/g"
t touch-mtime-only sh -c "touch -m -d '2002-03-04 05:06:07' d/g && stat -c '%X %Y' d/g"
t setgid-dir sh -c 'mkdir d/sg && chown 0:77 d/sg && chmod 2775 d/sg && touch d/sg/f && mkdir d/sg/sub && stat -c "%g %a" d/sg/f d/sg/sub'
t statfs-names stat -f -c '%l' .

# --- xattrs
t xattr-set pfs-guest-tool setxattr d/g user.k v1
t xattr-get pfs-guest-tool getxattr d/g user.k
t xattr-replace sh -c 'pfs-guest-tool setxattr d/g user.k v2 && pfs-guest-tool getxattr d/g user.k'
t xattr-get-missing pfs-guest-tool getxattr d/g user.none
t xattr-list pfs-guest-tool listxattr d/g
t xattr-on-symlink pfs-guest-tool setxattr d/sym user.k v
t xattr-on-fifo pfs-guest-tool setxattr d/fifo user.k v
t xattr-on-dir sh -c 'pfs-guest-tool setxattr d user.dk dv && pfs-guest-tool getxattr d user.dk'
t xattr-remove pfs-guest-tool removexattr d/g user.k
t xattr-remove-missing pfs-guest-tool removexattr d/g user.k
t xattr-unknown-namespace pfs-guest-tool setxattr d/g bogus.k v
t xattr-trusted sh -c 'pfs-guest-tool setxattr d/g trusted.k tv && pfs-guest-tool getxattr d/g trusted.k'

# --- as an ordinary user (uid/gid 1000)
t public-dir sh -c 'mkdir pub && chmod 1777 pub'
t private-file sh -c 'echo secret > pub/priv && chmod 600 pub/priv && echo open > pub/r && chmod 644 pub/r'
as_user user-create sh -c 'echo mine > pub/u && stat -c "%u %g %a" pub/u'
as_user user-mkdir sh -c 'mkdir pub/ud && stat -c "%u %g %a" pub/ud'
as_user user-umask sh -c 'umask 077 && echo > pub/um && stat -c %a pub/um'
as_user user-read-private cat pub/priv
as_user user-read-public cat pub/r
as_user user-append-root-file sh -c 'echo x >> pub/r'
as_user user-truncate-root-file truncate -s 0 pub/r
as_user user-touch-root-file touch pub/r
as_user user-chmod-root-file chmod 777 pub/r
as_user user-chown-own-file chown 0 pub/u
as_user user-unlink-in-sticky-dir rm -f pub/r
as_user user-rename-in-sticky-dir mv pub/r pub/r2
as_user user-xattr-own sh -c 'pfs-guest-tool setxattr pub/u user.a b && pfs-guest-tool getxattr pub/u user.a'
as_user user-xattr-root-file pfs-guest-tool setxattr pub/r user.a b
as_user user-trusted-xattr pfs-guest-tool setxattr pub/u trusted.a b
t suid-file-for-user sh -c 'chmod 6777 pub/u && stat -c %a pub/u'
as_user user-write-clears-suid sh -c 'echo more >> pub/u && stat -c %a pub/u'
t sgid-file-for-user sh -c 'chmod 2777 pub/u && stat -c %a pub/u'
as_user user-truncate-clears-sgid sh -c 'truncate -s 1 pub/u && stat -c %a pub/u'
as_user user-mkdir-in-root-dir mkdir d/nope
as_user user-list-root-dir sh -c 'ls d | wc -l'
t final-tree sh -c 'find . | sort | md5sum'
