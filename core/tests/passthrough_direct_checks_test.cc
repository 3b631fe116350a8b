// PassthroughFs's own input checks, called directly: no Server in front to refuse
// the same names, ids, handles and limits first (defence in depth that only a
// direct caller, a fuzzer or a future transport, reaches). Each refusal must give
// the exact errno and leave the host tree, the inode and handle tables and the
// process's fds as they were. Bad input through encoded requests is in
// passthrough_bad_input_test.cc; uid -1 on mkdir/mknod/symlink/create/tmpfile/access
// in name_swap_test.cc.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/fs.h>
#include <linux/fuse.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <filesystem>
#include <sstream>
#include <string>
#include <vector>

#include "core/passthrough/scoped_fd.h"
#include "core/tests/fd_count.h"
#include "core/tests/passthrough_fixture.h"

namespace pfs::testing {
namespace {

using namespace std::string_literals;

constexpr size_t kNameMax = 255;
constexpr size_t kPathMax = 4096;
constexpr size_t kXattrNameMax = 255;
constexpr size_t kXattrSizeMax = 65536;

const fuse::Context kRoot{0, 0, 1, 1};

// Every path under `root` with its mode, size and link count, sorted: what a
// stray create, unlink or rename would change.
std::string tree_listing(const std::string& root) {
  std::vector<std::string> lines;
  std::error_code ec;
  for (auto it = std::filesystem::recursive_directory_iterator(root, ec);
       !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
    struct stat st {};
    if (::lstat(it->path().c_str(), &st) != 0) continue;
    std::ostringstream line;
    line << it->path().string().substr(root.size()) << " mode=" << std::oct << st.st_mode
         << std::dec << " size=" << st.st_size << " nlink=" << st.st_nlink;
    lines.push_back(line.str());
  }
  std::sort(lines.begin(), lines.end());
  std::string out;
  for (const auto& l : lines) out += l + "\n";
  return out;
}

struct BadName {
  const char* label;
  std::string name;
  int err;
};

// Every name the Server's check_entry_name stops. The NUL ones name an existing
// entry ("a", "d") up to the NUL, so a missing check shows as a wrong answer.
std::vector<BadName> bad_names() {
  return {{"empty", "", EINVAL},
          {"dot", ".", EINVAL},
          {"dotdot", "..", EINVAL},
          {"slash_inside", "a/b", EINVAL},
          {"slash", "/", EINVAL},
          {"dotdot_slash", "../a", EINVAL},
          {"trailing_slash", "d/", EINVAL},
          {"nul_inside", "a\0b"s, EINVAL},
          {"nul_last", "d\0"s, EINVAL},
          {"nul_first", "\0a"s, EINVAL},
          {"dotdot_nul", "..\0x"s, EINVAL},
          {"name_max_plus_1", std::string(kNameMax + 1, 'n'), ENAMETOOLONG},
          {"long_with_slash", std::string(kNameMax, 'n') + "/x", EINVAL}};
}

class DirectChecksTest : public PassthroughTest {
 protected:
  void SetUp() override {
    PassthroughTest::SetUp();
    ASSERT_FALSE(HasFatalFailure());
    // The tree the bad names would reach: a file "a", a directory "d" with a file.
    write_host_file("a", "aaaa");
    ASSERT_EQ(::mkdir(host("d").c_str(), 0755), 0);
    write_host_file("d/x", "xx");
    auto a = fs_->lookup(kRoot, fuse::kRootInode, "a");
    auto d = fs_->lookup(kRoot, fuse::kRootInode, "d");
    ASSERT_TRUE(a.ok() && d.ok());
    a_ = a->inode;
    d_ = d->inode;
  }
  void TearDown() override {
    fs_->forget(kRoot, a_, 1);
    fs_->forget(kRoot, d_, 1);
    EXPECT_EQ(fs_->inodes().size(), 1u) << "a reference was left behind";
    expect_tables_consistent();
  }

  // What must not change when a call is refused.
  struct State {
    std::string tree;
    size_t inodes, handles, fds;
    uint64_t root_refs, a_refs, d_refs;
    bool operator==(const State&) const = default;
  };
  State state() const {
    return {
        tree_listing(dir_.path()),  fs_->inodes().size(), fs_->handles().size(), open_fd_count(),
        refcount(fuse::kRootInode), refcount(a_),         refcount(d_)};
  }
  void expect_unchanged(const State& before) {
    const State now = state();
    EXPECT_EQ(now.tree, before.tree);
    EXPECT_EQ(now.inodes, before.inodes);
    EXPECT_EQ(now.handles, before.handles);
    EXPECT_EQ(now.fds, before.fds);
    EXPECT_EQ(now.root_refs, before.root_refs);
    EXPECT_EQ(now.a_refs, before.a_refs);
    EXPECT_EQ(now.d_refs, before.d_refs);
    expect_tables_consistent();
  }

  // Every method that takes a name, with `name` in each name position, in
  // directory `dir`. Returns nothing: each errno is checked against `want`.
  void expect_every_name_method_refuses(fuse::Inode dir, const std::string& name, int want) {
    EXPECT_EQ(fs_->lookup(kRoot, dir, name).error(), want) << "lookup";
    EXPECT_EQ(fs_->mkdir(kRoot, dir, name, 0755, 0, "").error(), want) << "mkdir";
    EXPECT_EQ(fs_->mknod(kRoot, dir, name, S_IFREG | 0644, 0, 0, "").error(), want) << "mknod reg";
    EXPECT_EQ(fs_->mknod(kRoot, dir, name, S_IFIFO | 0644, 0, 0, "").error(), want) << "mknod fifo";
    EXPECT_EQ(fs_->create(kRoot, dir, name, S_IFREG | 0644, O_RDWR, 0, "").error(), want)
        << "create";
    EXPECT_EQ(fs_->symlink(kRoot, "target", dir, name, "").error(), want) << "symlink";
    EXPECT_EQ(fs_->link(kRoot, a_, dir, name).error(), want) << "link";
    EXPECT_EQ(fs_->unlink(kRoot, dir, name), want) << "unlink";
    EXPECT_EQ(fs_->rmdir(kRoot, dir, name), want) << "rmdir";
    for (uint32_t flags : {0u, unsigned{RENAME_NOREPLACE}, unsigned{RENAME_EXCHANGE}}) {
      EXPECT_EQ(fs_->rename(kRoot, dir, name, fuse::kRootInode, "fresh", flags), want)
          << "rename old name, flags " << flags;
      EXPECT_EQ(fs_->rename(kRoot, fuse::kRootInode, "a", dir, name, flags), want)
          << "rename new name, flags " << flags;
      EXPECT_EQ(fs_->rename(kRoot, dir, name, dir, name, flags), want)
          << "rename both names, flags " << flags;
    }
  }

  fuse::Inode a_ = 0;
  fuse::Inode d_ = 0;
};

// --- 1. names ----------------------------------------------------------------

TEST_F(DirectChecksTest, BadNamesAreRefusedWithTheServersErrnoAndChangeNothing) {
  const State before = state();
  for (const BadName& bad : bad_names()) {
    SCOPED_TRACE(bad.label);
    expect_every_name_method_refuses(fuse::kRootInode, bad.name, bad.err);
    expect_every_name_method_refuses(d_, bad.name, bad.err);
  }
  expect_unchanged(before);
  EXPECT_EQ(read_host_file("a"), "aaaa");
}

TEST_F(DirectChecksTest, ExactlyNameMaxIsAcceptedEverywhere) {
  const std::string base(kNameMax - 1, 'n');
  ASSERT_EQ((base + "x").size(), kNameMax);
  auto made = [&](const Result<fuse::Entry>& e, const std::string& name) {
    ASSERT_TRUE(e.ok()) << name.substr(kNameMax - 1) << ": errno " << e.error();
    EXPECT_TRUE(host_exists(name));
    fs_->forget(kRoot, e->inode, 1);
  };
  made(fs_->mkdir(kRoot, fuse::kRootInode, base + "d", 0755, 0, ""), base + "d");
  made(fs_->mknod(kRoot, fuse::kRootInode, base + "p", S_IFIFO | 0644, 0, 0, ""), base + "p");
  made(fs_->symlink(kRoot, "t", fuse::kRootInode, base + "s", ""), base + "s");
  made(fs_->link(kRoot, a_, fuse::kRootInode, base + "l"), base + "l");
  made(fs_->lookup(kRoot, fuse::kRootInode, base + "l"), base + "l");
  auto c = fs_->create(kRoot, fuse::kRootInode, base + "c", S_IFREG | 0644, O_RDWR, 0, "");
  ASSERT_TRUE(c.ok()) << c.error();
  EXPECT_EQ(fs_->release(kRoot, c->entry.inode, 0, c->open.handle, false, false, std::nullopt),
            kOk);
  made(c->entry, base + "c");
  EXPECT_EQ(fs_->rename(kRoot, fuse::kRootInode, base + "c", d_, base + "r", 0), kOk);
  EXPECT_TRUE(host_exists("d/" + base + "r"));
  EXPECT_EQ(fs_->unlink(kRoot, d_, base + "r"), kOk);
  EXPECT_EQ(fs_->unlink(kRoot, fuse::kRootInode, base + "l"), kOk);
  EXPECT_EQ(fs_->rmdir(kRoot, fuse::kRootInode, base + "d"), kOk);
  EXPECT_FALSE(host_exists(base + "d"));
  EXPECT_FALSE(host_exists("d/" + base + "r"));
}

// On a read-only share the name check comes before EROFS: a name of NAME_MAX+1
// bytes, which the kernel would refuse with the same ENAMETOOLONG, shows here
// whether PassthroughFs checked it itself.
class DirectChecksReadonlyTest : public DirectChecksTest {
 protected:
  DirectChecksReadonlyTest() { cfg_.readonly = true; }
};

TEST_F(DirectChecksReadonlyTest, BadNamesAreRefusedBeforeTheReadonlyCheck) {
  const State before = state();
  for (const BadName& bad : bad_names()) {
    SCOPED_TRACE(bad.label);
    expect_every_name_method_refuses(d_, bad.name, bad.err);
  }
  // A good name on the same calls: EROFS, so the errnos above were the name's.
  EXPECT_EQ(fs_->mkdir(kRoot, d_, "ok", 0755, 0, "").error(), EROFS);
  EXPECT_EQ(fs_->unlink(kRoot, d_, "x"), EROFS);
  EXPECT_EQ(fs_->link(kRoot, a_, d_, "ok").error(), EROFS);
  EXPECT_EQ(fs_->rename(kRoot, d_, "x", d_, "ok", 0), EROFS);
  expect_unchanged(before);
}

// --- 2. ids ------------------------------------------------------------------

TEST_F(DirectChecksTest, BadInodesAreEbadfOnEveryMethod) {
  // A forgotten inode: looked up, then its only reference given back.
  write_host_file("gone", "g");
  auto gone = fs_->lookup(kRoot, fuse::kRootInode, "gone");
  ASSERT_TRUE(gone.ok());
  fs_->forget(kRoot, gone->inode, 1);
  const State before = state();
  std::vector<uint8_t> buf(64);
  char link_buf[PATH_MAX];
  fuse::SetattrRequest sa;
  sa.valid = FATTR_MODE;
  sa.mode = 0777;
  for (fuse::Inode bad : {fuse::Inode{0}, fuse::Inode{999999}, ~fuse::Inode{0}, gone->inode,
                          fuse::kRootInode + 1000}) {
    SCOPED_TRACE(bad);
    EXPECT_EQ(fs_->lookup(kRoot, bad, "a").error(), EBADF);
    EXPECT_EQ(fs_->getattr(kRoot, bad, std::nullopt).error(), EBADF);
    EXPECT_EQ(fs_->setattr(kRoot, bad, sa).error(), EBADF);
    EXPECT_EQ(fs_->readlink(kRoot, bad, link_buf).error(), EBADF);
    EXPECT_EQ(fs_->symlink(kRoot, "t", bad, "s", "").error(), EBADF);
    EXPECT_EQ(fs_->mknod(kRoot, bad, "n", S_IFIFO | 0644, 0, 0, "").error(), EBADF);
    EXPECT_EQ(fs_->mkdir(kRoot, bad, "m", 0755, 0, "").error(), EBADF);
    EXPECT_EQ(fs_->create(kRoot, bad, "c", 0644, O_RDWR, 0, "").error(), EBADF);
    EXPECT_EQ(fs_->tmpfile(kRoot, bad, 0644, O_RDWR, 0, "").error(), EBADF);
    EXPECT_EQ(fs_->unlink(kRoot, bad, "a"), EBADF);
    EXPECT_EQ(fs_->rmdir(kRoot, bad, "d"), EBADF);
    EXPECT_EQ(fs_->rename(kRoot, bad, "a", fuse::kRootInode, "z", 0), EBADF);
    EXPECT_EQ(fs_->rename(kRoot, fuse::kRootInode, "a", bad, "z", 0), EBADF);
    EXPECT_EQ(fs_->link(kRoot, bad, fuse::kRootInode, "l").error(), EBADF);
    EXPECT_EQ(fs_->link(kRoot, a_, bad, "l").error(), EBADF);
    EXPECT_EQ(fs_->open(kRoot, bad, O_RDWR).error(), EBADF);
    EXPECT_EQ(fs_->opendir(kRoot, bad, 0).error(), EBADF);
    EXPECT_EQ(fs_->statfs(kRoot, bad).error(), EBADF);
    EXPECT_EQ(fs_->access(kRoot, bad, R_OK), EBADF);
    EXPECT_EQ(fs_->syncfs(kRoot, bad), EBADF);
    const uint8_t v[] = {'v'};
    EXPECT_EQ(fs_->setxattr(kRoot, bad, "user.k", v, 0), EBADF);
    EXPECT_EQ(fs_->getxattr(kRoot, bad, "user.k", buf).error(), EBADF);
    EXPECT_EQ(fs_->listxattr(kRoot, bad, buf).error(), EBADF);
    EXPECT_EQ(fs_->listxattr(kRoot, bad, {}).error(), EBADF);
    EXPECT_EQ(fs_->removexattr(kRoot, bad, "user.k"), EBADF);
    fs_->forget(kRoot, bad, 1);
    const std::pair<fuse::Inode, uint64_t> items[] = {{bad, UINT64_MAX}};
    fs_->batch_forget(kRoot, items);
  }
  expect_unchanged(before);
}

TEST_F(DirectChecksTest, TheRootSurvivesEveryForgetAndHasNoParentByName) {
  const State before = state();
  fs_->forget(kRoot, fuse::kRootInode, UINT64_MAX);
  const std::pair<fuse::Inode, uint64_t> items[] = {{fuse::kRootInode, UINT64_MAX},
                                                    {fuse::kRootInode, 1}};
  fs_->batch_forget(kRoot, items);
  ASSERT_TRUE(fs_->getattr(kRoot, fuse::kRootInode, std::nullopt).ok());
  // ".." of the root (or of anything) is never looked up, made or removed.
  EXPECT_EQ(fs_->lookup(kRoot, fuse::kRootInode, "..").error(), EINVAL);
  EXPECT_EQ(fs_->rmdir(kRoot, fuse::kRootInode, "."), EINVAL);
  EXPECT_EQ(fs_->rename(kRoot, fuse::kRootInode, "..", d_, "up", 0), EINVAL);
  EXPECT_EQ(fs_->link(kRoot, fuse::kRootInode, d_, "root").error(), EPERM) << "a directory";
  auto again = fs_->lookup(kRoot, fuse::kRootInode, "a");
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->inode, a_);
  fs_->forget(kRoot, a_, 1);
  State now = before;
  now.root_refs = 0;  // the root's count saturates at 0 but its entry stays
  EXPECT_EQ(refcount(fuse::kRootInode), 0u);
  EXPECT_EQ(state(), now);
}

TEST_F(DirectChecksTest, TmpfileInAFileIsEnotdirAndChangesNothing) {
  const State before = state();
  EXPECT_EQ(fs_->tmpfile(kRoot, a_, 0644, O_RDWR, 0, "").error(), ENOTDIR);
  expect_unchanged(before);
}

TEST_F(DirectChecksTest, OpendirOfAFileIsEnotdirAndChangesNothing) {
  const State before = state();
  EXPECT_EQ(fs_->opendir(kRoot, a_, O_RDONLY).error(), ENOTDIR);
  expect_unchanged(before);
}

// An immutable file refuses chmod even to root: the kernel's EPERM must come back,
// not the attributes as if the change had been made.
TEST_F(DirectChecksTest, SetattrModeOnAnImmutableFileIsEperm) {
  ScopedFd host_a(::open(host("a").c_str(), O_RDONLY | O_CLOEXEC));
  ASSERT_TRUE(host_a.valid());
  int flags = 0;
  ASSERT_EQ(::ioctl(host_a.get(), FS_IOC_GETFLAGS, &flags), 0) << errno;
  const int plain = flags;
  flags |= FS_IMMUTABLE_FL;
  ASSERT_EQ(::ioctl(host_a.get(), FS_IOC_SETFLAGS, &flags), 0) << errno;
  fuse::SetattrRequest sa;
  sa.valid = FATTR_MODE;
  sa.mode = 0600;
  auto r = fs_->setattr(kRoot, a_, sa);
  ASSERT_EQ(::ioctl(host_a.get(), FS_IOC_SETFLAGS, &plain), 0) << errno;
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error(), EPERM);
  struct stat st {};
  ASSERT_EQ(::lstat(host("a").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0644u);
}

// Runs `call` with room for exactly `room` more fds (with 1: a new file opens but
// its O_PATH twin, entry_for_open_file, cannot).
template <class Call>
auto with_free_fds(int room, Call call) {
  const int lowest_free = ::fcntl(0, F_DUPFD_CLOEXEC, 0);
  EXPECT_GE(lowest_free, 0);
  ::close(lowest_free);
  struct rlimit saved {};
  EXPECT_EQ(::getrlimit(RLIMIT_NOFILE, &saved), 0);
  struct rlimit tight = saved;
  tight.rlim_cur = static_cast<rlim_t>(lowest_free + room);
  EXPECT_EQ(::setrlimit(RLIMIT_NOFILE, &tight), 0);
  auto r = call();
  EXPECT_EQ(::setrlimit(RLIMIT_NOFILE, &saved), 0);
  return r;
}

TEST_F(DirectChecksTest, TmpfileOutOfFdsAfterTheFileIsMadeTakesNothing) {
  const State before = state();
  auto r = with_free_fds(1, [&] { return fs_->tmpfile(kRoot, d_, 0644, O_RDWR, 0, ""); });
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error(), EMFILE);
  expect_unchanged(before);
}

// The file is linked under its name by then (it stays, as after any late failure),
// but no inode reference or handle is taken.
TEST_F(DirectChecksTest, CreateOutOfFdsAfterTheFileIsMadeTakesNoReference) {
  const State before = state();
  auto r = with_free_fds(
      1, [&] { return fs_->create(kRoot, d_, "late", S_IFREG | 0644, O_RDWR, 0, ""); });
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error(), EMFILE);
  EXPECT_EQ(fs_->inodes().size(), before.inodes);
  EXPECT_EQ(fs_->handles().size(), before.handles);
  EXPECT_EQ(open_fd_count(), before.fds);
  expect_tables_consistent();
}

TEST_F(DirectChecksTest, SyncfsThatCannotOpenTheInodeIsAnError) {
  const State before = state();
  EXPECT_EQ(with_free_fds(0, [&] { return fs_->syncfs(kRoot, a_); }), EMFILE);
  expect_unchanged(before);
}

TEST_F(DirectChecksTest, CreateFromFdsRefusesAnInvalidRootOrProcFd) {
  auto open_dir = [](const char* path) {
    return ScopedFd(::open(path, O_PATH | O_DIRECTORY | O_CLOEXEC));
  };
  auto no_root =
      passthrough::PassthroughFs::create_from_fds(cfg_, ScopedFd(), open_dir("/proc/self"));
  ASSERT_FALSE(no_root.ok());
  EXPECT_EQ(no_root.error(), EBADF);
  auto no_proc =
      passthrough::PassthroughFs::create_from_fds(cfg_, open_dir(dir_.path().c_str()), ScopedFd());
  ASSERT_FALSE(no_proc.ok());
  EXPECT_EQ(no_proc.error(), EBADF);
}

// The client's umask is applied by the client (or sent with the request); the
// server's own must not mask the modes a second time.
TEST_F(DirectChecksTest, TheServersUmaskDoesNotMaskNewModes) {
  const mode_t saved = ::umask(022);
  auto fs = passthrough::PassthroughFs::create_from_fds(
      cfg_, ScopedFd(::open(dir_.path().c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC)),
      ScopedFd(::open("/proc/self", O_PATH | O_DIRECTORY | O_CLOEXEC)));
  Result<fuse::Entry> made = Errno{EBADF};
  if (fs.ok() && (*fs)->init(fuse::FsOptions{}).ok())
    made = (*fs)->mkdir(kRoot, fuse::kRootInode, "open", 0777, 0, "");
  ::umask(saved);  // before any ASSERT: the other tests run in this process
  ASSERT_TRUE(fs.ok()) << fs.error();
  ASSERT_TRUE(made.ok()) << made.error();
  (*fs)->forget(kRoot, made->inode, 1);
  struct stat st {};
  ASSERT_EQ(::lstat(host("open").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0777u) << std::oct << (st.st_mode & 07777);
}

class DirectHandleTest : public DirectChecksTest {
 protected:
  void SetUp() override {
    DirectChecksTest::SetUp();
    ASSERT_FALSE(HasFatalFailure());
    auto fh = fs_->open(kRoot, a_, O_RDWR);
    auto dh = fs_->opendir(kRoot, d_, 0);
    ASSERT_TRUE(fh.ok() && dh.ok());
    fh_ = fh->handle;
    dh_ = dh->handle;
    // A released handle: opened and closed again.
    auto gone = fs_->open(kRoot, a_, O_RDONLY);
    ASSERT_TRUE(gone.ok());
    released_ = gone->handle;
    ASSERT_EQ(fs_->release(kRoot, a_, 0, released_, false, false, std::nullopt), kOk);
  }
  void TearDown() override {
    EXPECT_EQ(fs_->release(kRoot, a_, 0, fh_, false, false, std::nullopt), kOk);
    EXPECT_EQ(fs_->releasedir(kRoot, d_, 0, dh_), kOk);
    EXPECT_EQ(fs_->handles().size(), 0u);
    DirectChecksTest::TearDown();
  }

  // Every handle method with (inode, handle); each must answer EBADF.
  void expect_every_handle_method_ebadf(fuse::Inode inode, fuse::Handle handle) {
    char buf[16];
    fuse::Writer out(buf, sizeof(buf));
    EXPECT_EQ(fs_->read(kRoot, inode, handle, out, sizeof(buf), 0, 0).error(), EBADF);
    fuse::Reader in("ZZ", 2);
    EXPECT_EQ(fs_->write(kRoot, inode, handle, in, 2, 0, 0, 0).error(), EBADF);
    EXPECT_EQ(fs_->flush(kRoot, inode, handle, 0), EBADF);
    EXPECT_EQ(fs_->fsync(kRoot, inode, false, handle), EBADF);
    EXPECT_EQ(fs_->fsyncdir(kRoot, inode, true, handle), EBADF);
    EXPECT_EQ(fs_->lseek(kRoot, inode, handle, 0, SEEK_END).error(), EBADF);
    EXPECT_EQ(fs_->fallocate(kRoot, inode, handle, 0, 0, 100), EBADF);
    EXPECT_EQ(fs_->copy_file_range(kRoot, inode, handle, 0, a_, fh_, 0, 2, 0).error(), EBADF);
    EXPECT_EQ(fs_->copy_file_range(kRoot, a_, fh_, 0, inode, handle, 0, 2, 0).error(), EBADF);
    uint8_t flags_out[4];
    EXPECT_EQ(fs_->ioctl(kRoot, inode, handle, 0, FS_IOC_GETFLAGS, 0, {}, flags_out).error(),
              EBADF);
    struct NullSink : fuse::DirSink {
      bool add(const fuse::DirEntry&) override { return true; }
    } sink;
    EXPECT_EQ(fs_->readdir(kRoot, inode, handle, 0, sink), EBADF);
    fuse::SetattrRequest sa;
    sa.valid = FATTR_SIZE;
    sa.handle = handle;
    EXPECT_EQ(fs_->setattr(kRoot, inode, sa).error(), EBADF);
    EXPECT_EQ(fs_->release(kRoot, inode, 0, handle, false, false, std::nullopt), EBADF);
    EXPECT_EQ(fs_->releasedir(kRoot, inode, 0, handle), EBADF);
  }

  fuse::Handle fh_ = 0;
  fuse::Handle dh_ = 0;
  fuse::Handle released_ = 0;
};

TEST_F(DirectHandleTest, UnknownReleasedAndForeignHandlesAreEbadf) {
  const State before = state();
  for (fuse::Handle bad : {fuse::Handle{0}, fuse::Handle{999999}, ~fuse::Handle{0}, released_}) {
    SCOPED_TRACE(bad);
    expect_every_handle_method_ebadf(a_, bad);
    expect_every_handle_method_ebadf(d_, bad);
  }
  // A handle with another inode than its own: the directory's with the file, the
  // file's with the directory and the root.
  for (auto [inode, handle] :
       {std::pair{a_, dh_}, std::pair{d_, fh_}, std::pair{fuse::kRootInode, fh_},
        std::pair{fuse::kRootInode, dh_}}) {
    SCOPED_TRACE(::testing::Message() << inode << "/" << handle);
    expect_every_handle_method_ebadf(inode, handle);
  }
  expect_unchanged(before);
  EXPECT_EQ(read_host_file("a"), "aaaa");
  // Both handles still work with their own inode.
  char buf[8];
  fuse::Writer out(buf, sizeof(buf));
  EXPECT_EQ(fs_->read(kRoot, a_, fh_, out, sizeof(buf), 0, 0).value(), 4u);
  struct CountSink : fuse::DirSink {
    size_t n = 0;
    bool add(const fuse::DirEntry&) override { return ++n, true; }
  } sink;
  EXPECT_EQ(fs_->readdir(kRoot, d_, dh_, 0, sink), kOk);
  EXPECT_EQ(sink.n, 3u);
}

// A handle of the right inode but the wrong kind: PassthroughFs keeps no type in
// the handle, so the kernel refuses on the fd (nothing to plant in PassthroughFs;
// this pins the answer and that nothing changes).
TEST_F(DirectHandleTest, DirectoryHandleForFileIoAndFileHandleForReaddir) {
  const State before = state();
  char buf[16];
  fuse::Writer out(buf, sizeof(buf));
  EXPECT_EQ(fs_->read(kRoot, d_, dh_, out, sizeof(buf), 0, 0).error(), EISDIR);
  fuse::Reader in("ZZ", 2);
  EXPECT_EQ(fs_->write(kRoot, d_, dh_, in, 2, 0, 0, 0).error(), EBADF);
  EXPECT_EQ(fs_->fallocate(kRoot, d_, dh_, 0, 0, 100), EBADF);
  struct NullSink : fuse::DirSink {
    bool add(const fuse::DirEntry&) override { return true; }
  } sink;
  EXPECT_EQ(fs_->readdir(kRoot, a_, fh_, 0, sink), ENOTDIR);
  expect_unchanged(before);
}

// uid or gid -1 on the handle methods that act as the caller (write and
// copy_file_range switch credentials; nothing before them checks the ids).
TEST_F(DirectHandleTest, CallerIdMinusOneIsRefusedOnWriteAndCopy) {
  const State before = state();
  for (const fuse::Context& ctx :
       {fuse::Context{UINT32_MAX, 1000, 1, 1}, fuse::Context{1000, UINT32_MAX, 1, 1},
        fuse::Context{UINT32_MAX, UINT32_MAX, 1, 1}}) {
    SCOPED_TRACE(::testing::Message() << ctx.uid << ":" << ctx.gid);
    fuse::Reader in("ZZ", 2);
    EXPECT_EQ(fs_->write(ctx, a_, fh_, in, 2, 0, 0, 0).error(), EPERM);
    EXPECT_EQ(fs_->copy_file_range(ctx, a_, fh_, 0, a_, fh_, 2, 2, 0).error(), EPERM);
    EXPECT_EQ(fs_->access(ctx, a_, F_OK), EPERM);
  }
  expect_unchanged(before);
  EXPECT_EQ(read_host_file("a"), "aaaa");
}

// uid or gid -1 on every method that makes a file, on a subdirectory (the root
// case is in name_swap_test.cc), and with each id alone.
TEST_F(DirectChecksTest, CallerIdMinusOneIsRefusedOnEveryCreatingMethod) {
  const State before = state();
  for (const fuse::Context& ctx :
       {fuse::Context{UINT32_MAX, 0, 1, 1}, fuse::Context{0, UINT32_MAX, 1, 1},
        fuse::Context{UINT32_MAX, UINT32_MAX, 1, 1}}) {
    SCOPED_TRACE(::testing::Message() << ctx.uid << ":" << ctx.gid);
    EXPECT_EQ(fs_->mkdir(ctx, d_, "m", 0755, 0, "").error(), EPERM);
    EXPECT_EQ(fs_->mknod(ctx, d_, "n", S_IFREG | 0644, 0, 0, "").error(), EPERM);
    EXPECT_EQ(fs_->mknod(ctx, d_, "p", S_IFIFO | 0644, 0, 0, "").error(), EPERM);
    EXPECT_EQ(fs_->symlink(ctx, "t", d_, "s", "").error(), EPERM);
    EXPECT_EQ(fs_->create(ctx, d_, "c", 0644, O_RDWR, 0, "").error(), EPERM);
    EXPECT_EQ(fs_->tmpfile(ctx, d_, 0644, O_RDWR, 0, "").error(), EPERM);
  }
  expect_unchanged(before);
}

// --- 3. symlink targets and xattr limits ---------------------------------------

TEST_F(DirectChecksTest, SymlinkTargetsTheServerWouldStop) {
  const State before = state();
  EXPECT_EQ(fs_->symlink(kRoot, "", d_, "s", "").error(), EINVAL);
  EXPECT_EQ(fs_->symlink(kRoot, "a\0b"s, d_, "s", "").error(), EINVAL);
  EXPECT_EQ(fs_->symlink(kRoot, "\0"s, d_, "s", "").error(), EINVAL);
  // PATH_MAX bytes (no room for the NUL): the kernel's own limit, same errno.
  EXPECT_EQ(fs_->symlink(kRoot, std::string(kPathMax, 't'), d_, "s", "").error(), ENAMETOOLONG);
  EXPECT_EQ(fs_->symlink(kRoot, std::string(kPathMax + 1, 't'), d_, "s", "").error(), ENAMETOOLONG);
  expect_unchanged(before);
  // PATH_MAX - 1 is the longest target, and stored whole.
  const std::string longest(kPathMax - 1, 't');
  auto s = fs_->symlink(kRoot, longest, d_, "s", "");
  ASSERT_TRUE(s.ok()) << s.error();
  std::vector<char> out(kPathMax);
  EXPECT_EQ(fs_->readlink(kRoot, s->inode, out).value(), longest.size());
  EXPECT_EQ(std::string(out.data(), longest.size()), longest);
  fs_->forget(kRoot, s->inode, 1);
}

TEST_F(DirectChecksTest, XattrNamesAndValuesOverTheLimits) {
  const State before = state();
  const std::string over_name = "user." + std::string(kXattrNameMax + 1 - 5, 'n');
  ASSERT_EQ(over_name.size(), kXattrNameMax + 1);
  const std::vector<uint8_t> over_value(kXattrSizeMax + 1, 'v');
  const uint8_t v[] = {'v'};
  std::vector<uint8_t> buf(64);
  for (const std::string& bad : {std::string(), over_name}) {
    SCOPED_TRACE(bad.size());
    EXPECT_EQ(fs_->setxattr(kRoot, a_, bad, v, 0), ERANGE);
    EXPECT_EQ(fs_->getxattr(kRoot, a_, bad, buf).error(), ERANGE);
    EXPECT_EQ(fs_->getxattr(kRoot, a_, bad, {}).error(), ERANGE);
    EXPECT_EQ(fs_->removexattr(kRoot, a_, bad), ERANGE);
  }
  EXPECT_EQ(fs_->setxattr(kRoot, a_, "user.big", over_value, 0), E2BIG);
  EXPECT_EQ(fs_->setxattr(kRoot, d_, "user.big", over_value, XATTR_CREATE), E2BIG);
  // A name with a NUL inside would reach the syscall cut at the NUL and name
  // another attribute ("user.k"): refused as the Server refuses it (EINVAL).
  ASSERT_EQ(::setxattr(host("a").c_str(), "user.k", "host", 4, 0), 0);
  const std::string nul_name = "user.k\0x"s;
  EXPECT_EQ(fs_->setxattr(kRoot, a_, nul_name, v, 0), EINVAL);
  EXPECT_EQ(fs_->getxattr(kRoot, a_, nul_name, buf).error(), EINVAL);
  EXPECT_EQ(fs_->getxattr(kRoot, a_, nul_name, {}).error(), EINVAL);
  EXPECT_EQ(fs_->removexattr(kRoot, a_, nul_name), EINVAL);
  EXPECT_EQ(fs_->setxattr(kRoot, a_, "\0user.k"s, v, 0), EINVAL);
  char host_value[8] = {};
  EXPECT_EQ(::getxattr(host("a").c_str(), "user.k", host_value, sizeof(host_value)), 4);
  EXPECT_EQ(std::string(host_value, 4), "host");
  ASSERT_EQ(::removexattr(host("a").c_str(), "user.k"), 0);
  expect_unchanged(before);
  // XATTR_NAME_MAX itself is a name.
  const std::string longest = "user." + std::string(kXattrNameMax - 5, 'n');
  EXPECT_EQ(fs_->setxattr(kRoot, a_, longest, v, 0), kOk);
  EXPECT_EQ(fs_->getxattr(kRoot, a_, longest, buf).value(), 1u);
  EXPECT_EQ(fs_->removexattr(kRoot, a_, longest), kOk);
}

}  // namespace
}  // namespace pfs::testing
