/* Expressions: names, operators, lists, comprehensions, indexing, spawn and every kind of
 * call (functions, schedules, actor methods, std module functions, builtins).
 *
 * Calls of actor methods: on `self` inside a method the call is direct and has the
 * method's result type R; anywhere else it is a task and has type Ref<R> (Ref<void> for a
 * method without result). Top-level arguments of method calls and of compiled schedule
 * data parameters may be Refs where values are expected (dataflow: the runtime resolves
 * them; SPEC 8.4, 11.2); spawn arguments may not. Schedule calls have their declared
 * result type (a compiled schedule declares Ref<T> or [Ref<T>]). In actor code, driver
 * operations (spawn, get, wait, is_error, error_text, calls on other actors, schedules,
 * std.collective) are errors (SPEC 4.3). */
#include "sema.h"

#include <stdlib.h>
#include <string.h>

static DaftType *expr(Sema *S, DaftNode *e, bool range_ok);

static DaftType *set(DaftNode *e, DaftType *t) {
    e->ty = t;
    return t;
}

void sema_note_ref_value(Sema *S, DaftDiag *d, DaftSpan span, const DaftType *from, const DaftType *to) {
    if (!from || sema_is_error(from))
        return;
    if (from->kind != DAFT_TY_REF && !(from->kind == DAFT_TY_LIST && from->elem && from->elem->kind == DAFT_TY_REF))
        return;
    /* Only where waiting would help: [Ref<i64>] for [Ref<tensor>] is not about get. */
    if (to && !sema_assignable(to, sema_strip_refs(S, (DaftType *)from), false, NULL))
        return;
    if (S->ctx == SEMA_CTX_COMPILED) /* get is not allowed there (SPEC 11.3) */
        daft_note(S->diags, d, span, "a Ref's value is only known when the schedule runs: move this computation into an actor method");
    else
        daft_note(S->diags, d, span, "use 'get(...)' to wait for the value of a Ref");
}

static void note_get(Sema *S, DaftDiag *d, DaftSpan span, const DaftType *ty) {
    sema_note_ref_value(S, d, span, ty, NULL);
}

DaftSpan sema_end_span(DaftSpan s) {
    DaftSpan r = s;
    r.begin = s.end;
    if (r.begin.col > 1)
        r.begin.col--;
    return r;
}

const char *sema_callee_name(Sema *S, const DaftNode *call) {
    const DaftNode *c = call->kind == DAFT_N_CALL ? call->callee : call;
    if (!c)
        return "?";
    if (c->kind == DAFT_N_NAME)
        return c->name;
    if (c->kind == DAFT_N_FIELD_ACCESS) {
        const DaftNode *l = c->lhs;
        if (l && l->kind == DAFT_N_NAME)
            return daft_arena_printf(S->arena, "%s.%s", l->name, c->name);
        if (l && l->kind == DAFT_N_SELF)
            return daft_arena_printf(S->arena, "self.%s", c->name);
        return c->name;
    }
    return "call";
}

/* ---------------------------------------------------------------- constants */

static bool const_int_at(Sema *S, DaftNode *e, int64_t *out, int depth, int64_t lo, int64_t hi);

/* Folds an integer constant expression whose every value must lie in [lo, hi]: the range of
 * its type, so that an i32 constant that wraps is an overflow as an i64 one is (SPEC 4.1).
 * The operands of an i32 expression are all i32 (no implicit conversions), so checking each
 * intermediate result is folding in i32. */
static bool const_int(Sema *S, DaftNode *e, int64_t *out, int depth, int64_t lo, int64_t hi) {
    if (!const_int_at(S, e, out, depth, lo, hi))
        return false;
    return *out >= lo && *out <= hi;
}

static bool const_int_at(Sema *S, DaftNode *e, int64_t *out, int depth, int64_t lo, int64_t hi) {
    if (!e || depth > 64)
        return false;
    switch (e->kind) {
    case DAFT_N_INT_LIT:
        *out = e->ival;
        return true;
    case DAFT_N_NAME: {
        DaftNode *d = sema_local(S, e->name) ? NULL : sema_global(S, e->name);
        if (!d || d->kind != DAFT_N_CONST)
            return false;
        return const_int(S, d->value, out, depth + 1, lo, hi);
    }
    case DAFT_N_UNARY: {
        int64_t v;
        if (e->op != DAFT_OP_NEG || !const_int(S, e->lhs, &v, depth + 1, lo, hi) || v == INT64_MIN)
            return false;
        *out = -v;
        return true;
    }
    case DAFT_N_BINARY: {
        int64_t a, b;
        if (!const_int(S, e->lhs, &a, depth + 1, lo, hi) || !const_int(S, e->rhs, &b, depth + 1, lo, hi))
            return false;
        switch (e->op) {
        case DAFT_OP_ADD: return !__builtin_add_overflow(a, b, out);
        case DAFT_OP_SUB: return !__builtin_sub_overflow(a, b, out);
        case DAFT_OP_MUL: return !__builtin_mul_overflow(a, b, out);
        case DAFT_OP_DIV:
            if (b == 0 || (a == INT64_MIN && b == -1))
                return false;
            *out = a / b;
            return true;
        case DAFT_OP_MOD:
            if (b == 0 || (a == INT64_MIN && b == -1))
                return false;
            *out = a % b;
            return true;
        default: return false;
        }
    }
    default:
        return false;
    }
}

bool sema_const_int(Sema *S, DaftNode *e, int64_t *out) { return const_int(S, e, out, 0, INT64_MIN, INT64_MAX); }

bool sema_const_int_typed(Sema *S, DaftNode *e, const DaftType *ty, int64_t *out) {
    if (ty && ty->kind == DAFT_TY_I32)
        return const_int(S, e, out, 0, INT32_MIN, INT32_MAX);
    return sema_const_int(S, e, out);
}

/* ---------------------------------------------------------------- names */

/* Inside a method, a bare field or method name is the commonest slip (members are only
 * reached through 'self.'): say so instead of suggesting an unrelated global. */
static bool undeclared_member(Sema *S, DaftNode *e) {
    DaftNode *m = S->actor ? sema_actor_member(S->actor, e->name) : NULL;
    if (!m)
        return false;
    DaftDiag *d = daft_error(S->diags, e->span, "use of undeclared name '%s'; did you mean 'self.%s'?", e->name, e->name);
    daft_note(S->diags, d, m->name_span, "%s '%s' of actor '%s' declared here", sema_decl_what(m), m->name, S->actor->name);
    return true;
}

static void undeclared(Sema *S, DaftNode *e, int what) {
    if (undeclared_member(S, e))
        return;
    if (strcmp(e->name, "not") == 0) { /* 'not (x)' parses as a call: Python's operator */
        DaftDiag *d = daft_error(S->diags, e->span, "use of undeclared name 'not'");
        daft_note(S->diags, d, e->span, "daft writes 'not' as '!'");
        return;
    }
    DaftNode *sd = sema_suggest_decl(S, e->name, what);
    const char *sug = sema_suggest(S, e->name, what);
    DaftDiag *d = daft_error(S->diags, e->span, "use of undeclared name '%s'", e->name);
    if (sug)
        daft_note(S->diags, d, sd ? (sd->kind == DAFT_N_IMPORT ? sd->span : sd->name_span) : e->span, "did you mean '%s'?", sug);
    if (strcmp(e->name, "std") == 0)
        daft_note(S->diags, d, e->span, "std modules are used through an import, e.g. 'import std.tensor as T;' then 'T.randn(...)'");
}

static DaftType *var_type(Sema *S, DaftNode *d) {
    if (d->kind == DAFT_N_FOR || d->kind == DAFT_N_COMPREHENSION) {
        DaftType *t = sema_info(S, d)->var_ty;
        return t ? t : S->t_error;
    }
    return d->ty ? d->ty : S->t_error;
}

static DaftType *name_expr(Sema *S, DaftNode *e) {
    DaftNode *d = sema_lookup(S, e->name);
    if (!d) {
        if (sema_builtin(e->name)) {
            daft_error(S->diags, e->span, "builtin function '%s' must be called", e->name);
            return set(e, S->t_error);
        }
        undeclared(S, e, SEMA_SUGGEST_VALUE);
        return set(e, S->t_error);
    }
    e->decl = d;
    switch (d->kind) {
    case DAFT_N_PARAM:
    case DAFT_N_LET:
    case DAFT_N_FOR:
    case DAFT_N_COMPREHENSION:
        sema_info(S, d)->read = 1;
        e->slot = d->slot;
        return set(e, var_type(S, d));
    case DAFT_N_CONST: {
        SemaInfo *in = sema_info(S, d);
        if (in->state == 1) {
            DaftDiag *x = daft_error(S->diags, e->span, "constant '%s' is defined in terms of itself", e->name);
            daft_note(S->diags, x, d->name_span, "'%s' declared here", d->name);
            return set(e, S->t_error);
        }
        if (in->state == 0)
            sema_check_const(S, d);
        return set(e, d->ty ? d->ty : S->t_error);
    }
    case DAFT_N_IMPORT: {
        DaftDiag *x = daft_error(S->diags, e->span, "module '%s' cannot be used as a value", e->name);
        daft_note(S->diags, x, e->span, "use a function of the module, e.g. '%s.name(...)'", e->name);
        return set(e, S->t_error);
    }
    case DAFT_N_ACTOR: {
        DaftDiag *x = daft_error(S->diags, e->span, "'%s' is an actor class, not a value", e->name);
        daft_note(S->diags, x, e->span, "to create an actor, write 'spawn %s(...)'", e->name);
        return set(e, S->t_error);
    }
    default: {
        DaftDiag *x = daft_error(S->diags, e->span, "reference to %s '%s' must be called", sema_decl_what(d), e->name);
        sema_note_decl(S, x, d);
        return set(e, S->t_error);
    }
    }
}

/* ---------------------------------------------------------------- operators */

static const char *op_str(DaftOp op) { return daft_op_name(op); }

/* Errors about a binary operator point at the operator, as clang does: with a long chain
 * `1 + 1 + ... + "s"` the start of the left operand says nothing. */
static DaftSpan op_span(const DaftNode *e) {
    return e->name_span.file >= 0 && e->name_span.begin.line ? e->name_span : e->span;
}

/* ... and underline both operands (`~~~ ^ ~~~`), so that the types named can be matched to the
 * text they come from. */
static DaftDiag *operands_error(Sema *S, DaftNode *e, DaftType *l, DaftType *r) {
    DaftDiag *d = daft_error(S->diags, op_span(e), "invalid operands to '%s': '%s' and '%s'", op_str(e->op),
                             sema_tstr(S, l), sema_tstr(S, r));
    daft_diag_add_range(d, e->lhs->span);
    daft_diag_add_range(d, e->rhs->span);
    return d;
}

static void invalid_operands(Sema *S, DaftNode *e, DaftType *l, DaftType *r) {
    DaftDiag *d = operands_error(S, e, l, r);
    if (sema_is_numeric(l) && sema_is_numeric(r) && l->kind != r->kind)
        daft_note(S->diags, d, e->span, "convert one side with %s(...)",
                  sema_tstr(S, sema_is_float(l) != sema_is_float(r) ? (sema_is_float(l) ? l : r)
                                                                    : (l->kind == DAFT_TY_I64 || l->kind == DAFT_TY_F64 ? l : r)));
    else
        note_get(S, d, e->span, l->kind == DAFT_TY_REF ? l : r);
}

/* Gives both operands one numeric type, adapting untyped constants. */
static bool unify_numeric(Sema *S, DaftNode *a, DaftNode *b) {
    bool ca = sema_is_untyped_const(a), cb = sema_is_untyped_const(b);
    if (ca && !cb && sema_is_numeric(b->ty))
        return sema_adapt_literal(S, a, b->ty);
    if (cb && !ca && sema_is_numeric(a->ty))
        return sema_adapt_literal(S, b, a->ty);
    if (ca && cb && a->ty->kind != b->ty->kind) {
        sema_adapt_literal(S, a, S->t_f64);
        sema_adapt_literal(S, b, S->t_f64);
        return true;
    }
    return a->ty->kind == b->ty->kind;
}

/* 'x / 0' in a body always fails when it runs (SPEC 6.3); in a constant's definition it is
 * an error of its own (SPEC 4.1), hence S->fn. */
static void warn_int_division_by_zero(Sema *S, DaftNode *e) {
    int64_t v;
    if ((e->op != DAFT_OP_DIV && e->op != DAFT_OP_MOD) || !sema_is_int(e->lhs->ty) || !S->fn ||
        !sema_const_int(S, e->rhs, &v) || v != 0)
        return;
    daft_warning(S->diags, e->rhs->span, "%s by zero: this fails with 'division by zero' when it runs",
                 e->op == DAFT_OP_DIV ? "integer division" : "integer remainder");
}

static DaftType *binary(Sema *S, DaftNode *e) {
    DaftType *l = expr(S, e->lhs, false);
    DaftType *r = expr(S, e->rhs, false);
    if (sema_is_error(l) || sema_is_error(r))
        return set(e, S->t_error);
    switch (e->op) {
    case DAFT_OP_AND:
    case DAFT_OP_OR:
        if (l->kind != DAFT_TY_BOOL || r->kind != DAFT_TY_BOOL) {
            invalid_operands(S, e, l, r);
            return set(e, S->t_error);
        }
        return set(e, S->t_bool);
    case DAFT_OP_EQ:
    case DAFT_OP_NE:
        if (sema_is_numeric(l) && sema_is_numeric(r) && unify_numeric(S, e->lhs, e->rhs))
            return set(e, S->t_bool);
        if (l->kind == r->kind && (l->kind == DAFT_TY_BOOL || l->kind == DAFT_TY_STR))
            return set(e, S->t_bool);
        invalid_operands(S, e, l, r);
        return set(e, S->t_error);
    case DAFT_OP_LT:
    case DAFT_OP_LE:
    case DAFT_OP_GT:
    case DAFT_OP_GE:
        if (sema_is_numeric(l) && sema_is_numeric(r) && unify_numeric(S, e->lhs, e->rhs))
            return set(e, S->t_bool);
        if (l->kind == DAFT_TY_STR && r->kind == DAFT_TY_STR)
            return set(e, S->t_bool);
        invalid_operands(S, e, l, r);
        return set(e, S->t_error);
    default: /* + - * / % */
        if (sema_is_numeric(l) && sema_is_numeric(r) && unify_numeric(S, e->lhs, e->rhs) &&
            !(e->op == DAFT_OP_MOD && sema_is_float(e->lhs->ty))) {
            warn_int_division_by_zero(S, e);
            return set(e, e->lhs->ty);
        }
        if (e->op == DAFT_OP_ADD && l->kind == DAFT_TY_STR && r->kind == DAFT_TY_STR)
            return set(e, S->t_str);
        if (e->op == DAFT_OP_ADD && l->kind == DAFT_TY_LIST && r->kind == DAFT_TY_LIST) {
            if (!l->elem || !r->elem)
                return set(e, l->elem ? l : r);
            if (sema_coerce(S, e->rhs, l, false, NULL) && sema_assignable(r, l, false, NULL))
                return set(e, l);
        }
        if (l->kind == DAFT_TY_TENSOR || r->kind == DAFT_TY_TENSOR) {
            DaftDiag *d = operands_error(S, e, l, r);
            daft_note(S->diags, d, op_span(e), "tensors have no operators: use std.tensor, e.g. 'T.add(a, b)', 'T.mul(a, 0.5)'");
            return set(e, S->t_error);
        }
        invalid_operands(S, e, l, r);
        return set(e, S->t_error);
    }
}

static DaftType *unary(Sema *S, DaftNode *e) {
    DaftType *t = expr(S, e->lhs, false);
    if (sema_is_error(t))
        return set(e, S->t_error);
    if (e->op == DAFT_OP_NOT ? t->kind == DAFT_TY_BOOL : sema_is_numeric(t))
        return set(e, t);
    DaftDiag *d = daft_error(S->diags, e->span, "invalid operand to '%s': '%s'",
                             op_str(e->op), sema_tstr(S, t));
    note_get(S, d, e->lhs->span, t);
    return set(e, S->t_error);
}

/* ---------------------------------------------------------------- lists */

/* With a declared element type, an element that cannot be one is reported against it, not
 * against whichever element came first ('[1, "two"]' for '[i64]' is wrong at "two"). */
static bool list_items_fit(Sema *S, DaftNode *e, DaftType *want) {
    for (int i = 0; i < e->items.len; i++) {
        DaftNode *it = e->items.items[i];
        if (sema_is_untyped_const(it) && sema_is_numeric(want))
            continue; /* adapted (and range-checked) when the list is coerced */
        /* Refs among the items are the whole list's error (SPEC 8.4), reported by the caller
         * with its notes. */
        if (sema_assignable(want, it->ty, false, NULL) || sema_assignable(want, sema_strip_refs(S, it->ty), false, NULL))
            continue;
        daft_error(S->diags, it->span, "cannot use a value of type '%s' where '%s' is expected", sema_tstr(S, it->ty),
                   sema_tstr(S, want));
        return false;
    }
    return true;
}

static DaftType *list_expr(Sema *S, DaftNode *e, DaftType *expected) {
    if (e->items.len == 0) {
        if (expected && expected->kind == DAFT_TY_LIST)
            return set(e, expected);
        return set(e, sema_list_of(S, NULL));
    }
    DaftType *want = expected && expected->kind == DAFT_TY_LIST ? expected->elem : NULL;
    bool err = false;
    for (int i = 0; i < e->items.len; i++) {
        DaftType *t = sema_expr(S, e->items.items[i], want);
        if (sema_is_error(t))
            err = true;
    }
    if (err)
        return set(e, S->t_error);
    if (want && !list_items_fit(S, e, want))
        return set(e, S->t_error);
    /* The element type: the first element that is not an untyped constant. */
    DaftNode *first = NULL;
    for (int i = 0; i < e->items.len && !first; i++)
        if (!sema_is_untyped_const(e->items.items[i]))
            first = e->items.items[i];
    DaftType *elem;
    if (first) {
        elem = first->ty;
    } else {
        elem = S->t_i64;
        for (int i = 0; i < e->items.len; i++)
            if (e->items.items[i]->ty->kind == DAFT_TY_F64)
                elem = S->t_f64;
        first = e->items.items[0];
    }
    if (elem->kind == DAFT_TY_VOID) {
        daft_error(S->diags, first->span, "list element has type 'void'");
        return set(e, S->t_error);
    }
    for (int i = 0; i < e->items.len; i++) {
        DaftNode *it = e->items.items[i];
        if (!sema_coerce(S, it, elem, false, NULL) ||
            (it->ty->kind == DAFT_TY_ACTOR && !sema_assignable(it->ty, elem, false, NULL))) {
            DaftDiag *d = daft_error(S->diags, it->span, "cannot use a value of type '%s' where '%s' is expected",
                                     sema_tstr(S, it->ty), sema_tstr(S, elem));
            daft_note(S->diags, d, first->span, "element type '%s' deduced from this element", sema_tstr(S, elem));
            return set(e, S->t_error);
        }
    }
    return set(e, sema_list_of(S, elem));
}

/* The element type of an iterable (range or list), or NULL after a report. */
static DaftType *iter_elem(Sema *S, DaftNode *iter) {
    DaftType *t = sema_expr_range_ok(S, iter);
    if (sema_is_error(t))
        return S->t_error;
    if (t->kind == DAFT_TY_RANGE)
        return t->elem ? t->elem : S->t_i64;
    if (t->kind == DAFT_TY_LIST) {
        if (!t->elem) {
            return S->t_error; /* iterating an empty literal: nothing to type the variable */
        }
        return t->elem;
    }
    DaftDiag *d = daft_error(S->diags, iter->span, "cannot iterate over a value of type '%s': expected a range or a list",
                             sema_tstr(S, t));
    note_get(S, d, iter->span, t);
    return S->t_error;
}

DaftType *sema_iter_elem(Sema *S, DaftNode *iter);
DaftType *sema_iter_elem(Sema *S, DaftNode *iter) { return iter_elem(S, iter); }

static DaftType *comprehension(Sema *S, DaftNode *e) {
    DaftType *vt = iter_elem(S, e->iter);
    sema_scope_push(S);
    sema_info(S, e)->var_ty = vt;
    sema_declare_local(S, e);
    if (e->cond) {
        DaftType *c = expr(S, e->cond, false);
        if (!sema_is_error(c) && c->kind != DAFT_TY_BOOL)
            daft_error(S->diags, e->cond->span, "condition must be 'bool', not '%s'", sema_tstr(S, c));
    }
    DaftType *t = expr(S, e->value, false);
    sema_scope_pop(S);
    if (sema_is_error(t))
        return set(e, S->t_error);
    if (t->kind == DAFT_TY_VOID) {
        daft_error(S->diags, e->value->span, "comprehension element has type 'void'");
        return set(e, S->t_error);
    }
    return set(e, sema_list_of(S, t));
}

/* ---------------------------------------------------------------- calls */

typedef struct CallSig {
    const char *what;        /* "function", "method", "schedule", "spawn" */
    const char *name;        /* for messages */
    DaftNodeList *params;    /* Param nodes with resolved types */
    DaftNode *decl;          /* for the declared-here note */
    bool allow_ref;
    int min_args;            /* -1: all params required */
    int bound;               /* dtype binding of bare tensors */
    int scalar_b;            /* std add/mul: index of the parameter that also takes i64/f64 */
    bool bind_dtypes;        /* std functions: bare tensor parameters share one dtype
                              * (T.add(a, b)); elsewhere a bare tensor takes any (SPEC 5.5) */
} CallSig;

static int positional_count(DaftNode *call) {
    int n = 0;
    for (int i = 0; i < call->args.len; i++)
        if (call->args.items[i]->kind != DAFT_N_NAMED_ARG)
            n++;
    return n;
}

static void arity_error(Sema *S, DaftNode *call, CallSig *sig, int have) {
    int want = sig->params->len, min = sig->min_args >= 0 ? sig->min_args : want;
    DaftDiag *d;
    if (have > want) {
        DaftNode *extra = NULL;
        for (int i = 0, k = 0; i < call->args.len; i++)
            if (call->args.items[i]->kind != DAFT_N_NAMED_ARG && k++ == want) {
                extra = call->args.items[i];
                break;
            }
        d = daft_error(S->diags, extra ? extra->span : call->span, "too many arguments to '%s': expected %s%d, have %d",
                       sig->name, min != want ? "at most " : "", want, have);
    } else {
        d = daft_error(S->diags, sema_end_span(call->span), "too few arguments to '%s': expected %s%d, have %d", sig->name,
                       min != want ? "at least " : "", min, have);
    }
    if (sig->decl) {
        if (sig->decl->kind == DAFT_N_ACTOR)
            daft_note(S->diags, d, sig->decl->name_span, "actor '%s' declared here without an 'init' method", sig->decl->name);
        else
            daft_note(S->diags, d, sig->decl->name_span, "'%s' declared here", sig->decl->name);
    }
}

/* A compiled schedule cannot get(): there the way out is one argument per Ref. */
static void note_ref_list(Sema *S, DaftDiag *d, DaftSpan span) {
    if (S->ctx == SEMA_CTX_COMPILED)
        daft_note(S->diags, d, span, "only a Ref passed as a whole argument is resolved, not the Refs in a list, "
                                     "and a compiled schedule cannot wait for them: pass each Ref as an argument "
                                     "of its own (fold them with a two-argument method) or combine them with a "
                                     "collective");
    else
        daft_note(S->diags, d, span, "only a Ref passed as a whole argument is resolved, not the Refs in a "
                                     "list; use 'get(...)' to wait for their values");
}

/* Checks positional arguments against the signature; named arguments are checked by the
 * caller. Every argument is typed even after an arity error. */
static void check_args(Sema *S, DaftNode *call, CallSig *sig) {
    int have = positional_count(call);
    int want = sig->params->len, min = sig->min_args >= 0 ? sig->min_args : want;
    if (have > want || have < min)
        arity_error(S, call, sig, have);
    for (int i = 0, k = 0; i < call->args.len; i++) {
        DaftNode *a = call->args.items[i];
        if (a->kind == DAFT_N_NAMED_ARG)
            continue;
        DaftNode *p = k < want ? sig->params->items[k] : NULL;
        k++;
        DaftType *pt = p ? p->ty : NULL;
        DaftType *t = sema_expr(S, a, pt);
        if (!p || sema_is_error(t) || sema_is_error(pt))
            continue;
        if (sig->scalar_b >= 0 && k - 1 == sig->scalar_b && (sema_is_numeric(t))) {
            if (sema_is_untyped_const(a))
                sema_adapt_literal(S, a, sema_is_float(t) ? S->t_f64 : S->t_i64);
            if (a->ty->kind == DAFT_TY_I64 || a->ty->kind == DAFT_TY_F64)
                continue;
        }
        if (!sema_coerce(S, a, pt, sig->allow_ref, sig->bind_dtypes ? &sig->bound : NULL) ||
            t->kind == DAFT_TY_VOID) {
            DaftType *shown = sema_subst_any(S, pt, sig->bound);
            DaftDiag *d = daft_error(S->diags, a->span, "cannot use a value of type '%s' where '%s' is expected",
                                     sema_tstr(S, a->ty), sema_tstr(S, shown));
            if (!sig->allow_ref)
                sema_note_ref_value(S, d, a->span, a->ty, shown);
            else if (a->ty->kind == DAFT_TY_LIST && a->ty->elem && a->ty->elem->kind == DAFT_TY_REF)
                note_ref_list(S, d, a->span);
            daft_note(S->diags, d, p->name_span, "passing argument to parameter '%s' here", p->name);
        }
    }
}

/* op, dtype and backend take a bare word, not an expression (named_values): a rejected one is
 * not checked as an expression, which would report the word itself ('f32' must be called).
 * A variable's name is still checked, which marks it read ('dtype = d' uses d). */
static bool named_word(Sema *S, const DaftNode *a) {
    if (!a->value || a->value->kind != DAFT_N_NAME ||
        !(strcmp(a->name, "op") == 0 || strcmp(a->name, "dtype") == 0 || strcmp(a->name, "backend") == 0))
        return false;
    const DaftNode *d = sema_lookup(S, a->value->name);
    return !d || !(d->kind == DAFT_N_LET || d->kind == DAFT_N_PARAM || d->kind == DAFT_N_CONST ||
                   d->kind == DAFT_N_FOR || d->kind == DAFT_N_COMPREHENSION);
}

static void named_not_allowed(Sema *S, DaftNode *call, const char *name, const char *const *allowed) {
    for (int i = 0; i < call->args.len; i++) {
        DaftNode *a = call->args.items[i];
        if (a->kind != DAFT_N_NAMED_ARG)
            continue;
        bool ok = false;
        for (int j = 0; allowed && allowed[j]; j++)
            if (strcmp(allowed[j], a->name) == 0)
                ok = true;
        for (int j = 0; j < i && ok; j++) {
            DaftNode *b = call->args.items[j];
            if (b->kind == DAFT_N_NAMED_ARG && strcmp(b->name, a->name) == 0) {
                DaftDiag *d = daft_error(S->diags, a->name_span, "duplicate named argument '%s'", a->name);
                daft_note(S->diags, d, b->name_span, "previous argument is here");
                ok = false;
                a->ty = S->t_error;
                break;
            }
        }
        if (ok || a->ty)
            continue;
        if (!allowed || !allowed[0]) {
            daft_error(S->diags, a->name_span, "'%s' does not take named arguments", name);
        } else {
            int n = 0;
            while (allowed[n])
                n++;
            const char *sug = sema_suggest_in(a->name, allowed, n);
            DaftDiag *d = daft_error(S->diags, a->name_span, "unknown named argument '%s' for '%s'", a->name, name);
            if (sug)
                daft_note(S->diags, d, a->name_span, "did you mean '%s'?", sug);
        }
        a->ty = S->t_error;
        if (a->value && !named_word(S, a))
            sema_expr(S, a->value, NULL);
    }
}

/* A compiled schedule with a Ref parameter (SPEC 11.3 rule 8) is traced inline into the
 * compiled schedule that calls it; driver code has no Refs of that kind to give it. */
static void refs_only_inline(Sema *S, DaftNode *call, DaftNode *sc) {
    if (S->fn && S->fn->kind == DAFT_N_SCHEDULE && S->fn->is_compiled)
        return;
    const DaftNode *p = daft_schedule_ref_param(sc);
    if (!p)
        return;
    DaftDiag *d = daft_error(S->diags, call->callee->span,
                             "compiled schedule '%s' takes Refs: it can only be called from another compiled schedule",
                             sc->name);
    daft_note(S->diags, d, p->span, "parameter '%s' has type '%s'; a compiled schedule that calls '%s' traces it inline",
              p->name, sema_tstr(S, p->ty), sc->name);
}

/* Named arguments with meaning: timeout (get, wait), op (reductions), root (broadcast). */
static void named_values(Sema *S, DaftNode *call) {
    for (int i = 0; i < call->args.len; i++) {
        DaftNode *a = call->args.items[i];
        if (a->kind != DAFT_N_NAMED_ARG || a->ty)
            continue;
        DaftNode *v = a->value;
        if (strcmp(a->name, "op") == 0) {
            static const char *const ops[] = {"sum", "max", "min", "avg"};
            bool ok = v && v->kind == DAFT_N_NAME;
            for (int j = 0; ok && j < 4; j++)
                if (strcmp(v->name, ops[j]) == 0) {
                    a->ty = v->ty = S->t_str;
                    break;
                }
            if (!a->ty) {
                const char *sug = v && v->kind == DAFT_N_NAME ? sema_suggest_in(v->name, ops, 4) : NULL;
                DaftSpan sp = v ? v->span : a->span;
                if (sug)
                    daft_error(S->diags, sp, "unknown reduction '%s'; did you mean '%s'?", v->name, sug);
                else
                    daft_error(S->diags, sp, "'op' must be one of sum, max, min or avg");
                a->ty = S->t_error;
                if (v)
                    v->ty = S->t_error;
            }
            continue;
        }
        if (strcmp(a->name, "dtype") == 0 || strcmp(a->name, "backend") == 0) {
            DaftDType dt;
            bool is_dtype = a->name[0] == 'd';
            if (v && v->kind == DAFT_N_NAME && (!is_dtype || daft_dtype_parse(v->name, &dt))) {
                a->ty = v->ty = S->t_str;
            } else {
                daft_error(S->diags, v ? v->span : a->span, is_dtype ? "'dtype' must be one of f32, bf16, f16, i32 or i64"
                                                                     : "'backend' must be nccl, shm, tcp, auto or a transport name");
                a->ty = S->t_error;
            }
            continue;
        }
        DaftType *want = strcmp(a->name, "timeout") == 0 ? S->t_f64 : S->t_i64;
        DaftType *t = sema_expr(S, v, want);
        a->ty = t;
        if (sema_is_error(t))
            continue;
        if (want == S->t_f64 && sema_is_int(t) && sema_is_untyped_const(v))
            sema_adapt_literal(S, v, S->t_f64);
        else if (!sema_coerce(S, v, want, false, NULL))
            daft_error(S->diags, v->span, "'%s' must have type '%s', not '%s'", a->name, sema_tstr(S, want), sema_tstr(S, t));
        a->ty = v->ty;
    }
}

/* A driver-only operation: an error in actor code; in a plain fn it makes the fn a driver
 * function, which actor code may not call (SPEC 4.3; sema_driver_functions). */
static bool driver_only(Sema *S, DaftSpan at, const char *op) {
    if (S->ctx == SEMA_CTX_DRIVER && S->fn && S->fn->kind == DAFT_N_FN) {
        SemaInfo *in = sema_info(S, S->fn);
        if (!in->driver_op && !in->driver_via) {
            in->driver_op = op;
            in->driver_at = at;
        }
    }
    if (S->ctx != SEMA_CTX_METHOD)
        return false;
    daft_error(S->diags, at, "'%s' is only allowed in driver code", op);
    return true;
}

static DaftType *builtin_call_type(Sema *S, DaftNode *call, SemaBuiltin b);

/* get, wait, is_error and error_text where they are not allowed (actor code; get and wait
 * in a compiled schedule) are reported here and have no value: typing the call as the Ref's
 * value would only give follow-on errors wherever the result goes (SPEC 11.3). */
static DaftType *builtin_call(Sema *S, DaftNode *call, SemaBuiltin b) {
    bool waits = b == SEMA_BUILTIN_GET || b == SEMA_BUILTIN_WAIT || b == SEMA_BUILTIN_IS_ERROR ||
                 b == SEMA_BUILTIN_ERROR_TEXT;
    bool misplaced = waits && driver_only(S, call->callee->span, call->callee->name);
    DaftType *t = builtin_call_type(S, call, b);
    if (S->ctx == SEMA_CTX_COMPILED && (b == SEMA_BUILTIN_GET || b == SEMA_BUILTIN_WAIT)) {
        DaftSpan at = call->callee->span;
        DaftDiag *x = daft_error(S->diags, at, "'%s' cannot be used in a compiled schedule: it is traced once and cannot "
                                               "wait for values", call->callee->name);
        daft_note(S->diags, x, at, "return the Ref and call get() on the result");
        misplaced = true;
    }
    return misplaced ? S->t_error : t;
}

static DaftType *builtin_call_type(Sema *S, DaftNode *call, SemaBuiltin b) {
    const char *name = call->callee->name;
    static const char *const timeout_only[] = {"timeout", NULL};
    named_not_allowed(S, call, name, b == SEMA_BUILTIN_GET || b == SEMA_BUILTIN_WAIT ? timeout_only : NULL);
    named_values(S, call);
    int have = positional_count(call);
    DaftNode *pos[2] = {NULL, NULL};
    for (int i = 0, k = 0; i < call->args.len; i++)
        if (call->args.items[i]->kind != DAFT_N_NAMED_ARG && k < 2)
            pos[k++] = call->args.items[i];
    if (b == SEMA_BUILTIN_PRINT) {
        for (int i = 0; i < call->args.len; i++) {
            DaftNode *a = call->args.items[i];
            if (a->kind == DAFT_N_NAMED_ARG)
                continue;
            DaftType *t = sema_expr(S, a, NULL);
            if (!sema_is_error(t) && t->kind == DAFT_TY_VOID)
                daft_error(S->diags, a->span, "cannot print a value of type 'void'");
            else if (!sema_is_error(t) && (t->kind == DAFT_TY_REF || (t->kind == DAFT_TY_LIST && t->elem && t->elem->kind == DAFT_TY_REF)))
                daft_error(S->diags, a->span, "cannot print a Ref; call get() first");
        }
        return S->t_void;
    }
    int want = b == SEMA_BUILTIN_WAIT ? 2 : 1;
    if (have != want) {
        daft_error(S->diags, have > want ? call->args.items[call->args.len - 1]->span : sema_end_span(call->span),
                   "too %s arguments to '%s': expected %d, have %d", have > want ? "many" : "few", name, want, have);
        for (int i = 0; i < call->args.len; i++)
            if (call->args.items[i]->kind != DAFT_N_NAMED_ARG)
                sema_expr(S, call->args.items[i], NULL);
        return S->t_error;
    }
    DaftType *t = sema_expr(S, pos[0], NULL);
    if (pos[1])
        sema_expr(S, pos[1], S->t_i64);
    if (sema_is_error(t))
        return S->t_error;
    switch (b) {
    case SEMA_BUILTIN_GET:
        if (t->kind == DAFT_TY_REF)
            return t->elem;
        if (t->kind == DAFT_TY_LIST && t->elem && t->elem->kind == DAFT_TY_REF)
            return sema_list_of(S, t->elem->elem);
        daft_error(S->diags, pos[0]->span, "'get' expects a Ref or a list of Refs, not '%s'", sema_tstr(S, t));
        return S->t_error;
    case SEMA_BUILTIN_WAIT:
        if (pos[1] && !sema_is_error(pos[1]->ty) && !sema_coerce(S, pos[1], S->t_i64, false, NULL))
            daft_error(S->diags, pos[1]->span, "cannot use a value of type '%s' where 'i64' is expected", sema_tstr(S, pos[1]->ty));
        if (t->kind == DAFT_TY_LIST && t->elem && t->elem->kind == DAFT_TY_REF)
            return sema_list_of(S, S->t_i64); /* the indices of the ready Refs */
        daft_error(S->diags, pos[0]->span, "'wait' expects a list of Refs, not '%s'", sema_tstr(S, t));
        return S->t_error;
    case SEMA_BUILTIN_IS_ERROR:
    case SEMA_BUILTIN_ERROR_TEXT:
        if (t->kind == DAFT_TY_REF)
            return b == SEMA_BUILTIN_IS_ERROR ? S->t_bool : S->t_str;
        daft_error(S->diags, pos[0]->span, "'%s' expects a Ref, not '%s'", name, sema_tstr(S, t));
        return S->t_error;
    case SEMA_BUILTIN_FAIL:
        if (t->kind != DAFT_TY_STR)
            daft_error(S->diags, pos[0]->span, "cannot use a value of type '%s' where 'str' is expected", sema_tstr(S, t));
        return S->t_void;
    case SEMA_BUILTIN_STR:
        if (sema_is_numeric(t) || t->kind == DAFT_TY_BOOL || t->kind == DAFT_TY_STR)
            return S->t_str;
        daft_error(S->diags, pos[0]->span, "cannot convert a value of type '%s' to 'str'", sema_tstr(S, t));
        return S->t_error;
    case SEMA_BUILTIN_LEN:
        if (t->kind == DAFT_TY_LIST || t->kind == DAFT_TY_STR)
            return S->t_i64;
        {
            DaftDiag *d = daft_error(S->diags, pos[0]->span, "'len' expects a list or a str, not '%s'", sema_tstr(S, t));
            note_get(S, d, pos[0]->span, t);
        }
        return S->t_error;
    default: { /* conversions */
        DaftType *to = b == SEMA_BUILTIN_I32 ? S->t_i32 : b == SEMA_BUILTIN_I64 ? S->t_i64
                     : b == SEMA_BUILTIN_F32 ? S->t_f32 : S->t_f64;
        if (sema_is_numeric(t)) {
            if (sema_is_untyped_const(pos[0]) && sema_is_float(to))
                sema_adapt_literal(S, pos[0], to);
            return to;
        }
        DaftDiag *d = daft_error(S->diags, pos[0]->span, "cannot convert a value of type '%s' to '%s'", sema_tstr(S, t), name);
        note_get(S, d, pos[0]->span, t);
        return S->t_error;
    }
    }
}

static DaftType *module_call(Sema *S, DaftNode *call, DaftNode *imp) {
    DaftNode *fa = call->callee;
    SemaInfo *mi = sema_info(S, imp);
    fa->lhs->decl = imp;
    fa->lhs->ty = S->t_module;
    sema_info(S, imp)->read = 1;
    DaftNode *prog = mi->module_program;
    if (!prog) { /* unknown module: already reported */
        for (int i = 0; i < call->args.len; i++)
            sema_expr(S, call->args.items[i]->kind == DAFT_N_NAMED_ARG ? call->args.items[i]->value : call->args.items[i], NULL);
        return S->t_error;
    }
    DaftNode *fn = NULL;
    for (int i = 0; i < prog->items.len && !fn; i++)
        if (prog->items.items[i]->kind == DAFT_N_FN && strcmp(prog->items.items[i]->name, fa->name) == 0)
            fn = prog->items.items[i];
    if (!fn) {
        const char *cands[256];
        int n = 0;
        for (int i = 0; i < prog->items.len && n < 256; i++)
            if (prog->items.items[i]->kind == DAFT_N_FN)
                cands[n++] = prog->items.items[i]->name;
        const char *sug = sema_suggest_in(fa->name, cands, n);
        DaftDiag *d = daft_error(S->diags, fa->name_span, "no member named '%s' in module '%s'", fa->name, imp->name);
        for (int i = 0; sug && i < prog->items.len; i++)
            if (prog->items.items[i]->kind == DAFT_N_FN && strcmp(prog->items.items[i]->name, sug) == 0)
                daft_note(S->diags, d, prog->items.items[i]->name_span, "did you mean '%s'?", sug);
        for (int i = 0; i < call->args.len; i++)
            sema_expr(S, call->args.items[i]->kind == DAFT_N_NAMED_ARG ? call->args.items[i]->value : call->args.items[i], NULL);
        return S->t_error;
    }
    fa->decl = fn;
    call->decl = fn;
    const char *module = sema_info(S, fn)->module;
    if (module && strcmp(module, "std.collective") == 0)
        driver_only(S, fa->span, sema_callee_name(S, call));
    const char *shown = sema_callee_name(S, call);
    named_not_allowed(S, call, shown, sema_std_named_args(module, fn->name));
    named_values(S, call);
    CallSig sig = {"function", shown, &fn->params, fn, false, sema_std_min_args(module, fn), -1,
                   sema_std_scalar_operand(module, fn, 1) ? 1 : -1,
                   module && strncmp(module, "std.", 4) == 0};
    check_args(S, call, &sig);
    fa->ty = sema_subst_any(S, fn->ty, sig.bound);
    for (int i = 0; i < call->args.len; i++) {
        DaftNode *a = call->args.items[i];
        DaftDType dt;
        if (a->kind == DAFT_N_NAMED_ARG && strcmp(a->name, "dtype") == 0 && a->value && a->value->kind == DAFT_N_NAME &&
            daft_dtype_parse(a->value->name, &dt) && fa->ty && fa->ty->kind == DAFT_TY_TENSOR)
            fa->ty = sema_tensor_of(S, dt);
    }
    return fa->ty;
}

/* The name under which the program imported std.tensor, which declares fn `name` (*fn), or
 * NULL. */
static const char *tensor_module_alias(Sema *S, const char *name, const DaftNode **fn) {
    for (int i = 0; i < S->gcap; i++) {
        DaftNode *d = S->globals[i].name ? S->globals[i].decl : NULL;
        DaftNode *mp = d && d->kind == DAFT_N_IMPORT ? sema_info(S, d)->module_program : NULL;
        if (!mp || strcmp(d->name, "std.tensor") != 0)
            continue;
        for (int k = 0; k < mp->items.len; k++)
            if (mp->items.items[k]->kind == DAFT_N_FN && strcmp(mp->items.items[k]->name, name) == 0) {
                *fn = mp->items.items[k];
                return S->globals[i].name;
            }
    }
    return NULL;
}

/* 'xs.len()' and 't.sum()': data values have no methods, but the function meant may exist. */
static void note_no_methods(Sema *S, DaftDiag *d, DaftNode *fa, const DaftType *rt) {
    const char *alias, *x = fa->lhs->kind == DAFT_N_NAME ? fa->lhs->name : "x";
    const DaftNode *fn;
    if (strcmp(fa->name, "len") == 0 && (rt->kind == DAFT_TY_LIST || rt->kind == DAFT_TY_STR))
        daft_note(S->diags, d, fa->span, "len is a function: did you mean 'len(%s)'?", x);
    else if (rt->kind == DAFT_TY_TENSOR && (alias = tensor_module_alias(S, fa->name, &fn)))
        daft_note(S->diags, d, fa->span, "tensors have no methods: did you mean '%s.%s(%s%s)'?", alias, fa->name, x,
                  fn->params.len > 1 ? ", ..." : "");
}

static DaftType *method_call(Sema *S, DaftNode *call) {
    DaftNode *fa = call->callee;
    DaftType *rt = expr(S, fa->lhs, false);
    if (sema_is_error(rt)) {
        for (int i = 0; i < call->args.len; i++)
            sema_expr(S, call->args.items[i]->kind == DAFT_N_NAMED_ARG ? call->args.items[i]->value : call->args.items[i], NULL);
        return set(fa, S->t_error);
    }
    if (rt->kind != DAFT_TY_ACTOR || !rt->actor_class) {
        DaftDiag *d = daft_error(S->diags, fa->lhs->span, "member reference base type '%s' is not an actor or a module",
                                 sema_tstr(S, rt));
        if (rt->kind == DAFT_TY_LIST && rt->elem && rt->elem->kind == DAFT_TY_ACTOR)
            daft_note(S->diags, d, fa->span, "to call '%s' on every actor of the list, use a comprehension: [a.%s(...) for a in ...]",
                      fa->name, fa->name);
        else
            note_get(S, d, fa->lhs->span, rt);
        note_no_methods(S, d, fa, rt);
        for (int i = 0; i < call->args.len; i++)
            sema_expr(S, call->args.items[i]->kind == DAFT_N_NAMED_ARG ? call->args.items[i]->value : call->args.items[i], NULL);
        return set(fa, S->t_error);
    }
    DaftNode *cls = rt->actor_class;
    DaftNode *m = sema_actor_member(cls, fa->name);
    if (!m || m->kind != DAFT_N_METHOD) {
        DaftDiag *d;
        if (m) {
            d = daft_error(S->diags, fa->name_span, "'%s' is a field of actor '%s', not a method", fa->name, cls->name);
            daft_note(S->diags, d, m->name_span, "'%s' declared here", m->name);
        } else {
            const char *cands[256];
            int n = 0;
            for (int i = 0; i < cls->items.len && n < 256; i++)
                if (cls->items.items[i]->kind == DAFT_N_METHOD)
                    cands[n++] = cls->items.items[i]->name;
            const char *sug = sema_suggest_in(fa->name, cands, n);
            d = daft_error(S->diags, fa->name_span, "actor '%s' has no method '%s'", cls->name, fa->name);
            DaftNode *sm = sug ? sema_actor_member(cls, sug) : NULL;
            if (sm)
                daft_note(S->diags, d, sm->name_span, "did you mean '%s'?", sug);
            daft_note(S->diags, d, cls->name_span, "actor '%s' declared here", cls->name);
        }
        for (int i = 0; i < call->args.len; i++)
            sema_expr(S, call->args.items[i]->kind == DAFT_N_NAMED_ARG ? call->args.items[i]->value : call->args.items[i], NULL);
        return set(fa, S->t_error);
    }
    fa->decl = m;
    call->decl = m;
    const char *shown = m->name;
    if (strcmp(m->name, "init") == 0) {
        DaftDiag *d = daft_error(S->diags, fa->name_span, "'init' is called by spawn and cannot be called directly");
        daft_note(S->diags, d, m->name_span, "'init' declared here");
    }
    bool direct = fa->lhs->kind == DAFT_N_SELF;
    if (!direct)
        driver_only(S, fa->span, daft_arena_printf(S->arena, "%s.%s", cls->name, m->name));
    named_not_allowed(S, call, shown, NULL);
    CallSig sig = {"method", shown, &m->params, m, !direct, -1, -1, -1, false};
    check_args(S, call, &sig);
    DaftType *r = m->ty ? m->ty : S->t_void;
    fa->ty = direct ? r : sema_ref_of(S, r);
    return fa->ty;
}

/* Calls between user fns and from methods to fns, for sema_driver_functions. */
static void record_call(Sema *S, DaftNode *callee, DaftSpan at) {
    if (!S->fn || (S->fn->kind != DAFT_N_FN && S->fn->kind != DAFT_N_METHOD))
        return;
    if (S->ncalls == S->ccap) {
        S->ccap = S->ccap ? S->ccap * 2 : 32;
        S->calls = realloc(S->calls, sizeof(SemaCall) * (size_t)S->ccap);
    }
    SemaCall c = {S->fn, callee, at};
    S->calls[S->ncalls++] = c;
}

static DaftType *call_expr(Sema *S, DaftNode *call) {
    DaftNode *c = call->callee;
    if (c->kind == DAFT_N_FIELD_ACCESS) {
        DaftNode *l = c->lhs;
        if (l->kind == DAFT_N_NAME && !sema_local(S, l->name)) {
            DaftNode *g = sema_global(S, l->name);
            if (g && g->kind == DAFT_N_IMPORT)
                return module_call(S, call, g);
        }
        return method_call(S, call);
    }
    if (c->kind != DAFT_N_NAME) {
        DaftType *t = expr(S, c, false);
        if (!sema_is_error(t))
            daft_error(S->diags, c->span, "called object type '%s' is not a function", sema_tstr(S, t));
        for (int i = 0; i < call->args.len; i++)
            sema_expr(S, call->args.items[i]->kind == DAFT_N_NAMED_ARG ? call->args.items[i]->value : call->args.items[i], NULL);
        return S->t_error;
    }
    DaftNode *d = sema_lookup(S, c->name);
    SemaBuiltin b = sema_builtin(c->name);
    if (!d && b) {
        DaftType *t = builtin_call(S, call, b);
        c->ty = t;
        return t;
    }
    if (d && (d->kind == DAFT_N_FN || d->kind == DAFT_N_SCHEDULE)) {
        c->decl = d;
        call->decl = d;
        if (d->kind == DAFT_N_SCHEDULE)
            driver_only(S, c->span, c->name);
        else
            record_call(S, d, c->span);
        named_not_allowed(S, call, c->name, NULL);
        bool compiled = d->kind == DAFT_N_SCHEDULE && d->is_compiled;
        CallSig sig = {d->kind == DAFT_N_FN ? "function" : "schedule", c->name, &d->params, d, compiled,
                       -1, -1, -1, false};
        check_args(S, call, &sig);
        if (compiled)
            refs_only_inline(S, call, d);
        DaftType *r = d->ty ? d->ty : S->t_void;
        c->ty = r;
        return c->ty;
    }
    for (int i = 0; i < call->args.len; i++)
        sema_expr(S, call->args.items[i]->kind == DAFT_N_NAMED_ARG ? call->args.items[i]->value : call->args.items[i], NULL);
    if (!d) {
        undeclared(S, c, SEMA_SUGGEST_CALLABLE);
        return S->t_error;
    }
    c->decl = d;
    if (d->kind == DAFT_N_ACTOR) {
        DaftDiag *x = daft_error(S->diags, c->span, "actor class '%s' cannot be called like a function", c->name);
        daft_note(S->diags, x, c->span, "to create an actor, write 'spawn %s(...)'", c->name);
        return S->t_error;
    }
    DaftType *t = name_expr(S, c);
    if (!sema_is_error(t)) {
        DaftDiag *x = daft_error(S->diags, c->span, "called object type '%s' is not a function", sema_tstr(S, t));
        sema_note_decl(S, x, d);
    }
    return S->t_error;
}

/* ---------------------------------------------------------------- spawn */

static DaftType *spawn_expr(Sema *S, DaftNode *e) {
    DaftNode *cls = sema_global(S, e->name);
    if (!cls || cls->kind != DAFT_N_ACTOR) {
        DaftDiag *d;
        if (cls) {
            d = daft_error(S->diags, e->name_span, "'%s' is a %s, not an actor class", e->name, sema_decl_what(cls));
            sema_note_decl(S, d, cls);
        } else {
            const char *sug = NULL;
            DaftNode *sd = sema_suggest_decl(S, e->name, SEMA_SUGGEST_TYPE);
            if (sd && sd->kind == DAFT_N_ACTOR)
                sug = sd->name;
            d = sug ? daft_error(S->diags, e->name_span, "unknown actor class '%s'; did you mean '%s'?", e->name, sug)
                    : daft_error(S->diags, e->name_span, "unknown actor class '%s'", e->name);
            if (sug)
                sema_note_decl(S, d, sd);
        }
        for (int i = 0; i < e->args.len; i++)
            sema_expr(S, e->args.items[i]->kind == DAFT_N_NAMED_ARG ? e->args.items[i]->value : e->args.items[i], NULL);
        for (int i = 0; i < e->items.len; i++)
            if (e->items.items[i]->value)
                sema_expr(S, e->items.items[i]->value, S->t_i64);
        return set(e, S->t_error);
    }
    e->decl = cls;
    driver_only(S, e->span, "spawn");
    DaftNode *init = sema_actor_member(cls, "init");
    if (init && init->kind != DAFT_N_METHOD)
        init = NULL;
    static DaftNodeList none;
    named_not_allowed(S, e, daft_arena_printf(S->arena, "spawn %s", cls->name), NULL);
    CallSig sig = {"spawn", daft_arena_printf(S->arena, "spawn %s", cls->name), init ? &init->params : &none,
                   init ? init : cls, false, -1, -1, -1, false};
    check_args(S, e, &sig);
    /* placements */
    DaftNode *seen[3] = {NULL, NULL, NULL};
    for (int i = 0; i < e->items.len; i++) {
        DaftNode *p = e->items.items[i];
        int k = strcmp(p->name, "gpu") == 0 ? 0 : strcmp(p->name, "node") == 0 ? 1 : 2;
        p->ty = S->t_void;
        if (p->value) {
            DaftType *t = sema_expr(S, p->value, S->t_i64);
            if (!sema_is_error(t) && !sema_coerce(S, p->value, S->t_i64, false, NULL) && !sema_is_int(t))
                daft_error(S->diags, p->value->span, "placement index must be an integer, not '%s'", sema_tstr(S, t));
            int64_t v;
            if (sema_const_int(S, p->value, &v) && v < 0)
                daft_error(S->diags, p->value->span, "placement index must not be negative (got %lld)", (long long)v);
        }
        if (seen[k]) {
            DaftDiag *d = daft_error(S->diags, p->span, "duplicate placement 'on %s'", p->name);
            daft_note(S->diags, d, seen[k]->span, "previous placement is here");
            continue;
        }
        seen[k] = p;
        if (k == 2 && p->value)
            daft_error(S->diags, p->value->span, "'on cpu' takes no index");
        if (k == 1 && !p->value)
            daft_error(S->diags, p->span, "'on node' needs a node index, e.g. 'on node(1)'");
        if (k == 0) {
            DaftNode *where = NULL;
            int64_t gpus = sema_actor_resource(S, cls, "gpus", &where);
            if (gpus == 0) {
                DaftDiag *d = daft_error(S->diags, p->span, "'on gpu' for actor '%s', which has gpus = 0", cls->name);
                if (where)
                    daft_note(S->diags, d, where->span, "'%s' requests 'gpus = 0' here", cls->name);
                else
                    daft_note(S->diags, d, cls->name_span, "actor '%s' declared here without a 'gpus' resource", cls->name);
            }
        }
    }
    if (seen[0] && seen[2]) {
        DaftNode *later = seen[0]->span.begin.col > seen[2]->span.begin.col ? seen[0] : seen[2];
        DaftNode *earlier = later == seen[0] ? seen[2] : seen[0];
        DaftDiag *d = daft_error(S->diags, later->span, "conflicting placements 'on cpu' and 'on gpu'");
        daft_note(S->diags, d, earlier->span, "previous placement is here");
    }
    return set(e, sema_actor_type(S, cls));
}

/* ---------------------------------------------------------------- field access, index */

static DaftType *field_access(Sema *S, DaftNode *e) {
    DaftNode *l = e->lhs;
    if (l->kind == DAFT_N_NAME && !sema_local(S, l->name)) {
        DaftNode *g = sema_global(S, l->name);
        if (g && g->kind == DAFT_N_IMPORT) {
            l->decl = g;
            l->ty = S->t_module;
            daft_error(S->diags, e->span, "reference to module function '%s.%s' must be called", l->name, e->name);
            return set(e, S->t_error);
        }
    }
    DaftType *t = expr(S, l, false);
    if (sema_is_error(t))
        return set(e, S->t_error);
    if (t->kind != DAFT_TY_ACTOR || !t->actor_class) {
        DaftDiag *d = daft_error(S->diags, l->span, "member reference base type '%s' is not an actor or a module", sema_tstr(S, t));
        note_get(S, d, l->span, t);
        return set(e, S->t_error);
    }
    DaftNode *cls = t->actor_class;
    DaftNode *m = sema_actor_member(cls, e->name);
    if (!m) {
        const char *cands[256];
        int n = 0;
        for (int i = 0; i < cls->items.len && n < 256; i++)
            if (cls->items.items[i]->kind == DAFT_N_FIELD)
                cands[n++] = cls->items.items[i]->name;
        const char *sug = sema_suggest_in(e->name, cands, n);
        DaftDiag *d = sug ? daft_error(S->diags, e->name_span, "no field named '%s' in actor '%s'; did you mean '%s'?", e->name, cls->name, sug)
                          : daft_error(S->diags, e->name_span, "no field named '%s' in actor '%s'", e->name, cls->name);
        daft_note(S->diags, d, cls->name_span, "actor '%s' declared here", cls->name);
        return set(e, S->t_error);
    }
    e->decl = m;
    if (m->kind == DAFT_N_METHOD) {
        DaftDiag *d = daft_error(S->diags, e->span, "reference to method '%s' must be called", e->name);
        daft_note(S->diags, d, m->name_span, "'%s' declared here", m->name);
        return set(e, S->t_error);
    }
    if (l->kind != DAFT_N_SELF) {
        DaftDiag *d = daft_error(S->diags, e->span, "fields of actor '%s' are private; add a method that returns it", cls->name);
        daft_note(S->diags, d, m->name_span, "'%s' declared here", m->name);
        return set(e, S->t_error);
    }
    return set(e, m->ty ? m->ty : S->t_error);
}

/* The length of the list `e` when it is a compile-time fact: a list literal, a constant
 * defined as one (constants cannot be assigned), a local whose length no assignment changes. */
static int known_list_len(Sema *S, const DaftNode *e, const DaftNode **decl) {
    *decl = NULL;
    if (e->kind == DAFT_N_LIST)
        return e->items.len;
    if (e->kind != DAFT_N_NAME || !e->decl)
        return -1;
    *decl = e->decl;
    if (e->decl->kind == DAFT_N_CONST && e->decl->value && e->decl->value->kind == DAFT_N_LIST)
        return e->decl->value->items.len;
    if (e->decl->kind == DAFT_N_LET && sema_info(S, e->decl)->fixed_len > 0)
        return sema_info(S, e->decl)->fixed_len - 1;
    return -1;
}

/* An index past the end of a list of known length always fails when it runs (SPEC 6.6): a
 * warning, as clang's -Warray-bounds. In a constant's definition it is not a body's code. */
static void warn_index_past_end(Sema *S, DaftNode *e, int64_t v) {
    const DaftNode *decl;
    int len = S->fn ? known_list_len(S, e->lhs, &decl) : -1;
    if (len < 0 || v < len)
        return;
    DaftDiag *d = daft_warning(S->diags, e->rhs->span, "index %lld is past the end of the list (which has %d element%s)",
                               (long long)v, len, len == 1 ? "" : "s");
    if (decl)
        daft_note(S->diags, d, decl->name_span, "%s '%s' declared here", decl->kind == DAFT_N_CONST ? "constant" : "list",
                  decl->name);
}

static DaftType *index_expr(Sema *S, DaftNode *e) {
    DaftType *t = expr(S, e->lhs, false);
    DaftType *it = expr(S, e->rhs, false);
    if (sema_is_error(t))
        return set(e, S->t_error);
    if (t->kind != DAFT_TY_LIST || !t->elem) {
        DaftDiag *d = daft_error(S->diags, e->lhs->span, "subscripted value of type '%s' is not a list", sema_tstr(S, t));
        note_get(S, d, e->lhs->span, t);
        return set(e, S->t_error);
    }
    if (!sema_is_error(it) && !sema_is_int(it)) {
        daft_error(S->diags, e->rhs->span, "list index must be an integer, not '%s'", sema_tstr(S, it));
        return set(e, S->t_error);
    }
    int64_t v;
    if (sema_const_int(S, e->rhs, &v) && v < 0)
        daft_error(S->diags, e->rhs->span, "list index must not be negative (got %lld)", (long long)v);
    else if (sema_const_int(S, e->rhs, &v))
        warn_index_past_end(S, e, v);
    return set(e, t->elem);
}

/* ---------------------------------------------------------------- dispatch */

static DaftType *expr(Sema *S, DaftNode *e, bool range_ok) {
    if (!e)
        return S->t_error; /* partial AST after a syntax error */
    switch (e->kind) {
    case DAFT_N_INT_LIT: return set(e, S->t_i64);
    case DAFT_N_FLOAT_LIT: return set(e, S->t_f64);
    case DAFT_N_STR_LIT: return set(e, S->t_str);
    case DAFT_N_BOOL_LIT: return set(e, S->t_bool);
    case DAFT_N_NAME: return name_expr(S, e);
    case DAFT_N_SELF:
        if (S->ctx != SEMA_CTX_METHOD || !S->actor) {
            daft_error(S->diags, e->span, "'self' outside of an actor method");
            return set(e, S->t_error);
        }
        e->decl = S->actor;
        return set(e, sema_actor_type(S, S->actor));
    case DAFT_N_UNARY: return unary(S, e);
    case DAFT_N_BINARY: return binary(S, e);
    case DAFT_N_RANGE: {
        DaftType *a = expr(S, e->lhs, false), *b = expr(S, e->rhs, false);
        if (!range_ok) {
            daft_error(S->diags, e->span, "a range can only be iterated by 'for' or a comprehension");
            return set(e, S->t_error);
        }
        if (sema_is_error(a) || sema_is_error(b))
            return set(e, S->t_error);
        if (!sema_is_int(a) || !sema_is_int(b) || !unify_numeric(S, e->lhs, e->rhs)) {
            daft_error(S->diags, e->span, "range bounds must be integers of the same type ('%s' and '%s')",
                       sema_tstr(S, a), sema_tstr(S, b));
            return set(e, S->t_error);
        }
        DaftType *r = sema_type_new(S, DAFT_TY_RANGE);
        r->elem = e->lhs->ty;
        return set(e, r);
    }
    case DAFT_N_CALL: return set(e, call_expr(S, e));
    case DAFT_N_FIELD_ACCESS: return field_access(S, e);
    case DAFT_N_INDEX: return index_expr(S, e);
    case DAFT_N_LIST: return list_expr(S, e, NULL);
    case DAFT_N_COMPREHENSION: return comprehension(S, e);
    case DAFT_N_SPAWN: return spawn_expr(S, e);
    case DAFT_N_NAMED_ARG:
        daft_error(S->diags, e->name_span, "named argument '%s' is not allowed here", e->name);
        if (e->value)
            expr(S, e->value, false);
        return set(e, S->t_error);
    case DAFT_N_DIM_ANY:
        daft_error(S->diags, e->span, "'?' is a dynamic dimension and is only allowed in a shape, "
                                      "e.g. @hint(tensor<f32>, shape = [32, ?])");
        return set(e, S->t_error);
    default:
        daft_error(S->diags, e->span, "expected an expression");
        return set(e, S->t_error);
    }
}

DaftType *sema_expr(Sema *S, DaftNode *e, DaftType *expected) {
    if (e && e->kind == DAFT_N_LIST)
        return list_expr(S, e, expected);
    return expr(S, e, false);
}

DaftType *sema_expr_range_ok(Sema *S, DaftNode *e) { return expr(S, e, true); }
