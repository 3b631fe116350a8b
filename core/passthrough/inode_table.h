// The inode table: our inode numbers -> an O_PATH fd of the host file, keyed a
// second time by the host's (st_ino, st_dev) so that two lookups of one file find
// one entry. Each entry counts the client's references (lookup +1, forget -n).
#pragma once

#include <sys/stat.h>

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <shared_mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/fuse/filesystem.h"
#include "core/passthrough/scoped_fd.h"

namespace pfs::passthrough {

enum class FileType { kRegular, kDirectory, kOther };
FileType file_type_of(mode_t mode);

// What add_or_ref answers when the table is closed; no FUSE inode is 0.
inline constexpr fuse::Inode kNoInode = 0;

struct InodeKey {
  ino_t ino = 0;
  dev_t dev = 0;
  auto operator<=>(const InodeKey&) const = default;
};

struct InodeData {
  InodeData(fuse::Inode inode_in, ScopedFd fd_in, FileType type_in, InodeKey key_in, uint64_t refs)
      : inode(inode_in), fd(std::move(fd_in)), type(type_in), key(key_in), refcount(refs) {}

  const fuse::Inode inode;
  const ScopedFd fd;  // O_PATH | O_NOFOLLOW: reaches exactly this host file
  const FileType type;
  const InodeKey key;
  std::atomic<uint64_t> refcount;
};

class InodeTable {
 public:
  // Inserts the root with the seed's refcount of 2; it is never removed by forget.
  // The table is open from here until clear().
  void reset_with_root(ScopedFd fd, const struct stat& st);
  // Empties and closes the table (DESTROY).
  void clear();

  std::shared_ptr<InodeData> find(fuse::Inode inode) const;

  // Takes one reference on the entry for the file `st` describes, creating it (and
  // keeping `fd`) when there is none. Returns the entry's inode number, or
  // kNoInode (and closes `fd`) when the table is closed: a request still in flight
  // when DESTROY emptied it must not leave an entry behind without a root.
  fuse::Inode add_or_ref(ScopedFd fd, const struct stat& st);

  // Drops `count` references (saturating at 0); the entry and its fd go at 0.
  void forget(fuse::Inode inode, uint64_t count);
  void forget_many(std::span<const std::pair<fuse::Inode, uint64_t>> items);

  // Introspection for tests, properties and fuzz oracles.
  size_t size() const;
  uint64_t refcount(fuse::Inode inode) const;  // 0 when absent
  // Empty when consistent: both keys agree, every entry has refcount > 0, the
  // root is present. Otherwise a description of the first problem found.
  std::string check_invariants() const;

 private:
  void forget_locked(fuse::Inode inode, uint64_t count);

  mutable std::shared_mutex mu_;
  std::unordered_map<fuse::Inode, std::shared_ptr<InodeData>> by_inode_;
  std::map<InodeKey, fuse::Inode> by_key_;
  bool open_ = false;  // under mu_
  std::atomic<fuse::Inode> next_inode_{fuse::kRootInode + 1};
};

}  // namespace pfs::passthrough
