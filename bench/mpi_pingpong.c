/* mpi_pingpong.c — W1 peer: an 8-byte MPI ping-pong between 2 ranks, the figure a C SPMD
 * programmer would get for "driver -> actor -> driver".
 *
 *   mpirun --oversubscribe --allow-run-as-root -np 2 mpi_pingpong [-n N] [-warmup W] [-bytes B]
 *
 * Rank 0 sends B (8) bytes to rank 1 (MPI_Send), rank 1 sends them back, rank 0 receives
 * (MPI_Recv); each round trip is timed on rank 0 with CLOCK_MONOTONIC. After W (10,000)
 * warm-up round trips, N (100,000) are timed; the figure is the median. Rank 1 checks the
 * payload it receives, rank 0 the one it gets back.
 *
 * Output: human line on stderr; on stdout (rank 0)
 *   RESULT <tab> W1 <tab> mpi_pingpong <tab> 8 B, 2 ranks <tab> median_us <tab> value
 */
#define _GNU_SOURCE
#include <mpi.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static long long arg_ll(int argc, char **argv, const char *flag, long long def)
{
    for (int i = 1; i + 1 < argc; i++)
        if (!strcmp(argv[i], flag))
            return strtoll(argv[i + 1], NULL, 0);
    return def;
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    int rank, size;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    if (size != 2) {
        if (rank == 0)
            fprintf(stderr, "mpi_pingpong: needs exactly 2 ranks (got %d)\n", size);
        MPI_Finalize();
        return 2;
    }
    long n = arg_ll(argc, argv, "-n", 100000), warm = arg_ll(argc, argv, "-warmup", 10000);
    long bytes = arg_ll(argc, argv, "-bytes", 8);
    if (n < 100)
        n = 100;
    if (bytes < 8)
        bytes = 8;
    char *buf = calloc(1, (size_t)bytes);
    double *s = rank == 0 ? malloc(sizeof *s * (size_t)n) : NULL;
    int bad = 0;
    MPI_Barrier(MPI_COMM_WORLD);
    for (long i = -warm; i < n; i++) {
        int64_t v = i;
        if (rank == 0) {
            memcpy(buf, &v, sizeof v);
            double t0 = now_s();
            MPI_Send(buf, (int)bytes, MPI_BYTE, 1, 0, MPI_COMM_WORLD);
            MPI_Recv(buf, (int)bytes, MPI_BYTE, 1, 0, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
            double t1 = now_s();
            int64_t got;
            memcpy(&got, buf, sizeof got);
            bad |= got != v + 1;
            if (i >= 0)
                s[i] = t1 - t0;
        } else {
            MPI_Recv(buf, (int)bytes, MPI_BYTE, 0, 0, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
            int64_t got;
            memcpy(&got, buf, sizeof got);
            bad |= got != v;
            got++;
            memcpy(buf, &got, sizeof got);
            MPI_Send(buf, (int)bytes, MPI_BYTE, 0, 0, MPI_COMM_WORLD);
        }
    }
    int anybad = 0;
    MPI_Reduce(&bad, &anybad, 1, MPI_INT, MPI_LOR, 0, MPI_COMM_WORLD);
    int rc = 0;
    if (rank == 0) {
        if (anybad) {
            fprintf(stderr, "mpi_pingpong: payload mismatch\n");
            printf("FAILED\tW1\tmpi_pingpong\tpayload mismatch\n");
            rc = 1;
        } else {
            qsort(s, (size_t)n, sizeof *s, cmp_double);
            fprintf(stderr,
                    "mpi_pingpong %ld B: %ld round trips: median %.3f us, p10 %.3f, p90 %.3f, "
                    "p99 %.3f, min %.3f\n",
                    bytes, n, s[n / 2] * 1e6, s[n / 10] * 1e6, s[n * 9 / 10] * 1e6,
                    s[n * 99 / 100] * 1e6, s[0] * 1e6);
            printf("RESULT\tW1\tmpi_pingpong\t%ld B, 2 ranks\tmedian_us\t%.6g\n", bytes,
                   s[n / 2] * 1e6);
            printf("RESULT\tW1\tmpi_pingpong\t%ld B, 2 ranks\tp99_us\t%.6g\n", bytes,
                   s[n * 99 / 100] * 1e6);
        }
        fflush(stdout);
    }
    free(buf);
    free(s);
    MPI_Finalize();
    return rc;
}
