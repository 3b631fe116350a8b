// The number of file descriptors this process has open (entries of /proc/self/fd).
#pragma once

#include <cstddef>
#include <filesystem>

namespace pfs::testing {

inline size_t open_fd_count() {
  size_t n = 0;
  for (const auto& entry : std::filesystem::directory_iterator("/proc/self/fd")) {
    (void)entry;
    ++n;
  }
  return n;
}

}  // namespace pfs::testing
