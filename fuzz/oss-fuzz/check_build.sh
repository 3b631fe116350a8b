#!/usr/bin/env bash
# fuzz/oss-fuzz/check_build.sh: checks a build of fuzz/oss-fuzz/build.sh in $OUT the way
# OSS-Fuzz's `check_build` does (base-runner's test_all.py and bad_build_check), as far as
# that runs outside its images, and runs every target over its seed corpus. Fails loudly.
#
# The build's files are first moved to another folder (as test_all.py does), so a target
# that hard-codes a path into $OUT fails, and OUT is unset while targets run. Then:
#   - every executable in $OUT (llvm-symbolizer aside) is an ELF fuzz target for this
#     machine's architecture (it contains LLVMFuzzerTestOneInput);
#   - it needs no shared library beyond libc, libm, libpthread, libdl, librt, libgcc_s and
#     the C++ runtime (the runner image has nothing else);
#   - its calls into the sanitizer runtimes match $SANITIZER (bad_build_check's thresholds:
#     an ASan build makes >= 1000 calls to __asan_*, <= 200 to __ubsan_*, none to MSan/DFSan);
#   - it has <target>.dict, <target>.options and a non-empty <target>_seed_corpus.zip;
#   - `<target> -seed=1337 -runs=4` starts, finds coverage and prints "Done 4 runs"
#     (bad_build_check's engine and startup checks; fewer than 100 instrumented edges is
#     a warning there, and here);
#   - `<target> -runs=$PFS_CHECK_RUNS` (default 1000) over the unzipped seed corpus exits 0.
# Every run gets what base-runner's run_fuzzer gives: its FUZZER_ARGS, the [libfuzzer]
# options of <target>.options as flags (and its [asan]/[ubsan] ones appended to
# ASAN_OPTIONS/UBSAN_OPTIONS), the dictionary, and the runner image's ASAN_OPTIONS and
# UBSAN_OPTIONS. Targets run one at a time. Any problem fails the check; the closing lines
# also say whether OSS-Fuzz's check_build would pass (it allows 10% of targets broken).
#
# Usage: fuzz/oss-fuzz/check_build.sh [OUT]   (default: $OUT)
# Env: SANITIZER (address, undefined or memory; default address), PFS_CHECK_RUNS,
#      PFS_CHECK_TIMEOUT (seconds per run, default 600)
set -uo pipefail

out="${1:-${OUT:-}}"
if [[ -z "${out}" || ! -d "${out}" ]]; then
  echo "check_build: usage: $0 OUT_DIR (or set OUT)" >&2
  exit 2
fi
out="$(cd "${out}" && pwd)"
sanitizer="${SANITIZER:-address}"
runs="${PFS_CHECK_RUNS:-1000}"
run_timeout="${PFS_CHECK_TIMEOUT:-600}"
for tool in objdump readelf file unzip timeout; do
  if ! command -v "${tool}" >/dev/null; then
    echo "check_build: FAIL: '${tool}' is not installed; nothing was checked" >&2
    exit 1
  fi
done

# base-runner's Dockerfile (the ClusterFuzz settings) and run_fuzzer's FUZZER_ARGS.
runner_asan="alloc_dealloc_mismatch=0:allocator_may_return_null=1:allocator_release_to_os_interval_ms=500:check_malloc_usable_size=0:detect_container_overflow=1:detect_odr_violation=0:detect_leaks=1:detect_stack_use_after_return=1:fast_unwind_on_fatal=0:handle_abort=1:handle_segv=1:handle_sigill=1:max_uar_stack_size_log=16:print_scariness=1:quarantine_size_mb=10:strict_memcmp=1:symbolize=1:use_sigaltstack=1:dedup_token_length=3"
runner_ubsan="print_stacktrace=1:print_summary=1:silence_unsigned_overflow=1:symbolize=1:dedup_token_length=3"
fuzzer_args=(-rss_limit_mb=2560 -timeout=25)

scratch="$(mktemp -d "${TMPDIR:-/tmp}/pfs-check-build.XXXXXX")"
moved="${scratch}/not-out"
mkdir -p "${moved}"
restore() {
  find "${moved}" -mindepth 1 -maxdepth 1 -exec mv -t "${out}" {} + 2>/dev/null
  rm -rf "${scratch}"
}
trap restore EXIT
trap 'exit 130' INT TERM
find "${out}" -mindepth 1 -maxdepth 1 -exec mv -t "${moved}" {} +

failures=0
current=""            # the target being checked
declare -A broken=()  # targets with a problem
fail() {  # message...
  echo "check_build: FAIL: $*"
  failures=$((failures + 1))
  if [[ -n "${current}" ]]; then broken["${current}"]=1; fi
}

# The [section] of an .options file as `key=value` lines.
options_section() {  # file section
  awk -v want="[$2]" '
    /^[[:space:]]*\[/ { gsub(/[[:space:]]/, ""); in_section = ($0 == want); next }
    in_section && /=/ {
      key = $0; sub(/=.*/, "", key); gsub(/[[:space:]]/, "", key)
      value = $0; sub(/^[^=]*=/, "", value); gsub(/^[[:space:]]+|[[:space:]]+$/, "", value)
      if (key != "") print key "=" value
    }' "$1"
}

# Runs a target the way run_fuzzer does, in the moved folder, output to a file.
run_target() {  # target output-file extra-args...
  local t="$1" log="$2"
  shift 2
  local flags=("${fuzzer_args[@]}") asan="${runner_asan}" ubsan="${runner_ubsan}" kv dict=""
  if [[ -f "${moved}/${t}.options" ]]; then
    while IFS= read -r kv; do
      flags+=("-${kv}")
      [[ "${kv}" == dict=* ]] && dict="${kv#dict=}"
    done < <(options_section "${moved}/${t}.options" libfuzzer)
    while IFS= read -r kv; do asan="${asan}:${kv}"; done < <(options_section "${moved}/${t}.options" asan)
    while IFS= read -r kv; do ubsan="${ubsan}:${kv}"; done < <(options_section "${moved}/${t}.options" ubsan)
  fi
  if [[ -z "${dict}" && -f "${moved}/${t}.dict" ]]; then flags+=("-dict=${t}.dict"); fi
  (cd "${moved}" && env -u OUT ASAN_OPTIONS="${asan}" UBSAN_OPTIONS="${ubsan}" \
    timeout "${run_timeout}" "./${t}" "${flags[@]}" "$@" </dev/null >"${log}" 2>&1)
}

# bad_build_check's check_mixed_sanitizers: calls into each runtime, from the disassembly.
check_sanitizer() {  # target
  local t="$1" counts asan dfsan msan ubsan
  counts="$(objdump -d --no-show-raw-insn "${moved}/${t}" | awk '
    /call[q]?[[:space:]]+[0-9a-f]+[[:space:]]+<__asan/ { a++ }
    /call[q]?[[:space:]]+[0-9a-f]+[[:space:]]+<__dfsan/ { d++ }
    /call[q]?[[:space:]]+[0-9a-f]+[[:space:]]+<__msan/ { m++ }
    /call[q]?[[:space:]]+[0-9a-f]+[[:space:]]+<__ubsan/ { u++ }
    END { print a + 0, d + 0, m + 0, u + 0 }')"
  read -r asan dfsan msan ubsan <<<"${counts}"
  echo "  sanitizer calls: asan ${asan}, ubsan ${ubsan}, msan ${msan}, dfsan ${dfsan}"
  case "${sanitizer}" in
    address)
      ((asan >= 1000)) || fail "${t} does not seem to be compiled with ASan (${asan} calls)"
      ((ubsan <= 200)) || fail "ASan build of ${t} seems to be compiled with UBSan (${ubsan} calls)"
      ((msan <= 3 && dfsan == 0)) || fail "ASan build of ${t} seems to be compiled with MSan/DFSan" ;;
    undefined)
      ((ubsan >= 169)) || fail "${t} does not seem to be compiled with UBSan (${ubsan} calls)"
      ((asan == 0 && msan <= 3 && dfsan == 0)) || fail "UBSan build of ${t} has ASan/MSan/DFSan calls" ;;
    memory)
      ((msan >= 1000)) || fail "${t} does not seem to be compiled with MSan (${msan} calls)"
      ((asan == 0 && ubsan <= 200 && dfsan == 0)) || fail "MSan build of ${t} has ASan/UBSan/DFSan calls" ;;
    *)
      echo "  (no sanitizer check for SANITIZER=${sanitizer})" ;;
  esac
}

check_libraries() {  # target
  local t="$1" lib
  while read -r lib; do
    case "${lib}" in
      libc.so.* | libm.so.* | libpthread.so.* | libdl.so.* | librt.so.* | libgcc_s.so.* | \
        libstdc++.so.* | libc++.so.* | libc++abi.so.* | ld-linux*.so.*) ;;
      *) fail "${t} needs the shared library ${lib}, which the runner image may not have" ;;
    esac
  done < <(readelf -d "${moved}/${t}" | sed -n 's/.*(NEEDED).*\[\(.*\)\].*/\1/p')
}

check_files() {  # target
  local t="$1" f dict
  for f in "${t}.dict" "${t}.options" "${t}_seed_corpus.zip"; do
    [[ -s "${moved}/${f}" ]] || fail "${t} has no ${f} in OUT"
  done
  if [[ -f "${moved}/${t}.options" ]]; then
    if [[ -z "$(options_section "${moved}/${t}.options" libfuzzer)" ]]; then
      fail "${t}.options has no [libfuzzer] section"
    fi
    dict="$(options_section "${moved}/${t}.options" libfuzzer | sed -n 's/^dict=//p' | tail -n1)"
    if [[ -n "${dict}" && ! -f "${moved}/${dict}" ]]; then
      fail "${t}.options names the dictionary ${dict}, which is not in OUT"
    fi
  fi
}

# bad_build_check's check_engine and check_startup_crash, from one run.
check_startup() {  # target
  local t="$1" log="${scratch}/${1}.startup.log" rc edges
  run_target "${t}" "${log}" -seed=1337 -runs=4
  rc=$?
  if grep -q "no interesting inputs were found" "${log}"; then
    fail "${t} does not seem to have coverage instrumentation"
  fi
  edges="$(grep -Po 'INFO: Loaded [[:digit:]]+ module.*\(.*(counters|guards)\):[[:space:]]+\K[[:digit:]]+' "${log}" | head -n1)"
  if [[ -n "${edges}" ]] && ((edges < 100)); then
    echo "check_build: WARNING: ${t} seems to have only partial coverage instrumentation (${edges} edges)"
  fi
  if [[ ${rc} -ne 0 ]] || ! grep -q "Done 4 runs" "${log}"; then
    fail "${t} crashes or exits at startup (exit ${rc}):"
    tail -n 40 "${log}" | sed 's/^/    /'
    return 1
  fi
  echo "  startup: ${edges:-?} edges, Done 4 runs"
}

check_seeds() {  # target
  local t="$1" corpus="${scratch}/corpus/${1}" log="${scratch}/${1}.seeds.log" rc n t0=${SECONDS}
  [[ -s "${moved}/${t}_seed_corpus.zip" ]] || return 1
  mkdir -p "${corpus}" "${scratch}/artifacts/${t}"
  if ! unzip -q -o -d "${corpus}" "${moved}/${t}_seed_corpus.zip"; then
    fail "${t}_seed_corpus.zip does not unzip"
    return 1
  fi
  n="$(find "${corpus}" -type f | wc -l)"
  run_target "${t}" "${log}" -seed=1337 -runs="${runs}" -artifact_prefix="${scratch}/artifacts/${t}/" "${corpus}"
  rc=$?
  if [[ ${rc} -ne 0 ]]; then
    fail "${t} exits ${rc} within ${runs} runs over its ${n} seeds:"
    tail -n 60 "${log}" | sed 's/^/    /'
    return 1
  fi
  echo "  seeds: ${n} files, $(grep -o 'Done [0-9]* runs in [0-9]* second(s)' "${log}" | tail -n1), $((SECONDS - t0)) s"
}

targets=()
arch_word="$(uname -m | sed 's/x86_64/x86-64/')"
for f in "${moved}"/*; do
  name="$(basename "${f}")"
  [[ -f "${f}" && -x "${f}" && "${name}" != llvm-symbolizer ]] || continue
  description="$(file -b "${f}")"
  if [[ "${description}" != ELF* ]] || ! grep -qa LLVMFuzzerTestOneInput "${f}"; then
    fail "${name} is executable but not a fuzz target (${description%%,*})"
    continue
  fi
  [[ "${description}" == *"${arch_word}"* ]] || fail "${name} is not built for ${arch_word}: ${description}"
  targets+=("${name}")
done
# Extras that belong to no target.
for f in "${moved}"/*.dict "${moved}"/*.options "${moved}"/*_seed_corpus.zip; do
  [[ -e "${f}" ]] || continue
  name="$(basename "${f}")"
  name="${name%.dict}"
  name="${name%.options}"
  name="${name%_seed_corpus.zip}"
  [[ -x "${moved}/${name}" ]] || fail "$(basename "${f}") belongs to no fuzz target"
done
if [[ ${#targets[@]} -eq 0 ]]; then
  fail "no fuzz target in ${out}"
fi

for t in "${targets[@]}"; do
  current="${t}"
  echo "check_build: ${t}"
  check_files "${t}"
  check_libraries "${t}"
  check_sanitizer "${t}"
  check_startup "${t}" && check_seeds "${t}"
done

current=""

echo
if [[ ${failures} -gt 0 ]]; then
  echo "check_build: ${failures} problem(s) in ${#targets[@]} target(s) of ${out} (SANITIZER=${sanitizer}); see FAIL lines above"
  if [[ ${#targets[@]} -gt 0 ]]; then
    percent=$((100 * ${#broken[@]} / ${#targets[@]}))
    verdict="fail"
    ((percent <= 10)) && verdict="pass (it allows 10%)"
    echo "check_build: broken target(s): ${!broken[*]} (${#broken[@]} of ${#targets[@]}, ${percent}%): OSS-Fuzz's check_build would ${verdict}"
  fi
  exit 1
fi
echo "check_build: ${#targets[@]} target(s) pass (SANITIZER=${sanitizer}, ${runs} runs over each seed corpus): ${targets[*]}"
