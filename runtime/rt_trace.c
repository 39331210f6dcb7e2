/* rt_trace.c — timeline trace (DAFT_TRACE=path.json): Chrome trace / Perfetto JSON with one
 * track (a "process" in the format) per actor and one for the driver.
 *
 * Each actor process keeps its slices in memory and writes them to path.part.<handle> when
 * it stops; the driver merges the parts into path at shutdown and removes them. Time is
 * CLOCK_MONOTONIC, which all processes of a host share, so tracks line up. */
#define _GNU_SOURCE
#include "rt_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void rt_trace_init(RtTrace *t, int track, const char *name)
{
    if (track == 0 && name) {
        const char *p = getenv("DAFT_TRACE");
        t->on = p && *p;
        if (t->on)
            rt_fmt(t->path, sizeof t->path, "%s", p);
    }
    t->events.len = 0;
    t->pid = track;
    if (name)
        rt_fmt(t->name, sizeof t->name, "%s", name);
}

/* Appends s as a JSON string body (quotes, backslashes and control bytes escaped). */
static void rt_json_str(RtBuf *b, const char *s)
{
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            rt_buf_u8(b, '\\');
            rt_buf_u8(b, c);
        } else if (c < 0x20) {
            char esc[8];
            snprintf(esc, sizeof esc, "\\u%04x", c);
            rt_buf_put(b, esc, 6);
        } else {
            rt_buf_u8(b, c);
        }
    }
}

static void rt_trace_meta(RtTrace *t)
{
    RtBuf *b = &t->events;
    char head[128];
    int n = snprintf(head, sizeof head, "%s{\"name\":\"process_name\",\"ph\":\"M\",\"pid\":%d,"
                     "\"tid\":0,\"args\":{\"name\":\"", b->len ? ",\n" : "", t->pid);
    rt_buf_put(b, head, (size_t)n);
    rt_json_str(b, t->name[0] ? t->name : "actor");
    rt_buf_put(b, "\"}}", 3);
}

void rt_trace_slice(RtTrace *t, const char *name, const char *cat, int64_t t0, int64_t t1)
{
    if (!t->on)
        return;
    RtBuf *b = &t->events;
    if (b->len == 0)
        rt_trace_meta(t);
    rt_buf_put(b, ",\n{\"name\":\"", 11);
    rt_json_str(b, name);
    char tail[192];
    int n = snprintf(tail, sizeof tail,
                     "\",\"cat\":\"%s\",\"ph\":\"X\",\"ts\":%.3f,\"dur\":%.3f,\"pid\":%d,\"tid\":0}",
                     cat, (double)t0 / 1000.0, (double)(t1 - t0) / 1000.0, t->pid);
    rt_buf_put(b, tail, (size_t)n);
}

void rt_trace_flush_part(RtTrace *t)
{
    if (!t->on || !t->events.len)
        return;
    char part[600];
    rt_fmt(part, sizeof part, "%s.part.%d", t->path, t->pid);
    FILE *f = fopen(part, "w");
    if (!f)
        return;
    fwrite(t->events.p, 1, t->events.len, f);
    fclose(f);
}

/* Appends a part file (if the actor wrote one) and removes it. */
static void rt_trace_take_part(RtTrace *t, FILE *out, int track, bool *first)
{
    char part[600];
    rt_fmt(part, sizeof part, "%s.part.%d", t->path, track);
    FILE *f = fopen(part, "r");
    if (!f)
        return;
    char buf[65536];
    size_t n;
    if (!*first)
        fputs(",\n", out);
    *first = false;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0)
        fwrite(buf, 1, n, out);
    fclose(f);
    unlink(part);
}

void rt_trace_merge(RtTrace *t, int max_track)
{
    if (!t->on)
        return;
    FILE *out = fopen(t->path, "w");
    if (!out) {
        rt_log("cannot write the trace to %s", t->path);
        return;
    }
    fputs("{\"displayTimeUnit\":\"ns\",\"traceEvents\":[\n", out);
    if (!t->events.len)
        rt_trace_meta(t);
    fwrite(t->events.p, 1, t->events.len, out);
    bool first = false;
    for (int i = 1; i <= max_track; i++)
        rt_trace_take_part(t, out, i, &first);
    fputs("\n]}\n", out);
    fclose(out);
}

void rt_trace_free(RtTrace *t) { rt_buf_free(&t->events); }
