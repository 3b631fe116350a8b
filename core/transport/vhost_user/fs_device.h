// The virtio-fs device (virtio 1.2, 5.11): queue 0 is the high-priority queue
// (FORGET, INTERRUPT), queues 1.. carry requests. A started queue waits on its kick
// eventfd, pops chains, runs each through the FUSE Server with a Reader over the
// chain's readable buffers and a Writer over its writable ones (both pointing
// straight into guest memory), puts the chain in the used ring with the bytes
// written, and signals the call eventfd when the driver wants it.
//
// Who does that is the Serving mode: kWorkerThreads (pfsd) gives each started queue
// its own worker thread; kCallerThread starts no thread at all, and the owner
// serves kicks on its own thread with serve_kicks() (Backend::serve polls the kick
// fds beside the socket). Both run the same code per kick (serve_available).
//
// The backend (protocol thread) starts and stops queues; a queue is only ever
// reconfigured while stopped, so a worker owns its Virtqueue outright.
#pragma once

#include <poll.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <thread>
#include <vector>

#include "core/fuse/server.h"
#include "core/passthrough/scoped_fd.h"
#include "core/transport/vhost_user/guest_memory.h"
#include "core/transport/vhost_user/logger.h"
#include "core/transport/vhost_user/virtqueue.h"

namespace pfs::transport::vhost_user {

struct QueueConfig {
  std::shared_ptr<const GuestMemory> mem;
  uint32_t size = 0;
  RingAddrs addrs;
  uint16_t last_avail = 0;
  bool event_idx = false;
  bool indirect = false;
  int kick_fd = -1;  // borrowed: the backend keeps it open while the queue runs
  int call_fd = -1;  // borrowed; -1 = no interrupts
};

struct DeviceStats {
  std::atomic<uint64_t> chains{0};      // chains answered through the server
  std::atomic<uint64_t> bad_chains{0};  // malformed chains returned with len 0
  std::atomic<uint64_t> dropped{0};     // chains dropped (head out of range)
};

class FsDevice {
 public:
  // The hiprio queue plus up to 16 request queues.
  static constexpr unsigned kDefaultMaxQueues = 17;

  enum class Serving {
    kWorkerThreads,  // a thread per started queue, woken by its kick fd
    kCallerThread,   // no threads: chains are served inside start_queue and serve_kicks
  };

  FsDevice(fuse::Server& server, Logger log, unsigned max_queues = kDefaultMaxQueues,
           Serving serving = Serving::kWorkerThreads);
  ~FsDevice();
  FsDevice(const FsDevice&) = delete;
  FsDevice& operator=(const FsDevice&) = delete;

  unsigned max_queues() const { return static_cast<unsigned>(queues_.size()); }
  Serving serving() const { return serving_; }

  // Translates the rings and starts the queue: its worker, or with kCallerThread
  // serves the chains already available right here. On failure the queue stays
  // stopped and `why` says what was wrong with the configuration.
  Status start_queue(unsigned index, const QueueConfig& cfg, std::string* why);
  // Stops the worker (after the chain in progress) and returns the next available
  // index to process; nullopt when the queue was not running.
  std::optional<uint16_t> stop_queue(unsigned index);
  void stop_all();
  // Whether queue `index` has a worker (any thread may ask).
  bool running(unsigned index) const;

  // kCallerThread only (no-ops otherwise), on the thread that starts and stops the
  // queues. kick_fds() appends the kick fd of every running queue whose kick fd
  // still works, for the owner's poll(); serve_kicks() polls them without waiting,
  // consumes each pending kick and serves that queue's chains. A kick fd that
  // fails or is not an eventfd ends serving of its queue (logged), as it ends a
  // worker thread.
  void kick_fds(std::vector<int>& out) const;
  void serve_kicks();

  const DeviceStats& stats() const { return stats_; }

  // What a worker does on each kick, without the thread: serves every available
  // chain of `vq` through the server (bad chains returned with len 0 or dropped,
  // each with a log line), signalling `call_fd` as the driver asks, until the ring
  // is empty or `stop` is set (then returns false). `broken_logged` keeps a ring
  // with an impossible avail index from logging on every kick. Fuzzers call it.
  bool serve_available(unsigned index, Virtqueue& vq, Chain& chain, int call_fd,
                       const std::atomic<bool>& stop, bool& broken_logged);

 private:
  struct Worker {
    std::unique_ptr<Virtqueue> vq;
    ScopedFd stop_fd;  // kWorkerThreads only
    std::atomic<bool> stop{false};
    int kick_fd = -1;
    int call_fd = -1;
    unsigned index = 0;
    bool broken_logged = false;  // kCallerThread (a worker keeps its own)
    bool kick_dead = false;      // kCallerThread: the kick fd failed, the queue is idle
    std::thread thread;
  };

  enum class Kick { kServe, kAgain, kDead };
  // Consumes the kick that poll() reported with `revents` on w.kick_fd.
  Kick take_kick(Worker& w, short revents);
  void run(Worker& w);

  fuse::Server& server_;
  Logger log_;
  Serving serving_;
  // kCallerThread: the one chain all queues are popped into (a Chain reserves room
  // for the longest chain, so it is made once per device, not per queue start).
  std::optional<Chain> caller_chain_;
  std::vector<pollfd> kick_poll_;     // serve_kicks()' scratch: one poll() for all queues
  std::vector<unsigned> kick_queue_;  // the queue of each kick_poll_ entry
  std::vector<std::unique_ptr<Worker>> queues_;  // the protocol thread's only
  std::vector<std::atomic<bool>> running_;       // mirrors queues_ for running()
  DeviceStats stats_;
};

}  // namespace pfs::transport::vhost_user
