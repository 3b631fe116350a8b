// The /dev/fuse transport with the real kernel client: a mount served by several
// workers on cloned fds while test threads use it concurrently. Runs under TSan too
// (label "concurrency"). Needs root and /dev/fuse; without them it fails loudly.
#include "core/transport/devfuse/devfuse_session.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/fuse.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "core/fuse/server.h"
#include "core/passthrough/passthrough_fs.h"
#include "core/tests/scratch_dir.h"
#include "core/transport/devfuse/fuse_mount.h"
#include "core/transport/devfuse/session_recorder.h"

namespace pfs::transport::devfuse {
namespace {

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class DevFuseTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(::geteuid(), 0u) << "these tests mount a FUSE file system: run them as root";
    ASSERT_EQ(::access("/dev/fuse", R_OK | W_OK), 0)
        << "/dev/fuse is missing: load the fuse module (modprobe fuse)";
    ASSERT_TRUE(share_.ok() && mnt_.ok());
    passthrough::Config cfg;
    cfg.root_dir = share_.path();
    auto fs = passthrough::PassthroughFs::create(cfg);
    ASSERT_TRUE(fs.ok());
    fs_ = std::move(*fs);
    server_ = std::make_unique<fuse::Server>(*fs_);
  }
  void TearDown() override {
    if (session_) session_->stop();
    if (mount_.mounted()) mount_.unmount();
  }

  void mount_and_serve(unsigned threads, SessionRecorder* recorder = nullptr) {
    MountOptions opts;
    opts.mountpoint = mnt_.path();
    std::string why;
    auto m = FuseMount::mount(opts, &why);
    ASSERT_TRUE(m.ok()) << why;
    mount_ = std::move(*m);
    session_ = std::make_unique<DevFuseSession>(*server_, mount_.fd(), recorder);
    ASSERT_EQ(session_->start(threads, [this] { ended_.store(true); }), kOk);
  }

  bool wait_for(const std::atomic<bool>& flag) {
    for (int i = 0; i < 500 && !flag.load(); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return flag.load();
  }

  testing::ScratchDir share_{"pfs-devfuse-share"};
  testing::ScratchDir mnt_{"pfs-devfuse-mnt"};
  std::unique_ptr<passthrough::PassthroughFs> fs_;
  std::unique_ptr<fuse::Server> server_;
  FuseMount mount_;
  std::unique_ptr<DevFuseSession> session_;
  std::atomic<bool> ended_{false};
};

TEST_F(DevFuseTest, ConcurrentClientsThroughClonedWorkers) {
  mount_and_serve(4);
  constexpr int kThreads = 4;
  constexpr int kFiles = 40;
  std::atomic<int> failures{0};
  std::vector<std::thread> clients;
  for (int t = 0; t < kThreads; ++t) {
    clients.emplace_back([&, t] {
      const std::string dir = mnt_ / ("t" + std::to_string(t));
      if (::mkdir(dir.c_str(), 0755) != 0) ++failures;
      for (int i = 0; i < kFiles; ++i) {
        const std::string f = dir + "/f" + std::to_string(i);
        const std::string data = "thread " + std::to_string(t) + " file " + std::to_string(i);
        { std::ofstream(f, std::ios::binary) << data; }
        if (slurp(f) != data) ++failures;
        if (i % 2 == 0 && ::rename(f.c_str(), (f + ".even").c_str()) != 0) ++failures;
        if (i % 5 == 0 && ::unlink((i % 2 == 0 ? f + ".even" : f).c_str()) != 0) ++failures;
      }
    });
  }
  for (auto& c : clients) c.join();
  EXPECT_EQ(failures.load(), 0);
  for (int t = 0; t < kThreads; ++t) {
    for (int i = 0; i < kFiles; ++i) {
      const std::string host = share_ / ("t" + std::to_string(t) + "/f" + std::to_string(i) +
                                         (i % 2 == 0 ? ".even" : ""));
      const bool should_exist = i % 5 != 0;
      EXPECT_EQ(::access(host.c_str(), F_OK) == 0, should_exist) << host;
      if (should_exist) {
        EXPECT_EQ(slurp(host), "thread " + std::to_string(t) + " file " + std::to_string(i));
      }
    }
  }
  EXPECT_GT(session_->stats().requests.load(), uint64_t{kThreads * kFiles});
  EXPECT_EQ(session_->stats().read_errors.load(), 0u);
  EXPECT_EQ(session_->stats().write_errors.load(), 0u);
  EXPECT_TRUE(mount_.unmount());
  EXPECT_TRUE(wait_for(ended_)) << "unmounting ends the session (ENODEV)";
  EXPECT_EQ(fs_->inodes().check_invariants(), "");
}

TEST_F(DevFuseTest, UnmountFromOutsideEndsTheSession) {
  mount_and_serve(2);
  EXPECT_EQ(::access((mnt_ / ".").c_str(), F_OK), 0);
  ASSERT_EQ(::umount2(mnt_.path().c_str(), 0), 0) << std::strerror(errno);
  EXPECT_TRUE(wait_for(ended_));
  EXPECT_FALSE(mount_.unmount() && mount_.mounted());
}

TEST_F(DevFuseTest, RecorderWritesAFramedStreamStartingWithInit) {
  testing::ScratchDir rec_dir("pfs-devfuse-rec");
  auto rec = SessionRecorder::create(rec_dir.path());
  ASSERT_TRUE(rec.ok());
  mount_and_serve(2, rec->get());
  std::ofstream(mnt_ / "hello") << "world";
  EXPECT_EQ(slurp(mnt_ / "hello"), "world");
  session_->stop();
  mount_.unmount();
  const std::string stream = slurp((*rec)->path());
  ASSERT_GE(stream.size(), sizeof(fuse_in_header));
  size_t off = 0;
  size_t count = 0;
  uint32_t first_opcode = 0;
  while (off + sizeof(fuse_in_header) <= stream.size()) {
    fuse_in_header h{};
    std::memcpy(&h, stream.data() + off, sizeof h);
    ASSERT_GE(h.len, sizeof h);
    ASSERT_LE(off + h.len, stream.size());
    if (count == 0) first_opcode = h.opcode;
    off += h.len;
    ++count;
  }
  EXPECT_EQ(off, stream.size()) << "requests are framed exactly by their len";
  EXPECT_EQ(first_opcode, static_cast<uint32_t>(FUSE_INIT));
  EXPECT_EQ(count, (*rec)->requests());
  EXPECT_GT(count, 3u);
}

// The mount's option string as /proc/self/mountinfo shows it ("" if not mounted).
std::string super_options_of(const std::string& mountpoint) {
  std::istringstream in(slurp("/proc/self/mountinfo"));
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream f(line);
    std::string id, parent, dev, root, point;
    f >> id >> parent >> dev >> root >> point;
    if (point != mountpoint) continue;
    const auto dash = line.find(" - ");
    if (dash == std::string::npos) continue;
    std::istringstream post(line.substr(dash + 3));
    std::string type, source, opts;
    post >> type >> source >> opts;
    return opts;
  }
  return "";
}

TEST(FuseMountTest, AllowOtherAlwaysBringsDefaultPermissions) {
  ASSERT_EQ(::geteuid(), 0u) << "mounts a FUSE file system: run as root";
  testing::ScratchDir mnt("pfs-devfuse-allow-other");
  ASSERT_TRUE(mnt.ok());
  for (const bool allow_other : {false, true}) {
    MountOptions opts;
    opts.mountpoint = mnt.path();
    opts.allow_other = allow_other;
    opts.default_permissions = false;  // asked for off: allow_other turns it on anyway
    std::string why;
    auto m = FuseMount::mount(opts, &why);
    ASSERT_TRUE(m.ok()) << why;
    const std::string got = super_options_of(mnt.path());
    EXPECT_EQ(got.find("allow_other") != std::string::npos, allow_other) << got;
    EXPECT_EQ(got.find("default_permissions") != std::string::npos, allow_other) << got;
    EXPECT_TRUE(m->unmount());
  }
  EXPECT_FALSE(MountOptions{}.allow_other) << "other users are opt-in";
}

TEST(FuseMountTest, RefusesMissingAndBusyMountpoints) {
  std::string why;
  MountOptions opts;
  opts.mountpoint = "/nonexistent/pfsd-mnt";
  auto missing = FuseMount::mount(opts, &why);
  EXPECT_EQ(missing.error(), ENOENT);
  EXPECT_NE(why.find("/nonexistent/pfsd-mnt"), std::string::npos);
  opts.mountpoint = "/proc";
  auto busy = FuseMount::mount(opts, &why);
  EXPECT_EQ(busy.error(), EBUSY);
  EXPECT_NE(why.find("already a mount point"), std::string::npos) << why;
}

}  // namespace
}  // namespace pfs::transport::devfuse
