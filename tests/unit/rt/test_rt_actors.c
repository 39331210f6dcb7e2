/* Multi-process tests of interpreted execution, written against the public daftrt.h only.
 * Run twice by ctest: DAFT_TRANSPORT=shm and DAFT_TRANSPORT=tcp.
 * Covers: spawn/call/get, get timeout, Refs passed between actors (small, chunked large
 * tensors, same-actor), error propagation along Refs with the graph staying usable,
 * constructor failure, wait, release, kill -9 during a call (errors within 1 s naming
 * actor, method, cause; dependents too), workers dying with the driver, and teardown
 * leaving no processes and nothing in /dev/shm; an idle actor using no CPU; get of a list's
 * wait (daft_rt_wait_list); interrupts (daft_rt_interrupt) and actors ignoring SIGINT. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "daftrt.h"
#include "proc_check.h"

/* ---------------------------------------------------------------- the test class */

typedef struct Counter {
    int64_t n;
} Counter;

static int g_pipe[2] = {-1, -1}; /* 'block' tells the test it started (inherited by fork) */

static int c_init(DaftActorCtx *ctx, void *st, const DaftValue *a, int n)
{
    if (n == 1 && a[0].kind == DAFT_V_STR)
        return daft_raise(ctx, "refusing to start: %s", a[0].as.str.ptr);
    ((Counter *)st)->n = n ? a[0].as.i64 : 0;
    return 0;
}

static int c_add(DaftActorCtx *ctx, void *st, const DaftValue *a, int n, DaftValue *out)
{
    if (n != 1 || a[0].kind != DAFT_V_I64)
        return daft_raise(ctx, "add expects one i64");
    Counter *c = st;
    c->n += a[0].as.i64;
    *out = daft_value_i64(c->n);
    return 0;
}

static int c_fail(DaftActorCtx *ctx, void *st, const DaftValue *a, int n, DaftValue *out)
{
    (void)st; (void)n; (void)out;
    return daft_raise(ctx, "%s", a[0].as.str.ptr);
}

static int c_sleep(DaftActorCtx *ctx, void *st, const DaftValue *a, int n, DaftValue *out)
{
    (void)ctx; (void)st; (void)n;
    struct timespec ts = {a[0].as.i64 / 1000, (a[0].as.i64 % 1000) * 1000000};
    nanosleep(&ts, NULL);
    *out = daft_value_i64(a[0].as.i64);
    return 0;
}

static int c_block(DaftActorCtx *ctx, void *st, const DaftValue *a, int n, DaftValue *out)
{
    (void)ctx; (void)st; (void)a; (void)n; (void)out;
    char b = 1;
    if (write(g_pipe[1], &b, 1) != 1)
        return daft_raise(ctx, "pipe");
    for (;;)
        pause();
}

/* tensor(n, v): f32 tensor of n elements all equal to v */
static int c_tensor(DaftActorCtx *ctx, void *st, const DaftValue *a, int n, DaftValue *out)
{
    (void)ctx; (void)st; (void)n;
    int64_t dims[1] = {a[0].as.i64};
    *out = daft_value_tensor(DAFT_RT_F32, 1, dims, NULL);
    float *p = out->as.tensor.data;
    for (int64_t i = 0; i < dims[0]; i++)
        p[i] = (float)a[1].as.f64;
    return 0;
}

static int c_sum(DaftActorCtx *ctx, void *st, const DaftValue *a, int n, DaftValue *out)
{
    (void)st; (void)n;
    if (a[0].kind != DAFT_V_TENSOR)
        return daft_raise(ctx, "sum expects a tensor");
    double s = 0;
    const float *p = a[0].as.tensor.data;
    for (int64_t i = 0; i < daft_tensor_numel(&a[0].as.tensor); i++)
        s += p[i];
    *out = daft_value_f64(s);
    return 0;
}

static int c_echo(DaftActorCtx *ctx, void *st, const DaftValue *a, int n, DaftValue *out)
{
    (void)ctx; (void)st; (void)n;
    return daft_value_copy(out, &a[0]);
}

static int c_pid(DaftActorCtx *ctx, void *st, const DaftValue *a, int n, DaftValue *out)
{
    (void)ctx; (void)st; (void)a; (void)n;
    *out = daft_value_i64(getpid());
    return 0;
}

/* kind_of(x) -> i64: the DaftValueKind of its argument (registered to take errors) */
static int c_kind_of(DaftActorCtx *ctx, void *st, const DaftValue *a, int n, DaftValue *out)
{
    (void)ctx; (void)st; (void)n;
    *out = daft_value_i64(a[0].kind);
    return 0;
}

enum { M_ADD, M_FAIL, M_SLEEP, M_BLOCK, M_TENSOR, M_SUM, M_ECHO, M_PID, M_KIND_OF };
static const DaftMethodDesc counter_methods[] = {
    {"add", c_add}, {"fail", c_fail}, {"sleep_ms", c_sleep}, {"block", c_block},
    {"tensor", c_tensor}, {"sum", c_sum}, {"echo", c_echo}, {"pid", c_pid}, {"kind_of", c_kind_of},
};
static const DaftClassDesc counter_class = {"Counter", sizeof(Counter), c_init, NULL,
                                            counter_methods, 9};

/* ---------------------------------------------------------------- helpers */

typedef struct Fix {
    DaftRt *rt;
    int cls;
    int shm_before;
} Fix;

static int setup(void **st)
{
    Fix *f = calloc(1, sizeof *f);
    f->shm_before = pc_count_dev_shm();
    f->rt = daft_rt_init(NULL, NULL);
    if (!f->rt)
        return -1;
    f->cls = daft_rt_register_class(f->rt, &counter_class);
    *st = f;
    return f->cls == 0 ? 0 : -1;
}

/* Teardown checks the promise: no child processes, nothing new in /dev/shm. */
static int teardown(void **st)
{
    Fix *f = *st;
    daft_rt_shutdown(f->rt);
    assert_true(pc_no_children());
    assert_int_equal(pc_count_dev_shm(), f->shm_before);
    free(f);
    return 0;
}

static DaftActor spawn(Fix *f, const char *name, int64_t start)
{
    DaftSpawnOpts o = {name, -1, -1};
    DaftValue arg = daft_value_i64(start);
    DaftActor a = 0;
    assert_int_equal(daft_rt_spawn(f->rt, f->cls, &arg, 1, &o, &a), 0);
    assert_true(a > 0);
    return a;
}

static DaftRef call1(Fix *f, DaftActor a, int m, DaftValue arg)
{
    DaftRef r;
    assert_int_equal(daft_rt_call(f->rt, a, m, &arg, 1, &r), 0);
    daft_value_free(&arg);
    return r;
}

static DaftValue get(Fix *f, DaftRef r)
{
    DaftValue v;
    assert_int_equal(daft_rt_get(f->rt, r, 10.0, &v), 0);
    return v;
}

/* ---------------------------------------------------------------- tests */

static void test_call_get(void **st)
{
    Fix *f = *st;
    DaftActor a = spawn(f, "c1", 10);
    DaftRef r1 = call1(f, a, M_ADD, daft_value_i64(5));
    DaftRef r2 = call1(f, a, M_ADD, daft_value_i64(7));
    DaftValue v = get(f, r2);
    assert_int_equal(v.kind, DAFT_V_I64);
    assert_int_equal(v.as.i64, 22);
    v = get(f, r1);
    assert_int_equal(v.as.i64, 15);
    v = get(f, r1); /* a Ref may be got again */
    assert_int_equal(v.as.i64, 15);
    assert_int_equal(daft_rt_method_index(f->rt, f->cls, "sum"), M_SUM);
    assert_int_equal(daft_rt_class_id(f->rt, "Counter"), f->cls);
    DaftRef bad;
    assert_int_equal(daft_rt_call(f->rt, a, 99, NULL, 0, &bad), DAFT_EINVAL);
    assert_int_equal(daft_rt_call(f->rt, 77, 0, NULL, 0, &bad), DAFT_EINVAL);
}

static void test_get_timeout(void **st)
{
    Fix *f = *st;
    DaftActor a = spawn(f, "sleepy", 0);
    DaftRef r = call1(f, a, M_SLEEP, daft_value_i64(300));
    DaftValue v;
    int64_t t0 = pc_now_ms();
    assert_int_equal(daft_rt_get(f->rt, r, 0.05, &v), DAFT_ETIMEDOUT);
    assert_true(pc_now_ms() - t0 < 250);
    v = get(f, r);
    assert_int_equal(v.as.i64, 300);
}

static void test_ref_passing(void **st)
{
    Fix *f = *st;
    DaftActor a = spawn(f, "producer", 0), b = spawn(f, "consumer", 0);
    /* small (inline), medium (stored at the producer), large (chunked through the channel) */
    int64_t sizes[] = {4, 1000, 3 * 1000 * 1000};
    for (int i = 0; i < 3; i++) {
        DaftValue args[2] = {daft_value_i64(sizes[i]), daft_value_f64(0.5)};
        DaftRef t;
        assert_int_equal(daft_rt_call(f->rt, a, M_TENSOR, args, 2, &t), 0);
        DaftRef s_remote = call1(f, b, M_SUM, daft_value_ref(t));
        DaftRef s_local = call1(f, a, M_SUM, daft_value_ref(t));
        DaftValue v = get(f, s_remote);
        assert_int_equal(v.kind, DAFT_V_F64);
        assert_true(v.as.f64 == 0.5 * (double)sizes[i]);
        v = get(f, s_local);
        assert_true(v.as.f64 == 0.5 * (double)sizes[i]);
        daft_rt_release(f->rt, t);
        daft_rt_release(f->rt, s_remote);
    }
    /* a large value fetched by the driver */
    DaftValue args[2] = {daft_value_i64(100000), daft_value_f64(2.0)};
    DaftRef t;
    assert_int_equal(daft_rt_call(f->rt, a, M_TENSOR, args, 2, &t), 0);
    DaftValue v = get(f, t);
    assert_int_equal(v.kind, DAFT_V_TENSOR);
    assert_int_equal(v.as.tensor.dims[0], 100000);
    assert_true(((float *)v.as.tensor.data)[99999] == 2.0f);
    daft_value_free(&v);
    /* a chain a → b → a → b */
    DaftRef r = call1(f, a, M_ADD, daft_value_i64(1));
    for (int i = 0; i < 3; i++)
        r = call1(f, i % 2 ? a : b, M_ECHO, daft_value_ref(r));
    v = get(f, r);
    assert_int_equal(v.as.i64, 1);
}

static void test_error_propagation(void **st)
{
    Fix *f = *st;
    DaftActor a = spawn(f, "w1", 0), b = spawn(f, "w2", 0);
    DaftRef e = call1(f, a, M_FAIL, daft_value_str("boom"));
    DaftRef d1 = call1(f, b, M_ECHO, daft_value_ref(e));
    DaftRef d2 = call1(f, a, M_ECHO, daft_value_ref(d1));
    const char *want = "actor 'w1' (Counter) method 'fail': boom";
    DaftValue v = get(f, e);
    assert_int_equal(v.kind, DAFT_V_ERROR);
    assert_string_equal(v.as.error.msg, want);
    daft_value_free(&v);
    v = get(f, d2);
    assert_int_equal(v.kind, DAFT_V_ERROR);
    assert_string_equal(v.as.error.msg, want);
    daft_value_free(&v);
    /* the graph stays usable */
    v = get(f, call1(f, b, M_ADD, daft_value_i64(3)));
    assert_int_equal(v.as.i64, 3);
    v = get(f, call1(f, a, M_ADD, daft_value_i64(4)));
    assert_int_equal(v.as.i64, 4);
    /* a wrong argument is an error value too */
    v = get(f, call1(f, a, M_SUM, daft_value_i64(3)));
    assert_int_equal(v.kind, DAFT_V_ERROR);
    assert_string_equal(v.as.error.msg, "actor 'w1' (Counter) method 'sum': sum expects a tensor");
    daft_value_free(&v);
}

/* A method registered with daft_rt_method_takes_errors runs with a failed argument and
 * sees the error; the other methods still take the error as their result unrun. */
static void test_method_takes_errors(void **st)
{
    Fix *f = *st;
    assert_int_equal(daft_rt_method_takes_errors(f->rt, f->cls, M_KIND_OF), 0);
    assert_int_equal(daft_rt_method_takes_errors(f->rt, f->cls, 99), DAFT_EINVAL);
    assert_int_equal(daft_rt_method_takes_errors(f->rt, 7, 0), DAFT_EINVAL);
    DaftActor a = spawn(f, "w1", 0);
    DaftRef e = call1(f, a, M_FAIL, daft_value_str("boom"));
    DaftValue v = get(f, call1(f, a, M_KIND_OF, daft_value_ref(e)));
    assert_int_equal(v.kind, DAFT_V_I64);
    assert_int_equal(v.as.i64, DAFT_V_ERROR);
    v = get(f, call1(f, a, M_KIND_OF, daft_value_i64(1)));
    assert_int_equal(v.as.i64, DAFT_V_I64);
    v = get(f, call1(f, a, M_ECHO, daft_value_ref(e)));
    assert_int_equal(v.kind, DAFT_V_ERROR);
    assert_string_equal(v.as.error.msg, "actor 'w1' (Counter) method 'fail': boom");
    daft_value_free(&v);
    /* it runs on an actor whose constructor failed too; the others still do not */
    DaftSpawnOpts o = {"broken", -1, -1};
    DaftValue arg = daft_value_str("no config");
    DaftActor b;
    assert_int_equal(daft_rt_spawn(f->rt, f->cls, &arg, 1, &o, &b), 0);
    daft_value_free(&arg);
    v = get(f, call1(f, b, M_KIND_OF, daft_value_i64(1)));
    assert_int_equal(v.kind, DAFT_V_I64);
    assert_int_equal(v.as.i64, DAFT_V_I64);
    v = get(f, call1(f, b, M_ADD, daft_value_i64(1)));
    assert_int_equal(v.kind, DAFT_V_ERROR);
    daft_value_free(&v);
}

static void test_init_failure(void **st)
{
    Fix *f = *st;
    DaftSpawnOpts o = {"broken", -1, -1};
    DaftValue arg = daft_value_str("no config");
    DaftActor a;
    assert_int_equal(daft_rt_spawn(f->rt, f->cls, &arg, 1, &o, &a), 0);
    daft_value_free(&arg);
    DaftValue v = get(f, call1(f, a, M_ADD, daft_value_i64(1)));
    assert_int_equal(v.kind, DAFT_V_ERROR);
    assert_string_equal(v.as.error.msg,
                        "actor 'broken' (Counter) method 'init': refusing to start: no config");
    daft_value_free(&v);
    assert_false(daft_rt_actor_alive(f->rt, a));
}

static void test_wait_and_release(void **st)
{
    Fix *f = *st;
    DaftActor a = spawn(f, "fast", 0), b = spawn(f, "slow", 0);
    DaftRef rs[2] = {call1(f, a, M_SLEEP, daft_value_i64(0)), call1(f, b, M_SLEEP, daft_value_i64(400))};
    uint8_t ready[2];
    assert_int_equal(daft_rt_wait(f->rt, rs, 2, 1, 5.0, ready), 1);
    assert_int_equal(ready[0], 1);
    assert_int_equal(ready[1], 0);
    assert_int_equal(daft_rt_wait(f->rt, &rs[1], 1, 1, 0.01, ready), 0);
    assert_int_equal(daft_rt_wait(f->rt, rs, 2, 2, 5.0, ready), 2);
    daft_rt_release(f->rt, rs[0]);
    DaftValue v;
    assert_int_equal(daft_rt_get(f->rt, rs[0], 1.0, &v), DAFT_EINVAL);
    DaftRef r;
    DaftValue arg = daft_value_ref(rs[0]);
    assert_int_equal(daft_rt_call(f->rt, a, M_ECHO, &arg, 1, &r), DAFT_EINVAL);
}

static void test_kill_mid_call(void **st)
{
    Fix *f = *st;
    assert_int_equal(pipe(g_pipe), 0);
    DaftActor a = spawn(f, "w1", 0), b = spawn(f, "w2", 0);
    DaftRef before = call1(f, a, M_ADD, daft_value_i64(1));
    DaftRef running = call1(f, a, M_BLOCK, daft_value_i64(0));
    DaftRef queued = call1(f, a, M_ADD, daft_value_i64(1));
    DaftRef dep = call1(f, b, M_ECHO, daft_value_ref(running));
    char c;
    assert_int_equal(read(g_pipe[0], &c, 1), 1); /* 'block' is running now */
    assert_int_equal(daft_rt_kill(f->rt, a), 0);
    int64_t t0 = pc_now_ms();
    DaftValue v = get(f, running);
    assert_true(pc_now_ms() - t0 < 1000);
    assert_int_equal(v.kind, DAFT_V_ERROR);
    assert_string_equal(v.as.error.msg,
                        "actor 'w1' (Counter) died while running 'block': killed by signal 9 (Killed)");
    daft_value_free(&v);
    v = get(f, dep); /* the dependent task on w2 fails the same way */
    assert_true(pc_now_ms() - t0 < 1000);
    assert_int_equal(v.kind, DAFT_V_ERROR);
    assert_non_null(strstr(v.as.error.msg, "died while running 'block': killed by signal 9"));
    daft_value_free(&v);
    v = get(f, queued); /* the death as it is, as a task given its Ref would hold it */
    assert_int_equal(v.kind, DAFT_V_ERROR);
    assert_string_equal(v.as.error.msg,
                        "actor 'w1' (Counter) died while running 'block': killed by signal 9 (Killed)");
    daft_value_free(&v);
    v = get(f, before); /* finished before the kill: still there */
    assert_int_equal(v.as.i64, 1);
    v = get(f, call1(f, a, M_ADD, daft_value_i64(1))); /* later calls fail at once */
    assert_int_equal(v.kind, DAFT_V_ERROR);
    assert_non_null(strstr(v.as.error.msg, "actor 'w1' (Counter) died"));
    assert_non_null(strstr(v.as.error.msg, "cannot run 'add'"));
    daft_value_free(&v);
    assert_false(daft_rt_actor_alive(f->rt, a));
    v = get(f, call1(f, b, M_ADD, daft_value_i64(2))); /* the others carry on */
    assert_int_equal(v.as.i64, 2);
    DaftActor a2 = spawn(f, "w1-again", 5); /* a replacement */
    v = get(f, call1(f, a2, M_ADD, daft_value_i64(1)));
    assert_int_equal(v.as.i64, 6);
    close(g_pipe[0]);
    close(g_pipe[1]);
}

/* SPEC 10.3: get of a list ends at the first error among its Refs ready (the first in list
 * order when several are), not after a slow Ref before it (daft_rt_wait_list). */
static void test_wait_list(void **st)
{
    Fix *f = *st;
    DaftActor a = spawn(f, "slow", 0), b = spawn(f, "fast", 0);
    DaftRef rs[3] = {call1(f, a, M_SLEEP, daft_value_i64(1500)), call1(f, b, M_ADD, daft_value_i64(1)),
                     call1(f, b, M_FAIL, daft_value_str("boom"))};
    int idx = 7;
    int64_t t0 = pc_now_ms();
    assert_int_equal(daft_rt_wait_list(f->rt, rs, 3, -1, "get", &idx), 0);
    assert_int_equal(idx, 2);
    assert_true(pc_now_ms() - t0 < 1000);
    DaftValue v;
    assert_int_equal(daft_rt_wait_list(f->rt, rs, 2, 0.05, "get", &idx), DAFT_ETIMEDOUT);
    assert_int_equal(idx, 0); /* (the first not ready) */
    assert_string_equal(daft_rt_last_error(f->rt), "get: timed out");
    assert_int_equal(daft_rt_wait_list(f->rt, rs, 2, 5.0, "get", &idx), 0);
    assert_int_equal(idx, -1); /* all ready, none an error */
    v = get(f, rs[0]);
    assert_int_equal(v.as.i64, 1500);
    /* several errors there as it looks: the first in list order */
    DaftRef more[3] = {call1(f, a, M_ADD, daft_value_i64(1)), call1(f, b, M_FAIL, daft_value_str("first")),
                       call1(f, a, M_FAIL, daft_value_str("second"))};
    assert_int_equal(daft_rt_wait(f->rt, more, 3, 3, 5.0, NULL), 3);
    assert_int_equal(daft_rt_wait_list(f->rt, more, 3, -1, "get", &idx), 0);
    assert_int_equal(idx, 1);
    assert_int_equal(daft_rt_wait_list(f->rt, more, 0, -1, "get", &idx), 0);
    assert_int_equal(idx, -1);
    daft_rt_release(f->rt, more[0]);
    assert_int_equal(daft_rt_wait_list(f->rt, more, 3, -1, "get", &idx), DAFT_EINVAL);
    assert_int_equal(idx, 0);
    for (int i = 1; i < 3; i++) { /* (observed: no unobserved-error warning at the end) */
        v = get(f, more[i]);
        daft_value_free(&v);
    }
    v = get(f, rs[2]);
    daft_value_free(&v);
}

/* SPEC 15.7: an interrupt ends the driver's waits (DAFT_EINTR, nothing consumed) until it is
 * cleared, and the teardown after it does not wait for a running task; actors ignore SIGINT. */
static void test_interrupt(void **st)
{
    Fix *f = *st;
    DaftActor a = spawn(f, "busy", 0), b = spawn(f, "idle", 0);
    DaftRef pid_ref;
    assert_int_equal(daft_rt_call(f->rt, b, M_PID, NULL, 0, &pid_ref), 0);
    DaftValue v = get(f, pid_ref);
    assert_int_equal(kill((pid_t)v.as.i64, SIGINT), 0); /* (a terminal's Ctrl-C reaches actors too) */
    DaftRef slow = call1(f, a, M_SLEEP, daft_value_i64(400)), done = call1(f, b, M_ADD, daft_value_i64(2));
    v = get(f, done);
    assert_int_equal(v.as.i64, 2);
    daft_rt_interrupt();
    assert_true(daft_rt_interrupted());
    int64_t t0 = pc_now_ms();
    assert_int_equal(daft_rt_get(f->rt, slow, -1, &v), DAFT_EINTR);
    assert_string_equal(daft_rt_last_error(f->rt), "get: interrupted");
    assert_int_equal(daft_rt_wait(f->rt, &slow, 1, 1, -1, NULL), DAFT_EINTR);
    int idx;
    DaftRef both[2] = {done, slow};
    assert_int_equal(daft_rt_wait_list(f->rt, both, 2, -1, "get", &idx), DAFT_EINTR);
    assert_int_equal(idx, 1);
    assert_true(pc_now_ms() - t0 < 300);
    v = get(f, done); /* a value that is here is still given */
    assert_int_equal(v.as.i64, 2);
    daft_rt_interrupt_clear();
    v = get(f, slow); /* nothing was consumed */
    assert_int_equal(v.as.i64, 400);
    /* the teardown after an interrupt kills the actor still running a task */
    call1(f, a, M_SLEEP, daft_value_i64(20000));
    daft_rt_interrupt();
    t0 = pc_now_ms();
    daft_rt_shutdown(f->rt);
    f->rt = NULL;
    assert_true(pc_now_ms() - t0 < 3000);
    daft_rt_interrupt_clear();
}

/* utime + stime of a process, in clock ticks. */
static long cpu_ticks(pid_t pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    char *p = strrchr(buf, ')'); /* fields after the command name */
    long ut = 0, st = 0;
    if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %ld %ld", &ut, &st) != 2)
        return -1;
    return ut + st;
}

/* An idle actor sleeps on its futex: (almost) no CPU while nothing arrives. */
static void test_idle_costs_no_cpu(void **st)
{
    Fix *f = *st;
    DaftActor a = spawn(f, "idle", 0);
    DaftRef r;
    assert_int_equal(daft_rt_call(f->rt, a, M_PID, NULL, 0, &r), 0);
    DaftValue v = get(f, r);
    pid_t pid = (pid_t)v.as.i64;
    usleep(100000);
    long t0 = cpu_ticks(pid);
    usleep(500000);
    long t1 = cpu_ticks(pid);
    assert_true(t0 >= 0 && t1 >= 0);
    assert_true(t1 - t0 <= 2); /* <= 20 ms of CPU in 500 ms, at 100 ticks/s */
}

/* The driver is SIGKILLed: its actors must die with it (we are their subreaper). */
static void test_no_orphans(void **st)
{
    (void)st;
    int p[2];
    assert_int_equal(pipe(p), 0);
    prctl(PR_SET_CHILD_SUBREAPER, 1);
    pid_t drv = fork();
    if (drv == 0) {
        DaftRt *rt = daft_rt_init(NULL, NULL);
        int cls = daft_rt_register_class(rt, &counter_class);
        DaftActor a;
        DaftRef r;
        DaftValue v;
        if (daft_rt_spawn(rt, cls, NULL, 0, NULL, &a) || daft_rt_call(rt, a, M_PID, NULL, 0, &r) ||
            daft_rt_get(rt, r, 10, &v))
            _exit(1);
        if (write(p[1], &v.as.i64, 8) != 8)
            _exit(1);
        pause();
        _exit(0);
    }
    int64_t apid = 0;
    assert_int_equal(read(p[0], &apid, 8), 8);
    kill(drv, SIGKILL);
    waitpid(drv, NULL, 0);
    int64_t t0 = pc_now_ms();
    int status = 0;
    pid_t got;
    while ((got = waitpid((pid_t)apid, &status, WNOHANG)) == 0 && pc_now_ms() - t0 < 2000)
        usleep(1000);
    /* gone within 1 s: killed by PDEATHSIG, or (TCP) it saw the connection drop first */
    assert_int_equal(got, (pid_t)apid);
    assert_true(pc_now_ms() - t0 < 1000);
    close(p[0]);
    close(p[1]);
    prctl(PR_SET_CHILD_SUBREAPER, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_call_get, setup, teardown),
        cmocka_unit_test_setup_teardown(test_get_timeout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ref_passing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_error_propagation, setup, teardown),
        cmocka_unit_test_setup_teardown(test_method_takes_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_init_failure, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wait_and_release, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kill_mid_call, setup, teardown),
        cmocka_unit_test_setup_teardown(test_idle_costs_no_cpu, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wait_list, setup, teardown),
        cmocka_unit_test_setup_teardown(test_interrupt, setup, teardown),
        cmocka_unit_test(test_no_orphans),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
