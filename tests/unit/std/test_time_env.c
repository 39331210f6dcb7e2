/* test_time_env.c — std.time (now) and std.env (get_i64, get_str): values, defaults, errors,
 * and their registry entries. */
#include <time.h>

#include "std_test.h"

static void test_now(void **state)
{
    (void)state;
    DaftValue a = t_ok(daft_std_time_now, NULL, 0);
    assert_int_equal(a.kind, DAFT_V_F64);
    struct timespec ts = { 0, 20 * 1000 * 1000 }; /* 20 ms */
    nanosleep(&ts, NULL);
    DaftValue b = t_ok(daft_std_time_now, NULL, 0);
    assert_int_equal(b.kind, DAFT_V_F64);
    double d = b.as.f64 - a.as.f64;
    assert_true(d >= 0.019 && d < 5.0); /* monotonic, in seconds */
    struct timespec m;
    clock_gettime(CLOCK_MONOTONIC, &m);
    double now = (double)m.tv_sec + (double)m.tv_nsec * 1e-9;
    assert_true(now >= b.as.f64 && now - b.as.f64 < 5.0); /* CLOCK_MONOTONIC, not realtime */
    DaftValue one = daft_value_i64(1);
    t_err(daft_std_time_now, &one, 1, "now: expects 0 arguments, got 1");
}

static int64_t get_i64(const char *name, int64_t dflt)
{
    DaftValue args[] = { daft_value_str(name), daft_value_i64(dflt) };
    DaftValue out = t_ok(daft_std_env_get_i64, args, 2);
    assert_int_equal(out.kind, DAFT_V_I64);
    daft_value_free(&args[0]);
    return out.as.i64;
}

static void get_i64_err(const char *name, const char *want)
{
    DaftValue args[] = { daft_value_str(name), daft_value_i64(5) };
    t_err(daft_std_env_get_i64, args, 2, want);
    daft_value_free(&args[0]);
}

static void test_get_i64(void **state)
{
    (void)state;
    unsetenv("DAFT_TEST_ENV_X");
    assert_int_equal(get_i64("DAFT_TEST_ENV_X", 64), 64);
    setenv("DAFT_TEST_ENV_X", "", 1);
    assert_int_equal(get_i64("DAFT_TEST_ENV_X", 64), 64);
    setenv("DAFT_TEST_ENV_X", "  ", 1);
    assert_int_equal(get_i64("DAFT_TEST_ENV_X", -2), -2);
    setenv("DAFT_TEST_ENV_X", "4096", 1);
    assert_int_equal(get_i64("DAFT_TEST_ENV_X", 64), 4096);
    setenv("DAFT_TEST_ENV_X", " -3 ", 1);
    assert_int_equal(get_i64("DAFT_TEST_ENV_X", 64), -3);
    setenv("DAFT_TEST_ENV_X", "+7", 1);
    assert_int_equal(get_i64("DAFT_TEST_ENV_X", 64), 7);
    setenv("DAFT_TEST_ENV_X", "9223372036854775807", 1);
    assert_true(get_i64("DAFT_TEST_ENV_X", 0) == INT64_MAX);
    setenv("DAFT_TEST_ENV_X", "-9223372036854775808", 1);
    assert_true(get_i64("DAFT_TEST_ENV_X", 0) == INT64_MIN);

    setenv("DAFT_TEST_ENV_X", "4k", 1);
    get_i64_err("DAFT_TEST_ENV_X", "get_i64: DAFT_TEST_ENV_X is not an integer: \"4k\"");
    setenv("DAFT_TEST_ENV_X", "1e3", 1);
    get_i64_err("DAFT_TEST_ENV_X", "is not an integer");
    setenv("DAFT_TEST_ENV_X", "-", 1);
    get_i64_err("DAFT_TEST_ENV_X", "is not an integer");
    setenv("DAFT_TEST_ENV_X", "0x10", 1);
    get_i64_err("DAFT_TEST_ENV_X", "is not an integer");
    setenv("DAFT_TEST_ENV_X", "1 2", 1);
    get_i64_err("DAFT_TEST_ENV_X", "is not an integer");
    setenv("DAFT_TEST_ENV_X", "9223372036854775808", 1);
    get_i64_err("DAFT_TEST_ENV_X", "get_i64: DAFT_TEST_ENV_X is out of the i64 range");
    unsetenv("DAFT_TEST_ENV_X");

    get_i64_err("", "get_i64: the variable name is empty");
    DaftValue bad[] = { daft_value_i64(1), daft_value_i64(2) };
    t_err(daft_std_env_get_i64, bad, 2, "get_i64: argument 1 must be a str, got i64");
    DaftValue bad2[] = { daft_value_str("HOME"), daft_value_f64(2.5) };
    t_err(daft_std_env_get_i64, bad2, 2, "get_i64: argument 2 must be an i64, got f64");
    t_err(daft_std_env_get_i64, bad2, 1, "get_i64: expects 2 arguments, got 1");
    t_err(daft_std_env_get_i64, NULL, 2, "get_i64: argument array is NULL");
    daft_value_free(&bad2[0]);
    /* a str holding a NUL byte cannot name a variable */
    DaftValue nul[] = { daft_value_str("AB"), daft_value_i64(0) };
    nul[0].as.str.ptr[1] = '\0';
    t_err(daft_std_env_get_i64, nul, 2, "get_i64: argument 1 contains a NUL byte");
    daft_value_free(&nul[0]);
}

static void test_get_str(void **state)
{
    (void)state;
    DaftValue args[] = { daft_value_str("DAFT_TEST_ENV_S"), daft_value_str("dflt") };
    unsetenv("DAFT_TEST_ENV_S");
    DaftValue out = t_ok(daft_std_env_get_str, args, 2);
    assert_int_equal(out.kind, DAFT_V_STR);
    assert_string_equal(out.as.str.ptr, "dflt");
    assert_int_equal(out.as.str.len, 4);
    assert_ptr_not_equal(out.as.str.ptr, args[1].as.str.ptr); /* a fresh copy */
    daft_value_free(&out);
    setenv("DAFT_TEST_ENV_S", "", 1);
    out = t_ok(daft_std_env_get_str, args, 2);
    assert_string_equal(out.as.str.ptr, "");
    assert_int_equal(out.as.str.len, 0);
    daft_value_free(&out);
    setenv("DAFT_TEST_ENV_S", "nccl tcp", 1);
    out = t_ok(daft_std_env_get_str, args, 2);
    assert_string_equal(out.as.str.ptr, "nccl tcp");
    assert_int_equal(out.as.str.len, 8);
    daft_value_free(&out);
    unsetenv("DAFT_TEST_ENV_S");
    DaftValue bad[] = { args[0], daft_value_i64(1) };
    t_err(daft_std_env_get_str, bad, 2, "get_str: argument 2 must be a str, got i64");
    t_err(daft_std_env_get_str, args, 3, "get_str: expects 2 arguments, got 3");
    daft_value_free(&args[0]);
    daft_value_free(&args[1]);
}

static void test_registered(void **state)
{
    (void)state;
    static const struct { const char *sym, *module, *name; DaftStdFnPtr fn; int lo, hi; } want[] = {
        { "daft_std_time_now", "std.time", "now", daft_std_time_now, 0, 0 },
        { "daft_std_env_get_i64", "std.env", "get_i64", daft_std_env_get_i64, 2, 2 },
        { "daft_std_env_get_str", "std.env", "get_str", daft_std_env_get_str, 2, 2 },
    };
    for (size_t i = 0; i < NELEMS(want); i++) {
        const DaftStdFn *f = daft_std_lookup(want[i].sym);
        assert_non_null(f);
        assert_string_equal(f->module, want[i].module);
        assert_string_equal(f->name, want[i].name);
        assert_ptr_equal(f->fn, want[i].fn);
        assert_int_equal(f->min_args, want[i].lo);
        assert_int_equal(f->max_args, want[i].hi);
    }
    /* every extern of the .daft declarations has a registry entry in its module */
    const char *files[] = { STD_DAFT_DIR "/time.daft", STD_DAFT_DIR "/env.daft" };
    const char *mods[] = { "std.time", "std.env" };
    for (size_t k = 0; k < NELEMS(files); k++) {
        FILE *fp = fopen(files[k], "r");
        assert_non_null(fp);
        char line[512];
        int found = 0;
        while (fgets(line, sizeof line, fp)) {
            if (strncmp(line, "extern fn ", 10) != 0)
                continue;
            char *q1 = strchr(line, '"'), *q2 = q1 ? strchr(q1 + 1, '"') : NULL;
            assert_non_null(q2);
            *q2 = '\0';
            const DaftStdFn *f = daft_std_lookup(q1 + 1);
            assert_non_null(f);
            assert_string_equal(f->module, mods[k]);
            found++;
        }
        fclose(fp);
        assert_true(found >= 1);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_now),
        cmocka_unit_test(test_get_i64),
        cmocka_unit_test(test_get_str),
        cmocka_unit_test(test_registered),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
