// pfsd's log: one line per event on stderr, "pfsd[pid] LEVEL: message".
#pragma once

#include <string_view>

namespace pfs::daemon {

enum class LogLevel { kError = 0, kWarn = 1, kInfo = 2, kDebug = 3 };

void set_log_level(LogLevel level);
LogLevel log_level();
bool log_enabled(LogLevel level);
// printf-style; thread-safe (one write per line).
[[gnu::format(printf, 2, 3)]] void log(LogLevel level, const char* fmt, ...);

}  // namespace pfs::daemon
