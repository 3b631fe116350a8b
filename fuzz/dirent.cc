// Fuzz target: the READDIR pipeline past the host: the getdents64 parser
// (DirentParser, dir_reader.h) over arbitrary bytes, each entry then encoded as
// a fuse_dirent by DirentEncoder (dirent_encoder.h) into a reply of a budget the
// input picks. Besides ASan watching every read (the input is an exact-size copy
// made by the engine or the replay main) and every write (the reply is an
// exact-size allocation), each produced entry is checked against the bytes
// themselves:
//   - its record lies inside the buffer, right after the previous one;
//   - d_ino, d_off and d_type are the record's bytes;
//   - the name is non-empty, starts right after the 19-byte header, has no NUL,
//     and is followed by a NUL inside its record (so inside the buffer);
//   - consumed() is the sum of the record lengths produced; when the walk stops
//     before the end of the buffer, malformed() says so, and the parser stays
//     stopped;
// and the reply against a model of the encoder written here: one record per
// entry with a listable name (non-empty, at most NAME_MAX, no '/' or NUL; the
// others skipped), each fuse_dirent carrying the entry's ino, off, type and name,
// zero-padded to 8 bytes; the first entry that does not fit ends the reply, and
// it really does not fit.
#include <linux/fuse.h>

#include <cstdint>
#include <cstring>
#include <span>
#include <string_view>
#include <vector>

#include "core/fuse/dirent_encoder.h"
#include "core/fuse/reader_writer.h"
#include "core/fuse/request_decoder.h"
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

bool listable(std::string_view name) {
  return !name.empty() && name.size() <= pfs::fuse::kNameMax &&
         name.find('/') == std::string_view::npos && name.find('\0') == std::string_view::npos;
}

// What DirentEncoder must have written for `e` at `reply[at..]`.
void check_record(const std::vector<uint8_t>& reply, size_t at, const pfs::fuse::DirEntry& e,
                  size_t index) {
  const size_t end = at + FUSE_DIRENT_ALIGN(sizeof(fuse_dirent) + e.name.size());
  if (end > reply.size()) oracle_fail("record %zu ends at %zu, past the reply", index, end);
  const auto d = load<fuse_dirent>(reply.data() + at);
  if (d.ino != e.ino || d.off != e.offset || d.type != e.type || d.namelen != e.name.size())
    oracle_fail("record %zu: ino/off/type/namelen differ from the entry", index);
  const uint8_t* name = reply.data() + at + sizeof(fuse_dirent);
  if (std::memcmp(name, e.name.data(), e.name.size()) != 0)
    oracle_fail("record %zu: name differs from the entry", index);
  for (const uint8_t* p = name + e.name.size(); p < reply.data() + end; ++p)
    if (*p != 0) oracle_fail("record %zu: padding not zero", index);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::span<const uint8_t> buf(data, size);
  pfs::passthrough::DirentParser parser(buf);
  // The reply's budget: from the input's size, so the same bytes always see the
  // same budget and some inputs run out of room.
  const size_t budget = size == 0 ? 0 : (size * 2654435761u) % (2 * size + 64);
  std::vector<uint8_t> reply(budget);
  pfs::fuse::Writer out(reply.data(), reply.size());
  pfs::fuse::DirentEncoder encoder(out, budget);
  size_t encoded_at = 0;  // the model's reply length
  size_t records = 0;
  bool reply_full = false;
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

    if (reply_full) continue;  // the producer stops at the first refusal
    const bool fits =
        encoded_at + FUSE_DIRENT_ALIGN(sizeof(fuse_dirent) + e->name.size()) <= budget;
    const bool added = encoder.add(*e);
    if (!listable(e->name)) {
      if (!added) oracle_fail("entry %zu: a skipped name stopped the reply", entries);
    } else if (added != fits) {
      oracle_fail("entry %zu: add() %s a record that %s", entries, added ? "took" : "refused",
                  fits ? "fits" : "does not fit");
    } else if (added) {
      check_record(reply, encoded_at, *e, records++);
      encoded_at += FUSE_DIRENT_ALIGN(sizeof(fuse_dirent) + e->name.size());
    } else {
      reply_full = true;
    }
    if (encoder.bytes() != encoded_at || out.written() != encoded_at ||
        encoder.entries() != records || encoder.full() != reply_full) {
      oracle_fail("entry %zu: encoder says %zu bytes, %zu records, full %d; want %zu, %zu, %d",
                  entries, encoder.bytes(), encoder.entries(), encoder.full(), encoded_at, records,
                  reply_full);
    }
  }
  if (pos < size && !parser.malformed()) {
    oracle_fail("walk stopped at %zu of %zu bytes without reporting malformed()", pos, size);
  }
  if (pos == size && parser.malformed()) oracle_fail("malformed() after a complete walk");
  if (parser.next().has_value()) oracle_fail("the parser produced an entry after it stopped");
  return 0;
}
