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
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace pfs::fuzz {

class IdMap {
 public:
  static constexpr uint64_t kSmall = 64;

  IdMap() { nodes_.push_back(1); }

  // Rewrites the node id and handle fields of one request in place: the header's
  // nodeid, and the body fields that name a node or a handle for its opcode. A
  // request too short for a field leaves it alone.
  void remap_request(std::span<uint8_t> request) const;

  // Learns the ids a successful reply hands out. `request_opcode` is the opcode of
  // the request it answers; `reply` is the whole reply (header included).
  void learn(uint32_t request_opcode, std::span<const uint8_t> reply);

  size_t nodes() const { return nodes_.size(); }
  size_t handles() const { return handles_.size(); }

 private:
  static void add(std::vector<uint64_t>& list, uint64_t id);
  static uint64_t map(const std::vector<uint64_t>& list, uint64_t v);
  void remap_field(std::span<uint8_t> request, size_t offset,
                   const std::vector<uint64_t>& list) const;

  std::vector<uint64_t> nodes_;
  std::vector<uint64_t> handles_;
};

}  // namespace pfs::fuzz
