/* std_internal.h — helpers shared by the stdlib's C files (internal; prefix std_).
 *
 * Every helper that can fail follows the ABI of the public functions: it returns 0, or
 * non-zero after storing an error value (already prefixed with the function's daft name)
 * in *out, so callers just `if ((rc = std_...(...))) return rc;`.
 */
#ifndef DAFT_STD_INTERNAL_H
#define DAFT_STD_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "daft/std.h"
#include "daftrt.h"
#include "std_texts.h"

/* The largest CPU tensor, in bytes: far beyond any real use, and below what allocators
 * (and AddressSanitizer's) accept, so absurd shapes fail with a message, not an abort. */
#define STD_MAX_TENSOR_BYTES ((int64_t)1 << 39)
/* The most elements, also for every prefix of the dims (libdaftrt's own limit). */
#define STD_MAX_TENSOR_ELEMS ((int64_t)1 << 40)

/* Stores the error "<fn>: <formatted>" in *out and returns DAFT_EINVAL. */
int std_fail(DaftValue *out, const char *fn, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Same with DAFT_ENOMEM. */
int std_fail_nomem(DaftValue *out, const char *fn, size_t bytes);

const char *std_kind_name(DaftKind k);
size_t std_dtype_size(DaftRtDtype dt);   /* 0 for an invalid dtype */
bool std_dtype_is_float(DaftRtDtype dt);
/* (std_dtype_name, std_fmt_shape: std_texts.h, shared with the GPU operations) */
/* "tensor<f32, [2, 3]>" (or the kind's name for a non-tensor) into buf. */
void std_fmt_type(const DaftValue *v, char *buf, size_t cap);

/* Checks a shape (rank, dims >= 0) and computes its element count, rejecting counts
 * whose size in bytes overflows or exceeds STD_MAX_TENSOR_BYTES. */
int std_check_shape(const char *fn, DaftRtDtype dt, int rank, const int64_t *dims,
                    int64_t *numel, DaftValue *out);

/* Argument accessors; `i` is 0-based, messages say "argument i+1". */
int std_check_nargs(const char *fn, const DaftValue *args, int nargs, int min, int max,
                    DaftValue *out);
int std_arg_tensor(const char *fn, const DaftValue *args, int i, const DaftTensor **t,
                   int64_t *numel, DaftValue *out);
/* Checks a tensor's dtype, rank, dims and data; messages start with `what`. */
int std_check_tensor(const char *what, const DaftTensor *x, int64_t *numel, DaftValue *out);
int std_arg_i64(const char *fn, const DaftValue *args, int i, int64_t *v, DaftValue *out);
int std_arg_f64(const char *fn, const DaftValue *args, int i, double *v, DaftValue *out);
int std_arg_shape(const char *fn, const DaftValue *args, int i, int *rank, int64_t *dims,
                  DaftValue *out);
int std_arg_dtype(const char *fn, const DaftValue *args, int nargs, int i,
                  DaftRtDtype dflt, DaftRtDtype *dt, DaftValue *out);

/* Element count of a tensor that passed std_arg_tensor/std_new_tensor. */
static inline int64_t std_numel(const DaftTensor *t)
{
    int64_t n = 1;
    for (int i = 0; i < t->rank; i++)
        n *= t->dims[i];
    return n;
}

/* A new zero-filled tensor value in *out; *t points at its DaftTensor. */
int std_new_tensor(const char *fn, DaftRtDtype dt, int rank, const int64_t *dims,
                   DaftValue *out, DaftTensor **t);
/* A new tensor equal to src. */
int std_copy_tensor(const char *fn, const DaftTensor *src, DaftValue *out);

/* Both tensors have the same dtype and shape, else an error naming both. */
int std_same_shape(const char *fn, const DaftTensor *a, const DaftTensor *b, DaftValue *out);

/* The common prologues: exactly one tensor argument (*n gets its element count; n may be
 * NULL), or exactly two tensor arguments of the same dtype and shape (*n: the count of
 * each). Same checks, in the same order, as std_check_nargs + std_arg_tensor (+
 * std_same_shape). */
int std_one_tensor(const char *fn, const DaftValue *args, int nargs, const DaftTensor **a,
                   int64_t *n, DaftValue *out);
int std_two_tensors(const char *fn, const DaftValue *args, int nargs, const DaftTensor **a,
                    const DaftTensor **b, int64_t *n, DaftValue *out);

/* Row-major C = op(A) op(B) with op = transpose when ta/tb; C is m x n and zero-filled on
 * entry. f32 through cblas_sgemm, i32/i64 by loops; other dtypes fail. */
int std_gemm(const char *fn, DaftRtDtype dt, bool ta, bool tb, int64_t m, int64_t n,
             int64_t k, const void *a, const void *b, void *c, DaftValue *out);

/* float <-> bf16 / f16 (round to nearest even; NaN stays NaN). */
uint16_t std_f32_to_bf16(float f);
uint16_t std_f32_to_f16(float f);
float std_bf16_to_f32(uint16_t h);
float std_f16_to_f32(uint16_t h);

#endif /* DAFT_STD_INTERNAL_H */
