#include "core/transport/vhost_user/virtqueue.h"

#include <atomic>
#include <cstring>

#include "core/fuse/reader_writer.h"

namespace pfs::transport::vhost_user {

namespace {

// Ring layout (virtio 1.x, 2.7.6 and 2.7.8):
//   avail: u16 flags, u16 idx, u16 ring[size], u16 used_event
//   used:  u16 flags, u16 idx, {u32 id, u32 len} ring[size], u16 avail_event
constexpr size_t kAvailRing = 4;
constexpr size_t kUsedRing = 4;
constexpr size_t kUsedElem = 8;

uint16_t* u16_at(uint8_t* base, size_t off) { return reinterpret_cast<uint16_t*>(base + off); }
uint32_t* u32_at(uint8_t* base, size_t off) { return reinterpret_cast<uint32_t*>(base + off); }

// Shared-memory fields are read and written atomically: the guest writes them
// concurrently. The builtins rather than std::atomic_ref, which libc++ lacks before
// LLVM 19 (OSS-Fuzz and ClusterFuzzLite build with libc++).
static_assert(static_cast<int>(std::memory_order_relaxed) == __ATOMIC_RELAXED &&
              static_cast<int>(std::memory_order_acquire) == __ATOMIC_ACQUIRE &&
              static_cast<int>(std::memory_order_release) == __ATOMIC_RELEASE &&
              static_cast<int>(std::memory_order_seq_cst) == __ATOMIC_SEQ_CST);
uint16_t load16(uint8_t* base, size_t off, std::memory_order mo) {
  return __atomic_load_n(u16_at(base, off), static_cast<int>(mo));
}
void store16(uint8_t* base, size_t off, uint16_t v, std::memory_order mo) {
  __atomic_store_n(u16_at(base, off), v, static_cast<int>(mo));
}
void store32(uint8_t* base, size_t off, uint32_t v, std::memory_order mo) {
  __atomic_store_n(u32_at(base, off), v, static_cast<int>(mo));
}

}  // namespace

Chain::Chain() {
  readable.reserve(fuse::kMaxSegments);
  writable.reserve(fuse::kMaxSegments);
}

Result<std::unique_ptr<Virtqueue>> Virtqueue::create(std::shared_ptr<const GuestMemory> mem,
                                                     uint32_t size, const RingAddrs& addrs,
                                                     uint16_t last_avail, bool event_idx,
                                                     bool indirect, std::string* why) {
  if (!mem) {
    if (why) *why = "no memory table";
    return Errno{EINVAL};
  }
  if (size == 0 || size > kMaxQueueSize || (size & (size - 1)) != 0) {
    if (why) *why = "queue size is not a power of two up to 32768";
    return Errno{EINVAL};
  }
  const uint64_t event = event_idx ? 2 : 0;
  const uint64_t desc_len = uint64_t{16} * size;
  const uint64_t avail_len = kAvailRing + uint64_t{2} * size + event;
  const uint64_t used_len = kUsedRing + uint64_t{kUsedElem} * size + event;
  uint8_t* desc = mem->uva_to_host(addrs.desc, desc_len);
  uint8_t* avail = mem->uva_to_host(addrs.avail, avail_len);
  uint8_t* used = mem->uva_to_host(addrs.used, used_len);
  if (desc == nullptr || avail == nullptr || used == nullptr) {
    if (why) *why = "a ring lies outside the memory table";
    return Errno{EFAULT};
  }
  // Alignment (2.7): descriptors 16, avail 2, used 4. We check the host pointers,
  // which is what the atomic accesses need; mappings are page aligned, so they agree.
  if (reinterpret_cast<uintptr_t>(desc) % 16 != 0 || reinterpret_cast<uintptr_t>(avail) % 2 != 0 ||
      reinterpret_cast<uintptr_t>(used) % 4 != 0) {
    if (why) *why = "a ring is misaligned";
    return Errno{EINVAL};
  }
  return std::make_unique<Virtqueue>(Key{}, std::move(mem), size, desc, avail, used, last_avail,
                                     event_idx, indirect);
}

Virtqueue::Virtqueue(Key, std::shared_ptr<const GuestMemory> mem, uint32_t size, uint8_t* desc,
                     uint8_t* avail, uint8_t* used, uint16_t last_avail, bool event_idx,
                     bool indirect)
    : mem_(std::move(mem)),
      size_(size),
      desc_(desc),
      avail_(avail),
      used_(used),
      last_avail_(last_avail),
      event_idx_(event_idx),
      indirect_(indirect) {
  // Relaxed: only the device writes used->idx; this picks up where the previous
  // owner of the ring (an earlier worker, or another back-end) left it.
  used_idx_ = load16(used_, 2, std::memory_order_relaxed);
}

uint16_t Virtqueue::load_avail_idx() const {
  // Acquire: the driver writes the ring entries and descriptors, then (after a
  // write barrier) avail->idx; reading idx with acquire makes those visible (2.7.13).
  return load16(avail_, 2, std::memory_order_acquire);
}

Virtqueue::Pop Virtqueue::bad(Chain& out, std::string* why, const char* reason) {
  if (why) *why = reason;
  out.readable.clear();
  out.writable.clear();
  out.readable_len = out.writable_len = 0;
  return Pop::kBadChain;
}

Virtqueue::Pop Virtqueue::pop(Chain& out, std::string* why) {
  out.readable.clear();
  out.writable.clear();
  out.readable_len = out.writable_len = 0;

  const uint16_t avail_idx = load_avail_idx();
  if (avail_idx == last_avail_) return Pop::kEmpty;
  if (static_cast<uint16_t>(avail_idx - last_avail_) > size_) {
    if (why) *why = "available index is more than a ring ahead";
    return Pop::kBroken;
  }
  // Relaxed: ordered after the acquire load of avail->idx above.
  const uint16_t head =
      load16(avail_, kAvailRing + size_t{2} * (last_avail_ % size_), std::memory_order_relaxed);
  ++last_avail_;
  out.head = head;
  if (head >= size_) {
    if (why) *why = "head descriptor index out of range";
    return Pop::kBadHead;
  }

  const uint8_t* table = desc_;
  uint32_t count = size_;  // entries in the current table
  uint32_t i = head;
  uint32_t steps = 0;  // descriptors visited in the current table
  bool in_indirect = false;
  for (;;) {
    if (steps >= count) return bad(out, why, "descriptor chain loops or is longer than its table");
    ++steps;
    Desc d;
    // Copied once: the guest may change the table under us, we look only at this copy.
    std::memcpy(&d, table + size_t{16} * i, sizeof(d));
    if ((d.flags & kDescFlagIndirect) != 0) {
      if (!indirect_) return bad(out, why, "indirect descriptor without VIRTIO_F_INDIRECT_DESC");
      if (in_indirect) return bad(out, why, "nested indirect descriptor");
      if ((d.flags & kDescFlagNext) != 0) {
        return bad(out, why, "indirect descriptor with the NEXT flag");
      }
      if (d.len == 0 || d.len % sizeof(Desc) != 0 || d.len / sizeof(Desc) > kMaxIndirect) {
        return bad(out, why, "indirect table length is not a multiple of 16 up to 16 KiB");
      }
      const uint8_t* t = mem_->gpa_to_host(d.addr, d.len);
      if (t == nullptr) return bad(out, why, "indirect table outside guest memory");
      table = t;
      count = d.len / sizeof(Desc);
      i = 0;
      steps = 0;
      in_indirect = true;
      continue;
    }
    if (d.len > 0) {
      uint8_t* p = mem_->gpa_to_host(d.addr, d.len);
      if (p == nullptr) return bad(out, why, "buffer outside guest memory (or wraps)");
      const iovec v{p, d.len};
      if ((d.flags & kDescFlagWrite) != 0) {
        if (out.writable.size() >= fuse::kMaxSegments) return bad(out, why, "too many segments");
        out.writable.push_back(v);
        out.writable_len += d.len;
      } else {
        if (!out.writable.empty()) {
          return bad(out, why, "readable descriptor after a writable one");
        }
        if (out.readable.size() >= fuse::kMaxSegments) return bad(out, why, "too many segments");
        out.readable.push_back(v);
        out.readable_len += d.len;
      }
    } else if ((d.flags & kDescFlagWrite) == 0 && !out.writable.empty()) {
      return bad(out, why, "readable descriptor after a writable one");
    }
    if ((d.flags & kDescFlagNext) == 0) break;
    i = d.next;
    if (i >= count) return bad(out, why, "next descriptor index out of range");
  }
  // Each length is a u32 and there are at most 2 * kMaxSegments of them: the sums
  // fit a u64, but the reply length must fit the used ring's u32.
  if (out.writable_len > UINT32_MAX) return bad(out, why, "writable buffers exceed 4 GiB");
  return Pop::kChain;
}

void Virtqueue::add_used(uint16_t head, uint32_t len) {
  const size_t elem = kUsedRing + kUsedElem * (used_idx_ % size_);
  // Relaxed: published by the release store of used->idx below.
  store32(used_, elem, head, std::memory_order_relaxed);
  store32(used_, elem + 4, len, std::memory_order_relaxed);
  ++used_idx_;
  // Release: the element (and the reply bytes written into the guest's buffers)
  // become visible before the driver sees the new used->idx (2.7.14).
  store16(used_, 2, used_idx_, std::memory_order_release);
}

bool Virtqueue::should_notify() {
  // Full fence: the used->idx store must be visible before we read the driver's
  // suppression fields, or we may miss a driver that just asked for interrupts
  // (the store-load ordering the spec's "memory barrier" stands for).
  std::atomic_thread_fence(std::memory_order_seq_cst);
  if (!event_idx_) {
    return (load16(avail_, 0, std::memory_order_relaxed) & kAvailFlagNoInterrupt) == 0;
  }
  const uint16_t old_idx = signalled_used_;
  const uint16_t new_idx = used_idx_;
  const bool valid = signalled_valid_;
  signalled_used_ = new_idx;
  signalled_valid_ = true;
  if (!valid) return true;
  // used_event lives after the avail ring entries; relaxed after the fence above.
  const uint16_t used_event =
      load16(avail_, kAvailRing + size_t{2} * size_, std::memory_order_relaxed);
  // vring_need_event (2.7.10): notify when used_event lies in [old, new).
  return static_cast<uint16_t>(new_idx - used_event - 1) < static_cast<uint16_t>(new_idx - old_idx);
}

bool Virtqueue::arm_and_check() {
  if (event_idx_) {
    // avail_event lives after the used ring entries. Relaxed store, then a full
    // fence so the re-read of avail->idx below cannot be ordered before it.
    store16(used_, kUsedRing + kUsedElem * size_, last_avail_, std::memory_order_relaxed);
    std::atomic_thread_fence(std::memory_order_seq_cst);
  }
  return load_avail_idx() != last_avail_;
}

}  // namespace pfs::transport::vhost_user
