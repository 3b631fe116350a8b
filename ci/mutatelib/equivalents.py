"""ci/mutate-equivalent.txt: mutant ids judged equivalent by hand, one per line:
    ID  reason (free text)
'#' starts a comment. Those mutants are reported "equivalent (reviewed)" and left out
of the score."""
import re
from pathlib import Path

LINE = re.compile(r"^([0-9a-f]{10})\s+(.*\S)\s*$")


def load(path: Path) -> dict:
    out = {}
    if not path.is_file():
        return out
    for k, raw in enumerate(path.read_text().splitlines(), 1):
        line = raw.split("#", 1)[0].strip() if not raw.lstrip().startswith("#") else ""
        if not line:
            continue
        m = LINE.match(line)
        if not m:
            raise ValueError(f"{path}:{k}: expected 'ID reason', got {raw!r}")
        out[m.group(1)] = m.group(2)
    return out
