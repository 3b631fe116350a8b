"""The campaign's PNG: coverage and corpus size over time, one line per target and
engine, drawn by gnuplot (gnuplot-nox) from the timeline CSV."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from .timeline import read_csv

HEAD = r"""
set terminal pngcairo size 1000,900 font ",10" noenhanced
set output '{png}'
set multiplot layout 2,1 title "{title}"
set grid
set lmargin 12
set key outside right top
set xlabel "seconds since the target's run started"
set yrange [0:*]
"""


def plot(csv_path: Path, png: Path, title: str) -> str | None:
    """Writes png from the CSV. Returns None, or why it could not."""
    gnuplot = shutil.which("gnuplot")
    if gnuplot is None:
        return "gnuplot not found (apt-get install gnuplot-nox; ci/packages.txt lists it)"
    runs = [r for r in read_csv(csv_path) if r[2]]
    if not runs:
        return "no samples to plot"
    dat = png.with_suffix(".dat")
    with open(dat, "w") as f:
        for target, engine, samples in runs:
            f.write(f"# {target} {engine}\n")
            for s in samples:
                f.write(f"{s.seconds:.1f} {s.coverage} {s.corpus}\n")
            f.write("\n\n")
    names = [f"{t} ({e})" for t, e, _ in runs]

    def panel(column: int, ylabel: str) -> str:
        lines = [f"'{dat}' index {i} using 1:{column} with steps lw 2 title \"{n}\""
                 for i, n in enumerate(names)]
        return f'set ylabel "{ylabel}"\nplot ' + ", \\\n     ".join(lines) + "\n"

    script = png.with_suffix(".gp")
    script.write_text(HEAD.format(png=png, title=title.replace('"', "'"))
                      + panel(2, "coverage (libFuzzer cov / AFL++ edges)")
                      + panel(3, "corpus entries") + "unset multiplot\n")
    res = subprocess.run([gnuplot, str(script)], capture_output=True, text=True, timeout=60)
    if res.returncode != 0 or not png.exists():
        return f"gnuplot failed ({res.returncode}): {res.stderr.strip()}"
    return None
