// Bounds-checked parsing of a request body that has already been copied into one
// contiguous buffer, and the name rules every name from the client must pass.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string_view>
#include <type_traits>

namespace pfs::fuse {

// Linux limits the server enforces on what the client sends.
inline constexpr size_t kNameMax = 255;         // NAME_MAX
inline constexpr size_t kPathMax = 4096;        // PATH_MAX, including the NUL
inline constexpr size_t kXattrNameMax = 255;    // XATTR_NAME_MAX
inline constexpr size_t kXattrSizeMax = 65536;  // XATTR_SIZE_MAX
inline constexpr size_t kXattrListMax = 65536;  // XATTR_LIST_MAX
inline constexpr size_t kIoctlSizeMax = 65536;  // our own cap on ioctl in/out data

// A forward-only view over body bytes. Every take checks the bytes that remain.
class BodyCursor {
 public:
  explicit BodyCursor(std::span<const uint8_t> bytes) : rest_(bytes) {}

  template <class T>
  bool take(T& out) {
    static_assert(std::is_trivially_copyable_v<T>);
    if (rest_.size() < sizeof(T)) return false;
    std::memcpy(&out, rest_.data(), sizeof(T));
    rest_ = rest_.subspan(sizeof(T));
    return true;
  }
  // Takes the first `len` bytes; false (and nothing taken) when fewer remain.
  bool take_bytes(size_t len, std::span<const uint8_t>& out);
  // Takes a NUL-terminated string. With `to_end`, the NUL must be the last byte
  // that remains (the string owns the rest of its extent, no bytes may hide behind
  // an early NUL). Returns 0 or EINVAL. The view excludes the NUL, which stays in
  // memory right after it.
  int take_cstr(std::string_view& out, bool to_end);
  // Gives up the last `len` bytes (a trailing field such as an xattr value).
  bool split_tail(size_t len, std::span<const uint8_t>& tail);

  std::span<const uint8_t> rest() const { return rest_; }
  size_t remaining() const { return rest_.size(); }

 private:
  std::span<const uint8_t> rest_;
};

// A directory entry name from the client: non-empty, at most NAME_MAX bytes, no
// '/', not "." or "..". Returns 0, EINVAL or ENAMETOOLONG.
int check_entry_name(std::string_view name);
// An xattr name: non-empty and at most XATTR_NAME_MAX bytes. Returns 0 or ERANGE.
int check_xattr_name(std::string_view name);
// A symlink target: non-empty, shorter than PATH_MAX. Returns 0, EINVAL or
// ENAMETOOLONG.
int check_symlink_target(std::string_view target);

}  // namespace pfs::fuse
