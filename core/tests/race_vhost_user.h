// A PassthroughFs served over vhost-user to the fake front-end
// (vhost_user_frontend.h) with several request queues, each driven by its own
// guest thread through a QueueClient: as a multi-queue virtio-fs guest does.
#pragma once

#include <sys/socket.h>

#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "core/fuse/server.h"
#include "core/passthrough/passthrough_fs.h"
#include "core/tests/race_client.h"
#include "core/tests/vhost_user_frontend.h"
#include "core/transport/vhost_user/backend.h"
#include "core/transport/vhost_user/fs_device.h"

namespace pfs::testing {

// One request queue, used by one thread at a time: a request slot and a reply slot
// of its own in guest memory, one chain in flight.
class QueueClient : public Client {
 public:
  static constexpr uint32_t kRequestRoom = 8192;

  QueueClient(FakeGuestMemory& mem, FakeRing& ring)
      : mem_(mem),
        ring_(ring),
        request_(mem.alloc(kRequestRoom, 4096)),
        reply_(mem.alloc(kRaceReplyRoom, 4096)) {}

  transport::memory::Reply call(const transport::memory::Bytes& request) override {
    transport::memory::Reply rep;
    if (request.size() > kRequestRoom) return rep;
    std::memcpy(mem_.at(request_), request.data(), request.size());
    const Buf bufs[] = {{request_, static_cast<uint32_t>(request.size()), false},
                        {reply_, static_cast<uint32_t>(kRaceReplyRoom), true}};
    ring_.publish(ring_.build(bufs));
    auto used = ring_.wait_used();
    if (!used || used->second < sizeof(fuse_out_header)) return rep;
    const uint32_t len = std::min<uint32_t>(used->second, kRaceReplyRoom);
    rep.replied = true;
    rep.size = len;
    std::memcpy(&rep.header, mem_.at(reply_), sizeof(rep.header));
    rep.payload.assign(mem_.at(reply_) + sizeof(fuse_out_header), mem_.at(reply_) + len);
    return rep;
  }

 private:
  FakeGuestMemory& mem_;
  FakeRing& ring_;
  uint64_t request_, reply_;
};

class VhostUserBench {
 public:
  // `request_queues` queues after the hiprio one.
  VhostUserBench(passthrough::PassthroughFs& fs, unsigned request_queues)
      : server_(fs), mem_(32u << 20) {
    vu::Logger quiet = [](vu::Severity, std::string_view) {};
    device_ = std::make_unique<vu::FsDevice>(server_, quiet);
    backend_ = std::make_unique<vu::Backend>(*device_, quiet);
    int sv[2];
    if (!mem_.ok() || ::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) return;
    fe_sock_.reset(sv[0]);
    ScopedFd be(sv[1]);
    serving_ = std::thread([this, s = std::move(be)]() mutable { backend_->serve(std::move(s)); });
    fe_ = std::make_unique<FakeFrontend>(fe_sock_.get());
    for (unsigned q = 0; q <= request_queues; ++q) {
      rings_.push_back(std::make_unique<FakeRing>(mem_, 64));
    }
    why_ = negotiate();
    for (unsigned q = 1; why_.empty() && q <= request_queues; ++q) {
      clients_.push_back(std::make_unique<QueueClient>(mem_, *rings_[q]));
    }
  }
  ~VhostUserBench() {
    fe_sock_.reset();  // the back-end sees EOF, stops the queues and returns
    if (serving_.joinable()) serving_.join();
  }
  VhostUserBench(const VhostUserBench&) = delete;
  VhostUserBench& operator=(const VhostUserBench&) = delete;

  // Empty when every queue is up; otherwise what failed.
  const std::string& error() const { return why_; }
  // Request queue `i` (0-based, queue i + 1 on the device).
  Client& client(unsigned i) { return *clients_.at(i); }

 private:
  std::string negotiate() {
    std::vector<FakeRing*> rings;
    for (const auto& r : rings_) rings.push_back(r.get());
    return negotiate_frontend(*fe_, mem_, rings);
  }

  fuse::Server server_;
  FakeGuestMemory mem_;
  std::unique_ptr<vu::FsDevice> device_;
  std::unique_ptr<vu::Backend> backend_;
  ScopedFd fe_sock_;
  std::unique_ptr<FakeFrontend> fe_;
  std::thread serving_;
  std::vector<std::unique_ptr<FakeRing>> rings_;
  std::vector<std::unique_ptr<QueueClient>> clients_;
  std::string why_;
};

}  // namespace pfs::testing
