"""AFL++'s side of a campaign: instance names, and what the sync folder says.

Every instance writes <sync>/<name>/fuzzer_stats (totals, rewritten as it runs); an
instance that imported another's queue has <sync>/<name>/.synced/<other name>.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass
from pathlib import Path

from .timeline import Sample


def instance_names(jobs: int, shared: bool, prefix: str) -> list:
    """(role flag, name) per instance.

    Alone: one main (-M main) and secondaries sec1, sec2, ... In a folder several
    machines (or campaigns) share, only one main may exist, so every instance is a
    secondary named after its campaign: <prefix>-0, <prefix>-1, ...
    """
    if not shared:
        return [("-M", "main")] + [("-S", f"sec{i}") for i in range(1, jobs)]
    return [("-S", f"{prefix}-{i}") for i in range(jobs)]


def default_prefix() -> str:
    return socket.gethostname().split(".")[0] or "host"


def read_stats(path: Path) -> dict:
    kv = {}
    for line in path.read_text(errors="replace").splitlines():
        key, sep, value = line.partition(":")
        if sep:
            kv[key.strip()] = value.strip()
    return kv


@dataclass
class Instance:
    name: str
    execs: int
    execs_per_sec: float
    corpus: int
    imported: int
    crashes: int
    edges: int
    synced_from: list  # names whose queues it imported


def instances(sync: Path, since: float = 0.0) -> list:
    """Every instance in the sync folder whose stats were updated at or after `since`
    (Unix time; 0 = all), e.g. this run's and other machines' running meanwhile."""
    out = []
    if not sync.is_dir():
        return out
    for inst in sorted(sync.iterdir()):
        f = inst / "fuzzer_stats"
        if not f.is_file():
            continue
        kv = read_stats(f)
        if int(kv.get("last_update", "0") or 0) < since:
            continue
        eps = float(kv.get("execs_per_sec", "0") or 0)
        synced = inst / ".synced"
        out.append(Instance(
            name=inst.name,
            execs=int(kv.get("execs_done", "0") or 0),
            execs_per_sec=eps if eps < 1e12 else 0.0,  # "inf" before the first stats period
            corpus=int(kv.get("corpus_count", "0") or 0),
            imported=int(kv.get("corpus_imported", "0") or 0),
            crashes=int(kv.get("saved_crashes", kv.get("unique_crashes", "0")) or 0),
            edges=int(kv.get("edges_found", "0") or 0),
            synced_from=sorted(p.name for p in synced.iterdir()) if synced.is_dir() else []))
    return out


def sample(sync: Path, since: float, seconds: float) -> Sample | None:
    """The instances' state now as one Sample: the most edges and the largest corpus
    any instance has (their union is not known; the max is its floor) and the sum of
    their executions. AFL++ 4.04c writes no plot_data row in an instance's first
    minute, so the campaign polls fuzzer_stats instead."""
    seen = instances(sync, since)
    if not seen:
        return None
    return Sample(seconds, coverage=max(i.edges for i in seen),
                  corpus=max(i.corpus for i in seen), execs=sum(i.execs for i in seen))
