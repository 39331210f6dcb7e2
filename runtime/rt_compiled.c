/* rt_compiled.c — the driver side of compiled execution: loading a DaftPlan onto actors
 * (one shared-memory ring per plan channel, passed to its writer and readers once), then
 * per execution only writing inputs and reading outputs. Executions in flight are bounded
 * by plan->inflight: submit first drains the oldest execution's outputs into a queue, so
 * the driver blocks instead of failing. */
#define _GNU_SOURCE
#include "rt_internal.h"

#include <daft/plan.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define RT_PLAN_BIG_SLOT (16u << 20)
#define RT_PLAN_MAX_SLOT (64u << 20)

_Static_assert((int)DAFT_COLL_ALLREDUCE == RT_COLL_ALLREDUCE &&
                   (int)DAFT_COLL_ALLGATHER == RT_COLL_ALLGATHER &&
                   (int)DAFT_COLL_REDUCESCATTER == RT_COLL_REDUCESCATTER &&
                   (int)DAFT_COLL_BROADCAST == RT_COLL_BROADCAST, "collective numbering");
_Static_assert((int)DAFT_REDUCE_SUM == RT_REDUCE_SUM && (int)DAFT_REDUCE_MAX == RT_REDUCE_MAX &&
                   (int)DAFT_REDUCE_MIN == RT_REDUCE_MIN && (int)DAFT_REDUCE_AVG == RT_REDUCE_AVG,
               "reduction numbering");

/* An execution whose inputs include Refs not ready yet (SPEC 11.2: a Ref given for a data
 * parameter): its GO went at submit, so its turn on the actors keeps the call's place; its
 * inputs are written once every Ref's value is here, in submission order. */
typedef struct RtPlanDeferred {
    uint64_t exec;
    DaftValue *inputs;  /* [ninputs], owned; Refs (each counted in its RtObj's users) */
    uint8_t *direct;    /* [ninputs]: 1 where inputs[i] is a marker (rt_plan_push_input) */
    struct RtPlanDeferred *next;
} RtPlanDeferred;

/* A Ref of the driver's that stands for output `out` of execution `exec` of this plan
 * (daft_rt_plan_output_ref): resolved with a copy of that output once it is received. */
typedef struct RtPlanPromise {
    uint64_t exec, ref;
    int out;
    struct RtPlanPromise *next;
} RtPlanPromise;

struct DaftRtPlan {
    uint32_t id;
    char name[64];     /* copied: the plan's own strings may not outlive its graph */
    const DaftPlan *plan;
    DaftActor *actors;
    DaftPlanChannel *pc;   /* the plan's channels, then one per ordered pair of each
                            * collective group's members (group mesh, see rt_plan_mesh) */
    int npc;
    int *mesh_base;        /* [group] index in pc of its (0 -> 0) pair */
    RtRing *rings;         /* [channel]; mapped here only where the driver writes or reads */
    RtRingReader *rds;
    bool *mapped;
    int **wfds;            /* TCP: [channel][reader] connections the driver writes */
    int *rfd;              /* TCP: [channel] connection the driver reads, -1 if none */
    RtBuf *rxb;            /* TCP: bytes received on rfd[channel] */
    uint64_t submitted, received, returned;
    uint64_t used;         /* rt->plan_clock at its load or last submit (daft_rt_plan_lru) */
    int got;               /* outputs of execution `received` already read */
    DaftValue *res;        /* [res_cap][noutputs] ring of execution results */
    uint64_t res_cap;
    bool broken;
    uint64_t broken_from;  /* broken: the first execution that cannot complete (0-based;
                            * 0 when a member died: every execution not yet received) */
    uint64_t doomed_from;  /* broken: the first execution whose results are all errors, as
                            * broken_from, but where that is 0 for "not yet received", the
                            * first execution not received then (the ones before completed) */
    char why[600];
    RtPmsgOut out; /* an input being sent */
    RtPlanDeferred *deferred; /* oldest first; later executions queue behind it */
    RtPlanPromise *promises;  /* outputs of executions not yet received, given out as Refs */
    bool writing_deferred;
    RtBuf rx;
    DaftRt *rt;
    /* GPU data plane (rt_plan_gpu; the actor side is rt_xnccl.c) */
    int64_t wait_t0, report_at; /* daft_rt_plan_result's wait: since, and when to say so */
    int gpu_ncomms;        /* NCCL communicators (0: none: everything on CPU transports) */
    int gpu_npairs;        /* the first gpu_npairs: point to point, two ranks each */
    bool in_turn;          /* executions take turns on the actors (rt_plan_needs_go) */
    bool unload_owed;      /* an actor could not load it: the others must drop it */
    int conns_missing;     /* TCP: output channels whose writer has not connected yet */
    int **gpu_members;     /* [comm] plan actor indices, by NCCL rank */
    int *gpu_n;            /* [comm] ranks */
    int *gpu_boot;         /* [comm] bootstrap channel (rank 0 -> others) in pc */
    bool *gpu_chan;        /* [plan channel] realised over NCCL */
    int *gpu_group;        /* [group] communicator, -1: CPU mesh */
};

void rt_plan_failed_on(DaftRt *rt, uint32_t id, const char *actor, uint64_t exec, const char *why)
{
    /* (the plan being loaded too: an actor may refuse it while the driver still sends it to
     * the next ones) */
    for (int i = 0; i <= rt->nplans; i++) {
        DaftRtPlan *p = i < rt->nplans ? rt->plans[i] : rt->plan_loading;
        if (!p || p->id != id)
            continue;
        uint64_t from = exec ? exec - 1 : 0;
        if (p->broken && (!p->broken_from || p->broken_from <= from))
            continue; /* (already broken from this execution or an earlier one) */
        p->broken = true;
        p->broken_from = from;
        p->doomed_from = from;
        if (exec)
            rt_fmt(p->why, sizeof p->why, "plan '%s' failed on actor '%s': %s", p->name, actor, why);
        else
            rt_fmt(p->why, sizeof p->why, "actor '%s' could not load plan '%s': %s", actor, p->name, why);
        /* the other actors took its turns with the GOs sent since, or wait in NCCL for the
         * one that failed: it must go, or their later tasks and plans would wait behind an
         * execution that never ends (sent with the death notices, as this runs while
         * messages are read) */
        p->unload_owed = true;
        rt->notices_due = true;
    }
}

static void rt_plan_send_unload(DaftRt *rt, DaftRtPlan *p);

void rt_plans_send_owed_unloads(DaftRt *rt)
{
    for (int i = 0; i < rt->nplans; i++)
        if (rt->plans[i]->unload_owed) {
            rt->plans[i]->unload_owed = false;
            rt_plan_send_unload(rt, rt->plans[i]);
        }
}

const char *rt_plan_name(const DaftRt *rt, uint32_t id)
{
    for (int i = 0; i < rt->nplans; i++)
        if (rt->plans[i]->id == id)
            return rt->plans[i]->name;
    return "?";
}

int daft_rt_plan_pending(const DaftRtPlan *p) { return (int)(p->submitted - p->returned); }
bool daft_rt_plan_broken(const DaftRtPlan *p) { return p->broken; }

/* ---------------------------------------------------------------- static payload checks */

_Static_assert((int)DAFT_DT_F32 == DAFT_RT_F32 && (int)DAFT_DT_BF16 == DAFT_RT_BF16 &&
                   (int)DAFT_DT_F16 == DAFT_RT_F16 && (int)DAFT_DT_I32 == DAFT_RT_I32 &&
                   (int)DAFT_DT_I64 == DAFT_RT_I64, "dtype numbering");

static const char *const rt_pay_names[] = {
#define X(id, text) text,
    DAFT_PAYLOAD_KINDS(X)
#undef X
};

static int rt_shape_str(const char *dt, int rank, const int64_t *dims, char *buf, size_t cap)
{
    if (rank < 0)
        return snprintf(buf, cap, "tensor<%s>", dt);
    char d[DAFT_PLAN_MAX_RANK * 24 + 8] = "";
    size_t n = 0;
    for (int i = 0; i < rank && i < DAFT_PLAN_MAX_RANK && n < sizeof d; i++)
        n += dims[i] == DAFT_DIM_DYNAMIC
                 ? (size_t)snprintf(d + n, sizeof d - n, "%s?", i ? ", " : "")
                 : (size_t)snprintf(d + n, sizeof d - n, "%s%lld", i ? ", " : "", (long long)dims[i]);
    return snprintf(buf, cap, "tensor<%s, [%s]>", dt, d);
}

int rt_payload_str(const DaftPayload *p, char *buf, size_t cap)
{
    if (p->kind != DAFT_PAY_TENSOR)
        return snprintf(buf, cap, "%s", (unsigned)p->kind < DAFT_PAY_COUNT ? rt_pay_names[p->kind] : "?");
    const char *dt = daft_rt_dtype_name((DaftRtDtype)p->dtype);
    return rt_shape_str(dt ? dt : "?", p->rank, p->dims, buf, cap);
}

int rt_value_payload_str(const DaftValue *v, char *buf, size_t cap)
{
    static const char *const names[DAFT_V_KIND_COUNT] = {"none", "i64", "f64", "bool", "str",
                                                         "tensor", "list", "actor", "Ref", "error"};
    if (v->kind != DAFT_V_TENSOR)
        return snprintf(buf, cap, "%s", (unsigned)v->kind < DAFT_V_KIND_COUNT ? names[v->kind] : "?");
    const DaftTensor *t = &v->as.tensor;
    const char *dt = daft_rt_dtype_name(t->dtype);
    int rank = t->rank < 0 ? 0 : t->rank > DAFT_MAX_RANK ? DAFT_MAX_RANK : t->rank;
    return rt_shape_str(dt ? dt : "?", rank, t->dims, buf, cap);
}

bool rt_payload_fits(const DaftPayload *p, const DaftValue *v)
{
    if (v->kind == DAFT_V_ERROR)
        return true;
    switch (p->kind) {
    case DAFT_PAY_I64:
    case DAFT_PAY_I32: return v->kind == DAFT_V_I64;
    case DAFT_PAY_F64:
    case DAFT_PAY_F32: return v->kind == DAFT_V_F64;
    case DAFT_PAY_BOOL: return v->kind == DAFT_V_BOOL;
    case DAFT_PAY_STR: return v->kind == DAFT_V_STR;
    case DAFT_PAY_TENSOR: break;
    default: return true; /* none, any */
    }
    if (v->kind != DAFT_V_TENSOR)
        return false;
    const DaftTensor *t = &v->as.tensor;
    if ((int)t->dtype != (int)p->dtype)
        return false;
    if (p->rank < 0)
        return true;
    if (t->rank != p->rank)
        return false;
    for (int i = 0; i < p->rank && i < DAFT_PLAN_MAX_RANK; i++)
        if (p->dims[i] != DAFT_DIM_DYNAMIC && p->dims[i] != t->dims[i])
            return false;
    return true;
}

/* Is a channel's payload worth checking on every write? */
static bool rt_payload_checked(const DaftPayload *p)
{
    return p->kind != DAFT_PAY_ANY && p->kind != DAFT_PAY_NONE && (unsigned)p->kind < DAFT_PAY_COUNT;
}

/* ---------------------------------------------------------------- loading */

static int rt_plan_check(DaftRt *rt, const DaftPlan *plan, const DaftActor *actors, int n)
{
    if (!rt->is_driver) {
        rt_set_err(rt, "plan '%s': only the driver loads plans", plan->name);
        return DAFT_EINVAL;
    }
    if (n != plan->nactors) {
        rt_set_err(rt, "plan '%s': wrong number of actors", plan->name);
        return DAFT_EINVAL;
    }
    for (int i = 0; i < n; i++) {
        RtActorRec *a = rt_drv_actor(rt, actors[i]);
        if (!a || a->dead || strcmp(rt_class_name(rt, a->cls), plan->actors[i].cls) != 0) {
            rt_set_err(rt, "plan '%s': actor %d ('%s') must be a live actor of class %s", plan->name,
                       i, plan->actors[i].name, plan->actors[i].cls);
            return DAFT_EINVAL;
        }
        for (int k = 0; k < plan->actors[i].nops; k++) {
            const DaftPlanOp *o = &plan->actors[i].ops[k];
            if (o->kind == DAFT_OP_CALL && daft_rt_method_index(rt, a->cls, o->method) < 0) {
                rt_set_err(rt, "plan '%s': actor '%s' (%s) cannot run op %d (no method %s)",
                           plan->name, a->name, plan->actors[i].cls, k, o->method);
                return DAFT_EINVAL;
            }
        }
    }
    for (int c = 0; c < plan->nchannels; c++)
        if (plan->channels[c].nreaders > RT_RING_MAX_READERS) {
            rt_set_err(rt, "plan '%s': channel %d has more than %d readers", plan->name, c,
                       RT_RING_MAX_READERS);
            return DAFT_EINVAL;
        }
    return 0;
}

/* Slot size. A message that fits one slot is decoded where it lies in the ring (rt_pmsg.c)
 * and one that does not is first reassembled, a copy more: so a static tensor gets a slot
 * of its exact size, and a tensor of unknown shape (or any value) slots of 16 MiB, which
 * hold the activations of the reference workloads. A ring is a memfd mapping whose pages
 * exist only once written, so a channel of small messages stays small however large its
 * slots are. Other values are small: 4 KiB. */
static uint32_t rt_plan_slot_size(const DaftPayload *pl)
{
    size_t n = pl->kind == DAFT_PAY_ANY || pl->kind == DAFT_PAY_TENSOR ? RT_PLAN_BIG_SLOT : 4096;
    bool fixed = pl->rank >= 0 && pl->rank <= DAFT_PLAN_MAX_RANK;
    for (int i = 0; fixed && i < pl->rank; i++)
        fixed = pl->dims[i] >= 0;
    if (pl->kind == DAFT_PAY_TENSOR && fixed) { /* (not daft_payload_static: no link to the planner) */
        size_t e = daft_rt_dtype_size((DaftRtDtype)pl->dtype);
        for (int i = 0; i < pl->rank; i++)
            e *= (size_t)pl->dims[i];
        n = e + 96;
    }
    n = n < 256 ? 256 : n > RT_PLAN_MAX_SLOT ? RT_PLAN_MAX_SLOT : n;
    return (uint32_t)n;
}

static int rt_plan_make_rings(DaftRtPlan *p)
{
    for (int c = 0; c < p->npc; c++) {
        const DaftPlanChannel *ch = &p->pc[c];
        if (ch->transport == DAFT_TRANSPORT_LOCAL || ch->nreaders == 0)
            continue;
        if (p->rt->mode == RT_MODE_TCP) { /* connections are made when the actors load */
            p->mapped[c] = true;
            continue;
        }
        uint32_t slots = 4;
        while (slots < (uint32_t)(2 * (ch->capacity > 0 ? ch->capacity : 1)))
            slots *= 2;
        if (rt_ring_create(&p->rings[c], slots, rt_plan_slot_size(&ch->payload), (uint32_t)ch->nreaders))
            return DAFT_ESYS;
        p->mapped[c] = true;
    }
    return 0;
}

static DaftActor rt_plan_actor_id(const DaftRtPlan *p, int plan_actor)
{
    return plan_actor == DAFT_PLAN_DRIVER ? 0 : p->actors[plan_actor];
}

static void rt_put_const(RtBuf *m, const DaftConst *k)
{
    DaftValue v = k->kind == DAFT_CONST_I64    ? daft_value_i64(k->i)
                  : k->kind == DAFT_CONST_F64  ? daft_value_f64(k->f)
                  : k->kind == DAFT_CONST_BOOL ? daft_value_bool(k->i != 0)
                                               : daft_value_str(k->s ? k->s : "");
    rt_value_put(m, &v);
    daft_value_free(&v);
}

static void rt_put_ops(DaftRt *rt, RtBuf *m, const DaftPlanActor *pa, int cls)
{
    rt_buf_u32(m, (uint32_t)pa->nops);
    for (int k = 0; k < pa->nops; k++) {
        const DaftPlanOp *o = &pa->ops[k];
        bool coll = o->kind == DAFT_OP_COLLECTIVE; /* channel = group, reader = root */
        rt_buf_u8(m, (uint8_t)o->kind);
        rt_buf_u32(m, (uint32_t)o->dst);
        rt_buf_u32(m, (uint32_t)o->src);
        rt_buf_u32(m, (uint32_t)(coll ? o->group : o->channel));
        rt_buf_u32(m, (uint32_t)(coll ? o->root : o->reader));
        rt_buf_u32(m, o->kind == DAFT_OP_CALL ? (uint32_t)daft_rt_method_index(rt, cls, o->method)
                      : coll ? (uint32_t)o->coll | (uint32_t)o->reduce << 8 : 0);
        rt_buf_u32(m, o->kind == DAFT_OP_CALL ? (uint32_t)o->nargs : 0);
        for (int a = 0; o->kind == DAFT_OP_CALL && a < o->nargs; a++) {
            rt_buf_u32(m, (uint32_t)o->args[a].slot);
            if (o->args[a].slot < 0)
                rt_put_const(m, &o->args[a].konst);
        }
    }
}

static int rt_reader_index(const DaftPlanChannel *ch, int who)
{
    for (int r = 0; r < ch->nreaders; r++)
        if (ch->readers[r] == who)
            return r;
    return -1;
}

/* ---------------------------------------------------------------- GPU: NCCL channels
 * A channel of transport NCCL runs over NCCL when its writer and every reader are GPU
 * actors (spawned with a GPU, not DAFT_DEVICE=cpu); a group of transport NCCL when every
 * member is. Each pair of actors that such a channel joins gets a communicator of its own
 * (point to point), lowest plan index first: NCCL runs one communicator's operations one
 * after another, and a pipeline stage must receive from the stage before while it sends
 * to the stage after. Each NCCL group gets one more. Each communicator has a bootstrap
 * channel, appended to pc, from its rank 0 to its other ranks, which carries the NCCL
 * unique id rank 0 makes (the driver never touches NCCL or CUDA). */
static bool rt_plan_is_gpu(const DaftRtPlan *p, int who)
{
    if (who == DAFT_PLAN_DRIVER)
        return false;
    RtActorRec *a = rt_drv_actor(p->rt, p->actors[who]);
    return a && a->gpu >= 0;
}

static int rt_plan_gpu_comm(DaftRtPlan *p, const int *members, int n)
{
    int k = p->gpu_ncomms++;
    int **gm = realloc(p->gpu_members, (size_t)(k + 1) * sizeof *gm);
    int *gn = realloc(p->gpu_n, (size_t)(k + 1) * sizeof *gn);
    if (gm)
        p->gpu_members = gm;
    if (gn)
        p->gpu_n = gn;
    if (!gm || !gn || !(p->gpu_members[k] = malloc((size_t)n * sizeof(int) + 1)))
        return -1;
    memcpy(p->gpu_members[k], members, (size_t)n * sizeof(int));
    p->gpu_n[k] = n;
    return k;
}

static int rt_plan_gpu_rank(const DaftRtPlan *p, int comm, int who)
{
    for (int r = 0; r < p->gpu_n[comm]; r++)
        if (p->gpu_members[comm][r] == who)
            return r;
    return -1;
}

/* The point-to-point communicator of plan actors a and b (-1: none). */
static int rt_plan_gpu_pair(const DaftRtPlan *p, int a, int b)
{
    int lo = a < b ? a : b, hi = a < b ? b : a;
    for (int k = 0; k < p->gpu_npairs; k++)
        if (p->gpu_members[k][0] == lo && p->gpu_members[k][1] == hi)
            return k;
    return -1;
}

static int rt_plan_gpu(DaftRtPlan *p)
{
    const DaftPlan *plan = p->plan;
    p->gpu_chan = calloc((size_t)plan->nchannels + 1, sizeof *p->gpu_chan);
    p->gpu_group = malloc(((size_t)plan->ngroups + 1) * sizeof *p->gpu_group);
    int rc = p->gpu_chan && p->gpu_group ? 0 : DAFT_ENOMEM;
    for (int c = 0; !rc && c < plan->nchannels; c++) {
        const DaftPlanChannel *ch = &plan->channels[c];
        bool on = ch->transport == DAFT_TRANSPORT_NCCL && ch->nreaders > 0 &&
                  rt_plan_is_gpu(p, ch->writer);
        for (int r = 0; on && r < ch->nreaders; r++)
            on = rt_plan_is_gpu(p, ch->readers[r]) && ch->readers[r] != ch->writer;
        p->gpu_chan[c] = on;
        for (int r = 0; on && r < ch->nreaders; r++) {
            int w = ch->writer, x = ch->readers[r];
            int pair[2] = {w < x ? w : x, w < x ? x : w};
            if (rt_plan_gpu_pair(p, w, x) >= 0)
                continue;
            if (rt_plan_gpu_comm(p, pair, 2) < 0)
                rc = DAFT_ENOMEM;
            else
                p->gpu_npairs++;
        }
    }
    for (int g = 0; !rc && g < plan->ngroups; g++) {
        const DaftPlanGroup *gr = &plan->groups[g];
        bool on = gr->transport == DAFT_TRANSPORT_NCCL && gr->nmembers > 0;
        for (int k = 0; on && k < gr->nmembers; k++)
            on = rt_plan_is_gpu(p, gr->members[k]);
        p->gpu_group[g] = on ? rt_plan_gpu_comm(p, gr->members, gr->nmembers) : -1;
        if (on && p->gpu_group[g] < 0)
            rc = DAFT_ENOMEM;
    }
    if (rc || !p->gpu_ncomms)
        return rc;
    /* bootstrap channels */
    DaftPlanChannel *pc = realloc(p->pc, (size_t)(p->npc + p->gpu_ncomms + 1) * sizeof *pc);
    p->gpu_boot = calloc((size_t)p->gpu_ncomms + 1, sizeof *p->gpu_boot);
    if (!pc || !p->gpu_boot) {
        if (pc)
            p->pc = pc;
        return DAFT_ENOMEM;
    }
    p->pc = pc;
    for (int k = 0; k < p->gpu_ncomms; k++) {
        DaftPlanChannel *c = &p->pc[p->npc];
        memset(c, 0, sizeof *c);
        c->value = -1;
        c->writer = p->gpu_members[k][0];
        c->readers = &p->gpu_members[k][1];
        c->nreaders = p->gpu_n[k] - 1;
        c->transport = DAFT_TRANSPORT_SHM;
        c->payload.kind = DAFT_PAY_ANY;
        c->capacity = 1;
        if (c->nreaders > RT_RING_MAX_READERS)
            return DAFT_EINVAL;
        p->gpu_boot[k] = p->npc++;
    }
    return 0;
}

/* The GPU section of actor i's PLAN_LOAD (parsed by rt_xnccl_load). */
static void rt_plan_gpu_section(DaftRtPlan *p, RtBuf *m, int i)
{
    const DaftPlan *plan = p->plan;
    rt_buf_u32(m, (uint32_t)p->gpu_ncomms);
    for (int k = 0; k < p->gpu_ncomms; k++) {
        rt_buf_u32(m, (uint32_t)p->gpu_boot[k]);
        rt_buf_u32(m, (uint32_t)p->gpu_n[k]);
        rt_buf_u32(m, (uint32_t)rt_plan_gpu_rank(p, k, i));
    }
    uint32_t n = 0;
    size_t at = m->len;
    rt_buf_u32(m, 0);
    for (int c = 0; c < plan->nchannels; c++) {
        const DaftPlanChannel *ch = &plan->channels[c];
        if (!p->gpu_chan[c] || (ch->writer != i && rt_reader_index(ch, i) < 0))
            continue;
        n++;
        rt_buf_u32(m, (uint32_t)c);
        /* the other ends: every reader (for the writer) or the writer (for a reader) */
        bool writes = ch->writer == i;
        rt_buf_u32(m, writes ? (uint32_t)ch->nreaders : 1);
        for (int r = 0; r < (writes ? ch->nreaders : 1); r++) {
            int other = writes ? ch->readers[r] : ch->writer;
            int k = rt_plan_gpu_pair(p, i, other);
            rt_buf_u32(m, (uint32_t)k);
            rt_buf_u32(m, (uint32_t)rt_plan_gpu_rank(p, k, other));
        }
        const DaftPayload *pl = &ch->payload;
        bool fixed = pl->kind == DAFT_PAY_TENSOR && pl->rank >= 0 && pl->rank <= DAFT_MAX_RANK;
        for (int d = 0; fixed && d < pl->rank; d++)
            fixed = pl->dims[d] >= 0;
        rt_buf_u8(m, ch->meta_first || !fixed);
        rt_buf_u8(m, (uint8_t)pl->dtype);
        rt_buf_u32(m, (uint32_t)(fixed ? pl->rank : -1));
        for (int d = 0; fixed && d < pl->rank; d++)
            rt_buf_u64(m, (uint64_t)pl->dims[d]);
    }
    memcpy(m->p + at, &n, 4);
    rt_buf_u32(m, (uint32_t)plan->ngroups);
    for (int g = 0; g < plan->ngroups; g++)
        rt_buf_u32(m, (uint32_t)p->gpu_group[g]);
    /* pre-posted receives (on unless DAFT_NCCL_PREPOST=0): decided here, once, for every
     * member, as writer and reader must agree on what a control value means. Off under
     * DAFT_GPU_ASYNC_WRITES=1 (which the actors inherit): growing its pinned buffer frees the
     * old one with cudaFreeHost, which waits for all of the GPU's work, a held receive
     * included, whose sender may be waiting for this very actor. */
    const char *pre = getenv("DAFT_NCCL_PREPOST"), *aw = getenv("DAFT_GPU_ASYNC_WRITES");
    rt_buf_u8(m, !(pre && !strcmp(pre, "0")) && !(aw && !strcmp(aw, "1")));
}

/* The input the driver writes to channel c, or NULL. */
static const DaftPlanInput *rt_channel_input(const DaftPlan *plan, int c)
{
    for (int i = 0; i < plan->ninputs; i++)
        for (int k = 0; k < plan->inputs[i].nchannels; k++)
            if (plan->inputs[i].channels[k] == c)
                return &plan->inputs[i];
    return NULL;
}

/* Sends actor i its program, then the rings of its channel ends over its socket, in the
 * program's order: the actor takes each off the socket as it reads the program (at once, not
 * queued). Sent before the program, a plan with more ends than the socket holds waited
 * forever for an actor that read none of them yet. */
static int rt_plan_send_actor(DaftRt *rt, DaftRtPlan *p, int i)
{
    const DaftPlan *plan = p->plan;
    RtActorRec *a = rt_drv_actor(rt, p->actors[i]);
    RtBuf *m = &rt->out;
    m->len = 0;
    rt_buf_u32(m, RT_M_PLAN_LOAD);
    rt_buf_u32(m, p->id);
    rt_buf_str(m, plan->name);
    rt_buf_u8(m, p->in_turn); /* the actor's rule is this flag: the two never disagree */
    rt_buf_u32(m, (uint32_t)plan->actors[i].nslots);
    rt_buf_u32(m, (uint32_t)p->npc);
    rt_buf_u32(m, (uint32_t)plan->nactors);
    for (int k = 0; k < plan->nactors; k++)
        rt_buf_u32(m, p->actors[k]);
    rt_put_ops(rt, m, &plan->actors[i], a->cls);
    rt_buf_u32(m, (uint32_t)plan->ngroups);
    for (int g = 0; g < plan->ngroups; g++) {
        const DaftPlanGroup *gr = &plan->groups[g];
        int me = -1;
        for (int k = 0; k < gr->nmembers; k++)
            if (gr->members[k] == i)
                me = k;
        rt_buf_u32(m, (uint32_t)gr->nmembers);
        rt_buf_u32(m, (uint32_t)me);
        rt_buf_u32(m, (uint32_t)p->mesh_base[g]);
    }
    uint32_t nends = 0;
    size_t at = m->len;
    rt_buf_u32(m, 0);
    for (int c = 0; c < p->npc; c++) {
        const DaftPlanChannel *ch = &p->pc[c];
        int ridx = rt_reader_index(ch, i);
        if (!p->mapped[c] || (ch->writer != i && ridx < 0))
            continue;
        nends++;
        rt_buf_u32(m, (uint32_t)c);
        rt_buf_u8(m, (uint8_t)((ridx >= 0) | (ch->writer == DAFT_PLAN_DRIVER) << 1));
        rt_buf_u32(m, ridx >= 0 ? (uint32_t)ridx : 0);
        rt_buf_u32(m, ch->writer == i ? (uint32_t)ch->nreaders : 0);
        for (int r = 0; ch->writer == i && r < ch->nreaders; r++) {
            DaftActor id = rt_plan_actor_id(p, ch->readers[r]);
            rt_buf_u32(m, id);
            rt_buf_str(m, id ? rt_drv_actor(rt, id)->addr : rt->laddr);
        }
        /* what the writer must check each value against (plan channels only), or the
         * reader an input's value that comes from a Ref's owner (rt_plan_push_input) */
        const DaftPlanInput *in = ch->writer == DAFT_PLAN_DRIVER ? rt_channel_input(plan, c) : NULL;
        const DaftPayload *pl = in ? &in->payload : &ch->payload;
        bool chk = (ch->writer == i || in) && c < plan->nchannels && rt_payload_checked(pl);
        rt_buf_u8(m, chk);
        if (chk) {
            char want[256], who[256], where[400];
            rt_payload_str(pl, want, sizeof want);
            rt_fmt(who, sizeof who, "actor '%s' (%s)", a->name, plan->actors[i].cls);
            if (in)
                rt_fmt(where, sizeof where, "input '%s' of plan '%s'", in->name ? in->name : "?",
                       plan->name);
            else
                rt_fmt(where, sizeof where, "channel c%d of plan '%s' (%s)", c, plan->name, want);
            rt_buf_u8(m, (uint8_t)pl->kind);
            rt_buf_u8(m, (uint8_t)pl->dtype);
            int rank = pl->rank > DAFT_PLAN_MAX_RANK ? -1 : pl->rank;
            rt_buf_u32(m, (uint32_t)rank);
            for (int d = 0; d < rank; d++)
                rt_buf_u64(m, (uint64_t)pl->dims[d]);
            rt_buf_str(m, who);
            rt_buf_str(m, where);
        }
    }
    memcpy(m->p + at, &nends, 4);
    if (p->gpu_ncomms)
        rt_plan_gpu_section(p, m, i);
    int rc = rt_drv_send(rt, a, m);
    for (int c = 0; rc == 0 && rt->mode == RT_MODE_SHM && c < p->npc; c++) {
        const DaftPlanChannel *ch = &p->pc[c];
        if (p->mapped[c] && (ch->writer == i || rt_reader_index(ch, i) >= 0) &&
            rt_send_fd_sock(a->sock, p->rings[c].fd))
            rc = DAFT_EPEER;
    }
    return rc;
}

/* TCP: the driver dials the readers of its input channels. */
static int rt_plan_dial_inputs(DaftRt *rt, DaftRtPlan *p)
{
    for (int c = 0; c < p->npc; c++) {
        const DaftPlanChannel *ch = &p->pc[c];
        if (!p->mapped[c] || ch->writer != DAFT_PLAN_DRIVER)
            continue;
        p->wfds[c] = malloc((size_t)ch->nreaders * sizeof(int));
        if (!p->wfds[c])
            return DAFT_ENOMEM;
        for (int r = 0; r < ch->nreaders; r++) {
            RtActorRec *a = rt_drv_actor(rt, rt_plan_actor_id(p, ch->readers[r]));
            int fd = a ? rt_tcp_connect(a->addr, rt_now_ns() + 10000000000LL) : -1;
            p->wfds[c][r] = fd;
            if (fd < 0)
                return DAFT_EPEER;
            RtBuf m = {0};
            rt_buf_u32(&m, RT_M_PLAN_HELLO);
            rt_buf_u32(&m, p->id);
            rt_buf_u32(&m, (uint32_t)c);
            rt_buf_u32(&m, (uint32_t)r);
            int rc = rt_tcp_send(fd, m.p, m.len, NULL);
            rt_buf_free(&m);
            if (rc)
                return rc;
        }
    }
    return 0;
}

/* TCP: a plan's output channels are connected by their writers, which dial the driver's
 * listening socket when they load the plan, between their tasks; the driver takes these
 * connections as they come (rt_plans_accept), not at the load, so that a busy actor does
 * not hold up the call. */

static DaftRtPlan *rt_plan_by_id(DaftRt *rt, uint32_t id)
{
    for (int i = 0; i < rt->nplans; i++)
        if (rt->plans[i]->id == id)
            return rt->plans[i];
    return rt->plan_loading && rt->plan_loading->id == id ? rt->plan_loading : NULL;
}

bool rt_plan_take_conn(DaftRt *rt, int fd, RtBuf *rx, const RtBuf *hello)
{
    RtRd r = rt_rd(hello->p, hello->len);
    uint32_t type = rt_rd_u32(&r), id = rt_rd_u32(&r), c = rt_rd_u32(&r);
    DaftRtPlan *p = type == RT_M_PLAN_HELLO && !r.bad ? rt_plan_by_id(rt, id) : NULL;
    if (!p || c >= (uint32_t)p->npc || !p->mapped[c] || p->rfd[c] >= 0 ||
        rt_reader_index(&p->pc[c], DAFT_PLAN_DRIVER) < 0)
        return false;
    p->rfd[c] = fd;
    rt_buf_free(&p->rxb[c]);
    p->rxb[c] = *rx; /* anything sent right after the hello */
    *rx = (RtBuf){0};
    p->conns_missing--;
    return true;
}

void rt_plans_accept(DaftRt *rt)
{
    bool want = false;
    for (int i = 0; i < rt->nplans && !want; i++)
        want = rt->plans[i]->conns_missing > 0;
    if (rt->mode != RT_MODE_TCP || rt->lfd < 0 || !want)
        return;
    RtBuf rx = {0}, m = {0};
    for (int fd; (fd = rt_tcp_accept(rt->lfd)) >= 0;) {
        int rc; /* (its writer sends the hello right after connecting) */
        int64_t deadline = rt_now_ns() + 2 * 1000000000LL;
        while ((rc = rt_tcp_try_recv(fd, &rx, &m)) == 0 && rt_now_ns() < deadline)
            poll(&(struct pollfd){fd, POLLIN, 0}, 1, 20);
        if (rc <= 0 || !rt_plan_take_conn(rt, fd, &rx, &m))
            close(fd);
        rx.len = 0;
    }
    rt_buf_free(&rx);
    rt_buf_free(&m);
}

/* While the driver waits for output channel ch's connection: its writer still lives and
 * the plan was not refused. Says on stderr who is awaited after 30 s and every minute. */
static bool rt_plan_connecting(DaftRtPlan *p, int ch, int64_t t0, int64_t *report_at)
{
    DaftRt *rt = p->rt;
    rt_drv_poll(rt);
    rt_drv_check_exits(rt);
    RtActorRec *a = rt_drv_actor(rt, rt_plan_actor_id(p, p->pc[ch].writer));
    if (p->broken || !a || a->dead)
        return false;
    int64_t now = rt_now_ns();
    if (now >= *report_at) {
        rt_log("plan '%s': waiting %llds for actor '%s' to connect its outputs (busy in a task?)",
               p->name, (long long)((now - t0) / 1000000000LL), a->name);
        *report_at = now + 60 * 1000000000LL;
    }
    return true;
}

/* TCP: waits for output channel ch's connection (without limit when deadline < 0). 0, or
 * DAFT_EPEER (its writer died, or the plan was refused), or DAFT_ETIMEDOUT. */
static int rt_plan_await_conn(DaftRtPlan *p, int ch, int64_t deadline)
{
    int64_t t0 = rt_now_ns(), report_at = t0 + 30 * 1000000000LL;
    while (p->rfd[ch] < 0) {
        rt_plans_accept(p->rt);
        if (p->rfd[ch] >= 0)
            break;
        if (!rt_plan_connecting(p, ch, t0, &report_at))
            return DAFT_EPEER;
        if (rt_wait_over(deadline))
            return DAFT_ETIMEDOUT;
        rt_drv_notices(p->rt);
        rt_plans_drain(p->rt, p);
        poll(&(struct pollfd){p->rt->lfd, POLLIN, 0}, 1, 20);
    }
    return 0;
}

/* The driver keeps the ends it writes (inputs) and reads (outputs), nothing else. */
static void rt_label_put(RtBuf *b, const char *s) { rt_buf_put(b, s, strlen(s)); }

/* Appends the names of plan actors who[0..n) (DAFT_PLAN_DRIVER: "driver"), a long list
 * shortened so that a line stays readable: "A#1, A#2, A#3, ..., A#12 (12 in all)". */
static void rt_label_names(RtBuf *b, const DaftRt *rt, const DaftRtPlan *p, const int *who, int n)
{
    for (int i = 0; i < n; i++) {
        if (n > 5 && i == 3) {
            rt_label_put(b, ", ...");
            i = n - 1;
        }
        DaftActor a = rt_plan_actor_id(p, who[i]);
        if (i)
            rt_label_put(b, ", ");
        rt_label_put(b, a == 0 ? "driver" : rt->actors[a]->name);
    }
    if (n > 5) {
        char all[32];
        snprintf(all, sizeof all, " (%d in all)", n);
        rt_label_put(b, all);
    }
}

/* The label's text, NUL-terminated and taken from b (NULL when out of memory). */
static char *rt_label_take(RtBuf *b)
{
    if (rt_buf_u8(b, 0)) {
        rt_buf_free(b);
        return NULL;
    }
    char *s = (char *)b->p;
    *b = (RtBuf){0};
    return s;
}

/* DAFT_STATS: names the plan's channels and groups, for the report at the end, after the
 * plan and the actors it was loaded for (a schedule called with other actors is another
 * plan): "plan 'NAME' (A#1, B#2) channel 1: A#1 -> B#2, driver (shm)". */
static void rt_plan_stats_labels(DaftRt *rt, const DaftRtPlan *p)
{
    const DaftPlan *plan = p->plan;
    int n = plan->nchannels + plan->ngroups;
    char **labels = calloc((size_t)n + 1, sizeof *labels);
    int *all = calloc((size_t)plan->nactors + 1, sizeof *all);
    if (!labels || !all) {
        free(labels);
        free(all);
        return;
    }
    for (int i = 0; i < plan->nactors; i++)
        all[i] = i;
    const char *tcp_or_shm = rt->mode == RT_MODE_TCP ? "tcp" : "shm";
    for (int k = 0; k < n; k++) {
        bool group = k >= plan->nchannels;
        RtBuf b = {0};
        char head[128];
        rt_fmt(head, sizeof head, "plan '%s' (", p->name);
        rt_label_put(&b, head);
        rt_label_names(&b, rt, p, all, plan->nactors);
        if (!group) {
            const DaftPlanChannel *ch = &plan->channels[k];
            rt_fmt(head, sizeof head, ") channel %d: ", k);
            rt_label_put(&b, head);
            rt_label_names(&b, rt, p, &ch->writer, 1);
            rt_label_put(&b, " -> ");
            rt_label_names(&b, rt, p, ch->readers, ch->nreaders);
            rt_fmt(head, sizeof head, " (%s)", p->gpu_chan && p->gpu_chan[k] ? "nccl" : tcp_or_shm);
        } else {
            int g = k - plan->nchannels;
            rt_fmt(head, sizeof head, ") group %d: ", g);
            rt_label_put(&b, head);
            rt_label_names(&b, rt, p, plan->groups[g].members, plan->groups[g].nmembers);
            rt_fmt(head, sizeof head, " (%s)", p->gpu_group && p->gpu_group[g] >= 0 ? "nccl" : tcp_or_shm);
        }
        rt_label_put(&b, head);
        labels[k] = rt_label_take(&b);
        if (!labels[k])
            labels[k] = strdup("?");
    }
    free(all);
    rt_stats_plan(&rt->stats, p->id, plan->nchannels, plan->ngroups, labels);
}

static void rt_plan_driver_ends(DaftRt *rt, DaftRtPlan *p)
{
    if (rt->mode == RT_MODE_TCP)
        return;
    for (int c = 0; c < p->npc; c++) {
        const DaftPlanChannel *ch = &p->pc[c];
        if (!p->mapped[c])
            continue;
        int ridx = rt_reader_index(ch, DAFT_PLAN_DRIVER);
        rt_ring_close_fd(&p->rings[c]);
        if (ch->writer == DAFT_PLAN_DRIVER) {
            for (int r = 0; r < ch->nreaders; r++) {
                RtBell *b = &rt->bells[rt_plan_actor_id(p, ch->readers[r])];
                if (!p->rings[c].bell)
                    p->rings[c].bell = b;
                else
                    p->rings[c].more_bells[p->rings[c].nmore++] = b;
            }
        } else if (ridx >= 0) {
            rt_ring_reader_init(&p->rds[c], &p->rings[c], (uint32_t)ridx);
        } else {
            rt_ring_destroy(&p->rings[c]);
            p->mapped[c] = false;
        }
    }
}

static void rt_deferred_free(DaftRtPlan *p, RtPlanDeferred *d);

static void rt_plan_free(DaftRtPlan *p)
{
    const DaftPlan *plan = p->plan;
    while (p->promises) {
        RtPlanPromise *k = p->promises;
        p->promises = k->next;
        RtObj *o = rt_objtab_find(&p->rt->refs, k->ref);
        if (o && !o->has_value) {
            DaftValue e = daft_value_error("plan '%s' was unloaded before execution %llu finished",
                                           p->name, (unsigned long long)k->exec + 1);
            rt_objtab_resolve(o, &e);
            rt_obj_settle(p->rt, o);
        }
        free(k);
    }
    while (p->deferred) {
        RtPlanDeferred *d = p->deferred;
        p->deferred = d->next;
        rt_deferred_free(p, d);
    }
    for (int c = 0; c < p->npc; c++) {
        if (p->mapped && p->mapped[c] && p->rt->mode == RT_MODE_SHM) {
            rt_ring_reader_free(&p->rds[c]);
            rt_ring_destroy(&p->rings[c]);
        }
        for (int r = 0; p->wfds && p->wfds[c] && r < p->pc[c].nreaders; r++)
            if (p->wfds[c][r] >= 0)
                close(p->wfds[c][r]);
        if (p->wfds)
            free(p->wfds[c]);
        if (p->rfd && p->rfd[c] >= 0)
            close(p->rfd[c]);
        if (p->rxb)
            rt_buf_free(&p->rxb[c]);
    }
    free(p->wfds);
    free(p->rfd);
    free(p->rxb);
    free(p->pc);
    free(p->mesh_base);
    for (int k = 0; p->gpu_members && k < p->gpu_ncomms; k++)
        free(p->gpu_members[k]);
    free(p->gpu_members);
    free(p->gpu_n);
    free(p->gpu_boot);
    free(p->gpu_chan);
    free(p->gpu_group);
    for (uint64_t i = 0; p->res && i < p->res_cap * (uint64_t)plan->noutputs; i++)
        daft_value_free(&p->res[i]);
    free(p->res);
    free(p->rings);
    free(p->rds);
    free(p->mapped);
    free(p->actors);
    rt_pmsg_out_free(&p->out);
    rt_buf_free(&p->rx);
    free(p);
}

/* The channel table: the plan's channels, then for each collective group of n members
 * n x n single-reader channels, (i -> j) at mesh_base[g] + i * n + j (i == j unused).
 * A CPU collective is an all-to-all exchange on them (see rt_xplan.c). */
static int rt_plan_mesh(DaftRtPlan *p)
{
    const DaftPlan *plan = p->plan;
    int n = plan->nchannels;
    p->mesh_base = calloc((size_t)plan->ngroups + 1, sizeof *p->mesh_base);
    if (!p->mesh_base)
        return DAFT_ENOMEM;
    for (int g = 0; g < plan->ngroups; g++) {
        p->mesh_base[g] = n;
        n += plan->groups[g].nmembers * plan->groups[g].nmembers;
    }
    p->pc = calloc((size_t)n + 1, sizeof *p->pc);
    if (!p->pc)
        return DAFT_ENOMEM;
    if (plan->nchannels) /* (a plan over no actors has no channel array) */
        memcpy(p->pc, plan->channels, (size_t)plan->nchannels * sizeof *p->pc);
    for (int g = 0; g < plan->ngroups; g++) {
        const DaftPlanGroup *gr = &plan->groups[g];
        for (int i = 0; i < gr->nmembers; i++)
            for (int j = 0; j < gr->nmembers; j++) {
                DaftPlanChannel *c = &p->pc[p->mesh_base[g] + i * gr->nmembers + j];
                c->value = -1;
                c->writer = gr->members[i];
                c->readers = &gr->members[j];
                c->nreaders = i == j ? 0 : 1; /* no channel to oneself */
                c->transport = DAFT_TRANSPORT_SHM;
                c->payload.kind = DAFT_PAY_ANY;
                c->capacity = plan->inflight;
            }
    }
    p->npc = n;
    return 0;
}

void daft_rt_sequence_plans(DaftRt *rt, bool on) { rt->sequence_plans = on; }

/* Every plan takes turns as NCCL plans do: daft_rt_sequence_plans, unless
 * DAFT_PLAN_SEQUENCE says otherwise (0: only NCCL plans; any other value: every plan). */
static bool rt_plans_all_sequenced(const DaftRt *rt)
{
    const char *e = getenv("DAFT_PLAN_SEQUENCE");
    if (e && *e)
        return strcmp(e, "0") != 0;
    return rt->sequence_plans;
}

int daft_rt_plan_load(DaftRt *rt, const DaftPlan *plan, const DaftActor *actors, int n,
                      DaftRtPlan **out)
{
    *out = NULL;
    int rc = rt_plan_check(rt, plan, actors, n);
    if (rc)
        return rc;
    DaftRtPlan *p = calloc(1, sizeof *p);
    DaftRtPlan **list = realloc(rt->plans, (size_t)(rt->nplans + 1) * sizeof *list);
    if (!p || !list) {
        free(p);
        return DAFT_ENOMEM;
    }
    rt->plans = list;
    p->rt = rt;
    p->plan = plan;
    p->id = ++rt->next_plan;
    rt_fmt(p->name, sizeof p->name, "%s", plan->name ? plan->name : "?");
    p->actors = calloc((size_t)n + 1, sizeof *p->actors); /* rt_plan_gpu looks at them */
    if (p->actors)
        memcpy(p->actors, actors, (size_t)n * sizeof *actors);
    if (!p->actors || rt_plan_mesh(p) || rt_plan_gpu(p)) {
        rt_plan_free(p);
        return DAFT_ENOMEM;
    }
    p->in_turn = p->gpu_ncomms > 0 || rt_plans_all_sequenced(rt);
    size_t nc = (size_t)p->npc + 1;
    p->rings = calloc(nc, sizeof *p->rings);
    p->rds = calloc(nc, sizeof *p->rds);
    p->mapped = calloc(nc, sizeof *p->mapped);
    p->wfds = calloc(nc, sizeof *p->wfds);
    p->rfd = malloc(nc * sizeof *p->rfd);
    p->rxb = calloc(nc, sizeof *p->rxb);
    for (size_t c = 0; p->rfd && c < nc; c++)
        p->rfd[c] = -1;
    p->res_cap = 4;
    p->res = calloc(p->res_cap * (size_t)(plan->noutputs + 1), sizeof *p->res);
    if (!p->actors || !p->rings || !p->rds || !p->mapped || !p->res || !p->wfds || !p->rfd || !p->rxb) {
        rt_plan_free(p);
        return DAFT_ENOMEM;
    }
    rc = rt_plan_make_rings(p);
    rt->plan_loading = p;
    for (int i = 0; !rc && i < n; i++)
        rc = rt_plan_send_actor(rt, p, i);
    if (!rc && rt->mode == RT_MODE_TCP)
        rc = rt_plan_dial_inputs(rt, p);
    for (int c = 0; !rc && rt->mode == RT_MODE_TCP && c < p->npc; c++)
        p->conns_missing += p->mapped[c] && rt_reader_index(&p->pc[c], DAFT_PLAN_DRIVER) >= 0;
    rt->plan_loading = NULL;
    if (rc) {
        rt_set_err(rt, "plan '%s': cannot set up its channels", plan->name);
        rt_plan_free(p);
        return rc == DAFT_ENOMEM ? rc : DAFT_EINVAL;
    }
    rt_plan_driver_ends(rt, p);
    if (rt->stats.on)
        rt_plan_stats_labels(rt, p);
    rt->plans[rt->nplans++] = p;
    p->used = ++rt->plan_clock;
    rt_plans_accept(rt); /* (those already there; the others as they come) */
    if (p->unload_owed) /* refused while it was being sent: the next notices unload it */
        rt->notices_due = true;
    *out = p;
    return 0;
}

/* ---------------------------------------------------------------- executions */

/* Execution exec (0-based) cannot complete: the plan broke at or before it. */
static bool rt_plan_exec_doomed(const DaftRtPlan *p, uint64_t exec)
{
    return p->broken && (!p->broken_from || exec >= p->broken_from);
}

/* The execution whose outputs are read next can still complete. */
static bool rt_plan_exec_can_finish(const DaftRtPlan *p)
{
    return !rt_plan_exec_doomed(p, p->received);
}

/* False once a member died (no execution can complete), or the plan failed on an actor at
 * or before the execution being read. */
static bool rt_plan_alive(void *arg)
{
    DaftRtPlan *p = arg;
    rt_drv_check_exits(p->rt);
    for (int i = 0; (!p->broken || p->broken_from) && i < p->plan->nactors; i++) {
        RtActorRec *a = rt_drv_actor(p->rt, p->actors[i]);
        if (a->dead) {
            p->doomed_from = p->broken && p->broken_from < p->received ? p->broken_from : p->received;
            p->broken = true;
            p->broken_from = 0;
            rt_fmt(p->why, sizeof p->why, "%s", a->death);
        }
    }
    return rt_plan_exec_can_finish(p);
}

static void rt_plans_drain_others(DaftRtPlan *p);

/* While the driver waits on a plan it keeps reading messages, and sends what it owes the
 * actors (death notices, unloads of plans an actor could not load): an actor may be unable
 * to finish this plan's execution without them (a push to a dead actor, a turn). */
/* SPEC 14.3: a wait for a result that lasts says so (as rt_get_report). */
static void rt_plan_report(DaftRtPlan *p, int64_t waited)
{
    RtBuf who = {0};
    for (int i = 0; i < p->plan->nactors; i++) {
        if (i)
            rt_label_put(&who, ", ");
        rt_label_names(&who, p->rt, p, &i, 1);
    }
    char *names = rt_label_take(&who);
    rt_log("compiled schedule '%s' has waited %.3g s for the results of its execution %llu; its "
           "actors (%s) are alive", p->name, waited / 1e9,
           (unsigned long long)p->returned + 1, names ? names : "?");
    free(names);
}

static void rt_plan_wait_report(DaftRtPlan *p)
{
    if (p->report_at <= 0) /* (not in daft_rt_plan_result's wait: no clock read) */
        return;
    int64_t now = rt_now_ns();
    if (now < p->report_at)
        return;
    int64_t waited = p->report_at - p->wait_t0; /* (nominal: 1, 3, 5... x DAFT_WAIT_REPORT) */
    p->report_at += 2 * p->rt->wait_report_ns;
    rt_plan_report(p, waited);
}

void daft_rt_plan_report_wait(DaftRtPlan *p, double waited_s)
{
    if (p)
        rt_plan_report(p, (int64_t)(waited_s * 1e9));
}

static void rt_plan_progress(void *arg)
{
    rt_plan_wait_report(arg);
    rt_drv_poll(((DaftRtPlan *)arg)->rt);
    rt_drv_notices(((DaftRtPlan *)arg)->rt);
    rt_plans_drain_others(arg);
}

static DaftValue *rt_plan_rec(DaftRtPlan *p, uint64_t exec)
{
    return &p->res[(exec % p->res_cap) * (uint64_t)p->plan->noutputs];
}

/* Doubles the results ring when every record is in use. */
static int rt_plan_grow(DaftRtPlan *p)
{
    uint64_t used = p->submitted - p->returned, nout = (uint64_t)p->plan->noutputs;
    if (used < p->res_cap)
        return 0;
    uint64_t cap = p->res_cap * 2;
    DaftValue *r = calloc(cap * nout + 1, sizeof *r);
    if (!r)
        return DAFT_ENOMEM;
    for (uint64_t e = p->returned; e < p->submitted; e++)
        memcpy(&r[(e % cap) * nout], rt_plan_rec(p, e), nout * sizeof *r);
    free(p->res);
    p->res = r;
    p->res_cap = cap;
    return 0;
}

/* Reads one value for output o from its channel. */
/* TCP: a blocking read in slices that keeps checking the plan's members. */
static int rt_plan_tcp_read(DaftRtPlan *p, int ch, int64_t deadline)
{
    int crc = rt_plan_await_conn(p, ch, deadline);
    if (crc)
        return crc;
    int64_t spin_end = rt_now_ns() + RT_SPIN_NS;
    for (;;) {
        int rc = rt_tcp_try_recv(p->rfd[ch], &p->rxb[ch], &p->rx);
        if (rc)
            return rc < 0 ? DAFT_EPEER : 1;
        if (rt_now_ns() < spin_end) {
            rt_cpu_relax(spin_end);
            continue;
        }
        if (!rt_plan_alive(p))
            return DAFT_EPEER;
        if (rt_wait_over(deadline))
            return DAFT_ETIMEDOUT;
        rt_drv_poll(p->rt);
        rt_drv_notices(p->rt);
        rt_plans_drain_others(p);
        struct pollfd pf = {p->rfd[ch], POLLIN, 0};
        poll(&pf, 1, (int)(rt_sleep_ns(deadline, RT_SLICE_NS) / 1000000) + 1);
    }
}

static int rt_plan_read_value(DaftRtPlan *p, int ch, int64_t deadline, DaftValue *out);

/* Reads one value for output channel ch, counting it (DAFT_STATS) with the time waited. */
static int rt_plan_read(DaftRtPlan *p, int ch, int64_t deadline, DaftValue *out)
{
    int64_t t0 = p->rt->stats.on ? rt_now_ns() : 0;
    int rc = rt_plan_read_value(p, ch, deadline, out);
    if (p->rt->stats.on && rc == 0)
        rt_stats_add(&p->rt->stats, RT_STAT_READ, 0, p->id, (uint32_t)ch, 0, 1,
                     rt_stats_value_bytes(out), rt_now_ns() - t0);
    return rc;
}

static int rt_plan_read_value(DaftRtPlan *p, int ch, int64_t deadline, DaftValue *out)
{
    RtWait w = {deadline, rt_plan_alive, rt_plan_progress, p, true};
    for (;;) {
        if (p->rt->mode == RT_MODE_SHM) {
            int rc = rt_pmsg_ring_try(&p->rds[ch], &p->rx, out);
            if (rc == 0 && (rc = rt_ring_wait(&p->rds[ch], &w)) == 0)
                continue;
            if (rc == RT_PMSG_MALFORMED)
                *out = daft_value_error("plan '%s': malformed value on an output channel", p->plan->name);
            return rc > 0 ? 0 : rc;
        }
        int rc = rt_plan_tcp_read(p, ch, deadline);
        if (rc == DAFT_EPEER && !p->broken) {
            /* The connection broke: its writer is dying, or dropped the plan. Wait a little
             * for the exit status or its message so the error can name the actor and the
             * cause (up to 5 s: a loaded machine may not run the actor sooner). */
            for (int k = 0; k < 1000 && rt_plan_alive(p); k++) {
                rt_drv_poll(p->rt);
                if (rt_plan_alive(p))
                    usleep(5000);
            }
            if (p->broken)
                return DAFT_EPEER;
            p->broken = true;
            p->doomed_from = p->received;
            rt_fmt(p->why, sizeof p->why, "plan '%s': a channel connection was lost", p->name);
        }
        if (rc < 0)
            return rc;
        rc = rt_pmsg_decode(p->rx.p, p->rx.len, p->rds[ch].idx, out);
        if (rc == 0)
            continue;
        if (rc < 0)
            *out = daft_value_error("plan '%s': malformed value on an output channel", p->plan->name);
        return 0;
    }
}

static int rt_plan_wait_inputs(DaftRtPlan *p, int64_t deadline);

/* Output o of received execution exec as it will be returned: an execution the plan broke
 * at or before fails as a whole (daft_rt_plan_result). */
static DaftValue rt_plan_output_copy(DaftRtPlan *p, uint64_t exec, int o)
{
    DaftValue v = daft_value_none();
    const DaftValue *r = &rt_plan_rec(p, exec)[o];
    if (p->broken && exec >= p->doomed_from && r->kind != DAFT_V_ERROR)
        return daft_value_error("%s (plan '%s' cannot run)", p->why, p->plan->name);
    if (daft_value_copy(&v, r))
        v = daft_value_error("plan '%s': out of memory copying an output", p->plan->name);
    return v;
}

/* Resolves the promises of the execution just received. */
static void rt_plan_keep_promises(DaftRtPlan *p)
{
    uint64_t exec = p->received - 1;
    for (RtPlanPromise **at = &p->promises; *at;) {
        RtPlanPromise *k = *at;
        if (k->exec != exec) {
            at = &k->next;
            continue;
        }
        *at = k->next;
        RtObj *o = rt_objtab_find(&p->rt->refs, k->ref);
        if (o && !o->has_value) {
            DaftValue v = rt_plan_output_copy(p, exec, k->out);
            rt_objtab_resolve(o, &v);
            rt_obj_settle(p->rt, o);
        }
        free(k);
    }
}

int daft_rt_plan_output_ref(DaftRt *rt, DaftRtPlan *p, uint64_t exec, int out, DaftRef *ref)
{
    if (exec < p->returned || exec >= p->submitted || out < 0 || out >= p->plan->noutputs) {
        rt_set_err(rt, "plan '%s': no output %d of execution %llu to refer to", p->name, out,
                   (unsigned long long)exec + 1);
        return DAFT_EINVAL;
    }
    RtPlanPromise *k = exec < p->received ? NULL : calloc(1, sizeof *k);
    DaftRef r = {rt->next_ref++, 0};
    RtObj *o = rt_objtab_add(&rt->refs, r.id);
    if (!o || (exec >= p->received && !k)) {
        free(k);
        if (o)
            rt_objtab_del(&rt->refs, r.id);
        return DAFT_ENOMEM;
    }
    o->owner = 0; /* (the driver's own: nothing to fetch or free elsewhere) */
    o->method = -1;
    if (!k) {
        DaftValue v = rt_plan_output_copy(p, exec, out);
        rt_objtab_resolve(o, &v);
    } else {
        *k = (RtPlanPromise){exec, r.id, out, p->promises};
        p->promises = k;
    }
    *ref = r;
    return 0;
}

/* Receives the outputs of the oldest execution still running. */
static int rt_plan_receive(DaftRtPlan *p, int64_t deadline)
{
    const DaftPlan *plan = p->plan;
    int wrc = rt_plan_wait_inputs(p, deadline);
    if (wrc)
        return wrc;
    DaftValue *rec = rt_plan_rec(p, p->received);
    for (; p->got < plan->noutputs; p->got++) {
        int o = p->got, ch = plan->outputs[o].channel;
        if (ch < 0)
            continue; /* the driver's own input, filled at submit */
        int same = -1;
        for (int k = 0; k < o && same < 0; k++)
            if (plan->outputs[k].channel == ch)
                same = k;
        daft_value_free(&rec[o]);
        if (same >= 0) {
            daft_value_copy(&rec[o], &rec[same]);
            continue;
        }
        /* (broken: what its writer sent before still counts; the read waits for nothing
         * more, as rt_plan_alive says no) */
        int rc = rt_plan_exec_can_finish(p) ? rt_plan_read(p, ch, deadline, &rec[o]) : DAFT_EPEER;
        if (rc == DAFT_ETIMEDOUT)
            return rc;
        if (rc)
            rec[o] = daft_value_error("%s (plan '%s' cannot run)", p->why, plan->name);
    }
    p->got = 0;
    p->received++;
    rt_plan_keep_promises(p);
    return 0;
}

/* Takes whatever outputs of submitted executions have already arrived, without waiting.
 * (Shared memory only: TCP outputs wait in the kernel's socket buffers.) */
/* One output value of channel ch if one has arrived: 1, 0 (none yet), < 0 broken. */
static int rt_plan_try_output(DaftRtPlan *p, int ch, DaftValue *out)
{
    if (p->rt->mode == RT_MODE_SHM) {
        int rc = rt_pmsg_ring_try(&p->rds[ch], &p->rx, out);
        if (rc == RT_PMSG_MALFORMED)
            *out = daft_value_error("plan '%s': malformed value on an output channel", p->plan->name);
        return rc == RT_PMSG_MALFORMED ? 1 : rc;
    }
    if (p->rfd[ch] < 0)
        rt_plans_accept(p->rt);
    if (p->rfd[ch] < 0)
        return 0; /* (not connected yet) */
    for (;;) {
        int rc = rt_tcp_try_recv(p->rfd[ch], &p->rxb[ch], &p->rx);
        if (rc <= 0)
            return rc < 0 ? DAFT_EPEER : 0;
        rc = rt_pmsg_decode(p->rx.p, p->rx.len, p->rds[ch].idx, out);
        if (rc == 0)
            continue; /* addressed to another reader */
        if (rc < 0)
            *out = daft_value_error("plan '%s': malformed value on an output channel", p->plan->name);
        return 1;
    }
}

static void rt_plan_drain(DaftRtPlan *p)
{
    const DaftPlan *plan = p->plan;
    while (rt_plan_exec_can_finish(p) && p->received < p->submitted) {
        DaftValue *rec = rt_plan_rec(p, p->received);
        for (; p->got < plan->noutputs; p->got++) {
            int o = p->got, ch = plan->outputs[o].channel, same = -1;
            for (int k = 0; k < o && same < 0 && ch >= 0; k++)
                if (plan->outputs[k].channel == ch)
                    same = k;
            if (ch < 0)
                continue;
            daft_value_free(&rec[o]);
            if (same >= 0) {
                daft_value_copy(&rec[o], &rec[same]);
                continue;
            }
            if (rt_plan_try_output(p, ch, &rec[o]) <= 0)
                return; /* nothing more yet (an error shows on the next blocking read) */
            if (p->rt->stats.on)
                rt_stats_add(&p->rt->stats, RT_STAT_READ, 0, p->id, (uint32_t)ch, 0, 1,
                             rt_stats_value_bytes(&rec[o]), 0);
        }
        p->got = 0;
        p->received++;
        rt_plan_keep_promises(p);
    }
}

/* While the driver waits (for a result, to write an input, for an interpreted task), the
 * actors may be waiting for it to take outputs of any plan: a ring holds fewer bytes than
 * `inflight` large values, and an actor taking turns (rt_xplan.c) runs no other plan's
 * execution until that one is written. Takes what has arrived for every plan but
 * `busy`, the one whose outputs the caller is in the middle of reading. */
static void rt_plan_write_deferred(DaftRtPlan *p);

void rt_plans_drain(DaftRt *rt, const DaftRtPlan *busy)
{
    for (int i = 0; i < rt->nplans; i++) {
        rt_plan_write_deferred(rt->plans[i]);
        if (rt->plans[i] != busy)
            rt_plan_drain(rt->plans[i]);
    }
}

static void rt_plans_drain_others(DaftRtPlan *p) { rt_plans_drain(p->rt, p); }

static void rt_plan_progress_writing(void *arg)
{
    DaftRtPlan *p = arg;
    rt_drv_poll(p->rt);
    rt_drv_notices(p->rt);
    rt_plans_drain(p->rt, NULL);
}

/* Writes execution exec's inputs (none once it cannot complete). */
static int rt_plan_write_inputs(DaftRtPlan *p, uint64_t exec, const DaftValue *inputs)
{
    const DaftPlan *plan = p->plan;
    RtWait w = {-1, rt_plan_alive, rt_plan_progress_writing, p, false};
    for (int i = 0; i < plan->ninputs && !rt_plan_exec_doomed(p, exec); i++) {
        if (rt_pmsg_encode(&p->out, -1, &inputs[i], p->rt->mode == RT_MODE_SHM))
            return DAFT_ENOMEM;
        for (int k = 0; k < plan->inputs[i].nchannels && !rt_plan_exec_doomed(p, exec); k++) {
            int ch = plan->inputs[i].channels[k];
            int64_t t0 = p->rt->stats.on ? rt_now_ns() : 0;
            if (p->mapped[ch] && p->rt->mode == RT_MODE_SHM)
                rt_pmsg_ring_write(&p->rings[ch], &p->out, &w);
            for (int r = 0; p->mapped[ch] && p->wfds[ch] && r < p->pc[ch].nreaders; r++)
                if (rt_tcp_send(p->wfds[ch][r], p->out.tx.p, p->out.tx.len, &w) == DAFT_EPEER)
                    rt_plan_alive(p);
            if (p->rt->stats.on)
                rt_stats_add(&p->rt->stats, RT_STAT_WRITE, 0, p->id, (uint32_t)ch, 0,
                             (uint64_t)p->pc[ch].nreaders,
                             rt_stats_value_bytes(&inputs[i]) * (uint64_t)p->pc[ch].nreaders,
                             rt_now_ns() - t0);
        }
    }
    return 0;
}

/* The actors took GO for an execution whose inputs cannot be written: without them they
 * would wait forever, so the plan goes (unloaded from every actor). */
static void rt_plan_break_unwritten(DaftRtPlan *p, const char *why)
{
    if (p->broken)
        return;
    p->broken = true;
    p->broken_from = 0;
    p->doomed_from = p->received;
    rt_fmt(p->why, sizeof p->why, "plan '%s': %s", p->plan->name, why);
    rt_plan_send_unload(p->rt, p);
}

/* ---------------------------------------------------------------- inputs that wait for Refs */

/* Are there Refs among the inputs whose values the driver must have (not markers)? */
static bool rt_inputs_have_refs(const DaftValue *inputs, int n, const uint8_t *direct)
{
    for (int i = 0; i < n; i++)
        if (inputs[i].kind == DAFT_V_REF && !(direct && direct[i]))
            return true;
    return false;
}

static void rt_deferred_free(DaftRtPlan *p, RtPlanDeferred *d)
{
    for (int i = 0; i < p->plan->ninputs; i++) {
        RtObj *o = d->inputs[i].kind == DAFT_V_REF && !d->direct[i]
                       ? rt_objtab_find(&p->rt->refs, d->inputs[i].as.ref.id) : NULL;
        if (o)
            rt_obj_unuse(p->rt, o);
        daft_value_free(&d->inputs[i]);
    }
    free(d->inputs);
    free(d->direct);
    free(d);
}

/* ---------------------------------------------------------------- Ref inputs from their owners */

/* Can input i's Ref go from its owner straight to the input's readers (SPEC 11.2)? Yes
 * when the owner is a live actor whose value is not here anyway, the executions take
 * turns (the owner then serves the push, queued before the GO, before its own part of
 * this execution and of any later one), and no output is the input itself (the driver
 * would need the value). */
static RtObj *rt_plan_direct_ref(DaftRtPlan *p, int i, const DaftValue *v)
{
    if (v->kind != DAFT_V_REF || !p->in_turn || p->broken)
        return NULL;
    RtObj *o = rt_obj_live(p->rt, v->as.ref.id);
    RtActorRec *owner = o && o->owner ? rt_drv_actor(p->rt, o->owner) : NULL;
    if (!owner || owner->dead || o->has_value || o->state == RT_OBJ_ERROR)
        return NULL;
    for (int k = 0; k < p->plan->noutputs; k++)
        if (p->plan->outputs[k].input == i)
            return NULL;
    return o;
}

/* Was actor index `who` a reader of an earlier channel of input `in` than k? */
static bool rt_input_read_before(const DaftRtPlan *p, const DaftPlanInput *in, int k, int who)
{
    for (int j = 0; j < k; j++)
        if (rt_reader_index(&p->pc[in->channels[j]], who) >= 0)
            return true;
    return false;
}

/* Asks the owner of o, input i's Ref, to send its value to each of the input's readers, and
 * returns what the channels carry in its place: the marker DAFT_V_REF {transfer id, owner}
 * (rt_xplan.c), or the error that tells the readers why no value comes. The value goes
 * over shared memory or TCP, never NCCL: a first NCCL transfer between two actors waits,
 * on the sender, for the receiver to join their communicator, which it does only when it
 * reads the input; the owner's pushes come before its own part of the execution, which
 * a reader may wait for before its read (a deadlock; found in review). */
static DaftValue rt_plan_push_input(DaftRtPlan *p, int i, RtObj *o)
{
    DaftRt *rt = p->rt;
    const DaftPlanInput *in = &p->plan->inputs[i];
    RtActorRec *owner = rt_drv_actor(rt, o->owner);
    uint64_t xfer = rt_xfer_for_plan(p->id, rt->next_xfer++);
    o->observed = true; /* (its error, if any, goes on in the execution's outputs) */
    for (int k = 0; k < in->nchannels; k++) {
        const DaftPlanChannel *ch = &p->pc[in->channels[k]];
        for (int r = 0; r < ch->nreaders; r++) {
            RtActorRec *to = rt_drv_actor(rt, rt_plan_actor_id(p, ch->readers[r]));
            if (!to || rt_input_read_before(p, in, k, ch->readers[r]))
                continue;
            if (rt_push_ref(rt, o, owner, to, xfer, false))
                return daft_value_error("actor '%s' (%s): cannot pass Ref %llu to '%s'", owner->name,
                                        rt_class_name(rt, owner->cls), (unsigned long long)o->id,
                                        to->name);
        }
    }
    return daft_value_ref((DaftRef){xfer, owner->id});
}

/* Queues a copy of execution exec's inputs; each Ref among them stays alive until then. */
static int rt_plan_defer(DaftRtPlan *p, uint64_t exec, const DaftValue *inputs,
                         const uint8_t *direct)
{
    int n = p->plan->ninputs;
    RtPlanDeferred *d = calloc(1, sizeof *d), **end = &p->deferred;
    DaftValue *in = calloc((size_t)n + 1, sizeof *in);
    uint8_t *dir = calloc((size_t)n + 1, 1);
    bool bad = !d || !in || !dir;
    for (int i = 0; i < n && !bad; i++)
        bad = daft_value_copy(&in[i], &inputs[i]) != 0;
    if (bad) {
        for (int i = 0; in && i < n; i++)
            daft_value_free(&in[i]);
        free(in);
        free(dir);
        free(d);
        return DAFT_ENOMEM;
    }
    if (direct)
        memcpy(dir, direct, (size_t)n);
    for (int i = 0; i < n; i++)
        if (in[i].kind == DAFT_V_REF && !dir[i]) { /* (checked at submit) */
            RtObj *o = rt_objtab_find(&p->rt->refs, in[i].as.ref.id);
            o->users++;
            o->observed = true; /* (its error, if any, goes on in the execution's outputs) */
        }
    *d = (RtPlanDeferred){exec, in, dir, NULL};
    while (*end)
        end = &(*end)->next;
    *end = d;
    return 0;
}

/* True once every Ref among d's inputs has its value here; asks the owners for the rest. */
static bool rt_deferred_ready(DaftRtPlan *p, const RtPlanDeferred *d)
{
    bool ready = true;
    for (int i = 0; i < p->plan->ninputs; i++) {
        if (d->inputs[i].kind != DAFT_V_REF || d->direct[i])
            continue;
        RtObj *o = rt_objtab_find(&p->rt->refs, d->inputs[i].as.ref.id);
        if (!o->has_value) {
            rt_obj_fetch(p->rt, o);
            ready = false;
        }
    }
    return ready;
}

/* Writes d's inputs: each Ref's value, error or not (an error, or a value that does not
 * fit its input, reaches the execution's outputs as their error). */
static void rt_deferred_write(DaftRtPlan *p, const RtPlanDeferred *d)
{
    const DaftPlan *plan = p->plan;
    int n = plan->ninputs;
    DaftValue *vals = calloc((size_t)n + 1, sizeof *vals), *own = calloc((size_t)n + 1, sizeof *own);
    if (!vals || !own) {
        free(vals);
        free(own);
        rt_plan_break_unwritten(p, "out of memory writing an input");
        return;
    }
    for (int i = 0; i < n; i++) {
        const DaftValue *v = &d->inputs[i];
        if (d->direct[i]) { /* a marker: its readers check the value (rt_xplan.c) */
            vals[i] = *v;
            continue;
        }
        if (v->kind == DAFT_V_REF)
            v = &rt_objtab_find(&p->rt->refs, v->as.ref.id)->value;
        if (!rt_payload_fits(&plan->inputs[i].payload, v)) {
            char want[256], got[256];
            rt_payload_str(&plan->inputs[i].payload, want, sizeof want);
            rt_value_payload_str(v, got, sizeof got);
            own[i] = daft_value_error("input '%s' of plan '%s': expected %s, got %s",
                                      plan->inputs[i].name ? plan->inputs[i].name : "?", plan->name, want, got);
            v = &own[i];
        }
        vals[i] = *v; /* (borrowed) */
    }
    if (d->exec >= p->received) { /* outputs that are the driver's own inputs */
        DaftValue *rec = rt_plan_rec(p, d->exec);
        for (int o = 0; o < plan->noutputs; o++)
            if (plan->outputs[o].input >= 0) {
                daft_value_free(&rec[o]);
                daft_value_copy(&rec[o], &vals[plan->outputs[o].input]);
            }
    }
    if (rt_plan_write_inputs(p, d->exec, vals))
        rt_plan_break_unwritten(p, "out of memory writing an input");
    for (int i = 0; i < n; i++)
        daft_value_free(&own[i]);
    free(own);
    free(vals);
}

/* Writes the deferred executions' inputs whose Refs are ready, oldest first; drops those
 * of executions that cannot run any more (the plan broke at or before them). */
static void rt_plan_write_deferred(DaftRtPlan *p)
{
    if (p->writing_deferred)
        return; /* (called again while its write waits for room in a ring) */
    p->writing_deferred = true;
    while (p->deferred) {
        RtPlanDeferred *d = p->deferred;
        bool doomed = rt_plan_exec_doomed(p, d->exec);
        if (!doomed && !rt_deferred_ready(p, d))
            break;
        if (!doomed)
            rt_deferred_write(p, d);
        p->deferred = d->next;
        rt_deferred_free(p, d);
    }
    p->writing_deferred = false;
}

/* Before the outputs of the execution received next are read: its inputs are written
 * (the outputs that copy them are filled then). */
static int rt_plan_wait_inputs(DaftRtPlan *p, int64_t deadline)
{
    rt_plan_write_deferred(p);
    while (p->deferred && p->deferred->exec <= p->received && rt_plan_alive(p)) {
        if (rt_wait_over(deadline))
            return DAFT_ETIMEDOUT;
        rt_drv_wait_but(p->rt, deadline, p); /* (p's outputs are read by the caller only) */
    }
    return 0;
}

/* An actor whose program does not begin with a read has no input to wait for: it starts
 * an execution only on this message, so it never runs executions nobody submitted. In a
 * plan with NCCL communicators every actor with a program gets it too: such plans'
 * executions run in the order of these messages, the order of submission, the same on
 * every actor (rt_xplan.c says why). The actor applies the same rules when it loads its
 * program, from PLAN_LOAD's in_turn flag (rt_xplan.c). */

static bool rt_plan_needs_go(const DaftRtPlan *p, int i)
{
    const DaftPlanActor *a = &p->plan->actors[i];
    return a->nops > 0 && (a->ops[0].kind != DAFT_OP_READ || p->in_turn);
}

static void rt_plan_send_go(DaftRtPlan *p)
{
    RtBuf m = {0};
    rt_buf_u32(&m, RT_M_PLAN_GO);
    rt_buf_u32(&m, p->id);
    for (int i = 0; i < p->plan->nactors && !p->broken; i++) {
        RtActorRec *a = rt_drv_actor(p->rt, p->actors[i]);
        if (a && !a->dead && rt_plan_needs_go(p, i))
            rt_drv_send(p->rt, a, &m);
    }
    rt_buf_free(&m);
}

/* A wait of p's that ended as at its deadline because the driver was interrupted says so. */
static int rt_plan_interrupted(DaftRt *rt, const DaftRtPlan *p, int rc)
{
    if (rc != DAFT_ETIMEDOUT || !rt_intr)
        return rc;
    rt_set_err(rt, "plan '%s': interrupted", p->plan->name);
    return DAFT_EINTR;
}

int daft_rt_plan_submit(DaftRt *rt, DaftRtPlan *p, const DaftValue *inputs, int ninputs,
                        double timeout_s)
{
    const DaftPlan *plan = p->plan;
    if (ninputs != plan->ninputs || (ninputs && !inputs)) {
        rt_set_err(rt, "plan '%s': expects %d inputs, got %d", plan->name, plan->ninputs, ninputs);
        return DAFT_EINVAL;
    }
    for (int i = 0; i < ninputs; i++) /* before anything is sent: the plan stays usable */
        if (inputs[i].kind == DAFT_V_REF) {
            RtObj *o = rt_objtab_find(&rt->refs, inputs[i].as.ref.id);
            if (!o || o->released) {
                rt_set_err(rt, "input '%s' of plan '%s': Ref %llu is unknown or released",
                           plan->inputs[i].name ? plan->inputs[i].name : "?", plan->name,
                           (unsigned long long)inputs[i].as.ref.id);
                return DAFT_EINVAL;
            }
        } else if (!rt_payload_fits(&plan->inputs[i].payload, &inputs[i])) {
            char want[256], got[256];
            rt_payload_str(&plan->inputs[i].payload, want, sizeof want);
            rt_value_payload_str(&inputs[i], got, sizeof got);
            rt_set_err(rt, "input '%s' of plan '%s': expected %s, got %s",
                       plan->inputs[i].name ? plan->inputs[i].name : "?", plan->name, want, got);
            return DAFT_EINVAL;
        }
    int64_t t0 = rt_now_ns(), deadline = rt_deadline(timeout_s);
    int cap = plan->inflight > 0 ? plan->inflight : 1;
    while (p->submitted - p->received >= (uint64_t)cap) {
        int rc = rt_plan_interrupted(rt, p, rt_plan_receive(p, deadline));
        if (rc == DAFT_ETIMEDOUT)
            rt_set_err(rt, "plan '%s': %d executions in flight, none finished after %.3g s",
                       plan->name, cap, timeout_s);
        if (rc)
            return rc;
    }
    if (rt_plan_grow(p))
        return DAFT_ENOMEM;
    /* Ref inputs that their owners send straight to the readers: markers in their place */
    DaftValue *marked = NULL;
    uint8_t *direct = NULL;
    if (rt_inputs_have_refs(inputs, ninputs, NULL)) {
        marked = calloc((size_t)ninputs, sizeof *marked);
        direct = calloc((size_t)ninputs, 1);
        if (!marked || !direct) {
            free(marked);
            free(direct);
            return DAFT_ENOMEM;
        }
        for (int i = 0; i < ninputs; i++) {
            RtObj *o = rt_plan_direct_ref(p, i, &inputs[i]);
            marked[i] = o ? rt_plan_push_input(p, i, o) : inputs[i]; /* (else borrowed) */
            direct[i] = o != NULL;
        }
        inputs = marked;
    }
    /* Refs the driver must have, or an earlier execution still waiting for its own: the
     * inputs are written later (rt_plan_write_deferred), the GO now, so that the execution
     * keeps its turn among the actors' other work. */
    bool defer = p->deferred || rt_inputs_have_refs(inputs, ninputs, direct);
    DaftValue *rec = rt_plan_rec(p, p->submitted);
    for (int o = 0; o < plan->noutputs; o++) {
        daft_value_free(&rec[o]);
        if (plan->outputs[o].input >= 0 && !defer) /* (never a marker: rt_plan_direct_ref) */
            daft_value_copy(&rec[o], &inputs[plan->outputs[o].input]);
    }
    /* A Ref input's value is asked for before the GO, so that its owner serves it before
     * this execution, which waits for it there when the owner takes part (plans take turns) */
    for (int i = 0; i < ninputs; i++)
        if (inputs[i].kind == DAFT_V_REF && !(direct && direct[i]))
            rt_obj_prefetch(rt, rt_objtab_find(&rt->refs, inputs[i].as.ref.id));
    /* GO first: an actor that waits for it before reading must not leave the driver blocked
     * writing an input larger than the channel's ring */
    rt_plan_send_go(p);
    int rc = defer ? rt_plan_defer(p, p->submitted, inputs, direct)
                   : rt_plan_write_inputs(p, p->submitted, inputs);
    if (rc)
        rt_plan_break_unwritten(p, "out of memory writing an input");
    p->submitted++;
    p->used = ++rt->plan_clock;
    if (defer)
        rt_plan_write_deferred(p);
    for (int i = 0; marked && i < ninputs; i++)
        if (direct[i]) /* (the others are the caller's) */
            daft_value_free(&marked[i]);
    free(marked);
    free(direct);
    rt_trace_slice(&rt->trace, plan->name, "submit", t0, rt_now_ns());
    return rc;
}

int daft_rt_plan_result(DaftRt *rt, DaftRtPlan *p, double timeout_s, DaftValue *outputs,
                        int noutputs)
{
    const DaftPlan *plan = p->plan;
    if (p->returned == p->submitted || noutputs != plan->noutputs) {
        rt_set_err(rt, "plan '%s': %s", plan->name,
                   p->returned == p->submitted ? "no execution submitted" : "wrong number of outputs");
        return DAFT_EINVAL;
    }
    int64_t t0 = rt_now_ns(), deadline = rt_deadline(timeout_s);
    if (p->returned == p->received) {
        p->wait_t0 = t0;
        p->report_at = rt->wait_report_ns > 0 ? t0 + rt->wait_report_ns : 0;
        int rc = rt_plan_interrupted(rt, p, rt_plan_receive(p, deadline));
        p->report_at = 0;
        if (rc == DAFT_ETIMEDOUT)
            rt_set_err(rt, "plan '%s': execution %llu has no result after %.3g s", plan->name,
                       (unsigned long long)p->returned, timeout_s);
        if (rc)
            return rc;
    }
    DaftValue *rec = rt_plan_rec(p, p->returned);
    bool doomed = p->broken && p->returned >= p->doomed_from; /* (completed before a death: kept) */
    for (int o = 0; o < noutputs; o++) {
        /* an execution fails as a whole: outputs read before the failure was known too */
        if (doomed && rec[o].kind != DAFT_V_ERROR) {
            daft_value_free(&rec[o]);
            rec[o] = daft_value_error("%s (plan '%s' cannot run)", p->why, plan->name);
        }
        outputs[o] = rec[o];
        rec[o] = daft_value_none();
    }
    p->returned++;
    rt_trace_slice(&rt->trace, plan->name, "result", t0, rt_now_ns());
    return 0;
}

/* Tells the plan's live actors to drop it (they stop its executions and their turns). */
static void rt_plan_send_unload_from(DaftRt *rt, DaftRtPlan *p, uint64_t from)
{
    RtBuf m = {0};
    rt_buf_u32(&m, RT_M_PLAN_UNLOAD);
    rt_buf_u32(&m, p->id);
    rt_buf_u64(&m, from);
    for (int i = 0; i < p->plan->nactors; i++) {
        RtActorRec *a = rt_drv_actor(rt, p->actors[i]);
        if (a && !a->dead)
            rt_drv_send(rt, a, &m);
    }
    rt_buf_free(&m);
}

static void rt_plan_send_unload(DaftRt *rt, DaftRtPlan *p)
{
    rt_plan_send_unload_from(rt, p, p->broken && p->broken_from ? p->broken_from + 1 : 0);
}

/* Tells the members to stop the plan from execution `from` on (0: at once), and frees it. */
static void rt_plan_unload_from(DaftRt *rt, DaftRtPlan *p, uint64_t from)
{
    if (!p)
        return;
    rt_plan_send_unload_from(rt, p, from);
    for (int i = 0; i < rt->nplans; i++)
        if (rt->plans[i] == p) {
            rt->plans[i] = rt->plans[--rt->nplans];
            break;
        }
    rt_plan_free(p);
}

void daft_rt_plan_unload(DaftRt *rt, DaftRtPlan *p)
{
    rt_plan_unload_from(rt, p, 0); /* nobody reads its outputs any more */
}

void daft_rt_plan_finish(DaftRt *rt, DaftRtPlan *p)
{
    /* (executions count from 1 on the members: the first one not to run) */
    if (p)
        rt_plan_unload_from(rt, p, p->broken ? 0 : p->submitted + 1);
}

/* ---------------------------------------------------------------- how many stay loaded */

/* One place for daftc's programs and daft-repl (SPEC 11.2, 17), so both read the variable,
 * and word a bad value, the same way. */
int daft_rt_loaded_plans_limit(DaftRt *rt)
{
    const char *e = getenv("DAFT_LOADED_PLANS");
    if (!e || !*e)
        return 64;
    char *end = NULL;
    long v = strtol(e, &end, 10);
    if (*end || v < 1 || v > 1000000) {
        rt_set_err(rt, "DAFT_LOADED_PLANS=%s is not a number of plans >= 1", e);
        return 0;
    }
    return (int)v;
}

DaftRtPlan *daft_rt_plan_lru(DaftRt *rt, const DaftRtPlan *keep, int limit)
{
    if (rt->nplans <= limit)
        return NULL;
    DaftRtPlan *lru = NULL;
    for (int i = 0; i < rt->nplans; i++) {
        DaftRtPlan *p = rt->plans[i];
        /* (a plan with executions in flight is kept for now: its caller still reads them) */
        if (p != keep && p->returned == p->submitted && (!lru || p->used < lru->used))
            lru = p;
    }
    return lru;
}

void rt_plans_unload_all(DaftRt *rt)
{
    while (rt->nplans)
        daft_rt_plan_unload(rt, rt->plans[rt->nplans - 1]);
}
