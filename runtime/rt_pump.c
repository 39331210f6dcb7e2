/* rt_pump.c — the driver's side of the channels: sending control messages, reading
 * completions and values, noticing deaths and turning them into errors on Refs.
 *
 * Every wait of the driver goes through rt_drv_wait: it sleeps at most one slice
 * (RT_SLICE_NS) and checks the actors' pidfds, so a death is seen within ~20 ms. */
#define _GNU_SOURCE
#include "rt_internal.h"

#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

RtActorRec *rt_drv_actor(DaftRt *rt, DaftActor id)
{
    return id >= 1 && id <= rt->nactors ? rt->actors[id] : NULL;
}

int rt_drv_inflight_push(RtActorRec *a, uint64_t id, int method)
{
    if (a->inflight_len == a->inflight_cap) {
        size_t n = a->inflight_cap ? a->inflight_cap * 2 : 16;
        uint64_t *ids = malloc(n * sizeof *ids);
        int *ms = malloc(n * sizeof *ms);
        if (!ids || !ms) {
            free(ids);
            free(ms);
            return DAFT_ENOMEM;
        }
        for (size_t i = 0; i < a->inflight_len; i++) { /* unwrap the circular buffer */
            size_t k = (a->inflight_head + i) % a->inflight_cap;
            ids[i] = a->inflight[k];
            ms[i] = a->inflight_m[k];
        }
        free(a->inflight);
        free(a->inflight_m);
        a->inflight = ids;
        a->inflight_m = ms;
        a->inflight_cap = n;
        a->inflight_head = 0;
    }
    size_t k = (a->inflight_head + a->inflight_len++) % a->inflight_cap;
    a->inflight[k] = id;
    a->inflight_m[k] = method;
    return 0;
}

static bool rt_drv_inflight_pop(RtActorRec *a, uint64_t *id, int *method)
{
    if (!a->inflight_len)
        return false;
    *id = a->inflight[a->inflight_head];
    *method = a->inflight_m[a->inflight_head];
    a->inflight_head = (a->inflight_head + 1) % a->inflight_cap;
    a->inflight_len--;
    return true;
}

/* ---------------------------------------------------------------- inbound */

static void rt_drv_on_done(DaftRt *rt, RtActorRec *a, RtRd *r)
{
    uint64_t ref = rt_rd_u64(r);
    int status = rt_rd_u8(r);
    uint64_t head = 0;
    int method = 0;
    a->tasks_done++;
    if (!rt_drv_inflight_pop(a, &head, &method) || head != ref)
        rt_log("actor '%s': completion of Ref %llu out of order", a->name, (unsigned long long)ref);
    RtObj *o = rt_objtab_find(&rt->refs, ref);
    if (method == -1 && status == RT_DONE_ERROR) {
        a->init_failed = true;
        if (!o) { /* (the init Ref, which the program never sees: its text is kept for
                   * daft_rt_actor_failure) */
            DaftValue v;
            if (!rt_value_get(r, &v)) {
                if (v.kind == DAFT_V_ERROR && v.as.error.msg)
                    rt_fmt(a->init_error, sizeof a->init_error, "%s", v.as.error.msg);
                daft_value_free(&v);
            }
            return;
        }
    }
    if (!o)
        return; /* released meanwhile */
    if (status == RT_DONE_STORED) {
        o->state = RT_OBJ_READY;
    } else {
        DaftValue v;
        if (rt_value_get(r, &v))
            v = daft_value_error("actor '%s': malformed completion message", a->name);
        if (rt->stats.on)
            rt_stats_add(&rt->stats, RT_STAT_RESULT, 0, 0, 0, a->id, 1, rt_stats_value_bytes(&v), 0);
        rt_objtab_resolve(o, &v);
        daft_value_free(&v);
    }
    rt_obj_settle(rt, o); /* (released unobserved: it waited for this) */
}

static void rt_drv_on_value(DaftRt *rt, RtActorRec *a, RtRd *r)
{
    uint64_t ref = rt_rd_u64(r);
    RtObj *o = rt_objtab_find(&rt->refs, ref);
    if (!o || o->has_value)
        return; /* (a prefetched value that came with its completion: a plan input may be
                 * writing it from where it is) */
    DaftValue v;
    if (rt_value_get(r, &v))
        v = daft_value_error("actor '%s': malformed value message", a->name);
    if (rt->stats.on)
        rt_stats_add(&rt->stats, RT_STAT_RESULT, 0, 0, 0, a->id, 1, rt_stats_value_bytes(&v), 0);
    rt_objtab_resolve(o, &v);
    daft_value_free(&v);
}

/* Actor a could not send transfer `xfer` to its reader: the reader, which waits for it,
 * gets the reason in its place (a reader never waits for a value that cannot come). */
static void rt_drv_on_xfer_lost(DaftRt *rt, RtActorRec *a, RtRd *r)
{
    DaftActor dest = rt_rd_u32(r);
    uint64_t xfer = rt_rd_u64(r);
    char why[400];
    rt_rd_str(r, why, sizeof why);
    RtActorRec *d = rt_drv_actor(rt, dest);
    if (r->bad || !d || d->dead)
        return;
    char text[600];
    rt_fmt(text, sizeof text, "actor '%s' (%s) cannot send a Ref's value to actor '%s': %s", a->name,
           rt_class_name(rt, a->cls), d->name, why);
    RtBuf m = {0};
    rt_buf_u32(&m, RT_M_XFER_LOST);
    rt_buf_u32(&m, a->id);
    rt_buf_u64(&m, xfer);
    rt_buf_str(&m, text);
    /* sent with the notices: this may be read while a send waits for room (no nested send) */
    rt_buf_u32(&rt->lost_due, dest);
    rt_buf_u32(&rt->lost_due, (uint32_t)m.len);
    rt_buf_put(&rt->lost_due, m.p, m.len);
    rt_buf_free(&m);
    rt->notices_due = true;
    rt_drv_notices(rt);
}

static void rt_drv_handle(DaftRt *rt, RtActorRec *a, RtBuf *m)
{
    RtRd r = rt_rd(m->p, m->len);
    switch (rt_rd_u32(&r)) {
    case RT_M_DONE: rt_drv_on_done(rt, a, &r); break;
    case RT_M_VALUE: rt_drv_on_value(rt, a, &r); break;
    case RT_M_PLAN_FAILED: {
        uint32_t id = rt_rd_u32(&r);
        uint64_t exec = rt_rd_u64(&r);
        char why[400];
        rt_rd_str(&r, why, sizeof why);
        rt_plan_failed_on(rt, id, a->name, exec, why);
        break;
    }
    case RT_M_STATS: rt_stats_take(&rt->stats, &r); break;
    case RT_M_XFER_LOST: rt_drv_on_xfer_lost(rt, a, &r); break;
    default: rt_log("actor '%s': unexpected message to the driver", a->name); break;
    }
}

/* The transport broke: find out why (local: the exit status), then record the death. */
static void rt_drv_lost(DaftRt *rt, RtActorRec *a)
{
    /* the results it sent before it died still count (a send to it may find it dead while
     * its completions wait unread: they are not lost, and its death was in a later task) */
    int rc;
    while ((rc = rt_chan_try_recv(&a->res, &rt->msg)) > 0 && !a->dead)
        rt_drv_handle(rt, a, &rt->msg);
    if (a->dead)
        return;
    char cause[128] = "connection lost";
    if (!rt->mpi) {
        rt_launch_reap(&a->proc, 500000000LL);
        rt_launch_describe(a->proc.status, cause, sizeof cause);
    }
    rt_drv_dead(rt, a, cause);
}

int rt_drv_poll(DaftRt *rt)
{
    int n = 0;
    for (DaftActor i = 1; i <= rt->nactors; i++) {
        RtActorRec *a = rt->actors[i];
        if (a->dead)
            continue;
        int rc;
        while ((rc = rt_chan_try_recv(&a->res, &rt->msg)) > 0) {
            rt_drv_handle(rt, a, &rt->msg);
            n++;
        }
        if (rc < 0)
            rt_drv_lost(rt, a);
    }
    return n;
}

void rt_drv_check_exits(DaftRt *rt)
{
    if (rt->mpi)
        return;
    for (DaftActor i = 1; i <= rt->nactors; i++) {
        RtActorRec *a = rt->actors[i];
        if (a->dead || !rt_launch_exited(&a->proc))
            continue;
        int rc; /* results it sent before dying still count */
        while ((rc = rt_chan_try_recv(&a->res, &rt->msg)) > 0)
            rt_drv_handle(rt, a, &rt->msg);
        char cause[128];
        rt_launch_describe(a->proc.status, cause, sizeof cause);
        rt_drv_dead(rt, a, cause);
    }
}

void rt_drv_take(DaftRt *rt)
{
    rt_drv_notices(rt);
    rt_drv_poll(rt);
    rt_drv_check_exits(rt);
}

void rt_drv_wait(DaftRt *rt, int64_t deadline_ns) { rt_drv_wait_but(rt, deadline_ns, NULL); }

void rt_drv_wait_but(DaftRt *rt, int64_t deadline_ns, const struct DaftRtPlan *busy)
{
    rt_drv_notices(rt);
    rt_plans_drain(rt, busy);
    int64_t ns = rt_sleep_ns(deadline_ns, RT_SLICE_NS);
    if (rt->mode == RT_MODE_SHM) {
        RtBell *b = &rt->bells[0];
        uint32_t snap = rt_bell_snapshot(b);
        int64_t spin_end = rt_now_ns() + RT_SPIN_NS;
        do {
            if (rt_drv_poll(rt))
                return;
            rt_cpu_relax(spin_end);
        } while (rt_now_ns() < spin_end);
        rt_drv_check_exits(rt);
        rt_bell_wait(b, snap, ns);
    } else {
        if (rt_drv_poll(rt))
            return;
        rt_drv_check_exits(rt);
        struct pollfd p[512];
        nfds_t n = 0;
        for (DaftActor i = 1; i <= rt->nactors && n < 510; i++) {
            RtActorRec *a = rt->actors[i];
            if (a->dead)
                continue;
            p[n++] = (struct pollfd){a->res.fd, POLLIN, 0};
            if (a->proc.pidfd >= 0)
                p[n++] = (struct pollfd){a->proc.pidfd, POLLIN, 0};
        }
        poll(p, n, (int)(ns / 1000000) + 1);
    }
    rt_drv_poll(rt);
}

/* ---------------------------------------------------------------- outbound */

static bool rt_drv_alive_cb(void *arg)
{
    RtActorRec *a = arg;
    return !a->dead && (a->proc.pid <= 0 || !rt_launch_exited(&a->proc));
}

typedef struct RtSendCtx {
    DaftRt *rt;
    RtActorRec *a;
} RtSendCtx;

static bool rt_send_alive(void *arg) { return rt_drv_alive_cb(((RtSendCtx *)arg)->a); }
static void rt_send_progress(void *arg) { rt_drv_poll(((RtSendCtx *)arg)->rt); }

int rt_drv_send(DaftRt *rt, RtActorRec *a, const RtBuf *m) { return rt_drv_sendv(rt, a, m, NULL); }

int rt_drv_sendv(DaftRt *rt, RtActorRec *a, const RtBuf *m, const RtSplices *sp)
{
    if (a->dead)
        return DAFT_EPEER;
    RtSendCtx c = {rt, a};
    /* (interruptible: a send that waits for a busy actor to read ends at an interrupt,
     * unsent, so that neither the program nor its teardown waits for that task) */
    RtWait w = {-1, rt_send_alive, rt_send_progress, &c, true};
    rt->sending++;
    int rc = rt_chan_sendv(&a->ctl, m, sp, &w);
    rt->sending--;
    if (rc == DAFT_EPEER && !a->dead)
        rt_drv_lost(rt, a);
    return rc;
}

/* ---------------------------------------------------------------- deaths */

typedef struct RtLost {
    DaftActor owner;
    const char *death;
    DaftRt *rt;
} RtLost;

/* Values held only by the dead actor are gone: their Refs become errors too. */
static void rt_mark_lost(RtObj *o, void *arg)
{
    RtLost *l = arg;
    if (o->owner != l->owner || o->has_value)
        return;
    DaftValue e = daft_value_error("%s", l->death);
    rt_objtab_resolve(o, &e);
}

static void rt_drv_dead_settle(DaftRt *rt, RtActorRec *a);

void rt_drv_dead(DaftRt *rt, RtActorRec *a, const char *cause)
{
    if (a->dead)
        return;
    a->dead = true;
    const char *cls = rt_class_name(rt, a->cls);
    RtBell *b = rt->bells && !rt->mpi ? &rt->bells[a->id] : NULL;
    uint32_t cm = b ? atomic_load(&b->cur_method) : 0;
    /* it was running the oldest task the driver has not seen end only if it had begun it:
     * a call sent to an actor that was idle (killed while the driver did not look) did not
     * kill it. A kill of the driver's own (daft-repl's :kill) came after every call it had
     * sent: it stopped the first of them, begun or about to be. */
    if (a->inflight_len &&
        (!b || a->kill_sent || atomic_load(&b->tasks_begun) != a->tasks_done))
        rt_fmt(a->death, sizeof a->death, "actor '%s' (%s) died while running '%s': %s", a->name,
               cls, rt_method_name(rt, a->cls, a->inflight_m[a->inflight_head]), cause);
    else if (cm) /* it was inside a method of a compiled plan */
        rt_fmt(a->death, sizeof a->death,
               "actor '%s' (%s) died while running '%s' (compiled plan '%s'): %s", a->name, cls,
               rt_method_name(rt, a->cls, (int)cm - 1),
               rt_plan_name(rt, atomic_load(&rt->bells[a->id].cur_plan)), cause);
    else
        rt_fmt(a->death, sizeof a->death, "actor '%s' (%s) died: %s", a->name, cls, cause);
    rt_drv_dead_settle(rt, a);
}

void rt_drv_never_started(DaftRt *rt, RtActorRec *a, const char *cause)
{
    a->dead = true;
    rt_fmt(a->death, sizeof a->death, "actor '%s' (%s) could not start: %s", a->name,
           rt_class_name(rt, a->cls), cause);
    rt_drv_dead_settle(rt, a);
}

/* What follows an actor's death (a->death says why): its pending Refs, and the Refs that
 * depend on them, hold the death. */
static void rt_drv_dead_settle(DaftRt *rt, RtActorRec *a)
{
    uint64_t id;
    int m;
    /* the tasks queued behind the running one hold the death as it is, with no suffix: a
     * task of another actor given one of their Refs before the death learns of it from that
     * actor's own notice (the bare text), so any suffix would depend on timing (SPEC 14.1) */
    while (rt_drv_inflight_pop(a, &id, &m)) {
        RtObj *o = rt_objtab_find(&rt->refs, id);
        if (o && !o->has_value) {
            DaftValue e = daft_value_error("%s", a->death);
            rt_objtab_resolve(o, &e);
            rt_obj_settle(rt, o);
        }
    }
    RtLost l = {a->id, a->death, rt};
    rt_objtab_foreach(&rt->refs, rt_mark_lost, &l);
    rt->notices_due = true;
    if (!a->stop_sent) /* (an actor that stops as told at the end did not die) */
        rt_trace_slice(&rt->trace, a->death, "death", rt_now_ns(), rt_now_ns() + 1000);
}

void rt_drv_notices(DaftRt *rt)
{
    if (!rt->notices_due || rt->sending)
        return;
    rt->notices_due = false;
    for (DaftActor d = 1; d <= rt->nactors; d++) {
        RtActorRec *dead = rt->actors[d];
        if (!dead->dead || dead->notice_sent)
            continue;
        dead->notice_sent = true;
        /* an actor that stopped when told to at the end is not dead to the others, which
         * may still run plan executions that need it no more (its normal exit would stop
         * them: rt_exec.c's rt_handle_dead) */
        if (dead->stop_sent && !rt->mpi && dead->proc.exited && WIFEXITED(dead->proc.status) &&
            WEXITSTATUS(dead->proc.status) == 0)
            continue;
        RtBuf m = {0};
        rt_buf_u32(&m, RT_M_DEAD);
        rt_buf_u32(&m, d);
        rt_buf_str(&m, dead->death);
        for (DaftActor i = 1; i <= rt->nactors; i++)
            if (!rt->actors[i]->dead)
                rt_drv_send(rt, rt->actors[i], &m);
        rt_buf_free(&m);
    }
    RtBuf lost = rt->lost_due; /* (the same) */
    rt->lost_due = (RtBuf){0};
    for (RtRd r = rt_rd(lost.p, lost.len); r.len - r.off >= 8;) {
        RtActorRec *a = rt_drv_actor(rt, rt_rd_u32(&r));
        uint32_t n = rt_rd_u32(&r);
        const void *body = rt_rd_bytes(&r, n);
        if (!body)
            break;
        RtBuf m = {(uint8_t *)body, n, n};
        if (a && !a->dead)
            rt_drv_send(rt, a, &m);
    }
    rt_buf_free(&lost);
    RtBuf due = rt->frees_due; /* (more may be queued while these are sent) */
    rt->frees_due = (RtBuf){0};
    for (RtRd r = rt_rd(due.p, due.len); r.len - r.off >= 12;) {
        RtActorRec *a = rt_drv_actor(rt, rt_rd_u32(&r));
        uint64_t id = rt_rd_u64(&r);
        if (!a || a->dead)
            continue;
        RtBuf m = {0};
        rt_buf_u32(&m, RT_M_FREE);
        rt_buf_u64(&m, id);
        rt_drv_send(rt, a, &m);
        rt_buf_free(&m);
    }
    rt_buf_free(&due);
    rt_plans_send_owed_unloads(rt);
}
