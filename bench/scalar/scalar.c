/* bench/scalar/scalar.c — the kernels of scalar.daft in C, built with `cc -O2`
 * (run.sh). Same arithmetic: i64 wraps (so the LCG uses uint64_t for the wrapping
 * multiply-add and converts back, as daft's two's-complement i64), / truncates, % has the
 * sign of the dividend; f64 without FMA contraction (-ffp-contract=off). The functions are
 * noinline and their inputs come from a volatile so that the C compiler cannot fold them. */
#include <stdint.h>
#include <stdio.h>
#include <time.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

__attribute__((noinline)) static int64_t collatz(int64_t n)
{
    int64_t total = 0;
    for (int64_t i = 1; i < n; i++) {
        int64_t x = i;
        while (x != 1) {
            if (x % 2 == 0)
                x = x / 2;
            else
                x = 3 * x + 1;
            total += 1;
        }
    }
    return total;
}

__attribute__((noinline)) static double leibniz(int64_t n)
{
    double s = 0.0;
    for (int64_t k = 0; k < n; k++) {
        double term = 1.0 / (double)(2 * k + 1);
        if (k % 2 == 0)
            s += term;
        else
            s -= term;
    }
    return 4.0 * s;
}

__attribute__((noinline)) static int64_t lcg(int64_t n)
{
    int64_t x = 88172645463325252;
    int64_t acc = 0;
    for (int64_t i = 0; i < n; i++) {
        x = (int64_t)((uint64_t)x * 6364136223846793005ull + 1442695040888963407ull);
        acc += (x / 65536) % 1024 + i % 7;
    }
    return acc;
}

__attribute__((noinline)) static int64_t triple(int64_t n)
{
    int64_t s = 0;
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < n; j++)
            for (int64_t k = 0; k < n; k++)
                s += (i * j + k) % 13;
    return s;
}

int main(void)
{
    volatile int64_t vn = 1000000;
    int64_t n = vn;
    double t0 = now();
    int64_t c = collatz(n);
    double t1 = now();
    printf("collatz %lld %g\n", (long long)c, t1 - t0);
    double p = leibniz(200 * n);
    double t2 = now();
    printf("leibniz %g %g\n", p, t2 - t1);
    int64_t l = lcg(200 * n);
    double t3 = now();
    printf("lcg %lld %g\n", (long long)l, t3 - t2);
    int64_t t = triple(n / 1500);
    double t4 = now();
    printf("triple %lld %g\n", (long long)t, t4 - t3);
    return 0;
}
