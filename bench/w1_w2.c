/* w1_w2.c — DESIGN.md reference workloads W1 and W2 on the CPU runtime (libdaftrt), written
 * in C against daftrt.h and daft/plan.h (plans built programmatically; no .daft source).
 *
 *   w1_w2 w1c [-n N] [-warmup W] [-bytes B]   W1 compiled: driver -> actor -> driver, 8 B
 *                                             (B > 8: an f32 tensor of B bytes instead)
 *   w1_w2 w1i [-n N] [-warmup W]              W1 interpreted: daft_rt_call + daft_rt_get
 *   w1_w2 w2  [-seconds S] [-inflight K] [-actors A] [-bytes B]
 *                                             W2: chain of A (4) actors, B (1024) bytes,
 *                                             compiled, K executions in flight
 *   w1_w2 all                                 all three with their defaults
 *
 * W1 compiled: a one-actor plan  x:i64 -> a.echo(x) -> y  with one execution in flight;
 * each round trip is daft_rt_plan_submit + daft_rt_plan_result, timed one by one with
 * CLOCK_MONOTONIC; the figure is the median (and p10/p90/p99 on stderr) of N (100,000)
 * round trips after W (10,000) warm-up ones. Every result is checked.
 * W1 interpreted: the same echo as a task: daft_rt_call, daft_rt_get, daft_rt_release.
 * W2: a plan  x:tensor<f32,[256]> -> s0.bump -> s1.bump -> s2.bump -> s3.bump -> y  over
 * 4 actor processes (each bump copies the 1 KiB tensor and adds 1 to element 0); the
 * driver keeps K executions in flight (submit when fewer than K are pending, else take the
 * oldest result) for S seconds after a warm-up second; figure = completed executions / s.
 * Every output is checked (element 0 = input + 4).
 *
 * Output: human lines on stderr, and one machine line per figure on stdout:
 *   RESULT <tab> workload <tab> program <tab> config <tab> metric <tab> value
 * (the format of bench/peers), parsed by bench/run. Exit status 0 only if every figure
 * was measured; a failing API call is reported with daft_rt_last_error() and the
 * workload's RESULT line is replaced by "FAILED <tab> workload <tab> config <tab> reason".
 */
#define _GNU_SOURCE
#include <daft/plan.h>

#include "daftrt.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---------------------------------------------------------------- the actor class */

static int m_echo(DaftActorCtx *ctx, void *st, const DaftValue *a, int n, DaftValue *out)
{
    (void)st;
    if (n != 1)
        return daft_raise(ctx, "echo expects one argument");
    *out = a[0]; /* shallow: i64 owns nothing */
    if (a[0].kind != DAFT_V_I64)
        return daft_value_copy(out, &a[0]) ? daft_raise(ctx, "out of memory") : 0;
    return 0;
}

static int m_bump(DaftActorCtx *ctx, void *st, const DaftValue *a, int n, DaftValue *out)
{
    (void)st;
    if (n != 1 || a[0].kind != DAFT_V_TENSOR || a[0].as.tensor.dtype != DAFT_RT_F32)
        return daft_raise(ctx, "bump expects one f32 tensor");
    if (daft_value_copy(out, &a[0]))
        return daft_raise(ctx, "out of memory");
    ((float *)out->as.tensor.data)[0] += 1.0f;
    return 0;
}

static const DaftMethodDesc k_methods[] = {{"echo", m_echo}, {"bump", m_bump}};
static const DaftClassDesc k_class = {"Bench", 0, NULL, NULL, k_methods, 2};

/* ---------------------------------------------------------------- helpers */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static const char *arg_str(int argc, char **argv, const char *flag, const char *def)
{
    for (int i = 2; i + 1 < argc; i++)
        if (!strcmp(argv[i], flag))
            return argv[i + 1];
    return def;
}

static long long arg_ll(int argc, char **argv, const char *flag, long long def)
{
    const char *s = arg_str(argc, argv, flag, NULL);
    return s ? strtoll(s, NULL, 0) : def;
}

static double arg_d(int argc, char **argv, const char *flag, double def)
{
    const char *s = arg_str(argc, argv, flag, NULL);
    return s ? strtod(s, NULL) : def;
}

static void result(const char *w, const char *config, const char *metric, double v)
{
    printf("RESULT\t%s\tdaft\t%s\t%s\t%.6g\n", w, config, metric, v);
    fflush(stdout);
}

static int g_rc; /* the last failing call's return code, for failed() */

static int failed(const char *w, const char *config, DaftRt *rt, const char *what)
{
    const char *why = rt ? daft_rt_last_error(rt) : "";
    fprintf(stderr, "%s %s: %s failed (rc %d)%s%s\n", w, config, what, g_rc, *why ? ": " : "",
            why);
    printf("FAILED\t%s\t%s\t%s failed (rc %d)%s%s\n", w, config, what, g_rc, *why ? ": " : "",
           why);
    fflush(stdout);
    return 1;
}

/* Median and percentiles of n samples (sorted in place), printed on stderr. */
static double report_lat(const char *w, const char *config, double *s, long n)
{
    qsort(s, (size_t)n, sizeof *s, cmp_double);
    double med = s[n / 2];
    fprintf(stderr,
            "%s %s: %ld round trips: median %.3f us, p10 %.3f, p90 %.3f, p99 %.3f, min %.3f, "
            "max %.1f\n",
            w, config, n, med * 1e6, s[n / 10] * 1e6, s[n * 9 / 10] * 1e6,
            s[n * 99 / 100] * 1e6, s[0] * 1e6, s[n - 1] * 1e6);
    result(w, config, "median_us", med * 1e6);
    result(w, config, "p99_us", s[n * 99 / 100] * 1e6);
    return med;
}

typedef struct Bench {
    DaftRt *rt;
    int cls;
} Bench;

static int spawn_n(Bench *b, int n, DaftActor *out)
{
    for (int i = 0; i < n; i++) {
        char name[32];
        snprintf(name, sizeof name, "s%d", i);
        DaftSpawnOpts o = {name, -1, -1};
        if ((g_rc = daft_rt_spawn(b->rt, b->cls, NULL, 0, &o, &out[i])))
            return -1;
    }
    return 0;
}

/* ---------------------------------------------------------------- W1 compiled */

/* bytes 8: an i64; more: an f32 tensor of that many bytes whose element 0 carries i. */
static int w1_compiled(Bench *b, long n, long warm, long long bytes)
{
    const char *W = "W1";
    char C[64] = "compiled";
    bool big = bytes > 8;
    int64_t elems = big ? (int64_t)(bytes / 4) : 1;
    if (big)
        snprintf(C, sizeof C, "compiled %lld B", (long long)elems * 4);
    DaftPayload pl = big ? daft_payload_tensor(DAFT_DT_F32, 1, &elems) : daft_payload_scalar(DAFT_PAY_I64);
    DaftValue x0 = big ? daft_value_tensor(DAFT_RT_F32, 1, &elems, NULL) : daft_value_i64(0);
    DaftActor a;
    if (spawn_n(b, 1, &a))
        return failed(W, C, b->rt, "daft_rt_spawn");
    DaftGraph *g = daft_graph_new("w1");
    int ga = daft_graph_add_actor(g, "a", "Bench", 0, -1, -1);
    int x = daft_graph_add_input(g, "x", pl);
    DaftCommHint h = {0};
    DaftGraphArg arg = daft_arg_value(x);
    int y = daft_graph_add_task(g, ga, "echo", &arg, 1, pl, h);
    daft_graph_add_output(g, "y", y);
    if (g->error[0]) {
        fprintf(stderr, "W1 graph: %s\n", g->error);
        return failed(W, C, NULL, "graph");
    }
    DaftPlanOptions po = {0};
    po.cpu_only = true;
    po.inflight = 1;
    DaftPlan *plan = NULL;
    char err[256];
    if (daft_plan_build(g, &po, &plan, err, sizeof err)) {
        fprintf(stderr, "W1 plan: %s\n", err);
        return failed(W, C, NULL, "daft_plan_build");
    }
    DaftRtPlan *p;
    if ((g_rc = daft_rt_plan_load(b->rt, plan, &a, 1, &p)))
        return failed(W, C, b->rt, "daft_rt_plan_load");
    double *s = malloc(sizeof *s * (size_t)n);
    int rc = 0;
    for (long i = -warm; i < n; i++) {
        DaftValue out;
        if (big)
            ((float *)x0.as.tensor.data)[0] = (float)i;
        else
            x0.as.i64 = i;
        double t0 = now_s();
        if ((g_rc = daft_rt_plan_submit(b->rt, p, &x0, 1, 10.0))) {
            rc = failed(W, C, b->rt, "daft_rt_plan_submit");
            break;
        }
        if ((g_rc = daft_rt_plan_result(b->rt, p, 10.0, &out, 1))) {
            rc = failed(W, C, b->rt, "daft_rt_plan_result");
            break;
        }
        double t1 = now_s();
        bool ok = big ? out.kind == DAFT_V_TENSOR && out.as.tensor.dims[0] == elems &&
                            ((float *)out.as.tensor.data)[0] == (float)i
                      : out.kind == DAFT_V_I64 && out.as.i64 == i;
        if (!ok) {
            char buf[256];
            daft_value_format(&out, buf, sizeof buf);
            fprintf(stderr, "W1 %s: execution %ld returned %s\n", C, i, buf);
            daft_value_free(&out);
            rc = failed(W, C, NULL, "wrong result");
            break;
        }
        daft_value_free(&out);
        if (i >= 0)
            s[i] = t1 - t0;
    }
    if (!rc)
        report_lat(W, C, s, n);
    free(s);
    daft_value_free(&x0);
    daft_rt_plan_unload(b->rt, p);
    daft_plan_free(plan);
    daft_graph_free(g); /* after the plan: the plan points into the graph's strings */
    return rc;
}

/* ---------------------------------------------------------------- W1 interpreted */

static int w1_interpreted(Bench *b, long n, long warm)
{
    const char *W = "W1", *C = "interpreted";
    DaftActor a;
    if (spawn_n(b, 1, &a))
        return failed(W, C, b->rt, "daft_rt_spawn");
    int echo = daft_rt_method_index(b->rt, b->cls, "echo");
    double *s = malloc(sizeof *s * (size_t)n);
    int rc = 0;
    for (long i = -warm; i < n; i++) {
        DaftValue arg = daft_value_i64(i), out;
        DaftRef r;
        double t0 = now_s();
        if ((g_rc = daft_rt_call(b->rt, a, echo, &arg, 1, &r))) {
            rc = failed(W, C, b->rt, "daft_rt_call");
            break;
        }
        if ((g_rc = daft_rt_get(b->rt, r, 10.0, &out))) {
            rc = failed(W, C, b->rt, "daft_rt_get");
            break;
        }
        daft_rt_release(b->rt, r);
        double t1 = now_s();
        if (out.kind != DAFT_V_I64 || out.as.i64 != i) {
            char buf[256];
            daft_value_format(&out, buf, sizeof buf);
            fprintf(stderr, "W1 interpreted: call %ld returned %s\n", i, buf);
            daft_value_free(&out);
            rc = failed(W, C, NULL, "wrong result");
            break;
        }
        if (i >= 0)
            s[i] = t1 - t0;
    }
    if (!rc)
        report_lat(W, C, s, n);
    free(s);
    return rc;
}

/* ---------------------------------------------------------------- W2 */

static int w2_chain(Bench *b, double seconds, int inflight, int nact, long bytes)
{
    const char *W = "W2";
    char C[64];
    snprintf(C, sizeof C, "compiled, %d actors, %ld B, inflight %d", nact, bytes, inflight);
    DaftActor as[64];
    if (nact < 1 || nact > 64 || bytes < 4 || inflight < 1)
        return failed(W, C, NULL, "bad arguments");
    if (spawn_n(b, nact, as))
        return failed(W, C, b->rt, "daft_rt_spawn");
    int64_t numel = bytes / 4;
    DaftGraph *g = daft_graph_new("w2");
    DaftPayload pay = daft_payload_tensor(DAFT_DT_F32, 1, &numel);
    int v = daft_graph_add_input(g, "x", pay);
    DaftCommHint h = {0};
    for (int i = 0; i < nact; i++) {
        char name[32];
        snprintf(name, sizeof name, "s%d", i);
        int ga = daft_graph_add_actor(g, name, "Bench", 0, -1, -1);
        DaftGraphArg arg = daft_arg_value(v);
        v = daft_graph_add_task(g, ga, "bump", &arg, 1, pay, h);
    }
    daft_graph_add_output(g, "y", v);
    if (g->error[0]) {
        fprintf(stderr, "W2 graph: %s\n", g->error);
        return failed(W, C, NULL, "graph");
    }
    DaftPlanOptions po = {0};
    po.cpu_only = true;
    po.inflight = inflight;
    DaftPlan *plan = NULL;
    char err[256];
    if (daft_plan_build(g, &po, &plan, err, sizeof err)) {
        fprintf(stderr, "W2 plan: %s\n", err);
        return failed(W, C, NULL, "daft_plan_build");
    }
    DaftRtPlan *p;
    if ((g_rc = daft_rt_plan_load(b->rt, plan, as, nact, &p)))
        return failed(W, C, b->rt, "daft_rt_plan_load");

    DaftValue x = daft_value_tensor(DAFT_RT_F32, 1, &numel, NULL);
    float *xd = x.as.tensor.data;
    long submitted = 0, done = 0, done_at_start = 0;
    double t_start = now_s(), t_measure = t_start + 1.0, t_end = t_measure + seconds;
    double t_first = 0, t_last = 0;
    int rc = 0, measuring = 0;
    for (;;) {
        double t = now_s();
        if (!measuring && t >= t_measure) {
            measuring = 1;
            done_at_start = done;
            t_first = t;
        }
        bool stop = measuring && t >= t_end;
        if (!stop && daft_rt_plan_pending(p) < inflight) {
            xd[0] = (float)(submitted % 1000000);
            if ((g_rc = daft_rt_plan_submit(b->rt, p, &x, 1, 10.0))) {
                rc = failed(W, C, b->rt, "daft_rt_plan_submit");
                break;
            }
            submitted++;
            continue;
        }
        if (!daft_rt_plan_pending(p))
            break;
        DaftValue out;
        if ((g_rc = daft_rt_plan_result(b->rt, p, 10.0, &out, 1))) {
            rc = failed(W, C, b->rt, "daft_rt_plan_result");
            break;
        }
        float want = (float)(done % 1000000) + (float)nact;
        if (out.kind != DAFT_V_TENSOR || daft_tensor_nbytes(&out.as.tensor) != (size_t)numel * 4 ||
            ((float *)out.as.tensor.data)[0] != want) {
            char buf[256];
            daft_value_format(&out, buf, sizeof buf);
            fprintf(stderr, "W2: execution %ld returned %s\n", done, buf);
            daft_value_free(&out);
            rc = failed(W, C, NULL, "wrong result");
            break;
        }
        daft_value_free(&out);
        done++;
        if (measuring && !stop)
            t_last = now_s();
    }
    if (!rc) {
        /* executions completed between the start of the window and the last completion
         * inside it (the drain after the window is not counted) */
        long n = done - done_at_start;
        double el = t_last > t_first ? t_last - t_first : seconds;
        double rate = (double)n / el;
        fprintf(stderr, "W2 %s: %ld executions in %.3f s: %.0f executions/s (%.2f us each)\n", C,
                n, el, rate, 1e6 / rate);
        result(W, C, "executions_per_s", rate);
    }
    daft_value_free(&x);
    daft_rt_plan_unload(b->rt, p);
    daft_plan_free(plan);
    daft_graph_free(g);
    return rc;
}

/* ---------------------------------------------------------------- main */

static int usage(void)
{
    fprintf(stderr, "usage: w1_w2 w1c|w1i|w2|all [-n N] [-warmup W] [-seconds S] "
                    "[-inflight K] [-actors A] [-bytes B]\n");
    return 2;
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return usage();
    const char *what = argv[1];
    bool all = !strcmp(what, "all");
    if (!all && strcmp(what, "w1c") && strcmp(what, "w1i") && strcmp(what, "w2"))
        return usage();
    long n = arg_ll(argc, argv, "-n", 100000);
    long warm = arg_ll(argc, argv, "-warmup", 10000);
    if (n < 100)
        n = 100;
    int rc = 0;
    /* One runtime per workload, so that the actors of one do not share the CPUs with the
     * idle actors of another (they would sleep on futexes, but cleanly separated is
     * simpler to reason about). */
    const char *list[3] = {"w1c", "w1i", "w2"};
    for (int k = 0; k < 3; k++) {
        if (!all && strcmp(what, list[k]))
            continue;
        Bench b = {0};
        b.rt = daft_rt_init(&argc, &argv);
        if (!b.rt) {
            failed(k < 2 ? "W1" : "W2", list[k], NULL, "daft_rt_init");
            return 1;
        }
        b.cls = daft_rt_register_class(b.rt, &k_class);
        if (b.cls < 0) {
            rc |= failed(k < 2 ? "W1" : "W2", list[k], b.rt, "daft_rt_register_class");
        } else if (k == 0) {
            rc |= w1_compiled(&b, n, warm, arg_ll(argc, argv, "-bytes", 8));
        } else if (k == 1) {
            rc |= w1_interpreted(&b, n, warm);
        } else {
            rc |= w2_chain(&b, arg_d(argc, argv, "-seconds", 3.0),
                           (int)arg_ll(argc, argv, "-inflight", 8),
                           (int)arg_ll(argc, argv, "-actors", 4),
                           arg_ll(argc, argv, "-bytes", 1024));
        }
        daft_rt_shutdown(b.rt);
    }
    return rc ? 1 : 0;
}
