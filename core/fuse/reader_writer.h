// Bounds-checked cursors over a list of (pointer, length) segments.
//
// A transport hands the server one Reader over the request bytes and one Writer
// over the reply space. For /dev/fuse both are a single buffer; for virtio-fs they
// are the readable and writable descriptors of a chain, pointing into guest memory.
// Every read and write is checked against the bytes that are actually there.
#pragma once

#include <sys/types.h>
#include <sys/uio.h>

#include <cstddef>
#include <cstdint>
#include <span>
#include <type_traits>

#include "core/fuse/result.h"

namespace pfs::fuse {

// Up to this many segments per request or reply (a virtqueue chain is bounded by
// the queue size; longer lists are truncated by the transport).
inline constexpr size_t kMaxSegments = 1024;

class Reader {
 public:
  Reader() = default;
  explicit Reader(std::span<const iovec> segments);
  Reader(const void* data, size_t len);
  // Not copyable: a single-buffer Reader points into itself.
  Reader(const Reader&) = delete;
  Reader& operator=(const Reader&) = delete;

  // Bytes not yet consumed.
  size_t available() const { return available_; }
  // Bytes consumed so far.
  size_t consumed() const { return consumed_; }

  // Copies exactly `len` bytes, or nothing (returns false) when fewer remain.
  bool read_exact(void* out, size_t len);
  template <class T>
  bool read_obj(T& out) {
    static_assert(std::is_trivially_copyable_v<T>);
    return read_exact(&out, sizeof(T));
  }
  // Skips `len` bytes, or nothing (returns false) when fewer remain.
  bool skip(size_t len);
  // Limits the remaining bytes to `len` (no-op when fewer remain).
  void truncate(size_t len);

  // Zero-copy: pwritev() up to `count` bytes of the remaining request straight to
  // `fd` at `offset`. Consumes what was written. Returns the byte count or the errno.
  Result<size_t> write_to_fd(int fd, size_t count, off_t offset);

  // Copies the remaining segments (up to kMaxSegments, at most `count` bytes) into
  // `out`; returns how many iovecs were filled.
  size_t peek_iovecs(size_t count, std::span<iovec> out) const;

 private:
  void advance(size_t len);

  const iovec* segs_ = nullptr;
  size_t nsegs_ = 0;
  size_t seg_ = 0;      // current segment
  size_t seg_off_ = 0;  // offset inside it
  size_t available_ = 0;
  size_t consumed_ = 0;
  iovec single_{};
};

class Writer {
 public:
  Writer() = default;
  explicit Writer(std::span<const iovec> segments);
  Writer(void* data, size_t len);
  Writer(const Writer&) = delete;
  Writer& operator=(const Writer&) = delete;

  size_t available() const { return available_; }
  size_t written() const { return written_; }

  // Appends exactly `len` bytes, or nothing (returns false) when they do not fit.
  bool write(const void* data, size_t len);
  template <class T>
  bool write_obj(const T& obj) {
    static_assert(std::is_trivially_copyable_v<T>);
    return write(&obj, sizeof(T));
  }
  // Appends `len` zero bytes, or nothing when they do not fit.
  bool write_zeros(size_t len);
  // Overwrites bytes already written at `offset` (from the start of the reply).
  bool patch(size_t offset, const void* data, size_t len);

  // Zero-copy: preadv() up to `count` bytes from `fd` at `offset` straight into the
  // reply space. Returns the byte count (short at EOF) or the errno.
  Result<size_t> read_from_fd(int fd, size_t count, off_t offset);

 private:
  void advance(size_t len);

  const iovec* segs_ = nullptr;
  size_t nsegs_ = 0;
  size_t seg_ = 0;
  size_t seg_off_ = 0;
  size_t available_ = 0;
  size_t written_ = 0;
  iovec single_{};
};

}  // namespace pfs::fuse
