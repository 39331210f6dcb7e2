/* ce_probe.c — does an allreduce on the copy engines slow W5's GEMMs less than NCCL's?
 *
 *   ce_probe [-n GPUS] [-mb 64] [-gemms 8] [-m 1024] [-hidden 4096] [-ops 20] [-reps 5] [-prio 0]
 *            [-sync 1]
 *
 * W5 on 4 GPUs stays at 1.13-1.14 x DDP against a target of 1.25 x; the eighteenth session's
 * dp_probe found the C program of the same schedule no faster, and NCCL's kernels sharing the
 * SMs with the backward's GEMMs one of the two costs (bench/RESULTS.md). An allreduce whose data
 * moves on the copy engines (peer copies over NVLink) and whose SMs do only the additions would
 * leave the GEMMs their SMs. Before such an allreduce is built between daft's actor processes
 * (IPC buffers, stream memory operations), this probe measures what it could give, in one
 * process driving every GPU:
 *   - K GEMMs ([m, hidden] x [hidden, hidden], fp32, the W5 layer's shape) on a compute stream;
 *   - `ops` allreduces of `mb` MiB on a second stream: NCCL's (ncclAllReduce, sum, f32), or the
 *     copy-engine pattern: each GPU pulls its chunk from every other (cudaMemcpyPeerAsync),
 *     adds them (one elementwise kernel each), and pulls every other reduced chunk back;
 *   - each alone, then GEMMs and allreduces started together on every GPU.
 * -sync 0 times the copy-engine pattern for its traffic and kernels only: the GPUs do not wait
 * for one another between its steps, so its values are not an allreduce's. -sync 1 (default)
 * makes it one: each step waits for the peers' previous step (CUDA events across the GPUs, what
 * flags in memory would be between processes), and the gradients, ones at the start, must hold
 * n^ops at the end (checked on every GPU).
 * -prio 1 gives the allreduce stream the highest priority, so that the additions run between
 * the GEMMs' blocks instead of after them.
 * RESULT lines (ms, median over reps, the slowest GPU): gemms_alone, nccl_alone, ce_alone,
 * gemms_with_nccl, nccl_with_gemms, gemms_with_ce, ce_with_gemms.
 *
 *   ce_probe -mode step [-n GPUS] [-hidden 4096] [-batch 256] [-layers 8] [-steps 20] [-reps 3]
 *
 * W5's training step itself (dp_probe's `daft` order: forward, MSE gradient, then from the last
 * layer down its weight gradient, that gradient's allreduce on the second stream, its input
 * gradient; the SGD updates after the backward), data parallel over the GPUs, with NCCL's
 * allreduce (`step_nccl`), the copy-engine one (`step_ce`), and none (`step_compute`, the
 * bound): samples/s, median of reps. A layer's copy-engine allreduce waits for every GPU's
 * weight gradient of that layer, and a GPU overwrites a gradient only once the others have
 * pulled it (events across the GPUs). Each prints the final MSE on GPU 0: the three train the
 * same model from the same start and must agree closely.
 */
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "peer_common.h"
#include "std_cuda.h"

#define MAX_GPUS 8

typedef struct Gpu {
    cudaStream_t compute, comm;
    ncclComm_t nccl;
    float *x, *w, *y;     /* the GEMM's operands */
    float *g, *scratch;   /* the gradient, and one chunk per peer */
    cudaEvent_t reduced, done; /* -sync 1: its chunk is reduced; its pulls are done */
} Gpu;

typedef struct Probe {
    int n;
    int64_t m, h, elems, chunk;
    int gemms, ops, prio, sync;
    Gpu gpu[MAX_GPUS];
} Probe;

static int check_std(int rc, const char *what)
{
    if (rc)
        fprintf(stderr, "ce_probe: %s: %s\n", what, std_cuda_last_error());
    return rc;
}

static int setup(Probe *p)
{
    int devs[MAX_GPUS];
    ncclComm_t comms[MAX_GPUS];
    for (int d = 0; d < p->n; d++)
        devs[d] = d;
    PNC(ncclCommInitAll(comms, p->n, devs));
    for (int d = 0; d < p->n; d++) {
        Gpu *g = &p->gpu[d];
        PCU(cudaSetDevice(d));
        for (int j = 0; j < p->n; j++)
            if (j != d) {
                cudaError_t e = cudaDeviceEnablePeerAccess(j, 0);
                if (e != cudaSuccess && e != cudaErrorPeerAccessAlreadyEnabled)
                    PCU(e);
            }
        cudaGetLastError();
        g->nccl = comms[d];
        PCU(cudaStreamCreateWithFlags(&g->compute, cudaStreamNonBlocking));
        int least, greatest;
        PCU(cudaDeviceGetStreamPriorityRange(&least, &greatest));
        PCU(cudaStreamCreateWithPriority(&g->comm, cudaStreamNonBlocking, p->prio ? greatest : 0));
        PCU(cudaMalloc((void **)&g->x, (size_t)(p->m * p->h) * sizeof(float)));
        PCU(cudaMalloc((void **)&g->w, (size_t)(p->h * p->h) * sizeof(float)));
        PCU(cudaMalloc((void **)&g->y, (size_t)(p->m * p->h) * sizeof(float)));
        PCU(cudaMalloc((void **)&g->g, (size_t)p->elems * sizeof(float)));
        PCU(cudaMalloc((void **)&g->scratch, (size_t)(p->chunk * p->n) * sizeof(float)));
        PCU(cudaEventCreateWithFlags(&g->reduced, cudaEventDisableTiming));
        PCU(cudaEventCreateWithFlags(&g->done, cudaEventDisableTiming));
        if (check_std(std_cuda_randn(g->x, DAFT_RT_F32, p->m * p->h, 1 + d, g->compute), "randn") ||
            check_std(std_cuda_randn(g->w, DAFT_RT_F32, p->h * p->h, 100 + d, g->compute), "randn") ||
            check_std(std_cuda_ones(g->g, DAFT_RT_F32, p->elems, g->compute), "ones"))
            return 1;
        PCU(cudaStreamSynchronize(g->compute));
    }
    return 0;
}

static int enqueue_gemms(Probe *p, int d)
{
    Gpu *g = &p->gpu[d];
    for (int k = 0; k < p->gemms; k++)
        if (check_std(std_cuda_linear_forward(DAFT_RT_F32, p->m, p->h, p->h, g->x, g->w, g->y,
                                              g->compute), "linear_forward"))
            return 1;
    return 0;
}

static int enqueue_nccl(Probe *p)
{
    for (int k = 0; k < p->ops; k++) {
        PNC(ncclGroupStart());
        for (int d = 0; d < p->n; d++)
            PNC(ncclAllReduce(p->gpu[d].g, p->gpu[d].g, (size_t)p->elems, ncclFloat, ncclSum,
                              p->gpu[d].nccl, p->gpu[d].comm));
        PNC(ncclGroupEnd());
    }
    return 0;
}

/* Makes GPU d's allreduce stream wait for event `which` of every other GPU (-sync 1). */
static int wait_peers(Probe *p, int d, size_t which)
{
    for (int j = 0; j < p->n; j++)
        if (j != d && p->sync)
            PCU(cudaStreamWaitEvent(p->gpu[d].comm, *(cudaEvent_t *)((char *)&p->gpu[j] + which), 0));
    return 0;
}

/* One copy-engine allreduce, every GPU: pull chunk d from each peer into scratch and add;
 * then pull every other GPU's reduced chunk. With -sync 1 a GPU pulls a peer's chunk only
 * after that peer finished the previous allreduce (its `done`), and a reduced chunk only once
 * its owner reduced it (`reduced`). */
static int enqueue_ce_one(Probe *p)
{
    size_t bytes = (size_t)p->chunk * sizeof(float), c = (size_t)p->chunk;
    for (int d = 0; d < p->n; d++) {
        Gpu *g = &p->gpu[d];
        float *mine = g->g + (size_t)d * c;
        PCU(cudaSetDevice(d));
        if (wait_peers(p, d, offsetof(Gpu, done)))
            return 1;
        for (int j = 0; j < p->n; j++)
            if (j != d)
                PCU(cudaMemcpyPeerAsync(g->scratch + (size_t)j * c, d, p->gpu[j].g + (size_t)d * c, j,
                                        bytes, g->comm));
        for (int j = 0; j < p->n; j++)
            if (j != d && check_std(std_cuda_add(DAFT_RT_F32, p->chunk, mine, g->scratch + (size_t)j * c,
                                                 mine, g->comm), "add"))
                return 1;
        PCU(cudaEventRecord(g->reduced, g->comm));
    }
    for (int d = 0; d < p->n; d++) {
        Gpu *g = &p->gpu[d];
        PCU(cudaSetDevice(d));
        if (wait_peers(p, d, offsetof(Gpu, reduced)))
            return 1;
        for (int j = 0; j < p->n; j++)
            if (j != d)
                PCU(cudaMemcpyPeerAsync(g->g + (size_t)j * c, d, p->gpu[j].g + (size_t)j * c, j, bytes,
                                        g->comm));
        PCU(cudaEventRecord(g->done, g->comm));
    }
    return 0;
}

/* -sync 1: after `ops` allreduces of ones every element is n^ops on every GPU. */
static int check_sums(Probe *p, int ops)
{
    double want = 1.0;
    for (int k = 0; k < ops; k++)
        want *= p->n;
    float *h = malloc((size_t)p->elems * sizeof(float));
    int bad = 0;
    for (int d = 0; d < p->n && h; d++) {
        PCU(cudaSetDevice(d));
        PCU(cudaMemcpy(h, p->gpu[d].g, (size_t)p->elems * sizeof(float), cudaMemcpyDeviceToHost));
        for (int64_t i = 0; i < p->elems; i++)
            if ((double)h[i] != want) {
                fprintf(stderr, "ce_probe: GPU %d element %lld is %g, not %g\n", d, (long long)i,
                        (double)h[i], want);
                bad = 1;
                break;
            }
    }
    free(h);
    return bad || !h;
}

enum { GEMMS = 1, NCCL = 2, CE = 4 };

/* One round of `what` on every GPU, all started together; the slowest GPU's times (ms) of
 * its GEMM stream and of its allreduce stream from the common start. */
static int round_of(Probe *p, int what, double *gemm_ms, double *comm_ms)
{
    cudaEvent_t start[MAX_GPUS], gend[MAX_GPUS], cend[MAX_GPUS];
    for (int d = 0; d < p->n; d++) {
        PCU(cudaSetDevice(d));
        PCU(cudaDeviceSynchronize());
        PCU(cudaEventCreate(&start[d]));
        PCU(cudaEventCreate(&gend[d]));
        PCU(cudaEventCreate(&cend[d]));
    }
    for (int d = 0; d < p->n; d++) { /* (a spin of the start would skew: each GPU's own) */
        PCU(cudaSetDevice(d));
        PCU(cudaEventRecord(start[d], p->gpu[d].compute));
        PCU(cudaStreamWaitEvent(p->gpu[d].comm, start[d], 0));
    }
    for (int d = 0; d < p->n; d++) {
        PCU(cudaSetDevice(d));
        if ((what & GEMMS) && enqueue_gemms(p, d))
            return 1;
    }
    if ((what & NCCL) && enqueue_nccl(p))
        return 1;
    for (int k = 0; (what & CE) && k < p->ops; k++)
        if (enqueue_ce_one(p))
            return 1;
    *gemm_ms = *comm_ms = 0.0;
    for (int d = 0; d < p->n; d++) {
        PCU(cudaSetDevice(d));
        PCU(cudaEventRecord(gend[d], p->gpu[d].compute));
        PCU(cudaEventRecord(cend[d], p->gpu[d].comm));
    }
    for (int d = 0; d < p->n; d++) {
        PCU(cudaSetDevice(d));
        PCU(cudaEventSynchronize(gend[d]));
        PCU(cudaEventSynchronize(cend[d]));
        float a, b;
        PCU(cudaEventElapsedTime(&a, start[d], gend[d]));
        PCU(cudaEventElapsedTime(&b, start[d], cend[d]));
        if (a > *gemm_ms)
            *gemm_ms = a;
        if (b > *comm_ms)
            *comm_ms = b;
        cudaEventDestroy(start[d]);
        cudaEventDestroy(gend[d]);
        cudaEventDestroy(cend[d]);
    }
    return 0;
}

static void result(const Probe *p, const char *metric, double *v, int reps)
{
    char cfg[96];
    snprintf(cfg, sizeof cfg, "%d GPUs, %lld MiB x %d, %d GEMMs [%lld, %lld]%s%s", p->n,
             (long long)(p->elems * 4 >> 20), p->ops, p->gemms, (long long)p->m, (long long)p->h,
             p->prio ? ", priority" : "", p->sync ? "" : ", unsynchronised");
    peer_result("W5", "ce_probe", cfg, metric, peer_median(v, reps));
}

/* ---------------------------------------------------------------- -mode step */

#define MAXL 16

typedef struct Replica {
    float *w[MAXL], *g[MAXL], *gz[MAXL], *acts[MAXL + 1], *gy, *x0, *target;
    cudaEvent_t wg_done[MAXL], ar_done[MAXL];
} Replica;

typedef struct Step {
    int64_t h, b, layers;
    Replica r[MAXL];
} Step;

enum { STEP_COMPUTE, STEP_NCCL, STEP_CE };

static int step_init_weights(Probe *p, Step *t)
{
    float scale = sqrtf(2.0f / (float)t->h);
    for (int d = 0; d < p->n; d++) {
        PCU(cudaSetDevice(d));
        for (int64_t l = 0; l < t->layers; l++) {
            float *w = t->r[d].w[l];
            if (check_std(std_cuda_randn(w, DAFT_RT_F32, t->h * t->h, 1000 + l, p->gpu[d].compute), "randn") ||
                check_std(std_cuda_binop_scalar(STD_CUDA_MUL, DAFT_RT_F32, t->h * t->h, w, scale, 0, w,
                                                p->gpu[d].compute), "mul"))
                return 1;
        }
        PCU(cudaStreamSynchronize(p->gpu[d].compute));
    }
    return 0;
}

static int step_setup(Probe *p, Step *t)
{
    size_t mat = (size_t)(t->h * t->h) * sizeof(float), act = (size_t)(t->b * t->h) * sizeof(float);
    p->chunk = t->h * t->h / p->n;
    p->elems = t->h * t->h;
    for (int d = 0; d < p->n; d++) {
        Replica *r = &t->r[d];
        Gpu *g = &p->gpu[d];
        PCU(cudaSetDevice(d));
        PCU(cudaFree(g->g)); /* (the GEMM probe's buffers: the gradients are per layer here) */
        PCU(cudaFree(g->scratch));
        PCU(cudaMalloc((void **)&g->scratch, (size_t)(p->chunk * p->n) * sizeof(float)));
        for (int64_t l = 0; l < t->layers; l++) {
            PCU(cudaMalloc((void **)&r->w[l], mat));
            PCU(cudaMalloc((void **)&r->g[l], mat));
            PCU(cudaMalloc((void **)&r->gz[l], act));
            PCU(cudaMalloc((void **)&r->acts[l + 1], act));
            PCU(cudaEventCreateWithFlags(&r->wg_done[l], cudaEventDisableTiming));
            PCU(cudaEventCreateWithFlags(&r->ar_done[l], cudaEventDisableTiming));
        }
        PCU(cudaMalloc((void **)&r->gy, act));
        PCU(cudaMalloc((void **)&r->x0, act));
        PCU(cudaMalloc((void **)&r->target, act));
        if (check_std(std_cuda_randn(r->x0, DAFT_RT_F32, t->b * t->h, 5000 + d, g->compute), "randn") ||
            check_std(std_cuda_randn(r->target, DAFT_RT_F32, t->b * t->h, 99 + d, g->compute), "randn"))
            return 1;
        r->acts[0] = r->x0;
    }
    return 0;
}

/* Layer l's allreduce (sum) of every replica's gradient, after each one's weight gradient. */
static int step_allreduce(Probe *p, Step *t, int how, int64_t l)
{
    for (int d = 0; d < p->n; d++) {
        PCU(cudaSetDevice(d));
        for (int j = 0; j < p->n; j++)
            if (j == d || how == STEP_CE) /* (NCCL waits for the others itself) */
                PCU(cudaStreamWaitEvent(p->gpu[d].comm, t->r[j].wg_done[l], 0));
        p->gpu[d].g = t->r[d].g[l];
    }
    if (how == STEP_NCCL) {
        PNC(ncclGroupStart());
        for (int d = 0; d < p->n; d++)
            PNC(ncclAllReduce(t->r[d].g[l], t->r[d].g[l], (size_t)p->elems, ncclFloat, ncclSum,
                              p->gpu[d].nccl, p->gpu[d].comm));
        PNC(ncclGroupEnd());
    } else if (enqueue_ce_one(p)) {
        return 1;
    }
    for (int d = 0; d < p->n; d++) {
        PCU(cudaSetDevice(d));
        PCU(cudaEventRecord(t->r[d].ar_done[l], p->gpu[d].comm));
    }
    return 0;
}

static int step_once(Probe *p, Step *t, int how)
{
    int64_t L = t->layers, hb = t->h * t->b;
    for (int d = 0; d < p->n; d++) { /* forward, MSE gradient */
        Replica *r = &t->r[d];
        cudaStream_t cs = p->gpu[d].compute;
        PCU(cudaSetDevice(d));
        for (int64_t l = 0; l < L; l++)
            if (check_std(std_cuda_linear_forward(DAFT_RT_F32, t->b, t->h, t->h, r->acts[l], r->w[l],
                                                  r->acts[l + 1], cs), "linear_forward") ||
                check_std(std_cuda_relu(DAFT_RT_F32, hb, r->acts[l + 1], r->acts[l + 1], cs), "relu"))
                return 1;
        if (check_std(std_cuda_mse_grad(DAFT_RT_F32, hb, r->acts[L], r->target, r->gy, cs), "mse_grad"))
            return 1;
    }
    for (int64_t l = L - 1; l >= 0; l--) {
        for (int d = 0; d < p->n; d++) {
            Replica *r = &t->r[d];
            cudaStream_t cs = p->gpu[d].compute;
            PCU(cudaSetDevice(d));
            if (check_std(std_cuda_relu_backward(DAFT_RT_F32, hb, r->acts[l + 1], r->gy, r->gz[l], cs),
                          "relu_backward"))
                return 1;
            for (int j = 0; how == STEP_CE && j < p->n; j++) /* the others pulled it last step */
                if (j != d)
                    PCU(cudaStreamWaitEvent(cs, t->r[j].ar_done[l], 0));
            if (check_std(std_cuda_gemm(DAFT_RT_F32, 1, 0, t->h, t->h, t->b, r->acts[l], r->gz[l], r->g[l],
                                        cs), "weight grad"))
                return 1;
            PCU(cudaEventRecord(how == STEP_COMPUTE ? r->ar_done[l] : r->wg_done[l], cs));
        }
        if (how != STEP_COMPUTE && step_allreduce(p, t, how, l))
            return 1;
        for (int d = 0; l > 0 && d < p->n; d++) {
            Replica *r = &t->r[d];
            PCU(cudaSetDevice(d));
            if (check_std(std_cuda_gemm(DAFT_RT_F32, 0, 1, t->b, t->h, t->h, r->gz[l], r->w[l], r->gy,
                                        p->gpu[d].compute), "input grad"))
                return 1;
        }
    }
    for (int d = 0; d < p->n; d++) { /* updates, the mean gradient's (sum / n) */
        Replica *r = &t->r[d];
        cudaStream_t cs = p->gpu[d].compute;
        PCU(cudaSetDevice(d));
        for (int64_t l = L - 1; l >= 0; l--) {
            PCU(cudaStreamWaitEvent(cs, r->ar_done[l], 0));
            if (check_std(std_cuda_sgd_update(DAFT_RT_F32, t->h * t->h, r->w[l], r->g[l], 1e-3 / p->n,
                                              r->w[l], cs), "sgd_update"))
                return 1;
        }
    }
    return 0;
}

static int step_sync_all(Probe *p)
{
    for (int d = 0; d < p->n; d++) {
        PCU(cudaSetDevice(d));
        PCU(cudaDeviceSynchronize());
    }
    return 0;
}

static int step_run(Probe *p, Step *t, int how, int steps, int reps, const char *metric)
{
    if (step_init_weights(p, t))
        return 1;
    for (int i = 0; i < 3; i++)
        if (step_once(p, t, how))
            return 1;
    double per[64];
    for (int k = 0; k < reps; k++) {
        if (step_sync_all(p))
            return 1;
        double t0 = peer_now();
        for (int i = 0; i < steps; i++)
            if (step_once(p, t, how))
                return 1;
        if (step_sync_all(p))
            return 1;
        per[k] = (double)p->n * (double)t->b * steps / (peer_now() - t0);
    }
    Replica *r = &t->r[0];
    double loss = 0.0;
    PCU(cudaSetDevice(0));
    for (int64_t l = 0; l < t->layers; l++)
        if (check_std(std_cuda_linear_forward(DAFT_RT_F32, t->b, t->h, t->h, r->acts[l], r->w[l],
                                              r->acts[l + 1], p->gpu[0].compute), "linear_forward") ||
            check_std(std_cuda_relu(DAFT_RT_F32, t->b * t->h, r->acts[l + 1], r->acts[l + 1],
                                    p->gpu[0].compute), "relu"))
            return 1;
    if (check_std(std_cuda_mse_loss_sync(DAFT_RT_F32, t->b * t->h, r->acts[t->layers], r->target, &loss,
                                         p->gpu[0].compute), "mse_loss"))
        return 1;
    char cfg[96];
    snprintf(cfg, sizeof cfg, "%d GPUs, hidden %lld, batch %lld per GPU, %lld layers", p->n,
             (long long)t->h, (long long)t->b, (long long)t->layers);
    peer_result("W5", "ce_probe", cfg, metric, peer_median(per, reps));
    printf("ce_probe %s: final MSE on GPU 0 after %d steps: %.9g\n", metric, 3 + reps * steps, loss);
    return 0;
}

static int step_mode(Probe *p, int argc, char **argv)
{
    static Step t;
    t.h = peer_arg_ll(argc, argv, "-hidden", 4096);
    t.b = peer_arg_ll(argc, argv, "-batch", 256);
    t.layers = peer_arg_ll(argc, argv, "-layers", 8);
    int steps = (int)peer_arg_ll(argc, argv, "-steps", 20);
    int reps = (int)peer_arg_ll(argc, argv, "-reps", 3);
    if (t.layers < 1 || t.layers > MAXL || reps < 1 || reps > 64 || (t.h * t.h) % p->n) {
        fprintf(stderr, "ce_probe: -mode step needs 1..%d layers, 1..64 reps\n", MAXL);
        return 1;
    }
    p->sync = 1;
    if (step_setup(p, &t))
        return 1;
    return step_run(p, &t, STEP_COMPUTE, steps, reps, "step_compute_samples_per_s") ||
           step_run(p, &t, STEP_NCCL, steps, reps, "step_nccl_samples_per_s") ||
           step_run(p, &t, STEP_CE, steps, reps, "step_ce_samples_per_s");
}

int main(int argc, char **argv)
{
    Probe p;
    memset(&p, 0, sizeof p);
    int have = 0;
    cudaGetDeviceCount(&have);
    p.n = (int)peer_arg_ll(argc, argv, "-n", have < 2 ? have : 2);
    int64_t mb = peer_arg_ll(argc, argv, "-mb", 64);
    p.gemms = (int)peer_arg_ll(argc, argv, "-gemms", 8);
    p.m = peer_arg_ll(argc, argv, "-m", 1024);
    p.h = peer_arg_ll(argc, argv, "-hidden", 4096);
    p.ops = (int)peer_arg_ll(argc, argv, "-ops", 20);
    int reps = (int)peer_arg_ll(argc, argv, "-reps", 5);
    p.prio = (int)peer_arg_ll(argc, argv, "-prio", 0);
    p.sync = (int)peer_arg_ll(argc, argv, "-sync", 1);
    if (p.n < 2 || p.n > MAX_GPUS || p.n > have || reps < 1 || reps > 64 || mb < 1) {
        fprintf(stderr, "ce_probe: needs 2..%d GPUs (%d here), reps 1..64, mb >= 1\n", MAX_GPUS, have);
        return 1;
    }
    p.chunk = (mb << 20) / 4 / p.n;
    p.elems = p.chunk * p.n;
    if (setup(&p))
        return 1;
    if (!strcmp(peer_arg_str(argc, argv, "-mode", "gemm"), "step"))
        return step_mode(&p, argc, argv);
    static const struct { int what; const char *gemm, *comm; } runs[] = {
        {GEMMS, "gemms_alone", NULL},
        {NCCL, NULL, "nccl_alone"},
        {CE, NULL, "ce_alone"},
        {GEMMS | NCCL, "gemms_with_nccl", "nccl_with_gemms"},
        {GEMMS | CE, "gemms_with_ce", "ce_with_gemms"},
    };
    double warm_g, warm_c;
    if (p.sync) { /* the allreduce is one: check it first, on ones */
        int ops = p.ops;
        p.ops = 3;
        if (round_of(&p, CE, &warm_g, &warm_c) || check_sums(&p, 3))
            return 1;
        p.ops = ops;
        printf("ce_probe: the copy-engine allreduce gives %d^3 on every GPU: ok\n", p.n);
    }
    if (round_of(&p, GEMMS | NCCL | CE, &warm_g, &warm_c))
        return 1;
    for (size_t r = 0; r < sizeof runs / sizeof runs[0]; r++) {
        double g[64], c[64];
        for (int k = 0; k < reps; k++)
            if (round_of(&p, runs[r].what, &g[k], &c[k]))
                return 1;
        if (runs[r].gemm)
            result(&p, runs[r].gemm, g, reps);
        if (runs[r].comm)
            result(&p, runs[r].comm, c, reps);
    }
    for (int d = 0; d < p.n; d++)
        ncclCommDestroy(p.gpu[d].nccl);
    std_cuda_thread_release();
    return 0;
}
