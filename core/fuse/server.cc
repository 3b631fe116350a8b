#include "core/fuse/server.h"

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstring>
#include <vector>

#include "core/fuse/init_negotiation.h"
#include "core/fuse/reply_encoder.h"
#include "core/fuse/request_decoder.h"
#include "core/fuse/server_call.h"

namespace pfs::fuse {
namespace {

constexpr uint32_t kMinMaxWrite = 4096;
constexpr uint32_t kMaxMaxWrite = 16u << 20;
constexpr size_t kInHeader = sizeof(fuse_in_header);
constexpr size_t kOutHeader = sizeof(fuse_out_header);
// Per-thread room for variable replies: the largest xattr value or list, ioctl
// output or symlink target.
constexpr size_t kScratchSize = std::max({kXattrSizeMax, kXattrListMax, kIoctlSizeMax, kPathMax});

// Contiguous copies of request bodies, so that names are NUL-terminated in memory
// whatever the segment layout. Allocated once per thread, never per request.
struct ThreadBuffers {
  std::vector<uint8_t> body;
  std::vector<uint8_t> scratch;
};

ThreadBuffers& thread_buffers(size_t body_size) {
  thread_local ThreadBuffers tb;
  if (tb.body.size() < body_size) tb.body.resize(body_size);
  if (tb.scratch.size() < kScratchSize) tb.scratch.resize(kScratchSize);
  return tb;
}

bool has_no_reply(uint32_t opcode) {
  return opcode == FUSE_FORGET || opcode == FUSE_BATCH_FORGET || opcode == FUSE_INTERRUPT;
}

// The fixed payload a success reply needs; checked before the FS runs so that no
// FS side effect (a reference, a handle) is left without a reply to carry it.
size_t fixed_reply_size(uint32_t opcode) {
  switch (opcode) {
    case FUSE_LOOKUP:
    case FUSE_MKNOD:
    case FUSE_MKDIR:
    case FUSE_SYMLINK:
    case FUSE_LINK:
      return sizeof(fuse_entry_out);
    case FUSE_CREATE:
    case FUSE_TMPFILE:
      return sizeof(fuse_entry_out) + sizeof(fuse_open_out);
    case FUSE_OPEN:
    case FUSE_OPENDIR:
      return sizeof(fuse_open_out);
    case FUSE_GETATTR:
    case FUSE_SETATTR:
      return sizeof(fuse_attr_out);
    case FUSE_WRITE:
    case FUSE_COPY_FILE_RANGE:
      return sizeof(fuse_write_out);
    case FUSE_STATFS:
      return sizeof(fuse_statfs_out);
    case FUSE_GETLK:
      return sizeof(fuse_lk_out);
    case FUSE_LSEEK:
      return sizeof(fuse_lseek_out);
    case FUSE_BMAP:
      return sizeof(fuse_bmap_out);
    case FUSE_POLL:
      return sizeof(fuse_poll_out);
    case FUSE_IOCTL:
      return sizeof(fuse_ioctl_out);
    case FUSE_INIT:
      return sizeof(fuse_init_out);
    default:
      return 0;
  }
}

// Replies for requests whose header could not be trusted.
size_t raw_error(Writer& out, uint64_t unique, int err) {
  const fuse_out_header oh{static_cast<uint32_t>(kOutHeader), wire_error(err), unique};
  return out.write_obj(oh) ? kOutHeader : 0;
}

}  // namespace

Server::Server(FileSystem& fs, ServerOptions opts) : fs_(fs), opts_(std::move(opts)) {
  opts_.max_write = std::clamp(opts_.max_write, kMinMaxWrite, kMaxMaxWrite);
}

void Server::report(const fuse_in_header& h, int error, std::string_view reason) const {
  if (opts_.on_bad_request)
    opts_.on_bad_request(BadRequest{h.opcode, h.unique, h.nodeid, error, reason});
}

size_t Server::handle(Reader& in, Writer& out) noexcept {
  try {
    return handle_unchecked(in, out);
  } catch (...) {
    // A FileSystem (or the log hook) threw. Nothing may escape a worker; the reply
    // space may hold a partial reply, so answer EIO only when nothing was written.
    if (out.written() == 0) return raw_error(out, 0, EIO);
    return 0;
  }
}

size_t Server::handle_unchecked(Reader& in, Writer& out) {
  fuse_in_header h{};
  const size_t present = in.available();
  if (present < kInHeader) {
    // Recover the unique id when the bytes for it are there.
    uint8_t partial[kInHeader] = {};
    in.read_exact(partial, present);
    uint64_t unique = 0;
    if (present >= offsetof(fuse_in_header, unique) + sizeof(unique)) {
      std::memcpy(&unique, partial + offsetof(fuse_in_header, unique), sizeof(unique));
    }
    h.unique = unique;
    report(h, EINVAL, "request shorter than fuse_in_header");
    return raw_error(out, unique, EINVAL);
  }
  in.read_obj(h);

  const bool no_reply = has_no_reply(h.opcode);
  auto reject = [&](int err, std::string_view reason) -> size_t {
    report(h, no_reply ? 0 : err, reason);
    return no_reply ? 0 : raw_error(out, h.unique, err);
  };

  if (h.len != present) return reject(EINVAL, "fuse_in_header.len differs from the bytes present");
  if (h.len > request_buffer_size()) return reject(ENOMEM, "request larger than the buffer");
  const size_t body_len = h.len - kInHeader;
  const size_t ext_len = size_t{h.total_extlen} * 8;
  if (ext_len > body_len) return reject(EINVAL, "total_extlen beyond the request");

  if (!no_reply && out.available() < kOutHeader + fixed_reply_size(h.opcode)) {
    if (out.available() < kOutHeader) {
      report(h, 0, "no room for a reply header");
      return 0;
    }
    return reject(EINVAL, "reply space too small");
  }

  if (h.opcode == FUSE_INIT) return handle_init(in, out, h);

  if (state_.load(std::memory_order_acquire) != kReady) {
    return reject(EIO, "request before INIT");
  }
  // uid/gid -1 means "unchanged" to setresuid and fchown: a request carrying it
  // would run as the daemon. The kernel never sends it (an unmappable id fails the
  // caller's syscall with EOVERFLOW instead); only a hostile client does.
  if (!no_reply && (h.uid == UINT32_MAX || h.gid == UINT32_MAX)) {
    return reject(EPERM, "uid or gid -1 in the header");
  }
  const detail::Negotiated neg{minor_.load(std::memory_order_relaxed),
                               flags_.load(std::memory_order_relaxed)};

  ThreadBuffers& tb = thread_buffers(request_buffer_size());
  detail::Call call(fs_, opts_, neg, h, in, out, tb.scratch);

  if (h.opcode == FUSE_WRITE) {
    // The data stays in the request segments (zero copy); only the struct moves.
    fuse_write_in w{};
    if (ext_len != 0) return call.bad(EINVAL, "extensions on WRITE");
    if (!in.read_obj(w)) return call.bad(EINVAL, "WRITE shorter than fuse_write_in");
    return detail::op_write(call, w);
  }

  if (!in.read_exact(tb.body.data(), body_len)) return call.bad(EINVAL, "short body");
  call.body = std::span<const uint8_t>(tb.body.data(), body_len - ext_len);
  call.ext = std::span<const uint8_t>(tb.body.data() + body_len - ext_len, ext_len);

  switch (h.opcode) {
    case FUSE_DESTROY: {
      // The client may INIT again afterwards (a virtio-fs remount).
      int expected = kReady;
      if (!state_.compare_exchange_strong(expected, kNone, std::memory_order_acq_rel)) {
        return call.bad(EIO, "DESTROY before INIT");
      }
      fs_.destroy();
      minor_.store(0, std::memory_order_relaxed);
      flags_.store(0, std::memory_order_relaxed);
      return call.ok();
    }
    case FUSE_LOOKUP:
      return detail::op_lookup(call);
    case FUSE_FORGET:
      return detail::op_forget(call);
    case FUSE_BATCH_FORGET:
      return detail::op_batch_forget(call);
    case FUSE_INTERRUPT:
      return 0;  // requests are not interruptible; no reply
    case FUSE_GETATTR:
      return detail::op_getattr(call);
    case FUSE_SETATTR:
      return detail::op_setattr(call);
    case FUSE_READLINK:
      return detail::op_readlink(call);
    case FUSE_SYMLINK:
      return detail::op_symlink(call);
    case FUSE_MKNOD:
      return detail::op_mknod(call);
    case FUSE_MKDIR:
      return detail::op_mkdir(call);
    case FUSE_UNLINK:
      return detail::op_unlink(call);
    case FUSE_RMDIR:
      return detail::op_rmdir(call);
    case FUSE_RENAME:
      return detail::op_rename(call);
    case FUSE_RENAME2:
      return detail::op_rename2(call);
    case FUSE_LINK:
      return detail::op_link(call);
    case FUSE_OPEN:
      return detail::op_open(call);
    case FUSE_READ:
      return detail::op_read(call);
    case FUSE_STATFS:
      return detail::op_statfs(call);
    case FUSE_RELEASE:
      return detail::op_release(call);
    case FUSE_FSYNC:
      return detail::op_fsync(call);
    case FUSE_SETXATTR:
      return detail::op_setxattr(call);
    case FUSE_GETXATTR:
      return detail::op_getxattr(call);
    case FUSE_LISTXATTR:
      return detail::op_listxattr(call);
    case FUSE_REMOVEXATTR:
      return detail::op_removexattr(call);
    case FUSE_FLUSH:
      return detail::op_flush(call);
    case FUSE_OPENDIR:
      return detail::op_opendir(call);
    case FUSE_READDIR:
      return detail::op_readdir(call, false);
    case FUSE_READDIRPLUS:
      return detail::op_readdir(call, true);
    case FUSE_RELEASEDIR:
      return detail::op_releasedir(call);
    case FUSE_FSYNCDIR:
      return detail::op_fsyncdir(call);
    case FUSE_GETLK:
      return detail::op_getlk(call);
    case FUSE_SETLK:
      return detail::op_setlk(call, false);
    case FUSE_SETLKW:
      return detail::op_setlk(call, true);
    case FUSE_ACCESS:
      return detail::op_access(call);
    case FUSE_CREATE:
      return detail::op_create(call);
    case FUSE_TMPFILE:
      return detail::op_tmpfile(call);
    case FUSE_BMAP:
      return detail::op_bmap(call);
    case FUSE_IOCTL:
      return detail::op_ioctl(call);
    case FUSE_POLL:
      return detail::op_poll(call);
    case FUSE_FALLOCATE:
      return detail::op_fallocate(call);
    case FUSE_LSEEK:
      return detail::op_lseek(call);
    case FUSE_COPY_FILE_RANGE:
      return detail::op_copy_file_range(call);
    case FUSE_SYNCFS:
      return detail::op_syncfs(call);
    default:
      return call.bad(ENOSYS, "unknown opcode");
  }
}

size_t Server::handle_init(Reader& in, Writer& out, const fuse_in_header& h) {
  int expected = kNone;
  if (!state_.compare_exchange_strong(expected, kNegotiating, std::memory_order_acq_rel)) {
    report(h, EIO, "second INIT");
    return raw_error(out, h.unique, EIO);
  }
  uint8_t body[sizeof(fuse_init_in)] = {};
  const size_t body_len = std::min(in.available(), sizeof(body));
  in.read_exact(body, body_len);
  const InitOutcome r = negotiate_init(std::span<const uint8_t>(body, body_len), fs_, opts_);
  if (r.kind != InitOutcome::kReady) {
    state_.store(kNone, std::memory_order_release);
    if (r.kind == InitOutcome::kError) {
      report(h, r.error, "INIT refused");
      return raw_error(out, h.unique, r.error);
    }
  } else {
    minor_.store(r.minor, std::memory_order_relaxed);
    flags_.store(r.flags, std::memory_order_relaxed);
    state_.store(kReady, std::memory_order_release);
  }
  const uint32_t len = static_cast<uint32_t>(kOutHeader + sizeof(fuse_init_out));
  const fuse_out_header oh{len, 0, h.unique};
  out.write_obj(oh);
  out.write_obj(r.reply);
  return len;
}

}  // namespace pfs::fuse
