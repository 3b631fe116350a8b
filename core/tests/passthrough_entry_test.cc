// End-to-end: operations that look up, add and remove names, through encoded
// requests, checked against the host directory.
#include <gtest/gtest.h>
#include <linux/fs.h>
#include <sys/stat.h>

#include <set>
#include <string>

#include "core/tests/passthrough_fixture.h"

namespace pfs::testing {
namespace {

using EntryTest = PassthroughTest;

TEST_F(EntryTest, LookupReturnsHostAttributesAndCountsReferences) {
  write_host_file("f", "hello", 0640);
  auto e = lookup_ok(fuse::kRootInode, "f");
  EXPECT_NE(e.nodeid, 0u);
  EXPECT_EQ(e.attr.size, 5u);
  EXPECT_EQ(e.attr.mode, S_IFREG | 0640);
  EXPECT_EQ(e.attr.ino, host_stat("f")->st_ino);
  EXPECT_EQ(e.entry_valid, 5u);
  EXPECT_EQ(e.attr_valid, 5u);
  EXPECT_EQ(refcount(e.nodeid), 1u);
  auto again = lookup_ok(fuse::kRootInode, "f");
  EXPECT_EQ(again.nodeid, e.nodeid);
  EXPECT_EQ(refcount(e.nodeid), 2u);

  EXPECT_FALSE(run(req::forget(e.nodeid, 1)).replied) << "FORGET has no reply";
  EXPECT_EQ(refcount(e.nodeid), 1u);
  run(req::forget(e.nodeid, 1));
  EXPECT_EQ(refcount(e.nodeid), 0u);
  EXPECT_EQ(run(req::getattr(e.nodeid)).error(), EBADF) << "a forgotten inode is gone";
  expect_tables_consistent();
}

TEST_F(EntryTest, LookupOfMissingNameIsEnoentAndTakesNoReference) {
  const size_t before = fs_->inodes().size();
  EXPECT_EQ(lookup_errno(fuse::kRootInode, "missing"), ENOENT);
  EXPECT_EQ(fs_->inodes().size(), before);
}

TEST_F(EntryTest, ForgetWithHugeCountAndBatchForgetSaturate) {
  write_host_file("a", "");
  write_host_file("b", "");
  auto a = lookup_ok(fuse::kRootInode, "a");
  lookup_ok(fuse::kRootInode, "a");
  auto b = lookup_ok(fuse::kRootInode, "b");
  lookup_ok(fuse::kRootInode, "b");
  lookup_ok(fuse::kRootInode, "b");
  run(req::forget(a.nodeid, UINT64_MAX));
  EXPECT_EQ(refcount(a.nodeid), 0u);
  const std::pair<fuse::Inode, uint64_t> items[] = {{b.nodeid, 2}, {424242, 7}};
  EXPECT_FALSE(run(req::batch_forget(items)).replied);
  EXPECT_EQ(refcount(b.nodeid), 1u);
  run(req::forget(fuse::kRootInode, UINT64_MAX));
  EXPECT_TRUE(getattr_ok(fuse::kRootInode).attr.mode & S_IFDIR) << "the root never goes";
  expect_tables_consistent();
}

TEST_F(EntryTest, MkdirMakesDirectoryWithModeOwnerAndNoLeftovers) {
  fuse::Context ctx = mem::default_context();
  ctx.uid = 1234;
  ctx.gid = 4321;
  auto r = run(req::mkdir(fuse::kRootInode, "d", 0775, 022, ctx));
  ASSERT_TRUE(r.ok()) << r.error();
  auto e = r.as<fuse_entry_out>();
  ASSERT_TRUE(e);
  auto st = host_stat("d");
  ASSERT_TRUE(st);
  EXPECT_TRUE(S_ISDIR(st->st_mode));
  EXPECT_EQ(st->st_mode & 07777, 0755u) << "umask applied";
  EXPECT_EQ(st->st_uid, 1234u);
  EXPECT_EQ(st->st_gid, 4321u);
  EXPECT_EQ(e->attr.ino, st->st_ino);
  // Nothing but "d" in the root: the temporary directory was renamed, not left.
  std::set<std::string> names;
  for (auto& ent : std::filesystem::directory_iterator(dir_.path())) {
    names.insert(ent.path().filename());
  }
  EXPECT_EQ(names, std::set<std::string>{"d"});
  EXPECT_EQ(run(req::mkdir(fuse::kRootInode, "d", 0700)).error(), EEXIST);
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir_.path()),
                          std::filesystem::directory_iterator()),
            1)
      << "a failed mkdir leaves no temporary directory";
}

TEST_F(EntryTest, MkdirInSetgidDirectoryInheritsGroup) {
  ASSERT_EQ(::mkdir(host("sg").c_str(), 02775), 0);
  ASSERT_EQ(::chown(host("sg").c_str(), 0, 777), 0);
  ASSERT_EQ(::chmod(host("sg").c_str(), 02775), 0);
  auto sg = lookup_ok(fuse::kRootInode, "sg");
  fuse::Context ctx = mem::default_context();
  ctx.uid = 1000;
  ctx.gid = 1000;
  ASSERT_TRUE(run(req::mkdir(sg.nodeid, "child", 0755, 0, ctx)).ok());
  EXPECT_EQ(host_stat("sg/child")->st_gid, 777u);
  EXPECT_EQ(host_stat("sg/child")->st_uid, 1000u);
}

TEST_F(EntryTest, RmdirAndUnlinkRemoveFromHost) {
  ASSERT_EQ(::mkdir(host("d").c_str(), 0755), 0);
  write_host_file("d/f", "x");
  auto d = lookup_ok(fuse::kRootInode, "d");
  EXPECT_EQ(run(req::rmdir(fuse::kRootInode, "d")).error(), ENOTEMPTY);
  EXPECT_EQ(run(req::rmdir(d.nodeid, "f")).error(), ENOTDIR);
  EXPECT_TRUE(run(req::unlink(d.nodeid, "f")).ok());
  EXPECT_FALSE(host_exists("d/f"));
  EXPECT_EQ(run(req::unlink(d.nodeid, "f")).error(), ENOENT);
  EXPECT_EQ(run(req::unlink(fuse::kRootInode, "d")).error(), EISDIR);
  EXPECT_TRUE(run(req::rmdir(fuse::kRootInode, "d")).ok());
  EXPECT_FALSE(host_exists("d"));
}

TEST_F(EntryTest, RenameAcrossDirectoriesAndRename2Flags) {
  ASSERT_EQ(::mkdir(host("a").c_str(), 0755), 0);
  ASSERT_EQ(::mkdir(host("b").c_str(), 0755), 0);
  write_host_file("a/x", "X");
  write_host_file("b/y", "Y");
  auto a = lookup_ok(fuse::kRootInode, "a");
  auto b = lookup_ok(fuse::kRootInode, "b");

  ASSERT_TRUE(run(req::rename(a.nodeid, "x", b.nodeid, "moved")).ok());
  EXPECT_FALSE(host_exists("a/x"));
  EXPECT_EQ(read_host_file("b/moved"), "X");

  EXPECT_EQ(run(req::rename2(b.nodeid, "moved", b.nodeid, "y", RENAME_NOREPLACE)).error(), EEXIST);
  EXPECT_EQ(read_host_file("b/y"), "Y");

  ASSERT_TRUE(run(req::rename2(b.nodeid, "moved", b.nodeid, "y", RENAME_EXCHANGE)).ok());
  EXPECT_EQ(read_host_file("b/y"), "X");
  EXPECT_EQ(read_host_file("b/moved"), "Y");

  EXPECT_EQ(run(req::rename2(b.nodeid, "nope", b.nodeid, "z", RENAME_EXCHANGE)).error(), ENOENT);
  EXPECT_EQ(run(req::rename2(b.nodeid, "y", b.nodeid, "z", 0x80)).error(), EINVAL);

  ASSERT_TRUE(run(req::rename(b.nodeid, "y", fuse::kRootInode, "top")).ok());
  EXPECT_EQ(read_host_file("top"), "X");
}

TEST_F(EntryTest, LinkSharesOneInodeEntryAndCountsLinks) {
  write_host_file("orig", "data");
  auto orig = lookup_ok(fuse::kRootInode, "orig");
  ASSERT_EQ(::mkdir(host("sub").c_str(), 0755), 0);
  auto sub = lookup_ok(fuse::kRootInode, "sub");
  auto r = run(req::link(orig.nodeid, sub.nodeid, "hard"));
  ASSERT_TRUE(r.ok()) << r.error();
  auto e = r.as<fuse_entry_out>();
  ASSERT_TRUE(e);
  EXPECT_EQ(e->nodeid, orig.nodeid) << "two names, one inode entry";
  EXPECT_EQ(e->attr.nlink, 2u);
  EXPECT_EQ(refcount(orig.nodeid), 2u);
  EXPECT_EQ(host_stat("sub/hard")->st_ino, host_stat("orig")->st_ino);
  EXPECT_EQ(run(req::link(orig.nodeid, sub.nodeid, "hard")).error(), EEXIST);
  expect_tables_consistent();
}

TEST_F(EntryTest, SymlinkAndReadlinkStoreTheTargetWithoutFollowing) {
  // symlink runs with the caller's credentials, so the caller needs write access.
  ASSERT_EQ(::chmod(dir_.path().c_str(), 0777), 0);
  fuse::Context ctx = mem::default_context();
  ctx.uid = 2000;
  ctx.gid = 2001;
  auto r = run(req::symlink(fuse::kRootInode, "ln", "/etc/passwd", ctx));
  ASSERT_TRUE(r.ok()) << r.error();
  auto e = r.as<fuse_entry_out>();
  ASSERT_TRUE(e);
  EXPECT_TRUE(S_ISLNK(e->attr.mode));
  auto st = host_stat("ln");
  ASSERT_TRUE(st && S_ISLNK(st->st_mode));
  EXPECT_EQ(st->st_uid, 2000u) << "created with the caller's credentials";
  EXPECT_EQ(st->st_gid, 2001u);
  auto rl = run(req::readlink(e->nodeid));
  ASSERT_TRUE(rl.ok());
  EXPECT_EQ(rl.payload_string(), "/etc/passwd");
  // Operations on the link act on the link, never on what it points to.
  auto attr = getattr_ok(e->nodeid);
  EXPECT_TRUE(S_ISLNK(attr.attr.mode));
  EXPECT_NE(run(req::open(e->nodeid, O_RDONLY)).error(), 0);
  write_host_file("plain", "p");
  auto plain = lookup_ok(fuse::kRootInode, "plain");
  EXPECT_EQ(run(req::readlink(plain.nodeid)).error(), EINVAL);
}

TEST_F(EntryTest, MknodMakesFifoThatIsNeverOpenedHere) {
  auto r = run(req::mknod(fuse::kRootInode, "fifo", S_IFIFO | 0666, 0, 0022));
  ASSERT_TRUE(r.ok()) << r.error();
  auto st = host_stat("fifo");
  ASSERT_TRUE(st);
  EXPECT_TRUE(S_ISFIFO(st->st_mode));
  EXPECT_EQ(st->st_mode & 0777, 0644u);
  auto e = r.as<fuse_entry_out>();
  ASSERT_TRUE(e);
  // Opening a fifo here would block a worker until a writer shows up.
  EXPECT_EQ(run(req::open(e->nodeid, O_RDONLY)).error(), ENXIO);
  EXPECT_EQ(run(req::mknod(fuse::kRootInode, "fifo", S_IFIFO | 0600, 0)).error(), EEXIST);
}

TEST_F(EntryTest, CreateUsesCallerOwnershipAndReturnsAHandle) {
  fuse::Context ctx = mem::default_context();
  ctx.uid = 3000;
  ctx.gid = 3001;
  auto r = run(req::create(fuse::kRootInode, "new", S_IFREG | 0666, O_WRONLY | O_CREAT, 0027, ctx));
  ASSERT_TRUE(r.ok()) << r.error();
  auto e = r.at<fuse_entry_out>(0);
  auto o = r.at<fuse_open_out>(sizeof(fuse_entry_out));
  ASSERT_TRUE(e && o);
  auto st = host_stat("new");
  ASSERT_TRUE(st);
  EXPECT_EQ(st->st_mode & 07777, 0640u);
  EXPECT_EQ(st->st_uid, 3000u);
  EXPECT_EQ(st->st_gid, 3001u);
  EXPECT_EQ(write_ok(e->nodeid, o->fh, 0, "abc"), 3u);
  EXPECT_EQ(read_host_file("new"), "abc");
  EXPECT_EQ(
      run(req::create(fuse::kRootInode, "new", S_IFREG | 0600, O_RDWR | O_CREAT | O_EXCL)).error(),
      EEXIST);
  EXPECT_TRUE(run(req::release(e->nodeid, o->fh)).ok());
  EXPECT_EQ(fs_->handles().size(), 0u);
}

TEST_F(EntryTest, TmpfileIsUnnamedButWritable) {
  auto r = run(req::tmpfile(fuse::kRootInode, S_IFREG | 0600, O_RDWR));
  ASSERT_TRUE(r.ok()) << r.error();
  auto e = r.at<fuse_entry_out>(0);
  auto o = r.at<fuse_open_out>(sizeof(fuse_entry_out));
  ASSERT_TRUE(e && o);
  EXPECT_EQ(e->attr.nlink, 0u);
  EXPECT_EQ(write_ok(e->nodeid, o->fh, 0, "tmp"), 3u);
  EXPECT_EQ(read_ok(e->nodeid, o->fh, 0, 10), "tmp");
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir_.path()),
                          std::filesystem::directory_iterator()),
            0);
  EXPECT_TRUE(run(req::release(e->nodeid, o->fh)).ok());
  run(req::forget(e->nodeid, 1));
  expect_tables_consistent();
}

TEST_F(EntryTest, NamesThatWouldEscapeAreRefused) {
  ASSERT_EQ(::mkdir(host("d").c_str(), 0755), 0);
  auto d = lookup_ok(fuse::kRootInode, "d");
  for (const char* bad : {"..", ".", "a/b", "../etc", "/etc"}) {
    SCOPED_TRACE(bad);
    EXPECT_EQ(lookup_errno(fuse::kRootInode, bad), EINVAL);
    EXPECT_EQ(lookup_errno(d.nodeid, bad), EINVAL);
    EXPECT_EQ(run(req::mkdir(d.nodeid, bad, 0755)).error(), EINVAL);
    EXPECT_EQ(run(req::create(d.nodeid, bad, S_IFREG | 0644, O_RDWR)).error(), EINVAL);
    EXPECT_EQ(run(req::symlink(d.nodeid, bad, "x")).error(), EINVAL);
    EXPECT_EQ(run(req::unlink(d.nodeid, bad)).error(), EINVAL);
    EXPECT_EQ(run(req::rename(d.nodeid, bad, d.nodeid, "z")).error(), EINVAL);
    EXPECT_EQ(run(req::rename(fuse::kRootInode, "d", d.nodeid, bad)).error(), EINVAL);
  }
  EXPECT_EQ(lookup_errno(fuse::kRootInode, ""), EINVAL);
  EXPECT_EQ(lookup_errno(fuse::kRootInode, std::string(256, 'n')), ENAMETOOLONG);
}

class CasefoldTest : public PassthroughTest {
 protected:
  CasefoldTest() { cfg_.ascii_casefold = true; }
};

TEST_F(CasefoldTest, LookupIgnoresAsciiCaseOnlyWhenExactNameIsMissing) {
  write_host_file("MixedCase.TXT", "m");
  write_host_file("exact", "lower");
  write_host_file("EXACT", "upper");
  auto e = lookup_ok(fuse::kRootInode, "mixedcase.txt");
  EXPECT_EQ(e.attr.ino, host_stat("MixedCase.TXT")->st_ino);
  EXPECT_EQ(lookup_ok(fuse::kRootInode, "exact").attr.ino, host_stat("exact")->st_ino);
  EXPECT_EQ(lookup_ok(fuse::kRootInode, "EXACT").attr.ino, host_stat("EXACT")->st_ino);
  EXPECT_EQ(lookup_errno(fuse::kRootInode, "mixedcase.tx"), ENOENT);
  EXPECT_EQ(lookup_errno(fuse::kRootInode, "mïxedcase.txt"), ENOENT) << "ASCII only";
}

TEST(CasefoldOffTest, CaseMattersByDefault) {
  ScratchDir dir("pfs-e2e");
  std::ofstream(dir / "Name") << "x";
  passthrough::Config cfg;
  cfg.root_dir = dir.path();
  ServedTree tree;
  ASSERT_EQ(tree.open(cfg), "");
  EXPECT_EQ(tree.session->run(req::lookup(fuse::kRootInode, "name")).error(), ENOENT);
}

}  // namespace
}  // namespace pfs::testing
