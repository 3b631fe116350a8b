// Makes ids handed out by earlier replies reachable by later requests of a fuzz
// input, so that the fuzzer gets past LOOKUP without guessing inode numbers.
//
// The map remembers, in order of first appearance, every node id the replies
// handed out (entry_out.nodeid of LOOKUP, MKNOD, MKDIR, SYMLINK, LINK, CREATE,
// TMPFILE and each READDIRPLUS record) after the root, and every handle (fh of
// OPEN, OPENDIR, CREATE, TMPFILE). In each request, a node id or handle field
// holding a small value v (1 <= v < kSmall) becomes the v-th id of its list (node
// id 1 is the root, node id 2 the first one handed out, handle 1 the first handle).
// Other values, 0 included, and small values past the end of a list pass
// unchanged, so invalid ids stay reachable too.
//
// Our inode and handle numbers are allocated sequentially from 2 and 1, so a
// session recorded from pfsd (whose ids are those numbers) replays unchanged.
//
// Several maps (one per request stream of fuse_race) may share a SharedIdPool:
// every map also adds what it learns to the pool, and a value v with
// kSmall <= v < 2 * kSmall becomes the (v - kSmall + 1)-th id of the pool's list
// (64 is the root, 65 the first node id any stream was handed). Without a pool
// those values pass unchanged, as before.
#pragma once

#include <cstddef>
#include <cstdint>
#include <mutex>
#include <span>
#include <vector>

namespace pfs::fuzz {

// The ids learned by all the maps that share it, in order of first appearance
// (thread-safe; the order depends on the threads' timing).
class SharedIdPool {
 public:
  SharedIdPool() { nodes_.push_back(1); }
  void add_node(uint64_t id);
  void add_handle(uint64_t id);
  // The i-th node id / handle (1-based), or 0 when there is none yet.
  uint64_t node(uint64_t i) const;
  uint64_t handle(uint64_t i) const;
  // A copy of the node ids (the root first).
  std::vector<uint64_t> nodes() const;
  size_t node_count() const;

 private:
  mutable std::mutex mu_;
  std::vector<uint64_t> nodes_;
  std::vector<uint64_t> handles_;
};

class IdMap {
 public:
  static constexpr uint64_t kSmall = 64;

  IdMap() { nodes_.push_back(1); }
  explicit IdMap(SharedIdPool* pool) : IdMap() { pool_ = pool; }

  // Rewrites the node id and handle fields of one request in place: the header's
  // nodeid, and the body fields that name a node or a handle for its opcode. A
  // request too short for a field leaves it alone.
  void remap_request(std::span<uint8_t> request) const;

  // Learns the ids a successful reply hands out. `request_opcode` is the opcode of
  // the request it answers; `reply` is the whole reply (header included).
  void learn(uint32_t request_opcode, std::span<const uint8_t> reply);

  size_t nodes() const { return nodes_.size(); }
  size_t handles() const { return handles_.size(); }

  // Appends `id` to `list` unless it is 0, already there, or the list is full.
  static void add(std::vector<uint64_t>& list, uint64_t id);

 private:
  enum class Kind { kNode, kHandle };
  void add_node(uint64_t id);
  void add_handle(uint64_t id);
  uint64_t map(Kind kind, uint64_t v) const;
  void remap_field(std::span<uint8_t> request, size_t offset, Kind kind) const;

  std::vector<uint64_t> nodes_;
  std::vector<uint64_t> handles_;
  SharedIdPool* pool_ = nullptr;
};

}  // namespace pfs::fuzz
