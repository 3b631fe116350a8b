// Property 2: xattr names. With rewrite_security_xattrs the guest's "security.X"
// (but "security.selinux") lives on the host as "user.virtiofs.security.X";
// listxattr strips the prefix back, and the guest may not touch user.virtiofs.*.
//
// Rerun a failure with RC_PARAMS="seed=..." (see props/CMakeLists.txt).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/fuse/server.h"
#include "core/passthrough/passthrough_fs.h"
#include "core/passthrough/xattr_names.h"
#include "core/tests/scratch_dir.h"
#include "core/tests/served_tree.h"
#include "core/transport/memory/reply.h"
#include "core/transport/memory/request_builder.h"
#include "core/transport/memory/session.h"

namespace {

namespace mem = pfs::transport::memory;
namespace req = pfs::transport::memory::req;
using pfs::passthrough::host_xattr_name;
using pfs::passthrough::is_reserved_xattr_name;
using pfs::passthrough::kUserVirtiofsPrefix;
using pfs::passthrough::strip_xattr_prefix;

constexpr std::string_view kSecurity = "security.";
constexpr std::string_view kSelinux = "security.selinux";

// A name with no NUL: often one with an interesting prefix (or a prefix of a
// prefix), sometimes arbitrary bytes.
rc::Gen<std::string> gen_name() {
  const auto tail = rc::gen::container<std::string>(
      rc::gen::suchThat(rc::gen::arbitrary<char>(), [](char c) { return c != '\0'; }));
  const auto prefix = rc::gen::element<std::string>(
      "", "security.", "security.selinux", "security.sehash", "user.", "user.virtiofs.",
      "user.virtiofs.security.", "user.virtiofs", "trusted.", "system.", "security", "sec");
  return rc::gen::oneOf(
      rc::gen::apply([](const std::string& p, const std::string& t) { return p + t; }, prefix,
                     tail),
      rc::gen::element<std::string>("security.selinux", "security.", "user.virtiofs.",
                                    "user.virtiofs.security.selinux"),
      tail);
}

// The model of the strip: each name (NUL-terminated, or the unterminated tail)
// loses a leading "user.virtiofs.".
std::string strip_model(const std::vector<std::string>& names, bool last_terminated) {
  std::string out;
  for (size_t i = 0; i < names.size(); ++i) {
    std::string_view n = names[i];
    if (n.starts_with(kUserVirtiofsPrefix)) n.remove_prefix(kUserVirtiofsPrefix.size());
    out.append(n);
    if (i + 1 < names.size() || last_terminated) out.push_back('\0');
  }
  return out;
}

std::string strip_real(std::string buf) {
  std::vector<uint8_t> bytes(buf.begin(), buf.end());
  const size_t n = strip_xattr_prefix(bytes);
  RC_ASSERT(n <= bytes.size());
  return std::string(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(n));
}

RC_GTEST_PROP(XattrNames, RewriteThenStripIsIdentity, ()) {
  const std::string name = *gen_name();
  // user.virtiofs.* is refused before any rewrite, so it never reaches here.
  RC_PRE(!is_reserved_xattr_name(name));
  const std::string host = host_xattr_name(name, true);
  RC_ASSERT(strip_real(host + '\0') == name + '\0');
  // Also as the unterminated last name of a list.
  RC_ASSERT(strip_real(host) == name);
}

RC_GTEST_PROP(XattrNames, OnlySecurityButSelinuxIsRewritten, ()) {
  const std::string name = *gen_name();
  RC_ASSERT(host_xattr_name(name, false) == name);
  const std::string host = host_xattr_name(name, true);
  if (!name.starts_with(kSecurity) || name == kSelinux) {
    RC_ASSERT(host == name);
  } else {
    RC_ASSERT(host == std::string(kUserVirtiofsPrefix) + name);
  }
  RC_ASSERT(is_reserved_xattr_name(name) == name.starts_with(kUserVirtiofsPrefix));
}

RC_GTEST_PROP(XattrNames, ListStripsExactlyThePrefixedNames, ()) {
  // Host-side names as flistxattr would return them: a mix of rewritten guest
  // names, and the edge cases of the prefix test (exactly the prefix, one byte
  // short of it) often.
  const auto names =
      *rc::gen::container<std::vector<std::string>>(rc::gen::weightedOneOf<std::string>(
          {{1, gen_name()},
           {1, rc::gen::map(gen_name(),
                            [](const std::string& n) { return host_xattr_name(n, true); })},
           {2, rc::gen::element<std::string>("user.virtiofs.", "user.virtiofs", "user.virtiofs.x",
                                             "")}}));
  const bool last_terminated = names.empty() || *rc::gen::arbitrary<bool>();
  std::string buf;
  for (size_t i = 0; i < names.size(); ++i) {
    buf.append(names[i]);
    if (i + 1 < names.size() || last_terminated) buf.push_back('\0');
  }
  RC_ASSERT(strip_real(buf) == strip_model(names, last_terminated));
}

// The guest's user.virtiofs.* through the real server, rewriting on: set is
// EPERM, get and remove ENODATA, and a value planted on the host under that name
// neither leaks nor goes away.
RC_GTEST_PROP(XattrNames, ReservedNamesRefusedThroughServer, ()) {
  const std::string suffix = *rc::gen::resize(
      40, rc::gen::nonEmpty(rc::gen::container<std::string>(rc::gen::inRange<char>('!', '~'))));
  const std::string name = std::string(kUserVirtiofsPrefix) + suffix;
  const bool plant = *rc::gen::arbitrary<bool>();

  pfs::testing::ScratchDir dir("pfs-prop-xnames");
  RC_ASSERT(dir.ok());
  const std::string file = dir / "f";
  {
    const int fd = ::open(file.c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
    RC_ASSERT(fd >= 0);
    ::close(fd);
  }
  if (plant) RC_ASSERT(::setxattr(file.c_str(), name.c_str(), "host", 4, 0) == 0);

  pfs::passthrough::Config cfg;
  cfg.root_dir = dir.path();
  cfg.rewrite_security_xattrs = true;
  pfs::testing::ServedTree tree;
  RC_ASSERT(tree.open(cfg) == "");
  mem::Session& session = *tree.session;
  const mem::Reply look = session.run(req::lookup(1, "f"));
  RC_ASSERT(look.ok());
  const uint64_t node = look.as<fuse_entry_out>()->nodeid;

  RC_ASSERT(session.run(req::setxattr(node, name, "guest")).error() == EPERM);
  RC_ASSERT(session.run(req::setxattr(node, name, "guest", XATTR_CREATE)).error() == EPERM);
  RC_ASSERT(session.run(req::getxattr(node, name, 0)).error() == ENODATA);
  RC_ASSERT(session.run(req::getxattr(node, name, 64)).error() == ENODATA);
  RC_ASSERT(session.run(req::removexattr(node, name)).error() == ENODATA);

  // The host still holds exactly what it held.
  char value[16] = {};
  const ssize_t n = ::getxattr(file.c_str(), name.c_str(), value, sizeof(value));
  if (plant) {
    RC_ASSERT(n == 4);
    RC_ASSERT(std::string_view(value, 4) == "host");
  } else {
    RC_ASSERT(n == -1);
    RC_ASSERT(errno == ENODATA);
  }
}

}  // namespace
