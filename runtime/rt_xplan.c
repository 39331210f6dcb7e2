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
#include "rt_xnccl.h"

#include <daft/plan.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct RtXArg {
    int32_t slot;    /* >= 0: a slot; -1: the constant */
    DaftValue konst;
} RtXArg;

typedef struct RtXOp {
    uint8_t kind;    /* a DaftPlanOpKind: 0 read, 1 write, 2 call, 3 collective, 4 free */
    int32_t dst, src, channel, reader, method;
    uint32_t nargs;
    RtXArg *args;
    bool src_last;   /* COLLECTIVE: no later op reads src (it is freed or overwritten) */
    bool feeds_next; /* COLLECTIVE: on the compute stream: the next call reads dst (it waits
                      * for the result), or nothing on this actor ever does (see below) */
} RtXOp;

/* A writer end's static payload: every value written is checked against it (SPEC §14.1). */
typedef struct RtXCheck {
    DaftPayload pl;
    char who[256];    /* "actor 'b' (ModelB)" */
    char where[400];  /* "channel c1 of plan 'chain' (tensor<f32, [32, 1024]>)" */
} RtXCheck;

typedef struct RtXChan {
    bool mapped, is_reader;
    RtXCheck *chk;    /* writer end of a typed plan channel, or reader end of a typed input
                       * (for a Ref's value that comes from its owner); NULL: no check */
    bool from_driver; /* the driver writes it: an input may come as a Ref marker */
    RtRing ring;      /* SHM */
    RtRingReader rd;
    int fd;           /* TCP reader end: the writer's connection (-1 until it says hello) */
    RtBuf rxb;
    int *wfds;        /* TCP writer end: one connection per reader */
    uint32_t nw;
    uint32_t ridx;    /* reader index (both transports) */
    RtPmsgAsync aw;   /* SHM writer end: a GPU result on its way to the ring */
} RtXChan;

typedef struct RtXGroup {
    uint32_t n, me, base; /* members, my rank (>= n: not a member), first mesh channel */
} RtXGroup;

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
    RtPmsgOut out; /* the message being sent */
    uint32_t nbusy;  /* channels with an asynchronous write pending (RtXChan.aw) */
    RtBuf rx;
    bool stopped, tcp;
    uint64_t execs;
    /* A program that begins with a read starts an execution when its input arrives. One
     * that begins with a call or a collective would otherwise run executions nobody
     * submitted: it starts one per RT_M_PLAN_GO the driver sends with each submit. */
    bool needs_go, go_taken;
    uint64_t go_credits;
    /* A plan with NCCL communicators: its executions also wait for their turn among the
     * actor's other such plans (rt_exec_plan_turn). NCCL kernels on one stream run in the
     * order they were issued, so two plans whose operations two members issued in
     * different orders (plan A's input arrived first here, plan B's there) would wait for
     * each other forever on the GPUs. Every actor of such a plan takes turns, members or
     * not: one that ran B first could block (a host wait in B for a member still in A)
     * while that member waits in A for it. */
    bool sequenced;
    struct RtActorSelf *self;
    RtXGroup *groups;
    uint32_t ngroups;
    bool coll_started;     /* the running COLLECTIVE op has sent our value */
    DaftValue *coll_vals;  /* [rank] values received from the other members */
    bool *coll_have;
    RtXNccl *gpu;          /* NCCL channels and groups (rt_xnccl.c); NULL: none */
    /* The plan failed here, not by the driver's word (an NCCL operation failed, so this
     * member aborted its communicators, which the others do not notice while they wait in
     * NCCL for it): the driver must hear why and unload the plan everywhere. */
    bool failure_owed, failure_told;
    char failure[400];
    uint64_t failure_exec; /* the execution (1-based) that failed */
    uint64_t fail_at;      /* DAFT_TEST_FAIL_PLAN_RUN: execution (1-based) that fails; 0 none */
    uint64_t stop_at;      /* the driver's word: stop before this execution (1-based); 0 none */
    int graphs;            /* DAFT_GPU_GRAPHS=1 in a GPU actor: 1; 0 not yet known; -1 off */
    /* Whole executions as one CUDA graph (DAFT_GPU_GRAPHS=1, rt_gpu_graph.h; SPEC 15.5).
     * The members of an NCCL group vote on every execution, over the group's mesh channels
     * (unused otherwise): a graph holding NCCL operations must be launched by all or none. */
    int8_t iter;           /* 1: this actor takes part; 0 not yet known; -1 no (site graphs) */
    bool iter_fit;         /* its executions may be graphed (rt_xplan_iter_decide) */
    uint32_t vote_pc;      /* the votes are taken before this op: the first of the tail */
    bool iter_started, iter_check, iter_voted, iter_tailed, iter_taken;
    bool iter_own;         /* this execution is in the graphs (not RTGRAPH_BUSY) */
    int iter_mine, iter_all; /* this execution's vote, and the least of all votes so far */
    bool *vote_have;       /* [member] per voting group, in group order */
    bool awaiting_ref;     /* the READ at pc read a Ref marker (rt_xplan_take_ref_input): its
                            * value has not come yet from its owner */
    int64_t ready_since;   /* DAFT_STATS: when the previous op ended (or the plan loaded):
                            * a READ or COLLECTIVE op waited from then on */
};

enum { RT_OP_READ = 0, RT_OP_WRITE = 1, RT_OP_CALL = 2, RT_OP_COLL = 3, RT_OP_FREE = 4 };

uint32_t rt_xplan_id(const RtXPlan *p) { return p->id; }
const char *rt_xplan_name(const RtXPlan *p) { return p->name; }
void rt_xplan_stop(RtXPlan *p)
{
    p->stopped = true;
    rt_xnccl_abort(p->gpu); /* nothing may keep waiting in NCCL for a dead member */
}
bool rt_xplan_stopped(const RtXPlan *p) { return p->stopped; }

void rt_xplan_stop_at(RtXPlan *p, uint64_t exec)
{
    /* (execs + 1: the running or next execution; an actor with no program never gets to
     * the point where it would stop) */
    if (!exec || p->execs + 1 >= exec || !p->nops)
        rt_xplan_stop(p);
    else if (!p->stop_at || exec < p->stop_at)
        p->stop_at = exec;
}

bool rt_xplan_owes_executions(const RtXPlan *p)
{
    return !p->stopped && p->stop_at && p->execs + 1 < p->stop_at;
}

static void rt_xplan_owe_failure(RtXPlan *p, const char *why)
{
    if (p->failure_owed || p->failure_told)
        return;
    p->failure_owed = true;
    p->failure_exec = p->execs + 1;
    rt_fmt(p->failure, sizeof p->failure, "%s", why);
}

void rt_xplan_fail(RtXPlan *p, const char *why)
{
    rt_xplan_stop(p);
    rt_xplan_owe_failure(p, why);
}

/* After each op: an NCCL failure keeps the plan running here (its error values still reach
 * the outputs) until the driver's unload. */
static void rt_xplan_note_gpu_failure(RtXPlan *p)
{
    const char *e = rt_xnccl_error(p->gpu);
    if (e)
        rt_xplan_owe_failure(p, e);
}

const char *rt_xplan_take_failure(RtXPlan *p, uint64_t *exec)
{
    if (!p->failure_owed)
        return NULL;
    p->failure_owed = false;
    p->failure_told = true;
    *exec = p->failure_exec;
    return p->failure;
}
void rt_xplan_go(RtXPlan *p) { p->go_credits++; }

/* The channel of the READ that is the next NCCL operation of the program after op `at`, or
 * -1 (the next one is a write or a collective, or there is none in this execution). */
static int32_t rt_xplan_next_nccl_read(const RtXPlan *p, uint32_t at)
{
    for (uint32_t i = at + 1; i < p->nops; i++) {
        const RtXOp *o = &p->ops[i];
        if (o->kind == RT_OP_COLL)
            return -1; /* (whether NCCL runs it or not: stop looking) */
        bool chan_op = o->kind == RT_OP_READ || o->kind == RT_OP_WRITE;
        if (chan_op && rt_xnccl_chan(p->gpu, (uint32_t)o->channel))
            return o->kind == RT_OP_READ ? o->channel : -1;
    }
    return -1;
}

/* An execution may start now (or has started). */
static bool rt_xplan_may_run(RtXPlan *p)
{
    if (!p->needs_go || p->pc != 0 || p->go_taken)
        return true;
    return p->go_credits > 0 && (!p->sequenced || rt_exec_plan_turn(p->self, p->id));
}

bool rt_xplan_sequenced(const RtXPlan *p) { return p->sequenced; }

bool rt_xplan_uses(const RtXPlan *p, DaftActor a)
{
    for (uint32_t i = 0; i < p->nmembers; i++)
        if (p->members[i] == a)
            return true;
    return false;
}

static uint32_t rt_xplan_max_group(const RtXPlan *p);

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
    if (p->graphs > 0 && rt_gpu_active()) /* its call sites' CUDA graphs and their memory */
        rt_gpu_active()->graph_forget(p->id);
    for (uint32_t i = 0; i < p->nchans; i++) {
        RtXChan *c = &p->chans[i];
        if (c->mapped && !p->tcp) {
            rt_pmsg_async_free(&c->aw);
            rt_ring_reader_free(&c->rd);
            rt_ring_destroy(&c->ring);
        }
        if (c->fd >= 0)
            close(c->fd);
        for (uint32_t k = 0; k < c->nw; k++)
            if (c->wfds[k] >= 0)
                close(c->wfds[k]);
        free(c->wfds);
        free(c->chk);
        rt_buf_free(&c->rxb);
    }
    for (uint32_t i = 0; p->coll_vals && p->coll_have && i <= rt_xplan_max_group(p); i++)
        daft_value_free(&p->coll_vals[i]);
    free(p->coll_vals);
    free(p->coll_have);
    free(p->vote_have);
    rt_xnccl_free(p->gpu);
    free(p->groups);
    free(p->ops);
    free(p->slots);
    free(p->chans);
    free(p->members);
    free(p->argv);
    rt_pmsg_out_free(&p->out);
    rt_buf_free(&p->rx);
    free(p);
}

/* ---------------------------------------------------------------- loading */

/* Is slot's value dead after op `at`: freed or overwritten before any later op reads it?
 * (Not at the program's end: the value may be an output or kept for the next execution.) */
static bool rt_xplan_slot_dies(const RtXPlan *p, uint32_t at, int32_t slot)
{
    for (uint32_t j = at + 1; j < p->nops; j++) {
        const RtXOp *o = &p->ops[j];
        bool reads = (o->kind == RT_OP_WRITE || o->kind == RT_OP_COLL) && o->src == slot;
        for (uint32_t k = 0; o->kind == RT_OP_CALL && k < o->nargs; k++)
            reads |= o->args[k].slot == slot;
        if (reads)
            return false;
        if ((o->kind == RT_OP_FREE && o->src == slot) || (o->kind != RT_OP_WRITE && o->kind != RT_OP_FREE && o->dst == slot))
            return true;
    }
    return false;
}

/* A collective whose result this actor never reads takes part for the other members' sake
 * (tensor parallelism's last allreduce, on every rank but the one that goes on): on a
 * communication stream its kernels would start early and wait for the others while holding
 * SMs the next computation needs; on the compute stream it runs in turn, as in an SPMD
 * program. Measured on 4 x H100: W7 TP = 4 at batch 256 10 % faster (0.700 against 0.778
 * ms), batch 32 unchanged. DAFT_GPU_DEAD_COLL_ON_COMPUTE=0 keeps it on the communication
 * stream (to measure). */
static bool rt_xplan_dead_on_compute(void)
{
    const char *e = getenv("DAFT_GPU_DEAD_COLL_ON_COMPUTE");
    return !(e && !strcmp(e, "0"));
}

/* Does the first call after op `at` read slot? */
static bool rt_xplan_next_call_reads(const RtXPlan *p, uint32_t at, int32_t slot)
{
    for (uint32_t j = at + 1; j < p->nops; j++) {
        const RtXOp *o = &p->ops[j];
        if (o->kind != RT_OP_CALL)
            continue;
        for (uint32_t k = 0; k < o->nargs; k++)
            if (o->args[k].slot == slot)
                return true;
        return false;
    }
    return false;
}

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
                        (o->kind == RT_OP_COLL && (o->src < 0 || o->dst < 0 || o->channel < 0)) ||
                        (o->kind != RT_OP_COLL && o->channel >= (int32_t)p->nchans);
        for (uint32_t k = 0; k < o->nargs; k++)
            bad_slot |= o->args[k].slot >= (int32_t)p->nslots;
        if (bad_slot || o->kind > RT_OP_FREE)
            return DAFT_EPROTO;
        if (o->nargs > p->argcap)
            p->argcap = o->nargs;
    }
    for (uint32_t i = 0; i < p->nops; i++) {
        if (p->ops[i].kind != RT_OP_COLL)
            continue;
        p->ops[i].src_last = rt_xplan_slot_dies(p, i, p->ops[i].src);
        p->ops[i].feeds_next = rt_xplan_next_call_reads(p, i, p->ops[i].dst) ||
                               (rt_xplan_slot_dies(p, i, p->ops[i].dst) && rt_xplan_dead_on_compute());
    }
    /* Same rule as rt_plan_needs_go on the driver (which adds NCCL members: rt_xplan_load). */
    p->needs_go = p->nops > 0 && p->ops[0].kind != RT_OP_READ;
    p->argv = calloc(p->argcap + 1, sizeof *p->argv);
    return p->argv ? 0 : DAFT_ENOMEM;
}

static uint32_t rt_xplan_max_group(const RtXPlan *p)
{
    uint32_t m = 0;
    for (uint32_t g = 0; g < p->ngroups; g++)
        m = p->groups[g].n > m ? p->groups[g].n : m;
    return m;
}

/* The collective groups (after the ops in the message); checks the ops' group indices. */
static int rt_xplan_read_groups(RtXPlan *p, RtRd *r)
{
    p->ngroups = rt_rd_u32(r);
    if (r->bad || p->ngroups > r->len)
        return DAFT_EPROTO;
    p->groups = calloc(p->ngroups + 1, sizeof *p->groups);
    if (!p->groups)
        return DAFT_ENOMEM;
    for (uint32_t g = 0; g < p->ngroups; g++) {
        RtXGroup *x = &p->groups[g];
        x->n = rt_rd_u32(r);
        x->me = rt_rd_u32(r);
        x->base = rt_rd_u32(r);
        if (x->n > RT_MAX_ACTORS || (uint64_t)x->base + (uint64_t)x->n * x->n > p->nchans)
            return DAFT_EPROTO;
    }
    for (uint32_t i = 0; i < p->nops; i++)
        if (p->ops[i].kind == RT_OP_COLL && (uint32_t)p->ops[i].channel >= p->ngroups)
            return DAFT_EPROTO;
    uint32_t m = rt_xplan_max_group(p) + 1;
    p->coll_vals = calloc(m, sizeof *p->coll_vals);
    p->coll_have = calloc(m, sizeof *p->coll_have);
    return r->bad ? DAFT_EPROTO : p->coll_vals && p->coll_have ? 0 : DAFT_ENOMEM;
}

/* TCP writer end: dial every reader and say which plan, channel and reader it is. */
static int rt_xplan_dial(RtXPlan *p, RtXChan *c, uint32_t ch, const char (*addrs)[64], uint32_t n)
{
    c->wfds = calloc(n + 1, sizeof *c->wfds);
    if (!c->wfds)
        return DAFT_ENOMEM;
    for (uint32_t k = 0; k < n; k++) {
        int fd = rt_tcp_connect(addrs[k], rt_now_ns() + 10000000000LL);
        c->wfds[c->nw++] = fd;
        if (fd < 0)
            return DAFT_ESYS;
        RtBuf m = {0};
        rt_buf_u32(&m, RT_M_PLAN_HELLO);
        rt_buf_u32(&m, p->id);
        rt_buf_u32(&m, ch);
        rt_buf_u32(&m, k);
        int rc = rt_tcp_send(fd, m.p, m.len, NULL);
        rt_buf_free(&m);
        if (rc)
            return rc;
    }
    return 0;
}

/* DAFT_TEST_FAIL_PLAN_LOAD=NAME@end (tests only): the load of plan NAME fails at its first
 * shared-memory channel end, before that end's fd is taken off the socket. (NAME alone
 * fails it after a complete load: rt_exec.c.) */
static bool rt_xplan_fail_injected(const RtXPlan *p, const char *where)
{
    const char *e = getenv("DAFT_TEST_FAIL_PLAN_LOAD");
    size_t n = strlen(p->name);
    return e && !strncmp(e, p->name, n) && !strcmp(e + n, where);
}

/* DAFT_TEST_FAIL_PLAN_RUN=NAME[@N] (tests only), read when the plan is loaded: its N-th
 * execution (default 1) fails on this actor before its first op, as a failed NCCL
 * operation would, leaving the other actors waiting for this one. */
static uint64_t rt_xplan_run_failure_injected(const RtXPlan *p)
{
    const char *e = getenv("DAFT_TEST_FAIL_PLAN_RUN");
    size_t n = strlen(p->name);
    if (!e || strncmp(e, p->name, n) || (e[n] && e[n] != '@'))
        return 0;
    return e[n] == '@' ? strtoull(e + n + 1, NULL, 10) : 1;
}

/* Sets up one channel end: SHM maps the next fd on the socket (counted in *taken); TCP
 * dials the readers (a reader end waits for its writer's hello, see rt_xplan_attach_tcp). */
static int rt_xplan_read_end(DaftRt *rt, RtXPlan *p, RtRd *r, int sock, uint32_t *taken)
{
    uint32_t ch = rt_rd_u32(r);
    uint8_t flags = rt_rd_u8(r); /* 1: this end reads, 2: the driver writes */
    bool reader = flags & 1;
    uint32_t ridx = rt_rd_u32(r), nbells = rt_rd_u32(r);
    if (r->bad || ch >= p->nchans || p->chans[ch].mapped || nbells > RT_RING_MAX_READERS)
        return DAFT_EPROTO;
    RtXChan *c = &p->chans[ch];
    DaftActor ids[RT_RING_MAX_READERS];
    char addrs[RT_RING_MAX_READERS][64];
    for (uint32_t i = 0; i < nbells; i++) {
        ids[i] = rt_rd_u32(r);
        rt_rd_str(r, addrs[i], sizeof addrs[i]);
    }
    if (rt_rd_u8(r)) { /* the static payload this writer end must respect */
        RtXCheck *k = c->chk = calloc(1, sizeof *k);
        if (!k)
            return DAFT_ENOMEM;
        k->pl.kind = (DaftPayloadKind)rt_rd_u8(r);
        k->pl.dtype = (DaftDType)rt_rd_u8(r);
        k->pl.rank = (int32_t)rt_rd_u32(r);
        if (k->pl.kind >= DAFT_PAY_COUNT || k->pl.rank > DAFT_PLAN_MAX_RANK || k->pl.rank < -1)
            return DAFT_EPROTO;
        for (int d = 0; d < k->pl.rank; d++)
            k->pl.dims[d] = (int64_t)rt_rd_u64(r);
        rt_rd_str(r, k->who, sizeof k->who);
        rt_rd_str(r, k->where, sizeof k->where);
    }
    if (r->bad)
        return DAFT_EPROTO;
    c->mapped = true;
    c->is_reader = reader;
    c->from_driver = flags & 2;
    c->ridx = ridx;
    if (p->tcp)
        return reader ? 0 : rt_xplan_dial(p, c, ch, (const char(*)[64])addrs, nbells);
    if (rt_xplan_fail_injected(p, "@end")) {
        c->mapped = false;
        return DAFT_ESYS;
    }
    int fd = rt_recv_fd_sock(sock);
    (*taken)++;
    if (fd < 0 || rt_ring_attach(&c->ring, fd)) {
        c->mapped = false;
        return DAFT_ESYS;
    }
    rt_ring_close_fd(&c->ring);
    if (reader) {
        if (ridx >= rt_ring_nreaders(&c->ring))
            return DAFT_EPROTO;
        rt_ring_reader_init(&c->rd, &c->ring, ridx);
    }
    for (uint32_t i = 0; i < nbells; i++) {
        RtBell *b = ids[i] < RT_MAX_ACTORS ? &rt->bells[ids[i]] : NULL;
        if (b && !c->ring.bell)
            c->ring.bell = b;
        else if (b)
            c->ring.more_bells[c->ring.nmore++] = b;
    }
    return 0;
}

bool rt_xplan_attach_tcp(RtXPlan *p, uint32_t ch, uint32_t ridx, int fd, RtBuf *rx)
{
    if (!p->tcp || ch >= p->nchans || !p->chans[ch].mapped || !p->chans[ch].is_reader ||
        p->chans[ch].ridx != ridx || p->chans[ch].fd >= 0)
        return false;
    RtXChan *c = &p->chans[ch];
    c->fd = fd;
    RtBuf t = c->rxb; /* bytes already received after the hello belong to the plan */
    c->rxb = *rx;
    *rx = t;
    return true;
}

int rt_xplan_pollfds(const RtXPlan *p, struct pollfd *out, int max)
{
    int n = 0;
    for (uint32_t i = 0; p->tcp && i < p->nchans && n < max; i++)
        if (p->chans[i].fd >= 0)
            out[n++] = (struct pollfd){p->chans[i].fd, POLLIN, 0};
    return n;
}

/* The ring fds of a plan that failed to load, still on the socket: taken off and closed,
 * or the next plan loaded would map them as its own channels. A receive that fails ends
 * it (the socket is broken; nothing more would come). */
static void rt_xplan_drop_fds(int sock, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++) {
        int fd = rt_recv_fd_sock(sock);
        if (fd < 0)
            return;
        close(fd);
    }
}

RtXPlan *rt_xplan_load(struct RtActorSelf *s, DaftRt *rt, RtRd *r, int sock, char *err, size_t cap)
{
    RtXPlan *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->self = s;
    p->tcp = rt->mode == RT_MODE_TCP;
    p->id = rt_rd_u32(r);
    p->ready_since = rt->stats.on ? rt_now_ns() : 0;
    rt_rd_str(r, p->name, sizeof p->name);
    bool in_turn = rt_rd_u8(r) != 0;
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
        for (uint32_t i = 0; !rc && i < p->nchans; i++)
            p->chans[i].fd = -1;
    }
    for (uint32_t i = 0; !rc && i < p->nmembers; i++)
        p->members[i] = rt_rd_u32(r);
    if (!rc)
        rc = rt_xplan_read_ops(p, r);
    if (!rc)
        rc = rt_xplan_read_groups(p, r);
    uint32_t nends = rc ? 0 : rt_rd_u32(r), taken = 0;
    bool nends_known = !rc && !r->bad && nends <= (1u << 20);
    for (uint32_t i = 0; !rc && i < nends; i++)
        rc = rt_xplan_read_end(rt, p, r, sock, &taken);
    if (rc && nends_known && !p->tcp && taken < nends)
        rt_xplan_drop_fds(sock, nends - taken);
    if (!rc && !r->bad && r->off < r->len) { /* the GPU section (rt_compiled.c) */
        p->gpu = rt_xnccl_load(r, p->nchans, p->ngroups, err, cap);
        if (!p->gpu)
            rc = DAFT_EPROTO;
    }
    p->fail_at = rt_xplan_run_failure_injected(p);
    /* same rule as rt_plan_needs_go on the driver */
    p->sequenced = p->nops > 0 && in_turn;
    p->needs_go |= p->sequenced;
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
        if (!p->tcp) {
            int rc = rt_pmsg_ring_try(&c->rd, &p->rx, slot);
            if (rc == RT_PMSG_MALFORMED) {
                *slot = daft_value_error("plan '%s': malformed value on a channel", p->name);
                return 1;
            }
            if (rc < 0)
                p->stopped = true;
            return rc;
        }
        int rc = c->fd < 0 ? 0 : rt_tcp_try_recv(c->fd, &c->rxb, &p->rx);
        if (rc < 0) /* the writer's connection broke: it died; the driver will say so */
            p->stopped = true;
        if (rc <= 0)
            return rc;
        rc = rt_pmsg_decode(p->rx.p, p->rx.len, c->ridx, slot);
        if (rc == 0)
            continue; /* addressed to another reader of this channel */
        if (rc < 0)
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

static bool rt_coll_needs(const RtXOp *o, uint32_t j);
static bool rt_xplan_collect(RtXPlan *p, const RtXOp *o);

/* While a COLLECTIVE op's send waits for ring space, keep taking the other members'
 * values of the same op: they may be sending to us at the same time, and a value larger
 * than a ring only fits once its reader drains it. */
typedef struct RtXCollCtx {
    RtXWriteCtx w;
    const RtXOp *o;
} RtXCollCtx;

static void rt_xplan_coll_progress_cb(void *arg)
{
    RtXCollCtx *c = arg;
    rt_xplan_collect(c->w.p, c->o);
    rt_exec_progress(c->w.s);
}

/* Sends v on channel ch to reader `target` (-1: every reader); coll: the COLLECTIVE op
 * being sent for, or NULL. */
static void rt_xplan_send(struct RtActorSelf *s, RtXPlan *p, uint32_t ch, int32_t target,
                          const DaftValue *v, const RtXOp *coll)
{
    RtXChan *c = &p->chans[ch];
    rt_pmsg_encode(&p->out, target, v, !p->tcp);
    RtXCollCtx x = {{p, s}, coll};
    RtWait w = {-1, rt_xplan_alive_cb, coll ? rt_xplan_coll_progress_cb : rt_xplan_progress_cb, &x, false};
    if (c->mapped && !c->is_reader && !p->tcp) {
        if (c->aw.busy) { /* messages on a channel stay in order */
            rt_pmsg_async_finish(&c->aw, &c->ring, true, &w);
            p->nbusy--;
        }
        if (!coll && rt_pmsg_async_start(&c->aw, &p->out) == 1) {
            p->nbusy++;
            return;
        }
        rt_pmsg_ring_write(&c->ring, &p->out, &w);
    }
    for (uint32_t k = 0; c->mapped && !c->is_reader && p->tcp && k < c->nw; k++)
        if (target < 0 || (uint32_t)target == k)
            rt_tcp_send(c->wfds[k], p->out.tx.p, p->out.tx.len, &w);
}

/* WRITE op o: an error value to send instead of the slot's value when that value does not
 * fit the channel's static payload (naming the actor, the op that made the value, the
 * channel and expected vs actual); DAFT_V_NONE when it fits. The slot is left alone: the
 * value may still be used on this actor. */
static DaftValue rt_xplan_misfit(struct RtActorSelf *s, const RtXPlan *p, const RtXOp *o)
{
    const RtXCheck *k = p->chans[o->channel].chk;
    const DaftValue *v = &p->slots[o->src];
    if (!k || rt_payload_fits(&k->pl, v))
        return daft_value_none();
    char got[256];
    rt_value_payload_str(v, got, sizeof got);
    const RtXOp *from = NULL; /* the op that last wrote the slot */
    for (uint32_t i = p->pc; i-- > 0 && !from;)
        if (p->ops[i].dst == o->src &&
            (p->ops[i].kind == RT_OP_CALL || p->ops[i].kind == RT_OP_READ || p->ops[i].kind == RT_OP_COLL))
            from = &p->ops[i];
    if (from && from->kind == RT_OP_CALL)
        return daft_value_error("%s method '%s': result %s does not fit %s", k->who,
                                rt_exec_method_name(s, from->method), got, k->where);
    return daft_value_error("%s: %s %s does not fit %s", k->who,
                            from && from->kind == RT_OP_COLL ? "collective result" : "value", got,
                            k->where);
}

/* An input the driver sent as a marker, DAFT_V_REF {transfer id, owner}, in *slot: the
 * Ref's value comes straight from its owner (SPEC 11.2), which the driver asked to send it
 * before this execution's GO. False while it has not come (the READ waits as for any
 * input: a plan stopped meanwhile goes on no further). It is checked against the input's
 * static payload here, where it arrives, as the driver checks the values it writes. */
static bool rt_xplan_take_ref_input(struct RtActorSelf *s, RtXPlan *p, RtXChan *c, DaftValue *slot)
{
    DaftRef m = slot->as.ref;
    if (!c->from_driver) { /* (only the driver sends markers: data types hold no Refs) */
        *slot = daft_value_error("plan '%s': a Ref on a channel between actors", p->name);
        return true;
    }
    DaftValue v;
    if (!rt_exec_try_xfer(s, m.id, m.owner, &v))
        return false;
    const RtXCheck *k = c->chk;
    if (k && !rt_payload_fits(&k->pl, &v)) {
        char want[256], got[256];
        rt_payload_str(&k->pl, want, sizeof want);
        rt_value_payload_str(&v, got, sizeof got);
        daft_value_free(&v);
        v = daft_value_error("%s: expected %s, got %s", k->where, want, got);
    }
    *slot = v;
    return true;
}

static bool rt_xplan_has_data(RtXPlan *p, RtXChan *c)
{
    if (!c->mapped || !c->is_reader)
        return false;
    if (p->tcp) {
        struct pollfd pf = {c->fd, POLLIN, 0};
        return c->fd >= 0 && (c->rxb.len >= 4 || poll(&pf, 1, 0) > 0);
    }
    return rt_ring_ready(&c->ring, c->rd.idx);
}

/* Does member j's value matter to this collective? (broadcast: only the root's) */
static bool rt_coll_needs(const RtXOp *o, uint32_t j)
{
    return (o->method & 0xff) != RT_COLL_BROADCAST || (int32_t)j == o->reader;
}

/* Takes what has arrived of the other members' values for COLLECTIVE op o; true once all
 * the op needs are there. */
static bool rt_xplan_collect(RtXPlan *p, const RtXOp *o)
{
    const RtXGroup *g = &p->groups[o->channel];
    bool all = true;
    for (uint32_t j = 0; j < g->n; j++) {
        if (j == g->me || p->coll_have[j] || !rt_coll_needs(o, j))
            continue;
        if (rt_xplan_try_read(p, &p->chans[g->base + j * g->n + g->me], &p->coll_vals[j]) <= 0)
            all = false;
        else
            p->coll_have[j] = true;
    }
    return all;
}

/* A COLLECTIVE op: send our value to the other members (once), then collect theirs;
 * resumable like a READ. Returns true once the result is in its slot. */
/* A CPU collective computes in host memory. Its values may still be GPU tensors: those of
 * GPU actors whose group is not over NCCL (two members placed on one GPU, which NCCL cannot
 * join). *host becomes a host copy of such a value (NONE for any other value); -1 when the
 * copy failed. */
static int rt_coll_host_copy(const DaftValue *v, DaftValue *host)
{
    *host = daft_value_none();
    if (v->kind != DAFT_V_TENSOR || !v->as.tensor.device)
        return 0;
    const DaftTensor *t = &v->as.tensor;
    *host = daft_value_tensor(t->dtype, t->rank, t->dims, NULL);
    if (host->kind != DAFT_V_TENSOR || rt_gpu_tensor_read(t, host->as.tensor.data)) {
        daft_value_free(host);
        return -1;
    }
    return 0;
}

/* This member's result of a CPU collective over the values by rank (its own is `mine`):
 * computed on host copies, and put on this actor's GPU when its own value was there. */
static DaftValue rt_xplan_coll_compute(struct RtActorSelf *s, RtXPlan *p, const RtXOp *o,
                                       const RtXGroup *g, const DaftValue *mine)
{
    char who[200]; /* its errors read like an interpreted collective's (SPEC 14.1) */
    snprintf(who, sizeof who, "actor '%s' (%s) method 'collective'", rt_exec_actor_name(s),
             rt_exec_actor_class(s));
    DaftValue mine_host, h;
    int bad = rt_coll_host_copy(mine, &mine_host);
    for (uint32_t j = 0; j < g->n; j++)
        if (j != g->me) {
            bad |= rt_coll_host_copy(&p->coll_vals[j], &h);
            if (h.kind != DAFT_V_NONE) {
                daft_value_free(&p->coll_vals[j]);
                p->coll_vals[j] = h;
            }
        }
    DaftValue saved = p->coll_vals[g->me]; /* shallow: rt_coll_compute only reads */
    p->coll_vals[g->me] = mine_host.kind != DAFT_V_NONE ? mine_host : *mine;
    DaftValue out = bad ? daft_value_error("plan '%s': collective: a GPU tensor could not be "
                                           "copied to the host", p->name)
                        : rt_coll_compute(o->method & 0xff, o->method >> 8, o->reader,
                                          p->coll_vals, (int)g->n, (int)g->me, who);
    p->coll_vals[g->me] = saved;
    if (mine_host.kind != DAFT_V_NONE)
        rt_gpu_tensor_upload(&out);
    daft_value_free(&mine_host);
    return out;
}

static bool rt_xplan_coll(struct RtActorSelf *s, RtXPlan *p, const RtXOp *o)
{
    const RtXGroup *g = &p->groups[o->channel];
    if (g->me >= g->n) {
        daft_value_free(&p->slots[o->dst]);
        p->slots[o->dst] = daft_value_error("plan '%s': collective on a group this actor is not in",
                                            p->name);
        return true;
    }
    if (!p->coll_started) {
        for (uint32_t j = 0; j < g->n; j++)
            p->coll_have[j] = false;
        p->coll_started = true;
        for (uint32_t j = 0; j < g->n; j++)
            if (j != g->me && rt_coll_needs(o, g->me))
                rt_xplan_send(s, p, g->base + g->me * g->n + j, -1, &p->slots[o->src], o);
    }
    if (!rt_xplan_collect(p, o))
        return false;
    DaftValue out = rt_xplan_coll_compute(s, p, o, g, &p->slots[o->src]);
    for (uint32_t j = 0; j < g->n; j++)
        if (j != g->me)
            daft_value_free(&p->coll_vals[j]);
    p->coll_started = false;
    daft_value_free(&p->slots[o->dst]);
    p->slots[o->dst] = out;
    return true;
}

/* A collective of one member over a tensor of rank >= 1: every kind's result is the
 * member's own tensor (a TP or data-parallel program run on one GPU), so no NCCL
 * operation, no copy when the tensor is not read again, and no wait between streams.
 * (Other values take the general path: allgather makes a list of them, for one.) */
static bool rt_xplan_coll_is_alone(const RtXPlan *p, const RtXOp *o)
{
    const RtXGroup *g = &p->groups[o->channel];
    const DaftValue *v = &p->slots[o->src];
    int kind = o->method & 0xff;
    if (g->n != 1 || g->me != 0 || v->kind != DAFT_V_TENSOR || v->as.tensor.rank < 1 ||
        kind > RT_COLL_BROADCAST || (kind == RT_COLL_BROADCAST && o->reader != 0))
        return false; /* the general path (errors included) */
    /* an NCCL group's result is on the GPU: a host tensor takes the path that uploads it */
    return rt_xnccl_group(p->gpu, (uint32_t)o->channel) < 0 || v->as.tensor.device != 0;
}

static void rt_xplan_coll_alone(RtXPlan *p, const RtXOp *o)
{
    DaftValue out = daft_value_none();
    if (o->src_last) {
        out = p->slots[o->src];
        p->slots[o->src] = daft_value_none();
    } else if (daft_value_copy(&out, &p->slots[o->src]) != 0) {
        out = daft_value_error("plan '%s': collective: out of memory copying the value", p->name);
    }
    daft_value_free(&p->slots[o->dst]);
    p->slots[o->dst] = out;
}

/* The GPU table when this GPU actor launches repeated calls as CUDA graphs (DAFT_GPU_GRAPHS=1,
 * opt-in), else NULL. */
static const RtGpuOps *rt_xplan_graphs(RtXPlan *p)
{
    if (!p->graphs) {
        const char *e = getenv("DAFT_GPU_GRAPHS");
        p->graphs = rt_gpu_active() && e && !strcmp(e, "1") ? 1 : -1;
    }
    return p->graphs > 0 ? rt_gpu_active() : NULL;
}

/* Is a whole execution of this plan being run as one graph here? (Its CALL ops are then
 * not call sites of their own.) */
static bool rt_xplan_in_iteration(const RtXPlan *p)
{
    return p->iter > 0 && p->iter_fit && p->iter_started && p->iter_own;
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
    const RtGpuOps *graphs = rt_xplan_in_iteration(p) ? NULL : rt_xplan_graphs(p);
    if (graphs) /* each CALL op is one call site (rt_gpu_graph.h) */
        graphs->graph_begin(((uint64_t)p->id << 32) | (uint64_t)(o - p->ops), p->argv, (int)o->nargs);
    rt_exec_invoke(s, o->method, p->argv, o->nargs, &out);
    char err[240];
    if (graphs && graphs->graph_end(&out, err, sizeof err) != 0) {
        daft_value_free(&out);
        out = daft_value_error("actor '%s' method '%s': %s", rt_exec_actor_name(s),
                               rt_exec_method_name(s, o->method), err);
    }
    if (b)
        atomic_store_explicit(&b->cur_method, 0, memory_order_relaxed);
    if (o->dst >= 0) {
        daft_value_free(&p->slots[o->dst]);
        p->slots[o->dst] = out;
    } else {
        /* no op reads the result (the schedule dropped it, or the method returns nothing): its
         * error would reach nobody, where a plain schedule's dropped Ref reports it (SPEC 14.2) */
        if (out.kind == DAFT_V_ERROR)
            rt_log("warning: unobserved error: %s", out.as.error.msg ? out.as.error.msg : "?");
        daft_value_free(&out);
    }
}

/* Writes the GPU results whose copies to the host are done (DAFT_GPU_ASYNC_WRITES). */
static void rt_xplan_flush_writes(struct RtActorSelf *s, RtXPlan *p)
{
    RtXWriteCtx x = {p, s};
    RtWait w = {-1, rt_xplan_alive_cb, rt_xplan_progress_cb, &x, false};
    for (uint32_t i = 0; p->nbusy && i < p->nchans; i++) {
        RtXChan *c = &p->chans[i];
        if (c->aw.busy && rt_pmsg_async_finish(&c->aw, &c->ring, false, &w) != 0)
            p->nbusy--;
    }
}

bool rt_xplan_ready(RtXPlan *p)
{
    if (p->stopped || !p->nops)
        return false;
    if (p->nbusy)
        return true; /* a GPU result to hand on once copied: keep polling */
    if (!rt_xplan_may_run(p))
        return false;
    if (rt_xnccl_setup_pending(p->gpu))
        return true; /* cheap to try: rank 0 sends the id, the others poll for it */
    const RtXOp *o = &p->ops[p->pc];
    if (o->kind == RT_OP_COLL && p->coll_started) {
        const RtXGroup *g = &p->groups[o->channel];
        for (uint32_t j = 0; j < g->n; j++)
            if (j != g->me && !p->coll_have[j] && rt_coll_needs(o, j) &&
                rt_xplan_has_data(p, &p->chans[g->base + j * g->n + g->me]))
                return true;
        return false;
    }
    if (o->kind != RT_OP_READ)
        return true;
    if (p->awaiting_ref) {
        DaftRef m = p->slots[o->dst].as.ref;
        return rt_exec_xfer_ready(p->self, m.id, m.owner);
    }
    return rt_xplan_has_data(p, &p->chans[o->channel]);
}

/* rt_xnccl.c's view of this plan's shared-memory channels. */
typedef struct RtXIoArg {
    struct RtActorSelf *s;
    RtXPlan *p;
} RtXIoArg;

static void rt_xio_send(void *arg, uint32_t ch, int32_t target, const DaftValue *v)
{
    RtXIoArg *a = arg;
    rt_xplan_send(a->s, a->p, ch, target, v, NULL);
}

static int rt_xio_try_read(void *arg, uint32_t ch, DaftValue *slot)
{
    RtXIoArg *a = arg;
    RtXChan *c = &a->p->chans[ch];
    if (!c->mapped || !c->is_reader)
        return 0;
    return rt_xplan_try_read(a->p, c, slot);
}

static bool rt_xio_alive(void *arg)
{
    RtXIoArg *a = arg;
    rt_exec_progress(a->s); /* a death notice stops the plan */
    return !a->p->stopped;
}

/* DAFT_STATS: op o is done; its last attempt began at t0, when a COLLECTIVE's input had
 * in_bytes (NCCL may reduce in place: afterwards its slot can be empty). A READ counts the
 * time since the previous op ended as waited for its value (an actor runs a plan's op as
 * soon as it can), a COLLECTIVE the same time as spent in it (with the wait for the other
 * members). */
static void rt_xplan_count(RtXPlan *p, const RtXOp *o, RtStats *st, uint32_t self, int64_t t0,
                           uint64_t in_bytes)
{
    int64_t now = rt_now_ns(), waited = now - p->ready_since;
    p->ready_since = now;
    if (o->kind == RT_OP_READ)
        rt_stats_add(st, RT_STAT_READ, self, p->id, (uint32_t)o->channel, 0, 1,
                     rt_stats_value_bytes(&p->slots[o->dst]), waited);
    else if (o->kind == RT_OP_WRITE) { /* (to one reader, or to each: values delivered) */
        const RtXChan *c = &p->chans[o->channel];
        uint64_t to = o->reader >= 0 || !c->mapped ? 1 : p->tcp ? c->nw : rt_ring_nreaders(&c->ring);
        rt_stats_add(st, RT_STAT_WRITE, self, p->id, (uint32_t)o->channel, 0, to,
                     to * rt_stats_value_bytes(&p->slots[o->src]), now - t0);
    } else if (o->kind == RT_OP_COLL)
        rt_stats_add(st, RT_STAT_COLL, self, p->id, (uint32_t)o->channel, 0, 1, in_bytes, waited);
}

/* ---------------------------------------------------------------- whole executions as graphs */

/* Is group k one whose members vote (an NCCL group of several, this actor among them)? */
static bool rt_xplan_votes_on(const RtXPlan *p, uint32_t k)
{
    const RtXGroup *g = &p->groups[k];
    return g->n > 1 && g->me < g->n && rt_xnccl_group(p->gpu, k) >= 0;
}

/* At the first execution: does this actor take part in the votes, and may its executions be
 * graphed? They may when every collective is over NCCL (or of one member), every read comes
 * from the driver before the last call or collective, and only writes and frees follow it
 * (the tail, run after the graph). Each member decides alone, so one that does not fit
 * still votes, NEVER, and the group's graphs stop after the first execution. */
static void rt_xplan_iter_decide(RtXPlan *p)
{
    const RtGpuOps *gr = rt_xplan_graphs(p);
    const char *off = getenv("DAFT_GPU_ITER_GRAPHS"); /* 0: call sites only (to measure) */
    p->iter = -1;
    if (!gr || !gr->iter_begin || (off && !strcmp(off, "0")))
        return;
    uint32_t voting = 0, slots = 0;
    for (uint32_t k = 0; k < p->ngroups; k++)
        if (rt_xplan_votes_on(p, k)) {
            voting++;
            slots += p->groups[k].n;
        }
    int64_t last = -1;
    for (uint32_t i = 0; i < p->nops; i++)
        if (p->ops[i].kind == RT_OP_CALL || p->ops[i].kind == RT_OP_COLL)
            last = i;
    /* (a plan that takes turns: no task or other such plan runs while an execution waits
     * mid-way, reading a kept result the graph has not filled yet) */
    bool fit = voting <= 1 && last >= 0 && (uint64_t)last + 1 < p->nops && p->sequenced;
    for (uint32_t i = 0; fit && i < p->nops; i++) {
        const RtXOp *o = &p->ops[i];
        if (o->kind == RT_OP_COLL)
            fit = p->groups[o->channel].n == 1 || rt_xnccl_group(p->gpu, (uint32_t)o->channel) >= 0;
        else if (o->kind == RT_OP_READ)
            fit = i < last && p->chans[o->channel].from_driver && !rt_xnccl_chan(p->gpu, (uint32_t)o->channel);
        else if (o->kind == RT_OP_WRITE)
            fit = i > last && !rt_xnccl_chan(p->gpu, (uint32_t)o->channel);
    }
    if (!voting && !fit)
        return;
    if (slots && !(p->vote_have = calloc(slots, sizeof *p->vote_have)))
        return;
    p->iter = 1;
    p->iter_fit = fit;
    p->vote_pc = fit ? (uint32_t)last + 1 : p->nops - 1;
}

/* This actor's vote on execution execs + 1, to every other member of its voting groups. */
static void rt_xplan_iter_vote(RtXPlan *p, int vote)
{
    p->iter_voted = true;
    p->iter_mine = vote;
    if (vote < p->iter_all)
        p->iter_all = vote;
    DaftValue v = daft_value_i64((int64_t)(p->execs + 1) * 4 + vote + 1);
    for (uint32_t k = 0; k < p->ngroups; k++) {
        const RtXGroup *g = &p->groups[k];
        for (uint32_t j = 0; rt_xplan_votes_on(p, k) && j < g->n; j++)
            if (j != g->me)
                rt_xplan_send(p->self, p, g->base + g->me * g->n + j, -1, &v, NULL);
    }
}

/* The check of this execution failed before its tail (rt_gpu_graph.c): vote now, before the
 * operations so far run, which may wait for the other members' GPUs. */
static void rt_xplan_iter_diverged(void *arg)
{
    RtXPlan *p = arg;
    if (!p->iter_voted)
        rt_xplan_iter_vote(p, RTGRAPH_NEVER);
}

/* Takes the other members' votes on this execution; true once all are in. */
static bool rt_xplan_iter_take_votes(RtXPlan *p)
{
    bool all = true;
    uint32_t at = 0;
    for (uint32_t k = 0; k < p->ngroups; k++) {
        if (!rt_xplan_votes_on(p, k))
            continue;
        const RtXGroup *g = &p->groups[k];
        for (uint32_t j = 0; j < g->n; j++, at++) {
            if (j == g->me || p->vote_have[at])
                continue;
            DaftValue v = daft_value_none();
            if (rt_xplan_try_read(p, &p->chans[g->base + j * g->n + g->me], &v) <= 0) {
                all = false;
                continue;
            }
            p->vote_have[at] = true;
            int64_t x = v.kind == DAFT_V_I64 ? v.as.i64 : -1;
            daft_value_free(&v);
            if (x < 0 || (uint64_t)(x / 4) != p->execs + 1 || x % 4 > 2) {
                char why[160];
                rt_fmt(why, sizeof why, "plan '%s': a member's CUDA graph vote on execution %llu "
                       "is out of step", p->name, (unsigned long long)(p->execs + 1));
                rt_xplan_fail(p, why);
                return false;
            }
            if ((int)(x % 4) - 1 < p->iter_all)
                p->iter_all = (int)(x % 4) - 1;
        }
    }
    return all;
}

/* Before op pc of an execution: begins the execution's graph (its first op), and at the
 * tail votes, takes the votes and launches or runs the record. false: waiting for votes. */
static bool rt_xplan_iter_point(struct RtActorSelf *s, RtXPlan *p)
{
    const RtGpuOps *gr = rt_gpu_active();
    if (p->pc == 0 && !p->iter_started) {
        p->iter_started = true;
        p->iter_voted = p->iter_tailed = p->iter_taken = false;
        p->iter_all = RTGRAPH_LAUNCH;
        uint32_t slots = 0;
        for (uint32_t k = 0; k < p->ngroups; k++)
            slots += rt_xplan_votes_on(p, k) ? p->groups[k].n : 0;
        if (slots)
            memset(p->vote_have, 0, slots * sizeof *p->vote_have);
        int v = p->iter_fit ? gr->iter_begin(((uint64_t)p->id << 32) | 0xffffffffu,
                                              rt_xplan_iter_diverged, p)
                            : RTGRAPH_NEVER;
        /* BUSY: another plan's execution waits mid-way in the graphs (plans that do not take
         * turns); this one runs as usual and leaves the graphs alone */
        p->iter_own = p->iter_fit && v != RTGRAPH_BUSY;
        if (v == RTGRAPH_BUSY)
            v = RTGRAPH_NOT_NOW;
        p->iter_check = v == RTGRAPH_CHECK;
        if (!p->iter_check)
            rt_xplan_iter_vote(p, v);
    }
    if (p->pc != p->vote_pc || p->iter_taken)
        return true;
    if (!p->iter_tailed) {
        p->iter_tailed = true;
        int v = p->iter_own ? gr->iter_verdict() : RTGRAPH_NEVER;
        if (!p->iter_voted)
            rt_xplan_iter_vote(p, v);
    }
    if (!rt_xplan_iter_take_votes(p))
        return false;
    p->iter_taken = true;
    char err[240];
    if (p->iter_mine == RTGRAPH_LAUNCH && p->iter_all == RTGRAPH_LAUNCH && p->gpu) {
        /* A launch of a graph that holds NCCL operations blocks the host until the stream's
         * earlier work is done (SPEC 15.5), and that work may wait for a member that died
         * after it voted: the launch would never return, and the death would never be
         * noticed here. So wait first, polling, as the launch would wait anyway. */
        RtXIoArg xa = {s, p};
        RtXIo io = {rt_xio_send, rt_xio_try_read, rt_xio_alive, &xa};
        if (rt_xnccl_wait_gpu(p->gpu, &io, err, sizeof err) != 0) {
            if (!p->stopped) {
                char why[400];
                rt_fmt(why, sizeof why, "actor '%s' plan '%s': %s", rt_exec_actor_name(s), p->name, err);
                rt_xplan_fail(p, why);
            }
            return true;
        }
    }
    if (p->iter_mine == RTGRAPH_LAUNCH && gr->iter_go(p->iter_all == RTGRAPH_LAUNCH, err, sizeof err)) {
        char why[400];
        rt_fmt(why, sizeof why, "actor '%s' plan '%s': %s", rt_exec_actor_name(s), p->name, err);
        rt_xplan_fail(p, why);
    }
    return true;
}

/* The execution's last op is done. */
static void rt_xplan_iter_done(RtXPlan *p)
{
    if (p->iter_own)
        rt_gpu_active()->iter_end();
    p->iter_started = false;
    if (p->iter_all != RTGRAPH_NEVER)
        return;
    p->iter = -1; /* (every member saw the same votes) */
    if (p->iter_fit) /* its captured graph and arena go now, not at the plan's unload */
        rt_gpu_active()->graph_forget(p->id);
}

static bool rt_xplan_step_ops(struct RtActorSelf *s, RtXPlan *p);

bool rt_xplan_step(struct RtActorSelf *s, RtXPlan *p)
{
    bool mid = rt_xplan_in_iteration(p);
    if (mid) /* (tasks may have run since it paused) */
        rt_gpu_active()->iter_pause(false);
    bool did = rt_xplan_step_ops(s, p);
    if (rt_xplan_in_iteration(p))
        rt_gpu_active()->iter_pause(true);
    return did;
}

static bool rt_xplan_step_ops(struct RtActorSelf *s, RtXPlan *p)
{
    bool did = false;
    RtTrace *tr = rt_exec_trace(s);
    uint32_t self;
    RtStats *st = rt_exec_stats(s, &self);
    RtXIoArg xa = {s, p};
    RtXIo io = {rt_xio_send, rt_xio_try_read, rt_xio_alive, &xa};
    if (p->nbusy)
        rt_xplan_flush_writes(s, p);
    /* communicators are made at the first execution, in its turn (a member waiting for
     * one while its GPU holds another plan's NCCL kernels would wait forever) */
    if (!p->stopped && rt_xplan_may_run(p) && rt_xnccl_setup_pending(p->gpu) &&
        rt_xnccl_setup(p->gpu, &io) == 0)
        return false; /* waiting for a communicator's unique id */
    while (!p->stopped && p->nops) {
        if (!rt_xplan_may_run(p))
            return did;
        if (p->needs_go && p->pc == 0 && !p->go_taken) {
            p->go_credits--;
            p->go_taken = true;
        }
        if (p->pc == 0 && p->stop_at && p->execs + 1 >= p->stop_at) {
            rt_xplan_stop(p); /* (the executions before it could still complete) */
            return true;
        }
        if (p->pc == 0 && p->fail_at && p->execs + 1 == p->fail_at) {
            char why[96];
            rt_fmt(why, sizeof why, "execution %llu failed (DAFT_TEST_FAIL_PLAN_RUN)",
                   (unsigned long long)p->fail_at);
            rt_xplan_fail(p, why);
            return true;
        }
        if (!p->iter && p->pc == 0)
            rt_xplan_iter_decide(p);
        if (p->iter > 0 && !rt_xplan_iter_point(s, p))
            return did;
        if (p->stopped)
            return true;
        const RtXOp *o = &p->ops[p->pc];
        int64_t t0 = tr->on || st->on ? rt_now_ns() : 0;
        uint64_t in_bytes = st->on && o->kind == RT_OP_COLL ? rt_stats_value_bytes(&p->slots[o->src]) : 0;
        switch (o->kind) {
        case RT_OP_READ: {
            RtXChan *c = &p->chans[o->channel];
            if (rt_xnccl_chan(p->gpu, (uint32_t)o->channel)) {
                if (rt_xnccl_try_read(p->gpu, &io, (uint32_t)o->channel, &p->slots[o->dst]) <= 0)
                    return did;
                break;
            }
            if (!p->awaiting_ref &&
                (!c->mapped || !c->is_reader || rt_xplan_try_read(p, c, &p->slots[o->dst]) <= 0))
                return did;
            p->awaiting_ref = p->slots[o->dst].kind == DAFT_V_REF &&
                              !rt_xplan_take_ref_input(s, p, c, &p->slots[o->dst]);
            if (p->awaiting_ref)
                return did;
            if (rt_xplan_in_iteration(p))
                rt_gpu_active()->iter_input(&p->slots[o->dst]);
            break;
        }
        case RT_OP_WRITE: {
            DaftValue bad = rt_xplan_misfit(s, p, o);
            const DaftValue *v = bad.kind == DAFT_V_ERROR ? &bad : &p->slots[o->src];
            if (rt_xnccl_chan(p->gpu, (uint32_t)o->channel))
                rt_xnccl_write(p->gpu, &io, (uint32_t)o->channel, o->reader, v,
                               rt_xplan_next_nccl_read(p, p->pc));
            else
                rt_xplan_send(s, p, (uint32_t)o->channel, o->reader, v, NULL);
            daft_value_free(&bad);
            break;
        }
        case RT_OP_COLL:
            if (rt_xplan_coll_is_alone(p, o)) {
                rt_xplan_coll_alone(p, o);
                break;
            }
            if (rt_xnccl_group(p->gpu, (uint32_t)o->channel) >= 0) {
                DaftValue res = rt_xnccl_coll(p->gpu, (uint32_t)o->channel, o->method & 0xff,
                                              o->method >> 8, o->reader, &p->slots[o->src],
                                              o->feeds_next);
                daft_value_free(&p->slots[o->dst]);
                p->slots[o->dst] = res;
                break;
            }
            if (!rt_xplan_coll(s, p, o))
                return did;
            break;
        case RT_OP_CALL: rt_xplan_call(s, p, o); break;
        case RT_OP_FREE: daft_value_free(&p->slots[o->src]); break;
        default: break;
        }
        if (p->gpu)
            rt_xplan_note_gpu_failure(p);
        if (st->on)
            rt_xplan_count(p, o, st, self, t0, in_bytes);
        if (tr->on) /* one slice per op, named like the plan printer names them */
            rt_trace_slice(tr, o->kind == RT_OP_CALL ? rt_exec_method_name(s, o->method)
                               : o->kind == RT_OP_READ ? "read" : o->kind == RT_OP_WRITE ? "write"
                               : o->kind == RT_OP_COLL ? "collective" : "free",
                           o->kind == RT_OP_CALL ? "compute" : o->kind == RT_OP_COLL ? "collective" : "channel",
                           t0, rt_now_ns());
        did = true;
        if (++p->pc == p->nops) { /* one execution done: let other plans and tasks run */
            if (p->iter > 0)
                rt_xplan_iter_done(p);
            p->pc = 0;
            p->go_taken = false;
            p->execs++;
            const RtXOp *first = &p->ops[0];
            if (first->kind == RT_OP_READ && rt_xnccl_chan(p->gpu, (uint32_t)first->channel) &&
                !p->stopped && !(p->stop_at && p->execs + 1 >= p->stop_at))
                rt_xnccl_prepost_next(p->gpu, (uint32_t)first->channel);
            if (p->sequenced)
                rt_exec_plan_turn_done(p->self, p->id);
            return true;
        }
    }
    return did;
}
