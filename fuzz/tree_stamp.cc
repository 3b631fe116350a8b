#include "fuzz/tree_stamp.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace pfs::fuzz {
namespace {

bool same_time(const timespec& a, const timespec& b) {
  return a.tv_sec == b.tv_sec && a.tv_nsec == b.tv_nsec;
}

EntryStamp stamp_of(int dir_fd, const std::string& path) {
  EntryStamp s;
  struct stat st {};
  const int flags = path.empty() ? AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW : AT_SYMLINK_NOFOLLOW;
  if (::fstatat(dir_fd, path.c_str(), &st, flags) != 0) return s;
  s.present = true;
  s.dev = st.st_dev;
  s.ino = st.st_ino;
  s.mode = st.st_mode;
  s.uid = st.st_uid;
  s.gid = st.st_gid;
  s.nlink = st.st_nlink;
  s.size = st.st_size;
  s.blocks = st.st_blocks;
  s.mtime = st.st_mtim;
  s.ctime = st.st_ctim;
  return s;
}

}  // namespace

bool EntryStamp::operator==(const EntryStamp& o) const {
  return present == o.present && dev == o.dev && ino == o.ino && mode == o.mode && uid == o.uid &&
         gid == o.gid && nlink == o.nlink && size == o.size && blocks == o.blocks &&
         same_time(mtime, o.mtime) && same_time(ctime, o.ctime);
}

std::vector<EntryStamp> take_stamps(int dir_fd, const std::vector<std::string>& paths) {
  std::vector<EntryStamp> out;
  out.reserve(paths.size());
  for (const std::string& p : paths) out.push_back(stamp_of(dir_fd, p));
  return out;
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
