/* actor_exits.c — t_exit(code): the calling actor's process ends through exit(), which
 * runs the C library's stdio clean-up (tests/repl/actor_exits). */
#include <daft/gen.h>
#include <stdlib.h>

int64_t t_exit(DaftActorCtx *ctx, int64_t code)
{
    (void)ctx;
    exit((int)code);
}
