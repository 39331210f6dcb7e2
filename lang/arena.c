/* Arena allocation: everything of one compilation is freed at once, so a REPL that throws
 * away a failed parse leaks nothing and the parser never frees node by node. */
#include <daft/lang.h>

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

enum { ARENA_BLOCK_SIZE = 64 * 1024, ARENA_ALIGN = 16 };

typedef struct ArenaBlock {
    struct ArenaBlock *next;
    size_t used, size;
    _Alignas(16) unsigned char data[];
} ArenaBlock;

struct DaftArena {
    ArenaBlock *head;
};

static void *xcalloc(size_t n, size_t size) {
    void *p = calloc(n, size);
    if (!p) {
        /* Out of memory is the one condition a compiler cannot report and continue from. */
        fputs("daft: out of memory\n", stderr);
        abort();
    }
    return p;
}

DaftArena *daft_arena_new(void) { return xcalloc(1, sizeof(DaftArena)); }

void daft_arena_free(DaftArena *arena) {
    if (!arena)
        return;
    for (ArenaBlock *b = arena->head, *next; b; b = next) {
        next = b->next;
        free(b);
    }
    free(arena);
}

void *daft_arena_alloc(DaftArena *arena, size_t size) {
    size = (size + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
    ArenaBlock *b = arena->head;
    if (!b || b->size - b->used < size) {
        size_t cap = size > ARENA_BLOCK_SIZE ? size : ARENA_BLOCK_SIZE;
        b = xcalloc(1, sizeof(ArenaBlock) + cap);
        b->size = cap;
        b->next = arena->head;
        arena->head = b;
    }
    void *p = b->data + b->used;
    b->used += size;
    return p;
}

char *daft_arena_strndup(DaftArena *arena, const char *s, size_t n) {
    char *p = daft_arena_alloc(arena, n + 1);
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

char *daft_arena_printf(DaftArena *arena, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    char *p = daft_arena_alloc(arena, (size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(p, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return p;
}
