// Fuzz target: a stream of vhost-user messages into the back-end's protocol
// handler (Backend::serve_one) over a real socketpair, with fds.
//
// Input format: records, each
//   u8 fdspec   bits 0-2: how many fds ride with the message (0-7);
//               bits 3-4: their kind: 0 memfd of 64 KiB, 1 eventfd, 2 memfd of
//               4 KiB (shorter than most regions claim), 3 the read end of a pipe
//   12 bytes    the header (request, flags, size) as is
//   payload     min(size, what is left) bytes
// The harness sends every record (fds by SCM_RIGHTS, made fresh per input), shuts
// its sending side, then lets the back-end handle messages until it ends the
// connection. Replies are drained and checked for the reply flag.
//
// Oracles beyond the sanitizers: the process fd count is back to its baseline once
// the back-end and device are gone (every fd received is closed, every mapping
// unmapped); every reply the back-end sends is a well-formed reply header.
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

namespace {

namespace vu = pfs::transport::vhost_user;

struct World {
  pfs::fuzz::PlausibleFs fs;
  pfs::fuse::Server server{fs};
  pfs::fuzz::FastFdBaseline fds;  // fd_count.h: the same oracle, one stat() per call
  World() {
    pfs::transport::memory::Session s(server);
    if (!s.init().ok()) pfs::fuzz::oracle_fail("INIT failed");
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

void drain_replies(int sock) {
  // Once per process: it runs after every message, and a zeroed 64 KiB vector each
  // time was most of this target's cost under ASan.
  static std::vector<uint8_t> buf(65536);
  size_t have = 0;
  for (;;) {
    const ssize_t n = ::recv(sock, buf.data() + have, buf.size() - have, MSG_DONTWAIT);
    if (n <= 0) break;
    have += static_cast<size_t>(n);
    if (have == buf.size()) break;
  }
  size_t off = 0;
  while (have - off >= sizeof(vu::Header)) {
    vu::Header h;
    std::memcpy(&h, buf.data() + off, sizeof(h));
    if ((h.flags & vu::kFlagReply) == 0 || (h.flags & vu::kVersionMask) != vu::kVersion ||
        h.size > 64) {
      pfs::fuzz::oracle_fail("malformed reply header (request %u flags %#x size %u)", h.request,
                             h.flags, h.size);
    }
    off += sizeof(h) + h.size;
  }
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
    size_t off = 0;
    while (off < size) {
      const uint8_t spec = data[off++];
      const size_t left = size - off;
      if (left < sizeof(vu::Header)) {
        // A partial header: send it as is.
        if (::send(front.get(), data + off, left, MSG_NOSIGNAL) < 0) break;
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
      iovec iov{const_cast<uint8_t*>(data + off), len};
      msghdr msg{};
      msg.msg_iov = &iov;
      msg.msg_iovlen = 1;
      alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * 8)] = {};
      if (!raw.empty()) {
        msg.msg_control = control;
        msg.msg_controllen = CMSG_SPACE(sizeof(int) * raw.size());
        cmsghdr* c = CMSG_FIRSTHDR(&msg);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int) * raw.size());
        std::memcpy(CMSG_DATA(c), raw.data(), sizeof(int) * raw.size());
      }
      if (::sendmsg(front.get(), &msg, MSG_NOSIGNAL | MSG_DONTWAIT) < 0) break;
      off += len;
    }
    ::shutdown(front.get(), SHUT_WR);

    vu::FsDevice device(w.server, nullptr);
    vu::Backend backend(device, nullptr);
    vu::Backend::End end;
    for (int i = 0; i < 4096 && backend.serve_one(back.get(), &end); ++i) {
      drain_replies(front.get());
    }
    drain_replies(front.get());
  }
  w.fds.check("after the connection ended");
  return 0;
}
