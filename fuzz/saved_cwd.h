// The process's working directory, kept as an fd: PassthroughFs may chdir (xattrs on
// special files go through /proc), and libFuzzer writes crash files relative to the
// cwd, so a target puts it back after every input and before an oracle aborts.
#pragma once

#include <fcntl.h>
#include <unistd.h>

#include <cstdlib>

#include "fuzz/oracles.h"

namespace pfs::fuzz {

class SavedCwd {
 public:
  SavedCwd() : fd_(::open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) {
    if (fd_ < 0) oracle_fail("cannot open the current directory");
  }
  ~SavedCwd() {
    if (fd_ >= 0) ::close(fd_);
  }
  SavedCwd(const SavedCwd&) = delete;
  SavedCwd& operator=(const SavedCwd&) = delete;

  void restore() const {
    if (::fchdir(fd_) != 0) std::abort();
  }

 private:
  int fd_ = -1;
};

}  // namespace pfs::fuzz
