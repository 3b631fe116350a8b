// Writes the hand-made seeds of fuse_race into <corpora>/fuse_race/: a config
// byte and two or three FUSE streams split by "PFSR" (race_input.h). Stream ids
// are the stream's own (id_map.h): node 2 is the first id that stream was handed.
//
//   pfs_make_race_seeds <corpora dir>
#include <fcntl.h>
#include <linux/fs.h>
#include <linux/fuse.h>
#include <sys/stat.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "core/transport/memory/request_builder.h"
#include "fuzz/race_input.h"

namespace {

namespace mem = pfs::transport::memory;
namespace req = pfs::transport::memory::req;
using mem::Bytes;

// Requests with increasing unique ids, as uid/gid `id` (a guest user: an owner
// change that escapes shows).
class Script {
 public:
  explicit Script(uint32_t id = 1000) : id_(id) {}
  pfs::fuse::Context next() { return pfs::fuse::Context{id_, id_, 100, ++unique_}; }
  Script& add(Bytes b) {
    reqs_.push_back(std::move(b));
    return *this;
  }
  Bytes bytes() const { return mem::concat(reqs_); }

 private:
  uint32_t id_;
  std::vector<Bytes> reqs_;
  uint64_t unique_ = 0;
};

Bytes race_input(uint8_t config, const std::vector<Bytes>& streams) {
  Bytes out{config};
  for (size_t i = 0; i < streams.size(); ++i) {
    if (i > 0) {
      out.insert(out.end(), std::begin(pfs::fuzz::kRaceSeparator),
                 std::end(pfs::fuzz::kRaceSeparator));
    }
    out.insert(out.end(), streams[i].begin(), streams[i].end());
  }
  return out;
}

// MKDIR in the root, then in dir (node 2) and dir/sub (node 3).
Bytes mkdirs(uint32_t uid, int rounds) {
  Script s(uid);
  s.add(req::lookup(1, "dir", s.next())).add(req::lookup(2, "sub", s.next()));
  for (int i = 0; i < rounds; ++i) {
    s.add(req::mkdir(1, "m" + std::to_string(i), 0755, 022, s.next()));
    s.add(req::mkdir(2, "n" + std::to_string(i), 0700, 0, s.next()));
    s.add(req::mkdir(3, "o" + std::to_string(i), 0750, 0, s.next()));
  }
  return s.bytes();
}

// CREATE and MKNOD (no MKDIR) in the root and in dir (node 2).
Bytes creates(uint32_t uid, int rounds) {
  Script s(uid);
  s.add(req::lookup(1, "dir", s.next()));
  for (int i = 0; i < rounds; ++i) {
    // MKNOD first, so that each CREATE has an odd unique: a guided adversary aims
    // at it (race_input.h).
    s.add(req::mknod(2, "p" + std::to_string(i), S_IFIFO | 0600, 0, 0, s.next()));
    s.add(req::create(1, "f" + std::to_string(i), S_IFREG | 0644, O_RDWR, 022, s.next()));
  }
  return s.bytes();
}

// MKDIR of one name again and again: every try builds a hidden TempDir first.
Bytes same_name_mkdirs(uint32_t parent_lookups, int rounds) {
  Script s;
  uint64_t parent = 1;
  if (parent_lookups > 0) {
    s.add(req::lookup(1, "dir", s.next()));
    parent = 2;
  }
  for (int i = 0; i < rounds; ++i) s.add(req::mkdir(parent, "again", 0755, 022, s.next()));
  return s.bytes();
}

Bytes listing(bool plus, int rounds) {
  Script s(0);
  s.add(req::opendir(1, 0, s.next()));
  for (int i = 0; i < rounds; ++i) {
    s.add(plus ? req::readdirplus(1, 1, 0, 4096, s.next()) : req::readdir(1, 1, 0, 4096, s.next()));
  }
  s.add(req::releasedir(1, 1, 0, s.next()));
  return s.bytes();
}

// Creates, renames and removes files and directories, and uses names the other
// streams made (node ids 64 and up come from the shared pool).
Bytes churn() {
  Script s(1001);
  s.add(req::create(1, "c", S_IFREG | 0644, O_RDWR, 022, s.next()));  // node 2, fh 1
  s.add(req::write(2, 1, 0, std::string_view("x"), s.next()));
  s.add(req::release(2, 1, 0, 0, 0, s.next()));
  s.add(req::rename2(1, "c", 1, "file", RENAME_EXCHANGE, s.next()));
  s.add(req::symlink(1, "sl", "dir", s.next()));
  s.add(req::rename2(1, "sl", 1, "dir", RENAME_EXCHANGE, s.next()));
  s.add(req::rename2(1, "sl", 1, "dir", RENAME_EXCHANGE, s.next()));
  s.add(req::getattr(65, {}, s.next())).add(req::lookup(65, "n0", s.next()));
  s.add(req::unlink(1, "c", s.next())).add(req::rmdir(1, "m0", s.next()));
  fuse_setattr_in in{};
  in.valid = FATTR_UID | FATTR_GID;
  in.uid = 1001;
  in.gid = 1001;
  s.add(req::setattr(66, in, s.next()));
  return s.bytes();
}

bool write_file(const std::filesystem::path& path, const Bytes& bytes) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  return static_cast<bool>(f);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s <corpora dir>\n", argv[0]);
    return 2;
  }
  const std::filesystem::path dir = std::filesystem::path(argv[1]) / "fuse_race";
  std::filesystem::create_directories(dir);
  // Config bits: race_input.h.
  const struct {
    const char* name;
    Bytes bytes;
  } seeds[] = {
      {"mkdir_vs_readdir", race_input(0x40, {mkdirs(1000, 6), listing(false, 16)})},
      {"mkdir_relative_links", race_input(0x41, {mkdirs(1000, 6), listing(true, 16)})},
      {"mkdir_canary_sub", race_input(0x22, {mkdirs(0, 4), mkdirs(1002, 4)})},
      {"mkdir_same_name", race_input(0x60, {same_name_mkdirs(0, 16), same_name_mkdirs(1, 16)})},
      {"three_streams_all_links",
       race_input(0x23, {mkdirs(1000, 4), same_name_mkdirs(1, 8), listing(false, 8)})},
      {"churn_watch_swap_seen", race_input(0x18, {mkdirs(1000, 3), listing(true, 4), churn()})},
      {"create_vs_readdir", race_input(0x40, {creates(1000, 6), listing(false, 16)})},
      {"churn_no_adversary", race_input(0x04, {churn(), mkdirs(1000, 2)})},
      // Bit 4 with a guided adversary: the new names of aimed requests are swapped
      // too, between the request making them and looking them up.
      {"create_new_names_swapped", race_input(0x50, {creates(1000, 6), mkdirs(1002, 4)})},
      // Bit 7: the adversary runs free (lists in a loop while names are made).
      {"mkdir_vs_readdir_free", race_input(0xc0, {mkdirs(1000, 6), listing(false, 16)})},
      {"mkdir_same_name_free",
       race_input(0xe0, {same_name_mkdirs(0, 16), same_name_mkdirs(1, 16)})},
      {"create_vs_readdir_free", race_input(0xc0, {creates(1000, 6), listing(false, 16)})},
  };
  bool ok = true;
  for (const auto& s : seeds) ok &= write_file(dir / (std::string(s.name) + ".race"), s.bytes);
  std::printf("wrote %zu seed files under %s\n", std::size(seeds), dir.c_str());
  return ok ? 0 : 1;
}
