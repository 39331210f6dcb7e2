/* std_value.c — argument checking, error values and tensor allocation for the stdlib.
 *
 * All validation lives here so each operation reads as its arithmetic: an operation that
 * got past std_arg_tensor() may trust rank, dtype, dims and data of its inputs.
 */
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "std_internal.h"

int std_fail(DaftValue *out, const char *fn, const char *fmt, ...)
{
    char msg[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (out)
        *out = daft_value_error("%s: %s", fn, msg);
    return DAFT_EINVAL;
}

int std_fail_nomem(DaftValue *out, const char *fn, size_t bytes)
{
    if (out)
        *out = daft_value_error("%s: out of memory allocating %zu bytes", fn, bytes);
    return DAFT_ENOMEM;
}

const char *std_kind_name(DaftKind k)
{
    switch (k) {
    case DAFT_V_NONE: return "none";
    case DAFT_V_I64: return "i64";
    case DAFT_V_F64: return "f64";
    case DAFT_V_BOOL: return "bool";
    case DAFT_V_STR: return "str";
    case DAFT_V_TENSOR: return "tensor";
    case DAFT_V_LIST: return "list";
    case DAFT_V_ACTOR: return "actor";
    case DAFT_V_REF: return "Ref";
    case DAFT_V_ERROR: return "error";
    default: return "invalid value";
    }
}

size_t std_dtype_size(DaftRtDtype dt)
{
    switch (dt) {
    case DAFT_RT_F32: return 4;
    case DAFT_RT_BF16: return 2;
    case DAFT_RT_F16: return 2;
    case DAFT_RT_I32: return 4;
    case DAFT_RT_I64: return 8;
    default: return 0;
    }
}

bool std_dtype_is_float(DaftRtDtype dt)
{
    return dt == DAFT_RT_F32 || dt == DAFT_RT_BF16 || dt == DAFT_RT_F16;
}

void std_fmt_type(const DaftValue *v, char *buf, size_t cap)
{
    if (v->kind == DAFT_V_TENSOR) {
        char shape[160];
        std_fmt_shape(v->as.tensor.rank, v->as.tensor.dims, shape, sizeof shape);
        snprintf(buf, cap, "tensor<%s, %s>", std_dtype_name(v->as.tensor.dtype), shape);
    } else {
        snprintf(buf, cap, "%s", std_kind_name(v->kind));
    }
}

int std_check_shape(const char *fn, DaftRtDtype dt, int rank, const int64_t *dims,
                    int64_t *numel, DaftValue *out)
{
    size_t esz = std_dtype_size(dt);
    if (esz == 0)
        return std_fail(out, fn, "invalid dtype %d", (int)dt);
    if (rank < 0 || rank > DAFT_MAX_RANK)
        return std_fail(out, fn, "rank %d is outside 0..%d", rank, DAFT_MAX_RANK);
    /* Every prefix product must stay within STD_MAX_TENSOR_ELEMS, even when a later
     * dimension is 0: libdaftrt's constructor and the wire format reject such shapes too. */
    int64_t n = 1;
    bool too_big = false;
    for (int i = 0; i < rank; i++) {
        if (dims[i] < 0) {
            char s[160];
            std_fmt_shape(rank, dims, s, sizeof s);
            return std_fail(out, fn, "negative dimension in shape %s", s);
        }
        if (!too_big && (__builtin_mul_overflow(n, dims[i], &n) || n > STD_MAX_TENSOR_ELEMS))
            too_big = true;
    }
    if (too_big || n * (int64_t)esz > STD_MAX_TENSOR_BYTES) {
        char s[160];
        std_fmt_shape(rank, dims, s, sizeof s);
        return std_fail(out, fn, "shape %s of %s is too large (a tensor holds at most %lld bytes)",
                        s, std_dtype_name(dt), (long long)STD_MAX_TENSOR_BYTES);
    }
    *numel = n;
    return 0;
}

int std_check_nargs(const char *fn, const DaftValue *args, int nargs, int min, int max,
                    DaftValue *out)
{
    if (nargs < min || nargs > max) {
        if (min == max)
            return std_fail(out, fn, "expects %d argument%s, got %d", min, min == 1 ? "" : "s",
                            nargs);
        return std_fail(out, fn, "expects %d to %d arguments, got %d", min, max, nargs);
    }
    if (nargs > 0 && !args)
        return std_fail(out, fn, "argument array is NULL");
    return 0;
}

int std_arg_tensor(const char *fn, const DaftValue *args, int i, const DaftTensor **t,
                   int64_t *numel, DaftValue *out)
{
    const DaftValue *v = &args[i];
    if (v->kind != DAFT_V_TENSOR)
        return std_fail(out, fn, "argument %d must be a tensor, got %s", i + 1,
                        std_kind_name(v->kind));
    char sub[64];
    snprintf(sub, sizeof sub, "%s: argument %d", fn, i + 1);
    int rc = std_check_tensor(sub, &v->as.tensor, numel, out);
    if (rc)
        return rc;
    *t = &v->as.tensor;
    return 0;
}

int std_check_tensor(const char *what, const DaftTensor *x, int64_t *numel, DaftValue *out)
{
    int64_t n;
    int rc = std_check_shape(what, x->dtype, x->rank, x->dims, &n, out);
    if (rc)
        return rc;
    if (n > 0 && !x->data)
        return std_fail(out, what, "tensor has no data");
    if (numel)
        *numel = n;
    return 0;
}

int std_arg_i64(const char *fn, const DaftValue *args, int i, int64_t *v, DaftValue *out)
{
    if (args[i].kind != DAFT_V_I64)
        return std_fail(out, fn, "argument %d must be an i64, got %s", i + 1,
                        std_kind_name(args[i].kind));
    *v = args[i].as.i64;
    return 0;
}

int std_arg_f64(const char *fn, const DaftValue *args, int i, double *v, DaftValue *out)
{
    if (args[i].kind == DAFT_V_F64)
        *v = args[i].as.f64;
    else if (args[i].kind == DAFT_V_I64)
        *v = (double)args[i].as.i64;
    else
        return std_fail(out, fn, "argument %d must be an f64, got %s", i + 1,
                        std_kind_name(args[i].kind));
    return 0;
}

int std_arg_shape(const char *fn, const DaftValue *args, int i, int *rank, int64_t *dims,
                  DaftValue *out)
{
    const DaftValue *v = &args[i];
    if (v->kind != DAFT_V_LIST)
        return std_fail(out, fn, "argument %d (shape) must be a list of i64, got %s", i + 1,
                        std_kind_name(v->kind));
    if (v->as.list.len > DAFT_MAX_RANK)
        return std_fail(out, fn, "shape has %zu dimensions; at most %d are supported",
                        v->as.list.len, DAFT_MAX_RANK);
    if (v->as.list.len > 0 && !v->as.list.items)
        return std_fail(out, fn, "argument %d (shape): list has no items", i + 1);
    for (size_t d = 0; d < v->as.list.len; d++) {
        const DaftValue *it = &v->as.list.items[d];
        if (it->kind != DAFT_V_I64)
            return std_fail(out, fn, "shape item %zu must be an i64, got %s", d,
                            std_kind_name(it->kind));
        dims[d] = it->as.i64;
    }
    *rank = (int)v->as.list.len;
    return 0;
}

int std_arg_dtype(const char *fn, const DaftValue *args, int nargs, int i,
                  DaftRtDtype dflt, DaftRtDtype *dt, DaftValue *out)
{
    if (i >= nargs) {
        *dt = dflt;
        return 0;
    }
    const DaftValue *v = &args[i];
    if (v->kind == DAFT_V_I64) {
        if (v->as.i64 < 0 || v->as.i64 >= DAFT_RT_DTYPE_COUNT)
            return std_fail(out, fn, "invalid dtype %lld", (long long)v->as.i64);
        *dt = (DaftRtDtype)v->as.i64;
        return 0;
    }
    if (v->kind == DAFT_V_STR && v->as.str.ptr) {
        for (int d = 0; d < DAFT_RT_DTYPE_COUNT; d++)
            if (strcmp(v->as.str.ptr, std_dtype_name((DaftRtDtype)d)) == 0) {
                *dt = (DaftRtDtype)d;
                return 0;
            }
        return std_fail(out, fn, "unknown dtype \"%.40s\" (expected f32, bf16, f16, i32 or i64)",
                        v->as.str.ptr);
    }
    return std_fail(out, fn, "argument %d (dtype) must be a dtype name, got %s", i + 1,
                    std_kind_name(v->kind));
}

int std_new_tensor(const char *fn, DaftRtDtype dt, int rank, const int64_t *dims,
                   DaftValue *out, DaftTensor **t)
{
    int64_t n;
    int rc = std_check_shape(fn, dt, rank, dims, &n, out);
    if (rc)
        return rc;
    DaftValue v = daft_value_tensor(dt, rank, dims, NULL);
    if (v.kind == DAFT_V_ERROR) {
        /* after the checks above only an allocation failure is expected here */
        bool oom = v.as.error.msg && strstr(v.as.error.msg, "out of memory");
        *out = daft_value_error("%s: %s", fn, v.as.error.msg ? v.as.error.msg : "cannot allocate");
        daft_value_free(&v);
        return oom ? DAFT_ENOMEM : DAFT_EINVAL;
    }
    if (v.kind != DAFT_V_TENSOR || (n > 0 && !v.as.tensor.data)) {
        daft_value_free(&v);
        return std_fail_nomem(out, fn, (size_t)n * std_dtype_size(dt));
    }
    *out = v;
    *t = &out->as.tensor;
    return 0;
}

int std_copy_tensor(const char *fn, const DaftTensor *src, DaftValue *out)
{
    DaftTensor *t;
    int rc = std_new_tensor(fn, src->dtype, src->rank, src->dims, out, &t);
    if (rc)
        return rc;
    size_t bytes = (size_t)std_numel(src) * std_dtype_size(src->dtype);
    if (bytes)
        memcpy(t->data, src->data, bytes);
    return 0;
}

int std_same_shape(const char *fn, const DaftTensor *a, const DaftTensor *b, DaftValue *out)
{
    char why[400];
    return std_text_same_shape(a, b, why, sizeof why) ? 0 : std_fail(out, fn, "%s", why);
}

int std_one_tensor(const char *fn, const DaftValue *args, int nargs, const DaftTensor **a,
                   int64_t *n, DaftValue *out)
{
    int rc;
    if ((rc = std_check_nargs(fn, args, nargs, 1, 1, out)))
        return rc;
    return std_arg_tensor(fn, args, 0, a, n, out);
}

int std_two_tensors(const char *fn, const DaftValue *args, int nargs, const DaftTensor **a,
                    const DaftTensor **b, int64_t *n, DaftValue *out)
{
    int rc;
    if ((rc = std_check_nargs(fn, args, nargs, 2, 2, out)) ||
        (rc = std_arg_tensor(fn, args, 0, a, n, out)) ||
        (rc = std_arg_tensor(fn, args, 1, b, NULL, out)))
        return rc;
    return std_same_shape(fn, *a, *b, out);
}
