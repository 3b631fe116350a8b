// Tests of the fuse_race machinery: the input framing, the adversary's swaps,
// and that the canary oracle can fail (a planted violation must fire it).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <atomic>
#include <climits>
#include <cstdlib>
#include <memory>
#include <string>

#include "core/fuse/server.h"
#include "core/passthrough/passthrough_fs.h"
#include "core/transport/memory/request_builder.h"
#include "core/transport/memory/session.h"
#include "fuzz/race_adversary.h"
#include "fuzz/race_client.h"
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

TEST(RaceInput, RecognisesHiddenTempNames) {
  EXPECT_TRUE(looks_hidden_temp(".aZ09xy"));
  EXPECT_FALSE(looks_hidden_temp(".pfsadv0"));
  EXPECT_FALSE(looks_hidden_temp("abcdefg"));
  EXPECT_FALSE(looks_hidden_temp(".ab/def"));
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
    SharedIdPool pool;
    Sightings sightings;
    Adversary adversary(*server_, area_.canary(), cfg, pool, sightings);
    adversary.prepare();
    const std::atomic<bool> done{false};
    adversary.run(done, 1);
    adversary.finish();
    EXPECT_EQ(adversary.exchanges(), 1u);
    char resolved[PATH_MAX];
    const std::string path = area_.root() + "/" + rel;
    if (::realpath(path.c_str(), resolved) == nullptr) return "(unresolved)";
    return resolved;
  }
  std::string canary_real() const {
    char resolved[PATH_MAX];
    return ::realpath(area_.canary().c_str(), resolved) != nullptr ? resolved : "";
  }

  ScratchArea area_;
  std::unique_ptr<passthrough::PassthroughFs> fs_;
  std::unique_ptr<fuse::Server> server_;
};

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
