/* gen_idmap.c — the driver's tables keyed by Ref or handle id (gen_internal.h): one open-
 * addressing map of fixed-size records whose first field is their nonzero uint64_t id.
 * Linear probing; deletion shifts later records back (no tombstones), so a table that
 * sees many short-lived ids stays as small as the ids alive at once. */
#include "gen_internal.h"

#include <stdlib.h>
#include <string.h>

static size_t idmap_slot(uint64_t id, size_t cap) { return (size_t)(id * 0x9E3779B97F4A7C15ULL) & (cap - 1); }

static uint64_t *idmap_at(const GenIdMap *m, size_t i) { return (uint64_t *)((char *)m->slots + i * m->size); }

void *gen_idmap_find(const GenIdMap *m, uint64_t id)
{
    if (!m->cap || !id)
        return NULL;
    for (size_t j = idmap_slot(id, m->cap); *idmap_at(m, j); j = (j + 1) & (m->cap - 1))
        if (*idmap_at(m, j) == id)
            return idmap_at(m, j);
    return NULL;
}

void *gen_idmap_put(GenIdMap *m, uint64_t id)
{
    uint64_t *r = gen_idmap_find(m, id);
    if (r)
        return r;
    if ((m->len + 1) * 2 > m->cap) {
        GenIdMap n = {NULL, m->cap ? m->cap * 2 : 256, m->len, m->size};
        n.slots = calloc(n.cap, n.size);
        if (!n.slots)
            daft_gen_fatal("out of memory");
        for (size_t i = 0; i < m->cap; i++) {
            uint64_t *old = idmap_at(m, i);
            if (!*old)
                continue;
            size_t j = idmap_slot(*old, n.cap);
            while (*idmap_at(&n, j))
                j = (j + 1) & (n.cap - 1);
            memcpy(idmap_at(&n, j), old, m->size);
        }
        free(m->slots);
        *m = n;
    }
    size_t j = idmap_slot(id, m->cap);
    while (*idmap_at(m, j))
        j = (j + 1) & (m->cap - 1);
    r = idmap_at(m, j);
    memset(r, 0, m->size);
    *r = id;
    m->len++;
    return r;
}

void gen_idmap_del(GenIdMap *m, void *rec)
{
    size_t mask = m->cap - 1, i = (size_t)((char *)rec - (char *)m->slots) / m->size;
    *idmap_at(m, i) = 0;
    m->len--;
    for (size_t j = (i + 1) & mask; *idmap_at(m, j); j = (j + 1) & mask) {
        size_t home = idmap_slot(*idmap_at(m, j), m->cap);
        bool move = (j > i) ? (home <= i || home > j) : (home <= i && home > j);
        if (move) {
            memcpy(idmap_at(m, i), idmap_at(m, j), m->size);
            *idmap_at(m, j) = 0;
            i = j;
        }
    }
}

void gen_idmap_free(GenIdMap *m)
{
    free(m->slots);
    m->slots = NULL;
    m->cap = m->len = 0;
}
