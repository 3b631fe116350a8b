#include "fuzz/race_activity.h"

#include <linux/fuse.h>

namespace pfs::fuzz {

bool StreamActivity::makes_names(uint32_t opcode) {
  switch (opcode) {
    case FUSE_MKDIR:
    case FUSE_MKNOD:
    case FUSE_CREATE:
    case FUSE_SYMLINK:
    case FUSE_LINK:
    case FUSE_RENAME:
    case FUSE_RENAME2:
    case FUSE_TMPFILE:
      return true;
    default:
      return false;
  }
}

void StreamActivity::bump() {
  epoch_.fetch_add(1, std::memory_order_acq_rel);
  epoch_.notify_all();
}

bool StreamActivity::begin(uint32_t opcode, uint64_t node) {
  if (!makes_names(opcode)) return false;
  focus_.store(node, std::memory_order_release);
  making_.fetch_add(1, std::memory_order_acq_rel);
  bump();
  return true;
}

void StreamActivity::end() { making_.fetch_sub(1, std::memory_order_acq_rel); }

void StreamActivity::poke() { bump(); }

void StreamActivity::finish() {
  done_.store(true, std::memory_order_release);
  bump();
}

void StreamActivity::wait(uint32_t seen) const {
  // Every change that ends the wait bumps the epoch after it, so waiting on the
  // epoch alone cannot miss one.
  while (epoch_.load(std::memory_order_acquire) == seen && !making() && !done()) {
    epoch_.wait(seen, std::memory_order_acquire);
  }
}

}  // namespace pfs::fuzz
