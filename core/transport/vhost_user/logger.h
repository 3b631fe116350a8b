// How the vhost-user transport reports events: a callback the daemon connects to
// its log (the transport does not depend on the daemon).
#pragma once

#include <functional>
#include <string_view>

namespace pfs::transport::vhost_user {

enum class Severity { kError = 0, kWarn = 1, kInfo = 2, kDebug = 3 };

// Called from the protocol thread and from queue workers: must be thread-safe.
// Empty = silent.
using Logger = std::function<void(Severity, std::string_view)>;

// printf-style helper: formats into a stack buffer (long lines are cut) and calls
// `log` when it is set.
[[gnu::format(printf, 3, 4)]] void logf(const Logger& log, Severity s, const char* fmt, ...);

}  // namespace pfs::transport::vhost_user
