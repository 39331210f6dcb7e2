/* dp_probe.c — a probe, not a peer: where W5's data-parallel step (the reference MLP, one
 * process per GPU, each layer's weight gradient all-reduced while backward goes on) can
 * win time on 4 GPUs, measured in C with the kernels daft uses (std_cuda: sgemm fp32, no
 * TF32) and NCCL, so that only a schedule or setting that pays here is built into daft.
 *
 *   dp_probe -n R [-hidden 4096] [-batch 256] [-layers 8] [-steps 20] [-reps 3]
 *            [-variants compute,daft,...] [-timeout S]
 *
 * A step: forward (linear, ReLU per layer), MSE gradient, backward from the last layer,
 * SGD (lr 1e-3). Compute runs on one stream, allreduces (avg, in place) on another; CUDA
 * events order them. The variants (-variants, comma-separated):
 *   compute   no allreduce at all (what R independent GPUs reach: the bound)
 *   ar        the allreduces alone, no compute (ms per step of communication)
 *   daft      dp_train_overlap's order: weight grad(l), its allreduce, input grad(l), from
 *             the last layer down; the updates after the backward, last layer first
 *   defer     the same backward, each update issued just before its layer's forward in the
 *             next step (the forward of layer l waits only for allreduce(l))
 *   lowK      (K = 1..layers) defer, and the layers below K reversed: the input-gradient
 *             chain down to layer 1 first, then weight grad(0), allreduce(0), weight grad(1),
 *             ..., so the first layers' allreduces finish first and the next step's forward
 *             overlaps the rest of the chain
 *   eff:V     variant V on a communicator with NCCL_CTA_POLICY_EFFICIENCY
 *   cta8:V    variant V on a communicator with maxCTAs = 8 (also cta16, cta4)
 *   chunkC    daft's order, with layer 0's weight gradient (the last) computed in C blocks
 *             of rows, each all-reduced as soon as it exists (C = 2..64, dividing hidden)
 *   zero      the optimizer sharded (ZeRO-1, dp_train_sharded's scheme) with daft's order:
 *             reducescatter(avg) of each weight grad into this replica's rows, the update
 *             of those rows only, and at the next step's start an allgather per layer that
 *             the forward of layer l waits for (the later layers' gathers overlap the forward)
 *   sym:V     variant V with the gradients in ncclMemAlloc memory registered as symmetric
 *             windows (NCCL_WIN_COLL_SYMMETRIC)
 *   ce        daft's order with each allreduce on the copy engines instead of NCCL's kernels
 *             (bench/peers/ce_probe measured the pattern in one process): every rank maps the
 *             others' gradients (CUDA IPC), pulls its chunk of a layer's gradient from each,
 *             adds them and scales by 1/R, then pulls every other reduced chunk back. Steps
 *             are ordered by counters in device memory that a rank writes into its peers'
 *             memory and waits for in its own (stream memory operations): "my gradient of
 *             this allreduce is ready", "my chunk is reduced", "I pulled yours" (a gradient
 *             is overwritten by the next step only after every peer pulled it).
 * Figure: samples/s = R * batch * steps / seconds, median of -reps timed runs, each from a
 * barrier to the end of every stream. Rank 0 also prints the final MSE of each variant
 * (every variant trains the same model from the same start: they must agree closely).
 */
#include <cuda.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "peer_common.h"
#include "std_cuda.h"

#define MAXL 64
#define MAXR 8

/* ce: what a rank maps of the others, and its counters (see the ce variant above) */
enum { CE_READY, CE_REDUCED, CE_PULLED, CE_KINDS };
typedef struct Ce {
    float *scratch;                  /* one chunk per peer */
    uint32_t *flags;                 /* [kind][peer]: the last sequence number it wrote here */
    float *peer_g[MAXR][MAXL];       /* the peers' gradients, mapped */
    uint32_t *peer_flags[MAXR];      /* the peers' counters, mapped */
    uint32_t seq, last[MAXL];        /* allreduces issued; layer l's last one */
} Ce;

typedef struct Net {
    int64_t h, b, layers;
    float *w[MAXL], *g[MAXL], *gz[MAXL], *acts[MAXL + 1];
    float *own[MAXL], *gs[MAXL], *wfull[2][MAXL];  /* zero: rows owned, their gradient,
                                                      the gathered weights (by step parity) */
    int parity;
    cudaEvent_t ag_done[MAXL], updated, chunk_done[MAXL];
    float *cols;                 /* chunkC: a column block of layer 0's input [b, h / C] */
    ncclWindow_t win[4 * MAXL + 2];
    int nwin;
    float *gy, *target, *x0;
    float *loss;
    cudaStream_t cs, ns;
    cudaEvent_t wg_done[MAXL], ar_done[MAXL];
    int pending;                 /* deferred updates of the previous step are owed */
    Ce ce;
} Net;

typedef struct Variant {
    int compute_only, ar_only, defer, low;  /* low: layers below it reversed (lowK) */
    int zero;                               /* reducescatter, own rows, allgather */
    int chunks;                             /* chunkC: layer 0's gradient in C row blocks */
    int ce;                                 /* allreduces on the copy engines */
    ncclComm_t comm;
} Variant;

static size_t mat(const Net *n) { return (size_t)(n->h * n->h) * sizeof(float); }
static size_t act(const Net *n) { return (size_t)(n->b * n->h) * sizeof(float); }

static float *cur_w(const Net *n, const Variant *v, int64_t l)
{
    return v->zero ? n->wfull[n->parity][l] : n->w[l];
}

static int64_t own_elems(const PeerCtx *ctx, const Net *n) { return n->h * n->h / ctx->nranks; }

static int init_weights(PeerCtx *ctx, Net *n, const Variant *v)
{
    float scale = sqrtf(2.0f / (float)n->h);
    for (int64_t l = 0; l < n->layers; l++) {
        float *w = v->zero ? n->wfull[0][l] : n->w[l];
        SC(std_cuda_randn(w, DAFT_RT_F32, n->h * n->h, 1000 + l, n->cs));
        SC(std_cuda_binop_scalar(STD_CUDA_MUL, DAFT_RT_F32, n->h * n->h, w, scale, 0, w, n->cs));
        if (v->zero)
            SC(std_cuda_copy(n->own[l], w + ctx->rank * own_elems(ctx, n),
                             (size_t)own_elems(ctx, n) * sizeof(float), n->cs));
    }
    n->pending = 0;
    n->parity = 0;
    PCU(cudaStreamSynchronize(n->cs));
    return 0;
}

/* zero: every replica's rows of every layer gathered into the other parity's weights, on the
 * communication stream; the forward of layer l waits for ag_done[l] */
static int gather_weights(PeerCtx *ctx, Net *n, const Variant *v)
{
    n->parity ^= 1;
    /* the rows were updated on the compute stream */
    PCU(cudaEventRecord(n->updated, n->cs));
    PCU(cudaStreamWaitEvent(n->ns, n->updated, 0));
    for (int64_t l = 0; l < n->layers; l++) {
        PNC(ncclAllGather(n->own[l], n->wfull[n->parity][l], (size_t)own_elems(ctx, n),
                          ncclFloat, v->comm, n->ns));
        PCU(cudaEventRecord(n->ag_done[l], n->ns));
    }
    return 0;
}

static int update(PeerCtx *ctx, Net *n, const Variant *v, int64_t l)
{
    PCU(cudaStreamWaitEvent(n->cs, n->ar_done[l], 0));
    if (v->zero) {
        SC(std_cuda_sgd_update(DAFT_RT_F32, own_elems(ctx, n), n->own[l], n->gs[l], 1e-3,
                               n->own[l], n->cs));
        return 0;
    }
    SC(std_cuda_sgd_update(DAFT_RT_F32, n->h * n->h, n->w[l], n->g[l], 1e-3, n->w[l], n->cs));
    return 0;
}

/* chunkC, layer 0: its weight gradient in C blocks of rows (each from a column block of
 * the layer's input), each block all-reduced as soon as it exists, so that the step's last
 * allreduce is a C-th of a layer's */
static int weight_grad_chunked(PeerCtx *ctx, Net *n, const Variant *v)
{
    int64_t rows = n->h / v->chunks, dims[2] = { n->b, n->h };
    for (int c = 0; c < v->chunks; c++) {
        SC(std_cuda_slice(DAFT_RT_F32, 2, dims, 1, c * rows, (c + 1) * rows, n->acts[0], n->cols,
                          n->cs));
        float *block = n->g[0] + (size_t)(c * rows * n->h);
        SC(std_cuda_gemm(DAFT_RT_F32, 1, 0, rows, n->h, n->b, n->cols, n->gz[0], block, n->cs));
        PCU(cudaEventRecord(n->chunk_done[c], n->cs));
        PCU(cudaStreamWaitEvent(n->ns, n->chunk_done[c], 0));
        PNC(ncclAllReduce(block, block, (size_t)(rows * n->h), ncclFloat, ncclAvg, v->comm, n->ns));
    }
    PCU(cudaEventRecord(n->ar_done[0], n->ns));
    return 0;
}

static int ce_announce(PeerCtx *ctx, Net *n, int kind, uint32_t seq)
{
    for (int j = 0; j < ctx->nranks; j++)
        if (j != ctx->rank &&
            cuStreamWriteValue32((CUstream)n->ns,
                                 (CUdeviceptr)(n->ce.peer_flags[j] + kind * MAXR + ctx->rank), seq, 0)) {
            fprintf(stderr, "rank %d: cuStreamWriteValue32 failed\n", ctx->rank);
            return 1;
        }
    return 0;
}

static int ce_wait(PeerCtx *ctx, Net *n, cudaStream_t s, int kind, int peer, uint32_t seq)
{
    if (cuStreamWaitValue32((CUstream)s, (CUdeviceptr)(n->ce.flags + kind * MAXR + peer), seq,
                            CU_STREAM_WAIT_VALUE_GEQ)) {
        fprintf(stderr, "rank %d: cuStreamWaitValue32 failed\n", ctx->rank);
        return 1;
    }
    return 0;
}

/* Layer l's allreduce (average) on the copy engines, on the communication stream. */
static int ce_allreduce(PeerCtx *ctx, Net *n, int64_t l)
{
    int R = ctx->nranks, me = ctx->rank;
    int64_t chunk = n->h * n->h / R;
    size_t bytes = (size_t)chunk * sizeof(float);
    float *mine = n->g[l] + (size_t)me * (size_t)chunk;
    uint32_t seq = ++n->ce.seq;
    n->ce.last[l] = seq;
    if (ce_announce(ctx, n, CE_READY, seq))
        return 1;
    for (int j = 0; j < R; j++) {
        if (j == me)
            continue;
        if (ce_wait(ctx, n, n->ns, CE_READY, j, seq))
            return 1;
        PCU(cudaMemcpyAsync(n->ce.scratch + (size_t)j * (size_t)chunk,
                            n->ce.peer_g[j][l] + (size_t)me * (size_t)chunk, bytes,
                            cudaMemcpyDeviceToDevice, n->ns));
    }
    for (int j = 0; j < R; j++)
        if (j != me)
            SC(std_cuda_add(DAFT_RT_F32, chunk, mine, n->ce.scratch + (size_t)j * (size_t)chunk, mine,
                            n->ns));
    SC(std_cuda_binop_scalar(STD_CUDA_MUL, DAFT_RT_F32, chunk, mine, 1.0 / R, 0, mine, n->ns));
    if (ce_announce(ctx, n, CE_REDUCED, seq))
        return 1;
    for (int j = 0; j < R; j++) {
        if (j == me)
            continue;
        if (ce_wait(ctx, n, n->ns, CE_REDUCED, j, seq))
            return 1;
        PCU(cudaMemcpyAsync(n->g[l] + (size_t)j * (size_t)chunk,
                            n->ce.peer_g[j][l] + (size_t)j * (size_t)chunk, bytes,
                            cudaMemcpyDeviceToDevice, n->ns));
    }
    return ce_announce(ctx, n, CE_PULLED, seq);
}

/* ce: every rank maps the others' gradients and counters (handles through an allgather). */
static int ce_setup(PeerCtx *ctx, Net *n)
{
    int R = ctx->nranks, L = (int)n->layers;
    if (R > MAXR) {
        fprintf(stderr, "rank %d: ce: at most %d ranks\n", ctx->rank, MAXR);
        return 1;
    }
    memset(&n->ce, 0, sizeof n->ce);
    PCU(cudaMalloc((void **)&n->ce.scratch, (size_t)(n->h * n->h) * sizeof(float)));
    PCU(cudaMalloc((void **)&n->ce.flags, CE_KINDS * MAXR * sizeof(uint32_t)));
    PCU(cudaMemset(n->ce.flags, 0, CE_KINDS * MAXR * sizeof(uint32_t)));
    size_t per = (size_t)(L + 1) * sizeof(cudaIpcMemHandle_t);
    cudaIpcMemHandle_t *all = malloc(per * (size_t)R);
    char *dev;
    PCU(cudaMalloc((void **)&dev, per * (size_t)R));
    cudaIpcMemHandle_t *mine = all + (size_t)ctx->rank * (size_t)(L + 1);
    for (int l = 0; l < L; l++)
        PCU(cudaIpcGetMemHandle(&mine[l], n->g[l]));
    PCU(cudaIpcGetMemHandle(&mine[L], n->ce.flags));
    PCU(cudaMemcpy(dev + per * (size_t)ctx->rank, mine, per, cudaMemcpyHostToDevice));
    PNC(ncclAllGather(dev + per * (size_t)ctx->rank, dev, per, ncclChar, ctx->comm, n->cs));
    PCU(cudaStreamSynchronize(n->cs));
    PCU(cudaMemcpy(all, dev, per * (size_t)R, cudaMemcpyDeviceToHost));
    PCU(cudaFree(dev));
    for (int j = 0; j < R; j++) {
        if (j == ctx->rank)
            continue;
        cudaIpcMemHandle_t *h = all + (size_t)j * (size_t)(L + 1);
        for (int l = 0; l < L; l++)
            PCU(cudaIpcOpenMemHandle((void **)&n->ce.peer_g[j][l], h[l], cudaIpcMemLazyEnablePeerAccess));
        PCU(cudaIpcOpenMemHandle((void **)&n->ce.peer_flags[j], h[L], cudaIpcMemLazyEnablePeerAccess));
    }
    free(all);
    peer_barrier(ctx); /* every rank mapped every other before any writes a counter */
    return 0;
}

/* ce: unmaps the peers once none of them uses this rank's memory any more. */
static int ce_teardown(PeerCtx *ctx, Net *n)
{
    PCU(cudaDeviceSynchronize());
    peer_barrier(ctx);
    for (int j = 0; j < ctx->nranks; j++) {
        if (j == ctx->rank)
            continue;
        for (int64_t l = 0; l < n->layers; l++)
            PCU(cudaIpcCloseMemHandle(n->ce.peer_g[j][l]));
        PCU(cudaIpcCloseMemHandle(n->ce.peer_flags[j]));
    }
    peer_barrier(ctx);
    PCU(cudaFree(n->ce.scratch));
    PCU(cudaFree(n->ce.flags));
    return 0;
}

static int weight_grad_and_allreduce(PeerCtx *ctx, Net *n, const Variant *v, int64_t l)
{
    if (l == 0 && v->chunks > 1 && !v->compute_only)
        return weight_grad_chunked(ctx, n, v);
    for (int j = 0; v->ce && n->ce.last[l] && j < ctx->nranks; j++) /* every peer pulled it */
        if (j != ctx->rank && ce_wait(ctx, n, n->cs, CE_PULLED, j, n->ce.last[l]))
            return 1;
    SC(std_cuda_gemm(DAFT_RT_F32, 1, 0, n->h, n->h, n->b, n->acts[l], n->gz[l], n->g[l], n->cs));
    if (v->compute_only) {
        PCU(cudaEventRecord(n->ar_done[l], n->cs));
        return 0;
    }
    PCU(cudaEventRecord(n->wg_done[l], n->cs));
    PCU(cudaStreamWaitEvent(n->ns, n->wg_done[l], 0));
    if (v->ce) {
        if (ce_allreduce(ctx, n, l))
            return 1;
    } else if (v->zero)
        PNC(ncclReduceScatter(n->g[l], n->gs[l], (size_t)own_elems(ctx, n), ncclFloat, ncclAvg,
                              v->comm, n->ns));
    else
        PNC(ncclAllReduce(n->g[l], n->g[l], (size_t)(n->h * n->h), ncclFloat, ncclAvg, v->comm,
                          n->ns));
    PCU(cudaEventRecord(n->ar_done[l], n->ns));
    return 0;
}

static int step(PeerCtx *ctx, Net *n, const Variant *v)
{
    int64_t L = n->layers, hb = n->h * n->b;
    if (v->ar_only) {
        for (int64_t l = L - 1; l >= 0; l--)
            PNC(ncclAllReduce(n->g[l], n->g[l], (size_t)(n->h * n->h), ncclFloat, ncclAvg,
                              v->comm, n->ns));
        return 0;
    }
    /* forward */
    if (v->zero && gather_weights(ctx, n, v))
        return 1;
    for (int64_t l = 0; l < L; l++) {
        if (v->defer && n->pending && update(ctx, n, v, l))
            return 1;
        if (v->zero)
            PCU(cudaStreamWaitEvent(n->cs, n->ag_done[l], 0));
        SC(std_cuda_linear_forward(DAFT_RT_F32, n->b, n->h, n->h, l ? n->acts[l] : n->x0,
                                   cur_w(n, v, l), n->acts[l + 1], n->cs));
        SC(std_cuda_relu(DAFT_RT_F32, hb, n->acts[l + 1], n->acts[l + 1], n->cs));
    }
    n->acts[0] = n->x0;
    SC(std_cuda_mse_grad(DAFT_RT_F32, hb, n->acts[L], n->target, n->gy, n->cs));
    /* backward, top layers: weight grad, allreduce, input grad */
    int64_t low = v->low;
    for (int64_t l = L - 1; l >= low; l--) {
        SC(std_cuda_relu_backward(DAFT_RT_F32, hb, n->acts[l + 1], n->gy, n->gz[l], n->cs));
        if (weight_grad_and_allreduce(ctx, n, v, l))
            return 1;
        if (l > 0)
            SC(std_cuda_gemm(DAFT_RT_F32, 0, 1, n->b, n->h, n->h, n->gz[l], cur_w(n, v, l),
                             n->gy, n->cs));
    }
    /* low layers: the input-gradient chain first, then the weight grads from layer 0 up */
    for (int64_t l = low - 1; l >= 0; l--) {
        SC(std_cuda_relu_backward(DAFT_RT_F32, hb, n->acts[l + 1], n->gy, n->gz[l], n->cs));
        if (l > 0)
            SC(std_cuda_gemm(DAFT_RT_F32, 0, 1, n->b, n->h, n->h, n->gz[l], cur_w(n, v, l),
                             n->gy, n->cs));
    }
    for (int64_t l = 0; l < low; l++)
        if (weight_grad_and_allreduce(ctx, n, v, l))
            return 1;
    if (v->defer) {
        n->pending = 1;
    } else {
        for (int64_t l = L - 1; l >= 0; l--)
            if (update(ctx, n, v, l))
                return 1;
    }
    return 0;
}

static int finish(PeerCtx *ctx, Net *n, const Variant *v)
{
    if (v->defer && n->pending) {
        for (int64_t l = 0; l < n->layers; l++)
            if (update(ctx, n, v, l))
                return 1;
        n->pending = 0;
    }
    if (v->zero && gather_weights(ctx, n, v))   /* (the final weights, for the loss) */
        return 1;
    PCU(cudaStreamSynchronize(n->cs));
    PCU(cudaStreamSynchronize(n->ns));
    return 0;
}

/* samples/s (median of reps), or ms per step for ar_only; the final loss into *loss */
static int run_variant(PeerCtx *ctx, Net *n, const Variant *v, int steps, int reps,
                       double *figure, double *loss)
{
    if (init_weights(ctx, n, v))
        return 1;
    for (int i = 0; i < 3; i++)
        if (step(ctx, n, v))
            return 1;
    if (finish(ctx, n, v))
        return 1;
    double per[64];
    for (int r = 0; r < reps; r++) {
        peer_barrier(ctx);
        double t0 = peer_now();
        for (int i = 0; i < steps; i++)
            if (step(ctx, n, v))
                return 1;
        if (finish(ctx, n, v))
            return 1;
        double dt = peer_now() - t0;
        per[r] = v->ar_only ? dt * 1e3 / steps
                            : (double)ctx->nranks * (double)n->b * steps / dt;
    }
    *figure = peer_median(per, reps);
    *loss = 0.0;
    if (!v->ar_only) {
        int64_t L = n->layers, hb = n->h * n->b;
        for (int64_t l = 0; l < L; l++) {
            if (v->zero)
                PCU(cudaStreamWaitEvent(n->cs, n->ag_done[l], 0));
            SC(std_cuda_linear_forward(DAFT_RT_F32, n->b, n->h, n->h, l ? n->acts[l] : n->x0,
                                       cur_w(n, v, l), n->acts[l + 1], n->cs));
            SC(std_cuda_relu(DAFT_RT_F32, hb, n->acts[l + 1], n->acts[l + 1], n->cs));
        }
        SC(std_cuda_mse_loss_sync(DAFT_RT_F32, hb, n->acts[L], n->target, loss, n->cs));
    }
    return 0;
}

/* A communicator for a prefix ("eff", "cta8", ...), split from the default one. */
static ncclComm_t comm_for(PeerCtx *ctx, const char *prefix)
{
    if (!prefix[0])
        return ctx->comm;
    ncclConfig_t cfg = NCCL_CONFIG_INITIALIZER;
    if (!strcmp(prefix, "eff"))
        cfg.CTAPolicy = NCCL_CTA_POLICY_EFFICIENCY;
    else if (!strncmp(prefix, "cta", 3))
        cfg.maxCTAs = atoi(prefix + 3);
    else
        return NULL;
    ncclComm_t c = NULL;
    if (ncclCommSplit(ctx->comm, 0, ctx->rank, &c, &cfg) != ncclSuccess)
        return NULL;
    return c;
}

/* A buffer collectives use: ncclMemAlloc memory registered as a symmetric window (sym), or
 * plain cudaMalloc memory. */
static int comm_buf(PeerCtx *ctx, Net *n, const Variant *v, int sym, float **p, size_t bytes)
{
    if (!sym) {
        PCU(cudaMalloc((void **)p, bytes));
        return 0;
    }
    PNC(ncclMemAlloc((void **)p, bytes));
    if (ncclCommWindowRegister(v->comm, *p, bytes, &n->win[n->nwin], NCCL_WIN_COLL_SYMMETRIC)) {
        fprintf(stderr, "rank %d: ncclCommWindowRegister failed: %s\n", ctx->rank,
                ncclGetLastError(v->comm));
        return 1;
    }
    n->nwin++;
    return 0;
}

static int alloc_comm_bufs(PeerCtx *ctx, Net *n, const Variant *v, int sym)
{
    n->nwin = 0;
    size_t own = (size_t)own_elems(ctx, n) * sizeof(float);
    for (int64_t l = 0; l < n->layers; l++) {
        if (comm_buf(ctx, n, v, sym, &n->g[l], mat(n)))
            return 1;
        if (v->zero && (comm_buf(ctx, n, v, sym, &n->own[l], own) ||
                        comm_buf(ctx, n, v, sym, &n->gs[l], own) ||
                        comm_buf(ctx, n, v, sym, &n->wfull[0][l], mat(n)) ||
                        comm_buf(ctx, n, v, sym, &n->wfull[1][l], mat(n))))
            return 1;
    }
    return 0;
}

static void free_one(float **p, int sym)
{
    if (*p)
        sym ? (void)ncclMemFree(*p) : (void)cudaFree(*p);
    *p = NULL;
}

static int free_comm_bufs(PeerCtx *ctx, Net *n, const Variant *v, int sym)
{
    (void)ctx;
    for (int i = 0; i < n->nwin; i++)
        PNC(ncclCommWindowDeregister(v->comm, n->win[i]));
    n->nwin = 0;
    for (int64_t l = 0; l < n->layers; l++) {
        free_one(&n->g[l], sym);
        free_one(&n->own[l], sym);
        free_one(&n->gs[l], sym);
        free_one(&n->wfull[0][l], sym);
        free_one(&n->wfull[1][l], sym);
    }
    return 0;
}

static int run(PeerCtx *ctx)
{
    Net n;
    memset(&n, 0, sizeof n);
    n.h = peer_arg_ll(ctx->argc, ctx->argv, "-hidden", 4096);
    n.b = peer_arg_ll(ctx->argc, ctx->argv, "-batch", 256);
    n.layers = peer_arg_ll(ctx->argc, ctx->argv, "-layers", 8);
    int steps = (int)peer_arg_ll(ctx->argc, ctx->argv, "-steps", 20);
    int reps = (int)peer_arg_ll(ctx->argc, ctx->argv, "-reps", 3);
    const char *variants = peer_arg_str(ctx->argc, ctx->argv, "-variants",
                                        "compute,ar,daft,defer,low2,low4,low8,eff:daft,sym:daft");
    if (n.layers < 1 || n.layers > MAXL || reps < 1 || reps > 64 || ctx->nranks < 2) {
        fprintf(stderr, "dp_probe: needs -n >= 2, 1..%d layers, 1..64 reps\n", MAXL);
        return 1;
    }
    n.cs = ctx->stream;
    PCU(cudaStreamCreateWithFlags(&n.ns, cudaStreamNonBlocking));
    for (int64_t l = 0; l < n.layers; l++) {
        PCU(cudaMalloc((void **)&n.w[l], mat(&n)));
        PCU(cudaMalloc((void **)&n.gz[l], act(&n)));
        PCU(cudaMalloc((void **)&n.acts[l + 1], act(&n)));
        PCU(cudaEventCreateWithFlags(&n.wg_done[l], cudaEventDisableTiming));
        PCU(cudaEventCreateWithFlags(&n.ar_done[l], cudaEventDisableTiming));
        PCU(cudaEventCreateWithFlags(&n.ag_done[l], cudaEventDisableTiming));
        PCU(cudaEventCreateWithFlags(&n.chunk_done[l], cudaEventDisableTiming));
    }
    PCU(cudaEventCreateWithFlags(&n.updated, cudaEventDisableTiming));
    PCU(cudaMalloc((void **)&n.gy, act(&n)));
    PCU(cudaMalloc((void **)&n.cols, act(&n)));
    PCU(cudaMalloc((void **)&n.x0, act(&n)));
    PCU(cudaMalloc((void **)&n.target, act(&n)));
    SC(std_cuda_randn(n.x0, DAFT_RT_F32, n.b * n.h, 5000 + ctx->rank, n.cs));
    SC(std_cuda_randn(n.target, DAFT_RT_F32, n.b * n.h, 99 + ctx->rank, n.cs));
    n.acts[0] = n.x0;

    char list[512];
    snprintf(list, sizeof list, "%s", variants);
    char *save = NULL;
    for (char *tok = strtok_r(list, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        char prefix[16] = "", *base = tok, *colon = strchr(tok, ':');
        if (colon) {
            snprintf(prefix, sizeof prefix, "%.*s", (int)(colon - tok), tok);
            base = colon + 1;
        }
        int sym = !strcmp(prefix, "sym");
        Variant v;
        memset(&v, 0, sizeof v);
        v.comm = comm_for(ctx, sym ? "" : prefix);
        if (!v.comm) {
            if (ctx->rank == 0)
                printf("dp_probe: %s: no communicator for '%s'\n", tok, prefix);
            continue;
        }
        if (!strcmp(base, "compute"))
            v.compute_only = 1;
        else if (!strcmp(base, "ar"))
            v.ar_only = 1;
        else if (!strncmp(base, "chunk", 5) && atoi(base + 5) >= 2 && atoi(base + 5) <= MAXL &&
                 n.h % atoi(base + 5) == 0)
            v.chunks = atoi(base + 5);
        else if (!strcmp(base, "zero"))
            v.zero = 1;
        else if (!strcmp(base, "ce") && !sym)
            v.ce = 1;
        else if (!strcmp(base, "defer"))
            v.defer = 1;
        else if (!strncmp(base, "low", 3) && atoi(base + 3) >= 1 && atoi(base + 3) <= n.layers) {
            v.defer = 1;
            v.low = atoi(base + 3);
        } else if (strcmp(base, "daft")) {
            if (ctx->rank == 0)
                printf("dp_probe: unknown variant '%s'\n", tok);
            continue;
        }
        if (alloc_comm_bufs(ctx, &n, &v, sym) || (v.ce && ce_setup(ctx, &n)))
            return 1;
        double fig = 0, loss = 0;
        if (run_variant(ctx, &n, &v, steps, reps, &fig, &loss))
            return 1;
        if ((v.ce && ce_teardown(ctx, &n)) || free_comm_bufs(ctx, &n, &v, sym))
            return 1;
        if (ctx->rank == 0) {
            char cfg[96];
            snprintf(cfg, sizeof cfg, "%s, %d GPUs, batch %lld", tok, ctx->nranks,
                     (long long)n.b);
            peer_result("W5probe", "dp_probe", cfg, v.ar_only ? "ms_per_step" : "samples_per_s",
                        fig);
            if (!v.ar_only)
                printf("dp_probe %s: final loss %.9g\n", tok, loss);
            fflush(stdout);
        }
        if (v.comm != ctx->comm)
            PNC(ncclCommDestroy(v.comm));
    }
    std_cuda_thread_release();
    return 0;
}

int main(int argc, char **argv)
{
    int n = (int)peer_arg_ll(argc, argv, "-n", 2);
    int timeout = (int)peer_arg_ll(argc, argv, "-timeout", 300);
    int rc = peer_run(n, run, argc, argv, timeout);
    if (rc)
        fprintf(stderr, "dp_probe: FAILED\n");
    return rc;
}
