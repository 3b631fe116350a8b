#include "core/transport/memory/request_builder.h"

#include <unistd.h>

#include <cstring>

namespace pfs::transport::memory {

Context default_context() {
  return Context{static_cast<uint32_t>(::getuid()), static_cast<uint32_t>(::getgid()),
                 static_cast<uint32_t>(::getpid()), 1};
}

RequestBuilder::RequestBuilder(uint32_t opcode, uint64_t nodeid, const Context& ctx) {
  h_.opcode = opcode;
  h_.nodeid = nodeid;
  h_.unique = ctx.unique;
  h_.uid = ctx.uid;
  h_.gid = ctx.gid;
  h_.pid = ctx.pid;
}

RequestBuilder& RequestBuilder::str(std::string_view s) {
  raw(s.data(), s.size());
  body_.push_back(0);
  return *this;
}

RequestBuilder& RequestBuilder::raw(const void* data, size_t len) {
  const auto* p = static_cast<const uint8_t*>(data);
  body_.insert(body_.end(), p, p + len);
  return *this;
}

RequestBuilder& RequestBuilder::extension(std::span<const uint8_t> block) {
  raw(block);
  const size_t padded = (block.size() + 7) & ~size_t{7};
  body_.resize(body_.size() + (padded - block.size()), 0);
  ext_bytes_ += padded;
  return *this;
}

RequestBuilder& RequestBuilder::force_len(uint32_t len) {
  len_ = len;
  return *this;
}

RequestBuilder& RequestBuilder::force_total_extlen(uint16_t units) {
  extlen_ = units;
  return *this;
}

RequestBuilder& RequestBuilder::force_unique(uint64_t unique) {
  h_.unique = unique;
  return *this;
}

Bytes RequestBuilder::finish() const {
  fuse_in_header h = h_;
  h.len = len_.value_or(static_cast<uint32_t>(sizeof(h) + body_.size()));
  h.total_extlen = extlen_.value_or(static_cast<uint16_t>(ext_bytes_ / 8));
  Bytes out(sizeof(h) + body_.size());
  std::memcpy(out.data(), &h, sizeof(h));
  if (!body_.empty()) std::memcpy(out.data() + sizeof(h), body_.data(), body_.size());
  return out;
}

Bytes secctx_block(std::string_view name, std::string_view context) {
  Bytes b(sizeof(fuse_secctx_header));
  fuse_secctx_header hdr{0, 0};
  if (!name.empty()) {
    hdr.nr_secctx = 1;
    const fuse_secctx sc{static_cast<uint32_t>(context.size()), 0};
    const auto* p = reinterpret_cast<const uint8_t*>(&sc);
    b.insert(b.end(), p, p + sizeof(sc));
    b.insert(b.end(), name.begin(), name.end());
    b.push_back(0);
    b.insert(b.end(), context.begin(), context.end());
    b.resize((b.size() + 7) & ~size_t{7}, 0);
  }
  hdr.size = static_cast<uint32_t>(b.size());
  std::memcpy(b.data(), &hdr, sizeof(hdr));
  return b;
}

Bytes concat(std::span<const Bytes> requests) {
  Bytes out;
  for (const Bytes& r : requests) out.insert(out.end(), r.begin(), r.end());
  return out;
}

namespace req {
namespace {

std::span<const uint8_t> as_bytes(std::string_view s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

}  // namespace

Bytes init(uint64_t capable, uint32_t major, uint32_t minor, uint32_t max_readahead,
           const Context& ctx) {
  fuse_init_in in{};
  in.major = major;
  in.minor = minor;
  in.max_readahead = max_readahead;
  in.flags = static_cast<uint32_t>(capable);
  in.flags2 = static_cast<uint32_t>(capable >> 32);
  return RequestBuilder(FUSE_INIT, 0, ctx).obj(in).finish();
}

Bytes destroy(const Context& ctx) { return RequestBuilder(FUSE_DESTROY, 0, ctx).finish(); }

Bytes lookup(Inode parent, std::string_view name, const Context& ctx) {
  return RequestBuilder(FUSE_LOOKUP, parent, ctx).str(name).finish();
}

Bytes forget(Inode inode, uint64_t nlookup, const Context& ctx) {
  return RequestBuilder(FUSE_FORGET, inode, ctx).obj(fuse_forget_in{nlookup}).finish();
}

Bytes batch_forget(std::span<const std::pair<Inode, uint64_t>> items, const Context& ctx) {
  RequestBuilder b(FUSE_BATCH_FORGET, 0, ctx);
  b.obj(fuse_batch_forget_in{static_cast<uint32_t>(items.size()), 0});
  for (const auto& [inode, n] : items) b.obj(fuse_forget_one{inode, n});
  return b.finish();
}

Bytes getattr(Inode inode, std::optional<Handle> fh, const Context& ctx) {
  fuse_getattr_in g{};
  if (fh) {
    g.getattr_flags = FUSE_GETATTR_FH;
    g.fh = *fh;
  }
  return RequestBuilder(FUSE_GETATTR, inode, ctx).obj(g).finish();
}

Bytes setattr(Inode inode, const fuse_setattr_in& in, const Context& ctx) {
  return RequestBuilder(FUSE_SETATTR, inode, ctx).obj(in).finish();
}

Bytes readlink(Inode inode, const Context& ctx) {
  return RequestBuilder(FUSE_READLINK, inode, ctx).finish();
}

Bytes symlink(Inode parent, std::string_view name, std::string_view target, const Context& ctx) {
  return RequestBuilder(FUSE_SYMLINK, parent, ctx).str(name).str(target).finish();
}

Bytes mknod(Inode parent, std::string_view name, uint32_t mode, uint32_t rdev, uint32_t umask,
            const Context& ctx) {
  return RequestBuilder(FUSE_MKNOD, parent, ctx)
      .obj(fuse_mknod_in{mode, rdev, umask, 0})
      .str(name)
      .finish();
}

Bytes mkdir(Inode parent, std::string_view name, uint32_t mode, uint32_t umask,
            const Context& ctx) {
  return RequestBuilder(FUSE_MKDIR, parent, ctx).obj(fuse_mkdir_in{mode, umask}).str(name).finish();
}

Bytes unlink(Inode parent, std::string_view name, const Context& ctx) {
  return RequestBuilder(FUSE_UNLINK, parent, ctx).str(name).finish();
}

Bytes rmdir(Inode parent, std::string_view name, const Context& ctx) {
  return RequestBuilder(FUSE_RMDIR, parent, ctx).str(name).finish();
}

Bytes rename(Inode olddir, std::string_view oldname, Inode newdir, std::string_view newname,
             const Context& ctx) {
  return RequestBuilder(FUSE_RENAME, olddir, ctx)
      .obj(fuse_rename_in{newdir})
      .str(oldname)
      .str(newname)
      .finish();
}

Bytes rename2(Inode olddir, std::string_view oldname, Inode newdir, std::string_view newname,
              uint32_t flags, const Context& ctx) {
  return RequestBuilder(FUSE_RENAME2, olddir, ctx)
      .obj(fuse_rename2_in{newdir, flags, 0})
      .str(oldname)
      .str(newname)
      .finish();
}

Bytes link(Inode inode, Inode newparent, std::string_view newname, const Context& ctx) {
  return RequestBuilder(FUSE_LINK, newparent, ctx).obj(fuse_link_in{inode}).str(newname).finish();
}

Bytes open(Inode inode, uint32_t flags, const Context& ctx) {
  return RequestBuilder(FUSE_OPEN, inode, ctx).obj(fuse_open_in{flags, 0}).finish();
}

Bytes read(Inode inode, Handle fh, uint64_t offset, uint32_t size, uint32_t flags,
           const Context& ctx) {
  fuse_read_in r{};
  r.fh = fh;
  r.offset = offset;
  r.size = size;
  r.flags = flags;
  return RequestBuilder(FUSE_READ, inode, ctx).obj(r).finish();
}

Bytes write(Inode inode, Handle fh, uint64_t offset, std::span<const uint8_t> data,
            uint32_t write_flags, uint32_t flags, const Context& ctx) {
  fuse_write_in w{};
  w.fh = fh;
  w.offset = offset;
  w.size = static_cast<uint32_t>(data.size());
  w.write_flags = write_flags;
  w.flags = flags;
  return RequestBuilder(FUSE_WRITE, inode, ctx).obj(w).raw(data).finish();
}

Bytes write(Inode inode, Handle fh, uint64_t offset, std::string_view data, const Context& ctx) {
  return write(inode, fh, offset, as_bytes(data), 0, 0, ctx);
}

Bytes statfs(Inode inode, const Context& ctx) {
  return RequestBuilder(FUSE_STATFS, inode, ctx).finish();
}

Bytes release(Inode inode, Handle fh, uint32_t flags, uint32_t release_flags, uint64_t lock_owner,
              const Context& ctx) {
  return RequestBuilder(FUSE_RELEASE, inode, ctx)
      .obj(fuse_release_in{fh, flags, release_flags, lock_owner})
      .finish();
}

Bytes fsync(Inode inode, Handle fh, bool datasync, const Context& ctx) {
  return RequestBuilder(FUSE_FSYNC, inode, ctx)
      .obj(fuse_fsync_in{fh, datasync ? uint32_t{FUSE_FSYNC_FDATASYNC} : 0u, 0})
      .finish();
}

Bytes setxattr(Inode inode, std::string_view name, std::span<const uint8_t> value, uint32_t flags,
               bool ext_layout, const Context& ctx) {
  RequestBuilder b(FUSE_SETXATTR, inode, ctx);
  const fuse_setxattr_in s{static_cast<uint32_t>(value.size()), flags, 0, 0};
  b.raw(&s, ext_layout ? sizeof(s) : size_t{FUSE_COMPAT_SETXATTR_IN_SIZE});
  return b.str(name).raw(value).finish();
}

Bytes setxattr(Inode inode, std::string_view name, std::string_view value, uint32_t flags,
               bool ext_layout, const Context& ctx) {
  return setxattr(inode, name, as_bytes(value), flags, ext_layout, ctx);
}

Bytes getxattr(Inode inode, std::string_view name, uint32_t size, const Context& ctx) {
  return RequestBuilder(FUSE_GETXATTR, inode, ctx)
      .obj(fuse_getxattr_in{size, 0})
      .str(name)
      .finish();
}

Bytes listxattr(Inode inode, uint32_t size, const Context& ctx) {
  return RequestBuilder(FUSE_LISTXATTR, inode, ctx).obj(fuse_getxattr_in{size, 0}).finish();
}

Bytes removexattr(Inode inode, std::string_view name, const Context& ctx) {
  return RequestBuilder(FUSE_REMOVEXATTR, inode, ctx).str(name).finish();
}

Bytes flush(Inode inode, Handle fh, uint64_t lock_owner, const Context& ctx) {
  return RequestBuilder(FUSE_FLUSH, inode, ctx).obj(fuse_flush_in{fh, 0, 0, lock_owner}).finish();
}

Bytes opendir(Inode inode, uint32_t flags, const Context& ctx) {
  return RequestBuilder(FUSE_OPENDIR, inode, ctx).obj(fuse_open_in{flags, 0}).finish();
}

Bytes readdir(Inode inode, Handle fh, uint64_t offset, uint32_t size, const Context& ctx) {
  fuse_read_in r{};
  r.fh = fh;
  r.offset = offset;
  r.size = size;
  return RequestBuilder(FUSE_READDIR, inode, ctx).obj(r).finish();
}

Bytes readdirplus(Inode inode, Handle fh, uint64_t offset, uint32_t size, const Context& ctx) {
  fuse_read_in r{};
  r.fh = fh;
  r.offset = offset;
  r.size = size;
  return RequestBuilder(FUSE_READDIRPLUS, inode, ctx).obj(r).finish();
}

Bytes releasedir(Inode inode, Handle fh, uint32_t flags, const Context& ctx) {
  return RequestBuilder(FUSE_RELEASEDIR, inode, ctx).obj(fuse_release_in{fh, flags, 0, 0}).finish();
}

Bytes fsyncdir(Inode inode, Handle fh, bool datasync, const Context& ctx) {
  return RequestBuilder(FUSE_FSYNCDIR, inode, ctx)
      .obj(fuse_fsync_in{fh, datasync ? uint32_t{FUSE_FSYNC_FDATASYNC} : 0u, 0})
      .finish();
}

Bytes access(Inode inode, uint32_t mask, const Context& ctx) {
  return RequestBuilder(FUSE_ACCESS, inode, ctx).obj(fuse_access_in{mask, 0}).finish();
}

Bytes create(Inode parent, std::string_view name, uint32_t mode, uint32_t flags, uint32_t umask,
             const Context& ctx) {
  return RequestBuilder(FUSE_CREATE, parent, ctx)
      .obj(fuse_create_in{flags, mode, umask, 0})
      .str(name)
      .finish();
}

Bytes tmpfile(Inode parent, uint32_t mode, uint32_t flags, uint32_t umask, const Context& ctx) {
  return RequestBuilder(FUSE_TMPFILE, parent, ctx)
      .obj(fuse_create_in{flags, mode, umask, 0})
      .str("/")
      .finish();
}

Bytes interrupt(uint64_t target_unique, const Context& ctx) {
  return RequestBuilder(FUSE_INTERRUPT, 0, ctx).obj(fuse_interrupt_in{target_unique}).finish();
}

Bytes ioctl(Inode inode, Handle fh, uint32_t cmd, uint64_t arg, std::span<const uint8_t> in,
            uint32_t out_size, uint32_t flags, const Context& ctx) {
  const fuse_ioctl_in io{fh, flags, cmd, arg, static_cast<uint32_t>(in.size()), out_size};
  return RequestBuilder(FUSE_IOCTL, inode, ctx).obj(io).raw(in).finish();
}

Bytes fallocate(Inode inode, Handle fh, uint32_t mode, uint64_t offset, uint64_t length,
                const Context& ctx) {
  return RequestBuilder(FUSE_FALLOCATE, inode, ctx)
      .obj(fuse_fallocate_in{fh, offset, length, mode, 0})
      .finish();
}

Bytes lseek(Inode inode, Handle fh, uint64_t offset, uint32_t whence, const Context& ctx) {
  return RequestBuilder(FUSE_LSEEK, inode, ctx).obj(fuse_lseek_in{fh, offset, whence, 0}).finish();
}

Bytes copy_file_range(Inode inode_in, Handle fh_in, uint64_t off_in, Inode inode_out, Handle fh_out,
                      uint64_t off_out, uint64_t len, uint64_t flags, const Context& ctx) {
  return RequestBuilder(FUSE_COPY_FILE_RANGE, inode_in, ctx)
      .obj(fuse_copy_file_range_in{fh_in, off_in, inode_out, fh_out, off_out, len, flags})
      .finish();
}

Bytes syncfs(Inode inode, const Context& ctx) {
  return RequestBuilder(FUSE_SYNCFS, inode, ctx).obj(fuse_syncfs_in{0}).finish();
}

Bytes getlk(Inode inode, Handle fh, uint64_t owner, const fuse_file_lock& lk, const Context& ctx) {
  return RequestBuilder(FUSE_GETLK, inode, ctx).obj(fuse_lk_in{fh, owner, lk, 0, 0}).finish();
}

Bytes setlk(Inode inode, Handle fh, uint64_t owner, const fuse_file_lock& lk, bool sleep,
            const Context& ctx) {
  return RequestBuilder(sleep ? FUSE_SETLKW : FUSE_SETLK, inode, ctx)
      .obj(fuse_lk_in{fh, owner, lk, 0, 0})
      .finish();
}

Bytes bmap(Inode inode, uint64_t block, uint32_t blocksize, const Context& ctx) {
  return RequestBuilder(FUSE_BMAP, inode, ctx).obj(fuse_bmap_in{block, blocksize, 0}).finish();
}

Bytes poll(Inode inode, Handle fh, uint64_t kh, uint32_t flags, uint32_t events,
           const Context& ctx) {
  return RequestBuilder(FUSE_POLL, inode, ctx).obj(fuse_poll_in{fh, kh, flags, events}).finish();
}

}  // namespace req
}  // namespace pfs::transport::memory
