// GuestMemory's own checks, called directly: every region bound at its edge (the
// last byte in, the first byte out), the fd length against mmap offset + size, the
// overflow and overlap checks, the region limit, and translation at region ends.
#include <gtest/gtest.h>

#include <limits>
#include <string>

#include "core/tests/vhost_user_frontend.h"
#include "core/transport/vhost_user/guest_memory.h"

namespace pfs::testing {
namespace {

using vu::GuestMemory;
using vu::MemRegion;

constexpr uint64_t kPage = 4096;
constexpr uint64_t kMax = std::numeric_limits<uint64_t>::max();

// A memfd of `pages` pages, the backing of every region here.
class GuestMemoryTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(file_.ok()); }
  Status add(const MemRegion& r) { return mem_.add(r, file_.fd(), &why_); }

  FakeGuestMemory file_{4 * kPage};
  GuestMemory mem_;
  std::string why_;
};

TEST_F(GuestMemoryTest, RegionEndingExactlyAtTheFdEndIsAccepted) {
  EXPECT_EQ(add({0x10000, 2 * kPage, 0x7f0000000000, 2 * kPage}), kOk) << why_;
  EXPECT_EQ(mem_.size(), 1u);
}

TEST_F(GuestMemoryTest, RegionOneByteBeyondTheFdEndIsRefused) {
  EXPECT_EQ(add({0x10000, 2 * kPage + 1, 0x7f0000000000, 2 * kPage}), EINVAL);
  EXPECT_NE(why_.find("shorter than mmap_offset + memory_size"), std::string::npos) << why_;
  EXPECT_TRUE(mem_.empty());
}

TEST_F(GuestMemoryTest, OffsetAloneBeyondTheFdEndIsRefused) {
  EXPECT_EQ(add({0x10000, 1, 0x7f0000000000, 4 * kPage}), EINVAL);
  EXPECT_TRUE(mem_.empty());
}

TEST_F(GuestMemoryTest, OffsetPlusSizeOverflowIsRefusedByItsOwnCheck) {
  // offset + size wraps to kPage, which the fd is long enough for: only the
  // overflow check says why this is wrong (mmap would refuse it later anyway).
  EXPECT_EQ(add({0x10000, 2 * kPage, 0x7f0000000000, kMax - kPage + 1}), EINVAL);
  EXPECT_EQ(why_, "mmap offset + size overflows");
}

TEST_F(GuestMemoryTest, EmptyRegionIsRefused) {
  EXPECT_EQ(add({0x10000, 0, 0x7f0000000000, 0}), EINVAL);
  EXPECT_EQ(why_, "region is empty or wraps around the address space");
  EXPECT_TRUE(mem_.empty());
}

// Mapping::map's own checks (GuestMemory::add checks the same first).
TEST_F(GuestMemoryTest, MappingRefusesEmptyAndOverflowingRanges) {
  auto empty = vu::Mapping::map(file_.fd(), 0, 0, &why_);
  EXPECT_FALSE(empty);
  EXPECT_EQ(why_, "empty region");
  auto wraps = vu::Mapping::map(file_.fd(), kMax - kPage + 1, kPage, &why_);
  EXPECT_FALSE(wraps);
  EXPECT_EQ(why_, "mmap offset + size overflows");
  auto whole = vu::Mapping::map(file_.fd(), kPage + 1, 3 * kPage - 1, &why_);
  ASSERT_TRUE(whole) << why_;
  EXPECT_EQ((*whole)->size(), 3 * kPage - 1);
  file_.at(FakeGuestMemory::kGpa + kPage + 1)[0] = 0x7e;
  EXPECT_EQ((*whole)->data()[0], 0x7e) << "an unaligned offset maps from that byte";
}

// The end (address + size) must be representable: a region may end at 2^64 - 1,
// not at 2^64 (the overlap and translation arithmetic would wrap).
TEST_F(GuestMemoryTest, GuestRangeMayEndAtTheTopButNotWrap) {
  EXPECT_EQ(add({kMax - kPage, kPage, 0x7f0000000000, 0}), kOk) << why_;
  GuestMemory other;
  EXPECT_EQ(other.add({kMax - kPage + 1, kPage, 0x7f0000000000, 0}, file_.fd(), &why_), EINVAL);
  EXPECT_EQ(why_, "region is empty or wraps around the address space");
  EXPECT_TRUE(other.empty());
}

TEST_F(GuestMemoryTest, UserRangeMayEndAtTheTopButNotWrap) {
  EXPECT_EQ(add({0x10000, kPage, kMax - kPage, 0}), kOk) << why_;
  GuestMemory other;
  EXPECT_EQ(other.add({0x10000, kPage, kMax - kPage + 1, 0}, file_.fd(), &why_), EINVAL);
  EXPECT_EQ(why_, "region is empty or wraps around the address space");
  EXPECT_TRUE(other.empty());
}

TEST_F(GuestMemoryTest, AdjacentRegionsAreAcceptedOverlappingByOneByteAreNot) {
  ASSERT_EQ(add({0x10000, kPage, 0x7f0000000000, 0}), kOk) << why_;
  // Adjacent in both address spaces, on either side.
  EXPECT_EQ(add({0x10000 + kPage, kPage, 0x7f0000000000 + kPage, kPage}), kOk) << why_;
  EXPECT_EQ(add({0x10000 - kPage, kPage, 0x7f0000000000 - kPage, 0}), kOk) << why_;
  // One byte into a region's guest range, or into its user range.
  EXPECT_EQ(add({0x10000 + kPage - 1 + kPage, 1, 0x7f1000000000, 0}), EINVAL);
  EXPECT_EQ(add({0x20000000, 1, 0x7f0000000000 + 2 * kPage - 1, 0}), EINVAL);
  EXPECT_EQ(add({0x10000 - kPage - 1, 2, 0x7f2000000000, 0}), EINVAL);
  EXPECT_EQ(mem_.size(), 3u);
}

TEST_F(GuestMemoryTest, HoldsAtMostMaxRegions) {
  for (uint64_t i = 0; i < GuestMemory::kMaxRegions; ++i) {
    ASSERT_EQ(add({0x10000 + i * kPage, kPage, 0x7f0000000000 + i * kPage, 0}), kOk)
        << i << ": " << why_;
  }
  const uint64_t i = GuestMemory::kMaxRegions;
  EXPECT_EQ(add({0x10000 + i * kPage, kPage, 0x7f0000000000 + i * kPage, 0}), ENOSPC);
  EXPECT_EQ(mem_.size(), GuestMemory::kMaxRegions);
}

TEST_F(GuestMemoryTest, RemoveNeedsGuestAddressSizeAndUserAddressToMatch) {
  const MemRegion r{0x10000, kPage, 0x7f0000000000, 0};
  ASSERT_EQ(add(r), kOk) << why_;
  EXPECT_EQ(mem_.remove({r.guest_phys_addr + 1, r.memory_size, r.userspace_addr, 0}), ENOENT);
  EXPECT_EQ(mem_.remove({r.guest_phys_addr, r.memory_size + 1, r.userspace_addr, 0}), ENOENT);
  EXPECT_EQ(mem_.remove({r.guest_phys_addr, r.memory_size, r.userspace_addr + 1, 0}), ENOENT);
  EXPECT_EQ(mem_.size(), 1u);
  EXPECT_EQ(mem_.remove({r.guest_phys_addr, r.memory_size, r.userspace_addr, 12345}), kOk);
  EXPECT_TRUE(mem_.empty());
}

TEST_F(GuestMemoryTest, TranslationStopsExactlyAtTheRegionEnd) {
  constexpr uint64_t kGpa = 0x10000, kUva = 0x7f0000000000, kSize = 2 * kPage;
  ASSERT_EQ(add({kGpa, kSize, kUva, kPage}), kOk) << why_;
  uint8_t* host = mem_.gpa_to_host(kGpa, kSize);
  ASSERT_NE(host, nullptr);
  // The region starts at mmap offset kPage of the fd.
  file_.at(FakeGuestMemory::kGpa + kPage)[0] = 0x5a;
  EXPECT_EQ(host[0], 0x5a);
  for (auto translate : {&GuestMemory::gpa_to_host, &GuestMemory::uva_to_host}) {
    const uint64_t base = translate == &GuestMemory::gpa_to_host ? kGpa : kUva;
    EXPECT_EQ((mem_.*translate)(base, kSize), host);
    EXPECT_EQ((mem_.*translate)(base + kSize - 1, 1), host + kSize - 1);
    EXPECT_EQ((mem_.*translate)(base + kSize, 0), host + kSize) << "empty range at the end";
    EXPECT_EQ((mem_.*translate)(base, kSize + 1), nullptr);
    EXPECT_EQ((mem_.*translate)(base + kSize - 1, 2), nullptr);
    EXPECT_EQ((mem_.*translate)(base + kSize, 1), nullptr);
    EXPECT_EQ((mem_.*translate)(base + kSize + 1, 0), nullptr);
    EXPECT_EQ((mem_.*translate)(base - 1, 1), nullptr);
    EXPECT_EQ((mem_.*translate)(base + 1, kMax), nullptr) << "a length that wraps";
  }
}

}  // namespace
}  // namespace pfs::testing
