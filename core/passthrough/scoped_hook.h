// Installs a test-only, thread-local hook for one scope and puts the previous one
// back after, so hooks nest. Each module that has a hook exposes its thread-local
// slot through a function and names its own alias of this template.
#pragma once

#include <utility>

namespace pfs::passthrough {

template <typename Hook, Hook& (*Slot)()>
class ScopedHook {
 public:
  explicit ScopedHook(Hook hook) : previous_(std::exchange(Slot(), std::move(hook))) {}
  ~ScopedHook() { Slot() = std::move(previous_); }
  ScopedHook(const ScopedHook&) = delete;
  ScopedHook& operator=(const ScopedHook&) = delete;

 private:
  Hook previous_;
};

}  // namespace pfs::passthrough
