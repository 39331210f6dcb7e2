/* plan_run_fails_more.c — t_fail_s_at(n) / t_fail_t_at(n): the calling actor fails plan
 * 's' / 't' at its n-th execution (DAFT_TEST_FAIL_PLAN_RUN, read when the plan is loaded);
 * t_nap(ms) sleeps. */
#include <daft/gen.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static int64_t fail_at(const char *plan, int64_t n)
{
    char v[32];
    snprintf(v, sizeof v, "%s@%lld", plan, (long long)n);
    setenv("DAFT_TEST_FAIL_PLAN_RUN", v, 1);
    return n;
}

int64_t t_fail_s_at(DaftActorCtx *ctx, int64_t n)
{
    (void)ctx;
    return fail_at("s", n);
}

int64_t t_fail_t_at(DaftActorCtx *ctx, int64_t n)
{
    (void)ctx;
    return fail_at("t", n);
}

int64_t t_nap(DaftActorCtx *ctx, int64_t ms)
{
    (void)ctx;
    usleep((useconds_t)ms * 1000);
    return ms;
}
