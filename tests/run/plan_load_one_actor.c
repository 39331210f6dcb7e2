/* plan_load_one_actor.c — makes the calling actor refuse to load plan 'chain' from now on
 * (DAFT_TEST_FAIL_PLAN_LOAD is read by each actor process when a plan arrives). */
#include <daft/gen.h>
#include <stdlib.h>

int64_t t_refuse_chain(DaftActorCtx *ctx, int64_t x)
{
    (void)ctx;
    setenv("DAFT_TEST_FAIL_PLAN_LOAD", "chain", 1);
    return x;
}
