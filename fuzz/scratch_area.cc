#include "fuzz/scratch_area.h"

#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <iterator>
#include <string_view>
#include <vector>

#include "fuzz/oracles.h"
#include "fuzz/tree_stamp.h"

namespace pfs::fuzz {
namespace {

// The top-level entries of the fixed tree, and the fixed entries below them.
constexpr const char* kTopEntries[] = {"file", "empty",  "ro",  "Upper.TXT", "dir",
                                       "link", "escape", "abs", "fifo"};
constexpr const char* kBelowDir[] = {"nested", "sub"};

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
  const int rc = ::fchmod(fd, mode);  // whatever the umask
  ::close(fd);
  if (n != static_cast<ssize_t>(content.size()))
    oracle_fail("scratch setup: write %s", path.c_str());
  must(rc, "chmod", path);
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

std::vector<std::string> names_in(int dir_fd, const std::string& path) {
  std::vector<std::string> names;
  const int list_fd = ::openat(dir_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (list_fd < 0) oracle_fail("scratch: open %s: %s", path.c_str(), std::strerror(errno));
  for_each_name(list_fd, path.c_str(), [&names](const char* n) { names.emplace_back(n); });
  ::close(list_fd);
  return names;
}

void empty_dir(int dir_fd, const std::string& path);

// Removes `name` from the directory `dir_fd`: a directory with all it holds.
void remove_entry(int dir_fd, const std::string& path, const std::string& name) {
  // The common cases in one or two calls: a file, an empty directory.
  if (::unlinkat(dir_fd, name.c_str(), 0) == 0 || errno == ENOENT) return;
  if (errno == EISDIR && ::unlinkat(dir_fd, name.c_str(), AT_REMOVEDIR) == 0) return;
  struct stat st {};
  if (::fstatat(dir_fd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) return;
  if (S_ISDIR(st.st_mode)) {
    clear_inode_flags(dir_fd, name.c_str());
    ::fchmodat(dir_fd, name.c_str(), 0700, 0);
    const int sub = ::openat(dir_fd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
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

// Removes everything inside the directory `dir_fd` (not the directory itself).
void empty_dir(int dir_fd, const std::string& path) {
  for (const std::string& name : names_in(dir_fd, path)) remove_entry(dir_fd, path, name);
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
// owner, size, link count, content (files) or target (symlinks), every xattr,
// and with `identity` the inode number, mtime and ctime. Sorted by name, so it
// is stable.
void describe(const std::string& path, const std::string& rel, bool identity, std::string& out) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) {
    out += rel + " missing\n";
    return;
  }
  out += rel + " mode=" + std::to_string(st.st_mode) + " uid=" + std::to_string(st.st_uid) +
         " gid=" + std::to_string(st.st_gid) + " size=" + std::to_string(st.st_size) +
         " nlink=" + std::to_string(st.st_nlink);
  if (identity) {
    out += " ino=" + std::to_string(st.st_ino) + " mtime=" + std::to_string(st.st_mtim.tv_sec) +
           "." + std::to_string(st.st_mtim.tv_nsec) +
           " ctime=" + std::to_string(st.st_ctim.tv_sec) + "." + std::to_string(st.st_ctim.tv_nsec);
  }
  if (S_ISREG(st.st_mode) || S_ISDIR(st.st_mode)) {
    int flags = 0;
    const int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC);
    if (fd >= 0 && ::ioctl(fd, FS_IOC_GETFLAGS, &flags) == 0) {
      out += " flags=" + std::to_string(flags);
    }
    if (fd >= 0) ::close(fd);
  }
  char names[4096];
  const ssize_t nl = ::llistxattr(path.c_str(), names, sizeof(names));
  std::vector<std::string> xattrs;
  for (ssize_t i = 0; i < nl; i += static_cast<ssize_t>(std::strlen(names + i)) + 1) {
    xattrs.emplace_back(names + i);
  }
  std::sort(xattrs.begin(), xattrs.end());
  for (const std::string& x : xattrs) {
    char value[256];
    const ssize_t vl = ::lgetxattr(path.c_str(), x.c_str(), value, sizeof(value));
    out += " xattr:" + x + "=" + (vl >= 0 ? std::string(value, static_cast<size_t>(vl)) : "?");
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
  const int dir_fd = ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (dir_fd < 0) {
    out += rel + " unlistable\n";
    return;
  }
  std::vector<std::string> children = names_in(dir_fd, path);
  ::close(dir_fd);
  std::sort(children.begin(), children.end());
  for (const std::string& n : children) describe(path + "/" + n, rel + "/" + n, identity, out);
}

bool full_reset_forced() { return std::getenv("PFS_FUZZ_FULL_RESET") != nullptr; }

}  // namespace

ScratchArea::ScratchArea()
    : base_(pick_base()), root_(base_ + "/root"), canary_(base_ + "/canary") {
  incremental_ = !full_reset_forced() && ctime_is_fine_grained(base_);
  must(::mkdir(root_.c_str(), 0755), "mkdir", root_);
  must(::mkdir(canary_.c_str(), 0755), "mkdir", canary_);
  write_file(canary_ + "/secret", "canary: must never change\n", 0644);
  set_xattr(canary_ + "/secret", "user.canary", "1");
  must(::mkdir((canary_ + "/sub").c_str(), 0755), "mkdir", canary_ + "/sub");
  write_file(canary_ + "/sub/deep", "deep canary\n", 0600);
  set_xattr(canary_ + "/sub", "user.canary.dir", "2");
  must(::symlink("secret", (canary_ + "/to_secret").c_str()), "symlink", canary_ + "/to_secret");
  base_fd_.reset(::open(base_.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!base_fd_.valid()) oracle_fail("open %s: %s", base_.c_str(), std::strerror(errno));

  root_paths_.emplace_back("root");
  root_path_owner_.push_back(-1);
  for (int i = 0; i < static_cast<int>(std::size(kTopEntries)); ++i) {
    const std::string top = std::string("root/") + kTopEntries[i];
    root_paths_.push_back(top);
    root_path_owner_.push_back(i);
    if (std::string_view(kTopEntries[i]) != "dir") continue;
    for (const char* below : kBelowDir) {
      root_paths_.push_back(top + "/" + below);
      root_path_owner_.push_back(i);
    }
  }
  canary_paths_ = {"",           "canary",          "canary/secret",
                   "canary/sub", "canary/sub/deep", "canary/to_secret"};
  canary_snapshot_ = snapshot();
  for (const std::string& p : canary_paths_) {
    canary_fds_.emplace_back(
        ::openat(base_fd_.get(), p.empty() ? "." : p.c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC));
    if (!canary_fds_.back().valid()) oracle_fail("open %s: %s", p.c_str(), std::strerror(errno));
  }
  take_canary_stamps(canary_stamps_);
}

// fstat() of the O_PATH fd held on each canary inode: no path walk. The names still
// lead to those inodes while the stamps hold: adding, removing or renaming a name
// in a directory moves that directory's mtime, and <base> and every directory of
// the canary are among the stamped inodes.
void ScratchArea::take_canary_stamps(std::vector<EntryStamp>& out) const {
  out.resize(canary_fds_.size());
  for (size_t i = 0; i < canary_fds_.size(); ++i) take_stamp(canary_fds_[i].get(), "", out[i]);
}

ScratchArea::~ScratchArea() {
  canary_fds_.clear();
  base_fd_.reset();
  remove_tree(base_);
}

void ScratchArea::build_entry(const std::string& name) {
  const std::string p = root_ + "/" + name;
  if (name == "file") {
    write_file(p, "hello, world\n", 0644);
    set_xattr(p, "user.fuzz", "value");
    set_xattr(p, "user.virtiofs.security.fuzz", "rewritten");
  } else if (name == "empty") {
    write_file(p, "", 0600);
  } else if (name == "ro") {
    write_file(p, "read only\n", 0444);
  } else if (name == "Upper.TXT") {
    write_file(p, "case\n", 0644);
  } else if (name == "dir") {
    must(::mkdir(p.c_str(), 0755), "mkdir", p);
    write_file(p + "/nested", "nested\n", 0644);
    must(::mkdir((p + "/sub").c_str(), 0755), "mkdir", p + "/sub");
  } else if (name == "link") {
    must(::symlink("file", p.c_str()), "symlink", p);
  } else if (name == "escape") {
    must(::symlink("../canary/secret", p.c_str()), "symlink", p);
  } else if (name == "abs") {
    must(::symlink((canary_ + "/secret").c_str(), p.c_str()), "symlink", p);
  } else if (name == "fifo") {
    must(::mkfifo(p.c_str(), 0644), "mkfifo", p);
    must(::chmod(p.c_str(), 0644), "chmod", p);
  } else {
    oracle_fail("scratch setup: no fixed entry %s", name.c_str());
  }
}

// The root itself may have been chmod'ed, chown'ed, flagged or had xattrs set.
// `now`, when given, is its lstat() of this moment: a right mode or owner is left.
void ScratchArea::restore_root_metadata(const struct stat* now) {
  clear_inode_flags(AT_FDCWD, root_.c_str());
  if (now == nullptr || (now->st_mode & 07777) != 0755) {
    must(::chmod(root_.c_str(), 0755), "chmod", root_);
  }
  if (now == nullptr || now->st_uid != ::geteuid() || now->st_gid != ::getegid()) {
    must(::lchown(root_.c_str(), ::geteuid(), ::getegid()), "chown", root_);
  }
  char names[4096];
  const ssize_t nl = ::llistxattr(root_.c_str(), names, sizeof(names));
  for (ssize_t i = 0; i < nl; i += static_cast<ssize_t>(std::strlen(names + i)) + 1) {
    ::lremovexattr(root_.c_str(), names + i);
  }
}

void ScratchArea::full_reset() {
  restore_root_metadata(nullptr);
  const int fd = ::open(root_.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) oracle_fail("scratch reset: open %s: %s", root_.c_str(), std::strerror(errno));
  empty_dir(fd, root_);
  ::close(fd);
  for (const char* name : kTopEntries) build_entry(name);
  built_ = true;
  ++counts_.full;
  if (incremental_) take_stamps(base_fd_.get(), root_paths_, root_stamps_);
}

// now_ holds the stamps that differ from root_stamps_.
void ScratchArea::repair() {
  const std::vector<EntryStamp>& now = now_;
  const int fd = ::open(root_.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) oracle_fail("scratch reset: open %s: %s", root_.c_str(), std::strerror(errno));
  std::array<bool, std::size(kTopEntries)> dirty{};
  for (size_t i = 1; i < now.size(); ++i) {
    if (!(now[i] == root_stamps_[i])) dirty[static_cast<size_t>(root_path_owner_[i])] = true;
  }
  if (!(now[0] == root_stamps_[0])) {
    // Names came, went or were renamed in root/, or its own metadata changed.
    restore_root_metadata(now[0].present ? &now[0].st : nullptr);
    for (const std::string& name : names_in(fd, root_)) {
      const auto* fixed = std::find(std::begin(kTopEntries), std::end(kTopEntries), name);
      if (fixed == std::end(kTopEntries)) remove_entry(fd, root_, name);
    }
  }
  for (size_t i = 0; i < dirty.size(); ++i) {
    if (!dirty[i]) continue;
    remove_entry(fd, root_, kTopEntries[i]);
    build_entry(kTopEntries[i]);
  }
  ::close(fd);
  ++counts_.repaired;
  // Only root/ and the rebuilt entries changed since now_ was read: the others
  // still have the stamps they had (any change to one, a link to it made or
  // removed included, would have moved its ctime and made it dirty).
  for (size_t i = 0; i < root_paths_.size(); ++i) {
    if (i == 0 || dirty[static_cast<size_t>(root_path_owner_[i])]) {
      take_stamp(base_fd_.get(), root_paths_[i], root_stamps_[i]);
    }
  }
}

void ScratchArea::reset() {
  if (!incremental_ || !built_) {
    full_reset();
    return;
  }
  take_stamps(base_fd_.get(), root_paths_, now_);
  if (now_ == root_stamps_) {
    ++counts_.clean;
    return;
  }
  repair();
}

std::string ScratchArea::describe_root() const {
  std::string out;
  describe(root_, "root", false, out);
  // Comparable between areas: "abs" points into this area's canary.
  for (size_t at = out.find(base_); at != std::string::npos; at = out.find(base_, at)) {
    out.replace(at, base_.size(), "<base>");
  }
  return out;
}

std::string ScratchArea::snapshot() const {
  std::string out;
  // Only root/ and canary/ may live in <base>: a rename or link out of the root
  // would add an entry here.
  const int fd = ::open(base_.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  std::vector<std::string> names = fd >= 0 ? names_in(fd, base_) : std::vector<std::string>{};
  if (fd >= 0) ::close(fd);
  std::sort(names.begin(), names.end());
  out += "base:";
  for (const std::string& n : names) out += " " + n;
  out += "\n";
  describe(canary_, "canary", true, out);
  return out;
}

void ScratchArea::check_canary() const {
  if (incremental_) {
    take_canary_stamps(now_);
    if (now_ == canary_stamps_) return;
  }
  const std::string now = snapshot();
  if (now != canary_snapshot_) {
    oracle_fail(
        "the canary tree beside the scratch root changed (an escape):\n--- before\n%s--- after\n%s",
        canary_snapshot_.c_str(), now.c_str());
  }
  if (!incremental_) return;
  // Equal contents but a new stamp: something was made and removed in <base>, or
  // an inode of the canary was touched and put back (its ctime still moved).
  oracle_fail(
      "the canary area was touched (an escape): <base> or a canary inode has a new "
      "mtime/ctime, though the walk shows the same tree:\n%s",
      now.c_str());
}

}  // namespace pfs::fuzz
