/* Parser unit tests: every construct of lang/grammar.ebnf (checked through the stable
 * --emit=ast dump), spans, syntax-error messages, recovery with several errors, and
 * robustness on hostile inputs (deep nesting, huge lines, arbitrary bytes). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <daft/lang.h>

typedef struct Parsed {
    DaftSourceSet sources;
    DaftDiagEngine diags;
    DaftArena *arena;
    DaftModule mod;
    bool ok;
} Parsed;

static Parsed *parse_bytes(const char *text, size_t size) {
    Parsed *p = calloc(1, sizeof(Parsed));
    daft_diag_init(&p->diags, &p->sources);
    p->arena = daft_arena_new();
    DaftSource *src = daft_source_from_string(&p->sources, "t.daft", text, size);
    p->ok = daft_parse(p->arena, src, &p->diags, &p->mod);
    assert_non_null(p->mod.program);
    assert_int_equal(p->mod.program->kind, DAFT_N_PROGRAM);
    return p;
}

static Parsed *parse(const char *text) { return parse_bytes(text, strlen(text)); }

static void parsed_free(Parsed *p) {
    daft_arena_free(p->arena);
    daft_diag_free(&p->diags);
    daft_source_set_free(&p->sources);
    free(p);
}

static char *dump(const DaftNode *n) {
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    daft_ast_dump(n, f);
    fclose(f);
    return buf;
}

static char *diag_text(Parsed *p) {
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    daft_diag_print(&p->diags, f, DAFT_DIAG_TEXT);
    fclose(f);
    return buf;
}

/* Parses `src` without errors and compares the dump of the program. */
static void check_ast(const char *src, const char *want) {
    Parsed *p = parse(src);
    if (!p->ok) {
        char *d = diag_text(p);
        fail_msg("unexpected errors for %s:\n%s", src, d);
    }
    char *got = dump(p->mod.program);
    if (strcmp(got, want) != 0) {
        print_error("source:\n%s\nwant:\n%s\ngot:\n%s\n", src, want, got);
        fail();
    }
    free(got);
    parsed_free(p);
}

/* Parses the body of `fn f() { BODY }` and compares the dump of the first statement. */
static void check_stmt(const char *body, const char *want) {
    char src[512];
    snprintf(src, sizeof src, "fn f() {\n%s\n}", body);
    Parsed *p = parse(src);
    if (!p->ok) {
        char *d = diag_text(p);
        fail_msg("unexpected errors for %s:\n%s", body, d);
    }
    const DaftNode *stmt = p->mod.program->items.items[0]->body->items.items[0];
    char *got = dump(stmt);
    if (strcmp(got, want) != 0) {
        print_error("source: %s\nwant:\n%s\ngot:\n%s\n", body, want, got);
        fail();
    }
    free(got);
    parsed_free(p);
}

/* Parses `src` and compares the messages of all errors, one per line. */
static void check_errors(const char *src, const char *want) {
    Parsed *p = parse(src);
    assert_false(p->ok);
    char buf[4096] = "";
    for (int i = 0; i < p->diags.len; i++) {
        strcat(buf, p->diags.diags[i].message);
        strcat(buf, "\n");
    }
    if (strcmp(buf, want) != 0) {
        print_error("source:\n%s\nwant:\n%s\ngot:\n%s\n", src, want, buf);
        fail();
    }
    parsed_free(p);
}

/* ---------------------------------------------------------------- declarations */

static void test_imports_links_consts(void **state) {
    (void)state;
    check_ast("import std.tensor as T;\nimport std;\nlink \"k.cu\";\nconst N: i64 = 4;\nconst M = 1;",
              "Program <1:1-5:13>\n"
              "  Import std.tensor <1:1-1:24> as=T\n"
              "  Import std <2:1-2:12>\n"
              "  Link \"k.cu\" <3:1-3:13>\n"
              "  Const N <4:1-4:18>\n"
              "    TypeName i64 <4:10-4:13>\n"
              "    IntLit 4 <4:16-4:17>\n"
              "  Const M <5:1-5:13>\n"
              "    IntLit 1 <5:11-5:12>\n");
}

static void test_actor(void **state) {
    (void)state;
    check_ast("actor W(gpus = 1, mem = 2) {\n"
              "  w: tensor<f32>;\n"
              "  @hint(tensor<f32, [32, ?]>, comm = nccl) @inflight(n = 4) @x()\n"
              "  fn run(x: i64, y: [W],) -> Ref<i64> { return x; }\n"
              "  extern fn k(x: tensor) = \"sym\";\n"
              "}\nactor E {}\nactor F() {}",
              "Program <1:1-8:13>\n"
              "  Actor W <1:1-6:2>\n"
              "    NamedArg gpus <1:9-1:17>\n"
              "      IntLit 1 <1:16-1:17>\n"
              "    NamedArg mem <1:19-1:26>\n"
              "      IntLit 2 <1:25-1:26>\n"
              "    Field w <2:3-2:18>\n"
              "      TypeTensor f32 <2:6-2:17>\n"
              "    Method run <3:3-4:52>\n"
              "      Attribute hint <3:3-3:43>\n"
              "        TypeTensor f32 <3:9-3:29> shape=[32, ?]\n"
              "        NamedArg comm <3:31-3:42>\n"
              "          Name nccl <3:38-3:42>\n"
              "      Attribute inflight <3:44-3:60>\n"
              "        NamedArg n <3:54-3:59>\n"
              "          IntLit 4 <3:58-3:59>\n"
              "      Attribute x <3:61-3:65>\n"
              "      Param x <4:10-4:16>\n"
              "        TypeName i64 <4:13-4:16>\n"
              "      Param y <4:18-4:24>\n"
              "        TypeList <4:21-4:24>\n"
              "          TypeName W <4:22-4:23>\n"
              "      result: TypeRef <4:30-4:38>\n"
              "        TypeName i64 <4:34-4:37>\n"
              "      Block <4:39-4:52>\n"
              "        Return <4:41-4:50>\n"
              "          Name x <4:48-4:49>\n"
              "    Method k <5:3-5:34> extern symbol=\"sym\"\n"
              "      Param x <5:15-5:24>\n"
              "        TypeTensor <5:18-5:24>\n"
              "  Actor E <7:1-7:11>\n"
              "  Actor F <8:1-8:13>\n");
}

static void test_schedules_and_fns(void **state) {
    (void)state;
    check_ast("@inflight(n = 2) compiled schedule c(a: A) -> i64 { }\n"
              "schedule s() { }\n"
              "fn main() { }\n"
              "extern fn sum(x: tensor<f32, []>) -> f64 = \"daft_sum\";",
              "Program <1:1-4:55>\n"
              "  Schedule c <1:1-1:54> compiled\n"
              "    Attribute inflight <1:1-1:17>\n"
              "      NamedArg n <1:11-1:16>\n"
              "        IntLit 2 <1:15-1:16>\n"
              "    Param a <1:38-1:42>\n"
              "      TypeName A <1:41-1:42>\n"
              "    result: TypeName i64 <1:47-1:50>\n"
              "    Block <1:51-1:54>\n"
              "  Schedule s <2:1-2:17>\n"
              "    Block <2:14-2:17>\n"
              "  Fn main <3:1-3:14>\n"
              "    Block <3:11-3:14>\n"
              "  Fn sum <4:1-4:55> extern symbol=\"daft_sum\"\n"
              "    Param x <4:15-4:33>\n"
              "      TypeTensor f32 <4:18-4:33> shape=[]\n"
              "    result: TypeName f64 <4:38-4:41>\n");
}

static void test_types(void **state) {
    (void)state;
    check_ast("const a: [Ref<tensor<i64, [2]>>] = 0;",
              "Program <1:1-1:38>\n"
              "  Const a <1:1-1:38>\n"
              "    TypeList <1:10-1:33>\n"
              "      TypeRef <1:11-1:32>\n"
              "        TypeTensor i64 <1:15-1:31> shape=[2]\n"
              "    IntLit 0 <1:36-1:37>\n");
}

/* ---------------------------------------------------------------- statements */

static void test_statements(void **state) {
    (void)state;
    check_stmt("let x: i64 = 1;", "Let x <2:1-2:16>\n  TypeName i64 <2:8-2:11>\n  IntLit 1 <2:14-2:15>\n");
    check_stmt("x = 1;", "Assign = <2:1-2:7>\n  target: Name x <2:1-2:2>\n  IntLit 1 <2:5-2:6>\n");
    check_stmt("self.w -= 1;",
               "Assign -= <2:1-2:13>\n  target: FieldAccess w <2:1-2:7>\n    lhs: Self <2:1-2:5>\n  IntLit 1 <2:11-2:12>\n");
    check_stmt("a[0][1] *= 2;",
               "Assign *= <2:1-2:14>\n  target: Index <2:1-2:8>\n    lhs: Index <2:1-2:5>\n"
               "      lhs: Name a <2:1-2:2>\n      index: IntLit 0 <2:3-2:4>\n"
               "    index: IntLit 1 <2:6-2:7>\n  IntLit 2 <2:12-2:13>\n");
    check_stmt("x /= 2;", "Assign /= <2:1-2:8>\n  target: Name x <2:1-2:2>\n  IntLit 2 <2:6-2:7>\n");
    check_stmt("x += 2;", "Assign += <2:1-2:8>\n  target: Name x <2:1-2:2>\n  IntLit 2 <2:6-2:7>\n");
    check_stmt("return;", "Return <2:1-2:8>\n");
    check_stmt("break;", "Break <2:1-2:7>\n");
    check_stmt("continue;", "Continue <2:1-2:10>\n");
    check_stmt("f();", "ExprStmt <2:1-2:5>\n  Call <2:1-2:4>\n    callee: Name f <2:1-2:2>\n");
    check_stmt("while c { }", "While <2:1-2:12>\n  cond: Name c <2:7-2:8>\n  Block <2:9-2:12>\n");
    check_stmt("for i in 0..n { }",
               "For i <2:1-2:18>\n  iter: Range <2:10-2:14>\n    start: IntLit 0 <2:10-2:11>\n"
               "    end: Name n <2:13-2:14>\n  Block <2:15-2:18>\n");
    check_stmt("if a { } else if b { } else if c { } else { }",
               "If <2:1-2:46>\n  cond: Name a <2:4-2:5>\n  then: Block <2:6-2:9>\n"
               "  else: If <2:15-2:46>\n    cond: Name b <2:18-2:19>\n    then: Block <2:20-2:23>\n"
               "    else: If <2:29-2:46>\n      cond: Name c <2:32-2:33>\n      then: Block <2:34-2:37>\n"
               "      else: Block <2:43-2:46>\n");
    check_stmt("if a { }", "If <2:1-2:9>\n  cond: Name a <2:4-2:5>\n  then: Block <2:6-2:9>\n");
}

/* ---------------------------------------------------------------- expressions */

static void test_precedence(void **state) {
    (void)state;
    check_stmt("1 + 2 * 3 - 4 % 5 / 6;",
               "ExprStmt <2:1-2:23>\n  Binary - <2:1-2:22>\n    lhs: Binary + <2:1-2:10>\n"
               "      lhs: IntLit 1 <2:1-2:2>\n      rhs: Binary * <2:5-2:10>\n"
               "        lhs: IntLit 2 <2:5-2:6>\n        rhs: IntLit 3 <2:9-2:10>\n"
               "    rhs: Binary / <2:13-2:22>\n      lhs: Binary % <2:13-2:18>\n"
               "        lhs: IntLit 4 <2:13-2:14>\n        rhs: IntLit 5 <2:17-2:18>\n"
               "      rhs: IntLit 6 <2:21-2:22>\n");
    check_stmt("a || b && !c == d;",
               "ExprStmt <2:1-2:19>\n  Binary || <2:1-2:18>\n    lhs: Name a <2:1-2:2>\n"
               "    rhs: Binary && <2:6-2:18>\n      lhs: Name b <2:6-2:7>\n"
               "      rhs: Binary == <2:11-2:18>\n        lhs: Unary ! <2:11-2:13>\n"
               "          Name c <2:12-2:13>\n        rhs: Name d <2:17-2:18>\n");
    check_stmt("- -a.b < 0..2 + 1;",
               "ExprStmt <2:1-2:19>\n  Binary < <2:1-2:18>\n    lhs: Unary - <2:1-2:7>\n"
               "      Unary - <2:3-2:7>\n        FieldAccess b <2:4-2:7>\n          lhs: Name a <2:4-2:5>\n"
               "    rhs: Range <2:10-2:18>\n      start: IntLit 0 <2:10-2:11>\n"
               "      end: Binary + <2:13-2:18>\n        lhs: IntLit 2 <2:13-2:14>\n"
               "        rhs: IntLit 1 <2:17-2:18>\n");
    check_stmt("(a + b) * c;",
               "ExprStmt <2:1-2:13>\n  Binary * <2:1-2:12>\n    lhs: Binary + <2:2-2:7>\n"
               "      lhs: Name a <2:2-2:3>\n      rhs: Name b <2:6-2:7>\n    rhs: Name c <2:11-2:12>\n");
    check_stmt("a <= b; ", "ExprStmt <2:1-2:8>\n  Binary <= <2:1-2:7>\n    lhs: Name a <2:1-2:2>\n    rhs: Name b <2:6-2:7>\n");
}

static void test_literals(void **state) {
    (void)state;
    check_stmt("f(1, 2.5, \"s\\n\", true, false, self, x,);",
               "ExprStmt <2:1-2:41>\n  Call <2:1-2:40>\n    callee: Name f <2:1-2:2>\n"
               "    IntLit 1 <2:3-2:4>\n    FloatLit 2.5 <2:6-2:9>\n    StrLit \"s\\n\" <2:11-2:16>\n"
               "    BoolLit true <2:18-2:22>\n    BoolLit false <2:24-2:29>\n    Self <2:31-2:35>\n"
               "    Name x <2:37-2:38>\n");
}

static void test_postfix_lists_spawn(void **state) {
    (void)state;
    check_stmt("get(r, timeout = 1.5);",
               "ExprStmt <2:1-2:23>\n  Call <2:1-2:22>\n    callee: Name get <2:1-2:4>\n"
               "    Name r <2:5-2:6>\n    NamedArg timeout <2:8-2:21>\n      FloatLit 1.5 <2:18-2:21>\n");
    check_stmt("[];", "ExprStmt <2:1-2:4>\n  List <2:1-2:3>\n");
    check_stmt("[1, 2,];", "ExprStmt <2:1-2:9>\n  List <2:1-2:8>\n    IntLit 1 <2:2-2:3>\n    IntLit 2 <2:5-2:6>\n");
    check_stmt("[w.f() for w in ws];",
               "ExprStmt <2:1-2:21>\n  Comprehension w <2:1-2:20>\n    element: Call <2:2-2:7>\n"
               "      callee: FieldAccess f <2:2-2:5>\n        lhs: Name w <2:2-2:3>\n"
               "    iter: Name ws <2:17-2:19>\n");
    check_stmt("[i for i in 0..4 if i > 0];",
               "ExprStmt <2:1-2:28>\n  Comprehension i <2:1-2:27>\n    element: Name i <2:2-2:3>\n"
               "    iter: Range <2:13-2:17>\n      start: IntLit 0 <2:13-2:14>\n      end: IntLit 4 <2:16-2:17>\n"
               "    cond: Binary > <2:21-2:26>\n      lhs: Name i <2:21-2:22>\n      rhs: IntLit 0 <2:25-2:26>\n");
    check_stmt("spawn W(1, gpus = 2) on gpu(i) on node on cpu;",
               "ExprStmt <2:1-2:47>\n  Spawn W <2:1-2:46>\n    IntLit 1 <2:9-2:10>\n"
               "    NamedArg gpus <2:12-2:20>\n      IntLit 2 <2:19-2:20>\n"
               "    Placement gpu <2:22-2:31>\n      Name i <2:29-2:30>\n"
               "    Placement node <2:32-2:39>\n    Placement cpu <2:40-2:46>\n");
    check_stmt("spawn W();", "ExprStmt <2:1-2:11>\n  Spawn W <2:1-2:10>\n");
    check_stmt("f()(x).y[z];",
               "ExprStmt <2:1-2:13>\n  Index <2:1-2:12>\n    lhs: FieldAccess y <2:1-2:9>\n"
               "      lhs: Call <2:1-2:7>\n        callee: Call <2:1-2:4>\n          callee: Name f <2:1-2:2>\n"
               "        Name x <2:5-2:6>\n    index: Name z <2:10-2:11>\n");
}

/* Every node carries its source range; names carry name_span. */
static void test_spans(void **state) {
    (void)state;
    Parsed *p = parse("actor A {\n    extern fn execute(x: tensor<f32>) -> tensor<f32> = \"model_b_execute\";\n}\n");
    assert_true(p->ok);
    const DaftNode *actor = p->mod.program->items.items[0];
    assert_int_equal(actor->name_span.begin.col, 7);
    assert_int_equal(actor->name_span.end.col, 8);
    const DaftNode *m = actor->items.items[0];
    assert_int_equal(m->span.begin.line, 2);
    assert_int_equal(m->span.begin.col, 5);
    assert_int_equal(m->span.end.col, 74);
    assert_int_equal(m->name_span.begin.col, 15);
    assert_int_equal(m->name_span.end.col, 22);
    assert_true(m->is_extern);
    assert_string_equal(m->symbol, "model_b_execute");
    assert_int_equal(m->params.items[0]->name_span.begin.col, 23);
    char *d = dump(m);
    assert_string_equal(d, "Method execute <2:5-2:74> extern symbol=\"model_b_execute\"\n"
                           "  Param x <2:23-2:37>\n    TypeTensor f32 <2:26-2:37>\n"
                           "  result: TypeTensor f32 <2:42-2:53>\n");
    free(d);
    parsed_free(p);

    /* A string literal keeps its decoded bytes and length, NUL included. */
    p = parse("const s = \"a\\0b\";");
    const DaftNode *s = p->mod.program->items.items[0]->value;
    assert_int_equal(s->kind, DAFT_N_STR_LIT);
    assert_int_equal(s->str_len, 3);
    assert_memory_equal(s->name, "a\0b", 3);
    parsed_free(p);
}

/* ---------------------------------------------------------------- errors */

static void test_error_messages(void **state) {
    (void)state;
    check_errors("fn f() { let x = 5 }", "expected ';' after expression\n");
    check_errors("fn f() { let x = ; }", "expected expression\n");
    check_errors("fn f() { foo(a b); }", "expected ')'\n");
    check_errors("fn f() { foo(a; }", "expected ')'\n");
    check_errors("fn f() { let v = [1, 2; }", "expected ']'\n");
    check_errors("fn f() { x; } }", "unexpected '}' with no matching '{'\n");
    check_errors("fn f() { if a < b < c { } }",
                 "comparison operators cannot be chained; combine comparisons with '&&'\n");
    check_errors("fn f() { for i in 0..1..2 { } }", "range operator '..' cannot be chained\n");
    check_errors("import std.tensor\nfn f() {}", "expected ';' after import declaration\n");
    check_errors("link \"a\"", "expected ';' after link declaration\n");
    check_errors("fn f() { break }", "expected ';' after 'break'\n");
    check_errors("fn f() { return }", "expected expression or ';' after 'return'\n");
    check_errors("actor A { x: i64 }", "expected ';' after field declaration\n");
    check_errors("actor A { let x = 1; }", "expected a field or method declaration, found 'let'\n");
    check_errors("x = 1;", "expected a declaration (import, link, const, actor, schedule or fn), found identifier 'x'\n");
    check_errors("fn f() { fn }", "expected statement, found 'fn'\n");
    check_errors("fn f(x: ) {}", "expected type, found ')'\n");
    check_errors("fn () {}", "expected identifier, found '('\n");
    check_errors("fn f() {", "expected '}'\n");
    check_errors("fn f() { while x y { } }", "expected '{' after the condition or range, found identifier 'y'\n");
    check_errors("actor A", "expected '(' or '{', found end of file\n");
    check_errors("fn f() -> Foo<i64> {}", "'Foo' does not take type arguments (only tensor<...> and Ref<...> do)\n");
    check_errors("fn f(x: tensor<[i64]>) {}", "expected an element type name such as f32 in tensor<...>\n");
    check_errors("fn f(x: Ref<i64, [1]>) {}", "'Ref' takes exactly one type argument\n");
    check_errors("fn f() { spawn W() on tpu; }", "expected 'gpu', 'node' or 'cpu' after 'on'\n");
    check_errors("fn f() { self.a.b = 1; }",
                 "cannot assign to this expression (only a variable, 'self.field' or an element 'x[i]' can be assigned)\n");
    check_errors("fn f() { f() = 1; }",
                 "cannot assign to this expression (only a variable, 'self.field' or an element 'x[i]' can be assigned)\n");
}

/* Error positions: a missing ';' points just after the previous token; a missing closer
 * at end of file gets a note at the opener. */
static void test_error_positions(void **state) {
    (void)state;
    Parsed *p = parse("fn f() {\n    let x = 5\n    return x;\n}\n");
    assert_int_equal(p->diags.len, 1);
    assert_int_equal(p->diags.diags[0].span.begin.line, 2);
    assert_int_equal(p->diags.diags[0].span.begin.col, 14);
    parsed_free(p);

    p = parse("fn f() {\n  g(1,\n");
    assert_int_equal(p->diags.len, 1);
    assert_string_equal(p->diags.diags[0].message, "expected expression");
    parsed_free(p);

    p = parse("fn f() {\n  g(1);\n");
    assert_int_equal(p->diags.len, 1);
    assert_string_equal(p->diags.diags[0].message, "expected '}'");
    assert_int_equal(p->diags.diags[0].span.begin.line, 2);
    assert_int_equal(p->diags.diags[0].span.begin.col, 8);
    assert_int_equal(p->diags.diags[0].note_count, 1);
    assert_string_equal(p->diags.diags[0].notes[0].message, "to match this '{'");
    assert_int_equal(p->diags.diags[0].notes[0].span.begin.col, 8);
    parsed_free(p);
}

/* One run reports several independent errors, and the rest of the program survives. */
static void test_recovery(void **state) {
    (void)state;
    const char *src =
        "import std.tensor\n"          /* missing ';' */
        "actor A {\n"
        "  x: i64\n"                   /* missing ';' */
        "  fn f() { let y = x +; }\n"  /* expected expression */
        "  fn g() { return 1; }\n"
        "}\n"
        "fn main() {\n"
        "  let a = 1\n"                /* missing ';' */
        "  let b = (a + 2;\n"          /* expected ')' */
        "  print(b);\n"
        "}\n"
        "fn ok() { }\n";
    check_errors(src, "expected ';' after import declaration\n"
                      "expected ';' after field declaration\n"
                      "expected expression\n"
                      "expected ';' after expression\n"
                      "expected ')'\n");
    Parsed *p = parse(src);
    /* actor A, main and ok are all there; A keeps both methods. */
    assert_int_equal(p->mod.program->items.len, 3);
    assert_string_equal(p->mod.program->items.items[0]->name, "A");
    assert_int_equal(p->mod.program->items.items[0]->items.len, 2);
    assert_string_equal(p->mod.program->items.items[2]->name, "ok");
    const DaftNode *main_body = p->mod.program->items.items[1]->body;
    assert_int_equal(main_body->items.len, 1); /* print(b); the rest was broken */
    parsed_free(p);

    /* Lexical errors do not disturb parsing. */
    check_errors("fn f() { let $x = 1; let y = \"\\q\"; }", "invalid character '$'\nunknown escape sequence '\\q'\n");
}

/* ---------------------------------------------------------------- robustness */

static int max_depth(const DaftNode *root) {
    /* iterative, as the AST may come from hostile input */
    typedef struct { const DaftNode *n; int d; } Item;
    size_t cap = 1024, len = 0;
    Item *stack = malloc(sizeof(Item) * cap);
    int best = 0;
    stack[len++] = (Item){root, 1};
    while (len) {
        Item it = stack[--len];
        if (!it.n)
            continue;
        if (it.d > best)
            best = it.d;
        const DaftNode *kids[] = {it.n->type, it.n->value, it.n->target, it.n->lhs, it.n->rhs,
                                  it.n->callee, it.n->cond, it.n->then, it.n->els, it.n->iter,
                                  it.n->body};
        const DaftNodeList *lists[] = {&it.n->items, &it.n->args, &it.n->params, &it.n->attrs};
        size_t need = len + 11;
        for (int i = 0; i < 4; i++)
            need += (size_t)lists[i]->len;
        if (need > cap) {
            while (need > cap)
                cap *= 2;
            stack = realloc(stack, sizeof(Item) * cap);
        }
        for (int i = 0; i < 11; i++)
            stack[len++] = (Item){kids[i], it.d + 1};
        for (int i = 0; i < 4; i++)
            for (int k = 0; k < lists[i]->len; k++)
                stack[len++] = (Item){lists[i]->items[k], it.d + 1};
    }
    free(stack);
    return best;
}

/* Parses, dumps and checks the depth bound; returns the first message or "". */
static char *hostile(const char *text, size_t size) {
    Parsed *p = parse_bytes(text, size);
    assert_true(max_depth(p->mod.program) <= DAFT_MAX_AST_DEPTH);
    FILE *null = fopen("/dev/null", "w");
    daft_ast_dump(p->mod.program, null);
    daft_diag_print(&p->diags, null, DAFT_DIAG_TEXT);
    daft_diag_print(&p->diags, null, DAFT_DIAG_JSON);
    fclose(null);
    char *msg = strdup(p->diags.len ? p->diags.diags[0].message : "");
    parsed_free(p);
    return msg;
}

static char *repeat3(const char *head, const char *a, int n, const char *mid, const char *b, int m,
                     const char *tail, size_t *len) {
    size_t la = strlen(a), lb = strlen(b);
    size_t cap = strlen(head) + la * (size_t)n + strlen(mid) + lb * (size_t)m + strlen(tail) + 1;
    char *s = malloc(cap), *q = s;
    q += sprintf(q, "%s", head);
    for (int i = 0; i < n; i++, q += la)
        memcpy(q, a, la);
    q += sprintf(q, "%s", mid);
    for (int i = 0; i < m; i++, q += lb)
        memcpy(q, b, lb);
    q += sprintf(q, "%s", tail);
    *len = (size_t)(q - s);
    return s;
}

static void expect_hostile(const char *head, const char *a, int n, const char *mid, const char *b,
                           int m, const char *tail, const char *want) {
    size_t len;
    char *s = repeat3(head, a, n, mid, b, m, tail, &len);
    char *msg = hostile(s, len);
    if (strcmp(msg, want) != 0)
        fail_msg("%s...: got '%s', want '%s'", head, msg, want);
    free(msg);
    free(s);
}

static void test_deep_nesting(void **state) {
    (void)state;
    const int N = 100000;
    const char *nest = "nesting too deep (limit 256)";
    expect_hostile("fn f() { x = ", "(", N, "1", ")", N, "; }", nest);
    expect_hostile("fn f() { x = ", "[", N, "1", "]", N, "; }", nest);
    expect_hostile("fn f() { ", "if a { ", N, "", "}", N, " }", nest);
    expect_hostile("fn f() { x = ", "f(", N, "1", ")", N, "; }", nest);
    expect_hostile("", "{", N, "", "}", N, "",
                   "expected a declaration (import, link, const, actor, schedule or fn), found '{'");
    expect_hostile("fn f() { x = ", "(", N, "", "", 0, "", nest);
    /* 256 levels are fine */
    expect_hostile("fn f() { x = ", "(", 250, "1", ")", 250, "; }", "");
    /* no brackets, but deep trees: cut off with an error */
    const char *deep = "expression or statement nested too deeply (limit 1024 levels)";
    expect_hostile("fn f() { x = ", "1 + ", N, "1", "", 0, "; }", deep);
    expect_hostile("fn f() { x = ", "-", N, "1", "", 0, "; }", deep);
    expect_hostile("fn f() { x = ", "!", N, "1", "", 0, "; }", deep);
    expect_hostile("fn f() { x = a", ".b", N, "", "", 0, "; }", deep);
    expect_hostile("fn f() { x = a", "[0]", N, "", "", 0, "; }", deep);
    expect_hostile("fn f() { x = a", "()", N, "", "", 0, "; }", deep);
    expect_hostile("fn f() { if a {} ", "else if a {} ", N, "", "", 0, "}", deep);
    /* wide is fine */
    expect_hostile("fn f() { x = [", "1, ", N, "1", "", 0, "]; }", "");
    expect_hostile("fn f() { ", "x = 1; ", N, "", "", 0, "}", "");
    expect_hostile("import a", ".b", N, ";", "", 0, "", "");
}

static void test_hostile_bytes(void **state) {
    (void)state;
    char *m = hostile("", 0);
    assert_string_equal(m, "");
    free(m);
    m = hostile("\0\0\0", 3);
    assert_string_equal(m, "invalid byte 0x00 in source");
    free(m);
    static const char bad[] = "fn f() { let s = \"\xff\xfe\"; \xc0\x80 }";
    m = hostile(bad, sizeof bad - 1);
    assert_string_equal(m, "invalid byte 0xc0 in source");
    free(m);

    /* a 1 MB line */
    size_t n = 1 << 20;
    char *s = malloc(n + 32);
    strcpy(s, "fn f() { x = ");
    size_t k = strlen(s);
    while (k + 8 < n) {
        memcpy(s + k, "a + b * ", 8);
        k += 8;
    }
    strcpy(s + k, "1; }");
    m = hostile(s, strlen(s));
    assert_string_equal(m, "expression or statement nested too deeply (limit 1024 levels)");
    free(m);
    memset(s, '\n', n);
    m = hostile(s, n);
    assert_string_equal(m, "");
    free(m);
    free(s);
}

/* Random token soup: recovery never loops or crashes; every message is a sentence (no
 * bison jargon). */
static void test_random_tokens(void **state) {
    (void)state;
    static const char *words[] = {
        "fn", "actor", "schedule", "compiled", "let", "if", "else", "for", "in", "while", "return",
        "spawn", "on", "gpu", "x", "1", "2.5", "\"s\"", "(", ")", "[", "]", "{", "}", ";", ",", ".",
        "..", "=", "+=", "+", "-", "*", "!", "<", ">", "==", "&&", "->", "@", "?", ":", "tensor",
        "Ref", "import", "link", "const", "extern", "self", "break", "$", "\"", "/*", "\n"};
    const int W = (int)(sizeof words / sizeof *words);
    srand(4242);
    char buf[2048];
    for (int round = 0; round < 3000; round++) {
        size_t len = 0;
        int count = rand() % 60;
        for (int i = 0; i < count; i++) {
            const char *w = words[rand() % W];
            size_t l = strlen(w);
            memcpy(buf + len, w, l);
            len += l;
            buf[len++] = ' ';
        }
        Parsed *p = parse_bytes(buf, len);
        for (int i = 0; i < p->diags.len; i++) {
            const char *msg = p->diags.diags[i].message;
            if (strstr(msg, "syntax error") || strstr(msg, "T_") || strstr(msg, "$end") ||
                strstr(msg, "YY"))
                fail_msg("jargon in '%s'", msg);
        }
        FILE *null = fopen("/dev/null", "w");
        daft_ast_dump(p->mod.program, null);
        fclose(null);
        parsed_free(p);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_imports_links_consts),
        cmocka_unit_test(test_actor),
        cmocka_unit_test(test_schedules_and_fns),
        cmocka_unit_test(test_types),
        cmocka_unit_test(test_statements),
        cmocka_unit_test(test_precedence),
        cmocka_unit_test(test_literals),
        cmocka_unit_test(test_postfix_lists_spawn),
        cmocka_unit_test(test_spans),
        cmocka_unit_test(test_error_messages),
        cmocka_unit_test(test_error_positions),
        cmocka_unit_test(test_recovery),
        cmocka_unit_test(test_deep_nesting),
        cmocka_unit_test(test_hostile_bytes),
        cmocka_unit_test(test_random_tokens),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
