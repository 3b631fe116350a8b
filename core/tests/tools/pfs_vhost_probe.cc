// pfs_vhost_probe: a hostile virtio-fs guest for a real pfsd. It connects to the
// vhost-user socket, sets the device up as QEMU's vhost-user-fs-pci does (fake
// guest memory and split rings from core/tests/vhost_user_frontend.h), sends
// FUSE_INIT, then turns each line of a script (stdin or --script FILE; language in
// probe_script.h) into raw FUSE request bytes and prints one line per line:
// the reply (probe_reply.h), "set ..." for a state change, "noreply used=N" for a
// request that has none, "timeout" when the device did not answer, or
// "error line N: ..." for a line that does not parse. Output is flushed per line,
// so a driver can talk to it interactively.
#include <linux/fuse.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/passthrough/scoped_fd.h"
#include "core/tests/tools/probe_reply.h"
#include "core/tests/tools/probe_script.h"
#include "core/tests/vhost_user_frontend.h"

namespace {

using pfs::ScopedFd;
using pfs::probe::Command;
using pfs::testing::Buf;
using pfs::testing::FakeFrontend;
using pfs::testing::FakeGuestMemory;
using pfs::testing::FakeRing;

constexpr const char* kUsage =
    "usage: pfs_vhost_probe --socket PATH [--script FILE] [--queues N] [--timeout MS]\n"
    "                       [--init-flags N] [--strict]\n"
    "Connects to a vhost-user-fs back-end (pfsd --socket-path) as a guest would, sends\n"
    "FUSE_INIT (prints 'ready ...'), then runs the script (stdin by default) and prints\n"
    "one line per command. --queues: request queues besides hiprio (default 2).\n"
    "--strict: exit 2 at the first bad line instead of printing 'error' and going on.\n"
    "Script commands (C-escaped \"strings\" for names and data; numbers as C literals):\n"
    "  lookup P NAME | forget N NLOOKUP | batchforget N C [N C..] | getattr N [FH]\n"
    "  setattr N mode=M uid=U gid=G size=S fh=F atime=T mtime=T valid=V\n"
    "  readlink N | symlink P NAME TARGET | mknod P NAME MODE RDEV [UMASK]\n"
    "  mkdir P NAME MODE [UMASK] | create P NAME MODE FLAGS [UMASK] | unlink P NAME\n"
    "  rmdir P NAME | rename P NAME NP NEWNAME | rename2 P NAME NP NEWNAME FLAGS\n"
    "  link N NP NEWNAME | open N FLAGS | opendir N FLAGS | read N FH SIZE [OFF]\n"
    "  write N FH OFF DATA | readdir(plus) N FH SIZE [OFF] | release(dir) N FH\n"
    "  access N MASK | statfs N | setxattr N NAME VALUE [FLAGS] | getxattr N NAME SIZE\n"
    "  listxattr N SIZE | removexattr N NAME\n"
    "  ioctl N FH CMD OUT_SIZE [IN_DATA [IN_SIZE [FLAGS [ARG]]]]\n"
    "  op OPCODE N [HEXBODY] | raw HEXBYTES (whole request)\n"
    "  uid U [gid G] [pid P] | queue Q | replyroom BYTES | post CMD | collect\n"
    "  repeat N CMD\n";

struct Slot {
  Command cmd;
  unsigned queue = 0;
  uint16_t head = 0;
  uint64_t unique = 0;
  uint64_t reply_gpa = 0;
  uint32_t reply_room = 0;
};

class Probe {
 public:
  Probe(unsigned queues, int timeout_ms) : mem_(64u << 20), timeout_ms_(timeout_ms) {
    for (unsigned q = 0; q <= queues; ++q) rings_.push_back(std::make_unique<FakeRing>(mem_, 64));
    mark_ = mem_.mark();
  }

  std::string connect(const std::string& path) {
    if (!mem_.ok()) return "cannot make guest memory";
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    if (path.size() >= sizeof(sa.sun_path)) return "socket path too long";
    std::memcpy(sa.sun_path, path.c_str(), path.size() + 1);
    sock_.reset(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    // The result matters: without a connection there is nothing to probe.
    if (!sock_.valid() ||
        ::connect(sock_.get(), reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) != 0) {
      return "connect " + path + ": " + std::strerror(errno);
    }
    fe_ = std::make_unique<FakeFrontend>(sock_.get());
    std::vector<FakeRing*> rings;
    for (auto& r : rings_) rings.push_back(r.get());
    const std::string why = pfs::testing::negotiate_frontend(*fe_, mem_, rings);
    return why.empty() ? "" : "vhost-user set-up failed at " + why;
  }

  // Sends FUSE_INIT; the reply line, or an empty string when there was none.
  std::string init(uint32_t flags) {
    Command c;
    c.opcode = FUSE_INIT;
    fuse_init_in in{};
    in.major = FUSE_KERNEL_VERSION;
    in.minor = FUSE_KERNEL_MINOR_VERSION;
    in.max_readahead = 128 * 1024;
    in.flags = flags;
    c.body.resize(sizeof(in));
    std::memcpy(c.body.data(), &in, sizeof(in));
    return run(c);
  }

  // Runs one parsed command; the line to print.
  std::string execute(const Command& c) {
    switch (c.kind) {
      case Command::Kind::kSetIds:
        if (c.uid) uid_ = *c.uid;
        if (c.gid) gid_ = *c.gid;
        if (c.pid) pid_ = *c.pid;
        return "set uid=" + std::to_string(uid_) + " gid=" + std::to_string(gid_) +
               " pid=" + std::to_string(pid_);
      case Command::Kind::kQueue:
        if (c.number >= rings_.size()) {
          return "error: queue " + std::to_string(c.number) + " does not exist (0.." +
                 std::to_string(rings_.size() - 1) + ")";
        }
        queue_ = static_cast<unsigned>(c.number);
        return "set queue=" + std::to_string(queue_);
      case Command::Kind::kReplyRoom:
        reply_room_ = static_cast<uint32_t>(c.number);
        return "set replyroom=" + std::to_string(reply_room_);
      case Command::Kind::kPost: {
        if (per_queue_[queue_] >= 30) return "error: 30 requests already posted on this queue";
        const Slot s = publish(*c.inner);
        ++per_queue_[queue_];
        posted_.push_back(s);
        return "posted unique=" + std::to_string(s.unique) + " queue=" + std::to_string(s.queue);
      }
      case Command::Kind::kCollect: {
        std::string out = "collected " + std::to_string(posted_.size());
        for (const Slot& s : posted_) {
          out += " | unique=" + std::to_string(s.unique) + " queue=" + std::to_string(s.queue) +
                 " " + wait(s);
        }
        posted_.clear();
        per_queue_.clear();
        release();
        return out;
      }
      case Command::Kind::kRepeat: {
        uint64_t ok = 0;
        std::map<std::string, uint64_t> other;
        std::string last;
        for (uint64_t i = 0; i < c.number; ++i) {
          last = run(*c.inner);
          if (last.rfind("ok", 0) == 0) {
            ++ok;
          } else {
            const std::string key = last.substr(0, last.find(' ', last.find(' ') + 1));
            ++other[key];
            if (last == "timeout") break;
          }
        }
        std::string out = "repeat " + std::to_string(c.number) + " ok=" + std::to_string(ok);
        for (auto& [k, n] : other) out += " [" + k + "]=" + std::to_string(n);
        return out + " last: " + last;
      }
      case Command::Kind::kRequest:
      case Command::Kind::kRaw:
        return run(c);
    }
    return "error: unknown command kind";
  }

 private:
  std::string run(const Command& c) {
    const Slot s = publish(c);
    std::string r = wait(s);
    release();
    return r;
  }

  Slot publish(const Command& c) {
    Slot s;
    s.cmd = c;
    s.queue = queue_;
    s.unique = next_unique_;
    next_unique_ += 2;
    std::vector<uint8_t> bytes;
    if (c.kind == Command::Kind::kRaw) {
      bytes = c.body;
      if (bytes.size() >= offsetof(fuse_in_header, unique) + 8) {
        std::memcpy(&s.unique, bytes.data() + offsetof(fuse_in_header, unique), 8);
      }
    } else {
      fuse_in_header h{};
      h.len = static_cast<uint32_t>(sizeof(h) + c.body.size());
      h.opcode = c.opcode;
      h.unique = s.unique;
      h.nodeid = c.nodeid;
      h.uid = uid_;
      h.gid = gid_;
      h.pid = pid_;
      bytes.resize(sizeof(h));
      std::memcpy(bytes.data(), &h, sizeof(h));
      bytes.insert(bytes.end(), c.body.begin(), c.body.end());
    }
    std::vector<Buf> bufs;
    if (!bytes.empty()) {
      const uint64_t req = mem_.alloc(bytes.size());
      std::memcpy(mem_.at(req), bytes.data(), bytes.size());
      bufs.push_back({req, static_cast<uint32_t>(bytes.size()), false});
    }
    if (c.kind == Command::Kind::kRaw || c.expects_reply) {
      s.reply_room = reply_room_;
      s.reply_gpa = mem_.alloc(reply_room_, 4096);
      bufs.push_back({s.reply_gpa, reply_room_, true});
    }
    FakeRing& ring = *rings_[queue_];
    s.head = ring.build(bufs);
    ring.publish(s.head);
    return s;
  }

  // Waits for `s` to come back on its queue (other chains coming first are kept).
  std::string wait(const Slot& s) {
    FakeRing& ring = *rings_[s.queue];
    const auto key = std::pair{s.queue, s.head};
    while (done_.find(key) == done_.end()) {
      auto used = ring.wait_used(timeout_ms_);
      if (!used) return "timeout";
      done_[{s.queue, static_cast<uint16_t>(used->first)}] = used->second;
    }
    const uint32_t len = done_[key];
    done_.erase(key);
    if (s.reply_room == 0) return "noreply used=" + std::to_string(len);
    if (len == 0) return "empty used=0";
    const uint32_t n = std::min(len, s.reply_room);
    std::string line =
        pfs::probe::format_reply(s.cmd, std::span<const uint8_t>(mem_.at(s.reply_gpa), n), len);
    fuse_out_header h{};
    std::memcpy(&h, mem_.at(s.reply_gpa), sizeof(h));
    if (n >= sizeof(h) && h.unique != s.unique)
      line += " unique-mismatch=" + std::to_string(h.unique);
    return line;
  }

  void release() {
    if (posted_.empty()) mem_.release_to(mark_);
  }

  FakeGuestMemory mem_;
  int timeout_ms_;
  std::vector<std::unique_ptr<FakeRing>> rings_;
  size_t mark_ = 0;
  ScopedFd sock_;
  std::unique_ptr<FakeFrontend> fe_;
  uint32_t uid_ = 0, gid_ = 0, pid_ = 1;
  unsigned queue_ = 1;
  uint32_t reply_room_ = 256 * 1024;
  uint64_t next_unique_ = 2;
  std::vector<Slot> posted_;
  std::map<unsigned, unsigned> per_queue_;
  std::map<std::pair<unsigned, uint16_t>, uint32_t> done_;
};

bool parse_num(const char* s, uint64_t& v) {
  char* end = nullptr;
  errno = 0;
  v = std::strtoull(s, &end, 0);
  return errno == 0 && end != s && *end == '\0' && s[0] != '-';
}

}  // namespace

int main(int argc, char** argv) {
  std::string socket_path, script;
  uint64_t queues = 2, timeout_ms = 5000;
  // What a Linux virtio-fs client offers, without the INIT_EXT (flags2) extensions.
  uint64_t init_flags = FUSE_ASYNC_READ | FUSE_POSIX_LOCKS | FUSE_ATOMIC_O_TRUNC |
                        FUSE_EXPORT_SUPPORT | FUSE_BIG_WRITES | FUSE_DONT_MASK | FUSE_FLOCK_LOCKS |
                        FUSE_DO_READDIRPLUS | FUSE_READDIRPLUS_AUTO | FUSE_ASYNC_DIO |
                        FUSE_PARALLEL_DIROPS | FUSE_HANDLE_KILLPRIV | FUSE_POSIX_ACL |
                        FUSE_MAX_PAGES | FUSE_CACHE_SYMLINKS;
  bool strict = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&](const char* what) -> const char* {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "pfs_vhost_probe: %s needs a value\n%s", what, kUsage);
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "-h" || a == "--help") {
      std::fputs(kUsage, stdout);
      return 0;
    } else if (a == "--socket") {
      socket_path = value("--socket");
    } else if (a == "--script") {
      script = value("--script");
    } else if (a == "--strict") {
      strict = true;
    } else if (a == "--queues" || a == "--timeout" || a == "--init-flags") {
      uint64_t& dst = a == "--queues" ? queues : a == "--timeout" ? timeout_ms : init_flags;
      const char* v = value(a.c_str());
      if (!parse_num(v, dst) || (a == "--queues" && (dst < 1 || dst > 16)) ||
          (a == "--timeout" && (dst < 1 || dst > 600000)) ||
          (a == "--init-flags" && dst > UINT32_MAX)) {
        std::fprintf(stderr, "pfs_vhost_probe: bad value for %s: '%s'\n", a.c_str(), v);
        return 2;
      }
    } else {
      std::fprintf(stderr, "pfs_vhost_probe: unknown argument '%s'\n%s", a.c_str(), kUsage);
      return 2;
    }
  }
  if (socket_path.empty()) {
    std::fprintf(stderr, "pfs_vhost_probe: --socket PATH is required\n%s", kUsage);
    return 2;
  }
  std::ifstream file;
  if (!script.empty()) {
    file.open(script);
    if (!file) {
      std::fprintf(stderr, "pfs_vhost_probe: cannot read script %s\n", script.c_str());
      return 2;
    }
  }
  std::istream& in = script.empty() ? std::cin : file;

  Probe probe(static_cast<unsigned>(queues), static_cast<int>(timeout_ms));
  if (const std::string why = probe.connect(socket_path); !why.empty()) {
    std::fprintf(stderr, "pfs_vhost_probe: %s\n", why.c_str());
    return 3;
  }
  const std::string init = probe.init(static_cast<uint32_t>(init_flags));
  if (init.rfind("ok", 0) != 0) {
    std::fprintf(stderr, "pfs_vhost_probe: FUSE_INIT failed: %s\n", init.c_str());
    return 3;
  }
  std::printf("ready %s\n", init.substr(3).c_str());
  std::fflush(stdout);

  std::string line;
  int bad = 0;
  for (unsigned lineno = 1; std::getline(in, line); ++lineno) {
    const pfs::probe::ParseResult r = pfs::probe::parse_line(line);
    if (!r.error.empty()) {
      std::printf("error line %u: %s\n", lineno, r.error.c_str());
      std::fflush(stdout);
      std::fprintf(stderr, "pfs_vhost_probe: line %u: %s\n", lineno, r.error.c_str());
      ++bad;
      if (strict) return 2;
      continue;
    }
    if (!r.command) continue;
    std::printf("%s\n", probe.execute(*r.command).c_str());
    std::fflush(stdout);
  }
  return bad == 0 ? 0 : 1;
}
