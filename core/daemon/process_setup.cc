#include "core/daemon/process_setup.h"

#include <grp.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace pfs::daemon {

std::string drop_supplementary_groups() {
  // Safety: glibc applies setgroups to every thread of the process; pfsd has only
  // the one here. The result is checked.
  if (::setgroups(0, nullptr) == 0) return "";
  const int err = errno;
  // Without CAP_SETGID an unprivileged pfsd cannot call it, which is harmless when
  // it has no supplementary groups to begin with.
  if (::getgroups(0, nullptr) == 0) return "";
  return std::string("pfsd: cannot clear the supplementary groups: ") + std::strerror(err) +
         " (run pfsd as root, or with CAP_SETGID)";
}

Result<NofileLimits> raise_nofile_limit() {
  rlimit lim{};
  // Safety: fills lim; checked.
  if (::getrlimit(RLIMIT_NOFILE, &lim) != 0) return last_errno();
  NofileLimits out{lim.rlim_cur, lim.rlim_cur};
  if (lim.rlim_cur == lim.rlim_max) return out;
  lim.rlim_cur = lim.rlim_max;
  // Safety: raises only the soft limit, up to the hard one; checked.
  if (::setrlimit(RLIMIT_NOFILE, &lim) != 0) return last_errno();
  out.now = lim.rlim_cur;
  return out;
}

}  // namespace pfs::daemon
