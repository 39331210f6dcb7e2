/* std_format.c — daft_std_format_value: how daft's `print` shows a value.
 *
 * The writer keeps counting after the buffer is full, so the return value is the full
 * length like snprintf's and callers can size a buffer exactly.
 */
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "std_internal.h"

/* Nesting depth beyond which a list prints as "[...]" (no unbounded recursion). */
#define STD_FMT_MAX_DEPTH DAFT_STD_FMT_MAX_DEPTH

typedef struct StdOut {
    char *buf;
    size_t cap, len; /* len: the full length so far, may exceed cap */
} StdOut;

static void std_put(StdOut *o, const char *s, size_t n)
{
    if (o->len < o->cap) {
        size_t room = o->cap - o->len - 1; /* keep one byte for the NUL */
        memcpy(o->buf + o->len, s, n < room ? n : room);
    }
    o->len += n;
}

static void std_puts(StdOut *o, const char *s)
{
    std_put(o, s, strlen(s));
}

static void std_putf(StdOut *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void std_putf(StdOut *o, const char *fmt, ...)
{
    char tmp[128];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n > 0)
        std_put(o, tmp, (size_t)n < sizeof tmp ? (size_t)n : sizeof tmp - 1);
}

static void std_put_quoted(StdOut *o, const char *s, size_t len)
{
    std_puts(o, "\"");
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch == '"' || ch == '\\')
            std_putf(o, "\\%c", ch);
        else if (ch == '\n')
            std_puts(o, "\\n");
        else if (ch == '\t')
            std_puts(o, "\\t");
        else if (ch < 0x20 || ch == 0x7F)
            std_putf(o, "\\x%02x", ch);
        else
            std_put(o, (const char *)&ch, 1);
    }
    std_puts(o, "\"");
}

int daft_std_format_float(double v, char *buf, size_t cap)
{
    return isnan(v) ? snprintf(buf, cap, "nan") : snprintf(buf, cap, "%g", v);
}

static void std_put_float(StdOut *o, double v)
{
    char b[40];
    daft_std_format_float(v, b, sizeof b);
    std_puts(o, b);
}

static void std_put_tensor(StdOut *o, const DaftTensor *t)
{
    DaftValue err = { 0 };
    int64_t n;
    char shape[160];
    std_fmt_shape(t->rank, t->dims, shape, sizeof shape);
    /* a malformed tensor still prints something useful instead of reading wild memory */
    if (std_check_tensor("tensor", t, &n, &err)) {
        std_putf(o, "<invalid tensor: %.100s>", err.as.error.msg ? err.as.error.msg : "?");
        daft_value_free(&err);
        return;
    }
    std_putf(o, "tensor<%s, ", std_dtype_name(t->dtype));
    std_puts(o, shape);
    std_puts(o, "> [");
    int64_t shown = n < DAFT_STD_PRINT_ELEMS ? n : DAFT_STD_PRINT_ELEMS;
    for (int64_t i = 0; i < shown; i++) {
        if (i)
            std_puts(o, ", ");
        switch (t->dtype) {
        case DAFT_RT_F32: std_put_float(o, (double)((const float *)t->data)[i]); break;
        case DAFT_RT_BF16:
            std_put_float(o, (double)std_bf16_to_f32(((const uint16_t *)t->data)[i]));
            break;
        case DAFT_RT_F16:
            std_put_float(o, (double)std_f16_to_f32(((const uint16_t *)t->data)[i]));
            break;
        case DAFT_RT_I32: std_putf(o, "%" PRId32, ((const int32_t *)t->data)[i]); break;
        default: std_putf(o, "%" PRId64, ((const int64_t *)t->data)[i]); break;
        }
    }
    if (n > shown)
        std_puts(o, ", ...");
    std_puts(o, "]");
}

static void std_put_value(StdOut *o, const DaftValue *v, int depth)
{
    switch (v->kind) {
    case DAFT_V_NONE: std_puts(o, "none"); break;
    case DAFT_V_I64: std_putf(o, "%" PRId64, v->as.i64); break;
    case DAFT_V_F64: std_put_float(o, v->as.f64); break;
    case DAFT_V_BOOL: std_puts(o, v->as.b ? "true" : "false"); break;
    case DAFT_V_STR:
        if (!v->as.str.ptr)
            std_puts(o, depth ? "\"\"" : "");
        else if (depth)
            std_put_quoted(o, v->as.str.ptr, v->as.str.len);
        else
            std_put(o, v->as.str.ptr, v->as.str.len);
        break;
    case DAFT_V_TENSOR: std_put_tensor(o, &v->as.tensor); break;
    case DAFT_V_LIST:
        if (depth >= STD_FMT_MAX_DEPTH || (v->as.list.len && !v->as.list.items)) {
            std_puts(o, "[...]");
            break;
        }
        std_puts(o, "[");
        for (size_t i = 0; i < v->as.list.len; i++) {
            if (i)
                std_puts(o, ", ");
            std_put_value(o, &v->as.list.items[i], depth + 1);
        }
        std_puts(o, "]");
        break;
    case DAFT_V_ACTOR: std_putf(o, "<actor %" PRIu32 ">", v->as.actor); break;
    case DAFT_V_REF:
        std_putf(o, "<ref %" PRIu64 " of actor %" PRIu32 ">", v->as.ref.id, v->as.ref.owner);
        break;
    case DAFT_V_ERROR:
        std_puts(o, "error: ");
        std_puts(o, v->as.error.msg ? v->as.error.msg : "(no message)");
        break;
    default: std_putf(o, "<invalid value kind %d>", (int)v->kind); break;
    }
}

int daft_std_format_value(const DaftValue *v, char *buf, size_t cap)
{
    StdOut o = { buf, buf ? cap : 0, 0 };
    if (!v)
        std_puts(&o, "none");
    else
        std_put_value(&o, v, 0);
    if (o.cap)
        o.buf[o.len < o.cap ? o.len : o.cap - 1] = '\0';
    return o.len > INT32_MAX ? INT32_MAX : (int)o.len;
}
