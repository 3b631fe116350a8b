#include "core/daemon/options.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <optional>
#include <sstream>

#include "core/daemon/listen_socket.h"
#include "core/transport/vhost_user/backend.h"

namespace pfs::daemon {

namespace {

constexpr const char* kVersion = "pfsd 0.1.0 (pfs-workbench; FUSE 7.38)";

std::optional<passthrough::CachePolicy> parse_cache(const std::string& s, double* timeout) {
  // Timeouts as virtiofsd chooses them for each policy.
  if (s == "never") {
    *timeout = 0;
    return passthrough::CachePolicy::kNever;
  }
  if (s == "metadata") {
    *timeout = 86400;
    return passthrough::CachePolicy::kNever;  // data uncached, metadata cached long
  }
  if (s == "auto") {
    *timeout = 1;
    return passthrough::CachePolicy::kAuto;
  }
  if (s == "always") {
    *timeout = 86400;
    return passthrough::CachePolicy::kAlways;
  }
  return std::nullopt;
}

std::optional<SandboxMode> parse_sandbox(const std::string& s) {
  if (s == "namespace") return SandboxMode::kNamespace;
  if (s == "chroot") return SandboxMode::kChroot;
  if (s == "none") return SandboxMode::kNone;
  return std::nullopt;
}

std::optional<SeccompAction> parse_seccomp(const std::string& s) {
  if (s == "kill") return SeccompAction::kKill;
  if (s == "log") return SeccompAction::kLog;
  if (s == "trap") return SeccompAction::kTrap;
  if (s == "none") return SeccompAction::kNone;
  return std::nullopt;
}

std::optional<LogLevel> parse_level(const std::string& s) {
  if (s == "error") return LogLevel::kError;
  if (s == "warn") return LogLevel::kWarn;
  if (s == "info") return LogLevel::kInfo;
  if (s == "debug") return LogLevel::kDebug;
  return std::nullopt;
}

fuse::Timeout to_timeout(double seconds) {
  const double whole = std::floor(seconds);
  return fuse::Timeout{static_cast<uint64_t>(whole),
                       static_cast<uint32_t>((seconds - whole) * 1e9)};
}

// What the legacy "-o a=b,c" form sets; applied after the modern flags are read.
struct Legacy {
  std::optional<std::string> source, cache, log_level;
  std::optional<bool> xattr, writeback, readonly;
  std::optional<double> timeout;
  std::optional<unsigned> threads;
};

std::string parse_legacy(const std::vector<std::string>& items, Legacy& l) {
  for (const std::string& group : items) {
    std::stringstream ss(group);
    std::string item;
    while (std::getline(ss, item, ',')) {
      if (item.empty()) continue;
      const auto eq = item.find('=');
      const std::string key = item.substr(0, eq);
      const std::string val = eq == std::string::npos ? "" : item.substr(eq + 1);
      try {
        if (key == "source") {
          l.source = val;
        } else if (key == "cache") {
          l.cache = val;
        } else if (key == "log_level") {
          l.log_level = val;
        } else if (key == "xattr" || key == "no_xattr") {
          l.xattr = key == "xattr";
        } else if (key == "writeback" || key == "no_writeback") {
          l.writeback = key == "writeback";
        } else if (key == "readonly" || key == "ro") {
          l.readonly = true;
        } else if (key == "timeout") {
          l.timeout = std::stod(val);
        } else if (key == "thread_pool_size") {
          l.threads = static_cast<unsigned>(std::stoul(val));
        } else {
          return "unknown -o option '" + key +
                 "' (known: source, cache, xattr, no_xattr, writeback, no_writeback, readonly, "
                 "timeout, thread_pool_size, log_level)";
        }
      } catch (const std::exception&) {
        return "bad value in -o " + item;
      }
    }
  }
  return "";
}

}  // namespace

ParseOutcome parse_options(int argc, char** argv, Options& out) {
  CLI::App app{
      "pfsd: serve a host directory through FUSE, as a port of crosvm's PassthroughFs.\n"
      "Host mode mounts it with the kernel's own FUSE client:\n"
      "  pfsd --shared-dir DIR --mount MOUNTPOINT\n"
      "vhost-user mode serves a VM (QEMU vhost-user-fs-pci), as virtiofsd does:\n"
      "  pfsd --shared-dir DIR --socket-path PATH   (or --fd N)\n"
      "Stop it with Ctrl-C or SIGTERM: it unmounts (lazily when busy) and exits 0;\n"
      "in vhost-user mode it also exits 0 when the front-end disconnects.",
      "pfsd"};
  std::string shared_dir, cache = "auto", level = "info";
  std::string sandbox = "namespace", seccomp = "kill", modcaps;
  bool xattr = true, no_xattr = false;
  double entry_timeout = -1, attr_timeout = -1;
  unsigned threads = out.threads;
  std::vector<std::string> legacy;
  bool version = false;

  app.add_option("--shared-dir", shared_dir, "Directory to share")->type_name("DIR");
  app.add_option("--mount", out.mountpoint, "Mount point on the host (host mode, /dev/fuse)")
      ->type_name("MOUNTPOINT");
  app.add_option("--socket-path", out.socket_path,
                 "vhost-user mode: listen on this unix socket for one front-end")
      ->type_name("PATH");
  app.add_option("--socket-group", out.socket_group,
                 "vhost-user mode: let this group's members connect too (socket 0660; "
                 "default 0600, the owner only)")
      ->type_name("GROUP");
  app.add_option("--fd", out.socket_fd, "vhost-user mode: an already listening socket fd")
      ->type_name("N");
  app.add_flag("--print-capabilities", out.print_capabilities,
               "Print the vhost-user backend capabilities (JSON) and exit");
  app.add_option("--cache", cache, "Cache policy: never|auto|always|metadata (default auto)")
      ->type_name("POLICY");
  app.add_flag("--writeback", out.fs.writeback, "Enable the kernel's writeback cache");
  app.add_flag("--xattr", xattr, "Serve extended attributes (default)");
  app.add_flag("--no-xattr", no_xattr, "Answer ENOSYS to every xattr request");
  app.add_flag("--rewrite-security-xattrs", out.fs.rewrite_security_xattrs,
               "Store security.* (but security.selinux) as user.virtiofs.security.*");
  app.add_flag("--ascii-casefold", out.fs.ascii_casefold,
               "Case-insensitive (ASCII) lookups when the exact name is missing");
  app.add_option("--entry-timeout", entry_timeout,
                 "Seconds the client may cache names (default: by cache policy)")
      ->type_name("SECONDS");
  app.add_option("--attr-timeout", attr_timeout,
                 "Seconds the client may cache attributes (default: by cache policy)")
      ->type_name("SECONDS");
  app.add_flag("--readonly", out.fs.readonly, "Refuse every change with EROFS");
  app.add_option("--thread-pool-size", threads,
                 "Worker threads (default 4; host mode: vhost-user runs one worker per queue)")
      ->type_name("N");
  app.add_option("--log-level", level, "error|warn|info|debug (default info)")->type_name("LEVEL");
  app.add_option("--record", out.record_dir,
                 "Write every request received, raw, to a session file in DIR")
      ->type_name("DIR");
  app.add_flag("--allow-other", out.allow_other,
               "Host mode: let other users use the mount too (mount options allow_other and "
               "default_permissions; default: only the user who mounted, root)");
  app.add_flag("--default-permissions", out.default_permissions,
               "Let the kernel check permissions from the file modes (mount option; always on "
               "with --allow-other)");
  app.add_option("--sandbox", sandbox,
                 "Confine pfsd: namespace (pivot_root into the shared dir in new mount, pid, "
                 "net and ipc namespaces; the default, as virtiofsd), chroot (for containers that "
                 "have namespaces already), or none")
      ->type_name("MODE");
  app.add_option("--seccomp", seccomp,
                 "Syscalls off the allow-list: kill (default), log, trap (print the name and the "
                 "stack, exit) or none")
      ->type_name("ACTION");
  app.add_option("--modcaps", modcaps,
                 "Change the capabilities kept when confined: +name,-name (e.g. +sys_admin)")
      ->type_name("CAPS");
  app.add_option("-o", legacy, "Legacy virtiofsd options: source=DIR,cache=P,xattr,...")
      ->type_name("OPTS");
  app.add_flag("-V,--version", version, "Print the version and exit");

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp&) {
    return {ParseOutcome::kExitOk, app.help()};
  } catch (const CLI::ParseError& e) {
    std::string what = e.what();
    return {ParseOutcome::kExitError, "pfsd: " + what + " (see pfsd --help)"};
  }
  if (version) return {ParseOutcome::kExitOk, kVersion};
  if (out.print_capabilities) {
    return {ParseOutcome::kExitOk, transport::vhost_user::kCapabilitiesJson};
  }

  Legacy l;
  if (std::string err = parse_legacy(legacy, l); !err.empty()) {
    return {ParseOutcome::kExitError, "pfsd: " + err};
  }
  if (l.source) shared_dir = *l.source;
  if (l.cache) cache = *l.cache;
  if (l.log_level) level = *l.log_level;
  if (l.xattr) no_xattr = !*l.xattr;
  if (l.writeback) out.fs.writeback = *l.writeback;
  if (l.readonly) out.fs.readonly = true;
  if (l.timeout) entry_timeout = attr_timeout = *l.timeout;
  if (l.threads) threads = *l.threads;

  if (shared_dir.empty()) {
    return {ParseOutcome::kExitError,
            "pfsd: no shared directory: give --shared-dir DIR (or -o source=DIR)"};
  }
  const int modes = (out.mountpoint.empty() ? 0 : 1) + (out.socket_path.empty() ? 0 : 1) +
                    (out.socket_fd >= 0 ? 1 : 0);
  if (modes == 0) {
    return {ParseOutcome::kExitError,
            "pfsd: nothing to serve on: give --mount MOUNTPOINT (host mode), or --socket-path "
            "PATH or --fd N (vhost-user)"};
  }
  if (modes > 1) {
    return {ParseOutcome::kExitError, "pfsd: give only one of --mount, --socket-path and --fd"};
  }
  if (!out.socket_group.empty() && out.socket_path.empty()) {
    return {ParseOutcome::kExitError,
            "pfsd: --socket-group only goes with --socket-path (pfsd makes no socket with --fd "
            "or --mount)"};
  }
  double policy_timeout = 1;
  auto policy = parse_cache(cache, &policy_timeout);
  if (!policy) {
    return {ParseOutcome::kExitError,
            "pfsd: --cache " + cache + ": use never, auto, always or metadata"};
  }
  auto lvl = parse_level(level);
  if (!lvl) {
    return {ParseOutcome::kExitError,
            "pfsd: --log-level " + level + ": use error, warn, info or debug"};
  }
  for (double t : {entry_timeout, attr_timeout}) {
    if (t != -1 && (!(t >= 0) || t > 1e9)) {
      return {ParseOutcome::kExitError, "pfsd: timeouts are seconds from 0 to 1e9"};
    }
  }
  if (threads == 0 || threads > 256) {
    return {ParseOutcome::kExitError, "pfsd: --thread-pool-size must be from 1 to 256"};
  }
  auto sbx = parse_sandbox(sandbox);
  if (!sbx) {
    return {ParseOutcome::kExitError,
            "pfsd: --sandbox " + sandbox + ": use namespace, chroot or none"};
  }
  auto sc = parse_seccomp(seccomp);
  if (!sc) {
    return {ParseOutcome::kExitError,
            "pfsd: --seccomp " + seccomp + ": use kill, log, trap or none"};
  }
  if (std::string err = parse_modcaps(modcaps, out.modcaps); !err.empty()) {
    return {ParseOutcome::kExitError, err};
  }
  out.sandbox = *sbx;
  out.seccomp = *sc;
  // Other users never reach the mount without the kernel's own permission checks.
  if (out.allow_other) out.default_permissions = true;
  out.fs.root_dir = shared_dir;
  out.fs.cache_policy = *policy;
  out.fs.xattr = !no_xattr;
  out.fs.entry_timeout = to_timeout(entry_timeout >= 0 ? entry_timeout : policy_timeout);
  out.fs.attr_timeout = to_timeout(attr_timeout >= 0 ? attr_timeout : policy_timeout);
  out.threads = threads;
  out.log_level = *lvl;
  return {};
}

std::string validate_environment(const Options& opts) {
  struct stat st {};
  const std::string& dir = opts.fs.root_dir;
  if (::stat(dir.c_str(), &st) != 0) {
    return "pfsd: shared directory " + dir + ": " + std::strerror(errno) +
           " (create it or fix --shared-dir)";
  }
  if (!S_ISDIR(st.st_mode)) {
    return "pfsd: shared directory " + dir + " is not a directory (fix --shared-dir)";
  }
  if (::access(dir.c_str(), R_OK | X_OK) != 0) {
    return "pfsd: shared directory " + dir + " is not readable: " + std::strerror(errno) +
           " (check its permissions)";
  }
  if (opts.vhost_user()) {
    if (!opts.socket_group.empty() && !resolve_group(opts.socket_group)) {
      return "pfsd: --socket-group " + opts.socket_group +
             ": no such group (give a group name from /etc/group or a numeric gid)";
    }
    if (opts.socket_fd >= 0 && ::fcntl(opts.socket_fd, F_GETFD) < 0) {
      return "pfsd: --fd " + std::to_string(opts.socket_fd) + ": " + std::strerror(errno) +
             " (pass a listening socket fd)";
    }
    return "";
  }
  if (::stat(opts.mountpoint.c_str(), &st) != 0 && errno != ENOTCONN) {
    return "pfsd: mountpoint " + opts.mountpoint + ": " + std::strerror(errno) +
           " (create it with mkdir -p)";
  }
  if (::access("/dev/fuse", R_OK | W_OK) != 0) {
    return std::string("pfsd: /dev/fuse: ") + std::strerror(errno) +
           " (load the fuse module: modprobe fuse; in a container, pass --device /dev/fuse)";
  }
  return "";
}

}  // namespace pfs::daemon
