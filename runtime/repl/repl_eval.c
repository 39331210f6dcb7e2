/* repl_eval.c — the REPL's interpreter of driver code (repl.h).
 *
 * An input is wrapped as `schedule __repl(BINDINGS) {\n<input>\n}`, parsed and checked with
 * the loaded file, and its body evaluated statement by statement over DaftValues (scalars
 * boxed as generated code boxes them: i32/i64 -> DAFT_V_I64, f32/f64 -> DAFT_V_F64, with the
 * checker's types deciding wrap-around and f32 rounding). Every run-time error is a value
 * of the evaluator (Ev.err), reported once with the statement position; nothing exits. */
#include "repl.h"

#include <daft/gen.h>
#include <daft/std.h>

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

typedef enum { FLOW_NORMAL, FLOW_BREAK, FLOW_CONTINUE, FLOW_RETURN, FLOW_ERROR } Flow;

typedef struct Frame {
    DaftValue *slots;
    int nslots;
    DaftValue ret;
} Frame;

typedef struct Ev {
    Repl *R;
    DaftModule *mod;
    DaftDiagEngine *diags;
    char *err;            /* pending run-time error */
    DaftSpan where;       /* innermost statement being run */
    DaftSpan err_where;
    int depth;
    const char *stack_top; /* the stack pointer where the input's evaluation began */
    int chunk_file;       /* the wrapped input's source id */
} Ev;

/* How deep interpreted calls may nest: as deep as the REPL's stack allows, leaving a quarter of
 * it for one call's own expressions and the runtime calls below it. A daftc program recurses
 * natively as deep as its stack goes; a fixed small limit here made such programs fail only at
 * the prompt. repl_main raises the stack's soft limit for this (repl_raise_stack_limit). */
static size_t stack_budget(void) {
    static size_t budget;
    if (!budget) {
        struct rlimit rl;
        size_t lim = (size_t)8 << 20;
        if (getrlimit(RLIMIT_STACK, &rl) == 0)
            lim = rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > REPL_STACK_WANTED ? REPL_STACK_WANTED
                                                                                    : (size_t)rl.rlim_cur;
        budget = lim / 4 * 3;
    }
    return budget;
}

static bool stack_used_up(const Ev *E) {
    /* frame addresses, not locals' (AddressSanitizer may keep locals on a heap "fake stack") */
    const char *here = __builtin_frame_address(0);
    if (!E->stack_top)
        return false;
    size_t used = E->stack_top > here ? (size_t)(E->stack_top - here) : (size_t)(here - E->stack_top);
    return used > stack_budget();
}

/* ---------------------------------------------------------------- helpers */

static bool fail(Ev *E, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static bool fail(Ev *E, const char *fmt, ...) {
    if (E->err)
        return false;
    va_list ap;
    va_start(ap, fmt);
    char buf[2048];
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    E->err = repl_strdup(buf);
    E->err_where = E->where;
    return false;
}

static DaftValue *slot(Frame *F, int i) {
    if (i < 0)
        i = 0;
    if (i >= F->nslots) {
        int n = F->nslots ? F->nslots : 8;
        while (n <= i)
            n *= 2;
        F->slots = realloc(F->slots, sizeof(DaftValue) * (size_t)n);
        for (int k = F->nslots; k < n; k++)
            F->slots[k] = daft_value_none();
        F->nslots = n;
    }
    return &F->slots[i];
}

static void frame_free(Frame *F) {
    for (int i = 0; i < F->nslots; i++)
        daft_value_free(&F->slots[i]);
    free(F->slots);
    daft_value_free(&F->ret);
}

static DaftTypeKind tk(const DaftType *t) { return t ? t->kind : DAFT_TY_ERROR; }
static bool is_float_ty(const DaftType *t) { return tk(t) == DAFT_TY_F32 || tk(t) == DAFT_TY_F64; }

/* Adapts a value to the type it is used as: integer literals in float positions, f32
 * rounding, i32 wrap-around, element-wise for lists. */
static void coerce(DaftValue *v, const DaftType *t) {
    if (!t)
        return;
    switch (t->kind) {
    case DAFT_TY_F32:
    case DAFT_TY_F64: {
        double d = v->kind == DAFT_V_I64 ? (double)v->as.i64 : v->kind == DAFT_V_F64 ? v->as.f64 : 0;
        if (v->kind != DAFT_V_I64 && v->kind != DAFT_V_F64)
            return;
        if (t->kind == DAFT_TY_F32)
            d = (double)(float)d;
        *v = daft_value_f64(d);
        return;
    }
    case DAFT_TY_I32:
        if (v->kind == DAFT_V_I64)
            v->as.i64 = (int32_t)(uint32_t)(uint64_t)v->as.i64;
        return;
    case DAFT_TY_LIST:
        if (v->kind == DAFT_V_LIST)
            for (size_t i = 0; i < v->as.list.len; i++)
                coerce(&v->as.list.items[i], t->elem);
        return;
    default:
        return;
    }
}

static bool num_i(const DaftValue *v, int64_t *out) {
    if (v->kind == DAFT_V_I64)
        *out = v->as.i64;
    else if (v->kind == DAFT_V_F64)
        *out = (int64_t)v->as.f64;
    else if (v->kind == DAFT_V_BOOL)
        *out = v->as.b;
    else
        return false;
    return true;
}

static double num_f(const DaftValue *v) {
    return v->kind == DAFT_V_F64 ? v->as.f64 : v->kind == DAFT_V_I64 ? (double)v->as.i64 : 0;
}

static const char *kind_str(DaftKind k) {
    static const char *n[] = {"none", "i64", "f64", "bool", "str", "tensor", "list", "actor", "Ref", "error"};
    return k < DAFT_V_KIND_COUNT ? n[k] : "?";
}

/* ---------------------------------------------------------------- formatting */

static void sb_add(char **buf, size_t *len, size_t *cap, const char *s, size_t n) {
    if (*len + n + 1 > *cap) {
        while (*len + n + 1 > *cap)
            *cap = *cap ? *cap * 2 : 64;
        *buf = realloc(*buf, *cap);
    }
    memcpy(*buf + *len, s, n);
    *len += n;
    (*buf)[*len] = 0;
}

static void fmt_into(Repl *R, const DaftValue *v, bool top, char **b, size_t *len, size_t *cap, int depth) {
    char tmp[512];
    if (v->kind == DAFT_V_ACTOR) {
        ReplActor *a = repl_actor(R, v->as.actor);
        const char *nm = a ? a->name : "<actor>";
        sb_add(b, len, cap, nm, strlen(nm));
        return;
    }
    if (v->kind == DAFT_V_REF) {
        ReplRef *rf = repl_ref_find(R, v->as.ref.id);
        char st[1024];
        const char *s = rf ? repl_ref_state(R, rf, st, sizeof st) : "released";
        snprintf(tmp, sizeof tmp, "%s(%s, %s)", rf && rf->type ? rf->type : "Ref", rf ? rf->producer : "?", s);
        sb_add(b, len, cap, tmp, strlen(tmp));
        return;
    }
    if (v->kind == DAFT_V_LIST && depth >= DAFT_STD_FMT_MAX_DEPTH) {
        sb_add(b, len, cap, "[...]", 5); /* as daftc's print (daft_std_format_value) */
        return;
    }
    if (v->kind == DAFT_V_LIST) {
        sb_add(b, len, cap, "[", 1);
        for (size_t i = 0; i < v->as.list.len; i++) {
            if (i)
                sb_add(b, len, cap, ", ", 2);
            fmt_into(R, &v->as.list.items[i], false, b, len, cap, depth + 1);
        }
        sb_add(b, len, cap, "]", 1);
        return;
    }
    if (!top && v->kind == DAFT_V_STR) {
        /* quoted as print quotes strings inside lists: format a one-element list */
        DaftValue one = daft_value_list(1);
        one.as.list.items[0] = *v;
        int n = daft_std_format_value(&one, NULL, 0);
        char *s = malloc((size_t)n + 1);
        daft_std_format_value(&one, s, (size_t)n + 1);
        one.as.list.items[0] = daft_value_none();
        daft_value_free(&one);
        sb_add(b, len, cap, s + 1, n >= 2 ? (size_t)n - 2 : 0);
        free(s);
        return;
    }
    int n = daft_std_format_value(v, NULL, 0);
    char *s = malloc((size_t)n + 1);
    daft_std_format_value(v, s, (size_t)n + 1);
    sb_add(b, len, cap, s, (size_t)n);
    free(s);
}

char *repl_format(Repl *R, const DaftValue *v, bool top, size_t *out_len) {
    char *b = NULL;
    size_t len = 0, cap = 0;
    sb_add(&b, &len, &cap, "", 0);
    fmt_into(R, v, top, &b, &len, &cap, 0);
    if (out_len)
        *out_len = len;
    return b;
}

/* ---------------------------------------------------------------- evaluation */

static bool eval(Ev *E, Frame *F, DaftNode *e, DaftValue *out);
static Flow exec(Ev *E, Frame *F, DaftNode *s);

/* The tensor in v, or the tensors `t` says v's lists hold, however deep, against t's tensor
 * type; NULL, or the first that does not fit, with its items' indexes in path ("[2][0]"). */
/* first: the index of v's first item (v's items are appended to a list of that length) */
static const DaftTensor *tensor_misfit(const DaftValue *v, const DaftType *t, char *path,
                                       size_t len, size_t cap, size_t first) {
    if (t && t->kind == DAFT_TY_LIST) {
        for (size_t i = 0; v->kind == DAFT_V_LIST && i < v->as.list.len; i++) {
            int n = snprintf(path + len, cap - len, "[%zu]", first + i);
            size_t at = n > 0 && len + (size_t)n < cap ? len + (size_t)n : len;
            const DaftTensor *bad = tensor_misfit(&v->as.list.items[i], t->elem, path, at, cap, 0);
            if (bad)
                return bad;
            path[len] = '\0';
        }
        return NULL;
    }
    if (!t || t->kind != DAFT_TY_TENSOR || v->kind != DAFT_V_TENSOR)
        return NULL; /* (errors and Refs pass; other kinds: sema's) */
    const DaftTensor *x = &v->as.tensor;
    bool ok = t->dtype >= DAFT_DT_COUNT || (int)x->dtype == (int)t->dtype;
    if (ok && t->rank >= 0) {
        ok = x->rank == t->rank;
        for (int i = 0; ok && i < t->rank; i++)
            ok = t->dims[i] == DAFT_DIM_DYNAMIC || t->dims[i] == x->dims[i];
    }
    return ok ? NULL : x;
}

/* SPEC 5.5's run-time check of a tensor type (a dtype, a static shape) where a value is used
 * as one, also inside lists: what daftc's programs check (compiler/codegen.c check_tensor),
 * said the same way. */
static bool tensor_fits_from(Ev *E, const DaftValue *v, const DaftType *t, size_t first, const char *what_fmt,
                             const char *name, const char *of) {
    char path[160] = "";
    const DaftTensor *x = tensor_misfit(v, t, path, 0, sizeof path, first);
    if (!x)
        return true;
    while (t && t->kind == DAFT_TY_LIST)
        t = t->elem;
    char got[64 + DAFT_MAX_RANK * 24];
    daft_tensor_type_format(x, got, sizeof got);
    char what[300];
    snprintf(what, sizeof what, what_fmt, name ? name : "?", of ? of : "?");
    return fail(E, "%s%s%s: expected %s, got %s", what, *path ? " item " : "", path,
                daft_type_str(E->mod->arena, t), got);
}

static bool tensor_fits_type(Ev *E, const DaftValue *v, const DaftType *t, const char *what_fmt,
                             const char *name, const char *of) {
    return tensor_fits_from(E, v, t, 0, what_fmt, name, of);
}

static bool eval_as(Ev *E, Frame *F, DaftNode *e, const DaftType *t, DaftValue *out) {
    if (!eval(E, F, e, out))
        return false;
    coerce(out, t);
    return true;
}

/* Ctrl-C in a loop of driver code. */
static bool check_interrupt(Ev *E) {
    if (repl_interrupted) {
        repl_interrupted = 0;
        return fail(E, "interrupted (Ctrl-C)");
    }
    return true;
}

static bool arith(Ev *E, DaftOp op, const DaftType *ty, const DaftValue *a, const DaftValue *b, DaftValue *out) {
    DaftTypeKind k = tk(ty);
    if (k == DAFT_TY_STR || (a->kind == DAFT_V_STR && b->kind == DAFT_V_STR)) {
        if (op != DAFT_OP_ADD)
            return fail(E, "invalid operands to '%s'", daft_op_name(op));
        size_t n = a->as.str.len + b->as.str.len;
        char *s = malloc(n + 1);
        memcpy(s, a->as.str.ptr, a->as.str.len);
        memcpy(s + a->as.str.len, b->as.str.ptr, b->as.str.len);
        *out = daft_value_strn(s, n);
        free(s);
        return true;
    }
    if (k == DAFT_TY_LIST || (a->kind == DAFT_V_LIST && b->kind == DAFT_V_LIST)) {
        if (op != DAFT_OP_ADD || a->kind != DAFT_V_LIST || b->kind != DAFT_V_LIST)
            return fail(E, "invalid operands to '%s'", daft_op_name(op));
        *out = daft_value_list(a->as.list.len + b->as.list.len);
        for (size_t i = 0; i < a->as.list.len; i++)
            daft_value_copy(&out->as.list.items[i], &a->as.list.items[i]);
        for (size_t i = 0; i < b->as.list.len; i++)
            daft_value_copy(&out->as.list.items[a->as.list.len + i], &b->as.list.items[i]);
        return true;
    }
    if (k == DAFT_TY_F32 || k == DAFT_TY_F64 || a->kind == DAFT_V_F64) {
        double x = num_f(a), y = num_f(b), r = 0;
        if (k == DAFT_TY_F32) {
            float fx = (float)x, fy = (float)y, fr = 0;
            switch (op) {
            case DAFT_OP_ADD: fr = fx + fy; break;
            case DAFT_OP_SUB: fr = fx - fy; break;
            case DAFT_OP_MUL: fr = fx * fy; break;
            case DAFT_OP_DIV: fr = fx / fy; break;
            default: return fail(E, "invalid operands to '%s'", daft_op_name(op));
            }
            *out = daft_value_f64((double)fr);
            return true;
        }
        switch (op) {
        case DAFT_OP_ADD: r = x + y; break;
        case DAFT_OP_SUB: r = x - y; break;
        case DAFT_OP_MUL: r = x * y; break;
        case DAFT_OP_DIV: r = x / y; break;
        default: return fail(E, "invalid operands to '%s'", daft_op_name(op));
        }
        *out = daft_value_f64(r);
        return true;
    }
    int64_t x, y;
    if (!num_i(a, &x) || !num_i(b, &y))
        return fail(E, "invalid operands to '%s': %s and %s", daft_op_name(op), kind_str(a->kind), kind_str(b->kind));
    uint64_t ux = (uint64_t)x, uy = (uint64_t)y, r = 0;
    bool i32 = k == DAFT_TY_I32;
    int64_t minv = i32 ? INT32_MIN : INT64_MIN;
    switch (op) {
    case DAFT_OP_ADD: r = ux + uy; break;
    case DAFT_OP_SUB: r = ux - uy; break;
    case DAFT_OP_MUL: r = ux * uy; break;
    case DAFT_OP_DIV:
    case DAFT_OP_MOD:
        if (y == 0)
            return fail(E, "division by zero");
        if (x == minv && y == -1)
            r = op == DAFT_OP_DIV ? (uint64_t)minv : 0;
        else
            r = (uint64_t)(op == DAFT_OP_DIV ? x / y : x % y);
        break;
    default: return fail(E, "invalid operands to '%s'", daft_op_name(op));
    }
    int64_t v = (int64_t)r;
    if (i32)
        v = (int32_t)(uint32_t)r;
    *out = daft_value_i64(v);
    return true;
}

static bool compare(Ev *E, DaftOp op, const DaftValue *a, const DaftValue *b, bool *res) {
    int c = 0;
    bool unordered = false;
    if (a->kind == DAFT_V_STR && b->kind == DAFT_V_STR) {
        size_t n = a->as.str.len < b->as.str.len ? a->as.str.len : b->as.str.len;
        c = memcmp(a->as.str.ptr, b->as.str.ptr, n);
        if (c == 0)
            c = a->as.str.len < b->as.str.len ? -1 : a->as.str.len > b->as.str.len;
    } else if (a->kind == DAFT_V_F64 || b->kind == DAFT_V_F64) {
        double x = num_f(a), y = num_f(b);
        unordered = isnan(x) || isnan(y);
        c = x < y ? -1 : x > y;
    } else {
        int64_t x, y;
        if (!num_i(a, &x) || !num_i(b, &y))
            return fail(E, "cannot compare %s and %s", kind_str(a->kind), kind_str(b->kind));
        c = x < y ? -1 : x > y;
    }
    switch (op) {
    case DAFT_OP_EQ: *res = !unordered && c == 0; break;
    case DAFT_OP_NE: *res = unordered || c != 0; break;
    case DAFT_OP_LT: *res = !unordered && c < 0; break;
    case DAFT_OP_LE: *res = !unordered && c <= 0; break;
    case DAFT_OP_GT: *res = !unordered && c > 0; break;
    case DAFT_OP_GE: *res = !unordered && c >= 0; break;
    default: return fail(E, "bad comparison");
    }
    return true;
}

static bool eval_binary(Ev *E, Frame *F, DaftNode *e, DaftValue *out) {
    DaftOp op = e->op;
    if (op == DAFT_OP_AND || op == DAFT_OP_OR) {
        DaftValue a = daft_value_none();
        if (!eval(E, F, e->lhs, &a))
            return false;
        bool av = a.kind == DAFT_V_BOOL && a.as.b;
        daft_value_free(&a);
        if ((op == DAFT_OP_AND && !av) || (op == DAFT_OP_OR && av)) {
            *out = daft_value_bool(av);
            return true;
        }
        DaftValue b = daft_value_none();
        if (!eval(E, F, e->rhs, &b))
            return false;
        *out = daft_value_bool(b.kind == DAFT_V_BOOL && b.as.b);
        daft_value_free(&b);
        return true;
    }
    /* Operands take the wider of the two checked types (integer literals). */
    const DaftType *ot = e->lhs->ty;
    if (is_float_ty(e->rhs->ty) && !is_float_ty(ot))
        ot = e->rhs->ty;
    bool cmp = op == DAFT_OP_EQ || op == DAFT_OP_NE || op == DAFT_OP_LT || op == DAFT_OP_LE || op == DAFT_OP_GT ||
               op == DAFT_OP_GE;
    DaftValue a = daft_value_none(), b = daft_value_none();
    bool ok = eval_as(E, F, e->lhs, ot, &a) && eval_as(E, F, e->rhs, ot, &b);
    if (ok) {
        if (cmp) {
            bool r = false;
            ok = compare(E, op, &a, &b, &r);
            *out = daft_value_bool(r);
        } else {
            ok = arith(E, op, e->ty, &a, &b, out);
        }
    }
    daft_value_free(&a);
    daft_value_free(&b);
    return ok;
}

/* Iterates a range or a list: calls body(i, value) for each element. */
typedef bool (*IterFn)(Ev *E, Frame *F, DaftNode *node, DaftValue *item, void *data, bool *stop);

static bool iterate(Ev *E, Frame *F, DaftNode *node, DaftNode *iter, IterFn fn, void *data) {
    if (iter->kind == DAFT_N_RANGE) {
        DaftValue a = daft_value_none(), b = daft_value_none();
        if (!eval(E, F, iter->lhs, &a) || !eval(E, F, iter->rhs, &b)) {
            daft_value_free(&a);
            return false;
        }
        int64_t lo = 0, hi = 0;
        num_i(&a, &lo);
        num_i(&b, &hi);
        for (int64_t i = lo; i < hi; i++) {
            if (!check_interrupt(E))
                return false;
            DaftValue it = daft_value_i64(i);
            bool stop = false;
            if (!fn(E, F, node, &it, data, &stop))
                return false;
            if (stop)
                break;
        }
        return true;
    }
    DaftValue list = daft_value_none();
    if (!eval(E, F, iter, &list))
        return false;
    if (list.kind != DAFT_V_LIST) {
        daft_value_free(&list);
        return fail(E, "cannot iterate a %s", kind_str(list.kind));
    }
    bool ok = true;
    for (size_t i = 0; i < list.as.list.len && ok; i++) {
        if (!check_interrupt(E)) {
            ok = false;
            break;
        }
        DaftValue it = daft_value_none();
        daft_value_copy(&it, &list.as.list.items[i]);
        bool stop = false;
        ok = fn(E, F, node, &it, data, &stop);
        if (stop)
            break;
    }
    daft_value_free(&list);
    return ok;
}

typedef struct CompData {
    DaftValue *items;
    size_t len, cap;
} CompData;

static bool comp_item(Ev *E, Frame *F, DaftNode *node, DaftValue *item, void *data, bool *stop) {
    (void)stop;
    CompData *c = data;
    DaftValue *var = slot(F, node->slot);
    daft_value_free(var);
    *var = *item;
    if (node->cond) {
        DaftValue t = daft_value_none();
        if (!eval(E, F, node->cond, &t))
            return false;
        bool keep = t.kind == DAFT_V_BOOL && t.as.b;
        daft_value_free(&t);
        if (!keep)
            return true;
    }
    DaftValue v = daft_value_none();
    if (!eval_as(E, F, node->value, node->ty ? node->ty->elem : NULL, &v))
        return false;
    if (c->len == c->cap) {
        c->cap = c->cap ? c->cap * 2 : 8;
        c->items = realloc(c->items, sizeof(DaftValue) * c->cap);
    }
    c->items[c->len++] = v;
    return true;
}

static bool eval_comprehension(Ev *E, Frame *F, DaftNode *e, DaftValue *out) {
    CompData c = {0};
    bool ok = iterate(E, F, e, e->iter, comp_item, &c);
    if (!ok) {
        for (size_t i = 0; i < c.len; i++)
            daft_value_free(&c.items[i]);
        free(c.items);
        return false;
    }
    *out = daft_value_list(c.len);
    for (size_t i = 0; i < c.len; i++)
        out->as.list.items[i] = c.items[i];
    free(c.items);
    return true;
}

/* ---------------------------------------------------------------- calls */

static DaftNode *named(DaftNode *call, const char *name) {
    for (int i = 0; i < call->args.len; i++) {
        DaftNode *a = call->args.items[i];
        if (a && a->kind == DAFT_N_NAMED_ARG && a->name && strcmp(a->name, name) == 0)
            return a->value;
    }
    return NULL;
}

static DaftNode *positional(DaftNode *call, int k) {
    for (int i = 0; i < call->args.len; i++) {
        DaftNode *a = call->args.items[i];
        if (a && a->kind != DAFT_N_NAMED_ARG && k-- == 0)
            return a;
    }
    return NULL;
}

static int npositional(DaftNode *call) {
    int n = 0;
    for (int i = 0; i < call->args.len; i++)
        n += call->args.items[i] && call->args.items[i]->kind != DAFT_N_NAMED_ARG;
    return n;
}

static char *ref_what(Repl *R, DaftRef r) {
    ReplRef *rf = repl_ref_find(R, r.id);
    if (!rf)
        return repl_strdup("a Ref");
    ReplActor *a = rf->owner ? repl_actor(R, rf->owner) : NULL;
    const char *dot = strrchr(rf->producer, '.');
    if (a && dot)
        return repl_printf("actor '%s' (%s) method '%s'", a->name, a->cls, dot + 1);
    return repl_printf("'%s'", rf->producer);
}

/* SPEC 14.3: a wait that lasts names the first of its Refs not ready, as a compiled program's
 * (daft_gen_wait) does. */
static void wait_report(Repl *R, const char *op, const DaftValue *const *items, const uint8_t *ready, size_t len,
                        double waited) {
    char also[64];
    size_t first = daft_rt_wait_pending(ready, len, also, sizeof also);
    if (first == len)
        return;
    DaftRef r = items[first]->as.ref;
    ReplRef *rf = r.id & REPL_PLAN_REF_BIT ? repl_ref_find(R, r.id) : NULL;
    if (rf && rf->plan)
        daft_rt_report_wait_schedule(R->rt, op, rf->plan->schedule, waited, also);
    else if (!(r.id & REPL_PLAN_REF_BIT))
        daft_rt_report_wait(R->rt, op, r, waited, also);
}

/* SPEC 10.3: get of a list waits until each of its Refs is ready, or until one of those ready
 * holds an error: the first in list order of those that do at that moment (*failed; NULL when
 * all are ready), which get raises at once, as a compiled program's does. The runtime's Refs
 * wait in the runtime (daft_rt_wait_list) in slices (Ctrl-C), the session's own (compiled
 * schedules' results) are polled. False after a failure was printed (Ctrl-C, the timeout). */
static bool get_list_wait(Ev *E, const DaftValue *const *items, size_t len, double timeout,
                          const DaftValue **failed) {
    Repl *R = E->R;
    DaftRef *rr = calloc(len + 1, sizeof *rr);
    size_t *ridx = calloc(len + 1, sizeof *ridx);
    uint8_t *ready = calloc(len + 1, 1), *rready = calloc(len + 1, 1);
    size_t nr = 0;
    for (size_t i = 0; i < len; i++)
        if (!(items[i]->as.ref.id & REPL_PLAN_REF_BIT)) {
            ridx[nr] = i;
            rr[nr++] = items[i]->as.ref;
        }
    double t0 = repl_now(), deadline = timeout < 0 ? -1 : t0 + timeout, report_at = 0, waited;
    bool ok = true;
    *failed = NULL;
    for (;;) {
        size_t perr = len, ppending = 0;
        for (size_t i = 0; i < len; i++)
            if ((items[i]->as.ref.id & REPL_PLAN_REF_BIT) && !ready[i]) {
                ready[i] = (uint8_t)repl_ref_ready(R, items[i]->as.ref);
                ppending += !ready[i];
                if (ready[i] && perr == len && repl_ref_failed(R, items[i]->as.ref))
                    perr = i; /* (a value, once here, stays as it is: each is looked at once) */
            }
        double slice = perr < len ? 0 : ppending ? 0.002 : 0.05; /* (Ctrl-C is looked at between slices) */
        if (deadline >= 0 && deadline - repl_now() < slice)
            slice = deadline - repl_now() > 0 ? deadline - repl_now() : 0;
        int idx = -1, rc = nr ? daft_rt_wait_list(R->rt, rr, (int)nr, slice, "get", &idx) : 0;
        if (rc == DAFT_EINVAL) {
            ok = fail(E, "get: %s", daft_rt_last_error(R->rt));
            break;
        }
        size_t rerr = rc == 0 && idx >= 0 ? ridx[idx] : len;
        if (perr < len || rerr < len) {
            *failed = items[perr < rerr ? perr : rerr];
            break;
        }
        if (rc == 0 && !ppending)
            break;
        for (size_t j = 0; j < nr; j++) /* (the first Ref not ready and those before it) */
            ready[ridx[j]] = rc == 0 || (int)j < idx;
        if (repl_interrupted) {
            repl_interrupted = 0;
            ok = fail(E, "get: interrupted (Ctrl-C); the tasks keep running and the Refs stay valid");
            break;
        }
        if (deadline >= 0 && repl_now() >= deadline) {
            size_t first = daft_rt_wait_pending(ready, len, NULL, 0);
            char *w = ref_what(R, items[first < len ? first : 0]->as.ref);
            ok = fail(E, "get: timed out after %g s waiting for %s", timeout, w);
            free(w);
            break;
        }
        if (rc == 0) { /* only the session's own are left */
            struct timespec ts = {0, 2 * 1000000};
            nanosleep(&ts, NULL);
        }
        if ((waited = repl_wait_report_due(R, t0, &report_at)) > 0) {
            if (nr && daft_rt_wait(R->rt, rr, (int)nr, 0, 0, rready) >= 0)
                for (size_t j = 0; j < nr; j++)
                    ready[ridx[j]] = rready[j];
            wait_report(R, "get", items, ready, len, waited);
        }
    }
    free(rr);
    free(ridx);
    free(ready);
    free(rready);
    return ok;
}

/* get() of a value: Refs are waited for; lists item by item, once every Ref in them is ready
 * (or one of those holds an error, get_list_wait); an error value raises. */
/* op: the driver operation that waits (get, is_error, error_text), for its report (SPEC 14.3). */
static bool get_value(Ev *E, const DaftValue *v, double timeout, DaftValue *out, bool raise, const char *op) {
    if (v->kind == DAFT_V_REF) {
        int rc = repl_ref_get_for(E->R, v->as.ref, timeout, op, out);
        if (rc == -100)
            return fail(E, "get: interrupted (Ctrl-C); the task keeps running and the Ref stays valid");
        if (rc == DAFT_ETIMEDOUT) {
            char *w = ref_what(E->R, v->as.ref);
            fail(E, "get: timed out after %g s waiting for %s", timeout, w);
            free(w);
            return false;
        }
        if (rc != 0)
            return fail(E, "get: %s", daft_rt_last_error(E->R->rt));
        if (raise && out->kind == DAFT_V_ERROR) {
            fail(E, "%s", out->as.error.msg);
            daft_value_free(out);
            return false;
        }
        return true;
    }
    if (v->kind == DAFT_V_LIST) {
        /* (a list of Refs, SPEC 10.3: sema allows no deeper one) */
        const DaftValue **refs = calloc(v->as.list.len + 1, sizeof *refs);
        size_t nrefs = 0;
        for (size_t i = 0; raise && i < v->as.list.len; i++)
            if (v->as.list.items[i].kind == DAFT_V_REF)
                refs[nrefs++] = &v->as.list.items[i];
        const DaftValue *failed = NULL;
        bool ok = nrefs < 2 || get_list_wait(E, refs, nrefs, timeout, &failed);
        free(refs);
        if (!ok)
            return false;
        if (failed)
            return get_value(E, failed, -1, out, raise, op); /* (raises it) */
        if (nrefs > 1)
            timeout = -1; /* every one is ready: the gets below do not wait */
        *out = daft_value_list(v->as.list.len);
        for (size_t i = 0; i < v->as.list.len; i++)
            if (!get_value(E, &v->as.list.items[i], timeout, &out->as.list.items[i], raise, op)) {
                daft_value_free(out);
                return false;
            }
        return true;
    }
    daft_value_copy(out, v);
    return true;
}

static bool timeout_of(Ev *E, Frame *F, DaftNode *call, int pos, const char *what, double *t) {
    DaftNode *n = named(call, "timeout");
    if (!n)
        n = positional(call, pos);
    *t = -1;
    if (!n)
        return true;
    DaftValue v = daft_value_none();
    if (!eval(E, F, n, &v))
        return false;
    *t = num_f(&v);
    daft_value_free(&v);
    if (!(*t >= 0)) /* (the runtime takes a negative one for none: a wait forever) */
        return fail(E, "%s: timeout must be a number of seconds >= 0, not %g", what,
                    isnan(*t) ? NAN : *t); /* (not "-nan") */
    return true;
}


static bool builtin(Ev *E, Frame *F, DaftNode *call, const char *name, DaftValue *out) {
    Repl *R = E->R;
    DaftNode *a0 = positional(call, 0);
    if (strcmp(name, "print") == 0) {
        char *line = NULL;
        size_t len = 0, cap = 0;
        sb_add(&line, &len, &cap, "", 0);
        int k = 0;
        for (int i = 0; i < call->args.len; i++) {
            DaftNode *a = call->args.items[i];
            if (!a || a->kind == DAFT_N_NAMED_ARG)
                continue;
            DaftValue v = daft_value_none();
            if (!eval(E, F, a, &v)) {
                free(line);
                return false;
            }
            size_t n;
            char *s = repl_format(R, &v, true, &n);
            if (k++)
                sb_add(&line, &len, &cap, " ", 1);
            sb_add(&line, &len, &cap, s, n);
            free(s);
            daft_value_free(&v);
        }
        sb_add(&line, &len, &cap, "\n", 1);
        fwrite(line, 1, len, R->out);
        fflush(R->out);
        free(line);
        return true;
    }
    if (!a0)
        return fail(E, "%s() needs an argument", name);
    DaftValue v = daft_value_none();
    if (!eval(E, F, a0, &v))
        return false;
    bool ok = true;
    if (strcmp(name, "get") == 0) {
        double t;
        ok = timeout_of(E, F, call, 1, "get", &t) && get_value(E, &v, t, out, true, "get");
        if (ok)
            coerce(out, call->ty);
    } else if (strcmp(name, "wait") == 0) {
        DaftNode *nn = positional(call, 1);
        int64_t n = 1;
        double t = -1;
        if (nn) {
            DaftValue nv = daft_value_none();
            ok = eval(E, F, nn, &nv);
            num_i(&nv, &n);
            daft_value_free(&nv);
        }
        ok = ok && timeout_of(E, F, call, 2, "wait", &t);
        if (ok && v.kind != DAFT_V_LIST)
            ok = fail(E, "wait: expected a list of Refs");
        if (ok && n < 0)
            ok = fail(E, "wait: n = %lld is negative", (long long)n);
        if (ok && (size_t)n > v.as.list.len)
            ok = fail(E, "wait: n = %lld but only %zu refs", (long long)n, v.as.list.len);
        if (ok) {
            size_t len = v.as.list.len;
            double t0 = repl_now(), deadline = t < 0 ? -1 : t0 + t, report_at = 0, waited;
            uint8_t *ready = calloc(len + 1, 1);
            const DaftValue **items = calloc(len + 1, sizeof *items);
            for (size_t i = 0; i < len; i++)
                items[i] = &v.as.list.items[i];
            for (;;) {
                int cnt = 0;
                for (size_t i = 0; i < len; i++) {
                    if (!ready[i])
                        ready[i] = v.as.list.items[i].kind != DAFT_V_REF || repl_ref_ready(R, v.as.list.items[i].as.ref);
                    cnt += ready[i];
                }
                if (cnt >= n || (deadline >= 0 && repl_now() >= deadline))
                    break;
                if (repl_interrupted) {
                    repl_interrupted = 0;
                    ok = fail(E, "wait: interrupted (Ctrl-C)");
                    break;
                }
                /* sleep in the runtime: wait for any one more */
                DaftRef rs[64];
                int m = 0;
                for (size_t i = 0; i < len && m < 64; i++)
                    if (!ready[i] && !(v.as.list.items[i].as.ref.id & REPL_PLAN_REF_BIT))
                        rs[m++] = v.as.list.items[i].as.ref;
                if (m) {
                    daft_rt_wait(R->rt, rs, m, 1, 0.05, NULL);
                } else {
                    struct timespec ts = {0, 2 * 1000000};
                    nanosleep(&ts, NULL);
                }
                if ((waited = repl_wait_report_due(R, t0, &report_at)) > 0)
                    wait_report(R, "wait", (const DaftValue *const *)items, ready, len, waited);
            }
            if (ok) {
                size_t cnt = 0;
                for (size_t i = 0; i < len; i++)
                    cnt += ready[i] != 0;
                *out = daft_value_list(cnt);
                cnt = 0;
                for (size_t i = 0; i < len; i++)
                    if (ready[i])
                        out->as.list.items[cnt++] = daft_value_i64((int64_t)i);
            }
            free(ready);
            free(items);
        }
    } else if (strcmp(name, "is_error") == 0 || strcmp(name, "error_text") == 0) {
        DaftValue r = daft_value_none();
        ok = get_value(E, &v, -1, &r, false, name);
        if (ok) {
            bool is_err = r.kind == DAFT_V_ERROR;
            if (name[0] == 'i')
                *out = daft_value_bool(is_err);
            else
                *out = daft_value_str(is_err ? r.as.error.msg : "");
        }
        daft_value_free(&r);
    } else if (strcmp(name, "fail") == 0) {
        ok = fail(E, "%s", v.kind == DAFT_V_STR ? v.as.str.ptr : "fail");
    } else if (strcmp(name, "len") == 0) {
        if (v.kind == DAFT_V_LIST)
            *out = daft_value_i64((int64_t)v.as.list.len);
        else if (v.kind == DAFT_V_STR)
            *out = daft_value_i64((int64_t)v.as.str.len);
        else if (v.kind == DAFT_V_TENSOR)
            *out = daft_value_i64(v.as.tensor.rank ? v.as.tensor.dims[0] : 1);
        else
            ok = fail(E, "len() of a %s", kind_str(v.kind));
    } else if (strcmp(name, "str") == 0) {
        char *s;
        size_t n;
        if (v.kind == DAFT_V_F64 && tk(a0->ty) == DAFT_TY_F32) {
            char b[64];
            daft_std_format_float((double)(float)v.as.f64, b, sizeof b);
            s = repl_strdup(b);
            n = strlen(s);
        } else {
            s = repl_format(R, &v, true, &n);
        }
        *out = daft_value_strn(s, n);
        free(s);
    } else if (!strcmp(name, "i32") || !strcmp(name, "i64") || !strcmp(name, "f32") || !strcmp(name, "f64")) {
        if (name[0] == 'f') {
            double d = num_f(&v);
            *out = daft_value_f64(name[1] == '3' ? (double)(float)d : d);
        } else {
            bool is32 = name[1] == '3';
            if (v.kind == DAFT_V_F64) {
                double d = v.as.f64;
                /* truncated toward zero, so i32 takes (-2^31 - 1, 2^31) and i64 [-2^63, 2^63) (SPEC 6.2) */
                bool fits = is32 ? d > -2147483649.0 && d < 2147483648.0
                                 : d >= -9223372036854775808.0 && d < 9223372036854775808.0;
                if (!fits) /* also NaN */
                    ok = fail(E, "%s: value %g is out of range", name, d);
                else
                    *out = daft_value_i64((int64_t)d);
            } else {
                int64_t x = 0;
                num_i(&v, &x);
                if (is32 && (x < INT32_MIN || x > INT32_MAX))
                    ok = fail(E, "%s: value %lld is out of range", name, (long long)x);
                else
                    *out = daft_value_i64(x);
            }
        }
    } else {
        ok = fail(E, "'%s' is not supported by the REPL", name);
    }
    daft_value_free(&v);
    return ok;
}

/* std functions: uniform ABI; named arguments go last, identifiers as strings. */
static bool std_call(Ev *E, Frame *F, DaftNode *call, DaftNode *decl, DaftValue *out) {
    const DaftStdFn *entry = daft_std_lookup(decl->symbol);
    DaftStdFnPtr fn = entry ? entry->fn : repl_coll_fn(decl->symbol);
    if (!fn)
        return fail(E, "'%s' is not available in the REPL (no C implementation of '%s' is linked)", decl->name,
                    decl->symbol ? decl->symbol : "?");
    int n = call->args.len;
    DaftValue *args = calloc((size_t)n + 1, sizeof *args);
    int k = 0;
    bool ok = true;
    for (int pass = 0; pass < 2 && ok; pass++)
        for (int i = 0; i < n && ok; i++) {
            DaftNode *a = call->args.items[i];
            bool is_named = a->kind == DAFT_N_NAMED_ARG;
            if (is_named != (pass == 1))
                continue;
            DaftNode *v = is_named ? a->value : a;
            if (is_named && v->kind == DAFT_N_NAME && (!v->decl || v->decl->kind == DAFT_N_IMPORT)) {
                args[k++] = daft_value_str(v->name);
                continue;
            }
            const DaftType *pt = !is_named && i < decl->params.len ? decl->params.items[i]->ty : NULL;
            ok = eval_as(E, F, v, pt, &args[k]);
            if (ok && args[k].kind == DAFT_V_REF)
                ok = fail(E, "%s: got a Ref; call get() first", decl->name);
            k++;
        }
    if (ok && !entry && !repl_coll_wait_inputs(E->R, args, k))
        ok = fail(E, "collective.%s: interrupted (Ctrl-C) while waiting for its inputs; nothing was submitted",
                  decl->name);
    if (ok) {
        DaftValue r = daft_value_none();
        if (fn(NULL, args, k, &r) != 0 || r.kind == DAFT_V_ERROR) {
            ok = fail(E, "%s", r.kind == DAFT_V_ERROR ? r.as.error.msg : "std call failed");
            daft_value_free(&r);
        } else {
            if (!entry && call->ty && call->ty->kind == DAFT_TY_LIST && call->ty->elem)
                repl_coll_note(E->R, &r, decl->name, daft_type_str(E->mod->arena, call->ty->elem));
            *out = r;
        }
    }
    for (int i = 0; i < k; i++)
        daft_value_free(&args[i]);
    free(args);
    return ok;
}

static bool eval_args(Ev *E, Frame *F, DaftNode *call, const DaftNodeList *params, DaftValue *args, int n) {
    for (int i = 0; i < n; i++) {
        DaftNode *a = positional(call, i);
        args[i] = daft_value_none();
        if (!a)
            return fail(E, "missing argument %d", i + 1);
        const DaftType *pt = params && i < params->len ? params->items[i]->ty : NULL;
        if (!eval(E, F, a, &args[i]))
            return false;
        if (args[i].kind != DAFT_V_REF)
            coerce(&args[i], pt);
    }
    return true;
}

static void free_args(DaftValue *args, int n) {
    for (int i = 0; i < n; i++)
        daft_value_free(&args[i]);
    free(args);
}

/* A plain fn or plain schedule, interpreted. */
static bool call_body(Ev *E, DaftNode *decl, DaftValue *args, int n, DaftValue *out) {
    if (!decl->body)
        return fail(E, "'%s' has no body", decl->name);
    if (stack_used_up(E))
        return fail(E, "call depth limit reached in '%s': %d nested calls use up the REPL's stack", decl->name,
                    E->depth);
    for (int i = 0; i < n && i < decl->params.len; i++) {
        const DaftNode *p = decl->params.items[i];
        if (!tensor_fits_type(E, &args[i], p->ty, "argument '%s' of '%s'", p->name, decl->name))
            return false;
    }
    Frame G = {0};
    G.ret = daft_value_none();
    for (int i = 0; i < n && i < decl->params.len; i++) {
        DaftValue *s = slot(&G, decl->params.items[i]->slot);
        *s = args[i];
        args[i] = daft_value_none();
    }
    DaftSpan saved = E->where;
    E->depth++;
    Flow fl = exec(E, &G, decl->body);
    E->depth--;
    /* the result is checked at the 'return' that gave it, as daftc's code reports it (SPEC 14.4) */
    bool ok = fl != FLOW_ERROR &&
              tensor_fits_type(E, &G.ret, decl->ty, "result of '%s'%.0s", decl->name, NULL);
    if (ok)
        E->where = saved;
    if (ok) {
        *out = G.ret;
        G.ret = daft_value_none();
        coerce(out, decl->ty);
    }
    frame_free(&G);
    return ok;
}

static bool method_call(Ev *E, Frame *F, DaftNode *call, DaftNode *decl, DaftValue *out) {
    Repl *R = E->R;
    DaftValue recv = daft_value_none();
    if (!eval(E, F, call->callee->lhs, &recv))
        return false;
    if (recv.kind != DAFT_V_ACTOR) {
        daft_value_free(&recv);
        return fail(E, "method call on a %s", kind_str(recv.kind));
    }
    ReplActor *a = repl_actor(R, recv.as.actor);
    if (!a)
        return fail(E, "unknown actor %u", recv.as.actor);
    int mi = daft_rt_method_index(R->rt, a->class_id, decl->name);
    if (mi < 0)
        return fail(E, "actor '%s' (%s) has no method '%s' (it was spawned from an earlier load)", a->name, a->cls,
                    decl->name);
    int n = decl->params.len;
    DaftValue *args = calloc((size_t)n + 1, sizeof *args);
    if (!eval_args(E, F, call, &decl->params, args, n)) {
        free_args(args, n);
        return false;
    }
    /* Plan outputs and local Refs are REPL Refs: pass their values; an error among them
     * makes this call's Ref hold the same error without running the task (SPEC §14.2). */
    DaftValue err = daft_value_none();
    for (int i = 0; i < n; i++) {
        if (args[i].kind != DAFT_V_REF || !(args[i].as.ref.id & REPL_PLAN_REF_BIT))
            continue;
        DaftValue v = daft_value_none();
        if (!get_value(E, &args[i], -1, &v, false, "get")) {
            free_args(args, n);
            daft_value_free(&err);
            return false;
        }
        if (v.kind == DAFT_V_ERROR) {
            if (err.kind == DAFT_V_NONE)
                err = v;
            else
                daft_value_free(&v);
            continue;
        }
        daft_value_free(&args[i]);
        args[i] = v;
        coerce(&args[i], decl->params.items[i]->ty);
    }
    char *producer = repl_printf("%s.%s", a->name, decl->name);
    const char *type = daft_type_str(E->mod->arena, call->ty);
    if (err.kind == DAFT_V_ERROR) {
        /* a dependency failed: the task does not run, its Ref holds the same error */
        DaftRef r = {R->next_plan_ref++ | REPL_PLAN_REF_BIT, 0};
        repl_ref_note(R, r, producer, type, NULL, 0, 0);
        repl_ref_find(R, r.id)->owner = a->h; /* its producer, for collectives */
        repl_ref_set_local(R, r.id, &err);
        *out = daft_value_ref(r);
    } else {
        DaftRef r;
        double t0 = repl_now();
        int rc = daft_rt_call(R->rt, a->h, mi, args, n, &r);
        repl_trace_event(R, producer, "call", t0, repl_now());
        if (rc != 0) {
            free(producer);
            free_args(args, n);
            return fail(E, "call %s.%s: %s", a->name, decl->name, daft_rt_last_error(R->rt));
        }
        repl_ref_note(R, r, producer, type, NULL, 0, 0);
        *out = daft_value_ref(r);
    }
    daft_value_free(&err);
    free(producer);
    free_args(args, n);
    if (call->ty && tk(call->ty) != DAFT_TY_REF && tk(call->ty) != DAFT_TY_VOID) {
        /* the checker typed the call as the value itself (as codegen does): get it now */
        DaftValue r = *out;
        *out = daft_value_none();
        bool ok = get_value(E, &r, -1, out, true, "get");
        daft_value_free(&r);
        return ok;
    }
    return true;
}

static bool eval_call(Ev *E, Frame *F, DaftNode *e, DaftValue *out) {
    DaftNode *callee = e->callee;
    DaftNode *decl = e->decl ? e->decl : callee ? callee->decl : NULL;
    if (!decl) {
        if (callee && callee->kind == DAFT_N_NAME && callee->name)
            return builtin(E, F, e, callee->name, out);
        return fail(E, "call of an unresolved function");
    }
    switch (decl->kind) {
    case DAFT_N_FN:
        if (decl->is_extern || !decl->body) {
            if (decl->symbol && (daft_std_lookup(decl->symbol) || repl_coll_fn(decl->symbol)))
                return std_call(E, F, e, decl, out);
            return fail(E, "calling extern function '%s' from the REPL prompt is not supported (call it from an "
                           "actor method)",
                        decl->name);
        }
        /* fallthrough */
    case DAFT_N_SCHEDULE: {
        int n = decl->params.len;
        DaftValue *args = calloc((size_t)n + 1, sizeof *args);
        bool ok = eval_args(E, F, e, &decl->params, args, n);
        bool compiled = decl->kind == DAFT_N_SCHEDULE && decl->is_compiled;
        /* a compiled schedule checks its tensor parameters before its plan's inputs (SPEC 14.1),
         * as call_body does for the others; a Ref's value is checked by its plan's readers */
        for (int i = 0; ok && compiled && i < n; i++) {
            const DaftNode *p = decl->params.items[i];
            if (args[i].kind != DAFT_V_REF)
                ok = tensor_fits_type(E, &args[i], p->ty, "argument '%s' of '%s'", p->name, decl->name);
        }
        if (ok && compiled) {
            char err[1024] = "";
            double t0 = repl_now();
            int rc = repl_call_compiled(E->R, E->mod, E->diags, decl, args, n, e->ty, out, err, sizeof err);
            repl_trace_event(E->R, decl->name, "compiled schedule", t0, repl_now());
            if (rc != 0) {
                if (E->diags && E->diags->error_count) {
                    repl_flush();
                    daft_diag_print(E->diags, stderr, DAFT_DIAG_TEXT);
                    daft_diag_clear(E->diags);
                }
                ok = fail(E, "%s", err);
            }
        } else if (ok) {
            ok = call_body(E, decl, args, n, out);
        }
        free_args(args, n);
        return ok;
    }
    case DAFT_N_METHOD:
        if (!callee || callee->kind != DAFT_N_FIELD_ACCESS || !callee->lhs || callee->lhs->kind == DAFT_N_SELF)
            return fail(E, "unsupported method call");
        return method_call(E, F, e, decl, out);
    default:
        return fail(E, "calling a %s is not supported", daft_node_kind_name(decl->kind));
    }
}

static bool eval_spawn(Ev *E, Frame *F, DaftNode *e, DaftValue *out) {
    Repl *R = E->R;
    const ReplClass *rc = e->name ? repl_class(R, e->name) : NULL;
    if (!rc)
        return fail(E, "spawn: actor class '%s' is not loaded", e->name ? e->name : "?");
    DaftNode *cls = e->decl && e->decl->kind == DAFT_N_ACTOR ? e->decl
                  : e->ty && e->ty->kind == DAFT_TY_ACTOR ? e->ty->actor_class : NULL;
    DaftNode *init = NULL;
    for (int i = 0; cls && i < cls->items.len; i++)
        if (cls->items.items[i]->kind == DAFT_N_METHOD && cls->items.items[i]->name &&
            strcmp(cls->items.items[i]->name, "init") == 0)
            init = cls->items.items[i];
    int n = init ? init->params.len : npositional(e);
    DaftValue *args = calloc((size_t)n + 1, sizeof *args);
    if (!eval_args(E, F, e, init ? &init->params : NULL, args, n)) {
        free_args(args, n);
        return false;
    }
    for (int i = 0; i < n; i++)
        if (args[i].kind == DAFT_V_REF) {
            free_args(args, n);
            return fail(E, "spawn: arguments must be values, not Refs");
        }
    int gpu = -1, node = -1;
    bool on_cpu = false;
    for (int i = 0; i < e->items.len; i++) {
        DaftNode *p = e->items.items[i];
        if (!p || p->kind != DAFT_N_PLACEMENT || !p->name)
            continue;
        if (strcmp(p->name, "cpu") == 0) {
            on_cpu = true;
            continue;
        }
        if (!p->value)
            continue;
        DaftValue v = daft_value_none();
        if (!eval(E, F, p->value, &v)) {
            free_args(args, n);
            return false;
        }
        int64_t x = -1;
        num_i(&v, &x);
        if (strcmp(p->name, "gpu") == 0)
            gpu = (int)x;
        else
            node = (int)x;
    }
    /* A `gpus = 1` class gets the next free GPU unless placed (`on gpu(i)`, `on cpu`). */
    int spawn_gpu = on_cpu ? -1 : gpu >= 0 ? gpu : rc->gpus > 0 ? DAFT_SPAWN_ANY_GPU : -1;
    DaftSpawnOpts opts = {NULL, node, spawn_gpu}; /* (a node the runtime cannot use: dead, SPEC 10.1) */
    DaftActor h = 0;
    repl_flush();
    /* Actor processes are forked from this one: they must not take the REPL's Ctrl-C. */
    sigset_t block, old;
    sigemptyset(&block);
    sigaddset(&block, SIGINT);
    sigprocmask(SIG_BLOCK, &block, &old);
    int rc2 = daft_rt_spawn(R->rt, rc->class_id, args, n, &opts, &h);
    sigprocmask(SIG_SETMASK, &old, NULL);
    free_args(args, n);
    if (rc2 != 0)
        return fail(E, "spawn %s: %s", e->name, daft_rt_last_error(R->rt));
    if ((int)h >= R->nactors_cap) {
        int cap = R->nactors_cap ? R->nactors_cap * 2 : 16;
        while (cap <= (int)h)
            cap *= 2;
        R->actors = realloc(R->actors, sizeof(ReplActor *) * (size_t)cap);
        for (int i = R->nactors_cap; i < cap; i++)
            R->actors[i] = NULL;
        R->nactors_cap = cap;
    }
    ReplActor *a = calloc(1, sizeof *a);
    a->h = h;
    a->class_id = rc->class_id;
    a->cls = repl_strdup(rc->name);
    a->name = repl_printf("%s#%u", rc->name, h);
    a->gpus = rc->gpus;
    a->coll_method = rc->nmethods;
    a->node = node;
    a->gpu = gpu;
    a->on_cpu = on_cpu;
    R->actors[h] = a;
    *out = daft_value_actor(h);
    return true;
}

static bool eval_name(Ev *E, Frame *F, DaftNode *e, DaftValue *out) {
    DaftNode *d = e->decl;
    if (!d)
        return fail(E, "use of undeclared name '%s'", e->name ? e->name : "?");
    switch (d->kind) {
    case DAFT_N_PARAM:
    case DAFT_N_LET:
    case DAFT_N_FOR:
    case DAFT_N_COMPREHENSION:
        daft_value_copy(out, slot(F, d->slot));
        return true;
    case DAFT_N_CONST: {
        Frame G = {0};
        bool ok = eval_as(E, &G, d->value, d->ty, out);
        frame_free(&G);
        return ok;
    }
    default:
        return fail(E, "'%s' is a %s, not a value", e->name, daft_node_kind_name(d->kind));
    }
}

static bool index_of(Ev *E, const DaftValue *list, const DaftValue *idx, size_t *out) {
    if (list->kind != DAFT_V_LIST)
        return fail(E, "cannot index a %s", kind_str(list->kind));
    int64_t i = 0;
    num_i(idx, &i);
    if (i < 0 || (uint64_t)i >= list->as.list.len)
        return fail(E, "index %lld is out of range for a list of length %zu", (long long)i, list->as.list.len);
    *out = (size_t)i;
    return true;
}

static bool eval(Ev *E, Frame *F, DaftNode *e, DaftValue *out) {
    *out = daft_value_none();
    if (!e)
        return fail(E, "incomplete expression");
    switch (e->kind) {
    case DAFT_N_INT_LIT:
        *out = daft_value_i64(e->ival);
        coerce(out, e->ty);
        return true;
    case DAFT_N_FLOAT_LIT:
        *out = daft_value_f64(tk(e->ty) == DAFT_TY_F32 ? (double)(float)e->fval : e->fval);
        return true;
    case DAFT_N_STR_LIT:
        *out = daft_value_strn(e->name ? e->name : "", e->str_len);
        return true;
    case DAFT_N_BOOL_LIT:
        *out = daft_value_bool(e->ival != 0);
        return true;
    case DAFT_N_NAME:
        return eval_name(E, F, e, out);
    case DAFT_N_UNARY: {
        DaftValue v = daft_value_none();
        if (!eval_as(E, F, e->lhs, e->ty, &v))
            return false;
        if (e->op == DAFT_OP_NOT) {
            *out = daft_value_bool(!(v.kind == DAFT_V_BOOL && v.as.b));
        } else if (v.kind == DAFT_V_F64) {
            *out = daft_value_f64(-v.as.f64);
        } else {
            int64_t x = 0;
            num_i(&v, &x);
            int64_t r = (int64_t)(0 - (uint64_t)x);
            if (tk(e->ty) == DAFT_TY_I32)
                r = (int32_t)(uint32_t)r;
            *out = daft_value_i64(r);
        }
        daft_value_free(&v);
        return true;
    }
    case DAFT_N_BINARY:
        return eval_binary(E, F, e, out);
    case DAFT_N_CALL:
        return eval_call(E, F, e, out);
    case DAFT_N_INDEX: {
        DaftValue l = daft_value_none(), i = daft_value_none();
        bool ok = eval(E, F, e->lhs, &l) && eval(E, F, e->rhs, &i);
        size_t k = 0;
        if (ok && (ok = index_of(E, &l, &i, &k)))
            daft_value_copy(out, &l.as.list.items[k]);
        daft_value_free(&l);
        daft_value_free(&i);
        return ok;
    }
    case DAFT_N_LIST: {
        DaftValue l = daft_value_list((size_t)e->items.len);
        const DaftType *et = e->ty && e->ty->kind == DAFT_TY_LIST ? e->ty->elem : NULL;
        for (int i = 0; i < e->items.len; i++)
            if (!eval_as(E, F, e->items.items[i], et, &l.as.list.items[i])) {
                daft_value_free(&l);
                return false;
            }
        *out = l;
        return true;
    }
    case DAFT_N_COMPREHENSION:
        return eval_comprehension(E, F, e, out);
    case DAFT_N_SPAWN:
        return eval_spawn(E, F, e, out);
    case DAFT_N_RANGE:
        return fail(E, "a range can only be iterated by 'for' or a comprehension");
    default:
        return fail(E, "%s is not supported by the REPL", daft_node_kind_name(e->kind));
    }
}

/* ---------------------------------------------------------------- statements */

static DaftValue *lvalue(Ev *E, Frame *F, DaftNode *t) {
    if (t->kind == DAFT_N_NAME && t->decl)
        return slot(F, t->decl->slot);
    if (t->kind == DAFT_N_INDEX) {
        DaftValue *l = lvalue(E, F, t->lhs);
        if (!l)
            return NULL;
        DaftValue i = daft_value_none();
        if (!eval(E, F, t->rhs, &i))
            return NULL;
        size_t k = 0;
        bool ok = index_of(E, l, &i, &k);
        daft_value_free(&i);
        return ok ? &l->as.list.items[k] : NULL;
    }
    fail(E, "cannot assign to this in driver code");
    return NULL;
}

typedef struct ForData {
    Flow flow;
    int refs_since; /* R->nrefs when the first iteration began (after the iterable) */
    int refs_next;  /* collect once R->nrefs reaches this (repl_refs_collect_loop) */
} ForData;

static bool for_item(Ev *E, Frame *F, DaftNode *s, DaftValue *item, void *data, bool *stop) {
    ForData *d = data;
    if (d->refs_since < 0)
        d->refs_since = d->refs_next = E->R->nrefs;
    DaftValue *var = slot(F, s->slot);
    daft_value_free(var);
    *var = *item;
    Flow fl = exec(E, F, s->body);
    if (fl == FLOW_NORMAL || fl == FLOW_CONTINUE) /* each iteration's dropped results go now */
        repl_refs_collect_loop(E->R, d->refs_since, &d->refs_next, F->slots, F->nslots);
    if (fl == FLOW_ERROR)
        return false;
    if (fl == FLOW_BREAK || fl == FLOW_RETURN) {
        *stop = true;
        d->flow = fl == FLOW_RETURN ? FLOW_RETURN : FLOW_NORMAL;
    }
    return true;
}

static Flow exec(Ev *E, Frame *F, DaftNode *s) {
    if (!s)
        return FLOW_NORMAL;
    if (s->kind != DAFT_N_BLOCK)
        E->where = s->span;
    switch (s->kind) {
    case DAFT_N_BLOCK:
        for (int i = 0; i < s->items.len; i++) {
            Flow f = exec(E, F, s->items.items[i]);
            if (f != FLOW_NORMAL)
                return f;
        }
        return FLOW_NORMAL;
    case DAFT_N_LET: {
        DaftValue v = daft_value_none();
        if (!eval_as(E, F, s->value, s->ty, &v))
            return FLOW_ERROR;
        if (!tensor_fits_type(E, &v, s->ty, "'%s'%.0s", s->name, NULL)) {
            daft_value_free(&v);
            return FLOW_ERROR;
        }
        DaftValue *d = slot(F, s->slot);
        daft_value_free(d);
        *d = v;
        return FLOW_NORMAL;
    }
    case DAFT_N_ASSIGN: {
        /* the target's indexes first, left to right, then the value (SPEC 7, as daftc's code):
         * evaluating the value cannot move the target, as no expression assigns */
        DaftValue *d = lvalue(E, F, s->target);
        if (!d)
            return FLOW_ERROR;
        DaftValue v = daft_value_none();
        if (!eval_as(E, F, s->value, s->target ? s->target->ty : NULL, &v))
            return FLOW_ERROR;
        bool named = s->target && s->target->kind == DAFT_N_NAME && s->target->name;
        bool fits = (s->op != DAFT_OP_ASSIGN && s->op != DAFT_OP_NONE) ||
                    tensor_fits_type(E, &v, s->target ? s->target->ty : NULL,
                                     named ? "assignment to '%s'%.0s" : "assignment%.0s%.0s",
                                     named ? s->target->name : NULL, NULL);
        if (!fits) {
            daft_value_free(&v);
            return FLOW_ERROR;
        }
        if (s->op == DAFT_OP_ADD && d->kind == DAFT_V_LIST && v.kind == DAFT_V_LIST) {
            /* xs += e appends in place (a copy of xs per append made loops quadratic), after the
             * assignment's check (SPEC 5.5) of the new items: xs's own went in checked */
            fits = tensor_fits_from(E, &v, s->target->ty, d->as.list.len,
                                    named ? "assignment to '%s'%.0s" : "assignment%.0s%.0s",
                                    named ? s->target->name : NULL, NULL);
            if (fits)
                daft_gen_list_extend(d, &v, 1);
            daft_value_free(&v);
            return fits ? FLOW_NORMAL : FLOW_ERROR;
        }
        if (s->op != DAFT_OP_ASSIGN && s->op != DAFT_OP_NONE) {
            DaftValue r = daft_value_none();
            bool ok = arith(E, s->op, s->target->ty, d, &v, &r);
            daft_value_free(&v);
            if (!ok)
                return FLOW_ERROR;
            v = r;
        }
        daft_value_free(d);
        *d = v;
        return FLOW_NORMAL;
    }
    case DAFT_N_RETURN:
        daft_value_free(&F->ret);
        if (s->value && !eval(E, F, s->value, &F->ret))
            return FLOW_ERROR;
        return FLOW_RETURN;
    case DAFT_N_IF: {
        DaftValue c = daft_value_none();
        if (!eval(E, F, s->cond, &c))
            return FLOW_ERROR;
        bool t = c.kind == DAFT_V_BOOL && c.as.b;
        daft_value_free(&c);
        return exec(E, F, t ? s->then : s->els);
    }
    case DAFT_N_WHILE:
        for (int refs_since = E->R->nrefs, refs_next = refs_since;;) {
            if (!check_interrupt(E))
                return FLOW_ERROR;
            E->where = s->span; /* the condition runs again after the body's statements */
            DaftValue c = daft_value_none();
            if (!eval(E, F, s->cond, &c))
                return FLOW_ERROR;
            bool t = c.kind == DAFT_V_BOOL && c.as.b;
            daft_value_free(&c);
            if (!t)
                return FLOW_NORMAL;
            Flow f = exec(E, F, s->body);
            if (f == FLOW_BREAK)
                return FLOW_NORMAL;
            if (f == FLOW_RETURN || f == FLOW_ERROR)
                return f;
            repl_refs_collect_loop(E->R, refs_since, &refs_next, F->slots, F->nslots);
        }
    case DAFT_N_FOR: {
        ForData d = {FLOW_NORMAL, -1, 0};
        if (!iterate(E, F, s, s->iter, for_item, &d))
            return FLOW_ERROR;
        return d.flow;
    }
    case DAFT_N_BREAK:
        return FLOW_BREAK;
    case DAFT_N_CONTINUE:
        return FLOW_CONTINUE;
    case DAFT_N_EXPR_STMT: {
        DaftValue v = daft_value_none();
        if (!eval(E, F, s->value, &v))
            return FLOW_ERROR;
        daft_value_free(&v);
        return FLOW_NORMAL;
    }
    default:
        fail(E, "%s is not supported by the REPL", daft_node_kind_name(s->kind));
        return FLOW_ERROR;
    }
}

/* ---------------------------------------------------------------- one input */

static void free_diag(DaftDiag *d) {
    free(d->message);
    for (int i = 0; i < d->note_count; i++)
        free_diag(&d->notes[i]);
    free(d->notes);
}

/* Moves positions in the wrapped input (line 1 is the wrapper's header) to the input as
 * the user typed it; drops warnings (the file's were shown when it was loaded, and the
 * input's are about Refs a prompt obviously leaves unused). */
static bool remap_span(DaftSpan *sp, int chunk, int shown, int shown_lines) {
    if (sp->file != chunk || sp->begin.line < 2 || sp->begin.line - 1 > shown_lines)
        return false;
    sp->file = shown;
    sp->begin.line--;
    sp->end.line--;
    if (sp->end.line > shown_lines)
        sp->end = sp->begin;
    return true;
}

static void remap(DaftDiag *d, int chunk, int shown, int shown_lines) {
    remap_span(&d->span, chunk, shown, shown_lines);
    /* an underlined operand is kept only where it moves with the caret */
    int k = 0;
    for (int i = 0; i < d->range_count; i++)
        if (remap_span(&d->ranges[i], chunk, shown, shown_lines))
            d->ranges[k++] = d->ranges[i];
    d->range_count = k;
    for (int i = 0; i < d->note_count; i++)
        remap(&d->notes[i], chunk, shown, shown_lines);
}

static const char *binding_type(DaftArena *A, const DaftType *t) {
    if (!t || t->kind == DAFT_TY_ERROR || t->kind == DAFT_TY_VOID || t->kind == DAFT_TY_RANGE ||
        t->kind == DAFT_TY_MODULE)
        return NULL;
    const char *s = daft_type_str(A, t);
    /* Ref<void> cannot be written (SPEC Appendix B.5): stand in with Ref<bool>. */
    char *out = daft_arena_printf(A, "%s", s);
    for (char *p; (p = strstr(out, "void"));)
        memcpy(p, "bool", 4);
    return out;
}

/* Binds `name` (replacing a binding of that name) to *v, which it takes; origin/at: the
 * input that made it and the name's place in it. */
static void bind(Repl *R, const char *name, const char *type, DaftValue *v, const char *origin, DaftSpan at) {
    int i = 0;
    while (i < R->nbinds && strcmp(R->binds[i].name, name) != 0)
        i++;
    if (i == R->nbinds) {
        R->binds = realloc(R->binds, sizeof *R->binds * (size_t)(R->nbinds + 1));
        memset(&R->binds[i], 0, sizeof R->binds[i]);
        R->binds[i].name = repl_strdup(name);
        R->binds[i].val = daft_value_none();
        R->nbinds++;
    }
    ReplBinding *b = &R->binds[i];
    free(b->type);
    b->type = repl_strdup(type);
    daft_value_free(&b->val);
    b->val = *v;
    *v = daft_value_none();
    free(b->origin);
    b->origin = repl_strdup(origin);
    b->origin_span = at;
}

static void report(Ev *E, int shown_file, const char *shown_path) {
    Repl *R = E->R;
    repl_flush();
    DaftSpan w = E->err_where;
    const char *file = shown_path;
    int line = w.begin.line, col = w.begin.col;
    if (w.file == E->chunk_file) {
        line -= 1;
    } else if (w.file >= 0 && E->diags->sources && w.file < E->diags->sources->len && w.file != shown_file) {
        file = E->diags->sources->files[w.file]->path;
    }
    fprintf(stderr, "daft: error: %s\n", E->err);
    if (line > 0)
        fprintf(stderr, "  at %s:%d:%d\n", file, line, col);
    fflush(stderr);
    (void)R;
}

/* Counts the lines of the input (for remapping positions). */
static int count_lines(const char *t, size_t n) {
    int l = 1;
    for (size_t i = 0; i < n; i++)
        l += t[i] == '\n';
    return l;
}

/* Parses and checks `text` with the loaded file; NULL (after printing) on errors. */
typedef struct Checked {
    DaftSourceSet sources;
    DaftDiagEngine diags;
    DaftArena *arena;
    DaftModule mod;
    DaftNode *sched;
    int chunk_file, shown_file;
    int *param_col; /* where binding i's name is written in the wrapper's header line */
} Checked;

static void checked_free(Checked *C) {
    free(C->param_col);
    daft_arena_free(C->arena);
    daft_diag_free(&C->diags);
    daft_source_set_free(&C->sources);
}

/* A note at the wrapper's header (line 1 of the chunk) about a binding (a parameter of
 * __repl) is moved to the input whose `let` made it; false for one about __repl itself. */
static bool remap_header_note(Repl *R, Checked *C, DaftDiag *n) {
    for (int i = 0; i < R->nbinds; i++) {
        int col = C->param_col[i];
        if (n->span.begin.col < col || n->span.begin.col >= col + (int)strlen(R->binds[i].name))
            continue;
        if (!R->binds[i].origin)
            return false;
        const char *o = R->binds[i].origin;
        DaftSource *src = daft_source_from_string(&C->sources, "<repl>", o, strlen(o));
        n->span = R->binds[i].origin_span;
        n->span.file = src->id;
        return true;
    }
    return false;
}

/* The user never sees the wrapper: notes quoting it are moved or dropped, and an error
 * about __repl itself (a `return` with a value, which is an error for a schedule without
 * a result type) gets words that make sense at the prompt. */
static void hide_wrapper(Repl *R, Checked *C, DaftDiag *d) {
    int k = 0;
    for (int i = 0; i < d->note_count; i++) {
        DaftDiag *n = &d->notes[i];
        bool header = n->span.file == C->chunk_file && n->span.begin.line == 1;
        if (header && !remap_header_note(R, C, n)) {
            /* the parser took a declaration for a block left open: at the prompt the
             * only open block is the wrapper's, so say what is wrong */
            if (strcmp(n->message, "to match this '{'") == 0 && strncmp(d->message, "expected '}' before ", 20) == 0) {
                free(d->message);
                d->message = repl_strdup("declarations cannot be entered at the prompt; put them in a file and :load it");
            }
            free_diag(n);
            continue;
        }
        d->notes[k++] = *n;
    }
    d->note_count = k;
    if (strstr(d->message, "'__repl'") && strstr(d->message, "cannot return a value")) {
        free(d->message);
        d->message = repl_strdup("'return' at the prompt cannot return a value: it only ends the input "
                                 "(to show a value, enter the expression on its own)");
    }
}

/* An error the parser found in the wrapper's closing lines is about a bracket the input left
 * open (an empty line ends an input as it is): said at the end of the input, with a note at
 * that bracket, rather than at a position and text the user never typed. */
static void unclosed_at_end(Checked *C, DaftDiag *d, int shown_lines) {
    if (d->span.file != C->chunk_file || d->span.begin.line - 1 <= shown_lines)
        return;
    DaftSource *src = C->sources.files[C->shown_file];
    int line, col, last = shown_lines, len = 0;
    char opener;
    if (!repl_innermost_open(src->text, &line, &col, &opener))
        return;
    while (last > 1 && (daft_source_line(src, last, &len), len == 0))
        last--;
    daft_source_line(src, last, &len);
    for (int i = 0; i < d->note_count; i++)
        free_diag(&d->notes[i]);
    d->note_count = 0;
    free(d->message);
    d->message = repl_printf("expected '%c' at the end of the input", opener == '(' ? ')' : opener == '[' ? ']' : '}');
    d->span = (DaftSpan){C->shown_file, {last, len + 1}, {last, len + 2}};
    daft_note(&C->diags, d, (DaftSpan){C->shown_file, {line, col}, {line, col + 1}}, "to match this '%c'", opener);
}

static void filter_diags(Repl *R, Checked *C, int shown_lines) {
    DaftDiagEngine *eng = &C->diags;
    int k = 0;
    for (int i = 0; i < eng->len; i++) {
        if (eng->diags[i].severity == DAFT_SEV_WARNING) {
            free_diag(&eng->diags[i]);
            eng->warning_count--;
            continue;
        }
        unclosed_at_end(C, &eng->diags[i], shown_lines);
        hide_wrapper(R, C, &eng->diags[i]);
        remap(&eng->diags[i], C->chunk_file, C->shown_file, shown_lines);
        eng->diags[k++] = eng->diags[i];
    }
    eng->len = k;
}

static bool check_input(Repl *R, const char *text, size_t len, Checked *C) {
    memset(C, 0, sizeof *C);
    daft_diag_init(&C->diags, &C->sources);
    C->arena = daft_arena_new();
    /* wrapper: schedule __repl(<bindings>) { if true {\n<text>\n} }: the input's lets are
     * in a scope of their own, so they may shadow (replace) bindings */
    char *head = NULL;
    size_t hl = 0, hc = 0;
    sb_add(&head, &hl, &hc, "schedule __repl(", 16);
    C->param_col = calloc((size_t)R->nbinds + 1, sizeof *C->param_col);
    for (int i = 0; i < R->nbinds; i++) {
        char *p = repl_printf("%s: %s", R->binds[i].name, R->binds[i].type);
        if (i)
            sb_add(&head, &hl, &hc, ", ", 2);
        C->param_col[i] = (int)hl + 1;
        sb_add(&head, &hl, &hc, p, strlen(p));
        free(p);
    }
    sb_add(&head, &hl, &hc, ") { if true {\n", 14);
    sb_add(&head, &hl, &hc, text, len);
    sb_add(&head, &hl, &hc, "\n} }\n", 5);
    DaftSource *file = R->text ? daft_source_from_string(&C->sources, R->path, R->text, R->text_len) : NULL;
    DaftSource *chunk = daft_source_from_string(&C->sources, "<repl>", head, hl);
    DaftSource *shown = daft_source_from_string(&C->sources, "<repl>", text, len);
    free(head);
    C->chunk_file = chunk->id;
    C->shown_file = shown->id;
    bool ok = true;
    DaftModule fm;
    if (file && !daft_parse(C->arena, file, &C->diags, &fm))
        ok = false;
    if (ok && !daft_parse(C->arena, chunk, &C->diags, &C->mod))
        ok = false;
    if (ok) {
        DaftNode *prog = C->mod.program;
        /* the file's declarations first, then the wrapper */
        DaftNodeList items = {0};
        if (file)
            for (int i = 0; i < fm.program->items.len; i++)
                daft_node_list_push(C->arena, &items, fm.program->items.items[i]);
        for (int i = 0; i < prog->items.len; i++) {
            DaftNode *it = prog->items.items[i];
            if (it && it->kind == DAFT_N_SCHEDULE && it->name && strcmp(it->name, "__repl") == 0)
                C->sched = it;
            else if (it)
                daft_error(&C->diags, it->span, "declarations cannot be entered at the prompt; put them in a file and :load it");
            daft_node_list_push(C->arena, &items, it);
        }
        prog->items = items;
        C->mod.source = file ? file : chunk;
        if (!C->sched)
            daft_error(&C->diags, daft_span_none(), "cannot read the input");
        ok = C->diags.error_count == 0 && daft_check(&C->mod, &C->diags) && C->sched;
    }
    filter_diags(R, C, count_lines(text, len));
    if (!ok || C->diags.error_count) {
        repl_flush();
        daft_diag_print(&C->diags, stderr, DAFT_DIAG_TEXT);
        fflush(stderr);
        checked_free(C);
        return false;
    }
    return true;
}

static bool is_print_call(const DaftNode *e) {
    return e && e->kind == DAFT_N_CALL && !e->decl && e->callee && e->callee->kind == DAFT_N_NAME && e->callee->name &&
           !e->callee->decl && strcmp(e->callee->name, "print") == 0;
}

bool repl_eval_input(Repl *R, const char *text, size_t len) {
    Checked C;
    if (!check_input(R, text, len, &C))
        return false;
    Ev E;
    memset(&E, 0, sizeof E);
    E.stack_top = __builtin_frame_address(0);
    E.R = R;
    E.mod = &C.mod;
    E.diags = &C.diags;
    E.chunk_file = C.chunk_file;
    E.where = E.err_where = daft_span_none();
    Frame F = {0};
    F.ret = daft_value_none();
    DaftNode *sched = C.sched;
    for (int i = 0; i < sched->params.len && i < R->nbinds; i++) {
        DaftValue *s = slot(&F, sched->params.items[i]->slot);
        daft_value_copy(s, &R->binds[i].val);
    }
    repl_plans_check(R);
    bool ok = true;
    DaftNode *body = sched->body && sched->body->items.len == 1 && sched->body->items.items[0]->kind == DAFT_N_IF
                         ? sched->body->items.items[0]->then
                         : NULL;
    double t0 = repl_now();
    for (int i = 0; body && i < body->items.len && ok; i++) {
        DaftNode *s = body->items.items[i];
        if (s->kind == DAFT_N_EXPR_STMT && !is_print_call(s->value)) {
            /* an expression at the prompt shows its value */
            E.where = s->span;
            DaftValue v = daft_value_none();
            ok = eval(&E, &F, s->value, &v);
            if (ok && v.kind != DAFT_V_NONE) {
                coerce(&v, s->value->ty);
                size_t n;
                char *str = repl_format(R, &v, true, &n);
                if (v.kind == DAFT_V_F64 && tk(s->value->ty) == DAFT_TY_F32) {
                    free(str);
                    char b[40];
                    daft_std_format_float((double)(float)v.as.f64, b, sizeof b);
                    str = repl_strdup(b);
                    n = strlen(str);
                }
                if (tk(s->value->ty) == DAFT_TY_COMM && v.kind == DAFT_V_LIST && v.as.list.len >= 1) {
                    /* [id, members...] (gen.h): shown as Comm#id over its members */
                    DaftValue ms = {.kind = DAFT_V_LIST};
                    ms.as.list.items = v.as.list.items + 1;
                    ms.as.list.len = v.as.list.len - 1;
                    char *m = repl_format(R, &ms, true, NULL);
                    free(str);
                    str = repl_printf("Comm#%lld over %s", (long long)v.as.list.items[0].as.i64, m);
                    n = strlen(str);
                    free(m);
                }
                if (v.kind == DAFT_V_TENSOR) {
                    char *t = repl_printf("%s (on cpu)", str);
                    free(str);
                    str = t;
                    n = strlen(str);
                }
                fwrite(str, 1, n, R->out);
                fputc('\n', R->out);
                fflush(R->out);
                free(str);
            }
            /* keep a temporary Ref reachable until it is collected */
            daft_value_free(&v);
            continue;
        }
        Flow fl = exec(&E, &F, s);
        if (fl == FLOW_ERROR)
            ok = false;
        else if (fl != FLOW_NORMAL)
            break; /* return/break at the prompt end the input */
    }
    repl_trace_event(R, "input", "repl", t0, repl_now());
    if (!ok)
        report(&E, C.shown_file, "<repl>");
    /* The session keeps the parameters' (possibly updated) values and the top-level
     * lets that ran. */
    for (int i = 0; i < sched->params.len && i < R->nbinds; i++) {
        DaftValue *s = slot(&F, sched->params.items[i]->slot);
        daft_value_free(&R->binds[i].val);
        R->binds[i].val = *s;
        *s = daft_value_none();
    }
    for (int i = 0; body && i < body->items.len; i++) {
        DaftNode *s = body->items.items[i];
        if (s->kind != DAFT_N_LET || !s->name || strcmp(s->name, "_") == 0)
            continue;
        DaftValue *v = slot(&F, s->slot);
        const char *ty = binding_type(C.arena, s->ty);
        if (v->kind == DAFT_V_NONE || !ty)
            continue;
        DaftSpan at = s->name_span;
        at.begin.line--; /* from the wrapped input to the input as typed */
        at.end.line--;
        bind(R, s->name, ty, v, text, at);
    }
    frame_free(&F);
    free(E.err);
    checked_free(&C);
    repl_refs_collect(R);
    return ok;
}

/* ---------------------------------------------------------------- :plan support */

bool repl_plan_command(Repl *R, const char *name, FILE *out, DaftPlanFormat fmt) {
    /* the newest live plan of that schedule */
    ReplPlan *best = NULL;
    for (ReplPlan *p = R->plans; p; p = p->next)
        if (!p->dropped && strcmp(p->schedule, name) == 0 && p->generation == R->generation)
            best = p;
    if (best) {
        if (fmt == DAFT_PLAN_TEXT)
            fprintf(out, "# plan of '%s' in use: %lld execution%s so far\n", name, (long long)best->submitted,
                    best->submitted == 1 ? "" : "s");
        daft_plan_print(best->plan, out, fmt);
        return true;
    }
    /* None yet: plan it for the actors the session's bindings name. */
    Checked C;
    if (!check_input(R, "", 0, &C))
        return false;
    DaftNode *sched = NULL;
    for (int i = 0; i < C.mod.program->items.len; i++) {
        DaftNode *it = C.mod.program->items.items[i];
        if (it && it->kind == DAFT_N_SCHEDULE && it->name && strcmp(it->name, name) == 0)
            sched = it;
    }
    bool ok = false;
    if (!sched || !sched->is_compiled) {
        fprintf(stderr, "daft-repl: error: '%s' is not a compiled schedule of %s\n", name, R->path ? R->path : "the session");
        checked_free(&C);
        return false;
    }
    const DaftNode *ref_param = daft_schedule_ref_param(sched);
    if (ref_param) { /* (a plan of its own would read its Refs from the driver, which has none) */
        fprintf(stderr, "daft-repl: error: '%s' takes Refs (parameter '%s'): it has no plan of its own; it is "
                        "traced inline into the compiled schedules that call it\n", name, ref_param->name);
        checked_free(&C);
        return false;
    }
    int n = sched->params.len;
    DaftValue *args = calloc((size_t)n + 1, sizeof *args);
    bool have = true;
    for (int i = 0; i < n; i++) {
        DaftNode *p = sched->params.items[i];
        args[i] = daft_value_none();
        for (int b = 0; b < R->nbinds; b++)
            if (strcmp(R->binds[b].name, p->name) == 0)
                daft_value_copy(&args[i], &R->binds[b].val);
        if (args[i].kind != DAFT_V_NONE)
            continue;
        if (p->ty && p->ty->kind == DAFT_TY_ACTOR && p->ty->actor_class) {
            /* the one live actor of that class */
            DaftActor found = 0;
            int count = 0;
            for (int h = 1; h < R->nactors_cap; h++)
                if (R->actors[h] && strcmp(R->actors[h]->cls, p->ty->actor_class->name) == 0 &&
                    daft_rt_actor_alive(R->rt, (DaftActor)h))
                    found = (DaftActor)h, count++;
            if (count == 1) {
                args[i] = daft_value_actor(found);
                continue;
            }
        }
        bool structural = p->ty && (p->ty->kind == DAFT_TY_ACTOR || p->ty->kind == DAFT_TY_LIST || p->ty->kind == DAFT_TY_COMM);
        if (structural) {
            fprintf(stderr, "daft-repl: error: cannot tell which actors to plan '%s' for: bind '%s' (let %s = ...) or call "
                            "'%s' once\n", name, p->name, p->name, name);
            have = false;
            break;
        }
    }
    if (have) {
        char err[1024] = "";
        ReplPlan *p = repl_plan_for(R, &C.mod, &C.diags, sched, args, n, err, sizeof err);
        if (!p) {
            repl_flush();
            daft_diag_print(&C.diags, stderr, DAFT_DIAG_TEXT);
            fprintf(stderr, "daft: error: %s\n", err);
        } else {
            daft_plan_print(p->plan, out, fmt);
            ok = true;
        }
    }
    for (int i = 0; i < n; i++)
        daft_value_free(&args[i]);
    free(args);
    checked_free(&C);
    return ok;
}
