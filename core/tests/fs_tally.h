// What a PassthroughFs holds at one moment: inode table entries, open handles and
// this process's open descriptors. A failed operation must leave all three as it
// found them (it gives back every reference, handle and fd it took).
#pragma once

#include <cstddef>
#include <ostream>

#include "core/passthrough/passthrough_fs.h"
#include "core/tests/fd_count.h"

namespace pfs::testing {

struct FsTally {
  size_t inodes = 0;
  size_t handles = 0;
  size_t fds = 0;
  bool operator==(const FsTally&) const = default;
};

inline FsTally tally(const passthrough::PassthroughFs& fs) {
  return FsTally{fs.inodes().size(), fs.handles().size(), open_fd_count()};
}

inline std::ostream& operator<<(std::ostream& os, const FsTally& t) {
  return os << "{inodes " << t.inodes << ", handles " << t.handles << ", fds " << t.fds << "}";
}

}  // namespace pfs::testing
