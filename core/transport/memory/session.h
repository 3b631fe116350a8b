// Runs FUSE requests through a Server in-process: one request at a time (in one
// segment or scattered over many, like a virtqueue chain), or a byte stream of
// requests framed by their fuse_in_header.len (what reads of /dev/fuse return).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <vector>

#include "core/fuse/server.h"
#include "core/transport/memory/reply.h"
#include "core/transport/memory/request_builder.h"

namespace pfs::transport::memory {

// What a Linux 6.x kernel offers at INIT over virtio-fs (flags2 in the upper bits).
inline constexpr uint64_t kLinuxInitFlags =
    FUSE_ASYNC_READ | FUSE_POSIX_LOCKS | FUSE_ATOMIC_O_TRUNC | FUSE_EXPORT_SUPPORT |
    FUSE_BIG_WRITES | FUSE_DONT_MASK | FUSE_SPLICE_WRITE | FUSE_SPLICE_MOVE | FUSE_SPLICE_READ |
    FUSE_FLOCK_LOCKS | FUSE_HAS_IOCTL_DIR | FUSE_AUTO_INVAL_DATA | FUSE_DO_READDIRPLUS |
    FUSE_READDIRPLUS_AUTO | FUSE_ASYNC_DIO | FUSE_WRITEBACK_CACHE | FUSE_NO_OPEN_SUPPORT |
    FUSE_PARALLEL_DIROPS | FUSE_HANDLE_KILLPRIV | FUSE_POSIX_ACL | FUSE_ABORT_ERROR |
    FUSE_MAX_PAGES | FUSE_CACHE_SYMLINKS | FUSE_NO_OPENDIR_SUPPORT | FUSE_EXPLICIT_INVAL_DATA |
    FUSE_MAP_ALIGNMENT | FUSE_SUBMOUNTS | FUSE_HANDLE_KILLPRIV_V2 | FUSE_SETXATTR_EXT |
    FUSE_INIT_EXT | FUSE_SECURITY_CTX | FUSE_HAS_INODE_DAX | FUSE_HAS_EXPIRE_ONLY;

// Where to cut a buffer into segments: ascending offsets inside it. Offsets past
// the end are ignored; repeated offsets make empty segments.
struct Split {
  std::vector<size_t> request_cuts;
  std::vector<size_t> reply_cuts;
};

// Frames a byte stream into requests by each fuse_in_header.len. A tail that
// cannot be framed (shorter than a header, len below the header size or beyond the
// bytes left) becomes one last piece, which the server then refuses.
std::vector<std::span<const uint8_t>> frame_stream(std::span<const uint8_t> stream);
// The same one request at a time, without allocating: the next piece of `stream`
// (empty once it is), which is advanced past it.
std::span<const uint8_t> next_frame(std::span<const uint8_t>& stream);

class Session {
 public:
  // `reply_capacity` 0 means the server's reply_buffer_size().
  explicit Session(fuse::Server& server, size_t reply_capacity = 0);

  Reply run(std::span<const uint8_t> request);
  Reply run(std::span<const uint8_t> request, const Split& split);
  // Runs each framed request of `stream` in order and returns every reply slot
  // (replied == false for requests without a reply).
  std::vector<Reply> run_stream(std::span<const uint8_t> stream);
  // INIT at 7.`minor` with the given capable flags.
  Reply init(uint64_t capable = kLinuxInitFlags, uint32_t minor = 38);

  fuse::Server& server() { return server_; }

 private:
  fuse::Server& server_;
  size_t reply_capacity_;
  std::unique_ptr<uint8_t[]> reply_buffer_;
};

}  // namespace pfs::transport::memory
