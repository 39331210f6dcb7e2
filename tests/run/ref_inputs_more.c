/* ref_inputs_more.c — t_nap(us, v): sleeps us microseconds, then returns v; t_die(us):
 * sleeps, then ends its actor's process with exit code 3. */
#include <daft/gen.h>
#include <unistd.h>

int64_t t_nap(DaftActorCtx *ctx, int64_t us, int64_t v)
{
    (void)ctx;
    usleep((useconds_t)us);
    return v;
}

int64_t t_die(DaftActorCtx *ctx, int64_t us)
{
    (void)ctx;
    usleep((useconds_t)us);
    _exit(3);
}
