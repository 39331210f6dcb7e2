/* gen_coll.c — std.collective for interpreted driver code (SPEC.md §12), in programs built
 * by daftc and in daft-repl: communicators, and allreduce / allgather / reducescatter /
 * broadcast as one task per member of the hidden "collective" method that
 * daft_gen_register_class appends to every class. Over host memory the inputs are passed as
 * Refs, so the runtime moves them producer -> member directly (never through the driver);
 * over NCCL each member's task takes its own input. Contract: include/daft/gen.h,
 * "collectives". */
#include "gen_internal.h"

#include <daft/plan.h>
#include <daft/std.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- communicators */

typedef struct Comm {
    int id;
    DaftActor *members;
    int n;
    bool destroyed, implicit;
    bool nccl;         /* its operations run over NCCL (GPU actors on GPUs of their own) */
    bool nccl_started; /* rank 0 was asked for the NCCL unique id */
} Comm;

/* The hidden method's first argument: kind | op << 8, and one of these for NCCL tasks. */
enum { COLL_NCCL = 1 << 16, COLL_NCCL_ID = 1 << 17, COLL_NCCL_DESTROY = 1 << 18 };

/* Why interpreted collectives cannot use NCCL (NULL: they can): every member must be a GPU
 * actor on a GPU of its own (one NCCL communicator cannot hold two ranks on one GPU), and
 * the driver must know where they are (not under MPI: *unknown is then set). */
static const char *nccl_refusal(DaftRt *rt, const DaftActor *ms, int n, bool *unknown, char *buf, size_t cap)
{
    char b1[128], b2[128];
    *unknown = false;
    for (int i = 0; i < n; i++) {
        int gi = daft_rt_actor_gpu(rt, ms[i]);
        if (gi == -2) {
            *unknown = true;
            snprintf(buf, cap, "the driver does not know where %s runs (MPI)", gen_actor_name(ms[i], b1, sizeof b1));
            return buf;
        }
        if (gi < 0) {
            snprintf(buf, cap, "%s has no GPU", gen_actor_name(ms[i], b1, sizeof b1));
            return buf;
        }
        for (int j = 0; j < i; j++)
            if (daft_rt_actor_gpu(rt, ms[j]) == gi) {
                snprintf(buf, cap, "%s and %s share GPU %d", gen_actor_name(ms[j], b1, sizeof b1),
                         gen_actor_name(ms[i], b2, sizeof b2), gi);
                return buf;
            }
    }
    return NULL;
}

static bool cpu_mode(void)
{
    const char *d = getenv("DAFT_DEVICE");
    return d && strcmp(d, "cpu") == 0;
}

static Comm *comm_new(const DaftActor *members, int n, bool implicit)
{
    if (daft_gen_ctx.ncomms == daft_gen_ctx.capcomms) {
        int cap = daft_gen_ctx.capcomms ? daft_gen_ctx.capcomms * 2 : 8;
        Comm *c = realloc(daft_gen_ctx.comms, (size_t)cap * sizeof *c);
        if (!c)
            daft_gen_fatal("out of memory");
        daft_gen_ctx.comms = c;
        daft_gen_ctx.capcomms = cap;
    }
    Comm *c = &daft_gen_ctx.comms[daft_gen_ctx.ncomms++];
    memset(c, 0, sizeof *c);
    c->id = daft_gen_ctx.ncomms;
    c->implicit = implicit;
    c->n = n;
    c->members = calloc((size_t)n + 1, sizeof *c->members);
    if (!c->members)
        daft_gen_fatal("out of memory");
    memcpy(c->members, members, (size_t)n * sizeof *members);
    return c;
}

static Comm *comm_of(const DaftValue *v)
{
    if (v->kind != DAFT_V_LIST || v->as.list.len < 1 || v->as.list.items[0].kind != DAFT_V_I64)
        return NULL;
    int64_t id = v->as.list.items[0].as.i64;
    return id >= 1 && id <= daft_gen_ctx.ncomms ? &daft_gen_ctx.comms[id - 1] : NULL;
}

bool daft_gen_comm_destroyed(const DaftValue *comm, int *id)
{
    Comm *c = comm_of(comm);
    *id = c ? c->id : 0;
    return c && c->destroyed;
}

void gen_coll_shutdown(void)
{
    for (int i = 0; i < daft_gen_ctx.ncomms; i++)
        free(daft_gen_ctx.comms[i].members);
    free(daft_gen_ctx.comms);
    daft_gen_ctx.comms = NULL;
    daft_gen_ctx.ncomms = daft_gen_ctx.capcomms = 0;
}

static int fail(DaftValue *out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(DaftValue *out, const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    *out = daft_value_error("%s", buf);
    return DAFT_EINVAL;
}

static void comm_value(const Comm *c, DaftValue *out)
{
    *out = daft_value_list((size_t)c->n + 1);
    if (out->kind != DAFT_V_LIST)
        daft_gen_fatal("out of memory");
    out->as.list.items[0] = daft_value_i64(c->id);
    for (int i = 0; i < c->n; i++)
        out->as.list.items[i + 1] = daft_value_actor(c->members[i]);
}

int daft_std_collective_init(DaftActorCtx *ctx, const DaftValue *args, int nargs, DaftValue *out)
{
    DaftRt *rt = daft_gen_rt();
    if (ctx || !rt)
        return fail(out, "collective.init: only driver code can create a communicator");
    if (nargs < 1 || args[0].kind != DAFT_V_LIST)
        return fail(out, "collective.init: expects a list of actors");
    const char *backend = nargs >= 2 && args[1].kind == DAFT_V_STR ? args[1].as.str.ptr : "auto";
    size_t n = args[0].as.list.len;
    if (n < 1)
        return fail(out, "collective.init: the list of actors is empty");
    DaftActor *ms = calloc(n, sizeof *ms);
    if (!ms)
        daft_gen_fatal("out of memory");
    char b1[128];
    for (size_t i = 0; i < n; i++) {
        const DaftValue *it = &args[0].as.list.items[i];
        if (it->kind != DAFT_V_ACTOR) {
            free(ms);
            return fail(out, "collective.init: item %zu is not an actor", i);
        }
        ms[i] = it->as.actor;
        for (size_t j = 0; j < i; j++)
            if (ms[j] == ms[i]) {
                free(ms);
                return fail(out, "collective.init: %s appears twice (the actors must be distinct)",
                            gen_actor_name(it->as.actor, b1, sizeof b1));
            }
        const char *why = daft_rt_actor_failure(rt, ms[i]);
        if (why) {
            free(ms);
            return fail(out, "collective.init: %s is not alive (%s)", gen_actor_name(it->as.actor, b1, sizeof b1),
                        why);
        }
        if (gen_coll_method_of(ms[i]) < 0) {
            free(ms);
            return fail(out, "collective.init: %s cannot take part in collectives (its class was not "
                             "registered with the collective method)", gen_actor_name(it->as.actor, b1, sizeof b1));
        }
    }
    /* On the CPU (DAFT_DEVICE=cpu) every backend moves data through the runtime's channels;
     * with GPUs, auto and nccl use NCCL where they can, and nccl insists. */
    char why[300];
    bool unknown;
    const char *refusal = nccl_refusal(rt, ms, (int)n, &unknown, why, sizeof why);
    bool want = strcmp(backend, "nccl") == 0;
    if (want && !cpu_mode() && refusal && !unknown) { /* (under MPI: compiled plans decide) */
        free(ms);
        return fail(out, "collective.init: backend nccl needs every member on a GPU of its own: %s", refusal);
    }
    Comm *c = comm_new(ms, (int)n, false);
    c->nccl = !cpu_mode() && !refusal && (want || strcmp(backend, "auto") == 0);
    free(ms);
    comm_value(c, out);
    return 0;
}

int daft_std_collective_destroy(DaftActorCtx *ctx, const DaftValue *args, int nargs, DaftValue *out)
{
    (void)ctx;
    Comm *c = nargs >= 1 ? comm_of(&args[0]) : NULL;
    if (!c)
        return fail(out, "collective.destroy: not a communicator");
    if (c->destroyed)
        return fail(out, "communicator Comm#%d was destroyed", c->id);
    /* Operations already issued are tasks queued on the members: they still run, and the
     * members' NCCL communicators go after them. */
    c->destroyed = true;
    DaftRt *rt = daft_gen_rt();
    for (int r = 0; rt && c->nccl_started && r < c->n; r++) {
        DaftValue a[2] = {daft_value_i64(COLL_NCCL_DESTROY), daft_value_i64(c->id)};
        DaftRef ref = {0, 0};
        if (daft_rt_call(rt, c->members[r], gen_coll_method_of(c->members[r]), a, 2, &ref) == 0)
            daft_rt_release(rt, ref);
    }
    *out = daft_value_none();
    return 0;
}

/* ---------------------------------------------------------------- operations (driver) */

static DaftActor producer_of(const DaftValue *v)
{
    DaftActor p = 0;
    if (daft_gen_ctx.hosted && daft_gen_ctx.host.own_ref && v->kind == DAFT_V_REF &&
        daft_gen_ctx.host.own_ref(daft_gen_ctx.host.arg, v, &p, NULL))
        return p;
    if (gen_is_handle(v))
        return gen_handle_producer(v);
    return v->kind == DAFT_V_REF ? v->as.ref.owner : 0;
}

/* The inputs as the members' tasks take them: Refs of the runtime as they are, the values
 * of plan outputs (daft_gen_main's handles, a host's own Refs). */
static DaftValue *resolve_inputs(const DaftValue *refs, int n)
{
    DaftValue *items = gen_resolve_handles(refs, n);
    for (int i = 0; daft_gen_ctx.hosted && daft_gen_ctx.host.own_ref && i < n; i++) {
        DaftActor p = 0;
        DaftValue v = daft_value_none();
        if (items[i].kind == DAFT_V_REF && daft_gen_ctx.host.own_ref(daft_gen_ctx.host.arg, &items[i], &p, &v)) {
            daft_gen_drop(&items[i]);
            items[i] = v;
        }
    }
    return items;
}

static DaftRef call_member(DaftRt *rt, const Comm *c, int r, const DaftValue *args, int nargs, const char *fn)
{
    char b1[128];
    DaftRef ref = {0, 0};
    if (daft_rt_call(rt, c->members[r], gen_coll_method_of(c->members[r]), args, nargs, &ref))
        daft_gen_fatal("%s: cannot submit to %s: %s", fn, gen_actor_name(c->members[r], b1, sizeof b1),
                       daft_rt_last_error(rt));
    return ref;
}

/* Over NCCL: each member's task gets its own input only (rt_gcoll.c). The first operation
 * of a communicator also carries the NCCL unique id, made by rank 0 in a task of its own
 * and moved to the others as a Ref. Rank 0's operation is submitted last: the moves of its
 * id to the others are then queued on it before its operation, which waits for them. */
static void coll_submit_nccl(DaftRt *rt, Comm *c, DaftCollKind kind, DaftReduceOp red, int64_t root,
                             const DaftValue *items, DaftValue *out)
{
    const char *fn = daft_coll_name(kind);
    DaftValue id = daft_value_none();
    if (!c->nccl_started) {
        DaftValue a = daft_value_i64(COLL_NCCL_ID);
        id = daft_value_ref(call_member(rt, c, 0, &a, 1, fn));
        c->nccl_started = true;
    }
    DaftValue members = daft_value_list((size_t)c->n);
    if (members.kind != DAFT_V_LIST)
        daft_gen_fatal("out of memory");
    for (int r = 0; r < c->n; r++)
        members.as.list.items[r] = daft_value_actor(c->members[r]);
    daft_gen_list_new(out, (int64_t)c->n);
    for (int r = c->n - 1; r >= 0; r--) {
        DaftValue a[8] = {daft_value_i64((int64_t)kind | (int64_t)red << 8 | COLL_NCCL), daft_value_i64(r),
                          daft_value_i64(c->n), daft_value_i64(root), daft_value_i64(c->id), members, id, items[r]};
        out->as.list.items[r] = daft_value_ref(call_member(rt, c, r, a, 8, fn));
    }
    daft_value_free(&members);
    if (id.kind == DAFT_V_REF)
        daft_rt_release(rt, id.as.ref);
}

static int coll_submit(DaftActorCtx *ctx, DaftCollKind kind, const DaftValue *args, int nargs, DaftValue *out)
{
    const char *fn = daft_coll_name(kind);
    DaftRt *rt = daft_gen_rt();
    if (ctx || !rt)
        return fail(out, "%s: collectives are driver operations", fn);
    if (nargs < 1 || args[0].kind != DAFT_V_LIST)
        return fail(out, "%s: expects a list of Refs, one per rank", fn);
    const DaftValue *refs = &args[0];
    const DaftValue *commv = NULL;
    DaftReduceOp red = DAFT_REDUCE_SUM;
    int64_t root = 0;
    for (int i = 1; i < nargs; i++) {
        const DaftValue *a = &args[i];
        if (a->kind == DAFT_V_LIST)
            commv = a;
        else if (a->kind == DAFT_V_STR) {
            if (!daft_reduce_parse(a->as.str.ptr, &red))
                return fail(out, "%s: unknown op '%s' (expected sum, max, min or avg)", fn, a->as.str.ptr);
        } else if (a->kind == DAFT_V_I64)
            root = a->as.i64;
        else if (a->kind != DAFT_V_NONE)
            return fail(out, "%s: unexpected argument %d", fn, i + 1);
    }
    size_t n = refs->as.list.len;
    if (n < 1)
        return fail(out, "%s: the list of Refs is empty", fn);
    char b1[128], b2[128];
    Comm *c = NULL;
    if (commv) {
        c = comm_of(commv);
        if (!c)
            return fail(out, "%s: not a communicator", fn);
    } else {
        /* No comm: the cached communicator over the producers of refs (SPEC §12). */
        DaftActor *ps = calloc(n, sizeof *ps);
        if (!ps)
            daft_gen_fatal("out of memory");
        for (size_t i = 0; i < n; i++)
            ps[i] = producer_of(&refs->as.list.items[i]);
        for (int k = 0; k < daft_gen_ctx.ncomms && !c; k++)
            if (daft_gen_ctx.comms[k].implicit && !daft_gen_ctx.comms[k].destroyed &&
                (size_t)daft_gen_ctx.comms[k].n == n && memcmp(daft_gen_ctx.comms[k].members, ps, n * sizeof *ps) == 0)
                c = &daft_gen_ctx.comms[k];
        for (size_t i = 0; !c && i < n; i++)
            for (size_t j = 0; j < i; j++)
                if (ps[i] && ps[i] == ps[j]) {
                    gen_actor_name(ps[i], b1, sizeof b1);
                    free(ps);
                    return fail(out, "%s: refs[%zu] and refs[%zu] were both produced by %s; without a "
                                     "communicator every rank needs its own actor", fn, j, i, b1);
                }
        if (!c) {
            char why[300];
            bool unknown;
            c = comm_new(ps, (int)n, true);
            c->nccl = !cpu_mode() && !nccl_refusal(rt, ps, (int)n, &unknown, why, sizeof why);
        }
        free(ps);
    }
    if (c->destroyed)
        return fail(out, "communicator Comm#%d was destroyed", c->id);
    if ((size_t)c->n != n)
        return fail(out, "%s: %zu Refs for communicator Comm#%d of %d ranks", fn, n, c->id, c->n);
    if (kind == DAFT_COLL_BROADCAST && (root < 0 || root >= c->n))
        return fail(out, "broadcast: root %lld is not a rank of Comm#%d (0..%d)", (long long)root, c->id, c->n - 1);
    for (size_t i = 0; i < n; i++) {
        const DaftValue *r = &refs->as.list.items[i];
        if (r->kind != DAFT_V_REF)
            return fail(out, "%s: refs[%zu] is not a Ref", fn, i);
        DaftActor p = producer_of(r);
        if (p != c->members[i])
            return fail(out, "%s: refs[%zu] was produced by %s, but rank %zu of the communicator is %s", fn, i,
                        p ? gen_actor_name(p, b1, sizeof b1) : "the driver", i,
                        gen_actor_name(c->members[i], b2, sizeof b2));
    }
    /* Plan handles (outputs of compiled executions) are passed by value. */
    DaftValue *items = resolve_inputs(refs->as.list.items, (int)n);
    if (c->nccl) {
        coll_submit_nccl(rt, c, kind, red, root, items, out);
        for (size_t i = 0; i < n; i++)
            daft_gen_drop(&items[i]);
        free(items);
        return 0;
    }
    int nv = kind == DAFT_COLL_BROADCAST ? 2 : (int)n;
    DaftValue *cargs = calloc((size_t)nv + 4, sizeof *cargs);
    if (!cargs)
        daft_gen_fatal("out of memory");
    daft_gen_list_new(out, (int64_t)n);
    for (int r = 0; r < c->n; r++) {
        cargs[0] = daft_value_i64((int64_t)kind | (int64_t)red << 8);
        cargs[1] = daft_value_i64(r);
        cargs[2] = daft_value_i64(c->n);
        cargs[3] = daft_value_i64(root);
        if (kind == DAFT_COLL_BROADCAST) {
            cargs[4] = items[root];
            cargs[5] = items[r];
        } else {
            memcpy(&cargs[4], items, n * sizeof *items);
        }
        DaftRef ref = {0, 0};
        int rc = daft_rt_call(rt, c->members[r], gen_coll_method_of(c->members[r]), cargs, nv + 4, &ref);
        if (rc != 0)
            daft_gen_fatal("%s: cannot submit to %s: %s", fn, gen_actor_name(c->members[r], b1, sizeof b1),
                           daft_rt_last_error(rt));
        out->as.list.items[r] = daft_value_ref(ref);
    }
    free(cargs); /* borrowed views of items */
    for (size_t i = 0; i < n; i++)
        daft_gen_drop(&items[i]);
    free(items);
    return 0;
}

#define COLL_FN(name, kind)                                                                         \
    int daft_std_collective_##name(DaftActorCtx *ctx, const DaftValue *args, int nargs, DaftValue *out)  \
    {                                                                                               \
        return coll_submit(ctx, kind, args, nargs, out);                                            \
    }
COLL_FN(allreduce, DAFT_COLL_ALLREDUCE)
COLL_FN(allgather, DAFT_COLL_ALLGATHER)
COLL_FN(reducescatter, DAFT_COLL_REDUCESCATTER)
COLL_FN(broadcast, DAFT_COLL_BROADCAST)
#undef COLL_FN

/* ---------------------------------------------------------------- the member's task */

#define REDUCE_LOOP(T)                                                  \
    do {                                                                \
        T *a = acc;                                                     \
        const T *b = x;                                                 \
        switch (op) {                                                   \
        case DAFT_REDUCE_MAX:                                           \
            for (int64_t i = 0; i < n; i++)                             \
                a[i] = b[i] > a[i] ? b[i] : a[i];                       \
            break;                                                      \
        case DAFT_REDUCE_MIN:                                           \
            for (int64_t i = 0; i < n; i++)                             \
                a[i] = b[i] < a[i] ? b[i] : a[i];                       \
            break;                                                      \
        default:                                                        \
            for (int64_t i = 0; i < n; i++)                             \
                a[i] = (T)(a[i] + b[i]);                                \
            break;                                                      \
        }                                                               \
    } while (0)

static void reduce_into(DaftRtDtype dt, void *acc, const void *x, int64_t n, DaftReduceOp op)
{
    switch (dt) {
    case DAFT_RT_F32: REDUCE_LOOP(float); break;
    case DAFT_RT_I32: REDUCE_LOOP(int32_t); break;
    case DAFT_RT_I64: REDUCE_LOOP(int64_t); break;
    default: break;
    }
}

static void divide(DaftRtDtype dt, void *acc, int64_t n, int size)
{
    if (dt == DAFT_RT_F32)
        for (int64_t i = 0; i < n; i++)
            ((float *)acc)[i] /= (float)size;
    else if (dt == DAFT_RT_I32)
        for (int64_t i = 0; i < n; i++)
            ((int32_t *)acc)[i] /= size;
    else if (dt == DAFT_RT_I64)
        for (int64_t i = 0; i < n; i++)
            ((int64_t *)acc)[i] /= size;
}

/* The collective over host tensors (args: kind | op << 8, rank, size, communicator, then
 * the inputs by rank). */
static int gen_coll_host(DaftActorCtx *ctx, const DaftValue *args, int nargs, DaftValue *out)
{
    if (nargs < 5)
        return daft_raise(ctx, "collective: malformed task (%d arguments)", nargs);
    for (int i = 0; i < 4; i++)
        if (args[i].kind != DAFT_V_I64)
            return daft_raise(ctx, "collective: malformed task");
    DaftCollKind kind = (DaftCollKind)(args[0].as.i64 & 0xff);
    DaftReduceOp red = (DaftReduceOp)(args[0].as.i64 >> 8);
    int rank = (int)args[1].as.i64, size = (int)args[2].as.i64;
    const DaftValue *vs = args + 4;
    int nv = nargs - 4;
    const char *fn = (unsigned)kind < DAFT_COLL_COUNT ? daft_coll_name(kind) : "collective";
    /* A failed input is every member's result, unchanged, as a failed argument is of any
     * task (the hidden method runs with error arguments: over NCCL every member must take
     * part). A broadcast reads only the root's input, vs[0]. */
    for (int i = 0; i < (kind == DAFT_COLL_BROADCAST ? 1 : nv); i++)
        if (vs[i].kind == DAFT_V_ERROR)
            return daft_value_copy(out, &vs[i]) ? daft_raise(ctx, "%s: out of memory", fn) : 0;
    for (int i = 0; i < nv; i++) {
        if (vs[i].kind != DAFT_V_TENSOR && !(kind == DAFT_COLL_BROADCAST && i > 0))
            return daft_raise(ctx, "%s: input of rank %d is not a tensor", fn, i);
    }
    const DaftTensor *t0 = &vs[0].as.tensor;
    if (kind == DAFT_COLL_BROADCAST) {
        if (daft_value_copy(out, &vs[0]) != 0)
            return daft_raise(ctx, "%s: out of memory", fn);
        return 0;
    }
    if (nv != size)
        return daft_raise(ctx, "%s: %d inputs for %d ranks", fn, nv, size);
    char why[480];
    if (daft_coll_check_inputs((int)kind, fn, vs, nv, why, sizeof why))
        return daft_raise(ctx, "%s", why);
    size_t esz = daft_rt_dtype_size(t0->dtype);
    if (kind == DAFT_COLL_ALLGATHER) {
        int64_t dims[DAFT_MAX_RANK];
        memcpy(dims, t0->dims, sizeof dims);
        dims[0] = 0;
        for (int i = 0; i < nv; i++)
            dims[0] += vs[i].as.tensor.dims[0];
        *out = daft_value_tensor(t0->dtype, t0->rank, dims, NULL);
        if (out->kind != DAFT_V_TENSOR)
            return daft_raise(ctx, "allgather: %s", out->kind == DAFT_V_ERROR ? out->as.error.msg : "bad shape");
        char *dst = out->as.tensor.data;
        for (int i = 0; i < nv; i++) {
            size_t nb = daft_tensor_nbytes(&vs[i].as.tensor);
            if (nb)
                memcpy(dst, vs[i].as.tensor.data, nb);
            dst += nb;
        }
        return 0;
    }
    /* allreduce, reducescatter */
    if (t0->dtype != DAFT_RT_F32 && t0->dtype != DAFT_RT_I32 && t0->dtype != DAFT_RT_I64)
        return daft_raise(ctx, "%s: reductions of %s tensors are not supported on the CPU (f32, i32, i64)", fn,
                          daft_rt_dtype_name(t0->dtype));
    if ((unsigned)red >= DAFT_REDUCE_COUNT)
        return daft_raise(ctx, "%s: malformed task", fn);
    int64_t numel = daft_tensor_numel(t0);
    DaftValue acc = daft_value_tensor(t0->dtype, t0->rank, t0->dims, t0->data);
    if (acc.kind != DAFT_V_TENSOR) {
        daft_value_free(&acc);
        return daft_raise(ctx, "%s: out of memory", fn);
    }
    for (int i = 1; i < nv; i++) /* in rank order: every member computes the same bits */
        reduce_into(t0->dtype, acc.as.tensor.data, vs[i].as.tensor.data, numel, red);
    if (red == DAFT_REDUCE_AVG)
        divide(t0->dtype, acc.as.tensor.data, numel, size);
    if (kind == DAFT_COLL_ALLREDUCE) {
        *out = acc;
        return 0;
    }
    int64_t dims[DAFT_MAX_RANK];
    memcpy(dims, t0->dims, sizeof dims);
    dims[0] /= size;
    size_t chunk = (size_t)(numel / size) * esz;
    *out = daft_value_tensor(t0->dtype, t0->rank, dims, (char *)acc.as.tensor.data + chunk * (size_t)rank);
    daft_value_free(&acc);
    if (out->kind != DAFT_V_TENSOR)
        return daft_raise(ctx, "reducescatter: out of memory");
    return 0;
}

/* The hidden method. A GPU actor's inputs are GPU tensors: the members compute in host
 * memory (the inputs are copied to the host), and a member with a GPU gets its result
 * there, as from any other method. */
/* A member's part of an operation over NCCL: kind | op << 8 | COLL_NCCL, rank, size, root,
 * communicator, members, rank 0's id (first operation) or none, the member's input. */
static int gen_coll_nccl(DaftActorCtx *ctx, const DaftValue *args, int nargs, DaftValue *out)
{
    for (int i = 0; i < 5; i++)
        if (nargs != 8 || args[i].kind != DAFT_V_I64)
            return daft_raise(ctx, "collective: malformed task");
    const DaftValue *ml = &args[5], *idv = &args[6];
    if (ml->kind != DAFT_V_LIST || ml->as.list.len != (size_t)args[2].as.i64)
        return daft_raise(ctx, "collective: malformed task");
    DaftNcclColl op = {(uint64_t)args[4].as.i64, NULL, (int)args[2].as.i64, (int)args[1].as.i64, NULL,
                       (int)(args[0].as.i64 & 0xff), (int)(args[0].as.i64 >> 8 & 0xff), (int)args[3].as.i64};
    const char *fn = (unsigned)op.kind < DAFT_COLL_COUNT ? daft_coll_name((DaftCollKind)op.kind) : "collective";
    if (idv->kind == DAFT_V_ERROR) /* rank 0 could not make the id: nobody can join */
        return daft_raise(ctx, "%s: %s", fn, idv->as.error.msg);
    int64_t id[DAFT_NCCL_ID_BYTES / 8];
    if (idv->kind == DAFT_V_LIST) { /* (a list: a tensor would arrive on this actor's GPU) */
        if (idv->as.list.len != DAFT_NCCL_ID_BYTES / 8)
            return daft_raise(ctx, "collective: malformed task");
        for (size_t i = 0; i < idv->as.list.len; i++)
            id[i] = idv->as.list.items[i].kind == DAFT_V_I64 ? idv->as.list.items[i].as.i64 : 0;
        op.id = (const uint8_t *)id;
    }
    DaftActor *ms = calloc((size_t)op.n + 1, sizeof *ms);
    if (!ms)
        return daft_raise(ctx, "%s: out of memory", fn);
    for (int r = 0; r < op.n; r++)
        ms[r] = ml->as.list.items[r].kind == DAFT_V_ACTOR ? ml->as.list.items[r].as.actor : 0;
    op.members = ms;
    DaftValue res = daft_value_none();
    int rc = daft_ctx_nccl_collective(ctx, &op, &args[7], &res);
    free(ms);
    if (rc) {
        rc = daft_raise(ctx, "%s", res.kind == DAFT_V_ERROR ? res.as.error.msg : "failed");
        daft_value_free(&res);
        return rc;
    }
    if (res.kind != DAFT_V_LIST) { /* the result, or the error of a failed input */
        *out = res;
        return 0;
    }
    DaftValue cat[2] = {res, daft_value_i64(0)}; /* an allgather of different row counts: its parts */
    rc = daft_std_tensor_concat(ctx, cat, 2, out);
    daft_value_free(&res);
    return rc;
}

int gen_coll_method(DaftActorCtx *ctx, void *state, const DaftValue *args, int nargs, DaftValue *out)
{
    (void)state;
    int64_t what = nargs >= 1 && args[0].kind == DAFT_V_I64 ? args[0].as.i64 : 0;
    if (what & COLL_NCCL_ID) {
        int64_t id[DAFT_NCCL_ID_BYTES / 8];
        DaftValue err = daft_value_none();
        if (daft_ctx_nccl_id(ctx, (uint8_t *)id, &err)) {
            int rc = daft_raise(ctx, "collective: %s", err.kind == DAFT_V_ERROR ? err.as.error.msg : "failed");
            daft_value_free(&err);
            return rc;
        }
        daft_gen_list_new(out, DAFT_NCCL_ID_BYTES / 8);
        for (int i = 0; i < DAFT_NCCL_ID_BYTES / 8; i++)
            out->as.list.items[i] = daft_value_i64(id[i]);
        return 0;
    }
    if (what & COLL_NCCL_DESTROY) {
        if (nargs == 2 && args[1].kind == DAFT_V_I64)
            daft_ctx_nccl_destroy(ctx, (uint64_t)args[1].as.i64);
        *out = daft_value_none();
        return 0;
    }
    if (what & COLL_NCCL)
        return gen_coll_nccl(ctx, args, nargs, out);
    bool any_gpu = false;
    int rc = 0;
    for (int i = 4; i < nargs; i++)
        any_gpu |= args[i].kind == DAFT_V_TENSOR && daft_tensor_gpu(&args[i].as.tensor) >= 0;
    if (!any_gpu)
        return gen_coll_host(ctx, args, nargs, out);
    DaftValue *host = calloc((size_t)nargs, sizeof *host);
    if (!host)
        return daft_raise(ctx, "collective: out of memory");
    for (int i = 0; i < nargs && !rc; i++) {
        bool gpu = i >= 4 && args[i].kind == DAFT_V_TENSOR && daft_tensor_gpu(&args[i].as.tensor) >= 0;
        rc = gpu ? daft_std_tensor_to_cpu(ctx, &args[i], 1, &host[i]) : daft_value_copy(&host[i], &args[i]);
    }
    if (!rc)
        rc = gen_coll_host(ctx, host, nargs, out);
    for (int i = 0; i < nargs; i++)
        daft_value_free(&host[i]);
    free(host);
    if (!rc && daft_ctx_gpu(ctx) >= 0 && out->kind == DAFT_V_TENSOR) {
        DaftValue dev = daft_value_none();
        rc = daft_std_tensor_to_gpu(ctx, out, 1, &dev);
        daft_value_free(out);
        *out = dev;
    }
    return rc;
}
