// Process-wide settings pfsd makes once at start, before any thread exists.
#pragma once

#include <sys/resource.h>

#include <string>

#include "core/fuse/result.h"

namespace pfs::daemon {

// Clears the supplementary groups (setgroups(0, NULL)). pfsd acts for each request
// with the caller's fsuid/fsgid, but the kernel also grants access through the
// process's supplementary groups: the files it creates or reaches could otherwise
// get a group the guest should not have (CVE-2022-0358 in virtiofsd). Returns the
// one-line error, or "" (also when there were no groups to clear and pfsd lacks
// the privilege to call setgroups).
std::string drop_supplementary_groups();

struct NofileLimits {
  rlim_t before = 0;  // the soft limit pfsd started with
  rlim_t now = 0;     // the soft limit now (the hard limit, when raising worked)
};

// Raises RLIMIT_NOFILE's soft limit to the hard limit, as virtiofsd does: every
// inode the client looks up holds an fd.
Result<NofileLimits> raise_nofile_limit();

}  // namespace pfs::daemon
