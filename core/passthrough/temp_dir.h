// A hidden, randomly named directory that is removed again unless the caller keeps it.
// mkdir() builds the new directory here (mode, owner, xattrs) and then renames it into
// place, so a failure half way never leaves a half-made directory behind. The
// directory must stay empty: removal is a plain unlinkat(AT_REMOVEDIR).
#pragma once

#include <sys/types.h>

#include <functional>
#include <string>
#include <utility>

#include "core/fuse/result.h"
#include "core/passthrough/inode_table.h"
#include "core/passthrough/scoped_fd.h"
#include "core/passthrough/scoped_hook.h"

namespace pfs::passthrough {

class TempDir {
 public:
  TempDir() = default;  // empty: owns nothing, removes nothing
  ~TempDir();
  TempDir(TempDir&& other) noexcept;
  TempDir& operator=(TempDir&&) = delete;  // nothing needs it
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  // Makes "." + a random alphanumeric name in the directory `parent_fd` (an O_PATH fd
  // is enough) with mkdirat(`mode`) (the process umask applies, as for any mkdir),
  // and opens it O_DIRECTORY|O_NOFOLLOW|O_CLOEXEC. What it opened is verified to be
  // the directory it made (a directory on the parent's file system, owned by this
  // thread's euid, empty); anything else, e.g. the name swapped for a symlink or for
  // another directory by a racing client, fails with EIO and is left alone.
  // `parent_fd` must outlive the TempDir.
  static Result<TempDir> create(int parent_fd, mode_t mode);

  // The name inside the parent; c_str() is ready for a syscall. Empty when empty.
  const std::string& basename() const { return name_; }
  int fd() const { return fd_.get(); }
  bool armed() const { return fd_.valid(); }

  // Keeps the directory: returns its name and fd and leaves this TempDir empty.
  std::pair<std::string, ScopedFd> into_inner();

 private:
  TempDir(int parent_fd, std::string name, ScopedFd fd, InodeKey key)
      : parent_fd_(parent_fd), name_(std::move(name)), fd_(std::move(fd)), key_(key) {}
  void remove();

  int parent_fd_ = -1;
  std::string name_;
  ScopedFd fd_;
  InodeKey key_;  // what the name held when we made it: removal checks it still does
};

// Test-only failure injection. Each step of TempDir asks the hook (when one is
// installed on the calling thread) before doing its syscall; a non-zero return is
// taken as that syscall's errno and the real call is skipped. Installing nothing
// (the default) makes this inert. kMkdir may be asked up to 64 times (return EEXIST
// to exercise the retry); kRemove is asked by the destructor.
// kOpen is asked between the mkdirat and the openat, exactly where a racing client
// would swap the name: a hook may do that swap itself and return 0 to let the real
// openat run.
enum class TempDirStep { kRandomSeed, kMkdir, kOpen, kRemove };
using TempDirFaultHook = std::function<int(TempDirStep)>;

TempDirFaultHook& temp_dir_fault_hook_slot();
using ScopedTempDirFaultHook = ScopedHook<TempDirFaultHook, temp_dir_fault_hook_slot>;

}  // namespace pfs::passthrough
