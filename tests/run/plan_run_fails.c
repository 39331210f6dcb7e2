/* plan_run_fails.c — makes the calling actor fail plan 'chain' at its second execution
 * (DAFT_TEST_FAIL_PLAN_RUN is read by each actor process when a plan is loaded); t_nap(ms)
 * sleeps. */
#include <daft/gen.h>
#include <stdlib.h>
#include <unistd.h>

int64_t t_fail_chain_second(DaftActorCtx *ctx, int64_t x)
{
    (void)ctx;
    setenv("DAFT_TEST_FAIL_PLAN_RUN", "chain@2", 1);
    return x;
}

int64_t t_nap(DaftActorCtx *ctx, int64_t ms)
{
    (void)ctx;
    usleep((useconds_t)ms * 1000);
    return ms;
}
