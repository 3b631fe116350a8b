#include "core/passthrough/security_context.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>
#include <utility>

#include "core/passthrough/scoped_fd.h"

namespace pfs::passthrough {
namespace {

constexpr std::string_view kUnlabeled = "unlabeled";

// A task may write only its own attr files, hence one fd per thread.
thread_local ScopedFd t_fscreate;

Result<int> fscreate_fd(int proc_dir_fd) {
  if (!t_fscreate.valid()) {
    // Safe: openat only reads the constant path; the result is checked.
    const int fd = proc_dir_fd >= 0
                       ? ::openat(proc_dir_fd, "thread-self/attr/fscreate", O_WRONLY | O_CLOEXEC)
                       : ::open("/proc/thread-self/attr/fscreate", O_WRONLY | O_CLOEXEC);
    if (fd < 0) return last_errno();
    t_fscreate.reset(fd);
  }
  return t_fscreate.get();
}

}  // namespace

Result<ScopedSecurityContext> ScopedSecurityContext::enter(std::string_view ctx, int proc_dir_fd) {
  if (const size_t nul = ctx.find('\0'); nul != std::string_view::npos) ctx = ctx.substr(0, nul);
  if (ctx.empty() || ctx == kUnlabeled) return ScopedSecurityContext();

  auto fd = fscreate_fd(proc_dir_fd);
  if (!fd) return Errno{fd.error()};
  // The kernel takes the context in one write, NUL included (as libselinux does).
  const std::string value(ctx);
  // Safe: write only reads value.size() + 1 bytes of `value` (c_str() holds the NUL).
  const ssize_t n = ::write(*fd, value.c_str(), value.size() + 1);
  if (n < 0) return last_errno();
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
  // An empty write restores the default creation context. Safe: reads no memory.
  if (!t_fscreate.valid() || ::write(t_fscreate.get(), nullptr, 0) < 0) {
    std::fprintf(stderr, "pfs: failed to restore the security context: %s\n", std::strerror(errno));
  }
}

}  // namespace pfs::passthrough
