/* fault_kill.c — fault injection against the runtime (public daftrt.h + daft/plan.h only).
 *
 *   fault_kill SCENARIO [TRIALS] [SEED]
 *
 * Scenarios (TRIALS defaults to $DAFT_FAULT_TRIALS, else a CI-sized count):
 *   kill-interp     kill -9 of a random actor at a random moment of an interpreted run
 *                   (a chain of tasks passing Refs between 3 actors plus independent calls)
 *   kill-compiled   the same during a pipelined compiled plan over 3 actors
 *   hang            a method that never returns: get/wait/plan_result time out, the other
 *                   actors keep working, shutdown still ends (SIGKILL after 2 s)
 *   exit-mid        an actor calls exit(0) / exit(3) inside a method, mid-plan and
 *                   mid-interpreted-run
 *   no-start        a worker that cannot start: constructor raises, constructor crashes,
 *                   fork/socket/memfd creation fails (RLIMIT_NOFILE)
 *   driver-killed   the driver is killed with SIGKILL during compiled + interpreted work:
 *                   every worker process is gone within 2 s (checked in /proc)
 *   bad-input       wrong dtype/shape to a method; plan inputs and method results that do
 *                   not fit a channel's static type (shape, dtype, rank, kind): submit
 *                   refuses the input, a misfit result becomes an error value
 *
 * Every trial checks: each value is either right or an error naming the actor and the
 * cause; nothing hangs (watchdog + bounded gets); after shutdown no process, /dev/shm
 * entry, socket, memfd, TCP port or temporary file of the job is left. The transport comes
 * from DAFT_TRANSPORT (ctest runs each scenario with shm and with tcp). */
#include "fault_util.h"

#include <fcntl.h>
#include <sys/prctl.h>
#include <sys/resource.h>

#include <daft/plan.h>
#include "daftrt.h"

/* ---------------------------------------------------------------- the worker class */

static int w_init(DaftActorCtx *ctx, void *st, const DaftValue *a, int n)
{
    (void)st;
    if (n == 1 && a[0].kind == DAFT_V_STR && strcmp(a[0].as.str.ptr, "fail") == 0)
        return daft_raise(ctx, "cannot open the model file");
    if (n == 1 && a[0].kind == DAFT_V_STR && strcmp(a[0].as.str.ptr, "crash") == 0)
        _exit(7);
    return 0;
}

static void spin_us(int64_t us)
{
    int64_t end = fu_now_ns() + us * 1000;
    while (fu_now_ns() < end)
        ;
}

/* step(x, k, spin_us) = x + k after spinning (x may be none = 0) */
static int w_step(DaftActorCtx *ctx, void *st, const DaftValue *a, int n, DaftValue *out)
{
    (void)st;
    if (n != 3 || a[1].kind != DAFT_V_I64 || a[2].kind != DAFT_V_I64 ||
        (a[0].kind != DAFT_V_I64 && a[0].kind != DAFT_V_NONE))
        return daft_raise(ctx, "step expects (i64, i64, i64)");
    spin_us(a[2].as.i64);
    *out = daft_value_i64((a[0].kind == DAFT_V_I64 ? a[0].as.i64 : 0) + a[1].as.i64);
    return 0;
}

static int w_add(DaftActorCtx *ctx, void *st, const DaftValue *a, int n, DaftValue *out)
{
    (void)st;
    if (n != 2 || a[0].kind != DAFT_V_I64 || a[1].kind != DAFT_V_I64)
        return daft_raise(ctx, "add expects two i64");
    *out = daft_value_i64(a[0].as.i64 + a[1].as.i64);
    return 0;
}

static int w_pid(DaftActorCtx *ctx, void *st, const DaftValue *a, int n, DaftValue *out)
{
    (void)ctx; (void)st; (void)a; (void)n;
    *out = daft_value_i64(getpid());
    return 0;
}

static int w_forever(DaftActorCtx *ctx, void *st, const DaftValue *a, int n, DaftValue *out)
{
    (void)ctx; (void)st; (void)a; (void)n; (void)out;
    for (;;)
        pause();
    return 0;
}

/* quit(x, when, code): exit(code) when x == when, else x */
static int w_quit(DaftActorCtx *ctx, void *st, const DaftValue *a, int n, DaftValue *out)
{
    (void)ctx; (void)st; (void)n;
    if (a[0].as.i64 == a[1].as.i64)
        exit((int)a[2].as.i64);
    *out = daft_value_i64(a[0].as.i64);
    return 0;
}

/* norm(t): sum of an f32 vector; the method checks dtype and rank like generated code */
static int w_norm(DaftActorCtx *ctx, void *st, const DaftValue *a, int n, DaftValue *out)
{
    (void)st;
    if (n != 1 || a[0].kind != DAFT_V_TENSOR)
        return daft_raise(ctx, "argument 1: expected tensor<f32>[?], got a %s",
                          n < 1 ? "nothing" : a[0].kind == DAFT_V_STR ? "string" : "non-tensor");
    const DaftTensor *t = &a[0].as.tensor;
    if (t->dtype != DAFT_RT_F32 || t->rank != 1)
        return daft_raise(ctx, "argument 1: expected tensor<f32>[?], got tensor<%s> of rank %d",
                          daft_rt_dtype_name(t->dtype), t->rank);
    double s = 0;
    for (int64_t i = 0; i < t->dims[0]; i++)
        s += ((const float *)t->data)[i];
    *out = daft_value_f64(s);
    return 0;
}

/* big(n): f32[n] of ones, or i32[-n] for n < 0 (ignores the channel's static type on
 * purpose) */
static int w_big(DaftActorCtx *ctx, void *st, const DaftValue *a, int n, DaftValue *out)
{
    (void)ctx; (void)st; (void)n;
    int64_t dims[1] = {a[0].as.i64 < 0 ? -a[0].as.i64 : a[0].as.i64};
    *out = daft_value_tensor(a[0].as.i64 < 0 ? DAFT_RT_I32 : DAFT_RT_F32, 1, dims, NULL);
    for (int64_t i = 0; a[0].as.i64 > 0 && i < dims[0]; i++)
        ((float *)out->as.tensor.data)[i] = 1.0f;
    return 0;
}

enum { M_STEP, M_ADD, M_PID, M_FOREVER, M_QUIT, M_NORM, M_BIG };
static const DaftMethodDesc w_methods[] = {{"step", w_step}, {"add", w_add},       {"pid", w_pid},
                                           {"forever", w_forever}, {"quit", w_quit}, {"norm", w_norm},
                                           {"big", w_big}};
static const DaftClassDesc w_class = {"W", 8, w_init, NULL, w_methods, 7};

/* ---------------------------------------------------------------- helpers */

typedef struct Job {
    DaftRt *rt;
    int cls;
    DaftActor a[8];
    pid_t pid[8];
    char name[8][16];
    int n;
} Job;

static void job_start(Job *j, int nactors)
{
    memset(j, 0, sizeof *j);
    j->rt = daft_rt_init(NULL, NULL);
    FU_CHECK(j->rt != NULL, "daft_rt_init");
    j->cls = daft_rt_register_class(j->rt, &w_class);
    FU_CHECK(j->cls == 0, "register");
    for (int i = 0; i < nactors; i++) {
        snprintf(j->name[i], sizeof j->name[i], "w%d", i);
        DaftSpawnOpts o = {j->name[i], -1, -1};
        FU_CHECK(daft_rt_spawn(j->rt, j->cls, NULL, 0, &o, &j->a[i]) == 0, "spawn: %s",
                 daft_rt_last_error(j->rt));
        DaftRef r;
        DaftValue v;
        FU_CHECK(daft_rt_call(j->rt, j->a[i], M_PID, NULL, 0, &r) == 0, "call pid");
        FU_CHECK(daft_rt_get(j->rt, r, 10.0, &v) == 0 && v.kind == DAFT_V_I64, "get pid");
        j->pid[i] = (pid_t)v.as.i64;
        daft_rt_release(j->rt, r);
    }
    j->n = nactors;
}

static DaftRef call(Job *j, int actor, int m, DaftValue *args, int n)
{
    DaftRef r;
    FU_CHECK(daft_rt_call(j->rt, j->a[actor], m, args, n, &r) == 0, "call: %s",
             daft_rt_last_error(j->rt));
    for (int i = 0; i < n; i++)
        daft_value_free(&args[i]);
    return r;
}

/* An error value must name actor `name` and contain `cause`. */
static void check_error(const DaftValue *v, const char *name, const char *cause)
{
    FU_CHECK(v->kind == DAFT_V_ERROR, "expected an error, got kind %d", v->kind);
    char want[64];
    snprintf(want, sizeof want, "actor '%s'", name);
    FU_CHECK(strstr(v->as.error.msg, want) != NULL, "error does not name %s: %s", want,
             v->as.error.msg);
    FU_CHECK(strstr(v->as.error.msg, cause) != NULL, "error lacks cause '%s': %s", cause,
             v->as.error.msg);
}

static DaftGraph *g_graphs[64];
static int g_ngraphs;

static DaftPlan *build(DaftGraph *g, int inflight)
{
    DaftPlanOptions o = {0};
    o.cpu_only = true;
    o.inflight = inflight;
    DaftPlan *p = NULL;
    char err[256];
    FU_CHECK(daft_plan_build(g, &o, &p, err, sizeof err) == 0, "plan: %s", err);
    g_graphs[g_ngraphs++] = g; /* the plan points into the graph: keep it until the end */
    return p;
}

static void free_graphs(void)
{
    while (g_ngraphs)
        daft_graph_free(g_graphs[--g_ngraphs]);
}

/* x -> w0.add(x,1) -> w1.add(.,1) -> w2.add(.,1) = y  (y = x + 3) */
static DaftPlan *chain3_plan(int inflight)
{
    DaftGraph *g = daft_graph_new("chain3");
    int a[3];
    for (int i = 0; i < 3; i++) {
        char nm[8];
        snprintf(nm, sizeof nm, "a%d", i);
        a[i] = daft_graph_add_actor(g, nm, "W", 0, -1, -1);
    }
    int v = daft_graph_add_input(g, "x", daft_payload_scalar(DAFT_PAY_I64));
    DaftCommHint h = {0};
    for (int i = 0; i < 3; i++) {
        DaftGraphArg args[2] = {daft_arg_value(v), daft_arg_i64(1)};
        v = daft_graph_add_task(g, a[i], "add", args, 2, daft_payload_scalar(DAFT_PAY_I64), h);
    }
    daft_graph_add_output(g, "y", v);
    return build(g, inflight);
}

/* ---------------------------------------------------------------- kill-interp */

static void trial_kill_interp(int trial, uint64_t seed)
{
    FuRng r = fu_rng(seed);
    FuBaseline b;
    fu_begin(&b, trial % 3 == 0); /* every third trial also writes a trace */
    Job j;
    job_start(&j, 3);
    fu_note_ports(&b);
    enum { K = 60 };
    DaftRef refs[2 * K];
    int64_t want[2 * K];
    int nref = 0;
    int victim = (int)(fu_next(&r) % 3);
    int kill_at = (int)(fu_next(&r) % K);
    int64_t kill_delay = fu_next(&r) % 3000, spin = 1 + fu_next(&r) % 200;
    int64_t t_kill = 0, chain = 0;
    bool have_prev = false;
    DaftRef prev = {0, 0};
    for (int k = 0; k < K; k++) {
        if (k == kill_at) {
            fu_sleep_us(kill_delay);
            FU_CHECK(kill(j.pid[victim], SIGKILL) == 0, "kill");
            t_kill = fu_now_ns();
        }
        /* the chain: step(prev, k) on actor k % 3, the Ref moving actor to actor */
        DaftValue args[3] = {have_prev ? daft_value_ref(prev) : daft_value_none(),
                             daft_value_i64(k), daft_value_i64(spin)};
        prev = call(&j, k % 3, M_STEP, args, 3);
        have_prev = true;
        chain += k;
        refs[nref] = prev;
        want[nref++] = chain;
        /* and an independent call on a random actor */
        int other = (int)(fu_next(&r) % 3);
        DaftValue a2[2] = {daft_value_i64(k), daft_value_i64(1000)};
        refs[nref] = call(&j, other, M_ADD, a2, 2);
        want[nref++] = k + 1000;
    }
    /* a call on the victim made after the kill: must fail with the cause */
    DaftValue a3[2] = {daft_value_i64(1), daft_value_i64(2)};
    DaftRef late = call(&j, victim, M_ADD, a3, 2);
    int errors = 0;
    for (int i = 0; i < nref; i++) {
        DaftValue v;
        int rc = daft_rt_get(j.rt, refs[i], 10.0, &v);
        FU_CHECK(rc == 0, "get %d (owner actor %u) returned %d (hang?); victim w%d killed after "
                 "%d submits +%lld us", i, refs[i].owner, rc, victim, kill_at, (long long)kill_delay);
        if (v.kind == DAFT_V_ERROR) {
            check_error(&v, j.name[victim], "killed by signal 9");
            errors++;
        } else {
            FU_CHECK(v.kind == DAFT_V_I64 && v.as.i64 == want[i], "ref %d: wrong value", i);
        }
        daft_value_free(&v);
        daft_rt_release(j.rt, refs[i]);
    }
    DaftValue v;
    FU_CHECK(daft_rt_get(j.rt, late, 10.0, &v) == 0, "get late");
    check_error(&v, j.name[victim], "killed by signal 9");
    daft_value_free(&v);
    int64_t detect_ms = (fu_now_ns() - t_kill) / 1000000;
    FU_CHECK(!daft_rt_actor_alive(j.rt, j.a[victim]), "victim still alive");
    /* the survivors still work */
    for (int i = 0; i < 3; i++) {
        if (i == victim)
            continue;
        DaftValue a4[2] = {daft_value_i64(i), daft_value_i64(40)};
        DaftRef rr = call(&j, i, M_ADD, a4, 2);
        FU_CHECK(daft_rt_get(j.rt, rr, 10.0, &v) == 0 && v.kind == DAFT_V_I64 && v.as.i64 == i + 40,
                 "survivor %d", i);
    }
    fu_note_ports(&b);
    daft_rt_shutdown(j.rt);
    fu_end(&b);
    if (getenv("FAULT_VERBOSE"))
        printf("  trial %d: victim w%d after %d submits +%lldus, %d errors, all gets done %lld ms "
               "after the kill\n",
               trial, victim, kill_at, (long long)kill_delay, errors, (long long)detect_ms);
}

/* ---------------------------------------------------------------- kill-compiled */

static void trial_kill_compiled(int trial, uint64_t seed)
{
    FuRng r = fu_rng(seed);
    FuBaseline b;
    fu_begin(&b, trial % 3 == 0);
    Job j;
    job_start(&j, 3);
    DaftPlan *plan = chain3_plan(4);
    DaftRtPlan *p;
    FU_CHECK(daft_rt_plan_load(j.rt, plan, j.a, 3, &p) == 0, "load: %s", daft_rt_last_error(j.rt));
    fu_note_ports(&b);
    enum { E = 400 };
    int victim = (int)(fu_next(&r) % 3), kill_at = (int)(fu_next(&r) % E);
    int64_t kill_delay = fu_next(&r) % 2000;
    int64_t t_kill = 0, first_err_ms = -1;
    int64_t next_out = 0, errors = 0;
    for (int64_t x = 0; x < E; x++) {
        if (x == kill_at) {
            fu_sleep_us(kill_delay);
            FU_CHECK(kill(j.pid[victim], SIGKILL) == 0, "kill");
            t_kill = fu_now_ns();
        }
        DaftValue in = daft_value_i64(x);
        FU_CHECK(daft_rt_plan_submit(j.rt, p, &in, 1, 10.0) == 0, "submit %lld", (long long)x);
        while (daft_rt_plan_pending(p) >= 3 || (x == E - 1 && daft_rt_plan_pending(p))) {
            DaftValue y;
            FU_CHECK(daft_rt_plan_result(j.rt, p, 10.0, &y, 1) == 0, "result (hang?)");
            if (y.kind == DAFT_V_ERROR) {
                check_error(&y, j.name[victim], "killed by signal 9");
                if (first_err_ms < 0)
                    first_err_ms = (fu_now_ns() - t_kill) / 1000000;
                errors++;
            } else {
                FU_CHECK(y.kind == DAFT_V_I64 && y.as.i64 == next_out + 3, "wrong output");
                FU_CHECK(!errors, "a good output after an error");
            }
            daft_value_free(&y);
            next_out++;
        }
    }
    FU_CHECK(next_out == E, "lost executions");
    FU_CHECK(errors > 0, "the kill was not noticed by any later execution");
    FU_CHECK(first_err_ms < 1000, "death reported after %lld ms (> 1 s)", (long long)first_err_ms);
    fu_note_ports(&b);
    daft_rt_plan_unload(j.rt, p);
    daft_rt_shutdown(j.rt);
    daft_plan_free(plan);
    free_graphs();
    fu_end(&b);
    if (getenv("FAULT_VERBOSE"))
        printf("  trial %d: victim w%d at execution %d +%lldus: %lld errors, first %lld ms after\n",
               trial, victim, kill_at, (long long)kill_delay, (long long)errors,
               (long long)first_err_ms);
}

/* ---------------------------------------------------------------- hang */

static void trial_hang(int trial, uint64_t seed)
{
    (void)seed;
    FuBaseline b;
    fu_begin(&b, false);
    Job j;
    job_start(&j, 2);
    fu_note_ports(&b);
    /* compiled (odd trials): a plan loaded on w0 before it gets stuck */
    DaftPlan *plan = NULL;
    DaftRtPlan *p = NULL;
    if (trial % 2 == 1) {
        DaftGraph *g = daft_graph_new("stuck");
        int a = daft_graph_add_actor(g, "a", "W", 0, -1, -1);
        int x = daft_graph_add_input(g, "x", daft_payload_scalar(DAFT_PAY_I64));
        DaftGraphArg args[2] = {daft_arg_value(x), daft_arg_i64(1)};
        DaftCommHint h = {0};
        int y = daft_graph_add_task(g, a, "add", args, 2, daft_payload_scalar(DAFT_PAY_I64), h);
        daft_graph_add_output(g, "y", y);
        plan = build(g, 2);
        FU_CHECK(daft_rt_plan_load(j.rt, plan, &j.a[0], 1, &p) == 0, "load: %s",
                 daft_rt_last_error(j.rt));
        DaftValue in = daft_value_i64(1), out;
        FU_CHECK(daft_rt_plan_submit(j.rt, p, &in, 1, 5.0) == 0, "submit");
        FU_CHECK(daft_rt_plan_result(j.rt, p, 5.0, &out, 1) == 0 && out.as.i64 == 2, "plan");
    }
    DaftRef stuck = call(&j, 0, M_FOREVER, NULL, 0);
    DaftValue v = daft_value_none();
    int64_t t0 = fu_now_ns();
    FU_CHECK(daft_rt_get(j.rt, stuck, 0.2, &v) == DAFT_ETIMEDOUT, "get did not time out");
    int64_t ms = (fu_now_ns() - t0) / 1000000;
    FU_CHECK(ms >= 190 && ms < 1500, "timeout took %lld ms", (long long)ms);
    FU_CHECK(v.kind == DAFT_V_NONE, "a value after a timeout");
    uint8_t ready = 9;
    FU_CHECK(daft_rt_wait(j.rt, &stuck, 1, 1, 0.1, &ready) == 0 && ready == 0, "wait");
    /* a task queued behind it on the same actor waits too; another actor is unaffected */
    DaftValue a1[2] = {daft_value_i64(1), daft_value_i64(1)};
    DaftRef behind = call(&j, 0, M_ADD, a1, 2);
    FU_CHECK(daft_rt_get(j.rt, behind, 0.1, &v) == DAFT_ETIMEDOUT, "queued task ran");
    DaftValue a2[2] = {daft_value_i64(2), daft_value_i64(3)};
    DaftRef ok = call(&j, 1, M_ADD, a2, 2);
    FU_CHECK(daft_rt_get(j.rt, ok, 5.0, &v) == 0 && v.as.i64 == 5, "other actor");
    if (p) { /* the plan's member is stuck: its executions time out too */
        DaftValue in = daft_value_i64(1), out;
        FU_CHECK(daft_rt_plan_submit(j.rt, p, &in, 1, 1.0) == 0, "submit");
        t0 = fu_now_ns();
        FU_CHECK(daft_rt_plan_result(j.rt, p, 0.2, &out, 1) == DAFT_ETIMEDOUT, "plan result");
        FU_CHECK(strstr(daft_rt_last_error(j.rt), "has no result after 0.2 s") != NULL,
                 "plan timeout error: '%s'", daft_rt_last_error(j.rt));
        FU_CHECK((fu_now_ns() - t0) / 1000000 < 1500, "plan timeout too slow");
        daft_rt_plan_unload(j.rt, p);
        daft_plan_free(plan);
    }
    fu_note_ports(&b);
    t0 = fu_now_ns();
    /* the stuck task is waited for 5 s (SPEC 15.7), then the actor, which never reads STOP,
     * is killed after 2 s more */
    daft_rt_shutdown(j.rt);
    ms = (fu_now_ns() - t0) / 1000000;
    FU_CHECK(ms >= 6900 && ms < 10000, "shutdown took %lld ms", (long long)ms);
    free_graphs();
    fu_end(&b);
}

/* ---------------------------------------------------------------- exit-mid */

static void trial_exit_mid(int trial, uint64_t seed)
{
    FuRng r = fu_rng(seed);
    FuBaseline b;
    fu_begin(&b, trial % 2 == 0);
    int code = trial % 2 ? 3 : 0;
    const char *cause = code ? "exited with code 3" : "exited normally";
    Job j;
    job_start(&j, 3);
    fu_note_ports(&b);
    int when = 5 + (int)(fu_next(&r) % 40);
    /* compiled: x -> w0.add(x,1) -> w1.quit(., when, code) -> w2.add(., 1) */
    DaftGraph *g = daft_graph_new("quitter");
    int a0 = daft_graph_add_actor(g, "a0", "W", 0, -1, -1);
    int a1 = daft_graph_add_actor(g, "a1", "W", 0, -1, -1);
    int a2 = daft_graph_add_actor(g, "a2", "W", 0, -1, -1);
    int x = daft_graph_add_input(g, "x", daft_payload_scalar(DAFT_PAY_I64));
    DaftCommHint h = {0};
    DaftGraphArg g1[2] = {daft_arg_value(x), daft_arg_i64(1)};
    int t = daft_graph_add_task(g, a0, "add", g1, 2, daft_payload_scalar(DAFT_PAY_I64), h);
    DaftGraphArg g2[3] = {daft_arg_value(t), daft_arg_i64(when), daft_arg_i64(code)};
    int u = daft_graph_add_task(g, a1, "quit", g2, 3, daft_payload_scalar(DAFT_PAY_I64), h);
    DaftGraphArg g3[2] = {daft_arg_value(u), daft_arg_i64(1)};
    int y = daft_graph_add_task(g, a2, "add", g3, 2, daft_payload_scalar(DAFT_PAY_I64), h);
    daft_graph_add_output(g, "y", y);
    DaftPlan *plan = build(g, 2);
    DaftRtPlan *p;
    FU_CHECK(daft_rt_plan_load(j.rt, plan, j.a, 3, &p) == 0, "load");
    int errors = 0;
    for (int64_t i = 0; i < 60; i++) {
        DaftValue in = daft_value_i64(i), out;
        FU_CHECK(daft_rt_plan_submit(j.rt, p, &in, 1, 10.0) == 0, "submit");
        FU_CHECK(daft_rt_plan_result(j.rt, p, 10.0, &out, 1) == 0, "result (hang?)");
        if (i + 1 < when) {
            FU_CHECK(out.kind == DAFT_V_I64 && out.as.i64 == i + 2, "value before the exit");
        } else {
            check_error(&out, "w1", cause);
            if (i + 1 == when)
                FU_CHECK(strstr(out.as.error.msg, "quit") != NULL, "method not named: %s",
                         out.as.error.msg);
            errors++;
        }
        daft_value_free(&out);
    }
    FU_CHECK(errors == 60 - (when - 1), "errors %d", errors);
    daft_rt_plan_unload(j.rt, p);
    /* interpreted: w2 quits inside a call; the call and a dependent call on w0 fail */
    DaftValue q[3] = {daft_value_i64(7), daft_value_i64(7), daft_value_i64(code)};
    DaftRef rq = call(&j, 2, M_QUIT, q, 3);
    DaftValue d[2] = {daft_value_ref(rq), daft_value_i64(1)};
    DaftRef rd = call(&j, 0, M_ADD, d, 2);
    DaftValue v;
    FU_CHECK(daft_rt_get(j.rt, rq, 10.0, &v) == 0, "get quit");
    check_error(&v, "w2", cause);
    FU_CHECK(strstr(v.as.error.msg, "'quit'") != NULL, "method not named: %s", v.as.error.msg);
    daft_value_free(&v);
    FU_CHECK(daft_rt_get(j.rt, rd, 10.0, &v) == 0, "get dependent");
    check_error(&v, "w2", cause);
    daft_value_free(&v);
    fu_note_ports(&b);
    daft_rt_shutdown(j.rt);
    daft_plan_free(plan);
    free_graphs();
    fu_end(&b);
}

/* ---------------------------------------------------------------- no-start */

static void trial_no_start(int trial, uint64_t seed)
{
    (void)seed;
    FuBaseline b;
    fu_begin(&b, false);
    DaftRt *rt = daft_rt_init(NULL, NULL);
    FU_CHECK(rt && daft_rt_register_class(rt, &w_class) == 0, "init");
    DaftActor a;
    DaftRef ref;
    DaftValue v;
    /* 1. the constructor raises */
    DaftValue arg = daft_value_str("fail");
    DaftSpawnOpts o1 = {"loader", -1, -1};
    FU_CHECK(daft_rt_spawn(rt, 0, &arg, 1, &o1, &a) == 0, "spawn");
    daft_value_free(&arg);
    FU_CHECK(daft_rt_call(rt, a, M_PID, NULL, 0, &ref) == 0, "call");
    FU_CHECK(daft_rt_get(rt, ref, 10.0, &v) == 0, "get");
    check_error(&v, "loader", "cannot open the model file");
    FU_CHECK(strstr(v.as.error.msg, "'init'") != NULL, "init not named: %s", v.as.error.msg);
    daft_value_free(&v);
    /* 2. the constructor crashes (the process exits with 7) */
    arg = daft_value_str("crash");
    DaftSpawnOpts o2 = {"crasher", -1, -1};
    FU_CHECK(daft_rt_spawn(rt, 0, &arg, 1, &o2, &a) == 0, "spawn");
    daft_value_free(&arg);
    FU_CHECK(daft_rt_call(rt, a, M_PID, NULL, 0, &ref) == 0, "call");
    FU_CHECK(daft_rt_get(rt, ref, 10.0, &v) == 0, "get");
    check_error(&v, "crasher", "exited with code 7");
    daft_value_free(&v);
    /* 3. the process cannot be created: no fds left for its channels / socket / pidfd */
    struct rlimit old, low;
    getrlimit(RLIMIT_NOFILE, &old);
    int hi = -1, fill[256], nfill = 0, fd; /* fill the holes below the highest fd ... */
    DIR *d = opendir("/proc/self/fd");
    for (struct dirent *e; d && (e = readdir(d));)
        hi = atoi(e->d_name) > hi ? atoi(e->d_name) : hi;
    if (d)
        closedir(d);
    while (nfill < 256 && (fd = open("/dev/null", O_RDONLY | O_CLOEXEC)) >= 0) {
        if (fd > hi) {
            close(fd);
            break;
        }
        fill[nfill++] = fd;
    }
    low = old; /* ... then leave 0, 1 or 2 free fds: spawn fails at a different step */
    bool tcp = getenv("DAFT_TRANSPORT") && strcmp(getenv("DAFT_TRANSPORT"), "tcp") == 0;
    low.rlim_cur = (rlim_t)(hi + 1 + trial % (tcp ? 2 : 3)); /* tcp: 2 spare fds are enough */
    FU_CHECK(setrlimit(RLIMIT_NOFILE, &low) == 0, "setrlimit");
    DaftSpawnOpts o3 = {"starved", -1, -1};
    int rc = daft_rt_spawn(rt, 0, NULL, 0, &o3, &a);
    setrlimit(RLIMIT_NOFILE, &old);
    while (nfill)
        close(fill[--nfill]);
    if (rc != 0) {
        FU_CHECK(strstr(daft_rt_last_error(rt), "starved") != NULL, "spawn error: %s",
                 daft_rt_last_error(rt));
    } else { /* it forked, then failed inside (TCP: no socket for its hello): still an error */
        FU_CHECK(daft_rt_call(rt, a, M_PID, NULL, 0, &ref) == 0, "call");
        FU_CHECK(daft_rt_get(rt, ref, 10.0, &v) == 0, "get");
        check_error(&v, "starved", "");
        daft_value_free(&v);
    }
    if (getenv("FAULT_VERBOSE"))
        printf("  trial %d: starved spawn rc %d: %s\n", trial, rc, daft_rt_last_error(rt));
    /* the runtime keeps working */
    DaftSpawnOpts o4 = {"fine", -1, -1};
    FU_CHECK(daft_rt_spawn(rt, 0, NULL, 0, &o4, &a) == 0, "spawn after failures: %s",
             daft_rt_last_error(rt));
    DaftValue args[2] = {daft_value_i64(2), daft_value_i64(2)};
    FU_CHECK(daft_rt_call(rt, a, M_ADD, args, 2, &ref) == 0, "call");
    FU_CHECK(daft_rt_get(rt, ref, 10.0, &v) == 0 && v.kind == DAFT_V_I64 && v.as.i64 == 4, "add");
    fu_note_ports(&b);
    daft_rt_shutdown(rt);
    fu_end(&b);
}

/* ---------------------------------------------------------------- driver-killed */

/* The driver: 3 actors, a compiled plan running in a loop and a long interpreted call. */
static void driver_main(int ready_fd)
{
    Job j;
    job_start(&j, 3);
    DaftPlan *plan = chain3_plan(4);
    DaftRtPlan *p;
    FU_CHECK(daft_rt_plan_load(j.rt, plan, j.a, 3, &p) == 0, "load");
    bool told = false;
    for (int64_t x = 0;; x++) {
        DaftValue in = daft_value_i64(x), out;
        daft_rt_plan_submit(j.rt, p, &in, 1, 10.0);
        if (daft_rt_plan_pending(p) >= 3) {
            daft_rt_plan_result(j.rt, p, 10.0, &out, 1);
            daft_value_free(&out);
        }
        if (!told && x > 20) { /* w1 now spins for 2 s inside an interpreted call */
            DaftValue s[3] = {daft_value_none(), daft_value_i64(1), daft_value_i64(2000000)};
            call(&j, 1, M_STEP, s, 3);
            char c = 1;
            if (write(ready_fd, &c, 1) != 1)
                _exit(1);
            told = true;
        }
    }
}

static void trial_driver_killed(int trial, uint64_t seed)
{
    FuRng r = fu_rng(seed);
    FuBaseline b;
    fu_begin(&b, false);
    int pp[2];
    FU_CHECK(pipe(pp) == 0, "pipe");
    fflush(NULL);
    pid_t drv = fork();
    FU_CHECK(drv >= 0, "fork");
    if (drv == 0) {
        close(pp[0]);
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        driver_main(pp[1]);
        _exit(0);
    }
    close(pp[1]);
    char c;
    FU_CHECK(read(pp[0], &c, 1) == 1, "driver did not start");
    close(pp[0]);
    pid_t w[16];
    int nw = fu_children(drv, w, 16);
    FU_CHECK(nw == 3, "driver has %d children", nw);
    unsigned ports[256];
    unsigned long inodes[256];
    int np = fu_ports_of(drv, ports, inodes, 256);
    for (int i = 0; i < nw; i++)
        np += fu_ports_of(w[i], ports + np, inodes + np, 256 - np);
    fu_sleep_us(fu_next(&r) % 20000); /* a random moment of the run */
    FU_CHECK(kill(drv, SIGKILL) == 0, "kill driver");
    int64_t t0 = fu_now_ns();
    FU_CHECK(waitpid(drv, NULL, 0) == drv, "reap driver");
    /* we are a child subreaper: orphaned workers come to us as zombies once they die */
    int64_t gone_ms = -1;
    for (;;) {
        while (waitpid(-1, NULL, WNOHANG) > 0)
            ;
        int alive = 0;
        for (int i = 0; i < nw; i++) {
            char st = fu_proc_state(w[i]);
            alive += st != 0 && st != 'Z';
        }
        int64_t ms = (fu_now_ns() - t0) / 1000000;
        if (!alive) {
            gone_ms = ms;
            break;
        }
        FU_CHECK(ms < 2000, "%d worker(s) still alive 2 s after the driver died", alive);
        fu_sleep_us(5000);
    }
    while (waitpid(-1, NULL, WNOHANG) > 0)
        ;
    memcpy(b.ports, ports, sizeof(unsigned) * (size_t)np);
    memcpy(b.inodes, inodes, sizeof(unsigned long) * (size_t)np);
    b.nports = np;
    fu_end(&b);
    if (getenv("FAULT_VERBOSE"))
        printf("  trial %d: workers gone %lld ms after the driver's death\n", trial,
               (long long)gone_ms);
}

/* ---------------------------------------------------------------- bad-input */

static void trial_bad_input(int trial, uint64_t seed)
{
    (void)trial; (void)seed;
    FuBaseline b;
    fu_begin(&b, false);
    Job j;
    job_start(&j, 2);
    fu_note_ports(&b);
    DaftValue v;
    /* wrong dtype, wrong rank, not a tensor: a clear error naming actor and method */
    int64_t d1[1] = {4}, d2[2] = {2, 2};
    DaftValue bad[3] = {daft_value_tensor(DAFT_RT_I64, 1, d1, NULL),
                        daft_value_tensor(DAFT_RT_F32, 2, d2, NULL), daft_value_str("x")};
    const char *want[3] = {"got tensor<i64> of rank 1", "got tensor<f32> of rank 2", "got a string"};
    for (int i = 0; i < 3; i++) {
        DaftRef r = call(&j, 0, M_NORM, &bad[i], 1);
        FU_CHECK(daft_rt_get(j.rt, r, 10.0, &v) == 0, "get");
        check_error(&v, "w0", want[i]);
        FU_CHECK(strstr(v.as.error.msg, "method 'norm'") != NULL, "method: %s", v.as.error.msg);
        daft_value_free(&v);
    }
    /* a plan whose input and output channels are typed f32[4] */
    DaftGraph *g = daft_graph_new("static4");
    int a = daft_graph_add_actor(g, "a", "W", 0, -1, -1);
    int bb = daft_graph_add_actor(g, "b", "W", 0, -1, -1);
    int64_t four[1] = {4};
    int x = daft_graph_add_input(g, "x", daft_payload_tensor(DAFT_DT_F32, 1, four));
    int n = daft_graph_add_input(g, "n", daft_payload_scalar(DAFT_PAY_I64));
    DaftCommHint h = {0};
    DaftGraphArg ga[1] = {daft_arg_value(x)};
    int s = daft_graph_add_task(g, a, "norm", ga, 1, daft_payload_scalar(DAFT_PAY_F64), h);
    DaftGraphArg gb[1] = {daft_arg_value(n)};
    int t = daft_graph_add_task(g, a, "big", gb, 1, daft_payload_tensor(DAFT_DT_F32, 1, four), h);
    DaftGraphArg gc[1] = {daft_arg_value(t)};
    int u = daft_graph_add_task(g, bb, "norm", gc, 1, daft_payload_scalar(DAFT_PAY_F64), h);
    daft_graph_add_output(g, "s", s);
    daft_graph_add_output(g, "u", u);
    DaftPlan *plan = build(g, 2);
    DaftRtPlan *p;
    FU_CHECK(daft_rt_plan_load(j.rt, plan, j.a, 2, &p) == 0, "load: %s", daft_rt_last_error(j.rt));
    /* Static payloads are enforced (SPEC §14.1). Driver inputs that do not fit: submit
     * fails with DAFT_EINVAL before anything is sent, and the plan stays usable. */
    int64_t d64[1] = {64}, d22[2] = {2, 2};
    struct {
        DaftValue x, n;
        const char *msg;
    } bad_in[4] = {
        {daft_value_tensor(DAFT_RT_F32, 1, d64, NULL), daft_value_i64(4),
         "input 'x' of plan 'static4': expected tensor<f32, [4]>, got tensor<f32, [64]>"},
        {daft_value_tensor(DAFT_RT_I32, 1, four, NULL), daft_value_i64(4),
         "input 'x' of plan 'static4': expected tensor<f32, [4]>, got tensor<i32, [4]>"},
        {daft_value_tensor(DAFT_RT_F32, 2, d22, NULL), daft_value_i64(4),
         "input 'x' of plan 'static4': expected tensor<f32, [4]>, got tensor<f32, [2, 2]>"},
        {daft_value_tensor(DAFT_RT_F32, 1, four, NULL), daft_value_str("4"),
         "input 'n' of plan 'static4': expected i64, got str"},
    };
    for (int k = 0; k < 4; k++) {
        DaftValue in[2] = {bad_in[k].x, bad_in[k].n};
        int rc = daft_rt_plan_submit(j.rt, p, in, 2, 10.0);
        FU_CHECK(rc == DAFT_EINVAL, "bad input %d: submit returned %d", k, rc);
        FU_CHECK(strcmp(daft_rt_last_error(j.rt), bad_in[k].msg) == 0, "bad input %d: '%s', want '%s'",
                 k, daft_rt_last_error(j.rt), bad_in[k].msg);
        FU_CHECK(daft_rt_plan_pending(p) == 0, "a refused submit counted as an execution");
        daft_value_free(&in[0]);
        daft_value_free(&in[1]);
    }
    /* Values an actor writes that do not fit: the execution's value is an error naming the
     * actor, the method, the channel and expected vs actual; it propagates to b's norm. The
     * channel of big's result, rendered by libdaftplan (the runtime must render alike): */
    int tc = -1;
    for (int c = 0; c < plan->nchannels; c++)
        if (plan->channels[c].value == t)
            tc = c;
    FU_CHECK(tc >= 0, "no channel for big's result");
    char chan_ty[128];
    daft_payload_str(&plan->channels[tc].payload, chan_ty, sizeof chan_ty);
    FU_CHECK(strcmp(chan_ty, "tensor<f32, [4]>") == 0, "channel type %s", chan_ty);
    /* larger than the static shape, far larger (once chunked: 1.2 MB), a wrong dtype */
    int64_t sizes[3] = {64, 300000, -4};
    const char *got[3] = {"tensor<f32, [64]>", "tensor<f32, [300000]>", "tensor<i32, [4]>"};
    for (int k = 0; k < 3; k++) {
        DaftValue in[2];
        in[0] = daft_value_tensor(DAFT_RT_F32, 1, four, NULL);
        for (int e = 0; e < 4; e++)
            ((float *)in[0].as.tensor.data)[e] = 1.0f;
        in[1] = daft_value_i64(sizes[k]);
        int rc = daft_rt_plan_submit(j.rt, p, in, 2, 10.0);
        daft_value_free(&in[0]);
        FU_CHECK(rc == 0, "submit %d: %s", rc, daft_rt_last_error(j.rt));
        DaftValue out[2];
        FU_CHECK(daft_rt_plan_result(j.rt, p, 10.0, out, 2) == 0, "result (hang?)");
        FU_CHECK(out[0].kind == DAFT_V_F64 && out[0].as.f64 == 4.0, "good output disturbed");
        char want[400];
        snprintf(want, sizeof want,
                 "actor 'w0' (W) method 'big': result %s does not fit channel c%d of plan "
                 "'static4' (%s)", got[k], tc, chan_ty);
        FU_CHECK(out[1].kind == DAFT_V_ERROR, "size %lld: the misfit passed through (kind %d)",
                 (long long)sizes[k], out[1].kind);
        FU_CHECK(strstr(out[1].as.error.msg, want) != NULL, "error '%s', want '%s'",
                 out[1].as.error.msg, want);
        daft_value_free(&out[0]);
        daft_value_free(&out[1]);
    }
    /* the plan still works with good input */
    DaftValue in[2];
    in[0] = daft_value_tensor(DAFT_RT_F32, 1, four, NULL);
    in[1] = daft_value_i64(4);
    FU_CHECK(daft_rt_plan_submit(j.rt, p, in, 2, 10.0) == 0, "submit");
    daft_value_free(&in[0]);
    DaftValue out[2];
    FU_CHECK(daft_rt_plan_result(j.rt, p, 10.0, out, 2) == 0 && out[1].kind == DAFT_V_F64 &&
                 out[1].as.f64 == 4.0,
             "plan after bad input");
    daft_rt_plan_unload(j.rt, p);
    fu_note_ports(&b);
    daft_rt_shutdown(j.rt);
    daft_plan_free(plan);
    free_graphs();
    fu_end(&b);
}

/* ---------------------------------------------------------------- main */

typedef struct Scenario {
    const char *name;
    void (*fn)(int trial, uint64_t seed);
    int ci_trials;
    unsigned budget_s; /* watchdog per trial */
} Scenario;

static const Scenario scenarios[] = {
    {"kill-interp", trial_kill_interp, 30, 30},   {"kill-compiled", trial_kill_compiled, 30, 30},
    {"hang", trial_hang, 2, 30},                  {"exit-mid", trial_exit_mid, 4, 30},
    {"no-start", trial_no_start, 3, 30},          {"driver-killed", trial_driver_killed, 10, 30},
    {"bad-input", trial_bad_input, 1, 60},
};

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: fault_kill SCENARIO [TRIALS] [SEED]\n");
        return 2;
    }
    setvbuf(stdout, NULL, _IONBF, 0); /* exit() in a forked actor must not repeat output */
    prctl(PR_SET_CHILD_SUBREAPER, 1);
    for (size_t i = 0; i < sizeof scenarios / sizeof *scenarios; i++) {
        const Scenario *s = &scenarios[i];
        if (strcmp(argv[1], s->name) != 0)
            continue;
        int trials = argc > 2 ? atoi(argv[2]) : fu_env_int("DAFT_FAULT_TRIALS", s->ci_trials);
        uint64_t seed = argc > 3 ? strtoull(argv[3], NULL, 0) : (uint64_t)fu_env_int("DAFT_FAULT_SEED", 1);
        const char *tr = getenv("DAFT_TRANSPORT");
        int64_t t0 = fu_now_ns();
        for (int t = 0; t < trials; t++) {
            char where[96];
            snprintf(where, sizeof where, "%s trial %d seed %llu transport %s", s->name, t,
                     (unsigned long long)(seed + (uint64_t)t), tr ? tr : "shm");
            fu_where = where;
            fu_watchdog(s->budget_s);
            s->fn(t, seed + (uint64_t)t);
        }
        alarm(0);
        printf("%s (%s): %d trials passed in %.1f s\n", s->name, tr ? tr : "shm", trials,
               (double)(fu_now_ns() - t0) / 1e9);
        return 0;
    }
    fprintf(stderr, "fault_kill: unknown scenario %s\n", argv[1]);
    return 2;
}
