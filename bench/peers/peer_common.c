/* peer_common.c — fork + pipe bootstrap of the SPMD peers (see peer_common.h). */
#define _GNU_SOURCE
#include "peer_common.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int g_rank = -1;

void peer_check_cuda(cudaError_t e, const char *what, const char *file, int line)
{
    if (e == cudaSuccess)
        return;
    fprintf(stderr, "rank %d: %s failed: %s (%s) at %s:%d\n", g_rank, what, cudaGetErrorName(e),
            cudaGetErrorString(e), file, line);
    fflush(stderr);
    _exit(3);
}

void peer_check_nccl(ncclResult_t r, const char *what, const char *file, int line)
{
    if (r == ncclSuccess)
        return;
    fprintf(stderr, "rank %d: %s failed: %s at %s:%d\n", g_rank, what, ncclGetErrorString(r),
            file, line);
    fflush(stderr);
    _exit(3);
}

static int write_all(int fd, const void *buf, size_t n)
{
    const char *p = buf;
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static int read_all(int fd, void *buf, size_t n)
{
    char *p = buf;
    while (n) {
        ssize_t r = read(fd, p, n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return -1;
        p += r;
        n -= (size_t)r;
    }
    return 0;
}

static float *g_barrier_buf;

void peer_barrier(PeerCtx *ctx)
{
    if (ctx->comm) {
        if (!g_barrier_buf)
            PCU(cudaMalloc((void **)&g_barrier_buf, sizeof(float)));
        PNC(ncclAllReduce(g_barrier_buf, g_barrier_buf, 1, ncclFloat, ncclSum, ctx->comm,
                          ctx->stream));
    }
    PCU(cudaStreamSynchronize(ctx->stream));
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

double peer_median(double *v, int n)
{
    if (n <= 0)
        return 0.0;
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

const char *peer_arg_str(int argc, char **argv, const char *flag, const char *def)
{
    for (int i = 1; i + 1 < argc; i++)
        if (!strcmp(argv[i], flag))
            return argv[i + 1];
    return def;
}

long long peer_arg_ll(int argc, char **argv, const char *flag, long long def)
{
    const char *s = peer_arg_str(argc, argv, flag, NULL);
    return s ? strtoll(s, NULL, 0) : def;
}

void peer_result(const char *workload, const char *program, const char *config,
                 const char *metric, double value)
{
    printf("RESULT\t%s\t%s\t%s\t%s\t%.6g\n", workload, program, config, metric, value);
    fflush(stdout);
}

/* One rank: join the communicator, run fn, leave. Never returns. */
static void rank_main(int rank, int nranks, int id_fd, int *out_fds, PeerMain fn, int argc,
                      char **argv)
{
    g_rank = rank;
    PeerCtx ctx;
    memset(&ctx, 0, sizeof ctx);
    ctx.rank = rank;
    ctx.nranks = nranks;
    ctx.argc = argc;
    ctx.argv = argv;
    PCU(cudaSetDevice(rank));
    PCU(cudaStreamCreateWithFlags(&ctx.stream, cudaStreamNonBlocking));
    if (nranks > 1) {
        ncclUniqueId id;
        if (rank == 0) {
            int v = 0;
            PNC(ncclGetVersion(&v));
            printf("peer: %d ranks, NCCL %d.%d.%d (header %d.%d.%d)\n", nranks, v / 10000,
                   v / 100 % 100, v % 100, NCCL_MAJOR, NCCL_MINOR, NCCL_PATCH);
            fflush(stdout);
            PNC(ncclGetUniqueId(&id));
            for (int r = 1; r < nranks; r++)
                if (write_all(out_fds[r], &id, sizeof id)) {
                    fprintf(stderr, "rank 0: cannot send the NCCL id to rank %d\n", r);
                    _exit(3);
                }
        } else if (read_all(id_fd, &id, sizeof id)) {
            fprintf(stderr, "rank %d: no NCCL id from rank 0\n", rank);
            _exit(3);
        }
        PNC(ncclCommInitRank(&ctx.comm, nranks, id, rank));
    }
    int rc = fn(&ctx);
    PCU(cudaStreamSynchronize(ctx.stream));
    if (ctx.comm)
        PNC(ncclCommDestroy(ctx.comm));
    if (g_barrier_buf)
        cudaFree(g_barrier_buf);
    cudaStreamDestroy(ctx.stream);
    fflush(stdout);
    fflush(stderr);
    _exit(rc ? 1 : 0);
}

double peer_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int peer_run(int nranks, PeerMain fn, int argc, char **argv, int timeout_s)
{
    enum { MAXR = 64 };
    if (nranks < 1 || nranks > MAXR) {
        fprintf(stderr, "peer: bad number of ranks %d\n", nranks);
        return 1;
    }
    /* NVLink multicast (NVLS) stays off on the shared machines. */
    setenv("NCCL_NVLS_ENABLE", "0", 1);
    int fds[MAXR][2];
    pid_t pids[MAXR];
    for (int r = 0; r < nranks; r++)
        if (pipe(fds[r])) {
            perror("pipe");
            return 1;
        }
    fflush(stdout);
    fflush(stderr);
    for (int r = 0; r < nranks; r++) {
        pid_t p = fork();
        if (p < 0) {
            perror("fork");
            for (int q = 0; q < r; q++)
                kill(pids[q], SIGKILL);
            return 1;
        }
        if (p == 0) {
            int out_fds[MAXR];
            for (int q = 0; q < nranks; q++) {
                if (q != r)
                    close(fds[q][0]);
                if (r != 0 || q == 0)
                    close(fds[q][1]);
                out_fds[q] = fds[q][1];
            }
            rank_main(r, nranks, fds[r][0], out_fds, fn, argc, argv);
        }
        pids[r] = p;
    }
    for (int r = 0; r < nranks; r++) {
        close(fds[r][0]);
        close(fds[r][1]);
    }
    int live = nranks, failed = 0;
    double deadline = peer_now() + timeout_s;
    while (live > 0) {
        int st;
        pid_t p = waitpid(-1, &st, WNOHANG);
        if (p < 0 && errno == EINTR)
            continue;
        if (p < 0)
            break;
        if (p == 0) {
            if (peer_now() > deadline) {
                fprintf(stderr, "peer: time limit of %d s passed: killing the ranks\n",
                        timeout_s);
                failed = 1;
                for (int r = 0; r < nranks; r++)
                    if (pids[r] > 0)
                        kill(pids[r], SIGKILL);
                deadline = peer_now() + 1e9;
            }
            usleep(10000);
            continue;
        }
        live--;
        for (int r = 0; r < nranks; r++)
            if (pids[r] == p) {
                pids[r] = -1;
                if (!WIFEXITED(st) || WEXITSTATUS(st)) {
                    if (WIFSIGNALED(st))
                        fprintf(stderr, "peer: rank %d died of signal %d\n", r, WTERMSIG(st));
                    else
                        fprintf(stderr, "peer: rank %d exited with status %d\n", r,
                                WEXITSTATUS(st));
                    if (!failed)
                        for (int q = 0; q < nranks; q++)
                            if (pids[q] > 0)
                                kill(pids[q], SIGKILL);
                    failed = 1;
                }
            }
    }
    return failed;
}
