/* DAFT_STATS rows: counting, the value sizes they count, and the message an actor sends the
 * driver as it stops (rt_stats_put / rt_stats_take), whole and cut short. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "rt_internal.h"

static RtStats stats_on(void)
{
    RtStats s;
    memset(&s, 0, sizeof s);
    s.on = RT_STATS_TABLE;
    return s;
}

static const RtStatRow *find(const RtStats *s, uint32_t kind, uint32_t from, uint32_t index)
{
    for (int i = 0; i < s->nrows; i++)
        if (s->rows[i].kind == kind && s->rows[i].from == from && s->rows[i].index == index)
            return &s->rows[i];
    return NULL;
}

static void test_value_bytes(void **st)
{
    (void)st;
    DaftValue i = daft_value_i64(7), b = daft_value_bool(true), s = daft_value_str("hello");
    int64_t dims[2] = {3, 5};
    DaftValue t = daft_value_tensor(DAFT_RT_F32, 2, dims, NULL);
    assert_int_equal(rt_stats_value_bytes(&i), 8);
    assert_int_equal(rt_stats_value_bytes(&b), 1);
    assert_int_equal(rt_stats_value_bytes(&s), 5);
    assert_int_equal(rt_stats_value_bytes(&t), 60);
    DaftValue l = daft_value_list(3);
    l.as.list.items[0] = i;
    l.as.list.items[1] = t;
    l.as.list.items[2] = daft_value_error("boom");
    assert_int_equal(rt_stats_value_bytes(&l), 68); /* an error carries no data */
    DaftValue none = daft_value_none();
    assert_int_equal(rt_stats_value_bytes(&none), 0);
    daft_value_free(&l);
    daft_value_free(&b);
    daft_value_free(&s);
}

static void test_rows_add_up(void **st)
{
    (void)st;
    RtStats s = stats_on();
    for (int k = 0; k < 100; k++) /* more rows than the first allocation holds */
        rt_stats_add(&s, RT_STAT_WRITE, 1, 7, (uint32_t)k, 0, 1, 32, 1000);
    rt_stats_add(&s, RT_STAT_WRITE, 1, 7, 3, 0, 2, 64, 500); /* (to 2 readers) */
    rt_stats_add(&s, RT_STAT_READ, 2, 7, 3, 0, 1, 32, -5); /* (a clock step back counts as 0) */
    assert_int_equal(s.nrows, 101);
    const RtStatRow *w = find(&s, RT_STAT_WRITE, 1, 3), *r = find(&s, RT_STAT_READ, 2, 3);
    assert_non_null(w);
    assert_int_equal(w->n, 3);
    assert_int_equal(w->bytes, 96);
    assert_int_equal(w->ns, 1500);
    assert_non_null(r);
    assert_int_equal(r->ns, 0);
    for (int k = 0; k < 100; k++) /* each found again (hashed), none made twice */
        rt_stats_add(&s, RT_STAT_WRITE, 1, 7, (uint32_t)k, 0, 1, 0, 0);
    assert_int_equal(s.nrows, 101);
    assert_int_equal(find(&s, RT_STAT_WRITE, 1, 99)->n, 2);
    rt_stats_free(&s);
    assert_int_equal(s.nrows, 0);
    assert_int_equal(s.on, RT_STATS_TABLE); /* (restart keeps the setting) */
}

/* What an actor sends adds to what the driver has, row by row; a message cut anywhere adds
 * the rows it holds whole and nothing after. */
static void test_put_take(void **st)
{
    (void)st;
    RtStats actor = stats_on(), driver = stats_on();
    rt_stats_add(&actor, RT_STAT_XFER, 3, 0, RT_STAT_TCP, 4, 1, 64, 10);
    rt_stats_add(&actor, RT_STAT_COLL, 3, 9, 0, 0, 1, 16, 20);
    rt_stats_add(&driver, RT_STAT_COLL, 3, 9, 0, 0, 1, 16, 5);
    RtBuf m = {0};
    rt_stats_put(&actor, &m);
    RtRd r = rt_rd(m.p, m.len);
    assert_int_equal(rt_rd_u32(&r), RT_M_STATS);
    rt_stats_take(&driver, &r);
    assert_false(r.bad);
    assert_int_equal(driver.nrows, 2);
    const RtStatRow *c = find(&driver, RT_STAT_COLL, 3, 0), *x = find(&driver, RT_STAT_XFER, 3, RT_STAT_TCP);
    assert_int_equal(c->n, 2);
    assert_int_equal(c->bytes, 32);
    assert_int_equal(c->ns, 25);
    assert_int_equal(x->peer, 4);
    assert_int_equal(x->bytes, 64);

    size_t row = (m.len - 8) / 2; /* (type and count, then two rows of equal size) */
    for (size_t cut = 4; cut < m.len; cut++) {
        RtStats d = stats_on();
        RtRd t = rt_rd(m.p, cut);
        rt_rd_u32(&t);
        rt_stats_take(&d, &t);
        int whole = cut < 8 ? 0 : (int)((cut - 8) / row);
        assert_int_equal(d.nrows, whole);
        rt_stats_free(&d);
    }
    rt_buf_free(&m);
    rt_stats_free(&actor);
    rt_stats_free(&driver);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_value_bytes),
        cmocka_unit_test(test_rows_add_up),
        cmocka_unit_test(test_put_take),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
