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
    yield from error_seeds()
    yield from pfsd_seeds()
    yield from fd_seeds()


PFSD = b"PFSD"  # pfsd mode: Backend::serve(); the mode byte follows (vhost_user_msgs.cc)
WORKERS, CALLER = 0, 1
EOF_END, SHUTDOWN, CLOSE_AT_ONCE, CLOSE_WHEN_READ = 0, 2, 4, 6
SHUTDOWN_FIRST = 8
PRIMED, EIGHT_MORE = 4, 8  # fdspec bits 5 and 6, as msg()'s kind


def pfsd_seeds():
    stop = msg(11, state(0, 0)) + msg(11, state(1, 0))
    for mode, name in ((WORKERS, "workers"), (CALLER, "caller")):
        yield f"pfsd_{name}_eof", PFSD + bytes([mode]) + setup()
        yield f"pfsd_{name}_stop", PFSD + bytes([mode]) + setup() + stop
        yield f"pfsd_{name}_shutdown", PFSD + bytes([mode | SHUTDOWN]) + setup()
        # Kick fds already kicked (eventfds at count 1): the queues serve at once.
        yield f"pfsd_{name}_kicked", PFSD + bytes([mode]) + setup() + \
            msg(12, u64(0), fds=1, kind=1 | PRIMED) + msg(12, u64(1), fds=1, kind=1 | PRIMED)
    # Kick fds that are not eventfds: one whose writer is gone (POLLHUP), one that
    # reads short (a pipe holding one byte); each ends its queue's worker.
    yield "pfsd_workers_bad_kicks", PFSD + bytes([WORKERS]) + setup() + \
        msg(12, u64(0), fds=1, kind=3) + msg(12, u64(1), fds=1, kind=3 | PRIMED)
    # The stream ends inside a message: shutdown() ends the wait for its rest.
    yield "pfsd_caller_shutdown_truncated", PFSD + bytes([CALLER | SHUTDOWN]) + setup() + \
        msg(2, u64(0))[:-4]
    # The front-end goes away: before any reply could be sent (each of these is the
    # first reply the back-end tries), or after reading nothing back (its next
    # read, of a header, of the rest of one, of a payload, fails).
    for name, first in (("get_protocol_features", msg(15)), ("get_max_mem_slots", msg(36)),
                        ("reply_ack", ACK + msg(3, flags=V1 | NEED_REPLY))):
        yield f"pfsd_gone_before_{name}", PFSD + bytes([CALLER | CLOSE_AT_ONCE]) + first
    gone = PFSD + bytes([CALLER | CLOSE_WHEN_READ]) + msg(1)
    yield "pfsd_gone_unread", gone
    yield "pfsd_gone_unread_header", gone + msg(1)[:8]
    yield "pfsd_gone_unread_payload", gone + msg(2, u64(0))[:-4]
    yield "pfsd_workers_gone_unread", PFSD + bytes([WORKERS | CLOSE_WHEN_READ]) + setup()
    # shutdown() before serve() starts: it returns at once.
    yield "pfsd_shutdown_first", PFSD + bytes([WORKERS | SHUTDOWN_FIRST]) + setup()


def fd_seeds():
    """The fdspec bits beyond kind: sealed memfds, primed kick fds, too many fds."""
    one = struct.pack("<II", 1, 0)
    yield "mem_sealed_region", msg(5, one + REGION, fds=1, kind=0 | PRIMED)
    yield "mem_add_sealed_region", msg(37, u64(0) + REGION, fds=1, kind=2 | PRIMED)
    yield "too_many_fds", bytes([1 | (1 << 3) | 0x40]) + struct.pack("<III", 12, V1, 8) + u64(0)
    # A queue whose kick fd reads short (a pipe with one byte), one whose writer is
    # gone, and one with a kick pending: served on the fuzzer's thread.
    yield "kick_fds_primed", setup() + msg(12, u64(0), fds=1, kind=3 | PRIMED) + \
        msg(12, u64(1), fds=1, kind=1 | PRIMED) + msg(12, u64(1), fds=1, kind=3)


def region(gpa, size, uva, off=0):
    return struct.pack("<QQQQ", gpa, size, uva, off)


ACK = msg(16, u64(8))  # SET_PROTOCOL_FEATURES: REPLY_ACK
FEATS = msg(2, u64((1 << 32) | (1 << 28) | (1 << 29)))


def error_seeds():
    """One seed per way a message is refused: each ends the connection, so the
    messages after it would never run."""
    top = 0xFFFFFFFFFFFFFFFF
    one = struct.pack("<II", 1, 0)
    tables = {
        "empty_region": (one + region(0x100000, 0, 0x7F0000000000), 1, 0),
        "wrapping_region": (one + region(top - 0xFFF, 0x10000, 0x7F0000000000), 1, 0),
        "offset_overflow": (one + region(0x100000, 0x10000, 0x7F0000000000, top), 1, 0),
        "eventfd_region": (one + REGION, 1, 1),
        "pipe_region": (one + REGION, 1, 3),
        "overlapping_regions": (struct.pack("<II", 2, 0) + REGION + REGION, 2, 0),
        "table_too_short": (b"\1\0\0", 0, 0),
        "table_no_regions": (struct.pack("<II", 0, 0), 0, 0),
        "table_nine_regions": (struct.pack("<II", 9, 0) + REGION * 9, 0, 0),
        "table_size_mismatch": (struct.pack("<II", 2, 0) + REGION, 1, 0),
        "table_fd_mismatch": (one + REGION, 0, 0),
    }
    for name, (payload, fds, kind) in tables.items():
        yield "mem_" + name, msg(5, payload, fds=fds, kind=kind)
    # ADD_MEM_REG beyond the 32 regions a GuestMemory holds.
    many = ACK
    for i in range(33):
        many += msg(37, u64(0) + region(0x100000 * (i + 1), 0x10000, 0x7F0000000000 + 0x100000 * i),
                    fds=1, flags=V1 | NEED_REPLY)
    yield "mem_add_33_regions", many
    yield "mem_add_bad_size", msg(37, u64(0) + REGION[:8], fds=1)
    yield "mem_add_no_fd", msg(37, u64(0) + REGION)
    yield "mem_add_bad_region", msg(37, u64(0) + region(0x100000, 0, 0x7F0000000000), fds=1)
    yield "mem_rem_before_any", ACK + msg(38, u64(0) + REGION, flags=V1 | NEED_REPLY) + \
        msg(37, u64(0) + REGION, fds=1) + \
        msg(38, u64(0) + region(0x900000, 0x10000, 0x7F0000000000), flags=V1 | NEED_REPLY) + \
        msg(38, u64(0) + REGION, flags=V1 | NEED_REPLY) + msg(38, u64(0) + REGION[:4])
    # Requests pfsd does not implement: refused by REPLY_ACK when asked, each named.
    unsupported = ACK
    for req in (6, 7, 21, 24, 25, 39, 40, 99):
        unsupported += msg(req, u64(0), flags=V1 | NEED_REPLY)
    yield "unsupported_acked", unsupported + msg(14, u64(0), fds=1, kind=1) + \
        msg(11, state(1, 0)) + msg(18, state(0, 0)) + msg(18, state(0, 1))
    yield "unsupported_unacked", msg(6, u64(0))
    # Malformed messages: each closes the connection.
    bad = {
        "fds_on_get_features": msg(1, fds=1, kind=1),
        "get_features_payload": msg(1, u64(0)),
        "set_features_size": msg(2, b"\0" * 4),
        "set_features_unoffered": msg(2, u64(1 << 63)),
        "get_protocol_payload": msg(15, u64(0)),
        "set_protocol_size": msg(16, b"\0"),
        "set_protocol_unoffered": msg(16, u64(1 << 62)),
        "get_queue_num_payload": msg(17, u64(0)),
        "get_max_slots_payload": msg(36, u64(0)),
        "set_owner_payload": msg(3, u64(0)),
        "reset_size": msg(4, b"\0" * 4),
        "reset_device": msg(34) + msg(4),
        "vring_num_size": msg(8, b"\0"),
        "vring_num_index": msg(8, state(7, 64)),
        "vring_num_not_pow2": msg(8, state(0, 65)),
        "vring_base_size": msg(10, b"\0"),
        "vring_base_index": msg(10, state(7, 0)),
        "vring_base_wide": msg(10, state(0, 0x10000)),
        "vring_addr_size": msg(9, b"\0"),
        "vring_addr_index": msg(9, struct.pack("<IIQQQQ", 7, 0, 0, 0, 0, 0)),
        "get_vring_base_size": msg(11, b"\0"),
        "get_vring_base_index": msg(11, state(7, 0)),
        "vring_fd_size": msg(12, b"\0", fds=1, kind=1),
        "vring_fd_index": msg(12, u64(7), fds=1, kind=1),
        "vring_fd_reserved": msg(13, u64(1 << 9), fds=1, kind=1),
        "vring_fd_mismatch": msg(12, u64(0)),
        "vring_enable_size": msg(18, b"\0"),
        "vring_enable_index": msg(18, state(7, 1)),
        "vring_enable_value": msg(18, state(0, 2)),
        "payload_too_large": struct.pack("<B", 0) + struct.pack("<III", 1, V1, 5000) + b"\0" * 64,
        "payload_truncated": struct.pack("<B", 0) + struct.pack("<III", 2, V1, 100) + b"\0" * 10,
        "header_truncated": struct.pack("<B", 0) + struct.pack("<III", 2, V1, 8)[:6],
    }
    for name, data in bad.items():
        yield "bad_" + name, data
    # A ring whose addresses are outside guest memory: it stays stopped.
    yield "ring_outside_memory", setup() + msg(9, struct.pack("<IIQQQQ", 0, 0, 0x1000, 0x2000,
                                                              0x3000, 0)) + msg(12, u64(0), fds=1,
                                                                                kind=1)


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
    # Reply buffers too small for a reply header, or none at all.
    yield "tiny_reply", bytes([size_cfg, 0]) + image([(getattr_, 8), (lookup, 0), (read, 16)])


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "corpora"
    for folder, gen in (("vhost_user_msgs", vhost_seeds), ("virtqueue", vq_seeds)):
        os.makedirs(os.path.join(out, folder), exist_ok=True)
        for name, data in gen():
            with open(os.path.join(out, folder, name), "wb") as f:
                f.write(data)


if __name__ == "__main__":
    main()
