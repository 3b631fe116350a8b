#include "core/passthrough/inode_table.h"

#include <mutex>

namespace pfs::passthrough {

FileType file_type_of(mode_t mode) {
  switch (mode & S_IFMT) {
    case S_IFREG:
      return FileType::kRegular;
    case S_IFDIR:
      return FileType::kDirectory;
    default:
      return FileType::kOther;
  }
}

void InodeTable::reset_with_root(ScopedFd fd, const struct stat& st) {
  const InodeKey key{st.st_ino, st.st_dev};
  auto root = std::make_shared<InodeData>(fuse::kRootInode, std::move(fd), file_type_of(st.st_mode),
                                          key, 2);
  std::unique_lock lock(mu_);
  by_inode_.clear();
  by_key_.clear();
  by_inode_.emplace(fuse::kRootInode, std::move(root));
  by_key_.emplace(key, fuse::kRootInode);
  open_ = true;
}

void InodeTable::clear() {
  std::unique_lock lock(mu_);
  open_ = false;
  by_inode_.clear();
  by_key_.clear();
}

std::shared_ptr<InodeData> InodeTable::find(fuse::Inode inode) const {
  std::shared_lock lock(mu_);
  auto it = by_inode_.find(inode);
  return it == by_inode_.end() ? nullptr : it->second;
}

fuse::Inode InodeTable::add_or_ref(ScopedFd fd, const struct stat& st) {
  const InodeKey key{st.st_ino, st.st_dev};
  {
    // Fast path: the file is known. Taking a reference under the shared lock is
    // safe because entries are only removed under the exclusive lock.
    std::shared_lock lock(mu_);
    auto it = by_key_.find(key);
    if (it != by_key_.end()) {
      by_inode_.at(it->second)->refcount.fetch_add(1, std::memory_order_relaxed);
      return it->second;
    }
  }
  std::unique_lock lock(mu_);
  if (!open_) return kNoInode;  // `fd` is closed on return
  auto it = by_key_.find(key);
  if (it != by_key_.end()) {
    by_inode_.at(it->second)->refcount.fetch_add(1, std::memory_order_relaxed);
    return it->second;
  }
  const fuse::Inode inode = next_inode_.fetch_add(1, std::memory_order_relaxed);
  by_inode_.emplace(
      inode, std::make_shared<InodeData>(inode, std::move(fd), file_type_of(st.st_mode), key, 1));
  by_key_.emplace(key, inode);
  return inode;
}

void InodeTable::forget_locked(fuse::Inode inode, uint64_t count) {
  auto it = by_inode_.find(inode);
  if (it == by_inode_.end()) return;
  InodeData& data = *it->second;
  // Other threads only ever add references (under the shared lock), so a CAS loop
  // makes the saturating subtraction exact.
  uint64_t old = data.refcount.load(std::memory_order_relaxed);
  uint64_t now = 0;
  do {
    now = old > count ? old - count : 0;
  } while (!data.refcount.compare_exchange_weak(old, now, std::memory_order_acq_rel));
  if (now == 0 && inode != fuse::kRootInode) {
    by_key_.erase(data.key);
    by_inode_.erase(it);
  }
}

void InodeTable::forget(fuse::Inode inode, uint64_t count) {
  std::unique_lock lock(mu_);
  forget_locked(inode, count);
}

void InodeTable::forget_many(std::span<const std::pair<fuse::Inode, uint64_t>> items) {
  std::unique_lock lock(mu_);
  for (const auto& [inode, count] : items) forget_locked(inode, count);
}

size_t InodeTable::size() const {
  std::shared_lock lock(mu_);
  return by_inode_.size();
}

uint64_t InodeTable::refcount(fuse::Inode inode) const {
  std::shared_lock lock(mu_);
  auto it = by_inode_.find(inode);
  return it == by_inode_.end() ? 0 : it->second->refcount.load(std::memory_order_relaxed);
}

std::string InodeTable::check_invariants() const {
  std::shared_lock lock(mu_);
  if (by_inode_.find(fuse::kRootInode) == by_inode_.end() && !by_inode_.empty()) {
    return "root inode missing";
  }
  if (by_inode_.size() != by_key_.size()) {
    return "key maps differ in size: " + std::to_string(by_inode_.size()) + " inodes vs " +
           std::to_string(by_key_.size()) + " host keys";
  }
  for (const auto& [inode, data] : by_inode_) {
    if (data->inode != inode) return "entry " + std::to_string(inode) + " holds another number";
    auto k = by_key_.find(data->key);
    if (k == by_key_.end() || k->second != inode) {
      return "inode " + std::to_string(inode) + " not reachable by its host key";
    }
    if (inode != fuse::kRootInode && data->refcount.load(std::memory_order_relaxed) == 0) {
      return "inode " + std::to_string(inode) + " kept with refcount 0";
    }
    if (!data->fd.valid()) return "inode " + std::to_string(inode) + " without an fd";
  }
  return {};
}

}  // namespace pfs::passthrough
