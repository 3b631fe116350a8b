// What the request streams of fuse_race are doing, for the adversary to pace
// itself by (race_adversary.h). A hidden name, or any new name, appears only while
// a stream is inside a request that makes or moves names (MKDIR's TempDir, CREATE,
// MKNOD, SYMLINK, LINK, RENAME, RENAME2, TMPFILE); between such requests a sweep of
// the directories can find nothing new to race. So the adversary sweeps without
// pause while one of them is in flight and otherwise parks on a futex
// (std::atomic::wait) until a stream starts one, reports READDIR sightings, or
// all streams are done, instead of listing directories in a loop the whole time.
#pragma once

#include <atomic>
#include <cstdint>

namespace pfs::fuzz {

class StreamActivity {
 public:
  // Whether a request with this opcode can make or move a name.
  static bool makes_names(uint32_t opcode);

  // Around each stream request: begin() returns whether it counted the request
  // (then end() must follow). `node` is the request's fuse_in_header.nodeid (the
  // directory MKDIR, CREATE, MKNOD and SYMLINK make their name in).
  bool begin(uint32_t opcode, uint64_t node = 0);
  void end();
  // The streams saw names the adversary should look at.
  void poke();
  // All streams are done.
  void finish();

  bool done() const { return done_.load(std::memory_order_acquire); }
  bool making() const { return making_.load(std::memory_order_acquire) > 0; }
  uint32_t epoch() const { return epoch_.load(std::memory_order_acquire); }
  // The node id of the latest name-making request (0 before the first).
  uint64_t focus() const { return focus_.load(std::memory_order_acquire); }
  // Returns once epoch() differs from `seen`, a name-making request is in flight,
  // or done().
  void wait(uint32_t seen) const;

 private:
  void bump();

  std::atomic<uint32_t> epoch_{0};
  std::atomic<int> making_{0};
  std::atomic<uint64_t> focus_{0};
  std::atomic<bool> done_{false};
};

}  // namespace pfs::fuzz
