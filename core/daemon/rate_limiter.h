// Rate limit for log lines a guest can cause: at most `burst` lines of one message
// class per `interval`; the rest are counted, and one "suppressed K similar
// messages" line reports them when the class's interval ends. A hostile guest can
// then not fill the host's disk through pfsd's log.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace pfs::daemon {

// A message's class: its text with every number (decimal or 0x hex) replaced by
// '#', cut at kMaxClassLength. "queue 0: dropped chain with head 17" and "... head
// 9" are one class.
std::string message_class(std::string_view message);
inline constexpr size_t kMaxClassLength = 160;

class RateLimiter {
 public:
  using Clock = std::function<std::chrono::steady_clock::time_point()>;
  struct Suppressed {
    std::string message_class;
    uint64_t count = 0;
  };

  // At most `burst` lines per class per `interval`. `max_classes` bounds the memory
  // (further classes share one window). `clock` is injectable for tests.
  RateLimiter(unsigned burst, std::chrono::steady_clock::duration interval,
              Clock clock = &std::chrono::steady_clock::now, size_t max_classes = 256);

  // May a line of this message be written now? If its class's interval has ended
  // with lines suppressed, that summary is appended to `ended` first. Thread-safe.
  bool admit(std::string_view message, std::vector<Suppressed>& ended);

  // The summaries of every class whose interval has ended with lines suppressed
  // (of every class with lines suppressed, with `all`: at exit). Thread-safe.
  std::vector<Suppressed> expire(bool all = false);

 private:
  struct Window {
    std::chrono::steady_clock::time_point start;
    unsigned written = 0;
    uint64_t suppressed = 0;
  };

  const unsigned burst_;
  const std::chrono::steady_clock::duration interval_;
  const Clock clock_;
  const size_t max_classes_;
  std::mutex mu_;
  std::unordered_map<std::string, Window> windows_;
};

}  // namespace pfs::daemon
