/* The tracer's evaluator (see trace_internal.h). One walk over the AST serves both modes:
 * in TRACE mode every construct that cannot be frozen into a graph is an error with the
 * position and the reason (SPEC §11.3); in SCAN mode the same constructs just yield
 * "unknown", so driver code of any shape can be scanned for static actors and calls. */
#include "trace_internal.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

enum { MAX_CALL_DEPTH = 8, MAX_SCAN_UNROLL = 1 << 20 };

/* ---------------------------------------------------------------- diagnostics */

static const char *expr_name(const DaftNode *e) {
    while (e && (e->kind == DAFT_N_INDEX || e->kind == DAFT_N_FIELD_ACCESS) && e->lhs)
        e = e->kind == DAFT_N_INDEX ? e->lhs : e;
    if (e && e->kind == DAFT_N_NAME)
        return e->name;
    if (e && e->kind == DAFT_N_FIELD_ACCESS)
        return e->name;
    return NULL;
}

/* Reports an untraceable construct (trace mode only) with an optional note, then the
 * call whose actor set was being traced. Returns "unknown" so callers can just return it. */
static TVal tfail(Tracer *T, DaftSpan at, DaftSpan note_at, const char *note, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static bool count_op(Tracer *T, const DaftNode *e);
static TVal tfail(Tracer *T, DaftSpan at, DaftSpan note_at, const char *note, const char *fmt, ...) {
    if (T->scan || T->failed)
        return tv_unknown();
    T->failed = true;
    va_list ap;
    va_start(ap, fmt);
    char msg[512];
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    DaftDiag *d = daft_error(T->diags, at, "%s", msg);
    if (note)
        daft_note(T->diags, d, note_at, "%s", note);
    if (T->call_site.file >= 0)
        daft_note(T->diags, d, T->call_site, "while tracing '%s' for the actors of this call",
                  T->sched->name);
    return tv_unknown();
}

/* Why a value is not a trace-time constant, for notes. */
static const char *runtime_reason(const TVal *v, DaftSpan *where) {
    if (v->kind == TV_REF && v->input && v->decl) {
        *where = v->decl->span;
        return "is a per-execution input";
    }
    *where = daft_span_none();
    return v->kind == TV_REF ? "is a Ref: its value is only known when the schedule runs"
                             : "is not a trace-time constant";
}

static TVal fail_runtime(Tracer *T, const DaftNode *at, const TVal *v, const char *what) {
    DaftSpan where;
    const char *why = runtime_reason(v, &where);
    const char *name = expr_name(at);
    char note[200];
    if (name)
        snprintf(note, sizeof note, "'%s' %s", name, why);
    else
        snprintf(note, sizeof note, "this value %s", why);
    if (where.file < 0)
        where = at->span;
    if (strcmp(what, "branch") == 0)
        return tfail(T, at->span, where, note, "cannot branch on a run-time value in a compiled schedule");
    return tfail(T, at->span, where, note, "cannot compute on '%s' in a compiled schedule: move this "
                 "computation into an actor method", name ? name : "a run-time value");
}

/* ---------------------------------------------------------------- scopes and names */

void trace_bind(Tracer *T, TScope *sc, const char *name, TVal v) {
    TBind *b = plan_alloc(T->A, sizeof(TBind));
    b->name = name;
    b->val = v;
    b->next = sc->binds;
    sc->binds = b;
}

static TBind *lookup(TScope *sc, const char *name) {
    for (; sc; sc = sc->parent)
        for (TBind *b = sc->binds; b; b = b->next)
            if (strcmp(b->name, name) == 0)
                return b;
    return NULL;
}

const DaftNode *trace_find_decl(const Tracer *T, const char *name) {
    const DaftNode *prog = T->mod->program;
    for (int i = 0; i < prog->items.len; i++) {
        const DaftNode *d = prog->items.items[i];
        if (d->kind == DAFT_N_IMPORT) {
            const char *last = strrchr(d->name, '.');
            const char *alias = d->alias ? d->alias : last ? last + 1 : d->name;
            if (strcmp(alias, name) == 0)
                return d;
        } else if (d->name && strcmp(d->name, name) == 0 && d->kind != DAFT_N_LINK) {
            return d;
        }
    }
    return NULL;
}

int trace_new_actor(Tracer *T, const char *cls, int gpus, int node, int gpu, DaftSpan span) {
    TActor *a = PLAN_PUSH(T->A, T->actors, T->nactors, T->cap_actors);
    a->cls = cls;
    a->gpus = gpus;
    a->node = node;
    a->gpu = gpu;
    a->span = span;
    a->place.node = node;
    a->place.gpu = gpu;
    return T->nactors - 1;
}

static TVal tv_int(int64_t i) {
    TVal v = {0};
    v.kind = TV_INT;
    v.i = i;
    return v;
}

static TVal tv_bool(bool b) {
    TVal v = tv_int(b);
    v.kind = TV_BOOL;
    return v;
}

static TVal tv_list(Tracer *T, int n) {
    TVal v = {0};
    v.kind = TV_LIST;
    v.list = trace_list_new(T, n);
    return v;
}

static bool is_const(const TVal *v) {
    return v->kind == TV_INT || v->kind == TV_FLOAT || v->kind == TV_BOOL || v->kind == TV_STR;
}

/* Constants are evaluated where they are used; a depth guard stops `const A = B; const B = A;`. */
static TVal eval_global(Tracer *T, const DaftNode *e) {
    const DaftNode *d = trace_find_decl(T, e->name);
    if (d && d->kind == DAFT_N_CONST && d->value && T->call_depth < MAX_CALL_DEPTH * 4) {
        T->call_depth++;
        TScope empty = {0};
        TVal v = trace_eval(T, &empty, d->value);
        T->call_depth--;
        return v;
    }
    return tfail(T, e->span, daft_span_none(), NULL, "cannot use '%s' here in a compiled schedule", e->name);
}

/* ---------------------------------------------------------------- operators */

static double as_f64(const TVal *v) { return v->kind == TV_FLOAT ? v->f : (double)v->i; }

static TVal fold_compare(DaftOp op, const TVal *a, const TVal *b) {
    double x = as_f64(a), y = as_f64(b);
    if (a->kind == TV_STR && b->kind == TV_STR) {
        int c = strcmp(a->s, b->s);
        x = c, y = 0;
    }
    switch (op) {
    case DAFT_OP_EQ: return tv_bool(x == y);
    case DAFT_OP_NE: return tv_bool(x != y);
    case DAFT_OP_LT: return tv_bool(x < y);
    case DAFT_OP_LE: return tv_bool(x <= y);
    case DAFT_OP_GT: return tv_bool(x > y);
    default: return tv_bool(x >= y);
    }
}

static TVal fold_arith(Tracer *T, const DaftNode *e, const TVal *a, const TVal *b) {
    if (a->kind == TV_FLOAT || b->kind == TV_FLOAT) {
        TVal v = {0};
        v.kind = TV_FLOAT;
        double x = as_f64(a), y = as_f64(b);
        v.f = e->op == DAFT_OP_ADD ? x + y : e->op == DAFT_OP_SUB ? x - y : e->op == DAFT_OP_MUL ? x * y : x / y;
        return v;
    }
    int64_t x = a->i, y = b->i;
    if ((e->op == DAFT_OP_DIV || e->op == DAFT_OP_MOD) && y == 0)
        return tfail(T, e->span, daft_span_none(), NULL, "division by zero while tracing");
    switch (e->op) {
    case DAFT_OP_ADD: return tv_int((int64_t)((uint64_t)x + (uint64_t)y));
    case DAFT_OP_SUB: return tv_int((int64_t)((uint64_t)x - (uint64_t)y));
    case DAFT_OP_MUL: return tv_int((int64_t)((uint64_t)x * (uint64_t)y));
    /* SPEC: MIN / -1 wraps to MIN and MIN % -1 is 0 (x / y would trap). */
    case DAFT_OP_DIV: return tv_int(y == -1 ? (int64_t)(0 - (uint64_t)x) : x / y);
    default: return tv_int(y == -1 ? 0 : x % y);
    }
}

static TVal list_concat(Tracer *T, const TVal *a, const TVal *b) {
    TVal v = tv_list(T, a->list->len + b->list->len);
    memcpy(v.list->items, a->list->items, sizeof(TVal) * (size_t)a->list->len);
    memcpy(v.list->items + a->list->len, b->list->items, sizeof(TVal) * (size_t)b->list->len);
    return v;
}

static TVal eval_binary(Tracer *T, TScope *sc, const DaftNode *e) {
    TVal a = trace_eval(T, sc, e->lhs);
    if ((e->op == DAFT_OP_AND || e->op == DAFT_OP_OR) && a.kind == TV_BOOL && (a.i != 0) == (e->op == DAFT_OP_OR))
        return a;                                    /* short circuit on a constant */
    TVal b = trace_eval(T, sc, e->rhs);
    if (a.kind == TV_LIST && b.kind == TV_LIST && e->op == DAFT_OP_ADD)
        return list_concat(T, &a, &b);
    if (!is_const(&a))
        return fail_runtime(T, e->lhs, &a, e->op == DAFT_OP_AND || e->op == DAFT_OP_OR ? "branch" : "compute");
    if (!is_const(&b))
        return fail_runtime(T, e->rhs, &b, e->op == DAFT_OP_AND || e->op == DAFT_OP_OR ? "branch" : "compute");
    switch (e->op) {
    case DAFT_OP_AND:
    case DAFT_OP_OR:
        return b;
    case DAFT_OP_EQ: case DAFT_OP_NE: case DAFT_OP_LT: case DAFT_OP_LE: case DAFT_OP_GT: case DAFT_OP_GE:
        return fold_compare(e->op, &a, &b);
    default:
        return fold_arith(T, e, &a, &b);
    }
}

static TVal eval_unary(Tracer *T, TScope *sc, const DaftNode *e) {
    TVal a = trace_eval(T, sc, e->lhs);
    if (!is_const(&a))
        return fail_runtime(T, e->lhs, &a, "compute");
    if (e->op == DAFT_OP_NOT)
        return tv_bool(!a.i);
    if (a.kind == TV_FLOAT)
        a.f = -a.f;
    else
        a.i = (int64_t)(0 - (uint64_t)a.i);
    return a;
}

/* ---------------------------------------------------------------- lists */

static TVal eval_index(Tracer *T, TScope *sc, const DaftNode *e) {
    TVal base = trace_eval(T, sc, e->lhs);
    TVal idx = trace_eval(T, sc, e->rhs);
    const char *name = expr_name(e->lhs);
    if (base.kind != TV_LIST)
        return base.kind == TV_UNKNOWN ? base
                                       : tfail(T, e->span, daft_span_none(), NULL, "cannot index this value in a compiled schedule");
    if (idx.kind != TV_INT) {
        DaftSpan where;
        const char *why = runtime_reason(&idx, &where);
        char note[200];
        snprintf(note, sizeof note, "the index %s; the tracer must know which element each use names", why);
        return tfail(T, e->rhs->span, where.file >= 0 ? where : e->rhs->span, note,
                     "cannot index '%s' with a run-time value in a compiled schedule", name ? name : "list");
    }
    if (idx.i < 0 || idx.i >= base.list->len)
        return tfail(T, e->rhs->span, daft_span_none(), NULL, "index %lld is out of range for '%s' (%d elements)",
                     (long long)idx.i, name ? name : "list", base.list->len);
    return base.list->items[idx.i];
}

/* Calls fn for every element of a constant iterable; false (after an error) when the
 * iterable is not a trace-time constant. */
typedef void (*ElemFn)(Tracer *T, TScope *sc, const DaftNode *e, TVal elem, void *ctx);

static bool for_each(Tracer *T, TScope *sc, const DaftNode *at, const DaftNode *iter, ElemFn fn, void *ctx) {
    TVal it = trace_eval(T, sc, iter);
    /* Each unrolled iteration counts toward the trace's limit, so that a long loop without
     * method calls (`for i in 0..1000000000 {}`) fails instead of running for minutes. */
    if (it.kind == TV_RANGE) {
        for (int64_t i = it.i; i < it.hi && !T->failed && !T->returned; i++)
            if (T->scan || count_op(T, at))
                fn(T, sc, at, tv_int(i), ctx);
        return true;
    }
    if (it.kind == TV_LIST) {
        for (int i = 0; i < it.list->len && !T->failed && !T->returned; i++)
            if (T->scan || count_op(T, at))
                fn(T, sc, at, it.list->items[i], ctx);
        return true;
    }
    if (T->scan)
        return false;
    const DaftNode *culprit = iter->kind == DAFT_N_RANGE ? (trace_eval(T, sc, iter->lhs).kind == TV_INT ? iter->rhs : iter->lhs) : iter;
    TVal cv = trace_eval(T, sc, culprit);
    DaftSpan where;
    const char *why = runtime_reason(&cv, &where);
    const char *name = expr_name(culprit);
    char note[200];
    snprintf(note, sizeof note, "'%s' %s", name ? name : "this value", why);
    tfail(T, iter->span, where.file >= 0 ? where : iter->span, note,
          "cannot unroll this loop: '%s' is not a trace-time constant", name ? name : "the iterable");
    return false;
}

static long scan_len(Tracer *T, TScope *sc, const DaftNode *iter) {
    TVal it = trace_eval(T, sc, iter);
    if (it.kind == TV_RANGE) { /* hi - i may not fit: saturate (a huge loop is never unrolled) */
        uint64_t n = it.hi > it.i ? (uint64_t)it.hi - (uint64_t)it.i : 0;
        return n > (uint64_t)LONG_MAX ? LONG_MAX : (long)n;
    }
    return it.kind == TV_LIST ? it.list->len : -1;
}

typedef struct CompCtx {
    TVal *out;
    int len, cap;
    bool unknown;
} CompCtx;

static void comp_elem(Tracer *T, TScope *sc, const DaftNode *e, TVal elem, void *p) {
    CompCtx *c = p;
    TScope inner = {NULL, sc};
    trace_bind(T, &inner, e->name, elem);
    if (e->cond) {
        TVal keep = trace_eval(T, &inner, e->cond);
        if (keep.kind != TV_BOOL) {
            c->unknown = true;
            if (!T->scan)
                fail_runtime(T, e->cond, &keep, "branch");
            return;
        }
        if (!keep.i)
            return;
    }
    TVal v = trace_eval(T, &inner, e->value);
    if (c->len == c->cap) {
        c->cap = c->cap ? c->cap * 2 : 8;
        c->out = plan_xrealloc(c->out, sizeof(TVal) * (size_t)c->cap);
    }
    c->out[c->len++] = v;
}

static TVal eval_comprehension(Tracer *T, TScope *sc, const DaftNode *e) {
    if (T->scan) {
        /* The scan unrolls comprehensions of driver code (to find spawns) up to
         * MAX_SCAN_UNROLL elements in all, so that nested ones cannot multiply. */
        long n = scan_len(T, sc, e->iter);
        if (n > MAX_SCAN_UNROLL - T->scan_unrolled)
            return tv_unknown();
        if (n > 0)
            T->scan_unrolled += n;
    }
    CompCtx c = {0};
    bool ok = for_each(T, sc, e, e->iter, comp_elem, &c);
    TVal v = tv_unknown();
    if (ok && !c.unknown && !T->failed) {
        v = tv_list(T, c.len);
        if (c.len > 0) /* c.out is NULL for an empty comprehension */
            memcpy(v.list->items, c.out, sizeof(TVal) * (size_t)c.len);
    }
    free(c.out);
    return v;
}

static TVal eval_list(Tracer *T, TScope *sc, const DaftNode *e) {
    TVal v = tv_list(T, e->items.len);
    for (int i = 0; i < e->items.len; i++)
        v.list->items[i] = trace_eval(T, sc, e->items.items[i]);
    return v;
}

/* ---------------------------------------------------------------- payloads and hints */

static int64_t const_dim(Tracer *T, const DaftNode *d) {
    if (d->kind == DAFT_N_INT_LIT)
        return d->ival;
    if (d->kind == DAFT_N_NAME || d->kind == DAFT_N_TYPE_NAME) {
        TScope empty = {0};
        bool scan = T->scan;
        T->scan = true;                 /* a bad dimension is sema's to report */
        TVal v = trace_eval(T, &empty, d);
        T->scan = scan;
        if (v.kind == TV_INT)
            return v.i;
    }
    return DAFT_DIM_DYNAMIC;
}

DaftPayload trace_payload_of_type(Tracer *T, const DaftNode *ty) {
    if (!ty)
        return daft_payload_scalar(DAFT_PAY_NONE);
    if (ty->kind == DAFT_N_TYPE_REF)
        return trace_payload_of_type(T, ty->type);
    if (ty->kind == DAFT_N_TYPE_TENSOR) {
        DaftDType dt = DAFT_DT_F32;
        if (ty->name)
            daft_dtype_parse(ty->name, &dt);
        int64_t dims[DAFT_PLAN_MAX_RANK];
        int rank = ty->has_shape && ty->args.len <= DAFT_PLAN_MAX_RANK ? ty->args.len : -1;
        for (int i = 0; i < rank; i++)
            dims[i] = const_dim(T, ty->args.items[i]);
        return daft_payload_tensor(dt, rank, dims);
    }
    static const struct { const char *name; DaftPayloadKind kind; } scalars[] = {
        {"i64", DAFT_PAY_I64}, {"i32", DAFT_PAY_I32}, {"f64", DAFT_PAY_F64},
        {"f32", DAFT_PAY_F32}, {"bool", DAFT_PAY_BOOL}, {"str", DAFT_PAY_STR}};
    if (ty->kind == DAFT_N_TYPE_NAME)
        for (size_t i = 0; i < sizeof scalars / sizeof *scalars; i++)
            if (strcmp(ty->name, scalars[i].name) == 0)
                return daft_payload_scalar(scalars[i].kind);
    return daft_payload_scalar(DAFT_PAY_ANY);
}

static void hint_named(Tracer *T, const DaftNode *na, DaftPayload *p, DaftCommHint *h) {
    const DaftNode *v = na->value;
    if (!v)
        return;
    if (strcmp(na->name, "comm") == 0 && v->name) {
        static const char *kinds[] = {"auto", "nccl", "shm", "tcp"};
        h->kind = DAFT_COMM_CUSTOM;
        h->custom = v->name;
        for (int k = 0; k < 4; k++)
            if (strcmp(v->name, kinds[k]) == 0)
                h->kind = (DaftCommKind)k, h->custom = NULL;
    } else if (strcmp(na->name, "shape") == 0) {
        if (v->kind == DAFT_N_NAME && strcmp(v->name, "auto") == 0) {
            h->dynamic_shape = true;
        } else if ((v->kind == DAFT_N_LIST || v->kind == DAFT_N_TYPE_TENSOR) && p->kind == DAFT_PAY_TENSOR) {
            const DaftNodeList *dl = v->kind == DAFT_N_LIST ? &v->items : &v->args;
            if (dl->len <= DAFT_PLAN_MAX_RANK) {
                p->rank = dl->len;
                for (int i = 0; i < dl->len; i++)
                    p->dims[i] = const_dim(T, dl->items[i]);
            }
        }
    }
}

/* SPEC §9.1: the hint's type refines the result type; comm and shape choose the transport
 * and whether metadata goes first. */
static DaftPayload method_payload(Tracer *T, const DaftNode *m, DaftCommHint *hint) {
    DaftPayload p = trace_payload_of_type(T, m->type);
    memset(hint, 0, sizeof *hint);
    for (int a = 0; a < m->attrs.len; a++) {
        const DaftNode *at = m->attrs.items[a];
        if (strcmp(at->name, "hint") != 0)
            continue;
        for (int i = 0; i < at->args.len; i++) {
            const DaftNode *arg = at->args.items[i];
            if (arg->kind == DAFT_N_NAMED_ARG)
                hint_named(T, arg, &p, hint);
            else if (i == 0)
                p = trace_payload_of_type(T, arg);
        }
    }
    return p;
}

/* ---------------------------------------------------------------- calls */

static const DaftNode *find_method(const DaftNode *cls, const char *name) {
    for (int i = 0; cls && i < cls->items.len; i++) {
        const DaftNode *m = cls->items.items[i];
        if (m->kind == DAFT_N_METHOD && strcmp(m->name, name) == 0)
            return m;
    }
    return NULL;
}

static int graph_actor(Tracer *T, int id) {
    if (T->graph_actor[id] < 0) {
        const TActor *a = &T->actors[id];
        T->graph_actor[id] = daft_graph_add_actor(T->g, a->label ? a->label : a->cls, a->cls, a->gpus,
                                                  a->place.node, a->place.gpu);
    }
    return T->graph_actor[id];
}

static bool count_op(Tracer *T, const DaftNode *e) {
    if (++T->nops <= T->max_nodes)
        return true;
    tfail(T, e->span, daft_span_none(), NULL, "trace of '%s' is too large (more than %ld operations)",
          T->sched->name, T->max_nodes);
    return false;
}

static bool method_arg(Tracer *T, const DaftNode *at, const TVal *v, DaftGraphArg *out) {
    memset(out, 0, sizeof *out);
    out->value = -1;
    switch (v->kind) {
    case TV_REF: out->value = v->id; return true;
    case TV_INT: out->konst.kind = DAFT_CONST_I64; out->konst.i = v->i; return true;
    case TV_BOOL: out->konst.kind = DAFT_CONST_BOOL; out->konst.i = v->i; return true;
    case TV_FLOAT: out->konst.kind = DAFT_CONST_F64; out->konst.f = v->f; return true;
    case TV_STR: out->konst.kind = DAFT_CONST_STR; out->konst.s = v->s; return true;
    case TV_LIST:
        if (v->list->param) { /* a list-typed data parameter, whole */
            out->value = trace_whole_input(T, v->list);
            return true;
        }
        /* fall through */
    default:
        tfail(T, at->span, daft_span_none(), NULL,
              "cannot pass this value to a method in a compiled schedule: only Refs produced in the "
              "schedule, data parameters and trace-time constants");
        return false;
    }
}

static TVal eval_method(Tracer *T, TScope *sc, const DaftNode *e, const TVal *obj) {
    const char *mname = e->callee->name;
    DaftGraphArg args[64];
    int nargs = 0;
    for (int i = 0; i < e->args.len && i < 64; i++) {
        TVal v = trace_eval(T, sc, e->args.items[i]);
        if (!T->scan && !method_arg(T, e->args.items[i], &v, &args[nargs++]))
            return tv_unknown();
    }
    if (T->scan || T->failed || !count_op(T, e))
        return tv_unknown();
    const TActor *actor = &T->actors[obj->id];
    const DaftNode *m = find_method(trace_find_decl(T, actor->cls), mname);
    if (!m)
        return tfail(T, e->callee->span, daft_span_none(), NULL, "actor class '%s' has no method '%s'", actor->cls, mname);
    DaftCommHint hint;
    DaftPayload p = method_payload(T, m, &hint);
    TVal r = {0};
    r.kind = TV_REF;
    r.id = daft_graph_add_task(T->g, graph_actor(T, obj->id), mname, args, nargs, p, hint);
    T->g->nodes[T->g->nnodes - 1].span = e->span;
    return r;
}

/* collective.allreduce(refs, comm?, op = sum) and friends (SPEC §12). */
typedef struct CollArgs {
    TVal refs, comm;
    DaftReduceOp reduce;
    int root;
} CollArgs;

static bool coll_args(Tracer *T, TScope *sc, const DaftNode *e, CollArgs *ca) {
    memset(ca, 0, sizeof *ca);
    ca->comm.kind = TV_VOID;
    int pos = 0;
    for (int i = 0; i < e->args.len; i++) {
        const DaftNode *a = e->args.items[i];
        if (a->kind != DAFT_N_NAMED_ARG) {
            TVal v = trace_eval(T, sc, a);
            *(pos++ == 0 ? &ca->refs : &ca->comm) = v;
        } else if (strcmp(a->name, "op") == 0 && a->value && a->value->name &&
                   !daft_reduce_parse(a->value->name, &ca->reduce)) {
            tfail(T, a->span, daft_span_none(), NULL, "unknown reduction '%s'", a->value->name);
        } else if (strcmp(a->name, "root") == 0) {
            TVal r = trace_eval(T, sc, a->value);
            if (r.kind != TV_INT)
                return fail_runtime(T, a->value, &r, "compute"), false;
            ca->root = (int)r.i;
        }
    }
    return !T->failed;
}

static bool coll_members(Tracer *T, const DaftNode *e, const CollArgs *ca, int *members, int n) {
    const DaftGraph *g = T->g;
    for (int i = 0; i < n; i++) {
        const TVal *r = &ca->refs.list->items[i];
        if (r->kind != TV_REF || r->input)
            return tfail(T, e->span, daft_span_none(), NULL, "%s: refs[%d] is not a Ref produced in the schedule",
                         e->callee->name, i), false;
        int owner = g->values[r->id].actor;
        if (ca->comm.kind != TV_COMM) {
            members[i] = owner;
            continue;
        }
        members[i] = graph_actor(T, ca->comm.list->items[i].id);
        if (members[i] != owner)
            return tfail(T, e->span, daft_span_none(), NULL,
                         "%s: refs[%d] was produced by '%s', but rank %d of the communicator is '%s'",
                         e->callee->name, i, g->actors[owner].name, i, g->actors[members[i]].name), false;
    }
    return true;
}

static TVal eval_collective(Tracer *T, TScope *sc, const DaftNode *e, DaftCollKind kind) {
    CollArgs ca;
    if (!coll_args(T, sc, e, &ca) || T->scan)
        return tv_unknown();
    if (ca.refs.kind != TV_LIST)
        return tfail(T, e->span, daft_span_none(), NULL, "%s needs a list of Refs", e->callee->name);
    int n = ca.refs.list->len;
    if (ca.comm.kind == TV_COMM && ca.comm.list->len != n)
        return tfail(T, e->span, daft_span_none(), NULL, "%s: %d Refs for a communicator of %d actors",
                     e->callee->name, n, ca.comm.list->len);
    if (n == 0 || !count_op(T, e))
        return n ? tv_unknown() : tfail(T, e->span, daft_span_none(), NULL, "%s of an empty list", e->callee->name);
    int *members = plan_alloc(T->A, sizeof(int) * (size_t)n), *values = plan_alloc(T->A, sizeof(int) * (size_t)n);
    if (!coll_members(T, e, &ca, members, n))
        return tv_unknown();
    for (int i = 0; i < n; i++)
        values[i] = ca.refs.list->items[i].id;
    TVal out = tv_list(T, n);
    int *res = plan_alloc(T->A, sizeof(int) * (size_t)n);
    if (daft_graph_add_collective(T->g, kind, ca.reduce, ca.root, members, values, n, res) < 0)
        return tfail(T, e->span, daft_span_none(), NULL, "%s", T->g->error);
    T->g->nodes[T->g->nnodes - 1].span = e->span;
    for (int i = 0; i < n; i++)
        out.list->items[i] = (TVal){.kind = TV_REF, .id = res[i]};
    return out;
}

/* collective.init in driver code makes a static communicator when its actors are known. */
static TVal scan_comm_init(Tracer *T, TScope *sc, const DaftNode *e) {
    TVal l = e->args.len ? trace_eval(T, sc, e->args.items[0]) : tv_unknown();
    if (l.kind != TV_LIST)
        return tv_unknown();
    for (int i = 0; i < l.list->len; i++)
        if (l.list->items[i].kind != TV_ACTOR)
            return tv_unknown();
    l.kind = TV_COMM;
    return l;
}

static TVal eval_module_call(Tracer *T, TScope *sc, const DaftNode *e, const DaftNode *imp) {
    const char *fn = e->callee->name;
    bool coll = strcmp(imp->name, "std.collective") == 0;
    DaftCollKind kind;
    if (coll && daft_coll_parse(fn, &kind))
        return eval_collective(T, sc, e, kind);
    if (coll && (strcmp(fn, "init") == 0 || strcmp(fn, "destroy") == 0)) {
        if (T->scan)
            return strcmp(fn, "init") == 0 ? scan_comm_init(T, sc, e) : tv_unknown();
        return tfail(T, e->span, daft_span_none(), NULL, "'collective.%s' cannot be used in a compiled schedule: "
                     "create the communicator in driver code and pass it as a 'Comm' parameter", fn);
    }
    for (int i = 0; i < e->args.len; i++)      /* scan: nested calls may still be schedule calls */
        trace_eval(T, sc, e->args.items[i]->kind == DAFT_N_NAMED_ARG ? e->args.items[i]->value : e->args.items[i]);
    return tfail(T, e->span, e->span, "move this computation into an actor method",
                 "cannot call '%s.%s' in a compiled schedule: compiled schedules only call actor methods "
                 "and collectives", e->callee->lhs->name, fn);
}

static TVal *eval_args(Tracer *T, TScope *sc, const DaftNode *e) {
    TVal *args = plan_alloc(T->A, sizeof(TVal) * (size_t)(e->args.len + 1));
    for (int i = 0; i < e->args.len; i++) {
        const DaftNode *a = e->args.items[i];
        args[i] = trace_eval(T, sc, a->kind == DAFT_N_NAMED_ARG ? a->value : a);
    }
    return args;
}

/* Scan: walks the body of a plain schedule or function that driver code calls, with the
 * argument values bound, to find the calls and spawns inside. */
static TVal scan_callee(Tracer *T, const DaftNode *d, const TVal *args) {
    if (T->call_depth >= MAX_CALL_DEPTH || !d->body)
        return tv_unknown();
    T->call_depth++;
    TScope sc = {0};
    for (int i = 0; i < d->params.len; i++)
        trace_bind(T, &sc, d->params.items[i]->name, args[i]);
    trace_block(T, &sc, d->body);
    T->call_depth--;
    T->returned = false;
    return tv_unknown();
}

/* SPEC §11.3 rule 8: another compiled schedule is traced inline. */
static TVal inline_schedule(Tracer *T, const DaftNode *e, const DaftNode *d, const TVal *args) {
    if (T->inline_depth >= MAX_CALL_DEPTH)
        return tfail(T, e->span, daft_span_none(), NULL, "compiled schedules call each other too deeply");
    T->inline_depth++;
    TScope sc = {0};
    for (int i = 0; i < d->params.len && i < e->args.len; i++)
        trace_bind(T, &sc, d->params.items[i]->name, args[i]);
    TVal saved = T->result;
    trace_block(T, &sc, d->body);
    TVal r = T->result;
    T->result = saved;
    T->returned = false;
    T->inline_depth--;
    return r;
}

static TVal eval_builtin(Tracer *T, TScope *sc, const DaftNode *e, bool *handled) {
    const char *n = e->callee->name;
    *handled = true;
    static const char *waits[] = {"get", "wait", "is_error", "error_text"};
    for (int i = 0; i < 4; i++) {
        if (strcmp(n, waits[i]) == 0) {
            eval_args(T, sc, e);
            return tfail(T, e->callee->span, e->span, "return the Ref and call get() on the result",
                         "'%s' cannot be used in a compiled schedule: it is traced once and cannot wait for values", n);
        }
    }
    if (strcmp(n, "len") == 0 && e->args.len == 1) {
        TVal l = trace_eval(T, sc, e->args.items[0]);
        if (l.kind == TV_LIST)
            return tv_int(l.list->len);
        if (l.kind == TV_RANGE)
            return tv_int(l.hi <= l.i ? 0 : (uint64_t)l.hi - (uint64_t)l.i > (uint64_t)INT64_MAX
                                             ? INT64_MAX : l.hi - l.i);
        return l.kind == TV_UNKNOWN ? l : fail_runtime(T, e->args.items[0], &l, "compute");
    }
    if (strcmp(n, "i64") == 0 || strcmp(n, "f64") == 0 || strcmp(n, "i32") == 0 || strcmp(n, "f32") == 0) {
        TVal v = e->args.len == 1 ? trace_eval(T, sc, e->args.items[0]) : tv_unknown();
        if (!is_const(&v))
            return v.kind == TV_UNKNOWN ? v : fail_runtime(T, e->args.items[0], &v, "compute");
        if (n[0] == 'f')
            return (TVal){.kind = TV_FLOAT, .f = as_f64(&v)};
        if (v.kind == TV_FLOAT) {
            /* SPEC §6.2: NaN, infinities and out-of-range values are an error (the C cast
             * would be undefined). The bounds are exact doubles: (-2^31 - 1, 2^31), [-2^63, 2^63). */
            bool i32 = n[1] == '3';
            bool fits = i32 ? v.f > -2147483649.0 && v.f < 2147483648.0
                            : v.f >= -9223372036854775808.0 && v.f < 9223372036854775808.0;
            if (!fits)
                return tfail(T, e->span, daft_span_none(), NULL, "%s: value %g is out of range", n, v.f);
            return tv_int((int64_t)v.f);
        }
        return tv_int(v.i);
    }
    *handled = false;
    return tv_unknown();
}

static TVal eval_named_call(Tracer *T, TScope *sc, const DaftNode *e) {
    bool handled;
    TVal b = eval_builtin(T, sc, e, &handled);
    if (handled)
        return b;
    const char *n = e->callee->name;
    const DaftNode *d = trace_find_decl(T, n);
    TVal *args = eval_args(T, sc, e);
    if (d && d->kind == DAFT_N_SCHEDULE && d->is_compiled) {
        if (T->scan) {
            trace_scan_call(T, d, args, e->args.len, e->span);
            return tv_unknown();
        }
        return inline_schedule(T, e, d, args);
    }
    if (T->scan)
        return d && (d->kind == DAFT_N_SCHEDULE || d->kind == DAFT_N_FN) ? scan_callee(T, d, args) : tv_unknown();
    if (d && d->kind == DAFT_N_SCHEDULE)
        return tfail(T, e->span, d->name_span, "declared here as a plain (interpreted) schedule",
                     "cannot call interpreted schedule '%s' from compiled schedule '%s'", n, T->sched->name);
    return tfail(T, e->span, e->span, "move this computation into an actor method",
                 "cannot call '%s' in a compiled schedule: compiled schedules only call actor methods and collectives", n);
}

static TVal eval_call(Tracer *T, TScope *sc, const DaftNode *e) {
    const DaftNode *callee = e->callee;
    if (callee->kind == DAFT_N_NAME)
        return eval_named_call(T, sc, e);
    if (callee->kind != DAFT_N_FIELD_ACCESS)
        return tfail(T, e->span, daft_span_none(), NULL, "cannot trace this call");
    const DaftNode *obj = callee->lhs;
    if (obj->kind == DAFT_N_NAME && !lookup(sc, obj->name)) {
        const DaftNode *d = trace_find_decl(T, obj->name);
        if (d && d->kind == DAFT_N_IMPORT)
            return eval_module_call(T, sc, e, d);
    }
    TVal o = trace_eval(T, sc, obj);
    if (o.kind == TV_ACTOR)
        return eval_method(T, sc, e, &o);
    eval_args(T, sc, e);
    if (o.kind == TV_UNKNOWN)
        return o;
    return tfail(T, e->span, daft_span_none(), NULL, "cannot call '%s' on this value in a compiled schedule",
                 callee->name);
}

/* ---------------------------------------------------------------- spawn (scan) */

static int placement_int(Tracer *T, TScope *sc, const DaftNode *p, bool *ok) {
    TVal v = p->value ? trace_eval(T, sc, p->value) : tv_unknown();
    if (v.kind != TV_INT)
        *ok = false;
    return (int)v.i;
}

int trace_class_gpus(const Tracer *T, const DaftNode *cls) {
    for (int i = 0; cls && i < cls->args.len; i++) {
        const DaftNode *a = cls->args.items[i];
        if (a->kind == DAFT_N_NAMED_ARG && strcmp(a->name, "gpus") == 0 && a->value) {
            TScope empty = {0};
            TVal v = trace_eval((Tracer *)T, &empty, a->value);
            return v.kind == TV_INT ? (int)v.i : 1;
        }
    }
    return 0;
}

/* A spawn is static when its placements are constants and it is not inside a loop or a
 * branch walked once for all its iterations (cond_depth). */
static TVal eval_spawn(Tracer *T, TScope *sc, const DaftNode *e) {
    for (int i = 0; i < e->args.len; i++)
        trace_eval(T, sc, e->args.items[i]->kind == DAFT_N_NAMED_ARG ? e->args.items[i]->value : e->args.items[i]);
    if (!T->scan)
        return tfail(T, e->span, daft_span_none(), NULL,
                     "'spawn' is not allowed in a compiled schedule: pass the actors as parameters");
    const DaftNode *cls = trace_find_decl(T, e->name);
    if (!cls || cls->kind != DAFT_N_ACTOR || T->cond_depth > 0)
        return tv_unknown();
    int gpus = trace_class_gpus(T, cls), node = -1, gpu = -1;
    bool ok = true;
    for (int i = 0; i < e->items.len; i++) {
        const DaftNode *p = e->items.items[i];
        if (strcmp(p->name, "cpu") == 0)
            gpus = 0;
        else if (strcmp(p->name, "node") == 0)
            node = placement_int(T, sc, p, &ok);
        else if (strcmp(p->name, "gpu") == 0 && p->value)
            gpu = placement_int(T, sc, p, &ok);
    }
    if (!ok)
        return tv_unknown();
    TVal v = {0};
    v.kind = TV_ACTOR;
    v.id = trace_new_actor(T, cls->name, gpus, node, gpus ? gpu : -1, e->span);
    return v;
}

/* ---------------------------------------------------------------- expressions */

TVal trace_eval(Tracer *T, TScope *sc, const DaftNode *e) {
    if (!e || T->failed)
        return tv_unknown();
    TVal v = {0};
    switch (e->kind) {
    case DAFT_N_INT_LIT: return tv_int(e->ival);
    case DAFT_N_BOOL_LIT: return tv_bool(e->ival != 0);
    case DAFT_N_FLOAT_LIT: v.kind = TV_FLOAT, v.f = e->fval; return v;
    case DAFT_N_STR_LIT: v.kind = TV_STR, v.s = e->name ? e->name : ""; return v;
    case DAFT_N_NAME:
    case DAFT_N_TYPE_NAME: {
        TBind *b = lookup(sc, e->name);
        return b ? b->val : eval_global(T, e);
    }
    case DAFT_N_UNARY: return eval_unary(T, sc, e);
    case DAFT_N_BINARY: return eval_binary(T, sc, e);
    case DAFT_N_RANGE: {
        TVal lo = trace_eval(T, sc, e->lhs), hi = trace_eval(T, sc, e->rhs);
        if (lo.kind != TV_INT || hi.kind != TV_INT)
            return tv_unknown();       /* reported by the loop that needs it */
        v.kind = TV_RANGE, v.i = lo.i, v.hi = hi.i;
        return v;
    }
    case DAFT_N_INDEX: return eval_index(T, sc, e);
    case DAFT_N_LIST: return eval_list(T, sc, e);
    case DAFT_N_COMPREHENSION: return eval_comprehension(T, sc, e);
    case DAFT_N_CALL: return eval_call(T, sc, e);
    case DAFT_N_SPAWN: return eval_spawn(T, sc, e);
    case DAFT_N_NAMED_ARG: return trace_eval(T, sc, e->value);
    default:
        if (e->lhs)
            trace_eval(T, sc, e->lhs);
        return tfail(T, e->span, daft_span_none(), NULL, "cannot trace this %s in a compiled schedule",
                     daft_node_kind_name(e->kind));
    }
}

/* ---------------------------------------------------------------- for trace.c */

TVal trace_fail_branch(Tracer *T, const DaftNode *cond, const TVal *v) { return fail_runtime(T, cond, v, "branch"); }

static void loop_body(Tracer *T, TScope *sc, const DaftNode *e, TVal elem, void *ctx) {
    (void)ctx;
    TScope inner = {NULL, sc};
    trace_bind(T, &inner, e->name, elem);
    trace_block(T, &inner, e->body);
}

bool trace_for_each(Tracer *T, TScope *sc, const DaftNode *loop) {
    return for_each(T, sc, loop, loop->iter, loop_body, NULL);
}
