#include "core/passthrough/casefold_lookup.h"

#include <fcntl.h>

#include <cerrno>
#include <utility>

#include "core/passthrough/dir_reader.h"

namespace pfs::passthrough {
namespace {

char ascii_lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

bool equal_ignoring_ascii_case(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (ascii_lower(a[i]) != ascii_lower(b[i])) return false;
  }
  return true;
}

// Stops the listing at the first match and opens it there, while the entry's name
// (NUL-terminated in the getdents buffer) is still alive.
class MatchSink : public fuse::DirSink {
 public:
  MatchSink(int dir_fd, std::string_view wanted) : dir_fd_(dir_fd), wanted_(wanted) {}

  bool add(const fuse::DirEntry& entry) override {
    if (entry.name == "." || entry.name == ".." ||
        !equal_ignoring_ascii_case(entry.name, wanted_)) {
      return true;
    }
    // Safe: openat only reads the NUL-terminated name; the result is checked.
    const int fd = ::openat(dir_fd_, entry.name.data(), O_PATH | O_NOFOLLOW | O_CLOEXEC);
    result_ = fd >= 0 ? Result<ScopedFd>(ScopedFd(fd)) : Result<ScopedFd>(last_errno());
    return false;
  }

  Result<ScopedFd> take() { return std::move(result_); }

 private:
  int dir_fd_;
  std::string_view wanted_;
  Result<ScopedFd> result_{Errno{ENOENT}};
};

}  // namespace

Result<ScopedFd> ascii_casefold_lookup(int readable_dir_fd, std::string_view name) {
  if (name.empty()) return Errno{ENOENT};
  MatchSink sink(readable_dir_fd, name);
  if (const Status s = read_dir(readable_dir_fd, 0, sink); s != kOk) return Errno{s};
  return sink.take();
}

}  // namespace pfs::passthrough
