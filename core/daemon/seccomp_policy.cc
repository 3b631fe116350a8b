// The allow-list lives in this one file. It was written from the syscalls the core,
// the transports, glibc and libstdc++ threads make, then checked by running the host
// pytest suite (test_host_mount, test_daemon_hardening, test_session_record) with
// pfsd in a namespace sandbox and --seccomp trap: no forbidden syscall. It is still
// generous (a strace-derived trim, per transport, is left for later).
#include "core/daemon/seccomp_policy.h"

#include <seccomp.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <iterator>
#include <string>

namespace pfs::daemon {
namespace {

// Every mode: the file system work of the core and the process's own housekeeping.
constexpr const char* kCommon[] = {
    // files: the core's *at() calls on O_PATH fds and the /proc/self/fd reopen
    "openat",
    "openat2",
    "open",
    "close",
    "close_range",
    "read",
    "write",
    "readv",
    "writev",
    "pread64",
    "pwrite64",
    "preadv",
    "pwritev",
    "preadv2",
    "pwritev2",
    "lseek",
    "fstat",
    "newfstatat",
    "statx",
    "fstatfs",
    "statfs",
    "getdents64",
    "mkdirat",
    "mknodat",
    "unlinkat",
    "renameat",
    "renameat2",
    "linkat",
    "symlinkat",
    "readlinkat",
    "fchmod",
    "fchmodat",
    "fchown",
    "fchownat",
    "utimensat",
    "ftruncate",
    "fallocate",
    "fsync",
    "fdatasync",
    "syncfs",  // SYNCFS (the VM suite's guest sync; missing, it killed pfsd)
    "fadvise64",
    "copy_file_range",
    "fchdir",
    "getcwd",
    "umask",
    "fcntl",
    "dup",
    "dup3",
    "flock",
    "ioctl",
    "faccessat",
    "faccessat2",
    // xattrs (by fd, and by the /proc/self/fd path for O_PATH fds)
    "fgetxattr",
    "fsetxattr",
    "flistxattr",
    "fremovexattr",
    "getxattr",
    "setxattr",
    "listxattr",
    "removexattr",
    "lgetxattr",
    "lsetxattr",
    "llistxattr",
    "lremovexattr",
    // the credential switch per request (per thread: raw syscalls)
    "setresuid",
    "setresgid",
    "setfsuid",
    "setfsgid",
    "setuid",
    "setgid",
    "getuid",
    "geteuid",
    "getgid",
    "getegid",
    "getresuid",
    "getresgid",
    "setgroups",
    "getgroups",
    "capget",
    "capset",
    // memory, threads, signals, time (glibc, libstdc++)
    "brk",
    "mmap",
    "munmap",
    "mprotect",
    "mremap",
    "madvise",
    "futex",
    "set_robust_list",
    "get_robust_list",
    "rseq",
    "clone",
    "clone3",
    "exit",
    "exit_group",
    "set_tid_address",
    "rt_sigaction",
    "rt_sigprocmask",
    "rt_sigreturn",
    "rt_sigtimedwait",
    "sigaltstack",
    "tgkill",
    "tkill",
    "kill",
    "getpid",
    "gettid",
    "getppid",
    "nanosleep",
    "clock_nanosleep",
    "clock_gettime",
    "gettimeofday",
    "sched_yield",
    "sched_getaffinity",
    "getrandom",
    "prlimit64",
    "getrlimit",
    "uname",
    "sysinfo",
    "restart_syscall",
    "prctl",
    // waiting
    "poll",
    "ppoll",
    "epoll_create1",
    "epoll_ctl",
    "epoll_wait",
    "epoll_pwait",
    "eventfd2",
    "pipe2",
};

// /dev/fuse: the clone of the device fd per worker, and unmount on SIGTERM (only
// outside a namespace sandbox, where the mount is visible).
constexpr const char* kHost[] = {"umount2"};

// vhost-user: the unix socket (fds come with messages), guest memory and eventfds.
constexpr const char* kVhostUser[] = {"accept4", "accept",   "recvmsg", "sendmsg", "recvfrom",
                                      "sendto",  "shutdown", "unlink",  "socket",  "getsockopt"};

void on_sigsys(int, siginfo_t* info, void*) {
  // Not strictly async-signal-safe, but we exit right after: the name lookup is a
  // table walk, and the message goes out with one write().
  const char* name = seccomp_syscall_resolve_num_arch(SCMP_ARCH_NATIVE, info->si_syscall);
  char buf[160];
  int n = snprintf(buf, sizeof buf, "pfsd: seccomp: forbidden syscall %s (%d); exiting\n",
                   name ? name : "?", info->si_syscall);
  if (n > 0) (void)!::write(STDERR_FILENO, buf, static_cast<size_t>(n));
  ::_exit(1);
}

}  // namespace

const char* const* seccomp_allowed(bool host_mode, size_t* count) {
  static const char* host[std::size(kCommon) + std::size(kHost)];
  static const char* vhost[std::size(kCommon) + std::size(kVhostUser)];
  const char** out = host_mode ? host : vhost;
  size_t n = 0;
  for (const char* s : kCommon) out[n++] = s;
  if (host_mode) {
    for (const char* s : kHost) out[n++] = s;
  } else {
    for (const char* s : kVhostUser) out[n++] = s;
  }
  *count = n;
  return out;
}

std::string install_seccomp(SeccompAction action, bool host_mode) {
  if (action == SeccompAction::kNone) return "";
  uint32_t def = SCMP_ACT_KILL_PROCESS;
  if (action == SeccompAction::kLog) def = SCMP_ACT_LOG;
  if (action == SeccompAction::kTrap) {
    def = SCMP_ACT_TRAP;
    struct sigaction sa {};
    sa.sa_sigaction = on_sigsys;
    sa.sa_flags = SA_SIGINFO;
    // Safety: installs our handler for SIGSYS; checked.
    if (::sigaction(SIGSYS, &sa, nullptr) != 0) {
      return std::string("pfsd: cannot install the SIGSYS handler: ") + std::strerror(errno);
    }
  }
  scmp_filter_ctx ctx = seccomp_init(def);
  if (ctx == nullptr) return "pfsd: cannot create a seccomp filter (libseccomp)";
  size_t count = 0;
  const char* const* names = seccomp_allowed(host_mode, &count);
  for (size_t i = 0; i < count; ++i) {
    const int nr = seccomp_syscall_resolve_name(names[i]);
    if (nr == __NR_SCMP_ERROR) continue;  // not a syscall on this architecture
    if (int rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 0); rc != 0) {
      seccomp_release(ctx);
      return std::string("pfsd: seccomp: cannot allow ") + names[i] + ": " + std::strerror(-rc);
    }
  }
  const int rc = seccomp_load(ctx);
  seccomp_release(ctx);
  if (rc != 0) {
    return std::string("pfsd: cannot load the seccomp filter: ") + std::strerror(-rc) +
           " (use --seccomp none)";
  }
  return "";
}

}  // namespace pfs::daemon
