// Options of PassthroughFs (virtiofsd users will recognise most of them).
#pragma once

#include <cstdint>
#include <string>

#include "core/fuse/filesystem.h"

namespace pfs::passthrough {

enum class CachePolicy {
  kNever,   // FOPEN_DIRECT_IO on files: every read and write goes to the host
  kAuto,    // close-to-open consistency (the kernel's default)
  kAlways,  // FOPEN_KEEP_CACHE on files, FOPEN_CACHE_DIR on directories
};

struct Config {
  // The directory that becomes the root of the file system.
  std::string root_dir = "/";
  fuse::Timeout entry_timeout{5, 0};
  fuse::Timeout attr_timeout{5, 0};
  CachePolicy cache_policy = CachePolicy::kAuto;
  // Enable FUSE_WRITEBACK_CACHE when the client offers it.
  bool writeback = false;
  // Store guest security.* xattrs (but security.selinux) as user.virtiofs.security.*.
  bool rewrite_security_xattrs = false;
  // Case-insensitive (ASCII) lookups when the exact name does not exist.
  bool ascii_casefold = false;
  // Serve extended attributes at all (virtiofsd --xattr / --no-xattr).
  bool xattr = true;
  // Announce POSIX ACL support (FUSE_POSIX_ACL, as the seed always does); the
  // kernel then enforces ACLs and permissions itself. Needs xattr.
  bool posix_acl = true;
  // Refuse every operation that would change the tree with EROFS.
  bool readonly = false;
};

}  // namespace pfs::passthrough
