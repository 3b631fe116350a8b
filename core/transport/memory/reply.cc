#include "core/transport/memory/reply.h"

namespace pfs::transport::memory {
namespace {

// One record at `at`: its dirent and the offset of the next record.
bool parse_one(std::span<const uint8_t> p, size_t at, size_t dirent_at, Dirent& out, size_t& next) {
  if (p.size() < dirent_at || p.size() - dirent_at < sizeof(fuse_dirent)) return false;
  fuse_dirent d{};
  std::memcpy(&d, p.data() + dirent_at, sizeof(d));
  const size_t name_at = dirent_at + sizeof(fuse_dirent);
  if (d.namelen > p.size() - name_at) return false;
  const size_t end = at + FUSE_DIRENT_ALIGN(name_at - at + d.namelen);
  if (end > p.size()) return false;
  out.name.assign(reinterpret_cast<const char*>(p.data() + name_at), d.namelen);
  out.ino = d.ino;
  out.off = d.off;
  out.type = d.type;
  next = end;
  return true;
}

}  // namespace

std::optional<std::vector<Dirent>> parse_dirents(std::span<const uint8_t> p) {
  std::vector<Dirent> out;
  size_t at = 0;
  while (at < p.size()) {
    Dirent d;
    size_t next = 0;
    if (!parse_one(p, at, at, d, next)) return std::nullopt;
    out.push_back(std::move(d));
    at = next;
  }
  return out;
}

std::optional<std::vector<DirentPlus>> parse_direntplus(std::span<const uint8_t> p) {
  std::vector<DirentPlus> out;
  size_t at = 0;
  while (at < p.size()) {
    DirentPlus d;
    if (p.size() - at < sizeof(fuse_entry_out)) return std::nullopt;
    std::memcpy(&d.entry, p.data() + at, sizeof(d.entry));
    size_t next = 0;
    if (!parse_one(p, at, at + sizeof(fuse_entry_out), d.dirent, next)) return std::nullopt;
    out.push_back(std::move(d));
    at = next;
  }
  return out;
}

std::optional<std::vector<Dirent>> Reply::dirents() const { return parse_dirents(payload); }
std::optional<std::vector<DirentPlus>> Reply::direntplus() const {
  return parse_direntplus(payload);
}

}  // namespace pfs::transport::memory
