// Records every request a session receives, raw bytes exactly as read from
// /dev/fuse, into one file. Requests are framed by their own fuse_in_header.len,
// so the file is a valid FUSE byte stream: a fuzz seed, or a replay input.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <string>

#include "core/fuse/result.h"
#include "core/passthrough/scoped_fd.h"

namespace pfs::transport::devfuse {

class SessionRecorder {
 public:
  // Creates DIR/session-<utc time>-<pid>.fuse (DIR is created when missing).
  static Result<std::unique_ptr<SessionRecorder>> create(const std::string& dir);

  // Appends one request. Thread-safe; errors are counted, never fatal.
  void record(std::span<const uint8_t> request);

  const std::string& path() const { return path_; }
  uint64_t requests() const;
  uint64_t errors() const;

  struct Key {
    explicit Key() = default;
  };
  SessionRecorder(Key, ScopedFd fd, std::string path)
      : fd_(std::move(fd)), path_(std::move(path)) {}

 private:
  mutable std::mutex mu_;
  ScopedFd fd_;
  std::string path_;
  uint64_t requests_ = 0;
  uint64_t errors_ = 0;
};

}  // namespace pfs::transport::devfuse
