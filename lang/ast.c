/* AST construction helpers and the names printed for node kinds and operators. */
#include <daft/lang.h>

#include <string.h>

static const char *node_kind_names[] = {
#define X(id, text) text,
    DAFT_NODE_KINDS(X)
#undef X
};

const char *daft_node_kind_name(DaftNodeKind kind) {
    return kind < DAFT_N_COUNT ? node_kind_names[kind] : "?";
}

static const char *op_names[] = {
#define X(id, text) text,
    DAFT_OPS(X)
#undef X
};

const char *daft_op_name(DaftOp op) { return op_names[op]; }

DaftNode *daft_node_new(DaftArena *arena, DaftNodeKind kind, DaftSpan span) {
    DaftNode *n = daft_arena_alloc(arena, sizeof(DaftNode));
    n->kind = kind;
    n->span = span;
    n->name_span = span;
    n->slot = -1;
    return n;
}

void daft_node_list_push(DaftArena *arena, DaftNodeList *list, DaftNode *node) {
    if (list->len == list->cap) {
        int cap = list->cap ? list->cap * 2 : 4;
        DaftNode **items = daft_arena_alloc(arena, sizeof(DaftNode *) * (size_t)cap);
        if (list->len)
            memcpy(items, list->items, sizeof(DaftNode *) * (size_t)list->len);
        list->items = items;
        list->cap = cap;
    }
    list->items[list->len++] = node;
}

const DaftNode *daft_schedule_ref_param(const DaftNode *sc) {
    for (int i = 0; sc && i < sc->params.len; i++) {
        const DaftType *t = sc->params.items[i]->ty;
        while (t && t->kind == DAFT_TY_LIST && t->elem)
            t = t->elem;
        if (t && t->kind == DAFT_TY_REF)
            return sc->params.items[i];
    }
    return NULL;
}
