// Fuzz target: differential test of the xattr name rewrite (xattr_names.h)
// against a plain reference written from the rules alone (xattr_reference.h).
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
#include "fuzz/xattr_reference.h"

namespace {

using pfs::fuzz::oracle_fail;
namespace ref = pfs::fuzz::xattr_ref;

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
  std::string got;   // the core's host name of the current name, each rewrite mode
  std::string host;  // ... under the input's mode
};

std::string_view project_strip(pfs::fuzz::PoisonedArena& arena, std::string_view list) {
  arena.reset(list.size(), 1);
  uint8_t* piece = list.empty() ? nullptr : arena.take(list.size());
  if (piece != nullptr) std::memcpy(piece, list.data(), list.size());
  const size_t n = pfs::passthrough::strip_xattr_prefix(std::span<uint8_t>(piece, list.size()));
  if (n > list.size()) oracle_fail("strip_xattr_prefix grew the list: %zu > %zu", n, list.size());
  return {reinterpret_cast<const char*>(piece), n};
}

// Checks `name` against the reference; leaves its host name under `rewrite` in b.host.
void check_name(Buffers& b, std::string_view name, bool rewrite) {
  for (bool r : {false, true}) {
    pfs::passthrough::assign_host_xattr_name(b.got, name, r);
    if (!ref::host_is(b.got, name, r)) {
      oracle_fail("host_xattr_name(\"%s\", %d) = \"%s\", reference \"%s\"", printable(name).c_str(),
                  r, printable(b.got).c_str(), printable(ref::host(name, r)).c_str());
    }
    if (r == rewrite) b.host.swap(b.got);
  }
  if (pfs::passthrough::is_reserved_xattr_name(name) != ref::reserved(name)) {
    oracle_fail("is_reserved_xattr_name(\"%s\") = %d, reference %d", printable(name).c_str(),
                pfs::passthrough::is_reserved_xattr_name(name), ref::reserved(name));
  }
}

}  // namespace

// ASan's quarantine at 16 MiB instead of 256, as in fuse_decode.cc: this target
// frees little but libFuzzer's copy of each input, and a 256 MiB ring of those kept
// every allocation on cold pages (page faults were a tenth of the profile).
extern "C" const char* __asan_default_options() { return "quarantine_size_mb=16"; }

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  static Buffers b;
  const bool rewrite = (data[0] & 1) != 0;
  const std::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);

  // (a) The whole rest as a listxattr buffer.
  ref::strip(rest, b.want);
  const std::string_view got = project_strip(b.arena, rest);
  if (!ref::same(got, b.want)) {
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
    check_name(b, n, rewrite);
    if (!n.empty() && !ref::reserved(n)) {  // a guest can never set the others
      b.host_list += b.host;
      b.host_list += '\0';
      b.guest_list += n;
      b.guest_list += '\0';
    }
    if (nul == std::string_view::npos) break;
    i = nul + 1;
  }
  const std::string_view back = project_strip(b.arena, b.host_list);
  if (!ref::same(back, b.guest_list)) {
    oracle_fail("round trip (rewrite=%d): strip(host names) = \"%s\", guest names \"%s\"", rewrite,
                printable(back).c_str(), printable(b.guest_list).c_str());
  }
  return 0;
}
