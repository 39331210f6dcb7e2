/* test_gpu_rt.c — the GPU data plane of libdaftrt on real GPUs (plain C, no cmocka; run by
 * tests/gpu/run.sh): GPU actors get their GPU, std ops on GPU tensors equal the CPU ones,
 * GPU values reach the driver and other actors (interpreted Ref passing), compiled plans
 * move tensors over NCCL (static shape and shape = auto), NCCL allreduce over 2 and 4
 * GPUs, and kill -9 of an actor during NCCL transfers gives errors, not a hang. */
#include "gpu_harness.h"

#include <signal.h>
#include <unistd.h>

static int g_fail, g_checks;
#define CHECK(cond, ...)                                                                 \
    do {                                                                                 \
        g_checks++;                                                                      \
        if (!(cond)) {                                                                   \
            g_fail++;                                                                    \
            printf("FAIL %s:%d: ", __FILE__, __LINE__);                                  \
            printf(__VA_ARGS__);                                                         \
            printf("\n");                                                                \
        }                                                                                \
    } while (0)

static DaftValue call_get(DaftRt *rt, DaftActor a, int m, const DaftValue *args, int n)
{
    DaftRef r;
    DaftValue v = daft_value_none();
    if (daft_rt_call(rt, a, m, args, n, &r) || daft_rt_get(rt, r, 60, &v))
        v = daft_value_error("call/get failed: %s", daft_rt_last_error(rt));
    daft_rt_release(rt, r);
    return v;
}

static int64_t nx(DaftRt *rt, DaftActor a, int received)
{
    DaftValue arg = daft_value_i64(received), v = call_get(rt, a, M_NX, &arg, 1);
    int64_t n = v.kind == DAFT_V_I64 ? v.as.i64 : -1000;
    daft_value_free(&v);
    return n;
}

static double cpu_sum_randn(int64_t seed, int64_t rows)
{
    DaftValue s = daft_value_list(2), args[2], t, r;
    s.as.list.items[0] = daft_value_i64(rows);
    s.as.list.items[1] = daft_value_i64(256);
    args[0] = s;
    args[1] = daft_value_i64(seed);
    daft_std_tensor_randn(NULL, args, 2, &t);
    daft_std_tensor_sum(NULL, &t, 1, &r);
    daft_value_free(&s);
    daft_value_free(&t);
    return r.as.f64;
}

static void test_chain(DaftRt *rt, DaftActor a, DaftActor b, bool dyn)
{
    int64_t dims[2] = {256, 256}, dd[2] = {DAFT_DIM_DYNAMIC, 256};
    DaftGraph *g;
    DaftPlan *plan = gh_chain(dyn ? "chain_auto" : "chain_static", 0, 1, gh_tensor(2, dyn ? dd : dims),
                              dyn, "produce", 256, "consume", 2, &g);
    CHECK(gh_count_nccl(plan) == 1, "chain: expected 1 NCCL channel, plan has %d", gh_count_nccl(plan));
    DaftActor acts[2] = {a, b};
    DaftRtPlan *p;
    int rc = daft_rt_plan_load(rt, plan, acts, 2, &p);
    CHECK(rc == 0, "chain load: %s", daft_rt_last_error(rt));
    if (rc)
        return;
    /* every 7th producer raises: its error crosses the channel instead of a tensor (with
     * DAFT_NCCL_PREPOST=1, next to a buffer that satisfies the posted receive), and the
     * executions after it are unaffected */
    int n = 20, bad = 0;
    double t0 = gh_now();
    for (int i = 0; i < n; i++) {
        DaftValue in[2] = {daft_value_i64(i % 7 == 3 ? -1 : 100 + i), daft_value_i64(n - 1)};
        if (daft_rt_plan_submit(rt, p, in, 2, 60))
            bad++;
    }
    for (int k = 0; k < n; k++) {
        DaftValue out;
        if (daft_rt_plan_result(rt, p, 60, &out, 1)) {
            bad++;
            break;
        }
        if (k % 7 == 3) {
            bool named = out.kind == DAFT_V_ERROR && strstr(out.as.error.msg, "negative seed");
            if (!named && bad++ < 3)
                printf("  chain exec %d: expected the producer's error, got kind %d\n", k, (int)out.kind);
            daft_value_free(&out);
            continue;
        }
        double want = cpu_sum_randn(100 + k, 256);
        if (out.kind != DAFT_V_F64 || fabs(out.as.f64 - want) > 1e-6 * (1 + fabs(want))) {
            char buf[300];
            daft_value_format(&out, buf, sizeof buf);
            if (bad++ < 3)
                printf("  chain exec %d: got %s, want %.9g\n", k, buf, want);
        }
        daft_value_free(&out);
    }
    CHECK(bad == 0, "chain (%s shape): %d of %d executions wrong", dyn ? "auto" : "static", bad, n);
    printf("chain %s: %d executions over NCCL in %.1f ms\n", dyn ? "shape=auto" : "static", n,
           (gh_now() - t0) * 1e3);
    daft_rt_plan_unload(rt, p);
}

/* n GPU actors each produce a [256, 256] tensor (seed 1000 + rank, or the plan's input x
 * when seed_from_input: then each actor's program begins by reading x), all-reduce it and
 * hand the result to `then` ("consume": its sum, "ondev": its device, at once). */
static DaftPlan *allreduce_plan(const char *name, int n, bool seed_from_input, const char *then)
{
    DaftGraph *g = daft_graph_new(name);
    int ai[8], xs[8], rs[8];
    int x = seed_from_input ? daft_graph_add_input(g, "x", daft_payload_scalar(DAFT_PAY_I64)) : -1;
    int64_t dims[2] = {256, 256};
    DaftCommHint h = {0};
    char nm[8][16];
    for (int i = 0; i < n; i++) {
        snprintf(nm[i], sizeof nm[i], "w%d", i);
        ai[i] = daft_graph_add_actor(g, nm[i], "G", 1, 0, i);
        DaftGraphArg a[2] = {seed_from_input ? daft_arg_value(x) : daft_arg_i64(1000 + i), daft_arg_i64(256)};
        xs[i] = daft_graph_add_task(g, ai[i], "produce", a, 2, gh_tensor(2, dims), h);
    }
    daft_graph_add_collective(g, DAFT_COLL_ALLREDUCE, DAFT_REDUCE_SUM, 0, ai, xs, n, rs);
    for (int i = 0; i < n; i++) {
        DaftGraphArg a[1] = {daft_arg_value(rs[i])};
        int y = daft_graph_add_task(g, ai[i], then, a, 1,
                                    daft_payload_scalar(strcmp(then, "consume") ? DAFT_PAY_I64 : DAFT_PAY_F64), h);
        daft_graph_add_output(g, nm[i], y);
    }
    return gh_build(g, 2);
}

static void test_allreduce(DaftRt *rt, const DaftActor *acts, int n)
{
    DaftPlan *plan = allreduce_plan("allreduce", n, false, "consume");
    CHECK(gh_count_nccl(plan) >= 1, "allreduce: the group is not NCCL");
    DaftRtPlan *p;
    int rc = daft_rt_plan_load(rt, plan, acts, n, &p);
    CHECK(rc == 0, "allreduce load: %s", daft_rt_last_error(rt));
    if (rc)
        return;
    double want = 0;
    for (int i = 0; i < n; i++)
        want += cpu_sum_randn(1000 + i, 256);
    int bad = 0;
    for (int e = 0; e < 5; e++) {
        if (daft_rt_plan_submit(rt, p, NULL, 0, 60)) {
            printf("  allreduce submit %d: %s\n", e, daft_rt_last_error(rt));
            bad++;
            continue;
        }
        DaftValue out[8];
        if (daft_rt_plan_result(rt, p, 60, out, n)) {
            bad++;
            continue;
        }
        for (int i = 0; i < n; i++) {
            if (out[i].kind != DAFT_V_F64 || fabs(out[i].as.f64 - want) > 1e-4 * (1 + fabs(want))) {
                char buf[300];
                daft_value_format(&out[i], buf, sizeof buf);
                if (bad++ < 3)
                    printf("  allreduce member %d: got %s want %.9g\n", i, buf, want);
            }
            daft_value_free(&out[i]);
        }
    }
    CHECK(bad == 0, "allreduce over %d GPUs: %d wrong", n, bad);
    printf("allreduce over %d GPUs (NCCL): %s\n", n, bad ? "FAIL" : "ok");
    daft_rt_plan_unload(rt, p);
}

/* Crossed: member i all-reduces the [RX, 256] tensor actor i + 1 made from this execution's
 * seed x, received over NCCL on the pair's communicator; the result goes straight to the
 * driver (no call reads it, so the collective runs on the group's own stream, which must
 * wait for the pair's receive: lane_reads). x changes every execution, so a reduction that
 * read its input before the receive had written it would sum the previous execution's
 * values (or garbage). Every member's result: n * sum(randn([RX, 256], x)). */
#define RX 4096
static DaftPlan *crossed_plan(int n)
{
    DaftGraph *g = daft_graph_new("allreduce_x");
    int ai[8], xs[8], ins[8], rs[8];
    int x = daft_graph_add_input(g, "x", daft_payload_scalar(DAFT_PAY_I64));
    int64_t dims[2] = {RX, 256};
    DaftCommHint h = {0};
    char nm[8][16];
    for (int i = 0; i < n; i++) {
        snprintf(nm[i], sizeof nm[i], "w%d", i);
        ai[i] = daft_graph_add_actor(g, nm[i], "G", 1, 0, i);
        DaftGraphArg a[2] = {daft_arg_value(x), daft_arg_i64(RX)};
        xs[i] = daft_graph_add_task(g, ai[i], "produce", a, 2, gh_tensor(2, dims), h);
    }
    for (int i = 0; i < n; i++)
        ins[i] = xs[(i + 1) % n];
    daft_graph_add_collective(g, DAFT_COLL_ALLREDUCE, DAFT_REDUCE_SUM, 0, ai, ins, n, rs);
    for (int i = 0; i < n; i++)
        daft_graph_add_output(g, nm[i], rs[i]);
    return gh_build(g, 2);
}

static void test_crossed(DaftRt *rt, const DaftActor *acts, int n)
{
    DaftPlan *plan = crossed_plan(n);
    CHECK(gh_count_nccl(plan) >= n + 1, "crossed allreduce: %d NCCL channels and groups, want %d",
          gh_count_nccl(plan), n + 1);
    DaftRtPlan *p;
    int rc = daft_rt_plan_load(rt, plan, acts, n, &p);
    CHECK(rc == 0, "crossed allreduce load: %s", daft_rt_last_error(rt));
    if (rc)
        return;
    int bad = 0;
    for (int e = 0; e < 8; e++) {
        DaftValue in = daft_value_i64(500 + e), out[8];
        if (daft_rt_plan_submit(rt, p, &in, 1, 60) || daft_rt_plan_result(rt, p, 60, out, n)) {
            printf("  crossed allreduce execution %d: %s\n", e, daft_rt_last_error(rt));
            bad++;
            continue;
        }
        double want = n * cpu_sum_randn(500 + e, RX);
        for (int i = 0; i < n; i++) {
            DaftValue sum = daft_value_none();
            if (out[i].kind == DAFT_V_TENSOR)
                daft_std_tensor_sum(NULL, &out[i], 1, &sum);
            if (sum.kind != DAFT_V_F64 || fabs(sum.as.f64 - want) > 1e-4 * (1 + fabs(want))) {
                char buf[300];
                daft_value_format(sum.kind == DAFT_V_F64 ? &sum : &out[i], buf, sizeof buf);
                if (bad++ < 3)
                    printf("  crossed allreduce member %d: got %s want %.9g\n", i, buf, want);
            }
            daft_value_free(&sum);
            daft_value_free(&out[i]);
        }
    }
    CHECK(bad == 0, "crossed allreduce over %d GPUs: %d wrong", n, bad);
    printf("allreduce of inputs received over NCCL, %d GPUs: %s\n", n, bad ? "FAIL" : "ok");
    daft_rt_plan_unload(rt, p);
}

/* Two NCCL plans over the same GPUs, submitted alternately without waiting: one whose
 * programs begin by reading the driver's input, one started by the driver's GO, and
 * neither waiting for its GPU (results handed back at once, the CPU running ahead). Every
 * member must issue the two plans' NCCL operations in the same (submission) order, or
 * the GPUs wait for each other forever (the hang tp_mlp's warm-up once hit). */
static void test_interleaved(DaftRt *rt, const DaftActor *acts, int n)
{
    DaftPlan *pa = allreduce_plan("from_input", n, true, "ondev");
    DaftPlan *pb = allreduce_plan("on_go", n, false, "ondev");
    DaftRtPlan *a, *b;
    int rc = daft_rt_plan_load(rt, pa, acts, n, &a);
    CHECK(rc == 0, "interleaved load: %s", daft_rt_last_error(rt));
    if (rc)
        return;
    rc = daft_rt_plan_load(rt, pb, acts, n, &b);
    CHECK(rc == 0, "interleaved load: %s", daft_rt_last_error(rt));
    if (rc) {
        daft_rt_plan_unload(rt, a);
        return;
    }
    double t0 = gh_now();
    int bad = 0, rounds = 300;
    for (int e = 0; e < rounds && bad < 3; e++) {
        DaftValue in = daft_value_i64(e);
        if (daft_rt_plan_submit(rt, a, &in, 1, 30) || daft_rt_plan_submit(rt, b, NULL, 0, 30)) {
            printf("  interleaved round %d: %s\n", e, daft_rt_last_error(rt));
            bad++;
            continue;
        }
        DaftRtPlan *both[2] = {a, b};
        for (int k = 0; k < 2 && e > 0; k++) { /* one round behind: both plans in flight */
            DaftValue out[8];
            if (daft_rt_plan_result(rt, both[k], 30, out, n)) {
                printf("  interleaved round %d: %s\n", e, daft_rt_last_error(rt));
                bad++;
                continue;
            }
            for (int i = 0; i < n; i++) {
                if (out[i].kind != DAFT_V_I64 || out[i].as.i64 != i + 1)
                    bad++;
                daft_value_free(&out[i]);
            }
        }
    }
    CHECK(bad == 0, "two NCCL plans interleaved over %d GPUs: %d wrong or stuck", n, bad);
    printf("two NCCL plans interleaved over %d GPUs: %d rounds in %.1f ms\n", n, rounds,
           (gh_now() - t0) * 1e3);
    daft_rt_plan_unload(rt, a);
    daft_rt_plan_unload(rt, b);
}

static void test_kill(DaftRt *rt, DaftActor a, DaftActor b)
{
    int64_t dims[1] = {16 << 20}; /* 64 MiB f32 */
    DaftGraph *g;
    DaftPlan *plan = gh_chain("kill", 0, 1, gh_tensor(1, dims), false, "mk", 64 << 20, "sink", 4, &g);
    DaftActor acts[2] = {a, b};
    DaftRtPlan *p;
    int rc = daft_rt_plan_load(rt, plan, acts, 2, &p);
    CHECK(rc == 0, "kill plan load: %s", daft_rt_last_error(rt));
    if (rc)
        return;
    double t0 = gh_now();
    int errors = 0, named = 0, results = 0;
    for (int i = 0; i < 60; i++) {
        DaftValue in[2] = {daft_value_i64(i), daft_value_i64(1000000)};
        if (i == 12)
            daft_rt_kill(rt, b); /* transfers in flight */
        if (daft_rt_plan_submit(rt, p, in, 2, 10))
            break;
        while (daft_rt_plan_pending(p) > 2) {
            DaftValue out;
            if (daft_rt_plan_result(rt, p, 10, &out, 1))
                break;
            results++;
            if (out.kind == DAFT_V_ERROR) {
                errors++;
                named += strstr(out.as.error.msg, "'kb'") != NULL;
                if (errors == 1)
                    printf("kill: error value: %s\n", out.as.error.msg);
            }
            daft_value_free(&out);
        }
    }
    double dt = gh_now() - t0;
    CHECK(errors > 0 && named > 0, "kill -9 during NCCL: %d results, %d errors, %d naming the actor",
          results, errors, named);
    CHECK(dt < 30, "kill -9 during NCCL took %.1f s", dt);
    daft_rt_plan_unload(rt, p);
    /* the surviving actor is still usable (its communicator was aborted, not stuck) */
    double t1 = gh_now();
    DaftValue v = call_get(rt, a, M_DEV, NULL, 0);
    CHECK(v.kind == DAFT_V_I64 && v.as.i64 == 0 && gh_now() - t1 < 10,
          "survivor after kill: kind %d", (int)v.kind);
    daft_value_free(&v);
    printf("kill -9 during NCCL transfers: %d errors of %d results in %.2f s, survivor ok\n",
           errors, results, dt);
}

/* ---------------------------------------------------------------- interpreted collectives over NCCL */

static DaftValue cpu_randn(int64_t seed, int64_t rows)
{
    DaftValue s = daft_value_list(2), args[2], t;
    s.as.list.items[0] = daft_value_i64(rows);
    s.as.list.items[1] = daft_value_i64(256);
    args[0] = s;
    args[1] = daft_value_i64(seed);
    daft_std_tensor_randn(NULL, args, 2, &t);
    daft_value_free(&s);
    return t;
}

static DaftRef produce(DaftRt *rt, DaftActor a, int64_t seed, int64_t rows)
{
    DaftValue pa[2] = {daft_value_i64(seed), daft_value_i64(rows)};
    DaftRef r = {0, 0};
    daft_rt_call(rt, a, M_PRODUCE, pa, 2, &r);
    return r;
}

/* One operation on every member (rank 0 last: the moves of its id are queued before it). */
static void icoll_submit(DaftRt *rt, const DaftActor *acts, int n, uint64_t key, int kind, int reduce,
                         int root, const DaftValue *id, const DaftRef *in, DaftRef *res)
{
    DaftValue ml = daft_value_list((size_t)n);
    for (int r = 0; r < n; r++)
        ml.as.list.items[r] = daft_value_actor(acts[r]);
    for (int r = n - 1; r >= 0; r--) {
        DaftValue a[9] = {daft_value_i64((int64_t)key), daft_value_i64(kind), daft_value_i64(reduce),
                          daft_value_i64(root), daft_value_i64(r), daft_value_i64(n),
                          id ? *id : daft_value_none(), daft_value_ref(in[r]), ml};
        daft_rt_call(rt, acts[r], M_COLL, a, 9, &res[r]);
    }
    daft_value_free(&ml);
}

/* The largest |got - want| / (1 + |want|) over the elements, or 1e9 when they do not match. */
static double rel_diff(const DaftValue *got, const DaftValue *want)
{
    if (got->kind != DAFT_V_TENSOR || want->kind != DAFT_V_TENSOR || got->as.tensor.rank != want->as.tensor.rank ||
        daft_tensor_numel(&got->as.tensor) != daft_tensor_numel(&want->as.tensor))
        return 1e9;
    const float *x = got->as.tensor.data, *y = want->as.tensor.data;
    double worst = 0;
    for (int64_t i = 0; i < daft_tensor_numel(&want->as.tensor); i++) {
        double d = fabs((double)x[i] - y[i]) / (1 + fabs((double)y[i]));
        worst = d > worst ? d : worst;
    }
    return worst;
}

/* Gets res[0..n) (released), counting those whose error message contains `needle`
 * (NULL: counts the values close to want[r], within tol). */
static int icoll_collect(DaftRt *rt, DaftRef *res, int n, const char *needle, DaftValue *want, double tol,
                         const char *what)
{
    int good = 0;
    for (int r = 0; r < n; r++) {
        DaftValue v = daft_value_none();
        if (daft_rt_get(rt, res[r], 60, &v))
            v = daft_value_error("get failed: %s", daft_rt_last_error(rt));
        bool ok = needle ? v.kind == DAFT_V_ERROR && strstr(v.as.error.msg, needle)
                         : rel_diff(&v, &want[r]) <= tol;
        if (!ok)
            printf("%s: rank %d: %s\n", what, r, v.kind == DAFT_V_ERROR ? v.as.error.msg : "wrong value");
        else if (needle && r == 0)
            printf("%s: %s\n", what, v.as.error.msg);
        good += ok;
        daft_value_free(&v);
        daft_rt_release(rt, res[r]);
    }
    return good;
}

static void icoll_release(DaftRt *rt, DaftRef *in, int n)
{
    for (int r = 0; r < n; r++)
        daft_rt_release(rt, in[r]);
}

/* Every kind over NCCL in interpreted code, inputs made on the members' GPUs (randn: the
 * same bits as on the CPU), checked against the CPU; then an input that failed and inputs
 * of different shapes (every member gets the same error, nobody waits in NCCL), and the
 * communicator still works after them. */
/* Rank r's input (seed seed0 + r, `rows` rows) made on its actor into in[r]; returns the
 * sum of all of them computed on the CPU. */
static DaftValue produce_all(DaftRt *rt, const DaftActor *acts, int n, int64_t seed0, int64_t rows, DaftRef *in)
{
    DaftValue sum = daft_value_none();
    for (int r = 0; r < n; r++) {
        in[r] = produce(rt, acts[r], seed0 + r, rows);
        DaftValue c = cpu_randn(seed0 + r, rows);
        if (r == 0) {
            sum = c;
            continue;
        }
        DaftValue ab[2] = {sum, c}, t;
        daft_std_tensor_add(NULL, ab, 2, &t);
        daft_value_free(&sum);
        daft_value_free(&c);
        sum = t;
    }
    return sum;
}

static void test_icoll(DaftRt *rt, const DaftActor *acts, int n)
{
    uint64_t key = 100 + (uint64_t)n;
    DaftRef in[4], res[4], idr;
    DaftValue want[4], sum;
    daft_rt_call(rt, acts[0], M_NCCLID, NULL, 0, &idr);
    DaftValue id = daft_value_ref(idr);
    /* allreduce */
    sum = produce_all(rt, acts, n, 20, 64, in);
    icoll_submit(rt, acts, n, key, 0, 0, 0, &id, in, res);
    daft_rt_release(rt, idr);
    icoll_release(rt, in, n);
    for (int r = 0; r < n; r++)
        want[r] = sum;
    CHECK(icoll_collect(rt, res, n, NULL, want, 1e-5, "icoll allreduce") == n,
          "interpreted allreduce over NCCL, %d GPUs", n);
    /* broadcast from the last rank; the others' inputs (another shape) are not read */
    for (int r = 0; r < n; r++)
        in[r] = produce(rt, acts[r], 30 + r, r == n - 1 ? 16 : 8);
    icoll_submit(rt, acts, n, key, 3, 0, n - 1, NULL, in, res);
    icoll_release(rt, in, n);
    DaftValue root = cpu_randn(30 + n - 1, 16);
    for (int r = 0; r < n; r++)
        want[r] = root;
    CHECK(icoll_collect(rt, res, n, NULL, want, 0, "icoll broadcast") == n,
          "interpreted broadcast over NCCL, %d GPUs", n);
    /* reducescatter of [8n, 256]: rank r gets rows 8r..8r+8 of the sum (avg: / n) */
    DaftValue rs_sum = produce_all(rt, acts, n, 40, 8 * n, in);
    DaftValue scaled, ms[2] = {rs_sum, daft_value_f64(1.0 / n)};
    daft_std_tensor_mul(NULL, ms, 2, &scaled);
    icoll_submit(rt, acts, n, key, 2, 3 /* avg */, 0, NULL, in, res);
    icoll_release(rt, in, n);
    for (int r = 0; r < n; r++) {
        DaftValue sl[4] = {scaled, daft_value_i64(0), daft_value_i64(8 * r), daft_value_i64(8 * r + 8)};
        daft_std_tensor_slice(NULL, sl, 4, &want[r]);
    }
    CHECK(icoll_collect(rt, res, n, NULL, want, 1e-5, "icoll reducescatter avg") == n,
          "interpreted reducescatter (avg) over NCCL, %d GPUs", n);
    for (int r = 0; r < n; r++)
        daft_value_free(&want[r]);
    /* allgather of different row counts (r + 1 rows on rank r): one broadcast per member */
    DaftValue parts = daft_value_list((size_t)n);
    for (int r = 0; r < n; r++) {
        in[r] = produce(rt, acts[r], 50 + r, r + 1);
        parts.as.list.items[r] = cpu_randn(50 + r, r + 1);
    }
    icoll_submit(rt, acts, n, key, 1, 0, 0, NULL, in, res);
    icoll_release(rt, in, n);
    int ok = 0;
    for (int r = 0; r < n; r++) { /* (the runtime gives the parts; libdaftgen concatenates) */
        DaftValue v = daft_value_none();
        daft_rt_get(rt, res[r], 60, &v);
        if (n == 1) /* (one member: an ordinary allgather, of one part) */
            ok += daft_value_equal(&v, &parts.as.list.items[0]);
        else
            ok += v.kind == DAFT_V_LIST && daft_value_equal(&v, &parts);
        if (v.kind == DAFT_V_ERROR)
            printf("icoll allgather: rank %d: %s\n", r, v.as.error.msg);
        daft_value_free(&v);
        daft_rt_release(rt, res[r]);
    }
    daft_value_free(&parts);
    CHECK(ok == n, "interpreted allgather of different row counts over NCCL, %d GPUs: %d of %d right", n, ok, n);
    /* an input that failed: every member's result is its error */
    for (int r = 0; r < n; r++)
        in[r] = produce(rt, acts[r], r == n - 1 ? -1 : 1, 8);
    icoll_submit(rt, acts, n, key, 0, 0, 0, NULL, in, res);
    icoll_release(rt, in, n);
    CHECK(icoll_collect(rt, res, n, "negative seed", NULL, 0, "icoll failed input") == n,
          "interpreted allreduce of a failed input: not every member has its error");
    /* different shapes: every member gets the same error */
    for (int r = 0; r < n && n > 1; r++)
        in[r] = produce(rt, acts[r], 1, r == 0 ? 16 : 8);
    if (n > 1) {
        icoll_submit(rt, acts, n, key, 0, 0, 0, NULL, in, res);
        icoll_release(rt, in, n);
        CHECK(icoll_collect(rt, res, n, "shapes differ", NULL, 0, "icoll shapes") == n,
              "interpreted allreduce of different shapes: not every member has the error");
    }
    /* and the communicator still works */
    for (int r = 0; r < n; r++)
        in[r] = produce(rt, acts[r], 20 + r, 64);
    icoll_submit(rt, acts, n, key, 0, 0, 0, NULL, in, res);
    icoll_release(rt, in, n);
    for (int r = 0; r < n; r++)
        want[r] = sum;
    CHECK(icoll_collect(rt, res, n, NULL, want, 1e-5, "icoll allreduce again") == n,
          "interpreted allreduce after the errors, %d GPUs", n);
    daft_value_free(&sum);
    daft_value_free(&root);
    daft_value_free(&rs_sum);
    daft_value_free(&scaled);
    printf("interpreted collectives over NCCL, %d GPUs: done\n", n);
}

/* kill -9 of a member while the other waits in an interpreted collective: the survivor's
 * result is an error naming the dead actor, soon; the survivor's GPU still works. */
static void test_icoll_kill(DaftRt *rt, DaftActor a, DaftActor b)
{
    DaftActor acts[2] = {a, b};
    DaftRef in[2], res[2], idr;
    daft_rt_call(rt, a, M_NCCLID, NULL, 0, &idr);
    DaftValue id = daft_value_ref(idr);
    for (int r = 0; r < 2; r++)
        in[r] = produce(rt, acts[r], 60 + r, 64);
    icoll_submit(rt, acts, 2, 7, 0, 0, 0, &id, in, res);
    daft_rt_release(rt, idr);
    icoll_release(rt, in, 2);
    DaftValue want[2] = {daft_value_none(), daft_value_none()};
    int made = 0;
    for (int r = 0; r < 2; r++) {
        DaftValue v = daft_value_none();
        made += daft_rt_get(rt, res[r], 60, &v) == 0 && v.kind == DAFT_V_TENSOR;
        daft_value_free(&v);
        daft_rt_release(rt, res[r]);
    }
    CHECK(made == 2, "icoll kill: the first operation failed");
    DaftValue ms = daft_value_i64(5000);
    DaftRef st;
    daft_rt_call(rt, b, M_STALL, &ms, 1, &st); /* b is busy: a waits for it in NCCL */
    for (int r = 0; r < 2; r++)
        in[r] = produce(rt, acts[r], 60 + r, 64);
    icoll_submit(rt, acts, 2, 7, 0, 0, 0, NULL, in, res);
    icoll_release(rt, in, 2);
    struct timespec ts = {0, 500000000L};
    nanosleep(&ts, NULL);
    double t0 = gh_now();
    daft_rt_kill(rt, b);
    CHECK(icoll_collect(rt, res, 1, "'kd'", want, 0, "icoll kill") == 1,
          "kill -9 during an interpreted collective: the survivor's result does not name the dead actor");
    CHECK(gh_now() - t0 < 30, "kill -9 during an interpreted collective took %.1f s", gh_now() - t0);
    daft_rt_release(rt, res[1]);
    daft_rt_release(rt, st);
    DaftRef p = produce(rt, a, 1, 64);
    DaftValue pv = daft_value_ref(p), s = call_get(rt, a, M_CONSUME, &pv, 1);
    double want_sum = cpu_sum_randn(1, 64);
    CHECK(s.kind == DAFT_V_F64 && fabs(s.as.f64 - want_sum) < 1e-6 * (1 + fabs(want_sum)),
          "survivor of an interpreted collective's kill: %s", s.kind == DAFT_V_ERROR ? s.as.error.msg : "wrong sum");
    printf("kill -9 during an interpreted collective over NCCL: error in %.2f s, survivor ok\n", gh_now() - t0);
    daft_value_free(&s);
    daft_rt_release(rt, p);
}

int main(void)
{
    setenv("NCCL_NVLS_ENABLE", "0", 0);
    int ngpu = gh_ngpus();
    printf("test_gpu_rt: %d GPUs\n", ngpu);
    if (ngpu < 1)
        return 2;
    DaftRt *rt = daft_rt_init(NULL, NULL);
    int cls = daft_rt_register_class(rt, &ga_class);
    daft_rt_method_takes_errors(rt, cls, M_COLL); /* a member whose input failed still joins */
    int nact = ngpu >= 4 ? 4 : ngpu;
    DaftActor acts[4];
    char names[4][8];
    for (int i = 0; i < nact; i++) {
        snprintf(names[i], sizeof names[i], "g%d", i);
        acts[i] = gh_spawn(rt, cls, names[i], i);
    }
    /* 1. each actor has its GPU */
    for (int i = 0; i < nact; i++) {
        DaftValue v = call_get(rt, acts[i], M_DEV, NULL, 0);
        CHECK(v.kind == DAFT_V_I64 && v.as.i64 == i, "actor g%d: daft_ctx_gpu = %lld (kind %d%s%s)", i,
              (long long)v.as.i64, (int)v.kind, v.kind == DAFT_V_ERROR ? ": " : "",
              v.kind == DAFT_V_ERROR ? v.as.error.msg : "");
        daft_value_free(&v);
    }
    /* 2. every op on the GPU equals the CPU */
    DaftValue seed = daft_value_i64(7);
    DaftValue v = call_get(rt, acts[0], M_OPS, &seed, 1);
    CHECK(v.kind == DAFT_V_I64 && v.as.i64 == 0, "GPU ops vs CPU: %lld mismatches (kind %d)",
          (long long)v.as.i64, (int)v.kind);
    printf("std ops on GPU vs CPU: %s\n", v.kind == DAFT_V_I64 && v.as.i64 == 0 ? "all equal" : "MISMATCH");
    daft_value_free(&v);
    /* 3. GPU values: to the driver (host copy, bits equal), Ref passing to another GPU */
    DaftValue pa[2] = {daft_value_i64(3), daft_value_i64(64)};
    DaftRef r;
    daft_rt_call(rt, acts[0], M_PRODUCE, pa, 2, &r);
    DaftValue got = daft_value_none();
    daft_rt_get(rt, r, 60, &got);
    DaftValue ca[2] = {daft_value_list(2), daft_value_i64(3)}, want;
    ca[0].as.list.items[0] = daft_value_i64(64);
    ca[0].as.list.items[1] = daft_value_i64(256);
    daft_std_tensor_randn(NULL, ca, 2, &want);
    CHECK(got.kind == DAFT_V_TENSOR && got.as.tensor.device == 0 && daft_value_equal(&got, &want),
          "get of a GPU tensor: not the CPU randn bits");
    DaftValue rv = daft_value_ref(r);
    DaftValue od = call_get(rt, acts[0], M_ONDEV, &rv, 1);
    CHECK(od.kind == DAFT_V_I64 && od.as.i64 == 1, "result stays on GPU 0: device %lld", (long long)od.as.i64);
    int64_t rx0 = nact >= 2 ? nx(rt, acts[1], 1) : 0, tx0 = nact >= 2 ? nx(rt, acts[0], 0) : 0;
    if (nact >= 2) {
        DaftValue od2 = call_get(rt, acts[1], M_ONDEV, &rv, 1);
        CHECK(od2.kind == DAFT_V_I64 && od2.as.i64 == 2, "Ref passed to the GPU-1 actor: device %lld",
              (long long)od2.as.i64);
        DaftValue s2 = call_get(rt, acts[1], M_CONSUME, &rv, 1);
        DaftValue cs;
        daft_std_tensor_sum(NULL, &want, 1, &cs);
        CHECK(s2.kind == DAFT_V_F64 && fabs(s2.as.f64 - cs.as.f64) < 1e-9 * (1 + fabs(cs.as.f64)),
              "sum on GPU 1 of a Ref from GPU 0");
        /* the data on GPU 1 equals the source bit for bit (relay = a device copy there,
         * then to the driver), and the Ref moved once, GPU to GPU over NCCL, for the three
         * tasks of GPU 1's actor given it (SPEC 15.2: the consumer keeps its copy) */
        DaftValue rel = call_get(rt, acts[1], M_RELAY, &rv, 1);
        CHECK(rel.kind == DAFT_V_TENSOR && daft_value_equal(&rel, &want),
              "Ref relayed on GPU 1: not the source bits (kind %d%s%s)", (int)rel.kind,
              rel.kind == DAFT_V_ERROR ? ": " : "", rel.kind == DAFT_V_ERROR ? rel.as.error.msg : "");
        int64_t rx1 = nx(rt, acts[1], 1), tx1 = nx(rt, acts[0], 0);
        CHECK(rx1 - rx0 == 1 && tx1 - tx0 == 1,
              "interpreted GPU transfers over NCCL: GPU 1 received %lld, GPU 0 sent %lld (want 1, 1)",
              (long long)(rx1 - rx0), (long long)(tx1 - tx0));
        printf("interpreted GPU 0 -> GPU 1 Ref passing over NCCL: %lld received\n", (long long)(rx1 - rx0));
        daft_value_free(&rel);
        daft_value_free(&s2);
        daft_value_free(&od2);
        daft_value_free(&cs);
        /* the other direction (a second communicator), 4 MiB f32 */
        DaftValue pb[2] = {daft_value_i64(5), daft_value_i64(4096)};
        DaftRef r2;
        daft_rt_call(rt, acts[1], M_PRODUCE, pb, 2, &r2);
        DaftValue rv2 = daft_value_ref(r2), back = call_get(rt, acts[0], M_RELAY, &rv2, 1);
        DaftValue cb[2] = {daft_value_list(2), daft_value_i64(5)}, want2;
        cb[0].as.list.items[0] = daft_value_i64(4096);
        cb[0].as.list.items[1] = daft_value_i64(256);
        daft_std_tensor_randn(NULL, cb, 2, &want2);
        CHECK(back.kind == DAFT_V_TENSOR && daft_value_equal(&back, &want2),
              "Ref from GPU 1 relayed on GPU 0: not the source bits (kind %d%s%s)", (int)back.kind,
              back.kind == DAFT_V_ERROR ? ": " : "", back.kind == DAFT_V_ERROR ? back.as.error.msg : "");
        CHECK(nx(rt, acts[0], 1) >= 1 && nx(rt, acts[1], 0) >= 1,
              "GPU 1 -> GPU 0 transfer not over NCCL (received %lld, sent %lld)",
              (long long)nx(rt, acts[0], 1), (long long)nx(rt, acts[1], 0));
        daft_rt_release(rt, r2);
        daft_value_free(&back);
        daft_value_free(&want2);
        daft_value_free(&cb[0]);
    }
    daft_rt_release(rt, r);
    daft_value_free(&got);
    daft_value_free(&want);
    daft_value_free(&ca[0]);
    printf("GPU values to driver and Ref passing: done\n");
    /* 4. compiled chain over NCCL, static and auto shapes */
    if (nact >= 2) {
        test_chain(rt, acts[0], acts[1], false);
        test_chain(rt, acts[0], acts[1], true);
        test_allreduce(rt, acts, 2);
        test_crossed(rt, acts, 2);
    }
    if (nact >= 4) {
        test_allreduce(rt, acts, 4);
        test_crossed(rt, acts, 4);
        test_interleaved(rt, acts, 4);
    } else if (nact >= 2) {
        test_interleaved(rt, acts, 2);
    }
    /* 5. interpreted collectives over NCCL (one member: a communicator of one rank) */
    if (nact >= 1)
        test_icoll(rt, acts, 1);
    if (nact >= 2)
        test_icoll(rt, acts, 2);
    if (nact >= 4)
        test_icoll(rt, acts, 4);
    /* 6. kill -9 during NCCL transfers and during an interpreted collective (fresh pairs,
     * on GPUs 0 and 1) */
    if (nact >= 2) {
        DaftActor ka = gh_spawn(rt, cls, "ka", 0), kb = gh_spawn(rt, cls, "kb", 1);
        test_kill(rt, ka, kb);
        DaftActor kc = gh_spawn(rt, cls, "kc", 0), kd = gh_spawn(rt, cls, "kd", 1);
        test_icoll_kill(rt, kc, kd);
    }
    daft_rt_shutdown(rt);
    printf("test_gpu_rt: %d checks, %d failures\n", g_checks, g_fail);
    return g_fail ? 1 : 0;
}
