/* rt_value.c — DaftValue constructors, copy, equality, formatting and the wire encoding.
 *
 * Wire format (little-endian, self-delimiting): u8 kind, then
 *   I64 i64 | F64 8 bytes | BOOL u8 | STR/ERROR u64 len + bytes | ACTOR u32 |
 *   REF u64 id + u32 owner | TENSOR u8 dtype, u8 rank, rank × i64 dims, data bytes |
 *   (dtype | 0x80: the tensor was on a GPU; its data bytes are a host copy)
 *   LIST u64 len + items. */
#define _GNU_SOURCE
#include "rt_internal.h"
#include "rt_gpu.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RT_MAX_DEPTH 64 /* nesting limit of lists, so a hostile buffer cannot blow the stack */

static const struct { const char *name; size_t size; } rt_dtypes[DAFT_RT_DTYPE_COUNT] = {
    {"f32", 4}, {"bf16", 2}, {"f16", 2}, {"i32", 4}, {"i64", 8},
};

size_t daft_rt_dtype_size(DaftRtDtype dt)
{
    return (unsigned)dt < DAFT_RT_DTYPE_COUNT ? rt_dtypes[dt].size : 0;
}

const char *daft_rt_dtype_name(DaftRtDtype dt)
{
    return (unsigned)dt < DAFT_RT_DTYPE_COUNT ? rt_dtypes[dt].name : NULL;
}

int daft_tensor_shape_format(const DaftTensor *t, char *buf, size_t cap)
{
    /* composed in a local buffer: the caller's may be tiny or NULL */
    char tmp[8 + DAFT_MAX_RANK * 24];
    size_t n = (size_t)snprintf(tmp, sizeof tmp, "[");
    for (int i = 0; i < t->rank && i < DAFT_MAX_RANK && n < sizeof tmp; i++)
        n += (size_t)snprintf(tmp + n, sizeof tmp - n, i ? ", %lld" : "%lld", (long long)t->dims[i]);
    if (n < sizeof tmp)
        snprintf(tmp + n, sizeof tmp - n, "]");
    return snprintf(buf, cap, "%s", tmp);
}

int daft_tensor_type_format(const DaftTensor *t, char *buf, size_t cap)
{
    char shape[8 + DAFT_MAX_RANK * 24];
    const char *dt = daft_rt_dtype_name(t->dtype);
    daft_tensor_shape_format(t, shape, sizeof shape);
    return snprintf(buf, cap, "tensor<%s, %s>", dt ? dt : "?", shape);
}

int64_t daft_tensor_numel(const DaftTensor *t)
{
    int64_t n = 1;
    for (int i = 0; i < t->rank; i++)
        n *= t->dims[i];
    return n;
}

size_t daft_tensor_nbytes(const DaftTensor *t)
{
    return (size_t)daft_tensor_numel(t) * daft_rt_dtype_size(t->dtype);
}

DaftValue daft_value_none(void)
{
    DaftValue v;
    memset(&v, 0, sizeof v);
    return v;
}

DaftValue daft_value_i64(int64_t x) { DaftValue v = daft_value_none(); v.kind = DAFT_V_I64; v.as.i64 = x; return v; }
DaftValue daft_value_f64(double x) { DaftValue v = daft_value_none(); v.kind = DAFT_V_F64; v.as.f64 = x; return v; }
DaftValue daft_value_bool(bool x) { DaftValue v = daft_value_none(); v.kind = DAFT_V_BOOL; v.as.b = x; return v; }
DaftValue daft_value_actor(DaftActor a) { DaftValue v = daft_value_none(); v.kind = DAFT_V_ACTOR; v.as.actor = a; return v; }
DaftValue daft_value_ref(DaftRef r) { DaftValue v = daft_value_none(); v.kind = DAFT_V_REF; v.as.ref = r; return v; }

DaftValue daft_value_strn(const char *s, size_t len)
{
    DaftValue v = daft_value_none();
    char *p = malloc(len + 1);
    if (!p)
        return daft_value_error("out of memory copying a string of %zu bytes", len);
    if (len)
        memcpy(p, s, len);
    p[len] = 0;
    v.kind = DAFT_V_STR;
    v.as.str.ptr = p;
    v.as.str.len = len;
    return v;
}

DaftValue daft_value_str(const char *s) { return daft_value_strn(s, s ? strlen(s) : 0); }

/* Checks a shape: dims non-negative, size fits comfortably in memory arithmetic. */
static bool rt_shape_ok(DaftRtDtype dt, int rank, const int64_t *dims)
{
    if ((unsigned)dt >= DAFT_RT_DTYPE_COUNT || rank < 0 || rank > DAFT_MAX_RANK)
        return false;
    int64_t n = 1;
    for (int i = 0; i < rank; i++) {
        if (dims[i] < 0 || (dims[i] && n > (INT64_C(1) << 40) / dims[i]))
            return false;
        n *= dims[i];
    }
    return true;
}

DaftValue daft_value_tensor(DaftRtDtype dt, int rank, const int64_t *dims, const void *data)
{
    if (!rt_shape_ok(dt, rank, dims))
        return daft_value_error("invalid tensor shape (dtype %d, rank %d)", (int)dt, rank);
    DaftValue v = daft_value_none();
    v.kind = DAFT_V_TENSOR;
    v.as.tensor.dtype = dt;
    v.as.tensor.rank = rank;
    for (int i = 0; i < rank; i++)
        v.as.tensor.dims[i] = dims[i];
    size_t nb = daft_tensor_nbytes(&v.as.tensor);
    v.as.tensor.data = data ? malloc(nb ? nb : 1) : calloc(1, nb ? nb : 1);
    if (!v.as.tensor.data)
        return daft_value_error("out of memory allocating a tensor of %zu bytes", nb);
    if (data && nb)
        memcpy(v.as.tensor.data, data, nb);
    return v;
}

DaftValue daft_value_list(size_t len)
{
    DaftValue v = daft_value_none();
    v.kind = DAFT_V_LIST;
    v.as.list.items = calloc(len ? len : 1, sizeof(DaftValue));
    if (!v.as.list.items)
        return daft_value_error("out of memory allocating a list of %zu items", len);
    v.as.list.len = len;
    return v;
}

DaftValue daft_value_error(const char *fmt, ...)
{
    DaftValue v = daft_value_none();
    va_list ap;
    va_start(ap, fmt);
    char *msg = NULL;
    if (vasprintf(&msg, fmt, ap) < 0)
        msg = NULL;
    va_end(ap);
    v.kind = DAFT_V_ERROR;
    v.as.error.msg = msg ? msg : strdup("out of memory formatting an error");
    return v;
}

void daft_value_free(DaftValue *v)
{
    if (!v)
        return;
    switch (v->kind) {
    case DAFT_V_STR: free(v->as.str.ptr); break;
    case DAFT_V_ERROR: free(v->as.error.msg); break;
    case DAFT_V_TENSOR:
        if (v->as.tensor.device)
            rt_gpu_tensor_free(&v->as.tensor);
        else
            free(v->as.tensor.data);
        break;
    case DAFT_V_LIST:
        for (size_t i = 0; i < v->as.list.len; i++)
            daft_value_free(&v->as.list.items[i]);
        free(v->as.list.items);
        break;
    default: break;
    }
    *v = daft_value_none();
}

int daft_value_copy(DaftValue *dst, const DaftValue *src)
{
    switch (src->kind) {
    case DAFT_V_STR:
        *dst = daft_value_strn(src->as.str.ptr, src->as.str.len);
        break;
    case DAFT_V_ERROR:
        *dst = daft_value_error("%s", src->as.error.msg ? src->as.error.msg : "");
        return 0;
    case DAFT_V_TENSOR: {
        const DaftTensor *t = &src->as.tensor;
        if (t->device) { /* a copy on the same GPU */
            *dst = daft_value_none();
            if (rt_gpu_tensor_dup(&dst->as.tensor, t))
                return DAFT_ENOMEM;
            dst->kind = DAFT_V_TENSOR;
            return 0;
        }
        *dst = daft_value_tensor(t->dtype, t->rank, t->dims, t->data);
        break;
    }
    case DAFT_V_LIST:
        *dst = daft_value_list(src->as.list.len);
        if (dst->kind != DAFT_V_LIST)
            return DAFT_ENOMEM;
        for (size_t i = 0; i < src->as.list.len; i++)
            if (daft_value_copy(&dst->as.list.items[i], &src->as.list.items[i])) {
                daft_value_free(dst);
                return DAFT_ENOMEM;
            }
        return 0;
    default:
        *dst = *src;
        return 0;
    }
    return dst->kind == src->kind ? 0 : DAFT_ENOMEM;
}

bool daft_value_equal(const DaftValue *a, const DaftValue *b)
{
    if (a->kind != b->kind)
        return false;
    switch (a->kind) {
    case DAFT_V_NONE: return true;
    case DAFT_V_I64: return a->as.i64 == b->as.i64;
    case DAFT_V_F64: return memcmp(&a->as.f64, &b->as.f64, 8) == 0;
    case DAFT_V_BOOL: return a->as.b == b->as.b;
    case DAFT_V_ACTOR: return a->as.actor == b->as.actor;
    case DAFT_V_REF: return a->as.ref.id == b->as.ref.id && a->as.ref.owner == b->as.ref.owner;
    case DAFT_V_STR:
        return a->as.str.len == b->as.str.len && !memcmp(a->as.str.ptr, b->as.str.ptr, a->as.str.len);
    case DAFT_V_ERROR: return strcmp(a->as.error.msg, b->as.error.msg) == 0;
    case DAFT_V_TENSOR: {
        const DaftTensor *x = &a->as.tensor, *y = &b->as.tensor;
        if (x->dtype != y->dtype || x->rank != y->rank)
            return false;
        for (int i = 0; i < x->rank; i++)
            if (x->dims[i] != y->dims[i])
                return false;
        if (!x->device && !y->device)
            return memcmp(x->data, y->data, daft_tensor_nbytes(x)) == 0;
        size_t nb = daft_tensor_nbytes(x); /* GPU: compare host copies */
        uint8_t *hx = malloc(nb + 1), *hy = malloc(nb + 1);
        bool eq = hx && hy &&
                  !(x->device ? rt_gpu_tensor_read(x, hx) : (memcpy(hx, x->data, nb), 0)) &&
                  !(y->device ? rt_gpu_tensor_read(y, hy) : (memcpy(hy, y->data, nb), 0)) &&
                  memcmp(hx, hy, nb) == 0;
        free(hx);
        free(hy);
        return eq;
    }
    case DAFT_V_LIST:
        if (a->as.list.len != b->as.list.len)
            return false;
        for (size_t i = 0; i < a->as.list.len; i++)
            if (!daft_value_equal(&a->as.list.items[i], &b->as.list.items[i]))
                return false;
        return true;
    default: return false;
    }
}

int daft_value_format(const DaftValue *v, char *buf, size_t cap)
{
    switch (v->kind) {
    case DAFT_V_NONE: return snprintf(buf, cap, "none");
    case DAFT_V_I64: return snprintf(buf, cap, "%lld", (long long)v->as.i64);
    case DAFT_V_F64: return snprintf(buf, cap, "%g", v->as.f64);
    case DAFT_V_BOOL: return snprintf(buf, cap, "%s", v->as.b ? "true" : "false");
    case DAFT_V_STR: return snprintf(buf, cap, "\"%s\"", v->as.str.ptr);
    case DAFT_V_ACTOR: return snprintf(buf, cap, "actor#%u", v->as.actor);
    case DAFT_V_REF:
        return snprintf(buf, cap, "Ref(%llu@%u)", (unsigned long long)v->as.ref.id, v->as.ref.owner);
    case DAFT_V_ERROR: return snprintf(buf, cap, "error: %s", v->as.error.msg);
    case DAFT_V_TENSOR: { /* compose in a local buffer: the caller's may be tiny or NULL */
        const DaftTensor *t = &v->as.tensor;
        char tmp[32 + DAFT_MAX_RANK * 24];
        size_t n = (size_t)snprintf(tmp, sizeof tmp, "tensor<%s>[", daft_rt_dtype_name(t->dtype));
        for (int i = 0; i < t->rank && n < sizeof tmp; i++)
            n += (size_t)snprintf(tmp + n, sizeof tmp - n, i ? ", %lld" : "%lld", (long long)t->dims[i]);
        if (t->device)
            return snprintf(buf, cap, "%s]@gpu%d", tmp, daft_tensor_gpu(t));
        return snprintf(buf, cap, "%s]", tmp);
    }
    case DAFT_V_LIST: return snprintf(buf, cap, "list[%zu]", v->as.list.len);
    default: return snprintf(buf, cap, "<kind %d>", (int)v->kind);
    }
}

/* ---------------------------------------------------------------- encoding */

static int rt_value_put_sp(RtBuf *b, const DaftValue *v, RtSplices *sp)
{
    int rc = rt_buf_u8(b, (uint8_t)v->kind);
    if (rc)
        return rc;
    switch (v->kind) {
    case DAFT_V_NONE: return 0;
    case DAFT_V_I64: return rt_buf_put(b, &v->as.i64, 8);
    case DAFT_V_F64: return rt_buf_put(b, &v->as.f64, 8);
    case DAFT_V_BOOL: return rt_buf_u8(b, v->as.b);
    case DAFT_V_ACTOR: return rt_buf_u32(b, v->as.actor);
    case DAFT_V_REF:
        rc = rt_buf_u64(b, v->as.ref.id);
        return rc ? rc : rt_buf_u32(b, v->as.ref.owner);
    case DAFT_V_STR:
    case DAFT_V_ERROR: {
        const char *s = v->kind == DAFT_V_STR ? v->as.str.ptr : v->as.error.msg;
        size_t n = v->kind == DAFT_V_STR ? v->as.str.len : strlen(s);
        rc = rt_buf_u64(b, n);
        return rc ? rc : rt_buf_put(b, s, n);
    }
    case DAFT_V_TENSOR: {
        const DaftTensor *t = &v->as.tensor;
        uint8_t gpu = t->device ? 0x80 : 0;
        if ((rc = rt_buf_u8(b, (uint8_t)t->dtype | gpu)) || (rc = rt_buf_u8(b, (uint8_t)t->rank)) ||
            (rc = rt_buf_put(b, t->dims, 8 * (size_t)t->rank)))
            return rc;
        if (!t->device && sp && daft_tensor_nbytes(t) >= RT_SPLICE_MIN)
            return rt_splice_add(sp, b->len, t->data, daft_tensor_nbytes(t), NULL);
        if (!t->device)
            return rt_buf_put(b, t->data, daft_tensor_nbytes(t));
        if (sp && !sp->host_only && daft_tensor_nbytes(t) >= RT_SPLICE_MIN)
            return rt_splice_add(sp, b->len, NULL, daft_tensor_nbytes(t), t);
        size_t nb = daft_tensor_nbytes(t); /* device → host, straight into the message */
        if ((rc = rt_buf_reserve(b, nb)))
            return rc;
        if ((rc = rt_gpu_tensor_read(t, b->p + b->len)))
            return rc;
        b->len += nb;
        return 0;
    }
    case DAFT_V_LIST:
        if ((rc = rt_buf_u64(b, v->as.list.len)))
            return rc;
        for (size_t i = 0; i < v->as.list.len; i++)
            if ((rc = rt_value_put_sp(b, &v->as.list.items[i], sp)))
                return rc;
        return 0;
    default: return DAFT_EINVAL;
    }
}

int rt_value_put(RtBuf *b, const DaftValue *v) { return rt_value_put_sp(b, v, NULL); }

int rt_value_put_spliced(RtBuf *b, const DaftValue *v, RtSplices *sp)
{
    return rt_value_put_sp(b, v, sp);
}

int rt_splice_add(RtSplices *sp, size_t at, const void *p, size_t n, const DaftTensor *gpu)
{
    if (sp->n == sp->cap) {
        int cap = sp->cap ? 2 * sp->cap : 4;
        RtSplice *v = realloc(sp->v, (size_t)cap * sizeof *v);
        if (!v)
            return DAFT_ENOMEM;
        sp->v = v;
        sp->cap = cap;
    }
    sp->v[sp->n++] = (RtSplice){at, p, n, gpu};
    return 0;
}

RtPiece *rt_splice_pieces(const RtBuf *b, const RtSplices *sp, int *npieces)
{
    RtPiece *pc = malloc((size_t)(2 * sp->n + 1) * sizeof *pc);
    if (!pc)
        return NULL;
    int n = 0;
    size_t from = 0;
    for (int i = 0; i < sp->n; i++) {
        pc[n++] = (RtPiece){b->p + from, sp->v[i].at - from, NULL};
        pc[n++] = (RtPiece){sp->v[i].p, sp->v[i].n, sp->v[i].gpu};
        from = sp->v[i].at;
    }
    pc[n++] = (RtPiece){b->p + from, b->len - from, NULL};
    *npieces = n;
    return pc;
}

void rt_splices_free(RtSplices *sp)
{
    free(sp->v);
    *sp = (RtSplices){.host_only = sp->host_only};
}

static int rt_value_get_depth(RtRd *r, DaftValue *out, int depth);

static int rt_get_tensor(RtRd *r, DaftValue *out)
{
    int dt = rt_rd_u8(r), rank = rt_rd_u8(r);
    bool was_gpu = dt & 0x80;
    dt &= 0x7f;
    if (rank > DAFT_MAX_RANK)
        return DAFT_EPROTO;
    int64_t dims[DAFT_MAX_RANK];
    const void *d = rt_rd_bytes(r, 8 * (size_t)rank);
    if (!d)
        return DAFT_EPROTO;
    memcpy(dims, d, 8 * (size_t)rank);
    if (!rt_shape_ok((DaftRtDtype)dt, rank, dims))
        return DAFT_EPROTO;
    DaftTensor tmp = {.dtype = (DaftRtDtype)dt, .rank = rank};
    memcpy(tmp.dims, dims, sizeof dims);
    const void *data = rt_rd_bytes(r, daft_tensor_nbytes(&tmp));
    if (!data)
        return DAFT_EPROTO;
    /* A tensor delivered to a GPU actor lives on its GPU, whether it left a GPU (was_gpu)
     * or the driver's memory: methods of a GPU actor compute on the GPU. It is copied there
     * from the message itself. Elsewhere (the driver, CPU actors, DAFT_DEVICE=cpu) it is a
     * host tensor. */
    (void)was_gpu;
    if (!rt_gpu_tensor_from_host((DaftRtDtype)dt, rank, dims, data, out))
        *out = daft_value_tensor((DaftRtDtype)dt, rank, dims, data);
    if (out->kind == DAFT_V_ERROR)
        return 0; /* the GPU refused: the value says why */
    return out->kind == DAFT_V_TENSOR ? 0 : DAFT_ENOMEM;
}

static int rt_get_list(RtRd *r, DaftValue *out, int depth)
{
    uint64_t n = rt_rd_u64(r);
    if (r->bad || n > r->len - r->off) /* each item takes at least one byte */
        return DAFT_EPROTO;
    *out = daft_value_list(n);
    if (out->kind != DAFT_V_LIST)
        return DAFT_ENOMEM;
    for (uint64_t i = 0; i < n; i++) {
        int rc = rt_value_get_depth(r, &out->as.list.items[i], depth + 1);
        if (rc) {
            daft_value_free(out);
            return rc;
        }
    }
    return 0;
}

static int rt_value_get_depth(RtRd *r, DaftValue *out, int depth)
{
    *out = daft_value_none();
    if (depth > RT_MAX_DEPTH)
        return DAFT_EPROTO;
    int kind = rt_rd_u8(r);
    switch (kind) {
    case DAFT_V_NONE: break;
    case DAFT_V_I64: *out = daft_value_i64((int64_t)rt_rd_u64(r)); break;
    case DAFT_V_F64: {
        uint64_t bits = rt_rd_u64(r);
        double d;
        memcpy(&d, &bits, 8);
        *out = daft_value_f64(d);
        break;
    }
    case DAFT_V_BOOL: *out = daft_value_bool(rt_rd_u8(r) != 0); break;
    case DAFT_V_ACTOR: *out = daft_value_actor(rt_rd_u32(r)); break;
    case DAFT_V_REF: {
        DaftRef ref = {0, 0};
        ref.id = rt_rd_u64(r);
        ref.owner = rt_rd_u32(r);
        *out = daft_value_ref(ref);
        break;
    }
    case DAFT_V_STR:
    case DAFT_V_ERROR: {
        uint64_t n = rt_rd_u64(r);
        const char *s = r->bad || n > r->len - r->off ? NULL : rt_rd_bytes(r, n);
        if (!s)
            return DAFT_EPROTO;
        *out = kind == DAFT_V_STR ? daft_value_strn(s, n) : daft_value_error("%.*s", (int)n, s);
        break;
    }
    case DAFT_V_TENSOR: return rt_get_tensor(r, out);
    case DAFT_V_LIST: return rt_get_list(r, out, depth);
    default: return DAFT_EPROTO;
    }
    if (r->bad) {
        daft_value_free(out);
        return DAFT_EPROTO;
    }
    return 0;
}

int rt_value_get(RtRd *r, DaftValue *out) { return rt_value_get_depth(r, out, 0); }

size_t daft_value_encode(const DaftValue *v, void *buf, size_t cap)
{
    RtBuf b = {0};
    if (rt_value_put(&b, v)) {
        rt_buf_free(&b);
        return 0;
    }
    size_t n = b.len;
    if (buf && n <= cap)
        memcpy(buf, b.p, n);
    rt_buf_free(&b);
    return n;
}

int daft_value_decode(const void *buf, size_t len, DaftValue *out, size_t *used)
{
    RtRd r = rt_rd(buf, len);
    int rc = rt_value_get(&r, out);
    if (used)
        *used = rc ? 0 : r.off;
    return rc;
}
