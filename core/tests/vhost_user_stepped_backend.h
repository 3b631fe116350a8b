// A vhost-user Backend driven one message at a time from the test's own thread:
// the test sends through `fe`, step() has the back-end handle exactly that message
// (Backend::serve_one), so every outcome (reply, ack, nothing, the connection
// ended) is observed right after the message that caused it, with no serve thread.
#pragma once

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>

#include <memory>
#include <optional>
#include <vector>

#include "core/passthrough/passthrough_fs.h"
#include "core/tests/scratch_dir.h"
#include "core/tests/served_tree.h"
#include "core/tests/vhost_user_frontend.h"
#include "core/transport/vhost_user/backend.h"
#include "core/transport/vhost_user/fs_device.h"

namespace pfs::testing {

class SteppedBackend {
 public:
  // Queues the device has (hiprio + one request queue).
  static constexpr unsigned kQueues = 2;

  SteppedBackend() {
    passthrough::Config cfg;
    cfg.root_dir = dir_.path();
    open_error_ = tree_.open(cfg);
    device_ = std::make_unique<vu::FsDevice>(*tree_.server, vu::Logger{}, kQueues);
    backend_ = std::make_unique<vu::Backend>(*device_, vu::Logger{});
    int sv[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0) {
      fe_sock_.reset(sv[0]);
      be_sock_.reset(sv[1]);
    }
    fe = std::make_unique<FakeFrontend>(fe_sock_.get());
    eventfd_.reset(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  }

  // Empty when the server, socket pair, guest memory and eventfd are all there.
  std::string ready() const {
    if (!open_error_.empty()) return open_error_;
    if (!fe_sock_.valid() || !mem.ok() || !eventfd_.valid()) return "socketpair/memfd/eventfd";
    return "";
  }

  // Handles one message; false when the back-end ends the connection (end() says why).
  bool step() {
    end_ = vu::Backend::End::kShutdown;
    return backend_->serve_one(be_sock_.get(), &end_);
  }
  vu::Backend::End end() const { return end_; }

  // Whether the back-end has sent something the test has not read.
  bool reply_pending() const {
    pollfd p{fe_sock_.get(), POLLIN, 0};
    return ::poll(&p, 1, 0) > 0;
  }

  // The front-end's usual start, one step per message: REPLY_ACK (and MQ), every
  // offered feature, and `mem` as the memory table. False if a step failed.
  bool negotiate() {
    if (!fe->send_u64(vu::Request::kSetProtocolFeatures, vu::kProtocolMq | vu::kProtocolReplyAck) ||
        !step()) {
      return false;
    }
    if (!fe->send_u64(vu::Request::kSetFeatures, vu::kOfferedFeatures) || !step()) return false;
    struct {
      uint32_t n, pad;
      vu::MemRegion r;
    } table{1, 0, mem.region()};
    const int fd = mem.fd();
    if (!fe->send(vu::Request::kSetMemTable, &table, sizeof(table), {&fd, 1}, true) || !step()) {
      return false;
    }
    auto ack = fe->reply_u64();
    return ack && *ack == 0;
  }

  // Asks GET_FEATURES: the back-end still serves this connection.
  bool still_serves() {
    if (!fe->send(vu::Request::kGetFeatures, nullptr, 0) || !step()) return false;
    auto f = fe->reply_u64();
    return f && *f == vu::kOfferedFeatures;
  }

  vu::Backend& backend() { return *backend_; }
  vu::FsDevice& device() { return *device_; }
  int eventfd() const { return eventfd_.get(); }

  FakeGuestMemory mem;
  std::unique_ptr<FakeFrontend> fe;

 private:
  ScratchDir dir_{"pfs-vu-msg"};
  ServedTree tree_;
  std::string open_error_;
  std::unique_ptr<vu::FsDevice> device_;
  std::unique_ptr<vu::Backend> backend_;
  ScopedFd fe_sock_, be_sock_, eventfd_;
  vu::Backend::End end_ = vu::Backend::End::kShutdown;
};

}  // namespace pfs::testing
