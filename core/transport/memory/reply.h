// A captured reply and decoders for its payload.
#pragma once

#include <linux/fuse.h>

#include <cstdint>
#include <cstring>
#include <optional>
#include <span>
#include <string>
#include <type_traits>
#include <vector>

namespace pfs::transport::memory {

struct Dirent {
  std::string name;
  uint64_t ino = 0;
  uint64_t off = 0;
  uint32_t type = 0;
};

struct DirentPlus {
  Dirent dirent;
  fuse_entry_out entry{};
};

struct Reply {
  bool replied = false;  // handle() returned a non-zero size
  size_t size = 0;       // what handle() returned
  fuse_out_header header{};
  std::vector<uint8_t> payload;  // the bytes after the header, up to `size`

  // The positive errno (0 on success).
  int error() const { return -header.error; }
  bool ok() const { return replied && header.error == 0; }
  // The header is well formed: len equals the bytes returned.
  bool well_formed() const { return replied && header.len == size; }

  // The payload as a T when it is exactly sizeof(T) bytes.
  template <class T>
  std::optional<T> as() const {
    static_assert(std::is_trivially_copyable_v<T>);
    if (payload.size() != sizeof(T)) return std::nullopt;
    T v;
    std::memcpy(&v, payload.data(), sizeof(T));
    return v;
  }
  // The first sizeof(T) bytes at `offset`, whatever follows.
  template <class T>
  std::optional<T> at(size_t offset) const {
    static_assert(std::is_trivially_copyable_v<T>);
    if (offset > payload.size() || payload.size() - offset < sizeof(T)) return std::nullopt;
    T v;
    std::memcpy(&v, payload.data() + offset, sizeof(T));
    return v;
  }
  std::string payload_string() const { return std::string(payload.begin(), payload.end()); }

  // READDIR / READDIRPLUS payloads; nullopt when malformed (misaligned, truncated).
  std::optional<std::vector<Dirent>> dirents() const;
  std::optional<std::vector<DirentPlus>> direntplus() const;
};

std::optional<std::vector<Dirent>> parse_dirents(std::span<const uint8_t> payload);
std::optional<std::vector<DirentPlus>> parse_direntplus(std::span<const uint8_t> payload);

}  // namespace pfs::transport::memory
