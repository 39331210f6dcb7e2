/* nccl_sendrecv.c — W3 peer: a GPU tensor from rank 0 (GPU 0) to rank 1 (GPU 1) with
 * ncclSend/ncclRecv, written the way an SPMD programmer would.
 *
 *   nccl_sendrecv [-sizes 8,1048576,268435456] [-iters N] [-timeout S]
 *
 * For each size, after warm-up:
 *   oneway_us     median over iterations of one transfer, each started by an NCCL
 *                 barrier (1-float allreduce), timed on the receiver's stream with CUDA
 *                 events from the end of the barrier to the end of the receive
 *   oneway_GBps   size / oneway time (10^9 bytes/s)
 *   stream_GBps   K transfers back to back, size*K / time on the receiver
 *   rtt_us        median ping-pong round trip (0 -> 1 -> 0) timed on rank 0's stream with
 *                 CUDA events, every round trip queued back to back (GPU time only)
 *   rtt_host_us   median ping-pong round trip as rank 0's host sees it: the clock read,
 *                 the send and receive enqueued, the stream synchronised, the clock read
 *                 (what a program that needs the answer on its CPU pays; daft's rtt_host_us
 *                 from bench_gpu_plan is timed the same way, driver to driver)
 * Rank 1 checks the received bytes of the first and last transfers.
 */
#include <string.h>

#include "peer_common.h"

static int iters_for(size_t bytes, long long forced)
{
    if (forced > 0)
        return (int)forced;
    return bytes >= (64u << 20) ? 30 : bytes >= (1u << 20) ? 200 : 1000;
}

static int check_payload(PeerCtx *ctx, const void *dev, size_t bytes, unsigned char tag)
{
    size_t n = bytes < 4096 ? bytes : 4096;
    unsigned char h[4096];
    for (int part = 0; part < 2; part++) {
        size_t off = part ? bytes - n : 0;
        PCU(cudaMemcpyAsync(h, (const char *)dev + off, n, cudaMemcpyDeviceToHost, ctx->stream));
        PCU(cudaStreamSynchronize(ctx->stream));
        for (size_t i = 0; i < n; i++)
            if (h[i] != tag) {
                fprintf(stderr, "rank %d: byte %zu of %zu is 0x%02x, expected 0x%02x\n",
                        ctx->rank, off + i, bytes, h[i], tag);
                return 1;
            }
    }
    return 0;
}

static int run(PeerCtx *ctx)
{
    if (ctx->nranks != 2) {
        fprintf(stderr, "nccl_sendrecv: needs exactly 2 ranks\n");
        return 1;
    }
    const char *sizes = peer_arg_str(ctx->argc, ctx->argv, "-sizes", "8,1048576,268435456");
    long long forced_iters = peer_arg_ll(ctx->argc, ctx->argv, "-iters", 0);
    int peer = 1 - ctx->rank;
    char list[512];
    snprintf(list, sizeof list, "%s", sizes);
    int failed = 0;
    for (char *tok = strtok(list, ","); tok; tok = strtok(NULL, ",")) {
        size_t bytes = (size_t)strtoull(tok, NULL, 0);
        if (bytes == 0)
            continue;
        int iters = iters_for(bytes, forced_iters), warm = iters < 20 ? 5 : 20;
        void *buf;
        PCU(cudaMalloc(&buf, bytes));
        PCU(cudaMemsetAsync(buf, ctx->rank == 0 ? 0xA5 : 0x00, bytes, ctx->stream));
        cudaEvent_t *ev = malloc(sizeof(cudaEvent_t) * 2 * (size_t)iters);
        double *t = malloc(sizeof(double) * (size_t)iters);
        for (int i = 0; i < 2 * iters; i++)
            PCU(cudaEventCreate(&ev[i]));
        peer_barrier(ctx);

        /* warm-up: ping-pong */
        for (int i = 0; i < warm; i++) {
            PNC(ncclGroupStart());
            if (ctx->rank == 0)
                PNC(ncclSend(buf, bytes, ncclChar, peer, ctx->comm, ctx->stream));
            else
                PNC(ncclRecv(buf, bytes, ncclChar, peer, ctx->comm, ctx->stream));
            PNC(ncclGroupEnd());
            if (ctx->rank == 0)
                PNC(ncclRecv(buf, bytes, ncclChar, peer, ctx->comm, ctx->stream));
            else
                PNC(ncclSend(buf, bytes, ncclChar, peer, ctx->comm, ctx->stream));
        }
        peer_barrier(ctx);
        if (ctx->rank == 1)
            failed |= check_payload(ctx, buf, bytes, 0xA5);
        peer_barrier(ctx);

        /* one way, each transfer started by a barrier */
        float *bar;
        PCU(cudaMalloc((void **)&bar, sizeof(float)));
        for (int i = 0; i < iters; i++) {
            PNC(ncclAllReduce(bar, bar, 1, ncclFloat, ncclSum, ctx->comm, ctx->stream));
            PCU(cudaEventRecord(ev[2 * i], ctx->stream));
            if (ctx->rank == 0)
                PNC(ncclSend(buf, bytes, ncclChar, peer, ctx->comm, ctx->stream));
            else
                PNC(ncclRecv(buf, bytes, ncclChar, peer, ctx->comm, ctx->stream));
            PCU(cudaEventRecord(ev[2 * i + 1], ctx->stream));
        }
        PCU(cudaStreamSynchronize(ctx->stream));
        double oneway = 0.0;
        if (ctx->rank == 1) {
            for (int i = 0; i < iters; i++) {
                float ms;
                PCU(cudaEventElapsedTime(&ms, ev[2 * i], ev[2 * i + 1]));
                t[i] = 1e3 * ms;
            }
            oneway = peer_median(t, iters);
        }

        /* streamed: K transfers back to back */
        peer_barrier(ctx);
        PNC(ncclAllReduce(bar, bar, 1, ncclFloat, ncclSum, ctx->comm, ctx->stream));
        PCU(cudaEventRecord(ev[0], ctx->stream));
        for (int i = 0; i < iters; i++) {
            if (ctx->rank == 0)
                PNC(ncclSend(buf, bytes, ncclChar, peer, ctx->comm, ctx->stream));
            else
                PNC(ncclRecv(buf, bytes, ncclChar, peer, ctx->comm, ctx->stream));
        }
        PCU(cudaEventRecord(ev[1], ctx->stream));
        PCU(cudaStreamSynchronize(ctx->stream));
        double stream_us = 0.0;
        if (ctx->rank == 1) {
            float ms;
            PCU(cudaEventElapsedTime(&ms, ev[0], ev[1]));
            stream_us = 1e3 * ms / iters;
            failed |= check_payload(ctx, buf, bytes, 0xA5);
        }

        /* ping-pong round trip, timed on rank 0 */
        peer_barrier(ctx);
        for (int i = 0; i < iters; i++) {
            if (ctx->rank == 0) {
                PCU(cudaEventRecord(ev[2 * i], ctx->stream));
                PNC(ncclSend(buf, bytes, ncclChar, peer, ctx->comm, ctx->stream));
                PNC(ncclRecv(buf, bytes, ncclChar, peer, ctx->comm, ctx->stream));
                PCU(cudaEventRecord(ev[2 * i + 1], ctx->stream));
            } else {
                PNC(ncclRecv(buf, bytes, ncclChar, peer, ctx->comm, ctx->stream));
                PNC(ncclSend(buf, bytes, ncclChar, peer, ctx->comm, ctx->stream));
            }
        }
        PCU(cudaStreamSynchronize(ctx->stream));
        double rtt = 0.0;
        if (ctx->rank == 0) {
            for (int i = 0; i < iters; i++) {
                float ms;
                PCU(cudaEventElapsedTime(&ms, ev[2 * i], ev[2 * i + 1]));
                t[i] = 1e3 * ms;
            }
            rtt = peer_median(t, iters);
        }

        /* ping-pong round trip as rank 0's host sees it */
        peer_barrier(ctx);
        for (int i = 0; i < iters; i++) {
            if (ctx->rank == 0) {
                double t0 = peer_now();
                PNC(ncclSend(buf, bytes, ncclChar, peer, ctx->comm, ctx->stream));
                PNC(ncclRecv(buf, bytes, ncclChar, peer, ctx->comm, ctx->stream));
                PCU(cudaStreamSynchronize(ctx->stream));
                t[i] = 1e6 * (peer_now() - t0);
            } else {
                PNC(ncclRecv(buf, bytes, ncclChar, peer, ctx->comm, ctx->stream));
                PNC(ncclSend(buf, bytes, ncclChar, peer, ctx->comm, ctx->stream));
            }
        }
        PCU(cudaStreamSynchronize(ctx->stream));
        double rtt_host = ctx->rank == 0 ? peer_median(t, iters) : 0.0;

        /* rank 1 holds the one-way figures: send them to rank 0 for printing */
        double figs[2] = { oneway, stream_us };
        double *dfigs;
        PCU(cudaMalloc((void **)&dfigs, sizeof figs));
        PCU(cudaMemcpyAsync(dfigs, figs, sizeof figs, cudaMemcpyHostToDevice, ctx->stream));
        PNC(ncclAllReduce(dfigs, dfigs, 2, ncclDouble, ncclSum, ctx->comm, ctx->stream));
        PCU(cudaMemcpyAsync(figs, dfigs, sizeof figs, cudaMemcpyDeviceToHost, ctx->stream));
        PCU(cudaStreamSynchronize(ctx->stream));
        if (ctx->rank == 0) {
            char cfg[96];
            snprintf(cfg, sizeof cfg, "2 GPUs, %zu B", bytes);
            peer_result("W3", "nccl_sendrecv", cfg, "oneway_us", figs[0]);
            peer_result("W3", "nccl_sendrecv", cfg, "oneway_GBps", bytes / (figs[0] * 1e3));
            peer_result("W3", "nccl_sendrecv", cfg, "stream_GBps", bytes / (figs[1] * 1e3));
            peer_result("W3", "nccl_sendrecv", cfg, "rtt_us", rtt);
            peer_result("W3", "nccl_sendrecv", cfg, "rtt_host_us", rtt_host);
        }
        PCU(cudaFree(dfigs));
        PCU(cudaFree(bar));
        for (int i = 0; i < 2 * iters; i++)
            PCU(cudaEventDestroy(ev[i]));
        free(ev);
        free(t);
        PCU(cudaFree(buf));
    }
    return failed;
}

int main(int argc, char **argv)
{
    int timeout = (int)peer_arg_ll(argc, argv, "-timeout", 300);
    int rc = peer_run(2, run, argc, argv, timeout);
    if (rc)
        fprintf(stderr, "nccl_sendrecv: FAILED\n");
    return rc;
}
