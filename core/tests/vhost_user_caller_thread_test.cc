// FsDevice with Serving::kCallerThread, driven directly: the queues are served on
// the test's thread, inside start_queue() and serve_kicks(), and nowhere else.
#include <dirent.h>
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "core/tests/scratch_dir.h"
#include "core/tests/served_tree.h"
#include "core/tests/vhost_user_frontend.h"
#include "core/transport/memory/request_builder.h"
#include "core/transport/vhost_user/fs_device.h"

namespace pfs::testing {
namespace {

namespace req = transport::memory::req;
using Serving = vu::FsDevice::Serving;

size_t thread_count() {
  size_t n = 0;
  DIR* d = ::opendir("/proc/self/task");
  if (d == nullptr) return 0;
  while (const dirent* e = ::readdir(d)) n += e->d_name[0] != '.';
  ::closedir(d);
  return n;
}

class CallerThreadTest : public ::testing::Test {
 protected:
  void SetUp() override {
    passthrough::Config cfg;
    cfg.root_dir = dir_.path();
    ASSERT_EQ(tree_.open(cfg), "");
    ASSERT_TRUE(mem_.ok());
    auto gm = std::make_shared<vu::GuestMemory>();
    std::string why;
    ASSERT_EQ(gm->add(mem_.region(), mem_.fd(), &why), kOk) << why;
    gmem_ = gm;
    request_ = mem_.alloc(4096);
    reply_ = mem_.alloc(4096);
  }

  std::unique_ptr<vu::FsDevice> device(Serving s) {
    vu::Logger log = [this](vu::Severity, std::string_view line) {
      std::lock_guard lock(log_mu_);
      log_.emplace_back(line);
    };
    return std::make_unique<vu::FsDevice>(*tree_.server, log, 2, s);
  }

  vu::QueueConfig config(int kick_fd) const {
    vu::QueueConfig c;
    c.mem = gmem_;
    c.size = ring_.size();
    c.addrs = {FakeGuestMemory::uva(ring_.desc_gpa()), FakeGuestMemory::uva(ring_.avail_gpa()),
               FakeGuestMemory::uva(ring_.used_gpa())};
    c.kick_fd = kick_fd;
    c.call_fd = ring_.call_fd();
    return c;
  }

  // Puts a GETATTR of the root in the available ring (and kicks).
  void publish_getattr() {
    const auto g = req::getattr(FUSE_ROOT_ID);
    std::memcpy(mem_.at(request_), g.data(), g.size());
    Buf bufs[] = {{request_, static_cast<uint32_t>(g.size()), false}, {reply_, 4096, true}};
    ring_.publish(ring_.build(bufs));
  }

  bool logged(std::string_view needle) {
    std::lock_guard lock(log_mu_);
    for (const auto& l : log_) {
      if (l.find(needle) != std::string::npos) return true;
    }
    return false;
  }

  ScratchDir dir_{"pfs-vu-caller"};
  ServedTree tree_;
  FakeGuestMemory mem_{1u << 20};
  FakeRing ring_{mem_, 8};
  std::shared_ptr<const vu::GuestMemory> gmem_;
  uint64_t request_ = 0, reply_ = 0;
  std::mutex log_mu_;
  std::vector<std::string> log_;
};

TEST_F(CallerThreadTest, StartServesWaitingChainsBeforeReturningAndStartsNoThread) {
  auto dev = device(Serving::kCallerThread);
  publish_getattr();
  const size_t threads = thread_count();
  ASSERT_EQ(dev->start_queue(1, config(ring_.kick_fd()), nullptr), kOk);
  EXPECT_EQ(thread_count(), threads);
  EXPECT_TRUE(dev->running(1));
  EXPECT_EQ(ring_.used_idx(), 1u) << "the waiting chain is answered inside start_queue";
  EXPECT_EQ(dev->stats().chains.load(), 1u);
  EXPECT_EQ(dev->stop_queue(1), std::optional<uint16_t>(1));
}

TEST_F(CallerThreadTest, KicksAreServedByServeKicksOnly) {
  auto dev = device(Serving::kCallerThread);
  ASSERT_EQ(dev->start_queue(1, config(ring_.kick_fd()), nullptr), kOk);
  std::vector<int> kicks;
  dev->kick_fds(kicks);
  EXPECT_EQ(kicks, std::vector<int>{ring_.kick_fd()});
  publish_getattr();
  EXPECT_EQ(ring_.used_idx(), 0u) << "nothing serves the ring between calls";
  dev->serve_kicks();
  EXPECT_EQ(ring_.used_idx(), 1u);
  // The kick was consumed: another call finds nothing to do (and does not block on
  // the blocking eventfd).
  dev->serve_kicks();
  EXPECT_EQ(dev->stats().chains.load(), 1u);
  publish_getattr();
  dev->serve_kicks();
  EXPECT_EQ(ring_.used_idx(), 2u);
  EXPECT_EQ(dev->stop_queue(1), std::optional<uint16_t>(2));
  kicks.clear();
  dev->kick_fds(kicks);
  EXPECT_TRUE(kicks.empty()) << "a stopped queue has no kick fd to poll";
}

TEST_F(CallerThreadTest, KickFdThatIsNotAnEventfdEndsServingOfItsQueue) {
  auto dev = device(Serving::kCallerThread);
  // An empty memfd: always readable, and a read gives 0 bytes.
  ScopedFd not_eventfd(::memfd_create("not-an-eventfd", MFD_CLOEXEC));
  ASSERT_TRUE(not_eventfd.valid());
  ASSERT_EQ(dev->start_queue(1, config(not_eventfd.get()), nullptr), kOk);
  dev->serve_kicks();
  EXPECT_TRUE(logged("kick fd is not an eventfd"));
  std::vector<int> kicks;
  dev->kick_fds(kicks);
  EXPECT_TRUE(kicks.empty()) << "polling a dead kick fd would spin Backend::serve";
  EXPECT_TRUE(dev->running(1)) << "as with a worker: stopped only by the back-end";
  publish_getattr();
  dev->serve_kicks();
  EXPECT_EQ(ring_.used_idx(), 0u);
  EXPECT_EQ(dev->stop_queue(1), std::optional<uint16_t>(0));
}

TEST_F(CallerThreadTest, WorkerThreadsModeLeavesKicksToItsWorkers) {
  auto dev = device(Serving::kWorkerThreads);
  ASSERT_EQ(dev->start_queue(1, config(ring_.kick_fd()), nullptr), kOk);
  std::vector<int> kicks;
  dev->kick_fds(kicks);
  EXPECT_TRUE(kicks.empty());
  publish_getattr();
  auto used = ring_.wait_used();
  ASSERT_TRUE(used) << "the worker answers without serve_kicks()";
  EXPECT_GT(used->second, 0u);
  dev.reset();  // joins the worker
}

}  // namespace
}  // namespace pfs::testing
