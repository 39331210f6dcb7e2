/* std_texts.h — the texts of std.tensor's dtype and shape checks, one copy for the CPU
 * operations (libdaftstd) and the GPU ones (libdaftgpu, which takes no symbol from the
 * program that loads it, so it compiles std_texts.c in as well): a mismatch reads the same
 * wherever the tensors are (SPEC 5.5's texts, the user trial's "GPU texts differ"). */
#ifndef DAFT_STD_TEXTS_H
#define DAFT_STD_TEXTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "daftrt.h"

const char *std_dtype_name(DaftRtDtype dt); /* "?" for an invalid dtype */
/* "[2, 3]" (truncated to cap). */
void std_fmt_shape(int rank, const int64_t *dims, char *buf, size_t cap);

/* Whether an elementwise operation may combine a and b (same dtype and shape); when not,
 * msg gets why: "dtypes differ: tensor<f32, [2]> and tensor<i32, [2]>" or "shapes differ:
 * [2] and [3]". */
bool std_text_same_shape(const DaftTensor *a, const DaftTensor *b, char *msg, size_t cap);
/* Whether matmul may multiply a by b (2-D, same dtype, a's columns = b's rows); when not,
 * msg gets why. */
bool std_text_matmul(const DaftTensor *a, const DaftTensor *b, char *msg, size_t cap);
/* Whether t (the argument named what) is 2-D; when not, msg gets why. */
bool std_text_2d(const char *what, const DaftTensor *t, char *msg, size_t cap);
/* Whether op(a0) @ op(a1) fits (linear_weight_grad, linear_input_grad: both 2-D, one dtype, the
 * inner dimensions equal); n0 / n1 name the arguments, fit describes the shapes that fit. */
bool std_text_product(const DaftTensor *a0, const char *n0, const DaftTensor *a1, const char *n1, bool t0,
                      bool t1, const char *fit, char *msg, size_t cap);
/* Whether dim names a dimension of a rank-`rank` tensor (negative: from the end; *dim becomes
 * 0..rank-1). */
bool std_text_dim(int64_t *dim, int rank, char *msg, size_t cap);
/* Whether slice(a, dim, start, end) is in bounds (dim already checked by std_text_dim). */
bool std_text_slice_range(const DaftTensor *a, int64_t dim, int64_t start, int64_t end, char *msg, size_t cap);
/* Whether concat's item k fits item 0 along dim (same dtype and rank, other dimensions equal). */
bool std_text_concat_item(const DaftTensor *t0, const DaftTensor *t, size_t k, int64_t dim, char *msg,
                          size_t cap);
/* Whether linear_backward's x [b, in], w [in, out] and gy [b, out] fit. */
bool std_text_linear_backward(const DaftTensor *x, const DaftTensor *w, const DaftTensor *gy, char *msg,
                              size_t cap);

#endif /* DAFT_STD_TEXTS_H */
