/* std_gpu.c — the std.tensor functions on GPU tensors (part of libdaftgpu.so; see
 * runtime/rt_gpu.h). libdaftstd forwards here (daft_rt_gpu_std) when a tensor argument is
 * on the GPU, and for the creation functions (randn, rand, zeros, ones) when the calling
 * actor has a GPU. Validation follows the CPU functions' rules (same error texts where it
 * matters); the work is enqueued on the actor's compute stream (std_cuda.h), so nothing
 * here waits for the GPU except sum / mse_loss (an f64 result is a host value) and to_cpu.
 *
 * Values are built directly (this object does not link libdaftrt): error messages are
 * malloc'd strings and tensors carry device = DAFT_DEVICE_GPU(ordinal), exactly what
 * daft_value_free expects. */
#define _GNU_SOURCE
#include "../../runtime/rt_gpu.h"
#include "../../runtime/rt_gpu_graph.h"
#include "std_cuda.h"
#include "../std_texts.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const RtGpuOps *daft_gpu_ops(void);

static int fail(DaftValue *out, const char *fn, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(DaftValue *out, const char *fn, const char *fmt, ...)
{
    char buf[512];
    int n = snprintf(buf, sizeof buf, "%s: ", fn);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf + n, sizeof buf - (size_t)n, fmt, ap);
    va_end(ap);
    memset(out, 0, sizeof *out);
    out->kind = DAFT_V_ERROR;
    out->as.error.msg = strdup(buf);
    return DAFT_EINVAL;
}

static int cuda_fail(DaftValue *out, const char *fn, int rc)
{
    return fail(out, fn, "%s", rc == STD_CUDA_EINVAL ? "unsupported dtype or arguments on the GPU"
                               : std_cuda_last_error());
}

static cudaStream_t S(void) { return (cudaStream_t)rtg_compute_stream(); }

static const char *dname(DaftRtDtype d) { return rtg_dtype_name(d); }

/* A new GPU tensor value of the given shape (uninitialised). */
static int new_gpu(const char *fn, DaftRtDtype dt, int rank, const int64_t *dims, DaftValue *out)
{
    DaftValue v;
    memset(&v, 0, sizeof v);
    v.kind = DAFT_V_TENSOR;
    v.as.tensor.dtype = dt;
    v.as.tensor.rank = rank;
    for (int i = 0; i < rank; i++)
        v.as.tensor.dims[i] = dims[i];
    char e[256];
    int rc = daft_gpu_ops()->alloc(&v.as.tensor, e, sizeof e);
    if (rc)
        return fail(out, fn, "%s", e);
    *out = v;
    return 0;
}

static void drop(DaftValue *v)
{
    if (v->kind == DAFT_V_TENSOR && v->as.tensor.device)
        daft_gpu_ops()->free(&v->as.tensor);
    memset(v, 0, sizeof *v);
}

static int arg_tensor(const char *fn, const DaftValue *args, int nargs, int i, const DaftTensor **t,
                      DaftValue *out)
{
    if (i >= nargs || args[i].kind != DAFT_V_TENSOR)
        return fail(out, fn, "argument %d must be a tensor", i + 1);
    *t = &args[i].as.tensor;
    if (daft_tensor_gpu(*t) != daft_gpu_ops()->device())
        return fail(out, fn, "argument %d is %s; GPU operations need every tensor on this actor's "
                    "GPU (use to_gpu)", i + 1, (*t)->device ? "on another GPU" : "a CPU tensor");
    rtg_use(*t); /* every GPU operation reads its tensors through here */
    return 0;
}

static int same_shape(const char *fn, const DaftTensor *a, const DaftTensor *b, DaftValue *out)
{
    char why[400];
    return std_text_same_shape(a, b, why, sizeof why) ? 0 : fail(out, fn, "%s", why);
}

static int nargs_ok(const char *fn, int nargs, int lo, int hi, DaftValue *out)
{
    return nargs >= lo && nargs <= hi ? 0 : fail(out, fn, "expects %d to %d arguments, got %d", lo, hi, nargs);
}

/* shape list [, more...] and trailing dtype (str or i64) */
static int parse_shape(const char *fn, const DaftValue *v, int *rank, int64_t *dims, DaftValue *out)
{
    /* the CPU's texts (std_arg_shape, std_check_shape) */
    if (v->kind != DAFT_V_LIST)
        return fail(out, fn, "shape must be a list of at most %d integers", DAFT_MAX_RANK);
    if (v->as.list.len > DAFT_MAX_RANK)
        return fail(out, fn, "shape has %zu dimensions; at most %d are supported",
                    v->as.list.len, DAFT_MAX_RANK);
    *rank = (int)v->as.list.len;
    bool neg = false;
    for (int i = 0; i < *rank; i++) {
        const DaftValue *d = &v->as.list.items[i];
        if (d->kind != DAFT_V_I64)
            return fail(out, fn, "shape item %d must be an i64", i);
        dims[i] = d->as.i64;
        neg |= dims[i] < 0;
    }
    if (neg) {
        char s[200];
        size_t n = 0;
        n += (size_t)snprintf(s + n, sizeof s - n, "[");
        for (int i = 0; i < *rank && n < sizeof s; i++)
            n += (size_t)snprintf(s + n, sizeof s - n, "%s%lld", i ? ", " : "", (long long)dims[i]);
        if (n < sizeof s)
            snprintf(s + n, sizeof s - n, "]");
        return fail(out, fn, "negative dimension in shape %s", s);
    }
    return 0;
}

static int parse_dtype(const char *fn, const DaftValue *v, DaftRtDtype *dt, DaftValue *out)
{
    if (v->kind == DAFT_V_I64 && v->as.i64 >= 0 && v->as.i64 < DAFT_RT_DTYPE_COUNT) {
        *dt = (DaftRtDtype)v->as.i64;
        return 0;
    }
    for (int d = 0; v->kind == DAFT_V_STR && d < DAFT_RT_DTYPE_COUNT; d++)
        if (strcmp(v->as.str.ptr, rtg_dtype_name((DaftRtDtype)d)) == 0) {
            *dt = (DaftRtDtype)d;
            return 0;
        }
    return fail(out, fn, "dtype must be one of f32, bf16, f16, i32, i64");
}

static int f64_result(double x, DaftValue *out)
{
    memset(out, 0, sizeof *out);
    out->kind = DAFT_V_F64;
    out->as.f64 = x;
    return 0;
}

/* ---------------------------------------------------------------- the functions */

static int g_create(const char *fn, const DaftValue *args, int nargs, DaftValue *out)
{
    bool rnd = !strcmp(fn, "randn") || !strcmp(fn, "rand");
    int rc = nargs_ok(fn, nargs, rnd ? 2 : 1, rnd ? 3 : 2, out);
    int rank = 0;
    int64_t dims[DAFT_MAX_RANK], seed = 0;
    DaftRtDtype dt = DAFT_RT_F32;
    if (!rc)
        rc = parse_shape(fn, &args[0], &rank, dims, out);
    if (!rc && rnd) {
        if (args[1].kind != DAFT_V_I64)
            return fail(out, fn, "seed must be an i64");
        seed = args[1].as.i64;
    }
    if (!rc && nargs == (rnd ? 3 : 2))
        rc = parse_dtype(fn, &args[nargs - 1], &dt, out);
    if (!rc && rnd && dt != DAFT_RT_F32 && dt != DAFT_RT_BF16 && dt != DAFT_RT_F16)
        return fail(out, fn, "dtype must be f32, bf16 or f16, got %s", dname(dt)); /* as the CPU */
    if (rc || (rc = new_gpu(fn, dt, rank, dims, out)))
        return rc;
    int64_t n = rtg_numel(&out->as.tensor);
    void *p = out->as.tensor.data;
    rc = !strcmp(fn, "randn") ? std_cuda_randn(p, dt, n, seed, S())
         : !strcmp(fn, "rand") ? std_cuda_rand(p, dt, n, seed, S())
         : !strcmp(fn, "zeros") ? std_cuda_zeros(p, dt, n, S()) : std_cuda_ones(p, dt, n, S());
    if (rc) {
        drop(out);
        return cuda_fail(out, fn, rc);
    }
    return 0;
}

static int g_matmul(const char *fn, const DaftValue *args, int nargs, DaftValue *out)
{
    const DaftTensor *a = NULL, *b = NULL;
    int rc;
    if ((rc = nargs_ok(fn, nargs, 2, 2, out)) || (rc = arg_tensor(fn, args, nargs, 0, &a, out)) ||
        (rc = arg_tensor(fn, args, nargs, 1, &b, out)))
        return rc;
    char why[400];
    if (!std_text_matmul(a, b, why, sizeof why))
        return fail(out, fn, "%s", why);
    int64_t d[2] = {a->dims[0], b->dims[1]};
    if ((rc = new_gpu(fn, a->dtype, 2, d, out)))
        return rc;
    int64_t t0 = rtg_hprof_begin();
    rc = std_cuda_matmul(a->dtype, a->dims[0], a->dims[1], b->dims[1], a->data, b->data,
                         out->as.tensor.data, S());
    rtg_hprof_end("  cublas", t0);
    if (rc) {
        drop(out);
        return cuda_fail(out, fn, rc);
    }
    return 0;
}

/* One of linear_backward's two products alone, as it computes it: op(a0) @ op(a1), op
 * transposing where t0 / t1 say (linear_weight_grad: x^T @ gy; linear_input_grad: gy @ w^T). */
static int g_one_product(const char *fn, const DaftValue *args, int nargs, const char *n0, const char *n1,
                         int t0, int t1, const char *fit, DaftValue *out)
{
    const DaftTensor *a0 = NULL, *a1 = NULL;
    int rc;
    if ((rc = nargs_ok(fn, nargs, 2, 2, out)) || (rc = arg_tensor(fn, args, nargs, 0, &a0, out)) ||
        (rc = arg_tensor(fn, args, nargs, 1, &a1, out)))
        return rc;
    char why[400];
    if (!std_text_product(a0, n0, a1, n1, t0, t1, fit, why, sizeof why))
        return fail(out, fn, "%s", why);
    int64_t m = a0->dims[t0 ? 1 : 0], k = a0->dims[t0 ? 0 : 1], n = a1->dims[t1 ? 0 : 1];
    int64_t dr[2] = {m, n};
    if ((rc = new_gpu(fn, a0->dtype, 2, dr, out)))
        return rc;
    rc = std_cuda_gemm(a0->dtype, t0, t1, m, n, k, a0->data, a1->data, out->as.tensor.data, S());
    if (rc) {
        drop(out);
        return cuda_fail(out, fn, rc);
    }
    return 0;
}

static int g_linear_backward(const char *fn, const DaftValue *args, int nargs, DaftValue *out)
{
    const DaftTensor *x = NULL, *w = NULL, *gy = NULL;
    int rc;
    if ((rc = nargs_ok(fn, nargs, 3, 3, out)) || (rc = arg_tensor(fn, args, nargs, 0, &x, out)) ||
        (rc = arg_tensor(fn, args, nargs, 1, &w, out)) || (rc = arg_tensor(fn, args, nargs, 2, &gy, out)))
        return rc;
    char why[400];
    if (!std_text_linear_backward(x, w, gy, why, sizeof why))
        return fail(out, fn, "%s", why);
    DaftValue gx, gw;
    int64_t dx[2] = {x->dims[0], x->dims[1]}, dw[2] = {w->dims[0], w->dims[1]};
    if ((rc = new_gpu(fn, x->dtype, 2, dx, &gx))) {
        *out = gx;
        return rc;
    }
    if ((rc = new_gpu(fn, x->dtype, 2, dw, &gw))) {
        drop(&gx);
        *out = gw;
        return rc;
    }
    rc = std_cuda_linear_backward(x->dtype, x->dims[0], x->dims[1], w->dims[1], x->data, w->data,
                                  gy->data, gx.as.tensor.data, gw.as.tensor.data, S());
    if (rc) {
        drop(&gx);
        drop(&gw);
        return cuda_fail(out, fn, rc);
    }
    memset(out, 0, sizeof *out);
    out->kind = DAFT_V_LIST;
    out->as.list.items = calloc(2, sizeof(DaftValue));
    if (!out->as.list.items) {
        drop(&gx);
        drop(&gw);
        return fail(out, fn, "out of memory");
    }
    out->as.list.len = 2;
    out->as.list.items[0] = gx;
    out->as.list.items[1] = gw;
    return 0;
}

/* add / mul: tensor op tensor, or tensor op scalar (either side) */
static int g_binop(const char *fn, StdCudaBinop op, const DaftValue *args, int nargs, DaftValue *out)
{
    int rc = nargs_ok(fn, nargs, 2, 2, out);
    if (rc)
        return rc;
    bool t0 = args[0].kind == DAFT_V_TENSOR, t1 = args[1].kind == DAFT_V_TENSOR;
    const DaftTensor *a = NULL, *b = NULL;
    if (t0 && t1) {
        if ((rc = arg_tensor(fn, args, nargs, 0, &a, out)) || (rc = arg_tensor(fn, args, nargs, 1, &b, out)) ||
            (rc = same_shape(fn, a, b, out)) || (rc = new_gpu(fn, a->dtype, a->rank, a->dims, out)))
            return rc;
        rc = std_cuda_binop(op, a->dtype, rtg_numel(a), a->data, b->data, out->as.tensor.data, S());
    } else {
        int ti = t0 ? 0 : 1;
        const DaftValue *sc = &args[1 - ti];
        if ((rc = arg_tensor(fn, args, nargs, ti, &a, out)))
            return rc;
        if (sc->kind != DAFT_V_I64 && sc->kind != DAFT_V_F64)
            return fail(out, fn, "operands must be tensors or numbers");
        bool isf = a->dtype == DAFT_RT_F32 || a->dtype == DAFT_RT_BF16 || a->dtype == DAFT_RT_F16;
        if (sc->kind == DAFT_V_F64 && !isf)
            return fail(out, fn, "an f64 scalar needs a floating tensor, got tensor<%s>", dname(a->dtype));
        if ((rc = new_gpu(fn, a->dtype, a->rank, a->dims, out)))
            return rc;
        double sf = sc->kind == DAFT_V_F64 ? sc->as.f64 : (double)sc->as.i64;
        int64_t si = sc->kind == DAFT_V_I64 ? sc->as.i64 : 0;
        rc = std_cuda_binop_scalar(op, a->dtype, rtg_numel(a), a->data, sf, si,
                                   out->as.tensor.data, S());
    }
    if (rc) {
        drop(out);
        return cuda_fail(out, fn, rc);
    }
    return 0;
}

/* one tensor in, same-shape tensor out: relu; two: relu_backward, mse_grad, sgd_update */
static int g_elementwise(const char *fn, const DaftValue *args, int nargs, DaftValue *out)
{
    bool relu = !strcmp(fn, "relu"), sgd = !strcmp(fn, "sgd_update");
    int rc = nargs_ok(fn, nargs, relu ? 1 : sgd ? 3 : 2, relu ? 1 : sgd ? 3 : 2, out);
    const DaftTensor *a = NULL, *b = NULL;
    if (rc || (rc = arg_tensor(fn, args, nargs, 0, &a, out)))
        return rc;
    if (!relu && ((rc = arg_tensor(fn, args, nargs, 1, &b, out)) || (rc = same_shape(fn, a, b, out))))
        return rc;
    double lr = 0;
    if (sgd) {
        if (args[2].kind != DAFT_V_F64 && args[2].kind != DAFT_V_I64)
            return fail(out, fn, "lr must be a number");
        lr = args[2].kind == DAFT_V_F64 ? args[2].as.f64 : (double)args[2].as.i64;
    }
    if (!relu && strcmp(fn, "relu_backward") && a->dtype != DAFT_RT_F32 &&
        a->dtype != DAFT_RT_BF16 && a->dtype != DAFT_RT_F16)
        return fail(out, fn, "tensor<%s> is not supported (f32, bf16, f16 only)", dname(a->dtype));
    if ((rc = new_gpu(fn, a->dtype, a->rank, a->dims, out)))
        return rc;
    int64_t n = rtg_numel(a);
    void *o = out->as.tensor.data;
    int64_t t0 = rtg_hprof_begin();
    rc = relu ? std_cuda_relu(a->dtype, n, a->data, o, S())
         : !strcmp(fn, "relu_backward") ? std_cuda_relu_backward(a->dtype, n, a->data, b->data, o, S())
         : !strcmp(fn, "mse_grad") ? std_cuda_mse_grad(a->dtype, n, a->data, b->data, o, S())
                                   : std_cuda_sgd_update(a->dtype, n, a->data, b->data, lr, o, S());
    rtg_hprof_end("  kernel launch", t0);
    if (rc) {
        drop(out);
        return cuda_fail(out, fn, rc);
    }
    return 0;
}

/* mse: the loss as a tensor<f32, [1]> on this GPU, queued on the stream like any kernel */
static int g_mse(const char *fn, const DaftValue *args, int nargs, DaftValue *out)
{
    const DaftTensor *a = NULL, *b = NULL;
    int64_t one[1] = {1};
    int rc = nargs_ok(fn, nargs, 2, 2, out);
    if (rc || (rc = arg_tensor(fn, args, nargs, 0, &a, out)) ||
        (rc = arg_tensor(fn, args, nargs, 1, &b, out)) || (rc = same_shape(fn, a, b, out)))
        return rc;
    int64_t n = rtg_numel(a);
    if (n == 0)
        return fail(out, fn, "the mean of an empty tensor is undefined"); /* as the CPU */
    if ((rc = new_gpu(fn, DAFT_RT_F32, 1, one, out)))
        return rc;
    rc = std_cuda_mse_loss_f32(a->dtype, n, a->data, b->data, out->as.tensor.data, S());
    if (rc) {
        drop(out);
        return cuda_fail(out, fn, rc);
    }
    return 0;
}

static int g_reduce(const char *fn, const DaftValue *args, int nargs, DaftValue *out)
{
    bool sum = !strcmp(fn, "sum");
    const DaftTensor *a = NULL, *b = NULL;
    int rc = nargs_ok(fn, nargs, sum ? 1 : 2, sum ? 1 : 2, out);
    if (rc || (rc = arg_tensor(fn, args, nargs, 0, &a, out)))
        return rc;
    if (!sum && ((rc = arg_tensor(fn, args, nargs, 1, &b, out)) || (rc = same_shape(fn, a, b, out))))
        return rc;
    int64_t n = rtg_numel(a);
    if (!sum && n == 0)
        return fail(out, fn, "the mean of an empty tensor is undefined"); /* as the CPU */
    char e[256];
    if ((rc = daft_gpu_ops()->sync(e, sizeof e))) /* finish communication into a first */
        return fail(out, fn, "%s", e);
    double r = 0;
    rc = sum ? std_cuda_sum_sync(a->dtype, n, a->data, &r, S())
             : std_cuda_mse_loss_sync(a->dtype, n, a->data, b->data, &r, S());
    return rc ? cuda_fail(out, fn, rc) : f64_result(r, out);
}

static int g_slice(const char *fn, const DaftValue *args, int nargs, DaftValue *out)
{
    const DaftTensor *a = NULL;
    int rc = nargs_ok(fn, nargs, 4, 4, out);
    if (rc || (rc = arg_tensor(fn, args, nargs, 0, &a, out)))
        return rc;
    for (int i = 1; i < 4; i++)
        if (args[i].kind != DAFT_V_I64)
            return fail(out, fn, "dim, start and end must be integers");
    int64_t dim = args[1].as.i64, st = args[2].as.i64, en = args[3].as.i64;
    char why[400];
    if (!std_text_dim(&dim, a->rank, why, sizeof why) || !std_text_slice_range(a, dim, st, en, why, sizeof why))
        return fail(out, fn, "%s", why);
    int64_t d[DAFT_MAX_RANK];
    memcpy(d, a->dims, sizeof d);
    d[dim] = en - st;
    if ((rc = new_gpu(fn, a->dtype, a->rank, d, out)))
        return rc;
    rc = std_cuda_slice(a->dtype, a->rank, a->dims, (int)dim, st, en, a->data, out->as.tensor.data, S());
    if (rc) {
        drop(out);
        return cuda_fail(out, fn, rc);
    }
    return 0;
}

static int g_concat(const char *fn, const DaftValue *args, int nargs, DaftValue *out)
{
    int rc = nargs_ok(fn, nargs, 2, 2, out);
    if (rc)
        return rc;
    if (args[0].kind != DAFT_V_LIST || args[0].as.list.len == 0 || args[1].kind != DAFT_V_I64)
        return fail(out, fn, "expects a non-empty list of tensors and a dimension");
    const DaftValue *items = args[0].as.list.items;
    int count = (int)args[0].as.list.len;
    const DaftTensor *t0 = NULL;
    if ((rc = arg_tensor(fn, items, count, 0, &t0, out)))
        return rc;
    int64_t dim = args[1].as.i64;
    char why[400];
    if (!std_text_dim(&dim, t0->rank, why, sizeof why))
        return fail(out, fn, "%s", why);
    const int64_t **sd = calloc((size_t)count, sizeof *sd);
    const void **srcs = calloc((size_t)count, sizeof *srcs);
    int64_t d[DAFT_MAX_RANK];
    memcpy(d, t0->dims, sizeof d);
    d[dim] = 0;
    for (int k = 0; !rc && k < count; k++) {
        const DaftTensor *t;
        if ((rc = arg_tensor(fn, items, count, k, &t, out)))
            break;
        if (!std_text_concat_item(t0, t, (size_t)k, dim, why, sizeof why))
            rc = fail(out, fn, "%s", why);
        else {
            sd[k] = t->dims;
            srcs[k] = t->data;
            d[dim] += t->dims[dim];
        }
    }
    if (!rc && !(rc = new_gpu(fn, t0->dtype, t0->rank, d, out))) {
        rc = std_cuda_concat(t0->dtype, t0->rank, count, sd, srcs, (int)dim, out->as.tensor.data, S());
        if (rc) {
            drop(out);
            rc = cuda_fail(out, fn, rc);
        }
    }
    free(sd);
    free(srcs);
    return rc;
}

static int g_to_cpu(const char *fn, const DaftValue *args, int nargs, DaftValue *out)
{
    const DaftTensor *a = NULL;
    int rc = nargs_ok(fn, nargs, 1, 1, out);
    if (rc || (rc = arg_tensor(fn, args, nargs, 0, &a, out)))
        return rc;
    size_t nb = rtg_nbytes(a);
    DaftValue v;
    memset(&v, 0, sizeof v);
    v.kind = DAFT_V_TENSOR;
    v.as.tensor = *a;
    v.as.tensor.device = DAFT_DEVICE_HOST;
    v.as.tensor.data = malloc(nb ? nb : 1);
    if (!v.as.tensor.data)
        return fail(out, fn, "out of memory (%zu bytes)", nb);
    char e[256];
    if ((rc = daft_gpu_ops()->to_host(a, v.as.tensor.data, e, sizeof e))) {
        free(v.as.tensor.data);
        return fail(out, fn, "%s", e);
    }
    *out = v;
    return 0;
}

static int g_to_gpu(const char *fn, const DaftValue *args, int nargs, DaftValue *out)
{
    int rc = nargs_ok(fn, nargs, 1, 1, out);
    if (rc)
        return rc;
    if (args[0].kind != DAFT_V_TENSOR)
        return fail(out, fn, "argument 1 must be a tensor");
    const DaftTensor *a = &args[0].as.tensor;
    char e[256];
    if (!a->device) {
        DaftValue v;
        memset(&v, 0, sizeof v);
        v.kind = DAFT_V_TENSOR;
        v.as.tensor = *a;
        v.as.tensor.data = NULL;
        if (daft_gpu_ops()->upload(&v.as.tensor, a->data, e, sizeof e)) {
            drop(&v);
            return fail(out, fn, "%s", e);
        }
        *out = v;
        return 0;
    }
    if ((rc = new_gpu(fn, a->dtype, a->rank, a->dims, out)))
        return rc;
    if (daft_gpu_ops()->copy(&out->as.tensor, a, e, sizeof e)) {
        drop(out);
        return fail(out, fn, "%s", e);
    }
    return 0;
}

int rt_gpu_std_call(const char *fn, DaftActorCtx *ctx, const DaftValue *args, int nargs, DaftValue *out);
static int std_call(const char *fn, const DaftValue *args, int nargs, DaftValue *out);

int rt_gpu_std_call(const char *fn, DaftActorCtx *ctx, const DaftValue *args, int nargs, DaftValue *out)
{
    (void)ctx;
    struct RtGraphs *graphs = rtg_graphs(); /* (DAFT_GPU_GRAPHS=1 only) */
    if (graphs)
        return rtgraph_std(graphs, fn, args, nargs, out);
    return rtg_std_call_plain(fn, args, nargs, out);
}

int rtg_std_call_plain(const char *fn, const DaftValue *args, int nargs, DaftValue *out)
{
    void *prof = rtg_prof_begin(fn); /* (DAFT_GPU_PROFILE only) */
    int64_t t0 = rtg_hprof_begin();  /* (DAFT_GPU_PROFILE=host only) */
    int rc = std_call(fn, args, nargs, out);
    rtg_hprof_end(fn, t0);
    rtg_prof_end(prof);
    return rc;
}

static int std_call(const char *fn, const DaftValue *args, int nargs, DaftValue *out)
{
    if (daft_gpu_ops()->device() < 0)
        return fail(out, fn, "no GPU in this process");
    if (!strcmp(fn, "randn") || !strcmp(fn, "rand") || !strcmp(fn, "zeros") || !strcmp(fn, "ones"))
        return g_create(fn, args, nargs, out);
    if (!strcmp(fn, "matmul") || !strcmp(fn, "linear_forward"))
        return g_matmul(fn, args, nargs, out);
    if (!strcmp(fn, "linear_backward"))
        return g_linear_backward(fn, args, nargs, out);
    if (!strcmp(fn, "linear_weight_grad"))
        return g_one_product(fn, args, nargs, "x", "gy", 1, 0, "x [b, in], gy [b, out]", out);
    if (!strcmp(fn, "linear_input_grad"))
        return g_one_product(fn, args, nargs, "gy", "w", 0, 1, "gy [b, out], w [in, out]", out);
    if (!strcmp(fn, "add"))
        return g_binop(fn, STD_CUDA_ADD, args, nargs, out);
    if (!strcmp(fn, "mul"))
        return g_binop(fn, STD_CUDA_MUL, args, nargs, out);
    if (!strcmp(fn, "relu") || !strcmp(fn, "relu_backward") || !strcmp(fn, "mse_grad") ||
        !strcmp(fn, "sgd_update"))
        return g_elementwise(fn, args, nargs, out);
    if (!strcmp(fn, "mse"))
        return g_mse(fn, args, nargs, out);
    if (!strcmp(fn, "sum") || !strcmp(fn, "mse_loss"))
        return g_reduce(fn, args, nargs, out);
    if (!strcmp(fn, "slice"))
        return g_slice(fn, args, nargs, out);
    if (!strcmp(fn, "concat"))
        return g_concat(fn, args, nargs, out);
    if (!strcmp(fn, "to_cpu"))
        return g_to_cpu(fn, args, nargs, out);
    if (!strcmp(fn, "to_gpu"))
        return g_to_gpu(fn, args, nargs, out);
    return fail(out, fn, "no GPU version");
}
