// The hostile guest thread of fuse_race. While the request streams run, it lists
// directories through the Server (OPENDIR once, then READDIR from offset 0 in a
// tight loop while a stream is inside a request that makes or moves names, parked
// otherwise: race_activity.h) and swaps every hidden TempDir name it sees (".XXXXXX", made by
// MKDIR before it opens and chowns it) with one of its own symlinks to the canary
// tree outside the share, by RENAME2 with RENAME_EXCHANGE. Everything it does is a
// FUSE request (SYMLINK, LOOKUP, OPENDIR, READDIR, RENAME2): the guest is the
// attacker, nothing touches the share from the host side.
//
// Its symlinks live in the root as ".pfsadv<N>" (eight characters or more, so
// never mistaken for a hidden name) and point at the canary only: <canary>,
// <canary>/sub, or ../canary, ../../canary, ... by the depth of the directory
// they are swapped into (RaceConfig::targets).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "core/fuse/server.h"
#include "fuzz/id_map.h"
#include "fuzz/race_activity.h"
#include "fuzz/race_client.h"
#include "fuzz/race_guide.h"
#include "fuzz/race_input.h"

namespace pfs::fuzz {

// Names the streams' own READDIR replies showed, with the node id of the
// directory listed (thread-safe, bounded).
class Sightings {
 public:
  void add(uint64_t dir, std::string name);
  std::vector<std::pair<uint64_t, std::string>> take();

 private:
  static constexpr size_t kMax = 256;
  std::mutex mu_;
  std::vector<std::pair<uint64_t, std::string>> items_;
};

class Adversary {
 public:
  Adversary(fuse::Server& server, std::string canary, const RaceConfig& cfg,
            const SharedIdPool& pool, Sightings& sightings);

  // Before the streams start: opens the watched directories (the root, dir and
  // dir/sub of the scratch tree) and makes its first symlinks.
  void prepare();
  // Lists and swaps until the streams are done, or `max_rounds` rounds. The first
  // round sweeps at once; each later one only while a stream is making names, or
  // after the streams reported sightings (it waits for either in between).
  void run(const StreamActivity& activity, size_t max_rounds = kMaxRounds);
  // Guided instead (race_guide.h): one round at once, then one action per race
  // point the streams reach (at most `max_rounds`; later points are answered
  // without acting), until the guide is finished.
  void run_guided(RaceGuide& guide, size_t max_rounds = kMaxRounds);
  // Releases its directory handles.
  void finish();

  size_t exchanges() const { return exchanges_; }
  size_t rounds() const { return rounds_.load(std::memory_order_relaxed); }

  static constexpr size_t kMaxRounds = 4096;

 private:
  static constexpr unsigned kUnknownDepth = ~0u;
  static constexpr size_t kMaxWatched = 8;
  static constexpr size_t kMaxSymlinks = 128;

  struct Watched {
    uint64_t node;
    uint64_t fh;
    unsigned depth;
    std::vector<uint8_t> readdir;  // the READDIR request, made once
  };

  fuse::Context next_ctx();
  void watch(uint64_t node, unsigned depth);
  void watch_stream_dirs();
  void sweep(const Watched& w);
  void sweep_round(uint64_t focus, size_t round);
  void act(const RaceGuide::Point& point);
  void swap_sightings();
  // The watched entry of `node`, watching it first when there is room.
  const Watched* watched_for(uint64_t node);
  void exchange(uint64_t dir, unsigned depth, const std::string& name);
  std::string target_for(unsigned depth);
  // The name of a ready symlink to `target` in the root, made when missing.
  const std::string* ready_symlink(const std::string& target);

  RaceClient client_;
  std::string canary_;
  RaceConfig cfg_;
  const SharedIdPool& pool_;
  Sightings& sightings_;
  const uint32_t pid_;
  uint64_t unique_ = 1u << 30;
  std::vector<Watched> watched_;
  std::set<uint64_t> probed_;
  std::set<std::pair<uint64_t, std::string>> tried_;
  std::map<std::string, std::string> ready_;  // target -> symlink name
  size_t symlinks_made_ = 0;
  size_t exchanges_ = 0;
  std::atomic<size_t> rounds_{0};  // read by tests while run() runs
  size_t pool_seen_ = 0;           // pool_.node_count() when watch_stream_dirs() last looked
  unsigned turn_ = 0;
  std::vector<std::string> names_;
};

}  // namespace pfs::fuzz
