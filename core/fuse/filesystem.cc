#include "core/fuse/filesystem.h"

namespace pfs::fuse {

// Defaults: every operation that a file system does not implement answers ENOSYS.
// FORGET has no reply, so its default does nothing.

Result<Entry> FileSystem::lookup(const Context&, Inode, std::string_view) { return Errno{ENOSYS}; }
void FileSystem::forget(const Context&, Inode, uint64_t) {}
void FileSystem::batch_forget(const Context& ctx,
                              std::span<const std::pair<Inode, uint64_t>> items) {
  for (const auto& [inode, count] : items) forget(ctx, inode, count);
}
Result<AttrReply> FileSystem::getattr(const Context&, Inode, std::optional<Handle>) {
  return Errno{ENOSYS};
}
Result<AttrReply> FileSystem::setattr(const Context&, Inode, const SetattrRequest&) {
  return Errno{ENOSYS};
}
Result<size_t> FileSystem::readlink(const Context&, Inode, std::span<char>) {
  return Errno{ENOSYS};
}
Result<Entry> FileSystem::symlink(const Context&, std::string_view, Inode, std::string_view,
                                  std::string_view) {
  return Errno{ENOSYS};
}
Result<Entry> FileSystem::mknod(const Context&, Inode, std::string_view, uint32_t, uint32_t,
                                uint32_t, std::string_view) {
  return Errno{ENOSYS};
}
Result<Entry> FileSystem::mkdir(const Context&, Inode, std::string_view, uint32_t, uint32_t,
                                std::string_view) {
  return Errno{ENOSYS};
}
Status FileSystem::unlink(const Context&, Inode, std::string_view) { return ENOSYS; }
Status FileSystem::rmdir(const Context&, Inode, std::string_view) { return ENOSYS; }
Status FileSystem::rename(const Context&, Inode, std::string_view, Inode, std::string_view,
                          uint32_t) {
  return ENOSYS;
}
Result<Entry> FileSystem::link(const Context&, Inode, Inode, std::string_view) {
  return Errno{ENOSYS};
}
Result<OpenReply> FileSystem::open(const Context&, Inode, uint32_t) { return Errno{ENOSYS}; }
Result<size_t> FileSystem::read(const Context&, Inode, Handle, Writer&, uint32_t, uint64_t,
                                uint32_t) {
  return Errno{ENOSYS};
}
Result<size_t> FileSystem::write(const Context&, Inode, Handle, Reader&, uint32_t, uint64_t,
                                 uint32_t, uint32_t) {
  return Errno{ENOSYS};
}
Result<struct statvfs> FileSystem::statfs(const Context&, Inode) { return Errno{ENOSYS}; }
Status FileSystem::release(const Context&, Inode, uint32_t, Handle, bool, bool,
                           std::optional<uint64_t>) {
  return ENOSYS;
}
Status FileSystem::fsync(const Context&, Inode, bool, Handle) { return ENOSYS; }
Status FileSystem::setxattr(const Context&, Inode, std::string_view, std::span<const uint8_t>,
                            uint32_t) {
  return ENOSYS;
}
Result<size_t> FileSystem::getxattr(const Context&, Inode, std::string_view, std::span<uint8_t>) {
  return Errno{ENOSYS};
}
Result<size_t> FileSystem::listxattr(const Context&, Inode, std::span<uint8_t>) {
  return Errno{ENOSYS};
}
Status FileSystem::removexattr(const Context&, Inode, std::string_view) { return ENOSYS; }
Status FileSystem::flush(const Context&, Inode, Handle, uint64_t) { return ENOSYS; }
Result<OpenReply> FileSystem::opendir(const Context&, Inode, uint32_t) { return Errno{ENOSYS}; }
Status FileSystem::readdir(const Context&, Inode, Handle, uint64_t, DirSink&) { return ENOSYS; }
Status FileSystem::releasedir(const Context&, Inode, uint32_t, Handle) { return ENOSYS; }
Status FileSystem::fsyncdir(const Context&, Inode, bool, Handle) { return ENOSYS; }
Status FileSystem::access(const Context&, Inode, uint32_t) { return ENOSYS; }
Result<CreateReply> FileSystem::create(const Context&, Inode, std::string_view, uint32_t, uint32_t,
                                       uint32_t, std::string_view) {
  return Errno{ENOSYS};
}
Result<CreateReply> FileSystem::tmpfile(const Context&, Inode, uint32_t, uint32_t, uint32_t,
                                        std::string_view) {
  return Errno{ENOSYS};
}
Result<IoctlReply> FileSystem::ioctl(const Context&, Inode, Handle, uint32_t, uint32_t, uint64_t,
                                     std::span<const uint8_t>, std::span<uint8_t>) {
  return Errno{ENOSYS};
}
Status FileSystem::fallocate(const Context&, Inode, Handle, uint32_t, uint64_t, uint64_t) {
  return ENOSYS;
}
Result<uint64_t> FileSystem::lseek(const Context&, Inode, Handle, uint64_t, uint32_t) {
  return Errno{ENOSYS};
}
Result<size_t> FileSystem::copy_file_range(const Context&, Inode, Handle, uint64_t, Inode, Handle,
                                           uint64_t, uint64_t, uint64_t) {
  return Errno{ENOSYS};
}
Status FileSystem::syncfs(const Context&, Inode) { return ENOSYS; }
Result<FileLock> FileSystem::getlk(const Context&, Inode, Handle, uint64_t, const FileLock&) {
  return Errno{ENOSYS};
}
Status FileSystem::setlk(const Context&, Inode, Handle, uint64_t, const FileLock&, bool) {
  return ENOSYS;
}
Result<uint64_t> FileSystem::bmap(const Context&, Inode, uint32_t, uint64_t) {
  return Errno{ENOSYS};
}
Result<uint32_t> FileSystem::poll(const Context&, Inode, Handle, uint64_t, uint32_t, uint32_t) {
  return Errno{ENOSYS};
}

}  // namespace pfs::fuse
