// A fake vhost-user front-end for tests: a memfd as guest memory, split rings laid
// out in it exactly as a virtio driver does, and the message sequence QEMU's
// vhost-user-fs-pci sends over a socketpair.
#pragma once

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "core/passthrough/scoped_fd.h"
#include "core/transport/memory/reply.h"
#include "core/transport/vhost_user/message.h"
#include "core/transport/vhost_user/virtqueue.h"

namespace pfs::testing {

namespace vu = pfs::transport::vhost_user;

// Guest memory: one region at kGpa, known to the front-end at kUva.
class FakeGuestMemory {
 public:
  static constexpr uint64_t kGpa = 0x40000000;
  static constexpr uint64_t kUva = 0x7f1200000000;

  explicit FakeGuestMemory(size_t size = 16u << 20) : size_(size) {
    fd_.reset(::memfd_create("fake-guest", MFD_CLOEXEC));
    if (!fd_.valid() || ::ftruncate(fd_.get(), static_cast<off_t>(size)) != 0) return;
    void* p = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd_.get(), 0);
    if (p != MAP_FAILED) base_ = static_cast<uint8_t*>(p);
  }
  ~FakeGuestMemory() {
    if (base_ != nullptr) ::munmap(base_, size_);
  }
  FakeGuestMemory(const FakeGuestMemory&) = delete;
  FakeGuestMemory& operator=(const FakeGuestMemory&) = delete;

  bool ok() const { return base_ != nullptr; }
  int fd() const { return fd_.get(); }
  size_t size() const { return size_; }
  uint8_t* at(uint64_t gpa) const { return base_ + (gpa - kGpa); }
  static uint64_t uva(uint64_t gpa) { return gpa - kGpa + kUva; }

  // Bump allocation; release_to() frees everything after a mark.
  uint64_t alloc(size_t len, size_t align = 16) {
    next_ = (next_ + align - 1) / align * align;
    const uint64_t gpa = kGpa + next_;
    next_ += len;
    if (next_ > size_) std::abort();
    std::memset(at(gpa), 0, len);
    return gpa;
  }
  size_t mark() const { return next_; }
  void release_to(size_t mark) { next_ = mark; }

  vu::MemRegion region() const { return {kGpa, size_, kUva, 0}; }

 private:
  size_t size_;
  ScopedFd fd_;
  uint8_t* base_ = nullptr;
  size_t next_ = 0;
};

// A buffer of a chain: guest address, length, device-writable or not.
struct Buf {
  uint64_t gpa;
  uint32_t len;
  bool write;
};

// One split ring in guest memory, driven as a driver would.
class FakeRing {
 public:
  FakeRing(FakeGuestMemory& mem, uint32_t size) : mem_(mem), size_(size) {
    desc_ = mem.alloc(16 * size, 16);
    avail_ = mem.alloc(6 + 2 * size, 2);
    used_ = mem.alloc(6 + 8 * size, 4);
    kick_.reset(::eventfd(0, EFD_CLOEXEC));
    call_.reset(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  }
  uint32_t size() const { return size_; }
  uint64_t desc_gpa() const { return desc_; }
  uint64_t avail_gpa() const { return avail_; }
  uint64_t used_gpa() const { return used_; }
  int kick_fd() const { return kick_.get(); }
  int call_fd() const { return call_.get(); }
  uint16_t avail_idx() const { return avail_idx_; }

  void set_desc(uint32_t i, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next) {
    vu::Desc d{addr, len, flags, next};
    std::memcpy(mem_.at(desc_) + 16 * i, &d, sizeof(d));
  }
  // Lays `bufs` out as a chain (direct, or in an indirect table) and returns its head.
  uint16_t build(std::span<const Buf> bufs, bool indirect = false) {
    if (indirect) {
      const uint64_t table = mem_.alloc(16 * bufs.size(), 16);
      for (size_t k = 0; k < bufs.size(); ++k) {
        vu::Desc d{bufs[k].gpa, bufs[k].len,
                   static_cast<uint16_t>((bufs[k].write ? vu::kDescFlagWrite : 0) |
                                         (k + 1 < bufs.size() ? vu::kDescFlagNext : 0)),
                   static_cast<uint16_t>(k + 1)};
        std::memcpy(mem_.at(table) + 16 * k, &d, sizeof(d));
      }
      const uint16_t head = next_desc();
      set_desc(head, table, static_cast<uint32_t>(16 * bufs.size()), vu::kDescFlagIndirect, 0);
      return head;
    }
    std::vector<uint16_t> ids;
    for (size_t k = 0; k < bufs.size(); ++k) ids.push_back(next_desc());
    for (size_t k = 0; k < bufs.size(); ++k) {
      set_desc(ids[k], bufs[k].gpa, bufs[k].len,
               static_cast<uint16_t>((bufs[k].write ? vu::kDescFlagWrite : 0) |
                                     (k + 1 < bufs.size() ? vu::kDescFlagNext : 0)),
               k + 1 < bufs.size() ? ids[k + 1] : 0);
    }
    return ids.empty() ? 0 : ids[0];
  }
  uint16_t next_desc() { return static_cast<uint16_t>(desc_next_++ % size_); }

  // Puts `head` in the available ring and kicks.
  void publish(uint16_t head) {
    uint16_t* ring = reinterpret_cast<uint16_t*>(mem_.at(avail_) + 4);
    std::atomic_ref<uint16_t>(ring[avail_idx_ % size_]).store(head, std::memory_order_relaxed);
    set_avail_idx(static_cast<uint16_t>(avail_idx_ + 1));
    kick();
  }
  void set_avail_idx(uint16_t idx) {
    avail_idx_ = idx;
    // Release: the descriptors and ring entry are visible before the index.
    std::atomic_ref<uint16_t>(*reinterpret_cast<uint16_t*>(mem_.at(avail_) + 2))
        .store(idx, std::memory_order_release);
  }
  void kick() {
    const uint64_t one = 1;
    [[maybe_unused]] ssize_t n = ::write(kick_.get(), &one, sizeof(one));
  }
  uint16_t used_idx() const {
    return std::atomic_ref<uint16_t>(*reinterpret_cast<uint16_t*>(mem_.at(used_) + 2))
        .load(std::memory_order_acquire);
  }
  // Waits (up to 5 s) for the next used element; nullopt on timeout. With
  // `strict`, the element must come with an interrupt on the call eventfd (a lost
  // notification fails); otherwise the used index is polled as well.
  std::optional<std::pair<uint32_t, uint32_t>> wait_used(int timeout_ms = 5000) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    while (used_idx() == used_seen_) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                            deadline - std::chrono::steady_clock::now())
                            .count();
      if (left <= 0) return std::nullopt;
      pollfd p{call_.get(), POLLIN, 0};
      const int r = ::poll(&p, 1, strict_ ? static_cast<int>(left) : 20);
      uint64_t v;
      [[maybe_unused]] ssize_t n = ::read(call_.get(), &v, sizeof(v));
      if (strict_ && r <= 0) return std::nullopt;
    }
    const uint8_t* e = mem_.at(used_) + 4 + 8 * (used_seen_ % size_);
    uint32_t id, len;
    std::memcpy(&id, e, 4);
    std::memcpy(&len, e + 4, 4);
    ++used_seen_;
    // As a driver with EVENT_IDX: interrupt me when the next element arrives.
    std::atomic_ref<uint16_t>(*reinterpret_cast<uint16_t*>(mem_.at(avail_) + 4 + 2 * size_))
        .store(used_seen_, std::memory_order_relaxed);
    std::atomic_thread_fence(std::memory_order_seq_cst);
    return std::pair{id, len};
  }
  void set_strict(bool strict) { strict_ = strict; }
  uint16_t used_seen() const { return used_seen_; }
  void resync_used() { used_seen_ = used_idx(); }

 private:
  FakeGuestMemory& mem_;
  uint32_t size_;
  uint64_t desc_ = 0, avail_ = 0, used_ = 0;
  uint16_t avail_idx_ = 0;
  uint16_t used_seen_ = 0;
  uint32_t desc_next_ = 0;
  bool strict_ = false;
  ScopedFd kick_, call_;
};

// The socket side: sends messages (with fds) and reads replies.
class FakeFrontend {
 public:
  explicit FakeFrontend(int sock) : sock_(sock) {}

  bool send(vu::Request req, const void* payload, uint32_t size, std::span<const int> fds = {},
            bool need_reply = false) {
    return send_raw(static_cast<uint32_t>(req),
                    vu::kVersion | (need_reply ? vu::kFlagNeedReply : 0u), payload, size, fds);
  }
  bool send_raw(uint32_t req, uint32_t flags, const void* payload, uint32_t size,
                std::span<const int> fds = {}) {
    auto bytes = vu::encode(req, flags, payload, size);
    iovec iov{bytes.data(), bytes.size()};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * 16)] = {};
    if (!fds.empty()) {
      msg.msg_control = control;
      msg.msg_controllen = CMSG_SPACE(sizeof(int) * fds.size());
      cmsghdr* c = CMSG_FIRSTHDR(&msg);
      c->cmsg_level = SOL_SOCKET;
      c->cmsg_type = SCM_RIGHTS;
      c->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
      std::memcpy(CMSG_DATA(c), fds.data(), sizeof(int) * fds.size());
    }
    return ::sendmsg(sock_, &msg, MSG_NOSIGNAL) == static_cast<ssize_t>(bytes.size());
  }
  bool send_u64(vu::Request req, uint64_t v, std::span<const int> fds = {},
                bool need_reply = false) {
    return send(req, &v, sizeof(v), fds, need_reply);
  }
  bool send_state(vu::Request req, uint32_t index, uint32_t num, bool need_reply = false) {
    vu::VringState s{index, num};
    return send(req, &s, sizeof(s), {}, need_reply);
  }
  // Reads one reply; nullopt on EOF/timeout or a malformed reply.
  std::optional<std::vector<uint8_t>> reply(int timeout_ms = 5000) {
    pollfd p{sock_, POLLIN, 0};
    if (::poll(&p, 1, timeout_ms) <= 0) return std::nullopt;
    vu::Header h;
    if (::recv(sock_, &h, sizeof(h), MSG_WAITALL) != static_cast<ssize_t>(sizeof(h))) {
      return std::nullopt;
    }
    if ((h.flags & vu::kFlagReply) == 0 || h.size > 4096) return std::nullopt;
    std::vector<uint8_t> payload(h.size);
    if (h.size > 0 &&
        ::recv(sock_, payload.data(), h.size, MSG_WAITALL) != static_cast<ssize_t>(h.size)) {
      return std::nullopt;
    }
    last_request_ = h.request;
    return payload;
  }
  std::optional<uint64_t> reply_u64() {
    auto p = reply();
    if (!p || p->size() != 8) return std::nullopt;
    uint64_t v;
    std::memcpy(&v, p->data(), 8);
    return v;
  }
  // True when the back-end closed the connection (EOF within the timeout).
  bool closed_by_peer(int timeout_ms = 5000) {
    pollfd p{sock_, POLLIN, 0};
    if (::poll(&p, 1, timeout_ms) <= 0) return false;
    char c;
    const ssize_t n = ::recv(sock_, &c, 1, MSG_DONTWAIT);
    // Closing with unread data in its buffer makes the kernel send a reset.
    return n == 0 || (n < 0 && errno == ECONNRESET);
  }
  uint32_t last_request() const { return last_request_; }
  int sock() const { return sock_; }

 private:
  int sock_;
  uint32_t last_request_ = 0;
};

// The set-up sequence QEMU's vhost-user-fs-pci sends: features, protocol features
// (MQ, REPLY_ACK), queue count, owner, the one memory region, then each ring in
// `rings` (index = position) with its kick and call eventfds, enabled. Empty when
// every step was accepted; otherwise the step that failed.
inline std::string negotiate_frontend(FakeFrontend& f, const FakeGuestMemory& mem,
                                      std::span<FakeRing* const> rings) {
  namespace v = pfs::transport::vhost_user;
  if (!f.send(v::Request::kGetFeatures, nullptr, 0) || !f.reply_u64()) return "GET_FEATURES";
  if (!f.send(v::Request::kGetProtocolFeatures, nullptr, 0) || !f.reply_u64()) {
    return "GET_PROTOCOL_FEATURES";
  }
  if (!f.send_u64(v::Request::kSetProtocolFeatures, v::kProtocolMq | v::kProtocolReplyAck)) {
    return "SET_PROTOCOL_FEATURES";
  }
  auto queues = std::optional<uint64_t>();
  if (!f.send(v::Request::kGetQueueNum, nullptr, 0) || !(queues = f.reply_u64())) {
    return "GET_QUEUE_NUM";
  }
  if (*queues < rings.size())
    return "GET_QUEUE_NUM: the back-end has only " + std::to_string(*queues);
  if (!f.send(v::Request::kSetOwner, nullptr, 0)) return "SET_OWNER";
  const uint64_t acked = v::kFeatureVersion1 | v::kFeatureProtocolFeatures | v::kFeatureEventIdx |
                         v::kFeatureIndirectDesc;
  if (!f.send_u64(v::Request::kSetFeatures, acked)) return "SET_FEATURES";
  struct {
    uint32_t n, pad;
    v::MemRegion r;
  } table{1, 0, mem.region()};
  const int memfd = mem.fd();
  if (!f.send(v::Request::kSetMemTable, &table, sizeof(table), {&memfd, 1}, true)) {
    return "SET_MEM_TABLE";
  }
  if (auto ack = f.reply_u64(); !ack || *ack != 0) return "SET_MEM_TABLE ack";
  for (uint32_t q = 0; q < rings.size(); ++q) {
    FakeRing& r = *rings[q];
    v::VringAddr a{q,
                   0,
                   FakeGuestMemory::uva(r.desc_gpa()),
                   FakeGuestMemory::uva(r.used_gpa()),
                   FakeGuestMemory::uva(r.avail_gpa()),
                   0};
    const int kick = r.kick_fd(), call = r.call_fd();
    const bool sent = f.send_state(v::Request::kSetVringNum, q, r.size()) &&
                      f.send_state(v::Request::kSetVringBase, q, 0) &&
                      f.send(v::Request::kSetVringAddr, &a, sizeof(a)) &&
                      f.send_u64(v::Request::kSetVringKick, q, {&kick, 1}) &&
                      f.send_u64(v::Request::kSetVringCall, q, {&call, 1}) &&
                      f.send_state(v::Request::kSetVringEnable, q, 1, true);
    auto ack = f.reply_u64();
    if (!sent || !ack || *ack != 0) return "ring " + std::to_string(q);
  }
  return "";
}

}  // namespace pfs::testing
