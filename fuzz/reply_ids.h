// What a successful FUSE reply hands out to the client (node ids, handles), for the
// harness parts that follow them: the id map (id_map.h) and the table oracle
// (table_oracle.h).
#pragma once

#include <linux/fuse.h>

#include <cstdint>
#include <cstring>
#include <span>

namespace pfs::fuzz {

enum class HandsOut {
  kNothing,
  kEntry,           // fuse_entry_out
  kEntryAndHandle,  // fuse_entry_out, fuse_open_out
  kHandle,          // fuse_open_out
  kDirentPlus,      // fuse_direntplus records
};

inline HandsOut hands_out(uint32_t opcode) {
  switch (opcode) {
    case FUSE_LOOKUP:
    case FUSE_MKNOD:
    case FUSE_MKDIR:
    case FUSE_SYMLINK:
    case FUSE_LINK:
      return HandsOut::kEntry;
    case FUSE_CREATE:
    case FUSE_TMPFILE:
      return HandsOut::kEntryAndHandle;
    case FUSE_OPEN:
    case FUSE_OPENDIR:
      return HandsOut::kHandle;
    case FUSE_READDIRPLUS:
      return HandsOut::kDirentPlus;
    default:
      return HandsOut::kNothing;
  }
}

// Calls fn(nodeid) for each whole fuse_direntplus record of a READDIRPLUS payload
// (records: entry_out, dirent, name, padded to 8).
template <class Fn>
void for_each_direntplus_node(std::span<const uint8_t> payload, Fn&& fn) {
  size_t at = 0;
  while (payload.size() - at >= sizeof(fuse_direntplus)) {
    fuse_direntplus d{};
    std::memcpy(&d, payload.data() + at, sizeof(d));
    fn(d.entry_out.nodeid);
    const size_t len = FUSE_DIRENTPLUS_SIZE(&d);
    if (len > payload.size() - at) break;
    at += len;
  }
}

}  // namespace pfs::fuzz
