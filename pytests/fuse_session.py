"""Parse recorded FUSE sessions: requests as read from /dev/fuse, framed by
fuse_in_header.len (see <linux/fuse.h>, protocol 7.38)."""

from __future__ import annotations

import struct
from dataclasses import dataclass

# struct fuse_in_header: len u32, opcode u32, unique u64, nodeid u64, uid u32, gid u32,
# pid u32, total_extlen u16, padding u16.
IN_HEADER = struct.Struct("<IIQQIIIHH")
assert IN_HEADER.size == 40

OPCODES = {
    1: "LOOKUP", 2: "FORGET", 3: "GETATTR", 4: "SETATTR", 5: "READLINK", 6: "SYMLINK",
    8: "MKNOD", 9: "MKDIR", 10: "UNLINK", 11: "RMDIR", 12: "RENAME", 13: "LINK", 14: "OPEN",
    15: "READ", 16: "WRITE", 17: "STATFS", 18: "RELEASE", 20: "FSYNC", 21: "SETXATTR",
    22: "GETXATTR", 23: "LISTXATTR", 24: "REMOVEXATTR", 25: "FLUSH", 26: "INIT", 27: "OPENDIR",
    28: "READDIR", 29: "RELEASEDIR", 30: "FSYNCDIR", 31: "GETLK", 32: "SETLK", 33: "SETLKW",
    34: "ACCESS", 35: "CREATE", 36: "INTERRUPT", 37: "BMAP", 38: "DESTROY", 39: "IOCTL",
    40: "POLL", 41: "NOTIFY_REPLY", 42: "BATCH_FORGET", 43: "FALLOCATE", 44: "READDIRPLUS",
    45: "RENAME2", 46: "LSEEK", 47: "COPY_FILE_RANGE", 48: "SETUPMAPPING",
    49: "REMOVEMAPPING", 50: "SYNCFS", 51: "TMPFILE", 52: "STATX",
}
FUSE_INIT = 26


@dataclass
class Request:
    offset: int
    len: int
    opcode: int
    unique: int
    nodeid: int
    uid: int
    gid: int
    pid: int
    total_extlen: int
    padding: int
    body: bytes

    @property
    def name(self) -> str:
        return OPCODES.get(self.opcode, f"OP{self.opcode}")


class SessionFormatError(ValueError):
    pass


def parse_session(data: bytes) -> list[Request]:
    """Split a session into requests; raises SessionFormatError on a bad frame."""
    out, off = [], 0
    while off < len(data):
        if len(data) - off < IN_HEADER.size:
            raise SessionFormatError(f"{len(data) - off} trailing bytes at offset {off}: "
                                     "shorter than a fuse_in_header")
        fields = IN_HEADER.unpack_from(data, off)
        length = fields[0]
        if length < IN_HEADER.size:
            raise SessionFormatError(f"request at offset {off}: len {length} < 40")
        if off + length > len(data):
            raise SessionFormatError(f"request at offset {off}: len {length} runs past the end "
                                     f"({len(data) - off} bytes left)")
        if fields[7] * 8 > length - IN_HEADER.size:
            raise SessionFormatError(f"request at offset {off}: total_extlen {fields[7]} * 8 "
                                     f"exceeds its body ({length - IN_HEADER.size} bytes)")
        out.append(Request(off, *fields, body=data[off + IN_HEADER.size:off + length]))
        off += length
    return out


def truncate_at_request(data: bytes, limit: int) -> bytes:
    """The longest prefix of whole requests that fits in `limit` bytes."""
    end = 0
    for r in parse_session(data):
        if r.offset + r.len > limit:
            break
        end = r.offset + r.len
    return data[:end]
