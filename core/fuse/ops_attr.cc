// Handlers for attributes, xattrs, links' targets and file-system-wide queries.
#include <algorithm>
#include <cerrno>

#include "core/fuse/reply_encoder.h"
#include "core/fuse/request_decoder.h"
#include "core/fuse/server_call.h"

namespace pfs::fuse::detail {
namespace {

constexpr size_t kOutHeader = sizeof(fuse_out_header);

size_t reply_attr(Call& c, const Result<AttrReply>& r) {
  if (!r.ok()) return c.error(r.error());
  return c.ok_obj(to_attr_out(*r));
}

// GETXATTR and LISTXATTR share their reply: the size when asked for 0 bytes, the
// bytes otherwise.
size_t reply_sized(Call& c, uint32_t asked, const Result<size_t>& r, std::span<const uint8_t> buf) {
  if (!r.ok()) return c.error(r.error());
  if (asked == 0) return c.ok_obj(fuse_getxattr_out{static_cast<uint32_t>(*r), 0});
  if (*r > buf.size()) return c.error(ERANGE);
  return c.ok(buf.first(*r));
}

// The value buffer for a GETXATTR/LISTXATTR of `size` bytes, or an errno.
int sized_buffer(Call& c, uint32_t size, size_t cap, std::span<uint8_t>& buf) {
  if (size > c.opts.max_write) return ENOMEM;
  // No xattr value or list is longer than `cap` on Linux, so asking for more
  // changes nothing but what the reply could hold.
  const size_t room = c.out.available() - kOutHeader;
  buf = c.scratch.first(std::min({size_t{size}, cap, room, c.scratch.size()}));
  return 0;
}

}  // namespace

size_t op_getattr(Call& c) {
  BodyCursor cur(c.body);
  fuse_getattr_in g{};
  if (!cur.take(g)) return c.bad(EINVAL, "GETATTR shorter than fuse_getattr_in");
  std::optional<Handle> fh;
  if ((g.getattr_flags & FUSE_GETATTR_FH) != 0) fh = g.fh;
  return reply_attr(c, c.fs.getattr(c.ctx, c.nodeid(), fh));
}

size_t op_setattr(Call& c) {
  BodyCursor cur(c.body);
  fuse_setattr_in s{};
  if (!cur.take(s)) return c.bad(EINVAL, "SETATTR shorter than fuse_setattr_in");
  SetattrRequest req;
  req.valid = s.valid;
  req.mode = s.mode;
  req.uid = s.uid;
  req.gid = s.gid;
  req.size = s.size;
  req.atime = static_cast<int64_t>(s.atime);
  req.atimensec = s.atimensec;
  req.mtime = static_cast<int64_t>(s.mtime);
  req.mtimensec = s.mtimensec;
  if ((s.valid & FATTR_FH) != 0) req.handle = s.fh;
  return reply_attr(c, c.fs.setattr(c.ctx, c.nodeid(), req));
}

size_t op_readlink(Call& c) {
  std::span<char> buf(reinterpret_cast<char*>(c.scratch.data()), kPathMax);
  Result<size_t> r = c.fs.readlink(c.ctx, c.nodeid(), buf);
  if (!r.ok()) return c.error(r.error());
  if (*r > buf.size()) return c.error(EIO);
  return c.ok(c.scratch.first(*r));
}

size_t op_statfs(Call& c) {
  Result<struct statvfs> r = c.fs.statfs(c.ctx, c.nodeid());
  if (!r.ok()) return c.error(r.error());
  return c.ok_obj(fuse_statfs_out{to_kstatfs(*r)});
}

size_t op_access(Call& c) {
  BodyCursor cur(c.body);
  fuse_access_in a{};
  if (!cur.take(a)) return c.bad(EINVAL, "ACCESS shorter than fuse_access_in");
  return c.status(c.fs.access(c.ctx, c.nodeid(), a.mask));
}

size_t op_syncfs(Call& c) {
  BodyCursor cur(c.body);
  fuse_syncfs_in s{};
  if (!cur.take(s)) return c.bad(EINVAL, "SYNCFS shorter than fuse_syncfs_in");
  return c.status(c.fs.syncfs(c.ctx, c.nodeid()));
}

size_t op_setxattr(Call& c) {
  BodyCursor cur(c.body);
  fuse_setxattr_in s{};
  // Without FUSE_SETXATTR_EXT the kernel sends only {size, flags}.
  bool ok = false;
  if (c.neg.has(FUSE_SETXATTR_EXT)) {
    ok = cur.take(s);
  } else {
    struct {
      uint32_t size;
      uint32_t flags;
    } compat{};
    static_assert(sizeof(compat) == FUSE_COMPAT_SETXATTR_IN_SIZE);
    ok = cur.take(compat);
    s.size = compat.size;
    s.flags = compat.flags;
  }
  if (!ok) return c.bad(EINVAL, "SETXATTR shorter than fuse_setxattr_in");
  if (s.size > kXattrSizeMax) return c.bad(E2BIG, "xattr value over XATTR_SIZE_MAX");
  std::span<const uint8_t> value;
  if (!cur.split_tail(s.size, value)) return c.bad(EINVAL, "SETXATTR size beyond the data");
  std::string_view name;
  if (cur.take_cstr(name, true) != 0) return c.bad(EINVAL, "bad SETXATTR name");
  if (const int err = check_xattr_name(name); err != 0) return c.bad(err, "bad SETXATTR name");
  return c.status(c.fs.setxattr(c.ctx, c.nodeid(), name, value, s.flags));
}

size_t op_getxattr(Call& c) {
  BodyCursor cur(c.body);
  fuse_getxattr_in g{};
  if (!cur.take(g)) return c.bad(EINVAL, "GETXATTR shorter than fuse_getxattr_in");
  std::string_view name;
  if (cur.take_cstr(name, true) != 0) return c.bad(EINVAL, "bad GETXATTR name");
  if (const int err = check_xattr_name(name); err != 0) return c.bad(err, "bad GETXATTR name");
  std::span<uint8_t> buf;
  if (const int err = sized_buffer(c, g.size, kXattrSizeMax, buf); err != 0) {
    return c.bad(err, "GETXATTR size over the buffer");
  }
  return reply_sized(c, g.size, c.fs.getxattr(c.ctx, c.nodeid(), name, buf), buf);
}

size_t op_listxattr(Call& c) {
  BodyCursor cur(c.body);
  fuse_getxattr_in g{};
  if (!cur.take(g)) return c.bad(EINVAL, "LISTXATTR shorter than fuse_getxattr_in");
  std::span<uint8_t> buf;
  if (const int err = sized_buffer(c, g.size, kXattrListMax, buf); err != 0) {
    return c.bad(err, "LISTXATTR size over the buffer");
  }
  return reply_sized(c, g.size, c.fs.listxattr(c.ctx, c.nodeid(), buf), buf);
}

size_t op_removexattr(Call& c) {
  BodyCursor cur(c.body);
  std::string_view name;
  if (cur.take_cstr(name, true) != 0) return c.bad(EINVAL, "bad REMOVEXATTR name");
  if (const int err = check_xattr_name(name); err != 0) return c.bad(err, "bad REMOVEXATTR name");
  return c.status(c.fs.removexattr(c.ctx, c.nodeid(), name));
}

}  // namespace pfs::fuse::detail
