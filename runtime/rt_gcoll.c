/* rt_gcoll.c — interpreted collectives over NCCL, actor side (SPEC.md §12; daftrt.h,
 * daft_ctx_nccl_collective). The driver (libdaftgen, gen_coll.c) submits one task per
 * member for every operation on a communicator whose members are GPU actors on GPUs of
 * their own; each task lands here with the member's own input only.
 *
 * Why a header exchange first: NCCL trusts its callers. A member whose input failed, or
 * whose shape differs, would otherwise leave the others waiting in NCCL forever or mix
 * bytes of different shapes. So every operation starts with an allgather of a small
 * header (status, dtype, shape, or the input's error message); every member then sees the
 * same headers and takes the same decision. The header also gives a broadcast's
 * receivers the root's shape, and an allgather the members' row counts.
 *
 * The same rule for a member's own failures (no GPU memory for its result, a host input
 * that cannot be copied to its GPU): once one member is inside an NCCL operation, a member
 * that stays out leaves it waiting forever (an abort is local to a process). So whatever a
 * member can prepare alone comes before the headers, and its failure goes into its header;
 * what needs the others' shapes (an allgather's result, a broadcast receiver's) is
 * allocated after them and agreed on with one more small allreduce (the lowest rank that
 * could not: every member stays out alike). The headers' buffers are made once per
 * communicator, before it is created.
 *
 * Why each operation waits for its GPU: the wait polls the members' liveness, so a
 * member's death aborts the communicator and becomes this operation's error, instead of
 * a result whose bytes NCCL never wrote. Interpreted code trades that wait for safety;
 * compiled plans (rt_xnccl.c) keep the CPU running ahead.
 *
 * A communicator is created on its first operation (rank 0's unique id came with it) and
 * kept per actor process by the driver's communicator number until collective.destroy. A
 * member's death aborts every communicator it belongs to (rt_gcoll_peer_died, from the
 * death notice); the aborted ones are destroyed at the next safe point (rt_gcoll_sweep,
 * never inside a wait), as an aborted communicator fails every wait of the process while
 * it exists. */
#define _GNU_SOURCE
#include "rt_gpu.h"
#include "rt_internal.h"

#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { HDR_TENSOR = 0, HDR_ERROR, HDR_NOT_TENSOR };
enum { HDR_STATUS = 0, HDR_DTYPE, HDR_RANK, HDR_DIMS, HDR_MSG = HDR_DIMS + DAFT_MAX_RANK + 1,
       HDR_WORDS = 512 }; /* 4 KiB: room for a chained error message */
#define HDR_MSG_BYTES ((HDR_WORDS - HDR_MSG) * 8)

typedef struct RtGcollComm {
    uint64_t key;
    DaftActor *members;
    int n, rank;
    RtGpuComm *c;       /* NULL once destroyed (or never created) */
    DaftTensor hmine;   /* this member's header, on its GPU */
    DaftTensor hall;    /* every member's, gathered */
    DaftTensor flag;    /* one i32: the agreement after late allocations */
    char broken[320];   /* why it cannot be used any more ("" while fine) */
} RtGcollComm;

struct RtGcoll {
    RtGcollComm *v;
    int n, cap;
};

static RtGcollComm *find(RtGcoll *t, uint64_t key)
{
    for (int i = 0; t && i < t->n; i++)
        if (t->v[i].key == key)
            return &t->v[i];
    return NULL;
}

static int fail(DaftValue *out, int rc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(DaftValue *out, int rc, const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    *out = daft_value_error("%s", buf);
    return rc;
}

static void free_tensor(const RtGpuOps *g, DaftTensor *t)
{
    if (t->data)
        g->free(t);
    memset(t, 0, sizeof *t);
}

static int alloc_tensor(const RtGpuOps *g, DaftTensor *t, DaftRtDtype dt, int64_t n0, char *err, size_t cap)
{
    memset(t, 0, sizeof *t);
    t->dtype = dt;
    t->rank = 1;
    t->dims[0] = n0;
    if (!g->alloc(t, err, cap))
        return 0;
    free_tensor(g, t); /* (a failed allocation may leave data set: the caller frees it) */
    return DAFT_ENOMEM;
}

/* A new entry for op's communicator with its header buffers; the communicator itself is
 * created by the caller. NULL (err set) when memory runs out: the member then never joins,
 * and the others' creation of the communicator times out (DAFT_NCCL_INIT_TIMEOUT). */
static RtGcollComm *add(const RtGpuOps *g, RtGcoll **tp, const DaftNcclColl *op, char *err, size_t cap)
{
    rt_fmt(err, cap, "out of memory");
    RtGcoll *t = *tp ? *tp : (*tp = calloc(1, sizeof **tp));
    if (!t)
        return NULL;
    if (t->n == t->cap) {
        int ncap = t->cap ? 2 * t->cap : 4;
        RtGcollComm *v = realloc(t->v, (size_t)ncap * sizeof *v);
        if (!v)
            return NULL;
        t->v = v;
        t->cap = ncap;
    }
    RtGcollComm *e = &t->v[t->n];
    memset(e, 0, sizeof *e);
    e->members = malloc((size_t)op->n * sizeof *e->members);
    if (!e->members)
        return NULL;
    if (alloc_tensor(g, &e->hmine, DAFT_RT_I64, HDR_WORDS, err, cap) ||
        alloc_tensor(g, &e->hall, DAFT_RT_I64, (int64_t)op->n * HDR_WORDS, err, cap) ||
        alloc_tensor(g, &e->flag, DAFT_RT_I32, 1, err, cap)) {
        free_tensor(g, &e->hmine);
        free_tensor(g, &e->hall);
        free(e->members);
        return NULL;
    }
    memcpy(e->members, op->members, (size_t)op->n * sizeof *e->members);
    e->key = op->comm;
    e->n = op->n;
    e->rank = op->rank;
    t->n++;
    return e;
}

int rt_gcoll_id(uint8_t id[DAFT_NCCL_ID_BYTES], char *err, size_t cap)
{
    const RtGpuOps *g = rt_gpu_active();
    if (!g) {
        rt_fmt(err, cap, "this actor has no GPU");
        return DAFT_EINVAL;
    }
    return g->nccl_id(id, err, cap);
}

/* This member's header: what every member needs to know of its input (or of why it
 * cannot take part: `why`, when not NULL). */
static void header_of(const DaftValue *in, const char *why, int64_t h[HDR_WORDS])
{
    memset(h, 0, HDR_WORDS * sizeof *h);
    if (why || in->kind == DAFT_V_ERROR) {
        h[HDR_STATUS] = HDR_ERROR;
        snprintf((char *)&h[HDR_MSG], HDR_MSG_BYTES, "%s", why ? why : in->as.error.msg);
    } else if (in->kind != DAFT_V_TENSOR) {
        h[HDR_STATUS] = HDR_NOT_TENSOR;
    } else {
        const DaftTensor *t = &in->as.tensor;
        h[HDR_DTYPE] = t->dtype;
        h[HDR_RANK] = t->rank;
        for (int d = 0; d < t->rank; d++)
            h[HDR_DIMS + d] = t->dims[d];
    }
}

static void shape_str(const int64_t *h, char *buf, size_t cap)
{
    size_t k = (size_t)snprintf(buf, cap, "[");
    for (int i = 0; i < h[HDR_RANK] && k < cap; i++)
        k += (size_t)snprintf(buf + k, cap - k, "%s%lld", i ? ", " : "", (long long)h[HDR_DIMS + i]);
    if (k < cap)
        snprintf(buf + k, cap - k, "]");
}

/* The decision every member takes alike from all headers: 0 (with *out the error of a failed
 * input, which is every member's result), or a negative code and an error in *out. Failed
 * inputs come first, in rank order, as in the host path (gen_coll.c). For an allgather,
 * *ragged says whether dimension 0 differs (then one broadcast per member). */
static int check_headers(const int64_t *hs, int n, int kind, int root, const char *fn,
                         bool *ragged, DaftValue *out)
{
    *ragged = false;
    for (int r = 0; r < n; r++) {
        const int64_t *h = hs + (size_t)r * HDR_WORDS;
        if (kind == RT_COLL_BROADCAST && r != root)
            continue; /* only the root's input is read */
        if (h[HDR_STATUS] == HDR_ERROR) {
            char msg[HDR_MSG_BYTES + 1];
            memcpy(msg, &h[HDR_MSG], HDR_MSG_BYTES);
            msg[HDR_MSG_BYTES] = 0;
            *out = daft_value_error("%s", msg); /* the input's error, unchanged: 0, no NCCL op */
            return 0;
        }
    }
    for (int r = 0; r < n; r++) {
        const int64_t *h = hs + (size_t)r * HDR_WORDS;
        if (kind == RT_COLL_BROADCAST && r != root)
            continue;
        if (h[HDR_STATUS] != HDR_TENSOR)
            return fail(out, DAFT_EINVAL, "%s: input of rank %d is not a tensor", fn, r);
        if (h[HDR_DTYPE] < 0 || h[HDR_DTYPE] >= DAFT_RT_DTYPE_COUNT || h[HDR_RANK] < 0 ||
            h[HDR_RANK] > DAFT_MAX_RANK)
            return fail(out, DAFT_EPROTO, "%s: malformed header from rank %d", fn, r);
    }
    if (kind == RT_COLL_BROADCAST)
        return 0;
    const int64_t *h0 = hs;
    char s1[160], s2[160];
    if (kind == RT_COLL_ALLGATHER && h0[HDR_RANK] < 1)
        return fail(out, DAFT_EINVAL, "allgather: inputs must have at least one dimension");
    for (int r = 1; r < n; r++) {
        const int64_t *h = hs + (size_t)r * HDR_WORDS;
        if (h[HDR_DTYPE] != h0[HDR_DTYPE])
            return fail(out, DAFT_EINVAL, "%s: dtypes differ: rank 0 has %s, rank %d has %s", fn,
                        daft_rt_dtype_name((DaftRtDtype)h0[HDR_DTYPE]), r,
                        daft_rt_dtype_name((DaftRtDtype)h[HDR_DTYPE]));
        bool same = h[HDR_RANK] == h0[HDR_RANK];
        for (int d = kind == RT_COLL_ALLGATHER ? 1 : 0; same && d < h[HDR_RANK]; d++)
            same = h[HDR_DIMS + d] == h0[HDR_DIMS + d];
        if (!same) {
            shape_str(h0, s1, sizeof s1);
            shape_str(h, s2, sizeof s2);
            return fail(out, DAFT_EINVAL, "%s: shapes differ: rank 0 has %s, rank %d has %s", fn, s1, r, s2);
        }
        if (kind == RT_COLL_ALLGATHER && h[HDR_DIMS] != h0[HDR_DIMS])
            *ragged = true;
    }
    if (kind == RT_COLL_REDUCESCATTER && (h0[HDR_RANK] < 1 || h0[HDR_DIMS] % n)) {
        shape_str(h0, s1, sizeof s1);
        return fail(out, DAFT_EINVAL, "reducescatter: dimension 0 of %s is not divisible by the group size %d",
                    s1, n);
    }
    return 0;
}

/* Waits for this GPU's work so far, the communicator's included; a member's death (alive
 * false) aborts it. */
static int settle(const RtGpuOps *g, RtGcollComm *e, RtGcollAlive alive, void (*progress)(void *),
                  void *arg, const char *fn, DaftValue *out)
{
    char err[300];
    RtGpuComm *cs[1] = {e->c};
    int rc = g->wait(cs, 1, alive, progress, arg, err, sizeof err);
    if (!rc)
        return 0;
    g->comm_abort(e->c);
    if (!e->broken[0])
        rt_fmt(e->broken, sizeof e->broken, "%s", err);
    return fail(out, DAFT_EPEER, "%s on communicator Comm#%llu: %s", fn, (unsigned long long)e->key,
                e->broken);
}

/* This member failed where the others may already be inside an NCCL operation of e (a
 * launch or a copy of its own buffers failed: the GPU itself is failing). An abort is local
 * to a process, so only this actor's end frees them: RT_GCOLL_STRANDED tells rt_exec.c to
 * stop the actor, and its death then aborts the communicator on every other member. */
static int strand(const RtGpuOps *g, RtGcollComm *e, const char *fn, const char *err, DaftValue *out)
{
    g->comm_abort(e->c);
    rt_fmt(e->broken, sizeof e->broken, "%s", err);
    return fail(out, RT_GCOLL_STRANDED, "%s on communicator Comm#%llu: %s", fn, (unsigned long long)e->key, err);
}

/* One NCCL collective of `in` into *res (allocated by the caller), waited for. */
static int run_one(const RtGpuOps *g, RtGcollComm *e, int kind, int reduce, int root,
                   const DaftTensor *in, DaftTensor *res, RtGcollAlive alive,
                   void (*progress)(void *), void *arg, const char *fn, DaftValue *out)
{
    char err[300];
    if (g->collective(e->c, kind, reduce, root, in, res, true, err, sizeof err))
        return strand(g, e, fn, err, out);
    return settle(g, e, alive, progress, arg, fn, out);
}

static DaftValue tensor_value(const DaftTensor *t)
{
    DaftValue v = daft_value_none();
    v.kind = DAFT_V_TENSOR;
    v.as.tensor = *t;
    return v;
}

/* What one operation holds on this GPU: the member's input (uploaded when it came from the
 * host) and its result(s) (parts: one per member of a ragged allgather). */
typedef struct Op {
    const DaftNcclColl *op;
    const char *fn;
    DaftTensor mine, up;
    DaftTensor res;
    DaftTensor *parts;
    bool ragged;
} Op;

static void op_free(const RtGpuOps *g, Op *o)
{
    free_tensor(g, &o->up);
    free_tensor(g, &o->res);
    for (int r = 0; o->parts && r < o->op->n; r++)
        free_tensor(g, &o->parts[r]);
    free(o->parts);
    o->parts = NULL;
}

/* Before the headers, what this member can do alone: its input onto its GPU, and its
 * result where the result's shape is its own. A failure is said in *why. */
static void prepare_alone(const RtGpuOps *g, Op *o, const DaftValue *in, char *why, size_t cap)
{
    const DaftNcclColl *op = o->op;
    char err[300];
    bool reads_mine = op->kind != RT_COLL_BROADCAST || op->rank == op->root;
    if (!reads_mine || in->kind != DAFT_V_TENSOR)
        return;
    o->mine = in->as.tensor;
    int dev = daft_tensor_gpu(&o->mine);
    if (dev >= 0 && dev != g->device()) {
        rt_fmt(why, cap, "%s: the input of rank %d is on GPU %d, not on its actor's GPU %d", o->fn, op->rank, dev,
               g->device());
        return;
    }
    if (dev < 0) { /* a host tensor: onto this GPU */
        o->up = o->mine;
        o->up.data = NULL;
        o->up.device = 0;
        if (g->upload(&o->up, o->mine.data, err, sizeof err)) {
            rt_fmt(why, cap, "%s: rank %d could not copy its input to its GPU: %s", o->fn, op->rank, err);
            return;
        }
        o->mine = o->up;
    }
    if (op->kind == RT_COLL_ALLGATHER)
        return; /* its size is known after the headers */
    o->res = o->mine;
    o->res.data = NULL;
    o->res.device = 0;
    if (op->kind == RT_COLL_REDUCESCATTER) {
        if (o->res.rank < 1 || o->res.dims[0] % op->n)
            return; /* the headers' check says so, on every member */
        o->res.dims[0] /= op->n;
    }
    if (g->alloc(&o->res, err, sizeof err)) {
        free_tensor(g, &o->res);
        rt_fmt(why, cap, "%s: rank %d has no GPU memory for its result: %s", o->fn, op->rank, err);
    }
}

/* After the headers, the results whose shapes need them; then every member says whether it
 * could, in one allreduce (min) of n or its rank: all go on, or none does. */
static int prepare_together(const RtGpuOps *g, RtGcollComm *e, Op *o, const int64_t *hs, RtGcollAlive alive,
                            void (*progress)(void *), void *arg, DaftValue *out)
{
    const DaftNcclColl *op = o->op;
    char err[300] = "";
    bool ok = true;
    if (op->kind == RT_COLL_BROADCAST && op->rank != op->root) {
        const int64_t *h = hs + (size_t)op->root * HDR_WORDS;
        o->res.dtype = (DaftRtDtype)h[HDR_DTYPE];
        o->res.rank = (int)h[HDR_RANK];
        for (int d = 0; d < o->res.rank; d++)
            o->res.dims[d] = h[HDR_DIMS + d];
        ok = !g->alloc(&o->res, err, sizeof err);
    } else if (op->kind == RT_COLL_ALLGATHER && !o->ragged) { /* equal parts: one result */
        o->res = o->mine;
        o->res.data = NULL;
        o->res.device = 0;
        o->res.dims[0] *= op->n;
        ok = !g->alloc(&o->res, err, sizeof err);
    } else if (op->kind == RT_COLL_ALLGATHER) { /* one part per member, concatenated later */
        ok = (o->parts = calloc((size_t)op->n, sizeof *o->parts)) != NULL;
        for (int r = 0; ok && r < op->n; r++) {
            o->parts[r] = o->mine;
            o->parts[r].data = NULL;
            o->parts[r].device = 0;
            o->parts[r].dims[0] = hs[(size_t)r * HDR_WORDS + HDR_DIMS];
            ok = !g->alloc(&o->parts[r], err, sizeof err);
        }
        if (!o->parts)
            rt_fmt(err, sizeof err, "out of memory");
    } else if (op->kind != RT_COLL_BROADCAST) {
        return 0; /* allreduce, reducescatter: allocated before the headers, on every member */
    } /* (a broadcast's root allocated before the headers, but it takes part in the agreement) */
    int32_t mine = ok ? op->n : op->rank, low = 0;
    char ferr[300];
    if (g->comm_copy(e->c, &e->flag, &mine, true, alive, progress, arg, ferr, sizeof ferr))
        return strand(g, e, o->fn, ferr, out);
    int rc = run_one(g, e, RT_COLL_ALLREDUCE, 2 /* min */, 0, &e->flag, &e->flag, alive, progress, arg, o->fn, out);
    if (!rc && g->comm_copy(e->c, &e->flag, &low, false, alive, progress, arg, ferr, sizeof ferr))
        return strand(g, e, o->fn, ferr, out);
    if (rc)
        return rc;
    if (low == op->rank)
        return fail(out, DAFT_ENOMEM, "%s: rank %d has no GPU memory for its result: %s", o->fn, op->rank, err);
    if (low < op->n)
        return fail(out, DAFT_ENOMEM, "%s: rank %d has no GPU memory for its result", o->fn, low);
    return 0;
}

/* Everyone agreed: the operation itself. */
static int run_data(const RtGpuOps *g, RtGcollComm *e, Op *o, RtGcollAlive alive, void (*progress)(void *),
                    void *arg, DaftValue *out)
{
    const DaftNcclColl *op = o->op;
    if (!o->parts) {
        const DaftTensor *send = &o->mine;
        DaftTensor shape = o->res; /* a broadcast receiver sends nothing: NCCL reads the root's */
        if (op->kind == RT_COLL_BROADCAST && op->rank != op->root) {
            shape.data = NULL;
            shape.device = 0;
            send = &shape;
        }
        int rc = run_one(g, e, op->kind, op->reduce, op->root, send, &o->res, alive, progress, arg, o->fn, out);
        if (!rc) {
            *out = tensor_value(&o->res);
            memset(&o->res, 0, sizeof o->res); /* out owns it */
        }
        return rc;
    }
    for (int r = 0; r < op->n; r++) { /* allgather of different row counts: r's rows from r */
        DaftTensor send = o->parts[r];
        if (r == op->rank)
            send = o->mine;
        else
            send.data = NULL, send.device = 0;
        int rc = run_one(g, e, RT_COLL_BROADCAST, 0, r, &send, &o->parts[r], alive, progress, arg, o->fn, out);
        if (rc)
            return rc;
    }
    DaftValue list = daft_value_list((size_t)op->n);
    if (list.kind != DAFT_V_LIST)
        return fail(out, DAFT_ENOMEM, "%s: out of memory", o->fn); /* (after the NCCL part: nobody waits) */
    for (int r = 0; r < op->n; r++) {
        list.as.list.items[r] = tensor_value(&o->parts[r]);
        memset(&o->parts[r], 0, sizeof o->parts[r]);
    }
    *out = list;
    return 0;
}

static const char *coll_fn(int kind)
{
    static const char *names[] = {"allreduce", "allgather", "reducescatter", "broadcast"};
    return kind >= 0 && kind < 4 ? names[kind] : "collective";
}

/* The communicator of op, created on its first operation. */
static RtGcollComm *comm_for(const RtGpuOps *g, RtGcoll **tab, const DaftNcclColl *op, RtGcollAlive alive,
                             void *arg, const char *fn, DaftValue *out)
{
    char err[300];
    RtGcollComm *e = find(*tab, op->comm);
    if (!e) {
        if (!op->id) {
            fail(out, DAFT_EINVAL, "%s: communicator Comm#%llu does not exist on this member", fn,
                 (unsigned long long)op->comm);
            return NULL;
        }
        if (!(e = add(g, tab, op, err, sizeof err))) {
            fail(out, DAFT_ENOMEM, "%s: %s", fn, err);
            return NULL;
        }
        if (g->comm_init(&e->c, op->id, op->n, op->rank, rt_nccl_init_timeout(), alive, arg, err, sizeof err)) {
            e->c = NULL;
            if (!e->broken[0]) /* (a member's death, noticed meanwhile, says more) */
                rt_fmt(e->broken, sizeof e->broken, "%s", err);
        }
    }
    if (e->n != op->n || e->rank != op->rank) {
        fail(out, DAFT_EINVAL, "%s: communicator Comm#%llu has %d members here (this one rank %d), not %d (rank %d)", fn,
             (unsigned long long)op->comm, e->n, e->rank, op->n, op->rank);
        return NULL;
    }
    if (e->broken[0] || !e->c) {
        fail(out, DAFT_EPEER, "%s on communicator Comm#%llu: %s", fn, (unsigned long long)op->comm,
             e->broken[0] ? e->broken : "destroyed");
        return NULL;
    }
    return e;
}

int rt_gcoll_run(RtGcoll **tab, const DaftNcclColl *op, const DaftValue *in, RtGcollAlive alive,
                 void (*progress)(void *), void *arg, DaftValue *out)
{
    const char *fn = coll_fn(op->kind);
    const RtGpuOps *g = rt_gpu_active();
    char err[300];
    if (!g)
        return fail(out, DAFT_EINVAL, "%s over NCCL: this actor has no GPU", fn);
    *out = daft_value_none();
    if (op->n < 1 || op->rank < 0 || op->rank >= op->n || op->kind < 0 || op->kind > RT_COLL_BROADCAST ||
        (op->kind == RT_COLL_BROADCAST && (op->root < 0 || op->root >= op->n)))
        return fail(out, DAFT_EINVAL, "%s: malformed operation", fn);
    RtGcollComm *e = comm_for(g, tab, op, alive, arg, fn, out);
    if (!e)
        return DAFT_EPEER;
    Op o = {.op = op, .fn = fn};
    /* 1. what this member can do alone; then every member's header */
    char why[HDR_MSG_BYTES] = "";
    prepare_alone(g, &o, in, why, sizeof why);
    int64_t h[HDR_WORDS];
    header_of(in, why[0] ? why : NULL, h);
    if (g->comm_copy(e->c, &e->hmine, h, true, alive, progress, arg, err, sizeof err)) {
        op_free(g, &o);
        return strand(g, e, fn, err, out);
    }
    int rc = run_one(g, e, RT_COLL_ALLGATHER, 0, 0, &e->hmine, &e->hall, alive, progress, arg, fn, out);
    int64_t *hs = rc ? NULL : malloc((size_t)op->n * HDR_WORDS * sizeof *hs);
    if (!rc && (!hs || g->comm_copy(e->c, &e->hall, hs, false, alive, progress, arg, err, sizeof err)))
        rc = strand(g, e, fn, hs ? err : "out of memory", out);
    /* 2. the same decision on every member; 3. the results that needed the headers */
    if (!rc)
        rc = check_headers(hs, op->n, op->kind, op->root, fn, &o.ragged, out);
    if (!rc && out->kind != DAFT_V_ERROR)
        rc = prepare_together(g, e, &o, hs, alive, progress, arg, out);
    /* 4. the operation */
    if (!rc && out->kind != DAFT_V_ERROR)
        rc = run_data(g, e, &o, alive, progress, arg, out);
    free(hs);
    op_free(g, &o);
    return rc;
}

void rt_gcoll_peer_died(RtGcoll *t, DaftActor a, const char *why)
{
    const RtGpuOps *g = rt_gpu_active();
    for (int i = 0; t && g && i < t->n; i++) {
        RtGcollComm *e = &t->v[i];
        for (int k = 0; k < e->n; k++)
            if (e->members[k] == a && !e->broken[0]) {
                if (e->c)
                    g->comm_abort(e->c); /* never waits for peers: safe inside a wait */
                rt_fmt(e->broken, sizeof e->broken, "%s", why);
                break;
            }
    }
}

void rt_gcoll_sweep(RtGcoll *t)
{
    const RtGpuOps *g = rt_gpu_active();
    for (int i = 0; t && g && i < t->n; i++)
        if (t->v[i].broken[0] && t->v[i].c) {
            g->comm_abort(t->v[i].c);
            g->comm_destroy(t->v[i].c);
            t->v[i].c = NULL;
        }
}

void rt_gcoll_destroy(RtGcoll *t, uint64_t key)
{
    RtGcollComm *e = find(t, key);
    const RtGpuOps *g = rt_gpu_active();
    if (!e || !g)
        return;
    if (e->c && e->broken[0])
        g->comm_abort(e->c);
    if (e->c) /* its operations have all finished here (each waited) */
        g->comm_destroy(e->c);
    free_tensor(g, &e->hmine);
    free_tensor(g, &e->hall);
    free_tensor(g, &e->flag);
    free(e->members);
    *e = t->v[--t->n]; /* the driver sends no operation on it any more */
}
