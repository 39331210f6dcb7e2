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
 * Figure: samples/s = R * batch * steps / seconds, median of -reps timed runs, each from a
 * barrier to the end of every stream. Rank 0 also prints the final MSE of each variant
 * (every variant trains the same model from the same start: they must agree closely).
 */
#include <math.h>
#include <string.h>

#include "peer_common.h"
#include "std_cuda.h"

#define MAXL 64

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
} Net;

typedef struct Variant {
    int compute_only, ar_only, defer, low;  /* low: layers below it reversed (lowK) */
    int zero;                               /* reducescatter, own rows, allgather */
    int chunks;                             /* chunkC: layer 0's gradient in C row blocks */
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

static int weight_grad_and_allreduce(PeerCtx *ctx, Net *n, const Variant *v, int64_t l)
{
    if (l == 0 && v->chunks > 1 && !v->compute_only)
        return weight_grad_chunked(ctx, n, v);
    SC(std_cuda_gemm(DAFT_RT_F32, 1, 0, n->h, n->h, n->b, n->acts[l], n->gz[l], n->g[l], n->cs));
    if (v->compute_only) {
        PCU(cudaEventRecord(n->ar_done[l], n->cs));
        return 0;
    }
    PCU(cudaEventRecord(n->wg_done[l], n->cs));
    PCU(cudaStreamWaitEvent(n->ns, n->wg_done[l], 0));
    if (v->zero)
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
        if (alloc_comm_bufs(ctx, &n, &v, sym))
            return 1;
        double fig = 0, loss = 0;
        if (run_variant(ctx, &n, &v, steps, reps, &fig, &loss))
            return 1;
        if (free_comm_bufs(ctx, &n, &v, sym))
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
