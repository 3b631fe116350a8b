"""The mutation operators: each finds its edits in the masked text of one file.

Every operator is a function (text, masked) -> [(start, end, replacement)]; the masked
text (lexer.mask) has comments, literals, preprocessor lines and static_asserts blanked,
so a match in it is code. The edits are plain text substitutions: one that does not
compile is weeded out by the build ("uncompilable")."""
import re

from .lexer import mask
from .mutant import Mutant

KEYWORDS = {"if", "while", "for", "switch", "return", "sizeof", "alignof", "decltype", "catch",
            "static_cast", "reinterpret_cast", "const_cast", "dynamic_cast", "noexcept",
            "throw", "delete", "new", "co_return", "co_await", "case", "do", "else",
            "static_assert", "defined", "operator", "requires", "typeid", "alignas"}
TYPE_WORDS = {"int", "char", "bool", "void", "auto", "long", "short", "unsigned", "signed",
              "float", "double", "size_t", "ssize_t", "off_t", "mode_t", "uid_t", "gid_t",
              "dev_t", "ino_t", "pid_t", "const", "volatile", "uint8_t", "uint16_t",
              "uint32_t", "uint64_t", "int8_t", "int16_t", "int32_t", "int64_t", "this",
              "nullptr", "true", "false"}

# Binary operators are spaced in clang-formatted code; template brackets, -> and << are not.
_REL = re.compile(r"(?<=\s)(<=|>=|==|!=|<|>)(?=\s)")
_NEGATE = {"<": ">=", ">=": "<", ">": "<=", "<=": ">", "==": "!=", "!=": "=="}
_BOUNDARY = {"<": "<=", "<=": "<", ">": ">=", ">=": ">"}


def rel_flip(text, masked):
    return [(m.start(), m.end(), _NEGATE[m.group(1)]) for m in _REL.finditer(masked)]


def boundary(text, masked):
    return [(m.start(), m.end(), _BOUNDARY[m.group(1)]) for m in _REL.finditer(masked)
            if m.group(1) in _BOUNDARY]


_PLUS_MINUS_ONE = re.compile(r"(?<=\S) ([+-]) 1(?![\w.'])")
_SIZEOF = re.compile(r"\bsizeof\s*\(")


def _close_paren(masked, open_at):
    depth = 0
    for i in range(open_at, len(masked)):
        if masked[i] == "(":
            depth += 1
        elif masked[i] == ")":
            depth -= 1
            if depth == 0:
                return i
    return -1


def arith_one(text, masked):
    """`x + 1` -> `x` and `x - 1`; `x - 1` -> `x` and `x + 1`; `sizeof(T)` -> +1 / -1."""
    out = []
    for m in _PLUS_MINUS_ONE.finditer(masked):
        other = "-" if m.group(1) == "+" else "+"
        out.append((m.start(), m.end(), ""))
        out.append((m.start(1), m.end(1), other))
    for m in _SIZEOF.finditer(masked):
        close = _close_paren(masked, m.end() - 1)
        if close < 0:
            continue
        expr = text[m.start():close + 1]
        out.append((m.start(), close + 1, f"({expr} + 1)"))
        out.append((m.start(), close + 1, f"({expr} - 1)"))
    return out


_LOGIC = re.compile(r"(?<=\s)(&&|\|\|)(?=\s)")


def logic_swap(text, masked):
    return [(m.start(), m.end(), "||" if m.group(1) == "&&" else "&&")
            for m in _LOGIC.finditer(masked)]


_IF = re.compile(r"\bif\s*(?:constexpr\s*)?\(")


def _guards(masked):
    """Yields (cond_start, cond_end) of `if (COND)` whose body returns."""
    for m in _IF.finditer(masked):
        if "constexpr" in masked[m.start():m.end()]:
            continue
        open_at = m.end() - 1
        close = _close_paren(masked, open_at)
        if close < 0:
            continue
        after = masked[close + 1:]
        one_line = re.match(r"[ \t]*(?:\n[ \t]*)?return\b", after)
        block = re.match(r"\s*\{\s*return\b[^;{}]*;\s*\}", after)
        if one_line or block:
            yield open_at + 1, close


def negate_guard(text, masked):
    """`if (COND) return ...;` -> `if (false) return ...;` (the check is gone)."""
    return [(s, e, "false") for s, e in _guards(masked) if text[s:e].strip() != "false"]


def negate_not(text, masked):
    """`if (!X)` -> `if (X)`."""
    out = []
    for m in _IF.finditer(masked):
        open_at = m.end() - 1
        close = _close_paren(masked, open_at)
        inner = masked[open_at + 1:close]
        if close < 0 or not inner.startswith("!") or inner.startswith("!="):
            continue
        rest = inner[1:]
        # Only a whole negated operand: `!x`, `!f(a)`, `!(a && b)`, not `!a && b`.
        if rest.startswith("("):
            if _close_paren(inner, 1) != len(inner) - 1:
                continue
        elif re.search(r"\s(&&|\|\||[<>=!]=|[<>])\s", rest):
            continue
        out.append((open_at + 1, open_at + 2, ""))
    return out


_TERM = r"(?:::)?[A-Za-z_]\w*(?:::[A-Za-z_]\w*)*"
_CHAIN = re.compile(rf"(?<![\w:|])({_TERM})((?:\s*(?<!\|)\|(?![|=])\s*{_TERM})+)(?![\w(<:|])")
_TERM_RE = re.compile(_TERM)
_CAPS = re.compile(r"^[A-Z][A-Z0-9_]*$")
_OR_ASSIGN = re.compile(rf"^([ \t]*)([\w.\->\[\]]+)\s*\|=\s*({_TERM})\s*;[ \t]*$", re.M)


def _is_flag(term):
    return bool(_CAPS.match(term.split("::")[-1]))


def drop_flag(text, masked):
    """Drops one ALL_CAPS term (O_NOFOLLOW, RESOLVE_*, ...) of an `A | B | C` chain, or a
    whole `flags |= FLAG;` statement."""
    out = []
    for m in _CHAIN.finditer(masked):
        terms = [(t.start() + m.start(), t.end() + m.start())
                 for t in _TERM_RE.finditer(masked[m.start():m.end()])]
        if not any(_is_flag(masked[s:e]) for s, e in terms):
            continue
        for k, (s, e) in enumerate(terms):
            if not _is_flag(masked[s:e]):
                continue
            if k == 0:
                out.append((s, terms[1][0], ""))
            else:
                out.append((terms[k - 1][1], e, ""))
    for m in _OR_ASSIGN.finditer(masked):
        if _is_flag(m.group(3)):
            out.append((m.start(2), m.end(), ";"))
    return out


_CALL_STMT = re.compile(r"^([ \t]*)(?:\(void\)\s*)?((?:::)?[A-Za-z_][\w.:]*(?:->[A-Za-z_]\w*|\.[A-Za-z_]\w*)*)\s*\((.*)\);[ \t]*$", re.M)
_CONTINUES = re.compile(r"[,(=+\-*/&|<>?:!~^%]$")


def _previous_code_line(masked, start):
    prev = masked[:start].rstrip()
    return prev.rsplit("\n", 1)[-1].rstrip()


def delete_call(text, masked):
    """A one-line expression statement that is a call (close(fd);, x.reset();, ...) -> `;`."""
    out = []
    for m in _CALL_STMT.finditer(masked):
        name = m.group(2)
        head = re.split(r"[.:>-]", name.lstrip(":"))[0]
        if head in KEYWORDS or re.split(r"[.:>]", name)[-1] in KEYWORDS:
            continue
        open_at = masked.find("(", m.end(2))
        if _close_paren(masked, open_at) != m.end(3):
            continue  # `f(a)(b);` or `(x) + (y);`: not one call
        # The line must start a statement, not continue an expression or an argument list.
        prev = _previous_code_line(masked, m.start())
        if _CONTINUES.search(prev) and not prev.endswith(")") and \
                not re.search(r"\b(public|private|protected|default)\s*:$|\bcase\b.*:$", prev):
            continue
        stmt_start = m.start(1) + len(m.group(1))  # with its `(void)` if any
        out.append((stmt_start, m.end(3) + 2, ";"))
    return out


_IDENT = r"[A-Za-z_]\w*"
_CALL2 = re.compile(rf"\b({_IDENT})\s*\(\s*({_IDENT})\s*,\s*({_IDENT})\s*(?:,\s*({_IDENT})\s*)?\)")


def swap_args(text, masked):
    """Swaps adjacent plain-identifier arguments of a call with two or three of them."""
    out = []
    for m in _CALL2.finditer(masked):
        if m.group(1) in KEYWORDS or m.group(1) in TYPE_WORDS:
            continue
        args = [g for g in (2, 3, 4) if m.group(g)]
        names = [m.group(g) for g in args]
        if any(a in TYPE_WORDS or a in KEYWORDS for a in names):
            continue
        for k in range(len(args) - 1):
            a, b = args[k], args[k + 1]
            s, e = m.start(a), m.end(b)
            between = text[m.end(a):m.start(b)]
            out.append((s, e, m.group(b) + between + m.group(a)))
    return out


_INT = re.compile(r"(?<![\w.'])(\d+)([uUlL]*)(?![\w.'])")
_ARRAY_DECL = re.compile(r"^\s*(?:static\s+|constexpr\s+|const\s+|inline\s+)*[\w:<>, ]+\s+\w+\s*\[\s*$")


def const_change(text, masked):
    """Integer literal N -> N+1, and 1 -> 0 (0 -> 1 is its N+1)."""
    out = []
    for m in _INT.finditer(masked):
        digits = m.group(1)
        if len(digits) > 1 and digits.startswith("0"):
            continue  # octal
        line_start = masked.rfind("\n", 0, m.start()) + 1
        before = masked[line_start:m.start()]
        if before.rstrip().endswith("[") and _ARRAY_DECL.match(before):
            continue  # array size of a declaration
        value = int(digits)
        out.append((m.start(1), m.end(1), str(value + 1)))
        if value == 1 and not re.search(r"\S [+-] $", before):
            out.append((m.start(1), m.end(1), "0"))  # `x + 1` -> `x + 0` is arith_one's `x`
    return out


_RETURN_BOOL = re.compile(r"\breturn\s+(true|false)\s*;")


def bool_return(text, masked):
    return [(m.start(1), m.end(1), "false" if m.group(1) == "true" else "true")
            for m in _RETURN_BOOL.finditer(masked)]


OPERATORS = {
    "rel_flip": rel_flip,
    "boundary": boundary,
    "arith_one": arith_one,
    "logic_swap": logic_swap,
    "negate_guard": negate_guard,
    "negate_not": negate_not,
    "drop_flag": drop_flag,
    "delete_call": delete_call,
    "swap_args": swap_args,
    "const_change": const_change,
    "bool_return": bool_return,
}


def line_col(text, offset):
    line = text.count("\n", 0, offset) + 1
    col = offset - (text.rfind("\n", 0, offset) + 1) + 1
    return line, col


def mutants_of(path: str, text: str, operators=None) -> list:
    """All mutants of one file (path relative to the repository root), in text order."""
    masked = mask(text)
    seen = set()
    out = []
    for name, fn in OPERATORS.items():
        if operators and name not in operators:
            continue
        for start, end, repl in fn(text, masked):
            if text[start:end] == repl or (start, end, repl) in seen:
                continue
            seen.add((start, end, repl))
            line, col = line_col(text, start)
            out.append(Mutant(path, line, col, name, start, end, text[start:end], repl))
    out.sort(key=lambda m: (m.start, m.op, m.replacement))
    return out
