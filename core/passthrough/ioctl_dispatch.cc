#include "core/passthrough/ioctl_dispatch.h"

#include <linux/fs.h>
#include <linux/fscrypt.h>
#include <sys/ioctl.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace pfs::passthrough {
namespace {

constexpr uint32_t kGetEncryptionPolicyEx = FS_IOC_GET_ENCRYPTION_POLICY_EX;
constexpr uint32_t kFsGetXattr = FS_IOC_FSGETXATTR;
constexpr uint32_t kFsSetXattr = FS_IOC_FSSETXATTR;
// The flags ioctls are encoded with `long` but take an int. The kernel headers name
// only the native and the 32-bit encodings; the native one is one of these two.
constexpr uint32_t kGetFlags32 = _IOR('f', 1, uint32_t);
constexpr uint32_t kSetFlags32 = _IOW('f', 2, uint32_t);
constexpr uint32_t kGetFlags64 = _IOR('f', 1, uint64_t);
constexpr uint32_t kSetFlags64 = _IOW('f', 2, uint64_t);
static_assert(kGetFlags32 == FS_IOC32_GETFLAGS && kSetFlags32 == FS_IOC32_SETFLAGS);
static_assert(FS_IOC_GETFLAGS == kGetFlags32 || FS_IOC_GETFLAGS == kGetFlags64);
static_assert(FS_IOC_SETFLAGS == kSetFlags32 || FS_IOC_SETFLAGS == kSetFlags64);

constexpr size_t kPolicySizeField = sizeof(fscrypt_get_policy_ex_arg::policy_size);
constexpr size_t kMaxPolicySize = sizeof(fscrypt_get_policy_ex_arg::policy);
static_assert(kPolicySizeField == 8 && kMaxPolicySize == sizeof(fscrypt_policy_v2));
static_assert(sizeof(fsxattr) == 28);

Result<fuse::IoctlReply> get_encryption_policy_ex(int fd, std::span<const uint8_t> in,
                                                  std::span<uint8_t> out) {
  // The seed reads policy_size from the input and fails when it is not all there.
  if (in.size() < kPolicySizeField) return Errno{EIO};
  if (out.size() < kPolicySizeField) return Errno{ENOMEM};
  fscrypt_get_policy_ex_arg arg;
  std::memset(&arg, 0, sizeof(arg));
  uint64_t requested = 0;
  std::memcpy(&requested, in.data(), sizeof(requested));
  // Never ask for more than we hold or than the reply has room for: the kernel then
  // answers EOVERFLOW itself when the policy does not fit.
  arg.policy_size = std::min<uint64_t>({requested, kMaxPolicySize, out.size() - kPolicySizeField});
  // Safe: the kernel writes at most sizeof(arg) bytes into `arg`; the result is checked.
  const int res = ::ioctl(fd, FS_IOC_GET_ENCRYPTION_POLICY_EX, &arg);
  if (res < 0) return last_errno();
  // The kernel only ever lowers policy_size; clamp anyway before trusting it.
  const size_t policy = std::min<uint64_t>(arg.policy_size, kMaxPolicySize);
  const size_t len = std::min(kPolicySizeField + policy, out.size());
  std::memcpy(out.data(), &arg, len);
  return fuse::IoctlReply{res, len};
}

Result<fuse::IoctlReply> get_fsxattr(int fd, std::span<uint8_t> out) {
  if (out.size() < sizeof(fsxattr)) return Errno{ENOMEM};
  fsxattr attr;
  std::memset(&attr, 0, sizeof(attr));
  // Safe: the kernel writes at most sizeof(attr) bytes into `attr`; checked.
  const int res = ::ioctl(fd, FS_IOC_FSGETXATTR, &attr);
  if (res < 0) return last_errno();
  std::memcpy(out.data(), &attr, sizeof(attr));
  return fuse::IoctlReply{res, sizeof(attr)};
}

Result<fuse::IoctlReply> set_fsxattr(int fd, std::span<const uint8_t> in) {
  if (in.size() < sizeof(fsxattr)) return Errno{EINVAL};
  fsxattr attr;
  std::memcpy(&attr, in.data(), sizeof(attr));
  // Safe: the kernel only reads `attr`; checked.
  const int res = ::ioctl(fd, FS_IOC_FSSETXATTR, &attr);
  if (res < 0) return last_errno();
  return fuse::IoctlReply{res, 0};
}

Result<fuse::IoctlReply> get_flags(int fd, std::span<uint8_t> out) {
  if (out.size() < sizeof(int)) return Errno{ENOMEM};
  int flags = 0;
  // Safe: the kernel writes one int into `flags`; checked.
  const int res = ::ioctl(fd, FS_IOC_GETFLAGS, &flags);
  if (res < 0) return last_errno();
  std::memcpy(out.data(), &flags, sizeof(flags));
  return fuse::IoctlReply{res, sizeof(flags)};
}

Result<fuse::IoctlReply> set_flags(int fd, std::span<const uint8_t> in) {
  if (in.size() < sizeof(int)) return Errno{ENOMEM};
  int flags = 0;
  std::memcpy(&flags, in.data(), sizeof(flags));
  // Safe: the kernel reads one int from `flags`; checked.
  const int res = ::ioctl(fd, FS_IOC_SETFLAGS, &flags);
  if (res < 0) return last_errno();
  return fuse::IoctlReply{res, 0};
}

}  // namespace

Result<fuse::IoctlReply> dispatch_ioctl(int fd, uint32_t cmd, std::span<const uint8_t> in,
                                        std::span<uint8_t> out) {
  switch (cmd) {
    case kGetEncryptionPolicyEx:
      return get_encryption_policy_ex(fd, in, out);
    case kFsGetXattr:
      return get_fsxattr(fd, out);
    case kFsSetXattr:
      return set_fsxattr(fd, in);
    case kGetFlags32:
    case kGetFlags64:
      return get_flags(fd, out);
    case kSetFlags32:
    case kSetFlags64:
      return set_flags(fd, in);
    default:
      return Errno{ENOTTY};
  }
}

}  // namespace pfs::passthrough
