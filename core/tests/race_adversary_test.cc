// Adversarial races: a hostile guest with two threads on two request queues. One
// does an operation over and over in a directory of the share (MKDIR, CREATE,
// MKNOD, SYMLINK, LINK, RENAME, SETATTR, SETXATTR, as uid 1234); the other lists
// that directory without pause and swaps every name the server may be about to
// use again by name (mkdir's hidden `.XXXXXX` temp dirs, the names the first
// thread uses) with a symlink to a canary directory outside the share, through
// RENAME2(RENAME_EXCHANGE). Whatever the interleaving, the canary's owner, mode,
// contents and xattrs must stay as they were, no entry may name it, and every fd
// comes back. The threat model: "Anything we check and then use again by name ...
// can be swapped under us between the two steps".
//
// Each case runs over vhost-user (the fake front-end, one queue per guest thread,
// the back-end's worker per queue) and through the Server directly (a Session per
// thread). The process is kept on one CPU while racing (ScopedOneCpu): the threads
// then interleave at every preemption, which finds a window of a few instructions
// within a second where two CPUs side by side take minutes. PFS_RACE_ALL_CPUS=1
// races on every CPU instead. Bounded: max steps and a time cap per case, stopping
// at once when the canary changes (the time to failure is printed).
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <memory>
#include <ostream>
#include <string>
#include <tuple>

#include "core/fuse/server.h"
#include "core/passthrough/passthrough_fs.h"
#include "core/tests/fd_count.h"
#include "core/tests/race_canary.h"
#include "core/tests/race_client.h"
#include "core/tests/race_run.h"
#include "core/tests/race_vhost_user.h"
#include "core/tests/scratch_dir.h"

namespace pfs::testing {
namespace {

namespace req = transport::memory::req;

enum class Transport { kVhostUser, kDirect };

const char* transport_name(Transport t) {
  return t == Transport::kVhostUser ? "VhostUser" : "Server";
}
void PrintTo(Transport t, std::ostream* os) { *os << transport_name(t); }

// Where the requests go for one case: two clients over one PassthroughFs.
class RaceBench {
 public:
  RaceBench(passthrough::PassthroughFs& fs, Transport t) {
    if (t == Transport::kVhostUser) {
      vhost_ = std::make_unique<VhostUserBench>(fs, 2);
      if (!vhost_->error().empty()) return;
      a_ = &vhost_->client(0);
      b_ = &vhost_->client(1);
    } else {
      server_ = std::make_unique<fuse::Server>(fs);
      direct_a_ = std::make_unique<DirectClient>(*server_);
      direct_b_ = std::make_unique<DirectClient>(*server_);
      a_ = direct_a_.get();
      b_ = direct_b_.get();
    }
  }
  std::string error() const {
    if (vhost_ && !vhost_->error().empty()) return "vhost-user: " + vhost_->error();
    return a_ != nullptr ? "" : "no clients";
  }
  Client& a() { return *a_; }
  Client& b() { return *b_; }

 private:
  std::unique_ptr<VhostUserBench> vhost_;
  std::unique_ptr<fuse::Server> server_;
  std::unique_ptr<DirectClient> direct_a_, direct_b_;
  Client* a_ = nullptr;
  Client* b_ = nullptr;
};

RaceLimits limits_for(RaceOp op) {
  RaceLimits l;
  // mkdir is the known bug: give it the room the brief asks for. The others race
  // for a bounded while each, so the suite stays short when they hold.
  l.max_steps = op == RaceOp::kMkdir ? 2000 : 1500;
  l.max_time = std::chrono::milliseconds(op == RaceOp::kMkdir ? 20000 : 8000);
  return l;
}

class RaceAdversaryTest : public ::testing::TestWithParam<std::tuple<RaceOp, Transport>> {
 protected:
  void SetUp() override {
    ASSERT_TRUE(scratch_.ok());
    ASSERT_EQ(::geteuid(), 0u) << "the race tests need root (fchown, trusted.* xattrs)";
    share_ = scratch_ / "share";
    ASSERT_EQ(::mkdir(share_.c_str(), 0755), 0);
    for (const char* d : {"arena", "stash", "pool"}) {
      const std::string p = share_ + "/" + d;
      ASSERT_EQ(::mkdir(p.c_str(), 0755), 0);
      ASSERT_EQ(::chown(p.c_str(), kGuestUid, kGuestGid), 0);
    }
    canary_ = std::make_unique<Canary>(scratch_ / "canary");
    ASSERT_TRUE(canary_->ok());
  }

  ScratchDir scratch_{"pfs-race"};
  std::string share_;
  std::unique_ptr<Canary> canary_;
};

TEST_P(RaceAdversaryTest, SwappedNamesNeverReachOutsideTheShare) {
  const auto [op, transport] = GetParam();
  const CanarySnapshot before = canary_->snapshot();
  std::optional<ScopedOneCpu> pin;
  const char* spread = std::getenv("PFS_RACE_ALL_CPUS");
  if (spread == nullptr || std::string(spread) != "1") pin.emplace();

  RaceOutcome out;
  {
    passthrough::Config cfg;
    cfg.root_dir = share_;
    auto fs = passthrough::PassthroughFs::create(cfg);
    ASSERT_TRUE(fs.ok()) << fs.error();
    RaceBench bench(**fs, transport);
    ASSERT_EQ(bench.error(), "");
    ASSERT_TRUE(bench.a().call(req::init(transport::memory::kLinuxInitFlags)).ok());
    Guest setup(bench.a(), 0, 0);
    auto arena = setup.lookup(FUSE_ROOT_ID, "arena");
    auto stash = setup.lookup(FUSE_ROOT_ID, "stash");
    auto pool = setup.lookup(FUSE_ROOT_ID, "pool");
    ASSERT_TRUE(arena && stash && pool);
    const size_t fds_before = open_fd_count();

    out = run_race(bench.a(), bench.b(), {arena->nodeid, stash->nodeid, pool->nodeid}, op, *canary_,
                   limits_for(op));

    EXPECT_EQ(open_fd_count(), fds_before) << "an fd leaked (or a reference was kept)";
    setup.forget_all();
    EXPECT_EQ(setup.bad_replies(), 0u);
  }

  std::cout << "[ race ] " << race_op_name(op) << " over " << transport_name(transport) << ": "
            << out.victim.steps << " steps (" << out.victim.ok << " ok, " << out.victim.other_type
            << " swapped to another type) in " << out.elapsed.count()
            << " ms; swapper: " << out.swapper.rounds << " readdirs, " << out.swapper.hidden_seen
            << " hidden names seen, " << out.swapper.swaps << " swaps (" << out.swapper.hidden_swaps
            << " of hidden names)";
  if (out.canary_changed_after) {
    std::cout << "; CANARY CHANGED after " << out.canary_changed_after->count() << " ms";
  }
  std::cout << "\n";

  const CanarySnapshot after = canary_->snapshot();
  EXPECT_TRUE(after == before) << "the canary outside the share changed: " << race_op_name(op)
                               << " followed a swapped-in symlink out\n"
                               << "before:\n"
                               << Canary::describe(before) << "\nafter:\n"
                               << Canary::describe(after);
  EXPECT_EQ(out.victim.canary_entries, 0u) << "an entry named the canary";
  EXPECT_EQ(out.bad_replies, 0u) << "missing or malformed replies";
  EXPECT_GT(out.victim.steps, 0u);
}

std::string case_name(const ::testing::TestParamInfo<std::tuple<RaceOp, Transport>>& info) {
  return std::string(race_op_name(std::get<0>(info.param))) + "_" +
         transport_name(std::get<1>(info.param));
}

INSTANTIATE_TEST_SUITE_P(
    Ops, RaceAdversaryTest,
    ::testing::Combine(::testing::Values(RaceOp::kMkdir, RaceOp::kCreate, RaceOp::kMknod,
                                         RaceOp::kSymlink, RaceOp::kLink, RaceOp::kRename,
                                         RaceOp::kSetattr, RaceOp::kSetxattr),
                       ::testing::Values(Transport::kVhostUser, Transport::kDirect)),
    case_name);

}  // namespace
}  // namespace pfs::testing
