#include "fuzz/vhost_reply_stream.h"

#include <sys/socket.h>

#include <algorithm>
#include <cstring>

#include "core/transport/vhost_user/message.h"
#include "fuzz/oracles.h"

namespace pfs::fuzz {

namespace vu = pfs::transport::vhost_user;

namespace {
constexpr size_t kMaxReply = sizeof(vu::Header) + 64;
}  // namespace

VhostReplyStream::VhostReplyStream() : buf_(64 * 1024) {}

void VhostReplyStream::drain(int sock) {
  for (;;) {
    const size_t room = buf_.size() - have_;
    const ssize_t n = ::recv(sock, buf_.data() + have_, room, MSG_DONTWAIT);
    if (n <= 0) return;
    have_ += static_cast<size_t>(n);
    parse();
    // A unix stream socket's recv takes all it holds, up to `room`: less means it
    // is empty now (one call fewer per drain).
    if (static_cast<size_t>(n) < room) return;
  }
}

void VhostReplyStream::feed(std::span<const uint8_t> bytes) {
  while (!bytes.empty()) {
    const size_t n = std::min(bytes.size(), buf_.size() - have_);
    std::memcpy(buf_.data() + have_, bytes.data(), n);
    have_ += n;
    bytes = bytes.subspan(n);
    parse();
  }
}

void VhostReplyStream::parse() {
  size_t off = 0;
  while (have_ - off >= sizeof(vu::Header)) {
    vu::Header h;
    std::memcpy(&h, buf_.data() + off, sizeof(h));
    if ((h.flags & vu::kFlagReply) == 0 || (h.flags & vu::kVersionMask) != vu::kVersion ||
        h.size > kMaxReply - sizeof(h)) {
      oracle_fail("malformed reply header (request %u flags %#x size %u)", h.request, h.flags,
                  h.size);
    }
    if (have_ - off < sizeof(h) + h.size) break;
    off += sizeof(h) + h.size;
  }
  std::memmove(buf_.data(), buf_.data() + off, have_ - off);
  have_ -= off;  // less than one reply: drain() always has room to read into
}

void VhostReplyStream::finish() const {
  if (have_ != 0) oracle_fail("the back-end's last reply is incomplete (%zu bytes)", have_);
}

void check_vhost_backend(const vu::Backend& backend, const vu::FsDevice& device, uint32_t request,
                         uint32_t index) {
  if ((backend.acked_features() & ~vu::kOfferedFeatures) != 0) {
    oracle_fail("the back-end acked features it does not offer (%#llx)",
                static_cast<unsigned long long>(backend.acked_features()));
  }
  if ((backend.acked_protocol_features() & ~vu::kOfferedProtocolFeatures) != 0) {
    oracle_fail("the back-end acked protocol features it does not offer (%#llx)",
                static_cast<unsigned long long>(backend.acked_protocol_features()));
  }
  const vu::GuestMemory* mem = backend.memory();
  if (mem != nullptr && mem->size() > vu::GuestMemory::kMaxRegions) {
    oracle_fail("the back-end maps %zu regions, more than %zu", mem->size(),
                vu::GuestMemory::kMaxRegions);
  }
  const auto req = static_cast<vu::Request>(request);
  if (req == vu::Request::kResetOwner || req == vu::Request::kResetDevice) {
    if (mem != nullptr || backend.acked_features() != 0) {
      oracle_fail("a memory table or features left after %s", vu::request_name(request));
    }
    for (unsigned i = 0; i < device.max_queues(); ++i) {
      if (device.running(i))
        oracle_fail("queue %u still runs after %s", i, vu::request_name(request));
    }
  }
  if (req == vu::Request::kGetVringBase && device.running(index)) {
    oracle_fail("queue %u still runs after GET_VRING_BASE", index);
  }
}

void check_vhost_log_line(std::string_view line) {
  if (line.empty()) oracle_fail("the back-end logged an empty line");
  for (const char c : line) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) {
      oracle_fail("the back-end logged a control character (%#x) in \"%.*s\"", u,
                  static_cast<int>(line.size()), line.data());
    }
  }
}

}  // namespace pfs::fuzz
