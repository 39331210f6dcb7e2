/* repl_coll.c — std.collective at the prompt (SPEC.md §18.5). The operations are
 * libdaftgen's (runtime/gen/gen_coll.c), the same code a daftc-built program runs; the
 * REPL describes itself to it (daft_gen_host): actor names, each actor's hidden
 * collective method, and its own Refs (plan outputs, local errors), which it resolves
 * to their values. The result Refs are noted like any task's. */
#include "repl.h"

#include <daft/gen.h>

#include <stdlib.h>
#include <string.h>

static const char *host_actor_name(void *arg, DaftActor h, char *buf, size_t cap)
{
    ReplActor *a = repl_actor(arg, h);
    snprintf(buf, cap, "%s", a ? a->name : "actor");
    return buf;
}

static int host_coll_method(void *arg, DaftActor h)
{
    ReplActor *a = repl_actor(arg, h);
    return a ? a->coll_method : -1;
}

static bool host_own_ref(void *arg, const DaftValue *ref, DaftActor *producer, DaftValue *value)
{
    Repl *R = arg;
    if (!(ref->as.ref.id & REPL_PLAN_REF_BIT))
        return false;
    const ReplRef *rf = repl_ref_find(R, ref->as.ref.id);
    *producer = !rf ? 0 : rf->plan ? repl_plan_output_actor(rf->plan, rf->out) : rf->owner;
    if (value) {
        int rc = repl_ref_get(R, ref->as.ref, -1, value);
        if (rc == -100)
            *value = daft_value_error("interrupted (Ctrl-C) while waiting for an input of the collective");
        else if (rc != 0 && value->kind != DAFT_V_ERROR)
            *value = daft_value_error("an input of the collective is an unknown Ref");
    }
    return true;
}

bool repl_coll_wait_inputs(Repl *R, const DaftValue *args, int nargs)
{
    for (int i = 0; i < nargs; i++)
        for (size_t j = 0; args[i].kind == DAFT_V_LIST && j < args[i].as.list.len; j++) {
            const DaftValue *v = &args[i].as.list.items[j];
            if (v->kind != DAFT_V_REF || !(v->as.ref.id & REPL_PLAN_REF_BIT))
                continue;
            DaftValue x = daft_value_none();
            int rc = repl_ref_get(R, v->as.ref, -1, &x);
            daft_value_free(&x);
            if (rc == -100)
                return false;
        }
    return true;
}

void repl_coll_setup(Repl *R)
{
    DaftGenHost host = {R, host_actor_name, host_coll_method, host_own_ref};
    daft_gen_host(R->rt, &host);
}

DaftStdFnPtr repl_coll_fn(const char *symbol)
{
    static const struct {
        const char *symbol;
        DaftStdFnPtr fn;
    } fns[] = {
        {"daft_std_collective_init", daft_std_collective_init},
        {"daft_std_collective_destroy", daft_std_collective_destroy},
        {"daft_std_collective_allreduce", daft_std_collective_allreduce},
        {"daft_std_collective_allgather", daft_std_collective_allgather},
        {"daft_std_collective_reducescatter", daft_std_collective_reducescatter},
        {"daft_std_collective_broadcast", daft_std_collective_broadcast},
    };
    for (size_t i = 0; symbol && i < sizeof fns / sizeof *fns; i++)
        if (strcmp(fns[i].symbol, symbol) == 0)
            return fns[i].fn;
    return NULL;
}

void repl_coll_note(Repl *R, const DaftValue *result, const char *fn, const char *type)
{
    if (result->kind != DAFT_V_LIST)
        return;
    for (size_t i = 0; i < result->as.list.len; i++) {
        const DaftValue *v = &result->as.list.items[i];
        if (v->kind != DAFT_V_REF)
            continue;
        ReplActor *a = repl_actor(R, v->as.ref.owner);
        char *producer = repl_printf("%s.%s", a ? a->name : "actor", fn);
        repl_ref_note(R, v->as.ref, producer, type, NULL, 0, 0);
        free(producer);
    }
}
