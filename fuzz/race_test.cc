// Tests of the fuse_race machinery: the input framing and budget, the crew, the
// stream activity the adversary paces itself by, the adversary's swaps and
// pacing, and that the canary oracle can fail (a planted violation must fire it).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/fuse.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "core/fuse/server.h"
#include "core/passthrough/passthrough_fs.h"
#include "core/transport/memory/request_builder.h"
#include "core/transport/memory/session.h"
#include "fuzz/race_activity.h"
#include "fuzz/race_adversary.h"
#include "fuzz/race_client.h"
#include "fuzz/race_crew.h"
#include "fuzz/race_guide.h"
#include "fuzz/race_input.h"
#include "fuzz/scratch_area.h"

namespace pfs::fuzz {
namespace {

namespace mem = pfs::transport::memory;

TEST(RaceInput, SplitsStreamsAndReadsTheConfig) {
  const std::string text = std::string("\x7b") + "abcPFSRdefPFSRghiPFSRjkl";
  const RaceInput in =
      parse_race_input({reinterpret_cast<const uint8_t*>(text.data()), text.size()});
  ASSERT_EQ(in.streams.size(), 3u);
  EXPECT_EQ(std::string(in.streams[0].begin(), in.streams[0].end()), "abc");
  EXPECT_EQ(std::string(in.streams[1].begin(), in.streams[1].end()), "def");
  EXPECT_EQ(std::string(in.streams[2].begin(), in.streams[2].end()), "ghiPFSRjkl");
  EXPECT_EQ(in.config.targets, SymlinkTargets::kAll);
  EXPECT_TRUE(in.config.watch_stream_dirs);
  EXPECT_TRUE(in.config.swap_seen_names);
  EXPECT_EQ(in.config.repeat, 8u);
  EXPECT_FALSE(race_config_from(0x04).adversary);
  EXPECT_EQ(parse_race_input({}).streams.size(), 1u);
}

TEST(RaceInput, Bit7RunsTheAdversaryFreeElseItIsGuided) {
  EXPECT_TRUE(race_config_from(0x00).guided);
  EXPECT_TRUE(race_config_from(0x7f).guided);
  EXPECT_FALSE(race_config_from(0x80).guided);
  EXPECT_TRUE(parse_race_input({}).config.guided);
}

TEST(RaceGuide, AStreamWaitsUntilTheAdversaryActedOnItsPoint) {
  RaceGuide guide;
  std::atomic<bool> returned{false};
  std::thread stream([&] {
    guide.arrive({RaceGuide::Kind::kNewName, 7, "x"});
    returned = true;
  });
  RaceGuide::Point p;
  ASSERT_TRUE(guide.next(p));
  EXPECT_EQ(p.kind, RaceGuide::Kind::kNewName);
  EXPECT_EQ(p.dir, 7u);
  EXPECT_EQ(p.name, "x");
  // Not a timing assumption: whatever the scheduling, a correct guide keeps the
  // stream waiting until acted(); only a broken one lets it return here.
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_FALSE(returned.load()) << "the stream went on before the adversary acted";
  guide.acted();
  stream.join();
  EXPECT_TRUE(returned.load());
  EXPECT_EQ(guide.points(), 1u);
  guide.finish();
  EXPECT_FALSE(guide.next(p)) << "the adversary kept waiting after the streams ended";
}

TEST(RaceGuide, FinishedGuideLetsStreamsPass) {
  RaceGuide guide;
  guide.finish();
  guide.arrive({RaceGuide::Kind::kHiddenName, 1, {}});  // must not block
  RaceGuide::Point p;
  EXPECT_FALSE(guide.next(p));
}

TEST(RaceInput, SplitsTheRequestBudgetEvenly) {
  const std::string two =
      "\x60"
      "aPFSRb";
  const std::string three =
      "\x60"
      "aPFSRbPFSRc";
  EXPECT_EQ(stream_budget(parse_race_input({})), kRaceMaxRequests);
  EXPECT_EQ(
      stream_budget(parse_race_input({reinterpret_cast<const uint8_t*>(two.data()), two.size()})),
      kRaceMaxRequests / 2);
  EXPECT_EQ(stream_budget(
                parse_race_input({reinterpret_cast<const uint8_t*>(three.data()), three.size()})),
            kRaceMaxRequests / 3);
  // The escape reproducer runs 8 x 17 requests in its longer stream: all of them.
  EXPECT_GE(kRaceMaxRequests / 2, 8u * 17u);
}

TEST(RaceInput, RecognisesHiddenTempNames) {
  EXPECT_TRUE(looks_hidden_temp(".aZ09xy"));
  EXPECT_FALSE(looks_hidden_temp(".pfsadv0"));
  EXPECT_FALSE(looks_hidden_temp("abcdefg"));
  EXPECT_FALSE(looks_hidden_temp(".ab/def"));
}

TEST(RaceCrew, RunsTheFirstJobOnTheCallerAndEachOtherOnItsOwnThread) {
  std::atomic<int> warmed{0};
  Crew crew(3, [&] { ++warmed; });
  EXPECT_EQ(warmed.load(), 3);
  for (int round = 0; round < 200; ++round) {
    std::thread::id ids[4];
    std::vector<std::function<void()>> jobs;
    const size_t n = 1 + static_cast<size_t>(round) % 4;
    for (size_t i = 0; i < n; ++i)
      jobs.emplace_back([&ids, i] { ids[i] = std::this_thread::get_id(); });
    crew.run(jobs);  // returns only when every job is done
    ASSERT_EQ(ids[0], std::this_thread::get_id());
    std::set<std::thread::id> seen{ids, ids + n};
    ASSERT_EQ(seen.size(), n) << "round " << round;
  }
}

TEST(StreamActivity, CountsOnlyRequestsThatMakeOrMoveNames) {
  EXPECT_TRUE(StreamActivity::makes_names(FUSE_MKDIR));
  EXPECT_TRUE(StreamActivity::makes_names(FUSE_RENAME2));
  EXPECT_FALSE(StreamActivity::makes_names(FUSE_READDIR));
  EXPECT_FALSE(StreamActivity::makes_names(FUSE_LOOKUP));
  StreamActivity a;
  const uint32_t e = a.epoch();
  EXPECT_FALSE(a.begin(FUSE_GETATTR));
  EXPECT_EQ(a.epoch(), e);
  EXPECT_FALSE(a.making());
  EXPECT_EQ(a.focus(), 0u);
  EXPECT_TRUE(a.begin(FUSE_MKDIR, 7));
  EXPECT_TRUE(a.making());
  EXPECT_EQ(a.focus(), 7u);  // the adversary lists that directory first
  EXPECT_NE(a.epoch(), e);
  a.wait(e);  // returns at once: the epoch moved
  a.end();
  EXPECT_FALSE(a.making());
}

// wait() parks until a stream starts a name-making request, pokes, or finishes.
TEST(StreamActivity, WaitParksUntilThereIsSomethingToRace) {
  for (int how = 0; how < 3; ++how) {
    StreamActivity a;
    std::atomic<bool> woke{false};
    // Read here, not on the waiter: a waiter scheduled after the poke would read
    // the new epoch and wait for good (it hung once on a loaded machine).
    const uint32_t seen = a.epoch();
    std::thread waiter([&] {
      a.wait(seen);
      woke = true;
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(30));
    EXPECT_FALSE(woke.load()) << how;
    if (how == 0) {
      EXPECT_TRUE(a.begin(FUSE_MKDIR));
    } else if (how == 1) {
      a.poke();
    } else {
      a.finish();
    }
    waiter.join();
    EXPECT_TRUE(woke.load());
  }
}

// The oracle must be able to fail: each planted change to the canary fires it.
TEST(RaceOracleDeathTest, CanaryOwnerChangeFires) {
  ScratchArea area;
  area.check_canary();
  EXPECT_DEATH(
      {
        if (::chown(area.canary().c_str(), 1000, 1000) != 0) std::abort();
        area.check_canary();
      },
      "ORACLE FAILURE: the canary tree beside the scratch root changed");
}

TEST(RaceOracleDeathTest, CanaryModeAndXattrChangesFire) {
  ScratchArea area;
  EXPECT_DEATH(
      {
        if (::chmod((area.canary() + "/sub").c_str(), 0777) != 0) std::abort();
        area.check_canary();
      },
      "ORACLE FAILURE");
  EXPECT_DEATH(
      {
        if (::setxattr((area.canary() + "/secret").c_str(), "user.canary", "2", 1, 0) != 0) {
          std::abort();
        }
        area.check_canary();
      },
      "ORACLE FAILURE");
}

class AdversaryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    area_.reset();
    passthrough::Config cfg;
    cfg.root_dir = area_.root();
    auto created = passthrough::PassthroughFs::create(cfg);
    ASSERT_TRUE(created.ok());
    fs_ = std::move(*created);
    server_ = std::make_unique<fuse::Server>(*fs_);
    RaceClient(*server_).call(mem::req::init(mem::kLinuxInitFlags));
  }
  // Makes a directory by the hidden-name pattern from the host, as TempDir
  // would, lets the adversary run one round, and returns where the name points.
  std::string swap_once(SymlinkTargets targets, const std::string& rel) {
    EXPECT_EQ(::mkdir((area_.root() + "/" + rel).c_str(), 0700), 0);
    RaceConfig cfg;
    cfg.targets = targets;
    Adversary& adversary = prepared(cfg);
    const StreamActivity activity;
    adversary.run(activity, 1);
    adversary.finish();
    EXPECT_EQ(adversary.exchanges(), 1u);
    char resolved[PATH_MAX];
    const std::string path = area_.root() + "/" + rel;
    if (::realpath(path.c_str(), resolved) == nullptr) return "(unresolved)";
    return resolved;
  }
  // An adversary on this server, its directories opened and first symlinks made.
  Adversary& prepared(const RaceConfig& cfg) {
    adversary_ = std::make_unique<Adversary>(*server_, area_.canary(), cfg, pool_, sightings_);
    adversary_->prepare();
    return *adversary_;
  }
  std::string canary_real() const {
    char resolved[PATH_MAX];
    return ::realpath(area_.canary().c_str(), resolved) != nullptr ? resolved : "";
  }

  ScratchArea area_;
  std::unique_ptr<passthrough::PassthroughFs> fs_;
  std::unique_ptr<fuse::Server> server_;
  SharedIdPool pool_;
  Sightings sightings_;
  std::unique_ptr<Adversary> adversary_;
};

// The adversary sweeps once at the start, then only while a stream is making
// names: it must not list directories in a loop while the streams do other things.
TEST_F(AdversaryTest, SweepsOnlyWhileAStreamMakesNames) {
  Adversary& adversary = prepared({});
  StreamActivity activity;
  std::thread t([&] { adversary.run(activity); });
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (adversary.rounds() < 1 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::yield();
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_EQ(adversary.rounds(), 1u) << "it swept while no stream was making names";
  EXPECT_TRUE(activity.begin(FUSE_MKDIR));  // no ASSERT: t must be joined
  while (adversary.rounds() < 4 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::yield();
  }
  activity.end();
  EXPECT_GE(adversary.rounds(), 4u) << "it did not sweep while a MKDIR was in flight";
  activity.finish();
  t.join();
  const size_t rounds = adversary.rounds();
  EXPECT_LT(rounds, Adversary::kMaxRounds);
  adversary.finish();
}

// Guided: a MKDIR that is aimed at (odd unique) stops between TempDir's mkdirat and
// openat; the adversary finds the hidden name by READDIR and swaps it for a
// symlink to the canary there, every time. The core notices (EIO) and the canary
// is untouched; a MKDIR that is not aimed at reaches no seam and succeeds.
TEST_F(AdversaryTest, GuidedSwapsTheHiddenNameOfAnAimedMkdirInsideItsWindow) {
  Adversary& adversary = prepared({});
  RaceGuide guide;
  std::thread adv([&] { adversary.run_guided(guide); });
  int aimed_error = 0;
  int plain_error = 0;
  {
    GuidedSeams seams(&guide);
    RaceClient client(*server_);
    const auto run = [&](std::string_view name, uint64_t unique) {
      const mem::Bytes req = mem::req::mkdir(1, name, 0755, 0, fuse::Context{0, 0, 1, unique});
      fuse_in_header h{};
      std::memcpy(&h, req.data(), sizeof(h));
      seams.aim(h);
      return reply_error(client.call(req));
    };
    aimed_error = run("aimed", 9);
    plain_error = run("plain", 10);
  }
  guide.finish();
  adv.join();
  adversary.finish();
  EXPECT_EQ(guide.points(), 1u) << "the aimed MKDIR did not stop at TempDir's seam";
  EXPECT_EQ(adversary.exchanges(), 1u);
  EXPECT_EQ(aimed_error, -EIO) << "the swapped hidden name went unnoticed";
  EXPECT_EQ(plain_error, 0);
  area_.check_canary();
}

TEST_F(AdversaryTest, SwapsAHiddenNameInTheRootForAnAbsoluteLink) {
  EXPECT_EQ(swap_once(SymlinkTargets::kAbsolute, ".Ab3dE9"), canary_real());
  area_.check_canary();  // swapping alone changes nothing outside
}

TEST_F(AdversaryTest, SwapsAHiddenNameInASubdirectoryForARelativeLink) {
  EXPECT_EQ(swap_once(SymlinkTargets::kRelative, "dir/.xyz789"), canary_real());
}

TEST_F(AdversaryTest, SwapsAHiddenNameTwoLevelsDownForTheCanarySub) {
  EXPECT_EQ(swap_once(SymlinkTargets::kAbsoluteSub, "dir/sub/.q1w2e3"), canary_real() + "/sub");
}

}  // namespace
}  // namespace pfs::fuzz
