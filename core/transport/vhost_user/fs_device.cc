#include "core/transport/vhost_user/fs_device.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <span>
#include <string>
#include <system_error>

namespace pfs::transport::vhost_user {

FsDevice::FsDevice(fuse::Server& server, Logger log, unsigned max_queues, Serving serving)
    : server_(server),
      log_(std::move(log)),
      serving_(serving),
      running_(max_queues == 0 ? 1 : max_queues) {
  queues_.resize(running_.size());
  if (serving_ == Serving::kCallerThread) caller_chain_.emplace();
}

FsDevice::~FsDevice() { stop_all(); }

bool FsDevice::running(unsigned index) const {
  return index < running_.size() && running_[index].load(std::memory_order_acquire);
}

Status FsDevice::start_queue(unsigned index, const QueueConfig& cfg, std::string* why) {
  if (index >= queues_.size()) {
    if (why) *why = "queue index out of range";
    return EINVAL;
  }
  if (queues_[index]) stop_queue(index);
  if (cfg.kick_fd < 0) {
    if (why) *why = "no kick fd";
    return EINVAL;
  }
  auto vq = Virtqueue::create(cfg.mem, cfg.size, cfg.addrs, cfg.last_avail, cfg.event_idx,
                              cfg.indirect, why);
  if (!vq) return vq.error();
  auto w = std::make_unique<Worker>();
  w->vq = std::move(*vq);
  w->kick_fd = cfg.kick_fd;
  w->call_fd = cfg.call_fd;
  w->index = index;
  if (serving_ == Serving::kWorkerThreads) {
    // Safety: a fresh eventfd owned by the worker; -1 is handled.
    w->stop_fd.reset(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    if (!w->stop_fd.valid()) {
      if (why) *why = "eventfd failed";
      return errno;
    }
    Worker& ref = *w;
    try {
      w->thread = std::thread([this, &ref] { run(ref); });
    } catch (const std::system_error& e) {
      if (why) *why = "cannot start a worker thread";
      return e.code().value() > 0 ? e.code().value() : EAGAIN;
    }
  }
  Worker& started = *w;
  queues_[index] = std::move(w);
  running_[index].store(true, std::memory_order_release);
  logf(log_, Severity::kDebug, "queue %u started (size %u, next avail %u)", index, cfg.size,
       cfg.last_avail);
  if (serving_ == Serving::kCallerThread) {
    // What a worker does first: chains may already be waiting (a restarted queue,
    // or a kick before we started).
    serve_available(index, *started.vq, *caller_chain_, started.call_fd, started.stop,
                    started.broken_logged);
  }
  return kOk;
}

std::optional<uint16_t> FsDevice::stop_queue(unsigned index) {
  if (index >= queues_.size() || !queues_[index]) return std::nullopt;
  Worker& w = *queues_[index];
  if (w.thread.joinable()) {
    w.stop.store(true, std::memory_order_relaxed);
    const uint64_t one = 1;
    // Safety: our own eventfd; the write only wakes the worker's poll(). It cannot
    // fail short of a counter overflow, and the stop flag is set in any case.
    [[maybe_unused]] ssize_t n = ::write(w.stop_fd.get(), &one, sizeof(one));
    w.thread.join();
  }
  const uint16_t next = w.vq->last_avail();
  queues_[index].reset();
  running_[index].store(false, std::memory_order_release);
  logf(log_, Severity::kDebug, "queue %u stopped (next avail %u)", index, next);
  return next;
}

void FsDevice::stop_all() {
  for (unsigned i = 0; i < queues_.size(); ++i) stop_queue(i);
}

namespace {

void notify(int call_fd) {
  if (call_fd < 0) return;
  const uint64_t one = 1;
  // Safety: the call eventfd stays open while the queue runs. EAGAIN means the
  // counter is saturated, i.e. the driver has an interrupt pending anyway; other
  // errors (a front-end that sent something odd as call fd) lose one interrupt.
  [[maybe_unused]] ssize_t n = ::write(call_fd, &one, sizeof(one));
}

}  // namespace

bool FsDevice::serve_available(unsigned index, Virtqueue& vq, Chain& chain, int call_fd,
                               const std::atomic<bool>& stop, bool& broken_logged) {
  std::string why;
  do {
    for (;;) {
      if (stop.load(std::memory_order_relaxed)) return false;
      const Virtqueue::Pop r = vq.pop(chain, &why);
      if (r == Virtqueue::Pop::kEmpty) break;
      if (r == Virtqueue::Pop::kBroken) {
        if (!broken_logged) {
          logf(log_, Severity::kWarn, "queue %u: %s; waiting for the next kick", index,
               why.c_str());
          broken_logged = true;
        }
        return true;
      }
      broken_logged = false;
      if (r == Virtqueue::Pop::kBadHead) {
        stats_.dropped.fetch_add(1, std::memory_order_relaxed);
        logf(log_, Severity::kWarn, "queue %u: dropped chain with head %u: %s", index, chain.head,
             why.c_str());
        continue;
      }
      uint32_t len = 0;
      if (r == Virtqueue::Pop::kChain) {
        fuse::Reader in{std::span<const iovec>(chain.readable)};
        fuse::Writer out{std::span<const iovec>(chain.writable)};
        len = static_cast<uint32_t>(server_.handle(in, out));
        stats_.chains.fetch_add(1, std::memory_order_relaxed);
      } else {
        stats_.bad_chains.fetch_add(1, std::memory_order_relaxed);
        logf(log_, Severity::kWarn, "queue %u: chain with head %u returned unanswered: %s", index,
             chain.head, why.c_str());
      }
      vq.add_used(chain.head, len);
      if (vq.should_notify()) notify(call_fd);
    }
  } while (vq.arm_and_check());
  return true;
}

FsDevice::Kick FsDevice::take_kick(Worker& w, short revents) {
  if ((revents & POLLIN) == 0) {
    logf(log_, Severity::kError, "queue %u: kick fd unusable (revents %#x); queue stopped", w.index,
         static_cast<unsigned>(revents));
    return Kick::kDead;
  }
  uint64_t count = 0;
  // Safety: reads the 8-byte eventfd counter into `count`. Anything but 8 bytes
  // means the front-end gave us something that is not an eventfd.
  const ssize_t n = ::read(w.kick_fd, &count, sizeof(count));
  if (n != static_cast<ssize_t>(sizeof(count))) {
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) return Kick::kAgain;
    logf(log_, Severity::kError, "queue %u: kick fd is not an eventfd (read %zd); queue stopped",
         w.index, n);
    return Kick::kDead;
  }
  return Kick::kServe;
}

void FsDevice::run(Worker& w) {
  Chain chain;
  bool broken_logged = false;
  // Chains may already be waiting (a restarted queue, or a kick before we started).
  if (!serve_available(w.index, *w.vq, chain, w.call_fd, w.stop, broken_logged)) return;
  pollfd fds[2] = {{w.kick_fd, POLLIN, 0}, {w.stop_fd.get(), POLLIN, 0}};
  while (!w.stop.load(std::memory_order_relaxed)) {
    // Safety: two pollfds we own; errors other than EINTR end the worker.
    const int r = ::poll(fds, 2, -1);
    if (r < 0) {
      if (errno == EINTR) continue;
      logf(log_, Severity::kError, "queue %u: poll failed: %s", w.index, std::strerror(errno));
      return;
    }
    if (fds[1].revents != 0) return;
    const Kick k = take_kick(w, fds[0].revents);
    if (k == Kick::kDead) return;
    if (k == Kick::kAgain) continue;
    if (!serve_available(w.index, *w.vq, chain, w.call_fd, w.stop, broken_logged)) return;
  }
}

void FsDevice::kick_fds(std::vector<int>& out) const {
  if (serving_ != Serving::kCallerThread) return;
  for (const auto& q : queues_) {
    if (q && !q->kick_dead) out.push_back(q->kick_fd);
  }
}

void FsDevice::serve_kicks() {
  if (serving_ != Serving::kCallerThread) return;
  kick_poll_.clear();
  kick_queue_.clear();
  for (unsigned i = 0; i < queues_.size(); ++i) {
    if (!queues_[i] || queues_[i]->kick_dead) continue;
    kick_poll_.push_back(pollfd{queues_[i]->kick_fd, POLLIN, 0});
    kick_queue_.push_back(i);
  }
  // Safety: no wait; the kick fds are the backend's and stay open while their
  // queues run. A poll error is taken as "no kick yet".
  if (kick_poll_.empty() || ::poll(kick_poll_.data(), kick_poll_.size(), 0) <= 0) return;
  for (size_t k = 0; k < kick_poll_.size(); ++k) {
    if (kick_poll_[k].revents == 0) continue;
    Worker& w = *queues_[kick_queue_[k]];
    const Kick kick = take_kick(w, kick_poll_[k].revents);
    if (kick == Kick::kDead) w.kick_dead = true;
    if (kick != Kick::kServe) continue;
    serve_available(w.index, *w.vq, *caller_chain_, w.call_fd, w.stop, w.broken_logged);
  }
}

}  // namespace pfs::transport::vhost_user
