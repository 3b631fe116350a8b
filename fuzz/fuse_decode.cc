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
// and the reply space (mostly 68 KiB; sometimes the full reply_buffer_size(), or
// just a header, a header + 8 bytes or 4 KiB, to hit the "no room" paths). Every
// segment is its own exact-size allocation, so ASan sees a byte past any of them.
// INIT runs first unless the stream starts with it; the replies are checked as
// in fuse_session (oracles.h).
#include <linux/fuse.h>
#include <sys/uio.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <memory>
#include <span>
#include <vector>

#include "core/fuse/server.h"
#include "core/transport/memory/request_builder.h"
#include "core/transport/memory/session.h"
#include "fuzz/oracles.h"
#include "fuzz/plausible_fs.h"

namespace {

namespace mem = pfs::transport::memory;

constexpr char kMagic[4] = {'P', 'F', 'S', 'S'};

uint64_t fnv1a(std::span<const uint8_t> bytes) {
  uint64_t h = 1469598103934665603ull;
  for (uint8_t b : bytes) h = (h ^ b) * 1099511628211ull;
  return h;
}

uint64_t mix(uint64_t x) {  // splitmix64 finaliser
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ull;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

// `len` bytes cut into up to four exact-size segments, copied from `src` (or
// left uninitialised when `src` is null).
struct Segments {
  std::vector<std::unique_ptr<uint8_t[]>> storage;
  std::vector<iovec> iov;

  Segments(const uint8_t* src, size_t len, uint64_t bits) {
    const size_t count = 1 + (bits & 3);
    std::vector<size_t> cuts;
    for (size_t i = 1; i < count; ++i)
      cuts.push_back(((bits >> (8 + 13 * i)) & 0x1fff) % (len + 1));
    std::sort(cuts.begin(), cuts.end());
    cuts.push_back(len);
    size_t start = 0;
    for (size_t cut : cuts) {
      const size_t n = cut - start;
      auto buf = std::make_unique_for_overwrite<uint8_t[]>(n == 0 ? 1 : n);
      if (src != nullptr && n != 0) std::memcpy(buf.get(), src + start, n);
      iov.push_back(iovec{n == 0 ? nullptr : buf.get(), n});
      storage.push_back(std::move(buf));
      start = cut;
    }
  }

  // The first `n` bytes, gathered.
  std::vector<uint8_t> gather(size_t n) const {
    std::vector<uint8_t> out;
    for (const iovec& v : iov) {
      const size_t take = std::min(n - out.size(), v.iov_len);
      const auto* p = static_cast<const uint8_t*>(v.iov_base);
      out.insert(out.end(), p, p + take);
    }
    return out;
  }
};

size_t reply_space(uint64_t bits, size_t full) {
  switch ((bits >> 60) & 0xf) {
    case 0:
      return sizeof(fuse_out_header);
    case 1:
      return sizeof(fuse_out_header) + 8;
    case 2:
      return 4096;
    case 3:
      return full;
    // Mostly 64 KiB + header room: enough for every reply but the largest READs,
    // and much cheaper per request under ASan than the full 1 MiB.
    default:
      return std::min<size_t>(full, 65536 + 4096);
  }
}

void run_one(pfs::fuse::Server& server, std::span<const uint8_t> request, uint64_t bits) {
  Segments in(request.data(), request.size(), bits);
  const uint64_t out_bits = mix(bits);
  Segments out(nullptr, reply_space(bits, server.reply_buffer_size()), out_bits);
  pfs::fuse::Reader reader(in.iov);
  pfs::fuse::Writer writer(out.iov);
  const size_t n = server.handle(reader, writer);
  const std::vector<uint8_t> reply = out.gather(n);
  pfs::fuzz::check_reply(pfs::fuzz::request_info(request), n, writer.written(), reply);
}

}  // namespace

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

  pfs::fuzz::PlausibleFs fs;
  pfs::fuse::Server server(fs);
  const std::vector<std::span<const uint8_t>> requests = mem::frame_stream(stream);
  fuse_in_header first{};
  if (requests.empty() || requests.front().size() < sizeof(first) ||
      (std::memcpy(&first, requests.front().data(), sizeof(first)), first.opcode != FUSE_INIT)) {
    // INIT in one piece with the full reply space, so the session gets going.
    run_one(server, mem::req::init(mem::kLinuxInitFlags), 0xf000000000000000ull);
  }
  uint64_t index = 0;
  for (std::span<const uint8_t> r : requests) {
    const uint64_t bits = seeded ? mix(seed ^ (++index * 0x9e3779b97f4a7c15ull)) : fnv1a(r);
    run_one(server, r, bits);
  }
  return 0;
}
