#include "core/passthrough/credentials.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <condition_variable>
#include <mutex>
#include <optional>
#include <thread>

#include "core/tests/passthrough_scratch.h"

namespace pfs::passthrough {
namespace {

// The calling thread's own ids, straight from the kernel.
uid_t thread_euid() { return static_cast<uid_t>(::syscall(SYS_geteuid)); }
gid_t thread_egid() { return static_cast<gid_t>(::syscall(SYS_getegid)); }

class CredentialsTest : public pfs::testing::ScratchDirTest {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root";
    ScratchDirTest::SetUp();
    ASSERT_EQ(::chmod(path().c_str(), 0777), 0);  // uid 1000 must be able to create
  }
  // Owner of a new file `name` created by the calling thread.
  static std::pair<uid_t, gid_t> create_and_stat(const std::string& file) {
    ScopedFd fd(::open(file.c_str(), O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0644));
    EXPECT_TRUE(fd.valid()) << file << ": " << errno;
    struct stat st {};
    EXPECT_EQ(::fstat(fd.get(), &st), 0);
    return {st.st_uid, st.st_gid};
  }
};

TEST_F(CredentialsTest, PerThreadAndRestored) {
  std::mutex mu;
  std::condition_variable cv;
  bool changed = false;
  bool checked = false;
  std::pair<uid_t, gid_t> owner_in_thread{};
  uid_t euid_in_thread = 0;
  uid_t euid_after = 1;
  gid_t egid_after = 1;
  bool set_ok = false;

  std::thread worker([&] {
    {
      auto creds = ScopedCredentials::set(1000, 1000);
      set_ok = creds.ok();
      if (set_ok) {
        euid_in_thread = thread_euid();
        owner_in_thread = create_and_stat(path("by-1000"));
      }
      std::unique_lock lock(mu);
      changed = true;
      cv.notify_all();
      cv.wait(lock, [&] { return checked; });
    }
    euid_after = thread_euid();
    egid_after = thread_egid();
  });

  {
    std::unique_lock lock(mu);
    cv.wait(lock, [&] { return changed; });
    // While the worker runs as 1000, this thread is still root.
    EXPECT_EQ(thread_euid(), 0u);
    EXPECT_EQ(thread_egid(), 0u);
    EXPECT_EQ(create_and_stat(path("by-root")), std::make_pair(uid_t{0}, gid_t{0}));
    checked = true;
    cv.notify_all();
  }
  worker.join();

  ASSERT_TRUE(set_ok);
  EXPECT_EQ(euid_in_thread, 1000u);
  EXPECT_EQ(owner_in_thread, std::make_pair(uid_t{1000}, gid_t{1000}));
  EXPECT_EQ(euid_after, 0u);
  EXPECT_EQ(egid_after, 0u);
}

TEST_F(CredentialsTest, SameIdsChangeNothing) {
  std::thread([&] {
    auto creds = ScopedCredentials::set(0, 0);
    EXPECT_TRUE(creds.ok());
    EXPECT_EQ(create_and_stat(path("same")), std::make_pair(uid_t{0}, gid_t{0}));
  }).join();
}

TEST_F(CredentialsTest, OnlyGidOrOnlyUid) {
  std::thread([&] {
    {
      auto creds = ScopedCredentials::set(0, 1234);
      ASSERT_TRUE(creds.ok());
      EXPECT_EQ(create_and_stat(path("gid-only")), std::make_pair(uid_t{0}, gid_t{1234}));
    }
    {
      auto creds = ScopedCredentials::set(4321, 0);
      ASSERT_TRUE(creds.ok());
      EXPECT_EQ(create_and_stat(path("uid-only")), std::make_pair(uid_t{4321}, gid_t{0}));
    }
    EXPECT_EQ(thread_euid(), 0u);
    EXPECT_EQ(thread_egid(), 0u);
  }).join();
}

TEST_F(CredentialsTest, MoveKeepsOneRestore) {
  std::thread([&] {
    {
      std::optional<ScopedCredentials> outer;
      {
        auto creds = ScopedCredentials::set(1000, 1000);
        ASSERT_TRUE(creds.ok());
        outer.emplace(std::move(*creds));
      }
      // The moved-from one did not restore.
      EXPECT_EQ(thread_euid(), 1000u);
      EXPECT_EQ(thread_egid(), 1000u);
    }
    EXPECT_EQ(thread_euid(), 0u);
    EXPECT_EQ(thread_egid(), 0u);
  }).join();
}

TEST_F(CredentialsTest, RepeatedUseOnOneThread) {
  std::thread([&] {
    for (unsigned i = 0; i < 100; ++i) {
      auto creds = ScopedCredentials::set(1000 + i % 3, 1000 + i % 5);
      ASSERT_TRUE(creds.ok());
      EXPECT_EQ(thread_euid(), 1000 + i % 3);
      EXPECT_EQ(thread_egid(), 1000 + i % 5);
    }
    EXPECT_EQ(thread_euid(), 0u);
    EXPECT_EQ(thread_egid(), 0u);
  }).join();
}

}  // namespace
}  // namespace pfs::passthrough

namespace pfs::passthrough {
namespace {

// -1 is "leave unchanged" to setresuid: the request would run as root.
TEST(CredentialsIds, MinusOneIsRefused) {
  std::thread([] {
    EXPECT_EQ(ScopedCredentials::set(static_cast<uid_t>(-1), 1000).error(), EPERM);
    EXPECT_EQ(ScopedCredentials::set(1000, static_cast<gid_t>(-1)).error(), EPERM);
    EXPECT_EQ(thread_euid(), ::geteuid());
    EXPECT_EQ(thread_egid(), ::getegid());
  }).join();
  EXPECT_EQ(check_caller_ids(0xFFFFFFFFu, 0), EPERM);
  EXPECT_EQ(check_caller_ids(0, 0xFFFFFFFFu), EPERM);
  EXPECT_EQ(check_caller_ids(0xFFFFFFFEu, 0xFFFFFFFEu), kOk);
}

// A worker that cannot get its own ids back must not serve the next request with a
// guest's: the process stops with a message.
TEST(CredentialsDeathTest, FailedUidRestoreStopsTheProcess) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root";
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(
      {
        std::thread([] {
          ScopedCredentialsFaultHook hook(
              [](CredentialsStep s) { return s == CredentialsStep::kRestoreUid ? EAGAIN : 0; });
          auto creds = ScopedCredentials::set(1000, 1000);
          if (!creds.ok()) std::_Exit(3);
        }).join();
      },
      "FATAL: cannot restore the worker's euid 0");
}

TEST(CredentialsDeathTest, FailedGidRestoreStopsTheProcess) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root";
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(
      {
        std::thread([] {
          ScopedCredentialsFaultHook hook(
              [](CredentialsStep s) { return s == CredentialsStep::kRestoreGid ? EPERM : 0; });
          auto creds = ScopedCredentials::set(1000, 1000);
          if (!creds.ok()) std::_Exit(3);
        }).join();
      },
      "FATAL: cannot restore the worker's egid 0");
}

TEST(CredentialsFaults, FailedSetLeavesTheThreadAsItWas) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root";
  std::thread([] {
    ScopedCredentialsFaultHook hook(
        [](CredentialsStep s) { return s == CredentialsStep::kSetUid ? EPERM : 0; });
    auto creds = ScopedCredentials::set(1000, 1000);
    EXPECT_EQ(creds.error(), EPERM);
    EXPECT_EQ(thread_euid(), 0u);
    EXPECT_EQ(thread_egid(), 0u) << "the gid set before the failed uid was not put back";
  }).join();
}

}  // namespace
}  // namespace pfs::passthrough
