// The input format of the fuse_race target (see fuse_race.cc for what runs it):
//
//   <config byte> <stream 0> "PFSR" <stream 1> [ "PFSR" <stream 2> ]
//
// Each stream is a FUSE byte stream as fuse_session takes it (requests framed by
// their own fuse_in_header.len). The separator "PFSR" read as fuse_in_header.len
// is ~1.4 GB, more than any request the server accepts, so it never starts a
// request; a third separator and what follows it belong to stream 2. An input
// without a separator is one stream (the adversary still runs beside it).
//
// Config byte:
//   bits 0-1  the adversary's symlink targets: 0 <canary> (absolute),
//             1 ../canary, ../../canary, ... (relative, by the depth of the
//             directory it swaps in), 2 <canary>/sub (absolute), 3 all in turn
//   bit 2     no adversary
//   bit 3     the adversary also watches the directories the streams made
//   bit 4     the adversary also swaps the ordinary names the streams' READDIR
//             replies show (not only hidden ".XXXXXX" ones)
//   bits 5-6  each stream runs 1, 2, 4 or 8 times in a row
//   bit 7     the adversary runs free: it lists its directories in a loop while a
//             stream makes names (race_activity.h), and so may land in windows no
//             seam marks; clear, it is guided: it acts only when a stream reaches
//             one of the core's race seams in a request whose
//             fuse_in_header.unique is odd, and the stream waits for it
//             (race_guide.h: the known windows, every time they are aimed at, at a
//             fraction of the cost); a new name made (not a hidden one) is
//             exchanged only with bit 4 set
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace pfs::fuzz {

inline constexpr uint8_t kRaceSeparator[4] = {'P', 'F', 'S', 'R'};
inline constexpr size_t kRaceMaxStreams = 3;
// The requests of all streams together, repeats included: a race needs a few
// hundred well-aimed requests, and the slowest inputs set a campaign's pace.
inline constexpr size_t kRaceMaxRequests = 384;

enum class SymlinkTargets : uint8_t { kAbsolute, kRelative, kAbsoluteSub, kAll };

struct RaceConfig {
  SymlinkTargets targets = SymlinkTargets::kAbsolute;
  bool adversary = true;
  bool watch_stream_dirs = false;
  bool swap_seen_names = false;
  unsigned repeat = 1;
  bool guided = true;
};

struct RaceInput {
  RaceConfig config;
  std::vector<std::span<const uint8_t>> streams;  // 1 to kRaceMaxStreams
};

RaceConfig race_config_from(uint8_t b);

// Splits `data`; an empty input is one empty stream with the default config.
RaceInput parse_race_input(std::span<const uint8_t> data);

// How many requests each stream of `in` may run, repeats included: an even share
// of kRaceMaxRequests.
size_t stream_budget(const RaceInput& in);

}  // namespace pfs::fuzz
