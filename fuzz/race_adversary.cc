#include "fuzz/race_adversary.h"

#include <linux/fs.h>
#include <linux/fuse.h>
#include <unistd.h>

#include <cstring>

#include "core/transport/memory/request_builder.h"

namespace pfs::fuzz {
namespace {

namespace req = pfs::transport::memory::req;

uint64_t entry_node(std::span<const uint8_t> reply) {
  if (reply_error(reply) != 0 || reply.size() < sizeof(fuse_out_header) + sizeof(fuse_entry_out)) {
    return 0;
  }
  fuse_entry_out e{};
  std::memcpy(&e, reply.data() + sizeof(fuse_out_header), sizeof(e));
  return e.nodeid;
}

uint64_t open_handle(std::span<const uint8_t> reply) {
  if (reply_error(reply) != 0 || reply.size() < sizeof(fuse_out_header) + sizeof(fuse_open_out)) {
    return 0;
  }
  fuse_open_out o{};
  std::memcpy(&o, reply.data() + sizeof(fuse_out_header), sizeof(o));
  return o.fh;
}

}  // namespace

void Sightings::add(uint64_t dir, std::string name) {
  std::lock_guard lock(mu_);
  if (items_.size() < kMax) items_.emplace_back(dir, std::move(name));
}

std::vector<std::pair<uint64_t, std::string>> Sightings::take() {
  std::lock_guard lock(mu_);
  return std::exchange(items_, {});
}

Adversary::Adversary(fuse::Server& server, std::string canary, const RaceConfig& cfg,
                     const SharedIdPool& pool, Sightings& sightings)
    : client_(server),
      canary_(std::move(canary)),
      cfg_(cfg),
      pool_(pool),
      sightings_(sightings),
      pid_(static_cast<uint32_t>(::getpid())) {}

fuse::Context Adversary::next_ctx() { return fuse::Context{0, 0, pid_, ++unique_}; }

void Adversary::watch(uint64_t node, unsigned depth) {
  if (node == 0 || watched_.size() >= kMaxWatched) return;
  const uint64_t fh = open_handle(client_.call(req::opendir(node, 0, next_ctx())));
  if (fh == 0) return;
  watched_.push_back({node, fh, depth, req::readdir(node, fh, 0, 4096, next_ctx())});
}

void Adversary::prepare() {
  watch(1, 0);
  const uint64_t dir = entry_node(client_.call(req::lookup(1, "dir", next_ctx())));
  watch(dir, 1);
  if (dir != 0) watch(entry_node(client_.call(req::lookup(dir, "sub", next_ctx()))), 2);
  probed_ = {1, dir};
  for (const Watched& w : watched_) (void)ready_symlink(target_for(w.depth));
}

void Adversary::finish() {
  for (const Watched& w : watched_)
    (void)client_.call(req::releasedir(w.node, w.fh, 0, next_ctx()));
  watched_.clear();
}

std::string Adversary::target_for(unsigned depth) {
  SymlinkTargets t = cfg_.targets;
  if (t == SymlinkTargets::kAll) t = static_cast<SymlinkTargets>(turn_++ % 3);
  if (t == SymlinkTargets::kRelative && depth != kUnknownDepth) {
    std::string s;
    for (unsigned i = 0; i <= depth; ++i) s += "../";
    return s + "canary";
  }
  if (t == SymlinkTargets::kAbsoluteSub) return canary_ + "/sub";
  return canary_;
}

const std::string* Adversary::ready_symlink(const std::string& target) {
  if (auto it = ready_.find(target); it != ready_.end()) return &it->second;
  if (symlinks_made_ >= kMaxSymlinks) return nullptr;
  std::string name = ".pfsadv" + std::to_string(symlinks_made_++);
  if (entry_node(client_.call(req::symlink(1, name, target, next_ctx()))) == 0) return nullptr;
  return &ready_.emplace(target, std::move(name)).first->second;
}

void Adversary::exchange(uint64_t dir, unsigned depth, const std::string& name) {
  if (!tried_.emplace(dir, name).second) return;
  const std::string target = target_for(depth);
  const std::string* link = ready_symlink(target);
  if (link == nullptr) return;
  if (reply_error(client_.call(req::rename2(dir, name, 1, *link, RENAME_EXCHANGE, next_ctx()))) ==
      0) {
    ++exchanges_;
    ready_.erase(target);         // that symlink now sits where the name was
    (void)ready_symlink(target);  // have the next one ready before the next sighting
  }
}

void Adversary::sweep(const Watched& w) {
  const std::span<const uint8_t> reply = client_.call(w.readdir);
  if (reply_error(reply) != 0) return;
  names_.clear();
  readdir_names(reply.subspan(sizeof(fuse_out_header)), false, names_);
  for (const std::string& n : names_) {
    if (looks_hidden_temp(n)) exchange(w.node, w.depth, n);
  }
}

void Adversary::watch_stream_dirs() {
  const size_t count = pool_.node_count();
  if (count == pool_seen_) return;
  pool_seen_ = count;
  for (uint64_t node : pool_.nodes()) {
    if (watched_.size() >= kMaxWatched) return;
    if (probed_.insert(node).second) watch(node, kUnknownDepth);
  }
}

void Adversary::sweep_round(uint64_t focus, size_t round) {
  // Most rounds list only the directory the latest name-making request works in,
  // when it is watched: a shorter cycle, so a hidden name is seen sooner after its
  // mkdirat. Every fourth round lists them all (RENAME and LINK make their name
  // in another directory).
  if (focus != 0 && round % 4 != 0) {
    for (const Watched& w : watched_) {
      if (w.node == focus) {
        sweep(w);
        return;
      }
    }
  }
  for (const Watched& w : watched_) sweep(w);
}

void Adversary::run(const StreamActivity& activity, size_t max_rounds) {
  uint32_t seen = activity.epoch();
  for (size_t round = 0; round < max_rounds && !activity.done(); ++round) {
    if (round > 0 && !activity.making()) {
      activity.wait(seen);
      if (activity.done()) return;
    }
    // Read before the sweep: a change during it makes the next wait return at once.
    seen = activity.epoch();
    rounds_.fetch_add(1, std::memory_order_relaxed);
    if (cfg_.watch_stream_dirs) watch_stream_dirs();
    sweep_round(activity.focus(), round);
    swap_sightings();
  }
}

void Adversary::swap_sightings() {
  for (const auto& [dir, name] : sightings_.take()) {
    if (looks_hidden_temp(name) || cfg_.swap_seen_names) exchange(dir, kUnknownDepth, name);
  }
}

const Adversary::Watched* Adversary::watched_for(uint64_t node) {
  for (int pass = 0; pass < 2; ++pass) {
    for (const Watched& w : watched_) {
      if (w.node == node) return &w;
    }
    if (pass == 0 && !probed_.insert(node).second) return nullptr;
    if (pass == 0) watch(node, kUnknownDepth);
  }
  return nullptr;
}

void Adversary::act(const RaceGuide::Point& point) {
  if (cfg_.watch_stream_dirs) watch_stream_dirs();
  const Watched* w = watched_for(point.dir);
  if (point.kind == RaceGuide::Kind::kHiddenName) {
    // The guest does not know the random name: it finds it by listing.
    if (w != nullptr) sweep(*w);
  } else if (cfg_.swap_seen_names) {
    exchange(point.dir, w != nullptr ? w->depth : kUnknownDepth, point.name);
  }
  swap_sightings();
}

void Adversary::run_guided(RaceGuide& guide, size_t max_rounds) {
  rounds_.fetch_add(1, std::memory_order_relaxed);
  if (cfg_.watch_stream_dirs) watch_stream_dirs();
  sweep_round(0, 0);
  swap_sightings();
  RaceGuide::Point point;
  while (guide.next(point)) {
    if (rounds_.load(std::memory_order_relaxed) < max_rounds) {
      rounds_.fetch_add(1, std::memory_order_relaxed);
      act(point);
    }
    guide.acted();
  }
}

}  // namespace pfs::fuzz
