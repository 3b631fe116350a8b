// Guest <-> host extended attribute names when security.* xattrs are rewritten
// (Config::rewrite_security_xattrs): the guest's "security.X" lives on the host as
// "user.virtiofs.security.X" so an unprivileged daemon can store it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace pfs::passthrough {

inline constexpr std::string_view kUserVirtiofsPrefix = "user.virtiofs.";

// True when `guest_name` is in the namespace we reserve for rewritten names; the guest
// may not get, set or remove those itself (it could forge a privileged xattr).
bool is_reserved_xattr_name(std::string_view guest_name);

// The host-side name for `guest_name`. With `rewrite`, "security.X" (but not exactly
// "security.selinux") becomes "user.virtiofs.security.X"; anything else is unchanged.
// c_str() of the result is ready for a syscall.
std::string host_xattr_name(std::string_view guest_name, bool rewrite);
// The same into `out`, reusing its capacity (no allocation once it is large enough).
void assign_host_xattr_name(std::string& out, std::string_view guest_name, bool rewrite);

// For listxattr: removes the "user.virtiofs." prefix from every NUL-separated name in
// `buf` (the used bytes of the list), in place. A last name without a NUL counts as a
// name too. Returns the new length; bytes past it are unspecified.
size_t strip_xattr_prefix(std::span<uint8_t> buf);

}  // namespace pfs::passthrough
