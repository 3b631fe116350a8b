#include "core/passthrough/xattr_names.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace pfs::passthrough {
namespace {

// Runs strip_xattr_prefix on a copy of `in` and returns the stripped bytes.
std::string strip(std::string_view in) {
  std::vector<uint8_t> buf(in.begin(), in.end());
  const size_t len = strip_xattr_prefix(buf);
  EXPECT_LE(len, buf.size());
  return std::string(buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(len));
}

using namespace std::string_literals;

// The seed's rewrite_xattr_names.
TEST(XattrNames, RewriteXattrNames) {
  // security.selinux is never rewritten.
  EXPECT_EQ(host_xattr_name("security.selinux", true), "security.selinux");
  // user, trusted and system are not changed either.
  EXPECT_EQ(host_xattr_name("user.foobar", true), "user.foobar");
  EXPECT_EQ(host_xattr_name("trusted.foobar", true), "trusted.foobar");
  EXPECT_EQ(host_xattr_name("system.foobar", true), "system.foobar");
  // Other security.* names are.
  EXPECT_EQ(host_xattr_name("security.sehash", true), "user.virtiofs.security.sehash");
}

TEST(XattrNames, NoRewriteWhenDisabled) {
  EXPECT_EQ(host_xattr_name("security.sehash", false), "security.sehash");
  EXPECT_EQ(host_xattr_name("security.selinux", false), "security.selinux");
}

TEST(XattrNames, RewriteEdgeCases) {
  EXPECT_EQ(host_xattr_name("security.", true), "user.virtiofs.security.");
  EXPECT_EQ(host_xattr_name("security", true), "security");
  EXPECT_EQ(host_xattr_name("security.selinuxx", true), "user.virtiofs.security.selinuxx");
  EXPECT_EQ(host_xattr_name("", true), "");
  const std::string name = host_xattr_name("security.x", true);
  EXPECT_EQ(name.c_str()[name.size()], '\0');
}

TEST(XattrNames, AssignReplacesWhateverTheStringHeld) {
  std::string out = "user.virtiofs.security.a-much-longer-name-from-before";
  assign_host_xattr_name(out, "security.x", true);
  EXPECT_EQ(out, "user.virtiofs.security.x");
  assign_host_xattr_name(out, "user.y", true);
  EXPECT_EQ(out, "user.y");
  assign_host_xattr_name(out, "security.x", false);
  EXPECT_EQ(out, "security.x");
  assign_host_xattr_name(out, "", true);
  EXPECT_EQ(out, "");
}

TEST(XattrNames, ReservedNames) {
  EXPECT_TRUE(is_reserved_xattr_name("user.virtiofs.security.sehash"));
  EXPECT_TRUE(is_reserved_xattr_name("user.virtiofs."));
  EXPECT_FALSE(is_reserved_xattr_name("user.virtiofs"));
  EXPECT_FALSE(is_reserved_xattr_name("user.foobar"));
  EXPECT_FALSE(is_reserved_xattr_name("security.sehash"));
  EXPECT_FALSE(is_reserved_xattr_name(""));
}

// The seed's strip_xattr_names, every case.
TEST(XattrNames, StripXattrNames) {
  const std::string only_nuls = "\0\0\0\0\0"s;
  EXPECT_EQ(strip(only_nuls), only_nuls);

  const std::string no_nuls = "security.sehashuser.virtiofs";
  EXPECT_EQ(strip(no_nuls), no_nuls);

  EXPECT_EQ(strip(""), "");

  const std::string no_strippable_names = "security.selinux\0user.foobar\0system.test\0"s;
  EXPECT_EQ(strip(no_strippable_names), no_strippable_names);

  EXPECT_EQ(strip("user.virtiofs.security.sehash\0user.virtiofs.security.wtf\0"s),
            "security.sehash\0security.wtf\0"s);

  EXPECT_EQ(strip("user.virtiofs.security.sehash\0security.selinux\0"
                  "user.virtiofs.security.wtf\0user.foobar\0"s),
            "security.sehash\0security.selinux\0security.wtf\0user.foobar\0"s);

  EXPECT_EQ(strip("user.virtiofs.security.sehash"), "security.sehash");
}

TEST(XattrNames, StripEdgeCases) {
  // A name that is only the prefix becomes an empty name.
  EXPECT_EQ(strip("user.virtiofs.\0a\0"s), "\0a\0"s);
  EXPECT_EQ(strip("user.virtiofs."), "");
  // A truncated prefix at the end stays.
  EXPECT_EQ(strip("a\0user.virtio"s), "a\0user.virtio"s);
  // The prefix only counts at the start of a name.
  EXPECT_EQ(strip("xuser.virtiofs.a\0"s), "xuser.virtiofs.a\0"s);
  EXPECT_EQ(strip("\0user.virtiofs.a"s), "\0a"s);
}

TEST(XattrNames, RewriteThenStripRoundTrips) {
  for (std::string_view name : {"security.sehash", "security.selinux", "user.a", "trusted.b",
                                "system.posix_acl_access", "security.capability"}) {
    std::string host = host_xattr_name(name, true);
    host.push_back('\0');
    EXPECT_EQ(strip(host), std::string(name) + '\0') << name;
  }
}

}  // namespace
}  // namespace pfs::passthrough
