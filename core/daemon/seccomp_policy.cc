// pfsd's seccomp allow-list, in this one file: each syscall pfsd makes once the filter
// is in (after the sandbox, the capability drop and no_new_privs), with the reason.
//
// Derived from strace: ci/seccomp-trace runs the host pytest suite (pfsd sandboxed as
// by default, and --sandbox none) and the VM suite with every pfsd under strace, and
// lists per transport the syscalls made after the filter went in. Seen::kTraced
// entries were seen there; Seen::kUnseen ones were not, and say why they stay (an
// error path, a request the suites do not send, glibc fallbacks). The script fails
// when a syscall it sees is missing here, and flags kTraced entries no longer seen.
// The fuzz targets install this same list (PFS_FUZZ_SECCOMP, fuzz/fuzz_seccomp.h).
//
// Names are x86_64's, as glibc 2.36 (Debian 12) makes them: fstat() is newfstatat,
// open() is openat, renameat2(..., 0) is renameat, but unlink() is unlink. A name
// unknown on another architecture is skipped (seccomp_unresolved() finds typos).
#include "core/daemon/seccomp_policy.h"

#include <seccomp.h>

#include <cerrno>
#include <cstring>
#include <iterator>
#include <string>

#include "core/daemon/seccomp_trap.h"

namespace pfs::daemon {
namespace {

enum class Seen { kTraced, kUnseen };
struct Allowed {
  const char* name;
  Seen seen;
  const char* why;
};

// Both transports: the core's file system work (PassthroughFs on O_PATH fds and
// /proc/self/fd reopens), the per-request credential switch, glibc and libstdc++.
constexpr Allowed kCommon[] = {
    // files
    {"openat", Seen::kTraced, "every open: LOOKUP, OPEN, CREATE, the /proc/self/fd reopen"},
    {"close", Seen::kTraced, "FORGET, RELEASE, every temporary fd"},
    {"read", Seen::kTraced, "/dev/fuse requests; vhost-user eventfds"},
    {"write", Seen::kTraced, "logs to stderr; eventfd kicks"},
    {"writev", Seen::kTraced,
     "host: replies to /dev/fuse (header and payload); both: "
     "backtrace_symbols_fd in the --seccomp trap report"},
    {"preadv", Seen::kTraced, "READ into the reply (or guest memory) buffers"},
    {"pwritev", Seen::kTraced, "WRITE from the request (or guest memory) buffers"},
    {"lseek", Seen::kTraced, "READDIR offsets, LSEEK (SEEK_DATA/SEEK_HOLE)"},
    {"newfstatat", Seen::kTraced, "GETATTR, LOOKUP; glibc's fstat/stat/lstat"},
    {"fstatfs", Seen::kTraced, "STATFS (fstatvfs)"},
    {"getdents64", Seen::kTraced, "READDIR(PLUS), the temp dir's cleanup"},
    {"mkdirat", Seen::kTraced, "MKDIR: made under a random name, owned, then renamed in"},
    {"mknodat", Seen::kTraced, "MKNOD (fifos, sockets; devices with CAP_MKNOD)"},
    {"unlinkat", Seen::kTraced, "UNLINK, RMDIR"},
    {"renameat", Seen::kTraced, "RENAME without flags (glibc's renameat2 with flags 0)"},
    {"renameat2", Seen::kTraced, "RENAME2 (RENAME_NOREPLACE, RENAME_EXCHANGE)"},
    {"linkat", Seen::kTraced, "LINK; CREATE/MKNOD linked into place via /proc/self/fd"},
    {"symlinkat", Seen::kTraced, "SYMLINK"},
    {"readlinkat", Seen::kTraced, "READLINK"},
    {"fchmodat", Seen::kTraced, "SETATTR mode via /proc/self/fd (O_PATH fds)"},
    {"fchmod", Seen::kUnseen,
     "SETATTR mode with FATTR_FH (a handle given); the kernel "
     "sends it for fchmod(2) on an open file, the suites do not"},
    {"fchown", Seen::kTraced, "SETATTR owner; CREATE/MKNOD as the caller"},
    {"fchownat", Seen::kTraced, "SETATTR owner via /proc/self/fd"},
    {"utimensat", Seen::kTraced, "SETATTR times (futimens is utimensat)"},
    {"ftruncate", Seen::kTraced, "SETATTR size, OPEN with O_TRUNC"},
    {"fallocate", Seen::kTraced, "FALLOCATE"},
    {"copy_file_range", Seen::kTraced, "COPY_FILE_RANGE"},
    {"fsync", Seen::kTraced, "FSYNC, FSYNCDIR"},
    {"fdatasync", Seen::kUnseen,
     "FSYNC with FUSE_FSYNC_FDATASYNC (fdatasync(2) in the "
     "client); the suites only fsync"},
    {"syncfs", Seen::kTraced, "SYNCFS: the VM guest's sync(1) (missing, it killed pfsd)"},
    {"fchdir", Seen::kTraced, "xattr calls on O_PATH fds: fchdir into /proc/self/fd"},
    {"fcntl", Seen::kTraced, "F_GETFL/F_SETFL on reopened fds, F_DUPFD_CLOEXEC"},
    {"dup", Seen::kTraced, "FLUSH: dup+close gives the host file the client's close"},
    {"ioctl", Seen::kUnseen,
     "IOCTL: FS_IOC_GETFLAGS/SETFLAGS, FS_IOC_FSGETXATTR/FSSETXATTR "
     "(passthrough_ioctl.cc, unit-tested); no suite sends one"},
    // xattrs: by fd, and by path (/proc/self/fd/N after fchdir) for O_PATH fds
    {"fgetxattr", Seen::kTraced, "GETXATTR; security.capability checks on WRITE"},
    {"fsetxattr", Seen::kTraced, "SETXATTR; CREATE with a security context"},
    {"flistxattr", Seen::kTraced, "LISTXATTR"},
    {"fremovexattr", Seen::kTraced, "REMOVEXATTR; the killpriv drop of security.capability"},
    {"getxattr", Seen::kTraced, "GETXATTR on symlinks and special files (O_PATH)"},
    {"setxattr", Seen::kTraced, "SETXATTR on symlinks and special files (O_PATH)"},
    {"listxattr", Seen::kTraced, "LISTXATTR on symlinks and special files (O_PATH)"},
    {"removexattr", Seen::kUnseen,
     "REMOVEXATTR on a symlink or special file (O_PATH): the "
     "same path as setxattr, not sent by the suites"},
    // the credential switch per request (per-thread raw syscalls, credentials.cc)
    {"setresuid", Seen::kTraced, "become the caller's fsuid for CREATE/MKDIR/... and back"},
    {"setresgid", Seen::kTraced, "become the caller's fsgid and back"},
    {"geteuid", Seen::kTraced, "each thread's own ids, read once (credentials.cc)"},
    {"getegid", Seen::kTraced, "each thread's own ids, read once (credentials.cc)"},
    {"getrandom", Seen::kTraced, "the random names of MKDIR's temp dirs (temp_dir.cc)"},
    // memory, threads, signals (glibc, libstdc++)
    {"brk", Seen::kUnseen,
     "malloc's main arena grows with brk; the main thread rarely "
     "allocates once serving, but may"},
    {"mmap", Seen::kTraced, "malloc arenas, thread stacks, vhost-user guest memory"},
    {"munmap", Seen::kTraced, "the same, released"},
    {"mprotect", Seen::kTraced, "thread stack guards; malloc arena growth"},
    {"madvise", Seen::kTraced, "glibc frees a finished thread's stack"},
    {"mremap", Seen::kUnseen, "glibc realloc of a large (mmapped) block"},
    {"futex", Seen::kTraced, "mutexes, condition variables, joins"},
    {"clone3", Seen::kTraced, "worker threads (pthread_create)"},
    {"set_robust_list", Seen::kTraced, "each new thread (glibc)"},
    {"rseq", Seen::kTraced, "each new thread (glibc 2.35+)"},
    {"exit", Seen::kTraced, "a thread ends"},
    {"exit_group", Seen::kTraced, "pfsd ends"},
    {"rt_sigaction", Seen::kTraced, "signal setup (SIGUSR1 wakes workers)"},
    {"rt_sigprocmask", Seen::kTraced, "threads start with signals blocked"},
    {"rt_sigtimedwait", Seen::kTraced, "the main thread waits for SIGTERM/SIGINT"},
    {"rt_sigreturn", Seen::kTraced, "return from a handler (SIGUSR1 to a worker)"},
    {"restart_syscall", Seen::kUnseen,
     "the kernel restarts a sleep a signal interrupted "
     "(e.g. after SIGSTOP/SIGCONT)"},
    {"getpid", Seen::kTraced, "kill(getpid(), ...): the session-end signal"},
    {"gettid", Seen::kUnseen,
     "abort()/raise(): an assertion must end in SIGABRT (and a "
     "core), not in SIGSYS"},
    {"sigaltstack", Seen::kUnseen,
     "a sanitizer build's deadly-signal handler (ASan on abort()) "
     "checks its alternate stack; it changes only the calling thread's"},
    {"kill", Seen::kTraced, "the session-end signal to the main thread"},
    {"tgkill", Seen::kTraced, "pthread_kill: SIGUSR1 wakes a blocked worker; abort()"},
    {"clock_gettime", Seen::kUnseen,
     "the vDSO answers, but falls back to the syscall on a "
     "clocksource without vDSO support (some VMs)"},
    {"gettimeofday", Seen::kUnseen, "log timestamps: as clock_gettime"},
};

// /dev/fuse: unmount on SIGTERM when pfsd mounted it itself (--sandbox
// none; confined, the supervisor outside unmounts).
constexpr Allowed kHost[] = {
    {"umount2", Seen::kTraced, "SIGTERM with --sandbox none: pfsd unmounts its mount"},
};

// vhost-user: the unix socket (fds come with messages), the vring eventfds.
constexpr Allowed kVhostUser[] = {
    {"accept4", Seen::kTraced, "the one front-end connection"},
    {"recvmsg", Seen::kTraced, "vhost-user messages with fds (memory regions, eventfds)"},
    {"sendmsg", Seen::kTraced, "vhost-user replies"},
    {"recvfrom", Seen::kTraced, "recv(2) of message payloads"},
    {"shutdown", Seen::kTraced, "wakes a blocked accept4 when pfsd stops"},
    {"unlink", Seen::kTraced, "removes the socket file on exit (--sandbox none)"},
    {"poll", Seen::kTraced, "the vring threads wait on kick eventfds and the socket"},
    {"eventfd2", Seen::kTraced, "per-queue stop eventfds (fs_device.cc)"},
    {"clock_nanosleep", Seen::kUnseen,
     "accept4 retries 100 ms later after EMFILE/ENFILE/"
     "ENOMEM (main.cc); the suites do not exhaust fds"},
};

}  // namespace

const char* const* seccomp_allowed(bool host_mode, size_t* count) {
  static const char* host[std::size(kCommon) + std::size(kHost)];
  static const char* vhost[std::size(kCommon) + std::size(kVhostUser)];
  const char** out = host_mode ? host : vhost;
  size_t n = 0;
  for (const Allowed& a : kCommon) out[n++] = a.name;
  if (host_mode) {
    for (const Allowed& a : kHost) out[n++] = a.name;
  } else {
    for (const Allowed& a : kVhostUser) out[n++] = a.name;
  }
  *count = n;
  return out;
}

std::string seccomp_unresolved(bool host_mode) {
  std::string out;
  size_t count = 0;
  const char* const* names = seccomp_allowed(host_mode, &count);
  for (size_t i = 0; i < count; ++i) {
    if (seccomp_syscall_resolve_name(names[i]) == __NR_SCMP_ERROR) {
      out += out.empty() ? "" : " ";
      out += names[i];
    }
  }
  return out;
}

std::string install_seccomp(SeccompAction action, bool host_mode) {
  return install_seccomp(action, host_mode, SeccompOptions{});
}

std::string install_seccomp(SeccompAction action, bool host_mode, const SeccompOptions& o) {
  if (action == SeccompAction::kNone) return "";
  const std::string me = o.who;
  uint32_t def = SCMP_ACT_KILL_PROCESS;
  if (action == SeccompAction::kLog) def = SCMP_ACT_LOG;
  if (action == SeccompAction::kTrap) {
    def = SCMP_ACT_TRAP;
    if (std::string e = install_sigsys_reporter(o.who, o.trap_aborts); !e.empty()) return e;
  }
  scmp_filter_ctx ctx = seccomp_init(def);
  if (ctx == nullptr) return me + ": cannot create a seccomp filter (libseccomp)";
  // Every thread of the process, not only the caller: pfsd has one thread here, but
  // the fuzz targets already run their crews.
  if (int rc = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_TSYNC, 1); rc != 0) {
    seccomp_release(ctx);
    return me + ": seccomp: cannot ask for thread sync: " + std::strerror(-rc);
  }
  auto allow = [&](const char* name, bool must_exist) -> std::string {
    const int nr = seccomp_syscall_resolve_name(name);
    if (nr == __NR_SCMP_ERROR) {
      // Not a syscall on this architecture (e.g. open on arm64): nothing to allow.
      return must_exist ? me + ": seccomp: " + name + " is no syscall here" : "";
    }
    if (int rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 0); rc != 0) {
      return me + ": seccomp: cannot allow " + name + ": " + std::strerror(-rc);
    }
    return "";
  };
  size_t count = 0;
  const char* const* names = seccomp_allowed(host_mode, &count);
  std::string err;
  for (size_t i = 0; i < count && err.empty(); ++i) err = allow(names[i], false);
  for (size_t i = 0; i < o.extra.size() && err.empty(); ++i) err = allow(o.extra[i], true);
  if (!err.empty()) {
    seccomp_release(ctx);
    return err;
  }
  const int rc = seccomp_load(ctx);
  seccomp_release(ctx);
  if (rc != 0) {
    return me + ": cannot load the seccomp filter: " + std::strerror(-rc) + " (use --seccomp none)";
  }
  return "";
}

}  // namespace pfs::daemon
