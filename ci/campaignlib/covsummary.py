"""Lines and branches of core/ one target's coverage build reached (llvm-cov export)."""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Covered:
    covered: int
    total: int

    def __str__(self) -> str:
        if self.total == 0:
            return "n/a"
        return f"{self.covered}/{self.total} {100.0 * self.covered / self.total:.1f}%"


@dataclass(frozen=True)
class Summary:
    lines: Covered
    branches: Covered


def summarize(llvm_cov: str, binary: Path, profdata: Path, ignore: str) -> Summary | None:
    """The totals of `llvm-cov export -summary-only` over this binary alone: the
    core/ code this target links, whether its runs reached it or not. None when
    llvm-cov fails."""
    r = subprocess.run([llvm_cov, "export", "-summary-only", str(binary),
                        f"-instr-profile={profdata}", f"-ignore-filename-regex={ignore}"],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if r.returncode != 0:
        return None
    try:
        totals = json.loads(r.stdout)["data"][0]["totals"]
    except (ValueError, KeyError, IndexError):
        return None
    return Summary(lines=_covered(totals.get("lines")), branches=_covered(totals.get("branches")))


def _covered(entry) -> Covered:
    if not entry:
        return Covered(0, 0)
    return Covered(int(entry.get("covered", 0)), int(entry.get("count", 0)))
