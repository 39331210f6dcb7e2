/* The planner over hand-built and random graphs: transports, places, overlap, and the
 * property test (random DAGs over random actor sets: plan, verify, simulate with several
 * executions in flight, compare with a direct evaluation of the graph). */
#include <daft/plan.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "plan_sim.h"

static const DaftCommHint AUTO = {DAFT_COMM_AUTO, NULL, false};

static DaftPlan *plan_or_fail(const DaftGraph *g, const DaftPlanOptions *opt) {
    DaftPlan *p = NULL;
    char err[512];
    int rc = daft_plan_build(g, opt, &p, err, sizeof err);
    if (rc != 0)
        fail_msg("plan_build: %s", err);
    rc = daft_plan_verify(p, err, sizeof err);
    if (rc != 0)
        fail_msg("verify: %s", err);
    return p;
}

static int task1(DaftGraph *g, int actor, const char *m, int v, DaftPayload pay, DaftCommHint h) {
    DaftGraphArg a = daft_arg_value(v);
    return daft_graph_add_task(g, actor, m, &a, v >= 0 ? 1 : 0, pay, h);
}

static DaftPayload tensor_dyn(void) { return daft_payload_tensor(DAFT_DT_F32, -1, NULL); }

/* ---------------------------------------------------------------- fixed graphs */

static void test_chain_transports(void **state) {
    (void)state;
    DaftGraph *g = daft_graph_new("chain");
    int a = daft_graph_add_actor(g, "a", "A", 1, -1, -1);
    int b = daft_graph_add_actor(g, "b", "B", 1, -1, -1);
    int x = daft_graph_add_input(g, "x", tensor_dyn());
    int t = task1(g, a, "execute", x, tensor_dyn(), AUTO);
    int r = task1(g, b, "execute", t, tensor_dyn(), AUTO);
    daft_graph_add_output(g, "out", r);
    DaftPlan *p = plan_or_fail(g, NULL);
    assert_int_equal(p->nchannels, 3);
    assert_int_equal(p->channels[0].transport, DAFT_TRANSPORT_SHM);   /* driver -> a */
    assert_int_equal(p->channels[1].transport, DAFT_TRANSPORT_NCCL);  /* a -> b on GPUs */
    assert_true(p->channels[1].meta_first);
    assert_int_equal(p->channels[2].transport, DAFT_TRANSPORT_SHM);   /* b -> driver */
    assert_int_equal(p->actors[0].place.gpu, 0);
    assert_int_equal(p->actors[1].place.gpu, 1);
    daft_plan_free(p);

    DaftPlanOptions cpu = {.cpu_only = true};
    p = plan_or_fail(g, &cpu);
    assert_int_equal(p->channels[1].transport, DAFT_TRANSPORT_SHM);
    daft_plan_free(p);
    daft_graph_free(g);
}

static void test_places_and_hosts(void **state) {
    (void)state;
    DaftGraph *g = daft_graph_new("places");
    int w[5];
    for (int i = 0; i < 4; i++)
        w[i] = daft_graph_add_actor(g, NULL, "W", 1, -1, -1);
    w[4] = daft_graph_add_actor(g, "cpu", "C", 0, -1, -1);
    int pinned = daft_graph_add_actor(g, "pinned", "W", 1, 1, 1);
    DaftPlanOptions opt = {.gpus_per_node = 2};
    int x = daft_graph_add_input(g, "x", daft_payload_scalar(DAFT_PAY_I64));
    int v = x;
    for (int i = 0; i < 4; i++)
        v = task1(g, w[i], "f", v, daft_payload_scalar(DAFT_PAY_I64), AUTO);
    v = task1(g, w[4], "f", v, daft_payload_scalar(DAFT_PAY_I64), AUTO);
    v = task1(g, pinned, "f", v, daft_payload_scalar(DAFT_PAY_I64), AUTO);
    daft_graph_add_output(g, "out", v);
    DaftPlan *p = plan_or_fail(g, &opt);
    /* defaults fill node 0 then node 1 around the pinned GPU (1, 1), then node 2 */
    int expect[6][2] = {{0, 0}, {0, 1}, {1, 0}, {2, 0}, {0, -1}, {1, 1}};
    for (int i = 0; i < 6; i++) {
        assert_int_equal(p->actors[i].place.node, expect[i][0]);
        assert_int_equal(p->actors[i].place.gpu, expect[i][1]);
    }
    /* host data: same node -> shm, across nodes -> tcp */
    assert_int_equal(p->channels[1].transport, DAFT_TRANSPORT_SHM);   /* w0 -> w1 */
    assert_int_equal(p->channels[2].transport, DAFT_TRANSPORT_TCP);   /* w1 -> w2 */
    daft_plan_free(p);
    daft_graph_free(g);
}

static void test_hints(void **state) {
    (void)state;
    DaftGraph *g = daft_graph_new("hints");
    int a = daft_graph_add_actor(g, "a", "A", 1, -1, -1);
    int b = daft_graph_add_actor(g, "b", "B", 1, -1, -1);
    int c = daft_graph_add_actor(g, "c", "C", 0, -1, -1);
    DaftCommHint shm = {DAFT_COMM_SHM, NULL, false}, custom = {DAFT_COMM_CUSTOM, "rdma", false};
    int64_t dims[2] = {4, 8};
    DaftPayload st = daft_payload_tensor(DAFT_DT_F32, 2, dims);
    int t1 = task1(g, a, "f", -1, st, shm);
    int t2 = task1(g, a, "g", -1, st, custom);
    int t3 = task1(g, a, "h", -1, st, AUTO);
    int r1 = task1(g, b, "f", t1, st, AUTO);
    int r2 = task1(g, b, "g", t2, st, AUTO);
    int r3 = task1(g, c, "h", t3, st, AUTO);     /* GPU tensor to a CPU actor: host copy */
    daft_graph_add_output(g, "o1", r1);
    daft_graph_add_output(g, "o2", r2);
    daft_graph_add_output(g, "o3", r3);
    DaftPlan *p = plan_or_fail(g, NULL);
    assert_int_equal(p->channels[0].transport, DAFT_TRANSPORT_SHM);
    assert_int_equal(p->channels[1].transport, DAFT_TRANSPORT_CUSTOM);
    assert_string_equal(p->channels[1].custom, "rdma");
    assert_int_equal(p->channels[2].transport, DAFT_TRANSPORT_SHM);
    assert_false(p->channels[0].meta_first);                       /* static shape */
    daft_plan_free(p);
    daft_graph_free(g);
}

/* A value used twice by one actor is read once; a value read by two actors is one channel
 * with two readers. */
static void test_fanout_and_reuse(void **state) {
    (void)state;
    DaftGraph *g = daft_graph_new("fan");
    int a = daft_graph_add_actor(g, "a", "A", 0, -1, -1);
    int b = daft_graph_add_actor(g, "b", "B", 0, -1, -1);
    int x = daft_graph_add_input(g, "x", daft_payload_scalar(DAFT_PAY_I64));
    DaftGraphArg two[2] = {daft_arg_value(x), daft_arg_value(x)};
    int y = daft_graph_add_task(g, a, "f", two, 2, daft_payload_scalar(DAFT_PAY_I64), AUTO);
    int z = task1(g, b, "g", x, daft_payload_scalar(DAFT_PAY_I64), AUTO);
    daft_graph_add_output(g, "y", y);
    daft_graph_add_output(g, "z", z);
    daft_graph_add_output(g, "x", x);
    DaftPlan *p = plan_or_fail(g, NULL);
    assert_int_equal(p->channels[0].nreaders, 2);
    assert_int_equal(p->inputs[0].nchannels, 1);
    assert_int_equal(p->outputs[2].input, 0);
    int reads = 0;
    for (int i = 0; i < p->actors[0].nops; i++)
        reads += p->actors[0].ops[i].kind == DAFT_OP_READ;
    assert_int_equal(reads, 1);
    daft_plan_free(p);
    daft_graph_free(g);
}

/* An NCCL receive moves above independent compute so the transfer overlaps it. */
static void test_overlap(void **state) {
    (void)state;
    DaftGraph *g = daft_graph_new("overlap");
    int a = daft_graph_add_actor(g, "a", "A", 1, -1, -1);
    int b = daft_graph_add_actor(g, "b", "B", 1, -1, -1);
    int t = task1(g, a, "produce", -1, tensor_dyn(), AUTO);
    int u = task1(g, b, "local", -1, tensor_dyn(), AUTO);
    DaftGraphArg args[2] = {daft_arg_value(t), daft_arg_value(u)};
    int r = daft_graph_add_task(g, b, "combine", args, 2, tensor_dyn(), AUTO);
    daft_graph_add_output(g, "r", r);
    DaftPlan *p = plan_or_fail(g, NULL);
    const DaftPlanActor *pb = &p->actors[1];
    assert_int_equal(pb->ops[0].kind, DAFT_OP_READ);   /* hoisted above call local() */
    assert_int_equal(pb->ops[1].kind, DAFT_OP_CALL);
    daft_plan_free(p);
    DaftPlanOptions no = {.no_overlap = true};
    p = plan_or_fail(g, &no);
    assert_int_equal(p->actors[1].ops[0].kind, DAFT_OP_CALL);
    daft_plan_free(p);
    daft_graph_free(g);
}

static void test_builder_errors(void **state) {
    (void)state;
    DaftGraph *g = daft_graph_new("bad");
    int a = daft_graph_add_actor(g, "a", "A", 0, -1, -1);
    DaftGraphArg bad = daft_arg_value(7);
    assert_int_equal(daft_graph_add_task(g, a, "f", &bad, 1, daft_payload_scalar(DAFT_PAY_I64), AUTO), -1);
    assert_non_null(strstr(g->error, "does not exist"));
    int members[2] = {a, a}, vals[2] = {0, 0};
    assert_int_equal(daft_graph_add_collective(g, DAFT_COLL_ALLREDUCE, DAFT_REDUCE_SUM, 0, members, vals, 2, NULL), -1);
    DaftPlan *p;
    char err[256];
    assert_int_equal(daft_plan_build(g, NULL, &p, err, sizeof err), -1);
    assert_null(p);
    daft_graph_free(g);
}

static void test_names(void **state) {
    (void)state;
    assert_string_equal(daft_transport_name(DAFT_TRANSPORT_NCCL), "nccl");
    assert_string_equal(daft_plan_op_name(DAFT_OP_COLLECTIVE), "collective");
    assert_string_equal(daft_coll_name(DAFT_COLL_REDUCESCATTER), "reducescatter");
    DaftCollKind k;
    assert_true(daft_coll_parse("allgather", &k));
    assert_int_equal(k, DAFT_COLL_ALLGATHER);
    DaftPlanFormat f;
    assert_true(daft_plan_format_parse("dot", &f));
    assert_int_equal(f, DAFT_PLAN_DOT);
    assert_false(daft_plan_format_parse("xml", &f));
    char buf[64];
    int64_t dims[2] = {32, DAFT_DIM_DYNAMIC};
    DaftPayload pl = daft_payload_tensor(DAFT_DT_BF16, 2, dims);
    daft_payload_str(&pl, buf, sizeof buf);
    assert_string_equal(buf, "tensor<bf16, [32, ?]>");
    assert_false(daft_payload_static(&pl));
}

/* ---------------------------------------------------------------- property test */

typedef struct Rng {
    uint64_t s;
} Rng;

static uint32_t rnd(Rng *r, uint32_t n) {
    r->s = r->s * 6364136223846793005ULL + 1442695040888963407ULL;
    return (uint32_t)(r->s >> 33) % n;
}

static DaftCommHint random_hint(Rng *r) {
    static const DaftCommHint hints[] = {
        {DAFT_COMM_AUTO, NULL, false}, {DAFT_COMM_AUTO, NULL, false}, {DAFT_COMM_AUTO, NULL, true},
        {DAFT_COMM_NCCL, NULL, false}, {DAFT_COMM_SHM, NULL, false},  {DAFT_COMM_TCP, NULL, false},
        {DAFT_COMM_CUSTOM, "mycomm", false}};
    return hints[rnd(r, sizeof hints / sizeof *hints)];
}

static void random_actors(DaftGraph *g, Rng *r) {
    int n = 1 + (int)rnd(r, 8);
    for (int i = 0; i < n; i++) {
        int gpus = rnd(r, 4) == 0 ? 0 : 1;
        int node = rnd(r, 6) == 0 ? (int)rnd(r, 3) : -1;
        daft_graph_add_actor(g, NULL, "Cls", gpus, node, -1);
    }
}

static void random_task(DaftGraph *g, Rng *r) {
    DaftGraphArg args[4];
    int nargs = (int)rnd(r, 4);
    for (int i = 0; i < nargs; i++)
        args[i] = rnd(r, 5) ? daft_arg_value((int)rnd(r, (uint32_t)g->nvalues)) : daft_arg_i64(rnd(r, 100));
    char method[8];
    snprintf(method, sizeof method, "m%u", rnd(r, 3));
    DaftPayload pay = rnd(r, 2) ? tensor_dyn() : daft_payload_scalar(DAFT_PAY_I64);
    daft_graph_add_task(g, (int)rnd(r, (uint32_t)g->nactors), method, args, nargs, pay, random_hint(r));
}

static void random_collective(DaftGraph *g, Rng *r) {
    int members[8], values[8], n = 1 + (int)rnd(r, (uint32_t)g->nactors);
    int perm[8];
    for (int i = 0; i < g->nactors; i++)
        perm[i] = i;
    for (int i = g->nactors - 1; i > 0; i--) {      /* random subset in random rank order */
        int j = (int)rnd(r, (uint32_t)i + 1), t = perm[i];
        perm[i] = perm[j], perm[j] = t;
    }
    for (int i = 0; i < n; i++) {
        members[i] = perm[i];
        values[i] = (int)rnd(r, (uint32_t)g->nvalues);
    }
    daft_graph_add_collective(g, (DaftCollKind)rnd(r, DAFT_COLL_COUNT), (DaftReduceOp)rnd(r, DAFT_REDUCE_COUNT),
                              (int)rnd(r, (uint32_t)n), members, values, n, NULL);
}

static DaftGraph *random_graph(uint64_t seed) {
    Rng r = {seed * 2654435761u + 1};
    DaftGraph *g = daft_graph_new("random");
    random_actors(g, &r);
    g->inflight = 1 + (int)rnd(&r, 3);
    int ninputs = 1 + (int)rnd(&r, 3);
    for (int i = 0; i < ninputs; i++)
        daft_graph_add_input(g, NULL, rnd(&r, 2) ? tensor_dyn() : daft_payload_scalar(DAFT_PAY_I64));
    int nnodes = 1 + (int)rnd(&r, 30);
    for (int i = 0; i < nnodes; i++) {
        if (rnd(&r, 6) == 0)
            random_collective(g, &r);
        else
            random_task(g, &r);
    }
    int nout = 1 + (int)rnd(&r, 3);
    for (int i = 0; i < nout; i++)
        daft_graph_add_output(g, NULL, rnd(&r, 3) ? g->nvalues - 1 - (int)rnd(&r, 2) % g->nvalues
                                                  : (int)rnd(&r, (uint32_t)g->nvalues));
    return g;
}

static void check_random_graph(uint64_t seed, bool cpu_only, bool no_overlap) {
    DaftGraph *g = random_graph(seed);
    assert_string_equal(g->error, "");
    DaftPlanOptions opt = {.gpus_per_node = 1 + (int)(seed % 4), .cpu_only = cpu_only,
                           .no_overlap = no_overlap, .verify = true};
    DaftPlan *p = plan_or_fail(g, &opt);
    enum { NEXEC = 5 };
    int nout = p->noutputs;
    int64_t *want = calloc((size_t)(NEXEC * nout + 1), sizeof(int64_t));
    int64_t *got = calloc((size_t)(NEXEC * nout + 1), sizeof(int64_t));
    sim_eval_graph(g, NEXEC, want);
    char err[512];
    if (sim_run_plan(p, NEXEC, 20.0, got, err, sizeof err) != 0) {
        daft_plan_print(p, stderr, DAFT_PLAN_TEXT);
        fail_msg("seed %llu: simulation failed: %s", (unsigned long long)seed, err);
    }
    for (int i = 0; i < NEXEC * nout; i++) {
        if (want[i] != got[i]) {
            daft_plan_print(p, stderr, DAFT_PLAN_TEXT);
            fail_msg("seed %llu: execution %d output %d differs", (unsigned long long)seed, i / nout, i % nout);
        }
    }
    free(want);
    free(got);
    daft_plan_free(p);
    daft_graph_free(g);
}

enum { NRANDOM = 400 };

static void test_random_plans_simulate(void **state) {
    (void)state;
    for (uint64_t seed = 1; seed <= NRANDOM; seed++)
        check_random_graph(seed, false, false);
}

static void test_random_plans_cpu_only_no_overlap(void **state) {
    (void)state;
    for (uint64_t seed = 1; seed <= NRANDOM / 4; seed++)
        check_random_graph(seed, seed % 2 == 0, true);
}

/* Same graph, same plan, byte for byte (daftc and the runtime must agree). */
static void test_deterministic(void **state) {
    (void)state;
    for (uint64_t seed = 1; seed <= 20; seed++) {
        char *bufs[2];
        size_t lens[2];
        for (int k = 0; k < 2; k++) {
            DaftGraph *g = random_graph(seed);
            DaftPlan *p = plan_or_fail(g, NULL);
            FILE *f = open_memstream(&bufs[k], &lens[k]);
            daft_plan_print(p, f, DAFT_PLAN_JSON);
            fclose(f);
            daft_plan_free(p);
            daft_graph_free(g);
        }
        assert_int_equal(lens[0], lens[1]);
        assert_memory_equal(bufs[0], bufs[1], lens[0]);
        free(bufs[0]);
        free(bufs[1]);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_chain_transports),
        cmocka_unit_test(test_places_and_hosts),
        cmocka_unit_test(test_hints),
        cmocka_unit_test(test_fanout_and_reuse),
        cmocka_unit_test(test_overlap),
        cmocka_unit_test(test_builder_errors),
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_random_plans_simulate),
        cmocka_unit_test(test_random_plans_cpu_only_no_overlap),
        cmocka_unit_test(test_deterministic),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
