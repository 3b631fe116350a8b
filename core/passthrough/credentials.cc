#include "core/passthrough/credentials.h"

#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <utility>

namespace pfs::passthrough {
namespace {

// glibc's setresuid()/setresgid() change every thread of the process (POSIX demands
// it; glibc signals each thread to do the same). We want only this thread, so we make
// the raw syscalls. (setfsuid/setfsgid would also be per-thread but cannot report
// errors.) 32-bit ARM spells them with a 32 suffix.
#if defined(__arm__)
constexpr long kSetresuid = SYS_setresuid32;
constexpr long kSetresgid = SYS_setresgid32;
constexpr long kGeteuid = SYS_geteuid32;
constexpr long kGetegid = SYS_getegid32;
#else
constexpr long kSetresuid = SYS_setresuid;
constexpr long kSetresgid = SYS_setresgid;
constexpr long kGeteuid = SYS_geteuid;
constexpr long kGetegid = SYS_getegid;
#endif

// The thread's own effective ids, read once per thread: every ScopedCredentials puts
// them back before it ends, so they are the values in force between requests.
// Safe: geteuid/getegid take no arguments and cannot fail.
thread_local const uid_t t_euid = static_cast<uid_t>(::syscall(kGeteuid));
thread_local const gid_t t_egid = static_cast<gid_t>(::syscall(kGetegid));

// Sets this thread's effective id with a raw setres[ug]id(-1, id, -1).
int set_effective(CredentialsStep step, long nr, unsigned id) {
  if (CredentialsFaultHook& hook = credentials_fault_hook_slot()) {
    if (int e = hook(step)) return e;
  }
  // Safe: the syscall reads no memory; the result is checked. -1 keeps real/saved ids.
  if (::syscall(nr, -1L, static_cast<long>(id), -1L) != 0) return last_errno().value;
  return 0;
}

// A worker that cannot get its own ids back must not serve another request with
// the guest's: stop the whole process, loudly.
[[noreturn]] void die_restoring(const char* what, unsigned id, int err) {
  std::fprintf(stderr,
               "pfs: FATAL: cannot restore the worker's %s %u (%s); stopping so that no request "
               "runs with a guest's credentials\n",
               what, id, std::strerror(err));
  std::fflush(stderr);
  std::abort();
}

}  // namespace

Result<ScopedCredentials> ScopedCredentials::set(uid_t uid, gid_t gid) {
  if (Status s = check_caller_ids(uid, gid); s != kOk) return Errno{s};
  ScopedCredentials creds;
  if (gid != t_egid) {
    if (int e = set_effective(CredentialsStep::kSetGid, kSetresgid, gid)) return Errno{e};
    creds.gid_changed_ = true;
  }
  if (uid != t_euid) {
    // On failure `creds` goes out of scope and puts the gid back.
    if (int e = set_effective(CredentialsStep::kSetUid, kSetresuid, uid)) return Errno{e};
    creds.uid_changed_ = true;
  }
  return creds;
}

ScopedCredentials::~ScopedCredentials() { restore(); }

ScopedCredentials::ScopedCredentials(ScopedCredentials&& other) noexcept
    : uid_changed_(std::exchange(other.uid_changed_, false)),
      gid_changed_(std::exchange(other.gid_changed_, false)) {}

void ScopedCredentials::restore() {
  // The uid goes back first: only then may this thread change its gid again.
  if (std::exchange(uid_changed_, false)) {
    if (int e = set_effective(CredentialsStep::kRestoreUid, kSetresuid, t_euid)) {
      die_restoring("euid", static_cast<unsigned>(t_euid), e);
    }
  }
  if (std::exchange(gid_changed_, false)) {
    if (int e = set_effective(CredentialsStep::kRestoreGid, kSetresgid, t_egid)) {
      die_restoring("egid", static_cast<unsigned>(t_egid), e);
    }
  }
}

CredentialsFaultHook& credentials_fault_hook_slot() {
  thread_local CredentialsFaultHook hook;
  return hook;
}

}  // namespace pfs::passthrough
