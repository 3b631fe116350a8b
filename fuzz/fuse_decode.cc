// Fuzz target: the FUSE Server over PlausibleFs (plausible_fs.h), for raw
// decode/encode speed and coverage of every reply encoder, with requests and
// replies scattered over several segments (as a virtqueue chain delivers them).
//
// Input format: a FUSE byte stream (as fuse_session.cc; recorded sessions work),
// optionally after a 12-byte split prefix:
//
//   "PFSS" <u64 seed>   then the stream
//
// Each request's segmentation comes from a 64-bit value: with the prefix, the
// seed mixed with the request's index; without it, a hash of the request's bytes
// (so a raw stream still gets varied splits). From that value: 1-4 request
// segments at chosen cut points (empty segments included), 1-4 reply segments,
// and the reply space (mostly room for any reply the request can have: the size
// it asks for + 4 KiB, at most 68 KiB; sometimes the full
// reply_buffer_size(), or just a header, a header + 8 bytes or 4 KiB, to hit the
// "no room" paths). Every segment is an exact-size piece of a per-process
// PoisonedArena (poisoned_arena.h), so ASan sees a byte before or past any of
// them, and any use after the request. INIT runs first unless the stream starts
// with it; the replies are checked as in fuse_session (oracles.h).
#include <linux/fuse.h>
#include <sys/uio.h>

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <vector>

#include "core/fuse/server.h"
#include "core/transport/memory/request_builder.h"
#include "core/transport/memory/session.h"
#include "fuzz/oracles.h"
#include "fuzz/plausible_fs.h"
#include "fuzz/poisoned_arena.h"

namespace {

namespace mem = pfs::transport::memory;

constexpr char kMagic[4] = {'P', 'F', 'S', 'S'};

// Every byte, though a hash of the length and the first 64 bytes was 6% cheaper:
// it deals the raw seeds other splits, and libFuzzer's coverage once the seeds are
// loaded fell from 777 to 773 edges (the "no room" paths a few of them hit).
// The bytes are the engine's own copy of the input, in bounds by construction: no
// ASan check per byte (it was most of this loop's cost). A plain pointer loop: a
// no_sanitize function cannot inline span's (sanitized) iterator calls.
__attribute__((no_sanitize("address"))) uint64_t fnv1a(const uint8_t* bytes, size_t n) {
  uint64_t h = 1469598103934665603ull;
  for (size_t i = 0; i < n; ++i) h = (h ^ bytes[i]) * 1099511628211ull;
  return h;
}

uint64_t mix(uint64_t x) {  // splitmix64 finaliser
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ull;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

constexpr size_t kMaxSegments = 4;

// `len` bytes cut into up to four segments carved from `arena` (so each is an
// exact-size piece to ASan, without an allocation per request), copied from
// `src` (or left as the arena has them when `src` is null).
struct Segments {
  std::array<iovec, kMaxSegments> iov{};
  size_t count = 0;

  Segments(pfs::fuzz::PoisonedArena& arena, const uint8_t* src, size_t len, uint64_t bits) {
    const size_t pieces = 1 + (bits & 3);
    std::array<size_t, kMaxSegments> cuts{};
    for (size_t i = 1; i < pieces; ++i) cuts[i - 1] = ((bits >> (8 + 13 * i)) & 0x1fff) % (len + 1);
    // At most three cuts: insertion sort (std::sort's call tree was 1% of the profile).
    for (size_t i = 1; i + 1 < pieces; ++i) {
      for (size_t j = i; j > 0 && cuts[j - 1] > cuts[j]; --j) std::swap(cuts[j - 1], cuts[j]);
    }
    cuts[pieces - 1] = len;
    size_t start = 0;
    for (size_t i = 0; i < pieces; ++i) {
      const size_t n = cuts[i] - start;
      uint8_t* buf = n == 0 ? nullptr : arena.take(n);
      if (src != nullptr && n != 0) std::memcpy(buf, src + start, n);
      iov[count++] = iovec{buf, n};
      start = cuts[i];
    }
  }

  std::span<const iovec> segments() const { return {iov.data(), count}; }

  // The first `n` bytes, contiguous: in place when the first segment holds them,
  // else gathered into `copy`.
  std::span<const uint8_t> first_bytes(size_t n, std::vector<uint8_t>& copy) const {
    if (n <= iov[0].iov_len) return {static_cast<const uint8_t*>(iov[0].iov_base), n};
    copy.clear();
    for (size_t i = 0; i < count && copy.size() < n; ++i) {
      const size_t take = std::min(n - copy.size(), iov[i].iov_len);
      const auto* p = static_cast<const uint8_t*>(iov[i].iov_base);
      copy.insert(copy.end(), p, p + take);
    }
    return copy;
  }
};

// The reply length a request asks for beyond its header: the size field of
// READ/READDIR(PLUS), GETXATTR/LISTXATTR and IOCTL (out_size), PATH_MAX for
// READLINK, 0 for the rest (fixed structs, under 200 bytes). 0 as well when the
// field is not there.
size_t asked_reply(std::span<const uint8_t> request, uint32_t opcode) {
  size_t at = 0;
  switch (opcode) {
    case FUSE_READ:
    case FUSE_READDIR:
    case FUSE_READDIRPLUS:
      at = offsetof(fuse_read_in, size);
      break;
    case FUSE_GETXATTR:
    case FUSE_LISTXATTR:
      at = offsetof(fuse_getxattr_in, size);
      break;
    case FUSE_IOCTL:
      at = offsetof(fuse_ioctl_in, out_size);
      break;
    case FUSE_READLINK:
      return 4096;
    default:
      return 0;
  }
  at += sizeof(fuse_in_header);
  uint32_t size = 0;
  if (request.size() < at + sizeof(size)) return 0;
  std::memcpy(&size, request.data() + at, sizeof(size));
  return size;
}

size_t reply_space(uint64_t bits, size_t full, size_t asked) {
  switch ((bits >> 60) & 0xf) {
    case 0:
      return sizeof(fuse_out_header);
    case 1:
      return sizeof(fuse_out_header) + 8;
    case 2:
      return 4096;
    // Ample room: what the request asks for + 4 KiB + header, at least 68 KiB, at
    // most the full reply_buffer_size() (1 MiB + header). Always the full size
    // was half the arena's cost (poisoning 1 MiB for 1 request in 16), for no
    // reply that could use more than the request asks for.
    case 3:
      return std::min<size_t>(full,
                              std::max<size_t>(asked, 65536) + 4096 + sizeof(fuse_out_header));
    // Mostly room for any reply the request can have: what it asks for + 4 KiB +
    // header room, at most 64 KiB + that (enough for every reply but the largest
    // READs). ASan's poisoning costs by the byte: 68 KiB for every request was a
    // sixth of the profile.
    default:
      return std::min<size_t>(full,
                              std::min<size_t>(asked, 65536) + 4096 + sizeof(fuse_out_header));
  }
}

// Per process, reused by every request of every input (see poisoned_arena.h).
struct Buffers {
  pfs::fuzz::PoisonedArena arena;
  std::vector<uint8_t> reply_copy;
};

void run_one(pfs::fuse::Server& server, Buffers& buffers, std::span<const uint8_t> request,
             uint64_t bits) {
  uint32_t opcode = 0;
  if (request.size() >= offsetof(fuse_in_header, opcode) + sizeof(opcode)) {
    std::memcpy(&opcode, request.data() + offsetof(fuse_in_header, opcode), sizeof(opcode));
  }
  const size_t space = reply_space(bits, server.reply_buffer_size(), asked_reply(request, opcode));
  buffers.arena.reset(request.size() + space, 2 * kMaxSegments);
  const Segments in(buffers.arena, request.data(), request.size(), bits);
  const Segments out(buffers.arena, nullptr, space, mix(bits));
  pfs::fuse::Reader reader(in.segments());
  pfs::fuse::Writer writer(out.segments());
  const size_t n = server.handle(reader, writer);
  pfs::fuzz::check_reply(pfs::fuzz::request_info(request), n, writer.written(),
                         out.first_bytes(n, buffers.reply_copy));
}

}  // namespace

// ASan's quarantine at 16 MiB instead of 256: freed blocks wait there before reuse,
// and what this target frees per input is only libFuzzer's copy of each input, so a
// 256 MiB ring kept every allocation on cold (often unmapped) pages: page faults and
// cache misses were a tenth of the profile. 16 MiB still holds hundreds of inputs'
// copies, more than any use-after-free here can reach back. ASAN_OPTIONS overrides it.
extern "C" const char* __asan_default_options() { return "quarantine_size_mb=16"; }

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::span<const uint8_t> stream(data, size);
  bool seeded = false;
  uint64_t seed = 0;
  if (stream.size() >= sizeof(kMagic) + 8 &&
      std::memcmp(stream.data(), kMagic, sizeof(kMagic)) == 0) {
    std::memcpy(&seed, stream.data() + sizeof(kMagic), sizeof(seed));
    stream = stream.subspan(sizeof(kMagic) + 8);
    seeded = true;
  }

  // PlausibleFs keeps no state between calls: one per process. The Server is per
  // input (its INIT state must start afresh).
  static pfs::fuzz::PlausibleFs fs;
  static Buffers buffers;
  static const mem::Bytes init = mem::req::init(mem::kLinuxInitFlags);
  pfs::fuse::Server server(fs);
  // Framed one request at a time (mem::next_frame), without a vector per input.
  std::span<const uint8_t> rest = stream;
  std::span<const uint8_t> request = mem::next_frame(rest);
  fuse_in_header first{};
  if (request.size() < sizeof(first) ||
      (std::memcpy(&first, request.data(), sizeof(first)), first.opcode != FUSE_INIT)) {
    // INIT in one piece with the full reply space, so the session gets going.
    run_one(server, buffers, init, 0xf000000000000000ull);
  }
  uint64_t index = 0;
  for (; !request.empty(); request = mem::next_frame(rest)) {
    const uint64_t bits = seeded ? mix(seed ^ (++index * 0x9e3779b97f4a7c15ull))
                                 : fnv1a(request.data(), request.size());
    run_one(server, buffers, request, bits);
  }
  return 0;
}
