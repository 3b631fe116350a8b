// PassthroughFs: extended attributes, with the seed's security.* rewriting.
#include <fcntl.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstring>

#include "core/passthrough/passthrough_fs.h"
#include "core/passthrough/xattr_names.h"

namespace pfs::passthrough {

namespace {

// listxattr output is read into this much space before the prefix is stripped,
// so the size the client is told is the size of what it will get.
constexpr size_t kMaxXattrList = 65536;

// A name reaches the syscall through c_str(), so one with a NUL inside would name
// another, shorter attribute. The Server cannot pass one (it reads NUL-terminated
// names); a direct caller can.
bool has_nul(std::string_view name) { return name.find('\0') != std::string_view::npos; }

int open_flags_for(const InodeData& inode) {
  return O_RDONLY | O_NONBLOCK | (inode.type == FileType::kDirectory ? O_DIRECTORY : 0);
}

}  // namespace

Result<ssize_t> PassthroughFs::do_getxattr(const InodeData& inode, const char* name, void* value,
                                           size_t size) const {
  if (inode.type == FileType::kOther) {
    // Special files cannot be opened: use the path form from /proc.
    return with_proc_chdir(inode, [&](const char* path) {
      // Safety: writes at most `size` bytes into `value`; result checked by caller.
      return ::getxattr(path, name, value, size);
    });
  }
  auto f = open_inode(inode, open_flags_for(inode));
  if (!f) return Errno{f.error()};
  // Safety: writes at most `size` bytes into `value`; result checked.
  const ssize_t res = ::fgetxattr(f->get(), name, value, size);
  if (res < 0) return last_errno();
  return res;
}

Status PassthroughFs::setxattr(const fuse::Context&, fuse::Inode inode, std::string_view name,
                               std::span<const uint8_t> value, uint32_t flags) {
  if (!cfg_.xattr) return ENOSYS;
  if (has_nul(name)) return EINVAL;
  // The guest may not set our own prefix: it could forge a rewritten
  // security.* attribute through it.
  if (cfg_.rewrite_security_xattrs && is_reserved_xattr_name(name)) return EPERM;
  auto data = find_inode(inode);
  if (!data) return EBADF;
  if (readonly()) return EROFS;
  const std::string host = host_xattr_name(name, cfg_.rewrite_security_xattrs);
  const int xflags = static_cast<int>(flags);
  if (data->type == FileType::kOther) {
    auto res = with_proc_chdir(*data, [&](const char* path) -> ssize_t {
      // Safety: reads value.size() bytes of `value`; result checked.
      return ::setxattr(path, host.c_str(), value.data(), value.size(), xflags);
    });
    return res ? kOk : res.error();
  }
  auto f = open_inode(*data, open_flags_for(*data));
  if (!f) return f.error();
  // Safety: reads value.size() bytes of `value`; result checked.
  if (::fsetxattr(f->get(), host.c_str(), value.data(), value.size(), xflags) < 0) {
    return last_errno().value;
  }
  return kOk;
}

Result<size_t> PassthroughFs::getxattr(const fuse::Context&, fuse::Inode inode,
                                       std::string_view name, std::span<uint8_t> value) {
  if (!cfg_.xattr) return Errno{ENOSYS};
  if (has_nul(name)) return Errno{EINVAL};
  // We never let the guest set these, so pretend they hold nothing.
  if (cfg_.rewrite_security_xattrs && is_reserved_xattr_name(name)) return Errno{ENODATA};
  auto data = find_inode(inode);
  if (!data) return Errno{EBADF};
  const std::string host = host_xattr_name(name, cfg_.rewrite_security_xattrs);
  auto res = do_getxattr(*data, host.c_str(), value.data(), value.size());
  if (!res) return Errno{res.error()};
  return static_cast<size_t>(*res);
}

Result<size_t> PassthroughFs::listxattr(const fuse::Context&, fuse::Inode inode,
                                        std::span<uint8_t> list) {
  if (!cfg_.xattr) return Errno{ENOSYS};
  auto data = find_inode(inode);
  if (!data) return Errno{EBADF};
  thread_local std::array<uint8_t, kMaxXattrList> scratch;
  Result<ssize_t> res = Errno{EIO};
  if (data->type == FileType::kOther) {
    res = with_proc_chdir(*data, [&](const char* path) {
      // Safety: writes at most scratch.size() bytes; result checked.
      return ::listxattr(path, reinterpret_cast<char*>(scratch.data()), scratch.size());
    });
  } else {
    auto f = open_inode(*data, open_flags_for(*data));
    if (!f) return Errno{f.error()};
    // Safety: writes at most scratch.size() bytes; result checked.
    const ssize_t n =
        ::flistxattr(f->get(), reinterpret_cast<char*>(scratch.data()), scratch.size());
    res = n < 0 ? Result<ssize_t>(last_errno()) : Result<ssize_t>(n);
  }
  if (!res) return Errno{res.error() == ERANGE ? E2BIG : res.error()};
  size_t len = static_cast<size_t>(*res);
  if (cfg_.rewrite_security_xattrs) {
    len = strip_xattr_prefix(std::span<uint8_t>(scratch.data(), len));
  }
  if (list.empty()) return len;  // size query
  if (len > list.size()) return Errno{ERANGE};
  std::copy_n(scratch.data(), len, list.data());
  return len;
}

Status PassthroughFs::removexattr(const fuse::Context&, fuse::Inode inode, std::string_view name) {
  if (!cfg_.xattr) return ENOSYS;
  if (has_nul(name)) return EINVAL;
  if (cfg_.rewrite_security_xattrs && is_reserved_xattr_name(name)) return ENODATA;
  auto data = find_inode(inode);
  if (!data) return EBADF;
  if (readonly()) return EROFS;
  const std::string host = host_xattr_name(name, cfg_.rewrite_security_xattrs);
  if (data->type == FileType::kOther) {
    auto res = with_proc_chdir(*data, [&](const char* path) -> ssize_t {
      // Safety: no memory is written; result checked.
      return ::removexattr(path, host.c_str());
    });
    return res ? kOk : res.error();
  }
  auto f = open_inode(*data, open_flags_for(*data));
  if (!f) return f.error();
  // Safety: no memory is written; result checked.
  if (::fremovexattr(f->get(), host.c_str()) < 0) return last_errno().value;
  return kOk;
}

}  // namespace pfs::passthrough
