/* rt_coll.c — CPU collectives of compiled plans: given every member's input (by rank),
 * compute this member's result. The exchange itself is an all-to-all over the group's
 * mesh channels (rt_xplan.c); this file only does the arithmetic.
 *
 * allreduce: elementwise sum/max/min/avg over tensors of one dtype and shape, or over
 *   i64 / f64 scalars; reducescatter: the same, then member r keeps the r-th of n equal
 *   parts along dimension 0; allgather: tensors concatenated along dimension 0 (other
 *   values: a list of the n inputs); broadcast: the root's value.
 * An error input makes the result that error (errors flow through collectives too; a
 * broadcast's only the root's). Errors made here start with `who`, "actor 'W#1' (W) method
 * 'collective'", as those of interpreted collectives do. */
#define _GNU_SOURCE
#include "rt_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* bf16 / f16 are reduced in f32. */
static float rt_bf16_to_f32(uint16_t h)
{
    uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

static uint16_t rt_f32_to_bf16(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    u += 0x7fff + ((u >> 16) & 1); /* round to nearest even */
    return (uint16_t)(u >> 16);
}

static float rt_f16_to_f32(uint16_t h)
{
    int e = (h >> 10) & 0x1f, m = h & 0x3ff;
    float v = e == 0 ? ldexpf((float)m, -24) : e == 31 ? (m ? NAN : INFINITY)
                                                        : ldexpf((float)(m | 0x400), e - 25);
    return h & 0x8000 ? -v : v;
}

static uint16_t rt_f32_to_f16(float f)
{
    uint16_t sign = signbit(f) ? 0x8000 : 0;
    float a = fabsf(f);
    if (isnan(a))
        return sign | 0x7e00;
    if (a >= 65520.0f)
        return sign | 0x7c00;
    if (a < 6.103515625e-05f) /* subnormal */
        return sign | (uint16_t)lrintf(a * 16777216.0f);
    int e;
    float m = frexpf(a, &e); /* a = m * 2^e, m in [0.5, 1) */
    uint32_t mant = (uint32_t)lrintf(m * 2048.0f); /* 11 bits incl. the implicit one */
    if (mant == 2048) {
        mant = 1024;
        e++;
    }
    return sign | (uint16_t)((e + 14) << 10) | (uint16_t)(mant & 0x3ff);
}

static double rt_get(const DaftTensor *t, int64_t i)
{
    switch (t->dtype) {
    case DAFT_RT_F32: return ((const float *)t->data)[i];
    case DAFT_RT_BF16: return rt_bf16_to_f32(((const uint16_t *)t->data)[i]);
    case DAFT_RT_F16: return rt_f16_to_f32(((const uint16_t *)t->data)[i]);
    case DAFT_RT_I32: return ((const int32_t *)t->data)[i];
    default: return (double)((const int64_t *)t->data)[i];
    }
}

static void rt_put(DaftTensor *t, int64_t i, double v)
{
    switch (t->dtype) {
    case DAFT_RT_F32: ((float *)t->data)[i] = (float)v; break;
    case DAFT_RT_BF16: ((uint16_t *)t->data)[i] = rt_f32_to_bf16((float)v); break;
    case DAFT_RT_F16: ((uint16_t *)t->data)[i] = rt_f32_to_f16((float)v); break;
    case DAFT_RT_I32: ((int32_t *)t->data)[i] = (int32_t)v; break;
    default: ((int64_t *)t->data)[i] = (int64_t)v; break;
    }
}

static double rt_combine(int reduce, double acc, double x)
{
    switch (reduce) {
    case RT_REDUCE_MAX: return x > acc ? x : acc;
    case RT_REDUCE_MIN: return x < acc ? x : acc;
    default: return acc + x; /* sum, avg */
    }
}

/* Elementwise reduction of n tensors (i64 tensors reduce exactly in int64), checked by
 * rt_coll_check first. */
static DaftValue rt_reduce_tensors(const DaftValue *v, int n, int reduce)
{
    const DaftTensor *t0 = &v[0].as.tensor;
    DaftValue out = daft_value_tensor(t0->dtype, t0->rank, t0->dims, NULL);
    if (out.kind != DAFT_V_TENSOR)
        return out;
    int64_t numel = daft_tensor_numel(t0);
    for (int64_t i = 0; i < numel; i++) {
        if (t0->dtype == DAFT_RT_I64) {
            int64_t acc = ((const int64_t *)t0->data)[i];
            for (int r = 1; r < n; r++) {
                int64_t x = ((const int64_t *)v[r].as.tensor.data)[i];
                acc = reduce == RT_REDUCE_MAX ? (x > acc ? x : acc)
                      : reduce == RT_REDUCE_MIN ? (x < acc ? x : acc) : acc + x;
            }
            ((int64_t *)out.as.tensor.data)[i] = reduce == RT_REDUCE_AVG ? acc / n : acc;
            continue;
        }
        double acc = rt_get(t0, i);
        for (int r = 1; r < n; r++)
            acc = rt_combine(reduce, acc, rt_get(&v[r].as.tensor, i));
        rt_put(&out.as.tensor, i, reduce == RT_REDUCE_AVG ? acc / n : acc);
    }
    return out;
}

static DaftValue rt_reduce(const char *who, const char *fn, const DaftValue *v, int n, int reduce)
{
    if (v[0].kind == DAFT_V_TENSOR)
        return rt_reduce_tensors(v, n, reduce);
    if (v[0].kind != DAFT_V_I64 && v[0].kind != DAFT_V_F64)
        return daft_value_error("%s: %s: cannot reduce values of this kind", who, fn);
    for (int r = 1; r < n; r++)
        if (v[r].kind != v[0].kind)
            return daft_value_error("%s: %s: members' values differ in kind: rank %d's is not "
                                    "rank 0's", who, fn, r);
    if (v[0].kind == DAFT_V_I64) {
        int64_t acc = v[0].as.i64;
        for (int r = 1; r < n; r++) {
            int64_t x = v[r].as.i64;
            acc = reduce == RT_REDUCE_MAX ? (x > acc ? x : acc)
                  : reduce == RT_REDUCE_MIN ? (x < acc ? x : acc) : acc + x;
        }
        return daft_value_i64(reduce == RT_REDUCE_AVG ? acc / n : acc);
    }
    double acc = v[0].as.f64;
    for (int r = 1; r < n; r++)
        acc = rt_combine(reduce, acc, v[r].as.f64);
    return daft_value_f64(reduce == RT_REDUCE_AVG ? acc / n : acc);
}

/* Rows [r * rows, (r + 1) * rows) of t along dimension 0. */
static DaftValue rt_slice0(const DaftTensor *t, int64_t first, int64_t rows)
{
    int64_t dims[DAFT_MAX_RANK];
    memcpy(dims, t->dims, sizeof dims);
    dims[0] = rows;
    DaftValue out = daft_value_tensor(t->dtype, t->rank, dims, NULL);
    if (out.kind == DAFT_V_TENSOR && rows) {
        size_t row = daft_tensor_nbytes(t) / (size_t)t->dims[0];
        memcpy(out.as.tensor.data, (const char *)t->data + (size_t)first * row, (size_t)rows * row);
    }
    return out;
}

static DaftValue rt_gather(const DaftValue *v, int n)
{
    bool tensors = v[0].kind == DAFT_V_TENSOR && v[0].as.tensor.rank >= 1;
    for (int r = 0; tensors && r < n; r++) {
        const DaftTensor *t = &v[r].as.tensor;
        tensors = v[r].kind == DAFT_V_TENSOR && t->dtype == v[0].as.tensor.dtype &&
                  t->rank == v[0].as.tensor.rank &&
                  !memcmp(t->dims + 1, v[0].as.tensor.dims + 1, sizeof(int64_t) * (size_t)(t->rank - 1));
    }
    if (!tensors) { /* anything else: the list of every member's value */
        DaftValue l = daft_value_list((size_t)n);
        for (int r = 0; l.kind == DAFT_V_LIST && r < n; r++)
            daft_value_copy(&l.as.list.items[r], &v[r]);
        return l;
    }
    int64_t dims[DAFT_MAX_RANK];
    memcpy(dims, v[0].as.tensor.dims, sizeof dims);
    dims[0] = 0;
    for (int r = 0; r < n; r++)
        dims[0] += v[r].as.tensor.dims[0];
    DaftValue out = daft_value_tensor(v[0].as.tensor.dtype, v[0].as.tensor.rank, dims, NULL);
    size_t off = 0;
    for (int r = 0; out.kind == DAFT_V_TENSOR && r < n; r++) {
        size_t nb = daft_tensor_nbytes(&v[r].as.tensor);
        if (nb)
            memcpy((char *)out.as.tensor.data + off, v[r].as.tensor.data, nb);
        off += nb;
    }
    return out;
}

int daft_coll_check_inputs(int kind, const char *fn, const DaftValue *v, int n, char *err,
                           size_t cap)
{
    for (int r = 0; r < n; r++)
        if (v[r].kind != DAFT_V_TENSOR) {
            snprintf(err, cap, "%s: input of rank %d is not a tensor", fn, r);
            return -1;
        }
    const DaftTensor *t0 = &v[0].as.tensor;
    if (kind == RT_COLL_ALLGATHER && t0->rank < 1) {
        snprintf(err, cap, "%s: inputs must have at least one dimension", fn);
        return -1;
    }
    char s1[160], s2[160];
    for (int r = 1; r < n; r++) {
        const DaftTensor *t = &v[r].as.tensor;
        if (t->dtype != t0->dtype) {
            snprintf(err, cap, "%s: dtypes differ: rank 0 has %s, rank %d has %s", fn,
                     daft_rt_dtype_name(t0->dtype), r, daft_rt_dtype_name(t->dtype));
            return -1;
        }
        bool same = t->rank == t0->rank;
        for (int d = kind == RT_COLL_ALLGATHER ? 1 : 0; same && d < t->rank; d++)
            same = t->dims[d] == t0->dims[d];
        if (!same) {
            daft_tensor_shape_format(t0, s1, sizeof s1);
            daft_tensor_shape_format(t, s2, sizeof s2);
            snprintf(err, cap, "%s: shapes differ: rank 0 has %s, rank %d has %s", fn, s1, r, s2);
            return -1;
        }
    }
    if (kind == RT_COLL_REDUCESCATTER && (t0->rank < 1 || t0->dims[0] % n)) {
        daft_tensor_shape_format(t0, s1, sizeof s1);
        snprintf(err, cap, "%s: dimension 0 of %s is not divisible by the group size %d", fn, s1, n);
        return -1;
    }
    return 0;
}

/* A compiled schedule's collective fails as an interpreted one does (SPEC 11.5, 14.1): NONE
 * when the inputs fit. Only tensor inputs are checked: other values (scalars, allowed in
 * plans) are checked where they are used. */
static DaftValue rt_coll_check(const char *who, const char *fn, int kind, const DaftValue *v, int n)
{
    if (v[0].kind != DAFT_V_TENSOR)
        return daft_value_none();
    char why[480];
    if (!daft_coll_check_inputs(kind, fn, v, n, why, sizeof why))
        return daft_value_none();
    return daft_value_error("%s: %s", who, why);
}

/* The first failed input the operation reads, in rank order (a broadcast reads only the
 * root's: SPEC 12), or NULL. */
static const DaftValue *rt_coll_failed(int kind, int root, const DaftValue *v, int n)
{
    for (int r = 0; r < n; r++)
        if (v[r].kind == DAFT_V_ERROR && (kind != RT_COLL_BROADCAST || r == root))
            return &v[r];
    return NULL;
}

static const char *rt_coll_name(int kind)
{
    static const char *const names[] = {"allreduce", "allgather", "reducescatter", "broadcast"};
    return kind >= 0 && kind <= RT_COLL_BROADCAST ? names[kind] : "collective";
}

DaftValue rt_coll_compute(int kind, int reduce, int root, const DaftValue *v, int n, int me,
                          const char *who)
{
    const char *fn = rt_coll_name(kind);
    DaftValue out;
    const DaftValue *failed = rt_coll_failed(kind, root, v, n);
    if (failed) {
        daft_value_copy(&out, failed);
        return out;
    }
    if (kind == RT_COLL_BROADCAST) {
        if (root < 0 || root >= n)
            return daft_value_error("%s: broadcast: root %d is not a member", who, root);
        daft_value_copy(&out, &v[root]);
        return out;
    }
    out = rt_coll_check(who, fn, kind, v, n);
    if (out.kind != DAFT_V_NONE)
        return out;
    switch (kind) {
    case RT_COLL_ALLREDUCE: return rt_reduce(who, fn, v, n, reduce);
    case RT_COLL_ALLGATHER: return rt_gather(v, n);
    case RT_COLL_REDUCESCATTER: {
        DaftValue sum = rt_reduce(who, fn, v, n, reduce);
        if (sum.kind != DAFT_V_TENSOR) {
            if (sum.kind == DAFT_V_ERROR)
                return sum;
            daft_value_free(&sum);
            return daft_value_error("%s: reducescatter: needs tensors of at least one dimension", who);
        }
        int64_t rows = sum.as.tensor.dims[0] / n;
        DaftValue part = rt_slice0(&sum.as.tensor, rows * me, rows);
        daft_value_free(&sum);
        return part;
    }
    default: return daft_value_error("%s: unknown collective %d", who, kind);
    }
}
