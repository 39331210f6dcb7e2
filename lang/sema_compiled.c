/* The traceability rules of compiled schedules (SPEC.md section 11.3), checked after the
 * body is typed. A value is a trace-time constant ("static") when it is built from literals,
 * constants, loop variables of unrolled loops over ranges or actor lists, structural
 * parameters (actors, actor lists, Comms), and len() of lists whose length is known at trace
 * time. Data parameters are per-execution inputs and Refs are only known when the schedule
 * runs: nothing may be computed on them or branch on them. */
#include "sema.h"

#include <string.h>

typedef struct Dyn {
    bool dyn;            /* not a trace-time constant */
    const DaftNode *why; /* a Name whose declaration makes it so, or NULL (a Ref) */
} Dyn;

typedef struct CS {
    Sema *S;
    DaftNode *sched;
    int quiet; /* inside a condition, index or loop bound: the construct reports */
    bool misplaced_return; /* reported: the missing final return is the same mistake */
} CS;

static Dyn walk(CS *c, DaftNode *e);

static bool returns_refs(const DaftType *t) {
    return t && (t->kind == DAFT_TY_REF || (t->kind == DAFT_TY_LIST && t->elem && t->elem->kind == DAFT_TY_REF));
}

static const Dyn STATIC = {false, NULL};

static bool is_structural(const DaftType *t) {
    while (t && t->kind == DAFT_TY_LIST && t->elem)
        t = t->elem;
    return t && (t->kind == DAFT_TY_ACTOR || t->kind == DAFT_TY_COMM);
}

/* A list whose items (however deep) are Refs, actors or Comms: its shape is known when
 * tracing, so `+` on two of them is traced (concatenated), not computed at run time. */
static bool is_ref_list(const DaftType *t) {
    if (!t || t->kind != DAFT_TY_LIST)
        return false;
    while (t && t->kind == DAFT_TY_LIST && t->elem)
        t = t->elem;
    return t && (t->kind == DAFT_TY_REF || t->kind == DAFT_TY_ACTOR || t->kind == DAFT_TY_COMM);
}

static const char *span_text(Sema *S, DaftSpan sp) {
    DaftSourceSet *set = S->diags->sources;
    if (!set || sp.file < 0 || sp.file >= set->len || sp.begin.line != sp.end.line)
        return "this expression";
    int len;
    const char *line = daft_source_line(set->files[sp.file], sp.begin.line, &len);
    int a = sp.begin.col - 1, b = sp.end.col - 1;
    if (a < 0 || b > len || b <= a)
        return "this expression";
    return daft_arena_strndup(S->arena, line + a, (size_t)(b - a));
}

static void note_why(CS *c, DaftDiag *d, Dyn v, DaftSpan at) {
    if (v.why && v.why->decl)
        daft_note(c->S->diags, d, v.why->decl->name_span, "'%s' is a per-execution input", v.why->name);
    else
        daft_note(c->S->diags, d, at, "Refs are only known when the schedule runs");
}

static bool static_len(CS *c, DaftNode *e) {
    switch (e->kind) {
    case DAFT_N_LIST:
    case DAFT_N_COMPREHENSION:
        return true;
    case DAFT_N_NAME:
        if (!e->decl)
            return false;
        if (e->decl->kind == DAFT_N_PARAM || e->decl->kind == DAFT_N_CONST)
            return true; /* list parameters' lengths are part of the trace key */
        return sema_info(c->S, e->decl)->static_len;
    case DAFT_N_CALL:
        if (e->decl && e->decl->kind == DAFT_N_FN && sema_info(c->S, e->decl)->is_std && e->args.len > 0)
            return static_len(c, e->args.items[0]);
        if (e->decl && e->decl->kind == DAFT_N_SCHEDULE)
            return true;
        return false;
    case DAFT_N_INDEX:
        return is_structural(e->ty) && !walk(c, e->lhs).dyn;
    case DAFT_N_BINARY: /* a concatenation of lists whose lengths are known */
        return e->op == DAFT_OP_ADD && is_ref_list(e->ty) && static_len(c, e->lhs) && static_len(c, e->rhs);
    default:
        return false;
    }
}

static Dyn join(Dyn a, Dyn b) { return a.dyn ? a : b; }

static Dyn compute_on(CS *c, DaftNode *at, Dyn v) {
    Sema *S = c->S;
    if (c->quiet)
        return v;
    const char *what = v.why ? v.why->name : span_text(S, at->span);
    DaftDiag *d = daft_error(S->diags, at->span, "cannot compute on '%s' in a compiled schedule: '%s' is %s", what, what,
                             v.why ? "a per-execution input" : "only known when the schedule runs");
    daft_note(S->diags, d, at->span, "move this computation into an actor method");
    return STATIC; /* reported: do not report the enclosing expression again */
}

static void forbid_call(CS *c, DaftNode *call, const char *name) {
    DaftDiag *d = daft_error(c->S->diags, call->span,
                             "cannot call '%s' in a compiled schedule: compiled schedules only call actor methods and collectives", name);
    daft_note(c->S->diags, d, call->span, "move this computation into an actor method");
}

static Dyn call(CS *c, DaftNode *e) {
    Sema *S = c->S;
    DaftNode *d = e->decl;
    DaftNode *callee = e->callee;
    const char *name = sema_callee_name(S, e);
    if (!d && callee->kind == DAFT_N_NAME) { /* builtin */
        SemaBuiltin b = sema_builtin(callee->name);
        if (b == SEMA_BUILTIN_GET || b == SEMA_BUILTIN_WAIT) /* reported when typed (sema_expr.c) */
            return STATIC;
        if (b == SEMA_BUILTIN_LEN) {
            if (e->args.len == 1 && e->args.items[0]->kind != DAFT_N_NAMED_ARG) {
                walk(c, e->args.items[0]);
                if (static_len(c, e->args.items[0]))
                    return STATIC;
            }
            forbid_call(c, e, "len");
            return STATIC;
        }
        if (b >= SEMA_BUILTIN_I32 && b <= SEMA_BUILTIN_F64) {
            Dyn v = STATIC;
            for (int i = 0; i < e->args.len; i++)
                v = join(v, walk(c, e->args.items[i]));
            if (v.dyn)
                forbid_call(c, e, callee->name);
            return STATIC;
        }
        forbid_call(c, e, callee->name);
        return STATIC;
    }
    if (!d)
        return STATIC; /* after an error */
    if (d->kind == DAFT_N_METHOD) {
        walk(c, callee->lhs); /* the receiver: reports run-time indexing */
        for (int i = 0; i < e->args.len; i++)
            if (e->args.items[i]->kind != DAFT_N_NAMED_ARG)
                walk(c, e->args.items[i]); /* data and Refs are fine as arguments */
        return (Dyn){true, NULL};
    }
    if (d->kind == DAFT_N_SCHEDULE) {
        if (!d->is_compiled) {
            DaftDiag *x = daft_error(S->diags, e->span, "cannot call interpreted schedule '%s' from compiled schedule '%s'", d->name,
                                     c->sched->name);
            daft_note(S->diags, x, d->name_span, "'%s' declared here", d->name);
            return STATIC;
        }
        for (int i = 0; i < e->args.len; i++)
            walk(c, e->args.items[i]);
        return (Dyn){true, NULL};
    }
    if (d->kind == DAFT_N_FN) {
        SemaInfo *in = sema_info(S, d);
        if (in->is_std && in->module && strcmp(in->module, "std.collective") == 0) {
            if (!strcmp(d->name, "init") || !strcmp(d->name, "destroy")) {
                daft_error(S->diags, e->span,
                           "'%s' cannot be used in a compiled schedule: create the communicator in driver code and pass it as a 'Comm' parameter",
                           name);
                return STATIC;
            }
            for (int i = 0; i < e->args.len; i++) {
                DaftNode *a = e->args.items[i];
                if (a->kind == DAFT_N_NAMED_ARG) {
                    if (strcmp(a->name, "root") == 0 && walk(c, a->value).dyn)
                        compute_on(c, a->value, walk(c, a->value));
                    continue;
                }
                walk(c, a);
            }
            return (Dyn){true, NULL};
        }
        forbid_call(c, e, name);
        return STATIC;
    }
    return STATIC;
}

static void loop_iter(CS *c, DaftNode *owner, DaftNode *iter) {
    Sema *S = c->S;
    SemaInfo *in = sema_info(S, owner);
    in->is_static = 0;
    if (iter->kind == DAFT_N_RANGE) {
        c->quiet++;
        Dyn v = join(walk(c, iter->lhs), walk(c, iter->rhs));
        c->quiet--;
        if (v.dyn) {
            const char *what = v.why ? v.why->name : span_text(S, iter->span);
            DaftDiag *d = daft_error(S->diags, iter->span, "cannot unroll this loop: '%s' is not a trace-time constant", what);
            note_why(c, d, v, iter->span);
        }
        in->is_static = 1;
        return;
    }
    walk(c, iter);
    if (!static_len(c, iter)) {
        DaftDiag *d = daft_error(S->diags, iter->span, "cannot unroll this loop: '%s' is not a trace-time constant",
                                 span_text(S, iter->span));
        daft_note(S->diags, d, iter->span, "its length is only known when the schedule runs");
    }
    in->is_static = is_structural(sema_info(S, owner)->var_ty);
}

static void branch_cond(CS *c, DaftNode *cond) {
    c->quiet++;
    Dyn v = walk(c, cond);
    c->quiet--;
    if (v.dyn) {
        DaftDiag *d = daft_error(c->S->diags, cond->span, "cannot branch on a run-time value in a compiled schedule");
        note_why(c, d, v, cond->span);
    }
}

static Dyn walk(CS *c, DaftNode *e) {
    if (!e || !e->ty || sema_is_error(e->ty))
        return STATIC;
    Sema *S = c->S;
    switch (e->kind) {
    case DAFT_N_INT_LIT:
    case DAFT_N_FLOAT_LIT:
    case DAFT_N_STR_LIT:
    case DAFT_N_BOOL_LIT:
        return STATIC;
    case DAFT_N_NAME: {
        DaftNode *d = e->decl;
        if (!d)
            return STATIC;
        if (d->kind == DAFT_N_PARAM)
            return is_structural(d->ty) ? STATIC : (Dyn){true, e};
        if (d->kind == DAFT_N_LET || d->kind == DAFT_N_FOR || d->kind == DAFT_N_COMPREHENSION) {
            if (sema_info(S, d)->is_static)
                return STATIC;
            return (Dyn){true, NULL};
        }
        return STATIC;
    }
    case DAFT_N_UNARY: {
        Dyn v = walk(c, e->lhs);
        return v.dyn ? compute_on(c, e->lhs, v) : STATIC;
    }
    case DAFT_N_BINARY: {
        Dyn a = walk(c, e->lhs), b = walk(c, e->rhs);
        if (e->op == DAFT_OP_AND || e->op == DAFT_OP_OR) {
            if (c->quiet)
                return join(a, b);
            if (a.dyn || b.dyn) {
                DaftDiag *d = daft_error(S->diags, e->span, "cannot branch on a run-time value in a compiled schedule");
                note_why(c, d, a.dyn ? a : b, a.dyn ? e->lhs->span : e->rhs->span);
            }
            return STATIC;
        }
        if (e->op == DAFT_OP_ADD && is_ref_list(e->ty))
            return join(a, b);
        if (a.dyn)
            return compute_on(c, e->lhs, a);
        if (b.dyn)
            return compute_on(c, e->rhs, b);
        return STATIC;
    }
    case DAFT_N_CALL:
        return call(c, e);
    case DAFT_N_INDEX: {
        Dyn l = walk(c, e->lhs);
        c->quiet++;
        Dyn i = walk(c, e->rhs);
        c->quiet--;
        if (i.dyn && !c->quiet) {
            DaftDiag *d = daft_error(S->diags, e->rhs->span, "cannot index '%s' with a run-time value in a compiled schedule",
                                     span_text(S, e->lhs->span));
            note_why(c, d, i, e->rhs->span);
        }
        return is_structural(e->ty) ? STATIC : l.dyn ? l : (Dyn){true, NULL};
    }
    case DAFT_N_LIST: {
        Dyn v = STATIC;
        for (int i = 0; i < e->items.len; i++)
            v = join(v, walk(c, e->items.items[i]));
        return v;
    }
    case DAFT_N_COMPREHENSION: {
        loop_iter(c, e, e->iter);
        if (e->cond)
            branch_cond(c, e->cond);
        return walk(c, e->value);
    }
    case DAFT_N_SPAWN:
        daft_error(S->diags, e->span, "'spawn' is not allowed in a compiled schedule: pass the actors as parameters");
        return STATIC;
    case DAFT_N_FIELD_ACCESS:
    case DAFT_N_SELF:
    default:
        return STATIC;
    }
}

static void stmt(CS *c, DaftNode *s, bool last_of_body);

static void block(CS *c, DaftNode *b, bool is_body) {
    if (!b)
        return;
    for (int i = 0; i < b->items.len; i++)
        stmt(c, b->items.items[i], is_body && i == b->items.len - 1);
}

static void stmt(CS *c, DaftNode *s, bool last_of_body) {
    Sema *S = c->S;
    switch (s->kind) {
    case DAFT_N_BLOCK: block(c, s, false); break;
    case DAFT_N_LET: {
        Dyn v = walk(c, s->value);
        SemaInfo *in = sema_info(S, s);
        in->is_static = !v.dyn || is_structural(s->ty);
        in->static_len = s->value && static_len(c, s->value);
        break;
    }
    case DAFT_N_ASSIGN: {
        Dyn v = walk(c, s->value);
        if (s->target->kind == DAFT_N_INDEX) {
            walk(c, s->target);
        } else if (s->target->kind == DAFT_N_NAME && s->target->decl) {
            SemaInfo *in = sema_info(S, s->target->decl);
            /* (xs += [r] concatenates lists of Refs, as xs = xs + [r] does: rule 3) */
            bool concat = s->op == DAFT_OP_ADD && is_ref_list(s->target->ty);
            if (s->op != DAFT_OP_ASSIGN && !concat && (v.dyn || !in->is_static))
                compute_on(c, s->target, v.dyn ? v : (Dyn){true, s->target});
            if (s->target->decl->kind == DAFT_N_LET) {
                in->is_static = in->is_static && !v.dyn;
                in->static_len = in->static_len && static_len(c, s->value);
            }
        }
        break;
    }
    case DAFT_N_RETURN:
        if (!last_of_body && !c->misplaced_return) {
            daft_error(S->diags, s->span, "a compiled schedule must end with its only 'return'");
            c->misplaced_return = true;
        }
        if (s->value) {
            walk(c, s->value);
            DaftType *t = s->value->ty;
            if (t && !sema_is_error(t) && !returns_refs(t))
                daft_error(S->diags, s->value->span, "a compiled schedule must return Refs produced by its tasks");
        }
        break;
    case DAFT_N_IF:
        branch_cond(c, s->cond);
        block(c, s->then, false);
        if (s->els)
            stmt(c, s->els, false);
        break;
    case DAFT_N_FOR:
        loop_iter(c, s, s->iter);
        block(c, s->body, false);
        break;
    case DAFT_N_WHILE:
        daft_error(S->diags, s->span.begin.line ? (DaftSpan){s->span.file, s->span.begin, {s->span.begin.line, s->span.begin.col + 5}} : s->span,
                   "'while' cannot be traced: a compiled schedule may only loop over a constant range or a static list");
        block(c, s->body, false);
        break;
    case DAFT_N_BREAK:
    case DAFT_N_CONTINUE:
        daft_error(S->diags, s->span, "'%s' cannot be traced in a compiled schedule", s->kind == DAFT_N_BREAK ? "break" : "continue");
        break;
    case DAFT_N_EXPR_STMT:
        walk(c, s->value);
        break;
    default:
        break;
    }
}

void sema_compiled_check(Sema *S, DaftNode *sched) {
    CS c = {S, sched, 0, false};
    DaftType *r = sched->ty;
    bool refs = returns_refs(r);
    if (!sema_is_error(r) && !refs) {
        DaftDiag *d = daft_error(S->diags, sched->type ? sched->type->span : sched->name_span,
                                 "compiled schedule '%s' must return a Ref or a list of Refs", sched->name);
        (void)d;
    }
    block(&c, sched->body, true);
    /* A body that does not end in a return already has 'missing return' (sema_stmt.c). */
    if (!sema_is_error(r) && refs && sched->body && !c.misplaced_return && sema_block_terminates(sched->body)) {
        int n = sched->body->items.len;
        if (n == 0 || sched->body->items.items[n - 1]->kind != DAFT_N_RETURN)
            daft_error(S->diags, sema_end_span(sched->body->span), "a compiled schedule must end with its only 'return'");
    }
}

/* Compiled schedules are inlined into their callers when traced: recursion cannot unroll.
 * A cycle is reported once, at its first schedule, naming the others and the calls. */
#define MAX_CYCLE 64

typedef struct Cycle {
    DaftNode *calls[MAX_CYCLE]; /* the calls from the first schedule back to it */
    int n;
} Cycle;

static bool scan(Sema *S, DaftNode *n, DaftNode *target, Cycle *cy, int depth);

/* A call of a compiled schedule: the end of the cycle, or a schedule to search further. */
static bool scan_call(Sema *S, DaftNode *call, DaftNode *target, Cycle *cy, int depth) {
    if (cy->n == MAX_CYCLE)
        return false;
    cy->calls[cy->n++] = call;
    if (call->decl == target)
        return true;
    SemaInfo *in = sema_info(S, call->decl);
    if (!in->state) {
        in->state = 1;
        if (scan(S, call->decl->body, target, cy, depth + 1))
            return true;
    }
    cy->n--;
    return false;
}

static bool scan(Sema *S, DaftNode *n, DaftNode *target, Cycle *cy, int depth) {
    if (!n || depth > 4096)
        return false;
    if (n->kind == DAFT_N_CALL && n->decl && n->decl->kind == DAFT_N_SCHEDULE && n->decl->is_compiled &&
        scan_call(S, n, target, cy, depth))
        return true;
    DaftNode *kids[] = {n->value, n->target, n->lhs, n->rhs, n->callee, n->cond, n->then, n->els, n->iter, n->body};
    for (size_t i = 0; i < sizeof kids / sizeof *kids; i++)
        if (scan(S, kids[i], target, cy, depth + 1))
            return true;
    for (int i = 0; i < n->items.len; i++)
        if (scan(S, n->items.items[i], target, cy, depth + 1))
            return true;
    for (int i = 0; i < n->args.len; i++)
        if (scan(S, n->args.items[i], target, cy, depth + 1))
            return true;
    return false;
}

static void report_cycle(Sema *S, DaftNode *sc, const Cycle *cy) {
    if (cy->n == 1) {
        daft_error(S->diags, sc->name_span, "compiled schedule '%s' calls itself; the tracer cannot unroll recursion",
                   sc->name);
        return;
    }
    char via[256] = "";
    for (int i = 0; i + 1 < cy->n; i++) {
        size_t len = strlen(via);
        snprintf(via + len, sizeof via - len, "%s'%s'", i ? ", " : "", cy->calls[i]->decl->name);
    }
    DaftDiag *d = daft_error(S->diags, sc->name_span,
                             "compiled schedule '%s' calls itself through %s; the tracer cannot unroll recursion",
                             sc->name, via);
    for (int i = 0; i < cy->n; i++) {
        const DaftNode *caller = i ? cy->calls[i - 1]->decl : sc;
        daft_note(S->diags, d, cy->calls[i]->span, "'%s' calls '%s' here", caller->name, cy->calls[i]->decl->name);
    }
}

static bool in_cycle(const Cycle *cy, const DaftNode *sched) {
    for (int i = 0; i < cy->n; i++)
        if (cy->calls[i]->decl == sched)
            return true;
    return false;
}

void sema_compiled_recursion(Sema *S, DaftNode *program) {
    Cycle done[8]; /* cycles reported: their other schedules are not reported again */
    int ndone = 0;
    for (int i = 0; i < program->items.len; i++) {
        DaftNode *sc = program->items.items[i];
        if (sc->kind != DAFT_N_SCHEDULE || !sc->is_compiled || !sc->body)
            continue;
        /* reset visit marks of schedules */
        for (int j = 0; j < program->items.len; j++)
            if (program->items.items[j]->kind == DAFT_N_SCHEDULE)
                sema_info(S, program->items.items[j])->state = 0;
        Cycle cy = {.n = 0};
        if (!scan(S, sc->body, sc, &cy, 0))
            continue;
        bool seen = false;
        for (int k = 0; k < ndone && !seen; k++)
            seen = in_cycle(&done[k], sc);
        if (seen)
            continue;
        report_cycle(S, sc, &cy);
        if (ndone < (int)(sizeof done / sizeof *done))
            done[ndone++] = cy;
    }
}
