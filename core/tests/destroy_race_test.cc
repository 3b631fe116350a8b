// A DESTROY on one queue while another queue's request is between making (or
// finding) a name and adding its entry: the table is emptied under the request,
// which must not then leave an entry (and its fd) in a table that has no root.
// Found by fuse_race (the inode-table oracle: "root inode missing" after MKDIR).
// Each layer on its own: the InodeTable, then PassthroughFs with the DESTROY run
// at the race point between mkdir/symlink and the lookup of what they made.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <string>

#include "core/passthrough/inode_table.h"
#include "core/passthrough/race_points.h"
#include "core/tests/fd_count.h"
#include "core/tests/passthrough_fixture.h"
#include "core/tests/scratch_dir.h"

namespace pfs::testing {
namespace {

using passthrough::InodeTable;
using passthrough::RacePoint;
using passthrough::ScopedRacePointHook;

ScopedFd open_path(const std::string& p) {
  return ScopedFd(::open(p.c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC));
}

struct stat stat_path(const std::string& p) {
  struct stat st {};
  EXPECT_EQ(::lstat(p.c_str(), &st), 0) << p;
  return st;
}

// An empty file `f` in `dir`; its path.
std::string make_file(const ScratchDir& dir) {
  const std::string f = dir / "f";
  ScopedFd(::open(f.c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0644));
  return f;
}

TEST(InodeTableClosed, AFreshTableRefusesEntriesAndClosesTheFd) {
  ScratchDir dir;
  ASSERT_TRUE(dir.ok());
  const std::string f = make_file(dir);
  InodeTable table;
  const size_t before = open_fd_count();
  EXPECT_EQ(table.add_or_ref(open_path(f), stat_path(f)), passthrough::kNoInode);
  EXPECT_EQ(table.size(), 0u);
  EXPECT_EQ(open_fd_count(), before);
  EXPECT_EQ(table.check_invariants(), "");
}

TEST(InodeTableClosed, AClearedTableRefusesEntriesUntilReset) {
  ScratchDir dir;
  ASSERT_TRUE(dir.ok());
  const std::string f = make_file(dir);
  InodeTable table;
  table.reset_with_root(open_path(dir.path()), stat_path(dir.path()));
  const fuse::Inode a = table.add_or_ref(open_path(f), stat_path(f));
  EXPECT_NE(a, passthrough::kNoInode);
  table.clear();
  const size_t before = open_fd_count();
  EXPECT_EQ(table.add_or_ref(open_path(f), stat_path(f)), passthrough::kNoInode);
  EXPECT_EQ(table.size(), 0u) << "no entry without a root";
  EXPECT_EQ(open_fd_count(), before) << "the refused fd is closed";
  EXPECT_EQ(table.check_invariants(), "");
  table.reset_with_root(open_path(dir.path()), stat_path(dir.path()));
  EXPECT_NE(table.add_or_ref(open_path(f), stat_path(f)), passthrough::kNoInode);
  EXPECT_EQ(table.check_invariants(), "");
}

class DestroyRaceTest : public PassthroughTest {
 protected:
  // Runs `make` with a DESTROY between the name being made and its entry added.
  template <typename Make>
  void expect_refused_after_destroy(Make make) {
    const size_t before = open_fd_count();
    int destroys = 0;
    ScopedRacePointHook hook([&](RacePoint, int, std::string_view) {
      ++destroys;
      fs_->destroy();
    });
    const fuse::Context ctx{};
    auto r = make(ctx);
    ASSERT_EQ(destroys, 1) << "the race point was not reached";
    ASSERT_FALSE(static_cast<bool>(r)) << "an entry was handed out by a destroyed file system";
    EXPECT_EQ(r.error(), ESTALE);
    EXPECT_EQ(fs_->inodes().size(), 0u);
    EXPECT_EQ(fs_->inodes().check_invariants(), "");
    // The root's fd went with DESTROY; nothing the request opened stays.
    EXPECT_LT(open_fd_count(), before);
  }
};

TEST_F(DestroyRaceTest, MkdirInFlightLeavesNothingInTheEmptiedTable) {
  expect_refused_after_destroy([&](const fuse::Context& ctx) {
    return fs_->mkdir(ctx, fuse::kRootInode, "d", 0755, 0, "");
  });
  EXPECT_TRUE(host_exists("d")) << "the directory itself was made";
}

TEST_F(DestroyRaceTest, SymlinkInFlightLeavesNothingInTheEmptiedTable) {
  expect_refused_after_destroy([&](const fuse::Context& ctx) {
    return fs_->symlink(ctx, "target", fuse::kRootInode, "l", "");
  });
}

}  // namespace
}  // namespace pfs::testing
