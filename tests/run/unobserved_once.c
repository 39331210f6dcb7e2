/* Kernel of unobserved_once.daft: an actor kills its own process. */
#include <daftrt.h>
#include <signal.h>
#include <unistd.h>

void t_die(DaftActorCtx *ctx)
{
    (void)ctx;
    kill(getpid(), SIGKILL);
    pause();
}
