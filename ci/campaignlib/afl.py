"""AFL++'s side of a campaign: instance names, and what the sync folder says.

Every instance writes <sync>/<name>/fuzzer_stats (totals, rewritten about once a
minute and when it ends); an instance that ran another's queue has
<sync>/<name>/.synced/<other name>.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass
from pathlib import Path


def instance_names(jobs: int, shared: bool, prefix: str) -> list:
    """(role flag, name) per instance: one main (-M) and jobs-1 secondaries (-S).

    Alone: main, sec1, sec2, ... In a folder several machines (or campaigns) share,
    names carry the campaign's prefix: <prefix>-0 (its main), <prefix>-1, ... AFL++
    4.04c secondaries import only from mains, and a main imports from everyone, so
    each campaign runs its own main; AFL++ warns that another main exists, and the
    mains import each other's queues.
    """
    if not shared:
        return [("-M", "main")] + [("-S", f"sec{i}") for i in range(1, jobs)]
    return [("-M", f"{prefix}-0")] + [("-S", f"{prefix}-{i}") for i in range(1, jobs)]


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


STATS_PERIOD = 65  # seconds: AFL++ rewrites a running instance's fuzzer_stats every 60


def instances(sync: Path, since: float = 0.0) -> list:
    """Every instance in the sync folder that ran during a run started at `since`
    (Unix time; 0 = all): this run's, and other machines' running meanwhile, as
    their fuzzer_stats were written at most one stats period before. An instance
    still running counts with what its stats said last."""
    out = []
    if not sync.is_dir():
        return out
    for inst in sorted(sync.iterdir()):
        f = inst / "fuzzer_stats"
        if not f.is_file():
            continue
        kv = read_stats(f)
        if int(kv.get("last_update", "0") or 0) < since - STATS_PERIOD:
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
            synced_from=_synced_from(synced)))
    return out


def _synced_from(synced: Path) -> list:
    """Instances whose queues this one imported: .synced/<name> holds the last id
    taken (<name>.last and <name>.max mark attempts and sizes, not imports)."""
    if not synced.is_dir():
        return []
    return sorted(p.name for p in synced.iterdir() if "." not in p.name)


def leftover_targets(out_dirs: list) -> list:
    """PIDs of target processes afl-fuzz left behind for these instance folders.

    afl-fuzz 4.04c does not always reap what it started: the CMPLOG fork server's
    persistent child stays stopped (SIGSTOP, between two inputs) after a normal end,
    and a SIGKILLed afl-fuzz leaves its fork servers, which run in a session of
    their own. Each carries __AFL_OUT_DIR=<its instance folder> in its environment.
    """
    wanted = {f"__AFL_OUT_DIR={d}".encode() for d in out_dirs}
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            env = set((entry / "environ").read_bytes().split(b"\0"))
        except OSError:
            continue
        if env & wanted:
            pids.append(int(entry.name))
    return pids
