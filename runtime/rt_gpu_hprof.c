/* rt_gpu_hprof.c — DAFT_GPU_PROFILE=host: where a GPU actor's CPU time goes inside the GPU
 * runtime, per kind of call (a std operation as a whole, and the allocations, frees,
 * cuBLAS and NCCL calls inside it), printed when the actor stops.
 *
 * Why: W7 at batch 32 and the one-GPU runs are bound by the actor's CPU keeping its GPU
 * fed; the lent machines have neither perf nor Nsight Systems. Unlike DAFT_GPU_PROFILE=1
 * this records no CUDA events (they would cost host time themselves): two clock reads per
 * call. Part of libdaftgpu.so; one process is one actor, so the table is per process. */
#define _GNU_SOURCE
#include "rt_gpu.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define HPROF_NAMES 64

typedef struct HprofSum {
    char *name;
    int64_t ns, count, max_ns;
} HprofSum;

static struct {
    int on; /* 0 not yet read, 1 on, -1 off */
    HprofSum sums[HPROF_NAMES];
    int n;
} H;

static int64_t hprof_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

bool rtg_hprof_on(void)
{
    if (!H.on) {
        const char *e = getenv("DAFT_GPU_PROFILE");
        H.on = e && !strcmp(e, "host") ? 1 : -1;
    }
    return H.on > 0;
}

int64_t rtg_hprof_begin(void) { return rtg_hprof_on() ? hprof_now() : 0; }

void rtg_hprof_end(const char *name, int64_t t0)
{
    if (!t0)
        return;
    int64_t dt = hprof_now() - t0;
    int k = 0;
    while (k < H.n && strcmp(H.sums[k].name, name))
        k++;
    if (k == H.n) {
        char *copy = H.n < HPROF_NAMES ? strdup(name) : NULL;
        if (!copy)
            return;
        H.sums[H.n++] = (HprofSum){copy, 0, 0, 0};
    }
    H.sums[k].ns += dt;
    H.sums[k].count++;
    if (dt > H.sums[k].max_ns) /* (a first call's one-time costs: lazy kernel loading) */
        H.sums[k].max_ns = dt;
}

void rtg_hprof_report(const char *who, int dev)
{
    if (!rtg_hprof_on() || !H.n)
        return;
    fprintf(stderr, "daft: host profile of %s (GPU %d; CPU time inside the GPU runtime; "
                    "nested calls are also counted in their callers)\n  %-22s %9s %11s %9s %10s\n",
            who, dev, "call", "count", "total ms", "avg us", "max us");
    for (int k = 0; k < H.n; k++)
        fprintf(stderr, "  %-22s %9lld %11.3f %9.2f %10.1f\n", H.sums[k].name, (long long)H.sums[k].count,
                (double)H.sums[k].ns / 1e6, (double)H.sums[k].ns / 1e3 / (double)H.sums[k].count,
                (double)H.sums[k].max_ns / 1e3);
}
