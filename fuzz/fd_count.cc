#include "fuzz/fd_count.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>

#include "fuzz/oracles.h"

namespace pfs::fuzz {
namespace {

bool stat_count(size_t* out) {
  struct stat st {};
  if (::stat("/proc/self/fd", &st) != 0 || st.st_size <= 0) return false;
  *out = static_cast<size_t>(st.st_size);
  return true;
}

// count_open_fds() counts the fd it lists with; stat() opens none.
size_t listed_count() { return count_open_fds() - 1; }

// The shortcut must agree with a listing, before and after one more fd is opened.
bool stat_counts_fds() {
  size_t before = 0, after = 0;
  if (!stat_count(&before) || before != listed_count()) return false;
  const int extra = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (extra < 0) return false;
  const bool ok = stat_count(&after) && after == before + 1 && after == listed_count();
  ::close(extra);
  return ok;
}

}  // namespace

bool open_fd_count_is_fast() {
  static const bool fast = [] {
    const bool yes = stat_counts_fds();
    if (!yes) {
      std::fputs(
          "fd_count: stat(/proc/self/fd) gives no fd count on this kernel (< 6.2?); "
          "listing /proc/self/fd instead (slower)\n",
          stderr);
    }
    return yes;
  }();
  return fast;
}

size_t open_fd_count() {
  size_t n = 0;
  if (open_fd_count_is_fast() && stat_count(&n)) return n;
  return listed_count();
}

void FastFdBaseline::check(const char* when) const {
  const size_t now = open_fd_count();
  if (now != baseline_) {
    oracle_fail("fd count %zu %s, baseline %zu: %s", now, when, baseline_,
                now > baseline_ ? "an fd leaked" : "an fd of the process was closed");
  }
}

}  // namespace pfs::fuzz
