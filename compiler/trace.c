/* Tracing compiled schedules (SPEC §11.2-11.3, §16): statements of the evaluator, the
 * binding of a schedule's parameters, and the two entry points: daft_trace_program (daftc:
 * scan main for static actor sets, trace and plan each) and daft_trace_schedule (the
 * runtime: trace one schedule for actors it knows). */
#include "trace_internal.h"

#include <stdlib.h>
#include <string.h>

enum { DEFAULT_MAX_NODES = 1 << 20 };

/* ---------------------------------------------------------------- statements */

static void stmt(Tracer *T, TScope *sc, const DaftNode *s);

void trace_block(Tracer *T, TScope *sc, const DaftNode *block) {
    TScope inner = {NULL, sc};
    if (block->kind != DAFT_N_BLOCK) {
        stmt(T, &inner, block);
        return;
    }
    for (int i = 0; i < block->items.len && !T->failed && !T->returned; i++)
        stmt(T, &inner, block->items.items[i]);
}

/* Scan: a let that binds spawned actors names them after the variable, for the plan's
 * "spawned as" column. */
static void label_actors(Tracer *T, const char *name, const TVal *v, DaftSpan span) {
    (void)span;
    if (v->kind == TV_ACTOR && !T->actors[v->id].label)
        T->actors[v->id].label = name;
    if (v->kind != TV_LIST)
        return;
    for (int i = 0; i < v->list->len; i++) {
        const TVal *it = &v->list->items[i];
        if (it->kind == TV_ACTOR && !T->actors[it->id].label)
            T->actors[it->id].label = plan_printf(T->A, "%s[%d]", name, i);
    }
}

static void stmt_assign(Tracer *T, TScope *sc, const DaftNode *s) {
    const DaftNode *t = s->target;
    bool compound = s->op != DAFT_OP_ASSIGN && s->op != DAFT_OP_NONE;
    if (!t || t->kind != DAFT_N_NAME) {
        trace_eval(T, sc, s->value);
        if (!T->scan)
            trace_eval(T, sc, t);       /* reports what cannot be assigned */
        return;
    }
    /* (x op= v evaluates v once, below: its method calls are traced once) */
    TVal v = compound ? tv_unknown() : trace_eval(T, sc, s->value);
    TBind *b = NULL;
    for (TScope *p = sc; p && !b; p = p->parent)
        for (TBind *x = p->binds; x && !b; x = x->next)
            if (strcmp(x->name, t->name) == 0)
                b = x;
    if (!b) {
        if (compound)
            trace_eval(T, sc, s->value);
        return;
    }
    if (compound) {
        DaftNode bin = *s;              /* x op= v  is  x = x op v */
        bin.kind = DAFT_N_BINARY;
        bin.lhs = (DaftNode *)t;
        bin.rhs = s->value;
        v = trace_eval(T, sc, &bin);
    }
    /* scan: a value assigned in a loop or branch is not known after it */
    b->val = T->scan && T->cond_depth > 0 ? tv_unknown() : v;
}

static void stmt_for(Tracer *T, TScope *sc, const DaftNode *s) {
    if (!T->scan) {
        trace_for_each(T, sc, s);
        return;
    }
    trace_eval(T, sc, s->iter);
    T->cond_depth++;                     /* walked once for all iterations */
    TScope inner = {NULL, sc};
    trace_bind(T, &inner, s->name, tv_unknown());
    trace_block(T, &inner, s->body);
    T->cond_depth--;
}

static void stmt_if(Tracer *T, TScope *sc, const DaftNode *s) {
    TVal c = trace_eval(T, sc, s->cond);
    if (c.kind == TV_BOOL) {
        if (c.i)
            trace_block(T, sc, s->then);
        else if (s->els)
            trace_block(T, sc, s->els);
        return;
    }
    if (!T->scan) {
        trace_fail_branch(T, s->cond, &c);
        return;
    }
    T->cond_depth++;
    trace_block(T, sc, s->then);
    T->returned = false;
    if (s->els)
        trace_block(T, sc, s->els);
    T->returned = false;
    T->cond_depth--;
}

static void stmt_untraceable(Tracer *T, TScope *sc, const DaftNode *s) {
    if (T->scan) {
        if (s->kind == DAFT_N_WHILE) {
            trace_eval(T, sc, s->cond);
            T->cond_depth++;
            trace_block(T, sc, s->body);
            T->returned = false;
            T->cond_depth--;
        }
        return;
    }
    T->failed = true;
    DaftDiag *d = s->kind == DAFT_N_WHILE
                      ? daft_error(T->diags, s->span, "'while' cannot be traced: a compiled schedule may only "
                                   "loop over a constant range or a static list")
                      : daft_error(T->diags, s->span, "'%s' cannot be traced in a compiled schedule",
                                   s->kind == DAFT_N_BREAK ? "break" : "continue");
    if (T->call_site.file >= 0)
        daft_note(T->diags, d, T->call_site, "while tracing '%s' for the actors of this call", T->sched->name);
}

static void stmt(Tracer *T, TScope *sc, const DaftNode *s) {
    switch (s->kind) {
    case DAFT_N_BLOCK:
        trace_block(T, sc, s);
        break;
    case DAFT_N_LET: {
        TVal v = trace_eval(T, sc, s->value);
        if (T->scan)
            label_actors(T, s->name, &v, s->span);
        trace_bind(T, sc, s->name, v);
        break;
    }
    case DAFT_N_ASSIGN:
        stmt_assign(T, sc, s);
        break;
    case DAFT_N_RETURN:
        T->result = trace_eval(T, sc, s->value);
        T->returned = !T->scan;
        break;
    case DAFT_N_IF:
        stmt_if(T, sc, s);
        break;
    case DAFT_N_FOR:
        stmt_for(T, sc, s);
        break;
    case DAFT_N_WHILE:
    case DAFT_N_BREAK:
    case DAFT_N_CONTINUE:
        stmt_untraceable(T, sc, s);
        break;
    case DAFT_N_EXPR_STMT:
        trace_eval(T, sc, s->value);
        break;
    default:
        break;
    }
}

/* ---------------------------------------------------------------- parameters */

typedef enum { PK_DATA, PK_DATA_LIST, PK_ACTOR, PK_ACTOR_LIST, PK_COMM } ParamKind;

static bool is_actor_type(const Tracer *T, const DaftNode *ty) {
    if (!ty || ty->kind != DAFT_N_TYPE_NAME)
        return false;
    const DaftNode *d = trace_find_decl(T, ty->name);
    return d && d->kind == DAFT_N_ACTOR;
}

static ParamKind param_kind(const Tracer *T, const DaftNode *param) {
    const DaftNode *ty = param->type;
    if (ty && ty->kind == DAFT_N_TYPE_NAME && strcmp(ty->name, "Comm") == 0)
        return PK_COMM;
    if (is_actor_type(T, ty))
        return PK_ACTOR;
    if (ty && ty->kind == DAFT_N_TYPE_LIST)
        return is_actor_type(T, ty->type) ? PK_ACTOR_LIST : PK_DATA_LIST;
    return PK_DATA;
}

static const char *actor_origin(const Tracer *T, const TActor *a) {
    const DaftSourceSet *ss = T->diags ? T->diags->sources : NULL;
    if (a->span.file < 0 || !ss || a->span.file >= ss->len)
        return a->label;
    const char *path = ss->files[a->span.file]->path;
    return plan_printf(T->A, "%s (%s:%d:%d)", a->label ? a->label : a->cls, path, a->span.begin.line,
                       a->span.begin.col);
}

static void add_graph_actor(Tracer *T, int id, const char *name) {
    if (T->graph_actor[id] >= 0)
        return;
    const TActor *a = &T->actors[id];
    int ga = daft_graph_add_actor(T->g, name, a->cls, a->gpus, a->place.node, a->place.gpu);
    T->g->actors[ga].origin = daft_graph_strdup(T->g, actor_origin(T, a));
    T->graph_actor[id] = ga;
}

static void add_param_actors(Tracer *T, const DaftNode *p, const TVal *arg) {
    if (arg->kind == TV_ACTOR) {
        add_graph_actor(T, arg->id, p->name);
        return;
    }
    if (arg->kind != TV_LIST && arg->kind != TV_COMM)
        return;
    for (int i = 0; i < arg->list->len; i++) {
        char name[256];
        snprintf(name, sizeof name, "%s[%d]", p->name, i);
        if (arg->list->items[i].kind == TV_ACTOR)
            add_graph_actor(T, arg->list->items[i].id, name);
    }
}

TList *trace_list_new(Tracer *T, int n) {
    TList *l = plan_alloc(T->A, sizeof(TList));
    memset(l, 0, sizeof *l);
    l->len = n;
    l->items = plan_alloc(T->A, sizeof(TVal) * (size_t)(n ? n : 1));
    return l;
}

static TVal data_input(Tracer *T, const DaftNode *p, const DaftNode *ty, const char *name) {
    TVal v = {0};
    v.kind = TV_REF;
    v.input = true;
    v.decl = p;
    v.id = daft_graph_add_input(T->g, name, trace_payload_of_type(T, ty));
    return v;
}

/* SPEC 11.3 rule 1: a list-typed data parameter passed whole to a method is one more input of
 * the plan, named after the parameter, holding the list (its items stay inputs of their own
 * for the body's item-wise uses); made once, at the first such use, so that plans of bodies
 * that use the list item-wise only are as they were. */
int trace_whole_input(Tracer *T, TList *l) {
    if (!l->whole) {
        const DaftNode *p = l->param;
        l->whole = data_input(T, p, p->type, p->name).id + 1;
    }
    return l->whole - 1;
}

static TVal bind_param(Tracer *T, const DaftNode *p, const TVal *arg) {
    switch (param_kind(T, p)) {
    case PK_DATA:
        return data_input(T, p, p->type, p->name);
    case PK_DATA_LIST: {
        int n = arg->kind == TV_LIST ? arg->list->len : 0;
        TVal l = {0};
        l.kind = TV_LIST;
        l.list = trace_list_new(T, n);
        l.list->param = p;
        for (int i = 0; i < n; i++)
            l.list->items[i] = data_input(T, p, p->type->type, plan_printf(T->A, "%s[%d]", p->name, i));
        return l;
    }
    default:
        return *arg;
    }
}

static int schedule_inflight(Tracer *T, const DaftNode *sched) {
    for (int i = 0; i < sched->attrs.len; i++) {
        const DaftNode *at = sched->attrs.items[i];
        if (strcmp(at->name, "inflight") == 0 && at->args.len == 1) {
            TScope empty = {0};
            bool scan = T->scan;
            T->scan = true;
            TVal v = trace_eval(T, &empty, at->args.items[0]);
            T->scan = scan;
            if (v.kind == TV_INT && v.i >= 1 && v.i <= 1024)
                return (int)v.i;
        }
    }
    return 0;
}

/* SPEC §11.2: the result is a Ref or a list of Refs made by the body's tasks. */
static bool add_outputs(Tracer *T, const DaftNode *sched) {
    TVal r = T->result;
    int n = r.kind == TV_LIST ? r.list->len : 1;
    for (int i = 0; i < n; i++) {
        const TVal *v = r.kind == TV_LIST ? &r.list->items[i] : &r;
        if (v->kind != TV_REF || v->input) {
            DaftDiag *d = daft_error(T->diags, sched->name_span,
                                     "a compiled schedule must return Refs produced by its tasks");
            if (T->call_site.file >= 0)
                daft_note(T->diags, d, T->call_site, "while tracing '%s' for the actors of this call", sched->name);
            return false;
        }
        daft_graph_add_output(T->g, r.kind == TV_LIST ? plan_printf(T->A, "result[%d]", i) : "result", v->id);
    }
    return true;
}

bool trace_schedule_body(Tracer *T, const DaftNode *sched, const TVal *args) {
    T->sched = sched;
    T->scan = false;
    T->failed = T->returned = false;
    T->result = tv_unknown();
    T->g->inflight = schedule_inflight(T, sched);
    for (int i = 0; i < sched->params.len; i++)
        add_param_actors(T, sched->params.items[i], &args[i]);
    TScope sc = {0};
    for (int i = 0; i < sched->params.len; i++)
        trace_bind(T, &sc, sched->params.items[i]->name, bind_param(T, sched->params.items[i], &args[i]));
    trace_block(T, &sc, sched->body);
    if (T->failed)
        return false;
    if (!T->returned) {
        daft_error(T->diags, sched->name_span, "compiled schedule '%s' must return a Ref or a list of Refs",
                   sched->name);
        return false;
    }
    return add_outputs(T, sched) && !T->g->error[0];
}

/* ---------------------------------------------------------------- scan: call sites */

typedef struct KeyBuf {
    char *s;
    size_t len, cap;
} KeyBuf;

static void key_add(KeyBuf *k, const char *fmt, int v) {
    char part[32];
    int n = snprintf(part, sizeof part, fmt, v);
    if (k->len + (size_t)n + 1 > k->cap) {
        k->cap = (k->cap + (size_t)n + 1) * 2;
        k->s = plan_xrealloc(k->s, k->cap);
    }
    memcpy(k->s + k->len, part, (size_t)n + 1);
    k->len += (size_t)n;
}

/* The trace key (SPEC §11.2): the actors of every structural parameter and the lengths of
 * list-typed data parameters; one plan per distinct key. Built in one buffer, since an
 * actor list may hold thousands of actors. */
static const char *call_key(Tracer *T, const DaftNode *sched, const TVal *args, int nargs) {
    KeyBuf k = {0};
    key_add(&k, "%.0d", 0);
    for (int i = 0; i < sched->params.len && i < nargs; i++) {
        const TVal *a = &args[i];
        if (a->kind == TV_ACTOR) {
            key_add(&k, "a%d;", a->id);
        } else if (a->kind == TV_LIST || a->kind == TV_COMM) {
            key_add(&k, a->kind == TV_COMM ? "C%d:" : "L%d:", a->list->len);
            for (int j = 0; j < a->list->len; j++)
                key_add(&k, "%d,", a->list->items[j].kind == TV_ACTOR ? a->list->items[j].id : -1);
            key_add(&k, "%.0d;", 0);
        } else {
            key_add(&k, "_%.0d;", 0);
        }
    }
    const char *key = plan_strdup(T->A, k.s);
    free(k.s);
    return key;
}

static bool static_arg(const Tracer *T, const DaftNode *p, const TVal *a) {
    switch (param_kind(T, p)) {
    case PK_ACTOR:
        return a->kind == TV_ACTOR;
    case PK_COMM:
    case PK_ACTOR_LIST:
        if (a->kind != (param_kind(T, p) == PK_COMM ? TV_COMM : TV_LIST))
            return false;
        for (int i = 0; i < a->list->len; i++)
            if (a->list->items[i].kind != TV_ACTOR)
                return false;
        return true;
    case PK_DATA_LIST:
        return a->kind == TV_LIST;       /* its length is part of the trace key */
    default:
        return true;
    }
}

void trace_scan_call(Tracer *T, const DaftNode *sched, const TVal *args, int nargs, DaftSpan span) {
    bool ok = nargs == sched->params.len;
    for (int i = 0; ok && i < nargs; i++)
        ok = static_arg(T, sched->params.items[i], &args[i]);
    if (!ok) {
        PLAN_PUSH(T->A, T->unknown_calls, T->nunknown, T->cap_unknown);
        T->unknown_calls[T->nunknown - 1] = sched;
        return;
    }
    const char *key = call_key(T, sched, args, nargs);
    for (int i = 0; i < T->ncalls; i++)
        if (T->calls[i].sched == sched && strcmp(T->calls[i].key, key) == 0)
            return;
    TCall *c = PLAN_PUSH(T->A, T->calls, T->ncalls, T->cap_calls);
    c->sched = sched;
    c->span = span;
    c->key = key;
    c->args = plan_alloc(T->A, sizeof(TVal) * (size_t)(nargs + 1));
    memcpy(c->args, args, sizeof(TVal) * (size_t)nargs);
}

/* ---------------------------------------------------------------- daft_trace_program */

static void resolve_places(Tracer *T, int gpus_per_node) {
    int n = T->nactors;
    DaftGraphActor *req = plan_xcalloc((size_t)(n ? n : 1), sizeof(DaftGraphActor));
    DaftPlace *places = plan_xcalloc((size_t)(n ? n : 1), sizeof(DaftPlace));
    for (int i = 0; i < n; i++) {
        req[i].gpus = T->actors[i].gpus;
        req[i].node = T->actors[i].node;
        req[i].gpu = T->actors[i].gpu;
    }
    daft_plan_assign_places(req, n, gpus_per_node, places);
    for (int i = 0; i < n; i++)
        T->actors[i].place = places[i];
    free(req);
    free(places);
}

static void add_plan(DaftTraceResult *out, int *cap, DaftPlan *p) {
    DaftPlan **slot = PLAN_PUSH(out->arena, out->plans, out->nplans, *cap);
    *slot = p;
}

static void add_skip(DaftTraceResult *out, int *cap, const DaftNode *sched, const char *reason) {
    DaftPlanSkip *s = PLAN_PUSH(out->arena, out->skips, out->nskips, *cap);
    s->schedule = plan_strdup(out->arena, sched->name);
    s->reason = plan_strdup(out->arena, reason);
}

static bool plan_call(Tracer *T, const TCall *c, const DaftTraceOptions *opt, DaftPlan **p) {
    T->g = daft_graph_new(c->sched->name);
    T->graph_actor = plan_alloc(T->A, sizeof(int) * (size_t)(T->nactors + 1));
    memset(T->graph_actor, 0xff, sizeof(int) * (size_t)(T->nactors + 1));
    T->call_site = c->span;
    T->nops = 0;
    T->max_nodes = opt && opt->max_nodes > 0 ? opt->max_nodes : DEFAULT_MAX_NODES;
    bool ok = trace_schedule_body(T, c->sched, c->args);
    char err[512];
    if (ok && daft_plan_build(T->g, opt ? &opt->plan : NULL, p, err, sizeof err) != 0) {
        daft_error(T->diags, c->span, "cannot plan '%s': %s", c->sched->name, err);
        ok = false;
    }
    daft_graph_free(T->g);
    T->g = NULL;
    T->scan = true;
    return ok;
}

static const char *skip_reason(const Tracer *T, const DaftNode *sched) {
    const DaftNode *r = daft_schedule_ref_param(sched);
    if (r) /* (only other compiled schedules can call it: main's calls of those include it) */
        return plan_printf(T->A, "it takes Refs (parameter '%s'): it is traced inline into the compiled "
                                 "schedules that call it", r->name);
    for (int i = 0; i < T->nunknown; i++)
        if (T->unknown_calls[i] == sched)
            return "its actor arguments are not known statically (spawned in a loop or branch, "
                   "or passed in at run time); it is planned when first called";
    return "it is not called from main with a static actor set";
}

static bool plan_schedule(Tracer *T, const DaftNode *sched, const DaftTraceOptions *opt,
                          DaftTraceResult *out, int *caps) {
    bool ok = true, any = false;
    for (int i = 0; i < T->ncalls; i++) {
        if (T->calls[i].sched != sched)
            continue;
        any = true;
        DaftPlan *p = NULL;
        if (plan_call(T, &T->calls[i], opt, &p))
            add_plan(out, &caps[0], p);
        else
            ok = false;
    }
    if (!any)
        add_skip(out, &caps[1], sched, skip_reason(T, sched));
    return ok;
}

bool daft_trace_program(const DaftModule *mod, DaftDiagEngine *diags, const DaftTraceOptions *opt,
                        DaftTraceResult *out) {
    memset(out, 0, sizeof *out);
    out->arena = plan_arena_new();
    Tracer T;
    memset(&T, 0, sizeof T);
    T.mod = mod;
    T.diags = diags;
    T.A = plan_arena_new();          /* scopes and unrolled values: dropped at the end */
    T.scan = true;
    T.call_site = daft_span_none();
    const DaftNode *main_fn = trace_find_decl(&T, "main");
    if (main_fn && main_fn->kind == DAFT_N_FN && main_fn->body) {
        TScope sc = {0};
        trace_block(&T, &sc, main_fn->body);
    }
    resolve_places(&T, opt ? opt->plan.gpus_per_node : 0);
    bool ok = true;
    int caps[2] = {0, 0};
    const DaftNode *prog = mod->program;
    for (int i = 0; i < prog->items.len; i++) {
        const DaftNode *d = prog->items.items[i];
        if (d->kind == DAFT_N_SCHEDULE && d->is_compiled)
            ok = plan_schedule(&T, d, opt, out, caps) && ok;
    }
    plan_arena_free(T.A);
    return ok;
}

void daft_trace_result_free(DaftTraceResult *res) {
    for (int i = 0; i < res->nplans; i++)
        daft_plan_free(res->plans[i]);
    plan_arena_free(res->arena);
    memset(res, 0, sizeof *res);
}

/* ---------------------------------------------------------------- daft_trace_schedule */

static TVal runtime_arg(Tracer *T, const DaftNode *p, const DaftGraphActor *as, int n) {
    ParamKind k = param_kind(T, p);
    TVal v = tv_unknown();
    if (k == PK_DATA)
        return v;
    v.kind = k == PK_ACTOR ? TV_ACTOR : k == PK_COMM ? TV_COMM : TV_LIST;
    if (k == PK_ACTOR && n >= 1 && as) {
        v.id = trace_new_actor(T, as[0].cls, as[0].gpus, as[0].node, as[0].gpu, daft_span_none());
        T->actors[v.id].label = as[0].name;
        return v;
    }
    v.list = trace_list_new(T, n);
    for (int i = 0; i < n; i++) {
        if (!as)
            continue;             /* a data list: only its length matters */
        v.list->items[i].kind = TV_ACTOR;
        v.list->items[i].id = trace_new_actor(T, as[i].cls, as[i].gpus, as[i].node, as[i].gpu, daft_span_none());
        T->actors[v.list->items[i].id].label = as[i].name;
    }
    return v;
}

/* The same actor given twice (say in an actor list and a Comm) must be one actor: the
 * runtime passes identical names for identical actors. */
static void merge_same_actors(Tracer *T, TVal *args, int nargs) {
    for (int i = 0; i < nargs; i++) {
        TVal *list = args[i].kind == TV_ACTOR ? &args[i] : NULL;
        int n = list ? 1 : (args[i].kind == TV_LIST || args[i].kind == TV_COMM) ? args[i].list->len : 0;
        for (int j = 0; j < n; j++) {
            TVal *a = list ? list : &args[i].list->items[j];
            if (a->kind != TV_ACTOR)
                continue;
            for (int k = 0; k < a->id; k++)
                if (T->actors[k].label && T->actors[a->id].label && strcmp(T->actors[k].label, T->actors[a->id].label) == 0) {
                    a->id = k;
                    break;
                }
        }
    }
}

DaftGraph *daft_trace_schedule(const DaftModule *mod, const DaftNode *schedule,
                               const DaftGraphActor *const *actor_args, const int *nactor_args,
                               DaftDiagEngine *diags, int max_nodes) {
    Tracer T;
    memset(&T, 0, sizeof T);
    T.mod = mod;
    T.diags = diags;
    T.A = plan_arena_new();
    T.call_site = daft_span_none();
    int np = schedule->params.len;
    TVal *args = plan_alloc(T.A, sizeof(TVal) * (size_t)(np + 1));
    for (int i = 0; i < np; i++)
        args[i] = runtime_arg(&T, schedule->params.items[i], actor_args[i], nactor_args[i]);
    merge_same_actors(&T, args, np);
    T.g = daft_graph_new(schedule->name);
    T.graph_actor = plan_alloc(T.A, sizeof(int) * (size_t)(T.nactors + 1));
    memset(T.graph_actor, 0xff, sizeof(int) * (size_t)(T.nactors + 1));
    T.max_nodes = max_nodes > 0 ? max_nodes : DEFAULT_MAX_NODES;
    bool ok = trace_schedule_body(&T, schedule, args);
    plan_arena_free(T.A);
    if (!ok) {
        daft_graph_free(T.g);
        return NULL;
    }
    return T.g;
}
