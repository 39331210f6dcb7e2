/* repl_input.c — reading inputs: libedit (line editing, history, tab completion) on a
 * terminal, plain line reads otherwise; multi-line statements (repl.h). */
#define _GNU_SOURCE
#include "repl.h"

#include <daft/std.h>

#include <ctype.h>
#include <errno.h>
#include <histedit.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <wchar.h>

#define PROMPT "daft> "
#define PROMPT2 "....> "

struct ReplInput {
    Repl *R;
    EditLine *el;
    History *hist;
    char *hist_path;
    bool continuing;  /* which prompt libedit shows */
    bool cancelled;   /* Ctrl-C while reading a line */
};

/* ---------------------------------------------------------------- completeness */

/* The end of the comment starting at p (just past it: the newline of a // comment stays),
 * or NULL when p starts no comment. An open block comment ends at the end of the text. */
static const char *skip_comment(const char *p) {
    if (p[0] == '/' && p[1] == '/')
        return p + strcspn(p, "\n");
    if (p[0] == '/' && p[1] == '*') {
        const char *e = strstr(p + 2, "*/");
        return e ? e + 2 : p + strlen(p);
    }
    return NULL;
}

/* The end of the string literal starting at p (just past its closing quote, or at the end
 * of its line when it has none: strings are single-line, SPEC §2.4). */
static const char *skip_string(const char *p, bool *closed) {
    for (p++; *p && *p != '"' && *p != '\n'; p++)
        if (*p == '\\' && p[1] && p[1] != '\n')
            p++;
    *closed = *p == '"';
    return *closed ? p + 1 : p;
}

size_t repl_code_end(const char *t, bool *open_string) {
    size_t end = 0;
    *open_string = false;
    for (const char *p = t; *p;) {
        const char *e = skip_comment(p);
        if (e) {
            p = e;
            continue;
        }
        bool closed = true;
        e = *p == '"' ? skip_string(p, &closed) : p + 1;
        *open_string |= !closed;
        if (!isspace((unsigned char)*p))
            end = (size_t)(e - t);
        p = e;
    }
    return end;
}

bool repl_innermost_open(const char *t, int *line, int *col, char *opener) {
    struct Open { int line, col; char c; } stack[256];
    int n = 0, ln = 1;
    const char *bol = t;
    for (const char *p = t; *p;) {
        const char *e = skip_comment(p);
        bool closed = true;
        if (!e)
            e = *p == '"' ? skip_string(p, &closed) : p + 1;
        if (*p == '(' || *p == '[' || *p == '{') {
            if (n < 256)
                stack[n] = (struct Open){ln, (int)(p - bol) + 1, *p};
            n++;
        } else if ((*p == ')' || *p == ']' || *p == '}') && n > 0) {
            n--;
        }
        for (; p < e; p++)
            if (*p == '\n') {
                ln++;
                bol = p + 1;
            }
    }
    if (n == 0 || n > 256)
        return false;
    *line = stack[n - 1].line;
    *col = stack[n - 1].col;
    *opener = stack[n - 1].c;
    return true;
}

bool repl_input_complete(const char *t) {
    int depth = 0, braces = 0;
    char last = 0;
    for (const char *p = t; *p; p++) {
        const char *e = skip_comment(p);
        if (e) {
            if (p[1] == '*' && !strstr(p + 2, "*/"))
                return false; /* an open comment */
            if (!*e)
                break;
            p = e - 1; /* the loop's p++ moves to e */
            continue;
        }
        if (*p == '"') {
            bool closed;
            e = skip_string(p, &closed);
            /* an unterminated string cannot go on on the next line: the input is over (and
             * the lexer reports it), rather than swallowing every later line */
            if (!closed)
                return true;
            last = '"';
            p = e - 1;
            continue;
        }
        if (*p == '(' || *p == '[' || *p == '{') {
            depth++;
            braces += *p == '{';
        } else if (*p == ')' || *p == ']' || *p == '}') {
            depth--;
            braces -= *p == '}';
        }
        if (!isspace((unsigned char)*p))
            last = *p;
    }
    /* ';' cannot be inside an open ( or [: that statement is over, however wrong */
    if (depth > 0)
        return last == ';' && braces <= 0;
    if (depth < 0 || last == ';' || last == '}' || last == 0)
        return true;
    /* No ';' yet: complete if adding one makes statements that parse ("get(r)" is, "let x
     * = 1 +" is not: that one continues on the next line). */
    DaftSourceSet set = {0};
    DaftDiagEngine diags;
    daft_diag_init(&diags, &set);
    DaftArena *arena = daft_arena_new();
    char *w = repl_printf("schedule __t() { if true {\n%s\n;\n} }\n", t);
    DaftSource *src = daft_source_from_string(&set, "<repl>", w, strlen(w));
    DaftModule mod;
    bool ok = daft_parse(arena, src, &diags, &mod);
    free(w);
    daft_arena_free(arena);
    daft_diag_free(&diags);
    daft_source_set_free(&set);
    return ok;
}

/* ---------------------------------------------------------------- completion */

static const char *keywords[] = {"let", "spawn", "for", "in", "if", "else", "while", "return", "true", "false",
                                 "get", "wait", "print", "len", "is_error", "error_text", "fail", "str",
                                 "i32", "i64", "f32", "f64", NULL};
static const char *commands[] = {":help", ":actors", ":refs", ":plan", ":dot", ":trace", ":kill", ":load", ":quit", NULL};

typedef struct Cands {
    const char **v;
    int n, cap;
} Cands;

static void cand_add(Cands *c, const char *s, const char *prefix) {
    if (!s || strncmp(s, prefix, strlen(prefix)) != 0)
        return;
    for (int i = 0; i < c->n; i++)
        if (strcmp(c->v[i], s) == 0)
            return;
    if (c->n == c->cap) {
        c->cap = c->cap ? c->cap * 2 : 32;
        c->v = realloc(c->v, sizeof(char *) * (size_t)c->cap);
    }
    c->v[c->n++] = s;
}

static int cand_cmp(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static bool is_ident(char c) { return isalnum((unsigned char)c) || c == '_'; }

static void collect(Repl *R, const char *line, size_t cursor, Cands *c, size_t *word_start, bool *member) {
    size_t s = cursor;
    while (s > 0 && (is_ident(line[s - 1]) || (line[s - 1] == ':' && s == 1)))
        s--;
    *word_start = s;
    char prefix[256];
    snprintf(prefix, sizeof prefix, "%.*s", (int)(cursor - s), line + s);
    *member = false;
    if (s > 0 && line[s - 1] == '.') {
        *member = true;
        size_t o = s - 1;
        while (o > 0 && is_ident(line[o - 1]))
            o--;
        char obj[256];
        snprintf(obj, sizeof obj, "%.*s", (int)(s - 1 - o), line + o);
        /* a module alias: its functions */
        for (int i = 0; i < R->nimports; i++)
            if (strcmp(R->import_alias[i], obj) == 0) {
                size_t n = 0;
                const DaftStdFn *fns = daft_std_functions(&n);
                for (size_t k = 0; k < n; k++)
                    if (strcmp(fns[k].module, R->import_module[i]) == 0)
                        cand_add(c, fns[k].name, prefix);
            }
        /* an actor binding (or a list of actors indexed): its class's methods */
        const char *cls = NULL;
        for (int i = 0; i < R->nbinds; i++)
            if (strcmp(R->binds[i].name, obj) == 0) {
                cls = R->binds[i].type;
                if (cls[0] == '[')
                    cls++;
            }
        if (!cls && o > 0 && line[o - 1] == ']') {
            /* ws[0].  : find the list binding before '[' */
            size_t b = o - 1;
            while (b > 0 && line[b - 1] != '[')
                b--;
            size_t e = b > 0 ? b - 1 : 0, st = e;
            while (st > 0 && is_ident(line[st - 1]))
                st--;
            char lst[256];
            snprintf(lst, sizeof lst, "%.*s", (int)(e - st), line + st);
            for (int i = 0; i < R->nbinds; i++)
                if (strcmp(R->binds[i].name, lst) == 0 && R->binds[i].type[0] == '[')
                    cls = R->binds[i].type + 1;
        }
        if (cls)
            for (int i = R->nclasses - 1; i >= 0; i--) {
                size_t n = strlen(R->classes[i].name);
                if (strncmp(cls, R->classes[i].name, n) == 0 && !is_ident(cls[n])) {
                    for (int m = 0; m < R->classes[i].nmethods; m++)
                        cand_add(c, R->classes[i].methods[m], prefix);
                    break;
                }
            }
        return;
    }
    if (s == 0 && line[0] == ':') {
        for (int i = 0; commands[i]; i++)
            cand_add(c, commands[i], prefix);
        return;
    }
    for (int i = 0; i < R->nbinds; i++)
        cand_add(c, R->binds[i].name, prefix);
    for (int i = 0; i < R->ndecl_names; i++)
        cand_add(c, R->decl_names[i], prefix);
    for (int i = 0; keywords[i]; i++)
        cand_add(c, keywords[i], prefix);
    for (int i = 0; i < R->nclasses; i++)
        cand_add(c, R->classes[i].name, prefix);
}

static unsigned char complete_fn(EditLine *el, int ch) {
    (void)ch;
    ReplInput *in = NULL;
    el_get(el, EL_CLIENTDATA, &in);
    const LineInfo *li = el_line(el);
    size_t cursor = (size_t)(li->cursor - li->buffer);
    char *line = malloc(cursor + 1);
    memcpy(line, li->buffer, cursor);
    line[cursor] = 0;
    Cands c = {0};
    size_t ws;
    bool member;
    collect(in->R, line, cursor, &c, &ws, &member);
    size_t typed = cursor - ws;
    unsigned char ret = CC_ERROR;
    if (c.n == 1) {
        char *ins = repl_printf("%s%s", c.v[0] + typed, member ? "(" : c.v[0][0] == ':' ? " " : "");
        el_insertstr(el, ins);
        free(ins);
        ret = CC_REFRESH;
    } else if (c.n > 1) {
        size_t common = strlen(c.v[0]);
        for (int i = 1; i < c.n; i++) {
            size_t k = 0;
            while (k < common && c.v[i][k] == c.v[0][k])
                k++;
            common = k;
        }
        if (common > typed) {
            char *ins = repl_printf("%.*s", (int)(common - typed), c.v[0] + typed);
            el_insertstr(el, ins);
            free(ins);
            ret = CC_REFRESH;
        } else {
            qsort(c.v, (size_t)c.n, sizeof(char *), cand_cmp);
            fputc('\n', stdout);
            for (int i = 0; i < c.n; i++)
                fprintf(stdout, "%s%s", c.v[i], i + 1 < c.n ? "  " : "\n");
            fflush(stdout);
            ret = CC_REDISPLAY;
        }
    }
    free(c.v);
    free(line);
    return ret;
}

/* ---------------------------------------------------------------- reading */

static char *prompt_fn(EditLine *el) {
    ReplInput *in = NULL;
    el_get(el, EL_CLIENTDATA, &in);
    return in && in->continuing ? PROMPT2 : PROMPT;
}

/* libedit's character reader, so that Ctrl-C ends the line being edited. */
static int getc_fn(EditLine *el, wchar_t *wc) {
    ReplInput *in = NULL;
    el_get(el, EL_CLIENTDATA, &in);
    unsigned char b[4];
    for (;;) {
        ssize_t n = read(STDIN_FILENO, b, 1);
        if (n == 1)
            break;
        if (n == 0)
            return 0;
        if (errno == EINTR && repl_interrupted) {
            repl_interrupted = 0;
            in->cancelled = true;
            return -1;
        }
        if (errno != EINTR)
            return -1;
    }
    int more = b[0] < 0x80 ? 0 : (b[0] & 0xE0) == 0xC0 ? 1 : (b[0] & 0xF0) == 0xE0 ? 2 : (b[0] & 0xF8) == 0xF0 ? 3 : 0;
    wchar_t v = more == 0 ? b[0] : more == 1 ? (b[0] & 0x1F) : more == 2 ? (b[0] & 0x0F) : (b[0] & 0x07);
    for (int i = 0; i < more; i++) {
        if (read(STDIN_FILENO, b + 1, 1) != 1)
            break;
        v = (v << 6) | (b[1] & 0x3F);
    }
    *wc = v;
    return 1;
}

ReplInput *repl_input_new(Repl *R, const char *argv0) {
    ReplInput *in = calloc(1, sizeof *in);
    in->R = R;
    if (!R->tty)
        return in;
    in->el = el_init(argv0, stdin, stdout, stderr);
    if (!in->el)
        return in;
    el_set(in->el, EL_CLIENTDATA, in);
    el_set(in->el, EL_PROMPT, prompt_fn);
    el_set(in->el, EL_EDITOR, "emacs");
    el_set(in->el, EL_GETCFN, getc_fn);
    el_set(in->el, EL_ADDFN, "daft-complete", "complete a name or method", complete_fn);
    el_set(in->el, EL_BIND, "^I", "daft-complete", NULL);
    in->hist = history_init();
    HistEvent ev;
    history(in->hist, &ev, H_SETSIZE, 1000);
    history(in->hist, &ev, H_SETUNIQUE, 1);
    el_set(in->el, EL_HIST, history, in->hist);
    const char *hp = getenv("DAFT_REPL_HISTORY");
    if (hp && *hp)
        in->hist_path = repl_strdup(hp);
    else if (!hp && getenv("HOME"))
        in->hist_path = repl_printf("%s/.daft_history", getenv("HOME"));
    if (in->hist_path)
        history(in->hist, &ev, H_LOAD, in->hist_path);
    el_source(in->el, NULL); /* ~/.editrc */
    return in;
}

void repl_input_free(ReplInput *in) {
    if (!in)
        return;
    if (in->hist) {
        HistEvent ev;
        if (in->hist_path)
            history(in->hist, &ev, H_SAVE, in->hist_path);
        history_end(in->hist);
    }
    if (in->el)
        el_end(in->el);
    free(in->hist_path);
    free(in);
}

/* One line without its newline (malloc'd), NULL at end of input; *cancel on Ctrl-C. */
static char *read_line(ReplInput *in, bool *cancel) {
    *cancel = false;
    if (in->el) {
        int count = 0;
        in->cancelled = false;
        const char *l = el_gets(in->el, &count);
        if (!l || count <= 0) {
            if (in->cancelled || repl_interrupted) {
                repl_interrupted = 0;
                *cancel = true;
                fputs("^C\n", stdout);
                fflush(stdout);
                return NULL;
            }
            return NULL;
        }
        size_t n = strlen(l);
        while (n && (l[n - 1] == '\n' || l[n - 1] == '\r'))
            n--;
        char *s = malloc(n + 1);
        memcpy(s, l, n);
        s[n] = 0;
        return s;
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    for (;;) {
        errno = 0;
        n = getline(&line, &cap, stdin);
        if (n >= 0)
            break;
        if (errno == EINTR) {
            clearerr(stdin);
            repl_interrupted = 0;
            continue;
        }
        free(line);
        return NULL;
    }
    while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
        line[--n] = 0;
    return line;
}

static bool blank(const char *s) {
    for (; *s; s++)
        if (!isspace((unsigned char)*s))
            return false;
    return true;
}

char *repl_input_read(ReplInput *in) {
    char *buf = NULL;
    size_t len = 0;
    for (;;) {
        in->continuing = buf != NULL;
        if (!in->el && in->R->tty) {
            fputs(in->continuing ? PROMPT2 : PROMPT, stdout);
            fflush(stdout);
        }
        bool cancel = false;
        char *line = read_line(in, &cancel);
        if (cancel) {
            free(buf);
            buf = NULL;
            len = 0;
            continue;
        }
        if (!line)
            return buf; /* end of input: whatever was typed is submitted */
        if (in->R->echo) {
            fprintf(stdout, "%s%s\n", buf ? PROMPT2 : PROMPT, line);
            fflush(stdout);
        }
        if (!buf && blank(line)) {
            free(line);
            continue;
        }
        const char *t = line;
        while (isspace((unsigned char)*t))
            t++;
        if (!buf && *t == ':') {
            if (in->hist) {
                HistEvent ev;
                history(in->hist, &ev, H_ENTER, line);
            }
            return line;
        }
        bool was_blank = blank(line);
        size_t n = strlen(line);
        buf = realloc(buf, len + n + 2);
        memcpy(buf + len, line, n);
        len += n;
        buf[len++] = '\n';
        buf[len] = 0;
        free(line);
        if (repl_input_complete(buf) || was_blank) {
            if (in->hist) {
                HistEvent ev;
                char *h = repl_strdup(buf);
                for (char *p = h; *p; p++)
                    if (*p == '\n')
                        *p = ' ';
                size_t hl = strlen(h);
                while (hl && h[hl - 1] == ' ')
                    h[--hl] = 0;
                history(in->hist, &ev, H_ENTER, h);
                free(h);
            }
            return buf;
        }
    }
}
