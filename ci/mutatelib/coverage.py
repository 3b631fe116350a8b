"""Which tests run over which lines: a clang-14 source-based coverage build of the test
binaries, each ctest test run alone with its own profile, exported per test as lcov.

The map {test: {file: [lines]}} is cached in build/mutate/coverage-<tree hash>.json, so
it is built once per revision (whatever --files says: it covers all of core/)."""
import concurrent.futures
import json
import os
import re
import subprocess
import time
from pathlib import Path

from . import testrun
from .workspace import Build

PROFDATA = "llvm-profdata-14"
LLVM_COV = "llvm-cov-14"
IGNORE = r"(core/tests|fuzz|props|/usr)/"
COVERAGE_FLAGS = "-O0 -g0 -fprofile-instr-generate -fcoverage-mapping"


def _parse_lcov(text: str, src: Path) -> dict:
    out, current = {}, None
    prefix = str(src.resolve()) + "/"
    for line in text.splitlines():
        if line.startswith("SF:"):
            # ccache's CCACHE_BASEDIR makes the paths relative: build/../src-1/...
            path = os.path.normpath(line[3:])
            current = path[len(prefix):] if path.startswith(prefix) else None
        elif line.startswith("DA:") and current:
            num, count = line[3:].split(",")[:2]
            if int(count) > 0:
                out.setdefault(current, set()).add(int(num))
    return {f: sorted(v) for f, v in out.items()}


def _export(args) -> tuple:
    name, exe, raws, src = args
    data = raws[0].with_suffix(".profdata")
    r = subprocess.run([PROFDATA, "merge", "-sparse", "-o", str(data), *map(str, raws)],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    if r.returncode != 0:
        return name, {}
    r = subprocess.run([LLVM_COV, "export", "-format=lcov", f"-instr-profile={data}", exe,
                        f"-ignore-filename-regex={IGNORE}"],
                       stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    data.unlink(missing_ok=True)
    return name, _parse_lcov(r.stdout, src)


def build_map(src: Path, base: Path, targets: list, say, only=None) -> dict:
    """Builds (or reuses) the coverage build of src (only the ninja targets given: the
    tests' binaries), runs each of its ctest tests alone, exports."""
    t0 = time.monotonic()
    build = Build(src, base / "coverage-build", base, "clang++-14", COVERAGE_FLAGS,
                  linker_flags="-fprofile-instr-generate")
    if not (build.dir / "build.ninja").exists():
        build.configure()
    say(f"coverage: building {len(targets)} test binaries with clang-14 coverage ({build.dir})")
    if not build.ninja(targets):
        raise RuntimeError(f"coverage build failed; see {build.log}")
    cov_tests = [t for t in build.ctest_tests()
                 if not t["disabled"] and not t["name"].endswith("_NOT_BUILT")
                 and (only is None or re.search(only, t["name"]))]
    t_build = time.monotonic() - t0
    prof = base / "coverage-profiles"
    prof.mkdir(parents=True, exist_ok=True)
    for old in prof.glob("*"):
        old.unlink()
    jobs = []
    say(f"coverage: running {len(cov_tests)} tests one by one")
    for k, t in enumerate(cov_tests):
        # %p: a test's child processes (forked daemons) write their own profiles.
        env = dict(t["env"], LLVM_PROFILE_FILE=str(prof / f"t{k}-%p.profraw"))
        testrun.run([dict(t, env=env)], timeout=600, fail_fast=False)
        raws = sorted(prof.glob(f"t{k}-*.profraw"))
        if raws:
            jobs.append((t["name"], t["command"][0], raws, src))
    t_run = time.monotonic() - t0 - t_build
    cov = {}
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, os.cpu_count() or 1)) as ex:
        for name, files in ex.map(_export, jobs):
            cov[name] = files
    for old in prof.glob("*"):
        old.unlink()
    t_all = time.monotonic() - t0
    say(f"coverage: map built in {t_all:.0f} s (build {t_build:.0f} s, tests {t_run:.0f} s, "
        f"export {t_all - t_build - t_run:.0f} s)")
    return {"tests": cov, "seconds": {"build": t_build, "run": t_run, "total": t_all}}


def relative_exe(path: str, build_dir: Path):
    try:
        return str(Path(path).relative_to(build_dir))
    except ValueError:
        return None


def load_or_build(src: Path, base: Path, key: str, targets: list, say, kind="ctest",
                  only=None) -> dict:
    """kind names the cache: the ctest map (all test binaries) or the fuzz one (the
    replay mains of the fuzz targets only)."""
    cache = base / f"coverage-{kind}-{key}.json"
    if cache.is_file():
        data = json.loads(cache.read_text())
        say(f"coverage: reusing {cache} (built in {data['seconds']['total']:.0f} s)")
        return data
    data = build_map(src, base, targets, say, only)
    cache.write_text(json.dumps(data))
    return data


def tests_over(cov: dict, file: str, line: int) -> list:
    return sorted(name for name, files in cov["tests"].items() if line in set(files.get(file, ())))


def index(cov: dict) -> dict:
    """{(file, line): [tests]} for quick look-ups."""
    out = {}
    for name, files in cov["tests"].items():
        for f, lines in files.items():
            for ln in lines:
                out.setdefault((f, ln), []).append(name)
    return out
