// The security context the kernel attaches to CREATE, MKDIR, MKNOD, SYMLINK and
// TMPFILE when FUSE_SECURITY_CTX was negotiated: a fuse_secctx_header, then per
// context a fuse_secctx{size}, the xattr name (NUL-terminated) and `size` bytes of
// context, the whole block padded to 8 bytes. From protocol 7.38 it is a request
// extension (the last total_extlen * 8 bytes, header.nr_secctx doubling as the
// extension type); before, it simply follows the names.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>

namespace pfs::fuse {

// Parses `region` (a list of extension blocks; the legacy layout is a list of
// one). Sets `ctx` to the SELinux context (trailing NULs stripped) or leaves it
// empty when there is none. Contexts for other xattr names and unknown extension
// types are skipped. Returns 0 or EINVAL.
int parse_security_context(std::span<const uint8_t> region, std::string_view& ctx);

}  // namespace pfs::fuse
