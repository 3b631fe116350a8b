// The capabilities pfsd keeps once confined (libcap-ng), and --modcaps.
#pragma once

#include <string>
#include <vector>

namespace pfs::daemon {

// What a passthrough server needs: change owners and modes for the client, override
// file modes as root does, make device nodes, switch its fs ids, set file caps.
// Not CAP_SYS_ADMIN: trusted.* xattrs are then refused, as virtiofsd does.
inline constexpr const char* kKeptCaps[] = {"chown",  "dac_override", "fowner", "fsetid",
                                            "setgid", "setuid",       "mknod",  "setfcap"};

// One --modcaps entry: "+name" adds, "-name" removes ("name" without "cap_").
struct CapChange {
  bool add = true;
  int cap = -1;
};

// Parses "+sys_admin,-mknod"; returns the one-line error or "".
std::string parse_modcaps(const std::string& spec, std::vector<CapChange>& out);

// Keeps only kKeptCaps modified by `changes` in every set and the bounding set.
// Returns the one-line error or "".
std::string drop_capabilities(const std::vector<CapChange>& changes);

// prctl(PR_SET_NO_NEW_PRIVS): execve can never grant privileges again.
std::string set_no_new_privs();

}  // namespace pfs::daemon
