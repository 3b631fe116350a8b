// PassthroughFs: open handles and the I/O on them.
#include <fcntl.h>
#include <linux/fs.h>
#include <linux/fuse.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "core/passthrough/credentials.h"
#include "core/passthrough/dir_reader.h"
#include "core/passthrough/ioctl_dispatch.h"
#include "core/passthrough/passthrough_fs.h"

namespace pfs::passthrough {

namespace {

// The open(2) flags a client may ask for. Anything else (O_PATH, O_TMPFILE,
// O_CREAT, O_NOFOLLOW, ...) either changes what kind of fd we would hold or is
// the client kernel's business.
constexpr int kAllowedOpenFlags = O_ACCMODE | O_APPEND | O_TRUNC | O_NONBLOCK | O_SYNC | O_DSYNC |
                                  O_NOATIME | O_DIRECTORY | O_LARGEFILE;

// The ioctls that change the file (refused on a read-only share).
bool is_modifying_ioctl(uint32_t cmd) {
  return cmd == static_cast<uint32_t>(FS_IOC_SETFLAGS) ||
         cmd == static_cast<uint32_t>(FS_IOC32_SETFLAGS) ||
         cmd == static_cast<uint32_t>(_IOW('f', 2, uint64_t)) ||  // FS_IOC64_SETFLAGS
         cmd == static_cast<uint32_t>(FS_IOC_FSSETXATTR);
}

bool wants_write(uint32_t flags) {
  const int f = static_cast<int>(flags);
  return (f & O_ACCMODE) != O_RDONLY || (f & O_TRUNC) != 0;
}

}  // namespace

uint32_t PassthroughFs::open_reply_flags(bool directory) const {
  switch (cfg_.cache_policy) {
    case CachePolicy::kNever:
      return directory ? 0 : FOPEN_DIRECT_IO;
    case CachePolicy::kAlways:
      return directory ? FOPEN_CACHE_DIR : FOPEN_KEEP_CACHE;
    case CachePolicy::kAuto:
      break;
  }
  return 0;
}

Result<fuse::OpenReply> PassthroughFs::do_open(fuse::Inode inode, uint32_t flags) {
  auto data = find_inode(inode);
  if (!data) return Errno{EBADF};
  // Fifos, sockets and devices are opened by the client kernel itself; opening
  // them here could block a worker or reach a host device.
  if (data->type == FileType::kOther) return Errno{ENXIO};
  if (readonly() && wants_write(flags)) return Errno{EROFS};
  const int open_flags = static_cast<int>(flags) & kAllowedOpenFlags;
  auto fd = open_inode(*data, open_flags);
  if (!fd) return Errno{fd.error()};
  const bool directory = (open_flags & O_DIRECTORY) != 0;
  const fuse::Handle handle = handles_.insert(inode, std::move(*fd));
  return fuse::OpenReply{handle, open_reply_flags(directory)};
}

Status PassthroughFs::do_release(fuse::Inode inode, fuse::Handle handle) {
  return handles_.remove(handle, inode) ? kOk : EBADF;
}

Result<fuse::OpenReply> PassthroughFs::open(const fuse::Context&, fuse::Inode inode,
                                            uint32_t flags) {
  return do_open(inode, flags);
}

Result<fuse::OpenReply> PassthroughFs::opendir(const fuse::Context&, fuse::Inode inode,
                                               uint32_t flags) {
  return do_open(inode, (flags & ~static_cast<uint32_t>(O_ACCMODE)) | O_RDONLY | O_DIRECTORY);
}

Status PassthroughFs::release(const fuse::Context&, fuse::Inode inode, uint32_t,
                              fuse::Handle handle, bool, bool, std::optional<uint64_t>) {
  return do_release(inode, handle);
}

Status PassthroughFs::releasedir(const fuse::Context&, fuse::Inode inode, uint32_t,
                                 fuse::Handle handle) {
  return do_release(inode, handle);
}

Result<size_t> PassthroughFs::read(const fuse::Context&, fuse::Inode inode, fuse::Handle handle,
                                   fuse::Writer& out, uint32_t size, uint64_t offset, uint32_t) {
  auto data = handles_.find(handle, inode);
  if (!data) return Errno{EBADF};
  if (offset > static_cast<uint64_t>(INT64_MAX)) return Errno{EINVAL};
  return out.read_from_fd(data->fd.get(), size, static_cast<off_t>(offset));
}

Result<size_t> PassthroughFs::write(const fuse::Context& ctx, fuse::Inode inode,
                                    fuse::Handle handle, fuse::Reader& in, uint32_t size,
                                    uint64_t offset, uint32_t, uint32_t) {
  if (readonly()) return Errno{EROFS};
  auto data = handles_.find(handle, inode);
  if (!data) return Errno{EBADF};
  if (offset > static_cast<uint64_t>(INT64_MAX)) return Errno{EINVAL};
  // Writing as the caller makes the kernel drop setuid/setgid bits as it would
  // for a local write by someone other than the owner.
  auto creds = ScopedCredentials::set(ctx.uid, ctx.gid);
  if (!creds) return Errno{creds.error()};
  return in.write_to_fd(data->fd.get(), size, static_cast<off_t>(offset));
}

Status PassthroughFs::flush(const fuse::Context&, fuse::Inode inode, fuse::Handle handle,
                            uint64_t) {
  auto data = handles_.find(handle, inode);
  if (!data) return EBADF;
  // The client calls flush on every close(); dup+close gives the host file the
  // same close-time behaviour (e.g. releasing POSIX locks, NFS write-back).
  // Safety: dup of our own fd, closed at once; both results checked.
  const int copy = ::dup(data->fd.get());
  if (copy < 0) return last_errno().value;
  if (::close(copy) < 0) return last_errno().value;
  return kOk;
}

Status PassthroughFs::fsync(const fuse::Context&, fuse::Inode inode, bool datasync,
                            fuse::Handle handle) {
  auto data = handles_.find(handle, inode);
  if (!data) return EBADF;
  // Safety: flushes our own fd; result checked.
  const int res = datasync ? ::fdatasync(data->fd.get()) : ::fsync(data->fd.get());
  return res < 0 ? last_errno().value : kOk;
}

Status PassthroughFs::fsyncdir(const fuse::Context& ctx, fuse::Inode inode, bool datasync,
                               fuse::Handle handle) {
  return fsync(ctx, inode, datasync, handle);
}

Status PassthroughFs::readdir(const fuse::Context&, fuse::Inode inode, fuse::Handle handle,
                              uint64_t offset, fuse::DirSink& sink) {
  auto data = handles_.find(handle, inode);
  if (!data) return EBADF;
  std::lock_guard lock(data->position_mu);
  return read_dir(data->fd.get(), offset, sink);
}

Status PassthroughFs::fallocate(const fuse::Context&, fuse::Inode inode, fuse::Handle handle,
                                uint32_t mode, uint64_t offset, uint64_t length) {
  if (readonly()) return EROFS;
  auto data = handles_.find(handle, inode);
  if (!data) return EBADF;
  if (offset > static_cast<uint64_t>(INT64_MAX) || length > static_cast<uint64_t>(INT64_MAX)) {
    return EINVAL;
  }
  // Safety: operates on our own fd; the kernel validates mode and range.
  if (::fallocate(data->fd.get(), static_cast<int>(mode), static_cast<off_t>(offset),
                  static_cast<off_t>(length)) < 0) {
    return last_errno().value;
  }
  return kOk;
}

Result<uint64_t> PassthroughFs::lseek(const fuse::Context&, fuse::Inode inode, fuse::Handle handle,
                                      uint64_t offset, uint32_t whence) {
  auto data = handles_.find(handle, inode);
  if (!data) return Errno{EBADF};
  if (offset > static_cast<uint64_t>(INT64_MAX)) return Errno{EINVAL};
  std::lock_guard lock(data->position_mu);
  // Safety: moves our own fd's position; the kernel validates whence.
  const off_t res = ::lseek(data->fd.get(), static_cast<off_t>(offset), static_cast<int>(whence));
  if (res < 0) return last_errno();
  return static_cast<uint64_t>(res);
}

Result<size_t> PassthroughFs::copy_file_range(const fuse::Context& ctx, fuse::Inode inode_in,
                                              fuse::Handle handle_in, uint64_t offset_in,
                                              fuse::Inode inode_out, fuse::Handle handle_out,
                                              uint64_t offset_out, uint64_t length,
                                              uint64_t flags) {
  if (readonly()) return Errno{EROFS};
  auto src = handles_.find(handle_in, inode_in);
  auto dst = handles_.find(handle_out, inode_out);
  if (!src || !dst) return Errno{EBADF};
  if (offset_in > static_cast<uint64_t>(INT64_MAX) ||
      offset_out > static_cast<uint64_t>(INT64_MAX) || flags > UINT32_MAX) {
    return Errno{EINVAL};
  }
  auto creds = ScopedCredentials::set(ctx.uid, ctx.gid);
  if (!creds) return Errno{creds.error()};
  auto off_in = static_cast<off_t>(offset_in);
  auto off_out = static_cast<off_t>(offset_out);
  // Safety: copies between our own fds at explicit offsets; result checked.
  const ssize_t res = ::copy_file_range(src->fd.get(), &off_in, dst->fd.get(), &off_out, length,
                                        static_cast<unsigned>(flags));
  if (res < 0) return last_errno();
  return static_cast<size_t>(res);
}

Result<fuse::IoctlReply> PassthroughFs::ioctl(const fuse::Context&, fuse::Inode inode,
                                              fuse::Handle handle, uint32_t, uint32_t cmd, uint64_t,
                                              std::span<const uint8_t> in, std::span<uint8_t> out) {
  auto data = handles_.find(handle, inode);
  if (!data) return Errno{EBADF};
  if (readonly() && is_modifying_ioctl(cmd)) return Errno{EROFS};
  return dispatch_ioctl(data->fd.get(), cmd, in, out);
}

}  // namespace pfs::passthrough
