#include "core/passthrough/inode_table.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstdint>
#include <string>

#include "core/tests/scratch_dir.h"

namespace pfs::passthrough {
namespace {

class InodeTableTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(dir_.ok());
    table_.reset_with_root(open_path(dir_.path()), stat_path(dir_.path()));
  }
  static ScopedFd open_path(const std::string& p) {
    return ScopedFd(::open(p.c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC));
  }
  static struct stat stat_path(const std::string& p) {
    struct stat st {};
    EXPECT_EQ(::lstat(p.c_str(), &st), 0) << p;
    return st;
  }
  fuse::Inode add(const std::string& rel) {
    const std::string p = dir_ / rel;
    if (::access(p.c_str(), F_OK) != 0) ScopedFd(::open(p.c_str(), O_CREAT | O_WRONLY, 0644));
    return table_.add_or_ref(open_path(p), stat_path(p));
  }

  testing::ScratchDir dir_;
  InodeTable table_;
};

TEST_F(InodeTableTest, RootStartsWithTwoReferences) {
  EXPECT_EQ(table_.size(), 1u);
  EXPECT_EQ(table_.refcount(fuse::kRootInode), 2u);
  EXPECT_EQ(table_.check_invariants(), "");
}

TEST_F(InodeTableTest, SecondLookupOfOneFileFindsOneEntry) {
  const fuse::Inode a = add("a");
  const fuse::Inode again = add("a");
  EXPECT_EQ(a, again);
  EXPECT_NE(a, fuse::kRootInode);
  EXPECT_EQ(table_.refcount(a), 2u);
  EXPECT_EQ(table_.size(), 2u);
  ASSERT_EQ(::link((dir_ / "a").c_str(), (dir_ / "hard").c_str()), 0);
  EXPECT_EQ(add("hard"), a) << "a hard link is the same host inode";
  EXPECT_EQ(table_.refcount(a), 3u);
  EXPECT_EQ(table_.check_invariants(), "");
}

TEST_F(InodeTableTest, ForgetSaturatesAndRemovesAtZero) {
  const fuse::Inode a = add("a");
  add("a");
  table_.forget(a, 1);
  EXPECT_EQ(table_.refcount(a), 1u);
  table_.forget(a, UINT64_MAX);
  EXPECT_EQ(table_.refcount(a), 0u);
  EXPECT_EQ(table_.find(a), nullptr);
  EXPECT_EQ(table_.size(), 1u);
  table_.forget(a, 5);  // unknown now: ignored
  EXPECT_EQ(table_.check_invariants(), "");
  const fuse::Inode b = add("a");
  EXPECT_NE(b, a) << "a forgotten entry comes back with a new number";
}

TEST_F(InodeTableTest, RootIsNeverRemoved) {
  table_.forget(fuse::kRootInode, UINT64_MAX);
  ASSERT_NE(table_.find(fuse::kRootInode), nullptr);
  EXPECT_EQ(table_.size(), 1u);
  EXPECT_EQ(table_.check_invariants(), "");
}

TEST_F(InodeTableTest, BatchForgetAppliesEveryItem) {
  const fuse::Inode a = add("a");
  const fuse::Inode b = add("b");
  add("b");
  const std::pair<fuse::Inode, uint64_t> items[] = {{a, 1}, {b, 1}, {999, 3}, {b, 0}};
  table_.forget_many(items);
  EXPECT_EQ(table_.find(a), nullptr);
  EXPECT_EQ(table_.refcount(b), 1u);
  EXPECT_EQ(table_.check_invariants(), "");
}

TEST_F(InodeTableTest, ResetWithRootForgetsEveryOldEntry) {
  const fuse::Inode a = add("a");
  add("b");
  table_.reset_with_root(open_path(dir_.path()), stat_path(dir_.path()));
  EXPECT_EQ(table_.size(), 1u);
  EXPECT_EQ(table_.check_invariants(), "");
  // The old host file is a stranger now: it gets a fresh entry with one reference.
  const fuse::Inode again = add("a");
  EXPECT_NE(again, a);
  EXPECT_EQ(table_.refcount(again), 1u);
  EXPECT_EQ(table_.check_invariants(), "");
}

TEST(InodeTableInvariants, AnEntryKeptWithNoReferenceIsReported) {
  testing::ScratchDir dir;
  ASSERT_TRUE(dir.ok());
  InodeTable table;
  EXPECT_EQ(table.check_invariants(), "") << "an empty table is consistent";
  struct stat root_st {};
  ASSERT_EQ(::lstat(dir.path().c_str(), &root_st), 0);
  table.reset_with_root(ScopedFd(::open(dir.path().c_str(), O_PATH | O_CLOEXEC)), root_st);
  const std::string p = dir / "f";
  ScopedFd(::open(p.c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0644));
  struct stat st {};
  ASSERT_EQ(::lstat(p.c_str(), &st), 0);
  const fuse::Inode a = table.add_or_ref(ScopedFd(::open(p.c_str(), O_PATH | O_CLOEXEC)), st);
  ASSERT_NE(a, kNoInode);
  EXPECT_EQ(table.check_invariants(), "");
  table.find(a)->refcount.store(0);  // a forget that forgot to remove the entry
  EXPECT_EQ(table.check_invariants(), "inode " + std::to_string(a) + " kept with refcount 0");
}

}  // namespace
}  // namespace pfs::passthrough
