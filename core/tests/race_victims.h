// The other side of the race tests: a guest thread doing one kind of operation
// over and over on names in the arena (the operation the swapper tries to turn
// against the host). Each step is one round of that operation, cleaning up after
// itself whatever the swapper did to its names, so the next round starts afresh.
#pragma once

#include <fcntl.h>
#include <linux/fuse.h>
#include <sys/stat.h>

#include <cstdint>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "core/tests/race_guest.h"
#include "core/transport/memory/request_builder.h"

namespace pfs::testing {

enum class RaceOp { kMkdir, kCreate, kMknod, kSymlink, kLink, kRename, kSetattr, kSetxattr };

inline const char* race_op_name(RaceOp op) {
  switch (op) {
    case RaceOp::kMkdir:
      return "Mkdir";
    case RaceOp::kCreate:
      return "Create";
    case RaceOp::kMknod:
      return "Mknod";
    case RaceOp::kSymlink:
      return "Symlink";
    case RaceOp::kLink:
      return "Link";
    case RaceOp::kRename:
      return "Rename";
    case RaceOp::kSetattr:
      return "Setattr";
    case RaceOp::kSetxattr:
      return "Setxattr";
  }
  return "?";
}

inline void PrintTo(RaceOp op, std::ostream* os) { *os << race_op_name(op); }

struct VictimStats {
  uint64_t steps = 0;
  uint64_t ok = 0;              // the step's main request succeeded
  uint64_t other_type = 0;      // an entry of another type than asked (a swapped name)
  uint64_t canary_entries = 0;  // an entry naming the canary: an escape
};

class Victim {
 public:
  // `canary_inos`: the host inode numbers of the canary's dir and file.
  Victim(Guest& guest, RaceOp op, fuse::Inode arena, std::vector<uint64_t> canary_inos)
      : g_(guest), op_(op), arena_(arena), canary_inos_(std::move(canary_inos)) {}

  // The names this victim uses: the swapper guesses them.
  static std::vector<std::string> names(RaceOp op) {
    const char* prefix = "";
    switch (op) {
      case RaceOp::kMkdir:
        return {};  // mkdir's own final names are not worth swapping: its temp names are
      case RaceOp::kCreate:
        prefix = "c";
        break;
      case RaceOp::kMknod:
        prefix = "n";
        break;
      case RaceOp::kSymlink:
        prefix = "y";
        break;
      case RaceOp::kLink:
        prefix = "k";
        break;
      case RaceOp::kRename:
        return {"r0", "r1", "rd0", "rd1"};
      case RaceOp::kSetattr:
        prefix = "s";
        break;
      case RaceOp::kSetxattr:
        prefix = "x";
        break;
    }
    std::vector<std::string> out;
    for (int i = 0; i < kNames; ++i) out.push_back(prefix + std::to_string(i));
    return out;
  }

  void step(int i) {
    ++stats_.steps;
    const std::string name = names(op_).empty() ? "d" + std::to_string(i % kNames)
                                                : names(op_)[static_cast<size_t>(i % kNames)];
    switch (op_) {
      case RaceOp::kMkdir:
        return mkdir_step(name);
      case RaceOp::kCreate:
        return create_step(name);
      case RaceOp::kMknod:
        return mknod_step(name, (i & 1) ? S_IFIFO : S_IFREG);
      case RaceOp::kSymlink:
        return symlink_step(name);
      case RaceOp::kLink:
        return link_step(name);
      case RaceOp::kRename:
        return rename_step(i);
      case RaceOp::kSetattr:
        return setattr_step(name);
      case RaceOp::kSetxattr:
        return setxattr_step(name, (i & 1) ? S_IFIFO : S_IFREG);
    }
  }

  // What the victim makes before the race starts (the swapper not yet running).
  // `pool`: a directory of the share outside the arena.
  void prepare(fuse::Inode pool) {
    namespace req = transport::memory::req;
    pool_ = pool;
    if (op_ != RaceOp::kRename) return;
    for (int k = 0; k < kPoolDirs; ++k) {
      if (auto e = g_.entry(g_.call(req::mkdir(pool_, pool_name(k), 0755, 0, g_.ctx())))) {
        g_.forget(e->nodeid);
      }
    }
  }

  // Gives back what the victim still holds.
  void finish() {
    namespace req = transport::memory::req;
    if (link_src_) {
      g_.call(req::unlink(arena_, "k_src", g_.ctx()));
      link_src_.reset();
    }
    g_.forget_all();
  }

  const VictimStats& stats() const { return stats_; }

 private:
  static constexpr int kNames = 4;
  static constexpr int kPoolDirs = 256;
  static std::string pool_name(int k) { return "p" + std::to_string(k); }

  // Checks an entry the server handed out; true when it is of type `want`.
  bool check(const fuse_entry_out& e, uint32_t want) {
    for (uint64_t ino : canary_inos_) {
      if (e.attr.ino == ino) ++stats_.canary_entries;
    }
    if ((e.attr.mode & S_IFMT) != want) {
      ++stats_.other_type;
      return false;
    }
    return true;
  }
  // Removes `name` whatever it is now (the swapper may have put a symlink there).
  void remove(const std::string& name) {
    namespace req = transport::memory::req;
    auto r = g_.call(req::unlink(arena_, name, g_.ctx()));
    if (r.error() == EISDIR) g_.call(req::rmdir(arena_, name, g_.ctx()));
  }

  void mkdir_step(const std::string& name) {
    namespace req = transport::memory::req;
    auto e = g_.entry(g_.call(req::mkdir(arena_, name, 0750, 0, g_.ctx())));
    if (e) {
      ++stats_.ok;
      check(*e, S_IFDIR);
      g_.forget(e->nodeid);
    }
    auto r = g_.call(req::rmdir(arena_, name, g_.ctx()));
    if (r.error() == ENOTDIR) g_.call(req::unlink(arena_, name, g_.ctx()));
  }

  void create_step(const std::string& name) {
    namespace req = transport::memory::req;
    auto r = g_.call(req::create(arena_, name, S_IFREG | 0644, O_RDWR | O_CREAT, 0, g_.ctx()));
    auto e = g_.entry(r);
    auto o = r.at<fuse_open_out>(sizeof(fuse_entry_out));
    if (e && o) {
      ++stats_.ok;
      check(*e, S_IFREG);
      // Whatever the handle reaches gets written: the canary must not be it.
      g_.call(req::write(e->nodeid, o->fh, 0, std::string_view("pwned by create\n"), g_.ctx()));
      g_.call(req::release(e->nodeid, o->fh, O_RDWR, 0, 0, g_.ctx()));
    }
    if (e) g_.forget(e->nodeid);
    remove(name);
  }

  // Acts on a node the way a guest acts on a file it just made: mode, owner,
  // size, times, xattrs. None of it may reach past a symlink.
  void touch_node(uint64_t node) {
    namespace req = transport::memory::req;
    fuse_setattr_in in{};
    in.valid = FATTR_MODE | FATTR_UID | FATTR_GID;
    in.mode = S_IFREG | 0777;
    in.uid = 1234;
    in.gid = 1234;
    g_.call(req::setattr(node, in, g_.ctx()));
    in = fuse_setattr_in{};
    in.valid = FATTR_SIZE;
    g_.call(req::setattr(node, in, g_.ctx()));
    in = fuse_setattr_in{};
    in.valid = FATTR_MTIME | FATTR_ATIME;
    in.mtime = in.atime = 1;
    g_.call(req::setattr(node, in, g_.ctx()));
    g_.call(req::setxattr(node, "trusted.race", std::string_view("pwned"), 0, true, g_.ctx()));
    g_.call(req::setxattr(node, "user.race", std::string_view("pwned"), 0, true, g_.ctx()));
    g_.call(req::removexattr(node, "user.canary", g_.ctx()));
  }

  void mknod_step(const std::string& name, uint32_t type) {
    namespace req = transport::memory::req;
    auto e = g_.entry(g_.call(req::mknod(arena_, name, type | 0644, 0, 0, g_.ctx())));
    if (e) {
      ++stats_.ok;
      check(*e, type);
      touch_node(e->nodeid);
      g_.forget(e->nodeid);
    }
    remove(name);
  }

  void symlink_step(const std::string& name) {
    namespace req = transport::memory::req;
    auto e = g_.entry(g_.call(req::symlink(arena_, name, "inside", g_.ctx())));
    if (e) {
      ++stats_.ok;
      check(*e, S_IFLNK);
      touch_node(e->nodeid);
      g_.forget(e->nodeid);
    }
    remove(name);
  }

  void link_step(const std::string& name) {
    namespace req = transport::memory::req;
    if (!link_src_) {
      auto e = g_.entry(g_.call(req::mknod(arena_, "k_src", S_IFREG | 0644, 0, 0, g_.ctx())));
      if (!e) return;
      link_src_ = e->nodeid;
    }
    auto e = g_.entry(g_.call(req::link(*link_src_, arena_, name, g_.ctx())));
    if (e) {
      ++stats_.ok;
      check(*e, S_IFREG);
      touch_node(e->nodeid);
      g_.forget(e->nodeid);
    }
    remove(name);
  }

  // Renames its own file r0 <-> r1 and directory rd0 <-> rd1 (plain and
  // RENAME_NOREPLACE), then acts on what the new name holds. When the swapper took
  // its object away it starts over with a fresh one: a file by MKNOD, a directory
  // from a pool made before the race (by RENAME, never MKDIR: MKDIR has a race of
  // its own, and this case is about RENAME).
  void rename_step(int i) {
    namespace req = transport::memory::req;
    const bool dir = (i & 1) != 0;
    const std::string a = dir ? "rd0" : "r0", b = dir ? "rd1" : "r1";
    bool& at_b = dir ? dir_at_b_ : file_at_b_;
    const std::string& from = at_b ? b : a;
    const std::string& to = at_b ? a : b;
    const uint32_t flags = (i & 2) ? RENAME_NOREPLACE : 0;
    auto r = g_.call(req::rename2(arena_, from, arena_, to, flags, g_.ctx()));
    if (r.ok()) {
      ++stats_.ok;
      at_b = !at_b;
      auto e = g_.lookup(arena_, to);
      bool ours = false;
      if (e) {
        ours = check(*e, dir ? S_IFDIR : S_IFREG);
        touch_node(e->nodeid);
        g_.forget(e->nodeid);
      }
      if (ours) return;
    }
    remove(a);
    remove(b);
    at_b = false;
    if (dir) {
      if (next_pool_dir_ < kPoolDirs) {
        g_.call(req::rename2(pool_, pool_name(next_pool_dir_++), arena_, a, 0, g_.ctx()));
      }
    } else if (auto e = g_.entry(g_.call(req::mknod(arena_, a, S_IFREG | 0644, 0, 0, g_.ctx())))) {
      g_.forget(e->nodeid);
    }
  }

  void setattr_step(const std::string& name) {
    namespace req = transport::memory::req;
    // The lookup below, not the mknod's entry, is what the guest acts on.
    if (auto made = g_.entry(g_.call(req::mknod(arena_, name, S_IFREG | 0644, 0, 0, g_.ctx())))) {
      g_.forget(made->nodeid);
    }
    if (auto e = g_.lookup(arena_, name)) {
      ++stats_.ok;
      check(*e, S_IFREG);
      touch_node(e->nodeid);
      g_.forget(e->nodeid);
    }
    remove(name);
  }

  void setxattr_step(const std::string& name, uint32_t type) {
    namespace req = transport::memory::req;
    if (auto made = g_.entry(g_.call(req::mknod(arena_, name, type | 0644, 0, 0, g_.ctx())))) {
      g_.forget(made->nodeid);
    }
    if (auto e = g_.lookup(arena_, name)) {
      ++stats_.ok;
      check(*e, type);
      g_.call(
          req::setxattr(e->nodeid, "trusted.race", std::string_view("pwned"), 0, true, g_.ctx()));
      g_.call(req::setxattr(e->nodeid, "user.race", std::string_view("pwned"), 0, true, g_.ctx()));
      g_.call(req::removexattr(e->nodeid, "user.canary", g_.ctx()));
      g_.forget(e->nodeid);
    }
    remove(name);
  }

  Guest& g_;
  RaceOp op_;
  fuse::Inode arena_;
  fuse::Inode pool_ = 0;
  int next_pool_dir_ = 0;
  bool file_at_b_ = false, dir_at_b_ = false;
  std::vector<uint64_t> canary_inos_;
  std::optional<uint64_t> link_src_;
  VictimStats stats_;
};

}  // namespace pfs::testing
