#include "core/passthrough/temp_dir.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cctype>
#include <cerrno>
#include <filesystem>

#include "core/tests/passthrough_scratch.h"

namespace pfs::passthrough {
namespace {

class TempDirTest : public pfs::testing::ScratchDirTest {
 protected:
  void SetUp() override {
    ScratchDirTest::SetUp();
    // As in the seed's tests, the parent is an O_PATH fd.
    parent_ = ScopedFd(::open(path().c_str(), O_PATH | O_CLOEXEC));
    ASSERT_TRUE(parent_.valid());
  }
  void TearDown() override {
    parent_.reset();
    ScratchDirTest::TearDown();
  }
  bool is_dir(const std::string& name) const {
    struct stat st {};
    return ::lstat(path(name).c_str(), &st) == 0 && S_ISDIR(st.st_mode);
  }
  size_t entries() const {
    std::error_code ec;
    size_t n = 0;
    for (auto it = std::filesystem::directory_iterator(path(), ec);
         !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
      ++n;
    }
    return n;
  }
  int parent() const { return parent_.get(); }

 private:
  ScopedFd parent_;
};

// The seed's create_temp_dir.
TEST_F(TempDirTest, CreateTempDir) {
  auto t = TempDir::create(parent(), 0755);
  ASSERT_TRUE(t.ok()) << t.error();
  EXPECT_TRUE(is_dir(t->basename()));
  EXPECT_TRUE(t->armed());
  EXPECT_GE(t->fd(), 0);
}

// The seed's remove_temp_dir.
TEST_F(TempDirTest, RemoveTempDir) {
  std::string name;
  {
    auto t = TempDir::create(parent(), 0755);
    ASSERT_TRUE(t.ok()) << t.error();
    name = t->basename();
  }
  EXPECT_FALSE(is_dir(name));
  EXPECT_EQ(entries(), 0u);
}

// The seed's temp_dir_into_inner.
TEST_F(TempDirTest, TempDirIntoInner) {
  std::string name;
  {
    auto t = TempDir::create(parent(), 0755);
    ASSERT_TRUE(t.ok()) << t.error();
    auto [kept_name, fd] = t->into_inner();
    name = kept_name;
    EXPECT_TRUE(fd.valid());
    EXPECT_FALSE(t->armed());
    EXPECT_TRUE(t->basename().empty());
  }
  EXPECT_TRUE(is_dir(name));
}

TEST_F(TempDirTest, NameIsHiddenAndAlphanumeric) {
  auto t = TempDir::create(parent(), 0700);
  ASSERT_TRUE(t.ok());
  const std::string& name = t->basename();
  ASSERT_EQ(name.size(), 7u);
  EXPECT_EQ(name[0], '.');
  for (size_t i = 1; i < name.size(); ++i) {
    EXPECT_TRUE(std::isalnum(static_cast<unsigned char>(name[i]))) << name;
  }
}

TEST_F(TempDirTest, ModeIsTheRequestedOne) {
  const mode_t old = ::umask(0);
  auto t = TempDir::create(parent(), 0751);
  ::umask(old);
  ASSERT_TRUE(t.ok());
  struct stat st {};
  ASSERT_EQ(::fstat(t->fd(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0751u);
}

TEST_F(TempDirTest, FdIsTheDirectory) {
  auto t = TempDir::create(parent(), 0755);
  ASSERT_TRUE(t.ok());
  struct stat by_fd {
  }, by_name{};
  ASSERT_EQ(::fstat(t->fd(), &by_fd), 0);
  ASSERT_EQ(::lstat(path(t->basename()).c_str(), &by_name), 0);
  EXPECT_EQ(by_fd.st_ino, by_name.st_ino);
  EXPECT_EQ(by_fd.st_dev, by_name.st_dev);
  EXPECT_TRUE(::fcntl(t->fd(), F_GETFD) & FD_CLOEXEC);
}

TEST_F(TempDirTest, ManyDistinctNames) {
  std::vector<TempDir> dirs;
  for (int i = 0; i < 50; ++i) {
    auto t = TempDir::create(parent(), 0755);
    ASSERT_TRUE(t.ok());
    dirs.push_back(std::move(*t));
  }
  EXPECT_EQ(entries(), 50u);
  dirs.clear();
  EXPECT_EQ(entries(), 0u);
}

TEST_F(TempDirTest, MoveTransfersOwnership) {
  auto t = TempDir::create(parent(), 0755);
  ASSERT_TRUE(t.ok());
  const std::string name = t->basename();
  TempDir moved(std::move(*t));
  EXPECT_FALSE(t->armed());
  EXPECT_TRUE(moved.armed());
  {
    TempDir gone = std::move(t.value());  // an empty one: removes nothing
  }
  EXPECT_TRUE(is_dir(name));
  {
    TempDir last(std::move(moved));
    EXPECT_TRUE(is_dir(name));
  }  // the armed one removes it
  EXPECT_FALSE(is_dir(name));
}

TEST_F(TempDirTest, EmptyTempDirIsInert) {
  TempDir t;
  EXPECT_FALSE(t.armed());
  EXPECT_EQ(t.fd(), -1);
  auto [name, fd] = t.into_inner();
  EXPECT_TRUE(name.empty());
  EXPECT_FALSE(fd.valid());
}

TEST_F(TempDirTest, BadParentFails) {
  auto t = TempDir::create(-1, 0755);
  EXPECT_FALSE(t.ok());
  EXPECT_EQ(t.error(), EBADF);
}

// Failure injection: every step's failure leaves nothing behind.
TEST_F(TempDirTest, InjectedSeedFailure) {
  ScopedTempDirFaultHook hook(
      [](TempDirStep s) { return s == TempDirStep::kRandomSeed ? EAGAIN : 0; });
  auto t = TempDir::create(parent(), 0755);
  EXPECT_EQ(t.error(), EAGAIN);
  EXPECT_EQ(entries(), 0u);
}

TEST_F(TempDirTest, InjectedMkdirFailure) {
  ScopedTempDirFaultHook hook([](TempDirStep s) { return s == TempDirStep::kMkdir ? ENOSPC : 0; });
  auto t = TempDir::create(parent(), 0755);
  EXPECT_EQ(t.error(), ENOSPC);
  EXPECT_EQ(entries(), 0u);
}

TEST_F(TempDirTest, InjectedCollisionsRetry) {
  int collisions = 0;
  ScopedTempDirFaultHook hook(
      [&](TempDirStep s) { return (s == TempDirStep::kMkdir && collisions++ < 10) ? EEXIST : 0; });
  auto t = TempDir::create(parent(), 0755);
  ASSERT_TRUE(t.ok()) << t.error();
  EXPECT_EQ(collisions, 11);
  EXPECT_EQ(entries(), 1u);
}

TEST_F(TempDirTest, InjectedCollisionsGiveUpAfter64) {
  int attempts = 0;
  ScopedTempDirFaultHook hook([&](TempDirStep s) {
    if (s != TempDirStep::kMkdir) return 0;
    ++attempts;
    return EEXIST;
  });
  auto t = TempDir::create(parent(), 0755);
  EXPECT_EQ(t.error(), EEXIST);
  EXPECT_EQ(attempts, 64);
  EXPECT_EQ(entries(), 0u);
}

TEST_F(TempDirTest, InjectedOpenFailureRemovesTheDirectory) {
  ScopedTempDirFaultHook hook([](TempDirStep s) { return s == TempDirStep::kOpen ? EMFILE : 0; });
  auto t = TempDir::create(parent(), 0755);
  EXPECT_EQ(t.error(), EMFILE);
  EXPECT_EQ(entries(), 0u);
}

TEST_F(TempDirTest, InjectedRemoveFailureIsLoggedNotFatal) {
  std::string name;
  {
    ScopedTempDirFaultHook hook(
        [](TempDirStep s) { return s == TempDirStep::kRemove ? EBUSY : 0; });
    auto t = TempDir::create(parent(), 0755);
    ASSERT_TRUE(t.ok());
    name = t->basename();
  }
  EXPECT_TRUE(is_dir(name));  // left behind, as the hook asked
}

TEST_F(TempDirTest, HooksNestAndRestore) {
  {
    ScopedTempDirFaultHook outer([](TempDirStep) { return EPERM; });
    {
      ScopedTempDirFaultHook inner([](TempDirStep) { return 0; });
      auto t = TempDir::create(parent(), 0755);
      EXPECT_TRUE(t.ok());
    }
    auto t = TempDir::create(parent(), 0755);
    EXPECT_EQ(t.error(), EPERM);
  }
  auto t = TempDir::create(parent(), 0755);
  EXPECT_TRUE(t.ok());
}

}  // namespace
}  // namespace pfs::passthrough
