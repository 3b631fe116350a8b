// A FileSystem that answers a plausible success to everything, without touching
// the host (but /dev/null for WRITE's zero-copy path): entries, attributes,
// handles, data, directory entries, xattrs, ioctl output. The fuse_decode target
// puts it behind the Server so that every reply encoder runs at full speed.
//
// Answers depend on the request (name, sizes, offsets) so that the encoders see
// varied shapes: the type of an entry follows the first byte of its name, data
// fills exactly the room offered, getxattr/listxattr honour the size protocol
// (0 asks for the size, too small is ERANGE), readdir resumes at the offset.
#pragma once

#include "core/fuse/filesystem.h"

namespace pfs::fuzz {

class PlausibleFs final : public fuse::FileSystem {
 public:
  PlausibleFs();
  ~PlausibleFs() override;
  PlausibleFs(const PlausibleFs&) = delete;
  PlausibleFs& operator=(const PlausibleFs&) = delete;

  Result<fuse::FsOptions> init(fuse::FsOptions capable) override { return capable; }
  Result<fuse::Entry> lookup(const fuse::Context&, fuse::Inode, std::string_view name) override;
  void forget(const fuse::Context&, fuse::Inode, uint64_t) override {}
  void batch_forget(const fuse::Context&,
                    std::span<const std::pair<fuse::Inode, uint64_t>>) override {}
  Result<fuse::AttrReply> getattr(const fuse::Context&, fuse::Inode inode,
                                  std::optional<fuse::Handle>) override;
  Result<fuse::AttrReply> setattr(const fuse::Context&, fuse::Inode inode,
                                  const fuse::SetattrRequest& req) override;
  Result<size_t> readlink(const fuse::Context&, fuse::Inode, std::span<char> out) override;
  Result<fuse::Entry> symlink(const fuse::Context&, std::string_view, fuse::Inode,
                              std::string_view name, std::string_view) override;
  Result<fuse::Entry> mknod(const fuse::Context&, fuse::Inode, std::string_view name, uint32_t,
                            uint32_t, uint32_t, std::string_view) override;
  Result<fuse::Entry> mkdir(const fuse::Context&, fuse::Inode, std::string_view name, uint32_t,
                            uint32_t, std::string_view) override;
  Status unlink(const fuse::Context&, fuse::Inode, std::string_view) override { return kOk; }
  Status rmdir(const fuse::Context&, fuse::Inode, std::string_view) override { return kOk; }
  Status rename(const fuse::Context&, fuse::Inode, std::string_view, fuse::Inode, std::string_view,
                uint32_t) override {
    return kOk;
  }
  Result<fuse::Entry> link(const fuse::Context&, fuse::Inode inode, fuse::Inode,
                           std::string_view name) override;
  Result<fuse::OpenReply> open(const fuse::Context&, fuse::Inode, uint32_t flags) override;
  Result<size_t> read(const fuse::Context&, fuse::Inode, fuse::Handle, fuse::Writer& out,
                      uint32_t size, uint64_t offset, uint32_t) override;
  Result<size_t> write(const fuse::Context&, fuse::Inode, fuse::Handle, fuse::Reader& in,
                       uint32_t size, uint64_t offset, uint32_t, uint32_t) override;
  Result<struct statvfs> statfs(const fuse::Context&, fuse::Inode) override;
  Status release(const fuse::Context&, fuse::Inode, uint32_t, fuse::Handle, bool, bool,
                 std::optional<uint64_t>) override {
    return kOk;
  }
  Status fsync(const fuse::Context&, fuse::Inode, bool, fuse::Handle) override { return kOk; }
  Status setxattr(const fuse::Context&, fuse::Inode, std::string_view, std::span<const uint8_t>,
                  uint32_t) override {
    return kOk;
  }
  Result<size_t> getxattr(const fuse::Context&, fuse::Inode, std::string_view name,
                          std::span<uint8_t> value) override;
  Result<size_t> listxattr(const fuse::Context&, fuse::Inode, std::span<uint8_t> list) override;
  Status removexattr(const fuse::Context&, fuse::Inode, std::string_view) override { return kOk; }
  Status flush(const fuse::Context&, fuse::Inode, fuse::Handle, uint64_t) override { return kOk; }
  Result<fuse::OpenReply> opendir(const fuse::Context&, fuse::Inode, uint32_t flags) override;
  Status readdir(const fuse::Context&, fuse::Inode, fuse::Handle, uint64_t offset,
                 fuse::DirSink& sink) override;
  Status releasedir(const fuse::Context&, fuse::Inode, uint32_t, fuse::Handle) override {
    return kOk;
  }
  Status fsyncdir(const fuse::Context&, fuse::Inode, bool, fuse::Handle) override { return kOk; }
  Status access(const fuse::Context&, fuse::Inode, uint32_t) override { return kOk; }
  Result<fuse::CreateReply> create(const fuse::Context&, fuse::Inode, std::string_view name,
                                   uint32_t mode, uint32_t flags, uint32_t,
                                   std::string_view) override;
  Result<fuse::CreateReply> tmpfile(const fuse::Context&, fuse::Inode, uint32_t mode,
                                    uint32_t flags, uint32_t, std::string_view) override;
  Result<fuse::IoctlReply> ioctl(const fuse::Context&, fuse::Inode, fuse::Handle, uint32_t,
                                 uint32_t cmd, uint64_t, std::span<const uint8_t> in,
                                 std::span<uint8_t> out) override;
  Status fallocate(const fuse::Context&, fuse::Inode, fuse::Handle, uint32_t, uint64_t,
                   uint64_t) override {
    return kOk;
  }
  Result<uint64_t> lseek(const fuse::Context&, fuse::Inode, fuse::Handle, uint64_t offset,
                         uint32_t whence) override;
  Result<size_t> copy_file_range(const fuse::Context&, fuse::Inode, fuse::Handle, uint64_t,
                                 fuse::Inode, fuse::Handle, uint64_t, uint64_t length,
                                 uint64_t) override;
  Status syncfs(const fuse::Context&, fuse::Inode) override { return kOk; }
  Result<fuse::FileLock> getlk(const fuse::Context&, fuse::Inode, fuse::Handle, uint64_t,
                               const fuse::FileLock& lock) override;
  Status setlk(const fuse::Context&, fuse::Inode, fuse::Handle, uint64_t, const fuse::FileLock&,
               bool) override {
    return kOk;
  }
  Result<uint64_t> bmap(const fuse::Context&, fuse::Inode, uint32_t, uint64_t block) override;
  Result<uint32_t> poll(const fuse::Context&, fuse::Inode, fuse::Handle, uint64_t, uint32_t,
                        uint32_t events) override;

 private:
  int devnull_ = -1;
};

}  // namespace pfs::fuzz
