"""Per-folder line coverage and the reviewed list of what stays uncovered.

Line counts come from `llvm-cov export -format=lcov` (DA:line,count records: the
same lines `llvm-cov report` counts). The reviewed list (fuzz/uncovered.txt) has
one entry a line:

    path:first-last  digest  category: why

path relative to the repo root, first-last a line range (or one line), digest the
first 8 hex digits of the SHA-1 of the range's lines, each stripped (`digest()`;
the suggestions the campaign writes carry it already), category a word (e.g.
daemon-only, kernel, guest-unreachable, defensive). Blank lines and lines starting
with '#' are comments.

Each uncovered line of a FOCUS folder gets the reason of the entry whose range
holds it, or none (UNEXPLAINED). An entry is stale when its file is gone, its
digest no longer matches (the file changed under it), or a line of its range is
now covered (but for category race: threads decide whether a run reaches it).
"""

from __future__ import annotations

import hashlib
import os
import re
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

FOCUS = ("core/fuse", "core/passthrough", "core/transport/vhost_user")
REST = "rest"
UNEXPLAINED = "UNEXPLAINED"
# Categories whose lines a run may or may not reach (threads racing): covered is no
# reason to call such an entry stale.
NONDETERMINISTIC = ("race",)
ENTRY = re.compile(r"^(?P<path>\S+?):(?P<first>\d+)(?:-(?P<last>\d+))?\s+(?P<digest>[0-9a-f]{8})"
                   r"\s+(?P<reason>\S.*?)\s*$")


def parse_lcov(text: str, root: str) -> dict:
    """{path relative to root: {line: count}} over the code lines of every file
    (paths are normalised: a build under CCACHE_BASEDIR records build/x/../../core/...)."""
    out: dict = defaultdict(dict)
    current = None
    prefix = root.rstrip("/") + "/"
    for line in text.splitlines():
        if line.startswith("SF:"):
            path = os.path.normpath(line[3:])  # ccache's base dir makes them relative
            current = out[path[len(prefix):] if path.startswith(prefix) else path]
        elif line.startswith("DA:") and current is not None:
            num, count = line[3:].split(",")[:2]
            current[int(num)] = current.get(int(num), 0) + int(count)
        elif line == "end_of_record":
            current = None
    return dict(out)


def folder_of(path: str) -> str:
    for f in FOCUS:
        if path.startswith(f + "/"):
            return f
    return REST


def folder_totals(lines: dict) -> dict:
    """{folder: (covered, total)} for FOCUS folders and REST."""
    totals = {f: [0, 0] for f in (*FOCUS, REST)}
    for path, per_line in lines.items():
        t = totals[folder_of(path)]
        t[0] += sum(1 for c in per_line.values() if c > 0)
        t[1] += len(per_line)
    return {f: (c, n) for f, (c, n) in totals.items()}


def digest(source_lines: list, first: int, last: int) -> str:
    text = "\n".join(l.strip() for l in source_lines[first - 1:last])
    return hashlib.sha1(text.encode()).hexdigest()[:8]


@dataclass(frozen=True)
class Entry:
    path: str
    first: int
    last: int
    digest: str
    reason: str
    where: int  # line of the list

    @property
    def category(self) -> str:
        return self.reason.split(":", 1)[0].strip() if ":" in self.reason else self.reason


def parse_entries(text: str) -> tuple:
    """(entries, errors): errors are 'line N: text' for lines that are not entries."""
    entries, errors = [], []
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        m = ENTRY.match(line)
        if not m:
            errors.append(f"line {n}: not 'path:first-last digest reason': {line}")
            continue
        first = int(m["first"])
        last = int(m["last"] or first)
        if last < first:
            errors.append(f"line {n}: range ends before it starts: {line}")
            continue
        entries.append(Entry(m["path"], first, last, m["digest"], m["reason"], n))
    return entries, errors


@dataclass
class Region:
    path: str
    first: int
    last: int
    lines: int  # uncovered code lines in first..last
    reason: str  # UNEXPLAINED when no entry holds them


@dataclass
class Joined:
    regions: list = field(default_factory=list)
    stale: list = field(default_factory=list)  # (Entry, why)
    errors: list = field(default_factory=list)

    def lines_per_reason(self) -> dict:
        """{category: uncovered lines}, UNEXPLAINED included."""
        out: dict = defaultdict(int)
        for r in self.regions:
            out[r.reason.split(":", 1)[0].strip() if r.reason != UNEXPLAINED else UNEXPLAINED] += \
                r.lines
        return dict(sorted(out.items(), key=lambda kv: (-kv[1], kv[0])))

    def unexplained(self) -> int:
        return sum(r.lines for r in self.regions if r.reason == UNEXPLAINED)


def join(lines: dict, entries: list, read_source, focus=FOCUS) -> Joined:
    """Joins llvm-cov's lines (parse_lcov) with the reviewed entries. read_source(path)
    gives a file's lines, or None when it is gone."""
    j = Joined()
    sources: dict = {}

    def source(path):
        if path not in sources:
            sources[path] = read_source(path)
        return sources[path]

    reason_of: dict = {}  # (path, line) -> reason
    for e in entries:
        src = source(e.path)
        if src is None:
            j.stale.append((e, "file gone"))
            continue
        if e.last > len(src) or digest(src, e.first, e.last) != e.digest:
            j.stale.append((e, f"file changed (digest now {digest(src, e.first, e.last)})"
                               if e.last <= len(src) else "file changed (range past its end)"))
            continue
        per_line = lines.get(e.path, {})
        covered = [n for n in range(e.first, e.last + 1) if per_line.get(n, 0) > 0]
        if covered and e.category not in NONDETERMINISTIC:
            j.stale.append((e, f"now covered: {len(covered)} line(s) of it, first {covered[0]}"))
            continue
        for n in range(e.first, e.last + 1):
            reason_of.setdefault((e.path, n), e.reason)

    for path in sorted(lines):
        if not any(path.startswith(f + "/") for f in focus):
            continue
        per_line = lines[path]
        region = None
        for n in sorted(per_line):
            if per_line[n] > 0:
                region = None
                continue
            reason = reason_of.get((path, n), UNEXPLAINED)
            # Non-code lines between two uncovered lines do not split a region.
            if region is not None and region.reason == reason:
                region.last = n
                region.lines += 1
            else:
                region = Region(path, n, n, 1, reason)
                j.regions.append(region)
    return j


def suggestion(region: Region, source_lines: list) -> str:
    """The reviewed-list line for an unexplained region, its reason to be written."""
    d = digest(source_lines, region.first, region.last)
    return f"{region.path}:{region.first}-{region.last}  {d}  CATEGORY: why"


def read_repo_file(root: Path):
    def read(path: str):
        p = root / path
        try:
            return p.read_text(errors="replace").splitlines()
        except OSError:
            return None
    return read


def pct(covered: int, total: int) -> str:
    return "n/a" if total == 0 else f"{100.0 * covered / total:.1f}%"


def render(totals: dict, j: Joined, source) -> str:
    """The text report: folder totals, lines per reason, every region, stale entries."""
    out = ["line coverage per folder (union over the targets):"]
    for f, (c, n) in totals.items():
        out.append(f"  {f:<28} {c:>6}/{n:<6} {pct(c, n):>6}")
    out += ["", "uncovered lines of " + ", ".join(FOCUS) + " per reason (fuzz/uncovered.txt):"]
    for cat, n in j.lines_per_reason().items():
        out.append(f"  {n:>5}  {cat}")
    out += ["", "uncovered regions:"]
    for r in j.regions:
        out.append(f"  {r.path}:{r.first}-{r.last}  ({r.lines} line(s))  {r.reason}")
    if j.stale:
        out += ["", "STALE entries of fuzz/uncovered.txt (fix or remove them):"]
        for e, why in j.stale:
            out.append(f"  line {e.where}: {e.path}:{e.first}-{e.last}: {why}")
    if j.errors:
        out += ["", "BAD lines of fuzz/uncovered.txt:"] + [f"  {x}" for x in j.errors]
    todo = [r for r in j.regions if r.reason == UNEXPLAINED]
    if todo:
        out += ["", "suggested entries for the unexplained regions (write the reason):"]
        for r in todo:
            src = source(r.path)
            if src is not None:
                out.append("  " + suggestion(r, src))
    return "\n".join(out) + "\n"
