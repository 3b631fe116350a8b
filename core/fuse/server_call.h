// Internal to the server: the state of one request being handled, the reply
// helpers, and the per-opcode handlers (ops_*.cc).
#pragma once

#include <linux/fuse.h>

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "core/fuse/filesystem.h"
#include "core/fuse/reader_writer.h"
#include "core/fuse/server.h"

namespace pfs::fuse::detail {

// What INIT settled, as seen by one request.
struct Negotiated {
  uint32_t minor = 0;
  uint64_t flags = 0;
  bool has(uint64_t flag) const { return (flags & flag) != 0; }
};

class Call {
 public:
  Call(FileSystem& fs, const ServerOptions& opts, Negotiated neg, const fuse_in_header& h,
       Reader& in, Writer& out, std::span<uint8_t> scratch);

  FileSystem& fs;
  const ServerOptions& opts;
  const Negotiated neg;
  const fuse_in_header& h;
  const Context ctx;
  // The body without its extension area (empty for WRITE, whose data stays in `in`).
  std::span<const uint8_t> body;
  // The trailing extension area (fuse_in_header.total_extlen * 8 bytes).
  std::span<const uint8_t> ext;
  Reader& in;
  Writer& out;
  // Per-thread space for variable-size replies (xattrs, readlink, ioctl out).
  const std::span<uint8_t> scratch;
  const size_t base;  // out.written() when the request started

  Inode nodeid() const { return h.nodeid; }

  // An error reply (exactly a fuse_out_header). Returns the bytes written.
  size_t error(int err);
  // An error reply for a malformed request, reported to the hook.
  size_t bad(int err, std::string_view reason);
  // No reply; reported to the hook.
  size_t drop(std::string_view reason);
  // A success reply with the given payload pieces.
  size_t ok(std::span<const uint8_t> a = {}, std::span<const uint8_t> b = {});
  template <class T>
  size_t ok_obj(const T& obj, std::span<const uint8_t> extra = {}) {
    return ok(std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(&obj), sizeof(T)), extra);
  }
  size_t status(Status s) { return s == 0 ? ok() : error(s); }

  // Replies written in place (READ, READDIR): reserve the header, then finish.
  bool begin_in_place();
  size_t finish_in_place();
  size_t fail_in_place(int err);

 private:
  bool write_header(uint32_t len, int32_t error);
};

// Handlers, one per opcode; each returns the reply bytes written.
size_t op_lookup(Call& c);
size_t op_forget(Call& c);
size_t op_batch_forget(Call& c);
size_t op_getattr(Call& c);
size_t op_setattr(Call& c);
size_t op_readlink(Call& c);
size_t op_symlink(Call& c);
size_t op_mknod(Call& c);
size_t op_mkdir(Call& c);
size_t op_unlink(Call& c);
size_t op_rmdir(Call& c);
size_t op_rename(Call& c);
size_t op_rename2(Call& c);
size_t op_link(Call& c);
size_t op_open(Call& c);
size_t op_read(Call& c);
size_t op_write(Call& c, const fuse_write_in& w);
size_t op_statfs(Call& c);
size_t op_release(Call& c);
size_t op_fsync(Call& c);
size_t op_setxattr(Call& c);
size_t op_getxattr(Call& c);
size_t op_listxattr(Call& c);
size_t op_removexattr(Call& c);
size_t op_flush(Call& c);
size_t op_opendir(Call& c);
size_t op_readdir(Call& c, bool plus);
size_t op_releasedir(Call& c);
size_t op_fsyncdir(Call& c);
size_t op_getlk(Call& c);
size_t op_setlk(Call& c, bool sleep);
size_t op_access(Call& c);
size_t op_create(Call& c);
size_t op_tmpfile(Call& c);
size_t op_bmap(Call& c);
size_t op_ioctl(Call& c);
size_t op_poll(Call& c);
size_t op_fallocate(Call& c);
size_t op_lseek(Call& c);
size_t op_copy_file_range(Call& c);
size_t op_syncfs(Call& c);

}  // namespace pfs::fuse::detail
