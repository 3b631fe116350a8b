"""ci/soak: options, and the run from start to verdict. Cleans up always (clients
stopped and killed by PID, pfsd stopped by PID, unmounted, scratch removed), also on
Ctrl-C and SIGTERM."""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from . import load, plot, report, treecheck
from .daemon import REPO_ROOT, Daemon, DaemonError, check_prerequisites
from .sampler import Proc, quiet_sample, read_proc
from .verdict import Rule, Sample, judge

DEFAULT_PFSD = REPO_ROOT / "build" / "default" / "core" / "daemon" / "pfsd"
WARMUP_FRACTION = 0.2

USAGE_EPILOG = """\
Every interval it prints one line for the serving pfsd process (the leaf of the
sandbox's process chain): minute, fds, VmRSS, threads, ops/s, unexpected errors and
races (the errors clients racing on shared/ explain). Once after the warm-up and once
at the end it pauses the clients and takes a quiet sample (dentries dropped). At the end:
soak.csv, soak.png, summary.json and the clients' logs in the --out folder, the tree
check, and the verdict (the rule: ci/soaklib/verdict.py).

Exit status: 0 when flat, no unexpected error and the tree is consistent; 1 otherwise
(also when interrupted); 2 on bad use or when pfsd cannot be built or started."""


def parse(argv: list[str]) -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        prog="ci/soak", formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Long-run check of pfsd: random operations from several clients "
                    "through a host mount; fd count and RSS must stay flat.",
        epilog=USAGE_EPILOG)
    ap.add_argument("--minutes", type=float, default=10.0, help="run time (default 10)")
    ap.add_argument("--clients", type=int, default=4, help="client processes (default 4)")
    ap.add_argument("--pfsd", type=Path, default=None,
                    help=f"pfsd binary (default {DEFAULT_PFSD.relative_to(REPO_ROOT)}, "
                         "built with cmake if missing)")
    ap.add_argument("--sandbox", choices=["namespace", "chroot", "none"], default=None,
                    help="pfsd --sandbox (default: pfsd's own default, confined)")
    ap.add_argument("--pfsd-arg", action="append", default=[], metavar="ARG",
                    help="one more pfsd argument (repeat; e.g. --pfsd-arg=--cache=never)")
    ap.add_argument("--interval", type=float, default=60.0,
                    help="seconds between samples (default 60)")
    ap.add_argument("--out", type=Path, default=None,
                    help="output folder (default build/soak/<UTC timestamp>)")
    ap.add_argument("--seed", type=int, default=None, help="random seed (default: the time)")
    ap.add_argument("--vm", action="store_true", help="also load a VM (not implemented)")
    a = ap.parse_args(argv)
    if a.minutes <= 0 or a.interval <= 0 or a.clients < 1:
        ap.error("--minutes and --interval must be > 0, --clients >= 1")
    return a


def find_or_build_pfsd(given: Path | None) -> Path:
    if given is not None:
        if not (given.is_file() and os.access(given, os.X_OK)):
            raise DaemonError(f"--pfsd {given}: not an executable file")
        return given
    if DEFAULT_PFSD.is_file():
        return DEFAULT_PFSD
    print(f"ci/soak: {DEFAULT_PFSD} missing: building it (cmake --preset default, "
          "target pfsd)", flush=True)
    if not (REPO_ROOT / "build" / "default" / "CMakeCache.txt").exists():
        subprocess.run(["cmake", "--preset", "default"], cwd=REPO_ROOT, check=False)
    r = subprocess.run(["cmake", "--build", str(REPO_ROOT / "build" / "default"), "-j2",
                        "--target", "pfsd"], cwd=REPO_ROOT, check=False)
    if r.returncode != 0 or not DEFAULT_PFSD.is_file():
        raise DaemonError("building pfsd failed (see above)")
    return DEFAULT_PFSD


def proc_state(pid: int) -> str:
    """The State and wchan of a process from /proc (for a report)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            state = next((ln.split(":", 1)[1].strip() for ln in f if ln.startswith("State:")), "?")
        with open(f"/proc/{pid}/wchan") as f:
            return f"{state}, wchan {f.read().strip() or '-'}"
    except OSError as e:
        return f"unreadable: {e.strerror}"


def _say_cleaning_up(signum, frame):
    print(f"ci/soak: signal {signum} ignored: cleaning up (bounded; it ends by itself)",
          flush=True)


def _raise_interrupt(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


class Run:
    """One soak: the daemon, the clients, the samples."""

    def __init__(self, a: argparse.Namespace, pfsd: Path, out: Path):
        self.a = a
        self.out = out
        self.duration = a.minutes * 60
        self.warmup = max(a.interval, WARMUP_FRACTION * self.duration)
        self.seed = a.seed if a.seed is not None else int(time.time())
        extra = (["--sandbox", a.sandbox] if a.sandbox else []) + list(a.pfsd_arg)
        self.daemon = Daemon(pfsd, extra)
        self.ctl = None
        self.procs: list = []
        self.samples: list[Sample] = []
        self.csv = report.Csv(out / "soak.csv")
        self.t0 = 0.0
        self.paused_s = 0.0  # pause time inside the current interval
        self.last = (0.0, 0)  # (t, ops) of the last running sample
        self.problems: list[str] = []
        self.drop_error: str | None = None

    def totals(self) -> tuple[int, int, int]:
        c = self.ctl
        return sum(c.ops), sum(c.errors), sum(c.races)

    def record(self, kind: str, p: Proc, t: float, ops_s: float) -> None:
        ops, errors, races = self.totals() if self.ctl else (0, 0, 0)
        self.csv.row(t, kind, p, ops, ops_s, errors, races)
        if kind in ("run", "quiet"):
            self.samples.append(Sample(t, kind, p.fds, p.rss_kib, p.threads))
        print(report.line(t, kind, p, ops_s, errors, races), flush=True)

    def server(self) -> int:
        """The serving pid, checked again at every sample (a pfsd that replaced its
        server process would otherwise be sampled through a dead or idle pid)."""
        pid = self.daemon.find_server()
        if pid is None:
            raise DaemonError(f"pfsd has no serving process holding /dev/fuse any more\n"
                              f"{self.daemon.log()}")
        if pid != self.daemon.server_pid:
            self.problems.append(f"the serving pfsd process changed: {self.daemon.server_pid}"
                                 f" -> {pid}")
            self.daemon.server_pid = pid
        return pid

    def sample_running(self) -> None:
        t = time.monotonic() - self.t0
        p = read_proc(self.server())
        ops = sum(self.ctl.ops)
        active = (t - self.last[0]) - self.paused_s
        ops_s = (ops - self.last[1]) / active if active > 0 else 0.0
        self.last, self.paused_s = (t, ops), 0.0
        self.record("run", p, t, ops_s)

    def sample_quiet(self) -> None:
        start = time.monotonic()
        if not load.pause(self.ctl):
            self.problems.append("clients did not pause within 30 s")
        t = time.monotonic() - self.t0
        p, err = quiet_sample(self.server())
        self.drop_error = self.drop_error or err
        self.record("quiet", p, t, 0.0)
        load.resume(self.ctl)
        self.paused_s += time.monotonic() - start

    def wait_until(self, t: float) -> None:
        while time.monotonic() - self.t0 < t:
            if not self.daemon.alive():
                raise DaemonError(f"pfsd died during the run:\n{self.daemon.log()}")
            dead = [p.name for p in self.procs if not p.is_alive()]
            if dead:
                raise DaemonError(f"client(s) {dead} ended early (see client-*.json)")
            time.sleep(min(0.5, max(0.0, t - (time.monotonic() - self.t0))))

    def run(self) -> dict:
        a = self.a
        self.daemon.start()
        print(f"ci/soak: pfsd {' '.join(self.daemon.command())}\n"
              f"ci/soak: serving pid {self.daemon.server_pid} (supervisor "
              f"{self.daemon.proc.pid}); {a.clients} clients, seed {self.seed}, "
              f"{a.minutes:g} min, interval {a.interval:g} s, warm-up {self.warmup:.0f} s; "
              f"out {self.out}", flush=True)
        print(report.HEADER, flush=True)
        self.record("start", read_proc(self.server()), 0.0, 0.0)
        self.ctl = load.start_clients(a.clients, self.daemon.mnt, self.seed, self.out,
                                      self.daemon.shared, self.procs)
        self.t0 = time.monotonic()
        quiet_done = False
        k = 1
        while True:
            t_next = min(k * a.interval, self.duration)
            self.wait_until(t_next)
            self.sample_running()
            if t_next >= self.duration:
                break
            if not quiet_done and t_next >= self.warmup:
                self.sample_quiet()
                quiet_done = True
            k += 1
        self.sample_quiet()  # the final quiet sample
        elapsed = time.monotonic() - self.t0
        ops, errors, races = self.totals()
        self.problems += load.stop_clients(self.ctl, self.procs)
        clients = load.load_results(self.out, a.clients)
        tree = [f"client {c['client']}: {p}" for c in clients for p in c.get("tree_problems", [])]
        tree += [f"client {c['client']} crashed: {c['crash']}" for c in clients if "crash" in c]
        tree += [f"mount vs host: {p}" for p in
                 treecheck.compare_trees(self.daemon.shared, self.daemon.mnt)]
        return {"ops": ops, "errors": errors, "races": races, "elapsed_s": elapsed,
                "ops_per_s": ops / elapsed if elapsed else 0.0, "clients": clients,
                "tree_problems": tree}

    def cleanup(self) -> None:
        t0 = time.monotonic()
        if self.ctl is not None:
            self.ctl.state.value = load.STOP
        for p in self.procs:
            p.join(10)
            if p.is_alive():
                p.kill()  # by PID (multiprocessing's Process.kill)
                p.join(5)
        # A client killed inside a FUSE request waits for pfsd's answer: stopping pfsd
        # (which ends the mount) releases it, so the last wait comes after.
        self.problems += self.daemon.cleanup()
        for p in self.procs:
            p.join(30)
            if p.is_alive():
                self.problems.append(f"{p.name} (pid {p.pid}) still alive after SIGKILL and "
                                     f"the unmount (state {proc_state(p.pid)})")
        self.csv.close()
        print(f"ci/soak: cleaned up in {time.monotonic() - t0:.1f} s", flush=True)


def main(argv: list[str] | None = None) -> int:
    a = parse(sys.argv[1:] if argv is None else argv)
    if a.vm:
        print("ci/soak: --vm is not implemented: the soak runs through the host mount only "
              "(the VM suite is pytests/test_vm*.py)", file=sys.stderr)
        return 2
    problems = check_prerequisites()
    if problems:
        print("ci/soak cannot run: " + "; ".join(problems), file=sys.stderr)
        return 2
    try:
        pfsd = find_or_build_pfsd(a.pfsd)
    except DaemonError as e:
        print(f"ci/soak: {e}", file=sys.stderr)
        return 2
    out = a.out or REPO_ROOT / "build" / "soak" / time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    out.mkdir(parents=True, exist_ok=True)
    # Ctrl-C is handled even when SIGINT came in ignored: a background job of a
    # non-interactive shell (CI's `cmd &`) inherits SIG_IGN, and Python then installs
    # no handler of its own, so the run would go on to its end.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _raise_interrupt)
    r = Run(a, pfsd, out)
    result: dict = {}
    interrupted = None
    try:
        result = r.run()
    except KeyboardInterrupt as e:
        interrupted = f"interrupted ({e or 'Ctrl-C'})"
    except DaemonError as e:
        interrupted = str(e)
    finally:
        # A second Ctrl-C or SIGTERM must not cut the clean-up short (that would leave
        # pfsd, the mount or the clients behind): it is bounded, and it says so.
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, _say_cleaning_up)
        print("ci/soak: cleaning up (clients, pfsd by PID, unmount, scratch)", flush=True)
        r.cleanup()
    return finish(r, result, interrupted)


def finish(r: Run, result: dict, interrupted: str | None) -> int:
    out = r.out
    png = out / "soak.png"
    plot_err = plot.plot(out / "soak.csv", png, f"ci/soak: pfsd, {r.a.clients} clients, "
                                                 f"seed {r.seed}")
    rule = Rule(warmup_s=r.warmup, run_fd_slack=load.tree_bound(r.a.clients))
    v = judge(r.samples, rule)
    ok = v.flat and not interrupted and not r.problems and result.get("errors", 1) == 0 \
        and not result.get("tree_problems")
    summary = {
        "ok": ok, "flat": v.flat, "verdict": v.checks, "interrupted": interrupted,
        "problems": r.problems, "drop_caches_error": r.drop_error, "seed": r.seed,
        "minutes": r.a.minutes, "interval_s": r.a.interval, "warmup_s": r.warmup,
        "pfsd_command": r.daemon.command(), "pfsd_exit_status": r.daemon.exit_status,
        "png": str(png) if not plot_err else None, "plot_error": plot_err,
        **{k: v_ for k, v_ in result.items() if k != "clients"},
    }
    report.write_summary(out / "summary.json", summary)
    print()
    if interrupted:
        print(f"ci/soak: {interrupted}")
    if result:
        print(f"ops {result['ops']} in {result['elapsed_s']:.0f} s = "
              f"{result['ops_per_s']:.0f} ops/s; unexpected errors {result['errors']}; "
              f"races {result['races']}")
        for c in result["clients"]:
            for e in c.get("error_samples", [])[:5]:
                print(f"  error: {e}")
        tp = result["tree_problems"]
        print("tree check: " + ("consistent (every client's model = the mount; the mount "
                                "= the host dir)" if not tp else f"{len(tp)} PROBLEM(S)"))
        for p in tp[:20]:
            print(f"  {p}")
    for p in r.problems:
        print(f"problem: {p}")
    if r.drop_error:
        print(f"note: vm.drop_caches failed ({r.drop_error}): quiet samples are not quiet")
    print(v.text())
    print(f"csv {out / 'soak.csv'}\npng " + (str(png) if not plot_err else f"NONE: {plot_err}"))
    print(f"summary {out / 'summary.json'}")
    print("ci/soak: " + ("PASS" if ok else "FAIL"))
    return 0 if ok else 1
