// Defence in depth: the Server already refuses bad names, but PassthroughFs is
// also called directly (tests, fuzzers), and a name that is "..", contains a '/'
// or is empty would walk out of the directory its parent fd names.
#pragma once

#include <cerrno>
#include <string_view>

#include "core/fuse/result.h"

namespace pfs::passthrough {

inline Status check_entry_name(std::string_view name) {
  if (name.empty() || name == "." || name == "..") return EINVAL;
  if (name.find('/') != std::string_view::npos) return EINVAL;
  if (name.find('\0') != std::string_view::npos) return EINVAL;
  if (name.size() > 255) return ENAMETOOLONG;
  return kOk;
}

}  // namespace pfs::passthrough
