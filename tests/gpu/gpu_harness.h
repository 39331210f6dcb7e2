/* gpu_harness.h — plan building and spawning helpers for the GPU runtime tests/bench. */
#ifndef DAFT_GPU_HARNESS_H
#define DAFT_GPU_HARNESS_H
#pragma GCC diagnostic ignored "-Wunused-function"

#include "gpu_actors.h"

#include <daft/plan.h>
#include <dirent.h>
#include <stdlib.h>
#include <time.h>

static double gh_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int gh_ngpus(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (getenv("DAFT_TEST_NGPU"))
        return atoi(getenv("DAFT_TEST_NGPU"));
    DIR *d = opendir("/proc/driver/nvidia/gpus");
    int n = 0;
    for (struct dirent *e; d && (e = readdir(d));)
        n += e->d_name[0] != '.';
    if (d)
        closedir(d);
    return n;
}

static DaftActor gh_spawn(DaftRt *rt, int cls, const char *name, int gpu)
{
    DaftSpawnOpts o = {name, -1, gpu};
    DaftActor a = 0;
    if (daft_rt_spawn(rt, cls, NULL, 0, &o, &a)) {
        fprintf(stderr, "spawn %s: %s\n", name, daft_rt_last_error(rt));
        exit(2);
    }
    return a;
}

static DaftPlan *gh_build(DaftGraph *g, int inflight)
{
    DaftPlanOptions o = {0};
    o.inflight = inflight;
    DaftPlan *p = NULL;
    char err[256];
    if (daft_plan_build(g, &o, &p, err, sizeof err)) {
        fprintf(stderr, "plan: %s\n", err);
        exit(2);
    }
    return p; /* the graph stays alive: the plan points into it */
}

static DaftPayload gh_tensor(int rank, const int64_t *dims)
{
    return daft_payload_tensor(DAFT_DT_F32, rank, dims);
}

static int gh_count_nccl(const DaftPlan *p)
{
    int n = 0;
    for (int c = 0; c < p->nchannels; c++)
        n += p->channels[c].transport == DAFT_TRANSPORT_NCCL;
    for (int g = 0; g < p->ngroups; g++)
        n += p->groups[g].transport == DAFT_TRANSPORT_NCCL;
    return n;
}

/* x -> a.<m1>(x, extra...) = t [payload pt, hint] -> b.<m2>(t, consts...) -> output */
static DaftPlan *gh_chain(const char *name, int gpu_a, int gpu_b, DaftPayload pt, bool dyn,
                          const char *m1, int64_t konst, const char *m2, int inflight,
                          DaftGraph **gout)
{
    DaftGraph *g = daft_graph_new(name);
    int a = daft_graph_add_actor(g, "a", "G", 1, 0, gpu_a);
    int b = daft_graph_add_actor(g, "b", "G", 1, 0, gpu_b);
    int x = daft_graph_add_input(g, "x", daft_payload_scalar(DAFT_PAY_I64));
    int last = daft_graph_add_input(g, "last", daft_payload_scalar(DAFT_PAY_I64));
    DaftCommHint h = {0};
    DaftCommHint th = {DAFT_COMM_NCCL, NULL, dyn};
    DaftGraphArg a1[2] = {daft_arg_value(x), daft_arg_i64(konst)};
    int t = daft_graph_add_task(g, a, m1, a1, 2, pt, th);
    bool sink = !strcmp(m2, "sink");
    DaftGraphArg a2[3] = {daft_arg_value(t), daft_arg_value(x), daft_arg_value(last)};
    int y = daft_graph_add_task(g, b, m2, a2, sink ? 3 : 1,
                                daft_payload_scalar(sink ? DAFT_PAY_I64 : DAFT_PAY_F64), h);
    daft_graph_add_output(g, "y", y);
    *gout = g;
    return gh_build(g, inflight);
}

#endif
