"""ci/mutate's operators (ci/mutatelib/operators.py) on small C++ snippets: each operator
finds the edits it should, and comments, string/char literals, preprocessor lines and
static_asserts are never touched. Pure Python: no build, no root."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "ci"))

from mutatelib import operators  # noqa: E402
from mutatelib.lexer import mask  # noqa: E402
from mutatelib.mutant import Mutant  # noqa: E402
from mutatelib.sources import is_mutable  # noqa: E402

pytestmark = pytest.mark.tools  # starts no pfsd: run once, in the host step


def edits(code, op):
    """[(original, replacement)] of one operator over code."""
    return [(m.original, m.replacement) for m in operators.mutants_of("core/x.cc", code, [op])]


def mutated(code, op):
    return [m.apply(code) for m in operators.mutants_of("core/x.cc", code, [op])]


def test_mask_keeps_offsets_and_blanks_comments_literals_preprocessor():
    code = ('#include "a<b>.h"\n'
            'int f(int a) {  // a < b\n'
            '  /* a == b */ const char* s = "x < y";\n'
            "  char c = '<';\n"
            '  static_assert(sizeof(int) == 4);\n'
            '  return a < 1;\n'
            '}\n')
    m = mask(code)
    assert len(m) == len(code) and m.count("\n") == code.count("\n")
    assert "include" not in m and "x < y" not in m and "'<'" not in m
    assert "a == b" not in m and "static_assert" not in m
    assert "return a < 1;" in m


def test_relational_flips_and_boundaries():
    code = "bool f(int a, int b) { return a < b && a >= 0 && a == b; }\n"
    assert set(edits(code, "rel_flip")) == {("<", ">="), (">=", "<"), ("==", "!=")}
    assert set(edits(code, "boundary")) == {("<", "<="), (">=", ">")}


def test_templates_shifts_and_arrows_are_not_comparisons():
    code = ("template <typename T> std::vector<T> g(T* p) { return p->x << 2 >> 1; }\n"
            "auto c = a <=> b;\n")
    assert edits(code, "rel_flip") == []
    assert edits(code, "boundary") == []


def test_comments_and_strings_untouched_by_every_operator():
    code = ('// if (a < b) return 1;  close(fd);  O_PATH | O_NOFOLLOW\n'
            'const char* k = "if (x) return true; a && b; n + 1";\n'
            '/* return true; f(a, b); */\n'
            "#define X(a, b) ((a) < (b) ? 1 : 0)\n"
            "static_assert(kMax > 1, \"x\");\n")
    assert operators.mutants_of("core/x.cc", code) == []


def test_arith_one_and_sizeof():
    code = "size_t n = len + 1;\nsize_t m = sizeof(hdr);\n"
    out = set(edits(code, "arith_one"))
    assert (" + 1", "") in out and ("+", "-") in out
    assert ("sizeof(hdr)", "(sizeof(hdr) + 1)") in out
    assert ("sizeof(hdr)", "(sizeof(hdr) - 1)") in out


def test_logic_swap_skips_rvalue_references():
    code = "void f(T&& t) { if (a && b || c) g(); }\n"
    assert edits(code, "logic_swap") == [("&&", "||"), ("||", "&&")]


def test_negated_guards():
    code = ("int f(int fd) {\n"
            "  if (fd < 0) return -EBADF;\n"
            "  if (!ok(fd)) {\n"
            "    return -EIO;\n"
            "  }\n"
            "  if (fd > 3) g();\n"
            "  return 0;\n"
            "}\n")
    guards = mutated(code, "negate_guard")
    assert any("if (false) return -EBADF;" in g for g in guards)
    assert any("if (false) {\n    return -EIO;" in g for g in guards)
    assert not any("if (false) g();" in g for g in guards)
    assert len(guards) == 2
    assert mutated(code, "negate_not") == [code.replace("if (!ok(fd))", "if (ok(fd))")]


def test_negate_not_only_on_a_whole_operand():
    assert edits("void f() { if (!a && b) return; }\n", "negate_not") == []


def test_drop_flag_one_term_at_a_time_chain_stays_valid():
    code = "int fd = openat(dir, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);\n"
    out = mutated(code, "drop_flag")
    assert "openat(dir, name, O_NOFOLLOW | O_CLOEXEC)" in out[0]
    assert "openat(dir, name, O_RDONLY | O_CLOEXEC)" in out[1]
    assert "openat(dir, name, O_RDONLY | O_NOFOLLOW)" in out[2]
    assert len(out) == 3
    assert edits("int x = a | b;\nbool y = a || B_C;\n", "drop_flag") == []
    assert mutated("void f() {\n  flags |= RESOLVE_NO_SYMLINKS;\n}\n", "drop_flag") == \
        ["void f() {\n  ;\n}\n"]


def test_delete_call_statements_only():
    code = ("void f(int fd) {\n"
            "  ::close(fd);\n"
            "  handle.reset();\n"
            "  int r = g(fd);\n"
            "  return h(fd);\n"
            "  k(a,\n"
            "    b);\n"
            "  int s = a +\n"
            "      g(fd);\n"
            "  make(a)(b);\n"
            "}\n")
    out = set(edits(code, "delete_call"))
    assert out == {("::close(fd);", ";"), ("handle.reset();", ";")}


def test_swap_args_simple_identifiers_only():
    code = "void f() { g(a, b); h(x, y, z); k(a, b + 1); m(a, a); v(size_t, n); }\n"
    out = set(edits(code, "swap_args"))
    assert out == {("a, b", "b, a"), ("x, y", "y, x"), ("y, z", "z, y")}


def test_constants_and_bool_returns():
    code = "int f() { if (n == 0) return 1; return 7; }\nchar buf[16];\nbool g() { return true; }\n"
    out = edits(code, "const_change")
    assert ("0", "1") in out and ("1", "2") in out and ("1", "0") in out and ("7", "8") in out
    assert ("16", "17") not in out  # array size of a declaration
    assert edits(code, "bool_return") == [("true", "false")]
    assert edits("int x = 0x10 + 1.5 + 010;\n", "const_change") == []


def test_ids_are_stable_and_distinct():
    code = "bool f(int a) { return a < 1; }\n"
    first = operators.mutants_of("core/x.cc", code)
    again = operators.mutants_of("core/x.cc", code)
    assert [m.id for m in first] == [m.id for m in again]
    assert len({m.id for m in first}) == len(first)
    other = operators.mutants_of("core/y.cc", code)
    assert not {m.id for m in first} & {m.id for m in other}


def test_diff_has_three_lines_of_context():
    code = "".join(f"int l{k};\n" for k in range(10)) + "bool f() { return true; }\n"
    m = Mutant("core/x.cc", 11, 19, "bool_return", code.index("true"), code.index("true") + 4,
               "true", "false")
    d = m.diff(code)
    assert "-bool f() { return true; }" in d and "+bool f() { return false; }" in d
    assert " int l7;" in d and " int l6;" not in d


def test_test_code_is_not_mutable():
    assert is_mutable("core/fuse/server.cc")
    assert not is_mutable("core/tests/server_ops_test.cc")
    assert not is_mutable("fuzz/oracles.cc")
    assert not is_mutable("core/tests/passthrough_fixture.h")
