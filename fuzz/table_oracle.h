// Oracles on what PassthroughFs's tables hold, from what the client was told.
//
// TableModel learns, from each request (ids remapped, as the server saw it) and its
// reply, what the inode and handle tables must hold: the references the client was
// handed (every entry of LOOKUP, MKNOD, MKDIR, SYMLINK, LINK, CREATE, TMPFILE and
// READDIRPLUS replies) minus the ones it gave back (FORGET, BATCH_FORGET, decoded as
// the server decodes them, saturating at 0, the root kept), and the handles (OPEN,
// OPENDIR, CREATE, TMPFILE) minus the ones released. INIT starts from the root with 2
// references and no handle; DESTROY leaves both tables empty. After every request
// the table sizes must match and so must the refcount of every inode the request
// named; check_all() compares every refcount (end of an input).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "core/fuse/server.h"
#include "core/passthrough/handle_table.h"
#include "core/passthrough/inode_table.h"
#include "core/passthrough/passthrough_fs.h"

namespace pfs::fuzz {

class TableModel {
 public:
  // A new file system: nothing handed out, no INIT yet.
  void reset();

  // Learns one request and its reply. `ready_after`: whether the server is
  // initialised after it (INIT and DESTROY are seen as its changes);
  // `max_request`: the server's request_buffer_size().
  void learn(bool ready_after, std::span<const uint8_t> request, std::span<const uint8_t> reply,
             size_t max_request);
  // Aborts when the tables' sizes, or the refcount of an inode the last request
  // named, differ from the model.
  void check(const passthrough::InodeTable& inodes, const passthrough::HandleTable& handles,
             uint32_t opcode) const;
  // As check(), for every inode.
  void check_all(const passthrough::InodeTable& inodes,
                 const passthrough::HandleTable& handles) const;

  // learn() + check() + check_writeback() for the request `server` just handled.
  void after_request(const fuse::Server& server, const passthrough::PassthroughFs& fs,
                     std::span<const uint8_t> request, std::span<const uint8_t> reply);

 private:
  void ref(uint64_t inode);
  void forget(uint64_t inode, uint64_t count);
  void open_handle(uint64_t fh);
  void release_handle(std::span<const uint8_t> request);
  void learn_forgets(std::span<const uint8_t> request, size_t max_request);
  void learn_reply(uint32_t opcode, std::span<const uint8_t> request,
                   std::span<const uint8_t> payload);
  void check_sizes(const passthrough::InodeTable& inodes, const passthrough::HandleTable& handles,
                   uint32_t opcode) const;
  void check_ref(const passthrough::InodeTable& inodes, uint32_t opcode, uint64_t inode) const;

  bool ready_ = false;
  std::vector<uint64_t> refs_;    // by inode number; the root's kept at 0 too
  size_t live_inodes_ = 0;        // inodes with refs > 0, the root apart
  std::vector<uint8_t> handles_;  // by handle number: 1 while open
  size_t live_handles_ = 0;
  std::vector<uint64_t> touched_;  // the inodes the last request named
};

// Aborts unless PassthroughFs's writeback mode is what INIT granted the client:
// while the server is initialised, writeback_enabled() is FUSE_WRITEBACK_CACHE in the
// negotiated flags, and never on without Config::writeback.
void check_writeback(const fuse::Server& server, const passthrough::PassthroughFs& fs);

}  // namespace pfs::fuzz
