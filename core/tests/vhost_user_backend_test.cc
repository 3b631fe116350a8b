// The vhost-user back-end end to end: a fake front-end (socketpair + memfd guest
// memory, rings laid out as a driver does) talks to Backend + FsDevice +
// PassthroughFs on a scratch directory, then misbehaves in every way the threat
// model lists.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "core/fuse/server.h"
#include "core/passthrough/passthrough_fs.h"
#include "core/tests/scratch_dir.h"
#include "core/tests/vhost_user_frontend.h"
#include "core/transport/memory/reply.h"
#include "core/transport/memory/request_builder.h"
#include "core/transport/memory/session.h"
#include "core/transport/vhost_user/backend.h"
#include "core/transport/vhost_user/fs_device.h"

namespace pfs::testing {
namespace {

namespace req = transport::memory::req;
using transport::memory::Bytes;
using transport::memory::Reply;
using vu::Backend;
using vu::Request;

constexpr uint32_t kQueueSize = 64;

// ctest runs this file twice: as is (a worker thread per queue, as pfsd does) and
// with PFS_VU_SERVING=caller_thread (the queues served on Backend::serve's thread).
vu::FsDevice::Serving serving_under_test() {
  const char* s = std::getenv("PFS_VU_SERVING");
  if (s == nullptr) return vu::FsDevice::Serving::kWorkerThreads;
  if (std::string_view(s) != "caller_thread") ADD_FAILURE() << "PFS_VU_SERVING=" << s << "?";
  return vu::FsDevice::Serving::kCallerThread;
}

class Harness {
 public:
  explicit Harness(unsigned nqueues = 2, uint32_t queue_size = kQueueSize) : nqueues_(nqueues) {
    passthrough::Config cfg;
    cfg.root_dir = dir_.path();
    auto fs = passthrough::PassthroughFs::create(cfg);
    if (fs) fs_ = std::move(*fs);
    server_ = std::make_unique<fuse::Server>(*fs_);
    vu::Logger logger = [this](vu::Severity, std::string_view line) {
      std::lock_guard lock(log_mu_);
      log_.emplace_back(line);
    };
    device_ = std::make_unique<vu::FsDevice>(*server_, logger, vu::FsDevice::kDefaultMaxQueues,
                                             serving_under_test());
    backend_ = std::make_unique<Backend>(*device_, logger);
    int sv[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0) {
      fe_sock_.reset(sv[0]);
      ScopedFd be(sv[1]);
      serving_ = std::thread(
          [this, s = std::move(be)]() mutable { end_ = backend_->serve(std::move(s)); });
    }
    fe_ = std::make_unique<FakeFrontend>(fe_sock_.get());
    for (unsigned i = 0; i < nqueues; ++i) {
      rings_.push_back(std::make_unique<FakeRing>(mem_, queue_size));
      rings_.back()->set_strict(true);  // every reply must come with its interrupt
    }
    scratch_mark_ = mem_.mark();
  }
  ~Harness() {
    hang_up();
    if (serving_.joinable()) serving_.join();
  }

  void hang_up() { fe_sock_.reset(); }
  Backend::End wait_end() {
    if (serving_.joinable()) serving_.join();
    return end_;
  }

  // The sequence QEMU 7.2's vhost-user-fs-pci sends, up to rings enabled.
  void negotiate(bool event_idx = true, bool indirect = true) {
    FakeFrontend& f = *fe_;
    ASSERT_TRUE(f.send(Request::kGetFeatures, nullptr, 0));
    auto feat = f.reply_u64();
    ASSERT_TRUE(feat);
    EXPECT_EQ(*feat, vu::kOfferedFeatures);
    ASSERT_TRUE(f.send(Request::kGetProtocolFeatures, nullptr, 0));
    auto pf = f.reply_u64();
    ASSERT_TRUE(pf);
    ASSERT_TRUE(*pf & vu::kProtocolMq);
    ASSERT_TRUE(*pf & vu::kProtocolReplyAck);
    ASSERT_TRUE(f.send_u64(Request::kSetProtocolFeatures, vu::kProtocolMq | vu::kProtocolReplyAck));
    ASSERT_TRUE(f.send(Request::kGetQueueNum, nullptr, 0));
    auto qn = f.reply_u64();
    ASSERT_TRUE(qn);
    EXPECT_GE(*qn, nqueues_);
    ASSERT_TRUE(f.send(Request::kSetOwner, nullptr, 0));
    uint64_t acked = vu::kFeatureVersion1 | vu::kFeatureProtocolFeatures;
    if (event_idx) acked |= vu::kFeatureEventIdx;
    if (indirect) acked |= vu::kFeatureIndirectDesc;
    ASSERT_TRUE(f.send_u64(Request::kSetFeatures, acked));
    ASSERT_TRUE(set_mem_table());
    for (unsigned q = 0; q < nqueues_; ++q) ASSERT_TRUE(setup_ring(q));
  }

  bool set_mem_table() {
    struct {
      uint32_t n, pad;
      vu::MemRegion r;
    } table{1, 0, mem_.region()};
    const int fd = mem_.fd();
    if (!fe_->send(Request::kSetMemTable, &table, sizeof(table), {&fd, 1}, true)) return false;
    auto ack = fe_->reply_u64();
    return ack && *ack == 0;
  }

  bool setup_ring(unsigned q, uint16_t base = 0) {
    FakeFrontend& f = *fe_;
    FakeRing& r = *rings_[q];
    vu::VringAddr a{q,
                    0,
                    FakeGuestMemory::uva(r.desc_gpa()),
                    FakeGuestMemory::uva(r.used_gpa()),
                    FakeGuestMemory::uva(r.avail_gpa()),
                    0};
    const int kick = r.kick_fd(), call = r.call_fd();
    bool ok = f.send_state(Request::kSetVringNum, q, r.size()) &&
              f.send_state(Request::kSetVringBase, q, base) &&
              f.send(Request::kSetVringAddr, &a, sizeof(a)) &&
              f.send_u64(Request::kSetVringKick, q, {&kick, 1}) &&
              f.send_u64(Request::kSetVringCall, q, {&call, 1}) &&
              f.send_state(Request::kSetVringEnable, q, 1, true);
    auto ack = f.reply_u64();
    return ok && ack && *ack == 0;
  }

  // Sends one FUSE request as a chain on queue `q` and decodes the reply.
  Reply call(unsigned q, const Bytes& request, uint32_t reply_len = 4096, size_t in_segs = 1,
             size_t out_segs = 1, bool indirect = false) {
    FakeRing& r = *rings_[q];
    std::vector<Buf> bufs;
    size_t off = 0;
    for (size_t k = 0; k < in_segs; ++k) {
      const size_t len = k + 1 == in_segs ? request.size() - off : request.size() / in_segs;
      const uint64_t g = mem_.alloc(len);
      std::memcpy(mem_.at(g), request.data() + off, len);
      bufs.push_back({g, static_cast<uint32_t>(len), false});
      off += len;
    }
    std::vector<Buf> outs;
    for (size_t k = 0; k < out_segs; ++k) {
      const uint32_t len = k + 1 == out_segs ? reply_len - (reply_len / out_segs) * k
                                             : reply_len / static_cast<uint32_t>(out_segs);
      outs.push_back({mem_.alloc(len), len, true});
      bufs.push_back(outs.back());
    }
    const uint16_t head = r.build(bufs, indirect);
    r.publish(head);
    Reply rep;
    auto used = r.wait_used();
    if (!used) {
      ADD_FAILURE() << "no reply on queue " << q;
      return rep;
    }
    EXPECT_EQ(used->first, head);
    std::vector<uint8_t> bytes;
    for (const Buf& b : outs) bytes.insert(bytes.end(), mem_.at(b.gpa), mem_.at(b.gpa) + b.len);
    bytes.resize(std::min<size_t>(bytes.size(), used->second));
    rep.size = used->second;
    rep.replied = rep.size > 0;
    if (bytes.size() >= sizeof(fuse_out_header)) {
      std::memcpy(&rep.header, bytes.data(), sizeof(rep.header));
      rep.payload.assign(bytes.begin() + sizeof(fuse_out_header), bytes.end());
    }
    mem_.release_to(scratch_mark_);
    return rep;
  }

  // Publishes a chain the test built by hand and returns its used length.
  std::optional<uint32_t> publish_raw(unsigned q, uint16_t head) {
    rings_[q]->publish(head);
    auto used = rings_[q]->wait_used();
    if (!used) return std::nullopt;
    EXPECT_EQ(used->first, head);
    return used->second;
  }

  void init() {
    Reply r = call(1, req::init(transport::memory::kLinuxInitFlags));
    ASSERT_TRUE(r.ok()) << r.error();
  }

  bool logged(std::string_view needle) {
    std::lock_guard lock(log_mu_);
    for (const auto& l : log_) {
      if (l.find(needle) != std::string::npos) return true;
    }
    return false;
  }

  ScratchDir dir_{"pfs-vu"};
  std::unique_ptr<passthrough::PassthroughFs> fs_;
  std::unique_ptr<fuse::Server> server_;
  std::unique_ptr<vu::FsDevice> device_;
  std::unique_ptr<Backend> backend_;
  FakeGuestMemory mem_;
  std::vector<std::unique_ptr<FakeRing>> rings_;
  std::unique_ptr<FakeFrontend> fe_;
  size_t scratch_mark_ = 0;

 private:
  unsigned nqueues_;
  ScopedFd fe_sock_;
  std::thread serving_;
  Backend::End end_ = Backend::End::kShutdown;
  std::mutex log_mu_;
  std::vector<std::string> log_;
};

Bytes create_req(std::string_view name) {
  return req::create(FUSE_ROOT_ID, name, S_IFREG | 0644, O_RDWR | O_CREAT);
}

class VhostUserBackendTest : public ::testing::TestWithParam<std::tuple<bool, bool>> {};

TEST_P(VhostUserBackendTest, FileRoundTripThroughPassthroughFs) {
  const auto [event_idx, indirect] = GetParam();
  Harness h;
  ASSERT_TRUE(h.mem_.ok());
  ASSERT_NO_FATAL_FAILURE(h.negotiate(event_idx, indirect));
  ASSERT_NO_FATAL_FAILURE(h.init());

  Reply miss = h.call(1, req::lookup(FUSE_ROOT_ID, "hello.txt"), 4096, 1, 1, indirect);
  EXPECT_EQ(miss.error(), ENOENT);

  Reply cr = h.call(1, create_req("hello.txt"), 4096, 2, 2, indirect);
  ASSERT_TRUE(cr.ok()) << cr.error();
  auto entry = cr.at<fuse_entry_out>(0);
  auto open = cr.at<fuse_open_out>(sizeof(fuse_entry_out));
  ASSERT_TRUE(entry && open);

  // 40 KiB of data, the WRITE request spread over 5 readable descriptors.
  std::string data;
  for (int i = 0; data.size() < 40960; ++i) data += "line " + std::to_string(i) + "\n";
  data.resize(40960);
  Reply wr = h.call(1, req::write(entry->nodeid, open->fh, 0, data), 4096, 5, 1, indirect);
  ASSERT_TRUE(wr.ok()) << wr.error();
  auto wout = wr.as<fuse_write_out>();
  ASSERT_TRUE(wout);
  EXPECT_EQ(wout->size, data.size());

  // The host sees it.
  std::ifstream in(h.dir_ / "hello.txt", std::ios::binary);
  std::stringstream host;
  host << in.rdbuf();
  EXPECT_EQ(host.str(), data);

  // READ it back into 7 writable descriptors.
  Reply rd = h.call(1, req::read(entry->nodeid, open->fh, 0, 40960), 40960 + 16, 1, 7, indirect);
  ASSERT_TRUE(rd.ok()) << rd.error();
  EXPECT_EQ(rd.payload_string(), data);

  // READDIR of the root lists it.
  Reply od = h.call(1, req::opendir(FUSE_ROOT_ID), 4096, 1, 1, indirect);
  ASSERT_TRUE(od.ok());
  auto dopen = od.as<fuse_open_out>();
  ASSERT_TRUE(dopen);
  Reply rdd = h.call(1, req::readdir(FUSE_ROOT_ID, dopen->fh, 0, 4096), 4096 + 16, 1, 2, indirect);
  ASSERT_TRUE(rdd.ok()) << rdd.error();
  auto ents = rdd.dirents();
  ASSERT_TRUE(ents);
  bool found = false;
  for (const auto& e : *ents) found |= e.name == "hello.txt";
  EXPECT_TRUE(found);

  // FORGET on the hiprio queue: no reply, the chain comes back with len 0.
  Reply fg = h.call(0, req::forget(entry->nodeid, 1), 64);
  EXPECT_FALSE(fg.replied);
  EXPECT_EQ(h.device_->stats().bad_chains.load(), 0u);

  h.hang_up();
  EXPECT_EQ(h.wait_end(), Backend::End::kDisconnected);
}

INSTANTIATE_TEST_SUITE_P(Features, VhostUserBackendTest,
                         ::testing::Combine(::testing::Bool(), ::testing::Bool()));

// Linux's virtio-fs driver gives every page its own descriptor: a 1 MiB WRITE arrives
// as ~257 readable descriptors and a 1 MiB READ reply goes into as many writable ones
// (queue-size=1024 in QEMU). The whole MiB must move in one request: a short WRITE
// makes the guest retry, and a short READ of a readahead reads as end of file.
TEST(VhostUserIoTest, MegabyteInPageDescriptorsMovesInOneRequest) {
  constexpr uint32_t kMiB = 1u << 20;
  constexpr size_t kSegments = 257;
  Harness h(2, 1024);
  ASSERT_TRUE(h.mem_.ok());
  ASSERT_NO_FATAL_FAILURE(h.negotiate());
  ASSERT_NO_FATAL_FAILURE(h.init());
  Reply cr = h.call(1, create_req("mib.bin"));
  ASSERT_TRUE(cr.ok()) << cr.error();
  auto entry = cr.at<fuse_entry_out>(0);
  auto open = cr.at<fuse_open_out>(sizeof(fuse_entry_out));
  ASSERT_TRUE(entry && open);

  std::string data(kMiB, '\0');
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>(i * 13 + i / 4096);
  Reply wr = h.call(1, req::write(entry->nodeid, open->fh, 0, data), 4096, kSegments, 1, true);
  ASSERT_TRUE(wr.ok()) << wr.error();
  auto wout = wr.as<fuse_write_out>();
  ASSERT_TRUE(wout);
  EXPECT_EQ(wout->size, kMiB);
  EXPECT_EQ(std::filesystem::file_size(h.dir_ / "mib.bin"), kMiB);

  Reply rd = h.call(1, req::read(entry->nodeid, open->fh, 0, kMiB), kMiB + sizeof(fuse_out_header),
                    1, kSegments, true);
  ASSERT_TRUE(rd.ok()) << rd.error();
  EXPECT_EQ(rd.payload.size(), kMiB);
  EXPECT_TRUE(rd.payload_string() == data) << "the READ reply differs from the file";
}

// A hostile chain gets used len 0 (or is dropped) and a log line; the next good
// chain on the same queue still works.
class HostileChainTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(h.mem_.ok());
    ASSERT_NO_FATAL_FAILURE(h.negotiate());
    ASSERT_NO_FATAL_FAILURE(h.init());
    reply_ = h.mem_.alloc(4096);
    request_ = h.mem_.alloc(4096);
    Bytes g = req::getattr(FUSE_ROOT_ID);
    std::memcpy(h.mem_.at(request_), g.data(), g.size());
    request_len_ = static_cast<uint32_t>(g.size());
    h.scratch_mark_ = h.mem_.mark();
  }
  void expect_good_chain_still_works() {
    Reply r = h.call(1, req::getattr(FUSE_ROOT_ID));
    EXPECT_TRUE(r.ok()) << "the queue must go on after a bad chain";
  }
  void expect_rejected(uint16_t head, std::string_view log_needle) {
    const uint64_t bad_before = h.device_->stats().bad_chains.load();
    auto len = h.publish_raw(1, head);
    ASSERT_TRUE(len) << "the bad chain must come back";
    EXPECT_EQ(*len, 0u);
    EXPECT_EQ(h.device_->stats().bad_chains.load(), bad_before + 1);
    EXPECT_TRUE(h.logged(log_needle)) << log_needle;
    expect_good_chain_still_works();
  }
  FakeRing& ring() { return *h.rings_[1]; }

  Harness h;
  uint64_t reply_ = 0, request_ = 0;
  uint32_t request_len_ = 0;
};

TEST_F(HostileChainTest, AddressOutsideEveryRegion) {
  FakeRing& r = ring();
  const uint16_t a = r.next_desc(), b = r.next_desc();
  r.set_desc(a, 0x900000000, request_len_, vu::kDescFlagNext, b);
  r.set_desc(b, reply_, 4096, vu::kDescFlagWrite, 0);
  expect_rejected(a, "outside guest memory");
}

TEST_F(HostileChainTest, BufferRunningPastTheRegionEnd) {
  FakeRing& r = ring();
  const uint16_t a = r.next_desc();
  const uint64_t end = FakeGuestMemory::kGpa + h.mem_.size();
  r.set_desc(a, end - 16, 4096, vu::kDescFlagWrite, 0);
  expect_rejected(a, "outside guest memory");
}

TEST_F(HostileChainTest, LengthThatWrapsTheAddressSpace) {
  FakeRing& r = ring();
  const uint16_t a = r.next_desc();
  r.set_desc(a, 0xfffffffffffff000ull, 0xffffffffu, 0, 0);
  expect_rejected(a, "outside guest memory");
}

TEST_F(HostileChainTest, HeadIndexOutOfRangeIsDropped) {
  FakeRing& r = ring();
  r.publish(static_cast<uint16_t>(kQueueSize + 5));
  // Nothing comes back for it; the good chain behind it does.
  Reply ok = h.call(1, req::getattr(FUSE_ROOT_ID));
  EXPECT_TRUE(ok.ok());
  EXPECT_TRUE(h.logged("head descriptor index out of range"));
  EXPECT_EQ(h.device_->stats().dropped.load(), 1u);
}

TEST_F(HostileChainTest, NextIndexOutOfRange) {
  FakeRing& r = ring();
  const uint16_t a = r.next_desc();
  r.set_desc(a, request_, request_len_, vu::kDescFlagNext, 999);
  expect_rejected(a, "next descriptor index out of range");
}

TEST_F(HostileChainTest, LoopingChain) {
  FakeRing& r = ring();
  const uint16_t a = r.next_desc(), b = r.next_desc();
  r.set_desc(a, request_, request_len_, vu::kDescFlagNext, b);
  r.set_desc(b, request_, request_len_, vu::kDescFlagNext, a);
  expect_rejected(a, "loops or is longer");
}

TEST_F(HostileChainTest, ChainLongerThanTheQueueThroughSelfLoop) {
  FakeRing& r = ring();
  const uint16_t a = r.next_desc();
  r.set_desc(a, reply_, 16, vu::kDescFlagWrite | vu::kDescFlagNext, a);
  expect_rejected(a, "loops or is longer");
}

TEST_F(HostileChainTest, WritableBeforeReadable) {
  FakeRing& r = ring();
  const uint16_t a = r.next_desc(), b = r.next_desc();
  r.set_desc(a, reply_, 4096, vu::kDescFlagWrite | vu::kDescFlagNext, b);
  r.set_desc(b, request_, request_len_, 0, 0);
  expect_rejected(a, "readable descriptor after a writable one");
}

TEST_F(HostileChainTest, IndirectTableWithBadLength) {
  FakeRing& r = ring();
  const uint16_t a = r.next_desc();
  const uint64_t table = h.mem_.alloc(64);
  r.set_desc(a, table, 24, vu::kDescFlagIndirect, 0);
  expect_rejected(a, "indirect table length");
}

TEST_F(HostileChainTest, EmptyIndirectTable) {
  FakeRing& r = ring();
  const uint16_t a = r.next_desc();
  r.set_desc(a, h.mem_.alloc(16), 0, vu::kDescFlagIndirect, 0);
  expect_rejected(a, "indirect table length");
}

TEST(VhostUserProtocolTest, IndirectChainWithoutTheAckedFeatureIsRejected) {
  Harness h;
  ASSERT_TRUE(h.mem_.ok());
  ASSERT_NO_FATAL_FAILURE(h.negotiate(/*event_idx=*/true, /*indirect=*/false));
  ASSERT_NO_FATAL_FAILURE(h.init());
  FakeRing& r = *h.rings_[1];
  const uint64_t reply = h.mem_.alloc(4096), request = h.mem_.alloc(4096);
  const Bytes g = req::getattr(FUSE_ROOT_ID);
  std::memcpy(h.mem_.at(request), g.data(), g.size());
  const Buf bufs[] = {{request, static_cast<uint32_t>(g.size()), false}, {reply, 4096, true}};
  auto len = h.publish_raw(1, r.build(bufs, /*indirect=*/true));
  ASSERT_TRUE(len) << "the chain must come back";
  EXPECT_EQ(*len, 0u);
  EXPECT_TRUE(h.logged("without VIRTIO_F_INDIRECT_DESC"));
}

TEST_F(HostileChainTest, NestedIndirect) {
  FakeRing& r = ring();
  const uint16_t a = r.next_desc();
  const uint64_t table = h.mem_.alloc(32);
  vu::Desc inner{h.mem_.alloc(32), 32, vu::kDescFlagIndirect, 0};
  std::memcpy(h.mem_.at(table), &inner, sizeof(inner));
  r.set_desc(a, table, 16, vu::kDescFlagIndirect, 0);
  expect_rejected(a, "nested indirect");
}

TEST_F(HostileChainTest, IndirectTableOutsideMemory) {
  FakeRing& r = ring();
  const uint16_t a = r.next_desc();
  r.set_desc(a, 0x10, 64, vu::kDescFlagIndirect, 0);
  expect_rejected(a, "indirect table outside");
}

TEST_F(HostileChainTest, IndirectWithNextFlag) {
  FakeRing& r = ring();
  const uint16_t a = r.next_desc(), b = r.next_desc();
  r.set_desc(a, h.mem_.alloc(32), 32, vu::kDescFlagIndirect | vu::kDescFlagNext, b);
  r.set_desc(b, reply_, 64, vu::kDescFlagWrite, 0);
  expect_rejected(a, "indirect descriptor with the NEXT flag");
}

TEST_F(HostileChainTest, LoopInsideAnIndirectTable) {
  FakeRing& r = ring();
  const uint16_t a = r.next_desc();
  const uint64_t table = h.mem_.alloc(32);
  vu::Desc d0{request_, request_len_, vu::kDescFlagNext, 1};
  vu::Desc d1{request_, request_len_, vu::kDescFlagNext, 0};
  std::memcpy(h.mem_.at(table), &d0, 16);
  std::memcpy(h.mem_.at(table) + 16, &d1, 16);
  r.set_desc(a, table, 32, vu::kDescFlagIndirect, 0);
  expect_rejected(a, "loops or is longer");
}

TEST_F(HostileChainTest, TruncatedRequestGetsAnErrorReply) {
  // Well-formed chain, malformed FUSE request: the server answers with an error.
  Bytes g = req::getattr(FUSE_ROOT_ID);
  g.resize(sizeof(fuse_in_header) + 2);
  Reply r = h.call(1, g);
  EXPECT_TRUE(r.replied);
  EXPECT_NE(r.error(), 0);
  expect_good_chain_still_works();
}

TEST_F(HostileChainTest, AvailIndexTooFarAheadThenRepaired) {
  FakeRing& r = ring();
  const uint16_t good = r.avail_idx();
  r.set_avail_idx(static_cast<uint16_t>(good + kQueueSize + 7));
  r.kick();
  // Wait for the worker to see it, then repair the index and go on.
  for (int i = 0; i < 250 && !h.logged("more than a ring ahead"); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_TRUE(h.logged("more than a ring ahead"));
  r.set_avail_idx(good);
  expect_good_chain_still_works();
}

TEST(VhostUserProtocolTest, GetVringBaseStopsAndRestartResumes) {
  Harness h;
  ASSERT_TRUE(h.mem_.ok());
  ASSERT_NO_FATAL_FAILURE(h.negotiate());
  ASSERT_NO_FATAL_FAILURE(h.init());
  EXPECT_TRUE(h.call(1, req::getattr(FUSE_ROOT_ID)).ok());
  ASSERT_TRUE(h.fe_->send_state(Request::kGetVringBase, 1, 0));
  auto st = h.fe_->reply();
  ASSERT_TRUE(st && st->size() == sizeof(vu::VringState));
  vu::VringState s;
  std::memcpy(&s, st->data(), sizeof(s));
  EXPECT_EQ(s.index, 1u);
  EXPECT_EQ(s.num, 2u) << "INIT and GETATTR were consumed";
  EXPECT_FALSE(h.device_->running(1));
  EXPECT_FALSE(h.logged("kick fd unusable")) << "a stop is not a kick fd failure";
  // Restart as QEMU does after a stop: the ring goes on where it left off.
  ASSERT_TRUE(h.setup_ring(1, static_cast<uint16_t>(s.num)));
  EXPECT_TRUE(h.device_->running(1));
  EXPECT_TRUE(h.call(1, req::getattr(FUSE_ROOT_ID)).ok());
  // Ring messages before its kick fd wait for it; no start is tried (and refused).
  EXPECT_FALSE(h.logged("not started"));
}

TEST(VhostUserProtocolTest, RingWithKickButNoMemoryTableWaitsQuietly) {
  Harness h;
  ASSERT_TRUE(h.mem_.ok());
  FakeRing& r = *h.rings_[1];
  vu::VringAddr a{1,
                  0,
                  FakeGuestMemory::uva(r.desc_gpa()),
                  FakeGuestMemory::uva(r.used_gpa()),
                  FakeGuestMemory::uva(r.avail_gpa()),
                  0};
  const int kick = r.kick_fd();
  ASSERT_TRUE(h.fe_->send_state(Request::kSetVringNum, 1, r.size()));
  ASSERT_TRUE(h.fe_->send(Request::kSetVringAddr, &a, sizeof(a)));
  ASSERT_TRUE(h.fe_->send_u64(Request::kSetVringKick, 1, {&kick, 1}));
  // A reply to this means the messages before it were handled.
  ASSERT_TRUE(h.fe_->send(Request::kGetFeatures, nullptr, 0));
  ASSERT_TRUE(h.fe_->reply_u64());
  EXPECT_FALSE(h.device_->running(1));
  EXPECT_FALSE(h.logged("not started")) << "no start is tried before SET_MEM_TABLE";
}

TEST(VhostUserProtocolTest, MemTableReplacedWhileRunning) {
  Harness h;
  ASSERT_TRUE(h.mem_.ok());
  ASSERT_NO_FATAL_FAILURE(h.negotiate());
  ASSERT_NO_FATAL_FAILURE(h.init());
  ASSERT_TRUE(h.set_mem_table());
  EXPECT_TRUE(h.call(1, req::getattr(FUSE_ROOT_ID)).ok());
}

TEST(VhostUserProtocolTest, UnsupportedRequestWithNeedReplyIsRefused) {
  Harness h;
  ASSERT_NO_FATAL_FAILURE(h.negotiate());
  ASSERT_TRUE(h.fe_->send(Request::kGetConfig, "\0\0\0\0\0\0\0\0\0\0\0\0", 12, {}, true));
  auto nack = h.fe_->reply_u64();
  ASSERT_TRUE(nack);
  EXPECT_NE(*nack, 0u);
  // The connection goes on.
  ASSERT_TRUE(h.fe_->send(Request::kGetFeatures, nullptr, 0));
  EXPECT_TRUE(h.fe_->reply_u64());
}

// Out of fds, the kernel drops the fds a message carries (MSG_CTRUNC): the message
// is refused (REPLY_ACK nack), never the connection.
TEST(VhostUserProtocolTest, OutOfFdsRefusesTheMessageButKeepsTheConnection) {
  Harness h;
  ASSERT_NO_FATAL_FAILURE(h.negotiate());
  ASSERT_NO_FATAL_FAILURE(h.init());
  rlimit old{};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &old), 0);
  // dup() returns the lowest free fd: with the soft limit there, no fd can be added.
  const int probe = ::dup(0);
  ASSERT_GE(probe, 0);
  ::close(probe);
  rlimit low = old;
  low.rlim_cur = static_cast<rlim_t>(probe);
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &low), 0);
  // Queue 1, the one INIT went through: the test's guest buffers are shared by the
  // queues, and TSan cannot see the ordering the rings give between two workers.
  const int call = h.rings_[1]->call_fd();
  const bool sent = h.fe_->send_u64(Request::kSetVringCall, 1, {&call, 1}, true);
  const auto nack = h.fe_->reply_u64();
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &old), 0);
  ASSERT_TRUE(sent);
  ASSERT_TRUE(nack) << "the connection was closed";
  EXPECT_NE(*nack, 0u);
  EXPECT_TRUE(h.logged("fds")) << "the refusal is logged";
  // The connection goes on, and the queue still serves.
  ASSERT_TRUE(h.fe_->send(Request::kGetFeatures, nullptr, 0));
  EXPECT_TRUE(h.fe_->reply_u64());
  EXPECT_TRUE(h.call(1, req::getattr(FUSE_ROOT_ID)).ok());
}

TEST(VhostUserProtocolTest, RingOutsideMemoryLeavesQueueStoppedButConnectionUp) {
  Harness h;
  ASSERT_NO_FATAL_FAILURE(h.negotiate());
  vu::VringAddr a{1, 0, 0x1000, 0x2000, 0x3000, 0};
  ASSERT_TRUE(h.fe_->send(Request::kSetVringAddr, &a, sizeof(a), {}, true));
  auto ack = h.fe_->reply_u64();
  ASSERT_TRUE(ack);
  EXPECT_FALSE(h.device_->running(1));
  EXPECT_TRUE(h.logged("outside the memory table"));
  EXPECT_TRUE(h.device_->running(0));
}

// Each malformed message closes the connection cleanly.
struct Malformed {
  const char* name;
  std::function<void(Harness&)> send;
};

class MalformedMessageTest : public ::testing::TestWithParam<int> {};

std::vector<Malformed> malformed_cases() {
  auto state = [](Request r, uint32_t index, uint32_t num) {
    return [=](Harness& h) { h.fe_->send_state(r, index, num); };
  };
  return {
      {"bad version", [](Harness& h) { h.fe_->send_raw(1, 0x2, nullptr, 0); }},
      {"oversized payload",
       [](Harness& h) {
         std::vector<uint8_t> big(8192);
         h.fe_->send_raw(5, vu::kVersion, big.data(), static_cast<uint32_t>(big.size()));
       }},
      {"SET_VRING_NUM short",
       [](Harness& h) {
         uint32_t x = 1;
         h.fe_->send(Request::kSetVringNum, &x, sizeof(x));
       }},
      {"vring index out of range", state(Request::kSetVringNum, 200, 64)},
      {"queue size not a power of two", state(Request::kSetVringNum, 1, 100)},
      {"queue size too large", state(Request::kSetVringNum, 1, 65536)},
      {"vring base beyond 16 bits", state(Request::kSetVringBase, 1, 0x10000)},
      {"enable value 2", state(Request::kSetVringEnable, 1, 2)},
      {"features not offered",
       [](Harness& h) { h.fe_->send_u64(Request::kSetFeatures, 1ull << 40); }},
      {"kick without fd and without the no-fd flag",
       [](Harness& h) { h.fe_->send_u64(Request::kSetVringKick, 1); }},
      {"fd on a request that takes none",
       [](Harness& h) {
         const int fd = h.mem_.fd();
         h.fe_->send(Request::kSetOwner, nullptr, 0, {&fd, 1});
       }},
      {"mem table with fewer fds than regions",
       [](Harness& h) {
         struct {
           uint32_t n, pad;
           vu::MemRegion r[2];
         } t{2, 0, {h.mem_.region(), h.mem_.region()}};
         const int fd = h.mem_.fd();
         h.fe_->send(Request::kSetMemTable, &t, sizeof(t), {&fd, 1});
       }},
      {"mem region longer than its fd",
       [](Harness& h) {
         struct {
           uint32_t n, pad;
           vu::MemRegion r;
         } t{1, 0, h.mem_.region()};
         t.r.memory_size = uint64_t{1} << 40;
         const int fd = h.mem_.fd();
         h.fe_->send(Request::kSetMemTable, &t, sizeof(t), {&fd, 1});
       }},
      {"mem region wrapping",
       [](Harness& h) {
         struct {
           uint32_t n, pad;
           vu::MemRegion r;
         } t{1, 0, h.mem_.region()};
         t.r.guest_phys_addr = ~uint64_t{0} - 4096;
         const int fd = h.mem_.fd();
         h.fe_->send(Request::kSetMemTable, &t, sizeof(t), {&fd, 1});
       }},
      {"mem region fd is not a memory file",
       [](Harness& h) {
         struct {
           uint32_t n, pad;
           vu::MemRegion r;
         } t{1, 0, h.mem_.region()};
         const int fd = h.rings_[0]->kick_fd();
         h.fe_->send(Request::kSetMemTable, &t, sizeof(t), {&fd, 1});
       }},
      {"unknown request without need_reply",
       [](Harness& h) { h.fe_->send_raw(99, vu::kVersion, nullptr, 0); }},
      {"truncated payload then hang-up",
       [](Harness& h) {
         auto bytes = vu::encode(2, vu::kVersion, "\1\2\3\4\5\6\7\0", 8);
         bytes.resize(bytes.size() - 3);
         [[maybe_unused]] ssize_t n = ::send(h.fe_->sock(), bytes.data(), bytes.size(), 0);
         ::shutdown(h.fe_->sock(), SHUT_WR);
       }},
  };
}

TEST_P(MalformedMessageTest, ClosesTheConnection) {
  const Malformed c = malformed_cases()[static_cast<size_t>(GetParam())];
  SCOPED_TRACE(c.name);
  Harness h;
  ASSERT_TRUE(h.mem_.ok());
  ASSERT_NO_FATAL_FAILURE(h.negotiate());
  c.send(h);
  EXPECT_TRUE(h.fe_->closed_by_peer()) << c.name;
  EXPECT_EQ(h.wait_end(), Backend::End::kMalformed) << c.name;
  EXPECT_FALSE(h.device_->running(0));
  EXPECT_FALSE(h.device_->running(1));
}

INSTANTIATE_TEST_SUITE_P(Cases, MalformedMessageTest,
                         ::testing::Range(0, static_cast<int>(malformed_cases().size())));

TEST(VhostUserProtocolTest, ResetOwnerStopsEverything) {
  Harness h;
  ASSERT_NO_FATAL_FAILURE(h.negotiate());
  EXPECT_TRUE(h.device_->running(1));
  ASSERT_TRUE(h.fe_->send_u64(Request::kResetOwner, 0, {}, true));
  auto ack = h.fe_->reply_u64();
  ASSERT_TRUE(ack);
  EXPECT_FALSE(h.device_->running(1));
  EXPECT_EQ(h.backend_->memory(), nullptr);
}

TEST(VhostUserProtocolTest, AddAndRemoveMemRegion) {
  Harness h;
  ASSERT_NO_FATAL_FAILURE(h.negotiate());
  FakeGuestMemory extra(1 << 20);
  ASSERT_TRUE(extra.ok());
  struct {
    uint64_t pad;
    vu::MemRegion r;
  } m{0, {0x100000000ull, 1 << 20, 0x7f3400000000ull, 0}};
  const int fd = extra.fd();
  ASSERT_TRUE(h.fe_->send(Request::kAddMemReg, &m, sizeof(m), {&fd, 1}, true));
  auto ack = h.fe_->reply_u64();
  ASSERT_TRUE(ack && *ack == 0);
  ASSERT_NE(h.backend_->memory(), nullptr);
  EXPECT_EQ(h.backend_->memory()->size(), 2u);
  ASSERT_TRUE(h.fe_->send(Request::kRemMemReg, &m, sizeof(m), {}, true));
  ack = h.fe_->reply_u64();
  ASSERT_TRUE(ack && *ack == 0);
  EXPECT_EQ(h.backend_->memory()->size(), 1u);
  EXPECT_TRUE(h.device_->running(1));
}

// Several request queues served at once, each by its own worker.
TEST(VhostUserConcurrencyTest, RequestQueuesInParallel) {
  constexpr unsigned kQueues = 4;  // hiprio + 3 request queues
  Harness h(kQueues);
  ASSERT_TRUE(h.mem_.ok());
  ASSERT_NO_FATAL_FAILURE(h.negotiate());
  ASSERT_NO_FATAL_FAILURE(h.init());
  // Each guest thread gets its own slice of guest memory for buffers.
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  std::vector<uint64_t> slices;
  for (unsigned q = 1; q < kQueues; ++q) slices.push_back(h.mem_.alloc(2 << 20));
  for (unsigned q = 1; q < kQueues; ++q) {
    threads.emplace_back([&, q] {
      FakeRing& r = *h.rings_[q];
      const uint64_t base = slices[q - 1];
      auto roundtrip = [&](const Bytes& rq, uint32_t reply_len) -> Reply {
        std::memcpy(h.mem_.at(base), rq.data(), rq.size());
        const uint64_t out = base + ((rq.size() + 4095) / 4096) * 4096;
        std::memset(h.mem_.at(out), 0, reply_len);
        Buf bufs[] = {{base, static_cast<uint32_t>(rq.size()), false}, {out, reply_len, true}};
        r.publish(r.build(bufs));
        Reply rep;
        auto used = r.wait_used();
        if (!used || used->second < sizeof(fuse_out_header)) return rep;
        rep.replied = true;
        rep.size = used->second;
        std::memcpy(&rep.header, h.mem_.at(out), sizeof(rep.header));
        rep.payload.assign(h.mem_.at(out) + sizeof(fuse_out_header), h.mem_.at(out) + used->second);
        return rep;
      };
      const std::string name = "q" + std::to_string(q);
      Reply cr = roundtrip(create_req(name), 4096);
      auto e = cr.at<fuse_entry_out>(0);
      auto o = cr.at<fuse_open_out>(sizeof(fuse_entry_out));
      if (!cr.ok() || !e || !o) {
        ++failures;
        return;
      }
      for (int i = 0; i < 100; ++i) {
        const std::string d = name + ":" + std::to_string(i) + ";";
        if (!roundtrip(req::write(e->nodeid, o->fh, static_cast<uint64_t>(i) * 16, d), 4096).ok()) {
          ++failures;
        }
        Reply rd = roundtrip(req::read(e->nodeid, o->fh, static_cast<uint64_t>(i) * 16,
                                       static_cast<uint32_t>(d.size())),
                             4096);
        if (!rd.ok() || rd.payload_string() != d) ++failures;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_GE(h.device_->stats().chains.load(), 3u * 201u);
}

TEST(VhostUserProtocolTest, DisconnectEndsServe) {
  Harness h;
  ASSERT_NO_FATAL_FAILURE(h.negotiate());
  h.hang_up();
  EXPECT_EQ(h.wait_end(), Backend::End::kDisconnected);
  EXPECT_FALSE(h.device_->running(1));
}

TEST(VhostUserProtocolTest, ShutdownWakesServe) {
  Harness h;
  ASSERT_NO_FATAL_FAILURE(h.negotiate());
  h.backend_->shutdown();
  EXPECT_EQ(h.wait_end(), Backend::End::kShutdown);
}

}  // namespace
}  // namespace pfs::testing
