/* A simulator for DaftPlans: one thread per actor, channels as bounded queues (NCCL
 * channels as rendezvous: the send returns only once the receive took the value),
 * collectives as reusable barriers, methods as arithmetic on i64. Used by the property
 * test to check that a plan computes exactly what the graph says. */
#ifndef PLAN_SIM_H
#define PLAN_SIM_H

#include <daft/plan.h>

/* The meaning of a method: a hash of the actor, the method name, the per-actor call count
 * (so CALL order on each actor is checked too) and the arguments. */
int64_t sim_method(int actor, const char *method, int64_t calls, const int64_t *args, int nargs);
int64_t sim_input(int exec, int input);
int64_t sim_collective(DaftCollKind kind, DaftReduceOp reduce, int root, const int64_t *in, int n,
                       int member);

/* Evaluates the graph directly for executions 0..nexec-1: out[exec * noutputs + k]. */
void sim_eval_graph(const DaftGraph *g, int nexec, int64_t *out);
/* Runs the plan for nexec executions; fills out like sim_eval_graph. Returns 0, or -1
 * with a message in err (deadlock/timeout after timeout_s, protocol violation). */
int sim_run_plan(const DaftPlan *p, int nexec, double timeout_s, int64_t *out, char *err, size_t cap);

#endif
