// Open files and directories by handle number. A handle is valid only together
// with the inode it was opened for.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <unordered_map>

#include "core/fuse/filesystem.h"
#include "core/passthrough/scoped_fd.h"

namespace pfs::passthrough {

struct HandleData {
  HandleData(fuse::Inode inode_in, ScopedFd fd_in) : inode(inode_in), fd(std::move(fd_in)) {}

  const fuse::Inode inode;
  const ScopedFd fd;
  // Serialises operations that use the fd's file position (readdir, lseek);
  // positional I/O (preadv/pwritev) does not need it.
  std::mutex position_mu;
};

class HandleTable {
 public:
  fuse::Handle insert(fuse::Inode inode, ScopedFd fd);
  // The handle's data, or nullptr when it does not exist or belongs to another inode.
  std::shared_ptr<HandleData> find(fuse::Handle handle, fuse::Inode inode) const;
  // Removes the handle when it belongs to `inode`; false otherwise.
  bool remove(fuse::Handle handle, fuse::Inode inode);
  void clear();
  size_t size() const;

 private:
  mutable std::shared_mutex mu_;
  std::unordered_map<fuse::Handle, std::shared_ptr<HandleData>> handles_;
  std::atomic<fuse::Handle> next_handle_{1};
};

}  // namespace pfs::passthrough
