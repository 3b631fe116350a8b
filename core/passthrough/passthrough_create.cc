// PassthroughFs: operations that add or remove names.
#include <fcntl.h>
#include <linux/fs.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/passthrough/credentials.h"
#include "core/passthrough/name_check.h"
#include "core/passthrough/passthrough_fs.h"
#include "core/passthrough/proc_path.h"
#include "core/passthrough/race_points.h"
#include "core/passthrough/security_context.h"
#include "core/passthrough/temp_dir.h"

namespace pfs::passthrough {

namespace {

// The group a new file gets: the parent's when it is setgid, else the caller's.
Result<gid_t> group_for_new_file(const InodeData& parent, gid_t caller_gid) {
  struct stat st {};
  // Safety: only writes `st`.
  if (::fstatat(parent.fd.get(), "", &st, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0) {
    return last_errno();
  }
  return (st.st_mode & S_ISGID) ? st.st_gid : caller_gid;
}

}  // namespace

Result<bool> PassthroughFs::has_default_posix_acl(const InodeData& dir) const {
  auto res = do_getxattr(dir, "system.posix_acl_default", nullptr, 0);
  if (res) return true;
  if (res.error() == ENODATA || res.error() == EOPNOTSUPP) return false;
  return Errno{res.error()};
}

Result<fuse::Entry> PassthroughFs::lookup_made(const InodeData& parent, std::string_view name,
                                               mode_t type) {
  race_point(RacePoint::kNameMade, parent.fd.get(), name);
  auto entry = do_lookup(parent, name);
  if (!entry) return entry;
  // A racing client may have put something else under the name since we made it;
  // the client kernel refuses such an answer with EIO too (fuse_create_new_entry).
  if ((entry->attr.st_mode & S_IFMT) != type) {
    inodes_.forget(entry->inode, 1);
    return Errno{EIO};
  }
  return entry;
}

Result<fuse::Entry> PassthroughFs::entry_for_open_file(int fd) {
  const ProcFdPath path(fd);
  // Safety: an O_PATH twin of the file `fd` is open on (the /proc magic link names
  // exactly that file, whatever its names are now); owned at once.
  ScopedFd opath(::openat(proc_fd_.get(), path.c_str(), O_PATH | O_CLOEXEC));
  if (!opath.valid()) return last_errno();
  return entry_for(std::move(opath));
}

Result<PassthroughFs::NewEntryScope> PassthroughFs::begin_new_entry(const fuse::Context& ctx,
                                                                    fuse::Inode parent,
                                                                    std::string_view name,
                                                                    std::string_view security_ctx) {
  NewEntryScope scope;
  // The new entry gets the caller's ids; -1 would mean "leave it root's".
  if (Status s = check_caller_ids(ctx.uid, ctx.gid); s != kOk) return Errno{s};
  scope.parent = find_inode(parent);
  if (!scope.parent) return Errno{EBADF};
  if (Status s = check_entry_name(name); s != kOk) return Errno{s};
  if (readonly()) return Errno{EROFS};
  auto secctx = ScopedSecurityContext::enter(security_ctx, proc_fd_.get());
  if (!secctx) return Errno{secctx.error()};
  scope.secctx = std::move(*secctx);
  return scope;
}

Result<fuse::Entry> PassthroughFs::mkdir(const fuse::Context& ctx, fuse::Inode parent,
                                         std::string_view name, uint32_t mode, uint32_t umask,
                                         std::string_view security_ctx) {
  auto scope = begin_new_entry(ctx, parent, name, security_ctx);
  if (!scope) return Errno{scope.error()};
  const InodeData* data = scope->parent.get();
  // With a default ACL on the parent, the mode acts as the umask instead.
  auto acl = has_default_posix_acl(*data);
  if (!acl) return Errno{acl.error()};
  if (!*acl) mode &= ~umask;

  // No O_TMPFILE for directories: build it under a hidden random name, give it
  // its owner, then rename it into place, so no half-made directory is ever
  // visible under the requested name.
  auto tmp = TempDir::create(data->fd.get(), static_cast<mode_t>(mode & 07777));
  if (!tmp) return Errno{tmp.error()};
  auto gid = group_for_new_file(*data, ctx.gid);
  if (!gid) return Errno{gid.error()};
  // Safety: changes the owner of the directory we just made; result checked.
  if (::fchown(tmp->fd(), ctx.uid, *gid) < 0) return last_errno();
  const std::string tmp_name(tmp->basename());
  // Safety: both names are single components relative to the parent's fd.
  if (::renameat2(data->fd.get(), tmp_name.c_str(), data->fd.get(), name.data(), RENAME_NOREPLACE) <
      0) {
    return last_errno();
  }
  (void)std::move(*tmp).into_inner();  // it has its real name now: nothing to remove
  return lookup_made(*data, name, S_IFDIR);
}

Result<fuse::Entry> PassthroughFs::mknod(const fuse::Context& ctx, fuse::Inode parent,
                                         std::string_view name, uint32_t mode, uint32_t rdev,
                                         uint32_t umask, std::string_view security_ctx) {
  auto scope = begin_new_entry(ctx, parent, name, security_ctx);
  if (!scope) return Errno{scope.error()};
  const InodeData* data = scope->parent.get();
  auto acl = has_default_posix_acl(*data);
  if (!acl) return Errno{acl.error()};
  if (!*acl) mode &= ~umask;
  auto creds = ScopedCredentials::set(ctx.uid, ctx.gid);
  if (!creds) return Errno{creds.error()};
  // Safety: a single component relative to the parent's fd; result checked.
  if (::mknodat(data->fd.get(), name.data(), static_cast<mode_t>(mode), static_cast<dev_t>(rdev)) <
      0) {
    return last_errno();
  }
  // mknodat makes a regular file of a mode without a type.
  const mode_t type = (mode & S_IFMT) ? static_cast<mode_t>(mode & S_IFMT) : S_IFREG;
  return lookup_made(*data, name, type);
}

Result<fuse::Entry> PassthroughFs::symlink(const fuse::Context& ctx, std::string_view target,
                                           fuse::Inode parent, std::string_view name,
                                           std::string_view security_ctx) {
  if (target.empty() || target.find('\0') != std::string_view::npos) return Errno{EINVAL};
  auto scope = begin_new_entry(ctx, parent, name, security_ctx);
  if (!scope) return Errno{scope.error()};
  const InodeData* data = scope->parent.get();
  auto creds = ScopedCredentials::set(ctx.uid, ctx.gid);
  if (!creds) return Errno{creds.error()};
  // Safety: the target is stored, never followed by us; the name is a single
  // component relative to the parent's fd.
  if (::symlinkat(target.data(), data->fd.get(), name.data()) < 0) return last_errno();
  return lookup_made(*data, name, S_IFLNK);
}

Result<fuse::Entry> PassthroughFs::link(const fuse::Context&, fuse::Inode inode,
                                        fuse::Inode newparent, std::string_view newname) {
  auto data = find_inode(inode);
  auto parent = find_inode(newparent);
  if (!data || !parent) return Errno{EBADF};
  if (Status s = check_entry_name(newname); s != kOk) return Errno{s};
  if (readonly()) return Errno{EROFS};
  const ProcFdPath path(data->fd.get());
  // Safety: links exactly the file our O_PATH fd names (the /proc magic link is
  // followed, nothing beyond it) to a single component in the new parent.
  if (::linkat(proc_fd_.get(), path.c_str(), parent->fd.get(), newname.data(), AT_SYMLINK_FOLLOW) <
      0) {
    return last_errno();
  }
  race_point(RacePoint::kNameMade, parent->fd.get(), newname);
  auto entry = do_lookup(*parent, newname);
  if (!entry) return entry;
  // The new name must still be a link to the inode we linked (see lookup_made).
  if (entry->inode != inode) {
    inodes_.forget(entry->inode, 1);
    return Errno{EIO};
  }
  return entry;
}

Status PassthroughFs::unlink(const fuse::Context&, fuse::Inode parent, std::string_view name) {
  auto data = find_inode(parent);
  if (!data) return EBADF;
  if (Status s = check_entry_name(name); s != kOk) return s;
  if (readonly()) return EROFS;
  // Safety: a single component relative to the parent's fd; result checked.
  if (::unlinkat(data->fd.get(), name.data(), 0) < 0) return last_errno().value;
  return kOk;
}

Status PassthroughFs::rmdir(const fuse::Context&, fuse::Inode parent, std::string_view name) {
  auto data = find_inode(parent);
  if (!data) return EBADF;
  if (Status s = check_entry_name(name); s != kOk) return s;
  if (readonly()) return EROFS;
  // Safety: as unlink.
  if (::unlinkat(data->fd.get(), name.data(), AT_REMOVEDIR) < 0) return last_errno().value;
  return kOk;
}

Status PassthroughFs::rename(const fuse::Context&, fuse::Inode olddir, std::string_view oldname,
                             fuse::Inode newdir, std::string_view newname, uint32_t flags) {
  auto from = find_inode(olddir);
  auto to = find_inode(newdir);
  if (!from || !to) return EBADF;
  if (Status s = check_entry_name(oldname); s != kOk) return s;
  if (Status s = check_entry_name(newname); s != kOk) return s;
  if (readonly()) return EROFS;
  // Safety: single components relative to the two parents' fds; the kernel
  // validates `flags` (RENAME_NOREPLACE, RENAME_EXCHANGE, RENAME_WHITEOUT).
  if (::renameat2(from->fd.get(), oldname.data(), to->fd.get(), newname.data(), flags) < 0) {
    return last_errno().value;
  }
  return kOk;
}

Result<ScopedFd> PassthroughFs::do_tmpfile(const fuse::Context& ctx, const InodeData& dir,
                                           uint32_t flags, uint32_t mode, uint32_t umask) {
  // O_EXCL means "never linkable" together with O_TMPFILE: not what create wants.
  int tmpflags = (static_cast<int>(flags) | O_TMPFILE | O_CLOEXEC | O_NOFOLLOW) &
                 ~(O_EXCL | O_CREAT | O_NOCTTY | O_PATH);
  if ((tmpflags & O_ACCMODE) == O_RDONLY) tmpflags = (tmpflags & ~O_ACCMODE) | O_RDWR;
  auto acl = has_default_posix_acl(dir);
  if (!acl) return Errno{acl.error()};
  if (!*acl) mode &= ~umask;
  // Safety: an unnamed file in the directory our fd names; owned at once.
  ScopedFd fd(::openat(dir.fd.get(), ".", tmpflags, static_cast<mode_t>(mode & 07777)));
  if (!fd.valid()) return last_errno();
  auto gid = group_for_new_file(dir, ctx.gid);
  if (!gid) return Errno{gid.error()};
  // Safety: changes the owner of the file we just made; result checked.
  if (::fchown(fd.get(), ctx.uid, *gid) < 0) return last_errno();
  return fd;
}

Result<fuse::CreateReply> PassthroughFs::create(const fuse::Context& ctx, fuse::Inode parent,
                                                std::string_view name, uint32_t mode,
                                                uint32_t flags, uint32_t umask,
                                                std::string_view security_ctx) {
  auto scope = begin_new_entry(ctx, parent, name, security_ctx);
  if (!scope) return Errno{scope.error()};
  const InodeData* data = scope->parent.get();

  // O_TMPFILE + linkat makes the file appear atomically with its final owner.
  // File systems without O_TMPFILE get a plain O_CREAT|O_EXCL under the caller's
  // credentials instead. Either way we keep the fd of the file we made and never
  // look the name up again: a racing client can swap the name at any moment, and
  // what it would put there (say a root-only file) must not be what we open.
  ScopedFd made;
  auto tmp = do_tmpfile(ctx, *data, flags, mode, umask);
  if (tmp) {
    const ProcFdPath path(tmp->get());
    // Safety: links the unnamed file to a single component in the parent.
    if (::linkat(proc_fd_.get(), path.c_str(), data->fd.get(), name.data(), AT_SYMLINK_FOLLOW) <
        0) {
      return last_errno();
    }
    made = std::move(*tmp);
  } else if (tmp.error() == EOPNOTSUPP || tmp.error() == EISDIR) {
    auto acl = has_default_posix_acl(*data);
    if (!acl) return Errno{acl.error()};
    auto creds = ScopedCredentials::set(ctx.uid, ctx.gid);
    if (!creds) return Errno{creds.error()};
    const uint32_t final_mode = *acl ? mode : (mode & ~umask);
    // Safety: a single component relative to the parent's fd; owned at once.
    made.reset(::openat(data->fd.get(), name.data(),
                        O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC | O_NOFOLLOW,
                        static_cast<mode_t>(final_mode & 07777)));
    if (!made.valid()) return last_errno();
  } else {
    return Errno{tmp.error()};
  }

  race_point(RacePoint::kNameMade, data->fd.get(), name);
  auto entry = entry_for_open_file(made.get());
  if (!entry) return Errno{entry.error()};
  // Reopened through the inode's own fd with the client's flags (not `made`, whose
  // access mode may be wider than asked).
  auto opened = do_open(entry->inode, flags & ~static_cast<uint32_t>(O_CREAT | O_EXCL | O_NOCTTY));
  if (!opened) {
    inodes_.forget(entry->inode, 1);  // do not leak the reference we just took
    return Errno{opened.error()};
  }
  return fuse::CreateReply{*entry, *opened};
}

Result<fuse::CreateReply> PassthroughFs::tmpfile(const fuse::Context& ctx, fuse::Inode parent,
                                                 uint32_t mode, uint32_t flags, uint32_t umask,
                                                 std::string_view security_ctx) {
  if (Status s = check_caller_ids(ctx.uid, ctx.gid); s != kOk) return Errno{s};
  auto data = find_inode(parent);
  if (!data) return Errno{EBADF};
  if (readonly()) return Errno{EROFS};
  auto secctx = ScopedSecurityContext::enter(security_ctx, proc_fd_.get());
  if (!secctx) return Errno{secctx.error()};
  auto file = do_tmpfile(ctx, *data, flags, mode, umask);
  if (!file) return Errno{file.error()};
  auto entry = entry_for_open_file(file->get());
  if (!entry) return Errno{entry.error()};
  const fuse::Handle handle = handles_.insert(entry->inode, std::move(*file));
  return fuse::CreateReply{*entry, fuse::OpenReply{handle, open_reply_flags(false)}};
}

}  // namespace pfs::passthrough
