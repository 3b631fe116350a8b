#include "core/passthrough/security_context.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <utility>

#include "core/passthrough/scoped_fd.h"

namespace pfs::passthrough {
namespace {

constexpr std::string_view kUnlabeled = "unlabeled";

// A task may write only its own attr files, hence one fd per thread.
thread_local ScopedFd t_fscreate;
int injected_fault(SecurityContextStep step) {
  SecurityContextFaultHook& hook = security_context_fault_hook_slot();
  return hook ? hook(step) : 0;
}

Result<int> fscreate_fd(int proc_self_fd) {
  if (!t_fscreate.valid()) {
    // Relative to /proc/self: this thread's own task directory.
    char path[64];
    std::snprintf(path, sizeof path, "task/%ld/attr/fscreate", static_cast<long>(::gettid()));
    // Safe: openat only reads the path built above; the result is checked.
    const int fd = proc_self_fd >= 0
                       ? ::openat(proc_self_fd, path, O_WRONLY | O_CLOEXEC)
                       : ::open("/proc/thread-self/attr/fscreate", O_WRONLY | O_CLOEXEC);
    if (fd < 0) return last_errno();
    t_fscreate.reset(fd);
  }
  return t_fscreate.get();
}

}  // namespace

Result<ScopedSecurityContext> ScopedSecurityContext::enter(std::string_view ctx, int proc_self_fd) {
  if (const size_t nul = ctx.find('\0'); nul != std::string_view::npos) ctx = ctx.substr(0, nul);
  if (ctx.empty() || ctx == kUnlabeled) return ScopedSecurityContext();

  const int fault = injected_fault(SecurityContextStep::kEnter);
  if (fault > 0) return Errno{fault};
  if (fault != kPretendSuccess) {
    auto fd = fscreate_fd(proc_self_fd);
    if (!fd) return Errno{fd.error()};
    // The kernel takes the context in one write, NUL included (as libselinux does).
    const std::string value(ctx);
    // Safe: write only reads value.size() + 1 bytes of `value` (c_str() holds the NUL).
    const ssize_t n = ::write(*fd, value.c_str(), value.size() + 1);
    if (n < 0) return last_errno();
  }
  ScopedSecurityContext scoped;
  scoped.active_ = true;
  return scoped;
}

ScopedSecurityContext::~ScopedSecurityContext() { reset(); }

ScopedSecurityContext::ScopedSecurityContext(ScopedSecurityContext&& other) noexcept
    : active_(std::exchange(other.active_, false)) {}

ScopedSecurityContext& ScopedSecurityContext::operator=(ScopedSecurityContext&& other) noexcept {
  if (this != &other) {
    reset();
    active_ = std::exchange(other.active_, false);
  }
  return *this;
}

void ScopedSecurityContext::reset() {
  if (!std::exchange(active_, false)) return;
  int err = injected_fault(SecurityContextStep::kRestore);
  // An empty write restores the default creation context. Safe: reads no memory.
  if (err == 0 && (!t_fscreate.valid() || ::write(t_fscreate.get(), nullptr, 0) < 0)) {
    err = t_fscreate.valid() ? errno : EBADF;
  }
  if (err > 0) {
    std::fprintf(stderr,
                 "pfs: FATAL: cannot restore the default security context (%s); stopping so "
                 "that no file is created with a guest's label\n",
                 std::strerror(err));
    std::fflush(stderr);
    std::abort();
  }
}

SecurityContextFaultHook& security_context_fault_hook_slot() {
  thread_local SecurityContextFaultHook hook;
  return hook;
}

}  // namespace pfs::passthrough
