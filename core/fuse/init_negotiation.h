// INIT: protocol version and capability negotiation.
#pragma once

#include <linux/fuse.h>

#include <cstdint>
#include <span>

#include "core/fuse/filesystem.h"
#include "core/fuse/server.h"

namespace pfs::fuse {

// Flags whose requests and replies this server decodes correctly. Everything else
// is never granted, whatever the FileSystem asks for: e.g. EXPORT_SUPPORT (would
// make the kernel send lookups of "." and ".."), FLOCK_LOCKS (the FileSystem
// interface cannot tell flock from POSIX locks), DAX mapping, CREATE_SUPP_GROUP.
inline constexpr uint64_t kServerSupportedFlags =
    FUSE_ASYNC_READ | FUSE_POSIX_LOCKS | FUSE_ATOMIC_O_TRUNC | FUSE_BIG_WRITES | FUSE_DONT_MASK |
    FUSE_HAS_IOCTL_DIR | FUSE_AUTO_INVAL_DATA | FUSE_DO_READDIRPLUS | FUSE_READDIRPLUS_AUTO |
    FUSE_ASYNC_DIO | FUSE_WRITEBACK_CACHE | FUSE_NO_OPEN_SUPPORT | FUSE_PARALLEL_DIROPS |
    FUSE_HANDLE_KILLPRIV | FUSE_POSIX_ACL | FUSE_ABORT_ERROR | FUSE_MAX_PAGES |
    FUSE_CACHE_SYMLINKS | FUSE_NO_OPENDIR_SUPPORT | FUSE_EXPLICIT_INVAL_DATA | FUSE_SUBMOUNTS |
    FUSE_HANDLE_KILLPRIV_V2 | FUSE_SETXATTR_EXT | FUSE_INIT_EXT | FUSE_SECURITY_CTX |
    FUSE_HAS_EXPIRE_ONLY;

// Flags the server itself always wants when the client offers them.
inline constexpr uint64_t kServerOwnFlags = FUSE_ASYNC_READ | FUSE_BIG_WRITES | FUSE_MAX_PAGES |
                                            FUSE_PARALLEL_DIROPS | FUSE_INIT_EXT |
                                            FUSE_SETXATTR_EXT;

struct InitOutcome {
  enum Kind { kReady, kRetry, kError } kind = kError;
  int error = 0;          // for kError
  fuse_init_out reply{};  // for kReady and kRetry
  uint32_t minor = 0;     // for kReady
  uint64_t flags = 0;     // for kReady
};

// Decides the reply to an INIT whose body is `body`; calls fs.init() when the
// version is acceptable. Pure apart from that call.
InitOutcome negotiate_init(std::span<const uint8_t> body, FileSystem& fs,
                           const ServerOptions& opts);

}  // namespace pfs::fuse
