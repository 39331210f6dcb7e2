/* peer_common.h — what the hand-written SPMD peer programs share: one process per GPU,
 * started by fork() from a launcher that touches neither CUDA nor NCCL; rank 0 makes the
 * NCCL unique id and hands it to the other ranks through pipes; all data moves over NCCL.
 *
 * The launcher waits for every rank and kills the others (SIGKILL, by pid) as soon as one
 * fails or the time limit passes, so a broken run never hangs.
 *
 * Results: rank 0 prints one line per figure,
 *     RESULT <tab> workload <tab> program <tab> configuration <tab> metric <tab> value
 * which tests/gpu/run.sh collects into its final table.
 */
#ifndef DAFT_PEER_COMMON_H
#define DAFT_PEER_COMMON_H

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>

#include <cuda_runtime_api.h>
#include <nccl.h>

typedef struct PeerCtx {
    int rank, nranks;     /* rank r uses GPU r */
    ncclComm_t comm;      /* NULL when nranks == 1 */
    cudaStream_t stream;  /* compute and communication stream of this rank */
    int argc;
    char **argv;
} PeerCtx;

typedef int (*PeerMain)(PeerCtx *ctx);

/* Forks nranks processes that each run fn(ctx) on GPU `rank`; returns 0 if all returned
 * 0, else 1. timeout_s bounds the whole run (every rank is killed when it passes). */
int peer_run(int nranks, PeerMain fn, int argc, char **argv, int timeout_s);

/* Fatal checks inside a rank: print rank, call and cause, exit the rank with status 3. */
#define PCU(x) peer_check_cuda((x), #x, __FILE__, __LINE__)
#define PNC(x) peer_check_nccl((x), #x, __FILE__, __LINE__)
void peer_check_cuda(cudaError_t e, const char *what, const char *file, int line);
void peer_check_nccl(ncclResult_t r, const char *what, const char *file, int line);
/* A std_cuda call inside a function of a rank that returns int (with `ctx` in scope): on
 * failure prints rank, call and cause and returns 1 (std_cuda_last_error, std_cuda.h). */
#define SC(x)                                                                           \
    do {                                                                                \
        if ((x)) {                                                                      \
            fprintf(stderr, "rank %d: %s: %s\n", ctx->rank, #x, std_cuda_last_error()); \
            return 1;                                                                   \
        }                                                                               \
    } while (0)


/* A barrier over NCCL (allreduce of one float on ctx->stream, then a stream sync). */
void peer_barrier(PeerCtx *ctx);
/* Seconds on the monotonic clock. */
double peer_now(void);
/* Median of n doubles (sorts v). */
double peer_median(double *v, int n);
/* "-flag value" from argv, or def. */
long long peer_arg_ll(int argc, char **argv, const char *flag, long long def);
const char *peer_arg_str(int argc, char **argv, const char *flag, const char *def);
/* Prints a RESULT line (rank 0 only calls it). */
void peer_result(const char *workload, const char *program, const char *config,
                 const char *metric, double value);

#endif /* DAFT_PEER_COMMON_H */
