/* fuzz_frontend.c — one fuzz target over the whole front end and the planner:
 *
 *   bytes -> daft_source_from_string -> daft_parse (lexer + parser) -> daft_ast_dump
 *         -> daft_check (sema) -> daft_trace_program (trace + plan + verify every compiled
 *            schedule with a static actor set) -> daft_plan_print_all (text, json, dot)
 *         -> daft_diag_print (text, json)
 *
 * using only the public headers (daft/lang.h, daft/plan.h), and freeing everything, so
 * that LeakSanitizer reports any leak as a bug.
 *
 * Built two ways from this one file (tests/fuzz/CMakeLists.txt):
 *  - fuzz_frontend: clang -fsanitize=fuzzer,address,undefined; libFuzzer supplies main().
 *  - fuzz_replay: the normal (gcc) build with -DDAFT_FUZZ_REPLAY; main() below runs
 *    LLVMFuzzerTestOneInput once on every file named on the command line, recursing into
 *    directories (the committed corpus and regressions), so ctest replays them everywhere.
 *
 * Define DAFT_FUZZ_NO_PLAN to fuzz the front end alone (when libdaftplan is not built).
 */
#include <daft/lang.h>
#ifndef DAFT_FUZZ_NO_PLAN
#include <daft/plan.h>
#endif

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Inputs above this size are skipped: the interesting bugs are structural, and libFuzzer's
 * default -max_len (4096) stays well below it; it bounds the replay of hand-made seeds. */
#define FUZZ_MAX_INPUT (1u << 20)

/* Keeps a fuzz input from unrolling into millions of graph nodes (the tracer's default
 * limit is 1,000,000 per schedule, which is right for daftc but slow per fuzz input). The
 * limit path itself is exercised by inputs that exceed this. */
#define FUZZ_MAX_TRACE_NODES 2000

static FILE *sink(void) {
    static FILE *devnull;
    if (!devnull) {
        devnull = fopen("/dev/null", "w");
        if (!devnull)
            abort();
    }
    return devnull;
}

#ifndef DAFT_FUZZ_NO_PLAN
static void fuzz_plan(const DaftModule *mod, DaftDiagEngine *diags) {
    DaftTraceOptions topt;
    memset(&topt, 0, sizeof topt);
    topt.max_nodes = FUZZ_MAX_TRACE_NODES;
    topt.plan.verify = true;
    DaftTraceResult res;
    memset(&res, 0, sizeof res);
    bool ok = daft_trace_program(mod, diags, &topt, &res);
    if (ok) {
        char err[512];
        for (int i = 0; i < res.nplans; i++) {
            /* Every plan the tracer hands out must satisfy the verifier. */
            if (res.plans[i] && daft_plan_verify(res.plans[i], err, sizeof err) != 0) {
                fprintf(stderr, "fuzz: plan %d of %d fails verification: %s\n", i, res.nplans,
                        err);
                abort();
            }
        }
        for (int f = 0; f < DAFT_PLAN_FORMAT_COUNT; f++)
            daft_plan_print_all(res.plans, res.nplans, res.skips, res.nskips, sink(),
                                (DaftPlanFormat)f);
    }
    daft_trace_result_free(&res);
}
#endif

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > FUZZ_MAX_INPUT)
        return 0;
    DaftSourceSet sources = {0};
    DaftDiagEngine diags;
    daft_diag_init(&diags, &sources);
    DaftArena *arena = daft_arena_new();

    DaftSource *src = daft_source_from_string(&sources, "fuzz.daft", (const char *)data, size);
    DaftModule mod;
    memset(&mod, 0, sizeof mod);
    bool ok = daft_parse(arena, src, &diags, &mod);
    /* The partial AST after syntax errors must be walkable (daftc --emit=ast prints it). */
    if (!mod.program)
        abort(); /* lang.h: never NULL after daft_parse */
    daft_ast_dump(mod.program, sink());
    if (ok)
        ok = daft_check(&mod, &diags);
#ifndef DAFT_FUZZ_NO_PLAN
    if (ok && diags.error_count == 0)
        fuzz_plan(&mod, &diags);
#endif
    /* Diagnostics quote source lines (NUL bytes, invalid UTF-8, huge lines). */
    daft_diag_print(&diags, sink(), DAFT_DIAG_TEXT);
    daft_diag_print(&diags, sink(), DAFT_DIAG_JSON);

    daft_arena_free(arena);
    daft_diag_free(&diags);
    daft_source_set_free(&sources);
    return 0;
}

#ifdef DAFT_FUZZ_REPLAY
/* ---------------------------------------------------------------- replay driver */
#include <dirent.h>
#include <sys/stat.h>

static int replayed, failed;

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void replay_file(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "fuzz_replay: cannot open %s\n", path);
        failed++;
        return;
    }
    size_t cap = 4096, size = 0;
    uint8_t *buf = malloc(cap);
    size_t n;
    while ((n = fread(buf + size, 1, cap - size, f)) > 0) {
        size += n;
        if (size == cap)
            buf = realloc(buf, cap *= 2);
    }
    fclose(f);
    /* An exact-size copy, so that ASan builds catch reads past the end as libFuzzer does. */
    uint8_t *exact = malloc(size ? size : 1);
    memcpy(exact, buf, size);
    free(buf);
    if (getenv("DAFT_FUZZ_VERBOSE"))
        fprintf(stderr, "fuzz_replay: %s (%zu bytes)\n", path, size);
    LLVMFuzzerTestOneInput(exact, size);
    free(exact);
    replayed++;
}

static void replay_path(const char *path) {
    struct stat st;
    if (stat(path, &st) != 0) {
        fprintf(stderr, "fuzz_replay: no such file or directory: %s\n", path);
        failed++;
        return;
    }
    if (!S_ISDIR(st.st_mode)) {
        replay_file(path);
        return;
    }
    DIR *d = opendir(path);
    if (!d) {
        fprintf(stderr, "fuzz_replay: cannot open directory %s\n", path);
        failed++;
        return;
    }
    char **names = NULL;
    int len = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') /* ., .., and hidden files such as .gitkeep */
            continue;
        if (strcmp(e->d_name, "README.md") == 0)
            continue;
        if (len == cap)
            names = realloc(names, sizeof(*names) * (size_t)(cap = cap ? cap * 2 : 64));
        size_t sz = strlen(path) + strlen(e->d_name) + 2;
        names[len] = malloc(sz);
        snprintf(names[len], sz, "%s/%s", path, e->d_name);
        len++;
    }
    closedir(d);
    qsort(names, (size_t)len, sizeof(*names), cmp_str); /* a stable order for bisecting */
    for (int i = 0; i < len; i++) {
        replay_path(names[i]);
        free(names[i]);
    }
    free(names);
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s FILE|DIR...\n"
                        "Runs the fuzz target once on every file (directories recursively).\n"
                        "DAFT_FUZZ_VERBOSE=1 names each file before running it.\n",
                argv[0]);
        return 2;
    }
    for (int i = 1; i < argc; i++)
        replay_path(argv[i]);
    fprintf(stderr, "fuzz_replay: %d inputs replayed%s\n", replayed,
            failed ? ", with errors" : "");
    return failed || replayed == 0 ? 1 : 0;
}
#endif
