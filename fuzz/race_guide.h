// Guided races for fuse_race (race_input.h, config bit 7 clear). Instead of listing
// directories in a loop while a stream makes names (hundreds of READDIRs per input,
// most of them landing outside the few microseconds that matter), the adversary
// acts exactly in the windows where a racing guest thread could do harm: a stream
// thread that reaches one of the core's seams hands the point to the adversary and
// waits until it has acted, then goes on. The seams:
//   - a hidden TempDir name made and not yet opened (MKDIR: TempDir's
//     TempDirStep::kOpen hook, called between mkdirat and openat);
//   - a new name made and not yet looked at again (RacePoint::kNameMade: MKNOD,
//     SYMLINK, LINK, CREATE and MKDIR's final name).
// What the adversary does there is still only what a guest can do, through the
// Server: it finds a hidden name by READDIR of the directory (a guest cannot know
// the random name), and exchanges a new name it already knows (the guest asked for
// it) with one of its symlinks to the canary. Only the timing is given away.
#pragma once

#include <linux/fuse.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <optional>
#include <string>

#include "core/passthrough/race_points.h"
#include "core/passthrough/temp_dir.h"

namespace pfs::fuzz {

class RaceGuide {
 public:
  enum class Kind { kHiddenName, kNewName };
  struct Point {
    Kind kind = Kind::kHiddenName;
    uint64_t dir = 0;  // the node id of the directory the request works in
    std::string name;  // kNewName: the name the request made
  };

  // How long a stream waits for the adversary before it goes on alone (a
  // warning says so). The adversary's requests never wait for a paused stream
  // (the core holds no lock at its seams), so this bounds a harness bug, not a
  // race.
  static constexpr std::chrono::seconds kPatience{5};

  // Stream side: queues the point and waits until the adversary has acted on it
  // (or finish()).
  void arrive(Point point);
  // Adversary side: the next point, waiting for one; false once finish() was
  // called and none is queued. Each point taken must be answered with acted().
  bool next(Point& point);
  void acted();
  // All streams are done.
  void finish();

  size_t points() const;

 private:
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Point> queued_;
  uint64_t issued_ = 0;
  uint64_t answered_ = 0;
  bool finished_ = false;
};

// Installed on a stream thread for one input: while the thread runs a request that
// is aimed at (an odd fuse_in_header.unique, race_input.h), the core's seams hand
// the point to `guide` (null: no seams installed); other requests pass them by.
class GuidedSeams {
 public:
  explicit GuidedSeams(RaceGuide* guide);
  GuidedSeams(const GuidedSeams&) = delete;
  GuidedSeams& operator=(const GuidedSeams&) = delete;

  // Before each request (its header after the ids were remapped).
  void aim(const fuse_in_header& h);

 private:
  uint64_t dir_ = 0;
  bool aimed_ = false;
  std::optional<passthrough::ScopedRacePointHook> points_;
  std::optional<passthrough::ScopedTempDirFaultHook> temp_;
};

}  // namespace pfs::fuzz
