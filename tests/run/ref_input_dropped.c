/* ref_input_dropped.c — t_fail_plans(x): this actor's next loads of plan 'both' fail their
 * first execution (as a failed NCCL operation would); t_rss_mib(x): the process's resident
 * memory in MiB; t_nap(us, v): sleeps us microseconds, then returns v. */
#include <daft/gen.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int64_t t_fail_plans(DaftActorCtx *ctx, int64_t x)
{
    (void)ctx;
    setenv("DAFT_TEST_FAIL_PLAN_RUN", "both", 1);
    return x;
}

int64_t t_rss_mib(DaftActorCtx *ctx, int64_t x)
{
    (void)ctx;
    (void)x;
    long size = 0, resident = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f && fscanf(f, "%ld %ld", &size, &resident) != 2)
        resident = 0;
    if (f)
        fclose(f);
    return resident * sysconf(_SC_PAGESIZE) / (1024 * 1024);
}

int64_t t_nap(DaftActorCtx *ctx, int64_t us, int64_t v)
{
    (void)ctx;
    usleep((useconds_t)us);
    return v;
}
