/* nccl_allreduce.c — W4 peer: ncclAllReduce (f32 sum, in place) called directly, one
 * process per GPU.
 *
 *   nccl_allreduce -n GPUS [-sizes 536870912,8] [-iters N] [-timeout S]
 *
 * For each size (bytes), after warm-up, each allreduce is timed on every rank's stream
 * with CUDA events; the figure is the median over iterations of the slowest rank:
 *   time_us, algbw_GBps = bytes / time, busbw_GBps = algbw * 2 (n - 1) / n
 * (the bus bandwidth of nccl-tests). Before timing, one allreduce of rank r's value r + 1
 * is checked against n (n + 1) / 2 on every rank.
 */
#include <string.h>

#include "peer_common.h"
#include "std_cuda.h"

static int check_sum(PeerCtx *ctx, const float *dev, size_t count)
{
    float expect = (float)(ctx->nranks * (ctx->nranks + 1) / 2);
    size_t n = count < 1024 ? count : 1024;
    float h[1024];
    for (int part = 0; part < 2; part++) {
        size_t off = part ? count - n : 0;
        PCU(cudaMemcpyAsync(h, dev + off, n * sizeof(float), cudaMemcpyDeviceToHost,
                            ctx->stream));
        PCU(cudaStreamSynchronize(ctx->stream));
        for (size_t i = 0; i < n; i++)
            if (h[i] != expect) {
                fprintf(stderr, "rank %d: element %zu is %g, expected %g\n", ctx->rank,
                        off + i, h[i], expect);
                return 1;
            }
    }
    return 0;
}

static int run(PeerCtx *ctx)
{
    const char *sizes = peer_arg_str(ctx->argc, ctx->argv, "-sizes", "536870912,8");
    long long forced_iters = peer_arg_ll(ctx->argc, ctx->argv, "-iters", 0);
    int n = ctx->nranks, failed = 0;
    if (n < 2) {
        fprintf(stderr, "nccl_allreduce: needs at least 2 ranks\n");
        return 1;
    }
    char list[512];
    snprintf(list, sizeof list, "%s", sizes);
    for (char *tok = strtok(list, ","); tok; tok = strtok(NULL, ",")) {
        size_t bytes = (size_t)strtoull(tok, NULL, 0);
        size_t count = bytes / sizeof(float);
        if (count == 0)
            continue;
        bytes = count * sizeof(float);
        int iters = forced_iters > 0 ? (int)forced_iters : bytes >= (64u << 20) ? 30 : 1000;
        int warm = bytes >= (64u << 20) ? 5 : 50;
        float *buf;
        PCU(cudaMalloc((void **)&buf, bytes));
        /* value r + 1 everywhere, summed once and checked */
        if (std_cuda_ones(buf, DAFT_RT_F32, (int64_t)count, ctx->stream) ||
            std_cuda_binop_scalar(STD_CUDA_MUL, DAFT_RT_F32, (int64_t)count, buf,
                                  (double)(ctx->rank + 1), 0, buf, ctx->stream)) {
            fprintf(stderr, "rank %d: %s\n", ctx->rank, std_cuda_last_error());
            return 1;
        }
        PNC(ncclAllReduce(buf, buf, count, ncclFloat, ncclSum, ctx->comm, ctx->stream));
        failed |= check_sum(ctx, buf, count);
        for (int i = 0; i < warm; i++)
            PNC(ncclAllReduce(buf, buf, count, ncclFloat, ncclSum, ctx->comm, ctx->stream));
        cudaEvent_t *ev = malloc(sizeof(cudaEvent_t) * (size_t)(iters + 1));
        double *t = malloc(sizeof(double) * (size_t)iters);
        for (int i = 0; i <= iters; i++)
            PCU(cudaEventCreate(&ev[i]));
        peer_barrier(ctx);
        PCU(cudaEventRecord(ev[0], ctx->stream));
        for (int i = 0; i < iters; i++) {
            PNC(ncclAllReduce(buf, buf, count, ncclFloat, ncclSum, ctx->comm, ctx->stream));
            PCU(cudaEventRecord(ev[i + 1], ctx->stream));
        }
        PCU(cudaStreamSynchronize(ctx->stream));
        float total_ms;
        PCU(cudaEventElapsedTime(&total_ms, ev[0], ev[iters]));
        /* per-iteration times, max over ranks (allreduce MAX of the vector) */
        double *dt;
        for (int i = 0; i < iters; i++) {
            float ms;
            PCU(cudaEventElapsedTime(&ms, ev[i], ev[i + 1]));
            t[i] = 1e3 * ms;
        }
        PCU(cudaMalloc((void **)&dt, sizeof(double) * (size_t)iters));
        PCU(cudaMemcpyAsync(dt, t, sizeof(double) * (size_t)iters, cudaMemcpyHostToDevice,
                            ctx->stream));
        PNC(ncclAllReduce(dt, dt, (size_t)iters, ncclDouble, ncclMax, ctx->comm, ctx->stream));
        PCU(cudaMemcpyAsync(t, dt, sizeof(double) * (size_t)iters, cudaMemcpyDeviceToHost,
                            ctx->stream));
        PCU(cudaStreamSynchronize(ctx->stream));
        PCU(cudaFree(dt));
        double med = peer_median(t, iters);
        double mean = 1e3 * total_ms / iters;
        if (ctx->rank == 0) {
            char cfg[96];
            double alg = bytes / (med * 1e3), bus = alg * 2.0 * (n - 1) / n;
            snprintf(cfg, sizeof cfg, "%d GPUs, %zu B f32", n, bytes);
            peer_result("W4", "nccl_allreduce", cfg, "time_us", med);
            peer_result("W4", "nccl_allreduce", cfg, "mean_time_us", mean);
            peer_result("W4", "nccl_allreduce", cfg, "algbw_GBps", alg);
            peer_result("W4", "nccl_allreduce", cfg, "busbw_GBps", bus);
        }
        for (int i = 0; i <= iters; i++)
            PCU(cudaEventDestroy(ev[i]));
        free(ev);
        free(t);
        PCU(cudaFree(buf));
    }
    std_cuda_thread_release();
    return failed;
}

int main(int argc, char **argv)
{
    int n = (int)peer_arg_ll(argc, argv, "-n", 2);
    int timeout = (int)peer_arg_ll(argc, argv, "-timeout", 300);
    int rc = peer_run(n, run, argc, argv, timeout);
    if (rc)
        fprintf(stderr, "nccl_allreduce: FAILED\n");
    return rc;
}
