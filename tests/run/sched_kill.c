/* Kernels of sched_kill.daft: a clock for the driver and a way for an actor to die. */
#include <daftrt.h>
#include <signal.h>
#include <stdint.h>
#include <time.h>
#include <unistd.h>

int64_t t_now_ms(DaftActorCtx *ctx)
{
    (void)ctx;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void t_die(DaftActorCtx *ctx)
{
    (void)ctx;
    kill(getpid(), SIGKILL);
    pause();
}
