/* Types: names of dtypes and type kinds, rendering a type as written, equality. */
#include <daft/lang.h>

#include <string.h>

static const struct {
    const char *name;
    int size;
} dtypes[] = {
#define X(id, text, size) {text, size},
    DAFT_DTYPES(X)
#undef X
};

const char *daft_dtype_name(DaftDType dt) { return dt < DAFT_DT_COUNT ? dtypes[dt].name : "?"; }
int daft_dtype_size(DaftDType dt) { return dt < DAFT_DT_COUNT ? dtypes[dt].size : 0; }

bool daft_dtype_parse(const char *name, DaftDType *out) {
    for (int i = 0; i < DAFT_DT_COUNT; i++) {
        if (strcmp(dtypes[i].name, name) == 0) {
            *out = (DaftDType)i;
            return true;
        }
    }
    return false;
}

static const char *type_kind_names[] = {
#define X(id, text) text,
    DAFT_TYPE_KINDS(X)
#undef X
};

const char *daft_type_str(DaftArena *arena, const DaftType *ty) {
    if (!ty)
        return "void";
    switch (ty->kind) {
    case DAFT_TY_TENSOR: {
        if (ty->rank < 0)
            return daft_arena_printf(arena, "tensor<%s>", daft_dtype_name(ty->dtype));
        char *dims = "";
        for (int i = 0; i < ty->rank; i++) {
            const char *sep = i ? ", " : "";
            dims = ty->dims[i] == DAFT_DIM_DYNAMIC
                       ? daft_arena_printf(arena, "%s%s?", dims, sep)
                       : daft_arena_printf(arena, "%s%s%lld", dims, sep, (long long)ty->dims[i]);
        }
        return daft_arena_printf(arena, "tensor<%s, [%s]>", daft_dtype_name(ty->dtype), dims);
    }
    case DAFT_TY_REF:
        return daft_arena_printf(arena, "Ref<%s>", daft_type_str(arena, ty->elem));
    case DAFT_TY_LIST:
        return daft_arena_printf(arena, "[%s]", daft_type_str(arena, ty->elem));
    case DAFT_TY_ACTOR:
        return ty->actor_class && ty->actor_class->name ? ty->actor_class->name : "actor";
    default:
        return type_kind_names[ty->kind];
    }
}

bool daft_type_equal(const DaftType *a, const DaftType *b) {
    if (a == b)
        return true;
    if (!a || !b || a->kind != b->kind)
        return false;
    switch (a->kind) {
    case DAFT_TY_TENSOR:
        if (a->dtype != b->dtype || a->rank != b->rank)
            return false;
        for (int i = 0; i < a->rank; i++)
            if (a->dims[i] != b->dims[i])
                return false;
        return true;
    case DAFT_TY_REF:
    case DAFT_TY_LIST:
        return daft_type_equal(a->elem, b->elem);
    case DAFT_TY_ACTOR:
        return a->actor_class == b->actor_class;
    default:
        return true;
    }
}
