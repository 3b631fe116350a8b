// Every malformed request gets a well-formed error reply (or, for opcodes without
// replies, nothing) and the server keeps serving.
#include <fcntl.h>

#include <cstring>

#include "core/tests/server_test_support.h"

namespace pfs::fuse::testing {
namespace {

using transport::memory::RequestBuilder;

class ServerBadInputTest : public ServerFixture {
 protected:
  void TearDown() override {
    EXPECT_TRUE(fs_.names_terminated);
    expect_still_serving();
  }
};

TEST_F(ServerBadInputTest, HeaderShorterThanFuseInHeader) {
  expect_error(s_.run(Bytes{}), EINVAL, 0);
  expect_error(s_.run(Bytes(10, 0xff)), EINVAL, 0);
  // With the unique id present, it is recovered.
  Bytes b = RequestBuilder(FUSE_GETATTR, 1, test_ctx(77)).finish();
  b.resize(20);
  expect_error(s_.run(b), EINVAL, 77);
  b.resize(39);
  expect_error(s_.run(b), EINVAL, 77);
  EXPECT_TRUE(fs_.calls.empty());
  EXPECT_GT(bad_reports_, 0);
}

TEST_F(ServerBadInputTest, LenLargerOrSmallerThanPresent) {
  Bytes b = req::lookup(1, "name", test_ctx(3));
  RequestBuilder big(FUSE_LOOKUP, 1, test_ctx(3));
  expect_error(s_.run(big.str("name").force_len(static_cast<uint32_t>(b.size() + 1)).finish()),
               EINVAL, 3);
  RequestBuilder small(FUSE_LOOKUP, 1, test_ctx(4));
  expect_error(s_.run(small.str("name").force_len(static_cast<uint32_t>(b.size() - 1)).finish()),
               EINVAL, 4);
  RequestBuilder tiny(FUSE_LOOKUP, 1, test_ctx(5));
  expect_error(s_.run(tiny.str("name").force_len(8).finish()), EINVAL, 5);
  RequestBuilder huge(FUSE_LOOKUP, 1, test_ctx(6));
  expect_error(s_.run(huge.str("name").force_len(0xffffffffu).finish()), EINVAL, 6);
  EXPECT_TRUE(fs_.calls.empty());
}

TEST_F(ServerBadInputTest, RequestLargerThanTheBuffer) {
  Bytes data(server_.request_buffer_size(), 'x');
  expect_error(s_.run(req::write(5, 1, 0, data, 0, 0, test_ctx(8))), ENOMEM, 8);
  EXPECT_TRUE(fs_.calls.empty());
}

TEST_F(ServerBadInputTest, PayloadShorterThanTheOpcodeStruct) {
  const uint32_t ops[] = {FUSE_GETATTR,     FUSE_SETATTR,    FUSE_MKNOD,
                          FUSE_MKDIR,       FUSE_RENAME,     FUSE_RENAME2,
                          FUSE_LINK,        FUSE_OPEN,       FUSE_READ,
                          FUSE_WRITE,       FUSE_RELEASE,    FUSE_FSYNC,
                          FUSE_SETXATTR,    FUSE_GETXATTR,   FUSE_LISTXATTR,
                          FUSE_FLUSH,       FUSE_OPENDIR,    FUSE_READDIR,
                          FUSE_READDIRPLUS, FUSE_RELEASEDIR, FUSE_FSYNCDIR,
                          FUSE_GETLK,       FUSE_SETLK,      FUSE_SETLKW,
                          FUSE_ACCESS,      FUSE_CREATE,     FUSE_TMPFILE,
                          FUSE_BMAP,        FUSE_IOCTL,      FUSE_POLL,
                          FUSE_FALLOCATE,   FUSE_LSEEK,      FUSE_COPY_FILE_RANGE,
                          FUSE_SYNCFS};
  uint64_t unique = 100;
  for (uint32_t op : ops) {
    SCOPED_TRACE(op);
    expect_error(s_.run(RequestBuilder(op, 1, test_ctx(unique)).raw("1234").finish()), EINVAL,
                 unique);
    ++unique;
  }
  EXPECT_TRUE(fs_.calls.empty());
}

// uid/gid -1 is "unchanged" to setresuid and fchown: such a request would run as
// the daemon. The kernel never sends it; the Server refuses it before any FS call.
TEST_F(ServerBadInputTest, UidOrGidMinusOneIsRefused) {
  const uint32_t ops[] = {FUSE_MKDIR,   FUSE_MKNOD,   FUSE_CREATE, FUSE_SYMLINK,
                          FUSE_SETATTR, FUSE_GETATTR, FUSE_ACCESS, FUSE_LOOKUP};
  uint64_t unique = 500;
  for (uint32_t op : ops) {
    for (int which = 0; which < 2; ++which) {
      SCOPED_TRACE(std::to_string(op) + (which ? " gid" : " uid"));
      Context ctx = test_ctx(unique);
      (which ? ctx.gid : ctx.uid) = 0xFFFFFFFFu;
      expect_error(s_.run(RequestBuilder(op, 1, ctx).raw(Bytes(64, 0)).finish()), EPERM, unique);
      ++unique;
    }
  }
  EXPECT_TRUE(fs_.calls.empty());
  // -2 (the overflow id some systems use) is an ordinary id.
  Context ctx = test_ctx(600);
  ctx.uid = ctx.gid = 0xFFFFFFFEu;
  EXPECT_TRUE(s_.run(req::getattr(1, std::nullopt, ctx)).ok());
  // FORGET carries no credentials that matter and has no reply: still taken.
  ctx.uid = 0xFFFFFFFFu;
  EXPECT_FALSE(s_.run(req::forget(1, 1, ctx)).replied);
  EXPECT_EQ(fs_.calls.size(), 2u);
}

TEST_F(ServerBadInputTest, ShortNoReplyOpcodesAreDroppedSilently) {
  EXPECT_FALSE(s_.run(RequestBuilder(FUSE_FORGET, 1).raw("1234").finish()).replied);
  EXPECT_FALSE(s_.run(RequestBuilder(FUSE_BATCH_FORGET, 1).raw("12").finish()).replied);
  EXPECT_FALSE(s_.run(RequestBuilder(FUSE_INTERRUPT, 1).finish()).replied);
  // A malformed header on a no-reply opcode stays silent too.
  EXPECT_FALSE(
      s_.run(RequestBuilder(FUSE_FORGET, 1).obj(uint64_t{1}).force_len(100).finish()).replied);
  EXPECT_TRUE(fs_.calls.empty());
}

TEST_F(ServerBadInputTest, NameWithoutNul) {
  expect_error(s_.run(RequestBuilder(FUSE_LOOKUP, 1, test_ctx(2)).raw("abc").finish()), EINVAL, 2);
  expect_error(s_.run(RequestBuilder(FUSE_LOOKUP, 1, test_ctx(3)).finish()), EINVAL, 3);
  expect_error(s_.run(RequestBuilder(FUSE_UNLINK, 1, test_ctx(4)).raw("abc").finish()), EINVAL, 4);
  expect_error(s_.run(RequestBuilder(FUSE_SYMLINK, 1, test_ctx(5)).str("a").raw("tgt").finish()),
               EINVAL, 5);
  expect_error(s_.run(RequestBuilder(FUSE_RENAME, 1, test_ctx(6))
                          .obj(fuse_rename_in{2})
                          .str("a")
                          .raw("b")
                          .finish()),
               EINVAL, 6);
  expect_error(s_.run(RequestBuilder(FUSE_GETXATTR, 1, test_ctx(7))
                          .obj(fuse_getxattr_in{10, 0})
                          .raw("user.x")
                          .finish()),
               EINVAL, 7);
  EXPECT_TRUE(fs_.calls.empty());
}

TEST_F(ServerBadInputTest, NulInsideTheNameExtent) {
  expect_error(s_.run(RequestBuilder(FUSE_LOOKUP, 1, test_ctx(2)).str("ab").str("cd").finish()),
               EINVAL, 2);
  expect_error(s_.run(RequestBuilder(FUSE_MKDIR, 1, test_ctx(3))
                          .obj(fuse_mkdir_in{0755, 0})
                          .raw(std::string_view("a\0b\0", 4))
                          .finish()),
               EINVAL, 3);
  expect_error(s_.run(RequestBuilder(FUSE_SYMLINK, 1, test_ctx(4))
                          .str("l")
                          .raw(std::string_view("t\0x\0", 4))
                          .finish()),
               EINVAL, 4);
  expect_error(
      s_.run(RequestBuilder(FUSE_REMOVEXATTR, 1, test_ctx(5)).str("user.a").str("b").finish()),
      EINVAL, 5);
  EXPECT_TRUE(fs_.calls.empty());
}

TEST_F(ServerBadInputTest, EmptyDotDotDotAndSlashNames) {
  uint64_t unique = 10;
  for (std::string_view bad : {"", ".", "..", "a/b", "/", "../../etc", "x/"}) {
    SCOPED_TRACE(std::string(bad));
    expect_error(s_.run(req::lookup(1, bad, test_ctx(unique))), EINVAL, unique);
    ++unique;
    expect_error(s_.run(req::mkdir(1, bad, 0755, 0, test_ctx(unique))), EINVAL, unique);
    ++unique;
    expect_error(s_.run(req::create(1, bad, 0644, 0, 0, test_ctx(unique))), EINVAL, unique);
    ++unique;
    expect_error(s_.run(req::mknod(1, bad, 0644, 0, 0, test_ctx(unique))), EINVAL, unique);
    ++unique;
    expect_error(s_.run(req::symlink(1, bad, "t", test_ctx(unique))), EINVAL, unique);
    ++unique;
    expect_error(s_.run(req::unlink(1, bad, test_ctx(unique))), EINVAL, unique);
    ++unique;
    expect_error(s_.run(req::rmdir(1, bad, test_ctx(unique))), EINVAL, unique);
    ++unique;
    expect_error(s_.run(req::rename(1, bad, 1, "ok", test_ctx(unique))), EINVAL, unique);
    ++unique;
    expect_error(s_.run(req::rename2(1, "ok", 1, bad, 0, test_ctx(unique))), EINVAL, unique);
    ++unique;
    expect_error(s_.run(req::link(5, 1, bad, test_ctx(unique))), EINVAL, unique);
    ++unique;
  }
  EXPECT_TRUE(fs_.calls.empty()) << "lookup(\"..\") must never reach the FS";
}

TEST_F(ServerBadInputTest, NamesLongerThanNameMax) {
  const std::string max(255, 'n');
  const std::string over(256, 'n');
  EXPECT_TRUE(s_.run(req::lookup(1, max)).ok());
  expect_error(s_.run(req::lookup(1, over, test_ctx(2))), ENAMETOOLONG, 2);
  expect_error(s_.run(req::create(1, over, 0644, 0, 0, test_ctx(3))), ENAMETOOLONG, 3);
  expect_error(s_.run(req::rename(1, "a", 1, over, test_ctx(4))), ENAMETOOLONG, 4);
  EXPECT_EQ(fs_.calls.size(), 1u);
}

TEST_F(ServerBadInputTest, SymlinkTargets) {
  const std::string ok(4095, 't');
  const std::string over(4096, 't');
  EXPECT_TRUE(s_.run(req::symlink(1, "l", ok)).ok());
  expect_error(s_.run(req::symlink(1, "l", over, test_ctx(2))), ENAMETOOLONG, 2);
  expect_error(s_.run(req::symlink(1, "l", "", test_ctx(3))), EINVAL, 3);
  expect_error(s_.run(RequestBuilder(FUSE_SYMLINK, 1, test_ctx(4)).str("only-name").finish()),
               EINVAL, 4);
  EXPECT_EQ(fs_.calls.size(), 1u);
}

TEST_F(ServerBadInputTest, XattrNameAndValueLimits) {
  const std::string long_name = "user." + std::string(251, 'x');  // 256 bytes
  expect_error(s_.run(req::setxattr(1, long_name, "v", 0, true, test_ctx(2))), ERANGE, 2);
  expect_error(s_.run(req::getxattr(1, long_name, 10, test_ctx(3))), ERANGE, 3);
  expect_error(s_.run(req::removexattr(1, long_name, test_ctx(4))), ERANGE, 4);
  expect_error(s_.run(req::setxattr(1, "", "v", 0, true, test_ctx(5))), ERANGE, 5);
  const std::string big(65537, 'v');
  expect_error(s_.run(req::setxattr(1, "user.big", big, 0, true, test_ctx(6))), E2BIG, 6);
  // A declared value size beyond the bytes present.
  expect_error(s_.run(RequestBuilder(FUSE_SETXATTR, 1, test_ctx(7))
                          .obj(fuse_setxattr_in{100, 0, 0, 0})
                          .str("user.a")
                          .raw("short")
                          .finish()),
               EINVAL, 7);
  EXPECT_TRUE(
      s_.run(req::setxattr(1, "user." + std::string(250, 'x'), std::string(65536, 'v'))).ok());
  EXPECT_EQ(fs_.calls.size(), 1u);
}

TEST_F(ServerBadInputTest, SizesOverTheBuffer) {
  const uint32_t over = (1u << 20) + 1;
  expect_error(s_.run(req::read(5, 1, 0, over, 0, test_ctx(2))), ENOMEM, 2);
  expect_error(s_.run(req::readdir(5, 1, 0, over, test_ctx(3))), ENOMEM, 3);
  expect_error(s_.run(req::readdirplus(5, 1, 0, over, test_ctx(4))), ENOMEM, 4);
  expect_error(s_.run(req::getxattr(5, "user.a", over, test_ctx(5))), ENOMEM, 5);
  expect_error(s_.run(req::listxattr(5, over, test_ctx(6))), ENOMEM, 6);
  EXPECT_TRUE(fs_.calls.empty());
}

TEST_F(ServerBadInputTest, WriteSizeMismatch) {
  fuse_write_in w{};
  w.fh = 1;
  w.size = 100;
  expect_error(s_.run(RequestBuilder(FUSE_WRITE, 5, test_ctx(2)).obj(w).raw("only ten!!").finish()),
               EINVAL, 2);
  w.size = (1u << 20) + 1;
  expect_error(s_.run(RequestBuilder(FUSE_WRITE, 5, test_ctx(3)).obj(w).raw("x").finish()), ENOMEM,
               3);
  EXPECT_TRUE(fs_.calls.empty());
  // Fewer declared bytes than present: truncated to the declared size.
  w.size = 4;
  const Reply r = s_.run(RequestBuilder(FUSE_WRITE, 5).obj(w).raw("abcdefgh").finish());
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(fs_.written, "abcd");
  EXPECT_EQ(r.as<fuse_write_out>()->size, 4u);
}

TEST_F(ServerBadInputTest, BatchForgetCounts) {
  // A count that would overflow count * 16, and one beyond the entries present.
  for (uint32_t count : {0xffffffffu, 0x10000001u, 3u}) {
    RequestBuilder b(FUSE_BATCH_FORGET, 0);
    b.obj(fuse_batch_forget_in{count, 0}).obj(fuse_forget_one{5, 1}).obj(fuse_forget_one{6, 1});
    EXPECT_FALSE(s_.run(b.finish()).replied);
  }
  EXPECT_TRUE(fs_.calls.empty()) << "nothing is forgotten from a bad batch";
  RequestBuilder zero(FUSE_BATCH_FORGET, 0);
  EXPECT_FALSE(s_.run(zero.obj(fuse_batch_forget_in{0, 0}).finish()).replied);
  EXPECT_TRUE(fs_.calls.empty());
}

TEST_F(ServerBadInputTest, IoctlChecks) {
  const uint8_t in[8] = {};
  expect_error(s_.run(req::ioctl(5, 1, 0x1234, 0, in, 8, FUSE_IOCTL_UNRESTRICTED, test_ctx(2))),
               ENOSYS, 2);
  fuse_ioctl_in io{1, 0, 0x1234, 0, 16, 0};  // claims 16 bytes of input, 8 present
  expect_error(s_.run(RequestBuilder(FUSE_IOCTL, 5, test_ctx(3)).obj(io).raw(in, 8).finish()),
               EINVAL, 3);
  io.in_size = 0;  // claims none, 8 present
  expect_error(s_.run(RequestBuilder(FUSE_IOCTL, 5, test_ctx(4)).obj(io).raw(in, 8).finish()),
               EINVAL, 4);
  expect_error(s_.run(req::ioctl(5, 1, 0x1234, 0, {}, 65537, 0, test_ctx(5))), ENOMEM, 5);
  EXPECT_TRUE(fs_.calls.empty());
}

TEST_F(ServerBadInputTest, ExtensionLengthBeyondTheRequest) {
  expect_error(
      s_.run(
          RequestBuilder(FUSE_LOOKUP, 1, test_ctx(2)).str("abc").force_total_extlen(100).finish()),
      EINVAL, 2);
  fuse_write_in w{};
  w.size = 0;
  expect_error(s_.run(RequestBuilder(FUSE_WRITE, 5, test_ctx(3))
                          .obj(w)
                          .raw("12345678")
                          .force_total_extlen(1)
                          .finish()),
               EINVAL, 3);
  EXPECT_TRUE(fs_.calls.empty());
}

TEST_F(ServerBadInputTest, UnknownInodesAndHandlesPassThrough) {
  fs_.fail = EBADF;
  expect_error(s_.run(req::read(0xdeadbeef, 0xffffffffffffffff, 0, 10, 0, test_ctx(2))), EBADF, 2);
  EXPECT_EQ(fs_.last(), "read 3735928559 18446744073709551615 10 0 0");
  expect_error(s_.run(req::getattr(0, std::nullopt, test_ctx(3))), EBADF, 3);
  EXPECT_EQ(fs_.last(), "getattr 0 none");
  fs_.fail = 0;
}

// A request refused inside an opcode handler reaches the hook, with what was replied.
TEST_F(ServerBadInputTest, RefusalsInsideAHandlerAreReported) {
  BadRequestLog log;
  Server server(fs_, log.options());
  Session s(server);
  ASSERT_TRUE(s.init().ok());
  expect_error(s.run(RequestBuilder(FUSE_GETLK, 6, test_ctx(31)).raw("1234").finish()), EINVAL, 31);
  ASSERT_EQ(log.reports.size(), 1u);
  EXPECT_EQ(log.reports[0].opcode, uint32_t{FUSE_GETLK});
  EXPECT_EQ(log.reports[0].unique, 31u);
  EXPECT_EQ(log.reports[0].nodeid, 6u);
  EXPECT_EQ(log.reports[0].error, EINVAL);
  EXPECT_FALSE(log.reports[0].reason.empty());
}

// Room for exactly the fixed-size reply is enough: the check before the FS call
// asks for no more than the reply needs.
TEST_F(ServerBadInputTest, ReplySpaceOfExactlyTheReplySize) {
  constexpr size_t kCreateReply =
      sizeof(fuse_out_header) + sizeof(fuse_entry_out) + sizeof(fuse_open_out);
  Session exact(server_, kCreateReply);
  const Reply c = exact.run(req::create(1, "f", S_IFREG | 0644, O_RDWR, 0, test_ctx(4)));
  ASSERT_TRUE(c.ok()) << c.error();
  EXPECT_EQ(c.size, kCreateReply);
  const Reply t = exact.run(req::tmpfile(1, S_IFREG | 0600, O_RDWR, 0, test_ctx(5)));
  ASSERT_TRUE(t.ok()) << t.error();
  EXPECT_EQ(t.size, kCreateReply);
  fs_.calls.clear();
  Session short_by_one(server_, kCreateReply - 1);
  expect_error(short_by_one.run(req::create(1, "f", S_IFREG | 0644, O_RDWR, 0, test_ctx(6))),
               EINVAL, 6);
  EXPECT_TRUE(fs_.calls.empty()) << "no file is created without room for its reply";
}

TEST_F(ServerBadInputTest, ReplySpaceTooSmall) {
  Session tiny(server_, sizeof(fuse_out_header) + 8);
  expect_error(tiny.run(req::lookup(1, "x", test_ctx(2))), EINVAL, 2);
  EXPECT_TRUE(fs_.calls.empty()) << "no FS side effect without room for its reply";
  Session none(server_, 8);
  EXPECT_FALSE(none.run(req::lookup(1, "x")).replied);
  EXPECT_TRUE(fs_.calls.empty());
}

}  // namespace
}  // namespace pfs::fuse::testing
