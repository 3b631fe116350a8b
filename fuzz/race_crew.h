// A fixed crew of threads that run one batch of jobs at a time, for fuse_race:
// made once per process (thread creation per input would cost more than the
// input), so the per-thread state PassthroughFs keeps (the fscreate fd) is
// opened once, before the fd baseline is taken.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <mutex>
#include <span>
#include <thread>
#include <vector>

namespace pfs::fuzz {

class Crew {
 public:
  // Starts `size` threads; each runs `warmup` once first.
  Crew(size_t size, const std::function<void()>& warmup);
  ~Crew();
  Crew(const Crew&) = delete;
  Crew& operator=(const Crew&) = delete;

  size_t size() const { return threads_.size(); }

  // Runs jobs[i] on thread i (at most size() jobs) and returns when all are done.
  void run(std::span<const std::function<void()>> jobs);

 private:
  void loop(size_t index, const std::function<void()>& warmup);

  std::mutex mu_;
  std::condition_variable start_;
  std::condition_variable done_;
  uint64_t generation_ = 0;
  size_t pending_ = 0;
  size_t warming_ = 0;
  bool stop_ = false;
  std::span<const std::function<void()>> jobs_;
  std::vector<std::thread> threads_;
};

}  // namespace pfs::fuzz
