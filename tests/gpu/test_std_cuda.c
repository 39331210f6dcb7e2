/* test_std_cuda.c — every GPU std.tensor operation (stdlib/cuda/std_cuda.h) against the CPU
 * library (libdaftstd, include/daft/std.h) on the same inputs.
 *
 * Plain C, no cmocka (the GPU machine has none): each check prints a line on failure, the
 * run ends with "test_std_cuda: N checks, F failures" and exits 1 if any failed, 2 if CUDA
 * itself broke. Bit-for-bit where std_cuda.h promises it (randn, rand, elementwise, slice,
 * concat, integer matmul, ...); to a rounding tolerance for f32 matmul and the double sums.
 * Runs on GPU 0 (or $DAFT_TEST_GPU).
 */
#include <assert.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cuda_runtime_api.h>

#include "daft/std.h"
#include "daftrt.h"
#include "std_cuda.h"

static int g_checks, g_failures;
static cudaStream_t g_s;

#define CHECK(cond, ...)                                                                \
    do {                                                                                \
        g_checks++;                                                                     \
        if (!(cond)) {                                                                  \
            g_failures++;                                                               \
            fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);                        \
            fprintf(stderr, __VA_ARGS__);                                               \
            fputc('\n', stderr);                                                        \
        }                                                                               \
    } while (0)

#define CU(x)                                                                           \
    do {                                                                                \
        cudaError_t e_ = (x);                                                           \
        if (e_ != cudaSuccess) {                                                        \
            fprintf(stderr, "CUDA error %s (%s) at %s:%d\n", cudaGetErrorName(e_),     \
                    cudaGetErrorString(e_), __FILE__, __LINE__);                        \
            exit(2);                                                                    \
        }                                                                               \
    } while (0)

#define SC(x)                                                                           \
    do {                                                                                \
        int r_ = (x);                                                                   \
        if (r_) {                                                                       \
            fprintf(stderr, "std_cuda error %d: %s at %s:%d\n", r_,                     \
                    std_cuda_last_error(), __FILE__, __LINE__);                         \
            exit(2);                                                                    \
        }                                                                               \
    } while (0)

/* ---------------------------------------------------------------- helpers */

static DaftValue shape_v(int rank, const int64_t *dims)
{
    DaftValue l = daft_value_list((size_t)rank);
    for (int i = 0; i < rank; i++)
        l.as.list.items[i] = daft_value_i64(dims[i]);
    return l;
}

/* Calls a CPU std function; the call must succeed. */
static DaftValue cpu(DaftStdFnPtr fn, DaftValue *args, int nargs)
{
    DaftValue out;
    int rc = fn(NULL, args, nargs, &out);
    if (rc) {
        fprintf(stderr, "CPU std call failed: %s\n",
                out.kind == DAFT_V_ERROR ? out.as.error.msg : "?");
        exit(2);
    }
    return out;
}

static void free_args(DaftValue *args, int n)
{
    for (int i = 0; i < n; i++)
        daft_value_free(&args[i]);
}

static size_t tbytes(const DaftTensor *t)
{
    return daft_tensor_nbytes(t);
}

static void *dev_from_host(const void *h, size_t bytes)
{
    void *d = NULL;
    SC(std_cuda_alloc(&d, bytes ? bytes : 1));
    if (bytes)
        SC(std_cuda_to_gpu(d, h, bytes, g_s));
    return d;
}

static void *host_from_dev(const void *d, size_t bytes)
{
    void *h = malloc(bytes ? bytes : 1);
    assert(h);
    if (bytes)
        SC(std_cuda_to_cpu(h, d, bytes, g_s));
    SC(std_cuda_stream_sync(g_s));
    return h;
}

static void *dev_alloc(size_t bytes)
{
    void *d = NULL;
    SC(std_cuda_alloc(&d, bytes ? bytes : 1));
    return d;
}

/* Whether the element at p (of a floating dtype) is a NaN. */
static bool is_nan_elem(DaftRtDtype dt, const unsigned char *p)
{
    uint32_t u;
    uint16_t h;
    switch (dt) {
    case DAFT_RT_F32: memcpy(&u, p, 4); return (u & 0x7FFFFFFFu) > 0x7F800000u;
    case DAFT_RT_BF16: memcpy(&h, p, 2); return (h & 0x7FFFu) > 0x7F80u;
    case DAFT_RT_F16: memcpy(&h, p, 2); return (h & 0x7FFFu) > 0x7C00u;
    default: return false;
    }
}

/* Compares the GPU result in device memory with a CPU tensor, byte for byte; with
 * any_nan, two NaNs (f32, bf16, f16) match whatever their payloads and signs (arithmetic
 * on a NaN gives the GPU's canonical NaN 0x7FFFFFFF where x86 keeps the operand's payload,
 * or gives its default NaN 0xFFC00000 for inf - inf; bf16 / f16 results inherit that). */
static void expect_bytes(const char *what, const void *dev, const DaftTensor *t, bool any_nan)
{
    size_t es = daft_rt_dtype_size(t->dtype), nb = tbytes(t);
    unsigned char *h = host_from_dev(dev, nb);
    const unsigned char *c = t->data;
    size_t bad = 0, first = (size_t)-1;
    for (size_t i = 0; i < nb / es; i++)
        if (memcmp(h + i * es, c + i * es, es) &&
            !(any_nan && is_nan_elem(t->dtype, h + i * es) && is_nan_elem(t->dtype, c + i * es))) {
            if (!bad)
                first = i;
            bad++;
        }
    if (bad) {
        uint64_t g = 0, c = 0;
        memcpy(&g, h + first * es, es);
        memcpy(&c, (const unsigned char *)t->data + first * es, es);
        CHECK(0, "%s: %zu of %zu elements differ; first at %zu: gpu 0x%llx cpu 0x%llx", what,
              bad, nb / es, first, (unsigned long long)g, (unsigned long long)c);
    } else {
        CHECK(1, "%s", what);
    }
    free(h);
}

static void expect_same_bytes(const char *what, const void *dev, const DaftTensor *t)
{
    expect_bytes(what, dev, t, false);
}

/* f32 results within |gpu - cpu| <= rtol * (rms(cpu) + |cpu|): the error of an fp32 dot
 * product scales with the size of its terms, which the result's RMS stands for. */
static void expect_close_f32(const char *what, const void *dev, const DaftTensor *t,
                             double rtol)
{
    size_t n = tbytes(t) / 4;
    float *h = host_from_dev(dev, n * 4);
    const float *c = t->data;
    size_t bad = 0, first = 0;
    double worst = 0.0, rms = 0.0;
    for (size_t i = 0; i < n; i++)
        rms += (double)c[i] * c[i];
    rms = n ? sqrt(rms / (double)n) : 0.0;
    if (rms < 1e-30)
        rms = 1.0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)h[i] - (double)c[i]) / (rms + fabs((double)c[i]));
        if (!(d <= rtol)) {
            if (!bad)
                first = i;
            bad++;
        }
        if (d > worst)
            worst = d;
    }
    CHECK(!bad, "%s: %zu of %zu elements off by more than %g (worst %g); first at %zu: gpu %.9g cpu %.9g",
          what, bad, n, rtol, worst, first, bad ? h[first] : 0.0, bad ? c[first] : 0.0);
    free(h);
}

/* ---- bf16 / f16 on the host (exact conversions; only for building inputs and tolerances) */

static float half_to_f32(DaftRtDtype dt, uint16_t h)
{
    uint32_t u;
    float f;
    if (dt == DAFT_RT_BF16) {
        u = (uint32_t)h << 16;
        memcpy(&f, &u, 4);
        return f;
    }
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16, exp = (h >> 10) & 0x1Fu, mant = h & 0x3FFu;
    if (exp == 0) {
        f = ldexpf((float)mant, -24);
        return sign ? -f : f;
    }
    u = sign | (exp == 31 ? 0x7F800000u | (mant << 13) : ((exp + 112u) << 23) | (mant << 13));
    memcpy(&f, &u, 4);
    return f;
}

/* f of a value exactly representable in dt (a normal number or zero), no rounding. */
static uint16_t f32_to_half_exact(DaftRtDtype dt, float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    if (dt == DAFT_RT_BF16)
        return (uint16_t)(u >> 16);
    uint32_t sign = (u >> 16) & 0x8000u, mag = u & 0x7FFFFFFFu;
    if (mag == 0)
        return (uint16_t)sign;
    uint32_t exp = (mag >> 23) - 112u, mant = (mag >> 13) & 0x3FFu;
    return (uint16_t)(sign | (exp << 10) | mant);
}

/* Element i of a floating tensor as a double. */
static double elem_f64(DaftRtDtype dt, const void *data, int64_t i)
{
    if (dt == DAFT_RT_F32)
        return ((const float *)data)[i];
    return half_to_f32(dt, ((const uint16_t *)data)[i]);
}

/* The size of the sums a product accumulates: for C = op(A) op(B) (layouts as
 * std_cuda_gemm), mag[i,j] = sum_p |A(i,p)| |B(p,j)| / sqrt(k), the typical size of a
 * sum of k terms of random signs (0 for k = 0). malloc'd, m*n doubles. */
static double *gemm_mag(DaftRtDtype dt, int ta, int tb, int64_t m, int64_t n, int64_t k,
                        const void *a, const void *b)
{
    double *mag = calloc((size_t)(m * n) + 1, sizeof *mag);
    float *fa = malloc((size_t)(m * k) * 4 + 4), *fb = malloc((size_t)(k * n) * 4 + 4);
    assert(mag && fa && fb);
    for (int64_t i = 0; i < m * k; i++)
        fa[i] = fabsf((float)elem_f64(dt, a, i));
    for (int64_t i = 0; i < k * n; i++)
        fb[i] = fabsf((float)elem_f64(dt, b, i));
    double norm = k > 0 ? 1.0 / sqrt((double)k) : 0.0;
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < n; j++) {
            double acc = 0.0;
            for (int64_t p = 0; p < k; p++)
                acc += (double)(ta ? fa[p * m + i] : fa[i * k + p]) *
                       (double)(tb ? fb[j * k + p] : fb[p * n + j]);
            mag[i * n + j] = acc * norm;
        }
    free(fa);
    free(fb);
    return mag;
}

/* bf16 / f16 products: |gpu - cpu| <= rtol * (|cpu| + mag[i]) with mag from gemm_mag.
 * Both sides sum exact products in f32 (in different orders) and round once to the
 * 16-bit type: the rounding may differ by one unit in the last place (2^-7 relative for
 * bf16, 2^-10 for f16: rtol ~1e-2 and ~2e-3 cover it), and the f32 sums by a part of the
 * summed magnitudes (where terms cancel, |cpu| alone would be too tight). */
static void expect_close_half(const char *what, const void *dev, const DaftTensor *t,
                              const double *mag, double rtol)
{
    size_t n = tbytes(t) / 2;
    uint16_t *h = host_from_dev(dev, n * 2);
    const uint16_t *c = t->data;
    size_t bad = 0, first = 0;
    double worst = 0.0;
    for (size_t i = 0; i < n; i++) {
        double g = half_to_f32(t->dtype, h[i]), r = half_to_f32(t->dtype, c[i]);
        double tol = rtol * (fabs(r) + mag[i]);
        double d = fabs(g - r);
        if (!(d <= tol)) {
            if (!bad)
                first = i;
            bad++;
        }
        if (tol > 0 && d / tol > worst)
            worst = d / tol;
    }
    CHECK(!bad, "%s: %zu of %zu elements off by more than %g (worst %.3g of the tolerance); "
          "first at %zu: gpu %.9g (0x%04x) cpu %.9g (0x%04x)", what, bad, n, rtol, worst, first,
          bad ? half_to_f32(t->dtype, h[first]) : 0.0, bad ? (unsigned)h[first] : 0u,
          bad ? half_to_f32(t->dtype, c[first]) : 0.0, bad ? (unsigned)c[first] : 0u);
    free(h);
}

static DaftValue cpu_random(bool normal, int rank, const int64_t *dims, int64_t seed,
                            const char *dt)
{
    DaftValue args[3] = { shape_v(rank, dims), daft_value_i64(seed), daft_value_str(dt) };
    DaftValue out = cpu(normal ? daft_std_tensor_randn : daft_std_tensor_rand, args, 3);
    free_args(args, 3);
    return out;
}

static DaftValue cpu_tensor(DaftRtDtype dt, int rank, const int64_t *dims, const void *data)
{
    return daft_value_tensor(dt, rank, dims, data);
}

/* Integers with wrap-provoking magnitudes, deterministic. */
static DaftValue int_tensor(DaftRtDtype dt, int rank, const int64_t *dims, uint64_t seed,
                            bool small)
{
    DaftValue v = daft_value_tensor(dt, rank, dims, NULL);
    DaftTensor *t = &v.as.tensor;
    int64_t n = daft_tensor_numel(t);
    uint64_t x = seed * 0x9E3779B97F4A7C15ull + 1;
    for (int64_t i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        int64_t val = small ? (int64_t)(x % 21) - 10 : (int64_t)x;
        if (dt == DAFT_RT_I32)
            ((int32_t *)t->data)[i] = (int32_t)(uint32_t)val;
        else
            ((int64_t *)t->data)[i] = val;
    }
    return v;
}

static const char *const dt_names[] = { "f32", "bf16", "f16", "i32", "i64" };

/* ---------------------------------------------------------------- tests */

static void test_random(void)
{
    static const int64_t seeds[] = { 0, 1, -1, 42, 0x0123456789ABCDEFll, INT64_MIN };
    static const int64_t sizes[] = { 1, 2, 3, 5, 1001, (1 << 20) + 3 };
    for (int normal = 0; normal < 2; normal++)
        for (int dt = DAFT_RT_F32; dt <= DAFT_RT_F16; dt++)
            for (size_t si = 0; si < sizeof seeds / sizeof *seeds; si++)
                for (size_t ni = 0; ni < sizeof sizes / sizeof *sizes; ni++) {
                    int64_t n = sizes[ni];
                    DaftValue c = cpu_random(normal, 1, &n, seeds[si], dt_names[dt]);
                    void *d = dev_alloc(tbytes(&c.as.tensor));
                    if (normal)
                        SC(std_cuda_randn(d, (DaftRtDtype)dt, n, seeds[si], g_s));
                    else
                        SC(std_cuda_rand(d, (DaftRtDtype)dt, n, seeds[si], g_s));
                    char what[128];
                    snprintf(what, sizeof what, "%s %s seed %lld n %lld",
                             normal ? "randn" : "rand", dt_names[dt], (long long)seeds[si],
                             (long long)n);
                    expect_same_bytes(what, d, &c.as.tensor);
                    SC(std_cuda_free(d));
                    daft_value_free(&c);
                }
    /* a 2-D shape is the same flat stream */
    int64_t dims[2] = { 256, 4096 };
    DaftValue c = cpu_random(true, 2, dims, 7, "f32");
    void *d = dev_alloc(tbytes(&c.as.tensor));
    SC(std_cuda_randn(d, DAFT_RT_F32, dims[0] * dims[1], 7, g_s));
    expect_same_bytes("randn f32 [256, 4096] seed 7", d, &c.as.tensor);
    SC(std_cuda_free(d));
    daft_value_free(&c);
    /* errors */
    CHECK(std_cuda_randn(NULL, DAFT_RT_I32, 4, 0, g_s) == STD_CUDA_EINVAL &&
              strstr(std_cuda_last_error(), "randn"),
          "randn i32 must fail with EINVAL: %s", std_cuda_last_error());
}

static void test_fill(void)
{
    int64_t dims[2] = { 3, 1027 };
    for (int dt = 0; dt < DAFT_RT_DTYPE_COUNT; dt++)
        for (int one = 0; one < 2; one++) {
            DaftValue args[2] = { shape_v(2, dims), daft_value_str(dt_names[dt]) };
            DaftValue c = cpu(one ? daft_std_tensor_ones : daft_std_tensor_zeros, args, 2);
            free_args(args, 2);
            void *d = dev_alloc(tbytes(&c.as.tensor));
            CU(cudaMemsetAsync(d, 0x5A, tbytes(&c.as.tensor), g_s));
            if (one)
                SC(std_cuda_ones(d, (DaftRtDtype)dt, dims[0] * dims[1], g_s));
            else
                SC(std_cuda_zeros(d, (DaftRtDtype)dt, dims[0] * dims[1], g_s));
            char what[64];
            snprintf(what, sizeof what, "%s %s", one ? "ones" : "zeros", dt_names[dt]);
            expect_same_bytes(what, d, &c.as.tensor);
            SC(std_cuda_free(d));
            daft_value_free(&c);
        }
}

static void test_matmul_f32(void)
{
    static const int64_t shapes[][3] = { { 1, 1, 1 },     { 3, 5, 7 },      { 64, 128, 32 },
                                         { 257, 129, 65 }, { 32, 4096, 512 }, { 256, 1024, 384 },
                                         { 4, 0, 3 } };
    for (size_t si = 0; si < sizeof shapes / sizeof *shapes; si++) {
        int64_t m = shapes[si][0], k = shapes[si][1], n = shapes[si][2];
        int64_t da[2] = { m, k }, db[2] = { k, n };
        DaftValue args[2] = { cpu_random(true, 2, da, 11 + (int64_t)si, "f32"),
                              cpu_random(true, 2, db, 99 + (int64_t)si, "f32") };
        DaftValue c = cpu(daft_std_tensor_matmul, args, 2);
        void *a = dev_from_host(args[0].as.tensor.data, tbytes(&args[0].as.tensor));
        void *b = dev_from_host(args[1].as.tensor.data, tbytes(&args[1].as.tensor));
        void *dc = dev_alloc(tbytes(&c.as.tensor));
        CU(cudaMemsetAsync(dc, 0x7F, tbytes(&c.as.tensor), g_s));
        SC(std_cuda_matmul(DAFT_RT_F32, m, k, n, a, b, dc, g_s));
        char what[96];
        snprintf(what, sizeof what, "matmul f32 [%lld,%lld]x[%lld,%lld]", (long long)m,
                 (long long)k, (long long)k, (long long)n);
        expect_close_f32(what, dc, &c.as.tensor, 2e-5);
        /* linear_forward is the same product */
        CU(cudaMemsetAsync(dc, 0, tbytes(&c.as.tensor), g_s));
        SC(std_cuda_linear_forward(DAFT_RT_F32, m, k, n, a, b, dc, g_s));
        DaftValue lf = cpu(daft_std_tensor_linear_forward, args, 2);
        snprintf(what, sizeof what, "linear_forward f32 b=%lld i=%lld o=%lld", (long long)m,
                 (long long)k, (long long)n);
        expect_close_f32(what, dc, &lf.as.tensor, 2e-5);
        daft_value_free(&lf);
        /* linear_backward with gy [m, n] */
        int64_t dg[2] = { m, n };
        DaftValue bargs[3] = { args[0], args[1], cpu_random(true, 2, dg, 5, "f32") };
        DaftValue grads = cpu(daft_std_tensor_linear_backward, bargs, 3);
        void *gy = dev_from_host(bargs[2].as.tensor.data, tbytes(&bargs[2].as.tensor));
        void *gx = dev_alloc((size_t)(m * k) * 4), *gw = dev_alloc((size_t)(k * n) * 4);
        SC(std_cuda_linear_backward(DAFT_RT_F32, m, k, n, a, b, gy, gx, gw, g_s));
        snprintf(what, sizeof what, "linear_backward f32 gx b=%lld i=%lld o=%lld", (long long)m,
                 (long long)k, (long long)n);
        expect_close_f32(what, gx, &grads.as.list.items[0].as.tensor, 2e-5);
        what[21] = 'w'; /* "gw" */
        what[20] = 'g';
        expect_close_f32(what, gw, &grads.as.list.items[1].as.tensor, 2e-5);
        daft_value_free(&bargs[2]);
        daft_value_free(&grads);
        SC(std_cuda_free(gy));
        SC(std_cuda_free(gx));
        SC(std_cuda_free(gw));
        SC(std_cuda_free(a));
        SC(std_cuda_free(b));
        SC(std_cuda_free(dc));
        daft_value_free(&c);
        free_args(args, 2);
    }
}

/* A dt (bf16 / f16) tensor of small integers in -8..8: products and their f32 sums stay
 * exact, so a product has one rounding (to dt) on both sides and must match bit for bit. */
static DaftValue small_int_half(DaftRtDtype dt, int rank, const int64_t *dims, uint64_t seed)
{
    DaftValue v = daft_value_tensor(dt, rank, dims, NULL);
    int64_t n = daft_tensor_numel(&v.as.tensor);
    uint64_t x = seed * 0x9E3779B97F4A7C15ull + 1;
    for (int64_t i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        ((uint16_t *)v.as.tensor.data)[i] = f32_to_half_exact(dt, (float)((int)(x % 17) - 8));
    }
    return v;
}

/* matmul and linear_backward of args = {a [m, k], b [k, n], gy [m, n]} on the GPU equal the
 * CPU's bit for bit (integer dtypes; bf16 / f16 where every sum is exact in f32). */
static void expect_gemms_exact(DaftRtDtype dt, DaftValue *args, const char *label)
{
    int64_t m = args[0].as.tensor.dims[0], k = args[0].as.tensor.dims[1], n = args[1].as.tensor.dims[1];
    size_t es = daft_rt_dtype_size(dt);
    DaftValue c = cpu(daft_std_tensor_matmul, args, 2);
    void *a = dev_from_host(args[0].as.tensor.data, tbytes(&args[0].as.tensor));
    void *b = dev_from_host(args[1].as.tensor.data, tbytes(&args[1].as.tensor));
    void *gy = dev_from_host(args[2].as.tensor.data, tbytes(&args[2].as.tensor));
    void *dc = dev_alloc(tbytes(&c.as.tensor));
    SC(std_cuda_matmul(dt, m, k, n, a, b, dc, g_s));
    char what[80];
    snprintf(what, sizeof what, "matmul %s%s", dt_names[dt], label);
    expect_same_bytes(what, dc, &c.as.tensor);
    DaftValue grads = cpu(daft_std_tensor_linear_backward, args, 3);
    void *gx = dev_alloc((size_t)(m * k) * es), *gw = dev_alloc((size_t)(k * n) * es);
    SC(std_cuda_linear_backward(dt, m, k, n, a, b, gy, gx, gw, g_s));
    snprintf(what, sizeof what, "linear_backward %s gx%s", dt_names[dt], label);
    expect_same_bytes(what, gx, &grads.as.list.items[0].as.tensor);
    snprintf(what, sizeof what, "linear_backward %s gw%s", dt_names[dt], label);
    expect_same_bytes(what, gw, &grads.as.list.items[1].as.tensor);
    daft_value_free(&grads);
    daft_value_free(&c);
    SC(std_cuda_free(a));
    SC(std_cuda_free(b));
    SC(std_cuda_free(gy));
    SC(std_cuda_free(dc));
    SC(std_cuda_free(gx));
    SC(std_cuda_free(gw));
}

/* bf16 / f16 matmul, linear_forward, linear_backward: randn inputs against the CPU within a
 * tolerance (expect_close_half), small-integer inputs bit for bit. */
static void test_matmul_half(void)
{
    static const int64_t shapes[][3] = { { 1, 1, 1 },     { 3, 5, 7 },      { 64, 128, 32 },
                                         { 257, 129, 65 }, { 32, 4096, 512 }, { 256, 1024, 384 },
                                         { 4, 0, 3 } };
    for (int dti = DAFT_RT_BF16; dti <= DAFT_RT_F16; dti++) {
        DaftRtDtype dt = (DaftRtDtype)dti;
        double rtol = dt == DAFT_RT_BF16 ? 1e-2 : 2e-3;
        for (size_t si = 0; si < sizeof shapes / sizeof *shapes; si++) {
            int64_t m = shapes[si][0], k = shapes[si][1], n = shapes[si][2];
            int64_t da[2] = { m, k }, db[2] = { k, n }, dg[2] = { m, n };
            DaftValue args[3] = { cpu_random(true, 2, da, 11 + (int64_t)si, dt_names[dt]),
                                  cpu_random(true, 2, db, 99 + (int64_t)si, dt_names[dt]),
                                  cpu_random(true, 2, dg, 5, dt_names[dt]) };
            const void *ha = args[0].as.tensor.data, *hb = args[1].as.tensor.data,
                       *hg = args[2].as.tensor.data;
            DaftValue c = cpu(daft_std_tensor_matmul, args, 2);
            void *a = dev_from_host(ha, tbytes(&args[0].as.tensor));
            void *b = dev_from_host(hb, tbytes(&args[1].as.tensor));
            void *gy = dev_from_host(hg, tbytes(&args[2].as.tensor));
            void *dc = dev_alloc(tbytes(&c.as.tensor));
            CU(cudaMemsetAsync(dc, 0x7F, tbytes(&c.as.tensor), g_s));
            SC(std_cuda_matmul(dt, m, k, n, a, b, dc, g_s));
            double *mag = gemm_mag(dt, 0, 0, m, n, k, ha, hb);
            char what[112];
            snprintf(what, sizeof what, "matmul %s [%lld,%lld]x[%lld,%lld]", dt_names[dt],
                     (long long)m, (long long)k, (long long)k, (long long)n);
            expect_close_half(what, dc, &c.as.tensor, mag, rtol);
            CU(cudaMemsetAsync(dc, 0, tbytes(&c.as.tensor), g_s));
            SC(std_cuda_linear_forward(dt, m, k, n, a, b, dc, g_s));
            DaftValue lf = cpu(daft_std_tensor_linear_forward, args, 2);
            snprintf(what, sizeof what, "linear_forward %s b=%lld i=%lld o=%lld", dt_names[dt],
                     (long long)m, (long long)k, (long long)n);
            expect_close_half(what, dc, &lf.as.tensor, mag, rtol);
            daft_value_free(&lf);
            free(mag);
            /* linear_backward: gx = gy [m,n] @ w^T, gw = x^T @ gy */
            DaftValue grads = cpu(daft_std_tensor_linear_backward, args, 3);
            void *gx = dev_alloc((size_t)(m * k) * 2), *gw = dev_alloc((size_t)(k * n) * 2);
            SC(std_cuda_linear_backward(dt, m, k, n, a, b, gy, gx, gw, g_s));
            mag = gemm_mag(dt, 0, 1, m, k, n, hg, hb);
            snprintf(what, sizeof what, "linear_backward %s gx b=%lld i=%lld o=%lld",
                     dt_names[dt], (long long)m, (long long)k, (long long)n);
            expect_close_half(what, gx, &grads.as.list.items[0].as.tensor, mag, rtol);
            free(mag);
            mag = gemm_mag(dt, 1, 0, k, n, m, ha, hg);
            snprintf(what, sizeof what, "linear_backward %s gw b=%lld i=%lld o=%lld",
                     dt_names[dt], (long long)m, (long long)k, (long long)n);
            expect_close_half(what, gw, &grads.as.list.items[1].as.tensor, mag, rtol);
            free(mag);
            daft_value_free(&grads);
            daft_value_free(&c);
            free_args(args, 3);
            SC(std_cuda_free(a));
            SC(std_cuda_free(b));
            SC(std_cuda_free(gy));
            SC(std_cuda_free(dc));
            SC(std_cuda_free(gx));
            SC(std_cuda_free(gw));
        }
        /* exact: small integers (|sums| <= 53 * 64, exact in f32, rounded once to dt) */
        int64_t da[2] = { 37, 53 }, db[2] = { 53, 29 }, dg[2] = { 37, 29 };
        DaftValue args[3] = { small_int_half(dt, 2, da, 1), small_int_half(dt, 2, db, 2),
                              small_int_half(dt, 2, dg, 3) };
        expect_gemms_exact(dt, args, " small integers");
        free_args(args, 3);
    }
}

/* No TF32: A = diag(1 + 2^-20) times the identity must stay exact in fp32 (TF32 keeps
 * 10 mantissa bits and would give 1.0). */
static void test_no_tf32(void)
{
    const int64_t n = 512;
    float *a = calloc((size_t)(n * n), 4), *id = calloc((size_t)(n * n), 4);
    assert(a && id);
    for (int64_t i = 0; i < n; i++) {
        a[i * n + i] = 1.0f + 0x1p-20f;
        id[i * n + i] = 1.0f;
    }
    void *da = dev_from_host(a, (size_t)(n * n) * 4), *di = dev_from_host(id, (size_t)(n * n) * 4);
    void *dc = dev_alloc((size_t)(n * n) * 4);
    SC(std_cuda_matmul(DAFT_RT_F32, n, n, n, da, di, dc, g_s));
    float *c = host_from_dev(dc, (size_t)(n * n) * 4);
    CHECK(memcmp(a, c, (size_t)(n * n) * 4) == 0,
          "matmul must be exact fp32 (no TF32): c[0][0] = %.10g, expected %.10g", c[0], a[0]);
    free(a);
    free(id);
    free(c);
    SC(std_cuda_free(da));
    SC(std_cuda_free(di));
    SC(std_cuda_free(dc));
}

static void test_matmul_int(void)
{
    for (int dt = DAFT_RT_I32; dt <= DAFT_RT_I64; dt++)
        for (int small = 0; small < 2; small++) {
            int64_t m = 37, k = 53, n = 29;
            int64_t da[2] = { m, k }, db[2] = { k, n }, dg[2] = { m, n };
            DaftValue args[3] = { int_tensor((DaftRtDtype)dt, 2, da, 1, small),
                                  int_tensor((DaftRtDtype)dt, 2, db, 2, small),
                                  int_tensor((DaftRtDtype)dt, 2, dg, 3, small) };
            expect_gemms_exact((DaftRtDtype)dt, args, small ? " small" : " wrap");
            free_args(args, 3);
        }
}

/* A tensor of dt with the given flat length: randn for f32, bf16, f16 (with specials),
 * ints else. */
static DaftValue some_tensor(DaftRtDtype dt, int64_t n, int64_t seed, bool specials)
{
    if (dt == DAFT_RT_BF16 || dt == DAFT_RT_F16) {
        DaftValue v = cpu_random(true, 1, &n, seed, dt_names[dt]);
        uint16_t *h = v.as.tensor.data;
        bool bf = dt == DAFT_RT_BF16;
        if (specials && n >= 8) {
            h[0] = bf ? 0x7FC0 : 0x7E00; /* NaN */
            h[1] = 0x8000;               /* -0 */
            h[2] = bf ? 0x7F80 : 0x7C00; /* inf */
            h[3] = bf ? 0xFF80 : 0xFC00; /* -inf */
            h[4] = 0x0000;
            h[5] = 0x0001; /* smallest subnormal */
            h[6] = 0x8001;
            h[7] = bf ? 0xFFA1 : 0xFD01; /* negative signalling NaN with a payload */
        }
        return v;
    }
    if (dt == DAFT_RT_F32) {
        DaftValue v = cpu_random(true, 1, &n, seed, "f32");
        float *f = v.as.tensor.data;
        if (specials && n >= 8) {
            f[0] = NAN;
            f[1] = -0.0f;
            f[2] = INFINITY;
            f[3] = -INFINITY;
            f[4] = 0.0f;
            f[5] = 1e-40f; /* subnormal */
            f[6] = -1e-40f;
        }
        return v;
    }
    return int_tensor(dt, 1, &n, (uint64_t)seed, false);
}

static void test_elementwise(void)
{
    static const DaftRtDtype dts[] = { DAFT_RT_F32, DAFT_RT_BF16, DAFT_RT_F16, DAFT_RT_I32,
                                       DAFT_RT_I64 };
    static const int64_t sizes[] = { 1, 7, 4096, 1000003 };
    for (size_t di = 0; di < sizeof dts / sizeof *dts; di++)
        for (size_t ni = 0; ni < sizeof sizes / sizeof *sizes; ni++) {
            DaftRtDtype dt = dts[di];
            int64_t n = sizes[ni];
            DaftValue a = some_tensor(dt, n, 1, true), b = some_tensor(dt, n, 2, false);
            size_t nb = tbytes(&a.as.tensor);
            void *da = dev_from_host(a.as.tensor.data, nb), *db = dev_from_host(b.as.tensor.data, nb);
            void *dc = dev_alloc(nb);
            char what[96];
            for (int op = 0; op < 2; op++) {
                DaftValue args[2] = { a, b };
                DaftValue c = cpu(op ? daft_std_tensor_mul : daft_std_tensor_add, args, 2);
                SC(std_cuda_binop((StdCudaBinop)op, dt, n, da, db, dc, g_s));
                snprintf(what, sizeof what, "%s %s n %lld", op ? "mul" : "add", dt_names[dt],
                         (long long)n);
                expect_bytes(what, dc, &c.as.tensor, true);
                daft_value_free(&c);
                /* scalar on either side: i64 (and f64 for the floating dtypes; 0.1 is
                 * rounded to f32 first) */
                bool isf = dt == DAFT_RT_F32 || dt == DAFT_RT_BF16 || dt == DAFT_RT_F16;
                for (int sk = 0; sk < (isf ? 3 : 1); sk++) {
                    DaftValue sc = sk == 2   ? daft_value_f64(0.1)
                                   : sk == 1 ? daft_value_f64(-0.3125)
                                             : daft_value_i64(-3000000007ll);
                    DaftValue sargs[2] = { sc, a };
                    c = cpu(op ? daft_std_tensor_mul : daft_std_tensor_add, sargs, 2);
                    double sf = sk ? sc.as.f64 : (double)sc.as.i64;
                    int64_t si = sk ? 0 : sc.as.i64;
                    SC(std_cuda_binop_scalar((StdCudaBinop)op, dt, n, da, sf, si, dc, g_s));
                    snprintf(what, sizeof what, "%s %s scalar %s n %lld", op ? "mul" : "add",
                             dt_names[dt], sk == 2 ? "f64 0.1" : sk ? "f64" : "i64",
                             (long long)n);
                    expect_bytes(what, dc, &c.as.tensor, true);
                    daft_value_free(&c);
                }
            }
            /* relu (also in place) */
            DaftValue c = cpu(daft_std_tensor_relu, &a, 1);
            SC(std_cuda_relu(dt, n, da, dc, g_s));
            snprintf(what, sizeof what, "relu %s n %lld", dt_names[dt], (long long)n);
            expect_same_bytes(what, dc, &c.as.tensor);
            /* relu_backward(y, gy) */
            DaftValue rargs[2] = { a, b };
            DaftValue g = cpu(daft_std_tensor_relu_backward, rargs, 2);
            SC(std_cuda_relu_backward(dt, n, da, db, dc, g_s));
            snprintf(what, sizeof what, "relu_backward %s n %lld", dt_names[dt], (long long)n);
            expect_same_bytes(what, dc, &g.as.tensor);
            if (n > 8) { /* on pointers one element in (n - 4 keeps n % 4): the scalar path */
                size_t es = daft_rt_dtype_size(dt);
                DaftTensor part = g.as.tensor;
                part.data = (char *)part.data + es;
                part.dims[0] = n - 4;
                SC(std_cuda_relu_backward(dt, n - 4, (char *)da + es, (char *)db + es,
                                          (char *)dc + es, g_s));
                snprintf(what, sizeof what, "relu_backward unaligned %s n %lld", dt_names[dt],
                         (long long)n);
                expect_same_bytes(what, (char *)dc + es, &part);
            }
            daft_value_free(&g);
            /* relu in place on an offset (unaligned) pointer: the scalar path */
            if (n > 8) {
                SC(std_cuda_relu(dt, n - 1, (char *)da + daft_rt_dtype_size(dt),
                                 (char *)da + daft_rt_dtype_size(dt), g_s));
                SC(std_cuda_relu(dt, 1, da, da, g_s));
                snprintf(what, sizeof what, "relu in place unaligned %s n %lld", dt_names[dt],
                         (long long)n);
                expect_same_bytes(what, da, &c.as.tensor);
            }
            daft_value_free(&c);
            daft_value_free(&a);
            daft_value_free(&b);
            SC(std_cuda_free(da));
            SC(std_cuda_free(db));
            SC(std_cuda_free(dc));
        }
    /* what stays unsupported */
    CHECK(std_cuda_relu((DaftRtDtype)DAFT_RT_DTYPE_COUNT, 4, (void *)16, (void *)16, g_s) ==
              STD_CUDA_EINVAL,
          "relu of an invalid dtype must fail");
    CHECK(std_cuda_mse_grad(DAFT_RT_I32, 4, (void *)16, (void *)16, (void *)16, g_s) ==
                  STD_CUDA_EINVAL && strstr(std_cuda_last_error(), "mse_grad"),
          "mse_grad i32 must fail with EINVAL: %s", std_cuda_last_error());
    CHECK(std_cuda_sgd_update(DAFT_RT_I64, 4, (void *)16, (void *)16, 0.1, (void *)16, g_s) ==
                  STD_CUDA_EINVAL && strstr(std_cuda_last_error(), "sgd_update"),
          "sgd_update i64 must fail with EINVAL: %s", std_cuda_last_error());
}

static void test_reductions(void)
{
    static const int64_t sizes[] = { 0, 1, 3, 1000, 1 << 22 };
    for (int dt = 0; dt < DAFT_RT_DTYPE_COUNT; dt++)
        for (size_t ni = 0; ni < sizeof sizes / sizeof *sizes; ni++) {
            int64_t n = sizes[ni];
            DaftValue a;
            if (dt <= DAFT_RT_F16)
                a = cpu_random(true, 1, &n, 3, dt_names[dt]);
            else
                a = int_tensor((DaftRtDtype)dt, 1, &n, 9, n < 1000); /* i64 sums exact */
            if (dt == DAFT_RT_I64 && n >= 1000) { /* keep i64 within 2^53 so sums are exact */
                for (int64_t i = 0; i < n; i++)
                    ((int64_t *)a.as.tensor.data)[i] >>= 30;
            }
            DaftValue c = cpu(daft_std_tensor_sum, &a, 1);
            void *da = dev_from_host(a.as.tensor.data, tbytes(&a.as.tensor));
            double g = 0.0, mag = 0.0;
            SC(std_cuda_sum_sync((DaftRtDtype)dt, n, da, &g, g_s));
            for (int64_t i = 0; i < n && dt == DAFT_RT_F32; i++)
                mag += fabs(((float *)a.as.tensor.data)[i]);
            double tol = dt == DAFT_RT_F32 ? 1e-12 * (mag + 1.0) : 1e-9 * (fabs(c.as.f64) + 1.0);
            CHECK(fabs(g - c.as.f64) <= tol, "sum %s n %lld: gpu %.17g cpu %.17g", dt_names[dt],
                  (long long)n, g, c.as.f64);
            daft_value_free(&c);
            /* mse_loss(p, t) against a second tensor */
            if (n > 0) {
                bool isf = dt <= DAFT_RT_F16;
                DaftValue t = isf ? cpu_random(false, 1, &n, 4, dt_names[dt])
                                  : int_tensor((DaftRtDtype)dt, 1, &n, 10, true);
                if (!isf) /* small values: squares exact in double */
                    for (int64_t i = 0; i < n; i++) {
                        if (dt == DAFT_RT_I32)
                            ((int32_t *)a.as.tensor.data)[i] %= 1000;
                        else
                            ((int64_t *)a.as.tensor.data)[i] %= 1000;
                    }
                SC(std_cuda_to_gpu(da, a.as.tensor.data, tbytes(&a.as.tensor), g_s));
                DaftValue args[2] = { a, t };
                DaftValue l = cpu(daft_std_tensor_mse_loss, args, 2);
                void *dt_ = dev_from_host(t.as.tensor.data, tbytes(&t.as.tensor));
                SC(std_cuda_mse_loss_sync((DaftRtDtype)dt, n, da, dt_, &g, g_s));
                CHECK(fabs(g - l.as.f64) <= 1e-12 * (fabs(l.as.f64) + 1.0),
                      "mse_loss %s n %lld: gpu %.17g cpu %.17g", dt_names[dt], (long long)n, g,
                      l.as.f64);
                daft_value_free(&l);
                if (isf) {
                    DaftRtDtype fdt = (DaftRtDtype)dt;
                    DaftValue mg = cpu(daft_std_tensor_mse_grad, args, 2);
                    void *dg = dev_alloc(tbytes(&t.as.tensor));
                    SC(std_cuda_mse_grad(fdt, n, da, dt_, dg, g_s));
                    char what[64];
                    snprintf(what, sizeof what, "mse_grad %s n %lld", dt_names[dt], (long long)n);
                    expect_same_bytes(what, dg, &mg.as.tensor);
                    daft_value_free(&mg);
                    /* sgd_update(w = a, grad = t, lr), also in place */
                    DaftValue sargs[3] = { a, t, daft_value_f64(0.01) };
                    DaftValue w2 = cpu(daft_std_tensor_sgd_update, sargs, 3);
                    SC(std_cuda_sgd_update(fdt, n, da, dt_, 0.01, dg, g_s));
                    snprintf(what, sizeof what, "sgd_update %s n %lld", dt_names[dt], (long long)n);
                    expect_same_bytes(what, dg, &w2.as.tensor);
                    if (n > 8) { /* one element in (n - 4 keeps n % 4): the scalar path */
                        size_t es = daft_rt_dtype_size(fdt);
                        DaftTensor part = w2.as.tensor;
                        part.data = (char *)part.data + es;
                        part.dims[0] = n - 4;
                        SC(std_cuda_sgd_update(fdt, n - 4, (char *)da + es, (char *)dt_ + es, 0.01,
                                               (char *)dg + es, g_s));
                        snprintf(what, sizeof what, "sgd_update unaligned %s n %lld", dt_names[dt],
                                 (long long)n);
                        expect_same_bytes(what, (char *)dg + es, &part);
                    }
                    SC(std_cuda_sgd_update(fdt, n, da, dt_, 0.01, da, g_s));
                    snprintf(what, sizeof what, "sgd_update in place %s n %lld", dt_names[dt],
                             (long long)n);
                    expect_same_bytes(what, da, &w2.as.tensor);
                    daft_value_free(&w2);
                    SC(std_cuda_free(dg));
                }
                SC(std_cuda_free(dt_));
                daft_value_free(&t);
            }
            daft_value_free(&a);
            SC(std_cuda_free(da));
        }
    double r;
    CHECK(std_cuda_mse_loss_sync(DAFT_RT_F32, 0, NULL, NULL, &r, g_s) == STD_CUDA_EINVAL,
          "mse_loss of an empty tensor must fail");
}

static void test_slice_concat(void)
{
    static const int64_t dims[3] = { 5, 6, 7 };
    for (int dt = 0; dt < DAFT_RT_DTYPE_COUNT; dt++) {
        int64_t n = dims[0] * dims[1] * dims[2];
        DaftValue a = int_tensor(dt == DAFT_RT_I64 ? DAFT_RT_I64 : DAFT_RT_I32, 1, &n, 77, false);
        /* reinterpret the bytes as dt (same bytes on both sides) */
        DaftValue t = cpu_tensor((DaftRtDtype)dt, 3, dims, a.as.tensor.data);
        size_t nb = tbytes(&t.as.tensor);
        void *dsrc = dev_from_host(t.as.tensor.data, nb);
        void *ddst = dev_alloc(nb * 3);
        for (int dim = 0; dim < 3; dim++)
            for (int64_t start = 0; start <= dims[dim]; start += 2)
                for (int64_t end = start; end <= dims[dim]; end += 3) {
                    DaftValue args[4] = { t, daft_value_i64(dim - 3 * (dim & 1)),
                                          daft_value_i64(start), daft_value_i64(end) };
                    DaftValue c = cpu(daft_std_tensor_slice, args, 4);
                    SC(std_cuda_slice((DaftRtDtype)dt, 3, dims, dim, start, end, dsrc, ddst,
                                      g_s));
                    char what[96];
                    snprintf(what, sizeof what, "slice %s dim %d %lld..%lld", dt_names[dt], dim,
                             (long long)start, (long long)end);
                    expect_same_bytes(what, ddst, &c.as.tensor);
                    daft_value_free(&c);
                }
        /* concat of three slices of different lengths along each dim */
        for (int dim = 0; dim < 3; dim++) {
            int64_t len[3] = { 1, 0, dims[dim] - 1 };
            DaftValue list = daft_value_list(3);
            void *parts[3];
            int64_t pdims[3][3];
            const int64_t *pdp[3];
            const void *pp[3];
            int64_t off = 0;
            for (int k = 0; k < 3; k++) {
                DaftValue args[4] = { t, daft_value_i64(dim), daft_value_i64(off),
                                      daft_value_i64(off + len[k]) };
                list.as.list.items[k] = cpu(daft_std_tensor_slice, args, 4);
                memcpy(pdims[k], dims, sizeof pdims[k]);
                pdims[k][dim] = len[k];
                parts[k] = dev_from_host(list.as.list.items[k].as.tensor.data,
                                         tbytes(&list.as.list.items[k].as.tensor));
                pdp[k] = pdims[k];
                pp[k] = parts[k];
                off += len[k];
            }
            /* reversed order so the result differs from the source */
            const int64_t *rdp[3] = { pdp[2], pdp[1], pdp[0] };
            const void *rpp[3] = { pp[2], pp[1], pp[0] };
            DaftValue rl = daft_value_list(3);
            for (int k = 0; k < 3; k++)
                daft_value_copy(&rl.as.list.items[k], &list.as.list.items[2 - k]);
            DaftValue args[2] = { rl, daft_value_i64(dim) };
            DaftValue c = cpu(daft_std_tensor_concat, args, 2);
            SC(std_cuda_concat((DaftRtDtype)dt, 3, 3, rdp, rpp, dim, ddst, g_s));
            char what[64];
            snprintf(what, sizeof what, "concat %s dim %d", dt_names[dt], dim);
            expect_same_bytes(what, ddst, &c.as.tensor);
            daft_value_free(&c);
            daft_value_free(&rl);
            daft_value_free(&list);
            for (int k = 0; k < 3; k++)
                SC(std_cuda_free(parts[k]));
        }
        daft_value_free(&t);
        daft_value_free(&a);
        SC(std_cuda_free(dsrc));
        SC(std_cuda_free(ddst));
    }
}

static void test_copies(void)
{
    int64_t n = (1 << 20) + 5;
    DaftValue a = cpu_random(true, 1, &n, 123, "f32");
    void *d1 = dev_from_host(a.as.tensor.data, tbytes(&a.as.tensor));
    void *d2 = dev_alloc(tbytes(&a.as.tensor));
    SC(std_cuda_copy(d2, d1, tbytes(&a.as.tensor), g_s));
    expect_same_bytes("to_gpu, copy, to_cpu round trip", d2, &a.as.tensor);
    /* pinned host memory path */
    void *pinned;
    CU(cudaMallocHost(&pinned, tbytes(&a.as.tensor)));
    SC(std_cuda_to_cpu(pinned, d2, tbytes(&a.as.tensor), g_s));
    SC(std_cuda_stream_sync(g_s));
    CHECK(memcmp(pinned, a.as.tensor.data, tbytes(&a.as.tensor)) == 0, "to_cpu into pinned memory");
    CU(cudaFreeHost(pinned));
    SC(std_cuda_free(d1));
    SC(std_cuda_free(d2));
    daft_value_free(&a);
}

int main(void)
{
    int dev = getenv("DAFT_TEST_GPU") ? atoi(getenv("DAFT_TEST_GPU")) : 0;
    int count = 0;
    CU(cudaGetDeviceCount(&count));
    if (count < 1) {
        fprintf(stderr, "test_std_cuda: no GPU\n");
        return 2;
    }
    struct cudaDeviceProp prop;
    CU(cudaSetDevice(dev));
    CU(cudaGetDeviceProperties(&prop, dev));
    printf("test_std_cuda: GPU %d of %d: %s\n", dev, count, prop.name);
    CU(cudaStreamCreateWithFlags(&g_s, cudaStreamNonBlocking));
    struct { const char *name; void (*fn)(void); } tests[] = {
        { "random", test_random },         { "fill", test_fill },
        { "matmul_f32", test_matmul_f32 }, { "matmul_half", test_matmul_half },
        { "no_tf32", test_no_tf32 },
        { "matmul_int", test_matmul_int }, { "elementwise", test_elementwise },
        { "reductions", test_reductions }, { "slice_concat", test_slice_concat },
        { "copies", test_copies },
    };
    for (size_t i = 0; i < sizeof tests / sizeof *tests; i++) {
        int f0 = g_failures, c0 = g_checks;
        tests[i].fn();
        CU(cudaStreamSynchronize(g_s));
        CU(cudaGetLastError());
        printf("  %-14s %5d checks  %s\n", tests[i].name, g_checks - c0,
               g_failures == f0 ? "ok" : "FAILED");
    }
    std_cuda_thread_release();
    CU(cudaStreamDestroy(g_s));
    printf("test_std_cuda: %d checks, %d failures\n", g_checks, g_failures);
    return g_failures ? 1 : 0;
}
