// pfsd's seccomp allow-list (libseccomp): every syscall it makes while serving.
#pragma once

#include <string>

namespace pfs::daemon {

enum class SeccompAction { kNone, kKill, kLog, kTrap };

// The allow-list, by name (x86_64 names; those unknown on this arch are skipped).
// `host_mode`: /dev/fuse; otherwise vhost-user.
const char* const* seccomp_allowed(bool host_mode, size_t* count);

// Installs the filter on the calling (only) thread; every later thread inherits it.
// Anything off the list: kill the process, log it (and allow), or trap (SIGSYS:
// print the syscall's name and exit 1). Returns the one-line error or "".
std::string install_seccomp(SeccompAction action, bool host_mode);

}  // namespace pfs::daemon
