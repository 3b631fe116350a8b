// The adversary of the race tests: a guest thread that lists a directory over and
// over and, for every name it sees that the server may be about to use again by
// name (the hidden `.XXXXXX` names of mkdir's TempDir above all, and the names
// another guest thread is about to create), swaps in a symlink to the canary
// outside the share with RENAME2(RENAME_EXCHANGE). It also swaps the names it can
// guess without seeing them. Only FUSE requests: what any guest can send.
#pragma once

#include <dirent.h>
#include <linux/fs.h>
#include <linux/fuse.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>
#include <thread>
#include <vector>

#include "core/tests/race_guest.h"
#include "core/transport/memory/request_builder.h"

namespace pfs::testing {

// A name TempDir makes: a dot and six alphanumerics.
inline bool is_temp_dir_name(std::string_view name) {
  if (name.size() != 7 || name[0] != '.') return false;
  for (char c : name.substr(1)) {
    const bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
    if (!alnum) return false;
  }
  return true;
}

struct SwapperStats {
  uint64_t rounds = 0;       // READDIRs of the arena
  uint64_t hidden_seen = 0;  // temp dir names among them
  uint64_t swaps = 0;        // exchanges that took place
  uint64_t hidden_swaps = 0;
};

class Swapper {
 public:
  static constexpr std::chrono::microseconds kPause{20};

  // Swaps names in `arena` with symlinks it makes in `stash`, pointing at the
  // paths in `targets` (in turn). `guesses`: names to swap blindly every round.
  Swapper(Guest& guest, fuse::Inode arena, fuse::Inode stash, std::vector<std::string> targets,
          std::vector<std::string> guesses)
      : g_(guest),
        arena_(arena),
        stash_(stash),
        targets_(std::move(targets)),
        guesses_(std::move(guesses)) {}

  void run(const std::atomic<bool>& stop) {
    namespace req = transport::memory::req;
    auto od = g_.call(req::opendir(arena_, 0, g_.ctx()));
    auto open = od.as<fuse_open_out>();
    if (!od.ok() || !open) return;
    while (!stop.load(std::memory_order_relaxed)) {
      ++stats_.rounds;
      auto rd = g_.call(req::readdir(arena_, open->fh, 0, kRaceReplyRoom - 4096, g_.ctx()));
      if (auto ents = rd.dirents()) {
        for (const auto& e : *ents) {
          if (is_temp_dir_name(e.name) && e.type != DT_LNK) {
            ++stats_.hidden_seen;
            if (exchange(e.name)) ++stats_.hidden_swaps;
          }
        }
      }
      for (const auto& name : guesses_) exchange(name);
      // A short sleep: the timer that ends it wakes this thread at an arbitrary
      // point of the other thread's work and preempts it there; the next round
      // looks at what it left half done. (A busy loop starves the other thread,
      // and a yield hands over at its request boundaries: neither hits the window.)
      std::this_thread::sleep_for(kPause);
    }
    g_.call(req::releasedir(arena_, open->fh, 0, g_.ctx()));
  }

  const SwapperStats& stats() const { return stats_; }

 private:
  // A symlink to the next target, ready in the stash.
  bool ready_link() {
    if (ready_) return true;
    namespace req = transport::memory::req;
    link_name_ = "l" + std::to_string(next_++);
    const std::string& target = targets_[next_ % targets_.size()];
    auto e = g_.entry(g_.call(req::symlink(stash_, link_name_, target, g_.ctx())));
    if (!e) return false;
    g_.forget(e->nodeid);
    ready_ = true;
    return true;
  }
  bool exchange(const std::string& name) {
    namespace req = transport::memory::req;
    if (!ready_link()) return false;
    auto r = g_.call(req::rename2(stash_, link_name_, arena_, name, RENAME_EXCHANGE, g_.ctx()));
    if (!r.ok()) return false;
    ready_ = false;  // the link is in the arena now, under `name`
    ++stats_.swaps;
    return true;
  }

  Guest& g_;
  fuse::Inode arena_, stash_;
  std::vector<std::string> targets_, guesses_;
  std::string link_name_;
  uint64_t next_ = 0;
  bool ready_ = false;
  SwapperStats stats_;
};

}  // namespace pfs::testing
