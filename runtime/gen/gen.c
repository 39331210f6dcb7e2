/* libdaftgen: support code for daftc-generated programs. Contract: include/daft/gen.h. */
#include <daft/gen.h>
#include <daft/std.h>

#include "gen_internal.h"

#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

DaftGenCtx daft_gen_ctx = {.log = -1, .next_handle = 1};
int64_t daft_gen_where;

/* What each Ref the driver created stands for, for timeout messages. Keyed by Ref id. */
typedef struct RefInfo {
    uint64_t id;
    DaftActor actor;
    int method;
} RefInfo;

static void ref_note(uint64_t id, DaftActor actor, int method)
{
    if (!daft_gen_ctx.refs.size)
        daft_gen_ctx.refs.size = sizeof(RefInfo);
    RefInfo *r = gen_idmap_put(&daft_gen_ctx.refs, id);
    r->actor = actor;
    r->method = method;
}

static const RefInfo *ref_find(uint64_t id) { return gen_idmap_find(&daft_gen_ctx.refs, id); }

/* A released Ref no longer needs its description. */
static void ref_forget(uint64_t id)
{
    RefInfo *r = gen_idmap_find(&daft_gen_ctx.refs, id);
    if (r)
        gen_idmap_del(&daft_gen_ctx.refs, r);
}

static const DaftClassDesc *actor_class(DaftActor a)
{
    if (!daft_gen_ctx.prog || a >= daft_gen_ctx.nactor_class || daft_gen_ctx.actor_class[a] < 0)
        return NULL;
    return &daft_gen_ctx.prog->classes[daft_gen_ctx.actor_class[a]];
}

static void free_tables(void)
{
    free(daft_gen_ctx.class_ids);
    daft_gen_ctx.class_ids = NULL;
    free(daft_gen_ctx.actor_class);
    daft_gen_ctx.actor_class = NULL;
    free(daft_gen_ctx.actor_gpu);
    daft_gen_ctx.actor_gpu = NULL;
    free(daft_gen_ctx.actor_node);
    daft_gen_ctx.actor_node = NULL;
    daft_gen_ctx.nactor_class = 0;
    gen_idmap_free(&daft_gen_ctx.refs);
    gen_idmap_free(&daft_gen_ctx.counts);
}

DaftRt *daft_gen_rt(void) { return daft_gen_ctx.rt; }

void daft_gen_host(DaftRt *rt, const DaftGenHost *host)
{
    daft_gen_ctx.rt = rt;
    daft_gen_ctx.host = *host;
    daft_gen_ctx.hosted = true;
}

void daft_gen_host_end(void)
{
    gen_coll_shutdown();
    daft_gen_ctx.hosted = false;
    daft_gen_ctx.rt = NULL;
}

int daft_gen_register_class(DaftRt *rt, const DaftClassDesc *desc)
{
    /* One more method after the class's own, whose indices are unchanged: the hidden
     * "collective" task of std.collective (gen_coll.c). The runtime copies the table. */
    DaftMethodDesc *ms = calloc((size_t)desc->nmethods + 1, sizeof *ms);
    if (!ms)
        return DAFT_ENOMEM;
    if (desc->nmethods)
        memcpy(ms, desc->methods, (size_t)desc->nmethods * sizeof *ms);
    ms[desc->nmethods] = (DaftMethodDesc){"collective", gen_coll_method};
    DaftClassDesc c = *desc;
    c.methods = ms;
    c.nmethods = desc->nmethods + 1;
    int id = daft_rt_register_class(rt, &c);
    free(ms);
    /* a member over NCCL whose input failed still joins, to tell the others */
    if (id >= 0)
        daft_rt_method_takes_errors(rt, id, desc->nmethods);
    return id;
}

const DaftGenProgram *gen_prog(void) { return daft_gen_ctx.prog; }

int gen_actor_class(DaftActor a) { return a < daft_gen_ctx.nactor_class ? daft_gen_ctx.actor_class[a] : -1; }

DaftActor gen_actor_limit(void) { return (DaftActor)daft_gen_ctx.nactor_class; }

void gen_actor_request(DaftActor a, int *gpu, int *node)
{
    *gpu = a < daft_gen_ctx.nactor_class ? daft_gen_ctx.actor_gpu[a] : -1;
    *node = a < daft_gen_ctx.nactor_class ? daft_gen_ctx.actor_node[a] : -1;
}

const char *gen_actor_name(DaftActor a, char *buf, size_t cap)
{
    if (daft_gen_ctx.hosted)
        return daft_gen_ctx.host.actor_name(daft_gen_ctx.host.arg, a, buf, cap);
    const DaftClassDesc *c = actor_class(a);
    snprintf(buf, cap, "%s#%u", c ? c->name : "actor", a);
    return buf;
}

int gen_coll_method_of(DaftActor a)
{
    if (daft_gen_ctx.hosted)
        return daft_gen_ctx.host.coll_method(daft_gen_ctx.host.arg, a);
    const DaftGenProgram *p = daft_gen_ctx.prog;
    int ci = gen_actor_class(a);
    return p && ci >= 0 && ci < p->nclasses ? p->classes[ci].nmethods : -1;
}

/* ---------------------------------------------------------------- errors */

/* The end of a driver whose program failed or was interrupted: exit status 1 (SPEC 14.4), or,
 * after a Ctrl-C (daft_rt_interrupt), death by SIGINT, as a program that does not catch it
 * (SPEC 15.7: a shell says 130 and a script running it stops). */
static void gen_exit(int status) __attribute__((noreturn));
static void gen_exit(int status)
{
    fflush(stdout);
    fflush(stderr);
    if (daft_rt_interrupted()) {
        signal(SIGINT, SIG_DFL);
        raise(SIGINT);
    }
    exit(status);
}

void daft_gen_fatal(const char *fmt, ...)
{
    fflush(stdout);
    va_list ap;
    va_start(ap, fmt);
    fputs("daft: error: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    if (daft_gen_where > 0)
        fprintf(stderr, "  at %s:%d:%d\n", daft_gen_ctx.prog && daft_gen_ctx.prog->name ? daft_gen_ctx.prog->name : "?",
                (int)(daft_gen_where >> 32), (int)(daft_gen_where & 0xffffffff));
    fflush(stderr);
    if (!daft_gen_ctx.in_fatal++) {
        gen_sched_shutdown();
        gen_coll_shutdown();
    }
    DaftRt *rt = daft_gen_ctx.rt;
    daft_gen_ctx.rt = NULL;
    daft_rt_shutdown(rt);
    free_tables();
    gen_exit(1);
}

/* What a Ref stands for in messages: "actor 'W#1' (W) method 'spin'", "a result of compiled
 * schedule 'NAME'", or NULL when unknown. */
static const char *ref_what(const DaftValue *v, char *buf, size_t cap)
{
    if (gen_is_handle(v)) {
        snprintf(buf, cap, "a result of compiled schedule '%s'", gen_handle_schedule(v));
        return buf;
    }
    const RefInfo *ri = v->kind == DAFT_V_REF ? ref_find(v->as.ref.id) : NULL;
    const DaftClassDesc *c = ri ? actor_class(ri->actor) : NULL;
    if (!c || ri->method < 0 || ri->method >= c->nmethods)
        return NULL;
    snprintf(buf, cap, "actor '%s#%u' (%s) method '%s'", c->name, ri->actor, c->name, c->methods[ri->method].name);
    return buf;
}

void gen_interrupted(const char *op, const DaftValue *v)
{
    char buf[512];
    const char *what = v ? ref_what(v, buf, sizeof buf) : NULL;
    daft_gen_fatal("interrupted (Ctrl-C)%s%s%s%s", op ? " in " : "", op ? op : "",
                   what ? ", waiting for " : "", what ? what : "");
}

/* get's timeout: the error names what it waited for (v: the first Ref not ready). */
static void get_timed_out(const DaftValue *v, double timeout_s) __attribute__((noreturn));
static void get_timed_out(const DaftValue *v, double timeout_s)
{
    char buf[512];
    const char *what = ref_what(v, buf, sizeof buf);
    if (what)
        daft_gen_fatal("get: timed out after %g s waiting for %s", timeout_s, what);
    daft_gen_fatal("get: timed out after %g s", timeout_s);
}

/* ---------------------------------------------------------------- driver crashes */

/* A driver that crashes (a stack overflow from recursion too deep, a bad access in a C
 * extern) says so, with the statement it was running, and then dies of the signal: never a
 * silent status 139 (SPEC 14.4). The handler runs on a stack of its own (an overflow leaves
 * none) and makes only async-signal-safe calls. */
static void crash_put(char *buf, size_t *n, size_t cap, const char *s)
{
    while (*s && *n < cap)
        buf[(*n)++] = *s++;
}

static void crash_put_int(char *buf, size_t *n, size_t cap, long long v)
{
    char d[24];
    int k = 0;
    if (v < 0) {
        crash_put(buf, n, cap, "-");
        v = -v;
    }
    do
        d[k++] = (char)('0' + v % 10);
    while ((v /= 10) > 0 && k < (int)sizeof d);
    while (k > 0 && *n < cap)
        buf[(*n)++] = d[--k];
}

/* "  at prog.daft:LINE:COL\n", the driver statement being run (none before the first). */
static void crash_put_where(char *buf, size_t *n, size_t cap)
{
    int64_t where = daft_gen_where;
    if (where <= 0)
        return;
    crash_put(buf, n, cap, "  at ");
    crash_put(buf, n, cap, daft_gen_ctx.prog && daft_gen_ctx.prog->name ? daft_gen_ctx.prog->name : "?");
    crash_put(buf, n, cap, ":");
    crash_put_int(buf, n, cap, (long long)(where >> 32));
    crash_put(buf, n, cap, ":");
    crash_put_int(buf, n, cap, (long long)(where & 0xffffffff));
    crash_put(buf, n, cap, "\n");
}

static void gen_crash(int sig)
{
    char buf[768];
    size_t n = 0, cap = sizeof buf;
    crash_put(buf, &n, cap, "daft: error: the driver crashed: ");
    crash_put(buf, &n, cap, sig == SIGSEGV ? "SIGSEGV (a stack overflow, as from recursion too deep, or a bad "
                                             "memory access in a C extern)"
                          : sig == SIGBUS ? "SIGBUS (a bad memory access in a C extern)"
                          : sig == SIGFPE ? "SIGFPE (an arithmetic fault in a C extern)"
                                          : "SIGILL (an illegal instruction in a C extern)");
    crash_put(buf, &n, cap, "\n");
    crash_put_where(buf, &n, cap);
    if (write(2, buf, n) < 0) { /* (nothing to do about it) */ }
    raise(sig); /* (SA_RESETHAND: the default action now, the status a crash has) */
}

static const int gen_crash_signals[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL};

static void gen_crash_setup(void)
{
    const size_t size = 256 * 1024;
    daft_gen_ctx.crash_stack = malloc(size);
    if (!daft_gen_ctx.crash_stack)
        return;
    stack_t ss = {.ss_sp = daft_gen_ctx.crash_stack, .ss_size = size, .ss_flags = 0};
    if (sigaltstack(&ss, NULL) != 0)
        return;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = gen_crash;
    sa.sa_flags = SA_ONSTACK | SA_RESETHAND;
    sigemptyset(&sa.sa_mask);
    for (size_t i = 0; i < sizeof gen_crash_signals / sizeof *gen_crash_signals; i++)
        sigaction(gen_crash_signals[i], &sa, NULL);
}

/* SPEC 15.7: the driver's Ctrl-C and SIGTERM. The first Ctrl-C only sets the runtime's
 * interrupt flag: the driver's next wait (or runtime call) ends the program through
 * daft_gen_fatal, and its teardown stops the actors at once. A second one, or SIGTERM, ends
 * it here and now (the driver may be computing, and reach no wait): the actors are killed
 * and reaped and the process dies of the signal (daft_rt_abort). Only async-signal-safe
 * calls. The actors ignore SIGINT (rt_launch.c): a terminal's Ctrl-C reaches them too. */
static void gen_on_signal(int sig)
{
    if (sig == SIGINT && !daft_rt_interrupted()) {
        daft_rt_interrupt();
        return;
    }
    /* (no "at" line: in a loop without calls the optimizer keeps daft_gen_where's stores
     * out of the loop, so it would name an earlier statement) */
    static const char second[] = "daft: error: aborted by a second interrupt (Ctrl-C): the actors were killed\n";
    static const char term[] = "daft: error: terminated (SIGTERM): the actors were killed\n";
    if (write(2, sig == SIGINT ? second : term, sig == SIGINT ? sizeof second - 1 : sizeof term - 1) < 0) {
        /* (nothing to do about it) */
    }
    daft_rt_abort(sig);
}

static void gen_signals_setup(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = gen_on_signal;
    sa.sa_flags = SA_RESTART; /* (the waits notice the flag within a slice) */
    sigemptyset(&sa.sa_mask);
    sigaddset(&sa.sa_mask, SIGINT);
    sigaddset(&sa.sa_mask, SIGTERM);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

int daft_gen_error(DaftActorCtx *ctx, DaftValue *err)
{
    const char *msg = err->kind == DAFT_V_ERROR && err->as.error.msg ? err->as.error.msg
                                                                      : "unknown error";
    if (!ctx)
        daft_gen_fatal("%s", msg);
    int rc = daft_raise(ctx, "%s", msg);
    daft_value_free(err);
    return rc ? rc : -1;
}

int daft_gen_errorf(DaftActorCtx *ctx, const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (!ctx)
        daft_gen_fatal("%s", buf);
    int rc = daft_raise(ctx, "%s", buf);
    return rc ? rc : -1;
}

int daft_gen_error_msg(DaftActorCtx *ctx, const char *msg)
{
    return daft_gen_errorf(ctx, "%s", msg);
}

/* ---------------------------------------------------------------- Ref counts
 * Why: driver code copies a Ref like any value (into a variable, a list, a function's
 * result), and the runtime keeps a task's or a schedule's result until its Ref is
 * released. Releasing at the first drop broke the other copies; never releasing the Refs
 * of variables kept every result of a loop. So each Ref is released when the last value
 * holding it is dropped. A Ref held once has no entry (a fresh result, the common case);
 * copies count here from 2. */
typedef struct RefCount {
    uint64_t id;
    int64_t n;
} RefCount;

static RefCount *rc_find(uint64_t id) { return gen_idmap_find(&daft_gen_ctx.counts, id); }

static void rc_insert(uint64_t id, int64_t n)
{
    if (!daft_gen_ctx.counts.size)
        daft_gen_ctx.counts.size = sizeof(RefCount);
    RefCount *e = gen_idmap_put(&daft_gen_ctx.counts, id);
    e->n = n;
}

static void rc_delete(RefCount *e) { gen_idmap_del(&daft_gen_ctx.counts, e); }

/* Reference counting is daft_gen_main's: another driver (daft_gen_host) owns its Refs. */
static bool rc_driver(void) { return daft_gen_ctx.rt && !daft_gen_ctx.hosted && daft_rt_is_driver(daft_gen_ctx.rt); }

/* Every Ref in v (lists included) gains (+1) or loses (-1) a holder; one that loses its
 * last is released. */
static void rc_adjust(const DaftValue *v, int delta)
{
    if (v->kind == DAFT_V_LIST) {
        for (size_t i = 0; i < v->as.list.len; i++)
            rc_adjust(&v->as.list.items[i], delta);
        return;
    }
    if (v->kind != DAFT_V_REF || !v->as.ref.id)
        return;
    RefCount *e = rc_find(v->as.ref.id);
    if (delta > 0) {
        if (e)
            e->n++;
        else
            rc_insert(v->as.ref.id, 2);
        return;
    }
    if (e) {
        if (--e->n <= 1)
            rc_delete(e); /* one holder left: no entry */
        return;
    }
    if (gen_is_handle(v)) {
        gen_handle_release(v);
    } else {
        daft_rt_release(daft_gen_ctx.rt, v->as.ref);
        ref_forget(v->as.ref.id);
    }
}

bool gen_ref_unshared(const DaftValue *v) { return !rc_find(v->as.ref.id); }

/* ---------------------------------------------------------------- values */

void daft_gen_drop(DaftValue *v)
{
    if (rc_driver())
        rc_adjust(v, -1);
    daft_value_free(v);
}

void daft_gen_copy(DaftValue *dst, const DaftValue *src)
{
    if (daft_value_copy(dst, src) != 0)
        daft_gen_fatal("out of memory");
    if (rc_driver())
        rc_adjust(dst, +1);
}

static const char *kind_name(DaftKind k)
{
    static const char *names[] = {"none", "i64", "f64", "bool", "str", "tensor",
                                  "list", "actor", "Ref", "error"};
    return (unsigned)k < sizeof names / sizeof *names ? names[k] : "?";
}

static int unbox_error(DaftActorCtx *ctx, const DaftValue *v, const char *want)
{
    if (v->kind == DAFT_V_ERROR)
        return daft_gen_errorf(ctx, "%s", v->as.error.msg);
    return daft_gen_errorf(ctx, "expected a value of type %s, got %s", want, kind_name(v->kind));
}

int daft_gen_unbox_i64(DaftActorCtx *ctx, const DaftValue *v, int64_t *out)
{
    if (v->kind == DAFT_V_I64) {
        *out = v->as.i64;
        return 0;
    }
    if (v->kind == DAFT_V_BOOL) {
        *out = v->as.b;
        return 0;
    }
    *out = 0;
    return unbox_error(ctx, v, "i64");
}

int daft_gen_unbox_f64(DaftActorCtx *ctx, const DaftValue *v, double *out)
{
    if (v->kind == DAFT_V_F64) {
        *out = v->as.f64;
        return 0;
    }
    if (v->kind == DAFT_V_I64) {
        *out = (double)v->as.i64;
        return 0;
    }
    *out = 0;
    return unbox_error(ctx, v, "f64");
}

int daft_gen_unbox_bool(DaftActorCtx *ctx, const DaftValue *v, bool *out)
{
    if (v->kind == DAFT_V_BOOL) {
        *out = v->as.b;
        return 0;
    }
    *out = false;
    return unbox_error(ctx, v, "bool");
}

void daft_gen_list_new(DaftValue *out, int64_t len)
{
    *out = daft_value_list(len > 0 ? (size_t)len : 0);
    if (out->kind != DAFT_V_LIST)
        daft_gen_fatal("out of memory");
}

void daft_gen_list_extend(DaftValue *target, DaftValue *items, int take)
{
    if (target->kind != DAFT_V_LIST || items->kind != DAFT_V_LIST)
        daft_gen_fatal("list append on a %s and a %s", kind_name(target->kind), kind_name(items->kind));
    size_t na = target->as.list.len, nb = items->as.list.len;
    if (nb == 0)
        return;
    DaftValue *v = realloc(target->as.list.items, (na + nb) * sizeof *v);
    if (!v)
        daft_gen_fatal("out of memory");
    target->as.list.items = v;
    /* (items may be target itself: its items are read after the realloc, up to nb) */
    for (size_t i = 0; i < nb; i++) {
        if (take) {
            v[na + i] = items->as.list.items[i];
            items->as.list.items[i] = daft_value_none();
        } else {
            daft_gen_copy(&v[na + i], &items->as.list.items[i]);
        }
    }
    target->as.list.len = na + nb;
}

int daft_gen_len(DaftActorCtx *ctx, const DaftValue *v, int64_t *out)
{
    switch (v->kind) {
    case DAFT_V_LIST: *out = (int64_t)v->as.list.len; return 0;
    case DAFT_V_STR: *out = (int64_t)v->as.str.len; return 0;
    case DAFT_V_TENSOR: *out = v->as.tensor.rank > 0 ? v->as.tensor.dims[0] : 1; return 0;
    default: *out = 0; return daft_gen_errorf(ctx, "len() of a value of type %s", kind_name(v->kind));
    }
}

/* Operator codes of daft/lang.h's DAFT_OPS (kept in step by a test of codegen). */
enum { OP_ADD = 1, OP_EQ = 6, OP_NE = 7, OP_LT = 8, OP_LE = 9, OP_GT = 10, OP_GE = 11 };

/* Orders two strs bytewise, a shorter prefix first (SPEC.md §6.4): <0, 0 or >0. */
static int str_order(const DaftValue *a, const DaftValue *b)
{
    size_t n = a->as.str.len < b->as.str.len ? a->as.str.len : b->as.str.len;
    int c = n ? memcmp(a->as.str.ptr, b->as.str.ptr, n) : 0;
    if (c)
        return c;
    return a->as.str.len < b->as.str.len ? -1 : a->as.str.len > b->as.str.len;
}

int daft_gen_binop(DaftActorCtx *ctx, int op, const DaftValue *a, const DaftValue *b,
                   DaftValue *out)
{
    if (op == OP_EQ || op == OP_NE) {
        bool eq = daft_value_equal(a, b);
        *out = daft_value_bool(op == OP_EQ ? eq : !eq);
        return 0;
    }
    if (op >= OP_LT && op <= OP_GE && a->kind == DAFT_V_STR && b->kind == DAFT_V_STR) {
        int c = str_order(a, b);
        *out = daft_value_bool(op == OP_LT ? c < 0 : op == OP_LE ? c <= 0 : op == OP_GT ? c > 0 : c >= 0);
        return 0;
    }
    if (op == OP_ADD && a->kind == DAFT_V_STR && b->kind == DAFT_V_STR) {
        size_t n = a->as.str.len + b->as.str.len;
        char *p = malloc(n + 1);
        if (!p)
            daft_gen_fatal("out of memory");
        memcpy(p, a->as.str.ptr, a->as.str.len);
        memcpy(p + a->as.str.len, b->as.str.ptr, b->as.str.len);
        p[n] = 0;
        *out = daft_value_strn(p, n);
        free(p);
        return 0;
    }
    if (op == OP_ADD && a->kind == DAFT_V_LIST && b->kind == DAFT_V_LIST) {
        daft_gen_copy(out, a);
        daft_gen_list_extend(out, (DaftValue *)b, 0); /* (0: b's items are copied, not taken) */
        return 0;
    }
    return daft_gen_errorf(ctx, "operator %d is not defined on %s and %s", op, kind_name(a->kind),
                           kind_name(b->kind));
}

void daft_gen_str(DaftValue *out, const char *bytes, int64_t len)
{
    *out = daft_value_strn(bytes, (size_t)len);
    if (out->kind != DAFT_V_STR)
        daft_gen_fatal("out of memory");
}

/* ---------------------------------------------------------------- printing */

static void line_put(const char *p, size_t n)
{
    if (daft_gen_ctx.line_len + n + 2 > daft_gen_ctx.line_cap) {
        size_t ncap = daft_gen_ctx.line_cap ? daft_gen_ctx.line_cap : 256;
        while (daft_gen_ctx.line_len + n + 2 > ncap)
            ncap *= 2;
        char *q = realloc(daft_gen_ctx.line, ncap);
        if (!q)
            daft_gen_fatal("out of memory");
        daft_gen_ctx.line = q;
        daft_gen_ctx.line_cap = ncap;
    }
    memcpy(daft_gen_ctx.line + daft_gen_ctx.line_len, p, n);
    daft_gen_ctx.line_len += n;
}

static void line_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void line_printf(const char *fmt, ...)
{
    char buf[128];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (n >= 0)
        line_put(buf, (size_t)n < sizeof buf ? (size_t)n : sizeof buf - 1);
}

static void put_sep(int first)
{
    if (!first)
        line_put(" ", 1);
}

void daft_gen_print_begin(DaftActorCtx *ctx)
{
    daft_gen_ctx.line_len = 0;
    if (ctx)
        line_printf("[%s] ", daft_ctx_actor_name(ctx));
}

void daft_gen_print_i64(int64_t v, int first)
{
    put_sep(first);
    line_printf("%lld", (long long)v);
}

void daft_gen_print_f64(double v, int first)
{
    char b[40];
    put_sep(first);
    daft_std_format_float(v, b, sizeof b);
    line_put(b, strlen(b));
}

void daft_gen_print_f32(float v, int first)
{
    daft_gen_print_f64((double)v, first);
}

void daft_gen_print_bool(int v, int first)
{
    put_sep(first);
    line_put(v ? "true" : "false", v ? 4 : 5);
}

/* Does v, or a list inside it, hold an actor handle? */
static bool holds_actor(const DaftValue *v, int depth)
{
    if (v->kind == DAFT_V_ACTOR)
        return true;
    if (v->kind != DAFT_V_LIST || depth >= 32 || !v->as.list.items)
        return false;
    for (size_t i = 0; i < v->as.list.len; i++)
        if (holds_actor(&v->as.list.items[i], depth + 1))
            return true;
    return false;
}

/* Writes v as print shows it. Actors print as their names, which daft_std_format_value
 * does not know, also inside lists ([W#1, W#2]); such a list holds only actors or lists of
 * them, so its items need no quoting. */
static void put_value(const DaftValue *v, int depth)
{
    if (v->kind == DAFT_V_ACTOR) {
        char name[160];
        const char *p = gen_actor_name(v->as.actor, name, sizeof name);
        line_put(p, strlen(p));
        return;
    }
    if (v->kind == DAFT_V_LIST && holds_actor(v, depth)) {
        line_put("[", 1);
        for (size_t i = 0; i < v->as.list.len; i++) {
            if (i)
                line_put(", ", 2);
            put_value(&v->as.list.items[i], depth + 1);
        }
        line_put("]", 1);
        return;
    }
    int n = daft_std_format_value(v, NULL, 0);
    if (n <= 0)
        return;
    char *buf = malloc((size_t)n + 1);
    if (!buf)
        daft_gen_fatal("out of memory");
    daft_std_format_value(v, buf, (size_t)n + 1);
    line_put(buf, (size_t)n);
    free(buf);
}

void daft_gen_print_value(const DaftValue *v, int first)
{
    put_sep(first);
    put_value(v, 0);
}

void daft_gen_print_end(void)
{
    line_put("\n", 1);
    fflush(stdout);
    fwrite(daft_gen_ctx.line, 1, daft_gen_ctx.line_len, stdout);
    fflush(stdout);
    daft_gen_ctx.line_len = 0;
}

/* ---------------------------------------------------------------- actors */

void daft_gen_spawn(DaftValue *out, int class_index, const DaftValue *args, int nargs, int gpu,
                    int node)
{
    if (!daft_gen_ctx.rt || !daft_gen_ctx.prog || class_index < 0 || class_index >= daft_gen_ctx.prog->nclasses)
        daft_gen_fatal("spawn: no runtime or bad class index %d", class_index);
    gen_check_interrupt();
    for (int i = 0; i < nargs; i++)
        if (args[i].kind == DAFT_V_REF)
            daft_gen_fatal("spawn %s: a Ref cannot be a constructor argument; get() it first",
                           daft_gen_ctx.prog->classes[class_index].name);
    DaftSpawnOpts opts = {NULL, node, gpu};
    DaftActor a = 0;
    fflush(stdout); /* the runtime forks: nothing buffered may be written twice */
    fflush(stderr);
    int rc = daft_rt_spawn(daft_gen_ctx.rt, daft_gen_ctx.class_ids[class_index], args, nargs, &opts, &a);
    if (rc != 0)
        daft_gen_fatal("spawn %s: %s", daft_gen_ctx.prog->classes[class_index].name,
                       daft_rt_last_error(daft_gen_ctx.rt));
    if (a >= daft_gen_ctx.nactor_class) {
        size_t n = daft_gen_ctx.nactor_class ? daft_gen_ctx.nactor_class : 16;
        while (n <= a)
            n *= 2;
        int *t = realloc(daft_gen_ctx.actor_class, n * sizeof *t);
        int *tg = realloc(daft_gen_ctx.actor_gpu, n * sizeof *tg);
        int *tn = realloc(daft_gen_ctx.actor_node, n * sizeof *tn);
        if (!t || !tg || !tn)
            daft_gen_fatal("out of memory");
        for (size_t i = daft_gen_ctx.nactor_class; i < n; i++)
            t[i] = tg[i] = tn[i] = -1;
        daft_gen_ctx.actor_class = t;
        daft_gen_ctx.actor_gpu = tg;
        daft_gen_ctx.actor_node = tn;
        daft_gen_ctx.nactor_class = n;
    }
    daft_gen_ctx.actor_class[a] = class_index;
    daft_gen_ctx.actor_gpu[a] = gpu;
    daft_gen_ctx.actor_node[a] = node;
    *out = daft_value_actor(a);
}

void daft_gen_call(DaftValue *out, const DaftValue *actor, int method, const DaftValue *args,
                   int nargs)
{
    if (!daft_gen_ctx.rt)
        daft_gen_fatal("method call before the runtime started");
    gen_check_interrupt();
    if (actor->kind != DAFT_V_ACTOR)
        daft_gen_fatal("method call on a value of type %s, not an actor", kind_name(actor->kind));
    DaftRef r = {0, 0};
    DaftValue *resolved = NULL;
    for (int i = 0; i < nargs && !resolved; i++)
        if (gen_is_handle(&args[i]))
            resolved = gen_resolve_handles(args, nargs);
    int rc = daft_rt_call(daft_gen_ctx.rt, actor->as.actor, method, resolved ? resolved : args, nargs, &r);
    for (int i = 0; resolved && i < nargs; i++)
        daft_gen_drop(&resolved[i]); /* (copies: the arguments' Refs stay held) */
    free(resolved);
    if (rc != 0)
        daft_gen_fatal("call of method %d on actor %u: %s", method, actor->as.actor,
                       daft_rt_last_error(daft_gen_ctx.rt));
    ref_note(r.id, actor->as.actor, method);
    *out = daft_value_ref(r);
}

static double gen_now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* SPEC 14.3: a wait over compiled-schedule results and Refs that lasts says what it waits
 * for, as daft_rt_wait does for Refs alone: the first item not ready, and how many are not. */
static void gen_wait_report(const char *op, const DaftValue *const *items, const uint8_t *ready, size_t len,
                            double waited_s)
{
    char also[64];
    size_t first = daft_rt_wait_pending(ready, len, also, sizeof also);
    if (first == len)
        return;
    if (gen_is_handle(items[first]))
        daft_rt_report_wait_schedule(daft_gen_ctx.rt, op, gen_handle_schedule(items[first]), waited_s, also);
    else
        daft_rt_report_wait(daft_gen_ctx.rt, op, items[first]->as.ref, waited_s, also);
}

/* The first of items not ready (an interrupt's or a timeout's message names it). */
static const DaftValue *gen_first_pending(const DaftValue *const *items, const uint8_t *ready, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (!ready[i])
            return items[i];
    return NULL;
}

/* SPEC 10.3: get of a list waits until every Ref in it is ready, or until one of those ready
 * holds an error: the first in list order of those that do at that moment, returned (NULL:
 * all are ready). A Ref that fails at once is raised at once, not after a slow one before it
 * (as Ray's get). A timeout (for the whole list) or an interrupt ends the program here. Refs
 * alone wait in the runtime (daft_rt_wait_list); compiled schedules' results among them are
 * polled, the Refs waited for in short steps, as daft_gen_wait does. */
static const DaftValue *gen_get_list_wait(const DaftValue *const *items, size_t len, double timeout_s)
{
    DaftRt *rt = daft_gen_ctx.rt;
    DaftRef *rr = calloc(len + 1, sizeof *rr);
    size_t *ridx = calloc(len + 1, sizeof *ridx);
    uint8_t *ready = calloc(len + 1, 1), *rready = calloc(len + 1, 1);
    if (!rr || !ridx || !ready || !rready)
        daft_gen_fatal("out of memory");
    size_t nr = 0;
    for (size_t i = 0; i < len; i++)
        if (!gen_is_handle(items[i])) {
            ridx[nr] = i;
            rr[nr++] = items[i]->as.ref;
        }
    double t0 = gen_now_s(), every = daft_rt_wait_report_s(rt);
    double report_at = every > 0 ? every : -1; /* (seconds since t0: 1, 3, 5... x every) */
    const DaftValue *failed = NULL;
    for (;;) {
        size_t hpending, herr = gen_handles_look(items, len, ready, &hpending);
        double left = timeout_s < 0 ? -1 : timeout_s - (gen_now_s() - t0);
        bool last = timeout_s >= 0 && left <= 0;
        /* (only Refs left, or none: they wait in the runtime, which reports as it lasts) */
        double step = herr < len || last ? 0 : hpending ? 0.005 : left;
        int idx = -1, rc = nr ? daft_rt_wait_list(rt, rr, (int)nr, step, "get", &idx) : 0;
        if (rc == DAFT_EINVAL)
            daft_gen_fatal("get: %s", daft_rt_last_error(rt));
        size_t rerr = rc == 0 && idx >= 0 ? ridx[idx] : len;
        if (herr < len || rerr < len) {
            failed = items[herr < rerr ? herr : rerr];
            break;
        }
        if (rc == 0 && !hpending)
            break;
        for (size_t j = 0; j < nr; j++) /* (the first Ref not ready and those before it) */
            ready[ridx[j]] = rc == 0 || (int)j < idx;
        if (rc == DAFT_EINTR || daft_rt_interrupted())
            gen_interrupted("get", gen_first_pending(items, ready, len));
        if (last || (rc == DAFT_ETIMEDOUT && !hpending))
            get_timed_out(gen_first_pending(items, ready, len), timeout_s);
        if (rc == 0) { /* only compiled results are left: the first one's (each plan's come in
                        * order) is waited for, the others looked at again in 5 ms */
            const DaftValue *first = gen_first_pending(items, ready, len);
            if (gen_handle_wait(first, left < 0 || left > 0.005 ? 0.005 : left) == DAFT_EINTR)
                gen_interrupted("get", first);
        }
        double since = gen_now_s() - t0;
        if (report_at >= 0 && since >= report_at) {
            if (nr && daft_rt_wait(rt, rr, (int)nr, 0, 0, rready) >= 0)
                for (size_t j = 0; j < nr; j++)
                    ready[ridx[j]] = rready[j];
            gen_wait_report("get", items, ready, len, report_at);
            report_at += 2 * every;
        }
    }
    free(rr);
    free(ridx);
    free(ready);
    free(rready);
    return failed;
}

/* get; with take, a compiled schedule's result is moved out rather than copied (v is a
 * temporary Ref about to be released, so nothing else can get that result again). */
static int gen_get(DaftActorCtx *ctx, const DaftValue *v, double timeout_s, DaftValue *out, bool take)
{
    if (v->kind == DAFT_V_LIST) {
        /* (a list of Refs, SPEC 10.3: sema allows no deeper one) */
        const DaftValue **refs = calloc(v->as.list.len + 1, sizeof *refs);
        size_t nrefs = 0;
        if (!refs)
            daft_gen_fatal("out of memory");
        for (size_t i = 0; !ctx && daft_gen_ctx.rt && i < v->as.list.len; i++)
            if (v->as.list.items[i].kind == DAFT_V_REF)
                refs[nrefs++] = &v->as.list.items[i];
        const DaftValue *failed = nrefs > 1 ? gen_get_list_wait(refs, nrefs, timeout_s) : NULL;
        if (nrefs > 1)
            timeout_s = -1; /* every one is ready: the takes below do not wait */
        free(refs);
        if (failed)
            return gen_get(ctx, failed, -1, out, false); /* (raises it) */
        daft_gen_list_new(out, (int64_t)v->as.list.len);
        for (size_t i = 0; i < v->as.list.len; i++) {
            int rc = gen_get(ctx, &v->as.list.items[i], timeout_s, &out->as.list.items[i], take);
            if (rc)
                return rc;
        }
        return 0;
    }
    if (v->kind != DAFT_V_REF) {
        daft_gen_copy(out, v);
        return 0;
    }
    if (ctx || !daft_gen_ctx.rt)
        return daft_gen_errorf(ctx, "get() of a Ref is only possible in driver code");
    if (gen_is_handle(v)) {
        int hrc = gen_handle_get(v, timeout_s, out, take, "get");
        if (hrc == DAFT_ETIMEDOUT)
            get_timed_out(v, timeout_s);
        if (hrc != 0)
            daft_gen_fatal("get: %s", out->kind == DAFT_V_ERROR ? out->as.error.msg : "invalid Ref");
        if (out->kind == DAFT_V_ERROR)
            return daft_gen_error(ctx, out);
        return 0;
    }
    int rc = daft_rt_get(daft_gen_ctx.rt, v->as.ref, timeout_s, out);
    if (rc == DAFT_EINTR)
        gen_interrupted("get", v);
    if (rc == DAFT_ETIMEDOUT)
        get_timed_out(v, timeout_s);
    if (rc != 0)
        daft_gen_fatal("get: %s", daft_rt_last_error(daft_gen_ctx.rt));
    if (out->kind == DAFT_V_ERROR)
        return daft_gen_error(ctx, out);
    return 0;
}

int daft_gen_check_timeout(DaftActorCtx *ctx, double timeout_s, int32_t is_wait)
{
    if (timeout_s >= 0) /* (NaN fails too) */
        return 0;
    return daft_gen_errorf(ctx, "%s: timeout must be a number of seconds >= 0, not %g",
                           is_wait ? "wait" : "get", isnan(timeout_s) ? NAN : timeout_s);
}

int daft_gen_get(DaftActorCtx *ctx, const DaftValue *v, double timeout_s, DaftValue *out)
{
    if (!ctx)
        gen_check_interrupt();
    return gen_get(ctx, v, timeout_s, out, false);
}

int daft_gen_get_take(DaftActorCtx *ctx, const DaftValue *v, double timeout_s, DaftValue *out)
{
    if (!ctx)
        gen_check_interrupt();
    return gen_get(ctx, v, timeout_s, out, true);
}

int daft_gen_wait(DaftActorCtx *ctx, const DaftValue *refs, int64_t n, double timeout_s,
                  DaftValue *out)
{
    if (ctx || !daft_gen_ctx.rt)
        return daft_gen_errorf(ctx, "wait() is only possible in driver code");
    gen_check_interrupt();
    if (refs->kind != DAFT_V_LIST)
        return daft_gen_errorf(ctx, "wait() needs a list of Refs");
    size_t len = refs->as.list.len;
    DaftRef *rs = calloc(len ? len : 1, sizeof *rs);
    uint8_t *ready = calloc(len ? len : 1, 1);
    const DaftValue **items = calloc(len ? len : 1, sizeof *items);
    if (!rs || !ready || !items)
        daft_gen_fatal("out of memory");
    for (size_t i = 0; i < len; i++) {
        if (refs->as.list.items[i].kind != DAFT_V_REF)
            daft_gen_fatal("wait(): item %zu is not a Ref", i);
        rs[i] = refs->as.list.items[i].as.ref;
        items[i] = &refs->as.list.items[i];
    }
    if (n < 0) /* (SPEC 10.4: 0 <= n <= len(refs)) */
        return daft_gen_errorf(ctx, "wait: n = %lld is negative", (long long)n);
    if (n > (int64_t)len)
        return daft_gen_errorf(ctx, "wait: n = %lld but only %zu refs", (long long)n, len);
    size_t nhandles = 0;
    for (size_t i = 0; i < len; i++)
        nhandles += gen_is_handle(&refs->as.list.items[i]);
    if (!nhandles) {
        int rc = daft_rt_wait(daft_gen_ctx.rt, rs, (int)len, (int)n, timeout_s, ready);
        if (rc == DAFT_EINTR)
            gen_interrupted("wait", gen_first_pending(items, ready, len));
        if (rc < 0)
            daft_gen_fatal("wait: %s", daft_rt_last_error(daft_gen_ctx.rt));
    } else {
        /* Plan handles among the Refs: poll them and wait on the others in short steps. */
        DaftRef *rr = calloc(len, sizeof *rr);
        uint8_t *rready = calloc(len, 1);
        size_t *ridx = calloc(len, sizeof *ridx);
        if (!rr || !rready || !ridx)
            daft_gen_fatal("out of memory");
        size_t nr = 0;
        for (size_t i = 0; i < len; i++)
            if (!gen_is_handle(&refs->as.list.items[i])) {
                ridx[nr] = i;
                rr[nr++] = rs[i];
            }
        double t0 = gen_now_s(), every = daft_rt_wait_report_s(daft_gen_ctx.rt);
        double report_at = every > 0 ? every : -1; /* (seconds since t0: 1, 3, 5... x every) */
        int got = nr ? -1 : 0; /* how many of rr were ready at the last look (-1: none yet) */
        for (;;) {
            int64_t k = 0;
            for (size_t i = 0; i < len; i++)
                if (gen_is_handle(&refs->as.list.items[i])) {
                    ready[i] = (uint8_t)gen_handle_ready(&refs->as.list.items[i]);
                    k += ready[i];
                }
            int64_t want = n - k;
            /* the timeout is of the clock: a step may end early, or take longer */
            bool last = timeout_s >= 0 && gen_now_s() - t0 >= timeout_s;
            const double step = 0.005;
            if (nr && got < (int)nr) {
                got = daft_rt_wait(daft_gen_ctx.rt, rr, (int)nr,
                                   want > 0 ? (int)(want < (int64_t)nr ? want : (int64_t)nr) : 0,
                                   want > 0 && !last ? step : 0, rready);
                for (size_t j = 0; j < nr; j++)
                    ready[ridx[j]] = rready[j];
                if (got == DAFT_EINTR)
                    gen_interrupted("wait", gen_first_pending(items, ready, len));
                if (got < 0)
                    daft_gen_fatal("wait: %s", daft_rt_last_error(daft_gen_ctx.rt));
            }
            k += got > 0 ? got : 0;
            if (k >= n || last)
                break;
            if (daft_rt_interrupted())
                gen_interrupted("wait", gen_first_pending(items, ready, len));
            if (got == (int)nr) {
                /* only handles are left to wait for (daft_rt_wait, returning at once,
                 * would make this a busy loop) */
                struct timespec ts = {0, 5000000};
                nanosleep(&ts, NULL);
            }
            double since = gen_now_s() - t0;
            if (report_at >= 0 && since >= report_at) {
                gen_wait_report("wait", items, ready, len, report_at);
                report_at += 2 * every;
            }
        }
        free(rr);
        free(rready);
        free(ridx);
    }
    size_t k = 0;
    for (size_t i = 0; i < len; i++)
        k += ready[i] != 0;
    daft_gen_list_new(out, (int64_t)k);
    k = 0;
    for (size_t i = 0; i < len; i++)
        if (ready[i])
            out->as.list.items[k++] = daft_value_i64((int64_t)i);
    free(rs);
    free(ready);
    free(items);
    return 0;
}

int daft_gen_index_error(DaftActorCtx *ctx, int64_t index, int64_t len)
{
    return daft_gen_errorf(ctx, "index %lld is out of range for a list of length %lld", (long long)index,
                           (long long)len);
}

int daft_gen_f2i(DaftActorCtx *ctx, double v, int bits, int64_t *out)
{
    /* The values that truncate into range (SPEC 6.2), as exact doubles: (-2^31 - 1, 2^31) and
     * [-2^63, 2^63) (-2^63 - 1 is -2^63 in a double, so the 64-bit lower bound is inclusive). */
    bool fits = bits == 32 ? v > -2147483649.0 && v < 2147483648.0
                           : v >= -9223372036854775808.0 && v < 9223372036854775808.0;
    if (!fits) { /* also NaN */
        *out = 0;
        return daft_gen_errorf(ctx, "i%d: value %g is out of range", bits, v);
    }
    *out = (int64_t)v;
    if (bits == 32 && (*out < INT32_MIN || *out > INT32_MAX))
        return daft_gen_errorf(ctx, "i32: value %g is out of range", v);
    return 0;
}

int daft_gen_i2i32(DaftActorCtx *ctx, int64_t v, int32_t *out)
{
    if (v < INT32_MIN || v > INT32_MAX) {
        *out = 0;
        return daft_gen_errorf(ctx, "i32: value %lld is out of range", (long long)v);
    }
    *out = (int32_t)v;
    return 0;
}

void daft_gen_empty_tensor(DaftValue *out, int dt)
{
    int64_t dims[1] = {0};
    *out = daft_value_tensor((DaftRtDtype)dt, 1, dims, NULL);
}

void daft_gen_peek(DaftActorCtx *ctx, const DaftValue *v, DaftValue *out, const char *op)
{
    if (v->kind != DAFT_V_REF || ctx || !daft_gen_ctx.rt) {
        daft_gen_copy(out, v);
        return;
    }
    if (gen_is_handle(v)) {
        if (gen_handle_get(v, -1, out, false, op) != 0 && out->kind != DAFT_V_ERROR) {
            daft_value_free(out);
            *out = daft_value_error("invalid or released Ref");
        }
        return;
    }
    int rc = daft_rt_get_for(daft_gen_ctx.rt, v->as.ref, -1, op, out);
    if (rc == DAFT_EINTR)
        gen_interrupted(op, v);
    if (rc != 0) {
        daft_value_free(out);
        *out = daft_value_error("%s", daft_rt_last_error(daft_gen_ctx.rt));
    }
}

int daft_gen_fail(DaftActorCtx *ctx, const DaftValue *msg)
{
    return daft_gen_errorf(ctx, "%s", msg->kind == DAFT_V_STR ? msg->as.str.ptr : "fail");
}

void daft_gen_to_str(DaftValue *out, const DaftValue *v, int is_f32)
{
    char buf[64];
    if (v->kind == DAFT_V_F64) {
        daft_std_format_float(is_f32 ? (double)(float)v->as.f64 : v->as.f64, buf, sizeof buf);
        *out = daft_value_str(buf);
        return;
    }
    int n = daft_std_format_value(v, NULL, 0);
    char *p = malloc(n > 0 ? (size_t)n + 1 : 1);
    if (!p)
        daft_gen_fatal("out of memory");
    p[0] = 0;
    if (n > 0)
        daft_std_format_value(v, p, (size_t)n + 1);
    *out = daft_value_str(p);
    free(p);
}

/* ---------------------------------------------------------------- typed kernels */

/* Every daft_raise of the program comes here first (-Wl,--wrap=daft_raise). */
int __real_daft_raise(DaftActorCtx *ctx, const char *fmt, ...);
int __wrap_daft_raise(DaftActorCtx *ctx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int __wrap_daft_raise(DaftActorCtx *ctx, const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    daft_gen_ctx.raised = 1;
    if (!ctx) {
        snprintf(daft_gen_ctx.raise_msg, sizeof daft_gen_ctx.raise_msg, "%s", buf);
        return -1;
    }
    return __real_daft_raise(ctx, "%s", buf);
}

DaftTensor *daft_gen_tensor_new(DaftRtDtype dt, int rank, const int64_t *dims)
{
    DaftValue v = daft_value_tensor(dt, rank, dims, NULL);
    if (v.kind != DAFT_V_TENSOR) {
        daft_value_free(&v);
        return NULL;
    }
    DaftTensor *t = malloc(sizeof *t);
    if (!t) {
        daft_value_free(&v);
        return NULL;
    }
    *t = v.as.tensor;
    return t;
}

void daft_gen_kernel_begin(void) { daft_gen_ctx.raised = 0; }

int daft_gen_kernel_end(DaftActorCtx *ctx, const char *symbol)
{
    (void)symbol;
    if (!daft_gen_ctx.raised)
        return 0;
    daft_gen_ctx.raised = 0;
    if (!ctx)
        daft_gen_fatal("%s", daft_gen_ctx.raise_msg);
    return -1;
}

int daft_gen_take_tensor(DaftActorCtx *ctx, DaftTensor *t, const char *symbol, DaftValue *out)
{
    if (!t)
        return daft_gen_errorf(ctx, "extern kernel '%s' returned no tensor", symbol);
    out->kind = DAFT_V_TENSOR;
    out->as.tensor = *t;
    free(t);
    return 0;
}

int daft_gen_take_str(DaftActorCtx *ctx, char *p, const char *symbol, DaftValue *out)
{
    if (!p)
        return daft_gen_errorf(ctx, "extern kernel '%s' returned no string", symbol);
    *out = daft_value_str(p);
    free(p);
    return 0;
}

int daft_gen_take_value(DaftActorCtx *ctx, DaftValue *v, const char *symbol, DaftValue *out)
{
    if (!v)
        return daft_gen_errorf(ctx, "extern kernel '%s' returned no value", symbol);
    *out = *v;
    free(v);
    return 0;
}

int daft_gen_check_nargs(DaftActorCtx *ctx, int nargs, int expected)
{
    if (nargs == expected)
        return 0;
    return daft_gen_errorf(ctx, "called with %d arguments, expected %d", nargs, expected);
}

static bool tensor_fits(const DaftValue *v, const int64_t *spec)
{
    if (v->kind != DAFT_V_TENSOR)
        return false;
    const DaftTensor *t = &v->as.tensor;
    if ((spec[0] >= 0 && (int64_t)t->dtype != spec[0]) || (spec[1] >= 0 && t->rank != spec[1]))
        return false;
    for (int64_t i = 0; i < spec[1]; i++)
        if (spec[2 + i] != DAFT_DIM_DYNAMIC && t->dims[i] != spec[2 + i])
            return false;
    return true;
}

#define ITEM_PATH_CAP 160

/* The tensors `depth` lists deep in v (path: the items' indexes so far, "[2][0]") against
 * spec's type. */
static int check_tensor_items(DaftActorCtx *ctx, const DaftValue *v, const int64_t *spec,
                              int64_t depth, const char *what, const char *want, char *path,
                              size_t len)
{
    if (v->kind == DAFT_V_ERROR || v->kind == DAFT_V_REF)
        return 0; /* (a Ref's value is checked where it is used) */
    if (depth > 0) {
        for (size_t i = 0; v->kind == DAFT_V_LIST && i < v->as.list.len; i++) {
            int n = snprintf(path + len, ITEM_PATH_CAP - len, "[%zu]", i);
            size_t at = n > 0 && len + (size_t)n < ITEM_PATH_CAP ? len + (size_t)n : len;
            if (check_tensor_items(ctx, &v->as.list.items[i], spec, depth - 1, what, want, path, at))
                return -1;
            path[len] = '\0';
        }
        return 0;
    }
    if (tensor_fits(v, spec))
        return 0;
    char got[64 + DAFT_MAX_RANK * 24];
    if (v->kind == DAFT_V_TENSOR)
        daft_tensor_type_format(&v->as.tensor, got, sizeof got);
    else
        daft_value_format(v, got, sizeof got);
    return daft_gen_errorf(ctx, "%s%s%s: expected %s, got %s", what, *path ? " item " : "", path,
                           want, got);
}

/* The check of daft_gen_check_tensor for `target + items` (spec as there, for target's list
 * type), made on items alone before they are appended in place: target's items were checked
 * as they went in, and a misfit is named by its index in the whole list. */
int daft_gen_check_tensor_append(DaftActorCtx *ctx, const DaftValue *target, const DaftValue *items,
                                 const int64_t *spec, const char *what, const char *want)
{
    size_t base = target->kind == DAFT_V_LIST ? target->as.list.len : 0;
    char path[ITEM_PATH_CAP];
    for (size_t i = 0; spec[0] > 0 && items->kind == DAFT_V_LIST && i < items->as.list.len; i++) {
        int n = snprintf(path, sizeof path, "[%zu]", base + i);
        size_t at = n > 0 && (size_t)n < sizeof path ? (size_t)n : 0;
        if (check_tensor_items(ctx, &items->as.list.items[i], spec + 1, spec[0] - 1, what, want, path, at))
            return -1;
    }
    return 0;
}

/* spec: { list depth, dtype or -1, rank or -1, dims } (codegen.c check_tensor) */
int daft_gen_check_tensor(DaftActorCtx *ctx, const DaftValue *v, const int64_t *spec,
                          const char *what, const char *want)
{
    char path[ITEM_PATH_CAP] = "";
    return check_tensor_items(ctx, v, spec + 1, spec[0], what, want, path, 0);
}

/* ---------------------------------------------------------------- main */

static void print_help(const char *argv0, const DaftGenProgram *prog)
{
    printf("usage: %s [--help]\n"
           "\n"
           "A daft program compiled by daftc from %s.\n"
           "Started plainly it forks one process per actor on this machine; started under\n"
           "mpirun/srun, rank 0 is the driver and the other ranks host the actors.\n"
           "\n"
           "actor classes:",
           argv0, prog->name ? prog->name : "?");
    for (int i = 0; i < prog->nclasses; i++)
        printf(" %s", prog->classes[i].name);
    printf("%s\n\nenvironment:\n"
           "  DAFT_DEVICE=cpu         run every actor on the CPU (no GPU needed)\n"
           "  DAFT_TRANSPORT=shm|tcp  transport between actors on one host (default shm)\n"
           "  DAFT_TRACE=FILE.json    write a Chrome/Perfetto timeline trace\n"
           "  DAFT_SCHEDULE_LOG=1     say how each compiled schedule runs (plan or interpreted)\n"
           "  DAFT_SCHEDULE_CHECK=1   re-plan embedded plans at run time and require equality\n"
           "  DAFT_SCHEDULE_COLLECTIVES=interpreted\n"
           "                          run compiled schedules with collectives interpreted\n",
           prog->nclasses ? "" : " (none)");
}

int daft_gen_main(int argc, char **argv, const DaftGenProgram *prog)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            print_help(argv[0], prog);
            return 0;
        }
        if (strcmp(argv[i], "--") == 0)
            break;
    }
    daft_gen_ctx.prog = prog;
    daft_gen_ctx.rt = daft_rt_init(&argc, &argv);
    if (!daft_gen_ctx.rt)
        return 1;
    /* one compiled schedule called with two actor sets is already two plans (SPEC 11.5) */
    daft_rt_sequence_plans(daft_gen_ctx.rt, true);
    daft_gen_ctx.class_ids = calloc(prog->nclasses ? (size_t)prog->nclasses : 1, sizeof(int));
    if (!daft_gen_ctx.class_ids)
        daft_gen_fatal("out of memory");
    for (int i = 0; i < prog->nclasses; i++) {
        daft_gen_ctx.class_ids[i] = daft_gen_register_class(daft_gen_ctx.rt, &prog->classes[i]);
        if (daft_gen_ctx.class_ids[i] < 0)
            daft_gen_fatal("cannot register actor class %s: %s", prog->classes[i].name,
                           daft_rt_last_error(daft_gen_ctx.rt));
    }
    if (daft_rt_start(daft_gen_ctx.rt) != 0)
        daft_gen_fatal("cannot start the runtime: %s", daft_rt_last_error(daft_gen_ctx.rt));
    int status = 0;
    if (daft_rt_is_driver(daft_gen_ctx.rt) && prog->main_fn) {
        gen_crash_setup();
        gen_signals_setup();
        status = prog->main_fn(NULL);
    }
    fflush(stdout);
    /* SPEC 15.7: a Ctrl-C that no wait saw (main was computing), or one in the teardown's waits
     * for the tasks and executions in flight, which then stop at once */
    bool interrupted = daft_rt_interrupted();
    if (interrupted)
        fprintf(stderr, "daft: error: interrupted (Ctrl-C) as main returned\n");
    gen_sched_shutdown();
    gen_coll_shutdown();
    DaftRt *rt = daft_gen_ctx.rt;
    daft_gen_ctx.rt = NULL;
    daft_rt_shutdown(rt);
    free_tables();
    free(daft_gen_ctx.line);
    daft_gen_ctx.line = NULL;
    if (daft_rt_interrupted() && !interrupted)
        fprintf(stderr, "daft: error: interrupted (Ctrl-C) while the program ended, waiting for its tasks\n");
    if (daft_rt_interrupted())
        gen_exit(status);
    return status;
}
