/* rt_xnccl.c — NCCL channels and NCCL collectives of compiled plans (actor side).
 *
 * The driver (rt_compiled.c, rt_plan_gpu_*) realises a plan channel of transport NCCL
 * over NCCL when its writer and every reader are GPU actors, and a collective group of
 * transport NCCL when every member is; everything else stays on the CPU transports (as
 * in CPU-only mode, where no actor has a GPU). It appends to each actor's PLAN_LOAD a GPU
 * section (see rt_xnccl_load) describing the plan's communicators — one of two ranks for
 * each pair of actors an NCCL channel joins (point to point), one per NCCL group — and a
 * bootstrap channel per communicator (a shared-memory ring from its rank 0 to the other
 * ranks) on which rank 0 sends the NCCL unique id it made. Each member creates its
 * communicators once, in the same order, when the plan first runs.
 *
 * One transfer on an NCCL channel: the writer puts a small control value on the
 * channel's ring — NONE for "a tensor of the static shape follows", [dtype, dims...] for
 * "a tensor of this dtype and shape follows" (shape not static: metadata first), or the
 * value itself when it is not a GPU tensor of the expected shape (an error, a CPU value):
 * then no NCCL operation happens on either side — then ncclSend of the data to each
 * reader on the communication stream. The reader takes the control value, allocates the
 * receive buffer from the stream-ordered pool and posts ncclRecv. Both sides issue their
 * NCCL operations in program order, which the planner made consistent with one global
 * sequence, so no plan can deadlock. The 1-byte control message keeps errors flowing
 * along NCCL edges without ever leaving a peer waiting in NCCL.
 *
 * Pre-posted receives (on unless DAFT_NCCL_PREPOST=0 where the driver runs; it tells every
 * member in the GPU section, as writer and reader must agree. Measured on 2 x H100, sixth
 * session: a 1 MiB stream 32 us an execution against 37-44 without, 8 B 13 against 14-17): on
 * a static-shape channel the reader posts ncclRecv when its READ op is reached, before the
 * control value arrives, so the transfer no longer waits for the writer's control value to
 * cross to the reader's CPU and for that CPU to launch the receive (the 8-byte round trip's
 * critical path). Then the writer always sends a tensor of the static shape: a value that
 * is not one (an error, a CPU value) travels on the ring as a one-item list, [value], and a
 * buffer of the static shape (the writer's scratch, kept for the next such value; its
 * contents unused) satisfies the posted receives (the reader frees what it received and
 * takes the value). A writer whose communicators failed sends its error bare; a reader
 * holding a posted receive then aborts its communicators, as nothing will arrive.
 * A posted receive stays open while the reader's actor does other work; whatever makes its
 * compute stream wait for all communication (a method using daft_ctx_stream, a std
 * reduction returning a host value) must not then wait for the writer, whose send may
 * depend on that work: the receive is posted "held" (the GPU table's recv_held), which
 * such joins leave out until its control value comes (release). Opt-in until measured.
 *
 * Failures: rt_xnccl_abort (plan stopped: a member died, or unloaded) aborts every
 * communicator (ncclCommAbort never waits for peers); asynchronous NCCL errors are polled
 * after each NCCL op and become the op's error value. A failure here (g->failed) aborts
 * only this member's communicators, so its plan reports it to the driver, which unloads
 * the plan from every actor: the others' aborts free them from NCCL. */
#define _GNU_SOURCE
#include "rt_gpu.h"
#include "rt_internal.h"
#include "rt_xnccl.h"

#include <stdlib.h>
#include <string.h>

typedef struct RtXComm {
    uint32_t boot;  /* bootstrap channel */
    int n, rank;    /* rank -1: not a member */
    RtGpuComm *c;
} RtXComm;

/* The other end of an NCCL channel: its communicator (of two ranks) and rank there. */
typedef struct RtXPeer {
    uint32_t comm;
    int rank;
} RtXPeer;

typedef struct RtXNChan {
    bool on;            /* realised over NCCL */
    int npeers;         /* the writer: its readers, in order; a reader: the writer */
    RtXPeer *peers;
    bool meta_first;
    DaftRtDtype dtype;
    int rank;
    int64_t dims[DAFT_MAX_RANK];
    bool posted;        /* READ, pre-posting: this transfer's receive is posted, into post */
    DaftTensor post;    /* (data NULL: posting it failed; g->err says why) */
} RtXNChan;

struct RtXNccl {
    const RtGpuOps *ops;
    RtXComm *comms;
    uint32_t ncomms;
    uint32_t ready;     /* communicators created so far (in order) */
    RtXNChan *chans;
    uint32_t nchans;
    int32_t *group_comm; /* [group] comm index or -1 */
    uint32_t ngroups;
    bool failed;
    bool prepost;       /* DAFT_NCCL_PREPOST: static-shape receives posted before the control */
    bool prepost_next;  /* and a program's first one as the previous execution ends
                         * (unless DAFT_NCCL_PREPOST_NEXT=0; read once, at load) */
    DaftTensor scratch; /* pre-posting, writer: sent in place of a value that is not a tensor */
    char err[400];
    DaftValue tmp;
};

void rt_xnccl_free(RtXNccl *g)
{
    if (!g)
        return;
    for (uint32_t i = 0; i < g->ncomms; i++)
        if (g->comms[i].c) {
            g->ops->comm_abort(g->comms[i].c);
            g->ops->comm_destroy(g->comms[i].c);
        }
    for (uint32_t i = 0; i < g->nchans; i++) {
        if (g->chans[i].post.data) /* (posted, never taken; freed after its receive) */
            g->ops->free(&g->chans[i].post);
        free(g->chans[i].peers);
    }
    if (g->scratch.data) /* (after its sends) */
        g->ops->free(&g->scratch);
    daft_value_free(&g->tmp);
    free(g->comms);
    free(g->chans);
    free(g->group_comm);
    free(g);
}

int rt_xnccl_wait_gpu(RtXNccl *g, const RtXIo *io, char *err, size_t cap)
{
    RtGpuComm *cs[64];
    int n = 0;
    for (uint32_t i = 0; g && i < g->ncomms && n < 64; i++)
        if (g->comms[i].c)
            cs[n++] = g->comms[i].c;
    if (!n)
        return 0;
    return g->ops->wait(cs, n, io->alive, NULL, io->arg, err, cap);
}

void rt_xnccl_abort(RtXNccl *g)
{
    for (uint32_t i = 0; g && i < g->ncomms; i++)
        if (g->comms[i].c)
            g->ops->comm_abort(g->comms[i].c);
}

/* The GPU section: u32 ncomms { u32 boot, u32 n, i32 rank }; u32 nnccl { u32 ch, u32
 * npeers { u32 comm, i32 rank }, u8 meta_first, u8 dtype, i32 rank, i64 dims[] }; u32
 * ngroups { i32 comm }; u8 prepost. */
RtXNccl *rt_xnccl_load(RtRd *r, uint32_t nchans, uint32_t ngroups, char *err, size_t cap)
{
    RtXNccl *g = calloc(1, sizeof *g);
    if (!g)
        return NULL;
    g->ops = rt_gpu_active();
    g->nchans = nchans;
    g->ngroups = ngroups;
    g->chans = calloc(nchans + 1, sizeof *g->chans);
    g->group_comm = calloc(ngroups + 1, sizeof *g->group_comm);
    g->ncomms = rt_rd_u32(r);
    g->comms = calloc(g->ncomms + 1, sizeof *g->comms);
    bool bad = r->bad || !g->chans || !g->group_comm || !g->comms || g->ncomms > 4096;
    for (uint32_t i = 0; !bad && i < g->ncomms; i++) {
        g->comms[i].boot = rt_rd_u32(r);
        g->comms[i].n = (int)rt_rd_u32(r);
        g->comms[i].rank = (int32_t)rt_rd_u32(r);
        bad = r->bad || g->comms[i].boot >= nchans || g->comms[i].rank >= g->comms[i].n;
    }
    uint32_t nn = bad ? 0 : rt_rd_u32(r);
    for (uint32_t i = 0; !bad && i < nn; i++) {
        uint32_t ch = rt_rd_u32(r);
        if (r->bad || ch >= nchans) {
            bad = true;
            break;
        }
        RtXNChan *c = &g->chans[ch];
        c->on = true;
        c->npeers = (int)rt_rd_u32(r);
        if (r->bad || c->npeers < 1 || c->npeers > RT_RING_MAX_READERS || c->peers) {
            bad = true;
            break;
        }
        c->peers = calloc((size_t)c->npeers, sizeof *c->peers);
        for (int k = 0; c->peers && k < c->npeers; k++) {
            RtXPeer *q = &c->peers[k];
            q->comm = rt_rd_u32(r);
            q->rank = (int32_t)rt_rd_u32(r);
            bad |= q->comm >= g->ncomms || g->comms[q->comm].rank < 0 || q->rank < 0 ||
                   q->rank >= g->comms[q->comm].n || q->rank == g->comms[q->comm].rank;
        }
        c->meta_first = rt_rd_u8(r);
        c->dtype = (DaftRtDtype)rt_rd_u8(r);
        c->rank = (int32_t)rt_rd_u32(r);
        bad |= !c->peers || c->rank > DAFT_MAX_RANK;
        for (int k = 0; !bad && k < c->rank; k++)
            c->dims[k] = (int64_t)rt_rd_u64(r);
        if (c->rank < 0 || c->dtype >= DAFT_RT_DTYPE_COUNT)
            c->meta_first = true;
    }
    uint32_t ng = bad ? 0 : rt_rd_u32(r);
    bad |= ng != ngroups;
    for (uint32_t i = 0; !bad && i < ng; i++) {
        g->group_comm[i] = (int32_t)rt_rd_u32(r);
        bad = g->group_comm[i] >= (int32_t)g->ncomms;
    }
    g->prepost = bad ? false : rt_rd_u8(r) != 0;
    const char *next = getenv("DAFT_NCCL_PREPOST_NEXT");
    g->prepost_next = !(next && !strcmp(next, "0"));
    if (bad || r->bad) {
        rt_fmt(err, cap, "malformed GPU section");
        rt_xnccl_free(g);
        return NULL;
    }
    return g;
}

bool rt_xnccl_chan(const RtXNccl *g, uint32_t ch) { return g && ch < g->nchans && g->chans[ch].on; }
int rt_xnccl_group(const RtXNccl *g, uint32_t grp)
{
    return g && grp < g->ngroups ? g->group_comm[grp] : -1;
}
const char *rt_xnccl_error(const RtXNccl *g) { return g && g->failed ? g->err : NULL; }

/* Setup failed at communicator g->ready (g->err says why): every communicator from there
 * on whose rank 0 this actor is and whose id it has not sent gets an error value instead,
 * so that its other members stop waiting for an id (they fail the same way). */
static int setup_failed(RtXNccl *g, const RtXIo *io, bool id_sent)
{
    g->failed = true;
    for (uint32_t k = g->ready; k < g->ncomms; k++) {
        RtXComm *c = &g->comms[k];
        if (c->rank != 0 || (k == g->ready && id_sent))
            continue;
        DaftValue e = daft_value_error("NCCL communicator %u: rank 0 could not take part: %s", k, g->err);
        io->send(io->arg, c->boot, -1, &e);
        daft_value_free(&e);
    }
    return DAFT_EPEER;
}

/* Creates the communicators in order; 1 when all exist, 0 when waiting for a unique id,
 * < 0 on failure (g->err). */
int rt_xnccl_setup(RtXNccl *g, const RtXIo *io)
{
    if (g->failed)
        return DAFT_EPEER;
    while (g->ready < g->ncomms) {
        RtXComm *c = &g->comms[g->ready];
        if (c->rank < 0) { /* not a member (a CPU actor of the plan, say) */
            g->ready++;
            continue;
        }
        if (!g->ops) {
            rt_fmt(g->err, sizeof g->err, "NCCL channels need a GPU actor");
            return setup_failed(g, io, false);
        }
        uint8_t id[RT_NCCL_ID_BYTES];
        if (c->rank == 0) {
            if (g->ops->nccl_id(id, g->err, sizeof g->err))
                return setup_failed(g, io, false);
            DaftValue v = daft_value_strn((const char *)id, sizeof id);
            io->send(io->arg, c->boot, -1, &v);
            daft_value_free(&v);
        } else {
            int rc = io->try_read(io->arg, c->boot, &g->tmp);
            if (rc <= 0)
                return rc < 0 ? rc : 0;
            if (g->tmp.kind != DAFT_V_STR || g->tmp.as.str.len != sizeof id) {
                if (g->tmp.kind == DAFT_V_ERROR)
                    rt_fmt(g->err, sizeof g->err, "%s", g->tmp.as.error.msg);
                else
                    rt_fmt(g->err, sizeof g->err, "bad NCCL unique id on the bootstrap channel");
                daft_value_free(&g->tmp);
                return setup_failed(g, io, false);
            }
            memcpy(id, g->tmp.as.str.ptr, sizeof id);
            daft_value_free(&g->tmp);
        }
        if (g->ops->comm_init(&c->c, id, c->n, c->rank, rt_nccl_init_timeout(), io->alive,
                              io->arg, g->err, sizeof g->err))
            return setup_failed(g, io, c->rank == 0);
        g->ready++;
    }
    return 1;
}

bool rt_xnccl_setup_pending(const RtXNccl *g) { return g && !g->failed && g->ready < g->ncomms; }

void rt_xnccl_use_ops(RtXNccl *g, const RtGpuOps *ops) { g->ops = ops; }

/* Does the reader post this channel's receive before the control value? */
static bool prepost_chan(const RtXNccl *g, const RtXNChan *c) { return g->prepost && !c->meta_first; }

/* t: a tensor of the channel's static shape (no data). */
static DaftTensor static_tensor(const RtXNChan *c)
{
    DaftTensor t;
    memset(&t, 0, sizeof t);
    t.dtype = c->dtype;
    t.rank = c->rank;
    memcpy(t.dims, c->dims, sizeof t.dims);
    return t;
}

static bool conforming(const RtXNChan *c, const DaftValue *v, int dev)
{
    if (v->kind != DAFT_V_TENSOR || daft_tensor_gpu(&v->as.tensor) != dev || dev < 0)
        return false;
    if (c->meta_first)
        return true;
    const DaftTensor *t = &v->as.tensor;
    if (t->dtype != c->dtype || t->rank != c->rank)
        return false;
    for (int i = 0; i < t->rank; i++)
        if (t->dims[i] != c->dims[i])
            return false;
    return true;
}

static RtGpuComm *peer_comm(RtXNccl *g, const RtXPeer *q) { return g->comms[q->comm].c; }

/* Pre-posting, a value that is not a tensor of the static shape: the control value [v] (0),
 * and in *dummy a buffer of the static shape's size to satisfy the readers' receives (in
 * g->scratch, made or grown here; its contents are never read); or -1 (g failed: v is then
 * sent bare). */
static int wrap_misfit(RtXNccl *g, const RtXNChan *c, const DaftValue *v, DaftValue *ctl,
                       DaftTensor *dummy)
{
    *dummy = static_tensor(c);
    if (!g->scratch.data || rtg_nbytes(&g->scratch) < rtg_nbytes(dummy)) {
        if (g->scratch.data)
            g->ops->free(&g->scratch); /* (after the sends that read it) */
        g->scratch = static_tensor(c);
        if (g->ops->alloc(&g->scratch, g->err, sizeof g->err)) {
            g->scratch.data = NULL;
            g->failed = true;
            rt_xnccl_abort(g);
            return -1;
        }
    }
    dummy->data = g->scratch.data; /* (the first bytes of it are sent) */
    dummy->device = g->scratch.device;
    *ctl = daft_value_list(1);
    if (ctl->kind == DAFT_V_LIST && daft_value_copy(&ctl->as.list.items[0], v) != 0) {
        daft_value_free(&ctl->as.list.items[0]);
        ctl->as.list.items[0] = daft_value_error("NCCL channel: out of memory copying a value");
    }
    if (ctl->kind != DAFT_V_LIST) { /* (no memory even for the list: fail as a writer) */
        daft_value_free(ctl);
        *ctl = daft_value_none();
        rt_fmt(g->err, sizeof g->err, "out of memory wrapping a value for NCCL");
        g->failed = true;
        rt_xnccl_abort(g);
        return -1;
    }
    return 0;
}

/* The READ channel next_read, whose receive the write to c's reader may post in its own
 * group: pre-posted, not yet posted, from that same reader over the same communicator. */
static RtXNChan *fusable_read(RtXNccl *g, const RtXNChan *c, int32_t target, int32_t next_read)
{
    if (next_read < 0 || (uint32_t)next_read >= g->nchans || !g->ops->recv_held_grouped ||
        !g->ops->held_groupable)
        return NULL;
    RtXNChan *r = &g->chans[next_read];
    bool one_reader = c->npeers == 1 && (target < 0 || target == 0);
    if (!r->on || !one_reader || !prepost_chan(g, r) || r->posted || r->npeers != 1)
        return NULL;
    RtGpuComm *comm = peer_comm(g, &r->peers[0]);
    return comm == peer_comm(g, &c->peers[0]) && g->ops->held_groupable(comm) ? r : NULL;
}

void rt_xnccl_write(RtXNccl *g, const RtXIo *io, uint32_t ch, int32_t target, const DaftValue *v,
                    int32_t next_read)
{
    RtXNChan *c = &g->chans[ch];
    bool fits = !g->failed && conforming(c, v, g->ops->device());
    DaftValue ctl = daft_value_none();
    DaftTensor dummy;
    memset(&dummy, 0, sizeof dummy);
    if (!fits && (g->failed || !prepost_chan(g, c) || wrap_misfit(g, c, v, &ctl, &dummy))) {
        DaftValue e = g->failed ? daft_value_error("%s", g->err) : daft_value_none();
        io->send(io->arg, ch, target, g->failed ? &e : v);
        daft_value_free(&e);
        return;
    }
    const DaftTensor *data = fits ? &v->as.tensor : &dummy;
    if (fits && c->meta_first) {
        const DaftTensor *t = &v->as.tensor;
        ctl = daft_value_list((size_t)t->rank + 1);
        ctl.as.list.items[0] = daft_value_i64(t->dtype);
        for (int i = 0; i < t->rank; i++)
            ctl.as.list.items[i + 1] = daft_value_i64(t->dims[i]);
    }
    io->send(io->arg, ch, target, &ctl);
    daft_value_free(&ctl);
    g->ops->group_start();
    int rc = 0, last = 0;
    for (int k = 0; !rc && k < c->npeers; k++)
        if (target < 0 || target == k) {
            rc = g->ops->send(peer_comm(g, &c->peers[k]), data, c->peers[k].rank, g->err,
                              sizeof g->err);
            last = k;
        }
    RtXNChan *r = rc ? NULL : fusable_read(g, c, target, next_read);
    if (r) { /* (a failure is reported when its control value comes, as in try_read) */
        r->post = static_tensor(r);
        rc = g->ops->recv_held_grouped(peer_comm(g, &r->peers[0]), &r->post, r->peers[0].rank,
                                       g->err, sizeof g->err);
        r->posted = true;
    }
    int rc2 = g->ops->group_end(peer_comm(g, &c->peers[last]), rc ? NULL : g->err, sizeof g->err);
    if (rc || rc2) {
        if (r && r->post.data)
            g->ops->free(&r->post); /* (stream-ordered after whatever was launched) */
        if (r)
            r->post.data = NULL;
        g->failed = true;
        rt_xnccl_abort(g);
    }
}

/* Posts the receive of t (shape set) from the channel's writer, held (pre-posted: see the
 * GPU table's recv_held) or not: 0, or -1 with g failed and its communicators aborted (t
 * has no data then). */
static int recv_into(RtXNccl *g, const RtXNChan *c, DaftTensor *t, bool held)
{
    /* on the communication stream even when the next call reads the value: posted there, a
     * stream of receives overlaps the calls (on the compute stream, measured on 2 x H100,
     * 8 B executions took 17.2 us instead of 12.4, 1 MiB 48.4 instead of 44.5) */
    RtGpuComm *from = peer_comm(g, &c->peers[0]);
    int e1 = 0, e2 = 0;
    if (held) {
        e1 = g->ops->recv_held(from, t, c->peers[0].rank, g->err, sizeof g->err);
    } else {
        g->ops->group_start();
        e1 = g->ops->recv(from, t, c->peers[0].rank, g->err, sizeof g->err);
        e2 = g->ops->group_end(from, e1 ? NULL : g->err, sizeof g->err);
    }
    if (!e1 && !e2)
        return 0;
    if (t->data)
        g->ops->free(t);
    t->data = NULL;
    g->failed = true;
    rt_xnccl_abort(g);
    return -1;
}

/* Pre-posting: the control value `slot` of a transfer, whose receive is posted unless this
 * reader had failed before (then there is no buffer, and the value is an error). */
static int take_posted(RtXNccl *g, RtXNChan *c, uint32_t ch, DaftValue *slot)
{
    DaftTensor t = c->post;
    memset(&c->post, 0, sizeof c->post);
    c->posted = false;
    if (t.data) /* the sender has committed (or failed): an ordinary receive from now on */
        g->ops->release(peer_comm(g, &c->peers[0]));
    if (slot->kind == DAFT_V_NONE) { /* the data: already being received into t */
        if (!t.data) {
            *slot = daft_value_error("NCCL receive on channel %u: %s", ch, g->err);
            return 1;
        }
        slot->kind = DAFT_V_TENSOR;
        slot->as.tensor = t;
        return 1;
    }
    if (slot->kind == DAFT_V_LIST && slot->as.list.len == 1) { /* [value]: t got a dummy */
        DaftValue v = slot->as.list.items[0];
        slot->as.list.items[0] = daft_value_none();
        daft_value_free(slot);
        *slot = v;
        if (t.data)
            g->ops->free(&t);
        return 1;
    }
    /* a bare value: the writer failed and sends nothing; our receive would never finish */
    if (t.data) {
        if (!g->failed)
            rt_fmt(g->err, sizeof g->err, "the writer of NCCL channel %u failed", ch);
        g->failed = true;
        rt_xnccl_abort(g);
        g->ops->free(&t);
    }
    if (slot->kind == DAFT_V_LIST) { /* (malformed: a list of another length) */
        daft_value_free(slot);
        *slot = daft_value_error("NCCL channel %u: malformed control value", ch);
    }
    return 1;
}

/* Why now: the next execution starts only with its GO, which the driver may send only once
 * it has this execution's result (a round trip, W3); a receive posted then (~12 us of CPU) lay
 * on the round trip's path, before this actor could answer. Posted now, it waits on the GPU
 * (held: joins leave it out, and an unload aborts it with the communicators).
 * DAFT_NCCL_PREPOST_NEXT=0 posts it when the execution starts, as before. */
void rt_xnccl_prepost_next(RtXNccl *g, uint32_t ch)
{
    if (!g || ch >= g->nchans || g->failed)
        return;
    RtXNChan *c = &g->chans[ch];
    if (!g->prepost_next || !prepost_chan(g, c) || c->posted)
        return;
    c->post = static_tensor(c);
    recv_into(g, c, &c->post, true); /* (a failure is reported when the control comes) */
    c->posted = true;
}

int rt_xnccl_try_read(RtXNccl *g, const RtXIo *io, uint32_t ch, DaftValue *slot)
{
    RtXNChan *c = &g->chans[ch];
    if (prepost_chan(g, c) && !c->posted && !g->failed) {
        c->post = static_tensor(c);
        recv_into(g, c, &c->post, true); /* (a failure is reported when the control comes) */
        c->posted = true;
    }
    int rc = io->try_read(io->arg, ch, slot);
    if (rc <= 0)
        return rc;
    if (prepost_chan(g, c)) /* (also when this reader failed before it could post) */
        return take_posted(g, c, ch, slot);
    if (slot->kind != DAFT_V_NONE && slot->kind != DAFT_V_LIST)
        return 1; /* the value itself (error, CPU value): no NCCL */
    DaftTensor t;
    memset(&t, 0, sizeof t);
    if (slot->kind == DAFT_V_LIST) {
        const DaftValue *it = slot->as.list.items;
        size_t n = slot->as.list.len;
        bool ok = n >= 1 && n <= DAFT_MAX_RANK + 1;
        for (size_t i = 0; ok && i < n; i++)
            ok = it[i].kind == DAFT_V_I64;
        if (!ok || it[0].as.i64 < 0 || it[0].as.i64 >= DAFT_RT_DTYPE_COUNT) {
            daft_value_free(slot);
            *slot = daft_value_error("NCCL channel %u: malformed shape metadata", ch);
            return 1;
        }
        t.dtype = (DaftRtDtype)it[0].as.i64;
        t.rank = (int)n - 1;
        for (int i = 0; i < t.rank; i++)
            t.dims[i] = it[i + 1].as.i64;
    } else {
        t.dtype = c->dtype;
        t.rank = c->rank;
        memcpy(t.dims, c->dims, sizeof t.dims);
    }
    daft_value_free(slot);
    if (g->failed) {
        *slot = daft_value_error("%s", g->err);
        return 1;
    }
    if (recv_into(g, c, &t, false)) {
        *slot = daft_value_error("NCCL receive on channel %u: %s", ch, g->err);
        return 1;
    }
    slot->kind = DAFT_V_TENSOR;
    slot->as.tensor = t;
    return 1;
}

DaftValue rt_xnccl_coll(RtXNccl *g, uint32_t grp, int kind, int reduce, int root, const DaftValue *in,
                        bool feeds_next)
{
    RtXComm *c = &g->comms[g->group_comm[grp]];
    if (g->failed)
        return daft_value_error("%s", g->err);
    DaftValue up = daft_value_none();
    const DaftValue *x = in;
    if (in->kind == DAFT_V_TENSOR && !in->as.tensor.device) { /* a CPU tensor: upload */
        daft_value_copy(&up, in);
        rt_gpu_tensor_upload(&up);
        x = &up;
    }
    if (x->kind != DAFT_V_TENSOR || daft_tensor_gpu(&x->as.tensor) != g->ops->device()) {
        /* The others may already be inside the collective, waiting for this member: it
         * aborts its communicators, and the driver, told by the plan (rt_xplan_take_failure),
         * unloads the plan from the others, which aborts theirs. */
        daft_value_free(&up);
        g->failed = true;
        if (in->kind == DAFT_V_ERROR)
            rt_fmt(g->err, sizeof g->err, "NCCL collective: this member's input failed: %s",
                   in->as.error.msg);
        else
            rt_fmt(g->err, sizeof g->err, "NCCL collective: this member's input is not a tensor on its GPU");
        rt_xnccl_abort(g);
        return in->kind == DAFT_V_ERROR ? daft_value_error("%s", in->as.error.msg)
                                        : daft_value_error("%s", g->err);
    }
    DaftValue out = daft_value_none();
    int rc = g->ops->collective(c->c, kind, reduce, root, &x->as.tensor, &out.as.tensor, feeds_next,
                                g->err, sizeof g->err);
    daft_value_free(&up);
    if (rc) { /* the other members may be inside the collective: as above */
        if (out.as.tensor.data) /* freed in stream order, after whatever was launched */
            g->ops->free(&out.as.tensor);
        g->failed = true;
        rt_xnccl_abort(g);
        return daft_value_error("NCCL collective: %s", g->err);
    }
    out.kind = DAFT_V_TENSOR;
    return out;
}
