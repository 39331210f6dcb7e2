/* daft/lang.h — the daft front end: sources, diagnostics, the AST, parsing and checking.
 *
 * This is the one public header of libdaftlang. The compiler (trace, plan, codegen), the
 * REPL and the tests include it; lexer and parser internals stay in lang/.
 *
 * Memory: every AST node, type and string of a compilation lives in one DaftArena and is
 * freed with it, so the REPL can throw a failed parse away without leaking.
 * Errors: nothing here calls exit(); every problem becomes a DaftDiag in a DaftDiagEngine.
 */
#ifndef DAFT_LANG_H
#define DAFT_LANG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define DAFT_VERSION "0.1.0"

/* ---------------------------------------------------------------- arena */

typedef struct DaftArena DaftArena;

DaftArena *daft_arena_new(void);
void daft_arena_free(DaftArena *arena);
void *daft_arena_alloc(DaftArena *arena, size_t size); /* zeroed, 16-byte aligned */
char *daft_arena_strndup(DaftArena *arena, const char *s, size_t n);
char *daft_arena_printf(DaftArena *arena, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* ---------------------------------------------------------------- sources */

/* A source file held in memory. Text may contain any bytes, NUL included; `size` is
 * authoritative. Line starts are indexed lazily for diagnostics. */
typedef struct DaftSource {
    int id;                 /* index in the DaftSourceSet */
    const char *path;       /* as given by the user, used in diagnostics */
    const char *text;       /* size bytes, followed by one extra NUL */
    size_t size;
    int *line_starts;       /* byte offset of each line start; built on demand */
    int line_count;
} DaftSource;

/* A position is 1-based line and column (columns count bytes). A span covers
 * [begin, end) on one file; end is exclusive. file = -1 means "no location". */
typedef struct DaftPos {
    int line, col;
} DaftPos;

typedef struct DaftSpan {
    int file;
    DaftPos begin, end;
} DaftSpan;

DaftSpan daft_span_join(DaftSpan a, DaftSpan b);
static inline DaftSpan daft_span_none(void) { DaftSpan s = {-1, {0, 0}, {0, 0}}; return s; }

typedef struct DaftSourceSet {
    DaftSource **files;
    int len, cap;
} DaftSourceSet;

/* Returns the new source, or NULL with errno set if the file cannot be read. */
DaftSource *daft_source_load(DaftSourceSet *set, const char *path);
DaftSource *daft_source_from_string(DaftSourceSet *set, const char *path, const char *text,
                                    size_t size);
void daft_source_set_free(DaftSourceSet *set);
/* The text of a 1-based line without its newline; *len receives its length. */
const char *daft_source_line(DaftSource *src, int line, int *len);

/* ---------------------------------------------------------------- diagnostics */

#define DAFT_SEVERITIES(X) \
    X(DAFT_SEV_ERROR, "error") \
    X(DAFT_SEV_WARNING, "warning") \
    X(DAFT_SEV_NOTE, "note")

typedef enum {
#define X(id, text) id,
    DAFT_SEVERITIES(X)
#undef X
} DaftSeverity;

const char *daft_severity_name(DaftSeverity sev);

enum { DAFT_DIAG_MAX_RANGES = 2 };

typedef struct DaftDiag {
    DaftSeverity severity;
    DaftSpan span;
    /* Extra ranges underlined with '~' on the caret line, as clang underlines the operands
     * of a binary operator (`~ ^ ~~~`); only the parts on the span's line are shown. */
    DaftSpan ranges[DAFT_DIAG_MAX_RANGES];
    int range_count;
    char *message;
    struct DaftDiag *notes;  /* notes attached to this error/warning, in order */
    int note_count;
} DaftDiag;

typedef enum { DAFT_DIAG_TEXT, DAFT_DIAG_JSON } DaftDiagFormat;

typedef struct DaftDiagEngine {
    DaftSourceSet *sources;
    DaftDiag *diags;
    int len, cap;
    int error_count, warning_count;
    int max_errors;          /* stop recording after this many errors (0 = 100) */
    bool color;
} DaftDiagEngine;

void daft_diag_init(DaftDiagEngine *eng, DaftSourceSet *sources);
void daft_diag_free(DaftDiagEngine *eng);
/* Records a diagnostic and returns it so that notes can be attached. */
DaftDiag *daft_error(DaftDiagEngine *eng, DaftSpan span, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
DaftDiag *daft_warning(DaftDiagEngine *eng, DaftSpan span, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void daft_note(DaftDiagEngine *eng, DaftDiag *parent, DaftSpan span, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Adds a range to underline; ranges past DAFT_DIAG_MAX_RANGES and ones without a position
 * are dropped (a range is decoration, never information). */
void daft_diag_add_range(DaftDiag *d, DaftSpan range);
/* Prints every recorded diagnostic in source order of recording, then (text format) a
 * summary line "N errors generated." when there were errors. */
void daft_diag_print(DaftDiagEngine *eng, FILE *out, DaftDiagFormat format);
void daft_diag_clear(DaftDiagEngine *eng);

/* Output files of the tools (dumps, IR, objects). Write errors (a full disk, a closed
 * pipe) only show at fflush/fclose, so every output must be closed with
 * daft_output_close, which reports them as "cannot write 'PATH': REASON".
 * daft_output_open returns `path` opened for writing, or stdout when path is NULL; NULL
 * after reporting an error. */
FILE *daft_output_open(const char *path, DaftDiagEngine *diags);
/* Flushes `out` and closes it (stdout is only flushed); false after reporting an error. */
bool daft_output_close(FILE *out, const char *path, DaftDiagEngine *diags);

/* ---------------------------------------------------------------- types */

#define DAFT_TYPE_KINDS(X) \
    X(DAFT_TY_ERROR, "<error>")   /* after a reported error; never reported twice */ \
    X(DAFT_TY_VOID, "void") \
    X(DAFT_TY_BOOL, "bool") \
    X(DAFT_TY_I32, "i32") \
    X(DAFT_TY_I64, "i64") \
    X(DAFT_TY_F32, "f32") \
    X(DAFT_TY_F64, "f64") \
    X(DAFT_TY_STR, "str") \
    X(DAFT_TY_TENSOR, "tensor") \
    X(DAFT_TY_REF, "Ref") \
    X(DAFT_TY_LIST, "list") \
    X(DAFT_TY_ACTOR, "actor") \
    X(DAFT_TY_COMM, "Comm") \
    X(DAFT_TY_RANGE, "range") \
    X(DAFT_TY_MODULE, "module")

typedef enum {
#define X(id, text) id,
    DAFT_TYPE_KINDS(X)
#undef X
} DaftTypeKind;

#define DAFT_DTYPES(X) \
    X(DAFT_DT_F32, "f32", 4) \
    X(DAFT_DT_BF16, "bf16", 2) \
    X(DAFT_DT_F16, "f16", 2) \
    X(DAFT_DT_I32, "i32", 4) \
    X(DAFT_DT_I64, "i64", 8)

typedef enum {
#define X(id, text, size) id,
    DAFT_DTYPES(X)
#undef X
    DAFT_DT_COUNT
} DaftDType;

const char *daft_dtype_name(DaftDType dt);
int daft_dtype_size(DaftDType dt);
bool daft_dtype_parse(const char *name, DaftDType *out);

#define DAFT_DIM_DYNAMIC (-1)  /* a "?" dimension */
#define DAFT_TENSOR_MAX_RANK 8 /* as the runtime's DAFT_MAX_RANK */

typedef struct DaftNode DaftNode;

typedef struct DaftType {
    DaftTypeKind kind;
    /* tensor */
    DaftDType dtype;
    int rank;             /* -1: shape not given (any rank) */
    int64_t *dims;        /* rank entries; DAFT_DIM_DYNAMIC for "?" */
    /* Ref<elem>, [elem] */
    struct DaftType *elem;
    /* actor: the class declaration */
    DaftNode *actor_class;
} DaftType;

/* Renders a type as written in source, e.g. "tensor<f32, [32, ?]>", "Ref<i64>". */
const char *daft_type_str(DaftArena *arena, const DaftType *ty);
bool daft_type_equal(const DaftType *a, const DaftType *b);

/* ---------------------------------------------------------------- AST */

/* Every node kind, with the name --emit=ast prints. One table so that the enum and the
 * dump cannot drift. */
#define DAFT_NODE_KINDS(X) \
    /* top level */ \
    X(DAFT_N_PROGRAM, "Program")          /* items: toplevel decls */ \
    X(DAFT_N_IMPORT, "Import")            /* name: module path "std.tensor"; alias */ \
    X(DAFT_N_LINK, "Link")                /* name: path of a C/CUDA source or library */ \
    X(DAFT_N_CONST, "Const")              /* name; type (opt); value */ \
    X(DAFT_N_ACTOR, "Actor")              /* name; args: resources (NamedArg); items: members */ \
    X(DAFT_N_FIELD, "Field")              /* name; type */ \
    X(DAFT_N_METHOD, "Method")            /* name; attrs; params; type: result (opt); body or symbol; is_extern */ \
    X(DAFT_N_SCHEDULE, "Schedule")        /* name; attrs; params; type (opt); body; is_compiled */ \
    X(DAFT_N_FN, "Fn")                    /* name; params; type (opt); body, or is_extern and symbol */ \
    X(DAFT_N_PARAM, "Param")              /* name; type */ \
    X(DAFT_N_ATTRIBUTE, "Attribute")      /* name: "hint", "inflight"...; args: types and NamedArgs */ \
    /* types as written */ \
    X(DAFT_N_TYPE_NAME, "TypeName")       /* name: i64, f32, bool, str, Comm or an actor class */ \
    X(DAFT_N_TYPE_TENSOR, "TypeTensor")   /* name: dtype, NULL for bare `tensor` (any); args: dims (IntLit or DimAny); has_shape */ \
    X(DAFT_N_TYPE_REF, "TypeRef")         /* type: element */ \
    X(DAFT_N_TYPE_LIST, "TypeList")       /* type: element */ \
    X(DAFT_N_DIM_ANY, "DimAny")           /* "?" in a shape */ \
    /* statements */ \
    X(DAFT_N_BLOCK, "Block")              /* items: statements */ \
    X(DAFT_N_LET, "Let")                  /* name; type (opt); value */ \
    X(DAFT_N_ASSIGN, "Assign")            /* target; value; op: '=' or compound operator token */ \
    X(DAFT_N_RETURN, "Return")            /* value (opt) */ \
    X(DAFT_N_IF, "If")                    /* cond; then; els (opt: Block or If) */ \
    X(DAFT_N_FOR, "For")                  /* name: loop variable; iter; body */ \
    X(DAFT_N_WHILE, "While")              /* cond; body */ \
    X(DAFT_N_BREAK, "Break") \
    X(DAFT_N_CONTINUE, "Continue") \
    X(DAFT_N_EXPR_STMT, "ExprStmt")       /* value */ \
    /* expressions */ \
    X(DAFT_N_INT_LIT, "IntLit")           /* ival */ \
    X(DAFT_N_FLOAT_LIT, "FloatLit")       /* fval */ \
    X(DAFT_N_STR_LIT, "StrLit")           /* name: decoded bytes; str_len */ \
    X(DAFT_N_BOOL_LIT, "BoolLit")         /* ival: 0 or 1 */ \
    X(DAFT_N_NAME, "Name")                /* name */ \
    X(DAFT_N_SELF, "Self") \
    X(DAFT_N_UNARY, "Unary")              /* op; lhs */ \
    X(DAFT_N_BINARY, "Binary")            /* op (at name_span); lhs; rhs */ \
    X(DAFT_N_RANGE, "Range")              /* lhs: start; rhs: end (exclusive) */ \
    X(DAFT_N_CALL, "Call")                /* callee (Name, or Field for methods and module functions); args */ \
    X(DAFT_N_FIELD_ACCESS, "FieldAccess") /* lhs: object; name: field */ \
    X(DAFT_N_INDEX, "Index")              /* lhs: object; rhs: index */ \
    X(DAFT_N_LIST, "List")                /* items: elements */ \
    X(DAFT_N_COMPREHENSION, "Comprehension") /* value: element; name: variable; iter; cond (opt) */ \
    X(DAFT_N_SPAWN, "Spawn")              /* name: class; args; items: Placement */ \
    X(DAFT_N_PLACEMENT, "Placement")      /* name: "gpu" | "node" | "cpu"; value (opt) */ \
    X(DAFT_N_NAMED_ARG, "NamedArg")       /* name; value */

typedef enum {
#define X(id, text) id,
    DAFT_NODE_KINDS(X)
#undef X
    DAFT_N_COUNT
} DaftNodeKind;

const char *daft_node_kind_name(DaftNodeKind kind);

typedef struct DaftNodeList {
    DaftNode **items;
    int len, cap;
} DaftNodeList;

void daft_node_list_push(DaftArena *arena, DaftNodeList *list, DaftNode *node);

/* Operators are stored as DaftOp; their spelling comes from one table. */
#define DAFT_OPS(X) \
    X(DAFT_OP_NONE, "") \
    X(DAFT_OP_ADD, "+") X(DAFT_OP_SUB, "-") X(DAFT_OP_MUL, "*") X(DAFT_OP_DIV, "/") \
    X(DAFT_OP_MOD, "%") X(DAFT_OP_EQ, "==") X(DAFT_OP_NE, "!=") X(DAFT_OP_LT, "<") \
    X(DAFT_OP_LE, "<=") X(DAFT_OP_GT, ">") X(DAFT_OP_GE, ">=") X(DAFT_OP_AND, "&&") \
    X(DAFT_OP_OR, "||") X(DAFT_OP_NOT, "!") X(DAFT_OP_NEG, "-") X(DAFT_OP_ASSIGN, "=")

typedef enum {
#define X(id, text) id,
    DAFT_OPS(X)
#undef X
} DaftOp;

const char *daft_op_name(DaftOp op);

/* One struct for every node, in the style of chibicc: each kind uses the fields its
 * comment in DAFT_NODE_KINDS names and leaves the others zero. */
struct DaftNode {
    DaftNodeKind kind;
    DaftSpan span;         /* the whole construct */
    DaftSpan name_span;    /* where `name` is written, for diagnostics */

    const char *name;      /* identifier, declared name, module path, string bytes */
    const char *alias;     /* import alias */
    size_t str_len;        /* string literal byte length (may contain NUL) */
    int64_t ival;
    double fval;
    DaftOp op;

    DaftNode *type;        /* declared type / result type / element type */
    DaftNode *value;       /* initialiser, returned value, argument value, element */
    DaftNode *target;      /* assignment target */
    DaftNode *lhs, *rhs;
    DaftNode *callee;
    DaftNode *cond;
    DaftNode *then, *els;
    DaftNode *iter;        /* for / comprehension iterable */
    DaftNode *body;        /* Block */

    DaftNodeList items;    /* program decls, actor members, block statements, list elements */
    DaftNodeList args;     /* call / spawn / attribute / actor resource arguments */
    DaftNodeList params;   /* fn, method, schedule parameters */
    DaftNodeList attrs;    /* attributes on methods and schedules */

    bool is_extern;        /* extern method: `symbol` names the C symbol */
    bool is_compiled;      /* compiled schedule */
    bool has_shape;        /* tensor type written with a shape */
    const char *symbol;

    /* Filled by semantic analysis. */
    DaftType *ty;          /* type of an expression, or declared type of a decl */
    DaftNode *decl;        /* for names and calls: the declaration referred to */
    int slot;              /* local variable index within its function, or -1 */
};

DaftNode *daft_node_new(DaftArena *arena, DaftNodeKind kind, DaftSpan span);

/* ---------------------------------------------------------------- parsing and checking */

typedef struct DaftModule {
    DaftArena *arena;
    DaftSource *source;
    DaftNode *program;     /* DAFT_N_PROGRAM, never NULL after daft_parse (may be partial) */
    bool executable;       /* to be built into an executable: daft_check requires main
                            * (SPEC 4.1); daft_parse sets false, daftc sets it */
} DaftModule;

/* Limits that keep every later recursive pass over the AST safe: brackets ( [ { nest at
 * most DAFT_MAX_NESTING deep ("nesting too deep (limit 256)"), and the AST daft_parse
 * returns is at most DAFT_MAX_AST_DEPTH nodes deep (deeper subtrees, e.g. a chain of
 * thousands of `+`, are reported and cut off). After a syntax error the partial AST may
 * have NULL children and NULL list items where constructs could not be parsed. */
#define DAFT_MAX_NESTING 256
#define DAFT_MAX_AST_DEPTH 1024

/* Parses one source into an AST. Syntax errors go to `diags`; the parser recovers at
 * statement and declaration boundaries so one run reports several errors. Returns false
 * when any error was reported (the partial AST is still usable for --emit=ast). */
bool daft_parse(DaftArena *arena, DaftSource *src, DaftDiagEngine *diags, DaftModule *out);

/* Semantic analysis: names, scopes, types, calls, hints, resources and the rules of
 * compiled schedules. Annotates the AST (ty, decl, slot). Returns false on any error. */
bool daft_check(DaftModule *mod, DaftDiagEngine *diags);

/* The first parameter of schedule `sc` that holds Refs (`Ref<T>`, `[Ref<T>]`...), or NULL
 * (types from daft_check). A compiled schedule with one is only traced inline into the
 * compiled schedules that call it (SPEC 11.2): it has no plan of its own. */
const DaftNode *daft_schedule_ref_param(const DaftNode *sc);

/* Writes a readable, stable tree dump (daftc --emit=ast). */
void daft_ast_dump(const DaftNode *node, FILE *out);

#endif /* DAFT_LANG_H */
