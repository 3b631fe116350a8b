#include "fuzz/table_oracle.h"

#include <linux/fuse.h>

#include <cstring>

#include "fuzz/oracles.h"
#include "fuzz/reply_ids.h"

namespace pfs::fuzz {
namespace {

constexpr size_t kIn = sizeof(fuse_in_header);
constexpr size_t kOut = sizeof(fuse_out_header);
// Inode numbers and handles are handed out one by one from 2 and 1: an input of at
// most a few thousand requests cannot reach this.
constexpr uint64_t kMaxId = uint64_t{1} << 20;

template <class T>
bool load(std::span<const uint8_t> bytes, size_t at, T& out) {
  if (bytes.size() < at || bytes.size() - at < sizeof(T)) return false;
  std::memcpy(&out, bytes.data() + at, sizeof(T));
  return true;
}

void check_id(const char* what, uint64_t id) {
  if (id >= kMaxId)
    oracle_fail("a reply handed out %s %llu", what, static_cast<unsigned long long>(id));
}

}  // namespace

void TableModel::reset() {
  ready_ = false;
  refs_.clear();
  live_inodes_ = 0;
  handles_.clear();
  live_handles_ = 0;
  touched_.clear();
}

void TableModel::ref(uint64_t inode) {
  if (inode == 0) return;
  check_id("node id", inode);
  if (refs_.size() <= inode) refs_.resize(inode + 1, 0);
  if (refs_[inode]++ == 0 && inode != fuse::kRootInode) ++live_inodes_;
  touched_.push_back(inode);
}

void TableModel::open_handle(uint64_t fh) {
  check_id("handle", fh);
  if (handles_.size() <= fh) handles_.resize(fh + 1, 0);
  if (handles_[fh])
    oracle_fail("handle %llu handed out twice", static_cast<unsigned long long>(fh));
  handles_[fh] = 1;
  ++live_handles_;
}

void TableModel::forget(uint64_t inode, uint64_t count) {
  touched_.push_back(inode);
  if (inode >= refs_.size() || (refs_[inode] == 0 && inode != fuse::kRootInode)) return;
  const uint64_t before = refs_[inode];
  refs_[inode] = before > count ? before - count : 0;
  if (before != 0 && refs_[inode] == 0 && inode != fuse::kRootInode) --live_inodes_;
}

// FORGET and BATCH_FORGET have no reply: what the server applied is decoded here
// with its own rules (server.cc, ops_entry.cc).
void TableModel::learn_forgets(std::span<const uint8_t> request, size_t max_request) {
  fuse_in_header h{};
  if (!ready_ || !load(request, 0, h) || h.len != request.size() || h.len > max_request) return;
  const size_t body_len = h.len - kIn;
  const size_t ext_len = size_t{h.total_extlen} * 8;
  if (ext_len > body_len) return;
  const std::span<const uint8_t> body = request.subspan(kIn, body_len - ext_len);
  if (h.opcode == FUSE_FORGET) {
    fuse_forget_in f{};
    if (load(body, 0, f)) forget(h.nodeid, f.nlookup);
    return;
  }
  fuse_batch_forget_in b{};
  if (!load(body, 0, b) || b.count > (body.size() - sizeof(b)) / sizeof(fuse_forget_one)) return;
  for (uint32_t i = 0; i < b.count; ++i) {
    fuse_forget_one one{};
    load(body, sizeof(b) + i * sizeof(one), one);
    forget(one.nodeid, one.nlookup);
  }
}

void TableModel::learn_reply(uint32_t opcode, std::span<const uint8_t> request,
                             std::span<const uint8_t> p) {
  fuse_entry_out e{};
  fuse_open_out o{};
  switch (hands_out(opcode)) {
    case HandsOut::kEntry:
      if (load(p, 0, e)) ref(e.nodeid);
      break;
    case HandsOut::kEntryAndHandle:
      if (load(p, 0, e)) ref(e.nodeid);
      if (load(p, sizeof(e), o)) open_handle(o.fh);
      break;
    case HandsOut::kHandle:
      if (load(p, 0, o)) open_handle(o.fh);
      break;
    case HandsOut::kDirentPlus:
      for_each_direntplus_node(p, [this](uint64_t id) { ref(id); });
      break;
    case HandsOut::kNothing:
      if (opcode == FUSE_RELEASE || opcode == FUSE_RELEASEDIR) release_handle(request);
      break;
  }
}

void TableModel::release_handle(std::span<const uint8_t> request) {
  fuse_release_in r{};
  if (!load(request, kIn, r)) return;
  if (r.fh >= handles_.size() || !handles_[r.fh]) {
    oracle_fail("RELEASE of handle %llu succeeded, but it is not open",
                static_cast<unsigned long long>(r.fh));
  }
  handles_[r.fh] = 0;
  --live_handles_;
}

void TableModel::learn(bool ready_after, std::span<const uint8_t> request,
                       std::span<const uint8_t> reply, size_t max_request) {
  touched_.clear();
  fuse_in_header h{};
  if (!load(request, 0, h)) return;
  if (h.opcode == FUSE_FORGET || h.opcode == FUSE_BATCH_FORGET) learn_forgets(request, max_request);
  if (ready_ != ready_after) {
    // INIT made a fresh table (the root, 2 references) or DESTROY emptied it.
    refs_.assign(refs_.size(), 0);
    live_inodes_ = 0;
    handles_.assign(handles_.size(), 0);
    live_handles_ = 0;
    ready_ = ready_after;
    if (ready_) {
      ref(fuse::kRootInode);
      ref(fuse::kRootInode);
    }
    return;
  }
  fuse_out_header oh{};
  if (!ready_ || !load(reply, 0, oh) || oh.error != 0) return;
  learn_reply(h.opcode, request, reply.subspan(kOut));
}

void TableModel::check_sizes(const passthrough::InodeTable& inodes,
                             const passthrough::HandleTable& handles, uint32_t opcode) const {
  const size_t want_inodes = ready_ ? live_inodes_ + 1 : 0;
  if (inodes.size() != want_inodes) {
    oracle_fail("after opcode %u the inode table holds %zu inodes, the client was handed %zu",
                opcode, inodes.size(), want_inodes);
  }
  if (handles.size() != live_handles_) {
    oracle_fail("after opcode %u the handle table holds %zu handles, the client has %zu open",
                opcode, handles.size(), live_handles_);
  }
}

void TableModel::check_ref(const passthrough::InodeTable& inodes, uint32_t opcode,
                           uint64_t inode) const {
  const uint64_t want = inode < refs_.size() ? refs_[inode] : 0;
  const uint64_t have = inodes.refcount(inode);
  if (have != want) {
    oracle_fail("after opcode %u inode %llu has refcount %llu, the client holds %llu", opcode,
                static_cast<unsigned long long>(inode), static_cast<unsigned long long>(have),
                static_cast<unsigned long long>(want));
  }
}

void TableModel::check(const passthrough::InodeTable& inodes,
                       const passthrough::HandleTable& handles, uint32_t opcode) const {
  check_sizes(inodes, handles, opcode);
  for (const uint64_t inode : touched_) check_ref(inodes, opcode, inode);
}

void TableModel::check_all(const passthrough::InodeTable& inodes,
                           const passthrough::HandleTable& handles) const {
  // The sizes, then every inode the model knows (one never handed out must be
  // absent, which the size check covers).
  check_sizes(inodes, handles, 0);
  for (uint64_t inode = 1; inode < refs_.size(); ++inode) check_ref(inodes, 0, inode);
}

void TableModel::after_request(const fuse::Server& server, const passthrough::PassthroughFs& fs,
                               std::span<const uint8_t> request, std::span<const uint8_t> reply) {
  learn(server.initialized(), request, reply, server.request_buffer_size());
  fuse_in_header h{};
  load(request, 0, h);
  check(fs.inodes(), fs.handles(), h.opcode);
  check_writeback(server, fs);
}

void check_writeback(const fuse::Server& server, const passthrough::PassthroughFs& fs) {
  if (!server.initialized()) return;
  const bool granted = (server.negotiated_flags() & FUSE_WRITEBACK_CACHE) != 0;
  if (fs.writeback_enabled() != granted || (granted && !fs.config().writeback)) {
    oracle_fail("writeback: the file system has it %s, INIT granted it %s, the config %s",
                fs.writeback_enabled() ? "on" : "off", granted ? "yes" : "no",
                fs.config().writeback ? "asks for it" : "does not");
  }
}

}  // namespace pfs::fuzz
