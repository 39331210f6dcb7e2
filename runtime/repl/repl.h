/* runtime/repl/repl.h — the daft-repl engine (internal to the daft-repl executable).
 *
 * Design (SPEC.md §18.5 is the user-facing contract):
 *  - Actor code is native. Loading FILE.daft runs the same front end and codegen as daftc
 *    (compiler/codegen.c with CgOptions.library) and links the object, with the user's
 *    kernels, into a shared object (compiler/link.c link_shared) that is dlopen'ed into
 *    the REPL process. Its exported `daft_lib_program` descriptor lists the actor classes;
 *    they are registered with the runtime, so `spawn` (which forks the REPL process) gives
 *    actor processes that run the compiled method wrappers. The REPL executable exports
 *    libdaftgen, libdaftstd and libdaftrt (-rdynamic, whole archives) for the object.
 *  - Driver code typed at the prompt is interpreted. Each input is wrapped as the body of a
 *    plain schedule `__repl(x: T, ...)` whose parameters are the session's bindings (their
 *    types spelled as source), parsed and checked together with the loaded file (a fresh
 *    arena per input, so a failed input leaves nothing behind), and evaluated by an AST
 *    interpreter (repl_eval.c) over DaftValues that calls the daftrt driver API. Top-level
 *    `let`s of the input become bindings. Plain functions and plain schedules of the file
 *    are interpreted too; std.tensor calls go through daft_std_lookup.
 *  - Compiled schedules (repl_sched.c) are traced for the concrete actors with
 *    daft_trace_schedule, planned with daft_plan_build (the planner daftc uses), loaded with
 *    daft_rt_plan_load and executed by the runtime's compiled executor. Plans are cached per
 *    (schedule, actor handles, list lengths, load generation); a plan whose actor died is
 *    dropped and the next call plans again. At most DAFT_LOADED_PLANS stay loaded: past it
 *    the runtime names the least recently used one with nothing in flight (daft_rt_plan_lru,
 *    as in daftc's programs), which is unloaded and kept, and loaded again by its next call.
 *    Outputs are REPL Refs (ids with the top bit set) resolved through daft_rt_plan_result.
 *  - Errors never end the session: compile errors are printed by the diagnostics engine,
 *    run-time errors as "daft: error: <text>" + "  at <repl>:LINE:COL" (SPEC §14.4).
 */
#ifndef DAFT_REPL_H
#define DAFT_REPL_H

#include <daft/lang.h>
#include <daft/plan.h>
#include <daft/std.h>
#include <daftrt.h>

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#define REPL_PLAN_REF_BIT (1ULL << 63) /* Ref ids of compiled-schedule outputs */

typedef struct ReplActor {
    DaftActor h;
    int class_id;          /* runtime class id */
    char *cls;             /* class name */
    char *name;            /* "Worker#1" */
    int gpus;              /* the class's gpus resource */
    int coll_method;       /* index of the hidden collective method (daft_gen_register_class) */
    int node, gpu;         /* requested placement, -1 = default */
    bool on_cpu;
    bool killed;           /* by :kill */
} ReplActor;

struct ReplPlan;

typedef struct ReplRef {
    uint64_t id;
    DaftActor owner;       /* 0 for plan outputs */
    char *producer;        /* "Worker#1.step", "chain#2.result" */
    char *type;            /* "Ref<i64>" */
    struct ReplPlan *plan; /* plan output: its plan, execution and output index */
    int64_t exec;
    int out;
    bool released;         /* no binding holds it any more (kept until ready) */
    bool has_local;        /* a REPL-local value (a dependency's error, a failed plan) */
    bool observed;         /* plan output: got or passed on (its error is not reported) */
    DaftValue local;
} ReplRef;

/* A loaded class: name -> runtime class id. */
typedef struct ReplClass {
    char *name;
    int class_id;
    int gpus;
    char **methods;        /* for completion */
    int nmethods;
} ReplClass;

typedef struct ReplBinding {
    char *name;
    char *type;            /* as source, e.g. "[Worker]" */
    DaftValue val;
    /* the input whose `let` made it, and its name there (line/col counted from that
     * input's first line): "declared here" notes point at it, not at the REPL's wrapper */
    char *origin;
    DaftSpan origin_span;
} ReplBinding;

void repl_binding_free(ReplBinding *b);

/* One loaded plan (compiled schedule for one actor set). */
typedef struct ReplPlan {
    char *schedule;
    char *key;             /* schedule + actor handles + list lengths + generation */
    DaftPlan *plan;
    DaftRtPlan *rt;
    DaftActor *actors;     /* plan->actors[i] is played by actors[i] */
    int nactors;
    int generation;
    int64_t submitted, returned;
    DaftValue *results;    /* returned × plan->noutputs values */
    int64_t results_cap;   /* in executions */
    bool dropped;
    bool retired;          /* failed on an actor: no new calls; unloaded once all returned */
    bool unloaded;         /* to stay within DAFT_LOADED_PLANS (rt NULL): the next call loads it
                            * again; its results stay for its Refs */
    int64_t base;          /* executions of its earlier loads: the runtime numbers from here */
    struct ReplPlan *next;
} ReplPlan;

typedef struct Repl {
    DaftRt *rt;
    FILE *out;             /* stdout */
    bool tty, echo;

    /* the loaded file */
    char *path;            /* as given */
    char *text;            /* its bytes */
    size_t text_len;
    int generation;        /* ++ at every successful load */
    void *dl;              /* the current shared object (older ones stay open) */
    char tmpdir[256];
    int nloads;
    ReplClass *classes;
    int nclasses;
    char **decl_names;     /* top-level names of the file, for completion */
    int ndecl_names;
    char **import_alias, **import_module;
    int nimports;

    ReplActor **actors;    /* indexed by handle */
    int nactors_cap;

    ReplRef *refs;
    int nrefs, refs_cap;
    uint64_t next_plan_ref;

    ReplBinding *binds;
    int nbinds;

    ReplPlan *plans;

    /* tracing (:trace on FILE) */
    FILE *trace;
    double trace_t0;

    int input_no;          /* inputs read so far */
} Repl;

extern volatile sig_atomic_t repl_interrupted;

/* repl_main.c */
int repl_main(int argc, char **argv);
/* The main thread's stack that the interpreter's nested calls may use (repl_eval.c): repl_main
 * raises the stack's soft limit to it where the hard limit allows. */
#define REPL_STACK_WANTED ((size_t)64 << 20)
void repl_raise_stack_limit(void);

/* repl_load.c */
bool repl_load(Repl *R, const char *path);
const ReplClass *repl_class(Repl *R, const char *name);

/* repl_eval.c: runs one input (statements). Returns false after an error was printed. */
bool repl_eval_input(Repl *R, const char *text, size_t len);
/* The display form of a value (print's form; actors by name, Refs with their state). NUL-terminated;
   a str may hold NUL bytes itself, so *len (when given) is the form's length in bytes. */
char *repl_format(Repl *R, const DaftValue *v, bool top, size_t *len);

/* repl_refs.c */
void repl_ref_note(Repl *R, DaftRef r, const char *producer, const char *type, ReplPlan *plan,
                   int64_t exec, int out);
ReplRef *repl_ref_find(Repl *R, uint64_t id);
/* A REPL-local Ref (id with REPL_PLAN_REF_BIT, no plan) gets its value (moved in). */
void repl_ref_set_local(Repl *R, uint64_t id, DaftValue *v);
/* Waits for a Ref (runtime or plan output); Ctrl-C aborts the wait. timeout < 0: none.
 * Returns 0 and the value (or an error value) in *out, DAFT_ETIMEDOUT, or -100 when
 * interrupted, DAFT_EINVAL for an unknown Ref. */
int repl_ref_get(Repl *R, DaftRef r, double timeout_s, DaftValue *out);
/* repl_ref_get for driver operation op (get, is_error, error_text), which names it when the
 * wait lasts (SPEC 14.3). */
int repl_ref_get_for(Repl *R, DaftRef r, double timeout_s, const char *op, DaftValue *out);
/* A wait in slices that began at t0 reports now (DAFT_WAIT_REPORT, then every twice that):
 * the seconds it has waited (nominal), or 0 when it does not; *report_at (0 at first) keeps
 * the time of its next report. */
double repl_wait_report_due(Repl *R, double t0, double *report_at);
/* 1 ready, 0 pending (no waiting). */
int repl_ref_ready(Repl *R, DaftRef r);
/* A session's own Ref (a compiled schedule's result): 1 when it is ready and holds an error
 * (or is unknown), else 0. No waiting, nothing observed. */
int repl_ref_failed(Repl *R, DaftRef r);
void repl_refs_collect(Repl *R);  /* release Refs no binding holds (once ready) */
void repl_refs_report_end(Repl *R); /* session end: unobserved errors in plan result Refs */
/* the same, inside a loop: Refs made since index `since` that no binding or slot holds */
void repl_refs_collect_loop(Repl *R, int since, int *next, const DaftValue *slots, int nslots);
const char *repl_ref_state(Repl *R, const ReplRef *rf, char *buf, size_t cap);

/* repl_sched.c */
int repl_call_compiled(Repl *R, const DaftModule *mod, DaftDiagEngine *diags, const DaftNode *sched,
                       const DaftValue *args, int nargs, const DaftType *ret_ty,
                       DaftValue *out, char *err, size_t errcap);
ReplPlan *repl_plan_for(Repl *R, const DaftModule *mod, DaftDiagEngine *diags, const DaftNode *sched,
                        const DaftValue *args, int nargs, char *err, size_t errcap);
void repl_plans_check(Repl *R);  /* drops plans whose actors died */
DaftActor repl_plan_output_actor(const ReplPlan *p, int out); /* writer of output `out`, or 0 */
int repl_plan_output(Repl *R, ReplPlan *p, int64_t exec, int out, double timeout_s,
                     DaftValue *val);
void repl_plans_free(Repl *R);

bool repl_plan_command(Repl *R, const char *name, FILE *out, DaftPlanFormat fmt);

/* repl_coll.c: std.collective through libdaftgen */
void repl_coll_setup(Repl *R);                 /* once the runtime exists */
DaftStdFnPtr repl_coll_fn(const char *symbol); /* daft_std_collective_*, or NULL */
/* Waits for the REPL's own Refs among a collective's inputs (plan outputs): false when
 * Ctrl-C interrupted it (the collective is then not submitted). */
bool repl_coll_wait_inputs(Repl *R, const DaftValue *args, int nargs);
/* Notes the Refs of a collective's result list (producer "Worker#1.FN", type as given). */
void repl_coll_note(Repl *R, const DaftValue *result, const char *fn, const char *type);

/* repl_cmd.c */
bool repl_command(Repl *R, const char *line); /* false: :quit */
void repl_trace_event(Repl *R, const char *name, const char *cat, double t0, double t1);
void repl_trace_close(Repl *R);
double repl_now(void);

/* repl_input.c */
typedef struct ReplInput ReplInput;
ReplInput *repl_input_new(Repl *R, const char *argv0);
/* The next complete input (statement(s) or :command), malloc'd; NULL at end of input. */
char *repl_input_read(ReplInput *in);
void repl_input_free(ReplInput *in);
/* True when `text` is complete (balanced brackets and ends with ';' or '}'). */
bool repl_input_complete(const char *text);
/* The innermost bracket the text leaves open (1-based line and byte column, and which one),
 * strings and comments skipped; false when all are closed. */
bool repl_innermost_open(const char *text, int *line, int *col, char *opener);
/* Where the code of `text` ends: just past its last byte that is not space or comment (0
 * when it is all space and comments); *open_string when a string literal is unterminated. */
size_t repl_code_end(const char *text, bool *open_string);

/* small helpers (repl_main.c) */
char *repl_strdup(const char *s);
char *repl_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
ReplActor *repl_actor(Repl *R, DaftActor h);
void repl_flush(void);

#endif /* DAFT_REPL_H */
