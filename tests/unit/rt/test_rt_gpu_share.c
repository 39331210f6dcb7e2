/* test_rt_gpu_share.c — copies of GPU tensor values share the device buffer (rt_gpu_load.c):
 * over a fake GPU whose memory is host memory, a copy allocates and copies nothing, and a
 * buffer goes back exactly once, when the last value holding it is freed, in any order,
 * for thousands of buffers at once (the table grows and removes entries). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "rt_gpu.h"
#include "rt_internal.h"

static struct {
    int allocs, frees, copies;
    void *freed[8192];
} fake;

static int fake_alloc(DaftTensor *t, char *err, size_t cap)
{
    (void)err, (void)cap;
    t->data = malloc(daft_tensor_nbytes(t) ? daft_tensor_nbytes(t) : 1);
    t->device = 1;
    fake.allocs++;
    return t->data ? 0 : -1;
}

static void fake_free(DaftTensor *t)
{
    for (int i = 0; i < fake.frees; i++)
        assert_ptr_not_equal(fake.freed[i], t->data); /* never twice */
    if (fake.frees < 8192)
        fake.freed[fake.frees] = t->data;
    fake.frees++;
    /* (not released: a later malloc must not reuse the address while the test checks it) */
}

static int fake_copy(DaftTensor *dst, const DaftTensor *src, char *err, size_t cap)
{
    (void)err, (void)cap;
    memcpy(dst->data, src->data, daft_tensor_nbytes(src));
    fake.copies++;
    return 0;
}

static int fake_to_host(const DaftTensor *t, void *dst, char *err, size_t cap)
{
    (void)err, (void)cap;
    memcpy(dst, t->data, daft_tensor_nbytes(t));
    return 0;
}

static bool graphs_on;
static bool fake_may_share(void) { return !graphs_on; }

static const RtGpuOps fake_ops = {
    .abi = RT_GPU_ABI, .alloc = fake_alloc, .free = fake_free, .copy = fake_copy, .to_host = fake_to_host,
    .may_share = fake_may_share,
};

static DaftValue gpu_vec(float x)
{
    DaftValue v = daft_value_none();
    v.kind = DAFT_V_TENSOR;
    v.as.tensor.dtype = DAFT_RT_F32;
    v.as.tensor.rank = 1;
    v.as.tensor.dims[0] = 4;
    assert_int_equal(fake_alloc(&v.as.tensor, NULL, 0), 0);
    for (int i = 0; i < 4; i++)
        ((float *)v.as.tensor.data)[i] = x + (float)i;
    return v;
}

static bool was_freed(const void *p)
{
    for (int i = 0; i < fake.frees && i < 8192; i++)
        if (fake.freed[i] == p)
            return true;
    return false;
}

static int setup(void **st)
{
    (void)st;
    memset(&fake, 0, sizeof fake);
    graphs_on = false;
    rt_gpu_set_active_for_test(&fake_ops);
    return 0;
}

static int teardown(void **st)
{
    (void)st;
    rt_gpu_set_active_for_test(NULL);
    for (int i = 0; i < fake.frees && i < 8192; i++)
        free(fake.freed[i]);
    return 0;
}

static void test_copy_shares_and_last_free_releases(void **st)
{
    (void)st;
    DaftValue a = gpu_vec(1), b, c;
    void *buf = a.as.tensor.data;
    assert_int_equal(daft_value_copy(&b, &a), 0);
    assert_int_equal(daft_value_copy(&c, &b), 0);
    assert_int_equal(fake.allocs, 1);
    assert_int_equal(fake.copies, 0);
    assert_ptr_equal(b.as.tensor.data, buf);
    assert_true(daft_value_equal(&a, &c));
    daft_value_free(&a); /* the first owner goes first: the others still read it */
    assert_int_equal(fake.frees, 0);
    assert_float_equal(((float *)c.as.tensor.data)[3], 4.0f, 0);
    daft_value_free(&c);
    assert_int_equal(fake.frees, 0);
    daft_value_free(&b);
    assert_int_equal(fake.frees, 1);
    assert_ptr_equal(fake.freed[0], buf);
}

static void test_to_host_keeps_the_other_owner(void **st)
{
    (void)st;
    DaftValue a = gpu_vec(10), b;
    assert_int_equal(daft_value_copy(&b, &a), 0);
    assert_int_equal(daft_value_to_host(&a), 0);
    assert_int_equal(a.as.tensor.device, DAFT_DEVICE_HOST);
    assert_float_equal(((float *)a.as.tensor.data)[2], 12.0f, 0);
    assert_int_equal(fake.frees, 0); /* b still holds the device buffer */
    assert_float_equal(((float *)b.as.tensor.data)[2], 12.0f, 0);
    daft_value_free(&b);
    assert_int_equal(fake.frees, 1);
    daft_value_free(&a);
}

/* Thousands of buffers with 1-3 extra owners each, freed in a scrambled order. */
static void test_many_buffers_any_order(void **st)
{
    (void)st;
    enum { N = 3000 };
    static DaftValue vals[4 * N];
    static void *bufs[N];
    static int owners[N];
    int nv = 0;
    for (int i = 0; i < N; i++) {
        DaftValue v = gpu_vec((float)i);
        bufs[i] = v.as.tensor.data;
        owners[i] = 1 + i % 4;
        vals[nv++] = v;
        for (int k = 1; k < owners[i]; k++, nv++)
            assert_int_equal(daft_value_copy(&vals[nv], &vals[nv - 1]), 0);
    }
    assert_int_equal(fake.allocs, N);
    assert_int_equal(fake.copies, 0);
    unsigned seed = 12345;
    for (int i = nv - 1; i > 0; i--) { /* Fisher-Yates with a fixed LCG */
        seed = seed * 1103515245u + 12345u;
        int j = (int)((seed >> 8) % (unsigned)(i + 1));
        DaftValue t = vals[i];
        vals[i] = vals[j];
        vals[j] = t;
    }
    static int left[N];
    memcpy(left, owners, sizeof left);
    for (int i = 0; i < nv; i++) {
        void *p = vals[i].as.tensor.data;
        int b = 0;
        while (bufs[b] != p)
            b++;
        assert_false(was_freed(p));
        daft_value_free(&vals[i]);
        left[b]--;
        assert_int_equal(was_freed(p), left[b] == 0);
    }
    assert_int_equal(fake.frees, N);
}

/* While CUDA graphs record method bodies a copy is a copy (they must see it). */
static void test_no_sharing_while_graphs_record(void **st)
{
    (void)st;
    graphs_on = true;
    DaftValue a = gpu_vec(5), b;
    assert_int_equal(daft_value_copy(&b, &a), 0);
    assert_int_equal(fake.allocs, 2);
    assert_int_equal(fake.copies, 1);
    assert_ptr_not_equal(a.as.tensor.data, b.as.tensor.data);
    assert_true(daft_value_equal(&a, &b));
    daft_value_free(&a);
    assert_int_equal(fake.frees, 1);
    daft_value_free(&b);
    assert_int_equal(fake.frees, 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_copy_shares_and_last_free_releases, setup, teardown),
        cmocka_unit_test_setup_teardown(test_to_host_keeps_the_other_owner, setup, teardown),
        cmocka_unit_test_setup_teardown(test_many_buffers_any_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_sharing_while_graphs_record, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
