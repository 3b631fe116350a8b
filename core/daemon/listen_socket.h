// The vhost-user listening socket. Whoever connects first becomes the front-end and
// acts as root in the share, so the socket is private to its owner (0600), or to one
// group (0660, --socket-group), whatever the umask pfsd was started with.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>

#include "core/fuse/result.h"
#include "core/passthrough/scoped_fd.h"

namespace pfs::daemon {

// A group name from the group database, or a numeric gid.
std::optional<gid_t> resolve_group(const std::string& name);

// Listens on `path` (replacing a stale socket left by an earlier run, never any
// other file: EEXIST). The socket file is created 0600 (never wider, not even for a
// moment); with `group` it then gets that group and mode 0660. Must be called while
// the process is single-threaded: it sets the umask around bind().
Result<ScopedFd> listen_private(const std::string& path, std::optional<gid_t> group);

}  // namespace pfs::daemon
