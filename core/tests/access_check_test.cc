#include "core/passthrough/access_check.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cerrno>

namespace pfs::passthrough {
namespace {

struct Case {
  mode_t mode;   // permission bits of the file
  uint32_t uid;  // caller
  uint32_t gid;
  uint32_t mask;  // R_OK | W_OK | X_OK
  Status expected;
};

constexpr uint32_t kOwner = 1000;
constexpr uint32_t kGroup = 2000;
constexpr uint32_t kOther = 3000;

TEST(AccessCheck, Table) {
  const Case cases[] = {
      // F_OK always passes, even with no bits at all.
      {0000, kOther, kOther, F_OK, kOk},
      {0000, 0, 0, F_OK, kOk},
      // Bits outside R/W/X are ignored.
      {0000, kOther, kOther, 0x80, kOk},
      // Owner.
      {0400, kOwner, kOther, R_OK, kOk},
      {0200, kOwner, kOther, R_OK, EACCES},
      {0200, kOwner, kOther, W_OK, kOk},
      {0100, kOwner, kOther, X_OK, kOk},
      {0600, kOwner, kOther, R_OK | W_OK, kOk},
      {0600, kOwner, kOther, R_OK | W_OK | X_OK, EACCES},
      {0700, kOwner, kOther, R_OK | W_OK | X_OK, kOk},
      // Owner without the owner bit but with the other bit passes (the seed checks
      // each class independently, unlike the kernel).
      {0004, kOwner, kOther, R_OK, kOk},
      {0040, kOwner, kGroup, R_OK, kOk},
      // Group.
      {0040, kOther, kGroup, R_OK, kOk},
      {0400, kOther, kGroup, R_OK, EACCES},
      {0020, kOther, kGroup, W_OK, kOk},
      {0010, kOther, kGroup, X_OK, kOk},
      {0070, kOther, kGroup, R_OK | W_OK | X_OK, kOk},
      {0050, kOther, kGroup, W_OK, EACCES},
      // Other.
      {0004, kOther, kOther, R_OK, kOk},
      {0002, kOther, kOther, W_OK, kOk},
      {0001, kOther, kOther, X_OK, kOk},
      {0770, kOther, kOther, R_OK, EACCES},
      {0770, kOther, kOther, W_OK, EACCES},
      {0770, kOther, kOther, X_OK, EACCES},
      {0775, kOther, kOther, R_OK | X_OK, kOk},
      {0775, kOther, kOther, W_OK, EACCES},
      // Root reads and writes anything.
      {0000, 0, 0, R_OK, kOk},
      {0000, 0, 0, W_OK, kOk},
      {0000, 0, 0, R_OK | W_OK, kOk},
      // Root executes only when some x bit is set.
      {0000, 0, 0, X_OK, EACCES},
      {0666, 0, 0, X_OK, EACCES},
      {0100, 0, 0, X_OK, kOk},
      {0010, 0, 0, X_OK, kOk},
      {0001, 0, 0, X_OK, kOk},
      {0600, 0, 0, R_OK | W_OK | X_OK, EACCES},
      {0001, 0, 0, R_OK | W_OK | X_OK, kOk},
      // Root's gid alone gives nothing special.
      {0000, kOther, 0, R_OK, EACCES},
  };
  for (const Case& c : cases) {
    struct stat st {};
    st.st_mode = S_IFREG | c.mode;
    st.st_uid = kOwner;
    st.st_gid = kGroup;
    EXPECT_EQ(check_access(st, c.uid, c.gid, c.mask), c.expected)
        << std::oct << "mode 0" << c.mode << std::dec << " uid " << c.uid << " gid " << c.gid
        << " mask " << c.mask;
  }
}

TEST(AccessCheck, RootOwnedFileAndRootCaller) {
  struct stat st {};
  st.st_mode = S_IFDIR | 0700;
  st.st_uid = 0;
  st.st_gid = 0;
  EXPECT_EQ(check_access(st, 0, 0, X_OK), kOk);
  EXPECT_EQ(check_access(st, kOther, kOther, X_OK), EACCES);
  EXPECT_EQ(check_access(st, kOther, kOther, R_OK), EACCES);
}

}  // namespace
}  // namespace pfs::passthrough
