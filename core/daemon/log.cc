#include "core/daemon/log.h"

#include <unistd.h>

#include <atomic>
#include <cstdarg>
#include <cstdio>
#include <ctime>

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

void log(LogLevel level, const char* fmt, ...) {
  if (!log_enabled(level)) return;
  char line[1024];
  struct timespec ts {};
  ::clock_gettime(CLOCK_REALTIME, &ts);
  struct tm tm {};
  ::gmtime_r(&ts.tv_sec, &tm);
  int n =
      std::snprintf(line, sizeof line, "%02d:%02d:%02d.%03ld pfsd[%d] %s: ", tm.tm_hour, tm.tm_min,
                    tm.tm_sec, ts.tv_nsec / 1000000, static_cast<int>(::getpid()), name(level));
  va_list ap;
  va_start(ap, fmt);
  if (n > 0 && static_cast<size_t>(n) < sizeof line) {
    n += std::vsnprintf(line + n, sizeof line - static_cast<size_t>(n), fmt, ap);
  }
  va_end(ap);
  if (n < 0) return;
  size_t len = static_cast<size_t>(n) < sizeof line - 1 ? static_cast<size_t>(n) : sizeof line - 2;
  line[len++] = '\n';
  // One write() per line so concurrent workers do not interleave; a failed log
  // write has nowhere better to go.
  (void)!::write(STDERR_FILENO, line, len);
}

}  // namespace pfs::daemon
