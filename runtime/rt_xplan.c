/* rt_xplan.c — the actor side of compiled execution: runs a plan's op program (READ,
 * CALL, WRITE, FREE; daft/plan.h) once per execution, executions in order, over channels
 * set up once at load time. Nothing is allocated per execution beyond the values the
 * methods themselves produce, and no control message is exchanged per execution.
 *
 * Channel messages: i32 target reader (-1 = every reader) followed by the value's
 * encoding. One multi-reader ring per plan channel; a reader skips messages addressed to
 * another reader (a WRITE to one reader only, as planned for NCCL-like channels). */
#define _GNU_SOURCE
#include "rt_internal.h"

#include <stdlib.h>
#include <string.h>

typedef struct RtXArg {
    int32_t slot;    /* >= 0: a slot; -1: the constant */
    DaftValue konst;
} RtXArg;

typedef struct RtXOp {
    uint8_t kind;    /* a DaftPlanOpKind: 0 read, 1 write, 2 call, 3 collective, 4 free */
    int32_t dst, src, channel, reader, method;
    uint32_t nargs;
    RtXArg *args;
} RtXOp;

typedef struct RtXChan {
    bool mapped, is_reader;
    RtRing ring;
    RtRingReader rd;
} RtXChan;

struct RtXPlan {
    uint32_t id;
    char name[64];
    RtXOp *ops;
    uint32_t nops, pc;
    DaftValue *slots;
    uint32_t nslots;
    RtXChan *chans;
    uint32_t nchans;
    DaftActor *members; /* actors whose death stops this plan */
    uint32_t nmembers;
    DaftValue *argv;    /* scratch for CALL arguments */
    uint32_t argcap;
    RtBuf tx, rx;
    bool stopped;
    uint64_t execs;
};

enum { RT_OP_READ = 0, RT_OP_WRITE = 1, RT_OP_CALL = 2, RT_OP_COLL = 3, RT_OP_FREE = 4 };

uint32_t rt_xplan_id(const RtXPlan *p) { return p->id; }
void rt_xplan_stop(RtXPlan *p) { p->stopped = true; }
bool rt_xplan_stopped(const RtXPlan *p) { return p->stopped; }

bool rt_xplan_uses(const RtXPlan *p, DaftActor a)
{
    for (uint32_t i = 0; i < p->nmembers; i++)
        if (p->members[i] == a)
            return true;
    return false;
}

void rt_xplan_free(RtXPlan *p)
{
    if (!p)
        return;
    for (uint32_t i = 0; i < p->nops; i++) {
        for (uint32_t k = 0; k < p->ops[i].nargs; k++)
            daft_value_free(&p->ops[i].args[k].konst);
        free(p->ops[i].args);
    }
    for (uint32_t i = 0; i < p->nslots; i++)
        daft_value_free(&p->slots[i]);
    for (uint32_t i = 0; i < p->nchans; i++)
        if (p->chans[i].mapped) {
            rt_ring_reader_free(&p->chans[i].rd);
            rt_ring_destroy(&p->chans[i].ring);
        }
    free(p->ops);
    free(p->slots);
    free(p->chans);
    free(p->members);
    free(p->argv);
    rt_buf_free(&p->tx);
    rt_buf_free(&p->rx);
    free(p);
}

/* ---------------------------------------------------------------- loading */

static int rt_xplan_read_ops(RtXPlan *p, RtRd *r)
{
    p->nops = rt_rd_u32(r);
    if (r->bad || p->nops > r->len)
        return DAFT_EPROTO;
    p->ops = calloc(p->nops + 1, sizeof *p->ops);
    if (!p->ops)
        return DAFT_ENOMEM;
    for (uint32_t i = 0; i < p->nops; i++) {
        RtXOp *o = &p->ops[i];
        o->kind = rt_rd_u8(r);
        o->dst = (int32_t)rt_rd_u32(r);
        o->src = (int32_t)rt_rd_u32(r);
        o->channel = (int32_t)rt_rd_u32(r);
        o->reader = (int32_t)rt_rd_u32(r);
        o->method = (int32_t)rt_rd_u32(r);
        o->nargs = rt_rd_u32(r);
        if (r->bad || o->nargs > r->len)
            return DAFT_EPROTO;
        o->args = calloc(o->nargs + 1, sizeof *o->args);
        if (!o->args)
            return DAFT_ENOMEM;
        for (uint32_t k = 0; k < o->nargs; k++) {
            o->args[k].slot = (int32_t)rt_rd_u32(r);
            if (o->args[k].slot < 0 && rt_value_get(r, &o->args[k].konst))
                return DAFT_EPROTO;
        }
        bool bad_slot = (o->dst >= (int32_t)p->nslots) || (o->src >= (int32_t)p->nslots) ||
                        (o->kind == RT_OP_READ && (o->dst < 0 || o->channel < 0)) ||
                        (o->kind == RT_OP_WRITE && (o->src < 0 || o->channel < 0)) ||
                        (o->kind == RT_OP_FREE && o->src < 0) ||
                        (o->channel >= (int32_t)p->nchans);
        for (uint32_t k = 0; k < o->nargs; k++)
            bad_slot |= o->args[k].slot >= (int32_t)p->nslots;
        if (bad_slot || o->kind > RT_OP_FREE || o->kind == RT_OP_COLL)
            return DAFT_EPROTO;
        if (o->nargs > p->argcap)
            p->argcap = o->nargs;
    }
    p->argv = calloc(p->argcap + 1, sizeof *p->argv);
    return p->argv ? 0 : DAFT_ENOMEM;
}

/* Maps one channel end from the next fd on the socket. */
static int rt_xplan_read_end(DaftRt *rt, RtXPlan *p, RtRd *r, int sock)
{
    uint32_t ch = rt_rd_u32(r);
    bool reader = rt_rd_u8(r);
    uint32_t ridx = rt_rd_u32(r), nbells = rt_rd_u32(r);
    if (r->bad || ch >= p->nchans || p->chans[ch].mapped || nbells > RT_RING_MAX_READERS)
        return DAFT_EPROTO;
    RtXChan *c = &p->chans[ch];
    int fd = rt_recv_fd_sock(sock);
    if (fd < 0 || rt_ring_attach(&c->ring, fd))
        return DAFT_ESYS;
    rt_ring_close_fd(&c->ring);
    c->mapped = true;
    c->is_reader = reader;
    if (reader) {
        if (ridx >= rt_ring_nreaders(&c->ring))
            return DAFT_EPROTO;
        rt_ring_reader_init(&c->rd, &c->ring, ridx);
    }
    for (uint32_t i = 0; i < nbells; i++) {
        DaftActor a = rt_rd_u32(r);
        RtBell *b = a < RT_MAX_ACTORS ? &rt->bells[a] : NULL;
        if (b && !c->ring.bell)
            c->ring.bell = b;
        else if (b)
            c->ring.more_bells[c->ring.nmore++] = b;
    }
    return r->bad ? DAFT_EPROTO : 0;
}

RtXPlan *rt_xplan_load(struct RtActorSelf *s, DaftRt *rt, RtRd *r, int sock, char *err, size_t cap)
{
    (void)s;
    RtXPlan *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->id = rt_rd_u32(r);
    rt_rd_str(r, p->name, sizeof p->name);
    p->nslots = rt_rd_u32(r);
    p->nchans = rt_rd_u32(r);
    p->nmembers = rt_rd_u32(r);
    int rc = r->bad || p->nslots > (1u << 20) || p->nchans > (1u << 20) || p->nmembers > RT_MAX_ACTORS
                 ? DAFT_EPROTO : 0;
    if (!rc) {
        p->slots = calloc(p->nslots + 1, sizeof *p->slots);
        p->chans = calloc(p->nchans + 1, sizeof *p->chans);
        p->members = calloc(p->nmembers + 1, sizeof *p->members);
        rc = p->slots && p->chans && p->members ? 0 : DAFT_ENOMEM;
    }
    for (uint32_t i = 0; !rc && i < p->nmembers; i++)
        p->members[i] = rt_rd_u32(r);
    if (!rc)
        rc = rt_xplan_read_ops(p, r);
    uint32_t nends = rc ? 0 : rt_rd_u32(r);
    for (uint32_t i = 0; !rc && i < nends; i++)
        rc = rt_xplan_read_end(rt, p, r, sock);
    if (rc) {
        rt_fmt(err, cap, "plan '%s': cannot load (%s)", p->name,
               rc == DAFT_ESYS ? "channel mapping failed" : "malformed plan message");
        rt_xplan_free(p);
        return NULL;
    }
    return p;
}

/* ---------------------------------------------------------------- running */

/* Next message for this reader on channel ch: 1 and the value in *slot, 0 if none yet. */
static int rt_xplan_try_read(RtXPlan *p, RtXChan *c, DaftValue *slot)
{
    for (;;) {
        int rc = rt_ring_try_read(&c->rd, &p->rx);
        if (rc <= 0)
            return rc;
        RtRd r = rt_rd(p->rx.p, p->rx.len);
        int32_t target = (int32_t)rt_rd_u32(&r);
        if (target >= 0 && (uint32_t)target != c->rd.idx)
            continue; /* addressed to another reader of this channel */
        daft_value_free(slot);
        if (rt_value_get(&r, slot))
            *slot = daft_value_error("plan '%s': malformed value on a channel", p->name);
        return 1;
    }
}

typedef struct RtXWriteCtx {
    RtXPlan *p;
    struct RtActorSelf *s;
} RtXWriteCtx;

static bool rt_xplan_alive_cb(void *arg) { return !((RtXWriteCtx *)arg)->p->stopped; }
static void rt_xplan_progress_cb(void *arg) { rt_exec_progress(((RtXWriteCtx *)arg)->s); }

static void rt_xplan_write(struct RtActorSelf *s, RtXPlan *p, const RtXOp *o)
{
    RtXChan *c = &p->chans[o->channel];
    p->tx.len = 0;
    rt_buf_u32(&p->tx, (uint32_t)o->reader);
    rt_value_put(&p->tx, &p->slots[o->src]);
    RtXWriteCtx x = {p, s};
    RtWait w = {-1, rt_xplan_alive_cb, rt_xplan_progress_cb, &x};
    if (c->mapped && !c->is_reader)
        rt_ring_write(&c->ring, p->tx.p, p->tx.len, &w);
}

static void rt_xplan_call(struct RtActorSelf *s, RtXPlan *p, const RtXOp *o)
{
    for (uint32_t k = 0; k < o->nargs; k++) /* shallow views: the slots keep ownership */
        p->argv[k] = o->args[k].slot >= 0 ? p->slots[o->args[k].slot] : o->args[k].konst;
    DaftValue out = daft_value_none();
    RtBell *b = rt_exec_bell(s);
    if (b) { /* so the driver can name the method if we die in it */
        atomic_store_explicit(&b->cur_plan, p->id, memory_order_relaxed);
        atomic_store_explicit(&b->cur_method, (uint32_t)o->method + 1, memory_order_relaxed);
    }
    rt_exec_invoke(s, o->method, p->argv, o->nargs, &out);
    if (b)
        atomic_store_explicit(&b->cur_method, 0, memory_order_relaxed);
    if (o->dst >= 0) {
        daft_value_free(&p->slots[o->dst]);
        p->slots[o->dst] = out;
    } else {
        daft_value_free(&out);
    }
}

bool rt_xplan_ready(RtXPlan *p)
{
    if (p->stopped || !p->nops)
        return false;
    const RtXOp *o = &p->ops[p->pc];
    if (o->kind != RT_OP_READ)
        return true;
    RtXChan *c = &p->chans[o->channel];
    return c->mapped && c->is_reader && rt_ring_pending(&c->ring, c->rd.idx) > 0;
}

bool rt_xplan_step(struct RtActorSelf *s, RtXPlan *p)
{
    bool did = false;
    while (!p->stopped && p->nops) {
        const RtXOp *o = &p->ops[p->pc];
        switch (o->kind) {
        case RT_OP_READ: {
            RtXChan *c = &p->chans[o->channel];
            if (!c->mapped || !c->is_reader || rt_xplan_try_read(p, c, &p->slots[o->dst]) <= 0)
                return did;
            break;
        }
        case RT_OP_WRITE: rt_xplan_write(s, p, o); break;
        case RT_OP_CALL: rt_xplan_call(s, p, o); break;
        case RT_OP_FREE: daft_value_free(&p->slots[o->src]); break;
        default: break;
        }
        did = true;
        if (++p->pc == p->nops) { /* one execution done: let other plans and tasks run */
            p->pc = 0;
            p->execs++;
            return true;
        }
    }
    return did;
}
