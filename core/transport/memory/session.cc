#include "core/transport/memory/session.h"

#include <sys/uio.h>

#include <algorithm>
#include <cstring>
#include <memory>

namespace pfs::transport::memory {
namespace {

// Cuts [0, len) at `cuts` into (offset, length) pieces.
std::vector<std::pair<size_t, size_t>> pieces(size_t len, const std::vector<size_t>& cuts) {
  std::vector<std::pair<size_t, size_t>> out;
  size_t start = 0;
  for (size_t cut : cuts) {
    if (cut > len || cut < start) continue;
    out.emplace_back(start, cut - start);
    start = cut;
  }
  out.emplace_back(start, len - start);
  return out;
}

// Each segment in its own exact-size allocation, so that a sanitizer catches a
// read or write past any segment's end.
struct Segments {
  std::vector<std::unique_ptr<uint8_t[]>> storage;
  std::vector<iovec> iov;
};

Segments make_segments(size_t len, const std::vector<size_t>& cuts, const uint8_t* fill) {
  Segments s;
  for (const auto& [off, n] : pieces(len, cuts)) {
    auto buf = std::make_unique_for_overwrite<uint8_t[]>(n == 0 ? 1 : n);
    if (fill != nullptr && n != 0) std::memcpy(buf.get(), fill + off, n);
    s.iov.push_back(iovec{n == 0 ? nullptr : buf.get(), n});
    s.storage.push_back(std::move(buf));
  }
  return s;
}

// Copies the first `n` reply bytes out of the segments.
std::vector<uint8_t> gather(const Segments& s, size_t n) {
  std::vector<uint8_t> out;
  out.reserve(n);
  for (const iovec& v : s.iov) {
    const size_t take = std::min(n - out.size(), v.iov_len);
    const auto* p = static_cast<const uint8_t*>(v.iov_base);
    out.insert(out.end(), p, p + take);
    if (out.size() == n) break;
  }
  return out;
}

}  // namespace

std::span<const uint8_t> next_frame(std::span<const uint8_t>& stream) {
  size_t n = stream.size();  // an unframeable tail is one last piece
  if (stream.size() >= sizeof(fuse_in_header)) {
    uint32_t len = 0;
    std::memcpy(&len, stream.data(), sizeof(len));
    if (len >= sizeof(fuse_in_header) && len <= stream.size()) n = len;
  }
  const std::span<const uint8_t> frame = stream.first(n);
  stream = stream.subspan(n);
  return frame;
}

std::vector<std::span<const uint8_t>> frame_stream(std::span<const uint8_t> stream) {
  std::vector<std::span<const uint8_t>> out;
  while (!stream.empty()) out.push_back(next_frame(stream));
  return out;
}

Session::Session(fuse::Server& server, size_t reply_capacity)
    : server_(server),
      reply_capacity_(reply_capacity != 0 ? reply_capacity : server.reply_buffer_size()) {}

Reply Session::run(std::span<const uint8_t> request) { return run(request, Split{}); }

Reply Session::run(std::span<const uint8_t> request, const Split& split) {
  Segments in = make_segments(request.size(), split.request_cuts, request.data());
  Segments outs;
  if (split.reply_cuts.empty()) {
    // One exact-size reply buffer, kept for the Session's life: allocating a fresh
    // ~1 MiB per request dominated long runs (and is slow under TSan).
    if (!reply_buffer_) reply_buffer_ = std::make_unique_for_overwrite<uint8_t[]>(reply_capacity_);
    outs.iov.push_back(iovec{reply_buffer_.get(), reply_capacity_});
  } else {
    outs = make_segments(reply_capacity_, split.reply_cuts, nullptr);
  }
  fuse::Reader reader(in.iov);
  fuse::Writer writer(outs.iov);
  Reply r;
  r.size = server_.handle(reader, writer);
  r.replied = r.size != 0;
  if (r.size >= sizeof(fuse_out_header)) {
    const std::vector<uint8_t> bytes = gather(outs, r.size);
    std::memcpy(&r.header, bytes.data(), sizeof(r.header));
    r.payload.assign(bytes.begin() + sizeof(fuse_out_header), bytes.end());
  }
  return r;
}

std::vector<Reply> Session::run_stream(std::span<const uint8_t> stream) {
  std::vector<Reply> replies;
  for (std::span<const uint8_t> one : frame_stream(stream)) replies.push_back(run(one));
  return replies;
}

Reply Session::init(uint64_t capable, uint32_t minor) { return run(req::init(capable, 7, minor)); }

}  // namespace pfs::transport::memory
