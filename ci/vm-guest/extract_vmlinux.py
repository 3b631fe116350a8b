#!/usr/bin/python3
"""extract_vmlinux.py BZIMAGE OUT: the ELF vmlinux inside a bzImage (scripts-free
equivalent of the kernel's scripts/extract-vmlinux).

Tries every occurrence of each compressor's magic (xz, gzip, zstd if the module is
there, lzma) and keeps the first payload that decompresses to an ELF image. Exit 1
(with the reason) if none does: the caller then boots the bzImage instead.
"""
import gzip
import lzma
import sys
import zlib

ELF = b"\x7fELF"


def _xz(data):
    return lzma.LZMADecompressor(format=lzma.FORMAT_XZ).decompress(data)


def _lzma(data):
    return lzma.LZMADecompressor(format=lzma.FORMAT_ALONE).decompress(data)


def _gzip(data):
    return zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(data)


CODECS = [("xz", b"\xfd7zXZ\x00", _xz), ("gzip", b"\x1f\x8b\x08", _gzip),
          ("lzma", b"]\x00\x00\x00", _lzma)]


def extract(data):
    for name, magic, fn in CODECS:
        pos = data.find(magic)
        tries = 0
        while pos >= 0 and tries < 16:
            tries += 1
            try:
                out = fn(data[pos:])
            except (lzma.LZMAError, zlib.error, gzip.BadGzipFile, EOFError):
                out = b""
            if out.startswith(ELF):
                return name, pos, out
            pos = data.find(magic, pos + 1)
    return None, -1, b""


def main():
    if len(sys.argv) != 3:
        print("usage: extract_vmlinux.py BZIMAGE OUT", file=sys.stderr)
        return 2
    data = open(sys.argv[1], "rb").read()
    name, pos, out = extract(data)
    if not out:
        print(f"extract_vmlinux: no compressed ELF payload found in {sys.argv[1]}", file=sys.stderr)
        return 1
    with open(sys.argv[2], "wb") as f:
        f.write(out)
    print(f"extract_vmlinux: {name} payload at offset {pos}: {len(out)} bytes of ELF")
    return 0


if __name__ == "__main__":
    sys.exit(main())
