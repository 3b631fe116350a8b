// A buffer the FUSE stream targets reuse for every request or reply: allocated
// once per process or thread, grown when a larger one is asked for, never
// cleared. The reply space is Server::reply_buffer_size() bytes (about 1 MiB):
// allocating or clearing it per request cost more than most requests, and ASan
// maps every fresh allocation page by page.
//
// Under ASan the kGuard bytes past the live part are poisoned until the next
// prepare(), so a read past a request's or a reply's length fails as it would
// on an exact-size heap copy. Only kGuard bytes: poisoning the whole tail of
// the reply space would write 128 KiB of shadow per request.
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

class GuardedBuffer {
 public:
  static constexpr size_t kGuard = 64 << 10;

  GuardedBuffer() = default;
  ~GuardedBuffer() { lift_guard(); }
  GuardedBuffer(const GuardedBuffer&) = delete;
  GuardedBuffer& operator=(const GuardedBuffer&) = delete;

  // `size` writable bytes (the last guard lifted; contents left from before).
  std::span<uint8_t> prepare(size_t size) {
    lift_guard();
    if (capacity_ < size || !buf_) {
      capacity_ = std::max<size_t>(size, 1);  // never null, even for an empty request
      buf_ = std::make_unique_for_overwrite<uint8_t[]>(capacity_);
    }
    size_ = size;
    return {buf_.get(), size_};
  }

  // The first `live` bytes are the request or reply; the guard after them goes up.
  std::span<uint8_t> seal(size_t live) {
    live = std::min(live, size_);
    guard_at_ = live;
    guard_len_ = std::min(kGuard, capacity_ - live);
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
  size_t capacity_ = 0;
  size_t size_ = 0;
  size_t guard_at_ = 0;
  size_t guard_len_ = 0;
};

}  // namespace pfs::fuzz
