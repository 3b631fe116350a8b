#include "core/transport/devfuse/fuse_mount.h"

#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <utility>

namespace pfs::transport::devfuse {

namespace {

// Is `path` the root of a mount? (Its device differs from its parent's, or it is
// the parent itself, as for "/".)
bool is_mount_root(const std::string& path, const struct stat& st) {
  struct stat parent {};
  const std::string up = path + "/..";
  if (::stat(up.c_str(), &parent) != 0) return false;
  return parent.st_dev != st.st_dev || parent.st_ino == st.st_ino;
}

}  // namespace

FuseMount::~FuseMount() { unmount(); }

FuseMount::FuseMount(FuseMount&& other) noexcept
    : fd_(std::move(other.fd_)),
      mountpoint_(std::move(other.mountpoint_)),
      mounted_(std::exchange(other.mounted_, false)) {}

FuseMount& FuseMount::operator=(FuseMount&& other) noexcept {
  if (this != &other) {
    unmount();
    fd_ = std::move(other.fd_);
    mountpoint_ = std::move(other.mountpoint_);
    mounted_ = std::exchange(other.mounted_, false);
  }
  return *this;
}

Result<FuseMount> FuseMount::mount(const MountOptions& opts, std::string* why) {
  auto fail = [why](int err, const std::string& what) -> Result<FuseMount> {
    if (why != nullptr) *why = what + ": " + std::strerror(err);
    return Errno{err};
  };
  // A FUSE mount whose daemon died answers ENOTCONN, and nothing can use it any
  // more: detach it. statfs() always asks the daemon, whereas stat() may be
  // answered from the kernel's attribute cache for a while after the death.
  struct statfs sfs {};
  if (::statfs(opts.mountpoint.c_str(), &sfs) != 0 && errno == ENOTCONN) {
    // Safety: detaches only that dead mount; checked.
    if (::umount2(opts.mountpoint.c_str(), MNT_DETACH) != 0) {
      return fail(errno, "stale FUSE mount at " + opts.mountpoint + " could not be detached");
    }
  }
  struct stat st {};
  if (::stat(opts.mountpoint.c_str(), &st) != 0) {
    return fail(errno, "mountpoint " + opts.mountpoint);
  }
  if (!S_ISDIR(st.st_mode)) return fail(ENOTDIR, "mountpoint " + opts.mountpoint);
  if (is_mount_root(opts.mountpoint, st)) {
    return fail(EBUSY, "mountpoint " + opts.mountpoint + " is already a mount point");
  }

  FuseMount m;
  // Safety: a new fd of the FUSE device, owned at once.
  m.fd_.reset(::open("/dev/fuse", O_RDWR | O_CLOEXEC));
  if (!m.fd_.valid()) return fail(errno, "open /dev/fuse");

  // rootmode is octal in the kernel's parser.
  char rootmode[32];
  std::snprintf(rootmode, sizeof rootmode, "%o", st.st_mode & S_IFMT);
  std::string data = "fd=" + std::to_string(m.fd_.get()) + ",rootmode=" + rootmode +
                     ",user_id=" + std::to_string(::getuid()) +
                     ",group_id=" + std::to_string(::getgid());
  // No allow_other without default_permissions: pfsd acts with each caller's fsuid,
  // but root-owned checks it cannot see (e.g. no POSIX ACLs without xattrs) would
  // otherwise be nobody's.
  if (opts.allow_other) data += ",allow_other";
  if (opts.allow_other || opts.default_permissions) data += ",default_permissions";
  if (opts.max_read != 0) data += ",max_read=" + std::to_string(opts.max_read);
  unsigned long flags = MS_NOSUID | MS_NODEV;
  if (opts.readonly) flags |= MS_RDONLY;
  // Safety: mounts our /dev/fuse fd at the checked mountpoint; checked.
  if (::mount(opts.source.c_str(), opts.mountpoint.c_str(), "fuse", flags, data.c_str()) != 0) {
    return fail(errno, "mount -t fuse on " + opts.mountpoint);
  }
  m.mountpoint_ = opts.mountpoint;
  m.mounted_ = true;
  return m;
}

bool FuseMount::unmount() {
  if (!mounted_) return true;
  // Safety: unmounts only the mount we made; both results checked.
  if (::umount2(mountpoint_.c_str(), 0) == 0 || ::umount2(mountpoint_.c_str(), MNT_DETACH) == 0) {
    mounted_ = false;
    return true;
  }
  // EINVAL: someone else unmounted it already.
  if (errno == EINVAL) mounted_ = false;
  return !mounted_;
}

}  // namespace pfs::transport::devfuse
