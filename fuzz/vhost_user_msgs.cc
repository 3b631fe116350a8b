// Fuzz target: a stream of vhost-user messages into the back-end's protocol
// handler (Backend::serve_one) over a real socketpair, with fds.
//
// Input format: records, each
//   u8 fdspec   bits 0-2: how many fds ride with the message (0-7);
//               bits 3-4: their kind: 0 memfd of 64 KiB, 1 eventfd, 2 memfd of
//               4 KiB (shorter than most regions claim), 3 the read end of a pipe
//   12 bytes    the header (request, flags, size) as is
//   payload     min(size, what is left) bytes
// The harness sends every record (fds by SCM_RIGHTS, made fresh per input; records
// without fds coalesced into one write), shuts its sending side, then lets the
// back-end handle messages until it ends the connection, serving the device's
// kicked queues after each message. Replies are drained and checked as a stream.
//
// Oracles beyond the sanitizers: the process fd count is back to its baseline once
// the back-end is gone and the device's queues stopped (every fd received is
// closed, every mapping unmapped); the back-end sends nothing but well-formed
// replies, the last one complete (vhost_reply_stream.h).
#include <fcntl.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <vector>

#include "core/fuse/server.h"
#include "core/transport/memory/session.h"
#include "core/transport/vhost_user/backend.h"
#include "core/transport/vhost_user/fs_device.h"
#include "fuzz/fd_count.h"
#include "fuzz/oracles.h"
#include "fuzz/plausible_fs.h"
#include "fuzz/vhost_reply_stream.h"

namespace {

namespace vu = pfs::transport::vhost_user;

struct World {
  pfs::fuzz::PlausibleFs fs;
  pfs::fuse::Server server{fs};
  // One device for the process: it outlives connections in pfsd too, and every
  // queue is stopped when a Backend goes. Its queues are served on this thread (no
  // worker per started vring: creating and joining those under ASan was most of
  // this target's time), right after each message, as Backend::serve does with
  // such a device.
  vu::FsDevice device{server, nullptr, vu::FsDevice::kDefaultMaxQueues,
                      vu::FsDevice::Serving::kCallerThread};
  pfs::fuzz::VhostReplyStream replies;
  pfs::fuzz::FastFdBaseline fds;  // fd_count.h: the same oracle, one stat() per call
  std::vector<uint8_t> pending;   // records without fds, sent as one write
  World() {
    pfs::transport::memory::Session s(server);
    if (!s.init().ok()) pfs::fuzz::oracle_fail("INIT failed");
    pending.reserve(4096);
  }
};

World& world() {
  static World w;
  return w;
}

pfs::ScopedFd make_fd(unsigned kind, std::vector<pfs::ScopedFd>& extra) {
  switch (kind) {
    case 0:
    case 2: {
      pfs::ScopedFd fd(::memfd_create("fuzz-region", MFD_CLOEXEC));
      if (fd.valid() && ::ftruncate(fd.get(), kind == 0 ? 65536 : 4096) != 0) fd.reset();
      return fd;
    }
    case 1:
      return pfs::ScopedFd(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    default: {
      int p[2];
      if (::pipe2(p, O_CLOEXEC) != 0) return pfs::ScopedFd();
      extra.emplace_back(p[1]);
      return pfs::ScopedFd(p[0]);
    }
  }
}

// Sends the records gathered in `pending`; false when the socket refused them.
bool flush(int sock, std::vector<uint8_t>& pending) {
  if (pending.empty()) return true;
  const bool ok = ::send(sock, pending.data(), pending.size(), MSG_NOSIGNAL | MSG_DONTWAIT) ==
                  static_cast<ssize_t>(pending.size());
  pending.clear();
  return ok;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  World& w = world();
  // The baseline is taken per input: between inputs the engine itself may open fds
  // (libFuzzer's symbolizer pipes when it prints NEW_FUNC).
  w.fds.take();
  {
    int sv[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) return 0;
    pfs::ScopedFd front(sv[0]), back(sv[1]);
    // Room for the whole stream: the harness writes it all before the back-end reads.
    const int bufsize = 1 << 20;
    ::setsockopt(front.get(), SOL_SOCKET, SO_SNDBUF, &bufsize, sizeof(bufsize));

    std::vector<pfs::ScopedFd> extra;
    std::vector<uint8_t>& pending = w.pending;
    pending.clear();
    size_t off = 0;
    while (off < size) {
      const uint8_t spec = data[off++];
      const size_t left = size - off;
      if (left < sizeof(vu::Header)) {
        // A partial header: send it as is.
        pending.insert(pending.end(), data + off, data + size);
        off = size;
        break;
      }
      vu::Header h;
      std::memcpy(&h, data + off, sizeof(h));
      const size_t payload = std::min<size_t>(h.size, left - sizeof(h));
      const size_t len = sizeof(h) + payload;
      std::vector<pfs::ScopedFd> fds;
      std::vector<int> raw;
      for (unsigned i = 0; i < (spec & 7u); ++i) {
        fds.push_back(make_fd((spec >> 3) & 3u, extra));
        if (fds.back().valid()) raw.push_back(fds.back().get());
      }
      if (raw.empty()) {
        // The back-end reads a stream: records without fds need not be separate
        // writes (one with fds must be, as its fds ride with its first byte).
        pending.insert(pending.end(), data + off, data + off + len);
        off += len;
        continue;
      }
      if (!flush(front.get(), pending)) break;
      iovec iov{const_cast<uint8_t*>(data + off), len};
      msghdr msg{};
      msg.msg_iov = &iov;
      msg.msg_iovlen = 1;
      alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * 8)] = {};
      msg.msg_control = control;
      msg.msg_controllen = CMSG_SPACE(sizeof(int) * raw.size());
      cmsghdr* c = CMSG_FIRSTHDR(&msg);
      c->cmsg_level = SOL_SOCKET;
      c->cmsg_type = SCM_RIGHTS;
      c->cmsg_len = CMSG_LEN(sizeof(int) * raw.size());
      std::memcpy(CMSG_DATA(c), raw.data(), sizeof(int) * raw.size());
      if (::sendmsg(front.get(), &msg, MSG_NOSIGNAL | MSG_DONTWAIT) < 0) break;
      off += len;
    }
    flush(front.get(), pending);
    ::shutdown(front.get(), SHUT_WR);

    w.replies.reset();
    {
      vu::Backend backend(w.device, nullptr);
      vu::Backend::End end;
      for (int i = 0; i < 4096 && backend.serve_one(back.get(), &end); ++i) {
        w.device.serve_kicks();
        // Replies are read now and then, well before they could fill the socket
        // buffer and block the back-end (32 replies of at most 76 bytes).
        if (i % 32 == 31) w.replies.drain(front.get());
      }
    }
    // The back-end is gone (and with it every queue): all it sent is there to read.
    w.replies.drain(front.get());
    w.replies.finish();
  }
  w.fds.check("after the connection ended");
  return 0;
}
