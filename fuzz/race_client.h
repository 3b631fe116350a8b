// One guest thread of fuse_race talking to the shared Server: it runs a request
// into its own reply buffer and applies the reply checks of oracles.h.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "core/fuse/server.h"

namespace pfs::fuzz {

class RaceClient {
 public:
  explicit RaceClient(fuse::Server& server);

  // Runs one request (its ids final) and checks the reply. The reply stays valid
  // until the next call on this thread.
  std::span<const uint8_t> call(std::span<const uint8_t> request);

 private:
  fuse::Server& server_;
};

// The error of a reply (0 for success), or -1 when there is no reply header.
int reply_error(std::span<const uint8_t> reply);

// Appends the names of the entries of a READDIR (or, with `plus`, READDIRPLUS)
// reply payload (the bytes after fuse_out_header), "." and ".." left out.
void readdir_names(std::span<const uint8_t> payload, bool plus, std::vector<std::string>& out);

// A TempDir name: "." followed by six ASCII letters or digits.
bool looks_hidden_temp(std::string_view name);

}  // namespace pfs::fuzz
