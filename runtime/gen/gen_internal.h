/* Internals of libdaftgen shared by gen.c, gen_sched.c and gen_coll.c (not installed). */
#ifndef DAFT_GEN_INTERNAL_H
#define DAFT_GEN_INTERNAL_H

#include <daft/gen.h>

/* gen.c */
const DaftGenProgram *gen_prog(void);
int gen_actor_class(DaftActor a);            /* class index in the program, or -1 */
DaftActor gen_actor_limit(void);             /* every spawned handle is below it */
void gen_actor_request(DaftActor a, int *gpu, int *node); /* spawn placement requests */
const char *gen_actor_name(DaftActor a, char *buf, size_t cap); /* "Class#n" */
int gen_coll_method_index(int class_index);  /* the hidden "collective" method */

/* gen_sched.c: plan handles (DAFT_V_REF with owner DAFT_GEN_PLAN_OWNER) */
static inline bool gen_is_handle(const DaftValue *v)
{
    return v->kind == DAFT_V_REF && v->as.ref.owner == DAFT_GEN_PLAN_OWNER &&
           (v->as.ref.id & DAFT_GEN_HANDLE_BIT);
}
/* The value (or error value) of a handle: 0, DAFT_ETIMEDOUT, or DAFT_EINVAL (released). */
int gen_handle_get(const DaftValue *v, double timeout_s, DaftValue *out);
/* 1 when the handle's execution has been received (get would not block), else 0. */
int gen_handle_ready(const DaftValue *v);
/* The actor that produced the handle's value (the writer of its output channel), or 0. */
DaftActor gen_handle_producer(const DaftValue *v);
void gen_handle_release(const DaftValue *v);
/* Copies of args with every plan handle replaced by its value (fatal on error). */
DaftValue *gen_resolve_handles(const DaftValue *args, int nargs);
void gen_sched_shutdown(void);

/* gen_coll.c */
int gen_coll_method(DaftActorCtx *ctx, void *state, const DaftValue *args, int nargs, DaftValue *out);
bool gen_comm_destroyed(const DaftValue *comm, int *id);
void gen_coll_shutdown(void);

#endif
