// pfsd's seccomp filter, installed for real in forked children, per transport and
// mode: kill (SIGSYS), log (the call goes through), trap (exit 1, the syscall's name
// and a stack on stderr), none (no filter), and an allowed call still working.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <cstring>
#include <functional>
#include <string>
#include <string_view>

#include "core/daemon/seccomp_policy.h"

namespace pfs::daemon {
namespace {

struct Child {
  int status = 0;
  std::string err;  // its stderr

  bool killed_by(int sig) const { return WIFSIGNALED(status) && WTERMSIG(status) == sig; }
  bool exited_with(int code) const { return WIFEXITED(status) && WEXITSTATUS(status) == code; }
  std::string describe() const {
    std::string s = WIFEXITED(status)     ? "exited " + std::to_string(WEXITSTATUS(status))
                    : WIFSIGNALED(status) ? std::string("killed by ") + strsignal(WTERMSIG(status))
                                          : "status " + std::to_string(status);
    return s + "; stderr:\n" + err;
  }
};

// The filtered child ends with exit_group itself: under ASan, _exit() is intercepted
// and runs LeakSanitizer's check first, whose syscalls (sigaltstack, ptrace, ...) are
// on no pfsd list and would kill the child for the sanitizer's sake.
[[noreturn]] void exit_now(int code) {
  ::syscall(SYS_exit_group, code);
  __builtin_unreachable();
}

// Exit codes of the child's own failures (never 0, 1 or a signal).
constexpr int kInstallFailed = 90;
constexpr int kCallFailed = 91;

// Forks; the child installs the filter (action, transport) and runs `body`, whose
// return value is its exit status. Its stderr comes back in Child::err.
Child in_child(SeccompAction action, bool host_mode, const std::function<int()>& body) {
  int p[2];
  if (::pipe2(p, O_CLOEXEC) != 0) {
    ADD_FAILURE() << "pipe2: " << std::strerror(errno);
    return {};
  }
  std::fflush(nullptr);
  const pid_t pid = ::fork();
  if (pid < 0) {
    ADD_FAILURE() << "fork: " << std::strerror(errno);
    return {};
  }
  if (pid == 0) {
    ::dup2(p[1], STDERR_FILENO);
    if (std::string e = install_seccomp(action, host_mode); !e.empty()) {
      (void)!::write(STDERR_FILENO, e.data(), e.size());
      exit_now(kInstallFailed);
    }
    exit_now(body());
  }
  ::close(p[1]);
  Child c;
  char buf[4096];
  ssize_t n;
  while ((n = ::read(p[0], buf, sizeof buf)) > 0) c.err.append(buf, static_cast<size_t>(n));
  ::close(p[0]);
  ::waitpid(pid, &c.status, 0);
  return c;
}

// personality(2) with 0xffffffff only asks for the current persona: harmless, and on
// no allow-list.
int forbidden_call() {
  const long r = ::syscall(SYS_personality, 0xffffffffUL);
  return r >= 0 ? 0 : kCallFailed;
}

// What the core does all day: open, read, close.
int allowed_calls() {
  const int fd = ::open("/proc/self/status", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return kCallFailed;
  char buf[4096];
  const ssize_t n = ::read(fd, buf, sizeof buf - 1);
  ::close(fd);
  if (n <= 0) return kCallFailed;
  buf[n] = '\0';
  // The kernel's word that a filter is on (2) or not (0).
  const char* line = std::strstr(buf, "Seccomp:\t");
  if (line == nullptr) return kCallFailed;
  return line[9] - '0';  // 0 none, 2 filter
}

class SeccompModes : public ::testing::TestWithParam<bool> {
 protected:
  bool host() const { return GetParam(); }
};

TEST_P(SeccompModes, KillEndsTheProcessBySigsys) {
  const Child c = in_child(SeccompAction::kKill, host(), forbidden_call);
  EXPECT_TRUE(c.killed_by(SIGSYS)) << c.describe();
}

TEST_P(SeccompModes, LogLetsTheCallThroughAndGoesOn) {
  const Child c = in_child(SeccompAction::kLog, host(), [] {
    if (forbidden_call() != 0) return kCallFailed;
    return forbidden_call() == 0 ? 0 : kCallFailed;  // twice: still alive after the first
  });
  EXPECT_TRUE(c.exited_with(0)) << c.describe();
}

TEST_P(SeccompModes, TrapNamesTheSyscallAndShowsTheStack) {
  const Child c = in_child(SeccompAction::kTrap, host(), forbidden_call);
  ASSERT_TRUE(c.exited_with(1)) << c.describe();
  const std::string want =
      "forbidden syscall personality (" + std::to_string(SYS_personality) + ")";
  EXPECT_NE(c.err.find(want), std::string::npos) << c.err;
  // backtrace_symbols_fd: one "binary(symbol+off)[0xaddr]" line per frame; frames of
  // this test binary (the caller of the syscall) must be there.
  size_t frames = 0;
  for (size_t at = c.err.find("[0x"); at != std::string::npos; at = c.err.find("[0x", at + 1)) {
    ++frames;
  }
  EXPECT_GE(frames, 3u) << c.err;
  EXPECT_NE(c.err.find("seccomp_test"), std::string::npos) << c.err;
}

TEST_P(SeccompModes, TrapCanAbortForAFuzzEngine) {
  static constexpr const char* kNoExtra[] = {"getpid"};
  const bool host_mode = host();
  const Child c = in_child(SeccompAction::kNone, host_mode, [host_mode] {
    const std::string e =
        install_seccomp(SeccompAction::kTrap, host_mode, SeccompOptions{kNoExtra, "fuzz", true});
    if (!e.empty()) return kInstallFailed;
    return forbidden_call();
  });
  EXPECT_TRUE(c.killed_by(SIGABRT)) << c.describe();
  EXPECT_NE(c.err.find("fuzz: seccomp: forbidden syscall personality"), std::string::npos) << c.err;
}

TEST_P(SeccompModes, AllowedCallsWorkUnderTheFilter) {
  for (SeccompAction a : {SeccompAction::kKill, SeccompAction::kLog, SeccompAction::kTrap}) {
    const Child c = in_child(a, host(), allowed_calls);
    EXPECT_TRUE(c.exited_with(2)) << "Seccomp: 2 (a filter) expected; " << c.describe();
  }
}

TEST_P(SeccompModes, NoneInstallsNoFilter) {
  const Child c = in_child(SeccompAction::kNone, host(), [] {
    if (forbidden_call() != 0) return kCallFailed;
    return allowed_calls();
  });
  EXPECT_TRUE(c.exited_with(0)) << "Seccomp: 0 expected; " << c.describe();
}

INSTANTIATE_TEST_SUITE_P(Transports, SeccompModes, ::testing::Values(true, false),
                         [](const ::testing::TestParamInfo<bool>& p) {
                           return p.param ? "Host" : "VhostUser";
                         });

// The lists differ where the transports do: the socket calls only for vhost-user,
// umount2 only for host mode.
TEST(SeccompTransports, SocketCallsOnlyForVhostUser) {
  auto accept_call = [] {
    const int r = ::accept4(-1, nullptr, nullptr, SOCK_CLOEXEC);
    return (r < 0 && errno == EBADF) ? 0 : kCallFailed;
  };
  const Child vhost = in_child(SeccompAction::kKill, false, accept_call);
  EXPECT_TRUE(vhost.exited_with(0)) << vhost.describe();
  const Child host = in_child(SeccompAction::kKill, true, accept_call);
  EXPECT_TRUE(host.killed_by(SIGSYS)) << host.describe();
}

TEST(SeccompTransports, UnmountOnlyForHostMode) {
  auto umount_call = [] {
    const int r = ::umount2("/nonexistent-pfs-seccomp-test", MNT_DETACH);
    return (r < 0 && errno == ENOENT) ? 0 : kCallFailed;
  };
  const Child host = in_child(SeccompAction::kKill, true, umount_call);
  EXPECT_TRUE(host.exited_with(0)) << host.describe();
  const Child vhost = in_child(SeccompAction::kKill, false, umount_call);
  EXPECT_TRUE(vhost.killed_by(SIGSYS)) << vhost.describe();
}

// A typo in the list would be skipped silently at install time (names unknown on an
// architecture are skipped on purpose): on x86_64 every name must resolve.
TEST(SeccompList, EveryNameIsASyscallHere) {
  for (bool host : {true, false}) {
    EXPECT_EQ(seccomp_unresolved(host), "") << (host ? "host" : "vhost-user");
  }
}

TEST(SeccompList, ExtraNamesAreAllowedAndBadOnesRefused) {
  static constexpr const char* kExtra[] = {"personality"};
  Child c;
  {
    int p[2];
    ASSERT_EQ(::pipe2(p, O_CLOEXEC), 0);
    const pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      ::dup2(p[1], STDERR_FILENO);
      if (std::string e =
              install_seccomp(SeccompAction::kKill, true, SeccompOptions{kExtra, "test", false});
          !e.empty()) {
        exit_now(kInstallFailed);
      }
      exit_now(forbidden_call());
    }
    ::close(p[1]);
    ::close(p[0]);
    ::waitpid(pid, &c.status, 0);
  }
  EXPECT_TRUE(c.exited_with(0)) << c.describe();
  static constexpr const char* kBad[] = {"no_such_syscall_pfs"};
  const Child bad = in_child(SeccompAction::kNone, true, [] {
    const std::string e =
        install_seccomp(SeccompAction::kKill, true, SeccompOptions{kBad, "test", false});
    return e.find("no_such_syscall_pfs") != std::string::npos ? 0 : kCallFailed;
  });
  EXPECT_TRUE(bad.exited_with(0)) << bad.describe();
}

}  // namespace
}  // namespace pfs::daemon
