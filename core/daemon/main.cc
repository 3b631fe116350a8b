// pfsd: serves a host directory through the kernel's FUSE client (host mode).
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>

#include "core/daemon/log.h"
#include "core/daemon/options.h"
#include "core/fuse/server.h"
#include "core/passthrough/passthrough_fs.h"
#include "core/transport/devfuse/devfuse_session.h"
#include "core/transport/devfuse/fuse_mount.h"
#include "core/transport/devfuse/session_recorder.h"

namespace pfs::daemon {
namespace {

// The session-ended notice a worker sends to the main thread.
constexpr int kSessionEnded = SIGUSR2;

const char* policy_name(passthrough::CachePolicy p) {
  switch (p) {
    case passthrough::CachePolicy::kNever:
      return "never";
    case passthrough::CachePolicy::kAuto:
      return "auto";
    case passthrough::CachePolicy::kAlways:
      return "always";
  }
  return "?";
}

int run(const Options& opts) {
  set_log_level(opts.log_level);

  // Only the main thread takes these, with sigwait(); workers inherit the mask.
  sigset_t waited;
  sigemptyset(&waited);
  for (int s : {SIGINT, SIGTERM, SIGHUP, kSessionEnded}) sigaddset(&waited, s);
  ::pthread_sigmask(SIG_BLOCK, &waited, nullptr);
  ::signal(SIGPIPE, SIG_IGN);

  auto fs = passthrough::PassthroughFs::create(opts.fs);
  if (!fs) {
    std::fprintf(stderr, "pfsd: cannot open shared directory %s: %s\n", opts.fs.root_dir.c_str(),
                 std::strerror(fs.error()));
    return 1;
  }
  fuse::ServerOptions sopts;
  sopts.on_bad_request = [](const fuse::BadRequest& b) {
    // Newer kernels probe opcodes we do not know (e.g. STATX) and stop after the
    // first ENOSYS: that is not a problem worth a warning.
    log(b.error == ENOSYS ? LogLevel::kDebug : LogLevel::kWarn,
        "refused request opcode %u unique %llu node %llu: %.*s (errno %d)", b.opcode,
        static_cast<unsigned long long>(b.unique), static_cast<unsigned long long>(b.nodeid),
        static_cast<int>(b.reason.size()), b.reason.data(), b.error);
  };
  fuse::Server server(**fs, sopts);

  std::unique_ptr<transport::devfuse::SessionRecorder> recorder;
  if (!opts.record_dir.empty()) {
    auto rec = transport::devfuse::SessionRecorder::create(opts.record_dir);
    if (!rec) {
      std::fprintf(stderr, "pfsd: --record %s: %s (check the folder is writable)\n",
                   opts.record_dir.c_str(), std::strerror(rec.error()));
      return 1;
    }
    recorder = std::move(*rec);
  }

  transport::devfuse::MountOptions mopts;
  mopts.mountpoint = opts.mountpoint;
  mopts.source = opts.fs.root_dir;
  mopts.readonly = opts.fs.readonly;
  mopts.default_permissions = opts.default_permissions;
  mopts.allow_other = opts.allow_other;
  std::string why;
  auto mount = transport::devfuse::FuseMount::mount(mopts, &why);
  if (!mount) {
    std::fprintf(stderr, "pfsd: %s\n", why.c_str());
    return 1;
  }

  transport::devfuse::DevFuseSession session(server, mount->fd(), recorder.get());
  if (Status s = session.start(opts.threads, [] { ::kill(::getpid(), kSessionEnded); }); s != kOk) {
    std::fprintf(stderr, "pfsd: cannot start workers: %s\n", std::strerror(s));
    return 1;
  }
  log(LogLevel::kInfo, "serving %s on %s (%u threads, cache=%s%s%s%s)", opts.fs.root_dir.c_str(),
      opts.mountpoint.c_str(), opts.threads, policy_name(opts.fs.cache_policy),
      opts.fs.readonly ? ", readonly" : "", opts.fs.writeback ? ", writeback" : "",
      recorder ? (", recording to " + recorder->path()).c_str() : "");

  int sig = 0;
  while (::sigwait(&waited, &sig) != 0) {
  }
  if (sig == kSessionEnded) {
    log(LogLevel::kInfo, "the mount went away; exiting");
  } else {
    log(LogLevel::kInfo, "%s: unmounting %s", strsignal(sig), opts.mountpoint.c_str());
    if (!mount->unmount()) {
      log(LogLevel::kError, "could not unmount %s: %s", opts.mountpoint.c_str(),
          std::strerror(errno));
    }
  }
  session.stop();
  const auto& st = session.stats();
  log(LogLevel::kInfo, "served %llu requests (%llu interrupted, %llu read and %llu write errors)",
      static_cast<unsigned long long>(st.requests.load()),
      static_cast<unsigned long long>(st.interrupted.load()),
      static_cast<unsigned long long>(st.read_errors.load()),
      static_cast<unsigned long long>(st.write_errors.load()));
  if (recorder) {
    log(LogLevel::kInfo, "recorded %llu requests to %s",
        static_cast<unsigned long long>(recorder->requests()), recorder->path().c_str());
  }
  return 0;
}

}  // namespace
}  // namespace pfs::daemon

int main(int argc, char** argv) {
  pfs::daemon::Options opts;
  const auto parsed = pfs::daemon::parse_options(argc, argv, opts);
  if (parsed.kind == pfs::daemon::ParseOutcome::kExitOk) {
    std::printf("%s\n", parsed.message.c_str());
    return 0;
  }
  if (parsed.kind == pfs::daemon::ParseOutcome::kExitError) {
    std::fprintf(stderr, "%s\n", parsed.message.c_str());
    return 1;
  }
  if (std::string err = pfs::daemon::validate_environment(opts); !err.empty()) {
    std::fprintf(stderr, "%s\n", err.c_str());
    return 1;
  }
  return pfs::daemon::run(opts);
}
