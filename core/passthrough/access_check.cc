#include "core/passthrough/access_check.h"

#include <unistd.h>

#include <cerrno>

namespace pfs::passthrough {
namespace {

// True when `uid`/`gid` get the permission whose owner/group/other bits are
// `owner_bit`, `group_bit`, `other_bit` (e.g. 0400, 0040, 0004).
bool granted(const struct stat& st, uint32_t uid, uint32_t gid, mode_t owner_bit, mode_t group_bit,
             mode_t other_bit) {
  return (st.st_uid == uid && (st.st_mode & owner_bit) != 0) ||
         (st.st_gid == gid && (st.st_mode & group_bit) != 0) || (st.st_mode & other_bit) != 0;
}

}  // namespace

Status check_access(const struct stat& st, uint32_t uid, uint32_t gid, uint32_t mask) {
  const uint32_t mode = mask & static_cast<uint32_t>(R_OK | W_OK | X_OK);
  if (mode == F_OK) return kOk;  // the caller could stat it, so it exists

  const bool root = uid == 0;
  if ((mode & R_OK) != 0 && !root && !granted(st, uid, gid, S_IRUSR, S_IRGRP, S_IROTH)) {
    return EACCES;
  }
  if ((mode & W_OK) != 0 && !root && !granted(st, uid, gid, S_IWUSR, S_IWGRP, S_IWOTH)) {
    return EACCES;
  }
  // Root may execute only what someone may execute.
  if ((mode & X_OK) != 0) {
    const bool root_ok = root && (st.st_mode & (S_IXUSR | S_IXGRP | S_IXOTH)) != 0;
    if (!root_ok && !granted(st, uid, gid, S_IXUSR, S_IXGRP, S_IXOTH)) return EACCES;
  }
  return kOk;
}

}  // namespace pfs::passthrough
