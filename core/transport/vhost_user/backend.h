// The vhost-user back-end protocol (QEMU docs/interop/vhost-user.rst) for one
// front-end connection: feature negotiation, the memory table, vring setup, and
// starting/stopping the device's queues as the rings become ready or are stopped.
//
// Everything the front-end sends is checked. A malformed message (bad size, bad
// index, bad region, bad feature set, an fd missing or extra) closes the
// connection; an unsupported request is refused with REPLY_ACK when the front-end
// asked for a reply, and closes the connection otherwise (it may be waiting for a
// reply we cannot give).
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "core/passthrough/scoped_fd.h"
#include "core/transport/vhost_user/fs_device.h"
#include "core/transport/vhost_user/guest_memory.h"
#include "core/transport/vhost_user/logger.h"
#include "core/transport/vhost_user/message.h"

namespace pfs::transport::vhost_user {

// What the back-end offers.
inline constexpr uint64_t kOfferedFeatures =
    kFeatureVersion1 | kFeatureIndirectDesc | kFeatureEventIdx | kFeatureProtocolFeatures;
inline constexpr uint64_t kOfferedProtocolFeatures =
    kProtocolMq | kProtocolReplyAck | kProtocolConfigureMemSlots;

// The JSON --print-capabilities prints (vhost-user.rst, "Backend program conventions").
inline constexpr const char* kCapabilitiesJson = "{\n  \"type\": \"fs\"\n}";

class Backend {
 public:
  enum class End {
    kDisconnected,  // the front-end closed the connection
    kMalformed,     // we closed it: a malformed or unsupported message
    kIoError,       // a socket error
    kShutdown,      // shutdown() was called
  };

  Backend(FsDevice& device, Logger log);
  ~Backend();
  Backend(const Backend&) = delete;
  Backend& operator=(const Backend&) = delete;

  // Serves `sock` (owned from here) until the connection ends; the queues are
  // stopped on return. A kCallerThread device has its kicks served here as well.
  End serve(ScopedFd sock);
  // Handles one message from `sock`; false when the connection must end (`end`
  // says why). serve() is a loop over it; fuzzers call it directly.
  bool serve_one(int sock, End* end);
  // Wakes a serve() in progress and makes it return kShutdown (any thread).
  void shutdown();

  // For tests and fuzzers.
  uint64_t acked_features() const { return features_; }
  uint64_t acked_protocol_features() const { return protocol_features_; }
  const GuestMemory* memory() const { return mem_.get(); }

 private:
  enum class Outcome { kOk, kFailed, kClose, kReplied };

  struct Vring {
    uint32_t num = 0;  // 0 = not set
    RingAddrs addrs;
    bool addr_set = false;
    uint16_t base = 0;
    ScopedFd kick;
    ScopedFd call;
    ScopedFd err;
    bool started = false;  // a kick fd arrived since the last GET_VRING_BASE
    bool enabled = true;   // see SET_VRING_ENABLE in backend.cc
  };

  Outcome dispatch(int sock, Message& m);
  Outcome set_mem_table(Message& m);
  Outcome add_mem_reg(Message& m);
  Outcome rem_mem_reg(Message& m);
  Outcome set_vring_fd(Message& m, ScopedFd Vring::*which);
  Outcome get_vring_base(int sock, Message& m);
  Outcome reset();
  // Stops queue i if running, keeping its next avail index.
  void pause(unsigned i);
  // Starts queue i when it is ready (started, enabled, addressed, memory present).
  void resume(unsigned i);
  // Memory changed: restart every running queue against the new table.
  void replace_memory(std::shared_ptr<const GuestMemory> mem);
  Outcome close_with(const char* what);

  FsDevice& device_;
  Logger log_;
  uint64_t features_ = 0;
  uint64_t protocol_features_ = 0;
  std::shared_ptr<const GuestMemory> mem_;
  std::vector<Vring> vrings_;

  std::mutex sock_mu_;
  int sock_ = -1;  // the connection serve() is on, for shutdown()
  bool shutdown_ = false;
};

}  // namespace pfs::transport::vhost_user
