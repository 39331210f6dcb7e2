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
