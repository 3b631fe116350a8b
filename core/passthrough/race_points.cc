#include "core/passthrough/race_points.h"

namespace pfs::passthrough {

RacePointHook& race_point_hook_slot() {
  thread_local RacePointHook hook;
  return hook;
}

void race_point(RacePoint point, int parent_fd, std::string_view name) {
  if (RacePointHook& hook = race_point_hook_slot()) hook(point, parent_fd, name);
}

}  // namespace pfs::passthrough
