#include "core/daemon/log.h"

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <string_view>
#include <vector>

#include "core/daemon/rate_limiter.h"

namespace pfs::daemon {

namespace {
std::atomic<int> g_level{static_cast<int>(LogLevel::kInfo)};

const char* name(LogLevel level) {
  switch (level) {
    case LogLevel::kError:
      return "error";
    case LogLevel::kWarn:
      return "warn";
    case LogLevel::kInfo:
      return "info";
    case LogLevel::kDebug:
      return "debug";
  }
  return "?";
}
}  // namespace

void set_log_level(LogLevel level) { g_level.store(static_cast<int>(level)); }
LogLevel log_level() { return static_cast<LogLevel>(g_level.load()); }
bool log_enabled(LogLevel level) { return static_cast<int>(level) <= g_level.load(); }

namespace {

// Warnings and errors are what a guest can cause, request after request: at most
// kBurst lines of one class per kInterval, then one summary line.
constexpr unsigned kBurst = 10;
constexpr std::chrono::seconds kInterval{10};

RateLimiter& limiter() {
  static RateLimiter instance(kBurst, kInterval);
  return instance;
}

// Writes "HH:MM:SS.mmm pfsd[pid] level: " + body + "\n" in one write(), so that
// concurrent workers do not interleave; a failed log write has nowhere better to go.
void write_line(LogLevel level, std::string_view body) {
  char line[1024];
  struct timespec ts {};
  ::clock_gettime(CLOCK_REALTIME, &ts);
  struct tm tm {};
  ::gmtime_r(&ts.tv_sec, &tm);
  int n =
      std::snprintf(line, sizeof line, "%02d:%02d:%02d.%03ld pfsd[%d] %s: ", tm.tm_hour, tm.tm_min,
                    tm.tm_sec, ts.tv_nsec / 1000000, static_cast<int>(::getpid()), name(level));
  if (n < 0 || static_cast<size_t>(n) >= sizeof line - 1) return;
  size_t len = static_cast<size_t>(n);
  const size_t room = sizeof line - 1 - len;
  const size_t take = body.size() < room ? body.size() : room;
  std::memcpy(line + len, body.data(), take);
  len += take;
  line[len++] = '\n';
  (void)!::write(STDERR_FILENO, line, len);
}

void write_summaries(const std::vector<RateLimiter::Suppressed>& ended) {
  for (const auto& s : ended) {
    char body[512];
    std::snprintf(body, sizeof body, "suppressed %llu similar messages in %llds: %s",
                  static_cast<unsigned long long>(s.count),
                  static_cast<long long>(kInterval.count()), s.message_class.c_str());
    write_line(LogLevel::kWarn, body);
  }
}

}  // namespace

void log(LogLevel level, const char* fmt, ...) {
  if (!log_enabled(level)) return;
  char body[900];
  va_list ap;
  va_start(ap, fmt);
  const int n = std::vsnprintf(body, sizeof body, fmt, ap);
  va_end(ap);
  if (n < 0) return;
  const std::string_view text(
      body, static_cast<size_t>(n) < sizeof body ? static_cast<size_t>(n) : sizeof body - 1);
  if (level <= LogLevel::kWarn) {
    std::vector<RateLimiter::Suppressed> ended;
    const bool admitted = limiter().admit(text, ended);
    write_summaries(ended);
    if (!admitted) return;
  }
  write_line(level, text);
}

void flush_suppressed(bool all) { write_summaries(limiter().expire(all)); }

}  // namespace pfs::daemon
