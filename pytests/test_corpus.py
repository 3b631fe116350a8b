"""corpora/fuse_session/: every recorded session is well framed and commit-ready.

No mount needed: these tests only read the files.
"""

from __future__ import annotations

import hashlib

import pytest

from conftest import REPO_ROOT
from fuse_session import FUSE_INIT, OPCODES, parse_session

CORPUS = REPO_ROOT / "corpora" / "fuse_session"
MAX_BYTES = 65536
FILES = sorted(CORPUS.glob("*.fuse"))


def test_corpus_is_present_and_small():
    assert FILES, f"no *.fuse in {CORPUS}: run /usr/bin/python3 pytests/record_corpus.py"
    total = sum(f.stat().st_size for f in FILES)
    assert total <= 400 * 1024, f"corpus is {total} bytes; keep it to a few hundred KB"
    readme = (CORPUS / "README.md").read_text()
    for f in FILES:
        assert f"`{f.name}`" in readme, f"{f.name} missing from the README manifest"


@pytest.mark.parametrize("path", FILES, ids=[f.name for f in FILES])
def test_corpus_file(path):
    data = path.read_bytes()
    assert 0 < len(data) <= MAX_BYTES
    assert path.stem == hashlib.sha256(data).hexdigest()[:16], "name is not the content hash"
    reqs = parse_session(data)
    assert reqs[0].opcode == FUSE_INIT
    unknown = {r.opcode for r in reqs} - set(OPCODES)
    assert not unknown, f"unknown opcodes {unknown}"
