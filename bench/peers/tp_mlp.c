/* tp_mlp.c — W7 peer: tensor-parallel forward of the reference MLP, hand-written SPMD C
 * with the CUDA runtime, cuBLAS (through daft's std_cuda kernels: sgemm fp32, no TF32)
 * and NCCL, one process per GPU.
 *
 *   tp_mlp -n TP [-batches 32,256] [-hidden 4096] [-layers 8] [-iters K] [-reps R]
 *          [-check 1] [-graph 1] [-vote 1] [-timeout S]
 *
 * Model: layers × (Linear(hidden -> hidden), no bias, then ReLU), fp32. Layer l's weight
 * is W_l = randn([hidden, hidden], seed 1000 + l) * sqrt(2 / hidden), y = x @ W_l (std's
 * linear_forward layout [in, out]); the input is randn([batch, hidden], seed 7).
 * Tensor parallel over TP ranks (Megatron style):
 *   even l: column-parallel, rank r holds W_l[:, r*h/TP : (r+1)*h/TP]; x replicated in,
 *           a [batch, h/TP] shard out, ReLU locally;
 *   odd l:  row-parallel, rank r holds W_l[r*h/TP : (r+1)*h/TP, :]; the shard in, a partial
 *           [batch, h] out, ncclAllReduce (sum, in place), then ReLU: x replicated again.
 * With an odd number of layers the last column-parallel output is all-gathered.
 * TP = 1 is the plain single-GPU forward (no NCCL).
 *
 * Figure: ms per forward = median over R repetitions of (time of K back-to-back forwards
 * on rank 0's stream) / K, all ranks released together by a barrier.
 * -check 1 (default): rank 0 also runs the unsharded model on its GPU and compares
 * (|tp - ref| <= 1e-4 (1 + |ref|)), so this is also the TP correctness test.
 *
 * -graph 1 (default): also one forward captured into a CUDA graph (GEMMs, ReLUs and NCCL
 * calls, every rank) and replayed: `ms_per_forward_graph`, timed the same way. It is what
 * the host's per-launch cost is worth (W7 at batch 32 is bound by it): the measure for
 * capturing a compiled plan's iteration (GPU data plane issue, item 7). Rank 0 checks that
 * a replay gives the same bytes as a plain forward. A capture that fails is reported and
 * its figure left out.
 *
 * -vote 1 (default): the graph replays again, each launch preceded by a vote of all ranks
 * through shared memory (every rank says whether its launch may go; each waits for all):
 * `ms_per_forward_graph_vote`. daft's graphs are speculative per actor (SPEC §15.5), so a
 * compiled iteration captured whole with its NCCL calls would need such an agreement before
 * every launch; this is what the agreement costs on top of the graph.
 */
#include <fcntl.h>
#include <math.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "peer_common.h"
#include "std_cuda.h"

typedef struct Model {
    int64_t h, shard, layers;
    float **w;   /* this rank's shard of each layer */
    float **wf;  /* full weights (rank 0, for the check), or NULL */
} Model;

static int build(PeerCtx *ctx, Model *m, int full)
{
    int64_t h = m->h, s = m->shard;
    float *tmp;
    PCU(cudaMalloc((void **)&tmp, (size_t)(h * h) * sizeof(float)));
    m->w = calloc((size_t)m->layers, sizeof *m->w);
    m->wf = full ? calloc((size_t)m->layers, sizeof *m->wf) : NULL;
    int64_t dims[2] = { h, h };
    float scale = sqrtf(2.0f / (float)h);
    for (int64_t l = 0; l < m->layers; l++) {
        SC(std_cuda_randn(tmp, DAFT_RT_F32, h * h, 1000 + l, ctx->stream));
        SC(std_cuda_binop_scalar(STD_CUDA_MUL, DAFT_RT_F32, h * h, tmp, scale, 0, tmp,
                                 ctx->stream));
        PCU(cudaMalloc((void **)&m->w[l], (size_t)(h * s) * sizeof(float)));
        /* even: columns [r s, (r+1) s) (dim 1); odd: rows (dim 0) */
        int dim = (l % 2 == 0) ? 1 : 0;
        SC(std_cuda_slice(DAFT_RT_F32, 2, dims, dim, ctx->rank * s, (ctx->rank + 1) * s, tmp,
                          m->w[l], ctx->stream));
        if (full) {
            PCU(cudaMalloc((void **)&m->wf[l], (size_t)(h * h) * sizeof(float)));
            SC(std_cuda_copy(m->wf[l], tmp, (size_t)(h * h) * sizeof(float), ctx->stream));
        }
    }
    PCU(cudaStreamSynchronize(ctx->stream));
    PCU(cudaFree(tmp));
    return 0;
}

/* One TP forward: xin [b, h] replicated in (not modified), x [b, h] replicated out; y
 * [b, shard] and g [b, h] are scratch. */
static int forward(PeerCtx *ctx, const Model *m, int64_t b, const float *xin, float *x,
                   float *y, float *g)
{
    int64_t h = m->h, s = m->shard;
    for (int64_t l = 0; l < m->layers; l++) {
        if (l % 2 == 0) {
            SC(std_cuda_linear_forward(DAFT_RT_F32, b, h, s, l == 0 ? xin : x, m->w[l], y,
                                        ctx->stream));
            SC(std_cuda_relu(DAFT_RT_F32, b * s, y, y, ctx->stream));
            if (l == m->layers - 1 && ctx->nranks > 1) {
                /* odd layer count: gather the shards [TP][b, s] and transpose to [b, h] */
                PNC(ncclAllGather(y, g, (size_t)(b * s), ncclFloat, ctx->comm, ctx->stream));
                const int64_t pd[2] = { b, s };
                const int64_t *pdims[64];
                const void *parts[64];
                for (int r = 0; r < ctx->nranks; r++) {
                    pdims[r] = pd;
                    parts[r] = g + (size_t)r * (size_t)(b * s);
                }
                SC(std_cuda_concat(DAFT_RT_F32, 2, ctx->nranks, pdims, parts, 1, x,
                                   ctx->stream));
            } else if (l == m->layers - 1) {
                SC(std_cuda_copy(x, y, (size_t)(b * s) * sizeof(float), ctx->stream));
            }
        } else {
            SC(std_cuda_linear_forward(DAFT_RT_F32, b, s, h, y, m->w[l], x, ctx->stream));
            if (ctx->nranks > 1)
                PNC(ncclAllReduce(x, x, (size_t)(b * h), ncclFloat, ncclSum, ctx->comm,
                                  ctx->stream));
            SC(std_cuda_relu(DAFT_RT_F32, b * h, x, x, ctx->stream));
        }
    }
    return 0;
}

/* One forward captured into a graph (an executable one in *out), or nonzero with the
 * reason printed (then the stream is usable again). */
static int capture(PeerCtx *ctx, const Model *m, int64_t b, const float *xin, float *x,
                   float *y, float *g, cudaGraphExec_t *out)
{
    cudaGraph_t graph = NULL;
    cudaError_t e = cudaStreamBeginCapture(ctx->stream, cudaStreamCaptureModeThreadLocal);
    int rc = e == cudaSuccess ? forward(ctx, m, b, xin, x, y, g) : 1;
    cudaError_t e2 = cudaStreamEndCapture(ctx->stream, &graph);
    if (e == cudaSuccess && !rc && e2 == cudaSuccess)
        e2 = cudaGraphInstantiate(out, graph, 0);
    if (graph)
        cudaGraphDestroy(graph);
    if (e != cudaSuccess || rc || e2 != cudaSuccess) {
        fprintf(stderr, "rank %d: CUDA graph capture of a forward failed: %s\n", ctx->rank,
                cudaGetErrorString(e != cudaSuccess ? e : e2));
        cudaGetLastError();
        return 1;
    }
    return 0;
}

/* The ranks' votes, in shared memory named after the launcher (the ranks' common parent).
 * Round k: each rank adds 1 to `arrived` and its refusal to `refused[k % 2]`, then waits
 * until all nranks have arrived for round k; the round's slot is cleared by the last to
 * arrive at round k + 1, which no rank reads before then. */
typedef struct Votes {
    _Atomic uint64_t arrived;
    _Atomic uint64_t refused[2];
} Votes;

static Votes *votes_open(PeerCtx *ctx)
{
    char name[64];
    snprintf(name, sizeof name, "/daft-tp-mlp-votes-%d", (int)getppid());
    int fd = shm_open(name, O_CREAT | O_RDWR, 0600);
    if (fd < 0 || ftruncate(fd, sizeof(Votes)) != 0) {
        fprintf(stderr, "rank %d: shm_open %s failed\n", ctx->rank, name);
        return NULL;
    }
    Votes *v = mmap(NULL, sizeof(Votes), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd);
    peer_barrier(ctx); /* every rank has it mapped before it goes */
    if (ctx->rank == 0)
        shm_unlink(name);
    return v == MAP_FAILED ? NULL : v;
}

/* Round k's vote: true when no rank refused. */
static bool votes_agree(Votes *v, int nranks, uint64_t k, bool refuse)
{
    atomic_fetch_add(&v->refused[k % 2], refuse ? 1 : 0);
    uint64_t mine = atomic_fetch_add(&v->arrived, 1) + 1;
    if (mine == (k + 1) * (uint64_t)nranks)
        atomic_store(&v->refused[(k + 1) % 2], 0);
    while (atomic_load(&v->arrived) < (k + 1) * (uint64_t)nranks)
        ;
    return atomic_load(&v->refused[k % 2]) == 0;
}

/* Median over reps of (time of iters back-to-back forwards, or graph replays when exec is
 * set, each after a vote when votes is set, on this rank's stream) / iters, in ms; every
 * repetition starts at a barrier. */
static double timed(PeerCtx *ctx, const Model *m, int64_t b, const float *x0, float *x, float *y,
                    float *g, cudaGraphExec_t exec, Votes *votes, uint64_t *round, int iters,
                    int reps)
{
    cudaEvent_t e0, e1;
    PCU(cudaEventCreate(&e0));
    PCU(cudaEventCreate(&e1));
    double per[64];
    for (int r = 0; r < reps; r++) {
        peer_barrier(ctx);
        PCU(cudaEventRecord(e0, ctx->stream));
        for (int i = 0; i < iters; i++) {
            if (votes && !votes_agree(votes, ctx->nranks, (*round)++, false))
                return -1.0; /* (no rank refuses here) */
            if (exec)
                PCU(cudaGraphLaunch(exec, ctx->stream));
            else if (forward(ctx, m, b, x0, x, y, g))
                return -1.0;
        }
        PCU(cudaEventRecord(e1, ctx->stream));
        PCU(cudaEventSynchronize(e1));
        float ms;
        PCU(cudaEventElapsedTime(&ms, e0, e1));
        per[r] = ms / iters;
    }
    PCU(cudaEventDestroy(e0));
    PCU(cudaEventDestroy(e1));
    return peer_median(per, reps);
}

/* The unsharded model on this GPU: x [b, h] in and out, t scratch [b, h]. */
static int forward_full(PeerCtx *ctx, const Model *m, int64_t b, float *x, float *t)
{
    int64_t h = m->h;
    for (int64_t l = 0; l < m->layers; l++) {
        SC(std_cuda_linear_forward(DAFT_RT_F32, b, h, h, x, m->wf[l], t, ctx->stream));
        SC(std_cuda_relu(DAFT_RT_F32, b * h, t, x, ctx->stream));
    }
    return 0;
}

static int run(PeerCtx *ctx)
{
    Model m;
    memset(&m, 0, sizeof m);
    m.h = peer_arg_ll(ctx->argc, ctx->argv, "-hidden", 4096);
    m.layers = peer_arg_ll(ctx->argc, ctx->argv, "-layers", 8);
    int iters = (int)peer_arg_ll(ctx->argc, ctx->argv, "-iters", 20);
    int reps = (int)peer_arg_ll(ctx->argc, ctx->argv, "-reps", 9);
    int check = (int)peer_arg_ll(ctx->argc, ctx->argv, "-check", 1);
    int graph = (int)peer_arg_ll(ctx->argc, ctx->argv, "-graph", 1);
    int vote = graph ? (int)peer_arg_ll(ctx->argc, ctx->argv, "-vote", 1) : 0;
    Votes *votes = vote ? votes_open(ctx) : NULL;
    uint64_t round = 0;
    if (vote && !votes)
        return 1;
    const char *batches = peer_arg_str(ctx->argc, ctx->argv, "-batches", "32,256");
    if (m.h % ctx->nranks) {
        fprintf(stderr, "tp_mlp: hidden %lld is not divisible by TP %d\n", (long long)m.h,
                ctx->nranks);
        return 1;
    }
    if (reps > 64)
        reps = 64;
    m.shard = m.h / ctx->nranks;
    if (build(ctx, &m, check && ctx->rank == 0))
        return 1;
    char list[256];
    snprintf(list, sizeof list, "%s", batches);
    int failed = 0;
    for (char *tok = strtok(list, ","); tok; tok = strtok(NULL, ",")) {
        int64_t b = strtoll(tok, NULL, 0);
        if (b <= 0)
            continue;
        int64_t h = m.h, s = m.shard;
        float *x, *x0, *y, *g, *t = NULL, *xr = NULL;
        PCU(cudaMalloc((void **)&x, (size_t)(b * h) * sizeof(float)));
        PCU(cudaMalloc((void **)&x0, (size_t)(b * h) * sizeof(float)));
        PCU(cudaMalloc((void **)&y, (size_t)(b * s) * sizeof(float)));
        PCU(cudaMalloc((void **)&g, (size_t)(b * h) * sizeof(float)));
        SC(std_cuda_randn(x0, DAFT_RT_F32, b * h, 7, ctx->stream));

        /* correctness: TP forward vs the unsharded model on rank 0 */
        if (check) {
            if (forward(ctx, &m, b, x0, x, y, g))
                return 1;
            if (ctx->rank == 0) {
                PCU(cudaMalloc((void **)&t, (size_t)(b * h) * sizeof(float)));
                PCU(cudaMalloc((void **)&xr, (size_t)(b * h) * sizeof(float)));
                SC(std_cuda_copy(xr, x0, (size_t)(b * h) * sizeof(float), ctx->stream));
                if (forward_full(ctx, &m, b, xr, t))
                    return 1;
                size_t n = (size_t)(b * h);
                float *ht = malloc(n * sizeof(float)), *hr = malloc(n * sizeof(float));
                PCU(cudaMemcpyAsync(ht, x, n * sizeof(float), cudaMemcpyDeviceToHost,
                                    ctx->stream));
                PCU(cudaMemcpyAsync(hr, xr, n * sizeof(float), cudaMemcpyDeviceToHost,
                                    ctx->stream));
                PCU(cudaStreamSynchronize(ctx->stream));
                double worst = 0.0, mean_abs = 0.0;
                size_t bad = 0;
                for (size_t i = 0; i < n; i++) {
                    double d = fabs((double)ht[i] - hr[i]) / (1.0 + fabs((double)hr[i]));
                    if (!(d <= 1e-4))
                        bad++;
                    if (d > worst)
                        worst = d;
                    mean_abs += fabs((double)hr[i]);
                }
                mean_abs /= (double)n;
                printf("tp_mlp check TP=%d batch=%lld: %s (worst rel diff %.3g, mean |y| %.3g)\n",
                       ctx->nranks, (long long)b, bad ? "FAILED" : "ok", worst, mean_abs);
                if (bad || !(mean_abs > 0.0))
                    failed = 1;
                free(ht);
                free(hr);
                PCU(cudaFree(t));
                PCU(cudaFree(xr));
            }
        }

        /* timing */
        for (int i = 0; i < 3; i++)
            if (forward(ctx, &m, b, x0, x, y, g))
                return 1;
        double med = timed(ctx, &m, b, x0, x, y, g, NULL, NULL, NULL, iters, reps);
        if (med < 0)
            return 1;
        char cfg[96];
        snprintf(cfg, sizeof cfg, "TP=%d, batch %lld", ctx->nranks, (long long)b);
        if (ctx->rank == 0) {
            peer_result("W7", "tp_mlp", cfg, "ms_per_forward", med);
            peer_result("W7", "tp_mlp", cfg, "samples_per_s", (double)b / (med * 1e-3));
        }
        /* the same forward as a CUDA graph: every rank captures (a failed capture on one
         * rank is not known to the others, whose replays would wait in NCCL: all ranks
         * agree first, through an allreduce of their failure flags) */
        cudaGraphExec_t exec = NULL;
        if (graph) {
            float *flag;
            PCU(cudaMalloc((void **)&flag, sizeof(float)));
            float mine = capture(ctx, &m, b, x0, x, y, g, &exec) ? 1.0f : 0.0f, all = 0.0f;
            PCU(cudaMemcpyAsync(flag, &mine, sizeof mine, cudaMemcpyHostToDevice, ctx->stream));
            if (ctx->nranks > 1)
                PNC(ncclAllReduce(flag, flag, 1, ncclFloat, ncclSum, ctx->comm, ctx->stream));
            PCU(cudaMemcpyAsync(&all, flag, sizeof all, cudaMemcpyDeviceToHost, ctx->stream));
            PCU(cudaStreamSynchronize(ctx->stream));
            PCU(cudaFree(flag));
            if (all != 0.0f && exec) {
                cudaGraphExecDestroy(exec);
                exec = NULL;
            }
        }
        if (exec) {
            /* a replay gives the bytes of a plain forward (rank 0 compares) */
            size_t n = (size_t)(b * h);
            float *plain = malloc(n * sizeof(float)), *replay = malloc(n * sizeof(float));
            if (forward(ctx, &m, b, x0, x, y, g))
                return 1;
            PCU(cudaMemcpyAsync(plain, x, n * sizeof(float), cudaMemcpyDeviceToHost, ctx->stream));
            PCU(cudaMemsetAsync(x, 0, n * sizeof(float), ctx->stream));
            PCU(cudaGraphLaunch(exec, ctx->stream));
            PCU(cudaMemcpyAsync(replay, x, n * sizeof(float), cudaMemcpyDeviceToHost, ctx->stream));
            PCU(cudaStreamSynchronize(ctx->stream));
            if (ctx->rank == 0 && memcmp(plain, replay, n * sizeof(float))) {
                printf("tp_mlp graph check TP=%d batch=%lld: FAILED (a replay differs from a "
                       "plain forward)\n", ctx->nranks, (long long)b);
                failed = 1;
            }
            free(plain);
            free(replay);
            double gmed = timed(ctx, &m, b, x0, x, y, g, exec, NULL, NULL, iters, reps);
            if (gmed < 0)
                return 1;
            if (ctx->rank == 0)
                peer_result("W7", "tp_mlp", cfg, "ms_per_forward_graph", gmed);
            if (votes) {
                double vmed = timed(ctx, &m, b, x0, x, y, g, exec, votes, &round, iters, reps);
                if (vmed < 0)
                    return 1;
                if (ctx->rank == 0)
                    peer_result("W7", "tp_mlp", cfg, "ms_per_forward_graph_vote", vmed);
            }
            PCU(cudaGraphExecDestroy(exec));
        }
        PCU(cudaFree(x));
        PCU(cudaFree(x0));
        PCU(cudaFree(y));
        PCU(cudaFree(g));
    }
    for (int64_t l = 0; l < m.layers; l++) {
        PCU(cudaFree(m.w[l]));
        if (m.wf)
            PCU(cudaFree(m.wf[l]));
    }
    free(m.w);
    free(m.wf);
    if (votes)
        munmap(votes, sizeof *votes);
    std_cuda_thread_release();
    return failed;
}

int main(int argc, char **argv)
{
    int n = (int)peer_arg_ll(argc, argv, "-n", 1);
    int timeout = (int)peer_arg_ll(argc, argv, "-timeout", 300);
    int rc = peer_run(n, run, argc, argv, timeout);
    if (rc)
        fprintf(stderr, "tp_mlp: FAILED\n");
    return rc;
}
