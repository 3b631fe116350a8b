// "fd/N" relative to an fd of /proc/self: how the seed reaches a file through its
// O_PATH descriptor when no *at() call takes the descriptor itself. The core holds
// /proc/self, not /proc: nothing but its own process is one openat() away (in a
// chroot sandbox, /proc/1/root would be the host's root). Formatted into
// a fixed buffer (no allocation on the request path).
#pragma once

#include <array>
#include <cstdio>

namespace pfs::passthrough {

class ProcFdPath {
 public:
  explicit ProcFdPath(int fd) { std::snprintf(buf_.data(), buf_.size(), "fd/%d", fd); }
  const char* c_str() const { return buf_.data(); }

 private:
  std::array<char, 32> buf_{};
};

}  // namespace pfs::passthrough
