// End-to-end: open handles, data I/O, attributes and directory listing, through
// encoded requests, checked against the host directory.
#include <dirent.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/falloc.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <map>
#include <set>
#include <string>
#include <vector>

#include "core/tests/passthrough_fixture.h"

namespace pfs::testing {
namespace {

using IoTest = PassthroughTest;

TEST_F(IoTest, CreateWriteReadFsyncRelease) {
  auto [ino, fh] = create_ok(fuse::kRootInode, "f");
  EXPECT_EQ(write_ok(ino, fh, 0, "hello "), 6u);
  EXPECT_EQ(write_ok(ino, fh, 6, "world"), 5u);
  EXPECT_EQ(read_host_file("f"), "hello world");
  EXPECT_EQ(read_ok(ino, fh, 0, 100), "hello world");
  EXPECT_EQ(read_ok(ino, fh, 6, 3), "wor");
  EXPECT_EQ(read_ok(ino, fh, 1000, 10), "") << "reading past EOF is empty, not an error";
  EXPECT_TRUE(run(req::fsync(ino, fh, false)).ok());
  EXPECT_TRUE(run(req::fsync(ino, fh, true)).ok());
  EXPECT_TRUE(run(req::flush(ino, fh)).ok());
  EXPECT_TRUE(run(req::release(ino, fh)).ok());
  EXPECT_EQ(run(req::release(ino, fh)).error(), EBADF) << "a handle is released once";
  EXPECT_EQ(run(req::read(ino, fh, 0, 10)).error(), EBADF);
  EXPECT_EQ(fs_->handles().size(), 0u);
}

// As pread(2): an offset beyond off_t is EINVAL whatever the size, even 0 bytes
// (which never reach the kernel).
TEST_F(IoTest, ReadAtAnOffsetBeyondOffTIsEinvalEvenForZeroBytes) {
  auto [ino, fh] = create_ok(fuse::kRootInode, "f");
  for (uint32_t size : {0u, 4u}) {
    EXPECT_EQ(run(req::read(ino, fh, uint64_t{1} << 63, size)).error(), EINVAL) << size;
  }
  EXPECT_TRUE(run(req::release(ino, fh)).ok());
}

// flush dups our fd and closes the copy: with fd 0 free the copy is fd 0, which
// must be closed again like any other.
TEST_F(IoTest, FlushClosesItsCopyEvenWhenTheCopyIsFdZero) {
  auto [ino, fh] = create_ok(fuse::kRootInode, "f");
  const int saved_stdin = ::fcntl(0, F_DUPFD_CLOEXEC, 3);
  ASSERT_GE(saved_stdin, 0);
  ::close(0);
  const bool flushed = run(req::flush(ino, fh)).ok();
  const bool zero_left_open = ::fcntl(0, F_GETFD) >= 0;
  ASSERT_EQ(::dup2(saved_stdin, 0), 0);
  ::close(saved_stdin);
  EXPECT_TRUE(flushed);
  EXPECT_FALSE(zero_left_open) << "the copy leaked as fd 0";
  EXPECT_TRUE(run(req::release(ino, fh)).ok());
}

TEST_F(IoTest, LargeWriteAndReadOfOneMebibyte) {
  std::string data(1 << 20, '\0');
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>((i * 7919) >> 3);
  auto [ino, fh] = create_ok(fuse::kRootInode, "big");
  EXPECT_EQ(write_ok(ino, fh, 0, data), data.size());
  EXPECT_EQ(read_host_file("big"), data);
  EXPECT_EQ(read_ok(ino, fh, 0, 1 << 20), data);
}

TEST_F(IoTest, OpenHonoursAccessModeAndTruncate) {
  write_host_file("f", "content");
  auto e = lookup_ok(fuse::kRootInode, "f");
  const fuse::Handle ro = open_ok(e.nodeid, O_RDONLY);
  EXPECT_EQ(run(req::write(e.nodeid, ro, 0, "x")).error(), EBADF);
  const fuse::Handle wo = open_ok(e.nodeid, O_WRONLY);
  EXPECT_EQ(run(req::read(e.nodeid, wo, 0, 4)).error(), EBADF);
  const fuse::Handle tr = open_ok(e.nodeid, O_RDWR | O_TRUNC);
  EXPECT_EQ(host_stat("f")->st_size, 0);
  const fuse::Handle ap = open_ok(e.nodeid, O_WRONLY | O_APPEND);
  write_ok(e.nodeid, ap, 0, "A");
  write_ok(e.nodeid, ap, 0, "B");
  EXPECT_EQ(read_host_file("f"), "AB") << "O_APPEND appends whatever the offset";
  for (auto h : {ro, wo, tr, ap}) EXPECT_TRUE(run(req::release(e.nodeid, h)).ok());
}

TEST_F(IoTest, SetattrModeOwnerSizeAndTimesByPath) {
  write_host_file("f", "0123456789");
  auto e = lookup_ok(fuse::kRootInode, "f");
  fuse_setattr_in in{};
  in.valid = FATTR_MODE;
  in.mode = S_IFREG | 0600;
  auto r = run(req::setattr(e.nodeid, in));
  ASSERT_TRUE(r.ok()) << r.error();
  EXPECT_EQ(host_stat("f")->st_mode & 07777, 0600u);
  EXPECT_EQ(r.as<fuse_attr_out>()->attr.mode & 07777, 0600u);

  in = {};
  in.valid = FATTR_UID | FATTR_GID;
  in.uid = 1111;
  in.gid = 2222;
  ASSERT_TRUE(run(req::setattr(e.nodeid, in)).ok());
  EXPECT_EQ(host_stat("f")->st_uid, 1111u);
  EXPECT_EQ(host_stat("f")->st_gid, 2222u);

  in = {};
  in.valid = FATTR_GID;
  in.gid = 3333;
  ASSERT_TRUE(run(req::setattr(e.nodeid, in)).ok());
  EXPECT_EQ(host_stat("f")->st_uid, 1111u) << "an unset uid is left alone";
  EXPECT_EQ(host_stat("f")->st_gid, 3333u);

  in = {};
  in.valid = FATTR_SIZE;
  in.size = 4;
  ASSERT_TRUE(run(req::setattr(e.nodeid, in)).ok());
  EXPECT_EQ(read_host_file("f"), "0123");

  in = {};
  in.valid = FATTR_ATIME | FATTR_MTIME;
  in.atime = 1000000000;
  in.atimensec = 5;
  in.mtime = 1200000000;
  in.mtimensec = 7;
  ASSERT_TRUE(run(req::setattr(e.nodeid, in)).ok());
  auto st = host_stat("f");
  EXPECT_EQ(st->st_atim.tv_sec, 1000000000);
  EXPECT_EQ(st->st_atim.tv_nsec, 5);
  EXPECT_EQ(st->st_mtim.tv_sec, 1200000000);
  EXPECT_EQ(st->st_mtim.tv_nsec, 7);

  in = {};
  in.valid = FATTR_MTIME | FATTR_MTIME_NOW;
  ASSERT_TRUE(run(req::setattr(e.nodeid, in)).ok());
  EXPECT_GT(host_stat("f")->st_mtim.tv_sec, 1200000000);
  EXPECT_EQ(host_stat("f")->st_atim.tv_sec, 1000000000) << "atime omitted";
}

TEST_F(IoTest, SetattrThroughAHandle) {
  auto [ino, fh] = create_ok(fuse::kRootInode, "f");
  write_ok(ino, fh, 0, "abcdef");
  fuse_setattr_in in{};
  in.valid = FATTR_SIZE | FATTR_FH | FATTR_MODE;
  in.fh = fh;
  in.size = 2;
  in.mode = S_IFREG | 0604;
  ASSERT_TRUE(run(req::setattr(ino, in)).ok());
  EXPECT_EQ(read_host_file("f"), "ab");
  EXPECT_EQ(host_stat("f")->st_mode & 07777, 0604u);
  in.fh = fh + 1000;
  EXPECT_EQ(run(req::setattr(ino, in)).error(), EBADF);
  in = {};
  in.valid = FATTR_ATIME | FATTR_FH;
  in.fh = fh;
  in.atime = 12345;
  ASSERT_TRUE(run(req::setattr(ino, in)).ok());
  EXPECT_EQ(host_stat("f")->st_atim.tv_sec, 12345);
}

TEST_F(IoTest, GetattrMatchesHostStat) {
  write_host_file("f", "abc", 0751);
  auto e = lookup_ok(fuse::kRootInode, "f");
  auto a = getattr_ok(e.nodeid);
  auto st = host_stat("f");
  EXPECT_EQ(a.attr.ino, st->st_ino);
  EXPECT_EQ(a.attr.size, 3u);
  EXPECT_EQ(a.attr.mode, st->st_mode);
  EXPECT_EQ(a.attr.nlink, st->st_nlink);
  EXPECT_EQ(a.attr.uid, st->st_uid);
  EXPECT_EQ(a.attr.mtime, static_cast<uint64_t>(st->st_mtim.tv_sec));
  EXPECT_EQ(a.attr.mtimensec, static_cast<uint32_t>(st->st_mtim.tv_nsec));
  EXPECT_EQ(a.attr_valid, 5u);
}

TEST_F(IoTest, StatfsReportsTheHostFileSystem) {
  auto r = run(req::statfs(fuse::kRootInode));
  ASSERT_TRUE(r.ok());
  auto out = r.as<fuse_statfs_out>();
  ASSERT_TRUE(out);
  struct statvfs host {};
  ASSERT_EQ(::statvfs(dir_.path().c_str(), &host), 0);
  EXPECT_EQ(out->st.bsize, host.f_bsize);
  EXPECT_EQ(out->st.blocks, host.f_blocks);
  EXPECT_EQ(out->st.namelen, host.f_namemax);
}

TEST_F(IoTest, AccessFollowsTheSeedRule) {
  write_host_file("f", "", 0640);
  ASSERT_EQ(::chown(host("f").c_str(), 1000, 100), 0);
  auto e = lookup_ok(fuse::kRootInode, "f");
  auto as = [](uint32_t uid, uint32_t gid) {
    fuse::Context c = mem::default_context();
    c.uid = uid;
    c.gid = gid;
    return c;
  };
  EXPECT_TRUE(run(req::access(e.nodeid, F_OK, as(5, 5))).ok());
  EXPECT_TRUE(run(req::access(e.nodeid, R_OK | W_OK, as(1000, 1))).ok()) << "owner";
  EXPECT_EQ(run(req::access(e.nodeid, X_OK, as(1000, 1))).error(), EACCES);
  EXPECT_TRUE(run(req::access(e.nodeid, R_OK, as(2000, 100))).ok()) << "group read";
  EXPECT_EQ(run(req::access(e.nodeid, W_OK, as(2000, 100))).error(), EACCES);
  EXPECT_EQ(run(req::access(e.nodeid, R_OK, as(2000, 200))).error(), EACCES) << "other";
  EXPECT_TRUE(run(req::access(e.nodeid, R_OK | W_OK, as(0, 0))).ok()) << "root reads/writes";
  EXPECT_EQ(run(req::access(e.nodeid, X_OK, as(0, 0))).error(), EACCES) << "root needs some x bit";
  ASSERT_EQ(::chmod(host("f").c_str(), 0641), 0);
  EXPECT_TRUE(run(req::access(e.nodeid, X_OK, as(0, 0))).ok());
}

TEST_F(IoTest, FallocateLseekAndCopyFileRange) {
  auto [ino, fh] = create_ok(fuse::kRootInode, "src");
  EXPECT_TRUE(run(req::fallocate(ino, fh, 0, 0, 1 << 16)).ok());
  EXPECT_EQ(host_stat("src")->st_size, 1 << 16);
  EXPECT_TRUE(run(req::fallocate(ino, fh, FALLOC_FL_KEEP_SIZE, 1 << 16, 4096)).ok());
  EXPECT_EQ(host_stat("src")->st_size, 1 << 16);
  EXPECT_EQ(run(req::fallocate(ino, fh, 0xff00, 0, 10)).error(), EOPNOTSUPP);

  // A file with data at 1 MiB and a hole before it.
  auto [sparse, sfh] = create_ok(fuse::kRootInode, "sparse");
  write_ok(sparse, sfh, 1 << 20, "tail");
  auto data = run(req::lseek(sparse, sfh, 0, SEEK_DATA));
  ASSERT_TRUE(data.ok()) << data.error();
  EXPECT_EQ(data.as<fuse_lseek_out>()->offset, 1u << 20);
  auto hole = run(req::lseek(sparse, sfh, 0, SEEK_HOLE));
  ASSERT_TRUE(hole.ok());
  EXPECT_EQ(hole.as<fuse_lseek_out>()->offset, 0u);
  EXPECT_EQ(run(req::lseek(sparse, sfh, 10u << 20, SEEK_DATA)).error(), ENXIO);

  write_ok(ino, fh, 0, "copy me please");
  auto [dst, dfh] = create_ok(fuse::kRootInode, "dst");
  auto c = run(req::copy_file_range(ino, fh, 5, dst, dfh, 2, 2));
  ASSERT_TRUE(c.ok()) << c.error();
  EXPECT_EQ(c.as<fuse_write_out>()->size, 2u);
  EXPECT_EQ(read_host_file("dst"), std::string("\0\0me", 4));
  EXPECT_EQ(run(req::copy_file_range(ino, fh, 0, dst, dfh, 0, 4, 1)).error(), EINVAL);
  EXPECT_EQ(run(req::copy_file_range(ino, dfh, 0, dst, fh, 0, 4)).error(), EBADF)
      << "handles swapped between inodes";
}

TEST_F(IoTest, SyncfsAndFsyncdir) {
  EXPECT_TRUE(run(req::syncfs(fuse::kRootInode)).ok());
  const fuse::Handle dh = opendir_ok(fuse::kRootInode);
  EXPECT_TRUE(run(req::fsyncdir(fuse::kRootInode, dh, false)).ok());
  EXPECT_TRUE(run(req::releasedir(fuse::kRootInode, dh)).ok());
}

// Reads a whole directory in chunks of `size` bytes, resuming at each last offset.
std::vector<mem::Dirent> read_all(mem::Session& session, fuse::Inode dir, fuse::Handle fh,
                                  uint32_t size, bool plus, int* calls) {
  std::vector<mem::Dirent> all;
  uint64_t off = 0;
  for (*calls = 0; *calls < 100000; ++*calls) {
    auto r =
        session.run(plus ? req::readdirplus(dir, fh, off, size) : req::readdir(dir, fh, off, size));
    EXPECT_TRUE(r.ok()) << r.error();
    if (!r.ok()) break;
    std::vector<mem::Dirent> got;
    if (plus) {
      auto p = r.direntplus();
      EXPECT_TRUE(p.has_value());
      for (auto& d : p.value_or(std::vector<mem::DirentPlus>{})) got.push_back(d.dirent);
    } else {
      got = r.dirents().value_or(std::vector<mem::Dirent>{});
    }
    if (got.empty()) break;
    off = got.back().off;
    all.insert(all.end(), got.begin(), got.end());
  }
  return all;
}

class ReaddirTest : public PassthroughTest,
                    public ::testing::WithParamInterface<std::tuple<bool, uint32_t>> {};

TEST_P(ReaddirTest, ManyEntriesListedExactlyOnceAcrossOffsets) {
  const auto [plus, size] = GetParam();
  ASSERT_EQ(::mkdir(host("d").c_str(), 0755), 0);
  std::set<std::string> expected{".", ".."};
  for (int i = 0; i < 1500; ++i) {
    const std::string name = "entry-" + std::to_string(i) + std::string(i % 40, 'x');
    write_host_file("d/" + name, "");
    expected.insert(name);
  }
  ASSERT_EQ(::mkdir(host("d/subdir").c_str(), 0755), 0);
  expected.insert("subdir");
  auto d = lookup_ok(fuse::kRootInode, "d");
  const fuse::Handle fh = opendir_ok(d.nodeid);
  int calls = 0;
  auto all = read_all(*session_, d.nodeid, fh, size, plus, &calls);
  std::multiset<std::string> seen;
  for (auto& e : all) seen.insert(e.name);
  EXPECT_EQ(seen.size(), expected.size()) << "no duplicates, nothing lost";
  EXPECT_EQ(std::set<std::string>(seen.begin(), seen.end()), expected);
  EXPECT_GT(calls, size < 8192 ? 10 : 0);
  for (auto& e : all) {
    if (e.name == "subdir") {
      EXPECT_EQ(e.type, static_cast<uint32_t>(DT_DIR));
    } else if (e.name.rfind("entry-", 0) == 0) {
      EXPECT_EQ(e.type, static_cast<uint32_t>(DT_REG));
    }
  }
  EXPECT_TRUE(run(req::releasedir(d.nodeid, fh)).ok());
  if (plus) {
    // READDIRPLUS looked every entry up: one reference each, none leaked by
    // entries that did not fit a reply.
    for (const auto& name : {"entry-7xxxxxxx", "subdir"}) {
      auto st = host_stat(std::string("d/") + name);
      ASSERT_TRUE(st);
      auto e = lookup_ok(d.nodeid, name);
      EXPECT_EQ(refcount(e.nodeid), 2u) << name;
    }
  }
  expect_tables_consistent();
}

INSTANTIATE_TEST_SUITE_P(SizesAndPlus, ReaddirTest,
                         ::testing::Combine(::testing::Bool(),
                                            ::testing::Values(512u, 4096u, 65536u)));

TEST_F(IoTest, ReaddirplusEntriesCarryAttributes) {
  write_host_file("file", "12345");
  auto fh = opendir_ok(fuse::kRootInode);
  auto r = run(req::readdirplus(fuse::kRootInode, fh, 0, 4096));
  ASSERT_TRUE(r.ok());
  auto entries = r.direntplus();
  ASSERT_TRUE(entries);
  bool found = false;
  for (auto& e : *entries) {
    if (e.dirent.name == "file") {
      found = true;
      EXPECT_NE(e.entry.nodeid, 0u);
      EXPECT_EQ(e.entry.attr.size, 5u);
      EXPECT_EQ(e.entry.attr.ino, host_stat("file")->st_ino);
    } else {
      EXPECT_EQ(e.entry.nodeid, 0u) << e.dirent.name << " carries no entry";
    }
  }
  EXPECT_TRUE(found);
}

class ReadonlyTest : public PassthroughTest {
 protected:
  ReadonlyTest() { cfg_.readonly = true; }
};

TEST_F(ReadonlyTest, EveryWriteIsRefusedWithErofs) {
  write_host_file("f", "keep");
  ASSERT_EQ(::mkdir(host("d").c_str(), 0755), 0);
  auto f = lookup_ok(fuse::kRootInode, "f");
  auto d = lookup_ok(fuse::kRootInode, "d");
  EXPECT_EQ(run(req::open(f.nodeid, O_WRONLY)).error(), EROFS);
  EXPECT_EQ(run(req::open(f.nodeid, O_RDWR)).error(), EROFS);
  EXPECT_EQ(run(req::open(f.nodeid, O_RDONLY | O_TRUNC)).error(), EROFS);
  const fuse::Handle ro = open_ok(f.nodeid, O_RDONLY);
  EXPECT_EQ(read_ok(f.nodeid, ro, 0, 10), "keep");
  EXPECT_EQ(run(req::write(f.nodeid, ro, 0, "x")).error(), EROFS);
  EXPECT_EQ(run(req::fallocate(f.nodeid, ro, 0, 0, 10)).error(), EROFS);
  EXPECT_EQ(run(req::create(fuse::kRootInode, "n", S_IFREG | 0644, O_RDWR)).error(), EROFS);
  EXPECT_EQ(run(req::mkdir(fuse::kRootInode, "n", 0755)).error(), EROFS);
  EXPECT_EQ(run(req::mknod(fuse::kRootInode, "n", S_IFIFO | 0644, 0)).error(), EROFS);
  EXPECT_EQ(run(req::symlink(fuse::kRootInode, "n", "t")).error(), EROFS);
  EXPECT_EQ(run(req::link(f.nodeid, fuse::kRootInode, "n")).error(), EROFS);
  EXPECT_EQ(run(req::unlink(fuse::kRootInode, "f")).error(), EROFS);
  EXPECT_EQ(run(req::rmdir(fuse::kRootInode, "d")).error(), EROFS);
  EXPECT_EQ(run(req::rename(fuse::kRootInode, "f", d.nodeid, "f")).error(), EROFS);
  EXPECT_EQ(run(req::tmpfile(fuse::kRootInode, S_IFREG | 0600, O_RDWR)).error(), EROFS);
  fuse_setattr_in in{};
  in.valid = FATTR_MODE;
  in.mode = 0777;
  EXPECT_EQ(run(req::setattr(f.nodeid, in)).error(), EROFS);
  EXPECT_EQ(run(req::setxattr(f.nodeid, "user.x", "v")).error(), EROFS);
  EXPECT_EQ(run(req::removexattr(f.nodeid, "user.x")).error(), EROFS);
  EXPECT_EQ(read_host_file("f"), "keep");
  EXPECT_EQ(host_stat("f")->st_mode & 07777, 0644u);
  EXPECT_TRUE(host_exists("d"));
  EXPECT_FALSE(host_exists("n"));
}

class CachePolicyTest : public PassthroughTest,
                        public ::testing::WithParamInterface<passthrough::CachePolicy> {
 protected:
  CachePolicyTest() { cfg_.cache_policy = GetParam(); }
};

TEST_P(CachePolicyTest, OpenFlagsFollowThePolicy) {
  write_host_file("f", "");
  auto f = lookup_ok(fuse::kRootInode, "f");
  auto file = run(req::open(f.nodeid, O_RDONLY)).as<fuse_open_out>();
  auto dir = run(req::opendir(fuse::kRootInode)).as<fuse_open_out>();
  ASSERT_TRUE(file && dir);
  switch (GetParam()) {
    case passthrough::CachePolicy::kNever:
      EXPECT_EQ(file->open_flags, static_cast<uint32_t>(FOPEN_DIRECT_IO));
      EXPECT_EQ(dir->open_flags, 0u);
      break;
    case passthrough::CachePolicy::kAuto:
      EXPECT_EQ(file->open_flags, 0u);
      EXPECT_EQ(dir->open_flags, 0u);
      break;
    case passthrough::CachePolicy::kAlways:
      EXPECT_EQ(file->open_flags, static_cast<uint32_t>(FOPEN_KEEP_CACHE));
      EXPECT_EQ(dir->open_flags, static_cast<uint32_t>(FOPEN_CACHE_DIR));
      break;
  }
}

INSTANTIATE_TEST_SUITE_P(Policies, CachePolicyTest,
                         ::testing::Values(passthrough::CachePolicy::kNever,
                                           passthrough::CachePolicy::kAuto,
                                           passthrough::CachePolicy::kAlways));

class WritebackTest : public PassthroughTest {
 protected:
  WritebackTest() { cfg_.writeback = true; }
};

TEST_F(WritebackTest, WriteOnlyOpensBecomeReadWriteAndAppendIsDropped) {
  EXPECT_TRUE(fs_->writeback_enabled());
  EXPECT_TRUE(server_->negotiated_flags() & FUSE_WRITEBACK_CACHE);
  write_host_file("f", "abc");
  auto f = lookup_ok(fuse::kRootInode, "f");
  const fuse::Handle wo = open_ok(f.nodeid, O_WRONLY | O_APPEND);
  EXPECT_EQ(read_ok(f.nodeid, wo, 0, 3), "abc") << "the kernel may read a write-only file";
  write_ok(f.nodeid, wo, 0, "X");
  EXPECT_EQ(read_host_file("f"), "Xbc") << "O_APPEND is the kernel's business";
}

TEST(WritebackOffTest, NotNegotiatedUnlessConfigured) {
  ScratchDir dir("pfs-e2e");
  passthrough::Config cfg;
  cfg.root_dir = dir.path();
  ServedTree tree;
  ASSERT_EQ(tree.open(cfg), "");
  EXPECT_FALSE(tree.server->negotiated_flags() & FUSE_WRITEBACK_CACHE);
  EXPECT_TRUE(tree.server->negotiated_flags() & FUSE_DO_READDIRPLUS);
  EXPECT_TRUE(tree.server->negotiated_flags() & FUSE_POSIX_ACL);
}

}  // namespace
}  // namespace pfs::testing
