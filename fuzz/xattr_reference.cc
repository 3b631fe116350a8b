#include "fuzz/xattr_reference.h"

namespace pfs::fuzz::xattr_ref {
namespace {

constexpr std::string_view kPrefix = "user.virtiofs.";

bool starts(std::string_view s, std::string_view p) {
  return s.size() >= p.size() && s.compare(0, p.size(), p) == 0;
}

}  // namespace

bool rewritten(std::string_view name, bool rewrite) {
  return rewrite && starts(name, "security.") && name != "security.selinux";
}

bool reserved(std::string_view name) { return starts(name, kPrefix); }

bool host_is(std::string_view got, std::string_view name, bool rewrite) {
  if (!rewritten(name, rewrite)) return got == name;
  return got.size() == kPrefix.size() + name.size() && starts(got, kPrefix) &&
         got.substr(kPrefix.size()) == name;
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
