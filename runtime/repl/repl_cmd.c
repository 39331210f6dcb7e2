/* repl_cmd.c — the REPL's colon commands (:help, :actors, :refs, :plan, :dot, :trace,
 * :kill, :load, :quit) and the REPL's own timeline trace (repl.h). */
#define _GNU_SOURCE
#include "repl.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

double repl_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void json_str(FILE *f, const char *s) {
    fputc('"', f);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            fprintf(f, "\\%c", c);
        else if (c < 0x20 || c >= 0x80)
            fprintf(f, "\\u%04x", c);
        else
            fputc(c, f);
    }
    fputc('"', f);
}

/* One complete event ("ph":"X") of the Chrome trace / Perfetto JSON being written. */
void repl_trace_event(Repl *R, const char *name, const char *cat, double t0, double t1) {
    if (!R->trace)
        return;
    fprintf(R->trace, "%s{\"name\":", ftell(R->trace) > 2 ? ",\n" : "");
    json_str(R->trace, name);
    fprintf(R->trace, ",\"cat\":");
    json_str(R->trace, cat);
    fprintf(R->trace, ",\"ph\":\"X\",\"pid\":0,\"tid\":0,\"ts\":%.3f,\"dur\":%.3f}", (t0 - R->trace_t0) * 1e6,
            (t1 - t0) * 1e6);
}

void repl_trace_close(Repl *R) {
    if (!R->trace)
        return;
    fputs("\n]\n", R->trace);
    fclose(R->trace);
    R->trace = NULL;
}

static const char *help_text =
    "Statements are daft driver code (SPEC.md §10, §11), run at once:\n"
    "  let w = spawn Worker(1);     let r = w.step(3);     get(r)     print(...)\n"
    "An expression on its own shows its value. An unfinished statement (open brackets, no\n"
    "';' yet) continues on the next line; an empty line ends it. Tab completes names,\n"
    "methods after 'actor.' and functions after 'T.'.\n"
    "Commands:\n"
    "  :help                 this text\n"
    "  :actors               actors: place, state (alive/dead), pending tasks\n"
    "  :refs                 the Refs the session holds: state and producer\n"
    "  :plan NAME            the plan of compiled schedule NAME for the current actors\n"
    "  :dot NAME FILE        the same plan as Graphviz DOT, written to FILE\n"
    "  :trace on FILE        record a timeline (Chrome trace JSON) of inputs and calls\n"
    "  :trace off            stop recording and close the file\n"
    "  :kill ACTOR           kill an actor's process (a binding, 'ws[1]', or 'Worker#2')\n"
    "  :load FILE            load (or reload) a .daft file's declarations\n"
    "  :quit                 leave (also Ctrl-D)\n"
    "Ctrl-C interrupts a blocking get/wait or a loop; the session continues.\n";

static const char *skip_ws(const char *s) {
    while (*s && isspace((unsigned char)*s))
        s++;
    return s;
}

/* The next word of a command line (malloc'd), or NULL. */
static char *word(const char **p) {
    const char *s = skip_ws(*p);
    if (!*s)
        return NULL;
    const char *e = s;
    while (*e && !isspace((unsigned char)*e))
        e++;
    *p = e;
    char *w = malloc((size_t)(e - s) + 1);
    memcpy(w, s, (size_t)(e - s));
    w[e - s] = 0;
    return w;
}

static void place_str(Repl *R, ReplActor *a, char *buf, size_t cap) {
    /* the default placement of SPEC §16.2, over every actor in spawn order */
    int n = 0;
    for (int h = 1; h < R->nactors_cap; h++)
        n += R->actors[h] != NULL;
    DaftGraphActor *req = calloc((size_t)n + 1, sizeof *req);
    DaftPlace *pl = calloc((size_t)n + 1, sizeof *pl);
    int k = 0, me = 0;
    for (int h = 1; h < R->nactors_cap; h++) {
        ReplActor *x = R->actors[h];
        if (!x)
            continue;
        if (x == a)
            me = k;
        req[k].name = x->name;
        req[k].cls = x->cls;
        req[k].gpus = x->on_cpu ? 0 : x->gpus;
        req[k].node = x->node;
        req[k].gpu = x->gpu;
        k++;
    }
    daft_plan_assign_places(req, n, DAFT_PLAN_DEFAULT_GPUS_PER_NODE, pl);
    const char *dev = getenv("DAFT_DEVICE");
    bool cpu = dev && strcmp(dev, "cpu") == 0;
    if (pl[me].gpu < 0)
        snprintf(buf, cap, "node %d cpu", pl[me].node);
    else if (cpu)
        snprintf(buf, cap, "node %d cpu (gpu %d under DAFT_DEVICE=cpu)", pl[me].node, pl[me].gpu);
    else
        snprintf(buf, cap, "node %d gpu %d", pl[me].node, pl[me].gpu);
    free(req);
    free(pl);
}

static void cmd_actors(Repl *R) {
    int shown = 0;
    for (int h = 1; h < R->nactors_cap; h++) {
        ReplActor *a = R->actors[h];
        if (!a)
            continue;
        int pending = 0;
        for (int i = 0; i < R->nrefs; i++)
            if (R->refs[i].owner == a->h && !repl_ref_ready(R, (DaftRef){R->refs[i].id, R->refs[i].owner}))
                pending++;
        char place[128];
        place_str(R, a, place, sizeof place);
        bool alive = daft_rt_actor_alive(R->rt, a->h);
        fprintf(R->out, "%-14s %-12s %-28s %-6s %d pending\n", a->name, a->cls, place,
                alive ? "alive" : a->killed ? "killed" : "dead", pending);
        shown++;
    }
    if (!shown)
        fprintf(R->out, "(no actors)\n");
}

static void binding_names(Repl *R, uint64_t id, char *buf, size_t cap) {
    buf[0] = 0;
    size_t len = 0;
    for (int i = 0; i < R->nbinds; i++) {
        const DaftValue *v = &R->binds[i].val;
        if (v->kind == DAFT_V_REF && v->as.ref.id == id)
            len += (size_t)snprintf(buf + len, cap > len ? cap - len : 0, "%s%s", len ? "," : "", R->binds[i].name);
        if (v->kind == DAFT_V_LIST)
            for (size_t j = 0; j < v->as.list.len; j++)
                if (v->as.list.items[j].kind == DAFT_V_REF && v->as.list.items[j].as.ref.id == id)
                    len += (size_t)snprintf(buf + len, cap > len ? cap - len : 0, "%s%s[%zu]", len ? "," : "",
                                            R->binds[i].name, j);
        if (len >= cap)
            break;
    }
    if (!buf[0])
        snprintf(buf, cap, "(temporary)");
}

static void cmd_refs(Repl *R) {
    int shown = 0;
    for (int i = 0; i < R->nrefs; i++) {
        ReplRef *rf = &R->refs[i];
        char names[128], st[1024];
        binding_names(R, rf->id, names, sizeof names);
        repl_ref_state(R, rf, st, sizeof st);
        fprintf(R->out, "%-12s %-22s %-24s %s\n", names, rf->type, rf->producer, st);
        shown++;
    }
    if (!shown)
        fprintf(R->out, "(no refs)\n");
}

/* A :kill argument, parsed strictly: a wrong guess at what the user meant would SIGKILL a
 * real actor, so anything but NAME, NAME[DIGITS] or Class#DIGITS is rejected. */
typedef struct {
    char name[256];
    long idx; /* -1: no [i] */
} ActorSpec;

static bool is_ident_start(char c) { return isalpha((unsigned char)c) || c == '_'; }
static bool is_ident_char(char c) { return isalnum((unsigned char)c) || c == '_'; }

/* Reads DIGITS at *p into *out (no sign, no overflow); false if there are none. */
static bool parse_index(const char **p, long *out) {
    const char *s = *p;
    if (!isdigit((unsigned char)*s))
        return false;
    long v = 0;
    for (; isdigit((unsigned char)*s); s++) {
        if (v > (LONG_MAX - 9) / 10)
            return false;
        v = v * 10 + (*s - '0');
    }
    *out = v;
    *p = s;
    return true;
}

static bool parse_actor_spec(const char *spec, ActorSpec *as) {
    const char *s = spec;
    if (!is_ident_start(*s))
        return false;
    while (is_ident_char(*s))
        s++;
    as->idx = -1;
    if (*s == '#') { /* Class#n: a runtime name */
        s++;
        long n;
        if (!parse_index(&s, &n))
            return false;
    } else if (*s == '[') {
        s++;
        if (!parse_index(&s, &as->idx) || *s++ != ']')
            return false;
    }
    if (*s || (size_t)(s - spec) >= sizeof as->name)
        return false;
    size_t n = as->idx >= 0 ? (size_t)(strchr(spec, '[') - spec) : strlen(spec);
    memcpy(as->name, spec, n);
    as->name[n] = 0;
    return true;
}

/* The actor ACTOR names (a binding holding an actor, NAME[i] of a binding holding a list, or
 * Class#n), or 0. */
static DaftActor find_actor(Repl *R, const ActorSpec *as) {
    if (as->idx < 0)
        for (int h = 1; h < R->nactors_cap; h++)
            if (R->actors[h] && strcmp(R->actors[h]->name, as->name) == 0)
                return (DaftActor)h;
    for (int i = 0; i < R->nbinds; i++) {
        if (strcmp(R->binds[i].name, as->name) != 0)
            continue;
        const DaftValue *v = &R->binds[i].val;
        if (as->idx >= 0) {
            if (v->kind != DAFT_V_LIST || (size_t)as->idx >= v->as.list.len)
                return 0;
            v = &v->as.list.items[as->idx];
        }
        return v->kind == DAFT_V_ACTOR ? v->as.actor : 0;
    }
    return 0;
}

static void kill_actor(Repl *R, DaftActor h) {
    ReplActor *a = repl_actor(R, h);
    if (!daft_rt_actor_alive(R->rt, h)) {
        fprintf(R->out, "%s is already dead\n", a->name);
        return;
    }
    if (daft_rt_kill(R->rt, h) != 0) {
        fprintf(stderr, "daft-repl: error: cannot kill %s: %s\n", a->name, daft_rt_last_error(R->rt));
        return;
    }
    a->killed = true;
    /* wait (briefly) until the runtime has noticed, so that what follows sees it dead */
    double deadline = repl_now() + 3.0;
    while (daft_rt_actor_alive(R->rt, h) && repl_now() < deadline) {
        struct timespec ts = {0, 10 * 1000000};
        nanosleep(&ts, NULL);
    }
    fprintf(R->out, "killed %s\n", a->name);
}

static const char *kill_usage = "usage: :kill ACTOR (a binding, 'ws[1]' or 'Worker#2'; see :actors)";

static void cmd_kill(Repl *R, const char *args) {
    const char *p = args;
    char *spec = word(&p);
    ActorSpec as;
    if (!spec || *skip_ws(p)) {
        fprintf(stderr, "daft-repl: error: %s\n", kill_usage);
    } else if (!parse_actor_spec(spec, &as)) {
        fprintf(stderr,
                "daft-repl: error: bad actor '%s': write a binding, NAME[N] with N an integer, or a name like "
                "'Worker#2'\n",
                spec);
    } else {
        DaftActor h = find_actor(R, &as);
        if (!h)
            fprintf(stderr, "daft-repl: error: no actor '%s' (name a binding, 'ws[1]' or 'Worker#2'; see :actors)\n",
                    spec);
        else
            kill_actor(R, h);
    }
    free(spec);
}

static void cmd_plan(Repl *R, const char *args, bool dot) {
    const char *p = args;
    char *name = word(&p);
    char *file = dot ? word(&p) : NULL;
    if (!name || (dot && !file)) {
        fprintf(stderr, "daft-repl: error: usage: %s\n", dot ? ":dot NAME FILE" : ":plan NAME");
        free(name);
        free(file);
        return;
    }
    FILE *out = R->out;
    if (file) {
        out = fopen(file, "w");
        if (!out) {
            fprintf(stderr, "daft-repl: error: cannot write '%s': %s\n", file, strerror(errno));
            free(name);
            free(file);
            return;
        }
    }
    bool ok = repl_plan_command(R, name, out, dot ? DAFT_PLAN_DOT : DAFT_PLAN_TEXT);
    if (file) {
        fclose(out);
        if (ok)
            fprintf(R->out, "wrote the plan of '%s' to %s\n", name, file);
    }
    free(name);
    free(file);
}

static void cmd_trace(Repl *R, const char *args) {
    const char *p = args;
    char *onoff = word(&p);
    char *file = word(&p);
    if (onoff && strcmp(onoff, "on") == 0 && file) {
        repl_trace_close(R);
        R->trace = fopen(file, "w");
        if (!R->trace) {
            fprintf(stderr, "daft-repl: error: cannot write '%s': %s\n", file, strerror(errno));
        } else {
            fputs("[\n", R->trace);
            R->trace_t0 = repl_now();
            fprintf(R->out, "tracing to %s\n", file);
        }
    } else if (onoff && strcmp(onoff, "off") == 0) {
        if (R->trace) {
            repl_trace_close(R);
            fprintf(R->out, "trace closed\n");
        } else {
            fprintf(R->out, "not tracing\n");
        }
    } else {
        fprintf(stderr, "daft-repl: error: usage: :trace on FILE | :trace off\n");
    }
    free(onoff);
    free(file);
}

bool repl_command(Repl *R, const char *line) {
    const char *p = skip_ws(line);
    if (*p == ':')
        p++;
    char *cmd = word(&p);
    const char *rest = skip_ws(p);
    bool go_on = true;
    repl_flush();
    if (!cmd) {
        fputs(help_text, R->out);
    } else if (!strcmp(cmd, "help") || !strcmp(cmd, "h") || !strcmp(cmd, "?")) {
        fputs(help_text, R->out);
    } else if (!strcmp(cmd, "quit") || !strcmp(cmd, "q") || !strcmp(cmd, "exit")) {
        /* a stray argument is more likely a typo than a wish to end the session */
        if (*rest)
            fprintf(stderr, "daft-repl: error: usage: :quit (no arguments)\n");
        else
            go_on = false;
    } else if (!strcmp(cmd, "actors")) {
        cmd_actors(R);
    } else if (!strcmp(cmd, "refs")) {
        cmd_refs(R);
    } else if (!strcmp(cmd, "plan")) {
        cmd_plan(R, rest, false);
    } else if (!strcmp(cmd, "dot")) {
        cmd_plan(R, rest, true);
    } else if (!strcmp(cmd, "trace")) {
        cmd_trace(R, rest);
    } else if (!strcmp(cmd, "kill")) {
        cmd_kill(R, rest);
    } else if (!strcmp(cmd, "load")) {
        char *file = word(&rest);
        if (!file)
            fprintf(stderr, "daft-repl: error: usage: :load FILE\n");
        else if (repl_load(R, file))
            fprintf(R->out, "loaded %s\n", file);
        free(file);
    } else {
        fprintf(stderr, "daft-repl: error: unknown command ':%s' (see :help)\n", cmd);
    }
    fflush(R->out);
    fflush(stderr);
    free(cmd);
    if (!go_on)
        repl_trace_close(R);
    return go_on;
}
