// PassthroughFs as the sandbox runs it: the shared directory is "/" (chroot here, as
// --sandbox chroot does) and the core holds an fd of /proc/self opened before. Every
// /proc access must go through that fd: an absolute /proc path would resolve inside
// the share, where a guest can plant `proc/thread-self/attr/fscreate` and have the
// server (root, DAC_OVERRIDE) write a security context into a file of its choice.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>

#include "core/passthrough/passthrough_fs.h"
#include "core/passthrough/scoped_fd.h"
#include "scratch_dir.h"

namespace pfs::passthrough {
namespace {

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// In a child: chroot into `share` and MKDIR "d" with a security context, on a fresh
// thread (the fscreate fd is per thread). Exits with the MKDIR's errno (0: made).
[[noreturn]] void chrooted_mkdir_with_context(const std::string& share) {
  ScopedFd root(::open(share.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  ScopedFd proc(::open("/proc/self", O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!root.valid() || !proc.valid() || ::chroot(share.c_str()) != 0 || ::chdir("/") != 0) {
    ::_exit(100);
  }
  Config cfg;
  cfg.root_dir = "/";
  auto fs = PassthroughFs::create_from_fds(cfg, std::move(root), std::move(proc));
  if (!fs || !(*fs)->init(fuse::FsOptions{})) ::_exit(101);
  int err = 0;
  std::thread([&] {
    fuse::Context ctx;
    auto made = (*fs)->mkdir(ctx, fuse::kRootInode, "d", 0755, 0, "system_u:object_r:tmp_t:s0");
    err = made ? 0 : made.error();
  }).join();
  ::_exit(err);
}

bool selinux_enabled() {
  struct stat st {};
  return ::stat("/sys/fs/selinux/enforce", &st) == 0;
}

TEST(PassthroughConfinedProc, SecurityContextGoesToTheRealProcNotToTheShare) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root (chroot)";
  testing::ScratchDir share("pfs-confined-proc");
  ASSERT_TRUE(share.ok());
  // What a guest can make in the share: a look-alike of /proc/thread-self/attr.
  ASSERT_EQ(::mkdir((share / "proc").c_str(), 0755), 0);
  ASSERT_EQ(::mkdir((share / "proc/thread-self").c_str(), 0755), 0);
  ASSERT_EQ(::mkdir((share / "proc/thread-self/attr").c_str(), 0755), 0);
  const std::string planted = share / "proc/thread-self/attr/fscreate";
  { std::ofstream(planted) << "untouched"; }

  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) chrooted_mkdir_with_context(share.path());
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status)) << status;
  const int err = WEXITSTATUS(status);
  ASSERT_LT(err, 100) << "the child could not set up the chroot (" << err << ")";

  EXPECT_EQ(read_file(planted), "untouched") << "the server wrote the context into the share";
  if (!selinux_enabled()) {
    // The real fscreate refuses a context without an LSM that takes it: no directory.
    EXPECT_EQ(err, EINVAL);
    struct stat st {};
    EXPECT_NE(::stat((share / "d").c_str(), &st), 0);
  }
}

}  // namespace
}  // namespace pfs::passthrough
