// Every vhost-user message the back-end handles, fed short, exact, long and
// inconsistent payloads and wrong fd counts, one message at a time: the exact
// outcome (reply, REPLY_ACK 0 or 1, or the connection ended as malformed), no
// received fd left open, and the connection still served when it goes on. Then
// receive()'s own framing checks, called directly.
#include <gtest/gtest.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <cctype>
#include <cstring>
#include <ostream>
#include <string>
#include <vector>

#include "core/tests/fd_count.h"
#include "core/tests/vhost_user_stepped_backend.h"
#include "core/transport/vhost_user/guest_memory.h"
#include "core/transport/vhost_user/logger.h"
#include "core/transport/vhost_user/message.h"

namespace pfs::testing {
namespace {

using vu::Request;
using Bytes = std::vector<uint8_t>;

template <class T>
Bytes bytes_of(const T& v) {
  Bytes b(sizeof(T));
  std::memcpy(b.data(), &v, sizeof(T));
  return b;
}
Bytes u64(uint64_t v) { return bytes_of(v); }
Bytes state(uint32_t index, uint32_t num) { return bytes_of(vu::VringState{index, num}); }
Bytes resized(Bytes b, size_t n) {
  b.resize(n);
  return b;
}

constexpr uint32_t kLastQueue = SteppedBackend::kQueues - 1;

// The region negotiate() sets up: all of SteppedBackend's guest memory.
const vu::MemRegion kTable{FakeGuestMemory::kGpa, 16u << 20, FakeGuestMemory::kUva, 0};

// ADD_MEM_REG / REM_MEM_REG payloads: u64 padding, then the region.
Bytes single_region(const vu::MemRegion& r) {
  struct {
    uint64_t pad;
    vu::MemRegion r;
  } m{0, r};
  return bytes_of(m);
}
// One page right after kTable in both address spaces, from the start of the memfd.
vu::MemRegion region_after() {
  return {kTable.guest_phys_addr + kTable.memory_size, 4096,
          kTable.userspace_addr + kTable.memory_size, 0};
}
// A SET_MEM_TABLE payload: u32 count, u32 padding, then the regions.
Bytes mem_table(uint32_t n, const std::vector<vu::MemRegion>& regions) {
  Bytes b(vu::kMemTableHeader);
  std::memcpy(b.data(), &n, sizeof(n));
  for (const vu::MemRegion& r : regions) {
    const Bytes one = bytes_of(r);
    b.insert(b.end(), one.begin(), one.end());
  }
  return b;
}

// What the back-end does with one message.
enum class Expect {
  kClosed,  // serve_one() ends the connection as malformed, sends nothing
  kAck,     // REPLY_ACK 0
  kNack,    // REPLY_ACK non-zero, connection goes on
  kReply,   // a reply carrying `reply`
};

struct Case {
  std::string name;
  uint32_t request;
  Bytes payload;
  size_t fds = 0;  // copies of an fd the back-end may take (memfd or eventfd)
  Expect expect = Expect::kClosed;
  Bytes reply;          // for kReply
  size_t fds_kept = 0;  // received fds the back-end keeps on success
  bool use_eventfd = false;
};

std::ostream& operator<<(std::ostream& os, const Case& c) { return os << c.name; }

Case make(std::string name, Request r, Bytes payload, Expect e, size_t fds = 0) {
  Case c;
  c.name = std::move(name);
  c.request = static_cast<uint32_t>(r);
  c.payload = std::move(payload);
  c.expect = e;
  c.fds = fds;
  return c;
}

// The exact, well-formed form of each request the back-end handles, as it answers
// it after negotiate() (REPLY_ACK on, one memory region, no ring started).
std::vector<Case> exact_cases() {
  std::vector<Case> cs;
  auto reply = [&](std::string n, Request r, Bytes answer) {
    Case c = make(std::move(n), r, {}, Expect::kReply);
    c.reply = std::move(answer);
    cs.push_back(std::move(c));
  };
  reply("GET_FEATURES", Request::kGetFeatures, u64(vu::kOfferedFeatures));
  reply("GET_PROTOCOL_FEATURES", Request::kGetProtocolFeatures, u64(vu::kOfferedProtocolFeatures));
  reply("GET_QUEUE_NUM", Request::kGetQueueNum, u64(SteppedBackend::kQueues));
  reply("GET_MAX_MEM_SLOTS", Request::kGetMaxMemSlots, u64(vu::GuestMemory::kMaxRegions));
  cs.push_back(make("SET_OWNER", Request::kSetOwner, {}, Expect::kAck));
  cs.push_back(
      make("SET_FEATURES", Request::kSetFeatures, u64(vu::kOfferedFeatures), Expect::kAck));
  cs.push_back(make("SET_PROTOCOL_FEATURES", Request::kSetProtocolFeatures,
                    u64(vu::kOfferedProtocolFeatures), Expect::kAck));
  cs.push_back(
      make("SET_MEM_TABLE", Request::kSetMemTable, mem_table(1, {kTable}), Expect::kAck, 1));
  cs.push_back(
      make("ADD_MEM_REG", Request::kAddMemReg, single_region(region_after()), Expect::kAck, 1));
  cs.push_back(make("REM_MEM_REG", Request::kRemMemReg, single_region(kTable), Expect::kAck));
  cs.push_back(make("SET_VRING_NUM", Request::kSetVringNum, state(kLastQueue, 64), Expect::kAck));
  cs.push_back(make("SET_VRING_BASE", Request::kSetVringBase, state(kLastQueue, 7), Expect::kAck));
  cs.push_back(make("SET_VRING_ADDR", Request::kSetVringAddr,
                    bytes_of(vu::VringAddr{kLastQueue, 0, 0x1000, 0x2000, 0x3000, 0}),
                    Expect::kAck));
  {
    Case c = make("GET_VRING_BASE", Request::kGetVringBase, state(kLastQueue, 0), Expect::kReply);
    c.reply = state(kLastQueue, 0);
    cs.push_back(std::move(c));
  }
  cs.push_back(
      make("SET_VRING_ENABLE", Request::kSetVringEnable, state(kLastQueue, 0), Expect::kAck));
  for (auto [n, r] : {std::pair{"SET_VRING_KICK", Request::kSetVringKick},
                      std::pair{"SET_VRING_CALL", Request::kSetVringCall},
                      std::pair{"SET_VRING_ERR", Request::kSetVringErr}}) {
    Case c = make(n, r, u64(kLastQueue), Expect::kAck, 1);
    c.use_eventfd = true;
    c.fds_kept = 1;
    cs.push_back(c);
    cs.push_back(
        make(std::string(n) + " no fd", r, u64(kLastQueue | vu::kVringNoFd), Expect::kAck));
  }
  cs.push_back(make("RESET_OWNER u64", Request::kResetOwner, u64(0), Expect::kAck));
  cs.push_back(make("RESET_OWNER empty", Request::kResetOwner, {}, Expect::kAck));
  cs.push_back(make("RESET_DEVICE u64", Request::kResetDevice, u64(0), Expect::kAck));
  cs.push_back(make("RESET_DEVICE empty", Request::kResetDevice, {}, Expect::kAck));
  return cs;
}

bool resets(const Case& c) {
  return c.request == static_cast<uint32_t>(Request::kResetOwner) ||
         c.request == static_cast<uint32_t>(Request::kResetDevice);
}
bool takes_fds(uint32_t r) {
  for (Request t : {Request::kSetMemTable, Request::kAddMemReg, Request::kRemMemReg,
                    Request::kSetVringKick, Request::kSetVringCall, Request::kSetVringErr}) {
    if (r == static_cast<uint32_t>(t)) return true;
  }
  return false;
}

// Each exact case, and its payload one byte short, one byte long, empty (or 1 and
// 8 bytes where none is due), and, for requests without fds, with an fd: closed.
std::vector<Case> all_cases() {
  std::vector<Case> out;
  for (const Case& exact : exact_cases()) {
    out.push_back(exact);
    auto closed = [&](std::string what, Bytes payload, size_t fds) {
      Case c = exact;
      c.name += " " + what;
      c.payload = std::move(payload);
      c.fds = fds;
      c.expect = Expect::kClosed;
      out.push_back(std::move(c));
    };
    if (resets(exact)) {
      if (exact.payload.empty()) {
        closed("4 bytes", Bytes(4), 0);
        closed("9 bytes", Bytes(9), 0);
        closed("16 bytes", Bytes(16), 0);
        closed("with an fd", {}, 1);
      }
      continue;
    }
    const size_t n = exact.payload.size();
    if (n == 0) {
      closed("1 byte", Bytes(1), exact.fds);
      closed("8 bytes", Bytes(8), exact.fds);
    } else {
      closed("short", resized(exact.payload, n - 1), exact.fds);
      closed("long", resized(exact.payload, n + 1), exact.fds);
      closed("empty", {}, exact.fds);
    }
    if (!takes_fds(exact.request)) closed("with an fd", exact.payload, 1);
  }
  return out;
}

class MessageTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(b.ready(), "");
    const vu::MemRegion r = b.mem.region();
    ASSERT_EQ(std::memcmp(&r, &kTable, sizeof(r)), 0) << "kTable describes SteppedBackend's memory";
    ASSERT_TRUE(b.negotiate());
  }
  // Sends `c` (NEED_REPLY set), runs one step and checks the outcome and fds.
  void check(const Case& c) {
    SCOPED_TRACE(c.name);
    const int fd = c.use_eventfd ? b.eventfd() : b.mem.fd();
    const std::vector<int> fds(c.fds, fd);
    const size_t before = open_fd_count();
    ASSERT_TRUE(b.fe->send_raw(c.request, vu::kVersion | vu::kFlagNeedReply, c.payload.data(),
                               static_cast<uint32_t>(c.payload.size()), fds));
    const bool goes_on = b.step();
    if (c.expect == Expect::kClosed) {
      EXPECT_FALSE(goes_on) << "the connection must end";
      EXPECT_EQ(b.end(), vu::Backend::End::kMalformed);
      EXPECT_FALSE(b.reply_pending()) << "nothing is sent on a malformed message";
      EXPECT_EQ(open_fd_count(), before) << "received fds closed";
      return;
    }
    ASSERT_TRUE(goes_on) << "the connection must go on";
    auto got = b.fe->reply(0);
    ASSERT_TRUE(got) << "a reply is due";
    EXPECT_EQ(b.fe->last_request(), c.request);
    switch (c.expect) {
      case Expect::kAck:
        EXPECT_EQ(*got, u64(0));
        break;
      case Expect::kNack:
        EXPECT_EQ(*got, u64(1));
        break;
      default:
        EXPECT_EQ(*got, c.reply);
    }
    EXPECT_FALSE(b.reply_pending()) << "one reply per message";
    EXPECT_EQ(open_fd_count(), before + c.fds_kept) << "received fds closed or kept";
    EXPECT_TRUE(b.still_serves());
  }

  SteppedBackend b;
};

class EveryMessageTest : public MessageTest, public ::testing::WithParamInterface<Case> {};

TEST_P(EveryMessageTest, ExactIsServedAnythingElseCloses) { check(GetParam()); }

INSTANTIATE_TEST_SUITE_P(Payloads, EveryMessageTest, ::testing::ValuesIn(all_cases()),
                         [](const ::testing::TestParamInfo<Case>& i) {
                           std::string n = i.param.name;
                           for (char& ch : n) {
                             if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
                           }
                           return n;
                         });

// Ring indexes: the last queue is served (above), the queue count is out of range.
TEST_F(MessageTest, VringIndexEqualToTheQueueCountCloses) {
  constexpr uint32_t kBad = SteppedBackend::kQueues;
  for (Request r : {Request::kSetVringNum, Request::kSetVringBase, Request::kSetVringEnable,
                    Request::kGetVringBase}) {
    SteppedBackend fresh;
    ASSERT_TRUE(fresh.negotiate());
    ASSERT_TRUE(fresh.fe->send_state(r, kBad, r == Request::kSetVringNum ? 64 : 1, true));
    EXPECT_FALSE(fresh.step()) << vu::request_name(static_cast<uint32_t>(r));
  }
  {
    SteppedBackend fresh;
    ASSERT_TRUE(fresh.negotiate());
    vu::VringAddr a{kBad, 0, 0x1000, 0x2000, 0x3000, 0};
    ASSERT_TRUE(fresh.fe->send(Request::kSetVringAddr, &a, sizeof(a), {}, true));
    EXPECT_FALSE(fresh.step()) << "SET_VRING_ADDR";
  }
  for (Request r : {Request::kSetVringKick, Request::kSetVringCall, Request::kSetVringErr}) {
    SteppedBackend fresh;
    ASSERT_TRUE(fresh.negotiate());
    const int fd = fresh.eventfd();
    const size_t before = open_fd_count();
    ASSERT_TRUE(fresh.fe->send_u64(r, kBad, {&fd, 1}, true));
    EXPECT_FALSE(fresh.step()) << vu::request_name(static_cast<uint32_t>(r));
    EXPECT_EQ(open_fd_count(), before);
  }
}

TEST_F(MessageTest, VringFdMessagesFlagAndFdsMustAgree) {
  const int fd = b.eventfd();
  struct {
    const char* name;
    uint64_t value;
    std::vector<int> fds;
  } const bad[] = {
      {"no-fd flag with an fd", kLastQueue | vu::kVringNoFd, {fd}},
      {"no flag, no fd", kLastQueue, {}},
      {"two fds", kLastQueue, {fd, fd}},
      {"reserved bit 9", kLastQueue | (vu::kVringNoFd << 1), {fd}},
      {"reserved bit 63", kLastQueue | vu::kVringNoFd | (1ull << 63), {}},
  };
  for (Request r : {Request::kSetVringKick, Request::kSetVringCall, Request::kSetVringErr}) {
    for (const auto& c : bad) {
      SteppedBackend fresh;
      ASSERT_TRUE(fresh.negotiate());
      const size_t before = open_fd_count();
      ASSERT_TRUE(fresh.fe->send_u64(r, c.value, c.fds, true));
      EXPECT_FALSE(fresh.step()) << vu::request_name(static_cast<uint32_t>(r)) << ": " << c.name;
      EXPECT_EQ(open_fd_count(), before) << c.name;
    }
  }
}

TEST_F(MessageTest, ReplacingOrDroppingAVringFdClosesTheOldOne) {
  const size_t before = open_fd_count();
  const int fd = b.eventfd();
  for (Request r : {Request::kSetVringKick, Request::kSetVringCall, Request::kSetVringErr}) {
    SCOPED_TRACE(vu::request_name(static_cast<uint32_t>(r)));
    ASSERT_TRUE(b.fe->send_u64(r, kLastQueue, {&fd, 1}));
    ASSERT_TRUE(b.step());
    EXPECT_EQ(open_fd_count(), before + 1);
    ASSERT_TRUE(b.fe->send_u64(r, kLastQueue, {&fd, 1}));
    ASSERT_TRUE(b.step());
    EXPECT_EQ(open_fd_count(), before + 1) << "the previous fd is closed";
    ASSERT_TRUE(b.fe->send_u64(r, kLastQueue | vu::kVringNoFd));
    ASSERT_TRUE(b.step());
    EXPECT_EQ(open_fd_count(), before);
  }
  EXPECT_FALSE(b.reply_pending()) << "no REPLY_ACK without NEED_REPLY";
}

TEST_F(MessageTest, VringNumAcceptsPowersOfTwoUpToTheMaximum) {
  for (uint32_t num : {1u, 2u, 256u, vu::kMaxQueueSize}) {
    ASSERT_TRUE(b.fe->send_state(Request::kSetVringNum, kLastQueue, num, true));
    ASSERT_TRUE(b.step()) << num;
    EXPECT_EQ(b.fe->reply_u64(), 0u) << num;
  }
  for (uint32_t num : {0u, 3u, 96u, vu::kMaxQueueSize - 1, vu::kMaxQueueSize + 1,
                       2 * vu::kMaxQueueSize, 0x80000000u}) {
    SteppedBackend fresh;
    ASSERT_TRUE(fresh.negotiate());
    ASSERT_TRUE(fresh.fe->send_state(Request::kSetVringNum, kLastQueue, num, true));
    EXPECT_FALSE(fresh.step()) << num;
    EXPECT_FALSE(fresh.reply_pending()) << num;
  }
}

TEST_F(MessageTest, VringBaseAndEnableValueBounds) {
  ASSERT_TRUE(b.fe->send_state(Request::kSetVringBase, kLastQueue, 0xffff, true));
  ASSERT_TRUE(b.step());
  EXPECT_EQ(b.fe->reply_u64(), 0u);
  ASSERT_TRUE(b.fe->send_state(Request::kGetVringBase, kLastQueue, 0));
  ASSERT_TRUE(b.step());
  EXPECT_EQ(b.fe->reply(0), state(kLastQueue, 0xffff)) << "GET_VRING_BASE gives the base back";
  ASSERT_TRUE(b.fe->send_state(Request::kSetVringEnable, kLastQueue, 1, true));
  ASSERT_TRUE(b.step());
  EXPECT_EQ(b.fe->reply_u64(), 0u);
  {
    SteppedBackend fresh;
    ASSERT_TRUE(fresh.negotiate());
    ASSERT_TRUE(fresh.fe->send_state(Request::kSetVringBase, kLastQueue, 0x10000, true));
    EXPECT_FALSE(fresh.step());
  }
  SteppedBackend fresh;
  ASSERT_TRUE(fresh.negotiate());
  ASSERT_TRUE(fresh.fe->send_state(Request::kSetVringEnable, kLastQueue, 2, true));
  EXPECT_FALSE(fresh.step());
}

// Each feature bit on its own: offered ones are acked, any other closes.
TEST_F(MessageTest, FeatureBitsNotOfferedClose) {
  for (Request r : {Request::kSetFeatures, Request::kSetProtocolFeatures}) {
    const uint64_t offered =
        r == Request::kSetFeatures ? vu::kOfferedFeatures : vu::kOfferedProtocolFeatures;
    for (unsigned bit = 0; bit < 64; ++bit) {
      SCOPED_TRACE(std::string(vu::request_name(static_cast<uint32_t>(r))) + " bit " +
                   std::to_string(bit));
      const uint64_t f = 1ull << bit;
      if ((offered & f) != 0) {
        ASSERT_TRUE(b.fe->send_u64(
            r, f | (r == Request::kSetProtocolFeatures ? vu::kProtocolReplyAck : 0), {}, true));
        ASSERT_TRUE(b.step());
        EXPECT_EQ(b.fe->reply_u64(), 0u);
        continue;
      }
      SteppedBackend fresh;
      ASSERT_TRUE(fresh.negotiate());
      ASSERT_TRUE(fresh.fe->send_u64(r, offered | f, {}, true));
      EXPECT_FALSE(fresh.step());
    }
  }
  EXPECT_EQ(b.backend().acked_features(), vu::kFeatureVersion1);
}

TEST_F(MessageTest, AckedFeaturesAreRecorded) {
  ASSERT_TRUE(b.fe->send_u64(Request::kSetFeatures, vu::kFeatureVersion1 | vu::kFeatureEventIdx));
  ASSERT_TRUE(b.step());
  EXPECT_EQ(b.backend().acked_features(), vu::kFeatureVersion1 | vu::kFeatureEventIdx);
  ASSERT_TRUE(b.fe->send_u64(Request::kSetProtocolFeatures, vu::kProtocolMq));
  ASSERT_TRUE(b.step());
  EXPECT_EQ(b.backend().acked_protocol_features(), vu::kProtocolMq);
  EXPECT_FALSE(b.reply_pending());
}

// Memory tables: the region count against the payload size and the fds.
TEST_F(MessageTest, MemTableCountSizeAndFds) {
  const vu::MemRegion r = kTable;
  const int fd = b.mem.fd();
  struct {
    const char* name;
    Bytes payload;
    size_t fds;
  } const bad[] = {
      {"shorter than its header", Bytes(4), 0},
      {"zero regions", mem_table(0, {}), 0},
      {"zero regions with an fd", mem_table(0, {}), 1},
      {"one region, fewer fds", mem_table(1, {r}), 0},
      {"one region, more fds", mem_table(1, {r}), 2},
      {"two regions, one fd", mem_table(2, {r, region_after()}), 1},
      {"count 2, one region's bytes", mem_table(2, {r}), 2},
      {"count 1, two regions' bytes", mem_table(1, {r, region_after()}), 1},
      {"one byte short", resized(mem_table(1, {r}), 8 + 32 - 1), 1},
      {"one byte long", resized(mem_table(1, {r}), 8 + 32 + 1), 1},
      {"count 9, 8 fds", mem_table(9, std::vector<vu::MemRegion>(9, r)), 8},
      {"count 2^32-1", mem_table(0xffffffff, {r}), 1},
  };
  for (const auto& c : bad) {
    SteppedBackend fresh;
    ASSERT_TRUE(fresh.negotiate());
    const size_t before = open_fd_count();
    ASSERT_TRUE(fresh.fe->send(Request::kSetMemTable, c.payload.data(),
                               static_cast<uint32_t>(c.payload.size()), std::vector<int>(c.fds, fd),
                               true));
    EXPECT_FALSE(fresh.step()) << c.name;
    EXPECT_FALSE(fresh.reply_pending()) << c.name;
    EXPECT_EQ(open_fd_count(), before) << c.name;
  }
}

TEST_F(MessageTest, MemTableOfTheMaximumRegionCount) {
  std::vector<vu::MemRegion> regions;
  for (uint64_t i = 0; i < vu::kMaxMemTableRegions; ++i) {
    regions.push_back({0x100000 * (i + 1), 4096, 0x7f0000000000 + 0x100000 * i, 4096 * i});
  }
  const Bytes t = mem_table(vu::kMaxMemTableRegions, regions);
  const std::vector<int> fds(vu::kMaxMemTableRegions, b.mem.fd());
  const size_t before = open_fd_count();
  ASSERT_TRUE(
      b.fe->send(Request::kSetMemTable, t.data(), static_cast<uint32_t>(t.size()), fds, true));
  ASSERT_TRUE(b.step());
  EXPECT_EQ(b.fe->reply_u64(), 0u);
  ASSERT_NE(b.backend().memory(), nullptr);
  EXPECT_EQ(b.backend().memory()->size(), vu::kMaxMemTableRegions);
  EXPECT_EQ(open_fd_count(), before) << "the mappings hold the memory, not the fds";
}

// A region whose mmap offset + size runs past its fd (a memfd of exactly 2 pages).
TEST_F(MessageTest, RegionsMustFitTheirFd) {
  FakeGuestMemory small(2 * 4096);
  ASSERT_TRUE(small.ok());
  const int fd = small.fd();
  const vu::MemRegion fits{0x1000000, 4096, 0x7f5000000000, 4096};
  struct {
    const char* name;
    vu::MemRegion r;
    bool ok;
  } const cases[] = {
      {"ends at the fd end", fits, true},
      {"one byte past", {fits.guest_phys_addr, 4097, fits.userspace_addr, 4096}, false},
      {"offset at the end", {fits.guest_phys_addr, 1, fits.userspace_addr, 8192}, false},
      {"offset + size overflows",
       {fits.guest_phys_addr, 8192, fits.userspace_addr, ~0ull - 4095},
       false},
      {"guest range wraps", {~0ull - 4095 + 1, 4096, fits.userspace_addr, 0}, false},
      {"user range wraps", {fits.guest_phys_addr, 4096, ~0ull - 4095 + 1, 0}, false},
  };
  for (const auto& c : cases) {
    for (Request r : {Request::kSetMemTable, Request::kAddMemReg}) {
      SCOPED_TRACE(std::string(vu::request_name(static_cast<uint32_t>(r))) + ": " + c.name);
      SteppedBackend fresh;
      ASSERT_TRUE(fresh.negotiate());
      const Bytes p = r == Request::kSetMemTable ? mem_table(1, {c.r}) : single_region(c.r);
      const size_t before = open_fd_count();
      ASSERT_TRUE(fresh.fe->send(r, p.data(), static_cast<uint32_t>(p.size()), {&fd, 1}, true));
      EXPECT_EQ(fresh.step(), c.ok);
      if (c.ok) {
        EXPECT_EQ(fresh.fe->reply_u64(), 0u);
      }
      EXPECT_EQ(open_fd_count(), before);
    }
  }
}

TEST_F(MessageTest, AddMemRegNeedsExactlyOneFd) {
  const Bytes p = single_region(region_after());
  for (size_t n : {0u, 2u}) {
    SteppedBackend fresh;
    ASSERT_TRUE(fresh.negotiate());
    const size_t before = open_fd_count();
    ASSERT_TRUE(fresh.fe->send(Request::kAddMemReg, p.data(), static_cast<uint32_t>(p.size()),
                               std::vector<int>(n, b.mem.fd()), true));
    EXPECT_FALSE(fresh.step()) << n << " fds";
    EXPECT_EQ(open_fd_count(), before);
  }
}

TEST_F(MessageTest, AddMemRegOverlappingTheTableCloses) {
  vu::MemRegion r = region_after();
  r.guest_phys_addr -= 1;
  const Bytes p = single_region(r);
  const int fd = b.mem.fd();
  ASSERT_TRUE(
      b.fe->send(Request::kAddMemReg, p.data(), static_cast<uint32_t>(p.size()), {&fd, 1}, true));
  EXPECT_FALSE(b.step());
}

// REM_MEM_REG of a region that is not there is refused; the connection goes on.
TEST_F(MessageTest, RemMemRegOfAnUnknownRegionIsRefused) {
  const int fd = b.mem.fd();
  const size_t before = open_fd_count();
  const Bytes p = single_region(region_after());
  ASSERT_TRUE(
      b.fe->send(Request::kRemMemReg, p.data(), static_cast<uint32_t>(p.size()), {&fd, 1}, true));
  ASSERT_TRUE(b.step());
  EXPECT_EQ(b.fe->reply_u64(), 1u);
  EXPECT_EQ(open_fd_count(), before) << "the fd QEMU sends along is closed";
  EXPECT_EQ(b.backend().memory()->size(), 1u);
  EXPECT_TRUE(b.still_serves());
  // Before any table, too.
  SteppedBackend fresh;
  ASSERT_TRUE(fresh.fe->send_u64(Request::kSetProtocolFeatures, vu::kProtocolReplyAck));
  ASSERT_TRUE(fresh.step());
  ASSERT_TRUE(
      fresh.fe->send(Request::kRemMemReg, p.data(), static_cast<uint32_t>(p.size()), {}, true));
  ASSERT_TRUE(fresh.step());
  EXPECT_EQ(fresh.fe->reply_u64(), 1u);
}

// Requests pfsd does not handle: refused with REPLY_ACK when it was asked for and
// negotiated, the connection closed otherwise; an fd with one closes and is closed.
TEST_F(MessageTest, UnhandledRequestsAreRefusedOrClose) {
  const uint32_t unhandled[] = {6, 7, 21, 24, 25, 39, 40, 99, 0, 0xffffffff};
  for (uint32_t r : unhandled) {
    SCOPED_TRACE(r);
    ASSERT_TRUE(b.fe->send_raw(r, vu::kVersion | vu::kFlagNeedReply, "\0\0\0\0\0\0\0\0", 8));
    ASSERT_TRUE(b.step());
    EXPECT_EQ(b.fe->reply_u64(), 1u);
    EXPECT_FALSE(b.reply_pending());
    {
      SteppedBackend fresh;
      ASSERT_TRUE(fresh.negotiate());
      ASSERT_TRUE(fresh.fe->send_raw(r, vu::kVersion, "\0\0\0\0\0\0\0\0", 8));
      EXPECT_FALSE(fresh.step()) << "without NEED_REPLY";
    }
    {
      SteppedBackend fresh;  // REPLY_ACK never negotiated
      ASSERT_TRUE(fresh.fe->send_raw(r, vu::kVersion | vu::kFlagNeedReply, "\0\0\0\0\0\0\0\0", 8));
      EXPECT_FALSE(fresh.step()) << "without REPLY_ACK";
    }
    SteppedBackend fresh;
    ASSERT_TRUE(fresh.negotiate());
    const int fd = fresh.eventfd();
    const size_t before = open_fd_count();
    ASSERT_TRUE(
        fresh.fe->send_raw(r, vu::kVersion | vu::kFlagNeedReply, "\0\0\0\0\0\0\0\0", 8, {&fd, 1}));
    EXPECT_FALSE(fresh.step()) << "with an fd";
    EXPECT_EQ(open_fd_count(), before);
  }
  EXPECT_TRUE(b.still_serves());
}

// NEED_REPLY: an ack only when asked for and REPLY_ACK is negotiated (by this very
// message, too); a request with its own reply gets no second one.
TEST_F(MessageTest, NeedReplyHandling) {
  SteppedBackend fresh;
  ASSERT_EQ(fresh.ready(), "");
  ASSERT_TRUE(fresh.fe->send(Request::kSetOwner, nullptr, 0, {}, true));
  ASSERT_TRUE(fresh.step());
  EXPECT_FALSE(fresh.reply_pending()) << "REPLY_ACK not negotiated yet";
  ASSERT_TRUE(fresh.fe->send_u64(Request::kSetProtocolFeatures, vu::kProtocolReplyAck, {}, true));
  ASSERT_TRUE(fresh.step());
  EXPECT_EQ(fresh.fe->reply_u64(), 0u) << "negotiated by this message";
  ASSERT_TRUE(fresh.fe->send(Request::kSetOwner, nullptr, 0));
  ASSERT_TRUE(fresh.step());
  EXPECT_FALSE(fresh.reply_pending()) << "not asked for";
  ASSERT_TRUE(fresh.fe->send(Request::kGetQueueNum, nullptr, 0, {}, true));
  ASSERT_TRUE(fresh.step());
  EXPECT_EQ(fresh.fe->reply_u64(), SteppedBackend::kQueues);
  EXPECT_FALSE(fresh.reply_pending()) << "a GET reply is the ack";
  ASSERT_TRUE(fresh.fe->send_u64(Request::kSetProtocolFeatures, 0, {}, true));
  ASSERT_TRUE(fresh.step());
  EXPECT_EQ(fresh.fe->reply_u64(), 0u) << "negotiated before this message";
  ASSERT_TRUE(fresh.fe->send(Request::kSetOwner, nullptr, 0, {}, true));
  ASSERT_TRUE(fresh.step());
  EXPECT_FALSE(fresh.reply_pending()) << "REPLY_ACK given up";
}

// The header's version bits; any other flag bit is not checked.
TEST_F(MessageTest, HeaderVersionMustBeOne) {
  for (uint32_t flags : {0u, 2u, 3u, vu::kFlagNeedReply, vu::kFlagReply}) {
    SteppedBackend fresh;
    ASSERT_TRUE(fresh.negotiate());
    ASSERT_TRUE(
        fresh.fe->send_raw(static_cast<uint32_t>(Request::kGetFeatures), flags, nullptr, 0));
    EXPECT_FALSE(fresh.step()) << flags;
    EXPECT_FALSE(fresh.reply_pending()) << flags;
  }
}

// Size, address and kick fd for the last queue, in that order: it runs.
void start_last_queue(SteppedBackend& b, const FakeRing& ring) {
  vu::VringAddr a{kLastQueue,
                  0,
                  FakeGuestMemory::uva(ring.desc_gpa()),
                  FakeGuestMemory::uva(ring.used_gpa()),
                  FakeGuestMemory::uva(ring.avail_gpa()),
                  0};
  const int kick = ring.kick_fd();
  ASSERT_TRUE(b.fe->send_state(Request::kSetVringNum, kLastQueue, ring.size()) && b.step());
  ASSERT_TRUE(b.fe->send(Request::kSetVringAddr, &a, sizeof(a)) && b.step());
  ASSERT_TRUE(b.fe->send_u64(Request::kSetVringKick, kLastQueue, {&kick, 1}) && b.step());
  ASSERT_TRUE(b.device().running(kLastQueue));
}

// A running queue: a refused message leaves it running; a closing one is up to
// the caller (serve() stops the queues when serve_one() returns false).
TEST_F(MessageTest, RunningQueueSurvivesARefusedMessage) {
  FakeRing ring(b.mem, 64);
  ASSERT_NO_FATAL_FAILURE(start_last_queue(b, ring));
  const Bytes p = single_region(region_after());
  ASSERT_TRUE(b.fe->send(Request::kRemMemReg, p.data(), static_cast<uint32_t>(p.size()), {}, true));
  ASSERT_TRUE(b.step());
  EXPECT_EQ(b.fe->reply_u64(), 1u);
  EXPECT_TRUE(b.device().running(kLastQueue));
  // SET_VRING_KICK without an fd stops the ring (polling is not offered).
  ASSERT_TRUE(b.fe->send_u64(Request::kSetVringKick, kLastQueue | vu::kVringNoFd) && b.step());
  EXPECT_FALSE(b.device().running(kLastQueue));
}

// SET_VRING_ENABLE 0 keeps a started ring (kick fd, address, size all set) stopped.
TEST_F(MessageTest, DisabledRingStaysStoppedUntilEnabled) {
  FakeRing ring(b.mem, 64);
  ASSERT_NO_FATAL_FAILURE(start_last_queue(b, ring));
  ASSERT_TRUE(b.fe->send_state(Request::kSetVringEnable, kLastQueue, 0) && b.step());
  EXPECT_FALSE(b.device().running(kLastQueue));
  ASSERT_TRUE(b.fe->send_state(Request::kSetVringEnable, kLastQueue, 1) && b.step());
  EXPECT_TRUE(b.device().running(kLastQueue));
}

// receive(): framing, called directly on a socket pair.
class ReceiveTest : public ::testing::Test {
 protected:
  void SetUp() override {
    int sv[2];
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    tx_.reset(sv[0]);
    rx_.reset(sv[1]);
    fe_ = std::make_unique<FakeFrontend>(tx_.get());
    efd_.reset(::eventfd(0, EFD_CLOEXEC));
    ASSERT_TRUE(efd_.valid());
  }
  vu::RecvError receive() {
    why_.clear();
    return vu::receive(rx_.get(), m_, &why_);
  }
  void send_bytes(const Bytes& b) {
    ASSERT_EQ(::send(tx_.get(), b.data(), b.size(), 0), static_cast<ssize_t>(b.size()));
  }

  ScopedFd tx_, rx_, efd_;
  std::unique_ptr<FakeFrontend> fe_;
  vu::Message m_;
  std::string why_;
};

TEST_F(ReceiveTest, PayloadOfTheMaximumSizeIsReadOneMoreIsMalformed) {
  Bytes big(vu::kMaxPayload + 1, 0xab);
  ASSERT_TRUE(fe_->send_raw(5, vu::kVersion, big.data(), vu::kMaxPayload));
  ASSERT_EQ(receive(), vu::RecvError::kNone) << why_;
  EXPECT_EQ(m_.payload, resized(big, vu::kMaxPayload));
  ASSERT_TRUE(fe_->send_raw(5, vu::kVersion, big.data(), vu::kMaxPayload + 1));
  EXPECT_EQ(receive(), vu::RecvError::kMalformed);
  EXPECT_EQ(why_, "payload larger than any request pfsd accepts");
}

TEST_F(ReceiveTest, EightFdsAreTakenNineAreMalformedAndAllClosed) {
  const size_t before = open_fd_count();
  const std::vector<int> eight(vu::kMaxFds, efd_.get()), nine(vu::kMaxFds + 1, efd_.get());
  ASSERT_TRUE(fe_->send_raw(12, vu::kVersion, "\1\0\0\0\0\0\0\0", 8, eight));
  ASSERT_EQ(receive(), vu::RecvError::kNone) << why_;
  EXPECT_EQ(m_.fds.size(), vu::kMaxFds);
  EXPECT_EQ(open_fd_count(), before + vu::kMaxFds);
  ASSERT_TRUE(fe_->send_raw(12, vu::kVersion, "\1\0\0\0\0\0\0\0", 8, nine));
  EXPECT_EQ(receive(), vu::RecvError::kMalformed);
  EXPECT_EQ(why_, "too many fds with one message");
  m_ = vu::Message{};
  EXPECT_EQ(open_fd_count(), before);
}

TEST_F(ReceiveTest, FdsOfAMalformedMessageAreOwned) {
  const size_t before = open_fd_count();
  const int fd = efd_.get();
  ASSERT_TRUE(fe_->send_raw(1, 0 /* version 0 */, nullptr, 0, {&fd, 1}));
  EXPECT_EQ(receive(), vu::RecvError::kMalformed);
  EXPECT_EQ(why_, "bad protocol version in header flags");
  m_ = vu::Message{};
  EXPECT_EQ(open_fd_count(), before);
}

// The first recvmsg() stops after a piece that carries an fd: the header arrives
// in two reads.
TEST_F(ReceiveTest, HeaderInPiecesIsReassembled) {
  const Bytes whole = vu::encode(2, vu::kVersion, "\1\2\3\4\5\6\7\0", 8);
  iovec iov{const_cast<uint8_t*>(whole.data()), 5};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof(control);
  cmsghdr* c = CMSG_FIRSTHDR(&msg);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int));
  const int fd = efd_.get();
  std::memcpy(CMSG_DATA(c), &fd, sizeof(fd));
  ASSERT_EQ(::sendmsg(tx_.get(), &msg, 0), 5);
  send_bytes(Bytes(whole.begin() + 5, whole.end()));
  ASSERT_EQ(receive(), vu::RecvError::kNone) << why_;
  EXPECT_EQ(m_.request(), 2u);
  EXPECT_EQ(m_.header.size, 8u);
  EXPECT_EQ(m_.payload, Bytes(whole.begin() + sizeof(vu::Header), whole.end()));
  EXPECT_EQ(m_.fds.size(), 1u);
}

TEST_F(ReceiveTest, TruncatedPayloadIsMalformed) {
  const Bytes whole = vu::encode(2, vu::kVersion, "\1\2\3\4\5\6\7\0", 8);
  send_bytes(Bytes(whole.begin(), whole.end() - 1));
  ::shutdown(tx_.get(), SHUT_WR);
  EXPECT_EQ(receive(), vu::RecvError::kMalformed);
  EXPECT_EQ(why_, "truncated payload");
}

TEST_F(ReceiveTest, TruncatedHeaderIsMalformed) {
  send_bytes(Bytes(sizeof(vu::Header) - 1, 1));
  ::shutdown(tx_.get(), SHUT_WR);
  EXPECT_EQ(receive(), vu::RecvError::kMalformed);
  EXPECT_EQ(why_, "truncated header");
}

TEST_F(ReceiveTest, HangUpBeforeAHeaderIsEof) {
  ::shutdown(tx_.get(), SHUT_WR);
  EXPECT_EQ(receive(), vu::RecvError::kEof);
}

// Far more fds than a message may carry (but no more than SCM_MAX_FD): every one
// is taken, in order, before the message is refused.
TEST_F(ReceiveTest, TwoHundredFdsAreAllTakenThenRefused) {
  constexpr size_t kCount = 200;
  const std::vector<int> fds(kCount, efd_.get());
  const Bytes whole = vu::encode(12, vu::kVersion, "\1\0\0\0\0\0\0\0", 8);
  iovec iov{const_cast<uint8_t*>(whole.data()), whole.size()};
  std::vector<char> control(  // operator new aligns it for cmsghdr
      CMSG_SPACE(sizeof(int) * kCount));
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control.data();
  msg.msg_controllen = control.size();
  cmsghdr* c = CMSG_FIRSTHDR(&msg);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int) * kCount);
  std::memcpy(CMSG_DATA(c), fds.data(), sizeof(int) * kCount);
  ASSERT_EQ(::sendmsg(tx_.get(), &msg, 0), static_cast<ssize_t>(whole.size()));
  EXPECT_EQ(receive(), vu::RecvError::kMalformed);
  EXPECT_EQ(why_, "too many fds with one message");
  EXPECT_FALSE(m_.fds_lost);
  ASSERT_EQ(m_.fds.size(), kCount);
  struct stat want, got;
  ASSERT_EQ(::fstat(efd_.get(), &want), 0);
  for (size_t i = 0; i < kCount; ++i) {
    ASSERT_EQ(::fstat(m_.fds[i].get(), &got), 0) << i;
    EXPECT_EQ(got.st_ino, want.st_ino) << i;
  }
}

TEST(EncodeTest, OneBytePayloadIsCopied) {
  const uint8_t byte = 0x5a;
  const Bytes out = vu::encode(3, vu::kVersion, &byte, 1);
  ASSERT_EQ(out.size(), sizeof(vu::Header) + 1);
  EXPECT_EQ(out.back(), byte);
}

TEST(LoggerTest, LineFillingTheWholeBufferIsPassedWhole) {
  // 511 characters and the NUL fill logf's 512-byte buffer exactly.
  const std::string line(511, 'x');
  std::string got;
  vu::logf([&](vu::Severity, std::string_view l) { got = l; }, vu::Severity::kWarn, "%s",
           line.c_str());
  EXPECT_EQ(got, line);
}

TEST(MessagePayloadTest, PayloadAsTakesExactlyTheStructSize) {
  vu::Message m;
  vu::VringState st{};
  for (size_t n : {0u, 7u, 9u, 16u}) {
    m.payload.assign(n, 1);
    EXPECT_FALSE(m.payload_as(st)) << n;
  }
  m.payload = state(3, 4);
  ASSERT_TRUE(m.payload_as(st));
  EXPECT_EQ(st.index, 3u);
  EXPECT_EQ(st.num, 4u);
  uint64_t v = 0;
  m.payload.assign(4, 1);
  EXPECT_FALSE(m.u64(v));
}

}  // namespace
}  // namespace pfs::testing
