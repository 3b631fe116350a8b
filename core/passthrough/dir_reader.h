// Directory listing with getdents64: a bounds-checked parser of the kernel's
// linux_dirent64 records, and read_dir(), which feeds a fuse::DirSink.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

#include "core/fuse/filesystem.h"
#include "core/fuse/result.h"

namespace pfs::passthrough {

// Walks the records of one getdents64 buffer. Each record must have
// d_reclen >= header + 1, fit in what is left of the buffer, and hold a non-empty
// name with its NUL inside the record; the first record that does not ends the walk
// (malformed() then says so). Nothing outside `buf` is ever read. Entry names point
// into `buf` and are NUL-terminated there (name.data()[name.size()] == '\0').
class DirentParser {
 public:
  explicit DirentParser(std::span<const uint8_t> buf) : buf_(buf) {}

  // The next entry, or nullopt at the end of the buffer or at a malformed record.
  std::optional<fuse::DirEntry> next();
  bool malformed() const { return malformed_; }
  // Bytes of whole, valid records returned so far.
  size_t consumed() const { return pos_; }

 private:
  std::span<const uint8_t> buf_;
  size_t pos_ = 0;
  bool malformed_ = false;
};

// Bytes of a linux_dirent64 before its name: d_ino (8), d_off (8), d_reclen (2),
// d_type (1).
inline constexpr size_t kDirentHeaderSize = 19;

// Seeks `dir_fd` (a directory opened for reading) to `offset` (0 or the `offset` of
// an entry produced before) and hands entries to `sink` until it refuses one (that
// entry is not consumed: calling again with the offset of the last accepted entry
// resumes exactly there) or the directory ends. "." and ".." are produced like any
// other entry. The fd's position is shared state: callers serialise per fd.
// Returns kOk, the errno of lseek/getdents64, or EIO when the kernel's buffer does
// not parse and nothing has been produced yet (after some entries it just stops).
Status read_dir(int dir_fd, uint64_t offset, fuse::DirSink& sink);

}  // namespace pfs::passthrough
