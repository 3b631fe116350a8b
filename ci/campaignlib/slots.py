"""How ci/campaign shares its fuzzing time among targets and engines.

Each (target, engine) run first gets a floor of up to 60 s (the issue's speed figures
are for 60 s runs: a shorter slot is mostly the seed corpus loading, which says little
about the rate a target fuzzes at); what is left of the budget is shared by weight
(the stream targets are slower and deeper). When the budget cannot give every run
60 s, the floor is an equal share of it and the weights share nothing.
"""

from __future__ import annotations

FLOOR_SECONDS = 60.0
MIN_SECONDS = 10


def slots(budget: float, weights: dict[str, int], engines: int) -> dict[str, int]:
    """Seconds per engine run of each target (keys of `weights`)."""
    if not weights or engines < 1:
        return {}
    runs = len(weights) * engines
    floor = min(FLOOR_SECONDS, budget / runs)
    rest = max(0.0, budget - floor * runs)
    total_weight = sum(weights.values())
    return {t: max(MIN_SECONDS, int(floor + rest * w / total_weight / engines))
            for t, w in weights.items()}
