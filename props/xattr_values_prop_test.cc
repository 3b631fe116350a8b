// Property 3: xattr values through the server on a real file (a scratch dir under
// $TMPDIR or /tmp). Set then get returns the same bytes, list shows the name once,
// a size-0 get or list reports the size needed, a too-small buffer gives ERANGE,
// remove then get gives ENODATA; with and without rewrite_security_xattrs.
//
// Values go up to 64 KiB (XATTR_SIZE_MAX). Without ext4's ea_inode feature all the
// values of one inode share about one block, so large values are refused by the
// host (ENOSPC, or E2BIG elsewhere): a twin file set directly on the host says
// what the answer must be, and where the host accepts, the value must round trip.
//
// Rerun a failure with RC_PARAMS="seed=..." (see props/CMakeLists.txt).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/fuse.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/fuse/server.h"
#include "core/passthrough/passthrough_fs.h"
#include "core/tests/scratch_dir.h"
#include "core/tests/served_tree.h"
#include "core/transport/memory/reply.h"
#include "core/transport/memory/request_builder.h"
#include "core/transport/memory/session.h"

namespace {

namespace mem = pfs::transport::memory;
namespace req = pfs::transport::memory::req;

constexpr size_t kMaxValue = 65536;  // XATTR_SIZE_MAX

std::vector<uint8_t> make_value(size_t size, uint32_t seed) {
  std::vector<uint8_t> v(size);
  uint32_t x = seed | 1;
  for (auto& b : v) {
    x = x * 1664525u + 1013904223u;
    b = static_cast<uint8_t>(x >> 24);
  }
  return v;
}

// The NUL-separated names of a list reply.
std::vector<std::string> split_list(const std::vector<uint8_t>& buf) {
  std::vector<std::string> names;
  std::string cur;
  for (uint8_t b : buf) {
    if (b == 0) {
      names.push_back(cur);
      cur.clear();
    } else {
      cur.push_back(static_cast<char>(b));
    }
  }
  RC_ASSERT(cur.empty());  // every name is terminated
  return names;
}

void touch(const std::string& path) {
  const int fd = ::open(path.c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
  RC_ASSERT(fd >= 0);
  ::close(fd);
}

void check_round_trip(bool rewrite) {
  const std::string suffix = *rc::gen::resize(
      40, rc::gen::nonEmpty(rc::gen::container<std::string>(rc::gen::inRange<char>('!', '~'))));
  // With rewriting: security.* (never security.selinux, which is passed through
  // and needs an LSM); without: user.*.
  const std::string name = (rewrite ? "security." : "user.") + suffix;
  RC_PRE(name != "security.selinux");
  const std::string host_name = (rewrite ? "user.virtiofs." : "") + name;
  const size_t size =
      *rc::gen::oneOf(rc::gen::inRange<size_t>(0, 257), rc::gen::inRange<size_t>(0, 4097),
                      rc::gen::inRange<size_t>(0, kMaxValue + 1));
  const std::vector<uint8_t> value = make_value(size, *rc::gen::arbitrary<uint32_t>());
  const bool exclusive = *rc::gen::arbitrary<bool>();
  const uint32_t flags = exclusive ? XATTR_CREATE : 0;

  pfs::testing::ScratchDir dir("pfs-prop-xvalues");
  RC_ASSERT(dir.ok());
  touch(dir / "f");
  touch(dir / "twin");

  pfs::passthrough::Config cfg;
  cfg.root_dir = dir.path();
  cfg.rewrite_security_xattrs = rewrite;
  pfs::testing::ServedTree tree;
  RC_ASSERT(tree.open(cfg) == "");
  mem::Session& session = *tree.session;
  const mem::Reply look = session.run(req::lookup(1, "f"));
  RC_ASSERT(look.ok());
  const uint64_t node = look.as<fuse_entry_out>()->nodeid;

  // What the host says about this value on a file just like ours.
  const std::string twin = dir / "twin";
  const int twin_rc = ::setxattr(twin.c_str(), host_name.c_str(), value.data(), value.size(),
                                 static_cast<int>(flags));
  const int twin_errno = twin_rc == 0 ? 0 : errno;

  const mem::Reply set = session.run(req::setxattr(node, name, value, flags, true));
  RC_ASSERT(set.replied);
  RC_ASSERT(set.error() == twin_errno);
  RC_TAG(twin_errno == 0 ? "stored" : "refused by host");
  if (twin_errno != 0) {
    RC_ASSERT(session.run(req::getxattr(node, name, 0)).error() == ENODATA);
    return;
  }

  // Size query, then the value itself (asking for exactly and for more room).
  const mem::Reply q = session.run(req::getxattr(node, name, 0));
  RC_ASSERT(q.ok());
  RC_ASSERT(q.as<fuse_getxattr_out>()->size == value.size());
  if (!value.empty()) {
    const mem::Reply got = session.run(req::getxattr(node, name, static_cast<uint32_t>(size)));
    RC_ASSERT(got.ok());
    RC_ASSERT(got.payload == value);
    const mem::Reply roomy = session.run(req::getxattr(node, name, kMaxValue));
    RC_ASSERT(roomy.ok());
    RC_ASSERT(roomy.payload == value);
    if (size > 1) {
      const mem::Reply small =
          session.run(req::getxattr(node, name, static_cast<uint32_t>(size - 1)));
      RC_ASSERT(small.error() == ERANGE);
    }
  }
  // The host holds it under the host name, byte for byte.
  {
    std::vector<uint8_t> host(kMaxValue);
    const ssize_t n = ::getxattr((dir / "f").c_str(), host_name.c_str(), host.data(), host.size());
    RC_ASSERT(n == static_cast<ssize_t>(size));
    host.resize(static_cast<size_t>(n));
    RC_ASSERT(host == value);
  }
  // A second exclusive set is refused as the host refuses it.
  RC_ASSERT(session.run(req::setxattr(node, name, value, XATTR_CREATE, true)).error() == EEXIST);

  // The list: size query, the names (ours exactly once, as the guest spells it),
  // and ERANGE one byte short.
  const mem::Reply lq = session.run(req::listxattr(node, 0));
  RC_ASSERT(lq.ok());
  const uint32_t need = lq.as<fuse_getxattr_out>()->size;
  RC_ASSERT(need >= name.size() + 1);
  const mem::Reply list = session.run(req::listxattr(node, need));
  RC_ASSERT(list.ok());
  RC_ASSERT(list.payload.size() == need);
  const auto names = split_list(list.payload);
  RC_ASSERT(std::count(names.begin(), names.end(), name) == 1);
  if (rewrite) RC_ASSERT(std::count(names.begin(), names.end(), host_name) == 0);
  RC_ASSERT(session.run(req::listxattr(node, need - 1)).error() == ERANGE);

  // Remove, then it is gone everywhere.
  RC_ASSERT(session.run(req::removexattr(node, name)).ok());
  RC_ASSERT(session.run(req::getxattr(node, name, 0)).error() == ENODATA);
  RC_ASSERT(session.run(req::getxattr(node, name, 64)).error() == ENODATA);
  RC_ASSERT(session.run(req::removexattr(node, name)).error() == ENODATA);
  const mem::Reply after = session.run(req::listxattr(node, 0));
  RC_ASSERT(after.ok());
  RC_ASSERT(after.as<fuse_getxattr_out>()->size + name.size() + 1 == need);
  RC_ASSERT(::getxattr((dir / "f").c_str(), host_name.c_str(), nullptr, 0) == -1);
  RC_ASSERT(errno == ENODATA);
}

RC_GTEST_PROP(XattrValues, RoundTripUserNames, ()) { check_round_trip(false); }

RC_GTEST_PROP(XattrValues, RoundTripRewrittenSecurityNames, ()) { check_round_trip(true); }

}  // namespace
