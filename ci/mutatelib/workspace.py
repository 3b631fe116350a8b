"""One clone and one build per job: build/mutate/src-K and build/mutate/build-K.

The mutant build is close to the default preset but quicker: g++-12, -O1 -g0 -DNDEBUG
(the NDEBUG of RelWithDebInfo), PFS_WERROR OFF (a mutant that only warns still counts
as compiling), ccache as launcher when it is installed."""
import json
import os
import shutil
import subprocess
from pathlib import Path

from .sources import WORKTREE, git, worktree_files

MUTANT_FLAGS = "-O1 -g0 -DNDEBUG"


class BuildError(Exception):
    pass


def ccache_env(base: Path) -> dict:
    env = dict(os.environ)
    env.setdefault("CCACHE_BASEDIR", str(base))
    env.setdefault("CCACHE_NOHASHDIR", "1")
    return env


def launcher_args() -> list:
    if shutil.which("ccache"):
        return ["-DCMAKE_CXX_COMPILER_LAUNCHER=ccache", "-DCMAKE_C_COMPILER_LAUNCHER=ccache"]
    return []


def checkout(root: Path, rev: str, dest: Path) -> None:
    """dest holds the sources of rev (a commit) or of root's working tree (WORKTREE).
    Unchanged files keep their mtimes, so the build stays incremental."""
    if rev == WORKTREE:
        if (dest / ".git").exists():
            shutil.rmtree(dest / ".git")  # the files stay: only changed ones are rewritten
        dest.mkdir(parents=True, exist_ok=True)
        for rel in worktree_files(root):
            s, d = root / rel, dest / rel
            data = s.read_bytes()
            if d.is_file() and d.read_bytes() == data:
                continue
            d.parent.mkdir(parents=True, exist_ok=True)
            # A fresh mtime (not the working tree's, which may be older than the objects
            # built from another revision), so ninja rebuilds what changed.
            d.write_bytes(data)
            shutil.copymode(s, d)
        return
    if dest.exists() and not (dest / ".git").exists():
        shutil.rmtree(dest)
    if not dest.exists():
        dest.parent.mkdir(parents=True, exist_ok=True)
        r = subprocess.run(["git", "clone", "-q", "--shared", "--no-checkout", str(root), str(dest)],
                           stderr=subprocess.PIPE, text=True)
        if r.returncode != 0:
            raise BuildError(f"git clone failed: {r.stderr.strip()}")
    git(dest, "checkout", "-q", "-f", "--detach", rev)
    git(dest, "clean", "-q", "-fdx")


def run_logged(cmd, log: Path, env=None, cwd=None) -> int:
    with open(log, "a") as f:
        f.write("$ " + " ".join(map(str, cmd)) + "\n")
        f.flush()
        return subprocess.run(list(map(str, cmd)), stdout=f, stderr=subprocess.STDOUT, env=env,
                              cwd=cwd).returncode


class Build:
    """A configured build tree of one source tree."""

    def __init__(self, src: Path, bdir: Path, base: Path, compiler: str, flags: str,
                 extra=(), linker_flags: str = ""):
        self.src, self.dir, self.base = src, bdir, base
        self.compiler, self.flags, self.extra, self.linker_flags = compiler, flags, list(extra), linker_flags
        self.env = ccache_env(base)
        self.log = bdir.parent / (bdir.name + ".log")

    def configure(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        cmd = ["cmake", "-S", self.src, "-B", self.dir, "-G", "Ninja",
               f"-DCMAKE_CXX_COMPILER={self.compiler}", "-DCMAKE_BUILD_TYPE=",
               f"-DCMAKE_CXX_FLAGS={self.flags}", "-DPFS_WERROR=OFF",
               "-DCMAKE_EXPORT_COMPILE_COMMANDS=ON", *launcher_args(), *self.extra]
        if self.linker_flags:
            cmd.append(f"-DCMAKE_EXE_LINKER_FLAGS={self.linker_flags}")
        if run_logged(cmd, self.log, self.env) != 0:
            raise BuildError(f"cmake configure failed; see {self.log}")

    def ninja(self, targets=(), log=True, jobs=None) -> bool:
        cmd = ["ninja", "-C", self.dir]
        if jobs:
            cmd += ["-j", str(jobs)]
        cmd += list(targets)
        if log:
            return run_logged(cmd, self.log, self.env) == 0
        return subprocess.run(list(map(str, cmd)), stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, env=self.env).returncode == 0

    def objects(self) -> dict:
        """source path relative to src -> object file (absolute)."""
        out = {}
        for e in json.loads((self.dir / "compile_commands.json").read_text()):
            f = Path(e["file"])
            if not f.is_absolute():
                f = Path(e["directory"]) / f
            try:
                rel = str(f.resolve().relative_to(self.src.resolve()))
            except ValueError:
                continue
            obj = Path(e["output"]) if "output" in e else None
            if obj is None:
                continue
            if not obj.is_absolute():
                obj = Path(e["directory"]) / obj
            out.setdefault(rel, []).append(obj)
        return out

    def ctest_tests(self) -> list:
        """ctest's tests: [{name, command, cwd, env}] from --show-only=json-v1."""
        r = subprocess.run(["ctest", "--test-dir", str(self.dir), "--show-only=json-v1"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        if r.returncode != 0:
            raise BuildError(f"ctest --show-only failed: {r.stderr.strip()[-2000:]}")
        out = []
        for t in json.loads(r.stdout).get("tests", []):
            if "command" not in t:
                continue
            props = {p["name"]: p["value"] for p in t.get("properties", [])}
            env = {}
            for kv in props.get("ENVIRONMENT", []) or []:
                k, _, v = kv.partition("=")
                env[k] = v
            out.append({"name": t["name"], "command": t["command"],
                        "cwd": props.get("WORKING_DIRECTORY", str(self.dir)), "env": env,
                        "disabled": bool(props.get("DISABLED", False))})
        return out
