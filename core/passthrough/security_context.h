// The SELinux context new files get, per thread, for one request that carries one
// (FUSE_SECURITY_CTX): written to /proc/thread-self/attr/fscreate and reset after.
#pragma once

#include <string_view>

#include "core/fuse/result.h"

namespace pfs::passthrough {

class ScopedSecurityContext {
 public:
  ScopedSecurityContext() = default;  // changes nothing
  ~ScopedSecurityContext();
  ScopedSecurityContext(ScopedSecurityContext&& other) noexcept;
  ScopedSecurityContext& operator=(ScopedSecurityContext&& other) noexcept;
  ScopedSecurityContext(const ScopedSecurityContext&) = delete;
  ScopedSecurityContext& operator=(const ScopedSecurityContext&) = delete;

  // Sets the calling thread's file creation context to `ctx` (up to its first NUL)
  // until destruction. An empty ctx or "unlabeled" changes nothing. The fscreate file
  // is opened once per thread, relative to `proc_dir_fd` (an fd of /proc, for a
  // sandbox where /proc is not mounted at /proc) or at /proc when it is -1; failure
  // to open it, or to write the context, is returned as that errno.
  // Must be destroyed on the thread that made it.
  static Result<ScopedSecurityContext> enter(std::string_view ctx, int proc_dir_fd = -1);

 private:
  void reset();

  bool active_ = false;
};

}  // namespace pfs::passthrough
