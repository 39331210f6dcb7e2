/* Types for semantic analysis: construction, resolving written types, printing,
 * assignability and the adaptation of untyped numeric literals.
 *
 * Rules:
 *   - no implicit conversions between numeric types, except that an untyped constant made
 *     of integer literals takes any numeric type where one is expected, and one made of
 *     float literals takes f32 or f64; otherwise integer literals are i64 and float
 *     literals f64;
 *   - tensor<D, S> accepts tensor<D', S'> when D == D' (a bare `tensor` accepts any D and,
 *     in one call, binds D for every other bare `tensor` of the signature and for the
 *     result), and shapes do not conflict: an unknown shape or a `?` dimension is checked
 *     at run time, two different known ranks or static dimensions are an error;
 *   - Ref<T> accepts Ref<U> when T accepts U; [T] accepts [U] likewise; the empty list
 *     literal fits every list type;
 *   - where Refs may stand for values (top-level arguments of actor methods and of
 *     compiled schedule data parameters), T also accepts Ref<U> when T accepts U; a
 *     [Ref<U>] is not accepted for [T] (SPEC 8.4).
 */
#include "sema.h"

#include <string.h>

DaftType *sema_type_new(Sema *S, DaftTypeKind kind) {
    DaftType *t = daft_arena_alloc(S->arena, sizeof(DaftType));
    t->kind = kind;
    t->rank = -1;
    return t;
}

void sema_types_init(Sema *S) {
    S->t_error = sema_type_new(S, DAFT_TY_ERROR);
    S->t_void = sema_type_new(S, DAFT_TY_VOID);
    S->t_bool = sema_type_new(S, DAFT_TY_BOOL);
    S->t_i32 = sema_type_new(S, DAFT_TY_I32);
    S->t_i64 = sema_type_new(S, DAFT_TY_I64);
    S->t_f32 = sema_type_new(S, DAFT_TY_F32);
    S->t_f64 = sema_type_new(S, DAFT_TY_F64);
    S->t_str = sema_type_new(S, DAFT_TY_STR);
    S->t_comm = sema_type_new(S, DAFT_TY_COMM);
    S->t_range = sema_type_new(S, DAFT_TY_RANGE);
    S->t_module = sema_type_new(S, DAFT_TY_MODULE);
    S->t_tensor_any = sema_tensor_of(S, (DaftDType)SEMA_DT_ANY);
    S->t_any_actor = sema_type_new(S, DAFT_TY_ACTOR); /* actor_class NULL: any actor (std only) */
}

DaftType *sema_ref_of(Sema *S, DaftType *elem) {
    if (sema_is_error(elem))
        return S->t_error;
    if (elem->kind == DAFT_TY_REF)
        return elem; /* Ref<Ref<T>> is Ref<T> */
    DaftType *t = sema_type_new(S, DAFT_TY_REF);
    t->elem = elem;
    return t;
}

/* Data types (SPEC 5.4): scalars, tensors and lists of data types. */
bool sema_is_data_type(const DaftType *t) {
    if (sema_is_error(t))
        return true;
    switch (t->kind) {
    case DAFT_TY_LIST: return !t->elem || sema_is_data_type(t->elem);
    case DAFT_TY_REF:
    case DAFT_TY_ACTOR:
    case DAFT_TY_COMM:
    case DAFT_TY_RANGE:
    case DAFT_TY_MODULE: return false;
    default: return true;
    }
}

DaftType *sema_list_of(Sema *S, DaftType *elem) {
    if (elem && sema_is_error(elem))
        return S->t_error;
    DaftType *t = sema_type_new(S, DAFT_TY_LIST);
    t->elem = elem;
    return t;
}

DaftType *sema_tensor_of(Sema *S, DaftDType dt) {
    DaftType *t = sema_type_new(S, DAFT_TY_TENSOR);
    t->dtype = dt;
    return t;
}

DaftType *sema_actor_type(Sema *S, DaftNode *actor) {
    DaftType *t = sema_type_new(S, DAFT_TY_ACTOR);
    t->actor_class = actor;
    return t;
}

bool sema_is_error(const DaftType *ty) { return !ty || ty->kind == DAFT_TY_ERROR; }
bool sema_is_int(const DaftType *ty) { return ty && (ty->kind == DAFT_TY_I32 || ty->kind == DAFT_TY_I64); }
bool sema_is_float(const DaftType *ty) { return ty && (ty->kind == DAFT_TY_F32 || ty->kind == DAFT_TY_F64); }
bool sema_is_numeric(const DaftType *ty) { return sema_is_int(ty) || sema_is_float(ty); }

bool sema_contains_error(const DaftType *ty) {
    for (; ty; ty = ty->elem)
        if (ty->kind == DAFT_TY_ERROR)
            return true;
    return false;
}

/* ---------------------------------------------------------------- printing */

static const char *tstr(Sema *S, const DaftType *ty) {
    if (!ty)
        return "void";
    switch (ty->kind) {
    case DAFT_TY_TENSOR: {
        const char *dt = ty->dtype == (DaftDType)SEMA_DT_ANY ? NULL : daft_dtype_name(ty->dtype);
        if (ty->rank < 0)
            return dt ? daft_arena_printf(S->arena, "tensor<%s>", dt) : "tensor";
        char *dims = "";
        for (int i = 0; i < ty->rank; i++) {
            const char *sep = i ? ", " : "";
            dims = ty->dims[i] == DAFT_DIM_DYNAMIC
                       ? daft_arena_printf(S->arena, "%s%s?", dims, sep)
                       : daft_arena_printf(S->arena, "%s%s%lld", dims, sep, (long long)ty->dims[i]);
        }
        return daft_arena_printf(S->arena, "tensor<%s, [%s]>", dt ? dt : "?", dims);
    }
    case DAFT_TY_REF:
        return daft_arena_printf(S->arena, "Ref<%s>", tstr(S, ty->elem));
    case DAFT_TY_LIST:
        return ty->elem ? daft_arena_printf(S->arena, "[%s]", tstr(S, ty->elem)) : "[]";
    case DAFT_TY_ACTOR:
        return ty->actor_class ? ty->actor_class->name : "actor";
    default:
        return daft_type_str(S->arena, ty);
    }
}

const char *sema_tstr(Sema *S, const DaftType *ty) { return tstr(S, ty); }

/* ---------------------------------------------------------------- resolving */

static DaftType *scalar_named(Sema *S, const char *name) {
    static const struct {
        const char *name;
        DaftTypeKind kind;
    } tab[] = {{"i32", DAFT_TY_I32}, {"i64", DAFT_TY_I64}, {"f32", DAFT_TY_F32},
               {"f64", DAFT_TY_F64}, {"bool", DAFT_TY_BOOL}, {"str", DAFT_TY_STR},
               {"Comm", DAFT_TY_COMM}};
    for (size_t i = 0; i < sizeof tab / sizeof *tab; i++) {
        if (strcmp(name, tab[i].name) == 0) {
            switch (tab[i].kind) {
            case DAFT_TY_I32: return S->t_i32;
            case DAFT_TY_I64: return S->t_i64;
            case DAFT_TY_F32: return S->t_f32;
            case DAFT_TY_F64: return S->t_f64;
            case DAFT_TY_BOOL: return S->t_bool;
            case DAFT_TY_STR: return S->t_str;
            default: return S->t_comm;
            }
        }
    }
    return NULL;
}

int64_t sema_constant_dim(Sema *S, DaftNode *d) {
    DaftNode *local = sema_local(S, d->name);
    DaftNode *c = local ? local : sema_global(S, d->name);
    int64_t v = 0;
    if (c && c->kind == DAFT_N_CONST && !sema_const_int(S, c->value, &v) && c->ty && sema_is_int(c->ty))
        return DAFT_DIM_DYNAMIC; /* (its value's own error stands) */
    if (!c) {
        daft_error(S->diags, d->span, "tensor dimension '%s' is not a declared constant", d->name);
        return DAFT_DIM_DYNAMIC;
    }
    if (c->kind != DAFT_N_CONST || !sema_const_int(S, c->value, &v)) {
        DaftDiag *e = local ? daft_error(S->diags, d->span, "tensor dimension '%s' must be an integer constant, not a variable", d->name)
                            : daft_error(S->diags, d->span, "tensor dimension '%s' must be an integer constant", d->name);
        sema_note_decl(S, e, c);
        return DAFT_DIM_DYNAMIC;
    }
    d->decl = c;
    if (v < 0) {
        DaftDiag *e = daft_error(S->diags, d->span, "tensor dimension must not be negative ('%s' is %lld)",
                                 d->name, (long long)v);
        sema_note_decl(S, e, c);
        return DAFT_DIM_DYNAMIC;
    }
    return v;
}

/* A written Ref<T>: T must be a data type (SPEC 5.3), so Ref<W>, Ref<Comm> and Ref<Ref<T>>
 * are errors at T (sema_ref_of would silently make Ref<Ref<T>> a Ref<T>). */
static DaftType *resolve_ref_type(Sema *S, DaftNode *tn) {
    DaftType *e = sema_resolve_type(S, tn->type);
    if (sema_is_data_type(e))
        return sema_ref_of(S, e);
    daft_error(S->diags, tn->type->span, "a Ref cannot hold '%s', which is not a data type (a "
               "scalar, a tensor or a list of them)", sema_tstr(S, e));
    return S->t_error;
}

/* Type names of other languages that users write out of habit, and daft's spelling; edit
 * distance would offer 'i32' for 'int' (daft's integers default to i64) and nothing for
 * 'string'. */
static const char *foreign_type_name(const char *name) {
    static const char *const map[][2] = {
        {"int", "i64"},     {"integer", "i64"}, {"long", "i64"},   {"int64", "i64"},  {"int32", "i32"},
        {"float", "f64"},   {"double", "f64"},  {"float64", "f64"}, {"float32", "f32"}, {"string", "str"},
        {"String", "str"},  {"boolean", "bool"}, {"Bool", "bool"},  {"Tensor", "tensor"}, {"ref", "Ref"},
        {"Future", "Ref"},  {"future", "Ref"},  {"list", "[T]"},   {"List", "[T]"},   {"Vec", "[T]"},
    };
    for (size_t i = 0; i < sizeof map / sizeof *map; i++)
        if (strcmp(name, map[i][0]) == 0)
            return map[i][1];
    return NULL;
}

DaftType *sema_resolve_type(Sema *S, DaftNode *tn) {
    if (!tn)
        return S->t_void;
    if (tn->ty)
        return tn->ty;
    DaftType *ty = S->t_error;
    switch (tn->kind) {
    case DAFT_N_TYPE_NAME: {
        const char *name = tn->name ? tn->name : "";
        if ((ty = scalar_named(S, name)))
            break;
        ty = S->t_error;
        if (S->in_std && strcmp(name, "Actor") == 0) {
            ty = S->t_any_actor;
            break;
        }
        if (strcmp(name, "tensor") == 0) {
            ty = S->t_tensor_any;
            break;
        }
        DaftNode *d = sema_global(S, name);
        if (d && d->kind == DAFT_N_ACTOR) {
            ty = sema_actor_type(S, d);
        } else if (d) {
            DaftDiag *e = daft_error(S->diags, tn->span, "'%s' is a %s, not a type", name, sema_decl_what(d));
            sema_note_decl(S, e, d);
        } else {
            const char *sug = foreign_type_name(name);
            sug = sug ? sug : sema_suggest(S, name, SEMA_SUGGEST_TYPE);
            DaftDiag *e = daft_error(S->diags, tn->span, "unknown type '%s'", name);
            DaftNode *sd = sug ? sema_global(S, sug) : NULL;
            if (sug && sug[0] == '[')
                daft_note(S->diags, e, tn->span, "a list type is written '[T]', e.g. '[i64]'");
            else if (sug)
                daft_note(S->diags, e, sd ? sd->name_span : tn->span, "did you mean '%s'?", sug);
        }
        break;
    }
    case DAFT_N_TYPE_TENSOR: {
        DaftDType dt = (DaftDType)SEMA_DT_ANY;
        if (tn->name && !daft_dtype_parse(tn->name, &dt)) {
            static const char *const names[] = {"f32", "bf16", "f16", "i32", "i64"};
            bool wide_float = strcmp(tn->name, "f64") == 0 || strcmp(tn->name, "float64") == 0 ||
                              strcmp(tn->name, "double") == 0 || strcmp(tn->name, "float") == 0;
            const char *sug = sema_suggest_in(tn->name, names, 5);
            DaftSpan sp = tn->name_span.file >= 0 ? tn->name_span : tn->span;
            DaftDiag *e = daft_error(S->diags, sp, "unknown tensor dtype '%s'", tn->name);
            if (wide_float)
                daft_note(S->diags, e, sp, "tensors have no 64-bit float dtype: did you mean 'f32'?");
            else if (sug)
                daft_note(S->diags, e, sp, "did you mean '%s'?", sug);
            else
                daft_note(S->diags, e, sp, "tensor dtypes are f32, bf16, f16, i32 and i64");
            break;
        }
        ty = sema_tensor_of(S, dt);
        if (tn->has_shape && tn->args.len > DAFT_TENSOR_MAX_RANK) {
            daft_error(S->diags, tn->args.items[DAFT_TENSOR_MAX_RANK]->span,
                       "a tensor has at most %d dimensions", DAFT_TENSOR_MAX_RANK);
        } else if (tn->has_shape) {
            ty->rank = tn->args.len;
            ty->dims = daft_arena_alloc(S->arena, sizeof(int64_t) * (size_t)(tn->args.len + 1));
            for (int i = 0; i < tn->args.len; i++) {
                DaftNode *d = tn->args.items[i];
                if (d->kind == DAFT_N_INT_LIT && d->ival >= 0)
                    ty->dims[i] = d->ival;
                else if (d->kind == DAFT_N_INT_LIT) {
                    daft_error(S->diags, d->span, "tensor dimension must not be negative");
                    ty->dims[i] = DAFT_DIM_DYNAMIC;
                } else if (d->kind == DAFT_N_NAME)
                    ty->dims[i] = sema_constant_dim(S, d);
                else
                    ty->dims[i] = DAFT_DIM_DYNAMIC;
            }
        }
        break;
    }
    case DAFT_N_TYPE_REF:
        ty = resolve_ref_type(S, tn);
        break;
    case DAFT_N_TYPE_LIST: {
        DaftType *e = sema_resolve_type(S, tn->type);
        ty = sema_list_of(S, e);
        break;
    }
    default:
        daft_error(S->diags, tn->span, "expected a type");
        break;
    }
    tn->ty = ty;
    return ty;
}

/* ---------------------------------------------------------------- assignability */

static bool dtype_ok(int to, int from, int *bound) {
    if (to == SEMA_DT_ANY) {
        if (!bound || from == SEMA_DT_ANY)
            return true;
        if (*bound < 0) {
            *bound = from;
            return true;
        }
        return *bound == from;
    }
    if (from == SEMA_DT_ANY)
        return true; /* a bare tensor result of a std function: checked at run time */
    return to == from;
}

bool sema_assignable(const DaftType *to, const DaftType *from, bool allow_ref, int *bound) {
    if (sema_is_error(to) || sema_is_error(from))
        return true;
    if (allow_ref && from->kind == DAFT_TY_REF && to->kind != DAFT_TY_REF)
        return sema_assignable(to, from->elem, allow_ref, bound);
    if (to->kind != from->kind)
        return false;
    switch (to->kind) {
    case DAFT_TY_TENSOR:
        if (!dtype_ok((int)to->dtype, (int)from->dtype, bound))
            return false;
        if (to->rank < 0 || from->rank < 0)
            return true;
        if (to->rank != from->rank)
            return false;
        for (int i = 0; i < to->rank; i++)
            if (to->dims[i] != DAFT_DIM_DYNAMIC && from->dims[i] != DAFT_DIM_DYNAMIC &&
                to->dims[i] != from->dims[i])
                return false;
        return true;
    case DAFT_TY_REF:
        return sema_assignable(to->elem, from->elem, false, bound);
    case DAFT_TY_LIST:
        if (!from->elem || !to->elem)
            return true;
        return sema_assignable(to->elem, from->elem, false, bound);
    case DAFT_TY_ACTOR:
        return !to->actor_class || to->actor_class == from->actor_class;
    default:
        return true;
    }
}

DaftType *sema_subst_any(Sema *S, DaftType *ty, int bound) {
    if (!ty || bound < 0)
        return ty;
    if (ty->kind == DAFT_TY_TENSOR && ty->dtype == (DaftDType)SEMA_DT_ANY) {
        DaftType *t = sema_tensor_of(S, (DaftDType)bound);
        t->rank = ty->rank;
        t->dims = ty->dims;
        return t;
    }
    if ((ty->kind == DAFT_TY_REF || ty->kind == DAFT_TY_LIST) && ty->elem) {
        DaftType *e = sema_subst_any(S, ty->elem, bound);
        if (e == ty->elem)
            return ty;
        DaftType *t = sema_type_new(S, ty->kind);
        t->elem = e;
        return t;
    }
    return ty;
}

DaftType *sema_strip_refs(Sema *S, DaftType *ty) {
    if (!ty)
        return ty;
    if (ty->kind == DAFT_TY_REF)
        return sema_strip_refs(S, ty->elem);
    if (ty->kind == DAFT_TY_LIST && ty->elem) {
        DaftType *e = sema_strip_refs(S, ty->elem);
        return e == ty->elem ? ty : sema_list_of(S, e);
    }
    return ty;
}

/* ---------------------------------------------------------------- literals */

bool sema_is_untyped_const(const DaftNode *e) {
    if (!e)
        return false;
    switch (e->kind) {
    case DAFT_N_INT_LIT:
    case DAFT_N_FLOAT_LIT:
        return true;
    case DAFT_N_UNARY:
        return e->op == DAFT_OP_NEG && sema_is_untyped_const(e->lhs);
    case DAFT_N_BINARY:
        return (e->op == DAFT_OP_ADD || e->op == DAFT_OP_SUB || e->op == DAFT_OP_MUL ||
                e->op == DAFT_OP_DIV || e->op == DAFT_OP_MOD) &&
               sema_is_untyped_const(e->lhs) && sema_is_untyped_const(e->rhs);
    default:
        return false;
    }
}

static bool has_float_lit(const DaftNode *e) {
    if (e->kind == DAFT_N_FLOAT_LIT)
        return true;
    if (e->kind == DAFT_N_UNARY)
        return has_float_lit(e->lhs);
    if (e->kind == DAFT_N_BINARY)
        return has_float_lit(e->lhs) || has_float_lit(e->rhs);
    return false;
}

static void retype(Sema *S, DaftNode *e, DaftType *to) {
    e->ty = to;
    if (e->kind == DAFT_N_INT_LIT && to->kind == DAFT_TY_I32 && (e->ival > INT32_MAX || e->ival < INT32_MIN))
        daft_error(S->diags, e->span, "integer literal %lld does not fit in i32", (long long)e->ival);
    if (e->kind == DAFT_N_UNARY)
        retype(S, e->lhs, to);
    else if (e->kind == DAFT_N_BINARY) {
        retype(S, e->lhs, to);
        retype(S, e->rhs, to);
    }
}

bool sema_adapt_literal(Sema *S, DaftNode *e, DaftType *to) {
    if (!sema_is_untyped_const(e) || !sema_is_numeric(to))
        return false;
    if (has_float_lit(e) && !sema_is_float(to))
        return false;
    if (e->kind == DAFT_N_BINARY && e->op == DAFT_OP_MOD && sema_is_float(to))
        return false;
    retype(S, e, to);
    return true;
}

bool sema_coerce(Sema *S, DaftNode *e, DaftType *to, bool allow_ref, int *bound) {
    DaftType *from = e->ty;
    if (sema_is_error(from) || sema_is_error(to))
        return true;
    if (to->kind == DAFT_TY_REF && allow_ref) {
        /* no literal adapts into a Ref */
    } else if (sema_is_numeric(to) && sema_is_untyped_const(e) && from->kind != to->kind) {
        return sema_adapt_literal(S, e, to);
    }
    /* Element-wise adaptation of list literals: [1, 2] where [f32] is expected. The items
     * never take Refs: only a whole argument is resolved (SPEC 8.4), so [r1, r2] is a
     * [Ref<T>], not a [T], and a task would get the Refs' ids as values. */
    if (to->kind == DAFT_TY_LIST && e->kind == DAFT_N_LIST && to->elem) {
        bool ok = true;
        for (int i = 0; i < e->items.len; i++)
            ok = sema_coerce(S, e->items.items[i], to->elem, false, bound) && ok;
        if (ok && e->items.len == 0)
            e->ty = to;
        else if (ok && !sema_contains_error(e->ty))
            e->ty = sema_list_of(S, e->items.items[0]->ty);
        return ok;
    }
    return sema_assignable(to, from, allow_ref, bound);
}
