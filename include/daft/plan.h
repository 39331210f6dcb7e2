/* daft/plan.h — libdaftplan: tracing compiled schedules and planning them into static
 * per-actor channel programs (paper §3.2 "Execution model", DESIGN.md "Compiled mode").
 *
 * This is the one public header of libdaftplan. daftc (--emit-plan), the REPL and the
 * runtime include it; everything else in compiler/plan*.c and compiler/trace*.c is
 * internal (prefix plan_ / trace_).
 *
 * Three layers, usable separately:
 *
 *   1. DaftGraph — a dataflow graph of one compiled schedule for one concrete actor set:
 *      driver inputs, method tasks on actors, collectives over groups of actors, driver
 *      outputs; values are the edges. Built by the tracer from the AST, or by hand
 *      (runtime, tests, benchmarks) with the daft_graph_add_* functions. No AST needed.
 *   2. daft_plan_build() — DaftGraph → DaftPlan: places, channels, collective groups and
 *      one ordered op program per actor. Deterministic: the same graph and options give
 *      the same plan, byte for byte, in daftc and at run time.
 *   3. daft_trace_program() — a checked DaftModule → one DaftPlan per compiled schedule
 *      and statically known actor set (daftc --emit-plan). Needs the front end.
 *
 * Executing a plan (the contract with the runtime; docs/spec-plan.md is normative):
 *  - The driver, for each execution, writes every input to each of its channels
 *    (plan->inputs), then reads every output channel (plan->outputs).
 *  - Each actor runs its program (plan->actors[i].ops) once per execution, top to
 *    bottom, executions strictly in order. Ops are executable exactly as listed:
 *      READ  ch -> sN        take this execution's value of channel ch into slot sN
 *      WRITE sN -> ch        send slot sN on ch; reader = -1: to every reader at once
 *                            (buffered transports), reader = r: only to ch.readers[r]
 *                            (NCCL: one send per reader, each at its reader's position)
 *      CALL  m(args) -> sN   run method m; args are slots or constants; dst -1: no result
 *      COLL  kind group sA -> sB   collective on group with input sA, result sB (every
 *                            member issues it at the same position; reduce / root apply)
 *      FREE  sN              the slot's value is dead; release it
 *    Slots are per actor, numbered 0..nslots-1, and reused after FREE.
 *  - Deadlock freedom: every NCCL op (send, receive, collective) carries a global
 *    sequence number `seq`; each actor's NCCL ops appear in increasing seq, a send and its
 *    receive share one seq, and all members of a collective share one seq. Any actors
 *    that follow their programs therefore agree on the order of NCCL operations between
 *    every pair and within every group. Buffered channels (SHM, TCP) hold `capacity`
 *    executions, so writers never wait within one execution.
 *  - Several executions may be in flight: at most plan->inflight; channels are sized for
 *    it.
 *
 * Memory: a DaftGraph and a DaftPlan each own all their memory (strings included); free
 * them with daft_graph_free / daft_plan_free. Errors: nothing here exits or prints on its
 * own; failures return -1 with a message in the caller's buffer (or the graph's error),
 * and the tracer reports through a DaftDiagEngine. Out of memory aborts, as everywhere in
 * daft.
 */
#ifndef DAFT_PLAN_H
#define DAFT_PLAN_H

#include <daft/lang.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define DAFT_PLAN_MAX_RANK 8
#define DAFT_PLAN_DRIVER (-1)          /* the driver, where an actor index is expected */
#define DAFT_PLAN_DEFAULT_INFLIGHT 2   /* executions in flight unless @inflight(n) says */
#define DAFT_PLAN_DEFAULT_GPUS_PER_NODE 8

/* ---------------------------------------------------------------- tables
 * One X-macro per enumeration, so that enums, names and printers cannot drift. */

/* How a channel moves its value. */
#define DAFT_TRANSPORTS(X) \
    X(DAFT_TRANSPORT_LOCAL, "local")   /* driver returns its own input: no copy */ \
    X(DAFT_TRANSPORT_SHM, "shm")       /* same host, host data: shared-memory ring */ \
    X(DAFT_TRANSPORT_TCP, "tcp")       /* other host, host data */ \
    X(DAFT_TRANSPORT_NCCL, "nccl")     /* device tensor between two GPU actors */ \
    X(DAFT_TRANSPORT_CUSTOM, "custom") /* a communicator named by a type hint */

typedef enum {
#define X(id, text) id,
    DAFT_TRANSPORTS(X)
#undef X
    DAFT_TRANSPORT_COUNT
} DaftTransport;

/* The `comm =` of a type hint. */
#define DAFT_COMM_HINTS(X) \
    X(DAFT_COMM_AUTO, "auto") \
    X(DAFT_COMM_NCCL, "nccl") \
    X(DAFT_COMM_SHM, "shm") \
    X(DAFT_COMM_TCP, "tcp") \
    X(DAFT_COMM_CUSTOM, "custom")

typedef enum {
#define X(id, text) id,
    DAFT_COMM_HINTS(X)
#undef X
    DAFT_COMM_COUNT
} DaftCommKind;

/* Collective operations (Table 1 of the paper). allreduce sums; broadcast sends the
 * first member's value; allgather concatenates in member order; reducescatter sums and
 * gives member i the i-th part. */
#define DAFT_COLLECTIVES(X) \
    X(DAFT_COLL_ALLREDUCE, "allreduce") \
    X(DAFT_COLL_ALLGATHER, "allgather") \
    X(DAFT_COLL_REDUCESCATTER, "reducescatter") \
    X(DAFT_COLL_BROADCAST, "broadcast")

typedef enum {
#define X(id, text) id,
    DAFT_COLLECTIVES(X)
#undef X
    DAFT_COLL_COUNT
} DaftCollKind;

/* The reduction of allreduce and reducescatter (`op =`, SPEC §12). */
#define DAFT_REDUCE_OPS(X) \
    X(DAFT_REDUCE_SUM, "sum") \
    X(DAFT_REDUCE_MAX, "max") \
    X(DAFT_REDUCE_MIN, "min") \
    X(DAFT_REDUCE_AVG, "avg")

typedef enum {
#define X(id, text) id,
    DAFT_REDUCE_OPS(X)
#undef X
    DAFT_REDUCE_COUNT
} DaftReduceOp;

/* Ops of an actor program. */
#define DAFT_PLAN_OPS(X) \
    X(DAFT_OP_READ, "read") \
    X(DAFT_OP_WRITE, "write") \
    X(DAFT_OP_CALL, "call") \
    X(DAFT_OP_COLLECTIVE, "collective") \
    X(DAFT_OP_FREE, "free")

typedef enum {
#define X(id, text) id,
    DAFT_PLAN_OPS(X)
#undef X
    DAFT_PLAN_OP_COUNT
} DaftPlanOpKind;

/* What a value is. */
#define DAFT_PAYLOAD_KINDS(X) \
    X(DAFT_PAY_NONE, "none")      /* a method without result */ \
    X(DAFT_PAY_I64, "i64") \
    X(DAFT_PAY_I32, "i32") \
    X(DAFT_PAY_F64, "f64") \
    X(DAFT_PAY_F32, "f32") \
    X(DAFT_PAY_BOOL, "bool") \
    X(DAFT_PAY_STR, "str") \
    X(DAFT_PAY_TENSOR, "tensor") \
    X(DAFT_PAY_ANY, "any")        /* lists and other encoded values */

typedef enum {
#define X(id, text) id,
    DAFT_PAYLOAD_KINDS(X)
#undef X
    DAFT_PAY_COUNT
} DaftPayloadKind;

/* Output formats of daft_plan_print. */
#define DAFT_PLAN_FORMATS(X) \
    X(DAFT_PLAN_TEXT, "text") \
    X(DAFT_PLAN_JSON, "json") \
    X(DAFT_PLAN_DOT, "dot")

typedef enum {
#define X(id, text) id,
    DAFT_PLAN_FORMATS(X)
#undef X
    DAFT_PLAN_FORMAT_COUNT
} DaftPlanFormat;

const char *daft_transport_name(DaftTransport t);
const char *daft_comm_kind_name(DaftCommKind c);
const char *daft_coll_name(DaftCollKind c);
const char *daft_reduce_name(DaftReduceOp r);
bool daft_reduce_parse(const char *name, DaftReduceOp *out);
const char *daft_plan_op_name(DaftPlanOpKind k);
const char *daft_payload_kind_name(DaftPayloadKind k);
bool daft_plan_format_parse(const char *name, DaftPlanFormat *out);
bool daft_coll_parse(const char *name, DaftCollKind *out);

/* ---------------------------------------------------------------- values and hints */

/* The type of a value. A tensor's shape is static when rank >= 0 and no dimension is
 * DAFT_DIM_DYNAMIC; otherwise its channel sends shape metadata first. */
typedef struct DaftPayload {
    DaftPayloadKind kind;
    DaftDType dtype;                     /* tensor */
    int rank;                            /* tensor: -1 = any rank (dynamic) */
    int64_t dims[DAFT_PLAN_MAX_RANK];    /* DAFT_DIM_DYNAMIC (-1) for "?" */
    bool device;                         /* tensor held in GPU memory (set by the planner) */
} DaftPayload;

static inline DaftPayload daft_payload_scalar(DaftPayloadKind kind) {
    DaftPayload p = {0};
    p.kind = kind;
    p.rank = -1;
    return p;
}
/* dims may be NULL when rank <= 0; rank -1 = shape unknown. */
DaftPayload daft_payload_tensor(DaftDType dtype, int rank, const int64_t *dims);
bool daft_payload_static(const DaftPayload *p);
/* Writes e.g. "tensor<f32, [32, ?]>" or "i64"; returns snprintf's count. */
int daft_payload_str(const DaftPayload *p, char *buf, size_t cap);

/* The `comm =` part of a method's @hint; custom names a user communicator. */
typedef struct DaftCommHint {
    DaftCommKind kind;
    const char *custom;                  /* DAFT_COMM_CUSTOM: its name */
    bool dynamic_shape;                  /* shape = auto: send metadata first */
} DaftCommHint;

/* A constant argument of a method call (literals written in the schedule). */
#define DAFT_CONST_KINDS(X) \
    X(DAFT_CONST_I64, "i64") \
    X(DAFT_CONST_F64, "f64") \
    X(DAFT_CONST_BOOL, "bool") \
    X(DAFT_CONST_STR, "str")

typedef enum {
#define X(id, text) id,
    DAFT_CONST_KINDS(X)
#undef X
} DaftConstKind;

typedef struct DaftConst {
    DaftConstKind kind;
    int64_t i;                           /* i64, bool */
    double f;                            /* f64 */
    const char *s;                       /* str (NUL-terminated, owned by graph / plan) */
} DaftConst;

/* ---------------------------------------------------------------- the graph */

#define DAFT_GRAPH_NODE_KINDS(X) \
    X(DAFT_GN_INPUT, "input") \
    X(DAFT_GN_TASK, "task") \
    X(DAFT_GN_COLLECTIVE, "collective") \
    X(DAFT_GN_OUTPUT, "output")

typedef enum {
#define X(id, text) id,
    DAFT_GRAPH_NODE_KINDS(X)
#undef X
} DaftGraphNodeKind;

/* A task argument: a value of the graph (value >= 0) or a constant (value == -1). */
typedef struct DaftGraphArg {
    int value;
    DaftConst konst;
} DaftGraphArg;

/* Node ids are positions in g->nodes and are created in program order, which is a
 * topological order (an argument always exists before its user). */
typedef struct DaftGraphNode {
    DaftGraphNodeKind kind;
    const char *name;        /* INPUT/OUTPUT: parameter or output name; TASK: method */
    int actor;               /* TASK: actor index */
    DaftGraphArg *args;      /* TASK: arguments; COLLECTIVE: one value per member; OUTPUT: 1 */
    int nargs;
    int *results;            /* value ids: INPUT and TASK 1, COLLECTIVE one per member */
    int nresults;
    DaftCollKind coll;       /* COLLECTIVE */
    DaftReduceOp reduce;     /* COLLECTIVE: allreduce, reducescatter */
    int root;                /* COLLECTIVE: broadcast's source rank */
    int group;               /* COLLECTIVE: index in g->groups */
    DaftSpan span;           /* source position for messages, or daft_span_none() */
} DaftGraphNode;

typedef struct DaftGraphValue {
    int producer;            /* node id */
    int actor;               /* actor holding it, DAFT_PLAN_DRIVER for inputs */
    DaftPayload payload;
    DaftCommHint hint;
} DaftGraphValue;

typedef struct DaftGraphActor {
    const char *name;        /* e.g. "a", "workers[2]" */
    const char *cls;         /* actor class */
    int gpus;                /* GPUs the class asks for (0 = CPU actor) */
    int node, gpu;           /* requested place; -1 = default (SPEC §10.1: gpu is an index
                                on the actor's node, node 0 unless given) */
    const char *origin;      /* where it was spawned, for humans; may be NULL */
} DaftGraphActor;

typedef struct DaftGraphGroup {
    int *members;            /* actor indices, in rank order */
    int nmembers;
} DaftGraphGroup;

typedef struct DaftGraph {
    const char *name;        /* schedule name */
    int inflight;            /* executions in flight (0 = default) */
    DaftGraphActor *actors;
    int nactors, cap_actors;
    DaftGraphNode *nodes;
    int nnodes, cap_nodes;
    DaftGraphValue *values;
    int nvalues, cap_values;
    DaftGraphGroup *groups;
    int ngroups, cap_groups;
    char error[256];         /* the first builder error, "" if none */
    struct PlanArena *arena; /* internal */
} DaftGraph;

DaftGraph *daft_graph_new(const char *name);
void daft_graph_free(DaftGraph *g);
/* Each builder returns an index (actor, value) or -1 after recording g->error. */
int daft_graph_add_actor(DaftGraph *g, const char *name, const char *cls, int gpus,
                         int node, int gpu);
int daft_graph_add_input(DaftGraph *g, const char *name, DaftPayload payload);
/* The task's result value (kind DAFT_PAY_NONE for a method without result). */
int daft_graph_add_task(DaftGraph *g, int actor, const char *method, const DaftGraphArg *args,
                        int nargs, DaftPayload result, DaftCommHint hint);
/* A collective over members[0..n) with values[i] as member i's input (moved to member i
 * first when it lives elsewhere). `reduce` matters for allreduce and reducescatter, `root`
 * for broadcast. Result value ids go to results[0..n) (may be NULL); returns the first.
 * The group of a member list is created once and shared. */
int daft_graph_add_collective(DaftGraph *g, DaftCollKind kind, DaftReduceOp reduce, int root,
                              const int *members, const int *values, int n, int *results);
int daft_graph_add_output(DaftGraph *g, const char *name, int value);
static inline DaftGraphArg daft_arg_value(int v) {
    DaftGraphArg a = {0};
    a.value = v;
    return a;
}
static inline DaftGraphArg daft_arg_i64(int64_t i) {
    DaftGraphArg a = {0};
    a.value = -1;
    a.konst.kind = DAFT_CONST_I64;
    a.konst.i = i;
    return a;
}
/* A copy of a string owned by the graph. */
const char *daft_graph_strdup(DaftGraph *g, const char *s);

/* ---------------------------------------------------------------- the plan */

typedef struct DaftPlace {
    int node;                /* host index: 0 = the driver's host */
    int gpu;                 /* GPU index on that host, -1 = CPU actor */
} DaftPlace;

/* Default placement, shared by the planner, the tracer and the launcher so they agree:
 * actors with an explicit place keep it; every other actor with gpus >= 1 takes the next
 * `gpus` free GPUs in (node, gpu) order, filling node 0 first; CPU actors go to node 0.
 * req[i] is the requested place (-1 = default; a gpu without a node is on node 0; a node
 * without a gpu takes that node's first free GPU). Writes places[0..n). */
void daft_plan_assign_places(const DaftGraphActor *req, int n, int gpus_per_node,
                             DaftPlace *places);

typedef struct DaftPlanChannel {
    int value;               /* graph value carried */
    int writer;              /* actor index or DAFT_PLAN_DRIVER */
    int *readers;            /* actor indices or DAFT_PLAN_DRIVER, distinct, in order of first use */
    int nreaders;
    DaftTransport transport;
    const char *custom;      /* DAFT_TRANSPORT_CUSTOM: communicator name */
    DaftPayload payload;
    bool meta_first;         /* shape not static: shape metadata goes first on a host channel */
    int capacity;            /* executions it buffers (= plan->inflight) */
} DaftPlanChannel;

typedef struct DaftPlanGroup {
    int *members;            /* actor indices, member i has rank i */
    int nmembers;
    DaftTransport transport; /* NCCL when every member is a GPU actor, else SHM or TCP */
} DaftPlanGroup;

/* A CALL argument: a slot (slot >= 0) or a constant (slot == -1). */
typedef struct DaftPlanArg {
    int slot;
    DaftConst konst;
} DaftPlanArg;

typedef struct DaftPlanOp {
    DaftPlanOpKind kind;
    int dst;                 /* READ, CALL (-1: result discarded), COLLECTIVE: slot written */
    int src;                 /* WRITE, COLLECTIVE, FREE: slot read (FREE: released) */
    int channel;             /* READ, WRITE */
    int reader;              /* WRITE: index in the channel's readers, -1 = all of them */
    const char *method;      /* CALL */
    DaftPlanArg *args;       /* CALL */
    int nargs;
    DaftCollKind coll;       /* COLLECTIVE */
    DaftReduceOp reduce;     /* COLLECTIVE: allreduce, reducescatter */
    int root;                /* COLLECTIVE: broadcast's source rank */
    int group;               /* COLLECTIVE */
    int node;                /* graph node this op serves (for traces and messages) */
    int64_t seq;             /* NCCL ops and collectives: global order; else -1 */
} DaftPlanOp;

typedef struct DaftPlanActor {
    const char *name;
    const char *cls;
    int gpus;
    DaftPlace place;
    const char *origin;      /* may be NULL */
    DaftPlanOp *ops;         /* the program of one execution */
    int nops;
    int nslots;
} DaftPlanActor;

typedef struct DaftPlanInput {
    const char *name;
    DaftPayload payload;
    int *channels;           /* the driver writes the input to each (one per transport) */
    int nchannels;
} DaftPlanInput;

typedef struct DaftPlanOutput {
    const char *name;
    int channel;             /* read by the driver; several outputs may share one channel */
    int input;               /* >= 0: the output is driver input `input` (channel -1) */
} DaftPlanOutput;

typedef struct DaftPlan {
    const char *name;
    int inflight;
    int gpus_per_node;
    DaftPlanActor *actors;
    int nactors;
    DaftPlanChannel *channels;
    int nchannels;
    DaftPlanGroup *groups;
    int ngroups;
    DaftPlanInput *inputs;
    int ninputs;
    DaftPlanOutput *outputs;
    int noutputs;
    struct PlanArena *arena; /* internal */
} DaftPlan;

typedef struct DaftPlanOptions {
    int inflight;            /* 0: the graph's, else DAFT_PLAN_DEFAULT_INFLIGHT */
    int gpus_per_node;       /* 0: DAFT_PLAN_DEFAULT_GPUS_PER_NODE */
    bool cpu_only;           /* no NCCL: device tensors travel as host data */
    bool no_overlap;         /* keep receives next to their use (for debugging) */
    bool verify;             /* run daft_plan_verify on the result (always in debug builds) */
} DaftPlanOptions;

/* Plans g. Returns 0 and *out, or -1 with a message in err (and *out = NULL). */
int daft_plan_build(const DaftGraph *g, const DaftPlanOptions *opt, DaftPlan **out,
                    char *err, size_t errcap);
void daft_plan_free(DaftPlan *plan);

/* Checks every invariant of docs/spec-plan.md "Verifier": one writer per channel and
 * every (channel, reader) written and read exactly once; valid slots, channels, groups;
 * slots written before read and freed exactly once; NCCL ops between every pair of actors
 * and collectives within every group in the same order on both sides; no cycle (with
 * NCCL transfers and collectives as rendezvous). Returns 0, or -1 with the first
 * violation in err. */
int daft_plan_verify(const DaftPlan *plan, char *err, size_t errcap);

/* Prints one plan. */
void daft_plan_print(const DaftPlan *plan, FILE *out, DaftPlanFormat fmt);

/* A schedule that got no plan, and why (printed as a note with the plans). */
typedef struct DaftPlanSkip {
    const char *schedule;
    const char *reason;
} DaftPlanSkip;

/* Prints several plans as one document: text plans one after another, one JSON object
 * {"plans": [...], "skipped": [...]}, or one DOT digraph with a cluster per plan. */
void daft_plan_print_all(DaftPlan *const *plans, int n, const DaftPlanSkip *skips,
                         int nskips, FILE *out, DaftPlanFormat fmt);

/* ---------------------------------------------------------------- serialization
 * A compact, versioned, checksummed binary form of a plan (compiler/plan_serial.c), used to
 * embed plans as constant data in daftc-built executables. Deterministic: equal plans give
 * equal bytes. */

/* Serializes plan into a malloc'd buffer *out (caller frees); returns its length. */
size_t daft_plan_serialize(const DaftPlan *plan, uint8_t **out);
/* Rebuilds a plan from len bytes. Validates everything (magic, version, length, checksum,
 * every count against the bytes left, enums, indices, then daft_plan_verify) and never
 * crashes on corrupt input. Returns 0 and *out (free with daft_plan_free), or -1 with a
 * message in err (and *out = NULL). */
int daft_plan_deserialize(const void *data, size_t len, DaftPlan **out, char *err, size_t errcap);

/* ---------------------------------------------------------------- tracing (needs the AST) */

typedef struct DaftTraceOptions {
    DaftPlanOptions plan;
    int max_nodes;           /* unrolling limit per schedule; 0 = 1,000,000 */
} DaftTraceOptions;

typedef struct DaftTraceResult {
    DaftPlan **plans;        /* one per (compiled schedule, static actor set), in source order */
    int nplans;
    DaftPlanSkip *skips;     /* compiled schedules without a static actor set */
    int nskips;
    struct PlanArena *arena; /* internal */
} DaftTraceResult;

/* Finds every call of a compiled schedule whose actor arguments are known statically
 * (spawned in main, or in schedules main calls, with constant placements), traces the
 * schedule once per distinct actor set and plans it. Untraceable schedules are reported
 * to diags with their position and an explanatory note. Run only after daft_check
 * succeeded. Returns false when an error was reported. */
bool daft_trace_program(const DaftModule *mod, DaftDiagEngine *diags,
                        const DaftTraceOptions *opt, DaftTraceResult *out);
void daft_trace_result_free(DaftTraceResult *res);

/* Traces one compiled schedule for a given actor binding: actor_args[i] lists the actors
 * bound to parameter i (one for an actor parameter, n for a list of actors, none for a
 * value parameter). Used by the runtime to compile at run time. Returns the graph, or
 * NULL after reporting to diags. */
DaftGraph *daft_trace_schedule(const DaftModule *mod, const DaftNode *schedule,
                               const DaftGraphActor *const *actor_args, const int *nactor_args,
                               DaftDiagEngine *diags, int max_nodes);

#endif /* DAFT_PLAN_H */
