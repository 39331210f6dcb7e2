/* compiler/link.c — compiling user kernels, checking extern symbols, linking (see link.h).
 * Commands run through fork/execvp with argument vectors (no shell), so paths may hold
 * any character. */
#include "link.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef DAFT_LIB_GEN
#define DAFT_LIB_GEN ""
#endif
#ifndef DAFT_LIB_STD
#define DAFT_LIB_STD ""
#endif
#ifndef DAFT_LIB_RT
#define DAFT_LIB_RT ""
#endif
#ifndef DAFT_LIB_PLAN
#define DAFT_LIB_PLAN ""
#endif
#ifndef DAFT_LIB_LANG
#define DAFT_LIB_LANG ""
#endif
#ifndef DAFT_LINK_EXTRA
#define DAFT_LINK_EXTRA "-lpthread -lm -ldl"
#endif
#ifndef DAFT_INCLUDE_DIR
#define DAFT_INCLUDE_DIR ""
#endif

/* ---------------------------------------------------------------- processes */

/* Runs argv; returns the exit status (or -1 when it could not run). With out != NULL the
 * command's stdout is read into *out (malloc'd, NUL-terminated); with diag_out also its
 * stderr, in the C locale (ASCII quotes in compiler diagnostics). */
static int run_ex(char *const *argv, char **out, bool diag_out) {
    int fds[2] = {-1, -1};
    if (out && pipe(fds) != 0)
        return -1;
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        if (out) {
            dup2(fds[1], 1);
            if (diag_out) {
                dup2(fds[1], 2);
                setenv("LC_ALL", "C", 1);
            }
            close(fds[0]);
            close(fds[1]);
        }
        execvp(argv[0], argv);
        fprintf(stderr, "daftc: cannot run '%s': %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    if (out) {
        close(fds[1]);
        size_t len = 0, cap = 4096;
        char *buf = malloc(cap);
        for (;;) {
            if (len + 1024 > cap)
                buf = realloc(buf, cap *= 2);
            ssize_t n = read(fds[0], buf + len, cap - len - 1);
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0)
                break;
            len += (size_t)n;
        }
        buf[len] = 0;
        close(fds[0]);
        *out = buf;
    }
    int st;
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR)
            return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + (WIFSIGNALED(st) ? WTERMSIG(st) : 0);
}

static int run(char *const *argv, char **out) { return run_ex(argv, out, false); }

static bool file_exists(const char *p) {
    struct stat sb;
    return p && *p && stat(p, &sb) == 0;
}

static bool has_ext(const char *p, const char *ext) {
    size_t n = strlen(p), e = strlen(ext);
    return n > e && strcmp(p + n - e, ext) == 0;
}

static void job_add(LinkJob *job, const char *path) {
    if (job->nobjects == job->cap) {
        job->cap = job->cap ? job->cap * 2 : 8;
        job->objects = realloc(job->objects, sizeof(char *) * (size_t)job->cap);
    }
    job->objects[job->nobjects++] = strdup(path);
}

const char *link_tmp_path(LinkJob *job, const char *name) {
    static char buf[512];
    snprintf(buf, sizeof buf, "%s/%s", job->tmpdir, name);
    return buf;
}

/* ---------------------------------------------------------------- library locations */

typedef struct Libs {
    char gen[1024], std[1024], rt[1024], plan[1024], lang[1024];
    char include[1024];
} Libs;

/* Formats into dst (cap bytes); a path that does not fit is treated as absent. */
static bool path_fmt(char *dst, size_t cap, const char *dir, const char *name) {
    int n = snprintf(dst, cap, "%s%s", dir, name);
    if (n < 0 || (size_t)n >= cap) {
        dst[0] = 0;
        return false;
    }
    return true;
}

static void lib_in(char *dst, const char *dir, const char *name) {
    char file[1100];
    snprintf(file, sizeof file, "/%s", name);
    if (!path_fmt(dst, 1024, dir, file) || !file_exists(dst))
        dst[0] = 0;
}

static void find_libs(Libs *L) {
    memset(L, 0, sizeof *L);
    const char *dir = getenv("DAFT_LIBDIR");
    char exe_lib[1100] = "", exe_inc[1100] = "";
    char self[1000];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n > 0) {
        self[n] = 0;
        char *slash = strrchr(self, '/');
        if (slash) {
            *slash = 0;
            path_fmt(exe_lib, sizeof exe_lib, self, "/../lib/daft");
            path_fmt(exe_inc, sizeof exe_inc, self, "/../include");
            char probe[1200];
            if (!path_fmt(probe, sizeof probe, exe_lib, "/libdaftrt.a") || !file_exists(probe))
                exe_lib[0] = 0;
        }
    }
    if (!dir && exe_lib[0])
        dir = exe_lib;
    if (dir) {
        lib_in(L->gen, dir, "libdaftgen.a");
        lib_in(L->std, dir, "libdaftstd.a");
        lib_in(L->rt, dir, "libdaftrt.a");
        lib_in(L->plan, dir, "libdaftplan.a");
        lib_in(L->lang, dir, "libdaftlang.a");
    } else {
        snprintf(L->gen, sizeof L->gen, "%s", DAFT_LIB_GEN);
        snprintf(L->std, sizeof L->std, "%s", DAFT_LIB_STD);
        snprintf(L->rt, sizeof L->rt, "%s", DAFT_LIB_RT);
        snprintf(L->plan, sizeof L->plan, "%s", DAFT_LIB_PLAN);
        snprintf(L->lang, sizeof L->lang, "%s", DAFT_LIB_LANG);
    }
    const char *inc = getenv("DAFT_INCLUDEDIR");
    char probe[1200];
    if (!inc && exe_inc[0] && path_fmt(probe, sizeof probe, exe_inc, "/daftrt.h") && file_exists(probe))
        inc = exe_inc;
    path_fmt(L->include, sizeof L->include, inc ? inc : DAFT_INCLUDE_DIR, "");
}

/* ---------------------------------------------------------------- compiling kernels */

static const char *cc_cmd(void) {
    const char *cc = getenv("CC");
    return cc && *cc ? cc : "cc";
}

static char *resolve_rel(DaftModule *mod, const char *path) {
    if (path[0] == '/' || !mod->source || !strchr(mod->source->path, '/'))
        return strdup(path);
    const char *src = mod->source->path;
    size_t dn = (size_t)(strrchr(src, '/') - src);
    char *out = malloc(dn + strlen(path) + 2);
    memcpy(out, src, dn);
    out[dn] = '/';
    strcpy(out + dn + 1, path);
    return out;
}

static bool compile_one(LinkJob *job, const Libs *L, const char *src, DaftSpan where, DaftDiagEngine *diags) {
    if (!file_exists(src)) {
        daft_error(diags, where, "cannot find linked file '%s'", src);
        return false;
    }
    if (has_ext(src, ".o") || has_ext(src, ".a") || has_ext(src, ".so")) {
        job_add(job, src);
        return true;
    }
    bool cuda = has_ext(src, ".cu");
    if (!cuda && !has_ext(src, ".c")) {
        daft_error(diags, where, "don't know how to build '%s' (expected .c, .cu, .o, .a or .so)", src);
        return false;
    }
    char obj[600];
    snprintf(obj, sizeof obj, "%s/k%d.o", job->tmpdir, job->nobjects);
    char inc[1100];
    snprintf(inc, sizeof inc, "-I%s", L->include);
    char *argv[16];
    int k = 0;
    if (cuda) {
        argv[k++] = "nvcc";
        argv[k++] = "-c";
        argv[k++] = "-O2";
        argv[k++] = "-Xcompiler";
        argv[k++] = "-fPIC";
    } else {
        argv[k++] = (char *)cc_cmd();
        argv[k++] = "-c";
        argv[k++] = job->opt_level ? "-O2" : "-O0";
        argv[k++] = "-fPIC";
    }
    if (job->debug)
        argv[k++] = "-g";
    if (L->include[0])
        argv[k++] = inc;
    argv[k++] = (char *)src;
    argv[k++] = "-o";
    argv[k++] = obj;
    argv[k] = NULL;
    int st = run(argv, NULL);
    if (st != 0) {
        if (st == 127 && cuda)
            daft_error(diags, where, "cannot compile '%s': nvcc was not found (CUDA Toolkit)", src);
        else
            daft_error(diags, where, "cannot compile '%s': %s exited with status %d", src, argv[0], st);
        return false;
    }
    job_add(job, obj);
    return true;
}

/* ---------------------------------------------------------------- symbol check */

typedef struct SymSet {
    char *text; /* nm outputs, concatenated */
    size_t len;
} SymSet;

static void syms_add(SymSet *s, const char *file) {
    char *argv[6] = {"nm", "-g", "--defined-only", NULL, NULL, NULL};
    int k = 3;
    if (has_ext(file, ".so"))
        argv[k++] = "-D";
    argv[k++] = (char *)file;
    argv[k] = NULL;
    char *out = NULL;
    if (run(argv, &out) != 0 && !out)
        return;
    size_t n = strlen(out);
    s->text = realloc(s->text, s->len + n + 2);
    memcpy(s->text + s->len, out, n);
    s->len += n;
    s->text[s->len++] = '\n';
    s->text[s->len] = 0;
    free(out);
}

/* True when a line of nm output ends with " <type> name". */
static bool syms_has(const SymSet *s, const char *name) {
    if (!s->text)
        return false;
    size_t n = strlen(name);
    for (const char *p = s->text; (p = strstr(p, name)); p += n) {
        bool starts = p > s->text && p[-1] == ' ';
        bool ends = p[n] == '\n' || p[n] == 0;
        if (starts && ends && p - s->text >= 2 && p[-2] != 'U' && p[-2] != 'w' && p[-2] != 'v')
            return true;
    }
    return false;
}

static void check_extern(DaftModule *mod, DaftNode *d, const char *owner, const SymSet *syms,
                         const DaftNode *first_link, DaftDiagEngine *diags) {
    if (!d->is_extern || !d->symbol)
        return;
    if (mod->source && d->span.file != mod->source->id)
        return; /* std declarations live in libdaftstd */
    if (syms_has(syms, d->symbol))
        return;
    DaftDiag *e;
    if (!first_link)
        e = daft_error(diags, d->name_span,
                       "extern symbol '%s' of '%s%s%s' is not defined: no C or CUDA source is linked",
                       d->symbol, owner ? owner : "", owner ? "." : "", d->name);
    else
        e = daft_error(diags, d->name_span,
                       "extern symbol '%s' of '%s%s%s' is not defined in the linked sources", d->symbol,
                       owner ? owner : "", owner ? "." : "", d->name);
    if (first_link)
        daft_note(diags, e, first_link->span, "sources are linked here");
    else
        daft_note(diags, e, daft_span_none(), "add `link \"kernels.c\";` naming the C file that defines it");
}

/* ---------------------------------------------------------------- signature check
 *
 * Every user `extern fn` bound to a symbol that the linked objects define must have the C
 * prototype of the typed kernel ABI (include/daft/gen.h, "typed extern kernels"). daftc
 * writes those prototypes into a header (sigs.h in the scratch directory) and compiles each
 * linked .c source once more with `cc -fsyntax-only -include sigs.h`: a definition (or a
 * declaration) in the C source whose type differs is then a "conflicting types for 'sym'"
 * error of the C compiler (gcc and clang word it alike), which daftc reports at the extern
 * declaration, naming the expected prototype, with the C location in a note.
 * Not checked: .cu sources (nvcc compiles C++ with CUDA extensions, where a different
 * prototype is an overload rather than a conflict, and nvcc may be absent on the machine
 * that compiles), and .o/.a/.so inputs, which carry no types (only the symbol's presence is
 * checked with nm). A syntax-only run that fails without such a diagnostic (e.g. the header
 * cannot find daft/gen.h) is ignored: the real compile of the source already succeeded. */

typedef struct Buf {
    char *s;
    size_t len, cap;
} Buf;

static void buf_add(Buf *b, const char *t) {
    size_t n = strlen(t);
    if (b->len + n + 1 > b->cap) {
        b->cap = (b->len + n + 1) * 2;
        b->s = realloc(b->s, b->cap);
    }
    memcpy(b->s + b->len, t, n + 1);
    b->len += n;
}

/* The C type of a parameter or result (gen.h's table); NULL for a type that has none. */
static const char *ctype_of(const DaftType *t, bool result) {
    if (!t)
        return result ? "void" : NULL;
    switch (t->kind) {
    case DAFT_TY_VOID: return result ? "void" : NULL;
    case DAFT_TY_BOOL: return "bool";
    case DAFT_TY_I32: return "int32_t";
    case DAFT_TY_I64: return "int64_t";
    case DAFT_TY_F32: return "float";
    case DAFT_TY_F64: return "double";
    case DAFT_TY_STR: return result ? "char *" : "const char *";
    case DAFT_TY_TENSOR: return result ? "DaftTensor *" : "const DaftTensor *";
    case DAFT_TY_ERROR: return NULL;
    default: return result ? "DaftValue *" : "const DaftValue *";
    }
}

static void add_typed(Buf *b, const char *ctype, const char *name) {
    buf_add(b, ctype);
    if (name) {
        if (ctype[strlen(ctype) - 1] != '*')
            buf_add(b, " ");
        buf_add(b, name);
    }
}

/* The expected prototype of extern `d`: with parameter names (for messages), or without
 * (for the header: daft names may be C keywords or macros). False when a type is unknown
 * (an error was reported before). */
static bool kernel_proto(const DaftNode *d, bool names, Buf *b) {
    const char *rt = ctype_of(d->ty, true);
    if (!rt)
        return false;
    add_typed(b, rt, d->symbol);
    buf_add(b, "(");
    add_typed(b, "DaftActorCtx *", names ? "ctx" : NULL);
    for (int i = 0; i < d->params.len; i++) {
        const DaftNode *p = d->params.items[i];
        const char *ct = ctype_of(p->ty, false);
        if (!ct)
            return false;
        const char *pn = names ? p->name : NULL;
        buf_add(b, ", ");
        add_typed(b, ct, pn);
        if (p->ty->kind == DAFT_TY_STR) {
            buf_add(b, ", ");
            if (pn) {
                add_typed(b, "size_t", pn);
                buf_add(b, "_len");
            } else
                buf_add(b, "size_t");
        }
    }
    buf_add(b, ")");
    return true;
}

typedef struct SigDecl {
    DaftNode *d;
    const char *owner;
    char *proto;    /* without names, as in the header */
    bool reported;
} SigDecl;

typedef struct SigCheck {
    SigDecl *v;
    int n, cap;
} SigCheck;

static void sig_collect(DaftModule *mod, DaftNode *d, const char *owner, const SymSet *syms, SigCheck *sc) {
    if (!d->is_extern || !d->symbol || (mod->source && d->span.file != mod->source->id))
        return;
    if (!syms_has(syms, d->symbol))
        return; /* reported as missing */
    Buf b = {0};
    if (!kernel_proto(d, false, &b)) {
        free(b.s);
        return;
    }
    if (sc->n == sc->cap) {
        sc->cap = sc->cap ? sc->cap * 2 : 8;
        sc->v = realloc(sc->v, sizeof *sc->v * (size_t)sc->cap);
    }
    sc->v[sc->n++] = (SigDecl){d, owner, b.s, false};
}

static void sig_report(SigDecl *sd, const char *cloc, DaftDiagEngine *diags) {
    if (sd->reported)
        return;
    sd->reported = true;
    Buf b = {0};
    kernel_proto(sd->d, true, &b);
    DaftDiag *e = daft_error(diags, sd->d->name_span,
                             "C function '%s' does not match the declaration of '%s%s%s': expected '%s'",
                             sd->d->symbol, sd->owner ? sd->owner : "", sd->owner ? "." : "",
                             sd->d->name, b.s);
    daft_note(diags, e, daft_span_none(), "the C function is declared at %s", cloc);
    free(b.s);
}

/* The symbol named by a C compiler diagnostic that says a declaration conflicts with an
 * earlier one of another type or kind (copied into sym), or false. */
static bool conflict_symbol(const char *msg, char *sym, size_t cap) {
    static const char *const pats[] = {
        "conflicting types for '",          /* gcc, clang */
        "redefinition of '",                /* clang: "redefinition of 'f' as different kind of symbol" */
        "'",                                /* gcc: "'f' redeclared as different kind of symbol" */
    };
    for (size_t i = 0; i < sizeof pats / sizeof *pats; i++) {
        size_t pn = strlen(pats[i]);
        if (strncmp(msg, pats[i], pn) != 0)
            continue;
        const char *a = msg + pn, *z = strchr(a, '\'');
        if (!z || (size_t)(z - a) >= cap || z == a)
            continue;
        if (i == 1 && !strstr(z, "as different kind of symbol"))
            continue;
        if (i == 2 && strncmp(z, "' redeclared as different kind of symbol", 40) != 0)
            continue;
        memcpy(sym, a, (size_t)(z - a));
        sym[z - a] = 0;
        return true;
    }
    return false;
}

static void check_signatures(LinkJob *job, const Libs *L, char **csrcs, int ncsrcs, SigCheck *sc,
                             DaftDiagEngine *diags) {
    if (!sc->n || !ncsrcs)
        return;
    char header[600];
    snprintf(header, sizeof header, "%s/sigs.h", job->tmpdir);
    FILE *f = fopen(header, "w");
    if (!f)
        return;
    fputs("/* generated by daftc: the C prototypes of the program's extern declarations\n"
          " * (the typed kernel ABI of include/daft/gen.h) */\n"
          "#include <daft/gen.h>\n#include <stdbool.h>\n#include <stddef.h>\n#include <stdint.h>\n",
          f);
    for (int i = 0; i < sc->n; i++) {
        bool dup = false;
        for (int j = 0; j < i && !dup; j++)
            if (strcmp(sc->v[j].d->symbol, sc->v[i].d->symbol) == 0) {
                dup = true;
                if (strcmp(sc->v[j].proto, sc->v[i].proto) != 0 && !sc->v[i].reported) {
                    /* both cannot match the one C function */
                    sc->v[i].reported = true;
                    Buf b = {0};
                    kernel_proto(sc->v[j].d, true, &b);
                    DaftDiag *e = daft_error(
                        diags, sc->v[i].d->name_span,
                        "extern symbol '%s' of '%s%s%s' is also bound, with another C prototype, by '%s%s%s'",
                        sc->v[i].d->symbol, sc->v[i].owner ? sc->v[i].owner : "", sc->v[i].owner ? "." : "",
                        sc->v[i].d->name, sc->v[j].owner ? sc->v[j].owner : "", sc->v[j].owner ? "." : "",
                        sc->v[j].d->name);
                    daft_note(diags, e, sc->v[j].d->name_span, "which expects '%s'", b.s);
                    free(b.s);
                }
            }
        if (!dup)
            fprintf(f, "%s;\n", sc->v[i].proto);
    }
    fclose(f);
    char inc[1100];
    snprintf(inc, sizeof inc, "-I%s", L->include);
    for (int s = 0; s < ncsrcs; s++) {
        char *argv[12];
        int k = 0;
        argv[k++] = (char *)cc_cmd();
        argv[k++] = "-fsyntax-only";
        argv[k++] = "-fdiagnostics-color=never";
        if (L->include[0])
            argv[k++] = inc;
        argv[k++] = "-include";
        argv[k++] = header;
        argv[k++] = csrcs[s];
        argv[k] = NULL;
        char *out = NULL;
        int st = run_ex(argv, &out, true);
        if (st != 0 && out) {
            for (char *line = out, *next; line && *line; line = next) {
                next = strchr(line, '\n');
                if (next)
                    *next++ = 0;
                char *err = strstr(line, ": error: ");
                char sym[256];
                if (!err || !conflict_symbol(err + 9, sym, sizeof sym))
                    continue;
                *err = 0; /* line = "file:line:col" of the C declaration */
                if (strncmp(line, header, strlen(header)) == 0)
                    continue;
                for (int i = 0; i < sc->n; i++)
                    if (strcmp(sc->v[i].d->symbol, sym) == 0)
                        sig_report(&sc->v[i], line, diags);
            }
        }
        free(out);
    }
}

bool link_check_files(const char *const *paths, int n, DaftDiagEngine *diags) {
    bool ok = true;
    for (int i = 0; i < n; i++) {
        if (!file_exists(paths[i])) {
            daft_error(diags, daft_span_none(), "cannot find linked file '%s'", paths[i]);
            ok = false;
        }
    }
    return ok;
}

bool link_prepare(DaftModule *mod, const char *const *extra, int nextra, LinkJob *job, DaftDiagEngine *diags) {
    snprintf(job->tmpdir, sizeof job->tmpdir, "%s/daftc-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(job->tmpdir)) {
        daft_error(diags, daft_span_none(), "cannot create a temporary directory: %s", strerror(errno));
        job->tmpdir[0] = 0;
        return false;
    }
    Libs L;
    find_libs(&L);
    bool ok = true;
    DaftNode *prog = mod->program;
    const DaftNode *first_link = NULL;
    char **csrcs = calloc((size_t)(prog->items.len + nextra + 1), sizeof *csrcs); /* .c sources */
    int ncsrcs = 0;
    for (int i = 0; i < prog->items.len; i++) {
        DaftNode *it = prog->items.items[i];
        if (it->kind != DAFT_N_LINK || !it->name)
            continue;
        if (!first_link)
            first_link = it;
        char *path = resolve_rel(mod, it->name);
        bool one = compile_one(job, &L, path, it->span, diags);
        ok &= one;
        if (one && has_ext(path, ".c"))
            csrcs[ncsrcs++] = path;
        else
            free(path);
    }
    for (int i = 0; i < nextra; i++) {
        bool one = compile_one(job, &L, extra[i], daft_span_none(), diags);
        ok &= one;
        if (one && has_ext(extra[i], ".c"))
            csrcs[ncsrcs++] = strdup(extra[i]);
    }
    if (!ok) {
        for (int i = 0; i < ncsrcs; i++)
            free(csrcs[i]);
        free(csrcs);
        return false;
    }

    SymSet syms = {0};
    for (int i = 0; i < job->nobjects; i++)
        syms_add(&syms, job->objects[i]);
    size_t before = (size_t)diags->error_count;
    for (int i = 0; i < prog->items.len; i++) {
        DaftNode *it = prog->items.items[i];
        if (it->kind == DAFT_N_FN)
            check_extern(mod, it, NULL, &syms, first_link, diags);
        else if (it->kind == DAFT_N_ACTOR)
            for (int j = 0; j < it->items.len; j++)
                if (it->items.items[j]->kind == DAFT_N_METHOD)
                    check_extern(mod, it->items.items[j], it->name, &syms, first_link, diags);
    }
    /* C prototypes of the defined symbols (.c sources only: see check_signatures) */
    SigCheck sc = {0};
    for (int i = 0; i < prog->items.len; i++) {
        DaftNode *it = prog->items.items[i];
        if (it->kind == DAFT_N_FN)
            sig_collect(mod, it, NULL, &syms, &sc);
        else if (it->kind == DAFT_N_ACTOR)
            for (int j = 0; j < it->items.len; j++)
                if (it->items.items[j]->kind == DAFT_N_METHOD)
                    sig_collect(mod, it->items.items[j], it->name, &syms, &sc);
    }
    check_signatures(job, &L, csrcs, ncsrcs, &sc, diags);
    for (int i = 0; i < sc.n; i++)
        free(sc.v[i].proto);
    free(sc.v);
    for (int i = 0; i < ncsrcs; i++)
        free(csrcs[i]);
    free(csrcs);
    free(syms.text);
    return (size_t)diags->error_count == before;
}

/* ---------------------------------------------------------------- linking */

bool link_executable(LinkJob *job, const char *object, const char *output, DaftDiagEngine *diags) {
    Libs L;
    find_libs(&L);
    if (!L.gen[0] || !L.rt[0]) {
        daft_error(diags, daft_span_none(),
                   "cannot link: libdaftgen.a or libdaftrt.a not found (set DAFT_LIBDIR, or build the "
                   "daftgen and daftrt targets)");
        return false;
    }
    int cap = job->nobjects + 64;
    char **argv = calloc((size_t)cap, sizeof *argv);
    char *extra_copy = strdup(DAFT_LINK_EXTRA);
    const char *env_flags = getenv("DAFT_LINK_FLAGS");
    char *env_copy = env_flags ? strdup(env_flags) : NULL;
    int k = 0;
    argv[k++] = (char *)cc_cmd();
    argv[k++] = "-o";
    argv[k++] = (char *)output;
    argv[k++] = (char *)object;
    for (int i = 0; i < job->nobjects; i++)
        if (k < cap - 40)
            argv[k++] = job->objects[i];
    argv[k++] = "-Wl,--start-group";
    const char *libs[] = {L.gen, L.std, L.rt, L.plan, L.lang};
    for (size_t i = 0; i < sizeof libs / sizeof *libs; i++)
        if (libs[i][0])
            argv[k++] = (char *)libs[i];
    argv[k++] = "-Wl,--end-group";
    /* typed extern kernels: the generated code must see their daft_raise (gen.h) */
    argv[k++] = "-Wl,--wrap=daft_raise";
    for (char *save = NULL, *t = strtok_r(extra_copy, " ", &save); t && k < cap - 2; t = strtok_r(NULL, " ", &save))
        argv[k++] = t;
    if (env_copy)
        for (char *save = NULL, *t = strtok_r(env_copy, " ", &save); t && k < cap - 2; t = strtok_r(NULL, " ", &save))
            argv[k++] = t;
    argv[k] = NULL;
    int st = run(argv, NULL);
    if (getenv("DAFTC_VERBOSE")) {
        for (int i = 0; argv[i]; i++)
            fprintf(stderr, "%s%s", i ? " " : "", argv[i]);
        fputc('\n', stderr);
    }
    free(argv);
    free(extra_copy);
    free(env_copy);
    if (st != 0) {
        daft_error(diags, daft_span_none(), "linking '%s' failed (%s exited with status %d)", output, cc_cmd(), st);
        return false;
    }
    return true;
}

bool link_shared(LinkJob *job, const char *object, const char *output, DaftDiagEngine *diags) {
    int cap = job->nobjects + 16;
    char **argv = calloc((size_t)cap, sizeof *argv);
    int k = 0;
    argv[k++] = (char *)cc_cmd();
    argv[k++] = "-shared";
    argv[k++] = "-o";
    argv[k++] = (char *)output;
    argv[k++] = (char *)object;
    for (int i = 0; i < job->nobjects; i++)
        argv[k++] = job->objects[i];
    argv[k++] = "-Wl,--wrap=daft_raise"; /* as link_executable: kernels' raises are seen */
    argv[k] = NULL;
    int st = run(argv, NULL);
    free(argv);
    if (st != 0) {
        daft_error(diags, daft_span_none(), "linking '%s' failed (%s exited with status %d)", output, cc_cmd(), st);
        return false;
    }
    return true;
}

static void rm_rf(const char *dir) {
    char *argv[] = {"rm", "-rf", (char *)dir, NULL};
    run(argv, NULL);
}

void link_cleanup(LinkJob *job) {
    if (job->tmpdir[0] && !getenv("DAFTC_KEEP_TMP"))
        rm_rf(job->tmpdir);
    for (int i = 0; i < job->nobjects; i++)
        free(job->objects[i]);
    free(job->objects);
    memset(job, 0, sizeof *job);
}
