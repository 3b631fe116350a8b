// Fuzz target: split virtqueues over a fake guest memory image, popped and
// answered by the virtio-fs device logic (FsDevice::serve_available) with the FUSE
// Server over PlausibleFs behind it.
//
// Input format:
//   byte 0   config: bit 0 EVENT_IDX, bit 1 INDIRECT_DESC, bits 2-4 log2(size) - 1
//            (queue size 2..256), bit 5 a second ring pass after the first
//   byte 1   the starting avail index (SET_VRING_BASE), low 8 bits
//   rest     the guest memory image from guest-physical kGpa: the descriptor table
//            at +0, the avail ring at +4096, the used ring at +8192, buffers (FUSE
//            requests, indirect tables) anywhere; up to 64 KiB, the rest is zero
//
// Oracles beyond the sanitizers (guest memory is an mmap, invisible to ASan): every
// buffer of a popped chain lies inside the guest memory mapping; the used ring
// never gets more entries than were made available; a reply never claims more
// bytes than the chain's writable buffers hold; and the ring is never processed
// past what the avail index offers.
#include "core/transport/vhost_user/virtqueue.h"

#include <linux/fuse.h>
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>

#include "core/fuse/server.h"
#include "core/transport/memory/session.h"
#include "core/transport/vhost_user/fs_device.h"
#include "core/transport/vhost_user/guest_memory.h"
#include "fuzz/oracles.h"
#include "fuzz/plausible_fs.h"

namespace {

namespace vu = pfs::transport::vhost_user;

constexpr uint64_t kGpa = 0x100000;
constexpr uint64_t kUva = 0x7f5500000000;
constexpr size_t kMemSize = 64 * 1024;
constexpr uint64_t kDescOff = 0, kAvailOff = 4096, kUsedOff = 8192;

struct World {
  pfs::fuzz::PlausibleFs fs;
  pfs::fuse::Server server{fs};
  vu::FsDevice device{server, nullptr};
  pfs::ScopedFd memfd;
  std::shared_ptr<vu::GuestMemory> mem;
  uint8_t* image = nullptr;  // the same pages, as the "guest" sees them
  vu::Chain chain;

  World() {
    pfs::transport::memory::Session s(server);
    if (!s.init().ok()) pfs::fuzz::oracle_fail("INIT failed");
    memfd.reset(::memfd_create("fuzz-guest", MFD_CLOEXEC));
    if (!memfd.valid() || ::ftruncate(memfd.get(), kMemSize) != 0) {
      pfs::fuzz::oracle_fail("memfd");
    }
    mem = std::make_shared<vu::GuestMemory>();
    std::string why;
    if (mem->add({kGpa, kMemSize, kUva, 0}, memfd.get(), &why) != pfs::kOk) {
      pfs::fuzz::oracle_fail("guest memory: %s", why.c_str());
    }
    image = mem->regions()[0].host();
  }
};

World& world() {
  static World* w = [] {
    static World instance;
    return &instance;
  }();
  return *w;
}

void check_inside(const iovec& v, const uint8_t* base) {
  const auto* p = static_cast<const uint8_t*>(v.iov_base);
  if (p < base || p > base + kMemSize || v.iov_len > static_cast<size_t>(base + kMemSize - p)) {
    pfs::fuzz::oracle_fail("a chain buffer lies outside guest memory");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  World& w = world();
  const uint8_t cfg = data[0];
  const bool event_idx = (cfg & 1) != 0;
  const bool indirect = (cfg & 2) != 0;
  const uint32_t qsize = 2u << ((cfg >> 2) & 7);
  const bool second_pass = (cfg & 0x20) != 0;
  const uint16_t base = data[1];

  std::memset(w.image, 0, kMemSize);
  const size_t n = std::min(size - 2, kMemSize);
  std::memcpy(w.image, data + 2, n);

  vu::RingAddrs addrs{kUva + kDescOff, kUva + kAvailOff, kUva + kUsedOff};
  std::string why;
  auto vq = vu::Virtqueue::create(w.mem, qsize, addrs, base, event_idx, indirect, &why);
  if (!vq) pfs::fuzz::oracle_fail("ring setup failed: %s", why.c_str());

  // Pop by hand first (to check every chain), then through the device logic.
  uint16_t avail_idx;
  std::memcpy(&avail_idx, w.image + kAvailOff + 2, 2);
  const uint16_t offered = static_cast<uint16_t>(avail_idx - base);
  uint32_t popped = 0;
  const uint16_t used_before = (*vq)->used_idx();
  for (uint32_t guard = 0; guard <= qsize + 1; ++guard) {
    const auto r = (*vq)->pop(w.chain, &why);
    if (r == vu::Virtqueue::Pop::kEmpty || r == vu::Virtqueue::Pop::kBroken) break;
    ++popped;
    if (popped > offered) pfs::fuzz::oracle_fail("popped more chains than the driver offered");
    if (r == vu::Virtqueue::Pop::kBadHead) continue;
    if (w.chain.head >= qsize) pfs::fuzz::oracle_fail("head %u out of range", w.chain.head);
    for (const iovec& v : w.chain.readable) check_inside(v, w.image);
    for (const iovec& v : w.chain.writable) check_inside(v, w.image);
    uint32_t len = 0;
    if (r == vu::Virtqueue::Pop::kChain) {
      pfs::fuse::Reader in{std::span<const iovec>(w.chain.readable)};
      pfs::fuse::Writer out{std::span<const iovec>(w.chain.writable)};
      const size_t written = w.server.handle(in, out);
      if (written > w.chain.writable_len) pfs::fuzz::oracle_fail("reply longer than its buffers");
      len = static_cast<uint32_t>(written);
    }
    (*vq)->add_used(w.chain.head, len);
    (void)(*vq)->should_notify();
  }
  if (static_cast<uint16_t>((*vq)->used_idx() - used_before) > popped) {
    pfs::fuzz::oracle_fail("more used entries than chains popped");
  }
  (void)(*vq)->arm_and_check();

  if (second_pass) {
    // The device logic on a fresh ring over the same image (the used ring as the
    // first pass left it, which the guest could also have written).
    auto vq2 = vu::Virtqueue::create(w.mem, qsize, addrs, base, event_idx, indirect, &why);
    if (vq2) {
      std::atomic<bool> stop{false};
      bool broken_logged = false;
      w.device.serve_available(1, **vq2, w.chain, -1, stop, broken_logged);
    }
  }
  return 0;
}
