"""ci/campaign's per-folder coverage and its join of llvm-cov's uncovered lines with the
reviewed list fuzz/uncovered.txt (ci/campaignlib/uncovered.py), on synthetic lcov
data and sources:

- lcov records become per-file line counts, folder totals split FOCUS from the rest;
- an uncovered region inside an entry's range shows the entry's reason, one outside
  every entry is UNEXPLAINED, and a region half inside is split in two;
- stale entries: a range now covered, a file changed under its digest, a range past
  the file's end, a file gone; malformed lines are reported, not ignored; a race
  entry a run happens to reach is not stale;
- the committed fuzz/uncovered.txt parses without errors;
- ci/campaign --coverage-only (one target, --no-build after building it once) fuzzes
  nothing and prints the per-folder table with llvm-cov's figures for its profile.
"""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from campaign_helpers import REPO_ROOT, ensure_built, finish, start, stop

sys.path.insert(0, str(REPO_ROOT / "ci"))
from campaignlib import uncovered as u  # noqa: E402

pytestmark = pytest.mark.tools

ROOT = "/repo"
SRC = {
    "core/fuse/a.cc": [f"line {n}" for n in range(1, 21)],
    "core/passthrough/b.cc": [f"b {n}" for n in range(1, 11)],
}


def lcov(records: dict) -> str:
    out = []
    for path, per_line in records.items():
        out.append(f"SF:{ROOT}/{path}")
        out += [f"DA:{n},{c}" for n, c in per_line.items()]
        out.append("end_of_record")
    return "\n".join(out) + "\n"


def entry(path, first, last, reason, src=None):
    d = u.digest((src or SRC)[path], first, last)
    return f"{path}:{first}-{last}  {d}  {reason}"


def read(path):
    return SRC.get(path)


# a.cc: lines 1-4 covered, 5-7 uncovered (6 no code), 8 covered, 10-13 uncovered.
A = {1: 3, 2: 3, 3: 1, 4: 1, 5: 0, 7: 0, 8: 2, 10: 0, 11: 0, 12: 0, 13: 0}
B = {1: 1, 2: 0}
REST = {1: 1, 2: 1, 3: 0}


def lines():
    return u.parse_lcov(lcov({"core/fuse/a.cc": A, "core/passthrough/b.cc": B,
                              "core/daemon/c.cc": REST}), ROOT)


def test_lcov_and_folder_totals():
    got = lines()
    assert set(got) == {"core/fuse/a.cc", "core/passthrough/b.cc", "core/daemon/c.cc"}
    assert got["core/fuse/a.cc"][5] == 0 and got["core/fuse/a.cc"][1] == 3
    totals = u.folder_totals(got)
    assert totals["core/fuse"] == (5, 11)
    assert totals["core/passthrough"] == (1, 2)
    assert totals["core/transport/vhost_user"] == (0, 0)
    assert totals["rest"] == (2, 3)
    # The same file twice (two objects): counts add up.
    twice = u.parse_lcov(lcov({"core/fuse/a.cc": {1: 0, 2: 1}}) + lcov({"core/fuse/a.cc": {1: 4}}),
                         ROOT)
    assert twice["core/fuse/a.cc"] == {1: 4, 2: 1}


def test_regions_get_their_reason_or_unexplained():
    entries, errors = u.parse_entries("\n".join([
        "# comment", "",
        entry("core/fuse/a.cc", 5, 7, "daemon-only: pfsd's option --x"),
        entry("core/fuse/a.cc", 10, 11, "kernel: needs FUSE_PASSTHROUGH"),
    ]))
    assert not errors and len(entries) == 2
    j = u.join(lines(), entries, read)
    got = [(r.path, r.first, r.last, r.lines, r.reason) for r in j.regions]
    assert got == [
        ("core/fuse/a.cc", 5, 7, 2, "daemon-only: pfsd's option --x"),
        ("core/fuse/a.cc", 10, 11, 2, "kernel: needs FUSE_PASSTHROUGH"),
        ("core/fuse/a.cc", 12, 13, 2, u.UNEXPLAINED),  # half a region outside the entry
        ("core/passthrough/b.cc", 2, 2, 1, u.UNEXPLAINED),
    ]  # core/daemon is no FOCUS folder: its line 3 is in no region
    assert not j.stale
    assert j.lines_per_reason() == {"UNEXPLAINED": 3, "daemon-only": 2, "kernel": 2}
    assert j.unexplained() == 3
    text = u.render(u.folder_totals(lines()), j, read)
    assert "core/fuse/a.cc:12-13  (2 line(s))  UNEXPLAINED" in text
    # The suggestion for an unexplained region is an entry that explains it once its
    # reason is written.
    sugg = [l.strip() for l in text.splitlines() if l.strip().endswith("CATEGORY: why")
            and l.strip().startswith("core/fuse/a.cc:12-13 ")]
    assert len(sugg) == 1
    fixed, _ = u.parse_entries(sugg[0].replace("CATEGORY: why", "defensive: cannot fail"))
    j2 = u.join(lines(), entries + fixed, read)
    reasons = [r.reason for r in j2.regions if r.path == "core/fuse/a.cc"]
    assert reasons[-1] == "defensive: cannot fail"


def test_stale_entries_are_reported():
    changed = dict(SRC)
    changed["core/fuse/a.cc"] = list(SRC["core/fuse/a.cc"])
    text = "\n".join([
        entry("core/fuse/a.cc", 3, 5, "defensive: now covered"),      # 3, 4 covered now
        entry("core/fuse/a.cc", 10, 13, "kernel: file changed"),     # edited below
        "core/fuse/a.cc:19-25  00000000  kernel: past the end",
        "core/fuse/gone.cc:1-2  00000000  kernel: file gone",
        entry("core/passthrough/b.cc", 2, 2, "defensive: still good"),
    ])
    changed["core/fuse/a.cc"][11] = "edited"
    entries, errors = u.parse_entries(text)
    assert not errors
    j = u.join(lines(), entries, changed.get)
    why = {e.where: w for e, w in j.stale}
    assert why[1].startswith("now covered: 2 line(s) of it, first 3")
    assert why[2].startswith("file changed (digest now ")
    assert why[3] == "file changed (range past its end)"
    assert why[4] == "file gone"
    assert 5 not in why
    # A stale entry explains nothing.
    assert {(r.first, r.reason) for r in j.regions if r.path == "core/fuse/a.cc"} == \
        {(5, u.UNEXPLAINED), (10, u.UNEXPLAINED)}
    assert "STALE entries" in u.render(u.folder_totals(lines()), j, changed.get)


def test_bad_lines_are_errors():
    entries, errors = u.parse_entries("core/fuse/a.cc:5-7 reason without digest\n"
                                      "core/fuse/a.cc:9-3  0123abcd  defensive: backwards\n"
                                      "core/fuse/a.cc:4  0123abcd  defensive: one line\n")
    assert [e.first for e in entries] == [4] and entries[0].last == 4
    assert len(errors) == 2 and errors[0].startswith("line 1:") and errors[1].startswith("line 2:")


def test_committed_list_parses():
    path = REPO_ROOT / "fuzz" / "uncovered.txt"
    entries, errors = u.parse_entries(path.read_text())
    assert not errors and entries
    assert all(e.path.startswith(u.FOCUS) for e in entries)


def test_paths_are_normalised():
    text = f"SF:{ROOT}/build/coverage/../../core/fuse/a.cc\nDA:1,0\nend_of_record\n"
    assert u.parse_lcov(text, ROOT) == {"core/fuse/a.cc": {1: 0}}


def test_race_entries_are_not_stale_when_a_run_reaches_them():
    entries, _ = u.parse_entries(entry("core/fuse/a.cc", 3, 5, "race: threads decide") + "\n" +
                                 entry("core/fuse/a.cc", 4, 5, "defensive: same lines, not a race"))
    j = u.join(lines(), entries, read)
    assert [e.where for e, _ in j.stale] == [2]
    assert [(r.first, r.reason) for r in j.regions if r.path == "core/fuse/a.cc"][0] == \
        (5, "race: threads decide")


def test_coverage_only_mode_prints_the_folder_table(tmp_path):
    """ci/campaign --coverage-only on one small target: no fuzzing, the per-folder table
    with llvm-cov's own figures for the profile it left, the reasons report written."""
    ensure_built(["coverage"], "dirent")
    findings = tmp_path / "findings"
    log = tmp_path / "campaign.log"
    proc = start(["--coverage-only", "--no-build", "--targets", "dirent",
                  "--findings", str(findings)], log)
    try:
        out = finish(proc, log, 120)
    finally:
        stop(proc, [tmp_path])
    assert proc.returncode == 0, out[-4000:]
    assert "libFuzzer for" not in out and not (findings / "runs").exists()
    exported = subprocess.run(
        ["llvm-cov-14", "export", "-format=lcov", str(REPO_ROOT / "build" / "coverage" / "fuzz" / "dirent"),
         f"-instr-profile={findings / 'coverage' / 'profiles' / 'all.profdata'}",
         "-ignore-filename-regex=(core/tests|core/transport/memory|fuzz|/usr)/"],
        stdout=subprocess.PIPE, check=True, text=True).stdout
    totals = u.folder_totals(u.parse_lcov(exported, str(REPO_ROOT)))
    c, n = totals["core/fuse"]
    assert 0 < c < n
    assert re.search(rf"^  core/fuse +{c}/{n} ", out, re.M), out[-3000:]
    report = (findings / "coverage" / "uncovered.txt").read_text()
    assert report.startswith("line coverage per folder") and "uncovered regions:" in report
