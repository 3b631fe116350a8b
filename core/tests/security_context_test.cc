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
