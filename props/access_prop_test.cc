// Property 4: access(). For random modes (12 bits), owners, callers and masks, FUSE
// ACCESS through the server on a real file (or directory) equals a model of the
// seed's rule, and agrees with the kernel's own faccessat(..., AT_EACCESS) run in a
// thread under the caller's credentials, except where the seed's rule differs from
// the kernel on purpose:
//
//  * Non-root: the seed grants a permission when ANY class that applies to the
//    caller has the bit (owner bit if the caller owns it, group bit if its gid
//    matches, other bit always). The kernel uses ONLY the caller's own class
//    (owner, else group, else other), so e.g. an owner of a 0077 file is refused
//    by the kernel but allowed by the seed. Only ever in that direction: the seed
//    is more permissive, never less.
//  * Root: the seed always grants R/W and X when any x bit is set, exactly as the
//    kernel does for regular files; for directories the kernel also grants X
//    (search) with no x bit at all (CAP_DAC_OVERRIDE), the seed does not.
//
// Supplementary groups are dropped in the checking thread (a raw setgroups, which
// is per-thread, unlike glibc's), so only the caller's gid takes part, as in the
// seed. The scratch directory is 0755 so path resolution is never what is tested.
//
// Rerun a failure with RC_PARAMS="seed=..." (see props/CMakeLists.txt).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/fuse.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <ios>
#include <ostream>
#include <string>
#include <thread>
#include <vector>

#include "core/fuse/server.h"
#include "core/passthrough/credentials.h"
#include "core/passthrough/passthrough_fs.h"
#include "core/tests/scratch_dir.h"
#include "core/transport/memory/reply.h"
#include "core/transport/memory/request_builder.h"
#include "core/transport/memory/session.h"

namespace {

namespace mem = pfs::transport::memory;
namespace req = pfs::transport::memory::req;

struct Case {
  bool dir = false;
  mode_t mode = 0;  // 12 permission bits
  uint32_t owner = 0, group = 0;
  uint32_t uid = 0, gid = 0;  // the caller
  uint32_t mask = 0;          // F_OK or R_OK|W_OK|X_OK bits
};

// The seed's rule (passthrough.rs `access`), transcribed as written there.
int seed_model(const Case& c) {
  const uint32_t m = c.mode;
  const uint32_t mode = c.mask & (R_OK | W_OK | X_OK);
  if (mode == F_OK) return 0;
  if ((mode & R_OK) != 0 && c.uid != 0 && (c.owner != c.uid || (m & 0400) == 0) &&
      (c.group != c.gid || (m & 0040) == 0) && (m & 0004) == 0) {
    return EACCES;
  }
  if ((mode & W_OK) != 0 && c.uid != 0 && (c.owner != c.uid || (m & 0200) == 0) &&
      (c.group != c.gid || (m & 0020) == 0) && (m & 0002) == 0) {
    return EACCES;
  }
  if ((mode & X_OK) != 0 && (c.uid != 0 || (m & 0111) == 0) &&
      (c.owner != c.uid || (m & 0100) == 0) && (c.group != c.gid || (m & 0010) == 0) &&
      (m & 0001) == 0) {
    return EACCES;
  }
  return 0;
}

// Where the seed is knowingly not the kernel (see the top of the file).
bool documented_divergence(const Case& c) {
  const uint32_t want = c.mask & 7;
  if (c.uid == 0) return c.dir && (want & X_OK) != 0 && (c.mode & 0111) == 0;
  const uint32_t own_class = c.uid == c.owner   ? (c.mode >> 6) & 7
                             : c.gid == c.group ? (c.mode >> 3) & 7
                                                : c.mode & 7;
  uint32_t any_class = c.mode & 7;
  if (c.uid == c.owner) any_class |= (c.mode >> 6) & 7;
  if (c.gid == c.group) any_class |= (c.mode >> 3) & 7;
  // The union of the classes grants everything wanted, the caller's own class
  // does not.
  return (want & ~any_class) == 0 && (want & ~own_class) != 0;
}

// faccessat(dirfd, name, mask, AT_EACCESS) in a fresh thread running as uid/gid
// with no supplementary groups. Returns 0 or the errno.
int kernel_access(int dirfd, const char* name, const Case& c) {
  int result = -1;
  std::thread t([&] {
    std::vector<gid_t> saved(64);
    const int n = ::getgroups(static_cast<int>(saved.size()), saved.data());
    if (n < 0) return;
    saved.resize(static_cast<size_t>(n));
    // Raw syscall: per-thread (glibc's setgroups would change every thread).
    if (::syscall(SYS_setgroups, 0, nullptr) != 0) return;
    {
      auto creds = pfs::passthrough::ScopedCredentials::set(c.uid, c.gid);
      if (creds.ok()) {
        result = ::faccessat(dirfd, name, static_cast<int>(c.mask), AT_EACCESS) == 0 ? 0 : errno;
      }
    }
    ::syscall(SYS_setgroups, saved.size(), saved.data());
  });
  t.join();
  return result;
}

RC_GTEST_PROP(Access, EmulationMatchesSeedModelAndKernel, ()) {
  Case c;
  c.dir = *rc::gen::arbitrary<bool>();
  c.mode = *rc::gen::inRange<mode_t>(0, 010000);
  c.owner = *rc::gen::element<uint32_t>(0, 1000, 1001);
  c.group = *rc::gen::element<uint32_t>(0, 1000, 1001, 2000);
  // The caller is often the owner or in the group, so every class gets exercised.
  c.uid = *rc::gen::oneOf(rc::gen::element<uint32_t>(0, 1000, 1001, 2000), rc::gen::just(c.owner));
  c.gid = *rc::gen::oneOf(rc::gen::element<uint32_t>(0, 1000, 1001, 2000), rc::gen::just(c.group));
  c.mask = *rc::gen::inRange<uint32_t>(0, 8);
  RC_LOG() << (c.dir ? "dir" : "file") << " mode 0" << std::oct << c.mode << std::dec << " owner "
           << c.owner << ":" << c.group << ", caller " << c.uid << ":" << c.gid << ", mask "
           << c.mask << "\n";

  pfs::testing::ScratchDir dir("pfs-prop-access");
  RC_ASSERT(dir.ok());
  RC_ASSERT(::chmod(dir.path().c_str(), 0755) == 0);
  const char* name = c.dir ? "d" : "f";
  const std::string path = dir / name;
  if (c.dir) {
    RC_ASSERT(::mkdir(path.c_str(), 0700) == 0);
  } else {
    const int fd = ::open(path.c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
    RC_ASSERT(fd >= 0);
    ::close(fd);
  }
  // chown first: it would clear set-id bits that chmod sets.
  RC_ASSERT(::chown(path.c_str(), c.owner, c.group) == 0);
  RC_ASSERT(::chmod(path.c_str(), c.mode) == 0);
  struct stat st {};
  RC_ASSERT(::lstat(path.c_str(), &st) == 0);
  RC_ASSERT((st.st_mode & 07777) == c.mode);

  pfs::passthrough::Config cfg;
  cfg.root_dir = dir.path();
  auto fs = pfs::passthrough::PassthroughFs::create(cfg);
  RC_ASSERT(fs.ok());
  pfs::fuse::Server server(**fs);
  mem::Session session(server);
  RC_ASSERT(session.init().ok());
  const mem::Reply look = session.run(req::lookup(1, name));
  RC_ASSERT(look.ok());
  const uint64_t node = look.as<fuse_entry_out>()->nodeid;

  const pfs::fuse::Context ctx{c.uid, c.gid, static_cast<uint32_t>(::getpid()), 7};
  const mem::Reply r = session.run(req::access(node, c.mask, ctx));
  RC_ASSERT(r.replied);
  const int emulated = r.error();

  RC_ASSERT(emulated == seed_model(c));

  const int dirfd = ::open(dir.path().c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
  RC_ASSERT(dirfd >= 0);
  const int kernel = kernel_access(dirfd, name, c);
  ::close(dirfd);
  RC_ASSERT(kernel == 0 || kernel == EACCES);

  if (documented_divergence(c)) {
    RC_TAG("documented divergence");
    // Never in the dangerous direction for non-root: the seed only grants more.
    if (c.uid != 0) RC_ASSERT(emulated == 0 && kernel == EACCES);
    if (c.uid == 0) RC_ASSERT(emulated == EACCES && kernel == 0);
  } else {
    RC_TAG(c.uid == 0 ? "root, equals kernel" : "non-root, equals kernel");
    RC_ASSERT(emulated == kernel);
  }
}

}  // namespace
