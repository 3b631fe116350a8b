// A fixed crew of threads that run one batch of jobs at a time, for fuse_race:
// made once per process (thread creation per input would cost more than the
// input), so the per-thread state PassthroughFs keeps (the fscreate fd) is
// opened once, before the fd baseline is taken.
//
// The caller runs the first job itself and only the threads with a job are woken,
// each on its own futex (std::atomic::wait): on a loaded machine every thread
// that must be scheduled costs an input a time slice, so fewer hand-offs per input
// is most of the speed of a short input.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <latch>
#include <memory>
#include <span>
#include <thread>
#include <vector>

namespace pfs::fuzz {

class Crew {
 public:
  // Starts `size` threads; each runs `warmup` once first (the caller is expected
  // to have run it too, since it runs jobs).
  Crew(size_t size, const std::function<void()>& warmup);
  ~Crew();
  Crew(const Crew&) = delete;
  Crew& operator=(const Crew&) = delete;

  size_t size() const { return members_.size(); }

  // Runs jobs[0] on the calling thread and jobs[i] on thread i - 1 (at most
  // size() + 1 jobs), and returns when all are done.
  void run(std::span<const std::function<void()>> jobs);

 private:
  struct Member {
    std::atomic<uint32_t> go{0};  // bumped once per job (and to stop)
    const std::function<void()>* job = nullptr;
    std::thread thread;
  };
  void loop(Member& m, const std::function<void()>& warmup);

  std::latch warmed_;
  std::atomic<uint32_t> pending_{0};
  std::atomic<bool> stop_{false};
  std::vector<std::unique_ptr<Member>> members_;
};

}  // namespace pfs::fuzz
