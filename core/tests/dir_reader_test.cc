#include "core/passthrough/dir_reader.h"

#include <dirent.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "core/tests/passthrough_scratch.h"

namespace pfs::passthrough {
namespace {

// Appends one linux_dirent64 record; `reclen` 0 means the natural, 8-aligned length.
void append_record(std::vector<uint8_t>& buf, uint64_t ino, uint64_t off, uint8_t type,
                   const std::string& name, uint16_t reclen = 0) {
  const size_t natural = (kDirentHeaderSize + name.size() + 1 + 7) / 8 * 8;
  if (reclen == 0) reclen = static_cast<uint16_t>(natural);
  const size_t start = buf.size();
  buf.resize(start + std::max<size_t>(natural, reclen), 0);
  std::memcpy(&buf[start], &ino, 8);
  std::memcpy(&buf[start + 8], &off, 8);
  std::memcpy(&buf[start + 16], &reclen, 2);
  buf[start + 18] = type;
  std::memcpy(&buf[start + kDirentHeaderSize], name.data(), name.size());
  buf.resize(start + reclen);
}

std::vector<std::string> parse_names(const std::vector<uint8_t>& buf, bool* malformed = nullptr) {
  DirentParser p(buf);
  std::vector<std::string> names;
  while (auto e = p.next()) {
    EXPECT_EQ(e->name.data()[e->name.size()], '\0');
    names.emplace_back(e->name);
  }
  if (malformed) *malformed = p.malformed();
  return names;
}

TEST(DirentParser, WellFormed) {
  std::vector<uint8_t> buf;
  append_record(buf, 11, 100, DT_DIR, ".");
  append_record(buf, 12, 200, DT_DIR, "..");
  append_record(buf, 13, 300, DT_REG, "a file with a long name");
  DirentParser p(buf);
  auto e = p.next();
  ASSERT_TRUE(e);
  EXPECT_EQ(e->ino, 11u);
  EXPECT_EQ(e->offset, 100u);
  EXPECT_EQ(e->type, DT_DIR);
  EXPECT_EQ(e->name, ".");
  e = p.next();
  ASSERT_TRUE(e);
  EXPECT_EQ(e->name, "..");
  e = p.next();
  ASSERT_TRUE(e);
  EXPECT_EQ(e->ino, 13u);
  EXPECT_EQ(e->offset, 300u);
  EXPECT_EQ(e->type, DT_REG);
  EXPECT_EQ(e->name, "a file with a long name");
  EXPECT_FALSE(p.next());
  EXPECT_FALSE(p.malformed());
  EXPECT_EQ(p.consumed(), buf.size());
}

TEST(DirentParser, Empty) {
  DirentParser p(std::span<const uint8_t>{});
  EXPECT_FALSE(p.next());
  EXPECT_FALSE(p.malformed());
}

TEST(DirentParser, NameEndsAtFirstNul) {
  std::vector<uint8_t> buf;
  append_record(buf, 1, 1, DT_REG, std::string("ab\0cd", 5));
  EXPECT_EQ(parse_names(buf), std::vector<std::string>{"ab"});
}

TEST(DirentParser, TruncatedHeader) {
  std::vector<uint8_t> buf;
  append_record(buf, 1, 1, DT_REG, "ok");
  const size_t good = buf.size();
  append_record(buf, 2, 2, DT_REG, "cut");
  for (size_t cut = good + 1; cut < buf.size(); ++cut) {
    std::vector<uint8_t> t(buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(cut));
    t.shrink_to_fit();  // so ASan sees any read past the end
    bool malformed = false;
    EXPECT_EQ(parse_names(t, &malformed), std::vector<std::string>{"ok"}) << cut;
    EXPECT_TRUE(malformed) << cut;
  }
}

TEST(DirentParser, ReclenZero) {
  std::vector<uint8_t> buf;
  append_record(buf, 1, 1, DT_REG, "zero");
  const uint16_t zero = 0;
  std::memcpy(&buf[16], &zero, 2);
  bool malformed = false;
  EXPECT_TRUE(parse_names(buf, &malformed).empty());
  EXPECT_TRUE(malformed);
}

TEST(DirentParser, ReclenTooSmallForAName) {
  for (uint16_t reclen = 1; reclen <= kDirentHeaderSize; ++reclen) {
    std::vector<uint8_t> buf;
    append_record(buf, 1, 1, DT_REG, "x");
    std::memcpy(&buf[16], &reclen, 2);
    bool malformed = false;
    EXPECT_TRUE(parse_names(buf, &malformed).empty()) << reclen;
    EXPECT_TRUE(malformed);
  }
}

TEST(DirentParser, ReclenBeyondBuffer) {
  std::vector<uint8_t> buf;
  append_record(buf, 1, 1, DT_REG, "first");
  const size_t second = buf.size();
  append_record(buf, 2, 2, DT_REG, "second");
  const uint16_t huge = 0xffff;
  std::memcpy(&buf[second + 16], &huge, 2);
  buf.shrink_to_fit();
  bool malformed = false;
  EXPECT_EQ(parse_names(buf, &malformed), std::vector<std::string>{"first"});
  EXPECT_TRUE(malformed);
  // One byte too long is enough to refuse it.
  const uint16_t one_more = static_cast<uint16_t>(buf.size() - second + 1);
  std::memcpy(&buf[second + 16], &one_more, 2);
  EXPECT_EQ(parse_names(buf, &malformed), std::vector<std::string>{"first"});
  EXPECT_TRUE(malformed);
}

TEST(DirentParser, MissingNul) {
  // The name fills the record to its last byte without a NUL.
  std::vector<uint8_t> buf;
  append_record(buf, 1, 1, DT_REG, "abcd");  // 19 + 5 -> 24 bytes
  std::memset(&buf[kDirentHeaderSize], 'z', buf.size() - kDirentHeaderSize);
  buf.shrink_to_fit();
  bool malformed = false;
  EXPECT_TRUE(parse_names(buf, &malformed).empty());
  EXPECT_TRUE(malformed);
  // A NUL after the record (in the next one) does not count.
  std::vector<uint8_t> two = buf;
  append_record(two, 2, 2, DT_REG, "next");
  EXPECT_TRUE(parse_names(two, &malformed).empty());
  EXPECT_TRUE(malformed);
}

TEST(DirentParser, EmptyNameIsMalformed) {
  std::vector<uint8_t> buf;
  append_record(buf, 1, 1, DT_REG, "");
  bool malformed = false;
  EXPECT_TRUE(parse_names(buf, &malformed).empty());
  EXPECT_TRUE(malformed);
}

TEST(DirentParser, UnalignedRecordsAreFine) {
  // The parser copies fields, so odd record lengths must not matter to it.
  std::vector<uint8_t> buf;
  append_record(buf, 1, 1, DT_REG, "a", kDirentHeaderSize + 3);
  append_record(buf, 2, 2, DT_REG, "bb", kDirentHeaderSize + 3);
  EXPECT_EQ(parse_names(buf), (std::vector<std::string>{"a", "bb"}));
}

TEST(DirentParser, EveryPrefixOfGarbageIsSafe) {
  // Pseudo-random bytes, every length: parsing must stay in bounds (ASan checks).
  uint32_t x = 12345;
  std::vector<uint8_t> noise(600);
  for (auto& b : noise) {
    x = x * 1103515245u + 12345u;
    b = static_cast<uint8_t>(x >> 16);
  }
  // Make some reclens plausible so parsing gets past the first record sometimes.
  for (size_t i = 16; i + 1 < noise.size(); i += 24) noise[i + 1] = 0;
  for (size_t len = 0; len <= noise.size(); ++len) {
    std::vector<uint8_t> t(noise.begin(), noise.begin() + static_cast<std::ptrdiff_t>(len));
    t.shrink_to_fit();
    DirentParser p(t);
    size_t n = 0;
    while (p.next()) ++n;
    EXPECT_LE(p.consumed(), t.size());
    EXPECT_LE(n, t.size() / (kDirentHeaderSize + 1) + 1);
  }
}

// Accepts at most `limit` entries per read_dir call.
class ChunkSink : public fuse::DirSink {
 public:
  explicit ChunkSink(size_t limit) : limit_(limit) {}
  bool add(const fuse::DirEntry& e) override {
    if (taken_.size() == limit_) return false;
    taken_.push_back({std::string(e.name), e.offset});
    return true;
  }
  struct Taken {
    std::string name;
    uint64_t offset;
  };
  std::vector<Taken> taken_;

 private:
  size_t limit_;
};

class ReadDirTest : public pfs::testing::ScratchDirTest {
 protected:
  void make_files(int n) {
    for (int i = 0; i < n; ++i) {
      const std::string name = "entry-" + std::to_string(i) + std::string(i % 50, 'x');
      ScopedFd fd(::openat(dir_fd(), name.c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0644));
      ASSERT_TRUE(fd.valid());
      expected_.insert(name);
    }
    expected_.insert(".");
    expected_.insert("..");
  }
  std::set<std::string> expected_;
};

TEST_F(ReadDirTest, ChunkedReadsSeeEveryNameOnce) {
  make_files(1200);
  ScopedFd dir(::open(path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  ASSERT_TRUE(dir.valid());
  for (size_t chunk : {1u, 7u, 64u, 500u}) {
    std::map<std::string, int> seen;
    uint64_t offset = 0;
    int calls = 0;
    for (;;) {
      ChunkSink sink(chunk);
      ASSERT_EQ(read_dir(dir.get(), offset, sink), kOk);
      ++calls;
      if (sink.taken_.empty()) break;
      for (const auto& t : sink.taken_) ++seen[t.name];
      offset = sink.taken_.back().offset;
      ASSERT_LT(calls, 5000);
    }
    EXPECT_EQ(seen.size(), expected_.size()) << "chunk " << chunk;
    for (const auto& [name, count] : seen) {
      EXPECT_EQ(count, 1) << name;
      EXPECT_TRUE(expected_.count(name)) << name;
    }
  }
}

TEST_F(ReadDirTest, RefusedEntryIsNotConsumed) {
  make_files(30);
  ScopedFd dir(::open(path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  ASSERT_TRUE(dir.valid());
  ChunkSink all(1000);
  ASSERT_EQ(read_dir(dir.get(), 0, all), kOk);
  ASSERT_EQ(all.taken_.size(), expected_.size());
  // Whatever sink refuses entry k, resuming at entry k-1's offset gives entry k.
  for (size_t k = 1; k < all.taken_.size(); ++k) {
    ChunkSink one(1);
    ASSERT_EQ(read_dir(dir.get(), all.taken_[k - 1].offset, one), kOk);
    ASSERT_EQ(one.taken_.size(), 1u);
    EXPECT_EQ(one.taken_[0].name, all.taken_[k].name);
  }
  ChunkSink past_end(1);
  ASSERT_EQ(read_dir(dir.get(), all.taken_.back().offset, past_end), kOk);
  EXPECT_TRUE(past_end.taken_.empty());
}

TEST_F(ReadDirTest, EmptyDirectoryHasDotAndDotDot) {
  ScopedFd dir(::open(path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  ChunkSink sink(100);
  ASSERT_EQ(read_dir(dir.get(), 0, sink), kOk);
  std::set<std::string> names;
  for (const auto& t : sink.taken_) names.insert(t.name);
  EXPECT_EQ(names, (std::set<std::string>{".", ".."}));
}

TEST_F(ReadDirTest, SinkRefusingEverything) {
  ScopedFd dir(::open(path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  ChunkSink sink(0);
  EXPECT_EQ(read_dir(dir.get(), 0, sink), kOk);
  EXPECT_TRUE(sink.taken_.empty());
}

TEST_F(ReadDirTest, Errors) {
  ChunkSink sink(10);
  EXPECT_EQ(read_dir(-1, 0, sink), EBADF);
  // Not a directory.
  ScopedFd file(::openat(dir_fd(), "f", O_CREAT | O_RDWR | O_CLOEXEC, 0644));
  ASSERT_TRUE(file.valid());
  EXPECT_EQ(read_dir(file.get(), 0, sink), ENOTDIR);
  // An O_PATH fd cannot be read.
  ScopedFd opath(::open(path().c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  EXPECT_EQ(read_dir(opath.get(), 0, sink), EBADF);
  // An offset that is negative as off_t.
  ScopedFd dir(::open(path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  EXPECT_EQ(read_dir(dir.get(), ~uint64_t{0}, sink), EINVAL);
  EXPECT_TRUE(sink.taken_.empty());
}

}  // namespace
}  // namespace pfs::passthrough
