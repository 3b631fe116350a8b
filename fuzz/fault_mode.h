// fuse_session's fault mode: the input "PFSF" <config byte> <fault byte> <stream>
// arms one of the core's fault hooks (credentials.h, temp_dir.h, security_context.h,
// race_points.h) for the input, so that one step fails, or a racing client acts, on
// its N-th use. The server must answer with an errno and every oracle must hold.
//
// Fault byte: bits 0-3 the point (FaultPoint), bits 4-6 N (0: the first use), bit 7
// the point acts on every use from the N-th on (else only on the N-th).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "core/passthrough/credentials.h"
#include "core/passthrough/passthrough_fs.h"
#include "core/passthrough/race_points.h"
#include "core/passthrough/security_context.h"
#include "core/passthrough/temp_dir.h"

namespace pfs::fuzz {

enum class FaultPoint : uint8_t {
  kSetGid = 0,        // ScopedCredentials: setresgid fails (EPERM)
  kSetUid = 1,        // ScopedCredentials: setresuid fails (EPERM), the gid goes back
  kRandomSeed = 2,    // TempDir: getrandom fails (ENOSYS)
  kMkdir = 3,         // TempDir: mkdirat fails (ENOSPC)
  kMkdirTaken = 4,    // TempDir: mkdirat finds the name taken (EEXIST; with bit 7, all 64)
  kOpen = 5,          // TempDir: openat of the new directory fails (EMFILE)
  kOpenSymlink = 6,   // TempDir: openat finds a symlink (ELOOP), as after a swap
  kOpenSwapped = 7,   // TempDir: a client swaps the new directory for a full one
  kRemoveGone = 8,    // TempDir: a client moves the directory away before removal
  kRemoveFull = 9,    // TempDir: a client puts a file in it before removal
  kSecCtx = 10,       // ScopedSecurityContext: the write to fscreate fails (EACCES)
  kSecCtxTaken = 11,  // ScopedSecurityContext: the LSM takes the context (and its reset)
  kNameSwapped = 12,  // a client swaps each new name for a decoy of another type
  kCount
};

class FaultMode {
 public:
  // Arms the point `fault` names (FaultPoint(fault & 15) modulo kCount) on this
  // thread. `canary`: where the decoy symlinks point.
  FaultMode(uint8_t fault, std::string canary);
  ~FaultMode();
  FaultMode(const FaultMode&) = delete;
  FaultMode& operator=(const FaultMode&) = delete;

  // Before each request (ids remapped): remembers the parent of a MKDIR and the
  // hidden names already in it, so that a TempDir point can find the one it makes.
  void before_request(const passthrough::PassthroughFs& fs, std::span<const uint8_t> request);

  FaultPoint point() const { return point_; }

 private:
  bool fires();
  int temp_dir_step(passthrough::TempDirStep step);
  int credentials_step(passthrough::CredentialsStep step);
  int security_context_step(passthrough::SecurityContextStep step);
  void name_made(int parent_fd, std::string_view name);
  // The hidden name TempDir made in the MKDIR's parent since before_request, or "".
  std::string new_hidden_name() const;
  std::string decoy_name();

  FaultPoint point_;
  unsigned nth_;
  bool sticky_;
  unsigned uses_ = 0;
  unsigned decoys_ = 0;
  bool pretended_ = false;
  std::string canary_;
  std::shared_ptr<passthrough::InodeData> parent_;  // of the MKDIR in flight
  std::vector<std::string> hidden_before_;
  std::unique_ptr<passthrough::ScopedCredentialsFaultHook> credentials_hook_;
  std::unique_ptr<passthrough::ScopedTempDirFaultHook> temp_dir_hook_;
  std::unique_ptr<passthrough::ScopedSecurityContextFaultHook> secctx_hook_;
  std::unique_ptr<passthrough::ScopedRacePointHook> race_hook_;
};

// The calling thread's effective ids must come back to what they were when the
// baseline was taken: a request (a failed ScopedCredentials::set above all) must
// never leave a guest's uid or gid on the thread.
class ThreadIds {
 public:
  void take();
  // Aborts when the thread's effective uid or gid differs from the baseline.
  void check(const char* when) const;

 private:
  unsigned euid_ = 0;
  unsigned egid_ = 0;
};

}  // namespace pfs::fuzz
