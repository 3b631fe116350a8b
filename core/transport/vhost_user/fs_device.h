// The virtio-fs device (virtio 1.2, 5.11): queue 0 is the high-priority queue
// (FORGET, INTERRUPT), queues 1.. carry requests. Each started queue is served by
// its own worker thread: it waits on the queue's kick eventfd, pops chains, runs
// each through the FUSE Server with a Reader over the chain's readable buffers and
// a Writer over its writable ones (both pointing straight into guest memory), puts
// the chain in the used ring with the bytes written, and signals the call eventfd
// when the driver wants it.
//
// The backend (protocol thread) starts and stops queues; a queue is only ever
// reconfigured while stopped, so a worker owns its Virtqueue outright.
#pragma once

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

  FsDevice(fuse::Server& server, Logger log, unsigned max_queues = kDefaultMaxQueues);
  ~FsDevice();
  FsDevice(const FsDevice&) = delete;
  FsDevice& operator=(const FsDevice&) = delete;

  unsigned max_queues() const { return static_cast<unsigned>(queues_.size()); }

  // Translates the rings and starts the queue's worker. On failure the queue stays
  // stopped and `why` says what was wrong with the configuration.
  Status start_queue(unsigned index, const QueueConfig& cfg, std::string* why);
  // Stops the worker (after the chain in progress) and returns the next available
  // index to process; nullopt when the queue was not running.
  std::optional<uint16_t> stop_queue(unsigned index);
  void stop_all();
  // Whether queue `index` has a worker (any thread may ask).
  bool running(unsigned index) const;

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
    ScopedFd stop_fd;
    std::atomic<bool> stop{false};
    int kick_fd = -1;
    int call_fd = -1;
    unsigned index = 0;
    std::thread thread;
  };

  void run(Worker& w);

  fuse::Server& server_;
  Logger log_;
  std::vector<std::unique_ptr<Worker>> queues_;  // the protocol thread's only
  std::vector<std::atomic<bool>> running_;       // mirrors queues_ for running()
  DeviceStats stats_;
};

}  // namespace pfs::transport::vhost_user
