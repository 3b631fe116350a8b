#include "fuzz/race_crew.h"

#include <algorithm>

namespace pfs::fuzz {

Crew::Crew(size_t size, const std::function<void()>& warmup)
    : warmed_(static_cast<std::ptrdiff_t>(size)) {
  members_.reserve(size);
  for (size_t i = 0; i < size; ++i) members_.push_back(std::make_unique<Member>());
  for (auto& m : members_) {
    Member& member = *m;
    member.thread = std::thread([this, &member, &warmup] { loop(member, warmup); });
  }
  // `warmup` is borrowed: wait until every thread has run it.
  warmed_.wait();
}

Crew::~Crew() {
  stop_.store(true, std::memory_order_release);
  for (auto& m : members_) {
    m->go.fetch_add(1, std::memory_order_release);
    m->go.notify_one();
  }
  for (auto& m : members_) m->thread.join();
}

void Crew::run(std::span<const std::function<void()>> jobs) {
  const size_t n = std::min(jobs.size(), members_.size() + 1);
  if (n == 0) return;
  pending_.store(static_cast<uint32_t>(n - 1), std::memory_order_release);
  for (size_t i = 1; i < n; ++i) {
    Member& m = *members_[i - 1];
    m.job = &jobs[i];
    m.go.fetch_add(1, std::memory_order_release);
    m.go.notify_one();
  }
  jobs[0]();
  for (uint32_t p; (p = pending_.load(std::memory_order_acquire)) != 0;) {
    pending_.wait(p, std::memory_order_acquire);
  }
}

void Crew::loop(Member& m, const std::function<void()>& warmup) {
  warmup();
  warmed_.count_down();
  uint32_t seen = 0;
  for (;;) {
    m.go.wait(seen, std::memory_order_acquire);
    seen = m.go.load(std::memory_order_acquire);
    if (stop_.load(std::memory_order_acquire)) return;
    (*m.job)();
    if (pending_.fetch_sub(1, std::memory_order_acq_rel) == 1) pending_.notify_all();
  }
}

}  // namespace pfs::fuzz
