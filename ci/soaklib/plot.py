"""The PNG: fds, RSS and ops/s of the serving pfsd over time, with gnuplot (gnuplot-nox)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from .report import read_csv

SCRIPT = r"""
set terminal pngcairo size 1000,1000 font ",10"
set output '{png}'
set multiplot layout 3,1 title "{title}"
set grid
set lmargin 12
set key top right opaque box
set xlabel "minutes since the load started"
set xrange [0:{xmax}]
set yrange [0:*]
# index 0: samples under load; index 1: quiet samples (clients paused, dentries dropped)
set ylabel "open fds (serving pfsd)"
plot '{dat}' index 0 using 1:2 with linespoints pt 7 ps 0.6 title "under load", \
     '{dat}' index 1 using 1:2 with points pt 5 ps 1.3 title "quiet (clients paused, dentries dropped)"
set ylabel "VmRSS (MiB)"
plot '{dat}' index 0 using 1:3 with linespoints pt 7 ps 0.6 title "under load", \
     '{dat}' index 1 using 1:3 with points pt 5 ps 1.3 title "quiet"
set ylabel "ops/s (all clients)"
plot '{dat}' index 0 using 1:4 with linespoints pt 7 ps 0.6 lc rgb "dark-green" title "ops/s in the interval"
unset multiplot
"""


def plot(csv_path: Path, png: Path, title: str) -> str | None:
    """Writes png from the CSV. Returns None, or why it could not."""
    gnuplot = shutil.which("gnuplot")
    if gnuplot is None:
        return "gnuplot not found (apt-get install gnuplot-nox; ci/packages.txt lists it)"
    dat = png.with_suffix(".dat")
    rows = read_csv(csv_path)
    with open(dat, "w") as f:
        for kind in ("run", "quiet"):
            f.write(f"# {kind}\n")
            for r in rows:
                if r["kind"] == kind:
                    f.write(f"{r['minute']} {r['fds']} {int(r['rss_kib']) / 1024:.2f} "
                            f"{r['ops_per_s']}\n")
            f.write("\n\n")
    xmax = max([float(r["minute"]) for r in rows] + [0.1]) * 1.03
    script = png.with_suffix(".gp")
    script.write_text(SCRIPT.format(png=png, dat=dat, xmax=f"{xmax:.3f}",
                                    title=title.replace('"', "'")))
    res = subprocess.run([gnuplot, str(script)], capture_output=True, text=True, timeout=60)
    if res.returncode != 0 or not png.exists():
        return f"gnuplot failed ({res.returncode}): {res.stderr.strip()}"
    return None
