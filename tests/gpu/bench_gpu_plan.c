/* bench_gpu_plan.c — W3 and W4 (DESIGN.md) with daft compiled plans on GPUs, written
 * against daftrt.h + daft/plan.h; tests/gpu/run.sh runs it next to the NCCL peers and
 * prints the ratios. Prints RESULT lines like the peers:
 *   W3 daft_plan "2 GPUs, N B" stream_GBps  (pipelined A->B transfers of N bytes over NCCL)
 *   W3 daft_plan "2 GPUs, 8 B" rtt_host_us   (driver -> A -> B -> A -> driver, GPU synced; host clock)
 *   W3 daft_plan "2 GPUs, 8 B" rtt_actor_us  (A -> B -> A as A's host sees it: its clock when
 *        the execution starts on A, then when A's GPU has B's answer; the C peer's rtt_host_us
 *        is the same span of its rank 0, which has no driver before and after it)
 *   W4 daft_plan "2 GPUs, 536870912 B f32" busbw_GBps (allreduce in a plan, pipelined)
 * -n4: W4 over 4 GPUs only; -rtt: the round trip only (e.g. under DAFT_GPU_PROFILE=host,
 * whose per-actor report then holds nothing else). */
#include "gpu_harness.h"

static void result(const char *w, const char *cfg, const char *metric, double v)
{
    printf("RESULT\t%s\tdaft_plan\t%s\t%s\t%.6g\n", w, cfg, metric, v);
    fflush(stdout);
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* K executions pipelined; the last one waits for the GPU; returns seconds. */
static double burst(DaftRt *rt, DaftRtPlan *p, int k, int nout)
{
    DaftValue out[8];
    int errs = 0;
    double t0 = gh_now();
    for (int i = 0; i < k; i++) {
        DaftValue in[2] = {daft_value_i64(i), daft_value_i64(k - 1)};
        if (daft_rt_plan_submit(rt, p, in, nout ? 2 : 2, 120))
            return -1;
    }
    for (int i = 0; i < k; i++) {
        if (daft_rt_plan_result(rt, p, 120, out, nout))
            return -1;
        for (int o = 0; o < nout; o++) {
            if (out[o].kind == DAFT_V_ERROR && errs++ == 0)
                fprintf(stderr, "error: %s\n", out[o].as.error.msg);
            daft_value_free(&out[o]);
        }
    }
    if (errs)
        exit(1);
    return gh_now() - t0;
}

/* W3's 8-byte round trip a -> b -> a (a, b on GPUs 0 and 1), 1000 times after 100 warm-up
 * runs: the median as the driver times it (driver -> a.mk -> b.relay -> a.sink, synced ->
 * driver: rtt_host_us), or, `on_actor`, as a times it from its mk_timed to its sink_timed
 * (rtt_actor_us: the span the C peer's rank 0 times, no driver before or after it). */
static int round_trip(DaftRt *rt, DaftActor *acts, bool on_actor)
{
    DaftGraph *g = daft_graph_new(on_actor ? "rtt_actor" : "rtt");
    int a = daft_graph_add_actor(g, "a", "G", 1, 0, 0);
    int b = daft_graph_add_actor(g, "b", "G", 1, 0, 1);
    int x = daft_graph_add_input(g, "x", daft_payload_scalar(DAFT_PAY_I64));
    int64_t dims[1] = {2};
    DaftCommHint h = {0}, th = {DAFT_COMM_NCCL, NULL, false};
    DaftGraphArg a1[2] = {daft_arg_value(x), daft_arg_i64(8)};
    int t = daft_graph_add_task(g, a, on_actor ? "mk_timed" : "mk", a1, 2, gh_tensor(1, dims), th);
    DaftGraphArg a2[1] = {daft_arg_value(t)};
    int u = daft_graph_add_task(g, b, "relay", a2, 1, gh_tensor(1, dims), th);
    /* sink(t, i, last) syncs when i >= last: always here (x given for both) */
    DaftGraphArg a3[3] = {daft_arg_value(u), daft_arg_value(x), daft_arg_value(x)};
    int y = daft_graph_add_task(g, a, on_actor ? "sink_timed" : "sink", a3, on_actor ? 1 : 3,
                                daft_payload_scalar(DAFT_PAY_I64), h);
    daft_graph_add_output(g, "y", y);
    DaftPlan *plan = gh_build(g, 2);
    DaftRtPlan *p;
    if (daft_rt_plan_load(rt, plan, acts, 2, &p)) {
        fprintf(stderr, "load: %s\n", daft_rt_last_error(rt));
        return 1;
    }
    int iters = 1000;
    double *ts = malloc(sizeof(double) * (size_t)iters);
    for (int i = -100; i < iters; i++) {
        DaftValue in[1] = {daft_value_i64(i)}, out;
        double t0 = gh_now();
        daft_rt_plan_submit(rt, p, in, 1, 60);
        daft_rt_plan_result(rt, p, 60, &out, 1);
        double host_us = (gh_now() - t0) * 1e6;
        if (i >= 0)
            ts[i] = !on_actor ? host_us : out.kind == DAFT_V_I64 ? out.as.i64 / 1e3 : 1e9;
        daft_value_free(&out);
    }
    qsort(ts, (size_t)iters, sizeof *ts, cmp_d);
    result("W3", "2 GPUs, 8 B", on_actor ? "rtt_actor_us" : "rtt_host_us", ts[iters / 2]);
    free(ts);
    daft_rt_plan_unload(rt, p);
    daft_plan_free(plan);
    return 0;
}

int main(int argc, char **argv)
{
    setenv("NCCL_NVLS_ENABLE", "0", 0);
    int only4 = argc > 1 && !strcmp(argv[1], "-n4");
    int only_rtt = argc > 1 && !strcmp(argv[1], "-rtt");
    int ngpu = gh_ngpus();
    if (ngpu < 2)
        return 2;
    DaftRt *rt = daft_rt_init(NULL, NULL);
    int cls = daft_rt_register_class(rt, &ga_class);
    int n = only4 && ngpu >= 4 ? 4 : 2;
    DaftActor acts[4];
    char names[4][8];
    for (int i = 0; i < n; i++) {
        snprintf(names[i], sizeof names[i], "b%d", i);
        acts[i] = gh_spawn(rt, cls, names[i], i);
    }
    if (!only4) {
        /* W3 stream: A -> B, static shape */
        const int64_t sizes[3] = {8, 1 << 20, 256 << 20};
        for (int s = 0; s < 3 && !only_rtt; s++) {
            int64_t dims[1] = {sizes[s] / 4};
            DaftGraph *g;
            DaftPlan *plan = gh_chain("w3", 0, 1, gh_tensor(1, dims), false, "mk", sizes[s], "sink", 4, &g);
            DaftRtPlan *p;
            if (daft_rt_plan_load(rt, plan, acts, 2, &p)) {
                fprintf(stderr, "load: %s\n", daft_rt_last_error(rt));
                return 1;
            }
            int k = sizes[s] >= (64 << 20) ? 40 : sizes[s] >= (1 << 20) ? 400 : 2000;
            burst(rt, p, k / 4, 1); /* warm-up: communicator, pool */
            double best = 1e30;
            for (int rep = 0; rep < 3; rep++) {
                double t = burst(rt, p, k, 1);
                if (t > 0 && t < best)
                    best = t;
            }
            char cfg[64];
            snprintf(cfg, sizeof cfg, "2 GPUs, %lld B", (long long)sizes[s]);
            result("W3", cfg, "stream_GBps", (double)sizes[s] * k / best / 1e9);
            result("W3", cfg, "per_exec_us", best / k * 1e6);
            daft_rt_plan_unload(rt, p);
            daft_plan_free(plan);
        }
        /* W3 8-byte round trip: driver -> a.mk -> b.relay -> a.sink (synced) -> driver, timed
         * by the driver, then by a itself (mk_timed ... sink_timed) */
        if (round_trip(rt, acts, false) || round_trip(rt, acts, true))
            return 1;
    }
    /* W4: allreduce of 512 MiB f32 over n GPUs inside a plan */
    if (!only_rtt) {
        int64_t bytes = 512LL << 20, dims[1] = {bytes / 4};
        DaftGraph *g = daft_graph_new("w4");
        int ai[4], xs[4], rs[4];
        int x = daft_graph_add_input(g, "x", daft_payload_scalar(DAFT_PAY_I64));
        int last = daft_graph_add_input(g, "last", daft_payload_scalar(DAFT_PAY_I64));
        DaftCommHint h = {0};
        for (int i = 0; i < n; i++) {
            ai[i] = daft_graph_add_actor(g, names[i], "G", 1, 0, i);
            DaftGraphArg a1[2] = {daft_arg_value(x), daft_arg_i64(bytes)};
            xs[i] = daft_graph_add_task(g, ai[i], "mk", a1, 2, gh_tensor(1, dims), h);
        }
        daft_graph_add_collective(g, DAFT_COLL_ALLREDUCE, DAFT_REDUCE_SUM, 0, ai, xs, n, rs);
        for (int i = 0; i < n; i++) {
            DaftGraphArg a3[3] = {daft_arg_value(rs[i]), daft_arg_value(x), daft_arg_value(last)};
            int y = daft_graph_add_task(g, ai[i], "sink", a3, 3, daft_payload_scalar(DAFT_PAY_I64), h);
            daft_graph_add_output(g, names[i], y);
        }
        DaftPlan *plan = gh_build(g, 2);
        DaftRtPlan *p;
        if (daft_rt_plan_load(rt, plan, acts, n, &p)) {
            fprintf(stderr, "load: %s\n", daft_rt_last_error(rt));
            return 1;
        }
        burst(rt, p, 5, n);
        double best = 1e30;
        int k = 20;
        for (int rep = 0; rep < 3; rep++) {
            double t = burst(rt, p, k, n);
            if (t > 0 && t < best)
                best = t;
        }
        double per = best / k;
        char cfg[64];
        snprintf(cfg, sizeof cfg, "%d GPUs, %lld B f32", n, (long long)bytes);
        result("W4", cfg, "time_us", per * 1e6);
        result("W4", cfg, "busbw_GBps", (double)bytes / per / 1e9 * 2.0 * (n - 1) / n);
        daft_rt_plan_unload(rt, p);
        daft_plan_free(plan);
    }
    daft_rt_shutdown(rt);
    return 0;
}
