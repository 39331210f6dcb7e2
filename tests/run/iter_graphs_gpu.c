/* iter_graphs_gpu.c — t_die_at(i, at): the actor kills itself (SIGKILL, as `kill -9`) in
 * execution `at`; -1: never. */
#include <daft/gen.h>
#include <signal.h>

int64_t t_die_at(DaftActorCtx *ctx, int64_t i, int64_t at)
{
    (void)ctx;
    if (i == at)
        raise(SIGKILL);
    return i;
}
