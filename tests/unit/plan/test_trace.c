/* Tracing from the AST: the examples trace into verified plans; daft_trace_schedule (the
 * runtime's entry) gives byte-identical plans to daftc's; @inflight is honoured. Sources are
 * parsed but not checked, so these tests do not depend on the state of sema. */
#include <daft/plan.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

typedef struct Prog {
    DaftSourceSet ss;
    DaftDiagEngine diags;
    DaftArena *arena;
    DaftModule mod;
    DaftTraceResult res;
} Prog;

static Prog *trace_file(const char *path) {
    Prog *p = calloc(1, sizeof *p);
    daft_diag_init(&p->diags, &p->ss);
    p->arena = daft_arena_new();
    DaftSource *src = daft_source_load(&p->ss, path);
    assert_non_null(src);
    assert_true(daft_parse(p->arena, src, &p->diags, &p->mod));
    DaftTraceOptions opt = {0};
    opt.plan.verify = true;
    bool ok = daft_trace_program(&p->mod, &p->diags, &opt, &p->res);
    if (!ok)
        daft_diag_print(&p->diags, stderr, DAFT_DIAG_TEXT);
    assert_true(ok);
    return p;
}

static void prog_free(Prog *p) {
    daft_trace_result_free(&p->res);
    daft_arena_free(p->arena);
    daft_diag_free(&p->diags);
    daft_source_set_free(&p->ss);
    free(p);
}

static const DaftPlan *find_plan(const Prog *p, const char *name) {
    for (int i = 0; i < p->res.nplans; i++)
        if (strcmp(p->res.plans[i]->name, name) == 0)
            return p->res.plans[i];
    fail_msg("no plan %s", name);
    return NULL;
}

static int count_ops(const DaftPlan *p, DaftPlanOpKind kind) {
    int n = 0;
    for (int a = 0; a < p->nactors; a++)
        for (int i = 0; i < p->actors[a].nops; i++)
            n += p->actors[a].ops[i].kind == kind;
    return n;
}

static void test_examples(void **state) {
    (void)state;
    Prog *p = trace_file("examples/pp.daft");
    const DaftPlan *pp = find_plan(p, "pp_schedule");
    assert_int_equal(pp->inflight, 4);                 /* @inflight(DEPTH) */
    assert_int_equal(pp->nactors, 4);
    assert_int_equal(pp->channels[1].transport, DAFT_TRANSPORT_NCCL);
    prog_free(p);

    p = trace_file("examples/dp_train.daft");
    const DaftPlan *dp = find_plan(p, "train_step");
    assert_int_equal(count_ops(dp, DAFT_OP_COLLECTIVE), 4);   /* 2 layers x 2 replicas */
    assert_int_equal(dp->noutputs, 2);
    prog_free(p);

    p = trace_file("examples/tp.daft");
    const DaftPlan *tp = find_plan(p, "tp_schedule");
    assert_int_equal(tp->ngroups, 1);
    assert_int_equal(tp->groups[0].transport, DAFT_TRANSPORT_NCCL);
    prog_free(p);

    p = trace_file("examples/kv_transfer.daft");
    find_plan(p, "decode_step");
    prog_free(p);
}

static char *render(const DaftPlan *p) {
    char *buf;
    size_t len;
    FILE *f = open_memstream(&buf, &len);
    daft_plan_print(p, f, DAFT_PLAN_TEXT);
    fclose(f);
    return buf;
}

/* The runtime traces with the actors it knows; with the same places the plan must be the
 * one daftc printed, apart from the "spawned as" origins the runtime does not pass. */
static void test_runtime_entry_matches(void **state) {
    (void)state;
    Prog *p = trace_file("tests/plan/tp.daft");
    const DaftPlan *ahead = find_plan(p, "tp");
    const DaftNode *sched = NULL;
    for (int i = 0; i < p->mod.program->items.len; i++)
        if (p->mod.program->items.items[i]->kind == DAFT_N_SCHEDULE)
            sched = p->mod.program->items.items[i];
    DaftGraphActor ws[4];
    for (int i = 0; i < 4; i++) {
        ws[i] = (DaftGraphActor){NULL, "Worker", 1, ahead->actors[i].place.node, ahead->actors[i].place.gpu, NULL};
        char name[16];
        snprintf(name, sizeof name, "w%d", i);
        ws[i].name = strdup(name);
    }
    const DaftGraphActor *args[3] = {ws, ws, NULL};
    int nargs[3] = {4, 4, 0};
    DaftGraph *g = daft_trace_schedule(&p->mod, sched, args, nargs, &p->diags, 0);
    assert_non_null(g);
    DaftPlan *rt;
    char err[256];
    assert_int_equal(daft_plan_build(g, NULL, &rt, err, sizeof err), 0);
    for (int a = 0; a < rt->nactors; a++)
        rt->actors[a].origin = ahead->actors[a].origin;
    char *x = render(ahead), *y = render(rt);
    assert_string_equal(x, y);
    free(x), free(y);
    for (int a = 0; a < rt->nactors; a++)
        rt->actors[a].origin = NULL;
    daft_plan_free(rt);
    daft_graph_free(g);
    for (int i = 0; i < 4; i++)
        free((char *)ws[i].name);
    prog_free(p);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_examples),
        cmocka_unit_test(test_runtime_entry_matches),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
