#include "core/daemon/listen_socket.h"

#include <fcntl.h>
#include <grp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <vector>

namespace pfs::daemon {

std::optional<gid_t> resolve_group(const std::string& name) {
  if (name.empty()) return std::nullopt;
  std::vector<char> buf(16384);
  group gr{};
  group* found = nullptr;
  // Safety: getgrnam_r fills gr from buf (sized above); found is null when there is
  // no such group or the lookup failed.
  if (::getgrnam_r(name.c_str(), &gr, buf.data(), buf.size(), &found) == 0 && found != nullptr) {
    return found->gr_gid;
  }
  unsigned long gid = 0;
  const char* end = name.data() + name.size();
  const auto [ptr, ec] = std::from_chars(name.data(), end, gid);
  if (ec != std::errc{} || ptr != end || gid >= static_cast<gid_t>(-1)) return std::nullopt;
  return static_cast<gid_t>(gid);
}

Result<ScopedFd> listen_private(const std::string& path, std::optional<gid_t> group) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof(addr.sun_path)) return Errno{ENAMETOOLONG};
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  struct stat st {};
  if (::lstat(path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode)) return Errno{EEXIST};
    ::unlink(path.c_str());
  }
  // Safety: a fresh socket owned by the ScopedFd; errors are returned.
  ScopedFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd.valid()) return last_errno();
  // bind() creates the socket file with 0777 & ~umask: 0600 with this umask, so it
  // is never wider than the owner's at any moment. The umask is process-wide, which
  // is why this runs before any thread exists. The old umask is back right after.
  const mode_t old_umask = ::umask(0177);
  // Safety: addr is a complete sockaddr_un (path length checked above); the result
  // is checked below, after the umask is restored.
  const int bound = ::bind(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof(addr));
  const int bind_errno = errno;
  ::umask(old_umask);
  if (bound != 0) return Errno{bind_errno};
  if (group) {
    // Group first, then the group's bits: the mode is widened only once the group
    // is the right one. AT_SYMLINK_NOFOLLOW: never change whatever a symlink put in
    // the socket's place would point at.
    if (::fchownat(AT_FDCWD, path.c_str(), static_cast<uid_t>(-1), *group, AT_SYMLINK_NOFOLLOW) !=
            0 ||
        ::fchmodat(AT_FDCWD, path.c_str(), 0660, AT_SYMLINK_NOFOLLOW) != 0) {
      const Errno e = last_errno();
      ::unlink(path.c_str());
      return e;
    }
  }
  // Safety: listen on our bound socket; checked.
  if (::listen(fd.get(), 1) != 0) {
    const Errno e = last_errno();
    ::unlink(path.c_str());
    return e;
  }
  return fd;
}

}  // namespace pfs::daemon
