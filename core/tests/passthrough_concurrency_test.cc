// Several worker threads share one Server and one PassthroughFs (as the transports
// run them): interleaved lookups and forgets of the same inodes, creates and
// unlinks in one directory, mkdir/rmdir, I/O on shared files, readdir(plus) of the
// directory while it changes, xattrs on a fifo (the /proc chdir path). Afterwards
// every reference is returned and the tables, the handle table and the process's
// fd count are back where they started. Runs under TSan too (label concurrency).
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <atomic>
#include <barrier>
#include <filesystem>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "core/tests/fd_count.h"
#include "core/tests/passthrough_fixture.h"

namespace pfs::testing {
namespace {

constexpr int kThreads = 6;
constexpr int kIterations = 200;
constexpr int kSharedFiles = 4;
constexpr size_t kSlot = 8;  // bytes of each shared file that belong to one thread
// Reply room per request: every reply here is small, and a 1 MiB buffer per
// request (the default) makes the TSan build crawl in mmap/munmap.
constexpr size_t kReplyRoom = 16384;

// One worker: its own Session over the shared server, its own reference counts.
class Worker {
 public:
  Worker(fuse::Server& server, int id)
      : session_(server, kReplyRoom), id_(id), rng_(0xc0ffee + id) {}

  void run(std::barrier<>& start) {
    start.arrive_and_wait();
    shared_dir_ = lookup("shared");
    if (shared_dir_ == 0) return;
    for (int i = 0; i < kIterations; ++i) {
      switch ((i + id_) % 8) {
        case 0:
          churn_lookups();
          break;
        case 1:
          create_write_unlink(i);
          break;
        case 2:
          mkdir_rmdir(i);
          break;
        case 3:
          shared_io(i);
          break;
        case 4:
          list_directory(/*plus=*/false);
          break;
        case 5:
          list_directory(/*plus=*/true);
          break;
        case 6:
          fifo_xattrs(i);
          break;
        case 7:
          rename_dance(i);
          break;
      }
    }
    forget_all();
  }

  int errors() const { return errors_; }

 private:
  mem::Reply call(const mem::Bytes& request) {
    mem::Reply r = session_.run(request);
    if (r.replied && (!r.well_formed() || r.header.error > 0 || r.header.error <= -4096)) {
      ++errors_;
      ADD_FAILURE() << "thread " << id_ << ": malformed reply";
    }
    return r;
  }
  // A call that must succeed: every name a thread works on is its own.
  mem::Reply must(const mem::Bytes& request, const char* what) {
    mem::Reply r = call(request);
    if (!r.ok()) {
      ++errors_;
      ADD_FAILURE() << "thread " << id_ << ": " << what << ": errno " << r.error();
    }
    return r;
  }
  void took(fuse::Inode inode) {
    if (inode != 0) ++refs_[inode];
  }
  fuse::Inode lookup_in(fuse::Inode parent, const std::string& name) {
    auto r = must(req::lookup(parent, name), "lookup");
    const fuse::Inode inode = r.as<fuse_entry_out>().value_or(fuse_entry_out{}).nodeid;
    took(inode);
    return inode;
  }
  fuse::Inode lookup(const std::string& name) { return lookup_in(fuse::kRootInode, name); }
  // Gives back `n` of the references this thread holds on `inode`.
  void forget(fuse::Inode inode, uint64_t n) {
    auto it = refs_.find(inode);
    if (it == refs_.end()) return;
    n = std::min(n, it->second);
    call(req::forget(inode, n));
    if ((it->second -= n) == 0) refs_.erase(it);
  }
  void forget_all() {
    // Half by FORGET, half by one BATCH_FORGET.
    std::vector<std::pair<fuse::Inode, uint64_t>> batch;
    size_t k = 0;
    for (auto [inode, n] : refs_) {
      if (k++ % 2 == 0) {
        call(req::forget(inode, n));
      } else {
        batch.emplace_back(inode, n);
      }
    }
    if (!batch.empty()) call(req::batch_forget(batch));
    refs_.clear();
  }
  std::string own(const char* kind, int i) const {
    return std::string(kind) + std::to_string(id_) + "_" + std::to_string(i);
  }

  // Lookups and forgets of inodes every thread touches, down to zero and back.
  void churn_lookups() {
    for (int k = 0; k < 3; ++k) {
      const std::string name = "s" + std::to_string((id_ + k) % kSharedFiles);
      const fuse::Inode f = lookup_in(shared_dir_, name);
      const fuse::Inode churn = lookup("churn");
      call(req::getattr(f));
      forget(f, 1);
      if (rng_() % 2) forget(churn, 1);
    }
    // Lookup of a name other threads create and remove: any of the two answers.
    auto r = call(req::lookup(shared_dir_, "f" + std::to_string((id_ + 1) % kThreads) + "_0"));
    if (r.ok()) took(r.as<fuse_entry_out>()->nodeid);
  }

  void create_write_unlink(int i) {
    const std::string name = own("f", i % 4);
    auto r =
        must(req::create(shared_dir_, name, S_IFREG | 0644, O_RDWR | O_CREAT | O_EXCL), "create");
    auto e = r.at<fuse_entry_out>(0);
    auto o = r.at<fuse_open_out>(sizeof(fuse_entry_out));
    if (!e || !o) return;
    took(e->nodeid);
    const std::string data = "payload-" + name;
    must(req::write(e->nodeid, o->fh, 0, data), "write");
    auto rd = must(req::read(e->nodeid, o->fh, 0, 100), "read");
    EXPECT_EQ(rd.payload_string(), data);
    must(req::fsync(e->nodeid, o->fh, true), "fsync");
    must(req::release(e->nodeid, o->fh), "release");
    must(req::unlink(shared_dir_, name), "unlink");
    if (rng_() % 2) forget(e->nodeid, 1);
  }

  void mkdir_rmdir(int i) {
    const std::string name = own("d", i % 4);
    auto r = must(req::mkdir(shared_dir_, name, 0755), "mkdir");
    auto e = r.as<fuse_entry_out>();
    if (!e) return;
    took(e->nodeid);
    // A file inside, then both gone again.
    auto c = must(req::mknod(e->nodeid, "inner", S_IFREG | 0600, 0), "mknod");
    if (auto ce = c.as<fuse_entry_out>()) took(ce->nodeid);
    must(req::unlink(e->nodeid, "inner"), "unlink inner");
    must(req::rmdir(shared_dir_, name), "rmdir");
    forget(e->nodeid, 1);
  }

  // Each thread writes its own slot of a shared file and reads it back.
  void shared_io(int i) {
    for (int k = 0; k < kSharedFiles; ++k) shared_io_one(k, i);
  }
  void shared_io_one(int k, int i) {
    const fuse::Inode f = lookup_in(shared_dir_, "s" + std::to_string(k));
    auto o = must(req::open(f, O_RDWR), "open shared");
    auto open_out = o.as<fuse_open_out>();
    if (!open_out) return;
    std::string slot(kSlot, static_cast<char>('A' + id_));
    slot[kSlot - 1] = static_cast<char>('0' + i % 10);
    const uint64_t off = static_cast<uint64_t>(id_) * kSlot;
    must(req::write(f, open_out->fh, off, slot), "write shared");
    auto rd = must(req::read(f, open_out->fh, off, kSlot), "read shared");
    EXPECT_EQ(rd.payload_string(), slot);
    must(req::flush(f, open_out->fh), "flush");
    must(req::release(f, open_out->fh), "release shared");
    forget(f, 1);
  }

  // Lists the shared directory while the other threads change it. READDIRPLUS
  // takes a reference per listed entry (nodeid != 0); they are given back.
  void list_directory(bool plus) {
    auto o = must(req::opendir(shared_dir_), "opendir");
    auto open_out = o.as<fuse_open_out>();
    if (!open_out) return;
    uint64_t offset = 0;
    std::set<std::string> seen;
    for (int rounds = 0; rounds < 100; ++rounds) {
      auto r = plus ? call(req::readdirplus(shared_dir_, open_out->fh, offset, 512))
                    : call(req::readdir(shared_dir_, open_out->fh, offset, 512));
      if (!r.ok()) {
        ADD_FAILURE() << "readdir: errno " << r.error();
        break;
      }
      if (r.payload.empty()) break;
      if (plus) {
        auto entries = r.direntplus();
        if (!entries) {
          ADD_FAILURE() << "malformed READDIRPLUS payload";
          break;
        }
        for (const auto& e : *entries) {
          took(e.entry.nodeid);
          seen.insert(e.dirent.name);
          offset = e.dirent.off;
        }
      } else {
        auto entries = r.dirents();
        if (!entries) {
          ADD_FAILURE() << "malformed READDIR payload";
          break;
        }
        for (const auto& e : *entries) {
          seen.insert(e.name);
          offset = e.off;
        }
      }
    }
    // The files nobody removes are always listed.
    for (int k = 0; k < kSharedFiles; ++k) {
      EXPECT_EQ(seen.count("s" + std::to_string(k)), 1u) << "s" << k;
    }
    must(req::releasedir(shared_dir_, open_out->fh), "releasedir");
  }

  // The fifo's xattrs go through the process-wide chdir to /proc.
  void fifo_xattrs(int i) {
    const fuse::Inode p = lookup_in(shared_dir_, "fifo");
    const std::string name = "trusted.t" + std::to_string(id_);
    const std::string value = std::to_string(i);
    must(req::setxattr(p, name, value), "setxattr");
    auto g = must(req::getxattr(p, name, 64), "getxattr");
    EXPECT_EQ(g.payload_string(), value);
    must(req::listxattr(p, 0), "listxattr");
    must(req::removexattr(p, name), "removexattr");
    // And a directory's, by fd, at the same time.
    must(req::getxattr(shared_dir_, "user.shared", 64), "getxattr dir");
    forget(p, 1);
  }

  // A rename of one's own file, with a link added and removed on the way.
  void rename_dance(int i) {
    const std::string a = own("r", i % 4);
    const std::string b = a + "-moved";
    auto m = must(req::mknod(shared_dir_, a, S_IFREG | 0644, 0), "mknod");
    auto e = m.as<fuse_entry_out>();
    if (!e) return;
    took(e->nodeid);
    must(req::rename(shared_dir_, a, shared_dir_, b), "rename");
    auto l = must(req::link(e->nodeid, shared_dir_, a), "link");
    if (auto le = l.as<fuse_entry_out>()) took(le->nodeid);
    must(req::unlink(shared_dir_, a), "unlink link");
    must(req::unlink(shared_dir_, b), "unlink moved");
    forget(e->nodeid, 1);
  }

  mem::Session session_;
  const int id_;
  std::mt19937 rng_;
  fuse::Inode shared_dir_ = 0;
  std::map<fuse::Inode, uint64_t> refs_;
  int errors_ = 0;
};

class ConcurrencyTest : public PassthroughTest {
 protected:
  void SetUp() override {
    PassthroughTest::SetUp();
    ASSERT_EQ(::mkdir(host("shared").c_str(), 0755), 0);
    ASSERT_EQ(::mkdir(host("churn").c_str(), 0755), 0);
    for (int k = 0; k < kSharedFiles; ++k) {
      write_host_file("shared/s" + std::to_string(k), std::string(kThreads * kSlot, '.'));
    }
    ASSERT_EQ(::mkfifo(host("shared/fifo").c_str(), 0644), 0);
    ASSERT_EQ(::setxattr(host("shared").c_str(), "user.shared", "yes", 3, 0), 0);
  }
};

TEST_F(ConcurrencyTest, ThreadsSharingOneServerGiveEverythingBack) {
  const size_t fds_before = open_fd_count();
  ASSERT_EQ(fs_->inodes().size(), 1u);
  ASSERT_EQ(fs_->handles().size(), 0u);

  std::vector<std::unique_ptr<Worker>> workers;
  for (int t = 0; t < kThreads; ++t) workers.push_back(std::make_unique<Worker>(*server_, t));
  std::barrier<> start(kThreads);
  std::vector<std::thread> threads;
  for (auto& w : workers) threads.emplace_back([&start, &w] { w->run(start); });
  for (auto& t : threads) t.join();

  int errors = 0;
  for (auto& w : workers) errors += w->errors();
  EXPECT_EQ(errors, 0);

  // Every reference was given back: only the root is left, and no handle.
  EXPECT_EQ(fs_->inodes().size(), 1u);
  EXPECT_EQ(fs_->handles().size(), 0u);
  EXPECT_EQ(fs_->inodes().check_invariants(), "");
  EXPECT_EQ(refcount(fuse::kRootInode), 2u) << "the root keeps the seed's count";
  EXPECT_EQ(open_fd_count(), fds_before) << "an fd leaked";

  // The host holds exactly the files nobody removes, with every thread's last write.
  std::set<std::string> names;
  for (auto& e : std::filesystem::directory_iterator(host("shared"))) {
    names.insert(e.path().filename());
  }
  std::set<std::string> expected{"fifo"};
  for (int k = 0; k < kSharedFiles; ++k) expected.insert("s" + std::to_string(k));
  EXPECT_EQ(names, expected);
  for (int k = 0; k < kSharedFiles; ++k) {
    const std::string content = read_host_file("shared/s" + std::to_string(k));
    ASSERT_EQ(content.size(), kThreads * kSlot);
    for (int t = 0; t < kThreads; ++t) {
      EXPECT_EQ(content.substr(t * kSlot, kSlot - 1), std::string(kSlot - 1, 'A' + t))
          << "s" << k << " slot " << t;
    }
  }
  // The fifo's xattrs were all removed again, and the server still serves.
  char list[256];
  EXPECT_EQ(::llistxattr(host("shared/fifo").c_str(), list, sizeof(list)), 0);
  EXPECT_TRUE(getattr_ok(fuse::kRootInode).attr.mode & S_IFDIR);
}

// The same inode looked up and forgotten by every thread at once, with nothing
// else going on: the sharpest race between lookup's increment and forget's
// removal of the entry at zero.
TEST_F(ConcurrencyTest, LookupForgetRaceOnOneInode) {
  const size_t fds_before = open_fd_count();
  std::barrier<> start(kThreads);
  std::atomic<int> bad{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      mem::Session s(*server_, kReplyRoom);
      start.arrive_and_wait();
      for (int i = 0; i < 500; ++i) {
        auto r = s.run(req::lookup(fuse::kRootInode, "churn"));
        auto e = r.as<fuse_entry_out>();
        if (!r.ok() || !e) {
          ++bad;
          continue;
        }
        // Between our lookup and our forget the entry must stay usable.
        if (!s.run(req::getattr(e->nodeid)).ok()) ++bad;
        if ((i + t) % 3 == 0) {
          const std::pair<fuse::Inode, uint64_t> item[] = {{e->nodeid, 1}};
          s.run(req::batch_forget(item));
        } else {
          s.run(req::forget(e->nodeid, 1));
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(bad.load(), 0);
  EXPECT_EQ(fs_->inodes().size(), 1u);
  EXPECT_EQ(fs_->inodes().check_invariants(), "");
  EXPECT_EQ(open_fd_count(), fds_before);
}

}  // namespace
}  // namespace pfs::testing
