"""ci/mutate's selection rules, no build: the seeded sample is reproducible and uniform
over the mutants, the reviewed-equivalent file parses (and refuses a malformed line),
and the checked-in ci/mutate-equivalent.txt is valid."""

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "ci"))

from mutatelib import cli, equivalents, operators  # noqa: E402

pytestmark = pytest.mark.tools  # starts no pfsd: run once, in the host step

CODE = "".join(f"bool f{k}(int a) {{ return a < {k}; }}\n" for k in range(40))


def mutants():
    return operators.mutants_of("core/x.cc", CODE)


def test_same_seed_same_sample_other_seed_other_sample():
    first = [m.id for m in cli.sample(mutants(), 10, seed=1)]
    again = [m.id for m in cli.sample(list(reversed(mutants())), 10, seed=1)]
    other = [m.id for m in cli.sample(mutants(), 10, seed=2)]
    assert len(first) == 10 and sorted(first) == sorted(again)
    assert sorted(first) != sorted(other)


def test_sample_of_everything_or_zero_is_everything():
    assert len(cli.sample(mutants(), 0, seed=1)) == len(mutants())
    assert len(cli.sample(mutants(), 10_000, seed=1)) == len(mutants())


def test_equivalent_file_parses_and_refuses_garbage(tmp_path):
    f = tmp_path / "eq.txt"
    f.write_text("# comment\n\nabcdef0123  the reason, with words\n")
    assert equivalents.load(f) == {"abcdef0123": "the reason, with words"}
    f.write_text("abcdef0123\n")
    with pytest.raises(ValueError):
        equivalents.load(f)
    assert equivalents.load(tmp_path / "missing.txt") == {}


def test_checked_in_equivalent_file_is_valid():
    for mid, reason in equivalents.load(ROOT / "ci" / "mutate-equivalent.txt").items():
        assert len(mid) == 10 and len(reason) > 10


def test_only_takes_a_long_id_list_and_rerun_takes_every_survivor(tmp_path):
    ids = [f"{k:010x}" for k in range(300)]  # far longer than NAME_MAX as one argument
    a = type("A", (), {"only": ",".join(ids), "rerun_survivors": None})()
    assert cli.wanted_ids(a) == set(ids)
    report = tmp_path / "report.json"
    report.write_text('{"mutants": [{"id": "aaaaaaaaaa", "status": "survived"},'
                      ' {"id": "bbbbbbbbbb", "status": "killed"},'
                      ' {"id": "cccccccccc", "status": "survived (no coverage)"}]}')
    b = type("A", (), {"only": None, "rerun_survivors": str(report)})()
    assert cli.wanted_ids(b) == {"aaaaaaaaaa", "cccccccccc"}
