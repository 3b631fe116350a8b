// Fuzz target: two or three FUSE request streams run by threads at the same time
// against one Server + PassthroughFs on the scratch tree, beside an adversary
// thread that swaps the hidden names it sees for symlinks to the canary tree
// (race_adversary.h). It looks for check-then-use races: a name PassthroughFs
// makes and then opens again, swapped in between (DESIGN.md, the threat model).
//
// Input format: race_input.h (a config byte, then the streams split by "PFSR").
//
// Per input: the scratch tree is reset, a PassthroughFs (default Config) and a
// Server are made on it, INIT runs, the adversary opens its directories and makes
// its first symlinks, then the streams (kRaceMaxRequests requests in all,
// repeats included, split evenly) and the adversary (until the streams are done,
// at most Adversary::kMaxRounds rounds) start together: stream 0 on the fuzzer's
// thread, the others on the crew's (race_crew.h). The adversary is guided (it acts
// when an aimed request reaches one of the core's race seams, which waits for it:
// race_guide.h) or, with config bit 7, free (it sweeps while a stream makes names:
// race_activity.h). Each stream has its own id map (id_map.h) over a pool
// shared by all streams: ids 1-63 are the stream's own, 64-127 those any stream
// was handed.
//
// Oracles: every reply well formed, the inode table consistent after every
// request and at the end; after the input (threads joined, file system
// destroyed) the fd count back at its baseline and the canary tree unchanged
// (owner, mode, times, contents, xattrs). The requests' uid and gid are the
// fuzzer's (fuse_in_header), so a chown that escapes shows in the owner.
//
// Races are not deterministic: replay a finding many times, e.g.
//   fuse_race -runs=2000 crash-...          (libFuzzer: each file 2000 times)
//   PFS_REPLAY_REPEAT=2000 fuse_race crash-... (replay build)
// PFS_FUZZ_TRACE=1 prints each request's status and the adversary's swaps.
#include <fcntl.h>
#include <linux/fuse.h>
#include <sys/resource.h>
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <latch>
#include <memory>
#include <span>
#include <vector>

#include "core/fuse/server.h"
#include "core/passthrough/passthrough_fs.h"
#include "core/passthrough/security_context.h"
#include "core/transport/memory/request_builder.h"
#include "core/transport/memory/session.h"
#include "fuzz/fuzz_seccomp.h"
#include "fuzz/guarded_buffer.h"
#include "fuzz/id_map.h"
#include "fuzz/oracles.h"
#include "fuzz/race_activity.h"
#include "fuzz/race_adversary.h"
#include "fuzz/race_client.h"
#include "fuzz/race_crew.h"
#include "fuzz/race_guide.h"
#include "fuzz/race_input.h"
#include "fuzz/saved_cwd.h"
#include "fuzz/scratch_area.h"

namespace {

using pfs::fuzz::oracle_fail;
namespace fz = pfs::fuzz;
namespace mem = pfs::transport::memory;
namespace pt = pfs::passthrough;

constexpr rlim_t kMaxFileSize = 64u << 20;  // keeps sparse writes cheap on tmpfs

struct Env {
  fz::ScratchArea area;
  fz::SavedCwd cwd;
  fz::FdBaseline fds;
  const bool trace = std::getenv("PFS_FUZZ_TRACE") != nullptr;
  // The fscreate fd is opened once per thread and kept (security_context.h):
  // this thread (which runs stream 0) and each crew thread open it once, before
  // any fd baseline.
  fz::Crew crew{fz::kRaceMaxStreams,
                [] { (void)pt::ScopedSecurityContext::enter("pfs_fuzz_warmup"); }};

  Env() { (void)pt::ScopedSecurityContext::enter("pfs_fuzz_warmup"); }
  Env(const Env&) = delete;
  Env& operator=(const Env&) = delete;

  void restore_cwd() const { cwd.restore(); }
};

Env& env() {
  static Env e;
  return e;
}

// One guest thread: runs its stream `repeat` times, at most `budget` requests,
// and tells the adversary the names its READDIR replies show.
void run_stream(pfs::fuse::Server& server, const pt::PassthroughFs& fs, size_t index,
                std::span<const uint8_t> stream, unsigned repeat, size_t budget,
                fz::SharedIdPool& pool, fz::Sightings& sightings, fz::StreamActivity& activity,
                fz::RaceGuide* guide) {
  fz::GuidedSeams seams(guide);
  fz::IdMap ids(&pool);
  fz::RaceClient client(server);
  thread_local fz::GuardedBuffer copy;
  std::vector<std::string> names;
  const std::vector<std::span<const uint8_t>> requests = mem::frame_stream(stream);
  for (unsigned r = 0; r < repeat; ++r) {
    for (std::span<const uint8_t> request : requests) {
      if (budget-- == 0) return;
      // A guarded copy, so that ASan sees a read past the request.
      std::memcpy(copy.prepare(request.size()).data(), request.data(), request.size());
      const std::span<uint8_t> req = copy.seal(request.size());
      ids.remap_request(req);
      const fz::RequestInfo info = fz::request_info(req);
      fuse_in_header h{};
      if (info.has_header) std::memcpy(&h, req.data(), sizeof(h));
      const bool making = info.has_header && activity.begin(info.opcode, h.nodeid);
      seams.aim(h);
      const std::span<const uint8_t> reply = client.call(req);
      if (making) activity.end();
      if (!info.has_header) continue;
      ids.learn(info.opcode, reply);
      if (env().trace) {
        std::fprintf(stderr, "trace: stream %zu opcode %u nodeid %llu uid %u -> error %d\n", index,
                     h.opcode, static_cast<unsigned long long>(h.nodeid), h.uid,
                     fz::reply_error(reply));
      }
      if ((h.opcode == FUSE_READDIR || h.opcode == FUSE_READDIRPLUS) &&
          fz::reply_error(reply) == 0) {
        names.clear();
        fz::readdir_names(reply.subspan(sizeof(fuse_out_header)), h.opcode == FUSE_READDIRPLUS,
                          names);
        for (std::string& n : names) sightings.add(h.nodeid, std::move(n));
        if (!names.empty()) activity.poke();
      }
      fz::check_inode_table(fs.inodes(), info.opcode);
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int* argc, char*** argv) {
  const rlimit lim{kMaxFileSize, kMaxFileSize};
  ::setrlimit(RLIMIT_FSIZE, &lim);
  std::signal(SIGXFSZ, SIG_IGN);
  env();
  fz::set_oracle_fail_hook([] { env().restore_cwd(); });
  fz::install_seccomp_from_env(*argc, *argv);  // PFS_FUZZ_SECCOMP: pfsd's filter
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Env& e = env();
  e.fds.take();
  std::signal(SIGXFSZ, SIG_IGN);  // libFuzzer installs its own after Initialize

  const fz::RaceInput input = fz::parse_race_input({data, size});
  e.area.reset();
  pt::Config cfg;
  cfg.root_dir = e.area.root();
  {
    auto created = pt::PassthroughFs::create(cfg);
    if (!created.ok()) oracle_fail("PassthroughFs::create: errno %d", created.error());
    std::unique_ptr<pt::PassthroughFs> fs = std::move(*created);
    pfs::fuse::Server server(*fs);
    fz::RaceClient(server).call(mem::req::init(mem::kLinuxInitFlags));

    fz::SharedIdPool pool;
    fz::Sightings sightings;
    fz::Adversary adversary(server, e.area.canary(), input.config, pool, sightings);
    if (input.config.adversary) adversary.prepare();

    const size_t threads = input.streams.size() + (input.config.adversary ? 1 : 0);
    std::latch start(static_cast<std::ptrdiff_t>(threads));
    std::atomic<size_t> running{input.streams.size()};
    fz::StreamActivity activity;
    fz::RaceGuide guide;
    fz::RaceGuide* const guided = input.config.adversary && input.config.guided ? &guide : nullptr;
    const size_t budget = fz::stream_budget(input);
    std::vector<std::function<void()>> jobs;
    for (size_t i = 0; i < input.streams.size(); ++i) {
      jobs.emplace_back([&, i] {
        start.arrive_and_wait();
        run_stream(server, *fs, i, input.streams[i], input.config.repeat, budget, pool, sightings,
                   activity, guided);
        if (running.fetch_sub(1) == 1) {
          activity.finish();
          guide.finish();
        }
      });
    }
    if (input.config.adversary) {
      jobs.emplace_back([&] {
        start.arrive_and_wait();
        if (guided != nullptr) {
          adversary.run_guided(guide);
        } else {
          adversary.run(activity);
        }
      });
    }
    e.crew.run(jobs);
    adversary.finish();
    if (e.trace) {
      std::fprintf(stderr, "trace: adversary %s, rounds %zu swaps %zu race points %zu\n",
                   !input.config.adversary ? "none"
                   : guided != nullptr     ? "guided"
                                           : "free",
                   adversary.rounds(), adversary.exchanges(), guide.points());
    }
    fz::check_inode_table(fs->inodes(), 0);
  }
  e.restore_cwd();
  e.fds.check("after the input (threads joined, file system destroyed)");
  e.area.check_canary();
  return 0;
}
