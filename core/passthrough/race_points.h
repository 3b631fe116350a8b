// Test seams where a racing client could act between two of our syscalls: right
// after an operation made a new name and before it looks at that name again. A
// test installs a hook that swaps the name (what a second guest thread would do
// with RENAME_EXCHANGE) and checks that we still act only on what we made. With no
// hook installed (production) a race point is one thread-local load and a branch.
#pragma once

#include <functional>
#include <string_view>

#include "core/passthrough/scoped_hook.h"

namespace pfs::passthrough {

enum class RacePoint {
  kNameMade,  // mknod/symlink/link/create/mkdir: the new name exists under the parent
};

// The parent's fd (O_PATH) and the new name within it.
using RacePointHook = std::function<void(RacePoint, int parent_fd, std::string_view name)>;

void race_point(RacePoint point, int parent_fd, std::string_view name);

// This thread's hook (empty: none); tests install one with ScopedRacePointHook.
RacePointHook& race_point_hook_slot();
using ScopedRacePointHook = ScopedHook<RacePointHook, race_point_hook_slot>;

}  // namespace pfs::passthrough
