/* rt_shim.c — stand-in for libdaftrt's value constructors while runtime/ does not build.
 *
 * Same ownership rules as runtime/rt_value.c (malloc'd data, freed with free), so the
 * tests exercise the real contract; CMake drops this file once target daftrt exists.
 */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daftrt.h"

DaftValue daft_value_none(void)
{
    DaftValue v;
    memset(&v, 0, sizeof v);
    return v;
}

DaftValue daft_value_i64(int64_t x)
{
    DaftValue v = daft_value_none();
    v.kind = DAFT_V_I64;
    v.as.i64 = x;
    return v;
}

DaftValue daft_value_f64(double x)
{
    DaftValue v = daft_value_none();
    v.kind = DAFT_V_F64;
    v.as.f64 = x;
    return v;
}

DaftValue daft_value_bool(bool x)
{
    DaftValue v = daft_value_none();
    v.kind = DAFT_V_BOOL;
    v.as.b = x;
    return v;
}

DaftValue daft_value_str(const char *s)
{
    DaftValue v = daft_value_none();
    v.kind = DAFT_V_STR;
    v.as.str.len = strlen(s);
    v.as.str.ptr = strdup(s);
    return v;
}

static size_t shim_esz(DaftRtDtype dt)
{
    static const size_t sz[] = { 4, 2, 2, 4, 8 };
    return (unsigned)dt < DAFT_RT_DTYPE_COUNT ? sz[dt] : 0;
}

DaftValue daft_value_tensor(DaftRtDtype dt, int rank, const int64_t *dims, const void *data)
{
    if (!shim_esz(dt) || rank < 0 || rank > DAFT_MAX_RANK)
        return daft_value_error("invalid tensor shape (dtype %d, rank %d)", (int)dt, rank);
    size_t n = 1;
    for (int i = 0; i < rank; i++) {
        if (dims[i] < 0)
            return daft_value_error("invalid tensor shape");
        n *= (size_t)dims[i];
    }
    size_t nb = n * shim_esz(dt);
    DaftValue v = daft_value_none();
    v.kind = DAFT_V_TENSOR;
    v.as.tensor.dtype = dt;
    v.as.tensor.rank = rank;
    for (int i = 0; i < rank; i++)
        v.as.tensor.dims[i] = dims[i];
    v.as.tensor.data = data ? malloc(nb ? nb : 1) : calloc(1, nb ? nb : 1);
    if (!v.as.tensor.data)
        return daft_value_error("out of memory allocating a tensor of %zu bytes", nb);
    if (data && nb)
        memcpy(v.as.tensor.data, data, nb);
    return v;
}

DaftValue daft_value_list(size_t len)
{
    DaftValue v = daft_value_none();
    v.kind = DAFT_V_LIST;
    v.as.list.items = calloc(len ? len : 1, sizeof(DaftValue));
    if (!v.as.list.items)
        return daft_value_error("out of memory allocating a list of %zu items", len);
    v.as.list.len = len;
    return v;
}

DaftValue daft_value_error(const char *fmt, ...)
{
    DaftValue v = daft_value_none();
    va_list ap;
    va_start(ap, fmt);
    char *msg = NULL;
    if (vasprintf(&msg, fmt, ap) < 0)
        msg = NULL;
    va_end(ap);
    v.kind = DAFT_V_ERROR;
    v.as.error.msg = msg ? msg : strdup("out of memory formatting an error");
    return v;
}

void daft_value_free(DaftValue *v)
{
    if (!v)
        return;
    switch (v->kind) {
    case DAFT_V_STR: free(v->as.str.ptr); break;
    case DAFT_V_ERROR: free(v->as.error.msg); break;
    case DAFT_V_TENSOR: free(v->as.tensor.data); break;
    case DAFT_V_LIST:
        for (size_t i = 0; i < v->as.list.len; i++)
            daft_value_free(&v->as.list.items[i]);
        free(v->as.list.items);
        break;
    default: break;
    }
    *v = daft_value_none();
}

DaftValue daft_value_actor(DaftActor a)
{
    DaftValue v = daft_value_none();
    v.kind = DAFT_V_ACTOR;
    v.as.actor = a;
    return v;
}

DaftValue daft_value_ref(DaftRef r)
{
    DaftValue v = daft_value_none();
    v.kind = DAFT_V_REF;
    v.as.ref = r;
    return v;
}
