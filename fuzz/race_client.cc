#include "fuzz/race_client.h"

#include <linux/fuse.h>

#include <cctype>
#include <cstring>

#include "fuzz/guarded_buffer.h"
#include "fuzz/oracles.h"

namespace pfs::fuzz {
namespace {

// Per thread, made once: the Server's reply space is about 1 MiB.
GuardedBuffer& reply_space() {
  thread_local GuardedBuffer space;
  return space;
}

}  // namespace

RaceClient::RaceClient(fuse::Server& server) : server_(server) {}

std::span<const uint8_t> RaceClient::call(std::span<const uint8_t> request) {
  GuardedBuffer& space = reply_space();
  const std::span<uint8_t> buf = space.prepare(server_.reply_buffer_size());
  const RequestInfo info = request_info(request);
  fuse::Reader in(request.data(), request.size());
  fuse::Writer out(buf.data(), buf.size());
  const size_t n = server_.handle(in, out);
  const std::span<const uint8_t> reply = space.seal(n);
  check_reply(info, n, out.written(), reply);
  return reply;
}

int reply_error(std::span<const uint8_t> reply) {
  fuse_out_header oh{};
  if (reply.size() < sizeof(oh)) return -1;
  std::memcpy(&oh, reply.data(), sizeof(oh));
  return oh.error;
}

void readdir_names(std::span<const uint8_t> payload, bool plus, std::vector<std::string>& out) {
  const size_t skip = plus ? sizeof(fuse_entry_out) : 0;
  size_t at = 0;
  while (payload.size() - at >= skip + sizeof(fuse_dirent)) {
    fuse_dirent d{};
    std::memcpy(&d, payload.data() + at + skip, sizeof(d));
    const size_t name_at = at + skip + sizeof(fuse_dirent);
    if (d.namelen > payload.size() - name_at) break;
    const std::string name(reinterpret_cast<const char*>(payload.data() + name_at), d.namelen);
    if (name != "." && name != "..") out.push_back(name);
    const size_t len = skip + FUSE_DIRENT_ALIGN(sizeof(fuse_dirent) + d.namelen);
    if (len > payload.size() - at) break;
    at += len;
  }
}

bool looks_hidden_temp(std::string_view name) {
  if (name.size() != 7 || name[0] != '.') return false;
  for (size_t i = 1; i < name.size(); ++i) {
    if (std::isalnum(static_cast<unsigned char>(name[i])) == 0) return false;
  }
  return true;
}

}  // namespace pfs::fuzz
