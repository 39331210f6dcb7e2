/* daft/std.h — the daft standard library (libdaftstd): tensor operations on the CPU.
 *
 * This is the ONLY public header of libdaftstd. Generated code, the REPL and the tests call
 * what is declared here; every other symbol of the library is internal (prefix std_).
 *
 * ---------------------------------------------------------------- the calling ABI
 *
 * Every std function, whatever its daft signature, has the same C type:
 *
 *     int SYMBOL(DaftActorCtx *ctx, const DaftValue *args, int nargs, DaftValue *out);
 *
 *  - args[0..nargs) are already-resolved values (no Refs): tensors, i64, f64, bools,
 *    strings, and lists of i64 for shapes. They are only read; the caller keeps them.
 *  - ctx is the running actor's context, or NULL in driver code. The CPU functions do not
 *    use it; the GPU versions take the actor's device and streams from it.
 *  - On success the function returns 0 and stores a new value in *out, owned by the
 *    caller (release it with daft_value_free). *out is overwritten, never freed first.
 *  - On failure it returns non-zero (DAFT_EINVAL for bad input, DAFT_ENOMEM when an
 *    allocation fails) and stores a DAFT_V_ERROR value in *out whose message names the
 *    function and the cause, e.g. "matmul: inner dimensions differ: [32, 1024] x [512,
 *    1024]". The std functions never call daft_raise(): inside an actor method the caller
 *    forwards the message with `return daft_raise(ctx, "%s", out.as.error.msg);` (after
 *    which it frees `out`), so the same function serves driver code and methods.
 *  - Bad input never crashes: wrong nargs, wrong kinds, malformed tensors (rank outside
 *    0..DAFT_MAX_RANK, invalid dtype, negative dims, NULL data), mismatched shapes and
 *    element counts whose size overflows all return an error value. A CPU tensor is at
 *    most 2^39 bytes (512 GiB) and 2^40 elements (also for every prefix of its dims, the
 *    limit of libdaftrt); larger shapes are rejected before anything is allocated.
 *  - Results are built with libdaftrt's constructors (daft_value_tensor, daft_value_list,
 *    daft_value_error), so libdaftstd is linked together with libdaftrt.
 *  - Tensors are dense, contiguous and row-major (DaftTensor). Results are fresh tensors;
 *    no function aliases or modifies its inputs.
 *
 * Argument conventions shared by the functions below:
 *  - shape: a DAFT_V_LIST of DAFT_V_I64 items, each >= 0, at most DAFT_MAX_RANK items
 *    (an empty list is a rank-0 tensor of one element).
 *  - dtype: SPEC.md's named argument `dtype = f32 | bf16 | f16 | i32 | i64` of randn, rand,
 *    zeros and ones is passed as one more, last, positional argument (leave it out for the
 *    default f32): a DAFT_V_STR naming the dtype ("f32", ...) or a DAFT_V_I64 holding a
 *    DaftRtDtype value (the front end's DaftDType has the same numbering).
 *  - scalars: where an f64 is expected an i64 is accepted too (converted).
 *  - all tensor arguments of one call have the same dtype (else "<fn>: dtypes differ").
 *
 * ---------------------------------------------------------------- functions (symbols)
 *
 * daft name        C symbol                          result
 * randn(shape, seed[, dtype])  daft_std_tensor_randn  normal(0,1) samples; f32, bf16, f16
 * rand(shape, seed[, dtype])   daft_std_tensor_rand   uniform [0,1) samples; f32, bf16, f16
 * zeros(shape[, dtype])        daft_std_tensor_zeros  every dtype
 * ones(shape[, dtype])         daft_std_tensor_ones   every dtype
 * matmul(a, b)                 daft_std_tensor_matmul 2-D [m,k] x [k,n] -> [m,n]; f32
 *                              (cblas_sgemm, fp32 accumulation, no reduced precision),
 *                              i32 and i64 (loops, wrapping on overflow)
 * add(a, b), mul(a, b)         daft_std_tensor_add/mul  elementwise, same dtype and
 *                              shape; either operand may be an i64/f64 scalar, which is
 *                              broadcast (an f64 scalar needs a floating tensor); f32, i32,
 *                              i64 (integers wrap on overflow)
 * relu(t)                      daft_std_tensor_relu   max(x, 0); NaN stays NaN; f32, i32, i64
 * sum(t)                       daft_std_tensor_sum    f64: the sum of all elements,
 *                              accumulated in double; 0 for an empty tensor
 * slice(t, dim, start, end)    daft_std_tensor_slice  elements start..end-1 along dim
 *                              (dim may be negative, counting from the last dimension;
 *                              0 <= start <= end <= size of dim); every dtype
 * concat(tensors, dim)         daft_std_tensor_concat a non-empty list of tensors of one
 *                              dtype and rank, equal except along dim; every dtype
 * linear_forward(x, w)         daft_std_tensor_linear_forward   x @ w: [b,i] x [i,o]
 * linear_backward(x, w, gy)    daft_std_tensor_linear_backward  list [gx, gw] with
 *                              gx = gy @ w^T ([b,i]) and gw = x^T @ gy ([i,o]); f32, i32, i64
 * linear_weight_grad(x, gy)    daft_std_tensor_linear_weight_grad  gw = x^T @ gy ([i,o]) only:
 *                              the first layer's backward, whose input needs no gradient
 * linear_input_grad(gy, w)     daft_std_tensor_linear_input_grad  gx = gy @ w^T ([b,i]) only:
 *                              with linear_weight_grad, linear_backward in two calls (so that
 *                              gw's allreduce can start before gx is computed)
 * relu_backward(y, gy)         daft_std_tensor_relu_backward  gy where y > 0, else 0 (y is
 *                              the ReLU's input or output); f32, i32, i64
 * mse_loss(pred, target)       daft_std_tensor_mse_loss  f64 mean((pred - target)^2);
 *                              f32, i32, i64; error on empty tensors
 * mse(pred, target)            daft_std_tensor_mse  mse_loss as a tensor<f32, [1]> where the
 *                              inputs are (on a GPU computed without waiting for it)
 * mse_grad(pred, target)       daft_std_tensor_mse_grad  2 (pred - target) / numel; f32
 * sgd_update(w, grad, lr)      daft_std_tensor_sgd_update  w - lr * grad; f32
 * to_cpu(t)                    daft_std_tensor_to_cpu  a copy (CPU tensors are on the CPU)
 * to_gpu(t)                    daft_std_tensor_to_gpu  in a build without CUDA: a copy
 *                              when DAFT_DEVICE=cpu (CPU-only mode is explicit), otherwise
 *                              the error "to_gpu: no GPU: built without CUDA (set
 *                              DAFT_DEVICE=cpu to run on the CPU)"; with CUDA, in a
 *                              process without a GPU, the GPU runtime's error ("to_gpu:
 *                              no GPU in this process (...)")
 * shape(t)                     daft_std_tensor_shape  list of i64
 * numel(t)                     daft_std_tensor_numel  i64
 * dtype(t)                     daft_std_tensor_dtype  str: "f32", "bf16", "f16", "i32", "i64"
 *
 * ---------------------------------------------------------------- random numbers
 *
 * randn and rand are counter-based, so every element depends only on (seed, flat
 * row-major index) and the GPU version produces the same values for the same seed and
 * shape, in any order and with any parallel decomposition. The exact specification:
 *
 *  Philox4x32-10 (Salmon et al., SC'11; Random123's philox4x32 with 10 rounds):
 *    counter c[4], key k[2] (uint32). Each round:
 *      p0 = 0xD2511F53 * c[0], p1 = 0xCD9E8D57 * c[2]      (32 x 32 -> 64-bit products)
 *      c  = { hi(p1) ^ c[1] ^ k[0], lo(p1), hi(p0) ^ c[3] ^ k[1], lo(p0) }
 *    and between rounds k[0] += 0x9E3779B9, k[1] += 0xBB67AE85 (mod 2^32).
 *    Known answers (Random123 kat_vectors) are checked by the tests.
 *  Key: k = { low 32 bits, high 32 bits } of the seed's 64-bit two's-complement pattern.
 *
 *  rand: element i uses block j = i / 4 with counter { lo32(j), hi32(j), 0, 0 } and the
 *    output word x = out[i % 4]; value = (x >> 8) * 2^-24, exactly, in [0, 1).
 *
 *  randn: elements 2j and 2j+1 share pair j, counter { lo32(j), hi32(j), 1, 0 } (the 1
 *    keeps the normal stream apart from the uniform one), outputs x0, x1 (x2, x3 unused).
 *    Box–Muller in IEEE double:
 *      u  = (x0 + 1) * 2^-32                  in (0, 1]
 *      r  = sqrt(-2 ln u)
 *      φ  = 2π x1 / 2^32                      in [0, 2π)
 *      element 2j   = (float)(r cos φ)
 *      element 2j+1 = (float)(r sin φ)        (if it exists)
 *    To be bit-reproducible on any IEEE machine, ln, cos and sin are NOT libm's: they are
 *    fixed sequences of +, -, *, / and sqrt (each correctly rounded, no FMA contraction)
 *    given in stdlib/std_rng.h, which compiles unchanged as CUDA device code:
 *      ln u:  n = x0 + 1 = m 2^e with m in [sqrt(1/2), sqrt(2)); s = (m-1)/(m+1);
 *             ln m = 2 s (1 + s^2/3 + s^4/5 + ... + s^20/21); ln u = (e - 32) ln2 + ln m.
 *      cos/sin: quadrant q = x1 >> 30, θ = ((x1 & 0x3FFFFFFF) * 2^-30) * π/2 in [0, π/2);
 *             Taylor series of sin θ to θ^19 and cos θ to θ^20, then rotated by q.
 *    The results agree with libm's to about 1e-15 relative before the rounding to f32.
 *  bf16 / f16 results are the f32 values rounded to nearest-even; for rand, a value that
 *    rounds up to 1.0 is stored as the dtype's largest value below 1 (bf16 1 - 2^-8, f16
 *    1 - 2^-11), so that rand stays in [0, 1) (std_rng_uniform_half).
 *
 * ---------------------------------------------------------------- printing
 *
 * daft_std_format_value renders any value the way daft's `print` shows it:
 *   i64 "42"; f64 with %g "0.5"; bool "true"/"false"; none "none"; a string as its
 *   bytes at the top level and quoted ("a\"b") inside lists; lists "[1, 2.5, [3]]";
 *   tensors "tensor<f32, [2, 3]> [0.1, -1.2, 0.3, 1, 2, 3]": dtype, shape and the first
 *   DAFT_STD_PRINT_ELEMS elements in row-major order (floats %g, ints %lld), then ", ..."
 *   if there are more (SPEC.md §10.7); errors "error: <message>". Lists nested deeper than
 *   32 levels print as "[...]". Two kinds print differently from SPEC.md's `print`, whose
 *   caller handles them before calling this: actors print as their name, which only the
 *   runtime knows (here "<actor 3>"), and `print` refuses Refs ("cannot print a Ref; call
 *   get() first"; here "<ref 17 of actor 3>", for debugging output such as the REPL's).
 */
#ifndef DAFT_STD_H
#define DAFT_STD_H

#include <stddef.h>

#include "daftrt.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The type every std function has (see "the calling ABI" above). */
typedef int (*DaftStdFnPtr)(DaftActorCtx *ctx, const DaftValue *args, int nargs,
                            DaftValue *out);

/* One entry of the registry. */
typedef struct DaftStdFn {
    const char *symbol;    /* C symbol, e.g. "daft_std_tensor_matmul" */
    const char *module;    /* daft module, e.g. "std.tensor" */
    const char *name;      /* daft name inside the module, e.g. "matmul" */
    int min_args, max_args;
    DaftStdFnPtr fn;
    const char *signature; /* human-readable, e.g. "matmul(a: tensor, b: tensor) -> tensor" */
} DaftStdFn;

/* The entry whose C symbol is `symbol`, or NULL (also for NULL). For the REPL and other
 * interpreted paths, which find std functions by the symbol named in the extern decl. */
DAFT_API const DaftStdFn *daft_std_lookup(const char *symbol);
/* All entries (for listing and tests); *count receives their number. */
DAFT_API const DaftStdFn *daft_std_functions(size_t *count);

/* Number of tensor elements `print` shows before "...". */
#define DAFT_STD_PRINT_ELEMS 6

/* The list nesting that print shows: a list nested deeper prints as "[...]" (SPEC 10.7). */
#define DAFT_STD_FMT_MAX_DEPTH 32

/* Formats v as daft's print shows it (see "printing" above) into buf, at most cap bytes
 * including the NUL (buf may be NULL when cap is 0); returns the length the full text
 * has, like snprintf, so a caller can size a buffer and call again. */
DAFT_API int daft_std_format_value(const DaftValue *v, char *buf, size_t cap);

/* A float as print shows it: C's %g, except that every NaN is "nan". Which sign a NaN gets
 * is up to the arithmetic that made it (x86's 0.0 / 0.0 gives a negative NaN, LLVM's constant
 * folding and CUDA a positive one), so %g would print "-nan" or "nan" for the same program
 * depending on -O0/-O2, daftc or daft-repl, CPU or GPU (SPEC 10.7). Returns as snprintf. */
DAFT_API int daft_std_format_float(double v, char *buf, size_t cap);

/* ---- the functions (see the table above) */
#define DAFT_STD_DECL(sym) \
    DAFT_API int sym(DaftActorCtx *ctx, const DaftValue *args, int nargs, DaftValue *out);
DAFT_STD_DECL(daft_std_tensor_randn)
DAFT_STD_DECL(daft_std_tensor_rand)
DAFT_STD_DECL(daft_std_tensor_zeros)
DAFT_STD_DECL(daft_std_tensor_ones)
DAFT_STD_DECL(daft_std_tensor_matmul)
DAFT_STD_DECL(daft_std_tensor_add)
DAFT_STD_DECL(daft_std_tensor_mul)
DAFT_STD_DECL(daft_std_tensor_relu)
DAFT_STD_DECL(daft_std_tensor_sum)
DAFT_STD_DECL(daft_std_tensor_slice)
DAFT_STD_DECL(daft_std_tensor_concat)
DAFT_STD_DECL(daft_std_tensor_linear_forward)
DAFT_STD_DECL(daft_std_tensor_linear_backward)
DAFT_STD_DECL(daft_std_tensor_linear_weight_grad)
DAFT_STD_DECL(daft_std_tensor_linear_input_grad)
DAFT_STD_DECL(daft_std_tensor_mse_loss)
DAFT_STD_DECL(daft_std_tensor_mse)
DAFT_STD_DECL(daft_std_tensor_mse_grad)
DAFT_STD_DECL(daft_std_tensor_sgd_update)
DAFT_STD_DECL(daft_std_tensor_to_cpu)
DAFT_STD_DECL(daft_std_tensor_to_gpu)
DAFT_STD_DECL(daft_std_tensor_shape)
DAFT_STD_DECL(daft_std_tensor_numel)
DAFT_STD_DECL(daft_std_tensor_dtype)
DAFT_STD_DECL(daft_std_tensor_relu_backward)
/* std.time and std.env (SPEC.md §13.3, §13.4; stdlib/std/time.daft, env.daft):
 * now()                        daft_std_time_now      f64 seconds of CLOCK_MONOTONIC
 * get_i64(name, default)       daft_std_env_get_i64   the variable as a decimal i64 (blanks
 *                              around it allowed); default when unset or empty; any other
 *                              value is an error naming the variable
 * get_str(name, default)       daft_std_env_get_str   the variable's value; default when unset
 * An empty name, or a str holding a NUL byte, is an error. */
DAFT_STD_DECL(daft_std_time_now)
DAFT_STD_DECL(daft_std_env_get_i64)
DAFT_STD_DECL(daft_std_env_get_str)
#undef DAFT_STD_DECL

#ifdef __cplusplus
}
#endif
#endif /* DAFT_STD_H */
