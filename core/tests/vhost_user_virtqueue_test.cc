// Virtqueue's own bounds, driven directly (no socket, no worker): each index and
// length at its last valid value and one past it, with the reason pop() gives, so
// a bound that is off by one fails here even where a later check would also catch
// the chain.
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "core/fuse/reader_writer.h"
#include "core/tests/vhost_user_frontend.h"
#include "core/transport/vhost_user/guest_memory.h"
#include "core/transport/vhost_user/virtqueue.h"

namespace pfs::testing {
namespace {

using vu::Chain;
using vu::Desc;
using vu::Virtqueue;
using Pop = Virtqueue::Pop;

constexpr uint32_t kSize = 8;

std::shared_ptr<const vu::GuestMemory> map_all(const FakeGuestMemory& file) {
  auto mem = std::make_shared<vu::GuestMemory>();
  std::string why;
  if (mem->add(file.region(), file.fd(), &why) != kOk) ADD_FAILURE() << why;
  return mem;
}

vu::RingAddrs addrs_of(const FakeRing& r) {
  return {FakeGuestMemory::uva(r.desc_gpa()), FakeGuestMemory::uva(r.avail_gpa()),
          FakeGuestMemory::uva(r.used_gpa())};
}

class VirtqueueTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(file_.ok()); }

  // A fresh ring of `size` in guest memory and the queue over it.
  Virtqueue& queue(uint32_t size = kSize, bool indirect = true) {
    ring_ = std::make_unique<FakeRing>(file_, size);
    std::string why;
    auto vq = Virtqueue::create(mem_, size, addrs_of(*ring_), 0, false, indirect, &why);
    if (!vq) {
      ADD_FAILURE() << why;
      std::abort();
    }
    vq_ = std::move(*vq);
    return *vq_;
  }
  Pop pop_head(uint16_t head) {
    ring_->publish(head);
    why_.clear();
    return vq_->pop(chain_, &why_);
  }
  // Writes `n` descriptors into a fresh indirect table, each chained to the next.
  uint64_t indirect_table(size_t n) {
    const uint64_t table = file_.alloc(16 * n, 16);
    for (size_t k = 0; k < n; ++k) {
      const Desc d{buf_, 1, static_cast<uint16_t>(k + 1 < n ? vu::kDescFlagNext : 0),
                   static_cast<uint16_t>(k + 1)};
      std::memcpy(file_.at(table) + 16 * k, &d, sizeof(d));
    }
    return table;
  }
  Pop pop_indirect(uint32_t len, uint64_t table) {
    ring_->set_desc(0, table, len, vu::kDescFlagIndirect, 0);
    return pop_head(0);
  }

  FakeGuestMemory file_;
  std::shared_ptr<const vu::GuestMemory> mem_ = map_all(file_);
  std::unique_ptr<FakeRing> ring_;
  std::unique_ptr<Virtqueue> vq_;
  Chain chain_;
  std::string why_;
  uint64_t buf_ = file_.alloc(4096);
};

TEST_F(VirtqueueTest, NextAtTheLastEntryIsFollowed) {
  queue();
  ring_->set_desc(0, buf_, 16, vu::kDescFlagNext, kSize - 1);
  ring_->set_desc(kSize - 1, buf_ + 16, 32, vu::kDescFlagWrite, 0);
  ASSERT_EQ(pop_head(0), Pop::kChain) << why_;
  EXPECT_EQ(chain_.readable_len, 16u);
  EXPECT_EQ(chain_.writable_len, 32u);
}

TEST_F(VirtqueueTest, NextEqualToTheTableSizeIsRefused) {
  queue();
  ring_->set_desc(0, buf_, 16, vu::kDescFlagNext, kSize);
  EXPECT_EQ(pop_head(0), Pop::kBadChain);
  EXPECT_EQ(why_, "next descriptor index out of range");
  EXPECT_TRUE(chain_.readable.empty());
}

TEST_F(VirtqueueTest, HeadAtTheLastEntryIsServed) {
  queue();
  ring_->set_desc(kSize - 1, buf_, 16, 0, 0);
  ASSERT_EQ(pop_head(kSize - 1), Pop::kChain) << why_;
  EXPECT_EQ(chain_.head, kSize - 1);
}

TEST_F(VirtqueueTest, HeadEqualToTheTableSizeIsDropped) {
  queue();
  EXPECT_EQ(pop_head(kSize), Pop::kBadHead);
  EXPECT_EQ(why_, "head descriptor index out of range");
  // The next chain is served.
  ring_->set_desc(1, buf_, 16, 0, 0);
  EXPECT_EQ(pop_head(1), Pop::kChain) << why_;
}

TEST_F(VirtqueueTest, AvailIndexAWholeRingAheadIsServedOneMoreIsBroken) {
  queue();
  for (uint32_t k = 0; k < kSize; ++k) ring_->set_desc(k, buf_, 16, 0, 0);
  ring_->set_avail_idx(kSize + 1);
  EXPECT_EQ(vq_->pop(chain_, &why_), Pop::kBroken);
  EXPECT_EQ(vq_->last_avail(), 0u);
  ring_->set_avail_idx(kSize);
  for (uint32_t k = 0; k < kSize; ++k) EXPECT_EQ(vq_->pop(chain_, &why_), Pop::kChain) << k;
  EXPECT_EQ(vq_->pop(chain_, &why_), Pop::kEmpty);
}

TEST_F(VirtqueueTest, IndirectTableOfOneAndOfTheMaximumAreAccepted) {
  queue();
  EXPECT_EQ(pop_indirect(16, indirect_table(1)), Pop::kChain) << why_;
  EXPECT_EQ(chain_.readable.size(), 1u);
  EXPECT_EQ(pop_indirect(16 * vu::kMaxIndirect, indirect_table(vu::kMaxIndirect)), Pop::kChain)
      << why_;
  EXPECT_EQ(chain_.readable.size(), vu::kMaxIndirect);
}

TEST_F(VirtqueueTest, IndirectTableLengthsOffTheGridOrTooLongAreRefused) {
  queue();
  const uint64_t table = indirect_table(vu::kMaxIndirect + 1);
  for (uint32_t len : {0u, 8u, 15u, 17u, 24u, 16 * vu::kMaxIndirect + 16}) {
    EXPECT_EQ(pop_indirect(len, table), Pop::kBadChain) << len;
    EXPECT_EQ(why_, "indirect table length is not a multiple of 16 up to 16 KiB") << len;
  }
}

TEST_F(VirtqueueTest, IndirectNextEqualToTheTableCountIsRefused) {
  queue();
  const uint64_t table = indirect_table(2);
  // Entry 1 chains on to entry 2 of a 2-entry table.
  const Desc last{buf_, 1, vu::kDescFlagNext, 2};
  std::memcpy(file_.at(table) + 16, &last, sizeof(last));
  EXPECT_EQ(pop_indirect(32, table), Pop::kBadChain);
  EXPECT_EQ(why_, "next descriptor index out of range");
}

TEST_F(VirtqueueTest, IndirectWithoutTheFeatureIsRefused) {
  queue(kSize, /*indirect=*/false);
  EXPECT_EQ(pop_indirect(16, indirect_table(1)), Pop::kBadChain);
  EXPECT_EQ(why_, "indirect descriptor without VIRTIO_F_INDIRECT_DESC");
}

TEST_F(VirtqueueTest, EmptyReadableAfterWritableIsRefused) {
  queue();
  ring_->set_desc(0, buf_, 16, vu::kDescFlagWrite | vu::kDescFlagNext, 1);
  ring_->set_desc(1, buf_, 0, 0, 0);
  EXPECT_EQ(pop_head(0), Pop::kBadChain);
  EXPECT_EQ(why_, "readable descriptor after a writable one");
}

TEST_F(VirtqueueTest, ChainRevisitingItsFirstEntryIsALoopNotAnOrderError) {
  // 0 (readable) -> 1 (writable) -> 0: the loop is found when 0 comes round again,
  // before its readable flag is looked at a second time.
  queue(2);
  ring_->set_desc(0, buf_, 16, vu::kDescFlagNext, 1);
  ring_->set_desc(1, buf_ + 16, 16, vu::kDescFlagWrite | vu::kDescFlagNext, 0);
  EXPECT_EQ(pop_head(0), Pop::kBadChain);
  EXPECT_EQ(why_, "descriptor chain loops or is longer than its table");
}

TEST_F(VirtqueueTest, EmptyDescriptorAddressIsNotTranslated) {
  // A zero-length buffer is skipped whatever its address; only lengths > 0 are mapped.
  queue();
  ring_->set_desc(0, 0, 0, vu::kDescFlagNext, 1);
  ring_->set_desc(1, buf_, 16, vu::kDescFlagWrite, 0);
  ASSERT_EQ(pop_head(0), Pop::kChain) << why_;
  EXPECT_TRUE(chain_.readable.empty());
  EXPECT_EQ(chain_.writable.size(), 1u);
}

TEST_F(VirtqueueTest, EventIdxNotifiesOnlyWhenUsedEventWasPassed) {
  ring_ = std::make_unique<FakeRing>(file_, kSize);
  auto vq = Virtqueue::create(mem_, kSize, addrs_of(*ring_), 0, /*event_idx=*/true, true, &why_);
  ASSERT_TRUE(vq) << why_;
  uint16_t* used_event = reinterpret_cast<uint16_t*>(file_.at(ring_->avail_gpa()) + 4 + 2 * kSize);
  (*vq)->add_used(0, 0);
  EXPECT_TRUE((*vq)->should_notify()) << "the first notification is always sent";
  // used moves from 1 to 2: notify only if the driver asked for used_event 1.
  *used_event = 1;
  (*vq)->add_used(0, 0);
  EXPECT_TRUE((*vq)->should_notify());
  // used moves from 2 to 3; used_event 1 lies before that step: no interrupt.
  (*vq)->add_used(0, 0);
  EXPECT_FALSE((*vq)->should_notify());
}

// A direct chain of `n` one-byte buffers, readable or writable.
class SegmentLimitTest : public VirtqueueTest, public ::testing::WithParamInterface<bool> {
 protected:
  Pop pop_chain_of(size_t n) {
    const uint16_t flag = GetParam() ? vu::kDescFlagWrite : 0;
    for (size_t k = 0; k < n; ++k) {
      ring_->set_desc(static_cast<uint32_t>(k), buf_, 1,
                      static_cast<uint16_t>(flag | (k + 1 < n ? vu::kDescFlagNext : 0)),
                      static_cast<uint16_t>(k + 1));
    }
    return pop_head(0);
  }
};

TEST_P(SegmentLimitTest, MaxSegmentsAcceptedOneMoreRefused) {
  queue(2 * fuse::kMaxSegments);
  ASSERT_EQ(pop_chain_of(fuse::kMaxSegments), Pop::kChain) << why_;
  EXPECT_EQ(chain_.readable.size() + chain_.writable.size(), fuse::kMaxSegments);
  EXPECT_EQ(pop_chain_of(fuse::kMaxSegments + 1), Pop::kBadChain);
  EXPECT_EQ(why_, "too many segments");
}

INSTANTIATE_TEST_SUITE_P(ReadableOrWritable, SegmentLimitTest, ::testing::Bool());

class CreateTest : public VirtqueueTest {
 protected:
  Status create(uint32_t size, const vu::RingAddrs& a, bool event_idx = false) {
    why_.clear();
    auto vq = Virtqueue::create(mem_, size, a, 0, event_idx, true, &why_);
    return vq ? kOk : vq.error();
  }
};

TEST_F(CreateTest, SizeMustBeAPowerOfTwoUpToTheMaximum) {
  FakeRing big(file_, vu::kMaxQueueSize);
  EXPECT_EQ(create(vu::kMaxQueueSize, addrs_of(big)), kOk) << why_;
  EXPECT_EQ(create(1, addrs_of(big)), kOk) << why_;
  for (uint32_t size : {0u, 3u, 96u, vu::kMaxQueueSize - 1, 2 * vu::kMaxQueueSize}) {
    EXPECT_EQ(create(size, addrs_of(big)), EINVAL) << size;
  }
}

// Each part placed so its last byte is the region's last byte (the range check
// passes), then one byte further (refused for the range, before its alignment is
// looked at). With EVENT_IDX the avail and used rings are 2 bytes longer.
class RingEndTest : public CreateTest, public ::testing::WithParamInterface<bool> {};

TEST_P(RingEndTest, RingsMustLieWhollyInsideGuestMemory) {
  const bool event_idx = GetParam();
  const uint64_t event = event_idx ? 2 : 0;
  FakeRing r(file_, kSize);
  const uint64_t end = FakeGuestMemory::uva(FakeGuestMemory::kGpa + file_.size());
  const uint64_t lens[] = {16 * kSize, 4 + 2 * kSize + event, 4 + 8 * kSize + event};
  uint64_t vu::RingAddrs::*parts[] = {&vu::RingAddrs::desc, &vu::RingAddrs::avail,
                                      &vu::RingAddrs::used};
  for (size_t k = 0; k < 3; ++k) {
    SCOPED_TRACE(k);
    vu::RingAddrs a = addrs_of(r);
    a.*parts[k] = end - lens[k];
    // Inside; the used ring with EVENT_IDX (70 bytes) cannot also be 4-aligned there.
    EXPECT_NE(create(kSize, a, event_idx), EFAULT) << why_;
    a.*parts[k] += 1;
    EXPECT_EQ(create(kSize, a, event_idx), EFAULT);
    EXPECT_EQ(why_, "a ring lies outside the memory table");
  }
  EXPECT_EQ(create(kSize, {}, event_idx), EFAULT) << "address 0 is outside the region";
}

INSTANTIATE_TEST_SUITE_P(EventIdx, RingEndTest, ::testing::Bool());

TEST_F(CreateTest, RingsMustBeAligned) {
  FakeRing r(file_, kSize);
  vu::RingAddrs a = addrs_of(r);
  a.desc += 8;
  EXPECT_EQ(create(kSize, a), EINVAL);
  a = addrs_of(r);
  a.avail += 1;
  EXPECT_EQ(create(kSize, a), EINVAL);
  a = addrs_of(r);
  a.used += 2;
  EXPECT_EQ(create(kSize, a), EINVAL);
}

}  // namespace
}  // namespace pfs::testing
