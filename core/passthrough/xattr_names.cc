#include "core/passthrough/xattr_names.h"

#include <cstring>

namespace pfs::passthrough {
namespace {

constexpr std::string_view kSecurityPrefix = "security.";
constexpr std::string_view kSelinuxName = "security.selinux";

}  // namespace

bool is_reserved_xattr_name(std::string_view guest_name) {
  return guest_name.starts_with(kUserVirtiofsPrefix);
}

void assign_host_xattr_name(std::string& out, std::string_view guest_name, bool rewrite) {
  if (!rewrite || !guest_name.starts_with(kSecurityPrefix) || guest_name == kSelinuxName) {
    out.assign(guest_name);
    return;
  }
  out.reserve(kUserVirtiofsPrefix.size() + guest_name.size());
  out.assign(kUserVirtiofsPrefix);
  out.append(guest_name);
}

std::string host_xattr_name(std::string_view guest_name, bool rewrite) {
  std::string out;
  assign_host_xattr_name(out, guest_name, rewrite);
  return out;
}

size_t strip_xattr_prefix(std::span<uint8_t> buf) {
  const size_t prefix_len = kUserVirtiofsPrefix.size();
  size_t read = 0;
  size_t write = 0;
  while (read < buf.size()) {
    // One name: up to and including its NUL, or to the end of the buffer.
    const auto rest = buf.subspan(read);
    // memchr, not std::find: the same answer, without a traced comparison per byte
    // under the fuzzer's instrumentation.
    const auto* nul = static_cast<const uint8_t*>(std::memchr(rest.data(), 0, rest.size()));
    const size_t len = nul == nullptr ? rest.size() : static_cast<size_t>(nul - rest.data()) + 1;
    size_t skip = 0;
    if (len >= prefix_len &&
        std::memcmp(rest.data(), kUserVirtiofsPrefix.data(), prefix_len) == 0) {
      skip = prefix_len;
    }
    // write <= read always, so the ranges may overlap only with write before read.
    std::memmove(buf.data() + write, buf.data() + read + skip, len - skip);
    write += len - skip;
    read += len;
  }
  return write;
}

}  // namespace pfs::passthrough
