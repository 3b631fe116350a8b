#include "core/transport/vhost_user/guest_memory.h"

#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <limits>

namespace pfs::transport::vhost_user {

namespace {

// [a, a + alen) and [b, b + blen) intersect (neither wraps: checked before).
bool overlaps(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen) {
  return a < b + blen && b < a + alen;
}

// Host pointer for [addr, addr + len) inside [base, base + size) of `host`.
uint8_t* translate(uint64_t base, uint64_t size, uint8_t* host, uint64_t addr, uint64_t len) {
  if (addr < base) return nullptr;
  const uint64_t off = addr - base;
  if (off >= size && !(off == size && len == 0)) return nullptr;
  if (len > size - off) return nullptr;
  return host + off;
}

}  // namespace

Result<std::shared_ptr<Mapping>> Mapping::map(int fd, uint64_t offset, uint64_t size,
                                              std::string* why) {
  if (size == 0) {
    if (why) *why = "empty region";
    return Errno{EINVAL};
  }
  if (offset > std::numeric_limits<uint64_t>::max() - size) {
    if (why) *why = "mmap offset + size overflows";
    return Errno{EINVAL};
  }
  struct stat st {};
  // Safety: fstat on an fd we own; the result decides whether the mapping is safe.
  if (::fstat(fd, &st) != 0) {
    if (why) *why = "fstat of the region fd failed";
    return last_errno();
  }
  if (!S_ISREG(st.st_mode)) {
    if (why) *why = "region fd is not a memory file (memfd, tmpfs, hugetlbfs)";
    return Errno{EINVAL};
  }
  if (st.st_size < 0 || static_cast<uint64_t>(st.st_size) < offset + size) {
    if (why) *why = "region fd is shorter than mmap_offset + memory_size";
    return Errno{EINVAL};
  }
  const uint64_t page = static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
  const uint64_t map_off = offset - offset % page;
  const uint64_t delta = offset - map_off;
  if (size > std::numeric_limits<size_t>::max() - delta) {
    if (why) *why = "region too large to map";
    return Errno{ENOMEM};
  }
  const size_t len = static_cast<size_t>(size + delta);
  // Safety: a fresh shared mapping of a regular file checked to be long enough;
  // MAP_FAILED is handled, the mapping is owned by the Mapping from here on.
  void* base =
      ::mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, static_cast<off_t>(map_off));
  if (base == MAP_FAILED) {
    if (why) *why = "mmap of the region failed";
    return last_errno();
  }
  return std::make_shared<Mapping>(Key{}, base, len, static_cast<uint8_t*>(base) + delta, size);
}

Mapping::~Mapping() {
  // Safety: base_/len_ are exactly what mmap returned; nothing uses the range after
  // the last owner (a GuestMemory snapshot) goes away.
  ::munmap(base_, len_);
}

Status GuestMemory::add(const MemRegion& r, int fd, std::string* why) {
  constexpr uint64_t kMax = std::numeric_limits<uint64_t>::max();
  if (regions_.size() >= kMaxRegions) {
    if (why) *why = "too many memory regions";
    return ENOSPC;
  }
  if (r.memory_size == 0 || r.guest_phys_addr > kMax - r.memory_size ||
      r.userspace_addr > kMax - r.memory_size) {
    if (why) *why = "region is empty or wraps around the address space";
    return EINVAL;
  }
  for (const Region& o : regions_) {
    if (overlaps(r.guest_phys_addr, r.memory_size, o.info.guest_phys_addr, o.info.memory_size) ||
        overlaps(r.userspace_addr, r.memory_size, o.info.userspace_addr, o.info.memory_size)) {
      if (why) *why = "region overlaps another";
      return EINVAL;
    }
  }
  auto m = Mapping::map(fd, r.mmap_offset, r.memory_size, why);
  if (!m) return m.error();
  regions_.push_back(Region{r, std::move(*m)});
  return kOk;
}

Status GuestMemory::remove(const MemRegion& r) {
  for (auto it = regions_.begin(); it != regions_.end(); ++it) {
    if (it->info.guest_phys_addr == r.guest_phys_addr && it->info.memory_size == r.memory_size &&
        it->info.userspace_addr == r.userspace_addr) {
      regions_.erase(it);
      return kOk;
    }
  }
  return ENOENT;
}

uint8_t* GuestMemory::gpa_to_host(uint64_t gpa, uint64_t len) const {
  for (const Region& r : regions_) {
    if (uint8_t* p = translate(r.info.guest_phys_addr, r.info.memory_size, r.host(), gpa, len)) {
      return p;
    }
  }
  return nullptr;
}

uint8_t* GuestMemory::uva_to_host(uint64_t uva, uint64_t len) const {
  for (const Region& r : regions_) {
    if (uint8_t* p = translate(r.info.userspace_addr, r.info.memory_size, r.host(), uva, len)) {
      return p;
    }
  }
  return nullptr;
}

}  // namespace pfs::transport::vhost_user
