"""ci/campaign --sync-dir with AFL++ (issue 12): two campaigns on this machine share one
folder, as two machines would.

Both run xattr_names under AFL++ (--instance-name alpha for 40 s, beta for 20 s,
started 3 s later). Checked: both instances ran (fuzzer_stats with executions, named
after their campaigns); they saw each other: each ran the other's queue (AFL++ leaves
<sync>/<name>/.synced/<other>; the campaign prints it). beta syncs from alpha as it
starts (AFL_IMPORT_FIRST), alpha from beta at its next sync, AFL_SYNC_TIME=1 making
that 30 s after its first. alpha's timeline CSV has a sample about every second
(AFL++'s StatsD gauges). And each
campaign's table counts both instances (inst 2; alpha's executions, as it ended last,
exactly both instances' final counts; beta's with alpha's as its fuzzer_stats, which
AFL++ rewrites once a minute, last said).

Every campaign here has a hard timeout and is stopped by PID on failure.
"""

from __future__ import annotations

import csv
import time

import pytest

from campaign_helpers import ensure_built, finish, running_with, start, stop, table_row

pytestmark = pytest.mark.tools  # starts no pfsd: run once, in the host step

TARGET = "xattr_names"
CAMPAIGN_TIMEOUT = 120  # seconds; the campaigns fuzz for 40 and 20 of them
MINUTES = {"alpha": "0.9", "beta": "0.25"}  # fuzzing: 75% of it, at least 20 s


@pytest.fixture(scope="module")
def built():
    ensure_built(["fuzz", "afl", "afl-cmplog"], TARGET)


def stats(path):
    out = {}
    for line in path.read_text().splitlines():
        key, _, value = line.partition(":")
        out[key.strip()] = value.strip()
    return out


def test_two_afl_campaigns_share_a_sync_dir(built, tmp_path):
    sync = tmp_path / "shared"
    procs, logs = {}, {}
    try:
        for name in ("alpha", "beta"):
            logs[name] = tmp_path / f"{name}.log"
            procs[name] = start(["--no-build", "--no-merge", "--no-coverage", "--engine", "afl",
                                 "--targets", TARGET, "--minutes", MINUTES[name], "--sync-dir", str(sync),
                                 "--instance-name", name, "--findings",
                                 str(tmp_path / f"findings-{name}")], logs[name])
            time.sleep(3)
        out = {name: finish(procs[name], logs[name], CAMPAIGN_TIMEOUT) for name in procs}
    finally:
        for proc in procs.values():
            stop(proc, [tmp_path])
    for name, proc in procs.items():
        assert proc.returncode == 0, out[name][-4000:]
    # Nothing AFL++ started outlives the campaigns (its CMPLOG target's stopped
    # persistent child would, left alone).
    assert running_with([sync]) == [], "processes left behind by the campaigns"

    folder = sync / TARGET / "afl-sync"
    names = sorted(p.name for p in folder.iterdir() if (p / "fuzzer_stats").is_file())
    assert names == ["alpha-0", "beta-0"], names
    own_execs = {}
    for inst in names:
        st = stats(folder / inst / "fuzzer_stats")
        own_execs[inst] = int(st["execs_done"])
        assert own_execs[inst] > 1000, (inst, st)
        other = "beta-0" if inst == "alpha-0" else "alpha-0"
        # .synced/<other>: the id after the last of other's queue entries this one ran
        # (kept when new to it; corpus_imported counts those, often 0 in 20 s).
        mark = folder / inst / ".synced" / other
        assert mark.is_file(), f"{inst} never synced from {other}: " + \
            str(sorted(p.name for p in (folder / inst / ".synced").iterdir()))
        assert int.from_bytes(mark.read_bytes()[:4], "little") > 0, f"{inst} read none of {other}'s queue"
    for name in ("alpha", "beta"):
        other = "beta-0" if name == "alpha" else "alpha-0"
        assert f"AFL++ instance {name}-0: " in out[name] and f"AFL++ instance {other}: " in out[name]
        assert f"synced from {other} (" in out[name]
        row = table_row(out[name], TARGET, with_coverage=False)
        assert row["engine"] == "afl" and row["lf"] == "-" and int(row["afl"].replace(",", "")) > 0
        assert int(row["inst"]) == 2, row
    # alpha's timeline: StatsD gauges about once a second over its 40 s run.
    with open(tmp_path / "findings-alpha" / "coverage" / "timeline.csv", newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["target"] == TARGET and r["engine"] == "afl"]
    assert len(rows) >= 20, rows
    edges = [int(r["coverage"]) for r in rows]
    assert edges == sorted(edges) and edges[0] > 0, edges
    # beta ended first: its table has alpha's executions as alpha's stats last said
    # on top of its own; alpha ended last, when both instances' counts were final.
    alpha_execs = int(table_row(out["alpha"], TARGET, with_coverage=False)["execs"].replace(",", ""))
    beta_execs = int(table_row(out["beta"], TARGET, with_coverage=False)["execs"].replace(",", ""))
    assert beta_execs >= own_execs["beta-0"], (beta_execs, own_execs)
    assert alpha_execs == own_execs["alpha-0"] + own_execs["beta-0"], (alpha_execs, own_execs)
