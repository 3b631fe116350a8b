// Fuzz target: a stream of vhost-user messages into the back-end's protocol
// handler (Backend::serve_one) over a real socketpair, with fds.
//
// Input format: records, each
//   u8 fdspec   bits 0-2: how many fds ride with the message (0-7);
//               bits 3-4: their kind: 0 memfd of 64 KiB, 1 eventfd, 2 memfd of
//               4 KiB (shorter than most regions claim), 3 the read end of a pipe
//               whose write end is closed (as a kick fd: POLLHUP, no POLLIN);
//               bit 5 "primed": a memfd sealed against writes (F_SEAL_WRITE: a
//               shared writable mapping of it fails), an eventfd at count 1 (as a
//               kick fd, a kick already pending), a pipe holding one byte (a kick
//               fd that reads short; its write end stays with the harness);
//               bit 6: eight fds more (8-15: more than a message may carry)
//   12 bytes    the header (request, flags, size) as is
//   payload     min(size, what is left) bytes
// The harness sends every record (fds by SCM_RIGHTS; records without fds coalesced
// into one write), shuts its sending side, then lets the back-end handle messages
// until it ends the connection, serving the device's kicked queues after each
// message. Replies are drained and checked as a stream. Eventfds are made per
// input; memfds and pipes come from a per-process pool (the k-th fd of a record
// is the k-th of its kind), put back as new after each input: file offset to 0,
// contents to zeros, a primed pipe's byte written again once a kick read it.
//
// pfsd mode: an input that starts with the 4 bytes "PFSD" and a mode byte is
// served the way pfsd serves a front-end, by Backend::serve() (its loop, its kick
// polling) with a logger, then the records follow. Mode bits:
//   bit 0 clear: the device serves each started queue on a worker thread of its
//                own (FsDevice::Serving::kWorkerThreads, pfsd's); set: on serve()'s
//                thread (kCallerThread, serve() polls the kick fds beside the socket)
//   bits 1-2: how the connection ends, once every record is sent:
//                0 the front-end shuts its sending side (EOF after the last record);
//                1 Backend::shutdown() (pfsd's SIGTERM), from another thread, once
//                  the back-end has read every byte sent;
//                2 the front-end closes its socket at once, before the back-end
//                  reads: every reply fails (EPIPE);
//                3 the front-end closes its socket once the back-end has read
//                  every byte sent: with replies unread, the back-end's next read
//                  fails (ECONNRESET) instead of seeing EOF.
//             For 1 and 3 a harmless SET_OWNER is sent last (unless the stream ends
//             inside a message), so that what the end interrupts does not depend
//             on timing.
//   bit 3: Backend::shutdown() comes before serve() starts (SIGTERM right after
//          the front-end connected): serve() returns at once, reading nothing.
// These inputs are few (and some cost threads): the seeds have a handful.
//
// Oracles beyond the sanitizers: the process fd count is back to its baseline once
// the back-end is gone and the device's queues stopped (every fd received is
// closed, every mapping unmapped); the back-end sends nothing but well-formed
// replies, the last one complete; after each message the back-end's state is
// consistent with it; in pfsd mode every line logged is printable text, and no
// queue runs once serve() has returned (vhost_reply_stream.h).
#include <fcntl.h>
#include <linux/sockios.h>
#include <pthread.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cstdint>
#include <cstring>
#include <string_view>
#include <thread>
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

constexpr uint8_t kPfsdMagic[4] = {'P', 'F', 'S', 'D'};
constexpr uint8_t kModeCallerThread = 1;
constexpr uint8_t kModeShutdownFirst = 8;
enum class Ending : uint8_t { kEof, kShutdown, kCloseAtOnce, kCloseWhenRead };

constexpr unsigned kMaxRecordFds = 15;
constexpr unsigned kPrimed = 0x20;
constexpr unsigned kEightMore = 0x40;

void check_log(vu::Severity, std::string_view line) { pfs::fuzz::check_vhost_log_line(line); }

// A record as sent: what the per-message oracle needs to know of it.
struct Sent {
  uint32_t request = 0;  // 0 when it carried fds (the request-specific checks skip it)
  uint32_t index = 0;    // the first u32 of its payload (a vring index), if any
};

// One pooled memfd and the harness's own mapping of it, to put it back as new.
struct PooledMemfd {
  pfs::ScopedFd fd;
  uint8_t* map = nullptr;
  size_t size = 0;
  bool used = false;   // sent with this input
  bool moved = false;  // sent as a vring fd: the back-end reads or writes through it
};

// The fds records send. Only what the back-end can change is made per input.
class FdSource {
 public:
  FdSource() {
    for (unsigned primed = 0; primed < 2; ++primed) {
      for (unsigned big = 0; big < 2; ++big) {
        for (PooledMemfd& m : memfds_[primed][big]) make_memfd(m, big ? 65536 : 4096, primed);
      }
    }
    int p[2];
    if (::pipe2(p, O_CLOEXEC) != 0) pfs::fuzz::oracle_fail("pipe2 failed");
    ::close(p[1]);
    hup_pipe_.reset(p[0]);
    for (PooledPipe& pp : primed_pipes_) {
      if (::pipe2(p, O_CLOEXEC) != 0) pfs::fuzz::oracle_fail("pipe2 failed");
      pp.read.reset(p[0]);
      pp.write.reset(p[1]);
      put_byte(pp);
    }
    used_.reserve(4 * kMaxRecordFds);
    used_pipes_.reserve(kMaxRecordFds);
  }

  // The fd of the `slot`th place of a record of fdspec `spec` (-1 when it could not
  // be made); one made for this record only is kept in `owned`.
  int get(unsigned spec, unsigned slot, uint32_t request, std::vector<pfs::ScopedFd>& owned) {
    const unsigned kind = (spec >> 3) & 3u;
    const bool primed = (spec & kPrimed) != 0;
    if (kind == 0 || kind == 2) {
      PooledMemfd& m = memfds_[primed][kind == 0][slot];
      if (!m.used) used_.push_back(&m);
      m.used = true;
      m.moved = m.moved || request == static_cast<uint32_t>(vu::Request::kSetVringKick) ||
                request == static_cast<uint32_t>(vu::Request::kSetVringCall) ||
                request == static_cast<uint32_t>(vu::Request::kSetVringErr);
      return m.fd.get();
    }
    if (kind == 1) {
      owned.emplace_back(::eventfd(primed ? 1 : 0, EFD_CLOEXEC | EFD_NONBLOCK));
      return owned.back().get();
    }
    if (!primed) return hup_pipe_.get();
    PooledPipe& pp = primed_pipes_[slot];
    if (!pp.used) used_pipes_.push_back(&pp);
    pp.used = true;
    pp.read_from = pp.read_from || request == static_cast<uint32_t>(vu::Request::kSetVringKick);
    return pp.read.get();
  }

  // After an input: every pooled memfd it used is as new again.
  void restore() {
    for (PooledMemfd* m : used_) {
      if (m->moved) ::lseek(m->fd.get(), 0, SEEK_SET);
      if (m->map != nullptr && std::memcmp(m->map, zeros_.data(), m->size) != 0) {
        std::memset(m->map, 0, m->size);
      }
      m->used = m->moved = false;
    }
    used_.clear();
    for (PooledPipe* pp : used_pipes_) {
      int unread = 1;
      if (pp->read_from && ::ioctl(pp->read.get(), FIONREAD, &unread) == 0 && unread == 0) {
        put_byte(*pp);
      }
      pp->used = pp->read_from = false;
    }
    used_pipes_.clear();
  }

 private:
  void make_memfd(PooledMemfd& m, size_t size, bool sealed) {
    m.fd.reset(::memfd_create("fuzz-region", MFD_CLOEXEC | MFD_ALLOW_SEALING));
    if (!m.fd.valid() || ::ftruncate(m.fd.get(), static_cast<off_t>(size)) != 0) {
      pfs::fuzz::oracle_fail("memfd_create/ftruncate failed");
    }
    m.size = size;
    if (sealed) {
      // Nothing writes it: no mapping needed to put it back.
      if (::fcntl(m.fd.get(), F_ADD_SEALS, F_SEAL_WRITE) != 0) {
        pfs::fuzz::oracle_fail("F_SEAL_WRITE failed");
      }
      return;
    }
    void* p = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, m.fd.get(), 0);
    if (p == MAP_FAILED) pfs::fuzz::oracle_fail("mmap of a pooled memfd failed");
    m.map = static_cast<uint8_t*>(p);
  }

  // A pipe holding one byte; its write end stays here, to put the byte back.
  struct PooledPipe {
    pfs::ScopedFd read;
    pfs::ScopedFd write;
    bool used = false;
    bool read_from = false;  // sent as a kick fd
  };
  static void put_byte(PooledPipe& pp) {
    const char one = 1;
    if (::write(pp.write.get(), &one, 1) != 1) pfs::fuzz::oracle_fail("pipe write failed");
  }

  std::array<std::array<std::array<PooledMemfd, kMaxRecordFds>, 2>, 2> memfds_;  // [primed][big]
  std::array<PooledPipe, kMaxRecordFds> primed_pipes_;
  std::vector<PooledPipe*> used_pipes_;
  std::vector<PooledMemfd*> used_;
  std::array<uint8_t, 65536> zeros_{};
  pfs::ScopedFd hup_pipe_;
};

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
  // pfsd mode's devices, both with a logger as pfsd's.
  vu::Logger log{check_log};
  vu::FsDevice pfsd_workers{server, log, vu::FsDevice::kDefaultMaxQueues,
                            vu::FsDevice::Serving::kWorkerThreads};
  vu::FsDevice pfsd_caller{server, log, vu::FsDevice::kDefaultMaxQueues,
                           vu::FsDevice::Serving::kCallerThread};
  pfs::fuzz::VhostReplyStream replies;
  pfs::fuzz::FastFdBaseline fds;  // fd_count.h: the same oracle, one stat() per call
  FdSource fd_source;             // made before any baseline: its fds are always open
  std::vector<uint8_t> pending;   // records without fds, sent as one write
  size_t pending_records = 0;     // how many records `pending` holds
  std::vector<Sent> sent;         // every complete record sent, in order
  std::vector<pfs::ScopedFd> owned;
  World() {
    // pfsd mode's threads (queue workers, the ender) get 1 MiB stacks, not 8: ASan
    // clears a thread's stack shadow (1/8 of it) when the thread ends, and that
    // was most of what a worker cost.
    pthread_attr_t attr;
    if (::pthread_attr_init(&attr) == 0) {
      ::pthread_attr_setstacksize(&attr, 1 << 20);
      ::pthread_setattr_default_np(&attr);
      ::pthread_attr_destroy(&attr);
    }
    pfs::transport::memory::Session s(server);
    if (!s.init().ok()) pfs::fuzz::oracle_fail("INIT failed");
    pending.reserve(4096);
    sent.reserve(512);
    owned.reserve(kMaxRecordFds);
  }
};

World& world() {
  static World w;
  return w;
}

// Sends on `sock` without waiting; the socket's send buffer grows once (to 1 MiB)
// when the stream outgrows the default. False when the socket refused.
bool send_now(int sock, msghdr& msg) {
  ssize_t n = ::sendmsg(sock, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
  if (n < 0 && errno == EAGAIN) {
    const int bufsize = 1 << 20;
    ::setsockopt(sock, SOL_SOCKET, SO_SNDBUF, &bufsize, sizeof(bufsize));
    n = ::sendmsg(sock, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
  }
  return n == static_cast<ssize_t>(msg.msg_iov[0].iov_len);
}

// Sends the records gathered in `pending`; false when the socket refused them
// (those records are then not counted as sent).
bool flush(int sock, World& w) {
  if (w.pending.empty()) return true;
  iovec iov{w.pending.data(), w.pending.size()};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  const bool ok = send_now(sock, msg);
  if (!ok) w.sent.resize(w.sent.size() - w.pending_records);
  w.pending.clear();
  w.pending_records = 0;
  return ok;
}

// Sends the records of `data` on `sock` (w.sent lists the complete ones); true when
// the stream ends where a message ends.
bool send_records(int sock, const uint8_t* data, size_t size, World& w) {
  w.pending.clear();
  w.pending_records = 0;
  w.sent.clear();
  bool whole = true;
  size_t off = 0;
  while (off < size) {
    const uint8_t spec = data[off++];
    const size_t left = size - off;
    if (left < sizeof(vu::Header)) {
      // A partial header: send it as is.
      w.pending.insert(w.pending.end(), data + off, data + size);
      whole = off == size;
      break;
    }
    vu::Header h;
    std::memcpy(&h, data + off, sizeof(h));
    const size_t payload = std::min<size_t>(h.size, left - sizeof(h));
    const size_t len = sizeof(h) + payload;
    whole = payload == h.size;
    Sent rec{h.request, 0};
    if (payload >= sizeof(rec.index)) std::memcpy(&rec.index, data + off + sizeof(h), 4);
    std::array<int, kMaxRecordFds> raw;
    unsigned nraw = 0;
    const unsigned count = (spec & 7u) + ((spec & kEightMore) != 0 ? 8u : 0u);
    w.owned.clear();
    for (unsigned i = 0; i < count; ++i) {
      const int fd = w.fd_source.get(spec, i, h.request, w.owned);
      if (fd >= 0) raw[nraw++] = fd;
    }
    if (nraw == 0) {
      // The back-end reads a stream: records without fds need not be separate
      // writes (one with fds must be, as its fds ride with its first byte).
      w.pending.insert(w.pending.end(), data + off, data + off + len);
      if (whole) {
        w.sent.push_back(rec);
        ++w.pending_records;
      }
      off += len;
      continue;
    }
    if (!flush(sock, w)) return false;
    iovec iov{const_cast<uint8_t*>(data + off), len};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * kMaxRecordFds)];
    msg.msg_control = control;
    msg.msg_controllen = CMSG_SPACE(sizeof(int) * nraw);
    cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int) * nraw);
    std::memcpy(CMSG_DATA(c), raw.data(), sizeof(int) * nraw);
    const bool ok = send_now(sock, msg);
    w.owned.clear();
    if (!ok) return false;
    if (whole) w.sent.push_back(Sent{0, rec.index});
    off += len;
  }
  return flush(sock, w) && whole;
}

// Until the peer has read every byte sent on `sock` (or closed its end). The
// back-end never stops reading while there is something to read.
void wait_consumed(int sock) {
  int unread = 0;
  while (::ioctl(sock, SIOCOUTQ, &unread) == 0 && unread > 0) ::usleep(50);
}

// The harness drives the back-end: one message at a time, the kicked queues served
// after each, the back-end's state checked.
void serve_by_messages(World& w, int front, int back) {
  vu::Backend backend(w.device, nullptr);
  vu::Backend::End end;
  for (size_t i = 0; i < 4096 && backend.serve_one(back, &end); ++i) {
    w.device.serve_kicks();
    // Record i was handled (records match messages one to one: only the last may
    // be cut short, and then it ends the connection).
    const Sent s = i < w.sent.size() ? w.sent[i] : Sent{};
    pfs::fuzz::check_vhost_backend(backend, w.device, s.request, s.index);
    // Replies are read now and then, well before they could fill the socket
    // buffer and block the back-end (32 replies of at most 76 bytes).
    if (i % 32 == 31) w.replies.drain(front);
  }
}

// pfsd mode (see the top of the file): Backend::serve() on this thread.
void serve_as_pfsd(World& w, uint8_t mode, const uint8_t* data, size_t size, pfs::ScopedFd& front,
                   pfs::ScopedFd back) {
  // The replies must fit the back-end's socket buffer: nothing reads them meanwhile.
  const int bufsize = 1 << 20;
  ::setsockopt(back.get(), SOL_SOCKET, SO_SNDBUF, &bufsize, sizeof(bufsize));
  vu::FsDevice& device = (mode & kModeCallerThread) != 0 ? w.pfsd_caller : w.pfsd_workers;
  const auto ending = static_cast<Ending>((mode >> 1) & 3u);
  vu::Backend backend(device, w.log);
  const bool whole = send_records(front.get(), data, size, w);
  std::thread ender;
  if (ending == Ending::kShutdown || ending == Ending::kCloseWhenRead) {
    if (whole) {
      const auto set_owner =
          vu::encode(static_cast<uint32_t>(vu::Request::kSetOwner), vu::kVersion, nullptr, 0);
      ::send(front.get(), set_owner.data(), set_owner.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    }
    ender = std::thread([&backend, &front, ending] {
      wait_consumed(front.get());
      if (ending == Ending::kShutdown) {
        backend.shutdown();
      } else {
        front.reset();
      }
    });
  } else if (ending == Ending::kCloseAtOnce) {
    front.reset();
  } else {
    ::shutdown(front.get(), SHUT_WR);
  }
  if ((mode & kModeShutdownFirst) != 0) backend.shutdown();
  const vu::Backend::End end = backend.serve(std::move(back));
  if (ender.joinable()) ender.join();
  const bool first = (mode & kModeShutdownFirst) != 0;
  if (first && end != vu::Backend::End::kShutdown) {
    pfs::fuzz::oracle_fail("serve() after shutdown() did not return kShutdown");
  }
  if (!first && ending != Ending::kShutdown && end == vu::Backend::End::kShutdown) {
    pfs::fuzz::oracle_fail("serve() reported a shutdown() nobody called");
  }
  for (unsigned i = 0; i < device.max_queues(); ++i) {
    if (device.running(i)) pfs::fuzz::oracle_fail("queue %u still runs after serve()", i);
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
    w.replies.reset();
    if (size > sizeof(kPfsdMagic) && std::memcmp(data, kPfsdMagic, sizeof(kPfsdMagic)) == 0) {
      const uint8_t mode = data[sizeof(kPfsdMagic)];
      const size_t skip = sizeof(kPfsdMagic) + 1;
      serve_as_pfsd(w, mode, data + skip, size - skip, front, std::move(back));
    } else {
      send_records(front.get(), data, size, w);
      ::shutdown(front.get(), SHUT_WR);
      serve_by_messages(w, front.get(), back.get());
    }
    // The back-end is gone (and with it every queue): all it sent is there to read
    // (unless the front-end closed its end).
    if (front.valid()) {
      w.replies.drain(front.get());
      w.replies.finish();
    }
  }
  w.fd_source.restore();
  w.fds.check("after the connection ended");
  return 0;
}
