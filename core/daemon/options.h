// pfsd's command line, in the style of virtiofsd: parsing and validation only.
#pragma once

#include <string>
#include <vector>

#include "core/daemon/capabilities.h"
#include "core/daemon/log.h"
#include "core/daemon/sandbox.h"
#include "core/daemon/seccomp_policy.h"
#include "core/passthrough/config.h"
#include "core/transport/devfuse/fuse_mount.h"

namespace pfs::daemon {

struct Options {
  passthrough::Config fs;
  std::string mountpoint;           // host mode
  std::string socket_path;          // vhost-user mode: listen here, serve one front-end
  int socket_fd = -1;               // vhost-user mode: an already listening socket
  std::string socket_group;         // --socket-path: the socket is 0660 with this group
  bool print_capabilities = false;  // print the vhost-user backend JSON and exit
  unsigned threads = 4;
  LogLevel log_level = LogLevel::kInfo;
  std::string record_dir;
  // Host mode. allow_other (other users may use the mount) is opt-in and always comes
  // with default_permissions: the kernel then checks the modes itself. Without it,
  // pfsd's credential switch alone would let them act with root's rights wherever
  // the kernel does not check (e.g. --no-xattr, no POSIX ACLs negotiated).
  bool default_permissions = false;
  bool allow_other = false;
  // The second wall (core/daemon/sandbox.h). Defaults stay `none` until every suite
  // runs inside the sandbox.
  SandboxMode sandbox = SandboxMode::kNamespace;
  SeccompAction seccomp = SeccompAction::kKill;
  std::vector<CapChange> modcaps;  // applied to the kept set when confined

  bool vhost_user() const { return !socket_path.empty() || socket_fd >= 0; }
};

struct ParseOutcome {
  enum Kind { kRun, kExitOk, kExitError } kind = kRun;
  std::string message;  // help/version text, or the one-line error
};

// Parses argv into `out`. On --help/--version/--print-capabilities the text is in
// message (kExitOk);
// on bad use, one line saying what is wrong and how to fix it (kExitError).
ParseOutcome parse_options(int argc, char** argv, Options& out);

// Checks what parsing cannot: the shared dir exists and is a readable directory,
// the mountpoint exists and /dev/fuse is there (host mode). Returns the one-line error or "".
std::string validate_environment(const Options& opts);

}  // namespace pfs::daemon
