"""Per mutant: apply, build, compare the object (TCE), run the tests, revert."""
import os
import threading
import time
from pathlib import Path

from . import testrun
from .workspace import Build


class Worker:
    """One clone and its build; runs mutants one at a time."""

    def __init__(self, k: int, src: Path, build: Build, tests: list, times: dict,
                 timeout_factor: float, objects: dict, exes_of: dict):
        self.k, self.src, self.build = k, src, build
        self.tests = {t["name"]: t for t in tests}
        self.times, self.timeout_factor = times, timeout_factor
        self.objects = objects          # source -> [object paths]
        self.exes_of = exes_of          # test name -> binary path relative to the build
        self.original_objects = {}
        self.running = set()
        self.lock = threading.Lock()
        self.applied = None             # (path, original bytes) while a mutant is applied
        self.ninja_jobs = 2

    def snapshot_objects(self, files) -> None:
        for f in files:
            self.original_objects[f] = [p.read_bytes() if p.is_file() else None
                                        for p in self.objects.get(f, [])]

    def revert(self) -> None:
        with self.lock:
            if self.applied is None:
                return
            path, data = self.applied
            path.write_bytes(data)
            # A fresh mtime (newer than the mutant's object) makes ninja rebuild the
            # original; ccache turns that into a cache hit.
            now = time.time()
            os.utime(path, (now, now))
            self.applied = None

    def kill_running(self) -> None:
        for proc in list(self.running):
            testrun._kill(proc)

    def run(self, m, text: str, link_targets: list, check) -> None:
        """Applies m, builds its object (uncompilable? TCE-equivalent?), then the
        link_targets, and calls check(m) to run whatever decides killed or survived.
        Sets m.status/detail/seconds; the source is reverted whatever happens."""
        t0 = time.monotonic()
        path = self.src / m.file
        original = path.read_bytes()
        with self.lock:
            self.applied = (path, original)
            path.write_text(m.apply(text))
        try:
            if self._build(m, link_targets):
                check(m)
        finally:
            self.revert()
            m.seconds = round(time.monotonic() - t0, 2)

    def _build(self, m, link_targets) -> bool:
        objs = self.objects.get(m.file, [])
        if objs and not self.build.ninja([str(o.relative_to(self.build.dir)) for o in objs],
                                         log=False, jobs=self.ninja_jobs):
            m.status, m.detail = "uncompilable", "compile error"
            return False
        originals = self.original_objects.get(m.file)
        if objs and originals and all(o is not None and p.is_file() and p.read_bytes() == o
                                      for p, o in zip(objs, originals)):
            m.status, m.detail = "equivalent", "TCE: object file identical"
            return False
        if not self.build.ninja(link_targets, log=False, jobs=self.ninja_jobs):
            m.status, m.detail = "uncompilable", "link or other compile error"
            return False
        return True

    def run_tests(self, m, selected: list, text: str) -> None:
        """The ctest suite: the selected tests' binaries built, the tests run."""
        exes = sorted({self.exes_of[n] for n in selected if self.exes_of.get(n)})
        self.run(m, text, exes, lambda mm: self._test(mm, selected))

    def _test(self, m, selected) -> None:
        budget = self.timeout_factor * sum(self.times.get(n, 1.0) for n in selected) + 30
        out = testrun.run([self.tests[n] for n in selected], timeout=budget,
                          running=self.running)
        if out.timed_out:
            m.status, m.detail = "killed", f"timeout ({budget:.0f} s) in {out.failed}"
        elif not out.passed:
            m.status, m.detail = "killed", f"failed: {out.failed}"
        else:
            m.status, m.detail = "survived", ""
        m.extra["test_seconds"] = round(out.seconds, 2)
