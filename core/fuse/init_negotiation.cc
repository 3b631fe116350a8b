#include "core/fuse/init_negotiation.h"

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace pfs::fuse {
namespace {

constexpr size_t kPageSize = 4096;
constexpr size_t kInitInV1Size = 16;  // major, minor, max_readahead, flags
constexpr size_t kFlags2End = offsetof(fuse_init_in, flags2) + sizeof(uint32_t);

}  // namespace

InitOutcome negotiate_init(std::span<const uint8_t> body, FileSystem& fs,
                           const ServerOptions& opts) {
  InitOutcome r;
  fuse_init_in in{};
  if (body.size() < offsetof(fuse_init_in, max_readahead)) {
    r.error = EINVAL;
    return r;
  }
  std::memcpy(&in, body.data(), std::min(body.size(), sizeof(in)));

  if (in.major < Server::kProtoMajor) {
    r.error = EPROTO;
    return r;
  }
  if (in.major > Server::kProtoMajor) {
    // Tell the client our version; it retries INIT with major 7.
    r.kind = InitOutcome::kRetry;
    r.reply.major = Server::kProtoMajor;
    r.reply.minor = Server::kProtoMinor;
    return r;
  }
  if (body.size() < kInitInV1Size) {
    r.error = EINVAL;
    return r;
  }
  if (in.minor < Server::kMinProtoMinor) {
    r.error = EPROTO;
    return r;
  }

  uint64_t capable = in.flags;
  if ((in.flags & FUSE_INIT_EXT) != 0 && body.size() >= kFlags2End) {
    capable |= uint64_t{in.flags2} << 32;
  }
  // The FileSystem only learns what the server can honour.
  const uint64_t offered = capable & kServerSupportedFlags;
  Result<FsOptions> wanted = fs.init(offered);
  if (!wanted.ok()) {
    r.error = wanted.error();
    return r;
  }
  const uint64_t granted = (*wanted | kServerOwnFlags) & offered;

  r.kind = InitOutcome::kReady;
  r.minor = std::min(in.minor, Server::kProtoMinor);
  r.flags = granted;
  fuse_init_out& o = r.reply;
  o.major = Server::kProtoMajor;
  o.minor = r.minor;
  o.max_readahead = in.max_readahead;
  o.flags = static_cast<uint32_t>(granted);
  o.flags2 = (granted & FUSE_INIT_EXT) != 0 ? static_cast<uint32_t>(granted >> 32) : 0;
  o.max_background = opts.max_background;
  o.congestion_threshold = opts.congestion_threshold;
  o.max_write = opts.max_write;
  o.time_gran = opts.time_gran;
  o.max_pages = static_cast<uint16_t>(
      std::min<size_t>((opts.max_write + kPageSize - 1) / kPageSize, UINT16_MAX));
  return r;
}

}  // namespace pfs::fuse
