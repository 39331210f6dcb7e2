/* std_time.c — std.time (SPEC.md §13.3): the monotonic clock. */
#include <time.h>

#include "std_internal.h"

int daft_std_time_now(DaftActorCtx *ctx, const DaftValue *args, int nargs, DaftValue *out)
{
    (void)ctx;
    int rc = std_check_nargs("now", args, nargs, 0, 0, out);
    if (rc)
        return rc;
    struct timespec ts;
    if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0)
        return std_fail(out, "now", "clock_gettime(CLOCK_MONOTONIC) failed");
    *out = daft_value_f64((double)ts.tv_sec + (double)ts.tv_nsec * 1e-9);
    return 0;
}
