"""The end-of-campaign table: one row per target, both engines' speeds side by side."""

from __future__ import annotations

ENGINES = ("libfuzzer", "afl")
COLUMNS = [("target", "<15"), ("engine", "<15"), ("libFuzzer/s", ">11"), ("AFL++/s", ">9"),
           ("execs", ">12"), ("inst", ">5"), ("corpus", ">7"), ("KB", ">6"), ("new", ">5"),
           ("core/ lines", ">19"), ("core/ branches", ">19"), ("last 10%", ">10"),
           ("crashes", ">7")]


def late_text(gain) -> str:
    return "n/a" if gain is None else f"+{gain}"


def row(target: str, runs: dict, lines: str, branches: str) -> list:
    """runs: engine -> Result of that engine's run of the target (one or both)."""
    done = [runs[e] for e in ENGINES if e in runs]
    speed = {e: f"{runs[e].execs_per_sec:,.0f}" if e in runs else "-" for e in ENGINES}
    first = done[0]
    return [target, "+".join(r.engine for r in done), speed["libfuzzer"], speed["afl"],
            f"{sum(r.execs for r in done):,}", "/".join(str(r.instances) for r in done),
            str(first.corpus_files), str(first.corpus_bytes // 1024),
            str(sum(r.merged_new for r in done)), lines, branches,
            "/".join(late_text(r.late_gain) for r in done), str(sum(r.crashes for r in done))]


def render(rows: list) -> str:
    def fmt(cells):
        return " ".join(f"{c:{spec}}" for c, (_, spec) in zip(cells, COLUMNS)).rstrip()
    out = [fmt([name for name, _ in COLUMNS])] + [fmt(r) for r in rows]
    out += ["",
            "execs/s: all -fork jobs or AFL++ instances together; inst: libFuzzer jobs, AFL++",
            "instances seen in the sync folder during the run; core/ lines and branches: covered/",
            "total of the core/ code the target links (its coverage build, llvm-cov); last 10%:",
            "coverage gained in the last tenth of the run (libFuzzer cov, AFL++ edges); inst and",
            "last 10% with both engines: libFuzzer/AFL++; +0 = no longer finding"]
    return "\n".join(out)
