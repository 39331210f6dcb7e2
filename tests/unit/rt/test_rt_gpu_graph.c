/* CUDA graphs of method calls (runtime/rt_gpu_graph.c) over a fake GPU: "device" memory is
 * host memory, an operation computes at once unless a capture is open, in which case it is
 * kept and a launch runs what was kept. The method bodies below call the std operations as
 * generated code does (through rtgraph_std, freeing what they drop), and every result is
 * compared with the same arithmetic done here directly: graphs must never change a value,
 * whatever the body does, and must replace launches only when the calls repeat exactly. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rt_gpu_graph.h"

#define N 4 /* elements of every tensor */
#define MAX_KEPT 64

typedef struct Kept { /* an operation captured into the fake graph */
    char fn[16];
    float *a, *b, *out;
    double s;
} Kept;

typedef struct Graph { /* a fake CUDA graph: the operations captured into it */
    Kept kept[MAX_KEPT];
    int nkept;
} Graph;

typedef struct Fake {
    RtGraphs *g;
    int executed;     /* operations computed, eagerly or by a launch */
    int eager;        /* of them, outside a launch */
    int launches;
    int live;         /* buffers allocated and not freed (arena included) */
    int allocs;       /* allocations outside the arena */
    bool extra_alloc; /* operations also allocate (and free) a scratch buffer */
    int fail_calls;   /* the next operations that run fail */
    int fail_launches; /* the next graph launches fail */
    Graph *open;      /* the capture in progress */
    bool fail_capture;
    int graphs;       /* fake graphs alive */
    DaftTensor weight; /* run_iteration's "field" */
} Fake;

static DaftTensor shape(void)
{
    DaftTensor t = {.dtype = DAFT_RT_F32, .rank = 1, .dims = {N}, .device = DAFT_DEVICE_GPU(0)};
    return t;
}

/* ---------------------------------------------------------------- the fake backend */

static int raw_alloc(void *arg, DaftTensor *t)
{
    Fake *f = arg;
    t->data = calloc(N, sizeof(float));
    t->device = DAFT_DEVICE_GPU(0);
    f->live++;
    return t->data ? 0 : -1;
}

static void raw_release(void *arg, void *p)
{
    Fake *f = arg;
    f->live--;
    free(p);
}

static void fake_release(void *arg, void *p, size_t nb)
{
    assert_int_equal(nb, N * sizeof(float));
    raw_release(arg, p);
}

/* the GPU runtime's allocation: the graphs answer first */
static int dev_alloc(Fake *f, DaftTensor *t)
{
    *t = shape();
    int r = rtgraph_alloc(f->g, t);
    if (r != 0)
        return r > 0 ? 0 : -1; /* (-1: allocating during a capture) */
    f->allocs++;
    return raw_alloc(f, t);
}

static void dev_free(Fake *f, DaftValue *v)
{
    if (v->kind == DAFT_V_TENSOR && !rtgraph_on_free(f->g, v->as.tensor.data))
        raw_release(f, v->as.tensor.data);
    v->kind = DAFT_V_NONE;
}

static void compute(Fake *f, const Kept *k)
{
    for (int i = 0; i < N; i++) {
        float x = k->a[i];
        if (!strcmp(k->fn, "add"))
            k->out[i] = x + k->b[i];
        else if (!strcmp(k->fn, "mul"))
            k->out[i] = (float)(x * k->s);
        else if (!strcmp(k->fn, "copy"))
            k->out[i] = x;
        else if (!strcmp(k->fn, "coll")) /* an allreduce (sum) with a member holding the same */
            k->out[i] = x + x;
        else
            k->out[i] = x > 0 ? x : 0; /* relu */
    }
    f->executed++;
}

static int fake_call(void *arg, const char *fn, const DaftValue *args, int nargs, DaftValue *out)
{
    Fake *f = arg;
    (void)nargs;
    if (f->fail_calls > 0) {
        f->fail_calls--;
        out->kind = DAFT_V_ERROR;
        out->as.error.msg = strdup("fake: the GPU failed");
        return -1;
    }
    if (f->extra_alloc) { /* a scratch buffer: a capture must refuse it */
        DaftTensor scratch;
        if (dev_alloc(f, &scratch) != 0) {
            out->kind = DAFT_V_ERROR;
            out->as.error.msg = strdup("fake: no scratch during a capture");
            return -1;
        }
        DaftValue sv = {.kind = DAFT_V_TENSOR, .as.tensor = scratch};
        dev_free(f, &sv);
    }
    Kept k = {.a = args[0].as.tensor.data};
    snprintf(k.fn, sizeof k.fn, "%s", fn);
    if (!strcmp(fn, "add"))
        k.b = args[1].as.tensor.data;
    if (!strcmp(fn, "mul"))
        k.s = args[1].as.f64;
    out->kind = DAFT_V_TENSOR;
    if (dev_alloc(f, &out->as.tensor)) { /* (as std_gpu.c: an error value) */
        out->kind = DAFT_V_ERROR;
        out->as.error.msg = strdup("fake: no memory for the result");
        return -1;
    }
    k.out = out->as.tensor.data;
    if (f->open) {
        assert_true(f->open->nkept < MAX_KEPT);
        f->open->kept[f->open->nkept++] = k;
    } else {
        compute(f, &k);
        f->eager++;
    }
    return 0;
}

static void fake_drop(void *arg, DaftValue *v)
{
    if (v->kind == DAFT_V_TENSOR)
        dev_free(arg, v);
    else if (v->kind == DAFT_V_ERROR)
        free(v->as.error.msg);
    v->kind = DAFT_V_NONE;
}

static int fake_copy(void *arg, void *dst, const void *src, size_t nb)
{
    Fake *f = arg;
    if (f->open) { /* (captured, as cudaMemcpyAsync is: a launch copies) */
        assert_int_equal(nb, N * sizeof(float));
        Kept k = {.fn = "copy", .a = (float *)src, .out = dst};
        f->open->kept[f->open->nkept++] = k;
        return 0;
    }
    memcpy(dst, src, nb);
    return 0;
}

static void fake_use(void *arg, const DaftTensor *t) { (void)arg, (void)t; }

static int fake_capture_begin(void *arg)
{
    Fake *f = arg;
    f->open = calloc(1, sizeof *f->open);
    return f->open ? 0 : -1;
}

static int fake_capture_end(void *arg, bool ok, void **exec)
{
    Fake *f = arg;
    Graph *gr = f->open;
    f->open = NULL;
    if (!ok || f->fail_capture) {
        free(gr);
        return -1;
    }
    *exec = gr;
    f->graphs++;
    return 0;
}

static int fake_launch(void *arg, void *exec)
{
    Fake *f = arg;
    const Graph *gr = exec;
    if (f->fail_launches > 0) {
        f->fail_launches--;
        return -1;
    }
    for (int i = 0; i < gr->nkept; i++)
        compute(f, &gr->kept[i]);
    f->launches++;
    return 0;
}

/* An NCCL allreduce over two members whose other one holds the same tensor. */
static int fake_coll(void *arg, void *comm, int kind, int reduce, int root, const DaftTensor *in,
                     DaftTensor *out, bool on_compute, char *err, size_t cap)
{
    Fake *f = arg;
    (void)kind, (void)reduce, (void)root, (void)on_compute;
    assert_ptr_equal(comm, (void *)f);
    if (f->fail_calls > 0) {
        f->fail_calls--;
        snprintf(err, cap, "fake: NCCL failed");
        return -1;
    }
    if (!out->data && dev_alloc(f, out) != 0)
        return -1;
    Kept k = {.fn = "coll", .a = in->data, .out = out->data};
    if (f->open) {
        f->open->kept[f->open->nkept++] = k;
    } else {
        compute(f, &k);
        f->eager++;
    }
    return 0;
}

static void fake_exec_free(void *arg, void *exec)
{
    Fake *f = arg;
    f->graphs--;
    free(exec);
}

static Fake *fake_new(void)
{
    Fake *f = calloc(1, sizeof *f);
    RtGraphBackend b = {f, fake_call, raw_alloc, fake_drop, fake_release, fake_copy, fake_use,
                        fake_capture_begin, fake_capture_end, fake_launch, fake_exec_free, fake_coll};
    f->g = rtgraph_new(&b);
    return f;
}

static void fake_done(Fake *f)
{
    rtgraph_free(f->g);
    if (f->weight.data)
        raw_release(f, f->weight.data);
    assert_int_equal(f->live, 0); /* every buffer freed: arena by rtgraph_free, the rest by the bodies */
    assert_int_equal(f->graphs, 0);
    free(f);
}

static DaftValue tensor_of(Fake *f, const float *x)
{
    DaftValue v = {.kind = DAFT_V_TENSOR};
    v.as.tensor = shape();
    raw_alloc(f, &v.as.tensor);
    memcpy(v.as.tensor.data, x, N * sizeof(float));
    return v;
}

static DaftValue f64v(double x) { return (DaftValue){.kind = DAFT_V_F64, .as.f64 = x}; }

/* ---------------------------------------------------------------- method bodies */

/* relu(add(x, w)) * scale, W7's block in miniature: x the argument, w a "field". */
static DaftValue body_block(Fake *f, const DaftValue *x, const DaftValue *w, double scale)
{
    DaftValue a[2] = {*x, *w}, s = {0}, r = {0}, m = {0};
    assert_int_equal(rtgraph_std(f->g, "add", a, 2, &s), 0);
    assert_int_equal(rtgraph_std(f->g, "relu", &s, 1, &r), 0);
    dev_free(f, &s);
    DaftValue b[2] = {r, f64v(scale)};
    assert_int_equal(rtgraph_std(f->g, "mul", b, 2, &m), 0);
    dev_free(f, &r);
    return m;
}

static void expect_block(const float *x, const float *w, double scale, const DaftValue *got)
{
    const float *y = got->as.tensor.data;
    for (int i = 0; i < N; i++) {
        float s = x[i] + w[i];
        float want = (float)((s > 0 ? s : 0) * scale);
        assert_true(y[i] == want);
    }
}

/* One call of site `key`: body_block on input number i (fresh values each time), its
 * result checked and freed as a plan would. */
static void call_block(Fake *f, uint64_t key, int i, const DaftValue *w, double scale)
{
    float x[N];
    for (int k = 0; k < N; k++)
        x[k] = (float)((k - 1.5) * (i + 1) * (k % 2 ? 1 : -1));
    DaftValue in = tensor_of(f, x);
    rtgraph_begin(f->g, key, &in, 1);
    DaftValue out = body_block(f, &in, w, scale);
    char err[128];
    assert_int_equal(rtgraph_end(f->g, &out, err, sizeof err), 0);
    expect_block(x, w->as.tensor.data, scale, &out);
    dev_free(f, &out);
    dev_free(f, &in);
}

static const float W[N] = {0.5f, -2.0f, 1.25f, 3.0f};

/* ---------------------------------------------------------------- tests */

/* Two recorded calls, a third captured and launched, then launches only; every value right. */
static void test_repeated_calls_replay(void **state)
{
    (void)state;
    Fake *f = fake_new();
    DaftValue w = tensor_of(f, W);
    for (int i = 0; i < 6; i++)
        call_block(f, 7, i, &w, 0.5);
    assert_int_equal(f->eager, 2 * 3);         /* the two recorded calls ran as usual */
    assert_int_equal(f->launches, 4);          /* calls 3..6 each one launch */
    assert_int_equal(f->executed, 6 * 3);      /* and nothing ran twice or not at all */
    RtGraphStats st = rtgraph_stats(f->g);
    assert_int_equal(st.captured, 1);
    assert_int_equal(st.launches, 4);
    dev_free(f, &w);
    fake_done(f);
}

/* A "field" that now holds another tensor: the checked call differs, runs as usual (its
 * operations so far into their buffers), and the site is not graphed again. */
static void test_other_pointer_diverges(void **state)
{
    (void)state;
    Fake *f = fake_new();
    DaftValue w = tensor_of(f, W), w2 = tensor_of(f, (const float[N]){1, 1, 1, 1});
    for (int i = 0; i < 4; i++)
        call_block(f, 1, i, &w, 2.0);
    int launches = f->launches;
    assert_int_equal(launches, 2);
    call_block(f, 1, 4, &w2, 2.0);             /* right value, computed eagerly */
    call_block(f, 1, 5, &w, 2.0);              /* and the site stays given up */
    assert_int_equal(f->launches, launches);
    assert_int_equal(rtgraph_stats(f->g).diverged, 1);
    dev_free(f, &w);
    dev_free(f, &w2);
    fake_done(f);
}

/* A scalar argument that changes (or shapes that do) is another record: never graphed
 * while it keeps changing, and given up after a few records. */
static void test_changing_scalar_never_graphed(void **state)
{
    (void)state;
    Fake *f = fake_new();
    DaftValue w = tensor_of(f, W);
    for (int i = 0; i < 10; i++)
        call_block(f, 3, i, &w, 1.0 + i);
    assert_int_equal(f->launches, 0);
    assert_int_equal(f->eager, 10 * 3);
    dev_free(f, &w);
    fake_done(f);
}

/* Call sites are separate: two sites with different scalars are both graphed. */
static void test_sites_are_separate(void **state)
{
    (void)state;
    Fake *f = fake_new();
    DaftValue w = tensor_of(f, W);
    for (int i = 0; i < 4; i++) {
        call_block(f, 10, i, &w, 1.0);
        call_block(f, 11, i, &w, 3.0);
    }
    assert_int_equal(rtgraph_stats(f->g).captured, 2);
    assert_int_equal(f->launches, 4);
    dev_free(f, &w);
    fake_done(f);
}

/* A body that keeps an operation's result past the call (as `self.y = T.relu(x)` does) is
 * never graphed: a replay would overwrite what it kept. */
static void test_kept_result_never_graphed(void **state)
{
    (void)state;
    Fake *f = fake_new();
    DaftValue w = tensor_of(f, W);
    DaftValue kept[5];
    for (int i = 0; i < 5; i++) {
        DaftValue in = tensor_of(f, W);
        rtgraph_begin(f->g, 5, &in, 1);
        DaftValue a[2] = {in, w};
        assert_int_equal(rtgraph_std(f->g, "add", a, 2, &kept[i]), 0); /* kept: not freed */
        DaftValue none = {.kind = DAFT_V_I64, .as.i64 = i};
        char err[64];
        assert_int_equal(rtgraph_end(f->g, &none, err, sizeof err), 0);
        dev_free(f, &in);
    }
    assert_int_equal(f->launches, 0);
    for (int i = 0; i < 5; i++) {
        const float *y = kept[i].as.tensor.data;
        for (int k = 0; k < N; k++)
            assert_true(y[k] == W[k] + W[k]);
        dev_free(f, &kept[i]);
    }
    dev_free(f, &w);
    fake_done(f);
}

/* A copy of device memory inside a checked body (the host reading an intermediate): the
 * operations so far must have run before it, so the copy sees their values. */
static void test_copy_in_checked_body_runs_first(void **state)
{
    (void)state;
    Fake *f = fake_new();
    DaftValue w = tensor_of(f, W);
    for (int i = 0; i < 3; i++)
        call_block(f, 9, i, &w, 1.0); /* recorded, recorded, captured */
    assert_int_equal(f->launches, 1);
    float x[N] = {1, 2, 3, 4};
    DaftValue in = tensor_of(f, x), a[2] = {in, w}, s = {0};
    rtgraph_begin(f->g, 9, &in, 1);
    assert_int_equal(rtgraph_std(f->g, "add", a, 2, &s), 0); /* answered from the record */
    rtgraph_on_copy(f->g);                                     /* the body reads s */
    const float *sv = s.as.tensor.data;
    for (int k = 0; k < N; k++)
        assert_true(sv[k] == x[k] + W[k]);
    DaftValue r = {0};
    assert_int_equal(rtgraph_std(f->g, "relu", &s, 1, &r), 0);
    dev_free(f, &s);
    DaftValue b[2] = {r, f64v(1.0)}, m = {0};
    assert_int_equal(rtgraph_std(f->g, "mul", b, 2, &m), 0);
    dev_free(f, &r);
    char err[64];
    assert_int_equal(rtgraph_end(f->g, &m, err, sizeof err), 0);
    expect_block(x, W, 1.0, &m);
    assert_int_equal(f->launches, 1);
    dev_free(f, &m);
    dev_free(f, &in);
    dev_free(f, &w);
    fake_done(f);
}

/* A capture that fails leaves the call to run as usual, with the right value. */
static void test_failed_capture_runs_as_usual(void **state)
{
    (void)state;
    Fake *f = fake_new();
    f->fail_capture = true;
    DaftValue w = tensor_of(f, W);
    for (int i = 0; i < 5; i++)
        call_block(f, 2, i, &w, 0.25);
    assert_int_equal(f->launches, 0);
    assert_int_equal(f->executed, 5 * 3);
    assert_int_equal(rtgraph_stats(f->g).captured, 0);
    dev_free(f, &w);
    fake_done(f);
}

/* A body that stops early (fewer operations than recorded) runs what it did. */
static void test_shorter_call_diverges(void **state)
{
    (void)state;
    Fake *f = fake_new();
    DaftValue w = tensor_of(f, W);
    for (int i = 0; i < 3; i++)
        call_block(f, 4, i, &w, 1.0);
    float x[N] = {-1, 2, -3, 4};
    DaftValue in = tensor_of(f, x), a[2] = {in, w}, s = {0};
    rtgraph_begin(f->g, 4, &in, 1);
    assert_int_equal(rtgraph_std(f->g, "add", a, 2, &s), 0);
    char err[64];
    assert_int_equal(rtgraph_end(f->g, &s, err, sizeof err), 0); /* returns the sum itself */
    const float *sv = s.as.tensor.data;
    for (int k = 0; k < N; k++)
        assert_true(sv[k] == x[k] + W[k]);
    dev_free(f, &s);
    dev_free(f, &in);
    dev_free(f, &w);
    fake_done(f);
}


/* A tensor the body makes and frees itself (outside the std operations), passed to an
 * operation: its memory may hold the next such tensor (here a LIFO block cache, as the GPU
 * runtime's), which must not pass for the same tensor; the values stay right. */
static DaftValue tmp_new(Fake *f, void **cache, const float *x)
{
    DaftValue v = {.kind = DAFT_V_TENSOR};
    v.as.tensor = shape();
    if (*cache) {
        v.as.tensor.data = *cache;
        *cache = NULL;
    } else {
        raw_alloc(f, &v.as.tensor);
    }
    memcpy(v.as.tensor.data, x, N * sizeof(float));
    return v;
}

static void tmp_drop(Fake *f, void **cache, DaftValue *v)
{
    if (!rtgraph_on_free(f->g, v->as.tensor.data)) {
        if (!*cache)
            *cache = v->as.tensor.data;
        else
            raw_release(f, v->as.tensor.data);
    }
    v->kind = DAFT_V_NONE;
}

static void test_freed_external_tensor_reused(void **state)
{
    (void)state;
    Fake *f = fake_new();
    void *cache = NULL;
    for (int i = 0; i < 5; i++) {
        float x[N], u[N], v[N];
        for (int k = 0; k < N; k++) {
            x[k] = (float)(k + i);
            u[k] = (float)(10 * (i + 1));
            v[k] = (float)(100 * (i + 1) + k);
        }
        DaftValue in = tensor_of(f, x);
        rtgraph_begin(f->g, 12, &in, 1);
        DaftValue t1 = tmp_new(f, &cache, u), a[2] = {in, t1}, s = {0};
        assert_int_equal(rtgraph_std(f->g, "add", a, 2, &s), 0);
        tmp_drop(f, &cache, &t1);
        DaftValue t2 = tmp_new(f, &cache, v), b[2] = {s, t2}, r = {0};
        assert_int_equal(rtgraph_std(f->g, "add", b, 2, &r), 0);
        tmp_drop(f, &cache, &t2);
        dev_free(f, &s);
        char err[64];
        assert_int_equal(rtgraph_end(f->g, &r, err, sizeof err), 0);
        const float *y = r.as.tensor.data;
        for (int k = 0; k < N; k++)
            assert_true(y[k] == x[k] + u[k] + v[k]);
        dev_free(f, &r);
        dev_free(f, &in);
    }
    assert_int_equal(f->launches, 0);
    if (cache)
        raw_release(f, cache);
    fake_done(f);
}

/* After the site is graphed, a call that keeps an operation's result (in a field) gets the
 * right value, the site is given up, and the kept buffer lives until the host frees it. */
static void test_kept_result_after_graphed(void **state)
{
    (void)state;
    Fake *f = fake_new();
    DaftValue w = tensor_of(f, W);
    for (int i = 0; i < 4; i++)
        call_block(f, 6, i, &w, 1.0);
    assert_int_equal(f->launches, 2);
    float x[N] = {3, -4, 5, -6};
    DaftValue in = tensor_of(f, x), a[2] = {in, w}, s = {0}, r = {0}, m = {0};
    rtgraph_begin(f->g, 6, &in, 1);
    assert_int_equal(rtgraph_std(f->g, "add", a, 2, &s), 0);
    assert_int_equal(rtgraph_std(f->g, "relu", &s, 1, &r), 0); /* s kept: not freed */
    DaftValue b[2] = {r, f64v(1.0)};
    assert_int_equal(rtgraph_std(f->g, "mul", b, 2, &m), 0);
    dev_free(f, &r);
    char err[64];
    assert_int_equal(rtgraph_end(f->g, &m, err, sizeof err), 0);
    expect_block(x, W, 1.0, &m);
    const float *sv = s.as.tensor.data;
    for (int k = 0; k < N; k++)
        assert_true(sv[k] == x[k] + W[k]);
    assert_int_equal(f->launches, 2);
    call_block(f, 6, 9, &w, 1.0); /* given up: as usual */
    assert_int_equal(f->launches, 2);
    dev_free(f, &s);
    dev_free(f, &m);
    dev_free(f, &in);
    dev_free(f, &w);
    fake_done(f);
}

/* A method returning a scalar (its operations' work kept nowhere but in the scalar's
 * computation is impossible here: a body whose tensors all die) is graphed too. */
static void test_scalar_result_graphed(void **state)
{
    (void)state;
    Fake *f = fake_new();
    DaftValue w = tensor_of(f, W);
    for (int i = 0; i < 5; i++) {
        DaftValue in = tensor_of(f, W);
        rtgraph_begin(f->g, 8, &in, 1);
        DaftValue out = body_block(f, &in, &w, 2.0);
        dev_free(f, &out);
        DaftValue res = {.kind = DAFT_V_I64, .as.i64 = i};
        char err[64];
        assert_int_equal(rtgraph_end(f->g, &res, err, sizeof err), 0);
        assert_int_equal(res.as.i64, i);
        dev_free(f, &in);
    }
    assert_int_equal(f->launches, 3);
    dev_free(f, &w);
    fake_done(f);
}

/* A copy of device memory (or a host read) while recording: never graphed. */
static void test_copy_while_recording_never_graphed(void **state)
{
    (void)state;
    Fake *f = fake_new();
    DaftValue w = tensor_of(f, W);
    for (int i = 0; i < 5; i++) {
        DaftValue in = tensor_of(f, W);
        rtgraph_begin(f->g, 13, &in, 1);
        DaftValue out = body_block(f, &in, &w, 1.0);
        rtgraph_on_copy(f->g);
        char err[64];
        assert_int_equal(rtgraph_end(f->g, &out, err, sizeof err), 0);
        dev_free(f, &out);
        dev_free(f, &in);
    }
    assert_int_equal(f->launches, 0);
    dev_free(f, &w);
    fake_done(f);
}

/* An argument of another shape after the capture: the call runs as usual. */
static void test_argument_shape_change_diverges(void **state)
{
    (void)state;
    Fake *f = fake_new();
    DaftValue w = tensor_of(f, W);
    for (int i = 0; i < 3; i++)
        call_block(f, 14, i, &w, 1.0);
    assert_int_equal(f->launches, 1);
    float x[N] = {1, 2, 3, 4};
    DaftValue in = tensor_of(f, x);
    in.as.tensor.dims[0] = 2; /* (same memory, seen as [2]) */
    in.as.tensor.rank = 1;
    rtgraph_begin(f->g, 14, &in, 1);
    DaftValue a[2] = {in, w}, s = {0};
    assert_int_equal(rtgraph_std(f->g, "add", a, 2, &s), 0); /* must run, not be answered */
    const float *sv = s.as.tensor.data;
    for (int k = 0; k < 2; k++)
        assert_true(sv[k] == x[k] + W[k]);
    char err[64];
    assert_int_equal(rtgraph_end(f->g, &s, err, sizeof err), 0);
    assert_int_equal(f->launches, 1);
    dev_free(f, &s);
    in.as.tensor.dims[0] = N;
    dev_free(f, &in);
    dev_free(f, &w);
    fake_done(f);
}

/* An operation that allocates more than its result cannot be captured: the call runs as
 * usual, with the right value. */
static void test_capture_refuses_other_allocations(void **state)
{
    (void)state;
    Fake *f = fake_new();
    f->extra_alloc = true;
    DaftValue w = tensor_of(f, W);
    for (int i = 0; i < 5; i++)
        call_block(f, 15, i, &w, 3.0);
    assert_int_equal(f->launches, 0);
    assert_int_equal(rtgraph_stats(f->g).captured, 0);
    dev_free(f, &w);
    fake_done(f);
}

/* An operation that fails while a checked call's operations so far are run: the error comes
 * back at once (the body must not go on with buffers nothing wrote), and at the end. */
static void test_failed_rerun_reports(void **state)
{
    (void)state;
    Fake *f = fake_new();
    DaftValue w = tensor_of(f, W), w2 = tensor_of(f, W);
    for (int i = 0; i < 3; i++)
        call_block(f, 16, i, &w, 1.0);
    DaftValue in = tensor_of(f, W), a[2] = {in, w}, s = {0}, r = {0};
    rtgraph_begin(f->g, 16, &in, 1);
    assert_int_equal(rtgraph_std(f->g, "add", a, 2, &s), 0); /* answered */
    f->fail_calls = 1;
    DaftValue b[2] = {s, w2}; /* differs from the record: the add runs now, and fails */
    assert_int_not_equal(rtgraph_std(f->g, "add", b, 2, &r), 0);
    assert_int_equal(r.kind, DAFT_V_ERROR);
    assert_non_null(strstr(r.as.error.msg, "GPU failed"));
    free(r.as.error.msg);
    dev_free(f, &s);
    DaftValue none = {.kind = DAFT_V_I64};
    char err[64];
    assert_int_not_equal(rtgraph_end(f->g, &none, err, sizeof err), 0);
    assert_non_null(strstr(err, "GPU failed"));
    dev_free(f, &in);
    dev_free(f, &w);
    dev_free(f, &w2);
    fake_done(f);
}

/* An unloaded plan's sites go, arenas released; a new plan records anew. */
static void test_forget_releases(void **state)
{
    (void)state;
    Fake *f = fake_new();
    DaftValue w = tensor_of(f, W);
    int base = f->live;
    uint64_t key = (7ULL << 32) | 3;
    for (int i = 0; i < 4; i++)
        call_block(f, key, i, &w, 1.0);
    assert_true(f->live > base); /* the arena */
    rtgraph_forget(f->g, 7);
    assert_int_equal(f->live, base);
    for (int i = 0; i < 4; i++)
        call_block(f, key, i, &w, 1.0);
    assert_int_equal(f->launches, 4);
    dev_free(f, &w);
    fake_done(f);
}

/* A launch that fails: the call runs as usual instead, with the right value, and the site
 * is given up (not failing every later call). */
static void test_failed_launch_falls_back(void **state)
{
    (void)state;
    Fake *f = fake_new();
    DaftValue w = tensor_of(f, W);
    for (int i = 0; i < 3; i++)
        call_block(f, 21, i, &w, 1.0);
    assert_int_equal(f->launches, 1);
    f->fail_launches = 1;
    call_block(f, 21, 3, &w, 1.0); /* (checks the value and that the end succeeds) */
    call_block(f, 21, 4, &w, 1.0);
    assert_int_equal(f->launches, 1);
    assert_int_equal(rtgraph_stats(f->g).diverged, 1);
    dev_free(f, &w);
    fake_done(f);
}


/* ---------------------------------------------------------------- whole iterations */

static void count_divergence(void *arg) { (*(int *)arg)++; }

/* One execution of a plan in miniature, as rt_xplan.c runs one: READ x, CALL block(x) (kept
 * in *field when field is set, freed at the next execution), an NCCL allreduce of it (the
 * fake's other member holds the same), CALL relu; then the vote, and the tail checks the
 * result and frees it. others: the other members' least vote. Returns this actor's vote. */
static int run_iteration(Fake *f, int i, double scale, int others, DaftValue *field, int *div)
{
    float x[N];
    for (int k = 0; k < N; k++)
        x[k] = (float)((k - 1.5) * (i + 1) * (k % 2 ? 1 : -1));
    if (!f->weight.data) { /* a field: the same tensor every execution */
        DaftValue w = tensor_of(f, W);
        f->weight = w.as.tensor;
    }
    DaftValue w = {.kind = DAFT_V_TENSOR, .as.tensor = f->weight};
    DaftValue in = tensor_of(f, x);
    char err[128];
    int begun = rtgraph_iter_begin(f->g, ((uint64_t)7 << 32) | 0xffffffffu, count_divergence, div);
    rtgraph_iter_input(f->g, &in);
    DaftValue b = body_block(f, &in, &w, scale);
    dev_free(f, &in); /* (the plan frees x after its last use: before the graph runs) */
    DaftValue c = {.kind = DAFT_V_TENSOR};
    assert_int_equal(rtgraph_coll(f->g, f, 0, 0, 0, &b.as.tensor, &c.as.tensor, true, err, sizeof err), 0);
    DaftValue r = {0};
    assert_int_equal(rtgraph_std(f->g, "relu", &c, 1, &r), 0);
    dev_free(f, &c);
    DaftValue old = {0};
    if (field) {
        old = *field;
        *field = b;
    } else {
        dev_free(f, &b);
    }
    int vote = rtgraph_iter_verdict(f->g);
    if (begun != RTGRAPH_CHECK)
        assert_int_equal(vote, begun);
    if (vote == RTGRAPH_LAUNCH)
        assert_int_equal(rtgraph_iter_go(f->g, others == RTGRAPH_LAUNCH, err, sizeof err), 0);
    /* the tail: the result, relu(2 * block(x)), and the kept block */
    const float *y = r.as.tensor.data;
    for (int k = 0; k < N; k++) {
        float s = x[k] + W[k];
        float m = (float)((s > 0 ? s : 0) * scale);
        assert_true(y[k] == (2 * m > 0 ? 2 * m : 0));
        if (field)
            assert_true(((const float *)field->as.tensor.data)[k] == m);
    }
    dev_free(f, &r);
    if (old.kind == DAFT_V_TENSOR)
        dev_free(f, &old);
    rtgraph_iter_end(f->g);
    return vote;
}

/* Two recorded executions, the third captured and launched with its collective, the rest
 * launched; nothing runs eagerly once captured. */
static void test_iteration_replays(void **state)
{
    (void)state;
    Fake *f = fake_new();
    int div = 0;
    assert_int_equal(run_iteration(f, 0, 2.0, RTGRAPH_NOT_NOW, NULL, &div), RTGRAPH_NOT_NOW);
    assert_int_equal(run_iteration(f, 1, 2.0, RTGRAPH_NOT_NOW, NULL, &div), RTGRAPH_NOT_NOW);
    int eager = f->eager;
    for (int i = 2; i < 6; i++)
        assert_int_equal(run_iteration(f, i, 2.0, RTGRAPH_LAUNCH, NULL, &div), RTGRAPH_LAUNCH);
    assert_int_equal(f->eager, eager);
    assert_int_equal(f->launches, 4);
    assert_int_equal(rtgraph_stats(f->g).iter_launches, 4);
    assert_int_equal(div, 0);
    fake_done(f);
}

/* Another member still records (or could not capture): this one runs its record as usual,
 * keeps its graph, and launches once all vote to. */
static void test_iteration_other_member_not_ready(void **state)
{
    (void)state;
    Fake *f = fake_new();
    int div = 0;
    run_iteration(f, 0, 2.0, RTGRAPH_NOT_NOW, NULL, &div);
    run_iteration(f, 1, 2.0, RTGRAPH_NOT_NOW, NULL, &div);
    assert_int_equal(run_iteration(f, 2, 2.0, RTGRAPH_NOT_NOW, NULL, &div), RTGRAPH_LAUNCH);
    assert_int_equal(f->launches, 0);
    assert_int_equal(run_iteration(f, 3, 2.0, RTGRAPH_LAUNCH, NULL, &div), RTGRAPH_LAUNCH);
    assert_int_equal(f->launches, 1);
    assert_int_equal(div, 0);
    fake_done(f);
}

/* A checked execution that differs tells the caller once, at once, runs as usual and is
 * never graphed again. */
static void test_iteration_divergence_votes_never(void **state)
{
    (void)state;
    Fake *f = fake_new();
    int div = 0;
    for (int i = 0; i < 3; i++)
        run_iteration(f, i, 2.0, RTGRAPH_LAUNCH, NULL, &div);
    assert_int_equal(run_iteration(f, 3, 3.0, RTGRAPH_LAUNCH, NULL, &div), RTGRAPH_NEVER);
    assert_int_equal(div, 1);
    assert_int_equal(run_iteration(f, 4, 2.0, RTGRAPH_LAUNCH, NULL, &div), RTGRAPH_NEVER);
    assert_int_equal(div, 1);
    assert_int_equal(f->launches, 1);
    fake_done(f);
}

/* A result the execution keeps (a field) is the host's own buffer, filled after the launch:
 * the next launch does not change it. */
static void test_iteration_kept_result(void **state)
{
    (void)state;
    Fake *f = fake_new();
    int div = 0;
    DaftValue field = {0};
    for (int i = 0; i < 6; i++)
        run_iteration(f, i, 2.0, RTGRAPH_LAUNCH, &field, &div);
    assert_int_equal(f->launches, 4);
    assert_int_equal(div, 0);
    dev_free(f, &field);
    fake_done(f);
}

/* Executions of one block each (key `plan`), run 6 times: the first two recorded, the rest
 * launched, every value right. pause: each one pauses after its input while a call site of
 * another plan runs (as usual, the execution's graph undisturbed); copy: the block's result
 * is kept in a field as a copy (the runtime duplicates the tensor: a device copy, which joins
 * the graph, the field's buffer filled after it ran). */
static void run_block_iterations(uint32_t plan, bool pause, bool copy)
{
    Fake *f = fake_new();
    int div = 0;
    DaftValue w = tensor_of(f, W), field = {0};
    for (int i = 0; i < 6; i++) {
        float x[N] = {1, -2, 3, (float)i};
        DaftValue in = tensor_of(f, x);
        int begun = rtgraph_iter_begin(f->g, ((uint64_t)plan << 32) | 0xffffffffu, count_divergence, &div);
        rtgraph_iter_input(f->g, &in);
        if (pause) {
            rtgraph_iter_pause(f->g, true);
            call_block(f, 5, i, &w, 1.5);
            rtgraph_iter_pause(f->g, false);
        }
        DaftValue b = body_block(f, &in, &w, 2.0);
        dev_free(f, &in);
        if (copy) {
            DaftValue dup = {.kind = DAFT_V_TENSOR};
            assert_int_equal(dev_alloc(f, &dup.as.tensor), 0);
            if (rtgraph_copy(f->g, &dup.as.tensor, &b.as.tensor) == 0)
                memcpy(dup.as.tensor.data, b.as.tensor.data, N * sizeof(float));
            dev_free(f, &b);
            dev_free(f, &field);
            b = field = dup;
        }
        int vote = rtgraph_iter_verdict(f->g);
        assert_int_equal(vote, i < 2 ? RTGRAPH_NOT_NOW : RTGRAPH_LAUNCH);
        assert_int_equal(begun, i < 2 ? RTGRAPH_NOT_NOW : RTGRAPH_CHECK);
        char err[128];
        if (vote == RTGRAPH_LAUNCH)
            assert_int_equal(rtgraph_iter_go(f->g, true, err, sizeof err), 0);
        expect_block(x, W, 2.0, &b);
        if (!copy)
            dev_free(f, &b);
        rtgraph_iter_end(f->g);
    }
    assert_int_equal(rtgraph_stats(f->g).iter_launches, 4);
    assert_int_equal(div, 0);
    dev_free(f, &field);
    dev_free(f, &w);
    fake_done(f);
}

static void test_iteration_pause_lets_calls_run(void **state)
{
    (void)state;
    run_block_iterations(9, true, false);
}

static void test_iteration_copy_kept_in_field(void **state)
{
    (void)state;
    run_block_iterations(11, false, true);
}

/* Its communicator aborted (a member died, the plan unloaded): the graph holding it goes
 * first, and the execution is never graphed again. */
static void test_iteration_forget_comm(void **state)
{
    (void)state;
    Fake *f = fake_new();
    int div = 0;
    for (int i = 0; i < 4; i++)
        run_iteration(f, i, 2.0, RTGRAPH_LAUNCH, NULL, &div);
    assert_int_equal(f->graphs, 1);
    rtgraph_forget_comm(f->g, (void *)1); /* (another communicator: nothing goes) */
    assert_int_equal(f->graphs, 1);
    rtgraph_forget_comm(f->g, f);
    assert_int_equal(f->graphs, 0);
    assert_int_equal(run_iteration(f, 4, 2.0, RTGRAPH_LAUNCH, NULL, &div), RTGRAPH_NEVER);
    assert_int_equal(f->launches, 2);
    fake_done(f);
}

/* Three executions of run_iteration's plan (the third launched as a graph), then a fourth
 * begun in check mode, reading *in (made from X4): the start of the tests below. */
static const float X4[N] = {1, -2, 3, 4};

static Fake *begin_checked_execution(int *div, DaftValue *w, DaftValue *in)
{
    Fake *f = fake_new();
    for (int i = 0; i < 3; i++)
        run_iteration(f, i, 2.0, RTGRAPH_LAUNCH, NULL, div);
    *w = (DaftValue){.kind = DAFT_V_TENSOR, .as.tensor = f->weight};
    *in = tensor_of(f, X4);
    assert_int_equal(rtgraph_iter_begin(f->g, ((uint64_t)7 << 32) | 0xffffffffu, count_divergence, div),
                     RTGRAPH_CHECK);
    rtgraph_iter_input(f->g, in);
    return f;
}

/* An unsequenced plan's execution starts while another plan's checked execution waits
 * mid-way (DAFT_PLAN_SEQUENCE=0): the paused one owns the graphs, the other is told BUSY and
 * runs as usual; the paused one's answers are still launched, its values right. */
static void test_iteration_busy_while_another_paused(void **state)
{
    (void)state;
    int div = 0;
    DaftValue w, in;
    Fake *f = begin_checked_execution(&div, &w, &in);
    const float *x = X4;
    char err[128];
    DaftValue b = body_block(f, &in, &w, 2.0); /* (answered from the arena, not run) */
    dev_free(f, &in);
    rtgraph_iter_pause(f->g, true);
    int other = 0;
    assert_int_equal(rtgraph_iter_begin(f->g, ((uint64_t)8 << 32) | 0xffffffffu, count_divergence, &other),
                     RTGRAPH_BUSY);
    call_block(f, 5, 0, &w, 1.5); /* (the other plan's operations run as usual) */
    rtgraph_iter_pause(f->g, false);
    DaftValue c = {.kind = DAFT_V_TENSOR}, r = {0};
    assert_int_equal(rtgraph_coll(f->g, f, 0, 0, 0, &b.as.tensor, &c.as.tensor, true, err, sizeof err), 0);
    assert_int_equal(rtgraph_std(f->g, "relu", &c, 1, &r), 0);
    dev_free(f, &c);
    dev_free(f, &b);
    assert_int_equal(rtgraph_iter_verdict(f->g), RTGRAPH_LAUNCH);
    assert_int_equal(rtgraph_iter_go(f->g, true, err, sizeof err), 0);
    for (int k = 0; k < N; k++) {
        float s = x[k] + W[k], m = (float)((s > 0 ? s : 0) * 2.0);
        assert_true(((const float *)r.as.tensor.data)[k] == (2 * m > 0 ? 2 * m : 0));
    }
    dev_free(f, &r);
    rtgraph_iter_end(f->g);
    assert_int_equal(f->launches, 2);
    assert_int_equal(div + other, 0);
    fake_done(f);
}

typedef struct Told {
    Fake *f;
    int calls, eager_at; /* on_diverge's calls, and the operations run eagerly by the first */
} Told;

static void tell_divergence(void *arg)
{
    Told *t = arg;
    if (!t->calls++)
        t->eager_at = t->f->eager;
}

/* A checked execution that reaches its tail short of the record votes NEVER before the
 * operations it was answered run: they may wait on the GPU for members that wait for it. */
static void test_iteration_short_votes_before_running(void **state)
{
    (void)state;
    Fake *f = fake_new();
    int div = 0;
    for (int i = 0; i < 3; i++)
        run_iteration(f, i, 2.0, RTGRAPH_LAUNCH, NULL, &div);
    DaftValue w = {.kind = DAFT_V_TENSOR, .as.tensor = f->weight};
    float x[N] = {1, -2, 3, 4};
    DaftValue in = tensor_of(f, x);
    Told t = {f, 0, -1};
    assert_int_equal(rtgraph_iter_begin(f->g, ((uint64_t)7 << 32) | 0xffffffffu, tell_divergence, &t),
                     RTGRAPH_CHECK);
    rtgraph_iter_input(f->g, &in);
    DaftValue b = body_block(f, &in, &w, 2.0);
    dev_free(f, &in);
    int eager = f->eager;
    assert_int_equal(rtgraph_iter_verdict(f->g), RTGRAPH_NEVER); /* (no collective, no relu) */
    assert_int_equal(t.calls, 1);
    assert_int_equal(t.eager_at, eager);
    assert_int_equal(f->eager, eager + 3);
    expect_block(x, W, 2.0, &b);
    dev_free(f, &b);
    rtgraph_iter_end(f->g);
    fake_done(f);
}

/* The communicator aborted while a checked execution waits mid-way (its plan stopped): if
 * it is stepped again, it checks nothing more against the graph that went, and launches
 * nothing. */
static void test_iteration_forget_comm_while_paused(void **state)
{
    (void)state;
    int div = 0;
    DaftValue w, in;
    Fake *f = begin_checked_execution(&div, &w, &in);
    const float *x = X4;
    char err[128];
    rtgraph_iter_pause(f->g, true);
    rtgraph_forget_comm(f->g, f);
    assert_int_equal(f->graphs, 0);
    rtgraph_iter_pause(f->g, false);
    int eager = f->eager;
    DaftValue b = body_block(f, &in, &w, 2.0), c = {.kind = DAFT_V_TENSOR};
    dev_free(f, &in);
    assert_int_equal(f->eager, eager + 3); /* (run, not answered from the arena that went) */
    expect_block(x, W, 2.0, &b);
    assert_int_equal(rtgraph_coll(f->g, f, 0, 0, 0, &b.as.tensor, &c.as.tensor, true, err, sizeof err), 0);
    assert_int_equal(rtgraph_iter_verdict(f->g), RTGRAPH_NEVER);
    dev_free(f, &c);
    dev_free(f, &b);
    rtgraph_iter_end(f->g);
    assert_int_equal(f->launches, 1);
    fake_done(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_repeated_calls_replay),
        cmocka_unit_test(test_other_pointer_diverges),
        cmocka_unit_test(test_changing_scalar_never_graphed),
        cmocka_unit_test(test_sites_are_separate),
        cmocka_unit_test(test_kept_result_never_graphed),
        cmocka_unit_test(test_copy_in_checked_body_runs_first),
        cmocka_unit_test(test_failed_capture_runs_as_usual),
        cmocka_unit_test(test_shorter_call_diverges),
        cmocka_unit_test(test_freed_external_tensor_reused),
        cmocka_unit_test(test_kept_result_after_graphed),
        cmocka_unit_test(test_scalar_result_graphed),
        cmocka_unit_test(test_copy_while_recording_never_graphed),
        cmocka_unit_test(test_argument_shape_change_diverges),
        cmocka_unit_test(test_capture_refuses_other_allocations),
        cmocka_unit_test(test_failed_rerun_reports),
        cmocka_unit_test(test_forget_releases),
        cmocka_unit_test(test_failed_launch_falls_back),
        cmocka_unit_test(test_iteration_replays),
        cmocka_unit_test(test_iteration_other_member_not_ready),
        cmocka_unit_test(test_iteration_divergence_votes_never),
        cmocka_unit_test(test_iteration_kept_result),
        cmocka_unit_test(test_iteration_pause_lets_calls_run),
        cmocka_unit_test(test_iteration_forget_comm),
        cmocka_unit_test(test_iteration_copy_kept_in_field),
        cmocka_unit_test(test_iteration_busy_while_another_paused),
        cmocka_unit_test(test_iteration_short_votes_before_running),
        cmocka_unit_test(test_iteration_forget_comm_while_paused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
