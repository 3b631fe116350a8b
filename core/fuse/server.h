// The FUSE server: decodes one request, validates it, calls the FileSystem and
// encodes the reply. One Server is shared by all worker threads.
//
// The client is hostile (see DESIGN.md): a malformed request gets an error reply
// and the server keeps serving. handle() never throws, aborts or exits.
#pragma once

#include <linux/fuse.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string_view>

#include "core/fuse/filesystem.h"
#include "core/fuse/reader_writer.h"

namespace pfs::fuse {

// What the server reports about a request it refused or dropped.
struct BadRequest {
  uint32_t opcode = 0;
  uint64_t unique = 0;
  uint64_t nodeid = 0;
  int error = 0;            // the errno replied, 0 when the request got no reply
  std::string_view reason;  // a static description
};
// Called from worker threads; must be thread-safe. Empty = silent.
using BadRequestHook = std::function<void(const BadRequest&)>;

struct ServerOptions {
  uint32_t max_write = 1u << 20;  // 1 MiB; clamped to [4 KiB, 16 MiB]
  uint16_t max_background = 64;
  uint16_t congestion_threshold = 48;
  uint32_t time_gran = 1;  // nanoseconds
  BadRequestHook on_bad_request;
};

class Server {
 public:
  // Room for the headers and fixed structs in front of WRITE data (and of the
  // largest non-WRITE body the server accepts), on top of max_write.
  static constexpr size_t kHeaderRoom = 4096;
  static constexpr size_t kDefaultBufferSize = (size_t{1} << 20) + kHeaderRoom;
  static constexpr uint32_t kProtoMajor = 7;
  static constexpr uint32_t kProtoMinor = 38;
  static constexpr uint32_t kMinProtoMinor = 27;

  explicit Server(FileSystem& fs, ServerOptions opts = {});
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Decodes one request from `in`, runs it, encodes the reply into `out`. Returns
  // the reply bytes written (0 when there is no reply: FORGET, BATCH_FORGET,
  // INTERRUPT, or when `out` cannot hold even a reply header).
  size_t handle(Reader& in, Writer& out) noexcept;

  // The request buffer a transport must provide (the largest request accepted),
  // and the reply space that fits the largest reply.
  size_t request_buffer_size() const { return size_t{opts_.max_write} + kHeaderRoom; }
  size_t reply_buffer_size() const { return size_t{opts_.max_write} + kHeaderRoom; }

  bool initialized() const { return state_.load(std::memory_order_acquire) == kReady; }
  // Negotiated protocol minor (0 before INIT).
  uint32_t proto_minor() const { return minor_.load(std::memory_order_relaxed); }
  // Negotiated FUSE_* flags, flags2 in the upper 32 bits (0 before INIT).
  uint64_t negotiated_flags() const { return flags_.load(std::memory_order_relaxed); }
  const ServerOptions& options() const { return opts_; }

 private:
  enum State : int { kNone = 0, kNegotiating = 1, kReady = 2 };

  size_t handle_unchecked(Reader& in, Writer& out);
  size_t handle_init(Reader& in, Writer& out, const fuse_in_header& h);
  void report(const fuse_in_header& h, int error, std::string_view reason) const;

  FileSystem& fs_;
  ServerOptions opts_;
  std::atomic<int> state_{kNone};
  std::atomic<uint32_t> minor_{0};
  std::atomic<uint64_t> flags_{0};
};

}  // namespace pfs::fuse
