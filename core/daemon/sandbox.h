// pfsd's second wall: confinement of the serving process (see shared/DESIGN.md).
//
// namespace: the process that started stays in the host's namespaces as a
// supervisor (it forwards SIGTERM/SIGINT/SIGHUP, unmounts in host mode, and exits
// with the server's status). Its child is pid 1 of new pid, mount, net and ipc
// namespaces: it mounts a fresh /proc for the new pid namespace (only its per-process
// part where the kernel can: subset=pid, so no sysrq-trigger, no /proc/sys) and opens
// it, bind-mounts the shared directory nodev and nosuid (and read-only with
// `readonly`) on top of the flags it already has, makes it the root with pivot_root,
// detaches the old root, then forks the server and waits for it, forwarding signals
// and passing on its exit status.
// chroot (for containers with namespaces of their own): the same supervisor, and a
// child that opens /proc and chroots into the shared directory.
#pragma once

#include <functional>
#include <string>

#include "core/passthrough/scoped_fd.h"

namespace pfs::daemon {

enum class SandboxMode { kNone, kNamespace, kChroot };

struct SandboxOutcome {
  enum Kind {
    kServe,   // we are the (confined) server: root and proc are the core's fds
    kExited,  // we were the supervisor: the server is gone, exit with `status`
    kError,   // could not confine: print `error`, exit 1
  } kind = kServe;
  int status = 0;
  std::string error;
  ScopedFd root;  // the shared directory, as the new "/"
  ScopedFd proc;  // /proc opened before confinement
};

struct SandboxHooks {
  // Runs in the supervisor and in pid 1 right after fork(): close what only the
  // server may hold (the listening socket, the /dev/fuse fd, the core's fds).
  std::function<void()> in_helper;
  // Runs in the supervisor when SIGTERM/SIGINT/SIGHUP arrives, before forwarding
  // it (host mode: unmount, which the confined server can no longer see).
  std::function<void(int sig)> on_signal;
};

// Must be called while single-threaded, with SIGTERM, SIGINT and SIGHUP blocked.
// `readonly` (namespace mode): the server's view of the share is a read-only mount.
SandboxOutcome enter_sandbox(SandboxMode mode, const std::string& shared_dir, bool readonly,
                             const SandboxHooks& hooks);

}  // namespace pfs::daemon
