/* The verifier rejects hand-corrupted plans, each with a message naming the violation. */
#include <daft/plan.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static const DaftCommHint AUTO = {DAFT_COMM_AUTO, NULL, false};

/* a (GPU) -> b (GPU) over NCCL, then both allreduce twice; c (CPU) round trip a -> c -> a. */
static DaftGraph *fixture(void) {
    DaftGraph *g = daft_graph_new("fixture");
    int a = daft_graph_add_actor(g, "a", "W", 1, -1, -1);
    int b = daft_graph_add_actor(g, "b", "W", 1, -1, -1);
    int c = daft_graph_add_actor(g, "c", "C", 0, -1, -1);
    DaftPayload t = daft_payload_tensor(DAFT_DT_F32, -1, NULL);
    int x = daft_graph_add_input(g, "x", t);
    DaftGraphArg arg = daft_arg_value(x);
    int ya = daft_graph_add_task(g, a, "f", &arg, 1, t, AUTO);
    arg = daft_arg_value(ya);
    int yb = daft_graph_add_task(g, b, "f", &arg, 1, t, AUTO);
    int members[2] = {a, b}, vals[2] = {ya, yb}, res[2];
    daft_graph_add_collective(g, DAFT_COLL_ALLREDUCE, DAFT_REDUCE_SUM, 0, members, vals, 2, res);
    daft_graph_add_collective(g, DAFT_COLL_ALLGATHER, DAFT_REDUCE_SUM, 0, members, res, 2, vals);
    arg = daft_arg_value(vals[0]);
    int z = daft_graph_add_task(g, c, "g", &arg, 1, daft_payload_scalar(DAFT_PAY_I64), AUTO);
    arg = daft_arg_value(z);
    int w = daft_graph_add_task(g, a, "h", &arg, 1, daft_payload_scalar(DAFT_PAY_I64), AUTO);
    daft_graph_add_output(g, "w", w);
    daft_graph_add_output(g, "b", vals[1]);
    return g;
}

static DaftPlan *build(DaftGraph *g) {
    DaftPlan *p;
    char err[512];
    if (daft_plan_build(g, NULL, &p, err, sizeof err))
        fail_msg("%s", err);
    if (daft_plan_verify(p, err, sizeof err))
        fail_msg("fixture does not verify: %s", err);
    return p;
}

static int find_op(const DaftPlanActor *a, DaftPlanOpKind kind, int nth) {
    for (int i = 0; i < a->nops; i++)
        if (a->ops[i].kind == kind && nth-- == 0)
            return i;
    fail_msg("actor %s has no %s #%d", a->name, daft_plan_op_name(kind), nth);
    return -1;
}

static void expect_reject(DaftPlan *p, const char *what) {
    char err[512];
    assert_int_equal(daft_plan_verify(p, err, sizeof err), -1);
    if (!strstr(err, what))
        fail_msg("expected '%s' in: %s", what, err);
}

#define CASE(name, what, ...)                                    \
    static void test_##name(void **state) {                       \
        (void)state;                                              \
        DaftGraph *g = fixture();                                 \
        DaftPlan *p = build(g);                                   \
        DaftPlanActor *A = &p->actors[0], *B = &p->actors[1];     \
        (void)A, (void)B;                                         \
        __VA_ARGS__;                                              \
        expect_reject(p, what);                                   \
        daft_plan_free(p);                                        \
        daft_graph_free(g);                                       \
    }

CASE(wrong_writer, "whose writer is 'b'", {
    DaftPlanActor *C = &p->actors[2];            /* c's buffered write to a */
    int i = find_op(C, DAFT_OP_WRITE, 0);
    p->channels[C->ops[i].channel].writer = 1;
})
/* the program with its first op of `kind` doubled, in a copy of the op array */
static DaftPlanOp *with_dup(DaftPlanActor *A, DaftPlanOpKind kind) {
    DaftPlanOp *saved = A->ops;
    DaftPlanOp *ops = calloc((size_t)A->nops + 1, sizeof(DaftPlanOp));
    int w = find_op(A, kind, 0);
    memcpy(ops, saved, sizeof(DaftPlanOp) * (size_t)(w + 1));
    ops[w + 1] = saved[w];
    memcpy(ops + w + 2, saved + w + 1, sizeof(DaftPlanOp) * (size_t)(A->nops - w - 1));
    A->ops = ops;
    A->nops++;
    return saved;
}

static void dup_case(int actor, DaftPlanOpKind kind, const char *what) {
    DaftGraph *g = fixture();
    DaftPlan *p = build(g);
    DaftPlanActor *C = &p->actors[actor];
    DaftPlanOp *saved = with_dup(C, kind);
    char err[512];
    int rc = daft_plan_verify(p, err, sizeof err);
    free(C->ops);
    C->ops = saved;
    C->nops--;
    daft_plan_free(p);
    daft_graph_free(g);
    assert_int_equal(rc, -1);
    if (!strstr(err, what))
        fail_msg("expected '%s' in: %s", what, err);
}

/* c's write to a is buffered: writing it twice */
static void test_two_writes(void **state) {
    (void)state;
    dup_case(2, DAFT_OP_WRITE, "written 2 times");
}

static void test_double_free(void **state) {
    (void)state;
    dup_case(0, DAFT_OP_FREE, "freed twice");
}

CASE(read_missing, "read 0 times", {
    DaftPlanActor *C = &p->actors[2];
    int i = find_op(C, DAFT_OP_READ, 0);       /* becomes a call that fills the same slot */
    C->ops[i].kind = DAFT_OP_CALL;
    C->ops[i].method = "fake";
    C->ops[i].nargs = 0;
    C->ops[i].channel = -1;
})
CASE(slot_before_write, "read before it is written", {
    int i = find_op(A, DAFT_OP_CALL, 0);
    A->ops[i].args[0].slot = A->ops[i].dst;
})
CASE(never_freed, "never freed", {
    A->nops--;           /* drop the last FREE */
})
CASE(nccl_out_of_order, "out of global order", {
    int i = find_op(A, DAFT_OP_COLLECTIVE, 0), j = find_op(A, DAFT_OP_COLLECTIVE, 1);
    int64_t t = A->ops[i].seq;
    A->ops[i].seq = A->ops[j].seq;
    A->ops[j].seq = t;
})
CASE(seq_mismatch, "sequence", {
    int i = find_op(B, DAFT_OP_READ, 0);
    B->ops[i].seq = 99;
})
CASE(collective_mismatch, "are not the same collective", {
    int i = find_op(B, DAFT_OP_COLLECTIVE, 1);
    B->ops[i].coll = DAFT_COLL_BROADCAST;
})
CASE(collective_missing, "different numbers of collectives", {
    int i = find_op(B, DAFT_OP_COLLECTIVE, 1);
    B->ops[i].kind = DAFT_OP_CALL;
    B->ops[i].method = "notacollective";
    B->ops[i].nargs = 0;
    B->ops[i].seq = -1;
    B->ops[i].src = -1;   /* its source is still freed later, so slots stay consistent */
})
CASE(nccl_to_cpu, "has no GPU", {
    p->actors[1].place.gpu = -1;
})
CASE(member_twice, "member twice", {
    p->groups[0].members[1] = p->groups[0].members[0];
})
CASE(reader_not_listed, "is not one of its readers", {
    int i = find_op(&p->actors[2], DAFT_OP_READ, 0);
    p->actors[2].ops[i].channel = 0;   /* c reads the driver's channel to a */
})

/* c waits for a's value before a has sent it, while a waits for c: a cycle through
 * buffered channels (no sequence numbers are involved). Built on a CPU-only chain. */
static void test_cycle(void **state) {
    (void)state;
    DaftGraph *g = daft_graph_new("cycle");
    int a = daft_graph_add_actor(g, "a", "C", 0, -1, -1);
    int b = daft_graph_add_actor(g, "b", "C", 0, -1, -1);
    DaftPayload i64 = daft_payload_scalar(DAFT_PAY_I64);
    int t = daft_graph_add_task(g, a, "f", NULL, 0, i64, AUTO);
    DaftGraphArg arg = daft_arg_value(t);
    int u = daft_graph_add_task(g, b, "g", &arg, 1, i64, AUTO);
    arg = daft_arg_value(u);
    int v = daft_graph_add_task(g, a, "h", &arg, 1, i64, AUTO);
    daft_graph_add_output(g, "v", v);
    DaftPlan *p = build(g);
    /* a: call f; write; free; read; call h; free; write; free  ->  rotate by 3 */
    DaftPlanActor *A = &p->actors[0];
    assert_int_equal(A->nops, 8);
    DaftPlanOp tmp[8];
    for (int i = 0; i < 8; i++)
        tmp[i] = A->ops[(i + 3) % 8];
    memcpy(A->ops, tmp, sizeof tmp);
    expect_reject(p, "cycle");
    daft_plan_free(p);
    daft_graph_free(g);
}

static void test_good_plan_passes(void **state) {
    (void)state;
    DaftGraph *g = fixture();
    DaftPlan *p = build(g);
    char err[64] = "x";
    assert_int_equal(daft_plan_verify(p, err, sizeof err), 0);
    assert_string_equal(err, "");
    daft_plan_free(p);
    daft_graph_free(g);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good_plan_passes),
        cmocka_unit_test(test_wrong_writer),
        cmocka_unit_test(test_two_writes),
        cmocka_unit_test(test_read_missing),
        cmocka_unit_test(test_slot_before_write),
        cmocka_unit_test(test_double_free),
        cmocka_unit_test(test_never_freed),
        cmocka_unit_test(test_nccl_out_of_order),
        cmocka_unit_test(test_seq_mismatch),
        cmocka_unit_test(test_collective_mismatch),
        cmocka_unit_test(test_collective_missing),
        cmocka_unit_test(test_nccl_to_cpu),
        cmocka_unit_test(test_member_twice),
        cmocka_unit_test(test_reader_not_listed),
        cmocka_unit_test(test_cycle),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
