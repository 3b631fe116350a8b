#include "core/fuse/reader_writer.h"

#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <array>
#include <cstring>
#include <string>
#include <vector>

#include "core/passthrough/scoped_fd.h"

namespace pfs::fuse {
namespace {

TEST(ReaderTest, ReadsAcrossSegmentsAndRefusesShortReads) {
  char a[] = "abc";
  char b[] = "defgh";
  std::array<iovec, 3> segs{iovec{a, 3}, iovec{nullptr, 0}, iovec{b, 5}};
  Reader r(segs);
  EXPECT_EQ(r.available(), 8u);
  char out[6] = {};
  ASSERT_TRUE(r.read_exact(out, 5));
  EXPECT_EQ(std::string(out, 5), "abcde");
  EXPECT_EQ(r.available(), 3u);
  EXPECT_FALSE(r.read_exact(out, 4));
  EXPECT_EQ(r.available(), 3u) << "a failed read consumes nothing";
  ASSERT_TRUE(r.skip(1));
  uint16_t v = 0;
  ASSERT_TRUE(r.read_obj(v));
  EXPECT_EQ(std::memcmp(&v, "gh", 2), 0);
  EXPECT_EQ(r.available(), 0u);
  EXPECT_FALSE(r.skip(1));
}

TEST(ReaderTest, TruncateLimitsTheView) {
  char data[] = "0123456789";
  Reader r(data, 10);
  r.truncate(4);
  char out[8];
  EXPECT_FALSE(r.read_exact(out, 5));
  EXPECT_TRUE(r.read_exact(out, 4));
  EXPECT_EQ(r.available(), 0u);
}

// Copies whose last step moves a single byte: a lone byte, and the tail of a split read.
TEST(ReaderTest, SingleByteTailsAreCopied) {
  char a[] = "ab";
  char b[] = "c";
  char d[] = "d";
  std::array<iovec, 3> segs{iovec{a, 2}, iovec{b, 1}, iovec{d, 1}};
  Reader r(segs);
  char out[4] = {'-', '-', '-', '-'};
  ASSERT_TRUE(r.read_exact(out, 3));
  EXPECT_EQ(std::string(out, 3), "abc");
  char one = '-';
  ASSERT_TRUE(r.read_exact(&one, 1));
  EXPECT_EQ(one, 'd');
}

TEST(ReaderTest, PeekIovecsStopsWhereTheCountEnds) {
  char a[] = "abc";
  char b[] = "defgh";
  std::array<iovec, 2> segs{iovec{a, 3}, iovec{b, 5}};
  const Reader r(segs);
  std::array<iovec, 4> out{};
  ASSERT_EQ(r.peek_iovecs(3, out), 1u) << "no empty iovec for a segment the count never reaches";
  EXPECT_EQ(out[0].iov_base, a);
  EXPECT_EQ(out[0].iov_len, 3u);
  ASSERT_EQ(r.peek_iovecs(4, out), 2u);
  EXPECT_EQ(out[1].iov_base, b);
  EXPECT_EQ(out[1].iov_len, 1u);
}

TEST(WriterTest, WriteZerosClearsASingleByte) {
  char a[2] = {'x', 'x'};
  char b[1] = {'x'};
  std::array<iovec, 2> segs{iovec{a, 2}, iovec{b, 1}};
  Writer w(segs);
  ASSERT_TRUE(w.write_zeros(1));
  EXPECT_EQ(a[0], '\0');
  EXPECT_EQ(a[1], 'x');
  ASSERT_TRUE(w.write_zeros(2)) << "one byte in each segment";
  EXPECT_EQ(a[1], '\0');
  EXPECT_EQ(b[0], '\0');
}

TEST(WriterTest, WritesAcrossSegmentsPatchesAndRefusesOverflow) {
  char a[4] = {}, b[4] = {};
  std::array<iovec, 2> segs{iovec{a, 4}, iovec{b, 4}};
  Writer w(segs);
  ASSERT_TRUE(w.write("xyz12", 5));
  EXPECT_FALSE(w.write("abcd", 4));
  EXPECT_EQ(w.written(), 5u);
  ASSERT_TRUE(w.write_zeros(3));
  EXPECT_FALSE(w.write_zeros(1));
  ASSERT_TRUE(w.patch(2, "ZZ", 2));
  EXPECT_FALSE(w.patch(7, "ZZ", 2)) << "patch past the written bytes";
  EXPECT_EQ(std::string(a, 4), "xyZZ");
  EXPECT_EQ(b[0], '2');
  EXPECT_EQ(b[3], '\0');
}

TEST(ZeroCopyTest, PreadvAndPwritevGoStraightToSegments) {
  ScopedFd fd(::memfd_create("rw", MFD_CLOEXEC));
  ASSERT_TRUE(fd.valid());
  char in1[] = "hello ", in2[] = "world";
  std::array<iovec, 2> req{iovec{in1, 6}, iovec{in2, 5}};
  Reader r(req);
  auto wrote = r.write_to_fd(fd.get(), 100, 10);
  ASSERT_TRUE(wrote.ok());
  EXPECT_EQ(*wrote, 11u);
  EXPECT_EQ(r.available(), 0u);

  char o1[3] = {}, o2[20] = {};
  std::array<iovec, 2> rep{iovec{o1, 3}, iovec{o2, 20}};
  Writer w(rep);
  auto got = w.read_from_fd(fd.get(), 8, 10);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(*got, 8u);
  EXPECT_EQ(std::string(o1, 3) + std::string(o2, 5), "hello wo");
  auto eof = w.read_from_fd(fd.get(), 100, 1000);
  ASSERT_TRUE(eof.ok());
  EXPECT_EQ(*eof, 0u);
  auto bad = w.read_from_fd(-1, 4, 0);
  EXPECT_EQ(bad.error(), EBADF);
}

// Nothing to move (count 0, or no reply space left) is 0 bytes without a syscall,
// so even a bad fd is not an error.
TEST(ZeroCopyTest, EmptyTransferDoesNotTouchTheFd) {
  char o[4] = {};
  Writer w(o, sizeof(o));
  auto none = w.read_from_fd(-1, 0, 0);
  ASSERT_TRUE(none.ok()) << none.error();
  EXPECT_EQ(*none, 0u);
  ASSERT_TRUE(w.write("full", 4));
  auto full = w.read_from_fd(-1, 10, 0);
  ASSERT_TRUE(full.ok()) << full.error();
  EXPECT_EQ(*full, 0u);
  EXPECT_EQ(w.written(), 4u);

  char in[] = "data";
  Reader r(in, 4);
  auto zero = r.write_to_fd(-1, 0, 0);
  ASSERT_TRUE(zero.ok()) << zero.error();
  EXPECT_EQ(*zero, 0u);
  EXPECT_EQ(r.available(), 4u);
}

// A virtio-fs guest sends a 1 MiB write as 256 page-sized descriptors (and a read
// reply as as many): the whole transfer must go in one call, not stop at a batch.
TEST(ZeroCopyTest, PageScatteredMegabyteMovesInOneCall) {
  constexpr size_t kPage = 4096, kPages = 256;
  ScopedFd fd(::memfd_create("pages", MFD_CLOEXEC));
  ASSERT_TRUE(fd.valid());
  std::vector<char> src(kPage * kPages);
  for (size_t i = 0; i < src.size(); ++i) src[i] = static_cast<char>(i * 7 + i / kPage);
  std::vector<iovec> req;
  for (size_t p = 0; p < kPages; ++p) req.push_back(iovec{src.data() + p * kPage, kPage});
  Reader r(req);
  auto wrote = r.write_to_fd(fd.get(), src.size(), 0);
  ASSERT_TRUE(wrote.ok());
  EXPECT_EQ(*wrote, src.size()) << "a short write here costs the guest a retry per batch";
  EXPECT_EQ(r.available(), 0u);

  // Read it back into pages laid out in reverse order, as guest pages need not be in order.
  std::vector<char> dst(src.size());
  std::vector<iovec> rep;
  for (size_t p = 0; p < kPages; ++p)
    rep.push_back(iovec{dst.data() + (kPages - 1 - p) * kPage, kPage});
  Writer w(rep);
  auto got = w.read_from_fd(fd.get(), src.size(), 0);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(*got, src.size()) << "a short read of a readahead reads as end of file";
  for (size_t p = 0; p < kPages; ++p) {
    ASSERT_EQ(std::memcmp(dst.data() + (kPages - 1 - p) * kPage, src.data() + p * kPage, kPage), 0)
        << "page " << p;
  }
}

// Past kMaxSegments the transport truncates the list: the transfer stops there, and
// the count says so (never more than the segments hold).
TEST(ZeroCopyTest, SegmentsBeyondTheLimitAreNotTransferred) {
  ScopedFd fd(::memfd_create("many", MFD_CLOEXEC));
  ASSERT_TRUE(fd.valid());
  std::vector<char> src(kMaxSegments + 10, 'x');
  std::vector<iovec> req;
  for (char& c : src) req.push_back(iovec{&c, 1});
  Reader r(req);
  EXPECT_EQ(r.available(), kMaxSegments);
  auto wrote = r.write_to_fd(fd.get(), src.size(), 0);
  ASSERT_TRUE(wrote.ok());
  EXPECT_EQ(*wrote, kMaxSegments);
}

}  // namespace
}  // namespace pfs::fuse
