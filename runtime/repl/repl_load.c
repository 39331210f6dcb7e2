/* repl_load.c — loading FILE.daft into the session: check it, compile it with daftc's
 * codegen into a shared object, dlopen it and register its actor classes (repl.h). */
#define _GNU_SOURCE
#include "repl.h"

#include "../../compiler/codegen.h"
#include "../../compiler/link.h"

#include <daft/gen.h>

#include <dlfcn.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

const ReplClass *repl_class(Repl *R, const char *name) {
    for (int i = R->nclasses - 1; i >= 0; i--)
        if (strcmp(R->classes[i].name, name) == 0)
            return &R->classes[i];
    return NULL;
}

static int actor_gpus(const DaftNode *actor) {
    for (int i = 0; i < actor->args.len; i++) {
        const DaftNode *a = actor->args.items[i];
        if (a && a->kind == DAFT_N_NAMED_ARG && a->name && strcmp(a->name, "gpus") == 0 && a->value &&
            a->value->kind == DAFT_N_INT_LIT)
            return (int)a->value->ival;
    }
    return 0;
}

static bool declares_actor(const DaftModule *mod, const char *name) {
    for (int j = 0; j < mod->program->items.len; j++) {
        const DaftNode *it = mod->program->items.items[j];
        if (it && it->kind == DAFT_N_ACTOR && it->name && strcmp(it->name, name) == 0)
            return true;
    }
    return false;
}

/* Is every class named in a binding's type declared by the new file? */
static bool type_resolves(const DaftModule *mod, const char *ty) {
    static const char *builtin[] = {"i32", "i64", "f32", "f64", "bool", "str", "Comm", "tensor",
                                    "Ref", "bf16", "f16", NULL};
    for (const char *p = ty; *p;) {
        if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || *p == '_') {
            const char *s = p;
            while ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_')
                p++;
            bool known = false;
            for (int i = 0; builtin[i]; i++)
                known |= strlen(builtin[i]) == (size_t)(p - s) && strncmp(builtin[i], s, (size_t)(p - s)) == 0;
            if (!known) {
                char name[256];
                snprintf(name, sizeof name, "%.*s", (int)(p - s), s);
                if (!declares_actor(mod, name))
                    return false;
            }
        } else {
            p++;
        }
    }
    return true;
}

static bool build_so(Repl *R, DaftModule *mod, DaftDiagEngine *diags, const char *so_path) {
    LinkJob job;
    memset(&job, 0, sizeof job);
    job.opt_level = 2;
    bool ok = link_prepare(mod, NULL, 0, &job, diags);
    if (ok) {
        CgOptions cg;
        memset(&cg, 0, sizeof cg);
        cg.output = CG_OUT_OBJ;
        cg.opt_level = 2;
        cg.library = true;
        char obj[600];
        snprintf(obj, sizeof obj, "%s", link_tmp_path(&job, "program.o"));
        cg.output_path = obj;
        ok = cg_emit(mod, &cg, diags);
        if (ok)
            ok = link_shared(&job, obj, so_path, diags);
    }
    link_cleanup(&job);
    (void)R;
    return ok;
}

bool repl_load(Repl *R, const char *path) {
    DaftSourceSet sources = {0};
    DaftDiagEngine diags;
    daft_diag_init(&diags, &sources);
    DaftArena *arena = daft_arena_new();
    bool ok = false;
    DaftSource *src = daft_source_load(&sources, path);
    DaftModule mod;
    char so_path[512] = "";
    void *dl = NULL;
    const DaftGenProgram *prog = NULL;
    if (!src) {
        repl_flush();
        fprintf(stderr, "daft-repl: error: cannot read '%s': %s\n", path, strerror(errno));
        goto done;
    }
    if (!daft_parse(arena, src, &diags, &mod) || !daft_check(&mod, &diags))
        goto done;
    /* The object lives in a scratch directory only until it is mapped: both are removed
     * right after dlopen, so an interrupted session leaves no files behind. */
    snprintf(R->tmpdir, sizeof R->tmpdir, "%s/daft-repl-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(R->tmpdir)) {
        daft_error(&diags, daft_span_none(), "cannot create a temporary directory: %s", strerror(errno));
        R->tmpdir[0] = 0;
        goto done;
    }
    snprintf(so_path, sizeof so_path, "%s/load%d.so", R->tmpdir, ++R->nloads);
    if (!build_so(R, &mod, &diags, so_path))
        goto done;
    /* RTLD_LAZY: driver code in the object (main, schedules) is never run by the REPL and
     * may name symbols (collectives) that this process does not define. */
    dl = dlopen(so_path, RTLD_LAZY | RTLD_LOCAL);
    if (!dl) {
        daft_error(&diags, daft_span_none(), "cannot load the compiled program: %s", dlerror());
        goto done;
    }
    prog = dlsym(dl, "daft_lib_program");
    if (!prog) {
        daft_error(&diags, daft_span_none(), "the compiled program has no class table");
        dlclose(dl);
        goto done;
    }
    /* Register the classes. Names may repeat across loads: the REPL keeps the ids. */
    for (int i = 0; i < prog->nclasses; i++) {
        int id = daft_gen_register_class(R->rt, &prog->classes[i]); /* + the collective method */
        if (id < 0) {
            daft_error(&diags, daft_span_none(), "cannot register actor class '%s': %s", prog->classes[i].name,
                       daft_rt_last_error(R->rt));
            goto done;
        }
        int gpus = 0;
        for (int j = 0; j < mod.program->items.len; j++) {
            DaftNode *it = mod.program->items.items[j];
            if (it && it->kind == DAFT_N_ACTOR && it->name && strcmp(it->name, prog->classes[i].name) == 0)
                gpus = actor_gpus(it);
        }
        R->classes = realloc(R->classes, sizeof *R->classes * (size_t)(R->nclasses + 1));
        R->classes[R->nclasses].name = repl_strdup(prog->classes[i].name);
        R->classes[R->nclasses].class_id = id;
        R->classes[R->nclasses].gpus = gpus;
        R->classes[R->nclasses].nmethods = prog->classes[i].nmethods;
        R->classes[R->nclasses].methods = calloc((size_t)prog->classes[i].nmethods + 1, sizeof(char *));
        for (int m = 0; m < prog->classes[i].nmethods; m++)
            R->classes[R->nclasses].methods[m] = repl_strdup(prog->classes[i].methods[m].name);
        R->nclasses++;
    }
    R->dl = dl; /* older objects stay mapped: their actors may still run */
    free(R->path);
    free(R->text);
    R->path = repl_strdup(path);
    R->text = malloc(src->size + 1);
    memcpy(R->text, src->text, src->size);
    R->text[src->size] = 0;
    R->text_len = src->size;
    R->generation++;
    for (int i = 0; i < R->nimports; i++) {
        free(R->import_alias[i]);
        free(R->import_module[i]);
    }
    R->nimports = 0;
    for (int i = 0; i < R->ndecl_names; i++)
        free(R->decl_names[i]);
    free(R->decl_names);
    R->decl_names = calloc((size_t)mod.program->items.len + 1, sizeof(char *));
    R->ndecl_names = 0;
    for (int i = 0; i < mod.program->items.len; i++) {
        DaftNode *it = mod.program->items.items[i];
        if (!it || it->kind == DAFT_N_LINK)
            continue;
        const char *nm = it->kind == DAFT_N_IMPORT ? (it->alias ? it->alias : strrchr(it->name, '.') ? strrchr(it->name, '.') + 1 : it->name)
                                                   : it->name;
        if (nm)
            R->decl_names[R->ndecl_names++] = repl_strdup(nm);
        if (it->kind == DAFT_N_IMPORT && nm && it->name) {
            R->import_alias = realloc(R->import_alias, sizeof(char *) * (size_t)(R->nimports + 1));
            R->import_module = realloc(R->import_module, sizeof(char *) * (size_t)(R->nimports + 1));
            R->import_alias[R->nimports] = repl_strdup(nm);
            R->import_module[R->nimports] = repl_strdup(it->name);
            R->nimports++;
        }
    }
    /* Bindings whose types name classes that no longer exist are dropped. */
    int k = 0;
    for (int i = 0; i < R->nbinds; i++) {
        if (type_resolves(&mod, R->binds[i].type)) {
            R->binds[k++] = R->binds[i];
        } else {
            fprintf(R->out, "note: dropped '%s' (its type %s is not declared by %s)\n", R->binds[i].name,
                    R->binds[i].type, path);
            repl_binding_free(&R->binds[i]);
        }
    }
    R->nbinds = k;
    ok = true;
done:
    repl_flush();
    daft_diag_print(&diags, stderr, DAFT_DIAG_TEXT);
    fflush(stderr);
    if (so_path[0])
        unlink(so_path);
    if (R->tmpdir[0])
        rmdir(R->tmpdir);
    R->tmpdir[0] = 0;
    daft_arena_free(arena);
    daft_diag_free(&diags);
    daft_source_set_free(&sources);
    return ok;
}
