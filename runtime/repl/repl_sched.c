/* repl_sched.c — compiled schedules called from the prompt (repl.h): trace for the
 * concrete actors (daft_trace_schedule), plan (daft_plan_build, the planner daftc uses),
 * load on the actors and execute with the runtime's compiled executor (daft_rt_plan_*).
 * A plan is cached per (schedule, actor handles, list lengths, load generation) and
 * reused by later calls; a plan one of whose actors died is drained and dropped, and the
 * next call plans again. At most DAFT_LOADED_PLANS stay loaded (SPEC 11.2): past it the
 * least recently used one is unloaded, kept, and loaded again by its next call. */
#include "repl.h"

#include <daft/gen.h>

#include <stdlib.h>
#include <string.h>

static bool is_structural(const DaftType *t) {
    while (t && t->kind == DAFT_TY_LIST)
        t = t->elem;
    return t && (t->kind == DAFT_TY_ACTOR || t->kind == DAFT_TY_COMM);
}

static char *actor_list(Repl *R, const DaftActor *as, int n) {
    if (n == 0) /* (a schedule over an empty actor list: "for  (0 channels)" said nothing) */
        return repl_strdup("no actors");
    char *s = repl_strdup("");
    for (int i = 0; i < n; i++) {
        ReplActor *a = repl_actor(R, as[i]);
        char *t = repl_printf("%s%s%s", s, i ? ", " : "", a ? a->name : "?");
        free(s);
        s = t;
    }
    return s;
}

/* Drains what the runtime still owes (errors after a death), then unloads. */
static void plan_drop(Repl *R, ReplPlan *p, const char *why) {
    if (p->dropped)
        return;
    double deadline = repl_now() + 2.0;
    while (p->returned < p->submitted && repl_now() < deadline) {
        DaftValue v;
        if (repl_plan_output(R, p, p->returned, 0, 0.1, &v) == 0)
            daft_value_free(&v);
    }
    if (p->rt)
        daft_rt_plan_unload(R->rt, p->rt);
    p->rt = NULL;
    p->dropped = true;
    if (why) {
        char *who = actor_list(R, p->actors, p->nactors);
        fprintf(R->out, "note: dropped the plan of '%s' for %s: %s\n", p->schedule, who, why);
        fflush(R->out);
        free(who);
    }
}

void repl_plans_check(Repl *R) {
    for (ReplPlan *p = R->plans; p; p = p->next) {
        if (p->dropped)
            continue;
        for (int i = 0; i < p->nactors; i++)
            if (!daft_rt_actor_alive(R->rt, p->actors[i])) {
                ReplActor *a = repl_actor(R, p->actors[i]);
                char why[300];
                snprintf(why, sizeof why, "actor '%s' is dead", a ? a->name : "?");
                plan_drop(R, p, why);
                break;
            }
        /* Failed on one of its actors (SPEC §14.2): the next call loads it afresh. It stays
         * loaded until the executions before the failure, which may take long, have
         * returned their results. */
        if (!p->dropped && !p->retired && p->rt && daft_rt_plan_broken(p->rt)) {
            p->retired = true;
            char *who = actor_list(R, p->actors, p->nactors);
            fprintf(R->out, "note: dropped the plan of '%s' for %s: it failed (the next call loads it again)\n",
                    p->schedule, who);
            fflush(R->out);
            free(who);
        }
        if (p->retired && !p->dropped && p->returned == p->submitted)
            plan_drop(R, p, NULL);
    }
}

int repl_plan_output(Repl *R, ReplPlan *p, int64_t exec, int out, double timeout_s, DaftValue *val) {
    *val = daft_value_none();
    int nout = p->plan->noutputs;
    while (p->returned <= exec) {
        if (p->dropped || !p->rt) {
            *val = daft_value_error("compiled schedule '%s': its plan was dropped before execution %lld finished",
                                    p->schedule, (long long)exec + 1);
            return 0;
        }
        if (p->returned >= p->results_cap) {
            int64_t cap = p->results_cap ? p->results_cap * 2 : 16;
            p->results = realloc(p->results, sizeof(DaftValue) * (size_t)(cap * (nout ? nout : 1)));
            p->results_cap = cap;
        }
        DaftValue *dst = &p->results[p->returned * nout];
        for (int i = 0; i < nout; i++)
            dst[i] = daft_value_none();
        int rc = daft_rt_plan_result(R->rt, p->rt, timeout_s, dst, nout);
        if (rc == DAFT_ETIMEDOUT)
            return rc;
        if (rc != 0) {
            for (int i = 0; i < nout; i++)
                dst[i] = daft_value_error("compiled schedule '%s': %s", p->schedule, daft_rt_last_error(R->rt));
        }
        p->returned++;
    }
    if (out < 0 || out >= nout)
        return DAFT_EINVAL;
    return daft_value_copy(val, &p->results[exec * nout + out]) == 0 ? 0 : DAFT_ENOMEM;
}

/* ---------------------------------------------------------------- DAFT_LOADED_PLANS */

/* Results already there are read now (no waiting), so that a plan whose Refs nobody got yet
 * does not count as in flight when it has finished. */
static void plans_collect_ready(Repl *R) {
    for (ReplPlan *p = R->plans; p; p = p->next)
        while (p->rt && !p->dropped && p->returned < p->submitted) {
            DaftValue v;
            int rc = repl_plan_output(R, p, p->returned, 0, 0, &v);
            daft_value_free(&v);
            if (rc != 0)
                break;
        }
}

static ReplPlan *plan_of(Repl *R, const DaftRtPlan *rp) {
    for (ReplPlan *p = R->plans; p; p = p->next)
        if (p->rt == rp && !p->dropped)
            return p;
    return NULL;
}

/* SPEC 11.2: each loaded plan holds channels on its actors, so past DAFT_LOADED_PLANS loaded
 * at once the one used least recently with nothing in flight is unloaded, as in daftc's
 * programs (the runtime picks it). Its actors first finish what was submitted to it, calls
 * that feed no output too (daft_rt_plan_finish); it stays cached with its results, and its
 * next call loads it again (plan_reload). keep: the plan just loaded. */
static void plans_evict(Repl *R, const ReplPlan *keep, int limit) {
    plans_collect_ready(R);
    for (DaftRtPlan *rp; (rp = daft_rt_plan_lru(R->rt, keep->rt, limit));) {
        ReplPlan *p = plan_of(R, rp);
        if (!p)
            return; /* (every plan the runtime holds is one of the session's: not reached) */
        if (p->retired) { /* (failed: it goes anyway, and its next call plans afresh) */
            plan_drop(R, p, NULL);
            continue;
        }
        char *who = actor_list(R, p->actors, p->nactors);
        fprintf(R->out, "note: unloaded the plan of '%s' for %s (DAFT_LOADED_PLANS=%d; the next call loads it again)\n",
                p->schedule, who, limit);
        fflush(R->out);
        free(who);
        daft_rt_plan_finish(R->rt, rp);
        p->rt = NULL;
        p->unloaded = true;
        p->base = p->submitted;
    }
}

/* Loads an unloaded plan on its actors again: its trace and plan were kept (its actors all
 * live: repl_plans_check dropped it otherwise). */
static bool plan_reload(Repl *R, ReplPlan *p, char *err, size_t errcap) {
    if (daft_rt_plan_load(R->rt, p->plan, p->actors, p->nactors, &p->rt) != 0) {
        snprintf(err, errcap, "cannot load the plan of '%s': %s", p->schedule, daft_rt_last_error(R->rt));
        p->rt = NULL;
        p->dropped = true;
        return false;
    }
    p->unloaded = false;
    char *who = actor_list(R, p->actors, p->nactors);
    fprintf(R->out, "note: loaded the plan of '%s' for %s again (%d channel%s)\n", p->schedule, who,
            p->plan->nchannels, p->plan->nchannels == 1 ? "" : "s");
    fflush(R->out);
    free(who);
    return true;
}

/* The trace key and actor binding of one call. */
static char *make_key(Repl *R, const DaftNode *sched, const DaftValue *args, int nargs) {
    char *k = repl_printf("%s@%d", sched->name, R->generation);
    for (int i = 0; i < nargs && i < sched->params.len; i++) {
        const DaftType *t = sched->params.items[i]->ty;
        const DaftValue *v = &args[i];
        char *part = NULL;
        if (v->kind == DAFT_V_ACTOR) {
            part = repl_printf("a%u", v->as.actor);
        } else if (v->kind == DAFT_V_LIST && is_structural(t)) {
            part = repl_strdup("[");
            for (size_t j = 0; j < v->as.list.len; j++) {
                char *q = repl_printf("%s%u,", part,
                                      v->as.list.items[j].kind == DAFT_V_ACTOR ? v->as.list.items[j].as.actor : 0);
                free(part);
                part = q;
            }
        } else if (v->kind == DAFT_V_LIST) {
            part = repl_printf("n%zu", v->as.list.len);
        } else {
            part = repl_strdup("-");
        }
        char *q = repl_printf("%s|%s", k, part);
        free(k);
        free(part);
        k = q;
    }
    return k;
}

static DaftGraphActor graph_actor(Repl *R, DaftActor h) {
    DaftGraphActor g;
    memset(&g, 0, sizeof g);
    ReplActor *a = repl_actor(R, h);
    g.name = a ? a->name : "?";
    g.cls = a ? a->cls : "?";
    g.gpus = a && !a->on_cpu ? a->gpus : 0;
    g.node = a ? a->node : -1;
    g.gpu = a ? a->gpu : -1;
    return g;
}

ReplPlan *repl_plan_for(Repl *R, const DaftModule *mod, DaftDiagEngine *diags, const DaftNode *sched,
                        const DaftValue *args, int nargs, char *err, size_t errcap) {
    repl_plans_check(R);
    for (int i = 0; i < sched->params.len && i < nargs; i++) {
        int comm_id = 0;
        const DaftType *t = sched->params.items[i]->ty;
        if (t && t->kind == DAFT_TY_COMM && daft_gen_comm_destroyed(&args[i], &comm_id)) {
            snprintf(err, errcap, "communicator Comm#%d was destroyed", comm_id);
            return NULL;
        }
    }
    /* (a bad value is this call's error, and the session goes on: SPEC 17) */
    int limit = daft_rt_loaded_plans_limit(R->rt);
    if (limit < 1) {
        snprintf(err, errcap, "%s", daft_rt_last_error(R->rt));
        return NULL;
    }
    char *key = make_key(R, sched, args, nargs);
    for (ReplPlan *p = R->plans; p; p = p->next)
        if (!p->dropped && !p->retired && strcmp(p->key, key) == 0) {
            free(key);
            if (p->unloaded) {
                if (!plan_reload(R, p, err, errcap))
                    return NULL;
                plans_evict(R, p, limit);
            }
            return p;
        }
    int np = sched->params.len;
    const DaftGraphActor **aa = calloc((size_t)np + 1, sizeof *aa);
    int *na = calloc((size_t)np + 1, sizeof *na);
    DaftGraphActor **own = calloc((size_t)np + 1, sizeof *own);
    for (int i = 0; i < np && i < nargs; i++) {
        const DaftType *t = sched->params.items[i]->ty;
        const DaftValue *v = &args[i];
        if (t && t->kind == DAFT_TY_COMM) {
            /* [id, members...] (gen.h): the members, in rank order, as an actor list */
            if (v->kind != DAFT_V_LIST || v->as.list.len < 1) {
                snprintf(err, errcap, "compiled schedule '%s': '%s' is not a communicator", sched->name,
                         sched->params.items[i]->name);
                goto fail;
            }
            size_t n = v->as.list.len - 1;
            own[i] = calloc(n + 1, sizeof(DaftGraphActor));
            for (size_t j = 0; j < n; j++)
                own[i][j] = graph_actor(R, v->as.list.items[j + 1].kind == DAFT_V_ACTOR ? v->as.list.items[j + 1].as.actor : 0);
            na[i] = (int)n;
        } else if (v->kind == DAFT_V_ACTOR) {
            own[i] = calloc(1, sizeof(DaftGraphActor));
            own[i][0] = graph_actor(R, v->as.actor);
            na[i] = 1;
        } else if (v->kind == DAFT_V_LIST) {
            na[i] = (int)v->as.list.len;
            if (is_structural(t)) {
                own[i] = calloc(v->as.list.len + 1, sizeof(DaftGraphActor));
                for (size_t j = 0; j < v->as.list.len; j++) {
                    if (v->as.list.items[j].kind != DAFT_V_ACTOR) {
                        snprintf(err, errcap, "compiled schedule '%s': nested actor lists are not supported by the REPL",
                                 sched->name);
                        goto fail;
                    }
                    own[i][j] = graph_actor(R, v->as.list.items[j].as.actor);
                }
            }
        }
        aa[i] = own[i];
    }
    int ndiag0 = diags->len;
    DaftGraph *g = daft_trace_schedule(mod, sched, aa, na, diags, 0);
    if (!g) {
        /* the trace's first error is the call's run-time error, as in a daftc program (SPEC 11.3) */
        snprintf(err, errcap, "schedule '%s': %s", sched->name,
                 diags->len > ndiag0 ? diags->diags[ndiag0].message : "trace failed");
        goto fail;
    }
    DaftPlanOptions po;
    memset(&po, 0, sizeof po);
    const char *dev = getenv("DAFT_DEVICE");
    po.cpu_only = dev && strcmp(dev, "cpu") == 0;
    po.verify = true;
    DaftPlan *plan = NULL;
    char perr[512] = "";
    if (daft_plan_build(g, &po, &plan, perr, sizeof perr) != 0) {
        daft_graph_free(g);
        snprintf(err, errcap, "schedule '%s': cannot plan: %s", sched->name, perr);
        goto fail;
    }
    daft_graph_free(g);
    ReplPlan *p = calloc(1, sizeof *p);
    p->schedule = repl_strdup(sched->name);
    p->key = key;
    key = NULL;
    p->plan = plan;
    p->generation = R->generation;
    p->nactors = plan->nactors;
    p->actors = calloc((size_t)plan->nactors + 1, sizeof(DaftActor));
    for (int i = 0; i < plan->nactors; i++)
        for (int h = 1; h < R->nactors_cap; h++)
            if (R->actors[h] && ((plan->actors[i].origin && strcmp(R->actors[h]->name, plan->actors[i].origin) == 0) ||
                                 strcmp(R->actors[h]->name, plan->actors[i].name) == 0))
                p->actors[i] = (DaftActor)h;
    p->next = R->plans;
    R->plans = p;
    /* A dead actor: the plan cannot be loaded; calls give its death error (below). */
    bool all_alive = true;
    for (int i = 0; i < p->nactors; i++)
        all_alive &= daft_rt_actor_alive(R->rt, p->actors[i]);
    if (!all_alive)
        p->dropped = true; /* never loaded: calls give the death error (repl_call_compiled) */
    if (all_alive && daft_rt_plan_load(R->rt, plan, p->actors, p->nactors, &p->rt) != 0) {
        snprintf(err, errcap, "cannot load the plan of '%s': %s", sched->name, daft_rt_last_error(R->rt));
        p->dropped = true;
        p->rt = NULL;
        goto fail;
    }
    if (p->rt) {
        char *who = actor_list(R, p->actors, p->nactors);
        fprintf(R->out, "note: planned compiled schedule '%s' for %s (%d channel%s)\n", sched->name, who,
                plan->nchannels, plan->nchannels == 1 ? "" : "s");
        fflush(R->out);
        free(who);
        plans_evict(R, p, limit);
    }
    for (int i = 0; i < np; i++)
        free(own[i]);
    free(own);
    free(aa);
    free(na);
    return p;
fail:
    for (int i = 0; i < np; i++)
        free(own[i]);
    free(own);
    free(aa);
    free(na);
    free(key);
    return NULL;
}

DaftActor repl_plan_output_actor(const ReplPlan *p, int out) {
    const DaftPlan *plan = p->plan;
    int ch = out >= 0 && out < plan->noutputs ? plan->outputs[out].channel : -1;
    if (ch < 0 || plan->channels[ch].writer < 0)
        return 0;
    return p->actors[plan->channels[ch].writer];
}

/* The death error of a dead actor, as the runtime words it. */
/* The error a call on the dead actor h gives, named after the first method the plan calls
 * on it (pa: its part of the plan), as the same call in a compiled program would be. */
static DaftValue death_error(Repl *R, DaftActor h, const DaftPlanActor *pa) {
    ReplActor *a = repl_actor(R, h);
    DaftValue v = daft_value_none();
    DaftRef r;
    int method = -1;
    for (int k = 0; a && k < pa->nops && method < 0; k++)
        if (pa->ops[k].kind == DAFT_OP_CALL)
            method = daft_rt_method_index(R->rt, a->class_id, pa->ops[k].method);
    if (a && daft_rt_call(R->rt, h, method < 0 ? 0 : method, NULL, 0, &r) == 0) {
        daft_rt_get(R->rt, r, 2.0, &v);
        daft_rt_release(R->rt, r);
    }
    if (v.kind != DAFT_V_ERROR) {
        daft_value_free(&v);
        v = daft_value_error("actor '%s' (%s) is dead", a ? a->name : "?", a ? a->cls : "?");
    }
    return v;
}

/* The argument a plan input reads (trace.c's names): a parameter's ("x"; a list-typed data
 * parameter passed whole to a method: "xs"), or an item of a list-typed one ("xs[2]"). */
static const DaftValue *input_arg(const DaftNode *sched, const DaftValue *args, int nargs, const char *name) {
    for (int j = 0; name && j < sched->params.len && j < nargs; j++) {
        const char *pn = sched->params.items[j]->name;
        size_t n = strlen(pn);
        if (strncmp(name, pn, n) != 0)
            continue;
        if (name[n] == '\0')
            return &args[j];
        char *end;
        unsigned long k = name[n] == '[' ? strtoul(name + n + 1, &end, 10) : 0;
        if (name[n] == '[' && end[0] == ']' && end[1] == '\0' && args[j].kind == DAFT_V_LIST &&
            k < args[j].as.list.len)
            return &args[j].as.list.items[k];
    }
    return NULL;
}

int repl_call_compiled(Repl *R, const DaftModule *mod, DaftDiagEngine *diags, const DaftNode *sched,
                       const DaftValue *args, int nargs, const DaftType *ret_ty, DaftValue *out, char *err,
                       size_t errcap) {
    ReplPlan *p = repl_plan_for(R, mod, diags, sched, args, nargs, err, errcap);
    if (!p)
        return -1;
    DaftPlan *plan = p->plan;
    int nout = plan->noutputs;
    bool list_result = ret_ty && ret_ty->kind == DAFT_TY_LIST;
    const char *elem_ty = daft_type_str(mod->arena, list_result ? ret_ty->elem : ret_ty);
    int64_t exec = p->submitted;
    DaftValue fail_v = daft_value_none();
    for (int i = 0; i < p->nactors; i++)
        if (!daft_rt_actor_alive(R->rt, p->actors[i])) {
            fail_v = death_error(R, p->actors[i], &plan->actors[i]);
            break;
        }
    if (fail_v.kind == DAFT_V_NONE) {
        /* inputs in plan order; Ref arguments give their values (composition): a task's Ref
         * goes to the runtime as it is, which writes its value once ready (the call does not
         * wait for it); so does a compiled schedule's result Ref whose execution the runtime
         * has not returned yet (daft_rt_plan_output_ref); one returned already is read here */
        bool *release = calloc((size_t)plan->ninputs + 1, sizeof *release);
        DaftValue *in = calloc((size_t)plan->ninputs + 1, sizeof *in);
        for (int i = 0; i < plan->ninputs; i++) {
            in[i] = daft_value_none();
            const DaftValue *arg = input_arg(sched, args, nargs, plan->inputs[i].name);
            if (arg) {
                ReplRef *src = arg->kind == DAFT_V_REF && (arg->as.ref.id & REPL_PLAN_REF_BIT)
                                   ? repl_ref_find(R, arg->as.ref.id) : NULL;
                DaftRef fwd;
                if (src && !src->has_local && src->plan && src->plan->rt && src->exec >= src->plan->returned &&
                    daft_rt_plan_output_ref(R->rt, src->plan->rt, (uint64_t)(src->exec - src->plan->base), src->out,
                                            &fwd) == 0) {
                    src->observed = true; /* (passed on: its error goes on there) */
                    in[i] = daft_value_ref(fwd);
                    release[i] = true;
                } else if (arg->kind == DAFT_V_REF && (arg->as.ref.id & REPL_PLAN_REF_BIT)) {
                    int rc = repl_ref_get(R, arg->as.ref, -1, &in[i]);
                    if (rc == -100)
                        snprintf(err, errcap, "interrupted (Ctrl-C)");
                    if (rc != 0) {
                        for (int k = 0; k < i; k++) {
                            if (release[k])
                                daft_rt_release(R->rt, in[k].as.ref);
                            daft_value_free(&in[k]);
                        }
                        free(in);
                        free(release);
                        if (!err[0])
                            snprintf(err, errcap, "%s: cannot read argument '%s'", sched->name, plan->inputs[i].name);
                        return -1;
                    }
                } else {
                    daft_value_copy(&in[i], arg);
                }
            }
        }
        int rc;
        for (;;) {
            rc = daft_rt_plan_submit(R->rt, p->rt, in, plan->ninputs, 0.05);
            if (rc != DAFT_ETIMEDOUT)
                break;
            if (repl_interrupted) {
                repl_interrupted = 0;
                break;
            }
        }
        for (int i = 0; i < plan->ninputs; i++) {
            if (release[i])
                daft_rt_release(R->rt, in[i].as.ref); /* (the plan holds it until written) */
            daft_value_free(&in[i]);
        }
        free(in);
        free(release);
        if (rc == DAFT_ETIMEDOUT) {
            snprintf(err, errcap, "%s: interrupted (Ctrl-C) while waiting for a free execution slot", sched->name);
            return -1;
        }
        if (rc != 0) {
            fail_v = daft_value_error("compiled schedule '%s': %s", sched->name, daft_rt_last_error(R->rt));
        } else {
            p->submitted++;
        }
    }
    int nrefs = list_result ? nout : 1;
    DaftValue res = list_result ? daft_value_list((size_t)nrefs) : daft_value_none();
    for (int i = 0; i < nrefs; i++) {
        DaftRef r = {R->next_plan_ref++ | REPL_PLAN_REF_BIT, 0};
        char *prod = repl_printf("%s#%lld.%s", sched->name, (long long)exec + 1,
                                 i < nout ? plan->outputs[i].name : "result");
        repl_ref_note(R, r, prod, elem_ty, fail_v.kind == DAFT_V_NONE ? p : NULL, exec, i);
        free(prod);
        if (fail_v.kind != DAFT_V_NONE) {
            repl_ref_find(R, r.id)->owner = repl_plan_output_actor(p, i); /* for collectives */
            DaftValue e = daft_value_none();
            daft_value_copy(&e, &fail_v);
            repl_ref_set_local(R, r.id, &e);
        }
        if (list_result)
            res.as.list.items[i] = daft_value_ref(r);
        else
            res = daft_value_ref(r);
    }
    daft_value_free(&fail_v);
    *out = res;
    return 0;
}

void repl_plans_free(Repl *R) {
    for (ReplPlan *p = R->plans, *n; p; p = n) {
        n = p->next;
        /* SPEC 15.7: the executions still running finish first, for up to 5 s, and then also
         * their calls that feed no output (daft_rt_plan_finish) */
        double deadline = repl_now() + 5.0;
        while (p->rt && p->returned < p->submitted && repl_now() < deadline) {
            DaftValue v;
            if (repl_plan_output(R, p, p->returned, 0, 0.1, &v) == 0)
                daft_value_free(&v);
        }
        if (p->rt && p->returned == p->submitted)
            daft_rt_plan_finish(R->rt, p->rt);
        else if (p->rt)
            daft_rt_plan_unload(R->rt, p->rt);
        for (int64_t i = 0; i < p->returned * p->plan->noutputs; i++)
            daft_value_free(&p->results[i]);
        free(p->results);
        daft_plan_free(p->plan);
        free(p->schedule);
        free(p->key);
        free(p->actors);
        free(p);
    }
    R->plans = NULL;
}
