// INIT negotiation: versions, flags, the state machine around it.
#include <optional>

#include "core/fuse/init_negotiation.h"
#include "core/tests/server_test_support.h"

namespace pfs::fuse::testing {
namespace {

using transport::memory::kLinuxInitFlags;
using transport::memory::RequestBuilder;

class ServerInitTest : public ::testing::Test {
 protected:
  RecordingFs fs_;
  Server server_{fs_};
  Session s_{server_};
};

TEST_F(ServerInitTest, NegotiatesMinorFlagsAndLimits) {
  fs_.init_want = FUSE_DO_READDIRPLUS | FUSE_WRITEBACK_CACHE | FUSE_SECURITY_CTX |
                  FUSE_FLOCK_LOCKS | FUSE_EXPORT_SUPPORT;
  const Reply r = s_.run(req::init(kLinuxInitFlags, 7, 40, 65536, test_ctx(1)));
  ASSERT_TRUE(r.ok());
  auto o = r.as<fuse_init_out>();
  ASSERT_TRUE(o);
  EXPECT_EQ(o->major, 7u);
  EXPECT_EQ(o->minor, 38u) << "min(client, 38)";
  EXPECT_EQ(o->max_readahead, 65536u);
  EXPECT_EQ(o->max_write, 1u << 20);
  EXPECT_EQ(o->max_pages, 256u);
  EXPECT_EQ(o->time_gran, 1u);
  EXPECT_GT(o->max_background, 0u);
  EXPECT_GT(o->congestion_threshold, 0u);
  EXPECT_LE(o->congestion_threshold, o->max_background);
  const uint64_t flags = o->flags | (uint64_t{o->flags2} << 32);
  const uint64_t expect = FUSE_DO_READDIRPLUS | FUSE_WRITEBACK_CACHE | FUSE_SECURITY_CTX |
                          FUSE_ASYNC_READ | FUSE_BIG_WRITES | FUSE_MAX_PAGES |
                          FUSE_PARALLEL_DIROPS | FUSE_INIT_EXT | FUSE_SETXATTR_EXT;
  EXPECT_EQ(flags, expect) << "FLOCK_LOCKS and EXPORT_SUPPORT are never granted";
  EXPECT_EQ(server_.negotiated_flags(), expect);
  EXPECT_EQ(server_.proto_minor(), 38u);
  EXPECT_TRUE(server_.initialized());
  EXPECT_EQ(fs_.init_offered & ~kServerSupportedFlags, 0u);
  EXPECT_TRUE(fs_.init_offered & FUSE_SECURITY_CTX);
}

TEST_F(ServerInitTest, ReplyFlagsAreASubsetOfCapable) {
  fs_.init_want = ~uint64_t{0};
  const uint64_t capable = FUSE_ASYNC_READ | FUSE_POSIX_LOCKS;  // no INIT_EXT: flags2 ignored
  const Reply r = s_.run(req::init(capable | (uint64_t{FUSE_SECURITY_CTX}), 7, 31));
  ASSERT_TRUE(r.ok());
  auto o = r.as<fuse_init_out>();
  EXPECT_EQ(o->minor, 31u);
  EXPECT_EQ(o->flags, capable);
  EXPECT_EQ(o->flags2, 0u);
  EXPECT_EQ(server_.proto_minor(), 31u);
  EXPECT_EQ(server_.negotiated_flags(), capable) << "flags2 without INIT_EXT is not read";
  EXPECT_EQ(fs_.init_offered, capable);
}

// The INIT_EXT layout cut right after flags2 (24 bytes): flags2 is complete and
// counts; one byte shorter it is cut and ignored.
TEST_F(ServerInitTest, Flags2CountsWhenTheBodyEndsRightAfterIt) {
  fs_.init_want = FUSE_SECURITY_CTX;
  fuse_init_in in{};
  in.major = 7;
  in.minor = 38;
  in.flags = FUSE_ASYNC_READ | FUSE_INIT_EXT;
  in.flags2 = static_cast<uint32_t>(FUSE_SECURITY_CTX >> 32);
  constexpr size_t kFlags2End = offsetof(fuse_init_in, flags2) + sizeof(in.flags2);
  const Reply r = s_.run(RequestBuilder(FUSE_INIT, 0).raw(&in, kFlags2End).finish());
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.as<fuse_init_out>()->flags2, static_cast<uint32_t>(FUSE_SECURITY_CTX >> 32));
  EXPECT_TRUE(server_.negotiated_flags() & FUSE_SECURITY_CTX);

  RecordingFs fs;
  fs.init_want = FUSE_SECURITY_CTX;
  Server server(fs);
  Session s(server);
  const Reply cut = s.run(RequestBuilder(FUSE_INIT, 0).raw(&in, kFlags2End - 1).finish());
  ASSERT_TRUE(cut.ok());
  EXPECT_EQ(cut.as<fuse_init_out>()->flags2, 0u);
  EXPECT_FALSE(server.negotiated_flags() & FUSE_SECURITY_CTX);
}

TEST_F(ServerInitTest, OldMajorIsEproto) {
  const Reply r = s_.run(req::init(kLinuxInitFlags, 6, 38, 0, test_ctx(2)));
  expect_error(r, EPROTO, 2);
  EXPECT_FALSE(server_.initialized());
}

TEST_F(ServerInitTest, NewerMajorGetsVersionOnlyReplyAndRetryWorks) {
  Reply r = s_.run(req::init(kLinuxInitFlags, 8, 0));
  ASSERT_TRUE(r.ok());
  auto o = r.as<fuse_init_out>();
  ASSERT_TRUE(o);
  EXPECT_EQ(o->major, 7u);
  EXPECT_EQ(o->minor, 38u);
  EXPECT_EQ(o->flags, 0u);
  EXPECT_EQ(o->max_write, 0u);
  EXPECT_FALSE(server_.initialized());
  EXPECT_TRUE(fs_.calls.empty()) << "fs.init only runs for a usable version";
  EXPECT_TRUE(s_.init().ok());
  EXPECT_TRUE(server_.initialized());
}

TEST_F(ServerInitTest, OldMinorIsEproto) {
  expect_error(s_.run(req::init(kLinuxInitFlags, 7, 26, 0, test_ctx(3))), EPROTO, 3);
  EXPECT_TRUE(s_.run(req::init(kLinuxInitFlags, 7, 27)).ok());
}

TEST_F(ServerInitTest, FsInitErrorIsReplied) {
  fs_.init_error = EACCES;
  expect_error(s_.run(req::init(kLinuxInitFlags, 7, 38, 0, test_ctx(4))), EACCES, 4);
  EXPECT_FALSE(server_.initialized());
  fs_.init_error = 0;
  EXPECT_TRUE(s_.init().ok());
}

TEST_F(ServerInitTest, RequestsBeforeInitAreEio) {
  expect_error(s_.run(req::lookup(1, "x", test_ctx(5))), EIO, 5);
  expect_error(s_.run(req::destroy(test_ctx(6))), EIO, 6);
  EXPECT_FALSE(s_.run(req::forget(1, 1)).replied) << "no-reply opcodes stay silent";
  EXPECT_TRUE(fs_.calls.empty());
}

TEST_F(ServerInitTest, SecondInitIsEio) {
  ASSERT_TRUE(s_.init().ok());
  expect_error(s_.run(req::init(kLinuxInitFlags, 7, 38, 0, test_ctx(7))), EIO, 7);
  EXPECT_TRUE(server_.initialized());
  EXPECT_EQ(server_.proto_minor(), 38u);
}

TEST(ServerInitReportTest, SecondInitIsReported) {
  RecordingFs fs;
  BadRequestLog log;
  Server server(fs, log.options());
  Session s(server);
  ASSERT_TRUE(s.init().ok());
  ASSERT_TRUE(log.reports.empty());
  expect_error(s.run(req::init(kLinuxInitFlags, 7, 38, 0, test_ctx(7))), EIO, 7);
  ASSERT_EQ(log.reports.size(), 1u);
  EXPECT_EQ(log.reports[0].opcode, uint32_t{FUSE_INIT});
  EXPECT_EQ(log.reports[0].unique, 7u);
  EXPECT_EQ(log.reports[0].error, EIO);
  EXPECT_FALSE(log.reports[0].reason.empty());
}

TEST_F(ServerInitTest, ShortInitBodies) {
  // Only major/minor present: not enough for 7.x.
  expect_error(s_.run(RequestBuilder(FUSE_INIT, 0, test_ctx(8))
                          .obj(uint64_t{7 | (uint64_t{38} << 32)})
                          .finish()),
               EINVAL, 8);
  expect_error(s_.run(RequestBuilder(FUSE_INIT, 0, test_ctx(9)).finish()), EINVAL, 9);
  // Major and minor alone still say which version the client speaks: a newer
  // major gets the retry reply, an older one EPROTO.
  const Reply retry = s_.run(RequestBuilder(FUSE_INIT, 0).obj(uint64_t{8}).finish());
  ASSERT_TRUE(retry.ok());
  EXPECT_EQ(retry.as<fuse_init_out>()->major, 7u);
  EXPECT_FALSE(server_.initialized());
  expect_error(s_.run(RequestBuilder(FUSE_INIT, 0, test_ctx(10))
                          .obj(uint64_t{6 | (uint64_t{38} << 32)})
                          .finish()),
               EPROTO, 10);
  // The pre-7.36 16-byte body is fine.
  const uint32_t v1[4] = {7, 31, 4096, FUSE_ASYNC_READ};
  const Reply r = s_.run(RequestBuilder(FUSE_INIT, 0).obj(v1).finish());
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.as<fuse_init_out>()->flags, uint32_t{FUSE_ASYNC_READ});
}

TEST(ServerOptionsTest, BufferSizesFollowMaxWrite) {
  RecordingFs fs;
  Server def(fs);
  EXPECT_EQ(def.request_buffer_size(), Server::kDefaultBufferSize);
  ServerOptions o;
  o.max_write = 128 * 1024;
  Server small(fs, o);
  EXPECT_EQ(small.request_buffer_size(), 128u * 1024 + Server::kHeaderRoom);
  Session s(small);
  auto out = s.init().as<fuse_init_out>();
  ASSERT_TRUE(out);
  EXPECT_EQ(out->max_write, 128u * 1024);
  EXPECT_EQ(out->max_pages, 32u);
}

// The INIT reply of a fresh server built with this max_write.
std::optional<fuse_init_out> init_reply_for_max_write(uint32_t max_write) {
  RecordingFs fs;
  ServerOptions o;
  o.max_write = max_write;
  Server server(fs, o);
  Session s(server);
  return s.init().as<fuse_init_out>();
}

TEST(ServerOptionsTest, MaxWriteBelowOnePageIsRaisedToOnePage) {
  for (const uint32_t max_write : {0u, 1u, 4095u, 4096u}) {
    auto out = init_reply_for_max_write(max_write);
    ASSERT_TRUE(out);
    EXPECT_EQ(out->max_write, 4096u) << max_write;
    EXPECT_EQ(out->max_pages, 1u) << max_write;
  }
}

TEST(ServerOptionsTest, MaxPagesCoversAMaxWriteThatIsNotAPageMultiple) {
  for (const auto& [max_write, pages] : {std::pair{4097u, 2u}, std::pair{128u * 1024 + 1, 33u}}) {
    auto out = init_reply_for_max_write(max_write);
    ASSERT_TRUE(out);
    EXPECT_EQ(out->max_write, max_write);
    EXPECT_EQ(out->max_pages, pages) << max_write;
  }
}

}  // namespace
}  // namespace pfs::fuse::testing
