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
    free(s->hash);
    for (int i = 0; i < s->nplans; i++) {
        for (int k = 0; k < s->plans[i].nchannels + s->plans[i].ngroups; k++)
            free(s->plans[i].labels[k]);
        free(s->plans[i].labels);
    }
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

static uint32_t rt_stats_hash(const RtStatRow *k)
{
    uint32_t h = 2166136261u; /* FNV-1a over the key's fields */
    const uint32_t f[5] = {k->kind, k->from, k->plan, k->index, k->peer};
    for (int i = 0; i < 5; i++)
        h = (h ^ f[i]) * 16777619u;
    return h;
}

static bool rt_stats_same(const RtStatRow *a, const RtStatRow *b)
{
    return a->kind == b->kind && a->from == b->from && a->plan == b->plan &&
           a->index == b->index && a->peer == b->peer;
}

/* Places row i in the hash (open addressing; slots hold row index + 1). */
static void rt_stats_hash_put(RtStats *s, int i)
{
    uint32_t m = (uint32_t)s->hcap - 1, h = rt_stats_hash(&s->rows[i]) & m;
    while (s->hash[h])
        h = (h + 1) & m;
    s->hash[h] = i + 1;
}

/* The row of key's fields, made (with zero counts) if there is none yet; NULL when out of
 * memory. A lookup per message, so hashed: a long program reloads plans and piles up rows. */
static RtStatRow *rt_stats_row(RtStats *s, const RtStatRow *key)
{
    if (s->hcap) {
        uint32_t m = (uint32_t)s->hcap - 1;
        for (uint32_t h = rt_stats_hash(key) & m; s->hash[h]; h = (h + 1) & m)
            if (rt_stats_same(&s->rows[s->hash[h] - 1], key))
                return &s->rows[s->hash[h] - 1];
    }
    if (s->nrows == s->cap) {
        int cap = s->cap ? 2 * s->cap : 32;
        RtStatRow *rows = realloc(s->rows, (size_t)cap * sizeof *rows);
        int *hash = calloc((size_t)cap * 2, sizeof *hash);
        if (!rows || !hash) {
            if (rows)
                s->rows = rows;
            free(hash);
            return NULL;
        }
        s->rows = rows;
        s->cap = cap;
        free(s->hash);
        s->hash = hash;
        s->hcap = cap * 2;
        for (int i = 0; i < s->nrows; i++)
            rt_stats_hash_put(s, i);
    }
    RtStatRow *r = &s->rows[s->nrows];
    *r = *key;
    r->n = r->bytes = r->ns = 0;
    rt_stats_hash_put(s, s->nrows++);
    return r;
}

void rt_stats_add(RtStats *s, RtStatKind kind, uint32_t from, uint32_t plan, uint32_t index,
                  uint32_t peer, uint64_t count, uint64_t bytes, int64_t ns)
{
    RtStatRow key = {kind, from, plan, index, peer, 0, 0, 0};
    RtStatRow *r = rt_stats_row(s, &key);
    if (!r)
        return;
    r->n += count;
    r->bytes += bytes;
    r->ns += ns > 0 ? (uint64_t)ns : 0;
}

/* The driver sent actor a a call (or its constructor's) with these arguments: a Ref's value
 * is not the driver's to send (it goes from its owner: a transfer, or a result). */
void rt_stats_call(DaftRt *rt, uint32_t a, const DaftValue *args, int nargs)
{
    uint64_t bytes = 0;
    for (int i = 0; i < nargs; i++)
        bytes += rt_stats_value_bytes(&args[i]);
    rt_stats_add(&rt->stats, RT_STAT_CALL, 0, 0, 0, a, 1, bytes, 0);
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

/* Records what plan `id` calls its channels and groups, for naming rows at the end: labels
 * holds nchannels + ngroups malloc'd strings (taken, with the array). */
void rt_stats_plan(RtStats *s, uint32_t id, int nchannels, int ngroups, char **labels)
{
    RtStatPlan *plans = realloc(s->plans, (size_t)(s->nplans + 1) * sizeof *plans);
    if (!plans) {
        for (int k = 0; k < nchannels + ngroups; k++)
            free(labels[k]);
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
    uint32_t plan, index, peer;  /* where it first came from: the report's order */
    char *name;
    uint64_t n, bytes;           /* values delivered (calls) and their bytes */
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

typedef struct RtStatLines {
    RtStatLine *v;
    int n;
} RtStatLines;

/* The line of that name in that section, made (ordered by plan, index, peer) if there is
 * none yet. */
static RtStatLine *rt_stats_line(RtStatLines *ls, int section, const char *name,
                                  uint32_t plan, uint32_t index, uint32_t peer)
{
    for (int i = 0; i < ls->n; i++)
        if (ls->v[i].section == section && !strcmp(ls->v[i].name, name))
            return &ls->v[i];
    RtStatLine *v = realloc(ls->v, (size_t)(ls->n + 1) * sizeof *v);
    char *copy = strdup(name);
    if (!v || !copy) {
        if (v)
            ls->v = v;
        free(copy);
        return NULL;
    }
    ls->v = v;
    RtStatLine *l = &v[ls->n++];
    memset(l, 0, sizeof *l);
    l->section = section;
    l->plan = plan;
    l->index = index;
    l->peer = peer;
    l->name = copy;
    return l;
}

static const char *rt_stats_actor(const DaftRt *rt, uint32_t a)
{
    return a == 0 ? "driver" : a <= (uint32_t)rt->nactors ? rt->actors[a]->name : "?";
}

static const char *const rt_transport_names[] = {"shm", "tcp", "nccl"};

/* Adds row r to its line. */
static void rt_stats_fold(const DaftRt *rt, const RtStatRow *r, RtStatLines *ls)
{
    char name[256];
    const char *label = name;
    int sec;
    uint32_t index = r->index, peer = r->peer;
    switch ((RtStatKind)r->kind) {
    case RT_STAT_WRITE:
    case RT_STAT_READ:
    case RT_STAT_COLL:
        sec = r->kind == RT_STAT_COLL ? RT_SEC_COLLECTIVES : RT_SEC_CHANNELS;
        label = rt_stats_label(&rt->stats, r->plan, r->index, r->kind == RT_STAT_COLL);
        if (!label)
            label = "(a plan the driver did not name)";
        break;
    case RT_STAT_CALL:
        sec = RT_SEC_CALLS;
        rt_fmt(name, sizeof name, "driver -> %s", rt_stats_actor(rt, r->peer));
        index = r->peer;
        break;
    case RT_STAT_RESULT:
        sec = RT_SEC_RESULTS;
        rt_fmt(name, sizeof name, "%s -> driver", rt_stats_actor(rt, r->peer));
        index = r->peer;
        break;
    case RT_STAT_XFER:
        sec = RT_SEC_TRANSFERS;
        rt_fmt(name, sizeof name, "%s -> %s (%s)", rt_stats_actor(rt, r->from),
               rt_stats_actor(rt, r->peer), r->index < 3 ? rt_transport_names[r->index] : "?");
        index = r->from;
        break;
    default: return;
    }
    RtStatLine *l = rt_stats_line(ls, sec, label, r->plan, index, peer);
    if (!l)
        return;
    if (r->kind == RT_STAT_READ) { /* the writer counts the values; readers their waits */
        l->wait_ns += r->ns;
        return;
    }
    l->n += r->n;
    l->bytes += r->bytes;
    l->ns += r->ns;
}

/* A plan's channels and groups all have lines, traffic or not, in the plan's order. */
static void rt_stats_named_lines(const RtStats *s, RtStatLines *ls)
{
    for (int i = 0; i < s->nplans; i++) {
        const RtStatPlan *p = &s->plans[i];
        for (int k = 0; k < p->nchannels + p->ngroups; k++) {
            bool group = k >= p->nchannels;
            rt_stats_line(ls, group ? RT_SEC_COLLECTIVES : RT_SEC_CHANNELS, p->labels[k], p->id,
                          (uint32_t)(group ? k - p->nchannels : k), 0);
        }
    }
}

/* Every member of a collective counts each call: one row per (plan, group) first, with the
 * most calls a member counted, its members' bytes and times added (loads of one plan then
 * add up like other rows). Returns the rows to fold (malloc'd), *n set. */
static RtStatRow *rt_stats_members_merged(const RtStats *s, int *n)
{
    RtStatRow *rows = malloc((size_t)s->nrows * sizeof *rows + 1);
    int m = 0;
    for (int i = 0; rows && i < s->nrows; i++) {
        const RtStatRow *r = &s->rows[i];
        int k = m;
        for (int j = 0; r->kind == RT_STAT_COLL && j < m && k == m; j++)
            if (rows[j].kind == RT_STAT_COLL && rows[j].plan == r->plan && rows[j].index == r->index)
                k = j;
        if (k == m) {
            rows[m++] = *r;
            continue;
        }
        rows[k].n = r->n > rows[k].n ? r->n : rows[k].n;
        rows[k].bytes += r->bytes;
        rows[k].ns += r->ns;
    }
    *n = m;
    return rows;
}

/* Sections in order; in one, plans in the order they were loaded, channels by number,
 * actors by id. */
static int rt_stats_line_cmp(const void *a, const void *b)
{
    const RtStatLine *x = a, *y = b;
    if (x->section != y->section)
        return x->section - y->section;
    if (x->plan != y->plan)
        return x->plan < y->plan ? -1 : 1;
    if (x->index != y->index)
        return x->index < y->index ? -1 : 1;
    if (x->peer != y->peer)
        return x->peer < y->peer ? -1 : 1;
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

/* Numbers first, the name last: a name may be long (a plan of many actors), and the
 * columns stay lined up whatever it is. */
static void rt_stats_table(FILE *f, const RtStatLines *ls)
{
    static const char *const what[RT_SEC_N] = {"channel", "group", "to", "from", "between"};
    fprintf(f, "daft: statistics (DAFT_STATS); times in ms\n");
    for (int sec = 0; sec < RT_SEC_N; sec++) {
        bool any = false;
        for (int i = 0; i < ls->n; i++) {
            const RtStatLine *l = &ls->v[i];
            if (l->section != sec)
                continue;
            if (!any) {
                fprintf(f, "  %s\n", rt_sec_title[sec]);
                if (sec == RT_SEC_CHANNELS)
                    fprintf(f, "    %9s %11s %10s %13s  %s\n", "values", "bytes", "writer ms",
                            "readers wait", what[sec]);
                else if (sec == RT_SEC_COLLECTIVES || sec == RT_SEC_TRANSFERS)
                    fprintf(f, "    %9s %11s %10s  %s\n",
                            sec == RT_SEC_COLLECTIVES ? "calls" : "values", "bytes", "ms", what[sec]);
                else
                    fprintf(f, "    %9s %11s  %s\n", sec == RT_SEC_CALLS ? "calls" : "values",
                            "bytes", what[sec]);
                any = true;
            }
            char b[32];
            rt_stats_bytes_str(l->bytes, b, sizeof b);
            fprintf(f, "    %9llu %11s", (unsigned long long)l->n, b);
            if (sec == RT_SEC_CHANNELS)
                fprintf(f, " %10.3f %13.3f", l->ns / 1e6, l->wait_ns / 1e6);
            else if (sec == RT_SEC_COLLECTIVES || sec == RT_SEC_TRANSFERS)
                fprintf(f, " %10.3f", l->ns / 1e6);
            fprintf(f, "  %s\n", l->name);
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

static void rt_stats_json(FILE *f, const RtStatLines *ls)
{
    fprintf(f, "{");
    for (int sec = 0; sec < RT_SEC_N; sec++) {
        fprintf(f, "%s\n  \"%s\": [", sec ? "," : "", rt_sec_json[sec]);
        bool first = true;
        for (int i = 0; i < ls->n; i++) {
            const RtStatLine *l = &ls->v[i];
            if (l->section != sec)
                continue;
            fprintf(f, "%s\n    {\"name\": ", first ? "" : ",");
            rt_json_text(f, l->name);
            fprintf(f, ", \"%s\": %llu, \"bytes\": %llu",
                    sec == RT_SEC_CHANNELS ? "values" : sec <= RT_SEC_CALLS ? "calls" : "values",
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
    RtStatLines ls = {NULL, 0};
    rt_stats_named_lines(s, &ls);
    int nrows = 0;
    RtStatRow *rows = rt_stats_members_merged(s, &nrows);
    for (int i = 0; i < nrows; i++)
        rt_stats_fold(rt, &rows[i], &ls);
    free(rows);
    if (ls.n)
        qsort(ls.v, (size_t)ls.n, sizeof *ls.v, rt_stats_line_cmp);
    if (s->on == RT_STATS_TABLE) {
        rt_stats_table(stderr, &ls);
    } else {
        FILE *f = fopen(s->path, "w");
        if (!f)
            rt_log("cannot write the statistics to '%s': %s", s->path, strerror(errno));
        else {
            rt_stats_json(f, &ls);
            if (fclose(f))
                rt_log("cannot write the statistics to '%s': %s", s->path, strerror(errno));
        }
    }
    for (int i = 0; i < ls.n; i++)
        free(ls.v[i].name);
    free(ls.v);
}
