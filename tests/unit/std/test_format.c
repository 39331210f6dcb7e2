/* test_format.c — daft_std_format_value prints values the way daft's print shows them. */
#include <math.h>

#include "std_test.h"

static void expect_fmt(const DaftValue *v, const char *want)
{
    char buf[512];
    int n = daft_std_format_value(v, buf, sizeof buf);
    assert_string_equal(buf, want);
    assert_int_equal(n, (int)strlen(want));
}

static void test_scalars(void **state)
{
    (void)state;
    DaftValue v = daft_value_i64(-42);
    expect_fmt(&v, "-42");
    v = daft_value_i64(INT64_MIN);
    expect_fmt(&v, "-9223372036854775808");
    v = daft_value_f64(0.5);
    expect_fmt(&v, "0.5");
    v = daft_value_f64(1.0);
    expect_fmt(&v, "1");
    v = daft_value_f64(1e-7);
    expect_fmt(&v, "1e-07");
    v = daft_value_f64(123456789.0);
    expect_fmt(&v, "1.23457e+08");
    v = daft_value_f64(-INFINITY);
    expect_fmt(&v, "-inf");
    /* every NaN is "nan", whatever its sign bit (SPEC 10.7) */
    v = daft_value_f64(-NAN);
    assert_true(signbit(v.as.f64));
    expect_fmt(&v, "nan");
    v = daft_value_f64(NAN);
    expect_fmt(&v, "nan");
    char b[8];
    assert_int_equal(daft_std_format_float(-NAN, b, sizeof b), 3);
    assert_string_equal(b, "nan");
    assert_int_equal(daft_std_format_float(-0.0, b, sizeof b), 2);
    assert_string_equal(b, "-0");
    v = daft_value_bool(true);
    expect_fmt(&v, "true");
    v = daft_value_bool(false);
    expect_fmt(&v, "false");
    v = daft_value_none();
    expect_fmt(&v, "none");
    expect_fmt(NULL, "none");
    v = daft_value_actor(3);
    expect_fmt(&v, "<actor 3>");
    v = daft_value_ref((DaftRef){ .id = 17, .owner = 3 });
    expect_fmt(&v, "<ref 17 of actor 3>");
    DaftValue s = daft_value_str("hi \"you\"");
    expect_fmt(&s, "hi \"you\""); /* top level: the bytes */
    DaftValue e = daft_value_error("matmul: inner dimensions differ");
    expect_fmt(&e, "error: matmul: inner dimensions differ");
    daft_value_free(&s);
    daft_value_free(&e);
}

static void test_lists(void **state)
{
    (void)state;
    DaftValue l = daft_value_list(4);
    l.as.list.items[0] = daft_value_i64(1);
    l.as.list.items[1] = daft_value_f64(2.5);
    l.as.list.items[2] = daft_value_str("a\"b\n");
    DaftValue inner = daft_value_list(2);
    inner.as.list.items[0] = daft_value_bool(true);
    inner.as.list.items[1] = daft_value_list(0);
    l.as.list.items[3] = inner;
    expect_fmt(&l, "[1, 2.5, \"a\\\"b\\n\", [true, []]]");
    daft_value_free(&l);

    /* deep nesting is cut off, not a stack overflow */
    DaftValue deep = daft_value_list(0);
    for (int i = 0; i < 200; i++) {
        DaftValue outer = daft_value_list(1);
        outer.as.list.items[0] = deep;
        deep = outer;
    }
    char buf[1024];
    int n = daft_std_format_value(&deep, buf, sizeof buf);
    assert_true(n > 0 && (size_t)n < sizeof buf);
    assert_non_null(strstr(buf, "[...]"));
    daft_value_free(&deep);
}

static void test_tensors(void **state)
{
    (void)state;
    DaftValue a = t_f32(2, (int64_t[]){ 2, 3 }, (float[]){ 0.1f, -1.2f, 0.3f, 1, 2, 3 });
    expect_fmt(&a, "tensor<f32, [2, 3]> [0.1, -1.2, 0.3, 1, 2, 3]");
    DaftValue b = t_f32(2, (int64_t[]){ 2, 4 }, (float[]){ 0.1f, -1.2f, 0.3f, 1, 2, 3, 4, 5 });
    expect_fmt(&b, "tensor<f32, [2, 4]> [0.1, -1.2, 0.3, 1, 2, 3, ...]");
    DaftValue c = t_i64t(1, (int64_t[]){ 3 }, (int64_t[]){ 7, -8, INT64_MAX });
    expect_fmt(&c, "tensor<i64, [3]> [7, -8, 9223372036854775807]");
    DaftValue d = t_tensor(DAFT_RT_I32, 1, (int64_t[]){ 2 }, (int32_t[]){ -1, 5 });
    expect_fmt(&d, "tensor<i32, [2]> [-1, 5]");
    DaftValue e = t_tensor(DAFT_RT_BF16, 1, (int64_t[]){ 2 }, (uint16_t[]){ 0x3F80, 0xC040 });
    expect_fmt(&e, "tensor<bf16, [2]> [1, -3]");
    DaftValue f = t_tensor(DAFT_RT_F16, 1, (int64_t[]){ 2 }, (uint16_t[]){ 0x3C00, 0x3800 });
    expect_fmt(&f, "tensor<f16, [2]> [1, 0.5]");
    /* NaNs of each float dtype, negative ones included, are "nan" (SPEC 10.7) */
    DaftValue fn = t_f32(1, (int64_t[]){ 3 }, (float[]){ -NAN, NAN, -INFINITY });
    expect_fmt(&fn, "tensor<f32, [3]> [nan, nan, -inf]");
    DaftValue bn = t_tensor(DAFT_RT_BF16, 1, (int64_t[]){ 2 }, (uint16_t[]){ 0xFFC0, 0x7FC0 });
    expect_fmt(&bn, "tensor<bf16, [2]> [nan, nan]");
    DaftValue hn = t_tensor(DAFT_RT_F16, 1, (int64_t[]){ 2 }, (uint16_t[]){ 0xFE00, 0x7E00 });
    expect_fmt(&hn, "tensor<f16, [2]> [nan, nan]");
    DaftValue g = t_f32(2, (int64_t[]){ 0, 4 }, NULL);
    expect_fmt(&g, "tensor<f32, [0, 4]> []");
    DaftValue h = t_f32(0, NULL, (float[]){ 2.5f });
    expect_fmt(&h, "tensor<f32, []> [2.5]");
    /* a tensor inside a list */
    DaftValue l = daft_value_list(1);
    l.as.list.items[0] = t_i64t(1, (int64_t[]){ 1 }, (int64_t[]){ 4 });
    expect_fmt(&l, "[tensor<i64, [1]> [4]]");
    /* malformed: described, not dereferenced */
    DaftValue bad;
    memset(&bad, 0, sizeof bad);
    bad.kind = DAFT_V_TENSOR;
    bad.as.tensor.rank = 1;
    bad.as.tensor.dims[0] = 5;
    expect_fmt(&bad, "<invalid tensor: tensor: tensor has no data>");
    DaftValue all[] = { a, b, c, d, e, f, fn, bn, hn, g, h, l };
    t_free_all(all, NELEMS(all));
}

/* snprintf semantics: truncated with a NUL, full length returned, cap 0 writes nothing. */
static void test_truncation(void **state)
{
    (void)state;
    DaftValue a = t_f32(2, (int64_t[]){ 2, 3 }, (float[]){ 0.1f, -1.2f, 0.3f, 1, 2, 3 });
    const char *full = "tensor<f32, [2, 3]> [0.1, -1.2, 0.3, 1, 2, 3]";
    char buf[8];
    memset(buf, 'x', sizeof buf);
    int n = daft_std_format_value(&a, buf, 5);
    assert_int_equal(n, (int)strlen(full));
    assert_string_equal(buf, "tens");
    assert_int_equal(buf[5], 'x');
    assert_int_equal(daft_std_format_value(&a, NULL, 0), (int)strlen(full));
    n = daft_std_format_value(&a, buf, 1);
    assert_int_equal(buf[0], '\0');
    /* sizing then formatting gives the whole text */
    char *big = malloc((size_t)n + 1);
    assert_int_equal(daft_std_format_value(&a, big, (size_t)n + 1), n);
    assert_string_equal(big, full);
    free(big);
    daft_value_free(&a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scalars),
        cmocka_unit_test(test_lists),
        cmocka_unit_test(test_tensors),
        cmocka_unit_test(test_truncation),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
