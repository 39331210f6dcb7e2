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
 * Why each operation waits for its GPU: the wait polls the members' liveness, so a
 * member's death aborts the communicator and becomes this operation's error, instead of
 * a result whose bytes NCCL never wrote. Interpreted code trades that wait for safety;
 * compiled plans (rt_xnccl.c) keep the CPU running ahead.
 *
 * A communicator is created on its first operation (rank 0's unique id came with it) and
 * kept per actor process by the driver's communicator number. A member's death aborts
 * every communicator it belongs to (rt_gcoll_peer_died, from the death notice); the
 * aborted ones are destroyed at the next safe point (rt_gcoll_sweep, never inside a wait),
 * as an aborted communicator fails every wait of the process while it exists. */
#define _GNU_SOURCE
#include "rt_gpu.h"
#include "rt_internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { HDR_TENSOR = 0, HDR_ERROR, HDR_NOT_TENSOR };
enum { HDR_STATUS = 0, HDR_DTYPE, HDR_RANK, HDR_DIMS, HDR_MSG = HDR_DIMS + DAFT_MAX_RANK + 1,
       HDR_WORDS = 128 }; /* 1 KiB: room for a chained error message */
#define HDR_MSG_BYTES ((HDR_WORDS - HDR_MSG) * 8)

typedef struct RtGcollComm {
    uint64_t key;
    DaftActor *members;
    int n, rank;
    RtGpuComm *c;       /* NULL once destroyed (or never created) */
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

static RtGcollComm *add(RtGcoll **tp, const DaftNcclColl *op)
{
    RtGcoll *t = *tp ? *tp : (*tp = calloc(1, sizeof **tp));
    if (!t)
        return NULL;
    if (t->n == t->cap) {
        int cap = t->cap ? 2 * t->cap : 4;
        RtGcollComm *v = realloc(t->v, (size_t)cap * sizeof *v);
        if (!v)
            return NULL;
        t->v = v;
        t->cap = cap;
    }
    RtGcollComm *e = &t->v[t->n];
    memset(e, 0, sizeof *e);
    e->members = malloc((size_t)op->n * sizeof *e->members);
    if (!e->members)
        return NULL;
    memcpy(e->members, op->members, (size_t)op->n * sizeof *e->members);
    e->key = op->comm;
    e->n = op->n;
    e->rank = op->rank;
    t->n++;
    return e;
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

int rt_gcoll_id(uint8_t id[DAFT_NCCL_ID_BYTES], char *err, size_t cap)
{
    const RtGpuOps *g = rt_gpu_active();
    if (!g) {
        rt_fmt(err, cap, "this actor has no GPU");
        return DAFT_EINVAL;
    }
    return g->nccl_id(id, err, cap);
}

/* This member's header: what every member needs to know of its input. */
static void header_of(const DaftValue *in, int64_t h[HDR_WORDS])
{
    memset(h, 0, HDR_WORDS * sizeof *h);
    if (in->kind == DAFT_V_ERROR) {
        h[HDR_STATUS] = HDR_ERROR;
        snprintf((char *)&h[HDR_MSG], HDR_MSG_BYTES, "%s", in->as.error.msg);
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
 * input, which is every member's result), or a negative code and an error in *out. For an
 * allgather, *ragged says whether dimension 0 differs (then one broadcast per member). */
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
    for (int r = 1; r < n; r++) {
        const int64_t *h = hs + (size_t)r * HDR_WORDS;
        if (h[HDR_DTYPE] != h0[HDR_DTYPE])
            return fail(out, DAFT_EINVAL, "%s: dtypes differ: rank 0 has %s, rank %d has %s", fn,
                        daft_rt_dtype_name((DaftRtDtype)h0[HDR_DTYPE]), r,
                        daft_rt_dtype_name((DaftRtDtype)h[HDR_DTYPE]));
        bool same = h[HDR_RANK] == h0[HDR_RANK];
        for (int d = kind == RT_COLL_ALLGATHER ? 1 : 0; same && d < h[HDR_RANK]; d++)
            same = h[HDR_DIMS + d] == h0[HDR_DIMS + d];
        if (!same || (kind == RT_COLL_ALLGATHER && h[HDR_RANK] < 1)) {
            shape_str(h0, s1, sizeof s1);
            shape_str(h, s2, sizeof s2);
            return fail(out, DAFT_EINVAL, "%s: shapes differ: rank 0 has %s, rank %d has %s", fn, s1, r, s2);
        }
        if (kind == RT_COLL_ALLGATHER && h[HDR_DIMS] != h0[HDR_DIMS])
            *ragged = true;
    }
    if (kind == RT_COLL_ALLGATHER && h0[HDR_RANK] < 1)
        return fail(out, DAFT_EINVAL, "allgather: inputs must have at least one dimension");
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

/* One NCCL collective of `in` (a tensor on this GPU) into *res, waited for. */
static int run_one(const RtGpuOps *g, RtGcollComm *e, int kind, int reduce, int root,
                   const DaftTensor *in, DaftTensor *res, RtGcollAlive alive,
                   void (*progress)(void *), void *arg, const char *fn, DaftValue *out)
{
    char err[300];
    memset(res, 0, sizeof *res);
    if (g->collective(e->c, kind, reduce, root, in, res, true, err, sizeof err)) {
        g->comm_abort(e->c);
        rt_fmt(e->broken, sizeof e->broken, "%s", err);
        return fail(out, DAFT_EPEER, "%s on communicator Comm#%llu: %s", fn, (unsigned long long)e->key, err);
    }
    int rc = settle(g, e, alive, progress, arg, fn, out);
    if (rc && res->data)
        g->free(res);
    return rc;
}

static DaftValue tensor_value(const DaftTensor *t)
{
    DaftValue v = daft_value_none();
    v.kind = DAFT_V_TENSOR;
    v.as.tensor = *t;
    return v;
}

/* Its header exchanged: the operation itself. */
static int run_data(const RtGpuOps *g, RtGcollComm *e, const DaftNcclColl *op, const DaftValue *in,
                    const int64_t *hs, bool ragged, RtGcollAlive alive, void (*progress)(void *),
                    void *arg, const char *fn, DaftValue *out)
{
    char err[300];
    DaftTensor mine = {0}, up = {0};
    bool reads_mine = op->kind != RT_COLL_BROADCAST || op->rank == op->root;
    if (reads_mine) {
        mine = in->as.tensor;
        if (daft_tensor_gpu(&mine) != g->device()) { /* a host tensor: onto this GPU */
            up = mine;
            up.data = NULL;
            up.device = 0;
            if (g->upload(&up, mine.data, err, sizeof err))
                return fail(out, DAFT_EPEER, "%s: %s", fn, err);
            mine = up;
        }
    }
    int rc = 0;
    if (op->kind == RT_COLL_BROADCAST) {
        DaftTensor shape = {0}; /* the root's shape; NCCL reads only the root's buffer */
        const int64_t *h = hs + (size_t)op->root * HDR_WORDS;
        shape.dtype = (DaftRtDtype)h[HDR_DTYPE];
        shape.rank = (int)h[HDR_RANK];
        for (int d = 0; d < shape.rank; d++)
            shape.dims[d] = h[HDR_DIMS + d];
        shape.data = reads_mine ? mine.data : NULL;
        shape.device = reads_mine ? mine.device : 0;
        DaftTensor res;
        rc = run_one(g, e, op->kind, op->reduce, op->root, &shape, &res, alive, progress, arg, fn, out);
        if (!rc)
            *out = tensor_value(&res);
    } else if (!ragged) {
        DaftTensor res;
        rc = run_one(g, e, op->kind, op->reduce, op->root, &mine, &res, alive, progress, arg, fn, out);
        if (!rc)
            *out = tensor_value(&res);
    } else { /* allgather of different row counts: member r's rows broadcast from r */
        DaftValue list = daft_value_list((size_t)op->n);
        if (list.kind != DAFT_V_LIST)
            rc = fail(out, DAFT_ENOMEM, "%s: out of memory", fn);
        for (int r = 0; !rc && r < op->n; r++) {
            const int64_t *h = hs + (size_t)r * HDR_WORDS;
            DaftTensor shape = mine, res;
            shape.dims[0] = h[HDR_DIMS];
            if (r != op->rank) {
                shape.data = NULL;
                shape.device = 0;
            }
            rc = run_one(g, e, RT_COLL_BROADCAST, 0, r, &shape, &res, alive, progress, arg, fn, out);
            if (!rc)
                list.as.list.items[r] = tensor_value(&res);
        }
        if (rc)
            daft_value_free(&list);
        else
            *out = list;
    }
    if (up.data)
        g->free(&up);
    return rc;
}

static const char *coll_fn(int kind)
{
    static const char *names[] = {"allreduce", "allgather", "reducescatter", "broadcast"};
    return kind >= 0 && kind < 4 ? names[kind] : "collective";
}

int rt_gcoll_run(RtGcoll **tab, const DaftNcclColl *op, const DaftValue *in, RtGcollAlive alive,
                 void (*progress)(void *), void *arg, DaftValue *out)
{
    const char *fn = coll_fn(op->kind);
    const RtGpuOps *g = rt_gpu_active();
    char err[300];
    if (!g)
        return fail(out, DAFT_EINVAL, "%s over NCCL: this actor has no GPU", fn);
    if (op->n < 1 || op->rank < 0 || op->rank >= op->n || op->kind < 0 || op->kind > RT_COLL_BROADCAST)
        return fail(out, DAFT_EINVAL, "%s: malformed operation", fn);
    RtGcollComm *e = find(*tab, op->comm);
    if (!e) {
        if (!op->id)
            return fail(out, DAFT_EINVAL, "%s: communicator Comm#%llu does not exist on this member", fn,
                        (unsigned long long)op->comm);
        if (!(e = add(tab, op)))
            return fail(out, DAFT_ENOMEM, "%s: out of memory", fn);
        if (g->comm_init(&e->c, op->id, op->n, op->rank, rt_nccl_init_timeout(), alive, arg, err, sizeof err)) {
            e->c = NULL;
            if (!e->broken[0]) /* (a member's death, noticed meanwhile, says more) */
                rt_fmt(e->broken, sizeof e->broken, "%s", err);
        }
    }
    if (e->broken[0] || !e->c)
        return fail(out, DAFT_EPEER, "%s on communicator Comm#%llu: %s", fn, (unsigned long long)op->comm,
                    e->broken[0] ? e->broken : "destroyed");
    /* 1. every member's header */
    int64_t h[HDR_WORDS];
    header_of(in, h);
    DaftTensor ht = {0}, hall = {0};
    ht.dtype = DAFT_RT_I64;
    ht.rank = 1;
    ht.dims[0] = HDR_WORDS;
    if (g->upload(&ht, h, err, sizeof err))
        return fail(out, DAFT_EPEER, "%s: %s", fn, err);
    int rc = run_one(g, e, RT_COLL_ALLGATHER, 0, 0, &ht, &hall, alive, progress, arg, fn, out);
    g->free(&ht);
    if (rc)
        return rc;
    int64_t *hs = malloc((size_t)op->n * HDR_WORDS * sizeof *hs);
    if (!hs || g->to_host(&hall, hs, err, sizeof err)) {
        g->free(&hall);
        free(hs);
        g->comm_abort(e->c); /* the others may go on to the data: they must not wait for us */
        rt_fmt(e->broken, sizeof e->broken, "%s", hs ? err : "out of memory");
        return fail(out, DAFT_EPEER, "%s: %s", fn, e->broken);
    }
    g->free(&hall);
    /* 2. the same decision on every member */
    bool ragged = false;
    rc = check_headers(hs, op->n, op->kind, op->root, fn, &ragged, out);
    if (!rc && out->kind != DAFT_V_ERROR)
        rc = run_data(g, e, op, in, hs, ragged, alive, progress, arg, fn, out);
    free(hs);
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
    if (e->c)
        g->comm_destroy(e->c); /* its operations have all finished here (each waited) */
    e->c = NULL;
    if (!e->broken[0])
        rt_fmt(e->broken, sizeof e->broken, "communicator Comm#%llu was destroyed", (unsigned long long)key);
}
