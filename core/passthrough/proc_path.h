// "self/fd/N" relative to an fd of /proc: how the seed reaches a file through its
// O_PATH descriptor when no *at() call takes the descriptor itself. Formatted into
// a fixed buffer (no allocation on the request path).
#pragma once

#include <array>
#include <cstdio>

namespace pfs::passthrough {

class ProcFdPath {
 public:
  explicit ProcFdPath(int fd) { std::snprintf(buf_.data(), buf_.size(), "self/fd/%d", fd); }
  const char* c_str() const { return buf_.data(); }

 private:
  std::array<char, 32> buf_{};
};

}  // namespace pfs::passthrough
