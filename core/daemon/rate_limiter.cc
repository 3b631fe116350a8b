#include "core/daemon/rate_limiter.h"

#include <cctype>

namespace pfs::daemon {

namespace {
constexpr const char* kOverflowClass = "(messages of further classes)";

bool is_digit(char c) { return std::isdigit(static_cast<unsigned char>(c)) != 0; }
bool is_hex(char c) { return std::isxdigit(static_cast<unsigned char>(c)) != 0; }
}  // namespace

std::string message_class(std::string_view message) {
  std::string out;
  out.reserve(message.size() < kMaxClassLength ? message.size() : kMaxClassLength);
  size_t i = 0;
  while (i < message.size() && out.size() < kMaxClassLength) {
    if (is_digit(message[i])) {
      if (message[i] == '0' && i + 1 < message.size() &&
          (message[i + 1] == 'x' || message[i + 1] == 'X')) {
        i += 2;
        while (i < message.size() && is_hex(message[i])) ++i;
      } else {
        while (i < message.size() && is_digit(message[i])) ++i;
      }
      out += '#';
    } else {
      out += message[i++];
    }
  }
  return out;
}

RateLimiter::RateLimiter(unsigned burst, std::chrono::steady_clock::duration interval, Clock clock,
                         size_t max_classes)
    : burst_(burst), interval_(interval), clock_(std::move(clock)), max_classes_(max_classes) {}

bool RateLimiter::admit(std::string_view message, std::vector<Suppressed>& ended) {
  std::string cls = message_class(message);
  const auto now = clock_();
  std::lock_guard lock(mu_);
  auto it = windows_.find(cls);
  if (it == windows_.end()) {
    if (windows_.size() >= max_classes_) cls = kOverflowClass;
    it = windows_.try_emplace(std::move(cls), Window{now, 0, 0}).first;
  }
  Window& w = it->second;
  if (now - w.start >= interval_) {
    if (w.suppressed > 0) ended.push_back({it->first, w.suppressed});
    w = Window{now, 0, 0};
  }
  if (w.written < burst_) {
    ++w.written;
    return true;
  }
  ++w.suppressed;
  return false;
}

std::vector<RateLimiter::Suppressed> RateLimiter::expire(bool all) {
  const auto now = clock_();
  std::vector<Suppressed> out;
  std::lock_guard lock(mu_);
  for (auto it = windows_.begin(); it != windows_.end();) {
    Window& w = it->second;
    const bool over = now - w.start >= interval_;
    if ((over || all) && w.suppressed > 0) {
      out.push_back({it->first, w.suppressed});
      w.suppressed = 0;
    }
    // A finished window is forgotten: the class starts afresh next time.
    if (over) {
      it = windows_.erase(it);
    } else {
      ++it;
    }
  }
  return out;
}

}  // namespace pfs::daemon
