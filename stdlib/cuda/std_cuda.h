/* std_cuda.h — the std.tensor operations on GPU memory (internal API of libdaftstd_cuda).
 *
 * These are the CUDA counterparts of the CPU functions of include/daft/std.h, at the level
 * of raw device pointers: the runtime (which will own GPU DaftValues, their device and
 * their streams) validates arguments and shapes the way the CPU functions do, allocates
 * the result, and calls one of these. Every function here:
 *
 *  - takes device pointers to dense, contiguous, row-major data, the element counts or
 *    shapes, and the cudaStream_t on which the work is enqueued. Nothing synchronises
 *    with the host (no cudaDeviceSynchronize, no cudaStreamSynchronize) except the two
 *    functions named *_sync below. Pointers must belong to the current device
 *    (cudaSetDevice) and the stream too.
 *  - returns STD_CUDA_OK (0), or STD_CUDA_EINVAL for arguments it cannot serve (unknown
 *    or unsupported dtype, negative sizes, NULL pointers with non-zero sizes), or
 *    STD_CUDA_EDEVICE when a CUDA or cuBLAS call failed (launch errors are checked with
 *    cudaGetLastError right after the launch; asynchronous faults surface later, at the
 *    caller's next synchronisation). On failure std_cuda_last_error() (per thread) gives
 *    a message naming the function and the cause, e.g. "matmul: cublasSgemm failed:
 *    CUBLAS_STATUS_EXECUTION_FAILED".
 *  - gives the same results as the CPU function on the same inputs:
 *      bit for bit: randn, rand (all of f32, bf16, f16: the spec of std.h "random
 *        numbers", from the same stdlib/std_rng.h), zeros, ones, add, mul, relu,
 *        relu_backward, mse_grad, sgd_update (each f32 operation is a single correctly
 *        rounded IEEE operation, no FMA contraction; in bf16 / f16 the elements are
 *        widened to f32 exactly, the same f32 operations run, and the result is rounded
 *        to the 16-bit type to nearest even, as the CPU's std_f32_to_bf16 / _f16 do),
 *        slice, concat, the copies, and integer matmul (wrapping) — except the payload
 *        and sign of a NaN that arithmetic produces: the GPU gives its canonical NaN
 *        0x7FFFFFFF, x86 keeps the operand's (or gives its default NaN 0xFFC00000), and
 *        bf16 / f16 results inherit the difference (relu and relu_backward only compare
 *        and copy, so they keep every bit);
 *      to rounding: f32 matmul / linear_forward / linear_backward (cuBLAS sgemm, fp32
 *        inputs and accumulation, never TF32: the handles use CUBLAS_DEFAULT_MATH, whose
 *        sgemm is pure fp32, and set NVIDIA_TF32_OVERRIDE=0 in benchmarks to be sure;
 *        the summation order differs from OpenBLAS); bf16 / f16 matmul / linear_forward /
 *        linear_backward (cublasGemmEx: 16-bit A, B and C, CUBLAS_COMPUTE_32F, so exact
 *        products summed in fp32 — split-K partials too, the handles disallow reduced-
 *        precision reductions — and one rounding of each result to the 16-bit type; the
 *        summation order differs from the CPU's, which can move a result by one unit in
 *        its last place); sum and mse_loss (accumulated in double, in a tree order
 *        instead of the CPU's left-to-right).
 *
 * Dtypes use the runtime's numbering (DaftRtDtype of daftrt.h: f32, bf16, f16, i32, i64).
 * Element counts are int64_t; shapes are int64_t dims[rank] with rank <= DAFT_MAX_RANK.
 *
 * cuBLAS handles: one per (host thread, device), created on first use and bound to the
 * stream of each call (cublasSetStream), so callers never see them. A thread that ends
 * or is done with the GPU calls std_cuda_thread_release() to destroy its handles.
 */
#ifndef DAFT_STD_CUDA_H
#define DAFT_STD_CUDA_H

#include <stddef.h>
#include <stdint.h>

#include <cuda_runtime_api.h>

#include "daftrt.h" /* DaftRtDtype, DAFT_MAX_RANK */

#ifdef __cplusplus
extern "C" {
#endif

enum {
    STD_CUDA_OK = 0,
    STD_CUDA_EINVAL = -1,  /* = DAFT_EINVAL */
    STD_CUDA_ENOMEM = -4,  /* = DAFT_ENOMEM: cudaMalloc failed */
    STD_CUDA_EDEVICE = -8, /* a CUDA or cuBLAS call failed */
};

/* The message of this thread's last failure ("" if none). */
const char *std_cuda_last_error(void);
/* Destroys this thread's cuBLAS handles (all devices). Safe to call more than once. */
void std_cuda_thread_release(void);
/* Bytes of one element of dt, 0 for an invalid dtype. */
size_t std_cuda_dtype_size(DaftRtDtype dt);

/* ---------------------------------------------------------------- memory and copies */

/* cudaMalloc / cudaFree on the current device (bytes may be 0: *p = NULL). */
int std_cuda_alloc(void **p, size_t bytes);
int std_cuda_free(void *p);
/* Asynchronous copies on stream. Host memory that is not pinned makes the H2D/D2H copies
 * synchronous with the host (CUDA's rule); the runtime should stage through pinned memory. */
int std_cuda_to_gpu(void *dst_dev, const void *src_host, size_t bytes, cudaStream_t s);
int std_cuda_to_cpu(void *dst_host, const void *src_dev, size_t bytes, cudaStream_t s);
int std_cuda_copy(void *dst_dev, const void *src_dev, size_t bytes, cudaStream_t s);
/* Blocks until everything enqueued on s has finished; reports asynchronous errors. */
int std_cuda_stream_sync(cudaStream_t s);
/* How the host waits for a stream (std_cuda_stream_sync, and reductions to a host scalar):
 * cudaStreamSynchronize unless the GPU runtime installed its own wait, which gives up when
 * a communicator's peer died (a blocked NCCL kernel never finishes) and reports a long
 * wait. Installed once, when an actor attaches its GPU. The wait returns 0, or non-zero
 * with a message in err. */
typedef int (*StdCudaWait)(cudaStream_t s, char *err, size_t cap);
void std_cuda_set_wait(StdCudaWait wait);

/* ---------------------------------------------------------------- creation */

/* randn / rand: n elements of dt (f32, bf16, f16) from seed; see std.h "random numbers". */
int std_cuda_randn(void *dst, DaftRtDtype dt, int64_t n, int64_t seed, cudaStream_t s);
int std_cuda_rand(void *dst, DaftRtDtype dt, int64_t n, int64_t seed, cudaStream_t s);
/* zeros / ones: n elements of any dtype. */
int std_cuda_zeros(void *dst, DaftRtDtype dt, int64_t n, cudaStream_t s);
int std_cuda_ones(void *dst, DaftRtDtype dt, int64_t n, cudaStream_t s);

/* ---------------------------------------------------------------- matrix products */

/* c[m,n] = op(a) @ op(b), row-major; op(a) is [m,k] (a stored [m,k], or [k,m] if ta),
 * op(b) is [k,n] (b stored [k,n], or [n,k] if tb). f32 through cublasSgemm (fp32, no
 * TF32), bf16/f16 through cublasGemmEx (fp32 accumulation, result rounded to the 16-bit
 * type), i32/i64 by a wrapping integer kernel. c must not alias a or b. */
int std_cuda_gemm(DaftRtDtype dt, int ta, int tb, int64_t m, int64_t n, int64_t k,
                  const void *a, const void *b, void *c, cudaStream_t s);
/* matmul(a, b): [m,k] x [k,n] -> [m,n]. */
int std_cuda_matmul(DaftRtDtype dt, int64_t m, int64_t k, int64_t n, const void *a,
                    const void *b, void *c, cudaStream_t s);
/* linear_forward(x, w) = x @ w: x [b,i], w [i,o] -> y [b,o]. */
int std_cuda_linear_forward(DaftRtDtype dt, int64_t b, int64_t i, int64_t o, const void *x,
                            const void *w, void *y, cudaStream_t s);
/* linear_backward(x, w, gy): gx = gy @ w^T [b,i], gw = x^T @ gy [i,o]. */
int std_cuda_linear_backward(DaftRtDtype dt, int64_t b, int64_t i, int64_t o, const void *x,
                             const void *w, const void *gy, void *gx, void *gw,
                             cudaStream_t s);

/* ---------------------------------------------------------------- elementwise */

typedef enum { STD_CUDA_ADD = 0, STD_CUDA_MUL = 1 } StdCudaBinop;

/* c = a op b, n elements of dt (f32, bf16, f16, i32, i64; integers wrap; bf16 / f16
 * compute r(f(a) op f(b)): widened to f32, one f32 operation, rounded back). c may alias
 * a or b. */
int std_cuda_binop(StdCudaBinop op, DaftRtDtype dt, int64_t n, const void *a, const void *b,
                   void *c, cudaStream_t s);
/* c = a op scalar. For f32, bf16 and f16 the scalar is (float)sf (an i64 scalar: pass
 * (double)v), and bf16 / f16 compute r(f(a) op (float)sf); for i32 / i64 it is si (reduced
 * mod 2^32 for i32); an f64 scalar with an integer tensor is the caller's error, as on the
 * CPU. */
int std_cuda_binop_scalar(StdCudaBinop op, DaftRtDtype dt, int64_t n, const void *a,
                          double sf, int64_t si, void *c, cudaStream_t s);
int std_cuda_add(DaftRtDtype dt, int64_t n, const void *a, const void *b, void *c,
                 cudaStream_t s);
int std_cuda_mul(DaftRtDtype dt, int64_t n, const void *a, const void *b, void *c,
                 cudaStream_t s);
/* relu: c = a < 0 ? 0 : a (NaN and -0.0 pass through as on the CPU, every bit kept);
 * f32, bf16, f16, i32, i64. */
int std_cuda_relu(DaftRtDtype dt, int64_t n, const void *a, void *c, cudaStream_t s);
/* relu_backward: g = y > 0 ? gy : 0 (gy's bits, or +0); f32, bf16, f16, i32, i64. */
int std_cuda_relu_backward(DaftRtDtype dt, int64_t n, const void *y, const void *gy, void *g,
                           cudaStream_t s);

/* ---------------------------------------------------------------- reductions */

/* sum of all n elements (any dtype) accumulated in double, written to *dst_dev (a device
 * double). 0 for n == 0. */
int std_cuda_sum(DaftRtDtype dt, int64_t n, const void *a, double *dst_dev, cudaStream_t s);
/* mse_loss: mean((p - t)^2) in double into *dst_dev; any dtype; n must be > 0. */
int std_cuda_mse_loss(DaftRtDtype dt, int64_t n, const void *p, const void *t,
                      double *dst_dev, cudaStream_t s);
/* mse_loss rounded to f32 into *dst_dev (a device float): std.tensor.mse, no host wait. */
int std_cuda_mse_loss_f32(DaftRtDtype dt, int64_t n, const void *p, const void *t,
                          float *dst_dev, cudaStream_t s);
/* Convenience for drivers and tests: the same, returned on the host (synchronises s). */
int std_cuda_sum_sync(DaftRtDtype dt, int64_t n, const void *a, double *result,
                      cudaStream_t s);
int std_cuda_mse_loss_sync(DaftRtDtype dt, int64_t n, const void *p, const void *t,
                           double *result, cudaStream_t s);

/* ---------------------------------------------------------------- loss gradient, SGD */

/* mse_grad: g = (p - t) * (float)(2.0 / n) in f32; dt f32, bf16 or f16 (bf16 / f16: the
 * elements widened to f32, the two f32 operations, the result rounded to dt). */
int std_cuda_mse_grad(DaftRtDtype dt, int64_t n, const void *p, const void *t, void *g,
                      cudaStream_t s);
/* sgd_update: r = w - (float)lr * g in f32; dt f32, bf16 or f16 (as mse_grad); r may alias
 * w (in-place update). */
int std_cuda_sgd_update(DaftRtDtype dt, int64_t n, const void *w, const void *g, double lr,
                        void *r, cudaStream_t s);

/* ---------------------------------------------------------------- slice, concat */

/* slice(t, dim, start, end): dims[rank] of the source; dim in 0..rank-1 (already
 * normalised); 0 <= start <= end <= dims[dim]. dst holds the result's elements. */
int std_cuda_slice(DaftRtDtype dt, int rank, const int64_t *dims, int dim, int64_t start,
                   int64_t end, const void *src, void *dst, cudaStream_t s);
/* concat(tensors, dim): count sources of one dtype and rank; src_dims[k] is the shape of
 * source k (equal to dims of source 0 except along dim); dst is the result. */
int std_cuda_concat(DaftRtDtype dt, int rank, int count, const int64_t *const *src_dims,
                    const void *const *srcs, int dim, void *dst, cudaStream_t s);

#ifdef __cplusplus
}
#endif
#endif /* DAFT_STD_CUDA_H */
