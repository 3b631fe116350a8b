// The per-process playground of the fuse_session and fuse_race targets:
//
//   <base>/root/     the shared directory, brought back to a small fixed tree per input
//   <base>/canary/   a canary tree beside it: nothing may ever change it
//
// <base> is made under /dev/shm (tmpfs: fast, no disk) when it is usable, else
// under $TMPDIR or /tmp, and removed when the process exits normally.
//
// The fixed tree (see build_entry() in scratch_area.cc):
//   file      "hello, world\n" 0644, xattrs user.fuzz and user.virtiofs.security.fuzz
//   empty     0600
//   ro        0444
//   Upper.TXT for case-insensitive lookups
//   dir/      0755: nested (a file), sub/ (empty)
//   link      -> file
//   escape    -> ../canary/secret (relative, leads out)
//   abs       -> <base>/canary/secret (absolute, leads out)
//   fifo      a named pipe
//
// Speed: where change times are fine grained (tree_stamp.h), reset() stats the
// fixed entries and rebuilds only the top-level entries whose stamp changed (and
// removes the names an input added), and check_canary() compares stamps before
// walking. Elsewhere, or with PFS_FUZZ_FULL_RESET set, every reset empties and
// rebuilds the tree and every canary check walks it, as before.
#pragma once

#include <sys/stat.h>

#include <cstddef>
#include <string>
#include <vector>

#include "core/passthrough/scoped_fd.h"
#include "fuzz/tree_stamp.h"

namespace pfs::fuzz {

class ScratchArea {
 public:
  // Makes <base>, the canary tree and its snapshot; aborts (oracle_fail) on error.
  ScratchArea();
  ~ScratchArea();
  ScratchArea(const ScratchArea&) = delete;
  ScratchArea& operator=(const ScratchArea&) = delete;

  const std::string& root() const { return root_; }
  const std::string& canary() const { return canary_; }

  // Brings root/ back to the fixed tree, whatever an input left there (new names,
  // renames, links, read-only dirs, immutable files, changed modes, owners,
  // xattrs, contents). Aborts on error.
  void reset();
  // The fallback: empties root/ and rebuilds all of it.
  void full_reset();

  // Aborts when the canary tree, or <base> itself (only root/ and canary/ may be
  // there), differs from what it was at construction.
  void check_canary() const;

  // Whether reset() and check_canary() take the stamp shortcuts.
  bool incremental() const { return incremental_; }

  // What reset() did so far (for tests and tuning).
  struct ResetCounts {
    size_t clean = 0;     // nothing changed: no work
    size_t repaired = 0;  // some entries rebuilt
    size_t full = 0;      // emptied and rebuilt
  };
  const ResetCounts& reset_counts() const { return counts_; }

  // root/ described without inode numbers or times (names, types, modes, owners,
  // sizes, link counts, contents, link targets, xattrs): equal to the
  // description after full_reset() exactly when the tree is the fixed tree.
  std::string describe_root() const;

 private:
  std::string snapshot() const;
  void build_entry(const std::string& name);
  void restore_root_metadata(const struct stat* now);
  void repair();
  void take_canary_stamps(std::vector<EntryStamp>& out) const;

  std::string base_;
  std::string root_;
  std::string canary_;
  ScopedFd base_fd_;
  bool incremental_ = false;
  bool built_ = false;
  ResetCounts counts_;
  // Paths (relative to <base>) of root/ and each fixed entry, the top-level
  // entry each belongs to (-1: root/ itself), and their stamps after the last reset.
  std::vector<std::string> root_paths_;
  std::vector<int> root_path_owner_;
  std::vector<EntryStamp> root_stamps_;
  // <base>, canary/ and everything in it, and an O_PATH fd on each.
  std::vector<std::string> canary_paths_;
  std::vector<ScopedFd> canary_fds_;
  std::vector<EntryStamp> canary_stamps_;
  // Where the current stamps are taken, reused across inputs.
  mutable std::vector<EntryStamp> now_;
  std::string canary_snapshot_;
};

}  // namespace pfs::fuzz
