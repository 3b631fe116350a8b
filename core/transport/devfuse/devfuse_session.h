// Serves one FUSE mount: worker threads, each reading whole requests from its own
// clone of the /dev/fuse fd (FUSE_DEV_IOC_CLONE) and answering with writev().
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "core/fuse/result.h"
#include "core/fuse/server.h"
#include "core/passthrough/scoped_fd.h"
#include "core/transport/devfuse/session_recorder.h"

namespace pfs::transport::devfuse {

struct SessionStats {
  std::atomic<uint64_t> requests{0};
  std::atomic<uint64_t> replies{0};
  std::atomic<uint64_t> interrupted{0};   // the kernel dropped the request (ENOENT)
  std::atomic<uint64_t> read_errors{0};   // unexpected read errors
  std::atomic<uint64_t> write_errors{0};  // unexpected write errors
};

class DevFuseSession {
 public:
  // `fuse_fd` is the mount's /dev/fuse fd (not owned). `recorder` may be null.
  DevFuseSession(fuse::Server& server, int fuse_fd, SessionRecorder* recorder = nullptr);
  ~DevFuseSession();
  DevFuseSession(const DevFuseSession&) = delete;
  DevFuseSession& operator=(const DevFuseSession&) = delete;

  // Starts `threads` workers (the first on the mount's fd, the others on clones).
  // `on_end` runs once, on a worker thread, when the kernel ends the session
  // (ENODEV: the mount went away) or a worker hits an error it cannot serve past.
  Status start(unsigned threads, std::function<void()> on_end);

  // Opens `n` clones of `fuse_fd` (/dev/fuse + FUSE_DEV_IOC_CLONE) ahead of time,
  // e.g. before a sandbox hides /dev/fuse; adopt_clones() hands them to start().
  static Result<std::vector<ScopedFd>> open_clones(int fuse_fd, unsigned n);
  void adopt_clones(std::vector<ScopedFd> clones);

  // Asks the workers to stop (interrupting blocked reads) and joins them.
  void stop();

  const SessionStats& stats() const { return stats_; }

 private:
  void worker(int fd);
  void ended();

  fuse::Server& server_;
  const int fuse_fd_;
  SessionRecorder* recorder_;
  std::vector<ScopedFd> clones_;
  std::vector<std::thread> threads_;
  std::atomic<bool> stopping_{false};
  std::atomic<bool> ended_{false};
  std::function<void()> on_end_;
  SessionStats stats_;
};

}  // namespace pfs::transport::devfuse
