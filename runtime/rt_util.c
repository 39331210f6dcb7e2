/* rt_util.c — byte buffers, bounds-checked readers, clocks, futex and logging helpers. */
#define _GNU_SOURCE
#include "rt_internal.h"

#include <errno.h>
#include <sched.h>
#include <linux/futex.h>
#include <stdio.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

int rt_buf_reserve(RtBuf *b, size_t extra)
{
    if (b->len + extra <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + extra)
        cap *= 2;
    uint8_t *p = realloc(b->p, cap);
    if (!p)
        return DAFT_ENOMEM;
    b->p = p;
    b->cap = cap;
    return 0;
}

int rt_buf_put(RtBuf *b, const void *data, size_t n)
{
    if (rt_buf_reserve(b, n))
        return DAFT_ENOMEM;
    if (n)
        memcpy(b->p + b->len, data, n);
    b->len += n;
    return 0;
}

int rt_buf_u8(RtBuf *b, uint8_t v) { return rt_buf_put(b, &v, 1); }
int rt_buf_u32(RtBuf *b, uint32_t v) { return rt_buf_put(b, &v, 4); }
int rt_buf_u64(RtBuf *b, uint64_t v) { return rt_buf_put(b, &v, 8); }

int rt_buf_str(RtBuf *b, const char *s)
{
    size_t n = s ? strlen(s) : 0;
    int rc = rt_buf_u32(b, (uint32_t)n);
    return rc ? rc : rt_buf_put(b, s, n);
}

void rt_buf_free(RtBuf *b)
{
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
}

RtRd rt_rd(const void *p, size_t len)
{
    RtRd r = {p, len, 0, false};
    return r;
}

const void *rt_rd_bytes(RtRd *r, size_t n)
{
    if (r->bad || n > r->len - r->off) {
        r->bad = true;
        return NULL;
    }
    const void *p = r->p + r->off;
    r->off += n;
    return p;
}

uint8_t rt_rd_u8(RtRd *r)
{
    const uint8_t *p = rt_rd_bytes(r, 1);
    return p ? *p : 0;
}

uint32_t rt_rd_u32(RtRd *r)
{
    uint32_t v = 0;
    const void *p = rt_rd_bytes(r, 4);
    if (p)
        memcpy(&v, p, 4);
    return v;
}

uint64_t rt_rd_u64(RtRd *r)
{
    uint64_t v = 0;
    const void *p = rt_rd_bytes(r, 8);
    if (p)
        memcpy(&v, p, 8);
    return v;
}

void rt_rd_str(RtRd *r, char *dst, size_t cap)
{
    uint32_t n = rt_rd_u32(r);
    const char *p = rt_rd_bytes(r, n);
    size_t k = p ? (n < cap - 1 ? n : cap - 1) : 0;
    if (k)
        memcpy(dst, p, k);
    dst[k] = 0;
}

int64_t rt_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int64_t rt_deadline(double timeout_s)
{
    if (timeout_s < 0)
        return -1;
    if (timeout_s > 1e9)
        timeout_s = 1e9;
    return rt_now_ns() + (int64_t)(timeout_s * 1e9);
}

int64_t rt_sleep_ns(int64_t deadline_ns, int64_t slice_ns)
{
    if (deadline_ns < 0)
        return slice_ns;
    int64_t left = deadline_ns - rt_now_ns();
    if (left < 0)
        return 0;
    return left < slice_ns ? left : slice_ns;
}

int rt_futex_wait(_Atomic uint32_t *word, uint32_t expected, int64_t timeout_ns)
{
    struct timespec ts = {timeout_ns / 1000000000LL, timeout_ns % 1000000000LL};
    long rc = syscall(SYS_futex, (uint32_t *)word, FUTEX_WAIT, expected, &ts, NULL, 0);
    return rc == 0 ? 0 : -errno;
}

void rt_futex_wake(_Atomic uint32_t *word, int n)
{
    syscall(SYS_futex, (uint32_t *)word, FUTEX_WAKE, n, NULL, NULL, 0);
}

void rt_cpu_relax(int64_t spin_end)
{
    /* Yield rather than PAUSE: with more processes than cores (several actors on a small
     * machine) the process we wait for gets the core at once, and on an idle core
     * sched_yield returns immediately, so it is still a spin. Measured on 2 cores (no
     * GPU): chain of 4 actors 52k -> ~400k executions/s, 8-byte round trip ~1.1 us
     * either way. (A PAUSE phase first made the round trip 6 us in this VM.) */
    (void)spin_end;
    sched_yield();
}

void rt_fmt(char *dst, size_t cap, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(dst, cap, fmt, ap);
    va_end(ap);
    (void)n;
}

void rt_log(const char *fmt, ...)
{
    char line[1024] = "daft: ";
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line + 6, sizeof line - 8, fmt, ap);
    va_end(ap);
    size_t n = strlen(line);
    line[n++] = '\n';
    ssize_t w = write(2, line, n);
    (void)w;
}

/* Tensors cross channels as fresh multi-MiB buffers, every execution. glibc serves those
 * with mmap and gives them back with munmap, so each execution page-faults every page of
 * every message again (half the time of a 4 MiB round trip, measured). Keeping freed
 * memory in the heap makes the steady state reuse the same, already mapped pages. Forked
 * actors inherit the setting; an actor started by MPI calls daft_rt_init too. */
void rt_tune_malloc(void)
{
    mallopt(M_MMAP_THRESHOLD, 64 << 20);
    mallopt(M_TRIM_THRESHOLD, 256 << 20);
}
