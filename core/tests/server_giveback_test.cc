// The Server over a real PassthroughFs: when the reply space cannot hold the reply
// of an operation that takes something (an entry reference, a handle), the server
// answers EINVAL and the FS holds exactly what it held before: no reference,
// handle, descriptor or host name is left behind without a reply to carry it.
// With exactly enough room the same request succeeds.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "core/tests/fs_tally.h"
#include "core/tests/passthrough_fixture.h"

namespace pfs::testing {
namespace {

struct TakingOp {
  const char* what;
  size_t reply_payload;  // the success reply after the fuse_out_header
  mem::Bytes request;
  const char* makes;  // the host name a success creates, or nullptr
};

class ServerGiveBackTest : public PassthroughTest {
 protected:
  void SetUp() override {
    PassthroughTest::SetUp();
    write_host_file("f", "data");
    f_ = lookup_ok(fuse::kRootInode, "f").nodeid;
  }

  std::vector<TakingOp> ops() const {
    const size_t entry = sizeof(fuse_entry_out);
    const size_t open = sizeof(fuse_open_out);
    return {
        {"LOOKUP", entry, req::lookup(fuse::kRootInode, "f"), nullptr},
        {"MKNOD", entry, req::mknod(fuse::kRootInode, "p", S_IFIFO | 0600, 0), "p"},
        {"MKDIR", entry, req::mkdir(fuse::kRootInode, "d", 0755), "d"},
        {"SYMLINK", entry, req::symlink(fuse::kRootInode, "l", "f"), "l"},
        {"LINK", entry, req::link(f_, fuse::kRootInode, "f2"), "f2"},
        {"CREATE", entry + open, req::create(fuse::kRootInode, "c", S_IFREG | 0644, O_RDWR), "c"},
        {"TMPFILE", entry + open, req::tmpfile(fuse::kRootInode, 0600, O_RDWR), nullptr},
        {"OPEN", open, req::open(f_, O_RDWR), nullptr},
        {"OPENDIR", open, req::opendir(fuse::kRootInode), nullptr},
    };
  }

  struct Held {
    FsTally tally;
    uint64_t root_refs;
    uint64_t f_refs;
    bool operator==(const Held&) const = default;
  };
  Held held() const { return {tally(*fs_), refcount(fuse::kRootInode), refcount(f_)}; }

  bool made_name(const TakingOp& op) const { return op.makes != nullptr && host_exists(op.makes); }

  fuse::Inode f_ = 0;
};

TEST_F(ServerGiveBackTest, ReplyThatCannotFitTakesNothing) {
  for (const TakingOp& op : ops()) {
    SCOPED_TRACE(op.what);
    mem::Session tiny(*server_, sizeof(fuse_out_header) + op.reply_payload - 1);
    const Held before = held();
    const mem::Reply r = tiny.run(op.request);
    ASSERT_TRUE(r.replied);
    EXPECT_EQ(r.error(), EINVAL);
    EXPECT_EQ(r.header.len, sizeof(fuse_out_header));
    const Held after = held();
    EXPECT_EQ(after.tally, before.tally);
    EXPECT_EQ(after.root_refs, before.root_refs);
    EXPECT_EQ(after.f_refs, before.f_refs);
    EXPECT_FALSE(made_name(op)) << op.makes;
  }
  expect_tables_consistent();
}

TEST_F(ServerGiveBackTest, ReplyThatJustFitsSucceeds) {
  for (const TakingOp& op : ops()) {
    SCOPED_TRACE(op.what);
    mem::Session exact(*server_, sizeof(fuse_out_header) + op.reply_payload);
    const Held before = held();
    const mem::Reply r = exact.run(op.request);
    ASSERT_TRUE(r.ok()) << r.error();
    EXPECT_EQ(r.payload.size(), op.reply_payload);
    EXPECT_NE(held(), before) << "a success takes a reference or a handle";
    EXPECT_EQ(made_name(op), op.makes != nullptr);
  }
}

TEST_F(ServerGiveBackTest, NoRoomForEvenAHeaderTakesNothingAndSendsNothing) {
  for (const TakingOp& op : ops()) {
    SCOPED_TRACE(op.what);
    mem::Session none(*server_, sizeof(fuse_out_header) - 1);
    const Held before = held();
    EXPECT_FALSE(none.run(op.request).replied);
    EXPECT_EQ(held(), before);
    EXPECT_FALSE(made_name(op)) << op.makes;
  }
}

}  // namespace
}  // namespace pfs::testing
