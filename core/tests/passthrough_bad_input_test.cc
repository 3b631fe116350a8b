// A hostile client against the real PassthroughFs: unknown inodes and handles,
// handles used with the wrong inode, symlinks that point out of the shared
// directory, escaping names, absurd sizes and offsets, and a loop of randomly
// mutated requests. The oracles: every reply is well formed, nothing outside the
// scratch directory changes (a canary tree), the tables stay consistent and no fd
// leaks. (Malformed bytes the server refuses before the FS runs are covered by
// server_bad_input_test.cc.)
#include <dirent.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>
#include <filesystem>
#include <map>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "core/tests/fd_count.h"
#include "core/tests/passthrough_fixture.h"

namespace pfs::testing {
namespace {

constexpr fuse::Inode kBadInodes[] = {0, 999999, ~fuse::Inode{0}};
constexpr fuse::Handle kBadHandles[] = {0, 999999, ~fuse::Handle{0}};
constexpr char kSecret[] = "CANARY-SECRET-CONTENT";

// Everything about a tree that a stray syscall could change (but atime).
std::string snapshot(const std::string& root) {
  std::ostringstream out;
  std::vector<std::string> paths{root};
  std::error_code ec;
  for (auto it = std::filesystem::recursive_directory_iterator(root, ec);
       !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
    paths.push_back(it->path());
  }
  std::sort(paths.begin(), paths.end());
  for (const std::string& p : paths) {
    struct stat st {};
    if (::lstat(p.c_str(), &st) != 0) continue;
    out << p << " mode=" << std::oct << st.st_mode << std::dec << " uid=" << st.st_uid
        << " gid=" << st.st_gid << " size=" << st.st_size << " nlink=" << st.st_nlink
        << " mtime=" << st.st_mtim.tv_sec << "." << st.st_mtim.tv_nsec
        << " ctime=" << st.st_ctim.tv_sec << "." << st.st_ctim.tv_nsec;
    if (S_ISREG(st.st_mode)) {
      std::ifstream in(p, std::ios::binary);
      std::stringstream ss;
      ss << in.rdbuf();
      out << " content=" << ss.str();
    }
    std::vector<char> names(65536);
    const ssize_t n = ::llistxattr(p.c_str(), names.data(), names.size());
    for (ssize_t i = 0; i < n;) {
      const std::string name(names.data() + i);
      std::vector<char> val(65536);
      const ssize_t v = ::lgetxattr(p.c_str(), name.c_str(), val.data(), val.size());
      out << " xattr " << name << "=" << std::string(val.data(), v < 0 ? 0 : size_t(v));
      i += static_cast<ssize_t>(name.size()) + 1;
    }
    out << "\n";
  }
  return out.str();
}

// Undoes inode flags a test (or the random loop) may have set, so that the
// scratch directories can be removed.
void clear_inode_flags(const std::string& root) {
  std::error_code ec;
  for (auto it = std::filesystem::recursive_directory_iterator(root, ec);
       !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
    if (it->is_symlink(ec)) continue;
    ScopedFd fd(::open(it->path().c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOFOLLOW));
    int flags = 0;
    if (!fd.valid() || ::ioctl(fd.get(), FS_IOC_GETFLAGS, &flags) != 0) continue;
    if ((flags & (FS_IMMUTABLE_FL | FS_APPEND_FL)) == 0) continue;
    flags &= ~(FS_IMMUTABLE_FL | FS_APPEND_FL);
    ::ioctl(fd.get(), FS_IOC_SETFLAGS, &flags);
  }
}

class BadInputTest : public PassthroughTest {
 protected:
  void SetUp() override {
    ASSERT_TRUE(outside_.ok());
    // The canary tree: a file with content, mode, xattrs, and a directory.
    std::ofstream(outside_ / "canary") << kSecret;
    ASSERT_EQ(::chmod((outside_ / "canary").c_str(), 0640), 0);
    ASSERT_EQ(::setxattr((outside_ / "canary").c_str(), "user.canary", "c", 1, 0), 0);
    ASSERT_EQ(::setxattr((outside_ / "canary").c_str(), "trusted.canary", "t", 1, 0), 0);
    ASSERT_EQ(::mkdir((outside_ / "dir").c_str(), 0755), 0);
    std::ofstream(outside_ / "dir/file") << kSecret;
    canary_before_ = snapshot(outside_.path());
    PassthroughTest::SetUp();
  }
  void TearDown() override {
    EXPECT_EQ(snapshot(outside_.path()), canary_before_) << "something outside changed";
    clear_inode_flags(dir_.path());
    clear_inode_flags(outside_.path());
  }

  int err(const mem::Bytes& request) { return run(request).error(); }
  // A reply must never carry the canary's secret.
  void expect_no_secret(const mem::Reply& r) {
    EXPECT_EQ(r.payload_string().find(kSecret), std::string::npos) << "canary content leaked";
  }
  std::set<std::string> host_names(const std::string& rel = "") {
    std::set<std::string> out;
    for (auto& e : std::filesystem::directory_iterator(host(rel))) out.insert(e.path().filename());
    return out;
  }
  // The open file behind a handle: it must be the host file `rel` and not O_PATH.
  void expect_handle_is(fuse::Inode inode, fuse::Handle fh, const std::string& rel) {
    auto h = fs_->handles().find(fh, inode);
    ASSERT_TRUE(h);
    struct stat st {};
    ASSERT_EQ(::fstat(h->fd.get(), &st), 0);
    EXPECT_EQ(st.st_ino, host_stat(rel)->st_ino);
    EXPECT_EQ(st.st_dev, host_stat(rel)->st_dev);
    const int fl = ::fcntl(h->fd.get(), F_GETFL);
    EXPECT_EQ(fl & O_PATH, 0) << "an O_PATH handle";
  }

  ScratchDir outside_{"pfs-canary"};
  std::string canary_before_;
};

// --- unknown inodes and handles -------------------------------------------

TEST_F(BadInputTest, UnknownInodesAreEbadf) {
  write_host_file("f", "x");
  auto f = lookup_ok(fuse::kRootInode, "f").nodeid;
  const auto names_before = host_names();
  fuse_setattr_in sa{};
  sa.valid = FATTR_MODE | FATTR_SIZE;
  sa.mode = 0777;
  for (fuse::Inode bad : kBadInodes) {
    SCOPED_TRACE(bad);
    EXPECT_EQ(err(req::getattr(bad)), EBADF);
    EXPECT_EQ(err(req::getattr(bad, 1)), EBADF);
    EXPECT_EQ(err(req::lookup(bad, "f")), EBADF);
    EXPECT_EQ(err(req::setattr(bad, sa)), EBADF);
    EXPECT_EQ(err(req::readlink(bad)), EBADF);
    EXPECT_EQ(err(req::open(bad, O_RDWR)), EBADF);
    EXPECT_EQ(err(req::opendir(bad)), EBADF);
    EXPECT_EQ(err(req::mkdir(bad, "m", 0755)), EBADF);
    EXPECT_EQ(err(req::mknod(bad, "n", S_IFIFO | 0644, 0)), EBADF);
    EXPECT_EQ(err(req::create(bad, "c", S_IFREG | 0644, O_RDWR)), EBADF);
    EXPECT_EQ(err(req::tmpfile(bad, S_IFREG | 0644, O_RDWR)), EBADF);
    EXPECT_EQ(err(req::symlink(bad, "s", "t")), EBADF);
    EXPECT_EQ(err(req::unlink(bad, "f")), EBADF);
    EXPECT_EQ(err(req::rmdir(bad, "f")), EBADF);
    EXPECT_EQ(err(req::rename(bad, "f", fuse::kRootInode, "g")), EBADF);
    EXPECT_EQ(err(req::rename(fuse::kRootInode, "f", bad, "g")), EBADF);
    EXPECT_EQ(err(req::rename2(fuse::kRootInode, "f", bad, "g", RENAME_NOREPLACE)), EBADF);
    EXPECT_EQ(err(req::link(bad, fuse::kRootInode, "l")), EBADF);
    EXPECT_EQ(err(req::link(f, bad, "l")), EBADF);
    EXPECT_EQ(err(req::statfs(bad)), EBADF);
    EXPECT_EQ(err(req::access(bad, R_OK)), EBADF);
    EXPECT_EQ(err(req::syncfs(bad)), EBADF);
    EXPECT_EQ(err(req::setxattr(bad, "user.a", "v")), EBADF);
    EXPECT_EQ(err(req::getxattr(bad, "user.a", 10)), EBADF);
    EXPECT_EQ(err(req::listxattr(bad, 10)), EBADF);
    EXPECT_EQ(err(req::removexattr(bad, "user.a")), EBADF);
    // No reply, no effect.
    EXPECT_FALSE(run(req::forget(bad, 1)).replied);
    const std::pair<fuse::Inode, uint64_t> items[] = {{bad, UINT64_MAX}, {bad, 1}};
    EXPECT_FALSE(run(req::batch_forget(items)).replied);
  }
  EXPECT_EQ(host_names(), names_before);
  EXPECT_EQ(read_host_file("f"), "x");
  EXPECT_EQ(fs_->inodes().size(), 2u);
  EXPECT_EQ(fs_->handles().size(), 0u);
  expect_tables_consistent();
}

TEST_F(BadInputTest, UnknownHandlesAreEbadf) {
  write_host_file("f", "content");
  ASSERT_EQ(::mkdir(host("d").c_str(), 0755), 0);
  auto f = lookup_ok(fuse::kRootInode, "f").nodeid;
  auto d = lookup_ok(fuse::kRootInode, "d").nodeid;
  const fuse::Handle good = open_ok(f, O_RDWR);
  for (fuse::Handle bad : kBadHandles) {
    if (bad == good) continue;
    SCOPED_TRACE(bad);
    EXPECT_EQ(err(req::read(f, bad, 0, 10)), EBADF);
    EXPECT_EQ(err(req::write(f, bad, 0, "zz")), EBADF);
    EXPECT_EQ(err(req::fsync(f, bad, false)), EBADF);
    EXPECT_EQ(err(req::flush(f, bad)), EBADF);
    EXPECT_EQ(err(req::lseek(f, bad, 0, SEEK_END)), EBADF);
    EXPECT_EQ(err(req::fallocate(f, bad, 0, 0, 10)), EBADF);
    EXPECT_EQ(err(req::copy_file_range(f, bad, 0, f, good, 0, 5)), EBADF);
    EXPECT_EQ(err(req::copy_file_range(f, good, 0, f, bad, 0, 5)), EBADF);
    EXPECT_EQ(err(req::ioctl(f, bad, FS_IOC_GETFLAGS, 0, {}, 4)), EBADF);
    EXPECT_EQ(err(req::readdir(d, bad, 0, 4096)), EBADF);
    EXPECT_EQ(err(req::readdirplus(d, bad, 0, 4096)), EBADF);
    EXPECT_EQ(err(req::fsyncdir(d, bad, false)), EBADF);
    EXPECT_EQ(err(req::release(f, bad)), EBADF);
    EXPECT_EQ(err(req::releasedir(d, bad)), EBADF);
    fuse_setattr_in sa{};
    sa.valid = FATTR_FH | FATTR_SIZE;
    sa.fh = bad;
    EXPECT_EQ(err(req::setattr(f, sa)), EBADF);
  }
  EXPECT_EQ(read_host_file("f"), "content");
  EXPECT_EQ(refcount(f), 1u);
  EXPECT_EQ(fs_->handles().size(), 1u);
  EXPECT_TRUE(run(req::release(f, good)).ok());
}

TEST_F(BadInputTest, HandleWithAnotherInodeIsEbadfAndStaysValid) {
  write_host_file("f", "fffff");
  write_host_file("g", "ggggg");
  ASSERT_EQ(::mkdir(host("d").c_str(), 0755), 0);
  write_host_file("d/x", "");
  auto f = lookup_ok(fuse::kRootInode, "f").nodeid;
  auto g = lookup_ok(fuse::kRootInode, "g").nodeid;
  auto d = lookup_ok(fuse::kRootInode, "d").nodeid;
  const fuse::Handle fh = open_ok(f, O_RDWR);
  const fuse::Handle gh = open_ok(g, O_RDWR);
  const fuse::Handle dh = opendir_ok(d);
  for (fuse::Inode other : {g, d, fuse::kRootInode}) {
    SCOPED_TRACE(other);
    auto r = run(req::read(other, fh, 0, 10));
    EXPECT_EQ(r.error(), EBADF);
    EXPECT_EQ(err(req::write(other, fh, 0, "XX")), EBADF);
    EXPECT_EQ(err(req::fsync(other, fh, true)), EBADF);
    EXPECT_EQ(err(req::flush(other, fh)), EBADF);
    EXPECT_EQ(err(req::lseek(other, fh, 0, SEEK_SET)), EBADF);
    EXPECT_EQ(err(req::fallocate(other, fh, 0, 0, 100)), EBADF);
    EXPECT_EQ(err(req::readdir(other, fh, 0, 4096)), EBADF);
    EXPECT_EQ(err(req::ioctl(other, fh, FS_IOC_GETFLAGS, 0, {}, 4)), EBADF);
    EXPECT_EQ(err(req::copy_file_range(other, fh, 0, g, gh, 0, 5)), EBADF);
    fuse_setattr_in sa{};
    sa.valid = FATTR_FH | FATTR_SIZE;
    sa.fh = fh;
    EXPECT_EQ(err(req::setattr(other, sa)), EBADF);
    EXPECT_EQ(err(req::release(other, fh)), EBADF);
    EXPECT_EQ(err(req::releasedir(other, fh)), EBADF);
  }
  // The directory handle with the file's inode, and with the root.
  EXPECT_EQ(err(req::readdir(f, dh, 0, 4096)), EBADF);
  EXPECT_EQ(err(req::readdirplus(fuse::kRootInode, dh, 0, 4096)), EBADF);
  EXPECT_EQ(err(req::releasedir(f, dh)), EBADF);
  EXPECT_EQ(read_host_file("f"), "fffff");
  EXPECT_EQ(read_host_file("g"), "ggggg");
  EXPECT_EQ(fs_->handles().size(), 3u);

  // Every handle still works with its own inode.
  EXPECT_EQ(read_ok(f, fh, 0, 10), "fffff");
  EXPECT_EQ(write_ok(f, fh, 0, "F"), 1u);
  EXPECT_EQ(read_host_file("f"), "Fffff");
  auto rd = run(req::readdir(d, dh, 0, 4096));
  ASSERT_TRUE(rd.ok());
  EXPECT_EQ(rd.dirents()->size(), 3u);
  EXPECT_TRUE(run(req::release(f, fh)).ok());
  EXPECT_TRUE(run(req::release(g, gh)).ok());
  EXPECT_TRUE(run(req::releasedir(d, dh)).ok());
  EXPECT_EQ(fs_->handles().size(), 0u);
}

TEST_F(BadInputTest, ReleaseTwice) {
  write_host_file("f", "x");
  ASSERT_EQ(::mkdir(host("d").c_str(), 0755), 0);
  auto f = lookup_ok(fuse::kRootInode, "f").nodeid;
  auto d = lookup_ok(fuse::kRootInode, "d").nodeid;
  const fuse::Handle fh = open_ok(f, O_RDONLY);
  const fuse::Handle dh = opendir_ok(d);
  const size_t fds = open_fd_count();
  EXPECT_TRUE(run(req::release(f, fh)).ok());
  EXPECT_EQ(err(req::release(f, fh)), EBADF);
  EXPECT_EQ(err(req::read(f, fh, 0, 1)), EBADF);
  EXPECT_TRUE(run(req::releasedir(d, dh)).ok());
  EXPECT_EQ(err(req::releasedir(d, dh)), EBADF);
  EXPECT_EQ(err(req::readdir(d, dh, 0, 4096)), EBADF);
  EXPECT_EQ(open_fd_count(), fds - 2) << "each release closes its fd once";
  // A new handle never reuses a released number.
  const fuse::Handle again = open_ok(f, O_RDONLY);
  EXPECT_NE(again, fh);
  EXPECT_NE(again, dh);
  EXPECT_TRUE(run(req::release(f, again)).ok());
}

TEST_F(BadInputTest, ForgetWithHugeCountThenUse) {
  write_host_file("f", "data");
  auto e = lookup_ok(fuse::kRootInode, "f");
  lookup_ok(fuse::kRootInode, "f");
  const fuse::Handle fh = open_ok(e.nodeid, O_RDWR);
  run(req::forget(e.nodeid, UINT64_MAX));
  EXPECT_EQ(refcount(e.nodeid), 0u);
  EXPECT_EQ(err(req::getattr(e.nodeid)), EBADF);
  EXPECT_EQ(err(req::open(e.nodeid, O_RDONLY)), EBADF);
  EXPECT_EQ(err(req::setxattr(e.nodeid, "user.a", "v")), EBADF);
  EXPECT_EQ(err(req::link(e.nodeid, fuse::kRootInode, "l")), EBADF);
  run(req::forget(e.nodeid, UINT64_MAX));  // again: nothing left to forget
  const std::pair<fuse::Inode, uint64_t> items[] = {
      {e.nodeid, 1}, {e.nodeid, UINT64_MAX}, {fuse::kRootInode, UINT64_MAX}};
  run(req::batch_forget(items));
  EXPECT_TRUE(getattr_ok(fuse::kRootInode).attr.mode & S_IFDIR);
  // An open handle outlives the inode entry (the kernel would not forget an open
  // file, but a hostile client may): it still reaches the same file, only that.
  EXPECT_EQ(read_ok(e.nodeid, fh, 0, 10), "data");
  // A new lookup makes a new entry; the old handle does not belong to it.
  auto again = lookup_ok(fuse::kRootInode, "f");
  EXPECT_EQ(refcount(again.nodeid), 1u);
  if (again.nodeid != e.nodeid) {
    EXPECT_EQ(err(req::read(again.nodeid, fh, 0, 10)), EBADF);
  }
  EXPECT_TRUE(run(req::release(e.nodeid, fh)).ok());
  run(req::forget(again.nodeid, 1));
  EXPECT_EQ(fs_->inodes().size(), 1u);
  EXPECT_EQ(fs_->handles().size(), 0u);
  expect_tables_consistent();
}

// --- hostile open flags ----------------------------------------------------

TEST_F(BadInputTest, HostileOpenFlagsNeverYieldAnEscapingFd) {
  write_host_file("f", "file");
  ASSERT_EQ(::mkdir(host("d").c_str(), 0755), 0);
  ASSERT_EQ(::symlink((outside_ / "canary").c_str(), host("ln").c_str()), 0);
  ASSERT_EQ(::mkfifo(host("p").c_str(), 0644), 0);
  auto f = lookup_ok(fuse::kRootInode, "f").nodeid;
  auto d = lookup_ok(fuse::kRootInode, "d").nodeid;
  auto ln = lookup_ok(fuse::kRootInode, "ln").nodeid;
  auto p = lookup_ok(fuse::kRootInode, "p").nodeid;
  const auto root_names = host_names();
  const ino_t f_ino = host_stat("f")->st_ino;
  const uint32_t hostile[] = {
      O_PATH,
      O_PATH | O_RDWR,
      O_PATH | O_NOFOLLOW,
      O_TMPFILE | O_RDWR,
      O_TMPFILE | O_WRONLY,
      O_TMPFILE,
      O_DIRECTORY,
      O_CREAT | O_EXCL | O_RDWR,
      O_CREAT | O_WRONLY,
      O_NOFOLLOW,
      O_NOFOLLOW | O_RDWR,
      O_NOCTTY | O_ASYNC | O_DIRECT,
      O_ACCMODE,
      0xffffffffu,
      0xffffffffu & ~static_cast<uint32_t>(O_TRUNC),
  };
  for (uint32_t flags : hostile) {
    SCOPED_TRACE(flags);
    // The regular file: refused, or an fd of exactly this file.
    auto r = run(req::open(f, flags));
    if (r.ok()) {
      const fuse::Handle fh = r.as<fuse_open_out>()->fh;
      expect_handle_is(f, fh, "f");
      EXPECT_TRUE(run(req::release(f, fh)).ok());
    }
    // The directory: no file may appear in it (O_TMPFILE, O_CREAT).
    auto rd = run(req::open(d, flags));
    if (rd.ok()) {
      const fuse::Handle dh = rd.as<fuse_open_out>()->fh;
      expect_handle_is(d, dh, "d");
      EXPECT_TRUE(run(req::release(d, dh)).ok());
    }
    auto rdo = run(req::opendir(d, flags));
    if (rdo.ok()) {
      const fuse::Handle dh = rdo.as<fuse_open_out>()->fh;
      expect_handle_is(d, dh, "d");
      EXPECT_TRUE(run(req::releasedir(d, dh)).ok());
    }
    EXPECT_TRUE(host_names("d").empty());
    // The symlink to the canary: never opened, neither the link nor its target.
    EXPECT_NE(err(req::open(ln, flags)), 0);
    EXPECT_NE(err(req::opendir(ln, flags)), 0);
    // The fifo: never opened here (it would block a worker).
    EXPECT_EQ(err(req::open(p, flags)), ENXIO);
  }
  // (O_TRUNC in 0xffffffff legitimately truncates "f"; it is still the same file.)
  EXPECT_EQ(host_stat("f")->st_ino, f_ino);
  EXPECT_EQ(host_names(), root_names);
  EXPECT_EQ(fs_->handles().size(), 0u);
}

// --- symlinks that point out ----------------------------------------------

TEST_F(BadInputTest, SymlinkToAFileOutsideNeverReachesIt) {
  ASSERT_EQ(::symlink((outside_ / "canary").c_str(), host("abs").c_str()), 0);
  // The same file by a relative path out of the scratch dir.
  const std::string rel =
      "../" + std::filesystem::path(outside_.path()).filename().string() + "/canary";
  ASSERT_EQ(::symlink(rel.c_str(), host("rel").c_str()), 0);
  write_host_file("plain", "plain");
  auto plain = lookup_ok(fuse::kRootInode, "plain").nodeid;
  const fuse::Handle ph = open_ok(plain, O_RDWR);

  for (const char* name : {"abs", "rel"}) {
    SCOPED_TRACE(name);
    auto e = lookup_ok(fuse::kRootInode, name);
    ASSERT_TRUE(S_ISLNK(e.attr.mode)) << "lookup does not follow the link";
    struct stat canary {};
    ASSERT_EQ(::stat((outside_ / "canary").c_str(), &canary), 0);
    EXPECT_NE(e.attr.ino, canary.st_ino);
    const fuse::Inode ln = e.nodeid;
    for (uint32_t flags : {O_RDONLY, O_WRONLY, O_RDWR, O_RDWR | O_TRUNC}) {
      auto r = run(req::open(ln, flags));
      EXPECT_NE(r.error(), 0) << flags;
      expect_no_secret(r);
    }
    EXPECT_NE(err(req::opendir(ln)), 0);
    // Reading through it with some other handle.
    auto rr = run(req::read(ln, ph, 0, 100));
    EXPECT_EQ(rr.error(), EBADF);
    expect_no_secret(rr);

    // setattr: size needs an open (refused); mode, times and owner may act on the
    // link itself but never on the canary (the TearDown snapshot checks it).
    fuse_setattr_in sa{};
    sa.valid = FATTR_SIZE;
    sa.size = 0;
    EXPECT_NE(err(req::setattr(ln, sa)), 0);
    sa.valid = FATTR_MODE;
    sa.mode = 0777;
    run(req::setattr(ln, sa));
    sa.valid = FATTR_ATIME | FATTR_MTIME;
    sa.atime = sa.mtime = 12345;
    run(req::setattr(ln, sa));
    sa.valid = FATTR_MTIME_NOW | FATTR_MTIME;
    run(req::setattr(ln, sa));
    sa.valid = FATTR_UID | FATTR_GID;
    sa.uid = 4242;
    sa.gid = 4343;
    EXPECT_TRUE(run(req::setattr(ln, sa)).ok()) << "chown of the link itself";
    struct stat st {};
    ASSERT_EQ(::lstat(host(name).c_str(), &st), 0);
    EXPECT_EQ(st.st_uid, 4242u);

    // xattrs act on the link (trusted.*) or are refused (user.* on a symlink).
    EXPECT_NE(err(req::setxattr(ln, "user.canary", "evil")), 0);
    EXPECT_TRUE(run(req::setxattr(ln, "trusted.onlink", "L")).ok());
    EXPECT_NE(err(req::removexattr(ln, "user.canary")), 0);
    EXPECT_NE(err(req::removexattr(ln, "trusted.canary")), 0);
    auto gx = run(req::getxattr(ln, "user.canary", 100));
    EXPECT_NE(gx.error(), 0) << "the canary's xattr is not visible through the link";
    EXPECT_NE(err(req::getxattr(ln, "trusted.canary", 100)), 0);
    auto lx = run(req::listxattr(ln, 4096));
    EXPECT_EQ(lx.payload_string().find("canary"), std::string::npos);

    // A name under the link: it is not a directory.
    EXPECT_EQ(lookup_errno(ln, "canary"), ENOTDIR);
    EXPECT_NE(err(req::create(ln, "new", S_IFREG | 0644, O_RDWR)), 0);
    EXPECT_NE(err(req::mkdir(ln, "new", 0755)), 0);
    EXPECT_NE(err(req::tmpfile(ln, S_IFREG | 0644, O_RDWR)), 0);
    // A hard link to it links the symlink, not the canary.
    auto hl = run(req::link(ln, fuse::kRootInode, std::string(name) + "-hard"));
    if (hl.ok()) {
      EXPECT_TRUE(S_ISLNK(host_stat(std::string(name) + "-hard")->st_mode));
    }
    auto rl = run(req::readlink(ln));
    ASSERT_TRUE(rl.ok());
    expect_no_secret(rl);
    run(req::access(ln, R_OK | W_OK));  // mode bits of the link: any answer, no effect
    EXPECT_TRUE(run(req::statfs(ln)).ok());
    EXPECT_NE(err(req::syncfs(ln)), 0) << "syncfs would have to open it";
  }
  // Renaming over the link and unlinking it touch only the link.
  write_host_file("victim", "v");
  EXPECT_TRUE(run(req::rename(fuse::kRootInode, "victim", fuse::kRootInode, "abs")).ok());
  EXPECT_EQ(read_host_file("abs"), "v");
  EXPECT_TRUE(run(req::unlink(fuse::kRootInode, "rel")).ok());
  EXPECT_TRUE(run(req::release(plain, ph)).ok());
  expect_tables_consistent();
}

TEST_F(BadInputTest, SymlinkToADirectoryOutsideIsNotADirectoryHere) {
  ASSERT_EQ(::symlink((outside_ / "dir").c_str(), host("dirlink").c_str()), 0);
  ASSERT_EQ(::symlink(outside_.path().c_str(), host("toplink").c_str()), 0);
  ASSERT_EQ(::mkdir(host("d").c_str(), 0755), 0);
  auto d = lookup_ok(fuse::kRootInode, "d").nodeid;
  for (const char* name : {"dirlink", "toplink"}) {
    SCOPED_TRACE(name);
    auto e = lookup_ok(fuse::kRootInode, name);
    ASSERT_TRUE(S_ISLNK(e.attr.mode));
    const fuse::Inode ln = e.nodeid;
    for (const char* child : {"file", "canary", "dir", ".", ".."}) {
      EXPECT_NE(lookup_errno(ln, child), 0) << child;
    }
    EXPECT_NE(err(req::opendir(ln)), 0);
    EXPECT_NE(err(req::open(ln, O_RDONLY | O_DIRECTORY)), 0);
    EXPECT_NE(err(req::mkdir(ln, "x", 0755)), 0);
    EXPECT_NE(err(req::mknod(ln, "x", S_IFIFO | 0644, 0)), 0);
    EXPECT_NE(err(req::create(ln, "x", S_IFREG | 0644, O_RDWR)), 0);
    EXPECT_NE(err(req::tmpfile(ln, S_IFREG | 0644, O_RDWR)), 0);
    EXPECT_NE(err(req::symlink(ln, "x", "/etc")), 0);
    EXPECT_NE(err(req::unlink(ln, "file")), 0);
    EXPECT_NE(err(req::unlink(ln, "canary")), 0);
    EXPECT_NE(err(req::rmdir(ln, "dir")), 0);
    EXPECT_NE(err(req::rename(ln, "file", d, "stolen")), 0);
    EXPECT_NE(err(req::rename(ln, "canary", d, "stolen")), 0);
    EXPECT_NE(err(req::rename(d, "nothing", ln, "planted")), 0);
    EXPECT_NE(err(req::link(d, ln, "planted")), 0);
    // A directory handle of "d" used with the link's inode.
    const fuse::Handle dh = opendir_ok(d);
    auto r = run(req::readdir(ln, dh, 0, 4096));
    EXPECT_EQ(r.error(), EBADF);
    EXPECT_TRUE(run(req::releasedir(d, dh)).ok());
  }
  // Names with '/' do not walk through the links either.
  EXPECT_EQ(lookup_errno(fuse::kRootInode, "dirlink/file"), EINVAL);
  EXPECT_EQ(lookup_errno(fuse::kRootInode, "toplink/canary"), EINVAL);
  EXPECT_FALSE(host_exists("d/stolen"));
}

TEST_F(BadInputTest, EscapingNamesInRenameLinkAndFriends) {
  write_host_file("f", "f");
  ASSERT_EQ(::mkdir(host("d").c_str(), 0755), 0);
  auto f = lookup_ok(fuse::kRootInode, "f").nodeid;
  auto d = lookup_ok(fuse::kRootInode, "d").nodeid;
  const std::string out_rel =
      "../" + std::filesystem::path(outside_.path()).filename().string() + "/canary";
  const std::string out_abs = outside_ / "canary";
  for (const std::string& bad :
       {std::string(".."), std::string("."), std::string("/"), std::string("a/b"),
        std::string("../x"), std::string("x/.."), std::string("x/"), std::string("/x"), out_rel,
        out_abs, std::string("../../../../../../tmp/escape")}) {
    SCOPED_TRACE(bad);
    EXPECT_EQ(err(req::rename(fuse::kRootInode, "f", d, bad)), EINVAL);
    EXPECT_EQ(err(req::rename(d, bad, fuse::kRootInode, "g")), EINVAL);
    EXPECT_EQ(err(req::rename2(fuse::kRootInode, "f", d, bad, RENAME_EXCHANGE)), EINVAL);
    EXPECT_EQ(err(req::rename2(fuse::kRootInode, bad, d, "g", RENAME_NOREPLACE)), EINVAL);
    EXPECT_EQ(err(req::link(f, d, bad)), EINVAL);
    EXPECT_EQ(err(req::link(f, fuse::kRootInode, bad)), EINVAL);
    EXPECT_EQ(err(req::mknod(d, bad, S_IFIFO | 0644, 0)), EINVAL);
    EXPECT_EQ(err(req::mknod(d, bad, S_IFREG | 0644, 0)), EINVAL);
    EXPECT_EQ(err(req::rmdir(fuse::kRootInode, bad)), EINVAL);
    EXPECT_EQ(err(req::unlink(fuse::kRootInode, bad)), EINVAL);
    EXPECT_EQ(err(req::symlink(fuse::kRootInode, bad, "target")), EINVAL);
  }
  EXPECT_EQ(read_host_file("f"), "f");
  EXPECT_TRUE(host_names("d").empty());
  EXPECT_FALSE(std::filesystem::exists("/tmp/escape"));
}

// --- absurd sizes and offsets ---------------------------------------------

class BadSizesTest : public BadInputTest {
 protected:
  void SetUp() override {
    BadInputTest::SetUp();
    write_host_file("f", "0123456789");
    write_host_file("twin", "0123456789");
    f_ = lookup_ok(fuse::kRootInode, "f").nodeid;
    fh_ = open_ok(f_, O_RDWR);
    twin_ = ScopedFd(::open(host("twin").c_str(), O_RDWR | O_CLOEXEC));
    ASSERT_TRUE(twin_.valid());
  }
  void TearDown() override {
    twin_.reset();
    BadInputTest::TearDown();
  }
  // The errno the host gives on the twin file (0 on success).
  static int host_err(int rc) { return rc < 0 ? errno : 0; }

  fuse::Inode f_ = 0;
  fuse::Handle fh_ = 0;
  ScopedFd twin_;
};

TEST_F(BadSizesTest, HugeReads) {
  for (uint32_t size : {1u << 31, 0xffffffffu, (1u << 20) + 1}) {
    EXPECT_EQ(err(req::read(f_, fh_, 0, size)), ENOMEM) << size;
  }
  EXPECT_EQ(read_ok(f_, fh_, 0, 1u << 20), "0123456789");
  // Past the end: what pread(2) answers (EINVAL when offset + size overflows).
  for (uint64_t off : {uint64_t{INT64_MAX}, uint64_t{INT64_MAX} - 100, uint64_t{1} << 62}) {
    char buf[100];
    const int want = host_err(static_cast<int>(::pread(twin_.get(), buf, 100, off)));
    auto r = run(req::read(f_, fh_, off, 100));
    EXPECT_EQ(r.error(), want) << off;
    EXPECT_EQ(r.payload.size(), 0u);
  }
  EXPECT_EQ(err(req::read(f_, fh_, uint64_t{INT64_MAX} + 1, 100)), EINVAL);
  EXPECT_EQ(err(req::read(f_, fh_, UINT64_MAX, 100)), EINVAL);
  EXPECT_EQ(read_ok(f_, fh_, 5, 0), "");
}

TEST_F(BadSizesTest, WritesNearTheEndOfTheOffsetRange) {
  const std::pair<uint64_t, std::string> cases[] = {
      {uint64_t{INT64_MAX} - 1, "ab"},
      {uint64_t{INT64_MAX}, "a"},
      {1ull << 62, "x"},
      {(1ull << 44), "y"}};  // past ext4's 16 TiB limit
  for (const auto& [off, data] : cases) {
    SCOPED_TRACE(off);
    const int want = host_err(
        static_cast<int>(::pwrite(twin_.get(), data.data(), data.size(), static_cast<off_t>(off))));
    EXPECT_EQ(err(req::write(f_, fh_, off, data)), want);
  }
  EXPECT_EQ(err(req::write(f_, fh_, uint64_t{INT64_MAX} + 1, "a")), EINVAL);
  EXPECT_EQ(err(req::write(f_, fh_, UINT64_MAX, "a")), EINVAL);
  EXPECT_EQ(host_stat("f")->st_size, host_stat("twin")->st_size);
  EXPECT_EQ(read_host_file("f").substr(0, 10), "0123456789");
}

TEST_F(BadSizesTest, FallocateWithAbsurdRanges) {
  const struct {
    uint32_t mode;
    uint64_t off, len;
  } cases[] = {
      {0, uint64_t{INT64_MAX}, uint64_t{INT64_MAX}},
      {0, uint64_t{INT64_MAX} - 10, 20},
      {0, 1ull << 62, 4096},
      {0, 0, 0},
      {FALLOC_FL_KEEP_SIZE, uint64_t{INT64_MAX}, 1},
      {FALLOC_FL_PUNCH_HOLE, 0, 4},  // PUNCH_HOLE needs KEEP_SIZE
      {FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, uint64_t{INT64_MAX} - 1, uint64_t{INT64_MAX}},
      {0xffffffffu, 0, 4096},
      {0x80000000u, 0, 4096},
      {FALLOC_FL_COLLAPSE_RANGE, 0, 4096},
      {FALLOC_FL_INSERT_RANGE, 1ull << 40, 4096},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(::testing::Message() << c.mode << " " << c.off << " " << c.len);
    const int want = host_err(::fallocate(twin_.get(), static_cast<int>(c.mode),
                                          static_cast<off_t>(c.off), static_cast<off_t>(c.len)));
    EXPECT_EQ(err(req::fallocate(f_, fh_, c.mode, c.off, c.len)), want);
  }
  for (const auto& [off, len] :
       std::initializer_list<std::pair<uint64_t, uint64_t>>{{UINT64_MAX, 1},
                                                            {0, UINT64_MAX},
                                                            {uint64_t{INT64_MAX} + 1, 1},
                                                            {UINT64_MAX, UINT64_MAX}}) {
    EXPECT_EQ(err(req::fallocate(f_, fh_, 0, off, len)), EINVAL) << off << " " << len;
  }
  EXPECT_EQ(host_stat("f")->st_size, host_stat("twin")->st_size);
  EXPECT_EQ(read_host_file("f"), read_host_file("twin"));
}

TEST_F(BadSizesTest, TruncateAndLseekWithAbsurdValues) {
  fuse_setattr_in sa{};
  sa.valid = FATTR_SIZE;
  for (uint64_t size : {uint64_t{UINT64_MAX}, uint64_t{INT64_MAX}, uint64_t{1} << 62}) {
    SCOPED_TRACE(size);
    sa.size = size;
    const int want = host_err(::ftruncate(twin_.get(), static_cast<off_t>(size)));
    EXPECT_EQ(err(req::setattr(f_, sa)), want) << "by path";
    sa.valid |= FATTR_FH;
    sa.fh = fh_;
    EXPECT_EQ(err(req::setattr(f_, sa)), want) << "by handle";
    sa.valid = FATTR_SIZE;
  }
  EXPECT_EQ(host_stat("f")->st_size, 10);
  // Times with out-of-range nanoseconds are the kernel's to refuse.
  sa.valid = FATTR_MTIME;
  sa.mtime = 1;
  sa.mtimensec = 2000000000u;
  EXPECT_EQ(err(req::setattr(f_, sa)), EINVAL);

  for (uint32_t whence : {uint32_t{99}, uint32_t{0xffffffff}, uint32_t{SEEK_HOLE + 1}}) {
    EXPECT_EQ(err(req::lseek(f_, fh_, 0, whence)), EINVAL) << whence;
  }
  EXPECT_EQ(err(req::lseek(f_, fh_, UINT64_MAX, SEEK_SET)), EINVAL);
  EXPECT_EQ(err(req::lseek(f_, fh_, 1000, SEEK_DATA)), ENXIO);
  auto r = run(req::lseek(f_, fh_, 0, SEEK_END));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.as<fuse_lseek_out>()->offset, 10u);
  // copy_file_range with offsets past the range, and a huge length on a small file.
  EXPECT_EQ(err(req::copy_file_range(f_, fh_, UINT64_MAX, f_, fh_, 0, 5)), EINVAL);
  EXPECT_EQ(err(req::copy_file_range(f_, fh_, 0, f_, fh_, UINT64_MAX, 5)), EINVAL);
  EXPECT_EQ(err(req::copy_file_range(f_, fh_, 0, f_, fh_, 100, 5, UINT64_MAX)), EINVAL);
  write_host_file("dst", "");
  auto dst = lookup_ok(fuse::kRootInode, "dst").nodeid;
  const fuse::Handle dh = open_ok(dst, O_RDWR);
  auto c = run(req::copy_file_range(f_, fh_, 0, dst, dh, 0, UINT64_MAX));
  ASSERT_TRUE(c.ok()) << c.error();
  EXPECT_EQ(c.as<fuse_write_out>()->size, 10u);
  EXPECT_EQ(read_host_file("dst"), "0123456789");
}

// --- the random loop --------------------------------------------------------

class RandomMutationTest : public BadInputTest {
 protected:
  RandomMutationTest() { start_in_setup_ = false; }
};

TEST_F(RandomMutationTest, TwoThousandMutatedRequests) {
  const size_t fds_before = open_fd_count();
  start();
  ASSERT_FALSE(HasFatalFailure());

  write_host_file("a", "aaaaaaaaaaaaaaaa");
  write_host_file("b", "bbbb");
  ASSERT_EQ(::mkdir(host("d").c_str(), 0755), 0);
  write_host_file("d/x", "xx");
  ASSERT_EQ(::symlink((outside_ / "canary").c_str(), host("ln").c_str()), 0);
  ASSERT_EQ(::symlink((outside_ / "dir").c_str(), host("dl").c_str()), 0);
  ASSERT_EQ(::mkfifo(host("p").c_str(), 0644), 0);
  const fuse::Inode root = fuse::kRootInode;
  const fuse::Inode a = lookup_ok(root, "a").nodeid;
  const fuse::Inode b = lookup_ok(root, "b").nodeid;
  const fuse::Inode d = lookup_ok(root, "d").nodeid;
  const fuse::Inode x = lookup_ok(d, "x").nodeid;
  const fuse::Inode ln = lookup_ok(root, "ln").nodeid;
  const fuse::Inode dl = lookup_ok(root, "dl").nodeid;
  const fuse::Inode p = lookup_ok(root, "p").nodeid;
  const fuse::Handle ah = open_ok(a, O_RDWR);
  const fuse::Handle bh = open_ok(b, O_RDONLY);
  const fuse::Handle dh = opendir_ok(d);
  const fuse::Inode inodes[] = {root, a, b, d, x, ln, dl, p};

  fuse_setattr_in sa{};
  sa.valid = FATTR_SIZE | FATTR_MODE;
  sa.size = 3;
  sa.mode = 0600;
  fuse_file_lock lk{0, 10, F_RDLCK, 0};
  const uint8_t flags_in[4] = {0, 0, 0, 0};
  const std::pair<fuse::Inode, uint64_t> forgets[] = {{x, 1}, {b, 1}};
  std::vector<mem::Bytes> base = {
      req::lookup(root, "a"),
      req::lookup(d, "x"),
      req::lookup(root, "ln"),
      req::lookup(dl, "file"),
      req::getattr(a),
      req::getattr(b, bh),
      req::setattr(a, sa),
      req::readlink(ln),
      req::symlink(root, "s", "../../../etc/passwd"),
      req::mknod(root, "n", S_IFIFO | 0644, 0),
      req::mkdir(d, "m", 0755),
      req::unlink(root, "s"),
      req::rmdir(d, "m"),
      req::rename(root, "b", d, "b2"),
      req::rename2(d, "b2", root, "b", RENAME_NOREPLACE),
      req::link(a, d, "hl"),
      req::open(a, O_RDWR),
      req::open(ln, O_RDONLY),
      req::read(a, ah, 0, 64),
      req::read(b, bh, 2, 64),
      req::write(a, ah, 4, "written"),
      req::statfs(root),
      req::release(a, ah),
      req::fsync(a, ah, true),
      req::setxattr(a, "user.k", "value"),
      req::setxattr(p, "trusted.k", "v"),
      req::getxattr(a, "user.k", 64),
      req::getxattr(ln, "trusted.k", 0),
      req::listxattr(d, 256),
      req::listxattr(p, 0),
      req::removexattr(a, "user.k"),
      req::flush(a, ah),
      req::opendir(d),
      req::readdir(d, dh, 0, 4096),
      req::readdirplus(d, dh, 0, 4096),
      req::releasedir(d, dh),
      req::fsyncdir(d, dh, false),
      req::access(a, R_OK | W_OK),
      req::create(d, "c", S_IFREG | 0644, O_RDWR | O_CREAT),
      req::tmpfile(d, S_IFREG | 0600, O_RDWR),
      req::lseek(a, ah, 0, SEEK_END),
      req::ioctl(a, ah, FS_IOC_GETFLAGS, 0, {}, 4),
      req::ioctl(a, ah, FS_IOC_FSGETXATTR, 0, flags_in, 28),
      req::getlk(a, ah, 1, lk),
      req::syncfs(root),
      req::forget(x, 1),
      req::batch_forget(forgets),
      req::interrupt(5),
  };
  // Opcodes a mutation may switch to. Not INIT/DESTROY (they reset the session,
  // which the fuzzers cover), and not FALLOCATE/COPY_FILE_RANGE/SETLKW: random
  // lengths there would allocate or copy gigabytes on the host disk, or block.
  const uint32_t opcodes[] = {FUSE_LOOKUP,
                              FUSE_FORGET,
                              FUSE_GETATTR,
                              FUSE_SETATTR,
                              FUSE_READLINK,
                              FUSE_SYMLINK,
                              FUSE_MKNOD,
                              FUSE_MKDIR,
                              FUSE_UNLINK,
                              FUSE_RMDIR,
                              FUSE_RENAME,
                              FUSE_LINK,
                              FUSE_OPEN,
                              FUSE_READ,
                              FUSE_WRITE,
                              FUSE_STATFS,
                              FUSE_RELEASE,
                              FUSE_FSYNC,
                              FUSE_SETXATTR,
                              FUSE_GETXATTR,
                              FUSE_LISTXATTR,
                              FUSE_REMOVEXATTR,
                              FUSE_FLUSH,
                              FUSE_OPENDIR,
                              FUSE_READDIR,
                              FUSE_RELEASEDIR,
                              FUSE_FSYNCDIR,
                              FUSE_GETLK,
                              FUSE_SETLK,
                              FUSE_ACCESS,
                              FUSE_CREATE,
                              FUSE_INTERRUPT,
                              FUSE_BMAP,
                              FUSE_IOCTL,
                              FUSE_POLL,
                              FUSE_BATCH_FORGET,
                              FUSE_READDIRPLUS,
                              FUSE_RENAME2,
                              FUSE_LSEEK,
                              FUSE_SYNCFS,
                              FUSE_TMPFILE,
                              0,
                              9999,
                              FUSE_NOTIFY_REPLY};
  auto allowed = [&](uint32_t op) {
    return op != FUSE_INIT && op != FUSE_DESTROY && op != FUSE_FALLOCATE &&
           op != FUSE_COPY_FILE_RANGE && op != FUSE_SETLKW && op != CUSE_INIT;
  };

  const uint32_t seed = 0x5eed2024;
  std::mt19937 rng(seed);
  auto pick = [&](size_t n) { return std::uniform_int_distribution<size_t>(0, n - 1)(rng); };
  // 64 KiB of reply room (the server clamps reads to it): a 1 MiB buffer per
  // request makes the sanitizer builds crawl.
  mem::Session loop(*server_, 65536 + 4096);
  size_t replied = 0, succeeded = 0;
  for (int iter = 0; iter < 2000; ++iter) {
    const mem::Bytes& orig = base[pick(base.size())];
    mem::Bytes m = orig;
    const int mutations = 1 + static_cast<int>(pick(4));
    bool fix_len = pick(4) != 0;
    for (int k = 0; k < mutations; ++k) {
      switch (pick(8)) {
        case 0:
        case 1:  // a random byte anywhere
          if (!m.empty()) m[pick(m.size())] = static_cast<uint8_t>(rng());
          break;
        case 2:  // a random byte in the body
          if (m.size() > sizeof(fuse_in_header)) {
            m[sizeof(fuse_in_header) + pick(m.size() - sizeof(fuse_in_header))] ^=
                static_cast<uint8_t>(1u << pick(8));
          }
          break;
        case 3:  // another known (or unknown) inode
          if (m.size() >= sizeof(fuse_in_header)) {
            const uint64_t node = pick(5) == 0 ? rng() : inodes[pick(std::size(inodes))];
            std::memcpy(m.data() + offsetof(fuse_in_header, nodeid), &node, sizeof(node));
          }
          break;
        case 4:  // another opcode
          if (m.size() >= sizeof(fuse_in_header)) {
            const uint32_t op = opcodes[pick(std::size(opcodes))];
            std::memcpy(m.data() + offsetof(fuse_in_header, opcode), &op, sizeof(op));
          }
          break;
        case 5:  // truncated
          m.resize(pick(m.size() + 1));
          break;
        case 6:  // extended with junk
          for (size_t n = 1 + pick(64); n > 0; --n) m.push_back(static_cast<uint8_t>(rng()));
          break;
        case 7:  // a header field: len, uid/gid, total_extlen
          if (m.size() >= sizeof(fuse_in_header)) {
            const size_t offs[] = {offsetof(fuse_in_header, len), offsetof(fuse_in_header, uid),
                                   offsetof(fuse_in_header, gid),
                                   offsetof(fuse_in_header, total_extlen)};
            const size_t at = offs[pick(std::size(offs))];
            m[at] = static_cast<uint8_t>(rng());
            if (at == offsetof(fuse_in_header, len)) fix_len = false;
          }
          break;
      }
    }
    if (m.size() >= sizeof(fuse_in_header)) {
      uint32_t op = 0;
      std::memcpy(&op, m.data() + offsetof(fuse_in_header, opcode), sizeof(op));
      if (!allowed(op))
        std::memcpy(m.data() + offsetof(fuse_in_header, opcode),
                    orig.data() + offsetof(fuse_in_header, opcode), sizeof(op));
      if (fix_len) {
        const uint32_t len = static_cast<uint32_t>(m.size());
        std::memcpy(m.data() + offsetof(fuse_in_header, len), &len, sizeof(len));
      }
    }
    const mem::Reply r = loop.run(m);
    if (!r.replied) continue;
    ++replied;
    ASSERT_TRUE(r.well_formed()) << "iteration " << iter << " (seed " << seed << ")";
    ASSERT_LE(r.header.error, 0) << "iteration " << iter;
    ASSERT_GT(r.header.error, -4096) << "iteration " << iter;
    if (r.header.error == 0) ++succeeded;
    expect_no_secret(r);
  }
  EXPECT_GT(replied, 1000u);
  EXPECT_GT(succeeded, 100u) << "the mutations should not all be refused at decode";
  expect_tables_consistent();
  // The root survived and still serves.
  EXPECT_TRUE(getattr_ok(fuse::kRootInode).attr.mode & S_IFDIR);

  // Tearing the session down gives every fd back: none leaked on the way.
  auto destroy = run(req::destroy());
  EXPECT_TRUE(destroy.ok()) << destroy.error();
  EXPECT_EQ(fs_->handles().size(), 0u);
  session_.reset();
  server_.reset();
  fs_.reset();
  EXPECT_EQ(open_fd_count(), fds_before);
  char cwd[PATH_MAX];
  if (::getcwd(cwd, sizeof(cwd)) != nullptr) {
    EXPECT_NE(std::string(cwd).rfind("/proc", 0), 0u) << "cwd left in /proc";
  }
}

}  // namespace
}  // namespace pfs::testing
