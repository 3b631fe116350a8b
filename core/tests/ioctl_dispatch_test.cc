#include "core/passthrough/ioctl_dispatch.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/fs.h>
#include <linux/fscrypt.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <vector>

#include "core/tests/passthrough_scratch.h"

namespace pfs::passthrough {
namespace {

constexpr uint32_t kGetFlags32 = FS_IOC32_GETFLAGS;
constexpr uint32_t kSetFlags32 = FS_IOC32_SETFLAGS;
constexpr uint32_t kGetFlags64 = _IOR('f', 1, uint64_t);
constexpr uint32_t kSetFlags64 = _IOW('f', 2, uint64_t);

class IoctlTest : public pfs::testing::ScratchDirTest {
 protected:
  void SetUp() override {
    ScratchDirTest::SetUp();
    file_ = ScopedFd(::openat(dir_fd(), "file", O_CREAT | O_RDWR | O_CLOEXEC, 0644));
    ASSERT_TRUE(file_.valid());
  }
  void TearDown() override {
    file_.reset();
    ScratchDirTest::TearDown();
  }
  int fd() const { return file_.get(); }

  // Runs dispatch_ioctl with exactly-sized heap buffers (ASan catches any overrun).
  Result<fuse::IoctlReply> run(uint32_t cmd, std::vector<uint8_t> in, size_t out_size,
                               std::vector<uint8_t>* out_bytes = nullptr) {
    in.shrink_to_fit();
    std::vector<uint8_t> out(out_size, 0xAA);
    out.shrink_to_fit();
    auto r = dispatch_ioctl(fd(), cmd, in, out);
    if (r.ok()) {
      EXPECT_LE(r->out_size, out_size);
    }
    if (out_bytes) *out_bytes = out;
    return r;
  }

 private:
  ScopedFd file_;
};

TEST_F(IoctlTest, UnknownCommandsAreEnotty) {
  for (uint32_t cmd :
       {0u, 0xffffffffu, static_cast<uint32_t>(FIONREAD), static_cast<uint32_t>(FIBMAP),
        static_cast<uint32_t>(FS_IOC_GETVERSION), static_cast<uint32_t>(_IOR('f', 1, uint16_t)),
        static_cast<uint32_t>(FS_IOC_SET_ENCRYPTION_POLICY)}) {
    EXPECT_EQ(run(cmd, std::vector<uint8_t>(64), 64).error(), ENOTTY) << std::hex << cmd;
  }
}

TEST_F(IoctlTest, NativeFlagsCommandsAreHandled) {
  // FS_IOC_GETFLAGS is one of the 32/64-bit encodings, so it is served too.
  std::vector<uint8_t> out;
  auto r = run(FS_IOC_GETFLAGS, {}, 8, &out);
  EXPECT_NE(r.error(), ENOTTY);
}

TEST_F(IoctlTest, ShortSizes) {
  EXPECT_EQ(run(FS_IOC_FSGETXATTR, {}, sizeof(fsxattr) - 1).error(), ENOMEM);
  EXPECT_EQ(run(FS_IOC_FSGETXATTR, {}, 0).error(), ENOMEM);
  EXPECT_EQ(run(FS_IOC_FSSETXATTR, std::vector<uint8_t>(sizeof(fsxattr) - 1), 0).error(), EINVAL);
  EXPECT_EQ(run(FS_IOC_FSSETXATTR, {}, 100).error(), EINVAL);
  for (uint32_t cmd : {kGetFlags32, kGetFlags64}) {
    EXPECT_EQ(run(cmd, {}, 3).error(), ENOMEM);
    EXPECT_EQ(run(cmd, {}, 0).error(), ENOMEM);
  }
  for (uint32_t cmd : {kSetFlags32, kSetFlags64}) {
    EXPECT_EQ(run(cmd, std::vector<uint8_t>(3), 0).error(), ENOMEM);
    EXPECT_EQ(run(cmd, {}, 8).error(), ENOMEM);
  }
  EXPECT_EQ(run(FS_IOC_GET_ENCRYPTION_POLICY_EX, std::vector<uint8_t>(7), 64).error(), EIO);
  EXPECT_EQ(run(FS_IOC_GET_ENCRYPTION_POLICY_EX, {}, 64).error(), EIO);
  std::vector<uint8_t> size_in(8, 0);
  size_in[0] = 24;
  EXPECT_EQ(run(FS_IOC_GET_ENCRYPTION_POLICY_EX, size_in, 7).error(), ENOMEM);
}

TEST_F(IoctlTest, GetFlagsMatchesTheKernel) {
  int direct = 0;
  const int direct_res = ::ioctl(fd(), FS_IOC_GETFLAGS, &direct);
  const int direct_errno = errno;
  for (uint32_t cmd : {kGetFlags32, kGetFlags64}) {
    std::vector<uint8_t> out;
    auto r = run(cmd, {}, 8, &out);
    if (direct_res < 0) {
      EXPECT_EQ(r.error(), direct_errno);
      continue;
    }
    ASSERT_TRUE(r.ok()) << r.error();
    EXPECT_EQ(r->result, 0);
    ASSERT_EQ(r->out_size, sizeof(int));
    int got = 0;
    std::memcpy(&got, out.data(), sizeof(got));
    EXPECT_EQ(got, direct);
    EXPECT_EQ(out[4], 0xAA);  // nothing written past the int
  }
}

TEST_F(IoctlTest, SetFlagsRoundTrip) {
  int flags = 0;
  if (::ioctl(fd(), FS_IOC_GETFLAGS, &flags) < 0) GTEST_SKIP() << "no GETFLAGS here: " << errno;
  for (uint32_t cmd : {kSetFlags32, kSetFlags64}) {
    const int with_nodump = flags | FS_NODUMP_FL;
    std::vector<uint8_t> in(sizeof(int));
    std::memcpy(in.data(), &with_nodump, sizeof(int));
    auto r = run(cmd, in, 0);
    if (!r.ok()) {
      EXPECT_TRUE(r.error() == EOPNOTSUPP || r.error() == EPERM || r.error() == ENOTTY)
          << r.error();
      continue;
    }
    EXPECT_EQ(r->out_size, 0u);
    int now = 0;
    ASSERT_EQ(::ioctl(fd(), FS_IOC_GETFLAGS, &now), 0);
    EXPECT_TRUE(now & FS_NODUMP_FL);
    std::memcpy(in.data(), &flags, sizeof(int));
    ASSERT_TRUE(run(cmd, in, 0).ok());
    ASSERT_EQ(::ioctl(fd(), FS_IOC_GETFLAGS, &now), 0);
    EXPECT_FALSE(now & FS_NODUMP_FL);
  }
}

TEST_F(IoctlTest, FsxattrRoundTrip) {
  fsxattr direct{};
  if (::ioctl(fd(), FS_IOC_FSGETXATTR, &direct) < 0)
    GTEST_SKIP() << "no FSGETXATTR here: " << errno;
  std::vector<uint8_t> out;
  auto r = run(FS_IOC_FSGETXATTR, {}, sizeof(fsxattr) + 4, &out);
  ASSERT_TRUE(r.ok()) << r.error();
  ASSERT_EQ(r->out_size, sizeof(fsxattr));
  EXPECT_EQ(out[sizeof(fsxattr)], 0xAA);
  fsxattr got{};
  std::memcpy(&got, out.data(), sizeof(got));
  EXPECT_EQ(got.fsx_xflags, direct.fsx_xflags);
  EXPECT_EQ(got.fsx_projid, direct.fsx_projid);

  // Set FS_XFLAG_NODUMP through FSSETXATTR and read it back.
  fsxattr want = got;
  want.fsx_xflags |= FS_XFLAG_NODUMP;
  std::vector<uint8_t> in(sizeof(fsxattr));
  std::memcpy(in.data(), &want, sizeof(want));
  auto s = run(FS_IOC_FSSETXATTR, in, 0);
  if (!s.ok()) GTEST_SKIP() << "FSSETXATTR refused here: " << s.error();
  EXPECT_EQ(s->out_size, 0u);
  r = run(FS_IOC_FSGETXATTR, {}, sizeof(fsxattr), &out);
  ASSERT_TRUE(r.ok());
  std::memcpy(&got, out.data(), sizeof(got));
  EXPECT_TRUE(got.fsx_xflags & FS_XFLAG_NODUMP);
}

TEST_F(IoctlTest, EncryptionPolicyOnAnUnencryptedFile) {
  // Not encrypted (or no fscrypt support): the kernel's error comes back, the reply
  // buffer stays untouched.
  std::vector<uint8_t> in(8, 0);
  in[0] = sizeof(fscrypt_get_policy_ex_arg::policy);
  std::vector<uint8_t> out;
  auto r = run(FS_IOC_GET_ENCRYPTION_POLICY_EX, in, 9, &out);
  if (r.ok()) {
    EXPECT_LE(r->out_size, 9u);
  } else {
    EXPECT_TRUE(r.error() == ENODATA || r.error() == EOPNOTSUPP || r.error() == ENOTTY ||
                r.error() == EOVERFLOW)
        << r.error();
  }
  // A huge requested size is clamped, never trusted.
  std::fill(in.begin(), in.end(), 0xff);
  r = run(FS_IOC_GET_ENCRYPTION_POLICY_EX, in, 8 + 24, &out);
  if (r.ok()) {
    EXPECT_LE(r->out_size, 8u + 24u);
  }
}

TEST_F(IoctlTest, OPathFdIsEbadf) {
  ScopedFd opath(::openat(dir_fd(), "file", O_PATH | O_CLOEXEC));
  std::array<uint8_t, 8> out{};
  auto r = dispatch_ioctl(opath.get(), kGetFlags64, {}, out);
  EXPECT_EQ(r.error(), EBADF);
}

// The kernel refuses every command on an O_PATH fd: each handler must pass that
// error on and leave the reply buffer as it was.
TEST_F(IoctlTest, EveryCommandPassesTheKernelsErrorOnAndWritesNothing) {
  ScopedFd opath(::openat(dir_fd(), "file", O_PATH | O_CLOEXEC));
  ASSERT_TRUE(opath.valid());
  const std::vector<uint8_t> in(64, 0);
  for (uint32_t cmd :
       {static_cast<uint32_t>(FS_IOC_FSGETXATTR), static_cast<uint32_t>(FS_IOC_FSSETXATTR),
        static_cast<uint32_t>(FS_IOC_GET_ENCRYPTION_POLICY_EX), kGetFlags32, kSetFlags32,
        kGetFlags64, kSetFlags64}) {
    SCOPED_TRACE(::testing::Message() << std::hex << "cmd 0x" << cmd);
    std::vector<uint8_t> out(64, 0xAA);
    auto r = dispatch_ioctl(opath.get(), cmd, in, out);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error(), EBADF);
    EXPECT_EQ(out, std::vector<uint8_t>(64, 0xAA));
  }
}

}  // namespace
}  // namespace pfs::passthrough
