// A PassthroughFs over cfg.root_dir behind a Server, driven through the in-memory
// transport, INIT done: what end-to-end tests and properties start from.
#pragma once

#include <memory>
#include <string>

#include "core/fuse/server.h"
#include "core/passthrough/passthrough_fs.h"
#include "core/transport/memory/session.h"

namespace pfs::testing {

struct ServedTree {
  std::unique_ptr<passthrough::PassthroughFs> fs;
  std::unique_ptr<fuse::Server> server;
  std::unique_ptr<transport::memory::Session> session;

  // Empty on success; otherwise what failed.
  std::string open(const passthrough::Config& cfg,
                   uint64_t capable = transport::memory::kLinuxInitFlags) {
    auto made = passthrough::PassthroughFs::create(cfg);
    if (!made.ok()) return "PassthroughFs::create: errno " + std::to_string(made.error());
    fs = std::move(*made);
    server = std::make_unique<fuse::Server>(*fs);
    session = std::make_unique<transport::memory::Session>(*server);
    const auto init = session->init(capable);
    if (!init.ok()) return "INIT: errno " + std::to_string(init.error());
    return "";
  }
};

}  // namespace pfs::testing
