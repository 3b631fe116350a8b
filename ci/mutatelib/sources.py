"""Which revision and which files: rev resolution, file selection, tree hashes."""
import hashlib
import subprocess
from pathlib import Path

DEFAULT_FILES = ["core/fuse", "core/passthrough", "core/transport/vhost_user"]
WORKTREE = "WORKTREE"


class UsageError(Exception):
    pass


def git(root: Path, *args) -> str:
    r = subprocess.run(["git", "-C", str(root), *args], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True)
    if r.returncode != 0:
        raise UsageError(f"git {' '.join(args)}: {r.stderr.strip()}")
    return r.stdout


def resolve_rev(root: Path, rev: str) -> str:
    """The commit id of rev, or WORKTREE."""
    if rev == WORKTREE:
        return rev
    try:
        return git(root, "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}").strip()
    except UsageError:
        raise UsageError(f"--rev {rev}: no such commit in {root}") from None


def worktree_files(root: Path) -> list:
    out = git(root, "ls-files", "-co", "--exclude-standard", "-z")
    return sorted(p for p in out.split("\0") if p and (root / p).is_file())


# What the coverage map depends on: the code, the tests, the build files, the corpora
# the replay tests read. A commit that changes only ci/ or docs/ reuses the map.
COVERAGE_INPUTS = ["CMakeLists.txt", "core", "fuzz", "props", "corpora"]


def tree_key(root: Path, rev: str) -> str:
    """A hash of the sources the coverage map depends on, at rev or in the working tree."""
    h = hashlib.sha1()
    if rev != WORKTREE:
        for p in COVERAGE_INPUTS:
            r = subprocess.run(["git", "-C", str(root), "rev-parse", f"{rev}:{p}"],
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
            h.update(f"{p}={r.stdout.strip()}\n".encode())
        return h.hexdigest()[:16]
    for p in worktree_files(root):
        if p.split("/")[0] in COVERAGE_INPUTS:
            h.update(p.encode() + b"\0" + (root / p).read_bytes() + b"\0")
    return "wt-" + h.hexdigest()[:16]


def is_mutable(path: str) -> bool:
    """core/ C++ sources, but not test code."""
    name = Path(path).name
    return (path.startswith("core/") and path.endswith((".cc", ".h"))
            and "/tests/" not in path and not name.endswith(("_test.cc", "_test.h")))


class SourceView:
    """The sources of a commit (read from git) or of the working tree, without a checkout:
    --list and the mutant generation never touch the clones a running job may use."""

    def __init__(self, root: Path, rev: str):
        self.root, self.rev = root, rev
        if rev == WORKTREE:
            self.files = worktree_files(root)
        else:
            out = git(root, "ls-tree", "-r", "-z", "--name-only", rev)
            self.files = sorted(p for p in out.split("\0") if p)
        self._set = set(self.files)

    def read(self, rel: str) -> str:
        if self.rev == WORKTREE:
            return (self.root / rel).read_text()
        return git(self.root, "show", f"{self.rev}:{rel}")

    def is_file(self, rel: str) -> bool:
        return rel in self._set

    def under(self, folder: str) -> list:
        prefix = folder.rstrip("/") + "/"
        return [f for f in self.files if f.startswith(prefix)]


def select_files(view: SourceView, specs) -> list:
    """Files (relative paths) named by specs (files or folders) in the sources."""
    out = []
    for spec in specs:
        rel = spec.rstrip("/")
        if rel.startswith("./"):
            rel = rel[2:]
        if view.is_file(rel):
            if not is_mutable(rel):
                raise UsageError(f"--files {spec}: not a core/ C++ source (tests are not mutated)")
            out.append(rel)
        elif view.under(rel):
            found = [f for f in view.under(rel) if is_mutable(f) and f.endswith(".cc")]
            if not found:
                raise UsageError(f"--files {spec}: no core/ .cc sources in this folder")
            out += found
        else:
            raise UsageError(f"--files {spec}: no such file or folder at this revision")
    return sorted(dict.fromkeys(out))
