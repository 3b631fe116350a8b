// Tests of PoisonedArena (poisoned_arena.h): the layout of its pieces in every
// build, and in an ASan build that a byte before or past a piece, or a piece
// used after reset(), is caught (planted violations must be reported).
#include "fuzz/poisoned_arena.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <vector>

#if defined(__SANITIZE_ADDRESS__)
#define PFS_ARENA_TEST_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define PFS_ARENA_TEST_ASAN 1
#endif
#endif

#if defined(PFS_ARENA_TEST_ASAN)
#include <sanitizer/asan_interface.h>
#endif

namespace pfs::fuzz {
namespace {

TEST(PoisonedArena, PiecesAreAlignedAndSeparatedByGaps) {
  PoisonedArena arena;
  const std::vector<size_t> lens = {1, 0, 7, 4096, 13};
  arena.reset(4096 + 21, lens.size());
  std::vector<uint8_t*> pieces;
  for (size_t len : lens) {
    uint8_t* p = arena.take(len);
    EXPECT_EQ(reinterpret_cast<uintptr_t>(p) % PoisonedArena::kAlign, 0u);
    std::memset(p, static_cast<int>(len), len);
    pieces.push_back(p);
  }
  for (size_t i = 1; i < pieces.size(); ++i) {
    EXPECT_GE(pieces[i], pieces[i - 1] + lens[i - 1] + PoisonedArena::kGap) << "piece " << i;
  }
  for (size_t i = 0; i < pieces.size(); ++i) {
    for (size_t j = 0; j < lens[i]; ++j) ASSERT_EQ(pieces[i][j], static_cast<uint8_t>(lens[i]));
  }
}

TEST(PoisonedArena, GrowsWhenAskedForMoreAndReusesOtherwise) {
  PoisonedArena arena;
  arena.reset(100, 1);
  uint8_t* small = arena.take(100);
  arena.reset(50, 1);
  EXPECT_EQ(arena.take(50), small);  // same buffer, same first place
  arena.reset(1 << 20, 4);
  uint8_t* big = arena.take(1 << 20);
  std::memset(big, 0xab, 1 << 20);
  EXPECT_EQ(big[(1 << 20) - 1], 0xab);
}

TEST(PoisonedArenaDeathTest, APieceBeyondWhatResetPromisedAborts) {
  PoisonedArena arena;
  arena.reset(64, 1);
  // The room includes one alignment's slack per piece, not more.
  EXPECT_DEATH(arena.take(64 + PoisonedArena::kAlign + 1),
               "exceeds what reset\\(\\) made room for");
  // Nor more pieces than promised.
  EXPECT_DEATH(
      {
        arena.take(64);
        arena.take(1);
      },
      "exceeds what reset\\(\\) made room for");
}

#if defined(PFS_ARENA_TEST_ASAN)
// Only an ASan build can see poison; the asan preset runs these.
uint8_t read_byte(const uint8_t* p) { return *static_cast<const volatile uint8_t*>(p); }

TEST(PoisonedArenaAsan, ThePoisonHugsEveryPiece) {
  ASSERT_TRUE(PoisonedArena::poisoning());
  PoisonedArena arena;
  arena.reset(3 + 4096, 2);
  for (size_t len : {size_t{3}, size_t{4096}}) {
    uint8_t* p = arena.take(len);
    EXPECT_EQ(__asan_region_is_poisoned(p, len), nullptr) << len;
    EXPECT_TRUE(__asan_address_is_poisoned(p - 1)) << len;
    EXPECT_TRUE(__asan_address_is_poisoned(p + len)) << len;
    EXPECT_TRUE(__asan_address_is_poisoned(p - PoisonedArena::kGap)) << len;
  }
}

// reset() re-poisons the pieces one by one (the gaps keep their poison); past the
// pieces it tracks, the whole used span. Either way no byte of any piece survives.
TEST(PoisonedArenaAsan, ResetPoisonsEveryPieceTrackedOrNot) {
  for (size_t count : {size_t{3}, size_t{40}}) {
    PoisonedArena arena;
    arena.reset(count * 24, count);
    std::vector<uint8_t*> pieces;
    for (size_t i = 0; i < count; ++i) pieces.push_back(arena.take(24));
    for (uint8_t* p : pieces) ASSERT_EQ(__asan_region_is_poisoned(p, 24), nullptr);
    arena.reset(8, 1);
    for (size_t i = 0; i < count; ++i) {
      for (size_t j = 0; j < 24; ++j) {
        ASSERT_TRUE(__asan_address_is_poisoned(pieces[i] + j)) << count << " " << i << " " << j;
      }
    }
  }
}

TEST(PoisonedArenaAsanDeathTest, AByteBeyondAPieceIsReported) {
  PoisonedArena arena;
  arena.reset(13, 1);
  uint8_t* p = arena.take(13);  // ends inside an 8-byte granule
  EXPECT_DEATH(read_byte(p + 13), "use-after-poison");
  EXPECT_DEATH(p[13] = 1, "use-after-poison");
  EXPECT_DEATH(read_byte(p - 1), "use-after-poison");
  EXPECT_EQ(read_byte(p + 12), read_byte(p + 12));  // the last byte is the piece's
}

TEST(PoisonedArenaAsanDeathTest, APieceUsedAfterResetIsReported) {
  PoisonedArena arena;
  arena.reset(64, 1);
  uint8_t* p = arena.take(64);
  arena.reset(64, 1);
  EXPECT_DEATH(read_byte(p), "use-after-poison");
}
#else
TEST(PoisonedArena, ReportsNoPoisoningWithoutAsan) { EXPECT_FALSE(PoisonedArena::poisoning()); }
#endif

}  // namespace
}  // namespace pfs::fuzz
