/* Values: constructors, deep copy and equality, formatting, encode/decode round trips of
 * every kind, and rejection of truncated or malformed encodings. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "rt_internal.h"

static DaftValue sample_tensor(DaftRtDtype dt)
{
    int64_t dims[2] = {3, 5};
    DaftValue t = daft_value_tensor(dt, 2, dims, NULL);
    uint8_t *p = t.as.tensor.data;
    for (size_t i = 0; i < daft_tensor_nbytes(&t.as.tensor); i++)
        p[i] = (uint8_t)(i * 7);
    return t;
}

/* A list holding one of every kind (nested list included). */
static DaftValue sample_all(void)
{
    DaftValue l = daft_value_list(10);
    DaftRef r = {42, 3};
    l.as.list.items[0] = daft_value_i64(-1234567890123LL);
    l.as.list.items[1] = daft_value_f64(3.25);
    l.as.list.items[2] = daft_value_bool(true);
    l.as.list.items[3] = daft_value_str("hello \"world\"");
    l.as.list.items[4] = sample_tensor(DAFT_RT_F32);
    l.as.list.items[5] = daft_value_actor(7);
    l.as.list.items[6] = daft_value_ref(r);
    l.as.list.items[7] = daft_value_error("actor 'w1' (Worker) method 'step': %s", "boom");
    l.as.list.items[8] = daft_value_list(1);
    l.as.list.items[8].as.list.items[0] = sample_tensor(DAFT_RT_BF16);
    l.as.list.items[9] = daft_value_none();
    return l;
}

static void test_dtypes(void **st)
{
    (void)st;
    /* Same order and names as the front end's DaftDType. */
    const char *names[] = {"f32", "bf16", "f16", "i32", "i64"};
    size_t sizes[] = {4, 2, 2, 4, 8};
    for (int i = 0; i < DAFT_RT_DTYPE_COUNT; i++) {
        assert_string_equal(daft_rt_dtype_name((DaftRtDtype)i), names[i]);
        assert_int_equal(daft_rt_dtype_size((DaftRtDtype)i), sizes[i]);
    }
    assert_null(daft_rt_dtype_name(DAFT_RT_DTYPE_COUNT));
}

static void test_roundtrip_all_kinds(void **st)
{
    (void)st;
    DaftValue v = sample_all();
    size_t n = daft_value_encode(&v, NULL, 0);
    assert_true(n > 0);
    uint8_t *buf = malloc(n);
    assert_int_equal(daft_value_encode(&v, buf, n), n);
    DaftValue w;
    size_t used = 0;
    assert_int_equal(daft_value_decode(buf, n, &w, &used), 0);
    assert_int_equal(used, n);
    assert_true(daft_value_equal(&v, &w));
    /* every strict prefix is rejected, never over-read (ASan checks the latter) */
    for (size_t k = 0; k < n; k++) {
        uint8_t *cut = malloc(k ? k : 1);
        memcpy(cut, buf, k);
        DaftValue x;
        assert_int_equal(daft_value_decode(cut, k, &x, NULL), DAFT_EPROTO);
        assert_int_equal(x.kind, DAFT_V_NONE);
        free(cut);
    }
    free(buf);
    daft_value_free(&v);
    daft_value_free(&w);
}

static void test_malformed(void **st)
{
    (void)st;
    DaftValue x;
    uint8_t bad_kind[] = {200};
    assert_int_equal(daft_value_decode(bad_kind, 1, &x, NULL), DAFT_EPROTO);
    /* a list claiming 2^60 items */
    uint8_t huge_list[9] = {DAFT_V_LIST, 0, 0, 0, 0, 0, 0, 0, 0x10};
    assert_int_equal(daft_value_decode(huge_list, 9, &x, NULL), DAFT_EPROTO);
    /* a tensor of rank 9 */
    uint8_t bad_rank[] = {DAFT_V_TENSOR, 0, 9};
    assert_int_equal(daft_value_decode(bad_rank, 3, &x, NULL), DAFT_EPROTO);
    /* deeply nested lists */
    uint8_t deep[9 * 100];
    for (int i = 0; i < 100; i++) {
        deep[9 * i] = DAFT_V_LIST;
        uint64_t one = 1;
        memcpy(&deep[9 * i + 1], &one, 8);
    }
    assert_int_equal(daft_value_decode(deep, sizeof deep, &x, NULL), DAFT_EPROTO);
}

static void test_copy_equal_format(void **st)
{
    (void)st;
    DaftValue v = sample_all(), c;
    assert_int_equal(daft_value_copy(&c, &v), 0);
    assert_true(daft_value_equal(&v, &c));
    ((uint8_t *)c.as.list.items[4].as.tensor.data)[0] ^= 1;
    assert_false(daft_value_equal(&v, &c));
    char buf[128];
    daft_value_format(&v.as.list.items[4], buf, sizeof buf);
    assert_string_equal(buf, "tensor<f32>[3, 5]");
    daft_value_format(&v.as.list.items[0], buf, sizeof buf);
    assert_string_equal(buf, "-1234567890123");
    daft_value_format(&v.as.list.items[7], buf, sizeof buf);
    assert_string_equal(buf, "error: actor 'w1' (Worker) method 'step': boom");
    daft_value_free(&v);
    daft_value_free(&c);
    assert_int_equal(v.kind, DAFT_V_NONE);
}

/* SPEC 5.5's messages: the type as daft writes it, truncated like snprintf. */
static void test_tensor_type_format(void **st)
{
    (void)st;
    DaftTensor t = {0};
    t.dtype = DAFT_RT_BF16;
    t.rank = 3;
    t.dims[0] = 4;
    t.dims[1] = 1;
    t.dims[2] = 123456789012LL;
    char buf[64];
    assert_int_equal(daft_tensor_type_format(&t, buf, sizeof buf), 34);
    assert_string_equal(buf, "tensor<bf16, [4, 1, 123456789012]>");
    char small[10];
    assert_int_equal(daft_tensor_type_format(&t, small, sizeof small), 34);
    assert_string_equal(small, "tensor<bf");
    assert_int_equal(daft_tensor_type_format(&t, NULL, 0), 34);
    t.rank = 0;
    daft_tensor_type_format(&t, buf, sizeof buf);
    assert_string_equal(buf, "tensor<bf16, []>");
    t.rank = 2;
    assert_int_equal(daft_tensor_shape_format(&t, buf, sizeof buf), 6);
    assert_string_equal(buf, "[4, 1]");
}

static void test_bad_tensor(void **st)
{
    (void)st;
    int64_t dims[1] = {-2};
    DaftValue t = daft_value_tensor(DAFT_RT_F32, 1, dims, NULL);
    assert_int_equal(t.kind, DAFT_V_ERROR);
    daft_value_free(&t);
    int64_t zero[2] = {0, 4};
    t = daft_value_tensor(DAFT_RT_I64, 2, zero, NULL);
    assert_int_equal(t.kind, DAFT_V_TENSOR);
    assert_int_equal(daft_tensor_nbytes(&t.as.tensor), 0);
    DaftValue c;
    assert_int_equal(daft_value_copy(&c, &t), 0);
    assert_true(daft_value_equal(&t, &c));
    daft_value_free(&t);
    daft_value_free(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dtypes),
        cmocka_unit_test(test_roundtrip_all_kinds),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_copy_equal_format),
        cmocka_unit_test(test_tensor_type_format),
        cmocka_unit_test(test_bad_tensor),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
