"""`pfsd --record DIR`: every request, raw, framed by fuse_in_header.len."""

from __future__ import annotations

import collections
import os

import pytest

from fuse_session import FUSE_INIT, parse_session
from helpers import read_bytes, run, run_ok, write_bytes

pytestmark = pytest.mark.host


def test_record_writes_a_parsable_session(pfsd_factory, scratch_dir):
    rec = scratch_dir / "rec"  # pfsd creates the folder itself
    d = pfsd_factory("--record", str(rec), "--thread-pool-size", "2")
    os.mkdir(d.m("dir"))
    write_bytes(d.m("dir", "file"), b"recorded payload " * 10)
    assert read_bytes(d.m("dir", "file")).startswith(b"recorded payload")
    os.rename(d.m("dir", "file"), d.m("moved"))
    os.symlink("moved", d.m("sym"))
    os.setxattr(d.m("moved"), "user.k", b"v")
    assert os.getxattr(d.m("moved"), "user.k") == b"v"
    os.chmod(d.m("moved"), 0o600)
    assert sorted(os.listdir(d.mnt)) == ["dir", "moved", "sym"]
    run_ok(["ls", "-la", d.mnt])
    os.unlink(d.m("sym"))
    assert d.stop() == 0, d.log_text()
    assert "recorded" in d.log_text()

    files = sorted(rec.glob("session-*.fuse"))
    assert len(files) == 1, f"want one session file in {rec}, got {os.listdir(rec)}"
    data = files[0].read_bytes()
    assert len(data) > 0
    reqs = parse_session(data)  # raises on any bad frame
    assert sum(r.len for r in reqs) == len(data)
    assert reqs[0].opcode == FUSE_INIT, f"first opcode {reqs[0].opcode}, want 26 (INIT)"
    assert reqs[0].nodeid == 0 or reqs[0].nodeid == 1
    assert [r for r in reqs[1:] if r.opcode == FUSE_INIT] == []
    uniques = [r.unique for r in reqs]
    assert len(uniques) == len(set(uniques)), "a unique id was recorded twice"

    seen = collections.Counter(r.name for r in reqs)
    for op in ("LOOKUP", "MKDIR", "CREATE", "WRITE", "READ", "SETXATTR", "GETXATTR", "SYMLINK",
               "SETATTR", "UNLINK"):
        assert seen[op] > 0, f"no {op} in the recording: {dict(seen)}"
    assert seen["RENAME"] + seen["RENAME2"] > 0
    assert seen["READDIR"] + seen["READDIRPLUS"] > 0
    # The WRITE carries the payload we wrote.
    assert any(b"recorded payload" in r.body for r in reqs if r.name == "WRITE")
    # Our own requests carry our credentials.
    assert any(r.uid == 0 and r.pid > 0 for r in reqs if r.name == "MKDIR")


def test_record_dir_not_writable_is_one_clear_line(pfsd_binary, scratch_dir):
    shared, mnt = scratch_dir / "s", scratch_dir / "m"
    shared.mkdir()
    mnt.mkdir()
    afile = scratch_dir / "afile"
    write_bytes(afile, b"")

    p = run([pfsd_binary, "--shared-dir", shared, "--mount", mnt, "--record", afile / "sub"],
            timeout=10)
    assert p.returncode != 0
    lines = [ln for ln in p.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "--record" in lines[0], p.stderr
