#include "core/fuse/dirent_encoder.h"

#include <array>
#include <cstring>

#include "core/fuse/reply_encoder.h"
#include "core/fuse/request_decoder.h"

namespace pfs::fuse {
namespace {

constexpr size_t kDirentHeader = sizeof(fuse_dirent);
constexpr size_t kDirentPlusHeader = sizeof(fuse_direntplus);
constexpr size_t kMaxRecord = kDirentPlusHeader + kNameMax + 8;

// A name the kernel accepts in a dirent (it answers EIO to an empty or too long
// one) that cannot smuggle a path.
bool listable(std::string_view name) {
  return !name.empty() && name.size() <= kNameMax &&
         name.find_first_of(std::string_view("/\0", 2)) == std::string_view::npos;
}

// Fills rec[at..] with the fuse_dirent and name, zero padding included; returns
// the record end.
size_t put_dirent(std::array<uint8_t, kMaxRecord>& rec, size_t at, const DirEntry& e) {
  const fuse_dirent d{e.ino, e.offset, static_cast<uint32_t>(e.name.size()), e.type};
  std::memcpy(rec.data() + at, &d, kDirentHeader);
  std::memcpy(rec.data() + at + kDirentHeader, e.name.data(), e.name.size());
  const size_t end = at + FUSE_DIRENT_ALIGN(kDirentHeader + e.name.size());
  std::memset(rec.data() + at + kDirentHeader + e.name.size(), 0,
              end - (at + kDirentHeader + e.name.size()));
  return end;
}

}  // namespace

size_t dirent_size(size_t namelen) { return FUSE_DIRENT_ALIGN(kDirentHeader + namelen); }
size_t direntplus_size(size_t namelen) { return FUSE_DIRENT_ALIGN(kDirentPlusHeader + namelen); }

bool DirentEncoder::add(const DirEntry& e) {
  if (!listable(e.name)) return true;  // skipped, not a reason to stop
  const size_t size = dirent_size(e.name.size());
  if (size > budget_ - used_) {
    full_ = true;
    return false;
  }
  std::array<uint8_t, kMaxRecord> rec;
  put_dirent(rec, 0, e);
  if (!out_.write(rec.data(), size)) {
    full_ = true;
    return false;
  }
  used_ += size;
  ++entries_;
  return true;
}

bool DirentPlusEncoder::add(const DirEntry& e) {
  if (!listable(e.name)) return true;
  const size_t size = direntplus_size(e.name.size());
  if (size > budget_ - used_) {
    full_ = true;
    return false;
  }

  fuse_entry_out eo{};
  if (e.name != "." && e.name != ".." && check_entry_name(e.name) == 0) {
    // The name must be NUL-terminated for the FS; the producer's view may not be.
    std::array<char, kNameMax + 1> name{};
    std::memcpy(name.data(), e.name.data(), e.name.size());
    Result<Entry> r = fs_.lookup(ctx_, dir_, std::string_view(name.data(), e.name.size()));
    if (r.ok()) eo = to_entry_out(*r);
  }

  std::array<uint8_t, kMaxRecord> rec;
  std::memcpy(rec.data(), &eo, sizeof(eo));
  put_dirent(rec, sizeof(eo), e);
  if (!out_.write(rec.data(), size)) {
    if (eo.nodeid != 0) fs_.forget(ctx_, eo.nodeid, 1);
    full_ = true;
    return false;
  }
  used_ += size;
  ++entries_;
  return true;
}

}  // namespace pfs::fuse
