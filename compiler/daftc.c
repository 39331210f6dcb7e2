/* daftc: the daft compiler driver. The whole pipeline reads top to bottom in
 * compile_file(): load -> parse -> check -> (plan) -> (codegen) -> link, stopping after
 * whichever phase --emit or --check asks for. */
#include <daft/lang.h>
#include <daft/plan.h>

#include "codegen.h"
#include "link.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#define DAFTC_EMITS(X) \
    X(EMIT_EXE, "exe") \
    X(EMIT_AST, "ast") \
    X(EMIT_PLAN, "plan") \
    X(EMIT_LL, "ll") \
    X(EMIT_OBJ, "obj")

typedef enum {
#define X(id, text) id,
    DAFTC_EMITS(X)
#undef X
} EmitKind;

static const char *emit_names[] = {
#define X(id, text) text,
    DAFTC_EMITS(X)
#undef X
};

#define MAX_EXTRA_INPUTS 64

typedef struct Options {
    const char *input;
    const char *extra[MAX_EXTRA_INPUTS]; /* C/CUDA sources and objects to link */
    int nextra;
    const char *output;
    EmitKind emit;
    const char *plan_format;   /* text | json | dot */
    bool check_only;
    DaftDiagFormat diag_format;
    int error_limit; /* errors before stopping: 0 default (100), -1 none */
    int opt_level;
    bool debug_info;
} Options;

enum { EXIT_USAGE = 2 };

static void print_usage(FILE *out) {
    fputs("usage: daftc [options] FILE.daft [KERNELS.c|.cu|.o|.a|.so ...]\n"
          "\n"
          "Compiles a daft program (actors, futures and tasks) into a native executable.\n"
          "\n"
          "options:\n"
          "  --check                   parse and check only; report diagnostics\n"
          "  --emit=ast|plan|ll|obj    stop after a phase and print or write its result\n"
          "  --emit-plan[=text|json|dot]\n"
          "                            print the per-actor channel plan of every compiled\n"
          "                            schedule whose actor set is static\n"
          "  -o FILE                   output file (default: a.out; FILE.o for --emit=obj;\n"
          "                            standard output for dumps)\n"
          "  -O0, -O2                  optimisation level (default -O2)\n"
          "  -g                        emit debug information (.daft lines in gdb)\n"
          "  --diagnostics-format=text|json\n"
          "                            how to print errors and warnings (default text)\n"
          "  --error-limit=N           stop after N errors (default 100; 0: no limit)\n"
          "  -h, --help                show this help\n"
          "  --version                 show the version\n"
          "\n"
          "KERNELS.c, .cu, .o, .a, .so: user kernels for extern methods, like `link \"file\";`\n"
          "(they must exist, with --check too).\n"
          "\n"
          "environment: CC (C compiler and linker, default cc), DAFT_LIBDIR (directory of\n"
          "libdaftrt.a and friends), DAFT_LINK_FLAGS (extra link arguments)\n",
          out);
}

static int usage_error(const char *fmt, const char *arg) {
    fputs("daftc: error: ", stderr);
    fprintf(stderr, fmt, arg);
    fputs("\nusage: daftc [options] FILE.daft (see daftc --help)\n", stderr);
    return EXIT_USAGE;
}

static bool parse_emit(const char *value, EmitKind *out) {
    for (size_t i = 0; i < sizeof emit_names / sizeof *emit_names; i++) {
        if (strcmp(value, emit_names[i]) == 0 && i != EMIT_EXE) {
            *out = (EmitKind)i;
            return true;
        }
    }
    return false;
}

static bool is_kernel_file(const char *a) {
    static const char *exts[] = {".c", ".cu", ".o", ".a", ".so"};
    size_t n = strlen(a);
    for (size_t i = 0; i < sizeof exts / sizeof *exts; i++) {
        size_t e = strlen(exts[i]);
        if (n > e && strcmp(a + n - e, exts[i]) == 0)
            return true;
    }
    return false;
}

/* After FILE.daft only kernel files may follow: say which rule `a` breaks. */
static int second_input_error(const char *a) {
    size_t n = strlen(a);
    if (n > 5 && strcmp(a + n - 5, ".daft") == 0)
        return usage_error("more than one input file ('%s')", a);
    return usage_error("unsupported input file type '%s' (inputs after FILE.daft are kernels: "
                       ".c, .cu, .o, .a or .so)", a);
}

/* Returns -1 when options are complete, else the exit status to end with. */
static int parse_options(int argc, char **argv, Options *opt) {
    memset(opt, 0, sizeof(*opt));
    opt->opt_level = 2;
    opt->plan_format = "text";
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            print_usage(stdout);
            return 0;
        } else if (strcmp(a, "--version") == 0) {
            printf("daftc %s\n", DAFT_VERSION);
            return 0;
        } else if (strcmp(a, "--check") == 0) {
            opt->check_only = true;
        } else if (strcmp(a, "--emit") == 0) {
            return usage_error("%s", "missing value for '--emit' (write --emit=ast, plan, ll or obj)");
        } else if (strcmp(a, "--diagnostics-format") == 0) {
            return usage_error("%s", "missing value for '--diagnostics-format' (write "
                                     "--diagnostics-format=text or json)");
        } else if (strncmp(a, "--emit=", 7) == 0) {
            if (!parse_emit(a + 7, &opt->emit))
                return usage_error("unknown --emit kind '%s' (expected ast, plan, ll or obj)", a + 7);
        } else if (strcmp(a, "--emit-plan") == 0) {
            opt->emit = EMIT_PLAN;
        } else if (strncmp(a, "--emit-plan=", 12) == 0) {
            opt->emit = EMIT_PLAN;
            opt->plan_format = a + 12;
            if (strcmp(a + 12, "text") && strcmp(a + 12, "json") && strcmp(a + 12, "dot"))
                return usage_error("unknown plan format '%s' (expected text, json or dot)", a + 12);
        } else if (strncmp(a, "--diagnostics-format=", 21) == 0) {
            if (strcmp(a + 21, "json") == 0)
                opt->diag_format = DAFT_DIAG_JSON;
            else if (strcmp(a + 21, "text") == 0)
                opt->diag_format = DAFT_DIAG_TEXT;
            else
                return usage_error("unknown diagnostics format '%s' (expected text or json)", a + 21);
        } else if (strcmp(a, "--error-limit") == 0) {
            return usage_error("%s", "missing value for '--error-limit' (write --error-limit=N, 0 for no limit)");
        } else if (strncmp(a, "--error-limit=", 14) == 0) {
            char *end;
            long n = strtol(a + 14, &end, 10);
            if (a[14] == '\0' || *end != '\0' || n < 0 || n > 1000000)
                return usage_error("invalid error limit '%s' (expected a number of errors, 0 for no limit)", a + 14);
            opt->error_limit = n == 0 ? -1 : (int)n;
        } else if (strcmp(a, "-o") == 0) {
            if (++i == argc)
                return usage_error("%s", "missing file name after '-o'");
            opt->output = argv[i];
        } else if (strcmp(a, "-O0") == 0 || strcmp(a, "-O2") == 0) {
            opt->opt_level = a[2] - '0';
        } else if (strcmp(a, "-g") == 0) {
            opt->debug_info = true;
        } else if (a[0] == '-' && a[1] != '\0') {
            return usage_error("unknown option '%s'", a);
        } else if (is_kernel_file(a)) {
            if (opt->nextra == MAX_EXTRA_INPUTS)
                return usage_error("too many kernel files ('%s')", a);
            opt->extra[opt->nextra++] = a;
        } else if (opt->input) {
            return second_input_error(a);
        } else {
            opt->input = a;
        }
    }
    if (!opt->input)
        return usage_error("%s", "no input file");
    return -1;
}

/* FILE.daft -> FILE<ext> in the current directory. */
static const char *default_output(DaftArena *arena, const char *input, const char *ext) {
    const char *base = strrchr(input, '/') ? strrchr(input, '/') + 1 : input;
    size_t n = strlen(base);
    if (n > 5 && strcmp(base + n - 5, ".daft") == 0)
        n -= 5;
    return daft_arena_printf(arena, "%.*s%s", (int)n, base, ext);
}

/* --emit-plan: trace every compiled schedule with a static actor set, plan it (libdaftplan)
 * and print the plans, to -o FILE or standard output. */
static bool emit_plan(const Options *opt, const DaftModule *mod, DaftDiagEngine *diags) {
    DaftPlanFormat fmt = DAFT_PLAN_TEXT;
    daft_plan_format_parse(opt->plan_format, &fmt);
    DaftTraceOptions topt = {0};
    DaftTraceResult res;
    bool ok = daft_trace_program(mod, diags, &topt, &res);
    if (ok) {
        FILE *out = daft_output_open(opt->output, diags);
        ok = out != NULL;
        if (ok) {
            daft_plan_print_all(res.plans, res.nplans, res.skips, res.nskips, out, fmt);
            ok = daft_output_close(out, opt->output, diags);
        }
    }
    daft_trace_result_free(&res);
    return ok;
}

/* --emit=ast: the syntax tree (as far as it parsed), to -o FILE or standard output. */
static bool emit_ast(const Options *opt, const DaftModule *mod, DaftDiagEngine *diags) {
    FILE *out = daft_output_open(opt->output, diags);
    if (!out)
        return false;
    daft_ast_dump(mod->program, out);
    return daft_output_close(out, opt->output, diags);
}

/* The pipeline. Diagnostics are collected in `diags` and printed by the caller. */
static bool compile_file(const Options *opt, DaftSourceSet *sources, DaftDiagEngine *diags,
                         DaftArena *arena) {
    DaftSource *src = daft_source_load(sources, opt->input);
    if (!src) {
        daft_error(diags, daft_span_none(), "cannot read '%s': %s", opt->input, strerror(errno));
        return false;
    }

    /* Missing kernel files are errors in every mode; a full compile finds them when it
     * links (link_prepare), after the program's own diagnostics. */
    bool full = !opt->check_only && opt->emit == EMIT_EXE;
    bool kernels_ok = full || link_check_files(opt->extra, opt->nextra, diags);

    DaftModule mod;
    bool parsed = daft_parse(arena, src, diags, &mod);
    if (opt->emit == EMIT_AST)
        return emit_ast(opt, &mod, diags) && parsed && kernels_ok;
    if (!parsed)
        return false;

    mod.executable = full;
    if (!daft_check(&mod, diags) || !kernels_ok)
        return false;
    if (opt->check_only)
        return true;

    if (opt->emit == EMIT_PLAN)
        return emit_plan(opt, &mod, diags);

    CgOptions cg = {0};
    cg.opt_level = opt->opt_level;
    cg.debug_info = opt->debug_info;
#ifndef NDEBUG
    cg.verify = true;
#endif
    if (opt->emit == EMIT_LL) {
        cg.output = CG_OUT_LL;
        cg.output_path = opt->output; /* NULL: stdout */
        return cg_emit(&mod, &cg, diags);
    }
    if (opt->emit == EMIT_OBJ) {
        cg.output = CG_OUT_OBJ;
        cg.output_path = opt->output ? opt->output : default_output(arena, opt->input, ".o");
        return cg_emit(&mod, &cg, diags);
    }

    /* Native executable: user kernels first (their errors point at the .daft file), then
     * the object, then the link. */
    LinkJob job = {0};
    job.debug = opt->debug_info;
    job.opt_level = opt->opt_level;
    bool ok = link_prepare(&mod, opt->extra, opt->nextra, &job, diags);
    if (ok) {
        cg.output = CG_OUT_OBJ;
        cg.output_path = daft_arena_printf(arena, "%s", link_tmp_path(&job, "program.o"));
        ok = cg_emit(&mod, &cg, diags);
    }
    if (ok)
        ok = link_executable(&job, cg.output_path, opt->output ? opt->output : "a.out", diags);
    link_cleanup(&job);
    return ok;
}

/* The exit status, made 1 when standard output could not be written (--help, --version
 * and JSON diagnostics are written there): §18.1, any error exits 1. A run that failed
 * already has said why (dumps to stdout report their own write errors). */
static int finish(int status) {
    if (status != 0 || (fflush(stdout) == 0 && !ferror(stdout)))
        return status;
    fprintf(stderr, "daftc: error: cannot write to standard output: %s\n", strerror(errno));
    return 1;
}

int main(int argc, char **argv) {
    Options opt;
    int status = parse_options(argc, argv, &opt);
    if (status >= 0)
        return finish(status);

    DaftSourceSet sources = {0};
    DaftDiagEngine diags;
    daft_diag_init(&diags, &sources);
    diags.max_errors = opt.error_limit < 0 ? INT_MAX : opt.error_limit;
    DaftArena *arena = daft_arena_new();

    bool ok = compile_file(&opt, &sources, &diags, arena);
    /* Diagnostics go to stderr, except in JSON mode where tools read them from stdout. */
    daft_diag_print(&diags, opt.diag_format == DAFT_DIAG_JSON ? stdout : stderr, opt.diag_format);

    daft_arena_free(arena);
    daft_diag_free(&diags);
    daft_source_set_free(&sources);
    return finish(ok && diags.error_count == 0 ? 0 : 1);
}
