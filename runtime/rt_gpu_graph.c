/* rt_gpu_graph.c — CUDA graphs of a GPU actor's method calls: record, check, capture, replay.
 * See rt_gpu_graph.h for why and how; the device work itself is the backend's. */
#include "rt_gpu_graph.h"
#include "rt_gpu.h" /* (rtg_nbytes: its inline helpers only) */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GRAPH_MAX_OPS 256  /* std operations of one call or iteration: more, and it is not graphed */
#define GRAPH_MAX_ARGS 8   /* arguments of one std operation, and tensor arguments of a method */
#define GRAPH_MAX_SITES 256
#define GRAPH_MAX_RECORDS 4 /* records that disagree before a site is given up */

/* The operations whose GPU work depends on nothing but their arguments and that allocate
 * exactly their one tensor result. */
static const char *const GRAPH_PURE_OPS[] = {
    "matmul", "linear_forward", "linear_weight_grad", "linear_input_grad", "add", "mul", "relu",
    "relu_backward", "mse_grad", "sgd_update", "slice", "randn", "rand", "zeros", "ones", NULL,
};

typedef enum { ARG_SCALAR, ARG_IN, ARG_OUT, ARG_EXT } ArgKind;

typedef struct GArg {
    ArgKind kind;
    int idx;          /* ARG_IN: the method's argument; ARG_OUT: the operation of the call */
    DaftValue scalar; /* ARG_SCALAR: an i64, f64 or bool */
    DaftTensor t;     /* tensors: shape, device and (ARG_IN, ARG_EXT) the recorded pointer */
} GArg;

typedef struct GOp {
    char fn[24];    /* a std operation, or COLL_OP (whole iterations: an NCCL collective) */
    int nargs;
    GArg a[GRAPH_MAX_ARGS];
    DaftTensor out; /* the result's shape; data: the recorded pointer, or the arena buffer */
    bool freed;     /* (recording) the body freed the result */
    void *comm;     /* COLL_OP: the communicator, kind, reduction and root */
    int ckind, creduce, croot;
} GOp;
#define COLL_OP "(collective)"
#define COPY_OP "(copy)"        /* whole iterations: a device-to-device copy of a tensor */

enum { SITE_NEW, SITE_SEEN, SITE_READY, SITE_GRAPH, SITE_DEAD };

typedef struct GSite {
    uint64_t key;
    int state;
    int records;             /* records taken (SITE_SEEN) */
    int nops;
    GOp *ops;
    int result;              /* the operation whose tensor the method returns, or -1 */
    int nin;
    DaftTensor in[GRAPH_MAX_ARGS]; /* static copies of the tensor arguments (data NULL: unused) */
    void *exec;
    /* whole iterations: the results still held when the iteration ends (in a field), and
     * this iteration's answers (an arena buffer, or for a kept result a buffer of the host's
     * own that the arena's is copied into once the graph ran; data NULL once copied) */
    bool *kept;
    DaftTensor *ans;
} GSite;

enum { MODE_OFF, MODE_RECORD, MODE_CHECK, MODE_PLAIN };

/* An arena buffer. `out`: a value of the host holds it (a checked call's answer not yet freed,
 * or any buffer of a site given up while the host held it); `orphan`: its site is gone, so
 * the host's free releases it. */
typedef struct ABuf {
    void *p; /* NULL: empty slot; BUF_TOMB: a removed one */
    size_t nb;
    bool out, orphan;
} ABuf;
#define BUF_TOMB ((void *)1)

struct RtGraphs {
    RtGraphBackend b;
    GSite *sites;
    int nsites;
    RtGraphStats stats;
    /* the call in progress */
    GSite *cur;
    int mode;
    const DaftValue *args;
    int nargs;
    GOp *rec;               /* MODE_RECORD: [GRAPH_MAX_OPS] */
    int nrec;
    bool unfit;             /* MODE_RECORD: this call cannot be graphed */
    int cursor;             /* MODE_CHECK: operations answered so far */
    int fail;               /* a failure of running operations into the arena, for rtgraph_end */
    char why[200];
    const DaftTensor *handout; /* the arena buffer the next allocation gets, once */
    bool handed;
    bool capturing;            /* no other allocation may happen then */
    /* a whole iteration (rtgraph_iter_*) in progress: its inputs so far (data NULL: freed
     * since), whom to tell when a check diverges, and whether its tail has begun (a tail
     * only hands values on: host copies there are expected) */
    bool iter, tail, paused;
    uint64_t iter_key;
    int saved_mode;
    DaftTensor iter_in[GRAPH_MAX_ARGS];
    int niter_in;
    void (*on_diverge)(void *);
    void *diverge_arg;
    bool went;                 /* launched (or its record run) after the vote */
    int saved_fail;
    /* every arena buffer: an open-addressing hash set (g_free asks on every free) */
    ABuf *bufs;
    size_t capbufs, usedbufs;  /* (capbufs a power of two, or 0; used counts tombstones) */
};

/* ---------------------------------------------------------------- helpers */

static bool is_gpu_tensor(const DaftValue *v)
{
    return v->kind == DAFT_V_TENSOR && daft_tensor_gpu(&v->as.tensor) >= 0;
}

static bool same_shape(const DaftTensor *a, const DaftTensor *b)
{
    if (a->dtype != b->dtype || a->rank != b->rank || a->device != b->device)
        return false;
    for (int i = 0; i < a->rank; i++)
        if (a->dims[i] != b->dims[i])
            return false;
    return true;
}

static bool pure_op(const char *fn)
{
    for (int i = 0; GRAPH_PURE_OPS[i]; i++)
        if (!strcmp(fn, GRAPH_PURE_OPS[i]))
            return true;
    return false;
}

static bool same_scalar(const DaftValue *a, const DaftValue *b)
{
    if (a->kind != b->kind)
        return false;
    switch (a->kind) {
    case DAFT_V_I64: return a->as.i64 == b->as.i64;
    case DAFT_V_F64: return !memcmp(&a->as.f64, &b->as.f64, sizeof a->as.f64);
    case DAFT_V_BOOL: return a->as.b == b->as.b;
    default: return false;
    }
}

static bool is_scalar(const DaftValue *v)
{
    return v->kind == DAFT_V_I64 || v->kind == DAFT_V_F64 || v->kind == DAFT_V_BOOL;
}

static size_t buf_hash(const void *p)
{
    uint64_t x = (uint64_t)(uintptr_t)p;
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    return (size_t)x;
}

static ABuf *buf_find(const RtGraphs *g, const void *p)
{
    if (!g->capbufs || !p || p == BUF_TOMB)
        return NULL;
    for (size_t i = buf_hash(p) & (g->capbufs - 1);; i = (i + 1) & (g->capbufs - 1)) {
        if (!g->bufs[i].p)
            return NULL;
        if (g->bufs[i].p == p)
            return &g->bufs[i];
    }
}

static bool buf_add(RtGraphs *g, void *p, size_t nb)
{
    if (2 * (g->usedbufs + 1) > g->capbufs) { /* rehash (dropping tombstones) */
        size_t cap = g->capbufs ? 2 * g->capbufs : 64;
        ABuf *old = g->bufs, *nb = calloc(cap, sizeof *nb);
        if (!nb)
            return false;
        size_t oldcap = g->capbufs;
        g->bufs = nb;
        g->capbufs = cap;
        g->usedbufs = 0;
        for (size_t i = 0; i < oldcap; i++)
            if (old[i].p && old[i].p != BUF_TOMB) {
                size_t k = buf_hash(old[i].p) & (cap - 1);
                while (nb[k].p)
                    k = (k + 1) & (cap - 1);
                nb[k] = old[i];
                g->usedbufs++;
            }
        free(old);
    }
    size_t k = buf_hash(p) & (g->capbufs - 1);
    while (g->bufs[k].p && g->bufs[k].p != BUF_TOMB)
        k = (k + 1) & (g->capbufs - 1);
    if (!g->bufs[k].p)
        g->usedbufs++;
    g->bufs[k] = (ABuf){p, nb, false, false};
    return true;
}

/* Device memory that an arena holds: the host may free it only through the set. */
static void buf_release(RtGraphs *g, ABuf *b)
{
    g->b.release(g->b.arg, b->p, b->nb);
    b->p = BUF_TOMB;
    b->out = b->orphan = false;
}

/* A buffer of a site given up: released now unless the host holds it (then at its free). */
static void buf_drop(RtGraphs *g, void *p)
{
    ABuf *b = buf_find(g, p);
    if (!b)
        return;
    if (b->out)
        b->orphan = true;
    else
        buf_release(g, b);
}

static GSite *site_find(RtGraphs *g, uint64_t key)
{
    for (int i = 0; i < g->nsites; i++)
        if (g->sites[i].key == key)
            return &g->sites[i];
    return NULL;
}

static GSite *site_of(RtGraphs *g, uint64_t key)
{
    for (int i = 0; i < g->nsites; i++)
        if (g->sites[i].key == key)
            return &g->sites[i];
    if (g->nsites == GRAPH_MAX_SITES)
        return NULL;
    if (!g->sites && !(g->sites = calloc(GRAPH_MAX_SITES, sizeof *g->sites)))
        return NULL;
    GSite *s = &g->sites[g->nsites++];
    memset(s, 0, sizeof *s);
    s->key = key;
    s->result = -1;
    return s;
}

/* The site's arena (and graph) go; the site stays, given up, unless `forget`. */
static void site_drop(RtGraphs *g, GSite *s)
{
    if (s->state == SITE_READY || s->state == SITE_GRAPH) {
        for (int i = 0; i < s->nops; i++)
            buf_drop(g, s->ops[i].out.data);
        for (int k = 0; k < s->nin; k++)
            buf_drop(g, s->in[k].data);
    }
    if (s->exec)
        g->b.exec_free(g->b.arg, s->exec); /* (a launch in flight completes first) */
    s->exec = NULL;
    s->state = SITE_DEAD;
}

/* ---------------------------------------------------------------- life */

RtGraphs *rtgraph_new(const RtGraphBackend *b)
{
    RtGraphs *g = calloc(1, sizeof *g);
    if (g && !(g->rec = calloc(GRAPH_MAX_OPS, sizeof *g->rec))) {
        free(g);
        return NULL;
    }
    if (g)
        g->b = *b;
    return g;
}

void rtgraph_free(RtGraphs *g)
{
    if (!g)
        return;
    for (int i = 0; i < g->nsites; i++) {
        if (g->sites[i].exec)
            g->b.exec_free(g->b.arg, g->sites[i].exec);
        free(g->sites[i].ops);
        free(g->sites[i].kept);
        free(g->sites[i].ans);
    }
    for (size_t i = 0; i < g->capbufs; i++) /* (the process is done with all of them) */
        if (g->bufs[i].p && g->bufs[i].p != BUF_TOMB)
            g->b.release(g->b.arg, g->bufs[i].p, g->bufs[i].nb);
    free(g->bufs);
    free(g->sites);
    free(g->rec);
    free(g);
}

RtGraphStats rtgraph_stats(const RtGraphs *g) { return g->stats; }

void rtgraph_forget(RtGraphs *g, uint32_t plan)
{
    if (g->iter && (uint32_t)(g->iter_key >> 32) == plan) { /* stopped in an iteration */
        g->iter = g->tail = g->paused = false;
        g->mode = MODE_OFF;
        g->cur = NULL;
    }
    for (int i = 0; i < g->nsites;) {
        GSite *s = &g->sites[i];
        if ((uint32_t)(s->key >> 32) != plan) {
            i++;
            continue;
        }
        site_drop(g, s);
        free(s->ops);
        free(s->kept);
        free(s->ans);
        *s = g->sites[--g->nsites]; /* (no call is in progress: nothing points at sites) */
    }
}

void rtgraph_forget_comm(RtGraphs *g, const void *comm)
{
    for (int i = 0; i < g->nsites; i++) {
        GSite *s = &g->sites[i];
        bool uses = false;
        for (int k = 0; k < s->nops && !uses; k++)
            uses = s->ops[k].comm == comm;
        if (!uses || s->state == SITE_DEAD)
            continue;
        /* (its plan is failing: what it answered is never used; paused, it is not even at
         * g->cur, and resumes into the mode saved) */
        int *mode = g->paused ? &g->saved_mode : &g->mode;
        if (g->iter && s->key == g->iter_key && *mode == MODE_CHECK)
            *mode = MODE_PLAIN;
        site_drop(g, s);
    }
}

/* ---------------------------------------------------------------- recording */

/* The call's tensor argument k (a whole iteration's input k), or NULL. */
static const DaftTensor *input(const RtGraphs *g, int k)
{
    if (g->iter)
        return k < g->niter_in && g->iter_in[k].data ? &g->iter_in[k] : NULL;
    return k < g->nargs && is_gpu_tensor(&g->args[k]) ? &g->args[k].as.tensor : NULL;
}

static int ninputs(const RtGraphs *g) { return g->iter ? g->niter_in : g->nargs; }

/* How the recorded call at op i passed the tensor t: the method's argument, an earlier
 * result of the call still alive, or another device tensor. */
static void classify(const RtGraphs *g, int i, const DaftTensor *t, GArg *a)
{
    a->t = *t;
    for (int k = 0; k < ninputs(g); k++)
        if (input(g, k) && input(g, k)->data == t->data) {
            a->kind = ARG_IN;
            a->idx = k;
            return;
        }
    for (int j = i - 1; j >= 0; j--)
        if (!g->rec[j].freed && g->rec[j].out.data == t->data) {
            a->kind = ARG_OUT;
            a->idx = j;
            return;
        }
    a->kind = ARG_EXT;
}

static void record(RtGraphs *g, const char *fn, const DaftValue *args, int nargs, int rc,
                   const DaftValue *out)
{
    if (g->unfit)
        return;
    if (rc != 0 || !is_gpu_tensor(out) ||
        !(pure_op(fn) || (g->iter && (!strcmp(fn, COLL_OP) || !strcmp(fn, COPY_OP)))) ||
        g->nrec == GRAPH_MAX_OPS ||
        nargs > GRAPH_MAX_ARGS || strlen(fn) >= sizeof g->rec[0].fn) {
        g->unfit = true;
        return;
    }
    GOp *o = &g->rec[g->nrec];
    memset(o, 0, sizeof *o);
    snprintf(o->fn, sizeof o->fn, "%s", fn);
    o->nargs = nargs;
    for (int k = 0; k < nargs; k++) {
        if (is_scalar(&args[k])) {
            o->a[k].kind = ARG_SCALAR;
            o->a[k].scalar = args[k];
        } else if (is_gpu_tensor(&args[k])) {
            classify(g, g->nrec, &args[k].as.tensor, &o->a[k]);
        } else {
            g->unfit = true; /* a list, a string, a host tensor */
            return;
        }
    }
    o->out = out->as.tensor;
    g->nrec++;
}

static bool same_arg(const GArg *a, const GArg *b)
{
    if (a->kind != b->kind)
        return false;
    switch (a->kind) {
    case ARG_SCALAR: return same_scalar(&a->scalar, &b->scalar);
    case ARG_IN: return a->idx == b->idx && same_shape(&a->t, &b->t);
    case ARG_OUT: return a->idx == b->idx;
    case ARG_EXT: return a->t.data == b->t.data && same_shape(&a->t, &b->t);
    }
    return false;
}

static bool same_coll(const GOp *a, const GOp *b)
{
    return a->comm == b->comm && a->ckind == b->ckind && a->creduce == b->creduce && a->croot == b->croot;
}

static bool same_record(const GSite *s, const GOp *rec, int n, int result)
{
    if (s->nops != n || s->result != result)
        return false;
    for (int i = 0; i < n; i++) {
        if (strcmp(s->ops[i].fn, rec[i].fn) || s->ops[i].nargs != rec[i].nargs ||
            !same_shape(&s->ops[i].out, &rec[i].out) || !same_coll(&s->ops[i], &rec[i]) ||
            (s->kept && s->kept[i] != !rec[i].freed))
            return false;
        for (int k = 0; k < rec[i].nargs; k++)
            if (!same_arg(&s->ops[i].a[k], &rec[i].a[k]))
                return false;
    }
    return true;
}

/* Arena buffers for the results and static copies of the tensor arguments: the site is
 * ready to be checked and captured. false: out of memory (the site is given up). */
static bool make_arena(RtGraphs *g, GSite *s)
{
    for (int i = 0; i < s->nops; i++) {
        DaftTensor *t = &s->ops[i].out;
        if (g->b.alloc(g->b.arg, t) != 0)
            return false;
        if (!buf_add(g, t->data, rtg_nbytes(t))) {
            g->b.release(g->b.arg, t->data, rtg_nbytes(t));
            t->data = NULL;
            return false;
        }
    }
    s->nin = ninputs(g) < GRAPH_MAX_ARGS ? ninputs(g) : GRAPH_MAX_ARGS;
    for (int i = 0; i < s->nops; i++)
        for (int k = 0; k < s->ops[i].nargs; k++) {
            const GArg *a = &s->ops[i].a[k];
            if (a->kind != ARG_IN || s->in[a->idx].data)
                continue;
            if (a->idx >= GRAPH_MAX_ARGS)
                return false;
            s->in[a->idx] = a->t;
            s->in[a->idx].data = NULL;
            if (g->b.alloc(g->b.arg, &s->in[a->idx]) != 0)
                return false;
            if (!buf_add(g, s->in[a->idx].data, rtg_nbytes(&s->in[a->idx]))) {
                g->b.release(g->b.arg, s->in[a->idx].data, rtg_nbytes(&s->in[a->idx]));
                s->in[a->idx].data = NULL;
                return false;
            }
        }
    return true;
}

/* The end of a recorded call: keep the record, or compare it with the one kept. */
static void end_record(RtGraphs *g, GSite *s, const DaftValue *result)
{
    int res = -1;
    if (!g->unfit && result->kind == DAFT_V_TENSOR) {
        res = -2;
        for (int j = g->nrec - 1; j >= 0 && res == -2; j--)
            if (!g->rec[j].freed && g->rec[j].out.data == result->as.tensor.data)
                res = j;
    }
    bool fit = !g->unfit && res != -2 && result->kind != DAFT_V_LIST && result->kind != DAFT_V_ERROR &&
               g->nrec > 0;
    for (int j = 0; fit && j < g->nrec; j++)
        fit = g->rec[j].freed || j == res; /* a result kept past the call (in a field) */
    if (!fit) {
        s->state = SITE_DEAD;
        return;
    }
    if (s->state == SITE_SEEN && same_record(s, g->rec, g->nrec, res)) {
        for (int i = 0; i < s->nops; i++)
            s->ops[i].out.data = NULL;
        memset(s->in, 0, sizeof s->in);
        s->state = SITE_READY; /* (so that site_drop releases a partial arena) */
        if (!make_arena(g, s))
            site_drop(g, s);
        return;
    }
    if (++s->records > GRAPH_MAX_RECORDS) {
        s->state = SITE_DEAD;
        return;
    }
    GOp *ops = realloc(s->ops, sizeof *ops * (size_t)g->nrec);
    if (!ops) {
        s->state = SITE_DEAD;
        return;
    }
    memcpy(ops, g->rec, sizeof *ops * (size_t)g->nrec);
    s->ops = ops;
    s->nops = g->nrec;
    s->result = res;
    s->state = SITE_SEEN;
}

/* ---------------------------------------------------------------- running the record */

/* Operation i of site s's record as arguments: the method's tensors (or their static
 * copies, to capture, and always for a whole iteration, whose inputs are copied there as
 * they come), arena buffers and the recorded tensors. */
static void op_args(const RtGraphs *g, const GSite *s, int i, bool statics, DaftValue *v)
{
    const GOp *o = &s->ops[i];
    for (int k = 0; k < o->nargs; k++) {
        const GArg *a = &o->a[k];
        if (a->kind == ARG_SCALAR) {
            v[k] = a->scalar;
            continue;
        }
        v[k].kind = DAFT_V_TENSOR;
        v[k].as.tensor = a->kind == ARG_IN ? (statics || g->iter ? s->in[a->idx] : g->args[a->idx].as.tensor)
                       : a->kind == ARG_OUT ? s->ops[a->idx].out
                                            : a->t;
    }
}

/* Runs (or, capturing, enqueues into the graph) operations [0, n) of the site's record, each
 * into its arena buffer. */
static int run_record(RtGraphs *g, GSite *s, int n, bool capture)
{
    for (int i = 0; i < n; i++) {
        const DaftTensor *buf = &s->ops[i].out;
        DaftValue v[GRAPH_MAX_ARGS], out = {.kind = DAFT_V_NONE};
        op_args(g, s, i, capture, v);
        /* captured: the operation's one allocation gets the buffer (any other is refused,
         * failing the capture); run: it allocates as usual and its result is copied there,
         * as the buffer might otherwise go to a scratch allocation of the operation */
        g->handout = capture ? buf : NULL;
        g->handed = false;
        const GOp *o = &s->ops[i];
        int rc;
        if (!strcmp(o->fn, COLL_OP)) { /* into its buffer, on the compute stream */
            out.kind = DAFT_V_TENSOR;
            out.as.tensor = *buf;
            rc = g->b.coll(g->b.arg, o->comm, o->ckind, o->creduce, o->croot, &v[0].as.tensor,
                           &out.as.tensor, true, g->why, sizeof g->why);
            if (rc) {
                out.kind = DAFT_V_NONE;
                g->handout = NULL;
                g->fail = -1;
                return -1;
            }
        } else if (!strcmp(o->fn, COPY_OP)) {
            out.kind = DAFT_V_TENSOR;
            out.as.tensor = *buf;
            rc = g->b.copy(g->b.arg, buf->data, v[0].as.tensor.data, rtg_nbytes(buf));
            if (rc) {
                snprintf(g->why, sizeof g->why, "a copy did not run into its graph buffer");
                g->handout = NULL;
                g->fail = -1;
                return -1;
            }
        } else {
            rc = g->b.call(g->b.arg, o->fn, v, o->nargs, &out);
        }
        g->handout = NULL;
        bool ok = rc == 0 && is_gpu_tensor(&out) && same_shape(&out.as.tensor, buf);
        if (ok && out.as.tensor.data != buf->data) {
            ok = !capture && !buf_find(g, out.as.tensor.data) &&
                 g->b.copy(g->b.arg, buf->data, out.as.tensor.data, rtg_nbytes(buf)) == 0;
            if (ok)
                g->b.drop(g->b.arg, &out);
        }
        if (!ok) {
            if (rc != 0 && out.kind == DAFT_V_ERROR)
                snprintf(g->why, sizeof g->why, "%s", out.as.error.msg);
            else
                snprintf(g->why, sizeof g->why, "%s did not run into its graph buffer", s->ops[i].fn);
            if (!is_gpu_tensor(&out) || !buf_find(g, out.as.tensor.data))
                g->b.drop(g->b.arg, &out); /* (an arena buffer is never the caller's to free) */
            g->fail = -1;
            return -1;
        }
    }
    return 0;
}

/* The checked call differs from the record: its operations so far run now, into the arena
 * buffers its values already point at, and the rest of the call runs as usual. The site is
 * given up (its arena stays: the body's values may hold it). */
/* Is operation i of a whole iteration answered with a buffer of the host's own, filled from
 * its arena buffer once the graph ran? (A kept result, or a copy: its buffer the copier's.) */
static bool answered_own(const GSite *s, int i)
{
    return s->kept[i] || !strcmp(s->ops[i].fn, COPY_OP);
}

/* Those among the first n operations: from their arena buffers into the host's. */
static int copy_kept(RtGraphs *g, GSite *s, int n)
{
    int rc = 0;
    for (int i = 0; i < n; i++)
        if (answered_own(s, i) && s->ans[i].data) {
            if (g->b.copy(g->b.arg, s->ans[i].data, s->ops[i].out.data, rtg_nbytes(&s->ops[i].out)))
                rc = -1;
            s->ans[i].data = NULL;
        }
    return rc;
}

static void diverge(RtGraphs *g)
{
    GSite *s = g->cur;
    g->stats.diverged++;
    g->mode = MODE_PLAIN;
    if (g->iter && g->on_diverge) /* before anything runs: the members must not wait for us */
        g->on_diverge(g->diverge_arg);
    if (run_record(g, s, g->cursor, false) == 0 && g->iter)
        copy_kept(g, s, g->cursor);
    site_drop(g, s); /* (after: stream-ordered releases follow the operations just run) */
}

/* ---------------------------------------------------------------- checking */

static bool arg_matches(const RtGraphs *g, const GSite *s, const GArg *a, const DaftValue *v)
{
    if (a->kind == ARG_SCALAR)
        return same_scalar(&a->scalar, v);
    if (!is_gpu_tensor(v))
        return false;
    const DaftTensor *t = &v->as.tensor;
    switch (a->kind) {
    case ARG_IN:
        return input(g, a->idx) && input(g, a->idx)->data == t->data && same_shape(&a->t, t);
    case ARG_OUT:
        return a->idx < g->cursor && (g->iter ? s->ans[a->idx].data : s->ops[a->idx].out.data) == t->data;
    case ARG_EXT:
        return t->data == a->t.data && same_shape(&a->t, t);
    default:
        return false;
    }
}

static bool op_matches(const RtGraphs *g, const GSite *s, const GOp *o, const char *fn,
                       const DaftValue *args, int nargs)
{
    if (strcmp(o->fn, fn) || o->nargs != nargs || !strcmp(fn, COLL_OP))
        return false;
    for (int k = 0; k < nargs; k++)
        if (!arg_matches(g, s, &o->a[k], &args[k]))
            return false;
    return true;
}

/* ---------------------------------------------------------------- the hooks */

void rtgraph_begin(RtGraphs *g, uint64_t key, const DaftValue *args, int nargs)
{
    g->args = args;
    g->nargs = nargs;
    g->fail = 0;
    g->mode = MODE_PLAIN;
    g->cur = NULL;
    if (g->iter) /* a paused iteration's state is not to be disturbed: this call runs as usual */
        return;
    g->cur = site_of(g, key);
    if (!g->cur || g->cur->state == SITE_DEAD)
        return;
    if (g->cur->state == SITE_NEW || g->cur->state == SITE_SEEN) {
        g->mode = MODE_RECORD;
        g->nrec = 0;
        g->unfit = nargs > GRAPH_MAX_ARGS;
        return;
    }
    g->mode = MODE_CHECK;
    g->cursor = 0;
}

/* Check mode: op `cursor` matched; its answer. A whole iteration's result that the
 * iteration keeps gets a buffer of the host's own (the arena's is copied there once the
 * graph ran); any other result is its arena buffer. */
static int answer(RtGraphs *g, GSite *s, DaftTensor *out)
{
    int i = g->cursor;
    if (g->iter && s->kept[i]) {
        DaftTensor t = s->ops[i].out;
        t.data = NULL;
        if (g->b.alloc(g->b.arg, &t) != 0)
            return -1;
        s->ans[i] = t;
    } else {
        ABuf *b = buf_find(g, s->ops[i].out.data);
        if (b)
            b->out = true;
        if (g->iter)
            s->ans[i] = s->ops[i].out;
    }
    *out = g->iter ? s->ans[i] : s->ops[i].out;
    g->cursor++;
    return 0;
}

int rtgraph_std(RtGraphs *g, const char *fn, const DaftValue *args, int nargs, DaftValue *out)
{
    if (g->tail)
        return g->b.call(g->b.arg, fn, args, nargs, out);
    if (g->mode == MODE_CHECK) {
        GSite *s = g->cur;
        if (g->cursor < s->nops && op_matches(g, s, &s->ops[g->cursor], fn, args, nargs) &&
            answer(g, s, &out->as.tensor) == 0) {
            out->kind = DAFT_V_TENSOR;
            return 0;
        }
        diverge(g);
    }
    if (g->fail) { /* the operations so far could not run: nothing after them may */
        memset(out, 0, sizeof *out);
        out->kind = DAFT_V_ERROR;
        size_t n = strlen(g->why) + 1;
        out->as.error.msg = malloc(n);
        if (out->as.error.msg)
            memcpy(out->as.error.msg, g->why, n);
        return -1;
    }
    int rc = g->b.call(g->b.arg, fn, args, nargs, out);
    if (g->mode == MODE_RECORD)
        record(g, fn, args, nargs, rc, out);
    return rc;
}

int rtgraph_alloc(RtGraphs *g, DaftTensor *t)
{
    if (!g->handout || g->handed || rtg_nbytes(t) != rtg_nbytes(g->handout))
        return g->capturing ? -1 : 0; /* (a capture may not allocate: the capture fails) */
    t->data = g->handout->data;
    t->device = g->handout->device;
    g->handed = true;
    return 1;
}

/* Does one of the first n operations read p as "another device tensor"? */
static bool ext_read(const GOp *ops, int n, const void *p)
{
    for (int i = 0; i < n; i++)
        for (int k = 0; k < ops[i].nargs; k++)
            if (ops[i].a[k].kind == ARG_EXT && ops[i].a[k].t.data == p)
                return true;
    return false;
}

/* Check mode of a whole iteration: is p a kept result's buffer of the host's own, not yet
 * filled from the arena? */
static bool unfilled_answer(const RtGraphs *g, const void *p)
{
    const GSite *s = g->cur;
    for (int i = 0; g->iter && g->mode == MODE_CHECK && i < g->cursor; i++)
        if (answered_own(s, i) && s->ans[i].data == p)
            return true;
    return false;
}

bool rtgraph_on_free(RtGraphs *g, const void *p)
{
    if (g->capturing) /* (an operation's own frees: the host's holds are unchanged) */
        return buf_find(g, p) != NULL;
    for (int k = 0; g->iter && !g->paused && k < g->niter_in; k++)
        if (g->iter_in[k].data == p) /* (freed memory may come back as another tensor) */
            g->iter_in[k].data = NULL;
    if (unfilled_answer(g, p))
        diverge(g); /* it is filled before the free */
    if (g->mode == MODE_RECORD) {
        for (int j = g->nrec - 1; j >= 0; j--)
            if (!g->rec[j].freed && g->rec[j].out.data == p) {
                g->rec[j].freed = true;
                break;
            }
        /* a tensor the body made and freed itself: its memory may hold another next time,
         * which would pass for the same tensor */
        if (ext_read(g->rec, g->nrec, p))
            g->unfit = true;
    } else if (g->mode == MODE_CHECK && ext_read(g->cur->ops, g->cursor, p)) {
        diverge(g); /* its readers run before the free */
    }
    ABuf *b = buf_find(g, p);
    if (!b)
        return false;
    if (b->orphan)
        buf_release(g, b);
    else
        b->out = false;
    return true;
}

void rtgraph_on_copy(RtGraphs *g)
{
    if (g->tail) /* (an iteration's tail hands its values on: it may copy them) */
        return;
    if (g->mode == MODE_RECORD)
        g->unfit = true;
    else if (g->mode == MODE_CHECK)
        diverge(g);
}

/* Captures the site's record into a graph (its tensor arguments read from their static
 * copies). false: it could not be (the site is then given up). */
static bool capture(RtGraphs *g, GSite *s)
{
    /* no NCCL write may still be pending on what the graph reads: a capture cannot wait for
     * work outside it */
    for (int i = 0; i < s->nops; i++)
        for (int k = 0; k < s->ops[i].nargs; k++)
            if (s->ops[i].a[k].kind == ARG_EXT)
                g->b.use(g->b.arg, &s->ops[i].a[k].t);
    if (g->b.capture_begin(g->b.arg) != 0)
        return false;
    g->capturing = true;
    int rc = run_record(g, s, s->nops, true);
    g->capturing = false;
    g->fail = 0; /* (a failed capture is not the call's failure: it runs as usual) */
    void *exec = NULL;
    if (g->b.capture_end(g->b.arg, rc == 0, &exec) != 0 || rc != 0 || !exec)
        return false;
    s->exec = exec;
    s->state = SITE_GRAPH;
    g->stats.captured++;
    return true;
}

/* Arguments in, the graph, the result out to memory of its own. */
static int replay(RtGraphs *g, GSite *s, DaftValue *result, char *err, size_t cap)
{
    for (int i = 0; i < s->nops; i++)
        for (int k = 0; k < s->ops[i].nargs; k++)
            if (s->ops[i].a[k].kind == ARG_EXT)
                g->b.use(g->b.arg, &s->ops[i].a[k].t);
    for (int k = 0; k < s->nin; k++) {
        if (!s->in[k].data)
            continue;
        const DaftTensor *t = &g->args[k].as.tensor;
        g->b.use(g->b.arg, t);
        if (g->b.copy(g->b.arg, s->in[k].data, t->data, rtg_nbytes(t)) != 0) {
            snprintf(err, cap, "copying an argument into its CUDA graph buffer failed");
            return -1;
        }
    }
    if (g->b.launch(g->b.arg, s->exec) != 0) {
        snprintf(err, cap, "launching the call's CUDA graph failed");
        return -1;
    }
    g->stats.launches++;
    if (s->result < 0)
        return 0;
    DaftTensor own = s->ops[s->result].out;
    own.data = NULL;
    if (g->b.alloc(g->b.arg, &own) != 0 ||
        g->b.copy(g->b.arg, own.data, s->ops[s->result].out.data, rtg_nbytes(&own)) != 0) {
        if (own.data)
            g->b.release(g->b.arg, own.data, rtg_nbytes(&own));
        snprintf(err, cap, "copying the result out of its CUDA graph buffer failed");
        return -1;
    }
    result->as.tensor.data = own.data;
    ABuf *b = buf_find(g, s->ops[s->result].out.data);
    if (b)
        b->out = false; /* (the host holds its copy) */
    return 0;
}

int rtgraph_end(RtGraphs *g, DaftValue *result, char *err, size_t cap)
{
    if (g->iter && !g->paused) /* (a whole iteration's calls are not sites of their own) */
        return 0;
    GSite *s = g->cur;
    int mode = g->mode;
    g->mode = MODE_OFF;
    g->cur = NULL;
    if (mode == MODE_RECORD) {
        end_record(g, s, result);
        return 0;
    }
    if (mode == MODE_CHECK) {
        /* the whole record, the same result, no result kept past the call */
        bool whole = g->cursor == s->nops &&
                     (s->result < 0 ? result->kind != DAFT_V_TENSOR && result->kind != DAFT_V_LIST &&
                                          result->kind != DAFT_V_ERROR
                                    : result->kind == DAFT_V_TENSOR &&
                                          result->as.tensor.data == s->ops[s->result].out.data);
        for (int j = 0; whole && j < s->nops; j++) {
            ABuf *b = buf_find(g, s->ops[j].out.data);
            whole = j == s->result || (b && !b->out); /* the body freed what it did not return */
        }
        g->cur = s;
        g->mode = MODE_CHECK;
        if (!whole || (s->state == SITE_READY && !capture(g, s))) {
            diverge(g);
        } else if (replay(g, s, result, err, cap) == 0) {
            g->mode = MODE_OFF;
            g->cur = NULL;
            return 0;
        } else {
            /* no graph for this call (out of memory for the result, a failed launch): it
             * runs as usual (its operations are pure: running them again after a launch
             * that did run is harmless), and the site is given up */
            diverge(g);
        }
        g->mode = MODE_OFF;
        g->cur = NULL;
    }
    if (g->fail) {
        snprintf(err, cap, "%s", g->why);
        g->fail = 0;
        return -1;
    }
    return 0;
}

/* ---------------------------------------------------------------- whole iterations */

int rtgraph_iter_begin(RtGraphs *g, uint64_t key, void (*on_diverge)(void *), void *arg)
{
    /* another plan's execution paused mid-way (plans that do not take turns): its answers
     * still have to run, so its state stays, and this execution is not graphed */
    if (g->iter)
        return RTGRAPH_BUSY;
    g->iter = true;
    g->tail = g->paused = g->went = false;
    g->iter_key = key;
    g->niter_in = 0;
    g->fail = 0;
    g->on_diverge = on_diverge;
    g->diverge_arg = arg;
    g->args = NULL;
    g->nargs = 0;
    g->mode = MODE_PLAIN;
    g->cur = site_of(g, key);
    if (!g->cur || g->cur->state == SITE_DEAD)
        return RTGRAPH_NEVER;
    if (g->cur->state == SITE_NEW || g->cur->state == SITE_SEEN) {
        g->mode = MODE_RECORD;
        g->nrec = 0;
        g->unfit = false;
        return RTGRAPH_NOT_NOW;
    }
    g->mode = MODE_CHECK;
    g->cursor = 0;
    return RTGRAPH_CHECK;
}

void rtgraph_iter_input(RtGraphs *g, const DaftValue *v)
{
    if (!g->iter || g->paused || g->tail || !is_gpu_tensor(v) ||
        (g->mode != MODE_RECORD && g->mode != MODE_CHECK))
        return;
    if (g->niter_in == GRAPH_MAX_ARGS) {
        if (g->mode == MODE_RECORD)
            g->unfit = true;
        else
            diverge(g);
        return;
    }
    int k = g->niter_in++;
    g->iter_in[k] = v->as.tensor;
    GSite *s = g->cur;
    if (g->mode != MODE_CHECK || k >= s->nin || !s->in[k].data)
        return; /* (an input no operation of the record reads) */
    /* into its static copy now, in stream order after the last launch that read it: the
     * host may free the input before the iteration's graph is launched */
    if (!same_shape(&s->in[k], &v->as.tensor)) {
        diverge(g);
        return;
    }
    g->b.use(g->b.arg, &v->as.tensor);
    if (g->b.copy(g->b.arg, s->in[k].data, v->as.tensor.data, rtg_nbytes(&s->in[k])) != 0)
        diverge(g);
}

static void record_coll(RtGraphs *g, void *comm, int kind, int reduce, int root, const DaftTensor *in,
                        int rc, const DaftTensor *out)
{
    DaftValue a = {.kind = DAFT_V_TENSOR, .as.tensor = *in};
    DaftValue r = {.kind = DAFT_V_TENSOR, .as.tensor = *out};
    int n = g->nrec;
    if (!in->data) /* (a broadcast receiver's absent input) */
        g->unfit = true;
    record(g, COLL_OP, &a, 1, rc, &r);
    if (g->unfit || g->nrec != n + 1)
        return;
    GOp *o = &g->rec[n];
    o->comm = comm;
    o->ckind = kind;
    o->creduce = reduce;
    o->croot = root;
}

int rtgraph_coll(RtGraphs *g, void *comm, int kind, int reduce, int root, const DaftTensor *in,
                 DaftTensor *out, bool on_compute, char *err, size_t cap)
{
    bool live = g->iter && !g->paused && !g->tail;
    if (live && g->mode == MODE_CHECK) {
        GSite *s = g->cur;
        const GOp *o = g->cursor < s->nops ? &s->ops[g->cursor] : NULL;
        DaftValue a = {.kind = DAFT_V_TENSOR, .as.tensor = *in};
        if (o && !strcmp(o->fn, COLL_OP) && o->comm == comm && o->ckind == kind &&
            o->creduce == reduce && o->croot == root && arg_matches(g, s, &o->a[0], &a) &&
            answer(g, s, out) == 0)
            return 0;
        diverge(g);
    }
    if (live && g->fail) {
        snprintf(err, cap, "%s", g->why);
        return -1;
    }
    int rc = g->b.coll(g->b.arg, comm, kind, reduce, root, in, out, on_compute, err, cap);
    if (live && g->mode == MODE_RECORD)
        record_coll(g, comm, kind, reduce, root, in, rc, out);
    return rc;
}

int rtgraph_iter_verdict(RtGraphs *g)
{
    if (!g->iter)
        return RTGRAPH_NEVER;
    g->tail = true;
    int vote = g->mode == MODE_RECORD ? RTGRAPH_NOT_NOW : RTGRAPH_NEVER;
    GSite *s = g->cur;
    /* the whole record, and captured before the vote: whether its NCCL operations are in a
     * graph must be the same on every member. Short of it, diverge tells on_diverge before
     * it runs the operations answered so far (they may wait on the GPU for the others). */
    if (g->mode == MODE_CHECK) {
        if (g->cursor != s->nops || (s->state == SITE_READY && !capture(g, s)))
            diverge(g);
        else
            vote = RTGRAPH_LAUNCH;
    }
    g->on_diverge = NULL; /* (the caller votes with what this returns) */
    return vote;
}

int rtgraph_iter_go(RtGraphs *g, bool launch, char *err, size_t cap)
{
    GSite *s = g->cur;
    if (!g->iter || g->mode != MODE_CHECK || !s)
        return 0;
    g->mode = MODE_PLAIN;
    g->went = true;
    int rc;
    if (launch) {
        for (int i = 0; i < s->nops; i++)
            for (int k = 0; k < s->ops[i].nargs; k++)
                if (s->ops[i].a[k].kind == ARG_EXT)
                    g->b.use(g->b.arg, &s->ops[i].a[k].t);
        rc = g->b.launch(g->b.arg, s->exec);
        if (rc)
            snprintf(err, cap, "launching the iteration's CUDA graph failed");
        else
            g->stats.iter_launches++;
    } else { /* a member does not launch: every one runs the record as usual */
        rc = run_record(g, s, s->nops, false);
        if (rc)
            snprintf(err, cap, "%s", g->why);
    }
    if (rc == 0 && copy_kept(g, s, s->nops) != 0) {
        snprintf(err, cap, "copying a kept result out of its CUDA graph buffer failed");
        rc = -1;
    }
    return rc;
}

/* A recorded iteration ends: its record is kept, or compared with the one kept. */
static void end_record_iter(RtGraphs *g, GSite *s)
{
    if (g->unfit || g->nrec == 0) {
        s->state = SITE_DEAD;
        return;
    }
    if (s->state == SITE_SEEN && same_record(s, g->rec, g->nrec, -1)) {
        for (int i = 0; i < s->nops; i++)
            s->ops[i].out.data = NULL;
        memset(s->in, 0, sizeof s->in);
        s->state = SITE_READY;
        free(s->ans);
        if (!(s->ans = calloc((size_t)s->nops, sizeof *s->ans)) || !make_arena(g, s))
            site_drop(g, s);
        return;
    }
    GOp *ops = ++s->records > GRAPH_MAX_RECORDS ? NULL : realloc(s->ops, sizeof *ops * (size_t)g->nrec);
    bool *kept = ops ? realloc(s->kept, sizeof *kept * (size_t)g->nrec) : NULL;
    if (ops)
        s->ops = ops;
    if (!kept) {
        s->state = SITE_DEAD;
        return;
    }
    s->kept = kept;
    memcpy(ops, g->rec, sizeof *ops * (size_t)g->nrec);
    for (int i = 0; i < g->nrec; i++)
        kept[i] = !g->rec[i].freed;
    s->nops = g->nrec;
    s->result = -1;
    s->state = SITE_SEEN;
}

void rtgraph_iter_end(RtGraphs *g)
{
    if (!g->iter)
        return;
    GSite *s = g->cur;
    if (s && g->mode == MODE_RECORD) {
        end_record_iter(g, s);
    } else if (s && g->went) {
        /* a result the host holds past the iteration, where the record freed it: the graph
         * would overwrite it, so it runs no more (the buffer becomes the host's) */
        for (int i = 0; i < s->nops; i++) {
            ABuf *b = s->kept[i] ? NULL : buf_find(g, s->ops[i].out.data);
            if (b && b->out) {
                g->stats.diverged++;
                site_drop(g, s);
                break;
            }
        }
    }
    g->iter = g->tail = g->paused = g->went = false;
    g->mode = MODE_OFF;
    g->cur = NULL;
    g->on_diverge = NULL;
}

void rtgraph_iter_pause(RtGraphs *g, bool pause)
{
    if (!g->iter || g->paused == pause)
        return;
    g->paused = pause;
    if (pause) {
        g->saved_mode = g->mode;
        g->saved_fail = g->fail;
        g->mode = MODE_OFF;
        return;
    }
    g->mode = g->saved_mode;
    g->fail = g->saved_fail;
    g->cur = site_find(g, g->iter_key); /* (the site table may have moved meanwhile) */
    if (!g->cur)
        g->mode = MODE_PLAIN;
}

int rtgraph_copy(RtGraphs *g, const DaftTensor *dst, const DaftTensor *src)
{
    bool live = g->iter && !g->paused && !g->tail;
    DaftValue a = {.kind = DAFT_V_TENSOR, .as.tensor = *src};
    if (live && g->mode == MODE_CHECK) {
        GSite *s = g->cur;
        const GOp *o = g->cursor < s->nops ? &s->ops[g->cursor] : NULL;
        if (o && !strcmp(o->fn, COPY_OP) && same_shape(&o->out, dst) && arg_matches(g, s, &o->a[0], &a)) {
            s->ans[g->cursor++] = *dst;
            return 1;
        }
        diverge(g);
        return 0;
    }
    if (live && g->mode == MODE_RECORD && !g->unfit) {
        g->b.use(g->b.arg, src);
        if (g->b.copy(g->b.arg, dst->data, src->data, rtg_nbytes(src)) != 0) {
            g->unfit = true;
            return 0; /* (the caller copies, and reports the failure) */
        }
        DaftValue r = {.kind = DAFT_V_TENSOR, .as.tensor = *dst};
        record(g, COPY_OP, &a, 1, 0, &r);
        return 1;
    }
    rtgraph_on_copy(g);
    return 0;
}
