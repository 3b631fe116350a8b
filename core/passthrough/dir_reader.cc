#include "core/passthrough/dir_reader.h"

#include <sys/syscall.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <string_view>

namespace pfs::passthrough {
namespace {

constexpr size_t kInoAt = 0;
constexpr size_t kOffAt = 8;
constexpr size_t kReclenAt = 16;
constexpr size_t kTypeAt = 18;

// Big enough for many entries per syscall; one entry is at most 280 bytes.
constexpr size_t kGetdentsBufferSize = 8192;

template <class T>
T load(const uint8_t* p) {
  T value;
  std::memcpy(&value, p, sizeof(value));  // records are not aligned for us
  return value;
}

}  // namespace

std::optional<fuse::DirEntry> DirentParser::next() {
  if (malformed_ || pos_ >= buf_.size()) return std::nullopt;
  const size_t remaining = buf_.size() - pos_;
  const uint8_t* rec = buf_.data() + pos_;
  if (remaining < kDirentHeaderSize + 1) {
    malformed_ = true;
    return std::nullopt;
  }
  const size_t reclen = load<uint16_t>(rec + kReclenAt);
  if (reclen < kDirentHeaderSize + 1 || reclen > remaining) {
    malformed_ = true;
    return std::nullopt;
  }
  // The kernel pads the name with NULs up to 8-byte alignment; the name ends at the
  // first one, which must lie inside this record.
  const uint8_t* name = rec + kDirentHeaderSize;
  const size_t name_room = reclen - kDirentHeaderSize;
  const void* nul = std::memchr(name, 0, name_room);
  if (nul == nullptr || nul == name) {
    malformed_ = true;
    return std::nullopt;
  }
  fuse::DirEntry entry;
  entry.ino = load<uint64_t>(rec + kInoAt);
  entry.offset = load<uint64_t>(rec + kOffAt);
  entry.type = rec[kTypeAt];
  entry.name = std::string_view(reinterpret_cast<const char*>(name),
                                static_cast<size_t>(static_cast<const uint8_t*>(nul) - name));
  pos_ += reclen;
  return entry;
}

Status read_dir(int dir_fd, uint64_t offset, fuse::DirSink& sink) {
  // Safe: lseek touches no memory; the result is checked. An offset beyond off_t
  // becomes negative and is refused by the kernel with EINVAL.
  if (::lseek(dir_fd, static_cast<off_t>(offset), SEEK_SET) < 0) return last_errno().value;

  alignas(8) std::array<uint8_t, kGetdentsBufferSize> buf;
  bool produced = false;
  for (;;) {
    // Safe: the kernel writes at most buf.size() bytes into `buf`; the result is
    // checked, and only the first `n` bytes are parsed.
    const long n = ::syscall(SYS_getdents64, static_cast<long>(dir_fd), buf.data(), buf.size());
    if (n < 0) return last_errno().value;
    if (n == 0) return kOk;
    const size_t used = static_cast<size_t>(n) <= buf.size() ? static_cast<size_t>(n) : buf.size();
    DirentParser parser(std::span<const uint8_t>(buf.data(), used));
    while (auto entry = parser.next()) {
      if (!sink.add(*entry)) return kOk;
      produced = true;
    }
    if (parser.malformed()) return produced ? kOk : EIO;
  }
}

}  // namespace pfs::passthrough
