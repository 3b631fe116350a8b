// Handlers that look up, create, link and remove directory entries.
#include <cerrno>

#include "core/fuse/reply_encoder.h"
#include "core/fuse/request_decoder.h"
#include "core/fuse/secctx.h"
#include "core/fuse/server_call.h"

namespace pfs::fuse::detail {
namespace {

constexpr size_t kForgetChunk = 128;

// Reads an entry name; `to_end` as in BodyCursor::take_cstr. 0 or an errno.
int take_name(BodyCursor& cur, std::string_view& name, bool to_end) {
  if (const int err = cur.take_cstr(name, to_end); err != 0) return err;
  return check_entry_name(name);
}

// Before protocol 7.38 a security context simply follows the names; the names then
// end at their first NUL instead of at the end of the body.
bool legacy_secctx(const Call& c) { return c.neg.has(FUSE_SECURITY_CTX) && c.neg.minor < 38; }

// The security context for a creating request, from what follows the names.
int take_secctx(const Call& c, const BodyCursor& cur, std::string_view& ctx) {
  ctx = {};
  if (!c.neg.has(FUSE_SECURITY_CTX)) return 0;
  return parse_security_context(legacy_secctx(c) ? cur.rest() : c.ext, ctx);
}

size_t reply_entry(Call& c, const Result<Entry>& r) {
  if (!r.ok()) return c.error(r.error());
  return c.ok_obj(to_entry_out(*r));
}

}  // namespace

size_t op_lookup(Call& c) {
  BodyCursor cur(c.body);
  std::string_view name;
  if (const int err = take_name(cur, name, true); err != 0) return c.bad(err, "bad LOOKUP name");
  return reply_entry(c, c.fs.lookup(c.ctx, c.nodeid(), name));
}

size_t op_forget(Call& c) {
  fuse_forget_in f{};
  BodyCursor cur(c.body);
  if (!cur.take(f)) return c.drop("FORGET shorter than fuse_forget_in");
  c.fs.forget(c.ctx, c.nodeid(), f.nlookup);
  return 0;
}

size_t op_batch_forget(Call& c) {
  fuse_batch_forget_in b{};
  BodyCursor cur(c.body);
  if (!cur.take(b)) return c.drop("BATCH_FORGET shorter than fuse_batch_forget_in");
  // Division, not count * size: a hostile count must not overflow.
  if (b.count > cur.remaining() / sizeof(fuse_forget_one)) {
    return c.drop("BATCH_FORGET count exceeds the entries present");
  }
  std::pair<Inode, uint64_t> chunk[kForgetChunk];
  size_t n = 0;
  for (uint32_t i = 0; i < b.count; ++i) {
    fuse_forget_one one{};
    cur.take(one);
    chunk[n++] = {one.nodeid, one.nlookup};
    if (n == kForgetChunk || i + 1 == b.count) {
      c.fs.batch_forget(c.ctx, std::span<const std::pair<Inode, uint64_t>>(chunk, n));
      n = 0;
    }
  }
  return 0;
}

size_t op_symlink(Call& c) {
  BodyCursor cur(c.body);
  std::string_view name, target;
  if (const int err = take_name(cur, name, false); err != 0) return c.bad(err, "bad SYMLINK name");
  if (cur.take_cstr(target, !legacy_secctx(c)) != 0) return c.bad(EINVAL, "bad SYMLINK target");
  if (const int err = check_symlink_target(target); err != 0) {
    return c.bad(err, "bad SYMLINK target");
  }
  std::string_view secctx;
  if (take_secctx(c, cur, secctx) != 0) return c.bad(EINVAL, "bad security context");
  return reply_entry(c, c.fs.symlink(c.ctx, target, c.nodeid(), name, secctx));
}

size_t op_mknod(Call& c) {
  BodyCursor cur(c.body);
  fuse_mknod_in m{};
  std::string_view name, secctx;
  if (!cur.take(m)) return c.bad(EINVAL, "MKNOD shorter than fuse_mknod_in");
  if (const int err = take_name(cur, name, !legacy_secctx(c)); err != 0) {
    return c.bad(err, "bad MKNOD name");
  }
  if (take_secctx(c, cur, secctx) != 0) return c.bad(EINVAL, "bad security context");
  return reply_entry(c, c.fs.mknod(c.ctx, c.nodeid(), name, m.mode, m.rdev, m.umask, secctx));
}

size_t op_mkdir(Call& c) {
  BodyCursor cur(c.body);
  fuse_mkdir_in m{};
  std::string_view name, secctx;
  if (!cur.take(m)) return c.bad(EINVAL, "MKDIR shorter than fuse_mkdir_in");
  if (const int err = take_name(cur, name, !legacy_secctx(c)); err != 0) {
    return c.bad(err, "bad MKDIR name");
  }
  if (take_secctx(c, cur, secctx) != 0) return c.bad(EINVAL, "bad security context");
  return reply_entry(c, c.fs.mkdir(c.ctx, c.nodeid(), name, m.mode, m.umask, secctx));
}

size_t op_unlink(Call& c) {
  BodyCursor cur(c.body);
  std::string_view name;
  if (const int err = take_name(cur, name, true); err != 0) return c.bad(err, "bad UNLINK name");
  return c.status(c.fs.unlink(c.ctx, c.nodeid(), name));
}

size_t op_rmdir(Call& c) {
  BodyCursor cur(c.body);
  std::string_view name;
  if (const int err = take_name(cur, name, true); err != 0) return c.bad(err, "bad RMDIR name");
  return c.status(c.fs.rmdir(c.ctx, c.nodeid(), name));
}

namespace {

size_t do_rename(Call& c, BodyCursor& cur, Inode newdir, uint32_t flags) {
  std::string_view oldname, newname;
  if (const int err = take_name(cur, oldname, false); err != 0) {
    return c.bad(err, "bad RENAME old name");
  }
  if (const int err = take_name(cur, newname, true); err != 0) {
    return c.bad(err, "bad RENAME new name");
  }
  return c.status(c.fs.rename(c.ctx, c.nodeid(), oldname, newdir, newname, flags));
}

}  // namespace

size_t op_rename(Call& c) {
  BodyCursor cur(c.body);
  fuse_rename_in r{};
  if (!cur.take(r)) return c.bad(EINVAL, "RENAME shorter than fuse_rename_in");
  return do_rename(c, cur, r.newdir, 0);
}

size_t op_rename2(Call& c) {
  BodyCursor cur(c.body);
  fuse_rename2_in r{};
  if (!cur.take(r)) return c.bad(EINVAL, "RENAME2 shorter than fuse_rename2_in");
  return do_rename(c, cur, r.newdir, r.flags);
}

size_t op_link(Call& c) {
  BodyCursor cur(c.body);
  fuse_link_in l{};
  std::string_view name;
  if (!cur.take(l)) return c.bad(EINVAL, "LINK shorter than fuse_link_in");
  if (const int err = take_name(cur, name, true); err != 0) return c.bad(err, "bad LINK name");
  return reply_entry(c, c.fs.link(c.ctx, l.oldnodeid, c.nodeid(), name));
}

namespace {

size_t reply_create(Call& c, const Result<CreateReply>& r) {
  if (!r.ok()) return c.error(r.error());
  struct {
    fuse_entry_out entry;
    fuse_open_out open;
  } out{to_entry_out(r->entry), to_open_out(r->open)};
  static_assert(sizeof(out) == sizeof(fuse_entry_out) + sizeof(fuse_open_out));
  return c.ok_obj(out);
}

}  // namespace

size_t op_create(Call& c) {
  BodyCursor cur(c.body);
  fuse_create_in ci{};
  std::string_view name, secctx;
  if (!cur.take(ci)) return c.bad(EINVAL, "CREATE shorter than fuse_create_in");
  if (const int err = take_name(cur, name, !legacy_secctx(c)); err != 0) {
    return c.bad(err, "bad CREATE name");
  }
  if (take_secctx(c, cur, secctx) != 0) return c.bad(EINVAL, "bad security context");
  return reply_create(c, c.fs.create(c.ctx, c.nodeid(), name, ci.mode, ci.flags, ci.umask, secctx));
}

size_t op_tmpfile(Call& c) {
  BodyCursor cur(c.body);
  fuse_create_in ci{};
  std::string_view ignored, secctx;
  if (!cur.take(ci)) return c.bad(EINVAL, "TMPFILE shorter than fuse_create_in");
  // The kernel sends the name of the unnamed dentry ("/"); it means nothing here.
  if (cur.take_cstr(ignored, !legacy_secctx(c)) != 0) return c.bad(EINVAL, "bad TMPFILE name");
  if (take_secctx(c, cur, secctx) != 0) return c.bad(EINVAL, "bad security context");
  return reply_create(c, c.fs.tmpfile(c.ctx, c.nodeid(), ci.mode, ci.flags, ci.umask, secctx));
}

}  // namespace pfs::fuse::detail
