/* push_to_dead.c — an actor that kills itself (SIGKILL) a second after the call. */
#include <daft/gen.h>
#include <signal.h>
#include <unistd.h>

int64_t t_die_later(DaftActorCtx *ctx, int64_t x)
{
    (void)ctx;
    usleep(1000000);
    raise(SIGKILL);
    return x;
}
