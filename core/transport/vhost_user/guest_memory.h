// The guest's memory as the front-end shares it: regions, each an fd mapped here,
// known by guest-physical address (what descriptors hold) and by the front-end's
// own virtual address (what SET_VRING_ADDR holds).
//
// A GuestMemory is immutable once built; the backend swaps in a new one (after
// stopping the queues) when the table changes. Regions share their mappings, so a
// table built from another (ADD/REM_MEM_REG) maps nothing twice. Every translation
// checks that the whole range [addr, addr + len) lies inside one region, without
// overflowing.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/fuse/result.h"
#include "core/transport/vhost_user/message.h"

namespace pfs::transport::vhost_user {

// One mmap()ed range, unmapped on destruction.
class Mapping {
 public:
  // Maps `size` bytes of `fd` from `offset` (any alignment) read-write, shared.
  // The fd must be a regular file (memfd, hugetlbfs, tmpfs) at least offset + size
  // long: a shorter one would SIGBUS us on first touch.
  static Result<std::shared_ptr<Mapping>> map(int fd, uint64_t offset, uint64_t size,
                                              std::string* why);
  ~Mapping();
  Mapping(const Mapping&) = delete;
  Mapping& operator=(const Mapping&) = delete;

  uint8_t* data() const { return data_; }
  uint64_t size() const { return size_; }

 private:
  struct Key {
    explicit Key() = default;
  };

 public:
  // Only map() can name a Key (make_shared needs a public constructor).
  Mapping(Key, void* base, size_t len, uint8_t* data, uint64_t size)
      : base_(base), len_(len), data_(data), size_(size) {}

 private:
  void* base_;
  size_t len_;
  uint8_t* data_;
  uint64_t size_;
};

struct Region {
  MemRegion info{};
  std::shared_ptr<Mapping> map;
  uint8_t* host() const { return map->data(); }
};

class GuestMemory {
 public:
  // The most regions a table holds (GET_MAX_MEM_SLOTS).
  static constexpr size_t kMaxRegions = 32;

  GuestMemory() = default;

  // Adds a region mapped from `fd`. Rejects empty, wrapping or overlapping ranges
  // (guest-physical or front-end), too many regions, and fds too short.
  Status add(const MemRegion& r, int fd, std::string* why);
  // Removes the region matching r (guest address, size, user address); ENOENT
  // when there is none.
  Status remove(const MemRegion& r);

  // Host pointer to [gpa, gpa + len) when it lies inside one region, else null.
  uint8_t* gpa_to_host(uint64_t gpa, uint64_t len) const;
  // Host pointer to the front-end's [uva, uva + len) likewise.
  uint8_t* uva_to_host(uint64_t uva, uint64_t len) const;

  size_t size() const { return regions_.size(); }
  bool empty() const { return regions_.empty(); }
  const std::vector<Region>& regions() const { return regions_; }

 private:
  std::vector<Region> regions_;
};

}  // namespace pfs::transport::vhost_user
