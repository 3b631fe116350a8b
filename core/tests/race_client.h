// How a racing guest thread sends a request: one Client per thread, each with its
// own reply room. DirectClient runs requests through the Server in-process (a
// memory-transport Session); the vhost-user one (race_vhost_user.h) puts them on
// its own request queue of a fake front-end.
#pragma once

#include <memory>

#include "core/fuse/server.h"
#include "core/transport/memory/reply.h"
#include "core/transport/memory/request_builder.h"
#include "core/transport/memory/session.h"

namespace pfs::testing {

class Client {
 public:
  virtual ~Client() = default;
  // Sends one request and waits for its reply (replied == false when none came).
  virtual transport::memory::Reply call(const transport::memory::Bytes& request) = 0;
};

// Reply room per request: READDIR of the arena is the biggest reply here. A 1 MiB
// buffer per request (the Session's default) makes the TSan build crawl.
inline constexpr size_t kRaceReplyRoom = 65536;

class DirectClient : public Client {
 public:
  explicit DirectClient(fuse::Server& server) : session_(server, kRaceReplyRoom) {}
  transport::memory::Reply call(const transport::memory::Bytes& request) override {
    return session_.run(request);
  }

 private:
  transport::memory::Session session_;
};

}  // namespace pfs::testing
