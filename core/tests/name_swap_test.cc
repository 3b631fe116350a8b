// Deterministic versions of the races a hostile client runs with two threads: the
// name an operation just made is swapped (RENAME_EXCHANGE) for a symlink out of the
// share, for a root-only file or for another directory, exactly between the two
// syscalls a racing guest thread aims at. The hooks of TempDir (TempDirStep::kOpen)
// and of PassthroughFs (RacePoint::kNameMade) run the swap on the request's thread.
// Each layer is tested on its own: TempDir alone, then PassthroughFs behind the
// Server.
#include <dirent.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/fuse.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include <set>
#include <string>

#include "core/passthrough/race_points.h"
#include "core/passthrough/temp_dir.h"
#include "core/tests/fd_count.h"
#include "core/tests/passthrough_fixture.h"

namespace pfs::testing {
namespace {

using passthrough::RacePoint;
using passthrough::ScopedRacePointHook;
using passthrough::ScopedTempDirFaultHook;
using passthrough::TempDir;
using passthrough::TempDirStep;

constexpr uint32_t kGuestUid = 1234;
constexpr uint32_t kGuestGid = 1234;

mem::Context guest() { return mem::Context{kGuestUid, kGuestGid, 4242, 7}; }

// RENAME_EXCHANGE of two names in one directory (what FUSE_RENAME2 does for a guest).
bool exchange(int dir_fd, const std::string& a, const std::string& b) {
  return ::renameat2(dir_fd, a.c_str(), dir_fd, b.c_str(), RENAME_EXCHANGE) == 0;
}

// The hidden "." + 6 alphanumerics names in `dir` (TempDir's in-flight names).
std::set<std::string> hidden_names(const std::string& dir) {
  std::set<std::string> out;
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return out;
  while (const dirent* e = ::readdir(d)) {
    const std::string n = e->d_name;
    if (n.size() == 7 && n[0] == '.' && n != "." && n != "..") out.insert(n);
  }
  ::closedir(d);
  return out;
}

struct Owner {
  uid_t uid;
  gid_t gid;
  mode_t mode;
  bool operator==(const Owner&) const = default;
};

Owner owner_of(const std::string& path) {
  struct stat st {};
  EXPECT_EQ(::lstat(path.c_str(), &st), 0) << path;
  return Owner{st.st_uid, st.st_gid, st.st_mode};
}

// A directory outside the share that no request may ever change: owned by 4242,
// mode 0700, with one file.
class Canary {
 public:
  Canary() {
    EXPECT_TRUE(dir_.ok());
    EXPECT_EQ(::mkdir((dir_ / "secret").c_str(), 0700), 0);
    EXPECT_EQ(::chown((dir_ / "secret").c_str(), 4242, 4242), 0);
    before_ = owner_of(path());
  }
  std::string path() const { return dir_ / "secret"; }
  void expect_unchanged() const {
    EXPECT_EQ(owner_of(path()), before_) << "the canary outside the share changed";
  }

 private:
  ScratchDir dir_{"pfs-canary"};
  Owner before_{};
};

// --- TempDir on its own ----------------------------------------------------

class TempDirSwapTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(dir_.ok());
    parent_ = ScopedFd(::open(dir_.path().c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    ASSERT_TRUE(parent_.valid());
  }
  // Runs TempDir::create with `swap(hidden_name)` run between mkdirat and openat.
  Result<TempDir> create_with_swap(const std::function<void(const std::string&)>& swap) {
    ScopedTempDirFaultHook hook([&](TempDirStep step) {
      if (step != TempDirStep::kOpen) return 0;
      const auto names = hidden_names(dir_.path());
      EXPECT_EQ(names.size(), 1u);
      if (!names.empty()) swap(*names.begin());
      return 0;
    });
    return TempDir::create(parent_.get(), 0755);
  }

  ScratchDir dir_{"pfs-tempdir-swap"};
  ScopedFd parent_;
};

TEST_F(TempDirSwapTest, SymlinkSwappedInIsNotFollowed) {
  Canary canary;
  ASSERT_EQ(::symlink(canary.path().c_str(), (dir_ / "evil").c_str()), 0);
  auto t = create_with_swap(
      [&](const std::string& name) { ASSERT_TRUE(exchange(parent_.get(), "evil", name)); });
  ASSERT_FALSE(t.ok()) << "TempDir opened a symlink it did not make";
  EXPECT_EQ(t.error(), EIO);
  canary.expect_unchanged();
}

TEST_F(TempDirSwapTest, NonEmptyDirectorySwappedInIsRefused) {
  ASSERT_EQ(::mkdir((dir_ / "full").c_str(), 0755), 0);
  ASSERT_EQ(::mkdir((dir_ / "full/child").c_str(), 0755), 0);
  auto t = create_with_swap(
      [&](const std::string& name) { ASSERT_TRUE(exchange(parent_.get(), "full", name)); });
  ASSERT_FALSE(t.ok()) << "TempDir accepted a directory it did not make";
  EXPECT_EQ(t.error(), EIO);
}

TEST_F(TempDirSwapTest, DirectoryOwnedBySomeoneElseIsRefused) {
  ASSERT_EQ(::mkdir((dir_ / "theirs").c_str(), 0755), 0);
  ASSERT_EQ(::chown((dir_ / "theirs").c_str(), 4242, 4242), 0);
  auto t = create_with_swap(
      [&](const std::string& name) { ASSERT_TRUE(exchange(parent_.get(), "theirs", name)); });
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.error(), EIO);
  EXPECT_EQ(owner_of(dir_.path() + "/" + *hidden_names(dir_.path()).begin()).uid, 4242u);
}

TEST_F(TempDirSwapTest, RemovalLeavesADirectorySwappedInAlone) {
  std::string name;
  {
    auto t = TempDir::create(parent_.get(), 0755);
    ASSERT_TRUE(t.ok()) << t.error();
    name = t->basename();
    ASSERT_EQ(::mkdir((dir_ / "other").c_str(), 0755), 0);
    ASSERT_TRUE(exchange(parent_.get(), "other", name));
  }
  struct stat st {};
  EXPECT_EQ(::lstat((dir_ / name).c_str(), &st), 0) << "removed a directory it did not make";
}

// --- PassthroughFs behind the Server ----------------------------------------

class NameSwapTest : public PassthroughTest {
 protected:
  void SetUp() override {
    PassthroughTest::SetUp();
    // The guest uid must be allowed to make names in the share's root.
    ASSERT_EQ(::chmod(dir_.path().c_str(), 0777), 0);
    root_ = ScopedFd(::open(dir_.path().c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    ASSERT_TRUE(root_.valid());
    baseline_fds_ = open_fd_count();
  }
  // The inode table holds only the root again and no fd was left behind.
  void expect_nothing_leaked() {
    expect_tables_consistent();
    EXPECT_EQ(fs_->inodes().size(), 1u);
    EXPECT_EQ(open_fd_count(), baseline_fds_);
  }
  int root() const { return root_.get(); }

  ScopedFd root_;
  size_t baseline_fds_ = 0;
};

// The escape found by review: MKDIR as a guest uid while the hidden name is swapped
// for a symlink to a host directory; the old code followed it and chowned the host
// directory to the guest.
TEST_F(NameSwapTest, MkdirNeverChownsThroughASymlinkSwappedIn) {
  Canary canary;
  ASSERT_EQ(::symlink(canary.path().c_str(), host("evil").c_str()), 0);
  ScopedTempDirFaultHook hook([&](TempDirStep step) {
    if (step == TempDirStep::kOpen) {
      for (const auto& n : hidden_names(dir_.path())) exchange(root(), "evil", n);
    }
    return 0;
  });
  auto r = run(req::mkdir(fuse::kRootInode, "d", 0755, 0, guest()));
  EXPECT_EQ(r.error(), EIO);
  canary.expect_unchanged();
  EXPECT_FALSE(host_exists("d"));
  expect_nothing_leaked();
}

TEST_F(NameSwapTest, MkdirNeverGivesAwayADirectorySwappedIn) {
  ASSERT_EQ(::mkdir(host("roots").c_str(), 0755), 0);
  write_host_file("roots/file", "root's", 0600);
  ScopedTempDirFaultHook hook([&](TempDirStep step) {
    if (step == TempDirStep::kOpen) {
      for (const auto& n : hidden_names(dir_.path())) exchange(root(), "roots", n);
    }
    return 0;
  });
  auto r = run(req::mkdir(fuse::kRootInode, "d", 0755, 0, guest()));
  EXPECT_EQ(r.error(), EIO);
  for (const auto& n : hidden_names(dir_.path())) {
    if (host_exists(n + "/file")) {
      EXPECT_EQ(owner_of(host(n)).uid, 0u) << "root's directory given away";
    }
  }
  expect_nothing_leaked();
}

TEST_F(NameSwapTest, MkdirAnswersEioWhenItsNameIsSwappedAfterTheRename) {
  ASSERT_EQ(::symlink("/", host("evil").c_str()), 0);
  ScopedRacePointHook hook([&](RacePoint, int parent, std::string_view name) {
    exchange(parent, "evil", std::string(name));
  });
  auto r = run(req::mkdir(fuse::kRootInode, "d", 0755, 0, guest()));
  EXPECT_EQ(r.error(), EIO);
  expect_nothing_leaked();
}

// CREATE used to look the new name up again and open whatever was there as root:
// swapped for a root-only file, the guest got a read-write handle to it.
TEST_F(NameSwapTest, CreateOpensTheFileItMadeNotTheOneSwappedIn) {
  write_host_file("secret", "root only", 0600);
  const ino_t secret_ino = host_stat("secret")->st_ino;
  ScopedRacePointHook hook([&](RacePoint, int parent, std::string_view name) {
    ASSERT_TRUE(exchange(parent, "secret", std::string(name)));
  });
  auto r = run(req::create(fuse::kRootInode, "new", S_IFREG | 0644, O_RDWR, 0, guest()));
  ASSERT_TRUE(r.ok()) << r.error();
  const auto e = r.at<fuse_entry_out>(0).value_or(fuse_entry_out{});
  const auto o = r.at<fuse_open_out>(sizeof(fuse_entry_out)).value_or(fuse_open_out{});
  EXPECT_NE(e.attr.ino, secret_ino) << "CREATE answered with the file swapped in";
  EXPECT_EQ(e.attr.uid, kGuestUid);
  EXPECT_EQ(read_ok(e.nodeid, o.fh, 0, 100), "") << "the handle reads the root-only file";
  EXPECT_EQ(read_host_file("new"), "root only");  // the swap itself happened
  run(req::release(e.nodeid, o.fh));
  run(req::forget(e.nodeid, 1));
  expect_nothing_leaked();
}

struct MadeCase {
  const char* label;
  std::function<mem::Bytes(fuse::Inode)> request;
};

class EntrySwapTest : public NameSwapTest, public ::testing::WithParamInterface<MadeCase> {};

// After MKNOD, SYMLINK or LINK, the name is swapped for a directory: the answer must
// not describe the directory as what was made (the client kernel would take it as
// the new entry), and no reference may be left behind.
TEST_P(EntrySwapTest, AnswersEioAndLeaksNothingWhenTheNameIsSwapped) {
  write_host_file("target", "x");
  ASSERT_EQ(::mkdir(host("swapped").c_str(), 0755), 0);
  const auto target = lookup_ok(fuse::kRootInode, "target");
  ScopedRacePointHook hook([&](RacePoint, int parent, std::string_view name) {
    ASSERT_TRUE(exchange(parent, "swapped", std::string(name)));
  });
  auto r = run(GetParam().request(target.nodeid));
  EXPECT_EQ(r.error(), EIO) << GetParam().label;
  run(req::forget(target.nodeid, 1));
  expect_nothing_leaked();
}

INSTANTIATE_TEST_SUITE_P(
    Ops, EntrySwapTest,
    ::testing::Values(
        MadeCase{"mknod",
                 [](fuse::Inode) {
                   return req::mknod(fuse::kRootInode, "n", S_IFIFO | 0644, 0, 0, guest());
                 }},
        MadeCase{"symlink",
                 [](fuse::Inode) { return req::symlink(fuse::kRootInode, "n", "t", guest()); }},
        MadeCase{
            "link",
            [](fuse::Inode target) { return req::link(target, fuse::kRootInode, "n", guest()); }}),
    [](const ::testing::TestParamInfo<MadeCase>& p) { return std::string(p.param.label); });

// PassthroughFs's own check, without the Server in front (which refuses the same).
TEST_F(NameSwapTest, CallerIdMinusOneIsRefusedByPassthroughFsItself) {
  const fuse::Context bad_uid{0xFFFFFFFFu, kGuestGid, 1, 1};
  const fuse::Context bad_gid{kGuestUid, 0xFFFFFFFFu, 1, 1};
  for (const auto& ctx : {bad_uid, bad_gid}) {
    EXPECT_EQ(fs_->mkdir(ctx, fuse::kRootInode, "d", 0755, 0, "").error(), EPERM);
    EXPECT_EQ(fs_->mknod(ctx, fuse::kRootInode, "n", S_IFREG | 0644, 0, 0, "").error(), EPERM);
    EXPECT_EQ(fs_->symlink(ctx, "t", fuse::kRootInode, "s", "").error(), EPERM);
    EXPECT_EQ(fs_->create(ctx, fuse::kRootInode, "c", 0644, O_RDWR, 0, "").error(), EPERM);
    EXPECT_EQ(fs_->tmpfile(ctx, fuse::kRootInode, 0644, O_RDWR, 0, "").error(), EPERM);
    EXPECT_EQ(fs_->access(ctx, fuse::kRootInode, R_OK), EPERM);
  }
  EXPECT_FALSE(host_exists("d"));
  EXPECT_FALSE(host_exists("n"));
  EXPECT_FALSE(host_exists("s"));
  EXPECT_FALSE(host_exists("c"));
  expect_nothing_leaked();
}

// And through the Server: MKDIR/MKNOD with uid -1 used to make root-owned entries.
TEST_F(NameSwapTest, RequestsWithUidMinusOneCreateNothing) {
  mem::Context ctx = guest();
  ctx.uid = 0xFFFFFFFFu;
  EXPECT_EQ(run(req::mkdir(fuse::kRootInode, "d", 0755, 0, ctx)).error(), EPERM);
  EXPECT_EQ(run(req::mknod(fuse::kRootInode, "n", S_IFREG | 0644, 0, 0, ctx)).error(), EPERM);
  EXPECT_FALSE(host_exists("d"));
  EXPECT_FALSE(host_exists("n"));
}

}  // namespace
}  // namespace pfs::testing
