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

struct DaftRtPlan {
    uint32_t id;
    char name[64];     /* copied: the plan's own strings may not outlive its graph */
    const DaftPlan *plan;
    DaftActor *actors;
    RtRing *rings;         /* [channel]; mapped here only where the driver writes or reads */
    RtRingReader *rds;
    bool *mapped;
    uint64_t submitted, received, returned;
    int got;               /* outputs of execution `received` already read */
    DaftValue *res;        /* [res_cap][noutputs] ring of execution results */
    uint64_t res_cap;
    bool broken;
    char why[300];
    RtBuf tx, rx;
    DaftRt *rt;
};

const char *rt_plan_name(const DaftRt *rt, uint32_t id)
{
    for (int i = 0; i < rt->nplans; i++)
        if (rt->plans[i]->id == id)
            return rt->plans[i]->name;
    return "?";
}

int daft_rt_plan_pending(const DaftRtPlan *p) { return (int)(p->submitted - p->returned); }

/* ---------------------------------------------------------------- loading */

static int rt_plan_check(DaftRt *rt, const DaftPlan *plan, const DaftActor *actors, int n)
{
    if (!rt->is_driver || rt->mode != RT_MODE_SHM) {
        rt_set_err(rt, "plan '%s': compiled plans need the shared-memory transport (not TCP/MPI yet)",
                   plan->name);
        return DAFT_EINVAL;
    }
    if (n != plan->nactors || plan->ngroups) {
        rt_set_err(rt, "plan '%s': %s", plan->name, plan->ngroups ? "collectives are not supported yet by the CPU runtime"
                                                                 : "wrong number of actors");
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
            if (o->kind == DAFT_OP_COLLECTIVE ||
                (o->kind == DAFT_OP_CALL && daft_rt_method_index(rt, a->cls, o->method) < 0)) {
                rt_set_err(rt, "plan '%s': actor '%s' (%s) cannot run op %d (%s%s)", plan->name,
                           a->name, plan->actors[i].cls, k,
                           o->kind == DAFT_OP_CALL ? "no method " : "collective",
                           o->kind == DAFT_OP_CALL ? o->method : "");
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

/* Slot size: a whole static tensor fits one slot (up to 1 MiB), else 4 KiB chunks. */
static uint32_t rt_plan_slot_size(const DaftPayload *pl)
{
    size_t n = 4096;
    bool fixed = pl->rank >= 0 && pl->rank <= DAFT_PLAN_MAX_RANK;
    for (int i = 0; fixed && i < pl->rank; i++)
        fixed = pl->dims[i] >= 0;
    if (pl->kind == DAFT_PAY_TENSOR && fixed) { /* (not daft_payload_static: no link to the planner) */
        size_t e = daft_rt_dtype_size((DaftRtDtype)pl->dtype);
        for (int i = 0; i < pl->rank; i++)
            e *= (size_t)pl->dims[i];
        n = e + 96;
    }
    n = n < 256 ? 256 : n > (1u << 20) ? (1u << 20) : n;
    return (uint32_t)n;
}

static int rt_plan_make_rings(DaftRtPlan *p)
{
    const DaftPlan *plan = p->plan;
    for (int c = 0; c < plan->nchannels; c++) {
        const DaftPlanChannel *ch = &plan->channels[c];
        if (ch->transport == DAFT_TRANSPORT_LOCAL || ch->nreaders == 0)
            continue;
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
        rt_buf_u8(m, (uint8_t)o->kind);
        rt_buf_u32(m, (uint32_t)o->dst);
        rt_buf_u32(m, (uint32_t)o->src);
        rt_buf_u32(m, (uint32_t)o->channel);
        rt_buf_u32(m, (uint32_t)o->reader);
        rt_buf_u32(m, o->kind == DAFT_OP_CALL ? (uint32_t)daft_rt_method_index(rt, cls, o->method) : 0);
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

/* Sends actor i its program, then (fd first, as the actor expects) its channel ends. */
static int rt_plan_send_actor(DaftRt *rt, DaftRtPlan *p, int i)
{
    const DaftPlan *plan = p->plan;
    RtActorRec *a = rt_drv_actor(rt, p->actors[i]);
    RtBuf *m = &rt->out;
    m->len = 0;
    rt_buf_u32(m, RT_M_PLAN_LOAD);
    rt_buf_u32(m, p->id);
    rt_buf_str(m, plan->name);
    rt_buf_u32(m, (uint32_t)plan->actors[i].nslots);
    rt_buf_u32(m, (uint32_t)plan->nchannels);
    rt_buf_u32(m, (uint32_t)plan->nactors);
    for (int k = 0; k < plan->nactors; k++)
        rt_buf_u32(m, p->actors[k]);
    rt_put_ops(rt, m, &plan->actors[i], a->cls);
    uint32_t nends = 0;
    size_t at = m->len;
    rt_buf_u32(m, 0);
    for (int c = 0; c < plan->nchannels; c++) {
        const DaftPlanChannel *ch = &plan->channels[c];
        int ridx = rt_reader_index(ch, i);
        if (!p->mapped[c] || (ch->writer != i && ridx < 0))
            continue;
        if (rt_send_fd_sock(a->sock, p->rings[c].fd))
            return DAFT_EPEER;
        nends++;
        rt_buf_u32(m, (uint32_t)c);
        rt_buf_u8(m, ridx >= 0);
        rt_buf_u32(m, ridx >= 0 ? (uint32_t)ridx : 0);
        rt_buf_u32(m, ch->writer == i ? (uint32_t)ch->nreaders : 0);
        for (int r = 0; ch->writer == i && r < ch->nreaders; r++)
            rt_buf_u32(m, rt_plan_actor_id(p, ch->readers[r]));
    }
    memcpy(m->p + at, &nends, 4);
    return rt_drv_send(rt, a, m);
}

/* The driver keeps the ends it writes (inputs) and reads (outputs), nothing else. */
static void rt_plan_driver_ends(DaftRt *rt, DaftRtPlan *p)
{
    const DaftPlan *plan = p->plan;
    for (int c = 0; c < plan->nchannels; c++) {
        const DaftPlanChannel *ch = &plan->channels[c];
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

static void rt_plan_free(DaftRtPlan *p)
{
    const DaftPlan *plan = p->plan;
    for (int c = 0; c < plan->nchannels; c++)
        if (p->mapped[c]) {
            rt_ring_reader_free(&p->rds[c]);
            rt_ring_destroy(&p->rings[c]);
        }
    for (uint64_t i = 0; p->res && i < p->res_cap * (uint64_t)plan->noutputs; i++)
        daft_value_free(&p->res[i]);
    free(p->res);
    free(p->rings);
    free(p->rds);
    free(p->mapped);
    free(p->actors);
    rt_buf_free(&p->tx);
    rt_buf_free(&p->rx);
    free(p);
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
    size_t nc = (size_t)plan->nchannels + 1;
    p->actors = calloc((size_t)n + 1, sizeof *p->actors);
    p->rings = calloc(nc, sizeof *p->rings);
    p->rds = calloc(nc, sizeof *p->rds);
    p->mapped = calloc(nc, sizeof *p->mapped);
    p->res_cap = 4;
    p->res = calloc(p->res_cap * (size_t)(plan->noutputs + 1), sizeof *p->res);
    if (!p->actors || !p->rings || !p->rds || !p->mapped || !p->res) {
        rt_plan_free(p);
        return DAFT_ENOMEM;
    }
    memcpy(p->actors, actors, (size_t)n * sizeof *actors);
    rc = rt_plan_make_rings(p);
    for (int i = 0; !rc && i < n; i++)
        rc = rt_plan_send_actor(rt, p, i);
    if (rc) {
        rt_set_err(rt, "plan '%s': cannot set up its channels", plan->name);
        rt_plan_free(p);
        return rc == DAFT_ENOMEM ? rc : DAFT_EINVAL;
    }
    rt_plan_driver_ends(rt, p);
    rt->plans[rt->nplans++] = p;
    *out = p;
    return 0;
}

/* ---------------------------------------------------------------- executions */

/* A member died: this plan can never complete another execution. */
static bool rt_plan_alive(void *arg)
{
    DaftRtPlan *p = arg;
    rt_drv_check_exits(p->rt);
    for (int i = 0; !p->broken && i < p->plan->nactors; i++) {
        RtActorRec *a = rt_drv_actor(p->rt, p->actors[i]);
        if (a->dead) {
            p->broken = true;
            rt_fmt(p->why, sizeof p->why, "%s", a->death);
        }
    }
    return !p->broken;
}

static void rt_plan_progress(void *arg) { rt_drv_poll(((DaftRtPlan *)arg)->rt); }

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
static int rt_plan_read(DaftRtPlan *p, int ch, int64_t deadline, DaftValue *out)
{
    RtWait w = {deadline, rt_plan_alive, rt_plan_progress, p};
    for (;;) {
        int rc = rt_ring_read(&p->rds[ch], &p->rx, &w);
        if (rc < 0)
            return rc;
        RtRd r = rt_rd(p->rx.p, p->rx.len);
        int32_t target = (int32_t)rt_rd_u32(&r);
        if (target >= 0 && (uint32_t)target != p->rds[ch].idx)
            continue;
        if (rt_value_get(&r, out))
            *out = daft_value_error("plan '%s': malformed value on an output channel", p->plan->name);
        return 0;
    }
}

/* Receives the outputs of the oldest execution still running. */
static int rt_plan_receive(DaftRtPlan *p, int64_t deadline)
{
    const DaftPlan *plan = p->plan;
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
        int rc = p->broken ? DAFT_EPEER : rt_plan_read(p, ch, deadline, &rec[o]);
        if (rc == DAFT_ETIMEDOUT)
            return rc;
        if (rc)
            rec[o] = daft_value_error("%s (plan '%s' cannot run)", p->why, plan->name);
    }
    p->got = 0;
    p->received++;
    return 0;
}

static int rt_plan_write_inputs(DaftRtPlan *p, const DaftValue *inputs)
{
    const DaftPlan *plan = p->plan;
    RtWait w = {-1, rt_plan_alive, rt_plan_progress, p};
    for (int i = 0; i < plan->ninputs && !p->broken; i++) {
        p->tx.len = 0;
        rt_buf_u32(&p->tx, (uint32_t)-1);
        if (rt_value_put(&p->tx, &inputs[i]))
            return DAFT_ENOMEM;
        for (int k = 0; k < plan->inputs[i].nchannels && !p->broken; k++) {
            int ch = plan->inputs[i].channels[k];
            if (p->mapped[ch])
                rt_ring_write(&p->rings[ch], p->tx.p, p->tx.len, &w);
        }
    }
    return 0;
}

int daft_rt_plan_submit(DaftRt *rt, DaftRtPlan *p, const DaftValue *inputs, int ninputs,
                        double timeout_s)
{
    const DaftPlan *plan = p->plan;
    if (ninputs != plan->ninputs || (ninputs && !inputs)) {
        rt_set_err(rt, "plan '%s': expects %d inputs, got %d", plan->name, plan->ninputs, ninputs);
        return DAFT_EINVAL;
    }
    int64_t t0 = rt_now_ns(), deadline = rt_deadline(timeout_s);
    int cap = plan->inflight > 0 ? plan->inflight : 1;
    while (p->submitted - p->received >= (uint64_t)cap) {
        int rc = rt_plan_receive(p, deadline);
        if (rc)
            return rc;
    }
    if (rt_plan_grow(p))
        return DAFT_ENOMEM;
    DaftValue *rec = rt_plan_rec(p, p->submitted);
    for (int o = 0; o < plan->noutputs; o++) {
        daft_value_free(&rec[o]);
        if (plan->outputs[o].input >= 0)
            daft_value_copy(&rec[o], &inputs[plan->outputs[o].input]);
    }
    int rc = rt_plan_write_inputs(p, inputs);
    p->submitted++;
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
        int rc = rt_plan_receive(p, deadline);
        if (rc)
            return rc;
    }
    DaftValue *rec = rt_plan_rec(p, p->returned);
    for (int o = 0; o < noutputs; o++) {
        outputs[o] = rec[o];
        rec[o] = daft_value_none();
    }
    p->returned++;
    rt_trace_slice(&rt->trace, plan->name, "result", t0, rt_now_ns());
    return 0;
}

void daft_rt_plan_unload(DaftRt *rt, DaftRtPlan *p)
{
    if (!p)
        return;
    RtBuf m = {0};
    rt_buf_u32(&m, RT_M_PLAN_UNLOAD);
    rt_buf_u32(&m, p->id);
    for (int i = 0; i < p->plan->nactors; i++) {
        RtActorRec *a = rt_drv_actor(rt, p->actors[i]);
        if (a && !a->dead)
            rt_drv_send(rt, a, &m);
    }
    rt_buf_free(&m);
    for (int i = 0; i < rt->nplans; i++)
        if (rt->plans[i] == p) {
            rt->plans[i] = rt->plans[--rt->nplans];
            break;
        }
    rt_plan_free(p);
}

void rt_plans_unload_all(DaftRt *rt)
{
    while (rt->nplans)
        daft_rt_plan_unload(rt, rt->plans[rt->nplans - 1]);
}
