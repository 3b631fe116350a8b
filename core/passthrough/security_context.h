// The SELinux context new files get, per thread, for one request that carries one
// (FUSE_SECURITY_CTX): written to /proc/thread-self/attr/fscreate and reset after.
#pragma once

#include <functional>
#include <string_view>

#include "core/fuse/result.h"
#include "core/passthrough/scoped_hook.h"

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
  // is opened once per thread, relative to `proc_self_fd` (an fd of /proc/self, as the
  // core holds it: in a sandbox the shared directory is "/", and an absolute /proc
  // path would resolve inside it) or at /proc when it is -1; failure
  // to open it, or to write the context, is returned as that errno.
  // Must be destroyed on the thread that made it. If the destructor cannot restore
  // the default context, later requests would create files with this guest's label,
  // so the process stops with a message instead (std::abort).
  static Result<ScopedSecurityContext> enter(std::string_view ctx, int proc_self_fd = -1);

 private:
  void reset();

  bool active_ = false;
};

// Test-only failure injection. The hook is asked before each write to fscreate; a
// positive return is taken as that write's errno, 0 runs the real write, and
// kPretendSuccess skips it as if it had worked (so tests reach the restore path on
// machines without SELinux).
enum class SecurityContextStep { kEnter, kRestore };
inline constexpr int kPretendSuccess = -1;
using SecurityContextFaultHook = std::function<int(SecurityContextStep)>;

SecurityContextFaultHook& security_context_fault_hook_slot();
using ScopedSecurityContextFaultHook =
    ScopedHook<SecurityContextFaultHook, security_context_fault_hook_slot>;

}  // namespace pfs::passthrough
