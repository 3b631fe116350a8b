// Fuzz target: the getdents64 parser (DirentParser, dir_reader.h) over arbitrary
// bytes. Besides ASan watching every read (the input is an exact-size copy made
// by the engine or the replay main), each produced entry is checked against the
// bytes themselves:
//   - its record lies inside the buffer, right after the previous one;
//   - d_ino, d_off and d_type are the record's bytes;
//   - the name is non-empty, starts right after the 19-byte header, has no NUL,
//     and is followed by a NUL inside its record (so inside the buffer);
//   - consumed() is the sum of the record lengths produced; when the walk stops
//     before the end of the buffer, malformed() says so, and the parser stays
//     stopped.
#include <cstdint>
#include <cstring>
#include <span>

#include "core/passthrough/dir_reader.h"
#include "fuzz/oracles.h"

namespace {

using pfs::fuzz::oracle_fail;

template <class T>
T load(const uint8_t* p) {
  T v;
  std::memcpy(&v, p, sizeof(v));
  return v;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::span<const uint8_t> buf(data, size);
  pfs::passthrough::DirentParser parser(buf);
  size_t pos = 0;
  size_t entries = 0;
  while (auto e = parser.next()) {
    ++entries;
    const size_t hdr = pfs::passthrough::kDirentHeaderSize;
    if (pos + hdr + 1 > size)
      oracle_fail("entry %zu: record header at %zu past the buffer (%zu)", entries, pos, size);
    const uint8_t* rec = data + pos;
    const size_t reclen = load<uint16_t>(rec + 16);
    if (reclen < hdr + 1 || reclen > size - pos) {
      oracle_fail("entry %zu: d_reclen %zu at %zu does not fit the buffer (%zu)", entries, reclen,
                  pos, size);
    }
    const auto* name = reinterpret_cast<const uint8_t*>(e->name.data());
    if (name != rec + hdr)
      oracle_fail("entry %zu: name not right after the record header", entries);
    if (e->name.empty()) oracle_fail("entry %zu: empty name", entries);
    if (hdr + e->name.size() >= reclen) {
      oracle_fail("entry %zu: name of %zu bytes leaves no NUL inside the record (%zu)", entries,
                  e->name.size(), reclen);
    }
    if (std::memchr(name, 0, e->name.size()) != nullptr)
      oracle_fail("entry %zu: NUL inside the name", entries);
    if (name[e->name.size()] != 0) oracle_fail("entry %zu: name not NUL-terminated", entries);
    if (e->ino != load<uint64_t>(rec) || e->offset != load<uint64_t>(rec + 8) ||
        e->type != rec[18]) {
      oracle_fail("entry %zu: ino/off/type differ from the record's bytes", entries);
    }
    pos += reclen;
    if (parser.consumed() != pos)
      oracle_fail("consumed() %zu, records produced %zu", parser.consumed(), pos);
  }
  if (pos < size && !parser.malformed()) {
    oracle_fail("walk stopped at %zu of %zu bytes without reporting malformed()", pos, size);
  }
  if (pos == size && parser.malformed()) oracle_fail("malformed() after a complete walk");
  if (parser.next().has_value()) oracle_fail("the parser produced an entry after it stopped");
  return 0;
}
