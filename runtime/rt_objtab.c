/* rt_objtab.c — the object table: Ref id → state (pending, ready, error) and value.
 *
 * The driver keeps one for every live Ref (state and, once fetched, a cached copy); each
 * actor keeps one for the results it produced and one for values received from peers.
 * Chained hashing with individually allocated entries, so an RtObj pointer stays valid
 * while other entries come and go (callers hold them across message processing). */
#include "rt_internal.h"

#include <stdlib.h>

static size_t rt_hash(uint64_t id, size_t nbuckets)
{
    id ^= id >> 33;
    id *= 0xff51afd7ed558ccdULL;
    id ^= id >> 33;
    return (size_t)(id & (nbuckets - 1));
}

void rt_objtab_init(RtObjTab *t)
{
    t->buckets = NULL;
    t->nbuckets = t->count = 0;
}

void rt_objtab_free(RtObjTab *t)
{
    for (size_t i = 0; i < t->nbuckets; i++) {
        RtObj *o = t->buckets[i];
        while (o) {
            RtObj *next = o->next;
            daft_value_free(&o->value);
            free(o->copies);
            free(o);
            o = next;
        }
    }
    free(t->buckets);
    rt_objtab_init(t);
}

RtObj *rt_objtab_find(const RtObjTab *t, uint64_t id)
{
    if (!t->nbuckets)
        return NULL;
    for (RtObj *o = t->buckets[rt_hash(id, t->nbuckets)]; o; o = o->next)
        if (o->id == id)
            return o;
    return NULL;
}

/* Doubles the bucket array; entries move, their addresses do not. */
static int rt_objtab_grow(RtObjTab *t)
{
    size_t n = t->nbuckets ? t->nbuckets * 2 : 64;
    RtObj **b = calloc(n, sizeof *b);
    if (!b)
        return DAFT_ENOMEM;
    for (size_t i = 0; i < t->nbuckets; i++) {
        RtObj *o = t->buckets[i];
        while (o) {
            RtObj *next = o->next;
            size_t h = rt_hash(o->id, n);
            o->next = b[h];
            b[h] = o;
            o = next;
        }
    }
    free(t->buckets);
    t->buckets = b;
    t->nbuckets = n;
    return 0;
}

RtObj *rt_objtab_add(RtObjTab *t, uint64_t id)
{
    RtObj *o = rt_objtab_find(t, id);
    if (o)
        return o;
    if (t->count >= t->nbuckets && rt_objtab_grow(t))
        return NULL;
    o = calloc(1, sizeof *o);
    if (!o)
        return NULL;
    o->id = id;
    o->state = RT_OBJ_PENDING;
    size_t h = rt_hash(id, t->nbuckets);
    o->next = t->buckets[h];
    t->buckets[h] = o;
    t->count++;
    return o;
}

uint64_t rt_objtab_errors;

void rt_objtab_resolve(RtObj *o, DaftValue *v)
{
    daft_value_free(&o->value);
    o->value = *v;
    *v = daft_value_none();
    o->has_value = true;
    o->state = o->value.kind == DAFT_V_ERROR ? RT_OBJ_ERROR : RT_OBJ_READY;
    rt_objtab_errors += o->state == RT_OBJ_ERROR;
}

void rt_objtab_del(RtObjTab *t, uint64_t id)
{
    if (!t->nbuckets)
        return;
    RtObj **pp = &t->buckets[rt_hash(id, t->nbuckets)];
    for (; *pp; pp = &(*pp)->next) {
        if ((*pp)->id == id) {
            RtObj *o = *pp;
            *pp = o->next;
            daft_value_free(&o->value);
            free(o->copies);
            free(o);
            t->count--;
            return;
        }
    }
}

void rt_objtab_foreach(RtObjTab *t, void (*fn)(RtObj *o, void *arg), void *arg)
{
    for (size_t i = 0; i < t->nbuckets; i++) {
        RtObj *o = t->buckets[i];
        while (o) {
            RtObj *next = o->next; /* fn may delete o */
            fn(o, arg);
            o = next;
        }
    }
}
