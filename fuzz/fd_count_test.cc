// Tests of the fd-leak oracle of fd_count.h: the count follows opens and closes,
// and a planted leak (or a closed fd of the process) makes check() abort.
#include "fuzz/fd_count.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <cstdio>

#include "fuzz/oracles.h"

namespace pfs::fuzz {
namespace {

TEST(FdCount, AgreesWithAListingAndFollowsOpenAndClose) {
  if (!open_fd_count_is_fast()) {
    utsname u{};
    ::uname(&u);
    std::fprintf(stderr,
                 "NOTE: kernel %s has no fd count in stat(/proc/self/fd): the listing "
                 "fallback is what runs here\n",
                 u.release);
  }
  const size_t before = open_fd_count();
  EXPECT_EQ(before + 1, count_open_fds());  // the listing counts its own fd
  const int fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  EXPECT_EQ(open_fd_count(), before + 1);
  ::close(fd);
  EXPECT_EQ(open_fd_count(), before);
}

TEST(FdCountDeathTest, APlantedLeakFiresTheOracle) {
  FastFdBaseline fds;
  fds.take();
  fds.check("with nothing opened");  // no abort
  EXPECT_DEATH(
      {
        fds.take();  // in the death test's child, which has fds of its own
        (void)::open("/dev/null", O_RDONLY | O_CLOEXEC);
        fds.check("after the planted leak");
      },
      "ORACLE FAILURE: fd count .* after the planted leak, baseline .*: an fd leaked");
}

TEST(FdCountDeathTest, AClosedFdOfTheProcessFiresTheOracle) {
  const int fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  FastFdBaseline fds;
  EXPECT_DEATH(
      {
        fds.take();  // in the death test's child, which has fds of its own
        ::close(fd);
        fds.check("after the planted close");
      },
      "an fd of the process was closed");
  ::close(fd);
}

}  // namespace
}  // namespace pfs::fuzz
