/* plan_serial.c — a compact binary form of a DaftPlan, for plans embedded as constant data
 * in daftc-built executables (include/daft/plan.h, "serialization").
 *
 * Format (all integers little-endian, fixed width; no alignment):
 *   "DAFTPLN1"  u32 version (1)  u32 body length  u32 FNV-1a of the body  BODY
 *   BODY      = str name  i32 inflight  i32 gpus_per_node
 *               u32 nactors  ACTOR*   u32 ngroups  GROUP*   u32 nchannels  CHANNEL*
 *               u32 ninputs  INPUT*   u32 noutputs OUTPUT*
 *   str       = u32 length (0xffffffff: NULL) + bytes (no NUL inside)
 *   ACTOR     = str name  str cls  i32 gpus  i32 node  i32 gpu  str origin  i32 nslots
 *               u32 nops  OP*
 *   OP        = u8 kind  i32 dst  i32 src  i32 channel  i32 reader  str method
 *               u32 nargs  ARG*  u8 coll  u8 reduce  i32 root  i32 group  i32 node  i64 seq
 *   ARG       = i32 slot  [slot < 0: CONST]
 *   CONST     = u8 kind  i64 i  u64 f (IEEE bits)  str s
 *   GROUP     = u32 n  i32 member*  u8 transport
 *   CHANNEL   = i32 value  i32 writer  u32 n  i32 reader*  u8 transport  str custom
 *               PAYLOAD  u8 meta_first  i32 capacity
 *   PAYLOAD   = u8 kind  u8 dtype  i32 rank  i64 dim*(max(rank, 0))  u8 device
 *   INPUT     = str name  PAYLOAD  u32 n  i32 channel*
 *   OUTPUT    = str name  i32 channel  i32 input
 *
 * The reader never trusts its input: every length is checked against the bytes left (so
 * a corrupt count cannot make it allocate much), every enum and index is range-checked
 * before daft_plan_verify runs on the result, and any failure returns -1 with a message. */
#include "plan_internal.h"

#include <stdlib.h>
#include <string.h>

#define SER_MAGIC "DAFTPLN1"
#define SER_VERSION 1u
#define SER_HEADER 20u

/* ---------------------------------------------------------------- writer */

typedef struct WBuf {
    uint8_t *p;
    size_t len, cap;
} WBuf;

static void w_bytes(WBuf *b, const void *src, size_t n) {
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n)
            cap *= 2;
        b->p = plan_xrealloc(b->p, cap);
        b->cap = cap;
    }
    memcpy(b->p + b->len, src, n);
    b->len += n;
}

static void w_u8(WBuf *b, uint8_t v) { w_bytes(b, &v, 1); }

static void w_u32(WBuf *b, uint32_t v) {
    uint8_t x[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    w_bytes(b, x, 4);
}

static void w_i32(WBuf *b, int32_t v) { w_u32(b, (uint32_t)v); }

static void w_u64(WBuf *b, uint64_t v) {
    w_u32(b, (uint32_t)v);
    w_u32(b, (uint32_t)(v >> 32));
}

static void w_str(WBuf *b, const char *s) {
    if (!s) {
        w_u32(b, 0xffffffffu);
        return;
    }
    size_t n = strlen(s);
    w_u32(b, (uint32_t)n);
    w_bytes(b, s, n);
}

static void w_payload(WBuf *b, const DaftPayload *p) {
    w_u8(b, (uint8_t)p->kind);
    w_u8(b, (uint8_t)p->dtype);
    w_i32(b, p->rank);
    for (int i = 0; i < p->rank && i < DAFT_PLAN_MAX_RANK; i++)
        w_u64(b, (uint64_t)p->dims[i]);
    w_u8(b, p->device ? 1 : 0);
}

static uint32_t fnv1a(const uint8_t *p, size_t n) {
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 16777619u;
    }
    return h;
}

size_t daft_plan_serialize(const DaftPlan *plan, uint8_t **out) {
    WBuf b = {0};
    w_bytes(&b, SER_MAGIC, 8);
    w_u32(&b, SER_VERSION);
    w_u32(&b, 0); /* body length, patched below */
    w_u32(&b, 0); /* checksum, patched below */
    w_str(&b, plan->name);
    w_i32(&b, plan->inflight);
    w_i32(&b, plan->gpus_per_node);
    w_u32(&b, (uint32_t)plan->nactors);
    for (int i = 0; i < plan->nactors; i++) {
        const DaftPlanActor *a = &plan->actors[i];
        w_str(&b, a->name);
        w_str(&b, a->cls);
        w_i32(&b, a->gpus);
        w_i32(&b, a->place.node);
        w_i32(&b, a->place.gpu);
        w_str(&b, a->origin);
        w_i32(&b, a->nslots);
        w_u32(&b, (uint32_t)a->nops);
        for (int k = 0; k < a->nops; k++) {
            const DaftPlanOp *o = &a->ops[k];
            w_u8(&b, (uint8_t)o->kind);
            w_i32(&b, o->dst);
            w_i32(&b, o->src);
            w_i32(&b, o->channel);
            w_i32(&b, o->reader);
            w_str(&b, o->kind == DAFT_OP_CALL ? o->method : NULL);
            int nargs = o->kind == DAFT_OP_CALL ? o->nargs : 0;
            w_u32(&b, (uint32_t)nargs);
            for (int j = 0; j < nargs; j++) {
                const DaftPlanArg *g = &o->args[j];
                w_i32(&b, g->slot);
                if (g->slot < 0) {
                    uint64_t bits;
                    memcpy(&bits, &g->konst.f, 8);
                    w_u8(&b, (uint8_t)g->konst.kind);
                    w_u64(&b, (uint64_t)g->konst.i);
                    w_u64(&b, bits);
                    w_str(&b, g->konst.kind == DAFT_CONST_STR ? g->konst.s : NULL);
                }
            }
            w_u8(&b, (uint8_t)o->coll);
            w_u8(&b, (uint8_t)o->reduce);
            w_i32(&b, o->root);
            w_i32(&b, o->group);
            w_i32(&b, o->node);
            w_u64(&b, (uint64_t)o->seq);
        }
    }
    w_u32(&b, (uint32_t)plan->ngroups);
    for (int i = 0; i < plan->ngroups; i++) {
        const DaftPlanGroup *g = &plan->groups[i];
        w_u32(&b, (uint32_t)g->nmembers);
        for (int k = 0; k < g->nmembers; k++)
            w_i32(&b, g->members[k]);
        w_u8(&b, (uint8_t)g->transport);
    }
    w_u32(&b, (uint32_t)plan->nchannels);
    for (int i = 0; i < plan->nchannels; i++) {
        const DaftPlanChannel *c = &plan->channels[i];
        w_i32(&b, c->value);
        w_i32(&b, c->writer);
        w_u32(&b, (uint32_t)c->nreaders);
        for (int k = 0; k < c->nreaders; k++)
            w_i32(&b, c->readers[k]);
        w_u8(&b, (uint8_t)c->transport);
        w_str(&b, c->custom);
        w_payload(&b, &c->payload);
        w_u8(&b, c->meta_first ? 1 : 0);
        w_i32(&b, c->capacity);
    }
    w_u32(&b, (uint32_t)plan->ninputs);
    for (int i = 0; i < plan->ninputs; i++) {
        const DaftPlanInput *in = &plan->inputs[i];
        w_str(&b, in->name);
        w_payload(&b, &in->payload);
        w_u32(&b, (uint32_t)in->nchannels);
        for (int k = 0; k < in->nchannels; k++)
            w_i32(&b, in->channels[k]);
    }
    w_u32(&b, (uint32_t)plan->noutputs);
    for (int i = 0; i < plan->noutputs; i++) {
        w_str(&b, plan->outputs[i].name);
        w_i32(&b, plan->outputs[i].channel);
        w_i32(&b, plan->outputs[i].input);
    }
    uint32_t body = (uint32_t)(b.len - SER_HEADER), sum = fnv1a(b.p + SER_HEADER, b.len - SER_HEADER);
    for (int i = 0; i < 4; i++) {
        b.p[12 + i] = (uint8_t)(body >> (8 * i));
        b.p[16 + i] = (uint8_t)(sum >> (8 * i));
    }
    *out = b.p;
    return b.len;
}

/* ---------------------------------------------------------------- reader */

typedef struct RBuf {
    const uint8_t *p;
    size_t len, at;
    bool bad;
    const char *why;
    PlanArena *A;
} RBuf;

static void r_fail(RBuf *r, const char *why) {
    if (!r->bad)
        r->why = why;
    r->bad = true;
}

static const uint8_t *r_take(RBuf *r, size_t n) {
    if (r->bad || n > r->len - r->at) {
        r_fail(r, "truncated");
        return NULL;
    }
    const uint8_t *p = r->p + r->at;
    r->at += n;
    return p;
}

static uint8_t r_u8(RBuf *r) {
    const uint8_t *p = r_take(r, 1);
    return p ? p[0] : 0;
}

static uint32_t r_u32(RBuf *r) {
    const uint8_t *p = r_take(r, 4);
    return p ? (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24 : 0;
}

static int32_t r_i32(RBuf *r) { return (int32_t)r_u32(r); }

static uint64_t r_u64(RBuf *r) {
    uint64_t lo = r_u32(r);
    return lo | (uint64_t)r_u32(r) << 32;
}

static const char *r_str(RBuf *r, bool nullable) {
    uint32_t n = r_u32(r);
    if (r->bad)
        return NULL;
    if (n == 0xffffffffu) {
        if (!nullable)
            r_fail(r, "missing string");
        return NULL;
    }
    const uint8_t *p = r_take(r, n);
    if (!p)
        return NULL;
    if (memchr(p, 0, n)) {
        r_fail(r, "NUL inside a string");
        return NULL;
    }
    char *s = plan_alloc(r->A, (size_t)n + 1);
    memcpy(s, p, n);
    return s;
}

/* A count of items that each take at least `min_bytes`: bounded by what is left. */
static int r_count(RBuf *r, size_t min_bytes, int limit) {
    uint32_t n = r_u32(r);
    if (r->bad)
        return 0;
    if (n > (uint32_t)limit || (size_t)n * min_bytes > r->len - r->at) {
        r_fail(r, "count out of range");
        return 0;
    }
    return (int)n;
}

static void *r_array(RBuf *r, int n, size_t elem) { return plan_alloc(r->A, elem * (size_t)(n ? n : 1)); }

static void r_payload(RBuf *r, DaftPayload *p) {
    memset(p, 0, sizeof *p);
    uint8_t kind = r_u8(r), dtype = r_u8(r);
    int32_t rank = r_i32(r);
    if (r->bad)
        return;
    if (kind >= DAFT_PAY_COUNT || dtype >= DAFT_DT_COUNT || rank < -1 || rank > DAFT_PLAN_MAX_RANK) {
        r_fail(r, "bad payload");
        return;
    }
    p->kind = (DaftPayloadKind)kind;
    p->dtype = (DaftDType)dtype;
    p->rank = rank;
    for (int i = 0; i < rank; i++) {
        int64_t d = (int64_t)r_u64(r);
        if (d < DAFT_DIM_DYNAMIC)
            r_fail(r, "bad dimension");
        p->dims[i] = d;
    }
    uint8_t dev = r_u8(r);
    if (dev > 1)
        r_fail(r, "bad flag");
    p->device = dev == 1;
}

static bool r_flag(RBuf *r) {
    uint8_t v = r_u8(r);
    if (v > 1)
        r_fail(r, "bad flag");
    return v == 1;
}

enum { SER_LIMIT = 1 << 24 };

static void r_ops(RBuf *r, DaftPlanActor *a) {
    a->nops = r_count(r, 31, SER_LIMIT);
    a->ops = r_array(r, a->nops, sizeof *a->ops);
    for (int k = 0; k < a->nops && !r->bad; k++) {
        DaftPlanOp *o = &a->ops[k];
        uint8_t kind = r_u8(r);
        o->dst = r_i32(r);
        o->src = r_i32(r);
        o->channel = r_i32(r);
        o->reader = r_i32(r);
        o->method = r_str(r, true);
        if (kind >= DAFT_PLAN_OP_COUNT || (kind == DAFT_OP_CALL) != (o->method != NULL))
            r_fail(r, "bad op");
        o->kind = (DaftPlanOpKind)kind;
        o->nargs = r_count(r, 4, SER_LIMIT);
        o->args = r_array(r, o->nargs, sizeof *o->args);
        for (int j = 0; j < o->nargs && !r->bad; j++) {
            DaftPlanArg *g = &o->args[j];
            g->slot = r_i32(r);
            if (g->slot < -1)
                r_fail(r, "bad argument slot");
            if (g->slot != -1)
                continue;
            uint8_t ck = r_u8(r);
            g->konst.i = (int64_t)r_u64(r);
            uint64_t bits = r_u64(r);
            memcpy(&g->konst.f, &bits, 8);
            g->konst.s = r_str(r, true);
            if (ck > DAFT_CONST_STR || (ck == DAFT_CONST_STR) != (g->konst.s != NULL))
                r_fail(r, "bad constant");
            g->konst.kind = (DaftConstKind)ck;
        }
        uint8_t coll = r_u8(r), red = r_u8(r);
        if (coll >= DAFT_COLL_COUNT || red >= DAFT_REDUCE_COUNT)
            r_fail(r, "bad collective");
        o->coll = (DaftCollKind)coll;
        o->reduce = (DaftReduceOp)red;
        o->root = r_i32(r);
        o->group = r_i32(r);
        o->node = r_i32(r);
        o->seq = (int64_t)r_u64(r);
    }
}

/* Indices the verifier and the runtime use without checking. */
static const char *check_ranges(const DaftPlan *p) {
    if (p->inflight < 1 || p->inflight > 1 << 20 || p->gpus_per_node < 0)
        return "bad inflight or gpus_per_node";
    for (int i = 0; i < p->ngroups; i++) {
        const DaftPlanGroup *g = &p->groups[i];
        if (g->transport >= DAFT_TRANSPORT_COUNT)
            return "bad group transport";
        for (int k = 0; k < g->nmembers; k++)
            if (g->members[k] < 0 || g->members[k] >= p->nactors)
                return "group member out of range";
    }
    for (int i = 0; i < p->nchannels; i++) {
        const DaftPlanChannel *c = &p->channels[i];
        if (c->transport >= DAFT_TRANSPORT_COUNT || c->writer < DAFT_PLAN_DRIVER || c->writer >= p->nactors)
            return "bad channel";
        for (int k = 0; k < c->nreaders; k++)
            if (c->readers[k] < DAFT_PLAN_DRIVER || c->readers[k] >= p->nactors)
                return "channel reader out of range";
    }
    for (int i = 0; i < p->ninputs; i++)
        for (int k = 0; k < p->inputs[i].nchannels; k++)
            if (p->inputs[i].channels[k] < 0 || p->inputs[i].channels[k] >= p->nchannels)
                return "input channel out of range";
    for (int i = 0; i < p->noutputs; i++) {
        const DaftPlanOutput *o = &p->outputs[i];
        bool by_ch = o->channel >= 0 && o->channel < p->nchannels && o->input == -1;
        bool by_in = o->input >= 0 && o->input < p->ninputs && o->channel == -1;
        if (!by_ch && !by_in)
            return "output out of range";
    }
    for (int i = 0; i < p->nactors; i++) {
        const DaftPlanActor *a = &p->actors[i];
        if (a->nslots < 0 || a->nslots > 1 << 24 || a->gpus < 0 || a->place.node < 0 || a->place.gpu < -1)
            return "bad actor";
        for (int k = 0; k < a->nops; k++) {
            const DaftPlanOp *o = &a->ops[k];
            bool dst_ok = o->dst >= -1 && o->dst < a->nslots, src_ok = o->src >= -1 && o->src < a->nslots;
            if (!dst_ok || !src_ok)
                return "op slot out of range";
            switch (o->kind) {
            case DAFT_OP_READ:
                if (o->channel < 0 || o->channel >= p->nchannels || o->dst < 0)
                    return "bad read";
                break;
            case DAFT_OP_WRITE:
                if (o->channel < 0 || o->channel >= p->nchannels || o->src < 0 || o->reader < -1 ||
                    o->reader >= p->channels[o->channel].nreaders)
                    return "bad write";
                break;
            case DAFT_OP_CALL:
                for (int j = 0; j < o->nargs; j++)
                    if (o->args[j].slot >= a->nslots)
                        return "call argument slot out of range";
                break;
            case DAFT_OP_COLLECTIVE:
                if (o->group < 0 || o->group >= p->ngroups || o->src < 0 || o->dst < 0)
                    return "bad collective";
                if (o->coll == DAFT_COLL_BROADCAST &&
                    (o->root < 0 || o->root >= p->groups[o->group].nmembers))
                    return "bad broadcast root";
                break;
            case DAFT_OP_FREE:
                if (o->src < 0)
                    return "bad free";
                break;
            default:
                return "bad op";
            }
        }
    }
    return NULL;
}

int daft_plan_deserialize(const void *data, size_t len, DaftPlan **out, char *err, size_t errcap) {
    *out = NULL;
    const uint8_t *d = data;
    if (!d || len < SER_HEADER || memcmp(d, SER_MAGIC, 8) != 0)
        return plan_fail(err, errcap, "not a serialized plan");
    RBuf hdr = {d, len, 8, false, NULL, NULL};
    uint32_t ver = r_u32(&hdr), body = r_u32(&hdr), sum = r_u32(&hdr);
    if (ver != SER_VERSION)
        return plan_fail(err, errcap, "serialized plan version %u (expected %u)", ver, SER_VERSION);
    if (body != len - SER_HEADER)
        return plan_fail(err, errcap, "serialized plan: length %u does not match %zu bytes", body,
                         len - SER_HEADER);
    if (fnv1a(d + SER_HEADER, body) != sum)
        return plan_fail(err, errcap, "serialized plan: checksum mismatch");

    DaftPlan *p = plan_xcalloc(1, sizeof *p);
    p->arena = plan_arena_new();
    RBuf rb = {d, len, SER_HEADER, false, NULL, p->arena};
    RBuf *r = &rb;
    p->name = r_str(r, false);
    p->inflight = r_i32(r);
    p->gpus_per_node = r_i32(r);
    p->nactors = r_count(r, 29, SER_LIMIT);
    p->actors = r_array(r, p->nactors, sizeof *p->actors);
    for (int i = 0; i < p->nactors && !r->bad; i++) {
        DaftPlanActor *a = &p->actors[i];
        a->name = r_str(r, false);
        a->cls = r_str(r, false);
        a->gpus = r_i32(r);
        a->place.node = r_i32(r);
        a->place.gpu = r_i32(r);
        a->origin = r_str(r, true);
        a->nslots = r_i32(r);
        r_ops(r, a);
    }
    p->ngroups = r_count(r, 5, SER_LIMIT);
    p->groups = r_array(r, p->ngroups, sizeof *p->groups);
    for (int i = 0; i < p->ngroups && !r->bad; i++) {
        DaftPlanGroup *g = &p->groups[i];
        g->nmembers = r_count(r, 4, SER_LIMIT);
        g->members = r_array(r, g->nmembers, sizeof *g->members);
        for (int k = 0; k < g->nmembers; k++)
            g->members[k] = r_i32(r);
        g->transport = (DaftTransport)r_u8(r);
    }
    p->nchannels = r_count(r, 26, SER_LIMIT);
    p->channels = r_array(r, p->nchannels, sizeof *p->channels);
    for (int i = 0; i < p->nchannels && !r->bad; i++) {
        DaftPlanChannel *c = &p->channels[i];
        c->value = r_i32(r);
        c->writer = r_i32(r);
        c->nreaders = r_count(r, 4, SER_LIMIT);
        c->readers = r_array(r, c->nreaders, sizeof *c->readers);
        for (int k = 0; k < c->nreaders; k++)
            c->readers[k] = r_i32(r);
        c->transport = (DaftTransport)r_u8(r);
        c->custom = r_str(r, true);
        r_payload(r, &c->payload);
        c->meta_first = r_flag(r);
        c->capacity = r_i32(r);
        if (c->transport == DAFT_TRANSPORT_CUSTOM && !c->custom)
            r_fail(r, "custom channel without a name");
    }
    p->ninputs = r_count(r, 14, SER_LIMIT);
    p->inputs = r_array(r, p->ninputs, sizeof *p->inputs);
    for (int i = 0; i < p->ninputs && !r->bad; i++) {
        DaftPlanInput *in = &p->inputs[i];
        in->name = r_str(r, false);
        r_payload(r, &in->payload);
        in->nchannels = r_count(r, 4, SER_LIMIT);
        in->channels = r_array(r, in->nchannels, sizeof *in->channels);
        for (int k = 0; k < in->nchannels; k++)
            in->channels[k] = r_i32(r);
    }
    p->noutputs = r_count(r, 12, SER_LIMIT);
    p->outputs = r_array(r, p->noutputs, sizeof *p->outputs);
    for (int i = 0; i < p->noutputs && !r->bad; i++) {
        p->outputs[i].name = r_str(r, false);
        p->outputs[i].channel = r_i32(r);
        p->outputs[i].input = r_i32(r);
    }
    if (!r->bad && r->at != len)
        r_fail(r, "trailing bytes");
    const char *why = r->bad ? r->why : check_ranges(p);
    if (why) {
        daft_plan_free(p);
        return plan_fail(err, errcap, "corrupt serialized plan: %s", why);
    }
    char verr[256];
    if (daft_plan_verify(p, verr, sizeof verr) != 0) {
        daft_plan_free(p);
        return plan_fail(err, errcap, "serialized plan fails verification: %s", verr);
    }
    *out = p;
    return 0;
}
