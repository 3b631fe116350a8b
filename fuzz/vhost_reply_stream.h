// The vhost_user_msgs oracle on what the back-end sends: every reply is a reply
// header (REPLY flag, version 1, payload of at most 64 bytes) followed by its
// payload. Replies are checked as a stream, so one split across reads, or a read
// holding several, is parsed where it really starts.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace pfs::fuzz {

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
