/* std_cuda.cu — CUDA kernels and cuBLAS calls behind std_cuda.h (see there for the rules).
 *
 * Bit-exactness with the CPU library (stdlib/std_tensor.c, compiled -ffp-contract=off):
 * every f32 arithmetic step is written with __fadd_rn/__fsub_rn/__fmul_rn, which nvcc never
 * contracts into FMAs, and randn/rand use stdlib/std_rng.h unchanged (its STD_D* macros
 * map to __dadd_rn & co. in device code). The half conversions below repeat the CPU's bit
 * algorithms (std_f32_to_bf16, std_f32_to_f16) instruction for instruction.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <cublas_v2.h>
#include <cuda_runtime.h>

#include "std_cuda.h"
#include "../std_rng.h"

/* ---------------------------------------------------------------- errors */

static thread_local char std_cuda_err[512];

extern "C" const char *std_cuda_last_error(void)
{
    return std_cuda_err;
}

__attribute__((format(printf, 2, 3))) static int std_cuda_fail(int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(std_cuda_err, sizeof std_cuda_err, fmt, ap);
    va_end(ap);
    return code;
}

static int std_cuda_check(const char *fn, const char *what, cudaError_t e)
{
    if (e == cudaSuccess)
        return STD_CUDA_OK;
    return std_cuda_fail(e == cudaErrorMemoryAllocation ? STD_CUDA_ENOMEM : STD_CUDA_EDEVICE,
                         "%s: %s failed: %s (%s)", fn, what, cudaGetErrorName(e),
                         cudaGetErrorString(e));
}

static const char *std_cublas_name(cublasStatus_t st)
{
    switch (st) {
    case CUBLAS_STATUS_SUCCESS: return "CUBLAS_STATUS_SUCCESS";
    case CUBLAS_STATUS_NOT_INITIALIZED: return "CUBLAS_STATUS_NOT_INITIALIZED";
    case CUBLAS_STATUS_ALLOC_FAILED: return "CUBLAS_STATUS_ALLOC_FAILED";
    case CUBLAS_STATUS_INVALID_VALUE: return "CUBLAS_STATUS_INVALID_VALUE";
    case CUBLAS_STATUS_ARCH_MISMATCH: return "CUBLAS_STATUS_ARCH_MISMATCH";
    case CUBLAS_STATUS_MAPPING_ERROR: return "CUBLAS_STATUS_MAPPING_ERROR";
    case CUBLAS_STATUS_EXECUTION_FAILED: return "CUBLAS_STATUS_EXECUTION_FAILED";
    case CUBLAS_STATUS_INTERNAL_ERROR: return "CUBLAS_STATUS_INTERNAL_ERROR";
    case CUBLAS_STATUS_NOT_SUPPORTED: return "CUBLAS_STATUS_NOT_SUPPORTED";
    case CUBLAS_STATUS_LICENSE_ERROR: return "CUBLAS_STATUS_LICENSE_ERROR";
    default: return "CUBLAS_STATUS_UNKNOWN";
    }
}

/* After a kernel launch: launch-time errors (bad configuration, no device, ...). */
static int std_cuda_launched(const char *fn)
{
    return std_cuda_check(fn, "kernel launch", cudaGetLastError());
}

extern "C" size_t std_cuda_dtype_size(DaftRtDtype dt)
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

static const char *std_cuda_dtype_name(DaftRtDtype dt)
{
    static const char *const names[] = { "f32", "bf16", "f16", "i32", "i64" };
    return (unsigned)dt < 5u ? names[dt] : "invalid";
}

static int std_cuda_unsupported(const char *fn, DaftRtDtype dt)
{
    return std_cuda_fail(STD_CUDA_EINVAL, "%s: dtype %s is not supported", fn,
                         std_cuda_dtype_name(dt));
}

/* The floating dtypes (randn, rand, mse_grad, sgd_update). */
static int std_float_dtype(const char *fn, DaftRtDtype dt)
{
    if (dt != DAFT_RT_F32 && dt != DAFT_RT_BF16 && dt != DAFT_RT_F16)
        return std_cuda_fail(STD_CUDA_EINVAL, "%s: dtype must be f32, bf16 or f16, got %s", fn,
                             std_cuda_dtype_name(dt));
    return 0;
}

static int std_cuda_bad_n(const char *fn, int64_t n, const void *p)
{
    if (n < 0)
        return std_cuda_fail(STD_CUDA_EINVAL, "%s: negative element count %lld", fn,
                             (long long)n);
    if (n > 0 && !p)
        return std_cuda_fail(STD_CUDA_EINVAL, "%s: NULL device pointer", fn);
    return 0;
}

/* ---------------------------------------------------------------- launch geometry */

enum { STD_THREADS = 256 };

static unsigned std_blocks(int64_t work)
{
    int64_t b = (work + STD_THREADS - 1) / STD_THREADS;
    if (b < 1)
        b = 1;
    if (b > (1 << 20)) /* grid-stride loops cover the rest */
        b = 1 << 20;
    return (unsigned)b;
}

/* Can an f32 kernel take 4 elements a thread (float4 loads and stores): n a multiple of 4
 * and every pointer 16-byte aligned (pool allocations are; slices may not be)? */
static bool std_vec4(int64_t n, const void *a, const void *b, const void *c)
{
    return n % 4 == 0 && ((uintptr_t)a | (uintptr_t)b | (uintptr_t)c) % 16 == 0;
}

#define STD_GRID_LOOP(i, n)                                                             \
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < (n);          \
         i += (int64_t)gridDim.x * blockDim.x)

/* ---------------------------------------------------------------- half conversions */

__device__ __forceinline__ uint16_t std_d_f32_to_bf16(float f)
{
    uint32_t u = __float_as_uint(f);
    if ((u & 0x7FFFFFFFu) > 0x7F800000u)
        return (uint16_t)((u >> 16) | 0x40);
    u += 0x7FFFu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}

__device__ __forceinline__ uint16_t std_d_f32_to_f16(float f)
{
    uint32_t u = __float_as_uint(f);
    uint32_t sign = u & 0x80000000u;
    u ^= sign;
    uint16_t o;
    if (u >= (uint32_t)(127 + 16) << 23) {
        o = u > 0x7F800000u ? 0x7E00 : 0x7C00;
    } else if (u < (uint32_t)113 << 23) {
        float g = __fadd_rn(__uint_as_float(u), 0.5f);
        o = (uint16_t)(__float_as_uint(g) - 0x3F000000u);
    } else {
        uint32_t odd = (u >> 13) & 1u;
        u += 0xC8000FFFu + odd;
        o = (uint16_t)(u >> 13);
    }
    return (uint16_t)(o | (sign >> 16));
}

__device__ __forceinline__ float std_d_bf16_to_f32(uint16_t h)
{
    return __uint_as_float((uint32_t)h << 16);
}

__device__ __forceinline__ float std_d_f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1Fu, mant = h & 0x3FFu;
    if (exp == 0) {
        float f = __fmul_rn((float)mant, 0x1p-24f);
        return sign ? -f : f;
    }
    if (exp == 31)
        return __uint_as_float(sign | 0x7F800000u | (mant << 13));
    return __uint_as_float(sign | ((exp + 112u) << 23) | (mant << 13));
}

/* The same for a 16-bit dtype DT (DAFT_RT_BF16 or DAFT_RT_F16) known at compile time. */
template <int DT> __device__ __forceinline__ float std_d_half_to_f32(uint16_t h)
{
    return DT == DAFT_RT_BF16 ? std_d_bf16_to_f32(h) : std_d_f16_to_f32(h);
}

template <int DT> __device__ __forceinline__ uint16_t std_d_f32_to_half(float f)
{
    return DT == DAFT_RT_BF16 ? std_d_f32_to_bf16(f) : std_d_f32_to_f16(f);
}

__device__ __forceinline__ void std_d_store_float(void *dst, int dt, int64_t i, float x)
{
    if (dt == DAFT_RT_F32)
        ((float *)dst)[i] = x;
    else if (dt == DAFT_RT_BF16)
        ((uint16_t *)dst)[i] = std_d_f32_to_bf16(x);
    else
        ((uint16_t *)dst)[i] = std_d_f32_to_f16(x);
}

__device__ __forceinline__ double std_d_load(const void *p, int dt, int64_t i)
{
    switch (dt) {
    case DAFT_RT_F32: return (double)((const float *)p)[i];
    case DAFT_RT_BF16: return (double)std_d_bf16_to_f32(((const uint16_t *)p)[i]);
    case DAFT_RT_F16: return (double)std_d_f16_to_f32(((const uint16_t *)p)[i]);
    case DAFT_RT_I32: return (double)((const int32_t *)p)[i];
    default: return (double)((const int64_t *)p)[i];
    }
}

/* ---------------------------------------------------------------- memory and copies */

extern "C" int std_cuda_alloc(void **p, size_t bytes)
{
    if (!p)
        return std_cuda_fail(STD_CUDA_EINVAL, "alloc: NULL result pointer");
    *p = NULL;
    if (bytes == 0)
        return 0;
    return std_cuda_check("alloc", "cudaMalloc", cudaMalloc(p, bytes));
}

extern "C" int std_cuda_free(void *p)
{
    return p ? std_cuda_check("free", "cudaFree", cudaFree(p)) : 0;
}

static int std_copy(const char *fn, void *dst, const void *src, size_t bytes,
                    cudaMemcpyKind kind, cudaStream_t s)
{
    if (bytes == 0)
        return 0;
    if (!dst || !src)
        return std_cuda_fail(STD_CUDA_EINVAL, "%s: NULL pointer", fn);
    return std_cuda_check(fn, "cudaMemcpyAsync", cudaMemcpyAsync(dst, src, bytes, kind, s));
}

extern "C" int std_cuda_to_gpu(void *dst_dev, const void *src_host, size_t bytes,
                               cudaStream_t s)
{
    return std_copy("to_gpu", dst_dev, src_host, bytes, cudaMemcpyHostToDevice, s);
}

extern "C" int std_cuda_to_cpu(void *dst_host, const void *src_dev, size_t bytes,
                               cudaStream_t s)
{
    return std_copy("to_cpu", dst_host, src_dev, bytes, cudaMemcpyDeviceToHost, s);
}

extern "C" int std_cuda_copy(void *dst_dev, const void *src_dev, size_t bytes, cudaStream_t s)
{
    return std_copy("copy", dst_dev, src_dev, bytes, cudaMemcpyDeviceToDevice, s);
}

static StdCudaWait std_host_wait; /* set once per process, before any operation runs */

extern "C" void std_cuda_set_wait(StdCudaWait wait) { std_host_wait = wait; }

static int std_wait(const char *fn, cudaStream_t s)
{
    if (!std_host_wait)
        return std_cuda_check(fn, "cudaStreamSynchronize", cudaStreamSynchronize(s));
    char err[400];
    if (std_host_wait(s, err, sizeof err))
        return std_cuda_fail(STD_CUDA_EDEVICE, "%s: %s", fn, err);
    return STD_CUDA_OK;
}

extern "C" int std_cuda_stream_sync(cudaStream_t s)
{
    return std_wait("stream_sync", s);
}

/* ---------------------------------------------------------------- creation */

__global__ void std_k_randn(void *dst, int dt, int64_t n, uint32_t k0, uint32_t k1)
{
    const uint32_t key[2] = { k0, k1 };
    int64_t pairs = (n + 1) / 2;
    STD_GRID_LOOP(j, pairs)
    {
        float z0, z1;
        std_rng_normal_pair(key, (uint64_t)j, &z0, &z1);
        std_d_store_float(dst, dt, 2 * j, z0);
        if (2 * j + 1 < n)
            std_d_store_float(dst, dt, 2 * j + 1, z1);
    }
}

__global__ void std_k_rand(void *dst, int dt, int64_t n, uint32_t k0, uint32_t k1)
{
    const uint32_t key[2] = { k0, k1 };
    int64_t blocks = (n + 3) / 4;
    STD_GRID_LOOP(j, blocks)
    {
        uint32_t ctr[4] = { (uint32_t)(uint64_t)j, (uint32_t)((uint64_t)j >> 32), 0u, 0u };
        uint32_t x[4];
        std_philox4x32_10(ctr, key, x);
#pragma unroll
        for (int e = 0; e < 4; e++) {
            int64_t i = 4 * j + e;
            if (i >= n)
                continue;
            /* same value as std_rng_uniform(key, i); in bf16 / f16 never rounded up to 1 */
            float v = __fmul_rn((float)(x[e] >> 8), 0x1p-24f);
            if (dt == DAFT_RT_F32)
                ((float *)dst)[i] = v;
            else if (dt == DAFT_RT_BF16)
                ((uint16_t *)dst)[i] = std_rng_uniform_half(std_d_f32_to_bf16(v), 1);
            else
                ((uint16_t *)dst)[i] = std_rng_uniform_half(std_d_f32_to_f16(v), 0);
        }
    }
}

static int std_random(const char *fn, bool normal, void *dst, DaftRtDtype dt, int64_t n,
                      int64_t seed, cudaStream_t s)
{
    int rc;
    if ((rc = std_cuda_bad_n(fn, n, dst)))
        return rc;
    if ((rc = std_float_dtype(fn, dt)))
        return rc;
    if (n == 0)
        return 0;
    uint32_t key[2];
    std_rng_key(seed, key);
    if (normal)
        std_k_randn<<<std_blocks((n + 1) / 2), STD_THREADS, 0, s>>>(dst, dt, n, key[0], key[1]);
    else
        std_k_rand<<<std_blocks((n + 3) / 4), STD_THREADS, 0, s>>>(dst, dt, n, key[0], key[1]);
    return std_cuda_launched(fn);
}

extern "C" int std_cuda_randn(void *dst, DaftRtDtype dt, int64_t n, int64_t seed,
                              cudaStream_t s)
{
    return std_random("randn", true, dst, dt, n, seed, s);
}

extern "C" int std_cuda_rand(void *dst, DaftRtDtype dt, int64_t n, int64_t seed,
                             cudaStream_t s)
{
    return std_random("rand", false, dst, dt, n, seed, s);
}

template <typename T> __global__ void std_k_fill(T *dst, int64_t n, T v)
{
    STD_GRID_LOOP(i, n)
    dst[i] = v;
}

extern "C" int std_cuda_zeros(void *dst, DaftRtDtype dt, int64_t n, cudaStream_t s)
{
    int rc;
    size_t es = std_cuda_dtype_size(dt);
    if (!es)
        return std_cuda_unsupported("zeros", dt);
    if ((rc = std_cuda_bad_n("zeros", n, dst)) || n == 0)
        return rc;
    return std_cuda_check("zeros", "cudaMemsetAsync",
                          cudaMemsetAsync(dst, 0, (size_t)n * es, s));
}

extern "C" int std_cuda_ones(void *dst, DaftRtDtype dt, int64_t n, cudaStream_t s)
{
    int rc;
    if (!std_cuda_dtype_size(dt))
        return std_cuda_unsupported("ones", dt);
    if ((rc = std_cuda_bad_n("ones", n, dst)) || n == 0)
        return rc;
    unsigned g = std_blocks(n);
    switch (dt) {
    case DAFT_RT_F32: std_k_fill<uint32_t><<<g, STD_THREADS, 0, s>>>((uint32_t *)dst, n, 0x3F800000u); break;
    case DAFT_RT_BF16: std_k_fill<uint16_t><<<g, STD_THREADS, 0, s>>>((uint16_t *)dst, n, (uint16_t)0x3F80); break;
    case DAFT_RT_F16: std_k_fill<uint16_t><<<g, STD_THREADS, 0, s>>>((uint16_t *)dst, n, (uint16_t)0x3C00); break;
    case DAFT_RT_I32: std_k_fill<uint32_t><<<g, STD_THREADS, 0, s>>>((uint32_t *)dst, n, 1u); break;
    default: std_k_fill<uint64_t><<<g, STD_THREADS, 0, s>>>((uint64_t *)dst, n, (uint64_t)1); break;
    }
    return std_cuda_launched("ones");
}

/* ---------------------------------------------------------------- cuBLAS handles */

enum { STD_MAX_DEVICES = 64 };
static thread_local cublasHandle_t std_handles[STD_MAX_DEVICES];

static int std_handle(const char *fn, cudaStream_t s, cublasHandle_t *out)
{
    int dev;
    cudaError_t e = cudaGetDevice(&dev);
    if (e != cudaSuccess)
        return std_cuda_check(fn, "cudaGetDevice", e);
    if (dev < 0 || dev >= STD_MAX_DEVICES)
        return std_cuda_fail(STD_CUDA_EDEVICE, "%s: device %d out of range", fn, dev);
    cublasStatus_t st;
    if (!std_handles[dev]) {
        cublasHandle_t h;
        if ((st = cublasCreate(&h)) != CUBLAS_STATUS_SUCCESS)
            return std_cuda_fail(STD_CUDA_EDEVICE, "%s: cublasCreate failed: %s", fn,
                                 std_cublas_name(st));
        /* fp32 sgemm, never TF32 (CUBLAS_DEFAULT_MATH does not use tensor-core TF32 for
         * fp32 GEMMs; CUBLAS_TF32_TENSOR_OP_MATH would). The bf16/f16 GEMMs accumulate in
         * fp32 (CUBLAS_COMPUTE_32F); DISALLOW_REDUCED_PRECISION_REDUCTION keeps split-K
         * partial sums in fp32 too instead of rounding them to the 16-bit output type. */
        if ((st = cublasSetMathMode(h, (cublasMath_t)(CUBLAS_DEFAULT_MATH |
                                                      CUBLAS_MATH_DISALLOW_REDUCED_PRECISION_REDUCTION))) !=
            CUBLAS_STATUS_SUCCESS) {
            cublasDestroy(h);
            return std_cuda_fail(STD_CUDA_EDEVICE, "%s: cublasSetMathMode failed: %s", fn,
                                 std_cublas_name(st));
        }
        std_handles[dev] = h;
    }
    if ((st = cublasSetStream(std_handles[dev], s)) != CUBLAS_STATUS_SUCCESS)
        return std_cuda_fail(STD_CUDA_EDEVICE, "%s: cublasSetStream failed: %s", fn,
                             std_cublas_name(st));
    *out = std_handles[dev];
    return 0;
}

extern "C" void std_cuda_thread_release(void)
{
    int cur = -1;
    cudaGetDevice(&cur);
    for (int d = 0; d < STD_MAX_DEVICES; d++)
        if (std_handles[d]) {
            cudaSetDevice(d);
            cublasDestroy(std_handles[d]);
            std_handles[d] = NULL;
        }
    if (cur >= 0)
        cudaSetDevice(cur);
}

/* ---------------------------------------------------------------- matrix products */

/* Integer C[m,n] = op(A) op(B), wrapping (unsigned arithmetic), one thread per output. */
template <typename T, typename UT>
__global__ void std_k_igemm(int ta, int tb, int64_t m, int64_t n, int64_t k, const T *A,
                            const T *B, T *C)
{
    STD_GRID_LOOP(idx, m * n)
    {
        int64_t i = idx / n, j = idx % n;
        UT acc = 0;
        for (int64_t p = 0; p < k; p++) {
            UT av = (UT)(ta ? A[p * m + i] : A[i * k + p]);
            UT bv = (UT)(tb ? B[j * k + p] : B[p * n + j]);
            acc += av * bv;
        }
        C[idx] = (T)acc;
    }
}

extern "C" int std_cuda_gemm(DaftRtDtype dt, int ta, int tb, int64_t m, int64_t n, int64_t k,
                             const void *a, const void *b, void *c, cudaStream_t s)
{
    static const char fn[] = "matmul";
    if (m < 0 || n < 0 || k < 0)
        return std_cuda_fail(STD_CUDA_EINVAL, "%s: negative dimension", fn);
    if (!std_cuda_dtype_size(dt))
        return std_cuda_unsupported(fn, dt);
    if (m == 0 || n == 0)
        return 0;
    if (!c || (k > 0 && (!a || !b)))
        return std_cuda_fail(STD_CUDA_EINVAL, "%s: NULL device pointer", fn);
    size_t es = std_cuda_dtype_size(dt);
    if (k == 0) /* an empty sum: zeros (the CPU result is a zeroed allocation) */
        return std_cuda_check(fn, "cudaMemsetAsync",
                              cudaMemsetAsync(c, 0, (size_t)m * (size_t)n * es, s));
    if (dt == DAFT_RT_F32 || dt == DAFT_RT_BF16 || dt == DAFT_RT_F16) {
        cublasHandle_t h = NULL;
        int rc;
        if ((rc = std_handle(fn, s, &h)))
            return rc;
        const float one = 1.0f, zero = 0.0f;
        /* Row-major C = op(A) op(B) is column-major C^T = op(B)^T op(A)^T: swap the
         * operands; leading dimensions are the row-major row lengths (as in the CPU's
         * cblas_sgemm call). */
        cublasOperation_t opb = tb ? CUBLAS_OP_T : CUBLAS_OP_N;
        cublasOperation_t opa = ta ? CUBLAS_OP_T : CUBLAS_OP_N;
        int64_t lda = ta ? m : k, ldb = tb ? k : n;
        bool small = m <= INT32_MAX && n <= INT32_MAX && k <= INT32_MAX;
        cublasStatus_t st;
        if (dt == DAFT_RT_F32) {
            if (small)
                st = cublasSgemm(h, opb, opa, (int)n, (int)m, (int)k, &one, (const float *)b,
                                 (int)ldb, (const float *)a, (int)lda, &zero, (float *)c,
                                 (int)n);
            else
                st = cublasSgemm_64(h, opb, opa, n, m, k, &one, (const float *)b, ldb,
                                    (const float *)a, lda, &zero, (float *)c, n);
            if (st != CUBLAS_STATUS_SUCCESS)
                return std_cuda_fail(STD_CUDA_EDEVICE, "%s: cublasSgemm failed: %s", fn,
                                     std_cublas_name(st));
            return 0;
        }
        /* bf16 / f16: A, B and C in the 16-bit type, products and sums in fp32
         * (CUBLAS_COMPUTE_32F, float alpha and beta), C rounded once to the 16-bit type. */
        cudaDataType ty = dt == DAFT_RT_BF16 ? CUDA_R_16BF : CUDA_R_16F;
        if (small)
            st = cublasGemmEx(h, opb, opa, (int)n, (int)m, (int)k, &one, b, ty, (int)ldb, a, ty,
                              (int)lda, &zero, c, ty, (int)n, CUBLAS_COMPUTE_32F,
                              CUBLAS_GEMM_DEFAULT);
        else
            st = cublasGemmEx_64(h, opb, opa, n, m, k, &one, b, ty, ldb, a, ty, lda, &zero, c,
                                 ty, n, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT);
        if (st != CUBLAS_STATUS_SUCCESS)
            return std_cuda_fail(STD_CUDA_EDEVICE, "%s: cublasGemmEx (%s) failed: %s", fn,
                                 std_cuda_dtype_name(dt), std_cublas_name(st));
        return 0;
    }
    unsigned g = std_blocks(m * n);
    if (dt == DAFT_RT_I32)
        std_k_igemm<int32_t, uint32_t><<<g, STD_THREADS, 0, s>>>(
            ta, tb, m, n, k, (const int32_t *)a, (const int32_t *)b, (int32_t *)c);
    else
        std_k_igemm<int64_t, uint64_t><<<g, STD_THREADS, 0, s>>>(
            ta, tb, m, n, k, (const int64_t *)a, (const int64_t *)b, (int64_t *)c);
    return std_cuda_launched(fn);
}

extern "C" int std_cuda_matmul(DaftRtDtype dt, int64_t m, int64_t k, int64_t n, const void *a,
                               const void *b, void *c, cudaStream_t s)
{
    return std_cuda_gemm(dt, 0, 0, m, n, k, a, b, c, s);
}

extern "C" int std_cuda_linear_forward(DaftRtDtype dt, int64_t b, int64_t i, int64_t o,
                                       const void *x, const void *w, void *y, cudaStream_t s)
{
    return std_cuda_gemm(dt, 0, 0, b, o, i, x, w, y, s);
}

extern "C" int std_cuda_linear_backward(DaftRtDtype dt, int64_t b, int64_t i, int64_t o,
                                        const void *x, const void *w, const void *gy, void *gx,
                                        void *gw, cudaStream_t s)
{
    int rc;
    /* gx = gy [b,o] @ w^T [o,i];  gw = x^T [i,b] @ gy [b,o] (as the CPU computes them) */
    if ((rc = std_cuda_gemm(dt, 0, 1, b, i, o, gy, w, gx, s)))
        return rc;
    return std_cuda_gemm(dt, 1, 0, i, o, b, x, gy, gw, s);
}

/* ---------------------------------------------------------------- elementwise */

__global__ void std_k_binop_f32(int op, int64_t n, const float *a, const float *b, float sc,
                                float *c)
{
    STD_GRID_LOOP(i, n)
    {
        float y = b ? b[i] : sc;
        c[i] = op == STD_CUDA_ADD ? __fadd_rn(a[i], y) : __fmul_rn(a[i], y);
    }
}

/* bf16 / f16: each element widened to f32 (exactly), one f32 operation, rounded back to
 * DT (nearest even); the scalar is already an f32. */
template <int DT>
__global__ void std_k_binop_half(int op, int64_t n, const uint16_t *a, const uint16_t *b,
                                 float sc, uint16_t *c)
{
    STD_GRID_LOOP(i, n)
    {
        float x = std_d_half_to_f32<DT>(a[i]), y = b ? std_d_half_to_f32<DT>(b[i]) : sc;
        c[i] = std_d_f32_to_half<DT>(op == STD_CUDA_ADD ? __fadd_rn(x, y) : __fmul_rn(x, y));
    }
}

template <typename T, typename UT>
__global__ void std_k_binop_int(int op, int64_t n, const T *a, const T *b, UT sc, T *c)
{
    STD_GRID_LOOP(i, n)
    {
        UT x = (UT)a[i], y = b ? (UT)b[i] : sc;
        c[i] = (T)(op == STD_CUDA_ADD ? x + y : x * y);
    }
}

static int std_binop(StdCudaBinop op, DaftRtDtype dt, int64_t n, const void *a, const void *b,
                     bool scalar, double sf, int64_t si, void *c, cudaStream_t s)
{
    const char *fn = op == STD_CUDA_ADD ? "add" : "mul";
    int rc;
    if (op != STD_CUDA_ADD && op != STD_CUDA_MUL)
        return std_cuda_fail(STD_CUDA_EINVAL, "binop: unknown operation %d", (int)op);
    if ((rc = std_cuda_bad_n(fn, n, a)) || (rc = std_cuda_bad_n(fn, n, c)) ||
        (!scalar && (rc = std_cuda_bad_n(fn, n, b))))
        return rc;
    if (n == 0)
        return 0;
    unsigned g = std_blocks(n);
    switch (dt) {
    case DAFT_RT_F32:
        std_k_binop_f32<<<g, STD_THREADS, 0, s>>>(op, n, (const float *)a,
                                                  scalar ? NULL : (const float *)b, (float)sf,
                                                  (float *)c);
        break;
    case DAFT_RT_BF16:
        std_k_binop_half<DAFT_RT_BF16><<<g, STD_THREADS, 0, s>>>(
            op, n, (const uint16_t *)a, scalar ? NULL : (const uint16_t *)b, (float)sf,
            (uint16_t *)c);
        break;
    case DAFT_RT_F16:
        std_k_binop_half<DAFT_RT_F16><<<g, STD_THREADS, 0, s>>>(
            op, n, (const uint16_t *)a, scalar ? NULL : (const uint16_t *)b, (float)sf,
            (uint16_t *)c);
        break;
    case DAFT_RT_I32:
        std_k_binop_int<int32_t, uint32_t><<<g, STD_THREADS, 0, s>>>(
            op, n, (const int32_t *)a, scalar ? NULL : (const int32_t *)b, (uint32_t)si,
            (int32_t *)c);
        break;
    case DAFT_RT_I64:
        std_k_binop_int<int64_t, uint64_t><<<g, STD_THREADS, 0, s>>>(
            op, n, (const int64_t *)a, scalar ? NULL : (const int64_t *)b, (uint64_t)si,
            (int64_t *)c);
        break;
    default:
        return std_cuda_unsupported(fn, dt);
    }
    return std_cuda_launched(fn);
}

extern "C" int std_cuda_binop(StdCudaBinop op, DaftRtDtype dt, int64_t n, const void *a,
                              const void *b, void *c, cudaStream_t s)
{
    return std_binop(op, dt, n, a, b, false, 0.0, 0, c, s);
}

extern "C" int std_cuda_binop_scalar(StdCudaBinop op, DaftRtDtype dt, int64_t n, const void *a,
                                     double sf, int64_t si, void *c, cudaStream_t s)
{
    return std_binop(op, dt, n, a, NULL, true, sf, si, c, s);
}

extern "C" int std_cuda_add(DaftRtDtype dt, int64_t n, const void *a, const void *b, void *c,
                            cudaStream_t s)
{
    return std_binop(STD_CUDA_ADD, dt, n, a, b, false, 0.0, 0, c, s);
}

extern "C" int std_cuda_mul(DaftRtDtype dt, int64_t n, const void *a, const void *b, void *c,
                            cudaStream_t s)
{
    return std_binop(STD_CUDA_MUL, dt, n, a, b, false, 0.0, 0, c, s);
}

/* f32 relu, 4 elements a thread when the pointers allow it. NaN is not < 0: it stays. */
__global__ void std_k_relu_f32x4(int64_t n4, const float4 *a, float4 *c)
{
    STD_GRID_LOOP(i, n4)
    {
        float4 v = a[i];
        v.x = v.x < 0.0f ? 0.0f : v.x;
        v.y = v.y < 0.0f ? 0.0f : v.y;
        v.z = v.z < 0.0f ? 0.0f : v.z;
        v.w = v.w < 0.0f ? 0.0f : v.w;
        c[i] = v;
    }
}

template <typename T> __global__ void std_k_relu(int64_t n, const T *a, T *c)
{
    STD_GRID_LOOP(i, n)
    {
        T x = a[i];
        c[i] = x < (T)0 ? (T)0 : x;
    }
}

/* bf16 / f16 relu: +0 where the value is < 0, else the element's bits unchanged (NaN, -0). */
template <int DT> __global__ void std_k_relu_half(int64_t n, const uint16_t *a, uint16_t *c)
{
    STD_GRID_LOOP(i, n)
    {
        uint16_t h = a[i];
        c[i] = std_d_half_to_f32<DT>(h) < 0.0f ? (uint16_t)0 : h;
    }
}

extern "C" int std_cuda_relu(DaftRtDtype dt, int64_t n, const void *a, void *c, cudaStream_t s)
{
    int rc;
    if ((rc = std_cuda_bad_n("relu", n, a)) || (rc = std_cuda_bad_n("relu", n, c)))
        return rc;
    if (n == 0)
        return 0;
    switch (dt) {
    case DAFT_RT_F32:
        if (std_vec4(n, a, a, c))
            std_k_relu_f32x4<<<std_blocks(n / 4), STD_THREADS, 0, s>>>(
                n / 4, (const float4 *)a, (float4 *)c);
        else
            std_k_relu<float><<<std_blocks(n), STD_THREADS, 0, s>>>(n, (const float *)a,
                                                                     (float *)c);
        break;
    case DAFT_RT_BF16:
        std_k_relu_half<DAFT_RT_BF16><<<std_blocks(n), STD_THREADS, 0, s>>>(
            n, (const uint16_t *)a, (uint16_t *)c);
        break;
    case DAFT_RT_F16:
        std_k_relu_half<DAFT_RT_F16><<<std_blocks(n), STD_THREADS, 0, s>>>(
            n, (const uint16_t *)a, (uint16_t *)c);
        break;
    case DAFT_RT_I32:
        std_k_relu<int32_t><<<std_blocks(n), STD_THREADS, 0, s>>>(n, (const int32_t *)a,
                                                                   (int32_t *)c);
        break;
    case DAFT_RT_I64:
        std_k_relu<int64_t><<<std_blocks(n), STD_THREADS, 0, s>>>(n, (const int64_t *)a,
                                                                   (int64_t *)c);
        break;
    default:
        return std_cuda_unsupported("relu", dt);
    }
    return std_cuda_launched("relu");
}

template <typename T> __global__ void std_k_relu_bwd(int64_t n, const T *y, const T *gy, T *g)
{
    STD_GRID_LOOP(i, n)
    g[i] = y[i] > (T)0 ? gy[i] : (T)0;
}

/* f32, 4 elements a thread (std_vec4) */
__global__ void std_k_relu_bwd_f32x4(int64_t n4, const float4 *y, const float4 *gy, float4 *g)
{
    STD_GRID_LOOP(i, n4)
    {
        float4 a = y[i], b = gy[i], r;
        r.x = a.x > 0.0f ? b.x : 0.0f;
        r.y = a.y > 0.0f ? b.y : 0.0f;
        r.z = a.z > 0.0f ? b.z : 0.0f;
        r.w = a.w > 0.0f ? b.w : 0.0f;
        g[i] = r;
    }
}

/* bf16 / f16: gy's bits where y > 0, else +0. */
template <int DT>
__global__ void std_k_relu_bwd_half(int64_t n, const uint16_t *y, const uint16_t *gy,
                                    uint16_t *g)
{
    STD_GRID_LOOP(i, n)
    g[i] = std_d_half_to_f32<DT>(y[i]) > 0.0f ? gy[i] : (uint16_t)0;
}

extern "C" int std_cuda_relu_backward(DaftRtDtype dt, int64_t n, const void *y, const void *gy,
                                      void *g, cudaStream_t s)
{
    static const char fn[] = "relu_backward";
    int rc;
    if ((rc = std_cuda_bad_n(fn, n, y)) || (rc = std_cuda_bad_n(fn, n, gy)) ||
        (rc = std_cuda_bad_n(fn, n, g)))
        return rc;
    if (n == 0)
        return 0;
    unsigned b = std_blocks(n);
    switch (dt) {
    case DAFT_RT_F32:
        if (std_vec4(n, y, gy, g))
            std_k_relu_bwd_f32x4<<<std_blocks(n / 4), STD_THREADS, 0, s>>>(
                n / 4, (const float4 *)y, (const float4 *)gy, (float4 *)g);
        else
            std_k_relu_bwd<float><<<b, STD_THREADS, 0, s>>>(n, (const float *)y,
                                                             (const float *)gy, (float *)g);
        break;
    case DAFT_RT_BF16:
        std_k_relu_bwd_half<DAFT_RT_BF16><<<b, STD_THREADS, 0, s>>>(
            n, (const uint16_t *)y, (const uint16_t *)gy, (uint16_t *)g);
        break;
    case DAFT_RT_F16:
        std_k_relu_bwd_half<DAFT_RT_F16><<<b, STD_THREADS, 0, s>>>(
            n, (const uint16_t *)y, (const uint16_t *)gy, (uint16_t *)g);
        break;
    case DAFT_RT_I32:
        std_k_relu_bwd<int32_t><<<b, STD_THREADS, 0, s>>>(n, (const int32_t *)y,
                                                           (const int32_t *)gy, (int32_t *)g);
        break;
    case DAFT_RT_I64:
        std_k_relu_bwd<int64_t><<<b, STD_THREADS, 0, s>>>(n, (const int64_t *)y,
                                                           (const int64_t *)gy, (int64_t *)g);
        break;
    default:
        return std_cuda_unsupported(fn, dt);
    }
    return std_cuda_launched(fn);
}

/* ---------------------------------------------------------------- reductions */

enum { STD_RED_BLOCKS = 1024 };

__device__ __forceinline__ double std_d_block_sum(double v)
{
    __shared__ double part[STD_THREADS / 32];
    for (int o = 16; o > 0; o >>= 1)
        v += __shfl_down_sync(0xFFFFFFFFu, v, o);
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    if (lane == 0)
        part[warp] = v;
    __syncthreads();
    v = 0.0;
    if (warp == 0) {
        v = lane < STD_THREADS / 32 ? part[lane] : 0.0;
        for (int o = 16; o > 0; o >>= 1)
            v += __shfl_down_sync(0xFFFFFFFFu, v, o);
    }
    return v; /* valid in thread 0 */
}

/* Pass 1: per-block partial sums of load(a, i) (or (p - t)^2 when t != NULL). Each block
 * covers a fixed set of indices, so the result does not depend on timing. */
__global__ void std_k_reduce1(int dt, int64_t n, const void *a, const void *t, double *part)
{
    double v = 0.0;
    STD_GRID_LOOP(i, n)
    {
        double x = std_d_load(a, dt, i);
        if (t) {
            double d = x - std_d_load(t, dt, i);
            v += d * d;
        } else {
            v += x;
        }
    }
    v = std_d_block_sum(v);
    if (threadIdx.x == 0)
        part[blockIdx.x] = v;
}

/* Pass 2: one block adds the partials; divides by `div` (1 for sum, n for the mean). */
__global__ void std_k_reduce2(int nparts, const double *part, double div, double *dst)
{
    double v = 0.0;
    for (int i = threadIdx.x; i < nparts; i += blockDim.x)
        v += part[i];
    v = std_d_block_sum(v);
    if (threadIdx.x == 0)
        *dst = v / div;
}

static int std_reduce(const char *fn, DaftRtDtype dt, int64_t n, const void *a, const void *t,
                      double div, double *dst_dev, cudaStream_t s)
{
    int rc;
    if (!std_cuda_dtype_size(dt))
        return std_cuda_unsupported(fn, dt);
    if ((rc = std_cuda_bad_n(fn, n, a)) || (t && (rc = std_cuda_bad_n(fn, n, t))))
        return rc;
    if (!dst_dev)
        return std_cuda_fail(STD_CUDA_EINVAL, "%s: NULL result pointer", fn);
    unsigned blocks = std_blocks(n);
    if (blocks > STD_RED_BLOCKS)
        blocks = STD_RED_BLOCKS;
    double *part = NULL;
    cudaError_t e = cudaMallocAsync((void **)&part, blocks * sizeof(double), s);
    if (e != cudaSuccess)
        return std_cuda_check(fn, "cudaMallocAsync", e);
    std_k_reduce1<<<blocks, STD_THREADS, 0, s>>>(dt, n, a, t, part);
    std_k_reduce2<<<1, STD_THREADS, 0, s>>>((int)blocks, part, div, dst_dev);
    rc = std_cuda_launched(fn);
    e = cudaFreeAsync(part, s);
    return rc ? rc : std_cuda_check(fn, "cudaFreeAsync", e);
}

extern "C" int std_cuda_sum(DaftRtDtype dt, int64_t n, const void *a, double *dst_dev,
                            cudaStream_t s)
{
    return std_reduce("sum", dt, n, a, NULL, 1.0, dst_dev, s);
}

extern "C" int std_cuda_mse_loss(DaftRtDtype dt, int64_t n, const void *p, const void *t,
                                 double *dst_dev, cudaStream_t s)
{
    if (!std_cuda_dtype_size(dt))
        return std_cuda_unsupported("mse_loss", dt);
    if (n == 0)
        return std_cuda_fail(STD_CUDA_EINVAL,
                             "mse_loss: the mean of an empty tensor is undefined");
    if (!t)
        return std_cuda_fail(STD_CUDA_EINVAL, "mse_loss: NULL device pointer");
    return std_reduce("mse_loss", dt, n, p, t, (double)n, dst_dev, s);
}

__global__ void std_k_double_to_f32(const double *src, float *dst) { *dst = (float)*src; }

extern "C" int std_cuda_mse_loss_f32(DaftRtDtype dt, int64_t n, const void *p, const void *t,
                                     float *dst_dev, cudaStream_t s)
{
    double *dev;
    cudaError_t e = cudaMallocAsync((void **)&dev, sizeof(double), s);
    if (e != cudaSuccess)
        return std_cuda_check("mse", "cudaMallocAsync", e);
    int rc = std_cuda_mse_loss(dt, n, p, t, dev, s);
    if (!rc) {
        std_k_double_to_f32<<<1, 1, 0, s>>>(dev, dst_dev);
        rc = std_cuda_launched("mse");
    }
    e = cudaFreeAsync(dev, s);
    return rc ? rc : std_cuda_check("mse", "cudaFreeAsync", e);
}

static int std_reduce_sync(const char *fn, int rc0, double *dev, double *result,
                           cudaStream_t s)
{
    int rc = rc0;
    if (!rc)
        rc = std_cuda_check(fn, "cudaMemcpyAsync",
                            cudaMemcpyAsync(result, dev, sizeof(double), cudaMemcpyDeviceToHost,
                                            s));
    if (!rc)
        rc = std_wait(fn, s);
    cudaFreeAsync(dev, s);
    return rc;
}

extern "C" int std_cuda_sum_sync(DaftRtDtype dt, int64_t n, const void *a, double *result,
                                 cudaStream_t s)
{
    double *dev;
    cudaError_t e = cudaMallocAsync((void **)&dev, sizeof(double), s);
    if (e != cudaSuccess)
        return std_cuda_check("sum", "cudaMallocAsync", e);
    return std_reduce_sync("sum", std_cuda_sum(dt, n, a, dev, s), dev, result, s);
}

extern "C" int std_cuda_mse_loss_sync(DaftRtDtype dt, int64_t n, const void *p, const void *t,
                                      double *result, cudaStream_t s)
{
    double *dev;
    cudaError_t e = cudaMallocAsync((void **)&dev, sizeof(double), s);
    if (e != cudaSuccess)
        return std_cuda_check("mse_loss", "cudaMallocAsync", e);
    return std_reduce_sync("mse_loss", std_cuda_mse_loss(dt, n, p, t, dev, s), dev, result, s);
}

/* ---------------------------------------------------------------- loss gradient, SGD */

__global__ void std_k_mse_grad(int64_t n, const float *p, const float *t, float scale, float *g)
{
    STD_GRID_LOOP(i, n)
    g[i] = __fmul_rn(__fsub_rn(p[i], t[i]), scale);
}

template <int DT>
__global__ void std_k_mse_grad_half(int64_t n, const uint16_t *p, const uint16_t *t, float scale,
                                    uint16_t *g)
{
    STD_GRID_LOOP(i, n)
    g[i] = std_d_f32_to_half<DT>(
        __fmul_rn(__fsub_rn(std_d_half_to_f32<DT>(p[i]), std_d_half_to_f32<DT>(t[i])), scale));
}

extern "C" int std_cuda_mse_grad(DaftRtDtype dt, int64_t n, const void *p, const void *t,
                                 void *g, cudaStream_t s)
{
    static const char fn[] = "mse_grad";
    int rc;
    if ((rc = std_float_dtype(fn, dt)) || (rc = std_cuda_bad_n(fn, n, p)) ||
        (rc = std_cuda_bad_n(fn, n, t)) || (rc = std_cuda_bad_n(fn, n, g)) || n == 0)
        return rc;
    float scale = (float)(2.0 / (double)n); /* as the CPU computes it */
    unsigned b = std_blocks(n);
    if (dt == DAFT_RT_F32)
        std_k_mse_grad<<<b, STD_THREADS, 0, s>>>(n, (const float *)p, (const float *)t, scale,
                                                 (float *)g);
    else if (dt == DAFT_RT_BF16)
        std_k_mse_grad_half<DAFT_RT_BF16><<<b, STD_THREADS, 0, s>>>(
            n, (const uint16_t *)p, (const uint16_t *)t, scale, (uint16_t *)g);
    else
        std_k_mse_grad_half<DAFT_RT_F16><<<b, STD_THREADS, 0, s>>>(
            n, (const uint16_t *)p, (const uint16_t *)t, scale, (uint16_t *)g);
    return std_cuda_launched(fn);
}

__global__ void std_k_sgd(int64_t n, const float *w, const float *g, float lr, float *r)
{
    STD_GRID_LOOP(i, n)
    r[i] = __fsub_rn(w[i], __fmul_rn(lr, g[i]));
}

/* f32, 4 elements a thread (std_vec4); the same two roundings per element */
__global__ void std_k_sgd_f32x4(int64_t n4, const float4 *w, const float4 *g, float lr, float4 *r)
{
    STD_GRID_LOOP(i, n4)
    {
        float4 a = w[i], b = g[i], o;
        o.x = __fsub_rn(a.x, __fmul_rn(lr, b.x));
        o.y = __fsub_rn(a.y, __fmul_rn(lr, b.y));
        o.z = __fsub_rn(a.z, __fmul_rn(lr, b.z));
        o.w = __fsub_rn(a.w, __fmul_rn(lr, b.w));
        r[i] = o;
    }
}

template <int DT>
__global__ void std_k_sgd_half(int64_t n, const uint16_t *w, const uint16_t *g, float lr,
                               uint16_t *r)
{
    STD_GRID_LOOP(i, n)
    r[i] = std_d_f32_to_half<DT>(
        __fsub_rn(std_d_half_to_f32<DT>(w[i]), __fmul_rn(lr, std_d_half_to_f32<DT>(g[i]))));
}

extern "C" int std_cuda_sgd_update(DaftRtDtype dt, int64_t n, const void *w, const void *g,
                                   double lr, void *r, cudaStream_t s)
{
    static const char fn[] = "sgd_update";
    int rc;
    if ((rc = std_float_dtype(fn, dt)) || (rc = std_cuda_bad_n(fn, n, w)) ||
        (rc = std_cuda_bad_n(fn, n, g)) || (rc = std_cuda_bad_n(fn, n, r)) || n == 0)
        return rc;
    float l = (float)lr;
    unsigned b = std_blocks(n);
    if (dt == DAFT_RT_F32 && std_vec4(n, w, g, r))
        std_k_sgd_f32x4<<<std_blocks(n / 4), STD_THREADS, 0, s>>>(
            n / 4, (const float4 *)w, (const float4 *)g, l, (float4 *)r);
    else if (dt == DAFT_RT_F32)
        std_k_sgd<<<b, STD_THREADS, 0, s>>>(n, (const float *)w, (const float *)g, l, (float *)r);
    else if (dt == DAFT_RT_BF16)
        std_k_sgd_half<DAFT_RT_BF16><<<b, STD_THREADS, 0, s>>>(
            n, (const uint16_t *)w, (const uint16_t *)g, l, (uint16_t *)r);
    else
        std_k_sgd_half<DAFT_RT_F16><<<b, STD_THREADS, 0, s>>>(
            n, (const uint16_t *)w, (const uint16_t *)g, l, (uint16_t *)r);
    return std_cuda_launched(fn);
}

/* ---------------------------------------------------------------- slice, concat */

/* Copies `rows` rows of `width` bytes from src (rows `spitch` apart) to dst (rows `dpitch`
 * apart): one cudaMemcpy2DAsync when the pitches fit its limit, else row by row. */
static int std_copy_rows(const char *fn, char *dst, size_t dpitch, const char *src,
                         size_t spitch, size_t width, size_t rows, cudaStream_t s)
{
    if (width == 0 || rows == 0)
        return 0;
    cudaError_t e;
    if (rows == 1 || (dpitch == width && spitch == width))
        e = cudaMemcpyAsync(dst, src, width * rows, cudaMemcpyDeviceToDevice, s);
    else if (dpitch < ((size_t)1 << 31) && spitch < ((size_t)1 << 31))
        e = cudaMemcpy2DAsync(dst, dpitch, src, spitch, width, rows, cudaMemcpyDeviceToDevice,
                              s);
    else {
        e = cudaSuccess;
        for (size_t r = 0; r < rows && e == cudaSuccess; r++)
            e = cudaMemcpyAsync(dst + r * dpitch, src + r * spitch, width,
                                cudaMemcpyDeviceToDevice, s);
    }
    return std_cuda_check(fn, "cudaMemcpy2DAsync", e);
}

static int std_outer_inner(const char *fn, int rank, const int64_t *dims, int dim,
                           int64_t *outer, int64_t *inner)
{
    if (rank < 1 || rank > DAFT_MAX_RANK || !dims)
        return std_cuda_fail(STD_CUDA_EINVAL, "%s: rank %d out of range", fn, rank);
    if (dim < 0 || dim >= rank)
        return std_cuda_fail(STD_CUDA_EINVAL, "%s: dim %d out of range for rank %d", fn, dim,
                             rank);
    *outer = 1;
    *inner = 1;
    for (int i = 0; i < rank; i++) {
        if (dims[i] < 0)
            return std_cuda_fail(STD_CUDA_EINVAL, "%s: negative dimension", fn);
        if (i < dim)
            *outer *= dims[i];
        else if (i > dim)
            *inner *= dims[i];
    }
    return 0;
}

extern "C" int std_cuda_slice(DaftRtDtype dt, int rank, const int64_t *dims, int dim,
                              int64_t start, int64_t end, const void *src, void *dst,
                              cudaStream_t s)
{
    static const char fn[] = "slice";
    int64_t outer, inner;
    int rc;
    size_t es = std_cuda_dtype_size(dt);
    if (!es)
        return std_cuda_unsupported(fn, dt);
    if ((rc = std_outer_inner(fn, rank, dims, dim, &outer, &inner)))
        return rc;
    if (start < 0 || start > end || end > dims[dim])
        return std_cuda_fail(STD_CUDA_EINVAL, "%s: range %lld..%lld out of bounds (size %lld)",
                             fn, (long long)start, (long long)end, (long long)dims[dim]);
    size_t row = (size_t)inner * es;
    size_t width = (size_t)(end - start) * row;
    if (width == 0 || outer == 0)
        return 0;
    if (!src || !dst)
        return std_cuda_fail(STD_CUDA_EINVAL, "%s: NULL device pointer", fn);
    return std_copy_rows(fn, (char *)dst, width, (const char *)src + (size_t)start * row,
                         (size_t)dims[dim] * row, width, (size_t)outer, s);
}

extern "C" int std_cuda_concat(DaftRtDtype dt, int rank, int count,
                               const int64_t *const *src_dims, const void *const *srcs, int dim,
                               void *dst, cudaStream_t s)
{
    static const char fn[] = "concat";
    int64_t outer, inner;
    int rc;
    size_t es = std_cuda_dtype_size(dt);
    if (!es)
        return std_cuda_unsupported(fn, dt);
    if (count < 1 || !src_dims || !srcs)
        return std_cuda_fail(STD_CUDA_EINVAL, "%s: no tensors", fn);
    if ((rc = std_outer_inner(fn, rank, src_dims[0], dim, &outer, &inner)))
        return rc;
    size_t total = 0;
    for (int k = 0; k < count; k++) {
        for (int i = 0; i < rank; i++)
            if (i != dim && src_dims[k][i] != src_dims[0][i])
                return std_cuda_fail(STD_CUDA_EINVAL,
                                     "%s: item %d does not fit item 0 along dim %d", fn, k,
                                     dim);
        if (src_dims[k][dim] < 0)
            return std_cuda_fail(STD_CUDA_EINVAL, "%s: negative dimension", fn);
        total += (size_t)src_dims[k][dim];
    }
    size_t row = (size_t)inner * es, dpitch = total * row, off = 0;
    if (dpitch == 0 || outer == 0)
        return 0;
    if (!dst)
        return std_cuda_fail(STD_CUDA_EINVAL, "%s: NULL device pointer", fn);
    for (int k = 0; k < count; k++) {
        size_t width = (size_t)src_dims[k][dim] * row;
        if (width && !srcs[k])
            return std_cuda_fail(STD_CUDA_EINVAL, "%s: NULL device pointer (item %d)", fn, k);
        if ((rc = std_copy_rows(fn, (char *)dst + off, dpitch, (const char *)srcs[k], width,
                                width, (size_t)outer, s)))
            return rc;
        off += width;
    }
    return 0;
}
