// A canary beside a shared directory, outside it: a directory and a file in it,
// owned by a uid nobody in the tests uses, with fixed modes, contents and xattrs.
// A race that makes the server follow a guest's symlink out of the share changes
// one of them; snapshot() before and after tells what changed.
#pragma once

#include <dirent.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <fstream>
#include <map>
#include <sstream>
#include <string>

namespace pfs::testing {

struct CanaryNode {
  ino_t ino = 0;
  uid_t uid = 0;
  gid_t gid = 0;
  mode_t mode = 0;
  off_t size = 0;
  std::map<std::string, std::string> xattrs;
  bool operator==(const CanaryNode&) const = default;
};

struct CanarySnapshot {
  CanaryNode dir, file;
  std::string contents;
  std::map<std::string, CanaryNode> extra;  // any name in the canary dir besides the file
  bool operator==(const CanarySnapshot&) const = default;
};

class Canary {
 public:
  static constexpr uid_t kOwner = 4242;
  static constexpr gid_t kGroup = 4242;
  static constexpr mode_t kDirMode = 0700;
  static constexpr mode_t kFileMode = 0600;
  static constexpr const char* kContents = "canary: nothing outside the share may change\n";

  // Makes `dir` (which must not exist) and `dir`/secret. ok() says whether it worked.
  explicit Canary(std::string dir) : dir_(std::move(dir)), file_(dir_ + "/secret") {
    ok_ = ::mkdir(dir_.c_str(), kDirMode) == 0;
    { std::ofstream(file_, std::ios::binary) << kContents; }
    ok_ = ok_ && ::chmod(file_.c_str(), kFileMode) == 0 &&
          ::lchown(file_.c_str(), kOwner, kGroup) == 0 &&
          ::lchown(dir_.c_str(), kOwner, kGroup) == 0 && ::chmod(dir_.c_str(), kDirMode) == 0 &&
          ::lsetxattr(file_.c_str(), "user.canary", "file", 4, 0) == 0 &&
          ::lsetxattr(dir_.c_str(), "user.canary", "dir", 3, 0) == 0 &&
          ::lsetxattr(file_.c_str(), "trusted.canary", "t", 1, 0) == 0;
  }

  bool ok() const { return ok_; }
  const std::string& dir() const { return dir_; }
  const std::string& file() const { return file_; }

  CanarySnapshot snapshot() const {
    CanarySnapshot s;
    s.dir = node(dir_);
    s.file = node(file_);
    std::ifstream in(file_, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    s.contents = ss.str();
    if (DIR* d = ::opendir(dir_.c_str())) {
      while (const dirent* e = ::readdir(d)) {
        const std::string n = e->d_name;
        if (n != "." && n != ".." && n != "secret") s.extra[n] = node(dir_ + "/" + n);
      }
      ::closedir(d);
    }
    return s;
  }

  // Cheap check for a loop: owner and mode of both, size of the file.
  bool looks_untouched() const {
    struct stat d {
    }, f{};
    if (::lstat(dir_.c_str(), &d) != 0 || ::lstat(file_.c_str(), &f) != 0) return false;
    return d.st_uid == kOwner && d.st_gid == kGroup && (d.st_mode & 07777) == kDirMode &&
           f.st_uid == kOwner && f.st_gid == kGroup && (f.st_mode & 07777) == kFileMode &&
           f.st_size == static_cast<off_t>(std::char_traits<char>::length(kContents)) &&
           d.st_nlink == 2;
  }

  static std::string describe(const CanaryNode& n) {
    std::ostringstream o;
    o << "ino " << n.ino << " uid " << n.uid << " gid " << n.gid << " mode 0" << std::oct
      << (n.mode & 07777) << std::dec << " size " << n.size << " xattrs {";
    for (const auto& [k, v] : n.xattrs) o << k << "=" << v << " ";
    o << "}";
    return o.str();
  }
  static std::string describe(const CanarySnapshot& s) {
    std::ostringstream o;
    o << "dir: " << describe(s.dir) << "\nfile: " << describe(s.file) << "\ncontents: \""
      << s.contents << "\"";
    for (const auto& [k, n] : s.extra) o << "\nextra " << k << ": " << describe(n);
    return o.str();
  }

 private:
  static CanaryNode node(const std::string& path) {
    CanaryNode n;
    struct stat st {};
    if (::lstat(path.c_str(), &st) != 0) return n;
    n.ino = st.st_ino;
    n.uid = st.st_uid;
    n.gid = st.st_gid;
    n.mode = st.st_mode;
    n.size = S_ISREG(st.st_mode) ? st.st_size : 0;
    char names[4096];
    const ssize_t len = ::llistxattr(path.c_str(), names, sizeof(names));
    for (ssize_t off = 0; len > 0 && off < len;) {
      const std::string name(names + off);
      char value[256];
      const ssize_t v = ::lgetxattr(path.c_str(), name.c_str(), value, sizeof(value));
      n.xattrs[name] = v >= 0 ? std::string(value, static_cast<size_t>(v)) : "<error>";
      off += static_cast<ssize_t>(name.size()) + 1;
    }
    return n;
  }

  std::string dir_, file_;
  bool ok_ = false;
};

}  // namespace pfs::testing
