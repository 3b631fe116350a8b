// Errors as values: a Result<T> holds either a T or a positive errno.
#pragma once

#include <cerrno>
#include <utility>

namespace pfs {

// A positive errno value, wrapped so that it cannot be confused with a count.
struct Errno {
  int value;
};

// The current errno as an Errno; call right after a failed syscall.
inline Errno last_errno() { return Errno{errno != 0 ? errno : EIO}; }

template <class T>
class [[nodiscard]] Result {
 public:
  Result(T value) : value_(std::move(value)), err_(0) {}  // NOLINT(google-explicit-constructor)
  Result(Errno e)
      : value_(), err_(e.value > 0 ? e.value : EIO) {}  // NOLINT(google-explicit-constructor)

  bool ok() const { return err_ == 0; }
  explicit operator bool() const { return ok(); }
  // The positive errno; 0 when ok().
  int error() const { return err_; }
  T& value() & { return value_; }
  const T& value() const& { return value_; }
  T&& value() && { return std::move(value_); }
  T* operator->() { return &value_; }
  const T* operator->() const { return &value_; }
  T& operator*() & { return value_; }
  const T& operator*() const& { return value_; }

 private:
  T value_;
  int err_;
};

// For operations without a value: 0 on success or a positive errno.
using Status = int;
inline constexpr Status kOk = 0;

}  // namespace pfs
