// Property 7 (issue 5): TempDir under injected failures.
//
// A fault plan is the list of answers the ScopedTempDirFaultHook gives to the
// successive questions TempDir asks (kRandomSeed, kMkdir (up to 64 times),
// kOpen, kRemove from the destructor): 0 runs the real syscall, anything else is
// taken as that syscall's errno (EEXIST at kMkdir means "name taken, retry").
//
// CreateKeepOrDrop: N creations in one parent, each under its own plan, some kept
// with into_inner(). TempDir::create either succeeds with a hidden name
// ("." + 6 alphanumerics) that exists as a directory, or fails with exactly the
// errno the plan injected last (EEXIST after 64 taken names); a failed create
// leaves nothing. A dropped TempDir leaves nothing either, unless the plan made
// its rmdir fail (then that one directory stays: the failure is logged, and
// nothing else could remove it). The parent ends holding exactly the kept
// directories (plus those), and no name ever comes back twice across the case
// (the seed is random per create: a constant one would repeat names).
//
// MkdirThroughTheServer: MKDIR requests through Server + PassthroughFs, each
// under a plan, some for a name that already exists (so the final
// renameat2(RENAME_NOREPLACE) fails after the TempDir was made). A failed MKDIR
// answers the injected errno (or EEXIST), leaves no directory under the requested
// name (a pre-existing one is untouched) and no hidden leftover; a successful
// one leaves exactly the new directory and never asks kRemove (it was renamed
// into place, not removed).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/fuse.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <filesystem>
#include <memory>
#include <optional>
#include <ostream>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "core/fuse/server.h"
#include "core/passthrough/passthrough_fs.h"
#include "core/passthrough/scoped_fd.h"
#include "core/passthrough/temp_dir.h"
#include "core/tests/scratch_dir.h"
#include "core/transport/memory/reply.h"
#include "core/transport/memory/request_builder.h"
#include "core/transport/memory/session.h"

namespace {

namespace mem = pfs::transport::memory;
namespace req = pfs::transport::memory::req;
using pfs::ScopedFd;
using pfs::passthrough::ScopedTempDirFaultHook;
using pfs::passthrough::TempDir;
using pfs::passthrough::TempDirStep;

constexpr int kMaxAttempts = 64;  // TempDir's retry limit for taken names

struct Plan {
  std::vector<int> answers;  // the answers to kRandomSeed/kMkdir/kOpen, in order; 0 after
  int remove = 0;            // the answer to kRemove
};

void showValue(const Plan& p, std::ostream& os) {
  os << "plan{";
  for (size_t i = 0; i < p.answers.size(); ++i) os << (i ? "," : "") << p.answers[i];
  os << "; remove=" << p.remove << "}";
}

rc::Gen<int> gen_answer() {
  return rc::gen::weightedOneOf<int>(
      {{8, rc::gen::just(0)},
       {3, rc::gen::just(EEXIST)},
       {2, rc::gen::element(EACCES, ENOSPC, EIO, EMFILE, ENOMEM, EPERM, EROFS, EDQUOT, ENOENT)}});
}

rc::Gen<Plan> gen_plan() {
  return rc::gen::weightedOneOf<Plan>(
      {{12, rc::gen::build<Plan>(
                rc::gen::set(&Plan::answers, rc::gen::container<std::vector<int>>(gen_answer())),
                rc::gen::set(&Plan::remove,
                             rc::gen::weightedOneOf<int>(
                                 {{9, rc::gen::just(0)}, {1, rc::gen::element(EIO, EBUSY)}})))},
       // Every name taken: the seed's answer, then 64 EEXIST at kMkdir.
       {1, rc::gen::just(Plan{[] {
                                std::vector<int> v(1 + kMaxAttempts, EEXIST);
                                v[0] = 0;
                                return v;
                              }(),
                              0})}});
}

const char* step_name(TempDirStep s) {
  switch (s) {
    case TempDirStep::kRandomSeed:
      return "seed";
    case TempDirStep::kMkdir:
      return "mkdir";
    case TempDirStep::kOpen:
      return "open";
    case TempDirStep::kRemove:
      return "remove";
  }
  return "?";
}

// Answers from a plan and records what was asked.
struct Injector {
  explicit Injector(const Plan& p) : plan(p) {}
  int answer(TempDirStep step) {
    int a = plan.remove;
    if (step != TempDirStep::kRemove) a = next < plan.answers.size() ? plan.answers[next++] : 0;
    log.emplace_back(step, a);
    return a;
  }
  // The last non-zero answer, and whether kRemove was answered with a failure.
  int last_fault() const {
    for (auto it = log.rbegin(); it != log.rend(); ++it)
      if (it->second != 0) return it->second;
    return 0;
  }
  bool remove_failed() const {
    for (const auto& [s, a] : log)
      if (s == TempDirStep::kRemove && a != 0) return true;
    return false;
  }
  bool asked(TempDirStep step) const {
    for (const auto& [s, a] : log)
      if (s == step) return true;
    return false;
  }
  std::string describe() const {
    std::string out;
    for (const auto& [s, a] : log) out += std::string(step_name(s)) + "=" + std::to_string(a) + " ";
    return out;
  }

  Plan plan;
  size_t next = 0;
  std::vector<std::pair<TempDirStep, int>> log;
};

std::set<std::string> entries(const std::string& dir) {
  std::set<std::string> out;
  std::error_code ec;
  for (auto it = std::filesystem::directory_iterator(dir, ec);
       !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
    out.insert(it->path().filename().string());
  }
  return out;
}

bool hidden_name(const std::string& name) {
  if (name.size() != 7 || name[0] != '.') return false;
  for (size_t i = 1; i < name.size(); ++i)
    if (!std::isalnum(static_cast<unsigned char>(name[i]))) return false;
  return true;
}

bool is_dir(const std::string& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

RC_GTEST_PROP(TempDirProp, CreateKeepOrDrop, ()) {
  pfs::testing::ScratchDir scratch("pfs-prop-tempdir");
  RC_ASSERT(scratch.ok());
  ScopedFd parent(::open(scratch.path().c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  RC_ASSERT(parent.valid());

  // At most 30 creations per case keeps 100 cases within seconds under ASan.
  const auto steps = *rc::gen::container<std::vector<std::pair<Plan, bool>>>(
      *rc::gen::inRange<size_t>(1, 31), rc::gen::pair(gen_plan(), rc::gen::arbitrary<bool>()));
  std::set<std::string> expected;  // what the parent must hold
  std::set<std::string> all_names;
  std::vector<ScopedFd> kept_fds;
  size_t failures = 0;
  for (const auto& [plan, keep] : steps) {
    Injector inj(plan);
    ScopedTempDirFaultHook hook([&inj](TempDirStep s) { return inj.answer(s); });
    std::string name;
    {
      auto t = TempDir::create(parent.get(), 0755);
      if (!t.ok()) {
        ++failures;
        RC_ASSERT(t.error() == inj.last_fault());
        RC_ASSERT(!inj.asked(TempDirStep::kRemove));
        RC_ASSERT(entries(scratch.path()) == expected);
        continue;
      }
      name = t->basename();
      RC_ASSERT(hidden_name(name));
      RC_ASSERT(t->armed());
      RC_ASSERT(is_dir(scratch / name));
      RC_ASSERT(all_names.insert(name).second);  // never seen before in this case
      if (keep) {
        auto [kept_name, fd] = t->into_inner();
        RC_ASSERT(kept_name == name);
        RC_ASSERT(!t->armed());
        RC_ASSERT(t->basename().empty());
        kept_fds.push_back(std::move(fd));
        expected.insert(name);
      }
    }  // a dropped TempDir removes its directory here
    RC_ASSERT(inj.asked(TempDirStep::kRemove) == !keep);
    if (!keep && inj.remove_failed()) {
      // The injected rmdir failure leaves exactly this directory; take it away
      // so that the rest of the case still checks for leftovers.
      RC_ASSERT(is_dir(scratch / name));
      RC_ASSERT(::rmdir((scratch / name).c_str()) == 0);
    }
    RC_ASSERT(entries(scratch.path()) == expected);
  }
  RC_CLASSIFY(failures > 0, "some creates failed");
  RC_CLASSIFY(failures < steps.size(), "some creates succeeded");
}

// Through Server + PassthroughFs: MKDIR under injected failures.
RC_GTEST_PROP(TempDirProp, MkdirThroughTheServer, ()) {
  pfs::testing::ScratchDir scratch("pfs-prop-mkdir");
  RC_ASSERT(scratch.ok());
  pfs::passthrough::Config cfg;
  cfg.root_dir = scratch.path();
  auto created = pfs::passthrough::PassthroughFs::create(cfg);
  RC_ASSERT(created.ok());
  auto fs = std::move(*created);
  pfs::fuse::Server server(*fs);
  mem::Session session(server);
  RC_ASSERT(session.init().ok());

  const auto steps = *rc::gen::container<std::vector<std::pair<Plan, std::string>>>(
      *rc::gen::inRange<size_t>(1, 21),
      rc::gen::pair(gen_plan(), rc::gen::element<std::string>("a", "b", "c", "d")));
  std::set<std::string> expected;
  size_t failures = 0;
  for (const auto& [plan, name] : steps) {
    const bool existed = expected.count(name) != 0;
    struct stat before {};
    if (existed) RC_ASSERT(::lstat((scratch / name).c_str(), &before) == 0);
    Injector inj(plan);
    mem::Reply r;
    {
      ScopedTempDirFaultHook hook([&inj](TempDirStep s) { return inj.answer(s); });
      r = session.run(req::mkdir(pfs::fuse::kRootInode, name, S_IFDIR | 0750));
    }
    RC_ASSERT(r.well_formed());
    if (r.ok()) {
      RC_ASSERT(!existed);
      RC_ASSERT(inj.last_fault() == 0 || inj.last_fault() == EEXIST);
      RC_ASSERT(!inj.asked(TempDirStep::kRemove));
      RC_ASSERT(is_dir(scratch / name));
      expected.insert(name);
      auto e = r.as<fuse_entry_out>();
      RC_ASSERT(e.has_value());
      RC_ASSERT((e->attr.mode & 07777) == 0750u);
    } else {
      ++failures;
      if (existed) {
        struct stat after {};
        RC_ASSERT(::lstat((scratch / name).c_str(), &after) == 0);
        RC_ASSERT(after.st_ino == before.st_ino);
        // Either the TempDir step failed first, or the rename found the name.
        RC_ASSERT(r.error() == inj.last_fault() ||
                  (r.error() == EEXIST && inj.asked(TempDirStep::kRemove)));
      } else {
        RC_ASSERT(!is_dir(scratch / name));
        RC_ASSERT(r.error() == inj.last_fault());
      }
    }
    auto now = entries(scratch.path());
    if (inj.remove_failed()) {
      // The injected rmdir failure leaves exactly one hidden directory; take it
      // away so that the rest of the case still checks for leftovers.
      std::set<std::string> extra;
      for (const auto& n : now)
        if (!expected.count(n)) extra.insert(n);
      RC_ASSERT(extra.size() == 1u);
      RC_ASSERT(hidden_name(*extra.begin()));
      RC_ASSERT(::rmdir((scratch / *extra.begin()).c_str()) == 0);
      now = entries(scratch.path());
    }
    RC_ASSERT(now == expected);
  }
  RC_ASSERT(fs->inodes().check_invariants() == std::string());
  RC_CLASSIFY(failures > 0, "some mkdirs failed");
  RC_CLASSIFY(failures < steps.size(), "some mkdirs succeeded");
}

}  // namespace
