#include "core/passthrough/temp_dir.h"

#include <fcntl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>

namespace pfs::passthrough {
namespace {

constexpr int kMaxAttempts = 64;
constexpr size_t kRandomChars = 6;

thread_local TempDirFaultHook t_fault_hook;

// The errno to fake for `step`, or 0 to run the real syscall.
int injected_fault(TempDirStep step) { return t_fault_hook ? t_fault_hook(step) : 0; }

// splitmix64: names need only be unlikely to collide, not unpredictable (a collision
// costs one retry, and the directory is created with mkdirat, never reused).
class NameRng {
 public:
  explicit NameRng(uint64_t seed) : state_(seed) {}
  char next_alnum() {
    static constexpr char kAlphabet[] =
        "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    return kAlphabet[next() % (sizeof(kAlphabet) - 1)];
  }

 private:
  uint64_t next() {
    uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  uint64_t state_;
};

Result<uint64_t> random_seed() {
  if (int e = injected_fault(TempDirStep::kRandomSeed)) return Errno{e};
  uint64_t seed = 0;
  // Safe: the kernel writes at most sizeof(seed) bytes into `seed`. 8 bytes from the
  // urandom pool never come back short once the pool is initialised.
  ssize_t n;
  do {
    n = ::getrandom(&seed, sizeof(seed), 0);
  } while (n < 0 && errno == EINTR);
  if (n < 0) return last_errno();
  if (static_cast<size_t>(n) != sizeof(seed)) return Errno{EIO};
  return seed;
}

}  // namespace

Result<TempDir> TempDir::create(int parent_fd, mode_t mode) {
  auto seed = random_seed();
  if (!seed) return Errno{seed.error()};
  NameRng rng(*seed);

  for (int attempt = 0; attempt < kMaxAttempts; ++attempt) {
    std::string name(1, '.');
    for (size_t i = 0; i < kRandomChars; ++i) name.push_back(rng.next_alnum());

    int err = injected_fault(TempDirStep::kMkdir);
    // Safe: mkdirat only reads the NUL-terminated name; the result is checked.
    if (err == 0 && ::mkdirat(parent_fd, name.c_str(), mode) != 0) err = last_errno().value;
    if (err == EEXIST) continue;
    if (err != 0) return Errno{err};

    err = injected_fault(TempDirStep::kOpen);
    int fd = -1;
    if (err == 0) {
      // Safe: openat only reads the name; the result is checked.
      fd = ::openat(parent_fd, name.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
      if (fd < 0) err = last_errno().value;
    }
    if (err != 0) {
      // Safe: removes only the (empty) directory we just made.
      if (::unlinkat(parent_fd, name.c_str(), AT_REMOVEDIR) != 0) {
        std::fprintf(stderr, "pfs: failed to remove temporary directory %s: %s\n", name.c_str(),
                     std::strerror(errno));
      }
      return Errno{err};
    }
    return TempDir(parent_fd, std::move(name), ScopedFd(fd));
  }
  return Errno{EEXIST};
}

TempDir::~TempDir() { remove(); }

TempDir::TempDir(TempDir&& other) noexcept
    : parent_fd_(std::exchange(other.parent_fd_, -1)),
      name_(std::move(other.name_)),
      fd_(std::move(other.fd_)) {
  other.name_.clear();
}

TempDir& TempDir::operator=(TempDir&& other) noexcept {
  if (this != &other) {
    remove();
    parent_fd_ = std::exchange(other.parent_fd_, -1);
    name_ = std::move(other.name_);
    other.name_.clear();
    fd_ = std::move(other.fd_);
  }
  return *this;
}

std::pair<std::string, ScopedFd> TempDir::into_inner() {
  parent_fd_ = -1;
  std::pair<std::string, ScopedFd> out(std::move(name_), std::move(fd_));
  name_.clear();
  return out;
}

void TempDir::remove() {
  if (!fd_.valid()) return;
  fd_.reset();
  int err = injected_fault(TempDirStep::kRemove);
  // Safe: unlinkat only reads the name; the result is checked and logged.
  if (err == 0 && ::unlinkat(parent_fd_, name_.c_str(), AT_REMOVEDIR) != 0) {
    err = last_errno().value;
  }
  if (err != 0) {
    std::fprintf(stderr, "pfs: failed to remove temporary directory %s: %s\n", name_.c_str(),
                 std::strerror(err));
  }
  parent_fd_ = -1;
  name_.clear();
}

ScopedTempDirFaultHook::ScopedTempDirFaultHook(TempDirFaultHook hook)
    : previous_(std::exchange(t_fault_hook, std::move(hook))) {}

ScopedTempDirFaultHook::~ScopedTempDirFaultHook() { t_fault_hook = std::move(previous_); }

}  // namespace pfs::passthrough
