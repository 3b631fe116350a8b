// Handlers for open directories.
#include <algorithm>
#include <cerrno>

#include "core/fuse/dirent_encoder.h"
#include "core/fuse/reply_encoder.h"
#include "core/fuse/request_decoder.h"
#include "core/fuse/server_call.h"

namespace pfs::fuse::detail {

size_t op_opendir(Call& c) {
  BodyCursor cur(c.body);
  fuse_open_in o{};
  if (!cur.take(o)) return c.bad(EINVAL, "OPENDIR shorter than fuse_open_in");
  Result<OpenReply> r = c.fs.opendir(c.ctx, c.nodeid(), o.flags);
  if (!r.ok()) return c.error(r.error());
  return c.ok_obj(to_open_out(*r));
}

size_t op_readdir(Call& c, bool plus) {
  BodyCursor cur(c.body);
  fuse_read_in r{};
  if (!cur.take(r)) return c.bad(EINVAL, "READDIR shorter than fuse_read_in");
  if (r.size > c.opts.max_write) return c.bad(ENOMEM, "READDIR size over the buffer");
  if (!c.begin_in_place()) return 0;
  const size_t budget = std::min<size_t>(r.size, c.out.available());
  Status s = 0;
  size_t entries = 0;
  bool full = false;
  if (plus) {
    DirentPlusEncoder sink(c.out, budget, c.fs, c.ctx, c.nodeid());
    s = c.fs.readdir(c.ctx, c.nodeid(), r.fh, r.offset, sink);
    entries = sink.entries();
    full = sink.full();
  } else {
    DirentEncoder sink(c.out, budget);
    s = c.fs.readdir(c.ctx, c.nodeid(), r.fh, r.offset, sink);
    entries = sink.entries();
    full = sink.full();
  }
  // Not even the next entry fits: an empty reply would read as the end of the
  // directory, so answer as getdents(2) does.
  if (s == 0 && entries == 0 && full) s = EINVAL;
  // An error after some entries were listed still returns them (the next READDIR
  // from the last offset reports the error); references taken stay with them.
  if (s != 0 && entries == 0) return c.fail_in_place(s);
  return c.finish_in_place();
}

size_t op_releasedir(Call& c) {
  BodyCursor cur(c.body);
  fuse_release_in r{};
  if (!cur.take(r)) return c.bad(EINVAL, "RELEASEDIR shorter than fuse_release_in");
  return c.status(c.fs.releasedir(c.ctx, c.nodeid(), r.flags, r.fh));
}

size_t op_fsyncdir(Call& c) {
  BodyCursor cur(c.body);
  fuse_fsync_in f{};
  if (!cur.take(f)) return c.bad(EINVAL, "FSYNCDIR shorter than fuse_fsync_in");
  const bool datasync = (f.fsync_flags & FUSE_FSYNC_FDATASYNC) != 0;
  return c.status(c.fs.fsyncdir(c.ctx, c.nodeid(), datasync, f.fh));
}

}  // namespace pfs::fuse::detail
