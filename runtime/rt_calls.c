/* rt_calls.c — the driver API of interpreted execution: call, get, wait, release, kill.
 *
 * A Ref argument produced by another actor is never routed through the driver: the driver
 * links producer → consumer (rt_link), queues a PUSH on the producer and names the
 * transfer in the consumer's task, once per consumer: the consumer keeps the value for its
 * later tasks given that Ref, which name it as local, until the Ref's release (SPEC 15.2).
 * An argument whose Ref already failed is sent as its error value, so the consumer
 * propagates it without running. */
#define _GNU_SOURCE
#include "rt_internal.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define RT_PAIR_SLOTS 16
#define RT_PAIR_SLOT 65536

static RtActorRec *rt_check_actor(DaftRt *rt, DaftActor id, const char *what)
{
    RtActorRec *a = rt->is_driver ? rt_drv_actor(rt, id) : NULL;
    if (!a)
        rt_set_err(rt, "%s: no actor with handle %u", what, id);
    return a;
}

/* Passes a channel's memfd to an actor over its unix socket. */
int rt_send_fd_sock(int sock, int fd)
{
    char byte = 0;
    struct iovec iov = {&byte, 1};
    union { struct cmsghdr h; char buf[CMSG_SPACE(sizeof(int))]; } u;
    memset(&u, 0, sizeof u);
    struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf,
                       .msg_controllen = sizeof u.buf};
    struct cmsghdr *c = CMSG_FIRSTHDR(&m);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &fd, sizeof fd);
    return sendmsg(sock, &m, MSG_NOSIGNAL) == 1 ? 0 : DAFT_EPEER;
}

static int rt_send_attach(DaftRt *rt, RtActorRec *to, DaftActor peer, bool out, const char *addr)
{
    RtBuf *m = &rt->small;
    m->len = 0;
    rt_buf_u32(m, RT_M_ATTACH);
    rt_buf_u32(m, peer);
    rt_buf_u8(m, out);
    rt_buf_str(m, addr);
    return rt_drv_send(rt, to, m);
}

/* Makes sure the one-way channel from → to exists (created on first use). */
static int rt_link(DaftRt *rt, RtActorRec *from, RtActorRec *to)
{
    if (to->id < from->out_cap && from->out_ok[to->id])
        return 0;
    if (from->dead || to->dead) /* (a channel made now would be one more for each call) */
        return DAFT_EPEER;
    if (to->id >= from->out_cap) {
        size_t n = (size_t)to->id * 2 + 8;
        uint8_t *p = realloc(from->out_ok, n);
        if (!p)
            return DAFT_ENOMEM;
        memset(p + from->out_cap, 0, n - from->out_cap);
        from->out_ok = p;
        from->out_cap = n;
    }
    if (rt->mode == RT_MODE_SHM) {
        RtRing ring;
        if (rt_ring_create(&ring, RT_PAIR_SLOTS, RT_PAIR_SLOT, 1))
            return DAFT_ESYS;
        int rf = rt_send_fd_sock(from->sock, ring.fd), rt2 = rt_send_fd_sock(to->sock, ring.fd);
        rt_ring_destroy(&ring); /* the two actors hold it now */
        /* An actor that received the fd must also get its ATTACH, even if the other end is
         * dead: fds are taken off the socket in order, so an unclaimed one would be mistaken
         * for the next channel's and that channel would never carry anything. */
        if (!rf)
            rt_send_attach(rt, from, to->id, true, "");
        if (!rt2)
            rt_send_attach(rt, to, from->id, false, "");
        if (rf || rt2)
            return DAFT_EPEER;
    } else {
        rt_send_attach(rt, from, to->id, true, to->addr);
    }
    from->out_ok[to->id] = 1;
    return 0;
}

/* SPEC 15.2: a Ref's value moves to each consuming actor once; that actor keeps it for its
 * later tasks until the driver releases the Ref (the FREE then follows every task that may
 * take it on that actor's queue). */
static bool rt_obj_has_copy(const RtObj *o, DaftActor at)
{
    for (uint32_t i = 0; i < o->ncopies; i++)
        if (o->copies[i] == at)
            return true;
    return false;
}

/* false (out of memory): the transfer is not kept, the next task gets its own */
static bool rt_obj_note_copy(RtObj *o, DaftActor at)
{
    DaftActor *c = realloc(o->copies, (o->ncopies + 1) * sizeof *c);
    if (!c)
        return false;
    o->copies = c;
    o->copies[o->ncopies++] = at;
    return true;
}

/* Encodes one task argument; a Ref becomes local, a transfer, or its error value. */
static int rt_put_arg(DaftRt *rt, RtActorRec *a, const DaftValue *v, RtBuf *m)
{
    if (v->kind != DAFT_V_REF) { /* (the caller's value lives until the message is sent) */
        rt_buf_u8(m, RT_ARG_VALUE);
        return rt_value_put_spliced(m, v, &rt->out_sp);
    }
    RtObj *dep = rt_obj_live(rt, v->as.ref.id);
    if (!dep) {
        rt_set_err(rt, "call on '%s': argument Ref %llu is unknown or released", a->name,
                   (unsigned long long)v->as.ref.id);
        return DAFT_EINVAL;
    }
    dep->observed = true; /* (its error, if any, goes on in the task's result) */
    if (dep->owner == 0) { /* the driver's own (a plan output's, daft_rt_plan_output_ref) */
        DaftValue e = daft_value_error("call on '%s': a compiled schedule's result not yet received "
                                       "cannot be passed here", a->name);
        rt_buf_u8(m, RT_ARG_VALUE);
        int rc = rt_value_put(m, dep->has_value ? &dep->value : &e);
        daft_value_free(&e);
        return rc;
    }
    if (dep->state == RT_OBJ_ERROR) {
        rt_buf_u8(m, RT_ARG_VALUE);
        return rt_value_put(m, &dep->value);
    }
    if (dep->owner == a->id || rt_obj_has_copy(dep, a->id)) {
        rt_buf_u8(m, RT_ARG_LOCAL);
        return rt_buf_u64(m, dep->id);
    }
    RtActorRec *owner = rt_drv_actor(rt, dep->owner);
    uint64_t xfer = rt->next_xfer++;
    int rc = rt_push_ref(rt, dep, owner, a, xfer, true);
    bool keep = !rc && rt_obj_note_copy(dep, a->id);
    if (rc) { /* the argument becomes that error, so the task message stays well formed */
        DaftValue e = daft_value_error("actor '%s' (%s): cannot pass Ref %llu to '%s'", owner->name,
                                       rt_class_name(rt, owner->cls), (unsigned long long)dep->id,
                                       a->name);
        rt_buf_u8(m, RT_ARG_VALUE);
        rc = rt_value_put(m, dep->has_value ? &dep->value : &e);
        daft_value_free(&e);
        return rc;
    }
    rt_buf_u8(m, RT_ARG_XFER);
    rt_buf_u64(m, xfer);
    rt_buf_u32(m, owner->id);
    return rt_buf_u64(m, keep ? dep->id : 0);
}

int rt_push_ref(DaftRt *rt, const RtObj *dep, RtActorRec *owner, RtActorRec *to, uint64_t xfer,
                bool nccl_ok)
{
    int rc = owner == to ? 0 : rt_link(rt, owner, to);
    if (rc) { /* a peer is gone (or out of fds). Give a just-killed owner's exit 200 ms to
               * show, so that the caller's error names the cause. */
        for (int64_t end = rt_now_ns() + 200000000LL; !rt->mpi && !owner->dead && rt_now_ns() < end;) {
            rt_drv_check_exits(rt);
            if (!owner->dead)
                usleep(1000);
        }
        return rc;
    }
    RtBuf *p = &rt->small;
    p->len = 0;
    rt_buf_u32(p, RT_M_PUSH);
    rt_buf_u64(p, dep->id);
    rt_buf_u32(p, to->id);
    rt_buf_u64(p, xfer);
    /* GPU actors on different GPUs of this node: a GPU tensor may move over NCCL directly
     * (rt_gpu.h, "Interpreted GPU transfers"); DAFT_GPU_XFER=host keeps the host copy */
    const char *gx = getenv("DAFT_GPU_XFER");
    rt_buf_u8(p, nccl_ok && owner->gpu >= 0 && to->gpu >= 0 && owner->gpu != to->gpu &&
                     rt->mode == RT_MODE_SHM && !rt->mpi && !(gx && !strcmp(gx, "host")));
    rt_drv_send(rt, owner, p);
    return 0;
}

int daft_rt_call(DaftRt *rt, DaftActor actor, int method, const DaftValue *args, int nargs,
                 DaftRef *out)
{
    RtActorRec *a = rt_check_actor(rt, actor, "call");
    if (!a)
        return DAFT_EINVAL;
    if (method < 0 || method >= rt->classes[a->cls].nmethods || nargs < 0 || (nargs && !args)) {
        rt_set_err(rt, "call on '%s': no method %d in class %s", a->name, method,
                   rt_class_name(rt, a->cls));
        return DAFT_EINVAL;
    }
    for (int i = 0; i < nargs; i++) /* validate first: nothing is sent for a bad call */
        if (args[i].kind == DAFT_V_REF && !rt_obj_live(rt, args[i].as.ref.id)) {
            rt_set_err(rt, "call on '%s': argument %d is an unknown or released Ref", a->name, i);
            return DAFT_EINVAL;
        }
    int64_t t0 = rt_now_ns();
    rt_drv_notices(rt);
    RtBuf *m = &rt->out;
    m->len = 0;
    rt->out_sp.n = 0;
    rt->out_sp.host_only = true;
    DaftRef ref = {rt->next_ref++, actor};
    rt_buf_u32(m, RT_M_TASK);
    rt_buf_u64(m, ref.id);
    rt_buf_u32(m, (uint32_t)method);
    rt_buf_u32(m, (uint32_t)nargs);
    for (int i = 0; i < nargs && !a->dead; i++) {
        int rc = rt_put_arg(rt, a, &args[i], m);
        if (rc == DAFT_EINVAL)
            return rc;
    }
    RtObj *o = rt_objtab_add(&rt->refs, ref.id);
    if (!o)
        return DAFT_ENOMEM;
    o->owner = actor;
    o->method = method;
    bool sent = !a->dead;
    if (sent) {
        rt_drv_inflight_push(a, ref.id, method);
        rt_drv_sendv(rt, a, m, &rt->out_sp); /* a failure marks the actor dead and the Ref with it */
    }
    if (a->dead && !o->has_value) {
        DaftValue e = daft_value_error("%s (cannot run '%s')", a->death,
                                       rt_method_name(rt, a->cls, method));
        rt_objtab_resolve(o, &e);
    }
    rt_trace_slice(&rt->trace, rt_method_name(rt, a->cls, method), "call", t0, rt_now_ns());
    if (rt->stats.on && sent)
        rt_stats_call(rt, actor, args, nargs);
    *out = ref;
    return 0;
}

static void rt_obj_send_fetch(DaftRt *rt, RtObj *o, RtActorRec *owner)
{
    RtBuf *m = &rt->small;
    m->len = 0;
    rt_buf_u32(m, RT_M_FETCH);
    rt_buf_u64(m, o->id);
    o->fetching = true;
    rt_drv_send(rt, owner, m);
}

bool rt_obj_fetch(DaftRt *rt, RtObj *o)
{
    if (o->has_value || o->state != RT_OBJ_READY || o->fetching)
        return false;
    rt_obj_send_fetch(rt, o, rt_drv_actor(rt, o->owner));
    return true;
}

void rt_obj_prefetch(DaftRt *rt, RtObj *o)
{
    RtActorRec *a = rt_drv_actor(rt, o->owner);
    if (!o->has_value && !o->fetching && a && !a->dead)
        rt_obj_send_fetch(rt, o, a);
}

/* SPEC 14.3: a driver operation (op: get, is_error, error_text, wait) that waits long says
 * for what, first after DAFT_WAIT_REPORT seconds (60), then every twice that: a method that
 * never returns is never a silent hang. `also` follows the method's name ("" or a note). */
static void rt_wait_report(DaftRt *rt, const char *op, const RtObj *o, int64_t waited_ns,
                           const char *also)
{
    double s = waited_ns / 1e9;
    RtActorRec *a = rt_drv_actor(rt, o->owner);
    if (!a) {
        rt_log("%s has waited %.3g s for a result of a compiled schedule%s", op, s, also);
        return;
    }
    size_t ahead = 0;
    bool found = false;
    for (size_t i = 0; i < a->inflight_len && !found; i++) {
        found = a->inflight[(a->inflight_head + i) % a->inflight_cap] == o->id;
        ahead += !found;
    }
    const char *m = rt_method_name(rt, a->cls, o->method), *c = rt_class_name(rt, a->cls);
    if (found && ahead)
        rt_log("%s has waited %.3g s for actor '%s' (%s) method '%s'%s: %zu earlier call%s on "
               "that actor %s not finished", op, s, a->name, c, m, also, ahead,
               ahead == 1 ? "" : "s", ahead == 1 ? "is" : "are");
    else if (found)
        rt_log("%s has waited %.3g s for actor '%s' (%s) method '%s'%s: it is still running (or "
               "waits for a compiled schedule's execution on that actor); the actor is alive",
               op, s, a->name, c, m, also);
    else
        rt_log("%s has waited %.3g s for actor '%s' (%s) method '%s'%s", op, s, a->name, c, m, also);
}

void daft_rt_report_wait(DaftRt *rt, const char *op, DaftRef ref, double waited_s, const char *also)
{
    RtObj *o = rt->is_driver ? rt_obj_live(rt, ref.id) : NULL;
    if (o)
        rt_wait_report(rt, op, o, (int64_t)(waited_s * 1e9), also ? also : "");
}

void daft_rt_report_wait_schedule(DaftRt *rt, const char *op, const char *schedule, double waited_s,
                                  const char *also)
{
    (void)rt;
    rt_log("%s has waited %.3g s for a result of compiled schedule '%s'%s: its execution has not finished", op,
           waited_s, schedule, also ? also : "");
}

double daft_rt_wait_report_s(const DaftRt *rt)
{
    return rt->wait_report_ns > 0 ? rt->wait_report_ns / 1e9 : 0.0;
}

/* When a wait that began at t0 next reports (-1: never). */
static int64_t rt_report_first(const DaftRt *rt, int64_t t0)
{
    return rt->wait_report_ns > 0 ? t0 + rt->wait_report_ns : -1;
}

int daft_rt_get(DaftRt *rt, DaftRef ref, double timeout_s, DaftValue *out)
{
    return daft_rt_get_for(rt, ref, timeout_s, "get", out);
}

int daft_rt_get_for(DaftRt *rt, DaftRef ref, double timeout_s, const char *op, DaftValue *out)
{
    *out = daft_value_none();
    RtObj *o = rt->is_driver ? rt_obj_live(rt, ref.id) : NULL;
    if (!o) {
        rt_set_err(rt, "%s: Ref %llu is unknown or released", op, (unsigned long long)ref.id);
        return DAFT_EINVAL;
    }
    int64_t t0 = rt_now_ns(), deadline = rt_deadline(timeout_s);
    int64_t report_at = rt_report_first(rt, t0);
    bool taken = false;
    while (!o->has_value) {
        if (rt_obj_fetch(rt, o))
            continue;
        int64_t now = rt_now_ns();
        if (rt_wait_over(deadline)) {
            /* what arrived before the deadline counts: timeout = 0 polls (SPEC 10.3), so take
             * the results the driver has not read yet before giving up */
            if (!taken) {
                taken = true;
                rt_drv_take(rt);
                continue;
            }
            if (rt_intr) {
                rt_set_err(rt, "%s: interrupted", op);
                return DAFT_EINTR;
            }
            rt_set_err(rt, "%s: timed out", op);
            return DAFT_ETIMEDOUT;
        }
        if (report_at >= 0 && now >= report_at) { /* (says the nominal time: 1, 3, 5... x) */
            rt_wait_report(rt, op, o, report_at - t0, "");
            report_at += 2 * rt->wait_report_ns;
        }
        rt_drv_wait(rt, deadline);
    }
    rt_trace_slice(&rt->trace, op, "driver", t0, rt_now_ns());
    o->observed = true;
    daft_rt_error_observed(rt, &o->value);
    return daft_value_copy(out, &o->value);
}

/* The note on the others not ready after wait's first ("" when there are none). */
static void rt_wait_also(size_t pending, char *also, size_t cap)
{
    if (!also || !cap)
        return; /* (the caller wants only the first) */
    also[0] = 0;
    if (pending > 1)
        rt_fmt(also, cap, " (and %zu other Ref%s not ready)", pending - 1, pending == 2 ? "" : "s");
}

size_t daft_rt_wait_pending(const uint8_t *ready, size_t n, char *also, size_t cap)
{
    size_t first = n, pending = 0;
    for (size_t i = 0; i < n; i++)
        if (!ready[i]) {
            pending++;
            if (first == n)
                first = i;
        }
    rt_wait_also(pending, also, cap);
    return first;
}

/* wait's report names the first Ref not ready, and how many are not. */
static void rt_wait_report_many(DaftRt *rt, const char *op, const RtObj *first, int pending, int64_t waited_ns)
{
    char also[64];
    rt_wait_also((size_t)pending, also, sizeof also);
    rt_wait_report(rt, op, first, waited_ns, also);
}

int daft_rt_wait(DaftRt *rt, const DaftRef *refs, int n, int num_returns, double timeout_s,
                 uint8_t *ready)
{
    if (n < 0 || (n && !refs) || !rt->is_driver)
        return DAFT_EINVAL;
    if (num_returns > n)
        num_returns = n;
    int64_t t0 = rt_now_ns(), deadline = rt_deadline(timeout_s);
    int64_t report_at = rt_report_first(rt, t0);
    int count;
    bool taken = false;
    /* the results already sent count as ready (SPEC 10.4), even when enough Refs were ready
     * before: a loop that waits again over Refs it has taken would otherwise never read them */
    rt_drv_take(rt);
    for (;;) {
        count = 0;
        const RtObj *first = NULL; /* the first Ref not ready: the report names it */
        for (int i = 0; i < n; i++) {
            RtObj *o = rt_obj_live(rt, refs[i].id);
            bool r = o && o->state != RT_OBJ_PENDING; /* (not observed: an error stays unseen) */
            if (!o) {
                rt_set_err(rt, "wait: Ref %llu is unknown or released", (unsigned long long)refs[i].id);
                return DAFT_EINVAL;
            }
            if (ready)
                ready[i] = r;
            count += r;
            first = first || r ? first : o;
        }
        if (count >= num_returns)
            break;
        if (rt_wait_over(deadline)) {
            /* ready "at that moment" (SPEC 10.4) includes results not read yet: take them once */
            if (taken && rt_intr) {
                rt_set_err(rt, "wait: interrupted");
                return DAFT_EINTR;
            }
            if (taken)
                break;
            taken = true;
            rt_drv_take(rt);
            continue;
        }
        if (report_at >= 0 && rt_now_ns() >= report_at) {
            rt_wait_report_many(rt, "wait", first, n - count, report_at - t0);
            report_at += 2 * rt->wait_report_ns;
        }
        rt_drv_wait(rt, deadline);
    }
    rt_trace_slice(&rt->trace, "wait", "driver", t0, rt_now_ns());
    return count;
}

/* Cheap per wake-up however long the list: the Refs ready in list order are passed once,
 * and the whole list is looked at again for an error only when some Ref became one. */
int daft_rt_wait_list(DaftRt *rt, const DaftRef *refs, int n, double timeout_s, const char *op, int *index)
{
    *index = -1;
    if (n < 0 || (n && !refs) || !rt->is_driver)
        return DAFT_EINVAL;
    int64_t t0 = rt_now_ns(), deadline = rt_deadline(timeout_s);
    int64_t report_at = rt_report_first(rt, t0);
    uint64_t errors = rt_objtab_errors;
    bool scan = true, taken = false;
    int next = 0; /* refs[0..next) are ready */
    for (;;) {
        for (int i = scan ? 0 : n; i < n; i++) {
            RtObj *o = rt_obj_live(rt, refs[i].id);
            if (!o || o->state == RT_OBJ_ERROR) {
                *index = i;
                if (o)
                    return 0;
                rt_set_err(rt, "%s: Ref %llu is unknown or released", op, (unsigned long long)refs[i].id);
                return DAFT_EINVAL;
            }
        }
        scan = false;
        for (RtObj *o; next < n && (!(o = rt_obj_live(rt, refs[next].id)) || o->state != RT_OBJ_PENDING);)
            next++; /* (none is released meanwhile: the caller waits here) */
        if (next == n)
            break;
        if (rt_wait_over(deadline)) {
            if (!taken) { /* (what arrived counts: as daft_rt_get) */
                taken = true;
                rt_drv_take(rt);
            } else {
                *index = next;
                rt_set_err(rt, "%s: %s", op, rt_intr ? "interrupted" : "timed out");
                return rt_intr ? DAFT_EINTR : DAFT_ETIMEDOUT;
            }
        } else {
            if (report_at >= 0 && rt_now_ns() >= report_at) {
                int pending = 0;
                for (int i = next; i < n; i++) {
                    RtObj *o = rt_obj_live(rt, refs[i].id);
                    pending += o && o->state == RT_OBJ_PENDING;
                }
                rt_wait_report_many(rt, op, rt_obj_live(rt, refs[next].id), pending, report_at - t0);
                report_at += 2 * rt->wait_report_ns;
            }
            rt_drv_wait(rt, deadline);
        }
        scan = errors != rt_objtab_errors;
        errors = rt_objtab_errors;
    }
    rt_trace_slice(&rt->trace, op, "driver", t0, rt_now_ns());
    return 0;
}

int daft_rt_poll(DaftRt *rt) { return rt && rt->is_driver ? rt_drv_poll(rt) : 0; }

/* Tells actor `at` to free its value of Ref `id` (its result, or its copy). */
static void rt_send_free_at(DaftRt *rt, DaftActor at, uint64_t id)
{
    RtActorRec *a = rt_drv_actor(rt, at);
    if (!a || a->dead)
        return;
    if (rt->sending) { /* (a completion read while a send waits for room: no nested send) */
        rt_buf_u32(&rt->frees_due, a->id);
        rt_buf_u64(&rt->frees_due, id);
        rt->notices_due = true;
        return;
    }
    RtBuf *m = &rt->small;
    m->len = 0;
    rt_buf_u32(m, RT_M_FREE);
    rt_buf_u64(m, id);
    rt_drv_send(rt, a, m);
}

/* Tells o's owner and the actors keeping copies of it to free the value. Queued after
 * every PUSH of this Ref on the owner, and after every task that may take the copy on a
 * copy's holder, so each frees it only once nothing submitted can need it. A send that
 * waits for room reads completions meanwhile, and o's own may settle and delete it: o is
 * not touched once the first send began. */
static void rt_obj_send_free(DaftRt *rt, RtObj *o)
{
    uint64_t id = o->id;
    DaftActor owner = o->owner, *copies = o->copies;
    uint32_t ncopies = o->ncopies;
    RtActorRec *a = rt_drv_actor(rt, owner);
    bool to_owner = !o->free_sent && a && !a->dead;
    o->free_sent |= to_owner;
    o->copies = NULL;
    o->ncopies = 0;
    if (to_owner)
        rt_send_free_at(rt, owner, id);
    for (uint32_t i = 0; i < ncopies; i++) /* (also when the owner is dead) */
        rt_send_free_at(rt, copies[i], id);
    free(copies);
}

/* Deletes the driver's entry and tells the owner to free the value. */
static void rt_obj_forget(DaftRt *rt, RtObj *o)
{
    uint64_t id = o->id; /* (o may be gone after the sends: see above) */
    rt_obj_send_free(rt, o);
    rt_objtab_del(&rt->refs, id);
}

RtObj *rt_obj_live(DaftRt *rt, uint64_t id)
{
    RtObj *o = rt_objtab_find(&rt->refs, id);
    return o && !o->released ? o : NULL;
}

/* An error's root cause: its text without the note of what could not run because of it
 * ("... (cannot run 'v')", "... (plan 's' cannot run)"), which the same death or failure
 * gives every task and execution it stops; as an FNV-1a hash. */
static uint64_t rt_error_root_hash(const char *msg)
{
    size_t n = strlen(msg);
    const char *open = n && msg[n - 1] == ')' ? strrchr(msg, '(') : NULL;
    if (open && open > msg && open[-1] == ' ' &&
        (!strncmp(open, "(cannot run '", 13) ||
         (!strncmp(open, "(plan '", 7) && n >= 13 && !strcmp(msg + n - 13, "' cannot run)"))))
        n = (size_t)(open - 1 - msg);
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)msg[i]) * 1099511628211ull;
    return h;
}

/* Notes the root cause; true when it was new. */
static bool rt_error_note_seen(DaftRt *rt, const char *msg)
{
    uint64_t h = rt_error_root_hash(msg);
    for (size_t i = 0; i < rt->nerrors_seen; i++)
        if (rt->errors_seen[i] == h)
            return false;
    if (rt->nerrors_seen == rt->errors_seen_cap) {
        size_t cap = rt->errors_seen_cap ? 2 * rt->errors_seen_cap : 16;
        uint64_t *n = realloc(rt->errors_seen, cap * sizeof *n);
        if (!n)
            return true; /* (not noted: at worst a later copy is said again) */
        rt->errors_seen = n;
        rt->errors_seen_cap = cap;
    }
    rt->errors_seen[rt->nerrors_seen++] = h;
    return true;
}

void daft_rt_error_observed(DaftRt *rt, const DaftValue *v)
{
    if (rt && v && v->kind == DAFT_V_ERROR)
        rt_error_note_seen(rt, v->as.error.msg ? v->as.error.msg : "?");
}

void daft_rt_warn_unobserved(DaftRt *rt, const char *msg)
{
    if (!msg)
        msg = "?";
    if (!rt || rt_error_note_seen(rt, msg))
        rt_log("warning: unobserved error: %s", msg);
}

/* SPEC 14.2: an error that nobody looked at is said before it goes. */
void rt_obj_report_unobserved(DaftRt *rt, RtObj *o)
{
    if (o->observed || !o->has_value || o->value.kind != DAFT_V_ERROR)
        return;
    o->observed = true;
    daft_rt_warn_unobserved(rt, o->value.as.error.msg);
}

void rt_obj_settle(DaftRt *rt, RtObj *o)
{
    if (!o->released || o->users > 0)
        return; /* (a plan's execution still waits to send its value as an input) */
    if (!o->observed && o->state == RT_OBJ_PENDING) {
        /* its completion may still bring an error to report, so the entry stays until then;
         * the value need not: the FREE is queued behind the task on its actor, which would
         * otherwise keep the results of every task still queued there (a loop that calls
         * and drops Refs faster than the actor runs them) */
        rt_obj_send_free(rt, o);
        return;
    }
    rt_obj_report_unobserved(rt, o);
    rt_obj_forget(rt, o);
}

void daft_rt_release(DaftRt *rt, DaftRef ref)
{
    RtObj *o = rt->is_driver ? rt_obj_live(rt, ref.id) : NULL;
    if (!o)
        return;
    o->released = true;
    rt_obj_settle(rt, o);
}

void rt_obj_unuse(DaftRt *rt, RtObj *o)
{
    o->users--;
    rt_obj_settle(rt, o);
}

int daft_rt_kill(DaftRt *rt, DaftActor actor)
{
    RtActorRec *a = rt_check_actor(rt, actor, "kill");
    if (!a || a->proc.pid <= 0)
        return DAFT_EINVAL;
    if (!a->dead && !a->proc.exited) {
        kill(a->proc.pid, SIGKILL);
        a->kill_sent = true;
    }
    return 0;
}

bool daft_rt_actor_alive(DaftRt *rt, DaftActor actor)
{
    RtActorRec *a = rt->is_driver ? rt_drv_actor(rt, actor) : NULL;
    if (!a)
        return false;
    rt_drv_poll(rt);
    rt_drv_check_exits(rt);
    return !a->dead && !a->init_failed;
}

const char *daft_rt_actor_failure(DaftRt *rt, DaftActor actor)
{
    if (daft_rt_actor_alive(rt, actor))
        return NULL;
    RtActorRec *a = rt_drv_actor(rt, actor);
    if (!a)
        return "no such actor";
    if (a->dead && a->death[0])
        return a->death;
    if (a->init_failed && a->init_error[0])
        return a->init_error;
    return a->init_failed ? "its init failed" : "it died";
}

int daft_rt_actor_gpu(DaftRt *rt, DaftActor actor)
{
    if (rt->mpi)
        return -2; /* each rank places its actors */
    RtActorRec *a = rt->is_driver ? rt_drv_actor(rt, actor) : NULL;
    return a && a->gpu >= 0 ? a->gpu : -1;
}
