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
    const ssize_t n = ::recv(sock, buf_.data() + have_, buf_.size() - have_, MSG_DONTWAIT);
    if (n <= 0) return;
    have_ += static_cast<size_t>(n);
    parse();
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

}  // namespace pfs::fuzz
