"""/proc/*/mountinfo fields, shared by the fixtures (conftest.py) and ci/soak."""

from __future__ import annotations


def unescape(field: str) -> str:
    """A mountinfo field as the path it names: space, tab, newline and backslash are
    escaped there as \\ooo octal."""
    out, i = [], 0
    while i < len(field):
        if field[i] == "\\" and field[i + 1 : i + 4].isdigit() and len(field[i + 1 : i + 4]) == 3:
            out.append(chr(int(field[i + 1 : i + 4], 8)))
            i += 4
        else:
            out.append(field[i])
            i += 1
    return "".join(out)
