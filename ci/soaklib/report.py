"""The per-interval line, the CSV (one row per sample, written as the run goes) and the
end summary."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from .sampler import Proc

COLUMNS = ["t_s", "minute", "kind", "fds", "rss_kib", "threads", "ops", "ops_per_s",
           "errors", "races"]
HEADER = f"{'minute':>7} {'kind':>5} {'fds':>6} {'rss_MiB':>8} {'threads':>7} {'ops/s':>8} " \
         f"{'errors':>6} {'races':>7}"


class Csv:
    def __init__(self, path: Path):
        self.path = path
        self._f = open(path, "w", newline="")
        self._w = csv.writer(self._f)
        self._w.writerow(COLUMNS)
        self._f.flush()

    def row(self, t: float, kind: str, p: Proc, ops: int, ops_s: float, errors: int,
            races: int) -> None:
        self._w.writerow([f"{t:.1f}", f"{t / 60:.3f}", kind, p.fds, p.rss_kib, p.threads, ops,
                          f"{ops_s:.1f}", errors, races])
        self._f.flush()

    def close(self) -> None:
        self._f.close()


def line(t: float, kind: str, p: Proc, ops_s: float, errors: int, races: int) -> str:
    return (f"{t / 60:7.2f} {kind:>5} {p.fds:6d} {p.rss_kib / 1024:8.1f} {p.threads:7d} "
            f"{ops_s:8.0f} {errors:6d} {races:7d}")


def write_summary(path: Path, summary: dict) -> None:
    path.write_text(json.dumps(summary, indent=1) + "\n")


def read_csv(path: Path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))
