// The in-process transport: request building, scatter/gather equivalence, byte
// streams framed by fuse_in_header.len.
#include <random>

#include "core/tests/server_test_support.h"
#include "core/transport/memory/reply.h"

namespace pfs::fuse::testing {
namespace {

using transport::memory::concat;
using transport::memory::frame_stream;
using transport::memory::next_frame;
using transport::memory::parse_dirents;
using transport::memory::RequestBuilder;
using transport::memory::Split;

class MemoryTransportTest : public ServerFixture {};

TEST(RequestBuilderTest, FinishPatchesTheHeader) {
  const Bytes b = RequestBuilder(FUSE_LOOKUP, 9, Context{1, 2, 3, 4}).str("ab").raw("xy").finish();
  ASSERT_EQ(b.size(), sizeof(fuse_in_header) + 5);
  fuse_in_header h{};
  std::memcpy(&h, b.data(), sizeof(h));
  EXPECT_EQ(h.len, b.size());
  EXPECT_EQ(h.opcode, uint32_t{FUSE_LOOKUP});
  EXPECT_EQ(h.nodeid, 9u);
  EXPECT_EQ(h.uid, 1u);
  EXPECT_EQ(h.gid, 2u);
  EXPECT_EQ(h.pid, 3u);
  EXPECT_EQ(h.unique, 4u);
  EXPECT_EQ(h.total_extlen, 0u);
  EXPECT_EQ(std::string(b.begin() + sizeof(h), b.end()), std::string("ab\0xy", 5));
  const Bytes e = RequestBuilder(FUSE_MKDIR, 1).extension(Bytes(12, 1)).force_len(7).finish();
  std::memcpy(&h, e.data(), sizeof(h));
  EXPECT_EQ(h.len, 7u);
  EXPECT_EQ(h.total_extlen, 2u);
  EXPECT_EQ(e.size(), sizeof(h) + 16);
}

// Every request of a varied session gives the same reply whatever the segment
// layout of the request and of the reply space.
TEST_F(MemoryTransportTest, SplitSegmentsDecodeIdentically) {
  fs_.dir = {{"one", 1, 1, 8}, {"two", 2, 2, 8}};
  const std::vector<Bytes> requests = {
      req::lookup(1, "some-file-name", test_ctx(1)),
      req::write(5, 1, 0, std::string_view("some data to write, long enough"), test_ctx(2)),
      req::read(5, 1, 2, 64, 0, test_ctx(3)),
      req::setxattr(5, "user.key", "value-bytes", 0, true, test_ctx(4)),
      req::getxattr(5, "user.key", 64, test_ctx(5)),
      req::symlink(1, "link", "target", test_ctx(6)),
      req::rename2(1, "a", 2, "b", 1, test_ctx(7)),
      req::readdir(1, 3, 0, 4096, test_ctx(8)),
      req::readdirplus(1, 3, 0, 4096, test_ctx(9)),
      req::lookup(1, "..", test_ctx(10)),
  };
  std::mt19937 rng(1234);
  for (const Bytes& r : requests) {
    fs_.calls.clear();
    fs_.written.clear();
    fs_.next_inode = 100;  // the fake numbers looked-up inodes in order
    const Reply whole = s_.run(r);
    const std::vector<std::string> calls = fs_.calls;
    const std::string written = fs_.written;
    for (int round = 0; round < 20; ++round) {
      Split split;
      const size_t ncuts = rng() % 12;
      for (size_t i = 0; i < ncuts; ++i) split.request_cuts.push_back(rng() % (r.size() + 1));
      for (size_t i = 0; i < ncuts; ++i) split.reply_cuts.push_back(rng() % 600);
      std::sort(split.request_cuts.begin(), split.request_cuts.end());
      std::sort(split.reply_cuts.begin(), split.reply_cuts.end());
      fs_.calls.clear();
      fs_.written.clear();
      fs_.next_inode = 100;
      const Reply cut = s_.run(r, split);
      EXPECT_EQ(cut.size, whole.size);
      EXPECT_EQ(cut.header.error, whole.header.error);
      EXPECT_EQ(cut.header.len, whole.header.len);
      EXPECT_EQ(cut.payload, whole.payload);
      EXPECT_EQ(fs_.calls, calls);
      EXPECT_EQ(fs_.written, written);
    }
  }
  // One byte per segment.
  const Bytes r = req::lookup(1, "bytewise", test_ctx(11));
  Split split;
  for (size_t i = 1; i < r.size(); ++i) split.request_cuts.push_back(i);
  EXPECT_TRUE(s_.run(r, split).ok());
  EXPECT_EQ(fs_.last(), "lookup 1 bytewise");
  EXPECT_TRUE(fs_.names_terminated);
}

TEST_F(MemoryTransportTest, StreamOfRequestsGetsOneSlotEach) {
  const std::vector<Bytes> requests = {req::lookup(1, "a", test_ctx(1)), req::forget(7, 1),
                                       req::getattr(1, std::nullopt, test_ctx(2)),
                                       req::unlink(1, "..", test_ctx(3))};
  const std::vector<Reply> replies = s_.run_stream(concat(requests));
  ASSERT_EQ(replies.size(), 4u);
  EXPECT_TRUE(replies[0].ok());
  EXPECT_EQ(replies[0].header.unique, 1u);
  EXPECT_FALSE(replies[1].replied);
  EXPECT_TRUE(replies[2].ok());
  expect_error(replies[3], EINVAL, 3);
}

TEST_F(MemoryTransportTest, GarbageAndTruncatedTailsDoNotCrash) {
  Bytes stream = concat(std::vector<Bytes>{req::lookup(1, "a", test_ctx(1)),
                                           req::getattr(1, std::nullopt, test_ctx(2))});
  // Truncated last request.
  Bytes truncated = stream;
  truncated.resize(truncated.size() - 5);
  std::vector<Reply> replies = s_.run_stream(truncated);
  ASSERT_EQ(replies.size(), 2u);
  EXPECT_TRUE(replies[0].ok());
  expect_error(replies[1], EINVAL, 2);
  // A short garbage tail.
  Bytes garbage = stream;
  garbage.insert(garbage.end(), {1, 2, 3});
  replies = s_.run_stream(garbage);
  ASSERT_EQ(replies.size(), 3u);
  expect_error(replies[2], EINVAL, 0);
  // A len of zero cannot loop forever.
  Bytes zero(64, 0);
  replies = s_.run_stream(zero);
  ASSERT_EQ(replies.size(), 1u);
  expect_error(replies[0], EINVAL, 0);
  EXPECT_TRUE(frame_stream({}).empty());
  // Random bytes.
  std::mt19937 rng(99);
  for (int i = 0; i < 200; ++i) {
    Bytes junk(rng() % 300);
    for (auto& b : junk) b = static_cast<uint8_t>(rng());
    if (junk.size() >= 4 && (rng() % 2) == 0) {
      const uint32_t len = static_cast<uint32_t>(junk.size());
      std::memcpy(junk.data(), &len, 4);
    }
    for (const Reply& r : s_.run_stream(junk)) {
      if (r.replied) {
        EXPECT_TRUE(r.well_formed());
      }
    }
  }
}

TEST(FrameStreamTest, NextFrameWalksTheSamePiecesAsFrameStream) {
  std::mt19937 rng(7);
  for (int i = 0; i < 300; ++i) {
    Bytes stream;
    // Framed requests of random sizes, then sometimes a garbage tail.
    for (int r = static_cast<int>(rng() % 4); r > 0; --r) {
      Bytes req(sizeof(fuse_in_header) + rng() % 40);
      for (auto& b : req) b = static_cast<uint8_t>(rng());
      const uint32_t len = static_cast<uint32_t>(req.size());
      std::memcpy(req.data(), &len, 4);
      stream.insert(stream.end(), req.begin(), req.end());
    }
    for (int g = static_cast<int>(rng() % 3 == 0 ? rng() % 60 : 0); g > 0; --g)
      stream.push_back(static_cast<uint8_t>(rng()));
    const auto pieces = frame_stream(stream);
    std::span<const uint8_t> rest(stream);
    for (const auto& piece : pieces) {
      const std::span<const uint8_t> got = next_frame(rest);
      ASSERT_EQ(got.data(), piece.data());
      ASSERT_EQ(got.size(), piece.size());
      ASSERT_FALSE(got.empty());
    }
    EXPECT_TRUE(rest.empty());
    EXPECT_TRUE(next_frame(rest).empty());
  }
  // A len beyond the bytes left, or below a header: the rest is one piece.
  Bytes bad(sizeof(fuse_in_header) + 4, 0);
  uint32_t len = 1000;
  std::memcpy(bad.data(), &len, 4);
  std::span<const uint8_t> rest(bad);
  EXPECT_EQ(next_frame(rest).size(), bad.size());
  EXPECT_TRUE(rest.empty());
}

TEST(ReplyParseTest, MalformedDirentPayloadsAreRejected) {
  EXPECT_TRUE(parse_dirents({})->empty());
  Bytes p(sizeof(fuse_dirent) + 8, 0);
  fuse_dirent d{1, 1, 3, 0};
  std::memcpy(p.data(), &d, sizeof(d));
  EXPECT_TRUE(parse_dirents(p).has_value());
  d.namelen = 100;
  std::memcpy(p.data(), &d, sizeof(d));
  EXPECT_FALSE(parse_dirents(p).has_value());
  p.resize(10);
  EXPECT_FALSE(parse_dirents(p).has_value());
}

}  // namespace
}  // namespace pfs::fuse::testing
