#include "core/fuse/reader_writer.h"

#include <algorithm>
#include <array>
#include <climits>
#include <cstring>

namespace pfs::fuse {
namespace {

size_t total_len(std::span<const iovec> segs) {
  size_t total = 0;
  for (const iovec& s : segs) {
    // Saturate rather than wrap: a hostile segment list cannot make the total small.
    total = (s.iov_len > SIZE_MAX - total) ? SIZE_MAX : total + s.iov_len;
  }
  return total;
}

// Fills `out` with the segments from (seg, seg_off), at most `count` bytes.
size_t gather(const iovec* segs, size_t nsegs, size_t seg, size_t seg_off, size_t count,
              std::span<iovec> out) {
  size_t n = 0;
  while (seg < nsegs && count > 0 && n < out.size()) {
    const size_t here = segs[seg].iov_len - seg_off;
    if (here > 0) {
      const size_t take = std::min(here, count);
      out[n].iov_base = static_cast<char*>(segs[seg].iov_base) + seg_off;
      out[n].iov_len = take;
      ++n;
      count -= take;
    }
    ++seg;
    seg_off = 0;
  }
  return n;
}

}  // namespace

Reader::Reader(std::span<const iovec> segments)
    : segs_(segments.data()),
      nsegs_(std::min(segments.size(), kMaxSegments)),
      available_(total_len(segments.first(nsegs_))) {}

Reader::Reader(const void* data, size_t len)
    : segs_(&single_), nsegs_(1), available_(len), single_{const_cast<void*>(data), len} {}

void Reader::advance(size_t len) {
  available_ -= len;
  consumed_ += len;
  while (len > 0 && seg_ < nsegs_) {
    const size_t here = segs_[seg_].iov_len - seg_off_;
    if (len < here) {
      seg_off_ += len;
      return;
    }
    len -= here;
    ++seg_;
    seg_off_ = 0;
  }
  // Skip empty segments so that seg_ points at real data.
  while (seg_ < nsegs_ && segs_[seg_].iov_len == seg_off_) {
    ++seg_;
    seg_off_ = 0;
  }
}

bool Reader::read_exact(void* out, size_t len) {
  if (len > available_) return false;
  // Fast path (most reads: a header or a body inside one segment), with the fewest
  // comparisons: under the fuzzers every one of them is a traced call.
  if (len != 0 && seg_ < nsegs_ && len < segs_[seg_].iov_len - seg_off_) {
    std::memcpy(out, static_cast<const char*>(segs_[seg_].iov_base) + seg_off_, len);
    seg_off_ += len;
    available_ -= len;
    consumed_ += len;
    return true;
  }
  auto* dst = static_cast<char*>(out);
  size_t left = len;
  size_t seg = seg_, off = seg_off_;
  while (left > 0) {
    const size_t take = std::min(left, segs_[seg].iov_len - off);
    if (take > 0) std::memcpy(dst, static_cast<const char*>(segs_[seg].iov_base) + off, take);
    dst += take;
    left -= take;
    ++seg;
    off = 0;
  }
  advance(len);
  return true;
}

bool Reader::skip(size_t len) {
  if (len > available_) return false;
  advance(len);
  return true;
}

void Reader::truncate(size_t len) {
  if (len >= available_) return;
  // Shrink the view: remember the limit by trimming the count only; reads check
  // available_, so bytes past it are unreachable.
  available_ = len;
}

size_t Reader::peek_iovecs(size_t count, std::span<iovec> out) const {
  return gather(segs_, nsegs_, seg_, seg_off_, std::min(count, available_), out);
}

// One pwritev/preadv takes every remaining segment: a virtio-fs guest sends each page
// of a 1 MiB write as its own descriptor (256+ segments), and a transfer cut at a
// smaller batch is a short write/read the guest kernel must retry (or, for a
// readahead, reads as end of file). kMaxSegments is IOV_MAX, so this never truncates.
using SegmentIovecs = std::array<iovec, kMaxSegments>;
static_assert(kMaxSegments <= IOV_MAX, "one preadv/pwritev must take every segment");

Result<size_t> Reader::write_to_fd(int fd, size_t count, off_t offset) {
  SegmentIovecs iov;
  const size_t n = peek_iovecs(count, iov);
  if (n == 0) return size_t{0};
  // Safety: the iovecs point into the request segments, which are readable for
  // their whole length; pwritev only reads them. The result is checked.
  const ssize_t ret = ::pwritev(fd, iov.data(), static_cast<int>(n), offset);
  if (ret < 0) return last_errno();
  advance(static_cast<size_t>(ret));
  return static_cast<size_t>(ret);
}

Writer::Writer(std::span<const iovec> segments)
    : segs_(segments.data()),
      nsegs_(std::min(segments.size(), kMaxSegments)),
      available_(total_len(segments.first(nsegs_))) {}

Writer::Writer(void* data, size_t len)
    : segs_(&single_), nsegs_(1), available_(len), single_{data, len} {}

void Writer::advance(size_t len) {
  available_ -= len;
  written_ += len;
  while (len > 0 && seg_ < nsegs_) {
    const size_t here = segs_[seg_].iov_len - seg_off_;
    if (len < here) {
      seg_off_ += len;
      return;
    }
    len -= here;
    ++seg_;
    seg_off_ = 0;
  }
  while (seg_ < nsegs_ && segs_[seg_].iov_len == seg_off_) {
    ++seg_;
    seg_off_ = 0;
  }
}

bool Writer::write(const void* data, size_t len) {
  if (len > available_) return false;
  // Fast path, as Reader::read_exact.
  if (len != 0 && seg_ < nsegs_ && len < segs_[seg_].iov_len - seg_off_) {
    std::memcpy(static_cast<char*>(segs_[seg_].iov_base) + seg_off_, data, len);
    seg_off_ += len;
    available_ -= len;
    written_ += len;
    return true;
  }
  const auto* src = static_cast<const char*>(data);
  size_t left = len;
  size_t seg = seg_, off = seg_off_;
  while (left > 0) {
    const size_t take = std::min(left, segs_[seg].iov_len - off);
    if (take > 0) std::memcpy(static_cast<char*>(segs_[seg].iov_base) + off, src, take);
    src += take;
    left -= take;
    ++seg;
    off = 0;
  }
  advance(len);
  return true;
}

bool Writer::write_zeros(size_t len) {
  if (len > available_) return false;
  size_t left = len;
  size_t seg = seg_, off = seg_off_;
  while (left > 0) {
    const size_t take = std::min(left, segs_[seg].iov_len - off);
    if (take > 0) std::memset(static_cast<char*>(segs_[seg].iov_base) + off, 0, take);
    left -= take;
    ++seg;
    off = 0;
  }
  advance(len);
  return true;
}

bool Writer::patch(size_t offset, const void* data, size_t len) {
  if (offset > written_ || len > written_ - offset) return false;
  const auto* src = static_cast<const char*>(data);
  size_t seg = 0;
  // Find the segment holding `offset`.
  while (seg < nsegs_ && offset >= segs_[seg].iov_len) {
    offset -= segs_[seg].iov_len;
    ++seg;
  }
  while (len > 0 && seg < nsegs_) {
    const size_t take = std::min(len, segs_[seg].iov_len - offset);
    if (take > 0) std::memcpy(static_cast<char*>(segs_[seg].iov_base) + offset, src, take);
    src += take;
    len -= take;
    ++seg;
    offset = 0;
  }
  return true;
}

Result<size_t> Writer::read_from_fd(int fd, size_t count, off_t offset) {
  SegmentIovecs iov;
  const size_t n = gather(segs_, nsegs_, seg_, seg_off_, std::min(count, available_), iov);
  if (n == 0) return size_t{0};
  // Safety: the iovecs cover only the unwritten reply space, which is writable for
  // its whole length; preadv writes at most that. The result is checked.
  const ssize_t ret = ::preadv(fd, iov.data(), static_cast<int>(n), offset);
  if (ret < 0) return last_errno();
  advance(static_cast<size_t>(ret));
  return static_cast<size_t>(ret);
}

}  // namespace pfs::fuse
