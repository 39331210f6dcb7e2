/* Kernels for extern_c.daft: the typed extern ABI (include/daft/gen.h). */
#include <daft/gen.h>
#include <string.h>

int64_t t_gcd(DaftActorCtx *ctx, int64_t a, int64_t b)
{
    if (a <= 0 || b <= 0) {
        daft_raise(ctx, "gcd needs positive inputs, got %lld and %lld", (long long)a, (long long)b);
        return 0;
    }
    while (b) {
        int64_t t = a % b;
        a = b;
        b = t;
    }
    return a;
}

bool t_is_upper(DaftActorCtx *ctx, const char *s, size_t len)
{
    (void)ctx;
    for (size_t i = 0; i < len; i++)
        if (s[i] < 'A' || s[i] > 'Z')
            return false;
    return true;
}

/* [0, 1, ..., n-1] as an f32 tensor scaled by k */
DaftTensor *t_iota(DaftActorCtx *ctx, int64_t n, float k)
{
    (void)ctx;
    int64_t dims[1] = {n};
    DaftTensor *t = daft_gen_tensor_new(DAFT_RT_F32, 1, dims);
    for (int64_t i = 0; t && i < n; i++)
        ((float *)t->data)[i] = (float)i * k;
    return t;
}

double t_total(DaftActorCtx *ctx, const DaftTensor *t)
{
    (void)ctx;
    double s = 0;
    int64_t n = daft_tensor_numel(t);
    for (int64_t i = 0; i < n; i++)
        s += ((const float *)t->data)[i];
    return s;
}

int32_t t_twice32(DaftActorCtx *ctx, int32_t x)
{
    (void)ctx;
    return 2 * x;
}
