// ScratchArea::reset() must hand every input exactly the fixed tree, whatever the
// previous input did through the Server (and whatever shortcut reset() takes):
// after each kind of change below, the tree is described and compared with the
// description of a freshly built one.
#include "fuzz/scratch_area.h"

#include <fcntl.h>
#include <ftw.h>
#include <gtest/gtest.h>
#include <linux/fs.h>
#include <linux/fuse.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <functional>
#include <limits>
#include <memory>
#include <string>

#include "core/fuse/server.h"
#include "core/passthrough/passthrough_fs.h"
#include "core/transport/memory/request_builder.h"
#include "core/transport/memory/session.h"
#include "fuzz/oracles.h"
#include "fuzz/race_client.h"

namespace pfs::fuzz {
namespace {

namespace mem = pfs::transport::memory;
namespace req = pfs::transport::memory::req;

// One input's worth of requests on the scratch tree.
class Input {
 public:
  explicit Input(const std::string& root) {
    passthrough::Config cfg;
    cfg.root_dir = root;
    auto created = passthrough::PassthroughFs::create(cfg);
    if (!created.ok()) std::abort();
    fs_ = std::move(*created);
    server_ = std::make_unique<fuse::Server>(*fs_);
    client_ = std::make_unique<RaceClient>(*server_);
    expect_ok(req::init(mem::kLinuxInitFlags));
  }

  std::span<const uint8_t> call(const mem::Bytes& request) { return client_->call(request); }
  void expect_ok(const mem::Bytes& request) { EXPECT_EQ(reply_error(call(request)), 0); }

  // The node id of `path` (relative to the root, '/'-separated).
  uint64_t node(const std::string& path) {
    uint64_t at = 1;
    size_t from = 0;
    while (from < path.size()) {
      const size_t slash = path.find('/', from);
      const std::string part =
          path.substr(from, slash == std::string::npos ? path.npos : slash - from);
      at = payload<fuse_entry_out>(call(req::lookup(at, part))).nodeid;
      from = slash == std::string::npos ? path.size() : slash + 1;
    }
    return at;
  }
  uint64_t open(const std::string& path, uint32_t flags) {
    return payload<fuse_open_out>(call(req::open(node(path), flags))).fh;
  }
  void setattr(const std::string& path, const fuse_setattr_in& in) {
    expect_ok(req::setattr(node(path), in));
  }

  template <class T>
  static T payload(std::span<const uint8_t> reply) {
    T out{};
    EXPECT_EQ(reply_error(reply), 0);
    if (reply.size() >= sizeof(fuse_out_header) + sizeof(T)) {
      std::memcpy(&out, reply.data() + sizeof(fuse_out_header), sizeof(T));
    }
    return out;
  }

 private:
  std::unique_ptr<passthrough::PassthroughFs> fs_;
  std::unique_ptr<fuse::Server> server_;
  std::unique_ptr<RaceClient> client_;
};

uint64_t payload_of_opendir(Input& in) {
  return Input::payload<fuse_open_out>(in.call(req::opendir(in.node("dir")))).fh;
}

struct Change {
  const char* name;
  bool changes_tree;  // visibly, in describe_root()
  std::function<void(Input&, const ScratchArea&)> apply;
};

fuse_setattr_in attr(uint32_t valid) {
  fuse_setattr_in in{};
  in.valid = valid;
  return in;
}

const Change kChanges[] = {
    {"CreateLeftOpen", true,
     [](Input& in, const ScratchArea&) {
       in.expect_ok(req::create(1, "new", S_IFREG | 0644, O_RDWR));
       in.expect_ok(req::create(in.node("dir/sub"), "deep", S_IFREG | 0600, O_RDWR));
     }},
    {"MkdirTree", true,
     [](Input& in, const ScratchArea&) {
       in.expect_ok(req::mkdir(1, "d1", 0755));
       in.expect_ok(req::mkdir(in.node("d1"), "d2", 0700));
       in.expect_ok(req::create(in.node("d1/d2"), "f", S_IFREG | 0600, O_RDWR));
       in.expect_ok(req::mknod(in.node("dir"), "pipe", S_IFIFO | 0600, 0));
     }},
    {"RenameAcrossDirs", true,
     [](Input& in, const ScratchArea&) {
       in.expect_ok(req::rename(1, "file", in.node("dir/sub"), "moved"));
       in.expect_ok(req::rename(in.node("dir"), "nested", 1, "nested_up"));
     }},
    {"RenameExchange", true,
     [](Input& in, const ScratchArea&) {
       in.expect_ok(req::rename2(1, "empty", 1, "ro", RENAME_EXCHANGE));
       in.expect_ok(req::rename2(1, "link", in.node("dir"), "sub", RENAME_EXCHANGE));
     }},
    {"RenameOverAndUnlink", true,
     [](Input& in, const ScratchArea&) {
       in.expect_ok(req::rename(1, "Upper.TXT", 1, "empty"));
       in.expect_ok(req::unlink(1, "abs"));
       in.expect_ok(req::rmdir(in.node("dir"), "sub"));
     }},
    {"Chmod", true,
     [](Input& in, const ScratchArea&) {
       fuse_setattr_in a = attr(FATTR_MODE);
       a.mode = S_IFDIR | 0500;
       in.setattr("dir/sub", a);
       a.mode = S_IFREG | 0666;
       in.setattr("ro", a);
       a.mode = S_IFDIR | 0711;
       in.expect_ok(req::setattr(1, a));
     }},
    {"Chown", true,
     [](Input& in, const ScratchArea&) {
       fuse_setattr_in a = attr(FATTR_UID | FATTR_GID);
       a.uid = 1234;
       a.gid = 5678;
       in.setattr("file", a);
       in.setattr("dir", a);
       in.expect_ok(req::setattr(1, a));
     }},
    {"SetAndRemoveXattrs", true,
     [](Input& in, const ScratchArea&) {
       in.expect_ok(req::setxattr(in.node("dir/nested"), "user.added", "x"));
       in.expect_ok(req::setxattr(in.node("file"), "user.fuzz", "other"));
       in.expect_ok(req::removexattr(in.node("file"), "user.virtiofs.security.fuzz"));
       in.expect_ok(req::setxattr(1, "user.on_root", "y"));
     }},
    {"Symlink", true,
     [](Input& in, const ScratchArea&) {
       in.expect_ok(req::symlink(in.node("dir/sub"), "s", "../../file"));
       in.expect_ok(req::symlink(1, "out", "/etc/passwd"));
     }},
    {"HardLink", true,
     [](Input& in, const ScratchArea&) {
       in.expect_ok(req::link(in.node("file"), in.node("dir/sub"), "hl"));
       in.expect_ok(req::link(in.node("dir/nested"), 1, "nested_too"));
     }},
    {"TruncateAndWrite", true,
     [](Input& in, const ScratchArea&) {
       fuse_setattr_in a = attr(FATTR_SIZE);
       a.size = 0;
       in.setattr("file", a);
       a.size = 1 << 20;
       in.setattr("dir/nested", a);
       const uint64_t fh = in.open("Upper.TXT", O_RDWR);
       in.expect_ok(req::write(in.node("Upper.TXT"), fh, 0, std::string_view("CASE")));
     }},
    {"TimesOnly",
     false,  // describe_root() leaves times out: oldest_mtime() sees this one
     [](Input& in, const ScratchArea&) {
       fuse_setattr_in a = attr(FATTR_ATIME | FATTR_MTIME);
       a.atime = 1;
       a.mtime = 1;
       in.setattr("empty", a);
       in.setattr("dir/sub", a);
     }},
    {"OpenFdsLeftBehind", false,
     [](Input& in, const ScratchArea&) {
       (void)in.open("file", O_RDONLY);
       (void)in.open("dir/nested", O_RDWR);
       (void)payload_of_opendir(in);
     }},
    {"ReadsOnly", false,
     [](Input& in, const ScratchArea&) {
       const uint64_t fh = in.open("file", O_RDONLY);
       (void)in.call(req::read(in.node("file"), fh, 0, 4096));
       (void)in.call(req::getxattr(in.node("file"), "user.fuzz", 64));
     }},
    {"ImmutableAndAppendOnlyFromTheHost", true,
     [](Input&, const ScratchArea& area) {
       for (const char* rel : {"/dir/nested", "/dir/sub", "/ro"}) {
         const int fd = ::open((area.root() + rel).c_str(), O_RDONLY | O_CLOEXEC);
         ASSERT_GE(fd, 0);
         int flags = std::string(rel) == "/ro" ? FS_APPEND_FL : FS_IMMUTABLE_FL;
         EXPECT_EQ(::ioctl(fd, FS_IOC_SETFLAGS, &flags), 0) << rel;
         ::close(fd);
       }
     }},
};

// The oldest mtime in the tree: the times an input set must not survive a reset.
time_t g_oldest = 0;
time_t oldest_mtime(const std::string& root) {
  g_oldest = std::numeric_limits<time_t>::max();
  ::nftw(
      root.c_str(),
      [](const char*, const struct stat* st, int, FTW*) {
        g_oldest = std::min(g_oldest, st->st_mtim.tv_sec);
        return 0;
      },
      8, FTW_PHYS);
  return g_oldest;
}

class ScratchResetTest : public ::testing::TestWithParam<Change> {
 protected:
  static void SetUpTestSuite() {
    ScratchArea fresh;
    fresh.full_reset();
    pristine_ = new std::string(fresh.describe_root());
    if (!fresh.incremental()) {
      std::fprintf(stderr,
                   "WARNING: change times are coarse on this file system: reset() "
                   "rebuilds the whole tree every time; the repair path is NOT tested\n");
    }
  }
  static void TearDownTestSuite() {
    delete pristine_;
    pristine_ = nullptr;
  }
  static std::string* pristine_;
};
std::string* ScratchResetTest::pristine_ = nullptr;

TEST_P(ScratchResetTest, TheNextInputGetsTheFixedTree) {
  ScratchArea area;
  area.reset();
  ASSERT_EQ(area.describe_root(), *pristine_);
  const size_t fds = count_open_fds();
  for (int round = 0; round < 2; ++round) {  // twice: repairs must leave good stamps
    {
      Input in(area.root());
      GetParam().apply(in, area);
    }
    EXPECT_EQ(count_open_fds(), fds);
    if (GetParam().changes_tree) {
      EXPECT_NE(area.describe_root(), *pristine_) << "the change changed nothing";
    }
    area.reset();
    EXPECT_EQ(area.describe_root(), *pristine_) << "round " << round;
    EXPECT_GT(oldest_mtime(area.root()), 1000) << "round " << round;
    area.check_canary();
  }
  if (area.incremental()) {
    EXPECT_EQ(area.reset_counts().full, 1u);
    const bool repairs = GetParam().changes_tree || std::string(GetParam().name) == "TimesOnly";
    EXPECT_EQ(area.reset_counts().repaired, repairs ? 2u : 0u);
  }
  area.reset();  // nothing changed since: no work
  if (area.incremental()) {
    EXPECT_EQ(area.reset_counts().clean, area.reset_counts().repaired == 2 ? 1u : 3u);
  }
  EXPECT_EQ(area.describe_root(), *pristine_);
}

INSTANTIATE_TEST_SUITE_P(EachChange, ScratchResetTest, ::testing::ValuesIn(kChanges),
                         [](const auto& p) { return std::string(p.param.name); });

TEST(ScratchReset, ProbesFineGrainedChangeTimes) {
  ScratchArea area;
  // /dev/shm is tmpfs; Linux 6.13+ gives it multigrain timestamps. Say loudly
  // when the shortcut is off, so a slow fuzzer has an explanation.
  if (!area.incremental()) {
    std::fprintf(stderr, "WARNING: ScratchArea falls back to full resets on this machine\n");
  }
  ::setenv("PFS_FUZZ_FULL_RESET", "1", 1);
  ScratchArea forced;
  ::unsetenv("PFS_FUZZ_FULL_RESET");
  EXPECT_FALSE(forced.incremental());
  forced.reset();
  forced.reset();
  EXPECT_EQ(forced.reset_counts().full, 2u);
}

}  // namespace
}  // namespace pfs::fuzz
