/* Unit tests of semantic analysis: small programs parsed and checked from strings; the
 * diagnostics (count, message, position) and the annotations left for later phases
 * (ty, decl, slot) are asserted. */
#include <daft/lang.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

typedef struct Fixture {
    DaftSourceSet sources;
    DaftDiagEngine diags;
    DaftArena *arena;
    DaftModule mod;
    bool parsed, checked;
} Fixture;

static Fixture *check(const char *text) {
    static Fixture f;
    memset(&f, 0, sizeof f);
    daft_diag_init(&f.diags, &f.sources);
    f.arena = daft_arena_new();
    DaftSource *src = daft_source_from_string(&f.sources, "t.daft", text, strlen(text));
    f.parsed = daft_parse(f.arena, src, &f.diags, &f.mod);
    f.checked = f.parsed && daft_check(&f.mod, &f.diags);
    return &f;
}

static void done(Fixture *f) {
    daft_arena_free(f->arena);
    daft_diag_free(&f->diags);
    daft_source_set_free(&f->sources);
}

static const DaftDiag *diag(Fixture *f, int i) {
    assert_true(i < f->diags.len);
    return &f->diags.diags[i];
}

static void assert_diag(Fixture *f, int i, DaftSeverity sev, int line, int col, const char *msg) {
    const DaftDiag *d = diag(f, i);
    assert_int_equal(d->severity, sev);
    assert_string_equal(d->message, msg);
    assert_int_equal(d->span.begin.line, line);
    assert_int_equal(d->span.begin.col, col);
}

static DaftNode *item(Fixture *f, const char *name) {
    DaftNode *p = f->mod.program;
    for (int i = 0; i < p->items.len; i++)
        if (p->items.items[i]->name && strcmp(p->items.items[i]->name, name) == 0)
            return p->items.items[i];
    fail_msg("no top-level '%s'", name);
    return NULL;
}

static void test_clean_program(void **state) {
    (void)state;
    Fixture *f = check("import std.tensor as T;\n"
                       "actor A(gpus = 1) {\n"
                       "    w: tensor<f32>;\n"
                       "    fn init(seed: i64) { self.w = T.randn([4, 4], seed); }\n"
                       "    @hint(tensor<f32>, comm = nccl, shape = auto)\n"
                       "    fn run(x: tensor<f32>) -> tensor<f32> { return T.relu(T.matmul(x, self.w)); }\n"
                       "}\n"
                       "compiled schedule chain(a: A, b: A, x: tensor<f32>) -> Ref<tensor<f32>> {\n"
                       "    let t = a.run(x);\n"
                       "    return b.run(t);\n"
                       "}\n"
                       "fn main() {\n"
                       "    let a = spawn A(1);\n"
                       "    let b = spawn A(2) on gpu(1);\n"
                       "    for i in 0..3 { print(T.sum(get(chain(a, b, T.randn([2, 4], i))))); }\n"
                       "}\n");
    assert_true(f->parsed);
    assert_int_equal(f->diags.error_count, 0);
    assert_int_equal(f->diags.warning_count, 0);
    assert_true(f->checked);
    done(f);
}

static void test_annotations(void **state) {
    (void)state;
    Fixture *f = check("actor W {\n"
                       "    fn step(x: i64) -> i64 { return x + 1; }\n"
                       "}\n"
                       "fn main() {\n"
                       "    let w = spawn W();\n"
                       "    let r = w.step(2);\n"
                       "    print(get(r));\n"
                       "}\n");
    assert_true(f->checked);
    DaftNode *mainfn = item(f, "main");
    DaftNode *let_w = mainfn->body->items.items[0];
    DaftNode *let_r = mainfn->body->items.items[1];
    assert_int_equal(let_w->ty->kind, DAFT_TY_ACTOR);
    assert_ptr_equal(let_w->ty->actor_class, item(f, "W"));
    assert_int_equal(let_w->slot, 0);
    assert_int_equal(let_r->slot, 1);
    /* w.step(2): a Ref<i64>, decl = the Method */
    DaftNode *call = let_r->value;
    assert_int_equal(call->kind, DAFT_N_CALL);
    assert_int_equal(call->ty->kind, DAFT_TY_REF);
    assert_int_equal(call->ty->elem->kind, DAFT_TY_I64);
    assert_int_equal(call->decl->kind, DAFT_N_METHOD);
    assert_string_equal(call->decl->name, "step");
    /* the receiver name points at the let */
    assert_ptr_equal(call->callee->lhs->decl, let_w);
    assert_int_equal(call->callee->lhs->slot, 0);
    /* get(r): i64, builtin (decl NULL) */
    DaftNode *print = mainfn->body->items.items[2]->value;
    DaftNode *get = print->args.items[0];
    assert_int_equal(get->ty->kind, DAFT_TY_I64);
    assert_null(get->decl);
    /* inside the method, `x + 1` is i64 and x refers to the param, slot 0 */
    DaftNode *m = item(f, "W")->items.items[0];
    DaftNode *ret = m->body->items.items[0];
    assert_int_equal(ret->value->ty->kind, DAFT_TY_I64);
    assert_ptr_equal(ret->value->lhs->decl, m->params.items[0]);
    assert_int_equal(ret->value->lhs->slot, 0);
    done(f);
}

static void test_literal_adapts(void **state) {
    (void)state;
    Fixture *f = check("fn main() {\n"
                       "    let x: f32 = 1;\n"
                       "    let y = x * 2;\n"
                       "    let z: f32 = 0.5;\n"
                       "    print(y, z);\n"
                       "}\n");
    assert_true(f->checked);
    DaftNode *b = item(f, "main")->body;
    assert_int_equal(b->items.items[0]->value->ty->kind, DAFT_TY_F32);
    assert_int_equal(b->items.items[1]->ty->kind, DAFT_TY_F32);
    assert_int_equal(b->items.items[2]->value->ty->kind, DAFT_TY_F32);
    done(f);
}

static void test_undeclared_with_suggestion(void **state) {
    (void)state;
    Fixture *f = check("fn main() {\n    let count = 1;\n    print(cont);\n}\n");
    assert_int_equal(f->diags.error_count, 1);
    assert_diag(f, 0, DAFT_SEV_ERROR, 3, 11, "use of undeclared name 'cont'");
    assert_int_equal(diag(f, 0)->note_count, 1);
    assert_string_equal(diag(f, 0)->notes[0].message, "did you mean 'count'?");
    assert_int_equal(diag(f, 0)->notes[0].span.begin.line, 2);
    done(f);
}

static void test_redefinition_and_shadowing(void **state) {
    (void)state;
    Fixture *f = check("fn main() {\n    let h = 1;\n    if true { let h = 2; print(h); }\n    let h = 3;\n    print(h);\n}\n");
    assert_int_equal(f->diags.error_count, 1);
    assert_diag(f, 0, DAFT_SEV_ERROR, 4, 9, "redefinition of 'h'");
    assert_string_equal(diag(f, 0)->notes[0].message, "previous definition is here");
    assert_int_equal(diag(f, 0)->notes[0].span.begin.line, 2);
    done(f);
}

static void test_several_errors_no_cascade(void **state) {
    (void)state;
    Fixture *f = check("fn main() {\n"
                       "    let a = nope + 1;\n"   /* one error, not two */
                       "    let b: bool = a;\n"    /* a is <error>: silent */
                       "    let c: i64 = true;\n"  /* independent error */
                       "    print(b, c);\n"
                       "}\n");
    assert_int_equal(f->diags.error_count, 2);
    assert_diag(f, 0, DAFT_SEV_ERROR, 2, 13, "use of undeclared name 'nope'");
    assert_diag(f, 1, DAFT_SEV_ERROR, 4, 18, "cannot use a value of type 'bool' where 'i64' is expected");
    done(f);
}

static void test_call_arity_note(void **state) {
    (void)state;
    Fixture *f = check("fn add(a: i64, b: i64) -> i64 { return a + b; }\nfn main() { print(add(1)); }\n");
    assert_int_equal(f->diags.error_count, 1);
    assert_string_equal(diag(f, 0)->message, "too few arguments to 'add': expected 2, have 1");
    assert_string_equal(diag(f, 0)->notes[0].message, "'add' declared here");
    assert_int_equal(diag(f, 0)->notes[0].span.begin.line, 1);
    assert_int_equal(diag(f, 0)->notes[0].span.begin.col, 4);
    done(f);
}

static void test_ref_passed_as_value(void **state) {
    (void)state;
    /* a Ref<T> where a method expects T is dataflow, accepted; where a function expects T
     * it is an error with a note suggesting get */
    Fixture *f = check("actor W {\n"
                       "    fn a() -> i64 { return 1; }\n"
                       "    fn b(x: i64) -> i64 { return x; }\n"
                       "}\n"
                       "fn twice(x: i64) -> i64 { return 2 * x; }\n"
                       "fn main() {\n"
                       "    let w = spawn W();\n"
                       "    let r = w.b(w.a());\n"
                       "    print(get(r), twice(w.a()));\n"
                       "}\n");
    assert_int_equal(f->diags.error_count, 1);
    assert_diag(f, 0, DAFT_SEV_ERROR, 9, 25, "cannot use a value of type 'Ref<i64>' where 'i64' is expected");
    assert_string_equal(diag(f, 0)->notes[0].message, "use 'get(...)' to wait for the value of a Ref");
    done(f);
}

static void test_self_call_is_direct(void **state) {
    (void)state;
    Fixture *f = check("actor W {\n"
                       "    fn a() -> i64 { return 1; }\n"
                       "    fn b() -> i64 { return self.a() + 1; }\n"
                       "}\nfn main() {}\n");
    assert_true(f->checked);
    DaftNode *b = item(f, "W")->items.items[1];
    DaftNode *call = b->body->items.items[0]->value->lhs;
    assert_int_equal(call->ty->kind, DAFT_TY_I64);
    assert_int_equal(call->decl->kind, DAFT_N_METHOD);
    done(f);
}

static void test_hint_rules(void **state) {
    (void)state;
    Fixture *f = check("actor W(cpus = 1) {\n"
                       "    @hint(f64, comm = nccl)\n"
                       "    fn loss() -> f64 { return 0.5; }\n"
                       "    @hint(tensor<f32>, comm = nccl)\n"
                       "    fn out(x: tensor<f32>) -> tensor<f32> { return x; }\n"
                       "}\nfn main() {}\n");
    assert_int_equal(f->diags.error_count, 2);
    assert_diag(f, 0, DAFT_SEV_ERROR, 2, 23, "comm = nccl requires a tensor result, not 'f64'");
    assert_diag(f, 1, DAFT_SEV_ERROR, 4, 31, "a gpus = 0 actor cannot return nccl tensors");
    done(f);
}

static void test_compiled_rules(void **state) {
    (void)state;
    Fixture *f = check("actor W {\n"
                       "    fn s(x: i64) -> i64 { return x; }\n"
                       "}\n"
                       "compiled schedule c(ws: [W], x: i64) -> Ref<i64> {\n"
                       "    let r = ws[0].s(x);\n"
                       "    for i in 1..len(ws) { if i == 1 { r = ws[i].s(r); } }\n" /* static: fine */
                       "    let v = get(r);\n"
                       "    return ws[x].s(v);\n"
                       "}\nfn main() {}\n");
    assert_int_equal(f->diags.error_count, 2);
    assert_diag(f, 0, DAFT_SEV_ERROR, 7, 13,
                "'get' cannot be used in a compiled schedule: it is traced once and cannot wait for values");
    assert_diag(f, 1, DAFT_SEV_ERROR, 8, 15, "cannot index 'ws' with a run-time value in a compiled schedule");
    done(f);
}

static void test_std_decls_and_dtype_binding(void **state) {
    (void)state;
    Fixture *f = check("import std.tensor as T;\n"
                       "import std.collective;\n"
                       "fn main() {\n"
                       "    let a = T.zeros([2, 2], dtype = bf16);\n"
                       "    let b = T.add(a, 1);\n"
                       "    let n: f64 = T.sum(b);\n"
                       "    print(n);\n"
                       "}\n");
    assert_true(f->checked);
    DaftNode *body = item(f, "main")->body;
    DaftType *tb = body->items.items[1]->ty;
    assert_int_equal(tb->kind, DAFT_TY_TENSOR);
    assert_int_equal(tb->dtype, DAFT_DT_BF16);
    DaftNode *call = body->items.items[1]->value;
    assert_int_equal(call->decl->kind, DAFT_N_FN);
    assert_true(call->decl->is_extern);
    assert_string_equal(call->decl->symbol, "daft_std_tensor_add");
    done(f);
}

static void test_warnings(void **state) {
    (void)state;
    Fixture *f = check("actor W { fn s() -> i64 { return 1; } }\n"
                       "fn main() {\n"
                       "    let w = spawn W();\n"
                       "    w.s();\n"
                       "    let r = w.s();\n"
                       "    let _k = w.s();\n"
                       "    let unused = 1;\n"
                       "    return;\n"
                       "    print(1);\n"
                       "}\n");
    assert_int_equal(f->diags.error_count, 0);
    assert_int_equal(f->diags.warning_count, 4);
    assert_diag(f, 0, DAFT_SEV_WARNING, 4, 5, "Ref returned by 'W.s' is never used");
    assert_diag(f, 1, DAFT_SEV_WARNING, 9, 5, "code will never be executed");
    assert_diag(f, 2, DAFT_SEV_WARNING, 5, 9, "Ref 'r' is never consumed");
    assert_diag(f, 3, DAFT_SEV_WARNING, 7, 9, "unused variable 'unused'");
    done(f);
}

static void test_deep_nesting_is_safe(void **state) {
    (void)state;
    /* 200 nested parentheses and a long chain of additions: no stack trouble */
    char buf[8192];
    size_t n = 0;
    n += (size_t)snprintf(buf + n, sizeof buf - n, "fn main() { let x = ");
    for (int i = 0; i < 200; i++)
        buf[n++] = '(';
    buf[n++] = '1';
    for (int i = 0; i < 200; i++)
        buf[n++] = ')';
    for (int i = 0; i < 500; i++)
        n += (size_t)snprintf(buf + n, sizeof buf - n, " + 1");
    n += (size_t)snprintf(buf + n, sizeof buf - n, "; print(x); }\n");
    Fixture *f = check(buf);
    assert_true(f->parsed);
    assert_int_equal(f->diags.error_count, 0);
    done(f);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_clean_program),
        cmocka_unit_test(test_annotations),
        cmocka_unit_test(test_literal_adapts),
        cmocka_unit_test(test_undeclared_with_suggestion),
        cmocka_unit_test(test_redefinition_and_shadowing),
        cmocka_unit_test(test_several_errors_no_cascade),
        cmocka_unit_test(test_call_arity_note),
        cmocka_unit_test(test_ref_passed_as_value),
        cmocka_unit_test(test_self_call_is_direct),
        cmocka_unit_test(test_hint_rules),
        cmocka_unit_test(test_compiled_rules),
        cmocka_unit_test(test_std_decls_and_dtype_binding),
        cmocka_unit_test(test_warnings),
        cmocka_unit_test(test_deep_nesting_is_safe),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
