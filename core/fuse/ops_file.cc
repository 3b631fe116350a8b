// Handlers for open files: I/O, sync, locks, ioctl and friends.
#include <algorithm>
#include <cerrno>
#include <limits>

#include "core/fuse/reply_encoder.h"
#include "core/fuse/request_decoder.h"
#include "core/fuse/server_call.h"

namespace pfs::fuse::detail {
namespace {

constexpr size_t kOutHeader = sizeof(fuse_out_header);
// The largest copy_file_range whose byte count a fuse_write_out can report,
// page-aligned (as the kernel clamps it too).
constexpr uint64_t kMaxCopy = std::numeric_limits<uint32_t>::max() & ~uint64_t{4095};

template <class T>
bool take_struct(Call& c, T& out) {
  BodyCursor cur(c.body);
  return cur.take(out);
}

}  // namespace

size_t op_open(Call& c) {
  fuse_open_in o{};
  if (!take_struct(c, o)) return c.bad(EINVAL, "OPEN shorter than fuse_open_in");
  Result<OpenReply> r = c.fs.open(c.ctx, c.nodeid(), o.flags);
  if (!r.ok()) return c.error(r.error());
  return c.ok_obj(to_open_out(*r));
}

size_t op_read(Call& c) {
  fuse_read_in r{};
  if (!take_struct(c, r)) return c.bad(EINVAL, "READ shorter than fuse_read_in");
  if (r.size > c.opts.max_write) return c.bad(ENOMEM, "READ size over the buffer");
  if (!c.begin_in_place()) return 0;
  // A transport may offer less than asked; never let the FS write past it.
  const uint32_t size = static_cast<uint32_t>(std::min<size_t>(r.size, c.out.available()));
  Result<size_t> n = c.fs.read(c.ctx, c.nodeid(), r.fh, c.out, size, r.offset, r.flags);
  if (!n.ok()) return c.fail_in_place(n.error());
  return c.finish_in_place();
}

size_t op_write(Call& c, const fuse_write_in& w) {
  if (w.size > c.opts.max_write) return c.bad(ENOMEM, "WRITE size over max_write");
  if (w.size > c.in.available()) return c.bad(EINVAL, "WRITE size beyond the data present");
  c.in.truncate(w.size);
  Result<size_t> n =
      c.fs.write(c.ctx, c.nodeid(), w.fh, c.in, w.size, w.offset, w.write_flags, w.flags);
  if (!n.ok()) return c.error(n.error());
  const fuse_write_out o{static_cast<uint32_t>(std::min<size_t>(*n, w.size)), 0};
  return c.ok_obj(o);
}

size_t op_release(Call& c) {
  fuse_release_in r{};
  if (!take_struct(c, r)) return c.bad(EINVAL, "RELEASE shorter than fuse_release_in");
  const bool flush = (r.release_flags & FUSE_RELEASE_FLUSH) != 0;
  const bool flock_release = (r.release_flags & FUSE_RELEASE_FLOCK_UNLOCK) != 0;
  std::optional<uint64_t> owner;
  if (flush || flock_release) owner = r.lock_owner;
  return c.status(c.fs.release(c.ctx, c.nodeid(), r.flags, r.fh, flush, flock_release, owner));
}

size_t op_flush(Call& c) {
  fuse_flush_in f{};
  if (!take_struct(c, f)) return c.bad(EINVAL, "FLUSH shorter than fuse_flush_in");
  return c.status(c.fs.flush(c.ctx, c.nodeid(), f.fh, f.lock_owner));
}

size_t op_fsync(Call& c) {
  fuse_fsync_in f{};
  if (!take_struct(c, f)) return c.bad(EINVAL, "FSYNC shorter than fuse_fsync_in");
  const bool datasync = (f.fsync_flags & FUSE_FSYNC_FDATASYNC) != 0;
  return c.status(c.fs.fsync(c.ctx, c.nodeid(), datasync, f.fh));
}

size_t op_fallocate(Call& c) {
  fuse_fallocate_in f{};
  if (!take_struct(c, f)) return c.bad(EINVAL, "FALLOCATE shorter than fuse_fallocate_in");
  return c.status(c.fs.fallocate(c.ctx, c.nodeid(), f.fh, f.mode, f.offset, f.length));
}

size_t op_lseek(Call& c) {
  fuse_lseek_in l{};
  if (!take_struct(c, l)) return c.bad(EINVAL, "LSEEK shorter than fuse_lseek_in");
  Result<uint64_t> r = c.fs.lseek(c.ctx, c.nodeid(), l.fh, l.offset, l.whence);
  if (!r.ok()) return c.error(r.error());
  return c.ok_obj(fuse_lseek_out{*r});
}

size_t op_copy_file_range(Call& c) {
  fuse_copy_file_range_in in{};
  if (!take_struct(c, in)) return c.bad(EINVAL, "COPY_FILE_RANGE shorter than its struct");
  const uint64_t len = std::min(in.len, kMaxCopy);
  Result<size_t> r = c.fs.copy_file_range(c.ctx, c.nodeid(), in.fh_in, in.off_in, in.nodeid_out,
                                          in.fh_out, in.off_out, len, in.flags);
  if (!r.ok()) return c.error(r.error());
  const fuse_write_out o{static_cast<uint32_t>(std::min<uint64_t>(*r, len)), 0};
  return c.ok_obj(o);
}

size_t op_getlk(Call& c) {
  fuse_lk_in l{};
  if (!take_struct(c, l)) return c.bad(EINVAL, "GETLK shorter than fuse_lk_in");
  if ((l.lk_flags & FUSE_LK_FLOCK) != 0) return c.bad(ENOSYS, "flock request");
  Result<FileLock> r = c.fs.getlk(c.ctx, c.nodeid(), l.fh, l.owner, from_file_lock(l.lk));
  if (!r.ok()) return c.error(r.error());
  return c.ok_obj(fuse_lk_out{to_file_lock(*r)});
}

size_t op_setlk(Call& c, bool sleep) {
  fuse_lk_in l{};
  if (!take_struct(c, l)) return c.bad(EINVAL, "SETLK shorter than fuse_lk_in");
  // FLOCK_LOCKS is never granted, so the kernel keeps flock() local; a request
  // claiming otherwise is refused rather than run as a POSIX lock.
  if ((l.lk_flags & FUSE_LK_FLOCK) != 0) return c.bad(ENOSYS, "flock request");
  return c.status(c.fs.setlk(c.ctx, c.nodeid(), l.fh, l.owner, from_file_lock(l.lk), sleep));
}

size_t op_bmap(Call& c) {
  fuse_bmap_in b{};
  if (!take_struct(c, b)) return c.bad(EINVAL, "BMAP shorter than fuse_bmap_in");
  Result<uint64_t> r = c.fs.bmap(c.ctx, c.nodeid(), b.blocksize, b.block);
  if (!r.ok()) return c.error(r.error());
  return c.ok_obj(fuse_bmap_out{*r});
}

size_t op_poll(Call& c) {
  fuse_poll_in p{};
  if (!take_struct(c, p)) return c.bad(EINVAL, "POLL shorter than fuse_poll_in");
  Result<uint32_t> r = c.fs.poll(c.ctx, c.nodeid(), p.fh, p.kh, p.flags, p.events);
  if (!r.ok()) return c.error(r.error());
  return c.ok_obj(fuse_poll_out{*r, 0});
}

size_t op_ioctl(Call& c) {
  BodyCursor cur(c.body);
  fuse_ioctl_in io{};
  if (!cur.take(io)) return c.bad(EINVAL, "IOCTL shorter than fuse_ioctl_in");
  // Unrestricted ioctls need the retry protocol with client-side iovecs, which
  // would have the server chase guest pointers. Refused, as crosvm does.
  if ((io.flags & FUSE_IOCTL_UNRESTRICTED) != 0) return c.bad(ENOSYS, "unrestricted ioctl");
  if (io.in_size > kIoctlSizeMax || io.out_size > kIoctlSizeMax) {
    return c.bad(ENOMEM, "IOCTL size over the limit");
  }
  if (io.in_size != cur.remaining()) return c.bad(EINVAL, "IOCTL in_size differs from the data");
  const size_t room = c.out.available() - kOutHeader - sizeof(fuse_ioctl_out);
  if (io.out_size > room || io.out_size > c.scratch.size()) {
    return c.bad(ERANGE, "IOCTL out_size does not fit the reply");
  }
  std::span<uint8_t> out = c.scratch.first(io.out_size);
  Result<IoctlReply> r =
      c.fs.ioctl(c.ctx, c.nodeid(), io.fh, io.flags, io.cmd, io.arg, cur.rest(), out);
  if (!r.ok()) return c.error(r.error());
  const size_t n = std::min(r->out_size, out.size());
  const fuse_ioctl_out o{r->result, 0, 0, 0};
  return c.ok_obj(o, out.first(n));
}

}  // namespace pfs::fuse::detail
