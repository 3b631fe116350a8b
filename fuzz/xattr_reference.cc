#include "fuzz/xattr_reference.h"

#include <cstdint>
#include <cstring>

namespace pfs::fuzz::xattr_ref {
namespace {

constexpr std::string_view kPrefix = "user.virtiofs.";

// Not memcmp: the harness's comparisons would otherwise feed libFuzzer's memcmp
// hook (its comparison table) on every input, at a cost and with no signal about
// the code under test. Eight bytes a load: a byte loop costs an ASan check a byte.
bool same_bytes(const char* a, const char* b, size_t n) {
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t x;
    uint64_t y;
    std::memcpy(&x, a + i, 8);
    std::memcpy(&y, b + i, 8);
    if (x != y) return false;
  }
  for (; i < n; ++i) {
    if (a[i] != b[i]) return false;
  }
  return true;
}

bool starts(std::string_view s, std::string_view p) {
  return s.size() >= p.size() && same_bytes(s.data(), p.data(), p.size());
}

}  // namespace

bool same(std::string_view a, std::string_view b) {
  return a.size() == b.size() && same_bytes(a.data(), b.data(), a.size());
}

bool rewritten(std::string_view name, bool rewrite) {
  return rewrite && starts(name, "security.") && !same(name, "security.selinux");
}

bool reserved(std::string_view name) { return starts(name, kPrefix); }

bool host_is(std::string_view got, std::string_view name, bool rewrite) {
  if (!rewritten(name, rewrite)) return same(got, name);
  return got.size() == kPrefix.size() + name.size() && starts(got, kPrefix) &&
         same(got.substr(kPrefix.size()), name);
}

std::string host(std::string_view name, bool rewrite) {
  return rewritten(name, rewrite) ? std::string(kPrefix) + std::string(name) : std::string(name);
}

void strip(std::string_view list, std::string& out) {
  out.clear();
  size_t i = 0;
  while (i < list.size()) {
    const size_t nul = list.find('\0', i);
    const bool last = nul == std::string_view::npos;
    std::string_view name = list.substr(i, last ? std::string_view::npos : nul - i);
    if (starts(name, kPrefix)) name.remove_prefix(kPrefix.size());
    out += name;
    if (!last) out += '\0';
    i = last ? list.size() : nul + 1;
  }
}

}  // namespace pfs::fuzz::xattr_ref
