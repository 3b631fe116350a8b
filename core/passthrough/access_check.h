// The seed's emulation of access(2) from a stat result and the caller's uid/gid.
#pragma once

#include <sys/stat.h>

#include <cstdint>

#include "core/fuse/result.h"

namespace pfs::passthrough {

// `mask` holds R_OK/W_OK/X_OK bits (others ignored; none means F_OK, which passes).
// Read and write: root always passes, anyone else needs the owner, group or other bit
// that applies. Execute: root needs some x bit, anyone else the applicable x bit.
// Returns kOk or EACCES. Supplementary groups are not considered (as in the seed).
Status check_access(const struct stat& st, uint32_t uid, uint32_t gid, uint32_t mask);

}  // namespace pfs::passthrough
