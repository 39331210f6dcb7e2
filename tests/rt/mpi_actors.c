/* Runs under `mpirun -np 3`: rank 0 is the driver, ranks 1 and 2 each host one actor.
 * Checks calls, a Ref passed from the actor on rank 1 to the one on rank 2 over a direct
 * TCP channel (not through the driver), error propagation across ranks, a compiled plan
 * x -> n1.sum(x) ... over TCP channels between ranks (when the planner is built), and a
 * clean shutdown. Exit status 0 on success (every rank). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daftrt.h"
#ifdef RT_HAVE_PLAN
#include <daft/plan.h>
#endif

static int m_pid(DaftActorCtx *ctx, void *st, const DaftValue *a, int n, DaftValue *out)
{
    (void)ctx; (void)st; (void)a; (void)n;
    *out = daft_value_i64(getpid());
    return 0;
}

static int m_fill(DaftActorCtx *ctx, void *st, const DaftValue *a, int n, DaftValue *out)
{
    (void)ctx; (void)st; (void)n;
    int64_t dims[1] = {a[0].as.i64};
    *out = daft_value_tensor(DAFT_RT_F32, 1, dims, NULL);
    for (int64_t i = 0; i < dims[0]; i++)
        ((float *)out->as.tensor.data)[i] = 1.5f;
    return 0;
}

static int m_sum(DaftActorCtx *ctx, void *st, const DaftValue *a, int n, DaftValue *out)
{
    (void)st; (void)n;
    if (a[0].kind != DAFT_V_TENSOR)
        return daft_raise(ctx, "not a tensor");
    double s = 0;
    for (int64_t i = 0; i < daft_tensor_numel(&a[0].as.tensor); i++)
        s += ((float *)a[0].as.tensor.data)[i];
    *out = daft_value_f64(s);
    return 0;
}

static const DaftMethodDesc methods[] = {{"pid", m_pid}, {"fill", m_fill}, {"sum", m_sum}};
static const DaftClassDesc cls = {"Node", 0, NULL, NULL, methods, 3};

#define CHECK(c) do { if (!(c)) { fprintf(stderr, "FAILED: %s (line %d)\n", #c, __LINE__); \
    daft_rt_shutdown(rt); return 1; } } while (0)

int main(int argc, char **argv)
{
    DaftRt *rt = daft_rt_init(&argc, &argv);
    if (!rt)
        return 1;
    int c = daft_rt_register_class(rt, &cls);
    daft_rt_start(rt); /* worker ranks serve here and exit */
    DaftSpawnOpts o1 = {"n1", 1, -1}, o2 = {"n2", 2, -1};
    DaftActor a, b;
    CHECK(daft_rt_spawn(rt, c, NULL, 0, &o1, &a) == 0);
    CHECK(daft_rt_spawn(rt, c, NULL, 0, &o2, &b) == 0);
    DaftRef pa, pb, t, s, bad, e;
    DaftValue v, w;
    CHECK(daft_rt_call(rt, a, 0, NULL, 0, &pa) == 0 && daft_rt_call(rt, b, 0, NULL, 0, &pb) == 0);
    CHECK(daft_rt_get(rt, pa, 10, &v) == 0 && daft_rt_get(rt, pb, 10, &w) == 0);
    CHECK(v.kind == DAFT_V_I64 && w.kind == DAFT_V_I64 && v.as.i64 != w.as.i64 && v.as.i64 != getpid());
    DaftValue n = daft_value_i64(1 << 20); /* 4 MiB moves rank 1 -> rank 2 */
    CHECK(daft_rt_call(rt, a, 1, &n, 1, &t) == 0);
    DaftValue tr = daft_value_ref(t);
    CHECK(daft_rt_call(rt, b, 2, &tr, 1, &s) == 0);
    CHECK(daft_rt_get(rt, s, 20, &v) == 0 && v.kind == DAFT_V_F64 && v.as.f64 == 1.5 * (1 << 20));
    CHECK(daft_rt_call(rt, b, 2, &n, 1, &bad) == 0); /* raises on rank 2 */
    DaftValue br = daft_value_ref(bad);
    CHECK(daft_rt_call(rt, a, 2, &br, 1, &e) == 0); /* propagates through rank 1 */
    CHECK(daft_rt_get(rt, e, 10, &v) == 0 && v.kind == DAFT_V_ERROR);
    CHECK(strcmp(v.as.error.msg, "actor 'n2' (Node) method 'sum': not a tensor") == 0);
    daft_value_free(&v);
#ifdef RT_HAVE_PLAN
    { /* compiled: x -> n1.fill(x) -> n2.sum(.) -> driver, 50 executions, 2 in flight */
        DaftGraph *g = daft_graph_new("mpi_chain");
        int ga = daft_graph_add_actor(g, "n1", "Node", 0, -1, -1);
        int gb = daft_graph_add_actor(g, "n2", "Node", 0, -1, -1);
        int x = daft_graph_add_input(g, "x", daft_payload_scalar(DAFT_PAY_I64));
        DaftCommHint h = {0};
        int64_t dims[1] = {DAFT_DIM_DYNAMIC};
        DaftGraphArg a1[1] = {daft_arg_value(x)};
        int t1 = daft_graph_add_task(g, ga, "fill", a1, 1, daft_payload_tensor(DAFT_DT_F32, 1, dims), h);
        DaftGraphArg a2[1] = {daft_arg_value(t1)};
        int t2 = daft_graph_add_task(g, gb, "sum", a2, 1, daft_payload_scalar(DAFT_PAY_F64), h);
        daft_graph_add_output(g, "s", t2);
        DaftPlanOptions po = {0};
        po.cpu_only = true;
        DaftPlan *plan;
        char err[256];
        CHECK(daft_plan_build(g, &po, &plan, err, sizeof err) == 0);
        DaftActor acts[2] = {a, b};
        DaftRtPlan *rp;
        CHECK(daft_rt_plan_load(rt, plan, acts, 2, &rp) == 0);
        for (int i = 1; i <= 50; i++) {
            DaftValue xi = daft_value_i64(i * 1000);
            CHECK(daft_rt_plan_submit(rt, rp, &xi, 1, 10) == 0);
        }
        for (int i = 1; i <= 50; i++) {
            DaftValue y;
            CHECK(daft_rt_plan_result(rt, rp, 10, &y, 1) == 0);
            CHECK(y.kind == DAFT_V_F64 && y.as.f64 == 1.5 * i * 1000);
        }
        daft_rt_plan_unload(rt, rp);
        daft_plan_free(plan);
        daft_graph_free(g);
    }
#endif
    daft_rt_shutdown(rt);
    printf("mpi_actors: OK\n");
    return 0;
}
