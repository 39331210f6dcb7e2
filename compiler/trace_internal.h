/* Internals of the tracer (compiler/trace*.c): an abstract evaluator over the AST with two
 * modes. TRACE mode evaluates a compiled schedule body strictly, building a DaftGraph and
 * reporting anything it cannot freeze. SCAN mode walks driver code (main, the plain
 * schedules and functions it calls) leniently, to find which actors are spawned with
 * static placements and which compiled schedules are called with them. */
#ifndef DAFT_TRACE_INTERNAL_H
#define DAFT_TRACE_INTERNAL_H

#include "plan_internal.h"

typedef enum {
    TV_UNKNOWN,   /* scan mode: not known statically */
    TV_VOID,
    TV_INT,
    TV_FLOAT,
    TV_BOOL,
    TV_STR,
    TV_RANGE,     /* i .. hi */
    TV_LIST,
    TV_ACTOR,     /* id: tracer actor */
    TV_COMM,      /* list: member actors */
    TV_REF,       /* id: graph value (trace mode); input marks a per-execution input */
} TKind;

typedef struct TList TList;

typedef struct TVal {
    TKind kind;
    int64_t i, hi;
    double f;
    const char *s;
    int id;
    TList *list;
    bool input;
    const DaftNode *decl;    /* TV_REF input: its Param, for notes */
} TVal;

struct TList {
    int len;
    TVal *items;
    /* a list-typed data parameter's items (trace mode): the Param, and the graph input
     * holding the whole list, made when the body first passes the list whole (+1; 0: none) */
    const DaftNode *param;
    int whole;
};

/* An actor the tracer knows: spawned statically in driver code, or given by the runtime. */
typedef struct TActor {
    const char *cls;
    int gpus;
    int node, gpu;           /* requested placement, -1 = default */
    const char *label;       /* e.g. "stages[0]" once bound by a let */
    DaftSpan span;           /* the spawn */
    DaftPlace place;         /* resolved (scan) */
} TActor;

typedef struct TBind {
    const char *name;
    TVal val;
    struct TBind *next;
} TBind;

typedef struct TScope {
    TBind *binds;
    struct TScope *parent;
} TScope;

/* A call of a compiled schedule found by the scan, with its structural arguments. */
typedef struct TCall {
    const DaftNode *sched;
    TVal *args;              /* per parameter; data parameters are TV_UNKNOWN or lists */
    DaftSpan span;
    const char *key;
} TCall;

typedef struct Tracer {
    const DaftModule *mod;
    DaftDiagEngine *diags;
    PlanArena *A;
    bool scan;
    /* trace mode */
    DaftGraph *g;
    const DaftNode *sched;
    int *graph_actor;        /* tracer actor -> graph actor, -1 */
    long nops, max_nodes;
    bool failed;
    bool returned;
    TVal result;
    DaftSpan call_site;      /* for the "while tracing" note; file -1 = none */
    int inline_depth;
    /* actors (both modes) */
    TActor *actors;
    int nactors, cap_actors;
    /* scan mode */
    int cond_depth, call_depth;
    long scan_unrolled;               /* comprehension elements unrolled so far */
    TCall *calls;
    int ncalls, cap_calls;
    const DaftNode **unknown_calls;   /* schedules called with non-static actors */
    DaftSpan *unknown_spans;
    int nunknown, cap_unknown;
} Tracer;

/* A list of n items (not set), of no parameter. */
TList *trace_list_new(Tracer *T, int n);
/* The graph input holding the whole list of a list-typed data parameter (l->param set). */
int trace_whole_input(Tracer *T, TList *l);
TVal trace_eval(Tracer *T, TScope *sc, const DaftNode *e);
void trace_block(Tracer *T, TScope *sc, const DaftNode *block);
void trace_bind(Tracer *T, TScope *sc, const char *name, TVal v);
const DaftNode *trace_find_decl(const Tracer *T, const char *name);
int trace_new_actor(Tracer *T, const char *cls, int gpus, int node, int gpu, DaftSpan span);
int trace_class_gpus(const Tracer *T, const DaftNode *cls);
/* Binds a compiled schedule's parameters and traces its body into T->g. */
bool trace_schedule_body(Tracer *T, const DaftNode *sched, const TVal *args);
DaftPayload trace_payload_of_type(Tracer *T, const DaftNode *ty);
TVal trace_fail_branch(Tracer *T, const DaftNode *cond, const TVal *v);
bool trace_for_each(Tracer *T, TScope *sc, const DaftNode *loop);
/* Scan: records a call of a compiled schedule (main, plain schedules). */
void trace_scan_call(Tracer *T, const DaftNode *sched, const TVal *args, int nargs, DaftSpan span);

static inline TVal tv_unknown(void) {
    TVal v = {0};
    v.kind = TV_UNKNOWN;
    return v;
}

#endif /* DAFT_TRACE_INTERNAL_H */
