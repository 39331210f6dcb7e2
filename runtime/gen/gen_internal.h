/* Internals of libdaftgen shared by gen.c, gen_sched.c and gen_coll.c (not installed). */
#ifndef DAFT_GEN_INTERNAL_H
#define DAFT_GEN_INTERNAL_H

#include <daft/gen.h>
#include <daft/lang.h>

/* A map from nonzero u64 ids to fixed-size records whose first field is the uint64_t id
 * (gen_idmap.c). Zero-initialise it with the record size: {NULL, 0, 0, sizeof(Rec)}. */
typedef struct GenIdMap {
    void *slots;
    size_t cap, len, size;
} GenIdMap;
void *gen_idmap_find(const GenIdMap *m, uint64_t id);
void *gen_idmap_put(GenIdMap *m, uint64_t id); /* the record of id, a new zeroed one if none */
void gen_idmap_del(GenIdMap *m, void *rec);    /* rec: a pointer from find or put */
void gen_idmap_free(GenIdMap *m);

/* All mutable state of libdaftgen, in one object (house rule: no global mutable state beyond
 * one context object). Defined in gen.c; each field belongs to the file named above it. The
 * name carries the daft_gen_ prefix because this archive is linked into programs that also
 * link user C kernels, whose globals must not collide with ours. */
typedef struct DaftGenCtx {
    /* gen.c */
    DaftRt *rt;
    const DaftGenProgram *prog;
    int *class_ids;
    int *actor_class;             /* class index of each spawned actor (by handle), for "Class#n" */
    int *actor_gpu, *actor_node;  /* spawn placement requests (-1: any) */
    size_t nactor_class;
    bool hosted;                  /* another driver's (daft_gen_host), described by host */
    DaftGenHost host;
    GenIdMap refs;                /* RefInfo: what each Ref the driver created stands for */
    GenIdMap counts;              /* RefCount: Refs held by more than one value of driver code */
    char *line;                   /* the line being printed, written at once by print_end */
    size_t line_len, line_cap;
    int raised;
    char raise_msg[1024];
    int in_fatal;                 /* daft_gen_fatal entries: only the first shuts down plans */
    char *crash_stack;            /* the driver's signal stack (gen_crash_setup) */

    /* gen_sched.c */
    struct GenLoaded *loaded;
    struct GenSched *scheds;
    int log;                      /* -1: not read from the environment yet */
    DaftSourceSet ss;             /* the program's module, parsed and checked once for */
    DaftDiagEngine diags;         /* run-time planning */
    DaftArena *arena;
    DaftModule mod;
    int mod_state;                /* 0 not tried, 1 ok, -1 failed */
    GenIdMap handles;             /* Handle: plan handles by id */
    uint64_t next_handle;
    uint64_t looks;               /* gen_handles_look calls (each plan is asked once a look) */

    /* gen_coll.c */
    struct Comm *comms;
    int ncomms, capcomms;
} DaftGenCtx;

extern DaftGenCtx daft_gen_ctx;

/* gen.c */
const DaftGenProgram *gen_prog(void);
int gen_actor_class(DaftActor a);            /* class index in the program, or -1 */
DaftActor gen_actor_limit(void);             /* every spawned handle is below it */
void gen_actor_request(DaftActor a, int *gpu, int *node); /* spawn placement requests */
const char *gen_actor_name(DaftActor a, char *buf, size_t cap); /* "Class#n" */
int gen_coll_method_of(DaftActor a);         /* index of a's hidden "collective" method, or -1 */

/* gen_sched.c: plan handles (DAFT_V_REF with owner DAFT_GEN_PLAN_OWNER) */
static inline bool gen_is_handle(const DaftValue *v)
{
    return v->kind == DAFT_V_REF && v->as.ref.owner == DAFT_GEN_PLAN_OWNER &&
           (v->as.ref.id & DAFT_GEN_HANDLE_BIT);
}
/* The value (or error value) of a handle: 0, DAFT_ETIMEDOUT, or DAFT_EINVAL (released). An
 * interrupt ends the program (gen_interrupted: op, NULL for none, names the wait). */
int gen_handle_get(const DaftValue *v, double timeout_s, DaftValue *out, bool take, const char *op);
/* Is v a Ref held by no other value of driver code (its result may be moved out)? */
bool gen_ref_unshared(const DaftValue *v);
/* 1 when the handle's execution has been received (get would not block), else 0. */
int gen_handle_ready(const DaftValue *v);
/* The same, waiting up to timeout_s for it: 1, 0, or DAFT_EINTR (interrupted). */
int gen_handle_wait(const DaftValue *v, double timeout_s);
/* One look at the compiled schedules' results among items[0..len) (the others are skipped):
 * ready[i] is set for each whose execution is received (each plan asked once, without
 * waiting); *pending counts those not. Returns the index of the first received one that
 * holds an error (or was released: its get says so), len if none. Nothing is observed. */
size_t gen_handles_look(const DaftValue *const *items, size_t len, uint8_t *ready, size_t *pending);
/* The actor that produced the handle's value (the writer of its output channel), or 0. */
DaftActor gen_handle_producer(const DaftValue *v);
/* The compiled schedule whose execution gives the handle's value ("?" when released). */
const char *gen_handle_schedule(const DaftValue *v);
void gen_handle_release(const DaftValue *v);
/* Copies of args with every plan handle replaced by its value (fatal on error). */
DaftValue *gen_resolve_handles(const DaftValue *args, int nargs);
/* SPEC 15.7: the driver's first Ctrl-C (daft_rt_interrupt) seen by a wait of driver
 * operation op (NULL: at a runtime call) for v (NULL: none named): the program ends as an
 * error in driver code does, "interrupted (Ctrl-C) ...", its actors stopping at once, and
 * the process dies of SIGINT. */
void gen_interrupted(const char *op, const DaftValue *v) __attribute__((noreturn));
/* The check at the runtime calls of driver code that do not wait (calls, spawns). */
static inline void gen_check_interrupt(void)
{
    if (daft_rt_interrupted())
        gen_interrupted(NULL, NULL);
}
void gen_sched_shutdown(void);

/* gen_coll.c */
int gen_coll_method(DaftActorCtx *ctx, void *state, const DaftValue *args, int nargs, DaftValue *out);
void gen_coll_shutdown(void);

#endif
