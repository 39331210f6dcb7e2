/* nccl_graph_probe.c — what launching an NCCL allreduce from a CUDA graph saves the host
 * (a probe for the GPU issue's item 7, not a peer): one process per GPU.
 *
 *   nccl_graph_probe -n GPUS [-sizes 8,524288,4194304] [-iters N]
 *
 * For each size, an out-of-place f32 sum allreduce of a tensor the caller owns into one the
 * caller owns, in these ways:
 *   eager        ncclAllReduce(src, dst) on the stream;
 *   graph        a graph captured once as [copy src -> fixed in, ncclAllReduce(in, out),
 *                copy fixed out -> dst], its two copies pointed at this call's src and dst
 *                (cudaGraphExecMemcpyNodeSetParams), then cudaGraphLaunch;
 *   graph_fixed  the same graph launched with its copies unchanged (the cost of the updates);
 *   graph_2execs the same, two instantiations of the capture launched in turns;
 *   copies_fixed, kernel_fixed  (not an allreduce: their results are not checked) the same
 *                three-node graph with a device copy, or a std_cuda kernel, in the NCCL
 *                call's place: what launching a graph costs without NCCL in it.
 * Found on 2 x H200 (bench/RESULTS.md, seventeenth session): a launch of a graph holding the
 * NCCL call blocks the host until the stream's earlier work is done (~90 us per launch
 * behind 10 ms of copies), the others cost ~2 us.
 * Figures (rank 0, medians over 5 bursts):
 *   host_us      host time to issue one call, N calls back to back (the CPU running ahead);
 *   per_op_us    wall time per call of the burst, synced at its end;
 *   sync_us      one call then a stream sync, host-timed (latency);
 *   issue_us     host time to issue one call behind ~10 ms of copies on the stream (100
 *                calls: the host's own cost, the GPU out of the way).
 * Every way's result is checked once: rank r contributes r + 1, every element must be
 * n (n + 1) / 2.
 */
#include <string.h>

#include "peer_common.h"
#include "std_cuda.h"

typedef struct Way {
    cudaGraph_t graph;
    cudaGraphExec_t exec, exec2;   /* exec2: a second instantiation, launched in turns */
    cudaGraphExec_t copies, kernel; /* the same with a copy, or a kernel, in place of the allreduce */
    int turn;
    cudaGraphNode_t copy_in, copy_out;
    struct cudaMemcpy3DParms in_p, out_p; /* (captured copies are 3D nodes: updated as such) */
    float *in, *out;
} Way;

static void capture(PeerCtx *ctx, Way *w, const float *src, float *dst, size_t count)
{
    size_t bytes = count * sizeof(float);
    PCU(cudaMalloc((void **)&w->in, bytes));
    PCU(cudaMalloc((void **)&w->out, bytes));
    cudaGraph_t graph;
    PCU(cudaStreamBeginCapture(ctx->stream, cudaStreamCaptureModeThreadLocal));
    PCU(cudaMemcpyAsync(w->in, src, bytes, cudaMemcpyDeviceToDevice, ctx->stream));
    PNC(ncclAllReduce(w->in, w->out, count, ncclFloat, ncclSum, ctx->comm, ctx->stream));
    PCU(cudaMemcpyAsync(dst, w->out, bytes, cudaMemcpyDeviceToDevice, ctx->stream));
    PCU(cudaStreamEndCapture(ctx->stream, &graph));
    size_t n = 0;
    PCU(cudaGraphGetNodes(graph, NULL, &n));
    cudaGraphNode_t nodes[64];
    if (n > 64)
        n = 64;
    PCU(cudaGraphGetNodes(graph, nodes, &n));
    w->copy_in = w->copy_out = NULL;
    for (size_t i = 0; i < n; i++) {
        enum cudaGraphNodeType ty;
        PCU(cudaGraphNodeGetType(nodes[i], &ty));
        if (ty != cudaGraphNodeTypeMemcpy)
            continue;
        struct cudaMemcpy3DParms p;
        PCU(cudaGraphMemcpyNodeGetParams(nodes[i], &p));
        if (p.dstPtr.ptr == w->in) {
            w->copy_in = nodes[i];
            w->in_p = p;
        } else if (p.srcPtr.ptr == w->out) {
            w->copy_out = nodes[i];
            w->out_p = p;
        }
    }
    if (!w->copy_in || !w->copy_out) {
        fprintf(stderr, "rank %d: the captured graph's copies were not found (%zu nodes)\n",
                ctx->rank, n);
        exit(3);
    }
    PCU(cudaGraphInstantiate(&w->exec, graph, 0));
    PCU(cudaGraphInstantiate(&w->exec2, graph, 0));
    w->graph = graph; /* (its nodes name the exec's nodes in the updates) */
    if (ctx->rank == 0) {
        int kinds[16] = {0};
        for (size_t i = 0; i < n; i++) {
            enum cudaGraphNodeType ty;
            PCU(cudaGraphNodeGetType(nodes[i], &ty));
            kinds[(int)ty & 15]++;
        }
        fprintf(stderr, "probe: the allreduce graph has %zu nodes:", n);
        for (int k = 0; k < 16; k++)
            if (kinds[k])
                fprintf(stderr, " %d of type %d", kinds[k], k);
        fprintf(stderr, "\n");
    }
    cudaGraph_t cg;
    PCU(cudaStreamBeginCapture(ctx->stream, cudaStreamCaptureModeThreadLocal));
    PCU(cudaMemcpyAsync(w->in, src, bytes, cudaMemcpyDeviceToDevice, ctx->stream));
    PCU(cudaMemcpyAsync(w->out, w->in, bytes, cudaMemcpyDeviceToDevice, ctx->stream));
    PCU(cudaMemcpyAsync(dst, w->out, bytes, cudaMemcpyDeviceToDevice, ctx->stream));
    PCU(cudaStreamEndCapture(ctx->stream, &cg));
    PCU(cudaGraphInstantiate(&w->copies, cg, 0));
    PCU(cudaGraphDestroy(cg));
    PCU(cudaStreamBeginCapture(ctx->stream, cudaStreamCaptureModeThreadLocal));
    PCU(cudaMemcpyAsync(w->in, src, bytes, cudaMemcpyDeviceToDevice, ctx->stream));
    if (std_cuda_binop_scalar(STD_CUDA_MUL, DAFT_RT_F32, (int64_t)count, w->in, 1.0, 0, w->out,
                              ctx->stream)) {
        fprintf(stderr, "rank %d: capturing a kernel failed\n", ctx->rank);
        exit(3);
    }
    PCU(cudaMemcpyAsync(dst, w->out, bytes, cudaMemcpyDeviceToDevice, ctx->stream));
    PCU(cudaStreamEndCapture(ctx->stream, &cg));
    PCU(cudaGraphInstantiate(&w->kernel, cg, 0));
    PCU(cudaGraphDestroy(cg));
}

/* way: 0 eager, 1 graph, 2 graph_fixed, 3 graph_2execs, 4 copies_fixed, 5 kernel_fixed */
static void issue(PeerCtx *ctx, Way *w, int way, const float *src, float *dst, size_t count)
{
    if (way == 0) {
        PNC(ncclAllReduce(src, dst, count, ncclFloat, ncclSum, ctx->comm, ctx->stream));
        return;
    }
    if (way == 1) {
        w->in_p.srcPtr.ptr = (void *)src;
        w->out_p.dstPtr.ptr = dst;
        PCU(cudaGraphExecMemcpyNodeSetParams(w->exec, w->copy_in, &w->in_p));
        PCU(cudaGraphExecMemcpyNodeSetParams(w->exec, w->copy_out, &w->out_p));
    }
    w->turn ^= 1;
    cudaGraphExec_t e = way == 3 ? (w->turn ? w->exec2 : w->exec)
                        : way == 4 ? w->copies
                        : way == 5 ? w->kernel
                                   : w->exec;
    PCU(cudaGraphLaunch(e, ctx->stream));
}

static int check(PeerCtx *ctx, const float *dev, size_t count, const char *way)
{
    float expect = (float)(ctx->nranks * (ctx->nranks + 1) / 2), h[2];
    PCU(cudaStreamSynchronize(ctx->stream));
    PCU(cudaMemcpy(&h[0], dev, sizeof(float), cudaMemcpyDeviceToHost));
    PCU(cudaMemcpy(&h[1], dev + count - 1, sizeof(float), cudaMemcpyDeviceToHost));
    if (h[0] != expect || h[1] != expect) {
        fprintf(stderr, "rank %d: %s: got %g, %g, expected %g\n", ctx->rank, way, h[0], h[1],
                expect);
        return 1;
    }
    return 0;
}

static int run(PeerCtx *ctx)
{
    static const char *names[6] = {"eager", "graph", "graph_fixed", "graph_2execs",
                                   "copies_fixed", "kernel_fixed"};
    const char *sizes = peer_arg_str(ctx->argc, ctx->argv, "-sizes", "8,524288,4194304");
    int iters = (int)peer_arg_ll(ctx->argc, ctx->argv, "-iters", 200);
    char list[256];
    snprintf(list, sizeof list, "%s", sizes);
    for (char *tok = strtok(list, ","); tok; tok = strtok(NULL, ",")) {
        size_t count = (size_t)strtoull(tok, NULL, 0) / sizeof(float);
        if (!count)
            continue;
        float *src, *dst;
        PCU(cudaMalloc((void **)&src, count * sizeof(float)));
        PCU(cudaMalloc((void **)&dst, count * sizeof(float)));
        if (std_cuda_ones(src, DAFT_RT_F32, (int64_t)count, ctx->stream) ||
            std_cuda_binop_scalar(STD_CUDA_MUL, DAFT_RT_F32, (int64_t)count, src,
                                  (double)(ctx->rank + 1), 0, src, ctx->stream)) {
            fprintf(stderr, "rank %d: fill failed\n", ctx->rank);
            return 1;
        }
        Way w;
        memset(&w, 0, sizeof w);
        /* warm the communicator eagerly before capturing (NCCL's advice for graphs) */
        for (int i = 0; i < 20; i++)
            issue(ctx, &w, 0, src, dst, count);
        capture(ctx, &w, src, dst, count);
        for (int way = 0; way < 4; way++) {
            PCU(cudaMemsetAsync(dst, 0, count * sizeof(float), ctx->stream));
            issue(ctx, &w, way, src, dst, count);
            if (check(ctx, dst, count, names[way]))
                return 1;
        }
        double host[6][5], per[6][5], syn[6][5], held[6][5];
        void *busy; /* copied around to keep the GPU busy while calls are issued */
        size_t busy_nb = (size_t)1 << 30;
        PCU(cudaMalloc(&busy, 2 * busy_nb));
        for (int round = 0; round < 5; round++)
            for (int way = 0; way < 6; way++) {
                peer_barrier(ctx);
                double t0 = peer_now();
                for (int i = 0; i < iters; i++)
                    issue(ctx, &w, way, src, dst, count);
                double t1 = peer_now();
                PCU(cudaStreamSynchronize(ctx->stream));
                double t2 = peer_now();
                host[way][round] = 1e6 * (t1 - t0) / iters;
                per[way][round] = 1e6 * (t2 - t0) / iters;
                peer_barrier(ctx);
                double s[64];
                for (int i = 0; i < 64; i++) {
                    double a = peer_now();
                    issue(ctx, &w, way, src, dst, count);
                    PCU(cudaStreamSynchronize(ctx->stream));
                    s[i] = 1e6 * (peer_now() - a);
                }
                syn[way][round] = peer_median(s, 64);
                peer_barrier(ctx);
                for (int k = 0; k < 16; k++) /* ~10 ms of copies ahead of the calls */
                    PCU(cudaMemcpyAsync((char *)busy + (k % 2) * busy_nb,
                                        (char *)busy + (1 - k % 2) * busy_nb, busy_nb,
                                        cudaMemcpyDeviceToDevice, ctx->stream));
                int nheld = iters < 100 ? iters : 100;
                double h0 = peer_now();
                for (int i = 0; i < nheld; i++)
                    issue(ctx, &w, way, src, dst, count);
                held[way][round] = 1e6 * (peer_now() - h0) / nheld;
                PCU(cudaStreamSynchronize(ctx->stream));
            }
        if (ctx->rank == 0) {
            char cfg[64];
            snprintf(cfg, sizeof cfg, "%d GPUs, %zu B", ctx->nranks, count * sizeof(float));
            for (int way = 0; way < 6; way++) {
                char prog[64];
                snprintf(prog, sizeof prog, "allreduce_%s", names[way]);
                peer_result("probe", prog, cfg, "host_us", peer_median(host[way], 5));
                peer_result("probe", prog, cfg, "per_op_us", peer_median(per[way], 5));
                peer_result("probe", prog, cfg, "sync_us", peer_median(syn[way], 5));
                peer_result("probe", prog, cfg, "issue_us", peer_median(held[way], 5));
            }
        }
        PCU(cudaGraphExecDestroy(w.exec));
        PCU(cudaGraphExecDestroy(w.exec2));
        PCU(cudaGraphExecDestroy(w.copies));
        PCU(cudaGraphExecDestroy(w.kernel));
        PCU(cudaGraphDestroy(w.graph));
        PCU(cudaFree(w.in));
        PCU(cudaFree(w.out));
        PCU(cudaFree(busy));
        PCU(cudaFree(src));
        PCU(cudaFree(dst));
    }
    return 0;
}

int main(int argc, char **argv)
{
    setenv("NCCL_NVLS_ENABLE", "0", 0);
    int n = (int)peer_arg_ll(argc, argv, "-n", 2);
    return peer_run(n, run, argc, argv, (int)peer_arg_ll(argc, argv, "-timeout", 120));
}
