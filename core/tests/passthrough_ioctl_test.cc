// End-to-end: FUSE_IOCTL through the server into PassthroughFs: the inode-flag and
// fsxattr ioctls against the host file, the size checks of ioctl_dispatch.cc, the
// handle/inode pairing, read-only refusal and the server's FUSE_IOCTL_* flag rules.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/fiemap.h>
#include <linux/fs.h>
#include <linux/fscrypt.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "core/passthrough/scoped_fd.h"
#include "core/tests/passthrough_fixture.h"

namespace pfs::testing {
namespace {

constexpr uint32_t kGetFlags = static_cast<uint32_t>(FS_IOC_GETFLAGS);
constexpr uint32_t kSetFlags = static_cast<uint32_t>(FS_IOC_SETFLAGS);
constexpr uint32_t kGetFlags32 = static_cast<uint32_t>(FS_IOC32_GETFLAGS);
constexpr uint32_t kSetFlags32 = static_cast<uint32_t>(FS_IOC32_SETFLAGS);
constexpr uint32_t kFsGetXattr = static_cast<uint32_t>(FS_IOC_FSGETXATTR);
constexpr uint32_t kFsSetXattr = static_cast<uint32_t>(FS_IOC_FSSETXATTR);
constexpr uint32_t kGetPolicyEx = static_cast<uint32_t>(FS_IOC_GET_ENCRYPTION_POLICY_EX);

template <class T>
std::span<const uint8_t> bytes_of(const T& v) {
  return {reinterpret_cast<const uint8_t*>(&v), sizeof(T)};
}

class IoctlTest : public PassthroughTest {
 protected:
  void SetUp() override {
    PassthroughTest::SetUp();
    if (HasFatalFailure() || !start_in_setup_) return;
    open_file();
  }

  // A failed test must not leave an immutable file the scratch dir cannot remove.
  void TearDown() override {
    ScopedFd fd(::open(host("f").c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK));
    int flags = 0;
    if (fd.valid() && ::ioctl(fd.get(), FS_IOC_GETFLAGS, &flags) == 0 &&
        (flags & (FS_IMMUTABLE_FL | FS_APPEND_FL)) != 0) {
      flags &= ~(FS_IMMUTABLE_FL | FS_APPEND_FL);
      ::ioctl(fd.get(), FS_IOC_SETFLAGS, &flags);
    }
  }

  int write_errno() { return run(req::write(file_, fh_, 0, "x")).error(); }

  void open_file() {
    write_host_file("f", "data");
    file_ = lookup_ok(fuse::kRootInode, "f").nodeid;
    fh_ = open_ok(file_, cfg_.readonly ? O_RDONLY : O_RDWR);
  }

  // The inode flags of the host file, read on the host.
  std::optional<int> host_flags(const std::string& rel) {
    ScopedFd fd(::open(host(rel).c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK));
    int flags = 0;
    if (!fd.valid() || ::ioctl(fd.get(), FS_IOC_GETFLAGS, &flags) != 0) return std::nullopt;
    return flags;
  }
  std::optional<fsxattr> host_fsxattr(const std::string& rel) {
    ScopedFd fd(::open(host(rel).c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK));
    fsxattr x{};
    if (!fd.valid() || ::ioctl(fd.get(), FS_IOC_FSGETXATTR, &x) != 0) return std::nullopt;
    return x;
  }

  mem::Reply ioctl(uint32_t cmd, std::span<const uint8_t> in, uint32_t out_size,
                   uint32_t flags = 0) {
    return run(req::ioctl(file_, fh_, cmd, 0, in, out_size, flags));
  }
  // The data after fuse_ioctl_out.
  static std::vector<uint8_t> out_data(const mem::Reply& r) {
    if (r.payload.size() < sizeof(fuse_ioctl_out)) return {};
    return {r.payload.begin() + sizeof(fuse_ioctl_out), r.payload.end()};
  }
  static int out_int(const mem::Reply& r) {
    auto d = out_data(r);
    int v = -1;
    if (d.size() >= sizeof(int)) std::memcpy(&v, d.data(), sizeof(int));
    return v;
  }

  fuse::Inode file_ = 0;
  fuse::Handle fh_ = 0;
};

TEST_F(IoctlTest, GetFlagsMatchesTheHost) {
  auto host = host_flags("f");
  ASSERT_TRUE(host) << "the scratch fs has no inode flags";
  for (uint32_t cmd : {kGetFlags, kGetFlags32}) {
    SCOPED_TRACE(cmd);
    auto r = ioctl(cmd, {}, sizeof(int));
    ASSERT_TRUE(r.ok()) << r.error();
    ASSERT_EQ(r.payload.size(), sizeof(fuse_ioctl_out) + sizeof(int));
    auto o = r.at<fuse_ioctl_out>(0);
    EXPECT_EQ(o->result, 0);
    EXPECT_EQ(o->in_iovs, 0u);
    EXPECT_EQ(o->out_iovs, 0u);
    EXPECT_EQ(out_int(r), *host);
  }
  // The kernel asks with out_size = _IOC_SIZE(cmd), 8 for the native encoding:
  // the reply carries only the int the ioctl wrote.
  auto r = ioctl(kGetFlags, {}, 8);
  ASSERT_TRUE(r.ok()) << r.error();
  EXPECT_EQ(out_data(r).size(), sizeof(int));
}

TEST_F(IoctlTest, SetFlagsRoundTrip) {
  auto before = host_flags("f");
  ASSERT_TRUE(before);
  const int with = *before | FS_NOATIME_FL | FS_NODUMP_FL;
  auto r = ioctl(kSetFlags, bytes_of(with), 0);
  ASSERT_TRUE(r.ok()) << r.error();
  EXPECT_EQ(r.payload.size(), sizeof(fuse_ioctl_out)) << "nothing to return";
  EXPECT_EQ(host_flags("f"), with);
  EXPECT_EQ(out_int(ioctl(kGetFlags, {}, 4)), with);

  // The 32-bit encoding, and the 8-byte input the kernel sends for the native one.
  ASSERT_TRUE(ioctl(kSetFlags32, bytes_of(*before | FS_NOATIME_FL), 0).ok());
  EXPECT_EQ(host_flags("f"), *before | FS_NOATIME_FL);
  const uint64_t wide = static_cast<uint32_t>(*before);
  ASSERT_TRUE(ioctl(kSetFlags, bytes_of(wide), 0).ok());
  EXPECT_EQ(host_flags("f"), *before);
  EXPECT_EQ(out_int(ioctl(kGetFlags32, {}, 4)), *before);
}

TEST_F(IoctlTest, SetFlagsOnImmutableMakesTheHostFileImmutable) {
  auto before = host_flags("f");
  ASSERT_TRUE(before);
  ASSERT_TRUE(ioctl(kSetFlags, bytes_of(*before | FS_IMMUTABLE_FL), 0).ok());
  EXPECT_EQ(write_errno(), EPERM) << "the host now refuses writes through our handle";
  ASSERT_TRUE(ioctl(kSetFlags, bytes_of(*before), 0).ok());
  EXPECT_EQ(write_errno(), 0);
}

TEST_F(IoctlTest, FsGetAndSetXattr) {
  auto host = host_fsxattr("f");
  ASSERT_TRUE(host);
  auto r = ioctl(kFsGetXattr, {}, sizeof(fsxattr));
  ASSERT_TRUE(r.ok()) << r.error();
  auto d = out_data(r);
  ASSERT_EQ(d.size(), sizeof(fsxattr));
  fsxattr got{};
  std::memcpy(&got, d.data(), sizeof(got));
  EXPECT_EQ(got.fsx_xflags, host->fsx_xflags);
  EXPECT_EQ(got.fsx_projid, host->fsx_projid);
  EXPECT_EQ(got.fsx_extsize, host->fsx_extsize);

  fsxattr want = got;
  want.fsx_xflags |= FS_XFLAG_NOATIME;
  ASSERT_TRUE(ioctl(kFsSetXattr, bytes_of(want), 0).ok());
  EXPECT_EQ(host_fsxattr("f")->fsx_xflags & FS_XFLAG_NOATIME, unsigned{FS_XFLAG_NOATIME});
  EXPECT_NE(*host_flags("f") & FS_NOATIME_FL, 0) << "the same bit seen as an inode flag";
  want.fsx_xflags &= ~FS_XFLAG_NOATIME;
  ASSERT_TRUE(ioctl(kFsSetXattr, bytes_of(want), 0).ok());
  EXPECT_EQ(host_fsxattr("f")->fsx_xflags, host->fsx_xflags);
  // A larger output buffer gets just the struct.
  EXPECT_EQ(out_data(ioctl(kFsGetXattr, {}, 64)).size(), sizeof(fsxattr));
}

TEST_F(IoctlTest, EncryptionPolicyAnswersWhatTheHostAnswers) {
  ScopedFd fd(::open(host("f").c_str(), O_RDONLY | O_CLOEXEC));
  fscrypt_get_policy_ex_arg arg{};
  arg.policy_size = sizeof(arg.policy);
  const int rc = ::ioctl(fd.get(), FS_IOC_GET_ENCRYPTION_POLICY_EX, &arg);
  const int host_err = rc < 0 ? errno : 0;
  const uint64_t policy_size = sizeof(arg.policy);
  auto r = ioctl(kGetPolicyEx, bytes_of(policy_size), sizeof(arg));
  EXPECT_EQ(r.error(), host_err) << "an unencrypted file: ENODATA, or EOPNOTSUPP without fscrypt";
}

TEST_F(IoctlTest, UnknownCommandsAreEnotty) {
  const uint8_t in[16] = {};
  for (uint32_t cmd : {0u, 0x1234u, static_cast<uint32_t>(TCGETS), static_cast<uint32_t>(FIONREAD),
                       static_cast<uint32_t>(FS_IOC_GETVERSION), static_cast<uint32_t>(FICLONE),
                       static_cast<uint32_t>(FS_IOC_FIEMAP),
                       static_cast<uint32_t>(FS_IOC_SET_ENCRYPTION_POLICY), 0xffffffffu}) {
    SCOPED_TRACE(cmd);
    EXPECT_EQ(ioctl(cmd, in, 16).error(), ENOTTY);
    EXPECT_EQ(ioctl(cmd, {}, 0).error(), ENOTTY);
  }
  EXPECT_EQ(read_host_file("f"), "data");
}

TEST_F(IoctlTest, ShortBuffersGetTheDispatchErrnos) {
  auto before = host_flags("f");
  ASSERT_TRUE(before);
  const uint8_t in[32] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
  // Output too small: ENOMEM (as the seed).
  for (uint32_t cmd : {kGetFlags, kGetFlags32}) {
    for (uint32_t out : {0u, 1u, 3u}) EXPECT_EQ(ioctl(cmd, {}, out).error(), ENOMEM) << out;
  }
  EXPECT_EQ(ioctl(kFsGetXattr, {}, 0).error(), ENOMEM);
  EXPECT_EQ(ioctl(kFsGetXattr, {}, sizeof(fsxattr) - 1).error(), ENOMEM);
  // Input too small: ENOMEM for the flags, EINVAL for fsxattr.
  for (uint32_t cmd : {kSetFlags, kSetFlags32}) {
    for (size_t n : {0u, 1u, 3u}) EXPECT_EQ(ioctl(cmd, {in, n}, 0).error(), ENOMEM) << n;
  }
  EXPECT_EQ(ioctl(kFsSetXattr, {}, 0).error(), EINVAL);
  EXPECT_EQ(ioctl(kFsSetXattr, {in, sizeof(fsxattr) - 1}, 0).error(), EINVAL);
  // The policy ioctl: a missing policy_size is EIO, no room for it ENOMEM.
  EXPECT_EQ(ioctl(kGetPolicyEx, {}, 64).error(), EIO);
  EXPECT_EQ(ioctl(kGetPolicyEx, {in, 7}, 64).error(), EIO);
  const uint64_t size = 12;
  EXPECT_EQ(ioctl(kGetPolicyEx, bytes_of(size), 7).error(), ENOMEM);
  // None of it reached the file.
  EXPECT_EQ(host_flags("f"), before);
}

TEST_F(IoctlTest, HandlesBelongToTheirInode) {
  write_host_file("g", "other");
  auto g = lookup_ok(fuse::kRootInode, "g").nodeid;
  const fuse::Handle gh = open_ok(g, O_RDWR);
  const int flags = FS_NOATIME_FL;
  // fh_ with g's inode, gh with f's inode, unknown handles, unknown inodes.
  EXPECT_EQ(run(req::ioctl(g, fh_, kGetFlags, 0, {}, 4)).error(), EBADF);
  EXPECT_EQ(run(req::ioctl(g, fh_, kSetFlags, 0, bytes_of(flags), 0)).error(), EBADF);
  EXPECT_EQ(run(req::ioctl(file_, gh, kSetFlags, 0, bytes_of(flags), 0)).error(), EBADF);
  EXPECT_EQ(run(req::ioctl(file_, 999999, kGetFlags, 0, {}, 4)).error(), EBADF);
  EXPECT_EQ(run(req::ioctl(file_, 0, kGetFlags, 0, {}, 4)).error(), EBADF);
  EXPECT_EQ(run(req::ioctl(999999, fh_, kGetFlags, 0, {}, 4)).error(), EBADF);
  EXPECT_EQ(run(req::ioctl(0, fh_, kGetFlags, 0, {}, 4)).error(), EBADF);
  EXPECT_EQ(run(req::ioctl(~fuse::Inode{0}, ~fuse::Handle{0}, 0x1234, 0, {}, 0)).error(), EBADF)
      << "the handle is checked before the command";
  EXPECT_EQ(*host_flags("g") & FS_NOATIME_FL, 0);
  EXPECT_EQ(*host_flags("f") & FS_NOATIME_FL, 0);
  // Both handles still work with their own inodes.
  EXPECT_TRUE(run(req::ioctl(g, gh, kGetFlags, 0, {}, 4)).ok());
  EXPECT_TRUE(ioctl(kGetFlags, {}, 4).ok());
  // A released handle is gone.
  ASSERT_TRUE(run(req::release(g, gh)).ok());
  EXPECT_EQ(run(req::ioctl(g, gh, kGetFlags, 0, {}, 4)).error(), EBADF);
}

TEST_F(IoctlTest, DirectoryHandleWithIoctlDirFlag) {
  ASSERT_EQ(::mkdir(host("d").c_str(), 0755), 0);
  auto d = lookup_ok(fuse::kRootInode, "d").nodeid;
  const fuse::Handle dh = opendir_ok(d);
  auto r = run(req::ioctl(d, dh, kGetFlags, 0, {}, 4, FUSE_IOCTL_DIR));
  ASSERT_TRUE(r.ok()) << r.error();
  EXPECT_EQ(out_int(r), *host_flags("d"));
  auto x = run(req::ioctl(d, dh, kFsGetXattr, 0, {}, sizeof(fsxattr), FUSE_IOCTL_DIR));
  EXPECT_TRUE(x.ok()) << x.error();
  ASSERT_TRUE(run(req::releasedir(d, dh)).ok());
}

TEST_F(IoctlTest, UnrestrictedIsRefusedByTheServer) {
  auto before = host_flags("f");
  ASSERT_TRUE(before);
  const int flags = *before | FS_NOATIME_FL;
  EXPECT_EQ(ioctl(kSetFlags, bytes_of(flags), 0, FUSE_IOCTL_UNRESTRICTED).error(), ENOSYS);
  EXPECT_EQ(ioctl(kGetFlags, {}, 4, FUSE_IOCTL_UNRESTRICTED).error(), ENOSYS);
  EXPECT_EQ(ioctl(kGetFlags, {}, 4, FUSE_IOCTL_UNRESTRICTED | FUSE_IOCTL_RETRY).error(), ENOSYS);
  EXPECT_EQ(host_flags("f"), before) << "never reached the file system";
  // The other flags (compat, 32-bit, retry, dir) do not change what is served.
  for (uint32_t f : {uint32_t{FUSE_IOCTL_COMPAT}, uint32_t{FUSE_IOCTL_32BIT},
                     uint32_t{FUSE_IOCTL_COMPAT | FUSE_IOCTL_32BIT}, uint32_t{FUSE_IOCTL_RETRY},
                     uint32_t{FUSE_IOCTL_COMPAT_X32}}) {
    SCOPED_TRACE(f);
    auto r = ioctl(kGetFlags32, {}, 4, f);
    ASSERT_TRUE(r.ok()) << r.error();
    EXPECT_EQ(out_int(r), *before);
  }
}

TEST_F(IoctlTest, ServerSizeLimits) {
  // in_size must equal the bytes present; sizes over 64 KiB are refused.
  const std::vector<uint8_t> big(65537, 0);
  EXPECT_EQ(ioctl(kSetFlags, big, 0).error(), ENOMEM);
  EXPECT_EQ(ioctl(kGetFlags, {}, 65537).error(), ENOMEM);
  // 64 KiB of output room is fine; the reply holds what the ioctl wrote.
  auto r = ioctl(kGetFlags, {}, 65536);
  ASSERT_TRUE(r.ok()) << r.error();
  EXPECT_EQ(out_data(r).size(), sizeof(int));
  // A reply buffer too small for the asked output is ERANGE, before the FS runs.
  mem::Session tiny(*server_, sizeof(fuse_out_header) + sizeof(fuse_ioctl_out) + 2);
  auto t = tiny.run(req::ioctl(file_, fh_, kGetFlags, 0, {}, 4));
  EXPECT_TRUE(t.well_formed());
  EXPECT_EQ(t.error(), ERANGE);
}

class IoctlReadonlyTest : public IoctlTest {
 protected:
  IoctlReadonlyTest() { cfg_.readonly = true; }
};

TEST_F(IoctlReadonlyTest, ModifyingIoctlsAreErofs) {
  auto before = host_flags("f");
  auto xbefore = host_fsxattr("f");
  ASSERT_TRUE(before && xbefore);
  const int flags = *before | FS_NOATIME_FL;
  const uint64_t wide = static_cast<uint32_t>(flags);
  EXPECT_EQ(ioctl(kSetFlags, bytes_of(flags), 0).error(), EROFS);
  EXPECT_EQ(ioctl(kSetFlags, bytes_of(wide), 0).error(), EROFS);
  EXPECT_EQ(ioctl(kSetFlags32, bytes_of(flags), 0).error(), EROFS);
  constexpr uint32_t kSetFlags64 = _IOW('f', 2, uint64_t);
  EXPECT_EQ(ioctl(kSetFlags64, bytes_of(wide), 0).error(), EROFS);
  fsxattr x = *xbefore;
  x.fsx_xflags |= FS_XFLAG_NOATIME;
  EXPECT_EQ(ioctl(kFsSetXattr, bytes_of(x), 0).error(), EROFS);
  EXPECT_EQ(host_flags("f"), before);
  EXPECT_EQ(host_fsxattr("f")->fsx_xflags, xbefore->fsx_xflags);
  // Reading works.
  auto r = ioctl(kGetFlags, {}, 4);
  ASSERT_TRUE(r.ok()) << r.error();
  EXPECT_EQ(out_int(r), *before);
  EXPECT_TRUE(ioctl(kGetFlags32, {}, 4).ok());
  EXPECT_TRUE(ioctl(kFsGetXattr, {}, sizeof(fsxattr)).ok());
  EXPECT_EQ(ioctl(0x1234, {}, 0).error(), ENOTTY);
}

}  // namespace
}  // namespace pfs::testing
