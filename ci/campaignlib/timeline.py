"""Coverage and corpus size over one fuzzing run, and whether it was still finding.

A run is a list of Samples (seconds since the run started). libFuzzer's come from its
progress lines (`#N NEW cov: C ft: F corp: X/Yb ...`, and `#N: cov: ...` under -fork),
AFL++'s from the StatsD gauges its instances send every second (see statsd.py). Coverage is libFuzzer's `cov`
(edges and PCs it counts) or AFL++'s `edges_found`: each engine's own unit, so the
two are never compared with each other, only over time.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from pathlib import Path

LATE_SHARE = 0.10  # "still finding": new coverage in this last share of the run

# `#1234\tNEW    cov: 56 ft: 78 corp: 9/1000b ...`; under -fork=N: `#1234: cov: 56 ft: 78 corp: 9 ...`
PROGRESS = re.compile(r"^#(\d+):?\s+(?:(\w+)\s+)?cov: (\d+) ft: (\d+) corp: (\d+)")


@dataclass(frozen=True)
class Sample:
    seconds: float
    coverage: int
    corpus: int
    execs: int
    features: int = 0  # libFuzzer's ft; 0 for AFL++


def parse_progress(line: str, seconds: float) -> Sample | None:
    """The Sample a libFuzzer progress line gives at `seconds`, or None."""
    m = PROGRESS.match(line)
    if not m:
        return None
    return Sample(seconds, coverage=int(m.group(3)), corpus=int(m.group(5)),
                  execs=int(m.group(1)), features=int(m.group(4)))


def value_at(samples: list, seconds: float) -> Sample | None:
    """The last sample taken at or before `seconds` (the state then), else None."""
    best = None
    for s in samples:
        if s.seconds <= seconds:
            best = s
        else:
            break
    return best


def late_gain(samples: list, run_seconds: float) -> int | None:
    """Coverage gained in the last LATE_SHARE of the run: at its end minus at 90%.

    None when the run left no sample at all. A run whose first sample comes after
    the 90% mark (a very short run) counts from that first sample.
    """
    if not samples:
        return None
    ordered = sorted(samples, key=lambda s: s.seconds)
    mark = value_at(ordered, run_seconds * (1 - LATE_SHARE)) or ordered[0]
    return ordered[-1].coverage - mark.coverage


CSV_FIELDS = ["target", "engine", "seconds", "coverage", "features", "corpus", "execs"]


def write_csv(path: Path, runs: list) -> None:
    """runs: (target, engine, samples) triples, written as one row per sample."""
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=CSV_FIELDS)
        w.writeheader()
        for target, engine, samples in runs:
            for s in samples:
                w.writerow({"target": target, "engine": engine, "seconds": f"{s.seconds:.1f}",
                            "coverage": s.coverage, "features": s.features,
                            "corpus": s.corpus, "execs": s.execs})


def read_csv(path: Path) -> list:
    """(target, engine, samples) triples in the order they were written."""
    runs: dict = {}
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            key = (row["target"], row["engine"])
            runs.setdefault(key, []).append(
                Sample(float(row["seconds"]), int(row["coverage"]), int(row["corpus"]),
                       int(row["execs"]), int(row["features"])))
    return [(t, e, s) for (t, e), s in runs.items()]
