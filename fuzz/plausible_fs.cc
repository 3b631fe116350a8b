#include "fuzz/plausible_fs.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/fuse.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstring>

namespace pfs::fuzz {
namespace {

constexpr std::string_view kXattrValue = "plausible xattr value";
// Three names, NUL-separated, the way listxattr returns them.
constexpr std::string_view kXattrList{"user.plausible\0security.selinux\0user.virtiofs.x\0", 48};
constexpr std::string_view kLinkTarget = "plausible/link/target";
constexpr std::array<std::string_view, 6> kDirNames = {
    ".", "..", "a", "file.txt", "dir", "a-rather-longer-name-for-padding"};

uint64_t name_hash(std::string_view s) {
  uint64_t h = 1469598103934665603ull;
  for (char ch : s) h = (h ^ static_cast<uint8_t>(ch)) * 1099511628211ull;
  return h;
}

struct stat make_attr(fuse::Inode inode, mode_t type, uint32_t perm) {
  struct stat st {};
  st.st_ino = inode;
  st.st_mode = type | (perm & 07777);
  st.st_nlink = type == S_IFDIR ? 2 : 1;
  st.st_uid = 1000;
  st.st_gid = 1000;
  st.st_size = type == S_IFLNK ? static_cast<off_t>(kLinkTarget.size()) : 4096;
  st.st_blksize = 4096;
  st.st_blocks = 8;
  st.st_atim = {1700000000, 1};
  st.st_mtim = {1700000001, 2};
  st.st_ctim = {1700000002, 3};
  return st;
}

// The type follows the name's first byte, so that the fuzzer can pick it.
mode_t type_for(std::string_view name) {
  switch (name.empty() ? 'f' : name[0]) {
    case 'd':
      return S_IFDIR;
    case 'l':
      return S_IFLNK;
    case 'p':
      return S_IFIFO;
    case 'c':
      return S_IFCHR;
    default:
      return S_IFREG;
  }
}

fuse::Entry make_entry(std::string_view name, mode_t type, uint32_t perm) {
  fuse::Entry e;
  e.inode = (name_hash(name) | 2) & 0x7fffffffffffffffull;
  e.generation = 1;
  e.attr = make_attr(e.inode, type, perm);
  e.entry_timeout = {5, 0};
  e.attr_timeout = {5, 0};
  return e;
}

}  // namespace

PlausibleFs::PlausibleFs() : devnull_(::open("/dev/null", O_WRONLY | O_CLOEXEC)) {}
PlausibleFs::~PlausibleFs() {
  if (devnull_ >= 0) ::close(devnull_);
}

Result<fuse::Entry> PlausibleFs::lookup(const fuse::Context&, fuse::Inode, std::string_view name) {
  if (name.starts_with("enoent")) return Errno{ENOENT};
  return make_entry(name, type_for(name), 0644);
}

Result<fuse::AttrReply> PlausibleFs::getattr(const fuse::Context&, fuse::Inode inode,
                                             std::optional<fuse::Handle>) {
  return fuse::AttrReply{make_attr(inode, inode == fuse::kRootInode ? S_IFDIR : S_IFREG, 0755),
                         {1, 500}};
}

Result<fuse::AttrReply> PlausibleFs::setattr(const fuse::Context&, fuse::Inode inode,
                                             const fuse::SetattrRequest& req) {
  struct stat st = make_attr(inode, S_IFREG, (req.valid & FATTR_MODE) ? req.mode : 0644);
  if (req.valid & FATTR_SIZE) st.st_size = static_cast<off_t>(req.size & 0x7fffffffffffffffull);
  if (req.valid & FATTR_UID) st.st_uid = req.uid;
  if (req.valid & FATTR_GID) st.st_gid = req.gid;
  return fuse::AttrReply{st, {1, 0}};
}

Result<size_t> PlausibleFs::readlink(const fuse::Context&, fuse::Inode, std::span<char> out) {
  const size_t n = std::min(out.size(), kLinkTarget.size());
  std::memcpy(out.data(), kLinkTarget.data(), n);
  return n;
}

Result<fuse::Entry> PlausibleFs::symlink(const fuse::Context&, std::string_view, fuse::Inode,
                                         std::string_view name, std::string_view) {
  return make_entry(name, S_IFLNK, 0777);
}

Result<fuse::Entry> PlausibleFs::mknod(const fuse::Context&, fuse::Inode, std::string_view name,
                                       uint32_t mode, uint32_t, uint32_t, std::string_view) {
  const mode_t type = (mode & S_IFMT) != 0 ? (mode & S_IFMT) : S_IFREG;
  return make_entry(name, type, mode);
}

Result<fuse::Entry> PlausibleFs::mkdir(const fuse::Context&, fuse::Inode, std::string_view name,
                                       uint32_t mode, uint32_t, std::string_view) {
  return make_entry(name, S_IFDIR, mode);
}

Result<fuse::Entry> PlausibleFs::link(const fuse::Context&, fuse::Inode, fuse::Inode,
                                      std::string_view name) {
  return make_entry(name, S_IFREG, 0644);
}

Result<fuse::OpenReply> PlausibleFs::open(const fuse::Context&, fuse::Inode, uint32_t flags) {
  return fuse::OpenReply{
      42, (flags & O_DIRECT) ? uint32_t{FOPEN_DIRECT_IO} : uint32_t{FOPEN_KEEP_CACHE}};
}

Result<size_t> PlausibleFs::read(const fuse::Context&, fuse::Inode, fuse::Handle, fuse::Writer& out,
                                 uint32_t size, uint64_t offset, uint32_t) {
  // A file of 1 MiB of a repeating pattern: short at EOF, empty past it.
  constexpr uint64_t kFileSize = 1u << 20;
  if (offset >= kFileSize) return size_t{0};
  size_t want = static_cast<size_t>(std::min<uint64_t>(size, kFileSize - offset));
  static const std::array<uint8_t, 4096> pattern = [] {
    std::array<uint8_t, 4096> p{};
    for (size_t i = 0; i < p.size(); ++i) p[i] = static_cast<uint8_t>(i * 7 + 3);
    return p;
  }();
  size_t done = 0;
  while (done < want) {
    const size_t chunk = std::min(want - done, pattern.size());
    if (!out.write(pattern.data(), chunk)) break;
    done += chunk;
  }
  return done;
}

Result<size_t> PlausibleFs::write(const fuse::Context&, fuse::Inode, fuse::Handle, fuse::Reader& in,
                                  uint32_t size, uint64_t offset, uint32_t, uint32_t) {
  if (devnull_ < 0) return Errno{EIO};
  // The zero-copy path, as PassthroughFs uses it; /dev/null ignores the offset.
  return in.write_to_fd(devnull_, size, static_cast<off_t>(offset & 0xffff));
}

Result<struct statvfs> PlausibleFs::statfs(const fuse::Context&, fuse::Inode) {
  struct statvfs s {};
  s.f_bsize = 4096;
  s.f_frsize = 4096;
  s.f_blocks = 1u << 20;
  s.f_bfree = 1u << 19;
  s.f_bavail = 1u << 19;
  s.f_files = 1u << 16;
  s.f_ffree = 1u << 15;
  s.f_namemax = 255;
  return s;
}

Result<size_t> PlausibleFs::getxattr(const fuse::Context&, fuse::Inode, std::string_view name,
                                     std::span<uint8_t> value) {
  if (name.starts_with("user.enodata")) return Errno{ENODATA};
  if (value.empty()) return kXattrValue.size();
  if (value.size() < kXattrValue.size()) return Errno{ERANGE};
  std::memcpy(value.data(), kXattrValue.data(), kXattrValue.size());
  return kXattrValue.size();
}

Result<size_t> PlausibleFs::listxattr(const fuse::Context&, fuse::Inode, std::span<uint8_t> list) {
  if (list.empty()) return kXattrList.size();
  if (list.size() < kXattrList.size()) return Errno{ERANGE};
  std::memcpy(list.data(), kXattrList.data(), kXattrList.size());
  return kXattrList.size();
}

Result<fuse::OpenReply> PlausibleFs::opendir(const fuse::Context&, fuse::Inode, uint32_t) {
  return fuse::OpenReply{7, FOPEN_CACHE_DIR};
}

Status PlausibleFs::readdir(const fuse::Context&, fuse::Inode, fuse::Handle, uint64_t offset,
                            fuse::DirSink& sink) {
  for (uint64_t i = offset; i < kDirNames.size(); ++i) {
    fuse::DirEntry e;
    e.ino = 100 + i;
    e.offset = i + 1;
    e.type = i < 2 || kDirNames[i] == "dir" ? DT_DIR : DT_REG;
    e.name = kDirNames[i];
    if (!sink.add(e)) break;
  }
  return kOk;
}

Result<fuse::CreateReply> PlausibleFs::create(const fuse::Context&, fuse::Inode,
                                              std::string_view name, uint32_t mode, uint32_t flags,
                                              uint32_t, std::string_view) {
  return fuse::CreateReply{
      make_entry(name, S_IFREG, mode),
      fuse::OpenReply{43, (flags & O_DIRECT) ? uint32_t{FOPEN_DIRECT_IO} : 0u}};
}

Result<fuse::CreateReply> PlausibleFs::tmpfile(const fuse::Context&, fuse::Inode, uint32_t mode,
                                               uint32_t, uint32_t, std::string_view) {
  return fuse::CreateReply{make_entry("#tmpfile", S_IFREG, mode), fuse::OpenReply{44, 0}};
}

Result<fuse::IoctlReply> PlausibleFs::ioctl(const fuse::Context&, fuse::Inode, fuse::Handle,
                                            uint32_t, uint32_t cmd, uint64_t,
                                            std::span<const uint8_t> in, std::span<uint8_t> out) {
  // Echo the input, then a pattern, into the whole output.
  const size_t echoed = std::min(in.size(), out.size());
  if (echoed != 0) std::memcpy(out.data(), in.data(), echoed);
  // The pattern repeats every 256 bytes: one period a byte at a time, then copies
  // of it (a byte loop over up to 64 KiB, each byte a traced comparison and an
  // ASan check, was 3.6% of fuse_decode's profile).
  size_t i = echoed;
  for (; i < out.size() && i < echoed + 256; ++i) out[i] = static_cast<uint8_t>(cmd + i);
  for (size_t n = 0; i < out.size(); i += n) {
    n = std::min<size_t>(256, out.size() - i);
    std::memcpy(out.data() + i, out.data() + i - 256, n);
  }
  return fuse::IoctlReply{static_cast<int32_t>(cmd & 0xff), out.size()};
}

Result<uint64_t> PlausibleFs::lseek(const fuse::Context&, fuse::Inode, fuse::Handle,
                                    uint64_t offset, uint32_t whence) {
  if (whence > 4) return Errno{EINVAL};
  return offset;
}

Result<size_t> PlausibleFs::copy_file_range(const fuse::Context&, fuse::Inode, fuse::Handle,
                                            uint64_t, fuse::Inode, fuse::Handle, uint64_t,
                                            uint64_t length, uint64_t) {
  return static_cast<size_t>(std::min<uint64_t>(length, 1u << 30));
}

Result<fuse::FileLock> PlausibleFs::getlk(const fuse::Context&, fuse::Inode, fuse::Handle, uint64_t,
                                          const fuse::FileLock& lock) {
  fuse::FileLock l = lock;
  l.pid = 4242;
  return l;
}

Result<uint64_t> PlausibleFs::bmap(const fuse::Context&, fuse::Inode, uint32_t, uint64_t block) {
  return block + 1;
}

Result<uint32_t> PlausibleFs::poll(const fuse::Context&, fuse::Inode, fuse::Handle, uint64_t,
                                   uint32_t, uint32_t events) {
  return events;
}

}  // namespace pfs::fuzz
