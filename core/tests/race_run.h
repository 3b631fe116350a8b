// Runs one race: a victim guest thread doing one operation in a loop and a swapper
// guest thread (each with its own Client: a vhost-user queue, or a Session) until
// the victim has done `max_steps` rounds, `max_time` has passed, or the canary
// outside the share changed (the race was won: the loop stops at once, so the time
// to failure is measured). Everything the guests hold is given back before return.
#pragma once

#include <sched.h>

#include <atomic>
#include <chrono>
#include <optional>
#include <string>
#include <thread>

#include "core/tests/race_canary.h"
#include "core/tests/race_guest.h"
#include "core/tests/race_swapper.h"
#include "core/tests/race_victims.h"

namespace pfs::testing {

struct RaceLimits {
  int max_steps = 2000;
  std::chrono::milliseconds max_time{20000};
};

struct RaceOutcome {
  VictimStats victim;
  SwapperStats swapper;
  std::chrono::milliseconds elapsed{0};
  std::optional<std::chrono::milliseconds> canary_changed_after;
  uint64_t bad_replies = 0;
};

// The guest's uid/gid: neither root nor the canary's owner.
inline constexpr uint32_t kGuestUid = 1234;
inline constexpr uint32_t kGuestGid = 1234;

struct RaceSetup {
  fuse::Inode arena = 0;  // where the victim works and the swapper swaps
  fuse::Inode stash = 0;  // where the swapper keeps its symlinks
  fuse::Inode pool = 0;   // where the victim makes what it needs before the race
};

inline RaceOutcome run_race(Client& victim_client, Client& swapper_client, const RaceSetup& setup,
                            RaceOp op, const Canary& canary, const RaceLimits& limits) {
  const CanarySnapshot before = canary.snapshot();
  Guest vg(victim_client, kGuestUid, kGuestGid);
  Guest sg(swapper_client, kGuestUid, kGuestGid);
  Victim victim(vg, op, setup.arena, {before.dir.ino, before.file.ino});
  // mkdir opens its temp name as a directory: point at the canary dir. The others
  // get the dir and the file in turn.
  std::vector<std::string> targets{canary.dir()};
  if (op != RaceOp::kMkdir) targets.push_back(canary.file());
  Swapper swapper(sg, setup.arena, setup.stash, targets, Victim::names(op));

  victim.prepare(setup.pool);

  RaceOutcome out;
  std::atomic<bool> stop{false};
  const auto start = std::chrono::steady_clock::now();
  std::thread swapping([&] { swapper.run(stop); });
  for (int i = 0; i < limits.max_steps; ++i) {
    victim.step(i);
    const auto now = std::chrono::steady_clock::now();
    if (!canary.looks_untouched()) {
      out.canary_changed_after = std::chrono::duration_cast<std::chrono::milliseconds>(now - start);
      break;
    }
    if (now - start > limits.max_time) break;
  }
  stop.store(true);
  swapping.join();
  out.elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now() - start);
  victim.finish();
  sg.forget_all();
  out.victim = victim.stats();
  out.swapper = swapper.stats();
  out.bad_replies = vg.bad_replies() + sg.bad_replies();
  return out;
}

// Keeps this thread, and every thread it starts while in scope, on one CPU: the
// guest threads and the server's workers then interleave at every preemption, as
// on a loaded host, instead of running side by side where a window of a few
// instructions is almost never hit. Restores the old mask on exit.
class ScopedOneCpu {
 public:
  ScopedOneCpu() {
    ok_ = ::sched_getaffinity(0, sizeof(old_), &old_) == 0;
    if (!ok_) return;
    for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu) {
      if (CPU_ISSET(cpu, &old_)) {
        cpu_set_t one;
        CPU_ZERO(&one);
        CPU_SET(cpu, &one);
        ok_ = ::sched_setaffinity(0, sizeof(one), &one) == 0;
        return;
      }
    }
  }
  ~ScopedOneCpu() {
    if (ok_) ::sched_setaffinity(0, sizeof(old_), &old_);
  }
  ScopedOneCpu(const ScopedOneCpu&) = delete;
  ScopedOneCpu& operator=(const ScopedOneCpu&) = delete;

 private:
  cpu_set_t old_{};
  bool ok_ = false;
};

}  // namespace pfs::testing
