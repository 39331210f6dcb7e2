/* rt_exec.c — the actor process: receives control messages, runs tasks one at a time in
 * submission order, keeps results in its object table, pushes values to peer actors.
 *
 * Why the queue: the actor drains its control channel into an in-memory FIFO whenever it
 * waits, so urgent notices (a peer's death, a new channel) take effect even while a task
 * is blocked on a transfer, and so the driver's writes never block on a busy actor.
 * Why tasks cannot deadlock on transfers: a PUSH is queued on the producer at the moment
 * the consuming task is submitted, after the producing task; every queued item therefore
 * waits only for items submitted earlier, so waits cannot form a cycle.
 * Why tasks take turns with executions: a plan that takes turns (rt_xplan.c) runs its
 * executions in the order of their GO messages; a task filed after a GO waits until that
 * execution has finished here, and an execution waits for the tasks filed before its GO.
 * So the actor follows the driver's order whole, as it would for tasks alone: a call made
 * after a schedule's call sees what that execution stored, even while the execution waits
 * mid-way for another actor. The argument above still holds: every item waits only for
 * items submitted earlier (an execution's parts on its actors share one place in that
 * order). */
#define _GNU_SOURCE
#include "rt_internal.h"
#include "rt_gpu.h"

#include <errno.h>
#include <execinfo.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>


typedef struct RtPeerIn {
    DaftActor peer; /* 0 until a TCP peer has said HELLO */
    RtChan ch;
} RtPeerIn;

/* A sequenced plan's execution, from its GO until it has finished on this actor. */
typedef struct RtTurn {
    uint32_t plan;
    uint64_t at; /* when its GO was filed (RtActorSelf.filed) */
} RtTurn;

typedef struct RtActorSelf {
    DaftRt *rt;
    DaftActor id;
    int cls;
    char name[64];
    void *state;
    DaftValue init_err;    /* DAFT_V_ERROR once the constructor failed */
    RtChan *ctl, *res;
    int sock;              /* SHM: unix socket from the driver carrying channel fds */
    int lfd;               /* TCP: listening socket for peers' channels */
    int64_t accept_at;     /* TCP: when rt_drain next tries to accept a peer (see there) */
    RtChan **out;          /* [peer] outbound channel to that peer (its own allocation: a
                            * send may wait while an ATTACH grows this array) */
    size_t out_cap;
    RtPeerIn *in;
    int nin, in_cap;
    RtObjTab objs;         /* my results, by Ref id */
    RtObjTab xfers;        /* values received from peers, by transfer id */
    uint32_t plan_seen;    /* the highest plan id loaded here (ids grow): an older plan not
                            * in `plans` is gone, and so are its inputs' transfers */
    char **dead;           /* [actor] its death message, NULL while alive */
    size_t dead_cap;
    RtBuf *queue;          /* control messages waiting to run */
    uint64_t *queue_at;    /* [i] when queue[i] was filed (`filed`) */
    size_t qhead, qlen, qcap, qat_cap;
    uint64_t filed;        /* control messages queued and turns taken so far */
    RtBuf msg, tx;
    RtSplices tx_sp;       /* the large tensors of `tx`, sent from where they are */
    bool ready;            /* INIT has run: plans may start (they arrive out of band) */
    RtXPlan **plans;       /* compiled plans loaded here */
    int nplans, plans_cap;
    RtTurn *turns;         /* sequenced plans' GOs not yet finished, oldest first */
    size_t nturns, turns_cap;
    uint32_t failed_plan;  /* a plan this actor could not load, to tell the driver (0: none) */
    char failed_why[256];
    RtXPlan *failed_xplan; /* ... loaded but refused: freed (its TCP connections closed) only
                            * once the driver has been told, or the driver would see them
                            * break first and not learn why (rt_plan_read waits 0.5 s) */
    RtPeerIn *hand;        /* TCP plan connections whose plan has not arrived yet */
    uint32_t *hand_ids;    /* [i] = plan, channel, reader of hand[i] (3 words each) */
    int nhand;
    RtGcoll *gcoll;        /* interpreted collectives' NCCL communicators (rt_gcoll.c) */
} RtActorSelf;

static void rt_match_plan_conns(RtActorSelf *s);

struct DaftActorCtx {
    RtActorSelf *self;
    const char *method;
    DaftValue err;
};

/* ---------------------------------------------------------------- methods' context */

int daft_raise(DaftActorCtx *ctx, const char *fmt, ...)
{
    char cause[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cause, sizeof cause, fmt, ap);
    va_end(ap);
    daft_value_free(&ctx->err);
    RtActorSelf *s = ctx->self;
    ctx->err = daft_value_error("actor '%s' (%s) method '%s': %s", s->name,
                                rt_class_name(s->rt, s->cls), ctx->method, cause);
    return -1;
}

DaftActor daft_ctx_actor(const DaftActorCtx *ctx) { return ctx->self->id; }
const char *daft_ctx_actor_name(const DaftActorCtx *ctx) { return ctx->self->name; }
const char *daft_ctx_method_name(const DaftActorCtx *ctx) { return ctx->method; }

/* ---------------------------------------------------------------- growable tables */

static int rt_grow(void **arr, size_t *cap, size_t need, size_t elem)
{
    if (need < *cap)
        return 0;
    size_t n = *cap ? *cap : 8;
    while (n <= need)
        n *= 2;
    void *p = realloc(*arr, n * elem);
    if (!p)
        return DAFT_ENOMEM;
    memset((char *)p + *cap * elem, 0, (n - *cap) * elem);
    *arr = p;
    *cap = n;
    return 0;
}

static RtChan *rt_out_chan(RtActorSelf *s, DaftActor peer)
{
    if (rt_grow((void **)&s->out, &s->out_cap, peer, sizeof *s->out))
        return NULL;
    if (!s->out[peer]) {
        s->out[peer] = calloc(1, sizeof **s->out);
        if (s->out[peer])
            s->out[peer]->fd = -1;
    }
    return s->out[peer];
}

static const char *rt_dead_msg(RtActorSelf *s, DaftActor a)
{
    return a < s->dead_cap ? s->dead[a] : NULL;
}

/* ---------------------------------------------------------------- draining inbound */

static bool rt_driver_alive(RtActorSelf *s)
{
    return s->rt->mode == RT_MODE_TCP || getppid() == s->rt->driver_pid;
}

/* The driver is gone: nobody can ever read our results, so leave quietly. */
static void rt_actor_orphaned(RtActorSelf *s)
{
    rt_trace_flush_part(&s->rt->trace);
    _exit(0);
}

/* Receives one fd sent by the driver with SCM_RIGHTS (it was sent before the ATTACH). */
int rt_recv_fd_sock(int sock)
{
    char byte;
    struct iovec iov = {&byte, 1};
    union { struct cmsghdr h; char buf[CMSG_SPACE(sizeof(int))]; } u;
    struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf,
                       .msg_controllen = sizeof u.buf};
    ssize_t k;
    while ((k = recvmsg(sock, &m, MSG_CMSG_CLOEXEC)) < 0 && errno == EINTR)
        ;
    struct cmsghdr *c = k > 0 ? CMSG_FIRSTHDR(&m) : NULL;
    if (!c || c->cmsg_type != SCM_RIGHTS)
        return -1;
    int fd;
    memcpy(&fd, CMSG_DATA(c), sizeof fd);
    return fd;
}

/* A shared-memory channel's reader points at the ring beside it: after the entries move
 * (the array grows, or drops those handed to plans) it must point at the ring's new place,
 * or the actor reads freed memory once it has more than 8 peers. */
static void rt_in_moved(RtActorSelf *s)
{
    for (int i = 0; i < s->nin; i++)
        if (s->in[i].ch.kind == RT_CHAN_SHM)
            s->in[i].ch.rd.ring = &s->in[i].ch.ring;
}

static RtPeerIn *rt_add_in(RtActorSelf *s)
{
    if (s->nin == s->in_cap) {
        int n = s->in_cap ? s->in_cap * 2 : 8;
        RtPeerIn *p = realloc(s->in, (size_t)n * sizeof *p);
        if (!p)
            return NULL;
        s->in = p;
        s->in_cap = n;
        rt_in_moved(s);
    }
    RtPeerIn *p = &s->in[s->nin++];
    memset(p, 0, sizeof *p);
    p->ch.fd = -1;
    return p;
}

static void rt_handle_attach(RtActorSelf *s, RtRd *r)
{
    DaftActor peer = rt_rd_u32(r);
    bool out = rt_rd_u8(r);
    char addr[64];
    rt_rd_str(r, addr, sizeof addr);
    if (s->rt->mode == RT_MODE_SHM) {
        int fd = rt_recv_fd_sock(s->sock);
        RtChan *c = out ? rt_out_chan(s, peer) : &rt_add_in(s)->ch;
        if (fd < 0 || !c || rt_ring_attach(&c->ring, fd)) {
            rt_log("actor '%s': cannot attach channel with actor %u", s->name, peer);
            return;
        }
        rt_ring_close_fd(&c->ring);
        c->kind = RT_CHAN_SHM;
        if (out)
            c->ring.bell = &s->rt->bells[peer];
        else {
            rt_ring_reader_init(&c->rd, &c->ring, 0);
            s->in[s->nin - 1].peer = peer;
        }
        return;
    }
    /* TCP: we dial the consumer and introduce ourselves. DAFT_TEST_FAIL_CONNECT=NAME (tests
     * only): actor NAME's connections to its peers fail, as to an unreachable host. */
    RtChan *c = rt_out_chan(s, peer);
    const char *inject = getenv("DAFT_TEST_FAIL_CONNECT");
    int fd = inject && !strcmp(inject, s->name) ? -1 : rt_tcp_connect(addr, rt_now_ns() + 10000000000LL);
    if (!c || fd < 0) {
        rt_log("actor '%s': cannot connect to actor %u at %s", s->name, peer, addr);
        return;
    }
    c->kind = RT_CHAN_TCP;
    c->fd = fd;
    s->tx.len = 0;
    rt_buf_u32(&s->tx, RT_M_HELLO);
    rt_buf_u32(&s->tx, s->id);
    rt_buf_str(&s->tx, "");
    rt_chan_send(c, s->tx.p, s->tx.len, NULL);
}

static void rt_handle_dead(RtActorSelf *s, RtRd *r)
{
    DaftActor a = rt_rd_u32(r);
    char msg[512];
    rt_rd_str(r, msg, sizeof msg);
    if (rt_grow((void **)&s->dead, &s->dead_cap, a, sizeof *s->dead) || s->dead[a])
        return;
    s->dead[a] = strdup(msg);
    if (a < s->out_cap && s->out[a])
        s->out[a]->broken = true;
    for (int i = 0; i < s->nplans; i++) /* a plan with a dead member can never finish */
        if (rt_xplan_uses(s->plans[i], a))
            rt_xplan_stop(s->plans[i]);
    rt_gcoll_peer_died(s->gcoll, a, msg);
}

static void rt_handle_plan_load(RtActorSelf *s, RtRd *r)
{
    char err[256];
    RtRd peek = *r;
    uint32_t id = rt_rd_u32(&peek);
    if (id > s->plan_seen)
        s->plan_seen = id;
    RtXPlan *p = NULL;
    if (s->nplans == s->plans_cap) {
        int n = s->plans_cap ? s->plans_cap * 2 : 4;
        RtXPlan **v = realloc(s->plans, (size_t)n * sizeof *v);
        if (v) {
            s->plans = v;
            s->plans_cap = n;
        }
    }
    if (s->nplans == s->plans_cap)
        rt_fmt(err, sizeof err, "out of memory");
    else
        p = rt_xplan_load(s, s->rt, r, s->sock, err, sizeof err);
    const char *inject = getenv("DAFT_TEST_FAIL_PLAN_LOAD");
    if (p && inject && *inject && !strcmp(inject, rt_xplan_name(p))) {
        rt_fmt(err, sizeof err, "plan '%s': refused (DAFT_TEST_FAIL_PLAN_LOAD)", rt_xplan_name(p));
        if (s->failed_xplan) /* (two in one drain: the first one's report is lost anyway) */
            rt_xplan_free(s->failed_xplan);
        s->failed_xplan = p;
        p = NULL;
    }
    if (!p) { /* the driver must know: its executions would otherwise wait for us forever */
        rt_log("actor '%s': %s", s->name, err);
        s->failed_plan = id;
        rt_fmt(s->failed_why, sizeof s->failed_why, "%s", err);
        return;
    }
    s->plans[s->nplans++] = p;
    rt_match_plan_conns(s);
}

/* One more execution of plan p may start; a sequenced one also takes its turn. */
static void rt_plan_go(RtActorSelf *s, RtXPlan *p)
{
    if (rt_xplan_sequenced(p)) {
        if (rt_grow((void **)&s->turns, &s->turns_cap, s->nturns + 1, sizeof *s->turns)) {
            rt_log("actor '%s': out of memory: plan %u stopped", s->name, rt_xplan_id(p));
            rt_xplan_fail(p, "out of memory for an execution's turn"); /* it would never run */
            return;
        }
        s->turns[s->nturns++] = (RtTurn){rt_xplan_id(p), s->filed++};
    }
    rt_xplan_go(p);
}

static void rt_file_value(RtActorSelf *s, uint64_t xfer, DaftValue *v);

/* Files a control message: notices act now, everything else waits its turn. */
static void rt_file_ctl(RtActorSelf *s, RtBuf *m)
{
    RtRd r = rt_rd(m->p, m->len);
    uint32_t type = rt_rd_u32(&r);
    if (type == RT_M_ATTACH) {
        rt_handle_attach(s, &r);
        return;
    }
    if (type == RT_M_DEAD) {
        rt_handle_dead(s, &r);
        return;
    }
    if (type == RT_M_XFER_LOST) { /* a value that will not come: its reason in its place */
        rt_rd_u32(&r); /* (the owner: named in the text) */
        uint64_t xfer = rt_rd_u64(&r);
        char why[600];
        rt_rd_str(&r, why, sizeof why);
        DaftValue e = daft_value_error("%s", why);
        if (!r.bad)
            rt_file_value(s, xfer, &e);
        daft_value_free(&e);
        return;
    }
    if (type == RT_M_PLAN_LOAD) { /* now, not queued: it takes fds off the socket in order */
        rt_handle_plan_load(s, &r);
        return;
    }
    if (type == RT_M_PLAN_UNLOAD || type == RT_M_PLAN_GO) {
        uint32_t id = rt_rd_u32(&r);
        uint64_t from = type == RT_M_PLAN_UNLOAD ? rt_rd_u64(&r) : 0;
        for (int i = 0; i < s->nplans; i++)
            if (rt_xplan_id(s->plans[i]) == id) {
                if (type == RT_M_PLAN_GO)
                    rt_plan_go(s, s->plans[i]);
                else
                    rt_xplan_stop_at(s->plans[i], r.bad ? 0 : from);
            }
        return;
    }
    if (rt_grow((void **)&s->queue, &s->qcap, s->qlen + 1, sizeof *s->queue) ||
        rt_grow((void **)&s->queue_at, &s->qat_cap, s->qcap, sizeof *s->queue_at))
        return;
    if (s->qhead + s->qlen >= s->qcap) { /* compact: move live entries to the front */
        for (size_t i = 0; i < s->qlen; i++) {
            RtBuf t = s->queue[i];
            s->queue[i] = s->queue[s->qhead + i];
            s->queue[s->qhead + i] = t;
            s->queue_at[i] = s->queue_at[s->qhead + i];
        }
        s->qhead = 0;
    }
    s->queue_at[s->qhead + s->qlen] = s->filed++;
    RtBuf *slot = &s->queue[s->qhead + s->qlen++];
    RtBuf t = *slot; /* swap buffers: no copy, and both keep their capacity */
    *slot = *m;
    *m = t;
    m->len = 0;
}

/* Gives parked plan connections to their plans once loaded. */
static void rt_match_plan_conns(RtActorSelf *s)
{
    int k = 0;
    for (int i = 0; i < s->nhand; i++) {
        uint32_t *id = &s->hand_ids[3 * i];
        bool taken = false;
        for (int j = 0; j < s->nplans && !taken; j++)
            taken = rt_xplan_id(s->plans[j]) == id[0] &&
                    rt_xplan_attach_tcp(s->plans[j], id[1], id[2], s->hand[i].ch.fd, &s->hand[i].ch.rx);
        if (taken) {
            rt_buf_free(&s->hand[i].ch.rx);
            continue;
        }
        s->hand[k] = s->hand[i];
        memmove(&s->hand_ids[3 * k], id, 3 * sizeof *id);
        k++;
    }
    s->nhand = k;
}

static void rt_park_plan_conn(RtActorSelf *s, RtPeerIn *p, const uint32_t ids[3])
{
    RtPeerIn *h = realloc(s->hand, (size_t)(s->nhand + 1) * sizeof *h);
    uint32_t *hi = h ? realloc(s->hand_ids, (size_t)(s->nhand + 1) * 3 * sizeof *hi) : NULL;
    if (h)
        s->hand = h;
    if (!hi)
        return;
    s->hand_ids = hi;
    s->hand[s->nhand] = *p; /* moves the fd and the bytes received after the hello */
    memcpy(&s->hand_ids[3 * s->nhand], ids, 3 * sizeof *ids);
    s->nhand++;
    memset(&p->ch, 0, sizeof p->ch);
    p->ch.kind = RT_CHAN_NONE;
    p->ch.fd = -1;
    rt_match_plan_conns(s);
}

static bool rt_plan_live(const RtActorSelf *s, uint32_t id)
{
    for (int i = 0; i < s->nplans; i++)
        if (rt_xplan_id(s->plans[i]) == id)
            return true;
    return false;
}

/* Keeps a transferred value until it is taken, unless it is an input of a plan already
 * gone from here (rt_forget_plan_xfers dropped the others): nobody would take it. */
static void rt_file_value(RtActorSelf *s, uint64_t xfer, DaftValue *v)
{
    uint32_t plan = rt_xfer_plan(xfer);
    RtObj *o = plan && plan <= s->plan_seen && !rt_plan_live(s, plan) ? NULL
                                                                        : rt_objtab_add(&s->xfers, xfer);
    if (o)
        rt_objtab_resolve(o, v);
    daft_value_free(v);
}

typedef struct RtPlanXfers {
    uint32_t plan;
    uint64_t *ids;
    size_t n, cap;
} RtPlanXfers;

static void rt_note_plan_xfer(RtObj *o, void *arg)
{
    RtPlanXfers *x = arg;
    if (rt_xfer_plan(o->id) == x->plan && !rt_grow((void **)&x->ids, &x->cap, x->n + 1, sizeof *x->ids))
        x->ids[x->n++] = o->id;
}

/* Plan `plan` is gone from here: the values sent for its inputs that it never read go. */
static void rt_forget_plan_xfers(RtActorSelf *s, uint32_t plan)
{
    RtPlanXfers x = {plan, NULL, 0, 0};
    rt_objtab_foreach(&s->xfers, rt_note_plan_xfer, &x);
    for (size_t i = 0; i < x.n; i++)
        rt_objtab_del(&s->xfers, x.ids[i]);
    free(x.ids);
}

static void rt_file_xfer(RtActorSelf *s, RtPeerIn *p, RtBuf *m)
{
    RtRd r = rt_rd(m->p, m->len);
    uint32_t type = rt_rd_u32(&r);
    if (type == RT_M_HELLO) {
        p->peer = rt_rd_u32(&r);
        return;
    }
    if (type == RT_M_PLAN_HELLO) { /* a compiled plan's channel: it leaves the peer list */
        uint32_t ids[3] = {rt_rd_u32(&r), rt_rd_u32(&r), rt_rd_u32(&r)};
        rt_park_plan_conn(s, p, ids);
        return;
    }
    if (type == RT_M_XFER_NCCL) { /* a GPU tensor follows over NCCL (rt_gpu_load.c) */
        if (rt_gpu_xfer_file(p->peer, &r)) {
            DaftValue e = daft_value_error("actor '%s': malformed GPU transfer from actor %u",
                                           s->name, p->peer);
            RtRd h = rt_rd(m->p, m->len);
            rt_rd_u32(&h);
            RtObj *o = rt_objtab_add(&s->xfers, rt_rd_u64(&h));
            if (o)
                rt_objtab_resolve(o, &e);
            daft_value_free(&e);
        }
        return;
    }
    if (type != RT_M_XFER)
        return;
    uint64_t xfer = rt_rd_u64(&r);
    DaftValue v;
    if (rt_value_get(&r, &v))
        v = daft_value_error("actor '%s': malformed transfer from actor %u", s->name, p->peer);
    rt_file_value(s, xfer, &v);
}

static void rt_accept_peers(RtActorSelf *s)
{
    int fd;
    while (s->lfd >= 0 && (fd = rt_tcp_accept(s->lfd)) >= 0) {
        RtPeerIn *p = rt_add_in(s);
        if (!p) {
            close(fd);
            return;
        }
        p->ch.kind = RT_CHAN_TCP;
        p->ch.fd = fd;
    }
}

/* Reads everything available on every inbound channel. Returns how many messages. */
static int rt_drain(RtActorSelf *s)
{
    int n = 0, rc;
    while ((rc = rt_chan_try_recv(s->ctl, &s->msg)) > 0) {
        rt_file_ctl(s, &s->msg);
        n++;
    }
    if (rc < 0)
        rt_actor_orphaned(s);
    /* accept() is a system call that finds nothing almost every time, and a waiting actor
     * drains in a loop: try every 200 us (a peer's connection waits in the backlog; a
     * sleeping actor's poll wakes on it and tries at once, see rt_sleep) */
    if (s->lfd >= 0 && rt_now_ns() >= s->accept_at) {
        rt_accept_peers(s);
        s->accept_at = rt_now_ns() + 200000;
    }
    bool moved = false;
    for (int i = 0; i < s->nin; i++) {
        while (s->in[i].ch.kind != RT_CHAN_NONE && rt_chan_try_recv(&s->in[i].ch, &s->msg) > 0) {
            rt_file_xfer(s, &s->in[i], &s->msg);
            n++;
        }
        moved |= s->in[i].ch.kind == RT_CHAN_NONE;
    }
    if (moved) { /* drop the entries handed over to plans */
        int k = 0;
        for (int i = 0; i < s->nin; i++)
            if (s->in[i].ch.kind != RT_CHAN_NONE)
                s->in[k++] = s->in[i];
        s->nin = k;
        rt_in_moved(s);
    }
    return n;
}

/* The oldest queued message may run: no execution whose GO came before it is unfinished. */
/* The driver's STOP comes once every output it waits for arrived, but a plan's calls that
 * feed no output may still be queued here: the plans the driver let finish (their last
 * execution set, daft_rt_plan_finish) run those first. */
static bool rt_stop_waits_for_plans(const RtActorSelf *s)
{
    RtRd r = rt_rd(s->queue[s->qhead].p, s->queue[s->qhead].len);
    if (rt_rd_u32(&r) != RT_M_STOP)
        return false;
    for (int i = 0; i < s->nplans; i++)
        if (rt_xplan_owes_executions(s->plans[i]))
            return true;
    return false;
}

static bool rt_task_ready(const RtActorSelf *s)
{
    return s->qlen && (!s->nturns || s->turns[0].at > s->queue_at[s->qhead]) &&
           !rt_stop_waits_for_plans(s);
}

static bool rt_plans_ready(RtActorSelf *s)
{
    if (!s->ready)
        return false;
    for (int i = 0; i < s->nplans; i++)
        if (rt_xplan_ready(s->plans[i]))
            return true;
    return false;
}

/* Work the actor could do now. Inside a task (`in_task`: it waits for a transfer) there is
 * none: only an arriving message matters, and a queued task or a ready plan must not turn
 * the wait into a spin. */
static bool rt_work_ready(RtActorSelf *s, bool in_task)
{
    return !in_task && (rt_task_ready(s) || rt_plans_ready(s));
}

/* Sleeps until something may have arrived (or a slice passed). */
static void rt_sleep(RtActorSelf *s, int64_t deadline_ns, bool in_task)
{
    int64_t ns = rt_sleep_ns(deadline_ns, RT_SLICE_NS * 5);
    if (s->rt->mode == RT_MODE_SHM) {
        RtBell *b = &s->rt->bells[s->id];
        uint32_t snap = rt_bell_snapshot(b);
        if (rt_drain(s) || rt_work_ready(s, in_task))
            return;
        rt_bell_wait(b, snap, ns);
    } else {
        struct pollfd p[256];
        int n = 0;
        p[n++] = (struct pollfd){s->ctl->fd, POLLIN, 0};
        p[n++] = (struct pollfd){s->lfd, POLLIN, 0};
        for (int i = 0; i < s->nin && n < 256; i++)
            p[n++] = (struct pollfd){s->in[i].ch.fd, POLLIN, 0};
        for (int i = 0; s->ready && !in_task && i < s->nplans && n < 256; i++)
            n += rt_xplan_pollfds(s->plans[i], p + n, 256 - n);
        poll(p, (nfds_t)n, (int)(ns / 1000000) + 1);
        s->accept_at = 0;
    }
    if (!rt_driver_alive(s))
        rt_actor_orphaned(s);
}

/* Drains for a short spin, then sleeps: keeps a chatty peer's latency low while an idle
 * actor costs no CPU. */
static void rt_idle(RtActorSelf *s, int64_t deadline_ns, bool in_task)
{
    int64_t end = rt_now_ns() + RT_SPIN_NS;
    while (rt_now_ns() < end) {
        if (rt_drain(s) || rt_work_ready(s, in_task))
            return;
        rt_cpu_relax(end);
    }
    rt_sleep(s, deadline_ns, in_task);
}

/* Keeps inbound channels moving while we are blocked sending. */
static void rt_progress_cb(void *arg) { rt_drain(arg); }

/* ---------------------------------------------------------------- sending */

static int rt_send_res(RtActorSelf *s, RtBuf *m)
{
    RtWait w = {-1, NULL, rt_progress_cb, s, false};
    int rc = rt_chan_sendv(s->res, m, m == &s->tx ? &s->tx_sp : NULL, &w);
    if (rc == DAFT_EPEER)
        rt_actor_orphaned(s);
    return rc;
}

static void rt_send_done(RtActorSelf *s, uint64_t ref, const DaftValue *v)
{
    RtBuf *m = &s->tx;
    m->len = 0;
    rt_buf_u32(m, RT_M_DONE);
    rt_buf_u64(m, ref);
    size_t mark = m->len;
    bool big = v->kind == DAFT_V_TENSOR && daft_tensor_nbytes(&v->as.tensor) > RT_INLINE_MAX;
    rt_buf_u8(m, v->kind == DAFT_V_ERROR ? RT_DONE_ERROR : RT_DONE_INLINE);
    if (big || rt_value_put(m, v) || (v->kind != DAFT_V_ERROR && m->len - mark > RT_INLINE_MAX)) {
        m->len = mark; /* too big to ride along: the driver fetches it if it wants it */
        rt_buf_u8(m, RT_DONE_STORED);
    }
    rt_send_res(s, m);
}

/* ---------------------------------------------------------------- tasks */

typedef struct RtArgs {
    DaftValue *v;
    bool *owned; /* false: a shallow view of a value in my object table */
    uint32_t n;
} RtArgs;

static void rt_args_free(RtArgs *a)
{
    for (uint32_t i = 0; i < a->n; i++)
        if (a->owned[i])
            daft_value_free(&a->v[i]);
    free(a->v);
    free(a->owned);
}

/* For the GPU transfers' polls: keeps draining; false once `peer` is dead. */
static bool rt_gx_alive(void *arg, DaftActor peer)
{
    RtActorSelf *s = arg;
    rt_drain(s);
    return !rt_dead_msg(s, peer);
}

bool rt_exec_xfer_ready(RtActorSelf *s, uint64_t xfer, DaftActor owner)
{
    return rt_objtab_find(&s->xfers, xfer) || rt_dead_msg(s, owner);
}

bool rt_exec_try_xfer(RtActorSelf *s, uint64_t xfer, DaftActor owner, DaftValue *out)
{
    rt_gpu_xfer_take(owner, xfer, &s->xfers, rt_gx_alive, s); /* NCCL: receive it */
    RtObj *o = rt_objtab_find(&s->xfers, xfer);
    if (o) {
        *out = o->value;
        o->value = daft_value_none();
        rt_objtab_del(&s->xfers, xfer);
        return true;
    }
    const char *dead = rt_dead_msg(s, owner);
    if (dead)
        *out = daft_value_error("%s", dead);
    return dead != NULL;
}

/* Waits for transfer `xfer` from `owner`; on the owner's death returns its message. */
void rt_exec_take_xfer(RtActorSelf *s, uint64_t xfer, DaftActor owner, DaftValue *out)
{
    while (!rt_exec_try_xfer(s, xfer, owner, out))
        rt_idle(s, -1, true);
}

/* SPEC 15.2: the value of Ref `ref` received for this task stays here, in the object table
 * beside my results, for later tasks given the same Ref (they name it as a local argument)
 * until the driver's FREE of it, which follows them all on my queue. The task reads it as
 * they will: a view (methods never change their arguments), so every task sees the value as
 * it arrived, an error included. */
static void rt_keep_copy(RtActorSelf *s, uint64_t ref, DaftValue *v, bool *owned)
{
    RtObj *o = rt_objtab_add(&s->objs, ref);
    if (!o) /* (out of memory: the later tasks find it not held, and say so) */
        return;
    rt_objtab_resolve(o, v);
    *v = o->value;
    *owned = false;
}

static int rt_read_args(RtActorSelf *s, RtRd *r, RtArgs *a)
{
    a->n = rt_rd_u32(r);
    if (r->bad || a->n > r->len)
        return DAFT_EPROTO;
    a->v = calloc(a->n ? a->n : 1, sizeof *a->v);
    a->owned = calloc(a->n ? a->n : 1, sizeof *a->owned);
    if (!a->v || !a->owned)
        return DAFT_ENOMEM;
    for (uint32_t i = 0; i < a->n; i++) {
        a->owned[i] = true;
        int tag = rt_rd_u8(r);
        if (tag == RT_ARG_VALUE) {
            if (rt_value_get(r, &a->v[i]))
                return DAFT_EPROTO;
        } else if (tag == RT_ARG_LOCAL) {
            uint64_t id = rt_rd_u64(r);
            RtObj *o = rt_objtab_find(&s->objs, id);
            if (o && o->has_value) {
                a->v[i] = o->value;
                a->owned[i] = false;
            } else {
                a->v[i] = daft_value_error("actor '%s': Ref %llu is no longer held", s->name,
                                           (unsigned long long)id);
            }
        } else if (tag == RT_ARG_XFER) {
            uint64_t xfer = rt_rd_u64(r);
            DaftActor owner = rt_rd_u32(r);
            uint64_t keep = rt_rd_u64(r);
            if (r->bad)
                return DAFT_EPROTO;
            rt_exec_take_xfer(s, xfer, owner, &a->v[i]);
            if (keep)
                rt_keep_copy(s, keep, &a->v[i], &a->owned[i]);
        } else {
            return DAFT_EPROTO;
        }
    }
    return r->bad ? DAFT_EPROTO : 0;
}

void rt_exec_progress(void *self) { rt_drain(self); }

RtTrace *rt_exec_trace(RtActorSelf *s) { return &s->rt->trace; }
RtStats *rt_exec_stats(RtActorSelf *s, uint32_t *self)
{
    *self = s->id;
    return &s->rt->stats;
}

const char *rt_exec_method_name(RtActorSelf *s, int method)
{
    return rt_method_name(s->rt, s->cls, method);
}

const char *rt_exec_actor_name(RtActorSelf *s) { return s->name; }
const char *rt_exec_actor_class(RtActorSelf *s) { return rt_class_name(s->rt, s->cls); }

RtBell *rt_exec_bell(RtActorSelf *s)
{
    /* Local processes share the bells page in both transports; under MPI it is private. */
    return !s->rt->mpi && s->rt->bells ? &s->rt->bells[s->id] : NULL;
}

static const DaftValue *rt_first_error(const RtArgs *a)
{
    for (uint32_t i = 0; i < a->n; i++)
        if (a->v[i].kind == DAFT_V_ERROR)
            return &a->v[i];
    return NULL;
}

/* Runs a method (or propagates an error instead) and leaves the result in *out. */
static void rt_invoke(RtActorSelf *s, int method, const RtArgs *a, DaftValue *out)
{
    const RtClass *c = &s->rt->classes[s->cls];
    const DaftValue *err = c->takes_errors[method] ? NULL : rt_first_error(a);
    *out = daft_value_none();
    if (s->init_err.kind == DAFT_V_ERROR && !c->takes_errors[method]) {
        daft_value_copy(out, &s->init_err);
        return;
    }
    if (err) { /* a dependency failed: its error is our value, the method does not run */
        daft_value_copy(out, err);
        return;
    }
    DaftActorCtx ctx = {s, c->methods[method].name, daft_value_none()};
    int rc = c->methods[method].fn(&ctx, s->state, a->v, (int)a->n, out);
    if (rc) {
        daft_value_free(out);
        if (ctx.err.kind == DAFT_V_ERROR)
            *out = ctx.err;
        else
            *out = daft_value_error("actor '%s' (%s) method '%s': failed with code %d", s->name,
                                    c->name, ctx.method, rc);
    } else {
        daft_value_free(&ctx.err);
    }
}

void rt_exec_invoke(RtActorSelf *s, int method, const DaftValue *args, uint32_t n, DaftValue *out)
{
    bool owned[1] = {false};
    RtArgs a = {(DaftValue *)args, owned, n}; /* read-only views; rt_invoke never frees */
    const RtClass *c = &s->rt->classes[s->cls];
    if (method < 0 || method >= c->nmethods) {
        *out = daft_value_error("actor '%s' (%s): no method %d", s->name, c->name, method);
        return;
    }
    rt_invoke(s, method, &a, out);
}

/* ---------------------------------------------------------------- interpreted NCCL collectives */

typedef struct RtGcollWait {
    RtActorSelf *s;
    const DaftActor *members;
    int n;
} RtGcollWait;

/* Keeps draining (a death notice aborts the communicators it concerns); false once a
 * member is known dead. */
static bool rt_gcoll_alive(void *arg)
{
    RtGcollWait *w = arg;
    rt_drain(w->s);
    for (int i = 0; i < w->n; i++)
        if (w->members[i] != w->s->id && rt_dead_msg(w->s, w->members[i]))
            return false;
    return true;
}

int daft_ctx_nccl_id(DaftActorCtx *ctx, uint8_t id[DAFT_NCCL_ID_BYTES], DaftValue *err)
{
    (void)ctx;
    char e[300];
    int rc = rt_gcoll_id(id, e, sizeof e);
    if (rc && err)
        *err = daft_value_error("NCCL unique id: %s", e);
    return rc;
}

int daft_ctx_nccl_collective(DaftActorCtx *ctx, const DaftNcclColl *op, const DaftValue *in, DaftValue *out)
{
    RtActorSelf *s = ctx->self;
    RtGcollWait w = {s, op->members, op->n};
    int rc = rt_gcoll_run(&s->gcoll, op, in, rt_gcoll_alive, NULL, &w, out);
    if (rc == RT_GCOLL_STRANDED) { /* the others wait inside NCCL until this actor ends */
        rt_log("actor '%s': %s; the actor stops, so that the other members of the communicator do not "
               "wait for it forever", s->name, out->kind == DAFT_V_ERROR ? out->as.error.msg : "collective failed");
        _exit(3);
    }
    if (rc) /* outside every wait now: an aborted communicator goes at once */
        rt_gcoll_sweep(s->gcoll);
    return rc;
}

void daft_ctx_nccl_destroy(DaftActorCtx *ctx, uint64_t comm) { rt_gcoll_destroy(ctx->self->gcoll, comm); }

static void rt_store_result(RtActorSelf *s, uint64_t ref, DaftValue *v)
{
    RtObj *o = rt_objtab_add(&s->objs, ref);
    if (o)
        rt_objtab_resolve(o, v);
    daft_value_free(v);
}

/* Tells the driver (through the bells page) that a task has begun: if the actor dies, the
 * driver can then tell a death in that task from one while it waited for it. */
static void rt_task_begun(RtActorSelf *s)
{
    RtBell *b = rt_exec_bell(s);
    if (b)
        atomic_fetch_add_explicit(&b->tasks_begun, 1, memory_order_relaxed);
}

static void rt_run_task(RtActorSelf *s, RtRd *r)
{
    rt_task_begun(s);
    uint64_t ref = rt_rd_u64(r);
    uint32_t method = rt_rd_u32(r);
    const RtClass *c = &s->rt->classes[s->cls];
    RtArgs a = {0};
    DaftValue out = daft_value_none();
    int64_t t0 = rt_now_ns();
    if (method >= (uint32_t)c->nmethods || rt_read_args(s, r, &a))
        out = daft_value_error("actor '%s' (%s): malformed task for method %u", s->name, c->name,
                               method);
    else
        rt_invoke(s, (int)method, &a, &out);
    rt_args_free(&a);
    rt_trace_slice(&s->rt->trace, method < (uint32_t)c->nmethods ? c->methods[method].name : "?",
                   "task", t0, rt_now_ns());
    RtObj *o = rt_objtab_add(&s->objs, ref);
    if (o)
        rt_objtab_resolve(o, &out);
    if (o)
        rt_send_done(s, ref, &o->value);
    daft_value_free(&out);
}

static void rt_run_init(RtActorSelf *s, RtRd *r)
{
    s->id = rt_rd_u32(r);
    s->cls = (int)rt_rd_u32(r);
    rt_rd_str(r, s->name, sizeof s->name);
    uint64_t ref = rt_rd_u64(r);
    rt_task_begun(s);
    if (s->cls < 0 || s->cls >= s->rt->nclasses) {
        rt_log("actor '%s': unknown class %d (register the same classes in every process)",
               s->name, s->cls);
        _exit(2);
    }
    s->ready = true;
    rt_trace_init(&s->rt->trace, (int)s->id, s->name);
    const RtClass *c = &s->rt->classes[s->cls];
    RtArgs a = {0};
    DaftValue out = daft_value_none();
    s->state = calloc(1, c->state_size ? c->state_size : 1);
    if (rt_read_args(s, r, &a) || !s->state) {
        out = daft_value_error("actor '%s' (%s) method 'init': malformed spawn message", s->name, c->name);
    } else if (rt_gpu_start_error()) {
        out = daft_value_error("actor '%s' (%s) could not start: %s", s->name, c->name,
                               rt_gpu_start_error());
    } else if (c->init) {
        DaftActorCtx ctx = {s, "init", daft_value_none()};
        if (c->init(&ctx, s->state, a.v, (int)a.n))
            out = ctx.err.kind == DAFT_V_ERROR
                      ? ctx.err
                      : daft_value_error("actor '%s' (%s) method 'init': failed", s->name, c->name);
        else
            daft_value_free(&ctx.err);
    }
    rt_args_free(&a);
    if (out.kind == DAFT_V_ERROR)
        daft_value_copy(&s->init_err, &out);
    rt_store_result(s, ref, &out);
    RtObj *o = rt_objtab_find(&s->objs, ref);
    rt_send_done(s, ref, o ? &o->value : &s->init_err);
    rt_objtab_del(&s->objs, ref);
}

/* A push waiting for room on the channel to its destination: keeps draining, and gives up
 * once the destination is known dead (its full ring would never empty). */
typedef struct RtPushWait {
    RtActorSelf *s;
    DaftActor dest;
} RtPushWait;

static void rt_push_progress(void *arg) { rt_drain(((RtPushWait *)arg)->s); }
static bool rt_push_alive(void *arg)
{
    RtPushWait *pw = arg;
    return !rt_dead_msg(pw->s, pw->dest);
}

static void rt_run_push(RtActorSelf *s, RtRd *r)
{
    uint64_t ref = rt_rd_u64(r);
    DaftActor dest = rt_rd_u32(r);
    uint64_t xfer = rt_rd_u64(r);
    bool nccl = r->off < r->len && rt_rd_u8(r); /* both GPU actors: may go over NCCL */
    if (dest == s->id) { /* a plan input of its own (rt_xplan.c): kept aside, as sent */
        RtObj *o = rt_objtab_find(&s->objs, ref);
        DaftValue v = daft_value_none();
        if (o && o->has_value)
            daft_value_copy(&v, &o->value);
        else
            v = daft_value_error("actor '%s': Ref %llu is no longer held", s->name,
                                 (unsigned long long)ref);
        rt_file_value(s, xfer, &v);
        return;
    }
    if (rt_dead_msg(s, dest))
        return;
    RtPushWait pw = {s, dest};
    RtChan *c = rt_out_chan(s, dest);
    RtObj *o = rt_objtab_find(&s->objs, ref);
    RtBuf *m = &s->tx;
    if (!c || c->kind == RT_CHAN_NONE) { /* the reader waits for it: it must hear why not */
        m->len = 0;
        rt_buf_u32(m, RT_M_XFER_LOST);
        rt_buf_u32(m, dest);
        rt_buf_u64(m, xfer);
        rt_buf_str(m, s->rt->mode == RT_MODE_TCP ? "no connection to it (see the log: the connection failed)"
                                                 : "no channel to it (see the log)");
        rt_send_res(s, m);
        return;
    }
    if (nccl && c && c->kind != RT_CHAN_NONE && o && o->has_value &&
        rt_gpu_xfer_header(dest, xfer, &o->value, m)) {
        int64_t t0 = rt_now_ns();
        RtWait w = {-1, rt_push_alive, rt_push_progress, &pw, false};
        char e[300];
        if (rt_chan_send(c, m->p, m->len, &w) == 0 &&
            rt_gpu_xfer_send(dest, &o->value, rt_gx_alive, s, e, sizeof e))
            rt_log("actor '%s': GPU transfer to actor %u over NCCL failed: %s", s->name, dest, e);
        rt_trace_slice(&s->rt->trace, "push (NCCL)", "write", t0, rt_now_ns());
        if (s->rt->stats.on)
            rt_stats_add(&s->rt->stats, RT_STAT_XFER, s->id, 0, RT_STAT_NCCL, dest, 1,
                         rt_stats_value_bytes(&o->value), rt_now_ns() - t0);
        return;
    }
    m->len = 0;
    s->tx_sp.n = 0;
    rt_buf_u32(m, RT_M_XFER);
    rt_buf_u64(m, xfer);
    DaftValue missing = daft_value_error("actor '%s': Ref %llu is no longer held", s->name,
                                         (unsigned long long)ref);
    rt_value_put_spliced(m, o && o->has_value ? &o->value : &missing, &s->tx_sp);
    int64_t t0 = rt_now_ns();
    RtWait w = {-1, rt_push_alive, rt_push_progress, &pw, false};
    if (c && c->kind != RT_CHAN_NONE)
        rt_chan_sendv(c, m, &s->tx_sp, &w);
    if (s->rt->stats.on && c && c->kind != RT_CHAN_NONE)
        rt_stats_add(&s->rt->stats, RT_STAT_XFER, s->id, 0,
                     c->kind == RT_CHAN_TCP ? RT_STAT_TCP : RT_STAT_SHM, dest, 1,
                     o && o->has_value ? rt_stats_value_bytes(&o->value) : 0, rt_now_ns() - t0);
    daft_value_free(&missing);
    s->tx_sp.n = 0;
    rt_trace_slice(&s->rt->trace, "push", "write", t0, rt_now_ns());
}

static void rt_run_fetch(RtActorSelf *s, RtRd *r)
{
    uint64_t ref = rt_rd_u64(r);
    RtObj *o = rt_objtab_find(&s->objs, ref);
    RtBuf *m = &s->tx;
    m->len = 0;
    s->tx_sp.n = 0;
    rt_buf_u32(m, RT_M_VALUE);
    rt_buf_u64(m, ref);
    DaftValue missing = daft_value_error("actor '%s': Ref %llu is no longer held", s->name,
                                         (unsigned long long)ref);
    rt_value_put_spliced(m, o && o->has_value ? &o->value : &missing, &s->tx_sp);
    rt_send_res(s, m);
    daft_value_free(&missing);
    s->tx_sp.n = 0; /* (other messages built in tx carry no splices) */
}

static void rt_stop(RtActorSelf *s)
{
    const RtClass *c = &s->rt->classes[s->cls];
    if (c->fini && s->state && s->init_err.kind != DAFT_V_ERROR) {
        DaftActorCtx ctx = {s, "fini", daft_value_none()};
        c->fini(&ctx, s->state);
        daft_value_free(&ctx.err);
    }
    rt_gpu_report(s->name);
    rt_trace_flush_part(&s->rt->trace);
    if (s->rt->stats.on) { /* (the driver drains it after this process exits) */
        RtBuf m = {0};
        rt_stats_put(&s->rt->stats, &m);
        rt_send_res(s, &m);
        rt_buf_free(&m);
    }
    _exit(0); /* no atexit handlers: they belong to the driver's program */
}

static void rt_run(RtActorSelf *s, RtBuf *m)
{
    RtRd r = rt_rd(m->p, m->len);
    switch (rt_rd_u32(&r)) {
    case RT_M_INIT: rt_run_init(s, &r); break;
    case RT_M_TASK: rt_run_task(s, &r); break;
    case RT_M_PUSH: rt_run_push(s, &r); break;
    case RT_M_FETCH: rt_run_fetch(s, &r); break;
    case RT_M_FREE: rt_objtab_del(&s->objs, rt_rd_u64(&r)); break;
    case RT_M_STOP: rt_stop(s); break;
    default: rt_log("actor '%s': unknown control message", s->name); break;
    }
}

/* Sequenced executions run one at a time, in GO order (rt_xplan.c says why), and after
 * the tasks filed before their GO (the comment at the top says why). */
bool rt_exec_plan_turn(RtActorSelf *s, uint32_t plan)
{
    if (!s->nturns || s->turns[0].plan != plan)
        return false;
    return !s->qlen || s->queue_at[s->qhead] > s->turns[0].at;
}

static void rt_forget_turns(RtActorSelf *s, uint32_t plan, size_t max)
{
    size_t k = 0, dropped = 0;
    for (size_t i = 0; i < s->nturns; i++)
        if (s->turns[i].plan != plan || dropped == max)
            s->turns[k++] = s->turns[i];
        else
            dropped++;
    s->nturns = k;
}

void rt_exec_plan_turn_done(RtActorSelf *s, uint32_t plan) { rt_forget_turns(s, plan, 1); }

/* RT_M_PLAN_FAILED to the driver (outside the drain: the send may wait for room). */
static void rt_tell_plan_failed(RtActorSelf *s, uint32_t plan, uint64_t exec, const char *why)
{
    RtBuf *m = &s->tx;
    m->len = 0;
    rt_buf_u32(m, RT_M_PLAN_FAILED);
    rt_buf_u32(m, plan);
    rt_buf_u64(m, exec);
    rt_buf_str(m, why);
    rt_send_res(s, m);
}

/* Frees stopped plans; only here, never inside a drain, so no plan vanishes under a
 * running step. A stopped plan's turns go with it. Plans that failed here by themselves
 * are first reported: until the driver unloads them everywhere, their other actors may
 * wait for this one forever (in NCCL, or on a channel). */
static void rt_reap_plans(RtActorSelf *s)
{
    for (int i = 0; i < s->nplans; i++) {
        uint64_t exec;
        const char *why = rt_xplan_take_failure(s->plans[i], &exec);
        if (why) {
            rt_log("actor '%s': plan '%s' failed: %s", s->name, rt_xplan_name(s->plans[i]), why);
            rt_tell_plan_failed(s, rt_xplan_id(s->plans[i]), exec, why);
        }
    }
    int k = 0;
    for (int i = 0; i < s->nplans; i++) {
        if (rt_xplan_stopped(s->plans[i])) {
            rt_forget_turns(s, rt_xplan_id(s->plans[i]), SIZE_MAX);
            rt_forget_plan_xfers(s, rt_xplan_id(s->plans[i]));
            rt_xplan_free(s->plans[i]);
        } else {
            s->plans[k++] = s->plans[i];
        }
    }
    s->nplans = k;
}

/* DAFT_ACTOR_BACKTRACE=1: an actor that crashes writes its stack on stderr before it dies
 * (frames as object(+offset): `addr2line -f -e OBJECT OFFSET` names them, also for
 * stripped copies of the same build). Only async-signal-safe calls in the handler;
 * backtrace() is called once beforehand so that it does not load libgcc there. */
static void rt_crash_backtrace(int sig)
{
    static const char head[] = "daft: actor crashed; its stack:\n";
    void *frames[64];
    if (write(2, head, sizeof head - 1) < 0) { /* (nothing to do about it) */ }
    backtrace_symbols_fd(frames, backtrace(frames, 64), 2);
    signal(sig, SIG_DFL);
    raise(sig);
}

static void rt_crash_setup(void)
{
    int sigs[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT};
    /* (not the driver's crash report, inherited by fork: an actor's crash is its death, which
     * the driver reports) */
    for (size_t i = 0; i < sizeof sigs / sizeof *sigs; i++)
        signal(sigs[i], SIG_DFL);
    const char *e = getenv("DAFT_ACTOR_BACKTRACE");
    if (!e || !*e || !strcmp(e, "0"))
        return;
    void *warm[1];
    backtrace(warm, 1);
    for (size_t i = 0; i < sizeof sigs / sizeof *sigs; i++)
        signal(sigs[i], rt_crash_backtrace);
}

void rt_actor_main(DaftRt *rt, DaftActor self, const char *name, RtChan *ctl, RtChan *res,
                   int sock, int lfd, const char *laddr)
{
    (void)laddr;
    RtActorSelf s;
    memset(&s, 0, sizeof s);
    s.rt = rt;
    s.id = self;
    s.ctl = ctl;
    s.res = res;
    s.sock = sock;
    s.lfd = lfd;
    /* named from the start: a plan load is handled before the queued init message */
    if (name && *name)
        rt_fmt(s.name, sizeof s.name, "%s", name);
    else
        rt_fmt(s.name, sizeof s.name, "actor#%u", self);
    rt_objtab_init(&s.objs);
    s.tx_sp.host_only = true; /* GPU values are copied to the host as they are encoded */
    rt_objtab_init(&s.xfers);
    rt->self = &s;
    rt_gpu_set_progress(rt_exec_progress, &s); /* polling GPU waits keep draining */
    rt_crash_setup();
    rt_trace_init(&rt->trace, (int)self, NULL);
    rt_stats_restart(&rt->stats);
    for (;;) {
        bool did = rt_drain(&s) > 0;
        /* unloaded plans go first: their aborted NCCL communicators must not linger
         * while a plan loaded in the same drain creates its own (rt_gpu.c fails any
         * unscoped GPU wait while an aborted communicator is registered) */
        rt_reap_plans(&s);
        rt_gcoll_sweep(s.gcoll); /* (the same, for interpreted collectives) */
        if (s.failed_plan) {
            rt_tell_plan_failed(&s, s.failed_plan, 0, s.failed_why);
            s.failed_plan = 0;
        }
        if (s.failed_xplan) { /* told first: now its connections may close */
            rt_xplan_free(s.failed_xplan);
            s.failed_xplan = NULL;
        }
        for (int i = 0; s.ready && i < s.nplans; i++)
            did |= rt_xplan_step(&s, s.plans[i]);
        rt_reap_plans(&s);
        if (rt_task_ready(&s)) {
            RtBuf m = s.queue[s.qhead];
            s.queue[s.qhead] = (RtBuf){0};
            s.qhead++;
            s.qlen--;
            if (!s.qlen)
                s.qhead = 0;
            rt_run(&s, &m);
            if (!s.msg.p) { /* recycle the buffer as the receive buffer */
                s.msg = m;
                s.msg.len = 0;
            } else {
                rt_buf_free(&m);
            }
            did = true;
        }
        if (!did)
            rt_idle(&s, -1, false);
    }
}
