"""What one engine's run of one target gave (a row of the table is one or two)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Result:
    target: str
    engine: str
    execs: int = 0
    seconds: float = 0.0
    corpus_files: int = 0
    corpus_bytes: int = 0
    merged_new: int = 0
    crashes: int = 0  # unique, reproducible
    crash_files: list = field(default_factory=list)
    samples: list = field(default_factory=list)  # timeline.Sample over the run
    late_gain: int | None = None  # coverage gained in the last 10% of the run
    instances: int = 1  # AFL++ instances seen in the sync folder, or libFuzzer jobs

    @property
    def execs_per_sec(self) -> float:
        return self.execs / self.seconds if self.seconds > 0 else 0.0
