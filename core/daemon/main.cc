// pfsd: serves a host directory through the kernel's FUSE client (host mode) or
// to a VM through vhost-user (virtio-fs), as virtiofsd does.
#include <linux/capability.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "core/daemon/capabilities.h"
#include "core/daemon/listen_socket.h"
#include "core/daemon/log.h"
#include "core/daemon/options.h"
#include "core/daemon/process_setup.h"
#include "core/daemon/sandbox.h"
#include "core/daemon/seccomp_policy.h"
#include "core/fuse/server.h"
#include "core/passthrough/passthrough_fs.h"
#include "core/transport/devfuse/devfuse_session.h"
#include "core/transport/devfuse/fuse_mount.h"
#include "core/transport/devfuse/session_recorder.h"
#include "core/transport/vhost_user/backend.h"
#include "core/transport/vhost_user/fs_device.h"
#ifdef PFS_PLANTED_BUGS  // pfsd_planted (core/planted/): test-only, bugs planted on purpose
#include "core/planted/planted_fs.h"
#endif

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

// Logged once start-up has worked: bad use stays one line on stderr.
void log_nofile(const Result<NofileLimits>& nofile) {
  if (!nofile) {
    log(LogLevel::kWarn, "cannot raise the open file limit: %s", std::strerror(nofile.error()));
  } else if (nofile->now != nofile->before) {
    log(LogLevel::kInfo, "raised the open file limit from %llu to %llu",
        static_cast<unsigned long long>(nofile->before),
        static_cast<unsigned long long>(nofile->now));
  } else {
    log(LogLevel::kInfo, "open file limit: %llu", static_cast<unsigned long long>(nofile->now));
  }
}

// Waits for a signal of `waited`; meanwhile, every second, writes the summaries of
// rate-limited log lines whose interval has ended.
int wait_for_signal(const sigset_t& waited) {
  const timespec tick{1, 0};
  for (;;) {
    // Safety: waits for one of the blocked signals; -1 is the tick (EAGAIN) or a
    // stray signal (EINTR), after which we wait again.
    const int sig = ::sigtimedwait(&waited, nullptr, &tick);
    if (sig > 0) return sig;
    flush_suppressed();
  }
}

// vhost-user mode: accept one front-end, serve it, exit 0 when it goes away.
int run_vhost_user(const Options& opts, fuse::Server& server, const sigset_t& waited,
                   ScopedFd listener) {
  const std::string where =
      opts.socket_path.empty() ? "fd " + std::to_string(opts.socket_fd) : opts.socket_path;

  transport::vhost_user::Logger logger = [](transport::vhost_user::Severity s,
                                            std::string_view msg) {
    const auto level = static_cast<LogLevel>(static_cast<int>(s));
    if (log_enabled(level)) log(level, "%.*s", static_cast<int>(msg.size()), msg.data());
  };
  transport::vhost_user::FsDevice device(server, logger);
  transport::vhost_user::Backend backend(device, logger);

  log(LogLevel::kInfo, "waiting for a front-end on %s (sharing %s, cache=%s%s)", where.c_str(),
      opts.fs.root_dir.c_str(), policy_name(opts.fs.cache_policy),
      opts.fs.readonly ? ", readonly" : "");
  std::atomic<bool> done{false};
  std::mutex listener_mu;  // the listener is closed by the serving thread, woken by main
  int exit_code = 0;
  std::thread serving([&] {
    ScopedFd conn;
    for (;;) {
      // Safety: accept() on our listening socket; the connection is owned at once.
      conn.reset(::accept4(listener.get(), nullptr, nullptr, SOCK_CLOEXEC));
      if (conn.valid()) break;
      const int err = errno;
      if (err == EINTR) continue;
      // Out of fds or memory (a local user can exhaust the system's file table), or
      // a client that gave up: not a reason to stop listening. Try again shortly.
      if (!done.load() && (err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM ||
                           err == ECONNABORTED)) {
        log(LogLevel::kWarn, "accept on %s: %s; retrying", where.c_str(), std::strerror(err));
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
        continue;
      }
      errno = err;
      break;
    }
    if (!conn.valid()) {
      if (!done.load()) {
        log(LogLevel::kError, "accept on %s failed: %s", where.c_str(), std::strerror(errno));
        exit_code = 1;
      }
    } else {
      {
        std::lock_guard lock(listener_mu);
        listener.reset();  // one front-end only
        // Confined, the path is not ours to see (it would name a file in the share):
        // the supervisor removes the socket file instead.
        if (!opts.socket_path.empty() && opts.sandbox == SandboxMode::kNone) {
          ::unlink(opts.socket_path.c_str());
        }
      }
      log(LogLevel::kInfo, "front-end connected");
      const auto end = backend.serve(std::move(conn));
      if (end == transport::vhost_user::Backend::End::kMalformed) {
        log(LogLevel::kWarn, "closed the connection after a malformed message");
      }
      if (end != transport::vhost_user::Backend::End::kShutdown) {
        log(LogLevel::kInfo, "front-end disconnected; exiting");
      }
    }
    done.store(true);
    ::kill(::getpid(), kSessionEnded);
  });

  const int sig = wait_for_signal(waited);
  if (sig != kSessionEnded) {
    log(LogLevel::kInfo, "%s: exiting", strsignal(sig));
    done.store(true);
    backend.shutdown();
    // Wakes a blocked accept(): shutdown on a listening socket makes it fail.
    std::lock_guard lock(listener_mu);
    if (listener.valid()) ::shutdown(listener.get(), SHUT_RDWR);
  }
  serving.join();
  // Never connected (SIGTERM while waiting): do not leave the socket file behind.
  if (listener.valid() && !opts.socket_path.empty() && opts.sandbox == SandboxMode::kNone) {
    ::unlink(opts.socket_path.c_str());
  }
  flush_suppressed(/*all=*/true);
  const auto& st = device.stats();
  log(LogLevel::kInfo, "served %llu requests (%llu malformed chains, %llu dropped)",
      static_cast<unsigned long long>(st.chains.load()),
      static_cast<unsigned long long>(st.bad_chains.load()),
      static_cast<unsigned long long>(st.dropped.load()));
  return exit_code;
}

int run(const Options& opts) {
  set_log_level(opts.log_level);
  if (std::string err = drop_supplementary_groups(); !err.empty()) {
    std::fprintf(stderr, "%s\n", err.c_str());
    return 1;
  }
  const auto nofile = raise_nofile_limit();
  // Only the main thread takes these, with sigtimedwait(); workers inherit the mask.
  sigset_t waited;
  sigemptyset(&waited);
  for (int s : {SIGINT, SIGTERM, SIGHUP, kSessionEnded}) sigaddset(&waited, s);
  ::pthread_sigmask(SIG_BLOCK, &waited, nullptr);
  ::signal(SIGPIPE, SIG_IGN);

  // What pfsd creates on the host (the socket, the record file) is made first, with
  // its own private modes: PassthroughFs::create() below sets the umask to 0.
  ScopedFd listener;
  if (!opts.socket_path.empty()) {
    const auto group = resolve_group(opts.socket_group);
    if (!opts.socket_group.empty() && !group) {
      std::fprintf(stderr, "pfsd: --socket-group %s: no such group\n", opts.socket_group.c_str());
      return 1;
    }
    auto l = listen_private(opts.socket_path, group);
    if (!l) {
      std::fprintf(
          stderr, "pfsd: cannot listen on %s: %s%s\n", opts.socket_path.c_str(),
          std::strerror(l.error()),
          l.error() == EEXIST ? " (it is not a socket: remove it or pick another path)" : "");
      return 1;
    }
    listener = std::move(*l);
  } else if (opts.socket_fd >= 0) {
    listener.reset(opts.socket_fd);
  }
  std::unique_ptr<transport::devfuse::SessionRecorder> recorder;
  if (!opts.vhost_user() && !opts.record_dir.empty()) {
    auto rec = transport::devfuse::SessionRecorder::create(opts.record_dir);
    if (!rec) {
      std::fprintf(stderr, "pfsd: --record %s: %s (check the folder is writable)\n",
                   opts.record_dir.c_str(), std::strerror(rec.error()));
      return 1;
    }
    recorder = std::move(*rec);
  }

  auto fs = passthrough::PassthroughFs::create(opts.fs);
  if (!fs) {
    std::fprintf(stderr, "pfsd: cannot open shared directory %s: %s\n", opts.fs.root_dir.c_str(),
                 std::strerror(fs.error()));
    if (!opts.socket_path.empty()) ::unlink(opts.socket_path.c_str());
    return 1;
  }
  // Host mode: the mount is made before confinement (its /dev/fuse fd is kept).
  std::optional<transport::devfuse::FuseMount> mount;
  if (!opts.vhost_user()) {
    transport::devfuse::MountOptions mopts;
    mopts.mountpoint = opts.mountpoint;
    mopts.source = opts.fs.root_dir;
    mopts.readonly = opts.fs.readonly;
    mopts.default_permissions = opts.default_permissions;
    mopts.allow_other = opts.allow_other;
    std::string why;
    auto m = transport::devfuse::FuseMount::mount(mopts, &why);
    if (!m) {
      std::fprintf(stderr, "pfsd: %s\n", why.c_str());
      return 1;
    }
    mount = std::move(*m);
  }
  // The workers' clones of the /dev/fuse fd, opened while /dev/fuse is in sight.
  std::vector<ScopedFd> clones;
  if (mount && opts.threads > 1) {
    auto c = transport::devfuse::DevFuseSession::open_clones(mount->fd(), opts.threads - 1);
    if (!c) {
      std::fprintf(stderr, "pfsd: cannot clone the /dev/fuse fd: %s\n", std::strerror(c.error()));
      return 1;
    }
    clones = std::move(*c);
  }

  if (opts.sandbox != SandboxMode::kNone) {
    SandboxHooks hooks;
    hooks.in_helper = [&] {
      listener.reset();
      recorder.reset();
      fs->reset();
      if (mount) mount->close_device();
      clones.clear();
    };
    hooks.on_signal = [&](int sig) {
      log(LogLevel::kInfo, "%s: stopping the sandboxed server", strsignal(sig));
      if (mount && !mount->unmount()) {
        log(LogLevel::kError, "could not unmount %s: %s", opts.mountpoint.c_str(),
            std::strerror(errno));
      }
    };
    auto confined = enter_sandbox(opts.sandbox, opts.fs.root_dir, opts.fs.readonly, hooks);
    if (confined.kind == SandboxOutcome::kError) {
      std::fprintf(stderr, "%s\n", confined.error.c_str());
      return 1;
    }
    if (confined.kind == SandboxOutcome::kExited) {
      // The supervisor: the server is gone; clean up what it could not see.
      if (confined.status > 128) {  // pfsd itself never exits above 128: a signal
        const int sig = confined.status - 128;
        log(LogLevel::kError, "the sandboxed server was killed by %s%s", strsignal(sig),
            sig == SIGSYS ? " (seccomp: a syscall off the allow-list; --seccomp trap names it)"
                          : "");
      }
      if (mount) mount->unmount();
      if (!opts.socket_path.empty()) ::unlink(opts.socket_path.c_str());
      return confined.status;
    }
    // The server: the supervisor unmounts; the core works on the new root.
    if (mount) mount->disown();
    auto inside = passthrough::PassthroughFs::create_from_fds(opts.fs, std::move(confined.root),
                                                              std::move(confined.proc));
    if (!inside) {
      std::fprintf(stderr, "pfsd: cannot open the shared directory in the sandbox: %s\n",
                   std::strerror(inside.error()));
      return 1;
    }
    fs = std::move(inside);
  }
  if (opts.sandbox != SandboxMode::kNone || !opts.modcaps.empty()) {
    std::vector<CapChange> changes = opts.modcaps;
    // Unconfined in host mode, pfsd unmounts by itself at SIGTERM, and umount2 needs
    // CAP_SYS_ADMIN: keep it (an explicit -sys_admin, applied after, still wins).
    if (opts.sandbox == SandboxMode::kNone && !opts.vhost_user()) {
      changes.insert(changes.begin(), CapChange{true, CAP_SYS_ADMIN});
    }
    if (std::string err = drop_capabilities(changes); !err.empty()) {
      std::fprintf(stderr, "%s\n", err.c_str());
      return 1;
    }
  }
  if (std::string err = set_no_new_privs(); !err.empty()) {
    std::fprintf(stderr, "%s\n", err.c_str());
    return 1;
  }
  if (std::string err = install_seccomp(opts.seccomp, !opts.vhost_user()); !err.empty()) {
    std::fprintf(stderr, "%s\n", err.c_str());
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
#ifdef PFS_PLANTED_BUGS
  log(LogLevel::kWarn, "TEST-ONLY BUILD pfsd_planted: serving through PlantedFs (bugs planted)");
  planted::PlantedFs planted_fs(**fs);
  fuse::Server server(planted_fs, sopts);
#else
  fuse::Server server(**fs, sopts);
#endif
  if (opts.vhost_user()) {
    log_nofile(nofile);
    return run_vhost_user(opts, server, waited, std::move(listener));
  }

  transport::devfuse::DevFuseSession session(server, mount->fd(), recorder.get());
  session.adopt_clones(std::move(clones));
  if (Status s = session.start(opts.threads, [] { ::kill(::getpid(), kSessionEnded); }); s != kOk) {
    std::fprintf(stderr, "pfsd: cannot start workers: %s\n", std::strerror(s));
    return 1;
  }
  log_nofile(nofile);
  log(LogLevel::kInfo, "serving %s on %s (%u threads, cache=%s%s%s%s)", opts.fs.root_dir.c_str(),
      opts.mountpoint.c_str(), opts.threads, policy_name(opts.fs.cache_policy),
      opts.fs.readonly ? ", readonly" : "", opts.fs.writeback ? ", writeback" : "",
      recorder ? (", recording to " + recorder->path()).c_str() : "");

  const int sig = wait_for_signal(waited);
  if (sig == kSessionEnded) {
    log(LogLevel::kInfo, "the mount went away; exiting");
  } else {
    log(LogLevel::kInfo, "%s: unmounting %s", strsignal(sig), opts.mountpoint.c_str());
    if (!mount->unmount()) {  // confined: disowned, the supervisor unmounts
      log(LogLevel::kError, "could not unmount %s: %s", opts.mountpoint.c_str(),
          std::strerror(errno));
    }
  }
  session.stop();
  flush_suppressed(/*all=*/true);
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
