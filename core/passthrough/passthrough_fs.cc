// PassthroughFs: lifecycle, lookup/forget, attributes. The other operations live
// in passthrough_{create,io,xattr}.cc.
#include "core/passthrough/passthrough_fs.h"

#include <fcntl.h>
#include <linux/fuse.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "core/passthrough/access_check.h"
#include "core/passthrough/casefold_lookup.h"
#include "core/passthrough/credentials.h"
#include "core/passthrough/name_check.h"
#include "core/passthrough/proc_path.h"

namespace pfs::passthrough {

namespace {

Result<struct stat> stat_fd(int fd) {
  struct stat st {};
  // Safety: fstatat only writes `st`; AT_EMPTY_PATH stats the O_PATH fd itself.
  if (::fstatat(fd, "", &st, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0) return last_errno();
  return st;
}

}  // namespace

Result<std::unique_ptr<PassthroughFs>> PassthroughFs::create(const Config& cfg) {
  // Safety: plain open of a caller-chosen path; the fd is owned right away.
  ScopedFd root(::open(cfg.root_dir.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!root.valid()) return last_errno();
  // Safety: /proc/self is the kernel's own symlink to this process; it is followed once,
  // here, and the fd stays this process's directory.
  ScopedFd proc(::open("/proc/self", O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!proc.valid()) return last_errno();
  return create_from_fds(cfg, std::move(root), std::move(proc));
}

Result<std::unique_ptr<PassthroughFs>> PassthroughFs::create_from_fds(const Config& cfg,
                                                                      ScopedFd root,
                                                                      ScopedFd proc) {
  if (!root.valid() || !proc.valid()) return Errno{EBADF};
  // The client sends the umask it wants applied; ours must not mask it again.
  ::umask(0);
  return std::make_unique<PassthroughFs>(ConstructKey{}, cfg, std::move(root), std::move(proc));
}

PassthroughFs::PassthroughFs(ConstructKey, const Config& cfg, ScopedFd root, ScopedFd proc)
    : cfg_(cfg), root_fd_(std::move(root)), proc_fd_(std::move(proc)) {}

Result<fuse::FsOptions> PassthroughFs::init(fuse::FsOptions capable) {
  // The root entry gets its own O_PATH fd so destroy()/init() can recreate it.
  // Safety: dup of our own valid fd; ownership taken at once.
  ScopedFd root(::fcntl(root_fd_.get(), F_DUPFD_CLOEXEC, 0));
  if (!root.valid()) return last_errno();
  auto st = stat_fd(root.get());
  if (!st) return Errno{st.error()};
  handles_.clear();
  inodes_.reset_with_root(std::move(root), *st);

  fuse::FsOptions want =
      FUSE_DO_READDIRPLUS | FUSE_READDIRPLUS_AUTO | FUSE_DONT_MASK | FUSE_SECURITY_CTX;
  if (cfg_.xattr && cfg_.posix_acl) want |= FUSE_POSIX_ACL;
  if (cfg_.cache_policy == CachePolicy::kAlways) want |= FUSE_CACHE_SYMLINKS;
  const bool writeback = cfg_.writeback && (capable & FUSE_WRITEBACK_CACHE) != 0;
  if (writeback) want |= FUSE_WRITEBACK_CACHE;
  writeback_.store(writeback, std::memory_order_relaxed);
  return want & capable;
}

void PassthroughFs::destroy() {
  handles_.clear();
  inodes_.clear();
}

std::shared_ptr<InodeData> PassthroughFs::find_inode(fuse::Inode inode) const {
  return inodes_.find(inode);
}

Result<ScopedFd> PassthroughFs::open_inode(const InodeData& inode, int flags) const {
  // When writeback caching is on the kernel may read from files the program
  // opened write-only, and it handles O_APPEND itself.
  if (writeback_.load(std::memory_order_relaxed)) {
    if ((flags & O_ACCMODE) == O_WRONLY) flags = (flags & ~O_ACCMODE) | O_RDWR;
    flags &= ~O_APPEND;
  }
  // O_NOFOLLOW would refuse the /proc magic link itself; O_DIRECT is the
  // client's business, not ours.
  flags = (flags | O_CLOEXEC) & ~(O_NOFOLLOW | O_DIRECT);
  const ProcFdPath path(inode.fd.get());
  // Safety: opens the file our O_PATH fd names, relative to our /proc fd; the
  // result is owned at once and checked.
  ScopedFd fd(::openat(proc_fd_.get(), path.c_str(), flags));
  if (!fd.valid()) return last_errno();
  return fd;
}

Result<fuse::Entry> PassthroughFs::entry_for(ScopedFd fd) {
  auto st = stat_fd(fd.get());
  if (!st) return Errno{st.error()};
  fuse::Entry entry;
  entry.attr = *st;
  entry.inode = inodes_.add_or_ref(std::move(fd), *st);
  // DESTROY emptied the table while this request was in flight.
  if (entry.inode == kNoInode) return Errno{ESTALE};
  entry.entry_timeout = cfg_.entry_timeout;
  entry.attr_timeout = cfg_.attr_timeout;
  return entry;
}

Result<fuse::Entry> PassthroughFs::do_lookup(const InodeData& parent, std::string_view name) {
  if (Status s = check_entry_name(name); s != kOk) return Errno{s};
  // Safety: a single component (checked above), relative to the parent's O_PATH
  // fd, never following a final symlink; the fd is owned at once.
  ScopedFd fd(::openat(parent.fd.get(), name.data(), O_PATH | O_NOFOLLOW | O_CLOEXEC));
  if (!fd.valid()) {
    const int err = errno;
    if (err != ENOENT || !cfg_.ascii_casefold) return Errno{err};
    auto dir = open_inode(parent, O_RDONLY | O_DIRECTORY);
    if (!dir) return Errno{ENOENT};
    auto found = ascii_casefold_lookup(dir->get(), name);
    if (!found) return Errno{ENOENT};
    fd = std::move(*found);
  }
  return entry_for(std::move(fd));
}

Result<fuse::Entry> PassthroughFs::lookup(const fuse::Context&, fuse::Inode parent,
                                          std::string_view name) {
  auto data = find_inode(parent);
  if (!data) return Errno{EBADF};
  return do_lookup(*data, name);
}

void PassthroughFs::forget(const fuse::Context&, fuse::Inode inode, uint64_t count) {
  inodes_.forget(inode, count);
}

void PassthroughFs::batch_forget(const fuse::Context&,
                                 std::span<const std::pair<fuse::Inode, uint64_t>> items) {
  inodes_.forget_many(items);
}

Result<fuse::AttrReply> PassthroughFs::getattr(const fuse::Context&, fuse::Inode inode,
                                               std::optional<fuse::Handle>) {
  auto data = find_inode(inode);
  if (!data) return Errno{EBADF};
  auto st = stat_fd(data->fd.get());
  if (!st) return Errno{st.error()};
  return fuse::AttrReply{*st, cfg_.attr_timeout};
}

Result<fuse::AttrReply> PassthroughFs::setattr(const fuse::Context& ctx, fuse::Inode inode,
                                               const fuse::SetattrRequest& req) {
  auto data = find_inode(inode);
  if (!data) return Errno{EBADF};
  if (readonly()) return Errno{EROFS};
  std::shared_ptr<HandleData> handle;
  if (req.handle) {
    handle = handles_.find(*req.handle, inode);
    if (!handle) return Errno{EBADF};
  }
  const ProcFdPath path(data->fd.get());

  if (req.valid & FATTR_MODE) {
    // Safety: both calls only change the mode of the file our fd names.
    const int res = handle ? ::fchmod(handle->fd.get(), req.mode)
                           : ::fchmodat(proc_fd_.get(), path.c_str(), req.mode, 0);
    if (res < 0) return last_errno();
  }
  if (req.valid & (FATTR_UID | FATTR_GID)) {
    const uid_t uid = (req.valid & FATTR_UID) ? req.uid : static_cast<uid_t>(-1);
    const gid_t gid = (req.valid & FATTR_GID) ? req.gid : static_cast<gid_t>(-1);
    // Safety: changes the owner of exactly the file our O_PATH fd names.
    if (::fchownat(data->fd.get(), "", uid, gid, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0) {
      return last_errno();
    }
  }
  if (req.valid & FATTR_SIZE) {
    int res = 0;
    if (handle) {
      // Safety: truncates the open file; result checked.
      res = ::ftruncate(handle->fd.get(), static_cast<off_t>(req.size));
    } else {
      // Opening a device or fifo could block or have side effects; truncating
      // one is meaningless anyway.
      if (data->type == FileType::kOther) return Errno{EINVAL};
      auto f = open_inode(*data, O_NONBLOCK | O_RDWR);
      if (!f) return Errno{f.error()};
      res = ::ftruncate(f->get(), static_cast<off_t>(req.size));
    }
    if (res < 0) return last_errno();
  }
  if (req.valid & (FATTR_ATIME | FATTR_MTIME)) {
    struct timespec times[2] = {{0, UTIME_OMIT}, {0, UTIME_OMIT}};
    if (req.valid & FATTR_ATIME_NOW) {
      times[0].tv_nsec = UTIME_NOW;
    } else if (req.valid & FATTR_ATIME) {
      times[0].tv_sec = req.atime;
      times[0].tv_nsec = req.atimensec;
    }
    if (req.valid & FATTR_MTIME_NOW) {
      times[1].tv_nsec = UTIME_NOW;
    } else if (req.valid & FATTR_MTIME) {
      times[1].tv_sec = req.mtime;
      times[1].tv_nsec = req.mtimensec;
    }
    // Safety: sets the times of the file our fd names; the kernel validates nsec.
    const int res = handle ? ::futimens(handle->fd.get(), times)
                           : ::utimensat(proc_fd_.get(), path.c_str(), times, 0);
    if (res < 0) return last_errno();
  }
  return getattr(ctx, inode, std::nullopt);
}

Result<size_t> PassthroughFs::readlink(const fuse::Context&, fuse::Inode inode,
                                       std::span<char> out) {
  auto data = find_inode(inode);
  if (!data) return Errno{EBADF};
  // Safety: writes at most out.size() bytes into `out`; result checked.
  const ssize_t n = ::readlinkat(data->fd.get(), "", out.data(), out.size());
  // With an empty path, readlinkat says ENOENT for anything but a symlink; the
  // file exists (we hold it), so answer what readlink(2) would: EINVAL.
  if (n < 0) return errno == ENOENT ? Errno{EINVAL} : last_errno();
  return static_cast<size_t>(n);
}

Result<struct statvfs> PassthroughFs::statfs(const fuse::Context&, fuse::Inode inode) {
  auto data = find_inode(inode);
  if (!data) return Errno{EBADF};
  struct statvfs out {};
  // Safety: only writes `out`; fstatvfs accepts O_PATH fds.
  if (::fstatvfs(data->fd.get(), &out) < 0) return last_errno();
  return out;
}

Status PassthroughFs::access(const fuse::Context& ctx, fuse::Inode inode, uint32_t mask) {
  if (Status s = check_caller_ids(ctx.uid, ctx.gid); s != kOk) return s;
  auto data = find_inode(inode);
  if (!data) return EBADF;
  auto st = stat_fd(data->fd.get());
  if (!st) return st.error();
  return check_access(*st, ctx.uid, ctx.gid, mask);
}

Status PassthroughFs::syncfs(const fuse::Context&, fuse::Inode inode) {
  auto data = find_inode(inode);
  if (!data) return EBADF;
  if (data->type == FileType::kOther) return EINVAL;
  // syncfs() refuses O_PATH descriptors, so open the inode for reading.
  auto f = open_inode(
      *data, O_RDONLY | O_NONBLOCK | (data->type == FileType::kDirectory ? O_DIRECTORY : 0));
  if (!f) return f.error();
  // Safety: flushes the file system holding the file; result checked.
  if (::syncfs(f->get()) < 0) return last_errno().value;
  return kOk;
}

Result<ssize_t> PassthroughFs::with_proc_chdir(
    const InodeData& inode, const std::function<ssize_t(const char*)>& fn) const {
  const ProcFdPath path(inode.fd.get());
  std::lock_guard lock(chdir_mu_);
  // Safety: fchdir to our own /proc fd; checked, and undone below.
  if (::fchdir(proc_fd_.get()) < 0) return last_errno();
  const ssize_t res = fn(path.c_str());
  const int err = errno;
  // Safety: back to the shared directory. If even this fails, later relative
  // path calls would resolve under /proc, so report it loudly as EIO.
  if (::fchdir(root_fd_.get()) < 0) return Errno{EIO};
  if (res < 0) return Errno{err};
  return res;
}

}  // namespace pfs::passthrough
