// One thread of a hostile guest: sends requests through its Client with its own
// credentials and request ids, keeps count of the lookups it owns and gives them
// back, and tells whether an entry it got names the canary outside the share.
#pragma once

#include <linux/fuse.h>
#include <unistd.h>

#include <cstdint>
#include <map>
#include <optional>
#include <string_view>

#include "core/tests/race_client.h"
#include "core/transport/memory/request_builder.h"

namespace pfs::testing {

class Guest {
 public:
  Guest(Client& client, uint32_t uid, uint32_t gid) : client_(client), uid_(uid), gid_(gid) {}
  Guest(const Guest&) = delete;
  Guest& operator=(const Guest&) = delete;

  // The context of the next request: this guest's uid/gid, a fresh unique.
  fuse::Context ctx() {
    return fuse::Context{uid_, gid_, static_cast<uint32_t>(::getpid()), ++unique_};
  }
  // `expect_reply` false for FORGET: it has none.
  transport::memory::Reply call(const transport::memory::Bytes& request, bool expect_reply = true) {
    ++requests_;
    transport::memory::Reply r = client_.call(request);
    if (r.replied != expect_reply ||
        (r.replied && (!r.well_formed() || r.header.error > 0 || r.header.error <= -4096))) {
      ++bad_replies_;
    }
    return r;
  }
  // The entry of a successful MKDIR/MKNOD/SYMLINK/LINK/LOOKUP/CREATE reply (its
  // reference now ours), or nullopt.
  std::optional<fuse_entry_out> entry(const transport::memory::Reply& r) {
    if (!r.ok()) return std::nullopt;
    auto e = r.at<fuse_entry_out>(0);
    if (!e || e->nodeid == 0) return std::nullopt;
    ++refs_[e->nodeid];
    return e;
  }
  // LOOKUP `name` in `parent`; the entry as entry() returns it.
  std::optional<fuse_entry_out> lookup(fuse::Inode parent, std::string_view name) {
    return entry(call(transport::memory::req::lookup(parent, name, ctx())));
  }
  // Gives back one reference (an inode whose count would otherwise keep an fd).
  void forget(uint64_t inode) {
    auto it = refs_.find(inode);
    if (it == refs_.end()) return;
    call(transport::memory::req::forget(inode, 1, ctx()), false);
    if (--it->second == 0) refs_.erase(it);
  }
  void forget_all() {
    for (auto [inode, n] : refs_) call(transport::memory::req::forget(inode, n, ctx()), false);
    refs_.clear();
  }

  uint64_t requests() const { return requests_; }
  // Replies that were missing, malformed or carried an impossible error.
  uint64_t bad_replies() const { return bad_replies_; }

 private:
  Client& client_;
  uint32_t uid_, gid_;
  uint64_t unique_ = 0;
  uint64_t requests_ = 0, bad_replies_ = 0;
  std::map<uint64_t, uint64_t> refs_;
};

}  // namespace pfs::testing
