// pfs-guest-tool: what busybox lacks in the VM-suite guest. Built static by ci/vm-image.
//
//   pfs-guest-tool getxattr PATH NAME          value on stdout (raw bytes)
//   pfs-guest-tool setxattr PATH NAME VALUE    (flags: 0)
//   pfs-guest-tool listxattr PATH              one name per line
//   pfs-guest-tool removexattr PATH NAME
//   pfs-guest-tool umount2 PATH force|detach|force,detach
//                                              umount2(2) without stat'ing PATH first
//                                              (busybox umount does, and hangs on a dead
//                                              virtio-fs mount); MNT_FORCE aborts the
//                                              FUSE connection, failing pending requests
//   pfs-guest-tool mkfiles DIR N               create N empty files DIR/fNNNNNN, fsync
//                                              nothing; print "files=N secs=S rate=R"
//   pfs-guest-tool onecall PATH BYTES          create PATH, one write(2) of BYTES (a
//                                              pattern), one pread(2) of BYTES at 0;
//                                              print "wrote=N read=M same=yes|no"
//   pfs-guest-tool as UID GID PROG [ARG...]    run PROG with every uid and gid set to
//                                              UID/GID and no supplementary groups
//                                              (busybox's setpriv cannot)
// Exit status 0 on success; on failure the errno name and message go to stderr
// ("ERRNO=ENODATA ...") and the exit status is 1, so tests can assert the errno.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <grp.h>
#include <sys/mount.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

static int fail(const char* what) {
  int e = errno;
  fprintf(stderr, "ERRNO=%s %s: %s\n", strerrorname_np(e) ? strerrorname_np(e) : "?", what,
          strerror(e));
  return 1;
}

static int cmd_get(const char* path, const char* name) {
  char buf[65536];
  ssize_t n = lgetxattr(path, name, buf, sizeof buf);
  if (n < 0) return fail("getxattr");
  fwrite(buf, 1, (size_t)n, stdout);
  return 0;
}

static int cmd_list(const char* path) {
  char buf[65536];
  ssize_t n = llistxattr(path, buf, sizeof buf);
  if (n < 0) return fail("listxattr");
  for (ssize_t i = 0; i < n;) {
    size_t len = strnlen(buf + i, (size_t)(n - i));
    printf("%.*s\n", (int)len, buf + i);
    i += (ssize_t)len + 1;
  }
  return 0;
}

static int cmd_mkfiles(const char* dir, long count) {
  struct timespec t0, t1;
  char path[4096];
  clock_gettime(CLOCK_MONOTONIC, &t0);
  for (long i = 0; i < count; i++) {
    snprintf(path, sizeof path, "%s/f%06ld", dir, i);
    int fd = open(path, O_CREAT | O_WRONLY | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0) return fail("open");
    if (close(fd) < 0) return fail("close");
  }
  clock_gettime(CLOCK_MONOTONIC, &t1);
  double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
  printf("files=%ld secs=%.3f rate=%.1f\n", count, secs, secs > 0 ? (double)count / secs : 0.0);
  return 0;
}

// What a single system call moves: a daemon that answers a large request short makes
// the guest kernel hand a short count back to the program.
static int cmd_onecall(const char* path, long bytes) {
  if (bytes <= 0) {
    errno = EINVAL;
    return fail("byte count");
  }
  char* out = malloc((size_t)bytes);
  char* in = malloc((size_t)bytes);
  if (!out || !in) return fail("malloc");
  for (long i = 0; i < bytes; i++) out[i] = (char)(i * 31 + i / 4096);
  int fd = open(path, O_CREAT | O_TRUNC | O_RDWR | O_CLOEXEC, 0644);
  if (fd < 0) return fail("open");
  ssize_t w = write(fd, out, (size_t)bytes);
  if (w < 0) return fail("write");
  ssize_t r = pread(fd, in, (size_t)bytes, 0);
  if (r < 0) return fail("pread");
  if (close(fd) < 0) return fail("close");
  int same = r == w && memcmp(in, out, (size_t)r) == 0;
  printf("wrote=%zd read=%zd same=%s\n", w, r, same ? "yes" : "no");
  free(out);
  free(in);
  return 0;
}

static int cmd_as(const char* uid_s, const char* gid_s, char** argv) {
  const uid_t uid = (uid_t)strtoul(uid_s, NULL, 10);
  const gid_t gid = (gid_t)strtoul(gid_s, NULL, 10);
  if (setgroups(0, NULL) < 0) return fail("setgroups");
  if (setresgid(gid, gid, gid) < 0) return fail("setresgid");
  if (setresuid(uid, uid, uid) < 0) return fail("setresuid");
  execvp(argv[0], argv);
  return fail("execvp");
}

int main(int argc, char** argv) {
  if (argc >= 5 && !strcmp(argv[1], "as")) return cmd_as(argv[2], argv[3], argv + 4);
  if (argc == 4 && !strcmp(argv[1], "getxattr")) return cmd_get(argv[2], argv[3]);
  if (argc == 5 && !strcmp(argv[1], "setxattr")) {
    if (lsetxattr(argv[2], argv[3], argv[4], strlen(argv[4]), 0) < 0) return fail("setxattr");
    return 0;
  }
  if (argc == 3 && !strcmp(argv[1], "listxattr")) return cmd_list(argv[2]);
  if (argc == 4 && !strcmp(argv[1], "removexattr")) {
    if (lremovexattr(argv[2], argv[3]) < 0) return fail("removexattr");
    return 0;
  }
  if (argc == 4 && !strcmp(argv[1], "umount2")) {
    int flags = 0;
    if (strstr(argv[3], "force")) flags |= MNT_FORCE;
    if (strstr(argv[3], "detach")) flags |= MNT_DETACH;
    if (umount2(argv[2], flags) < 0) return fail("umount2");
    return 0;
  }
  if (argc == 4 && !strcmp(argv[1], "mkfiles")) return cmd_mkfiles(argv[2], atol(argv[3]));
  if (argc == 4 && !strcmp(argv[1], "onecall")) return cmd_onecall(argv[2], atol(argv[3]));
  fprintf(stderr,
          "usage: pfs-guest-tool getxattr|setxattr|listxattr|removexattr PATH [NAME [VALUE]]\n"
          "       pfs-guest-tool umount2 PATH force|detach|force,detach\n"
          "       pfs-guest-tool mkfiles DIR N\n"
          "       pfs-guest-tool onecall PATH BYTES\n"
          "       pfs-guest-tool as UID GID PROG [ARG...]\n");
  return 2;
}
