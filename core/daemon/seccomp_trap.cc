// The SIGSYS reporter of `--seccomp trap`. The handler runs on a thread that just
// made a forbidden syscall, possibly inside malloc or with a lock held, so it uses
// only what is safe there: a name table filled before the filter went in, write(2),
// backtrace() (whose one lazy step, loading libgcc_s, was done at install time),
// backtrace_symbols_fd() (no malloc) and exit_group(2) (or abort(3), for the fuzzers).
#include "core/daemon/seccomp_trap.h"

#include <execinfo.h>
#include <seccomp.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string>

namespace pfs::daemon {
namespace {

constexpr int kMaxSyscall = 512;  // x86_64 numbers are below 460 today
const char* g_names[kMaxSyscall];
const char* g_who = "pfsd";
bool g_abort = false;

void put(const char* s) {
  // Safety: write(2) is async-signal-safe; a short write only truncates the report.
  (void)!::write(STDERR_FILENO, s, std::strlen(s));
}

// Decimal, without snprintf (not async-signal-safe).
void put_int(long v) {
  char buf[24];
  char* p = buf + sizeof buf;
  *--p = '\0';
  const bool neg = v < 0;
  unsigned long u = neg ? 0UL - static_cast<unsigned long>(v) : static_cast<unsigned long>(v);
  do {
    *--p = static_cast<char>('0' + u % 10);
    u /= 10;
  } while (u != 0);
  if (neg) *--p = '-';
  put(p);
}

void on_sigsys(int, siginfo_t* info, void*) {
  const int nr = info->si_syscall;
  const char* name = (nr >= 0 && nr < kMaxSyscall && g_names[nr] != nullptr) ? g_names[nr] : "?";
  put(g_who);
  put(": seccomp: forbidden syscall ");
  put(name);
  put(" (");
  put_int(nr);
  put("); not on the allow-list (core/daemon/seccomp_policy.cc). Stack:\n");
  void* frames[64];
  const int n = ::backtrace(frames, 64);
  ::backtrace_symbols_fd(frames, n, STDERR_FILENO);
  put(g_who);
  put(g_abort ? ": seccomp: aborting" : ": seccomp: exiting");
  put(" (frames without names: addr2line -Cfe BINARY +OFFSET)\n");
  if (g_abort) {
    // SIGABRT goes to the fuzz engine's crash handler, which saves the input.
    std::abort();
  }
  // exit_group itself, not _exit(): a sanitizer's _exit interceptor runs its leak check
  // first, whose syscalls (ptrace, sigaltstack...) the filter would refuse again.
  ::syscall(SYS_exit_group, 1);
  __builtin_unreachable();
}

}  // namespace

std::string install_sigsys_reporter(const char* who, bool then_abort) {
  g_who = who;
  g_abort = then_abort;
  for (int nr = 0; nr < kMaxSyscall; ++nr) {
    // libseccomp returns a malloc'd copy (freed never: the table lives as long as
    // the process, and the handler may need any entry).
    if (g_names[nr] == nullptr)
      g_names[nr] = seccomp_syscall_resolve_num_arch(SCMP_ARCH_NATIVE, nr);
  }
  // The first backtrace() dlopens libgcc_s (open, mmap, ...): do it now, while
  // those syscalls are allowed, not in the handler.
  void* frames[4];
  (void)::backtrace(frames, 4);
  struct sigaction sa {};
  sa.sa_sigaction = on_sigsys;
  sa.sa_flags = SA_SIGINFO;
  sigemptyset(&sa.sa_mask);
  // Safety: installs our handler for SIGSYS; checked. SIGSYS must not be blocked
  // either (a blocked SIGSYS from seccomp kills the thread's process silently).
  if (::sigaction(SIGSYS, &sa, nullptr) != 0) {
    return std::string(who) + ": cannot install the SIGSYS handler: " + std::strerror(errno);
  }
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGSYS);
  if (::pthread_sigmask(SIG_UNBLOCK, &set, nullptr) != 0) {
    return std::string(who) + ": cannot unblock SIGSYS";
  }
  return "";
}

}  // namespace pfs::daemon
