/* repl_main.c — the daft-repl session: options, the runtime, the read-eval loop and
 * teardown (repl.h; SPEC.md §18.5). */
#define _GNU_SOURCE
#include "repl.h"

#include <daft/gen.h>

#include <ctype.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

volatile sig_atomic_t repl_interrupted;

char *repl_strdup(const char *s) {
    char *d = strdup(s ? s : "");
    if (!d)
        abort();
    return d;
}

char *repl_printf(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    char *s = NULL;
    if (vasprintf(&s, fmt, ap) < 0)
        abort();
    va_end(ap);
    return s;
}

ReplActor *repl_actor(Repl *R, DaftActor h) {
    return (int)h > 0 && (int)h < R->nactors_cap ? R->actors[h] : NULL;
}

void repl_flush(void) {
    fflush(stdout);
    fflush(stderr);
}

static void on_sigint(int sig) {
    (void)sig;
    repl_interrupted = 1;
}

static void usage(FILE *f) {
    fputs("usage: daft-repl [--echo] [FILE.daft]\n"
          "\n"
          "Interactive daft: loads FILE.daft's declarations (actor classes are compiled to\n"
          "native code, as by daftc), then runs driver statements as you type them. Type\n"
          ":help at the prompt for the commands.\n"
          "\n"
          "  --echo      echo every input line, after the prompt, to standard output (for\n"
          "              transcripts of `daft-repl FILE < script`)\n"
          "  --help      this text\n"
          "  --version   the version\n"
          "\n"
          "When standard input is not a terminal no prompts are printed and the output is the\n"
          "same as interactively. Environment: DAFT_DEVICE=cpu (CPU-only mode), DAFT_REPL_HISTORY\n"
          "(history file, default ~/.daft_history; empty: none), CC and DAFT_LINK_FLAGS as for\n"
          "daftc.\n",
          f);
}

void repl_binding_free(ReplBinding *b) {
    free(b->name);
    free(b->type);
    free(b->origin);
    daft_value_free(&b->val);
}

static void free_session(Repl *R) {
    repl_plans_free(R);
    for (int i = 0; i < R->nbinds; i++)
        repl_binding_free(&R->binds[i]);
    free(R->binds);
    for (int i = 0; i < R->nrefs; i++) {
        free(R->refs[i].producer);
        free(R->refs[i].type);
        daft_value_free(&R->refs[i].local);
    }
    free(R->refs);
    for (int i = 0; i < R->nactors_cap; i++)
        if (R->actors[i]) {
            free(R->actors[i]->cls);
            free(R->actors[i]->name);
            free(R->actors[i]);
        }
    free(R->actors);
    for (int i = 0; i < R->nclasses; i++) {
        free(R->classes[i].name);
        for (int m = 0; m < R->classes[i].nmethods; m++)
            free(R->classes[i].methods[m]);
        free(R->classes[i].methods);
    }
    free(R->classes);
    for (int i = 0; i < R->ndecl_names; i++)
        free(R->decl_names[i]);
    free(R->decl_names);
    for (int i = 0; i < R->nimports; i++) {
        free(R->import_alias[i]);
        free(R->import_module[i]);
    }
    free(R->import_alias);
    free(R->import_module);
    free(R->path);
    free(R->text);
}

/* The kernel grows the main thread's stack up to the soft limit in force when it grows (and keeps
 * at least 128 MiB free below it for that), so raising the limit now lets the interpreter nest
 * calls about as deep as a daftc program does. The REPL's own threads are sized already. */
void repl_raise_stack_limit(void) {
    struct rlimit rl;
    if (getrlimit(RLIMIT_STACK, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur >= REPL_STACK_WANTED)
        return;
    rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > REPL_STACK_WANTED ? REPL_STACK_WANTED : rl.rlim_max;
    setrlimit(RLIMIT_STACK, &rl);
}

int repl_main(int argc, char **argv) {
    repl_raise_stack_limit();
    Repl session;
    Repl *R = &session;
    memset(R, 0, sizeof *R);
    R->out = stdout;
    const char *file = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "--version")) {
            printf("daft-repl %s\n", DAFT_VERSION);
            return 0;
        } else if (!strcmp(a, "--echo")) {
            R->echo = true;
        } else if (a[0] == '-' && a[1]) {
            fprintf(stderr, "daft-repl: error: unknown option '%s'\n", a);
            usage(stderr);
            return 2;
        } else if (file) {
            fprintf(stderr, "daft-repl: error: more than one file ('%s')\n", a);
            return 2;
        } else {
            file = a;
        }
    }
    R->tty = isatty(STDIN_FILENO) && isatty(STDOUT_FILENO);
    setvbuf(stdout, NULL, _IOLBF, 0);

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigint;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0; /* no SA_RESTART: a blocking read returns so Ctrl-C is seen */
    sigaction(SIGINT, &sa, NULL);

    R->rt = daft_rt_init(NULL, NULL);
    if (!R->rt)
        return 1;
    /* a session defines and calls schedules as it goes: any two plans may share an actor */
    daft_rt_sequence_plans(R->rt, true);
    daft_rt_start(R->rt);
    repl_coll_setup(R);
    if (file && !repl_load(R, file) && !R->tty) {
        /* a script for a file that does not compile would only cascade errors */
        daft_gen_host_end();
        daft_rt_shutdown(R->rt);
        free_session(R);
        return 1;
    }
    if (R->tty)
        printf("daft-repl %s%s%s. Type :help for help, :quit to leave.\n", DAFT_VERSION, R->path ? " — loaded " : "",
               R->path ? R->path : "");
    ReplInput *in = repl_input_new(R, argv[0]);
    int failures = 0;
    for (;;) {
        char *text = repl_input_read(in);
        if (!text)
            break;
        repl_interrupted = 0;
        const char *t = text;
        while (isspace((unsigned char)*t))
            t++;
        if (*t == ':') {
            bool go_on = repl_command(R, t);
            free(text);
            if (!go_on)
                break;
            continue;
        }
        /* an input of comments only does nothing */
        bool open_string;
        size_t n = repl_code_end(text, &open_string);
        if (!n) {
            free(text);
            continue;
        }
        R->input_no++;
        /* an input ended early (empty line, end of input) gets its ';', where its code ends:
         * after a trailing comment it would be commented out (and after an unterminated
         * string it would only show up in that error's snippet) */
        if (text[n - 1] != ';' && text[n - 1] != '}' && !open_string) {
            char *t2 = repl_printf("%.*s;%s", (int)n, text, text + n);
            free(text);
            text = t2;
        }
        if (!repl_eval_input(R, text, strlen(text)))
            failures++;
        free(text);
    }
    if (R->tty)
        fputc('\n', stdout);
    repl_input_free(in);
    repl_trace_close(R);
    repl_flush();
    repl_refs_report_end(R);
    repl_plans_free(R);
    daft_gen_host_end();
    daft_rt_shutdown(R->rt);
    free_session(R);
    (void)failures;
    return 0;
}
