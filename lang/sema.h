/* lang/sema.h — internals of semantic analysis (lang/sema*.c). Not a public header.
 *
 * daft_check runs in phases over one module:
 *   1. collect top-level names (imports load the embedded std modules);
 *   2. resolve signatures: actor resources, fields, method/schedule/fn parameter and result
 *      types, duplicate members;
 *   3. attributes (@hint, @inflight);
 *   4. bodies: names, scopes, types, calls; then, for each compiled schedule, the tracing
 *      rules (sema_compiled.c).
 *
 * What it leaves in the AST (for trace/plan/codegen):
 *   - every expression node has `ty` (DAFT_TY_ERROR after a reported error);
 *   - declarations have `ty`: Param/Field/Let/Const: the variable's type; Fn/Method/Schedule:
 *     the result type (void when none); For/Comprehension: the loop variable's type;
 *   - Name, FieldAccess and Call nodes have `decl`: Param, Let, For, Comprehension (loop
 *     variables), Const, Actor, Schedule, Fn (user or std), Method, Field or Import. A Call
 *     to a builtin (get, wait, len, print, i32, i64, f32, f64) has decl == NULL and its
 *     callee is a Name spelling the builtin;
 *   - Param, Let, For and Comprehension nodes get `slot`: their index among the locals of
 *     the enclosing function/method/schedule (params first); Name nodes that refer to them
 *     copy it;
 *   - an IntLit or FloatLit whose `ty` is another numeric type than i64/f64 was converted
 *     to that type (an integer literal where a float is expected).
 */
#ifndef DAFT_SEMA_H
#define DAFT_SEMA_H

#include <daft/lang.h>

/* Element type of a bare `tensor` (any dtype), used only by sema. */
#define SEMA_DT_ANY DAFT_DT_COUNT

/* Where code runs. */
typedef enum {
    SEMA_CTX_GLOBAL,   /* const initialisers, resources, attributes */
    SEMA_CTX_DRIVER,   /* fn, main, plain schedule */
    SEMA_CTX_COMPILED, /* compiled schedule */
    SEMA_CTX_METHOD,   /* actor method */
} SemaCtx;

typedef enum {
    SEMA_BUILTIN_NONE,
    SEMA_BUILTIN_GET,
    SEMA_BUILTIN_WAIT,
    SEMA_BUILTIN_LEN,
    SEMA_BUILTIN_PRINT,
    SEMA_BUILTIN_I32,
    SEMA_BUILTIN_I64,
    SEMA_BUILTIN_F32,
    SEMA_BUILTIN_F64,
    SEMA_BUILTIN_STR,
    SEMA_BUILTIN_IS_ERROR,
    SEMA_BUILTIN_ERROR_TEXT,
    SEMA_BUILTIN_FAIL,
} SemaBuiltin;

/* Side information per declaration, keyed by node. */
typedef struct SemaInfo {
    const DaftNode *key;
    unsigned read : 1;        /* a local was read */
    unsigned written : 1;     /* a local was assigned after its declaration */
    unsigned is_static : 1;   /* compiled schedules: value known at trace time */
    unsigned static_len : 1;  /* compiled schedules: list length known at trace time */
    unsigned state : 2;       /* consts/modules: 0 unchecked, 1 in progress, 2 done */
    unsigned is_std : 1;      /* a declaration from a std module */
    unsigned quiet_unused : 1; /* a local already in an error (its initializer, a redefinition) */
    /* Let: 1 + the length of its list literal when no assignment in the body can change it
     * (0: not known); the index warning of SPEC 6.6 relies on it. */
    int fixed_len;
    const char *module;       /* std decls: module path, e.g. "std.tensor" */
    DaftNode *module_program; /* Import: the loaded module's Program node */
    DaftType *var_ty;         /* For/Comprehension: the loop variable's type */
    /* Fn: why it is a driver function (SPEC 4.3): the first driver-only operation in its body
     * (driver_op, at driver_at), or the first call of a driver function (driver_via). */
    const char *driver_op;
    DaftNode *driver_via;
    DaftSpan driver_at;
} SemaInfo;

typedef struct SemaSym {
    const char *name;
    DaftNode *decl;
} SemaSym;

typedef struct SemaLocal {
    const char *name;
    DaftNode *decl;
    int depth;
} SemaLocal;

/* A call of a user fn from a fn or method body: the edges along which being a driver
 * function spreads, and the calls from actor code it forbids. */
typedef struct SemaCall {
    DaftNode *caller, *callee;
    DaftSpan at;
} SemaCall;

typedef struct SemaLoadedModule {
    const char *path;
    DaftNode *program;
} SemaLoadedModule;

typedef struct Sema {
    DaftArena *arena;
    DaftDiagEngine *diags;
    DaftModule *mod;
    DaftSourceSet *own_sources; /* when the engine has no source set */

    /* global names: open-addressing hash */
    SemaSym *globals;
    int gcap, glen;

    /* locals: a stack with scope depths */
    SemaLocal *locals;
    int nlocals, lcap, depth;

    /* side table: open-addressing hash by node pointer */
    SemaInfo *info;
    int icap, ilen;

    SemaLoadedModule *modules;
    int nmodules;

    SemaCall *calls;
    int ncalls, ccap;

    /* current body */
    SemaCtx ctx;
    DaftNode *fn;     /* Fn, Method or Schedule being checked */
    DaftNode *actor;  /* enclosing actor of a method */
    DaftType *ret;    /* declared result type */
    int next_slot;
    int loop_depth;
    bool in_std;      /* resolving types of a std module */

    /* interned types */
    DaftType *t_error, *t_void, *t_bool, *t_i32, *t_i64, *t_f32, *t_f64, *t_str, *t_comm,
        *t_range, *t_module, *t_tensor_any, *t_any_actor;
} Sema;

/* sema.c: tables, scopes, names, suggestions */
SemaInfo *sema_info(Sema *S, const DaftNode *node);
DaftNode *sema_global(Sema *S, const char *name);
void sema_global_add(Sema *S, DaftNode *decl, const char *name);
void sema_scope_push(Sema *S);
void sema_scope_pop(Sema *S);
DaftNode *sema_local(Sema *S, const char *name);
/* A tensor dimension written as a name (`tensor<f32, [HIDDEN]>`, `shape = [HIDDEN]`): the
 * value of the integer constant it names, or DAFT_DIM_DYNAMIC after an error. */
int64_t sema_constant_dim(Sema *S, DaftNode *d);
void sema_declare_local(Sema *S, DaftNode *decl); /* reports redefinition; assigns slot */
void sema_declare_param(Sema *S, DaftNode *decl); /* no redefinition check */
DaftSpan sema_end_span(DaftSpan s); /* the last character of a span */
DaftSpan sema_symbol_span(Sema *S, const DaftNode *decl); /* the "symbol" of an extern */
DaftNode *sema_lookup(Sema *S, const char *name);
SemaBuiltin sema_builtin(const char *name);
const char *sema_suggest(Sema *S, const char *name, int what); /* what: SEMA_SUGGEST_* */
/* Levenshtein distance of a and b, or limit + 1 when it is over limit. */
int sema_edit_distance(const char *a, const char *b, int limit);
const char *sema_suggest_in(const char *name, const char *const *cands, int n);
DaftNode *sema_suggest_decl(Sema *S, const char *name, int what);
enum { SEMA_SUGGEST_VALUE = 1, SEMA_SUGGEST_TYPE = 2, SEMA_SUGGEST_CALLABLE = 4 };
const char *sema_decl_what(const DaftNode *decl); /* "function", "actor class", ... */
void sema_note_decl(Sema *S, DaftDiag *d, const DaftNode *decl);
bool sema_is_valid_c_ident(const char *s);

/* sema_types.c */
void sema_types_init(Sema *S);
DaftType *sema_type_new(Sema *S, DaftTypeKind kind);
DaftType *sema_ref_of(Sema *S, DaftType *elem);
DaftType *sema_list_of(Sema *S, DaftType *elem);
DaftType *sema_tensor_of(Sema *S, DaftDType dt);
DaftType *sema_actor_type(Sema *S, DaftNode *actor);
DaftType *sema_resolve_type(Sema *S, DaftNode *tnode);
const char *sema_tstr(Sema *S, const DaftType *ty);
bool sema_is_error(const DaftType *ty);
/* Data types (SPEC 5.4): scalars, tensors and lists of data types. */
bool sema_is_data_type(const DaftType *t);
bool sema_is_int(const DaftType *ty);
bool sema_is_float(const DaftType *ty);
bool sema_is_numeric(const DaftType *ty);
bool sema_contains_error(const DaftType *ty);
/* Assignability: `to` accepts a value of type `from`. allow_ref: a top-level Ref<T> may
 * stand for a T (a task's or compiled schedule's argument); a Ref inside a list may not
 * (SPEC 8.4). bound: binding of bare `tensor` (SEMA_DT_ANY), or NULL. */
bool sema_assignable(const DaftType *to, const DaftType *from, bool allow_ref, int *bound);
DaftType *sema_subst_any(Sema *S, DaftType *ty, int bound);
DaftType *sema_strip_refs(Sema *S, DaftType *ty);
/* Literal adaptation: an untyped numeric constant expression takes the expected type. */
bool sema_is_untyped_const(const DaftNode *e);
bool sema_adapt_literal(Sema *S, DaftNode *e, DaftType *to);
/* Checks e against `to` (adapting literals, empty lists); reports nothing; returns ok. */
bool sema_coerce(Sema *S, DaftNode *e, DaftType *to, bool allow_ref, int *bound);

/* sema_expr.c */
/* A note on a value that is a Ref (or a list of Refs) where its value was needed, and only
 * when the value would fit `to` (NULL: any): 'get' in driver code, an actor method in a
 * compiled schedule. */
void sema_note_ref_value(Sema *S, DaftDiag *d, DaftSpan span, const DaftType *from, const DaftType *to);
DaftType *sema_expr(Sema *S, DaftNode *e, DaftType *expected);
DaftType *sema_expr_range_ok(Sema *S, DaftNode *e);
/* Evaluates an integer constant expression; false (without a report) if not constant. */
bool sema_const_int(Sema *S, DaftNode *e, int64_t *out);
/* The same, folding in the integer type `ty` (i32 or i64): false also when a value leaves it. */
bool sema_const_int_typed(Sema *S, DaftNode *e, const DaftType *ty, int64_t *out);
const char *sema_callee_name(Sema *S, const DaftNode *call);
DaftType *sema_iter_elem(Sema *S, DaftNode *iter); /* element type of a range or list */

/* sema_stmt.c */
void sema_block(Sema *S, DaftNode *block, bool new_scope);
bool sema_block_terminates(const DaftNode *block);
void sema_check_body(Sema *S, DaftNode *fn, DaftNode *actor, SemaCtx ctx);

/* sema_decl.c */
void sema_collect(Sema *S, DaftNode *program);
void sema_signatures(Sema *S, DaftNode *program);
void sema_bodies(Sema *S, DaftNode *program);
void sema_check_const(Sema *S, DaftNode *c);
DaftNode *sema_actor_member(const DaftNode *actor, const char *name);
int64_t sema_actor_resource(Sema *S, const DaftNode *actor, const char *name, DaftNode **where);
void sema_fn_signature(Sema *S, DaftNode *fn);
/* After the bodies: which fns are driver functions, and the calls of them from actor code. */
void sema_driver_functions(Sema *S);

/* sema_std.c */
const char *sema_std_text(const char *path, size_t *len);
const char *const *sema_std_modules(int *n);
DaftNode *sema_load_module(Sema *S, const char *path);
/* Named arguments a std function accepts: returns a NULL-terminated list or NULL. */
const char *const *sema_std_named_args(const char *module, const char *fn);
int sema_std_min_args(const char *module, const DaftNode *fn);
bool sema_std_scalar_operand(const char *module, const DaftNode *fn, int index);

/* sema_compiled.c */
void sema_compiled_check(Sema *S, DaftNode *sched);
void sema_compiled_recursion(Sema *S, DaftNode *program);

#endif /* DAFT_SEMA_H */
