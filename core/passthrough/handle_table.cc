#include "core/passthrough/handle_table.h"

namespace pfs::passthrough {

fuse::Handle HandleTable::insert(fuse::Inode inode, ScopedFd fd) {
  const fuse::Handle handle = next_handle_.fetch_add(1, std::memory_order_relaxed);
  auto data = std::make_shared<HandleData>(inode, std::move(fd));
  std::unique_lock lock(mu_);
  handles_.emplace(handle, std::move(data));
  return handle;
}

std::shared_ptr<HandleData> HandleTable::find(fuse::Handle handle, fuse::Inode inode) const {
  std::shared_lock lock(mu_);
  auto it = handles_.find(handle);
  if (it == handles_.end() || it->second->inode != inode) return nullptr;
  return it->second;
}

bool HandleTable::remove(fuse::Handle handle, fuse::Inode inode) {
  std::shared_ptr<HandleData> gone;  // closed outside the lock
  std::unique_lock lock(mu_);
  auto it = handles_.find(handle);
  if (it == handles_.end() || it->second->inode != inode) return false;
  gone = std::move(it->second);
  handles_.erase(it);
  lock.unlock();
  return true;
}

void HandleTable::clear() {
  std::unordered_map<fuse::Handle, std::shared_ptr<HandleData>> gone;
  std::unique_lock lock(mu_);
  gone.swap(handles_);
}

size_t HandleTable::size() const {
  std::shared_lock lock(mu_);
  return handles_.size();
}

}  // namespace pfs::passthrough
