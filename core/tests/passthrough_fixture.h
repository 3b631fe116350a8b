// End-to-end fixture: a PassthroughFs over a fresh scratch directory, behind a
// Server, driven through the in-memory transport. Tests send encoded requests,
// decode the replies, and check what the host directory then holds.
#pragma once

#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/fuse.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdint>
#include <fstream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>

#include "core/fuse/server.h"
#include "core/passthrough/passthrough_fs.h"
#include "core/tests/scratch_dir.h"
#include "core/tests/served_tree.h"
#include "core/transport/memory/reply.h"
#include "core/transport/memory/request_builder.h"
#include "core/transport/memory/session.h"

namespace pfs::testing {

namespace mem = pfs::transport::memory;
namespace req = pfs::transport::memory::req;

class PassthroughTest : public ::testing::Test {
 protected:
  // Subclasses may change cfg_ before calling start() (SetUp calls it with the
  // defaults unless start_in_setup_ is false).
  void SetUp() override {
    ASSERT_TRUE(dir_.ok());
    if (start_in_setup_) start();
  }

  void start(uint64_t capable = mem::kLinuxInitFlags) {
    cfg_.root_dir = dir_.path();
    ServedTree tree;
    const std::string why = tree.open(cfg_, capable);
    ASSERT_EQ(why, "");
    fs_ = std::move(tree.fs);
    server_ = std::move(tree.server);
    session_ = std::move(tree.session);
  }

  mem::Reply run(const mem::Bytes& request) {
    mem::Reply r = session_->run(request);
    EXPECT_TRUE(!r.replied || r.well_formed()) << "malformed reply header";
    return r;
  }

  // --- host-side helpers -------------------------------------------------
  std::string host(const std::string& rel) const { return dir_ / rel; }
  void write_host_file(const std::string& rel, const std::string& content, mode_t mode = 0644) {
    std::ofstream(host(rel), std::ios::binary) << content;
    ::chmod(host(rel).c_str(), mode);
  }
  std::string read_host_file(const std::string& rel) const {
    std::ifstream in(host(rel), std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }
  std::optional<struct stat> host_stat(const std::string& rel) const {
    struct stat st {};
    if (::lstat(host(rel).c_str(), &st) != 0) return std::nullopt;
    return st;
  }
  bool host_exists(const std::string& rel) const { return host_stat(rel).has_value(); }

  // --- request helpers (assert success, return the useful part) ----------
  fuse_entry_out lookup_ok(fuse::Inode parent, const std::string& name) {
    auto r = run(req::lookup(parent, name));
    EXPECT_TRUE(r.ok()) << "lookup " << name << ": errno " << r.error();
    return r.as<fuse_entry_out>().value_or(fuse_entry_out{});
  }
  int lookup_errno(fuse::Inode parent, const std::string& name) {
    return run(req::lookup(parent, name)).error();
  }
  // CREATE: returns (nodeid, fh).
  std::pair<fuse::Inode, fuse::Handle> create_ok(fuse::Inode parent, const std::string& name,
                                                 uint32_t mode = 0644, uint32_t flags = O_RDWR) {
    auto r = run(req::create(parent, name, S_IFREG | mode, flags));
    EXPECT_TRUE(r.ok()) << "create " << name << ": errno " << r.error();
    auto e = r.at<fuse_entry_out>(0).value_or(fuse_entry_out{});
    auto o = r.at<fuse_open_out>(sizeof(fuse_entry_out)).value_or(fuse_open_out{});
    return {e.nodeid, o.fh};
  }
  fuse::Handle open_ok(fuse::Inode inode, uint32_t flags) {
    auto r = run(req::open(inode, flags));
    EXPECT_TRUE(r.ok()) << "open: errno " << r.error();
    return r.as<fuse_open_out>().value_or(fuse_open_out{}).fh;
  }
  fuse::Handle opendir_ok(fuse::Inode inode) {
    auto r = run(req::opendir(inode));
    EXPECT_TRUE(r.ok()) << "opendir: errno " << r.error();
    return r.as<fuse_open_out>().value_or(fuse_open_out{}).fh;
  }
  uint32_t write_ok(fuse::Inode inode, fuse::Handle fh, uint64_t off, const std::string& data) {
    auto r = run(req::write(inode, fh, off, data));
    EXPECT_TRUE(r.ok()) << "write: errno " << r.error();
    return r.as<fuse_write_out>().value_or(fuse_write_out{}).size;
  }
  std::string read_ok(fuse::Inode inode, fuse::Handle fh, uint64_t off, uint32_t size) {
    auto r = run(req::read(inode, fh, off, size));
    EXPECT_TRUE(r.ok()) << "read: errno " << r.error();
    return r.payload_string();
  }
  fuse_attr_out getattr_ok(fuse::Inode inode) {
    auto r = run(req::getattr(inode));
    EXPECT_TRUE(r.ok()) << "getattr: errno " << r.error();
    return r.as<fuse_attr_out>().value_or(fuse_attr_out{});
  }
  uint64_t refcount(fuse::Inode inode) const { return fs_->inodes().refcount(inode); }
  void expect_tables_consistent() const { EXPECT_EQ(fs_->inodes().check_invariants(), ""); }

  passthrough::Config cfg_;
  bool start_in_setup_ = true;
  ScratchDir dir_{"pfs-e2e"};
  std::unique_ptr<passthrough::PassthroughFs> fs_;
  std::unique_ptr<fuse::Server> server_;
  std::unique_ptr<mem::Session> session_;
};

}  // namespace pfs::testing
