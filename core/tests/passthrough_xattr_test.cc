// End-to-end: extended attributes through encoded requests (SETXATTR in both
// layouts, GETXATTR, LISTXATTR, REMOVEXATTR) on regular files, directories,
// symlinks and fifos, checked on the host with lgetxattr/llistxattr; the
// security.* rewriting and the xattr/readonly switches of the Config.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <set>
#include <string>
#include <vector>

#include "core/tests/passthrough_fixture.h"

namespace pfs::testing {
namespace {

// What the host holds: the value, or the errno of lgetxattr.
struct HostXattr {
  int error = 0;
  std::string value;
  bool ok() const { return error == 0; }
};

HostXattr host_getxattr(const std::string& path, const std::string& name) {
  std::vector<char> buf(65536);
  const ssize_t n = ::lgetxattr(path.c_str(), name.c_str(), buf.data(), buf.size());
  if (n < 0) return {errno, {}};
  return {0, std::string(buf.data(), static_cast<size_t>(n))};
}

// The raw NUL-separated list, as llistxattr returns it.
std::string host_listxattr_raw(const std::string& path) {
  std::vector<char> buf(65536);
  const ssize_t n = ::llistxattr(path.c_str(), buf.data(), buf.size());
  if (n < 0) return {};
  return std::string(buf.data(), static_cast<size_t>(n));
}

std::set<std::string> split_names(const std::string& raw) {
  std::set<std::string> out;
  size_t start = 0;
  while (start < raw.size()) {
    size_t end = raw.find('\0', start);
    if (end == std::string::npos) end = raw.size();
    out.insert(raw.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

class XattrTest : public PassthroughTest {
 protected:
  // GETXATTR with size 0: the size the value needs.
  uint32_t getxattr_size(fuse::Inode inode, const std::string& name) {
    auto r = run(req::getxattr(inode, name, 0));
    EXPECT_TRUE(r.ok()) << "getxattr(0) " << name << ": errno " << r.error();
    return r.as<fuse_getxattr_out>().value_or(fuse_getxattr_out{}).size;
  }
  std::string getxattr_ok(fuse::Inode inode, const std::string& name, uint32_t size = 4096) {
    auto r = run(req::getxattr(inode, name, size));
    EXPECT_TRUE(r.ok()) << "getxattr " << name << ": errno " << r.error();
    return r.payload_string();
  }
  uint32_t listxattr_size(fuse::Inode inode) {
    auto r = run(req::listxattr(inode, 0));
    EXPECT_TRUE(r.ok()) << "listxattr(0): errno " << r.error();
    return r.as<fuse_getxattr_out>().value_or(fuse_getxattr_out{}).size;
  }
  std::string listxattr_raw(fuse::Inode inode, uint32_t size = 65536) {
    auto r = run(req::listxattr(inode, size));
    EXPECT_TRUE(r.ok()) << "listxattr: errno " << r.error();
    return r.payload_string();
  }
  std::set<std::string> listxattr_ok(fuse::Inode inode) {
    return split_names(listxattr_raw(inode));
  }
  int setxattr_errno(fuse::Inode inode, const std::string& name, const std::string& value,
                     uint32_t flags = 0) {
    return run(req::setxattr(inode, name, value, flags, ext_layout_)).error();
  }

  // The SETXATTR layout the helpers send: the one the server negotiated.
  bool ext_layout_ = true;

  // The full round trip on one inode and its host path, with `ns` ("user." or
  // "trusted.") as the namespace.
  void round_trip(fuse::Inode inode, const std::string& rel, const std::string& ns) {
    const std::string path = host(rel);
    const std::string a = ns + "alpha";
    const std::string b = ns + "beta";
    ASSERT_EQ(setxattr_errno(inode, a, "value-1"), 0);
    ASSERT_EQ(setxattr_errno(inode, b, std::string("bin\0ary", 7)), 0);
    EXPECT_EQ(host_getxattr(path, a).value, "value-1");
    EXPECT_EQ(host_getxattr(path, b).value, std::string("bin\0ary", 7));

    // Size query, exact fit, too small.
    EXPECT_EQ(getxattr_size(inode, a), 7u);
    EXPECT_EQ(getxattr_ok(inode, a, 7), "value-1");
    EXPECT_EQ(getxattr_ok(inode, b), std::string("bin\0ary", 7));
    EXPECT_EQ(run(req::getxattr(inode, a, 6)).error(), ERANGE);
    EXPECT_EQ(run(req::getxattr(inode, ns + "missing", 100)).error(), ENODATA);
    EXPECT_EQ(run(req::getxattr(inode, ns + "missing", 0)).error(), ENODATA);

    // The list is exactly the host's.
    const std::string raw = host_listxattr_raw(path);
    EXPECT_EQ(listxattr_size(inode), raw.size());
    EXPECT_EQ(listxattr_raw(inode), raw);
    EXPECT_EQ(listxattr_raw(inode, static_cast<uint32_t>(raw.size())), raw) << "exact fit";
    EXPECT_EQ(run(req::listxattr(inode, static_cast<uint32_t>(raw.size() - 1))).error(), ERANGE);
    auto names = listxattr_ok(inode);
    EXPECT_TRUE(names.count(a) && names.count(b));

    // XATTR_CREATE / XATTR_REPLACE.
    EXPECT_EQ(setxattr_errno(inode, a, "other", XATTR_CREATE), EEXIST);
    EXPECT_EQ(host_getxattr(path, a).value, "value-1") << "a refused create changes nothing";
    EXPECT_EQ(setxattr_errno(inode, ns + "fresh", "x", XATTR_REPLACE), ENODATA);
    EXPECT_EQ(host_getxattr(path, ns + "fresh").error, ENODATA);
    EXPECT_EQ(setxattr_errno(inode, a, "replaced", XATTR_REPLACE), 0);
    EXPECT_EQ(host_getxattr(path, a).value, "replaced");
    EXPECT_EQ(setxattr_errno(inode, ns + "fresh", "new", XATTR_CREATE), 0);
    EXPECT_EQ(host_getxattr(path, ns + "fresh").value, "new");
    EXPECT_EQ(setxattr_errno(inode, ns + "empty", ""), 0) << "an empty value is a value";
    EXPECT_TRUE(host_getxattr(path, ns + "empty").ok());
    EXPECT_EQ(getxattr_size(inode, ns + "empty"), 0u);

    // Remove.
    for (const std::string& n : {a, b, ns + "fresh", ns + "empty"}) {
      EXPECT_TRUE(run(req::removexattr(inode, n)).ok()) << n;
      EXPECT_EQ(host_getxattr(path, n).error, ENODATA) << n;
    }
    EXPECT_EQ(run(req::removexattr(inode, a)).error(), ENODATA);
    EXPECT_EQ(run(req::getxattr(inode, a, 100)).error(), ENODATA);
    EXPECT_EQ(listxattr_raw(inode), host_listxattr_raw(path));
  }
};

TEST_F(XattrTest, RegularFileRoundTrip) {
  write_host_file("f", "content");
  auto f = lookup_ok(fuse::kRootInode, "f");
  round_trip(f.nodeid, "f", "user.");
  round_trip(f.nodeid, "f", "trusted.");
  EXPECT_EQ(read_host_file("f"), "content");
}

TEST_F(XattrTest, DirectoryRoundTrip) {
  ASSERT_EQ(::mkdir(host("d").c_str(), 0755), 0);
  auto d = lookup_ok(fuse::kRootInode, "d");
  round_trip(d.nodeid, "d", "user.");
  round_trip(d.nodeid, "d", "trusted.");
  round_trip(fuse::kRootInode, "", "user.");
}

TEST_F(XattrTest, SymlinkUsesTheLinkItselfNotItsTarget) {
  write_host_file("target", "t");
  ASSERT_EQ(::symlink("target", host("ln").c_str()), 0);
  auto ln = lookup_ok(fuse::kRootInode, "ln");
  ASSERT_TRUE(S_ISLNK(ln.attr.mode));
  // The kernel allows no user.* xattrs on symlinks: the same answer as on the host.
  ASSERT_NE(::lsetxattr(host("ln").c_str(), "user.probe", "v", 1, 0), 0);
  const int host_err = errno;
  EXPECT_EQ(setxattr_errno(ln.nodeid, "user.probe", "v"), host_err);
  round_trip(ln.nodeid, "ln", "trusted.");
  ASSERT_EQ(setxattr_errno(ln.nodeid, "trusted.onlink", "L"), 0);
  EXPECT_EQ(host_getxattr(host("ln"), "trusted.onlink").value, "L");
  EXPECT_EQ(host_getxattr(host("target"), "trusted.onlink").error, ENODATA)
      << "the symlink's target must not get the attribute";
  // And an attribute of the target is not visible through the link.
  ASSERT_EQ(::setxattr(host("target").c_str(), "trusted.ontarget", "T", 1, 0), 0);
  EXPECT_EQ(run(req::getxattr(ln.nodeid, "trusted.ontarget", 100)).error(), ENODATA);
  EXPECT_EQ(listxattr_ok(ln.nodeid).count("trusted.ontarget"), 0u);
  EXPECT_EQ(run(req::removexattr(ln.nodeid, "trusted.ontarget")).error(), ENODATA);
  EXPECT_TRUE(host_getxattr(host("target"), "trusted.ontarget").ok());
}

TEST_F(XattrTest, FifoGoesThroughProcPath) {
  ASSERT_EQ(::mkfifo(host("fifo").c_str(), 0600), 0);
  auto fifo = lookup_ok(fuse::kRootInode, "fifo");
  ASSERT_TRUE(S_ISFIFO(fifo.attr.mode));
  ASSERT_NE(::lsetxattr(host("fifo").c_str(), "user.probe", "v", 1, 0), 0);
  const int host_err = errno;
  EXPECT_EQ(setxattr_errno(fifo.nodeid, "user.probe", "v"), host_err);
  round_trip(fifo.nodeid, "fifo", "trusted.");
  // The process's cwd is put back after the /proc detour: relative names still
  // resolve where they did before.
  char cwd[4096];
  ASSERT_NE(::getcwd(cwd, sizeof(cwd)), nullptr);
  EXPECT_NE(std::string(cwd), "/proc");
}

TEST_F(XattrTest, SizeQueryMatchesAValueNeedingTheWholeBuffer) {
  write_host_file("f", "");
  auto f = lookup_ok(fuse::kRootInode, "f");
  const std::string big(3000, 'v');
  ASSERT_EQ(setxattr_errno(f.nodeid, "user.big", big), 0);
  EXPECT_EQ(getxattr_size(f.nodeid, "user.big"), 3000u);
  EXPECT_EQ(getxattr_ok(f.nodeid, "user.big", 3000), big);
  EXPECT_EQ(getxattr_ok(f.nodeid, "user.big", 65536), big);
  EXPECT_EQ(run(req::getxattr(f.nodeid, "user.big", 2999)).error(), ERANGE);
}

TEST_F(XattrTest, UnknownInodesAreEbadf) {
  for (fuse::Inode bad : {fuse::Inode{0}, fuse::Inode{999999}, ~fuse::Inode{0}}) {
    SCOPED_TRACE(bad);
    EXPECT_EQ(setxattr_errno(bad, "user.a", "v"), EBADF);
    EXPECT_EQ(run(req::getxattr(bad, "user.a", 10)).error(), EBADF);
    EXPECT_EQ(run(req::listxattr(bad, 10)).error(), EBADF);
    EXPECT_EQ(run(req::removexattr(bad, "user.a")).error(), EBADF);
  }
}

// --- SETXATTR layouts ------------------------------------------------------

TEST_F(XattrTest, ExtLayoutIsNegotiatedByDefault) {
  ASSERT_NE(server_->negotiated_flags() & FUSE_SETXATTR_EXT, 0u);
  write_host_file("f", "");
  auto f = lookup_ok(fuse::kRootInode, "f");
  EXPECT_TRUE(run(req::setxattr(f.nodeid, "user.ext", "E", 0, /*ext_layout=*/true)).ok());
  EXPECT_EQ(host_getxattr(host("f"), "user.ext").value, "E");
  EXPECT_EQ(run(req::setxattr(f.nodeid, "user.ext", "F", XATTR_CREATE, true)).error(), EEXIST);
}

class XattrCompatTest : public XattrTest {
 protected:
  XattrCompatTest() {
    start_in_setup_ = false;
    ext_layout_ = false;
  }
  void SetUp() override {
    XattrTest::SetUp();
    start(mem::kLinuxInitFlags & ~static_cast<uint64_t>(FUSE_SETXATTR_EXT));
  }
};

TEST_F(XattrCompatTest, CompatLayoutWithoutSetxattrExt) {
  ASSERT_EQ(server_->negotiated_flags() & FUSE_SETXATTR_EXT, 0u);
  write_host_file("f", "");
  auto f = lookup_ok(fuse::kRootInode, "f");
  ASSERT_TRUE(run(req::setxattr(f.nodeid, "user.compat", "C1", 0, /*ext_layout=*/false)).ok());
  EXPECT_EQ(host_getxattr(host("f"), "user.compat").value, "C1");
  EXPECT_EQ(run(req::setxattr(f.nodeid, "user.compat", "C2", XATTR_CREATE, false)).error(), EEXIST);
  EXPECT_EQ(run(req::setxattr(f.nodeid, "user.none", "C2", XATTR_REPLACE, false)).error(), ENODATA);
  ASSERT_TRUE(run(req::setxattr(f.nodeid, "user.compat", "C3", XATTR_REPLACE, false)).ok());
  EXPECT_EQ(getxattr_ok(f.nodeid, "user.compat"), "C3");
  // The 16-byte layout is misread under the 8-byte one: its setxattr_flags and
  // padding land where the name starts, which is then empty. Refused; nothing set.
  const std::set<std::string> before = split_names(host_listxattr_raw(host("f")));
  EXPECT_NE(run(req::setxattr(f.nodeid, "user.ext", "E", 0, /*ext_layout=*/true)).error(), 0);
  EXPECT_EQ(split_names(host_listxattr_raw(host("f"))), before);
  round_trip(f.nodeid, "f", "user.");  // every flag case, in the compat layout
}

// --- security.* rewriting --------------------------------------------------

class XattrRewriteTest : public XattrTest {
 protected:
  XattrRewriteTest() { cfg_.rewrite_security_xattrs = true; }
};

TEST_F(XattrRewriteTest, SecurityNamesAreStoredUnderUserVirtiofs) {
  write_host_file("f", "");
  auto f = lookup_ok(fuse::kRootInode, "f");
  ASSERT_EQ(setxattr_errno(f.nodeid, "security.foo", "sec"), 0);
  EXPECT_EQ(host_getxattr(host("f"), "user.virtiofs.security.foo").value, "sec");
  EXPECT_EQ(host_getxattr(host("f"), "security.foo").error, ENODATA) << "not stored as is";

  EXPECT_EQ(getxattr_size(f.nodeid, "security.foo"), 3u);
  EXPECT_EQ(getxattr_ok(f.nodeid, "security.foo"), "sec");
  EXPECT_EQ(run(req::getxattr(f.nodeid, "security.foo", 2)).error(), ERANGE);

  ASSERT_EQ(setxattr_errno(f.nodeid, "user.plain", "p"), 0);
  EXPECT_EQ(host_getxattr(host("f"), "user.plain").value, "p") << "user.* is not rewritten";
  ASSERT_EQ(setxattr_errno(f.nodeid, "trusted.t", "t"), 0);
  EXPECT_EQ(host_getxattr(host("f"), "trusted.t").value, "t") << "trusted.* is not rewritten";

  // The list shows the guest's names, and its size query gives the stripped size.
  const std::set<std::string> names = listxattr_ok(f.nodeid);
  EXPECT_EQ(names.count("security.foo"), 1u);
  EXPECT_EQ(names.count("user.virtiofs.security.foo"), 0u);
  EXPECT_EQ(names.count("user.plain"), 1u);
  EXPECT_EQ(names.count("trusted.t"), 1u);
  const std::string raw = listxattr_raw(f.nodeid);
  EXPECT_EQ(listxattr_size(f.nodeid), raw.size());
  EXPECT_EQ(raw.size(),
            host_listxattr_raw(host("f")).size() - std::string("user.virtiofs.").size());
  EXPECT_EQ(listxattr_raw(f.nodeid, static_cast<uint32_t>(raw.size())), raw);
  EXPECT_EQ(run(req::listxattr(f.nodeid, static_cast<uint32_t>(raw.size() - 1))).error(), ERANGE);

  EXPECT_EQ(setxattr_errno(f.nodeid, "security.foo", "x", XATTR_CREATE), EEXIST);
  EXPECT_EQ(setxattr_errno(f.nodeid, "security.bar", "x", XATTR_REPLACE), ENODATA);
  EXPECT_TRUE(run(req::removexattr(f.nodeid, "security.foo")).ok());
  EXPECT_EQ(host_getxattr(host("f"), "user.virtiofs.security.foo").error, ENODATA);
  EXPECT_EQ(run(req::removexattr(f.nodeid, "security.foo")).error(), ENODATA);
  EXPECT_EQ(run(req::getxattr(f.nodeid, "security.foo", 10)).error(), ENODATA);
}

TEST_F(XattrRewriteTest, RewriteOnADirectory) {
  ASSERT_EQ(::mkdir(host("d").c_str(), 0755), 0);
  auto d = lookup_ok(fuse::kRootInode, "d");
  ASSERT_EQ(setxattr_errno(d.nodeid, "security.dir", "D"), 0);
  EXPECT_EQ(host_getxattr(host("d"), "user.virtiofs.security.dir").value, "D");
  EXPECT_EQ(getxattr_ok(d.nodeid, "security.dir"), "D");
  EXPECT_EQ(listxattr_ok(d.nodeid).count("security.dir"), 1u);
}

TEST_F(XattrRewriteTest, SecuritySelinuxIsNotRewritten) {
  write_host_file("f", "");
  auto f = lookup_ok(fuse::kRootInode, "f");
  const int err = setxattr_errno(f.nodeid, "security.selinux", "system_u:object_r:tmp_t:s0");
  // Without SELinux the host may refuse it; with or without success, it must have
  // gone to the host under its own name.
  EXPECT_EQ(host_getxattr(host("f"), "user.virtiofs.security.selinux").error, ENODATA);
  if (err == 0) {
    EXPECT_EQ(host_getxattr(host("f"), "security.selinux").value, "system_u:object_r:tmp_t:s0");
  } else {
    // The same answer the host gives for the same name on a twin file.
    write_host_file("twin", "");
    const std::string v = "system_u:object_r:tmp_t:s0";
    ASSERT_NE(::setxattr(host("twin").c_str(), "security.selinux", v.data(), v.size(), 0), 0);
    EXPECT_EQ(err, errno);
  }
  EXPECT_EQ(listxattr_ok(f.nodeid).count("user.virtiofs.security.selinux"), 0u);
}

TEST_F(XattrRewriteTest, GuestMayNotTouchTheReservedPrefix) {
  write_host_file("f", "");
  auto f = lookup_ok(fuse::kRootInode, "f");
  EXPECT_EQ(setxattr_errno(f.nodeid, "user.virtiofs.x", "forged"), EPERM);
  EXPECT_EQ(setxattr_errno(f.nodeid, "user.virtiofs.security.capability", "forged"), EPERM);
  EXPECT_EQ(host_getxattr(host("f"), "user.virtiofs.x").error, ENODATA);
  // Even when the host holds one, the guest sees nothing and removes nothing.
  ASSERT_EQ(::setxattr(host("f").c_str(), "user.virtiofs.security.foo", "real", 4, 0), 0);
  EXPECT_EQ(run(req::getxattr(f.nodeid, "user.virtiofs.security.foo", 100)).error(), ENODATA);
  EXPECT_EQ(run(req::getxattr(f.nodeid, "user.virtiofs.security.foo", 0)).error(), ENODATA);
  EXPECT_EQ(run(req::removexattr(f.nodeid, "user.virtiofs.security.foo")).error(), ENODATA);
  EXPECT_EQ(run(req::removexattr(f.nodeid, "user.virtiofs.x")).error(), ENODATA);
  EXPECT_EQ(host_getxattr(host("f"), "user.virtiofs.security.foo").value, "real");
  // ... and reaches it only under its guest name.
  EXPECT_EQ(getxattr_ok(f.nodeid, "security.foo"), "real");
  // As in the seed, the reserved-name check comes before the inode lookup.
  EXPECT_EQ(setxattr_errno(fuse::kRootInode, "user.virtiofs.y", "v"), EPERM);
  EXPECT_EQ(setxattr_errno(999999, "user.virtiofs.y", "v"), EPERM);
  EXPECT_EQ(run(req::getxattr(999999, "user.virtiofs.y", 10)).error(), ENODATA);
}

TEST_F(XattrRewriteTest, FifoWithRewriteUsesTheHostAnswer) {
  // user.* is not allowed on a fifo, so the rewritten name fails the way the host
  // fails it; trusted.* is unaffected by the rewrite.
  ASSERT_EQ(::mkfifo(host("fifo").c_str(), 0600), 0);
  auto fifo = lookup_ok(fuse::kRootInode, "fifo");
  ASSERT_NE(::lsetxattr(host("fifo").c_str(), "user.virtiofs.security.foo", "v", 1, 0), 0);
  const int host_err = errno;
  EXPECT_EQ(setxattr_errno(fifo.nodeid, "security.foo", "v"), host_err);
  ASSERT_EQ(setxattr_errno(fifo.nodeid, "trusted.t", "T"), 0);
  EXPECT_EQ(host_getxattr(host("fifo"), "trusted.t").value, "T");
  EXPECT_EQ(getxattr_ok(fifo.nodeid, "trusted.t"), "T");
}

TEST_F(XattrTest, WithoutRewriteSecurityNamesPassThroughUnchanged) {
  write_host_file("f", "");
  write_host_file("twin", "");
  auto f = lookup_ok(fuse::kRootInode, "f");
  const int err = setxattr_errno(f.nodeid, "security.foo", "sec");
  // Whatever the host's LSMs say about security.foo, we say the same.
  const int host_rc = ::setxattr(host("twin").c_str(), "security.foo", "sec", 3, 0);
  EXPECT_EQ(err, host_rc == 0 ? 0 : errno);
  if (err == 0) {
    EXPECT_EQ(host_getxattr(host("f"), "security.foo").value, "sec");
    EXPECT_EQ(getxattr_ok(f.nodeid, "security.foo"), "sec");
  }
  EXPECT_EQ(host_getxattr(host("f"), "user.virtiofs.security.foo").error, ENODATA);
  // The reserved prefix means nothing without rewriting: a plain user.* name.
  ASSERT_EQ(setxattr_errno(f.nodeid, "user.virtiofs.x", "plain"), 0);
  EXPECT_EQ(host_getxattr(host("f"), "user.virtiofs.x").value, "plain");
  EXPECT_EQ(listxattr_ok(f.nodeid).count("user.virtiofs.x"), 1u) << "no stripping either";
  ASSERT_EQ(setxattr_errno(f.nodeid, "trusted.sec", "T"), 0);
  EXPECT_EQ(host_getxattr(host("f"), "trusted.sec").value, "T");
}

// --- Config switches -------------------------------------------------------

class XattrDisabledTest : public XattrTest {
 protected:
  XattrDisabledTest() { cfg_.xattr = false; }
};

TEST_F(XattrDisabledTest, EveryOpIsEnosys) {
  write_host_file("f", "");
  ASSERT_EQ(::setxattr(host("f").c_str(), "user.there", "v", 1, 0), 0);
  auto f = lookup_ok(fuse::kRootInode, "f");
  EXPECT_EQ(server_->negotiated_flags() & FUSE_POSIX_ACL, 0u) << "no ACLs without xattrs";
  for (fuse::Inode inode : {fuse::kRootInode, f.nodeid}) {
    EXPECT_EQ(setxattr_errno(inode, "user.a", "v"), ENOSYS);
    EXPECT_EQ(run(req::getxattr(inode, "user.there", 10)).error(), ENOSYS);
    EXPECT_EQ(run(req::getxattr(inode, "user.there", 0)).error(), ENOSYS);
    EXPECT_EQ(run(req::listxattr(inode, 100)).error(), ENOSYS);
    EXPECT_EQ(run(req::listxattr(inode, 0)).error(), ENOSYS);
    EXPECT_EQ(run(req::removexattr(inode, "user.there")).error(), ENOSYS);
  }
  EXPECT_EQ(host_getxattr(host("f"), "user.a").error, ENODATA);
  EXPECT_EQ(host_getxattr(host("f"), "user.there").value, "v");
}

class XattrReadonlyTest : public XattrTest {
 protected:
  XattrReadonlyTest() { cfg_.readonly = true; }
};

TEST_F(XattrReadonlyTest, SetAndRemoveAreErofsGetAndListWork) {
  write_host_file("f", "");
  ASSERT_EQ(::setxattr(host("f").c_str(), "user.there", "v", 1, 0), 0);
  ASSERT_EQ(::mkfifo(host("fifo").c_str(), 0600), 0);
  ASSERT_EQ(::setxattr(host("fifo").c_str(), "trusted.there", "w", 1, 0), 0);
  auto f = lookup_ok(fuse::kRootInode, "f");
  auto fifo = lookup_ok(fuse::kRootInode, "fifo");
  EXPECT_EQ(setxattr_errno(f.nodeid, "user.a", "v"), EROFS);
  EXPECT_EQ(setxattr_errno(f.nodeid, "user.there", "x", XATTR_REPLACE), EROFS);
  EXPECT_EQ(run(req::removexattr(f.nodeid, "user.there")).error(), EROFS);
  EXPECT_EQ(setxattr_errno(fifo.nodeid, "trusted.a", "v"), EROFS);
  EXPECT_EQ(run(req::removexattr(fifo.nodeid, "trusted.there")).error(), EROFS);
  EXPECT_EQ(setxattr_errno(fuse::kRootInode, "user.a", "v"), EROFS);

  EXPECT_EQ(getxattr_ok(f.nodeid, "user.there"), "v");
  EXPECT_EQ(getxattr_size(f.nodeid, "user.there"), 1u);
  EXPECT_EQ(listxattr_ok(f.nodeid).count("user.there"), 1u);
  EXPECT_EQ(getxattr_ok(fifo.nodeid, "trusted.there"), "w");
  EXPECT_EQ(listxattr_ok(fifo.nodeid).count("trusted.there"), 1u);

  EXPECT_EQ(host_getxattr(host("f"), "user.there").value, "v");
  EXPECT_EQ(host_getxattr(host("f"), "user.a").error, ENODATA);
  EXPECT_EQ(host_getxattr(host("fifo"), "trusted.there").value, "w");
}

}  // namespace
}  // namespace pfs::testing
