/* std_env.c — std.env (SPEC.md §13.4): environment variables of the calling process. */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "std_internal.h"

/* args[i] as a C string (a daft str is NUL-terminated; one holding a NUL byte cannot name
 * an environment variable and is rejected). */
static int env_arg_str(const char *fn, const DaftValue *args, int i, const char **s,
                       DaftValue *out)
{
    if (args[i].kind != DAFT_V_STR)
        return std_fail(out, fn, "argument %d must be a str, got %s", i + 1,
                        std_kind_name(args[i].kind));
    const char *p = args[i].as.str.ptr ? args[i].as.str.ptr : "";
    if (args[i].as.str.ptr && strlen(p) != args[i].as.str.len)
        return std_fail(out, fn, "argument %d contains a NUL byte", i + 1);
    *s = p;
    return 0;
}

static int env_name(const char *fn, const DaftValue *args, const char **name, DaftValue *out)
{
    int rc = env_arg_str(fn, args, 0, name, out);
    if (rc)
        return rc;
    if (!**name)
        return std_fail(out, fn, "the variable name is empty");
    return 0;
}

int daft_std_env_get_i64(DaftActorCtx *ctx, const DaftValue *args, int nargs, DaftValue *out)
{
    (void)ctx;
    const char *name;
    int64_t dflt;
    int rc;
    if ((rc = std_check_nargs("get_i64", args, nargs, 2, 2, out)) ||
        (rc = env_name("get_i64", args, &name, out)) ||
        (rc = std_arg_i64("get_i64", args, 1, &dflt, out)))
        return rc;
    const char *v = getenv(name);
    const char *p = v;
    while (p && isspace((unsigned char)*p))
        p++;
    if (!p || !*p) {
        *out = daft_value_i64(dflt);
        return 0;
    }
    errno = 0;
    char *end;
    long long x = strtoll(p, &end, 10);
    bool digits = end != p && isdigit((unsigned char)end[-1]);
    while (isspace((unsigned char)*end))
        end++;
    if (!digits || *end)
        return std_fail(out, "get_i64", "%s is not an integer: \"%.64s\"", name, v);
    if (errno == ERANGE)
        return std_fail(out, "get_i64", "%s is out of the i64 range: \"%.64s\"", name, v);
    *out = daft_value_i64((int64_t)x);
    return 0;
}

int daft_std_env_get_str(DaftActorCtx *ctx, const DaftValue *args, int nargs, DaftValue *out)
{
    (void)ctx;
    const char *name = NULL, *dflt = NULL; /* set by the checks below; gcc -O2 cannot see it */
    int rc;
    if ((rc = std_check_nargs("get_str", args, nargs, 2, 2, out)) ||
        (rc = env_name("get_str", args, &name, out)) ||
        (rc = env_arg_str("get_str", args, 1, &dflt, out)))
        return rc;
    const char *v = getenv(name);
    *out = daft_value_str(v ? v : dflt);
    if (out->kind != DAFT_V_STR) {
        size_t n = strlen(v ? v : dflt) + 1;
        daft_value_free(out);
        return std_fail_nomem(out, "get_str", n);
    }
    return 0;
}
