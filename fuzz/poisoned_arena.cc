#include "fuzz/poisoned_arena.h"

#include <cstdio>
#include <cstdlib>

#if defined(__SANITIZE_ADDRESS__)
#define PFS_FUZZ_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define PFS_FUZZ_ASAN 1
#endif
#endif

#if defined(PFS_FUZZ_ASAN)
#include <sanitizer/asan_interface.h>
#endif

namespace pfs::fuzz {
namespace {

#if defined(PFS_FUZZ_ASAN)
void poison(uint8_t* p, size_t n) { ASAN_POISON_MEMORY_REGION(p, n); }
void unpoison(uint8_t* p, size_t n) { ASAN_UNPOISON_MEMORY_REGION(p, n); }
#else
void poison(uint8_t*, size_t) {}
void unpoison(uint8_t*, size_t) {}
#endif

size_t align_up(size_t n) { return (n + PoisonedArena::kAlign - 1) & ~(PoisonedArena::kAlign - 1); }

}  // namespace

bool PoisonedArena::poisoning() {
#if defined(PFS_FUZZ_ASAN)
  return true;
#else
  return false;
#endif
}

void PoisonedArena::reset(size_t bytes, size_t pieces) {
  if (overflowed_) {
    poison(buf_.get(), used_);
  } else {
    for (size_t i = 0; i < npieces_; ++i) poison(buf_.get() + pieces_[i].start, pieces_[i].len);
  }
  npieces_ = 0;
  overflowed_ = false;
  used_ = 0;
  budget_ = bytes + pieces * (kGap + kAlign) + kGap;
  if (budget_ <= capacity_) return;
  // Grow (rare: the first input, or a replayed file larger than any before).
  if (buf_ != nullptr) unpoison(buf_.get(), capacity_);  // hand it back clean
  buf_ = std::make_unique_for_overwrite<uint8_t[]>(budget_);
  capacity_ = budget_;
  poison(buf_.get(), capacity_);
}

uint8_t* PoisonedArena::take(size_t len) {
  const size_t start = align_up(used_ + kGap);
  if (start + len + kGap > budget_) {
    std::fprintf(stderr, "PoisonedArena: a piece of %zu bytes exceeds what reset() made room for\n",
                 len);
    std::abort();
  }
  uint8_t* p = buf_.get() + start;
  unpoison(p, len);
  used_ = start + len;
  if (npieces_ < kMaxTracked) {
    pieces_[npieces_++] = Piece{start, len};
  } else {
    overflowed_ = true;
  }
  return p;
}

}  // namespace pfs::fuzz
