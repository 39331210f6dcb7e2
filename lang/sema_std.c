/* The std modules: their embedded declaration texts (generated from the stdlib/std .daft files by
 * lang/sema_embed.cmake), loading them on import, and the per-function rules that the
 * declarations cannot express (named arguments, optional arguments, scalar operands). */
#include "sema.h"

#include <stdlib.h>
#include <string.h>

extern const struct {
    const char *path;
    const char *text;
    size_t len;
} daft_std_modules[];
extern const int daft_std_module_count;

const char *sema_std_text(const char *path, size_t *len) {
    for (int i = 0; i < daft_std_module_count; i++) {
        if (strcmp(daft_std_modules[i].path, path) == 0) {
            *len = daft_std_modules[i].len;
            return daft_std_modules[i].text;
        }
    }
    return NULL;
}

const char *const *sema_std_modules(int *n) {
    static const char *paths[16];
    int k = 0;
    for (int i = 0; i < daft_std_module_count && k < 16; i++)
        paths[k++] = daft_std_modules[i].path;
    *n = k;
    return paths;
}

DaftNode *sema_load_module(Sema *S, const char *path) {
    for (int i = 0; i < S->nmodules; i++)
        if (strcmp(S->modules[i].path, path) == 0)
            return S->modules[i].program;
    size_t len;
    const char *text = sema_std_text(path, &len);
    if (!text)
        return NULL;
    /* Shown in notes as e.g. "<std>/tensor.daft". */
    const char *dot = strrchr(path, '.');
    char *shown = daft_arena_printf(S->arena, "<std>/%s.daft", dot ? dot + 1 : path);
    DaftSource *src = daft_source_from_string(S->diags->sources, shown, text, len);
    DaftModule m;
    int before = S->diags->error_count;
    daft_parse(S->arena, src, S->diags, &m);
    if (S->diags->error_count != before || !m.program)
        return NULL;
    S->modules = realloc(S->modules, sizeof(SemaLoadedModule) * (size_t)(S->nmodules + 1));
    S->modules[S->nmodules].path = path;
    S->modules[S->nmodules].program = m.program;
    S->nmodules++;
    bool saved = S->in_std;
    S->in_std = true;
    for (int i = 0; i < m.program->items.len; i++) {
        DaftNode *fn = m.program->items.items[i];
        if (fn->kind != DAFT_N_FN)
            continue;
        SemaInfo *in = sema_info(S, fn);
        in->is_std = 1;
        in->module = path;
        sema_fn_signature(S, fn);
    }
    S->in_std = saved;
    return m.program;
}

const char *const *sema_std_named_args(const char *module, const char *fn) {
    static const char *const dtype[] = {"dtype", NULL};
    static const char *const op[] = {"op", NULL};
    static const char *const root[] = {"root", NULL};
    static const char *const backend[] = {"backend", NULL};
    if (!module)
        return NULL;
    if (strcmp(module, "std.tensor") == 0) {
        if (!strcmp(fn, "randn") || !strcmp(fn, "rand") || !strcmp(fn, "zeros") || !strcmp(fn, "ones"))
            return dtype;
        return NULL;
    }
    if (strcmp(module, "std.collective") == 0) {
        if (!strcmp(fn, "allreduce") || !strcmp(fn, "reducescatter"))
            return op;
        if (!strcmp(fn, "broadcast"))
            return root;
        if (!strcmp(fn, "init"))
            return backend;
    }
    return NULL;
}

int sema_std_min_args(const char *module, const DaftNode *fn) {
    /* collective operations: the communicator may be left out (paper Table 1, Opt[Comm]) */
    if (module && strcmp(module, "std.collective") == 0 && fn->params.len == 2 &&
        strcmp(fn->params.items[1]->name, "comm") == 0)
        return 1;
    return -1;
}

bool sema_std_scalar_operand(const char *module, const DaftNode *fn, int index) {
    return module && strcmp(module, "std.tensor") == 0 && index == 1 &&
           (!strcmp(fn->name, "add") || !strcmp(fn->name, "mul"));
}
