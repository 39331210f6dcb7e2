/* ref_moved_once.c — an actor that dies a while after its task began (so that the calls
 * submitted next reach their actors first). */
#include <daft/gen.h>
#include <signal.h>
#include <unistd.h>

int64_t rm_die_soon(DaftActorCtx *ctx)
{
    (void)ctx;
    usleep(500000);
    raise(SIGKILL);
    pause();
    return 0;
}
