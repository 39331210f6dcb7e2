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
    for (int i = 0; i < prog->items.len; i++) {
        DaftNode *it = prog->items.items[i];
        if (it->kind != DAFT_N_LINK || !it->name)
            continue;
        if (!first_link)
            first_link = it;
        char *path = resolve_rel(mod, it->name);
        ok &= compile_one(job, &L, path, it->span, diags);
        free(path);
    }
    for (int i = 0; i < nextra; i++)
        ok &= compile_one(job, &L, extra[i], daft_span_none(), diags);
    if (!ok)
        return false;

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
