#!/usr/bin/env python3
"""Regenerates the committed seed corpus tests/fuzz/corpus/.

Seeds: every examples/*.daft, tests/diag/*.daft, tests/plan/*.daft and stdlib/std/*.daft,
plus hand-made edge cases the front end must survive: deep nesting (brackets, blocks,
unary and binary chains), huge lines, NUL bytes, invalid UTF-8, CR / CRLF line ends,
unterminated comments and strings, and integer / float literal extremes.

    python3 tests/fuzz/make_corpus.py          # rewrite tests/fuzz/corpus/
    python3 tests/fuzz/make_corpus.py --check  # exit 1 if the corpus is out of date

Inputs the fuzzer finds interesting later go to tests/fuzz/regressions/ (crashes) by hand;
the corpus itself stays small (a few hundred KB) and reproducible from this script.
"""
import os
import sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
CORPUS = os.path.join(ROOT, "tests", "fuzz", "corpus")

SOURCES = [
    ("ex", "examples"),
    ("diag", "tests/diag"),
    ("plan", "tests/plan"),
    ("std", "stdlib/std"),
]

ACTOR = b"""actor A(gpus = 1) {
    fn init() {}
    @hint(tensor<f32, [4, 4]>, comm = nccl)
    fn f(x: tensor<f32>) -> tensor<f32> { return x; }
}
"""


def main_fn(body: bytes) -> bytes:
    return b"fn main() {\n    " + body + b"\n}\n"


def handmade():
    s = {}
    # ---- empty and tiny
    s["empty"] = b""
    s["one_nul"] = b"\x00"
    s["only_newlines"] = b"\n" * 64
    s["no_trailing_newline"] = b"fn main() { print(1); }"
    # ---- deep nesting: at, just past and far past DAFT_MAX_NESTING (256)
    for n in (255, 256, 257, 2000):
        s[f"nest_paren_{n}"] = main_fn(b"let x = " + b"(" * n + b"1" + b")" * n + b";")
    s["nest_list_1000"] = main_fn(b"let x = " + b"[" * 1000 + b"1" + b"]" * 1000 + b";")
    s["nest_block_400"] = main_fn(b"{" * 400 + b"print(1);" + b"}" * 400)
    s["nest_if_300"] = main_fn(b"if true { " * 300 + b"print(1);" + b" }" * 300)
    s["nest_unclosed_3000"] = main_fn(b"let x = " + b"([{" * 1000)
    s["nest_closers_3000"] = main_fn(b")]}" * 1000)
    s["nest_type_300"] = b"fn f(x: " + b"Ref<" * 300 + b"i64" + b">" * 300 + b") {}\n"
    s["nest_listtype_300"] = b"fn f(x: " + b"[" * 300 + b"i64" + b"]" * 300 + b") {}\n"
    # ---- long chains (AST depth limit DAFT_MAX_AST_DEPTH = 1024, no brackets)
    s["chain_plus_3000"] = main_fn(b"let x = 1" + b" + 1" * 3000 + b";")
    s["chain_unary_3000"] = main_fn(b"let x = " + b"-" * 3000 + b"1;")
    s["chain_not_3000"] = main_fn(b"let x = " + b"!" * 3000 + b"true;")
    s["chain_field_2000"] = main_fn(b"let x = a" + b".b" * 2000 + b";")
    s["chain_index_1500"] = main_fn(b"let x = a" + b"[0]" * 1500 + b";")
    s["chain_call_1500"] = main_fn(b"let x = f" + b"()" * 1500 + b";")
    s["chain_else_if_1100"] = main_fn(b"if false {}" + b" else if false {}" * 1100 + b" else {}")
    s["chain_assign_2000"] = main_fn(b"x" + b" = x" * 2000 + b";")
    s["many_stmts_1000"] = main_fn(b"let x = 1;\n    " + b"x = x + 1;\n    " * 1000)
    # ---- huge lines
    s["huge_line_ident"] = main_fn(b"let " + b"a" * 20000 + b" = 1;")
    s["huge_line_string"] = main_fn(b'print("' + b"x" * 20000 + b'");')
    s["huge_line_error_end"] = main_fn(b" " * 20000 + b"let x = ;")
    s["huge_line_int"] = main_fn(b"let x = " + b"9" * 20000 + b";")
    s["huge_line_comment"] = b"//" + b"c" * 20000 + b"\nfn main() {}\n"
    # ---- NUL bytes
    s["nul_in_string"] = main_fn(b'print("a\x00b");')
    s["nul_in_ident"] = main_fn(b"let a\x00b = 1;")
    s["nul_in_comment"] = b"// a\x00b\n/* c\x00d */\nfn main() {}\n"
    s["nul_between_tokens"] = b"fn\x00main()\x00{\x00}\x00\n"
    s["nul_escape"] = main_fn(b'print("\\0\\x00\\u0000");')
    # ---- invalid UTF-8 and stray bytes
    s["utf8_bad_lead"] = main_fn(b"let x = 1; \xff\xfe\x80\xbf")
    s["utf8_truncated"] = main_fn(b'print("\xe2\x82");')  # truncated 3-byte sequence
    s["utf8_overlong"] = main_fn(b'print("\xc0\xaf\xe0\x80\xaf");')
    s["utf8_surrogate"] = main_fn(b'print("\xed\xa0\x80");')
    s["utf8_in_ident"] = main_fn(b"let caf\xc3\xa9 = 1;")
    s["utf8_bom"] = b"\xef\xbb\xbffn main() {}\n"
    s["utf8_in_error_line"] = main_fn(b'let \xe2\x82\xac = "\xf0\x9f\x98\x80" +;')
    s["high_bytes_all"] = bytes(range(128, 256)) + b"\n"
    s["ctrl_bytes_all"] = bytes(range(0, 32)) + b"\x7f\n"
    # ---- line ends
    s["crlf"] = b"fn main() {\r\n    let x = ;\r\n}\r\n"
    s["cr_only"] = b"fn main() {\r    let x = ;\r}\r"
    s["form_feed_vtab"] = b"fn\fmain()\v{\t}\n"
    # ---- unterminated things
    s["unterminated_comment"] = b"fn main() {} /* never closed"
    s["unterminated_comment_star"] = b"/*" + b"*" * 100
    s["unterminated_string_eof"] = b'fn main() { print("abc'
    s["unterminated_string_backslash"] = b'fn main() { print("abc\\'
    s["string_escapes"] = main_fn(b'print("\\n\\t\\r\\\\\\"\\q\\x\\xZZ\\u{110000}\\u{D800}\\u{}");')
    # ---- literals at the edges
    s["int_limits"] = main_fn(
        b"let a = 9223372036854775807; let b = -9223372036854775808; "
        b"let c = 9223372036854775808; let d = 0xffffffffffffffff; let e = 0x1_0000_0000_0000_0000; "
        b"let f = 0x; let g = 1_; let h = 12abc; let i = 0777;")
    s["float_limits"] = main_fn(
        b"let a = 1e308; let b = 1e309; let c = 1e-400; let d = 1.0e; let e = 1.5f32; "
        b"let f = 0.0 / 0.0; let g = 1e+; let h = 2.5e-3x;")
    s["int_arith_overflow"] = main_fn(
        b"let a = 9223372036854775807 + 1; let b = -9223372036854775807 - 2; "
        b"let c = (0 - 9223372036854775807 - 1) / -1; let d = (0 - 9223372036854775807 - 1) % -1; "
        b"let e = 1 / 0; let f = 1 % 0; let g = 9223372036854775807 * 2;")
    s["const_overflow"] = (b"const A: i64 = 9223372036854775807;\nconst B: i64 = A + 1;\n"
                           b"const C: i64 = -A - 2;\nconst D: i64 = A * A;\n"
                           b"const E: i64 = (0 - A - 1) / -1;\nconst F: i64 = (0 - A - 1) % -1;\n"
                           b"const G: i64 = 1 / 0;\nfn main() { print(B, C, D, E, F, G); }\n")
    # ---- planner-shaped edge cases
    s["plan_big_range"] = (ACTOR + b"compiled schedule s(a: A, x: tensor<f32>) -> Ref<tensor<f32>> {\n"
                           b"    let h = a.f(x);\n    for i in 0..9223372036854775807 { h = a.f(h); }\n"
                           b"    return h;\n}\nfn main() { let a = spawn A() on gpu(0); "
                           b"print(get(s(a, 1.0))); }\n")
    s["plan_neg_range"] = (ACTOR + b"compiled schedule s(a: A, x: tensor<f32>) -> Ref<tensor<f32>> {\n"
                           b"    let h = a.f(x);\n    for i in 5..-9223372036854775807 { h = a.f(h); }\n"
                           b"    return h;\n}\nfn main() { let a = spawn A() on gpu(0); "
                           b"print(get(s(a, 1.0))); }\n")
    s["plan_many_actors"] = (ACTOR + b"compiled schedule s(ws: [A], x: tensor<f32>) -> Ref<tensor<f32>> {\n"
                             b"    return ws[0].f(x);\n}\n"
                             b"fn main() { let ws = [spawn A() for i in 0..100000]; "
                             b"print(get(s(ws, 1.0))); }\n")
    s["plan_placement_extremes"] = (ACTOR + b"compiled schedule s(a: A, b: A, x: tensor<f32>) -> Ref<tensor<f32>> {\n"
                                    b"    return b.f(a.f(x));\n}\n"
                                    b"fn main() { let a = spawn A() on gpu(2147483647); "
                                    b"let b = spawn A() on node(-1) on gpu(-9223372036854775807); "
                                    b"print(get(s(a, b, 1.0))); }\n")
    s["plan_inflight_extremes"] = (ACTOR + b"@inflight(2147483648)\ncompiled schedule s(a: A, x: tensor<f32>) -> Ref<tensor<f32>> {\n"
                                   b"    return a.f(x);\n}\n"
                                   b"fn main() { let a = spawn A(); print(get(s(a, 1.0))); }\n")
    return s


def seeds():
    out = {}
    for prefix, d in SOURCES:
        full = os.path.join(ROOT, d)
        if not os.path.isdir(full):
            continue
        for name in sorted(os.listdir(full)):
            if name.endswith(".daft"):
                with open(os.path.join(full, name), "rb") as f:
                    out[f"{prefix}_{name}"] = f.read()
    for name, data in handmade().items():
        out[f"hand_{name}.daft"] = data
    return out


def main():
    check = "--check" in sys.argv[1:]
    want = seeds()
    have = {}
    if os.path.isdir(CORPUS):
        for name in os.listdir(CORPUS):
            with open(os.path.join(CORPUS, name), "rb") as f:
                have[name] = f.read()
    if check:
        stale = sorted(set(want) ^ set(have)) + sorted(n for n in want if n in have and want[n] != have[n])
        if stale:
            print("tests/fuzz/corpus is out of date (run tests/fuzz/make_corpus.py):", *stale[:20])
            return 1
        return 0
    os.makedirs(CORPUS, exist_ok=True)
    for name in have:
        if name not in want:
            os.remove(os.path.join(CORPUS, name))
    for name, data in want.items():
        with open(os.path.join(CORPUS, name), "wb") as f:
            f.write(data)
    total = sum(len(d) for d in want.values())
    print(f"tests/fuzz/corpus: {len(want)} seeds, {total} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
