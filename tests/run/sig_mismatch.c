/* Kernels for sig_mismatch_param.daft and sig_mismatch_result.daft: t_scale takes an
 * f64 where the declarations say f32 (a mismatched parameter type); t_count returns an
 * int32_t where they say i64 (a mismatched result type); t_ok matches. */
#include <daft/gen.h>

DaftTensor *t_scale(DaftActorCtx *ctx, const DaftTensor *x, double k)
{
    (void)ctx;
    (void)x;
    (void)k;
    return NULL;
}

int32_t t_count(DaftActorCtx *ctx, const char *s, size_t len)
{
    (void)ctx;
    (void)s;
    return (int32_t)len;
}

int64_t t_ok(DaftActorCtx *ctx, int64_t a, bool b)
{
    (void)ctx;
    return b ? a : -a;
}
