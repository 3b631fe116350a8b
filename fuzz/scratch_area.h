// The per-process playground of the fuse_session target:
//
//   <base>/root/     the shared directory, reset to a small fixed tree per input
//   <base>/canary/   a canary tree beside it: nothing may ever change it
//
// <base> is made under /dev/shm (tmpfs: fast, no disk) when it is usable, else
// under $TMPDIR or /tmp, and removed when the process exits normally.
//
// The fixed tree (see reset()):
//   file      "hello, world\n" 0644, xattrs user.fuzz and user.virtiofs.security.fuzz
//   empty     0600
//   ro        0444
//   Upper.TXT for case-insensitive lookups
//   dir/      0755: nested (a file), sub/ (empty)
//   link      -> file
//   escape    -> ../canary/secret (relative, leads out)
//   abs       -> <base>/canary/secret (absolute, leads out)
//   fifo      a named pipe
#pragma once

#include <string>

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

  // Empties root/ (whatever an input left there: read-only dirs, immutable files)
  // and rebuilds the fixed tree. Aborts on error.
  void reset();

  // Aborts when the canary tree, or <base> itself (only root/ and canary/ may be
  // there), differs from the snapshot taken at construction.
  void check_canary() const;

 private:
  std::string snapshot() const;

  std::string base_;
  std::string root_;
  std::string canary_;
  std::string canary_snapshot_;
};

}  // namespace pfs::fuzz
