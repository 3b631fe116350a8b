// The reply space of the FUSE stream targets: Server::reply_buffer_size() bytes
// (about 1 MiB), allocated once per process or thread and never cleared (the
// Server writes every byte of a reply; clearing a MiB per request cost more than
// most requests).
//
// Under ASan the kGuard bytes past the live reply are poisoned until the next
// request, so an oracle or id map that reads past the reply's length fails like
// a heap overflow. Only kGuard bytes: poisoning the whole tail would write 128
// KiB of shadow per request.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define PFS_FUZZ_ASAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define PFS_FUZZ_ASAN 1
#endif
#ifdef PFS_FUZZ_ASAN
#include <sanitizer/asan_interface.h>
#endif

namespace pfs::fuzz {

class ReplySpace {
 public:
  static constexpr size_t kGuard = 64 << 10;

  ReplySpace() = default;
  ~ReplySpace() { lift_guard(); }
  ReplySpace(const ReplySpace&) = delete;
  ReplySpace& operator=(const ReplySpace&) = delete;

  // The whole space, `size` bytes, writable (the last reply's guard lifted).
  std::span<uint8_t> prepare(size_t size) {
    lift_guard();
    if (size_ != size) {
      buf_ = std::make_unique_for_overwrite<uint8_t[]>(size);
      size_ = size;
    }
    return {buf_.get(), size_};
  }

  // The first `live` bytes are the reply; the guard after them goes up.
  std::span<const uint8_t> seal(size_t live) {
    live = std::min(live, size_);
    guard_at_ = live;
    guard_len_ = std::min(kGuard, size_ - live);
#ifdef PFS_FUZZ_ASAN
    ASAN_POISON_MEMORY_REGION(buf_.get() + guard_at_, guard_len_);
#endif
    return {buf_.get(), live};
  }

 private:
  void lift_guard() {
#ifdef PFS_FUZZ_ASAN
    if (guard_len_ != 0) ASAN_UNPOISON_MEMORY_REGION(buf_.get() + guard_at_, guard_len_);
#endif
    guard_len_ = 0;
  }

  std::unique_ptr<uint8_t[]> buf_;
  size_t size_ = 0;
  size_t guard_at_ = 0;
  size_t guard_len_ = 0;
};

}  // namespace pfs::fuzz
