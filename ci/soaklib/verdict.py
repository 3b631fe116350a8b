"""The flat-or-growing rule.

Samples before the warm-up ends are ignored (the kernel's caches, pfsd's inode table and
malloc's arenas fill up first). Of the rest, the first ("base") and the last are compared,
separately for the two kinds of sample:

  quiet samples (clients paused with nothing open, dentries dropped, see sampler.py):
    fds:     last <= base + QUIET_FD_SLACK (2)
    RSS:     last <= base + max(10 % of base, 4 MiB)
  running samples (under load):
    fds:     last <= base + the tree bound (every inode the clients' name pools allow,
             plus the files they may hold open: load.tree_bound)
    RSS:     last <= base + max(10 % of base, 4 MiB)
    threads: last <= base

Flat means every check that has two samples passes. A run with fewer than two running
samples after the warm-up cannot be judged and is not flat. Without quiet samples (no
vm.drop_caches), only the running checks apply, and the verdict says so.
"""

from __future__ import annotations

from dataclasses import dataclass, field

QUIET_FD_SLACK = 2
RSS_REL = 0.10
RSS_ABS_KIB = 4096


@dataclass
class Sample:
    t: float  # seconds since the load started
    kind: str  # "run" or "quiet"
    fds: int
    rss_kib: int
    threads: int


@dataclass
class Rule:
    warmup_s: float
    run_fd_slack: int


@dataclass
class Verdict:
    flat: bool
    checks: list[str] = field(default_factory=list)  # one line per check, "ok" or "GROWING"

    def text(self) -> str:
        head = "FLAT" if self.flat else "GROWING (or not judged)"
        return "\n".join([f"verdict: {head}", *("  " + c for c in self.checks)])


def rss_slack(base_kib: int) -> int:
    return max(int(base_kib * RSS_REL), RSS_ABS_KIB)


def judge(samples: list[Sample], rule: Rule) -> Verdict:
    v = Verdict(flat=True)

    def check(what: str, base: int, last: int, slack: int, unit: str = "") -> None:
        ok = last <= base + slack
        v.checks.append(f"{'ok' if ok else 'GROWING'}: {what}: base {base}{unit}, last "
                        f"{last}{unit}, allowed <= {base + slack}{unit}")
        v.flat &= ok

    after = [s for s in samples if s.t >= rule.warmup_s]
    run = [s for s in after if s.kind == "run"]
    quiet = [s for s in after if s.kind == "quiet"]
    if len(run) < 2:
        v.flat = False
        v.checks.append(f"NOT JUDGED: {len(run)} running sample(s) after the "
                        f"{rule.warmup_s:.0f} s warm-up; need 2 (run longer)")
    else:
        b, last = run[0], run[-1]
        check("running fds", b.fds, last.fds, rule.run_fd_slack)
        check("running RSS", b.rss_kib, last.rss_kib, rss_slack(b.rss_kib), " KiB")
        check("running threads", b.threads, last.threads, 0)
    if len(quiet) >= 2:
        b, last = quiet[0], quiet[-1]
        check("quiet fds", b.fds, last.fds, QUIET_FD_SLACK)
        check("quiet RSS", b.rss_kib, last.rss_kib, rss_slack(b.rss_kib), " KiB")
    else:
        v.checks.append(f"note: {len(quiet)} quiet sample(s) after warm-up: the exact fd "
                        "check did not run (only the running checks apply)")
    return v
