#!/bin/bash -eu
# OSS-Fuzz / ClusterFuzzLite build script: builds every fuzz target of fuzz/ with
# the engine's compilers and flags into $OUT, each with its seed corpus zip,
# dictionary and options (OSS-Fuzz conventions: <target>_seed_corpus.zip,
# <target>.dict, <target>.options). fuzz/oss-fuzz/check_build.sh checks the result.
#
# Environment (set by the builder image's `compile`): CC, CFLAGS (C sources),
# CXX, CXXFLAGS (C++ sources), LIB_FUZZING_ENGINE, OUT, WORK. SRC is not read: the
# sources are found from this script's own place, wherever the checkout is.
# PFS_BUILD_JOBS: parallel compiles (default nproc). Locally, e.g.:
#   CC=clang-14 CXX=clang++-14 CFLAGS="-O1 -gline-tables-only -fsanitize=address,fuzzer-no-link" \
#   CXXFLAGS="$CFLAGS" LIB_FUZZING_ENGINE=-fsanitize=fuzzer OUT=/tmp/out fuzz/oss-fuzz/build.sh
# (ci/test oss-fuzz runs it with OSS-Fuzz's exact ASan flags.)
# No CMake: the builder images may not have 3.25. The target list, the library sources
# and the seed folders come from fuzz/ itself, so a new target needs no edit here:
#   target   fuzz/<name>.cc that defines LLVMFuzzerTestOneInput and has no main()
#   support  the other fuzz/*.cc but programs (main()), tests (gtest) and fuzz_seccomp.cc
#   seeds    corpora/ folders named by set(pfs_fuzz_folders_<name> ...) in fuzz/CMakeLists.txt
#            (default: <name> and regressions/<name>)
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
: "${CC:=clang}" "${CXX:=clang++}" "${CFLAGS:=}" "${CXXFLAGS:=}"
: "${LIB_FUZZING_ENGINE:=-fsanitize=fuzzer}"
: "${OUT:?set OUT to the output folder}"
JOBS="${PFS_BUILD_JOBS:-$(nproc)}"
if [ -z "${WORK:-}" ]; then
  WORK="$(mktemp -d)"
  trap 'rm -rf "$WORK"' EXIT
fi
BUILD="$WORK/pfs-fuzz-build"
rm -rf "$BUILD"  # a stale object of a removed source must not reach the archive
mkdir -p "$OUT" "$BUILD/obj"

CXX_ONLY_FLAGS="-std=c++20"
COMMON_FLAGS="-I$ROOT -Wall -Wextra -Wshadow"

defines_fuzz_entry() { grep -q 'LLVMFuzzerTestOneInput *(' "$1"; }
has_main() { grep -Eq '^[a-z ]*int +main *\(' "$1"; }
is_gtest() { grep -q '#include *<gtest/' "$1"; }

TARGETS=""
SUPPORT=""
for src in "$ROOT"/fuzz/*.cc; do
  name="$(basename "$src" .cc)"
  if has_main "$src" || is_gtest "$src" || [ "$name" = fuzz_seccomp ]; then continue; fi
  if defines_fuzz_entry "$src"; then TARGETS="$TARGETS $name"; else SUPPORT="$SUPPORT $src"; fi
done
TARGETS="${TARGETS# }"
if [ -z "$TARGETS" ]; then
  echo "build.sh: no fuzz target found in $ROOT/fuzz" >&2
  exit 1
fi

# The C++20 library features the core needs that older libraries lack (libc++ 14 has
# no make_unique_for_overwrite; the core avoids std::atomic_ref, which libc++ has only
# from 19): say which one is missing before the compiler errors scroll by.
probe_cxx_library() {
  local probe="$BUILD/probe.cc" feature
  for feature in "std::make_unique_for_overwrite|<memory>|auto p = std::make_unique_for_overwrite<char[]>(u);"; do
    IFS='|' read -r what header body <<<"$feature"
    printf '#include %s\nvoid probe(unsigned& u) { %s }\n' "$header" "$body" >"$probe"
    if ! $CXX $CXXFLAGS $CXX_ONLY_FLAGS -fsyntax-only "$probe" 2>/dev/null; then
      echo "build.sh: WARNING: the C++ library of '$CXX $CXXFLAGS' has no $what; the core uses it"
    fi
  done
}
probe_cxx_library

# Compiles in the background, at most $JOBS at a time; a failure is recorded in a file
# (a job's status can be lost between `wait -n` calls).
FAILED="$BUILD/failed"
compile() {  # source object [extra flags...]
  local src="$1" obj="$2"
  shift 2
  case "$src" in
    *.c) set -- $CC $CFLAGS $COMMON_FLAGS "$@" -c "$src" -o "$obj" ;;
    *) set -- $CXX $CXXFLAGS $CXX_ONLY_FLAGS $COMMON_FLAGS "$@" -c "$src" -o "$obj" ;;
  esac
  while [ "$(jobs -rp | wc -l)" -ge "$JOBS" ]; do wait -n || true; done
  { "$@" || echo "$src" >>"$FAILED"; } &
}
object_of() { echo "$BUILD/obj/$(echo "${1#"$ROOT"/}" | tr / _).o"; }
finish_compiles() {
  wait
  if [ -s "$FAILED" ]; then
    echo "build.sh: these failed to compile:" >&2
    sed 's/^/  /' "$FAILED" >&2
    exit 1
  fi
}

# The library: the wire protocol, PassthroughFs, the in-memory and vhost-user transports,
# and fuzz/'s support code (oracles, scratch area, id map, plausible fs, race crew...).
OBJS=""
for src in "$ROOT"/core/fuse/*.c* "$ROOT"/core/passthrough/*.c* \
           "$ROOT"/core/transport/memory/*.c* "$ROOT"/core/transport/vhost_user/*.c* $SUPPORT; do
  case "$src" in *.c | *.cc) ;; *) continue ;; esac
  compile "$src" "$(object_of "$src")"
  OBJS="$OBJS $(object_of "$src")"
done

# PFS_FUZZ_SECCOMP (fuzz/fuzz_seccomp.h): with libseccomp, pfsd's own filter and list
# (core/daemon/seccomp_policy.cc) are compiled in; without it, a stub that exits 2
# saying so when PFS_FUZZ_SECCOMP is set. libseccomp is linked statically when its
# archive is there, as the runner image may lack the shared library.
SECCOMP_LIBS=""
if pkg-config --exists libseccomp 2>/dev/null; then
  for src in "$ROOT/core/daemon/seccomp_policy.cc" "$ROOT/core/daemon/seccomp_trap.cc"; do
    # shellcheck disable=SC2046 # pkg-config's flags are words
    compile "$src" "$(object_of "$src")" $(pkg-config --cflags libseccomp)
    OBJS="$OBJS $(object_of "$src")"
  done
  compile "$ROOT/fuzz/fuzz_seccomp.cc" "$BUILD/obj/fuzz_seccomp.o" -DPFS_FUZZ_HAVE_SECCOMP=1
  seccomp_archive="$(pkg-config --variable=libdir libseccomp)/libseccomp.a"
  if [ -f "$seccomp_archive" ]; then
    SECCOMP_LIBS="$seccomp_archive"
  else
    SECCOMP_LIBS="$(pkg-config --libs libseccomp)"
  fi
  echo "PFS_FUZZ_SECCOMP: libseccomp found, the filter is built in ($SECCOMP_LIBS)"
else
  compile "$ROOT/fuzz/fuzz_seccomp.cc" "$BUILD/obj/fuzz_seccomp.o"
  echo "PFS_FUZZ_SECCOMP: no libseccomp (pkg-config libseccomp): a stub that refuses it"
fi
OBJS="$OBJS $BUILD/obj/fuzz_seccomp.o"
for t in $TARGETS; do
  compile "$ROOT/fuzz/$t.cc" "$BUILD/obj/target_$t.o"
done
finish_compiles
ar rcs "$BUILD/libpfs_fuzz.a" $OBJS

for t in $TARGETS; do
  while [ "$(jobs -rp | wc -l)" -ge "$JOBS" ]; do wait -n || true; done
  { $CXX $CXXFLAGS "$BUILD/obj/target_$t.o" -o "$OUT/$t" "$BUILD/libpfs_fuzz.a" \
      $LIB_FUZZING_ENGINE $SECCOMP_LIBS -lpthread || echo "$t (link)" >>"$FAILED"; } &
done
finish_compiles

# Dictionary, options and seeds. A missing one is reported here and fails check_build.sh.
cmake_folders() {  # target -> the corpus folders fuzz/CMakeLists.txt gives it
  sed -n "s/^set(pfs_fuzz_folders_$1 \(.*\))\$/\1/p" "$ROOT/fuzz/CMakeLists.txt"
}
for t in $TARGETS; do
  for extra in "dict/$t.dict" "options/$t.options"; do
    if [ -f "$ROOT/fuzz/$extra" ]; then
      cp "$ROOT/fuzz/$extra" "$OUT/"
    else
      echo "build.sh: WARNING: no fuzz/$extra for target $t"
    fi
  done
  folders="$(cmake_folders "$t")"
  [ -n "$folders" ] || folders="$t regressions/$t"
  rm -f "$OUT/${t}_seed_corpus.zip"
  for f in $folders; do
    d="$ROOT/corpora/$f"
    if [ -d "$d" ] && [ -n "$(ls -A "$d")" ]; then (cd "$d" && zip -q -j -r "$OUT/${t}_seed_corpus.zip" .); fi
  done
  [ -f "$OUT/${t}_seed_corpus.zip" ] || echo "build.sh: WARNING: no seeds for $t (corpora/: $folders)"
done
echo "built: $TARGETS -> $OUT"
