/* sleep_ms.c — a method that takes its time: `extern fn sl(ms: i64) -> i64 = "t_sleep_ms";`. */
#include <daft/gen.h>
#include <unistd.h>

int64_t t_sleep_ms(DaftActorCtx *ctx, int64_t ms)
{
    (void)ctx;
    usleep((useconds_t)(ms * 1000));
    return ms;
}
