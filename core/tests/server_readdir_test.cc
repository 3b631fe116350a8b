// READDIR / READDIRPLUS encoding, alignment, and the reference rules of
// READDIRPLUS; security contexts on creating requests.
#include <dirent.h>

#include "core/fuse/dirent_encoder.h"
#include "core/fuse/request_decoder.h"
#include "core/tests/server_test_support.h"

namespace pfs::fuse::testing {
namespace {

using transport::memory::RequestBuilder;
using transport::memory::secctx_block;

class ServerReaddirTest : public ServerFixture {
 protected:
  void SetUp() override {
    ServerFixture::SetUp();
    fs_.dir = {{".", 1, 1, DT_DIR},        {"..", 1, 2, DT_DIR},        {"a", 10, 3, DT_REG},
               {"bcdefgh", 11, 4, DT_REG}, {"exactly8", 12, 5, DT_LNK}, {"z", 13, 6, DT_DIR}};
  }
  int64_t outstanding_refs() const {
    int64_t total = 0;
    for (const auto& [inode, n] : fs_.refs) total += n;
    return total;
  }
};

TEST_F(ServerReaddirTest, DirentsAreAlignedAndComplete) {
  const Reply r = s_.run(req::readdir(1, 3, 0, 4096, test_ctx(5)));
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r.well_formed());
  EXPECT_EQ(fs_.last(), "readdir 1 3 0");
  EXPECT_EQ(r.payload.size() % 8, 0u);
  size_t expect_size = 0;
  for (const DirItem& d : fs_.dir) expect_size += dirent_size(d.name.size());
  EXPECT_EQ(r.payload.size(), expect_size);
  auto ents = r.dirents();
  ASSERT_TRUE(ents);
  ASSERT_EQ(ents->size(), fs_.dir.size());
  for (size_t i = 0; i < ents->size(); ++i) {
    EXPECT_EQ((*ents)[i].name, fs_.dir[i].name);
    EXPECT_EQ((*ents)[i].ino, fs_.dir[i].ino);
    EXPECT_EQ((*ents)[i].off, fs_.dir[i].off);
    EXPECT_EQ((*ents)[i].type, fs_.dir[i].type);
  }
  // Padding bytes are zero: "a" takes 24 + 1 bytes padded to 32.
  const size_t a_at = dirent_size(1) + dirent_size(2);
  for (size_t i = a_at + 25; i < a_at + 32; ++i) EXPECT_EQ(r.payload[i], 0) << i;
}

TEST_F(ServerReaddirTest, SizeLimitsTheEntriesAndOffsetsResume) {
  const uint32_t size = static_cast<uint32_t>(dirent_size(1) + dirent_size(2) + 8);
  Reply r = s_.run(req::readdir(1, 3, 0, size));
  ASSERT_TRUE(r.ok());
  auto ents = r.dirents();
  ASSERT_EQ(ents->size(), 2u);
  r = s_.run(req::readdir(1, 3, ents->back().off, 4096));
  ents = r.dirents();
  ASSERT_EQ(ents->size(), 4u);
  EXPECT_EQ(ents->front().name, "a");
  // Too small for even the next entry: EINVAL, as getdents(2), not a silent end
  // of the directory.
  expect_error(s_.run(req::readdir(1, 3, 0, 8, test_ctx(4))), EINVAL, 4);
  expect_error(s_.run(req::readdirplus(1, 3, 0, 100, test_ctx(5))), EINVAL, 5);
  // At the end of the directory an empty reply is right.
  r = s_.run(req::readdir(1, 3, 6, 8));
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r.payload.empty());
}

TEST_F(ServerReaddirTest, ErrorsOnlyWhenNothingWasListed) {
  fs_.readdir_error = EIO;
  Reply r = s_.run(req::readdir(1, 3, 0, 4096));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.dirents()->size(), fs_.dir.size());
  expect_error(s_.run(req::readdir(1, 3, 6, 4096, test_ctx(9))), EIO, 9);
}

TEST_F(ServerReaddirTest, InvalidNamesFromTheFsAreSkipped) {
  fs_.dir = {{"ok", 1, 1, DT_REG},
             {"", 2, 2, DT_REG},
             {"a/b", 3, 3, DT_REG},
             {std::string(256, 'x'), 4, 4, DT_REG},
             {"fine", 5, 5, DT_REG}};
  const Reply r = s_.run(req::readdir(1, 3, 0, 4096));
  auto ents = r.dirents();
  ASSERT_TRUE(ents);
  ASSERT_EQ(ents->size(), 2u);
  EXPECT_EQ((*ents)[1].name, "fine");
}

TEST_F(ServerReaddirTest, DirentplusSkipsInvalidNamesAndGoesOn) {
  fs_.dir = {{"", 2, 1, DT_REG}, {"a/b", 3, 2, DT_REG}, {"fine", 5, 3, DT_REG}};
  const Reply r = s_.run(req::readdirplus(1, 3, 0, 4096));
  auto ents = r.direntplus();
  ASSERT_TRUE(ents);
  ASSERT_EQ(ents->size(), 1u);
  EXPECT_EQ((*ents)[0].dirent.name, "fine");
  EXPECT_NE((*ents)[0].entry.nodeid, 0u);
}

// NAME_MAX bytes is a valid name: listed by both READDIRs, and READDIRPLUS looks
// it up by a NUL-terminated copy of the whole name.
TEST_F(ServerReaddirTest, NamesOfNameMaxBytesAreListed) {
  const std::string longest(kNameMax, 'n');
  const std::string one_less(kNameMax - 1, 'm');
  fs_.dir = {{longest, 20, 1, DT_REG}, {one_less, 21, 2, DT_REG}};
  const Reply r = s_.run(req::readdir(1, 3, 0, 4096));
  auto ents = r.dirents();
  ASSERT_TRUE(ents);
  ASSERT_EQ(ents->size(), 2u);
  EXPECT_EQ((*ents)[0].name, longest);
  EXPECT_EQ((*ents)[1].name, one_less);

  fs_.calls.clear();
  const Reply plus = s_.run(req::readdirplus(1, 3, 0, 4096));
  auto pents = plus.direntplus();
  ASSERT_TRUE(pents);
  ASSERT_EQ(pents->size(), 2u);
  EXPECT_EQ((*pents)[0].dirent.name, longest);
  EXPECT_NE((*pents)[0].entry.nodeid, 0u);
  EXPECT_EQ((*pents)[1].dirent.name, one_less);
  ASSERT_EQ(fs_.calls.size(), 3u);
  EXPECT_EQ(fs_.calls[1], "lookup 1 " + longest);
  EXPECT_EQ(fs_.calls[2], "lookup 1 " + one_less);
  EXPECT_TRUE(fs_.names_terminated);
}

TEST_F(ServerReaddirTest, SizeOfExactlyMaxWriteIsServed) {
  const uint32_t max_write = ServerOptions{}.max_write;  // the fixture's default
  const Reply r = s_.run(req::readdir(1, 3, 0, max_write));
  ASSERT_TRUE(r.ok()) << r.error();
  EXPECT_EQ(r.dirents()->size(), fs_.dir.size());
  ASSERT_TRUE(s_.run(req::readdirplus(1, 3, 0, max_write)).ok());
  expect_error(s_.run(req::readdir(1, 3, 0, max_write + 1, test_ctx(4))), ENOMEM, 4);
}

TEST_F(ServerReaddirTest, DirentplusLooksUpAllButDotAndDotDot) {
  const Reply r = s_.run(req::readdirplus(1, 3, 0, 4096, test_ctx(6)));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.payload.size() % 8, 0u);
  auto ents = r.direntplus();
  ASSERT_TRUE(ents);
  ASSERT_EQ(ents->size(), fs_.dir.size());
  EXPECT_EQ((*ents)[0].entry.nodeid, 0u);
  EXPECT_EQ((*ents)[1].entry.nodeid, 0u);
  EXPECT_EQ((*ents)[0].entry.attr.ino, 0u) << "zeroed entry_out for . and ..";
  for (size_t i = 2; i < ents->size(); ++i) {
    EXPECT_NE((*ents)[i].entry.nodeid, 0u);
    EXPECT_EQ((*ents)[i].dirent.name, fs_.dir[i].name);
    EXPECT_EQ((*ents)[i].entry.attr.ino, 5000 + (*ents)[i].entry.nodeid);
  }
  EXPECT_EQ(outstanding_refs(), 4);
  EXPECT_EQ(fs_.last_ctx.unique, 6u);
  EXPECT_TRUE(fs_.names_terminated);
}

TEST_F(ServerReaddirTest, DirentplusNeverLeaksAReference) {
  // Every budget from nothing to everything: each looked-up entry is either in the
  // reply or forgotten again.
  size_t full = 0;
  for (const DirItem& d : fs_.dir) full += direntplus_size(d.name.size());
  for (uint32_t size = 0; size <= full + 8; size += 4) {
    fs_.refs.clear();
    const Reply r = s_.run(req::readdirplus(1, 3, 0, size));
    if (!r.ok()) {
      EXPECT_EQ(r.error(), EINVAL);
      EXPECT_LT(size, direntplus_size(1));
      EXPECT_EQ(outstanding_refs(), 0);
      continue;
    }
    auto ents = r.direntplus();
    ASSERT_TRUE(ents);
    EXPECT_LE(r.payload.size(), size);
    int64_t listed = 0;
    for (const auto& e : *ents) listed += e.entry.nodeid != 0 ? 1 : 0;
    EXPECT_EQ(outstanding_refs(), listed) << "size " << size;
  }
}

TEST_F(ServerReaddirTest, DirentplusFailedLookupListsTheNameWithoutAttributes) {
  fs_.failing_lookups = {"bcdefgh"};
  const Reply r = s_.run(req::readdirplus(1, 3, 0, 4096));
  auto ents = r.direntplus();
  ASSERT_TRUE(ents);
  ASSERT_EQ(ents->size(), fs_.dir.size());
  EXPECT_EQ((*ents)[3].dirent.name, "bcdefgh");
  EXPECT_EQ((*ents)[3].entry.nodeid, 0u);
  EXPECT_NE((*ents)[4].entry.nodeid, 0u);
  EXPECT_EQ(outstanding_refs(), 3);
}

TEST(DirentPlusEncoderTest, ForgetsWhenTheRecordCannotBeWritten) {
  // A Writer smaller than the budget claims: the record fails after the lookup.
  RecordingFs fs;
  fs.dir = {{"x", 1, 1, DT_REG}};
  uint8_t buf[64];
  Writer w(buf, sizeof(buf));
  const Context ctx{};
  DirentPlusEncoder sink(w, 4096, fs, ctx, 1);
  EXPECT_FALSE(sink.add(DirEntry{1, 1, DT_REG, "x"}));
  ASSERT_EQ(fs.calls.size(), 2u);
  EXPECT_EQ(fs.calls[0], "lookup 1 x");
  EXPECT_EQ(fs.calls[1], "forget 100 1");
  EXPECT_EQ(fs.refs[100], 0);
}

class ServerSecctxTest : public ::testing::Test {
 protected:
  RecordingFs fs_;
  Server server_{fs_};
  Session s_{server_};
};

TEST_F(ServerSecctxTest, ExtensionCarriesTheSelinuxContext) {
  fs_.init_want = FUSE_SECURITY_CTX;
  ASSERT_TRUE(s_.init().ok());
  ASSERT_TRUE(server_.negotiated_flags() & FUSE_SECURITY_CTX);
  const Bytes ctx =
      secctx_block("security.selinux", std::string("system_u:object_r:tmp_t:s0\0", 27));
  Reply r = s_.run(
      RequestBuilder(FUSE_MKDIR, 1).obj(fuse_mkdir_in{0755, 022}).str("d").extension(ctx).finish());
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(fs_.last(), "mkdir 1 d 493 18 [system_u:object_r:tmp_t:s0]");
  r = s_.run(RequestBuilder(FUSE_CREATE, 1)
                 .obj(fuse_create_in{0, 0644, 0, 0})
                 .str("f")
                 .extension(ctx)
                 .finish());
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(fs_.last(), "create 1 f 420 0 0 [system_u:object_r:tmp_t:s0]");
  r = s_.run(RequestBuilder(FUSE_SYMLINK, 1).str("l").str("t").extension(ctx).finish());
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(fs_.last(), "symlink t 1 l [system_u:object_r:tmp_t:s0]");
  r = s_.run(RequestBuilder(FUSE_MKNOD, 1)
                 .obj(fuse_mknod_in{S_IFIFO | 0600, 0, 0, 0})
                 .str("p")
                 .extension(ctx)
                 .finish());
  ASSERT_TRUE(r.ok());
  r = s_.run(RequestBuilder(FUSE_TMPFILE, 1)
                 .obj(fuse_create_in{0, 0600, 0, 0})
                 .str("/")
                 .extension(ctx)
                 .finish());
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(fs_.last(), "tmpfile 1 384 0 0 [system_u:object_r:tmp_t:s0]");
  // An empty header (no LSM context), and another LSM's name: no context.
  r = s_.run(RequestBuilder(FUSE_MKDIR, 1)
                 .obj(fuse_mkdir_in{0755, 0})
                 .str("e")
                 .extension(secctx_block("", ""))
                 .finish());
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(fs_.last(), "mkdir 1 e 493 0 []");
  r = s_.run(RequestBuilder(FUSE_MKDIR, 1)
                 .obj(fuse_mkdir_in{0755, 0})
                 .str("s")
                 .extension(secctx_block("security.smack", "x"))
                 .finish());
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(fs_.last(), "mkdir 1 s 493 0 []");
  EXPECT_TRUE(fs_.names_terminated);
}

TEST_F(ServerSecctxTest, MalformedContextsAreEinval) {
  fs_.init_want = FUSE_SECURITY_CTX;
  ASSERT_TRUE(s_.init().ok());
  fs_.calls.clear();
  Bytes ctx = secctx_block("security.selinux", "label");
  // Context size beyond the block.
  Bytes bad = ctx;
  bad[8] = 200;
  expect_error(s_.run(RequestBuilder(FUSE_MKDIR, 1, test_ctx(2))
                          .obj(fuse_mkdir_in{0755, 0})
                          .str("d")
                          .extension(bad)
                          .finish()),
               EINVAL, 2);
  // Header size beyond the area.
  bad = ctx;
  bad[0] = 0xf0;
  expect_error(s_.run(RequestBuilder(FUSE_MKDIR, 1, test_ctx(3))
                          .obj(fuse_mkdir_in{0755, 0})
                          .str("d")
                          .extension(bad)
                          .finish()),
               EINVAL, 3);
  // Header size below its own size.
  bad = ctx;
  bad[0] = 4;
  expect_error(s_.run(RequestBuilder(FUSE_MKDIR, 1, test_ctx(4))
                          .obj(fuse_mkdir_in{0755, 0})
                          .str("d")
                          .extension(bad)
                          .finish()),
               EINVAL, 4);
  // Name without NUL inside the block.
  const fuse_secctx_header hdr{24, 1};
  const fuse_secctx sc{0, 0};
  bad.assign(reinterpret_cast<const uint8_t*>(&hdr), reinterpret_cast<const uint8_t*>(&hdr) + 8);
  bad.insert(bad.end(), reinterpret_cast<const uint8_t*>(&sc),
             reinterpret_cast<const uint8_t*>(&sc) + 8);
  bad.insert(bad.end(), 8, 'n');
  expect_error(s_.run(RequestBuilder(FUSE_MKDIR, 1, test_ctx(5))
                          .obj(fuse_mkdir_in{0755, 0})
                          .str("d")
                          .extension(bad)
                          .finish()),
               EINVAL, 5);
  EXPECT_TRUE(fs_.calls.empty());
  EXPECT_TRUE(s_.run(req::mkdir(1, "ok", 0755)).ok());
}

TEST_F(ServerSecctxTest, LegacyLayoutBefore738FollowsTheName) {
  fs_.init_want = FUSE_SECURITY_CTX;
  ASSERT_TRUE(s_.init(transport::memory::kLinuxInitFlags, 36).ok());
  const Bytes ctx = secctx_block("security.selinux", "u:r:t:s0");
  const Reply r =
      s_.run(RequestBuilder(FUSE_MKDIR, 1).obj(fuse_mkdir_in{0755, 0}).str("d").raw(ctx).finish());
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(fs_.last(), "mkdir 1 d 493 0 [u:r:t:s0]");
}

TEST_F(ServerSecctxTest, WithoutTheFlagExtensionsAreIgnored) {
  ASSERT_TRUE(s_.init().ok());
  ASSERT_FALSE(server_.negotiated_flags() & FUSE_SECURITY_CTX);
  const Reply r = s_.run(RequestBuilder(FUSE_MKDIR, 1)
                             .obj(fuse_mkdir_in{0755, 0})
                             .str("d")
                             .extension(secctx_block("security.selinux", "x"))
                             .finish());
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(fs_.last(), "mkdir 1 d 493 0 []");
}

}  // namespace
}  // namespace pfs::fuse::testing
