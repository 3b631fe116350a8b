// Tests of the xattr_names reference (xattr_reference.h): same() sees a difference
// at every position (inside the eight-byte loads and in the tail) and in length, and
// the rules it backs give the answers the statement gives.
#include "fuzz/xattr_reference.h"

#include <gtest/gtest.h>

#include <string>

namespace pfs::fuzz::xattr_ref {
namespace {

TEST(XattrReference, SameSeesEveryByteAndTheLength) {
  for (size_t n = 0; n <= 20; ++n) {
    const std::string a(n, 'x');
    EXPECT_TRUE(same(a, std::string(n, 'x'))) << n;
    for (size_t at = 0; at < n; ++at) {
      std::string b = a;
      b[at] = 'y';
      EXPECT_FALSE(same(a, b)) << n << " differing at " << at;
    }
    EXPECT_FALSE(same(a, a + 'x')) << n;
    EXPECT_FALSE(same(a + 'x', a)) << n;
  }
  EXPECT_TRUE(same(std::string_view("a\0b", 3), std::string_view("a\0b", 3)));
  EXPECT_FALSE(same(std::string_view("a\0b", 3), std::string_view("a\0c", 3)));
}

TEST(XattrReference, Rules) {
  EXPECT_TRUE(rewritten("security.ima", true));
  EXPECT_FALSE(rewritten("security.ima", false));
  EXPECT_FALSE(rewritten("security.selinux", true));
  EXPECT_TRUE(rewritten("security.selinuxx", true));
  EXPECT_FALSE(rewritten("user.x", true));
  EXPECT_TRUE(host_is("user.virtiofs.security.ima", "security.ima", true));
  EXPECT_FALSE(host_is("user.virtiofs.security.imb", "security.ima", true));
  EXPECT_FALSE(host_is("security.ima", "security.ima", true));
  EXPECT_TRUE(host_is("security.selinux", "security.selinux", true));
  EXPECT_TRUE(reserved("user.virtiofs.x"));
  EXPECT_FALSE(reserved("user.virtiofs"));
  std::string out;
  strip(std::string_view("user.virtiofs.a\0b\0user.virtiofs.c", 33), out);
  EXPECT_EQ(out, std::string("a\0b\0c", 5));
}

}  // namespace
}  // namespace pfs::fuzz::xattr_ref
