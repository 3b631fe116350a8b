// Property 6 (issue 5): the wire round trip, and byte mutations of valid requests.
//
// RoundTrip: a generated well-formed request (an opcode from kRoundTripOpcodes,
// plausible fields, names) is encoded with RequestBuilder (the req:: makers), run
// through the Server into a RecordingFs that captures the decoded arguments, and
// re-encoded from the captured arguments alone. The bytes must be identical.
//   What makes that meaningful: the FileSystem interface carries every wire field
// but a few (padding, fuse_create_in.open_flags, fuse_read_in/fuse_write_in
// lock_owner and read_flags, fuse_setattr_in lock_owner/ctime, fuse_getattr_in.fh
// without FUSE_GETATTR_FH, fuse_setattr_in.fh without FATTR_FH,
// fuse_release_in.lock_owner without a release flag, the secctx xattr name), so
// the generator leaves those at the value the req:: makers write (0, or
// "security.selinux" for the one security context it may append). Which method
// ran (rename vs rename with flags, open vs opendir, setlk vs setlkw, fsync vs
// fsyncdir, release vs releasedir) tells the opcode back; RENAME2 is generated
// with non-zero flags so that "flags == 0" means RENAME.
//   Left out, because the FileSystem never sees what they carry: INIT and DESTROY
// (handled by the Server), INTERRUPT (never reaches the FS), READDIR and
// READDIRPLUS (the size only bounds the DirSink; the FS is not told it).
//   Sizes the Server clamps on purpose are generated inside the clamp:
// COPY_FILE_RANGE len <= the page-aligned u32 limit, GETXATTR/LISTXATTR size <=
// 64 KiB, READ/WRITE size <= max_write, IOCTL without FUSE_IOCTL_UNRESTRICTED.
//
// Mutation: 1..6 generated requests, each hit by 1..4 byte mutations (flip a bit,
// set a byte, insert, delete, truncate) are run against the real PassthroughFs on
// a scratch directory (a file, a directory, a symlink, looked up; two handles
// open). Every reply is well formed: the out-header len equals the bytes
// returned, error is 0 or a negative errno > -4096, the unique is echoed; FORGET,
// BATCH_FORGET and INTERRUPT get no reply. Afterwards check_invariants() is empty
// and the fd count equals baseline + entries + handles. To keep the real disk and
// the process safe, after mutating the bytes sent are remapped: FALLOCATE ->
// FLUSH and COPY_FILE_RANGE -> LSEEK (huge random lengths could fill the disk),
// SETLKW -> SETLK (could block), MKNOD -> MKDIR (as root it would make device
// nodes that a later OPEN could reach), IOCTL -> STATFS (SETFLAGS could make
// scratch files immutable, which no cleanup can then remove). The same mutations
// also run, unremapped, against the RecordingFs (decode and encode only).
#include <dirent.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/fuse.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <fstream>
#include <functional>
#include <limits>
#include <memory>
#include <optional>
#include <ostream>
#include <sstream>
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
namespace fuse = pfs::fuse;
using fuse::Context;
using fuse::Handle;
using fuse::Inode;
using mem::Bytes;
using pfs::Errno;
using pfs::Result;
using pfs::Status;

constexpr uint64_t kMaxCopy = std::numeric_limits<uint32_t>::max() & ~uint64_t{4095};
constexpr uint32_t kMaxWrite = 1u << 20;  // ServerOptions default

// Every field any generated request needs; which ones matter depends on opcode.
struct Args {
  uint32_t opcode = 0;
  Context ctx;
  Inode node = 0;
  Inode node2 = 0;
  Handle fh = 0;
  Handle fh2 = 0;
  bool has_fh = false;  // GETATTR with FUSE_GETATTR_FH; FSYNC datasync; SETLKW
  std::string name, name2, secctx;
  Bytes data;
  uint32_t a = 0, b = 0, c = 0;
  uint64_t u1 = 0, u2 = 0, u3 = 0, u4 = 0;
  fuse_setattr_in sa{};
  fuse_file_lock lk{};
  std::vector<std::pair<Inode, uint64_t>> items;
};

void showValue(const Args& x, std::ostream& os) {
  os << "opcode=" << x.opcode << " unique=" << x.ctx.unique << " uid=" << x.ctx.uid
     << " gid=" << x.ctx.gid << " pid=" << x.ctx.pid << " node=" << x.node << " node2=" << x.node2
     << " fh=" << x.fh << " fh2=" << x.fh2 << " has_fh=" << x.has_fh << " name='" << x.name
     << "' name2='" << x.name2 << "' secctx='" << x.secctx << "' data=" << x.data.size()
     << "B a=" << x.a << " b=" << x.b << " c=" << x.c << " u1=" << x.u1 << " u2=" << x.u2
     << " u3=" << x.u3 << " u4=" << x.u4 << " sa.valid=" << x.sa.valid
     << " items=" << x.items.size();
}

// --- encoding (the req:: makers, or RequestBuilder where a secctx follows) ---

Bytes with_secctx(fuse::Inode parent, uint32_t opcode, const Context& ctx, const Args& x,
                  const std::function<void(mem::RequestBuilder&)>& body) {
  mem::RequestBuilder b(opcode, parent, ctx);
  body(b);
  if (!x.secctx.empty()) b.extension(mem::secctx_block("security.selinux", x.secctx));
  return b.finish();
}

Bytes encode(const Args& x, bool setxattr_ext) {
  const Context& ctx = x.ctx;
  switch (x.opcode) {
    case FUSE_LOOKUP:
      return req::lookup(x.node, x.name, ctx);
    case FUSE_FORGET:
      return req::forget(x.node, x.u1, ctx);
    case FUSE_BATCH_FORGET:
      return req::batch_forget(x.items, ctx);
    case FUSE_GETATTR:
      return req::getattr(x.node, x.has_fh ? std::optional<Handle>(x.fh) : std::nullopt, ctx);
    case FUSE_SETATTR:
      return req::setattr(x.node, x.sa, ctx);
    case FUSE_READLINK:
      return req::readlink(x.node, ctx);
    case FUSE_SYMLINK:
      return with_secctx(x.node, FUSE_SYMLINK, ctx, x,
                         [&](mem::RequestBuilder& b) { b.str(x.name).str(x.name2); });
    case FUSE_MKNOD:
      return with_secctx(x.node, FUSE_MKNOD, ctx, x, [&](mem::RequestBuilder& b) {
        b.obj(fuse_mknod_in{x.a, x.b, x.c, 0}).str(x.name);
      });
    case FUSE_MKDIR:
      return with_secctx(x.node, FUSE_MKDIR, ctx, x, [&](mem::RequestBuilder& b) {
        b.obj(fuse_mkdir_in{x.a, x.c}).str(x.name);
      });
    case FUSE_UNLINK:
      return req::unlink(x.node, x.name, ctx);
    case FUSE_RMDIR:
      return req::rmdir(x.node, x.name, ctx);
    case FUSE_RENAME:
      return req::rename(x.node, x.name, x.node2, x.name2, ctx);
    case FUSE_RENAME2:
      return req::rename2(x.node, x.name, x.node2, x.name2, x.a, ctx);
    case FUSE_LINK:
      return req::link(x.node2, x.node, x.name, ctx);
    case FUSE_OPEN:
      return req::open(x.node, x.a, ctx);
    case FUSE_READ:
      return req::read(x.node, x.fh, x.u1, x.a, x.b, ctx);
    case FUSE_WRITE:
      return req::write(x.node, x.fh, x.u1, x.data, x.a, x.b, ctx);
    case FUSE_STATFS:
      return req::statfs(x.node, ctx);
    case FUSE_RELEASE:
      return req::release(x.node, x.fh, x.a, x.b, x.u1, ctx);
    case FUSE_FSYNC:
      return req::fsync(x.node, x.fh, x.has_fh, ctx);
    case FUSE_SETXATTR:
      return req::setxattr(x.node, x.name, x.data, x.a, setxattr_ext, ctx);
    case FUSE_GETXATTR:
      return req::getxattr(x.node, x.name, x.a, ctx);
    case FUSE_LISTXATTR:
      return req::listxattr(x.node, x.a, ctx);
    case FUSE_REMOVEXATTR:
      return req::removexattr(x.node, x.name, ctx);
    case FUSE_FLUSH:
      return req::flush(x.node, x.fh, x.u1, ctx);
    case FUSE_OPENDIR:
      return req::opendir(x.node, x.a, ctx);
    case FUSE_RELEASEDIR:
      return req::releasedir(x.node, x.fh, x.a, ctx);
    case FUSE_FSYNCDIR:
      return req::fsyncdir(x.node, x.fh, x.has_fh, ctx);
    case FUSE_ACCESS:
      return req::access(x.node, x.a, ctx);
    case FUSE_CREATE:
      return with_secctx(x.node, FUSE_CREATE, ctx, x, [&](mem::RequestBuilder& b) {
        b.obj(fuse_create_in{x.b, x.a, x.c, 0}).str(x.name);
      });
    case FUSE_TMPFILE:
      return with_secctx(x.node, FUSE_TMPFILE, ctx, x, [&](mem::RequestBuilder& b) {
        b.obj(fuse_create_in{x.b, x.a, x.c, 0}).str("/");
      });
    case FUSE_IOCTL:
      return req::ioctl(x.node, x.fh, x.a, x.u1, x.data, x.b, x.c, ctx);
    case FUSE_FALLOCATE:
      return req::fallocate(x.node, x.fh, x.a, x.u1, x.u2, ctx);
    case FUSE_LSEEK:
      return req::lseek(x.node, x.fh, x.u1, x.a, ctx);
    case FUSE_COPY_FILE_RANGE:
      return req::copy_file_range(x.node, x.fh, x.u1, x.node2, x.fh2, x.u2, x.u3, x.u4, ctx);
    case FUSE_SYNCFS:
      return req::syncfs(x.node, ctx);
    case FUSE_GETLK:
      return req::getlk(x.node, x.fh, x.u1, x.lk, ctx);
    case FUSE_SETLK:
    case FUSE_SETLKW:
      return req::setlk(x.node, x.fh, x.u1, x.lk, x.opcode == FUSE_SETLKW, ctx);
    case FUSE_BMAP:
      return req::bmap(x.node, x.u1, x.a, ctx);
    case FUSE_POLL:
      return req::poll(x.node, x.fh, x.u1, x.a, x.b, ctx);
    default:
      return {};
  }
}

// --- the recording file system ----------------------------------------------

// Captures the arguments of every call into `calls` (BATCH_FORGET chunks append
// to one record) and answers with small successes, so that reply encoding runs.
class RecordingFs final : public fuse::FileSystem {
 public:
  std::vector<Args> calls;

  Result<fuse::FsOptions> init(fuse::FsOptions capable) override { return capable; }

  Result<fuse::Entry> lookup(const Context& ctx, Inode parent, std::string_view name) override {
    Args& x = rec(FUSE_LOOKUP, ctx, parent);
    x.name = name;
    return entry(parent + 1);
  }
  void forget(const Context& ctx, Inode inode, uint64_t count) override {
    rec(FUSE_FORGET, ctx, inode).u1 = count;
  }
  void batch_forget(const Context& ctx,
                    std::span<const std::pair<Inode, uint64_t>> items) override {
    if (calls.empty() || calls.back().opcode != FUSE_BATCH_FORGET) rec(FUSE_BATCH_FORGET, ctx, 0);
    calls.back().items.insert(calls.back().items.end(), items.begin(), items.end());
  }
  Result<fuse::AttrReply> getattr(const Context& ctx, Inode inode,
                                  std::optional<Handle> handle) override {
    Args& x = rec(FUSE_GETATTR, ctx, inode);
    x.has_fh = handle.has_value();
    x.fh = handle.value_or(0);
    return fuse::AttrReply{};
  }
  Result<fuse::AttrReply> setattr(const Context& ctx, Inode inode,
                                  const fuse::SetattrRequest& r) override {
    Args& x = rec(FUSE_SETATTR, ctx, inode);
    x.sa.valid = r.valid;
    x.sa.mode = r.mode;
    x.sa.uid = r.uid;
    x.sa.gid = r.gid;
    x.sa.size = r.size;
    x.sa.atime = static_cast<uint64_t>(r.atime);
    x.sa.atimensec = r.atimensec;
    x.sa.mtime = static_cast<uint64_t>(r.mtime);
    x.sa.mtimensec = r.mtimensec;
    x.sa.fh = r.handle.value_or(0);
    return fuse::AttrReply{};
  }
  Result<size_t> readlink(const Context& ctx, Inode inode, std::span<char> out) override {
    rec(FUSE_READLINK, ctx, inode);
    if (out.size() < 3) return Errno{EIO};
    std::memcpy(out.data(), "tgt", 3);
    return size_t{3};
  }
  Result<fuse::Entry> symlink(const Context& ctx, std::string_view target, Inode parent,
                              std::string_view name, std::string_view secctx) override {
    Args& x = rec(FUSE_SYMLINK, ctx, parent);
    x.name = name;
    x.name2 = target;
    x.secctx = secctx;
    return entry(parent + 1);
  }
  Result<fuse::Entry> mknod(const Context& ctx, Inode parent, std::string_view name, uint32_t mode,
                            uint32_t rdev, uint32_t umask, std::string_view secctx) override {
    Args& x = rec(FUSE_MKNOD, ctx, parent);
    x.name = name;
    x.a = mode;
    x.b = rdev;
    x.c = umask;
    x.secctx = secctx;
    return entry(parent + 1);
  }
  Result<fuse::Entry> mkdir(const Context& ctx, Inode parent, std::string_view name, uint32_t mode,
                            uint32_t umask, std::string_view secctx) override {
    Args& x = rec(FUSE_MKDIR, ctx, parent);
    x.name = name;
    x.a = mode;
    x.c = umask;
    x.secctx = secctx;
    return entry(parent + 1);
  }
  Status unlink(const Context& ctx, Inode parent, std::string_view name) override {
    rec(FUSE_UNLINK, ctx, parent).name = name;
    return 0;
  }
  Status rmdir(const Context& ctx, Inode parent, std::string_view name) override {
    rec(FUSE_RMDIR, ctx, parent).name = name;
    return 0;
  }
  Status rename(const Context& ctx, Inode olddir, std::string_view oldname, Inode newdir,
                std::string_view newname, uint32_t flags) override {
    Args& x = rec(flags == 0 ? FUSE_RENAME : FUSE_RENAME2, ctx, olddir);
    x.name = oldname;
    x.node2 = newdir;
    x.name2 = newname;
    x.a = flags;
    return 0;
  }
  Result<fuse::Entry> link(const Context& ctx, Inode inode, Inode newparent,
                           std::string_view newname) override {
    Args& x = rec(FUSE_LINK, ctx, newparent);
    x.node2 = inode;
    x.name = newname;
    return entry(inode);
  }
  Result<fuse::OpenReply> open(const Context& ctx, Inode inode, uint32_t flags) override {
    rec(FUSE_OPEN, ctx, inode).a = flags;
    return fuse::OpenReply{7, 0};
  }
  Result<size_t> read(const Context& ctx, Inode inode, Handle handle, fuse::Writer&, uint32_t size,
                      uint64_t offset, uint32_t flags) override {
    Args& x = rec(FUSE_READ, ctx, inode);
    x.fh = handle;
    x.a = size;
    x.u1 = offset;
    x.b = flags;
    return size_t{0};
  }
  Result<size_t> write(const Context& ctx, Inode inode, Handle handle, fuse::Reader& in,
                       uint32_t size, uint64_t offset, uint32_t write_flags,
                       uint32_t flags) override {
    Args& x = rec(FUSE_WRITE, ctx, inode);
    x.fh = handle;
    x.u1 = offset;
    x.a = write_flags;
    x.b = flags;
    x.data.resize(std::min<size_t>(size, in.available()));
    if (!in.read_exact(x.data.data(), x.data.size())) return Errno{EIO};
    return x.data.size();
  }
  Result<struct statvfs> statfs(const Context& ctx, Inode inode) override {
    rec(FUSE_STATFS, ctx, inode);
    struct statvfs st {};
    return st;
  }
  Status release(const Context& ctx, Inode inode, uint32_t flags, Handle handle, bool flush,
                 bool flock_release, std::optional<uint64_t> lock_owner) override {
    Args& x = rec(FUSE_RELEASE, ctx, inode);
    x.fh = handle;
    x.a = flags;
    x.b = (flush ? FUSE_RELEASE_FLUSH : 0u) | (flock_release ? FUSE_RELEASE_FLOCK_UNLOCK : 0u);
    x.u1 = lock_owner.value_or(0);
    return 0;
  }
  Status fsync(const Context& ctx, Inode inode, bool datasync, Handle handle) override {
    Args& x = rec(FUSE_FSYNC, ctx, inode);
    x.has_fh = datasync;
    x.fh = handle;
    return 0;
  }
  Status setxattr(const Context& ctx, Inode inode, std::string_view name,
                  std::span<const uint8_t> value, uint32_t flags) override {
    Args& x = rec(FUSE_SETXATTR, ctx, inode);
    x.name = name;
    x.data.assign(value.begin(), value.end());
    x.a = flags;
    return 0;
  }
  Result<size_t> getxattr(const Context& ctx, Inode inode, std::string_view name,
                          std::span<uint8_t> value) override {
    Args& x = rec(FUSE_GETXATTR, ctx, inode);
    x.name = name;
    x.a = static_cast<uint32_t>(value.size());
    return sized(value);
  }
  Result<size_t> listxattr(const Context& ctx, Inode inode, std::span<uint8_t> list) override {
    rec(FUSE_LISTXATTR, ctx, inode).a = static_cast<uint32_t>(list.size());
    return sized(list);
  }
  Status removexattr(const Context& ctx, Inode inode, std::string_view name) override {
    rec(FUSE_REMOVEXATTR, ctx, inode).name = name;
    return 0;
  }
  Status flush(const Context& ctx, Inode inode, Handle handle, uint64_t lock_owner) override {
    Args& x = rec(FUSE_FLUSH, ctx, inode);
    x.fh = handle;
    x.u1 = lock_owner;
    return 0;
  }
  Result<fuse::OpenReply> opendir(const Context& ctx, Inode inode, uint32_t flags) override {
    rec(FUSE_OPENDIR, ctx, inode).a = flags;
    return fuse::OpenReply{8, 0};
  }
  Status readdir(const Context& ctx, Inode inode, Handle handle, uint64_t offset,
                 fuse::DirSink& sink) override {
    Args& x = rec(FUSE_READDIR, ctx, inode);
    x.fh = handle;
    x.u1 = offset;
    if (offset == 0) sink.add(fuse::DirEntry{5, 1, DT_REG, "x"});
    return 0;
  }
  Status releasedir(const Context& ctx, Inode inode, uint32_t flags, Handle handle) override {
    Args& x = rec(FUSE_RELEASEDIR, ctx, inode);
    x.fh = handle;
    x.a = flags;
    return 0;
  }
  Status fsyncdir(const Context& ctx, Inode inode, bool datasync, Handle handle) override {
    Args& x = rec(FUSE_FSYNCDIR, ctx, inode);
    x.has_fh = datasync;
    x.fh = handle;
    return 0;
  }
  Status access(const Context& ctx, Inode inode, uint32_t mask) override {
    rec(FUSE_ACCESS, ctx, inode).a = mask;
    return 0;
  }
  Result<fuse::CreateReply> create(const Context& ctx, Inode parent, std::string_view name,
                                   uint32_t mode, uint32_t flags, uint32_t umask,
                                   std::string_view secctx) override {
    Args& x = rec(FUSE_CREATE, ctx, parent);
    x.name = name;
    x.a = mode;
    x.b = flags;
    x.c = umask;
    x.secctx = secctx;
    return fuse::CreateReply{entry(parent + 1), fuse::OpenReply{9, 0}};
  }
  Result<fuse::CreateReply> tmpfile(const Context& ctx, Inode parent, uint32_t mode, uint32_t flags,
                                    uint32_t umask, std::string_view secctx) override {
    Args& x = rec(FUSE_TMPFILE, ctx, parent);
    x.a = mode;
    x.b = flags;
    x.c = umask;
    x.secctx = secctx;
    return fuse::CreateReply{entry(parent + 1), fuse::OpenReply{10, 0}};
  }
  Result<fuse::IoctlReply> ioctl(const Context& ctx, Inode inode, Handle handle, uint32_t flags,
                                 uint32_t cmd, uint64_t arg, std::span<const uint8_t> in,
                                 std::span<uint8_t> out) override {
    Args& x = rec(FUSE_IOCTL, ctx, inode);
    x.fh = handle;
    x.c = flags;
    x.a = cmd;
    x.u1 = arg;
    x.data.assign(in.begin(), in.end());
    x.b = static_cast<uint32_t>(out.size());
    std::memset(out.data(), 0xab, out.size());
    return fuse::IoctlReply{0, out.size()};
  }
  Status fallocate(const Context& ctx, Inode inode, Handle handle, uint32_t mode, uint64_t offset,
                   uint64_t length) override {
    Args& x = rec(FUSE_FALLOCATE, ctx, inode);
    x.fh = handle;
    x.a = mode;
    x.u1 = offset;
    x.u2 = length;
    return 0;
  }
  Result<uint64_t> lseek(const Context& ctx, Inode inode, Handle handle, uint64_t offset,
                         uint32_t whence) override {
    Args& x = rec(FUSE_LSEEK, ctx, inode);
    x.fh = handle;
    x.u1 = offset;
    x.a = whence;
    return offset;
  }
  Result<size_t> copy_file_range(const Context& ctx, Inode inode_in, Handle handle_in,
                                 uint64_t offset_in, Inode inode_out, Handle handle_out,
                                 uint64_t offset_out, uint64_t length, uint64_t flags) override {
    Args& x = rec(FUSE_COPY_FILE_RANGE, ctx, inode_in);
    x.fh = handle_in;
    x.u1 = offset_in;
    x.node2 = inode_out;
    x.fh2 = handle_out;
    x.u2 = offset_out;
    x.u3 = length;
    x.u4 = flags;
    return static_cast<size_t>(length);
  }
  Status syncfs(const Context& ctx, Inode inode) override {
    rec(FUSE_SYNCFS, ctx, inode);
    return 0;
  }
  Result<fuse::FileLock> getlk(const Context& ctx, Inode inode, Handle handle, uint64_t owner,
                               const fuse::FileLock& lock) override {
    Args& x = rec(FUSE_GETLK, ctx, inode);
    x.fh = handle;
    x.u1 = owner;
    x.lk = fuse_file_lock{lock.start, lock.end, lock.type, lock.pid};
    return lock;
  }
  Status setlk(const Context& ctx, Inode inode, Handle handle, uint64_t owner,
               const fuse::FileLock& lock, bool sleep) override {
    Args& x = rec(sleep ? FUSE_SETLKW : FUSE_SETLK, ctx, inode);
    x.fh = handle;
    x.u1 = owner;
    x.lk = fuse_file_lock{lock.start, lock.end, lock.type, lock.pid};
    return 0;
  }
  Result<uint64_t> bmap(const Context& ctx, Inode inode, uint32_t blocksize,
                        uint64_t block) override {
    Args& x = rec(FUSE_BMAP, ctx, inode);
    x.a = blocksize;
    x.u1 = block;
    return block;
  }
  Result<uint32_t> poll(const Context& ctx, Inode inode, Handle handle, uint64_t kh,
                        uint32_t poll_flags, uint32_t events) override {
    Args& x = rec(FUSE_POLL, ctx, inode);
    x.fh = handle;
    x.u1 = kh;
    x.a = poll_flags;
    x.b = events;
    return events;
  }

 private:
  Args& rec(uint32_t opcode, const Context& ctx, Inode node) {
    Args& x = calls.emplace_back();
    x.opcode = opcode;
    x.ctx = ctx;
    x.node = node;
    return x;
  }
  static fuse::Entry entry(Inode inode) {
    fuse::Entry e;
    e.inode = inode;
    e.attr.st_mode = S_IFREG | 0644;
    return e;
  }
  static Result<size_t> sized(std::span<uint8_t> buf) {
    static constexpr char kList[] = "user.a";  // with its NUL
    if (buf.empty()) return sizeof(kList);
    if (buf.size() < sizeof(kList)) return Errno{ERANGE};
    std::memcpy(buf.data(), kList, sizeof(kList));
    return sizeof(kList);
  }
};

// --- generators ---------------------------------------------------------------

// The opcodes whose requests round-trip (see the header comment).
const std::vector<uint32_t> kRoundTripOpcodes = {
    FUSE_LOOKUP,   FUSE_FORGET,     FUSE_BATCH_FORGET, FUSE_GETATTR,     FUSE_SETATTR,
    FUSE_READLINK, FUSE_SYMLINK,    FUSE_MKNOD,        FUSE_MKDIR,       FUSE_UNLINK,
    FUSE_RMDIR,    FUSE_RENAME,     FUSE_RENAME2,      FUSE_LINK,        FUSE_OPEN,
    FUSE_READ,     FUSE_WRITE,      FUSE_STATFS,       FUSE_RELEASE,     FUSE_FSYNC,
    FUSE_SETXATTR, FUSE_GETXATTR,   FUSE_LISTXATTR,    FUSE_REMOVEXATTR, FUSE_FLUSH,
    FUSE_OPENDIR,  FUSE_RELEASEDIR, FUSE_FSYNCDIR,     FUSE_ACCESS,      FUSE_CREATE,
    FUSE_TMPFILE,  FUSE_IOCTL,      FUSE_FALLOCATE,    FUSE_LSEEK,       FUSE_COPY_FILE_RANGE,
    FUSE_SYNCFS,   FUSE_GETLK,      FUSE_SETLK,        FUSE_SETLKW,      FUSE_BMAP,
    FUSE_POLL};

// Opcodes valid as mutation seeds (the round-trip set plus the ones the Server
// handles itself or that do not round trip).
std::vector<uint32_t> mutation_opcodes() {
  std::vector<uint32_t> ops = kRoundTripOpcodes;
  ops.insert(ops.end(), {FUSE_READDIR, FUSE_READDIRPLUS, FUSE_INTERRUPT, FUSE_DESTROY, FUSE_INIT});
  return ops;
}

// Mostly small numbers that name something real in the mutation fixture.
rc::Gen<uint64_t> gen_id() {
  return rc::gen::weightedOneOf<uint64_t>(
      {{6, rc::gen::inRange<uint64_t>(0, 8)}, {1, rc::gen::arbitrary<uint64_t>()}});
}

rc::Gen<uint32_t> gen_u32() {
  return rc::gen::weightedOneOf<uint32_t>(
      {{2, rc::gen::inRange<uint32_t>(0, 8)}, {3, rc::gen::arbitrary<uint32_t>()}});
}

rc::Gen<uint64_t> gen_u64() {
  return rc::gen::weightedOneOf<uint64_t>(
      {{2, rc::gen::inRange<uint64_t>(0, 4096)}, {3, rc::gen::arbitrary<uint64_t>()}});
}

// Bytes 1..255 except those in `banned`.
rc::Gen<std::string> gen_chars(size_t max_len, std::string_view banned) {
  const std::string banned_s(banned);
  auto ch = rc::gen::suchThat(rc::gen::inRange<int>(1, 256), [banned_s](int c) {
    return banned_s.find(static_cast<char>(c)) == std::string::npos;
  });
  auto one = rc::gen::map(ch, [](int c) { return static_cast<char>(c); });
  return rc::gen::mapcat(rc::gen::inRange<size_t>(1, max_len + 1),
                         [one](size_t n) { return rc::gen::container<std::string>(n, one); });
}

rc::Gen<std::string> gen_entry_name() {
  return rc::gen::suchThat(
      rc::gen::weightedOneOf<std::string>(
          {{4, rc::gen::element<std::string>("f", "d", "l", "new", "x y", ".hidden", "f2")},
           {2, gen_chars(16, "/")},
           {1, gen_chars(255, "/")}}),
      [](const std::string& s) { return s != "." && s != ".."; });
}

rc::Gen<std::string> gen_xattr_name() {
  return rc::gen::weightedOneOf<std::string>(
      {{3, rc::gen::element<std::string>("user.a", "user.b", "security.capability", "trusted.x",
                                         "user.virtiofs.x")},
       {1, gen_chars(255, "")}});
}

rc::Gen<Bytes> gen_bytes(size_t max) {
  return rc::gen::mapcat(rc::gen::inRange<size_t>(0, max + 1), [](size_t n) {
    return rc::gen::container<Bytes>(n, rc::gen::arbitrary<uint8_t>());
  });
}

rc::Gen<std::string> gen_secctx() {
  return rc::gen::weightedOneOf<std::string>(
      {{3, rc::gen::just(std::string())}, {1, gen_chars(40, std::string_view("\0", 1))}});
}

Args gen_fields(uint32_t opcode) {
  Args x;
  x.opcode = opcode;
  x.ctx = Context{*rc::gen::element<uint32_t>(0, 1000, 65534),
                  *rc::gen::element<uint32_t>(0, 1000, 65534), *rc::gen::arbitrary<uint32_t>(),
                  *rc::gen::arbitrary<uint64_t>()};
  x.node = *gen_id();
  switch (opcode) {
    case FUSE_LOOKUP:
    case FUSE_UNLINK:
    case FUSE_RMDIR:
      x.name = *gen_entry_name();
      break;
    case FUSE_FORGET:
      x.u1 = *gen_u64();
      break;
    case FUSE_BATCH_FORGET:
      x.node = 0;  // what req::batch_forget puts in the header
      x.items = *rc::gen::mapcat(
          rc::gen::weightedOneOf<size_t>({{8, rc::gen::inRange<size_t>(1, 6)},
                                          {1, rc::gen::inRange<size_t>(120, 300)}}),  // > one chunk
          [](size_t n) {
            return rc::gen::container<std::vector<std::pair<Inode, uint64_t>>>(
                n, rc::gen::pair(gen_id(), gen_u64()));
          });
      break;
    case FUSE_GETATTR:
      x.has_fh = *rc::gen::arbitrary<bool>();
      if (x.has_fh) x.fh = *gen_id();
      break;
    case FUSE_SETATTR:
      x.sa.valid = *rc::gen::inRange<uint32_t>(0, 1u << 12);
      x.sa.mode = *gen_u32();
      x.sa.uid = *gen_u32();
      x.sa.gid = *gen_u32();
      x.sa.size = *gen_u64();
      x.sa.atime = *gen_u64();
      x.sa.mtime = *gen_u64();
      x.sa.atimensec = *gen_u32();
      x.sa.mtimensec = *gen_u32();
      if ((x.sa.valid & FATTR_FH) != 0) x.sa.fh = *gen_id();
      break;
    case FUSE_SYMLINK:
      x.name = *gen_entry_name();
      x.name2 = *rc::gen::weightedOneOf<std::string>(
          {{3, rc::gen::element<std::string>("f", "d/x", "../outside", "/nonexistent-pfs-prop/x")},
           {1, gen_chars(4095, std::string_view("\0", 1))}});
      x.secctx = *gen_secctx();
      break;
    case FUSE_MKNOD:
    case FUSE_MKDIR:
    case FUSE_CREATE:
    case FUSE_TMPFILE:
      if (opcode != FUSE_TMPFILE) x.name = *gen_entry_name();
      x.a = *rc::gen::element<uint32_t>(S_IFREG | 0644, S_IFDIR | 0755, S_IFIFO | 0600, 0777);
      if (opcode == FUSE_MKNOD) x.b = *gen_u32();
      if (opcode == FUSE_CREATE || opcode == FUSE_TMPFILE) x.b = *gen_u32();
      x.c = *rc::gen::element<uint32_t>(0, 022, 077);
      x.secctx = *gen_secctx();
      break;
    case FUSE_RENAME:
    case FUSE_RENAME2:
      x.name = *gen_entry_name();
      x.node2 = *gen_id();
      x.name2 = *gen_entry_name();
      if (opcode == FUSE_RENAME2) x.a = *rc::gen::nonZero<uint32_t>();
      break;
    case FUSE_LINK:
      x.node2 = *gen_id();
      x.name = *gen_entry_name();
      break;
    case FUSE_OPEN:
    case FUSE_OPENDIR:
    case FUSE_ACCESS:
      x.a = *gen_u32();
      break;
    case FUSE_READ:
      x.fh = *gen_id();
      x.u1 = *gen_u64();
      x.a = *rc::gen::inRange<uint32_t>(0, kMaxWrite + 1);
      x.b = *gen_u32();
      break;
    case FUSE_WRITE:
      x.fh = *gen_id();
      x.u1 = *gen_u64();
      x.data = *gen_bytes(300);
      x.a = *gen_u32();
      x.b = *gen_u32();
      break;
    case FUSE_RELEASE:
      x.fh = *gen_id();
      x.a = *gen_u32();
      x.b = *rc::gen::element<uint32_t>(0, FUSE_RELEASE_FLUSH, FUSE_RELEASE_FLOCK_UNLOCK,
                                        FUSE_RELEASE_FLUSH | FUSE_RELEASE_FLOCK_UNLOCK);
      if (x.b != 0) x.u1 = *gen_u64();
      break;
    case FUSE_RELEASEDIR:
      x.fh = *gen_id();
      x.a = *gen_u32();
      break;
    case FUSE_FSYNC:
    case FUSE_FSYNCDIR:
      x.fh = *gen_id();
      x.has_fh = *rc::gen::arbitrary<bool>();
      break;
    case FUSE_SETXATTR:
      x.name = *gen_xattr_name();
      x.data = *gen_bytes(200);
      x.a = *rc::gen::element<uint32_t>(0, 1, 2, 3);
      break;
    case FUSE_GETXATTR:
      x.name = *gen_xattr_name();
      x.a = *rc::gen::inRange<uint32_t>(0, 65537);
      break;
    case FUSE_LISTXATTR:
      x.a = *rc::gen::inRange<uint32_t>(0, 65537);
      break;
    case FUSE_REMOVEXATTR:
      x.name = *gen_xattr_name();
      break;
    case FUSE_FLUSH:
      x.fh = *gen_id();
      x.u1 = *gen_u64();
      break;
    case FUSE_IOCTL:
      x.fh = *gen_id();
      x.a = *gen_u32();
      x.u1 = *gen_u64();
      x.data = *gen_bytes(64);
      x.b = *rc::gen::inRange<uint32_t>(0, 4097);
      x.c = *rc::gen::element<uint32_t>(0, FUSE_IOCTL_32BIT, FUSE_IOCTL_DIR,
                                        FUSE_IOCTL_32BIT | FUSE_IOCTL_DIR);
      break;
    case FUSE_FALLOCATE:
      x.fh = *gen_id();
      x.a = *gen_u32();
      x.u1 = *gen_u64();
      x.u2 = *gen_u64();
      break;
    case FUSE_LSEEK:
      x.fh = *gen_id();
      x.u1 = *gen_u64();
      x.a = *gen_u32();
      break;
    case FUSE_COPY_FILE_RANGE:
      x.fh = *gen_id();
      x.u1 = *gen_u64();
      x.node2 = *gen_id();
      x.fh2 = *gen_id();
      x.u2 = *gen_u64();
      x.u3 = *rc::gen::inRange<uint64_t>(0, kMaxCopy + 1);
      x.u4 = *gen_u64();
      break;
    case FUSE_GETLK:
    case FUSE_SETLK:
    case FUSE_SETLKW:
      x.fh = *gen_id();
      x.u1 = *gen_u64();
      x.lk = fuse_file_lock{*gen_u64(), *gen_u64(), *gen_u32(), *gen_u32()};
      break;
    case FUSE_BMAP:
      x.u1 = *gen_u64();
      x.a = *gen_u32();
      break;
    case FUSE_POLL:
      x.fh = *gen_id();
      x.u1 = *gen_u64();
      x.a = *gen_u32();
      x.b = *gen_u32();
      break;
    default:  // READLINK, STATFS, SYNCFS: the header says it all
      break;
  }
  return x;
}

Bytes encode_any(const Args& x, bool setxattr_ext) {
  switch (x.opcode) {
    case FUSE_READDIR:
      return req::readdir(x.node, x.fh, x.u1, x.a, x.ctx);
    case FUSE_READDIRPLUS:
      return req::readdirplus(x.node, x.fh, x.u1, x.a, x.ctx);
    case FUSE_INTERRUPT:
      return req::interrupt(x.u1, x.ctx);
    case FUSE_DESTROY:
      return req::destroy(x.ctx);
    case FUSE_INIT:
      return req::init(mem::kLinuxInitFlags, 7, 38, 131072, x.ctx);
    default:
      return encode(x, setxattr_ext);
  }
}

Args gen_mutation_seed() {
  const uint32_t op = *rc::gen::elementOf(mutation_opcodes());
  if (op == FUSE_READDIR || op == FUSE_READDIRPLUS || op == FUSE_INTERRUPT || op == FUSE_DESTROY ||
      op == FUSE_INIT) {
    Args x = gen_fields(FUSE_READ);  // fh, offset, size
    x.opcode = op;
    x.a = *rc::gen::inRange<uint32_t>(0, 8193);
    return x;
  }
  return gen_fields(op);
}

// --- mutations ------------------------------------------------------------------

struct Mutation {
  enum Kind { kFlip, kSet, kInsert, kDelete, kTruncate } kind = kFlip;
  uint32_t pos = 0;  // taken modulo the size at the time
  uint8_t byte = 0;  // kSet, kInsert; the bit for kFlip
};

void showValue(const Mutation& m, std::ostream& os) {
  static const char* const kNames[] = {"flip", "set", "insert", "delete", "truncate"};
  os << kNames[m.kind] << "@" << m.pos << ":" << static_cast<int>(m.byte);
}

rc::Gen<Mutation> gen_mutation() {
  return rc::gen::build<Mutation>(
      rc::gen::set(&Mutation::kind,
                   rc::gen::element(Mutation::kFlip, Mutation::kSet, Mutation::kInsert,
                                    Mutation::kDelete, Mutation::kTruncate)),
      rc::gen::set(&Mutation::pos, rc::gen::arbitrary<uint32_t>()),
      rc::gen::set(&Mutation::byte, rc::gen::arbitrary<uint8_t>()));
}

void mutate(Bytes& b, const Mutation& m) {
  const size_t n = b.size();
  switch (m.kind) {
    case Mutation::kFlip:
      if (n != 0) b[m.pos % n] ^= static_cast<uint8_t>(1u << (m.byte % 8));
      break;
    case Mutation::kSet:
      if (n != 0) b[m.pos % n] = m.byte;
      break;
    case Mutation::kInsert:
      b.insert(b.begin() + static_cast<std::ptrdiff_t>(m.pos % (n + 1)), m.byte);
      break;
    case Mutation::kDelete:
      if (n != 0) b.erase(b.begin() + static_cast<std::ptrdiff_t>(m.pos % n));
      break;
    case Mutation::kTruncate:
      b.resize(m.pos % (n + 1));
      break;
  }
}

uint32_t opcode_of(const Bytes& b) {
  uint32_t op = 0;
  if (b.size() >= offsetof(fuse_in_header, opcode) + sizeof(op))
    std::memcpy(&op, b.data() + offsetof(fuse_in_header, opcode), sizeof(op));
  return op;
}

// Rewrites the opcodes that are unsafe on a real disk (see the header comment).
void make_safe_for_real_fs(Bytes& b) {
  if (b.size() < offsetof(fuse_in_header, opcode) + sizeof(uint32_t)) return;
  uint32_t op = opcode_of(b);
  switch (op) {
    case FUSE_FALLOCATE:
      op = FUSE_FLUSH;
      break;
    case FUSE_COPY_FILE_RANGE:
      op = FUSE_LSEEK;
      break;
    case FUSE_SETLKW:
      op = FUSE_SETLK;
      break;
    case FUSE_MKNOD:
      op = FUSE_MKDIR;
      break;
    case FUSE_IOCTL:
      op = FUSE_STATFS;
      break;
    default:
      return;
  }
  std::memcpy(b.data() + offsetof(fuse_in_header, opcode), &op, sizeof(op));
}

// The reply invariants for any request bytes.
void check_reply(const Bytes& sent, const mem::Reply& r) {
  const uint32_t op = opcode_of(sent);
  if (sent.size() >= sizeof(fuse_in_header) &&
      (op == FUSE_FORGET || op == FUSE_BATCH_FORGET || op == FUSE_INTERRUPT)) {
    RC_ASSERT(!r.replied);
    return;
  }
  RC_ASSERT(r.replied);
  RC_ASSERT(r.header.len == r.size);
  RC_ASSERT(r.size >= sizeof(fuse_out_header));
  RC_ASSERT(r.header.error <= 0);
  RC_ASSERT(r.header.error > -4096);
  if (sent.size() >= offsetof(fuse_in_header, unique) + sizeof(uint64_t)) {
    uint64_t unique = 0;
    std::memcpy(&unique, sent.data() + offsetof(fuse_in_header, unique), sizeof(unique));
    RC_ASSERT(r.header.unique == unique);
  }
}

// --- properties -----------------------------------------------------------------

RC_GTEST_PROP(WireRoundTrip, DecodeThenReencodeGivesTheSameBytes, ()) {
  const uint32_t op = *rc::gen::elementOf(kRoundTripOpcodes);
  const Args sent = gen_fields(op);
  RC_CLASSIFY(op == FUSE_BATCH_FORGET && sent.items.size() > 128, "BATCH_FORGET over a chunk");
  RC_CLASSIFY(!sent.secctx.empty(), "with a security context");

  RecordingFs fs;
  fuse::Server server(fs);
  mem::Session session(server);
  RC_ASSERT(session.init().ok());
  const bool ext = (server.negotiated_flags() & FUSE_SETXATTR_EXT) != 0;

  const Bytes bytes = encode(sent, ext);
  RC_ASSERT(!bytes.empty());
  const mem::Reply r = session.run(bytes);
  check_reply(bytes, r);
  RC_ASSERT(fs.calls.size() == 1u);
  const Bytes again = encode(fs.calls[0], ext);
  if (again != bytes) {
    std::ostringstream os;
    os << "sent:     ";
    showValue(sent, os);
    os << "\nrecorded: ";
    showValue(fs.calls[0], os);
    RC_FAIL(os.str());
  }
}

RC_GTEST_PROP(WireRoundTrip, MutatedRequestsGetWellFormedRepliesFromTheDecoder, ()) {
  RecordingFs fs;
  fuse::Server server(fs);
  mem::Session session(server);
  RC_ASSERT(session.init().ok());
  const bool ext = (server.negotiated_flags() & FUSE_SETXATTR_EXT) != 0;
  const size_t n = *rc::gen::inRange<size_t>(1, 7);
  for (size_t i = 0; i < n; ++i) {
    Bytes bytes = encode_any(gen_mutation_seed(), ext);
    const auto muts =
        *rc::gen::container<std::vector<Mutation>>(*rc::gen::inRange<size_t>(1, 5), gen_mutation());
    for (const Mutation& m : muts) mutate(bytes, m);
    check_reply(bytes, session.run(bytes));
  }
}

// The real file system behind the mutated requests: a small tree, looked up and
// opened so that mutated node ids and handles often name something real.
struct RealFs {
  RealFs() {
    RC_ASSERT(dir.ok());
    std::ofstream(dir / "f") << "hello, world\n";
    RC_ASSERT(::mkdir((dir / "d").c_str(), 0755) == 0);
    RC_ASSERT(::symlink("f", (dir / "l").c_str()) == 0);
    pfs::passthrough::Config cfg;
    cfg.root_dir = dir.path();
    auto created = pfs::passthrough::PassthroughFs::create(cfg);
    RC_ASSERT(created.ok());
    fs = std::move(*created);
    server = std::make_unique<fuse::Server>(*fs);
    session = std::make_unique<mem::Session>(*server);
    RC_ASSERT(session->init().ok());
    base_fds = pfs::testing::open_fd_count() - fs->inodes().size() - fs->handles().size();
    for (const char* name : {"f", "d", "l"}) RC_ASSERT(session->run(req::lookup(1, name)).ok());
    RC_ASSERT(session->run(req::open(2, O_RDWR)).ok());
    RC_ASSERT(session->run(req::opendir(3)).ok());
  }
  void check_tables() const {
    RC_ASSERT(fs->inodes().check_invariants() == std::string());
    RC_ASSERT(pfs::testing::open_fd_count() ==
              base_fds + fs->inodes().size() + fs->handles().size());
  }

  pfs::testing::ScratchDir dir{"pfs-prop-wire"};
  std::unique_ptr<pfs::passthrough::PassthroughFs> fs;
  std::unique_ptr<fuse::Server> server;
  std::unique_ptr<mem::Session> session;
  size_t base_fds = 0;
};

RC_GTEST_PROP(WireRoundTrip, MutatedRequestsGetWellFormedRepliesFromPassthroughFs, ()) {
  RealFs real;
  const bool ext = (real.server->negotiated_flags() & FUSE_SETXATTR_EXT) != 0;
  const size_t n = *rc::gen::inRange<size_t>(1, 7);
  for (size_t i = 0; i < n; ++i) {
    Bytes bytes = encode_any(gen_mutation_seed(), ext);
    const auto muts =
        *rc::gen::container<std::vector<Mutation>>(*rc::gen::inRange<size_t>(1, 5), gen_mutation());
    for (const Mutation& m : muts) mutate(bytes, m);
    make_safe_for_real_fs(bytes);
    check_reply(bytes, real.session->run(bytes));
  }
  real.check_tables();
}

}  // namespace
