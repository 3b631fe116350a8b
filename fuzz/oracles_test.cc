// Every oracle of the fuzz targets must be able to fail: each test plants one
// violation and expects the oracle's abort (death tests).
#include "fuzz/oracles.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/fuse.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "core/fuse/server.h"
#include "core/passthrough/handle_table.h"
#include "core/passthrough/inode_table.h"
#include "core/passthrough/passthrough_fs.h"
#include "core/passthrough/scoped_fd.h"
#include "core/transport/memory/request_builder.h"
#include "core/transport/memory/session.h"
#include "fuzz/fault_mode.h"
#include "fuzz/guarded_buffer.h"
#include "fuzz/plausible_fs.h"
#include "fuzz/scratch_area.h"
#include "fuzz/table_oracle.h"
#include "fuzz/vhost_reply_stream.h"

namespace pfs::fuzz {
namespace {

bool set_old_times(const std::string& path) {
  timespec times[2];
  times[0] = times[1] = timespec{1, 0};
  return ::utimensat(AT_FDCWD, path.c_str(), times, AT_SYMLINK_NOFOLLOW) == 0;
}

std::vector<uint8_t> reply_bytes(uint32_t len, int32_t error, uint64_t unique, size_t size) {
  std::vector<uint8_t> out(size, 0);
  const fuse_out_header oh{len, error, unique};
  std::memcpy(out.data(), &oh, sizeof(oh));
  return out;
}

RequestInfo request(uint32_t opcode, uint64_t unique) {
  RequestInfo info;
  info.has_header = true;
  info.opcode = opcode;
  info.unique = unique;
  return info;
}

TEST(ReplyOracle, AcceptsWellFormedReplies) {
  const auto ok = reply_bytes(sizeof(fuse_out_header) + 8, 0, 7, sizeof(fuse_out_header) + 8);
  check_reply(request(FUSE_GETATTR, 7), ok.size(), ok.size(), ok);
  const auto err = reply_bytes(sizeof(fuse_out_header), -ENOENT, 7, sizeof(fuse_out_header));
  check_reply(request(FUSE_LOOKUP, 7), err.size(), err.size(), err);
  check_reply(request(FUSE_FORGET, 7), 0, 0, {});
}

TEST(ReplyOracleDeathTest, FiresOnEachMalformedReply) {
  const size_t h = sizeof(fuse_out_header);
  const auto good = reply_bytes(h + 8, 0, 7, h + 8);
  EXPECT_DEATH(check_reply(request(FUSE_GETATTR, 7), h + 8, h, good), "ORACLE FAILURE: .*writer");
  EXPECT_DEATH(check_reply(request(FUSE_FORGET, 7), h + 8, h + 8, good), "FORGET got a reply");
  const auto short_reply = reply_bytes(0, 0, 7, h);
  EXPECT_DEATH(check_reply(request(FUSE_GETATTR, 7), 4, 4, short_reply), "shorter than");
  const auto bad_len = reply_bytes(h + 4, 0, 7, h + 8);
  EXPECT_DEATH(check_reply(request(FUSE_GETATTR, 7), h + 8, h + 8, bad_len), "out header len");
  const auto positive = reply_bytes(h, 5, 7, h);
  EXPECT_DEATH(check_reply(request(FUSE_GETATTR, 7), h, h, positive), "not 0 or a negative");
  const auto error_payload = reply_bytes(h + 8, -EIO, 7, h + 8);
  EXPECT_DEATH(check_reply(request(FUSE_GETATTR, 7), h + 8, h + 8, error_payload),
               "carries 8 payload bytes");
  EXPECT_DEATH(check_reply(request(FUSE_GETATTR, 8), h + 8, h + 8, good), "reply unique 7");
}

// The baselines are taken inside the death statements: the child has the
// death test's own pipe open besides the parent's fds.
TEST(FdOracleDeathTest, FiresOnALeakAndOnAClosedFd) {
  FdBaseline fds;
  fds.take();
  fds.check("with nothing opened");
  EXPECT_DEATH(
      {
        FdBaseline in_child;
        in_child.take();
        (void)::open("/dev/null", O_RDONLY);
        in_child.check("after the planted leak");
      },
      "an fd leaked");
  const int fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  EXPECT_DEATH(
      {
        FdBaseline in_child;
        in_child.take();
        ::close(fd);
        in_child.check("after the planted close");
      },
      "an fd of the process was closed");
  ::close(fd);
}

TEST(FdOracle, CountsEveryOpenFd) {
  const size_t before = count_open_fds();
  std::vector<ScopedFd> opened;
  for (int i = 0; i < 300; ++i) opened.emplace_back(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  EXPECT_EQ(count_open_fds(), before + 300);  // more than one getdents buffer's worth
  opened.clear();
  EXPECT_EQ(count_open_fds(), before);
}

TEST(InodeOracleDeathTest, FiresOnAnInconsistentTable) {
  passthrough::InodeTable table;
  check_inode_table(table, FUSE_LOOKUP);  // empty is consistent
  ScopedFd fd(::open("/", O_PATH | O_CLOEXEC));
  struct stat st {};
  ASSERT_EQ(::fstat(fd.get(), &st), 0);
  table.reset_with_root(std::move(fd), st);
  check_inode_table(table, FUSE_LOOKUP);
  ScopedFd tmp(::open("/tmp", O_PATH | O_CLOEXEC));
  struct stat tmp_st {};
  ASSERT_EQ(::fstat(tmp.get(), &tmp_st), 0);
  const fuse::Inode a = table.add_or_ref(std::move(tmp), tmp_st);
  ASSERT_NE(a, passthrough::kNoInode);
  check_inode_table(table, FUSE_LOOKUP);
  // An entry kept with no reference: what a forget that skipped its removal leaves.
  table.find(a)->refcount.store(0);
  EXPECT_DEATH(check_inode_table(table, FUSE_LOOKUP),
               "inode table inconsistent after opcode 1: inode [0-9]+ kept with refcount 0");
}

// Each planted change to the canary area fires the canary oracle, through the
// stamp shortcut and through the walk.
class CanaryOracleDeathTest : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override {
    if (GetParam()) ::setenv("PFS_FUZZ_FULL_RESET", "1", 1);
    area_ = std::make_unique<ScratchArea>();
    ::unsetenv("PFS_FUZZ_FULL_RESET");
    if (!GetParam() && !area_->incremental()) {
      std::fprintf(stderr,
                   "WARNING: change times are coarse here: the canary stamp shortcut is "
                   "off, only the walk is tested\n");
    }
    area_->reset();
    area_->check_canary();
  }
  std::string at(const char* rel) const { return area_->canary() + "/" + rel; }
  std::unique_ptr<ScratchArea> area_;
};

TEST_P(CanaryOracleDeathTest, ChownFires) {
  EXPECT_DEATH(
      {
        if (::lchown(at("sub/deep").c_str(), 1000, 1000) != 0) std::abort();
        area_->check_canary();
      },
      "ORACLE FAILURE: the canary");
}

TEST_P(CanaryOracleDeathTest, ChmodFires) {
  EXPECT_DEATH(
      {
        if (::chmod(at("sub").c_str(), 0777) != 0) std::abort();
        area_->check_canary();
      },
      "ORACLE FAILURE: the canary");
}

TEST_P(CanaryOracleDeathTest, ContentChangeOfTheSameSizeFires) {
  EXPECT_DEATH(
      {
        const int fd = ::open(at("secret").c_str(), O_WRONLY | O_CLOEXEC);
        if (fd < 0 || ::pwrite(fd, "C", 1, 0) != 1) std::abort();
        ::close(fd);
        area_->check_canary();
      },
      "ORACLE FAILURE: the canary");
}

TEST_P(CanaryOracleDeathTest, XattrChangeFires) {
  EXPECT_DEATH(
      {
        if (::setxattr(at("secret").c_str(), "user.canary", "2", 1, 0) != 0) std::abort();
        area_->check_canary();
      },
      "ORACLE FAILURE: the canary");
}

TEST_P(CanaryOracleDeathTest, TimeChangeFires) {
  EXPECT_DEATH(
      {
        if (!set_old_times(at("sub/deep"))) std::abort();
        area_->check_canary();
      },
      "ORACLE FAILURE: the canary");
}

TEST_P(CanaryOracleDeathTest, NameAddedBesideTheRootFires) {
  EXPECT_DEATH(
      {
        const std::string out = area_->root() + "/../escaped";
        if (::mkdir(out.c_str(), 0700) != 0) std::abort();
        area_->check_canary();
      },
      "ORACLE FAILURE: the canary");
}

TEST_P(CanaryOracleDeathTest, LinkAddedAndRemovedFires) {
  EXPECT_DEATH(
      {
        // Leaves every name and mode as it was; only the link count went up and down.
        const std::string hl = area_->canary() + "/hl";
        if (::link(at("secret").c_str(), hl.c_str()) != 0 || ::unlink(hl.c_str()) != 0) {
          std::abort();
        }
        area_->check_canary();
      },
      "ORACLE FAILURE: the canary");
}

INSTANTIATE_TEST_SUITE_P(StampsAndWalk, CanaryOracleDeathTest, ::testing::Values(false, true),
                         [](const auto& p) { return p.param ? "Walk" : "Stamps"; });

#ifdef PFS_FUZZ_ASAN
TEST(GuardedBufferDeathTest, AReadPastTheLiveReplyIsCaught) {
  GuardedBuffer space;
  std::span<uint8_t> buf = space.prepare(1 << 20);
  std::memset(buf.data(), 1, 64);
  const std::span<const uint8_t> reply = space.seal(16);
  volatile const uint8_t* p = reply.data();
  EXPECT_EQ(p[15], 1);
  EXPECT_DEATH((void)p[16], "use-after-poison");
  // The next request may write anywhere again.
  buf = space.prepare(1 << 20);
  std::memset(buf.data(), 2, 4096);
}
#else
TEST(GuardedBuffer, KeepsItsBufferAcrossRequests) {
  GuardedBuffer space;
  const std::span<uint8_t> first = space.prepare(1 << 20);
  (void)space.seal(16);
  EXPECT_EQ(space.prepare(1 << 20).data(), first.data());
}
#endif

// A connected unix stream socket pair (both invalid if socketpair failed).
std::pair<ScopedFd, ScopedFd> socket_pair() {
  int sv[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) return {};
  return {ScopedFd(sv[0]), ScopedFd(sv[1])};
}

std::vector<uint8_t> vhost_reply(uint32_t request, uint32_t flags, std::vector<uint8_t> payload) {
  const uint32_t size = static_cast<uint32_t>(payload.size());
  std::vector<uint8_t> out(12 + payload.size());
  std::memcpy(out.data(), &request, 4);
  std::memcpy(out.data() + 4, &flags, 4);
  std::memcpy(out.data() + 8, &size, 4);
  std::copy(payload.begin(), payload.end(), out.begin() + 12);
  return out;
}

TEST(VhostReplyOracle, AcceptsRepliesHoweverTheyAreSplit) {
  std::vector<uint8_t> stream;
  for (uint32_t r = 1; r <= 3; ++r) {
    const auto one = vhost_reply(r, 0x5, std::vector<uint8_t>(8 * r, 0xff));
    stream.insert(stream.end(), one.begin(), one.end());
  }
  for (size_t cut = 1; cut < stream.size(); ++cut) {
    VhostReplyStream s;
    s.feed(std::span(stream).first(cut));
    s.feed(std::span(stream).subspan(cut));
    s.finish();
  }
  VhostReplyStream s;
  for (uint8_t b : stream) s.feed({&b, 1});
  s.finish();
}

TEST(VhostReplyOracleDeathTest, FiresOnAMalformedOrUnfinishedReply) {
  auto feed = [](const std::vector<uint8_t>& bytes) {
    VhostReplyStream s;
    s.feed(bytes);
    s.finish();
  };
  EXPECT_DEATH(feed(vhost_reply(1, 0x1, {0, 0, 0, 0, 0, 0, 0, 0})), "malformed reply header");
  EXPECT_DEATH(feed(vhost_reply(1, 0x6, {0, 0, 0, 0, 0, 0, 0, 0})), "malformed reply header");
  EXPECT_DEATH(feed(vhost_reply(1, 0x5, std::vector<uint8_t>(65))), "malformed reply header");
  auto cut = vhost_reply(1, 0x5, {0, 0, 0, 0, 0, 0, 0, 0});
  cut.pop_back();
  EXPECT_DEATH(feed(cut), "last reply is incomplete");
  // A good reply, then one whose header starts where the first one's payload
  // would be if parsing restarted at every read: caught across the split.
  std::vector<uint8_t> two = vhost_reply(1, 0x5, {0, 0, 0, 0, 0, 0, 0, 0});
  two.resize(two.size() + 12);
  const uint32_t bad_flags = 0x1;
  std::memcpy(two.data() + 20 + 4, &bad_flags, 4);
  EXPECT_DEATH(
      {
        VhostReplyStream s;
        s.feed(std::span(two).first(14));
        s.feed(std::span(two).subspan(14));
      },
      "malformed reply header");
}

// drain() reads the socket until it is empty and keeps a partial reply for later.
TEST(VhostReplyOracle, DrainReadsTheSocket) {
  auto [a, b] = socket_pair();
  ASSERT_TRUE(a.valid() && b.valid());
  const auto one = vhost_reply(3, 0x5, {1, 2, 3, 4, 5, 6, 7, 8});
  VhostReplyStream s;
  ASSERT_EQ(::send(b.get(), one.data(), 15, 0), 15);
  s.drain(a.get());
  ASSERT_EQ(::send(b.get(), one.data() + 15, one.size() - 15, 0),
            static_cast<ssize_t>(one.size() - 15));
  s.drain(a.get());
  s.finish();
  const auto bad = vhost_reply(3, 0x4, {});
  ASSERT_EQ(::send(b.get(), bad.data(), bad.size(), 0), static_cast<ssize_t>(bad.size()));
  EXPECT_DEATH(s.drain(a.get()), "malformed reply header");
}

// --- The table oracle (table_oracle.h) ------------------------------------------

// A reply of `error` with `payload` after its header.
template <class T>
std::vector<uint8_t> reply_with(const T& payload, int32_t error = 0) {
  std::vector<uint8_t> out = reply_bytes(sizeof(fuse_out_header) + sizeof(T), error, 1,
                                         sizeof(fuse_out_header) + sizeof(T));
  std::memcpy(out.data() + sizeof(fuse_out_header), &payload, sizeof(T));
  return out;
}

fuse_entry_out entry(uint64_t nodeid) {
  fuse_entry_out e{};
  e.nodeid = nodeid;
  return e;
}

fuse_open_out opened(uint64_t fh) {
  fuse_open_out o{};
  o.fh = fh;
  return o;
}

constexpr size_t kMaxRequest = 1 << 20;
namespace req = transport::memory::req;

// Real tables, driven as PassthroughFs drives them, beside the model.
class TableOracleTest : public ::testing::Test {
 protected:
  void SetUp() override {
    inodes_.reset_with_root(path_fd("/"), stat_of("/"));
    model_.learn(true, req::init(transport::memory::kLinuxInitFlags), reply_with(fuse_init_out{}),
                 kMaxRequest);
    model_.check(inodes_, handles_, FUSE_INIT);
  }
  static ScopedFd path_fd(const char* path) { return ScopedFd(::open(path, O_PATH | O_CLOEXEC)); }
  static struct stat stat_of(const char* path) {
    struct stat st {};
    EXPECT_EQ(::stat(path, &st), 0);
    return st;
  }
  // The table takes a reference on `path` and the model sees a LOOKUP reply for it.
  fuse::Inode lookup(const char* path) {
    const fuse::Inode i = inodes_.add_or_ref(path_fd(path), stat_of(path));
    model_.learn(true, req::lookup(1, "x"), reply_with(entry(i)), kMaxRequest);
    model_.check(inodes_, handles_, FUSE_LOOKUP);
    return i;
  }
  passthrough::InodeTable inodes_;
  passthrough::HandleTable handles_;
  TableModel model_;
};

using TableOracleDeathTest = TableOracleTest;

TEST_F(TableOracleTest, FollowsLookupsForgetsHandlesAndDestroy) {
  const fuse::Inode tmp = lookup("/tmp");
  EXPECT_EQ(lookup("/tmp"), tmp);
  const fuse::Inode dev = lookup("/dev");
  inodes_.forget(tmp, 1);
  model_.learn(true, req::forget(tmp, 1), {}, kMaxRequest);
  model_.check(inodes_, handles_, FUSE_FORGET);
  const std::pair<fuse::Inode, uint64_t> both[] = {{tmp, 5}, {dev, 1}};
  inodes_.forget_many(both);
  model_.learn(true, req::batch_forget(both), {}, kMaxRequest);
  model_.check(inodes_, handles_, FUSE_BATCH_FORGET);
  // A FORGET the server drops (shorter than fuse_forget_in) changes nothing.
  auto short_forget = req::forget(1, 2);
  short_forget.resize(short_forget.size() - 8);
  const uint32_t len = static_cast<uint32_t>(short_forget.size());
  std::memcpy(short_forget.data(), &len, sizeof(len));
  model_.learn(true, short_forget, {}, kMaxRequest);
  model_.check_all(inodes_, handles_);

  const fuse::Handle fh = handles_.insert(1, path_fd("/"));
  model_.learn(true, req::opendir(1), reply_with(opened(fh)), kMaxRequest);
  model_.check(inodes_, handles_, FUSE_OPENDIR);
  ASSERT_TRUE(handles_.remove(fh, 1));
  model_.learn(true, req::releasedir(1, fh), reply_bytes(16, 0, 1, 16), kMaxRequest);
  model_.check_all(inodes_, handles_);

  lookup("/tmp");
  inodes_.clear();
  model_.learn(false, req::destroy(), reply_bytes(16, 0, 1, 16), kMaxRequest);
  model_.check_all(inodes_, handles_);
}

TEST_F(TableOracleDeathTest, FiresOnAReferenceTheClientWasNotHanded) {
  const fuse::Inode tmp = lookup("/tmp");
  inodes_.add_or_ref(path_fd("/tmp"), stat_of("/tmp"));  // no reply tells the client
  EXPECT_DEATH(model_.check_all(inodes_, handles_),
               "inode [0-9]+ has refcount 2, the client holds 1");
  // The same through the request that named it.
  EXPECT_DEATH(lookup("/tmp"), "inode [0-9]+ has refcount 3, the client holds 2");
  (void)tmp;
}

TEST_F(TableOracleDeathTest, FiresOnAnEntryTheClientNeverSaw) {
  lookup("/tmp");
  inodes_.add_or_ref(path_fd("/dev"), stat_of("/dev"));
  EXPECT_DEATH(model_.check(inodes_, handles_, FUSE_GETATTR),
               "inode table holds 3 inodes, the client was handed 2");
}

TEST_F(TableOracleDeathTest, FiresOnAForgetTheTableIgnored) {
  const fuse::Inode tmp = lookup("/tmp");
  lookup("/tmp");
  model_.learn(true, req::forget(tmp, 1), {}, kMaxRequest);
  EXPECT_DEATH(model_.check(inodes_, handles_, FUSE_FORGET),
               "inode [0-9]+ has refcount 2, the client holds 1");
}

TEST_F(TableOracleDeathTest, FiresOnADestroyThatKeepsEntries) {
  lookup("/tmp");
  model_.learn(false, req::destroy(), reply_bytes(16, 0, 1, 16), kMaxRequest);
  EXPECT_DEATH(model_.check(inodes_, handles_, FUSE_DESTROY),
               "inode table holds 2 inodes, the client was handed 0");
}

TEST_F(TableOracleDeathTest, FiresOnALeakedOrUnknownHandle) {
  handles_.insert(1, path_fd("/"));  // no reply handed it out
  EXPECT_DEATH(model_.check(inodes_, handles_, FUSE_OPEN),
               "handle table holds 1 handles, the client has 0 open");
  EXPECT_DEATH(model_.learn(true, req::release(1, 7), reply_bytes(16, 0, 1, 16), kMaxRequest),
               "RELEASE of handle 7 succeeded, but it is not open");
}

// Writeback: the file system's mode must be what INIT granted. Planted: the
// server's INIT granted it to one file system; another, never initialised, is off.
TEST(WritebackOracleDeathTest, FiresWhenTheFileSystemDisagreesWithInit) {
  char dir[] = "/tmp/pfs-writeback-XXXXXX";
  ASSERT_NE(::mkdtemp(dir), nullptr);
  passthrough::Config cfg;
  cfg.root_dir = dir;
  cfg.writeback = true;
  auto granted = passthrough::PassthroughFs::create(cfg);
  auto other = passthrough::PassthroughFs::create(cfg);
  ASSERT_TRUE(granted.ok() && other.ok());
  fuse::Server server(**granted);
  transport::memory::Session session(server);
  session.init(transport::memory::kLinuxInitFlags | FUSE_WRITEBACK_CACHE);
  ASSERT_NE(server.negotiated_flags() & FUSE_WRITEBACK_CACHE, 0u);
  check_writeback(server, **granted);
  EXPECT_DEATH(check_writeback(server, **other), "writeback: the file system has it off");
  ::rmdir(dir);
}

// A thread left with a guest's gid (what a ScopedCredentials that forgot its
// restore leaves) fires the thread-ids oracle.
TEST(ThreadIdsOracleDeathTest, FiresOnAnIdLeftBehind) {
  ThreadIds ids;
  ids.take();
  ids.check("unchanged");
  EXPECT_DEATH(
      {
        ThreadIds in_child;
        in_child.take();
        if (::syscall(SYS_setresgid, -1L, 4321L, -1L) != 0) std::abort();
        in_child.check("after the planted setresgid");
      },
      "thread ids [0-9]+/4321 after the planted setresgid, baseline");
}

// One drain() takes every reply, however many sends they came in (it stops at the
// first short read): the last one, malformed, is seen.
TEST(VhostReplyOracleDeathTest, DrainTakesEveryReplyQueued) {
  auto [a, b] = socket_pair();
  ASSERT_TRUE(a.valid() && b.valid());
  const auto one = vhost_reply(1, 0x5, {1, 2, 3, 4, 5, 6, 7, 8});
  for (int i = 0; i < 100; ++i) {
    ASSERT_EQ(::send(b.get(), one.data(), one.size(), 0), static_cast<ssize_t>(one.size()));
  }
  const auto bad = vhost_reply(1, 0x4, {});
  ASSERT_EQ(::send(b.get(), bad.data(), bad.size(), 0), static_cast<ssize_t>(bad.size()));
  VhostReplyStream s;
  EXPECT_DEATH(s.drain(a.get()), "malformed reply header");
}

namespace vu = transport::vhost_user;

// A back-end and its device, and a way to run a queue on it.
struct VhostRig {
  PlausibleFs fs;
  fuse::Server server{fs};
  vu::FsDevice device{server, nullptr, vu::FsDevice::kDefaultMaxQueues,
                      vu::FsDevice::Serving::kCallerThread};
  vu::Backend backend{device, nullptr};
  ScopedFd region{::memfd_create("oracles-test", MFD_CLOEXEC)};
  ScopedFd kick{::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)};

  // Acks `features` with a SET_FEATURES message.
  void ack(uint64_t features) {
    auto [a, b] = socket_pair();
    ASSERT_TRUE(a.valid() && b.valid());
    const auto m = vu::encode(static_cast<uint32_t>(vu::Request::kSetFeatures), vu::kVersion,
                              &features, sizeof(features));
    ASSERT_EQ(::send(a.get(), m.data(), m.size(), 0), static_cast<ssize_t>(m.size()));
    ASSERT_TRUE(backend.serve_one(b.get(), nullptr));
    ASSERT_EQ(backend.acked_features(), features);
  }
  // Starts queue 1 on the device behind the back-end's back.
  void start_queue() {
    ASSERT_EQ(::ftruncate(region.get(), 65536), 0);
    auto mem = std::make_shared<vu::GuestMemory>();
    const uint64_t uva = 0x7f0000000000;
    ASSERT_EQ(mem->add(vu::MemRegion{0x100000, 0x10000, uva, 0}, region.get(), nullptr), kOk);
    vu::QueueConfig c;
    c.mem = mem;
    c.size = 64;
    c.addrs = {uva, uva + 0x1000, uva + 0x2000};
    c.kick_fd = kick.get();
    ASSERT_EQ(device.start_queue(1, c, nullptr), kOk);
  }
};

TEST(VhostBackendOracle, HoldsForAFreshBackEnd) {
  VhostRig rig;
  for (uint32_t request : {0u, 4u, 11u, 34u})
    check_vhost_backend(rig.backend, rig.device, request, 1);
  rig.ack(vu::kFeatureVersion1);
  check_vhost_backend(rig.backend, rig.device, 0, 0);
  rig.start_queue();
  check_vhost_backend(rig.backend, rig.device, 11, 0);  // GET_VRING_BASE of another queue
}

TEST(VhostBackendOracleDeathTest, FiresOnStateAResetOrStopLeaves) {
  EXPECT_DEATH(
      {
        VhostRig rig;
        rig.ack(vu::kFeatureVersion1);
        check_vhost_backend(rig.backend, rig.device, 4, 0);
      },
      "features left after RESET_OWNER");
  EXPECT_DEATH(
      {
        VhostRig rig;
        rig.start_queue();
        check_vhost_backend(rig.backend, rig.device, 34, 0);
      },
      "queue 1 still runs after RESET_DEVICE");
  EXPECT_DEATH(
      {
        VhostRig rig;
        rig.start_queue();
        check_vhost_backend(rig.backend, rig.device, 11, 1);
      },
      "queue 1 still runs after GET_VRING_BASE");
}

TEST(VhostLogOracleDeathTest, FiresOnAnythingButOneLineOfText) {
  check_vhost_log_line("queue 1: kick fd is not an eventfd (read 1); queue stopped");
  EXPECT_DEATH(check_vhost_log_line(""), "logged an empty line");
  EXPECT_DEATH(check_vhost_log_line("one\nforged line"), "control character");
  EXPECT_DEATH(check_vhost_log_line("\x1b[2J"), "control character");
  EXPECT_DEATH(check_vhost_log_line("del\x7f"), "control character");
}

}  // namespace
}  // namespace pfs::fuzz
