/* test_errors.c — bad input yields error values with useful messages, never a crash. */
#include "std_test.h"

static void test_messages(void **state)
{
    (void)state;
    DaftValue mm[] = { t_f32(2, (int64_t[]){ 32, 1024 }, NULL),
                       t_f32(2, (int64_t[]){ 512, 1024 }, NULL) };
    t_err(daft_std_tensor_matmul, mm, 2, "matmul: inner dimensions differ: [32, 1024] x [512, 1024]");
    t_err(daft_std_tensor_linear_forward, mm, 2, "linear_forward: inner dimensions differ");
    DaftValue v1[] = { t_f32(1, (int64_t[]){ 3 }, NULL), t_f32(2, (int64_t[]){ 3, 2 }, NULL) };
    t_err(daft_std_tensor_matmul, v1, 2, "matmul: expects 2-D tensors, got [3] x [3, 2]");
    DaftValue dt[] = { t_f32(2, (int64_t[]){ 2, 2 }, NULL), t_i64t(2, (int64_t[]){ 2, 2 }, NULL) };
    t_err(daft_std_tensor_matmul, dt, 2, "matmul: dtypes differ: tensor<f32> x tensor<i64>");
    t_err(daft_std_tensor_add, dt, 2, "add: dtypes differ");
    DaftValue bf[] = { t_tensor(DAFT_RT_BF16, 2, (int64_t[]){ 2, 2 }, NULL),
                       t_tensor(DAFT_RT_F16, 2, (int64_t[]){ 2, 2 }, NULL) };
    t_err(daft_std_tensor_matmul, bf, 2, "matmul: dtypes differ: tensor<bf16> x tensor<f16>");
    t_err(daft_std_tensor_add, bf, 2, "add: dtypes differ");
    t_err(daft_std_tensor_sgd_update, (DaftValue[]){ bf[0], bf[1], daft_value_f64(1) }, 3,
          "sgd_update: dtypes differ");

    DaftValue sh[] = { t_f32(2, (int64_t[]){ 2, 3 }, NULL), t_f32(2, (int64_t[]){ 3, 2 }, NULL) };
    t_err(daft_std_tensor_add, sh, 2, "add: shapes differ: [2, 3] and [3, 2]");
    t_err(daft_std_tensor_mul, sh, 2, "mul: shapes differ: [2, 3] and [3, 2]");
    t_err(daft_std_tensor_mse_loss, sh, 2, "mse_loss: shapes differ");
    t_err(daft_std_tensor_mse, sh, 2, "mse: shapes differ");
    t_err(daft_std_tensor_mse_grad, sh, 2, "mse_grad: shapes differ");

    /* nargs */
    t_err(daft_std_tensor_relu, sh, 2, "relu: expects 1 argument, got 2");
    t_err(daft_std_tensor_randn, sh, 1, "randn: expects 2 to 3 arguments, got 1");
    t_err(daft_std_tensor_matmul, NULL, 0, "matmul: expects 2 arguments, got 0");
    t_err(daft_std_tensor_matmul, sh, -1, "matmul: expects 2 arguments, got -1");
    t_err(daft_std_tensor_matmul, NULL, 2, "matmul: argument array is NULL");

    /* kinds */
    DaftValue k1[] = { daft_value_i64(3), sh[0] };
    t_err(daft_std_tensor_matmul, k1, 2, "matmul: argument 1 must be a tensor, got i64");
    DaftValue k2[] = { daft_value_str("x"), daft_value_f64(1) };
    t_err(daft_std_tensor_add, k2, 2, "add: expects at least one tensor operand, got str and f64");
    DaftValue k3[] = { sh[0], daft_value_bool(true) };
    t_err(daft_std_tensor_add, k3, 2, "add: argument 2 must be a tensor or a number, got bool");
    DaftValue k4[] = { dt[1], daft_value_f64(0.5) };
    t_err(daft_std_tensor_mul, k4, 2, "mul: cannot combine tensor<i64> with an f64 scalar");
    DaftValue k5[] = { daft_value_i64(3), daft_value_i64(1) };
    t_err(daft_std_tensor_randn, k5, 2, "randn: argument 1 (shape) must be a list of i64, got i64");
    DaftValue k6[] = { t_shape(1, (int64_t)2), daft_value_f64(1.0) };
    t_err(daft_std_tensor_randn, k6, 2, "randn: argument 2 must be an i64, got f64");
    DaftValue k7[] = { sh[0], sh[0], daft_value_str("fast") };
    t_err(daft_std_tensor_sgd_update, k7, 3, "sgd_update: argument 3 must be an f64, got str");
    DaftValue k8[] = { k6[0], daft_value_str("f64") };
    t_err(daft_std_tensor_zeros, k8, 2, "zeros: unknown dtype \"f64\"");
    DaftValue k9[] = { k6[0], daft_value_i64(17) };
    t_err(daft_std_tensor_ones, k9, 2, "ones: invalid dtype 17");
    DaftValue k10[] = { k6[0], daft_value_i64(1), daft_value_str("i64") };
    t_err(daft_std_tensor_randn, k10, 3, "randn: dtype must be f32, bf16 or f16, got i64");
    DaftValue l = daft_value_list(2);
    l.as.list.items[0] = daft_value_i64(2);
    l.as.list.items[1] = daft_value_f64(2.0);
    DaftValue k11[] = { l };
    t_err(daft_std_tensor_zeros, k11, 1, "zeros: shape item 1 must be an i64, got f64");
    t_err(daft_std_tensor_mse_grad, (DaftValue[]){ dt[1], dt[1] }, 2,
          "mse_grad: tensor<i64> is not supported (f32, bf16, f16 only)");
    /* the text names the dtypes that work, as the GPU's does (no "on the CPU": integer
     * tensors are not supported on the GPU either) */
    t_err(daft_std_tensor_sgd_update, (DaftValue[]){ dt[1], dt[1], daft_value_f64(0.5) }, 3,
          "sgd_update: tensor<i64> is not supported (f32, bf16, f16 only)");

    /* slice and concat */
    DaftValue s1[] = { sh[0], daft_value_i64(2), daft_value_i64(0), daft_value_i64(1) };
    t_err(daft_std_tensor_slice, s1, 4, "slice: dim 2 is out of range for a rank-2 tensor");
    DaftValue s2[] = { sh[0], daft_value_i64(1), daft_value_i64(2), daft_value_i64(4) };
    t_err(daft_std_tensor_slice, s2, 4,
          "slice: range 2..4 is out of bounds for dimension 1 of size 3");
    DaftValue s3[] = { sh[0], daft_value_i64(0), daft_value_i64(2), daft_value_i64(1) };
    t_err(daft_std_tensor_slice, s3, 4, "out of bounds");
    DaftValue s4[] = { sh[0], daft_value_i64(INT64_MIN), daft_value_i64(0), daft_value_i64(1) };
    t_err(daft_std_tensor_slice, s4, 4, "out of range");
    DaftValue c1[] = { daft_value_list(0), daft_value_i64(0) };
    t_err(daft_std_tensor_concat, c1, 2, "concat: the list of tensors is empty");
    DaftValue cl = daft_value_list(2);
    cl.as.list.items[0] = t_f32(2, (int64_t[]){ 2, 3 }, NULL);
    cl.as.list.items[1] = t_f32(2, (int64_t[]){ 3, 3 }, NULL);
    DaftValue c2[] = { cl, daft_value_i64(1) };
    t_err(daft_std_tensor_concat, c2, 2,
          "concat: item 1 tensor<f32, [3, 3]> does not fit item 0 tensor<f32, [2, 3]> along dim 1");
    DaftValue c3[] = { cl, daft_value_i64(5) };
    t_err(daft_std_tensor_concat, c3, 2, "concat: dim 5 is out of range");
    DaftValue cl2 = daft_value_list(2);
    cl2.as.list.items[0] = t_f32(1, (int64_t[]){ 2 }, NULL);
    cl2.as.list.items[1] = daft_value_i64(4);
    DaftValue c4[] = { cl2, daft_value_i64(0) };
    t_err(daft_std_tensor_concat, c4, 2, "concat: item 1 of the list must be a tensor, got i64");

    /* losses, backward shapes */
    DaftValue e[] = { t_f32(1, (int64_t[]){ 0 }, NULL), t_f32(1, (int64_t[]){ 0 }, NULL) };
    t_err(daft_std_tensor_mse_loss, e, 2, "mse_loss: the mean of an empty tensor is undefined");
    t_err(daft_std_tensor_mse, e, 2, "mse: the mean of an empty tensor is undefined");
    DaftValue lb[] = { t_f32(2, (int64_t[]){ 4, 3 }, NULL), t_f32(2, (int64_t[]){ 3, 5 }, NULL),
                       t_f32(2, (int64_t[]){ 4, 6 }, NULL) };
    t_err(daft_std_tensor_linear_backward, lb, 3,
          "linear_backward: shapes do not fit x [b, in], w [in, out], gy [b, out]: "
          "x [4, 3], w [3, 5], gy [4, 6]");
    DaftValue lb2[] = { lb[0], v1[0], lb[2] };
    t_err(daft_std_tensor_linear_backward, lb2, 3, "linear_backward: w must be a 2-D tensor, got shape [3]");
    DaftValue lw[] = { lb[0], t_f32(2, (int64_t[]){ 5, 6 }, NULL) };
    t_err(daft_std_tensor_linear_weight_grad, lw, 2,
          "linear_weight_grad: shapes do not fit x [b, in], gy [b, out]: x [4, 3], gy [5, 6]");
    daft_value_free(&lw[1]);
    DaftValue lw2[] = { v1[0], lb[2] };
    t_err(daft_std_tensor_linear_weight_grad, lw2, 2, "linear_weight_grad: x must be a 2-D tensor, got shape [3]");
    DaftValue li[] = { lb[2], lb[1] }; /* gy [4, 6], w [3, 5] */
    t_err(daft_std_tensor_linear_input_grad, li, 2,
          "linear_input_grad: shapes do not fit gy [b, out], w [in, out]: gy [4, 6], w [3, 5]");
    DaftValue li2[] = { v1[0], lb[1] };
    t_err(daft_std_tensor_linear_input_grad, li2, 2, "linear_input_grad: gy must be a 2-D tensor, got shape [3]");

    DaftValue all[] = { mm[0], mm[1], v1[0], v1[1], dt[0], dt[1], bf[0], bf[1], sh[0], sh[1],
                        k2[0], k6[0], k7[2], k8[1], k10[2], l, c1[0], cl, cl2, e[0], e[1], lb[0], lb[1], lb[2] };
    t_free_all(all, NELEMS(all));
}

/* Malformed tensors and absurd shapes: checked before anything is read or allocated. */
static void test_bad_tensors_and_sizes(void **state)
{
    (void)state;
    float data[4] = { 0 };
    DaftValue t;
    memset(&t, 0, sizeof t);
    t.kind = DAFT_V_TENSOR;
    t.as.tensor.dtype = DAFT_RT_F32;
    t.as.tensor.data = data;
    t.as.tensor.rank = 9;
    t_err(daft_std_tensor_relu, &t, 1, "relu: argument 1: rank 9 is outside 0..8");
    t.as.tensor.rank = -1;
    t_err(daft_std_tensor_sum, &t, 1, "sum: argument 1: rank -1 is outside 0..8");
    t.as.tensor.rank = 1;
    t.as.tensor.dims[0] = -4;
    t_err(daft_std_tensor_sum, &t, 1, "sum: argument 1: negative dimension in shape [-4]");
    t.as.tensor.dims[0] = 4;
    t.as.tensor.dtype = (DaftRtDtype)99;
    t_err(daft_std_tensor_sum, &t, 1, "sum: argument 1: invalid dtype 99");
    t.as.tensor.dtype = (DaftRtDtype)-3;
    t_err(daft_std_tensor_shape, &t, 1, "invalid dtype -3");
    t.as.tensor.dtype = DAFT_RT_F32;
    t.as.tensor.data = NULL;
    t_err(daft_std_tensor_sum, &t, 1, "sum: argument 1: tensor has no data");
    /* dims whose product overflows int64 */
    t.as.tensor.data = data;
    t.as.tensor.rank = 3;
    t.as.tensor.dims[0] = INT64_MAX;
    t.as.tensor.dims[1] = INT64_MAX;
    t.as.tensor.dims[2] = 2;
    t_err(daft_std_tensor_sum, &t, 1, "is too large");
    DaftValue two[] = { t, t };
    t_err(daft_std_tensor_add, two, 2, "add: argument 1: shape [9223372036854775807, "
                                       "9223372036854775807, 2] of f32 is too large");
    t_err(daft_std_tensor_matmul, two, 2, "too large");

    DaftValue a1[] = { t_shape(2, (int64_t)1 << 40, (int64_t)1 << 40), daft_value_i64(0) };
    t_err(daft_std_tensor_randn, a1, 2, "randn: shape [1099511627776, 1099511627776] of f32 is too large");
    DaftValue a2[] = { t_shape(2, (int64_t)1 << 20, (int64_t)1 << 20) }; /* 4 TiB */
    t_err(daft_std_tensor_zeros, a2, 1, "zeros: shape [1048576, 1048576] of f32 is too large");
    DaftValue a3[] = { t_shape(2, (int64_t)0, INT64_MAX) }; /* zero elements: fine */
    DaftValue z = t_ok(daft_std_tensor_zeros, a3, 1);
    t_assert_shape(&z, 2, (int64_t[]){ 0, INT64_MAX });
    DaftValue a3b[] = { t_shape(2, INT64_MAX, (int64_t)0) }; /* a prefix is too large */
    t_err(daft_std_tensor_zeros, a3b, 1, "is too large");
    DaftValue a4[] = { t_shape(2, (int64_t)3, (int64_t)-1) };
    t_err(daft_std_tensor_ones, a4, 1, "ones: negative dimension in shape [3, -1]");
    DaftValue a5[] = { t_shape(9, (int64_t)1, (int64_t)1, (int64_t)1, (int64_t)1, (int64_t)1,
                               (int64_t)1, (int64_t)1, (int64_t)1, (int64_t)1) };
    t_err(daft_std_tensor_ones, a5, 1, "ones: shape has 9 dimensions; at most 8 are supported");

    /* out == NULL: nothing to report into, but no crash either */
    assert_int_not_equal(daft_std_tensor_relu(NULL, &t, 1, NULL), 0);
    DaftValue all[] = { a1[0], a2[0], a3[0], a3b[0], z, a4[0], a5[0] };
    t_free_all(all, NELEMS(all));
}

/* Every registered function with every combination of a pool of odd arguments: it must
 * either succeed with a non-error value or fail with "<name>: ..." — and never crash. */
static void test_fuzz_all_functions(void **state)
{
    (void)state;
    float d6[6] = { 1, -2, 3, -4, 5, -6 };
    DaftValue pool[14];
    int np = 0;
    pool[np++] = daft_value_none();
    pool[np++] = daft_value_i64(1);
    pool[np++] = daft_value_i64(-1);
    pool[np++] = daft_value_i64((int64_t)1 << 40);
    pool[np++] = daft_value_f64(-0.5);
    pool[np++] = daft_value_str("f32");
    pool[np++] = t_f32(2, (int64_t[]){ 2, 3 }, d6);
    pool[np++] = t_f32(2, (int64_t[]){ 3, 2 }, d6);
    pool[np++] = t_i64t(1, (int64_t[]){ 2 }, (int64_t[]){ 7, -8 });
    pool[np++] = t_tensor(DAFT_RT_F16, 1, (int64_t[]){ 2 }, NULL);
    pool[np++] = t_shape(2, (int64_t)2, (int64_t)3);
    pool[np++] = daft_value_list(0);
    DaftValue tl = daft_value_list(2);
    tl.as.list.items[0] = t_f32(2, (int64_t[]){ 2, 3 }, d6);
    tl.as.list.items[1] = t_f32(2, (int64_t[]){ 2, 3 }, d6);
    pool[np++] = tl;
    DaftValue bad; /* a tensor with a NULL data pointer */
    memset(&bad, 0, sizeof bad);
    bad.kind = DAFT_V_TENSOR;
    bad.as.tensor.rank = 1;
    bad.as.tensor.dims[0] = 3;
    pool[np++] = bad;

    setenv("DAFT_DEVICE", "cpu", 1);
    size_t nf;
    const DaftStdFn *fns = daft_std_functions(&nf);
    long calls = 0, oks = 0;
    for (size_t f = 0; f < nf; f++) {
        for (int nargs = 0; nargs <= 4; nargs++) {
            long combos = 1;
            for (int i = 0; i < nargs; i++)
                combos *= nargs == 4 ? 5 : np; /* 4 args: a subset of the pool */
            for (long c = 0; c < combos; c++) {
                DaftValue args[4];
                long r = c;
                for (int i = 0; i < nargs; i++) {
                    int base = nargs == 4 ? 5 : np;
                    int pick = (int)(r % base);
                    r /= base;
                    args[i] = pool[nargs == 4 ? (int[]){ 1, 2, 3, 6, 8 }[pick] : pick];
                }
                DaftValue out;
                memset(&out, 0x5A, sizeof out);
                int rc = fns[f].fn(NULL, args, nargs, &out);
                calls++;
                if (rc == 0) {
                    assert_int_not_equal(out.kind, DAFT_V_ERROR);
                    oks++;
                } else {
                    assert_int_equal(out.kind, DAFT_V_ERROR);
                    size_t ln = strlen(fns[f].name);
                    if (strncmp(out.as.error.msg, fns[f].name, ln) != 0 ||
                        out.as.error.msg[ln] != ':') {
                        print_error("%s: message \"%s\"\n", fns[f].name, out.as.error.msg);
                        fail();
                    }
                }
                char buf[256];
                daft_std_format_value(&out, buf, sizeof buf);
                daft_value_free(&out);
            }
        }
    }
    unsetenv("DAFT_DEVICE");
    assert_true(calls > 50000);
    assert_true(oks > 100);
    pool[np - 1] = daft_value_none(); /* `bad` does not own its (NULL) data */
    t_free_all(pool, np);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_messages),
        cmocka_unit_test(test_bad_tensors_and_sizes),
        cmocka_unit_test(test_fuzz_all_functions),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
