"""ci/mutate's command line: select, generate, build, run, report."""
import argparse
import fcntl
import json
import queue
import random
import re
import signal
import sys
import threading
import time
from pathlib import Path

from . import coverage, equivalents, operators, report, testrun
from .runner import Worker
from .sources import (DEFAULT_FILES, WORKTREE, SourceView, UsageError, resolve_rev, select_files,
                      tree_key)
from .workspace import MUTANT_FLAGS, Build, BuildError, checkout

ROOT = Path(__file__).resolve().parents[2]
EQUIVALENT_FILE = ROOT / "ci" / "mutate-equivalent.txt"


def say(msg: str) -> None:
    print(f"mutate: {msg}", flush=True)


def parse_args(argv):
    ap = argparse.ArgumentParser(prog="ci/mutate", description=(
        "Mutation testing of core/: plants one-line slips one at a time, builds, runs the "
        "tests over the mutated line and reports the survivors. See docs/mutation.md."))
    ap.add_argument("-f", "--files", nargs="+", default=None, metavar="PATH",
                    help=f"files or folders under core/ (default: {' '.join(DEFAULT_FILES)}, "
                         "or the files of the report given to --only/--rerun-survivors)")
    ap.add_argument("--operators", default="",
                    help=f"comma-separated subset of {','.join(operators.OPERATORS)}")
    ap.add_argument("--sample", type=int, default=0, help="run N mutants drawn with --seed")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--budget", type=float, default=0,
                    help="minutes: start no new mutant after this (the report covers the rest as 'not run')")
    ap.add_argument("--jobs", type=int, default=1, help="clones and builds run in parallel")
    ap.add_argument("--timeout-factor", type=float, default=3.0,
                    help="per-mutant timeout = factor x baseline time of its tests + 30 s")
    ap.add_argument("--rev", default="HEAD",
                    help="commit to mutate, or WORKTREE for the working tree with its changes")
    ap.add_argument("--out", default="", help="report folder (default: WORK/report)")
    ap.add_argument("--work", default=str(ROOT / "build" / "mutate"),
                    help="clones, builds and coverage caches (default: %(default)s)")
    ap.add_argument("--only", default="",
                    help="mutant ids (comma-separated) or a report.json whose mutants to rerun")
    ap.add_argument("--rerun-survivors", metavar="REPORT_JSON", default="",
                    help="rerun the survivors of a previous report.json")
    ap.add_argument("--include", default="",
                    help="mutant ids (comma-separated) run in addition to the sample")
    ap.add_argument("--list", action="store_true", help="print the mutants and stop")
    ap.add_argument("--skip-uncovered", action="store_true",
                    help="a mutant on a line no test covers is 'survived (no coverage)' without "
                         "running anything (default: it runs every selected test, since a "
                         "constant or declaration line has no coverage of its own)")
    ap.add_argument("--no-coverage", action="store_true",
                    help="no coverage build: every mutant runs all the (selected) tests")
    ap.add_argument("--all-tests", action="store_true",
                    help="run all the (selected) tests per mutant instead of those over its line")
    ap.add_argument("--tests", default="", metavar="REGEX",
                    help="only ctest tests whose name matches (Python re.search)")
    ap.add_argument("--targets", default="",
                    help="build only these targets (comma-separated), e.g. xattr_names_test")
    ap.add_argument("--suite", choices=["ctest", "campaign"], default="ctest")
    ap.add_argument("--fuzz-seconds", type=float, default=0,
                    help="campaign suite: seconds per fuzz target per mutant")
    a = ap.parse_args(argv)
    if a.jobs < 1 or a.sample < 0 or a.budget < 0 or a.timeout_factor <= 0:
        ap.error("--jobs must be >= 1; --sample, --budget >= 0; --timeout-factor > 0")
    a.operators = [o.strip() for o in a.operators.split(",") if o.strip()]
    bad = [o for o in a.operators if o not in operators.OPERATORS]
    if bad:
        ap.error(f"unknown operator(s) {', '.join(bad)}; known: {', '.join(operators.OPERATORS)}")
    if a.tests:
        try:
            re.compile(a.tests)
        except re.error as err:
            ap.error(f"--tests: bad regex: {err}")
    return a


def wanted_ids(a) -> set:
    ids = set()
    for spec in [a.only, a.rerun_survivors]:
        if not spec:
            continue
        # A comma list of ids is never a path: Path.is_file() on a long one raises
        # "File name too long".
        if re.fullmatch(r"\s*[0-9a-f]{10}(\s*,\s*[0-9a-f]{10})*\s*,?\s*", spec):
            ids |= {s.strip() for s in spec.split(",") if s.strip()}
            continue
        p = Path(spec)
        if p.suffix == ".json" or p.is_file():
            if not p.is_file():
                raise UsageError(f"{spec}: no such report")
            data = json.loads(p.read_text())
            survivors_only = spec == a.rerun_survivors
            ids |= {m["id"] for m in data["mutants"]
                    if not survivors_only or m["status"].startswith("survived")}
        else:
            ids |= {s.strip() for s in spec.split(",") if s.strip()}
    return ids


def report_files(a) -> list:
    """The files of the previous report named by --rerun-survivors or --only, if any."""
    for spec in (a.rerun_survivors, a.only):
        if spec and spec.endswith(".json") and Path(spec).is_file():
            return json.loads(Path(spec).read_text())["meta"]["files"]
    return []


def generate(view, files, ops) -> tuple:
    texts = {f: view.read(f) for f in files}
    ms = [m for f in files for m in operators.mutants_of(f, texts[f], ops)]
    return ms, texts


def sample(ms, n, seed):
    """Uniform over the mutants, reproducible: the same seed and sources, the same draw."""
    if not n or n >= len(ms):
        return ms
    chosen = set(m.id for m in random.Random(seed).sample(sorted(ms, key=lambda m: m.id), n))
    return [m for m in ms if m.id in chosen]


def prepare_build(k, a, rev, base) -> tuple:
    # Every clone is a src-1 beside a build-1 (clone 1 in WORK, clone K in WORK/clone-K):
    # the same relative path from build to sources, so ccache (CCACHE_BASEDIR) shares
    # the objects between clones and a second clone's first build is cache hits.
    home = base if k == 1 else base / f"clone-{k}"
    src = home / "src-1"
    checkout(ROOT, rev, src)
    build = Build(src, home / "build-1", base, "g++-12", MUTANT_FLAGS)
    if not (build.dir / "build.ninja").exists():
        build.configure()
    targets = [t for t in a.targets.split(",") if t]
    t0 = time.monotonic()
    if not build.ninja(targets):
        raise BuildError(f"the unmutated build fails; see {build.log}")
    return src, build, time.monotonic() - t0


def main(argv=None) -> int:
    a = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        return run(a)
    except (UsageError, BuildError, ValueError) as err:
        print(f"ci/mutate: error: {err}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        return 0
    except KeyboardInterrupt:
        print("ci/mutate: interrupted before any mutant ran (no report)", file=sys.stderr)
        return 130


def run(a) -> int:
    t_start = time.monotonic()
    base = Path(a.work).resolve()
    a.out = a.out or str(base / "report")
    rev = resolve_rev(ROOT, a.rev)
    view = SourceView(ROOT, rev)
    files = select_files(view, a.files or report_files(a) or DEFAULT_FILES)
    all_ms, texts = generate(view, files, a.operators)
    ids = wanted_ids(a)
    ms = [m for m in all_ms if m.id in ids] if ids else all_ms
    if a.suite == "campaign":
        from .campaign import is_security_relevant
        ms = [m for m in ms if is_security_relevant(m)]  # sample among these only
    if ids and len(ms) < len(ids):
        say(f"{len(ids) - len(ms)} of the requested ids are not mutants of these files at this rev")
    ms = sample(ms, a.sample, a.seed)
    extra = {i.strip() for i in a.include.split(",") if i.strip()}
    missing = extra - {m.id for m in all_ms}
    if missing:
        raise UsageError(f"--include: not mutants of these files at this rev: {', '.join(sorted(missing))}")
    chosen = {m.id for m in ms} | extra
    ms = [m for m in all_ms if m.id in chosen]
    say(f"{len(all_ms)} mutants in {len(files)} file(s); running {len(ms)}")
    if a.list:
        for m in ms:
            print(f"{m.id}  {m.where}:{m.col}  {m.op:<12} {m.original!r} -> {m.replacement!r}")
        return 0
    base.mkdir(parents=True, exist_ok=True)
    lock = open(base / "lock", "w")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        raise UsageError(f"another ci/mutate is running in {base}; give this one its own --work")
    src1 = base / "src-1"
    checkout(ROOT, rev, src1)
    if a.suite == "campaign":
        from . import campaign
        return campaign.run(a, ROOT, base, rev, src1, ms, texts, say)

    reviewed = equivalents.load(EQUIVALENT_FILE)
    for m in ms:
        if m.id in reviewed:
            m.status, m.detail = "equivalent", f"reviewed: {reviewed[m.id]}"

    workers = []
    for k in range(1, a.jobs + 1):
        say(f"building clone {k} ({'working tree' if rev == WORKTREE else rev[:12]})")
        src, build, secs = prepare_build(k, a, rev, base)
        say(f"clone {k} built in {secs:.0f} s")
        workers.append((src, build))
    tests = [t for t in workers[0][1].ctest_tests()
             if not t["disabled"] and not t["name"].endswith("_NOT_BUILT")
             and (not a.tests or re.search(a.tests, t["name"]))]
    if not tests:
        raise UsageError("no ctest tests selected")
    say(f"baseline: running {len(tests)} tests")
    t0 = time.monotonic()
    times, failing = testrun.baseline(tests)
    say(f"baseline: {time.monotonic() - t0:.0f} s")
    if failing:
        say(f"baseline: {len(failing)} test(s) fail unmutated and are left out: {', '.join(failing[:10])}")
        tests = [t for t in tests if t["name"] not in failing]
    names = {t["name"] for t in tests}

    cov, cov_index = None, {}
    if not a.no_coverage:
        key = tree_key(ROOT, rev)
        bdir = workers[0][1].dir
        targets = sorted({rel for t in tests if (rel := coverage.relative_exe(t["command"][0], bdir))})
        cov = coverage.load_or_build(src1, base, key, targets, say)
        cov_index = coverage.index(cov)

    pool = []
    for k, (src, build) in enumerate(workers, 1):
        objs = build.objects()
        exes = {t["name"]: coverage.relative_exe(t["command"][0], build.dir)
                for t in _tests_of(build, tests)}
        w = Worker(k, src, build, _tests_of(build, tests), times, a.timeout_factor, objs, exes)
        w.ninja_jobs = 1 if a.jobs > 1 else 2
        w.snapshot_objects(files)
        pool.append(w)

    def tests_for(m):
        if cov is None:
            return sorted(names)
        over = sorted(set(cov_index.get((m.file, m.line), [])) & names)
        m.tests = over
        m.extra["coverage"] = True
        return sorted(names) if a.all_tests else over

    todo = queue.Queue()
    for m in ms:
        if not m.status:
            todo.put(m)
    stop = threading.Event()
    deadline = time.monotonic() + a.budget * 60 if a.budget else None
    done_lock = threading.Lock()
    done = [0]
    to_run = todo.qsize()
    t_run = time.monotonic()

    def work(w):
        while not stop.is_set():
            if deadline and time.monotonic() > deadline:
                return
            try:
                m = todo.get_nowait()
            except queue.Empty:
                return
            sel = tests_for(m)
            if not sel and not a.skip_uncovered:
                # No test ran over the line. It may hold no code of its own (a namespace
                # constant, a declaration: coverage marks no line for it) while the
                # mutant still changes code elsewhere, so every test runs.
                sel = sorted(names)
                m.extra["uncovered_line"] = True
            if not sel:
                m.status, m.detail = "survived", "no coverage"
            else:
                w.run_tests(m, sel, texts[m.file])
                if stop.is_set() and m.status != "killed":
                    m.status, m.detail = "", ""  # interrupted mid-run: not a result
                    return
            with done_lock:
                done[0] += 1
                n = done[0]
                el = time.monotonic() - t_run
                eta = el / n * (to_run - n)
                print(f"[{n}/{to_run}] {m.status:<12} {m.id} {m.where} {m.op:<12} "
                      f"{m.seconds:5.1f} s  {m.detail[:60]}  ETA {eta / 60:.1f} min", flush=True)

    threads = [threading.Thread(target=work, args=(w,), daemon=True) for w in pool]
    interrupted = False
    # A job started in the background by a shell inherits SIGINT ignored: take it back.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    try:
        for t in threads:
            t.start()
        for t in threads:
            while t.is_alive():
                t.join(0.5)
    except KeyboardInterrupt:
        interrupted = True
        say("interrupted: reverting the sources and writing the partial report")
        stop.set()
        for w in pool:
            w.kill_running()
        for t in threads:
            t.join(60)
    finally:
        for w in pool:
            w.revert()

    for m in ms:
        if not m.status:
            m.status, m.detail = "not run", "budget" if deadline and not interrupted else ""
    ran = [m for m in ms if m.seconds]
    meta = {"rev": rev, "suite": a.suite, "files": files, "generated": len(all_ms),
            "sample": a.sample, "seed": a.seed, "jobs": a.jobs,
            "seconds": time.monotonic() - t_start,
            "mean_seconds": sum(m.seconds for m in ran) / len(ran) if ran else 0,
            "coverage_seconds": round(cov["seconds"]["total"]) if cov else None,
            "interrupted": interrupted, "argv": sys.argv[1:]}
    summary = report.write(Path(a.out), ms, meta, texts)
    print()
    print(report.score_tables(ms))
    print()
    say(f"score {report._fmt_score(summary['score'])}; report: {Path(a.out) / 'report.md'} "
        f"(and .html, .json); {meta['mean_seconds']:.1f} s per mutant")
    return 130 if interrupted else 0


def _tests_of(build, tests):
    """The tests as seen from this build tree (same names, commands in its own dir)."""
    mine = {t["name"]: t for t in build.ctest_tests()}
    return [mine.get(t["name"], t) for t in tests]
