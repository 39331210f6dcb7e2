/* Semantic analysis: the entry point daft_check, the side table, global and local scopes,
 * and "did you mean" suggestions. The phases are described in sema.h. */
#include "sema.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- side table */

static size_t hash_ptr(const void *p) {
    uintptr_t x = (uintptr_t)p;
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    return (size_t)x;
}

static size_t hash_str(const char *s) {
    size_t h = 1469598103934665603ULL;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

SemaInfo *sema_info(Sema *S, const DaftNode *node) {
    if (S->ilen * 2 >= S->icap) {
        int ncap = S->icap ? S->icap * 2 : 256;
        SemaInfo *n = calloc((size_t)ncap, sizeof(SemaInfo));
        for (int i = 0; i < S->icap; i++) {
            if (!S->info[i].key)
                continue;
            size_t j = hash_ptr(S->info[i].key) & (size_t)(ncap - 1);
            while (n[j].key)
                j = (j + 1) & (size_t)(ncap - 1);
            n[j] = S->info[i];
        }
        free(S->info);
        S->info = n;
        S->icap = ncap;
    }
    size_t j = hash_ptr(node) & (size_t)(S->icap - 1);
    while (S->info[j].key && S->info[j].key != node)
        j = (j + 1) & (size_t)(S->icap - 1);
    if (!S->info[j].key) {
        S->info[j].key = node;
        S->ilen++;
    }
    return &S->info[j];
}

/* ---------------------------------------------------------------- globals */

DaftNode *sema_global(Sema *S, const char *name) {
    if (!S->gcap || !name)
        return NULL;
    size_t j = hash_str(name) & (size_t)(S->gcap - 1);
    while (S->globals[j].name) {
        if (strcmp(S->globals[j].name, name) == 0)
            return S->globals[j].decl;
        j = (j + 1) & (size_t)(S->gcap - 1);
    }
    return NULL;
}

void sema_global_add(Sema *S, DaftNode *decl, const char *name) {
    if (S->glen * 2 >= S->gcap) {
        int ncap = S->gcap ? S->gcap * 2 : 64;
        SemaSym *n = calloc((size_t)ncap, sizeof(SemaSym));
        for (int i = 0; i < S->gcap; i++) {
            if (!S->globals[i].name)
                continue;
            size_t j = hash_str(S->globals[i].name) & (size_t)(ncap - 1);
            while (n[j].name)
                j = (j + 1) & (size_t)(ncap - 1);
            n[j] = S->globals[i];
        }
        free(S->globals);
        S->globals = n;
        S->gcap = ncap;
    }
    size_t j = hash_str(name) & (size_t)(S->gcap - 1);
    while (S->globals[j].name)
        j = (j + 1) & (size_t)(S->gcap - 1);
    S->globals[j].name = name;
    S->globals[j].decl = decl;
    S->glen++;
}

/* ---------------------------------------------------------------- locals */

void sema_scope_push(Sema *S) { S->depth++; }

static bool is_discard_name(const char *name) { return name[0] == '_'; }

void sema_scope_pop(Sema *S) {
    int first = S->nlocals;
    while (first > 0 && S->locals[first - 1].depth == S->depth)
        first--;
    int end = S->nlocals;
    S->nlocals = first;
    for (int k = first; k < end; k++) {
        DaftNode *d = S->locals[k].decl;
        if (d->kind != DAFT_N_LET || is_discard_name(d->name))
            continue;
        SemaInfo *in = sema_info(S, d);
        if (in->read || in->quiet_unused || sema_is_error(d->ty))
            continue;
        DaftNode *v = d->value;
        bool is_ref = d->ty && d->ty->kind == DAFT_TY_REF && d->ty->elem &&
                      d->ty->elem->kind != DAFT_TY_VOID;
        (void)v;
        if (is_ref) {
            DaftDiag *w = daft_warning(S->diags, d->name_span, "Ref '%s' is never consumed", d->name);
            if (S->ctx == SEMA_CTX_COMPILED) /* no get there (SPEC 11.3) */
                daft_note(S->diags, w, d->name_span, "pass it to a method or return it, or name it '_%s' to discard it",
                          d->name);
            else
                daft_note(S->diags, w, d->name_span,
                          "pass it to 'get' to wait for the value (errors surface there), or name it "
                          "'_%s' to discard it",
                          d->name);
        } else if (in->written) {
            daft_warning(S->diags, d->name_span, "variable '%s' set but not used", d->name);
        } else {
            daft_warning(S->diags, d->name_span, "unused variable '%s'", d->name);
        }
    }
    S->depth--;
}

DaftNode *sema_local(Sema *S, const char *name) {
    for (int i = S->nlocals - 1; i >= 0; i--)
        if (strcmp(S->locals[i].name, name) == 0)
            return S->locals[i].decl;
    return NULL;
}

void sema_declare_local(Sema *S, DaftNode *decl) {
    const char *name = decl->name;
    if (!name)
        return;
    if (strcmp(name, "_") != 0) {
        for (int i = S->nlocals - 1; i >= 0 && S->locals[i].depth == S->depth; i--) {
            if (strcmp(S->locals[i].name, name) == 0) {
                DaftDiag *d = daft_error(S->diags, decl->name_span, "redefinition of '%s'", name);
                daft_note(S->diags, d, S->locals[i].decl->name_span, "previous definition is here");
                /* the uses after it may have meant either: no 'unused' for the first */
                sema_info(S, S->locals[i].decl)->quiet_unused = 1;
                break;
            }
        }
    }
    if (S->nlocals == S->lcap) {
        S->lcap = S->lcap ? S->lcap * 2 : 32;
        S->locals = realloc(S->locals, sizeof(SemaLocal) * (size_t)S->lcap);
    }
    S->locals[S->nlocals].name = name;
    S->locals[S->nlocals].decl = decl;
    S->locals[S->nlocals].depth = S->depth;
    S->nlocals++;
    decl->slot = S->next_slot++;
}

void sema_declare_param(Sema *S, DaftNode *decl) {
    if (S->nlocals == S->lcap) {
        S->lcap = S->lcap ? S->lcap * 2 : 32;
        S->locals = realloc(S->locals, sizeof(SemaLocal) * (size_t)S->lcap);
    }
    S->locals[S->nlocals].name = decl->name ? decl->name : "";
    S->locals[S->nlocals].decl = decl;
    S->locals[S->nlocals].depth = S->depth;
    S->nlocals++;
    decl->slot = S->next_slot++;
}

DaftNode *sema_lookup(Sema *S, const char *name) {
    DaftNode *d = sema_local(S, name);
    return d ? d : sema_global(S, name);
}

SemaBuiltin sema_builtin(const char *name) {
    static const struct {
        const char *name;
        SemaBuiltin b;
    } tab[] = {{"get", SEMA_BUILTIN_GET}, {"wait", SEMA_BUILTIN_WAIT}, {"len", SEMA_BUILTIN_LEN},
               {"print", SEMA_BUILTIN_PRINT}, {"i32", SEMA_BUILTIN_I32}, {"i64", SEMA_BUILTIN_I64},
               {"f32", SEMA_BUILTIN_F32}, {"f64", SEMA_BUILTIN_F64}, {"str", SEMA_BUILTIN_STR},
               {"is_error", SEMA_BUILTIN_IS_ERROR}, {"error_text", SEMA_BUILTIN_ERROR_TEXT},
               {"fail", SEMA_BUILTIN_FAIL}};
    for (size_t i = 0; i < sizeof tab / sizeof *tab; i++)
        if (strcmp(tab[i].name, name) == 0)
            return tab[i].b;
    return SEMA_BUILTIN_NONE;
}

/* ---------------------------------------------------------------- suggestions */

/* Levenshtein distance, giving up above `limit`. */
static int edit_distance(const char *a, const char *b, int limit) {
    int la = (int)strlen(a), lb = (int)strlen(b);
    if (la > 64 || lb > 64 || abs(la - lb) > limit)
        return limit + 1;
    int prev[65], cur[65];
    for (int j = 0; j <= lb; j++)
        prev[j] = j;
    for (int i = 1; i <= la; i++) {
        cur[0] = i;
        int best = cur[0];
        for (int j = 1; j <= lb; j++) {
            int c = prev[j - 1] + (a[i - 1] != b[j - 1]);
            if (prev[j] + 1 < c)
                c = prev[j] + 1;
            if (cur[j - 1] + 1 < c)
                c = cur[j - 1] + 1;
            cur[j] = c;
            if (c < best)
                best = c;
        }
        if (best > limit)
            return limit + 1;
        memcpy(prev, cur, sizeof(int) * (size_t)(lb + 1));
    }
    return prev[lb];
}

typedef struct Best {
    const char *name;
    DaftNode *decl;
    int dist, limit;
} Best;

static void consider(Best *b, const char *target, const char *cand, DaftNode *decl) {
    if (!cand || strcmp(cand, target) == 0)
        return;
    int d = edit_distance(target, cand, b->limit);
    if (d <= b->limit && d < b->dist) {
        b->dist = d;
        b->name = cand;
        b->decl = decl;
    }
}

static bool decl_matches(const DaftNode *d, int what) {
    switch (d->kind) {
    case DAFT_N_ACTOR: /* never for a value: a class there is an error of its own */
        return what & SEMA_SUGGEST_TYPE;
    case DAFT_N_FN:
    case DAFT_N_SCHEDULE:
        return what & (SEMA_SUGGEST_CALLABLE | SEMA_SUGGEST_VALUE);
    case DAFT_N_IMPORT:
    case DAFT_N_CONST:
    case DAFT_N_PARAM:
    case DAFT_N_LET:
    case DAFT_N_FOR:
    case DAFT_N_COMPREHENSION:
        return what & SEMA_SUGGEST_VALUE;
    default:
        return false;
    }
}

static Best suggest(Sema *S, const char *name, int what) {
    Best b = {NULL, NULL, 1000, strlen(name) <= 2 ? 1 : 2};
    for (int i = S->nlocals - 1; i >= 0; i--)
        if (decl_matches(S->locals[i].decl, what))
            consider(&b, name, S->locals[i].name, S->locals[i].decl);
    for (int i = 0; i < S->gcap; i++)
        if (S->globals[i].name && decl_matches(S->globals[i].decl, what))
            consider(&b, name, S->globals[i].name, S->globals[i].decl);
    if (what & SEMA_SUGGEST_CALLABLE) {
        static const char *builtins[] = {"get", "wait", "len", "print", "is_error", "error_text", "fail"};
        for (size_t i = 0; i < sizeof builtins / sizeof *builtins; i++)
            consider(&b, name, builtins[i], NULL);
    }
    if (what & SEMA_SUGGEST_TYPE) {
        static const char *types[] = {"i32", "i64", "f32", "f64", "bool", "str", "Comm", "tensor", "Ref"};
        for (size_t i = 0; i < sizeof types / sizeof *types; i++)
            consider(&b, name, types[i], NULL);
    }
    return b;
}

const char *sema_suggest(Sema *S, const char *name, int what) { return suggest(S, name, what).name; }
DaftNode *sema_suggest_decl(Sema *S, const char *name, int what) { return suggest(S, name, what).decl; }

int sema_edit_distance(const char *a, const char *b, int limit) { return edit_distance(a, b, limit); }

const char *sema_suggest_in(const char *name, const char *const *cands, int n) {
    Best b = {NULL, NULL, 1000, strlen(name) <= 2 ? 1 : 2};
    for (int i = 0; i < n; i++)
        consider(&b, name, cands[i], NULL);
    return b.name;
}

const char *sema_decl_what(const DaftNode *decl) {
    switch (decl->kind) {
    case DAFT_N_ACTOR: return "actor class";
    case DAFT_N_FN: return "function";
    case DAFT_N_SCHEDULE: return decl->is_compiled ? "compiled schedule" : "schedule";
    case DAFT_N_METHOD: return "method";
    case DAFT_N_FIELD: return "field";
    case DAFT_N_CONST: return "constant";
    case DAFT_N_IMPORT: return "module";
    case DAFT_N_PARAM: return "parameter";
    default: return "variable";
    }
}

void sema_note_decl(Sema *S, DaftDiag *d, const DaftNode *decl) {
    if (!decl)
        return;
    if (decl->kind == DAFT_N_IMPORT)
        daft_note(S->diags, d, decl->span, "'%s' imported here", decl->alias ? decl->alias : decl->name);
    else
        daft_note(S->diags, d, decl->name_span, "'%s' declared here", decl->name);
}

bool sema_is_valid_c_ident(const char *s) {
    if (!s || !*s)
        return false;
    if (!(s[0] == '_' || (s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z')))
        return false;
    for (const char *p = s; *p; p++)
        if (!(*p == '_' || (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
              (*p >= '0' && *p <= '9')))
            return false;
    return true;
}

/* ---------------------------------------------------------------- entry */

bool daft_check(DaftModule *mod, DaftDiagEngine *diags) {
    if (!mod || !mod->program)
        return diags->error_count == 0;
    Sema S;
    memset(&S, 0, sizeof S);
    S.arena = mod->arena;
    S.diags = diags;
    S.mod = mod;
    if (!diags->sources) {
        S.own_sources = calloc(1, sizeof(DaftSourceSet));
        diags->sources = S.own_sources;
    }
    sema_types_init(&S);

    int errors_before = diags->error_count;
    sema_collect(&S, mod->program);
    sema_signatures(&S, mod->program);
    sema_bodies(&S, mod->program);
    sema_driver_functions(&S);
    sema_compiled_recursion(&S, mod->program);

    bool ok = diags->error_count == errors_before && diags->error_count == 0;
    if (S.own_sources) {
        /* Notes may point into std sources; drop their locations with the set. */
        diags->sources = NULL;
        daft_source_set_free(S.own_sources);
        free(S.own_sources);
    }
    free(S.globals);
    free(S.locals);
    free(S.info);
    free(S.modules);
    free(S.calls);
    return ok;
}
