"""ci/campaign's time shares (ci/campaignlib/slots.py): every run gets 60 s before the
weights share the rest, an equal share when the budget is too small for 60 s each, and
the shares never exceed the budget by more than rounding."""

from __future__ import annotations

import sys

import pytest

from campaign_helpers import REPO_ROOT

sys.path.insert(0, str(REPO_ROOT / "ci"))
from campaignlib.slots import slots  # noqa: E402

pytestmark = pytest.mark.tools

WEIGHTS = {"a": 4, "b": 2, "c": 1}


def test_default_budget_gives_every_run_its_floor_then_shares_by_weight():
    s = slots(450.0, WEIGHTS, 1)
    assert all(v >= 60 for v in s.values())
    assert s["a"] > s["b"] > s["c"]
    assert sum(s.values()) <= 450


def test_small_budget_is_shared_equally():
    s = slots(90.0, WEIGHTS, 1)
    assert s == {"a": 30, "b": 30, "c": 30}


def test_two_engines_halve_what_each_run_gets():
    one, two = slots(900.0, WEIGHTS, 1), slots(900.0, WEIGHTS, 2)
    assert all(two[t] >= 60 for t in WEIGHTS)
    assert sum(two.values()) * 2 <= 900
    assert all(two[t] < one[t] for t in WEIGHTS)


def test_tiny_budget_keeps_the_minimum():
    assert slots(5.0, WEIGHTS, 2) == {"a": 10, "b": 10, "c": 10}


def test_no_targets():
    assert slots(100.0, {}, 1) == {}
