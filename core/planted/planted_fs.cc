// TEST-ONLY: see planted_fs.h. Everything here but lookup() and the Followed files
// is plain forwarding to PassthroughFs.
#include "core/planted/planted_fs.h"

#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <vector>

namespace pfs::planted {

using fuse::Context;
using fuse::Entry;
using fuse::Handle;
using fuse::Inode;

std::shared_ptr<PlantedFs::Followed> PlantedFs::find_inode(Inode inode) {
  std::lock_guard lock(mu_);
  auto it = inodes_.find(inode);
  return it == inodes_.end() ? nullptr : it->second;
}

std::shared_ptr<PlantedFs::Followed> PlantedFs::find_handle(Handle handle) {
  std::lock_guard lock(mu_);
  auto it = handles_.find(handle);
  return it == handles_.end() ? nullptr : it->second;
}

Result<Entry> PlantedFs::follow(const Context& ctx, Inode parent, const Entry& link) {
  char target[PATH_MAX + 1];
  auto len = inner_.readlink(ctx, link.inode, std::span<char>(target, PATH_MAX));
  if (!len) return link;
  target[*len] = '\0';
  const auto dir = inner_.inodes().find(parent);
  if (!dir) return link;
  // PLANTED BUG: no O_NOFOLLOW, no O_PATH, no RESOLVE_BENEATH. An absolute target
  // resolves against the process's root, `..` climbs out of the share unless the
  // process's root stops it. That is exactly what the sandbox is there for.
  ScopedFd fd(::openat(dir->fd.get(), target, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC));
  struct stat st {};
  // Safety: fstat of the fd just opened; a failure keeps the honest answer.
  if (!fd.valid() || ::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode)) return link;
  inner_.forget(ctx, link.inode, 1);  // the reply names the target, not the link
  const Inode inode = kPlantedBase + next_.fetch_add(1);
  {
    std::lock_guard lock(mu_);
    inodes_.emplace(inode, std::make_shared<Followed>(std::move(fd)));
  }
  Entry e = link;
  e.inode = inode;
  e.generation = 0;
  e.attr = st;
  e.entry_timeout = {};
  e.attr_timeout = {};
  return e;
}

Result<fuse::FsOptions> PlantedFs::init(fuse::FsOptions capable) { return inner_.init(capable); }

void PlantedFs::destroy() {
  {
    std::lock_guard lock(mu_);
    handles_.clear();
    inodes_.clear();
  }
  inner_.destroy();
}

Result<Entry> PlantedFs::lookup(const Context& ctx, Inode parent, std::string_view name) {
  if (name == kForbiddenSyscallName) {
    // PLANTED BUG 2: a syscall off the seccomp allow-list (personality is in no
    // list; 0xffffffff only queries). --seccomp kill ends the process here, log
    // lets it through, trap names it.
    (void)::syscall(SYS_personality, 0xffffffffUL);
    return Errno{ENOENT};
  }
  if (planted(parent)) return Errno{ENOTDIR};
  auto e = inner_.lookup(ctx, parent, name);
  if (!e || !S_ISLNK(e->attr.st_mode)) return e;
  return follow(ctx, parent, *e);
}

void PlantedFs::forget(const Context& ctx, Inode inode, uint64_t count) {
  if (!planted(inode)) return inner_.forget(ctx, inode, count);
  std::lock_guard lock(mu_);
  auto it = inodes_.find(inode);
  if (it == inodes_.end()) return;
  it->second->refs -= std::min(count, it->second->refs);
  if (it->second->refs == 0) inodes_.erase(it);
}

void PlantedFs::batch_forget(const Context& ctx,
                             std::span<const std::pair<Inode, uint64_t>> items) {
  std::vector<std::pair<Inode, uint64_t>> rest;
  rest.reserve(items.size());
  for (const auto& item : items) {
    if (planted(item.first)) {
      forget(ctx, item.first, item.second);
    } else {
      rest.push_back(item);
    }
  }
  inner_.batch_forget(ctx, rest);
}

Result<fuse::AttrReply> PlantedFs::getattr(const Context& ctx, Inode inode,
                                           std::optional<Handle> handle) {
  if (!planted(inode)) return inner_.getattr(ctx, inode, handle);
  const auto f = find_inode(inode);
  if (!f) return Errno{EBADF};
  fuse::AttrReply r;
  // Safety: fstat of a fd we own.
  if (::fstat(f->fd.get(), &r.attr) != 0) return last_errno();
  return r;
}

Result<fuse::OpenReply> PlantedFs::open(const Context& ctx, Inode inode, uint32_t flags) {
  if (!planted(inode)) return inner_.open(ctx, inode, flags);
  auto f = find_inode(inode);
  if (!f) return Errno{EBADF};
  if ((flags & O_ACCMODE) != O_RDONLY) return Errno{EROFS};
  fuse::OpenReply r;
  r.handle = kPlantedBase + next_.fetch_add(1);
  std::lock_guard lock(mu_);
  handles_.emplace(r.handle, std::move(f));
  return r;
}

Result<size_t> PlantedFs::read(const Context& ctx, Inode inode, Handle handle, fuse::Writer& out,
                               uint32_t size, uint64_t offset, uint32_t flags) {
  if (!planted(handle)) return inner_.read(ctx, inode, handle, out, size, offset, flags);
  const auto f = find_handle(handle);
  if (!f) return Errno{EBADF};
  return out.read_from_fd(f->fd.get(), size, static_cast<off_t>(offset));
}

Status PlantedFs::release(const Context& ctx, Inode inode, uint32_t flags, Handle handle,
                          bool flush, bool flock_release, std::optional<uint64_t> lock_owner) {
  if (!planted(handle)) {
    return inner_.release(ctx, inode, flags, handle, flush, flock_release, lock_owner);
  }
  std::lock_guard lock(mu_);
  return handles_.erase(handle) != 0 ? kOk : EBADF;
}

Status PlantedFs::flush(const Context& ctx, Inode inode, Handle handle, uint64_t lock_owner) {
  if (!planted(handle)) return inner_.flush(ctx, inode, handle, lock_owner);
  return kOk;
}

Status PlantedFs::access(const Context& ctx, Inode inode, uint32_t mask) {
  if (!planted(inode)) return inner_.access(ctx, inode, mask);
  return kOk;
}

// ---- plain forwarding (a planted inode or handle is unknown to PassthroughFs,
// which answers it as it answers any unknown number).

Result<fuse::AttrReply> PlantedFs::setattr(const Context& c, Inode i,
                                           const fuse::SetattrRequest& r) {
  return inner_.setattr(c, i, r);
}
Result<size_t> PlantedFs::readlink(const Context& c, Inode i, std::span<char> out) {
  return inner_.readlink(c, i, out);
}
Result<Entry> PlantedFs::symlink(const Context& c, std::string_view target, Inode parent,
                                 std::string_view name, std::string_view sec) {
  return inner_.symlink(c, target, parent, name, sec);
}
Result<Entry> PlantedFs::mknod(const Context& c, Inode parent, std::string_view name, uint32_t mode,
                               uint32_t rdev, uint32_t umask, std::string_view sec) {
  return inner_.mknod(c, parent, name, mode, rdev, umask, sec);
}
Result<Entry> PlantedFs::mkdir(const Context& c, Inode parent, std::string_view name, uint32_t mode,
                               uint32_t umask, std::string_view sec) {
  return inner_.mkdir(c, parent, name, mode, umask, sec);
}
Status PlantedFs::unlink(const Context& c, Inode parent, std::string_view name) {
  return inner_.unlink(c, parent, name);
}
Status PlantedFs::rmdir(const Context& c, Inode parent, std::string_view name) {
  return inner_.rmdir(c, parent, name);
}
Status PlantedFs::rename(const Context& c, Inode olddir, std::string_view oldname, Inode newdir,
                         std::string_view newname, uint32_t flags) {
  return inner_.rename(c, olddir, oldname, newdir, newname, flags);
}
Result<Entry> PlantedFs::link(const Context& c, Inode inode, Inode newparent,
                              std::string_view newname) {
  return inner_.link(c, inode, newparent, newname);
}
Result<size_t> PlantedFs::write(const Context& c, Inode i, Handle h, fuse::Reader& in,
                                uint32_t size, uint64_t offset, uint32_t write_flags,
                                uint32_t flags) {
  return inner_.write(c, i, h, in, size, offset, write_flags, flags);
}
Result<struct statvfs> PlantedFs::statfs(const Context& c, Inode i) { return inner_.statfs(c, i); }
Status PlantedFs::fsync(const Context& c, Inode i, bool datasync, Handle h) {
  return inner_.fsync(c, i, datasync, h);
}
Status PlantedFs::setxattr(const Context& c, Inode i, std::string_view name,
                           std::span<const uint8_t> value, uint32_t flags) {
  return inner_.setxattr(c, i, name, value, flags);
}
Result<size_t> PlantedFs::getxattr(const Context& c, Inode i, std::string_view name,
                                   std::span<uint8_t> value) {
  return inner_.getxattr(c, i, name, value);
}
Result<size_t> PlantedFs::listxattr(const Context& c, Inode i, std::span<uint8_t> list) {
  return inner_.listxattr(c, i, list);
}
Status PlantedFs::removexattr(const Context& c, Inode i, std::string_view name) {
  return inner_.removexattr(c, i, name);
}
Result<fuse::OpenReply> PlantedFs::opendir(const Context& c, Inode i, uint32_t flags) {
  return inner_.opendir(c, i, flags);
}
Status PlantedFs::readdir(const Context& c, Inode i, Handle h, uint64_t offset,
                          fuse::DirSink& sink) {
  return inner_.readdir(c, i, h, offset, sink);
}
Status PlantedFs::releasedir(const Context& c, Inode i, uint32_t flags, Handle h) {
  return inner_.releasedir(c, i, flags, h);
}
Status PlantedFs::fsyncdir(const Context& c, Inode i, bool datasync, Handle h) {
  return inner_.fsyncdir(c, i, datasync, h);
}
Result<fuse::CreateReply> PlantedFs::create(const Context& c, Inode parent, std::string_view name,
                                            uint32_t mode, uint32_t flags, uint32_t umask,
                                            std::string_view sec) {
  return inner_.create(c, parent, name, mode, flags, umask, sec);
}
Result<fuse::CreateReply> PlantedFs::tmpfile(const Context& c, Inode parent, uint32_t mode,
                                             uint32_t flags, uint32_t umask, std::string_view sec) {
  return inner_.tmpfile(c, parent, mode, flags, umask, sec);
}
Result<fuse::IoctlReply> PlantedFs::ioctl(const Context& c, Inode i, Handle h, uint32_t flags,
                                          uint32_t cmd, uint64_t arg, std::span<const uint8_t> in,
                                          std::span<uint8_t> out) {
  return inner_.ioctl(c, i, h, flags, cmd, arg, in, out);
}
Status PlantedFs::fallocate(const Context& c, Inode i, Handle h, uint32_t mode, uint64_t offset,
                            uint64_t length) {
  return inner_.fallocate(c, i, h, mode, offset, length);
}
Result<uint64_t> PlantedFs::lseek(const Context& c, Inode i, Handle h, uint64_t offset,
                                  uint32_t whence) {
  return inner_.lseek(c, i, h, offset, whence);
}
Result<size_t> PlantedFs::copy_file_range(const Context& c, Inode inode_in, Handle handle_in,
                                          uint64_t offset_in, Inode inode_out, Handle handle_out,
                                          uint64_t offset_out, uint64_t length, uint64_t flags) {
  return inner_.copy_file_range(c, inode_in, handle_in, offset_in, inode_out, handle_out,
                                offset_out, length, flags);
}
Status PlantedFs::syncfs(const Context& c, Inode i) { return inner_.syncfs(c, i); }

}  // namespace pfs::planted
