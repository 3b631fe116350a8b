// The xattr name rules written plainly from their statement, as the reference the
// xattr_names target compares the core's xattr_names.h against:
//   - with rewrite, "security.X" but exactly "security.selinux" is stored as
//     "user.virtiofs.security.X"; without it, names pass unchanged;
//   - a guest name starting with "user.virtiofs." is reserved;
//   - listxattr strips "user.virtiofs." from the start of every NUL-separated
//     name, a last name without its NUL included.
// Harness, not code under test: built without coverage instrumentation under
// libFuzzer (fuzz/CMakeLists.txt), and allocation-free but for ref_strip's output
// (reused) and ref_host (only for a failure message).
#pragma once

#include <string>
#include <string_view>

namespace pfs::fuzz::xattr_ref {

// Equal bytes, compared without memcmp (see xattr_reference.cc).
bool same(std::string_view a, std::string_view b);
bool rewritten(std::string_view name, bool rewrite);
bool reserved(std::string_view name);
// Whether `got` is the host name of `name`.
bool host_is(std::string_view got, std::string_view name, bool rewrite);
std::string host(std::string_view name, bool rewrite);
// The stripped list into `out` (cleared first).
void strip(std::string_view list, std::string& out);

}  // namespace pfs::fuzz::xattr_ref
