// Builds FUSE requests from typed arguments, for tests, properties and fuzzers.
// Deliberately easy to misuse: raw bytes, a forced len or total_extlen, truncation,
// so tests can send exactly the malformed request they mean.
#pragma once

#include <linux/fuse.h>

#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <type_traits>
#include <vector>

#include "core/fuse/filesystem.h"

namespace pfs::transport::memory {

using Bytes = std::vector<uint8_t>;
using fuse::Context;
using fuse::Inode;

// The context of a request "from this process": its uid, gid and pid, unique 1.
Context default_context();

class RequestBuilder {
 public:
  RequestBuilder(uint32_t opcode, uint64_t nodeid, const Context& ctx = default_context());

  template <class T>
  RequestBuilder& obj(const T& v) {
    static_assert(std::is_trivially_copyable_v<T>);
    return raw(&v, sizeof(T));
  }
  // `s` followed by a NUL.
  RequestBuilder& str(std::string_view s);
  RequestBuilder& raw(const void* data, size_t len);
  RequestBuilder& raw(std::span<const uint8_t> bytes) { return raw(bytes.data(), bytes.size()); }
  RequestBuilder& raw(std::string_view bytes) { return raw(bytes.data(), bytes.size()); }
  // Appends an extension block (padded to 8 bytes) and counts it in total_extlen.
  RequestBuilder& extension(std::span<const uint8_t> block);

  // Misuse on purpose.
  RequestBuilder& force_len(uint32_t len);
  RequestBuilder& force_total_extlen(uint16_t units);
  RequestBuilder& force_unique(uint64_t unique);

  // The request, fuse_in_header.len patched to the size unless forced.
  Bytes finish() const;

 private:
  fuse_in_header h_{};
  Bytes body_;
  std::optional<uint32_t> len_;
  std::optional<uint16_t> extlen_;
  size_t ext_bytes_ = 0;
};

// A security context block as the kernel appends it (fuse_secctx_header,
// fuse_secctx, name, context, padding to 8), or a header with nr_secctx 0 when
// `name` is empty.
Bytes secctx_block(std::string_view name, std::string_view context);

// Convenience makers for the common operations. `ctx.unique` is the request id.
namespace req {
using fuse::Handle;

// INIT at 7.`minor`; `capable` holds flags2 in its upper 32 bits (sent when
// FUSE_INIT_EXT is among the lower ones).
Bytes init(uint64_t capable, uint32_t major = 7, uint32_t minor = 38,
           uint32_t max_readahead = 131072, const Context& ctx = default_context());
Bytes destroy(const Context& ctx = default_context());
Bytes lookup(Inode parent, std::string_view name, const Context& ctx = default_context());
Bytes forget(Inode inode, uint64_t nlookup, const Context& ctx = default_context());
Bytes batch_forget(std::span<const std::pair<Inode, uint64_t>> items,
                   const Context& ctx = default_context());
Bytes getattr(Inode inode, std::optional<Handle> fh = {}, const Context& ctx = default_context());
Bytes setattr(Inode inode, const fuse_setattr_in& in, const Context& ctx = default_context());
Bytes readlink(Inode inode, const Context& ctx = default_context());
Bytes symlink(Inode parent, std::string_view name, std::string_view target,
              const Context& ctx = default_context());
Bytes mknod(Inode parent, std::string_view name, uint32_t mode, uint32_t rdev, uint32_t umask = 0,
            const Context& ctx = default_context());
Bytes mkdir(Inode parent, std::string_view name, uint32_t mode, uint32_t umask = 0,
            const Context& ctx = default_context());
Bytes unlink(Inode parent, std::string_view name, const Context& ctx = default_context());
Bytes rmdir(Inode parent, std::string_view name, const Context& ctx = default_context());
Bytes rename(Inode olddir, std::string_view oldname, Inode newdir, std::string_view newname,
             const Context& ctx = default_context());
Bytes rename2(Inode olddir, std::string_view oldname, Inode newdir, std::string_view newname,
              uint32_t flags, const Context& ctx = default_context());
Bytes link(Inode inode, Inode newparent, std::string_view newname,
           const Context& ctx = default_context());
Bytes open(Inode inode, uint32_t flags, const Context& ctx = default_context());
Bytes read(Inode inode, Handle fh, uint64_t offset, uint32_t size, uint32_t flags = 0,
           const Context& ctx = default_context());
Bytes write(Inode inode, Handle fh, uint64_t offset, std::span<const uint8_t> data,
            uint32_t write_flags = 0, uint32_t flags = 0, const Context& ctx = default_context());
Bytes write(Inode inode, Handle fh, uint64_t offset, std::string_view data,
            const Context& ctx = default_context());
Bytes statfs(Inode inode, const Context& ctx = default_context());
Bytes release(Inode inode, Handle fh, uint32_t flags = 0, uint32_t release_flags = 0,
              uint64_t lock_owner = 0, const Context& ctx = default_context());
Bytes fsync(Inode inode, Handle fh, bool datasync, const Context& ctx = default_context());
// `ext_layout`: fuse_setxattr_in (16 bytes) when FUSE_SETXATTR_EXT was negotiated,
// else the 8-byte compat layout.
Bytes setxattr(Inode inode, std::string_view name, std::span<const uint8_t> value, uint32_t flags,
               bool ext_layout, const Context& ctx = default_context());
Bytes setxattr(Inode inode, std::string_view name, std::string_view value, uint32_t flags = 0,
               bool ext_layout = true, const Context& ctx = default_context());
Bytes getxattr(Inode inode, std::string_view name, uint32_t size,
               const Context& ctx = default_context());
Bytes listxattr(Inode inode, uint32_t size, const Context& ctx = default_context());
Bytes removexattr(Inode inode, std::string_view name, const Context& ctx = default_context());
Bytes flush(Inode inode, Handle fh, uint64_t lock_owner = 0,
            const Context& ctx = default_context());
Bytes opendir(Inode inode, uint32_t flags = 0, const Context& ctx = default_context());
Bytes readdir(Inode inode, Handle fh, uint64_t offset, uint32_t size,
              const Context& ctx = default_context());
Bytes readdirplus(Inode inode, Handle fh, uint64_t offset, uint32_t size,
                  const Context& ctx = default_context());
Bytes releasedir(Inode inode, Handle fh, uint32_t flags = 0,
                 const Context& ctx = default_context());
Bytes fsyncdir(Inode inode, Handle fh, bool datasync, const Context& ctx = default_context());
Bytes access(Inode inode, uint32_t mask, const Context& ctx = default_context());
Bytes create(Inode parent, std::string_view name, uint32_t mode, uint32_t flags, uint32_t umask = 0,
             const Context& ctx = default_context());
Bytes tmpfile(Inode parent, uint32_t mode, uint32_t flags, uint32_t umask = 0,
              const Context& ctx = default_context());
Bytes interrupt(uint64_t target_unique, const Context& ctx = default_context());
Bytes ioctl(Inode inode, Handle fh, uint32_t cmd, uint64_t arg, std::span<const uint8_t> in,
            uint32_t out_size, uint32_t flags = 0, const Context& ctx = default_context());
Bytes fallocate(Inode inode, Handle fh, uint32_t mode, uint64_t offset, uint64_t length,
                const Context& ctx = default_context());
Bytes lseek(Inode inode, Handle fh, uint64_t offset, uint32_t whence,
            const Context& ctx = default_context());
Bytes copy_file_range(Inode inode_in, Handle fh_in, uint64_t off_in, Inode inode_out, Handle fh_out,
                      uint64_t off_out, uint64_t len, uint64_t flags = 0,
                      const Context& ctx = default_context());
Bytes syncfs(Inode inode, const Context& ctx = default_context());
Bytes getlk(Inode inode, Handle fh, uint64_t owner, const fuse_file_lock& lk,
            const Context& ctx = default_context());
Bytes setlk(Inode inode, Handle fh, uint64_t owner, const fuse_file_lock& lk, bool sleep,
            const Context& ctx = default_context());
Bytes bmap(Inode inode, uint64_t block, uint32_t blocksize, const Context& ctx = default_context());
Bytes poll(Inode inode, Handle fh, uint64_t kh, uint32_t flags, uint32_t events,
           const Context& ctx = default_context());
}  // namespace req

// Concatenates requests into one byte stream (what successive reads of /dev/fuse
// return, and what `pfsd --record` saves).
Bytes concat(std::span<const Bytes> requests);

}  // namespace pfs::transport::memory
