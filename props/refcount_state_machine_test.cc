// Property 1 (issue 5): inode refcounts, as an rc::state state machine.
//
// A Model tracks, per file, the references the client holds on its inode entry,
// the names in the (flat) root directory, the open handles, and the order in
// which entries died. Every command is sent as an encoded request through
// mem::Session to a PassthroughFs over a fresh scratch directory. After every
// command:
//   - each inode the client ever saw has exactly the model's refcount, and its
//     entry exists exactly while that count is above zero (so it goes at zero and
//     not before); the root is always present with the model's count;
//   - the table holds 1 + (live entries) inodes and handles().size() handles;
//   - the process's open fds = a baseline measured after INIT + live non-root
//     entries + live handles (each entry holds one O_PATH fd, each handle one fd);
//   - check_invariants() is empty;
//   - an operation on a forgotten inode (GETATTR, LINK) answers EBADF.
// Inode numbers are never reused (the seed's monotonic counter): a new entry
// gets a number the client has never seen.
//
// Rerun a failure with RC_PARAMS="seed=..."; each case runs at most 30 commands.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/fuse.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>
#include <rapidcheck/state.h>
#include <sys/stat.h>

#include <cstdint>
#include <limits>
#include <map>
#include <memory>
#include <ostream>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "core/fuse/server.h"
#include "core/passthrough/passthrough_fs.h"
#include "core/tests/fd_count.h"
#include "core/tests/scratch_dir.h"
#include "core/transport/memory/reply.h"
#include "core/transport/memory/request_builder.h"
#include "core/transport/memory/session.h"

namespace {

namespace mem = pfs::transport::memory;
namespace req = pfs::transport::memory::req;
using pfs::fuse::Handle;
using pfs::fuse::Inode;
using pfs::fuse::kRootInode;

// Few names, so that commands collide on them often.
const std::vector<std::string> kNames = {"a", "b", "c", "d", "e"};

// ---------------------------------------------------------------------------
// The model.

struct FileModel {
  bool dir = false;
  uint64_t refs = 0;       // the client's references on the inode entry
  bool had_entry = false;  // the client has seen an inode number for it
};

struct Model {
  std::map<std::string, int> names;  // name in the root -> file id
  std::vector<FileModel> files;      // by file id
  uint64_t root_refs = 2;            // the seed starts the root at 2
  std::vector<int> handles;          // file id of each open handle, in order
  std::vector<int> dead;             // file ids whose entries died, in order

  size_t live_entries() const {
    size_t n = 0;
    for (const auto& f : files) n += f.refs > 0 ? 1 : 0;
    return n;
  }
  size_t name_count(int id) const {
    size_t n = 0;
    for (const auto& [name, f] : names) n += f == id ? 1 : 0;
    return n;
  }
  int add_file(bool dir) {
    files.push_back(FileModel{dir, 1, true});
    return static_cast<int>(files.size()) - 1;
  }
  void take_ref(int id) {
    files[id].refs += 1;
    files[id].had_entry = true;
  }
};

// What a FORGET (or one BATCH_FORGET item) aims at.
struct Target {
  enum Kind { kFile, kRoot, kStale, kUnknown } kind = kUnknown;
  int index = 0;      // file id (kFile) or index into Model::dead (kStale)
  Inode unknown = 0;  // kUnknown: a number the server never handed out
};

std::ostream& operator<<(std::ostream& os, const Target& t) {
  switch (t.kind) {
    case Target::kFile:
      return os << "file#" << t.index;
    case Target::kRoot:
      return os << "root";
    case Target::kStale:
      return os << "dead#" << t.index;
    case Target::kUnknown:
      return os << "unknown(" << t.unknown << ")";
  }
  return os;
}

// Plain functions, not && chains inside RC_PRE: rapidcheck shows every operand of
// a failed assertion, including the ones && would have skipped.
bool file_seen(const Model& m, int id) {
  return id >= 0 && static_cast<size_t>(id) < m.files.size() && m.files[id].had_entry;
}
bool file_live(const Model& m, int id) { return file_seen(m, id) && m.files[id].refs > 0; }

bool target_valid(const Model& m, const Target& t) {
  switch (t.kind) {
    case Target::kFile:
      return file_seen(m, t.index);
    case Target::kStale:
      return t.index >= 0 && static_cast<size_t>(t.index) < m.dead.size();
    default:
      return true;
  }
}

void model_forget(Model& m, const Target& t, uint64_t count) {
  auto sat = [](uint64_t v, uint64_t c) { return v > c ? v - c : 0; };
  if (t.kind == Target::kRoot) {
    m.root_refs = sat(m.root_refs, count);  // saturates, never removed
  } else if (t.kind == Target::kFile) {
    FileModel& f = m.files[t.index];
    if (f.refs == 0) return;  // its entry is gone already: a no-op
    f.refs = sat(f.refs, count);
    if (f.refs == 0) m.dead.push_back(t.index);
  }
  // kStale, kUnknown: nothing in the table, nothing changes.
}

rc::Gen<Target> gen_target(const Model& m) {
  std::vector<rc::Gen<Target>> gens;
  std::vector<int> live, seen;
  for (size_t i = 0; i < m.files.size(); ++i) {
    if (m.files[i].refs > 0) live.push_back(static_cast<int>(i));
    if (m.files[i].had_entry) seen.push_back(static_cast<int>(i));
  }
  if (!live.empty()) {
    auto g = rc::gen::map(rc::gen::elementOf(live), [](int id) {
      return Target{Target::kFile, id, 0};
    });
    gens.push_back(g);
    gens.push_back(g);  // weight live files higher
  }
  if (!seen.empty()) {
    gens.push_back(rc::gen::map(rc::gen::elementOf(seen), [](int id) {
      return Target{Target::kFile, id, 0};
    }));
  }
  if (!m.dead.empty()) {
    gens.push_back(
        rc::gen::map(rc::gen::inRange<int>(0, static_cast<int>(m.dead.size())), [](int k) {
          return Target{Target::kStale, k, 0};
        }));
  }
  gens.push_back(rc::gen::just(Target{Target::kRoot, 0, 0}));
  gens.push_back(rc::gen::map(
      rc::gen::element<Inode>(0, 1000000, std::numeric_limits<uint64_t>::max(), 1ull << 40),
      [](Inode n) {
        return Target{Target::kUnknown, 0, n};
      }));
  return rc::gen::join(rc::gen::elementOf(gens));
}

// Any count: 0, 1, a few, huge, random.
rc::Gen<uint64_t> gen_count() {
  return rc::gen::weightedOneOf<uint64_t>(
      {{3, rc::gen::just<uint64_t>(1)},
       {3, rc::gen::inRange<uint64_t>(0, 4)},
       {2, rc::gen::just(std::numeric_limits<uint64_t>::max())},
       {1, rc::gen::just(std::numeric_limits<uint64_t>::max() - 1)},
       {2, rc::gen::arbitrary<uint64_t>()}});
}

rc::Gen<std::string> gen_name(const Model& m, bool prefer_existing) {
  std::vector<std::string> existing;
  for (const auto& [name, id] : m.names) existing.push_back(name);
  if (prefer_existing && !existing.empty()) return rc::gen::elementOf(existing);
  return rc::gen::elementOf(kNames);
}

// ---------------------------------------------------------------------------
// The system under test: a PassthroughFs over a scratch directory.

struct Sut {
  Sut() {
    RC_ASSERT(dir.ok());
    pfs::passthrough::Config cfg;
    cfg.root_dir = dir.path();
    auto created = pfs::passthrough::PassthroughFs::create(cfg);
    RC_ASSERT(created.ok());
    fs = std::move(*created);
    server = std::make_unique<pfs::fuse::Server>(*fs);
    session = std::make_unique<mem::Session>(*server);
    RC_ASSERT(session->init().ok());
    // The root entry holds one fd; count it out so the formula is simply
    // base + live non-root entries + handles.
    base_fds = pfs::testing::open_fd_count() - fs->inodes().size() - fs->handles().size();
  }

  mem::Reply run(const mem::Bytes& request, bool expect_reply = true) {
    mem::Reply r = session->run(request);
    RC_ASSERT(r.replied == expect_reply);
    if (expect_reply) {
      RC_ASSERT(r.well_formed());
      RC_ASSERT(r.header.error <= 0);
    }
    return r;
  }

  Inode inode_of(const Target& t) const {
    switch (t.kind) {
      case Target::kFile:
        return inodes.at(t.index);
      case Target::kRoot:
        return kRootInode;
      case Target::kStale:
        return dead.at(t.index);
      case Target::kUnknown:
        return t.unknown;
    }
    return 0;
  }

  // A reply that hands out a reference to file `id`: a new entry gets a number
  // never seen before; an existing one answers with its number.
  void took_ref(const Model& s0, int id, Inode nodeid) {
    const bool new_entry = static_cast<size_t>(id) >= s0.files.size() || s0.files[id].refs == 0;
    if (new_entry) {
      RC_ASSERT(nodeid != kRootInode);
      RC_ASSERT(seen.count(nodeid) == 0u);
      seen.insert(nodeid);
      inodes[id] = nodeid;
    } else {
      RC_ASSERT(nodeid == inodes.at(id));
    }
  }

  // Entries that died during the command s0 -> s1, in the model's order.
  void record_deaths(const Model& s0, const Model& s1) {
    for (size_t i = s0.dead.size(); i < s1.dead.size(); ++i) dead.push_back(inodes.at(s1.dead[i]));
  }

  void verify(const Model& m) const {
    const auto& table = fs->inodes();
    for (size_t id = 0; id < m.files.size(); ++id) {
      if (!m.files[id].had_entry) continue;
      const Inode ino = inodes.at(static_cast<int>(id));
      RC_ASSERT(table.refcount(ino) == m.files[id].refs);
      RC_ASSERT((table.find(ino) != nullptr) == (m.files[id].refs > 0));
    }
    for (Inode ino : dead) {
      // A dead number stays dead unless the same file was looked up again under
      // it, which never happens (numbers are not reused).
      RC_ASSERT(table.find(ino) == nullptr);
    }
    RC_ASSERT(table.find(kRootInode) != nullptr);
    RC_ASSERT(table.refcount(kRootInode) == m.root_refs);
    RC_ASSERT(table.size() == 1 + m.live_entries());
    RC_ASSERT(fs->handles().size() == m.handles.size());
    RC_ASSERT(pfs::testing::open_fd_count() == base_fds + 1 + m.live_entries() + m.handles.size());
    RC_ASSERT(table.check_invariants() == std::string());
  }

  pfs::testing::ScratchDir dir{"pfs-prop-refcount"};
  std::unique_ptr<pfs::passthrough::PassthroughFs> fs;
  std::unique_ptr<pfs::fuse::Server> server;
  std::unique_ptr<mem::Session> session;
  size_t base_fds = 0;
  std::map<int, Inode> inodes;                // file id -> its current inode number
  std::set<Inode> seen;                       // every inode number handed out
  std::vector<Inode> dead;                    // parallel to Model::dead
  std::vector<std::pair<Inode, Handle>> fhs;  // parallel to Model::handles
};

using Cmd = rc::state::Command<Model, Sut>;

// Runs the command's request(s) via `body`, then checks the table against the
// model after the command.
template <class Self>
void run_and_verify(const Self& self, const Model& s0, Sut& sut) {
  const Model s1 = self.nextState(s0);
  self.exec(s0, s1, sut);
  sut.record_deaths(s0, s1);
  sut.verify(s1);
}

// ---------------------------------------------------------------------------
// Commands.

// LOOKUP of an existing name (+1 on its file) or of a missing one (ENOENT).
struct Lookup : Cmd {
  std::string name;
  explicit Lookup(const Model& m) : name(*rc::gen::oneOf(gen_name(m, true), gen_name(m, false))) {}
  void apply(Model& m) const override {
    auto it = m.names.find(name);
    if (it != m.names.end()) m.take_ref(it->second);
  }
  void exec(const Model& s0, const Model&, Sut& sut) const {
    auto r = sut.run(req::lookup(kRootInode, name));
    auto it = s0.names.find(name);
    if (it == s0.names.end()) {
      RC_ASSERT(r.error() == ENOENT);
      return;
    }
    RC_ASSERT(r.ok());
    auto e = r.as<fuse_entry_out>();
    RC_ASSERT(e.has_value());
    RC_ASSERT(S_ISDIR(e->attr.mode) == s0.files[it->second].dir);
    sut.took_ref(s0, it->second, e->nodeid);
  }
  void run(const Model& s0, Sut& sut) const override { run_and_verify(*this, s0, sut); }
  void show(std::ostream& os) const override { os << "LOOKUP " << name; }
};

struct Forget : Cmd {
  Target target;
  uint64_t count;
  explicit Forget(const Model& m) : target(*gen_target(m)), count(*gen_count()) {}
  void checkPreconditions(const Model& m) const override { RC_PRE(target_valid(m, target)); }
  void apply(Model& m) const override { model_forget(m, target, count); }
  void exec(const Model&, const Model&, Sut& sut) const {
    sut.run(req::forget(sut.inode_of(target), count), /*expect_reply=*/false);
  }
  void run(const Model& s0, Sut& sut) const override { run_and_verify(*this, s0, sut); }
  void show(std::ostream& os) const override { os << "FORGET " << target << " x" << count; }
};

struct BatchForget : Cmd {
  std::vector<std::pair<Target, uint64_t>> items;
  explicit BatchForget(const Model& m)
      : items(*rc::gen::container<std::vector<std::pair<Target, uint64_t>>>(
            *rc::gen::inRange(1, 6), rc::gen::pair(gen_target(m), gen_count()))) {}
  void checkPreconditions(const Model& m) const override {
    for (const auto& [t, n] : items) RC_PRE(target_valid(m, t));
  }
  void apply(Model& m) const override {
    for (const auto& [t, n] : items) model_forget(m, t, n);
  }
  void exec(const Model&, const Model&, Sut& sut) const {
    std::vector<std::pair<Inode, uint64_t>> wire;
    for (const auto& [t, n] : items) wire.emplace_back(sut.inode_of(t), n);
    sut.run(req::batch_forget(wire), /*expect_reply=*/false);
  }
  void run(const Model& s0, Sut& sut) const override { run_and_verify(*this, s0, sut); }
  void show(std::ostream& os) const override {
    os << "BATCH_FORGET";
    for (const auto& [t, n] : items) os << " {" << t << " x" << n << "}";
  }
};

// CREATE (O_RDWR): a new file with one reference and one open handle, or EEXIST.
struct Create : Cmd {
  std::string name;
  explicit Create(const Model& m) : name(*gen_name(m, false)) {}
  void apply(Model& m) const override {
    if (m.names.count(name)) return;
    const int id = m.add_file(false);
    m.names[name] = id;
    m.handles.push_back(id);
  }
  void exec(const Model& s0, const Model& s1, Sut& sut) const {
    auto r = sut.run(req::create(kRootInode, name, S_IFREG | 0644, O_RDWR));
    if (s0.names.count(name)) {
      RC_ASSERT(r.error() == EEXIST);
      return;
    }
    RC_ASSERT(r.ok());
    auto e = r.at<fuse_entry_out>(0);
    auto o = r.at<fuse_open_out>(sizeof(fuse_entry_out));
    RC_ASSERT(e.has_value());
    RC_ASSERT(o.has_value());
    RC_ASSERT(S_ISREG(e->attr.mode));
    sut.took_ref(s0, s1.names.at(name), e->nodeid);
    sut.fhs.emplace_back(e->nodeid, o->fh);
  }
  void run(const Model& s0, Sut& sut) const override { run_and_verify(*this, s0, sut); }
  void show(std::ostream& os) const override { os << "CREATE " << name; }
};

struct Mkdir : Cmd {
  std::string name;
  explicit Mkdir(const Model& m) : name(*gen_name(m, false)) {}
  void apply(Model& m) const override {
    if (m.names.count(name)) return;
    m.names[name] = m.add_file(true);
  }
  void exec(const Model& s0, const Model& s1, Sut& sut) const {
    auto r = sut.run(req::mkdir(kRootInode, name, S_IFDIR | 0755));
    if (s0.names.count(name)) {
      RC_ASSERT(r.error() == EEXIST);
      return;
    }
    RC_ASSERT(r.ok());
    auto e = r.as<fuse_entry_out>();
    RC_ASSERT(e.has_value());
    RC_ASSERT(S_ISDIR(e->attr.mode));
    sut.took_ref(s0, s1.names.at(name), e->nodeid);
  }
  void run(const Model& s0, Sut& sut) const override { run_and_verify(*this, s0, sut); }
  void show(std::ostream& os) const override { os << "MKDIR " << name; }
};

// UNLINK: names change, references do not (the entry's fd keeps the file).
struct Unlink : Cmd {
  std::string name;
  explicit Unlink(const Model& m) : name(*rc::gen::oneOf(gen_name(m, true), gen_name(m, false))) {}
  int expected(const Model& m) const {
    auto it = m.names.find(name);
    if (it == m.names.end()) return ENOENT;
    if (m.files[it->second].dir) return EISDIR;
    return 0;
  }
  void apply(Model& m) const override {
    if (expected(m) == 0) m.names.erase(name);
  }
  void exec(const Model& s0, const Model&, Sut& sut) const {
    RC_ASSERT(sut.run(req::unlink(kRootInode, name)).error() == expected(s0));
  }
  void run(const Model& s0, Sut& sut) const override { run_and_verify(*this, s0, sut); }
  void show(std::ostream& os) const override { os << "UNLINK " << name; }
};

// RENAME within the root (every directory in the model is empty).
struct Rename : Cmd {
  std::string from, to;
  explicit Rename(const Model& m)
      : from(*rc::gen::oneOf(gen_name(m, true), gen_name(m, false))),
        to(*rc::gen::oneOf(gen_name(m, true), gen_name(m, false))) {}
  int expected(const Model& m) const {
    auto src = m.names.find(from);
    if (src == m.names.end()) return ENOENT;
    auto dst = m.names.find(to);
    if (dst == m.names.end() || dst->second == src->second) return 0;
    const bool sdir = m.files[src->second].dir, ddir = m.files[dst->second].dir;
    if (!sdir && ddir) return EISDIR;
    if (sdir && !ddir) return ENOTDIR;
    return 0;
  }
  void apply(Model& m) const override {
    if (expected(m) != 0) return;
    const int src = m.names.at(from);
    auto dst = m.names.find(to);
    // Two names of one inode: rename(2) does nothing and succeeds.
    if (dst != m.names.end() && dst->second == src) return;
    m.names.erase(from);
    m.names[to] = src;
  }
  void exec(const Model& s0, const Model&, Sut& sut) const {
    RC_ASSERT(sut.run(req::rename(kRootInode, from, kRootInode, to)).error() == expected(s0));
  }
  void run(const Model& s0, Sut& sut) const override { run_and_verify(*this, s0, sut); }
  void show(std::ostream& os) const override { os << "RENAME " << from << " -> " << to; }
};

// LINK: a second name for a file the client holds; the reply names the same
// inode entry, one more reference. A forgotten inode answers EBADF.
struct Link : Cmd {
  int id = -1;
  std::string name;
  explicit Link(const Model& m) : name(*gen_name(m, false)) {
    std::vector<int> seen;
    for (size_t i = 0; i < m.files.size(); ++i)
      if (m.files[i].had_entry) seen.push_back(static_cast<int>(i));
    RC_PRE(!seen.empty());
    id = *rc::gen::elementOf(seen);
  }
  void checkPreconditions(const Model& m) const override { RC_PRE(file_seen(m, id)); }
  int expected(const Model& m) const {
    if (m.files[id].refs == 0) return EBADF;
    if (m.names.count(name)) return EEXIST;
    if (m.files[id].dir) return EPERM;
    if (m.name_count(id) == 0) return ENOENT;  // linkat refuses an unlinked inode
    return 0;
  }
  void apply(Model& m) const override {
    if (expected(m) != 0) return;
    m.names[name] = id;
    m.take_ref(id);
  }
  void exec(const Model& s0, const Model&, Sut& sut) const {
    auto r = sut.run(req::link(sut.inodes.at(id), kRootInode, name));
    RC_ASSERT(r.error() == expected(s0));
    if (!r.ok()) return;
    auto e = r.as<fuse_entry_out>();
    RC_ASSERT(e.has_value());
    sut.took_ref(s0, id, e->nodeid);
    RC_ASSERT(e->attr.nlink == s0.name_count(id) + 1);
  }
  void run(const Model& s0, Sut& sut) const override { run_and_verify(*this, s0, sut); }
  void show(std::ostream& os) const override { os << "LINK file#" << id << " as " << name; }
};

// GETATTR of an inode whose entry died: EBADF, never a crash.
struct GetattrForgotten : Cmd {
  int k = 0;
  explicit GetattrForgotten(const Model& m) {
    RC_PRE(!m.dead.empty());
    k = *rc::gen::inRange<int>(0, static_cast<int>(m.dead.size()));
  }
  void checkPreconditions(const Model& m) const override {
    RC_PRE(static_cast<size_t>(k) < m.dead.size());
  }
  void exec(const Model&, const Model&, Sut& sut) const {
    RC_ASSERT(sut.run(req::getattr(sut.dead.at(k))).error() == EBADF);
  }
  void run(const Model& s0, Sut& sut) const override { run_and_verify(*this, s0, sut); }
  void show(std::ostream& os) const override { os << "GETATTR dead#" << k; }
};

// GETATTR of a live inode: answers, and for the file the client holds.
struct GetattrLive : Cmd {
  int id = -1;
  explicit GetattrLive(const Model& m) {
    std::vector<int> live;
    for (size_t i = 0; i < m.files.size(); ++i)
      if (m.files[i].refs > 0) live.push_back(static_cast<int>(i));
    RC_PRE(!live.empty());
    id = *rc::gen::elementOf(live);
  }
  void checkPreconditions(const Model& m) const override { RC_PRE(file_live(m, id)); }
  void exec(const Model& s0, const Model&, Sut& sut) const {
    auto r = sut.run(req::getattr(sut.inodes.at(id)));
    RC_ASSERT(r.ok());
    auto a = r.as<fuse_attr_out>();
    RC_ASSERT(a.has_value());
    RC_ASSERT(S_ISDIR(a->attr.mode) == s0.files[id].dir);
  }
  void run(const Model& s0, Sut& sut) const override { run_and_verify(*this, s0, sut); }
  void show(std::ostream& os) const override { os << "GETATTR file#" << id; }
};

// RELEASE of a handle CREATE opened (its inode may be forgotten by now).
struct Release : Cmd {
  int k = 0;
  explicit Release(const Model& m) {
    RC_PRE(!m.handles.empty());
    k = *rc::gen::inRange<int>(0, static_cast<int>(m.handles.size()));
  }
  void checkPreconditions(const Model& m) const override {
    RC_PRE(static_cast<size_t>(k) < m.handles.size());
  }
  void apply(Model& m) const override { m.handles.erase(m.handles.begin() + k); }
  void exec(const Model&, const Model&, Sut& sut) const {
    const auto [ino, fh] = sut.fhs.at(k);
    RC_ASSERT(sut.run(req::release(ino, fh)).ok());
    sut.fhs.erase(sut.fhs.begin() + k);
  }
  void run(const Model& s0, Sut& sut) const override { run_and_verify(*this, s0, sut); }
  void show(std::ostream& os) const override { os << "RELEASE handle#" << k; }
};

RC_GTEST_PROP(RefcountStateMachine, TableMatchesModel, ()) {
  Sut sut;
  sut.verify(Model{});
  const auto commands = *rc::gen::resize(
      29,
      rc::state::gen::commands(
          Model{}, rc::state::gen::execOneOfWithArgs<Lookup, Lookup, Forget, BatchForget, Create,
                                                     Mkdir, Unlink, Rename, Link, GetattrForgotten,
                                                     GetattrLive, Release>()));
  RC_TAG(commands.size() <= 10 ? "1-10 commands" : "11-30 commands");
  rc::state::runAll(commands, Model{}, sut);
}

}  // namespace
