// Every opcode decodes to the right FileSystem call and its reply encodes right.
#include <fcntl.h>

#include "core/tests/server_test_support.h"

namespace pfs::fuse::testing {
namespace {

using transport::memory::RequestBuilder;

std::span<const uint8_t> bytes(std::string_view s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

class ServerOpsTest : public ServerFixture {};

void expect_entry(const fuse_entry_out& o, const Entry& e) {
  EXPECT_EQ(o.nodeid, e.inode);
  EXPECT_EQ(o.generation, e.generation);
  EXPECT_EQ(o.entry_valid, e.entry_timeout.sec);
  EXPECT_EQ(o.entry_valid_nsec, e.entry_timeout.nsec);
  EXPECT_EQ(o.attr_valid, e.attr_timeout.sec);
  EXPECT_EQ(o.attr_valid_nsec, e.attr_timeout.nsec);
  EXPECT_EQ(o.attr.ino, e.attr.st_ino);
  EXPECT_EQ(o.attr.mode, e.attr.st_mode);
  EXPECT_EQ(o.attr.size, static_cast<uint64_t>(e.attr.st_size));
  EXPECT_EQ(o.attr.nlink, e.attr.st_nlink);
  EXPECT_EQ(o.attr.uid, e.attr.st_uid);
  EXPECT_EQ(o.attr.gid, e.attr.st_gid);
  EXPECT_EQ(o.attr.mtime, static_cast<uint64_t>(e.attr.st_mtim.tv_sec));
  EXPECT_EQ(o.attr.mtimensec, e.attr.st_mtim.tv_nsec);
}

TEST_F(ServerOpsTest, LookupPassesContextAndEncodesEntryOut) {
  const Reply r = s_.run(req::lookup(1, "file.txt", test_ctx(11)));
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r.well_formed());
  EXPECT_EQ(r.header.unique, 11u);
  EXPECT_EQ(fs_.last(), "lookup 1 file.txt");
  EXPECT_EQ(fs_.last_ctx.uid, 1000u);
  EXPECT_EQ(fs_.last_ctx.gid, 1001u);
  EXPECT_EQ(fs_.last_ctx.pid, 4242u);
  EXPECT_EQ(fs_.last_ctx.unique, 11u);
  auto e = r.as<fuse_entry_out>();
  ASSERT_TRUE(e);
  expect_entry(*e, fs_.entry);
  EXPECT_TRUE(fs_.names_terminated);
}

TEST_F(ServerOpsTest, ErrorsFromTheFsAreSixteenByteReplies) {
  fs_.fail = ENOENT;
  expect_error(s_.run(req::lookup(1, "nope", test_ctx(12))), ENOENT, 12);
  fs_.fail = 600;  // out of the kernel's accepted range
  expect_error(s_.run(req::lookup(1, "nope", test_ctx(13))), EIO, 13);
  EXPECT_EQ(bad_reports_, 0) << "FS errors are not bad requests";
}

TEST_F(ServerOpsTest, ForgetAndBatchForgetHaveNoReply) {
  Reply r = s_.run(req::forget(55, 3));
  EXPECT_FALSE(r.replied);
  EXPECT_EQ(fs_.last(), "forget 55 3");
  const std::vector<std::pair<Inode, uint64_t>> items{{5, 1}, {6, 2}, {7, 3}};
  r = s_.run(req::batch_forget(items));
  EXPECT_FALSE(r.replied);
  EXPECT_EQ(fs_.last(), "batch_forget 3  5:1 6:2 7:3");
}

TEST_F(ServerOpsTest, BatchForgetOfManyEntriesIsChunked) {
  std::vector<std::pair<Inode, uint64_t>> items;
  for (Inode i = 0; i < 300; ++i) items.emplace_back(i + 10, 1);
  EXPECT_FALSE(s_.run(req::batch_forget(items)).replied);
  ASSERT_EQ(fs_.calls.size(), 3u);
  EXPECT_EQ(fs_.calls[0].rfind("batch_forget 128 ", 0), 0u);
  EXPECT_EQ(fs_.calls[2].rfind("batch_forget 44 ", 0), 0u);
}

TEST_F(ServerOpsTest, InterruptHasNoReply) {
  EXPECT_FALSE(s_.run(req::interrupt(5)).replied);
  EXPECT_TRUE(fs_.calls.empty());
}

TEST_F(ServerOpsTest, GetattrWithAndWithoutHandle) {
  Reply r = s_.run(req::getattr(9, std::nullopt, test_ctx(3)));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(fs_.last(), "getattr 9 none");
  auto a = r.as<fuse_attr_out>();
  ASSERT_TRUE(a);
  EXPECT_EQ(a->attr_valid, 2u);
  EXPECT_EQ(a->attr_valid_nsec, 500u);
  EXPECT_EQ(a->attr.ino, fs_.attr.attr.st_ino);
  r = s_.run(req::getattr(9, Handle{77}));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(fs_.last(), "getattr 9 77");
}

TEST_F(ServerOpsTest, SetattrDecodesEveryField) {
  fuse_setattr_in in{};
  in.valid = FATTR_MODE | FATTR_SIZE | FATTR_FH | FATTR_ATIME | FATTR_MTIME;
  in.fh = 31;
  in.size = 4096;
  in.atime = 100;
  in.atimensec = 5;
  in.mtime = static_cast<uint64_t>(-2);
  in.mtimensec = 6;
  in.mode = 0600;
  in.uid = 7;
  in.gid = 8;
  const Reply r = s_.run(req::setattr(4, in));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(fs_.last(), "setattr 4 " + std::to_string(in.valid) + " 384 7 8 4096 100 5 -2 6 31");
  EXPECT_TRUE(r.as<fuse_attr_out>());
}

TEST_F(ServerOpsTest, ReadlinkRepliesTheTargetWithoutNul) {
  const Reply r = s_.run(req::readlink(8));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(fs_.last(), "readlink 8 4096");
  EXPECT_EQ(r.payload_string(), fs_.link_target);
}

TEST_F(ServerOpsTest, CreatingOpsDecodeNamesAndModes) {
  Reply r = s_.run(req::symlink(1, "lnk", "../some/target"));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(fs_.last(), "symlink ../some/target 1 lnk []");
  EXPECT_TRUE(r.as<fuse_entry_out>());

  r = s_.run(req::mknod(2, "fifo", S_IFIFO | 0640, 0x0801, 022));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(fs_.last(), "mknod 2 fifo " + std::to_string(S_IFIFO | 0640) + " 2049 18 []");

  r = s_.run(req::mkdir(3, "dir", 0755, 077));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(fs_.last(), "mkdir 3 dir 493 63 []");
  expect_entry(*r.as<fuse_entry_out>(), fs_.entry);

  r = s_.run(req::link(44, 5, "hard"));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(fs_.last(), "link 44 5 hard");
  EXPECT_TRUE(fs_.names_terminated);
}

TEST_F(ServerOpsTest, CreateAndTmpfileEncodeEntryAndOpen) {
  Reply r = s_.run(req::create(1, "new", 0644, O_RDWR | O_CREAT, 022));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(fs_.last(), "create 1 new 420 " + std::to_string(O_RDWR | O_CREAT) + " 18 []");
  ASSERT_EQ(r.payload.size(), sizeof(fuse_entry_out) + sizeof(fuse_open_out));
  expect_entry(*r.at<fuse_entry_out>(0), fs_.entry);
  auto o = r.at<fuse_open_out>(sizeof(fuse_entry_out));
  EXPECT_EQ(o->fh, 0x1234u);
  EXPECT_EQ(o->open_flags, uint32_t{FOPEN_KEEP_CACHE});

  r = s_.run(req::tmpfile(1, 0600, O_RDWR));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(fs_.last(), "tmpfile 1 384 " + std::to_string(O_RDWR) + " 0 []");
  EXPECT_EQ(r.payload.size(), sizeof(fuse_entry_out) + sizeof(fuse_open_out));
}

TEST_F(ServerOpsTest, RemovalAndRename) {
  ASSERT_TRUE(s_.run(req::unlink(1, "a")).ok());
  EXPECT_EQ(fs_.last(), "unlink 1 a");
  ASSERT_TRUE(s_.run(req::rmdir(1, "d")).ok());
  EXPECT_EQ(fs_.last(), "rmdir 1 d");
  Reply r = s_.run(req::rename(1, "old", 2, "new"));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.size, sizeof(fuse_out_header));
  EXPECT_EQ(fs_.last(), "rename 1 old 2 new 0");
  ASSERT_TRUE(s_.run(req::rename2(3, "x", 4, "y", RENAME_EXCHANGE)).ok());
  EXPECT_EQ(fs_.last(), "rename 3 x 4 y 2");
  EXPECT_TRUE(fs_.names_terminated);
}

TEST_F(ServerOpsTest, OpenReadWriteRelease) {
  Reply r = s_.run(req::open(6, O_RDWR));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(fs_.last(), "open 6 2");
  EXPECT_EQ(r.as<fuse_open_out>()->fh, 0x1234u);

  r = s_.run(req::read(6, 0x1234, 7, 100, O_RDWR, test_ctx(21)));
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r.well_formed());
  EXPECT_EQ(r.header.unique, 21u);
  EXPECT_EQ(fs_.last(), "read 6 4660 100 7 2");
  EXPECT_EQ(r.payload_string(), "world");

  r = s_.run(req::write(6, 0x1234, 3, bytes("payload"), FUSE_WRITE_CACHE, O_WRONLY));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(fs_.last(), "write 6 4660 7 3 1 1 7");
  EXPECT_EQ(fs_.written, "payload");
  EXPECT_EQ(r.as<fuse_write_out>()->size, 7u);

  r = s_.run(req::release(6, 0x1234, O_RDWR, FUSE_RELEASE_FLUSH, 88));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(fs_.last(), "release 6 2 4660 1 0 88");
  r = s_.run(req::release(6, 0x1234, O_RDWR, 0, 88));
  EXPECT_EQ(fs_.last(), "release 6 2 4660 0 0 none");
}

TEST_F(ServerOpsTest, ReadErrorIsASixteenByteReply) {
  fs_.fail = EBADF;
  expect_error(s_.run(req::read(6, 999, 0, 10, 0, test_ctx(5))), EBADF, 5);
}

TEST_F(ServerOpsTest, StatfsEncodesKstatfs) {
  const Reply r = s_.run(req::statfs(1));
  ASSERT_TRUE(r.ok());
  auto st = r.as<fuse_statfs_out>();
  ASSERT_TRUE(st);
  EXPECT_EQ(st->st.blocks, 1000u);
  EXPECT_EQ(st->st.bfree, 500u);
  EXPECT_EQ(st->st.bavail, 400u);
  EXPECT_EQ(st->st.files, 300u);
  EXPECT_EQ(st->st.ffree, 200u);
  EXPECT_EQ(st->st.bsize, 4096u);
  EXPECT_EQ(st->st.frsize, 512u);
  EXPECT_EQ(st->st.namelen, 255u);
}

TEST_F(ServerOpsTest, SyncFlushAccessFallocateSyncfs) {
  ASSERT_TRUE(s_.run(req::fsync(6, 9, true)).ok());
  EXPECT_EQ(fs_.last(), "fsync 6 1 9");
  ASSERT_TRUE(s_.run(req::fsyncdir(6, 9, false)).ok());
  EXPECT_EQ(fs_.last(), "fsyncdir 6 0 9");
  ASSERT_TRUE(s_.run(req::flush(6, 9, 1234)).ok());
  EXPECT_EQ(fs_.last(), "flush 6 9 1234");
  ASSERT_TRUE(s_.run(req::access(6, R_OK | W_OK)).ok());
  EXPECT_EQ(fs_.last(), "access 6 6");
  ASSERT_TRUE(s_.run(req::fallocate(6, 9, 1, 100, 200)).ok());
  EXPECT_EQ(fs_.last(), "fallocate 6 9 1 100 200");
  ASSERT_TRUE(s_.run(req::syncfs(1)).ok());
  EXPECT_EQ(fs_.last(), "syncfs 1");
}

TEST_F(ServerOpsTest, SetxattrBothLayouts) {
  // SETXATTR_EXT is negotiated by the fixture's INIT: the 16-byte layout.
  ASSERT_TRUE(server_.negotiated_flags() & FUSE_SETXATTR_EXT);
  ASSERT_TRUE(s_.run(req::setxattr(5, "user.k", std::string_view("v\0al", 4), 1, true)).ok());
  EXPECT_EQ(fs_.last(), std::string("setxattr 5 user.k v\0al 1", 24));

  RecordingFs fs2;
  Server server2(fs2);
  Session s2(server2);
  ASSERT_TRUE(s2.init(transport::memory::kLinuxInitFlags & ~uint64_t{FUSE_SETXATTR_EXT}).ok());
  ASSERT_FALSE(server2.negotiated_flags() & FUSE_SETXATTR_EXT);
  ASSERT_TRUE(s2.run(req::setxattr(5, "user.k", "val", 2, false)).ok());
  EXPECT_EQ(fs2.last(), "setxattr 5 user.k val 2");
  // The 16-byte layout to a server expecting 8 bytes: the zero setxattr_flags
  // and padding land in the name, which then has a NUL inside its extent.
  expect_error(s2.run(req::setxattr(5, "user.k", "val", 2, true, test_ctx(4))), EINVAL, 4);
}

TEST_F(ServerOpsTest, GetxattrSizeQueryAndValue) {
  Reply r = s_.run(req::getxattr(5, "user.k", 0));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(fs_.last(), "getxattr 5 user.k 0");
  EXPECT_EQ(r.as<fuse_getxattr_out>()->size, fs_.xattr_value.size());
  r = s_.run(req::getxattr(5, "user.k", 100));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(fs_.last(), "getxattr 5 user.k 100");
  EXPECT_EQ(r.payload_string(), fs_.xattr_value);
  expect_error(s_.run(req::getxattr(5, "user.k", 3, test_ctx(6))), ERANGE, 6);
  // Asking for more than any value can hold is clamped to XATTR_SIZE_MAX.
  r = s_.run(req::getxattr(5, "user.k", 200000));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(fs_.last(), "getxattr 5 user.k 65536");
}

// The value may fill the reply buffer to its last byte, and no more.
TEST_F(ServerOpsTest, GetxattrValueUpToTheReplyBufferEnd) {
  const size_t value = fs_.xattr_value.size();
  Session exact(server_, sizeof(fuse_out_header) + value);
  const Reply r = exact.run(req::getxattr(5, "user.k", 4096));
  ASSERT_TRUE(r.ok()) << r.error();
  EXPECT_EQ(fs_.last(), "getxattr 5 user.k " + std::to_string(value));
  EXPECT_EQ(r.payload_string(), fs_.xattr_value);
  Session short_by_one(server_, sizeof(fuse_out_header) + value - 1);
  expect_error(short_by_one.run(req::getxattr(5, "user.k", 4096, test_ctx(3))), ERANGE, 3);
}

// A FileSystem answering a longer value than the buffer it was given cannot make
// the reply carry bytes past that buffer.
TEST(ServerXattrTest, SizeOverTheBufferFromTheFsIsErange) {
  struct OverclaimingFs : RecordingFs {
    Result<size_t> getxattr(const Context&, Inode, std::string_view,
                            std::span<uint8_t> value) override {
      return value.empty() ? size_t{4} : value.size() + 1;
    }
    Result<size_t> listxattr(const Context&, Inode, std::span<uint8_t> list) override {
      return list.empty() ? size_t{4} : list.size() + 1;
    }
  } fs;
  Server server(fs);
  Session s(server);
  ASSERT_TRUE(s.init().ok());
  expect_error(s.run(req::getxattr(5, "user.k", 100, test_ctx(1))), ERANGE, 1);
  expect_error(s.run(req::listxattr(5, 100, test_ctx(2))), ERANGE, 2);
  const Reply q = s.run(req::getxattr(5, "user.k", 0));
  ASSERT_TRUE(q.ok());
  EXPECT_EQ(q.as<fuse_getxattr_out>()->size, 4u);
}

TEST_F(ServerOpsTest, ListxattrAndRemovexattr) {
  Reply r = s_.run(req::listxattr(5, 0));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.as<fuse_getxattr_out>()->size, fs_.xattr_list.size());
  r = s_.run(req::listxattr(5, 4096));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.payload_string(), fs_.xattr_list);
  ASSERT_TRUE(s_.run(req::removexattr(5, "user.gone")).ok());
  EXPECT_EQ(fs_.last(), "removexattr 5 user.gone");
}

TEST_F(ServerOpsTest, OpendirReleasedir) {
  Reply r = s_.run(req::opendir(1, O_RDONLY | O_DIRECTORY));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(fs_.last(), "opendir 1 " + std::to_string(O_RDONLY | O_DIRECTORY));
  EXPECT_TRUE(r.as<fuse_open_out>());
  ASSERT_TRUE(s_.run(req::releasedir(1, 0x1234, 5)).ok());
  EXPECT_EQ(fs_.last(), "releasedir 1 5 4660");
}

TEST_F(ServerOpsTest, LocksEncodeLkOut) {
  const fuse_file_lock lk{1, 2, F_WRLCK, 77};
  Reply r = s_.run(req::getlk(6, 9, 0xabc, lk));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(fs_.last(), "getlk 6 9 2748 1 2 1 77");
  auto out = r.as<fuse_lk_out>();
  ASSERT_TRUE(out);
  EXPECT_EQ(out->lk.start, 10u);
  EXPECT_EQ(out->lk.end, 20u);
  EXPECT_EQ(out->lk.type, 1u);
  EXPECT_EQ(out->lk.pid, 99u);
  ASSERT_TRUE(s_.run(req::setlk(6, 9, 0xabc, lk, false)).ok());
  EXPECT_EQ(fs_.last(), "setlk 6 9 2748 1 2 1 77 0");
  ASSERT_TRUE(s_.run(req::setlk(6, 9, 0xabc, lk, true)).ok());
  EXPECT_EQ(fs_.last(), "setlk 6 9 2748 1 2 1 77 1");
}

TEST_F(ServerOpsTest, FlockRequestsAreRefused) {
  const fuse_file_lock lk{0, UINT64_MAX, F_WRLCK, 1};
  const Bytes b = RequestBuilder(FUSE_SETLK, 6, test_ctx(8))
                      .obj(fuse_lk_in{9, 1, lk, FUSE_LK_FLOCK, 0})
                      .finish();
  expect_error(s_.run(b), ENOSYS, 8);
  EXPECT_TRUE(fs_.calls.empty());
  const Bytes g = RequestBuilder(FUSE_GETLK, 6, test_ctx(9))
                      .obj(fuse_lk_in{9, 1, lk, FUSE_LK_FLOCK, 0})
                      .finish();
  expect_error(s_.run(g), ENOSYS, 9);
  EXPECT_TRUE(fs_.calls.empty()) << "a flock GETLK must not reach the FS as a POSIX lock";
}

TEST_F(ServerOpsTest, LseekBmapPollCopyFileRange) {
  Reply r = s_.run(req::lseek(6, 9, 10, SEEK_DATA));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(fs_.last(), "lseek 6 9 10 3");
  EXPECT_EQ(r.as<fuse_lseek_out>()->offset, 1010u);

  r = s_.run(req::bmap(6, 21, 512));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(fs_.last(), "bmap 6 512 21");
  EXPECT_EQ(r.as<fuse_bmap_out>()->block, 42u);
  fs_.fail = ENOTBLK;
  expect_error(s_.run(req::bmap(6, 21, 512, test_ctx(3))), ENOTBLK, 3);
  fs_.fail = 0;

  r = s_.run(req::poll(6, 9, 3, FUSE_POLL_SCHEDULE_NOTIFY, 0x7));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(fs_.last(), "poll 6 9 3 1 7");
  EXPECT_EQ(r.as<fuse_poll_out>()->revents, 5u);

  r = s_.run(req::copy_file_range(6, 9, 100, 7, 10, 200, 4096, 0));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(fs_.last(), "copy_file_range 6 9 100 7 10 200 4096 0");
  EXPECT_EQ(r.as<fuse_write_out>()->size, 4096u);
  // A length the reply cannot report is clamped.
  r = s_.run(req::copy_file_range(6, 9, 0, 7, 10, 0, uint64_t{1} << 40, 0));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.as<fuse_write_out>()->size, 0xfffff000u);
}

TEST_F(ServerOpsTest, IoctlPassesInAndOutAndEncodesIoctlOut) {
  const std::string in = "abcdefgh";
  fs_.ioctl_reply = IoctlReply{17, 4};
  const Reply r = s_.run(req::ioctl(6, 9, 0x80086601, 0xdead, bytes(in), 16, FUSE_IOCTL_DIR));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(fs_.last(), "ioctl 6 9 16 2148034049 57005 8 16");
  EXPECT_EQ(fs_.ioctl_in, in);
  ASSERT_EQ(r.payload.size(), sizeof(fuse_ioctl_out) + 4);
  auto out = r.at<fuse_ioctl_out>(0);
  EXPECT_EQ(out->result, 17);
  EXPECT_EQ(out->flags, 0u);
  EXPECT_EQ(out->in_iovs, 0u);
  EXPECT_EQ(out->out_iovs, 0u);
  EXPECT_EQ(std::string(r.payload.begin() + sizeof(fuse_ioctl_out), r.payload.end()), "abcd");
}

TEST_F(ServerOpsTest, DestroyThenInitAgain) {
  Reply r = s_.run(req::destroy());
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(fs_.destroyed, 1);
  EXPECT_FALSE(server_.initialized());
  expect_error(s_.run(req::getattr(1, std::nullopt, test_ctx(3))), EIO, 3);
  ASSERT_TRUE(s_.init().ok());
  expect_still_serving();
}

TEST_F(ServerOpsTest, UnknownAndUnsupportedOpcodesGetEnosys) {
  for (uint32_t op : {7u, 19u, uint32_t{FUSE_SETUPMAPPING}, uint32_t{FUSE_REMOVEMAPPING},
                      uint32_t{FUSE_NOTIFY_REPLY}, 52u, 4096u, 0xffffffffu}) {
    expect_error(s_.run(RequestBuilder(op, 1, test_ctx(op)).raw("xxxxxxxx").finish()), ENOSYS, op);
  }
  EXPECT_TRUE(fs_.calls.empty());
  expect_still_serving();
}

}  // namespace
}  // namespace pfs::fuse::testing
