"""--suite campaign: do the fuzzers, not only the unit tests, catch a planted bug?

For each security-relevant mutant (is_security_relevant), build the libFuzzer targets
(clang-14, ASan+UBSan, like the `fuzz` preset) with the mutant, and run each target whose
corpus replay reaches the mutated line for its share of the default campaign (or
--fuzz-seconds), seeded from corpora/ with its dictionary and options, the way
ci/campaign does. Killed = the fuzzer stopped on a crash, an oracle failure or a
timeout; the report gives the target and the seconds it took."""
import importlib.machinery
import importlib.util
import os
import re
import signal
import subprocess
import tempfile
import time
from pathlib import Path

from . import coverage, report
from .sources import tree_key
from .workspace import Build

SECURITY_FILES = re.compile(
    r"^core/(passthrough/|transport/vhost_user/|fuse/(request_decoder|server|server_call|"
    r"reader_writer|init_negotiation)\.cc$)")
SECURITY_OPS = {"drop_flag", "negate_guard", "negate_not", "rel_flip", "boundary"}
FUZZ_FLAGS = "-O1 -g0 -DNDEBUG"


def is_security_relevant(m) -> bool:
    """A check that keeps the guest in its tree or the daemon's memory safe: a flag
    dropped, a guard disabled or a comparison changed in the PassthroughFs, the
    vhost-user transport, or the FUSE request decoding and the Server's checks."""
    return bool(SECURITY_FILES.match(m.file)) and m.op in SECURITY_OPS


def load_campaign(src: Path):
    """ci/campaign of the mutated tree as a module: its targets, corpus folders,
    time weights and libFuzzer options (one source of truth)."""
    loader = importlib.machinery.SourceFileLoader("pfs_campaign", str(src / "ci" / "campaign"))
    spec = importlib.util.spec_from_loader("pfs_campaign", loader)
    mod = importlib.util.module_from_spec(spec)
    loader.exec_module(mod)
    return mod


def default_seconds(camp) -> dict:
    """Each target's share of a 5-minute campaign by ci/campaign's weights (no 60 s floor)."""
    budget = max(20.0, 5.0 * 60 * 0.75)
    weight = sum(camp.WEIGHTS.values())
    return {t: max(10, int(budget * camp.WEIGHTS[t] / weight)) for t in camp.TARGETS}


def targets_over(cov, targets, file, line) -> list:
    out = []
    for t in targets:
        pat = re.compile(rf"^replay_(seccomp_)?{t}_")
        if any(pat.match(name) and line in set(files.get(file, ()))
               for name, files in cov["tests"].items()):
            out.append(t)
    return out


KINDS = [("oracle", "ORACLE FAILURE"), ("timeout", "ALARM: working on the last Unit"),
         ("timeout", "ERROR: libFuzzer: timeout"), ("crash", "ERROR: AddressSanitizer"),
         ("crash", "runtime error:"), ("crash", "ERROR: libFuzzer: deadly signal"),
         ("crash", "ERROR: LeakSanitizer"), ("crash", "ERROR: libFuzzer")]


def replays_clean(camp, exe: Path, target: str) -> bool:
    """The unmutated target runs its seed corpus without a finding (else a kill means nothing)."""
    cmd = [str(exe), "-runs=0", *[f"-{k}={v}" for k, v in camp.options(target).items()],
           *[str(d) for d in camp.seed_dirs(target)]]
    try:
        return subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              timeout=600).returncode == 0
    except subprocess.TimeoutExpired:
        return False


def fuzz_once(camp, exe: Path, target: str, seconds: float, running: set) -> tuple:
    """(kind or None, seconds until it stopped, first report line)."""
    with tempfile.TemporaryDirectory(prefix="pfs-mutate-fuzz-") as work:
        cmd = [str(exe), f"-max_total_time={int(seconds)}", f"-artifact_prefix={work}/",
               f"-dict={camp.ROOT / 'fuzz' / 'dict' / (target + '.dict')}"]
        cmd += [f"-{k}={v}" for k, v in camp.options(target).items()]
        corpus = Path(work) / "corpus"
        corpus.mkdir()
        cmd += [str(corpus)] + [str(d) for d in camp.seed_dirs(target)]
        t0 = time.monotonic()
        proc = subprocess.Popen(cmd, cwd=work, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True, errors="replace", start_new_session=True)
        running.add(proc)
        kind, first = None, ""
        try:
            for line in proc.stdout:
                for k, needle in KINDS:
                    if needle in line and kind is None:
                        kind, first = k, line.strip()
            proc.wait(timeout=seconds + 120)
        except subprocess.TimeoutExpired:
            kind, first = "timeout", "fuzzer did not stop"
        finally:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait()
            running.discard(proc)
        if proc.returncode != 0 and kind is None:
            kind, first = "crash", f"exit {proc.returncode}"
        return kind, time.monotonic() - t0, first


def run(a, root, base, rev, src, ms, texts, say) -> int:
    from .runner import Worker
    t_start = time.monotonic()
    camp = load_campaign(src)
    per_target = default_seconds(camp)
    if a.fuzz_seconds:
        per_target = {t: a.fuzz_seconds for t in per_target}
    picked = [m for m in ms if is_security_relevant(m)]
    say(f"campaign: {len(picked)} of {len(ms)} mutants are security-relevant "
        f"(fuzz seconds per target: {per_target})")
    fuzz_targets = [f"fuzz_{t}" for t in camp.TARGETS]
    cov = coverage.load_or_build(src, base, tree_key(root, rev), fuzz_targets, say, kind="fuzz",
                                 only=r"^replay_")
    build = Build(src, base / "fuzz-build", base, "clang++-14", FUZZ_FLAGS,
                  extra=["-DPFS_SANITIZE=address,undefined", "-DPFS_FUZZ_ENGINE=libfuzzer"])
    if not (build.dir / "build.ninja").exists():
        build.configure()
    say("campaign: building the libFuzzer targets")
    if not build.ninja(fuzz_targets):
        say(f"campaign: the unmutated fuzz build fails; see {build.log}")
        return 2
    broken = [t for t in camp.TARGETS if not replays_clean(camp, build.dir / "fuzz" / t, t)]
    if broken:
        say(f"campaign: unmutated targets fail on their own corpus, left out: {', '.join(broken)}")
    usable = [t for t in camp.TARGETS if t not in broken]
    files = sorted({m.file for m in picked})
    worker = Worker(1, src, build, [], {}, a.timeout_factor, build.objects(), {})
    worker.snapshot_objects(files)
    running = set()
    deadline = time.monotonic() + a.budget * 60 if a.budget else None
    interrupted = False
    try:
        for n, m in enumerate(picked, 1):
            if deadline and time.monotonic() > deadline:
                break
            targets = targets_over(cov, usable, m.file, m.line)
            m.tests = [f"fuzz_{t}" for t in targets]
            m.extra["coverage"] = True
            if not targets:
                m.status, m.detail = "survived", "no coverage"
            else:
                _run_mutant(worker, build, camp, m, targets, per_target, texts, running)
            print(f"[{n}/{len(picked)}] {m.status:<12} {m.id} {m.where} {m.op:<12} "
                  f"{m.seconds:6.1f} s  {m.detail[:70]}", flush=True)
    except KeyboardInterrupt:
        interrupted = True
        say("interrupted: reverting and writing the partial report")
        for p in list(running):
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    finally:
        worker.revert()
    for m in picked:
        if not m.status:
            m.status = "not run"
    ran = [m for m in picked if m.seconds]
    meta = {"rev": rev, "suite": "campaign", "files": sorted({m.file for m in ms}),
            "generated": len(ms), "sample": a.sample, "seed": a.seed,
            "seconds": time.monotonic() - t_start,
            "mean_seconds": sum(m.seconds for m in ran) / len(ran) if ran else 0,
            "coverage_seconds": round(cov["seconds"]["total"]), "interrupted": interrupted,
            "fuzz_seconds": per_target}
    summary = report.write(Path(a.out), picked, meta, texts)
    print()
    print(report.score_tables(picked))
    print()
    print(report.found_within(picked))
    say(f"score {report._fmt_score(summary['score'])}; report: {Path(a.out) / 'report.md'}")
    return 130 if interrupted else 0


def _run_mutant(worker, build, camp, m, targets, per_target, texts, running):
    def fuzz(mm):
        mm.status, mm.detail = "survived", f"not found in {', '.join(targets)}"
        for t in targets:
            kind, secs, first = fuzz_once(camp, build.dir / "fuzz" / t, t, per_target[t], running)
            if kind:
                mm.status, mm.detail = "killed", f"{t}: {kind} after {secs:.0f} s"
                mm.extra.update(fuzz_target=t, kill_kind=kind, time_to_kill=round(secs, 1),
                                first_report=first[:200])
                return

    worker.run(m, texts[m.file], [f"fuzz_{t}" for t in targets], fuzz)
