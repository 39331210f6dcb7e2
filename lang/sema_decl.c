/* Declarations: top-level names, actors (resources, fields, methods, extern bindings),
 * attributes (@hint on methods, @inflight on compiled schedules), constants and the
 * order in which bodies are checked. */
#include "sema.h"

#include <string.h>
#include <unistd.h>

static bool is_type_keyword(const char *n) {
    static const char *const kw[] = {"i32", "i64", "f32", "f64", "bool", "str", "Comm", "tensor", "Ref"};
    for (size_t i = 0; i < sizeof kw / sizeof *kw; i++)
        if (strcmp(kw[i], n) == 0)
            return true;
    return false;
}

/* ---------------------------------------------------------------- phase 1: names */

static void link_decl(Sema *S, DaftNode *program, int index) {
    DaftNode *d = program->items.items[index];
    if (!d->name)
        return;
    for (int j = 0; j < index; j++) {
        DaftNode *p = program->items.items[j];
        if (p->kind == DAFT_N_LINK && p->name && strcmp(p->name, d->name) == 0) {
            DaftDiag *w = daft_warning(S->diags, d->span, "'%s' is already linked", d->name);
            daft_note(S->diags, w, p->span, "previous link is here");
            return;
        }
    }
    if (d->name[0] == '-' || d->name[0] == '\0')
        return; /* linker flags */
    DaftSourceSet *set = S->diags->sources;
    const char *dir = ".";
    if (set && d->span.file >= 0 && d->span.file < set->len) {
        const char *path = set->files[d->span.file]->path;
        const char *slash = strrchr(path, '/');
        if (slash)
            dir = daft_arena_strndup(S->arena, path, (size_t)(slash - path));
    }
    const char *full = d->name[0] == '/' ? d->name : daft_arena_printf(S->arena, "%s/%s", dir, d->name);
    if (access(full, F_OK) != 0)
        daft_error(S->diags, d->span, "cannot find linked file '%s'", d->name);
}

void sema_collect(Sema *S, DaftNode *program) {
    for (int i = 0; i < program->items.len; i++) {
        DaftNode *d = program->items.items[i];
        const char *name = d->name;
        DaftSpan where = d->name_span;
        if (d->kind == DAFT_N_IMPORT) {
            DaftNode *prog = sema_load_module(S, d->name);
            sema_info(S, d)->module_program = prog;
            if (!prog) {
                int n;
                const char *const *mods = sema_std_modules(&n);
                const char *sug = sema_suggest_in(d->name, mods, n);
                DaftDiag *e = daft_error(S->diags, d->name_span, "unknown module '%s'", d->name);
                if (sug) {
                    daft_note(S->diags, e, d->name_span, "did you mean '%s'?", sug);
                } else {
                    const char *list = "";
                    for (int k = 0; k < n; k++)
                        list = daft_arena_printf(S->arena, "%s%s'%s'", list, k ? ", " : "", mods[k]);
                    daft_note(S->diags, e, d->name_span, "available modules: %s", list);
                }
            }
            if (d->alias) {
                name = d->alias;
            } else {
                const char *dot = strrchr(d->name, '.');
                name = dot ? dot + 1 : d->name;
            }
            /* alias_span: the alias is at the end of the import */
            where = d->span;
        } else if (d->kind == DAFT_N_LINK) {
            link_decl(S, program, i);
            continue;
        } else if (!name) {
            continue;
        }
        /* SPEC 2.3: a class named like a type is a type name first (str, i32 are also
         * conversions); a top-level name would replace a built-in function in the whole file,
         * so only locals (parameters, let, loop variables) may shadow one. */
        if (d->kind == DAFT_N_ACTOR && is_type_keyword(name)) {
            daft_error(S->diags, where, "'%s' is a built-in type name", name);
            continue;
        }
        if (sema_builtin(name)) {
            DaftDiag *e = daft_error(S->diags, where, "'%s' is a built-in function and cannot be redefined", name);
            daft_note(S->diags, e, where, "only a local variable or parameter may shadow a built-in function; rename this %s",
                      d->kind == DAFT_N_IMPORT ? "alias" : sema_decl_what(d));
            continue;
        }
        DaftNode *prev = sema_global(S, name);
        if (prev) {
            DaftDiag *e = daft_error(S->diags, where, "redefinition of '%s'", name);
            daft_note(S->diags, e, prev->kind == DAFT_N_IMPORT ? prev->span : prev->name_span, "previous definition is here");
            continue;
        }
        sema_global_add(S, d, name);
    }
}

/* ---------------------------------------------------------------- phase 2: signatures */

DaftNode *sema_actor_member(const DaftNode *actor, const char *name) {
    for (int i = 0; i < actor->items.len; i++) {
        DaftNode *m = actor->items.items[i];
        if (m->name && strcmp(m->name, name) == 0)
            return m;
    }
    return NULL;
}

int64_t sema_actor_resource(Sema *S, const DaftNode *actor, const char *name, DaftNode **where) {
    *where = NULL;
    for (int i = 0; i < actor->args.len; i++) {
        DaftNode *a = actor->args.items[i];
        if (a->kind == DAFT_N_NAMED_ARG && strcmp(a->name, name) == 0) {
            int64_t v;
            *where = a;
            return sema_const_int(S, a->value, &v) ? v : -1;
        }
    }
    return strcmp(name, "cpus") == 0 ? 1 : 0;
}

DaftSpan sema_symbol_span(Sema *S, const DaftNode *decl) {
    DaftSpan sp = decl->span;
    DaftSourceSet *set = S->diags->sources;
    if (!set || sp.file < 0 || sp.file >= set->len || sp.end.line < 1)
        return sp;
    int len;
    const char *line = daft_source_line(set->files[sp.file], sp.end.line, &len);
    int i = sp.end.col - 2; /* the last character of the declaration */
    if (i >= len)
        i = len - 1;
    while (i >= 0 && line[i] != '"')
        i--;
    int close = i--;
    while (i >= 0 && !(line[i] == '"' && (i == 0 || line[i - 1] != '\\')))
        i--;
    if (close < 0 || i < 0)
        return sp;
    DaftSpan r = {sp.file, {sp.end.line, i + 1}, {sp.end.line, close + 2}};
    return r;
}

/* A tensor dimension in a parameter's or result's type that names a parameter: dimensions
 * are constants, so `fn f(n: i64, x: tensor<f32, [n]>)` would read a global `n`, not the
 * parameter (or nothing): said rather than silently taken. */
static void dims_name_no_param(Sema *S, DaftNode *fn, const DaftNode *tn) {
    if (!tn)
        return;
    if (tn->kind == DAFT_N_TYPE_LIST || tn->kind == DAFT_N_TYPE_REF)
        dims_name_no_param(S, fn, tn->type);
    if (tn->kind == DAFT_N_TYPE_TENSOR || tn->kind == DAFT_N_TYPE_NAME)
        for (int i = 0; tn->has_shape && i < tn->args.len; i++) {
            const DaftNode *d = tn->args.items[i];
            for (int j = 0; d && d->kind == DAFT_N_NAME && j < fn->params.len; j++) {
                const DaftNode *q = fn->params.items[j];
                if (q->name && d->name && strcmp(q->name, d->name) == 0) {
                    DaftDiag *e = daft_error(S->diags, d->span,
                                             "tensor dimension '%s' must be an integer constant, not a parameter",
                                             d->name);
                    daft_note(S->diags, e, q->name_span, "'%s' declared here", q->name);
                }
            }
        }
}

static void check_params(Sema *S, DaftNode *fn) {
    for (int i = 0; i < fn->params.len; i++) {
        DaftNode *p = fn->params.items[i];
        p->ty = sema_resolve_type(S, p->type);
        dims_name_no_param(S, fn, p->type);
        for (int j = 0; j < i; j++) {
            DaftNode *q = fn->params.items[j];
            if (p->name && q->name && strcmp(p->name, q->name) == 0) {
                DaftDiag *d = daft_error(S->diags, p->name_span, "redefinition of parameter '%s'", p->name);
                daft_note(S->diags, d, q->name_span, "previous definition is here");
                break;
            }
        }
    }
}

void sema_fn_signature(Sema *S, DaftNode *fn) {
    check_params(S, fn);
    dims_name_no_param(S, fn, fn->type);
    fn->ty = fn->type ? sema_resolve_type(S, fn->type) : S->t_void;
}

static void extern_binding(Sema *S, DaftNode *fn, const char *noun) {
    if (fn->is_extern && fn->body) {
        daft_error(S->diags, fn->name_span, "extern %s '%s' cannot have a body", noun, fn->name);
    } else if (fn->is_extern && !fn->symbol) {
        daft_error(S->diags, fn->name_span, "extern %s '%s' needs a C symbol: write = \"c_name\";", noun, fn->name);
    } else if (!fn->is_extern && fn->symbol) {
        DaftDiag *d = daft_error(S->diags, sema_symbol_span(S, fn), "a %s bound to a C symbol must be declared 'extern'", noun);
        daft_note(S->diags, d, fn->name_span, "write 'extern fn %s(...)'", fn->name);
    } else if (!fn->is_extern && !fn->body) {
        daft_error(S->diags, fn->name_span, "%s '%s' has no body", noun, fn->name);
    }
    if (fn->symbol && !sema_is_valid_c_ident(fn->symbol))
        daft_error(S->diags, sema_symbol_span(S, fn), "'%s' is not a valid C identifier", fn->symbol);
}

/* Why a handle cannot be an actor's (SPEC 5.4), and what to write instead: Ray programs pass
 * actor handles and Refs to actors. */
typedef enum { NOT_DATA_FIELD, NOT_DATA_PARAM, NOT_DATA_RESULT } NotData;

static void note_not_data(Sema *S, DaftDiag *d, DaftSpan at, const DaftType *t, NotData where) {
    static const char *const ref_notes[] = {
        "an actor keeps values: a method given the Ref (as an argument of the value's type) can store its value",
        "a method is given values: declare the Ref's value type here and pass the Ref in the call (the task "
        "runs once its value is ready)",
        "a method returns a value: declare its type; the call from the driver gives the Ref",
    };
    while (t && t->kind == DAFT_TY_LIST)
        t = t->elem;
    if (t && t->kind == DAFT_TY_REF)
        daft_note(S->diags, d, at, "%s", ref_notes[where]);
    else if (t && (t->kind == DAFT_TY_ACTOR || t->kind == DAFT_TY_COMM))
        daft_note(S->diags, d, at, "actor handles and communicators exist only in driver code: an actor cannot "
                                   "call another actor; call both from the driver (or a schedule) and pass the "
                                   "Ref of one's result to the other");
}

static void actor_signature(Sema *S, DaftNode *a) {
    for (int i = 0; i < a->items.len; i++) {
        DaftNode *m = a->items.items[i];
        for (int j = 0; j < i; j++) {
            DaftNode *p = a->items.items[j];
            if (m->name && p->name && strcmp(m->name, p->name) == 0) {
                DaftDiag *d = daft_error(S->diags, m->name_span, "duplicate member '%s' in actor '%s'", m->name, a->name);
                daft_note(S->diags, d, p->name_span, "previous declaration is here");
                break;
            }
        }
        if (m->kind == DAFT_N_FIELD) {
            m->ty = sema_resolve_type(S, m->type);
            if (!sema_is_data_type(m->ty)) {
                DaftSpan at = m->type ? m->type->span : m->span;
                note_not_data(S, daft_error(S->diags, at, "field '%s' has type '%s', which is not a data type", m->name,
                                            sema_tstr(S, m->ty)),
                              at, m->ty, NOT_DATA_FIELD);
            }
            continue;
        }
        if (m->kind != DAFT_N_METHOD)
            continue;
        sema_fn_signature(S, m);
        extern_binding(S, m, "method");
        for (int k = 0; k < m->params.len; k++) {
            DaftNode *p = m->params.items[k];
            if (!sema_is_data_type(p->ty)) {
                DaftSpan at = p->type ? p->type->span : p->span;
                note_not_data(S, daft_error(S->diags, at, "parameter '%s' has type '%s', which is not a data type",
                                            p->name, sema_tstr(S, p->ty)),
                              at, p->ty, NOT_DATA_PARAM);
            }
        }
        if (m->type && !sema_is_data_type(m->ty))
            note_not_data(S, daft_error(S->diags, m->type->span, "the result of method '%s' has type '%s', which is not a data type",
                                        m->name, sema_tstr(S, m->ty)),
                          m->type->span, m->ty, NOT_DATA_RESULT);
        if (strcmp(m->name, "init") == 0 && m->type) {
            DaftDiag *d = daft_error(S->diags, m->type->span, "'init' cannot return a value");
            daft_note(S->diags, d, m->name_span, "'init' runs when the actor is spawned; spawn returns the actor");
            m->ty = S->t_void;
        }
        if (strcmp(m->name, "init") == 0 && m->attrs.len > 0)
            daft_error(S->diags, m->attrs.items[0]->span, "'init' cannot carry attributes");
    }
}

/* SPEC 2.1, 4.1: a program without main is valid (--check, --emit), but an executable starts
 * at main; without this check it would be built and do nothing. */
static void require_main(Sema *S) {
    DaftNode *m = sema_global(S, "main");
    const char *path = S->mod->source ? S->mod->source->path : "the program";
    if (!m) {
        daft_error(S->diags, daft_span_none(), "'%s' has no 'main': an executable needs 'fn main()' or 'fn main() -> i32'",
                   path);
    } else if (m->kind != DAFT_N_FN || m->is_extern) {
        const char *what = m->kind == DAFT_N_FN ? "extern function" : sema_decl_what(m);
        daft_error(S->diags, m->kind == DAFT_N_IMPORT ? m->span : m->name_span,
                   "an executable needs 'fn main()' or 'fn main() -> i32'; this 'main' is %s %s",
                   strchr("aeiou", what[0]) ? "an" : "a", what);
    }
}

void sema_signatures(Sema *S, DaftNode *program) {
    if (S->mod->executable)
        require_main(S);
    for (int i = 0; i < program->items.len; i++) {
        DaftNode *d = program->items.items[i];
        switch (d->kind) {
        case DAFT_N_ACTOR: actor_signature(S, d); break;
        case DAFT_N_SCHEDULE: sema_fn_signature(S, d); break;
        case DAFT_N_FN:
            sema_fn_signature(S, d);
            extern_binding(S, d, "function");
            if (d->name && strcmp(d->name, "main") == 0 && sema_global(S, "main") == d) {
                if (d->params.len > 0)
                    daft_error(S->diags, d->params.items[0]->span, "'main' must not take parameters");
                /* SPEC 4.1: the result is the process exit status, an i32 as C's */
                if (d->type && !sema_is_error(d->ty) && d->ty->kind != DAFT_TY_I32) {
                    DaftDiag *e = daft_error(S->diags, d->type->span, "'main' must return nothing or 'i32', not '%s'",
                                             sema_tstr(S, d->ty));
                    daft_note(S->diags, e, d->type->span, "the result of 'main' is the process exit status");
                }
            }
            break;
        default: break;
        }
    }
}

/* ---------------------------------------------------------------- constants */

static bool is_const_expr(Sema *S, const DaftNode *e) {
    switch (e->kind) {
    case DAFT_N_INT_LIT:
    case DAFT_N_FLOAT_LIT:
    case DAFT_N_STR_LIT:
    case DAFT_N_BOOL_LIT:
        return true;
    case DAFT_N_NAME:
        return e->decl && e->decl->kind == DAFT_N_CONST;
    case DAFT_N_UNARY:
        return is_const_expr(S, e->lhs);
    case DAFT_N_BINARY:
        return is_const_expr(S, e->lhs) && is_const_expr(S, e->rhs);
    case DAFT_N_LIST:
        for (int i = 0; i < e->items.len; i++)
            if (!is_const_expr(S, e->items.items[i]))
                return false;
        return true;
    default:
        return false;
    }
}

void sema_check_const(Sema *S, DaftNode *c) {
    SemaInfo *in = sema_info(S, c);
    if (in->state)
        return;
    in->state = 1;
    SemaCtx saved_ctx = S->ctx;
    S->ctx = SEMA_CTX_GLOBAL;
    DaftType *dt = c->type ? sema_resolve_type(S, c->type) : NULL;
    int errors_before = S->diags->error_count;
    DaftType *t = c->value ? sema_expr(S, c->value, dt) : S->t_error;
    if (!sema_is_error(t) && !is_const_expr(S, c->value)) {
        daft_error(S->diags, c->value->span, "initializer of constant '%s' is not a compile-time constant", c->name);
        t = S->t_error;
    }
    if (dt) {
        if (!sema_is_error(t) && !sema_is_error(dt) && !sema_coerce(S, c->value, dt, false, NULL))
            daft_error(S->diags, c->value->span, "cannot initialize a constant of type '%s' with a value of type '%s'",
                       sema_tstr(S, dt), sema_tstr(S, t));
        c->ty = dt;
    } else if (!sema_is_error(t) && t->kind == DAFT_TY_LIST && !t->elem) {
        daft_error(S->diags, c->value->span, "cannot infer the element type of an empty list; write the type");
        c->ty = S->t_error;
    } else {
        c->ty = t;
    }
    if (S->diags->error_count == errors_before && !sema_is_error(c->ty) && sema_is_int(c->ty)) {
        int64_t v;
        if (!sema_const_int_typed(S, c->value, c->ty, &v))
            daft_error(S->diags, c->value->span, "integer overflow or division by zero in constant expression");
    }
    S->ctx = saved_ctx;
    in->state = 2;
}

/* ---------------------------------------------------------------- resources and attributes */

static void actor_resources(Sema *S, DaftNode *a) {
    static const char *const names[] = {"gpus", "cpus"};
    for (int i = 0; i < a->args.len; i++) {
        DaftNode *r = a->args.items[i];
        if (r->kind != DAFT_N_NAMED_ARG) {
            daft_error(S->diags, r->span, "actor resources must be named, e.g. 'gpus = 1'");
            sema_expr(S, r, NULL);
            continue;
        }
        DaftType *t = r->value ? sema_expr(S, r->value, S->t_i64) : S->t_error;
        r->ty = t;
        if (strcmp(r->name, "gpus") != 0 && strcmp(r->name, "cpus") != 0) {
            (void)names;
            daft_error(S->diags, r->name_span, "unknown actor resource '%s'; expected 'gpus' or 'cpus'", r->name);
            continue;
        }
        bool dup = false;
        for (int j = 0; j < i && !dup; j++) {
            DaftNode *q = a->args.items[j];
            if (q->kind == DAFT_N_NAMED_ARG && strcmp(q->name, r->name) == 0) {
                DaftDiag *d = daft_error(S->diags, r->name_span, "duplicate resource '%s'", r->name);
                daft_note(S->diags, d, q->name_span, "previous value is here");
                dup = true;
            }
        }
        if (dup || sema_is_error(t))
            continue;
        int64_t v;
        if (!sema_is_int(t) && !sema_adapt_literal(S, r->value, S->t_i64))
            daft_error(S->diags, r->value->span, "resource '%s' must be a non-negative integer, not '%s'", r->name, sema_tstr(S, t));
        else if (!sema_const_int(S, r->value, &v))
            daft_error(S->diags, r->value->span, "resource '%s' must be a compile-time constant", r->name);
        else if (v < 0)
            daft_error(S->diags, r->value->span, "resource '%s' must not be negative (got %lld)", r->name, (long long)v);
        else if (r->name[0] == 'g' && v > 1)
            daft_error(S->diags, r->value->span, "an actor may use at most 1 GPU in v0.1");
        else if (r->name[0] == 'c' && v < 1)
            daft_error(S->diags, r->value->span, "resource 'cpus' must be at least 1 (got %lld)", (long long)v);
    }
}

static bool is_type_node(const DaftNode *n) {
    return n->kind == DAFT_N_TYPE_NAME || n->kind == DAFT_N_TYPE_TENSOR || n->kind == DAFT_N_TYPE_REF ||
           n->kind == DAFT_N_TYPE_LIST;
}

static const char *shape_str(Sema *S, const DaftNode *list) {
    const char *s = "";
    for (int i = 0; i < list->items.len; i++) {
        const DaftNode *d = list->items.items[i];
        s = d->kind == DAFT_N_INT_LIT || d->kind == DAFT_N_NAME
                ? daft_arena_printf(S->arena, "%s%s%lld", s, i ? ", " : "", (long long)d->ival)
                : daft_arena_printf(S->arena, "%s%s?", s, i ? ", " : "");
    }
    return daft_arena_printf(S->arena, "[%s]", s);
}

/* The hint's type with the static dimensions of `shape = [...]` (already checked to agree with
 * it): what the result must fit at run time, as the planner reads it too. */
static DaftType *hint_with_shape(Sema *S, DaftType *ht, const DaftNode *shape) {
    if (!ht || ht->kind != DAFT_TY_TENSOR)
        return ht;
    DaftType *t = sema_tensor_of(S, ht->dtype);
    t->rank = shape->items.len;
    t->dims = daft_arena_alloc(S->arena, sizeof(int64_t) * (size_t)(t->rank ? t->rank : 1));
    for (int i = 0; i < t->rank; i++) {
        const DaftNode *d = shape->items.items[i];
        t->dims[i] = d->kind == DAFT_N_DIM_ANY ? DAFT_DIM_DYNAMIC : d->ival;
        if (t->dims[i] == DAFT_DIM_DYNAMIC && ht->rank == t->rank)
            t->dims[i] = ht->dims[i];
    }
    return t;
}

/* A comm name that is none of the built-in transports is a custom one (SPEC 9.1), found only
 * when a plan needs it: one a single edit away from a built-in name is most likely a typo
 * (two would catch real names, 'ucx' for 'tcp'). */
static void hint_custom_comm(Sema *S, DaftNode *v) {
    static const char *const builtin[] = {"nccl", "shm", "tcp", "auto"};
    const char *sug = NULL;
    for (int i = 0; i < 4; i++) {
        int dist = sema_edit_distance(v->name, builtin[i], 1);
        if (dist == 0)
            return;
        if (dist == 1 && !sug)
            sug = builtin[i];
    }
    if (!sug)
        return;
    DaftDiag *d = daft_warning(S->diags, v->span, "'%s' is not a built-in transport; it is taken as a custom one", v->name);
    daft_note(S->diags, d, v->span, "did you mean '%s'?", sug);
}

static void hint_attr(Sema *S, DaftNode *attr, DaftNode *m, DaftNode *actor) {
    DaftType *rt = m->ty ? m->ty : S->t_void;
    DaftNode *result_at = m->type;
    DaftType *eff = rt;
    DaftType *hint_ty = NULL; /* the hint's type, once it is known to fit the result */
    DaftNode *type_arg = NULL;
    if (rt->kind == DAFT_TY_VOID) {
        DaftDiag *d = daft_error(S->diags, attr->span, "@hint on '%s', which returns nothing", m->name);
        daft_note(S->diags, d, m->name_span, "a hint describes the result of a method; declare one, e.g. '-> tensor<f32>'");
        return;
    }
    DaftNode *comm = NULL, *shape = NULL;
    for (int i = 0; i < attr->args.len; i++) {
        DaftNode *a = attr->args.items[i];
        if (a->kind == DAFT_N_NAMED_ARG) {
            DaftNode **slotp = strcmp(a->name, "comm") == 0 ? &comm : strcmp(a->name, "shape") == 0 ? &shape : NULL;
            if (!slotp) {
                static const char *const names[] = {"comm", "shape"};
                const char *sug = sema_suggest_in(a->name, names, 2);
                DaftDiag *d = daft_error(S->diags, a->name_span, "unknown @hint argument '%s'", a->name);
                daft_note(S->diags, d, a->name_span, sug ? "did you mean '%s'?" : "@hint takes 'comm' and 'shape'%s", sug ? sug : "");
                continue;
            }
            if (*slotp) {
                DaftDiag *d = daft_error(S->diags, a->name_span, "duplicate @hint argument '%s'", a->name);
                daft_note(S->diags, d, (*slotp)->name_span, "previous argument is here");
                continue;
            }
            *slotp = a;
            continue;
        }
        if (type_arg || !is_type_node(a)) {
            daft_error(S->diags, a->span, type_arg ? "@hint takes one type, then 'comm' and 'shape'"
                                                   : "the first argument of @hint must be the result type");
            continue;
        }
        type_arg = a;
        DaftType *ht = sema_resolve_type(S, a);
        if (sema_is_error(ht) || sema_is_error(rt))
            continue;
        if (!sema_assignable(rt, ht, false, NULL) || !sema_assignable(ht, rt, false, NULL)) {
            DaftDiag *d = daft_error(S->diags, a->span, "hint type '%s' does not match the result type '%s' of '%s'",
                                     sema_tstr(S, ht), sema_tstr(S, rt), m->name);
            if (result_at)
                daft_note(S->diags, d, result_at->span, "result type is declared here");
            continue;
        }
        eff = ht->rank >= 0 ? ht : rt;
        hint_ty = ht;
    }
    if (!type_arg)
        daft_error(S->diags, attr->span, "@hint needs the result type as its first argument, e.g. '@hint(%s, ...)'",
                   sema_tstr(S, rt));
    if (sema_is_error(eff))
        return;
    if (comm) {
        DaftNode *v = comm->value;
        if (!v || v->kind != DAFT_N_NAME) {
            daft_error(S->diags, v ? v->span : comm->span, "'comm' must name a transport: nccl, shm, tcp, auto or a custom transport");
        } else if (strcmp(v->name, "nccl") == 0) {
            if (eff->kind != DAFT_TY_TENSOR) {
                DaftDiag *d = daft_error(S->diags, v->span, "comm = nccl requires a tensor result, not '%s'", sema_tstr(S, eff));
                if (result_at)
                    daft_note(S->diags, d, result_at->span, "result type is declared here");
                daft_note(S->diags, d, v->span, "NCCL moves GPU tensors only; use 'comm = shm', 'tcp' or 'auto' for other values");
            } else {
                DaftNode *where;
                int64_t gpus = sema_actor_resource(S, actor, "gpus", &where);
                if (gpus == 0) {
                    DaftDiag *d = daft_error(S->diags, v->span, "a gpus = 0 actor cannot return nccl tensors");
                    if (where)
                        daft_note(S->diags, d, where->span, "'%s' requests 'gpus = 0' here", actor->name);
                    else
                        daft_note(S->diags, d, actor->name_span, "actor '%s' declared here without a 'gpus' resource", actor->name);
                }
            }
        } else {
            hint_custom_comm(S, v);
        }
        if (v)
            v->ty = S->t_str;
    }
    if (shape) {
        DaftNode *v = shape->value;
        if (v && v->kind == DAFT_N_NAME && strcmp(v->name, "auto") == 0) {
            v->ty = S->t_str;
        } else if (!v || v->kind != DAFT_N_LIST) {
            daft_error(S->diags, v ? v->span : shape->span, "'shape' must be 'auto' or a list of dimensions such as [32, ?]");
        } else {
            bool ok = true;
            for (int i = 0; i < v->items.len; i++) {
                DaftNode *d = v->items.items[i];
                if (d->kind == DAFT_N_INT_LIT || d->kind == DAFT_N_DIM_ANY) {
                    d->ty = S->t_i64;
                    continue;
                }
                if (d->kind == DAFT_N_NAME && d->name) { /* a constant: its value, as a literal's */
                    int64_t c = sema_constant_dim(S, d);
                    d->ty = S->t_i64;
                    d->ival = c;
                    ok &= c != DAFT_DIM_DYNAMIC;
                    continue;
                }
                daft_error(S->diags, d->span, "a hinted dimension must be an integer, a constant or '?'");
                ok = false;
            }
            v->ty = sema_list_of(S, S->t_i64);
            if (ok && eff->kind != DAFT_TY_TENSOR) {
                DaftDiag *d = daft_error(S->diags, v->span, "shape = [...] requires a tensor result, not '%s'", sema_tstr(S, eff));
                if (result_at)
                    daft_note(S->diags, d, result_at->span, "result type is declared here");
            } else if (ok && eff->rank >= 0) {
                bool match = eff->rank == v->items.len;
                for (int i = 0; match && i < v->items.len; i++) {
                    DaftNode *d = v->items.items[i];
                    if ((d->kind == DAFT_N_INT_LIT || d->kind == DAFT_N_NAME) && eff->dims[i] != DAFT_DIM_DYNAMIC &&
                        eff->dims[i] != d->ival)
                        match = false;
                }
                if (!match) {
                    const char *ts = "";
                    for (int i = 0; i < eff->rank; i++)
                        ts = eff->dims[i] == DAFT_DIM_DYNAMIC ? daft_arena_printf(S->arena, "%s%s?", ts, i ? ", " : "")
                                                               : daft_arena_printf(S->arena, "%s%s%lld", ts, i ? ", " : "", (long long)eff->dims[i]);
                    DaftDiag *d = daft_error(S->diags, v->span, "shape %s disagrees with the hint type's shape [%s]",
                                             shape_str(S, v), ts);
                    if (result_at)
                        daft_note(S->diags, d, type_arg ? type_arg->span : result_at->span, "result type is declared here");
                    hint_ty = NULL;
                } else {
                    hint_ty = hint_with_shape(S, hint_ty, v);
                }
            } else if (ok) {
                hint_ty = hint_with_shape(S, hint_ty, v);
            }
        }
    }
    /* codegen checks each result against it (SPEC 9.1) */
    attr->ty = hint_ty;
}

static void inflight_attr(Sema *S, DaftNode *attr) {
    DaftNode *arg = attr->args.len == 1 ? attr->args.items[0] : NULL;
    const char *msg = "@inflight needs an integer constant from 1 to 1024";
    if (arg && arg->kind == DAFT_N_TYPE_NAME && arg->name) {
        /* `@inflight(DEPTH)`: an identifier parses as a type; it names a constant */
        DaftNode *c = sema_global(S, arg->name);
        if (!c || c->kind != DAFT_N_CONST) {
            DaftDiag *d = daft_error(S->diags, arg->span, "%s", msg);
            if (!c)
                daft_note(S->diags, d, arg->span, "'%s' is not declared", arg->name);
            else
                sema_note_decl(S, d, c);
            return;
        }
        arg->decl = c;
        arg->ty = c->ty;
        int64_t v;
        if (!sema_is_int(c->ty) || !sema_const_int(S, c->value, &v) || v < 1 || v > 1024) {
            DaftDiag *d = daft_error(S->diags, arg->span, "%s", msg);
            sema_note_decl(S, d, c);
        }
        return;
    }
    if (!arg || arg->kind == DAFT_N_NAMED_ARG || is_type_node(arg)) {
        daft_error(S->diags, arg ? arg->span : attr->span, "%s", msg);
        return;
    }
    DaftType *t = sema_expr(S, arg, S->t_i64);
    int64_t v;
    if (sema_is_error(t))
        return;
    if (!sema_is_int(t) || !sema_const_int(S, arg, &v) || v < 1 || v > 1024)
        daft_error(S->diags, arg->span, "%s", msg);
}

static void attributes(Sema *S, DaftNode *decl, DaftNode *actor) {
    static const char *const known[] = {"hint", "inflight"};
    for (int i = 0; i < decl->attrs.len; i++) {
        DaftNode *at = decl->attrs.items[i];
        const char *n = at->name ? at->name : "";
        bool is_hint = strcmp(n, "hint") == 0, is_inflight = strcmp(n, "inflight") == 0;
        if (!is_hint && !is_inflight) {
            const char *sug = sema_suggest_in(n, known, 2);
            DaftDiag *d = daft_error(S->diags, at->name_span, "unknown attribute '@%s'", n);
            if (sug)
                daft_note(S->diags, d, at->name_span, "did you mean '@%s'?", sug);
            continue;
        }
        bool dup = false;
        for (int j = 0; j < i && !dup; j++) {
            if (decl->attrs.items[j]->name && strcmp(decl->attrs.items[j]->name, n) == 0) {
                DaftDiag *d = daft_error(S->diags, at->name_span, "duplicate attribute '@%s'", n);
                daft_note(S->diags, d, decl->attrs.items[j]->name_span, "previous attribute is here");
                dup = true;
            }
        }
        if (dup)
            continue;
        if (is_hint && decl->kind != DAFT_N_METHOD) {
            DaftDiag *d = daft_error(S->diags, at->name_span, "@hint applies to actor methods only");
            daft_note(S->diags, d, decl->name_span, "'%s' is a %s", decl->name, sema_decl_what(decl));
            continue;
        }
        if (is_inflight && !(decl->kind == DAFT_N_SCHEDULE && decl->is_compiled)) {
            DaftDiag *d = daft_error(S->diags, at->name_span, "@inflight applies to compiled schedules only");
            daft_note(S->diags, d, decl->name_span, "'%s' is a %s", decl->name, sema_decl_what(decl));
            continue;
        }
        if (is_hint)
            hint_attr(S, at, decl, actor);
        else
            inflight_attr(S, at);
    }
}

static void compiled_params(Sema *S, DaftNode *sc) {
    for (int i = 0; i < sc->params.len; i++) {
        DaftNode *p = sc->params.items[i];
        DaftType *t = p->ty;
        if (sema_is_error(t) || sema_is_data_type(t))
            continue;
        DaftType *e = t;
        while (e->kind == DAFT_TY_LIST && e->elem)
            e = e->elem;
        if (e->kind == DAFT_TY_ACTOR || e->kind == DAFT_TY_COMM)
            continue;
        if (e->kind == DAFT_TY_REF && e->elem && sema_is_data_type(e->elem))
            continue; /* Refs: only from another compiled schedule, which traces it inline (sema_expr) */
        DaftDiag *d = daft_error(S->diags, p->type ? p->type->span : p->span,
                                 "parameter '%s' of compiled schedule '%s' cannot have type '%s'", p->name, sc->name,
                                 sema_tstr(S, t));
        daft_note(S->diags, d, p->span,
                  "a compiled schedule takes actors, lists of actors, Comms, data inputs and (called from another "
                  "compiled schedule only) Refs; a data parameter of type T also accepts a Ref<T> argument");
    }
}

/* ---------------------------------------------------------------- phase 3 and 4 */

void sema_bodies(Sema *S, DaftNode *program) {
    DaftNodeList *items = &program->items;
    for (int i = 0; i < items->len; i++)
        if (items->items[i]->kind == DAFT_N_CONST && sema_global(S, items->items[i]->name) == items->items[i])
            sema_check_const(S, items->items[i]);
    for (int i = 0; i < items->len; i++) {
        DaftNode *d = items->items[i];
        if (d->kind == DAFT_N_ACTOR) {
            actor_resources(S, d);
            for (int j = 0; j < d->items.len; j++) {
                DaftNode *m = d->items.items[j];
                if (m->kind == DAFT_N_METHOD)
                    attributes(S, m, d);
            }
        } else if (d->kind == DAFT_N_SCHEDULE) {
            attributes(S, d, NULL);
            if (d->is_compiled)
                compiled_params(S, d);
        }
    }
    for (int i = 0; i < items->len; i++) {
        DaftNode *d = items->items[i];
        switch (d->kind) {
        case DAFT_N_ACTOR:
            for (int j = 0; j < d->items.len; j++) {
                DaftNode *m = d->items.items[j];
                if (m->kind == DAFT_N_METHOD && m->body && !m->is_extern)
                    sema_check_body(S, m, d, SEMA_CTX_METHOD);
            }
            break;
        case DAFT_N_SCHEDULE:
            if (!d->body)
                break;
            sema_check_body(S, d, NULL, d->is_compiled ? SEMA_CTX_COMPILED : SEMA_CTX_DRIVER);
            if (d->is_compiled)
                sema_compiled_check(S, d);
            break;
        case DAFT_N_FN:
            if (d->body && !d->is_extern)
                sema_check_body(S, d, NULL, SEMA_CTX_DRIVER);
            break;
        default:
            break;
        }
    }
}

/* ---------------------------------------------------------------- driver functions */

static bool is_driver_fn(Sema *S, DaftNode *fn) {
    SemaInfo *in = sema_info(S, fn);
    return in->driver_op || in->driver_via;
}

/* SPEC 4.3: a plain fn whose body uses a driver-only operation, directly or through the fns
 * it calls, is a driver function; actor code calling one would run spawn or get inside an
 * actor, which has no driver to ask. The bodies recorded the operations and the calls; being a
 * driver function spreads backwards along the calls until nothing changes. */
void sema_driver_functions(Sema *S) {
    for (bool changed = true; changed;) {
        changed = false;
        for (int i = 0; i < S->ncalls; i++) {
            SemaCall *c = &S->calls[i];
            if (c->caller->kind != DAFT_N_FN || is_driver_fn(S, c->caller) || !is_driver_fn(S, c->callee))
                continue;
            SemaInfo *in = sema_info(S, c->caller);
            in->driver_via = c->callee;
            in->driver_at = c->at;
            changed = true;
        }
    }
    for (int i = 0; i < S->ncalls; i++) {
        SemaCall *c = &S->calls[i];
        if (c->caller->kind != DAFT_N_METHOD || !is_driver_fn(S, c->callee))
            continue;
        DaftDiag *d = daft_error(S->diags, c->at, "cannot call driver function '%s' from actor code", c->callee->name);
        /* the chain of calls down to the operation (acyclic: a fn is marked only through a
         * fn marked before it) */
        for (DaftNode *f = c->callee;;) {
            SemaInfo *in = sema_info(S, f);
            if (!in->driver_via) {
                daft_note(S->diags, d, in->driver_at, "'%s' is only allowed in driver code, which makes '%s' a driver function",
                          in->driver_op, f->name);
                break;
            }
            daft_note(S->diags, d, in->driver_at, "'%s' calls driver function '%s' here", f->name, in->driver_via->name);
            f = in->driver_via;
        }
    }
}
