// Per-thread effective uid/gid for the duration of one request, so that files the
// request creates get the caller's owner and the kernel checks the caller's rights.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>

#include "core/fuse/result.h"
#include "core/passthrough/scoped_hook.h"

namespace pfs::passthrough {

// uid or gid -1 (0xFFFFFFFF) is "leave unchanged" to setresuid/fchown, so a request
// carrying it would run as (or create files for) the daemon itself. The kernel never
// sends it (it refuses unmappable ids with EOVERFLOW); a hostile guest can. EPERM
// for such a caller, else kOk.
inline Status check_caller_ids(uint32_t uid, uint32_t gid) {
  return (uid == UINT32_MAX || gid == UINT32_MAX) ? EPERM : kOk;
}

class ScopedCredentials {
 public:
  ScopedCredentials() = default;  // changes nothing
  ~ScopedCredentials();
  ScopedCredentials(ScopedCredentials&& other) noexcept;
  ScopedCredentials& operator=(ScopedCredentials&&) = delete;  // nothing needs it
  ScopedCredentials(const ScopedCredentials&) = delete;
  ScopedCredentials& operator=(const ScopedCredentials&) = delete;

  // Switches the calling thread (only it) to effective `uid`/`gid`: gid first, since
  // after dropping the uid we could no longer change it. A value equal to the thread's
  // original one is left alone. uid or gid -1 is refused with EPERM (see
  // check_caller_ids). The destructor switches back (uid first, then gid); if that
  // fails the thread would go on serving with the guest's ids, so the process stops
  // with a message instead (std::abort). Must be destroyed on the thread that made
  // it; do not nest on one thread.
  static Result<ScopedCredentials> set(uid_t uid, gid_t gid);

 private:
  void restore();

  bool uid_changed_ = false;
  bool gid_changed_ = false;
};

// Test-only failure injection, as for TempDir: a non-zero return is taken as the
// errno of that step's syscall (the real call is skipped).
enum class CredentialsStep { kSetGid, kSetUid, kRestoreUid, kRestoreGid };
using CredentialsFaultHook = std::function<int(CredentialsStep)>;

CredentialsFaultHook& credentials_fault_hook_slot();
using ScopedCredentialsFaultHook = ScopedHook<CredentialsFaultHook, credentials_fault_hook_slot>;

}  // namespace pfs::passthrough
