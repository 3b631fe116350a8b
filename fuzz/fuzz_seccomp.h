// PFS_FUZZ_SECCOMP: the fuzz targets that run the core under pfsd's own seccomp filter.
#pragma once

namespace pfs::fuzz {

// PFS_FUZZ_SECCOMP=1|trap|kill|log in the environment: installs pfsd's allow-list
// (the host-mode list of core/daemon/seccomp_policy.cc, the very code pfsd runs)
// plus the few syscalls only the harness, libFuzzer and the sanitizers make
// (fuzz_seccomp.cc, each with its reason). A syscall the core needs but the list
// forgets then ends the run like any crash, in a campaign instead of in production:
//   1, trap  its name and stack on stderr, then abort(): libFuzzer saves the input
//   kill     as pfsd: SIGSYS kills the process (no report, no saved input)
//   log      the kernel logs it (audit/dmesg) and lets it through
// Unset, "" or "0": nothing.
//
// Call it from LLVMFuzzerInitialize once the harness's one-time setup is done (the
// scratch area exists). It does nothing in a libFuzzer parent that only runs
// children (-fork=N, -jobs=N, -merge=1, -minimize_crash=1): filters survive exec,
// and the children, which run the inputs, install it themselves. A bad value, or a
// build without libseccomp, exits 2 with a message.
void install_seccomp_from_env(int argc, char** argv);

}  // namespace pfs::fuzz
