/* kernels.c — C kernels for examples/extern_kernel.daft.
 *
 * The calling convention is the typed extern ABI sketched in SPEC §8.5 (the Codegen issue
 * fixes it exactly): the running actor's context first (NULL for a top-level extern fn
 * called from driver code), then the daft arguments as C scalars, and the result as the
 * return value. An error is reported with daft_raise(ctx, ...) from daftrt.h.
 *
 * The file also compiles on its own (cc -c kernels.c) before daftrt.h is on the include
 * path: it then declares the two runtime names it uses. */
#include <stdint.h>

#if defined(__has_include)
#if __has_include(<daftrt.h>)
#include <daftrt.h>
#define KERNELS_HAVE_DAFTRT 1
#endif
#endif
#ifndef KERNELS_HAVE_DAFTRT
typedef struct DaftActorCtx DaftActorCtx;
int daft_raise(DaftActorCtx *ctx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#endif

/* extern fn collatz_steps(n: i64) -> i64 — steps of the Collatz map from n down to 1. */
int64_t daft_example_collatz_steps(DaftActorCtx *ctx, int64_t n)
{
    if (n < 1) {
        daft_raise(ctx, "n must be >= 1, got %lld", (long long)n);
        return 0;
    }
    int64_t steps = 0;
    uint64_t x = (uint64_t)n;
    while (x != 1) {
        x = (x & 1) ? 3 * x + 1 : x / 2;
        steps++;
    }
    return steps;
}

/* extern fn axpy(a: f64, x: f64, y: f64) -> f64 */
double daft_example_axpy(DaftActorCtx *ctx, double a, double x, double y)
{
    (void)ctx;
    return a * x + y;
}

/* extern fn mix64(x: i64) -> i64 (top level) — the SplitMix64 finaliser. */
int64_t daft_example_mix64(DaftActorCtx *ctx, int64_t x)
{
    (void)ctx;
    uint64_t z = (uint64_t)x + 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return (int64_t)(z ^ (z >> 31));
}
