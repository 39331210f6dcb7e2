/* gpu_actors.h — the actor class shared by tests/gpu/test_gpu_rt.c and bench_gpu_plan.c:
 * methods written in C against daftrt.h and daft/std.h (what daftc would generate). */
#ifndef DAFT_GPU_ACTORS_H
#define DAFT_GPU_ACTORS_H
#pragma GCC diagnostic ignored "-Wunused-function"

#include <daft/std.h>
#include <daftrt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { M_PRODUCE, M_CONSUME, M_OPS, M_MK, M_SINK, M_RELAY, M_DEV, M_ONDEV, M_NX, M_NCCLID, M_COLL, M_STALL,
       M_MK_TIMED, M_SINK_TIMED, M_NMETHODS };

static int ga_fail(DaftActorCtx *ctx, DaftValue *v)
{
    int rc = daft_raise(ctx, "%s", v->kind == DAFT_V_ERROR ? v->as.error.msg : "failed");
    daft_value_free(v);
    return rc;
}

static DaftValue ga_shape2(int64_t a, int64_t b)
{
    DaftValue l = daft_value_list(2);
    l.as.list.items[0] = daft_value_i64(a);
    l.as.list.items[1] = daft_value_i64(b);
    return l;
}

/* produce(seed, rows) -> randn [rows, 256] (on the GPU in a GPU actor); a negative seed
 * raises (an error value on the producer's channel) */
static int ga_produce(DaftActorCtx *ctx, void *st, const DaftValue *a, int n, DaftValue *out)
{
    (void)st;
    (void)n;
    if (a[0].as.i64 < 0)
        return daft_raise(ctx, "produce: negative seed %lld", (long long)a[0].as.i64);
    DaftValue args[2] = {ga_shape2(n > 1 ? a[1].as.i64 : 256, 256), a[0]};
    int rc = daft_std_tensor_randn(ctx, args, 2, out);
    daft_value_free(&args[0]);
    return rc ? ga_fail(ctx, out) : 0;
}

/* consume(t) -> f64 sum(t) */
static int ga_consume(DaftActorCtx *ctx, void *st, const DaftValue *a, int n, DaftValue *out)
{
    (void)st;
    int rc = daft_std_tensor_sum(ctx, a, n, out);
    return rc ? ga_fail(ctx, out) : 0;
}

/* ondev(t) -> i64: the tensor's device field (0 host, k+1 GPU k) */
static int ga_ondev(DaftActorCtx *ctx, void *st, const DaftValue *a, int n, DaftValue *out)
{
    (void)st;
    (void)n;
    if (a[0].kind != DAFT_V_TENSOR)
        return daft_raise(ctx, "not a tensor");
    *out = daft_value_i64(a[0].as.tensor.device);
    return 0;
}

/* nx(received) -> i64: interpreted GPU transfers this actor sent (0) / received (1) over NCCL */
static int ga_nx(DaftActorCtx *ctx, void *st, const DaftValue *a, int n, DaftValue *out)
{
    (void)st;
    (void)n;
    *out = daft_value_i64(daft_ctx_gpu_nccl_transfers(ctx, (int)a[0].as.i64));
    return 0;
}

static int ga_dev(DaftActorCtx *ctx, void *st, const DaftValue *a, int n, DaftValue *out)
{
    (void)st;
    (void)a;
    (void)n;
    *out = daft_value_i64(daft_ctx_gpu(ctx));
    return 0;
}

/* mk(i, bytes) -> an uninitialised f32 GPU tensor of `bytes` bytes (benchmarks) */
static int ga_mk(DaftActorCtx *ctx, void *st, const DaftValue *a, int n, DaftValue *out)
{
    (void)st;
    (void)n;
    int64_t d = a[1].as.i64 / 4;
    *out = daft_value_gpu_tensor(ctx, DAFT_RT_F32, 1, &d, NULL);
    return out->kind == DAFT_V_ERROR ? ga_fail(ctx, out) : 0;
}

/* sink(t, i, last) -> i64 i; waits for the GPU when i == last (ends a timed burst) */
static int ga_sink(DaftActorCtx *ctx, void *st, const DaftValue *a, int n, DaftValue *out)
{
    (void)st;
    (void)n;
    if (a[0].kind == DAFT_V_ERROR)
        return daft_raise(ctx, "%s", a[0].as.error.msg);
    if (a[1].as.i64 >= a[2].as.i64) {
        DaftValue e = daft_value_none();
        if (daft_ctx_gpu_sync(ctx, &e))
            return ga_fail(ctx, &e);
    }
    *out = daft_value_i64(a[1].as.i64);
    return 0;
}

static int64_t ga_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* mk_timed(x, bytes): mk, and the actor's clock as it starts (its state: one i64) */
static int ga_mk_timed(DaftActorCtx *ctx, void *st, const DaftValue *a, int n, DaftValue *out)
{
    *(int64_t *)st = ga_now_ns();
    return ga_mk(ctx, st, a, n, out);
}

/* sink_timed(t) -> i64 ns since this actor's last mk_timed, once the GPU has t (synced):
 * a round trip A -> B -> A as A's host sees it, as the C peer times its ping-pong */
static int ga_sink_timed(DaftActorCtx *ctx, void *st, const DaftValue *a, int n, DaftValue *out)
{
    (void)n;
    if (a[0].kind == DAFT_V_ERROR)
        return daft_raise(ctx, "%s", a[0].as.error.msg);
    DaftValue e = daft_value_none();
    if (daft_ctx_gpu_sync(ctx, &e))
        return ga_fail(ctx, &e);
    *out = daft_value_i64(ga_now_ns() - *(int64_t *)st);
    return 0;
}

/* relay(t) -> a device copy of t */
static int ga_relay(DaftActorCtx *ctx, void *st, const DaftValue *a, int n, DaftValue *out)
{
    (void)st;
    (void)n;
    if (daft_value_copy(out, &a[0]))
        return daft_raise(ctx, "relay: copy failed");
    return 0;
}

/* ops(seed) -> i64 number of GPU results that differ from the CPU ones (prints them) */
static int ga_cmp(const char *what, DaftValue *g, DaftValue *c, double tol)
{
    if (g->kind == DAFT_V_ERROR || c->kind == DAFT_V_ERROR) {
        fprintf(stderr, "ops %s: error %s\n", what, g->kind == DAFT_V_ERROR ? g->as.error.msg : c->as.error.msg);
        return 1;
    }
    if (g->kind == DAFT_V_F64) {
        bool ok = fabs(g->as.f64 - c->as.f64) <= tol * (1 + fabs(c->as.f64));
        if (!ok)
            fprintf(stderr, "ops %s: gpu %.9g cpu %.9g\n", what, g->as.f64, c->as.f64);
        return !ok;
    }
    if (g->kind == DAFT_V_LIST) {
        int bad = 0;
        for (size_t i = 0; i < g->as.list.len; i++)
            bad += ga_cmp(what, &g->as.list.items[i], &c->as.list.items[i], tol);
        return bad;
    }
    if (g->kind != DAFT_V_TENSOR || !g->as.tensor.device || c->as.tensor.device) {
        fprintf(stderr, "ops %s: expected a GPU result and a CPU reference\n", what);
        return 1;
    }
    DaftValue h;
    daft_value_copy(&h, g);
    daft_value_to_host(&h);
    int bad = 0;
    const DaftTensor *x = &h.as.tensor, *y = &c->as.tensor;
    int64_t n = daft_tensor_numel(y);
    if (x->rank != y->rank || daft_tensor_numel(x) != n)
        bad = 1;
    for (int64_t i = 0; !bad && i < n; i++) {
        double a = y->dtype == DAFT_RT_F32 ? ((float *)x->data)[i] : (double)((int64_t *)x->data)[i];
        double b = y->dtype == DAFT_RT_F32 ? ((float *)y->data)[i] : (double)((int64_t *)y->data)[i];
        if (tol == 0 ? memcmp((char *)x->data + i * 4, (char *)y->data + i * 4, 4) != 0
                     : fabs(a - b) > tol * (1 + fabs(b))) {
            fprintf(stderr, "ops %s: element %lld gpu %.9g cpu %.9g\n", what, (long long)i, a, b);
            bad = 1;
        }
    }
    daft_value_free(&h);
    return bad;
}

static int ga_ops(DaftActorCtx *ctx, void *st, const DaftValue *a, int n, DaftValue *out)
{
    (void)st;
    (void)n;
    int64_t seed = a[0].as.i64, bad = 0;
    DaftValue s1 = ga_shape2(64, 96), s2 = ga_shape2(96, 48), s3 = ga_shape2(64, 48);
    DaftValue g[8], c[8];
    DaftValue ra[2] = {s1, daft_value_i64(seed)}, rb[2] = {s2, daft_value_i64(seed + 1)},
              rc3[2] = {s3, daft_value_i64(seed + 2)};
    daft_std_tensor_randn(ctx, ra, 2, &g[0]);  /* GPU */
    daft_std_tensor_randn(ctx, rb, 2, &g[1]);
    daft_std_tensor_randn(ctx, rc3, 2, &g[2]);
    daft_std_tensor_randn(NULL, ra, 2, &c[0]); /* CPU (no ctx: driver-style) */
    daft_std_tensor_randn(NULL, rb, 2, &c[1]);
    daft_std_tensor_randn(NULL, rc3, 2, &c[2]);
    bad += ga_cmp("randn", &g[0], &c[0], 0);
    bad += ga_cmp("randn2", &g[1], &c[1], 0);
    DaftValue go, co;
#define BOTH(name, fn, na, gargs, cargs, tol)                                           \
    do {                                                                                \
        fn(ctx, gargs, na, &go);                                                        \
        fn(NULL, cargs, na, &co);                                                       \
        bad += ga_cmp(name, &go, &co, tol);                                             \
        daft_value_free(&go);                                                           \
        daft_value_free(&co);                                                           \
    } while (0)
    DaftValue gm[2] = {g[0], g[1]}, cm[2] = {c[0], c[1]};
    BOTH("matmul", daft_std_tensor_matmul, 2, gm, cm, 1e-5);
    DaftValue ga2[2] = {g[0], g[0]}, ca2[2] = {c[0], c[0]};
    BOTH("add", daft_std_tensor_add, 2, ga2, ca2, 0);
    BOTH("mul", daft_std_tensor_mul, 2, ga2, ca2, 0);
    DaftValue gs[2] = {g[0], daft_value_f64(0.5)}, cs[2] = {c[0], daft_value_f64(0.5)};
    BOTH("mul scalar", daft_std_tensor_mul, 2, gs, cs, 0);
    BOTH("relu", daft_std_tensor_relu, 1, g, c, 0);
    BOTH("sum", daft_std_tensor_sum, 1, g, c, 1e-9);
    DaftValue gsl[4] = {g[0], daft_value_i64(1), daft_value_i64(10), daft_value_i64(50)};
    DaftValue csl[4] = {c[0], daft_value_i64(1), daft_value_i64(10), daft_value_i64(50)};
    BOTH("slice", daft_std_tensor_slice, 4, gsl, csl, 0);
    DaftValue gl = daft_value_list(2), cl = daft_value_list(2);
    daft_value_copy(&gl.as.list.items[0], &g[0]);
    daft_value_copy(&gl.as.list.items[1], &g[0]);
    daft_value_copy(&cl.as.list.items[0], &c[0]);
    daft_value_copy(&cl.as.list.items[1], &c[0]);
    DaftValue gcat[2] = {gl, daft_value_i64(0)}, ccat[2] = {cl, daft_value_i64(0)};
    BOTH("concat", daft_std_tensor_concat, 2, gcat, ccat, 0);
    daft_value_free(&gl);
    daft_value_free(&cl);
    DaftValue gy[2] = {g[0], g[0]}, cy[2] = {c[0], c[0]};
    BOTH("mse_grad", daft_std_tensor_mse_grad, 2, gy, cy, 0);
    BOTH("mse_loss", daft_std_tensor_mse_loss, 2, gy, cy, 1e-9);
    { /* mse of two different tensors of one shape: (g0 @ g1) and g2, [64, 48] */
        DaftValue gp, cp;
        daft_std_tensor_matmul(ctx, gm, 2, &gp);
        daft_std_tensor_matmul(NULL, cm, 2, &cp);
        DaftValue gms[2] = {gp, g[2]}, cms[2] = {cp, c[2]};
        BOTH("mse", daft_std_tensor_mse, 2, gms, cms, 1e-5);
        daft_value_free(&gp);
        daft_value_free(&cp);
    }
    DaftValue gsg[3] = {g[0], g[0], daft_value_f64(0.1)}, csg[3] = {c[0], c[0], daft_value_f64(0.1)};
    BOTH("sgd_update", daft_std_tensor_sgd_update, 3, gsg, csg, 0);
    DaftValue glb[3] = {g[0], g[1], g[2]}, clb[3] = {c[0], c[1], c[2]};
    BOTH("linear_backward", daft_std_tensor_linear_backward, 3, glb, clb, 1e-5);
    DaftValue gwg[2] = {g[0], g[2]}, cwg[2] = {c[0], c[2]};
    BOTH("linear_weight_grad", daft_std_tensor_linear_weight_grad, 2, gwg, cwg, 1e-5);
    DaftValue gig[2] = {g[2], g[1]}, cig[2] = {c[2], c[1]};
    BOTH("linear_input_grad", daft_std_tensor_linear_input_grad, 2, gig, cig, 1e-5);
    /* a mismatch reads the same on the GPU as on the CPU (std_texts.h) */
#define ERRS(name, fn, na, gargs, cargs)                                                          \
    do {                                                                                          \
        fn(ctx, gargs, na, &go);                                                                  \
        fn(NULL, cargs, na, &co);                                                                 \
        const char *gt = go.kind == DAFT_V_ERROR ? go.as.error.msg : "(no error)";                \
        const char *ct = co.kind == DAFT_V_ERROR ? co.as.error.msg : "(no error)";                \
        if (go.kind != DAFT_V_ERROR || co.kind != DAFT_V_ERROR || strcmp(gt, ct) != 0) {          \
            fprintf(stderr, "ops %s: the GPU's error text '%s' is not the CPU's '%s'\n", name, gt, ct); \
            bad++;                                                                                \
        }                                                                                         \
        daft_value_free(&go);                                                                     \
        daft_value_free(&co);                                                                     \
    } while (0)
    DaftValue gsh[2] = {g[0], g[2]}, csh[2] = {c[0], c[2]}; /* [64, 96] and [64, 48] */
    ERRS("add of two shapes", daft_std_tensor_add, 2, gsh, csh);
    ERRS("mul of two shapes", daft_std_tensor_mul, 2, gsh, csh);
    DaftValue gin[2] = {g[0], g[0]}, cin[2] = {c[0], c[0]}; /* [64, 96] x [64, 96] */
    ERRS("matmul's inner dimensions", daft_std_tensor_matmul, 2, gin, cin);
    ERRS("linear_weight_grad's shapes", daft_std_tensor_linear_weight_grad, 2, gm, cm); /* x [64, 96], gy [96, 48] */
    ERRS("linear_input_grad's shapes", daft_std_tensor_linear_input_grad, 2, gsh, csh);  /* gy, w */
    DaftValue gbk[3] = {g[0], g[0], g[0]}, cbk[3] = {c[0], c[0], c[0]};
    ERRS("linear_backward's shapes", daft_std_tensor_linear_backward, 3, gbk, cbk);
    DaftValue gsb[4] = {g[0], daft_value_i64(-1), daft_value_i64(10), daft_value_i64(200)};
    DaftValue csb[4] = {c[0], daft_value_i64(-1), daft_value_i64(10), daft_value_i64(200)};
    ERRS("slice out of bounds", daft_std_tensor_slice, 4, gsb, csb);
    DaftValue gl2 = daft_value_list(2), cl2 = daft_value_list(2); /* [64, 96] then [64, 48] */
    daft_value_copy(&gl2.as.list.items[0], &g[0]);
    daft_value_copy(&gl2.as.list.items[1], &g[2]);
    daft_value_copy(&cl2.as.list.items[0], &c[0]);
    daft_value_copy(&cl2.as.list.items[1], &c[2]);
    DaftValue gcb[2] = {gl2, daft_value_i64(0)}, ccb[2] = {cl2, daft_value_i64(0)};
    ERRS("concat of misfits", daft_std_tensor_concat, 2, gcb, ccb);
    daft_value_free(&gl2);
    daft_value_free(&cl2);
    BOTH("to_cpu", daft_std_tensor_to_cpu, 1, g, c, 0); /* go is CPU: compared as error */
    for (int i = 0; i < 3; i++) {
        daft_value_free(&g[i]);
        daft_value_free(&c[i]);
    }
    daft_value_free(&s1);
    daft_value_free(&s2);
    daft_value_free(&s3);
    *out = daft_value_i64(bad - 1); /* to_cpu's "expected a GPU result" is the one known */
    return 0;
}

/* ncclid() -> [i64] of 16: a new NCCL unique id (rank 0 of an interpreted collective; a
 * list, as a tensor would arrive on the other members' GPUs) */
static int ga_ncclid(DaftActorCtx *ctx, void *st, const DaftValue *a, int n, DaftValue *out)
{
    (void)st;
    (void)a;
    (void)n;
    int64_t id[DAFT_NCCL_ID_BYTES / 8];
    if (daft_ctx_nccl_id(ctx, (uint8_t *)id, out))
        return ga_fail(ctx, out);
    *out = daft_value_list(DAFT_NCCL_ID_BYTES / 8);
    for (int i = 0; i < DAFT_NCCL_ID_BYTES / 8; i++)
        out->as.list.items[i] = daft_value_i64(id[i]);
    return 0;
}

/* coll(comm, kind, reduce, root, rank, n, id or none, input, [actors]) -> this member's
 * result of an interpreted collective over NCCL (daft_ctx_nccl_collective) */
static int ga_coll(DaftActorCtx *ctx, void *st, const DaftValue *a, int n, DaftValue *out)
{
    (void)st;
    (void)n;
    DaftActor ms[8] = {0};
    for (size_t i = 0; i < a[8].as.list.len && i < 8; i++)
        ms[i] = a[8].as.list.items[i].as.actor;
    int64_t id[DAFT_NCCL_ID_BYTES / 8] = {0};
    for (size_t i = 0; a[6].kind == DAFT_V_LIST && i < a[6].as.list.len && i < DAFT_NCCL_ID_BYTES / 8; i++)
        id[i] = a[6].as.list.items[i].as.i64;
    DaftNcclColl op = {(uint64_t)a[0].as.i64, ms, (int)a[5].as.i64, (int)a[4].as.i64,
                       a[6].kind == DAFT_V_LIST ? (const uint8_t *)id : NULL,
                       (int)a[1].as.i64, (int)a[2].as.i64, (int)a[3].as.i64};
    return daft_ctx_nccl_collective(ctx, &op, &a[7], out) ? ga_fail(ctx, out) : 0;
}

/* stall(ms) -> i64 ms: sleeps (keeps an actor busy) */
static int ga_stall(DaftActorCtx *ctx, void *st, const DaftValue *a, int n, DaftValue *out)
{
    (void)ctx;
    (void)st;
    (void)n;
    struct timespec ts = {(time_t)(a[0].as.i64 / 1000), (long)(a[0].as.i64 % 1000) * 1000000L};
    nanosleep(&ts, NULL);
    *out = daft_value_i64(a[0].as.i64);
    return 0;
}

static const DaftMethodDesc ga_methods[M_NMETHODS] = {
    [M_PRODUCE] = {"produce", ga_produce}, [M_CONSUME] = {"consume", ga_consume},
    [M_OPS] = {"ops", ga_ops},             [M_MK] = {"mk", ga_mk},
    [M_SINK] = {"sink", ga_sink},          [M_RELAY] = {"relay", ga_relay},
    [M_DEV] = {"dev", ga_dev},             [M_ONDEV] = {"ondev", ga_ondev},
    [M_NX] = {"nx", ga_nx},                [M_NCCLID] = {"ncclid", ga_ncclid},
    [M_COLL] = {"coll", ga_coll},          [M_STALL] = {"stall", ga_stall},
    [M_MK_TIMED] = {"mk_timed", ga_mk_timed}, [M_SINK_TIMED] = {"sink_timed", ga_sink_timed},
};
static const DaftClassDesc ga_class = {"G", 8, NULL, NULL, ga_methods, M_NMETHODS};

#endif
