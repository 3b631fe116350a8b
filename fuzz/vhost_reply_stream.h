// The vhost_user_msgs oracles on what the back-end does: every reply is a reply
// header (REPLY flag, version 1, payload of at most 64 bytes) followed by its
// payload. Replies are checked as a stream, so one split across reads, or a read
// holding several, is parsed where it really starts. Then the back-end's state
// after each message, and the lines it logs.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "core/transport/vhost_user/backend.h"

namespace pfs::fuzz {

// What must hold once `backend` has handled a message: nothing acked that was not
// offered, at most GuestMemory::kMaxRegions regions mapped; after `request`
// RESET_OWNER or RESET_DEVICE no memory table, no features and no queue running;
// after GET_VRING_BASE of queue `index` that queue stopped (vhost-user.rst,
// "Starting and stopping rings"). `request` 0: only the first two.
void check_vhost_backend(const transport::vhost_user::Backend& backend,
                         const transport::vhost_user::FsDevice& device, uint32_t request,
                         uint32_t index);

// A line the back-end or its device logs (pfsd writes them to its log): one line
// of printable text, so a front-end cannot forge log lines or send terminal
// escapes through it.
void check_vhost_log_line(std::string_view line);

class VhostReplyStream {
 public:
  VhostReplyStream();
  // Forgets a partial reply: a new connection.
  void reset() { have_ = 0; }
  // Reads what `sock` has (without waiting) and checks each complete reply.
  void drain(int sock);
  // Checks `bytes` as the next part of the stream (drain() uses it; so do tests).
  void feed(std::span<const uint8_t> bytes);
  // The connection is over: a reply left incomplete is an oracle failure.
  void finish() const;

 private:
  void parse();

  std::vector<uint8_t> buf_;  // once per process: a zeroed buffer per input costs under ASan
  size_t have_ = 0;
};

}  // namespace pfs::fuzz
