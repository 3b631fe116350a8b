// A buffer allocated once per process and reused for every input, handed out in
// pieces that ASan watches as if each were its own exact-size allocation: all but
// the live pieces is poisoned, so a byte before or past a piece is reported
// (use-after-poison), and so is a piece touched after the next reset().
//
// Why: allocating request and reply space per input was most of the cost of the
// cheap targets under ASan (blocks over 64 KiB come from its large allocator, which
// maps, fills and unmaps them every time; small ones churn the quarantine). See
// fuzz/README.md, "Speed".
//
// Without ASan (the replay build) the poisoning compiles to nothing.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>

namespace pfs::fuzz {

class PoisonedArena {
 public:
  // Poisoned bytes before every piece and after the last one: ASan's largest heap
  // redzone (max_redzone's default), so an overflow that would have reached past a
  // malloc'ed piece's redzone is no likelier to land unseen in a neighbour here.
  static constexpr size_t kGap = 2048;
  // Pieces start at this alignment (ASan tracks poison in 8-byte granules: a
  // piece that starts on one is exact at both ends).
  static constexpr size_t kAlign = 16;

  PoisonedArena() = default;
  PoisonedArena(const PoisonedArena&) = delete;
  PoisonedArena& operator=(const PoisonedArena&) = delete;

  // Poisons every piece handed out so far, and makes room for up to `pieces`
  // pieces of `bytes` bytes in total (growing the buffer only when it is short).
  void reset(size_t bytes, size_t pieces);

  // The next piece of `len` bytes, unpoisoned, contents unspecified (whatever an
  // earlier input left; never zeroed). Aborts when reset() did not make room.
  uint8_t* take(size_t len);

  // True when ASan watches the pieces (the build has AddressSanitizer).
  static bool poisoning();

 private:
  // The live pieces, re-poisoned one by one at reset() (the gaps between them
  // never lose their poison: poisoning all of [0, used_) redid them every time).
  struct Piece {
    size_t start;
    size_t len;
  };
  static constexpr size_t kMaxTracked = 16;

  std::unique_ptr<uint8_t[]> buf_;
  std::array<Piece, kMaxTracked> pieces_{};
  size_t npieces_ = 0;
  bool overflowed_ = false;  // more pieces than tracked: reset() poisons [0, used_)
  size_t capacity_ = 0;
  size_t used_ = 0;    // end of the last piece handed out
  size_t budget_ = 0;  // bytes reset() made room for, including gaps
};

}  // namespace pfs::fuzz
