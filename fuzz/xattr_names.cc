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
#include <string>
#include <string_view>
#include <vector>

#include "fuzz/oracles.h"

namespace {

using pfs::fuzz::oracle_fail;

// --- the reference ---------------------------------------------------------
const std::string kRefPrefix = "user.virtiofs.";

bool ref_starts(const std::string& s, const std::string& p) {
  return s.size() >= p.size() && s.compare(0, p.size(), p) == 0;
}

std::string ref_host(const std::string& name, bool rewrite) {
  if (rewrite && ref_starts(name, "security.") && name != "security.selinux")
    return kRefPrefix + name;
  return name;
}

bool ref_reserved(const std::string& name) { return ref_starts(name, kRefPrefix); }

std::string ref_strip(const std::string& list) {
  std::string out;
  size_t i = 0;
  while (i < list.size()) {
    const size_t nul = list.find('\0', i);
    const bool last = nul == std::string::npos;
    std::string name = list.substr(i, last ? std::string::npos : nul - i);
    if (ref_starts(name, kRefPrefix)) name.erase(0, kRefPrefix.size());
    out += name;
    if (!last) out += '\0';
    i = last ? list.size() : nul + 1;
  }
  return out;
}

// --- the comparison --------------------------------------------------------
std::string printable(const std::string& s) {
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

std::string project_strip(const std::string& list) {
  std::vector<uint8_t> buf(list.begin(), list.end());
  const size_t n = pfs::passthrough::strip_xattr_prefix(buf);
  if (n > list.size()) oracle_fail("strip_xattr_prefix grew the list: %zu > %zu", n, list.size());
  return std::string(buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(n));
}

void check_name(const std::string& name) {
  for (bool rewrite : {false, true}) {
    const std::string got = pfs::passthrough::host_xattr_name(name, rewrite);
    const std::string want = ref_host(name, rewrite);
    if (got != want) {
      oracle_fail("host_xattr_name(\"%s\", %d) = \"%s\", reference \"%s\"", printable(name).c_str(),
                  rewrite, printable(got).c_str(), printable(want).c_str());
    }
  }
  if (pfs::passthrough::is_reserved_xattr_name(name) != ref_reserved(name)) {
    oracle_fail("is_reserved_xattr_name(\"%s\") = %d, reference %d", printable(name).c_str(),
                pfs::passthrough::is_reserved_xattr_name(name), ref_reserved(name));
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const bool rewrite = (data[0] & 1) != 0;
  const std::string rest(reinterpret_cast<const char*>(data) + 1, size - 1);

  // (a) The whole rest as a listxattr buffer.
  const std::string got = project_strip(rest);
  const std::string want = ref_strip(rest);
  if (got != want) {
    oracle_fail("strip_xattr_prefix(\"%s\") = \"%s\", reference \"%s\"", printable(rest).c_str(),
                printable(got).c_str(), printable(want).c_str());
  }

  // (b) Names: differential, then the round trip over the list of host names.
  std::vector<std::string> names;
  for (size_t i = 0; i <= rest.size();) {
    const size_t nul = rest.find('\0', i);
    names.push_back(rest.substr(i, nul == std::string::npos ? std::string::npos : nul - i));
    if (nul == std::string::npos) break;
    i = nul + 1;
  }
  std::string host_list;
  std::string guest_list;
  for (const std::string& n : names) {
    check_name(n);
    if (n.empty() || ref_reserved(n)) continue;  // a guest can never set those
    host_list += pfs::passthrough::host_xattr_name(n, rewrite) + '\0';
    guest_list += n + '\0';
  }
  const std::string back = project_strip(host_list);
  if (back != guest_list) {
    oracle_fail("round trip (rewrite=%d): strip(host names) = \"%s\", guest names \"%s\"", rewrite,
                printable(back).c_str(), printable(guest_list).c_str());
  }
  return 0;
}
