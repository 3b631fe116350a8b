// The ioctls PassthroughFs forwards to an open host file, with the seed's size checks.
#pragma once

#include <cstdint>
#include <span>

#include "core/fuse/filesystem.h"
#include "core/fuse/result.h"

namespace pfs::passthrough {

// Runs ioctl `cmd` on `fd` (a file opened for I/O, not O_PATH). `in` is the request's
// input (in_size bytes), `out` the room for the reply (out_size bytes); neither is
// accessed beyond its size. On success the reply's out_size bytes of `out` hold the
// output. Supported, as in the seed:
//   FS_IOC_GET_ENCRYPTION_POLICY_EX  in: u64 policy_size; out: u64 size + policy
//   FS_IOC_FSGETXATTR / FSSETXATTR   struct fsxattr out / in
//   FS_IOC{32,64}_GETFLAGS/SETFLAGS  an int out / in (FS_IOC_* is one of the two)
// Too small a buffer: ENOMEM, but EINVAL for FSSETXATTR's input and EIO for a missing
// policy_size. Any other cmd: ENOTTY. The ioctl's own failure: its errno.
Result<fuse::IoctlReply> dispatch_ioctl(int fd, uint32_t cmd, std::span<const uint8_t> in,
                                        std::span<uint8_t> out);

}  // namespace pfs::passthrough
