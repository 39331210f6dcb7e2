/* repl_refs.c — the Refs the session created: their producers (for display and
 * messages), waiting with Ctrl-C, and releasing those no binding holds (repl.h). */
#include "repl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SLICE_S 0.05 /* blocking waits wake this often to notice Ctrl-C */

void repl_ref_note(Repl *R, DaftRef r, const char *producer, const char *type, ReplPlan *plan, int64_t exec,
                   int out) {
    if (R->nrefs == R->refs_cap) {
        R->refs_cap = R->refs_cap ? R->refs_cap * 2 : 64;
        R->refs = realloc(R->refs, sizeof *R->refs * (size_t)R->refs_cap);
    }
    ReplRef *rf = &R->refs[R->nrefs++];
    memset(rf, 0, sizeof *rf);
    rf->id = r.id;
    rf->owner = r.owner;
    rf->producer = repl_strdup(producer);
    rf->type = repl_strdup(type ? type : "Ref");
    rf->plan = plan;
    rf->exec = exec;
    rf->out = out;
    rf->local = daft_value_none();
}

ReplRef *repl_ref_find(Repl *R, uint64_t id) {
    for (int i = R->nrefs - 1; i >= 0; i--)
        if (R->refs[i].id == id)
            return &R->refs[i];
    return NULL;
}

void repl_ref_set_local(Repl *R, uint64_t id, DaftValue *v) {
    ReplRef *rf = repl_ref_find(R, id);
    if (!rf)
        return;
    daft_value_free(&rf->local);
    rf->local = *v;
    *v = daft_value_none();
    rf->has_local = true;
    rf->plan = NULL;
}

/* SPEC 14.3: a wait that lasts is never silent. The waits here go in slices (Ctrl-C), each
 * a fresh wait of the runtime's that would report only after DAFT_WAIT_REPORT of its own:
 * they report themselves, at DAFT_WAIT_REPORT, then every twice that. */
double repl_wait_report_due(Repl *R, double t0, double *report_at) {
    double every = daft_rt_wait_report_s(R->rt);
    if (every <= 0)
        return 0;
    if (*report_at <= 0)
        *report_at = t0 + every;
    if (repl_now() < *report_at)
        return 0;
    double waited = *report_at - t0; /* (nominal: 1, 3, 5... x every) */
    *report_at += 2 * every;
    return waited;
}

int repl_ref_get(Repl *R, DaftRef r, double timeout_s, DaftValue *out) {
    return repl_ref_get_for(R, r, timeout_s, "get", out);
}

int repl_ref_get_for(Repl *R, DaftRef r, double timeout_s, const char *op, DaftValue *out) {
    *out = daft_value_none();
    double t0 = repl_now(), report_at = 0, waited;
    double deadline = timeout_s < 0 ? -1 : t0 + timeout_s;
    if (r.id & REPL_PLAN_REF_BIT) {
        ReplRef *rf = repl_ref_find(R, r.id);
        if (!rf)
            return DAFT_EINVAL;
        rf->observed = true;
        daft_rt_error_observed(R->rt, &rf->local);
        if (rf->has_local)
            return daft_value_copy(out, &rf->local) == 0 ? 0 : DAFT_ENOMEM;
        if (!rf->plan)
            return DAFT_EINVAL;
        for (;;) {
            int rc = repl_plan_output(R, rf->plan, rf->exec, rf->out, SLICE_S, out);
            if (rc == 0)
                daft_rt_error_observed(R->rt, out);
            if (rc != DAFT_ETIMEDOUT)
                return rc;
            if (repl_interrupted) {
                repl_interrupted = 0;
                return -100;
            }
            if (deadline >= 0 && repl_now() >= deadline)
                return DAFT_ETIMEDOUT;
            if ((waited = repl_wait_report_due(R, t0, &report_at)) > 0 && rf->plan->rt)
                daft_rt_plan_report_wait(rf->plan->rt, waited);
        }
    }
    for (;;) {
        double slice = SLICE_S;
        if (deadline >= 0 && deadline - repl_now() < slice)
            slice = deadline - repl_now() > 0 ? deadline - repl_now() : 0;
        int rc = daft_rt_get_for(R->rt, r, slice, op, out);
        if (rc != DAFT_ETIMEDOUT)
            return rc;
        if (repl_interrupted) {
            repl_interrupted = 0;
            return -100;
        }
        if (deadline >= 0 && repl_now() >= deadline)
            return DAFT_ETIMEDOUT;
        if ((waited = repl_wait_report_due(R, t0, &report_at)) > 0)
            daft_rt_report_wait(R->rt, op, r, waited, NULL);
    }
}

int repl_ref_ready(Repl *R, DaftRef r) {
    if (r.id & REPL_PLAN_REF_BIT) {
        ReplRef *rf = repl_ref_find(R, r.id);
        if (!rf || rf->has_local || !rf->plan)
            return 1;
        DaftValue v;
        int rc = repl_plan_output(R, rf->plan, rf->exec, rf->out, 0, &v);
        daft_value_free(&v);
        return rc != DAFT_ETIMEDOUT;
    }
    int n = daft_rt_wait(R->rt, &r, 1, 1, 0, NULL);
    return n != 0; /* ready, or an unknown Ref (nothing to wait for) */
}

int repl_ref_failed(Repl *R, DaftRef r) {
    ReplRef *rf = repl_ref_find(R, r.id);
    if (!rf || (!rf->has_local && !rf->plan))
        return 1; /* (an unknown Ref: its get says so at once) */
    if (rf->has_local)
        return rf->local.kind == DAFT_V_ERROR;
    ReplPlan *p = rf->plan;
    if (p->returned <= rf->exec && !repl_ref_ready(R, r))
        return 0;
    if (p->returned <= rf->exec)
        return 1; /* (dropped before it finished: its get is that error) */
    return p->results[rf->exec * p->plan->noutputs + rf->out].kind == DAFT_V_ERROR;
}

const char *repl_ref_state(Repl *R, const ReplRef *rf, char *buf, size_t cap) {
    DaftRef r = {rf->id, rf->owner};
    if (!repl_ref_ready(R, r)) {
        snprintf(buf, cap, "pending");
        return buf;
    }
    DaftValue v;
    int rc = repl_ref_get(R, r, 0, &v);
    if (rc != 0)
        snprintf(buf, cap, "released");
    else if (v.kind == DAFT_V_ERROR)
        snprintf(buf, cap, "error: %s", v.as.error.msg);
    else
        snprintf(buf, cap, "ready");
    daft_value_free(&v);
    return buf;
}

static void mark(const DaftValue *v, uint64_t **ids, size_t *n, size_t *cap) {
    if (v->kind == DAFT_V_REF) {
        if (*n == *cap) {
            *cap = *cap ? *cap * 2 : 32;
            *ids = realloc(*ids, sizeof **ids * *cap);
        }
        (*ids)[(*n)++] = v->as.ref.id;
    } else if (v->kind == DAFT_V_LIST) {
        for (size_t i = 0; i < v->as.list.len; i++)
            mark(&v->as.list.items[i], ids, n, cap);
    }
}

static int cmp_id(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Releases the Refs from index `since` on that none of `slots` (nor, with binds, a
 * binding) holds, once they are ready (pending ones count as their actor's pending tasks). */
static void collect(Repl *R, int since, bool binds, const DaftValue *slots, int nslots) {
    uint64_t *ids = NULL;
    size_t n = 0, cap = 0;
    for (int i = 0; binds && i < R->nbinds; i++)
        mark(&R->binds[i].val, &ids, &n, &cap);
    for (int i = 0; i < nslots; i++)
        mark(&slots[i], &ids, &n, &cap);
    if (n)
        qsort(ids, n, sizeof *ids, cmp_id);
    int k = since;
    for (int i = since; i < R->nrefs; i++) {
        ReplRef *rf = &R->refs[i];
        bool held = n && bsearch(&rf->id, ids, n, sizeof *ids, cmp_id);
        rf->released = !held;
        /* unheld Refs are kept while pending (they count as the actor's pending tasks) */
        if (!held && repl_ref_ready(R, (DaftRef){rf->id, rf->owner})) {
            if (!(rf->id & REPL_PLAN_REF_BIT)) {
                daft_rt_release(R->rt, (DaftRef){rf->id, rf->owner}); /* (reports an unseen error) */
            } else {
                DaftValue *res = rf->has_local ? &rf->local
                               : rf->plan && rf->exec < rf->plan->returned && rf->out < rf->plan->plan->noutputs
                                   ? &rf->plan->results[rf->exec * rf->plan->plan->noutputs + rf->out]
                                   : NULL;
                if (res && res->kind == DAFT_V_ERROR && !rf->observed) /* (SPEC 14.2) */
                    daft_rt_warn_unobserved(R->rt, res->as.error.msg);
                if (res && res != &rf->local)
                    daft_value_free(res);
            }
            free(rf->producer);
            free(rf->type);
            daft_value_free(&rf->local);
            continue;
        }
        R->refs[k++] = *rf;
    }
    R->nrefs = k;
    free(ids);
}

void repl_refs_collect(Repl *R) { collect(R, 0, true, NULL, 0); }

/* At the end of the session: compiled schedules' result Refs still here (bound, or released
 * while their execution ran) whose error nobody observed are reported (SPEC 14.2, 15.7; the
 * runtime reports task Refs at its shutdown). Running executions get up to 5 s. */
void repl_refs_report_end(Repl *R) {
    double end = repl_now() + 5;
    for (int i = 0; i < R->nrefs; i++) {
        ReplRef *rf = &R->refs[i];
        if (!(rf->id & REPL_PLAN_REF_BIT) || rf->observed || (!rf->has_local && !rf->plan))
            continue;
        DaftValue v = daft_value_none();
        double left = end - repl_now();
        int rc = rf->has_local ? daft_value_copy(&v, &rf->local)
                               : repl_plan_output(R, rf->plan, rf->exec, rf->out, left > 0 ? left : 0, &v);
        if (rc == 0 && v.kind == DAFT_V_ERROR)
            daft_rt_warn_unobserved(R->rt, v.as.error.msg);
        rf->observed = true;
        daft_value_free(&v);
    }
}

/* After an iteration of a loop statement: the Refs made since the loop began that the
 * frame's variables no longer hold. (Refs made before it may be held by an expression
 * still being evaluated around the loop: they wait for the end of the input. Bindings
 * change only when an input ends: they cannot hold the loop's Refs.) Run once enough new
 * Refs have come (*next), at least 8 and as many as survived the last time, so that a
 * loop whose Refs stay pending costs linear time, not quadratic. */
void repl_refs_collect_loop(Repl *R, int since, int *next, const DaftValue *slots, int nslots) {
    if (since < 0 || R->nrefs < *next)
        return;
    daft_rt_poll(R->rt); /* results that arrived meanwhile: their Refs are ready */
    collect(R, since, false, slots, nslots);
    int kept = R->nrefs - since;
    *next = R->nrefs + (kept > 8 ? kept : 8);
}
