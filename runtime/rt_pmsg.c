/* rt_pmsg.c — the messages of compiled plans' channels: a u32 target reader (all: -1)
 * and one encoded value.
 *
 * Why a file of its own: these messages carry the tensors of every execution, so they
 * are sent and received with as few copies as the transports allow. On shared memory a
 * large host tensor goes from where it lies straight into the ring (its bytes are spliced
 * into the encoding, rt_value_put_spliced), and a message that fits one slot is decoded
 * where it lies in the ring; only messages longer than a slot are reassembled first. TCP
 * sends the plain encoding.
 *
 * With DAFT_GPU_ASYNC_WRITES=1 a GPU actor handing a GPU result to a shared-memory channel
 * does not wait for its GPU (the CPU runs ahead: DESIGN.md, compiled mode): the message is
 * assembled in pinned memory, its tensors copied there asynchronously, and it is written to
 * the ring once the copies are done (rt_pmsg_async_*), while the actor goes on. Otherwise a
 * GPU result is copied from the device straight into the ring slot (rt_pmsg_in_place). */
#include "rt_gpu.h"
#include "rt_internal.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int rt_pmsg_encode(RtPmsgOut *m, int32_t target, const DaftValue *v, bool splice)
{
    m->tx.len = 0;
    m->sp.n = 0;
    int rc = rt_buf_u32(&m->tx, (uint32_t)target);
    if (rc)
        return rc;
    return splice ? rt_value_put_spliced(&m->tx, v, &m->sp) : rt_value_put(&m->tx, v);
}

/* The message [target][an error value] in place of one whose GPU tensor could not be
 * read: the reader learns why instead of getting wrong bytes. */
static void rt_pmsg_error(RtBuf *b, const RtBuf *tx, const char *why)
{
    RtRd r = rt_rd(tx->p, tx->len);
    uint32_t target = rt_rd_u32(&r);
    DaftValue e = daft_value_error("copying a GPU tensor to the host for a channel: %s", why);
    b->len = 0;
    rt_buf_u32(b, target);
    rt_value_put(b, &e);
    daft_value_free(&e);
}

static int rt_gpu_read(const DaftTensor *t, void *dst, char *err, size_t cap)
{
    const RtGpuOps *g = rt_gpu_active();
    if (!g) {
        rt_fmt(err, cap, "no GPU in this process");
        return DAFT_EINVAL;
    }
    return g->to_host(t, dst, err, cap);
}

/* A message that fits one slot: its GPU tensors are copied from the device straight into
 * the slot. */
static int rt_pmsg_in_place(RtRing *r, const RtPmsgOut *m, const RtPiece *pc, int n,
                            const RtWait *w)
{
    uint8_t *dst;
    int rc = rt_ring_reserve(r, &dst, w);
    if (rc)
        return rc;
    size_t off = 0;
    char err[400];
    for (int i = 0; i < n; i++) {
        if (pc[i].gpu && rt_gpu_read(pc[i].gpu, dst + off, err, sizeof err)) {
            RtBuf e = {0};
            rt_pmsg_error(&e, &m->tx, err);
            memcpy(dst, e.p, e.len); /* (a short message: any slot holds it) */
            rt_ring_commit(r, e.len);
            rt_buf_free(&e);
            return 0;
        }
        if (!pc[i].gpu && pc[i].n)
            memcpy(dst + off, pc[i].p, pc[i].n);
        off += pc[i].n;
    }
    rt_ring_commit(r, off);
    return 0;
}

/* A message longer than a slot: its GPU tensors are first read into host buffers. */
static int rt_pmsg_staged(RtRing *r, const RtPmsgOut *m, RtPiece *pc, int n, const RtWait *w)
{
    void **host = calloc((size_t)n, sizeof *host);
    int rc = host ? 0 : DAFT_ENOMEM;
    char err[400] = "out of memory";
    for (int i = 0; i < n && !rc; i++) {
        if (!pc[i].gpu)
            continue;
        host[i] = malloc(pc[i].n ? pc[i].n : 1);
        if (!host[i] || rt_gpu_read(pc[i].gpu, host[i], err, sizeof err))
            rc = DAFT_EPEER;
        pc[i] = (RtPiece){host[i], pc[i].n, NULL};
    }
    if (rc == DAFT_EPEER) {
        RtBuf e = {0};
        rt_pmsg_error(&e, &m->tx, err);
        rc = rt_ring_write(r, e.p, e.len, w);
        rt_buf_free(&e);
    } else if (!rc) {
        rc = rt_ring_writev(r, pc, n, w);
    }
    for (int i = 0; host && i < n; i++)
        free(host[i]);
    free(host);
    return rc;
}

int rt_pmsg_ring_write(RtRing *r, const RtPmsgOut *m, const RtWait *w)
{
    if (m->sp.n == 0)
        return rt_ring_write(r, m->tx.p, m->tx.len, w);
    int n = 0;
    RtPiece *pc = rt_splice_pieces(&m->tx, &m->sp, &n);
    if (!pc)
        return DAFT_ENOMEM;
    size_t len = 0;
    bool gpu = false;
    for (int i = 0; i < n; i++) {
        len += pc[i].n;
        gpu |= pc[i].gpu != NULL;
    }
    int rc = !gpu                          ? rt_ring_writev(r, pc, n, w)
             : len <= rt_ring_payload(r) ? rt_pmsg_in_place(r, m, pc, n, w)
                                           : rt_pmsg_staged(r, m, pc, n, w);
    free(pc);
    return rc;
}

void rt_pmsg_out_free(RtPmsgOut *m)
{
    rt_buf_free(&m->tx);
    rt_splices_free(&m->sp);
}

int rt_pmsg_decode(const uint8_t *p, size_t n, uint32_t idx, DaftValue *out)
{
    RtRd r = rt_rd(p, n);
    int32_t target = (int32_t)rt_rd_u32(&r);
    if (r.bad)
        return DAFT_EPROTO;
    if (target >= 0 && (uint32_t)target != idx)
        return 0;
    daft_value_free(out);
    return rt_value_get(&r, out) ? DAFT_EPROTO : 1;
}

int rt_pmsg_ring_try(RtRingReader *rd, RtBuf *scratch, DaftValue *out)
{
    for (;;) {
        const uint8_t *p;
        uint32_t n;
        int rc = rt_ring_peek(rd, &p, &n);
        if (rc < 0)
            return rc; /* the ring itself is broken */
        if (rc > 0) {
            rc = rt_pmsg_decode(p, n, rd->idx, out);
            rt_ring_consume(rd);
        } else {
            if ((rc = rt_ring_try_read(rd, scratch)) <= 0)
                return rc;
            rc = rt_pmsg_decode(scratch->p, scratch->len, rd->idx, out);
        }
        if (rc == DAFT_EPROTO) /* taken off the ring, but not a value */
            return RT_PMSG_MALFORMED;
        if (rc != 0)
            return rc;
    }
}

/* ---------------------------------------------------------------- asynchronous writes */

int rt_pmsg_async_start(RtPmsgAsync *a, const RtPmsgOut *m)
{
    const RtGpuOps *g = rt_gpu_active();
    /* Opt-in (DAFT_GPU_ASYNC_WRITES=1): measured on 4 x H200, a 4 MiB result per forward
     * (W7) was slower this way (7.34 ms against 6.28 ms per forward), the pinned buffer's
     * copy into the ring costing the worker more than the wait it saves (bench/RESULTS.md).
     * Registering the rings with CUDA, so the device writes into the slot itself, is the way
     * to make it pay. */
    if (!g || a->busy || m->sp.n == 0 || m->sp.n > RT_PMSG_ASYNC_MAX || !getenv("DAFT_GPU_ASYNC_WRITES"))
        return 0;
    size_t len = m->tx.len;
    bool gpu = false;
    for (int i = 0; i < m->sp.n; i++) {
        len += m->sp.v[i].n;
        gpu |= m->sp.v[i].gpu != NULL;
    }
    if (!gpu)
        return 0;
    char err[400];
    if (len > a->cap) {
        void *p = NULL;
        if (g->host_alloc(&p, len, err, sizeof err))
            return 0; /* no pinned memory: the synchronous path */
        g->host_free(a->buf);
        a->buf = p;
        a->cap = len;
    }
    /* the pieces in order: encoding bytes and host tensors copied now, GPU tensors queued */
    size_t off = 0, from = 0;
    a->ntok = 0;
    for (int i = 0; i <= m->sp.n; i++) {
        size_t at = i < m->sp.n ? m->sp.v[i].at : m->tx.len;
        memcpy(a->buf + off, m->tx.p + from, at - from);
        off += at - from;
        from = at;
        if (i == m->sp.n)
            break;
        const RtSplice *sp = &m->sp.v[i];
        if (!sp->gpu) {
            memcpy(a->buf + off, sp->p, sp->n);
        } else if (g->download(sp->gpu, a->buf + off, &a->tok[a->ntok], err, sizeof err)) {
            for (int k = 0; k < a->ntok; k++) /* (the copies queued so far finish first) */
                g->download_done(a->tok[k], true, err, sizeof err);
            a->ntok = 0;
            return 0; /* the synchronous path reports the error */
        } else {
            a->ntok++;
        }
        off += sp->n;
    }
    a->len = off;
    RtRd r = rt_rd(m->tx.p, m->tx.len);
    a->target = rt_rd_u32(&r);
    a->busy = true;
    return 1;
}

int rt_pmsg_async_finish(RtPmsgAsync *a, RtRing *r, bool wait, const RtWait *w)
{
    if (!a->busy)
        return 1;
    const RtGpuOps *g = rt_gpu_active();
    char err[400] = "no GPU in this process";
    bool failed = !g;
    while (g && a->ntok > 0) {
        int rc = g->download_done(a->tok[0], wait, err, sizeof err);
        if (rc == 0)
            return 0;
        memmove(a->tok, a->tok + 1, (size_t)(a->ntok - 1) * sizeof *a->tok);
        a->ntok--;
        failed |= rc < 0;
    }
    a->busy = false;
    if (!failed)
        return rt_ring_write(r, a->buf, a->len, w) ? -1 : 1;
    RtBuf t = {0}, e = {0};
    rt_buf_u32(&t, a->target);
    rt_pmsg_error(&e, &t, err);
    int rc = rt_ring_write(r, e.p, e.len, w);
    rt_buf_free(&t);
    rt_buf_free(&e);
    return rc ? -1 : 1;
}

void rt_pmsg_async_free(RtPmsgAsync *a)
{
    const RtGpuOps *g = rt_gpu_active();
    char err[400];
    /* The copies must not land in freed memory. Polled here without the actor's progress
     * hook (a waiting download_done would run it): this runs while a plan is being freed. */
    int64_t deadline = rt_now_ns() + 10000000000LL;
    for (int k = 0; g && k < a->ntok; k++)
        while (g->download_done(a->tok[k], false, err, sizeof err) == 0 && rt_now_ns() < deadline)
            usleep(20);
    if (g)
        g->host_free(a->buf);
    *a = (RtPmsgAsync){0};
}
