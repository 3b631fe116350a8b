#include "core/passthrough/temp_dir.h"

#include <fcntl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <span>

#include "core/passthrough/dir_reader.h"

namespace pfs::passthrough {
namespace {

constexpr int kMaxAttempts = 64;
constexpr size_t kRandomChars = 6;

// The errno to fake for `step`, or 0 to run the real syscall.
int injected_fault(TempDirStep step) {
  TempDirFaultHook& hook = temp_dir_fault_hook_slot();
  return hook ? hook(step) : 0;
}

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

bool is_empty_directory(int dir_fd) {
  alignas(8) uint8_t buf[1024];
  for (;;) {
    // Safe: the kernel writes at most sizeof(buf) bytes; the result is checked.
    const long n = ::syscall(SYS_getdents64, dir_fd, buf, sizeof(buf));
    if (n <= 0) return n == 0;
    DirentParser parser(std::span<const uint8_t>(buf, static_cast<size_t>(n)));
    while (auto entry = parser.next()) {
      if (entry->name != "." && entry->name != "..") return false;
    }
    if (parser.malformed()) return false;
  }
}

// Checks that the directory `fd`, just opened by the name we gave to mkdirat, is
// the one mkdirat made: a directory on the parent's file system, owned by this
// thread's euid, empty. A guest thread can swap the name for another directory of
// the share (RENAME_EXCHANGE) between our two calls; the caller is about to give
// the directory away (fchown), so anything but a fresh empty one of ours is refused.
Result<InodeKey> verify_fresh_directory(int parent_fd, int fd) {
  struct stat parent {};
  struct stat st {};
  // Safe: fstatat/fstat only write the struct; results checked.
  if (::fstatat(parent_fd, "", &parent, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) != 0 ||
      ::fstat(fd, &st) != 0) {
    return last_errno();
  }
  if (!S_ISDIR(st.st_mode) || st.st_dev != parent.st_dev || st.st_uid != ::geteuid() ||
      !is_empty_directory(fd)) {
    return Errno{EIO};
  }
  return InodeKey{st.st_ino, st.st_dev};
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
    ScopedFd fd;
    if (err == 0) {
      // Safe: openat only reads the name; the result is owned at once. O_NOFOLLOW: a
      // guest thread may have exchanged the name with a symlink since the mkdirat.
      fd.reset(::openat(parent_fd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
      if (!fd.valid()) err = last_errno().value;
    }
    if (err == ELOOP || err == ENOTDIR) {
      // The name no longer holds our directory (it was swapped for a symlink or a
      // file): whatever is there now is not ours to remove.
      return Errno{EIO};
    }
    if (err != 0) {
      // Safe: removes only an empty directory, which the name still holds.
      if (::unlinkat(parent_fd, name.c_str(), AT_REMOVEDIR) != 0) {
        std::fprintf(stderr, "pfs: failed to remove temporary directory %s: %s\n", name.c_str(),
                     std::strerror(errno));
      }
      return Errno{err};
    }
    auto made = verify_fresh_directory(parent_fd, fd.get());
    if (!made) return Errno{made.error()};
    return TempDir(parent_fd, std::move(name), std::move(fd), *made);
  }
  return Errno{EEXIST};
}

TempDir::~TempDir() { remove(); }

TempDir::TempDir(TempDir&& other) noexcept
    : parent_fd_(std::exchange(other.parent_fd_, -1)),
      name_(std::move(other.name_)),
      fd_(std::move(other.fd_)),
      key_(other.key_) {
  other.name_.clear();
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
  struct stat st {};
  // Safe: fstatat only writes `st`. Remove the name only while it still holds the
  // directory we made: a racing client may have swapped it for one of its own.
  if (err == 0 && ::fstatat(parent_fd_, name_.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
    err = last_errno().value;
  }
  if (err == 0 && (st.st_ino != key_.ino || st.st_dev != key_.dev)) err = ESTALE;
  // Safe: unlinkat only reads the name and removes an empty directory at most.
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

TempDirFaultHook& temp_dir_fault_hook_slot() {
  thread_local TempDirFaultHook hook;
  return hook;
}

}  // namespace pfs::passthrough
