// The edges of the listxattr strip (rewrite_security_xattrs): lists that end
// without a NUL, lists of only NULs, names right at the reserved prefix's length,
// a reserved name as the very last entry; first on strip_xattr_prefix itself,
// then through PassthroughFs::listxattr on a file with real host xattrs, where the
// size query must agree with the stripped list. (The seed's cases are in
// xattr_names_test.cc.)
#include <gtest/gtest.h>
#include <sys/xattr.h>

#include <algorithm>
#include <cerrno>
#include <string>
#include <vector>

#include "core/passthrough/xattr_names.h"
#include "core/tests/passthrough_fixture.h"

namespace pfs::testing {
namespace {

using namespace std::string_literals;
using passthrough::kUserVirtiofsPrefix;
using passthrough::strip_xattr_prefix;

// strip_xattr_prefix over the first `used` bytes of `in` (all of it by default);
// the bytes after `used` are there so that reading past the span would show.
std::string strip(const std::string& in, size_t used = std::string::npos) {
  used = std::min(used, in.size());
  std::vector<uint8_t> buf(in.begin(), in.end());
  const size_t len = strip_xattr_prefix(std::span<uint8_t>(buf.data(), used));
  EXPECT_LE(len, used);
  std::string out(buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(len));
  // Bytes past the span are never written.
  EXPECT_EQ(std::string(buf.begin() + static_cast<std::ptrdiff_t>(used), buf.end()),
            in.substr(used));
  return out;
}

TEST(XattrListEdges, EmptyAndNulOnlyLists) {
  EXPECT_EQ(strip(""), "");
  EXPECT_EQ(strip("\0"s), "\0"s);
  EXPECT_EQ(strip("\0\0"s), "\0\0"s);
}

TEST(XattrListEdges, SingleUnterminatedName) {
  EXPECT_EQ(strip("user.a"), "user.a");
  EXPECT_EQ(strip("u"), "u");
  EXPECT_EQ(strip("user.virtiofs.s"), "s");
  EXPECT_EQ(strip("user.virtiofs.security.x"), "security.x");
}

TEST(XattrListEdges, NamesAtThePrefixBoundary) {
  ASSERT_EQ(kUserVirtiofsPrefix.size(), 14u);
  // One byte short of the prefix, terminated or not: never stripped.
  EXPECT_EQ(strip("user.virtiofs\0"s), "user.virtiofs\0"s);
  EXPECT_EQ(strip("user.virtiofs"), "user.virtiofs");
  EXPECT_EQ(strip("a\0user.virtiofs"s), "a\0user.virtiofs"s);
  // The prefix's last byte wrong.
  EXPECT_EQ(strip("user.virtiofsX\0"s), "user.virtiofsX\0"s);
  EXPECT_EQ(strip("user.virtiofsX"), "user.virtiofsX");
  // Exactly the prefix, terminated: an empty name remains (its NUL).
  EXPECT_EQ(strip("user.virtiofs.\0"s), "\0"s);
  EXPECT_EQ(strip("a\0user.virtiofs.\0"s), "a\0\0"s);
  // Exactly the prefix, unterminated, last: nothing remains of it.
  EXPECT_EQ(strip("a\0user.virtiofs."s), "a\0"s);
  // One byte past the prefix.
  EXPECT_EQ(strip("user.virtiofs.x\0"s), "x\0"s);
  EXPECT_EQ(strip("a\0user.virtiofs.x"s), "a\0x"s);
}

TEST(XattrListEdges, ReservedNameAsTheVeryLastEntry) {
  EXPECT_EQ(strip("user.a\0user.virtiofs.security.x\0"s), "user.a\0security.x\0"s);
  EXPECT_EQ(strip("user.a\0user.virtiofs.security.x"s), "user.a\0security.x"s);
  EXPECT_EQ(strip("user.virtiofs.a\0user.virtiofs.b"s), "a\0b"s);
  EXPECT_EQ(strip("\0\0user.virtiofs.b"s), "\0\0b"s);
  EXPECT_EQ(strip("user.virtiofs.a\0\0user.virtiofs.b\0"s), "a\0\0b\0"s);
}

TEST(XattrListEdges, TheSpanEndsTheLastName) {
  // Only "user.a\0user.virtiofs.x" is the list; the bytes after it belong to
  // nobody and must neither join the last name nor be moved.
  const std::string buf = "user.a\0user.virtiofs.xYZ\0"s;
  EXPECT_EQ(strip(buf, 22), "user.a\0x"s);
  // A span cut inside the prefix: the partial prefix is a name of its own.
  EXPECT_EQ(strip("a\0user.virtiofs.b\0"s, 10), "a\0user.vir"s);
  EXPECT_EQ(strip("user.virtiofs.b\0"s, 0), "");
}

// The returned length is exact: the list shrinks by the prefix once per reserved
// name, whatever else it holds.
TEST(XattrListEdges, LengthShrinksByThePrefixPerReservedName) {
  const std::string list =
      "user.virtiofs.security.a\0security.selinux\0user.virtiofs.\0trusted.t\0"
      "user.virtiofs.security.b"s;
  std::vector<uint8_t> buf(list.begin(), list.end());
  EXPECT_EQ(strip_xattr_prefix(buf), list.size() - 3 * kUserVirtiofsPrefix.size());
}

// --- through PassthroughFs ----------------------------------------------------

class XattrListEdgesTest : public PassthroughTest {
 protected:
  XattrListEdgesTest() { cfg_.rewrite_security_xattrs = true; }
  void SetUp() override {
    PassthroughTest::SetUp();
    ASSERT_FALSE(HasFatalFailure());
    write_host_file("f", "");
    auto e = fs_->lookup(ctx_, fuse::kRootInode, "f");
    ASSERT_TRUE(e.ok());
    f_ = e->inode;
  }
  void TearDown() override { fs_->forget(ctx_, f_, 1); }

  void host_set(const std::string& name) {
    ASSERT_EQ(::setxattr(host("f").c_str(), name.c_str(), "v", 1, 0), 0) << name;
  }
  // The size query, then the list into a buffer of exactly that size, one byte
  // less (ERANGE) and plenty.
  std::string list_checked() {
    auto size = fs_->listxattr(ctx_, f_, {});
    EXPECT_TRUE(size.ok()) << size.error();
    if (!size.ok()) return {};
    std::vector<uint8_t> exact(*size);
    if (*size > 0) {
      auto n = fs_->listxattr(ctx_, f_, exact);
      EXPECT_EQ(n.value(), *size) << "the size query agrees with the list";
      std::vector<uint8_t> short_by_one(*size - 1);
      if (!short_by_one.empty()) {
        EXPECT_EQ(fs_->listxattr(ctx_, f_, short_by_one).error(), ERANGE);
      }
    }
    std::vector<uint8_t> big(65536);
    auto n = fs_->listxattr(ctx_, f_, big);
    EXPECT_TRUE(n.ok()) << n.error();
    EXPECT_EQ(n.value(), *size);
    const std::string out(big.begin(), big.begin() + static_cast<std::ptrdiff_t>(n.value()));
    EXPECT_EQ(out, std::string(exact.begin(), exact.end()));
    return out;
  }

  const fuse::Context ctx_{0, 0, 1, 1};
  fuse::Inode f_ = 0;
};

TEST_F(XattrListEdgesTest, EmptyList) {
  auto size = fs_->listxattr(ctx_, f_, {});
  ASSERT_TRUE(size.ok()) << size.error();
  EXPECT_EQ(*size, 0u);
  std::vector<uint8_t> buf(16);
  auto n = fs_->listxattr(ctx_, f_, buf);
  ASSERT_TRUE(n.ok()) << n.error();
  EXPECT_EQ(*n, 0u);
}

TEST_F(XattrListEdgesTest, OnlyAReservedNameIsStrippedAndSizedExactly) {
  host_set("user.virtiofs.security.x");
  EXPECT_EQ(list_checked(), "security.x\0"s);
}

TEST_F(XattrListEdgesTest, ReservedNameLastAfterOthers) {
  host_set("user.a");
  host_set("user.virtiofs.security.zz");
  const std::string list = list_checked();
  EXPECT_EQ(list.size(), "user.a\0security.zz\0"s.size());
  EXPECT_NE(list.find("security.zz\0"s), std::string::npos) << list;
  EXPECT_NE(list.find("user.a\0"s), std::string::npos) << list;
  EXPECT_EQ(list.find("virtiofs"), std::string::npos) << list;
}

TEST_F(XattrListEdgesTest, NamesAtThePrefixBoundaryOnTheHost) {
  // "user.virtiofs" is one byte short of the prefix; "user.virtiofs.a" holds it.
  host_set("user.virtiofs");
  host_set("user.virtiofs.a");
  const std::string list = list_checked();
  EXPECT_EQ(list.size(), "user.virtiofs\0a\0"s.size());
  EXPECT_NE(list.find("user.virtiofs\0"s), std::string::npos) << list;
  EXPECT_NE(list.find("\0a\0"s), std::string::npos) << list;
}

TEST_F(XattrListEdgesTest, ManyReservedNamesShrinkTheSizeQueryByThePrefixEach) {
  std::string expected_len_list;
  for (int i = 0; i < 20; ++i) {
    const std::string guest = "security.n" + std::to_string(i);
    host_set(std::string(kUserVirtiofsPrefix) + guest);
    expected_len_list += guest + '\0';
  }
  host_set("user.plain");
  expected_len_list += "user.plain\0"s;
  const std::string list = list_checked();
  EXPECT_EQ(list.size(), expected_len_list.size());
}

// Without the rewrite, the host's names come back unchanged: the strip is the
// rewrite's alone.
class XattrListNoRewriteTest : public XattrListEdgesTest {
 protected:
  XattrListNoRewriteTest() { cfg_.rewrite_security_xattrs = false; }
};

TEST_F(XattrListNoRewriteTest, ReservedNamesAreListedAsTheHostHasThem) {
  host_set("user.virtiofs.security.x");
  EXPECT_EQ(list_checked(), "user.virtiofs.security.x\0"s);
}

}  // namespace
}  // namespace pfs::testing
