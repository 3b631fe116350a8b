// A cheap "has anything here changed?" for the scratch and canary trees: the
// lstat() of a fixed list of paths, compared field by field.
//
// It is sound only where change times are fine grained (multigrain timestamps:
// Linux 6.13+ on tmpfs, ext4, xfs, btrfs): once a stamp has read an inode's
// ctime, the next change to that inode (content, size, mode, owner, xattr, link
// count, inode flags, times) gets a strictly later ctime, and an entry added to,
// removed from or renamed in a directory changes the directory's mtime and ctime.
// With coarse timestamps two changes in one clock tick share a ctime, so callers
// probe with ctime_is_fine_grained() and fall back to full walks without it.
#pragma once

#include <sys/stat.h>

#include <string>
#include <vector>

namespace pfs::fuzz {

struct EntryStamp {
  bool present = false;
  struct stat st {};

  // Same inode, type and mode, owner, size, blocks, link count, mtime and ctime
  // (atime left out: reading is no change).
  bool operator==(const EntryStamp& o) const;
};

// lstat() of `path` relative to `dir_fd` ("" is the directory itself).
void take_stamp(int dir_fd, const std::string& path, EntryStamp& out);

// take_stamp() of each path, into `out` (reused: no allocation once it has the size).
void take_stamps(int dir_fd, const std::vector<std::string>& paths, std::vector<EntryStamp>& out);

// Whether a change made right after a stat() of an inode in `dir` always gets a
// new ctime there (tried a few times on a scratch file made and removed in `dir`).
bool ctime_is_fine_grained(const std::string& dir);

}  // namespace pfs::fuzz
