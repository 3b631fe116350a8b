#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/daemon/options.h"

namespace pfs::daemon {
namespace {

ParseOutcome parse(std::vector<std::string> args, Options& out) {
  args.insert(args.begin(), "pfsd");
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  return parse_options(static_cast<int>(argv.size()), argv.data(), out);
}

TEST(PfsdOptionsTest, ModernFlags) {
  Options o;
  auto r = parse(
      {"--shared-dir", "/srv", "--mount", "/mnt", "--cache", "always", "--writeback", "--no-xattr",
       "--rewrite-security-xattrs", "--ascii-casefold", "--readonly", "--thread-pool-size", "8",
       "--log-level", "debug", "--record", "/rec", "--entry-timeout", "2.5"},
      o);
  ASSERT_EQ(r.kind, ParseOutcome::kRun) << r.message;
  EXPECT_EQ(o.fs.root_dir, "/srv");
  EXPECT_EQ(o.mountpoint, "/mnt");
  EXPECT_EQ(o.fs.cache_policy, passthrough::CachePolicy::kAlways);
  EXPECT_TRUE(o.fs.writeback);
  EXPECT_FALSE(o.fs.xattr);
  EXPECT_TRUE(o.fs.rewrite_security_xattrs);
  EXPECT_TRUE(o.fs.ascii_casefold);
  EXPECT_TRUE(o.fs.readonly);
  EXPECT_EQ(o.threads, 8u);
  EXPECT_EQ(o.log_level, LogLevel::kDebug);
  EXPECT_EQ(o.record_dir, "/rec");
  EXPECT_EQ(o.fs.entry_timeout.sec, 2u);
  EXPECT_EQ(o.fs.entry_timeout.nsec, 500000000u);
  EXPECT_EQ(o.fs.attr_timeout.sec, 86400u) << "attr timeout follows cache=always";
}

TEST(PfsdOptionsTest, CachePolicyChoosesVirtiofsdTimeouts) {
  for (auto [name, policy, secs] :
       {std::tuple{"never", passthrough::CachePolicy::kNever, 0u},
        std::tuple{"auto", passthrough::CachePolicy::kAuto, 1u},
        std::tuple{"always", passthrough::CachePolicy::kAlways, 86400u},
        std::tuple{"metadata", passthrough::CachePolicy::kNever, 86400u}}) {
    Options o;
    ASSERT_EQ(parse({"--shared-dir", "/s", "--mount", "/m", "--cache", name}, o).kind,
              ParseOutcome::kRun);
    EXPECT_EQ(o.fs.cache_policy, policy) << name;
    EXPECT_EQ(o.fs.entry_timeout.sec, secs) << name;
    EXPECT_EQ(o.fs.attr_timeout.sec, secs) << name;
  }
}

TEST(PfsdOptionsTest, LegacyDashOForm) {
  Options o;
  auto r = parse(
      {"-o", "source=/data,cache=never,no_xattr,writeback", "-o", "timeout=3", "--mount", "/m"}, o);
  ASSERT_EQ(r.kind, ParseOutcome::kRun) << r.message;
  EXPECT_EQ(o.fs.root_dir, "/data");
  EXPECT_EQ(o.fs.cache_policy, passthrough::CachePolicy::kNever);
  EXPECT_FALSE(o.fs.xattr);
  EXPECT_TRUE(o.fs.writeback);
  EXPECT_EQ(o.fs.entry_timeout.sec, 3u);
}

TEST(PfsdOptionsTest, BadUseIsOneClearLine) {
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"--mount", "/m"}, "--shared-dir"},
      {{"--shared-dir", "/s"}, "--mount"},
      {{"--shared-dir", "/s", "--mount", "/m", "--cache", "sometimes"}, "never, auto"},
      {{"--shared-dir", "/s", "--mount", "/m", "--log-level", "loud"}, "error, warn"},
      {{"--shared-dir", "/s", "--mount", "/m", "--thread-pool-size", "0"}, "1 to 256"},
      {{"--shared-dir", "/s", "--mount", "/m", "--entry-timeout", "-3"}, "timeouts"},
      {{"--shared-dir", "/s", "--mount", "/m", "--bogus"}, "--bogus"},
      {{"-o", "source=/s,frobnicate", "--mount", "/m"}, "frobnicate"},
      {{"--shared-dir", "/s"}, "--socket-path"},
      {{"--shared-dir", "/s", "--mount", "/m", "--socket-path", "/v.sock"}, "only one of"},
      {{"--shared-dir", "/s", "--socket-path", "/v.sock", "--fd", "3"}, "only one of"},
      {{"--shared-dir", "/s", "--mount", "/m", "--fd", "3"}, "only one of"},
      {{"--socket-path", "/v.sock"}, "--shared-dir"},
  };
  for (const auto& [args, needle] : cases) {
    Options o;
    auto r = parse(args, o);
    EXPECT_EQ(r.kind, ParseOutcome::kExitError) << needle;
    EXPECT_NE(r.message.find(needle), std::string::npos) << r.message;
    EXPECT_EQ(r.message.find('\n'), std::string::npos) << "one line: " << r.message;
  }
}

TEST(PfsdOptionsTest, HelpAndVersionExitZero) {
  Options o;
  auto help = parse({"--help"}, o);
  EXPECT_EQ(help.kind, ParseOutcome::kExitOk);
  EXPECT_NE(help.message.find("--shared-dir"), std::string::npos);
  auto version = parse({"--version"}, o);
  EXPECT_EQ(version.kind, ParseOutcome::kExitOk);
  EXPECT_NE(version.message.find("pfsd"), std::string::npos);
}

TEST(PfsdOptionsTest, VhostUserModes) {
  Options o;
  auto r = parse({"--shared-dir", "/srv", "--socket-path", "/run/vfs.sock", "--cache", "never",
                  "--thread-pool-size", "2", "--xattr"},
                 o);
  ASSERT_EQ(r.kind, ParseOutcome::kRun) << r.message;
  EXPECT_TRUE(o.vhost_user());
  EXPECT_EQ(o.socket_path, "/run/vfs.sock");
  EXPECT_TRUE(o.mountpoint.empty());
  EXPECT_EQ(o.fs.cache_policy, passthrough::CachePolicy::kNever);
  EXPECT_TRUE(o.fs.xattr);

  Options f;
  r = parse({"-o", "source=/srv", "--fd", "7"}, f);
  ASSERT_EQ(r.kind, ParseOutcome::kRun) << r.message;
  EXPECT_TRUE(f.vhost_user());
  EXPECT_EQ(f.socket_fd, 7);
  EXPECT_EQ(f.fs.root_dir, "/srv");

  Options h;
  ASSERT_EQ(parse({"--shared-dir", "/srv", "--mount", "/m"}, h).kind, ParseOutcome::kRun);
  EXPECT_FALSE(h.vhost_user());
}

TEST(PfsdOptionsTest, SocketGroup) {
  Options o;
  auto r =
      parse({"--shared-dir", "/srv", "--socket-path", "/run/v.sock", "--socket-group", "kvm"}, o);
  ASSERT_EQ(r.kind, ParseOutcome::kRun) << r.message;
  EXPECT_EQ(o.socket_group, "kvm");
  Options none;
  ASSERT_EQ(parse({"--shared-dir", "/srv", "--socket-path", "/run/v.sock"}, none).kind,
            ParseOutcome::kRun);
  EXPECT_TRUE(none.socket_group.empty()) << "no group: the socket is the owner's only";

  // Only with --socket-path: --fd's socket is the caller's, --mount has none.
  for (const auto& mode : {std::vector<std::string>{"--fd", "3"}, {"--mount", "/m"}}) {
    std::vector<std::string> args{"--shared-dir", "/srv", "--socket-group", "kvm"};
    args.insert(args.end(), mode.begin(), mode.end());
    Options b;
    r = parse(args, b);
    EXPECT_EQ(r.kind, ParseOutcome::kExitError) << mode[0];
    EXPECT_NE(r.message.find("--socket-group"), std::string::npos) << r.message;
    EXPECT_EQ(r.message.find('\n'), std::string::npos) << r.message;
  }
}

TEST(PfsdOptionsTest, SocketGroupIsResolvedByTheEnvironmentCheck) {
  Options o;
  o.fs.root_dir = "/tmp";
  o.socket_path = "/tmp/pfsd-options-test.sock";
  o.socket_group = "root";
  EXPECT_EQ(validate_environment(o), "");
  o.socket_group = "0";  // a numeric gid
  EXPECT_EQ(validate_environment(o), "");
  o.socket_group = "no-such-group-pfs";
  const std::string err = validate_environment(o);
  EXPECT_NE(err.find("--socket-group no-such-group-pfs"), std::string::npos) << err;
  EXPECT_EQ(err.find('\n'), std::string::npos) << err;
}

TEST(PfsdOptionsTest, AllowOtherIsOptInAndBringsPermissionChecks) {
  Options o;
  ASSERT_EQ(parse({"--shared-dir", "/srv", "--mount", "/m"}, o).kind, ParseOutcome::kRun);
  EXPECT_FALSE(o.allow_other) << "by default only root may use the mount";
  Options a;
  ASSERT_EQ(parse({"--shared-dir", "/srv", "--mount", "/m", "--allow-other", "--no-xattr"}, a).kind,
            ParseOutcome::kRun);
  EXPECT_TRUE(a.allow_other);
  EXPECT_TRUE(a.default_permissions) << "allow_other never goes without default_permissions";
  Options d;
  ASSERT_EQ(parse({"--shared-dir", "/srv", "--mount", "/m", "--default-permissions"}, d).kind,
            ParseOutcome::kRun);
  EXPECT_FALSE(d.allow_other);
  EXPECT_TRUE(d.default_permissions);
  auto help = parse({"--help"}, o);
  EXPECT_NE(help.message.find("--allow-other"), std::string::npos);
}

TEST(PfsdOptionsTest, PrintCapabilitiesNeedsNothingElse) {
  Options o;
  auto r = parse({"--print-capabilities"}, o);
  EXPECT_EQ(r.kind, ParseOutcome::kExitOk);
  EXPECT_NE(r.message.find("\"type\": \"fs\""), std::string::npos) << r.message;
}

TEST(PfsdOptionsTest, VhostUserEnvironmentSkipsMountChecks) {
  Options o;
  o.fs.root_dir = "/tmp";
  o.socket_path = "/nonexistent/dir/v.sock";  // bind reports this one at start
  EXPECT_EQ(validate_environment(o), "");
  Options f;
  f.fs.root_dir = "/tmp";
  f.socket_fd = 1000;  // not open
  EXPECT_NE(validate_environment(f).find("--fd 1000"), std::string::npos);
}

TEST(PfsdOptionsTest, EnvironmentChecksNameTheProblem) {
  Options o;
  o.fs.root_dir = "/nonexistent/pfsd-test";
  o.mountpoint = "/tmp";
  EXPECT_NE(validate_environment(o).find("shared directory"), std::string::npos);
  o.fs.root_dir = "/etc/hostname";
  EXPECT_NE(validate_environment(o).find("not a directory"), std::string::npos);
  o.fs.root_dir = "/tmp";
  o.mountpoint = "/nonexistent/mnt";
  EXPECT_NE(validate_environment(o).find("mountpoint"), std::string::npos);
  o.mountpoint = "/tmp";
  EXPECT_EQ(validate_environment(o), "");
}

TEST(PfsdOptionsTest, ConfinedByDefaultAsVirtiofsd) {
  Options o;
  auto r = parse({"--shared-dir", "/srv", "--mount", "/mnt"}, o);
  ASSERT_EQ(r.kind, ParseOutcome::kRun) << r.message;
  EXPECT_EQ(o.sandbox, SandboxMode::kNamespace);
  EXPECT_EQ(o.seccomp, SeccompAction::kKill);
  EXPECT_TRUE(o.modcaps.empty());
}

TEST(PfsdOptionsTest, SandboxSeccompAndModcaps) {
  const std::pair<const char*, SandboxMode> modes[] = {{"namespace", SandboxMode::kNamespace},
                                                       {"chroot", SandboxMode::kChroot},
                                                       {"none", SandboxMode::kNone}};
  for (const auto& [name, mode] : modes) {
    Options o;
    auto r = parse({"--shared-dir", "/srv", "--mount", "/mnt", "--sandbox", name}, o);
    ASSERT_EQ(r.kind, ParseOutcome::kRun) << r.message;
    EXPECT_EQ(o.sandbox, mode) << name;
  }
  const std::pair<const char*, SeccompAction> actions[] = {{"kill", SeccompAction::kKill},
                                                           {"log", SeccompAction::kLog},
                                                           {"trap", SeccompAction::kTrap},
                                                           {"none", SeccompAction::kNone}};
  for (const auto& [name, action] : actions) {
    Options o;
    auto r = parse({"--shared-dir", "/srv", "--socket-path", "/s", "--seccomp", name}, o);
    ASSERT_EQ(r.kind, ParseOutcome::kRun) << r.message;
    EXPECT_EQ(o.seccomp, action) << name;
  }
  Options o;
  auto r = parse(
      {"--shared-dir", "/srv", "--mount", "/mnt", "--modcaps", "+sys_admin,-MKNOD,+cap_sys_time"},
      o);
  ASSERT_EQ(r.kind, ParseOutcome::kRun) << r.message;
  ASSERT_EQ(o.modcaps.size(), 3u);
  EXPECT_TRUE(o.modcaps[0].add);
  EXPECT_EQ(o.modcaps[0].cap, 21);  // CAP_SYS_ADMIN
  EXPECT_FALSE(o.modcaps[1].add);
  EXPECT_EQ(o.modcaps[1].cap, 27);  // CAP_MKNOD
  EXPECT_EQ(o.modcaps[2].cap, 25);  // CAP_SYS_TIME
}

TEST(PfsdOptionsTest, BadSandboxValuesAreOneLine) {
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"--sandbox", "jail"}, "use namespace, chroot or none"},
      {{"--seccomp", "maybe"}, "use kill, log, trap or none"},
      {{"--modcaps", "sys_admin"}, "write +name"},
      {{"--modcaps", "+no_such_cap"}, "unknown capability"},
  };
  for (const auto& [extra, want] : cases) {
    Options o;
    std::vector<std::string> args{"--shared-dir", "/srv", "--mount", "/mnt"};
    args.insert(args.end(), extra.begin(), extra.end());
    auto r = parse(args, o);
    EXPECT_EQ(r.kind, ParseOutcome::kExitError);
    EXPECT_NE(r.message.find(want), std::string::npos) << r.message;
    EXPECT_EQ(r.message.find('\n'), std::string::npos) << r.message;
  }
}

TEST(PfsdOptionsTest, SeccompListCoversEachTransport) {
  size_t host_n = 0, vhost_n = 0;
  const char* const* host = seccomp_allowed(true, &host_n);
  const char* const* vhost = seccomp_allowed(false, &vhost_n);
  auto has = [](const char* const* l, size_t n, std::string_view name) {
    for (size_t i = 0; i < n; ++i) {
      if (name == l[i]) return true;
    }
    return false;
  };
  for (const char* s : {"openat", "futex", "rseq", "clone3", "rt_sigtimedwait", "exit_group"}) {
    EXPECT_TRUE(has(host, host_n, s)) << s;
    EXPECT_TRUE(has(vhost, vhost_n, s)) << s;
  }
  EXPECT_TRUE(has(vhost, vhost_n, "accept4"));
  EXPECT_FALSE(has(host, host_n, "accept4"));
  for (const char* s : {"execve", "mount", "ptrace", "init_module", "bpf", "pivot_root"}) {
    EXPECT_FALSE(has(host, host_n, s)) << s;
    EXPECT_FALSE(has(vhost, vhost_n, s)) << s;
  }
}

}  // namespace
}  // namespace pfs::daemon
