/* rt_stats.c — channel and transfer statistics (DAFT_STATS, SPEC §15.8).
 *
 * Every process counts what it sends and receives in rows of its own context object
 * (DaftRt.stats): a compiled plan's channel ends (messages, bytes, time in the write, time
 * a read waited for its value), its collectives, and the interpreted side (calls, results,
 * Ref transfers between actors). An actor sends its rows to the driver when it stops
 * (RT_M_STATS); the driver adds them to its own and, at shutdown, prints one table on
 * stderr or writes it as JSON. Counting costs nothing when DAFT_STATS is unset: every hook
 * first tests `on`.
 *
 * Bytes are the values' data (a tensor's elements, a string's bytes, 8 for a number), the
 * same whatever the transport, not the framing around them. A row is named only at the
 * end, by the driver, which recorded at each plan load who writes and reads each channel
 * and over what: rows of one plan loaded again (after a failure, say) add up under one
 * name. */
#define _GNU_SOURCE
#include "rt_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void rt_stats_init(RtStats *s)
{
    const char *e = getenv("DAFT_STATS");
    memset(s, 0, sizeof *s);
    if (!e || !*e || !strcmp(e, "0"))
        return;
    s->on = strcmp(e, "1") ? RT_STATS_JSON : RT_STATS_TABLE;
    if (s->on == RT_STATS_JSON)
        rt_fmt(s->path, sizeof s->path, "%s", e);
}

/* A forked actor starts with no rows of the driver's. */
void rt_stats_restart(RtStats *s)
{
    free(s->rows);
    for (int i = 0; i < s->nplans; i++)
        free(s->plans[i].labels);
    free(s->plans);
    RtStatsMode on = s->on;
    char path[sizeof s->path];
    memcpy(path, s->path, sizeof path);
    memset(s, 0, sizeof *s);
    s->on = on;
    memcpy(s->path, path, sizeof path);
}

void rt_stats_free(RtStats *s) { rt_stats_restart(s); }

uint64_t rt_stats_value_bytes(const DaftValue *v)
{
    switch (v->kind) {
    case DAFT_V_I64:
    case DAFT_V_F64: return 8;
    case DAFT_V_BOOL: return 1;
    case DAFT_V_STR: return v->as.str.len;
    case DAFT_V_TENSOR: return daft_tensor_nbytes(&v->as.tensor);
    case DAFT_V_LIST: {
        uint64_t n = 0;
        for (size_t i = 0; i < v->as.list.len; i++)
            n += rt_stats_value_bytes(&v->as.list.items[i]);
        return n;
    }
    default: return 0; /* none, errors, Refs: no data */
    }
}

static RtStatRow *rt_stats_row(RtStats *s, const RtStatRow *key)
{
    for (int i = 0; i < s->nrows; i++) {
        RtStatRow *r = &s->rows[i];
        if (r->kind == key->kind && r->from == key->from && r->plan == key->plan &&
            r->index == key->index && r->peer == key->peer)
            return r;
    }
    if (s->nrows == s->cap) {
        int cap = s->cap ? 2 * s->cap : 32;
        RtStatRow *rows = realloc(s->rows, (size_t)cap * sizeof *rows);
        if (!rows)
            return NULL;
        s->rows = rows;
        s->cap = cap;
    }
    RtStatRow *r = &s->rows[s->nrows++];
    *r = *key;
    r->n = r->bytes = r->ns = 0;
    return r;
}

void rt_stats_add(RtStats *s, RtStatKind kind, uint32_t from, uint32_t plan, uint32_t index,
                  uint32_t peer, uint64_t bytes, int64_t ns)
{
    RtStatRow key = {kind, from, plan, index, peer, 0, 0, 0};
    RtStatRow *r = rt_stats_row(s, &key);
    if (!r)
        return;
    r->n++;
    r->bytes += bytes;
    r->ns += ns > 0 ? (uint64_t)ns : 0;
}

/* ---------------------------------------------------------------- actor -> driver */

void rt_stats_put(const RtStats *s, RtBuf *m)
{
    rt_buf_u32(m, RT_M_STATS);
    rt_buf_u32(m, (uint32_t)s->nrows);
    for (int i = 0; i < s->nrows; i++) {
        const RtStatRow *r = &s->rows[i];
        rt_buf_u32(m, r->kind);
        rt_buf_u32(m, r->from);
        rt_buf_u32(m, r->plan);
        rt_buf_u32(m, r->index);
        rt_buf_u32(m, r->peer);
        rt_buf_u64(m, r->n);
        rt_buf_u64(m, r->bytes);
        rt_buf_u64(m, r->ns);
    }
}

/* Adds the rows an actor sent (after its message type). A malformed message adds what it
 * holds up to the damage: statistics are never worth an error. */
void rt_stats_take(RtStats *s, RtRd *rd)
{
    uint32_t n = rt_rd_u32(rd);
    for (uint32_t i = 0; i < n && !rd->bad; i++) {
        RtStatRow key = {0};
        key.kind = rt_rd_u32(rd);
        key.from = rt_rd_u32(rd);
        key.plan = rt_rd_u32(rd);
        key.index = rt_rd_u32(rd);
        key.peer = rt_rd_u32(rd);
        uint64_t cnt = rt_rd_u64(rd), bytes = rt_rd_u64(rd), ns = rt_rd_u64(rd);
        RtStatRow *r = rd->bad || key.kind >= RT_STAT_NKINDS ? NULL : rt_stats_row(s, &key);
        if (r) {
            r->n += cnt;
            r->bytes += bytes;
            r->ns += ns;
        }
    }
}

/* ---------------------------------------------------------------- names (driver) */

/* Records what plan `id` calls channel c (plan channels) and group g (collectives), for
 * naming rows at the end. labels: nchannels + ngroups strings of RT_STAT_LABEL bytes. */
void rt_stats_plan(RtStats *s, uint32_t id, int nchannels, int ngroups, char (*labels)[RT_STAT_LABEL])
{
    RtStatPlan *plans = realloc(s->plans, (size_t)(s->nplans + 1) * sizeof *plans);
    if (!plans) {
        free(labels);
        return;
    }
    s->plans = plans;
    s->plans[s->nplans++] = (RtStatPlan){id, nchannels, ngroups, labels};
}

static const char *rt_stats_label(const RtStats *s, uint32_t plan, uint32_t index, bool group)
{
    for (int i = 0; i < s->nplans; i++) {
        const RtStatPlan *p = &s->plans[i];
        if (p->id != plan)
            continue;
        if (!group && index < (uint32_t)p->nchannels)
            return p->labels[index];
        if (group && index < (uint32_t)p->ngroups)
            return p->labels[p->nchannels + (int)index];
    }
    return NULL;
}

/* ---------------------------------------------------------------- the report (driver) */

/* One line of the report: a name and what adds up under it. */
typedef struct RtStatLine {
    int section;
    uint32_t plan, index;        /* where it first came from: the report's order */
    char name[RT_STAT_LABEL];
    uint64_t n, bytes;           /* messages (values, calls) and their bytes */
    uint64_t ns, wait_ns;        /* writer's (or the operation's) time; readers' waits */
} RtStatLine;

enum { RT_SEC_CHANNELS, RT_SEC_COLLECTIVES, RT_SEC_CALLS, RT_SEC_RESULTS, RT_SEC_TRANSFERS, RT_SEC_N };

static const char *const rt_sec_title[RT_SEC_N] = {
    "compiled channels", "compiled collectives", "calls (interpreted)",
    "results (interpreted)", "Ref transfers (interpreted)",
};
static const char *const rt_sec_json[RT_SEC_N] = {
    "channels", "collectives", "calls", "results", "transfers",
};

static RtStatLine *rt_stats_line(RtStatLine **lines, int *n, int section, const char *name,
                                  const RtStatRow *r)
{
    for (int i = 0; i < *n; i++)
        if ((*lines)[i].section == section && !strcmp((*lines)[i].name, name))
            return &(*lines)[i];
    RtStatLine *l = realloc(*lines, (size_t)(*n + 1) * sizeof *l);
    if (!l)
        return NULL;
    *lines = l;
    l = &l[(*n)++];
    memset(l, 0, sizeof *l);
    l->section = section;
    l->plan = r->plan;
    l->index = r->kind == RT_STAT_XFER ? r->from : r->index;
    rt_fmt(l->name, sizeof l->name, "%s", name);
    return l;
}

static const char *rt_stats_actor(const DaftRt *rt, uint32_t a)
{
    return a == 0 ? "driver" : a <= (uint32_t)rt->nactors ? rt->actors[a]->name : "?";
}

static const char *const rt_transport_names[] = {"shm", "tcp", "nccl"};

/* Which line row r adds to, and how. */
static void rt_stats_fold(const DaftRt *rt, const RtStatRow *r, RtStatLine **lines, int *n)
{
    char name[RT_STAT_LABEL];
    int sec;
    const char *label;
    switch ((RtStatKind)r->kind) {
    case RT_STAT_WRITE:
    case RT_STAT_READ:
        sec = RT_SEC_CHANNELS;
        label = rt_stats_label(&rt->stats, r->plan, r->index, false);
        rt_fmt(name, sizeof name, "%s", label ? label : "(unknown plan)");
        break;
    case RT_STAT_COLL:
        sec = RT_SEC_COLLECTIVES;
        label = rt_stats_label(&rt->stats, r->plan, r->index, true);
        rt_fmt(name, sizeof name, "%s", label ? label : "(unknown plan)");
        break;
    case RT_STAT_CALL:
        sec = RT_SEC_CALLS;
        rt_fmt(name, sizeof name, "driver -> %s", rt_stats_actor(rt, r->peer));
        break;
    case RT_STAT_RESULT:
        sec = RT_SEC_RESULTS;
        rt_fmt(name, sizeof name, "%s -> driver", rt_stats_actor(rt, r->peer));
        break;
    case RT_STAT_XFER:
        sec = RT_SEC_TRANSFERS;
        rt_fmt(name, sizeof name, "%s -> %s (%s)", rt_stats_actor(rt, r->from),
               rt_stats_actor(rt, r->peer), r->index < 3 ? rt_transport_names[r->index] : "?");
        break;
    default: return;
    }
    RtStatLine *l = rt_stats_line(lines, n, sec, name, r);
    if (!l)
        return;
    if (r->kind == RT_STAT_READ) { /* the writer counts the messages; readers their waits */
        l->wait_ns += r->ns;
        return;
    }
    if (r->kind == RT_STAT_COLL) { /* every member counts each call: keep one member's count */
        l->n = r->n > l->n ? r->n : l->n;
        l->bytes += r->bytes;
        l->ns += r->ns;
        return;
    }
    l->n += r->n;
    l->bytes += r->bytes;
    l->ns += r->ns;
}

/* Sections in order; in one, plans in the order they were loaded, channels by number. */
static int rt_stats_line_cmp(const void *a, const void *b)
{
    const RtStatLine *x = a, *y = b;
    if (x->section != y->section)
        return x->section - y->section;
    if (x->plan != y->plan)
        return x->plan < y->plan ? -1 : 1;
    if (x->index != y->index)
        return x->index < y->index ? -1 : 1;
    return strcmp(x->name, y->name);
}

static void rt_stats_bytes_str(uint64_t b, char *out, size_t cap)
{
    if (b < 1024)
        rt_fmt(out, cap, "%llu B", (unsigned long long)b);
    else if (b < 1024 * 1024)
        rt_fmt(out, cap, "%.1f KiB", b / 1024.0);
    else if (b < 1024ull * 1024 * 1024)
        rt_fmt(out, cap, "%.1f MiB", b / (1024.0 * 1024));
    else
        rt_fmt(out, cap, "%.2f GiB", b / (1024.0 * 1024 * 1024));
}

static void rt_stats_table(FILE *f, const RtStatLine *lines, int n)
{
    fprintf(f, "daft: statistics (DAFT_STATS); times in ms\n");
    for (int sec = 0; sec < RT_SEC_N; sec++) {
        bool any = false;
        for (int i = 0; i < n; i++) {
            const RtStatLine *l = &lines[i];
            if (l->section != sec)
                continue;
            if (!any) {
                if (sec == RT_SEC_CHANNELS)
                    fprintf(f, "  %-58s %9s %11s %9s %13s\n", rt_sec_title[sec], "messages",
                            "bytes", "writer ms", "readers wait");
                else if (sec == RT_SEC_COLLECTIVES)
                    fprintf(f, "  %-58s %9s %11s %9s\n", rt_sec_title[sec], "calls", "bytes",
                            "ms");
                else if (sec == RT_SEC_TRANSFERS)
                    fprintf(f, "  %-58s %9s %11s %9s\n", rt_sec_title[sec], "values", "bytes",
                            "ms");
                else
                    fprintf(f, "  %-58s %9s %11s\n", rt_sec_title[sec],
                            sec == RT_SEC_CALLS ? "calls" : "values", "bytes");
                any = true;
            }
            char b[32];
            rt_stats_bytes_str(l->bytes, b, sizeof b);
            fprintf(f, "    %-56s %9llu %11s", l->name, (unsigned long long)l->n, b);
            if (sec == RT_SEC_CHANNELS)
                fprintf(f, " %9.3f %13.3f\n", l->ns / 1e6, l->wait_ns / 1e6);
            else if (sec == RT_SEC_COLLECTIVES || sec == RT_SEC_TRANSFERS)
                fprintf(f, " %9.3f\n", l->ns / 1e6);
            else
                fprintf(f, "\n");
        }
    }
}

static void rt_json_text(FILE *f, const char *s)
{
    RtBuf b = {0};
    rt_json_str(&b, s);
    fprintf(f, "\"%.*s\"", (int)b.len, b.p ? (const char *)b.p : "");
    rt_buf_free(&b);
}

static void rt_stats_json(FILE *f, const RtStatLine *lines, int n)
{
    fprintf(f, "{");
    for (int sec = 0; sec < RT_SEC_N; sec++) {
        fprintf(f, "%s\n  \"%s\": [", sec ? "," : "", rt_sec_json[sec]);
        bool first = true;
        for (int i = 0; i < n; i++) {
            const RtStatLine *l = &lines[i];
            if (l->section != sec)
                continue;
            fprintf(f, "%s\n    {\"name\": ", first ? "" : ",");
            rt_json_text(f, l->name);
            fprintf(f, ", \"%s\": %llu, \"bytes\": %llu",
                    sec == RT_SEC_CHANNELS ? "messages" : sec <= RT_SEC_CALLS ? "calls" : "values",
                    (unsigned long long)l->n, (unsigned long long)l->bytes);
            if (sec == RT_SEC_CHANNELS)
                fprintf(f, ", \"writer_ms\": %.6f, \"readers_wait_ms\": %.6f", l->ns / 1e6,
                        l->wait_ns / 1e6);
            else if (sec == RT_SEC_COLLECTIVES || sec == RT_SEC_TRANSFERS)
                fprintf(f, ", \"ms\": %.6f", l->ns / 1e6);
            fprintf(f, "}");
            first = false;
        }
        fprintf(f, "%s]", first ? "" : "\n  ");
    }
    fprintf(f, "\n}\n");
}

void rt_stats_report(const DaftRt *rt)
{
    const RtStats *s = &rt->stats;
    if (!s->on)
        return;
    RtStatLine *lines = NULL;
    int n = 0;
    for (int i = 0; i < s->nrows; i++)
        rt_stats_fold(rt, &s->rows[i], &lines, &n);
    if (n)
        qsort(lines, (size_t)n, sizeof *lines, rt_stats_line_cmp);
    if (s->on == RT_STATS_TABLE) {
        rt_stats_table(stderr, lines, n);
    } else {
        FILE *f = fopen(s->path, "w");
        if (!f)
            rt_log("cannot write the statistics to '%s': %s", s->path, strerror(errno));
        else {
            rt_stats_json(f, lines, n);
            if (fclose(f))
                rt_log("cannot write the statistics to '%s': %s", s->path, strerror(errno));
        }
    }
    free(lines);
}
