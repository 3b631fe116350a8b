#include "fuzz/fault_mode.h"

#include <fcntl.h>
#include <linux/fuse.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <string_view>
#include <tuple>
#include <utility>

#include "core/passthrough/scoped_fd.h"
#include "fuzz/oracles.h"

namespace pfs::fuzz {
namespace {

namespace pt = passthrough;

// TempDir's names: a dot and six letters or digits.
bool is_hidden_name(std::string_view name) {
  return name.size() == 7 && name[0] == '.' &&
         std::all_of(name.begin() + 1, name.end(),
                     [](char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; });
}

std::vector<std::string> hidden_names(int parent_fd) {
  std::vector<std::string> out;
  // Safe: opens the directory our O_PATH fd names, for reading; owned at once.
  ScopedFd dir(::openat(parent_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!dir.valid()) return out;
  for_each_name(dir.get(), "the MKDIR parent", [&out](const char* name) {
    if (is_hidden_name(name)) out.emplace_back(name);
  });
  return out;
}

}  // namespace

FaultMode::FaultMode(uint8_t fault, std::string canary)
    : point_(static_cast<FaultPoint>((fault & 15) % static_cast<unsigned>(FaultPoint::kCount))),
      nth_((fault >> 4) & 7),
      sticky_((fault & 0x80) != 0),
      canary_(std::move(canary)) {
  switch (point_) {
    case FaultPoint::kSetGid:
    case FaultPoint::kSetUid:
      credentials_hook_ = std::make_unique<pt::ScopedCredentialsFaultHook>(
          [this](pt::CredentialsStep s) { return credentials_step(s); });
      break;
    case FaultPoint::kSecCtx:
    case FaultPoint::kSecCtxTaken:
      secctx_hook_ = std::make_unique<pt::ScopedSecurityContextFaultHook>(
          [this](pt::SecurityContextStep s) { return security_context_step(s); });
      break;
    case FaultPoint::kNameSwapped:
      race_hook_ = std::make_unique<pt::ScopedRacePointHook>(
          [this](pt::RacePoint, int parent_fd, std::string_view name) {
            if (fires()) name_made(parent_fd, name);
          });
      break;
    default:
      temp_dir_hook_ = std::make_unique<pt::ScopedTempDirFaultHook>(
          [this](pt::TempDirStep s) { return temp_dir_step(s); });
      break;
  }
}

FaultMode::~FaultMode() = default;

bool FaultMode::fires() {
  const unsigned use = uses_++;
  return use == nth_ || (sticky_ && use > nth_);
}

void FaultMode::before_request(const pt::PassthroughFs& fs, std::span<const uint8_t> request) {
  parent_.reset();
  hidden_before_.clear();
  if (point_ != FaultPoint::kOpenSwapped && point_ != FaultPoint::kRemoveGone &&
      point_ != FaultPoint::kRemoveFull) {
    return;
  }
  fuse_in_header h{};
  if (request.size() < sizeof(h)) return;
  std::memcpy(&h, request.data(), sizeof(h));
  if (h.opcode != FUSE_MKDIR) return;
  parent_ = fs.inodes().find(h.nodeid);
  if (parent_) hidden_before_ = hidden_names(parent_->fd.get());
}

std::string FaultMode::new_hidden_name() const {
  if (!parent_) return {};
  for (std::string& name : hidden_names(parent_->fd.get())) {
    if (std::find(hidden_before_.begin(), hidden_before_.end(), name) == hidden_before_.end()) {
      return std::move(name);
    }
  }
  return {};
}

std::string FaultMode::decoy_name() { return ".pfsf-decoy-" + std::to_string(decoys_++); }

int FaultMode::credentials_step(pt::CredentialsStep step) {
  // Restoring never fails here: pfsd aborts then (credentials.cc, die_restoring).
  const pt::CredentialsStep want =
      point_ == FaultPoint::kSetGid ? pt::CredentialsStep::kSetGid : pt::CredentialsStep::kSetUid;
  return step == want && fires() ? EPERM : 0;
}

int FaultMode::security_context_step(pt::SecurityContextStep step) {
  if (step == pt::SecurityContextStep::kRestore) {
    // Only a context we pretended to set is pretended back; a failed restore
    // aborts pfsd (security_context.cc).
    return std::exchange(pretended_, false) ? pt::kPretendSuccess : 0;
  }
  if (!fires()) return 0;
  if (point_ == FaultPoint::kSecCtx) return EACCES;
  pretended_ = true;
  return pt::kPretendSuccess;
}

int FaultMode::temp_dir_step(pt::TempDirStep step) {
  switch (point_) {
    case FaultPoint::kRandomSeed:
      return step == pt::TempDirStep::kRandomSeed && fires() ? ENOSYS : 0;
    case FaultPoint::kMkdir:
      return step == pt::TempDirStep::kMkdir && fires() ? ENOSPC : 0;
    case FaultPoint::kMkdirTaken:
      return step == pt::TempDirStep::kMkdir && fires() ? EEXIST : 0;
    case FaultPoint::kOpen:
      return step == pt::TempDirStep::kOpen && fires() ? EMFILE : 0;
    case FaultPoint::kOpenSymlink:
      return step == pt::TempDirStep::kOpen && fires() ? ELOOP : 0;
    default:
      break;
  }
  const pt::TempDirStep want =
      point_ == FaultPoint::kOpenSwapped ? pt::TempDirStep::kOpen : pt::TempDirStep::kRemove;
  if (step != want || !fires()) return 0;
  const std::string hidden = new_hidden_name();
  if (hidden.empty()) return 0;
  const int parent = parent_->fd.get();
  const std::string decoy = decoy_name();
  // Safe: *at() calls on names inside the MKDIR's parent; failures leave the
  // TempDir's directory as it was.
  if (point_ == FaultPoint::kOpenSwapped) {
    if (::mkdirat(parent, decoy.c_str(), 0755) == 0) {
      const std::string inside = decoy + "/full";
      ScopedFd f(::openat(parent, inside.c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0644));
      ::renameat2(parent, hidden.c_str(), parent, decoy.c_str(), RENAME_EXCHANGE);
    }
  } else if (point_ == FaultPoint::kRemoveGone) {
    ::renameat(parent, hidden.c_str(), parent, decoy.c_str());
  } else {
    const std::string inside = hidden + "/full";
    ScopedFd f(::openat(parent, inside.c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0644));
  }
  return 0;  // the real syscall meets what the client did
}

void FaultMode::name_made(int parent_fd, std::string_view name) {
  const std::string made(name);
  struct stat st {};
  // Safe: *at() calls on single names in the parent the core just made a name in.
  if (::fstatat(parent_fd, made.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) return;
  const std::string decoy = decoy_name();
  const std::string target = canary_ + "/secret";
  const int made_decoy = S_ISLNK(st.st_mode)
                             ? ::mkdirat(parent_fd, decoy.c_str(), 0755)
                             : ::symlinkat(target.c_str(), parent_fd, decoy.c_str());
  if (made_decoy == 0) {
    ::renameat2(parent_fd, decoy.c_str(), parent_fd, made.c_str(), RENAME_EXCHANGE);
  }
}

namespace {

// The thread's own ids (geteuid/getegid are per-thread system calls; the core
// changes only the calling thread's).
std::pair<unsigned, unsigned> thread_ids() {
  return {static_cast<unsigned>(::syscall(SYS_geteuid)),
          static_cast<unsigned>(::syscall(SYS_getegid))};
}

}  // namespace

void ThreadIds::take() { std::tie(euid_, egid_) = thread_ids(); }

void ThreadIds::check(const char* when) const {
  const auto [euid, egid] = thread_ids();
  if (euid != euid_ || egid != egid_) {
    oracle_fail("thread ids %u/%u %s, baseline %u/%u: a guest's ids were left behind", euid, egid,
                when, euid_, egid_);
  }
}

}  // namespace pfs::fuzz
