/* Compiled execution: plans built with libdaftplan (daft_graph_* + daft_plan_build,
 * cpu_only) and run by the runtime. Covers: a two-actor plan with a broadcast input,
 * an actor-to-actor channel and an output that is a driver input; pipelining with more
 * executions submitted than plan->inflight (the driver blocks, results stay in order);
 * an application error in one execution only; CPU collectives (allreduce sum and max,
 * allgather, broadcast, reducescatter) over 3 actors; two plans on one actor plus interpreted
 * calls; a large tensor (chunked channel messages); kill -9 of an actor during a
 * compiled run (error naming actor, method, cause within 1 s; no hang; /dev/shm clean;
 * a replacement actor and a new plan work). */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdbool.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <daft/plan.h>
#include "daftrt.h"
#include "proc_check.h"

static int g_pipe[2] = {-1, -1};
static DaftGraph *g_graphs[16];
static int g_ngraphs;

static int w_add(DaftActorCtx *ctx, void *st, const DaftValue *a, int n, DaftValue *out)
{
    (void)st;
    if (n != 2 || a[0].kind != DAFT_V_I64 || a[1].kind != DAFT_V_I64)
        return daft_raise(ctx, "add expects two i64");
    *out = daft_value_i64(a[0].as.i64 + a[1].as.i64);
    return 0;
}

static int w_echo(DaftActorCtx *ctx, void *st, const DaftValue *a, int n, DaftValue *out)
{
    (void)ctx; (void)st; (void)n;
    return daft_value_copy(out, &a[0]);
}

static int w_check(DaftActorCtx *ctx, void *st, const DaftValue *a, int n, DaftValue *out)
{
    (void)st; (void)n;
    if (a[0].as.i64 == 13)
        return daft_raise(ctx, "unlucky %lld", (long long)a[0].as.i64);
    if (a[0].as.i64 == 42) {
        char b = 1;
        if (write(g_pipe[1], &b, 1) != 1)
            return daft_raise(ctx, "pipe");
        for (;;)
            pause();
    }
    *out = daft_value_i64(a[0].as.i64);
    return 0;
}

static int w_sum(DaftActorCtx *ctx, void *st, const DaftValue *a, int n, DaftValue *out)
{
    (void)st; (void)n;
    if (a[0].kind != DAFT_V_TENSOR)
        return daft_raise(ctx, "sum expects a tensor");
    double s = 0;
    const float *p = a[0].as.tensor.data;
    for (int64_t i = 0; i < daft_tensor_numel(&a[0].as.tensor); i++)
        s += p[i];
    *out = daft_value_f64(s);
    return 0;
}

/* make(x, i): f32[6] filled with x + i */
static int w_make(DaftActorCtx *ctx, void *st, const DaftValue *a, int n, DaftValue *out)
{
    (void)ctx; (void)st; (void)n;
    int64_t dims[1] = {6};
    *out = daft_value_tensor(DAFT_RT_F32, 1, dims, NULL);
    for (int i = 0; i < 6; i++)
        ((float *)out->as.tensor.data)[i] = (float)(a[0].as.i64 + a[1].as.i64);
    return 0;
}

static const DaftMethodDesc w_methods[] = {
    {"add", w_add}, {"echo", w_echo}, {"check", w_check}, {"sum", w_sum}, {"make", w_make}};
static const DaftClassDesc w_class = {"W", 0, NULL, NULL, w_methods, 5};

typedef struct Fix {
    DaftRt *rt;
    int cls, shm_before;
} Fix;

static int setup(void **st)
{
    Fix *f = calloc(1, sizeof *f);
    f->shm_before = pc_count_dev_shm();
    f->rt = daft_rt_init(NULL, NULL);
    f->cls = daft_rt_register_class(f->rt, &w_class);
    *st = f;
    return f->rt && f->cls == 0 ? 0 : -1;
}

static int teardown(void **st)
{
    Fix *f = *st;
    daft_rt_shutdown(f->rt);
    while (g_ngraphs)
        daft_graph_free(g_graphs[--g_ngraphs]);
    assert_true(pc_no_children());
    assert_int_equal(pc_count_dev_shm(), f->shm_before);
    free(f);
    return 0;
}

static DaftActor spawn(Fix *f, const char *name)
{
    DaftSpawnOpts o = {name, -1, -1};
    DaftActor a;
    assert_int_equal(daft_rt_spawn(f->rt, f->cls, NULL, 0, &o, &a), 0);
    return a;
}

static DaftPlan *build(DaftGraph *g, int inflight)
{
    DaftPlanOptions o = {0};
    o.cpu_only = true;
    o.inflight = inflight;
    DaftPlan *p = NULL;
    char err[256];
    if (daft_plan_build(g, &o, &p, err, sizeof err))
        fail_msg("plan: %s", err);
    /* The plan still points into the graph (method names), so the graph lives until
     * teardown; daft/plan.h promises otherwise — reported to the planner's owner. */
    g_graphs[g_ngraphs++] = g;
    return p;
}

/* x -> a.add(x, 3) = t; b.echo(t) = u; b.add(t, x) = w; outputs u, w, x */
static DaftPlan *chain_plan(int inflight)
{
    DaftGraph *g = daft_graph_new("chain");
    int a = daft_graph_add_actor(g, "a", "W", 0, -1, -1);
    int b = daft_graph_add_actor(g, "b", "W", 0, -1, -1);
    int x = daft_graph_add_input(g, "x", daft_payload_scalar(DAFT_PAY_I64));
    DaftCommHint h = {0};
    DaftGraphArg a1[2] = {daft_arg_value(x), daft_arg_i64(3)};
    int t = daft_graph_add_task(g, a, "add", a1, 2, daft_payload_scalar(DAFT_PAY_I64), h);
    DaftGraphArg a2[1] = {daft_arg_value(t)};
    int u = daft_graph_add_task(g, b, "echo", a2, 1, daft_payload_scalar(DAFT_PAY_I64), h);
    DaftGraphArg a3[2] = {daft_arg_value(t), daft_arg_value(x)};
    int w = daft_graph_add_task(g, b, "add", a3, 2, daft_payload_scalar(DAFT_PAY_I64), h);
    daft_graph_add_output(g, "u", u);
    daft_graph_add_output(g, "w", w);
    daft_graph_add_output(g, "x", x);
    return build(g, inflight);
}

/* x -> a.check(x) -> out */
static DaftPlan *check_plan(const char *name)
{
    DaftGraph *g = daft_graph_new(name);
    int a = daft_graph_add_actor(g, "a", "W", 0, -1, -1);
    int x = daft_graph_add_input(g, "x", daft_payload_scalar(DAFT_PAY_I64));
    DaftCommHint h = {0};
    DaftGraphArg a1[1] = {daft_arg_value(x)};
    int y = daft_graph_add_task(g, a, "check", a1, 1, daft_payload_scalar(DAFT_PAY_I64), h);
    daft_graph_add_output(g, "y", y);
    return build(g, 2);
}

static void test_chain_pipelined(void **st)
{
    Fix *f = *st;
    DaftActor as[2] = {spawn(f, "a"), spawn(f, "b")};
    DaftPlan *plan = chain_plan(2);
    DaftRtPlan *p;
    assert_int_equal(daft_rt_plan_load(f->rt, plan, as, 2, &p), 0);
    int64_t next = 0;
    for (int64_t i = 0; i < 200; i++) {
        DaftValue x = daft_value_i64(i);
        assert_int_equal(daft_rt_plan_submit(f->rt, p, &x, 1, 10.0), 0);
        if (i % 7 == 6) /* drain in bursts: up to 7 submitted, inflight bound 2 */
            while (daft_rt_plan_pending(p)) {
                DaftValue out[3];
                assert_int_equal(daft_rt_plan_result(f->rt, p, 10.0, out, 3), 0);
                assert_int_equal(out[0].as.i64, next + 3);
                assert_int_equal(out[1].as.i64, 2 * next + 3);
                assert_int_equal(out[2].as.i64, next);
                next++;
            }
    }
    while (daft_rt_plan_pending(p)) {
        DaftValue out[3];
        assert_int_equal(daft_rt_plan_result(f->rt, p, 10.0, out, 3), 0);
        assert_int_equal(out[1].as.i64, 2 * next + 3);
        next++;
    }
    assert_int_equal(next, 200);
    DaftValue out[3];
    assert_int_equal(daft_rt_plan_result(f->rt, p, 0.1, out, 3), DAFT_EINVAL);
    daft_rt_plan_unload(f->rt, p);
    daft_plan_free(plan);
}

static void test_error_one_execution(void **st)
{
    Fix *f = *st;
    DaftActor a = spawn(f, "a");
    DaftPlan *plan = check_plan("checker");
    DaftRtPlan *p;
    assert_int_equal(daft_rt_plan_load(f->rt, plan, &a, 1, &p), 0);
    for (int64_t i = 12; i <= 14; i++) {
        DaftValue x = daft_value_i64(i);
        assert_int_equal(daft_rt_plan_submit(f->rt, p, &x, 1, 10.0), 0);
    }
    DaftValue y;
    assert_int_equal(daft_rt_plan_result(f->rt, p, 10.0, &y, 1), 0);
    assert_int_equal(y.as.i64, 12);
    assert_int_equal(daft_rt_plan_result(f->rt, p, 10.0, &y, 1), 0);
    assert_int_equal(y.kind, DAFT_V_ERROR);
    assert_string_equal(y.as.error.msg, "actor 'a' (W) method 'check': unlucky 13");
    daft_value_free(&y);
    assert_int_equal(daft_rt_plan_result(f->rt, p, 10.0, &y, 1), 0);
    assert_int_equal(y.as.i64, 14);
    daft_rt_plan_unload(f->rt, p);
    daft_plan_free(plan);
}

static void test_two_plans_one_actor(void **st)
{
    Fix *f = *st;
    DaftActor as[2] = {spawn(f, "a"), spawn(f, "b")};
    DaftPlan *p1 = chain_plan(2), *p2 = check_plan("second");
    DaftRtPlan *r1, *r2;
    assert_int_equal(daft_rt_plan_load(f->rt, p1, as, 2, &r1), 0);
    assert_int_equal(daft_rt_plan_load(f->rt, p2, &as[0], 1, &r2), 0);
    for (int64_t i = 0; i < 40; i++) { /* 13 fails; 42 would block */
        DaftValue x = daft_value_i64(i), out[3], y;
        assert_int_equal(daft_rt_plan_submit(f->rt, r2, &x, 1, 10.0), 0);
        assert_int_equal(daft_rt_plan_submit(f->rt, r1, &x, 1, 10.0), 0);
        DaftRef r; /* and an interpreted call in between */
        DaftValue args[2] = {daft_value_i64(i), daft_value_i64(1)};
        assert_int_equal(daft_rt_call(f->rt, as[0], 0, args, 2, &r), 0);
        assert_int_equal(daft_rt_plan_result(f->rt, r1, 10.0, out, 3), 0);
        assert_int_equal(out[1].as.i64, 2 * i + 3);
        assert_int_equal(daft_rt_plan_result(f->rt, r2, 10.0, &y, 1), 0);
        assert_int_equal(y.kind, i == 13 ? DAFT_V_ERROR : DAFT_V_I64);
        if (i != 13)
            assert_int_equal(y.as.i64, i);
        daft_value_free(&y);
        DaftValue v;
        assert_int_equal(daft_rt_get(f->rt, r, 10.0, &v), 0);
        assert_int_equal(v.as.i64, i + 1);
        daft_rt_release(f->rt, r);
    }
    daft_rt_plan_unload(f->rt, r2);
    daft_rt_plan_unload(f->rt, r1);
    daft_plan_free(p1);
    daft_plan_free(p2);
}

static void test_large_tensor(void **st)
{
    Fix *f = *st;
    DaftActor a = spawn(f, "a");
    DaftGraph *g = daft_graph_new("big");
    int ga = daft_graph_add_actor(g, "a", "W", 0, -1, -1);
    int64_t dims[1] = {DAFT_DIM_DYNAMIC};
    int x = daft_graph_add_input(g, "x", daft_payload_tensor(DAFT_DT_F32, 1, dims));
    DaftCommHint h = {0};
    DaftGraphArg a1[1] = {daft_arg_value(x)};
    int s = daft_graph_add_task(g, ga, "sum", a1, 1, daft_payload_scalar(DAFT_PAY_F64), h);
    daft_graph_add_output(g, "s", s);
    DaftPlan *plan = build(g, 2);
    DaftRtPlan *p;
    assert_int_equal(daft_rt_plan_load(f->rt, plan, &a, 1, &p), 0);
    int64_t n = 1 << 20;
    DaftValue t = daft_value_tensor(DAFT_RT_F32, 1, &n, NULL);
    for (int64_t i = 0; i < n; i++)
        ((float *)t.as.tensor.data)[i] = 0.25f;
    for (int k = 0; k < 3; k++)
        assert_int_equal(daft_rt_plan_submit(f->rt, p, &t, 1, 10.0), 0);
    for (int k = 0; k < 3; k++) {
        DaftValue y;
        assert_int_equal(daft_rt_plan_result(f->rt, p, 10.0, &y, 1), 0);
        assert_true(y.kind == DAFT_V_F64 && y.as.f64 == 0.25 * (double)n);
    }
    daft_value_free(&t);
    daft_rt_plan_unload(f->rt, p);
    daft_plan_free(plan);
}

/* Collectives over 3 actors: allreduce (sum, max), allgather, broadcast, reducescatter. */
static void test_collectives(void **st)
{
    Fix *f = *st;
    DaftActor as[3] = {spawn(f, "w0"), spawn(f, "w1"), spawn(f, "w2")};
    DaftGraph *g = daft_graph_new("colls");
    int m[3], v[3], sum[3], mx[3], gat[3], bc[3], rs[3];
    int64_t d6[1] = {6};
    DaftPayload t6 = daft_payload_tensor(DAFT_DT_F32, 1, d6);
    DaftCommHint h = {0};
    int x = daft_graph_add_input(g, "x", daft_payload_scalar(DAFT_PAY_I64));
    for (int i = 0; i < 3; i++) {
        char nm[8];
        snprintf(nm, sizeof nm, "w%d", i);
        m[i] = daft_graph_add_actor(g, nm, "W", 0, -1, -1);
        DaftGraphArg a[2] = {daft_arg_value(x), daft_arg_i64(i)};
        v[i] = daft_graph_add_task(g, m[i], "make", a, 2, t6, h);
    }
    daft_graph_add_collective(g, DAFT_COLL_ALLREDUCE, DAFT_REDUCE_SUM, 0, m, v, 3, sum);
    daft_graph_add_collective(g, DAFT_COLL_ALLREDUCE, DAFT_REDUCE_MAX, 0, m, v, 3, mx);
    daft_graph_add_collective(g, DAFT_COLL_ALLGATHER, DAFT_REDUCE_SUM, 0, m, v, 3, gat);
    daft_graph_add_collective(g, DAFT_COLL_BROADCAST, DAFT_REDUCE_SUM, 1, m, v, 3, bc);
    daft_graph_add_collective(g, DAFT_COLL_REDUCESCATTER, DAFT_REDUCE_SUM, 0, m, sum, 3, rs);
    daft_graph_add_output(g, "sum0", sum[0]);
    daft_graph_add_output(g, "max2", mx[2]);
    daft_graph_add_output(g, "gat1", gat[1]);
    daft_graph_add_output(g, "bc2", bc[2]);
    daft_graph_add_output(g, "rs2", rs[2]);
    DaftPlan *plan = build(g, 2);
    DaftRtPlan *p;
    assert_int_equal(daft_rt_plan_load(f->rt, plan, as, 3, &p), 0);
    for (int64_t e = 0; e < 20; e++) {
        DaftValue xv = daft_value_i64(10 * e);
        assert_int_equal(daft_rt_plan_submit(f->rt, p, &xv, 1, 10.0), 0);
    }
    for (int64_t e = 0; e < 20; e++) {
        DaftValue out[5];
        float xf = (float)(10 * e);
        assert_int_equal(daft_rt_plan_result(f->rt, p, 10.0, out, 5), 0);
        for (int k = 0; k < 5; k++)
            assert_int_equal(out[k].kind, DAFT_V_TENSOR);
        float *s0 = out[0].as.tensor.data, *m2 = out[1].as.tensor.data, *g1 = out[2].as.tensor.data,
              *b2 = out[3].as.tensor.data, *r2 = out[4].as.tensor.data;
        assert_true(s0[5] == 3 * xf + 3 && m2[0] == xf + 2 && b2[3] == xf + 1);
        assert_int_equal(out[2].as.tensor.dims[0], 18);
        assert_true(g1[0] == xf && g1[6] == xf + 1 && g1[17] == xf + 2);
        assert_int_equal(out[4].as.tensor.dims[0], 2); /* 3 x (3x + 3) summed, third part */
        assert_true(r2[0] == 3 * (3 * xf + 3) && r2[1] == r2[0]);
        for (int k = 0; k < 5; k++)
            daft_value_free(&out[k]);
    }
    daft_rt_plan_unload(f->rt, p);
    daft_plan_free(plan);
}

static void test_kill_during_compiled_run(void **st)
{
    Fix *f = *st;
    assert_int_equal(pipe(g_pipe), 0);
    DaftActor a = spawn(f, "w1");
    DaftPlan *plan = check_plan("step");
    DaftRtPlan *p;
    assert_int_equal(daft_rt_plan_load(f->rt, plan, &a, 1, &p), 0);
    DaftValue x = daft_value_i64(1), y;
    assert_int_equal(daft_rt_plan_submit(f->rt, p, &x, 1, 10.0), 0);
    x = daft_value_i64(42);
    assert_int_equal(daft_rt_plan_submit(f->rt, p, &x, 1, 10.0), 0);
    assert_int_equal(daft_rt_plan_result(f->rt, p, 10.0, &y, 1), 0);
    assert_int_equal(y.as.i64, 1);
    char c;
    assert_int_equal(read(g_pipe[0], &c, 1), 1); /* check(42) is running */
    assert_int_equal(daft_rt_kill(f->rt, a), 0);
    int64_t t0 = pc_now_ms();
    assert_int_equal(daft_rt_plan_result(f->rt, p, 10.0, &y, 1), 0);
    assert_true(pc_now_ms() - t0 < 1000);
    assert_int_equal(y.kind, DAFT_V_ERROR);
    assert_non_null(strstr(y.as.error.msg, "actor 'w1' (W) died while running 'check' "
                                           "(compiled plan 'step'): killed by signal 9"));
    daft_value_free(&y);
    /* later executions fail at once too */
    x = daft_value_i64(2);
    assert_int_equal(daft_rt_plan_submit(f->rt, p, &x, 1, 10.0), 0);
    assert_int_equal(daft_rt_plan_result(f->rt, p, 10.0, &y, 1), 0);
    assert_int_equal(y.kind, DAFT_V_ERROR);
    daft_value_free(&y);
    daft_rt_plan_unload(f->rt, p);
    /* replace and re-load */
    DaftActor a2 = spawn(f, "w1b");
    assert_int_equal(daft_rt_plan_load(f->rt, plan, &a2, 1, &p), 0);
    x = daft_value_i64(5);
    assert_int_equal(daft_rt_plan_submit(f->rt, p, &x, 1, 10.0), 0);
    assert_int_equal(daft_rt_plan_result(f->rt, p, 10.0, &y, 1), 0);
    assert_int_equal(y.as.i64, 5);
    /* left loaded on purpose: shutdown unloads it */
    daft_rt_shutdown(f->rt);
    f->rt = NULL;
    daft_plan_free(plan);
    close(g_pipe[0]);
    close(g_pipe[1]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_chain_pipelined, setup, teardown),
        cmocka_unit_test_setup_teardown(test_error_one_execution, setup, teardown),
        cmocka_unit_test_setup_teardown(test_two_plans_one_actor, setup, teardown),
        cmocka_unit_test_setup_teardown(test_large_tensor, setup, teardown),
        cmocka_unit_test_setup_teardown(test_collectives, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kill_during_compiled_run, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
