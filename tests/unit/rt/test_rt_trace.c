/* Timeline trace: DAFT_TRACE=path writes one Chrome-trace JSON with a track (process
 * name) per actor and the driver, a slice per task named after its method, and leaves no
 * per-actor part files behind. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daftrt.h"

static int m_twice(DaftActorCtx *ctx, void *st, const DaftValue *a, int n, DaftValue *out)
{
    (void)ctx; (void)st; (void)n;
    *out = daft_value_i64(2 * a[0].as.i64);
    return 0;
}

static const DaftMethodDesc methods[] = {{"twice", m_twice}};
static const DaftClassDesc cls = {"T", 0, NULL, NULL, methods, 1};

static void test_trace_file(void **st)
{
    (void)st;
    char dir[] = "/tmp/daft-trace-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[128];
    snprintf(path, sizeof path, "%s/t.json", dir);
    setenv("DAFT_TRACE", path, 1);
    DaftRt *rt = daft_rt_init(NULL, NULL);
    unsetenv("DAFT_TRACE");
    int c = daft_rt_register_class(rt, &cls);
    DaftSpawnOpts o1 = {"left", -1, -1}, o2 = {"right", -1, -1};
    DaftActor a, b;
    assert_int_equal(daft_rt_spawn(rt, c, NULL, 0, &o1, &a), 0);
    assert_int_equal(daft_rt_spawn(rt, c, NULL, 0, &o2, &b), 0);
    DaftValue x = daft_value_i64(3), v;
    DaftRef r1, r2;
    assert_int_equal(daft_rt_call(rt, a, 0, &x, 1, &r1), 0);
    DaftValue rv = daft_value_ref(r1);
    assert_int_equal(daft_rt_call(rt, b, 0, &rv, 1, &r2), 0);
    assert_int_equal(daft_rt_get(rt, r2, 10, &v), 0);
    assert_int_equal(v.as.i64, 12);
    daft_rt_shutdown(rt);

    FILE *f = fopen(path, "r");
    assert_non_null(f);
    static char text[1 << 16];
    size_t n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[n] = 0;
    assert_non_null(strstr(text, "{\"displayTimeUnit\":\"ns\",\"traceEvents\":["));
    assert_non_null(strstr(text, "\"args\":{\"name\":\"driver\"}"));
    assert_non_null(strstr(text, "\"args\":{\"name\":\"left\"}"));
    assert_non_null(strstr(text, "\"args\":{\"name\":\"right\"}"));
    assert_non_null(strstr(text, "{\"name\":\"twice\",\"cat\":\"task\",\"ph\":\"X\""));
    assert_non_null(strstr(text, "\"cat\":\"call\""));
    /* both actors stopped as told when the program ended: neither died */
    assert_null(strstr(text, "\"cat\":\"death\""));
    int depth = 0; /* brackets balance (no string in this trace holds one) */
    for (char *p = text; *p; p++)
        depth += (*p == '{' || *p == '[') - (*p == '}' || *p == ']');
    assert_int_equal(depth, 0);
    DIR *d = opendir(dir); /* only the trace itself remains */
    int files = 0;
    for (struct dirent *e; (e = readdir(d));)
        files += e->d_name[0] != '.';
    closedir(d);
    assert_int_equal(files, 1);
    unlink(path);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_trace_file)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
