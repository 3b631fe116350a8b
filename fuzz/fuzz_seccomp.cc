// PFS_FUZZ_SECCOMP (fuzz_seccomp.h). The daemon's list is reused as is (this file is
// linked with core/daemon/seccomp_policy.cc); only the harness's own needs are here.
#include "fuzz/fuzz_seccomp.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iterator>
#include <string>
#include <string_view>

#if PFS_FUZZ_HAVE_SECCOMP
#include "core/daemon/seccomp_policy.h"
#endif

// Sanitizer builds: the symbolizer (llvm-symbolizer, a child process on pipes).
extern "C" __attribute__((weak)) void __sanitizer_symbolize_pc(void* pc, const char* fmt, char* out,
                                                               size_t out_size);

namespace pfs::fuzz {
namespace {

#if PFS_FUZZ_HAVE_SECCOMP
// What the harness, libFuzzer and the sanitizers need on top of pfsd's list. Nothing
// the core calls belongs here: that goes into seccomp_policy.cc, or pfsd would die.
struct Extra {
  const char* name;
  const char* why;
};
constexpr Extra kFuzzOnly[] = {
    // the scratch tree's reset and the canary check (scratch_area.cc, plain libc calls)
    {"mkdir", "ScratchArea::reset rebuilds the fixed tree"},
    {"rmdir", "ScratchArea::reset removes what an input left"},
    {"chmod", "ScratchArea sets modes whatever the umask"},
    {"lchown", "ScratchArea::reset gives the tree its owners"},
    {"symlink", "ScratchArea::reset: link, escape, abs"},
    {"lsetxattr", "ScratchArea::reset: user.fuzz, user.virtiofs.security.fuzz"},
    {"llistxattr", "ScratchArea::check_canary snapshots xattrs"},
    {"lgetxattr", "ScratchArea::check_canary snapshots xattrs"},
    {"readlink", "ScratchArea::check_canary snapshots link targets"},
    // the harness drives the core differently from pfsd
    {"umask",
     "PassthroughFs::create sets umask(0): per input here, once before the "
     "filter in pfsd"},
    {"getuid", "the memory transport's request builder stamps the caller's ids (INIT)"},
    {"getgid", "the memory transport's request builder stamps the caller's ids (INIT)"},
    {"sched_yield", "fuse_race: the crew's start latch and the adversary spin"},
    // libFuzzer
    {"getrusage", "libFuzzer: peak RSS (-rss_limit_mb, stats)"},
    {"setitimer", "libFuzzer: the -timeout alarm"},
    {"clock_nanosleep", "libFuzzer: the RSS thread sleeps a second at a time"},
    {"sched_getaffinity", "libFuzzer/sanitizers: a new thread's CPU count"},
    {"unlink", "libFuzzer: a reduced input replaces its corpus file (found by the 60 s run)"},
    // the sanitizers
    {"pipe2", "sanitizers: IsAccessibleMemoryRange probes memory with a pipe write"},
    {"prctl", "LeakSanitizer: PR_SET_DUMPABLE, PR_SET_PTRACER around stopping the world"},
    {"clone", "LeakSanitizer: its tracer task (clone without CLONE_THREAD)"},
    {"ptrace", "LeakSanitizer: the tracer stops the threads to scan their stacks"},
    {"wait4", "LeakSanitizer: waits for its tracer task"},
    {"open", "LeakSanitizer's tracer: /proc/self/task (sanitizers make raw legacy calls)"},
    {"getdents", "LeakSanitizer's tracer lists the threads (legacy getdents, not getdents64)"},
    {"getppid", "LeakSanitizer's tracer checks that its parent lives"},
};
#endif

[[noreturn]] void fail(const std::string& why) {
  std::fprintf(stderr, "PFS_FUZZ_SECCOMP: %s\n", why.c_str());
  std::fflush(stderr);
  std::_Exit(2);
}

#if PFS_FUZZ_HAVE_SECCOMP
// A libFuzzer flag "-name=value" with a value other than 0.
bool flag_on(int argc, char** argv, std::string_view name) {
  for (int i = 1; i < argc; ++i) {
    std::string_view a = argv[i];
    if (a.size() > name.size() + 2 && a[0] == '-' && a.substr(1, name.size()) == name &&
        a[name.size() + 1] == '=') {
      const std::string_view v = a.substr(name.size() + 2);
      if (v != "0") return true;
    }
  }
  return false;
}
#endif

}  // namespace

void install_seccomp_from_env(int argc, char** argv) {
  const char* env = std::getenv("PFS_FUZZ_SECCOMP");
  if (env == nullptr || *env == '\0' || std::strcmp(env, "0") == 0) return;
  const std::string_view v = env;
#if PFS_FUZZ_HAVE_SECCOMP
  using daemon::SeccompAction;
  SeccompAction action;
  if (v == "1" || v == "trap") {
    action = SeccompAction::kTrap;
  } else if (v == "kill") {
    action = SeccompAction::kKill;
  } else if (v == "log") {
    action = SeccompAction::kLog;
  } else {
    fail("'" + std::string(v) + "': use 1 (= trap), trap, kill or log");
  }
  for (const char* f :
       {"fork", "jobs", "workers", "merge", "set_cover_merge", "minimize_crash", "cleanse_crash"}) {
    if (flag_on(argc, argv, f) && !flag_on(argc, argv, "merge_control_file")) {
      std::fprintf(stderr,
                   "PFS_FUZZ_SECCOMP: -%s: this libFuzzer parent runs no inputs and stays "
                   "unfiltered; its children install the filter\n",
                   f);
      return;
    }
  }
  // Start the sanitizer's symbolizer now: later reports (a crash, libFuzzer's
  // NEW_FUNC lines) talk to it over its pipes instead of forking it under the filter.
  if (__sanitizer_symbolize_pc != nullptr) {
    char buf[256];
    __sanitizer_symbolize_pc(reinterpret_cast<void*>(&install_seccomp_from_env), "%p %F %L", buf,
                             sizeof buf);
  }
  static const char* names[std::size(kFuzzOnly)];
  for (size_t i = 0; i < std::size(kFuzzOnly); ++i) names[i] = kFuzzOnly[i].name;
  // Trap aborts after its report: libFuzzer's SIGABRT handler then saves the input.
  const daemon::SeccompOptions opts{names, "fuzz", true};
  if (std::string e = daemon::install_seccomp(action, /*host_mode=*/true, opts); !e.empty()) {
    fail(e);
  }
  std::fprintf(stderr,
               "PFS_FUZZ_SECCOMP=%s: pfsd's host-mode allow-list + %zu harness syscalls "
               "installed\n",
               env, std::size(kFuzzOnly));
#else
  (void)argc;
  (void)argv;
  (void)v;
  fail("'" + std::string(v) +
       "' asked for, but this build has no libseccomp (install libseccomp-dev and rebuild)");
#endif
}

}  // namespace pfs::fuzz
