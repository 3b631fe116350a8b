"""ci/campaign's end-of-campaign table and timeline (issue 12), tested short.

- the "last 10%" rule on synthetic samples: a run still finding at the end, one that
  stopped finding, one whose only sample is its last;
- libFuzzer's progress lines, plain and under -fork, become samples;
- with both engines a target has one row, both speeds side by side;
- a real 1-target campaign (xattr_names, libFuzzer, about 20 s of fuzzing, --no-build
  after building the one target once): the table's row has lines and branches as
  covered/total of the code xattr_names links, the same figures llvm-cov gives for
  the profile the campaign left; a "last 10%" gain; a timeline CSV whose coverage
  never falls, and a PNG beside the HTML report, its path printed.

Every campaign here has a hard timeout and is stopped by PID on failure.
"""

from __future__ import annotations

import csv
import json
import subprocess
import sys

import pytest

from campaign_helpers import REPO_ROOT, ensure_built, finish, start, stop, table_row

sys.path.insert(0, str(REPO_ROOT / "ci"))
from campaignlib import table  # noqa: E402
from campaignlib.result import Result  # noqa: E402
from campaignlib.timeline import Sample, late_gain, parse_progress  # noqa: E402

pytestmark = pytest.mark.tools  # starts no pfsd: run once, in the host step

TARGET = "xattr_names"
CAMPAIGN_TIMEOUT = 150  # seconds; the campaign fuzzes for 20 of them


def cov(seconds, coverage):
    return Sample(seconds, coverage=coverage, corpus=1, execs=0)


def test_late_gain_counts_only_the_last_tenth():
    still_finding = [cov(0, 10), cov(50, 40), cov(89, 41), cov(95, 44), cov(100, 45)]
    assert late_gain(still_finding, 100) == 4  # 45 at the end, 41 at 90 s
    stopped = [cov(0, 10), cov(30, 50), cov(100, 50)]
    assert late_gain(stopped, 100) == 0
    only_last = [cov(99, 7)]
    assert late_gain(only_last, 100) == 0
    assert late_gain([], 100) is None


def test_progress_lines_become_samples():
    s = parse_progress("#4096\tNEW    cov: 120 ft: 300 corp: 17/2048b lim: 43 exec/s: 0 rss: 30Mb", 2.5)
    assert s == Sample(2.5, coverage=120, corpus=17, execs=4096, features=300)
    fork = parse_progress("#88000: cov: 130 ft: 310 corp: 19 exec/s 4400 oom/timeout/crash: "
                          "0/0/0 time: 21s job: 3 dft_time: 0", 21.0)
    assert (fork.coverage, fork.features, fork.corpus, fork.execs) == (130, 310, 19, 88000)
    assert parse_progress("INFO: Seed: 1234", 0.1) is None
    assert parse_progress("#5\tDONE   cov: 9 ft: 9 corp: 3/9b lim: 4 exec/s: 0 rss: 30Mb", 1) \
        .coverage == 9


def test_both_engines_share_one_row_speeds_side_by_side():
    lf = Result("dirent", "libfuzzer", execs=50_000, seconds=10.0, corpus_files=30,
                corpus_bytes=4096, merged_new=2, late_gain=3, instances=1)
    afl = Result("dirent", "afl", execs=20_000, seconds=10.0, late_gain=0, instances=2)
    row = table.row("dirent", {"afl": afl, "libfuzzer": lf}, "10/20 50.0%", "3/4 75.0%")
    assert row == ["dirent", "libfuzzer+afl", "5,000", "2,000", "70,000", "1/2", "30", "4", "2",
                   "10/20 50.0%", "3/4 75.0%", "+3/+0", "0"]
    only_afl = table.row("dirent", {"afl": afl}, "n/a", "n/a")
    assert only_afl[1:5] == ["afl", "-", "2,000", "20,000"]
    assert "libFuzzer/s" in table.render([row]).splitlines()[0]


@pytest.fixture(scope="module")
def built():
    ensure_built(["fuzz", "coverage"], TARGET)


def test_tiny_campaign_reports_lines_branches_late_gain_and_plot(built, tmp_path):
    findings = tmp_path / "findings"
    log = tmp_path / "campaign.log"
    proc = start(["--no-build", "--no-merge", "--targets", TARGET, "--minutes", "0.25",
                  "--findings", str(findings)], log)
    try:
        out = finish(proc, log, CAMPAIGN_TIMEOUT)
    finally:
        stop(proc, [tmp_path])
    assert proc.returncode == 0, out[-4000:]

    row = table_row(out, TARGET)
    assert row["engine"] == "libfuzzer" and row["afl"] == "-"
    assert int(row["lf"].replace(",", "")) > 0 and int(row["inst"]) == 1
    # The table's figures are llvm-cov's for the profile the campaign wrote, over the
    # xattr_names coverage binary alone (the core/ code it links).
    profdata = findings / "coverage" / "profiles" / f"{TARGET}.profdata"
    exported = subprocess.run(
        ["llvm-cov-14", "export", "-summary-only", str(REPO_ROOT / "build" / "coverage" / "fuzz" / TARGET),
         f"-instr-profile={profdata}", "-ignore-filename-regex=(core/tests|core/transport/memory|fuzz|/usr)/"],
        stdout=subprocess.PIPE, check=True, text=True)
    totals = json.loads(exported.stdout)["data"][0]["totals"]
    assert (int(row["lines_cov"]), int(row["lines_total"])) == \
        (totals["lines"]["covered"], totals["lines"]["count"])
    assert (int(row["br_cov"]), int(row["br_total"])) == \
        (totals["branches"]["covered"], totals["branches"]["count"])
    assert 0 < int(row["lines_cov"]) <= int(row["lines_total"])
    assert 0 < int(row["br_cov"]) <= int(row["br_total"])
    assert row["late"].startswith("+") and int(row["late"][1:]) >= 0

    png = findings / "coverage" / "timeline.png"
    csv_path = findings / "coverage" / "timeline.csv"
    assert out.rstrip().splitlines()[-1].startswith(f"campaign: timeline: {png} ")  # the last line
    assert (findings / "coverage" / "html" / "index.html").is_file()
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
    with open(csv_path, newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["target"] == TARGET]
    assert len(rows) >= 2 and {r["engine"] for r in rows} == {"libfuzzer"}
    seconds = [float(r["seconds"]) for r in rows]
    coverage = [int(r["coverage"]) for r in rows]
    assert seconds == sorted(seconds) and coverage == sorted(coverage) and coverage[-1] > 0
    # The "last 10%" figure is the CSV's own: end minus the value at 90% of the run.
    run_end = seconds[-1]
    at_mark = [c for s, c in zip(seconds, coverage) if s <= 0.9 * run_end] or coverage[:1]
    assert int(row["late"][1:]) <= coverage[-1] - at_mark[-1]
