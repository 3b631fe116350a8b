#!/bin/bash -eu
# OSS-Fuzz / ClusterFuzzLite build script: builds every fuzz target of fuzz/ with
# the engine's compiler and flags into $OUT, each with its seed corpus zip,
# dictionary and options (OSS-Fuzz conventions: <target>_seed_corpus.zip,
# <target>.dict, <target>.options).
#
# Environment (set by the OSS-Fuzz / CFLite builder): CXX, CXXFLAGS,
# LIB_FUZZING_ENGINE, OUT; SRC defaults to this checkout. Locally, e.g.:
#   CXX=clang++-14 CXXFLAGS="-fsanitize=address,undefined,fuzzer-no-link -g -O1" \
#   LIB_FUZZING_ENGINE=-fsanitize=fuzzer OUT=/tmp/out fuzz/oss-fuzz/build.sh
# The core is compiled directly (no CMake: the builder images may not have 3.25).
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
: "${CXX:=clang++}" "${CXXFLAGS:=}" "${LIB_FUZZING_ENGINE:=-fsanitize=fuzzer}"
: "${OUT:?set OUT to the output folder}"
WORK="${WORK:-$(mktemp -d)}"
mkdir -p "$OUT" "$WORK/obj"

FLAGS="-std=c++20 -I$ROOT -Wall -Wextra -Wshadow"
TARGETS="fuse_session fuse_decode xattr_names dirent vhost_user_msgs virtqueue fuse_race"

# The library: the wire protocol, PassthroughFs, the in-memory and vhost-user transports.
SOURCES="$(ls "$ROOT"/core/fuse/*.cc "$ROOT"/core/passthrough/*.cc "$ROOT"/core/transport/memory/*.cc \
           "$ROOT"/core/transport/vhost_user/*.cc \
           "$ROOT"/fuzz/oracles.cc "$ROOT"/fuzz/scratch_area.cc "$ROOT"/fuzz/id_map.cc "$ROOT"/fuzz/plausible_fs.cc \
           "$ROOT"/fuzz/race_*.cc)"
OBJS=""
for src in $SOURCES; do
  obj="$WORK/obj/$(echo "${src#$ROOT/}" | tr / _).o"
  $CXX $CXXFLAGS $FLAGS -c "$src" -o "$obj" &
  OBJS="$OBJS $obj"
  # Bounded parallelism.
  while [ "$(jobs -rp | wc -l)" -ge "$(nproc)" ]; do wait -n; done
done
wait
# PFS_FUZZ_SECCOMP (fuzz/fuzz_seccomp.h): with libseccomp, pfsd's own filter and list
# (core/daemon/seccomp_policy.cc) are compiled in; without it, a stub that exits 2
# saying so when PFS_FUZZ_SECCOMP is set. The builder images usually lack it.
SECCOMP_LIBS=""
if pkg-config --exists libseccomp 2>/dev/null; then
  for src in "$ROOT/core/daemon/seccomp_policy.cc" "$ROOT/core/daemon/seccomp_trap.cc"; do
    obj="$WORK/obj/$(echo "${src#$ROOT/}" | tr / _).o"
    $CXX $CXXFLAGS $FLAGS $(pkg-config --cflags libseccomp) -c "$src" -o "$obj"
    OBJS="$OBJS $obj"
  done
  $CXX $CXXFLAGS $FLAGS -DPFS_FUZZ_HAVE_SECCOMP=1 -c "$ROOT/fuzz/fuzz_seccomp.cc" -o "$WORK/obj/fuzz_seccomp.o"
  SECCOMP_LIBS="$(pkg-config --libs libseccomp)"
  echo "PFS_FUZZ_SECCOMP: libseccomp found, the filter is built in"
else
  $CXX $CXXFLAGS $FLAGS -c "$ROOT/fuzz/fuzz_seccomp.cc" -o "$WORK/obj/fuzz_seccomp.o"
  echo "PFS_FUZZ_SECCOMP: no libseccomp (pkg-config libseccomp): a stub that refuses it"
fi
OBJS="$OBJS $WORK/obj/fuzz_seccomp.o"
ar rcs "$WORK/libpfs_fuzz.a" $OBJS

for t in $TARGETS; do
  $CXX $CXXFLAGS $FLAGS "$ROOT/fuzz/$t.cc" -o "$OUT/$t" "$WORK/libpfs_fuzz.a" $LIB_FUZZING_ENGINE $SECCOMP_LIBS -lpthread
  cp "$ROOT/fuzz/dict/$t.dict" "$OUT/$t.dict"
  cp "$ROOT/fuzz/options/$t.options" "$OUT/$t.options"
  # Seeds: the target's corpus folders (see fuzz/CMakeLists.txt) and its regressions.
  case "$t" in
    fuse_session) folders="fuse_session fuse_session_seeds regressions/fuse_session" ;;
    fuse_decode) folders="fuse_decode fuse_session regressions/fuse_decode" ;;
    *) folders="$t regressions/$t" ;;
  esac
  rm -f "$OUT/${t}_seed_corpus.zip"
  for f in $folders; do
    d="$ROOT/corpora/$f"
    if [ -d "$d" ] && [ -n "$(ls -A "$d")" ]; then (cd "$d" && zip -q -j -r "$OUT/${t}_seed_corpus.zip" .); fi
  done
done
echo "built: $TARGETS -> $OUT"
