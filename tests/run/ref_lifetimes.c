/* Kernels for ref_lifetimes.daft: the resident memory of the calling process, in MiB. */
#include <daft/gen.h>
#include <stdio.h>

int64_t rl_rss_mib(DaftActorCtx *ctx)
{
    (void)ctx;
    long pages = 0, resident = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (!f || fscanf(f, "%ld %ld", &pages, &resident) != 2)
        resident = 0;
    if (f)
        fclose(f);
    return (int64_t)resident * 4096 / (1024 * 1024);
}
