/* rt_trace.c — timeline trace (DAFT_TRACE=path.json): Chrome trace / Perfetto JSON with one
 * track (a "process" in the format) per actor and one for the driver.
 *
 * Each actor process keeps its slices in memory and writes them to path.part.<tag>.<handle>
 * when it stops; the driver merges the parts into path at shutdown and removes them. Time
 * is CLOCK_MONOTONIC, which all processes of a host share, so tracks line up.
 *
 * Part files (SPEC §15.9) are owner-only (0600), created with O_EXCL | O_NOFOLLOW under a
 * name with a random tag the driver draws at start (forked actors inherit it), so nobody
 * else on the machine can predict, pre-create, redirect or read them; the driver merges
 * only regular files owned by its own user. The merged trace is the user's output and is
 * created like any file the user writes (0666 less the umask). */
#define _GNU_SOURCE
#include "rt_internal.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

/* A random hex tag for part-file names ("" if the kernel gives no randomness: then no
 * part files are written, and the trace has the driver's track only). */
static void rt_trace_tag(char *tag, size_t cap)
{
    uint8_t r[16];
    size_t got = 0;
    tag[0] = 0;
    while (got < sizeof r) {
        ssize_t k = getrandom(r + got, sizeof r - got, 0);
        if (k <= 0)
            return;
        got += (size_t)k;
    }
    for (size_t i = 0; i < sizeof r && 2 * i + 2 < cap; i++)
        snprintf(tag + 2 * i, 3, "%02x", r[i]);
}

void rt_trace_init(RtTrace *t, int track, const char *name)
{
    if (track == 0 && name) {
        const char *p = getenv("DAFT_TRACE");
        t->on = p && *p;
        if (t->on) {
            rt_fmt(t->path, sizeof t->path, "%s", p);
            rt_trace_tag(t->tag, sizeof t->tag);
            if (t->tag[0])
                rt_abort_note_trace(t->path, t->tag);
        }
    }
    t->events.len = 0;
    t->pid = track;
    if (name)
        rt_fmt(t->name, sizeof t->name, "%s", name);
}

void rt_json_str(RtBuf *b, const char *s)
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
    if (!t->on || !t->events.len || !t->tag[0])
        return;
    char part[600];
    rt_fmt(part, sizeof part, "%s.part.%s.%d", t->path, t->tag, t->pid);
    int fd = open(part, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0)
        return;
    for (size_t off = 0; off < t->events.len;) {
        ssize_t k = write(fd, t->events.p + off, t->events.len - off);
        if (k <= 0)
            break;
        off += (size_t)k;
    }
    close(fd);
}

/* Appends a part file (if the actor wrote one) and removes it. */
static void rt_trace_take_part(RtTrace *t, FILE *out, int track, bool *first)
{
    if (!t->tag[0])
        return;
    char part[600];
    rt_fmt(part, sizeof part, "%s.part.%s.%d", t->path, t->tag, track);
    int fd = open(part, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return;
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_uid != geteuid()) {
        close(fd); /* not one of ours: leave it alone */
        return;
    }
    FILE *f = fdopen(fd, "r");
    if (!f) {
        close(fd);
        return;
    }
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
