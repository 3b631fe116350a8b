#include "fuzz/race_guide.h"

#include <cstdio>
#include <string>
#include <string_view>
#include <utility>

namespace pfs::fuzz {

void RaceGuide::arrive(Point point) {
  std::unique_lock lock(mu_);
  if (finished_) return;
  const uint64_t ticket = ++issued_;
  queued_.push_back(std::move(point));
  cv_.notify_all();
  // Points are answered in the order they were queued.
  if (!cv_.wait_for(lock, kPatience, [&] { return answered_ >= ticket || finished_; })) {
    std::fprintf(stderr,
                 "fuse_race: the adversary did not act on a race point within %lld s; "
                 "the stream goes on without it\n",
                 static_cast<long long>(kPatience.count()));
  }
}

bool RaceGuide::next(Point& point) {
  std::unique_lock lock(mu_);
  cv_.wait(lock, [&] { return !queued_.empty() || finished_; });
  if (queued_.empty()) return false;
  point = std::move(queued_.front());
  queued_.pop_front();
  return true;
}

void RaceGuide::acted() {
  std::lock_guard lock(mu_);
  ++answered_;
  cv_.notify_all();
}

void RaceGuide::finish() {
  std::lock_guard lock(mu_);
  finished_ = true;
  cv_.notify_all();
}

GuidedSeams::GuidedSeams(RaceGuide* guide) {
  if (guide == nullptr) return;
  points_.emplace([this, guide](passthrough::RacePoint, int, std::string_view name) {
    if (aimed_) guide->arrive({RaceGuide::Kind::kNewName, dir_, std::string(name)});
  });
  temp_.emplace([this, guide](passthrough::TempDirStep step) {
    // Between TempDir's mkdirat and its openat of the hidden name; no fault.
    if (aimed_ && step == passthrough::TempDirStep::kOpen) {
      guide->arrive({RaceGuide::Kind::kHiddenName, dir_, {}});
    }
    return 0;
  });
}

void GuidedSeams::aim(const fuse_in_header& h) {
  dir_ = h.nodeid;
  aimed_ = (h.unique & 1) != 0;
}

size_t RaceGuide::points() const {
  std::lock_guard lock(mu_);
  return issued_;
}

}  // namespace pfs::fuzz
