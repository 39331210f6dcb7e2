/* get_timeout_negative.c — a method that takes 2 s. */
#include <daft/gen.h>
#include <unistd.h>

int64_t t_slow(DaftActorCtx *ctx)
{
    (void)ctx;
    usleep(2000000);
    return 7;
}
