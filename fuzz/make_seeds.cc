// Writes the hand-made seed corpora: one FUSE byte stream per scenario, built
// with RequestBuilder, into <corpora>/fuse_session_seeds/ (also with the "PFSC"
// configuration prefix or the "PFSN" bare file system, see fuse_session.cc) and
// <corpora>/fuse_decode/ (also with the "PFSS" split prefix, see fuse_decode.cc).
//
//   pfs_make_seeds <corpora dir>
//
// Node ids and handles are the ones PassthroughFs hands out on the fixed scratch
// tree (scratch_area.h): inodes from 2 and handles from 1 in order of first
// appearance, which is also what the fuzz targets' id map expects.
#include <fcntl.h>
#include <linux/fs.h>
#include <linux/fuse.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "core/transport/memory/request_builder.h"
#include "core/transport/memory/session.h"

namespace {

namespace mem = pfs::transport::memory;
namespace req = pfs::transport::memory::req;
using mem::Bytes;

// A script of requests with increasing unique ids and a fixed context (so the
// seeds are the same on every machine).
class Script {
 public:
  explicit Script(bool with_init = true) {
    if (with_init) add(req::init(mem::kLinuxInitFlags, 7, 38, 131072, next()));
  }
  pfs::fuse::Context next() { return pfs::fuse::Context{0, 0, 100, ++unique_}; }
  Script& add(Bytes b) {
    reqs_.push_back(std::move(b));
    return *this;
  }
  Bytes bytes() const { return mem::concat(reqs_); }

 private:
  std::vector<Bytes> reqs_;
  uint64_t unique_ = 0;
};

struct Seed {
  std::string name;
  Bytes bytes;
};

// MKDIR `dir` and CREATE `file` in the root, each with a SELinux security context.
void add_with_secctx(Script& s, std::string_view dir, std::string_view file) {
  const Bytes ctx =
      mem::secctx_block("security.selinux", std::string_view("system_u:object_r:tmp_t:s0\0", 28));
  s.add(mem::RequestBuilder(FUSE_MKDIR, 1, s.next())
            .obj(fuse_mkdir_in{0755, 022})
            .str(dir)
            .extension(ctx)
            .finish());
  s.add(mem::RequestBuilder(FUSE_CREATE, 1, s.next())
            .obj(fuse_create_in{O_RDWR, S_IFREG | 0644, 022, 0})
            .str(file)
            .extension(ctx)
            .finish());
}

std::vector<Seed> scenarios() {
  std::vector<Seed> out;
  {
    Script s;
    s.add(req::lookup(1, "file", s.next())).add(req::getattr(2, {}, s.next()));
    s.add(req::open(2, O_RDONLY, s.next())).add(req::read(2, 1, 0, 4096, 0, s.next()));
    s.add(req::read(2, 1, 5, 3, 0, s.next())).add(req::getattr(2, 1, s.next()));
    s.add(req::flush(2, 1, 0, s.next())).add(req::release(2, 1, 0, 0, 0, s.next()));
    s.add(req::forget(2, 1, s.next()));
    out.push_back({"init_lookup_open_read", s.bytes()});
  }
  {
    Script s;
    s.add(req::create(1, "new", S_IFREG | 0644, O_RDWR, 022, s.next()));
    s.add(req::write(2, 1, 0, std::string_view("some data\n"), s.next()));
    s.add(req::write(2, 1, 4096, std::string_view("past a hole"), s.next()));
    s.add(req::fsync(2, 1, false, s.next())).add(req::fsync(2, 1, true, s.next()));
    s.add(req::fallocate(2, 1, 0, 0, 8192, s.next()));
    s.add(req::lseek(2, 1, 0, 3 /* SEEK_DATA */, s.next()));
    s.add(req::lseek(2, 1, 0, 4 /* SEEK_HOLE */, s.next()));
    s.add(req::lookup(1, "file", s.next())).add(req::open(3, O_WRONLY | O_APPEND, s.next()));
    s.add(req::copy_file_range(2, 1, 0, 3, 2, 0, 10, 0, s.next()));
    s.add(req::statfs(2, s.next())).add(req::syncfs(1, s.next()));
    s.add(req::release(2, 1, O_RDWR, FUSE_RELEASE_FLUSH, 7, s.next()));
    s.add(req::release(3, 2, 0, 0, 0, s.next())).add(req::getattr(2, {}, s.next()));
    s.add(req::tmpfile(1, S_IFREG | 0600, O_RDWR, 0, s.next()));
    out.push_back({"create_write_fsync_release", s.bytes()});
  }
  {
    Script s;
    s.add(req::mkdir(1, "d", 0755, 022, s.next()));  // 2
    s.add(req::symlink(1, "s", "file", s.next()));   // 3
    s.add(req::lookup(1, "file", s.next()));         // 4
    s.add(req::link(4, 2, "hard", s.next()));
    s.add(req::readlink(3, s.next()));
    s.add(req::rename(1, "s", 2, "s2", s.next()));
    s.add(req::rename2(1, "empty", 1, "ro", 1 /* RENAME_NOREPLACE */, s.next()));
    s.add(req::rename2(1, "empty", 1, "ro", 2 /* RENAME_EXCHANGE */, s.next()));
    s.add(req::mknod(1, "pipe", S_IFIFO | 0644, 0, 0, s.next()));
    s.add(req::mknod(1, "node", S_IFREG | 0600, 0, 0, s.next()));
    s.add(req::unlink(2, "hard", s.next())).add(req::unlink(2, "s2", s.next()));
    s.add(req::rmdir(1, "d", s.next())).add(req::lookup(1, "dir", s.next()));
    s.add(req::rmdir(5, "sub", s.next())).add(req::access(1, 7, s.next()));
    s.add(req::access(4, 1, s.next()));
    out.push_back({"namespace_ops", s.bytes()});
  }
  {
    Script s;
    s.add(req::lookup(1, "file", s.next()));
    s.add(req::setxattr(2, "user.a", "value", 0, true, s.next()));
    s.add(req::getxattr(2, "user.a", 0, s.next())).add(req::getxattr(2, "user.a", 64, s.next()));
    s.add(req::getxattr(2, "user.a", 1, s.next()));
    s.add(req::listxattr(2, 0, s.next())).add(req::listxattr(2, 256, s.next()));
    s.add(req::setxattr(2, "security.test", "sec", 0, true, s.next()));
    s.add(req::getxattr(2, "security.test", 64, s.next()));
    s.add(req::getxattr(2, "user.virtiofs.security.fuzz", 64, s.next()));
    s.add(req::setxattr(2, "user.virtiofs.x", "forged", 0, true, s.next()));
    s.add(req::removexattr(2, "user.a", s.next()))
        .add(req::removexattr(2, "security.test", s.next()));
    s.add(req::lookup(1, "fifo", s.next())).add(req::listxattr(3, 256, s.next()));
    s.add(req::setxattr(3, "user.p", "on a fifo", 0, true, s.next()));
    s.add(req::lookup(1, "link", s.next())).add(req::getxattr(4, "user.fuzz", 64, s.next()));
    out.push_back({"xattrs", s.bytes()});
  }
  {
    Script s;
    s.add(req::opendir(1, 0, s.next())).add(req::readdir(1, 1, 0, 4096, s.next()));
    s.add(req::readdir(1, 1, 3, 4096, s.next())).add(req::readdirplus(1, 1, 0, 4096, s.next()));
    s.add(req::readdirplus(1, 1, 0, 200, s.next())).add(req::releasedir(1, 1, 0, s.next()));
    s.add(req::lookup(1, "dir", s.next())).add(req::opendir(2, 0, s.next()));
    s.add(req::readdirplus(2, 2, 0, 8192, s.next())).add(req::fsyncdir(2, 2, false, s.next()));
    s.add(req::releasedir(2, 2, 0, s.next()));
    out.push_back({"readdir", s.bytes()});
  }
  {
    Script s;
    s.add(req::lookup(1, "file", s.next()));
    fuse_setattr_in a{};
    a.valid = FATTR_MODE;
    a.mode = S_IFREG | 0600;
    s.add(req::setattr(2, a, s.next()));
    a = {};
    a.valid = FATTR_SIZE;
    a.size = 3;
    s.add(req::setattr(2, a, s.next()));
    a = {};
    a.valid = FATTR_ATIME | FATTR_MTIME;
    a.atime = 1000;
    a.mtime = 2000;
    s.add(req::setattr(2, a, s.next()));
    a = {};
    a.valid = FATTR_ATIME_NOW | FATTR_MTIME_NOW | FATTR_ATIME | FATTR_MTIME;
    s.add(req::setattr(2, a, s.next()));
    a = {};
    a.valid = FATTR_UID | FATTR_GID;
    a.uid = 1000;
    a.gid = 1000;
    s.add(req::setattr(2, a, s.next()));
    s.add(req::open(2, O_RDWR, s.next()));
    a = {};
    a.valid = FATTR_SIZE | FATTR_FH;
    a.fh = 1;
    a.size = 100;
    s.add(req::setattr(2, a, s.next()));
    s.add(req::lookup(1, "link", s.next()));
    a = {};
    a.valid = FATTR_MODE;
    a.mode = 0777;
    s.add(req::setattr(3, a, s.next()));
    out.push_back({"setattr", s.bytes()});
  }
  {
    Script s;
    s.add(req::lookup(1, "file", s.next())).add(req::open(2, O_RDWR, s.next()));
    s.add(req::ioctl(2, 1, FS_IOC_GETFLAGS, 0, {}, 8, 0, s.next()));
    const Bytes flags = {0, 0, 0, 0, 0, 0, 0, 0};
    s.add(req::ioctl(2, 1, FS_IOC_SETFLAGS, 0, flags, 0, 0, s.next()));
    s.add(req::ioctl(2, 1, FS_IOC32_GETFLAGS, 0, {}, 4, FUSE_IOCTL_32BIT, s.next()));
    s.add(req::ioctl(2, 1, FS_IOC_FSGETXATTR, 0, {}, sizeof(fsxattr), 0, s.next()));
    const fsxattr fx{};
    s.add(req::ioctl(2, 1, FS_IOC_FSSETXATTR, 0,
                     std::span(reinterpret_cast<const uint8_t*>(&fx), sizeof(fx)), 0, 0, s.next()));
    const Bytes policy_size = {24, 0, 0, 0, 0, 0, 0, 0};
    s.add(req::ioctl(2, 1, FS_IOC_GET_ENCRYPTION_POLICY_EX, 0, policy_size, 32, 0, s.next()));
    s.add(req::ioctl(2, 1, 0x1234, 0, {}, 0, 0, s.next()));
    s.add(req::ioctl(2, 1, FS_IOC_GETFLAGS, 0, {}, 8, FUSE_IOCTL_UNRESTRICTED, s.next()));
    s.add(req::opendir(1, 0, s.next()));
    s.add(req::ioctl(1, 2, FS_IOC_GETFLAGS, 0, {}, 8, FUSE_IOCTL_DIR, s.next()));
    s.add(req::release(2, 1, 0, 0, 0, s.next()));
    out.push_back({"ioctl", s.bytes()});
  }
  {
    Script s;
    s.add(req::lookup(1, "file", s.next())).add(req::lookup(1, "dir", s.next()));
    s.add(req::lookup(1, "link", s.next())).add(req::lookup(1, "file", s.next()));
    const std::pair<pfs::fuse::Inode, uint64_t> items[] = {{2, 2}, {3, 1}, {4, 5}, {1, 1}, {99, 1}};
    s.add(req::batch_forget(items, s.next())).add(req::forget(1, 1, s.next()));
    s.add(req::lookup(1, "file", s.next())).add(req::forget(5, ~uint64_t{0}, s.next()));
    s.add(req::interrupt(3, s.next()));
    out.push_back({"batch_forget", s.bytes()});
  }
  {
    // Requests a hostile client sends.
    Script s;
    s.add(req::lookup(1, "..", s.next())).add(req::lookup(1, ".", s.next()));
    s.add(req::lookup(1, "dir/nested", s.next())).add(req::lookup(1, "", s.next()));
    s.add(mem::RequestBuilder(FUSE_LOOKUP, 1, s.next()).raw("file").finish());  // no NUL
    s.add(req::lookup(1, "escape", s.next())).add(req::open(2, O_RDWR, s.next()));
    s.add(req::setxattr(2, "user.x", "y", 0, true, s.next()));
    s.add(req::lookup(1, "abs", s.next())).add(req::readlink(3, s.next()));
    s.add(req::link(2, 1, "hard-escape", s.next()));
    s.add(req::create(1, "../out", S_IFREG | 0644, O_RDWR, 0, s.next()));
    s.add(req::mkdir(1, "a/b", 0755, 0, s.next()));
    s.add(req::rename(1, "file", 1, "..", s.next()));
    s.add(req::getattr(12345, {}, s.next())).add(req::read(1, 999, 0, 10, 0, s.next()));
    s.add(mem::RequestBuilder(FUSE_WRITE, 1, s.next())
              .obj(fuse_write_in{1, 0, 4096, 0, 0, 0, 0})
              .raw("x")
              .finish());
    s.add(mem::RequestBuilder(FUSE_GETATTR, 1, s.next()).force_total_extlen(200).finish());
    s.add(mem::RequestBuilder(4242, 1, s.next()).raw("junk").finish());
    s.add(req::init(mem::kLinuxInitFlags, 7, 38, 131072, s.next()));  // a second INIT
    s.add(req::lookup(1, "fifo", s.next())).add(req::open(4, O_RDONLY, s.next()));
    s.add(req::getlk(1, 1, 0, fuse_file_lock{}, s.next())).add(req::bmap(1, 0, 512, s.next()));
    s.add(req::poll(1, 1, 0, 0, 1, s.next()));
    s.add(req::destroy(s.next())).add(req::init(mem::kLinuxInitFlags, 7, 31, 131072, s.next()));
    s.add(req::lookup(1, "file", s.next()));
    Bytes b = s.bytes();
    const Bytes tail = mem::RequestBuilder(FUSE_LOOKUP, 1, s.next()).str("file").finish();
    b.insert(b.end(), tail.begin(), tail.begin() + 20);  // a truncated last request
    out.push_back({"bad_inputs", b});
  }
  {
    Script s;
    s.add(req::lookup(1, "upper.txt", s.next())).add(req::lookup(1, "FILE", s.next()));
    s.add(req::lookup(1, "file", s.next()))
        .add(req::setxattr(2, "security.cap", "c", 0, true, s.next()));
    s.add(req::listxattr(2, 512, s.next())).add(req::getxattr(2, "security.fuzz", 64, s.next()));
    s.add(req::create(1, "ro-created", S_IFREG | 0644, O_RDWR, 0, s.next()));
    out.push_back({"config_paths", s.bytes()});
  }
  {
    Script s;
    add_with_secctx(s, "sec", "secf");
    out.push_back({"security_context", s.bytes()});
  }
  {
    // Node-local special files and odd requests the scenarios above do not make.
    Script s;
    s.add(req::lookup(1, "fifo", s.next()));  // 2
    s.add(req::setxattr(2, "user.p", "v", 0, true, s.next()));
    s.add(req::getxattr(2, "user.p", 64, s.next())).add(req::removexattr(2, "user.p", s.next()));
    s.add(req::removexattr(2, "user.none", s.next()));
    s.add(req::symlink(1, "empty-target", "", s.next()));  // EINVAL before the file system
    s.add(req::lookup(1, "file", s.next())).add(req::open(3, O_RDWR, s.next()));
    for (uint64_t arg = 0; arg < 8; ++arg) {  // fuse_decode: some splits leave 4 KiB of reply
      s.add(req::ioctl(3, 1, FS_IOC_GETFLAGS, arg, {}, 8192, 0, s.next()));
    }
    s.add(req::ioctl(3, 1, FS_IOC32_SETFLAGS, 0, Bytes{0, 0, 0, 0}, 0, FUSE_IOCTL_32BIT, s.next()));
    s.add(req::ioctl(3, 1, _IOR('f', 1, uint64_t), 0, {}, 8, 0, s.next()));  // FS_IOC64_GETFLAGS
    s.add(req::ioctl(3, 1, _IOW('f', 2, uint64_t), 0, Bytes(8, 0), 0, 0, s.next()));
    s.add(req::destroy(s.next())).add(req::destroy(s.next()));  // the second: before INIT
    out.push_back({"special_files", s.bytes()});
  }
  {
    // An immutable file: chown, truncate and write fail on the host.
    Script s;
    s.add(req::lookup(1, "file", s.next())).add(req::open(2, O_RDONLY, s.next()));
    const Bytes immutable = {0x10, 0, 0, 0, 0, 0, 0, 0};  // FS_IMMUTABLE_FL
    s.add(req::ioctl(2, 1, FS_IOC_SETFLAGS, 0, immutable, 0, 0, s.next()));
    fuse_setattr_in a{};
    a.valid = FATTR_UID | FATTR_GID;
    a.uid = 1000;
    a.gid = 1000;
    s.add(req::setattr(2, a, s.next()));
    a = {};
    a.valid = FATTR_MODE;
    a.mode = 0600;
    s.add(req::setattr(2, a, s.next()));
    s.add(req::unlink(1, "file", s.next())).add(req::open(2, O_WRONLY, s.next()));
    s.add(req::setxattr(2, "user.i", "v", 0, true, s.next()));
    s.add(req::ioctl(2, 1, FS_IOC_SETFLAGS, 0, Bytes(8, 0), 0, 0, s.next()));
    s.add(req::release(2, 1, 0, 0, 0, s.next()));
    out.push_back({"immutable", s.bytes()});
  }
  {
    // Requests from an unprivileged caller (uid/gid 1000).
    Script s;
    auto user = [&s] {
      pfs::fuse::Context c = s.next();
      c.uid = c.gid = 1000;
      return c;
    };
    s.add(req::lookup(1, "ro", s.next())).add(req::lookup(1, "file", s.next()));  // 2, 3
    s.add(req::access(2, W_OK, user())).add(req::access(2, R_OK, user()));
    s.add(req::access(3, R_OK | W_OK | X_OK, user())).add(req::access(3, X_OK, user()));
    s.add(req::access(1, W_OK | X_OK, user())).add(req::access(3, F_OK, user()));
    s.add(req::lookup(1, "empty", s.next())).add(req::access(4, R_OK, user()));  // 0600 root's
    s.add(req::mkdir(1, "udir", 0755, 022, user()))
        .add(req::create(1, "ufile", S_IFREG | 0644, O_RDWR, 022, user()));
    s.add(req::mknod(1, "unode", S_IFREG | 0600, 0, 022, user()));
    s.add(req::symlink(1, "ulink", "file", user()));
    s.add(req::open(2, O_WRONLY, user())).add(req::getattr(3, {}, user()));
    out.push_back({"unprivileged", s.bytes()});
  }
  {
    // Every opcode once, for the "PFSN" bare file system (every operation ENOSYS).
    Script s;
    s.add(req::lookup(1, "file", s.next())).add(req::forget(2, 1, s.next()));
    s.add(req::getattr(1, {}, s.next()));
    fuse_setattr_in a{};
    a.valid = FATTR_MODE;
    a.mode = 0644;
    s.add(req::setattr(1, a, s.next())).add(req::readlink(1, s.next()));
    s.add(req::symlink(1, "s", "t", s.next()))
        .add(req::mknod(1, "n", S_IFREG | 0600, 0, 0, s.next()));
    s.add(req::mkdir(1, "d", 0755, 0, s.next())).add(req::unlink(1, "f", s.next()));
    s.add(req::rmdir(1, "d", s.next())).add(req::rename(1, "a", 1, "b", s.next()));
    s.add(req::link(1, 1, "l", s.next())).add(req::open(1, O_RDONLY, s.next()));
    s.add(req::read(1, 1, 0, 100, 0, s.next()));
    s.add(req::write(1, 1, 0, std::string_view("data"), s.next()));
    s.add(req::statfs(1, s.next())).add(req::release(1, 1, 0, 0, 0, s.next()));
    s.add(req::fsync(1, 1, false, s.next()));
    s.add(req::setxattr(1, "user.a", "v", 0, true, s.next()));
    s.add(req::getxattr(1, "user.a", 64, s.next())).add(req::listxattr(1, 64, s.next()));
    s.add(req::removexattr(1, "user.a", s.next())).add(req::flush(1, 1, 0, s.next()));
    s.add(req::opendir(1, 0, s.next())).add(req::readdir(1, 1, 0, 4096, s.next()));
    s.add(req::readdirplus(1, 1, 0, 4096, s.next())).add(req::releasedir(1, 1, 0, s.next()));
    s.add(req::fsyncdir(1, 1, false, s.next()));
    s.add(req::getlk(1, 1, 0, fuse_file_lock{}, s.next()));
    s.add(req::setlk(1, 1, 0, fuse_file_lock{}, false, s.next()));
    s.add(req::access(1, R_OK, s.next()));
    s.add(req::create(1, "c", S_IFREG | 0644, O_RDWR, 0, s.next()));
    s.add(req::interrupt(1, s.next())).add(req::bmap(1, 0, 512, s.next()));
    s.add(req::ioctl(1, 1, FS_IOC_GETFLAGS, 0, {}, 8, 0, s.next()));
    s.add(req::poll(1, 1, 0, 0, 1, s.next()));
    const std::pair<pfs::fuse::Inode, uint64_t> items[] = {{2, 1}, {3, 1}};
    s.add(req::batch_forget(items, s.next()));
    s.add(req::fallocate(1, 1, 0, 0, 10, s.next()));
    s.add(req::rename2(1, "a", 1, "b", 1, s.next()));
    s.add(req::lseek(1, 1, 0, 3, s.next()));
    s.add(req::copy_file_range(1, 1, 0, 1, 1, 0, 10, 0, s.next()));
    s.add(req::syncfs(1, s.next())).add(req::tmpfile(1, S_IFREG | 0600, O_RDWR, 0, s.next()));
    s.add(req::destroy(s.next()));
    out.push_back({"every_opcode", s.bytes()});
  }
  {
    Script s(false);  // no INIT at all: the target adds one
    s.add(req::lookup(1, "dir", s.next())).add(req::lookup(2, "nested", s.next()));
    s.add(req::open(3, O_RDONLY, s.next())).add(req::read(3, 1, 0, 100, 0, s.next()));
    out.push_back({"no_init", s.bytes()});
  }
  return out;
}

// The stream the fault-mode seeds ("PFSF", fuse_session.cc and fault_mode.h) run:
// every request that reaches a fault hook, as root, as a user (the credentials
// hooks run only when the ids change) and with a security context.
Bytes fault_targets() {
  Script s;
  auto user = [&s] {
    pfs::fuse::Context c = s.next();
    c.uid = c.gid = 1000;
    return c;
  };
  s.add(req::lookup(1, "file", s.next())).add(req::link(2, 1, "fl", s.next()));
  s.add(req::mkdir(1, "fd1", 0755, 022, s.next()));
  s.add(req::mkdir(1, "dir", 0755, 022, s.next()));  // taken: the TempDir is removed
  s.add(req::mkdir(1, "fd2", 0755, 022, user()));
  s.add(req::mknod(1, "fn", S_IFREG | 0600, 0, 022, user()));
  s.add(req::symlink(1, "fs", "file", user()));
  s.add(req::create(1, "fc", S_IFREG | 0644, O_RDWR, 022, user()));
  s.add(req::tmpfile(1, S_IFREG | 0600, O_RDWR, 022, user()));
  add_with_secctx(s, "fsec", "fsecf");
  s.add(req::mkdir(1, "fd3", 0755, 022, s.next())).add(req::mkdir(1, "dir", 0700, 0, s.next()));
  return s.bytes();
}

bool write_file(const std::filesystem::path& path, const Bytes& bytes) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  return static_cast<bool>(f);
}

Bytes prefixed(std::string_view magic, const Bytes& extra, const Bytes& body) {
  Bytes b(magic.begin(), magic.end());
  b.insert(b.end(), extra.begin(), extra.end());
  b.insert(b.end(), body.begin(), body.end());
  return b;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s <corpora dir>\n", argv[0]);
    return 2;
  }
  const std::filesystem::path root = argv[1];
  const auto session_dir = root / "fuse_session_seeds";
  const auto decode_dir = root / "fuse_decode";
  std::filesystem::create_directories(session_dir);
  std::filesystem::create_directories(decode_dir);
  bool ok = true;
  size_t files = 0;
  for (const Seed& s : scenarios()) {
    ok &= write_file(session_dir / (s.name + ".fuse"), s.bytes);
    ok &= write_file(decode_dir / (s.name + ".fuse"), s.bytes);
    files += 2;
  }
  // Configuration variants (see fuse_session.cc for the bits).
  const std::vector<Seed> all = scenarios();
  auto find = [&](const std::string& n) {
    for (const Seed& s : all) {
      if (s.name == n) return s.bytes;
    }
    return Bytes{};
  };
  const struct {
    const char* name;
    uint8_t config;
    const char* scenario;
  } variants[] = {
      {"cfg_rewrite_xattrs", 0x09, "xattrs"},
      {"cfg_rewrite_config_paths", 0x09, "config_paths"},
      {"cfg_casefold", 0x0a, "config_paths"},
      {"cfg_readonly", 0x28, "namespace_ops"},
      {"cfg_writeback_never", 0x04, "create_write_fsync_release"},
      {"cfg_always_noxattr", 0x50, "xattrs"},
      {"cfg_noacl_readdir", 0x90, "readdir"},
      {"cfg_readonly_ioctl", 0x28, "ioctl"},
      {"cfg_readonly_immutable", 0x28, "immutable"},
      {"cfg_readonly_special", 0x28, "special_files"},
      {"cfg_readonly_xattrs", 0x28, "xattrs"},
      {"cfg_readonly_setattr", 0x28, "setattr"},
      {"cfg_readonly_create", 0x28, "create_write_fsync_release"},
      {"cfg_noxattr_special", 0x48, "special_files"},
      {"cfg_rewrite_special", 0x09, "special_files"},
      {"cfg_never_unprivileged", 0x00, "unprivileged"},
  };
  for (const auto& v : variants) {
    ok &= write_file(session_dir / (std::string(v.name) + ".fuse"),
                     prefixed("PFSC", Bytes{v.config}, find(v.scenario)));
    ++files;
  }
  // Fault mode (fuse_session.cc's "PFSF"): one seed per fault point (fault_mode.h;
  // fault byte: point, N << 4, 0x80 for every use from the N-th on).
  const struct {
    const char* name;
    uint8_t fault;
  } faults[] = {
      {"fault_setgid", 0x80},       {"fault_setuid", 0x01},       {"fault_random_seed", 0x02},
      {"fault_mkdir", 0x03},        {"fault_mkdir_third", 0x23},  {"fault_mkdir_taken", 0x84},
      {"fault_open", 0x05},         {"fault_open_symlink", 0x06}, {"fault_open_swapped", 0x07},
      {"fault_remove_gone", 0x08},  {"fault_remove_full", 0x09},  {"fault_secctx", 0x0a},
      {"fault_secctx_taken", 0x8b}, {"fault_name_swapped", 0x8c},
  };
  for (const auto& f : faults) {
    ok &= write_file(session_dir / (std::string(f.name) + ".fuse"),
                     prefixed("PFSF", Bytes{0x08, f.fault}, fault_targets()));
    ++files;
  }
  // The bare file system (fuse_session.cc's "PFSN"): INIT granting nothing, then
  // every opcode answered ENOSYS by FileSystem's defaults.
  ok &= write_file(session_dir / "bare_every_opcode.fuse",
                   prefixed("PFSN", Bytes{}, find("every_opcode")));
  ++files;
  // Split variants for the decode target.
  const uint64_t seeds[] = {0x0123456789abcdefull, 0xfedcba9876543210ull, 0x5555aaaa5555aaaaull};
  size_t i = 0;
  for (const char* n : {"init_lookup_open_read", "create_write_fsync_release", "readdir"}) {
    Bytes seed(8);
    for (size_t k = 0; k < 8; ++k) seed[k] = static_cast<uint8_t>(seeds[i] >> (8 * k));
    ok &= write_file(decode_dir / ("split_" + std::string(n) + ".fuse"),
                     prefixed("PFSS", seed, find(n)));
    ++i;
    ++files;
  }
  std::printf("wrote %zu seed files under %s\n", files, root.c_str());
  return ok ? 0 : 1;
}
