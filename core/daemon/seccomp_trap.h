// The SIGSYS handler of `--seccomp trap`: a syscall off the allow-list prints its
// name, its number and the stack that made it, then the process exits 1.
#pragma once

#include <string>

namespace pfs::daemon {

// Prepares everything the handler needs while syscalls are still unrestricted (the
// table of syscall names, libgcc's unwinder loaded by one backtrace() call), then
// installs the handler for SIGSYS. `who` prefixes the message ("pfsd", "fuzz"); it
// must outlive the process. After the report the process exits 1, or with
// `then_abort` calls abort() (a fuzz engine's SIGABRT handler then saves the input).
// Returns the one-line error or "".
std::string install_sigsys_reporter(const char* who, bool then_abort = false);

}  // namespace pfs::daemon
