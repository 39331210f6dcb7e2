/* std_tensor.c — the std.tensor operations on CPU tensors.
 *
 * Each public function: check nargs, check and fetch arguments (std_value.c), allocate the
 * result, compute. Integer arithmetic is done in unsigned types so that overflow wraps
 * (as the GPU kernels do) instead of being undefined behaviour.
 */
#include <cblas.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "std_internal.h"
#include "std_rng.h"

/* ---------------------------------------------------------------- half conversions */

static uint32_t std_f32_bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

static float std_bits_f32(uint32_t u)
{
    float f;
    memcpy(&f, &u, 4);
    return f;
}

uint16_t std_f32_to_bf16(float f)
{
    uint32_t u = std_f32_bits(f);
    if ((u & 0x7FFFFFFFu) > 0x7F800000u)
        return (uint16_t)((u >> 16) | 0x40); /* keep NaN a (quiet) NaN */
    u += 0x7FFFu + ((u >> 16) & 1u);         /* round to nearest even */
    return (uint16_t)(u >> 16);
}

/* After F. Giesen's float_to_half_fast3_rtne: exact round-to-nearest-even incl. subnormals. */
uint16_t std_f32_to_f16(float f)
{
    uint32_t u = std_f32_bits(f);
    uint32_t sign = u & 0x80000000u;
    u ^= sign;
    uint16_t o;
    if (u >= (uint32_t)(127 + 16) << 23) {          /* >= 65536: inf, or NaN */
        o = u > 0x7F800000u ? 0x7E00 : 0x7C00;
    } else if (u < (uint32_t)113 << 23) {           /* below 2^-14: f16 subnormal */
        /* adding 0.5 aligns the value to f16's subnormal ulp (2^-24) with f32 rounding */
        float g = std_bits_f32(u) + 0.5f;
        o = (uint16_t)(std_f32_bits(g) - 0x3F000000u);
    } else {
        uint32_t odd = (u >> 13) & 1u;
        u += 0xC8000FFFu + odd;                       /* rebias exponent, round */
        o = (uint16_t)(u >> 13);
    }
    return (uint16_t)(o | (sign >> 16));
}

float std_bf16_to_f32(uint16_t h)
{
    return std_bits_f32((uint32_t)h << 16);
}

float std_f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1Fu, mant = h & 0x3FFu;
    if (exp == 0) {
        float f = (float)mant * 0x1p-24f; /* subnormal or zero: exact */
        return sign ? -f : f;
    }
    if (exp == 31)
        return std_bits_f32(sign | 0x7F800000u | (mant << 13));
    return std_bits_f32(sign | ((exp + 112u) << 23) | (mant << 13));
}

/* ---------------------------------------------------------------- GPU dispatch
 * A call with a tensor argument on the GPU (also inside concat's list) runs on the GPU
 * runtime (daft_rt_gpu_std: stdlib/cuda/std_gpu.c in libdaftgpu.so); so do the creation
 * functions when called by an actor that has a GPU. */
static bool std_on_gpu(const DaftValue *args, int nargs)
{
    for (int i = 0; args && i < nargs; i++) {
        if (args[i].kind == DAFT_V_TENSOR && args[i].as.tensor.device)
            return true;
        for (size_t k = 0; args[i].kind == DAFT_V_LIST && k < args[i].as.list.len; k++)
            if (args[i].as.list.items[k].kind == DAFT_V_TENSOR && args[i].as.list.items[k].as.tensor.device)
                return true;
    }
    return false;
}
#define STD_GPU_DISPATCH(name)                                                \
    do {                                                                      \
        if (out && std_on_gpu(args, nargs))                                   \
            return daft_rt_gpu_std(name, ctx, args, nargs, out);             \
    } while (0)
#define STD_GPU_CREATE(name)                                                  \
    do {                                                                      \
        if (out && daft_ctx_gpu(ctx) >= 0)                                    \
            return daft_rt_gpu_std(name, ctx, args, nargs, out);             \
    } while (0)

/* Defines the public daft_std_tensor_<name> as: GPU dispatch (STD_GPU_DISPATCH or
 * STD_GPU_CREATE), then `call` on the CPU, with fn = "<name>" for its messages. */
#define STD_ENTRY(name, dispatch, call)                                       \
    int daft_std_tensor_##name(DaftActorCtx *ctx, const DaftValue *args, int nargs, \
                               DaftValue *out)                                \
    {                                                                         \
        static const char fn[] = #name;                                       \
        dispatch(fn);                                                         \
        (void)ctx;                                                            \
        if (!out)                                                             \
            return DAFT_EINVAL;                                               \
        return call;                                                          \
    }

/* ---------------------------------------------------------------- helpers */

static int std_unsupported(const char *fn, DaftRtDtype dt, DaftValue *out)
{
    return std_fail(out, fn, "tensor<%s> is not supported on the CPU", std_dtype_name(dt));
}

/* Dtype sets for std_check_dtype / std_new_like. */
#define STD_DT_F32 (1u << DAFT_RT_F32)
#define STD_DT_HALF (1u << DAFT_RT_BF16 | 1u << DAFT_RT_F16)
#define STD_DT_FLOAT (STD_DT_F32 | STD_DT_HALF)
#define STD_DT_ARITH (STD_DT_FLOAT | 1u << DAFT_RT_I32 | 1u << DAFT_RT_I64)

/* bf16 and f16 arithmetic: each element is widened to f32 exactly, the operation is done
 * in f32 (one IEEE operation at a time, as for f32 tensors), and the result is rounded to
 * the dtype (to nearest, ties to even): the GPU kernels do the same, bit for bit. */
static bool std_is_half(DaftRtDtype dt) { return dt == DAFT_RT_BF16 || dt == DAFT_RT_F16; }

static float std_half_get(const DaftTensor *t, int64_t i)
{
    uint16_t h = ((const uint16_t *)t->data)[i];
    return t->dtype == DAFT_RT_BF16 ? std_bf16_to_f32(h) : std_f16_to_f32(h);
}

static void std_half_put(DaftTensor *t, int64_t i, float v)
{
    ((uint16_t *)t->data)[i] = t->dtype == DAFT_RT_BF16 ? std_f32_to_bf16(v) : std_f32_to_f16(v);
}

/* A half tensor's elements widened to a new f32 array (NULL when out of memory). */
static float *std_half_widen(const DaftTensor *t, int64_t n)
{
    float *f = malloc((size_t)(n > 0 ? n : 1) * sizeof *f);
    for (int64_t i = 0; f && i < n; i++)
        f[i] = std_half_get(t, i);
    return f;
}

/* dt is in the set `dtypes`, else an error: for the float-only operations (mse_grad,
 * sgd_update) the text the GPU gives too, naming the dtypes that are supported. */
static int std_check_dtype(const char *fn, DaftRtDtype dt, unsigned dtypes, DaftValue *out)
{
    if ((unsigned)dt < 32 && (dtypes >> (unsigned)dt & 1u))
        return 0;
    if (dtypes == STD_DT_FLOAT)
        return std_fail(out, fn, "tensor<%s> is not supported (f32, bf16, f16 only)",
                        std_dtype_name(dt));
    return std_unsupported(fn, dt, out);
}

/* A new zero-filled tensor of a's dtype and shape (a's dtype checked against `dtypes`). */
static int std_new_like(const char *fn, const DaftTensor *a, unsigned dtypes, DaftValue *out,
                        DaftTensor **c)
{
    int rc;
    if ((rc = std_check_dtype(fn, a->dtype, dtypes, out)))
        return rc;
    return std_new_tensor(fn, a->dtype, a->rank, a->dims, out, c);
}

/* Loops for integer GEMM: C[i][j] = sum_p A(i,p) B(p,j), wrapping. */
#define STD_GEMM_LOOP(T, UT)                                                         \
    do {                                                                             \
        const T *A = a, *B = b;                                                      \
        T *C = c;                                                                    \
        for (int64_t i = 0; i < m; i++)                                              \
            for (int64_t p = 0; p < k; p++) {                                        \
                UT av = (UT)(ta ? A[p * m + i] : A[i * k + p]);                      \
                if (!av)                                                             \
                    continue;                                                        \
                for (int64_t j = 0; j < n; j++) {                                    \
                    UT bv = (UT)(tb ? B[j * k + p] : B[p * n + j]);                  \
                    C[i * n + j] = (T)((UT)C[i * n + j] + av * bv);                  \
                }                                                                    \
            }                                                                        \
    } while (0)

/* bf16 / f16 GEMM: the operands widened to f32, an f32 GEMM (f32 accumulation, as
 * cuBLAS's with CUBLAS_COMPUTE_32F), the result rounded to the dtype. */
static int std_gemm_half(const char *fn, DaftRtDtype dt, bool ta, bool tb, int64_t m, int64_t n,
                         int64_t k, const void *a, const void *b, void *c, DaftValue *out)
{
    if (m > INT_MAX || n > INT_MAX || k > INT_MAX) /* before widening copies: BLAS's limit */
        return std_fail(out, fn, "dimension too large for BLAS (over %d)", INT_MAX);
    DaftTensor ta_t = {.dtype = dt, .data = (void *)a}, tb_t = {.dtype = dt, .data = (void *)b};
    DaftTensor tc_t = {.dtype = dt, .data = c};
    float *fa = std_half_widen(&ta_t, m * k), *fb = std_half_widen(&tb_t, k * n);
    float *fc = calloc((size_t)(m * n > 0 ? m * n : 1), sizeof *fc);
    int rc = fa && fb && fc ? std_gemm(fn, DAFT_RT_F32, ta, tb, m, n, k, fa, fb, fc, out)
                            : std_fail_nomem(out, fn, (size_t)(m * k + k * n + m * n) * sizeof(float));
    for (int64_t i = 0; !rc && i < m * n; i++)
        std_half_put(&tc_t, i, fc[i]);
    free(fa);
    free(fb);
    free(fc);
    return rc;
}

int std_gemm(const char *fn, DaftRtDtype dt, bool ta, bool tb, int64_t m, int64_t n,
             int64_t k, const void *a, const void *b, void *c, DaftValue *out)
{
    if (m == 0 || n == 0 || k == 0)
        return 0; /* C is already zero; BLAS would reject the zero leading dimensions */
    switch (dt) {
    case DAFT_RT_BF16:
    case DAFT_RT_F16:
        return std_gemm_half(fn, dt, ta, tb, m, n, k, a, b, c, out);
    case DAFT_RT_F32:
        /* OpenBLAS takes 32-bit sizes; one dimension over INT_MAX is also > 2^39 bytes
         * for any operand with a second dimension >= 64, so this is rare, but checked. */
        if (m > INT_MAX || n > INT_MAX || k > INT_MAX)
            return std_fail(out, fn, "dimension too large for BLAS (over %d)", INT_MAX);
        cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans,
                    tb ? CblasTrans : CblasNoTrans, (int)m, (int)n, (int)k, 1.0f, a,
                    ta ? (int)m : (int)k, b, tb ? (int)k : (int)n, 0.0f, c, (int)n);
        return 0;
    case DAFT_RT_I32:
        STD_GEMM_LOOP(int32_t, uint32_t);
        return 0;
    case DAFT_RT_I64:
        STD_GEMM_LOOP(int64_t, uint64_t);
        return 0;
    default:
        return std_unsupported(fn, dt, out);
    }
}

/* ---------------------------------------------------------------- creation */

static int std_random(const char *fn, bool normal, const DaftValue *args, int nargs,
                      DaftValue *out)
{
    int rank, rc;
    int64_t dims[DAFT_MAX_RANK], seed;
    DaftRtDtype dt;
    DaftTensor *t;
    if ((rc = std_check_nargs(fn, args, nargs, 2, 3, out)) ||
        (rc = std_arg_shape(fn, args, 0, &rank, dims, out)) ||
        (rc = std_arg_i64(fn, args, 1, &seed, out)) ||
        (rc = std_arg_dtype(fn, args, nargs, 2, DAFT_RT_F32, &dt, out)))
        return rc;
    if (!std_dtype_is_float(dt))
        return std_fail(out, fn, "dtype must be f32, bf16 or f16, got %s", std_dtype_name(dt));
    if ((rc = std_new_tensor(fn, dt, rank, dims, out, &t)))
        return rc;
    uint64_t n = (uint64_t)std_numel(t);
    uint32_t key[2];
    std_rng_key(seed, key);
    /* Values depend only on (seed, index); see std.h "random numbers". */
    for (uint64_t i = 0; i < n; i += normal ? 2 : 1) {
        float v[2];
        if (normal)
            std_rng_normal_pair(key, i >> 1, &v[0], &v[1]);
        else
            v[0] = std_rng_uniform(key, i);
        for (uint64_t e = i; e < n && e < i + (normal ? 2 : 1); e++) {
            float x = v[e - i];
            if (dt == DAFT_RT_F32)
                ((float *)t->data)[e] = x;
            else if (dt == DAFT_RT_BF16)
                ((uint16_t *)t->data)[e] = normal ? std_f32_to_bf16(x)
                                                  : std_rng_uniform_half(std_f32_to_bf16(x), 1);
            else
                ((uint16_t *)t->data)[e] = normal ? std_f32_to_f16(x)
                                                  : std_rng_uniform_half(std_f32_to_f16(x), 0);
        }
    }
    return 0;
}

STD_ENTRY(randn, STD_GPU_CREATE, std_random(fn, true, args, nargs, out))

STD_ENTRY(rand, STD_GPU_CREATE, std_random(fn, false, args, nargs, out))

static int std_filled(const char *fn, bool one, const DaftValue *args, int nargs,
                      DaftValue *out)
{
    int rank, rc;
    int64_t dims[DAFT_MAX_RANK];
    DaftRtDtype dt;
    DaftTensor *t;
    if ((rc = std_check_nargs(fn, args, nargs, 1, 2, out)) ||
        (rc = std_arg_shape(fn, args, 0, &rank, dims, out)) ||
        (rc = std_arg_dtype(fn, args, nargs, 1, DAFT_RT_F32, &dt, out)) ||
        (rc = std_new_tensor(fn, dt, rank, dims, out, &t)))
        return rc;
    if (!one)
        return 0; /* std_new_tensor zero-fills */
    int64_t n = std_numel(t);
    for (int64_t i = 0; i < n; i++) {
        switch (dt) {
        case DAFT_RT_F32: ((float *)t->data)[i] = 1.0f; break;
        case DAFT_RT_BF16: ((uint16_t *)t->data)[i] = 0x3F80; break;
        case DAFT_RT_F16: ((uint16_t *)t->data)[i] = 0x3C00; break;
        case DAFT_RT_I32: ((int32_t *)t->data)[i] = 1; break;
        default: ((int64_t *)t->data)[i] = 1; break;
        }
    }
    return 0;
}

STD_ENTRY(zeros, STD_GPU_CREATE, std_filled(fn, false, args, nargs, out))

STD_ENTRY(ones, STD_GPU_CREATE, std_filled(fn, true, args, nargs, out))

/* ---------------------------------------------------------------- matmul, linear */

static int std_matmul(const char *fn, const DaftValue *args, int nargs, DaftValue *out)
{
    const DaftTensor *a, *b;
    DaftTensor *c;
    int rc;
    if ((rc = std_check_nargs(fn, args, nargs, 2, 2, out)) ||
        (rc = std_arg_tensor(fn, args, 0, &a, NULL, out)) ||
        (rc = std_arg_tensor(fn, args, 1, &b, NULL, out)))
        return rc;
    char why[400];
    if (!std_text_matmul(a, b, why, sizeof why))
        return std_fail(out, fn, "%s", why);
    int64_t dims[2] = { a->dims[0], b->dims[1] };
    if ((rc = std_check_dtype(fn, a->dtype, STD_DT_ARITH, out)) ||
        (rc = std_new_tensor(fn, a->dtype, 2, dims, out, &c)))
        return rc;
    DaftValue err;
    if ((rc = std_gemm(fn, a->dtype, false, false, a->dims[0], b->dims[1], a->dims[1], a->data,
                       b->data, c->data, &err))) {
        daft_value_free(out);
        *out = err;
    }
    return rc;
}

STD_ENTRY(matmul, STD_GPU_DISPATCH, std_matmul(fn, args, nargs, out))

STD_ENTRY(linear_forward, STD_GPU_DISPATCH, std_matmul(fn, args, nargs, out))

int daft_std_tensor_linear_backward(DaftActorCtx *ctx, const DaftValue *args, int nargs,
                                    DaftValue *out)
{
    STD_GPU_DISPATCH("linear_backward");
    static const char fn[] = "linear_backward";
    const DaftTensor *x, *w, *gy;
    int rc;
    (void)ctx;
    if (!out)
        return DAFT_EINVAL;
    if ((rc = std_check_nargs(fn, args, nargs, 3, 3, out)) ||
        (rc = std_arg_tensor(fn, args, 0, &x, NULL, out)) ||
        (rc = std_arg_tensor(fn, args, 1, &w, NULL, out)) ||
        (rc = std_arg_tensor(fn, args, 2, &gy, NULL, out)))
        return rc;
    char why[400];
    if (!std_text_linear_backward(x, w, gy, why, sizeof why))
        return std_fail(out, fn, "%s", why);
    if ((rc = std_check_dtype(fn, x->dtype, STD_DT_ARITH, out)))
        return rc;
    int64_t b = x->dims[0], in = x->dims[1], o = w->dims[1];
    DaftValue gx = { 0 }, gw = { 0 };
    DaftTensor *tgx, *tgw;
    int64_t dgx[2] = { b, in }, dgw[2] = { in, o };
    if ((rc = std_new_tensor(fn, x->dtype, 2, dgx, out, &tgx)))
        return rc;
    gx = *out;
    tgx = &gx.as.tensor;
    if ((rc = std_new_tensor(fn, x->dtype, 2, dgw, out, &tgw))) {
        daft_value_free(&gx);
        return rc;
    }
    gw = *out;
    tgw = &gw.as.tensor;
    /* gx = gy [b,o] @ w^T [o,in];  gw = x^T [in,b] @ gy [b,o] */
    if ((rc = std_gemm(fn, x->dtype, false, true, b, in, o, gy->data, w->data, tgx->data, out)) ||
        (rc = std_gemm(fn, x->dtype, true, false, in, o, b, x->data, gy->data, tgw->data, out))) {
        daft_value_free(&gx);
        daft_value_free(&gw);
        return rc;
    }
    DaftValue list = daft_value_list(2);
    if (list.kind != DAFT_V_LIST || !list.as.list.items) {
        daft_value_free(&list);
        daft_value_free(&gx);
        daft_value_free(&gw);
        return std_fail_nomem(out, fn, 2 * sizeof(DaftValue));
    }
    list.as.list.items[0] = gx;
    list.as.list.items[1] = gw;
    *out = list;
    return 0;
}

/* One of linear_backward's two products alone, for two 2-D arguments named n0 and n1:
 * op(a0) @ op(a1), op transposing where t0 / t1 say, computed as linear_backward computes it
 * (the same bits). `fit` describes the shapes that fit, for the error. */
static int std_one_product(const char *fn, const DaftValue *args, int nargs, const char *n0,
                           const char *n1, bool t0, bool t1, const char *fit, DaftValue *out)
{
    const DaftTensor *a0, *a1;
    DaftTensor *r;
    int rc;
    if ((rc = std_check_nargs(fn, args, nargs, 2, 2, out)) ||
        (rc = std_arg_tensor(fn, args, 0, &a0, NULL, out)) ||
        (rc = std_arg_tensor(fn, args, 1, &a1, NULL, out)))
        return rc;
    char why[400];
    if (!std_text_product(a0, n0, a1, n1, t0, t1, fit, why, sizeof why))
        return std_fail(out, fn, "%s", why);
    int64_t m = a0->dims[t0 ? 1 : 0], k = a0->dims[t0 ? 0 : 1], n = a1->dims[t1 ? 0 : 1];
    if ((rc = std_check_dtype(fn, a0->dtype, STD_DT_ARITH, out)))
        return rc;
    int64_t dr[2] = { m, n };
    if ((rc = std_new_tensor(fn, a0->dtype, 2, dr, out, &r)))
        return rc;
    DaftValue err;
    if ((rc = std_gemm(fn, a0->dtype, t0, t1, m, n, k, a0->data, a1->data, r->data, &err))) {
        daft_value_free(out);
        *out = err;
    }
    return rc;
}

/* gw = x^T @ gy alone: linear_backward without the input's gradient (a first layer's, which
 * nothing reads; autograd skips it too). */
STD_ENTRY(linear_weight_grad, STD_GPU_DISPATCH,
          std_one_product(fn, args, nargs, "x", "gy", true, false, "x [b, in], gy [b, out]", out))

/* gx = gy @ w^T alone: with linear_weight_grad, a layer's backward in two calls, so that a
 * program can hand gw on (to an allreduce) before it computes gx. */
STD_ENTRY(linear_input_grad, STD_GPU_DISPATCH,
          std_one_product(fn, args, nargs, "gy", "w", false, true, "gy [b, out], w [in, out]", out))

/* ---------------------------------------------------------------- elementwise */

typedef enum { STD_OP_ADD, STD_OP_MUL } StdBinop;

#define STD_BINOP_LOOP(T, UT, BV)                                                     \
    do {                                                                              \
        const T *A = a->data;                                                         \
        T *C = c->data;                                                               \
        for (int64_t i = 0; i < n; i++) {                                             \
            UT x = (UT)A[i], y = (UT)(BV);                                            \
            C[i] = (T)(op == STD_OP_ADD ? x + y : x * y);                             \
        }                                                                             \
    } while (0)

static int std_binop(const char *fn, StdBinop op, const DaftValue *args, int nargs,
                     DaftValue *out)
{
    int rc;
    if ((rc = std_check_nargs(fn, args, nargs, 2, 2, out)))
        return rc;
    int ti = args[0].kind == DAFT_V_TENSOR ? 0 : args[1].kind == DAFT_V_TENSOR ? 1 : -1;
    if (ti < 0)
        return std_fail(out, fn, "expects at least one tensor operand, got %s and %s",
                        std_kind_name(args[0].kind), std_kind_name(args[1].kind));
    const DaftTensor *a, *b = NULL;
    int64_t n;
    if ((rc = std_arg_tensor(fn, args, ti, &a, &n, out)))
        return rc;
    const DaftValue *other = &args[1 - ti];
    if (other->kind == DAFT_V_TENSOR) {
        if ((rc = std_arg_tensor(fn, args, 1 - ti, &b, NULL, out)) ||
            (rc = std_same_shape(fn, a, b, out)))
            return rc;
    } else if (other->kind == DAFT_V_F64) {
        if (!std_dtype_is_float(a->dtype))
            return std_fail(out, fn, "cannot combine tensor<%s> with an f64 scalar",
                            std_dtype_name(a->dtype));
    } else if (other->kind != DAFT_V_I64) {
        return std_fail(out, fn, "argument %d must be a tensor or a number, got %s", 2 - ti,
                        std_kind_name(other->kind));
    }
    DaftTensor *c;
    if ((rc = std_new_like(fn, a, STD_DT_ARITH, out, &c)))
        return rc;
    double sf = other->kind == DAFT_V_F64 ? other->as.f64 : (double)other->as.i64;
    int64_t si = other->kind == DAFT_V_I64 ? other->as.i64 : 0;
    switch (a->dtype) {
    case DAFT_RT_F32: {
        const float *A = a->data, *B = b ? b->data : NULL;
        float *C = c->data, s = (float)sf;
        for (int64_t i = 0; i < n; i++) {
            float y = B ? B[i] : s;
            C[i] = op == STD_OP_ADD ? A[i] + y : A[i] * y;
        }
        break;
    }
    case DAFT_RT_BF16:
    case DAFT_RT_F16:
        for (int64_t i = 0; i < n; i++) {
            float x = std_half_get(a, i), y = b ? std_half_get(b, i) : (float)sf;
            std_half_put(c, i, op == STD_OP_ADD ? x + y : x * y);
        }
        break;
    case DAFT_RT_I32:
        /* an i64 scalar is reduced mod 2^32, as the wrapping arithmetic would anyway */
        STD_BINOP_LOOP(int32_t, uint32_t, b ? ((const int32_t *)b->data)[i] : si);
        break;
    default:
        STD_BINOP_LOOP(int64_t, uint64_t, b ? ((const int64_t *)b->data)[i] : si);
        break;
    }
    return 0;
}

STD_ENTRY(add, STD_GPU_DISPATCH, std_binop(fn, STD_OP_ADD, args, nargs, out))

STD_ENTRY(mul, STD_GPU_DISPATCH, std_binop(fn, STD_OP_MUL, args, nargs, out))

int daft_std_tensor_relu(DaftActorCtx *ctx, const DaftValue *args, int nargs, DaftValue *out)
{
    STD_GPU_DISPATCH("relu");
    static const char fn[] = "relu";
    const DaftTensor *a;
    DaftTensor *c;
    int64_t n;
    int rc;
    (void)ctx;
    if (!out)
        return DAFT_EINVAL;
    if ((rc = std_one_tensor(fn, args, nargs, &a, &n, out)) ||
        (rc = std_new_like(fn, a, STD_DT_ARITH, out, &c)))
        return rc;
    for (int64_t i = 0; i < n; i++) {
        switch (a->dtype) {
        case DAFT_RT_F32: {
            float x = ((const float *)a->data)[i];
            ((float *)c->data)[i] = x < 0.0f ? 0.0f : x; /* NaN is not < 0: it propagates */
            break;
        }
        case DAFT_RT_BF16:
        case DAFT_RT_F16: /* the element's own bits, or +0 */
            ((uint16_t *)c->data)[i] = std_half_get(a, i) < 0.0f ? 0 : ((const uint16_t *)a->data)[i];
            break;
        case DAFT_RT_I32: {
            int32_t x = ((const int32_t *)a->data)[i];
            ((int32_t *)c->data)[i] = x < 0 ? 0 : x;
            break;
        }
        default: {
            int64_t x = ((const int64_t *)a->data)[i];
            ((int64_t *)c->data)[i] = x < 0 ? 0 : x;
            break;
        }
        }
    }
    return 0;
}

/* Element i of any dtype, as a double (exact for all but i64 beyond 2^53). */
static double std_load(const DaftTensor *t, int64_t i)
{
    switch (t->dtype) {
    case DAFT_RT_F32: return ((const float *)t->data)[i];
    case DAFT_RT_BF16: return std_bf16_to_f32(((const uint16_t *)t->data)[i]);
    case DAFT_RT_F16: return std_f16_to_f32(((const uint16_t *)t->data)[i]);
    case DAFT_RT_I32: return ((const int32_t *)t->data)[i];
    default: return (double)((const int64_t *)t->data)[i];
    }
}

int daft_std_tensor_sum(DaftActorCtx *ctx, const DaftValue *args, int nargs, DaftValue *out)
{
    STD_GPU_DISPATCH("sum");
    static const char fn[] = "sum";
    const DaftTensor *a;
    int64_t n;
    int rc;
    (void)ctx;
    if (!out)
        return DAFT_EINVAL;
    if ((rc = std_one_tensor(fn, args, nargs, &a, &n, out)))
        return rc;
    double s = 0.0;
    for (int64_t i = 0; i < n; i++)
        s += std_load(a, i);
    *out = daft_value_f64(s);
    return 0;
}

/* ---------------------------------------------------------------- slice, concat */

int daft_std_tensor_slice(DaftActorCtx *ctx, const DaftValue *args, int nargs, DaftValue *out)
{
    STD_GPU_DISPATCH("slice");
    static const char fn[] = "slice";
    const DaftTensor *a;
    DaftTensor *c;
    int64_t dim, start, end;
    int rc;
    (void)ctx;
    if (!out)
        return DAFT_EINVAL;
    if ((rc = std_check_nargs(fn, args, nargs, 4, 4, out)) ||
        (rc = std_arg_tensor(fn, args, 0, &a, NULL, out)) ||
        (rc = std_arg_i64(fn, args, 1, &dim, out)) ||
        (rc = std_arg_i64(fn, args, 2, &start, out)) ||
        (rc = std_arg_i64(fn, args, 3, &end, out)))
        return rc;
    char why[400];
    if (!std_text_dim(&dim, a->rank, why, sizeof why) ||
        !std_text_slice_range(a, dim, start, end, why, sizeof why))
        return std_fail(out, fn, "%s", why);
    int64_t dims[DAFT_MAX_RANK];
    memcpy(dims, a->dims, sizeof dims);
    dims[dim] = end - start;
    if ((rc = std_new_tensor(fn, a->dtype, a->rank, dims, out, &c)))
        return rc;
    size_t esz = std_dtype_size(a->dtype);
    int64_t outer = 1, inner = 1;
    for (int64_t i = 0; i < dim; i++)
        outer *= a->dims[i];
    for (int64_t i = dim + 1; i < a->rank; i++)
        inner *= a->dims[i];
    size_t row = (size_t)inner * esz;
    if (row == 0 || end == start)
        return 0;
    for (int64_t o = 0; o < outer; o++)
        memcpy((char *)c->data + (size_t)o * (size_t)(end - start) * row,
               (const char *)a->data + ((size_t)o * (size_t)a->dims[dim] + (size_t)start) * row,
               (size_t)(end - start) * row);
    return 0;
}

int daft_std_tensor_concat(DaftActorCtx *ctx, const DaftValue *args, int nargs, DaftValue *out)
{
    STD_GPU_DISPATCH("concat");
    static const char fn[] = "concat";
    int64_t dim;
    int rc;
    (void)ctx;
    if (!out)
        return DAFT_EINVAL;
    if ((rc = std_check_nargs(fn, args, nargs, 2, 2, out)) ||
        (rc = std_arg_i64(fn, args, 1, &dim, out)))
        return rc;
    if (args[0].kind != DAFT_V_LIST)
        return std_fail(out, fn, "argument 1 must be a list of tensors, got %s",
                        std_kind_name(args[0].kind));
    const DaftValue *items = args[0].as.list.items;
    size_t len = args[0].as.list.len;
    if (len == 0 || !items)
        return std_fail(out, fn, "the list of tensors is empty");
    for (size_t k = 0; k < len; k++) {
        char sub[64];
        snprintf(sub, sizeof sub, "%s: item %zu", fn, k);
        if (items[k].kind != DAFT_V_TENSOR)
            return std_fail(out, fn, "item %zu of the list must be a tensor, got %s", k,
                            std_kind_name(items[k].kind));
        if ((rc = std_check_tensor(sub, &items[k].as.tensor, NULL, out)))
            return rc;
    }
    const DaftTensor *t0 = &items[0].as.tensor;
    char why[400];
    if (!std_text_dim(&dim, t0->rank, why, sizeof why))
        return std_fail(out, fn, "%s", why);
    int64_t dims[DAFT_MAX_RANK];
    memcpy(dims, t0->dims, sizeof dims);
    for (size_t k = 1; k < len; k++) {
        const DaftTensor *t = &items[k].as.tensor;
        if (!std_text_concat_item(t0, t, k, dim, why, sizeof why))
            return std_fail(out, fn, "%s", why);
        if (__builtin_add_overflow(dims[dim], t->dims[dim], &dims[dim]))
            return std_fail(out, fn, "the concatenated dimension overflows");
    }
    DaftTensor *c;
    if ((rc = std_new_tensor(fn, t0->dtype, t0->rank, dims, out, &c)))
        return rc;
    size_t esz = std_dtype_size(t0->dtype);
    int64_t outer = 1, inner = 1;
    for (int64_t i = 0; i < dim; i++)
        outer *= t0->dims[i];
    for (int64_t i = dim + 1; i < t0->rank; i++)
        inner *= t0->dims[i];
    char *dst = c->data;
    for (int64_t o = 0; o < outer; o++)
        for (size_t k = 0; k < len; k++) {
            const DaftTensor *t = &items[k].as.tensor;
            size_t chunk = (size_t)t->dims[dim] * (size_t)inner * esz;
            if (chunk) {
                memcpy(dst, (const char *)t->data + (size_t)o * chunk, chunk);
                dst += chunk;
            }
        }
    return 0;
}

/* ---------------------------------------------------------------- loss, optimiser */

/* mean((p - t)^2) in double, in *mean: the two inputs of one shape and not empty, or an
 * error in *out. */
static int std_mean_sq_diff(const char *fn, const DaftValue *args, int nargs, double *mean,
                            DaftValue *out)
{
    const DaftTensor *p, *t;
    int64_t n;
    int rc;
    if ((rc = std_two_tensors(fn, args, nargs, &p, &t, &n, out)))
        return rc;
    if (n == 0)
        return std_fail(out, fn, "the mean of an empty tensor is undefined");
    double s = 0.0;
    for (int64_t i = 0; i < n; i++) {
        double d = std_load(p, i) - std_load(t, i);
        s += d * d;
    }
    *mean = s / (double)n;
    return 0;
}

int daft_std_tensor_mse_loss(DaftActorCtx *ctx, const DaftValue *args, int nargs,
                             DaftValue *out)
{
    STD_GPU_DISPATCH("mse_loss");
    double m;
    int rc;
    (void)ctx;
    if (!out)
        return DAFT_EINVAL;
    if ((rc = std_mean_sq_diff("mse_loss", args, nargs, &m, out)))
        return rc;
    *out = daft_value_f64(m);
    return 0;
}

/* mse_loss kept a tensor: [mean((pred - target)^2)] as f32, where the inputs are. On a GPU it
 * is computed without waiting for the GPU (mse_loss returns a host f64, so it must wait):
 * a training step that reads its loss later, or never, does not stop its CPU each step. */
int daft_std_tensor_mse(DaftActorCtx *ctx, const DaftValue *args, int nargs, DaftValue *out)
{
    STD_GPU_DISPATCH("mse");
    DaftTensor *r;
    int64_t one[1] = { 1 };
    double m;
    int rc;
    (void)ctx;
    if (!out)
        return DAFT_EINVAL;
    if ((rc = std_mean_sq_diff("mse", args, nargs, &m, out)) ||
        (rc = std_new_tensor("mse", DAFT_RT_F32, 1, one, out, &r)))
        return rc;
    *(float *)r->data = (float)m;
    return 0;
}

int daft_std_tensor_mse_grad(DaftActorCtx *ctx, const DaftValue *args, int nargs,
                             DaftValue *out)
{
    STD_GPU_DISPATCH("mse_grad");
    static const char fn[] = "mse_grad";
    const DaftTensor *p, *t;
    DaftTensor *g;
    int64_t n;
    int rc;
    (void)ctx;
    if (!out)
        return DAFT_EINVAL;
    if ((rc = std_two_tensors(fn, args, nargs, &p, &t, &n, out)) ||
        (rc = std_new_like(fn, p, STD_DT_FLOAT, out, &g)))
        return rc;
    /* d/dp mean((p - t)^2) = 2 (p - t) / n, in f32 as the GPU kernel computes it */
    float scale = n > 0 ? (float)(2.0 / (double)n) : 0.0f;
    if (std_is_half(p->dtype)) {
        for (int64_t i = 0; i < n; i++)
            std_half_put(g, i, (std_half_get(p, i) - std_half_get(t, i)) * scale);
        return 0;
    }
    const float *P = p->data, *T = t->data;
    float *G = g->data;
    for (int64_t i = 0; i < n; i++)
        G[i] = (P[i] - T[i]) * scale;
    return 0;
}

int daft_std_tensor_sgd_update(DaftActorCtx *ctx, const DaftValue *args, int nargs,
                               DaftValue *out)
{
    STD_GPU_DISPATCH("sgd_update");
    static const char fn[] = "sgd_update";
    const DaftTensor *w, *g;
    DaftTensor *r;
    int64_t n;
    double lr;
    int rc;
    (void)ctx;
    if (!out)
        return DAFT_EINVAL;
    if ((rc = std_check_nargs(fn, args, nargs, 3, 3, out)) ||
        (rc = std_arg_tensor(fn, args, 0, &w, &n, out)) ||
        (rc = std_arg_tensor(fn, args, 1, &g, NULL, out)) ||
        (rc = std_arg_f64(fn, args, 2, &lr, out)) ||
        (rc = std_same_shape(fn, w, g, out)))
        return rc;
    if ((rc = std_new_like(fn, w, STD_DT_FLOAT, out, &r)))
        return rc;
    float l = (float)lr;
    if (std_is_half(w->dtype)) {
        for (int64_t i = 0; i < n; i++) {
            float step = l * std_half_get(g, i);
            std_half_put(r, i, std_half_get(w, i) - step);
        }
        return 0;
    }
    const float *W = w->data, *G = g->data;
    float *R = r->data;
    for (int64_t i = 0; i < n; i++)
        R[i] = W[i] - l * G[i];
    return 0;
}

/* ---------------------------------------------------------------- devices, metadata */

static int std_copy_op(const char *fn, const DaftValue *args, int nargs, DaftValue *out)
{
    const DaftTensor *a;
    int rc;
    if ((rc = std_one_tensor(fn, args, nargs, &a, NULL, out)))
        return rc;
    return std_copy_tensor(fn, a, out);
}

STD_ENTRY(to_cpu, STD_GPU_DISPATCH, std_copy_op(fn, args, nargs, out))

int daft_std_tensor_to_gpu(DaftActorCtx *ctx, const DaftValue *args, int nargs, DaftValue *out)
{
    if (!out)
        return DAFT_EINVAL;
    /* CPU-only mode must be asked for, never a silent fallback (DESIGN.md). */
    const char *dev = getenv("DAFT_DEVICE");
    if ((!dev || strcmp(dev, "cpu") != 0) && (daft_ctx_gpu(ctx) >= 0 || std_on_gpu(args, nargs)))
        return daft_rt_gpu_std("to_gpu", ctx, args, nargs, out);
    if (!dev || strcmp(dev, "cpu") != 0) {
        /* no GPU here: the GPU runtime says why ("no GPU: built without CUDA ..." in a build
         * without CUDA; in one with CUDA, that this process (the driver, a gpus = 0 actor)
         * has no GPU) */
        int rc = std_check_nargs("to_gpu", args, nargs, 1, 1, out);
        if (rc)
            return rc;
        return daft_rt_gpu_std("to_gpu", ctx, args, nargs, out);
    }
    return std_copy_op("to_gpu", args, nargs, out);
}

int daft_std_tensor_shape(DaftActorCtx *ctx, const DaftValue *args, int nargs, DaftValue *out)
{
    static const char fn[] = "shape";
    const DaftTensor *a;
    int rc;
    (void)ctx;
    if (!out)
        return DAFT_EINVAL;
    if ((rc = std_one_tensor(fn, args, nargs, &a, NULL, out)))
        return rc;
    DaftValue l = daft_value_list((size_t)a->rank);
    if (l.kind != DAFT_V_LIST || (a->rank > 0 && !l.as.list.items)) {
        daft_value_free(&l);
        return std_fail_nomem(out, fn, (size_t)a->rank * sizeof(DaftValue));
    }
    for (int i = 0; i < a->rank; i++)
        l.as.list.items[i] = daft_value_i64(a->dims[i]);
    *out = l;
    return 0;
}

int daft_std_tensor_numel(DaftActorCtx *ctx, const DaftValue *args, int nargs, DaftValue *out)
{
    static const char fn[] = "numel";
    const DaftTensor *a;
    int64_t n;
    int rc;
    (void)ctx;
    if (!out)
        return DAFT_EINVAL;
    if ((rc = std_one_tensor(fn, args, nargs, &a, &n, out)))
        return rc;
    *out = daft_value_i64(n);
    return 0;
}

int daft_std_tensor_dtype(DaftActorCtx *ctx, const DaftValue *args, int nargs, DaftValue *out)
{
    static const char fn[] = "dtype";
    const DaftTensor *a;
    int rc;
    (void)ctx;
    if (!out)
        return DAFT_EINVAL;
    if ((rc = std_one_tensor(fn, args, nargs, &a, NULL, out)))
        return rc;
    DaftValue s = daft_value_str(std_dtype_name(a->dtype));
    if (s.kind != DAFT_V_STR || !s.as.str.ptr) {
        daft_value_free(&s);
        return std_fail_nomem(out, fn, 4);
    }
    *out = s;
    return 0;
}

/* relu_backward(y, gy): gy where y > 0, else 0. y may be the ReLU's input or its output:
 * both are > 0 at exactly the same elements. */
int daft_std_tensor_relu_backward(DaftActorCtx *ctx, const DaftValue *args, int nargs,
                                  DaftValue *out)
{
    STD_GPU_DISPATCH("relu_backward");
    static const char fn[] = "relu_backward";
    const DaftTensor *y, *gy;
    DaftTensor *g;
    int64_t n;
    int rc;
    (void)ctx;
    if (!out)
        return DAFT_EINVAL;
    if ((rc = std_two_tensors(fn, args, nargs, &y, &gy, &n, out)) ||
        (rc = std_new_like(fn, y, STD_DT_ARITH, out, &g)))
        return rc;
    for (int64_t i = 0; i < n; i++) {
        switch (y->dtype) {
        case DAFT_RT_F32:
            ((float *)g->data)[i] =
                ((const float *)y->data)[i] > 0.0f ? ((const float *)gy->data)[i] : 0.0f;
            break;
        case DAFT_RT_BF16:
        case DAFT_RT_F16:
            ((uint16_t *)g->data)[i] = std_half_get(y, i) > 0.0f ? ((const uint16_t *)gy->data)[i] : 0;
            break;
        case DAFT_RT_I32:
            ((int32_t *)g->data)[i] =
                ((const int32_t *)y->data)[i] > 0 ? ((const int32_t *)gy->data)[i] : 0;
            break;
        default:
            ((int64_t *)g->data)[i] =
                ((const int64_t *)y->data)[i] > 0 ? ((const int64_t *)gy->data)[i] : 0;
            break;
        }
    }
    return 0;
}
