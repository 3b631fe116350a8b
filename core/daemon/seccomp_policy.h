// pfsd's seccomp allow-list (libseccomp): every syscall it makes while serving, per
// transport. The list and the reason for each entry are in seccomp_policy.cc;
// ci/seccomp-trace checks it against strace of the test suites.
#pragma once

#include <cstddef>
#include <span>
#include <string>

namespace pfs::daemon {

enum class SeccompAction { kNone, kKill, kLog, kTrap };

// The allow-list, by name (x86_64 names; those unknown on this arch are skipped).
// `host_mode`: /dev/fuse; otherwise vhost-user.
const char* const* seccomp_allowed(bool host_mode, size_t* count);

// The names on the list that are no syscall on this architecture, space separated
// ("" when all resolve): on x86_64 a non-empty answer is a typo.
std::string seccomp_unresolved(bool host_mode);

// Installs the filter on every thread of the process (TSYNC); later ones inherit it.
// Anything off the list: kill the process, log it (and allow), or trap (SIGSYS:
// print the syscall's name and the stack, exit 1; seccomp_trap.h). Returns the
// one-line error or "".
std::string install_seccomp(SeccompAction action, bool host_mode);

// What the fuzz harness changes (fuzz/fuzz_seccomp.cc); pfsd uses the defaults.
struct SeccompOptions {
  std::span<const char* const> extra;  // more names to allow; each must be a syscall here
  const char* who = "pfsd";            // prefixes the trap report; must outlive the process
  bool trap_aborts = false;            // trap: abort() after the report, not _exit(1)
};
std::string install_seccomp(SeccompAction action, bool host_mode, const SeccompOptions& o);

}  // namespace pfs::daemon
