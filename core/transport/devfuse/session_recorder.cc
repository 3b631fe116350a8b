#include "core/transport/devfuse/session_recorder.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <ctime>
#include <memory>

namespace pfs::transport::devfuse {

Result<std::unique_ptr<SessionRecorder>> SessionRecorder::create(const std::string& dir) {
  // A recording holds every WRITE payload: the folder (when we make it) and the file
  // are the owner's only, whatever the umask.
  // Safety: creates the folder if needed; EEXIST is fine, anything else fails open below.
  ::mkdir(dir.c_str(), 0700);
  char stamp[32];
  const std::time_t now = std::time(nullptr);
  struct tm tm {};
  ::gmtime_r(&now, &tm);
  std::strftime(stamp, sizeof stamp, "%Y%m%dT%H%M%SZ", &tm);
  const std::string path = dir + "/session-" + stamp + "-" + std::to_string(::getpid()) + ".fuse";
  // Safety: a new file of ours (O_EXCL: never one that was there, O_NOFOLLOW: never
  // through a symlink), owned at once.
  ScopedFd fd(
      ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC | O_APPEND, 0600));
  if (!fd.valid()) return last_errno();
  // Safety: our new file; 0600 again in case the umask was odd (it only narrows,
  // but a default ACL on the folder could widen); checked.
  if (::fchmod(fd.get(), 0600) != 0) {
    const Errno e = last_errno();
    ::unlink(path.c_str());
    return e;
  }
  return std::make_unique<SessionRecorder>(Key{}, std::move(fd), path);
}

void SessionRecorder::record(std::span<const uint8_t> request) {
  std::lock_guard lock(mu_);
  size_t done = 0;
  while (done < request.size()) {
    // Safety: writes from the request bytes we were given; result checked.
    const ssize_t n = ::write(fd_.get(), request.data() + done, request.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      ++errors_;
      return;
    }
    done += static_cast<size_t>(n);
  }
  ++requests_;
}

uint64_t SessionRecorder::requests() const {
  std::lock_guard lock(mu_);
  return requests_;
}

uint64_t SessionRecorder::errors() const {
  std::lock_guard lock(mu_);
  return errors_;
}

}  // namespace pfs::transport::devfuse
