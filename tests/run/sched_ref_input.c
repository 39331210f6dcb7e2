/* sched_ref_input.c — t_late(ms, v): sleeps ms milliseconds, then returns v. */
#include <daft/gen.h>
#include <unistd.h>

int64_t t_late(DaftActorCtx *ctx, int64_t ms, int64_t v)
{
    (void)ctx;
    usleep((useconds_t)ms * 1000);
    return v;
}
