/* std_test.h — helpers shared by the std unit tests (header-only, static functions). */
#ifndef STD_TEST_H
#define STD_TEST_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "daft/std.h"
#include "daftrt.h"

#define NELEMS(a) (sizeof(a) / sizeof((a)[0]))

static inline DaftValue t_tensor(DaftRtDtype dt, int rank, const int64_t *dims,
                                 const void *data)
{
    DaftValue v = daft_value_tensor(dt, rank, dims, data);
    assert_int_equal(v.kind, DAFT_V_TENSOR);
    return v;
}

static inline DaftValue t_f32(int rank, const int64_t *dims, const float *data)
{
    return t_tensor(DAFT_RT_F32, rank, dims, data);
}

static inline DaftValue t_i64t(int rank, const int64_t *dims, const int64_t *data)
{
    return t_tensor(DAFT_RT_I64, rank, dims, data);
}

/* A list of n i64 items (a shape). */
static inline DaftValue t_shape(int n, ...)
{
    DaftValue l = daft_value_list((size_t)n);
    va_list ap;
    va_start(ap, n);
    for (int i = 0; i < n; i++)
        l.as.list.items[i] = daft_value_i64(va_arg(ap, int64_t));
    va_end(ap);
    return l;
}

static inline void t_free_all(DaftValue *v, int n)
{
    for (int i = 0; i < n; i++)
        daft_value_free(&v[i]);
}

/* Calls fn and asserts success; prints the error message otherwise. */
static inline DaftValue t_ok(DaftStdFnPtr fn, const DaftValue *args, int nargs)
{
    DaftValue out;
    memset(&out, 0xAB, sizeof out); /* the ABI says *out is overwritten: prove it */
    int rc = fn(NULL, args, nargs, &out);
    if (rc != 0 || out.kind == DAFT_V_ERROR) {
        print_error("unexpected failure rc=%d: %s\n", rc,
                    out.kind == DAFT_V_ERROR ? out.as.error.msg : "(no error value)");
        fail();
    }
    return out;
}

/* Calls fn and asserts it fails with an error value whose message contains `want`. */
static inline void t_err(DaftStdFnPtr fn, const DaftValue *args, int nargs, const char *want)
{
    DaftValue out;
    memset(&out, 0xAB, sizeof out);
    int rc = fn(NULL, args, nargs, &out);
    assert_int_not_equal(rc, 0);
    assert_int_equal(out.kind, DAFT_V_ERROR);
    assert_non_null(out.as.error.msg);
    if (!strstr(out.as.error.msg, want)) {
        print_error("message \"%s\" lacks \"%s\"\n", out.as.error.msg, want);
        fail();
    }
    daft_value_free(&out);
}

static inline void t_assert_shape(const DaftValue *v, int rank, const int64_t *dims)
{
    assert_int_equal(v->kind, DAFT_V_TENSOR);
    assert_int_equal(v->as.tensor.rank, rank);
    for (int i = 0; i < rank; i++)
        assert_int_equal(v->as.tensor.dims[i], dims[i]);
}

/* Deterministic test inputs (independent of the library's RNG). */
static inline uint64_t t_lcg(uint64_t *s)
{
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    return *s >> 33;
}

static inline float t_randf(uint64_t *s)
{
    return (float)((double)t_lcg(s) / 2147483648.0 * 2.0 - 1.0);
}

#endif
