#include "fuzz/scratch_area.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string_view>
#include <vector>

#include "fuzz/oracles.h"

namespace pfs::fuzz {
namespace {

std::string pick_base() {
  std::string dir = "/dev/shm";
  if (::access(dir.c_str(), W_OK | X_OK) != 0) {
    const char* t = std::getenv("TMPDIR");
    dir = t != nullptr && *t != '\0' ? t : "/tmp";
  }
  std::string templ = dir + "/pfs-fuzz.XXXXXX";
  if (::mkdtemp(templ.data()) == nullptr) {
    oracle_fail("mkdtemp %s: %s", templ.c_str(), std::strerror(errno));
  }
  return templ;
}

void must(int rc, const char* what, const std::string& path) {
  if (rc != 0) oracle_fail("scratch setup: %s %s: %s", what, path.c_str(), std::strerror(errno));
}

void write_file(const std::string& path, std::string_view content, mode_t mode) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0) oracle_fail("scratch setup: create %s: %s", path.c_str(), std::strerror(errno));
  const ssize_t n = ::write(fd, content.data(), content.size());
  ::close(fd);
  if (n != static_cast<ssize_t>(content.size()))
    oracle_fail("scratch setup: write %s", path.c_str());
  must(::chmod(path.c_str(), mode), "chmod", path);  // whatever the umask
}

void set_xattr(const std::string& path, const char* name, std::string_view value) {
  must(::lsetxattr(path.c_str(), name, value.data(), value.size(), 0), "setxattr", path);
}

// Clears FS_IOC_SETFLAGS flags (immutable, append-only) an input may have set.
void clear_inode_flags(int dir_fd, const char* name) {
  const int fd = ::openat(dir_fd, name, O_RDONLY | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return;
  int flags = 0;
  ::ioctl(fd, FS_IOC_SETFLAGS, &flags);
  ::close(fd);
}

// Removes everything inside the directory `dir_fd` (not the directory itself).
void empty_dir(int dir_fd, const std::string& path) {
  const int list_fd = ::dup(dir_fd);
  if (list_fd < 0) oracle_fail("scratch reset: dup: %s", std::strerror(errno));
  DIR* d = ::fdopendir(list_fd);
  if (d == nullptr) {
    ::close(list_fd);
    oracle_fail("scratch reset: fdopendir %s: %s", path.c_str(), std::strerror(errno));
  }
  std::vector<std::string> names;
  while (const dirent* e = ::readdir(d)) {
    const std::string_view n = e->d_name;
    if (n != "." && n != "..") names.emplace_back(n);
  }
  ::closedir(d);
  for (const std::string& name : names) {
    struct stat st {};
    if (::fstatat(dir_fd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) continue;
    if (S_ISDIR(st.st_mode)) {
      clear_inode_flags(dir_fd, name.c_str());
      ::fchmodat(dir_fd, name.c_str(), 0700, 0);
      const int sub =
          ::openat(dir_fd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      if (sub < 0)
        oracle_fail("scratch reset: open %s/%s: %s", path.c_str(), name.c_str(),
                    std::strerror(errno));
      empty_dir(sub, path + "/" + name);
      ::close(sub);
      if (::unlinkat(dir_fd, name.c_str(), AT_REMOVEDIR) != 0) {
        oracle_fail("scratch reset: rmdir %s/%s: %s", path.c_str(), name.c_str(),
                    std::strerror(errno));
      }
    } else if (::unlinkat(dir_fd, name.c_str(), 0) != 0) {
      clear_inode_flags(dir_fd, name.c_str());
      if (::unlinkat(dir_fd, name.c_str(), 0) != 0) {
        oracle_fail("scratch reset: unlink %s/%s: %s", path.c_str(), name.c_str(),
                    std::strerror(errno));
      }
    }
  }
}

void remove_tree(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return;
  clear_inode_flags(AT_FDCWD, path.c_str());
  ::chmod(path.c_str(), 0700);
  empty_dir(fd, path);
  ::close(fd);
  ::rmdir(path.c_str());
}

// One line per entry of the tree at `path` (recursively): name, type, mode,
// owner, size, link count, mtime and ctime, content (files) or target (symlinks),
// and every xattr. Sorted by name, so it is stable.
void describe(const std::string& path, const std::string& rel, std::string& out) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) {
    out += rel + " missing\n";
    return;
  }
  out += rel + " mode=" + std::to_string(st.st_mode) + " uid=" + std::to_string(st.st_uid) +
         " gid=" + std::to_string(st.st_gid) + " size=" + std::to_string(st.st_size) +
         " nlink=" + std::to_string(st.st_nlink) + " ino=" + std::to_string(st.st_ino) +
         " mtime=" + std::to_string(st.st_mtim.tv_sec) + "." + std::to_string(st.st_mtim.tv_nsec) +
         " ctime=" + std::to_string(st.st_ctim.tv_sec) + "." + std::to_string(st.st_ctim.tv_nsec);
  char names[4096];
  const ssize_t nl = ::llistxattr(path.c_str(), names, sizeof(names));
  for (ssize_t i = 0; i < nl; i += static_cast<ssize_t>(std::strlen(names + i)) + 1) {
    char value[256];
    const ssize_t vl = ::lgetxattr(path.c_str(), names + i, value, sizeof(value));
    out += std::string(" xattr:") + (names + i) + "=" +
           (vl >= 0 ? std::string(value, static_cast<size_t>(vl)) : "?");
  }
  if (S_ISREG(st.st_mode)) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    char buf[256];
    const ssize_t n = fd >= 0 ? ::read(fd, buf, sizeof(buf)) : -1;
    if (fd >= 0) ::close(fd);
    out += " data=" + (n >= 0 ? std::string(buf, static_cast<size_t>(n)) : "?");
  } else if (S_ISLNK(st.st_mode)) {
    char buf[4096];
    const ssize_t n = ::readlink(path.c_str(), buf, sizeof(buf));
    out += " target=" + (n >= 0 ? std::string(buf, static_cast<size_t>(n)) : "?");
  }
  out += "\n";
  if (!S_ISDIR(st.st_mode)) return;
  std::vector<std::string> names_in;
  if (DIR* d = ::opendir(path.c_str())) {
    while (const dirent* e = ::readdir(d)) {
      const std::string_view n = e->d_name;
      if (n != "." && n != "..") names_in.emplace_back(n);
    }
    ::closedir(d);
  }
  std::sort(names_in.begin(), names_in.end());
  for (const std::string& n : names_in) describe(path + "/" + n, rel + "/" + n, out);
}

}  // namespace

ScratchArea::ScratchArea()
    : base_(pick_base()), root_(base_ + "/root"), canary_(base_ + "/canary") {
  must(::mkdir(root_.c_str(), 0755), "mkdir", root_);
  must(::mkdir(canary_.c_str(), 0755), "mkdir", canary_);
  write_file(canary_ + "/secret", "canary: must never change\n", 0644);
  set_xattr(canary_ + "/secret", "user.canary", "1");
  must(::mkdir((canary_ + "/sub").c_str(), 0755), "mkdir", canary_ + "/sub");
  write_file(canary_ + "/sub/deep", "deep canary\n", 0600);
  set_xattr(canary_ + "/sub", "user.canary.dir", "2");
  must(::symlink("secret", (canary_ + "/to_secret").c_str()), "symlink", canary_ + "/to_secret");
  canary_snapshot_ = snapshot();
}

ScratchArea::~ScratchArea() { remove_tree(base_); }

void ScratchArea::reset() {
  const int fd = ::open(root_.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) oracle_fail("scratch reset: open %s: %s", root_.c_str(), std::strerror(errno));
  clear_inode_flags(AT_FDCWD, root_.c_str());
  empty_dir(fd, root_);
  ::close(fd);
  // The root itself may have been chmod'ed, chown'ed or had xattrs set.
  must(::chmod(root_.c_str(), 0755), "chmod", root_);
  must(::lchown(root_.c_str(), ::geteuid(), ::getegid()), "chown", root_);
  char names[4096];
  const ssize_t nl = ::llistxattr(root_.c_str(), names, sizeof(names));
  for (ssize_t i = 0; i < nl; i += static_cast<ssize_t>(std::strlen(names + i)) + 1) {
    ::lremovexattr(root_.c_str(), names + i);
  }

  const std::string& r = root_;
  write_file(r + "/file", "hello, world\n", 0644);
  set_xattr(r + "/file", "user.fuzz", "value");
  set_xattr(r + "/file", "user.virtiofs.security.fuzz", "rewritten");
  write_file(r + "/empty", "", 0600);
  write_file(r + "/ro", "read only\n", 0444);
  write_file(r + "/Upper.TXT", "case\n", 0644);
  must(::mkdir((r + "/dir").c_str(), 0755), "mkdir", r + "/dir");
  write_file(r + "/dir/nested", "nested\n", 0644);
  must(::mkdir((r + "/dir/sub").c_str(), 0755), "mkdir", r + "/dir/sub");
  must(::symlink("file", (r + "/link").c_str()), "symlink", r + "/link");
  must(::symlink("../canary/secret", (r + "/escape").c_str()), "symlink", r + "/escape");
  must(::symlink((canary_ + "/secret").c_str(), (r + "/abs").c_str()), "symlink", r + "/abs");
  must(::mkfifo((r + "/fifo").c_str(), 0644), "mkfifo", r + "/fifo");
}

std::string ScratchArea::snapshot() const {
  std::string out;
  // Only root/ and canary/ may live in <base>: a rename or link out of the root
  // would add an entry here.
  std::vector<std::string> names;
  if (DIR* d = ::opendir(base_.c_str())) {
    while (const dirent* e = ::readdir(d)) {
      const std::string_view n = e->d_name;
      if (n != "." && n != "..") names.emplace_back(n);
    }
    ::closedir(d);
  }
  std::sort(names.begin(), names.end());
  out += "base:";
  for (const std::string& n : names) out += " " + n;
  out += "\n";
  describe(canary_, "canary", out);
  return out;
}

void ScratchArea::check_canary() const {
  const std::string now = snapshot();
  if (now != canary_snapshot_) {
    oracle_fail(
        "the canary tree beside the scratch root changed (an escape):\n--- before\n%s--- after\n%s",
        canary_snapshot_.c_str(), now.c_str());
  }
}

}  // namespace pfs::fuzz
