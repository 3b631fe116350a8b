// DirSinks that encode directory entries straight into a READDIR or READDIRPLUS
// reply: fuse_dirent / fuse_direntplus records, each padded to 8 bytes.
#pragma once

#include <linux/fuse.h>

#include <cstddef>
#include <functional>
#include <string_view>

#include "core/fuse/filesystem.h"
#include "core/fuse/reader_writer.h"

namespace pfs::fuse {

// The size of one record with a name of `namelen` bytes.
size_t dirent_size(size_t namelen);
size_t direntplus_size(size_t namelen);

class DirentEncoder : public DirSink {
 public:
  // Writes at most `budget` bytes into `out`.
  DirentEncoder(Writer& out, size_t budget) : out_(out), budget_(budget) {}
  bool add(const DirEntry& entry) override;
  size_t bytes() const { return used_; }
  size_t entries() const { return entries_; }
  // An entry was refused for lack of room.
  bool full() const { return full_; }

 private:
  Writer& out_;
  size_t budget_;
  bool full_ = false;
  size_t used_ = 0;
  size_t entries_ = 0;
};

// For READDIRPLUS: looks up every entry but "." and ".." in `dir` so that the
// record carries its fuse_entry_out (one reference taken per record, returned by
// the client with FORGET). An entry whose lookup fails, or whose name is not a
// valid entry name, is still listed, with a zeroed fuse_entry_out (nodeid 0): the
// kernel then lists the name without caching attributes, so a file removed between
// the directory read and the lookup does not break the listing. The room for a
// record is checked before the lookup; if a record still cannot be written the
// reference is returned with forget() so none leaks.
class DirentPlusEncoder : public DirSink {
 public:
  DirentPlusEncoder(Writer& out, size_t budget, FileSystem& fs, const Context& ctx, Inode dir)
      : out_(out), budget_(budget), fs_(fs), ctx_(ctx), dir_(dir) {}
  bool add(const DirEntry& entry) override;
  size_t bytes() const { return used_; }
  size_t entries() const { return entries_; }
  bool full() const { return full_; }

 private:
  Writer& out_;
  size_t budget_;
  bool full_ = false;
  FileSystem& fs_;
  const Context& ctx_;
  Inode dir_;
  size_t used_ = 0;
  size_t entries_ = 0;
};

}  // namespace pfs::fuse
