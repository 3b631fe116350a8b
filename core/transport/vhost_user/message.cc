#include "core/transport/vhost_user/message.h"

#include <sys/socket.h>
#include <sys/types.h>

#include <array>
#include <cerrno>

namespace pfs::transport::vhost_user {

const char* request_name(uint32_t request) {
  switch (static_cast<Request>(request)) {
    case Request::kGetFeatures:
      return "GET_FEATURES";
    case Request::kSetFeatures:
      return "SET_FEATURES";
    case Request::kSetOwner:
      return "SET_OWNER";
    case Request::kResetOwner:
      return "RESET_OWNER";
    case Request::kSetMemTable:
      return "SET_MEM_TABLE";
    case Request::kSetLogBase:
      return "SET_LOG_BASE";
    case Request::kSetLogFd:
      return "SET_LOG_FD";
    case Request::kSetVringNum:
      return "SET_VRING_NUM";
    case Request::kSetVringAddr:
      return "SET_VRING_ADDR";
    case Request::kSetVringBase:
      return "SET_VRING_BASE";
    case Request::kGetVringBase:
      return "GET_VRING_BASE";
    case Request::kSetVringKick:
      return "SET_VRING_KICK";
    case Request::kSetVringCall:
      return "SET_VRING_CALL";
    case Request::kSetVringErr:
      return "SET_VRING_ERR";
    case Request::kGetProtocolFeatures:
      return "GET_PROTOCOL_FEATURES";
    case Request::kSetProtocolFeatures:
      return "SET_PROTOCOL_FEATURES";
    case Request::kGetQueueNum:
      return "GET_QUEUE_NUM";
    case Request::kSetVringEnable:
      return "SET_VRING_ENABLE";
    case Request::kSetSlaveReqFd:
      return "SET_SLAVE_REQ_FD";
    case Request::kGetConfig:
      return "GET_CONFIG";
    case Request::kSetConfig:
      return "SET_CONFIG";
    case Request::kResetDevice:
      return "RESET_DEVICE";
    case Request::kGetMaxMemSlots:
      return "GET_MAX_MEM_SLOTS";
    case Request::kAddMemReg:
      return "ADD_MEM_REG";
    case Request::kRemMemReg:
      return "REM_MEM_REG";
    case Request::kSetStatus:
      return "SET_STATUS";
    case Request::kGetStatus:
      return "GET_STATUS";
  }
  return "UNKNOWN";
}

namespace {

// Reads exactly `len` bytes (no fds expected). Returns the bytes read (short on
// EOF) or -1 with errno set.
ssize_t read_full(int sock, uint8_t* buf, size_t len) {
  size_t got = 0;
  while (got < len) {
    // Safety: buf has room for len bytes; a short read loops, EOF returns short.
    const ssize_t n = ::recv(sock, buf + got, len - got, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    if (n == 0) break;
    got += static_cast<size_t>(n);
  }
  return static_cast<ssize_t>(got);
}

}  // namespace

RecvError receive(int sock, Message& out, std::string* why) {
  out.header = {};
  out.payload.clear();
  out.fds.clear();
  out.fds_lost = false;

  std::array<uint8_t, sizeof(Header)> hdr{};
  // Room for as many fds as one message can carry (the kernel's SCM_MAX_FD), so a
  // truncation (MSG_CTRUNC) only means the fds could not be installed: pfsd is out
  // of fds. More than kMaxFds is refused below, as malformed.
  constexpr size_t kScmMaxFd = 253;
  // Not zeroed (a 1 KiB memset per message): only what the kernel reports in
  // msg_controllen is read.
  alignas(cmsghdr) std::array<char, CMSG_SPACE(sizeof(int) * kScmMaxFd)> control;
  iovec iov{hdr.data(), hdr.size()};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control.data();
  msg.msg_controllen = control.size();

  ssize_t n;
  do {
    // Safety: the header and control buffers are ours and sized in msg; fds arrive
    // close-on-exec and are taken into ScopedFds below before any early return.
    n = ::recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
  } while (n < 0 && errno == EINTR);
  if (n < 0) {
    if (why) *why = "recvmsg failed";
    return RecvError::kIo;
  }
  // Take ownership of every fd that arrived, whatever else is wrong.
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    const size_t bytes = c->cmsg_len - CMSG_LEN(0);
    const size_t count = bytes / sizeof(int);
    for (size_t i = 0; i < count; ++i) {
      int fd;
      std::memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
      out.fds.emplace_back(fd);
    }
  }
  if (n == 0) {
    if (why) *why = "front-end closed the connection";
    return RecvError::kEof;
  }
  // Out of fds (EMFILE/ENFILE), the kernel drops the ones it cannot install and
  // says so: read the rest of the message and let the back-end refuse it.
  out.fds_lost = (msg.msg_flags & MSG_CTRUNC) != 0;
  if (static_cast<size_t>(n) < hdr.size()) {
    // The rest of the header comes without fds.
    const ssize_t more = read_full(sock, hdr.data() + n, hdr.size() - static_cast<size_t>(n));
    if (more < 0) {
      if (why) *why = "recv failed";
      return RecvError::kIo;
    }
    if (static_cast<size_t>(n + more) != hdr.size()) {
      if (why) *why = "truncated header";
      return RecvError::kMalformed;
    }
  }
  std::memcpy(&out.header, hdr.data(), sizeof(Header));
  if ((out.header.flags & kVersionMask) != kVersion) {
    if (why) *why = "bad protocol version in header flags";
    return RecvError::kMalformed;
  }
  if (out.header.size > kMaxPayload) {
    if (why) *why = "payload larger than any request pfsd accepts";
    return RecvError::kMalformed;
  }
  if (out.fds.size() > kMaxFds) {
    if (why) *why = "too many fds with one message";
    return RecvError::kMalformed;
  }
  out.payload.resize(out.header.size);
  if (out.header.size > 0) {
    const ssize_t got = read_full(sock, out.payload.data(), out.payload.size());
    if (got < 0) {
      if (why) *why = "recv failed";
      return RecvError::kIo;
    }
    if (static_cast<size_t>(got) != out.payload.size()) {
      if (why) *why = "truncated payload";
      return RecvError::kMalformed;
    }
  }
  return RecvError::kNone;
}

Status send_reply(int sock, uint32_t request, const void* payload, uint32_t size) {
  Header h{request, kVersion | kFlagReply, size};
  iovec iov[2] = {{&h, sizeof(h)}, {const_cast<void*>(payload), size}};
  msghdr msg{};
  msg.msg_iov = iov;
  msg.msg_iovlen = size > 0 ? 2 : 1;
  const size_t want = sizeof(h) + size;
  ssize_t n;
  do {
    // Safety: both iovecs point at live buffers of the given sizes; MSG_NOSIGNAL so
    // a vanished front-end is an EPIPE, not a SIGPIPE.
    n = ::sendmsg(sock, &msg, MSG_NOSIGNAL);
  } while (n < 0 && errno == EINTR);
  if (n < 0) return errno;
  // A unix stream socket sends small messages whole; a short send means trouble.
  return static_cast<size_t>(n) == want ? kOk : EIO;
}

std::vector<uint8_t> encode(uint32_t request, uint32_t flags, const void* payload, uint32_t size) {
  std::vector<uint8_t> out(sizeof(Header) + size);
  Header h{request, flags, size};
  std::memcpy(out.data(), &h, sizeof(h));
  if (size > 0) std::memcpy(out.data() + sizeof(h), payload, size);
  return out;
}

}  // namespace pfs::transport::vhost_user
