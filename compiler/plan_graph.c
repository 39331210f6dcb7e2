/* DaftGraph: the dataflow graph of one compiled schedule for one actor set. Builders check
 * their arguments so that every graph the planner sees is well formed: arguments exist
 * before their users (node order is topological), actors and members are valid. */
#include "plan_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

DaftGraph *daft_graph_new(const char *name) {
    DaftGraph *g = plan_xcalloc(1, sizeof(DaftGraph));
    g->arena = plan_arena_new();
    g->name = plan_strdup(g->arena, name ? name : "schedule");
    return g;
}

void daft_graph_free(DaftGraph *g) {
    if (!g)
        return;
    plan_arena_free(g->arena);
    free(g);
}

const char *daft_graph_strdup(DaftGraph *g, const char *s) { return plan_strdup(g->arena, s); }

/* Records the first builder error only: later ones are usually consequences. */
static int graph_fail(DaftGraph *g, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int graph_fail(DaftGraph *g, const char *fmt, ...) {
    if (!g->error[0]) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(g->error, sizeof g->error, fmt, ap);
        va_end(ap);
    }
    return -1;
}

int daft_graph_add_actor(DaftGraph *g, const char *name, const char *cls, int gpus, int node,
                         int gpu) {
    if (gpus < 0)
        return graph_fail(g, "actor '%s': negative gpus", name ? name : "?");
    DaftGraphActor *a = PLAN_PUSH(g->arena, g->actors, g->nactors, g->cap_actors);
    a->name = name ? plan_strdup(g->arena, name) : plan_printf(g->arena, "actor%d", g->nactors - 1);
    a->cls = plan_strdup(g->arena, cls ? cls : "Actor");
    a->gpus = gpus;
    a->node = node;
    a->gpu = gpu;
    return g->nactors - 1;
}

static DaftGraphNode *graph_node(DaftGraph *g, DaftGraphNodeKind kind) {
    DaftGraphNode *n = PLAN_PUSH(g->arena, g->nodes, g->nnodes, g->cap_nodes);
    n->kind = kind;
    n->actor = DAFT_PLAN_DRIVER;
    n->group = -1;
    n->span = daft_span_none();
    return n;
}

static int graph_value(DaftGraph *g, int producer, int actor, DaftPayload payload,
                       DaftCommHint hint) {
    DaftGraphValue *v = PLAN_PUSH(g->arena, g->values, g->nvalues, g->cap_values);
    v->producer = producer;
    v->actor = actor;
    v->payload = payload;
    v->hint = hint;
    v->hint.custom = plan_strdup(g->arena, hint.custom);
    return g->nvalues - 1;
}

static int *graph_results(DaftGraph *g, DaftGraphNode *n, int count) {
    n->results = plan_alloc(g->arena, sizeof(int) * (size_t)(count ? count : 1));
    n->nresults = count;
    return n->results;
}

int daft_graph_add_input(DaftGraph *g, const char *name, DaftPayload payload) {
    DaftGraphNode *n = graph_node(g, DAFT_GN_INPUT);
    n->name = plan_strdup(g->arena, name ? name : "input");
    DaftCommHint auto_hint = {DAFT_COMM_AUTO, NULL, false};
    int id = g->nnodes - 1;
    int v = graph_value(g, id, DAFT_PLAN_DRIVER, payload, auto_hint);
    graph_results(g, &g->nodes[id], 1)[0] = v;
    return v;
}

static bool graph_check_args(DaftGraph *g, const DaftGraphArg *args, int nargs, const char *what) {
    for (int i = 0; i < nargs; i++) {
        int v = args[i].value;
        if (v < -1 || v >= g->nvalues) {
            graph_fail(g, "%s: argument %d names value %d, which does not exist yet", what, i, v);
            return false;
        }
    }
    return true;
}

static DaftGraphArg *graph_copy_args(DaftGraph *g, const DaftGraphArg *args, int nargs) {
    DaftGraphArg *copy = plan_alloc(g->arena, sizeof(DaftGraphArg) * (size_t)(nargs ? nargs : 1));
    for (int i = 0; i < nargs; i++) {
        copy[i] = args[i];
        copy[i].konst.s = plan_strdup(g->arena, args[i].konst.s);
    }
    return copy;
}

int daft_graph_add_task(DaftGraph *g, int actor, const char *method, const DaftGraphArg *args,
                        int nargs, DaftPayload result, DaftCommHint hint) {
    if (actor < 0 || actor >= g->nactors)
        return graph_fail(g, "task '%s': no actor %d", method ? method : "?", actor);
    if (!graph_check_args(g, args, nargs, method ? method : "task"))
        return -1;
    DaftGraphNode *n = graph_node(g, DAFT_GN_TASK);
    int id = g->nnodes - 1;
    n->name = plan_strdup(g->arena, method ? method : "call");
    n->actor = actor;
    n->args = graph_copy_args(g, args, nargs);
    n->nargs = nargs;
    int v = graph_value(g, id, actor, result, hint);
    graph_results(g, &g->nodes[id], 1)[0] = v;
    return v;
}

/* Groups are identified by their member list, so allreduce after allreduce over the same
 * actors shares one communicator. */
static int graph_group(DaftGraph *g, const int *members, int n) {
    for (int i = 0; i < g->ngroups; i++) {
        DaftGraphGroup *gr = &g->groups[i];
        if (gr->nmembers == n && memcmp(gr->members, members, sizeof(int) * (size_t)n) == 0)
            return i;
    }
    DaftGraphGroup *gr = PLAN_PUSH(g->arena, g->groups, g->ngroups, g->cap_groups);
    gr->members = plan_alloc(g->arena, sizeof(int) * (size_t)n);
    memcpy(gr->members, members, sizeof(int) * (size_t)n);
    gr->nmembers = n;
    return g->ngroups - 1;
}

/* Members must be distinct actors; a scratch mark per actor keeps this linear. */
static bool graph_check_members(DaftGraph *g, const int *members, int n) {
    if (n < 1) {
        graph_fail(g, "collective over no actors");
        return false;
    }
    unsigned char *seen = plan_xcalloc((size_t)g->nactors + 1, 1);
    bool ok = true;
    for (int i = 0; i < n && ok; i++) {
        if (members[i] < 0 || members[i] >= g->nactors) {
            ok = graph_fail(g, "collective member %d: no actor %d", i, members[i]) == 0;
        } else if (seen[members[i]]++) {
            ok = graph_fail(g, "collective: actor '%s' is a member twice", g->actors[members[i]].name) == 0;
        }
    }
    free(seen);
    return ok;
}

/* The result payload of member i: allgather multiplies and reducescatter divides the
 * first dimension when it is static. */
static DaftPayload coll_result_payload(DaftCollKind kind, DaftPayload in, int n) {
    if (in.kind != DAFT_PAY_TENSOR || in.rank < 1 || in.dims[0] == DAFT_DIM_DYNAMIC)
        return in;
    if (kind == DAFT_COLL_ALLGATHER)
        in.dims[0] *= n;
    else if (kind == DAFT_COLL_REDUCESCATTER)
        in.dims[0] = in.dims[0] % n == 0 ? in.dims[0] / n : DAFT_DIM_DYNAMIC;
    return in;
}

int daft_graph_add_collective(DaftGraph *g, DaftCollKind kind, DaftReduceOp reduce, int root,
                              const int *members, const int *values, int n, int *results) {
    if (root < 0 || root >= n)
        return graph_fail(g, "%s: root %d is not a rank of %d members", daft_coll_name(kind), root, n);
    if (!graph_check_members(g, members, n))
        return -1;
    DaftGraphArg *args = plan_alloc(g->arena, sizeof(DaftGraphArg) * (size_t)n);
    for (int i = 0; i < n; i++) {
        if (values[i] < 0 || values[i] >= g->nvalues)
            return graph_fail(g, "%s: input %d names value %d, which does not exist yet",
                              daft_coll_name(kind), i, values[i]);
        args[i].value = values[i];
    }
    int group = graph_group(g, members, n);
    DaftGraphNode *node = graph_node(g, DAFT_GN_COLLECTIVE);
    int id = g->nnodes - 1;
    node->name = daft_coll_name(kind);
    node->coll = kind;
    node->reduce = reduce;
    node->root = root;
    node->group = group;
    node->args = args;
    node->nargs = n;
    int *res = graph_results(g, node, n);
    DaftCommHint auto_hint = {DAFT_COMM_AUTO, NULL, false};
    for (int i = 0; i < n; i++) {
        DaftPayload p = coll_result_payload(kind, g->values[values[i]].payload, n);
        res[i] = graph_value(g, id, members[i], p, auto_hint);
        if (results)
            results[i] = res[i];
    }
    return res[0];
}

int daft_graph_add_output(DaftGraph *g, const char *name, int value) {
    if (value < 0 || value >= g->nvalues)
        return graph_fail(g, "output '%s': no value %d", name ? name : "?", value);
    DaftGraphNode *n = graph_node(g, DAFT_GN_OUTPUT);
    n->name = plan_strdup(g->arena, name ? name : "result");
    n->args = plan_alloc(g->arena, sizeof(DaftGraphArg));
    n->args[0].value = value;
    n->nargs = 1;
    return 0;
}
