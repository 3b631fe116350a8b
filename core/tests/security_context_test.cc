#include "core/passthrough/security_context.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <string>
#include <thread>

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
