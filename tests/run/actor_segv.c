/* Kernels of actor_segv.daft: an actor's method crashes. */
#include <daftrt.h>
#include <signal.h>

void t_segv(DaftActorCtx *ctx)
{
    (void)ctx;
    raise(SIGSEGV);
}
