// PassthroughFs called directly: every failure after an operation took something
// (an inode reference, a handle, a descriptor, a temporary directory) gives it
// back. Failures that cannot be provoked from outside are injected through the
// race-point and TempDir hooks.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <set>
#include <string>

#include "core/passthrough/credentials.h"
#include "core/passthrough/race_points.h"
#include "core/passthrough/temp_dir.h"
#include "core/tests/fs_tally.h"
#include "core/tests/passthrough_fixture.h"

namespace pfs::testing {
namespace {

using passthrough::CredentialsStep;
using passthrough::RacePoint;
using passthrough::ScopedCredentialsFaultHook;
using passthrough::ScopedRacePointHook;
using passthrough::ScopedTempDirFaultHook;
using passthrough::TempDirStep;

// Race-point hooks: what a second client thread could do to the new name between
// our making it and our looking at it again.
void replace_with_file(int parent_fd, std::string_view name) {
  const std::string n(name);
  ::unlinkat(parent_fd, n.c_str(), 0);
  ::unlinkat(parent_fd, n.c_str(), AT_REMOVEDIR);
  const int fd = ::openat(parent_fd, n.c_str(), O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0644);
  ASSERT_GE(fd, 0) << "the hook could not put a file under " << n;
  ::close(fd);
}

void replace_with_directory(int parent_fd, std::string_view name) {
  const std::string n(name);
  ASSERT_EQ(::unlinkat(parent_fd, n.c_str(), 0), 0);
  ASSERT_EQ(::mkdirat(parent_fd, n.c_str(), 0755), 0);
}

void remove_name(int parent_fd, std::string_view name) {
  const std::string n(name);
  if (::unlinkat(parent_fd, n.c_str(), 0) != 0) {
    ASSERT_EQ(::unlinkat(parent_fd, n.c_str(), AT_REMOVEDIR), 0);
  }
}

class GiveBackTest : public PassthroughTest {
 protected:
  std::set<std::string> host_names() const {
    std::set<std::string> names;
    for (const auto& e : std::filesystem::directory_iterator(dir_.path())) {
      names.insert(e.path().filename());
    }
    return names;
  }

  fuse::Context ctx_ = mem::default_context();
};

TEST_F(GiveBackTest, CreateWhoseOpenFailsForgetsTheNewEntry) {
  // O_DIRECTORY is harmless to the O_TMPFILE open (which implies it) but makes the
  // reopen of the new regular file fail: the entry reference was already taken.
  const FsTally before = tally(*fs_);
  auto r = fs_->create(ctx_, fuse::kRootInode, "c", S_IFREG | 0644, O_RDONLY | O_DIRECTORY, 0, "");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error(), ENOTDIR);
  EXPECT_EQ(tally(*fs_), before);
  expect_tables_consistent();
}

TEST_F(GiveBackTest, CreateOverAnExistingNameClosesTheUnnamedFile) {
  write_host_file("c", "old");
  const FsTally before = tally(*fs_);
  auto r = fs_->create(ctx_, fuse::kRootInode, "c", S_IFREG | 0644, O_RDWR, 0, "");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error(), EEXIST);
  EXPECT_EQ(tally(*fs_), before);
  EXPECT_EQ(read_host_file("c"), "old");
}

TEST_F(GiveBackTest, CreateThenSwappedNameStillAnswersTheMadeFileOnly) {
  // The name is swapped for a directory before the entry is taken: CREATE must
  // answer the file it made (one reference, one handle), nothing for the swap.
  ScopedRacePointHook hook([](RacePoint, int fd, std::string_view name) {
    ASSERT_EQ(::renameat(fd, std::string(name).c_str(), fd, "moved"), 0);
    ASSERT_EQ(::mkdirat(fd, std::string(name).c_str(), 0755), 0);
  });
  const FsTally before = tally(*fs_);
  auto r = fs_->create(ctx_, fuse::kRootInode, "c", S_IFREG | 0644, O_RDWR, 0, "");
  ASSERT_TRUE(r.ok()) << r.error();
  EXPECT_TRUE(S_ISREG(r->entry.attr.st_mode));
  EXPECT_EQ(r->entry.attr.st_ino, host_stat("moved")->st_ino);
  EXPECT_EQ(refcount(r->entry.inode), 1u);
  EXPECT_EQ(fs_->release(ctx_, r->entry.inode, 0, r->open.handle, false, false, std::nullopt), kOk);
  fs_->forget(ctx_, r->entry.inode, 1);
  EXPECT_EQ(tally(*fs_), before);
}

TEST_F(GiveBackTest, MkdirSwappedForAFileForgetsWhatItFound) {
  ScopedRacePointHook hook(
      [](RacePoint, int fd, std::string_view name) { replace_with_file(fd, name); });
  const FsTally before = tally(*fs_);
  const uint64_t root_refs = refcount(fuse::kRootInode);
  auto r = fs_->mkdir(ctx_, fuse::kRootInode, "d", 0755, 0, "");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error(), EIO);
  EXPECT_EQ(tally(*fs_), before);
  EXPECT_EQ(refcount(fuse::kRootInode), root_refs);
  expect_tables_consistent();
}

TEST_F(GiveBackTest, MkdirWhoseLookupFailsTakesNothing) {
  ScopedRacePointHook hook([](RacePoint, int fd, std::string_view name) { remove_name(fd, name); });
  const FsTally before = tally(*fs_);
  auto r = fs_->mkdir(ctx_, fuse::kRootInode, "d", 0755, 0, "");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error(), ENOENT);
  EXPECT_EQ(tally(*fs_), before);
}

TEST_F(GiveBackTest, MkdirFailuresLeaveNoTemporaryDirectory) {
  {
    // The temporary directory was made but cannot be opened.
    ScopedTempDirFaultHook fault(
        [](TempDirStep s) { return s == TempDirStep::kOpen ? EACCES : 0; });
    const FsTally before = tally(*fs_);
    auto r = fs_->mkdir(ctx_, fuse::kRootInode, "d", 0755, 0, "");
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error(), EACCES);
    EXPECT_EQ(tally(*fs_), before);
    EXPECT_EQ(host_names(), std::set<std::string>{});
  }
  // The rename into place fails: the name is taken.
  write_host_file("d", "x");
  const FsTally before = tally(*fs_);
  auto r = fs_->mkdir(ctx_, fuse::kRootInode, "d", 0755, 0, "");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error(), EEXIST);
  EXPECT_EQ(tally(*fs_), before);
  EXPECT_EQ(host_names(), std::set<std::string>{"d"});
}

TEST_F(GiveBackTest, MknodSwappedForADirectoryForgetsWhatItFound) {
  ScopedRacePointHook hook(
      [](RacePoint, int fd, std::string_view name) { replace_with_directory(fd, name); });
  const FsTally before = tally(*fs_);
  auto r = fs_->mknod(ctx_, fuse::kRootInode, "p", S_IFIFO | 0600, 0, 0, "");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error(), EIO);
  EXPECT_EQ(tally(*fs_), before);
  expect_tables_consistent();
}

TEST_F(GiveBackTest, MknodOverAnExistingNameTakesNothing) {
  write_host_file("p", "x");
  const FsTally before = tally(*fs_);
  auto r = fs_->mknod(ctx_, fuse::kRootInode, "p", S_IFIFO | 0600, 0, 0, "");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error(), EEXIST);
  EXPECT_EQ(tally(*fs_), before);
}

TEST_F(GiveBackTest, CallerIdsThatCannotBeTakenLeaveOursAndTakeNothing) {
  fuse::Context other = ctx_;
  other.uid = 1234;
  other.gid = 4321;
  // The gid is switched, then the uid fails: the gid must come back.
  ScopedCredentialsFaultHook fault(
      [](CredentialsStep s) { return s == CredentialsStep::kSetUid ? EPERM : 0; });
  const uid_t euid = ::geteuid();
  const gid_t egid = ::getegid();
  const FsTally before = tally(*fs_);
  EXPECT_EQ(fs_->mknod(other, fuse::kRootInode, "p", S_IFIFO | 0600, 0, 0, "").error(), EPERM);
  EXPECT_EQ(::getegid(), egid);
  EXPECT_EQ(fs_->symlink(other, "target", fuse::kRootInode, "l", "").error(), EPERM);
  EXPECT_EQ(::geteuid(), euid);
  EXPECT_EQ(::getegid(), egid);
  EXPECT_EQ(tally(*fs_), before);
  EXPECT_EQ(host_names(), std::set<std::string>{});
}

TEST_F(GiveBackTest, SymlinkSwappedForAFileForgetsWhatItFound) {
  ScopedRacePointHook hook(
      [](RacePoint, int fd, std::string_view name) { replace_with_file(fd, name); });
  const FsTally before = tally(*fs_);
  auto r = fs_->symlink(ctx_, "target", fuse::kRootInode, "l", "");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error(), EIO);
  EXPECT_EQ(tally(*fs_), before);
  expect_tables_consistent();
}

TEST_F(GiveBackTest, SymlinkWhoseLookupFailsTakesNothing) {
  ScopedRacePointHook hook([](RacePoint, int fd, std::string_view name) { remove_name(fd, name); });
  const FsTally before = tally(*fs_);
  auto r = fs_->symlink(ctx_, "target", fuse::kRootInode, "l", "");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error(), ENOENT);
  EXPECT_EQ(tally(*fs_), before);
}

TEST_F(GiveBackTest, LinkSwappedForAnotherFileForgetsWhatItFound) {
  write_host_file("src", "s");
  const fuse::Inode src = lookup_ok(fuse::kRootInode, "src").nodeid;
  ScopedRacePointHook hook(
      [](RacePoint, int fd, std::string_view name) { replace_with_file(fd, name); });
  const FsTally before = tally(*fs_);
  auto r = fs_->link(ctx_, src, fuse::kRootInode, "dst");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error(), EIO);
  EXPECT_EQ(tally(*fs_), before);
  EXPECT_EQ(refcount(src), 1u) << "the source keeps exactly the client's reference";
  expect_tables_consistent();
}

TEST_F(GiveBackTest, LinkToAnInodeThatVanishedTakesNothing) {
  write_host_file("src", "s");
  const fuse::Inode src = lookup_ok(fuse::kRootInode, "src").nodeid;
  ASSERT_EQ(::unlink(host("src").c_str()), 0);
  const FsTally before = tally(*fs_);
  auto r = fs_->link(ctx_, src, fuse::kRootInode, "dst");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error(), ENOENT);
  EXPECT_EQ(tally(*fs_), before);
  EXPECT_EQ(refcount(src), 1u);
  EXPECT_FALSE(host_exists("dst"));
  // An inode the table never had.
  r = fs_->link(ctx_, 424242, fuse::kRootInode, "dst");
  EXPECT_EQ(r.error(), EBADF);
  EXPECT_EQ(tally(*fs_), before);
}

TEST_F(GiveBackTest, OpenFailuresMakeNoHandle) {
  ASSERT_EQ(::mkfifo(host("p").c_str(), 0600), 0);
  ASSERT_EQ(::mkdir(host("d").c_str(), 0755), 0);
  ASSERT_EQ(::symlink("d", host("l").c_str()), 0);
  const fuse::Inode p = lookup_ok(fuse::kRootInode, "p").nodeid;
  const fuse::Inode d = lookup_ok(fuse::kRootInode, "d").nodeid;
  const fuse::Inode l = lookup_ok(fuse::kRootInode, "l").nodeid;
  const FsTally before = tally(*fs_);
  EXPECT_EQ(fs_->open(ctx_, p, O_RDONLY | O_NONBLOCK).error(), ENXIO) << "a fifo";
  EXPECT_EQ(fs_->open(ctx_, l, O_RDONLY).error(), ENXIO) << "a symlink";
  EXPECT_EQ(fs_->open(ctx_, d, O_WRONLY).error(), EISDIR) << "a directory for writing";
  EXPECT_EQ(fs_->open(ctx_, 424242, O_RDONLY).error(), EBADF);
  EXPECT_EQ(tally(*fs_), before);
}

TEST_F(GiveBackTest, OpendirFailuresMakeNoHandle) {
  write_host_file("f", "x");
  ASSERT_EQ(::mkfifo(host("p").c_str(), 0600), 0);
  const fuse::Inode f = lookup_ok(fuse::kRootInode, "f").nodeid;
  const fuse::Inode p = lookup_ok(fuse::kRootInode, "p").nodeid;
  const FsTally before = tally(*fs_);
  EXPECT_EQ(fs_->opendir(ctx_, f, 0).error(), ENOTDIR);
  EXPECT_EQ(fs_->opendir(ctx_, p, 0).error(), ENXIO);
  EXPECT_EQ(fs_->opendir(ctx_, 424242, 0).error(), EBADF);
  EXPECT_EQ(tally(*fs_), before);
}

TEST_F(GiveBackTest, TmpfileFailuresTakeNothing) {
  write_host_file("f", "x");
  const fuse::Inode f = lookup_ok(fuse::kRootInode, "f").nodeid;
  const FsTally before = tally(*fs_);
  EXPECT_EQ(fs_->tmpfile(ctx_, f, 0600, O_RDWR, 0, "").error(), ENOTDIR) << "parent not a dir";
  EXPECT_EQ(fs_->tmpfile(ctx_, 424242, 0600, O_RDWR, 0, "").error(), EBADF);
  EXPECT_EQ(tally(*fs_), before);
  EXPECT_EQ(host_names(), std::set<std::string>{"f"});
}

class ReadonlyGiveBackTest : public GiveBackTest {
 protected:
  void SetUp() override {
    start_in_setup_ = false;
    GiveBackTest::SetUp();
    cfg_.readonly = true;
    start();
  }
};

TEST_F(ReadonlyGiveBackTest, RefusedWritesTakeNothing) {
  write_host_file("f", "x");
  const fuse::Inode f = lookup_ok(fuse::kRootInode, "f").nodeid;
  const FsTally before = tally(*fs_);
  EXPECT_EQ(fs_->open(ctx_, f, O_RDWR).error(), EROFS);
  EXPECT_EQ(fs_->open(ctx_, f, O_RDONLY | O_TRUNC).error(), EROFS);
  EXPECT_EQ(fs_->create(ctx_, fuse::kRootInode, "c", S_IFREG | 0644, O_RDWR, 0, "").error(), EROFS);
  EXPECT_EQ(fs_->link(ctx_, f, fuse::kRootInode, "g").error(), EROFS);
  EXPECT_EQ(tally(*fs_), before);
  EXPECT_EQ(host_names(), std::set<std::string>{"f"});
}

}  // namespace
}  // namespace pfs::testing
