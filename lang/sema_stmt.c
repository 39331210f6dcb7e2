/* Statements and bodies: let, assignment, return, if, for, while, break/continue,
 * expression statements; unreachable code, unused results and missing returns. */
#include "sema.h"

#include <string.h>

DaftType *sema_iter_elem(Sema *S, DaftNode *iter);

static void note_get_if_ref(Sema *S, DaftDiag *d, DaftSpan span, const DaftType *from, const DaftType *to) {
    if (!from || sema_is_error(from))
        return;
    sema_note_ref_value(S, d, span, from, to);
    if (sema_is_numeric(from) && sema_is_numeric(to))
        daft_note(S->diags, d, span, "use %s(...) to convert", sema_tstr(S, to));
}

/* ---------------------------------------------------------------- termination */

static bool has_break(const DaftNode *n) {
    if (!n)
        return false;
    switch (n->kind) {
    case DAFT_N_BREAK: return true;
    case DAFT_N_BLOCK:
        for (int i = 0; i < n->items.len; i++)
            if (has_break(n->items.items[i]))
                return true;
        return false;
    case DAFT_N_IF: return has_break(n->then) || has_break(n->els);
    default: return false; /* nested loops own their breaks */
    }
}

static bool stmt_terminates(const DaftNode *s) {
    if (!s)
        return false;
    switch (s->kind) {
    case DAFT_N_RETURN: return true;
    case DAFT_N_EXPR_STMT:
        return s->value && s->value->kind == DAFT_N_CALL && !s->value->decl && s->value->callee &&
               s->value->callee->kind == DAFT_N_NAME && strcmp(s->value->callee->name, "fail") == 0;
    case DAFT_N_BLOCK: return sema_block_terminates(s);
    case DAFT_N_IF: return s->els && stmt_terminates(s->then) && stmt_terminates(s->els);
    case DAFT_N_WHILE:
        return s->cond && s->cond->kind == DAFT_N_BOOL_LIT && s->cond->ival && !has_break(s->body);
    default: return false;
    }
}

bool sema_block_terminates(const DaftNode *block) {
    if (!block)
        return false;
    for (int i = 0; i < block->items.len; i++)
        if (block->items.items[i] && stmt_terminates(block->items.items[i]))
            return true;
    return false;
}

static bool jumps(const DaftNode *s) {
    return stmt_terminates(s) || s->kind == DAFT_N_BREAK || s->kind == DAFT_N_CONTINUE;
}

/* ---------------------------------------------------------------- statements */

static void stmt(Sema *S, DaftNode *s);

/* A `return` followed by code in a compiled schedule is an error of its own (sema_compiled:
 * it must end with its only return); the code after it gets no follow-on warnings. */
static bool compiled_return(const Sema *S, const DaftNode *s) {
    return s->kind == DAFT_N_RETURN && S->fn && S->fn->kind == DAFT_N_SCHEDULE && S->fn->is_compiled;
}

static void cond_bool(Sema *S, DaftNode *c) {
    DaftType *t = sema_expr(S, c, S->t_bool);
    if (sema_is_error(t) || t->kind == DAFT_TY_BOOL)
        return;
    DaftDiag *d = daft_error(S->diags, c->span, "condition must be 'bool', not '%s'", sema_tstr(S, t));
    if (sema_is_numeric(t))
        daft_note(S->diags, d, c->span, "compare explicitly, e.g. 'x != 0'");
    else if (t->kind == DAFT_TY_REF)
        daft_note(S->diags, d, c->span, "use 'get(...)' to wait for the value of a Ref");
}

/* Whether a statement or expression under n assigns to a local called `name` (`xs = ...`,
 * `xs += ...`): by name, ignoring shadowing, so that a hit only ever costs a warning. */
static bool assigns_name(const DaftNode *n, const char *name) {
    if (!n)
        return false;
    if (n->kind == DAFT_N_ASSIGN && n->target && n->target->kind == DAFT_N_NAME &&
        strcmp(n->target->name, name) == 0)
        return true;
    const DaftNode *kids[] = {n->value, n->target, n->lhs, n->rhs, n->callee, n->cond, n->then, n->els, n->iter, n->body};
    for (size_t i = 0; i < sizeof(kids) / sizeof(kids[0]); i++)
        if (assigns_name(kids[i], name))
            return true;
    for (int i = 0; i < n->items.len; i++)
        if (assigns_name(n->items.items[i], name))
            return true;
    for (int i = 0; i < n->args.len; i++)
        if (assigns_name(n->args.items[i], name))
            return true;
    return false;
}

/* A list only changes length by assignment to its variable (lists are values, SPEC 5.3, and
 * have no methods), so a list literal's length holds for a local never assigned in the body. */
static void note_fixed_len(Sema *S, DaftNode *s) {
    if (!s->value || s->value->kind != DAFT_N_LIST || !s->ty || s->ty->kind != DAFT_TY_LIST || !S->fn ||
        assigns_name(S->fn->body, s->name))
        return;
    sema_info(S, s)->fixed_len = s->value->items.len + 1;
}

static void let_stmt(Sema *S, DaftNode *s) {
    DaftType *decl_t = s->type ? sema_resolve_type(S, s->type) : NULL;
    DaftType *t = s->value ? sema_expr(S, s->value, decl_t) : S->t_error;
    if (decl_t) {
        if (!sema_is_error(t) && !sema_is_error(decl_t) &&
            (!sema_coerce(S, s->value, decl_t, false, NULL) || t->kind == DAFT_TY_VOID)) {
            DaftDiag *d = daft_error(S->diags, s->value->span, "cannot use a value of type '%s' where '%s' is expected",
                                     sema_tstr(S, s->value->ty), sema_tstr(S, decl_t));
            note_get_if_ref(S, d, s->value->span, s->value->ty, decl_t);
            sema_info(S, s)->quiet_unused = 1; /* clang: an invalid declaration is not 'unused' */
        }
        if (sema_is_error(t))
            sema_info(S, s)->quiet_unused = 1;
        s->ty = decl_t;
    } else if (sema_is_error(t)) {
        s->ty = S->t_error;
    } else if (t->kind == DAFT_TY_VOID) {
        DaftDiag *d = daft_error(S->diags, s->value->span, "cannot initialize variable '%s' with an expression of type 'void'", s->name);
        if (s->value->kind == DAFT_N_CALL && s->value->decl)
            daft_note(S->diags, d, s->value->decl->name_span, "'%s' declared here without a result type", s->value->decl->name);
        s->ty = S->t_error;
    } else if (t->kind == DAFT_TY_LIST && !t->elem) {
        daft_error(S->diags, s->value->span, "cannot infer the element type of an empty list; write e.g. let xs: [i64] = [];");
        s->ty = S->t_error;
    } else {
        s->ty = t;
    }
    note_fixed_len(S, s);
    sema_declare_local(S, s);
}

static void assign_stmt(Sema *S, DaftNode *s) {
    DaftNode *tg = s->target;
    DaftType *tt = S->t_error;
    if (tg->kind == DAFT_N_NAME) {
        DaftNode *d = sema_lookup(S, tg->name);
        if (!d) {
            tt = sema_expr(S, tg, NULL); /* reports the undeclared identifier */
        } else if (d->kind == DAFT_N_LET || d->kind == DAFT_N_PARAM) {
            tg->decl = d;
            tg->slot = d->slot;
            tt = tg->ty = d->ty ? d->ty : S->t_error;
            SemaInfo *in = sema_info(S, d);
            in->written = 1;
            if (s->op != DAFT_OP_ASSIGN)
                in->read = 1;
        } else {
            tg->decl = d;
            DaftDiag *x;
            if (d->kind == DAFT_N_FOR || d->kind == DAFT_N_COMPREHENSION)
                x = daft_error(S->diags, tg->span, "cannot assign to loop variable '%s'", tg->name);
            else
                x = daft_error(S->diags, tg->span, "cannot assign to %s '%s'", sema_decl_what(d), tg->name);
            sema_note_decl(S, x, d);
            tg->ty = S->t_error;
        }
    } else if (tg->kind == DAFT_N_FIELD_ACCESS || tg->kind == DAFT_N_INDEX) {
        tt = sema_expr(S, tg, NULL);
        const DaftNode *r = tg;
        while (r->kind == DAFT_N_INDEX && r->lhs)
            r = r->lhs;
        /* `XS[0] = 5` or `f()[0] = 5` would write into a copy of the constant's value, or into
         * a temporary, and do nothing */
        if (r->kind == DAFT_N_NAME && r->decl && r->decl->kind == DAFT_N_CONST) {
            DaftDiag *x = daft_error(S->diags, tg->span, "cannot assign to an item of %s '%s'",
                                     sema_decl_what(r->decl), r->name);
            sema_note_decl(S, x, r->decl);
            tt = S->t_error;
        } else if (r->kind != DAFT_N_NAME && r->kind != DAFT_N_FIELD_ACCESS && !sema_is_error(r->ty)) {
            daft_error(S->diags, r->span, "expression is not assignable");
            tt = S->t_error;
        }
    } else {
        sema_expr(S, tg, NULL);
        daft_error(S->diags, tg->span, "expression is not assignable");
    }
    DaftType *vt = sema_expr(S, s->value, tt);
    if (sema_is_error(tt) || sema_is_error(vt))
        return;
    if (s->op == DAFT_OP_ASSIGN) {
        if (!sema_coerce(S, s->value, tt, false, NULL) || vt->kind == DAFT_TY_VOID) {
            DaftDiag *d = daft_error(S->diags, s->value->span, "cannot use a value of type '%s' where '%s' is expected",
                                     sema_tstr(S, s->value->ty), sema_tstr(S, tt));
            note_get_if_ref(S, d, s->value->span, s->value->ty, tt);
        }
        return;
    }
    /* lv op= e is lv = lv op e (SPEC 7), so += also concatenates strs and lists (SPEC 6.3) */
    bool concat = s->op == DAFT_OP_ADD && (tt->kind == DAFT_TY_STR || tt->kind == DAFT_TY_LIST);
    bool ok = (sema_is_numeric(tt) || concat) &&
              (sema_coerce(S, s->value, tt, false, NULL) && s->value->ty->kind == tt->kind) &&
              !(s->op == DAFT_OP_MOD && sema_is_float(tt));
    if (!ok) {
        DaftDiag *d = daft_error(S->diags, s->span, "invalid operands to '%s=': '%s' and '%s'",
                                 daft_op_name(s->op), sema_tstr(S, tt), sema_tstr(S, s->value->ty));
        note_get_if_ref(S, d, s->value->span, s->value->ty, tt);
    }
}

static void return_stmt(Sema *S, DaftNode *s) {
    DaftNode *fn = S->fn;
    bool is_init = fn->kind == DAFT_N_METHOD && strcmp(fn->name, "init") == 0;
    DaftType *want = S->ret;
    if (!s->value) {
        if (want->kind != DAFT_TY_VOID && !sema_is_error(want)) {
            DaftDiag *d = daft_error(S->diags, s->span, "'%s' must return a value of type '%s'", fn->name, sema_tstr(S, want));
            if (fn->type)
                daft_note(S->diags, d, fn->type->span, "result type '%s' is declared here", sema_tstr(S, want));
        }
        return;
    }
    DaftType *t = sema_expr(S, s->value, want);
    if (sema_is_error(t) || sema_is_error(want))
        return;
    if (want->kind == DAFT_TY_VOID) {
        if (is_init) {
            if (!fn->type) /* else the declared result type was the error, once (sema_decl.c) */
                daft_error(S->diags, s->value->span, "'init' cannot return a value");
        } else {
            DaftDiag *d = daft_error(S->diags, s->value->span, "'%s' has no result type and cannot return a value", fn->name);
            daft_note(S->diags, d, fn->name_span, "declare a result type, e.g. 'fn %s(...) -> %s'", fn->name, sema_tstr(S, t));
        }
        return;
    }
    if (!sema_coerce(S, s->value, want, false, NULL) || t->kind == DAFT_TY_VOID) {
        DaftDiag *d = daft_error(S->diags, s->value->span, "cannot use a value of type '%s' where '%s' is expected",
                                 sema_tstr(S, s->value->ty), sema_tstr(S, want));
        note_get_if_ref(S, d, s->value->span, s->value->ty, want);
        if (fn->type)
            daft_note(S->diags, d, fn->type->span, "result type is declared here");
    }
}

static void for_stmt(Sema *S, DaftNode *s) {
    DaftType *vt = sema_iter_elem(S, s->iter);
    sema_scope_push(S);
    sema_info(S, s)->var_ty = vt;
    s->ty = vt;
    sema_declare_local(S, s);
    S->loop_depth++;
    sema_block(S, s->body, true);
    S->loop_depth--;
    sema_scope_pop(S);
}

static void expr_stmt(Sema *S, DaftNode *s) {
    DaftNode *v = s->value;
    DaftType *t = sema_expr(S, v, NULL);
    if (sema_is_error(t))
        return;
    if (v->kind == DAFT_N_CALL) {
        bool ref = t->kind == DAFT_TY_REF && t->elem && t->elem->kind != DAFT_TY_VOID;
        bool refs = t->kind == DAFT_TY_LIST && t->elem && t->elem->kind == DAFT_TY_REF && t->elem->elem &&
                    t->elem->elem->kind != DAFT_TY_VOID;
        if (ref || refs) {
            const char *shown = sema_callee_name(S, v);
            if (v->decl && v->decl->kind == DAFT_N_METHOD && v->callee->lhs && v->callee->lhs->ty &&
                v->callee->lhs->ty->kind == DAFT_TY_ACTOR && v->callee->lhs->ty->actor_class)
                shown = daft_arena_printf(S->arena, "%s.%s", v->callee->lhs->ty->actor_class->name, v->decl->name);
            DaftDiag *d = daft_warning(S->diags, v->span, "Ref returned by '%s' is never used", shown);
            daft_note(S->diags, d, v->span,
                      S->ctx == SEMA_CTX_COMPILED
                          ? "pass it to a method or return it, or write 'let _ = ...' to discard it"
                          : "pass it to 'get' to wait for the value (errors surface there), or write 'let _ = ...' to discard it");
        }
        return;
    }
    if (v->kind == DAFT_N_SPAWN) {
        DaftDiag *d = daft_warning(S->diags, v->span, "result of 'spawn' is unused; the actor cannot be called");
        daft_note(S->diags, d, v->span, "bind it, e.g. 'let a = spawn %s(...);'", v->name);
        return;
    }
    daft_warning(S->diags, v->span, "expression result unused");
}

static void stmt(Sema *S, DaftNode *s) {
    if (!s)
        return;
    switch (s->kind) {
    case DAFT_N_BLOCK: sema_block(S, s, true); break;
    case DAFT_N_LET: let_stmt(S, s); break;
    case DAFT_N_ASSIGN: assign_stmt(S, s); break;
    case DAFT_N_RETURN: return_stmt(S, s); break;
    case DAFT_N_IF:
        cond_bool(S, s->cond);
        sema_block(S, s->then, true);
        if (s->els) {
            if (s->els->kind == DAFT_N_IF)
                stmt(S, s->els);
            else
                sema_block(S, s->els, true);
        }
        break;
    case DAFT_N_FOR: for_stmt(S, s); break;
    case DAFT_N_WHILE:
        cond_bool(S, s->cond);
        S->loop_depth++;
        sema_block(S, s->body, true);
        S->loop_depth--;
        break;
    case DAFT_N_BREAK:
    case DAFT_N_CONTINUE:
        if (S->loop_depth == 0)
            daft_error(S->diags, s->span, "'%s' outside of a loop", s->kind == DAFT_N_BREAK ? "break" : "continue");
        break;
    case DAFT_N_EXPR_STMT: expr_stmt(S, s); break;
    default:
        daft_error(S->diags, s->span, "expected a statement");
        break;
    }
}

void sema_block(Sema *S, DaftNode *block, bool new_scope) {
    if (!block)
        return;
    if (block->kind != DAFT_N_BLOCK) {
        stmt(S, block);
        return;
    }
    if (new_scope)
        sema_scope_push(S);
    bool warned = false, quiet_dead = false;
    for (int i = 0; i < block->items.len; i++) {
        DaftNode *s = block->items.items[i];
        if (!s)
            continue;
        DaftNode *prev = i > 0 ? block->items.items[i - 1] : NULL;
        if (!warned && prev && jumps(prev)) {
            quiet_dead = compiled_return(S, prev);
            if (!quiet_dead)
                daft_warning(S->diags, s->span, "code will never be executed");
            warned = true;
        }
        stmt(S, s);
        if (quiet_dead && s->kind == DAFT_N_LET)
            sema_info(S, s)->read = true; /* no "never consumed" either */
    }
    if (new_scope)
        sema_scope_pop(S);
}

void sema_check_body(Sema *S, DaftNode *fn, DaftNode *actor, SemaCtx ctx) {
    S->fn = fn;
    S->actor = actor;
    S->ctx = ctx;
    S->ret = fn->ty ? fn->ty : S->t_void;
    S->next_slot = 0;
    S->loop_depth = 0;
    S->nlocals = 0;
    S->depth = 0;
    sema_scope_push(S);
    for (int i = 0; i < fn->params.len; i++)
        sema_declare_param(S, fn->params.items[i]);
    sema_block(S, fn->body, false);
    if (fn->body && S->ret->kind != DAFT_TY_VOID && !sema_is_error(S->ret) && !sema_block_terminates(fn->body)) {
        DaftDiag *d = daft_error(S->diags, sema_end_span(fn->body->span), "missing return at the end of '%s'", fn->name);
        if (fn->type)
            daft_note(S->diags, d, fn->type->span, "result type '%s' is declared here", sema_tstr(S, S->ret));
    }
    sema_scope_pop(S);
    S->fn = NULL;
    S->actor = NULL;
    S->ctx = SEMA_CTX_GLOBAL;
}
