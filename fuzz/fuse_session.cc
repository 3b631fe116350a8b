// Fuzz target: a FUSE byte stream through Server + PassthroughFs on a real
// directory (see DESIGN.md, "The workbench").
//
// Input format. The input is what reads of /dev/fuse return: requests framed by
// their own fuse_in_header.len (a session recorded by `pfsd --record` is a valid
// input as is). Optionally it starts with a 5-byte configuration prefix:
//
//   "PFSC" <config byte>   then the stream
//
// A stream cannot start with "PFSC": as fuse_in_header.len that is ~1.1 GB, over
// any request the server accepts, so the prefix is unambiguous and raw recordings
// always run with the default Config. Instead of it, "PFSN" runs the stream
// against a bare fuse::FileSystem, every operation its default (ENOSYS, INIT
// enables nothing): what the Server answers for a file system that implements
// nothing (the scratch tree is untouched then). "PFSF" <config byte> <fault byte>
// is "PFSC" with one of the core's fault hooks armed for the input (fault_mode.h:
// a step fails, or a racing client acts, on its N-th use). Config byte bits:
//   0 rewrite_security_xattrs   1 ascii_casefold   2 writeback
//   3-4 cache policy (0 never, 1 auto, 2 always, 3 auto)
//   5 readonly   6 xattr off    7 posix_acl off
//
// Per input: the scratch tree is reset to its fixed contents (scratch_area.h), a
// PassthroughFs and a Server are made on it with the chosen Config, INIT (with
// the flags a Linux 6.x kernel offers) runs first unless the stream starts with
// INIT, then every request runs in order, its node ids and handles remapped
// (id_map.h). Oracles: each reply is well formed and the inode table consistent
// after every request; after the input (file system destroyed) the fd count is
// back at its baseline and the canary tree beside the scratch root is unchanged.
// PFS_FUZZ_TRACE=1 in the environment prints each request and its reply status.
#include <fcntl.h>
#include <linux/fuse.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <optional>
#include <span>
#include <vector>

#include "core/fuse/server.h"
#include "core/passthrough/passthrough_fs.h"
#include "core/passthrough/scoped_fd.h"
#include "core/passthrough/security_context.h"
#include "core/transport/memory/request_builder.h"
#include "core/transport/memory/session.h"
#include "fuzz/fault_mode.h"
#include "fuzz/fd_count.h"
#include "fuzz/fuzz_seccomp.h"
#include "fuzz/guarded_buffer.h"
#include "fuzz/id_map.h"
#include "fuzz/oracles.h"
#include "fuzz/saved_cwd.h"
#include "fuzz/scratch_area.h"
#include "fuzz/table_oracle.h"

namespace {

using pfs::fuzz::oracle_fail;
namespace mem = pfs::transport::memory;
namespace pt = pfs::passthrough;

constexpr char kMagic[4] = {'P', 'F', 'S', 'C'};
constexpr char kBareMagic[4] = {'P', 'F', 'S', 'N'};
constexpr char kFaultMagic[4] = {'P', 'F', 'S', 'F'};
pfs::fuzz::FaultMode* g_fault = nullptr;    // the input's, in fault mode
constexpr rlim_t kMaxFileSize = 64u << 20;  // keeps sparse writes cheap on tmpfs

// Process-wide state, made once.
struct Env {
  pfs::fuzz::ScratchArea area;
  pfs::fuzz::SavedCwd cwd;
  pfs::fuzz::FastFdBaseline fds;  // fd_count.h: the same oracle, one stat() per call
  pfs::fuzz::GuardedBuffer request;
  pfs::fuzz::GuardedBuffer reply;
  // What PassthroughFs::create would open per input (an O_PATH fd of the scratch
  // root and of /proc/self), opened once: each input gets dups of them.
  pfs::ScopedFd root{::open(area.root().c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC)};
  pfs::ScopedFd proc{::open("/proc/self", O_PATH | O_DIRECTORY | O_CLOEXEC)};
  // PFS_FUZZ_TRACE=1 prints every request and its reply status (for triage).
  const bool trace = std::getenv("PFS_FUZZ_TRACE") != nullptr;

  Env() {
    if (!root.valid() || !proc.valid()) oracle_fail("cannot open the scratch root or /proc/self");
    // The fscreate fd is opened once per thread and kept, by design (see
    // security_context.h): open it before the fd baseline is taken, so a request
    // with a security context does not look like a leak.
    (void)pfs::passthrough::ScopedSecurityContext::enter("pfs_fuzz_warmup");
  }
  Env(const Env&) = delete;
  Env& operator=(const Env&) = delete;

  void restore_cwd() const { cwd.restore(); }
};

Env& env() {
  static Env e;
  return e;
}

// The fuzzer thread's effective ids, back at their baseline after each input.
pfs::fuzz::ThreadIds& thread_ids() {
  static pfs::fuzz::ThreadIds ids;
  return ids;
}

// What PassthroughFs's tables must hold (table_oracle.h), per input.
pfs::fuzz::TableModel& table_model() {
  static pfs::fuzz::TableModel m;
  return m;
}

pt::Config config_from(uint8_t b) {
  pt::Config cfg;
  cfg.rewrite_security_xattrs = (b & 0x01) != 0;
  cfg.ascii_casefold = (b & 0x02) != 0;
  cfg.writeback = (b & 0x04) != 0;
  switch ((b >> 3) & 3) {
    case 0:
      cfg.cache_policy = pt::CachePolicy::kNever;
      break;
    case 2:
      cfg.cache_policy = pt::CachePolicy::kAlways;
      break;
    default:
      cfg.cache_policy = pt::CachePolicy::kAuto;
      break;
  }
  cfg.readonly = (b & 0x20) != 0;
  cfg.xattr = (b & 0x40) == 0;
  cfg.posix_acl = (b & 0x80) == 0;
  return cfg;
}

pfs::ScopedFd dup_of(const pfs::ScopedFd& fd) {
  pfs::ScopedFd copy(::fcntl(fd.get(), F_DUPFD_CLOEXEC, 0));
  if (!copy.valid()) oracle_fail("dup: %s", std::strerror(errno));
  return copy;
}

uint32_t opcode_of(std::span<const uint8_t> request) {
  fuse_in_header h{};
  if (request.size() < sizeof(h)) return 0;
  std::memcpy(&h, request.data(), sizeof(h));
  return h.opcode;
}

// Runs one request (copied, guarded, ids remapped) and checks it; the inode table
// too when there is a PassthroughFs.
void run_one(pfs::fuse::Server& server, const pt::PassthroughFs* fs, pfs::fuzz::IdMap& ids,
             std::span<const uint8_t> request) {
  Env& e = env();
  std::memcpy(e.request.prepare(request.size()).data(), request.data(), request.size());
  const std::span<uint8_t> req = e.request.seal(request.size());
  ids.remap_request(req);
  const pfs::fuzz::RequestInfo info = pfs::fuzz::request_info(req);

  pfs::fuse::Reader in(req.data(), req.size());
  if (g_fault != nullptr && fs) g_fault->before_request(*fs, req);
  const std::span<uint8_t> space = e.reply.prepare(server.reply_buffer_size());
  pfs::fuse::Writer out(space.data(), space.size());
  const size_t n = server.handle(in, out);
  const std::span<const uint8_t> reply = e.reply.seal(n);
  pfs::fuzz::check_reply(info, n, out.written(), reply);
  if (info.has_header) ids.learn(info.opcode, reply);
  if (e.trace) {
    fuse_in_header h{};
    fuse_out_header oh{};
    if (req.size() >= sizeof(h)) std::memcpy(&h, req.data(), sizeof(h));
    if (n >= sizeof(oh)) std::memcpy(&oh, reply.data(), sizeof(oh));
    std::fprintf(stderr, "trace: opcode %u nodeid %llu len %zu -> reply %zu bytes, error %d\n",
                 h.opcode, static_cast<unsigned long long>(h.nodeid), req.size(), n, oh.error);
  }

  if (fs) pfs::fuzz::check_inode_table(fs->inodes(), info.opcode);
  if (fs) table_model().after_request(server, *fs, req, reply);
  if (g_fault != nullptr) thread_ids().check("after a request (fault mode)");
}

// INIT first unless the stream starts with it, then every request in order.
void run_stream(pfs::fuse::Server& server, const pt::PassthroughFs* fs,
                std::span<const uint8_t> stream) {
  pfs::fuzz::IdMap ids;
  const std::vector<std::span<const uint8_t>> requests = mem::frame_stream(stream);
  if (requests.empty() || opcode_of(requests.front()) != FUSE_INIT) {
    const mem::Bytes init = mem::req::init(mem::kLinuxInitFlags);
    run_one(server, fs, ids, init);
  }
  for (std::span<const uint8_t> r : requests) run_one(server, fs, ids, r);
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int* argc, char*** argv) {
  // A write far past the end fails with EFBIG instead of filling tmpfs.
  const rlimit lim{kMaxFileSize, kMaxFileSize};
  ::setrlimit(RLIMIT_FSIZE, &lim);
  std::signal(SIGXFSZ, SIG_IGN);
  env();
  pfs::fuzz::set_oracle_fail_hook([] { env().restore_cwd(); });
  pfs::fuzz::install_seccomp_from_env(*argc, *argv);  // PFS_FUZZ_SECCOMP: pfsd's filter
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Env& e = env();
  // The baseline is taken per input: between inputs the engine itself may open
  // fds for good (libFuzzer starts llvm-symbolizer, with two pipes, the first
  // time it prints NEW_FUNC).
  e.fds.take();
  thread_ids().take();
  // Again per input: libFuzzer installs its own SIGXFSZ handler (a crash) after
  // LLVMFuzzerInitialize. Ignored, a write past RLIMIT_FSIZE fails with EFBIG.
  std::signal(SIGXFSZ, SIG_IGN);

  std::span<const uint8_t> stream(data, size);
  if (stream.size() >= sizeof(kBareMagic) &&
      std::memcmp(stream.data(), kBareMagic, sizeof(kBareMagic)) == 0) {
    {
      pfs::fuse::FileSystem bare;
      pfs::fuse::Server server(bare);
      run_stream(server, nullptr, stream.subspan(sizeof(kBareMagic)));
    }
    e.fds.check("after the input (bare file system)");
    return 0;
  }
  uint8_t config_byte = 0x08;  // the default Config (cache policy auto)
  std::optional<uint8_t> fault_byte;
  if (stream.size() >= sizeof(kMagic) + 1 &&
      std::memcmp(stream.data(), kMagic, sizeof(kMagic)) == 0) {
    config_byte = stream[sizeof(kMagic)];
    stream = stream.subspan(sizeof(kMagic) + 1);
  } else if (stream.size() >= sizeof(kFaultMagic) + 2 &&
             std::memcmp(stream.data(), kFaultMagic, sizeof(kFaultMagic)) == 0) {
    config_byte = stream[sizeof(kFaultMagic)];
    fault_byte = stream[sizeof(kFaultMagic) + 1];
    stream = stream.subspan(sizeof(kFaultMagic) + 2);
  }
  pt::Config cfg = config_from(config_byte);

  e.area.reset();
  cfg.root_dir = e.area.root();
  table_model().reset();
  {
    auto created = pt::PassthroughFs::create_from_fds(cfg, dup_of(e.root), dup_of(e.proc));
    if (!created.ok()) oracle_fail("PassthroughFs::create: errno %d", created.error());
    std::unique_ptr<pt::PassthroughFs> fs = std::move(*created);
    std::optional<pfs::fuzz::FaultMode> fault;
    if (fault_byte) g_fault = &fault.emplace(*fault_byte, e.area.canary());
    pfs::fuse::Server server(*fs);
    run_stream(server, fs.get(), stream);
    g_fault = nullptr;
    table_model().check_all(fs->inodes(), fs->handles());
  }
  e.restore_cwd();
  e.fds.check("after the input (file system destroyed)");
  thread_ids().check("after the input");
  e.area.check_canary();
  return 0;
}
