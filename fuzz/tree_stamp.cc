#include "fuzz/tree_stamp.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace pfs::fuzz {
namespace {

bool same_time(const timespec& a, const timespec& b) {
  return a.tv_sec == b.tv_sec && a.tv_nsec == b.tv_nsec;
}

}  // namespace

void take_stamp(int dir_fd, const std::string& path, EntryStamp& s) {
  const int flags = path.empty() ? AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW : AT_SYMLINK_NOFOLLOW;
  s.present = ::fstatat(dir_fd, path.c_str(), &s.st, flags) == 0;
  if (!s.present) s.st = {};
}

bool EntryStamp::operator==(const EntryStamp& o) const {
  const struct stat& a = st;
  const struct stat& b = o.st;
  return present == o.present && a.st_dev == b.st_dev && a.st_ino == b.st_ino &&
         a.st_mode == b.st_mode && a.st_uid == b.st_uid && a.st_gid == b.st_gid &&
         a.st_size == b.st_size && a.st_blocks == b.st_blocks && a.st_nlink == b.st_nlink &&
         same_time(a.st_mtim, b.st_mtim) && same_time(a.st_ctim, b.st_ctim);
}

void take_stamps(int dir_fd, const std::vector<std::string>& paths, std::vector<EntryStamp>& out) {
  out.resize(paths.size());
  for (size_t i = 0; i < paths.size(); ++i) take_stamp(dir_fd, paths[i], out[i]);
}

bool ctime_is_fine_grained(const std::string& dir) {
  const std::string path = dir + "/.ctime-probe";
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return false;
  bool fine = true;
  for (int i = 0; i < 16 && fine; ++i) {
    struct stat before {};
    struct stat after {};
    fine = ::fstat(fd, &before) == 0 && ::fchmod(fd, (i % 2) != 0 ? 0600 : 0640) == 0 &&
           ::fstat(fd, &after) == 0 && !same_time(before.st_ctim, after.st_ctim);
  }
  ::close(fd);
  ::unlink(path.c_str());
  return fine;
}

}  // namespace pfs::fuzz
