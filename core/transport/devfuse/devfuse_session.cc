#include "core/transport/devfuse/devfuse_session.h"

#include <fcntl.h>
#include <linux/fuse.h>
#include <pthread.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <memory>

namespace pfs::transport::devfuse {

namespace {

// Sent to workers to interrupt a blocked read() when stopping. Its handler does
// nothing; it is installed without SA_RESTART so that read() returns EINTR.
constexpr int kWakeSignal = SIGUSR1;

void install_wake_handler() {
  static const bool installed = [] {
    struct sigaction sa {};
    sa.sa_handler = [](int) {};
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0;
    ::sigaction(kWakeSignal, &sa, nullptr);
    return true;
  }();
  (void)installed;
}

}  // namespace

DevFuseSession::DevFuseSession(fuse::Server& server, int fuse_fd, SessionRecorder* recorder)
    : server_(server), fuse_fd_(fuse_fd), recorder_(recorder) {}

DevFuseSession::~DevFuseSession() { stop(); }

Result<std::vector<ScopedFd>> DevFuseSession::open_clones(int fuse_fd, unsigned n) {
  std::vector<ScopedFd> out;
  for (unsigned i = 0; i < n; ++i) {
    // Safety: a new fd of the FUSE device, owned at once, then bound to our
    // session by the clone ioctl (checked).
    ScopedFd clone(::open("/dev/fuse", O_RDWR | O_CLOEXEC));
    if (!clone.valid()) return last_errno();
    uint32_t master = static_cast<uint32_t>(fuse_fd);
    if (::ioctl(clone.get(), FUSE_DEV_IOC_CLONE, &master) != 0) return last_errno();
    out.push_back(std::move(clone));
  }
  return out;
}

void DevFuseSession::adopt_clones(std::vector<ScopedFd> clones) {
  for (ScopedFd& c : clones) clones_.push_back(std::move(c));
}

Status DevFuseSession::start(unsigned threads, std::function<void()> on_end) {
  if (threads == 0) threads = 1;
  on_end_ = std::move(on_end);
  install_wake_handler();
  std::vector<int> fds{fuse_fd_};
  for (const ScopedFd& c : clones_) fds.push_back(c.get());
  if (threads > 1 && clones_.size() < threads - 1) {
    auto more = open_clones(fuse_fd_, threads - 1 - static_cast<unsigned>(clones_.size()));
    if (!more) return more.error();
    for (ScopedFd& c : *more) {
      fds.push_back(c.get());
      clones_.push_back(std::move(c));
    }
  }
  for (int fd : fds) threads_.emplace_back([this, fd] { worker(fd); });
  return kOk;
}

void DevFuseSession::stop() {
  stopping_.store(true, std::memory_order_release);
  for (auto& t : threads_) {
    if (t.joinable()) ::pthread_kill(t.native_handle(), kWakeSignal);
  }
  for (auto& t : threads_) {
    if (t.joinable()) t.join();
  }
  threads_.clear();
  clones_.clear();
}

void DevFuseSession::ended() {
  if (!ended_.exchange(true) && on_end_) on_end_();
}

void DevFuseSession::worker(int fd) {
  const size_t in_size = server_.request_buffer_size();
  const size_t out_size = server_.reply_buffer_size();
  auto in_buf = std::make_unique_for_overwrite<uint8_t[]>(in_size);
  auto out_buf = std::make_unique_for_overwrite<uint8_t[]>(out_size);

  while (!stopping_.load(std::memory_order_acquire)) {
    // Safety: reads at most in_size bytes into our buffer; result checked.
    const ssize_t n = ::read(fd, in_buf.get(), in_size);
    if (n < 0) {
      const int err = errno;
      if (err == EINTR || err == EAGAIN) continue;
      if (err == ENOENT) {  // the request was interrupted before we read it
        stats_.interrupted.fetch_add(1, std::memory_order_relaxed);
        continue;
      }
      if (err != ENODEV) stats_.read_errors.fetch_add(1, std::memory_order_relaxed);
      break;  // ENODEV: unmounted; anything else: this fd is unusable
    }
    stats_.requests.fetch_add(1, std::memory_order_relaxed);
    if (recorder_ != nullptr) recorder_->record({in_buf.get(), static_cast<size_t>(n)});

    fuse::Reader reader(in_buf.get(), static_cast<size_t>(n));
    fuse::Writer writer(out_buf.get(), out_size);
    const size_t reply = server_.handle(reader, writer);
    if (reply == 0) continue;  // FORGET, BATCH_FORGET, INTERRUPT
    // Safety: writes the reply bytes the server produced (one whole reply per
    // call, as /dev/fuse requires); result checked.
    const iovec iov{out_buf.get(), reply};
    const ssize_t w = ::writev(fd, &iov, 1);
    if (w < 0) {
      if (errno == ENOENT) {  // interrupted while we worked: not an error
        stats_.interrupted.fetch_add(1, std::memory_order_relaxed);
      } else if (errno == ENODEV) {
        break;
      } else {
        stats_.write_errors.fetch_add(1, std::memory_order_relaxed);
      }
      continue;
    }
    stats_.replies.fetch_add(1, std::memory_order_relaxed);
  }
  if (!stopping_.load(std::memory_order_acquire)) ended();
}

}  // namespace pfs::transport::devfuse
