/* Plan serialization (compiler/plan_serial.c): every example's plans and hand-built plans
 * with every op kind round-trip byte for byte (and print identically); corrupt input —
 * every truncation, every single-byte change with and without a fixed checksum, random
 * mutations — is rejected with a message and never crashes (run it under ASan). */
#include <daft/plan.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static char *render(const DaftPlan *p) {
    char *buf;
    size_t len;
    FILE *f = open_memstream(&buf, &len);
    daft_plan_print(p, f, DAFT_PLAN_JSON);
    fclose(f);
    return buf;
}

/* Serialize, deserialize, serialize again: same bytes, same JSON rendering. */
static void round_trip(const DaftPlan *p) {
    uint8_t *a = NULL, *b = NULL;
    size_t na = daft_plan_serialize(p, &a);
    DaftPlan *q = NULL;
    char err[256] = "";
    int rc = daft_plan_deserialize(a, na, &q, err, sizeof err);
    if (rc != 0)
        fail_msg("deserialize %s: %s", p->name, err);
    size_t nb = daft_plan_serialize(q, &b);
    assert_int_equal(na, nb);
    assert_memory_equal(a, b, na);
    char *ra = render(p), *rb = render(q);
    assert_string_equal(ra, rb);
    free(ra);
    free(rb);
    free(a);
    free(b);
    daft_plan_free(q);
}

static void trace_and_round_trip(const char *path, int min_plans) {
    DaftSourceSet ss = {0};
    DaftDiagEngine diags;
    daft_diag_init(&diags, &ss);
    DaftArena *arena = daft_arena_new();
    DaftSource *src = daft_source_load(&ss, path);
    assert_non_null(src);
    DaftModule mod;
    assert_true(daft_parse(arena, src, &diags, &mod));
    DaftTraceOptions opt = {0};
    DaftTraceResult res;
    assert_true(daft_trace_program(&mod, &diags, &opt, &res));
    assert_true(res.nplans >= min_plans);
    for (int i = 0; i < res.nplans; i++)
        round_trip(res.plans[i]);
    daft_trace_result_free(&res);
    daft_arena_free(arena);
    daft_diag_free(&diags);
    daft_source_set_free(&ss);
}

static void test_examples(void **state) {
    (void)state;
    trace_and_round_trip("examples/chain.daft", 1);
    trace_and_round_trip("examples/pp.daft", 1);
    trace_and_round_trip("examples/tp.daft", 1);
    trace_and_round_trip("examples/dp_train.daft", 1);
    trace_and_round_trip("examples/kv_transfer.daft", 1);
}

static const DaftCommHint AUTO = {DAFT_COMM_AUTO, NULL, false};
static const DaftCommHint CUSTOM = {DAFT_COMM_CUSTOM, "mycomm", true};

/* A graph with constants of every kind, a custom channel, collectives of every kind and a
 * driver input returned as an output. */
static DaftPlan *build_rich(bool cpu_only) {
    DaftGraph *g = daft_graph_new("rich");
    g->inflight = 3;
    int a = daft_graph_add_actor(g, "a", "W", 1, -1, -1);
    int b = daft_graph_add_actor(g, "b", "W", 1, -1, -1);
    int c = daft_graph_add_actor(g, "c", "C", 0, -1, -1);
    int64_t dims[2] = {4, DAFT_DIM_DYNAMIC};
    int x = daft_graph_add_input(g, "x", daft_payload_tensor(DAFT_DT_F32, 2, dims));
    int s = daft_graph_add_input(g, "s", daft_payload_scalar(DAFT_PAY_I64));
    DaftGraphArg args[5] = {daft_arg_value(x), daft_arg_i64(-7), {0}, {0}, {0}};
    args[2].value = -1;
    args[2].konst.kind = DAFT_CONST_F64;
    args[2].konst.f = 0.25;
    args[3].value = -1;
    args[3].konst.kind = DAFT_CONST_BOOL;
    args[3].konst.i = 1;
    args[4].value = -1;
    args[4].konst.kind = DAFT_CONST_STR;
    args[4].konst.s = "h\xc3\xa9llo";
    DaftPayload t = daft_payload_tensor(DAFT_DT_F32, -1, NULL);
    int ta = daft_graph_add_task(g, a, "f", args, 5, t, AUTO);
    int tb = daft_graph_add_task(g, b, "f", args, 5, t, CUSTOM);
    int members[2] = {a, b}, vals[2] = {ta, tb}, res[2];
    daft_graph_add_collective(g, DAFT_COLL_ALLREDUCE, DAFT_REDUCE_AVG, 0, members, vals, 2, res);
    int r2[2], r3[2], r4[2];
    daft_graph_add_collective(g, DAFT_COLL_ALLGATHER, DAFT_REDUCE_SUM, 0, members, res, 2, r2);
    daft_graph_add_collective(g, DAFT_COLL_REDUCESCATTER, DAFT_REDUCE_MAX, 0, members, r2, 2, r3);
    daft_graph_add_collective(g, DAFT_COLL_BROADCAST, DAFT_REDUCE_SUM, 1, members, r3, 2, r4);
    DaftGraphArg ca[2] = {daft_arg_value(r4[0]), daft_arg_value(s)};
    int tc = daft_graph_add_task(g, c, "g", ca, 2, daft_payload_scalar(DAFT_PAY_F64), AUTO);
    DaftGraphArg cb = daft_arg_value(r4[1]);
    int td = daft_graph_add_task(g, c, "h", &cb, 1, daft_payload_scalar(DAFT_PAY_NONE), AUTO);
    daft_graph_add_output(g, "result[0]", tc);
    daft_graph_add_output(g, "result[1]", td);
    daft_graph_add_output(g, "result[2]", s);
    daft_graph_add_output(g, "result[3]", tc);
    assert_string_equal(g->error, "");
    DaftPlanOptions opt = {.verify = true, .cpu_only = cpu_only};
    DaftPlan *p = NULL;
    char err[256];
    if (daft_plan_build(g, &opt, &p, err, sizeof err) != 0)
        fail_msg("plan: %s", err);
    daft_graph_free(g);
    return p;
}

static void test_hand_built(void **state) {
    (void)state;
    for (int cpu = 0; cpu < 2; cpu++) {
        DaftPlan *p = build_rich(cpu);
        round_trip(p);
        daft_plan_free(p);
    }
}

static uint32_t fnv1a(const uint8_t *p, size_t n) {
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 16777619u;
    }
    return h;
}

/* Rewrites the header's length and checksum so that the body's validation is reached. */
static void fix_header(uint8_t *d, size_t len) {
    if (len < 20)
        return;
    uint32_t body = (uint32_t)(len - 20), sum = fnv1a(d + 20, len - 20);
    for (int i = 0; i < 4; i++) {
        d[12 + i] = (uint8_t)(body >> (8 * i));
        d[16 + i] = (uint8_t)(sum >> (8 * i));
    }
}

static int try_load(const uint8_t *d, size_t len) {
    DaftPlan *q = NULL;
    char err[256] = "";
    int rc = daft_plan_deserialize(d, len, &q, err, sizeof err);
    if (rc == 0) {
        assert_non_null(q);
        /* Whatever was accepted is a valid plan. */
        assert_int_equal(daft_plan_verify(q, err, sizeof err), 0);
        daft_plan_free(q);
    } else {
        assert_null(q);
        assert_true(err[0] != 0);
    }
    return rc;
}

static void test_corrupt(void **state) {
    (void)state;
    DaftPlan *p = build_rich(false);
    uint8_t *d = NULL;
    size_t n = daft_plan_serialize(p, &d);
    daft_plan_free(p);
    uint8_t *m = malloc(n + 16);
    /* Every truncation, raw and with a repaired header. */
    for (size_t k = 0; k < n; k++) {
        memcpy(m, d, k);
        assert_int_equal(try_load(m, k), -1);
        fix_header(m, k);
        assert_int_equal(try_load(m, k), -1);
    }
    /* Every byte changed: the checksum catches it; with a repaired header, validation must
     * either reject it or accept a plan that verifies. */
    for (size_t k = 0; k < n; k++) {
        static const uint8_t deltas[] = {0x01, 0x80, 0xff, 0x7f};
        for (size_t j = 0; j < sizeof deltas; j++) {
            memcpy(m, d, n);
            m[k] ^= deltas[j];
            if (k >= 20)
                assert_int_equal(try_load(m, n), -1);
            fix_header(m, n);
            try_load(m, n);
        }
    }
    /* Random multi-byte mutations and trailing garbage. */
    srand(12345);
    for (int it = 0; it < 20000; it++) {
        memcpy(m, d, n);
        int nm = 1 + rand() % 6;
        for (int j = 0; j < nm; j++)
            m[20 + (size_t)rand() % (n - 20)] = (uint8_t)rand();
        size_t len = n + (size_t)(rand() % 3 == 0 ? rand() % 16 : 0);
        fix_header(m, len);
        try_load(m, len);
    }
    /* Wrong magic, version, NULL. */
    memcpy(m, d, n);
    m[0] = 'X';
    assert_int_equal(try_load(m, n), -1);
    memcpy(m, d, n);
    m[8] = 9;
    assert_int_equal(try_load(m, n), -1);
    DaftPlan *q = (DaftPlan *)1;
    char err[64];
    assert_int_equal(daft_plan_deserialize(NULL, 0, &q, err, sizeof err), -1);
    assert_null(q);
    free(m);
    free(d);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_examples),
        cmocka_unit_test(test_hand_built),
        cmocka_unit_test(test_corrupt),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
