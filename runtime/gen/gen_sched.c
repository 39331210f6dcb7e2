/* gen_sched.c — compiled schedules in daftc-built executables: plan templates (embedded or
 * planned at run time), plans loaded on the actual actors, executions on the runtime's
 * compiled executor, and the plan handles that stand for their results. Contract:
 * include/daft/gen.h, "compiled schedules". */
#include "gen_internal.h"

#include <daft/lang.h>
#include <daft/plan.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---------------------------------------------------------------- state */

typedef struct GenExec {
    DaftValue *outs; /* NULL until received */
    bool *seen;      /* [output] observed: got, or passed on (SPEC 14.2) */
    int live;        /* handles not yet released */
} GenExec;

typedef struct GenLoaded {
    DaftGenSchedule *s;
    const DaftPlan *plan;   /* owned by a template */
    int64_t *key;           /* the call's structural arguments (see bind) */
    int nkey;
    DaftActor *actors;      /* plan actor i is actors[i] */
    int nactors;
    DaftRtPlan *rp;         /* NULL: runs interpreted, or dropped */
    bool interpreted, dropped;
    uint64_t base, submitted, fetched;
    GenExec *ex;            /* execution e at ex[e % cap], base <= e < submitted */
    uint64_t cap;
    uint64_t looked;        /* gen_handles_look's stamp: asked for results in that look */
    struct GenLoaded *next;
} GenLoaded;

typedef struct GenTemplate {
    DaftPlan *plan;
    bool embedded;
    struct GenTemplate *next;
} GenTemplate;

typedef struct GenSched {
    GenTemplate *templates;
    bool embedded_done;
    struct GenSched *next;
    DaftGenSchedule *s;
} GenSched;

/* ---------------------------------------------------------------- plan handles */

typedef struct Handle {
    uint64_t id;
    GenLoaded *L;
    uint64_t exec;
    int out;
} Handle;

static void h_put(Handle h)
{
    if (!daft_gen_ctx.handles.size)
        daft_gen_ctx.handles.size = sizeof(Handle);
    *(Handle *)gen_idmap_put(&daft_gen_ctx.handles, h.id) = h;
}

static Handle *h_find(uint64_t id) { return gen_idmap_find(&daft_gen_ctx.handles, id); }

static void h_del(Handle *h) { gen_idmap_del(&daft_gen_ctx.handles, h); }

/* ---------------------------------------------------------------- executions */

static GenExec *exec_at(GenLoaded *L, uint64_t e) { return &L->ex[e % L->cap]; }

static void exec_reserve(GenLoaded *L)
{
    if (L->submitted - L->base < L->cap)
        return;
    uint64_t cap = L->cap ? L->cap * 2 : 8;
    GenExec *n = calloc(cap, sizeof *n);
    if (!n)
        daft_gen_fatal("out of memory");
    for (uint64_t e = L->base; e < L->submitted; e++)
        n[e % cap] = *exec_at(L, e);
    free(L->ex);
    L->ex = n;
    L->cap = cap;
}

/* Frees a received execution's results; an error among them that the program never
 * observed is reported first (SPEC 14.2). */
static int64_t gen_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void exec_free_outs(GenLoaded *L, GenExec *x)
{
    for (int o = 0; x->outs && o < L->plan->noutputs; o++) {
        if (x->outs[o].kind == DAFT_V_ERROR && !(x->seen && x->seen[o])) {
            fflush(stdout);
            daft_rt_warn_unobserved(daft_gen_rt(), x->outs[o].as.error.msg);
        }
        daft_value_free(&x->outs[o]);
    }
    free(x->outs);
    free(x->seen);
    x->outs = NULL;
    x->seen = NULL;
}

/* Forgets the oldest records once they are received and nobody holds them. (A record's
 * results are freed as soon as its last Ref goes, even while an older one is still held,
 * so one Ref kept in a variable does not keep every later result.) */
static void exec_trim(GenLoaded *L)
{
    while (L->base < L->fetched && exec_at(L, L->base)->live == 0) {
        exec_free_outs(L, exec_at(L, L->base));
        L->base++;
    }
}

/* Receives the oldest execution not yet received. 0, or DAFT_ETIMEDOUT or DAFT_EINTR
 * (nothing taken). */
static int exec_fetch(GenLoaded *L, double timeout_s)
{
    int n = L->plan->noutputs;
    DaftValue *outs = calloc((size_t)n + 1, sizeof *outs);
    if (!outs)
        daft_gen_fatal("out of memory");
    DaftRt *rt = daft_gen_rt();
    int rc = L->rp && rt ? daft_rt_plan_result(rt, L->rp, timeout_s, outs, n) : DAFT_EINVAL;
    if (rc == DAFT_ETIMEDOUT || rc == DAFT_EINTR) {
        free(outs);
        return rc;
    }
    if (rc != 0)
        for (int o = 0; o < n; o++) {
            daft_value_free(&outs[o]);
            outs[o] = daft_value_error("schedule '%s': no result: %s", L->s->name,
                                       rt ? daft_rt_last_error(rt) : "runtime stopped");
        }
    GenExec *x = exec_at(L, L->fetched);
    x->outs = outs;
    L->fetched++;
    if (x->live == 0) /* (its Refs were all released before it finished) */
        exec_free_outs(L, x);
    exec_trim(L);
    return 0;
}

/* Drains what is in flight and unloads the plan (a member died, or shutdown). */
static void loaded_drop(GenLoaded *L)
{
    while (L->rp && L->fetched < L->submitted)
        if (exec_fetch(L, -1) == DAFT_EINTR)
            gen_interrupted(NULL, NULL);
    if (L->rp && daft_gen_rt())
        daft_rt_plan_unload(daft_gen_rt(), L->rp);
    L->rp = NULL;
    L->dropped = true;
}

static void loaded_free(GenLoaded *L)
{
    for (uint64_t e = L->base; e < L->submitted; e++) /* (not received: its `seen` only) */
        exec_free_outs(L, exec_at(L, e));
    free(L->ex);
    free(L->key);
    free(L->actors);
    free(L);
}

/* Frees the dropped plans whose every result is received and released (no handle refers
 * to them any more): a plan that fails and is loaded again on every few calls must not
 * pile up. */
static void loaded_sweep(void)
{
    for (GenLoaded **at = &daft_gen_ctx.loaded; *at;) {
        GenLoaded *L = *at;
        if (L->dropped && L->base == L->submitted) {
            *at = L->next;
            loaded_free(L);
        } else {
            at = &L->next;
        }
    }
}

int gen_handle_get(const DaftValue *v, double timeout_s, DaftValue *out, bool take, const char *op)
{
    Handle *h = h_find(v->as.ref.id);
    if (!h) {
        *out = daft_value_error("get of a released Ref (a compiled schedule's result)");
        return DAFT_EINVAL;
    }
    GenLoaded *L = h->L;
    uint64_t exec = h->exec;
    int o = h->out;
    for (int rc; L->fetched <= exec;)
        if ((rc = exec_fetch(L, timeout_s)) == DAFT_EINTR)
            gen_interrupted(op, v);
        else if (rc)
            return rc;
    DaftValue *res = &exec_at(L, exec)->outs[o];
    exec_at(L, exec)->seen[o] = true;
    daft_rt_error_observed(daft_gen_rt(), res);
    if (take && res->kind != DAFT_V_ERROR && gen_ref_unshared(v)) { /* (an error may be reported to other gets) */
        *out = *res;
        *res = daft_value_error("the result of this execution was already taken by get");
    } else {
        daft_gen_copy(out, res);
    }
    return 0;
}

int gen_handle_wait(const DaftValue *v, double timeout_s)
{
    Handle *h = h_find(v->as.ref.id);
    if (!h)
        return 1; /* a released Ref: get reports it at once */
    GenLoaded *L = h->L;
    for (int rc; L->fetched <= h->exec;)
        if ((rc = exec_fetch(L, timeout_s)))
            return rc == DAFT_EINTR ? rc : 0;
    return 1; /* (ready is not observed: an error in it stays unseen) */
}

int gen_handle_ready(const DaftValue *v) { return gen_handle_wait(v, 0) == 1; }

size_t gen_handles_look(const DaftValue *const *items, size_t len, uint8_t *ready, size_t *pending)
{
    uint64_t stamp = ++daft_gen_ctx.looks;
    size_t err = len;
    *pending = 0;
    for (size_t i = 0; i < len; i++) {
        if (!gen_is_handle(items[i]))
            continue;
        Handle *h = h_find(items[i]->as.ref.id);
        if (!h) { /* (released: get says so at once) */
            ready[i] = 1;
            err = err < i ? err : i;
            continue;
        }
        GenLoaded *L = h->L;
        if (L->fetched <= h->exec && L->looked != stamp) { /* (each plan once: polls are not free) */
            L->looked = stamp;
            while (L->fetched < L->submitted && exec_fetch(L, 0) == 0)
                ;
        }
        ready[i] = L->fetched > h->exec;
        if (!ready[i])
            ++*pending;
        else if (err == len && exec_at(L, h->exec)->outs[h->out].kind == DAFT_V_ERROR)
            err = i;
    }
    return err;
}

const char *gen_handle_schedule(const DaftValue *v)
{
    Handle *h = h_find(v->as.ref.id);
    return h && h->L->plan->name ? h->L->plan->name : "?";
}

DaftActor gen_handle_producer(const DaftValue *v)
{
    Handle *h = h_find(v->as.ref.id);
    if (!h)
        return 0;
    const DaftPlan *p = h->L->plan;
    int ch = p->outputs[h->out].channel;
    if (ch < 0 || p->channels[ch].writer < 0)
        return 0;
    return h->L->actors[p->channels[ch].writer];
}

void gen_handle_release(const DaftValue *v)
{
    Handle *h = h_find(v->as.ref.id);
    if (!h)
        return;
    GenLoaded *L = h->L;
    uint64_t e = h->exec;
    GenExec *x = exec_at(L, e);
    h_del(h);
    if (x->live > 0)
        x->live--;
    if (x->live == 0 && e < L->fetched)
        exec_free_outs(L, x);
    exec_trim(L);
}

DaftValue *gen_resolve_handles(const DaftValue *args, int nargs)
{
    DaftValue *r = calloc((size_t)nargs + 1, sizeof *r);
    if (!r)
        daft_gen_fatal("out of memory");
    for (int i = 0; i < nargs; i++) {
        if (!gen_is_handle(&args[i])) {
            daft_gen_copy(&r[i], &args[i]);
            continue;
        }
        if (gen_handle_get(&args[i], -1, &r[i], false, NULL) != 0 && r[i].kind != DAFT_V_ERROR) {
            daft_value_free(&r[i]);
            r[i] = daft_value_error("invalid Ref");
        }
    }
    return r;
}

/* ---------------------------------------------------------------- binding a call */

/* Names with borrowed values, in order: a call's plan inputs. */
typedef struct Named {
    char **names;
    const DaftValue **vals;
    int n, cap;
} Named;

typedef struct Bind {
    DaftActor *actors;      /* distinct actors in order of first appearance */
    char **names;           /* plan actor names: "a", "workers[2]" */
    int n, cap;
    Named inputs;           /* plan inputs: "x", "xs[1]" */
    /* list-typed data parameters, whole: a plan whose body passes one to a method has an
     * input of that name after all the others (trace.c trace_whole_input) */
    Named whole;
    int64_t *key;
    int nkey, kcap;
    /* per parameter: the actors bound (for daft_trace_schedule) */
    DaftActor **pactors;
    int *npactors;
} Bind;

static char *xstrdup(const char *s)
{
    char *d = strdup(s);
    if (!d)
        daft_gen_fatal("out of memory");
    return d;
}

static void *xgrow(void *p, int *cap, int need, size_t elem)
{
    if (need <= *cap)
        return p;
    int c = *cap ? *cap * 2 : 8;
    while (c < need)
        c *= 2;
    void *q = realloc(p, (size_t)c * elem);
    if (!q)
        daft_gen_fatal("out of memory");
    *cap = c;
    return q;
}

static void key_push(Bind *b, int64_t v)
{
    b->key = xgrow(b->key, &b->kcap, b->nkey + 1, sizeof *b->key);
    b->key[b->nkey++] = v;
}

static void bind_actor(Bind *b, const char *name, DaftActor a)
{
    key_push(b, (int64_t)a);
    for (int i = 0; i < b->n; i++)
        if (b->actors[i] == a)
            return;
    int c = b->cap;
    b->actors = xgrow(b->actors, &c, b->n + 1, sizeof *b->actors);
    b->names = xgrow(b->names, &b->cap, b->n + 1, sizeof *b->names);
    b->actors[b->n] = a;
    b->names[b->n++] = xstrdup(name);
}

static void named_push(Named *nv, const char *name, const DaftValue *v)
{
    int c = nv->cap;
    nv->names = xgrow(nv->names, &c, nv->n + 1, sizeof *nv->names);
    nv->vals = xgrow(nv->vals, &nv->cap, nv->n + 1, sizeof *nv->vals);
    nv->names[nv->n] = xstrdup(name);
    nv->vals[nv->n++] = v;
}

static void named_free(Named *nv)
{
    for (int i = 0; i < nv->n; i++)
        free(nv->names[i]);
    free(nv->names);
    free(nv->vals);
}

static void bind_free(Bind *b, int nparams)
{
    named_free(&b->whole);
    named_free(&b->inputs);
    for (int i = 0; i < b->n; i++)
        free(b->names[i]);
    for (int i = 0; i < nparams && b->pactors; i++)
        free(b->pactors[i]);
    free(b->pactors);
    free(b->npactors);
    free(b->names);
    free(b->actors);
    free(b->key);
}

/* Mirrors the tracer's naming (trace.c add_param_actors, bind_param): actors are named
 * after the first parameter that binds them, inputs after their parameter. */
static void bind_call(DaftGenSchedule *s, const DaftValue *args, Bind *b)
{
    memset(b, 0, sizeof *b);
    b->pactors = calloc((size_t)s->nparams + 1, sizeof *b->pactors);
    b->npactors = calloc((size_t)s->nparams + 1, sizeof *b->npactors);
    if (!b->pactors || !b->npactors)
        daft_gen_fatal("out of memory");
    char name[300];
    for (int i = 0; i < s->nparams; i++) {
        const char *pn = s->param_names[i];
        const DaftValue *v = &args[i];
        int kind = s->param_kinds[i];
        key_push(b, -1 - kind);
        if (kind == DAFT_GEN_P_ACTOR) {
            if (v->kind != DAFT_V_ACTOR)
                daft_gen_fatal("schedule '%s': parameter '%s' is not an actor", s->name, pn);
            b->pactors[i] = calloc(1, sizeof(DaftActor));
            if (!b->pactors[i])
                daft_gen_fatal("out of memory");
            b->pactors[i][0] = v->as.actor;
            b->npactors[i] = 1;
            bind_actor(b, pn, v->as.actor);
        } else if (kind == DAFT_GEN_P_ACTOR_LIST || kind == DAFT_GEN_P_COMM) {
            size_t first = kind == DAFT_GEN_P_COMM ? 1 : 0;
            if (v->kind != DAFT_V_LIST || v->as.list.len < first)
                daft_gen_fatal("schedule '%s': parameter '%s' is not a %s", s->name, pn,
                               kind == DAFT_GEN_P_COMM ? "communicator" : "list of actors");
            int id = 0;
            if (kind == DAFT_GEN_P_COMM && daft_gen_comm_destroyed(v, &id))
                daft_gen_fatal("communicator Comm#%d was destroyed", id);
            size_t n = v->as.list.len - first;
            key_push(b, (int64_t)n);
            b->pactors[i] = calloc(n + 1, sizeof(DaftActor));
            if (!b->pactors[i])
                daft_gen_fatal("out of memory");
            for (size_t j = 0; j < n; j++) {
                const DaftValue *it = &v->as.list.items[first + j];
                if (it->kind != DAFT_V_ACTOR)
                    daft_gen_fatal("schedule '%s': item %zu of '%s' is not an actor", s->name, j, pn);
                b->pactors[i][j] = it->as.actor;
                snprintf(name, sizeof name, "%s[%zu]", pn, j);
                bind_actor(b, name, it->as.actor);
            }
            b->npactors[i] = (int)n;
        } else if (kind == DAFT_GEN_P_DATA_LIST) {
            if (v->kind != DAFT_V_LIST)
                daft_gen_fatal("schedule '%s': parameter '%s' is not a list", s->name, pn);
            key_push(b, (int64_t)v->as.list.len);
            for (size_t j = 0; j < v->as.list.len; j++) {
                snprintf(name, sizeof name, "%s[%zu]", pn, j);
                named_push(&b->inputs, name, &v->as.list.items[j]);
            }
            named_push(&b->whole, pn, v);
            b->npactors[i] = (int)v->as.list.len;
        } else {
            named_push(&b->inputs, pn, v);
        }
    }
}

static const char *class_name_of(DaftActor a)
{
    int ci = gen_actor_class(a);
    const DaftGenProgram *p = gen_prog();
    return p && ci >= 0 && ci < p->nclasses ? p->classes[ci].name : "?";
}

/* The value of the plan's input i for this call, NULL if the call has none of its name:
 * the inputs bound in order, then whole lists. */
static const DaftValue *plan_input(const DaftPlan *p, int i, const Bind *b)
{
    const char *name = p->inputs[i].name;
    if (!name)
        return NULL;
    if (i < b->inputs.n)
        return strcmp(name, b->inputs.names[i]) == 0 ? b->inputs.vals[i] : NULL;
    for (int j = 0; j < b->whole.n; j++)
        if (strcmp(name, b->whole.names[j]) == 0)
            return b->whole.vals[j];
    return NULL;
}

/* A plan fits a call whose actors have its actors' names and classes, and are placed where
 * they were placed explicitly (`on gpu(i)`, `on node(n)`): a plan made for two actors on two
 * GPUs joins them over NCCL, which two actors placed on one GPU cannot use. */
static bool template_fits(const DaftPlan *p, const Bind *b)
{
    if (p->nactors != b->n || p->ninputs < b->inputs.n || p->ninputs > b->inputs.n + b->whole.n)
        return false;
    for (int i = 0; i < b->n; i++) {
        int gpu, node;
        gen_actor_request(b->actors[i], &gpu, &node);
        if (!p->actors[i].name || strcmp(p->actors[i].name, b->names[i]) != 0 ||
            !p->actors[i].cls || strcmp(p->actors[i].cls, class_name_of(b->actors[i])) != 0 ||
            (gpu >= 0 && p->actors[i].place.gpu != gpu) || (node >= 0 && p->actors[i].place.node != node))
            return false;
    }
    for (int i = 0; i < p->ninputs; i++)
        if (!plan_input(p, i, b))
            return false;
    return true;
}

/* ---------------------------------------------------------------- templates */

static GenSched *sched_state(DaftGenSchedule *s)
{
    if (!s->state) {
        GenSched *st = calloc(1, sizeof *st);
        if (!st)
            daft_gen_fatal("out of memory");
        st->s = s;
        st->next = daft_gen_ctx.scheds;
        daft_gen_ctx.scheds = st;
        s->state = st;
    }
    return s->state;
}

static void template_add(GenSched *st, DaftPlan *p, bool embedded)
{
    GenTemplate *t = calloc(1, sizeof *t);
    if (!t)
        daft_gen_fatal("out of memory");
    t->plan = p;
    t->embedded = embedded;
    GenTemplate **tail = &st->templates;
    while (*tail)
        tail = &(*tail)->next;
    *tail = t;
}

static void load_embedded(DaftGenSchedule *s, GenSched *st)
{
    if (st->embedded_done)
        return;
    st->embedded_done = true;
    for (int i = 0; i < s->nplans; i++) {
        DaftPlan *p = NULL;
        char err[256];
        if (daft_plan_deserialize(s->plans[i].data, (size_t)s->plans[i].len, &p, err, sizeof err) != 0) {
            fprintf(stderr, "daft: warning: embedded plan %d of schedule '%s' is unusable (%s); "
                            "planning at run time instead\n", i, s->name, err);
            continue;
        }
        template_add(st, p, true);
    }
}

static bool module_ready(DaftGenSchedule *s)
{
    if (daft_gen_ctx.mod_state)
        return daft_gen_ctx.mod_state > 0;
    daft_gen_ctx.mod_state = -1;
    if (!s->source)
        return false;
    daft_diag_init(&daft_gen_ctx.diags, &daft_gen_ctx.ss);
    daft_gen_ctx.arena = daft_arena_new();
    DaftSource *src = daft_source_from_string(&daft_gen_ctx.ss, s->path ? s->path : "program.daft", s->source,
                                              (size_t)s->source_len);
    if (!src || !daft_parse(daft_gen_ctx.arena, src, &daft_gen_ctx.diags, &daft_gen_ctx.mod) ||
        !daft_check(&daft_gen_ctx.mod, &daft_gen_ctx.diags)) {
        daft_diag_print(&daft_gen_ctx.diags, stderr, DAFT_DIAG_TEXT);
        return false;
    }
    daft_gen_ctx.mod_state = 1;
    return true;
}

static const DaftNode *find_decl(DaftNodeKind kind, const char *name)
{
    const DaftNode *prog = daft_gen_ctx.mod.program;
    for (int i = 0; prog && i < prog->items.len; i++) {
        const DaftNode *d = prog->items.items[i];
        if (d->kind == kind && d->name && strcmp(d->name, name) == 0)
            return d;
    }
    return NULL;
}

/* The class's `gpus = N` (a literal or a constant), as the tracer reads it. */
static int class_gpus(const char *cls)
{
    const DaftNode *a = find_decl(DAFT_N_ACTOR, cls);
    for (int i = 0; a && i < a->args.len; i++) {
        const DaftNode *na = a->args.items[i];
        if (na->kind != DAFT_N_NAMED_ARG || !na->name || strcmp(na->name, "gpus") != 0 || !na->value)
            continue;
        const DaftNode *v = na->value;
        if (v->kind == DAFT_N_NAME && v->name) {
            const DaftNode *c = find_decl(DAFT_N_CONST, v->name);
            v = c && c->value ? c->value : v;
        }
        return v->kind == DAFT_N_INT_LIT ? (int)v->ival : 1;
    }
    return 0;
}

/* Traces and plans the schedule for this call with the planner library (as daftc does). */
static DaftPlan *plan_at_run_time(DaftGenSchedule *s, const Bind *b)
{
    if (!module_ready(s))
        daft_gen_fatal("schedule '%s': cannot plan at run time: the program's source is not usable",
                       s->name);
    const DaftNode *decl = find_decl(DAFT_N_SCHEDULE, s->name);
    if (!decl || decl->params.len != s->nparams)
        daft_gen_fatal("schedule '%s': not found in the embedded source", s->name);
    int np = s->nparams;
    DaftGraphActor **aa = calloc((size_t)np + 1, sizeof *aa);
    char **labels = calloc((size_t)b->n + 1, sizeof *labels);
    if (!aa || !labels)
        daft_gen_fatal("out of memory");
    /* Places as daftc assigns them (SPEC §16.2): over every actor of the program in spawn
     * order (here: every actor spawned so far), explicit placements kept. */
    DaftActor lim = gen_actor_limit();
    DaftGraphActor *req = calloc((size_t)lim + 1, sizeof *req);
    DaftPlace *places = calloc((size_t)lim + 1, sizeof *places);
    int *slot_of = calloc((size_t)lim + 1, sizeof *slot_of);
    if (!req || !places || !slot_of)
        daft_gen_fatal("out of memory");
    int nreq = 0;
    for (DaftActor a = 1; a < lim; a++) {
        slot_of[a] = -1;
        if (gen_actor_class(a) < 0)
            continue;
        int gpu, node;
        gen_actor_request(a, &gpu, &node);
        req[nreq] = (DaftGraphActor){NULL, class_name_of(a), class_gpus(class_name_of(a)), node, gpu, NULL};
        slot_of[a] = nreq++;
    }
    daft_plan_assign_places(req, nreq, 0, places);
    char buf[128];
    for (int i = 0; i < np; i++) {
        int kind = s->param_kinds[i];
        if (kind != DAFT_GEN_P_ACTOR && kind != DAFT_GEN_P_ACTOR_LIST && kind != DAFT_GEN_P_COMM)
            continue;
        int n = b->npactors[i];
        aa[i] = calloc((size_t)n + 1, sizeof **aa);
        if (!aa[i])
            daft_gen_fatal("out of memory");
        for (int j = 0; j < n; j++) {
            DaftActor a = b->pactors[i][j];
            int gpu = -1, node = -1;
            if (a < lim && slot_of[a] >= 0) {
                node = places[slot_of[a]].node;
                gpu = places[slot_of[a]].gpu;
            }
            const char *cls = class_name_of(a);
            /* The label identifies the actor: the same actor in two parameters is one. */
            aa[i][j] = (DaftGraphActor){xstrdup(gen_actor_name(a, buf, sizeof buf)), cls, class_gpus(cls),
                                        node, gpu, NULL};
        }
    }
    DaftDiagEngine diags;
    daft_diag_init(&diags, &daft_gen_ctx.ss);
    DaftGraph *g =
        daft_trace_schedule(&daft_gen_ctx.mod, decl, (const DaftGraphActor *const *)aa, b->npactors, &diags, 0);
    if (!g) {
        fflush(stdout);
        daft_diag_print(&diags, stderr, DAFT_DIAG_TEXT);
        const char *msg = diags.len ? diags.diags[0].message : "trace failed";
        daft_gen_fatal("schedule '%s': %s", s->name, msg);
    }
    DaftPlanOptions opt = {0}; /* daftc's (daft_trace_program with default options) */
    opt.verify = true;
    DaftPlan *p = NULL;
    char err[512];
    if (daft_plan_build(g, &opt, &p, err, sizeof err) != 0)
        daft_gen_fatal("schedule '%s': cannot plan: %s", s->name, err);
    daft_graph_free(g);
    daft_diag_free(&diags);
    for (int i = 0; i < np; i++) {
        for (int j = 0; aa[i] && j < b->npactors[i]; j++)
            free((char *)aa[i][j].name);
        free(aa[i]);
    }
    free(aa);
    free(labels);
    free(req);
    free(places);
    free(slot_of);
    return p;
}

/* Serialized without the actors' origins ("spawned as ... (file:line:col)"), which daftc
 * knows and the runtime does not: everything else must be equal, byte for byte. */
static size_t serialize_sans_origin(DaftPlan *p, uint8_t **out)
{
    const char **saved = calloc((size_t)p->nactors + 1, sizeof *saved);
    if (!saved)
        daft_gen_fatal("out of memory");
    for (int i = 0; i < p->nactors; i++) {
        saved[i] = p->actors[i].origin;
        p->actors[i].origin = NULL;
    }
    size_t n = daft_plan_serialize(p, out);
    for (int i = 0; i < p->nactors; i++)
        p->actors[i].origin = saved[i];
    free(saved);
    return n;
}

/* DAFT_SCHEDULE_CHECK=1: plan the call at run time too and require daftc's plan. */
static void check_embedded(DaftGenSchedule *s, const Bind *b, DaftPlan *embedded)
{
    const char *e = getenv("DAFT_SCHEDULE_CHECK");
    if (!e || strcmp(e, "1") != 0)
        return;
    DaftPlan *mine = plan_at_run_time(s, b);
    uint8_t *x = NULL, *y = NULL;
    size_t nx = serialize_sans_origin(embedded, &x), ny = serialize_sans_origin(mine, &y);
    bool same = nx == ny && memcmp(x, y, nx) == 0;
    free(x);
    free(y);
    daft_plan_free(mine);
    if (!same)
        daft_gen_fatal("schedule '%s': the plan made at run time differs from daftc's embedded plan", s->name);
    fflush(stdout);
    fprintf(stderr, "daft: schedule '%s': plan made at run time == embedded plan\n", s->name);
}

static GenTemplate *find_template(DaftGenSchedule *s, const Bind *b)
{
    GenSched *st = sched_state(s);
    load_embedded(s, st);
    for (GenTemplate *t = st->templates; t; t = t->next)
        if (template_fits(t->plan, b)) {
            if (t->embedded)
                check_embedded(s, b, t->plan);
            return t;
        }
    template_add(st, plan_at_run_time(s, b), false);
    for (GenTemplate *t = st->templates; t; t = t->next)
        if (!t->next) {
            if (!template_fits(t->plan, b))
                daft_gen_fatal("schedule '%s': internal error: the run-time plan does not fit its call", s->name);
            return t;
        }
    return NULL;
}

/* ---------------------------------------------------------------- calls */

static bool log_on(void)
{
    if (daft_gen_ctx.log < 0) {
        const char *e = getenv("DAFT_SCHEDULE_LOG");
        daft_gen_ctx.log = e && *e && strcmp(e, "0") != 0;
    }
    return daft_gen_ctx.log;
}

static void log_actors(const DaftActor *as, int n)
{
    char buf[128];
    for (int i = 0; i < n; i++)
        fprintf(stderr, "%s%s", i ? ", " : "", gen_actor_name(as[i], buf, sizeof buf));
}

/* DAFT_LOADED_PLANS: how many compiled plans stay loaded on their actors at once (read,
 * and a bad value worded, by the runtime: daft-repl reads it the same way). */
static int plan_limit(void)
{
    int n = daft_rt_loaded_plans_limit(daft_gen_rt());
    if (n < 1)
        daft_gen_fatal("%s", daft_rt_last_error(daft_gen_rt()));
    return n;
}

static GenLoaded *loaded_of(const DaftRtPlan *rp)
{
    for (GenLoaded *L = daft_gen_ctx.loaded; L; L = L->next)
        if (L->rp == rp && !L->dropped)
            return L;
    return NULL;
}

/* SPEC 11.2: a schedule called with ever new actor sets or list lengths loads a plan for each,
 * with channels on its actors; past DAFT_LOADED_PLANS loaded at once, the one used least
 * recently that has nothing in flight (the runtime picks it: daft_rt_plan_lru) is unloaded,
 * after the executions submitted to it, also their calls that feed no output
 * (daft_rt_plan_finish). A later call with its key loads it again. keep: the plan just
 * loaded. */
static void loaded_evict(GenLoaded *keep)
{
    DaftRt *rt = daft_gen_rt();
    int limit = plan_limit();
    for (DaftRtPlan *rp; (rp = daft_rt_plan_lru(rt, keep->rp, limit));) {
        GenLoaded *lru = loaded_of(rp);
        if (!lru)
            return; /* (every plan the runtime holds is one of these: not reached) */
        if (log_on()) {
            fflush(stdout);
            fprintf(stderr, "daft: schedule '%s': plan unloaded (DAFT_LOADED_PLANS=%d) from ", lru->s->name, limit);
            log_actors(lru->actors, lru->nactors);
            fputc('\n', stderr);
            fflush(stderr);
        }
        daft_rt_plan_finish(rt, rp);
        lru->rp = NULL;
        lru->dropped = true;
    }
}

static GenLoaded *find_loaded(DaftGenSchedule *s, const Bind *b)
{
    for (GenLoaded *L = daft_gen_ctx.loaded; L; L = L->next)
        if (L->s == s && !L->dropped && L->nkey == b->nkey &&
            memcmp(L->key, b->key, (size_t)b->nkey * sizeof *b->key) == 0)
            return L;
    return NULL;
}

static bool all_alive(DaftRt *rt, const DaftActor *as, int n, DaftActor *dead)
{
    for (int i = 0; i < n; i++)
        if (!daft_rt_actor_alive(rt, as[i])) {
            *dead = as[i];
            return false;
        }
    return true;
}

static GenLoaded *load(DaftGenSchedule *s, Bind *b)
{
    DaftRt *rt = daft_gen_rt();
    GenTemplate *t = find_template(s, b);
    GenLoaded *L = calloc(1, sizeof *L);
    if (!L)
        daft_gen_fatal("out of memory");
    L->s = s;
    L->plan = t->plan;
    L->key = b->key;
    L->nkey = b->nkey;
    b->key = NULL;
    L->actors = calloc((size_t)b->n + 1, sizeof *L->actors);
    if (!L->actors)
        daft_gen_fatal("out of memory");
    if (b->n) /* (none: a schedule over an empty actor list) */
        memcpy(L->actors, b->actors, (size_t)b->n * sizeof *L->actors);
    L->nactors = b->n;
    /* DAFT_SCHEDULE_COLLECTIVES=interpreted: plans with collectives run interpreted, their
     * collectives through std.collective's tasks (gen_coll.c) instead of plan ops. */
    const char *ce = getenv("DAFT_SCHEDULE_COLLECTIVES");
    bool coll_interp = t->plan->ngroups > 0 && ce && strcmp(ce, "interpreted") == 0;
    int rc = coll_interp ? DAFT_EINVAL : daft_rt_plan_load(rt, t->plan, L->actors, L->nactors, &L->rp);
    if (rc != 0) {
        L->rp = NULL;
        L->interpreted = true;
    }
    if (log_on()) {
        fflush(stdout);
        if (L->interpreted)
            fprintf(stderr, "daft: schedule '%s': interpreted (%s)\n", s->name,
                    coll_interp ? "DAFT_SCHEDULE_COLLECTIVES=interpreted" : daft_rt_last_error(rt));
        else {
            fprintf(stderr, "daft: schedule '%s': compiled plan (%s) on ", s->name,
                    t->embedded ? "embedded" : "planned at run time");
            log_actors(L->actors, L->nactors);
            fputc('\n', stderr);
        }
        fflush(stderr);
    }
    L->next = daft_gen_ctx.loaded;
    daft_gen_ctx.loaded = L;
    return L;
}

/* The value of a plan input: any value, a task's Ref among them, is borrowed as it is
 * (false): the runtime writes a Ref's value once it is ready without holding up the call,
 * and submitting only reads the rest (a deep copy of a large tensor would cost as much as
 * sending it). A compiled schedule's result Ref gives its value when this driver has it
 * (owned, true), else a runtime Ref that gets it when its execution is received (owned,
 * true: released after the submit), so the call does not wait for that execution either. */
static bool input_value(const DaftValue *v, DaftValue *out)
{
    if (!gen_is_handle(v)) {
        *out = *v;
        return false;
    }
    Handle *h = h_find(v->as.ref.id);
    DaftRef r;
    if (h && h->exec >= h->L->fetched && h->L->rp &&
        daft_rt_plan_output_ref(daft_gen_rt(), h->L->rp, h->exec, h->out, &r) == 0) {
        exec_at(h->L, h->exec)->seen[h->out] = true; /* (passed on: its error goes on there) */
        *out = daft_value_ref(r);
        return true;
    }
    if (gen_handle_get(v, -1, out, false, NULL) != 0 && out->kind != DAFT_V_ERROR) {
        daft_value_free(out);
        *out = daft_value_error("invalid Ref");
    }
    return true;
}

/* The method the plan first calls on actor i of its set (-1: none), as the actor's class
 * numbers it. */
static int first_method(const DaftPlan *p, int i, DaftActor a)
{
    int ci = gen_actor_class(a);
    const DaftGenProgram *prog = gen_prog();
    if (!prog || ci < 0 || ci >= prog->nclasses || i < 0 || i >= p->nactors)
        return -1;
    const DaftPlanActor *pa = &p->actors[i];
    const DaftClassDesc *c = &prog->classes[ci];
    for (int k = 0; k < pa->nops; k++)
        if (pa->ops[k].kind == DAFT_OP_CALL) {
            for (int m = 0; m < c->nmethods; m++)
                if (strcmp(c->methods[m].name, pa->ops[k].method) == 0)
                    return m;
            return -1;
        }
    return -1;
}

/* SPEC 11.2: a call whose actor set holds a dead actor fails as a whole, and nothing of it
 * runs on the live ones: each of its Refs holds the death, as a call of the first method the
 * plan gives that actor does ("... (cannot run 'step')"), as in daft-repl. */
static int call_with_dead(DaftGenSchedule *s, const Bind *b, DaftActor dead, DaftValue *out)
{
    DaftRt *rt = daft_gen_rt();
    const DaftPlan *p = find_template(s, b)->plan;
    int method = -1;
    for (int i = 0; i < b->n && method < 0; i++)
        if (b->actors[i] == dead)
            method = first_method(p, i, dead);
    if (log_on()) {
        char buf[128];
        fflush(stdout);
        fprintf(stderr, "daft: schedule '%s': not run: %s is dead\n", s->name, gen_actor_name(dead, buf, sizeof buf));
    }
    bool single = p->noutputs == 1 && p->outputs[0].name && strcmp(p->outputs[0].name, "result") == 0;
    if (!single)
        daft_gen_list_new(out, p->noutputs);
    for (int o = 0; o < p->noutputs; o++) {
        DaftRef r; /* (not sent: the actor is known dead) */
        if (daft_rt_call(rt, dead, method < 0 ? 0 : method, NULL, 0, &r) != 0)
            daft_gen_fatal("schedule '%s': %s", s->name, daft_rt_last_error(rt));
        if (single)
            *out = daft_value_ref(r);
        else
            out->as.list.items[o] = daft_value_ref(r);
    }
    return 1;
}

int daft_gen_schedule_call(DaftGenSchedule *s, const DaftValue *args, int nargs, DaftValue *out)
{
    DaftRt *rt = daft_gen_rt();
    if (!rt || !daft_rt_is_driver(rt) || nargs != s->nparams)
        return 0;
    gen_check_interrupt();
    Bind b;
    bind_call(s, args, &b);
    GenLoaded *L = find_loaded(s, &b);
    DaftActor dead = 0;
    if (L && !L->interpreted && !all_alive(rt, L->actors, L->nactors, &dead)) {
        /* SPEC §11.2: the plans of a dead actor are dropped; this call re-traces and, the
         * actor being dead, fails with the death error in its Refs (call_with_dead). */
        if (log_on()) {
            char buf[128];
            fflush(stdout);
            fprintf(stderr, "daft: schedule '%s': plan dropped: %s is dead\n", s->name,
                    gen_actor_name(dead, buf, sizeof buf));
        }
        loaded_drop(L);
        L = NULL;
    }
    if (L && L->rp && daft_rt_plan_broken(L->rp)) {
        /* It failed on one of its actors (SPEC §14.2), which all live: its executions so far
         * keep their results or errors, and this call runs on a fresh load (new NCCL
         * communicators where it has any). */
        if (log_on()) {
            fflush(stdout);
            fprintf(stderr, "daft: schedule '%s': plan reloaded: it failed\n", s->name);
        }
        loaded_drop(L);
        L = NULL;
    }
    loaded_sweep();
    if (!L) {
        if (!all_alive(rt, b.actors, b.n, &dead)) {
            int rc = call_with_dead(s, &b, dead, out);
            bind_free(&b, s->nparams);
            return rc;
        }
        L = load(s, &b);
        loaded_evict(L);
    }
    if (L->interpreted) {
        bind_free(&b, s->nparams);
        return 0;
    }
    const DaftPlan *p = L->plan;
    DaftValue *inputs = calloc((size_t)p->ninputs + 1, sizeof *inputs);
    bool *owned = calloc((size_t)p->ninputs + 1, sizeof *owned);
    if (!inputs || !owned)
        daft_gen_fatal("out of memory");
    for (int i = 0; i < p->ninputs; i++)
        owned[i] = input_value(plan_input(p, i, &b), &inputs[i]);
    /* Executions whose results nobody holds any more are received as they complete. */
    while (L->fetched < L->submitted && exec_at(L, L->fetched)->live == 0)
        if (exec_fetch(L, 0))
            break;
    exec_reserve(L);
    int rc = daft_rt_plan_submit(rt, L->rp, inputs, p->ninputs, -1);
    if (rc == DAFT_EINTR) /* (waiting for a free execution slot, @inflight) */
        gen_interrupted(NULL, NULL);
    for (int i = 0; i < p->ninputs; i++) {
        if (owned[i] && inputs[i].kind == DAFT_V_REF)
            daft_rt_release(rt, inputs[i].as.ref); /* (the plan holds it until written) */
        if (owned[i])
            daft_value_free(&inputs[i]);
    }
    free(inputs);
    free(owned);
    bind_free(&b, s->nparams);
    if (rc != 0)
        daft_gen_fatal("schedule '%s': %s", s->name, daft_rt_last_error(rt));
    uint64_t e = L->submitted++;
    *exec_at(L, e) = (GenExec){.live = p->noutputs, .seen = calloc((size_t)p->noutputs + 1, sizeof(bool))};
    if (!exec_at(L, e)->seen)
        daft_gen_fatal("out of memory");
    bool single = p->noutputs == 1 && p->outputs[0].name && strcmp(p->outputs[0].name, "result") == 0;
    if (!single)
        daft_gen_list_new(out, p->noutputs);
    for (int o = 0; o < p->noutputs; o++) {
        uint64_t id = DAFT_GEN_HANDLE_BIT | daft_gen_ctx.next_handle++;
        h_put((Handle){id, L, e, o});
        DaftRef r = {id, DAFT_GEN_PLAN_OWNER};
        if (single)
            *out = daft_value_ref(r);
        else
            out->as.list.items[o] = daft_value_ref(r);
    }
    return 1;
}

void gen_sched_shutdown(void)
{
    while (daft_gen_ctx.loaded) {
        GenLoaded *L = daft_gen_ctx.loaded;
        daft_gen_ctx.loaded = L->next;
        /* executions still running finish first (SPEC 15.7), so that errors nobody observed
         * are reported; a plan that does not finish within 5 s is not waited for, nor any
         * after an interrupt (DAFT_EINTR) */
        for (int64_t end = gen_now_ms() + 5000, left; L->rp && L->fetched < L->submitted;)
            if ((left = end - gen_now_ms()) <= 0 || exec_fetch(L, (double)left / 1000.0))
                break;
        if (L->rp && daft_gen_rt() && L->fetched == L->submitted)
            daft_rt_plan_finish(daft_gen_rt(), L->rp); /* (calls that feed no output run too) */
        else if (L->rp && daft_gen_rt())
            daft_rt_plan_unload(daft_gen_rt(), L->rp);
        loaded_free(L);
    }
    while (daft_gen_ctx.scheds) {
        GenSched *st = daft_gen_ctx.scheds;
        daft_gen_ctx.scheds = st->next;
        while (st->templates) {
            GenTemplate *t = st->templates;
            st->templates = t->next;
            daft_plan_free(t->plan);
            free(t);
        }
        st->s->state = NULL;
        free(st);
    }
    gen_idmap_free(&daft_gen_ctx.handles);
    if (daft_gen_ctx.mod_state) {
        daft_arena_free(daft_gen_ctx.arena);
        daft_diag_free(&daft_gen_ctx.diags);
        daft_source_set_free(&daft_gen_ctx.ss);
        memset(&daft_gen_ctx.ss, 0, sizeof daft_gen_ctx.ss);
        daft_gen_ctx.arena = NULL;
        daft_gen_ctx.mod_state = 0;
    }
}
