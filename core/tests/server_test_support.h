// A recording fake FileSystem and a fixture for the Server tests: every call is
// logged as a line of text with its arguments, every answer is programmable.
#pragma once

#include <gtest/gtest.h>
#include <linux/fuse.h>

#include <cstring>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "core/fuse/filesystem.h"
#include "core/fuse/server.h"
#include "core/transport/memory/request_builder.h"
#include "core/transport/memory/session.h"

namespace pfs::fuse::testing {

using transport::memory::Bytes;
using transport::memory::Reply;
using transport::memory::Session;
namespace req = transport::memory::req;

struct DirItem {
  std::string name;
  uint64_t ino;
  uint64_t off;
  uint32_t type;
};

class RecordingFs : public FileSystem {
 public:
  std::vector<std::string> calls;
  Context last_ctx;
  bool names_terminated = true;  // every name seen was NUL-terminated in memory

  // Programmable answers.
  int fail = 0;  // when set, every operation answers this errno
  FsOptions init_want = 0;
  int init_error = 0;
  FsOptions init_offered = 0;
  Entry entry = make_entry(7);
  AttrReply attr = make_attr();
  OpenReply open_reply{0x1234, FOPEN_KEEP_CACHE};
  struct statvfs stv = make_statvfs();
  std::string file_data = "hello, world";
  std::string written;
  std::string xattr_value = "xattr-value";
  std::string xattr_list = std::string("user.a\0user.b\0", 14);
  std::string link_target = "target/of/link";
  std::vector<DirItem> dir;
  int readdir_error = 0;
  std::set<std::string> failing_lookups;
  std::map<Inode, int64_t> refs;  // lookups minus forgets
  Inode next_inode = 100;
  IoctlReply ioctl_reply{5, 3};
  std::string ioctl_in;
  FileLock lock{10, 20, 1, 99};
  int destroyed = 0;

  static Entry make_entry(Inode ino) {
    Entry e;
    e.inode = ino;
    e.generation = 3;
    e.attr.st_ino = 5000 + ino;
    e.attr.st_mode = S_IFREG | 0644;
    e.attr.st_size = 42;
    e.attr.st_nlink = 1;
    e.attr.st_uid = 11;
    e.attr.st_gid = 12;
    e.attr.st_mtim = {1700000000, 123};
    e.entry_timeout = {5, 6};
    e.attr_timeout = {7, 8};
    return e;
  }
  static AttrReply make_attr() {
    AttrReply a;
    a.attr = make_entry(9).attr;
    a.timeout = {2, 500};
    return a;
  }
  static struct statvfs make_statvfs() {
    struct statvfs s {};
    s.f_blocks = 1000;
    s.f_bfree = 500;
    s.f_bavail = 400;
    s.f_files = 300;
    s.f_ffree = 200;
    s.f_bsize = 4096;
    s.f_frsize = 512;
    s.f_namemax = 255;
    return s;
  }

  template <class... A>
  void rec(const Context& c, const char* op, const A&... args) {
    last_ctx = c;
    std::ostringstream os;
    os << op;
    ((os << ' ' << args), ...);
    calls.push_back(os.str());
  }
  std::string n(std::string_view name) {
    if (name.data() == nullptr || name.data()[name.size()] != '\0') names_terminated = false;
    return std::string(name);
  }
  std::string last() const { return calls.empty() ? std::string() : calls.back(); }

  Result<FsOptions> init(FsOptions capable) override {
    init_offered = capable;
    calls.push_back("init");
    if (init_error != 0) return Errno{init_error};
    return init_want;
  }
  void destroy() override {
    calls.push_back("destroy");
    ++destroyed;
  }
  Result<Entry> lookup(const Context& c, Inode parent, std::string_view name) override {
    rec(c, "lookup", parent, n(name));
    if (fail) return Errno{fail};
    if (failing_lookups.count(std::string(name)) != 0) return Errno{ENOENT};
    if (!dir.empty()) {
      Entry e = make_entry(next_inode++);
      ++refs[e.inode];
      return e;
    }
    return entry;
  }
  void forget(const Context& c, Inode inode, uint64_t count) override {
    rec(c, "forget", inode, count);
    refs[inode] -= static_cast<int64_t>(count);
  }
  void batch_forget(const Context& c, std::span<const std::pair<Inode, uint64_t>> items) override {
    std::ostringstream os;
    for (const auto& [i, k] : items) os << ' ' << i << ':' << k;
    rec(c, "batch_forget", items.size(), os.str());
  }
  Result<AttrReply> getattr(const Context& c, Inode inode, std::optional<Handle> fh) override {
    rec(c, "getattr", inode, fh ? std::to_string(*fh) : "none");
    if (fail) return Errno{fail};
    return attr;
  }
  Result<AttrReply> setattr(const Context& c, Inode inode, const SetattrRequest& r) override {
    rec(c, "setattr", inode, r.valid, r.mode, r.uid, r.gid, r.size, r.atime, r.atimensec, r.mtime,
        r.mtimensec, r.handle ? std::to_string(*r.handle) : "none");
    if (fail) return Errno{fail};
    return attr;
  }
  Result<size_t> readlink(const Context& c, Inode inode, std::span<char> out) override {
    rec(c, "readlink", inode, out.size());
    if (fail) return Errno{fail};
    std::memcpy(out.data(), link_target.data(), link_target.size());
    return link_target.size();
  }
  Result<Entry> symlink(const Context& c, std::string_view target, Inode parent,
                        std::string_view name, std::string_view secctx) override {
    rec(c, "symlink", n(target), parent, n(name), "[" + std::string(secctx) + "]");
    if (fail) return Errno{fail};
    return entry;
  }
  Result<Entry> mknod(const Context& c, Inode parent, std::string_view name, uint32_t mode,
                      uint32_t rdev, uint32_t umask, std::string_view secctx) override {
    rec(c, "mknod", parent, n(name), mode, rdev, umask, "[" + std::string(secctx) + "]");
    if (fail) return Errno{fail};
    return entry;
  }
  Result<Entry> mkdir(const Context& c, Inode parent, std::string_view name, uint32_t mode,
                      uint32_t umask, std::string_view secctx) override {
    rec(c, "mkdir", parent, n(name), mode, umask, "[" + std::string(secctx) + "]");
    if (fail) return Errno{fail};
    return entry;
  }
  Status unlink(const Context& c, Inode parent, std::string_view name) override {
    rec(c, "unlink", parent, n(name));
    return fail;
  }
  Status rmdir(const Context& c, Inode parent, std::string_view name) override {
    rec(c, "rmdir", parent, n(name));
    return fail;
  }
  Status rename(const Context& c, Inode olddir, std::string_view oldname, Inode newdir,
                std::string_view newname, uint32_t flags) override {
    rec(c, "rename", olddir, n(oldname), newdir, n(newname), flags);
    return fail;
  }
  Result<Entry> link(const Context& c, Inode inode, Inode newparent,
                     std::string_view newname) override {
    rec(c, "link", inode, newparent, n(newname));
    if (fail) return Errno{fail};
    return entry;
  }
  Result<OpenReply> open(const Context& c, Inode inode, uint32_t flags) override {
    rec(c, "open", inode, flags);
    if (fail) return Errno{fail};
    return open_reply;
  }
  Result<size_t> read(const Context& c, Inode inode, Handle fh, Writer& out, uint32_t size,
                      uint64_t offset, uint32_t flags) override {
    rec(c, "read", inode, fh, size, offset, flags);
    if (fail) return Errno{fail};
    const size_t start = std::min<size_t>(offset, file_data.size());
    const size_t len = std::min<size_t>(size, file_data.size() - start);
    if (!out.write(file_data.data() + start, len)) return Errno{EIO};
    return len;
  }
  Result<size_t> write(const Context& c, Inode inode, Handle fh, Reader& in, uint32_t size,
                       uint64_t offset, uint32_t write_flags, uint32_t flags) override {
    rec(c, "write", inode, fh, size, offset, write_flags, flags, in.available());
    if (fail) return Errno{fail};
    std::string data(in.available(), '\0');
    if (!in.read_exact(data.data(), data.size())) return Errno{EIO};
    written = data;
    return data.size();
  }
  Result<struct statvfs> statfs(const Context& c, Inode inode) override {
    rec(c, "statfs", inode);
    if (fail) return Errno{fail};
    return stv;
  }
  Status release(const Context& c, Inode inode, uint32_t flags, Handle fh, bool flush,
                 bool flock_release, std::optional<uint64_t> owner) override {
    rec(c, "release", inode, flags, fh, flush, flock_release,
        owner ? std::to_string(*owner) : "none");
    return fail;
  }
  Status fsync(const Context& c, Inode inode, bool datasync, Handle fh) override {
    rec(c, "fsync", inode, datasync, fh);
    return fail;
  }
  Status setxattr(const Context& c, Inode inode, std::string_view name,
                  std::span<const uint8_t> value, uint32_t flags) override {
    rec(c, "setxattr", inode, n(name), std::string(value.begin(), value.end()), flags);
    return fail;
  }
  Result<size_t> getxattr(const Context& c, Inode inode, std::string_view name,
                          std::span<uint8_t> value) override {
    rec(c, "getxattr", inode, n(name), value.size());
    if (fail) return Errno{fail};
    if (value.empty()) return xattr_value.size();
    if (value.size() < xattr_value.size()) return Errno{ERANGE};
    std::memcpy(value.data(), xattr_value.data(), xattr_value.size());
    return xattr_value.size();
  }
  Result<size_t> listxattr(const Context& c, Inode inode, std::span<uint8_t> list) override {
    rec(c, "listxattr", inode, list.size());
    if (fail) return Errno{fail};
    if (list.empty()) return xattr_list.size();
    if (list.size() < xattr_list.size()) return Errno{ERANGE};
    std::memcpy(list.data(), xattr_list.data(), xattr_list.size());
    return xattr_list.size();
  }
  Status removexattr(const Context& c, Inode inode, std::string_view name) override {
    rec(c, "removexattr", inode, n(name));
    return fail;
  }
  Status flush(const Context& c, Inode inode, Handle fh, uint64_t owner) override {
    rec(c, "flush", inode, fh, owner);
    return fail;
  }
  Result<OpenReply> opendir(const Context& c, Inode inode, uint32_t flags) override {
    rec(c, "opendir", inode, flags);
    if (fail) return Errno{fail};
    return open_reply;
  }
  Status readdir(const Context& c, Inode inode, Handle fh, uint64_t offset,
                 DirSink& sink) override {
    rec(c, "readdir", inode, fh, offset);
    if (fail) return fail;
    for (const DirItem& d : dir) {
      if (d.off <= offset) continue;
      if (!sink.add(DirEntry{d.ino, d.off, d.type, d.name})) return 0;
    }
    return readdir_error;
  }
  Status releasedir(const Context& c, Inode inode, uint32_t flags, Handle fh) override {
    rec(c, "releasedir", inode, flags, fh);
    return fail;
  }
  Status fsyncdir(const Context& c, Inode inode, bool datasync, Handle fh) override {
    rec(c, "fsyncdir", inode, datasync, fh);
    return fail;
  }
  Status access(const Context& c, Inode inode, uint32_t mask) override {
    rec(c, "access", inode, mask);
    return fail;
  }
  Result<CreateReply> create(const Context& c, Inode parent, std::string_view name, uint32_t mode,
                             uint32_t flags, uint32_t umask, std::string_view secctx) override {
    rec(c, "create", parent, n(name), mode, flags, umask, "[" + std::string(secctx) + "]");
    if (fail) return Errno{fail};
    return CreateReply{entry, open_reply};
  }
  Result<CreateReply> tmpfile(const Context& c, Inode parent, uint32_t mode, uint32_t flags,
                              uint32_t umask, std::string_view secctx) override {
    rec(c, "tmpfile", parent, mode, flags, umask, "[" + std::string(secctx) + "]");
    if (fail) return Errno{fail};
    return CreateReply{entry, open_reply};
  }
  Result<IoctlReply> ioctl(const Context& c, Inode inode, Handle fh, uint32_t flags, uint32_t cmd,
                           uint64_t arg, std::span<const uint8_t> in,
                           std::span<uint8_t> out) override {
    rec(c, "ioctl", inode, fh, flags, cmd, arg, in.size(), out.size());
    if (fail) return Errno{fail};
    ioctl_in.assign(in.begin(), in.end());
    for (size_t i = 0; i < out.size(); ++i) out[i] = static_cast<uint8_t>('a' + i % 26);
    return ioctl_reply;
  }
  Status fallocate(const Context& c, Inode inode, Handle fh, uint32_t mode, uint64_t offset,
                   uint64_t length) override {
    rec(c, "fallocate", inode, fh, mode, offset, length);
    return fail;
  }
  Result<uint64_t> lseek(const Context& c, Inode inode, Handle fh, uint64_t offset,
                         uint32_t whence) override {
    rec(c, "lseek", inode, fh, offset, whence);
    if (fail) return Errno{fail};
    return offset + 1000;
  }
  Result<size_t> copy_file_range(const Context& c, Inode inode_in, Handle fh_in, uint64_t off_in,
                                 Inode inode_out, Handle fh_out, uint64_t off_out, uint64_t len,
                                 uint64_t flags) override {
    rec(c, "copy_file_range", inode_in, fh_in, off_in, inode_out, fh_out, off_out, len, flags);
    if (fail) return Errno{fail};
    return len;
  }
  Status syncfs(const Context& c, Inode inode) override {
    rec(c, "syncfs", inode);
    return fail;
  }
  Result<FileLock> getlk(const Context& c, Inode inode, Handle fh, uint64_t owner,
                         const FileLock& l) override {
    rec(c, "getlk", inode, fh, owner, l.start, l.end, l.type, l.pid);
    if (fail) return Errno{fail};
    return lock;
  }
  Status setlk(const Context& c, Inode inode, Handle fh, uint64_t owner, const FileLock& l,
               bool sleep) override {
    rec(c, "setlk", inode, fh, owner, l.start, l.end, l.type, l.pid, sleep);
    return fail;
  }
  Result<uint64_t> bmap(const Context& c, Inode inode, uint32_t blocksize,
                        uint64_t block) override {
    rec(c, "bmap", inode, blocksize, block);
    if (fail) return Errno{fail};
    return block * 2;
  }
  Result<uint32_t> poll(const Context& c, Inode inode, Handle fh, uint64_t kh, uint32_t flags,
                        uint32_t events) override {
    rec(c, "poll", inode, fh, kh, flags, events);
    if (fail) return Errno{fail};
    return events & 0x5u;
  }
};

// A context different from the defaults, to check that it reaches the FS.
inline Context test_ctx(uint64_t unique) { return Context{1000, 1001, 4242, unique}; }

// An error reply of exactly a fuse_out_header.
inline void expect_error(const Reply& r, int err, uint64_t unique) {
  ASSERT_TRUE(r.replied);
  EXPECT_EQ(r.size, sizeof(fuse_out_header));
  EXPECT_EQ(r.header.len, sizeof(fuse_out_header));
  EXPECT_EQ(r.header.error, -err);
  EXPECT_EQ(r.header.unique, unique);
  EXPECT_TRUE(r.payload.empty());
}

// Every report an on_bad_request hook received, the reason copied out of its view.
struct BadRequestLog {
  struct Report {
    uint32_t opcode;
    uint64_t unique;
    uint64_t nodeid;
    int error;
    std::string reason;
  };
  std::vector<Report> reports;

  ServerOptions options() {
    ServerOptions o;
    o.on_bad_request = [this](const BadRequest& b) {
      reports.push_back(Report{b.opcode, b.unique, b.nodeid, b.error, std::string(b.reason)});
    };
    return o;
  }
};

// An initialized server over a RecordingFs; bad requests are counted.
class ServerFixture : public ::testing::Test {
 protected:
  ServerFixture() : server_(fs_, options()), s_(server_) {}

  ServerOptions options() {
    ServerOptions o;
    o.on_bad_request = [this](const BadRequest&) { ++bad_reports_; };
    return o;
  }

  void SetUp() override {
    const Reply r = s_.init();
    ASSERT_TRUE(r.ok());
    fs_.calls.clear();
  }

  // The server still answers a good request after whatever came before.
  void expect_still_serving() {
    const Reply r = s_.run(req::getattr(1, std::nullopt, test_ctx(999)));
    ASSERT_TRUE(r.ok()) << r.error();
    EXPECT_EQ(r.header.unique, 999u);
    EXPECT_TRUE(r.as<fuse_attr_out>().has_value());
  }

  RecordingFs fs_;
  int bad_reports_ = 0;
  Server server_;
  Session s_;
};

}  // namespace pfs::fuse::testing
