// The FileSystem interface: one virtual per FUSE operation. The Server decodes a
// request, calls the matching method, and encodes what it returns. Every method has
// a default that answers ENOSYS, so a file system implements only what it supports.
//
// Conventions: a Status is 0 or a positive errno; a Result<T> a T or a positive
// errno. Names are NUL-free, non-empty byte strings already validated by the Server
// (no '/', never "." or ".."), and NUL-terminated in memory: name.data()[name.size()]
// is '\0', so they can go straight to a syscall. Callers other than the Server
// (tests, fuzzers) must keep that promise too.
#pragma once

#include <sys/stat.h>
#include <sys/statvfs.h>

#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

#include "core/fuse/reader_writer.h"
#include "core/fuse/result.h"

namespace pfs::fuse {

using Inode = uint64_t;
using Handle = uint64_t;
inline constexpr Inode kRootInode = 1;  // FUSE_ROOT_ID

// Who asked: from fuse_in_header.
struct Context {
  uint32_t uid = 0;
  uint32_t gid = 0;
  uint32_t pid = 0;
  uint64_t unique = 0;
};

struct Timeout {
  uint64_t sec = 0;
  uint32_t nsec = 0;
};

// A looked-up (or created) entry. The file system has taken one reference on
// `inode` for the client; the client returns it with FORGET.
struct Entry {
  Inode inode = 0;
  uint64_t generation = 0;
  struct stat attr {};
  Timeout entry_timeout;
  Timeout attr_timeout;
};

struct AttrReply {
  struct stat attr {};
  Timeout timeout;
};

// FOPEN_* bits for the reply's open_flags.
struct OpenReply {
  Handle handle = 0;
  uint32_t open_flags = 0;
};

struct CreateReply {
  Entry entry;
  OpenReply open;
};

// What SETATTR asks to change; `valid` holds FATTR_* bits.
struct SetattrRequest {
  uint32_t valid = 0;
  uint32_t mode = 0;
  uint32_t uid = 0;
  uint32_t gid = 0;
  uint64_t size = 0;
  int64_t atime = 0;
  uint32_t atimensec = 0;
  int64_t mtime = 0;
  uint32_t mtimensec = 0;
  std::optional<Handle> handle;  // FATTR_FH
};

// Options negotiated at INIT: FUSE_* capability bits, flags2 in the upper 32 bits.
using FsOptions = uint64_t;

// One directory entry as readdir produces it.
struct DirEntry {
  uint64_t ino = 0;     // the host inode number (d_ino), informational
  uint64_t offset = 0;  // opaque position of the *next* entry (d_off)
  uint32_t type = 0;    // DT_* value
  std::string_view name;
};

// Receives directory entries. add() returns false when the entry did not fit; the
// producer must then stop and must not count that entry as consumed.
class DirSink {
 public:
  virtual ~DirSink() = default;
  virtual bool add(const DirEntry& entry) = 0;
};

// A POSIX record lock as FUSE carries it (fuse_file_lock): [start, end], F_RDLCK,
// F_WRLCK or F_UNLCK, and the owning pid.
struct FileLock {
  uint64_t start = 0;
  uint64_t end = 0;
  uint32_t type = 0;
  uint32_t pid = 0;
};

struct IoctlReply {
  int32_t result = 0;   // the ioctl's return value
  size_t out_size = 0;  // bytes placed in the out buffer
};

class FileSystem {
 public:
  virtual ~FileSystem() = default;

  // `capable` is what the client offers; return what to enable (a subset).
  virtual Result<FsOptions> init(FsOptions capable) {
    (void)capable;
    return FsOptions{0};
  }
  virtual void destroy() {}

  virtual Result<Entry> lookup(const Context&, Inode parent, std::string_view name);
  virtual void forget(const Context&, Inode inode, uint64_t count);
  virtual void batch_forget(const Context&, std::span<const std::pair<Inode, uint64_t>> items);
  virtual Result<AttrReply> getattr(const Context&, Inode inode, std::optional<Handle> handle);
  virtual Result<AttrReply> setattr(const Context&, Inode inode, const SetattrRequest& req);
  // Writes the target into `out` (PATH_MAX bytes); returns its length.
  virtual Result<size_t> readlink(const Context&, Inode inode, std::span<char> out);
  virtual Result<Entry> symlink(const Context&, std::string_view target, Inode parent,
                                std::string_view name, std::string_view security_ctx);
  virtual Result<Entry> mknod(const Context&, Inode parent, std::string_view name, uint32_t mode,
                              uint32_t rdev, uint32_t umask, std::string_view security_ctx);
  virtual Result<Entry> mkdir(const Context&, Inode parent, std::string_view name, uint32_t mode,
                              uint32_t umask, std::string_view security_ctx);
  virtual Status unlink(const Context&, Inode parent, std::string_view name);
  virtual Status rmdir(const Context&, Inode parent, std::string_view name);
  // `flags` are RENAME_* (0 for plain RENAME).
  virtual Status rename(const Context&, Inode olddir, std::string_view oldname, Inode newdir,
                        std::string_view newname, uint32_t flags);
  virtual Result<Entry> link(const Context&, Inode inode, Inode newparent,
                             std::string_view newname);
  virtual Result<OpenReply> open(const Context&, Inode inode, uint32_t flags);
  // Reads up to `size` bytes at `offset` straight into `out` (Writer::read_from_fd).
  virtual Result<size_t> read(const Context&, Inode inode, Handle handle, Writer& out,
                              uint32_t size, uint64_t offset, uint32_t flags);
  // Writes `size` bytes from `in` at `offset` (Reader::write_to_fd).
  virtual Result<size_t> write(const Context&, Inode inode, Handle handle, Reader& in,
                               uint32_t size, uint64_t offset, uint32_t write_flags,
                               uint32_t flags);
  virtual Result<struct statvfs> statfs(const Context&, Inode inode);
  virtual Status release(const Context&, Inode inode, uint32_t flags, Handle handle, bool flush,
                         bool flock_release, std::optional<uint64_t> lock_owner);
  virtual Status fsync(const Context&, Inode inode, bool datasync, Handle handle);
  virtual Status setxattr(const Context&, Inode inode, std::string_view name,
                          std::span<const uint8_t> value, uint32_t flags);
  // `value.size()` is the caller's size; 0 asks for the size needed. Returns the
  // size (when asked) or the bytes placed in `value`.
  virtual Result<size_t> getxattr(const Context&, Inode inode, std::string_view name,
                                  std::span<uint8_t> value);
  virtual Result<size_t> listxattr(const Context&, Inode inode, std::span<uint8_t> list);
  virtual Status removexattr(const Context&, Inode inode, std::string_view name);
  virtual Status flush(const Context&, Inode inode, Handle handle, uint64_t lock_owner);
  virtual Result<OpenReply> opendir(const Context&, Inode inode, uint32_t flags);
  // Produces entries starting after `offset` into `sink` until it is full or the
  // directory ends. `plus` is informational (the Server does the lookups).
  virtual Status readdir(const Context&, Inode inode, Handle handle, uint64_t offset,
                         DirSink& sink);
  virtual Status releasedir(const Context&, Inode inode, uint32_t flags, Handle handle);
  virtual Status fsyncdir(const Context&, Inode inode, bool datasync, Handle handle);
  virtual Status access(const Context&, Inode inode, uint32_t mask);
  virtual Result<CreateReply> create(const Context&, Inode parent, std::string_view name,
                                     uint32_t mode, uint32_t flags, uint32_t umask,
                                     std::string_view security_ctx);
  // An unnamed file in directory `parent` (O_TMPFILE).
  virtual Result<CreateReply> tmpfile(const Context&, Inode parent, uint32_t mode, uint32_t flags,
                                      uint32_t umask, std::string_view security_ctx);
  // `in` holds in_size bytes of input; write the output into `out` (out_size bytes).
  virtual Result<IoctlReply> ioctl(const Context&, Inode inode, Handle handle, uint32_t flags,
                                   uint32_t cmd, uint64_t arg, std::span<const uint8_t> in,
                                   std::span<uint8_t> out);
  virtual Status fallocate(const Context&, Inode inode, Handle handle, uint32_t mode,
                           uint64_t offset, uint64_t length);
  virtual Result<uint64_t> lseek(const Context&, Inode inode, Handle handle, uint64_t offset,
                                 uint32_t whence);
  virtual Result<size_t> copy_file_range(const Context&, Inode inode_in, Handle handle_in,
                                         uint64_t offset_in, Inode inode_out, Handle handle_out,
                                         uint64_t offset_out, uint64_t length, uint64_t flags);
  virtual Status syncfs(const Context&, Inode inode);
  virtual Result<FileLock> getlk(const Context&, Inode inode, Handle handle, uint64_t owner,
                                 const FileLock& lock);
  virtual Status setlk(const Context&, Inode inode, Handle handle, uint64_t owner,
                       const FileLock& lock, bool sleep);
  virtual Result<uint64_t> bmap(const Context&, Inode inode, uint32_t blocksize, uint64_t block);
  virtual Result<uint32_t> poll(const Context&, Inode inode, Handle handle, uint64_t kh,
                                uint32_t poll_flags, uint32_t events);
};

}  // namespace pfs::fuse
