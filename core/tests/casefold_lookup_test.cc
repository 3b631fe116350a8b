#include "core/passthrough/casefold_lookup.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include "core/tests/passthrough_scratch.h"

namespace pfs::passthrough {
namespace {

class CasefoldTest : public pfs::testing::ScratchDirTest {
 protected:
  void touch(const std::string& name) {
    ScopedFd fd(::openat(dir_fd(), name.c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0644));
    ASSERT_TRUE(fd.valid()) << name;
  }
  ScopedFd reader() const {
    return ScopedFd(::open(path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  }
  // True when `fd` is the entry `name` of the scratch directory.
  bool same_as(const ScopedFd& fd, const std::string& name) const {
    struct stat a {
    }, b{};
    return ::fstat(fd.get(), &a) == 0 &&
           ::fstatat(dir_fd(), name.c_str(), &b, AT_SYMLINK_NOFOLLOW) == 0 &&
           a.st_ino == b.st_ino && a.st_dev == b.st_dev;
  }
};

TEST_F(CasefoldTest, FindsNameInAnyCase) {
  touch("ReadMe.TXT");
  for (auto* query : {"readme.txt", "README.TXT", "ReadMe.TXT", "rEADmE.txt"}) {
    ScopedFd dir = reader();
    auto fd = ascii_casefold_lookup(dir.get(), query);
    ASSERT_TRUE(fd.ok()) << query << ": " << fd.error();
    EXPECT_TRUE(same_as(*fd, "ReadMe.TXT"));
    const int flags = ::fcntl(fd->get(), F_GETFL);
    EXPECT_TRUE(flags & O_PATH);
    EXPECT_TRUE(::fcntl(fd->get(), F_GETFD) & FD_CLOEXEC);
  }
}

TEST_F(CasefoldTest, MissingIsEnoent) {
  touch("alpha");
  ScopedFd dir = reader();
  EXPECT_EQ(ascii_casefold_lookup(dir.get(), "beta").error(), ENOENT);
  EXPECT_EQ(ascii_casefold_lookup(dir.get(), "alph").error(), ENOENT);
  EXPECT_EQ(ascii_casefold_lookup(dir.get(), "alphaa").error(), ENOENT);
  EXPECT_EQ(ascii_casefold_lookup(dir.get(), "").error(), ENOENT);
}

TEST_F(CasefoldTest, SkipsDotAndDotDot) {
  ScopedFd dir = reader();
  EXPECT_EQ(ascii_casefold_lookup(dir.get(), ".").error(), ENOENT);
  EXPECT_EQ(ascii_casefold_lookup(dir.get(), "..").error(), ENOENT);
}

TEST_F(CasefoldTest, OnlyAsciiIsFolded) {
  touch("\xc3\x89t\xc3\xa9");  // "Été" in UTF-8
  ScopedFd dir = reader();
  EXPECT_EQ(ascii_casefold_lookup(dir.get(), "\xc3\xa9t\xc3\xa9").error(), ENOENT);
  EXPECT_TRUE(ascii_casefold_lookup(dir.get(), "\xc3\x89T\xc3\xa9").ok());
  // '@' and '`' sit next to 'A' and 'a' but are not letters.
  touch("x@");
  EXPECT_EQ(ascii_casefold_lookup(dir.get(), "x`").error(), ENOENT);
}

TEST_F(CasefoldTest, DoesNotFollowSymlinks) {
  ASSERT_EQ(::symlinkat("/etc/passwd", dir_fd(), "Link"), 0);
  ScopedFd dir = reader();
  auto fd = ascii_casefold_lookup(dir.get(), "LINK");
  ASSERT_TRUE(fd.ok());
  struct stat st {};
  ASSERT_EQ(::fstat(fd->get(), &st), 0);
  EXPECT_TRUE(S_ISLNK(st.st_mode));
}

TEST_F(CasefoldTest, FindsEntriesDeepInABigDirectory) {
  for (int i = 0; i < 600; ++i) touch("file-" + std::to_string(i));
  touch("Needle");
  for (int i = 600; i < 1200; ++i) touch("file-" + std::to_string(i));
  ScopedFd dir = reader();
  auto fd = ascii_casefold_lookup(dir.get(), "nEEDLE");
  ASSERT_TRUE(fd.ok());
  EXPECT_TRUE(same_as(*fd, "Needle"));
  auto last = ascii_casefold_lookup(dir.get(), "FILE-1199");
  ASSERT_TRUE(last.ok());
  EXPECT_TRUE(same_as(*last, "file-1199"));
}

TEST_F(CasefoldTest, SeveralMatchesGiveOneOfThem) {
  touch("Dup");
  touch("DUP");
  ScopedFd dir = reader();
  auto fd = ascii_casefold_lookup(dir.get(), "dup");
  ASSERT_TRUE(fd.ok());
  EXPECT_TRUE(same_as(*fd, "Dup") || same_as(*fd, "DUP"));
}

TEST_F(CasefoldTest, BadFd) { EXPECT_EQ(ascii_casefold_lookup(-1, "x").error(), EBADF); }

}  // namespace
}  // namespace pfs::passthrough
