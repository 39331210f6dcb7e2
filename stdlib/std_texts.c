/* std_texts.c — see std_texts.h. Plain C: no allocation, no symbol of libdaftrt. */
#include "std_texts.h"

#include <stdio.h>

const char *std_dtype_name(DaftRtDtype dt)
{
    static const char *const names[] = { "f32", "bf16", "f16", "i32", "i64" };
    /* compare as unsigned: a corrupted enum may hold a negative value */
    return (unsigned)dt < DAFT_RT_DTYPE_COUNT ? names[dt] : "?";
}

void std_fmt_shape(int rank, const int64_t *dims, char *buf, size_t cap)
{
    size_t n = 0;
    if (cap == 0)
        return;
    buf[0] = '\0';
    int r = rank < 0 ? 0 : rank > DAFT_MAX_RANK ? DAFT_MAX_RANK : rank;
    n += (size_t)snprintf(buf + n, n < cap ? cap - n : 0, "[");
    for (int i = 0; i < r && n < cap; i++)
        n += (size_t)snprintf(buf + n, cap - n, "%s%lld", i ? ", " : "", (long long)dims[i]);
    if (n < cap)
        snprintf(buf + n, cap - n, "]");
}

bool std_text_same_shape(const DaftTensor *a, const DaftTensor *b, char *msg, size_t cap)
{
    bool same = a->dtype == b->dtype && a->rank == b->rank;
    for (int i = 0; same && i < a->rank; i++)
        same = a->dims[i] == b->dims[i];
    if (same)
        return true;
    char sa[160], sb[160];
    std_fmt_shape(a->rank, a->dims, sa, sizeof sa);
    std_fmt_shape(b->rank, b->dims, sb, sizeof sb);
    if (a->dtype != b->dtype)
        snprintf(msg, cap, "dtypes differ: tensor<%s, %s> and tensor<%s, %s>", std_dtype_name(a->dtype), sa,
                 std_dtype_name(b->dtype), sb);
    else
        snprintf(msg, cap, "shapes differ: %s and %s", sa, sb);
    return false;
}

bool std_text_matmul(const DaftTensor *a, const DaftTensor *b, char *msg, size_t cap)
{
    char sa[160], sb[160];
    std_fmt_shape(a->rank, a->dims, sa, sizeof sa);
    std_fmt_shape(b->rank, b->dims, sb, sizeof sb);
    if (a->rank != 2 || b->rank != 2)
        snprintf(msg, cap, "expects 2-D tensors, got %s x %s", sa, sb);
    else if (a->dtype != b->dtype)
        snprintf(msg, cap, "dtypes differ: tensor<%s> x tensor<%s>", std_dtype_name(a->dtype),
                 std_dtype_name(b->dtype));
    else if (a->dims[1] != b->dims[0])
        snprintf(msg, cap, "inner dimensions differ: %s x %s", sa, sb);
    else
        return true;
    return false;
}

bool std_text_2d(const char *what, const DaftTensor *t, char *msg, size_t cap)
{
    if (t->rank == 2)
        return true;
    char s[160];
    std_fmt_shape(t->rank, t->dims, s, sizeof s);
    snprintf(msg, cap, "%s must be a 2-D tensor, got shape %s", what, s);
    return false;
}

bool std_text_product(const DaftTensor *a0, const char *n0, const DaftTensor *a1, const char *n1, bool t0,
                      bool t1, const char *fit, char *msg, size_t cap)
{
    if (!std_text_2d(n0, a0, msg, cap) || !std_text_2d(n1, a1, msg, cap))
        return false;
    if (a0->dtype != a1->dtype) {
        snprintf(msg, cap, "dtypes differ: %s tensor<%s>, %s tensor<%s>", n0, std_dtype_name(a0->dtype), n1,
                 std_dtype_name(a1->dtype));
        return false;
    }
    if (a1->dims[t1 ? 1 : 0] == a0->dims[t0 ? 0 : 1])
        return true;
    char s0[160], s1[160];
    std_fmt_shape(2, a0->dims, s0, sizeof s0);
    std_fmt_shape(2, a1->dims, s1, sizeof s1);
    snprintf(msg, cap, "shapes do not fit %s: %s %s, %s %s", fit, n0, s0, n1, s1);
    return false;
}

bool std_text_linear_backward(const DaftTensor *x, const DaftTensor *w, const DaftTensor *gy, char *msg,
                              size_t cap)
{
    if (!std_text_2d("x", x, msg, cap) || !std_text_2d("w", w, msg, cap) || !std_text_2d("gy", gy, msg, cap))
        return false;
    if (x->dtype != w->dtype || x->dtype != gy->dtype) {
        snprintf(msg, cap, "dtypes differ: x tensor<%s>, w tensor<%s>, gy tensor<%s>", std_dtype_name(x->dtype),
                 std_dtype_name(w->dtype), std_dtype_name(gy->dtype));
        return false;
    }
    if (x->dims[1] == w->dims[0] && gy->dims[0] == x->dims[0] && gy->dims[1] == w->dims[1])
        return true;
    char sx[160], sw[160], sg[160];
    std_fmt_shape(2, x->dims, sx, sizeof sx);
    std_fmt_shape(2, w->dims, sw, sizeof sw);
    std_fmt_shape(2, gy->dims, sg, sizeof sg);
    snprintf(msg, cap, "shapes do not fit x [b, in], w [in, out], gy [b, out]: x %s, w %s, gy %s", sx, sw, sg);
    return false;
}

bool std_text_dim(int64_t *dim, int rank, char *msg, size_t cap)
{
    if (*dim < -(int64_t)rank || *dim >= rank) {
        snprintf(msg, cap, "dim %lld is out of range for a rank-%d tensor", (long long)*dim, rank);
        return false;
    }
    if (*dim < 0)
        *dim += rank;
    return true;
}

bool std_text_slice_range(const DaftTensor *a, int64_t dim, int64_t start, int64_t end, char *msg, size_t cap)
{
    if (start >= 0 && start <= end && end <= a->dims[dim])
        return true;
    snprintf(msg, cap, "range %lld..%lld is out of bounds for dimension %lld of size %lld", (long long)start,
             (long long)end, (long long)dim, (long long)a->dims[dim]);
    return false;
}

bool std_text_concat_item(const DaftTensor *t0, const DaftTensor *t, size_t k, int64_t dim, char *msg,
                          size_t cap)
{
    bool fits = t->dtype == t0->dtype && t->rank == t0->rank;
    for (int i = 0; fits && i < t0->rank; i++)
        fits = i == dim || t->dims[i] == t0->dims[i];
    if (fits)
        return true;
    char s0[160], sk[160];
    std_fmt_shape(t0->rank, t0->dims, s0, sizeof s0);
    std_fmt_shape(t->rank, t->dims, sk, sizeof sk);
    snprintf(msg, cap, "item %zu tensor<%s, %s> does not fit item 0 tensor<%s, %s> along dim %lld", k,
             std_dtype_name(t->dtype), sk, std_dtype_name(t0->dtype), s0, (long long)dim);
    return false;
}
