/* compiler/codegen.c — lowering a checked daft module to LLVM IR (LLVM 14 C API).
 *
 * Only compiler/codegen*.c include llvm-c/; daftc sees cg_emit() (codegen.h).
 *
 * ---------------------------------------------------------------- value representation
 * - Scalars (i64, i32, f64, f32, bool) are unboxed LLVM values (i64, i32, double, float,
 *   i1); locals of scalar type are allocas that mem2reg promotes at -O2, so scalar code is
 *   plain LLVM arithmetic (integer arithmetic wraps; `/` and `%` truncate like C and raise
 *   "division by zero").
 * - Every other value (str, tensor, list, Ref, actor handle, Comm) is a DaftValue (daftrt.h)
 *   in memory. A DaftValue owns its data. The generated code keeps three kinds of them:
 *     owned   an alloca of the function (a `let`, a temporary); set to DAFT_V_NONE at entry
 *             and freed when overwritten and at the function's single exit;
 *     borrowed a pointer to a value owned elsewhere (a parameter, a field `self.x`, a list
 *             item, the loop variable of `for x in list`); never freed here;
 *     temporary an owned slot holding an intermediate result; freed at the end of the
 *             statement that created it, or moved (memcpy + kind = NONE) into a variable, a
 *             field, a list or the result.
 *   Storing a borrowed value into a variable deep-copies it (daft_gen_copy). Lists are
 *   values (SPEC.md §5.3), copied lazily: a parameter or loop variable that the body writes
 *   into (`xs[i] = v`) is copied first, and a method on self that may write fields gets a
 *   copy of each argument that may be borrowed from a field. In driver code
 *   a value may hold Refs: copies count them and frees drop them (daft_gen_drop), and a
 *   Ref is released with the last value holding it. Moves keep the count: `return local`,
 *   `return local_list[i]`, `xs = xs + [temporary]` (appended in place) and get of a
 *   temporary Ref (its result moved out when no other value holds that Ref).
 *   When boxed (method arguments and results, list items, std calls), i64/i32 become
 *   DAFT_V_I64, f64/f32 DAFT_V_F64, bool DAFT_V_BOOL.
 *
 * ---------------------------------------------------------------- functions
 * Every generated function has the signature
 *     i32 f(i8* ctx, [i8* state,] params..., [T* result])
 * ctx is NULL in driver code (main, schedules and the functions they call) and the actor
 * context inside methods; scalar parameters are passed unboxed, boxed ones as borrowed
 * DaftValue pointers; the result (if any) is written through the last pointer. The i32 is a
 * status: 0, or the non-zero value of daft_raise() when an error is raised inside an actor;
 * callers check it and propagate it. In the driver an error is fatal (daft_gen_error prints
 * "error: <message>" and exits 1), so there the status is always 0. Each function has one
 * exit block that frees every owned slot.
 *
 * Names: daft.fn.NAME (fn), daft.sched.NAME (schedule), daft.m.CLASS.METHOD (typed method),
 * daft.w.CLASS.METHOD (DaftMethodFn wrapper), daft.init.CLASS / daft.fini.CLASS,
 * daft.class.CLASS (DaftClassDesc), daft.program (DaftGenProgram), and `main`.
 *
 * ---------------------------------------------------------------- actors
 * An actor class becomes a state struct of its fields, a typed function per method, a
 * DaftMethodFn wrapper per method (checks the argument count, unboxes the arguments, boxes
 * the result), a DaftInitFn wrapper for `init`, a DaftFiniFn that frees the boxed fields,
 * and one DaftClassDesc (the dispatch table; method index = position among the class's
 * non-init methods in declaration order). Extern methods and top-level extern fns of the
 * program bind to user C symbols with the typed ABI of SPEC.md §8.5, defined exactly in
 * include/daft/gen.h ("typed extern kernels"): a wrapper unboxes the arguments, calls the
 * kernel, sees a daft_raise through -Wl,--wrap=daft_raise, and boxes the result; calls on
 * self call the kernel directly. The generated `main` calls
 * daft_gen_main (include/daft/gen.h): --help, daft_rt_init, class registration,
 * daft_rt_start, the user's main, daft_rt_shutdown.
 * Driver-side `a.m(x)` is daft_gen_call → daft_rt_call with the arguments boxed (a Ref
 * argument stays a DAFT_V_REF so the runtime moves the data actor to actor); calls on
 * `self` inside a method are direct calls of the typed function. std functions (declared
 * in the std modules) use the uniform ABI int SYM(ctx, args, nargs, out) of daft/std.h;
 * their named arguments (dtype = f32) are passed as trailing positional arguments,
 * identifiers as strings.
 * Driver statements store their position in daft_gen_where so that a fatal run-time
 * error prints "daft: error: <text>" and "  at FILE:LINE:COL" (SPEC.md §14.4).
 *
 * ---------------------------------------------------------------- schedules
 * Plain schedules are lowered as driver code: every method call in them is a daft_rt_call.
 * A compiled schedule is lowered the same way, preceded by a call of
 * daft_gen_schedule_call (include/daft/gen.h, "compiled schedules"): daftc traces and plans
 * it for every static actor set (daft_trace_program, as --emit-plan) and embeds those plans
 * serialized (daft_plan_serialize) in its descriptor, with the program source for planning
 * other actor sets at run time; the library runs the call on the runtime's compiled
 * executor and returns its result handles, or returns 0 and the interpreted body runs
 * (emit_compiled_dispatch).
 */
#include "codegen.h"

#include <daft/gen.h>
#include <daftrt.h>
#include <daft/plan.h>

#include <llvm-c/Analysis.h>
#include <llvm-c/Core.h>
#include <llvm-c/DebugInfo.h>
#include <llvm-c/Target.h>
#include <llvm-c/TargetMachine.h>
#include <llvm-c/Transforms/PassBuilder.h>

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The generated code indexes DaftValue directly: kind at 0, payload at 8, list items at
 * 8 and length at 16. */
_Static_assert(offsetof(DaftValue, kind) == 0, "DaftValue.kind");
_Static_assert(offsetof(DaftValue, as) == 8, "DaftValue.as");
_Static_assert(offsetof(DaftValue, as.list.items) == 8, "DaftValue list items");
_Static_assert(offsetof(DaftValue, as.list.len) == 16, "DaftValue list len");
_Static_assert(sizeof(DaftValue) % 8 == 0, "DaftValue size");
_Static_assert(sizeof(int) == 4 && sizeof(DaftKind) == 4, "ints");
_Static_assert(DAFT_OP_ADD == 1 && DAFT_OP_EQ == 6 && DAFT_OP_NE == 7 && DAFT_OP_LT == 8 &&
               DAFT_OP_LE == 9 && DAFT_OP_GT == 10 && DAFT_OP_GE == 11, "daft_gen_binop codes");

/* ---------------------------------------------------------------- small containers */

typedef struct PtrMap {
    const void **keys;
    void **vals;
    size_t cap, len;
} PtrMap;

static size_t ptr_hash(const void *p) {
    uintptr_t x = (uintptr_t)p;
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    return (size_t)x;
}

static void *map_get(const PtrMap *m, const void *key) {
    if (!m->cap || !key)
        return NULL;
    for (size_t i = ptr_hash(key) & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
        if (!m->keys[i])
            return NULL;
        if (m->keys[i] == key)
            return m->vals[i];
    }
}

static void map_put(PtrMap *m, const void *key, void *val) {
    if ((m->len + 1) * 2 > m->cap) {
        size_t ncap = m->cap ? m->cap * 2 : 64;
        const void **nk = calloc(ncap, sizeof *nk);
        void **nv = calloc(ncap, sizeof *nv);
        for (size_t i = 0; i < m->cap; i++) {
            if (!m->keys[i])
                continue;
            size_t j = ptr_hash(m->keys[i]) & (ncap - 1);
            while (nk[j])
                j = (j + 1) & (ncap - 1);
            nk[j] = m->keys[i];
            nv[j] = m->vals[i];
        }
        free(m->keys);
        free(m->vals);
        m->keys = nk;
        m->vals = nv;
        m->cap = ncap;
    }
    size_t i = ptr_hash(key) & (m->cap - 1);
    while (m->keys[i] && m->keys[i] != key)
        i = (i + 1) & (m->cap - 1);
    if (!m->keys[i])
        m->len++;
    m->keys[i] = key;
    m->vals[i] = val;
}

static void map_free(PtrMap *m) {
    free(m->keys);
    free(m->vals);
    memset(m, 0, sizeof *m);
}

typedef struct ValVec {
    LLVMValueRef *v;
    size_t len, cap;
} ValVec;

static void vec_push(ValVec *vec, LLVMValueRef x) {
    if (vec->len == vec->cap) {
        vec->cap = vec->cap ? vec->cap * 2 : 16;
        vec->v = realloc(vec->v, vec->cap * sizeof *vec->v);
    }
    vec->v[vec->len++] = x;
}

/* ---------------------------------------------------------------- state */

typedef enum { FN_USER, FN_SCHED, FN_METHOD, FN_EXTERN_METHOD, FN_EXTERN } FnKind;

typedef struct ClassInfo ClassInfo;

typedef struct FnInfo {
    DaftNode *decl;      /* Fn, Schedule or Method */
    FnKind kind;
    ClassInfo *cls;      /* methods */
    int method_index;    /* methods except init: index in the dispatch table */
    LLVMValueRef fn;     /* typed function, or the extern symbol */
    LLVMTypeRef fnty;
    LLVMValueRef wrapper;
    DaftType *ret;       /* result type (NULL/void: none) */
    const char *display; /* "Class.method", "main" */
    bool writes_fields;  /* methods: may write a field of self (mark_field_writers) */
} FnInfo;

struct ClassInfo {
    DaftNode *actor;
    int index;
    DaftNode **fields;
    int nfields;
    LLVMTypeRef state_ty;
    FnInfo **methods;    /* dispatch order */
    int nmethods;
    FnInfo *init;
    LLVMValueRef init_wrapper, fini;
};

typedef enum { LOC_SCALAR, LOC_OWNED, LOC_BORROWED, LOC_INDIRECT } LocKind;

typedef struct Local {
    LocKind kind;
    LLVMValueRef ptr;    /* alloca (scalar/owned/indirect) or the borrowed pointer */
    DaftType *ty;
} Local;

typedef struct Loop {
    LLVMBasicBlockRef brk, cont;
} Loop;

typedef struct FnCtx {
    FnInfo *info;
    LLVMValueRef fn, ctxv, state, retp;
    DaftType *ret_ty;
    bool in_actor;
    ClassInfo *cls;
    LLVMBasicBlockRef entry, ret_bb;
    LLVMValueRef status;
    LLVMValueRef saved_where; /* driver code: the caller's daft_gen_where, put back at the exit */
    LLVMBuilderRef ab;   /* allocas and their initialisation, in the entry block */
    ValVec owned;        /* every owned slot: freed at the exit */
    ValVec temps;        /* live temporaries (a stack with marks) */
    PtrMap locals;       /* decl -> Local* */
    Loop loops[64];
    int nloops;
    LLVMMetadataRef scope;
} FnCtx;

typedef struct Cg {
    DaftModule *mod;
    DaftDiagEngine *diags;
    const CgOptions *opt;
    bool failed;

    LLVMContextRef ctx;
    LLVMModuleRef m;
    LLVMBuilderRef b;
    LLVMTargetMachineRef tm;
    LLVMTargetDataRef td;

    LLVMTypeRef t_void, t_i1, t_i8, t_i32, t_i64, t_f32, t_f64, t_i8p, t_val, t_valp;
    LLVMTypeRef t_stdfn, t_methodfn, t_initfn, t_finifn, t_mdesc, t_cdesc, t_prog, t_mainfn;

    ClassInfo **classes;
    int nclasses;
    PtrMap class_of;     /* Actor decl -> ClassInfo */
    PtrMap fn_of;        /* Fn/Schedule/Method decl -> FnInfo */
    PtrMap field_index;  /* Field decl -> index+1 */
    PtrMap externs;      /* symbol name (interned arena string) -> LLVMValueRef */

    FnCtx *f;
    LLVMValueRef where; /* extern i64 daft_gen_where */

    /* debug info */
    LLVMDIBuilderRef dib;
    LLVMMetadataRef di_file, di_cu, di_fnty;
} Cg;

typedef struct CgVal {
    LLVMValueRef v;  /* scalar value, or DaftValue* when boxed; NULL for void */
    bool boxed;
    bool temp;       /* an owned temporary that may be moved from */
} CgVal;

static const CgVal cg_void = {NULL, false, false};

/* ---------------------------------------------------------------- diagnostics */

static void cg_err(Cg *cg, DaftSpan span, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void cg_err(Cg *cg, DaftSpan span, const char *fmt, ...) {
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    daft_error(cg->diags, span, "%s", buf);
    cg->failed = true;
}

static const char *tystr(Cg *cg, const DaftType *ty) { return daft_type_str(cg->mod->arena, ty); }

/* ---------------------------------------------------------------- types */

static bool ty_void(const DaftType *t) { return !t || t->kind == DAFT_TY_VOID; }

static bool ty_scalar(const DaftType *t) {
    if (!t)
        return false;
    switch (t->kind) {
    case DAFT_TY_BOOL: case DAFT_TY_I32: case DAFT_TY_I64: case DAFT_TY_F32: case DAFT_TY_F64:
        return true;
    default:
        return false;
    }
}

static bool ty_float(const DaftType *t) { return t && (t->kind == DAFT_TY_F32 || t->kind == DAFT_TY_F64); }
static bool ty_int(const DaftType *t) { return t && (t->kind == DAFT_TY_I32 || t->kind == DAFT_TY_I64); }

static LLVMTypeRef lty(Cg *cg, const DaftType *t) {
    switch (t ? t->kind : DAFT_TY_VOID) {
    case DAFT_TY_BOOL: return cg->t_i1;
    case DAFT_TY_I32: return cg->t_i32;
    case DAFT_TY_I64: return cg->t_i64;
    case DAFT_TY_F32: return cg->t_f32;
    case DAFT_TY_F64: return cg->t_f64;
    case DAFT_TY_VOID: return cg->t_void;
    default: return cg->t_val;
    }
}

/* The LLVM type of a parameter or result slot. */
static LLVMTypeRef param_ty(Cg *cg, const DaftType *t) {
    return ty_scalar(t) ? lty(cg, t) : cg->t_valp;
}

/* A compiled schedule takes every parameter boxed: a Ref given for a data parameter
 * reaches the runtime as that Ref, whose value it writes as the execution's input once
 * ready (SPEC 11.2), instead of being waited for at the call. */
static bool takes_boxed(const DaftNode *fn_decl, const DaftType *pty) {
    return !ty_scalar(pty) || (fn_decl->kind == DAFT_N_SCHEDULE && fn_decl->is_compiled);
}

static void init_types(Cg *cg) {
    LLVMContextRef c = cg->ctx;
    cg->t_void = LLVMVoidTypeInContext(c);
    cg->t_i1 = LLVMInt1TypeInContext(c);
    cg->t_i8 = LLVMInt8TypeInContext(c);
    cg->t_i32 = LLVMInt32TypeInContext(c);
    cg->t_i64 = LLVMInt64TypeInContext(c);
    cg->t_f32 = LLVMFloatTypeInContext(c);
    cg->t_f64 = LLVMDoubleTypeInContext(c);
    cg->t_i8p = LLVMPointerType(cg->t_i8, 0);
    cg->t_val = LLVMStructCreateNamed(c, "DaftValue");
    LLVMTypeRef body[2] = {cg->t_i32, LLVMArrayType(cg->t_i64, (sizeof(DaftValue) - 8) / 8)};
    LLVMStructSetBody(cg->t_val, body, 2, false);
    cg->t_valp = LLVMPointerType(cg->t_val, 0);

    LLVMTypeRef sp[4] = {cg->t_i8p, cg->t_valp, cg->t_i32, cg->t_valp};
    cg->t_stdfn = LLVMFunctionType(cg->t_i32, sp, 4, false);
    LLVMTypeRef mp[5] = {cg->t_i8p, cg->t_i8p, cg->t_valp, cg->t_i32, cg->t_valp};
    cg->t_methodfn = LLVMFunctionType(cg->t_i32, mp, 5, false);
    cg->t_initfn = LLVMFunctionType(cg->t_i32, mp, 4, false);
    cg->t_finifn = LLVMFunctionType(cg->t_void, mp, 2, false);
    cg->t_mainfn = LLVMFunctionType(cg->t_i32, sp, 1, false);

    cg->t_mdesc = LLVMStructCreateNamed(c, "DaftMethodDesc");
    LLVMTypeRef md[2] = {cg->t_i8p, LLVMPointerType(cg->t_methodfn, 0)};
    LLVMStructSetBody(cg->t_mdesc, md, 2, false);
    cg->t_cdesc = LLVMStructCreateNamed(c, "DaftClassDesc");
    LLVMTypeRef cd[6] = {cg->t_i8p, cg->t_i64, LLVMPointerType(cg->t_initfn, 0),
                         LLVMPointerType(cg->t_finifn, 0), LLVMPointerType(cg->t_mdesc, 0),
                         cg->t_i32};
    LLVMStructSetBody(cg->t_cdesc, cd, 6, false);
    cg->t_prog = LLVMStructCreateNamed(c, "DaftGenProgram");
    LLVMTypeRef pd[5] = {cg->t_i8p, LLVMPointerType(cg->t_cdesc, 0), LLVMPointerType(cg->t_mainfn, 0),
                         cg->t_i32, cg->t_i32};
    LLVMStructSetBody(cg->t_prog, pd, 5, false);
}

/* ---------------------------------------------------------------- external functions */

static LLVMValueRef ext_fn(Cg *cg, const char *name, LLVMTypeRef fnty) {
    LLVMValueRef f = LLVMGetNamedFunction(cg->m, name);
    if (!f) {
        f = LLVMAddFunction(cg->m, name, fnty);
        LLVMSetLinkage(f, LLVMExternalLinkage);
    }
    return f;
}

/* Calls a declared runtime helper; the types of the helpers are listed here once. */
static LLVMValueRef call_fn(Cg *cg, LLVMValueRef fn, LLVMValueRef *args, unsigned n) {
    LLVMTypeRef fnty = LLVMGlobalGetValueType(fn);
    bool is_void = LLVMGetReturnType(fnty) == cg->t_void;
    return LLVMBuildCall2(cg->b, fnty, fn, args, n, is_void ? "" : "r");
}

static LLVMValueRef rt(Cg *cg, const char *name) {
    LLVMTypeRef V = cg->t_valp, P = cg->t_i8p, I = cg->t_i32, L = cg->t_i64, D = cg->t_f64,
                F = cg->t_f32, v = cg->t_void;
    static const struct {
        const char *name;
        int ret;          /* 0 void, 1 i32 */
        const char *sig;  /* V DaftValue*, P i8*, I i32, L i64, D double, F float */
    } table[] = {
        {"daft_value_free", 0, "V"},
        {"daft_gen_drop", 0, "V"},
        {"daft_gen_copy", 0, "VV"},
        {"daft_gen_unbox_i64", 1, "PVP"},
        {"daft_gen_unbox_f64", 1, "PVP"},
        {"daft_gen_unbox_bool", 1, "PVP"},
        {"daft_gen_list_new", 0, "VL"},
        {"daft_gen_len", 1, "PVP"},
        {"daft_gen_binop", 1, "PIVVV"},
        {"daft_gen_list_extend", 0, "VVI"},
        {"daft_gen_str", 0, "VPL"},
        {"daft_gen_print_i64", 0, "LI"},
        {"daft_gen_print_f64", 0, "DI"},
        {"daft_gen_print_f32", 0, "FI"},
        {"daft_gen_print_bool", 0, "II"},
        {"daft_gen_print_value", 0, "VI"},
        {"daft_gen_print_end", 0, ""},
        {"daft_gen_print_begin", 0, "P"},
        {"daft_gen_kernel_begin", 0, ""},
        {"daft_gen_kernel_end", 1, "PP"},
        {"daft_gen_take_tensor", 1, "PPPV"},
        {"daft_gen_take_str", 1, "PPPV"},
        {"daft_gen_take_value", 1, "PVPV"},
        {"daft_gen_peek", 0, "PVVP"},
        {"daft_gen_fail", 1, "PV"},
        {"daft_gen_to_str", 0, "VVI"},
        {"daft_gen_index_error", 1, "PLL"},
        {"daft_gen_f2i", 1, "PDIP"},
        {"daft_gen_i2i32", 1, "PLP"},
        {"daft_gen_empty_tensor", 0, "VI"},
        {"daft_gen_spawn", 0, "VIVIII"},
        {"daft_gen_call", 0, "VVIVI"},
        {"daft_gen_get", 1, "PVDV"},
        {"daft_gen_get_take", 1, "PVDV"},
        {"daft_gen_wait", 1, "PVLDV"},
        {"daft_gen_check_timeout", 1, "PDI"},
        {"daft_gen_check_nargs", 1, "PII"},
        {"daft_gen_check_tensor", 1, "PVPPP"},
        {"daft_gen_check_tensor_append", 1, "PVVPPP"},
        {"daft_gen_error", 1, "PV"},
        {"daft_gen_error_msg", 1, "PP"},
    };
    for (size_t i = 0; i < sizeof table / sizeof *table; i++) {
        if (strcmp(table[i].name, name) != 0)
            continue;
        LLVMTypeRef ps[8];
        unsigned n = 0;
        for (const char *s = table[i].sig; *s; s++)
            ps[n++] = *s == 'V' ? V : *s == 'P' ? P : *s == 'I' ? I : *s == 'L' ? L : *s == 'D' ? D : F;
        return ext_fn(cg, name, LLVMFunctionType(table[i].ret ? I : v, ps, n, false));
    }
    fprintf(stderr, "daftc: internal error: unknown runtime helper %s\n", name);
    abort();
}

static LLVMValueRef call_rt(Cg *cg, const char *name, LLVMValueRef *args, unsigned n) {
    return call_fn(cg, rt(cg, name), args, n);
}

/* ---------------------------------------------------------------- constants and helpers */

static LLVMValueRef ci32(Cg *cg, long long v) { return LLVMConstInt(cg->t_i32, (unsigned long long)v, true); }
static LLVMValueRef ci64(Cg *cg, long long v) { return LLVMConstInt(cg->t_i64, (unsigned long long)v, true); }

/* A private constant global holding `init`, as an i8*. */
static LLVMValueRef const_global(Cg *cg, LLVMValueRef init, const char *name) {
    LLVMValueRef g = LLVMAddGlobal(cg->m, LLVMTypeOf(init), name);
    LLVMSetInitializer(g, init);
    LLVMSetGlobalConstant(g, true);
    LLVMSetLinkage(g, LLVMPrivateLinkage);
    LLVMSetUnnamedAddr(g, true);
    return LLVMConstBitCast(g, cg->t_i8p);
}

static LLVMValueRef const_bytes(Cg *cg, const char *bytes, size_t len, const char *name) {
    return const_global(cg, LLVMConstStringInContext(cg->ctx, bytes, (unsigned)len, false), name);
}

static LLVMValueRef const_str(Cg *cg, const char *s) { return const_bytes(cg, s, strlen(s), ".str"); }

static LLVMValueRef const_i64s(Cg *cg, const int64_t *v, unsigned n, const char *name) {
    LLVMValueRef e[66];
    for (unsigned i = 0; i < n && i < 66; i++)
        e[i] = ci64(cg, v[i]);
    return const_global(cg, LLVMConstArray(cg->t_i64, e, n < 66 ? n : 66), name);
}


static LLVMBasicBlockRef new_bb(Cg *cg, const char *name) {
    return LLVMAppendBasicBlockInContext(cg->ctx, cg->f->fn, name);
}

static bool terminated(Cg *cg) {
    LLVMBasicBlockRef bb = LLVMGetInsertBlock(cg->b);
    return LLVMGetBasicBlockTerminator(bb) != NULL;
}

/* After a return/break: later statements go to an unreachable block. */
static void start_dead_block(Cg *cg) {
    LLVMPositionBuilderAtEnd(cg->b, new_bb(cg, "dead"));
}

/* Pointer to field `i` (0 kind, 1 payload word) helpers of a DaftValue. */
static LLVMValueRef val_kind_ptr(Cg *cg, LLVMValueRef v) {
    return LLVMBuildStructGEP2(cg->b, cg->t_val, v, 0, "kind.p");
}

static LLVMValueRef val_word_ptr(Cg *cg, LLVMValueRef v, int word, LLVMTypeRef as) {
    LLVMValueRef idx[3] = {ci32(cg, 0), ci32(cg, 1), ci32(cg, word)};
    LLVMValueRef p = LLVMBuildInBoundsGEP2(cg->b, cg->t_val, v, idx, 3, "pay.p");
    return LLVMBuildBitCast(cg->b, p, LLVMPointerType(as, 0), "");
}

/* An owned slot in the entry block, initialised to DAFT_V_NONE there. */
static LLVMValueRef new_owned_slot(Cg *cg, const char *name) {
    FnCtx *f = cg->f;
    LLVMValueRef a = LLVMBuildAlloca(f->ab, cg->t_val, name);
    LLVMValueRef kp = LLVMBuildStructGEP2(f->ab, cg->t_val, a, 0, "");
    LLVMBuildStore(f->ab, ci32(cg, DAFT_V_NONE), kp);
    vec_push(&f->owned, a);
    return a;
}

static LLVMValueRef new_temp(Cg *cg) {
    LLVMValueRef a = new_owned_slot(cg, "tmp");
    vec_push(&cg->f->temps, a);
    return a;
}

static LLVMValueRef new_scalar_slot(Cg *cg, LLVMTypeRef ty, const char *name) {
    return LLVMBuildAlloca(cg->f->ab, ty, name);
}

static size_t temp_mark(Cg *cg) { return cg->f->temps.len; }

static void free_temps(Cg *cg, size_t mark) {
    FnCtx *f = cg->f;
    if (!terminated(cg))
        for (size_t i = f->temps.len; i > mark; i--) {
            LLVMValueRef a = f->temps.v[i - 1];
            call_rt(cg, "daft_gen_drop", &a, 1);
        }
    f->temps.len = mark;
}

/* Branches to the exit with `st` as the status when st != 0. */
static void check_status(Cg *cg, LLVMValueRef st) {
    LLVMValueRef bad = LLVMBuildICmp(cg->b, LLVMIntNE, st, ci32(cg, 0), "failed");
    LLVMBasicBlockRef fail = new_bb(cg, "fail"), ok = new_bb(cg, "ok");
    LLVMBuildCondBr(cg->b, bad, fail, ok);
    LLVMPositionBuilderAtEnd(cg->b, fail);
    LLVMBuildStore(cg->b, st, cg->f->status);
    LLVMBuildBr(cg->b, cg->f->ret_bb);
    LLVMPositionBuilderAtEnd(cg->b, ok);
}

/* Raises (actor) or reports fatally (driver) a fixed message when cond is true. */
/* Does tensor type `to` say more than `from` (a dtype, a rank or a static dimension that
 * `from` leaves open)? Sema made sure the two are consistent. NULL from: it says nothing. */
static bool tensor_more_precise(const DaftType *to, const DaftType *from) {
    if (!to || to->kind != DAFT_TY_TENSOR || (to->dtype >= DAFT_DT_COUNT && to->rank < 0))
        return false;
    if (!from || from->kind != DAFT_TY_TENSOR)
        return !from;
    if (to->dtype < DAFT_DT_COUNT && from->dtype >= DAFT_DT_COUNT)
        return true;
    if (to->rank < 0)
        return false;
    if (from->rank < 0)
        return true;
    for (int i = 0; i < to->rank && i < from->rank; i++)
        if (to->dims[i] != DAFT_DIM_DYNAMIC && from->dims[i] == DAFT_DIM_DYNAMIC)
            return true;
    return false;
}

/* The run-time check of SPEC 5.5: a boxed value of static type `from` used where tensor type
 * `to` is expected, when `to` says more; `what` names the use ("argument 'x'"). A shape the
 * code relies on then holds (a method's argument comes from another process: from = NULL). */
/* check_tensor of v, or with append (the list v's items are appended to) of `append + v`. */
static void check_tensor_in(Cg *cg, LLVMValueRef append, LLVMValueRef v, const DaftType *to, const DaftType *from,
                            const char *what) {
    int64_t depth = 0; /* a list's items are checked, however deep (`[[tensor<f32, [4]>]]`) */
    while (to && to->kind == DAFT_TY_LIST) {
        to = to->elem;
        from = from && from->kind == DAFT_TY_LIST ? from->elem : from;
        depth++;
    }
    if (!v || !tensor_more_precise(to, from))
        return;
    int64_t spec[3 + DAFT_MAX_RANK];
    int rank = to->rank >= 0 && to->rank <= DAFT_MAX_RANK ? to->rank : -1;
    spec[0] = depth;
    spec[1] = to->dtype < DAFT_DT_COUNT ? (int64_t)to->dtype : -1;
    spec[2] = rank;
    for (int i = 0; i < rank; i++)
        spec[3 + i] = to->dims[i];
    LLVMValueRef ctx = cg->f->ctxv ? cg->f->ctxv : LLVMConstNull(cg->t_i8p);
    LLVMValueRef sp = const_i64s(cg, spec, (unsigned)(3 + (rank > 0 ? rank : 0)), ".shape");
    if (append) {
        LLVMValueRef args[6] = {ctx, append, v, sp, const_str(cg, what), const_str(cg, tystr(cg, to))};
        check_status(cg, call_rt(cg, "daft_gen_check_tensor_append", args, 6));
        return;
    }
    LLVMValueRef args[5] = {ctx, v, sp, const_str(cg, what), const_str(cg, tystr(cg, to))};
    check_status(cg, call_rt(cg, "daft_gen_check_tensor", args, 5));
}

static void check_tensor(Cg *cg, LLVMValueRef v, const DaftType *to, const DaftType *from, const char *what) {
    check_tensor_in(cg, NULL, v, to, from, what);
}

static void raise_if(Cg *cg, LLVMValueRef cond, const char *msg) {
    LLVMBasicBlockRef fail = new_bb(cg, "raise"), ok = new_bb(cg, "ok");
    LLVMBuildCondBr(cg->b, cond, fail, ok);
    LLVMPositionBuilderAtEnd(cg->b, fail);
    LLVMValueRef args[2] = {cg->f->ctxv, const_str(cg, msg)};
    LLVMValueRef st = call_rt(cg, "daft_gen_error_msg", args, 2);
    LLVMBuildStore(cg->b, st, cg->f->status);
    LLVMBuildBr(cg->b, cg->f->ret_bb);
    LLVMPositionBuilderAtEnd(cg->b, ok);
}

/* ---------------------------------------------------------------- boxing */

static LLVMValueRef convert_scalar(Cg *cg, LLVMValueRef v, const DaftType *from, const DaftType *to) {
    if (!from || !to || from->kind == to->kind)
        return v;
    LLVMTypeRef t = lty(cg, to);
    if (to->kind == DAFT_TY_BOOL)
        return ty_float(from) ? LLVMBuildFCmp(cg->b, LLVMRealUNE, v, LLVMConstReal(lty(cg, from), 0), "")
                              : LLVMBuildICmp(cg->b, LLVMIntNE, v, LLVMConstInt(lty(cg, from), 0, false), "");
    if (from->kind == DAFT_TY_BOOL)
        return ty_float(to) ? LLVMBuildUIToFP(cg->b, v, t, "") : LLVMBuildZExt(cg->b, v, t, "");
    if (ty_int(from) && ty_int(to))
        return LLVMBuildIntCast2(cg->b, v, t, true, "");
    if (ty_float(from) && ty_float(to))
        return LLVMBuildFPCast(cg->b, v, t, "");
    if (ty_int(from))
        return LLVMBuildSIToFP(cg->b, v, t, "");
    return LLVMBuildFPToSI(cg->b, v, t, "");
}

/* Stores scalar v of type ty into the DaftValue at dst (overwritten, not freed). */
static void box_into(Cg *cg, LLVMValueRef dst, LLVMValueRef v, const DaftType *ty) {
    LLVMValueRef kp = val_kind_ptr(cg, dst);
    switch (ty->kind) {
    case DAFT_TY_BOOL:
        LLVMBuildStore(cg->b, ci32(cg, DAFT_V_BOOL), kp);
        LLVMBuildStore(cg->b, LLVMBuildZExt(cg->b, v, cg->t_i8, ""), val_word_ptr(cg, dst, 0, cg->t_i8));
        break;
    case DAFT_TY_I32:
    case DAFT_TY_I64:
        LLVMBuildStore(cg->b, ci32(cg, DAFT_V_I64), kp);
        LLVMBuildStore(cg->b, LLVMBuildSExtOrBitCast(cg->b, v, cg->t_i64, ""), val_word_ptr(cg, dst, 0, cg->t_i64));
        break;
    default:
        LLVMBuildStore(cg->b, ci32(cg, DAFT_V_F64), kp);
        LLVMBuildStore(cg->b, LLVMBuildFPCast(cg->b, v, cg->t_f64, ""), val_word_ptr(cg, dst, 0, cg->t_f64));
        break;
    }
}

/* Unchecked unboxing (values whose kind the generated code itself guarantees). */
static LLVMValueRef unbox_fast(Cg *cg, LLVMValueRef src, const DaftType *ty) {
    switch (ty->kind) {
    case DAFT_TY_BOOL:
        return LLVMBuildICmp(cg->b, LLVMIntNE, LLVMBuildLoad2(cg->b, cg->t_i8, val_word_ptr(cg, src, 0, cg->t_i8), ""),
                             LLVMConstInt(cg->t_i8, 0, false), "");
    case DAFT_TY_I32:
    case DAFT_TY_I64: {
        LLVMValueRef v = LLVMBuildLoad2(cg->b, cg->t_i64, val_word_ptr(cg, src, 0, cg->t_i64), "");
        return ty->kind == DAFT_TY_I32 ? LLVMBuildTrunc(cg->b, v, cg->t_i32, "") : v;
    }
    default: {
        LLVMValueRef v = LLVMBuildLoad2(cg->b, cg->t_f64, val_word_ptr(cg, src, 0, cg->t_f64), "");
        return ty->kind == DAFT_TY_F32 ? LLVMBuildFPTrunc(cg->b, v, cg->t_f32, "") : v;
    }
    }
}

/* Checked unboxing of a value from elsewhere; errors propagate. */
static LLVMValueRef unbox_checked(Cg *cg, LLVMValueRef src, const DaftType *ty) {
    const char *fn;
    LLVMTypeRef st;
    DaftType tmp = {0};
    switch (ty->kind) {
    case DAFT_TY_BOOL: fn = "daft_gen_unbox_bool"; st = cg->t_i8; tmp.kind = DAFT_TY_BOOL; break;
    case DAFT_TY_I32:
    case DAFT_TY_I64: fn = "daft_gen_unbox_i64"; st = cg->t_i64; tmp.kind = DAFT_TY_I64; break;
    default: fn = "daft_gen_unbox_f64"; st = cg->t_f64; tmp.kind = DAFT_TY_F64; break;
    }
    LLVMValueRef slot = new_scalar_slot(cg, st, "unboxed");
    LLVMValueRef args[3] = {cg->f->ctxv, src, LLVMBuildBitCast(cg->b, slot, cg->t_i8p, "")};
    check_status(cg, call_rt(cg, fn, args, 3));
    LLVMValueRef v = LLVMBuildLoad2(cg->b, st, slot, "");
    if (ty->kind == DAFT_TY_BOOL)
        return LLVMBuildICmp(cg->b, LLVMIntNE, v, LLVMConstInt(cg->t_i8, 0, false), "");
    return convert_scalar(cg, v, &tmp, ty);
}

/* A boxed view of any value: boxed values as they are, scalars boxed into a temporary. */
static CgVal boxed_of(Cg *cg, CgVal v, const DaftType *ty) {
    if (v.boxed || !v.v)
        return v;
    LLVMValueRef t = new_temp(cg);
    box_into(cg, t, v.v, ty);
    return (CgVal){t, true, true};
}

/* Moves (temporary) or copies (borrowed) boxed src into dst; dst is overwritten. */
static void move_or_copy(Cg *cg, LLVMValueRef dst, CgVal src) {
    if (src.temp) {
        LLVMValueRef whole = LLVMBuildLoad2(cg->b, cg->t_val, src.v, "");
        LLVMBuildStore(cg->b, whole, dst);
        LLVMBuildStore(cg->b, ci32(cg, DAFT_V_NONE), val_kind_ptr(cg, src.v));
    } else {
        LLVMValueRef args[2] = {dst, src.v};
        call_rt(cg, "daft_gen_copy", args, 2);
    }
}

/* Stores a value into a boxed destination that holds a live value: the old one is freed
 * after the new one has been computed (copy first, so `x = x` and `xs = xs[0]` are safe). */
/* How an owned value dies: in driver code it may hold Refs, released with their last
 * holder (daft_gen_drop); actor code holds none. */
static const char *free_fn(Cg *cg) { return cg->f && !cg->f->in_actor ? "daft_gen_drop" : "daft_value_free"; }

static void assign_boxed(Cg *cg, LLVMValueRef dst, CgVal src) {
    if (!src.temp) {
        LLVMValueRef t = new_temp(cg);
        LLVMValueRef args[2] = {t, src.v};
        call_rt(cg, "daft_gen_copy", args, 2);
        src = (CgVal){t, true, true};
    }
    call_rt(cg, free_fn(cg), &dst, 1);
    move_or_copy(cg, dst, src);
}

/* ---------------------------------------------------------------- debug info */

static void di_set_loc(Cg *cg, DaftSpan span) {
    if (!cg->dib || !cg->f || !cg->f->scope || span.file < 0 || span.begin.line <= 0)
        return;
    LLVMMetadataRef loc = LLVMDIBuilderCreateDebugLocation(cg->ctx, (unsigned)span.begin.line,
                                                           (unsigned)span.begin.col, cg->f->scope, NULL);
    LLVMSetCurrentDebugLocation2(cg->b, loc);
}

static LLVMMetadataRef di_subprogram(Cg *cg, LLVMValueRef fn, const char *name, DaftSpan span) {
    if (!cg->dib)
        return NULL;
    size_t nlen = strlen(name);
    const char *link = LLVMGetValueName(fn);
    unsigned line = span.begin.line > 0 ? (unsigned)span.begin.line : 1;
    LLVMMetadataRef sp = LLVMDIBuilderCreateFunction(
        cg->dib, cg->di_file, name, nlen, link, strlen(link), cg->di_file, line, cg->di_fnty,
        false, true, line, LLVMDIFlagPrototyped, cg->opt->opt_level > 0);
    LLVMSetSubprogram(fn, sp);
    return sp;
}

/* ---------------------------------------------------------------- function frames */

static void begin_fn(Cg *cg, FnCtx *f, LLVMValueRef fn, const char *display, DaftSpan span) {
    memset(f, 0, sizeof *f);
    cg->f = f;
    f->fn = fn;
    f->entry = LLVMAppendBasicBlockInContext(cg->ctx, fn, "entry");
    LLVMBasicBlockRef body = LLVMAppendBasicBlockInContext(cg->ctx, fn, "body");
    f->ret_bb = LLVMAppendBasicBlockInContext(cg->ctx, fn, "exit");
    f->ab = LLVMCreateBuilderInContext(cg->ctx);
    LLVMPositionBuilderAtEnd(f->ab, f->entry);
    f->status = LLVMBuildAlloca(f->ab, cg->t_i32, "status");
    LLVMBuildStore(f->ab, ci32(cg, 0), f->status);
    LLVMPositionBuilderAtEnd(cg->b, body);
    f->scope = di_subprogram(cg, fn, display, span);
    if (f->scope) {
        LLVMMetadataRef loc = LLVMDIBuilderCreateDebugLocation(
            cg->ctx, span.begin.line > 0 ? (unsigned)span.begin.line : 1, 0, f->scope, NULL);
        LLVMSetCurrentDebugLocation2(cg->b, loc);
        LLVMSetCurrentDebugLocation2(f->ab, loc);
    } else {
        LLVMSetCurrentDebugLocation2(cg->b, NULL);
    }
}

static void end_fn(Cg *cg) {
    FnCtx *f = cg->f;
    if (!terminated(cg))
        LLVMBuildBr(cg->b, f->ret_bb);
    LLVMBuildBr(f->ab, LLVMGetNextBasicBlock(f->entry));
    LLVMPositionBuilderAtEnd(cg->b, f->ret_bb);
    for (size_t i = 0; i < f->owned.len; i++) {
        LLVMValueRef a = f->owned.v[i];
        call_rt(cg, free_fn(cg), &a, 1);
    }
    if (f->saved_where)
        LLVMBuildStore(cg->b, f->saved_where, cg->where);
    LLVMBuildRet(cg->b, LLVMBuildLoad2(cg->b, cg->t_i32, f->status, "st"));
    LLVMDisposeBuilder(f->ab);
    for (size_t i = 0; i < f->locals.cap; i++)
        if (f->locals.keys[i])
            free(f->locals.vals[i]);
    map_free(&f->locals);
    free(f->owned.v);
    free(f->temps.v);
    cg->f = NULL;
    LLVMSetCurrentDebugLocation2(cg->b, NULL);
}

static Local *add_local(Cg *cg, const DaftNode *decl, LocKind kind, LLVMValueRef ptr, DaftType *ty) {
    Local *l = calloc(1, sizeof *l);
    l->kind = kind;
    l->ptr = ptr;
    l->ty = ty;
    map_put(&cg->f->locals, decl, l);
    return l;
}

/* True when pred holds for n or some node under it. */
static bool any_node(const DaftNode *n, bool (*pred)(const DaftNode *, const void *), const void *arg) {
    if (!n)
        return false;
    if (pred(n, arg))
        return true;
    const DaftNode *kids[] = {n->value, n->target, n->lhs, n->rhs, n->callee, n->cond,
                              n->then, n->els, n->iter, n->body};
    for (size_t i = 0; i < sizeof kids / sizeof *kids; i++)
        if (any_node(kids[i], pred, arg))
            return true;
    for (int i = 0; i < n->items.len; i++)
        if (any_node(n->items.items[i], pred, arg))
            return true;
    for (int i = 0; i < n->args.len; i++)
        if (any_node(n->args.items[i], pred, arg))
            return true;
    return false;
}

/* The variable or field an assignment target writes into: `xs[i][j] = v` writes into xs. */
static const DaftNode *target_root(const DaftNode *t) {
    while (t && t->kind == DAFT_N_INDEX)
        t = t->lhs;
    return t;
}

static bool writes_decl(const DaftNode *n, const void *decl) {
    const DaftNode *t = n->kind == DAFT_N_ASSIGN ? target_root(n->target) : NULL;
    return t && t->kind == DAFT_N_NAME && t->decl == decl;
}

/* True when the variable `decl` or one of its items is assigned somewhere under n: a
 * borrowed list must then be copied first, lists being values (SPEC 5.3). */
static bool writes_to(const DaftNode *n, const DaftNode *decl) { return any_node(n, writes_decl, decl); }

static bool writes_field(const DaftNode *n, const void *unused) {
    (void)unused;
    const DaftNode *t = n->kind == DAFT_N_ASSIGN ? target_root(n->target) : NULL;
    return t && t->kind == DAFT_N_FIELD_ACCESS;
}

/* Is n a call of a method on self that may write fields? */
static bool calls_field_writer(const DaftNode *n, const void *cgp) {
    const Cg *cg = cgp;
    if (n->kind != DAFT_N_CALL || !n->callee || n->callee->kind != DAFT_N_FIELD_ACCESS ||
        !n->callee->lhs || n->callee->lhs->kind != DAFT_N_SELF)
        return false;
    const DaftNode *decl = n->decl ? n->decl : n->callee->decl;
    const FnInfo *fi = decl ? map_get(&cg->fn_of, decl) : NULL;
    return fi && fi->writes_fields;
}

/* Marks the methods of ci that may write a field of self, directly or through the methods
 * they call on self (a fixpoint: calls may be recursive). A value borrowed from a field
 * must not be seen by such a call, which could replace or change it under the borrower. */
static void mark_field_writers(Cg *cg, ClassInfo *ci) {
    for (int i = 0; i < ci->nmethods; i++)
        ci->methods[i]->writes_fields = any_node(ci->methods[i]->decl->body, writes_field, NULL);
    for (bool changed = true; changed;) {
        changed = false;
        for (int i = 0; i < ci->nmethods; i++) {
            FnInfo *fi = ci->methods[i];
            if (!fi->writes_fields && any_node(fi->decl->body, calls_field_writer, cg))
                changed = fi->writes_fields = true;
        }
    }
}

/* Do a and b name the same variable or the same field of self? */
static bool same_place(const DaftNode *a, const DaftNode *b) {
    if (a->kind == DAFT_N_NAME && b->kind == DAFT_N_NAME)
        return a->decl && a->decl == b->decl;
    return a->kind == DAFT_N_FIELD_ACCESS && b->kind == DAFT_N_FIELD_ACCESS &&
           a->lhs->kind == DAFT_N_SELF && b->lhs->kind == DAFT_N_SELF && a->name && b->name &&
           strcmp(a->name, b->name) == 0;
}

static bool replaces_place(const DaftNode *n, const void *iter) {
    if (n->kind != DAFT_N_ASSIGN || !n->target)
        return false;
    return same_place(target_root(n->target), target_root(iter));
}

/* Does the body of a loop over iter (a variable or a field of self, or items of one)
 * replace it or one of its items: by an assignment, or by calling a method that may write
 * fields when iter is a field? */
static bool replaces(Cg *cg, const DaftNode *body, const DaftNode *iter) {
    const DaftNode *r = target_root(iter);
    return any_node(body, replaces_place, iter) ||
           (r->kind == DAFT_N_FIELD_ACCESS && any_node(body, calls_field_writer, cg));
}

/* ---------------------------------------------------------------- expressions */

static CgVal emit_expr(Cg *cg, DaftNode *e);
static void emit_block(Cg *cg, DaftNode *block);

/* The runtime's get for a Ref value: a temporary Ref (a schedule call's result, released
 * after this statement) has its value moved out instead of copied. */
static const char *get_fn(CgVal ref) { return ref.temp ? "daft_gen_get_take" : "daft_gen_get"; }

/* The value of e as a scalar of type `to` (converting between numeric types; a Ref<T> or
 * any boxed value of a scalar type is unboxed, through get() when it is a Ref). */
static LLVMValueRef emit_scalar_as(Cg *cg, DaftNode *e, const DaftType *to) {
    CgVal v = emit_expr(cg, e);
    if (!v.v)
        return LLVMGetUndef(lty(cg, to));
    if (!v.boxed)
        return convert_scalar(cg, v.v, e->ty, to);
    if (e->ty && e->ty->kind == DAFT_TY_REF) {
        LLVMValueRef t = new_temp(cg);
        LLVMValueRef args[4] = {cg->f->ctxv, v.v, LLVMConstReal(cg->t_f64, -1), t};
        check_status(cg, call_rt(cg, get_fn(v), args, 4));
        return unbox_checked(cg, t, to);
    }
    return unbox_checked(cg, v.v, to);
}

/* The value of e for a boxed destination of type `to` (NULL: as it is). A Ref where a
 * non-Ref is expected is resolved with get() unless keep_refs. */
static CgVal emit_boxed_as(Cg *cg, DaftNode *e, const DaftType *to, bool keep_refs) {
    CgVal v = emit_expr(cg, e);
    if (!v.v)
        return v;
    if (!v.boxed)
        return boxed_of(cg, v, e->ty);
    if (!keep_refs && to && to->kind != DAFT_TY_REF && e->ty && e->ty->kind == DAFT_TY_REF) {
        LLVMValueRef t = new_temp(cg);
        LLVMValueRef args[4] = {cg->f->ctxv, v.v, LLVMConstReal(cg->t_f64, -1), t};
        check_status(cg, call_rt(cg, get_fn(v), args, 4));
        return (CgVal){t, true, true};
    }
    return v;
}

static Local *local_of(Cg *cg, DaftNode *e) {
    Local *l = cg->f ? map_get(&cg->f->locals, e->decl) : NULL;
    if (!l)
        cg_err(cg, e->span, "codegen: '%s' has no storage here (internal error)", e->name ? e->name : "?");
    return l;
}

static CgVal load_local(Cg *cg, Local *l) {
    switch (l->kind) {
    case LOC_SCALAR: return (CgVal){LLVMBuildLoad2(cg->b, lty(cg, l->ty), l->ptr, ""), false, false};
    case LOC_OWNED:
    case LOC_BORROWED: return (CgVal){l->ptr, true, false};
    case LOC_INDIRECT: return (CgVal){LLVMBuildLoad2(cg->b, cg->t_valp, l->ptr, ""), true, false};
    }
    return cg_void;
}

static int field_index(Cg *cg, ClassInfo *ci, const DaftNode *fa) {
    if (fa->decl && fa->decl->kind == DAFT_N_FIELD) {
        intptr_t k = (intptr_t)map_get(&cg->field_index, fa->decl);
        if (k)
            return (int)k - 1;
    }
    for (int i = 0; i < ci->nfields; i++)
        if (fa->name && strcmp(ci->fields[i]->name, fa->name) == 0)
            return i;
    return -1;
}

/* Does a field of type t start unset (DAFT_V_NONE) instead of with its zero value? A
 * tensor field whose static shape an empty tensor of shape [0] does not fit: reading it
 * before it was assigned is an error (SPEC.md §8.2). */
static bool field_starts_unset(const DaftType *t) {
    return t && t->kind == DAFT_TY_TENSOR && t->rank >= 0 &&
           !(t->rank == 1 && (t->dims[0] == 0 || t->dims[0] == DAFT_DIM_DYNAMIC));
}

/* Address of self.field. */
static LLVMValueRef field_ptr(Cg *cg, DaftNode *fa, DaftType **ty) {
    FnCtx *f = cg->f;
    if (!f->cls || !f->state) {
        cg_err(cg, fa->span, "codegen: 'self' outside an actor method");
        return NULL;
    }
    int i = field_index(cg, f->cls, fa);
    if (i < 0) {
        cg_err(cg, fa->span, "codegen: unknown field '%s'", fa->name);
        return NULL;
    }
    *ty = f->cls->fields[i]->ty;
    return LLVMBuildStructGEP2(cg->b, f->cls->state_ty, f->state, (unsigned)i, fa->name);
}

/* Address of list item xs[i], bounds-checked (SPEC.md §6.6: 0 <= i < len). */
static LLVMValueRef list_item_ptr(Cg *cg, LLVMValueRef list, LLVMValueRef idx) {
    LLVMValueRef len = LLVMBuildLoad2(cg->b, cg->t_i64, val_word_ptr(cg, list, 1, cg->t_i64), "len");
    LLVMValueRef oob = LLVMBuildICmp(cg->b, LLVMIntUGE, idx, len, "oob");
    LLVMBasicBlockRef fail = new_bb(cg, "oob"), ok = new_bb(cg, "inb");
    LLVMBuildCondBr(cg->b, oob, fail, ok);
    LLVMPositionBuilderAtEnd(cg->b, fail);
    LLVMValueRef ea[3] = {cg->f->ctxv, idx, len};
    LLVMBuildStore(cg->b, call_rt(cg, "daft_gen_index_error", ea, 3), cg->f->status);
    LLVMBuildBr(cg->b, cg->f->ret_bb);
    LLVMPositionBuilderAtEnd(cg->b, ok);
    LLVMValueRef items = LLVMBuildLoad2(cg->b, cg->t_valp, val_word_ptr(cg, list, 0, cg->t_valp), "items");
    return LLVMBuildInBoundsGEP2(cg->b, cg->t_val, items, &idx, 1, "item");
}

static CgVal keep_operand(Cg *cg, const DaftNode *e, CgVal v, DaftNode *const *later, int nlater);

/* Address of an indexable element, read (an assignment's target is place_of's): returns the
 * item pointer; *elem its type. */
static LLVMValueRef index_ptr(Cg *cg, DaftNode *e, DaftType **elem) {
    DaftType *lt = e->lhs->ty;
    if (!lt || lt->kind != DAFT_TY_LIST) {
        cg_err(cg, e->span, "codegen: indexing a value of type %s is not supported", tystr(cg, lt));
        return NULL;
    }
    CgVal l = emit_expr(cg, e->lhs);
    DaftType i64 = {.kind = DAFT_TY_I64};
    l = keep_operand(cg, e->lhs, l, &e->rhs, 1); /* `self.xs[self.m()]`: the list before m */
    LLVMValueRef idx = emit_scalar_as(cg, e->rhs, &i64);
    if (!l.v)
        return NULL;
    *elem = lt->elem;
    return list_item_ptr(cg, l.v, idx);
}

static LLVMValueRef emit_arith(Cg *cg, DaftOp op, LLVMValueRef a, LLVMValueRef b, const DaftType *ty) {
    bool fl = ty_float(ty);
    switch (op) {
    case DAFT_OP_ADD: return fl ? LLVMBuildFAdd(cg->b, a, b, "") : LLVMBuildAdd(cg->b, a, b, "");
    case DAFT_OP_SUB: return fl ? LLVMBuildFSub(cg->b, a, b, "") : LLVMBuildSub(cg->b, a, b, "");
    case DAFT_OP_MUL: return fl ? LLVMBuildFMul(cg->b, a, b, "") : LLVMBuildMul(cg->b, a, b, "");
    case DAFT_OP_DIV:
    case DAFT_OP_MOD:
        if (fl)
            return op == DAFT_OP_DIV ? LLVMBuildFDiv(cg->b, a, b, "") : LLVMBuildFRem(cg->b, a, b, "");
        {
            LLVMTypeRef t = LLVMTypeOf(a);
            raise_if(cg, LLVMBuildICmp(cg->b, LLVMIntEQ, b, LLVMConstInt(t, 0, false), ""), "division by zero");
            /* INT_MIN / -1 would trap: compute it as 0 - a (wraps), INT_MIN % -1 as 0. */
            LLVMValueRef m1 = LLVMBuildICmp(cg->b, LLVMIntEQ, b, LLVMConstAllOnes(t), "");
            LLVMValueRef safe_b = LLVMBuildSelect(cg->b, m1, LLVMConstInt(t, 1, false), b, "");
            if (op == DAFT_OP_DIV) {
                LLVMValueRef q = LLVMBuildSDiv(cg->b, a, safe_b, "");
                return LLVMBuildSelect(cg->b, m1, LLVMBuildSub(cg->b, LLVMConstInt(t, 0, false), a, ""), q, "");
            }
            LLVMValueRef r = LLVMBuildSRem(cg->b, a, safe_b, "");
            return LLVMBuildSelect(cg->b, m1, LLVMConstInt(t, 0, false), r, "");
        }
    default: return NULL;
    }
}

static LLVMValueRef emit_compare(Cg *cg, DaftOp op, LLVMValueRef a, LLVMValueRef b, const DaftType *ty) {
    if (ty_float(ty)) {
        LLVMRealPredicate p = op == DAFT_OP_EQ ? LLVMRealOEQ : op == DAFT_OP_NE ? LLVMRealUNE
                            : op == DAFT_OP_LT ? LLVMRealOLT : op == DAFT_OP_LE ? LLVMRealOLE
                            : op == DAFT_OP_GT ? LLVMRealOGT : LLVMRealOGE;
        return LLVMBuildFCmp(cg->b, p, a, b, "");
    }
    bool u = ty->kind == DAFT_TY_BOOL;
    LLVMIntPredicate p = op == DAFT_OP_EQ ? LLVMIntEQ : op == DAFT_OP_NE ? LLVMIntNE
                       : op == DAFT_OP_LT ? (u ? LLVMIntULT : LLVMIntSLT)
                       : op == DAFT_OP_LE ? (u ? LLVMIntULE : LLVMIntSLE)
                       : op == DAFT_OP_GT ? (u ? LLVMIntUGT : LLVMIntSGT) : (u ? LLVMIntUGE : LLVMIntSGE);
    return LLVMBuildICmp(cg->b, p, a, b, "");
}

static bool is_cmp(DaftOp op) {
    return op == DAFT_OP_EQ || op == DAFT_OP_NE || op == DAFT_OP_LT || op == DAFT_OP_LE ||
           op == DAFT_OP_GT || op == DAFT_OP_GE;
}

/* The common type both operands of a scalar comparison are converted to. */
static const DaftType *wider(const DaftType *a, const DaftType *b) {
    static const DaftType f64 = {.kind = DAFT_TY_F64}, f32 = {.kind = DAFT_TY_F32},
                          i64 = {.kind = DAFT_TY_I64};
    if (!a || !b || a->kind == b->kind)
        return a ? a : b;
    if (ty_float(a) || ty_float(b))
        return (a->kind == DAFT_TY_F64 || b->kind == DAFT_TY_F64 || ty_int(a) || ty_int(b)) &&
                       !(a->kind == DAFT_TY_F32 && b->kind == DAFT_TY_F32) ? &f64 : &f32;
    return &i64;
}

/* May boxed value v of expression e be a field of self, or borrowed from one? Only an
 * owned local (or an item of one) and a temporary certainly are not. */
static bool may_alias_field(Cg *cg, const DaftNode *e, CgVal v) {
    if (!v.boxed || v.temp)
        return false;
    const DaftNode *r = target_root(e);
    const Local *l = r && r->kind == DAFT_N_NAME && r->decl ? map_get(&cg->f->locals, r->decl) : NULL;
    return !l || l->kind != LOC_OWNED;
}

static CgVal copy_to_temp(Cg *cg, CgVal v) {
    LLVMValueRef t = new_temp(cg);
    LLVMValueRef args[2] = {t, v.v};
    call_rt(cg, "daft_gen_copy", args, 2);
    return (CgVal){t, true, true};
}

/* Operands are evaluated left to right, each to the value it has then (SPEC 6): an operand
 * that may be borrowed from a field is copied when a later one (later[0..nlater), NULLs
 * skipped) calls a method that may write fields, which would otherwise change it or free it
 * under the borrow (`self.xs + self.m()` with m replacing xs). */
static CgVal keep_operand(Cg *cg, const DaftNode *e, CgVal v, DaftNode *const *later, int nlater) {
    if (!v.v || !may_alias_field(cg, e, v))
        return v;
    for (int j = 0; j < nlater; j++)
        if (later[j] && any_node(later[j], calls_field_writer, cg))
            return copy_to_temp(cg, v);
    return v;
}

/* op applied to boxed operands through daft_gen_binop. */
static CgVal emit_boxed_binop(Cg *cg, DaftOp op, CgVal a, CgVal b, const DaftType *lt,
                              const DaftType *rt_, const DaftType *res) {
    a = boxed_of(cg, a, lt);
    b = boxed_of(cg, b, rt_);
    LLVMValueRef out = new_temp(cg);
    LLVMValueRef args[5] = {cg->f->ctxv, ci32(cg, op), a.v, b.v, out};
    check_status(cg, call_rt(cg, "daft_gen_binop", args, 5));
    if (ty_scalar(res))
        return (CgVal){unbox_fast(cg, out, res), false, false};
    return (CgVal){out, true, true};
}

static CgVal emit_binary_values(Cg *cg, DaftNode *e, const DaftType *res, DaftOp op, DaftNode *lhs, CgVal a,
                                DaftNode *rhs) {
    if (is_cmp(op)) {
        if (ty_scalar(lhs->ty) && ty_scalar(rhs->ty)) {
            const DaftType *t = wider(lhs->ty, rhs->ty);
            LLVMValueRef x = convert_scalar(cg, a.v, lhs->ty, t);
            LLVMValueRef y = emit_scalar_as(cg, rhs, t);
            return (CgVal){emit_compare(cg, op, x, y, t), false, false};
        }
        bool strs = lhs->ty && lhs->ty->kind == DAFT_TY_STR; /* ordered bytewise (SPEC 6.4) */
        if (op != DAFT_OP_EQ && op != DAFT_OP_NE && !strs) {
            cg_err(cg, e->span, "codegen: ordering comparison of %s is not supported", tystr(cg, lhs->ty));
            return cg_void;
        }
        a = keep_operand(cg, lhs, a, &rhs, 1);
        CgVal b = emit_expr(cg, rhs);
        return emit_boxed_binop(cg, op, a, b, lhs->ty, rhs->ty, res);
    }
    if (!a.v)
        return cg_void;
    if (ty_scalar(res)) {
        LLVMValueRef x = a.boxed ? unbox_checked(cg, a.v, res) : convert_scalar(cg, a.v, lhs->ty, res);
        LLVMValueRef y = emit_scalar_as(cg, rhs, res);
        LLVMValueRef r = emit_arith(cg, op, x, y, res);
        if (!r) {
            cg_err(cg, e->span, "codegen: operator '%s' is not supported here", daft_op_name(op));
            return cg_void;
        }
        return (CgVal){r, false, false};
    }
    a = keep_operand(cg, lhs, a, &rhs, 1);
    CgVal b = emit_expr(cg, rhs);
    return emit_boxed_binop(cg, op, a, b, lhs->ty, rhs->ty, res);
}

static CgVal emit_logic(Cg *cg, DaftNode *e) {
    DaftType b = {.kind = DAFT_TY_BOOL};
    LLVMValueRef l = emit_scalar_as(cg, e->lhs, &b);
    LLVMBasicBlockRef from = LLVMGetInsertBlock(cg->b);
    LLVMBasicBlockRef rhs_bb = new_bb(cg, e->op == DAFT_OP_AND ? "and.rhs" : "or.rhs");
    LLVMBasicBlockRef done = new_bb(cg, "logic.end");
    if (e->op == DAFT_OP_AND)
        LLVMBuildCondBr(cg->b, l, rhs_bb, done);
    else
        LLVMBuildCondBr(cg->b, l, done, rhs_bb);
    LLVMPositionBuilderAtEnd(cg->b, rhs_bb);
    LLVMValueRef r = emit_scalar_as(cg, e->rhs, &b);
    LLVMBasicBlockRef rhs_end = LLVMGetInsertBlock(cg->b);
    LLVMBuildBr(cg->b, done);
    LLVMPositionBuilderAtEnd(cg->b, done);
    LLVMValueRef phi = LLVMBuildPhi(cg->b, cg->t_i1, "logic");
    LLVMValueRef vals[2] = {LLVMConstInt(cg->t_i1, e->op == DAFT_OP_OR, false), r};
    LLVMBasicBlockRef bbs[2] = {from, rhs_end};
    LLVMAddIncoming(phi, vals, bbs, 2);
    return (CgVal){phi, false, false};
}

/* Arguments of a call matched to parameters: positional first, then by name. Returns the
 * argument expression for each parameter (NULL when missing). */
static void match_args(Cg *cg, DaftNode *call_or_spawn, const DaftNodeList *params, DaftNode **out, int n) {
    int pos = 0;
    for (int i = 0; i < n; i++)
        out[i] = NULL;
    for (int i = 0; i < call_or_spawn->args.len; i++) {
        DaftNode *a = call_or_spawn->args.items[i];
        if (a->kind == DAFT_N_NAMED_ARG) {
            bool found = false;
            for (int j = 0; params && j < params->len && j < n; j++)
                if (params->items[j]->name && a->name && strcmp(params->items[j]->name, a->name) == 0) {
                    out[j] = a->value;
                    found = true;
                }
            if (!found)
                cg_err(cg, a->span, "codegen: named argument '%s' matches no parameter", a->name);
        } else if (pos < n) {
            out[pos++] = a;
        } else {
            cg_err(cg, a->span, "codegen: too many arguments");
        }
    }
}

/* Builds an array of n DaftValues for a call: scalars boxed, boxed values shallow-copied
 * (a borrowed view: the array owns nothing). */
static LLVMValueRef build_arg_array(Cg *cg, DaftNode **args, DaftNodeList *params, int n, bool keep_refs) {
    if (n == 0)
        return LLVMConstNull(cg->t_valp);
    LLVMValueRef arr = LLVMBuildArrayAlloca(cg->f->ab, cg->t_val, ci32(cg, n), "args");
    for (int i = 0; i < n; i++) {
        LLVMValueRef idx = ci32(cg, i);
        LLVMValueRef slot = LLVMBuildInBoundsGEP2(cg->b, cg->t_val, arr, &idx, 1, "arg");
        if (!args[i]) {
            LLVMBuildStore(cg->b, ci32(cg, DAFT_V_NONE), val_kind_ptr(cg, slot));
            continue;
        }
        DaftType *pty = params && i < params->len ? params->items[i]->ty : NULL;
        CgVal v = keep_operand(cg, args[i], emit_expr(cg, args[i]), args + i + 1, n - i - 1);
        if (!v.v) {
            LLVMBuildStore(cg->b, ci32(cg, DAFT_V_NONE), val_kind_ptr(cg, slot));
            continue;
        }
        if (!v.boxed) {
            const DaftType *t = pty && ty_scalar(pty) ? pty : args[i]->ty;
            box_into(cg, slot, convert_scalar(cg, v.v, args[i]->ty, t), t);
            continue;
        }
        if (!keep_refs && pty && pty->kind != DAFT_TY_REF && args[i]->ty && args[i]->ty->kind == DAFT_TY_REF) {
            LLVMValueRef t = new_temp(cg);
            LLVMValueRef ga[4] = {cg->f->ctxv, v.v, LLVMConstReal(cg->t_f64, -1), t};
            check_status(cg, call_rt(cg, "daft_gen_get", ga, 4));
            v.v = t;
        }
        LLVMBuildStore(cg->b, LLVMBuildLoad2(cg->b, cg->t_val, v.v, ""), slot);
    }
    return arr;
}

/* The result of a uniform-ABI call in `out`: scalar (checked unbox), boxed temp or void. */
static CgVal result_of(Cg *cg, LLVMValueRef out, const DaftType *ty) {
    if (ty_void(ty))
        return cg_void;
    if (ty_scalar(ty))
        return (CgVal){unbox_checked(cg, out, ty), false, false};
    return (CgVal){out, true, true};
}

/* ---------------------------------------------------------------- typed extern kernels
 * The C ABI of user kernels is documented in include/daft/gen.h ("typed extern kernels"). */

static bool is_user_decl(Cg *cg, const DaftNode *d) {
    return cg->mod->source && d->span.file == cg->mod->source->id;
}

static LLVMTypeRef kernel_fnty(Cg *cg, const DaftNode *d) {
    int n = d->params.len;
    LLVMTypeRef *ps = calloc((size_t)n * 2 + 1, sizeof *ps);
    unsigned k = 0;
    ps[k++] = cg->t_i8p;
    for (int i = 0; i < n; i++) {
        DaftType *t = d->params.items[i]->ty;
        if (t && t->kind == DAFT_TY_BOOL)
            ps[k++] = cg->t_i32;
        else if (ty_scalar(t))
            ps[k++] = lty(cg, t);
        else if (t && t->kind == DAFT_TY_STR) {
            ps[k++] = cg->t_i8p;
            ps[k++] = cg->t_i64;
        } else if (t && t->kind == DAFT_TY_TENSOR)
            ps[k++] = cg->t_i8p;
        else
            ps[k++] = cg->t_valp;
    }
    DaftType *r = d->ty;
    LLVMTypeRef rt_ = ty_void(r) ? cg->t_void
                    : r->kind == DAFT_TY_BOOL ? cg->t_i8
                    : ty_scalar(r) ? lty(cg, r)
                    : (r->kind == DAFT_TY_TENSOR || r->kind == DAFT_TY_STR) ? cg->t_i8p : cg->t_valp;
    LLVMTypeRef fty = LLVMFunctionType(rt_, ps, k, false);
    free(ps);
    return fty;
}

/* Calls kernel `d` with vals[i] = the i-th argument (a scalar of the parameter's type, or a
 * DaftValue pointer). */
static CgVal call_kernel(Cg *cg, const DaftNode *d, LLVMValueRef *vals) {
    LLVMTypeRef fty = kernel_fnty(cg, d);
    LLVMValueRef fn = ext_fn(cg, d->symbol, fty);
    int n = d->params.len;
    LLVMValueRef *args = calloc((size_t)n * 2 + 1, sizeof *args);
    unsigned k = 0;
    args[k++] = cg->f->ctxv;
    for (int i = 0; i < n; i++) {
        DaftType *t = d->params.items[i]->ty;
        if (t && t->kind == DAFT_TY_BOOL)
            args[k++] = LLVMBuildZExt(cg->b, vals[i], cg->t_i32, "");
        else if (ty_scalar(t))
            args[k++] = vals[i];
        else if (t && t->kind == DAFT_TY_STR) {
            args[k++] = LLVMBuildLoad2(cg->b, cg->t_i8p, val_word_ptr(cg, vals[i], 0, cg->t_i8p), "str");
            args[k++] = LLVMBuildLoad2(cg->b, cg->t_i64, val_word_ptr(cg, vals[i], 1, cg->t_i64), "len");
        } else if (t && t->kind == DAFT_TY_TENSOR)
            args[k++] = val_word_ptr(cg, vals[i], 0, cg->t_i8);
        else
            args[k++] = vals[i];
    }
    call_rt(cg, "daft_gen_kernel_begin", NULL, 0);
    LLVMValueRef r = LLVMBuildCall2(cg->b, fty, fn, args, k, ty_void(d->ty) ? "" : "k");
    free(args);
    LLVMValueRef sym = const_str(cg, d->symbol);
    LLVMValueRef ea[2] = {cg->f->ctxv, sym};
    check_status(cg, call_rt(cg, "daft_gen_kernel_end", ea, 2));
    DaftType *rt_ = d->ty;
    if (ty_void(rt_))
        return cg_void;
    if (rt_->kind == DAFT_TY_BOOL)
        return (CgVal){LLVMBuildICmp(cg->b, LLVMIntNE, r, LLVMConstInt(cg->t_i8, 0, false), ""), false, false};
    if (ty_scalar(rt_))
        return (CgVal){r, false, false};
    LLVMValueRef out = new_temp(cg);
    LLVMValueRef ta[4] = {cg->f->ctxv, r, sym, out};
    const char *take = rt_->kind == DAFT_TY_TENSOR ? "daft_gen_take_tensor"
                     : rt_->kind == DAFT_TY_STR ? "daft_gen_take_str" : "daft_gen_take_value";
    check_status(cg, call_rt(cg, take, ta, 4));
    return (CgVal){out, true, true};
}

/* A kernel called with the arguments of a daft call expression. */
static CgVal emit_kernel_call(Cg *cg, DaftNode *call, const DaftNode *d) {
    int n = d->params.len;
    DaftNode **args = calloc((size_t)(n ? n : 1), sizeof *args);
    match_args(cg, call, &d->params, args, n);
    LLVMValueRef *vals = calloc((size_t)n + 1, sizeof *vals);
    for (int i = 0; i < n; i++) {
        DaftType *pty = d->params.items[i]->ty;
        if (!args[i]) {
            cg_err(cg, call->span, "codegen: missing argument '%s'", d->params.items[i]->name);
            vals[i] = LLVMGetUndef(param_ty(cg, pty));
        } else if (ty_scalar(pty)) {
            vals[i] = emit_scalar_as(cg, args[i], pty);
        } else {
            CgVal v = keep_operand(cg, args[i], emit_boxed_as(cg, args[i], pty, false), args + i + 1, n - i - 1);
            vals[i] = v.v ? v.v : LLVMConstNull(cg->t_valp);
        }
    }
    CgVal r = call_kernel(cg, d, vals);
    free(vals);
    free(args);
    if (r.v && !r.boxed && call->ty && ty_scalar(call->ty))
        r.v = convert_scalar(cg, r.v, d->ty, call->ty);
    return r;
}

static bool param_named(const DaftNodeList *params, const char *name) {
    for (int i = 0; name && i < params->len; i++)
        if (params->items[i]->name && strcmp(params->items[i]->name, name) == 0)
            return true;
    return false;
}

/* int SYM(ctx, args, nargs, out) — std functions and top-level extern fns. */
static CgVal emit_uniform_call(Cg *cg, DaftNode *call, DaftNode *fn) {
    if (!fn->symbol) {
        cg_err(cg, call->span, "codegen: extern function '%s' has no symbol", fn->name);
        return cg_void;
    }
    LLVMValueRef sym = ext_fn(cg, fn->symbol, cg->t_stdfn);
    int n = fn->params.len;
    /* std functions may take optional trailing arguments: pass what was written. */
    int given = 0;
    for (int i = 0; i < call->args.len; i++)
        given += 1;
    if (given > n)
        n = given;
    DaftNode **args = calloc((size_t)(n ? n : 1), sizeof *args);
    /* Named arguments of std functions (dtype = f32, op = sum, ...) are passed as extra
     * trailing positional arguments, identifiers as strings (include/daft/std.h). */
    DaftNode *positional = daft_node_new(cg->mod->arena, DAFT_N_CALL, call->span);
    DaftNode **named = calloc((size_t)call->args.len + 1, sizeof *named);
    int nnamed = 0;
    for (int i = 0; i < call->args.len; i++) {
        DaftNode *a = call->args.items[i];
        if (a->kind == DAFT_N_NAMED_ARG && !param_named(&fn->params, a->name))
            named[nnamed++] = a->value;
        else
            daft_node_list_push(cg->mod->arena, &positional->args, a);
    }
    match_args(cg, positional, &fn->params, args, n);
    while (n > 0 && !args[n - 1])
        n--; /* omitted optional arguments */
    int fixed = n;
    n += nnamed;
    LLVMValueRef arr = build_arg_array(cg, args, &fn->params, fixed, false);
    if (nnamed) {
        LLVMValueRef arr2 = LLVMBuildArrayAlloca(cg->f->ab, cg->t_val, ci32(cg, n), "args");
        for (int i = 0; i < fixed; i++) {
            LLVMValueRef idx = ci32(cg, i);
            LLVMValueRef src = LLVMBuildInBoundsGEP2(cg->b, cg->t_val, arr, &idx, 1, "");
            LLVMBuildStore(cg->b, LLVMBuildLoad2(cg->b, cg->t_val, src, ""),
                           LLVMBuildInBoundsGEP2(cg->b, cg->t_val, arr2, &idx, 1, ""));
        }
        for (int i = 0; i < nnamed; i++) {
            LLVMValueRef idx = ci32(cg, fixed + i);
            LLVMValueRef dst = LLVMBuildInBoundsGEP2(cg->b, cg->t_val, arr2, &idx, 1, "");
            DaftNode *v = named[i];
            if (v->kind == DAFT_N_NAME && (!v->decl || v->decl->kind == DAFT_N_IMPORT)) {
                /* made in a temporary, which owns it: freed with the statement's
                 * temporaries, or at the exit when the statement is a return (the
                 * argument array itself is not an owned slot) */
                LLVMValueRef str = new_temp(cg);
                LLVMValueRef sa[3] = {str, const_bytes(cg, v->name, strlen(v->name), ".str"),
                                      ci64(cg, (long long)strlen(v->name))};
                call_rt(cg, "daft_gen_str", sa, 3);
                LLVMBuildStore(cg->b, LLVMBuildLoad2(cg->b, cg->t_val, str, ""), dst);
            } else {
                CgVal x = boxed_of(cg, emit_expr(cg, v), v->ty);
                if (x.v)
                    LLVMBuildStore(cg->b, LLVMBuildLoad2(cg->b, cg->t_val, x.v, ""), dst);
                else
                    LLVMBuildStore(cg->b, ci32(cg, DAFT_V_NONE), val_kind_ptr(cg, dst));
            }
        }
        arr = arr2;
    }
    free(named);
    free(args);
    LLVMValueRef out = new_temp(cg);
    LLVMValueRef cargs[4] = {cg->f->ctxv, arr, ci32(cg, n), out};
    LLVMValueRef rc = LLVMBuildCall2(cg->b, cg->t_stdfn, sym, cargs, 4, "rc");
    LLVMBasicBlockRef fail = new_bb(cg, "call.fail"), ok = new_bb(cg, "call.ok");
    LLVMBuildCondBr(cg->b, LLVMBuildICmp(cg->b, LLVMIntNE, rc, ci32(cg, 0), ""), fail, ok);
    LLVMPositionBuilderAtEnd(cg->b, fail);
    LLVMValueRef ea[2] = {cg->f->ctxv, out};
    LLVMBuildStore(cg->b, call_rt(cg, "daft_gen_error", ea, 2), cg->f->status);
    LLVMBuildBr(cg->b, cg->f->ret_bb);
    LLVMPositionBuilderAtEnd(cg->b, ok);
    return result_of(cg, out, call->ty);
}

/* A direct call of a generated function (fn, schedule, method on self). A boxed argument
 * is passed borrowed: the callee copies a parameter it writes into (emit_fn_body), and a
 * method that may write fields gets its own copy of an argument that may be borrowed from
 * a field, which it would otherwise see change (`self.m(self.xs)`; SPEC 5.3). */
static CgVal emit_direct_call(Cg *cg, DaftNode *call, FnInfo *fi, bool with_state) {
    DaftNode *decl = fi->decl;
    int n = decl->params.len;
    DaftNode **args = calloc((size_t)(n ? n : 1), sizeof *args);
    match_args(cg, call, &decl->params, args, n);
    LLVMValueRef *cargs = calloc((size_t)n + 3, sizeof *cargs);
    unsigned k = 0;
    cargs[k++] = cg->f->ctxv;
    if (with_state)
        cargs[k++] = LLVMBuildBitCast(cg->b, cg->f->state, cg->t_i8p, "");
    for (int i = 0; i < n; i++) {
        DaftType *pty = decl->params.items[i]->ty;
        if (!args[i]) {
            cg_err(cg, call->span, "codegen: missing argument '%s'", decl->params.items[i]->name);
            cargs[k++] = LLVMGetUndef(param_ty(cg, pty));
        } else if (!takes_boxed(decl, pty)) {
            cargs[k++] = emit_scalar_as(cg, args[i], pty);
        } else {
            bool keep_refs = (pty && pty->kind == DAFT_TY_REF) || (decl->kind == DAFT_N_SCHEDULE && decl->is_compiled);
            CgVal v = emit_boxed_as(cg, args[i], pty, keep_refs);
            if (fi->kind == FN_METHOD && !(args[i]->ty && args[i]->ty->kind == DAFT_TY_REF))
                check_tensor(cg, v.v, pty, args[i]->ty, /* (functions: in their prologue) */
                             daft_arena_printf(cg->mod->arena, "argument '%s' of '%s'",
                                               decl->params.items[i]->name, fi->display));
            if (with_state && fi->writes_fields && v.v && may_alias_field(cg, args[i], v))
                v = copy_to_temp(cg, v);
            else
                v = keep_operand(cg, args[i], v, args + i + 1, n - i - 1);
            cargs[k++] = v.v ? v.v : LLVMConstNull(cg->t_valp);
        }
    }
    CgVal res = cg_void;
    if (!ty_void(fi->ret)) {
        if (ty_scalar(fi->ret)) {
            LLVMValueRef slot = new_scalar_slot(cg, lty(cg, fi->ret), "ret");
            cargs[k++] = slot;
            res.v = slot;
        } else {
            LLVMValueRef t = new_temp(cg);
            cargs[k++] = t;
            res = (CgVal){t, true, true};
        }
    }
    LLVMValueRef st = LLVMBuildCall2(cg->b, fi->fnty, fi->fn, cargs, k, "st");
    check_status(cg, st);
    if (res.v && !res.boxed)
        res.v = LLVMBuildLoad2(cg->b, lty(cg, fi->ret), res.v, "");
    free(args);
    free(cargs);
    if (res.v && !res.boxed && call->ty && ty_scalar(call->ty))
        res.v = convert_scalar(cg, res.v, fi->ret, call->ty);
    return res;
}

/* a.m(args) from driver code: daft_rt_call through daft_gen_call; the result is a Ref. */
static CgVal emit_actor_call(Cg *cg, DaftNode *call, DaftNode *recv, FnInfo *fi) {
    if (cg->f->in_actor) {
        cg_err(cg, call->span,
               "codegen: calling a method of another actor from inside an actor method is not "
               "supported yet; call it from driver code (main or a schedule)");
        return cg_void;
    }
    CgVal a = emit_expr(cg, recv);
    if (!a.v)
        return cg_void;
    int n = fi->decl->params.len;
    DaftNode **args = calloc((size_t)(n ? n : 1), sizeof *args);
    match_args(cg, call, &fi->decl->params, args, n);
    LLVMValueRef arr = build_arg_array(cg, args, &fi->decl->params, n, true);
    free(args);
    LLVMValueRef out = new_temp(cg);
    LLVMValueRef cargs[5] = {out, a.v, ci32(cg, fi->method_index), arr, ci32(cg, n)};
    call_rt(cg, "daft_gen_call", cargs, 5);
    if (call->ty && ty_scalar(call->ty)) {
        /* The checker typed the call as the value itself: get it now. */
        LLVMValueRef t = new_temp(cg);
        LLVMValueRef ga[4] = {cg->f->ctxv, out, LLVMConstReal(cg->t_f64, -1), t};
        check_status(cg, call_rt(cg, "daft_gen_get", ga, 4));
        return (CgVal){unbox_checked(cg, t, call->ty), false, false};
    }
    return (CgVal){out, true, true};
}

static DaftNode *named_arg(DaftNode *call, const char *name) {
    for (int i = 0; i < call->args.len; i++) {
        DaftNode *a = call->args.items[i];
        if (a->kind == DAFT_N_NAMED_ARG && a->name && strcmp(a->name, name) == 0)
            return a->value;
    }
    return NULL;
}

static DaftNode *positional_arg(DaftNode *call, int k) {
    for (int i = 0; i < call->args.len; i++) {
        DaftNode *a = call->args.items[i];
        if (a->kind != DAFT_N_NAMED_ARG && k-- == 0)
            return a;
    }
    return NULL;
}

/* The runtime takes a negative timeout for none: a given one is checked first, so that a
 * computed timeout that went negative (a deadline passed) is an error, not a wait forever. */
static LLVMValueRef timeout_arg(Cg *cg, DaftNode *call, int pos, bool is_wait) {
    DaftNode *t = named_arg(call, "timeout");
    if (!t)
        t = positional_arg(call, pos);
    if (!t)
        return LLVMConstReal(cg->t_f64, -1);
    DaftType f64 = {.kind = DAFT_TY_F64};
    LLVMValueRef v = emit_scalar_as(cg, t, &f64);
    LLVMValueRef args[3] = {cg->f->ctxv, v, ci32(cg, is_wait)};
    check_status(cg, call_rt(cg, "daft_gen_check_timeout", args, 3));
    return v;
}

/* print(a, b, ...) (SPEC.md §10.7). Every argument is evaluated before anything of the
 * line is written: an argument may print itself (a function that prints), and the line
 * buffer of daft_gen_print_* is one. An argument that may be borrowed from a field is
 * copied when a later one calls a method that may write fields, so each shows its value
 * when it was evaluated. */
static CgVal emit_print(Cg *cg, DaftNode *call) {
    int n = call->args.len;
    CgVal *vals = calloc((size_t)n + 1, sizeof *vals);
    for (int i = 0; i < n; i++) {
        DaftNode *a = call->args.items[i];
        if (a->kind == DAFT_N_NAMED_ARG)
            continue;
        vals[i] = keep_operand(cg, a, emit_expr(cg, a), call->args.items + i + 1, n - i - 1);
    }
    int first = 1;
    call_rt(cg, "daft_gen_print_begin", &cg->f->ctxv, 1);
    for (int i = 0; i < n; i++) {
        DaftNode *a = call->args.items[i];
        CgVal v = vals[i];
        if (!v.v)
            continue;
        LLVMValueRef args[2] = {v.v, ci32(cg, first)};
        if (v.boxed) {
            call_rt(cg, "daft_gen_print_value", args, 2);
        } else {
            switch (a->ty->kind) {
            case DAFT_TY_BOOL: args[0] = LLVMBuildZExt(cg->b, v.v, cg->t_i32, ""); call_rt(cg, "daft_gen_print_bool", args, 2); break;
            case DAFT_TY_I32: args[0] = LLVMBuildSExt(cg->b, v.v, cg->t_i64, ""); call_rt(cg, "daft_gen_print_i64", args, 2); break;
            case DAFT_TY_I64: call_rt(cg, "daft_gen_print_i64", args, 2); break;
            case DAFT_TY_F32: call_rt(cg, "daft_gen_print_f32", args, 2); break;
            default: call_rt(cg, "daft_gen_print_f64", args, 2); break;
            }
        }
        first = 0;
    }
    call_rt(cg, "daft_gen_print_end", NULL, 0);
    free(vals);
    return cg_void;
}

static CgVal emit_builtin(Cg *cg, DaftNode *call, const char *name) {
    DaftNode *a0 = positional_arg(call, 0);
    if (strcmp(name, "print") == 0)
        return emit_print(cg, call);
    if (!a0) {
        cg_err(cg, call->span, "codegen: %s() needs an argument", name);
        return cg_void;
    }
    if (strcmp(name, "i32") == 0 || strcmp(name, "i64") == 0 || strcmp(name, "f32") == 0 ||
        strcmp(name, "f64") == 0) {
        DaftType t = {.kind = name[0] == 'i' ? (name[1] == '3' ? DAFT_TY_I32 : DAFT_TY_I64)
                                             : (name[1] == '3' ? DAFT_TY_F32 : DAFT_TY_F64)};
        DaftType *from = a0->ty;
        if (ty_int(&t) && (ty_float(from) || (t.kind == DAFT_TY_I32 && from && from->kind == DAFT_TY_I64))) {
            /* checked: NaN, infinities and values that do not fit are errors (SPEC.md §6.2) */
            CgVal v = emit_expr(cg, a0);
            if (!v.v || v.boxed)
                return cg_void;
            LLVMValueRef slot, args[4];
            if (ty_float(from)) {
                slot = new_scalar_slot(cg, cg->t_i64, "conv");
                args[0] = cg->f->ctxv;
                args[1] = LLVMBuildFPCast(cg->b, v.v, cg->t_f64, "");
                args[2] = ci32(cg, t.kind == DAFT_TY_I32 ? 32 : 64);
                args[3] = LLVMBuildBitCast(cg->b, slot, cg->t_i8p, "");
                check_status(cg, call_rt(cg, "daft_gen_f2i", args, 4));
                LLVMValueRef r = LLVMBuildLoad2(cg->b, cg->t_i64, slot, "");
                DaftType i64 = {.kind = DAFT_TY_I64};
                return (CgVal){convert_scalar(cg, r, &i64, &t), false, false};
            }
            slot = new_scalar_slot(cg, cg->t_i32, "conv");
            args[0] = cg->f->ctxv;
            args[1] = v.v;
            args[2] = LLVMBuildBitCast(cg->b, slot, cg->t_i8p, "");
            check_status(cg, call_rt(cg, "daft_gen_i2i32", args, 3));
            return (CgVal){LLVMBuildLoad2(cg->b, cg->t_i32, slot, ""), false, false};
        }
        LLVMValueRef v = emit_scalar_as(cg, a0, from && ty_scalar(from) ? from : &t);
        return (CgVal){convert_scalar(cg, v, from && ty_scalar(from) ? from : &t, &t), false, false};
    }
    if (strcmp(name, "len") == 0) {
        CgVal v = emit_expr(cg, a0);
        if (!v.v)
            return cg_void;
        if (!v.boxed) {
            cg_err(cg, call->span, "codegen: len() of a %s", tystr(cg, a0->ty));
            return cg_void;
        }
        LLVMValueRef r;
        if (a0->ty && a0->ty->kind == DAFT_TY_LIST) {
            r = LLVMBuildLoad2(cg->b, cg->t_i64, val_word_ptr(cg, v.v, 1, cg->t_i64), "len");
        } else {
            LLVMValueRef slot = new_scalar_slot(cg, cg->t_i64, "len");
            LLVMValueRef args[3] = {cg->f->ctxv, v.v, LLVMBuildBitCast(cg->b, slot, cg->t_i8p, "")};
            check_status(cg, call_rt(cg, "daft_gen_len", args, 3));
            r = LLVMBuildLoad2(cg->b, cg->t_i64, slot, "");
        }
        DaftType i64 = {.kind = DAFT_TY_I64};
        return (CgVal){convert_scalar(cg, r, &i64, call->ty), false, false};
    }
    if (strcmp(name, "get") == 0) {
        CgVal v = emit_expr(cg, a0);
        if (!v.v)
            return cg_void;
        if (!v.boxed) /* get of a plain value is the value */
            return (CgVal){convert_scalar(cg, v.v, a0->ty, call->ty), false, false};
        LLVMValueRef out = new_temp(cg);
        LLVMValueRef args[4] = {cg->f->ctxv, v.v, timeout_arg(cg, call, 1, false), out};
        check_status(cg, call_rt(cg, get_fn(v), args, 4));
        return result_of(cg, out, call->ty);
    }
    if (strcmp(name, "is_error") == 0 || strcmp(name, "error_text") == 0) {
        CgVal v = emit_expr(cg, a0);
        if (!v.v || !v.boxed)
            return strcmp(name, "is_error") == 0 ? (CgVal){LLVMConstInt(cg->t_i1, 0, false), false, false} : cg_void;
        LLVMValueRef out = new_temp(cg);
        LLVMValueRef args[4] = {cg->f->ctxv, v.v, out, const_bytes(cg, name, strlen(name), ".str")};
        call_rt(cg, "daft_gen_peek", args, 4);
        LLVMValueRef is_err = LLVMBuildICmp(cg->b, LLVMIntEQ, LLVMBuildLoad2(cg->b, cg->t_i32, val_kind_ptr(cg, out), ""),
                                            ci32(cg, DAFT_V_ERROR), "is_error");
        if (strcmp(name, "is_error") == 0)
            return (CgVal){is_err, false, false};
        /* error_text: the message, or "" */
        LLVMValueRef text = new_temp(cg);
        LLVMValueRef msg = LLVMBuildLoad2(cg->b, cg->t_i8p, val_word_ptr(cg, out, 0, cg->t_i8p), "");
        LLVMValueRef empty = const_bytes(cg, "", 0, ".str");
        LLVMValueRef p = LLVMBuildSelect(cg->b, is_err, msg, empty, "");
        LLVMValueRef strlen_fn = ext_fn(cg, "strlen", LLVMFunctionType(cg->t_i64, &cg->t_i8p, 1, false));
        LLVMValueRef len = call_fn(cg, strlen_fn, &p, 1);
        LLVMValueRef sa[3] = {text, p, len};
        call_rt(cg, "daft_gen_str", sa, 3);
        return (CgVal){text, true, true};
    }
    if (strcmp(name, "fail") == 0) {
        CgVal v = emit_expr(cg, a0);
        if (!v.v)
            return cg_void;
        LLVMValueRef args[2] = {cg->f->ctxv, v.v};
        LLVMBuildStore(cg->b, call_rt(cg, "daft_gen_fail", args, 2), cg->f->status);
        LLVMBuildBr(cg->b, cg->f->ret_bb);
        start_dead_block(cg);
        return cg_void;
    }
    if (strcmp(name, "str") == 0) {
        CgVal v = emit_expr(cg, a0);
        if (!v.v)
            return cg_void;
        CgVal b = boxed_of(cg, v, a0->ty);
        LLVMValueRef out = new_temp(cg);
        LLVMValueRef args[3] = {out, b.v, ci32(cg, a0->ty && a0->ty->kind == DAFT_TY_F32)};
        call_rt(cg, "daft_gen_to_str", args, 3);
        return (CgVal){out, true, true};
    }
    if (strcmp(name, "wait") == 0) {
        CgVal v = emit_expr(cg, a0);
        DaftNode *nn = named_arg(call, "num_returns");
        if (!nn)
            nn = named_arg(call, "n");
        if (!nn)
            nn = positional_arg(call, 1);
        DaftType i64 = {.kind = DAFT_TY_I64};
        LLVMValueRef n = nn ? emit_scalar_as(cg, nn, &i64) : ci64(cg, 1);
        if (!v.v)
            return cg_void;
        LLVMValueRef out = new_temp(cg);
        LLVMValueRef args[5] = {cg->f->ctxv, v.v, n, timeout_arg(cg, call, 2, true), out};
        check_status(cg, call_rt(cg, "daft_gen_wait", args, 5));
        if (call->ty && ty_scalar(call->ty)) {
            LLVMValueRef len = LLVMBuildLoad2(cg->b, cg->t_i64, val_word_ptr(cg, out, 1, cg->t_i64), "");
            return (CgVal){convert_scalar(cg, len, &i64, call->ty), false, false};
        }
        return (CgVal){out, true, true};
    }
    cg_err(cg, call->span, "codegen: builtin '%s' is not supported", name);
    return cg_void;
}

static CgVal emit_call(Cg *cg, DaftNode *e) {
    DaftNode *callee = e->callee;
    DaftNode *decl = e->decl ? e->decl : callee ? callee->decl : NULL;
    if (!decl) {
        if (callee && callee->kind == DAFT_N_NAME && callee->name)
            return emit_builtin(cg, e, callee->name);
        cg_err(cg, e->span, "codegen: call of an unresolved function");
        return cg_void;
    }
    switch (decl->kind) {
    case DAFT_N_FN:
        if ((decl->is_extern || !decl->body) && is_user_decl(cg, decl))
            return emit_kernel_call(cg, e, decl);
        if (decl->is_extern || !decl->body)
            return emit_uniform_call(cg, e, decl);
        /* fallthrough */
    case DAFT_N_SCHEDULE: {
        FnInfo *fi = map_get(&cg->fn_of, decl);
        if (!fi) {
            cg_err(cg, e->span, "codegen: no code for '%s'", decl->name);
            return cg_void;
        }
        return emit_direct_call(cg, e, fi, false);
    }
    case DAFT_N_METHOD: {
        FnInfo *fi = map_get(&cg->fn_of, decl);
        if (!fi || !callee || callee->kind != DAFT_N_FIELD_ACCESS) {
            cg_err(cg, e->span, "codegen: unsupported method call");
            return cg_void;
        }
        if (callee->lhs && callee->lhs->kind == DAFT_N_SELF) {
            if (!cg->f->in_actor) {
                cg_err(cg, e->span, "codegen: 'self' outside an actor method");
                return cg_void;
            }
            if (fi->kind == FN_EXTERN_METHOD)
                return emit_kernel_call(cg, e, fi->decl);
            return emit_direct_call(cg, e, fi, true);
        }
        return emit_actor_call(cg, e, callee->lhs, fi);
    }
    default:
        cg_err(cg, e->span, "codegen: calling a %s is not supported", daft_node_kind_name(decl->kind));
        return cg_void;
    }
}

/* The `gpus` resource of an actor class (sema has checked it is a constant 0 or 1). */
static int class_gpus(const DaftNode *actor) {
    for (int i = 0; i < actor->args.len; i++) {
        const DaftNode *r = actor->args.items[i];
        if (r->kind != DAFT_N_NAMED_ARG || !r->name || strcmp(r->name, "gpus") != 0 || !r->value)
            continue;
        const DaftNode *v = r->value;
        if (v->kind == DAFT_N_NAME && v->decl && v->decl->kind == DAFT_N_CONST)
            v = v->decl->value;
        return v && v->kind == DAFT_N_INT_LIT ? (int)v->ival : 1;
    }
    return 0;
}

static CgVal emit_spawn(Cg *cg, DaftNode *e) {
    DaftNode *actor = e->decl && e->decl->kind == DAFT_N_ACTOR ? e->decl
                    : e->ty && e->ty->kind == DAFT_TY_ACTOR ? e->ty->actor_class : NULL;
    ClassInfo *ci = actor ? map_get(&cg->class_of, actor) : NULL;
    if (!ci) {
        cg_err(cg, e->span, "codegen: spawn of an unknown actor class");
        return cg_void;
    }
    if (cg->f->in_actor) {
        cg_err(cg, e->span, "codegen: spawn inside an actor method is not supported; spawn from driver code");
        return cg_void;
    }
    DaftNodeList *params = ci->init ? &ci->init->decl->params : NULL;
    int n = params ? params->len : e->args.len;
    DaftNode **args = calloc((size_t)(n ? n : 1), sizeof *args);
    match_args(cg, e, params, args, n);
    LLVMValueRef arr = build_arg_array(cg, args, params, n, false);
    free(args);
    /* A `gpus = 1` class gets the next free GPU unless placed (`on gpu(i)`, `on cpu`). */
    LLVMValueRef gpu = ci32(cg, class_gpus(ci->actor) > 0 ? DAFT_SPAWN_ANY_GPU : -1);
    LLVMValueRef node = ci32(cg, -1);
    DaftType i32 = {.kind = DAFT_TY_I32};
    for (int i = 0; i < e->items.len; i++) {
        DaftNode *p = e->items.items[i];
        if (p->kind == DAFT_N_PLACEMENT && p->name && strcmp(p->name, "cpu") == 0)
            gpu = ci32(cg, -1);
        if (p->kind != DAFT_N_PLACEMENT || !p->value || !p->name)
            continue;
        LLVMValueRef v = emit_scalar_as(cg, p->value, &i32);
        if (strcmp(p->name, "gpu") == 0)
            gpu = v;
        else if (strcmp(p->name, "node") == 0)
            node = v;
    }
    LLVMValueRef out = new_temp(cg);
    LLVMValueRef cargs[6] = {out, ci32(cg, ci->index), arr, ci32(cg, n), gpu, node};
    call_rt(cg, "daft_gen_spawn", cargs, 6);
    return (CgVal){out, true, true};
}

static CgVal emit_list(Cg *cg, DaftNode *e) {
    LLVMValueRef out = new_temp(cg);
    LLVMValueRef args[2] = {out, ci64(cg, e->items.len)};
    call_rt(cg, "daft_gen_list_new", args, 2);
    DaftType *elem = e->ty && e->ty->kind == DAFT_TY_LIST ? e->ty->elem : NULL;
    for (int i = 0; i < e->items.len; i++) {
        DaftNode *it = e->items.items[i];
        size_t mark = temp_mark(cg);
        LLVMValueRef slot;
        if (elem && ty_scalar(elem)) {
            LLVMValueRef v = emit_scalar_as(cg, it, elem);
            slot = list_item_ptr(cg, out, ci64(cg, i));
            box_into(cg, slot, v, elem);
        } else {
            CgVal v = emit_boxed_as(cg, it, elem, elem && elem->kind == DAFT_TY_REF);
            slot = list_item_ptr(cg, out, ci64(cg, i));
            if (v.v)
                move_or_copy(cg, slot, v);
        }
        free_temps(cg, mark);
    }
    return (CgVal){out, true, true};
}

/* Loops over a range a..b or a list: the iterable is evaluated once (loop_prepare, which
 * also gives the trip count's upper bound), then loop_run binds the variable and emits the
 * body once per item. */
typedef void (*LoopBody)(Cg *cg, void *data);

typedef struct LoopSrc {
    bool ok, is_range;
    const DaftType *it;   /* range: counter type */
    LLVMValueRef lo, hi;  /* range bounds */
    LLVMValueRef list;    /* list: the DaftValue */
    DaftType *elem;       /* list: item type */
    LLVMValueRef count;   /* i64: number of items */
    bool copy_items;      /* list: the variable holds a copy of each item, not a pointer */
} LoopSrc;

static LoopSrc loop_prepare(Cg *cg, DaftNode *iter, const DaftType *var_ty) {
    LoopSrc s;
    memset(&s, 0, sizeof s);
    if (iter->kind == DAFT_N_RANGE) {
        static const DaftType i64 = {.kind = DAFT_TY_I64};
        s.is_range = true;
        s.it = var_ty && ty_int(var_ty) ? var_ty : ty_int(iter->lhs->ty) ? iter->lhs->ty : &i64;
        s.lo = emit_scalar_as(cg, iter->lhs, s.it);
        s.hi = emit_scalar_as(cg, iter->rhs, s.it);
        LLVMTypeRef t = lty(cg, s.it);
        LLVMValueRef d = LLVMBuildSub(cg->b, s.hi, s.lo, "");
        d = LLVMBuildSelect(cg->b, LLVMBuildICmp(cg->b, LLVMIntSLT, s.hi, s.lo, ""), LLVMConstInt(t, 0, false), d, "");
        s.count = LLVMBuildSExtOrBitCast(cg->b, d, cg->t_i64, "count");
        s.ok = true;
        return s;
    }
    DaftType *lt = iter->ty;
    if (!lt || lt->kind != DAFT_TY_LIST) {
        cg_err(cg, iter->span, "codegen: iterating over a %s is not supported (use a range a..b or a list)",
               tystr(cg, lt));
        return s;
    }
    CgVal l = emit_expr(cg, iter);
    if (!l.v)
        return s;
    s.list = l.v;
    s.elem = lt->elem;
    s.count = LLVMBuildLoad2(cg->b, cg->t_i64, val_word_ptr(cg, l.v, 1, cg->t_i64), "len");
    s.ok = true;
    return s;
}

static void loop_run(Cg *cg, LoopSrc *s, DaftNode *var_decl, LoopBody body, void *data) {
    if (!s->ok)
        return;
    FnCtx *f = cg->f;
    if (f->nloops >= (int)(sizeof f->loops / sizeof *f->loops)) {
        cg_err(cg, var_decl->span, "codegen: loops nested too deeply");
        return;
    }
    LLVMTypeRef t = s->is_range ? lty(cg, s->it) : cg->t_i64;
    LLVMValueRef ctr = new_scalar_slot(cg, t, "ctr");
    LLVMValueRef end = s->is_range ? s->hi : s->count;
    LLVMBuildStore(cg->b, s->is_range ? s->lo : LLVMConstInt(t, 0, false), ctr);
    Local *var;
    if (s->is_range)
        var = add_local(cg, var_decl, LOC_SCALAR, new_scalar_slot(cg, t, var_decl->name), (DaftType *)s->it);
    else if (ty_scalar(s->elem))
        var = add_local(cg, var_decl, LOC_SCALAR, new_scalar_slot(cg, lty(cg, s->elem), var_decl->name), s->elem);
    else if (s->copy_items)
        var = add_local(cg, var_decl, LOC_OWNED, new_owned_slot(cg, var_decl->name), s->elem);
    else
        var = add_local(cg, var_decl, LOC_INDIRECT, new_scalar_slot(cg, cg->t_valp, var_decl->name), s->elem);
    LLVMBasicBlockRef head = new_bb(cg, "for.head"), bodyb = new_bb(cg, "for.body"),
                      latch = new_bb(cg, "for.latch"), done = new_bb(cg, "for.end");
    LLVMBuildBr(cg->b, head);
    LLVMPositionBuilderAtEnd(cg->b, head);
    LLVMValueRef cur = LLVMBuildLoad2(cg->b, t, ctr, "");
    LLVMBuildCondBr(cg->b, LLVMBuildICmp(cg->b, LLVMIntSLT, cur, end, ""), bodyb, done);
    LLVMPositionBuilderAtEnd(cg->b, bodyb);
    if (s->is_range) {
        LLVMBuildStore(cg->b, cur, var->ptr);
    } else {
        LLVMValueRef items = LLVMBuildLoad2(cg->b, cg->t_valp, val_word_ptr(cg, s->list, 0, cg->t_valp), "items");
        LLVMValueRef item = LLVMBuildInBoundsGEP2(cg->b, cg->t_val, items, &cur, 1, "item");
        if (var->kind == LOC_OWNED) {
            LLVMValueRef args[2] = {var->ptr, item};
            call_rt(cg, free_fn(cg), &var->ptr, 1);
            call_rt(cg, "daft_gen_copy", args, 2);
        } else
            LLVMBuildStore(cg->b, var->kind == LOC_SCALAR ? unbox_fast(cg, item, s->elem) : item, var->ptr);
    }
    f->loops[f->nloops++] = (Loop){done, latch};
    body(cg, data);
    f->nloops--;
    if (!terminated(cg))
        LLVMBuildBr(cg->b, latch);
    LLVMPositionBuilderAtEnd(cg->b, latch);
    LLVMValueRef c2 = LLVMBuildLoad2(cg->b, t, ctr, "");
    LLVMBuildStore(cg->b, LLVMBuildAdd(cg->b, c2, LLVMConstInt(t, 1, false), ""), ctr);
    LLVMBuildBr(cg->b, head);
    LLVMPositionBuilderAtEnd(cg->b, done);
}

typedef struct CompData {
    DaftNode *e;
    LLVMValueRef out, count;
    DaftType *elem;
} CompData;

static void comp_body(Cg *cg, void *p) {
    CompData *d = p;
    size_t mark = temp_mark(cg);
    if (d->e->cond) {
        DaftType b = {.kind = DAFT_TY_BOOL};
        LLVMValueRef c = emit_scalar_as(cg, d->e->cond, &b);
        free_temps(cg, mark);
        LLVMBasicBlockRef yes = new_bb(cg, "comp.keep"), no = new_bb(cg, "comp.skip");
        LLVMBuildCondBr(cg->b, c, yes, no);
        LLVMPositionBuilderAtEnd(cg->b, no);
        LLVMBuildBr(cg->b, cg->f->loops[cg->f->nloops - 1].cont);
        LLVMPositionBuilderAtEnd(cg->b, yes);
    }
    LLVMValueRef k = LLVMBuildLoad2(cg->b, cg->t_i64, d->count, "n");
    if (d->elem && ty_scalar(d->elem)) {
        LLVMValueRef v = emit_scalar_as(cg, d->e->value, d->elem);
        LLVMValueRef items = LLVMBuildLoad2(cg->b, cg->t_valp, val_word_ptr(cg, d->out, 0, cg->t_valp), "");
        box_into(cg, LLVMBuildInBoundsGEP2(cg->b, cg->t_val, items, &k, 1, ""), v, d->elem);
    } else {
        CgVal v = emit_boxed_as(cg, d->e->value, d->elem, d->elem && d->elem->kind == DAFT_TY_REF);
        LLVMValueRef items = LLVMBuildLoad2(cg->b, cg->t_valp, val_word_ptr(cg, d->out, 0, cg->t_valp), "");
        if (v.v)
            move_or_copy(cg, LLVMBuildInBoundsGEP2(cg->b, cg->t_val, items, &k, 1, ""), v);
    }
    LLVMBuildStore(cg->b, LLVMBuildAdd(cg->b, k, ci64(cg, 1), ""), d->count);
    free_temps(cg, mark);
}

static CgVal emit_comprehension(Cg *cg, DaftNode *e) {
    CompData d = {e, NULL, NULL, e->ty && e->ty->kind == DAFT_TY_LIST ? e->ty->elem : NULL};
    LoopSrc src = loop_prepare(cg, e->iter, NULL);
    if (!src.ok)
        return cg_void;
    if (!src.is_range && replaces(cg, e, e->iter)) /* a method replacing the field it reads */
        src.list = copy_to_temp(cg, (CgVal){src.list, true, false}).v;
    d.out = new_temp(cg);
    LLVMValueRef args[2] = {d.out, src.count};
    call_rt(cg, "daft_gen_list_new", args, 2);
    d.count = new_scalar_slot(cg, cg->t_i64, "n");
    LLVMBuildStore(cg->b, ci64(cg, 0), d.count);
    loop_run(cg, &src, e, comp_body, &d);
    LLVMBuildStore(cg->b, LLVMBuildLoad2(cg->b, cg->t_i64, d.count, ""), val_word_ptr(cg, d.out, 1, cg->t_i64));
    return (CgVal){d.out, true, true};
}

static CgVal emit_name(Cg *cg, DaftNode *e) {
    DaftNode *d = e->decl;
    if (!d) {
        cg_err(cg, e->span, "codegen: unresolved name '%s'", e->name);
        return cg_void;
    }
    switch (d->kind) {
    case DAFT_N_PARAM:
    case DAFT_N_LET:
    case DAFT_N_FOR:
    case DAFT_N_COMPREHENSION: {
        Local *l = local_of(cg, e);
        return l ? load_local(cg, l) : cg_void;
    }
    case DAFT_N_CONST: {
        if (!d->value)
            return cg_void;
        if (ty_scalar(e->ty)) {
            LLVMValueRef v = emit_scalar_as(cg, d->value, e->ty);
            return (CgVal){v, false, false};
        }
        return emit_expr(cg, d->value);
    }
    default:
        cg_err(cg, e->span, "codegen: '%s' (a %s) cannot be used as a value here", e->name,
               daft_node_kind_name(d->kind));
        return cg_void;
    }
}

static CgVal emit_expr(Cg *cg, DaftNode *e) {
    if (!e)
        return cg_void;
    if (!e->ty && e->kind != DAFT_N_CALL) {
        cg_err(cg, e->span, "codegen: expression without a type (was the module checked?)");
        return cg_void;
    }
    if (e->ty && e->ty->kind == DAFT_TY_ERROR) {
        cg_err(cg, e->span, "codegen: expression with a type error");
        return cg_void;
    }
    switch (e->kind) {
    case DAFT_N_INT_LIT:
        if (ty_float(e->ty))
            return (CgVal){LLVMConstReal(lty(cg, e->ty), (double)e->ival), false, false};
        return (CgVal){LLVMConstInt(lty(cg, e->ty), (unsigned long long)e->ival, true), false, false};
    case DAFT_N_FLOAT_LIT:
        if (ty_int(e->ty))
            return (CgVal){LLVMConstInt(lty(cg, e->ty), (unsigned long long)(long long)e->fval, true), false, false};
        return (CgVal){LLVMConstReal(lty(cg, e->ty), e->fval), false, false};
    case DAFT_N_BOOL_LIT:
        return (CgVal){LLVMConstInt(cg->t_i1, e->ival != 0, false), false, false};
    case DAFT_N_STR_LIT: {
        LLVMValueRef t = new_temp(cg);
        LLVMValueRef args[3] = {t, const_bytes(cg, e->name ? e->name : "", e->str_len, ".str"), ci64(cg, (long long)e->str_len)};
        call_rt(cg, "daft_gen_str", args, 3);
        return (CgVal){t, true, true};
    }
    case DAFT_N_NAME:
        return emit_name(cg, e);
    case DAFT_N_UNARY: {
        if (e->op == DAFT_OP_NOT) {
            DaftType b = {.kind = DAFT_TY_BOOL};
            return (CgVal){LLVMBuildNot(cg->b, emit_scalar_as(cg, e->lhs, &b), ""), false, false};
        }
        if (!ty_scalar(e->ty)) {
            cg_err(cg, e->span, "codegen: unary '-' on %s is not supported", tystr(cg, e->ty));
            return cg_void;
        }
        LLVMValueRef v = emit_scalar_as(cg, e->lhs, e->ty);
        return (CgVal){ty_float(e->ty) ? LLVMBuildFNeg(cg->b, v, "") : LLVMBuildNeg(cg->b, v, ""), false, false};
    }
    case DAFT_N_BINARY:
        if (e->op == DAFT_OP_AND || e->op == DAFT_OP_OR)
            return emit_logic(cg, e);
        return emit_binary_values(cg, e, e->ty, e->op, e->lhs, emit_expr(cg, e->lhs), e->rhs);
    case DAFT_N_CALL:
        return emit_call(cg, e);
    case DAFT_N_FIELD_ACCESS: {
        if (!e->lhs || e->lhs->kind != DAFT_N_SELF) {
            cg_err(cg, e->span, "codegen: field access '.%s' outside 'self' is not supported", e->name);
            return cg_void;
        }
        DaftType *fty = NULL;
        LLVMValueRef p = field_ptr(cg, e, &fty);
        if (!p)
            return cg_void;
        if (ty_scalar(fty))
            return (CgVal){convert_scalar(cg, LLVMBuildLoad2(cg->b, lty(cg, fty), p, e->name), fty, e->ty), false, false};
        if (field_starts_unset(fty)) {
            LLVMValueRef unset = LLVMBuildICmp(cg->b, LLVMIntEQ, LLVMBuildLoad2(cg->b, cg->t_i32, val_kind_ptr(cg, p), ""),
                                               ci32(cg, DAFT_V_NONE), "unset");
            raise_if(cg, unset, daft_arena_printf(cg->mod->arena, "field '%s' of %s read before it was assigned",
                                                  e->name, cg->f->cls->actor->name));
        }
        return (CgVal){p, true, false};
    }
    case DAFT_N_INDEX: {
        DaftType *et = NULL;
        LLVMValueRef p = index_ptr(cg, e, &et);
        if (!p)
            return cg_void;
        if (ty_scalar(et))
            return (CgVal){convert_scalar(cg, unbox_fast(cg, p, et), et, e->ty), false, false};
        return (CgVal){p, true, false};
    }
    case DAFT_N_LIST:
        return emit_list(cg, e);
    case DAFT_N_COMPREHENSION:
        return emit_comprehension(cg, e);
    case DAFT_N_SPAWN:
        return emit_spawn(cg, e);
    case DAFT_N_RANGE:
        cg_err(cg, e->span, "codegen: a range can only be iterated over (for x in a..b)");
        return cg_void;
    default:
        cg_err(cg, e->span, "codegen: %s expressions are not supported", daft_node_kind_name(e->kind));
        return cg_void;
    }
}

/* ---------------------------------------------------------------- statements */

static void emit_stmt(Cg *cg, DaftNode *s);

static void emit_return(Cg *cg, DaftNode *s) {
    FnCtx *f = cg->f;
    if (s->value && !ty_void(f->ret_ty)) {
        if (ty_scalar(f->ret_ty)) {
            LLVMBuildStore(cg->b, emit_scalar_as(cg, s->value, f->ret_ty), f->retp);
        } else {
            /* Returning an owned local moves it (it dies at the exit anyway), and so does
             * returning an item of an owned local list (`return grads[1]`). */
            DaftNode *v = s->value;
            Local *l = v->kind == DAFT_N_NAME && v->decl ? map_get(&f->locals, v->decl) : NULL;
            DaftNode *list = v->kind == DAFT_N_INDEX ? v->lhs : NULL;
            Local *ll = list && list->kind == DAFT_N_NAME && list->decl ? map_get(&f->locals, list->decl) : NULL;
            bool refs = f->ret_ty && f->ret_ty->kind == DAFT_TY_REF;
            CgVal x;
            if (l && l->kind == LOC_OWNED) {
                x = (CgVal){l->ptr, true, true};
            } else {
                x = emit_boxed_as(cg, v, f->ret_ty, refs);
                if (ll && ll->kind == LOC_OWNED && !refs && x.boxed)
                    x.temp = true; /* the item itself, or a temporary made from it */
            }
            if (x.boxed && !(v->ty && v->ty->kind == DAFT_TY_REF))
                check_tensor(cg, x.v, f->ret_ty, l ? l->ty : v->ty,
                             daft_arena_printf(cg->mod->arena, "result of '%s'",
                                               f->info ? f->info->display : "?"));
            if (x.v)
                move_or_copy(cg, f->retp, x);
        }
    } else if (s->value) {
        emit_expr(cg, s->value);
    }
    LLVMBuildBr(cg->b, f->ret_bb);
    start_dead_block(cg);
}

static void emit_let(Cg *cg, DaftNode *s) {
    DaftType *ty = s->ty ? s->ty : s->value ? s->value->ty : NULL;
    if (!ty || ty->kind == DAFT_TY_ERROR || ty_void(ty)) {
        if (s->value)
            emit_expr(cg, s->value);
        if (!ty || ty->kind == DAFT_TY_ERROR)
            cg_err(cg, s->span, "codegen: 'let %s' without a type", s->name);
        return;
    }
    if (ty->kind == DAFT_TY_RANGE || ty->kind == DAFT_TY_MODULE) {
        cg_err(cg, s->span, "codegen: a variable of type %s is not supported", tystr(cg, ty));
        return;
    }
    if (ty_scalar(ty)) {
        Local *l = map_get(&cg->f->locals, s);
        if (!l)
            l = add_local(cg, s, LOC_SCALAR, new_scalar_slot(cg, lty(cg, ty), s->name), ty);
        LLVMValueRef v = emit_scalar_as(cg, s->value, ty);
        LLVMBuildStore(cg->b, v, l->ptr);
        return;
    }
    Local *l = map_get(&cg->f->locals, s);
    if (!l)
        l = add_local(cg, s, LOC_OWNED, new_owned_slot(cg, s->name), ty);
    CgVal v = emit_boxed_as(cg, s->value, ty, ty->kind == DAFT_TY_REF);
    if (!v.v)
        return;
    check_tensor(cg, v.v, ty, s->value->ty, daft_arena_printf(cg->mod->arena, "'%s'", s->name));
    assign_boxed(cg, l->ptr, v);
}

/* The storage an assignment writes: scalar slot or boxed pointer. A list item
 * (`self.ll[i][j] = v`) is found when it is written (place_ptr), from its root's storage and
 * its indices, which place_of evaluates (left to right, once): the value, evaluated in
 * between, may call a method that replaces the list, whose items a pointer taken before
 * would have left behind (freed). */
typedef struct Place {
    LLVMValueRef ptr;
    DaftType *ty;
    bool scalar;
    DaftNode *root;     /* a list item: the local or field it is in, */
    LLVMValueRef *idx;  /* and its indices, outermost list's first */
    int nidx;
} Place;

static LLVMValueRef place_ptr(Cg *cg, const Place *p);

static bool place_of(Cg *cg, DaftNode *t, Place *p) {
    memset(p, 0, sizeof *p);
    switch (t->kind) {
    case DAFT_N_NAME: {
        Local *l = t->decl ? map_get(&cg->f->locals, t->decl) : NULL;
        if (!l) {
            cg_err(cg, t->span, "codegen: cannot assign to '%s'", t->name);
            return false;
        }
        p->ty = l->ty;
        p->scalar = l->kind == LOC_SCALAR;
        p->ptr = l->kind == LOC_INDIRECT ? LLVMBuildLoad2(cg->b, cg->t_valp, l->ptr, "") : l->ptr;
        return true;
    }
    case DAFT_N_FIELD_ACCESS:
        if (t->lhs && t->lhs->kind == DAFT_N_SELF) {
            p->ptr = field_ptr(cg, t, &p->ty);
            p->scalar = ty_scalar(p->ty);
            return p->ptr != NULL;
        }
        break;
    case DAFT_N_INDEX: {
        p->scalar = false; /* list items are boxed */
        const DaftNode *r = target_root(t);
        int n = 0;
        for (const DaftNode *i = t; i->kind == DAFT_N_INDEX; i = i->lhs)
            if (!i->lhs->ty || i->lhs->ty->kind != DAFT_TY_LIST) {
                cg_err(cg, i->span, "codegen: indexing a value of type %s is not supported", tystr(cg, i->lhs->ty));
                return false;
            } else
                n++;
        if (!(r->kind == DAFT_N_NAME || (r->kind == DAFT_N_FIELD_ACCESS && r->lhs && r->lhs->kind == DAFT_N_SELF))) {
            p->ptr = index_ptr(cg, t, &p->ty); /* an item of a temporary */
            return p->ptr != NULL;
        }
        p->root = (DaftNode *)r;
        p->nidx = n;
        p->idx = daft_arena_alloc(cg->mod->arena, sizeof *p->idx * (size_t)n);
        p->ty = t->lhs->ty->elem;
        DaftNode **chain = daft_arena_alloc(cg->mod->arena, sizeof *chain * (size_t)n);
        for (DaftNode *i = t; i->kind == DAFT_N_INDEX; i = i->lhs)
            chain[--n] = i; /* (outermost list's index first: the order they are written in) */
        DaftType i64 = {.kind = DAFT_TY_I64};
        for (int k = 0; k < p->nidx; k++)
            p->idx[k] = emit_scalar_as(cg, chain[k]->rhs, &i64);
        /* the indices are checked against the lists now, before the value is evaluated
         * (SPEC 7: an index out of range is reported before the value runs); the item is
         * looked up again where it is written */
        return place_ptr(cg, p) != NULL;
    }
    default:
        break;
    }
    cg_err(cg, t->span, "codegen: unsupported assignment target");
    return false;
}

/* The storage of place p now: a list item is looked up in its lists as they are (bounds
 * checked again). */
static LLVMValueRef place_ptr(Cg *cg, const Place *p) {
    if (!p->root)
        return p->ptr;
    LLVMValueRef v = emit_expr(cg, p->root).v;
    for (int k = 0; v && k < p->nidx; k++)
        v = list_item_ptr(cg, v, p->idx[k]);
    return v;
}

/* `xs = xs + e` and `xs += e` on lists: e's items appended to xs in place. Rebuilding xs
 * would copy every item it holds (each tensor, on its device) at every append. Returns false
 * when s is not such a statement. */
static bool emit_list_append(Cg *cg, DaftNode *s, const Place *p) {
    if (!p->ty || p->ty->kind != DAFT_TY_LIST)
        return false;
    DaftNode *items;
    if (s->op == DAFT_OP_ADD)
        items = s->value;
    else if (s->op == DAFT_OP_ASSIGN && s->value->kind == DAFT_N_BINARY && s->value->op == DAFT_OP_ADD &&
             same_place(s->target, s->value->lhs))
        items = s->value->rhs;
    else
        return false;
    if (!items->ty || items->ty->kind != DAFT_TY_LIST)
        return false;
    /* `self.xs = self.xs + self.m()`: m may replace xs, which is then read before it
     * (SPEC 6), as the general path does */
    if (s->target->kind == DAFT_N_FIELD_ACCESS && any_node(items, calls_field_writer, cg))
        return false;
    CgVal v = emit_boxed_as(cg, items, NULL, false);
    if (!v.v)
        return true;
    LLVMValueRef dst = place_ptr(cg, p); /* (a list item: found now, after the items) */
    /* the check of the assignment (SPEC 5.5), on the new items before they go in */
    check_tensor_in(cg, dst, v.v, p->ty, items->ty,
                    s->target->kind == DAFT_N_NAME && s->target->name
                        ? daft_arena_printf(cg->mod->arena, "assignment to '%s'", s->target->name)
                        : "assignment");
    LLVMValueRef args[3] = {dst, v.v, ci32(cg, v.temp)};
    call_rt(cg, "daft_gen_list_extend", args, 3);
    return true;
}

static void emit_assign(Cg *cg, DaftNode *s) {
    Place p;
    if (!place_of(cg, s->target, &p))
        return;
    if (emit_list_append(cg, s, &p))
        return;
    DaftOp op = s->op == DAFT_OP_ASSIGN ? DAFT_OP_NONE : s->op;
    bool item_scalar = !p.scalar && ty_scalar(p.ty); /* a boxed list item of scalar type */
    if (p.scalar || item_scalar) {
        LLVMValueRef v;
        if (op != DAFT_OP_NONE) {
            LLVMValueRef old = p.scalar ? LLVMBuildLoad2(cg->b, lty(cg, p.ty), p.ptr, "")
                                        : unbox_fast(cg, place_ptr(cg, &p), p.ty);
            /* the operand of the stored type: x += e is x = x op e in x's type */
            DaftNode tgt = *s->target;
            tgt.ty = p.ty;
            CgVal r = emit_binary_values(cg, s, p.ty, op, &tgt, (CgVal){old, false, false}, s->value);
            v = r.v;
        } else {
            v = emit_scalar_as(cg, s->value, p.ty);
        }
        if (!v)
            return;
        if (p.scalar)
            LLVMBuildStore(cg->b, v, p.ptr);
        else
            box_into(cg, place_ptr(cg, &p), v, p.ty);
        return;
    }
    CgVal v;
    if (op != DAFT_OP_NONE)
        v = emit_binary_values(cg, s, p.ty, op, s->target, (CgVal){place_ptr(cg, &p), true, false}, s->value);
    else
        v = emit_boxed_as(cg, s->value, p.ty, p.ty && p.ty->kind == DAFT_TY_REF);
    if (!v.v)
        return;
    v = boxed_of(cg, v, s->value->ty);
    if (op == DAFT_OP_NONE)
        check_tensor(cg, v.v, p.ty, s->value->ty,
                     s->target->kind == DAFT_N_NAME && s->target->name
                         ? daft_arena_printf(cg->mod->arena, "assignment to '%s'", s->target->name)
                         : "assignment");
    assign_boxed(cg, place_ptr(cg, &p), v);
}

static void emit_if(Cg *cg, DaftNode *s) {
    DaftType b = {.kind = DAFT_TY_BOOL};
    size_t mark = temp_mark(cg);
    LLVMValueRef c = emit_scalar_as(cg, s->cond, &b);
    free_temps(cg, mark);
    LLVMBasicBlockRef then = new_bb(cg, "if.then"), els = s->els ? new_bb(cg, "if.else") : NULL,
                      done = new_bb(cg, "if.end");
    LLVMBuildCondBr(cg->b, c, then, els ? els : done);
    LLVMPositionBuilderAtEnd(cg->b, then);
    emit_stmt(cg, s->then);
    if (!terminated(cg))
        LLVMBuildBr(cg->b, done);
    if (els) {
        LLVMPositionBuilderAtEnd(cg->b, els);
        emit_stmt(cg, s->els);
        if (!terminated(cg))
            LLVMBuildBr(cg->b, done);
    }
    LLVMPositionBuilderAtEnd(cg->b, done);
}

/* extern i64 daft_gen_where: the position of the driver statement being run. */
static LLVMValueRef where_global(Cg *cg) {
    if (!cg->where)
        cg->where = LLVMAddGlobal(cg->m, cg->t_i64, "daft_gen_where");
    return cg->where;
}

static void emit_while(Cg *cg, DaftNode *s) {
    LLVMBasicBlockRef head = new_bb(cg, "while.head"), body = new_bb(cg, "while.body"),
                      done = new_bb(cg, "while.end");
    LLVMBuildBr(cg->b, head);
    LLVMPositionBuilderAtEnd(cg->b, head);
    if (!cg->f->in_actor && s->span.begin.line > 0)
        /* the condition runs again after the body's statements moved daft_gen_where */
        LLVMBuildStore(cg->b, ci64(cg, ((long long)s->span.begin.line << 32) | s->span.begin.col), where_global(cg));
    DaftType b = {.kind = DAFT_TY_BOOL};
    size_t mark = temp_mark(cg);
    LLVMValueRef c = emit_scalar_as(cg, s->cond, &b);
    free_temps(cg, mark);
    LLVMBuildCondBr(cg->b, c, body, done);
    LLVMPositionBuilderAtEnd(cg->b, body);
    cg->f->loops[cg->f->nloops++] = (Loop){done, head};
    emit_stmt(cg, s->body);
    cg->f->nloops--;
    if (!terminated(cg))
        LLVMBuildBr(cg->b, head);
    LLVMPositionBuilderAtEnd(cg->b, done);
}

static void for_body(Cg *cg, void *data) { emit_stmt(cg, data); }

static void emit_for(Cg *cg, DaftNode *s) {
    LoopSrc src = loop_prepare(cg, s->iter, s->ty);
    /* x[i] = v in the body writes into the loop variable's own copy of the item */
    src.copy_items = writes_to(s->body, s);
    /* The loop variable points into the list; a body that replaces the list or its items
     * would leave it pointing at freed values: loop over a copy. */
    if (src.ok && !src.is_range && replaces(cg, s->body, s->iter))
        src.list = copy_to_temp(cg, (CgVal){src.list, true, false}).v;
    loop_run(cg, &src, s, for_body, s->body);
}


static void emit_stmt(Cg *cg, DaftNode *s) {
    if (!s)
        return;
    if (terminated(cg))
        start_dead_block(cg);
    di_set_loc(cg, s->span);
    if (!cg->f->in_actor && s->span.begin.line > 0 && s->kind != DAFT_N_BLOCK) {
        /* the driver statement being run, for error reports (daft_gen_where) */
        LLVMBuildStore(cg->b, ci64(cg, ((long long)s->span.begin.line << 32) | s->span.begin.col), where_global(cg));
    }
    size_t mark = temp_mark(cg);
    switch (s->kind) {
    case DAFT_N_BLOCK: emit_block(cg, s); break;
    case DAFT_N_LET: emit_let(cg, s); break;
    case DAFT_N_ASSIGN: emit_assign(cg, s); break;
    case DAFT_N_RETURN: emit_return(cg, s); break;
    case DAFT_N_IF: emit_if(cg, s); break;
    case DAFT_N_WHILE: emit_while(cg, s); break;
    case DAFT_N_FOR: emit_for(cg, s); break;
    case DAFT_N_BREAK:
    case DAFT_N_CONTINUE:
        if (!cg->f->nloops) {
            cg_err(cg, s->span, "codegen: '%s' outside a loop", s->kind == DAFT_N_BREAK ? "break" : "continue");
            break;
        }
        LLVMBuildBr(cg->b, s->kind == DAFT_N_BREAK ? cg->f->loops[cg->f->nloops - 1].brk
                                                   : cg->f->loops[cg->f->nloops - 1].cont);
        start_dead_block(cg);
        break;
    case DAFT_N_EXPR_STMT: emit_expr(cg, s->value); break;
    default: emit_expr(cg, s); break;
    }
    free_temps(cg, mark);
}

static void emit_block(Cg *cg, DaftNode *block) {
    for (int i = 0; i < block->items.len; i++)
        emit_stmt(cg, block->items.items[i]);
}

/* ---------------------------------------------------------------- functions */

static const char *fn_link_name(Cg *cg, FnInfo *fi) {
    DaftArena *a = cg->mod->arena;
    switch (fi->kind) {
    case FN_USER: return daft_arena_printf(a, "daft.fn.%s", fi->decl->name);
    case FN_SCHED: return daft_arena_printf(a, "daft.sched.%s", fi->decl->name);
    default: return daft_arena_printf(a, "daft.m.%s.%s", fi->cls->actor->name, fi->decl->name);
    }
}

/* Declares the typed LLVM function of a fn, schedule or method. */
static void declare_fn(Cg *cg, FnInfo *fi) {
    if (fi->kind == FN_EXTERN_METHOD) {
        fi->fnty = kernel_fnty(cg, fi->decl);
        fi->fn = fi->decl->symbol ? ext_fn(cg, fi->decl->symbol, fi->fnty) : NULL;
        return;
    }
    DaftNode *d = fi->decl;
    int n = d->params.len;
    LLVMTypeRef *ps = calloc((size_t)n + 3, sizeof *ps);
    unsigned k = 0;
    ps[k++] = cg->t_i8p;
    if (fi->kind == FN_METHOD)
        ps[k++] = cg->t_i8p;
    for (int i = 0; i < n; i++)
        ps[k++] = takes_boxed(d, d->params.items[i]->ty) ? cg->t_valp : param_ty(cg, d->params.items[i]->ty);
    if (!ty_void(fi->ret))
        ps[k++] = LLVMPointerType(lty(cg, fi->ret), 0);
    fi->fnty = LLVMFunctionType(cg->t_i32, ps, k, false);
    fi->fn = LLVMAddFunction(cg->m, fn_link_name(cg, fi), fi->fnty);
    LLVMSetLinkage(fi->fn, LLVMInternalLinkage);
    free(ps);
}

/* Emits the body of a fn, schedule or method. */
/* ---------------------------------------------------------------- compiled schedules
 * A compiled schedule gets a descriptor (DaftGenSchedule, include/daft/gen.h) holding its
 * parameter kinds and names, the plans daftc made for its static actor sets (serialized
 * with daft_plan_serialize into constants named daft.plan.NAME.K) and the program source
 * (daft.source, for planning other actor sets at run time). Its function starts with
 * daft_gen_schedule_call, which runs the call on the runtime's compiled executor and
 * returns 1; on 0 the body below runs as interpreted driver code. */

static struct {
    bool traced;
    DaftTraceResult res;
    LLVMValueRef source;
} cs_state;

/* Traces and plans every compiled schedule with a static actor set (as --emit-plan).
 * Returns false when a trace error was reported. */
static bool cs_trace(Cg *cg) {
    const DaftNode *prog = cg->mod->program;
    bool any = false;
    for (int i = 0; i < prog->items.len; i++)
        any |= prog->items.items[i]->kind == DAFT_N_SCHEDULE && prog->items.items[i]->is_compiled;
    if (!any)
        return true;
    DaftTraceOptions topt = {0};
    cs_state.traced = true;
    return daft_trace_program(cg->mod, cg->diags, &topt, &cs_state.res);
}

static void cs_free(void) {
    if (cs_state.traced)
        daft_trace_result_free(&cs_state.res);
    memset(&cs_state, 0, sizeof cs_state);
}

static int cs_param_kind(const DaftType *t) {
    if (!t)
        return DAFT_GEN_P_DATA;
    if (t->kind == DAFT_TY_ACTOR)
        return DAFT_GEN_P_ACTOR;
    if (t->kind == DAFT_TY_COMM)
        return DAFT_GEN_P_COMM;
    if (t->kind == DAFT_TY_LIST)
        return t->elem && t->elem->kind == DAFT_TY_ACTOR ? DAFT_GEN_P_ACTOR_LIST : DAFT_GEN_P_DATA_LIST;
    return DAFT_GEN_P_DATA;
}

static LLVMValueRef cs_descriptor(Cg *cg, DaftNode *d) {
    const char *name = d->name;
    if (!cs_state.source) {
        const DaftSource *src = cg->mod->source;
        cs_state.source = const_bytes(cg, src ? src->text : "", src ? src->size : 0, "daft.source");
    }
    int np = d->params.len;
    LLVMValueRef *kinds = calloc((size_t)np + 1, sizeof *kinds);
    LLVMValueRef *names = calloc((size_t)np + 1, sizeof *names);
    for (int i = 0; i < np; i++) {
        kinds[i] = ci32(cg, cs_param_kind(d->params.items[i]->ty));
        names[i] = const_str(cg, d->params.items[i]->name);
    }
    LLVMValueRef kinds_c = LLVMConstArray(cg->t_i32, kinds, (unsigned)np);
    LLVMValueRef kinds_g = LLVMAddGlobal(cg->m, LLVMTypeOf(kinds_c), "daft.schedule.kinds");
    LLVMSetInitializer(kinds_g, kinds_c);
    LLVMSetGlobalConstant(kinds_g, true);
    LLVMSetLinkage(kinds_g, LLVMPrivateLinkage);
    LLVMValueRef names_c = LLVMConstArray(cg->t_i8p, names, (unsigned)np);
    LLVMValueRef names_g = LLVMAddGlobal(cg->m, LLVMTypeOf(names_c), "daft.schedule.names");
    LLVMSetInitializer(names_g, names_c);
    LLVMSetGlobalConstant(names_g, true);
    LLVMSetLinkage(names_g, LLVMPrivateLinkage);
    free(kinds);
    free(names);

    /* The embedded plans: { i8* data, i64 len } each. */
    LLVMTypeRef blob_f[2] = {cg->t_i8p, cg->t_i64};
    LLVMTypeRef blob_ty = LLVMStructTypeInContext(cg->ctx, blob_f, 2, false);
    int nplans = 0;
    for (int i = 0; i < cs_state.res.nplans; i++)
        nplans += strcmp(cs_state.res.plans[i]->name, name) == 0;
    LLVMValueRef *blobs = calloc((size_t)nplans + 1, sizeof *blobs);
    int k = 0;
    for (int i = 0; i < cs_state.res.nplans; i++) {
        if (strcmp(cs_state.res.plans[i]->name, name) != 0)
            continue;
        uint8_t *bytes = NULL;
        size_t len = daft_plan_serialize(cs_state.res.plans[i], &bytes);
        LLVMValueRef s = LLVMConstStringInContext(cg->ctx, (const char *)bytes, (unsigned)len, true);
        char gname[300];
        snprintf(gname, sizeof gname, "daft.plan.%s.%d", name, k);
        LLVMValueRef g = LLVMAddGlobal(cg->m, LLVMTypeOf(s), gname);
        LLVMSetInitializer(g, s);
        LLVMSetGlobalConstant(g, true);
        LLVMSetLinkage(g, LLVMPrivateLinkage);
        free(bytes);
        LLVMValueRef f[2] = {LLVMConstBitCast(g, cg->t_i8p), ci64(cg, (long long)len)};
        blobs[k++] = LLVMConstStructInContext(cg->ctx, f, 2, false);
    }
    LLVMValueRef blobs_c = LLVMConstArray(blob_ty, blobs, (unsigned)nplans);
    LLVMValueRef blobs_g = LLVMAddGlobal(cg->m, LLVMTypeOf(blobs_c), "daft.schedule.plans");
    LLVMSetInitializer(blobs_g, blobs_c);
    LLVMSetGlobalConstant(blobs_g, true);
    LLVMSetLinkage(blobs_g, LLVMPrivateLinkage);
    free(blobs);

    /* DaftGenSchedule: name, source, path, param_kinds, param_names, plans, nparams,
     * nplans, source_len, state. Mutable: the library caches its state in it. */
    LLVMTypeRef df[10] = {cg->t_i8p, cg->t_i8p, cg->t_i8p, LLVMPointerType(cg->t_i32, 0),
                          LLVMPointerType(cg->t_i8p, 0), LLVMPointerType(blob_ty, 0), cg->t_i32, cg->t_i32,
                          cg->t_i64, cg->t_i8p};
    LLVMTypeRef desc_ty = LLVMStructTypeInContext(cg->ctx, df, 10, false);
    const DaftSource *src = cg->mod->source;
    LLVMValueRef dv[10] = {const_str(cg, name), cs_state.source, const_str(cg, src ? src->path : "program.daft"),
                           LLVMConstBitCast(kinds_g, df[3]), LLVMConstBitCast(names_g, df[4]),
                           LLVMConstBitCast(blobs_g, df[5]), ci32(cg, np), ci32(cg, nplans),
                           ci64(cg, src ? (long long)src->size : 0), LLVMConstNull(cg->t_i8p)};
    char dname[300];
    snprintf(dname, sizeof dname, "daft.schedule.%s", name);
    LLVMValueRef desc = LLVMAddGlobal(cg->m, desc_ty, dname);
    LLVMSetInitializer(desc, LLVMConstStructInContext(cg->ctx, dv, 10, false));
    LLVMSetLinkage(desc, LLVMPrivateLinkage);
    return LLVMConstBitCast(desc, cg->t_i8p);
}

/* The start of a compiled schedule's function: run it as a plan when the library can. */
static void emit_compiled_dispatch(Cg *cg, FnInfo *fi) {
    DaftNode *d = fi->decl;
    FnCtx *f = cg->f;
    int np = d->params.len;
    LLVMValueRef desc = cs_descriptor(cg, d);
    LLVMValueRef arr = np ? LLVMBuildArrayAlloca(f->ab, cg->t_val, ci32(cg, np), "sched.args")
                          : LLVMConstNull(cg->t_valp);
    for (int i = 0; i < np; i++) {
        DaftNode *p = d->params.items[i];
        Local *l = map_get(&f->locals, p);
        LLVMValueRef idx = ci32(cg, i);
        LLVMValueRef slot = LLVMBuildInBoundsGEP2(cg->b, cg->t_val, arr, &idx, 1, "");
        if (!l)
            LLVMBuildStore(cg->b, ci32(cg, DAFT_V_NONE), val_kind_ptr(cg, slot));
        else if (l->kind == LOC_SCALAR)
            box_into(cg, slot, LLVMBuildLoad2(cg->b, lty(cg, p->ty), l->ptr, ""), p->ty);
        else /* a borrowed view of the parameter */
            LLVMBuildStore(cg->b, LLVMBuildLoad2(cg->b, cg->t_val, l->ptr, ""), slot);
    }
    LLVMValueRef out = f->retp ? f->retp : new_temp(cg);
    LLVMTypeRef ps[4] = {cg->t_i8p, cg->t_valp, cg->t_i32, cg->t_valp};
    LLVMValueRef fn = ext_fn(cg, "daft_gen_schedule_call", LLVMFunctionType(cg->t_i32, ps, 4, false));
    LLVMValueRef args[4] = {desc, arr, ci32(cg, np), out};
    LLVMValueRef handled = call_fn(cg, fn, args, 4);
    LLVMBasicBlockRef body = new_bb(cg, "sched.interpreted");
    LLVMBuildCondBr(cg->b, LLVMBuildICmp(cg->b, LLVMIntNE, handled, ci32(cg, 0), ""), f->ret_bb, body);
    LLVMPositionBuilderAtEnd(cg->b, body);
}

static void emit_fn_body(Cg *cg, FnInfo *fi) {
    DaftNode *d = fi->decl;
    FnCtx f;
    begin_fn(cg, &f, fi->fn, fi->display, d->span);
    f.info = fi;
    f.ret_ty = fi->ret;
    f.cls = fi->cls;
    f.in_actor = fi->kind == FN_METHOD;
    /* A driver function's statements move daft_gen_where; its caller's position comes back
     * when it returns, for an error raised later in the caller's statement (SPEC 14.4). */
    if (!f.in_actor && d->body)
        f.saved_where = LLVMBuildLoad2(f.ab, cg->t_i64, where_global(cg), "where");
    unsigned k = 0;
    f.ctxv = LLVMGetParam(fi->fn, k++);
    LLVMSetValueName2(f.ctxv, "ctx", 3);
    if (fi->kind == FN_METHOD) {
        LLVMValueRef st = LLVMGetParam(fi->fn, k++);
        LLVMSetValueName2(st, "state", 5);
        f.state = LLVMBuildBitCast(f.ab, st, LLVMPointerType(fi->cls->state_ty, 0), "self");
    }
    for (int i = 0; i < d->params.len; i++) {
        DaftNode *p = d->params.items[i];
        LLVMValueRef v = LLVMGetParam(fi->fn, k++);
        LLVMSetValueName2(v, p->name, strlen(p->name));
        if (!takes_boxed(d, p->ty)) {
            LLVMValueRef slot = LLVMBuildAlloca(f.ab, lty(cg, p->ty), p->name);
            LLVMBuildStore(f.ab, v, slot);
            add_local(cg, p, LOC_SCALAR, slot, p->ty);
        } else if (d->body && writes_to(d->body, p) && !(fi->kind == FN_SCHED && d->is_compiled)) {
            LLVMValueRef slot = new_owned_slot(cg, p->name);
            LLVMValueRef args[2] = {slot, v};
            call_rt(cg, "daft_gen_copy", args, 2);
            add_local(cg, p, LOC_OWNED, slot, p->ty);
        } else {
            add_local(cg, p, LOC_BORROWED, v, p->ty);
        }
        /* a function's or schedule's tensor arguments are checked here, where every caller
         * (generated code, daft-repl) passes through; methods check theirs in the wrapper
         * (tasks) or at the call (on self) */
        if (fi->kind == FN_USER || fi->kind == FN_SCHED)
            check_tensor(cg, v, p->ty, NULL,
                         daft_arena_printf(cg->mod->arena, "argument '%s' of '%s'", p->name, fi->display));
    }
    if (!ty_void(fi->ret)) {
        f.retp = LLVMGetParam(fi->fn, k++);
        LLVMSetValueName2(f.retp, "result", 6);
    }
    /* (when that runs the body interpreted, a Ref given for a data parameter stays a Ref:
     * the body may only pass data parameters on to tasks and collectives, SPEC 11.3, which
     * take Refs, so nothing waits for it here) */
    /* One that takes Refs has no plan of its own (SPEC 11.2): a compiled caller traces it
     * inline; only an interpreted caller (DAFT_SCHEDULE_COLLECTIVES=interpreted, a plan that
     * cannot load) calls this function, and its Refs, produced in that caller, could not be
     * a plan's inputs (a collective over them, a Ref returned as it is). */
    if (fi->kind == FN_SCHED && d->is_compiled && !daft_schedule_ref_param(d))
        emit_compiled_dispatch(cg, fi);
    if (d->body)
        emit_block(cg, d->body);
    end_fn(cg);
}

/* Stores each boxed field's zero value (SPEC.md §8.2): "", [], an empty tensor. The
 * runtime zero-fills the state, which already is the zero of every scalar, and DAFT_V_NONE
 * (an unset field, field_starts_unset). */
static void emit_field_zeros(Cg *cg, ClassInfo *ci, LLVMValueRef state) {
    LLVMValueRef st = LLVMBuildBitCast(cg->b, state, LLVMPointerType(ci->state_ty, 0), "");
    for (int i = 0; i < ci->nfields; i++) {
        DaftType *t = ci->fields[i]->ty;
        if (!t || ty_scalar(t))
            continue;
        LLVMValueRef p = LLVMBuildStructGEP2(cg->b, ci->state_ty, st, (unsigned)i, ci->fields[i]->name);
        if (t->kind == DAFT_TY_STR) {
            LLVMValueRef args[3] = {p, const_bytes(cg, "", 0, ".str"), ci64(cg, 0)};
            call_rt(cg, "daft_gen_str", args, 3);
        } else if (t->kind == DAFT_TY_LIST) {
            LLVMValueRef args[2] = {p, ci64(cg, 0)};
            call_rt(cg, "daft_gen_list_new", args, 2);
        } else if (t->kind == DAFT_TY_TENSOR && !field_starts_unset(t)) {
            int dt = t->dtype < DAFT_DT_COUNT ? (int)t->dtype : (int)DAFT_DT_F32;
            LLVMValueRef args[2] = {p, ci32(cg, dt)};
            call_rt(cg, "daft_gen_empty_tensor", args, 2);
        }
    }
}


/* The type of a method's @hint, as sema resolved it (shape = [...] included); NULL without. */
static const DaftType *hint_type(const DaftNode *d) {
    for (int i = 0; d && i < d->attrs.len; i++) {
        const DaftNode *at = d->attrs.items[i];
        if (at->name && strcmp(at->name, "hint") == 0)
            return at->ty;
    }
    return NULL;
}

/* SPEC 9.1: a hint may say more than the result type (a dtype, static dimensions); the result
 * is checked against it as the method returns, in the wrapper, so that tasks and compiled
 * plans alike (a plan's channel has the hint's type) never carry a value the hint denies. */
static void check_hint(Cg *cg, const FnInfo *fi, LLVMValueRef out) {
    const DaftType *h = hint_type(fi->decl);
    if (h && out && fi->ret && !ty_scalar(fi->ret))
        check_tensor(cg, out, h, fi->ret, "result");
}

/* DaftMethodFn wrapper (ctx, state, args, nargs, out) -> typed call; for init (fi may be
 * NULL: a class without init) the DaftInitFn (ctx, state, args, nargs), which also gives
 * the fields their zero values first. */
static LLVMValueRef emit_wrapper(Cg *cg, ClassInfo *ci, FnInfo *fi, bool is_init) {
    DaftNode *d = fi ? fi->decl : NULL;
    const char *mname = d ? d->name : "init";
    const char *name = daft_arena_printf(cg->mod->arena, "%s.%s.%s", is_init ? "daft.init" : "daft.w",
                                         ci->actor->name, mname);
    LLVMValueRef w = LLVMAddFunction(cg->m, name, is_init ? cg->t_initfn : cg->t_methodfn);
    LLVMSetLinkage(w, LLVMInternalLinkage);
    FnCtx f;
    begin_fn(cg, &f, w, daft_arena_printf(cg->mod->arena, "%s.%s", ci->actor->name, mname),
             d ? d->span : ci->actor->span);
    f.in_actor = true;
    f.cls = ci;
    f.ctxv = LLVMGetParam(w, 0);
    LLVMValueRef state = LLVMGetParam(w, 1), args = LLVMGetParam(w, 2), nargs = LLVMGetParam(w, 3);
    LLVMValueRef out = is_init ? NULL : LLVMGetParam(w, 4);
    if (is_init)
        emit_field_zeros(cg, ci, state);
    int n = d ? d->params.len : 0;
    LLVMValueRef ca[3] = {f.ctxv, nargs, ci32(cg, n)};
    check_status(cg, call_rt(cg, "daft_gen_check_nargs", ca, 3));
    if (fi) {
        LLVMValueRef *cargs = calloc((size_t)n + 3, sizeof *cargs);
        unsigned k = 0;
        cargs[k++] = f.ctxv;
        cargs[k++] = state;
        for (int i = 0; i < n; i++) {
            DaftType *pty = d->params.items[i]->ty;
            LLVMValueRef idx = ci32(cg, i);
            LLVMValueRef a = LLVMBuildInBoundsGEP2(cg->b, cg->t_val, args, &idx, 1, "");
            check_tensor(cg, a, pty, NULL,
                         daft_arena_printf(cg->mod->arena, "argument '%s'", d->params.items[i]->name));
            cargs[k++] = ty_scalar(pty) ? unbox_checked(cg, a, pty) : a;
        }
        if (fi->kind == FN_EXTERN_METHOD) {
            CgVal r = call_kernel(cg, d, cargs + 2);
            if (r.v && !r.boxed)
                box_into(cg, out, r.v, fi->ret);
            else if (r.v)
                move_or_copy(cg, out, r);
            check_hint(cg, fi, out);
            free(cargs);
            end_fn(cg);
            return w;
        }
        LLVMValueRef rslot = NULL;
        if (!ty_void(fi->ret)) {
            if (ty_scalar(fi->ret))
                rslot = cargs[k++] = new_scalar_slot(cg, lty(cg, fi->ret), "ret");
            else
                cargs[k++] = out;
        }
        LLVMValueRef st = LLVMBuildCall2(cg->b, fi->fnty, fi->fn, cargs, k, "st");
        check_status(cg, st);
        if (rslot && out)
            box_into(cg, out, LLVMBuildLoad2(cg->b, lty(cg, fi->ret), rslot, ""), fi->ret);
        else
            check_hint(cg, fi, out);
        free(cargs);
    }
    end_fn(cg);
    return w;
}

static LLVMValueRef emit_fini(Cg *cg, ClassInfo *ci) {
    bool any = false;
    for (int i = 0; i < ci->nfields; i++)
        any |= !ty_scalar(ci->fields[i]->ty);
    if (!any)
        return NULL;
    LLVMValueRef fn = LLVMAddFunction(cg->m, daft_arena_printf(cg->mod->arena, "daft.fini.%s", ci->actor->name),
                                      cg->t_finifn);
    LLVMSetLinkage(fn, LLVMInternalLinkage);
    LLVMBasicBlockRef bb = LLVMAppendBasicBlockInContext(cg->ctx, fn, "entry");
    LLVMPositionBuilderAtEnd(cg->b, bb);
    LLVMSetCurrentDebugLocation2(cg->b, NULL);
    LLVMValueRef st = LLVMBuildBitCast(cg->b, LLVMGetParam(fn, 1), LLVMPointerType(ci->state_ty, 0), "");
    for (int i = 0; i < ci->nfields; i++) {
        if (ty_scalar(ci->fields[i]->ty))
            continue;
        LLVMValueRef p = LLVMBuildStructGEP2(cg->b, ci->state_ty, st, (unsigned)i, ci->fields[i]->name);
        call_rt(cg, "daft_value_free", &p, 1);
    }
    LLVMBuildRetVoid(cg->b);
    return fn;
}

/* ---------------------------------------------------------------- module structure */

static FnInfo *new_fn(Cg *cg, DaftNode *decl, FnKind kind, ClassInfo *cls) {
    FnInfo *fi = daft_arena_alloc(cg->mod->arena, sizeof *fi);
    fi->decl = decl;
    fi->kind = kind;
    fi->cls = cls;
    fi->ret = decl->ty;
    if (fi->ret && fi->ret->kind == DAFT_TY_VOID)
        fi->ret = NULL;
    fi->display = cls ? daft_arena_printf(cg->mod->arena, "%s.%s", cls->actor->name, decl->name) : decl->name;
    map_put(&cg->fn_of, decl, fi);
    return fi;
}

static void collect(Cg *cg) {
    DaftNode *prog = cg->mod->program;
    int nactors = 0;
    for (int i = 0; i < prog->items.len; i++)
        nactors += prog->items.items[i]->kind == DAFT_N_ACTOR;
    cg->classes = daft_arena_alloc(cg->mod->arena, sizeof(ClassInfo *) * (size_t)(nactors + 1));
    for (int i = 0; i < prog->items.len; i++) {
        DaftNode *it = prog->items.items[i];
        if (it->kind == DAFT_N_FN && !it->is_extern && it->body) {
            new_fn(cg, it, FN_USER, NULL);
        } else if (it->kind == DAFT_N_SCHEDULE) {
            new_fn(cg, it, FN_SCHED, NULL); /* compiled ones too: see the header comment */
        } else if (it->kind == DAFT_N_ACTOR) {
            ClassInfo *ci = daft_arena_alloc(cg->mod->arena, sizeof *ci);
            ci->actor = it;
            ci->index = cg->nclasses;
            cg->classes[cg->nclasses++] = ci;
            map_put(&cg->class_of, it, ci);
            int nf = 0, nm = 0;
            for (int j = 0; j < it->items.len; j++) {
                nf += it->items.items[j]->kind == DAFT_N_FIELD;
                nm += it->items.items[j]->kind == DAFT_N_METHOD;
            }
            ci->fields = daft_arena_alloc(cg->mod->arena, sizeof(DaftNode *) * (size_t)(nf + 1));
            ci->methods = daft_arena_alloc(cg->mod->arena, sizeof(FnInfo *) * (size_t)(nm + 1));
            LLVMTypeRef *ftys = calloc((size_t)nf + 1, sizeof *ftys);
            for (int j = 0; j < it->items.len; j++) {
                DaftNode *m = it->items.items[j];
                if (m->kind == DAFT_N_FIELD) {
                    map_put(&cg->field_index, m, (void *)(intptr_t)(ci->nfields + 1));
                    ftys[ci->nfields] = ty_scalar(m->ty) ? lty(cg, m->ty) : cg->t_val;
                    ci->fields[ci->nfields++] = m;
                } else if (m->kind == DAFT_N_METHOD) {
                    FnInfo *fi = new_fn(cg, m, m->is_extern ? FN_EXTERN_METHOD : FN_METHOD, ci);
                    if (m->name && strcmp(m->name, "init") == 0 && !m->is_extern) {
                        ci->init = fi;
                        fi->method_index = -1;
                    } else {
                        fi->method_index = ci->nmethods;
                        ci->methods[ci->nmethods++] = fi;
                    }
                }
            }
            mark_field_writers(cg, ci);
            ci->state_ty = LLVMStructCreateNamed(cg->ctx, daft_arena_printf(cg->mod->arena, "state.%s", it->name));
            LLVMStructSetBody(ci->state_ty, ftys, (unsigned)ci->nfields, false);
            free(ftys);
        }
    }
}

static void emit_class_desc(Cg *cg, ClassInfo *ci, LLVMValueRef *out) {
    LLVMValueRef *ms = calloc((size_t)ci->nmethods + 1, sizeof *ms);
    for (int i = 0; i < ci->nmethods; i++) {
        FnInfo *fi = ci->methods[i];
        LLVMValueRef fields[2] = {const_str(cg, fi->decl->name),
                                  fi->wrapper ? fi->wrapper : LLVMConstNull(LLVMPointerType(cg->t_methodfn, 0))};
        ms[i] = LLVMConstNamedStruct(cg->t_mdesc, fields, 2);
    }
    LLVMValueRef mtab = LLVMConstNull(LLVMPointerType(cg->t_mdesc, 0));
    if (ci->nmethods) {
        LLVMValueRef arr = LLVMConstArray(cg->t_mdesc, ms, (unsigned)ci->nmethods);
        LLVMValueRef g = LLVMAddGlobal(cg->m, LLVMTypeOf(arr), daft_arena_printf(cg->mod->arena, "daft.methods.%s", ci->actor->name));
        LLVMSetInitializer(g, arr);
        LLVMSetGlobalConstant(g, true);
        LLVMSetLinkage(g, LLVMPrivateLinkage);
        mtab = LLVMConstBitCast(g, LLVMPointerType(cg->t_mdesc, 0));
    }
    free(ms);
    unsigned long long size = LLVMABISizeOfType(cg->td, ci->state_ty);
    LLVMValueRef fields[6] = {
        const_str(cg, ci->actor->name),
        LLVMConstInt(cg->t_i64, size ? size : 8, false),
        ci->init_wrapper ? ci->init_wrapper : LLVMConstNull(LLVMPointerType(cg->t_initfn, 0)),
        ci->fini ? ci->fini : LLVMConstNull(LLVMPointerType(cg->t_finifn, 0)),
        mtab,
        ci32(cg, ci->nmethods),
    };
    *out = LLVMConstNamedStruct(cg->t_cdesc, fields, 6);
}

static void emit_main(Cg *cg) {
    LLVMValueRef *descs = calloc((size_t)cg->nclasses + 1, sizeof *descs);
    for (int i = 0; i < cg->nclasses; i++)
        emit_class_desc(cg, cg->classes[i], &descs[i]);
    LLVMValueRef classes = LLVMConstNull(LLVMPointerType(cg->t_cdesc, 0));
    if (cg->nclasses) {
        LLVMValueRef arr = LLVMConstArray(cg->t_cdesc, descs, (unsigned)cg->nclasses);
        LLVMValueRef g = LLVMAddGlobal(cg->m, LLVMTypeOf(arr), "daft.classes");
        LLVMSetInitializer(g, arr);
        LLVMSetGlobalConstant(g, true);
        LLVMSetLinkage(g, LLVMPrivateLinkage);
        classes = LLVMConstBitCast(g, LLVMPointerType(cg->t_cdesc, 0));
    }
    free(descs);
    LLVMValueRef user_main = LLVMConstNull(LLVMPointerType(cg->t_mainfn, 0));
    DaftNode *prog = cg->mod->program;
    for (int i = 0; i < prog->items.len; i++) {
        DaftNode *it = prog->items.items[i];
        if (it->kind != DAFT_N_FN || !it->name || strcmp(it->name, "main") != 0 || !it->body)
            continue;
        FnInfo *fi = map_get(&cg->fn_of, it);
        if (!fi)
            continue;
        if (it->params.len != 0 || !(ty_void(fi->ret) || fi->ret->kind == DAFT_TY_I32)) {
            cg_err(cg, it->name_span, "codegen: 'main' must take no parameters and return nothing or i32");
            continue;
        }
        /* daft.entry(ctx): runs main; returns its i32 result (the exit status), 1 when it
         * failed, else 0. */
        LLVMValueRef entry = LLVMAddFunction(cg->m, "daft.entry", cg->t_mainfn);
        LLVMSetLinkage(entry, LLVMInternalLinkage);
        LLVMPositionBuilderAtEnd(cg->b, LLVMAppendBasicBlockInContext(cg->ctx, entry, "entry"));
        LLVMSetCurrentDebugLocation2(cg->b, NULL);
        LLVMValueRef args[2] = {LLVMGetParam(entry, 0), NULL};
        LLVMValueRef slot = NULL;
        if (!ty_void(fi->ret)) {
            slot = LLVMBuildAlloca(cg->b, cg->t_i32, "rv");
            LLVMBuildStore(cg->b, ci32(cg, 0), slot);
            args[1] = slot;
        }
        LLVMValueRef st = LLVMBuildCall2(cg->b, fi->fnty, fi->fn, args, slot ? 2 : 1, "st");
        LLVMValueRef rv = slot ? LLVMBuildLoad2(cg->b, cg->t_i32, slot, "") : ci32(cg, 0);
        LLVMBuildRet(cg->b, LLVMBuildSelect(cg->b, LLVMBuildICmp(cg->b, LLVMIntNE, st, ci32(cg, 0), ""),
                                            ci32(cg, 1), rv, ""));
        user_main = entry;
    }
    const char *path = cg->mod->source ? cg->mod->source->path : "?";
    LLVMValueRef pf[5] = {const_str(cg, path), classes, user_main, ci32(cg, cg->nclasses), ci32(cg, 0)};
    LLVMValueRef prog_desc = LLVMAddGlobal(cg->m, cg->t_prog, "daft.program");
    LLVMSetInitializer(prog_desc, LLVMConstNamedStruct(cg->t_prog, pf, 5));
    LLVMSetGlobalConstant(prog_desc, true);
    LLVMSetLinkage(prog_desc, LLVMPrivateLinkage);
    if (cg->opt->library) { /* daft-repl (codegen.h): export the descriptor, no main */
        LLVMSetLinkage(prog_desc, LLVMExternalLinkage);
        LLVMSetValueName2(prog_desc, "daft_lib_program", strlen("daft_lib_program"));
        return;
    }

    LLVMTypeRef mps[2] = {cg->t_i32, LLVMPointerType(cg->t_i8p, 0)};
    LLVMValueRef mainf = LLVMAddFunction(cg->m, "main", LLVMFunctionType(cg->t_i32, mps, 2, false));
    LLVMBasicBlockRef bb = LLVMAppendBasicBlockInContext(cg->ctx, mainf, "entry");
    LLVMPositionBuilderAtEnd(cg->b, bb);
    LLVMSetCurrentDebugLocation2(cg->b, NULL);
    LLVMTypeRef gps[3] = {cg->t_i32, LLVMPointerType(cg->t_i8p, 0), LLVMPointerType(cg->t_prog, 0)};
    LLVMValueRef gm = ext_fn(cg, "daft_gen_main", LLVMFunctionType(cg->t_i32, gps, 3, false));
    LLVMValueRef args[3] = {LLVMGetParam(mainf, 0), LLVMGetParam(mainf, 1), prog_desc};
    LLVMBuildRet(cg->b, call_fn(cg, gm, args, 3));
}

/* ---------------------------------------------------------------- driver */

static bool setup_target(Cg *cg) {
    LLVMInitializeNativeTarget();
    LLVMInitializeNativeAsmPrinter();
    char *triple = LLVMGetDefaultTargetTriple();
    LLVMTargetRef target;
    char *err = NULL;
    if (LLVMGetTargetFromTriple(triple, &target, &err)) {
        cg_err(cg, daft_span_none(), "codegen: no LLVM target for %s: %s", triple, err ? err : "?");
        LLVMDisposeMessage(err);
        LLVMDisposeMessage(triple);
        return false;
    }
    char *cpu = LLVMGetHostCPUName();
    char *features = LLVMGetHostCPUFeatures();
    cg->tm = LLVMCreateTargetMachine(target, triple, cpu, features,
                                     cg->opt->opt_level ? LLVMCodeGenLevelDefault : LLVMCodeGenLevelNone,
                                     LLVMRelocPIC, LLVMCodeModelDefault);
    LLVMDisposeMessage(cpu);
    LLVMDisposeMessage(features);
    LLVMSetTarget(cg->m, triple);
    LLVMDisposeMessage(triple);
    cg->td = LLVMCreateTargetDataLayout(cg->tm);
    char *layout = LLVMCopyStringRepOfTargetData(cg->td);
    LLVMSetDataLayout(cg->m, layout);
    LLVMDisposeMessage(layout);
    return true;
}

static void setup_debug_info(Cg *cg) {
    if (!cg->opt->debug_info)
        return;
    const char *path = cg->mod->source ? cg->mod->source->path : "input.daft";
    const char *slash = strrchr(path, '/');
    const char *file = slash ? slash + 1 : path;
    char dir[4096] = ".";
    if (slash) {
        size_t n = (size_t)(slash - path);
        if (n >= sizeof dir)
            n = sizeof dir - 1;
        memcpy(dir, path, n);
        dir[n] = 0;
    }
    cg->dib = LLVMCreateDIBuilder(cg->m);
    cg->di_file = LLVMDIBuilderCreateFile(cg->dib, file, strlen(file), dir, strlen(dir));
    const char *producer = "daftc " DAFT_VERSION;
    cg->di_cu = LLVMDIBuilderCreateCompileUnit(cg->dib, LLVMDWARFSourceLanguageC, cg->di_file, producer,
                                               strlen(producer), cg->opt->opt_level > 0, "", 0, 0, "", 0,
                                               LLVMDWARFEmissionFull, 0, false, false, "", 0, "", 0);
    cg->di_fnty = LLVMDIBuilderCreateSubroutineType(cg->dib, cg->di_file, NULL, 0, LLVMDIFlagZero);
    LLVMAddModuleFlag(cg->m, LLVMModuleFlagBehaviorWarning, "Debug Info Version", 18,
                      LLVMValueAsMetadata(LLVMConstInt(cg->t_i32, LLVMDebugMetadataVersion(), false)));
    LLVMAddModuleFlag(cg->m, LLVMModuleFlagBehaviorWarning, "Dwarf Version", 13,
                      LLVMValueAsMetadata(LLVMConstInt(cg->t_i32, 4, false)));
}

/* The object is made in memory and written with daft_output_*: LLVMTargetMachineEmitToFile
 * aborts the process ("LLVM ERROR: IO failure") when the write fails. */
static bool write_output(Cg *cg) {
    const CgOptions *opt = cg->opt;
    const char *data;
    size_t size;
    char *ir = NULL, *err = NULL;
    LLVMMemoryBufferRef obj = NULL;
    if (opt->output == CG_OUT_LL) {
        ir = LLVMPrintModuleToString(cg->m);
        data = ir;
        size = strlen(ir);
    } else {
        if (LLVMTargetMachineEmitToMemoryBuffer(cg->tm, cg->m, LLVMObjectFile, &err, &obj)) {
            cg_err(cg, daft_span_none(), "codegen: cannot make object '%s': %s", opt->output_path,
                   err ? err : "?");
            LLVMDisposeMessage(err);
            return false;
        }
        data = LLVMGetBufferStart(obj);
        size = LLVMGetBufferSize(obj);
    }
    FILE *out = daft_output_open(opt->output_path, cg->diags);
    bool ok = out != NULL;
    if (ok) {
        fwrite(data, 1, size, out);
        ok = daft_output_close(out, opt->output_path, cg->diags);
    }
    if (ir)
        LLVMDisposeMessage(ir);
    if (obj)
        LLVMDisposeMemoryBuffer(obj);
    return ok;
}

bool cg_emit(DaftModule *mod, const CgOptions *opt, DaftDiagEngine *diags) {
    Cg cg;
    memset(&cg, 0, sizeof cg);
    cg.mod = mod;
    cg.diags = diags;
    cg.opt = opt;
    cg.ctx = LLVMContextCreate();
    const char *path = mod->source ? mod->source->path : "module";
    cg.m = LLVMModuleCreateWithNameInContext(path, cg.ctx);
    LLVMSetSourceFileName(cg.m, path, strlen(path));
    cg.b = LLVMCreateBuilderInContext(cg.ctx);
    init_types(&cg);
    bool ok = setup_target(&cg);
    if (ok) {
        setup_debug_info(&cg);
        collect(&cg);
        /* declarations first, so bodies can call each other in any order */
        DaftNode *prog = mod->program;
        for (int i = 0; i < prog->items.len; i++) {
            DaftNode *it = prog->items.items[i];
            FnInfo *fi = map_get(&cg.fn_of, it);
            if (fi)
                declare_fn(&cg, fi);
            if (it->kind == DAFT_N_ACTOR)
                for (int j = 0; j < it->items.len; j++)
                    if ((fi = map_get(&cg.fn_of, it->items.items[j])))
                        declare_fn(&cg, fi);
        }
        if (!cs_trace(&cg)) /* plans of compiled schedules with static actor sets */
            cg.failed = true;
        for (int i = 0; i < prog->items.len; i++) {
            DaftNode *it = prog->items.items[i];
            FnInfo *fi = map_get(&cg.fn_of, it);
            if (fi)
                emit_fn_body(&cg, fi);
            if (it->kind != DAFT_N_ACTOR)
                continue;
            ClassInfo *ci = map_get(&cg.class_of, it);
            for (int j = 0; j < it->items.len; j++) {
                if (!(fi = map_get(&cg.fn_of, it->items.items[j])))
                    continue;
                if (fi->kind == FN_EXTERN_METHOD) {
                    fi->wrapper = emit_wrapper(&cg, ci, fi, false);
                    continue;
                }
                emit_fn_body(&cg, fi);
                if (fi != ci->init)
                    fi->wrapper = emit_wrapper(&cg, ci, fi, false);
            }
            ci->init_wrapper = emit_wrapper(&cg, ci, ci->init, true);
            ci->fini = emit_fini(&cg, ci);
        }
        emit_main(&cg);
        if (cg.dib)
            LLVMDIBuilderFinalize(cg.dib);
        ok = !cg.failed;
    }
    if (ok && opt->verify) {
        char *msg = NULL;
        if (LLVMVerifyModule(cg.m, LLVMReturnStatusAction, &msg)) {
            cg_err(&cg, daft_span_none(), "codegen: internal error: invalid LLVM module:\n%s", msg ? msg : "");
            ok = false;
        }
        LLVMDisposeMessage(msg);
    }
    if (ok && opt->opt_level > 0) {
        LLVMPassBuilderOptionsRef po = LLVMCreatePassBuilderOptions();
        LLVMErrorRef e = LLVMRunPasses(cg.m, "default<O2>", cg.tm, po);
        if (e) {
            char *msg = LLVMGetErrorMessage(e);
            cg_err(&cg, daft_span_none(), "codegen: optimisation failed: %s", msg);
            LLVMDisposeErrorMessage(msg);
            ok = false;
        }
        LLVMDisposePassBuilderOptions(po);
    }
    if (ok)
        ok = write_output(&cg);
    if (cg.dib)
        LLVMDisposeDIBuilder(cg.dib);
    if (cg.td)
        LLVMDisposeTargetData(cg.td);
    if (cg.tm)
        LLVMDisposeTargetMachine(cg.tm);
    LLVMDisposeBuilder(cg.b);
    LLVMDisposeModule(cg.m);
    LLVMContextDispose(cg.ctx);
    cs_free();
    map_free(&cg.class_of);
    map_free(&cg.fn_of);
    map_free(&cg.field_index);
    map_free(&cg.externs);
    return ok;
}
