#include "core/transport/vhost_user/logger.h"

#include <cstdarg>
#include <cstdio>

namespace pfs::transport::vhost_user {

void logf(const Logger& log, Severity s, const char* fmt, ...) {
  if (!log) return;
  char buf[512];
  va_list ap;
  va_start(ap, fmt);
  const int n = std::vsnprintf(buf, sizeof(buf), fmt, ap);
  va_end(ap);
  if (n < 0) return;
  const size_t len =
      static_cast<size_t>(n) < sizeof(buf) ? static_cast<size_t>(n) : sizeof(buf) - 1;
  log(s, std::string_view(buf, len));
}

}  // namespace pfs::transport::vhost_user
