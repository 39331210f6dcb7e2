/* libdaftplan utilities: the bump arena, a small hash map, the name tables and payloads. */
#include "plan_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { BLOCK_SIZE = 64 * 1024, ALIGN = 16 };

typedef struct PlanBlock {
    struct PlanBlock *next;
    size_t used, size;
    _Alignas(16) unsigned char data[];
} PlanBlock;

struct PlanArena {
    PlanBlock *head;
};

/* Out of memory is the one condition daft does not report and continue from (see
 * lang/arena.c); every other failure is an error value. */
static void plan_oom(void) {
    fputs("daft: out of memory\n", stderr);
    abort();
}

void *plan_xmalloc(size_t size) {
    void *p = malloc(size ? size : 1);
    if (!p)
        plan_oom();
    return p;
}

void *plan_xcalloc(size_t n, size_t size) {
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p)
        plan_oom();
    return p;
}

void *plan_xrealloc(void *p, size_t size) {
    p = realloc(p, size ? size : 1);
    if (!p)
        plan_oom();
    return p;
}

PlanArena *plan_arena_new(void) { return plan_xcalloc(1, sizeof(PlanArena)); }

void plan_arena_free(PlanArena *a) {
    if (!a)
        return;
    for (PlanBlock *b = a->head, *next; b; b = next) {
        next = b->next;
        free(b);
    }
    free(a);
}

void *plan_alloc(PlanArena *a, size_t size) {
    size = (size + ALIGN - 1) & ~(size_t)(ALIGN - 1);
    PlanBlock *b = a->head;
    if (!b || b->size - b->used < size) {
        size_t bsize = size > BLOCK_SIZE ? size : BLOCK_SIZE;
        b = plan_xmalloc(sizeof(PlanBlock) + bsize);
        b->size = bsize;
        b->used = 0;
        b->next = a->head;
        a->head = b;
    }
    void *p = b->data + b->used;
    b->used += size;
    memset(p, 0, size);
    return p;
}

char *plan_strdup(PlanArena *a, const char *s) {
    if (!s)
        return NULL;
    size_t n = strlen(s);
    char *d = plan_alloc(a, n + 1);
    memcpy(d, s, n);
    return d;
}

char *plan_printf(PlanArena *a, const char *fmt, ...) {
    va_list ap, ap2;
    va_start(ap, fmt);
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    char *s = plan_alloc(a, (size_t)n + 1);
    vsnprintf(s, (size_t)n + 1, fmt, ap2);
    va_end(ap2);
    return s;
}

void plan_grow(PlanArena *a, void **items, int *cap, int need, size_t elem) {
    if (need <= *cap)
        return;
    int ncap = *cap ? *cap : 8;
    while (ncap < need)
        ncap *= 2;
    void *n = plan_alloc(a, (size_t)ncap * elem);
    if (*cap)
        memcpy(n, *items, (size_t)*cap * elem);
    *items = n;
    *cap = ncap;
}

int plan_fail(char *err, size_t cap, const char *fmt, ...) {
    if (err && cap) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, cap, fmt, ap);
        va_end(ap);
    }
    return -1;
}

/* ---------------------------------------------------------------- map */

#define MAP_EMPTY UINT64_MAX

void plan_map_init(PlanMap *m) { memset(m, 0, sizeof(*m)); }

void plan_map_free(PlanMap *m) {
    free(m->keys);
    free(m->vals);
    plan_map_init(m);
}

static size_t map_hash(uint64_t k, size_t cap) {
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdULL;
    k ^= k >> 33;
    return (size_t)k & (cap - 1);
}

static void map_rehash(PlanMap *m) {
    size_t ncap = m->cap ? m->cap * 2 : 64;
    uint64_t *ok = m->keys;
    int *ov = m->vals;
    size_t ocap = m->cap;
    m->keys = plan_xmalloc(ncap * sizeof(uint64_t));
    m->vals = plan_xmalloc(ncap * sizeof(int));
    memset(m->keys, 0xff, ncap * sizeof(uint64_t));
    m->cap = ncap;
    m->len = 0;
    for (size_t i = 0; i < ocap; i++)
        if (ok[i] != MAP_EMPTY)
            plan_map_put(m, ok[i], ov[i]);
    free(ok);
    free(ov);
}

void plan_map_put(PlanMap *m, uint64_t key, int val) {
    if ((m->len + 1) * 2 > m->cap)
        map_rehash(m);
    size_t i = map_hash(key, m->cap);
    while (m->keys[i] != MAP_EMPTY && m->keys[i] != key)
        i = (i + 1) & (m->cap - 1);
    if (m->keys[i] == MAP_EMPTY)
        m->len++;
    m->keys[i] = key;
    m->vals[i] = val;
}

bool plan_map_get(const PlanMap *m, uint64_t key, int *val) {
    if (!m->cap)
        return false;
    size_t i = map_hash(key, m->cap);
    while (m->keys[i] != MAP_EMPTY) {
        if (m->keys[i] == key) {
            if (val)
                *val = m->vals[i];
            return true;
        }
        i = (i + 1) & (m->cap - 1);
    }
    return false;
}

/* ---------------------------------------------------------------- names */

#define NAME_TABLE(fn, type, table, count)                                \
    const char *fn(type v) {                                              \
        static const char *names[] = {table(NAME_ENTRY)};                 \
        return (unsigned)v < (unsigned)(count) ? names[v] : "?";          \
    }
#define NAME_ENTRY(id, text) text,

NAME_TABLE(daft_transport_name, DaftTransport, DAFT_TRANSPORTS, DAFT_TRANSPORT_COUNT)
NAME_TABLE(daft_comm_kind_name, DaftCommKind, DAFT_COMM_HINTS, DAFT_COMM_COUNT)
NAME_TABLE(daft_coll_name, DaftCollKind, DAFT_COLLECTIVES, DAFT_COLL_COUNT)
NAME_TABLE(daft_reduce_name, DaftReduceOp, DAFT_REDUCE_OPS, DAFT_REDUCE_COUNT)
NAME_TABLE(daft_plan_op_name, DaftPlanOpKind, DAFT_PLAN_OPS, DAFT_PLAN_OP_COUNT)
NAME_TABLE(daft_payload_kind_name, DaftPayloadKind, DAFT_PAYLOAD_KINDS, DAFT_PAY_COUNT)

static const char *format_names[] = {DAFT_PLAN_FORMATS(NAME_ENTRY)};

bool daft_plan_format_parse(const char *name, DaftPlanFormat *out) {
    for (int i = 0; i < DAFT_PLAN_FORMAT_COUNT; i++) {
        if (strcmp(name, format_names[i]) == 0) {
            *out = (DaftPlanFormat)i;
            return true;
        }
    }
    return false;
}

bool daft_coll_parse(const char *name, DaftCollKind *out) {
    for (int i = 0; i < DAFT_COLL_COUNT; i++) {
        if (strcmp(name, daft_coll_name((DaftCollKind)i)) == 0) {
            *out = (DaftCollKind)i;
            return true;
        }
    }
    return false;
}

bool daft_reduce_parse(const char *name, DaftReduceOp *out) {
    for (int i = 0; i < DAFT_REDUCE_COUNT; i++) {
        if (strcmp(name, daft_reduce_name((DaftReduceOp)i)) == 0) {
            *out = (DaftReduceOp)i;
            return true;
        }
    }
    return false;
}

/* ---------------------------------------------------------------- payloads */

DaftPayload daft_payload_tensor(DaftDType dtype, int rank, const int64_t *dims) {
    DaftPayload p = {0};
    p.kind = DAFT_PAY_TENSOR;
    p.dtype = dtype;
    p.rank = rank > DAFT_PLAN_MAX_RANK ? -1 : rank;
    for (int i = 0; i < p.rank; i++)
        p.dims[i] = dims ? dims[i] : DAFT_DIM_DYNAMIC;
    return p;
}

bool daft_payload_static(const DaftPayload *p) {
    if (p->kind == DAFT_PAY_ANY || p->kind == DAFT_PAY_STR)
        return false;
    if (p->kind != DAFT_PAY_TENSOR)
        return true;
    if (p->rank < 0)
        return false;
    for (int i = 0; i < p->rank; i++)
        if (p->dims[i] == DAFT_DIM_DYNAMIC)
            return false;
    return true;
}

static const char *dtype_name(DaftDType dt) {
    static const char *names[] = {
#define X(id, text, size) text,
        DAFT_DTYPES(X)
#undef X
    };
    return (unsigned)dt < DAFT_DT_COUNT ? names[dt] : "?";
}

int daft_payload_str(const DaftPayload *p, char *buf, size_t cap) {
    if (p->kind != DAFT_PAY_TENSOR)
        return snprintf(buf, cap, "%s", daft_payload_kind_name(p->kind));
    if (p->rank < 0)
        return snprintf(buf, cap, "tensor<%s>", dtype_name(p->dtype));
    char dims[160] = "";
    size_t n = 0;
    for (int i = 0; i < p->rank && n < sizeof dims; i++) {
        const char *sep = i ? ", " : "";
        n += p->dims[i] == DAFT_DIM_DYNAMIC
                 ? (size_t)snprintf(dims + n, sizeof dims - n, "%s?", sep)
                 : (size_t)snprintf(dims + n, sizeof dims - n, "%s%lld", sep,
                                    (long long)p->dims[i]);
    }
    return snprintf(buf, cap, "tensor<%s, [%s]>", dtype_name(p->dtype), dims);
}

const char *plan_actor_label(const DaftPlan *p, int actor) {
    return actor == DAFT_PLAN_DRIVER ? "driver" : p->actors[actor].name;
}
