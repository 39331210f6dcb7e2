/* fault_soak.c — memory stays flat over many executions.
 *
 *   fault_soak [COMPILED INTERPRETED]
 *
 * Compiled: a 2-actor plan (x -> a.add(x,1) -> b.add(.,1), plus an f32[16] tensor passed
 * a -> b), pipelined 8 deep. Interpreted: call/get/release with a Ref moving between the
 * two actors every other task. After a warm-up (10 %), the RSS of the driver and of each
 * actor is taken, and again at the end; each may grow at most 10 MiB. Counts: CI default
 * 100,000 compiled / 20,000 interpreted; DAFT_SOAK_FULL=1: 1,000,000 / 100,000. */
#include "fault_util.h"

#include <sys/prctl.h>

#include <daft/plan.h>
#include "daftrt.h"

#define GROWTH_LIMIT_KIB (10 * 1024)
/* ASan keeps freed memory in quarantine (256 MiB by default), so RSS says nothing about leaks
 * there: the ASan build prints the figures, and LeakSanitizer checks the driver at exit. */
#if defined(__SANITIZE_ADDRESS__)
#define RSS_BOUNDED 0
#else
#define RSS_BOUNDED 1
#endif

static int s_add(DaftActorCtx *ctx, void *st, const DaftValue *a, int n, DaftValue *out)
{
    (void)st;
    if (n != 2 || a[0].kind != DAFT_V_I64 || a[1].kind != DAFT_V_I64)
        return daft_raise(ctx, "add expects two i64");
    *out = daft_value_i64(a[0].as.i64 + a[1].as.i64);
    return 0;
}

static int s_vec(DaftActorCtx *ctx, void *st, const DaftValue *a, int n, DaftValue *out)
{
    (void)ctx; (void)st; (void)n;
    int64_t dims[1] = {16};
    *out = daft_value_tensor(DAFT_RT_F32, 1, dims, NULL);
    ((float *)out->as.tensor.data)[0] = (float)(a[0].as.i64 & 0xffff);
    return 0;
}

static int s_first(DaftActorCtx *ctx, void *st, const DaftValue *a, int n, DaftValue *out)
{
    (void)st; (void)n;
    if (a[0].kind != DAFT_V_TENSOR)
        return daft_raise(ctx, "first expects a tensor");
    *out = daft_value_i64((int64_t)((const float *)a[0].as.tensor.data)[0]);
    return 0;
}

static const DaftMethodDesc s_methods[] = {{"add", s_add}, {"vec", s_vec}, {"first", s_first}};
static const DaftClassDesc s_class = {"S", 0, NULL, NULL, s_methods, 3};

typedef struct Rss {
    long drv, act[2];
} Rss;

static Rss rss_now(const pid_t *pids)
{
    Rss r = {fu_rss_kib(getpid()), {fu_rss_kib(pids[0]), fu_rss_kib(pids[1])}};
    return r;
}

static void rss_check(const char *what, Rss a, Rss b, long count, double secs)
{
    printf("soak %s: %ld executions in %.2f s (%.0f/s); RSS KiB driver %ld -> %ld (%+ld), "
           "actor a %ld -> %ld (%+ld), actor b %ld -> %ld (%+ld)\n",
           what, count, secs, (double)count / secs, a.drv, b.drv, b.drv - a.drv, a.act[0], b.act[0],
           b.act[0] - a.act[0], a.act[1], b.act[1], b.act[1] - a.act[1]);
    if (!RSS_BOUNDED)
        return;
    FU_CHECK(b.drv - a.drv < GROWTH_LIMIT_KIB, "%s: driver RSS grew %ld KiB", what, b.drv - a.drv);
    for (int i = 0; i < 2; i++)
        FU_CHECK(b.act[i] - a.act[i] < GROWTH_LIMIT_KIB, "%s: actor %d RSS grew %ld KiB", what, i,
                 b.act[i] - a.act[i]);
}

static void soak_compiled(DaftRt *rt, const DaftActor *as, const pid_t *pids, long count)
{
    DaftGraph *g = daft_graph_new("soak");
    int a = daft_graph_add_actor(g, "a", "S", 0, -1, -1);
    int b = daft_graph_add_actor(g, "b", "S", 0, -1, -1);
    int x = daft_graph_add_input(g, "x", daft_payload_scalar(DAFT_PAY_I64));
    DaftCommHint h = {0};
    DaftGraphArg g1[2] = {daft_arg_value(x), daft_arg_i64(1)};
    int t = daft_graph_add_task(g, a, "add", g1, 2, daft_payload_scalar(DAFT_PAY_I64), h);
    DaftGraphArg g2[2] = {daft_arg_value(t), daft_arg_i64(1)};
    int u = daft_graph_add_task(g, b, "add", g2, 2, daft_payload_scalar(DAFT_PAY_I64), h);
    int64_t sixteen[1] = {16};
    DaftGraphArg g3[1] = {daft_arg_value(x)};
    int v = daft_graph_add_task(g, a, "vec", g3, 1, daft_payload_tensor(DAFT_DT_F32, 1, sixteen), h);
    DaftGraphArg g4[1] = {daft_arg_value(v)};
    int w = daft_graph_add_task(g, b, "first", g4, 1, daft_payload_scalar(DAFT_PAY_I64), h);
    daft_graph_add_output(g, "u", u);
    daft_graph_add_output(g, "w", w);
    DaftPlanOptions o = {0};
    o.cpu_only = true;
    o.inflight = 8;
    DaftPlan *plan = NULL;
    char err[256];
    FU_CHECK(daft_plan_build(g, &o, &plan, err, sizeof err) == 0, "plan: %s", err);
    DaftRtPlan *p;
    FU_CHECK(daft_rt_plan_load(rt, plan, as, 2, &p) == 0, "load: %s", daft_rt_last_error(rt));
    long warm = count / 10, next = 0;
    Rss r0 = {0};
    int64_t t0 = 0;
    for (long i = 0; i < count + warm; i++) {
        if (i == warm) {
            while (daft_rt_plan_pending(p)) { /* settle, then measure */
                DaftValue out[2];
                FU_CHECK(daft_rt_plan_result(rt, p, 10.0, out, 2) == 0, "result");
                next++;
            }
            r0 = rss_now(pids);
            t0 = fu_now_ns();
        }
        DaftValue in = daft_value_i64(i);
        FU_CHECK(daft_rt_plan_submit(rt, p, &in, 1, 10.0) == 0, "submit");
        while (daft_rt_plan_pending(p) >= 8 || (i == count + warm - 1 && daft_rt_plan_pending(p))) {
            DaftValue out[2];
            FU_CHECK(daft_rt_plan_result(rt, p, 10.0, out, 2) == 0, "result");
            FU_CHECK(out[0].kind == DAFT_V_I64 && out[0].as.i64 == next + 2 &&
                         out[1].kind == DAFT_V_I64 && out[1].as.i64 == (next & 0xffff),
                     "wrong output at %ld", next);
            next++;
        }
        if ((i & 0x3fff) == 0)
            fu_watchdog(60);
    }
    FU_CHECK(next == count + warm, "lost executions");
    Rss r1 = rss_now(pids);
    rss_check("compiled", r0, r1, count, (double)(fu_now_ns() - t0) / 1e9);
    daft_rt_plan_unload(rt, p);
    daft_plan_free(plan);
    daft_graph_free(g);
}

static void soak_interpreted(DaftRt *rt, const DaftActor *as, const pid_t *pids, long count)
{
    long warm = count / 10;
    Rss r0 = {0};
    int64_t t0 = 0;
    for (long i = 0; i < count + warm; i++) {
        if (i == warm) {
            r0 = rss_now(pids);
            t0 = fu_now_ns();
        }
        DaftRef r1, r2;
        DaftValue args[2] = {daft_value_i64(i), daft_value_i64(1)}, v;
        FU_CHECK(daft_rt_call(rt, as[i & 1], 0, args, 2, &r1) == 0, "call");
        if (i & 1) { /* a Ref moving actor to actor */
            DaftValue a2[2] = {daft_value_ref(r1), daft_value_i64(1)};
            FU_CHECK(daft_rt_call(rt, as[0], 0, a2, 2, &r2) == 0, "call 2");
            FU_CHECK(daft_rt_get(rt, r2, 10.0, &v) == 0 && v.kind == DAFT_V_I64 && v.as.i64 == i + 2,
                     "get 2 at %ld", i);
            daft_rt_release(rt, r2);
        } else {
            FU_CHECK(daft_rt_get(rt, r1, 10.0, &v) == 0 && v.kind == DAFT_V_I64 && v.as.i64 == i + 1,
                     "get at %ld", i);
        }
        daft_rt_release(rt, r1);
        if ((i & 0x3fff) == 0)
            fu_watchdog(60);
    }
    Rss r1 = rss_now(pids);
    rss_check("interpreted", r0, r1, count, (double)(fu_now_ns() - t0) / 1e9);
}

int main(int argc, char **argv)
{
    bool full = getenv("DAFT_SOAK_FULL") && atoi(getenv("DAFT_SOAK_FULL"));
    long nc = argc > 1 ? atol(argv[1]) : full ? 1000000 : 100000;
    long ni = argc > 2 ? atol(argv[2]) : full ? 100000 : 20000;
    fu_where = "soak";
    fu_watchdog(60);
    DaftRt *rt = daft_rt_init(NULL, NULL);
    FU_CHECK(rt && daft_rt_register_class(rt, &s_class) == 0, "init");
    DaftActor as[2];
    pid_t pids[2];
    const char *names[2] = {"a", "b"};
    for (int i = 0; i < 2; i++) {
        DaftSpawnOpts o = {names[i], -1, -1};
        FU_CHECK(daft_rt_spawn(rt, 0, NULL, 0, &o, &as[i]) == 0, "spawn");
    }
    DaftRef r;
    DaftValue v, args[2] = {daft_value_i64(0), daft_value_i64(0)};
    FU_CHECK(daft_rt_call(rt, as[1], 0, args, 2, &r) == 0 && daft_rt_get(rt, r, 10.0, &v) == 0,
             "first call");
    FU_CHECK(fu_children(getpid(), pids, 2) == 2, "two actor processes");
    const char *tr = getenv("DAFT_TRANSPORT");
    printf("soak (%s): %ld compiled executions, %ld interpreted tasks%s\n", tr ? tr : "shm", nc, ni,
           full ? " (DAFT_SOAK_FULL)" : "");
    soak_compiled(rt, as, pids, nc);
    soak_interpreted(rt, as, pids, ni);
    daft_rt_shutdown(rt);
    alarm(0);
    return 0;
}
