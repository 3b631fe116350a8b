#!/usr/bin/env python3
"""Writes the hand-built seeds of the vhost_user_msgs and virtqueue fuzz targets
(input formats: the comments at the top of fuzz/vhost_user_msgs.cc and
fuzz/virtqueue.cc). Usage: fuzz/make_vhost_seeds.py corpora"""
import os
import struct
import sys

V1, NEED_REPLY = 0x1, 0x8


def msg(req, payload=b"", fds=0, kind=0, flags=V1):
    return bytes([fds | (kind << 3)]) + struct.pack("<III", req, flags, len(payload)) + payload


def u64(v):
    return struct.pack("<Q", v)


def state(i, n):
    return struct.pack("<II", i, n)


REGION = struct.pack("<QQQQ", 0x100000, 0x10000, 0x7F0000000000, 0)


def setup(event_idx=True, reply=True):
    feats = (1 << 32) | (1 << 28) | (1 << 30) | ((1 << 29) if event_idx else 0)
    nr = NEED_REPLY | V1 if reply else V1
    s = msg(1) + msg(15) + msg(16, u64(1 | 8)) + msg(17) + msg(36) + msg(3)
    s += msg(2, u64(feats))
    s += msg(5, struct.pack("<II", 1, 0) + REGION, fds=1, kind=0, flags=nr)
    for q in (0, 1):
        base = 0x7F0000000000 + q * 0x4000
        s += msg(8, state(q, 64)) + msg(10, state(q, 0))
        s += msg(9, struct.pack("<IIQQQQ", q, 0, base, base + 0x2000, base + 0x1000, 0))
        s += msg(12, u64(q), fds=1, kind=1) + msg(13, u64(q), fds=1, kind=1)
        s += msg(18, state(q, 1), flags=nr)
    return s


def vhost_seeds():
    yield "qemu_start", setup()
    yield "qemu_start_stop", setup() + msg(11, state(0, 0)) + msg(11, state(1, 0))
    yield "restart", setup() + msg(11, state(1, 0)) + msg(10, state(1, 5)) + \
        msg(12, u64(1), fds=1, kind=1)
    yield "mem_slots", setup(reply=False) + msg(37, u64(0) + struct.pack(
        "<QQQQ", 0x200000, 0x10000, 0x7F1000000000, 0), fds=1) + \
        msg(38, u64(0) + struct.pack("<QQQQ", 0x200000, 0x10000, 0x7F1000000000, 0), flags=V1 | NEED_REPLY)
    yield "reset", setup() + msg(4, u64(0)) + msg(1)
    yield "no_fd_call", setup(event_idx=False) + msg(13, u64(1 | 0x100)) + msg(14, u64(0), fds=1, kind=1)
    yield "unknown_need_reply", msg(16, u64(8)) + msg(24, b"\0" * 12, flags=V1 | NEED_REPLY) + msg(1)
    yield "short_region", msg(5, struct.pack("<II", 1, 0) + REGION, fds=1, kind=2)
    yield "bad_version", msg(1, flags=2)


# virtqueue: cfg byte, base byte, then the image (desc at 0, avail at 4096, used at 8192).
GPA = 0x100000
IN_HDR = struct.Struct("<IIQQIIII")  # fuse_in_header (40 bytes)


def fuse_req(opcode, nodeid, body, unique=2):
    return IN_HDR.pack(IN_HDR.size + len(body), opcode, unique, nodeid, 0, 0, 0, 0) + body


def image(chains, indirect=False):
    """chains: list of (request bytes, reply len). Returns the memory image."""
    mem = bytearray(16384)
    bufs = bytearray()
    buf_base = 12288
    d = 0
    avail = []

    def put_desc(table_off, i, addr, ln, flags, nxt):
        struct.pack_into("<QIHH", mem, table_off + 16 * i, addr, ln, flags, nxt)

    for req, reply_len in chains:
        req_off = buf_base + len(bufs)
        bufs += req + b"\0" * ((-len(req)) % 16)
        rep_off = buf_base + len(bufs)
        bufs += b"\0" * reply_len
        if indirect:
            tab_off = buf_base + len(bufs)
            bufs += b"\0" * 32
            mem.extend(b"\0" * max(0, buf_base + len(bufs) - len(mem)))
            put_desc(tab_off, 0, GPA + req_off, len(req), 1, 1)
            put_desc(tab_off, 1, GPA + rep_off, reply_len, 2, 0)
            put_desc(0, d, GPA + tab_off, 32, 4, 0)
            avail.append(d)
            d += 1
        else:
            put_desc(0, d, GPA + req_off, len(req), 1, d + 1)
            put_desc(0, d + 1, GPA + rep_off, reply_len, 2, 0)
            avail.append(d)
            d += 2
    mem.extend(b"\0" * max(0, buf_base + len(bufs) - len(mem)))
    mem[buf_base:buf_base + len(bufs)] = bufs
    struct.pack_into("<HH", mem, 4096, 0, len(avail))
    for i, h in enumerate(avail):
        struct.pack_into("<H", mem, 4096 + 4 + 2 * i, h)
    return bytes(mem).rstrip(b"\0")


def vq_seeds():
    getattr_ = fuse_req(3, 1, b"\0" * 16)
    lookup = fuse_req(1, 1, b"file.txt\0")
    read = fuse_req(15, 2, struct.pack("<QQIIQII", 7, 0, 4096, 0, 0, 0, 0))
    write = fuse_req(16, 2, struct.pack("<QQIIQII", 7, 0, 12, 0, 0, 0, 0) + b"hello world\n")
    readdir = fuse_req(28, 1, struct.pack("<QQIIQII", 7, 0, 1024, 0, 0, 0, 0))
    forget = fuse_req(2, 2, u64(1))
    chains = [(getattr_, 256), (lookup, 256), (read, 4200), (write, 64), (readdir, 1100)]
    size_cfg = 5 << 2  # queue size 64
    for ev in (0, 1):
        for ind in (0, 1):
            cfg = size_cfg | ev | (ind << 1) | 0x20
            yield f"chains_ev{ev}_ind{ind}", bytes([cfg, 0]) + image(chains, indirect=bool(ind))
    yield "forget_hiprio", bytes([size_cfg | 0x20, 0]) + image([(forget, 16)])
    yield "small_ring", bytes([0 | 0x20, 0]) + image([(getattr_, 256)])


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "corpora"
    for folder, gen in (("vhost_user_msgs", vhost_seeds), ("virtqueue", vq_seeds)):
        os.makedirs(os.path.join(out, folder), exist_ok=True)
        for name, data in gen():
            with open(os.path.join(out, folder, name), "wb") as f:
                f.write(data)


if __name__ == "__main__":
    main()
