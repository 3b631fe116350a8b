#include "fuzz/id_map.h"

#include <linux/fuse.h>

#include <algorithm>
#include <cstring>

#include "fuzz/reply_ids.h"

namespace pfs::fuzz {
namespace {

constexpr size_t kBody = sizeof(fuse_in_header);
constexpr size_t kPayload = sizeof(fuse_out_header);

uint64_t load64(const uint8_t* p) {
  uint64_t v;
  std::memcpy(&v, p, sizeof(v));
  return v;
}

}  // namespace

void SharedIdPool::add_node(uint64_t id) {
  std::lock_guard lock(mu_);
  IdMap::add(nodes_, id);
}

void SharedIdPool::add_handle(uint64_t id) {
  std::lock_guard lock(mu_);
  IdMap::add(handles_, id);
}

uint64_t SharedIdPool::node(uint64_t i) const {
  std::lock_guard lock(mu_);
  return i >= 1 && i <= nodes_.size() ? nodes_[i - 1] : 0;
}

uint64_t SharedIdPool::handle(uint64_t i) const {
  std::lock_guard lock(mu_);
  return i >= 1 && i <= handles_.size() ? handles_[i - 1] : 0;
}

std::vector<uint64_t> SharedIdPool::nodes() const {
  std::lock_guard lock(mu_);
  return nodes_;
}

size_t SharedIdPool::node_count() const {
  std::lock_guard lock(mu_);
  return nodes_.size();
}

void IdMap::add(std::vector<uint64_t>& list, uint64_t id) {
  if (id == 0 || list.size() >= kSmall) return;
  if (std::find(list.begin(), list.end(), id) == list.end()) list.push_back(id);
}

void IdMap::add_node(uint64_t id) {
  add(nodes_, id);
  if (pool_ != nullptr) pool_->add_node(id);
}

void IdMap::add_handle(uint64_t id) {
  add(handles_, id);
  if (pool_ != nullptr) pool_->add_handle(id);
}

uint64_t IdMap::map(Kind kind, uint64_t v) const {
  if (pool_ != nullptr && v >= kSmall && v < 2 * kSmall) {
    const uint64_t i = v - kSmall + 1;
    const uint64_t id = kind == Kind::kNode ? pool_->node(i) : pool_->handle(i);
    return id != 0 ? id : v;
  }
  const std::vector<uint64_t>& list = kind == Kind::kNode ? nodes_ : handles_;
  if (v == 0 || v >= kSmall || v > list.size()) return v;
  return list[v - 1];
}

void IdMap::remap_field(std::span<uint8_t> request, size_t offset, Kind kind) const {
  if (request.size() < offset + sizeof(uint64_t)) return;
  const uint64_t v = map(kind, load64(request.data() + offset));
  std::memcpy(request.data() + offset, &v, sizeof(v));
}

void IdMap::remap_request(std::span<uint8_t> request) const {
  if (request.size() < sizeof(fuse_in_header)) return;
  fuse_in_header h{};
  std::memcpy(&h, request.data(), sizeof(h));
  if (h.opcode != FUSE_INIT) remap_field(request, offsetof(fuse_in_header, nodeid), Kind::kNode);

  switch (h.opcode) {
    // Handle first in the body.
    case FUSE_READ:
    case FUSE_WRITE:
    case FUSE_RELEASE:
    case FUSE_RELEASEDIR:
    case FUSE_FLUSH:
    case FUSE_FSYNC:
    case FUSE_FSYNCDIR:
    case FUSE_READDIR:
    case FUSE_READDIRPLUS:
    case FUSE_IOCTL:
    case FUSE_FALLOCATE:
    case FUSE_LSEEK:
    case FUSE_GETLK:
    case FUSE_SETLK:
    case FUSE_SETLKW:
    case FUSE_POLL:
      remap_field(request, kBody, Kind::kHandle);
      break;
    case FUSE_GETATTR:
      remap_field(request, kBody + offsetof(fuse_getattr_in, fh), Kind::kHandle);
      break;
    case FUSE_SETATTR:
      remap_field(request, kBody + offsetof(fuse_setattr_in, fh), Kind::kHandle);
      break;
    case FUSE_COPY_FILE_RANGE:
      remap_field(request, kBody + offsetof(fuse_copy_file_range_in, fh_in), Kind::kHandle);
      remap_field(request, kBody + offsetof(fuse_copy_file_range_in, nodeid_out), Kind::kNode);
      remap_field(request, kBody + offsetof(fuse_copy_file_range_in, fh_out), Kind::kHandle);
      break;
    // A node id first in the body.
    case FUSE_LINK:
    case FUSE_RENAME:
    case FUSE_RENAME2:
      remap_field(request, kBody, Kind::kNode);
      break;
    case FUSE_BATCH_FORGET: {
      fuse_batch_forget_in b{};
      if (request.size() < kBody + sizeof(b)) break;
      std::memcpy(&b, request.data() + kBody, sizeof(b));
      const size_t room = (request.size() - kBody - sizeof(b)) / sizeof(fuse_forget_one);
      const size_t n = std::min<size_t>(b.count, room);
      for (size_t i = 0; i < n; ++i) {
        remap_field(request, kBody + sizeof(b) + i * sizeof(fuse_forget_one), Kind::kNode);
      }
      break;
    }
    default:
      break;
  }
}

void IdMap::learn(uint32_t request_opcode, std::span<const uint8_t> reply) {
  if (reply.size() < kPayload) return;
  fuse_out_header oh{};
  std::memcpy(&oh, reply.data(), sizeof(oh));
  if (oh.error != 0) return;
  const std::span<const uint8_t> p = reply.subspan(kPayload);
  switch (hands_out(request_opcode)) {
    case HandsOut::kEntry:
      if (p.size() >= sizeof(fuse_entry_out)) add_node(load64(p.data()));
      break;
    case HandsOut::kEntryAndHandle:
      if (p.size() >= sizeof(fuse_entry_out) + sizeof(fuse_open_out)) {
        add_node(load64(p.data()));
        add_handle(load64(p.data() + sizeof(fuse_entry_out)));
      }
      break;
    case HandsOut::kHandle:
      if (p.size() >= sizeof(fuse_open_out)) add_handle(load64(p.data()));
      break;
    case HandsOut::kDirentPlus:
      for_each_direntplus_node(p, [this](uint64_t id) { add_node(id); });
      break;
    case HandsOut::kNothing:
      break;
  }
}

}  // namespace pfs::fuzz
