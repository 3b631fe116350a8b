#include "core/fuse/request_decoder.h"

#include <cerrno>

namespace pfs::fuse {

bool BodyCursor::take_bytes(size_t len, std::span<const uint8_t>& out) {
  if (rest_.size() < len) return false;
  out = rest_.first(len);
  rest_ = rest_.subspan(len);
  return true;
}

int BodyCursor::take_cstr(std::string_view& out, bool to_end) {
  const void* nul = std::memchr(rest_.data(), '\0', rest_.size());
  if (nul == nullptr) return EINVAL;
  const size_t len = static_cast<size_t>(static_cast<const uint8_t*>(nul) - rest_.data());
  if (to_end && len + 1 != rest_.size()) return EINVAL;
  out = std::string_view(reinterpret_cast<const char*>(rest_.data()), len);
  rest_ = rest_.subspan(len + 1);
  return 0;
}

bool BodyCursor::split_tail(size_t len, std::span<const uint8_t>& tail) {
  if (rest_.size() < len) return false;
  tail = rest_.last(len);
  rest_ = rest_.first(rest_.size() - len);
  return true;
}

int check_entry_name(std::string_view name) {
  if (name.empty()) return EINVAL;
  if (name.size() > kNameMax) return ENAMETOOLONG;
  // "..", "." or a '/' would let a name step out of its parent directory.
  if (name == "." || name == "..") return EINVAL;
  if (name.find('/') != std::string_view::npos) return EINVAL;
  if (name.find('\0') != std::string_view::npos) return EINVAL;
  return 0;
}

int check_xattr_name(std::string_view name) {
  if (name.empty() || name.size() > kXattrNameMax) return ERANGE;
  return 0;
}

int check_symlink_target(std::string_view target) {
  if (target.empty()) return EINVAL;
  if (target.size() >= kPathMax) return ENAMETOOLONG;
  return 0;
}

}  // namespace pfs::fuse
