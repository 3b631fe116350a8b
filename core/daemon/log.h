// pfsd's log: one line per event on stderr, "pfsd[pid] LEVEL: message".
#pragma once

#include <string_view>

namespace pfs::daemon {

enum class LogLevel { kError = 0, kWarn = 1, kInfo = 2, kDebug = 3 };

void set_log_level(LogLevel level);
LogLevel log_level();
bool log_enabled(LogLevel level);
// printf-style; thread-safe (one write per line). Warnings and errors are
// rate-limited per message class (see rate_limiter.h): at most 10 lines of one class
// per 10 s, then one "suppressed K similar messages" line.
[[gnu::format(printf, 2, 3)]] void log(LogLevel level, const char* fmt, ...);

// Writes the "suppressed" lines of classes whose interval has ended (of every class
// with lines suppressed, with `all`). The daemon calls it every second and at exit.
void flush_suppressed(bool all = false);

}  // namespace pfs::daemon
