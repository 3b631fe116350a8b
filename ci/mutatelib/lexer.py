"""Masks what no operator may touch: comments, string and character literals,
preprocessor lines and static_assert statements.

mask(text) returns a string of the same length and the same line breaks in which
those parts are blanked (spaces), so a regex over the mask finds only code, and an
offset in the mask is the same offset in the original text."""


def _blank(chars, start, end):
    for i in range(start, end):
        if chars[i] != "\n":
            chars[i] = " "


def _skip_raw_string(text, i):
    # i at the R of R"delim( ... )delim"
    open_paren = text.find("(", i + 2)
    if open_paren < 0:
        return len(text)
    delim = text[i + 2:open_paren]
    close = text.find(")" + delim + '"', open_paren)
    return len(text) if close < 0 else close + len(delim) + 2


def _blank_literals_and_comments(text):
    chars = list(text)
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c == "/" and text.startswith("//", i):
            end = text.find("\n", i)
            end = n if end < 0 else end
            _blank(chars, i, end)
            i = end
        elif c == "/" and text.startswith("/*", i):
            end = text.find("*/", i + 2)
            end = n if end < 0 else end + 2
            _blank(chars, i, end)
            i = end
        elif c == "R" and text.startswith('R"', i) and (i == 0 or not (text[i - 1].isalnum() or text[i - 1] == "_")):
            end = _skip_raw_string(text, i)
            _blank(chars, i, end)
            i = end
        elif c in "\"'":
            # A digit separator (1'000) is no character literal.
            if c == "'" and i > 0 and text[i - 1].isalnum() and i + 1 < n and text[i + 1].isalnum() \
                    and text[i - 1].isdigit():
                i += 1
                continue
            j = i + 1
            while j < n and text[j] != c and text[j] != "\n":
                j += 2 if text[j] == "\\" else 1
            end = min(j + 1, n)
            _blank(chars, i, end)
            i = end
        else:
            i += 1
    return chars


def _blank_lines(chars, masked_text):
    """Blanks preprocessor lines (with their continuations) and static_assert statements."""
    lines = masked_text.split("\n")
    offsets = []
    pos = 0
    for line in lines:
        offsets.append(pos)
        pos += len(line) + 1
    skip = set()
    k = 0
    while k < len(lines):
        stripped = lines[k].lstrip()
        if stripped.startswith("#"):
            while True:
                skip.add(k)
                if not lines[k].rstrip().endswith("\\") or k + 1 >= len(lines):
                    break
                k += 1
        elif "static_assert" in lines[k]:
            while True:
                skip.add(k)
                if ";" in lines[k] or k + 1 >= len(lines):
                    break
                k += 1
        k += 1
    for k in skip:
        _blank(chars, offsets[k], offsets[k] + len(lines[k]))


def mask(text: str) -> str:
    chars = _blank_literals_and_comments(text)
    _blank_lines(chars, "".join(chars))
    return "".join(chars)
