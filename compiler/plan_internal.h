/* Internals of libdaftplan shared by compiler/plan*.c and compiler/trace*.c. Not installed,
 * not for the runtime: everything here may change. */
#ifndef DAFT_PLAN_INTERNAL_H
#define DAFT_PLAN_INTERNAL_H

#include <daft/plan.h>

#include <stdarg.h>
#include <stdint.h>

/* A bump allocator: a graph, a plan or a trace result frees all its memory at once, so the
 * runtime can plan and drop plans repeatedly without tracking each array. */
typedef struct PlanArena PlanArena;

PlanArena *plan_arena_new(void);
void plan_arena_free(PlanArena *a);
void *plan_alloc(PlanArena *a, size_t size);                /* zeroed, 16-byte aligned */
char *plan_strdup(PlanArena *a, const char *s);             /* NULL stays NULL */
char *plan_printf(PlanArena *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Grows *items (of elem bytes each) to hold at least need; *cap tracks capacity. The old
 * block stays in the arena (freed with it), which is fine for append-only arrays. */
void plan_grow(PlanArena *a, void **items, int *cap, int need, size_t elem);
#define PLAN_PUSH(arena, arr, len, cap) \
    (plan_grow((arena), (void **)&(arr), &(cap), (len) + 1, sizeof(*(arr))), &(arr)[(len)++])

/* Heap (not arena) helpers for scratch data that lives only during one call. */
void *plan_xmalloc(size_t size);
void *plan_xcalloc(size_t n, size_t size);
void *plan_xrealloc(void *p, size_t size);

/* snprintf into a caller's error buffer (which may be NULL or 0 bytes). Returns -1. */
int plan_fail(char *err, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* An open-addressing map from a 64-bit key to an int (keys must not be UINT64_MAX). */
typedef struct PlanMap {
    uint64_t *keys;
    int *vals;
    size_t cap, len;
} PlanMap;

void plan_map_init(PlanMap *m);
void plan_map_free(PlanMap *m);
void plan_map_put(PlanMap *m, uint64_t key, int val);
bool plan_map_get(const PlanMap *m, uint64_t key, int *val);

static inline uint64_t plan_key2(int a, int b) {
    return ((uint64_t)(uint32_t)a << 32) | (uint32_t)b;
}

/* A growable stdio-free text buffer for printers that must not depend on FILE. */
const char *plan_actor_label(const DaftPlan *p, int actor); /* name, or "driver" */

#endif /* DAFT_PLAN_INTERNAL_H */
