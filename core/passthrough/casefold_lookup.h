// Case-insensitive (ASCII only) lookup of a name in a directory, for
// Config::ascii_casefold when the exact name does not exist.
#pragma once

#include <string_view>

#include "core/fuse/result.h"
#include "core/passthrough/scoped_fd.h"

namespace pfs::passthrough {

// Scans `readable_dir_fd` (a directory opened for reading; its position is moved) for
// an entry equal to `name` ignoring ASCII case, skipping "." and "..", and opens the
// first match O_PATH|O_NOFOLLOW|O_CLOEXEC. ENOENT when there is none; other errors are
// those of reading the directory or of the open.
Result<ScopedFd> ascii_casefold_lookup(int readable_dir_fd, std::string_view name);

}  // namespace pfs::passthrough
