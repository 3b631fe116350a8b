// A kernel FUSE mount on the host: opens /dev/fuse and mounts it with mount(2).
// The mount is undone when the FuseMount goes away (lazily if it is busy).
#pragma once

#include <sys/types.h>

#include <string>

#include "core/fuse/result.h"
#include "core/passthrough/scoped_fd.h"

namespace pfs::transport::devfuse {

struct MountOptions {
  std::string mountpoint;
  std::string source = "pfsd";  // what /proc/mounts shows as the device
  // Other users may use the mount; it always brings default_permissions (the kernel
  // checks modes itself), whatever default_permissions says.
  bool allow_other = false;
  bool default_permissions = false;
  bool readonly = false;  // MS_RDONLY: the kernel refuses writes before they arrive
  uint32_t max_read = 0;  // 0: the kernel's default
};

class FuseMount {
 public:
  FuseMount() = default;
  ~FuseMount();
  FuseMount(FuseMount&& other) noexcept;
  FuseMount& operator=(FuseMount&& other) noexcept;
  FuseMount(const FuseMount&) = delete;
  FuseMount& operator=(const FuseMount&) = delete;

  // Opens /dev/fuse and mounts it on opts.mountpoint. A stale FUSE mount left
  // there by a daemon that died (stat answers ENOTCONN) is detached first.
  // Errors: ENOENT (no mountpoint or no /dev/fuse), ENOTDIR, EBUSY (something
  // live is mounted there already), EPERM, ...; `why` says which step failed.
  static Result<FuseMount> mount(const MountOptions& opts, std::string* why);

  int fd() const { return fd_.get(); }
  const std::string& mountpoint() const { return mountpoint_; }
  bool mounted() const { return mounted_; }

  // Unmounts now: a plain umount, or a lazy one when the mount is busy. Safe to
  // call more than once. Returns false when neither worked.
  bool unmount();

  // For a process that hands the mount over (pfsd's sandbox): disown() leaves the
  // unmount to another process (ours no longer sees the mountpoint); close_device()
  // closes our copy of the /dev/fuse fd.
  void disown() { mounted_ = false; }
  void close_device() { fd_.reset(); }

 private:
  ScopedFd fd_;
  std::string mountpoint_;
  bool mounted_ = false;
};

}  // namespace pfs::transport::devfuse
