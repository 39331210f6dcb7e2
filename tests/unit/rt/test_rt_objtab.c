/* Object table: add/find/resolve/delete, states (pending, ready, error), growth with
 * stable entry addresses, iteration with deletion, and freeing values on delete. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "rt_internal.h"

static void test_states(void **st)
{
    (void)st;
    RtObjTab t;
    rt_objtab_init(&t);
    assert_null(rt_objtab_find(&t, 1));
    RtObj *o = rt_objtab_add(&t, 1);
    assert_non_null(o);
    assert_int_equal(o->state, RT_OBJ_PENDING);
    assert_ptr_equal(rt_objtab_add(&t, 1), o); /* idempotent */
    DaftValue v = daft_value_str("x");
    rt_objtab_resolve(o, &v);
    assert_int_equal(v.kind, DAFT_V_NONE); /* moved */
    assert_int_equal(o->state, RT_OBJ_READY);
    assert_true(o->has_value);
    RtObj *e = rt_objtab_add(&t, 2);
    DaftValue err = daft_value_error("boom");
    rt_objtab_resolve(e, &err);
    assert_int_equal(e->state, RT_OBJ_ERROR);
    rt_objtab_del(&t, 1);
    assert_null(rt_objtab_find(&t, 1));
    assert_non_null(rt_objtab_find(&t, 2));
    rt_objtab_del(&t, 99); /* absent: no-op */
    rt_objtab_free(&t);
}

static void count_even(RtObj *o, void *arg)
{
    if (o->id % 2 == 0)
        ++*(int *)arg;
}

static void drop_odd(RtObj *o, void *arg)
{
    if (o->id % 2)
        rt_objtab_del(arg, o->id);
}

static void test_growth_and_iteration(void **st)
{
    (void)st;
    RtObjTab t;
    rt_objtab_init(&t);
    RtObj *first = rt_objtab_add(&t, 0);
    for (uint64_t i = 1; i < 10000; i++) {
        RtObj *o = rt_objtab_add(&t, i * 0x100000001ULL % 1000003);
        DaftValue v = daft_value_i64((int64_t)i);
        rt_objtab_resolve(o, &v);
    }
    assert_ptr_equal(rt_objtab_find(&t, 0), first); /* stable across rehashing */
    assert_int_equal(t.count, 10000);
    int even = 0;
    rt_objtab_foreach(&t, count_even, &even);
    rt_objtab_foreach(&t, drop_odd, &t);
    assert_int_equal(t.count, (size_t)even);
    rt_objtab_free(&t);
    assert_int_equal(t.count, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_states),
        cmocka_unit_test(test_growth_and_iteration),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
