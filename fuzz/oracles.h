// Oracles of the fuzz targets: checks beyond the sanitizers. Each failure prints a
// clear message and aborts, so the fuzzer saves the input as a crash and the
// replay test fails with the message.
#pragma once

#include <linux/fuse.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <string>

#include "core/passthrough/inode_table.h"

namespace pfs::fuzz {

// Prints "ORACLE FAILURE: <message>" to stderr and aborts. printf-style.
[[noreturn]] void oracle_fail(const char* fmt, ...) __attribute__((format(printf, 1, 2)));

// Called by oracle_fail before it aborts (e.g. to put the cwd back, so that
// libFuzzer writes its crash file where it was asked to). One hook per process.
void set_oracle_fail_hook(void (*hook)());

// Calls `fn` with each name in the directory `dir_fd` (read from its current
// offset: a freshly opened fd), "." and ".." left out. `path` is for messages.
void for_each_name(int dir_fd, const char* path, const std::function<void(const char*)>& fn);

// Entries of /proc/self/fd (the count includes the one used to list it, the same
// at every call).
size_t count_open_fds();

// The process's fd count must come back to what it was when the baseline was taken.
class FdBaseline {
 public:
  void take() {
    baseline_ = count_open_fds();
    taken_ = true;
  }
  bool taken() const { return taken_; }
  // Aborts when the count differs from the baseline.
  void check(const char* when) const;

 private:
  size_t baseline_ = 0;
  bool taken_ = false;
};

// The request as the server saw it, for the reply checks.
struct RequestInfo {
  bool has_header = false;  // at least sizeof(fuse_in_header) bytes
  uint32_t opcode = 0;
  uint64_t unique = 0;
};
RequestInfo request_info(std::span<const uint8_t> request);

// Checks one reply: `returned` is what Server::handle returned, `written` what the
// Writer holds, `reply` the bytes at the start of the reply space.
//  - returned == written;
//  - no reply for FORGET, BATCH_FORGET and INTERRUPT;
//  - a reply holds a full fuse_out_header whose len equals `returned`, whose error
//    is 0 or a negative errno in (-4096, 0), whose unique is the request's; an
//    error reply is exactly a header.
void check_reply(const RequestInfo& req, size_t returned, size_t written,
                 std::span<const uint8_t> reply);

// Aborts when the inode table is inconsistent (InodeTable::check_invariants)
// after the request with `opcode` (0: at the end of an input).
void check_inode_table(const passthrough::InodeTable& table, uint32_t opcode);

}  // namespace pfs::fuzz
