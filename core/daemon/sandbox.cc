#include "core/daemon/sandbox.h"

#include <cap-ng.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <utility>

#include "core/daemon/log.h"

namespace pfs::daemon {
namespace {

std::string err_line(const std::string& what, const char* hint) {
  return "pfsd: " + what + ": " + std::strerror(errno) + hint;
}

constexpr const char* kRootHint = " (run as root, or use --sandbox chroot|none)";

// Waits for `child`; forwards SIGTERM/SIGINT/SIGHUP to it (after on_signal);
// reaps any other child (as pid 1 must). Returns the exit status to pass on.
int supervise(pid_t child, const std::function<void(int)>& on_signal) {
  sigset_t set;
  sigemptyset(&set);
  for (int s : {SIGTERM, SIGINT, SIGHUP, SIGCHLD}) sigaddset(&set, s);
  const timespec tick{1, 0};
  for (;;) {
    int status = 0;
    for (;;) {
      const pid_t p = ::waitpid(-1, &status, WNOHANG);
      if (p == child) {
        if (WIFEXITED(status)) return WEXITSTATUS(status);
        if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
      }
      if (p <= 0) break;
    }
    // Safety: waits for one of the signals blocked by the caller (SIGCHLD too).
    const int sig = ::sigtimedwait(&set, nullptr, &tick);
    if (sig == SIGTERM || sig == SIGINT || sig == SIGHUP) {
      if (on_signal) on_signal(sig);
      ::kill(child, sig);
    }
  }
}

void block_sigchld(bool block) {
  sigset_t s;
  sigemptyset(&s);
  sigaddset(&s, SIGCHLD);
  ::pthread_sigmask(block ? SIG_BLOCK : SIG_UNBLOCK, &s, nullptr);
}

// Remounts the bind mount of `dir` (in our mount namespace) nodev and nosuid, with the
// flags it has already, and read-only if asked.
std::string restrict_bind(const std::string& dir, bool readonly) {
  struct statvfs sv {};
  // Safety: the flags of the mount `dir` is on; they are OR'ed into the remount.
  if (::statvfs(dir.c_str(), &sv) != 0) return err_line("cannot statvfs " + dir, "");
  unsigned long flags = MS_REMOUNT | MS_BIND | MS_NODEV | MS_NOSUID;
  const std::pair<unsigned long, unsigned long> keep[] = {{ST_RDONLY, MS_RDONLY},
                                                          {ST_NOEXEC, MS_NOEXEC},
                                                          {ST_NOATIME, MS_NOATIME},
                                                          {ST_NODIRATIME, MS_NODIRATIME},
                                                          {ST_RELATIME, MS_RELATIME}};
  for (const auto& [st, ms] : keep) {
    if (sv.f_flag & st) flags |= ms;
  }
  if (readonly) flags |= MS_RDONLY;
  if (::mount(nullptr, dir.c_str(), nullptr, flags, nullptr) != 0) {
    return err_line("cannot remount " + dir + " nodev,nosuid in the sandbox", kRootHint);
  }
  return "";
}

// Inside the new mount namespace (pid 1): fresh /proc, pivot_root into `dir`.
// Returns "" and fills proc/root, or the one-line error.
std::string pivot_into(const std::string& dir, bool readonly, ScopedFd& proc, ScopedFd& root) {
  // Safety: every mount below happens in our private mount namespace.
  if (::unshare(CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWIPC) != 0) {
    return err_line("cannot create mount, net and ipc namespaces", kRootHint);
  }
  if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) {
    return err_line("cannot make the mounts private", kRootHint);
  }
  // The /proc of our pid namespace: /proc/self/fd and thread-self/attr work, and no
  // host process is listed. subset=pid (Linux 5.8) also hides what is not per-process:
  // the server runs as root with DAC_OVERRIDE, and /proc/sysrq-trigger or /proc/sys
  // would otherwise be one openat() away from its /proc fd.
  const unsigned long proc_flags = MS_NOSUID | MS_NODEV | MS_NOEXEC;
  if (::mount("proc", "/proc", "proc", proc_flags, "subset=pid") != 0) {
    if (errno != EINVAL) return err_line("cannot mount /proc in the sandbox", kRootHint);
    log(LogLevel::kWarn, "this kernel has no proc subset=pid: the sandbox's /proc is whole");
    if (::mount("proc", "/proc", "proc", proc_flags, nullptr) != 0) {
      return err_line("cannot mount /proc in the sandbox", kRootHint);
    }
  }
  proc.reset(::open("/proc", O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!proc.valid()) return err_line("cannot open /proc", "");
  if (::mount(dir.c_str(), dir.c_str(), nullptr, MS_BIND | MS_REC, nullptr) != 0) {
    return err_line("cannot bind-mount " + dir, kRootHint);
  }
  // The server never opens a device node or runs a file: nodev and nosuid make that a
  // property of its mount, not only of the core's checks. The flags the share already
  // has are kept (a remount without MS_RDONLY would make a read-only bind writable).
  if (std::string e = restrict_bind(dir, readonly); !e.empty()) return e;
  if (::chdir(dir.c_str()) != 0) return err_line("cannot enter " + dir, "");
  // Safety: pivot_root(".", ".") stacks the old root on the new one; detached next.
  if (::syscall(SYS_pivot_root, ".", ".") != 0) {
    return err_line("cannot pivot_root into " + dir, " (use --sandbox chroot|none)");
  }
  if (::umount2(".", MNT_DETACH) != 0) return err_line("cannot detach the old root", "");
  if (::chdir("/") != 0) return err_line("cannot chdir to the new root", "");
  root.reset(::open("/", O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!root.valid()) return err_line("cannot open the new root", "");
  return "";
}

// Replaces an fd of /proc by one of /proc/self (of the calling process).
std::string narrow_to_proc_self(ScopedFd& proc) {
  // Safety: "self" is the kernel's symlink to the caller, followed once on purpose.
  ScopedFd self(::openat(proc.get(), "self", O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!self.valid()) return err_line("cannot open /proc/self in the sandbox", "");
  proc = std::move(self);
  return "";
}

SandboxOutcome error(std::string e) {
  SandboxOutcome o;
  o.kind = SandboxOutcome::kError;
  o.error = std::move(e);
  return o;
}

SandboxOutcome enter_namespace(const std::string& dir, bool readonly, const SandboxHooks& hooks) {
  if (::unshare(CLONE_NEWPID) != 0) {
    return error(err_line("cannot create a pid namespace", kRootHint));
  }
  block_sigchld(true);
  std::fflush(nullptr);
  const pid_t init = ::fork();
  if (init < 0) return error(err_line("fork", ""));
  if (init > 0) {  // the supervisor, in the host's namespaces
    if (hooks.in_helper) hooks.in_helper();
    SandboxOutcome o;
    o.kind = SandboxOutcome::kExited;
    o.status = supervise(init, hooks.on_signal);
    return o;
  }
  // pid 1 of the new pid namespace. Dies with the supervisor.
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  SandboxOutcome o;
  if (std::string e = pivot_into(dir, readonly, o.proc, o.root); !e.empty()) {
    std::fprintf(stderr, "%s\n", e.c_str());
    ::_exit(1);
  }
  std::fflush(nullptr);
  const pid_t server = ::fork();
  if (server < 0) {
    std::perror("pfsd: fork");
    ::_exit(1);
  }
  if (server == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    block_sigchld(false);
    // The core keeps only this process's own /proc directory (see proc_path.h).
    if (std::string e = narrow_to_proc_self(o.proc); !e.empty()) return error(std::move(e));
    return o;  // kServe
  }
  o.proc.reset();
  o.root.reset();
  if (hooks.in_helper) hooks.in_helper();
  // pid 1 keeps no capabilities at all, and cannot regain any.
  capng_clear(CAPNG_SELECT_BOTH);
  capng_apply(CAPNG_SELECT_BOTH);
  ::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
  ::_exit(supervise(server, nullptr));
}

SandboxOutcome enter_chroot(const std::string& dir, const SandboxHooks& hooks) {
  // A supervisor stays outside too: it unmounts (host mode) and removes the socket.
  block_sigchld(true);
  std::fflush(nullptr);
  const pid_t server = ::fork();
  if (server < 0) return error(err_line("fork", ""));
  if (server > 0) {
    if (hooks.in_helper) hooks.in_helper();
    SandboxOutcome o;
    o.kind = SandboxOutcome::kExited;
    o.status = supervise(server, hooks.on_signal);
    return o;
  }
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  block_sigchld(false);
  SandboxOutcome o;
  // Only the server's own /proc/self: the host's /proc (its /proc/1/root, every host
  // process) must not be one openat() away from a chrooted server.
  o.proc.reset(::open("/proc/self", O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!o.proc.valid()) return error(err_line("cannot open /proc/self", ""));
  if (::chdir(dir.c_str()) != 0) return error(err_line("cannot enter " + dir, ""));
  if (::chroot(".") != 0) {
    return error(err_line("cannot chroot into " + dir, " (run as root, or use --sandbox none)"));
  }
  if (::chdir("/") != 0) return error(err_line("cannot chdir to the new root", ""));
  o.root.reset(::open("/", O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!o.root.valid()) return error(err_line("cannot open the new root", ""));
  return o;
}

}  // namespace

SandboxOutcome enter_sandbox(SandboxMode mode, const std::string& shared_dir, bool readonly,
                             const SandboxHooks& hooks) {
  switch (mode) {
    case SandboxMode::kNone:
      return {};
    case SandboxMode::kChroot:
      return enter_chroot(shared_dir, hooks);
    case SandboxMode::kNamespace:
      return enter_namespace(shared_dir, readonly, hooks);
  }
  return {};
}

}  // namespace pfs::daemon
