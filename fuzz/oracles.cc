#include "fuzz/oracles.h"

#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdarg>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string_view>

namespace pfs::fuzz {
namespace {

void (*g_fail_hook)() = nullptr;

const char* opcode_name(uint32_t op) {
  switch (op) {
    case FUSE_FORGET:
      return "FORGET";
    case FUSE_BATCH_FORGET:
      return "BATCH_FORGET";
    case FUSE_INTERRUPT:
      return "INTERRUPT";
    default:
      return "request";
  }
}

}  // namespace

void set_oracle_fail_hook(void (*hook)()) { g_fail_hook = hook; }

void oracle_fail(const char* fmt, ...) {
  if (g_fail_hook != nullptr) g_fail_hook();
  std::fputs("ORACLE FAILURE: ", stderr);
  va_list ap;
  va_start(ap, fmt);
  std::vfprintf(stderr, fmt, ap);
  va_end(ap);
  std::fputc('\n', stderr);
  std::fflush(stderr);
  std::abort();
}

void for_each_name(int dir_fd, const char* path, const std::function<void(const char*)>& fn) {
  // getdents64 into a stack buffer: opendir() mallocs 32 KiB per call, which
  // ASan fills and maps, several times per input.
  alignas(dirent64) char buf[8192];
  for (;;) {
    const ssize_t got = ::getdents64(dir_fd, buf, sizeof(buf));
    if (got < 0) oracle_fail("cannot list %s: %s", path, std::strerror(errno));
    if (got == 0) return;
    for (ssize_t at = 0; at < got;) {
      const auto* e = reinterpret_cast<const dirent64*>(buf + at);
      const std::string_view name = e->d_name;
      if (name != "." && name != "..") fn(e->d_name);
      at += e->d_reclen;
    }
  }
}

size_t count_open_fds() {
  const int fd = ::open("/proc/self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) oracle_fail("cannot open /proc/self/fd: %s", std::strerror(errno));
  size_t n = 0;
  for_each_name(fd, "/proc/self/fd", [&n](const char*) { ++n; });
  ::close(fd);
  return n;
}

void FdBaseline::check(const char* when) const {
  const size_t now = count_open_fds();
  if (now != baseline_) {
    oracle_fail("fd count %zu %s, baseline %zu: %s", now, when, baseline_,
                now > baseline_ ? "an fd leaked" : "an fd of the process was closed");
  }
}

RequestInfo request_info(std::span<const uint8_t> request) {
  RequestInfo info;
  if (request.size() < sizeof(fuse_in_header)) return info;
  fuse_in_header h{};
  std::memcpy(&h, request.data(), sizeof(h));
  info.has_header = true;
  info.opcode = h.opcode;
  info.unique = h.unique;
  return info;
}

void check_reply(const RequestInfo& req, size_t returned, size_t written,
                 std::span<const uint8_t> reply) {
  if (returned != written) {
    oracle_fail("opcode %u: handle() returned %zu but the writer holds %zu bytes", req.opcode,
                returned, written);
  }
  if (returned == 0) return;
  if (req.has_header && (req.opcode == FUSE_FORGET || req.opcode == FUSE_BATCH_FORGET ||
                         req.opcode == FUSE_INTERRUPT)) {
    oracle_fail("%s got a reply of %zu bytes", opcode_name(req.opcode), returned);
  }
  if (returned < sizeof(fuse_out_header) || reply.size() < returned) {
    oracle_fail("opcode %u: reply of %zu bytes, shorter than fuse_out_header", req.opcode,
                returned);
  }
  fuse_out_header oh{};
  std::memcpy(&oh, reply.data(), sizeof(oh));
  if (oh.len != returned) {
    oracle_fail("opcode %u: out header len %u but %zu bytes returned", req.opcode, oh.len,
                returned);
  }
  if (oh.error > 0 || oh.error <= -4096) {
    oracle_fail("opcode %u: error %d is not 0 or a negative errno", req.opcode, oh.error);
  }
  if (oh.error != 0 && returned != sizeof(fuse_out_header)) {
    oracle_fail("opcode %u: error reply (%d) carries %zu payload bytes", req.opcode, oh.error,
                returned - sizeof(fuse_out_header));
  }
  if (req.has_header && oh.unique != req.unique) {
    oracle_fail("opcode %u: reply unique %llu, request unique %llu", req.opcode,
                static_cast<unsigned long long>(oh.unique),
                static_cast<unsigned long long>(req.unique));
  }
}

void check_inode_table(const passthrough::InodeTable& table, uint32_t opcode) {
  if (const std::string problem = table.check_invariants(); !problem.empty()) {
    oracle_fail("inode table inconsistent after opcode %u: %s", opcode, problem.c_str());
  }
}

}  // namespace pfs::fuzz
