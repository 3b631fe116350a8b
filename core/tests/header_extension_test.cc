// FUSE request extensions (fuse_in_header.total_extlen, fuse_ext_header entries):
// the extension area is the last total_extlen * 8 bytes of the body and never part
// of the opcode's own payload. An area larger than the body is EINVAL; inside it,
// an entry of size 0, one running past the area, or a security context that does
// not add up is EINVAL; entries of types other than a security context are skipped,
// whatever they hold. A refused request never reaches the FS.
#include <cstring>
#include <string>
#include <vector>

#include "core/tests/server_test_support.h"

namespace pfs::fuse::testing {
namespace {

using transport::memory::RequestBuilder;
using transport::memory::secctx_block;

// FUSE_EXT_GROUPS of later <linux/fuse.h> versions (7.39): the supplementary groups
// the kernel sends with FUSE_CREATE_SUPP_GROUP, which this server never negotiates.
constexpr uint32_t kExtGroups = 32;

template <class T>
void append(Bytes& b, const T& v) {
  const auto* p = reinterpret_cast<const uint8_t*>(&v);
  b.insert(b.end(), p, p + sizeof(T));
}

// A fuse_ext_header with exactly the given fields, followed by `contents` as is.
Bytes ext_entry(uint32_t size, uint32_t type, const Bytes& contents = {}) {
  Bytes b;
  append(b, fuse_ext_header{size, type});
  b.insert(b.end(), contents.begin(), contents.end());
  return b;
}

Bytes concat(const Bytes& a, const Bytes& b) {
  Bytes out = a;
  out.insert(out.end(), b.begin(), b.end());
  return out;
}

// A supplementary-groups extension: nr_groups as given, `present` group ids.
Bytes groups_ext(uint32_t nr_groups, uint32_t present) {
  Bytes contents;
  append(contents, nr_groups);
  for (uint32_t i = 0; i < present; ++i) append(contents, uint32_t{2000 + i});
  contents.resize((contents.size() + 7) & ~size_t{7}, 0);
  return ext_entry(static_cast<uint32_t>(sizeof(fuse_ext_header) + contents.size()), kExtGroups,
                   contents);
}

// A security-context block of `nr` contexts whose bytes are given by the caller
// (fuse_secctx, name, value, each as they come); the header's size covers them.
Bytes secctx_raw(uint32_t nr, const Bytes& contexts) {
  Bytes padded = contexts;
  padded.resize((padded.size() + 7) & ~size_t{7}, 0);
  return ext_entry(static_cast<uint32_t>(sizeof(fuse_ext_header) + padded.size()), nr, padded);
}

Bytes one_context(std::string_view name, std::string_view value) {
  Bytes b;
  append(b, fuse_secctx{static_cast<uint32_t>(value.size()), 0});
  b.insert(b.end(), name.begin(), name.end());
  b.push_back(0);
  b.insert(b.end(), value.begin(), value.end());
  return b;
}

constexpr std::string_view kSelinux = "security.selinux";

class HeaderExtensionTest : public ::testing::Test {
 protected:
  ServerOptions options() {
    ServerOptions o;
    o.on_bad_request = [this](const BadRequest& b) { reasons_.emplace_back(b.reason); };
    return o;
  }

  void SetUp() override {
    fs_.init_want = FUSE_SECURITY_CTX;
    ASSERT_TRUE(s_.init().ok());
    ASSERT_TRUE(server_.negotiated_flags() & FUSE_SECURITY_CTX);
    fs_.calls.clear();
  }

  // MKDIR "d" (mode 0755, umask 022) with `area` as its extension area (a multiple
  // of 8 bytes), total_extlen saying `units`.
  Bytes mkdir_with(const Bytes& area, uint16_t units, uint64_t unique = 1) {
    return RequestBuilder(FUSE_MKDIR, 1, test_ctx(unique))
        .obj(fuse_mkdir_in{0755, 022})
        .str("d")
        .raw(area)
        .force_total_extlen(units)
        .finish();
  }
  Bytes mkdir_with(const Bytes& area) {
    EXPECT_EQ(area.size() % 8, 0u) << "test bug: an area is whole units";
    return mkdir_with(area, static_cast<uint16_t>(area.size() / 8));
  }

  // The area is refused: EINVAL, and the FS never saw the request.
  void expect_refused(const Bytes& request) {
    fs_.calls.clear();
    const Reply r = s_.run(request);
    expect_error(r, EINVAL, r.header.unique);
    EXPECT_TRUE(fs_.calls.empty()) << fs_.last();
  }
  // MKDIR reached the FS with its own payload intact and this context.
  void expect_mkdir_with_context(const Bytes& request, std::string_view ctx) {
    fs_.calls.clear();
    const Reply r = s_.run(request);
    ASSERT_TRUE(r.ok()) << r.error();
    EXPECT_EQ(fs_.last(), "mkdir 1 d 493 18 [" + std::string(ctx) + "]");
  }

  RecordingFs fs_;
  std::vector<std::string> reasons_;
  Server server_{fs_, options()};
  Session s_{server_};
};

TEST_F(HeaderExtensionTest, AreaEqualToTheBodyLeavesTheOpcodeNoPayload) {
  // STATFS has no payload: a body that is all extension is fine.
  const Bytes area = secctx_block("", "");
  ASSERT_EQ(area.size(), 8u);
  Reply r = s_.run(RequestBuilder(FUSE_STATFS, 1).raw(area).force_total_extlen(1).finish());
  ASSERT_TRUE(r.ok()) << r.error();
  EXPECT_EQ(fs_.last(), "statfs 1");
  // MKDIR's fuse_mkdir_in and name are then missing, not read from the area.
  const Bytes mkdir = RequestBuilder(FUSE_MKDIR, 1, test_ctx(2))
                          .obj(fuse_mkdir_in{0755, 022})
                          .str("d")
                          .raw(Bytes(6, 0))
                          .force_total_extlen(2)
                          .finish();
  expect_refused(mkdir);
  EXPECT_EQ(reasons_.back(), "MKDIR shorter than fuse_mkdir_in");
}

TEST_F(HeaderExtensionTest, AreaOneUnitLargerThanTheBodyIsEinval) {
  expect_refused(RequestBuilder(FUSE_STATFS, 1, test_ctx(2))
                     .raw(secctx_block("", ""))
                     .force_total_extlen(2)
                     .finish());
  EXPECT_EQ(reasons_.back(), "total_extlen beyond the request");
  const Bytes ctx = secctx_block(kSelinux, "u:r:t:s0");
  const uint16_t over = static_cast<uint16_t>((sizeof(fuse_mkdir_in) + 2 + ctx.size()) / 8 + 1);
  expect_refused(mkdir_with(ctx, over, 3));
  EXPECT_EQ(reasons_.back(), "total_extlen beyond the request");
}

TEST_F(HeaderExtensionTest, AreaOneUnitShortLeavesItsStartInThePayload) {
  const Bytes ctx = secctx_block(kSelinux, "u:r:t:s0");
  expect_mkdir_with_context(mkdir_with(ctx), "u:r:t:s0");
  // One unit short: the area's first 8 bytes trail the name, which no longer ends
  // the payload.
  expect_refused(mkdir_with(ctx, static_cast<uint16_t>(ctx.size() / 8 - 1), 2));
  EXPECT_EQ(reasons_.back(), "bad MKDIR name");
  // One unit long: the area takes the name and part of fuse_mkdir_in.
  expect_refused(mkdir_with(ctx, static_cast<uint16_t>(ctx.size() / 8 + 1), 3));
  EXPECT_EQ(reasons_.back(), "MKDIR shorter than fuse_mkdir_in");
}

TEST_F(HeaderExtensionTest, NonCreatingOpcodesSkipTheAreaAndReadTheirOwnPayload) {
  const Bytes garbage = concat(ext_entry(0, 0), Bytes(8, 0xee));  // not even well-formed
  for (const Bytes& area : {secctx_block(kSelinux, "x"), garbage, groups_ext(1, 1)}) {
    fs_.calls.clear();
    const Reply r = s_.run(RequestBuilder(FUSE_LOOKUP, 1)
                               .str("abc")
                               .raw(area)
                               .force_total_extlen(static_cast<uint16_t>(area.size() / 8))
                               .finish());
    ASSERT_TRUE(r.ok()) << r.error();
    EXPECT_EQ(fs_.last(), "lookup 1 abc");
  }
  // Without the area counted, the same bytes are part of the name: refused.
  expect_refused(RequestBuilder(FUSE_LOOKUP, 1).str("abc").raw(garbage).finish());
}

TEST_F(HeaderExtensionTest, EntryOfSizeZeroIsEinval) {
  expect_refused(mkdir_with(concat(ext_entry(0, 0), Bytes(8, 0))));
  expect_refused(mkdir_with(concat(ext_entry(0, kExtGroups), Bytes(8, 0))));
  expect_refused(mkdir_with(concat(secctx_block(kSelinux, "a"), ext_entry(0, 0))));
}

TEST_F(HeaderExtensionTest, EntryOfJustItsHeaderIsAnEmptyContext) {
  expect_mkdir_with_context(mkdir_with(ext_entry(8, 0)), "");
}

TEST_F(HeaderExtensionTest, EntryRunningPastTheAreaIsEinval) {
  const Bytes ctx = secctx_block(kSelinux, "label");
  const uint32_t size = static_cast<uint32_t>(ctx.size());
  Bytes bad = ctx;
  std::memcpy(bad.data(), &size, sizeof(size));  // exactly the area: fine
  expect_mkdir_with_context(mkdir_with(bad), "label");
  for (const uint32_t past : {size + 1, size + 8, uint32_t{0xffffffff}}) {
    SCOPED_TRACE(past);
    std::memcpy(bad.data(), &past, sizeof(past));
    expect_refused(mkdir_with(bad));
  }
  // A second entry whose size runs past what the first one left.
  expect_refused(mkdir_with(concat(ctx, ext_entry(16, kExtGroups, Bytes(0)))));
}

TEST_F(HeaderExtensionTest, EntrySizeNotAMultipleOfEightIsEinval) {
  // 12 bytes of entry in a 16-byte area: the next header would be 4 bytes.
  expect_refused(mkdir_with(concat(ext_entry(12, kExtGroups, Bytes(4, 0)), Bytes(4, 0))));
  // A context whose block size stops inside its value.
  Bytes ctx = secctx_block(kSelinux, "abcdefgh");
  const uint32_t cut = static_cast<uint32_t>(ctx.size()) - 5;
  std::memcpy(ctx.data(), &cut, sizeof(cut));
  expect_refused(mkdir_with(ctx));
  // Two 12-byte entries filling a 24-byte area add up, but the kernel pads every
  // entry to 8 bytes (FUSE_REC_ALIGN): an unaligned size is never the kernel's.
  expect_refused(mkdir_with(
      concat(ext_entry(12, kExtGroups, Bytes(4, 0)), ext_entry(12, kExtGroups, Bytes(4, 0)))));
}

TEST_F(HeaderExtensionTest, UnknownTypesAreSkippedWhateverTheyHold) {
  const Bytes label = secctx_block(kSelinux, "u:r:t:s0");
  for (const uint32_t type :
       {uint32_t{FUSE_MAX_NR_SECCTX} + 2, uint32_t{0x7fffffff}, uint32_t{0xffffffff}}) {
    SCOPED_TRACE(type);
    const Bytes unknown = ext_entry(24, type, Bytes(16, 0xff));
    expect_mkdir_with_context(mkdir_with(unknown), "");
    expect_mkdir_with_context(mkdir_with(concat(unknown, label)), "u:r:t:s0");
    expect_mkdir_with_context(mkdir_with(concat(label, unknown)), "u:r:t:s0");
  }
}

TEST_F(HeaderExtensionTest, SupplementaryGroupsAreSkippedShortLongOrInconsistent) {
  const Bytes label = secctx_block(kSelinux, "u:r:t:s0");
  const Bytes variants[] = {groups_ext(1, 1),          groups_ext(4, 1), groups_ext(1, 5),
                            groups_ext(0xffffffff, 0), groups_ext(0, 3), ext_entry(8, kExtGroups)};
  for (const Bytes& groups : variants) {
    expect_mkdir_with_context(mkdir_with(concat(groups, label)), "u:r:t:s0");
    EXPECT_EQ(fs_.last_ctx.uid, test_ctx(1).uid) << "the header's ids, not the extension's";
    EXPECT_EQ(fs_.last_ctx.gid, test_ctx(1).gid);
  }
}

TEST_F(HeaderExtensionTest, SecurityContextThatDoesNotAddUpIsEinval) {
  // nr_secctx 1 with no context after the header.
  expect_refused(mkdir_with(secctx_raw(1, {})));
  // nr_secctx 2 with one context.
  expect_refused(mkdir_with(secctx_raw(2, one_context(kSelinux, "a"))));
  // A NUL inside the value (trailing NULs are padding and stripped).
  expect_refused(mkdir_with(secctx_raw(1, one_context(kSelinux, std::string("a\0b", 3)))));
  expect_mkdir_with_context(
      mkdir_with(secctx_raw(1, one_context(kSelinux, std::string("ab\0\0", 4)))), "ab");
  // An empty xattr name, and one longer than XATTR_NAME_MAX.
  expect_refused(mkdir_with(secctx_raw(1, one_context("", "a"))));
  expect_refused(mkdir_with(secctx_raw(1, one_context(std::string(256, 'n'), "a"))));
  // A fuse_secctx cut short by the block's end.
  expect_refused(mkdir_with(concat(ext_entry(12, 1, Bytes(4, 0)), Bytes(4, 0))));
}

TEST_F(HeaderExtensionTest, SecurityContextWithRoomToSpareIsRead) {
  // More padding after the contexts than alignment needs: ignored.
  Bytes contexts = one_context(kSelinux, "first");
  contexts.resize(contexts.size() + 24, 0);
  expect_mkdir_with_context(mkdir_with(secctx_raw(1, contexts)), "first");
  // Another LSM's context first, then SELinux's; and two SELinux contexts: the first.
  expect_mkdir_with_context(mkdir_with(secctx_raw(2, concat(one_context("security.smack", "s"),
                                                            one_context(kSelinux, "u:r:t:s0")))),
                            "u:r:t:s0");
  expect_mkdir_with_context(
      mkdir_with(secctx_raw(2, concat(one_context(kSelinux, "one"), one_context(kSelinux, "two")))),
      "one");
}

}  // namespace
}  // namespace pfs::fuse::testing
