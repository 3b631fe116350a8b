"""A mutant: one text edit of one source file, with a stable id."""
import difflib
import hashlib
from dataclasses import dataclass, field


@dataclass
class Mutant:
    file: str          # path relative to the repository root
    line: int          # 1-based line of the edit's start
    col: int           # 1-based column of the edit's start
    op: str            # operator name (operators.OPERATORS)
    start: int         # offset of the edit in the file's text
    end: int
    original: str      # text replaced
    replacement: str
    id: str = field(default="")
    # Filled in by the runner.
    status: str = ""   # killed | survived | uncompilable | equivalent | not run
    detail: str = ""   # killed-by test / timeout / reason of an equivalent / no coverage
    seconds: float = 0.0
    tests: list = field(default_factory=list)   # tests that ran over the line (coverage)
    extra: dict = field(default_factory=dict)

    def __post_init__(self):
        if not self.id:
            key = f"{self.file}:{self.line}:{self.col}:{self.op}:{self.replacement}"
            self.id = hashlib.sha1(key.encode()).hexdigest()[:10]

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}"

    def apply(self, text: str) -> str:
        return text[:self.start] + self.replacement + text[self.end:]

    def diff(self, text: str) -> str:
        after = self.apply(text)
        return "".join(difflib.unified_diff(text.splitlines(True), after.splitlines(True),
                                            f"a/{self.file}", f"b/{self.file}", n=3))

    def to_json(self) -> dict:
        return {k: getattr(self, k) for k in (
            "id", "file", "line", "col", "op", "original", "replacement", "status", "detail",
            "seconds", "tests", "extra")}
