#include "fuzz/race_input.h"

#include <algorithm>
#include <iterator>

namespace pfs::fuzz {

RaceConfig race_config_from(uint8_t b) {
  RaceConfig c;
  c.targets = static_cast<SymlinkTargets>(b & 3);
  c.adversary = (b & 0x04) == 0;
  c.watch_stream_dirs = (b & 0x08) != 0;
  c.swap_seen_names = (b & 0x10) != 0;
  c.repeat = 1u << ((b >> 5) & 3);
  c.guided = (b & 0x80) == 0;
  return c;
}

RaceInput parse_race_input(std::span<const uint8_t> data) {
  RaceInput in;
  if (data.empty()) {
    in.streams.push_back(data);
    return in;
  }
  in.config = race_config_from(data[0]);
  std::span<const uint8_t> rest = data.subspan(1);
  while (in.streams.size() + 1 < kRaceMaxStreams) {
    const auto at =
        std::search(rest.begin(), rest.end(), std::begin(kRaceSeparator), std::end(kRaceSeparator));
    if (at == rest.end()) break;
    const auto n = static_cast<size_t>(at - rest.begin());
    in.streams.push_back(rest.first(n));
    rest = rest.subspan(n + sizeof(kRaceSeparator));
  }
  in.streams.push_back(rest);
  return in;
}

size_t stream_budget(const RaceInput& in) {
  return in.streams.empty() ? 0 : kRaceMaxRequests / in.streams.size();
}

}  // namespace pfs::fuzz
