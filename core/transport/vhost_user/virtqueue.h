// A split virtqueue (virtio 1.x, 2.7) seen from the device side: the descriptor
// table, the available ring (driver -> device) and the used ring (device ->
// driver), all in guest memory, with indirect tables (VIRTIO_F_INDIRECT_DESC) and
// notification suppression by event index (VIRTIO_RING_F_EVENT_IDX).
//
// The guest writes this memory concurrently and may be hostile: every descriptor is
// copied out once before it is looked at, every index is bounded, every address is
// translated through GuestMemory with its length, and a malformed chain is reported
// to the caller, never trusted. One thread uses a Virtqueue at a time.
#pragma once

#include <sys/uio.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/transport/vhost_user/guest_memory.h"

namespace pfs::transport::vhost_user {

inline constexpr uint16_t kDescFlagNext = 1;
inline constexpr uint16_t kDescFlagWrite = 2;
inline constexpr uint16_t kDescFlagIndirect = 4;
inline constexpr uint16_t kAvailFlagNoInterrupt = 1;
inline constexpr uint32_t kMaxQueueSize = 32768;
// The most descriptors an indirect table may hold.
inline constexpr uint32_t kMaxIndirect = 1024;

// A descriptor as the guest lays it out (little-endian; we only run on LE hosts).
struct Desc {
  uint64_t addr;
  uint32_t len;
  uint16_t flags;
  uint16_t next;
};
static_assert(sizeof(Desc) == 16);

// Where the three parts of a ring are, as front-end (user) addresses.
struct RingAddrs {
  uint64_t desc = 0;
  uint64_t avail = 0;
  uint64_t used = 0;
};

// One popped chain: its head (the id to return in the used ring) and its buffers,
// pointing into guest memory. Readable ones come first in the chain, then writable.
struct Chain {
  uint16_t head = 0;
  std::vector<iovec> readable;
  std::vector<iovec> writable;
  uint64_t readable_len = 0;
  uint64_t writable_len = 0;
  Chain();  // reserves room for the longest chain accepted
};

class Virtqueue {
 public:
  // What pop() found.
  enum class Pop {
    kEmpty,     // nothing new in the available ring
    kChain,     // a well-formed chain in `out`
    kBadChain,  // a malformed chain with a valid head: return it with used len 0
    kBadHead,   // the head index is out of range: nothing can be returned, drop it
    kBroken,    // the available index is impossible (more than `size` ahead)
  };

  // Checks and translates the ring (size a power of two up to 32768, each part
  // inside one region and aligned as the spec requires). `last_avail` is the
  // SET_VRING_BASE value; the used index is taken from the ring itself.
  static Result<std::unique_ptr<Virtqueue>> create(std::shared_ptr<const GuestMemory> mem,
                                                   uint32_t size, const RingAddrs& addrs,
                                                   uint16_t last_avail, bool event_idx,
                                                   bool indirect, std::string* why);

  Virtqueue(const Virtqueue&) = delete;
  Virtqueue& operator=(const Virtqueue&) = delete;

  // Takes the next available chain. `why` gets the reason for kBad*/kBroken.
  Pop pop(Chain& out, std::string* why);
  // Returns a chain to the driver with `len` bytes written.
  void add_used(uint16_t head, uint32_t len);
  // After add_used(): does the driver want an interrupt (EVENT_IDX / NO_INTERRUPT)?
  bool should_notify();
  // After draining: tells the driver which avail index to kick us at (EVENT_IDX),
  // then re-checks. True when chains arrived meanwhile (drain again).
  bool arm_and_check();

  uint16_t last_avail() const { return last_avail_; }
  uint16_t used_idx() const { return used_idx_; }
  uint32_t size() const { return size_; }

  struct Key {
    explicit Key() = default;
  };
  Virtqueue(Key, std::shared_ptr<const GuestMemory> mem, uint32_t size, uint8_t* desc,
            uint8_t* avail, uint8_t* used, uint16_t last_avail, bool event_idx, bool indirect);

 private:
  uint16_t load_avail_idx() const;
  Pop bad(Chain& out, std::string* why, const char* reason);

  std::shared_ptr<const GuestMemory> mem_;
  uint32_t size_;
  uint8_t* desc_;
  uint8_t* avail_;
  uint8_t* used_;
  uint16_t last_avail_;
  uint16_t used_idx_;
  bool event_idx_;
  bool indirect_;
  uint16_t signalled_used_ = 0;
  bool signalled_valid_ = false;
};

}  // namespace pfs::transport::vhost_user
