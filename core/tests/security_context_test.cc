#include "core/passthrough/security_context.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <string>
#include <system_error>
#include <thread>

#include "core/passthrough/scoped_fd.h"

namespace pfs::passthrough {
namespace {

bool selinux_enabled() { return ::access("/sys/fs/selinux/enforce", F_OK) == 0; }

TEST(SecurityContext, EmptyIsNoOp) {
  auto ctx = ScopedSecurityContext::enter("");
  EXPECT_TRUE(ctx.ok());
}

TEST(SecurityContext, UnlabeledIsNoOp) {
  auto ctx = ScopedSecurityContext::enter("unlabeled");
  EXPECT_TRUE(ctx.ok());
  // As a C string from the wire, with its NUL.
  std::string with_nul("unlabeled");
  with_nul.push_back('\0');
  EXPECT_TRUE(ScopedSecurityContext::enter(with_nul).ok());
  EXPECT_TRUE(ScopedSecurityContext::enter(std::string_view("\0junk", 5)).ok());
}

TEST(SecurityContext, NoOpsEvenWithABadProcFd) {
  // The no-op paths never touch /proc.
  EXPECT_TRUE(ScopedSecurityContext::enter("", 12345).ok());
  EXPECT_TRUE(ScopedSecurityContext::enter("unlabeled", 12345).ok());
}

TEST(SecurityContext, WithoutSelinuxSettingFailsCleanly) {
  if (selinux_enabled()) GTEST_SKIP() << "SELinux is enabled here";
  // On a fresh thread, so the per-thread fd is opened by this very call.
  std::thread([] {
    auto ctx = ScopedSecurityContext::enter("system_u:object_r:tmp_t:s0");
    EXPECT_FALSE(ctx.ok());
    EXPECT_GT(ctx.error(), 0);
    // And again, with the fd now cached (when the open worked).
    auto again = ScopedSecurityContext::enter("system_u:object_r:tmp_t:s0");
    EXPECT_FALSE(again.ok());
  }).join();
}

// Through a /proc/self fd: enter() answers exactly what the kernel answers for the
// same write (EINVAL without SELinux), and the per-thread fd it keeps is close-on-exec.
TEST(SecurityContext, EnterReportsTheKernelsAnswerAndKeepsACloexecFd) {
  std::thread([] {
    const char kCtx[] = "system_u:object_r:tmp_t:s0";
    int direct = 0;
    {
      ScopedFd probe(::open("/proc/thread-self/attr/fscreate", O_WRONLY | O_CLOEXEC));
      ASSERT_TRUE(probe.valid()) << errno;
      if (::write(probe.get(), kCtx, sizeof kCtx) < 0) direct = errno;
      const ssize_t restored = ::write(probe.get(), nullptr, 0);  // back to the default
      (void)restored;
    }
    ScopedFd proc(::open("/proc/self", O_PATH | O_DIRECTORY | O_CLOEXEC));
    ASSERT_TRUE(proc.valid());
    auto ctx = ScopedSecurityContext::enter(kCtx, proc.get());
    EXPECT_EQ(ctx.ok() ? 0 : ctx.error(), direct);
    int kept = 0;
    for (const auto& e : std::filesystem::directory_iterator("/proc/self/fd")) {
      std::error_code ec;
      const std::string target = std::filesystem::read_symlink(e.path(), ec).string();
      if (!target.ends_with("/attr/fscreate")) continue;
      ++kept;
      EXPECT_NE(::fcntl(std::stoi(e.path().filename().string()), F_GETFD) & FD_CLOEXEC, 0)
          << target;
    }
    EXPECT_EQ(kept, 1);
  }).join();
}

TEST(SecurityContext, BadProcFdIsAnErrorNotACrash) {
  std::thread([] {
    auto ctx = ScopedSecurityContext::enter("system_u:object_r:tmp_t:s0", 987654);
    EXPECT_FALSE(ctx.ok());
    EXPECT_EQ(ctx.error(), EBADF);
  }).join();
}

TEST(SecurityContext, DefaultAndMovedFromDoNothing) {
  ScopedSecurityContext a;
  ScopedSecurityContext b(std::move(a));
  a = std::move(b);
  SUCCEED();
}

}  // namespace
}  // namespace pfs::passthrough

namespace pfs::passthrough {
namespace {

// A worker that cannot put the default context back must not serve on: the next
// request's files would carry this guest's label.
TEST(SecurityContextDeathTest, FailedRestoreStopsTheProcess) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(
      {
        std::thread([] {
          ScopedSecurityContextFaultHook hook([](SecurityContextStep step) {
            return step == SecurityContextStep::kEnter ? kPretendSuccess : EIO;
          });
          auto ctx = ScopedSecurityContext::enter("system_u:object_r:tmp_t:s0");
          if (!ctx.ok()) std::_Exit(3);  // the hook did not take: not the death we test
        }).join();
      },
      "FATAL: cannot restore the default security context");
}

TEST(SecurityContext, InjectedEnterFailureIsAnError) {
  std::thread([] {
    ScopedSecurityContextFaultHook hook([](SecurityContextStep) { return EACCES; });
    auto ctx = ScopedSecurityContext::enter("system_u:object_r:tmp_t:s0");
    ASSERT_FALSE(ctx.ok());
    EXPECT_EQ(ctx.error(), EACCES);
  }).join();
}

}  // namespace
}  // namespace pfs::passthrough
