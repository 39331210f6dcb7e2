/* See plan_sim.h. Every wait has a deadline, so a deadlocked plan fails the test with a
 * message instead of hanging it. */
#include "plan_sim.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static uint64_t mix(uint64_t h, uint64_t x) {
    h ^= x + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2);
    h *= 0xbf58476d1ce4e5b9ULL;
    return h ^ (h >> 31);
}

static uint64_t str_hash(const char *s) {
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

int64_t sim_method(int actor, const char *method, int64_t calls, const int64_t *args, int nargs) {
    uint64_t h = mix(mix((uint64_t)actor, str_hash(method)), (uint64_t)calls);
    for (int i = 0; i < nargs; i++)
        h = mix(h, (uint64_t)args[i]);
    return (int64_t)h;
}

int64_t sim_input(int exec, int input) { return (int64_t)mix((uint64_t)exec + 1000, (uint64_t)input); }

int64_t sim_collective(DaftCollKind kind, DaftReduceOp reduce, int root, const int64_t *in, int n,
                       int member) {
    uint64_t acc = (uint64_t)reduce;
    switch (kind) {
    case DAFT_COLL_ALLREDUCE:
        for (int i = 0; i < n; i++)
            acc += (uint64_t)in[i];
        return (int64_t)acc;
    case DAFT_COLL_ALLGATHER:
        for (int i = 0; i < n; i++)
            acc = mix(acc, (uint64_t)in[i]);
        return (int64_t)acc;
    case DAFT_COLL_REDUCESCATTER:
        for (int i = 0; i < n; i++)
            acc += (uint64_t)in[i];
        return (int64_t)mix(acc, (uint64_t)member);
    default:
        return in[root];
    }
}

static int64_t const_value(const DaftConst *k) {
    return k->kind == DAFT_CONST_STR ? (int64_t)str_hash(k->s) : k->kind == DAFT_CONST_F64 ? (int64_t)k->f : k->i;
}

void sim_eval_graph(const DaftGraph *g, int nexec, int64_t *out) {
    int64_t *val = calloc((size_t)g->nvalues + 1, sizeof(int64_t));
    int64_t *calls = calloc((size_t)g->nactors + 1, sizeof(int64_t));
    int64_t args[64];
    int k = 0;
    for (int e = 0; e < nexec; e++) {
        int input = 0;
        for (int i = 0; i < g->nnodes; i++) {
            const DaftGraphNode *n = &g->nodes[i];
            for (int a = 0; a < n->nargs; a++)
                args[a] = n->args[a].value >= 0 ? val[n->args[a].value] : const_value(&n->args[a].konst);
            if (n->kind == DAFT_GN_INPUT)
                val[n->results[0]] = sim_input(e, input++);
            else if (n->kind == DAFT_GN_TASK)
                val[n->results[0]] = sim_method(n->actor, n->name, calls[n->actor]++, args, n->nargs);
            else if (n->kind == DAFT_GN_COLLECTIVE)
                for (int m = 0; m < n->nresults; m++)
                    val[n->results[m]] = sim_collective(n->coll, n->reduce, n->root, args, n->nargs, m);
            else
                out[k++] = args[0];
        }
    }
    free(val);
    free(calls);
}

/* ---------------------------------------------------------------- the machine */

typedef struct Queue {          /* one per (channel, reader) */
    int64_t *buf;
    int cap, head, len;
    int64_t taken;              /* values the reader has taken (NCCL rendezvous) */
    int64_t put;
    bool rendezvous;
} Queue;

typedef struct Barrier {        /* one per group */
    int n, arrived;
    int64_t gen;
    int64_t *in, *out;
    DaftCollKind kind;
    DaftReduceOp reduce;
    int root;
} Barrier;

typedef struct Sim {
    const DaftPlan *p;
    int nexec;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct timespec deadline;
    Queue *queues;
    int *pair_base;
    int npairs;
    Barrier *groups;
    int64_t *out;
    atomic_bool failed;
    char err[512];
} Sim;

static void sim_fail(Sim *S, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sim_fail(Sim *S, const char *fmt, ...) {
    if (!atomic_exchange(&S->failed, true)) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(S->err, sizeof S->err, fmt, ap);
        va_end(ap);
    }
    pthread_cond_broadcast(&S->cv);
}

/* Waits on the shared condition; false once the simulation failed or timed out. Called
 * with mu held. */
static bool sim_wait(Sim *S, const char *who) {
    if (atomic_load(&S->failed))
        return false;
    if (pthread_cond_timedwait(&S->cv, &S->mu, &S->deadline) == ETIMEDOUT) {
        sim_fail(S, "timeout (deadlock?) while %s waits", who);
        return false;
    }
    return !atomic_load(&S->failed);
}

static int reader_index(const DaftPlanChannel *ch, int actor) {
    for (int r = 0; r < ch->nreaders; r++)
        if (ch->readers[r] == actor)
            return r;
    return -1;
}

static bool q_push(Sim *S, int c, int r, int64_t v, const char *who) {
    Queue *q = &S->queues[S->pair_base[c] + r];
    while (q->len == q->cap)
        if (!sim_wait(S, who))
            return false;
    q->buf[(q->head + q->len++) % q->cap] = v;
    int64_t me = ++q->put;
    pthread_cond_broadcast(&S->cv);
    while (q->rendezvous && q->taken < me)
        if (!sim_wait(S, who))
            return false;
    return true;
}

static bool q_pop(Sim *S, int c, int r, int64_t *v, const char *who) {
    Queue *q = &S->queues[S->pair_base[c] + r];
    while (q->len == 0)
        if (!sim_wait(S, who))
            return false;
    *v = q->buf[q->head];
    q->head = (q->head + 1) % q->cap;
    q->len--;
    q->taken++;
    pthread_cond_broadcast(&S->cv);
    return true;
}

static bool barrier_run(Sim *S, int g, int member, const DaftPlanOp *op, int64_t in, int64_t *out,
                        const char *who) {
    Barrier *b = &S->groups[g];
    DaftCollKind kind = op->coll;
    if (b->arrived == 0) {
        b->kind = kind;
        b->reduce = op->reduce;
        b->root = op->root;
    } else if (b->kind != kind || b->reduce != op->reduce || b->root != op->root) {
        sim_fail(S, "%s: collective %s meets %s on group g%d", who, daft_coll_name(kind), daft_coll_name(b->kind), g);
        return false;
    }
    b->in[member] = in;
    int64_t gen = b->gen;
    if (++b->arrived == b->n) {
        for (int m = 0; m < b->n; m++)
            b->out[m] = sim_collective(kind, b->reduce, b->root, b->in, b->n, m);
        b->arrived = 0;
        b->gen++;
        pthread_cond_broadcast(&S->cv);
    }
    while (b->gen == gen)
        if (!sim_wait(S, who))
            return false;
    *out = b->out[member];
    return true;
}

typedef struct Worker {
    Sim *S;
    int actor;
} Worker;

static int group_rank(const DaftPlanGroup *g, int actor) {
    for (int m = 0; m < g->nmembers; m++)
        if (g->members[m] == actor)
            return m;
    return -1;
}

static bool run_op(Sim *S, int a, const DaftPlanOp *op, int64_t *slots, int64_t *calls) {
    const DaftPlan *p = S->p;
    const char *who = p->actors[a].name;
    const DaftPlanChannel *ch = op->channel >= 0 ? &p->channels[op->channel] : NULL;
    int64_t args[64];
    switch (op->kind) {
    case DAFT_OP_READ:
        return q_pop(S, op->channel, reader_index(ch, a), &slots[op->dst], who);
    case DAFT_OP_WRITE:
        if (op->reader >= 0)
            return q_push(S, op->channel, op->reader, slots[op->src], who);
        for (int r = 0; r < ch->nreaders; r++)
            if (!q_push(S, op->channel, r, slots[op->src], who))
                return false;
        return true;
    case DAFT_OP_CALL:
        for (int i = 0; i < op->nargs; i++)
            args[i] = op->args[i].slot >= 0 ? slots[op->args[i].slot] : const_value(&op->args[i].konst);
        int64_t r = sim_method(a, op->method, (*calls)++, args, op->nargs);
        if (op->dst >= 0)
            slots[op->dst] = r;
        return true;
    case DAFT_OP_COLLECTIVE:
        return barrier_run(S, op->group, group_rank(&p->groups[op->group], a), op,
                           slots[op->src], &slots[op->dst], who);
    default:
        slots[op->src] = 0x5eadbeef;   /* poison: a use after FREE shows up as a wrong result */
        return true;
    }
}

static void *actor_main(void *arg) {
    Worker *w = arg;
    Sim *S = w->S;
    const DaftPlanActor *pa = &S->p->actors[w->actor];
    int64_t *slots = calloc((size_t)pa->nslots + 1, sizeof(int64_t));
    int64_t calls = 0;
    pthread_mutex_lock(&S->mu);
    for (int e = 0; e < S->nexec; e++)
        for (int i = 0; i < pa->nops; i++)
            if (!run_op(S, w->actor, &pa->ops[i], slots, &calls))
                goto out;
out:
    pthread_mutex_unlock(&S->mu);
    free(slots);
    return NULL;
}

/* The driver's writer half: inputs of every execution, as fast as channels allow, so that
 * several executions are in flight. */
static void *driver_inputs(void *arg) {
    Sim *S = arg;
    const DaftPlan *p = S->p;
    pthread_mutex_lock(&S->mu);
    for (int e = 0; e < S->nexec; e++)
        for (int i = 0; i < p->ninputs; i++)
            for (int j = 0; j < p->inputs[i].nchannels; j++) {
                int c = p->inputs[i].channels[j];
                for (int r = 0; r < p->channels[c].nreaders; r++)
                    if (!q_push(S, c, r, sim_input(e, i), "driver"))
                        goto out;
            }
out:
    pthread_mutex_unlock(&S->mu);
    return NULL;
}

static void driver_outputs(Sim *S) {
    const DaftPlan *p = S->p;
    int64_t *got = calloc((size_t)p->nchannels + 1, sizeof(int64_t));
    char *have = calloc((size_t)p->nchannels + 1, 1);
    pthread_mutex_lock(&S->mu);
    for (int e = 0; e < S->nexec; e++) {
        memset(have, 0, (size_t)p->nchannels + 1);
        for (int k = 0; k < p->noutputs; k++) {
            const DaftPlanOutput *o = &p->outputs[k];
            int64_t v;
            if (o->channel < 0) {
                v = sim_input(e, o->input);
            } else if (have[o->channel]) {
                v = got[o->channel];
            } else {
                int r = reader_index(&p->channels[o->channel], DAFT_PLAN_DRIVER);
                if (!q_pop(S, o->channel, r, &v, "driver"))
                    goto out;
                have[o->channel] = 1;
                got[o->channel] = v;
            }
            S->out[e * p->noutputs + k] = v;
        }
    }
out:
    pthread_mutex_unlock(&S->mu);
    free(got);
    free(have);
}

static void sim_setup(Sim *S, const DaftPlan *p, int nexec, double timeout_s, int64_t *out) {
    memset(S, 0, sizeof *S);
    S->p = p;
    S->nexec = nexec;
    S->out = out;
    pthread_mutex_init(&S->mu, NULL);
    pthread_cond_init(&S->cv, NULL);
    clock_gettime(CLOCK_REALTIME, &S->deadline);
    S->deadline.tv_sec += (time_t)timeout_s;
    S->pair_base = calloc((size_t)p->nchannels + 1, sizeof(int));
    int n = 0;
    for (int c = 0; c < p->nchannels; c++) {
        S->pair_base[c] = n;
        n += p->channels[c].nreaders;
    }
    S->npairs = n;
    S->queues = calloc((size_t)n + 1, sizeof(Queue));
    for (int c = 0; c < p->nchannels; c++)
        for (int r = 0; r < p->channels[c].nreaders; r++) {
            Queue *q = &S->queues[S->pair_base[c] + r];
            q->rendezvous = p->channels[c].transport == DAFT_TRANSPORT_NCCL;
            q->cap = q->rendezvous ? 1 : p->channels[c].capacity;
            q->buf = calloc((size_t)q->cap, sizeof(int64_t));
        }
    S->groups = calloc((size_t)p->ngroups + 1, sizeof(Barrier));
    for (int g = 0; g < p->ngroups; g++) {
        S->groups[g].n = p->groups[g].nmembers;
        S->groups[g].in = calloc((size_t)S->groups[g].n, sizeof(int64_t));
        S->groups[g].out = calloc((size_t)S->groups[g].n, sizeof(int64_t));
    }
}

static void sim_teardown(Sim *S) {
    for (int i = 0; i < S->npairs; i++)
        free(S->queues[i].buf);
    for (int g = 0; g < S->p->ngroups; g++)
        free(S->groups[g].in), free(S->groups[g].out);
    free(S->queues), free(S->pair_base), free(S->groups);
    pthread_mutex_destroy(&S->mu);
    pthread_cond_destroy(&S->cv);
}

int sim_run_plan(const DaftPlan *p, int nexec, double timeout_s, int64_t *out, char *err, size_t cap) {
    Sim S;
    sim_setup(&S, p, nexec, timeout_s, out);
    pthread_t *th = calloc((size_t)p->nactors + 1, sizeof(pthread_t));
    Worker *w = calloc((size_t)p->nactors + 1, sizeof(Worker));
    pthread_t in_th;
    pthread_create(&in_th, NULL, driver_inputs, &S);
    for (int a = 0; a < p->nactors; a++) {
        w[a] = (Worker){&S, a};
        pthread_create(&th[a], NULL, actor_main, &w[a]);
    }
    driver_outputs(&S);
    pthread_join(in_th, NULL);
    for (int a = 0; a < p->nactors; a++)
        pthread_join(th[a], NULL);
    int rc = atomic_load(&S.failed) ? -1 : 0;
    if (rc)
        snprintf(err, cap, "%s", S.err);
    sim_teardown(&S);
    free(th);
    free(w);
    return rc;
}
