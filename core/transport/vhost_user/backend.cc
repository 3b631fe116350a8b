#include "core/transport/vhost_user/backend.h"

#include <poll.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>

namespace pfs::transport::vhost_user {

Backend::Backend(FsDevice& device, Logger log)
    : device_(device), log_(std::move(log)), vrings_(device.max_queues()) {}

Backend::~Backend() { device_.stop_all(); }

Backend::Outcome Backend::close_with(const char* what) {
  logf(log_, Severity::kWarn, "malformed vhost-user message: %s; closing the connection", what);
  return Outcome::kClose;
}

void Backend::pause(unsigned i) {
  if (auto next = device_.stop_queue(i)) vrings_[i].base = *next;
}

void Backend::resume(unsigned i) {
  Vring& v = vrings_[i];
  if (!v.started || !v.enabled || !v.addr_set || v.num == 0 || !mem_ || !v.kick.valid()) return;
  QueueConfig cfg;
  cfg.mem = mem_;
  cfg.size = v.num;
  cfg.addrs = v.addrs;
  cfg.last_avail = v.base;
  cfg.event_idx = (features_ & kFeatureEventIdx) != 0;
  cfg.indirect = (features_ & kFeatureIndirectDesc) != 0;
  cfg.kick_fd = v.kick.get();
  cfg.call_fd = v.call.get();
  std::string why;
  if (Status s = device_.start_queue(i, cfg, &why); s != kOk) {
    // A ring outside guest memory is the guest's (or front-end's) mistake: the
    // queue stays stopped, the connection and the other queues go on.
    logf(log_, Severity::kWarn, "queue %u not started: %s", i, why.c_str());
  }
}

void Backend::replace_memory(std::shared_ptr<const GuestMemory> mem) {
  for (unsigned i = 0; i < vrings_.size(); ++i) pause(i);
  mem_ = std::move(mem);
  for (unsigned i = 0; i < vrings_.size(); ++i) resume(i);
}

Backend::Outcome Backend::reset() {
  device_.stop_all();
  for (Vring& v : vrings_) v = Vring{};
  // Features are acked again on the next start; protocol features are kept, as a
  // front-end does not renegotiate them (and may expect REPLY_ACK right away).
  features_ = 0;
  mem_.reset();
  return Outcome::kOk;
}

Backend::Outcome Backend::set_mem_table(Message& m) {
  if (m.payload.size() < kMemTableHeader) return close_with("SET_MEM_TABLE too short");
  uint32_t n = 0;
  std::memcpy(&n, m.payload.data(), sizeof(n));
  if (n == 0 || n > kMaxMemTableRegions) return close_with("SET_MEM_TABLE region count");
  if (m.payload.size() != kMemTableHeader + n * sizeof(MemRegion)) {
    return close_with("SET_MEM_TABLE size does not match its region count");
  }
  if (m.fds.size() != n) return close_with("SET_MEM_TABLE needs one fd per region");
  auto mem = std::make_shared<GuestMemory>();
  for (uint32_t i = 0; i < n; ++i) {
    MemRegion r;
    std::memcpy(&r, m.payload.data() + kMemTableHeader + i * sizeof(MemRegion), sizeof(r));
    std::string why;
    if (mem->add(r, m.fds[i].get(), &why) != kOk) {
      logf(log_, Severity::kWarn, "SET_MEM_TABLE region %u (gpa %#llx size %#llx): %s", i,
           static_cast<unsigned long long>(r.guest_phys_addr),
           static_cast<unsigned long long>(r.memory_size), why.c_str());
      return close_with("bad memory region");
    }
  }
  // The mappings hold the memory; the fds can go (they close with the Message).
  replace_memory(std::move(mem));
  return Outcome::kOk;
}

Backend::Outcome Backend::add_mem_reg(Message& m) {
  if (m.payload.size() != kSingleRegionSize) return close_with("ADD_MEM_REG size");
  if (m.fds.size() != 1) return close_with("ADD_MEM_REG needs exactly one fd");
  MemRegion r;
  std::memcpy(&r, m.payload.data() + 8, sizeof(r));
  auto mem = std::make_shared<GuestMemory>(mem_ ? *mem_ : GuestMemory{});
  std::string why;
  if (mem->add(r, m.fds[0].get(), &why) != kOk) {
    logf(log_, Severity::kWarn, "ADD_MEM_REG (gpa %#llx size %#llx): %s",
         static_cast<unsigned long long>(r.guest_phys_addr),
         static_cast<unsigned long long>(r.memory_size), why.c_str());
    return close_with("bad memory region");
  }
  replace_memory(std::move(mem));
  return Outcome::kOk;
}

Backend::Outcome Backend::rem_mem_reg(Message& m) {
  if (m.payload.size() != kSingleRegionSize) return close_with("REM_MEM_REG size");
  // QEMU sends the region's fd along; it is not needed (closed with the Message).
  MemRegion r;
  std::memcpy(&r, m.payload.data() + 8, sizeof(r));
  if (!mem_) return Outcome::kFailed;
  auto mem = std::make_shared<GuestMemory>(*mem_);
  if (mem->remove(r) != kOk) {
    logf(log_, Severity::kWarn, "REM_MEM_REG: no region at gpa %#llx",
         static_cast<unsigned long long>(r.guest_phys_addr));
    return Outcome::kFailed;
  }
  replace_memory(std::move(mem));
  return Outcome::kOk;
}

Backend::Outcome Backend::set_vring_fd(Message& m, ScopedFd Vring::*which) {
  uint64_t v;
  if (!m.u64(v)) return close_with("vring fd message size");
  const uint64_t index = v & kVringIndexMask;
  if (index >= vrings_.size()) return close_with("vring index out of range");
  if ((v & ~(kVringIndexMask | kVringNoFd)) != 0) return close_with("reserved bits set");
  const bool no_fd = (v & kVringNoFd) != 0;
  if (m.fds.size() != (no_fd ? 0u : 1u)) return close_with("vring fd flag and fds disagree");
  const unsigned i = static_cast<unsigned>(index);
  pause(i);
  Vring& r = vrings_[i];
  r.*which = no_fd ? ScopedFd() : std::move(m.fds[0]);
  if (which == &Vring::kick) {
    // The ring starts when its kick fd arrives (vhost-user.rst, "Starting and
    // stopping rings"). Without an fd the front-end would poll for us: unsupported.
    r.started = !no_fd;
  }
  resume(i);
  return Outcome::kOk;
}

Backend::Outcome Backend::get_vring_base(int sock, Message& m) {
  VringState st;
  if (!m.payload_as(st)) return close_with("GET_VRING_BASE size");
  if (st.index >= vrings_.size()) return close_with("vring index out of range");
  pause(st.index);
  Vring& r = vrings_[st.index];
  r.started = false;
  r.kick.reset();
  st.num = r.base;
  if (send_reply(sock, m.request(), &st, sizeof(st)) != kOk) return Outcome::kClose;
  return Outcome::kReplied;
}

Backend::Outcome Backend::dispatch(int sock, Message& m) {
  const auto req = static_cast<Request>(m.request());
  // Requests that carry no fds must not bring any.
  const bool fds_ok = req == Request::kSetMemTable || req == Request::kSetVringKick ||
                      req == Request::kSetVringCall || req == Request::kSetVringErr ||
                      req == Request::kAddMemReg || req == Request::kRemMemReg;
  if (!fds_ok && !m.fds.empty()) return close_with("unexpected fds");

  switch (req) {
    case Request::kGetFeatures: {
      if (!m.payload.empty()) return close_with("GET_FEATURES carries a payload");
      if (send_u64_reply(sock, m.request(), kOfferedFeatures) != kOk) return Outcome::kClose;
      return Outcome::kReplied;
    }
    case Request::kSetFeatures: {
      uint64_t f;
      if (!m.u64(f)) return close_with("SET_FEATURES size");
      if ((f & ~kOfferedFeatures) != 0) return close_with("SET_FEATURES acks features not offered");
      const bool changed = ((f ^ features_) & (kFeatureEventIdx | kFeatureIndirectDesc)) != 0;
      if (changed) {
        for (unsigned i = 0; i < vrings_.size(); ++i) pause(i);
      }
      features_ = f;
      if (changed) {
        for (unsigned i = 0; i < vrings_.size(); ++i) resume(i);
      }
      return Outcome::kOk;
    }
    case Request::kGetProtocolFeatures: {
      if (!m.payload.empty()) return close_with("GET_PROTOCOL_FEATURES carries a payload");
      if (send_u64_reply(sock, m.request(), kOfferedProtocolFeatures) != kOk) {
        return Outcome::kClose;
      }
      return Outcome::kReplied;
    }
    case Request::kSetProtocolFeatures: {
      uint64_t f;
      if (!m.u64(f)) return close_with("SET_PROTOCOL_FEATURES size");
      if ((f & ~kOfferedProtocolFeatures) != 0) {
        return close_with("SET_PROTOCOL_FEATURES acks features not offered");
      }
      protocol_features_ = f;
      return Outcome::kOk;
    }
    case Request::kGetQueueNum: {
      if (!m.payload.empty()) return close_with("GET_QUEUE_NUM carries a payload");
      if (send_u64_reply(sock, m.request(), vrings_.size()) != kOk) return Outcome::kClose;
      return Outcome::kReplied;
    }
    case Request::kGetMaxMemSlots: {
      if (!m.payload.empty()) return close_with("GET_MAX_MEM_SLOTS carries a payload");
      if (send_u64_reply(sock, m.request(), GuestMemory::kMaxRegions) != kOk) {
        return Outcome::kClose;
      }
      return Outcome::kReplied;
    }
    case Request::kSetOwner:
      if (!m.payload.empty()) return close_with("SET_OWNER carries a payload");
      return Outcome::kOk;
    case Request::kResetOwner:
    case Request::kResetDevice:
      // QEMU sends a u64 0 with RESET_OWNER; accept an empty payload too.
      if (m.payload.size() != 0 && m.payload.size() != 8) return close_with("RESET size");
      return reset();
    case Request::kSetMemTable:
      return set_mem_table(m);
    case Request::kAddMemReg:
      return add_mem_reg(m);
    case Request::kRemMemReg:
      return rem_mem_reg(m);
    case Request::kSetVringNum: {
      VringState st;
      if (!m.payload_as(st)) return close_with("SET_VRING_NUM size");
      if (st.index >= vrings_.size()) return close_with("vring index out of range");
      if (st.num == 0 || st.num > kMaxQueueSize || (st.num & (st.num - 1)) != 0) {
        return close_with("queue size is not a power of two up to 32768");
      }
      pause(st.index);
      vrings_[st.index].num = st.num;
      resume(st.index);
      return Outcome::kOk;
    }
    case Request::kSetVringBase: {
      VringState st;
      if (!m.payload_as(st)) return close_with("SET_VRING_BASE size");
      if (st.index >= vrings_.size()) return close_with("vring index out of range");
      if (st.num > 0xffff)
        return close_with("SET_VRING_BASE beyond 16 bits (packed rings unsupported)");
      pause(st.index);
      vrings_[st.index].base = static_cast<uint16_t>(st.num);
      resume(st.index);
      return Outcome::kOk;
    }
    case Request::kSetVringAddr: {
      VringAddr a;
      if (!m.payload_as(a)) return close_with("SET_VRING_ADDR size");
      if (a.index >= vrings_.size()) return close_with("vring index out of range");
      // flags bit 0 (VHOST_VRING_F_LOG) asks for dirty logging, which we do not offer.
      pause(a.index);
      Vring& r = vrings_[a.index];
      r.addrs = RingAddrs{a.desc_user_addr, a.avail_user_addr, a.used_user_addr};
      r.addr_set = true;
      resume(a.index);
      return Outcome::kOk;
    }
    case Request::kGetVringBase:
      return get_vring_base(sock, m);
    case Request::kSetVringKick:
      return set_vring_fd(m, &Vring::kick);
    case Request::kSetVringCall:
      return set_vring_fd(m, &Vring::call);
    case Request::kSetVringErr:
      return set_vring_fd(m, &Vring::err);
    case Request::kSetVringEnable: {
      VringState st;
      if (!m.payload_as(st)) return close_with("SET_VRING_ENABLE size");
      if (st.index >= vrings_.size()) return close_with("vring index out of range");
      if (st.num > 1) return close_with("SET_VRING_ENABLE value is not 0 or 1");
      // The spec starts rings disabled once PROTOCOL_FEATURES is negotiated. We
      // start them enabled (as libvhost-user effectively does) so a front-end that
      // never sends ENABLE still works; an explicit 0 pauses the ring.
      pause(st.index);
      vrings_[st.index].enabled = st.num == 1;
      resume(st.index);
      return Outcome::kOk;
    }
    default:
      break;
  }
  logf(log_, Severity::kWarn, "unsupported vhost-user request %u (%s)", m.request(),
       request_name(m.request()));
  if (m.need_reply() && (protocol_features_ & kProtocolReplyAck) != 0) return Outcome::kFailed;
  return close_with("unsupported request without a way to refuse it");
}

bool Backend::serve_one(int sock, End* end) {
  Message m;
  std::string why;
  switch (receive(sock, m, &why)) {
    case RecvError::kNone:
      break;
    case RecvError::kEof:
      if (end) *end = End::kDisconnected;
      return false;
    case RecvError::kIo:
      logf(log_, Severity::kWarn, "vhost-user socket: %s: %s", why.c_str(), std::strerror(errno));
      if (end) *end = End::kIoError;
      return false;
    case RecvError::kMalformed:
      close_with(why.c_str());
      if (end) *end = End::kMalformed;
      return false;
  }
  logf(log_, Severity::kDebug, "vhost-user %s (%u bytes, %zu fds)", request_name(m.request()),
       m.header.size, m.fds.size());
  // REPLY_ACK as negotiated before or after this message (it may change it, as
  // SET_PROTOCOL_FEATURES does).
  bool ack = (protocol_features_ & kProtocolReplyAck) != 0;
  Outcome o;
  if (m.fds_lost) {
    // Out of fds: this message cannot be acted on, but the connection stays (and a
    // front-end that asked for REPLY_ACK learns it failed).
    logf(log_, Severity::kWarn, "vhost-user %s arrived without its fds (out of fds?); refused",
         request_name(m.request()));
    o = Outcome::kFailed;
  } else {
    o = dispatch(sock, m);
  }
  if (o == Outcome::kClose) {
    if (end) *end = End::kMalformed;
    return false;
  }
  ack = ack || (protocol_features_ & kProtocolReplyAck) != 0;
  if (o == Outcome::kReplied || !m.need_reply() || !ack) return true;
  // REPLY_ACK: 0 for success, non-zero for failure.
  if (send_u64_reply(sock, m.request(), o == Outcome::kOk ? 0 : 1) != kOk) {
    if (end) *end = End::kIoError;
    return false;
  }
  return true;
}

Backend::End Backend::serve(ScopedFd sock) {
  std::unique_lock lock(sock_mu_);
  if (shutdown_) return End::kShutdown;
  sock_ = sock.get();
  lock.unlock();
  End end = End::kDisconnected;
  // With FsDevice::Serving::kCallerThread the queues are served here too: wait for
  // the socket or a kick, whichever comes first. Otherwise kicks is always empty.
  std::vector<int> kicks;
  std::vector<pollfd> fds;
  for (;;) {
    kicks.clear();
    device_.kick_fds(kicks);
    if (!kicks.empty()) {
      fds.assign(1, pollfd{sock.get(), POLLIN, 0});
      for (int k : kicks) fds.push_back(pollfd{k, POLLIN, 0});
      // Safety: pollfds over our socket and the device's kick fds, all open.
      if (::poll(fds.data(), fds.size(), -1) < 0) {
        if (errno == EINTR) continue;
        logf(log_, Severity::kWarn, "vhost-user poll: %s", std::strerror(errno));
        end = End::kIoError;
        break;
      }
      device_.serve_kicks();
      if (fds[0].revents == 0) continue;
    }
    if (!serve_one(sock.get(), &end)) break;
  }
  device_.stop_all();
  lock.lock();
  sock_ = -1;
  return shutdown_ ? End::kShutdown : end;
}

void Backend::shutdown() {
  std::lock_guard lock(sock_mu_);
  shutdown_ = true;
  // Safety: wakes a blocked recvmsg() in serve(); the fd stays open (and so cannot
  // be reused) until serve() has returned, which takes this lock first.
  if (sock_ >= 0) ::shutdown(sock_, SHUT_RDWR);
}

}  // namespace pfs::transport::vhost_user
