// The fd-leak oracle of FdBaseline (oracles.h) at a fraction of its cost, for
// targets that check after every input: Linux >= 6.2 reports the number of open
// fds as the st_size of /proc/self/fd, one stat() instead of opening and listing
// the directory (which was a third of vhost_user_msgs' time). On a kernel that does
// not, the count falls back to listing, and the first call says so on stderr.
#pragma once

#include <cstddef>

namespace pfs::fuzz {

// The number of open fds of the process (not counting any fd of its own).
size_t open_fd_count();

// True when open_fd_count() uses the stat() shortcut (checked once per process).
bool open_fd_count_is_fast();

// Same contract as FdBaseline: check() aborts through oracle_fail when the count
// differs from what take() saw.
class FastFdBaseline {
 public:
  void take() { baseline_ = open_fd_count(); }
  void check(const char* when) const;

 private:
  size_t baseline_ = 0;
};

}  // namespace pfs::fuzz
