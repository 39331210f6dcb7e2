/* The plan verifier (docs/spec-plan.md "Verifier"). It trusts nothing in the plan: every
 * index is range-checked before use, so a hand-corrupted plan yields a message, never a
 * crash. Checks, in order: channels and groups are well formed; each actor program keeps
 * its slots consistent and its NCCL ops in increasing sequence; every (channel, reader)
 * pair is written once and read once, NCCL sends and receives agree on sequence numbers;
 * every group runs the same collectives in the same order on all members; and the
 * happens-before graph (NCCL transfers and collectives as rendezvous) has no cycle. */
#include "plan_internal.h"

#include <stdlib.h>
#include <string.h>

typedef struct Verifier {
    const DaftPlan *p;
    char *err;
    size_t cap;
    PlanMap reader_index;    /* (channel, actor + 1) -> reader index */
    PlanMap member_rank;     /* (group, actor) -> rank */
    int *pair_base;          /* channel -> first index of its (channel, reader) pairs */
    int npairs;
    int *reads, *writes;     /* per pair */
    int64_t *rseq, *wseq;    /* per pair: sequence numbers of the NCCL receive and send */
    int *rop, *wop;          /* per pair: global op index of the read and the write */
    int *op_base;            /* actor -> global index of its first op; [nactors] = driver */
    int nops;                /* actors' ops plus the driver's pseudo-ops */
} Verifier;

#define VFAIL(V, ...) plan_fail((V)->err, (V)->cap, __VA_ARGS__)

static const char *label(const Verifier *V, int actor) { return plan_actor_label(V->p, actor); }

static bool valid_actor(const DaftPlan *p, int a) { return a >= 0 && a < p->nactors; }
static bool valid_endpoint(const DaftPlan *p, int a) { return a == DAFT_PLAN_DRIVER || valid_actor(p, a); }

/* ---------------------------------------------------------------- structure */

static int check_channel(Verifier *V, int c) {
    const DaftPlanChannel *ch = &V->p->channels[c];
    if (!valid_endpoint(V->p, ch->writer))
        return VFAIL(V, "channel c%d: writer %d is not an actor", c, ch->writer);
    if (ch->nreaders < 1 || !ch->readers)
        return VFAIL(V, "channel c%d: no readers", c);
    if ((unsigned)ch->transport >= DAFT_TRANSPORT_COUNT || ch->transport == DAFT_TRANSPORT_LOCAL)
        return VFAIL(V, "channel c%d: transport %d cannot be a channel", c, (int)ch->transport);
    if (ch->capacity < 1)
        return VFAIL(V, "channel c%d: capacity %d (needs at least 1)", c, ch->capacity);
    if (ch->transport == DAFT_TRANSPORT_CUSTOM && !ch->custom)
        return VFAIL(V, "channel c%d: custom transport without a communicator name", c);
    bool nccl = ch->transport == DAFT_TRANSPORT_NCCL;
    if (nccl && (ch->writer == DAFT_PLAN_DRIVER || V->p->actors[ch->writer].place.gpu < 0))
        return VFAIL(V, "channel c%d: NCCL channel written by '%s', which has no GPU", c, label(V, ch->writer));
    for (int r = 0; r < ch->nreaders; r++) {
        int a = ch->readers[r];
        if (!valid_endpoint(V->p, a) || a == ch->writer)
            return VFAIL(V, "channel c%d: reader %d (%d) is not another actor", c, r, a);
        if (nccl && (a == DAFT_PLAN_DRIVER || V->p->actors[a].place.gpu < 0))
            return VFAIL(V, "channel c%d: NCCL channel read by '%s', which has no GPU", c, label(V, a));
        if (plan_map_get(&V->reader_index, plan_key2(c, a + 1), NULL))
            return VFAIL(V, "channel c%d: '%s' is a reader twice", c, label(V, a));
        plan_map_put(&V->reader_index, plan_key2(c, a + 1), r);
    }
    return 0;
}

static int check_groups(Verifier *V) {
    for (int g = 0; g < V->p->ngroups; g++) {
        const DaftPlanGroup *gr = &V->p->groups[g];
        if (gr->nmembers < 1 || !gr->members)
            return VFAIL(V, "group g%d: no members", g);
        for (int m = 0; m < gr->nmembers; m++) {
            if (!valid_actor(V->p, gr->members[m]))
                return VFAIL(V, "group g%d: member %d is not an actor", g, gr->members[m]);
            if (plan_map_get(&V->member_rank, plan_key2(g, gr->members[m]), NULL))
                return VFAIL(V, "group g%d: '%s' is a member twice", g, label(V, gr->members[m]));
            plan_map_put(&V->member_rank, plan_key2(g, gr->members[m]), m);
        }
    }
    return 0;
}

static int setup_pairs(Verifier *V) {
    const DaftPlan *p = V->p;
    V->pair_base = plan_xmalloc(sizeof(int) * (size_t)(p->nchannels + 1));
    for (int c = 0; c < p->nchannels; c++) {
        if (check_channel(V, c))
            return -1;
        V->pair_base[c] = V->npairs;
        V->npairs += p->channels[c].nreaders;
    }
    V->pair_base[p->nchannels] = V->npairs;
    size_t n = (size_t)(V->npairs ? V->npairs : 1);
    V->reads = plan_xcalloc(n, sizeof(int));
    V->writes = plan_xcalloc(n, sizeof(int));
    V->rseq = plan_xcalloc(n, sizeof(int64_t));
    V->wseq = plan_xcalloc(n, sizeof(int64_t));
    V->rop = plan_xcalloc(n, sizeof(int));
    V->wop = plan_xcalloc(n, sizeof(int));
    return 0;
}

/* ---------------------------------------------------------------- programs */

typedef struct Prog {
    int actor;
    const DaftPlanActor *pa;
    unsigned char *live;     /* per slot */
    int64_t last_seq;
} Prog;

#define OPFAIL(V, P, i, ...) op_fail((V), (P), (i), __VA_ARGS__)

static int op_fail(Verifier *V, const Prog *P, int i, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int op_fail(Verifier *V, const Prog *P, int i, const char *fmt, ...) {
    char why[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    return VFAIL(V, "actor '%s' op %d (%s): %s", P->pa->name, i,
                 daft_plan_op_name(P->pa->ops[i].kind), why);
}

static int use_slot(Verifier *V, Prog *P, int i, int slot, const char *what) {
    if (slot < 0 || slot >= P->pa->nslots)
        return OPFAIL(V, P, i, "%s slot %d out of range (%d slots)", what, slot, P->pa->nslots);
    if (!P->live[slot])
        return OPFAIL(V, P, i, "%s slot s%d is read before it is written", what, slot);
    return 0;
}

static int def_slot(Verifier *V, Prog *P, int i, int slot) {
    if (slot < 0 || slot >= P->pa->nslots)
        return OPFAIL(V, P, i, "destination slot %d out of range (%d slots)", slot, P->pa->nslots);
    if (P->live[slot])
        return OPFAIL(V, P, i, "destination slot s%d still holds a value that was not freed", slot);
    P->live[slot] = 1;
    return 0;
}

static int check_seq(Verifier *V, Prog *P, int i, bool nccl) {
    int64_t seq = P->pa->ops[i].seq;
    if (!nccl)
        return seq == -1 ? 0 : OPFAIL(V, P, i, "sequence number %lld on a non-NCCL op", (long long)seq);
    if (seq <= P->last_seq)
        return OPFAIL(V, P, i, "NCCL sequence %lld after %lld: NCCL ops out of global order",
                      (long long)seq, (long long)P->last_seq);
    P->last_seq = seq;
    return 0;
}

static int pair_of(const Verifier *V, int c, int actor) {
    int r;
    if (!plan_map_get(&V->reader_index, plan_key2(c, actor + 1), &r))
        return -1;
    return V->pair_base[c] + r;
}

static int op_read(Verifier *V, Prog *P, int i) {
    const DaftPlanOp *op = &P->pa->ops[i];
    if (op->channel < 0 || op->channel >= V->p->nchannels)
        return OPFAIL(V, P, i, "no channel c%d", op->channel);
    int pair = pair_of(V, op->channel, P->actor);
    if (pair < 0)
        return OPFAIL(V, P, i, "reads c%d but is not one of its readers", op->channel);
    V->reads[pair]++;
    V->rseq[pair] = op->seq;
    V->rop[pair] = V->op_base[P->actor] + i;
    if (check_seq(V, P, i, V->p->channels[op->channel].transport == DAFT_TRANSPORT_NCCL))
        return -1;
    return def_slot(V, P, i, op->dst);
}

static int op_write(Verifier *V, Prog *P, int i) {
    const DaftPlanOp *op = &P->pa->ops[i];
    if (op->channel < 0 || op->channel >= V->p->nchannels)
        return OPFAIL(V, P, i, "no channel c%d", op->channel);
    const DaftPlanChannel *ch = &V->p->channels[op->channel];
    if (ch->writer != P->actor)
        return OPFAIL(V, P, i, "writes c%d, whose writer is '%s'", op->channel, label(V, ch->writer));
    bool nccl = ch->transport == DAFT_TRANSPORT_NCCL;
    if (nccl != (op->reader >= 0) || op->reader >= ch->nreaders)
        return OPFAIL(V, P, i, "reader %d: NCCL writes name one reader, other writes all (-1)", op->reader);
    if (use_slot(V, P, i, op->src, "source") || check_seq(V, P, i, nccl))
        return -1;
    int lo = op->reader >= 0 ? op->reader : 0, hi = op->reader >= 0 ? op->reader + 1 : ch->nreaders;
    for (int r = lo; r < hi; r++) {
        int pair = V->pair_base[op->channel] + r;
        V->writes[pair]++;
        V->wseq[pair] = op->seq;
        V->wop[pair] = V->op_base[P->actor] + i;
    }
    return 0;
}

static int op_call(Verifier *V, Prog *P, int i) {
    const DaftPlanOp *op = &P->pa->ops[i];
    if (!op->method || (op->nargs > 0 && !op->args))
        return OPFAIL(V, P, i, "no method");
    for (int a = 0; a < op->nargs; a++)
        if (op->args[a].slot != -1 && use_slot(V, P, i, op->args[a].slot, "argument"))
            return -1;
    if (check_seq(V, P, i, false))
        return -1;
    return op->dst == -1 ? 0 : def_slot(V, P, i, op->dst);
}

static int op_collective(Verifier *V, Prog *P, int i) {
    const DaftPlanOp *op = &P->pa->ops[i];
    if (op->group < 0 || op->group >= V->p->ngroups)
        return OPFAIL(V, P, i, "no group g%d", op->group);
    if (!plan_map_get(&V->member_rank, plan_key2(op->group, P->actor), NULL))
        return OPFAIL(V, P, i, "'%s' is not a member of group g%d", P->pa->name, op->group);
    if ((unsigned)op->coll >= DAFT_COLL_COUNT)
        return OPFAIL(V, P, i, "unknown collective %d", (int)op->coll);
    if (use_slot(V, P, i, op->src, "source") || check_seq(V, P, i, true))
        return -1;
    return def_slot(V, P, i, op->dst);
}

static int op_free(Verifier *V, Prog *P, int i) {
    int s = P->pa->ops[i].src;
    if (s < 0 || s >= P->pa->nslots)
        return OPFAIL(V, P, i, "slot %d out of range", s);
    if (!P->live[s])
        return OPFAIL(V, P, i, "slot s%d freed twice or never written", s);
    P->live[s] = 0;
    return check_seq(V, P, i, false);
}

static int check_program(Verifier *V, int actor) {
    Prog P = {actor, &V->p->actors[actor], NULL, -1};
    if (P.pa->nslots < 0 || (P.pa->nops > 0 && !P.pa->ops))
        return VFAIL(V, "actor '%s': malformed program", P.pa->name);
    P.live = plan_xcalloc((size_t)(P.pa->nslots + 1), 1);
    int rc = 0;
    for (int i = 0; i < P.pa->nops && rc == 0; i++) {
        switch (P.pa->ops[i].kind) {
        case DAFT_OP_READ: rc = op_read(V, &P, i); break;
        case DAFT_OP_WRITE: rc = op_write(V, &P, i); break;
        case DAFT_OP_CALL: rc = op_call(V, &P, i); break;
        case DAFT_OP_COLLECTIVE: rc = op_collective(V, &P, i); break;
        case DAFT_OP_FREE: rc = op_free(V, &P, i); break;
        default: rc = OPFAIL(V, &P, i, "unknown op kind %d", (int)P.pa->ops[i].kind);
        }
    }
    for (int s = 0; s < P.pa->nslots && rc == 0; s++)
        if (P.live[s])
            rc = VFAIL(V, "actor '%s': slot s%d is never freed", P.pa->name, s);
    free(P.live);
    return rc;
}

/* ---------------------------------------------------------------- the driver */

/* Driver pseudo-ops: one write per input channel, then one read per distinct output
 * channel, numbered after all actor ops. */
static int check_driver(Verifier *V) {
    const DaftPlan *p = V->p;
    int k = V->op_base[p->nactors];
    for (int i = 0; i < p->ninputs; i++) {
        const DaftPlanInput *in = &p->inputs[i];
        for (int j = 0; j < in->nchannels; j++) {
            int c = in->channels[j];
            if (c < 0 || c >= p->nchannels || p->channels[c].writer != DAFT_PLAN_DRIVER)
                return VFAIL(V, "input '%s': channel c%d is not written by the driver", in->name, c);
            for (int r = 0; r < p->channels[c].nreaders; r++) {
                V->writes[V->pair_base[c] + r]++;
                V->wseq[V->pair_base[c] + r] = -1;
                V->wop[V->pair_base[c] + r] = k;
            }
            k++;
        }
    }
    for (int i = 0; i < p->noutputs; i++) {
        const DaftPlanOutput *out = &p->outputs[i];
        if (out->channel == -1) {
            if (out->input < 0 || out->input >= p->ninputs)
                return VFAIL(V, "output '%s': neither a channel nor an input", out->name);
            continue;
        }
        int pair = out->channel >= 0 && out->channel < p->nchannels ? pair_of(V, out->channel, DAFT_PLAN_DRIVER) : -1;
        if (pair < 0)
            return VFAIL(V, "output '%s': the driver does not read channel c%d", out->name, out->channel);
        if (V->reads[pair] == 0) {      /* outputs may share a channel: one read */
            V->reads[pair] = 1;
            V->rseq[pair] = -1;
            V->rop[pair] = k++;
        }
    }
    V->nops = k;
    return 0;
}

static int check_pairs(Verifier *V) {
    const DaftPlan *p = V->p;
    for (int c = 0; c < p->nchannels; c++) {
        const DaftPlanChannel *ch = &p->channels[c];
        for (int r = 0; r < ch->nreaders; r++) {
            int pair = V->pair_base[c] + r;
            const char *who = label(V, ch->readers[r]);
            if (V->writes[pair] != 1)
                return VFAIL(V, "channel c%d: written %d times for reader '%s' (must be once)", c, V->writes[pair], who);
            if (V->reads[pair] != 1)
                return VFAIL(V, "channel c%d: read %d times by '%s' (must be once)", c, V->reads[pair], who);
            if (V->wseq[pair] != V->rseq[pair])
                return VFAIL(V, "channel c%d: NCCL send to '%s' has sequence %lld but the receive has %lld",
                             c, who, (long long)V->wseq[pair], (long long)V->rseq[pair]);
        }
    }
    return 0;
}

/* ---------------------------------------------------------------- groups */

/* Every member must issue the same collectives on a group in the same order; the first
 * member's list is the reference. */
static int check_group_order(Verifier *V, int g) {
    const DaftPlan *p = V->p;
    const DaftPlanGroup *gr = &p->groups[g];
    const DaftPlanActor *ref = &p->actors[gr->members[0]];
    for (int m = 1; m < gr->nmembers; m++) {
        const DaftPlanActor *pa = &p->actors[gr->members[m]];
        int i = 0, j = 0;
        for (;;) {
            while (i < ref->nops && !(ref->ops[i].kind == DAFT_OP_COLLECTIVE && ref->ops[i].group == g))
                i++;
            while (j < pa->nops && !(pa->ops[j].kind == DAFT_OP_COLLECTIVE && pa->ops[j].group == g))
                j++;
            if (i == ref->nops || j == pa->nops) {
                if (i != ref->nops || j != pa->nops)
                    return VFAIL(V, "group g%d: '%s' and '%s' issue different numbers of collectives",
                                 g, ref->name, pa->name);
                break;
            }
            if (ref->ops[i].seq != pa->ops[j].seq || ref->ops[i].coll != pa->ops[j].coll)
                return VFAIL(V, "group g%d: '%s' op %d (%s, seq %lld) and '%s' op %d (%s, seq %lld) "
                             "are not the same collective", g, ref->name, i, daft_coll_name(ref->ops[i].coll),
                             (long long)ref->ops[i].seq, pa->name, j, daft_coll_name(pa->ops[j].coll),
                             (long long)pa->ops[j].seq);
            i++, j++;
        }
    }
    return 0;
}

/* ---------------------------------------------------------------- cycles */

typedef struct Dag {
    int *parent;             /* union-find over ops: rendezvous ops are one event */
    int *from, *to;
    int nedges, cap;
} Dag;

static int uf_find(int *parent, int x) {
    while (parent[x] != x)
        x = parent[x] = parent[parent[x]];
    return x;
}

static void uf_union(int *parent, int a, int b) { parent[uf_find(parent, a)] = uf_find(parent, b); }

static void dag_edge(Dag *d, int a, int b) {
    if (d->nedges == d->cap) {
        d->cap = d->cap ? d->cap * 2 : 256;
        d->from = plan_xrealloc(d->from, sizeof(int) * (size_t)d->cap);
        d->to = plan_xrealloc(d->to, sizeof(int) * (size_t)d->cap);
    }
    d->from[d->nedges] = a;
    d->to[d->nedges++] = b;
}

/* Collectives are matched by (group, k-th collective of the group on this member). */
static void merge_collectives(const Verifier *V, Dag *d) {
    const DaftPlan *p = V->p;
    for (int g = 0; g < p->ngroups; g++) {
        const DaftPlanGroup *gr = &p->groups[g];
        int *first = NULL, nfirst = 0;
        for (int m = 0; m < gr->nmembers; m++) {
            int a = gr->members[m], k = 0;
            for (int i = 0; i < p->actors[a].nops; i++) {
                if (p->actors[a].ops[i].kind != DAFT_OP_COLLECTIVE || p->actors[a].ops[i].group != g)
                    continue;
                if (m == 0) {
                    first = plan_xrealloc(first, sizeof(int) * (size_t)(nfirst + 1));
                    first[nfirst++] = V->op_base[a] + i;
                } else if (k < nfirst) {
                    uf_union(d->parent, V->op_base[a] + i, first[k]);
                }
                k++;
            }
        }
        free(first);
    }
}

static void build_dag(const Verifier *V, Dag *d) {
    const DaftPlan *p = V->p;
    for (int i = 0; i < V->nops; i++)
        d->parent[i] = i;
    for (int a = 0; a <= p->nactors; a++)
        for (int i = V->op_base[a] + 1; i < (a < p->nactors ? V->op_base[a + 1] : V->nops); i++)
            dag_edge(d, i - 1, i);
    for (int c = 0; c < p->nchannels; c++) {
        bool nccl = p->channels[c].transport == DAFT_TRANSPORT_NCCL;
        for (int pair = V->pair_base[c]; pair < V->pair_base[c + 1]; pair++) {
            if (nccl)
                uf_union(d->parent, V->wop[pair], V->rop[pair]);
            else
                dag_edge(d, V->wop[pair], V->rop[pair]);
        }
    }
    merge_collectives(V, d);
}

static void describe_op(const Verifier *V, int op, char *buf, size_t cap) {
    const DaftPlan *p = V->p;
    for (int a = p->nactors - 1; a >= 0; a--) {
        if (op >= V->op_base[a] && op < V->op_base[a + 1]) {
            int i = op - V->op_base[a];
            snprintf(buf, cap, "actor '%s' op %d (%s)", p->actors[a].name, i,
                     daft_plan_op_name(p->actors[a].ops[i].kind));
            return;
        }
    }
    snprintf(buf, cap, "the driver");
}

static int check_cycles(Verifier *V) {
    int n = V->nops;
    Dag d = {0};
    d.parent = plan_xmalloc(sizeof(int) * (size_t)(n ? n : 1));
    build_dag(V, &d);
    int *indeg = plan_xcalloc((size_t)(n ? n : 1), sizeof(int));
    int *start = plan_xcalloc((size_t)n + 1, sizeof(int));
    int *adj = plan_xmalloc(sizeof(int) * (size_t)(d.nedges ? d.nedges : 1));
    for (int e = 0; e < d.nedges; e++) {
        d.from[e] = uf_find(d.parent, d.from[e]);
        d.to[e] = uf_find(d.parent, d.to[e]);
        start[d.from[e] + 1]++;
        indeg[d.to[e]]++;
    }
    for (int i = 0; i < n; i++)
        start[i + 1] += start[i];
    int *fill = plan_xmalloc(sizeof(int) * (size_t)(n ? n : 1));
    memcpy(fill, start, sizeof(int) * (size_t)(n ? n : 1));
    for (int e = 0; e < d.nedges; e++)
        adj[fill[d.from[e]]++] = d.to[e];
    /* Kahn: representatives with no pending predecessor run; leftovers lie on a cycle */
    int *queue = fill, head = 0, tail = 0, done = 0, roots = 0;
    for (int i = 0; i < n; i++) {
        if (uf_find(d.parent, i) != i)
            continue;
        roots++;
        if (indeg[i] == 0)
            queue[tail++] = i;
    }
    while (head < tail) {
        int x = queue[head++];
        done++;
        for (int k = start[x]; k < start[x + 1]; k++)
            if (--indeg[adj[k]] == 0)
                queue[tail++] = adj[k];
    }
    int rc = 0;
    if (done < roots) {
        int stuck = 0;
        while (stuck < n && (uf_find(d.parent, stuck) != stuck || indeg[stuck] == 0))
            stuck++;
        char what[200];
        describe_op(V, stuck, what, sizeof what);
        rc = VFAIL(V, "cycle: %s waits, directly or through other actors, on itself "
                      "(a deadlock once NCCL transfers and collectives rendezvous)", what);
    }
    free(d.parent), free(d.from), free(d.to), free(indeg), free(start), free(adj), free(fill);
    return rc;
}

/* ---------------------------------------------------------------- entry */

static int verify_all(Verifier *V) {
    const DaftPlan *p = V->p;
    if (p->nactors < 0 || p->nchannels < 0 || p->ngroups < 0 || p->inflight < 1)
        return VFAIL(V, "malformed plan header");
    if (setup_pairs(V) || check_groups(V))
        return -1;
    V->op_base = plan_xmalloc(sizeof(int) * (size_t)(p->nactors + 1));
    int k = 0;
    for (int a = 0; a < p->nactors; a++) {
        V->op_base[a] = k;
        k += p->actors[a].nops;
    }
    V->op_base[p->nactors] = k;
    for (int a = 0; a < p->nactors; a++)
        if (check_program(V, a))
            return -1;
    if (check_driver(V) || check_pairs(V))
        return -1;
    for (int g = 0; g < p->ngroups; g++)
        if (check_group_order(V, g))
            return -1;
    return check_cycles(V);
}

int daft_plan_verify(const DaftPlan *plan, char *err, size_t errcap) {
    Verifier V;
    memset(&V, 0, sizeof V);
    V.p = plan;
    V.err = err;
    V.cap = errcap;
    plan_map_init(&V.reader_index);
    plan_map_init(&V.member_rank);
    int rc = verify_all(&V);
    plan_map_free(&V.reader_index);
    plan_map_free(&V.member_rank);
    free(V.pair_base), free(V.reads), free(V.writes), free(V.rseq), free(V.wseq);
    free(V.rop), free(V.wop), free(V.op_base);
    if (rc == 0 && err && errcap)
        err[0] = '\0';
    return rc;
}
