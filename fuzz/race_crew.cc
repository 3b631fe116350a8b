#include "fuzz/race_crew.h"

#include <algorithm>

namespace pfs::fuzz {

Crew::Crew(size_t size, const std::function<void()>& warmup) {
  warming_ = size;
  threads_.reserve(size);
  for (size_t i = 0; i < size; ++i) threads_.emplace_back([this, i, &warmup] { loop(i, warmup); });
  // `warmup` is borrowed: wait until every thread has run it.
  std::unique_lock lock(mu_);
  done_.wait(lock, [this] { return warming_ == 0; });
}

Crew::~Crew() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  start_.notify_all();
  for (std::thread& t : threads_) t.join();
}

void Crew::run(std::span<const std::function<void()>> jobs) {
  std::unique_lock lock(mu_);
  jobs_ = jobs.first(std::min(jobs.size(), threads_.size()));
  pending_ = threads_.size();
  ++generation_;
  start_.notify_all();
  done_.wait(lock, [this] { return pending_ == 0; });
  jobs_ = {};
}

void Crew::loop(size_t index, const std::function<void()>& warmup) {
  warmup();
  uint64_t seen = 0;
  std::unique_lock lock(mu_);
  if (--warming_ == 0) done_.notify_all();
  for (;;) {
    start_.wait(lock, [&] { return stop_ || generation_ != seen; });
    if (stop_) return;
    seen = generation_;
    if (index < jobs_.size()) {
      const std::function<void()>& job = jobs_[index];
      lock.unlock();
      job();
      lock.lock();
    }
    if (--pending_ == 0) done_.notify_all();
  }
}

}  // namespace pfs::fuzz
