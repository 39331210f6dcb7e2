/* plan_load_busy.c — a clock for the driver; t_late(ms, v) sleeps, then returns v;
 * t_die_after(ms) sleeps, then ends its actor's process with exit code 3. */
#include <daftrt.h>
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

int64_t t_late(DaftActorCtx *ctx, int64_t ms, int64_t v)
{
    (void)ctx;
    usleep((useconds_t)ms * 1000);
    return v;
}

int64_t t_die_after(DaftActorCtx *ctx, int64_t ms)
{
    (void)ctx;
    usleep((useconds_t)ms * 1000);
    _exit(3);
}
