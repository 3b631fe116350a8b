#include "core/daemon/capabilities.h"

#include <cap-ng.h>
#include <sys/prctl.h>

#include <cctype>
#include <cerrno>
#include <cstring>
#include <sstream>

namespace pfs::daemon {

std::string parse_modcaps(const std::string& spec, std::vector<CapChange>& out) {
  std::stringstream ss(spec);
  std::string item;
  while (std::getline(ss, item, ',')) {
    if (item.empty()) continue;
    if (item[0] != '+' && item[0] != '-') {
      return "pfsd: --modcaps " + item + ": write +name to keep a capability, -name to drop one";
    }
    std::string name = item.substr(1);
    for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (name.rfind("cap_", 0) == 0) name = name.substr(4);
    const int cap = capng_name_to_capability(name.c_str());
    if (cap < 0) return "pfsd: --modcaps: unknown capability '" + name + "' (e.g. sys_admin)";
    out.push_back({item[0] == '+', cap});
  }
  return "";
}

std::string drop_capabilities(const std::vector<CapChange>& changes) {
  capng_clear(CAPNG_SELECT_BOTH);
  const auto all =
      static_cast<capng_type_t>(CAPNG_EFFECTIVE | CAPNG_PERMITTED | CAPNG_BOUNDING_SET);
  for (const char* name : kKeptCaps) {
    if (capng_update(CAPNG_ADD, all, static_cast<unsigned>(capng_name_to_capability(name))) != 0) {
      return std::string("pfsd: cannot keep capability ") + name;
    }
  }
  for (const CapChange& c : changes) {
    if (capng_update(c.add ? CAPNG_ADD : CAPNG_DROP, all, static_cast<unsigned>(c.cap)) != 0) {
      return "pfsd: --modcaps: cannot change capability " +
             std::string(capng_capability_to_name(static_cast<unsigned>(c.cap)));
    }
  }
  if (capng_apply(CAPNG_SELECT_BOTH) != 0) {
    return "pfsd: cannot drop capabilities (run as root, or use --sandbox none)";
  }
  return "";
}

std::string set_no_new_privs() {
  // Safety: a process-wide flag; checked.
  if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
    return std::string("pfsd: cannot set no_new_privs: ") + std::strerror(errno);
  }
  return "";
}

}  // namespace pfs::daemon
