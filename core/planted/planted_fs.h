// PlantedFs: TEST-ONLY (pfsd_planted, built with PFS_PLANTED_BUGS). A FileSystem
// that forwards every operation to PassthroughFs, except for two bugs planted on
// purpose, so the escape suite can show what the sandbox does when the core is wrong:
//
//  1. LOOKUP follows symlinks: when the name is a symlink, its target is opened with
//     openat(parent fd, target, O_RDONLY) (no O_NOFOLLOW, no O_PATH, so absolute
//     targets and `..` resolve against the process's root) and, if that is a regular
//     file, the reply names *that* file. Its inodes and handles live here, above
//     kPlantedBase; getattr/open/read/flush/release/forget serve them.
//  2. LOOKUP of kForbiddenSyscallName calls personality(0xffffffff), a syscall off
//     the seccomp allow-list, then answers ENOENT: the trigger for --seccomp tests.
//
// Never use this outside tests. It exists so that "even with a core bug, the canary
// outside the share is out of reach" is a tested claim, not a hope.
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <string_view>
#include <unordered_map>

#include "core/passthrough/passthrough_fs.h"
#include "core/passthrough/scoped_fd.h"

namespace pfs::planted {

inline constexpr std::string_view kForbiddenSyscallName = ".pfs-planted-forbidden-syscall";
inline constexpr uint64_t kPlantedBase = uint64_t{1} << 62;

class PlantedFs final : public fuse::FileSystem {
 public:
  explicit PlantedFs(passthrough::PassthroughFs& inner) : inner_(inner) {}

  Result<fuse::FsOptions> init(fuse::FsOptions capable) override;
  void destroy() override;
  Result<fuse::Entry> lookup(const fuse::Context&, fuse::Inode parent,
                             std::string_view name) override;
  void forget(const fuse::Context&, fuse::Inode inode, uint64_t count) override;
  void batch_forget(const fuse::Context&,
                    std::span<const std::pair<fuse::Inode, uint64_t>> items) override;
  Result<fuse::AttrReply> getattr(const fuse::Context&, fuse::Inode inode,
                                  std::optional<fuse::Handle> handle) override;
  Result<fuse::AttrReply> setattr(const fuse::Context&, fuse::Inode inode,
                                  const fuse::SetattrRequest& req) override;
  Result<size_t> readlink(const fuse::Context&, fuse::Inode inode, std::span<char> out) override;
  Result<fuse::Entry> symlink(const fuse::Context&, std::string_view target, fuse::Inode parent,
                              std::string_view name, std::string_view security_ctx) override;
  Result<fuse::Entry> mknod(const fuse::Context&, fuse::Inode parent, std::string_view name,
                            uint32_t mode, uint32_t rdev, uint32_t umask,
                            std::string_view security_ctx) override;
  Result<fuse::Entry> mkdir(const fuse::Context&, fuse::Inode parent, std::string_view name,
                            uint32_t mode, uint32_t umask, std::string_view security_ctx) override;
  Status unlink(const fuse::Context&, fuse::Inode parent, std::string_view name) override;
  Status rmdir(const fuse::Context&, fuse::Inode parent, std::string_view name) override;
  Status rename(const fuse::Context&, fuse::Inode olddir, std::string_view oldname,
                fuse::Inode newdir, std::string_view newname, uint32_t flags) override;
  Result<fuse::Entry> link(const fuse::Context&, fuse::Inode inode, fuse::Inode newparent,
                           std::string_view newname) override;
  Result<fuse::OpenReply> open(const fuse::Context&, fuse::Inode inode, uint32_t flags) override;
  Result<size_t> read(const fuse::Context&, fuse::Inode inode, fuse::Handle handle,
                      fuse::Writer& out, uint32_t size, uint64_t offset, uint32_t flags) override;
  Result<size_t> write(const fuse::Context&, fuse::Inode inode, fuse::Handle handle,
                       fuse::Reader& in, uint32_t size, uint64_t offset, uint32_t write_flags,
                       uint32_t flags) override;
  Result<struct statvfs> statfs(const fuse::Context&, fuse::Inode inode) override;
  Status release(const fuse::Context&, fuse::Inode inode, uint32_t flags, fuse::Handle handle,
                 bool flush, bool flock_release, std::optional<uint64_t> lock_owner) override;
  Status fsync(const fuse::Context&, fuse::Inode inode, bool datasync,
               fuse::Handle handle) override;
  Status setxattr(const fuse::Context&, fuse::Inode inode, std::string_view name,
                  std::span<const uint8_t> value, uint32_t flags) override;
  Result<size_t> getxattr(const fuse::Context&, fuse::Inode inode, std::string_view name,
                          std::span<uint8_t> value) override;
  Result<size_t> listxattr(const fuse::Context&, fuse::Inode inode,
                           std::span<uint8_t> list) override;
  Status removexattr(const fuse::Context&, fuse::Inode inode, std::string_view name) override;
  Status flush(const fuse::Context&, fuse::Inode inode, fuse::Handle handle,
               uint64_t lock_owner) override;
  Result<fuse::OpenReply> opendir(const fuse::Context&, fuse::Inode inode, uint32_t flags) override;
  Status readdir(const fuse::Context&, fuse::Inode inode, fuse::Handle handle, uint64_t offset,
                 fuse::DirSink& sink) override;
  Status releasedir(const fuse::Context&, fuse::Inode inode, uint32_t flags,
                    fuse::Handle handle) override;
  Status fsyncdir(const fuse::Context&, fuse::Inode inode, bool datasync,
                  fuse::Handle handle) override;
  Status access(const fuse::Context&, fuse::Inode inode, uint32_t mask) override;
  Result<fuse::CreateReply> create(const fuse::Context&, fuse::Inode parent, std::string_view name,
                                   uint32_t mode, uint32_t flags, uint32_t umask,
                                   std::string_view security_ctx) override;
  Result<fuse::CreateReply> tmpfile(const fuse::Context&, fuse::Inode parent, uint32_t mode,
                                    uint32_t flags, uint32_t umask,
                                    std::string_view security_ctx) override;
  Result<fuse::IoctlReply> ioctl(const fuse::Context&, fuse::Inode inode, fuse::Handle handle,
                                 uint32_t flags, uint32_t cmd, uint64_t arg,
                                 std::span<const uint8_t> in, std::span<uint8_t> out) override;
  Status fallocate(const fuse::Context&, fuse::Inode inode, fuse::Handle handle, uint32_t mode,
                   uint64_t offset, uint64_t length) override;
  Result<uint64_t> lseek(const fuse::Context&, fuse::Inode inode, fuse::Handle handle,
                         uint64_t offset, uint32_t whence) override;
  Result<size_t> copy_file_range(const fuse::Context&, fuse::Inode inode_in, fuse::Handle handle_in,
                                 uint64_t offset_in, fuse::Inode inode_out, fuse::Handle handle_out,
                                 uint64_t offset_out, uint64_t length, uint64_t flags) override;
  Status syncfs(const fuse::Context&, fuse::Inode inode) override;

 private:
  // A file the planted LOOKUP opened by following a symlink.
  struct Followed {
    explicit Followed(ScopedFd f) : fd(std::move(f)) {}
    const ScopedFd fd;  // O_RDONLY of whatever the target resolved to
    uint64_t refs = 1;  // the client's lookups, under mu_
  };
  static bool planted(uint64_t id) { return id >= kPlantedBase; }
  std::shared_ptr<Followed> find_inode(fuse::Inode inode);
  std::shared_ptr<Followed> find_handle(fuse::Handle handle);
  // PLANTED BUG 1: resolves the symlink `link` (an entry in `parent`) by following it.
  Result<fuse::Entry> follow(const fuse::Context& ctx, fuse::Inode parent, const fuse::Entry& link);

  passthrough::PassthroughFs& inner_;
  std::mutex mu_;
  std::unordered_map<fuse::Inode, std::shared_ptr<Followed>> inodes_;
  std::unordered_map<fuse::Handle, std::shared_ptr<Followed>> handles_;
  std::atomic<uint64_t> next_{0};
};

}  // namespace pfs::planted
