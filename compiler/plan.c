/* The planner: DaftGraph -> DaftPlan (docs/spec-plan.md).
 *
 * Two walks over the graph's nodes in id order (a topological order):
 *  - pass 1 decides the channels: for every use of a value by an actor that does not hold
 *    it yet, a channel keyed by (value, transport) gains that actor as a reader;
 *  - pass 2 emits each actor's ops in the same order, with value ids standing in for slots.
 * Because both walks follow one global order, every actor's NCCL ops come out sorted by
 * one global sequence number, which is what makes the plan deadlock-free. Then, per actor,
 * NCCL receives are hoisted above independent compute (overlap), and a liveness pass
 * inserts FREEs after last uses and maps values to reusable slots. */
#include "plan_internal.h"

#include <stdlib.h>
#include <string.h>

typedef struct OpList {
    DaftPlanOp *ops;
    int len, cap;
} OpList;

typedef struct Planner {
    const DaftGraph *g;
    DaftPlan *p;
    PlanArena *A;
    DaftPlanOptions opt;
    int *vchan;              /* first channel of each value, -1 */
    int *chan_next;          /* next channel of the same value */
    int cap_chan;
    int *chan_seen;          /* pass 2: readers of each channel already served */
    int *uses;               /* pass 1: how many times each value is consumed */
    PlanMap have;            /* (actor + 1, value) -> 1 once the actor holds the value */
    OpList *progs;
    int64_t seq;
    int pass;
} Planner;

/* ---------------------------------------------------------------- places */

static bool place_taken(const DaftPlace *places, int n, int node, int gpu) {
    for (int i = 0; i < n; i++)
        if (places[i].node == node && places[i].gpu == gpu)
            return true;
    return false;
}

/* Explicit places first, so that default actors flow around them. */
static void place_explicit(const DaftGraphActor *req, int n, DaftPlace *places) {
    for (int i = 0; i < n; i++) {
        places[i].node = -2;            /* not placed yet */
        places[i].gpu = -1;
        if (req[i].gpus == 0) {
            places[i].node = req[i].node >= 0 ? req[i].node : 0;
        } else if (req[i].gpu >= 0) {
            places[i].node = req[i].node >= 0 ? req[i].node : 0;
            places[i].gpu = req[i].gpu;
        }
    }
}

/* The fill cursor only moves forward, so placing n actors costs O(n + GPUs), except that
 * explicitly taken GPUs are skipped with a scan of the explicit places. */
void daft_plan_assign_places(const DaftGraphActor *req, int n, int gpus_per_node,
                             DaftPlace *places) {
    int gpn = gpus_per_node > 0 ? gpus_per_node : DAFT_PLAN_DEFAULT_GPUS_PER_NODE;
    place_explicit(req, n, places);
    int nexplicit = 0;
    DaftPlace *explicit_places = plan_xmalloc(sizeof(DaftPlace) * (size_t)(n ? n : 1));
    for (int i = 0; i < n; i++)
        if (places[i].node != -2 && places[i].gpu >= 0)
            explicit_places[nexplicit++] = places[i];
    int64_t cursor = 0;    /* global GPU index */
    for (int i = 0; i < n; i++) {
        if (places[i].node != -2)
            continue;
        if (req[i].node >= 0 && cursor < (int64_t)req[i].node * gpn)
            cursor = (int64_t)req[i].node * gpn;     /* on node(n) without gpu(): first free there */
        while (place_taken(explicit_places, nexplicit, (int)(cursor / gpn), (int)(cursor % gpn)))
            cursor++;
        places[i].node = (int)(cursor / gpn);
        places[i].gpu = (int)(cursor % gpn);
        cursor += req[i].gpus;                        /* a multi-GPU actor owns consecutive GPUs */
    }
    free(explicit_places);
}

/* ---------------------------------------------------------------- transports */

static int actor_node(const Planner *P, int actor) {
    return actor == DAFT_PLAN_DRIVER ? 0 : P->p->actors[actor].place.node;
}

static bool actor_on_gpu(const Planner *P, int actor) {
    return actor != DAFT_PLAN_DRIVER && P->p->actors[actor].place.gpu >= 0;
}

static bool value_on_device(const Planner *P, int v) {
    const DaftGraphValue *val = &P->g->values[v];
    return val->payload.kind == DAFT_PAY_TENSOR && actor_on_gpu(P, val->actor) && !P->opt.cpu_only;
}

static DaftTransport host_transport(const Planner *P, int a, int b) {
    return actor_node(P, a) == actor_node(P, b) ? DAFT_TRANSPORT_SHM : DAFT_TRANSPORT_TCP;
}

static bool same_gpu(const Planner *P, int a, int b) {
    const DaftPlace *pa = &P->p->actors[a].place, *pb = &P->p->actors[b].place;
    return pa->node == pb->node && pa->gpu == pb->gpu;
}

/* DESIGN.md "Transports": a custom hint wins between actors; the driver only speaks host
 * transports; device tensors between GPU actors on distinct GPUs go over NCCL unless the
 * hint asks for a host transport; everything else is SHM on one host and TCP across. */
static DaftTransport choose_transport(const Planner *P, int v, int reader) {
    const DaftGraphValue *val = &P->g->values[v];
    int writer = val->actor;
    if (writer == DAFT_PLAN_DRIVER || reader == DAFT_PLAN_DRIVER)
        return host_transport(P, writer, reader);
    switch (val->hint.kind) {
    case DAFT_COMM_CUSTOM:
        return DAFT_TRANSPORT_CUSTOM;
    case DAFT_COMM_TCP:
        return DAFT_TRANSPORT_TCP;
    case DAFT_COMM_SHM:
        return host_transport(P, writer, reader);
    default:
        break;
    }
    if (value_on_device(P, v) && actor_on_gpu(P, reader) && !same_gpu(P, writer, reader))
        return DAFT_TRANSPORT_NCCL;
    return host_transport(P, writer, reader);
}

/* ---------------------------------------------------------------- channels */

static int find_channel(const Planner *P, int v, DaftTransport t) {
    for (int c = P->vchan[v]; c >= 0; c = P->chan_next[c])
        if (P->p->channels[c].transport == t)
            return c;
    return -1;
}

static int new_channel(Planner *P, int v, DaftTransport t) {
    DaftPlan *p = P->p;
    int cap = P->cap_chan;
    DaftPlanChannel *ch = PLAN_PUSH(P->A, p->channels, p->nchannels, P->cap_chan);
    if (P->cap_chan != cap)
        P->chan_next = plan_xrealloc(P->chan_next, sizeof(int) * (size_t)P->cap_chan);
    int id = p->nchannels - 1;
    const DaftGraphValue *val = &P->g->values[v];
    ch->value = v;
    ch->writer = val->actor;
    ch->transport = t;
    ch->custom = t == DAFT_TRANSPORT_CUSTOM ? plan_strdup(P->A, val->hint.custom) : NULL;
    ch->payload = val->payload;
    ch->payload.device = value_on_device(P, v);
    ch->meta_first = !daft_payload_static(&val->payload) || val->hint.dynamic_shape;
    ch->capacity = p->inflight;
    /* append at the end of the value's list, so lookups see channels in creation order */
    P->chan_next[id] = -1;
    int *link = &P->vchan[v];
    while (*link >= 0)
        link = &P->chan_next[*link];
    *link = id;
    return id;
}

static void channel_add_reader(Planner *P, int c, int reader) {
    DaftPlanChannel *ch = &P->p->channels[c];
    int n = ch->nreaders;
    /* the readers array holds the next power of two, so it is full exactly at 0, 1, 2, 4... */
    if ((n & (n - 1)) == 0) {
        int *r = plan_alloc(P->A, sizeof(int) * (size_t)(n ? n * 2 : 1));
        if (n)
            memcpy(r, ch->readers, sizeof(int) * (size_t)n);
        ch->readers = r;
    }
    ch->readers[ch->nreaders++] = reader;
}

/* ---------------------------------------------------------------- op emission */

static DaftPlanOp *emit(Planner *P, int actor, DaftPlanOpKind kind, int node) {
    OpList *l = &P->progs[actor];
    if (l->len == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 16;
        l->ops = plan_xrealloc(l->ops, sizeof(DaftPlanOp) * (size_t)l->cap);
    }
    DaftPlanOp *op = &l->ops[l->len++];
    memset(op, 0, sizeof(*op));
    op->kind = kind;
    op->dst = op->src = op->channel = op->reader = op->group = -1;
    op->node = node;
    op->seq = -1;
    return op;
}

static bool holds(const Planner *P, int actor, int v) {
    return P->g->values[v].actor == actor || plan_map_get(&P->have, plan_key2(actor + 1, v), NULL);
}

/* Pass 2: the reader takes its value from channel c; an NCCL channel is a rendezvous, so
 * the writer's send is emitted here too, with the same sequence number. */
static void emit_transfer(Planner *P, int v, int reader, int c, int node) {
    DaftPlanChannel *ch = &P->p->channels[c];
    int r = P->chan_seen[c]++;
    int64_t seq = -1;
    if (ch->transport == DAFT_TRANSPORT_NCCL) {
        seq = P->seq++;
        DaftPlanOp *w = emit(P, ch->writer, DAFT_OP_WRITE, node);
        w->src = v;
        w->channel = c;
        w->reader = r;
        w->seq = seq;
    }
    if (reader == DAFT_PLAN_DRIVER)
        return;
    DaftPlanOp *rd = emit(P, reader, DAFT_OP_READ, node);
    rd->dst = v;
    rd->channel = c;
    rd->seq = seq;
}

/* Makes value v available on `reader` before node `node` uses it. */
static void consume(Planner *P, int v, int reader, int node) {
    P->uses[v] += P->pass == 1;
    if (holds(P, reader, v))
        return;
    plan_map_put(&P->have, plan_key2(reader + 1, v), 1);
    DaftTransport t = choose_transport(P, v, reader);
    int c = find_channel(P, v, t);
    if (P->pass == 1) {
        if (c < 0)
            c = new_channel(P, v, t);
        channel_add_reader(P, c, reader);
        return;
    }
    emit_transfer(P, v, reader, c, node);
}

/* Pass 2: buffered channels are written as soon as the value exists, so the reader
 * never waits for the writer's later work. */
static void emit_buffered_writes(Planner *P, int v, int node) {
    int writer = P->g->values[v].actor;
    for (int c = P->vchan[v]; c >= 0; c = P->chan_next[c]) {
        if (P->p->channels[c].transport == DAFT_TRANSPORT_NCCL)
            continue;
        DaftPlanOp *w = emit(P, writer, DAFT_OP_WRITE, node);
        w->src = v;
        w->channel = c;
    }
}

static void emit_call(Planner *P, const DaftGraphNode *n, int id) {
    DaftPlanOp *op = emit(P, n->actor, DAFT_OP_CALL, id);
    op->method = plan_strdup(P->A, n->name);
    op->nargs = n->nargs;
    op->args = plan_alloc(P->A, sizeof(DaftPlanArg) * (size_t)(n->nargs ? n->nargs : 1));
    for (int i = 0; i < n->nargs; i++) {
        op->args[i].slot = n->args[i].value;
        op->args[i].konst = n->args[i].konst;
        op->args[i].konst.s = plan_strdup(P->A, n->args[i].konst.s);
    }
    op->dst = P->uses[n->results[0]] > 0 ? n->results[0] : -1;
}

static void emit_collective(Planner *P, const DaftGraphNode *n, int id) {
    const DaftGraphGroup *gr = &P->g->groups[n->group];
    int64_t seq = P->seq++;
    for (int i = 0; i < gr->nmembers; i++) {
        DaftPlanOp *op = emit(P, gr->members[i], DAFT_OP_COLLECTIVE, id);
        op->coll = n->coll;
        op->reduce = n->reduce;
        op->root = n->root;
        op->group = n->group;
        op->src = n->args[i].value;
        op->dst = n->results[i];
        op->seq = seq;
    }
}

static int consumer_of(const DaftGraph *g, const DaftGraphNode *n, int arg) {
    if (n->kind == DAFT_GN_TASK)
        return n->actor;
    if (n->kind == DAFT_GN_COLLECTIVE)
        return g->groups[n->group].members[arg];
    return DAFT_PLAN_DRIVER;
}

static void walk_node(Planner *P, int id) {
    const DaftGraphNode *n = &P->g->nodes[id];
    for (int i = 0; i < n->nargs; i++)
        if (n->args[i].value >= 0)
            consume(P, n->args[i].value, consumer_of(P->g, n, i), id);
    if (P->pass == 1)
        return;
    if (n->kind == DAFT_GN_TASK)
        emit_call(P, n, id);
    else if (n->kind == DAFT_GN_COLLECTIVE)
        emit_collective(P, n, id);
    if (n->kind == DAFT_GN_TASK || n->kind == DAFT_GN_COLLECTIVE)
        for (int i = 0; i < n->nresults; i++)
            emit_buffered_writes(P, n->results[i], id);
}

static void walk(Planner *P, int pass) {
    P->pass = pass;
    plan_map_free(&P->have);
    plan_map_init(&P->have);
    for (int id = 0; id < P->g->nnodes; id++)
        walk_node(P, id);
}

/* ---------------------------------------------------------------- overlap */

/* An NCCL receive is posted on the communication stream; issuing it before independent
 * compute lets the transfer overlap that compute. It only moves above CALLs: no
 * communication op is passed, so the order of NCCL ops (and deadlock freedom) is kept. */
static void hoist_receives(Planner *P, OpList *l) {
    for (int i = 1; i < l->len; i++) {
        DaftPlanOp *op = &l->ops[i];
        if (op->kind != DAFT_OP_READ || P->p->channels[op->channel].transport != DAFT_TRANSPORT_NCCL)
            continue;
        int j = i;
        while (j > 0 && l->ops[j - 1].kind == DAFT_OP_CALL) {
            DaftPlanOp tmp = l->ops[j - 1];
            l->ops[j - 1] = l->ops[j];
            l->ops[j] = tmp;
            j--;
        }
    }
}

/* ---------------------------------------------------------------- slots */

typedef struct Live {
    int last, value;
} Live;

static int live_cmp(const void *a, const void *b) {
    const Live *x = a, *y = b;
    if (x->last != y->last)
        return x->last < y->last ? -1 : 1;
    return (x->value > y->value) - (x->value < y->value);
}

typedef struct SlotState {
    int *last;               /* per value: index of its last use on this actor, -1 */
    int *slot;               /* per value: its slot on this actor, -1 */
    int *free_stack;
    int nfree, nslots;
} SlotState;

static void note_use(SlotState *s, int v, int i) {
    if (v >= 0 && s->last[v] < i)
        s->last[v] = i;
}

/* Collects (last use, value) for every value this program defines. */
static Live *live_ranges(const OpList *l, SlotState *s, int *nlive) {
    Live *lives = plan_xmalloc(sizeof(Live) * (size_t)(l->len ? l->len : 1));
    int n = 0;
    for (int i = 0; i < l->len; i++) {
        const DaftPlanOp *op = &l->ops[i];
        note_use(s, op->src, i);
        for (int a = 0; a < op->nargs; a++)
            note_use(s, op->args[a].slot, i);
        if (op->dst >= 0)
            s->last[op->dst] = i;
    }
    for (int i = 0; i < l->len; i++)
        if (l->ops[i].dst >= 0)
            lives[n++] = (Live){s->last[l->ops[i].dst], l->ops[i].dst};
    qsort(lives, (size_t)n, sizeof(Live), live_cmp);
    *nlive = n;
    return lives;
}

static int slot_take(SlotState *s) { return s->nfree ? s->free_stack[--s->nfree] : s->nslots++; }

static void rename_op(DaftPlanOp *op, SlotState *s) {
    if (op->src >= 0)
        op->src = s->slot[op->src];
    for (int a = 0; a < op->nargs; a++)
        if (op->args[a].slot >= 0)
            op->args[a].slot = s->slot[op->args[a].slot];
    /* the destination never shares a slot with this op's own arguments: a method may read
     * its arguments while writing its result */
    if (op->dst >= 0)
        op->dst = s->slot[op->dst] = slot_take(s);
}

/* Rewrites value ids into slots and inserts a FREE after each value's last use (after the
 * writes that follow it). */
static void assign_slots(Planner *P, int actor, SlotState *s) {
    OpList *l = &P->progs[actor];
    int nlive;
    Live *lives = live_ranges(l, s, &nlive);
    DaftPlanActor *pa = &P->p->actors[actor];
    pa->ops = plan_alloc(P->A, sizeof(DaftPlanOp) * (size_t)(l->len + nlive + 1));
    s->nfree = s->nslots = 0;
    int k = 0, out = 0;
    for (int i = 0; i < l->len; i++) {
        DaftPlanOp op = l->ops[i];
        rename_op(&op, s);
        /* a write goes before the frees just emitted: the reader waits for it, nobody waits
         * for a free (an 8-byte GPU round trip's frees took ~5 us of its critical path) */
        int at = out;
        while (op.kind == DAFT_OP_WRITE && at > 0 && pa->ops[at - 1].kind == DAFT_OP_FREE)
            at--;
        memmove(&pa->ops[at + 1], &pa->ops[at], sizeof(DaftPlanOp) * (size_t)(out - at));
        pa->ops[at] = op;
        out++;
        for (; k < nlive && lives[k].last == i; k++) {
            DaftPlanOp *f = &pa->ops[out++];
            memset(f, 0, sizeof(*f));
            f->kind = DAFT_OP_FREE;
            f->dst = f->channel = f->reader = f->group = -1;
            f->src = s->slot[lives[k].value];
            f->node = op.node;
            f->seq = -1;
            s->free_stack[s->nfree++] = f->src;
        }
    }
    pa->nops = out;
    pa->nslots = s->nslots;
    for (int i = 0; i < nlive; i++)
        s->last[lives[i].value] = s->slot[lives[i].value] = -1;
    free(lives);
}

static void finish_programs(Planner *P) {
    int nv = P->g->nvalues;
    SlotState s = {0};
    s.last = plan_xmalloc(sizeof(int) * (size_t)(nv ? nv : 1));
    s.slot = plan_xmalloc(sizeof(int) * (size_t)(nv ? nv : 1));
    memset(s.last, 0xff, sizeof(int) * (size_t)(nv ? nv : 1));
    memset(s.slot, 0xff, sizeof(int) * (size_t)(nv ? nv : 1));
    for (int a = 0; a < P->p->nactors; a++) {
        OpList *l = &P->progs[a];
        if (!P->opt.no_overlap)
            hoist_receives(P, l);
        s.free_stack = plan_xmalloc(sizeof(int) * (size_t)(l->len + 1));
        assign_slots(P, a, &s);
        free(s.free_stack);
        free(l->ops);
    }
    free(s.last);
    free(s.slot);
}

/* ---------------------------------------------------------------- plan assembly */

static void plan_actors(Planner *P) {
    const DaftGraph *g = P->g;
    DaftPlan *p = P->p;
    DaftPlace *places = plan_xmalloc(sizeof(DaftPlace) * (size_t)(g->nactors ? g->nactors : 1));
    daft_plan_assign_places(g->actors, g->nactors, p->gpus_per_node, places);
    p->nactors = g->nactors;
    p->actors = plan_alloc(P->A, sizeof(DaftPlanActor) * (size_t)(g->nactors ? g->nactors : 1));
    for (int i = 0; i < g->nactors; i++) {
        DaftPlanActor *a = &p->actors[i];
        a->name = plan_strdup(P->A, g->actors[i].name);
        a->cls = plan_strdup(P->A, g->actors[i].cls);
        a->origin = plan_strdup(P->A, g->actors[i].origin);
        a->gpus = g->actors[i].gpus;
        a->place = places[i];
    }
    free(places);
}

static void plan_groups(Planner *P) {
    const DaftGraph *g = P->g;
    DaftPlan *p = P->p;
    p->ngroups = g->ngroups;
    p->groups = plan_alloc(P->A, sizeof(DaftPlanGroup) * (size_t)(g->ngroups ? g->ngroups : 1));
    for (int i = 0; i < g->ngroups; i++) {
        const DaftGraphGroup *gg = &g->groups[i];
        DaftPlanGroup *pg = &p->groups[i];
        pg->nmembers = gg->nmembers;
        pg->members = plan_alloc(P->A, sizeof(int) * (size_t)gg->nmembers);
        memcpy(pg->members, gg->members, sizeof(int) * (size_t)gg->nmembers);
        bool gpu = !P->opt.cpu_only, one_node = true;
        for (int m = 0; m < gg->nmembers; m++) {
            gpu = gpu && actor_on_gpu(P, gg->members[m]);
            one_node = one_node && actor_node(P, gg->members[m]) == actor_node(P, gg->members[0]);
            for (int k = 0; k < m && gpu; k++)
                gpu = !same_gpu(P, gg->members[k], gg->members[m]);
        }
        pg->transport = gpu ? DAFT_TRANSPORT_NCCL : one_node ? DAFT_TRANSPORT_SHM : DAFT_TRANSPORT_TCP;
    }
}

static void plan_io(Planner *P) {
    const DaftGraph *g = P->g;
    DaftPlan *p = P->p;
    int nin = 0, nout = 0;
    for (int i = 0; i < g->nnodes; i++) {
        nin += g->nodes[i].kind == DAFT_GN_INPUT;
        nout += g->nodes[i].kind == DAFT_GN_OUTPUT;
    }
    p->inputs = plan_alloc(P->A, sizeof(DaftPlanInput) * (size_t)(nin ? nin : 1));
    p->outputs = plan_alloc(P->A, sizeof(DaftPlanOutput) * (size_t)(nout ? nout : 1));
    int *input_of_value = plan_xmalloc(sizeof(int) * (size_t)(g->nvalues ? g->nvalues : 1));
    for (int i = 0; i < g->nnodes; i++) {
        const DaftGraphNode *n = &g->nodes[i];
        if (n->kind == DAFT_GN_INPUT) {
            DaftPlanInput *in = &p->inputs[p->ninputs];
            int v = n->results[0];
            input_of_value[v] = p->ninputs++;
            in->name = plan_strdup(P->A, n->name);
            in->payload = g->values[v].payload;
            for (int c = P->vchan[v]; c >= 0; c = P->chan_next[c])
                in->nchannels++;
            in->channels = plan_alloc(P->A, sizeof(int) * (size_t)(in->nchannels ? in->nchannels : 1));
            int k = 0;
            for (int c = P->vchan[v]; c >= 0; c = P->chan_next[c])
                in->channels[k++] = c;
        } else if (n->kind == DAFT_GN_OUTPUT) {
            DaftPlanOutput *out = &p->outputs[p->noutputs++];
            int v = n->args[0].value;
            out->name = plan_strdup(P->A, n->name);
            bool from_driver = g->values[v].actor == DAFT_PLAN_DRIVER;
            out->input = from_driver ? input_of_value[v] : -1;
            out->channel = from_driver ? -1 : find_channel(P, v, choose_transport(P, v, DAFT_PLAN_DRIVER));
        }
    }
    free(input_of_value);
}

static void planner_free(Planner *P) {
    free(P->vchan);
    free(P->chan_next);
    free(P->chan_seen);
    free(P->uses);
    plan_map_free(&P->have);
    free(P->progs);
}

static void planner_init(Planner *P, const DaftGraph *g, const DaftPlanOptions *opt) {
    memset(P, 0, sizeof(*P));
    P->g = g;
    if (opt)
        P->opt = *opt;
    P->p = plan_xcalloc(1, sizeof(DaftPlan));
    P->p->arena = P->A = plan_arena_new();
    P->p->name = plan_strdup(P->A, g->name);
    P->p->inflight = P->opt.inflight > 0 ? P->opt.inflight
                     : g->inflight > 0   ? g->inflight
                                         : DAFT_PLAN_DEFAULT_INFLIGHT;
    P->p->gpus_per_node = P->opt.gpus_per_node > 0 ? P->opt.gpus_per_node : DAFT_PLAN_DEFAULT_GPUS_PER_NODE;
    size_t nv = (size_t)(g->nvalues ? g->nvalues : 1);
    P->vchan = plan_xmalloc(sizeof(int) * nv);
    memset(P->vchan, 0xff, sizeof(int) * nv);
    P->uses = plan_xcalloc(nv, sizeof(int));
    P->progs = plan_xcalloc((size_t)(g->nactors ? g->nactors : 1), sizeof(OpList));
    plan_map_init(&P->have);
}

int daft_plan_build(const DaftGraph *g, const DaftPlanOptions *opt, DaftPlan **out, char *err,
                    size_t errcap) {
    *out = NULL;
    if (g->error[0])
        return plan_fail(err, errcap, "schedule '%s': %s", g->name, g->error);
    Planner P;
    planner_init(&P, g, opt);
    plan_actors(&P);
    plan_groups(&P);
    walk(&P, 1);
    P.chan_seen = plan_xcalloc((size_t)(P.p->nchannels ? P.p->nchannels : 1), sizeof(int));
    walk(&P, 2);
    finish_programs(&P);
    plan_io(&P);
    planner_free(&P);
    bool verify = P.opt.verify;
#ifndef NDEBUG
    verify = true;   /* debug builds check every plan they make */
#endif
    char why[512];
    if (verify && daft_plan_verify(P.p, why, sizeof why) != 0) {
        daft_plan_free(P.p);
        return plan_fail(err, errcap, "internal error: plan of '%s' fails verification: %s",
                         g->name, why);
    }
    *out = P.p;
    return 0;
}

void daft_plan_free(DaftPlan *plan) {
    if (!plan)
        return;
    plan_arena_free(plan->arena);
    free(plan);
}
