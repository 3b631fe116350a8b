// PassthroughFs: serves a host directory to a FUSE client, a port of crosvm's
// PassthroughFs. Every operation works on O_PATH descriptors with *at() syscalls,
// so nothing outside the shared directory is reachable by name.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include "core/fuse/filesystem.h"
#include "core/passthrough/config.h"
#include "core/passthrough/handle_table.h"
#include "core/passthrough/inode_table.h"
#include "core/passthrough/scoped_fd.h"
#include "core/passthrough/security_context.h"

namespace pfs::passthrough {

class PassthroughFs final : public fuse::FileSystem {
 public:
  // Opens the shared directory and /proc/self. Errors: the directory is missing or not
  // a directory, /proc is not mounted.
  static Result<std::unique_ptr<PassthroughFs>> create(const Config& cfg);
  // The same on descriptors opened by the caller: `root` (the shared directory, e.g.
  // "/" after pivot_root) and `proc` (/proc/self of the serving process, opened before
  // confinement: only this process's fd/ and task/ are reachable through it).
  static Result<std::unique_ptr<PassthroughFs>> create_from_fds(const Config& cfg, ScopedFd root,
                                                                ScopedFd proc);

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

  // Introspection for tests, properties and fuzz oracles.
  const InodeTable& inodes() const { return inodes_; }
  const HandleTable& handles() const { return handles_; }
  const Config& config() const { return cfg_; }
  bool writeback_enabled() const { return writeback_.load(std::memory_order_relaxed); }

  // Only create() can make the key, so only create() constructs (via make_unique).
  struct ConstructKey {
    explicit ConstructKey() = default;
  };
  PassthroughFs(ConstructKey, const Config& cfg, ScopedFd root, ScopedFd proc);

 private:
  std::shared_ptr<InodeData> find_inode(fuse::Inode inode) const;
  // What every operation that adds a name starts with: the parent, a valid name,
  // a writable share, and the client's security context for the new file.
  struct NewEntryScope {
    std::shared_ptr<InodeData> parent;
    ScopedSecurityContext secctx;
  };
  Result<NewEntryScope> begin_new_entry(const fuse::Context& ctx, fuse::Inode parent,
                                        std::string_view name, std::string_view security_ctx);
  // After making `name` in `parent`: looks it up (one new reference) and checks that
  // it is still of the `type` (S_IF*) made; EIO when a racing client swapped it.
  Result<fuse::Entry> lookup_made(const InodeData& parent, std::string_view name, mode_t type);
  // The entry (one new reference) for the file `fd` is open on, found through the
  // fd itself, never by name.
  Result<fuse::Entry> entry_for_open_file(int fd);
  // Reopens an inode's O_PATH fd for I/O through /proc/self/fd (the seed's
  // open_inode), with the writeback adjustments.
  Result<ScopedFd> open_inode(const InodeData& inode, int flags) const;
  // openat + stat + add to the table: one new reference for the client.
  Result<fuse::Entry> do_lookup(const InodeData& parent, std::string_view name);
  Result<fuse::Entry> entry_for(ScopedFd fd);
  Result<fuse::OpenReply> do_open(fuse::Inode inode, uint32_t flags);
  Status do_release(fuse::Inode inode, fuse::Handle handle);
  Result<ScopedFd> do_tmpfile(const fuse::Context& ctx, const InodeData& dir, uint32_t flags,
                              uint32_t mode, uint32_t umask);
  Result<bool> has_default_posix_acl(const InodeData& dir) const;
  uint32_t open_reply_flags(bool directory) const;
  // Runs `fn("fd/N")` with the process's cwd at /proc/self, restoring it to the
  // shared directory afterwards: the seed's way to call path-only syscalls (the
  // xattr family) on special files, which cannot be opened. `fn` returns a
  // syscall result (-1 and errno on failure).
  Result<ssize_t> with_proc_chdir(const InodeData& inode,
                                  const std::function<ssize_t(const char*)>& fn) const;
  bool readonly() const { return cfg_.readonly; }
  Result<ssize_t> do_getxattr(const InodeData& inode, const char* name, void* value,
                              size_t size) const;

  const Config cfg_;
  const ScopedFd root_fd_;  // O_PATH of the shared directory (the root inode's twin)
  const ScopedFd proc_fd_;  // O_PATH of /proc/self (this process's own directory)
  InodeTable inodes_;
  HandleTable handles_;
  std::atomic<bool> writeback_{false};
  mutable std::mutex chdir_mu_;
};

}  // namespace pfs::passthrough
