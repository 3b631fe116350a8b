// Fuzz target: differential test of the xattr name rewrite (xattr_names.h)
// against a plain reference written here from the rules alone:
//   - with rewrite, "security.X" but exactly "security.selinux" is stored as
//     "user.virtiofs.security.X"; without it, names pass unchanged;
//   - a guest name starting with "user.virtiofs." is reserved;
//   - listxattr strips "user.virtiofs." from the start of every NUL-separated
//     name, a last name without its NUL included.
// Plus round trips: for every NUL-free, non-reserved name N, stripping the list
// of rewritten names gives back the list of the N.
//
// Input: byte 0 bit 0 = rewrite; the rest is (a) a listxattr buffer as is and
// (b) split at NULs into guest names.
#include "core/passthrough/xattr_names.h"

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <span>
#include <string>
#include <string_view>

#include "fuzz/oracles.h"
#include "fuzz/poisoned_arena.h"

namespace {

using pfs::fuzz::oracle_fail;

// --- the reference ---------------------------------------------------------
// Written without allocating (ASan makes every allocation costly, and an input
// holds up to thousands of names); strings are built only for a failure message.
constexpr std::string_view kRefPrefix = "user.virtiofs.";

bool ref_starts(std::string_view s, std::string_view p) {
  return s.size() >= p.size() && s.compare(0, p.size(), p) == 0;
}

bool ref_rewritten(std::string_view name, bool rewrite) {
  return rewrite && ref_starts(name, "security.") && name != "security.selinux";
}

std::string ref_host(std::string_view name, bool rewrite) {
  return ref_rewritten(name, rewrite) ? std::string(kRefPrefix) + std::string(name)
                                      : std::string(name);
}

bool ref_host_is(std::string_view got, std::string_view name, bool rewrite) {
  if (!ref_rewritten(name, rewrite)) return got == name;
  return got.size() == kRefPrefix.size() + name.size() && ref_starts(got, kRefPrefix) &&
         got.substr(kRefPrefix.size()) == name;
}

bool ref_reserved(std::string_view name) { return ref_starts(name, kRefPrefix); }

void ref_strip(std::string_view list, std::string& out) {
  out.clear();
  size_t i = 0;
  while (i < list.size()) {
    const size_t nul = list.find('\0', i);
    const bool last = nul == std::string_view::npos;
    std::string_view name = list.substr(i, last ? std::string_view::npos : nul - i);
    if (ref_starts(name, kRefPrefix)) name.remove_prefix(kRefPrefix.size());
    out += name;
    if (!last) out += '\0';
    i = last ? list.size() : nul + 1;
  }
}

// --- the comparison --------------------------------------------------------
std::string printable(std::string_view s) {
  std::string out;
  for (unsigned char ch : s) {
    if (ch >= 0x20 && ch < 0x7f && ch != '\\') {
      out += static_cast<char>(ch);
    } else {
      char buf[8];
      std::snprintf(buf, sizeof(buf), "\\x%02x", ch);
      out += buf;
    }
  }
  return out;
}

// Per process, reused by every input. The list handed to strip_xattr_prefix is an
// exact-size piece of the arena, so ASan sees a byte read or written past it.
struct Buffers {
  pfs::fuzz::PoisonedArena arena;
  std::string want;
  std::string host_list;
  std::string guest_list;
};

std::string_view project_strip(pfs::fuzz::PoisonedArena& arena, std::string_view list) {
  arena.reset(list.size(), 1);
  uint8_t* piece = list.empty() ? nullptr : arena.take(list.size());
  if (piece != nullptr) std::memcpy(piece, list.data(), list.size());
  const size_t n = pfs::passthrough::strip_xattr_prefix(std::span<uint8_t>(piece, list.size()));
  if (n > list.size()) oracle_fail("strip_xattr_prefix grew the list: %zu > %zu", n, list.size());
  return {reinterpret_cast<const char*>(piece), n};
}

// Checks `name` against the reference; returns its host name under `rewrite`.
std::string check_name(std::string_view name, bool rewrite) {
  std::string host;
  for (bool r : {false, true}) {
    std::string got = pfs::passthrough::host_xattr_name(name, r);
    if (!ref_host_is(got, name, r)) {
      oracle_fail("host_xattr_name(\"%s\", %d) = \"%s\", reference \"%s\"", printable(name).c_str(),
                  r, printable(got).c_str(), printable(ref_host(name, r)).c_str());
    }
    if (r == rewrite) host = std::move(got);
  }
  if (pfs::passthrough::is_reserved_xattr_name(name) != ref_reserved(name)) {
    oracle_fail("is_reserved_xattr_name(\"%s\") = %d, reference %d", printable(name).c_str(),
                pfs::passthrough::is_reserved_xattr_name(name), ref_reserved(name));
  }
  return host;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  static Buffers b;
  const bool rewrite = (data[0] & 1) != 0;
  const std::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);

  // (a) The whole rest as a listxattr buffer.
  ref_strip(rest, b.want);
  const std::string_view got = project_strip(b.arena, rest);
  if (got != b.want) {
    oracle_fail("strip_xattr_prefix(\"%s\") = \"%s\", reference \"%s\"", printable(rest).c_str(),
                printable(got).c_str(), printable(b.want).c_str());
  }

  // (b) Names: differential, then the round trip over the list of host names.
  b.host_list.clear();
  b.guest_list.clear();
  for (size_t i = 0; i <= rest.size();) {
    const size_t nul = rest.find('\0', i);
    const std::string_view n =
        rest.substr(i, nul == std::string_view::npos ? std::string_view::npos : nul - i);
    const std::string host = check_name(n, rewrite);
    if (!n.empty() && !ref_reserved(n)) {  // a guest can never set the others
      b.host_list += host;
      b.host_list += '\0';
      b.guest_list += n;
      b.guest_list += '\0';
    }
    if (nul == std::string_view::npos) break;
    i = nul + 1;
  }
  const std::string_view back = project_strip(b.arena, b.host_list);
  if (back != b.guest_list) {
    oracle_fail("round trip (rewrite=%d): strip(host names) = \"%s\", guest names \"%s\"", rewrite,
                printable(back).c_str(), printable(b.guest_list).c_str());
  }
  return 0;
}
