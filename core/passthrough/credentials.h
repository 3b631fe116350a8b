// Per-thread effective uid/gid for the duration of one request, so that files the
// request creates get the caller's owner and the kernel checks the caller's rights.
#pragma once

#include <sys/types.h>

#include "core/fuse/result.h"

namespace pfs::passthrough {

class ScopedCredentials {
 public:
  ScopedCredentials() = default;  // changes nothing
  ~ScopedCredentials();
  ScopedCredentials(ScopedCredentials&& other) noexcept;
  ScopedCredentials& operator=(ScopedCredentials&& other) noexcept;
  ScopedCredentials(const ScopedCredentials&) = delete;
  ScopedCredentials& operator=(const ScopedCredentials&) = delete;

  // Switches the calling thread (only it) to effective `uid`/`gid`: gid first, since
  // after dropping the uid we could no longer change it. A value equal to the thread's
  // original one is left alone. The destructor switches back (uid first, then gid).
  // Must be destroyed on the thread that made it; do not nest on one thread.
  static Result<ScopedCredentials> set(uid_t uid, gid_t gid);

 private:
  void restore();

  bool uid_changed_ = false;
  bool gid_changed_ = false;
};

}  // namespace pfs::passthrough
