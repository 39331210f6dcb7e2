/* rt_ring.c — shared-memory ring buffer: one writer, up to RT_RING_MAX_READERS readers.
 *
 * Layout (one memfd mapping; memfd so nothing is ever visible in /dev/shm and the memory
 * goes away with the last process that maps it, even after kill -9):
 *   header (cache-line separated: writer's head, readers' tail sequence, one line per
 *   reader cursor so readers never false-share) | nslots × stride bytes of slots.
 * Each slot: u32 seq (the chunk's sequence number + 1, stored last), u32 len, u32 flags
 * (FIRST/LAST chunk), payload. Sequence numbers are u32 counters that wrap; nslots is a
 * power of two so seq % nslots stays continuous. A slot is free again once every reader's
 * cursor has passed it.
 * Latency (W1): a reader polls its next slot's seq, not the head, so a small message
 * reaches it in one cache-line transfer; the writer remembers how far the ring is known to
 * be free and reads the readers' cursors only when it gets there.
 * Blocking: spin for RT_SPIN_NS (the peer is usually about to answer), then FUTEX_WAIT on
 * the head (readers) or tail sequence (writer) in slices, checking the peer is alive. */
#define _GNU_SOURCE
#include "rt_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define RT_RING_MAGIC 0x676e697274666164ULL /* "daftring" */
#define RT_CHUNK_FIRST 1u
#define RT_CHUNK_LAST 2u
#define RT_RING_MAX_MSG (1ULL << 30)

struct RtRingHdr {
    uint64_t magic;
    uint32_t nslots, slot_size, stride, nreaders;
    alignas(RT_CACHE_LINE) _Atomic uint32_t head; /* slots published */
    _Atomic uint32_t head_waiters;
    alignas(RT_CACHE_LINE) _Atomic uint32_t tail_seq; /* bumped whenever a reader advances */
    _Atomic uint32_t tail_waiters;
    alignas(RT_CACHE_LINE) struct {
        _Atomic uint32_t cur;
        char pad[RT_CACHE_LINE - 4];
    } rd[RT_RING_MAX_READERS];
};

typedef struct RtSlot {
    _Atomic uint32_t seq; /* the ring sequence number + 1 of the chunk in it, set last */
    uint32_t len, flags, pad;
    uint8_t data[];
} RtSlot;

static size_t rt_align(size_t n, size_t a) { return (n + a - 1) / a * a; }

static int rt_ring_map(RtRing *r, int fd, size_t size)
{
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED)
        return DAFT_ESYS;
    r->hdr = p;
    r->map_size = size;
    r->fd = fd;
    r->slots = (uint8_t *)p + rt_align(sizeof(struct RtRingHdr), RT_CACHE_LINE);
    r->bell = NULL;
    r->nmore = 0;
    return 0;
}

int rt_ring_create(RtRing *r, uint32_t nslots, uint32_t slot_size, uint32_t nreaders)
{
    memset(r, 0, sizeof *r);
    r->fd = -1;
    if (!nslots || (nslots & (nslots - 1)) || nslots > (1u << 20) || !nreaders ||
        nreaders > RT_RING_MAX_READERS || slot_size < 64 || slot_size > (1u << 26))
        return DAFT_EINVAL;
    uint32_t stride = (uint32_t)rt_align(sizeof(RtSlot) + slot_size, RT_CACHE_LINE);
    size_t size = rt_align(sizeof(struct RtRingHdr), RT_CACHE_LINE) + (size_t)nslots * stride;
    int fd = memfd_create("daft-ring", MFD_CLOEXEC);
    if (fd < 0)
        return DAFT_ESYS;
    (void)fchmod(fd, 0600); /* memfds start 0777; only fd passing (same user) should reach it */
    if (ftruncate(fd, (off_t)size) < 0 || rt_ring_map(r, fd, size)) {
        close(fd);
        return DAFT_ESYS;
    }
    struct RtRingHdr *h = r->hdr;
    h->nslots = nslots;
    h->slot_size = slot_size;
    h->stride = stride;
    h->nreaders = nreaders;
    atomic_store(&h->head, 0);
    h->magic = RT_RING_MAGIC;
    r->nslots = nslots;
    r->slot_size = slot_size;
    r->stride = stride;
    return 0;
}

int rt_ring_attach(RtRing *r, int fd)
{
    memset(r, 0, sizeof *r);
    r->fd = -1;
    off_t size = lseek(fd, 0, SEEK_END);
    if (size < (off_t)sizeof(struct RtRingHdr) || rt_ring_map(r, fd, (size_t)size)) {
        close(fd);
        return DAFT_ESYS;
    }
    struct RtRingHdr *h = r->hdr;
    size_t need = rt_align(sizeof *h, RT_CACHE_LINE) + (size_t)h->nslots * h->stride;
    if (h->magic != RT_RING_MAGIC || need > (size_t)size || !h->nslots ||
        (h->nslots & (h->nslots - 1)) || h->stride < sizeof(RtSlot) + h->slot_size) {
        rt_ring_destroy(r);
        return DAFT_EPROTO;
    }
    r->nslots = h->nslots;
    r->slot_size = h->slot_size;
    r->stride = h->stride;
    return 0;
}

void rt_ring_close_fd(RtRing *r)
{
    if (r->fd >= 0)
        close(r->fd);
    r->fd = -1;
}

void rt_ring_destroy(RtRing *r)
{
    if (r->hdr)
        munmap(r->hdr, r->map_size);
    rt_ring_close_fd(r);
    r->hdr = NULL;
}

uint32_t rt_ring_payload(const RtRing *r) { return r->slot_size; }
uint32_t rt_ring_nreaders(const RtRing *r) { return r->hdr->nreaders; }

static RtSlot *rt_slot(RtRing *r, uint32_t seq)
{
    return (RtSlot *)(r->slots + (size_t)(seq & (r->nslots - 1)) * r->stride);
}

uint32_t rt_ring_pending(const RtRing *r, uint32_t idx)
{
    /* (a reader may consume a chunk before the writer has published the head past it) */
    int32_t d = (int32_t)(atomic_load(&r->hdr->head) - atomic_load(&r->hdr->rd[idx].cur));
    return d > 0 ? (uint32_t)d : 0;
}

/* Reads the slot alone, so that a waiting reader's poll brings the chunk's start into its
 * cache with the news (one cache line moves, not the head's and then the slot's). */
bool rt_ring_ready(RtRing *r, uint32_t idx)
{
    uint32_t cur = atomic_load_explicit(&r->hdr->rd[idx].cur, memory_order_relaxed);
    return atomic_load_explicit(&rt_slot(r, cur)->seq, memory_order_acquire) == cur + 1;
}

/* Free slots for the writer: nslots minus the lag of the slowest reader. */
static uint32_t rt_ring_space(RtRing *r, uint32_t head)
{
    uint32_t lag = 0;
    for (uint32_t i = 0; i < r->hdr->nreaders; i++) {
        uint32_t d = head - atomic_load_explicit(&r->hdr->rd[i].cur, memory_order_acquire);
        lag = d > lag ? d : lag;
    }
    return r->nslots - lag;
}

/* One step of a blocked wait: checks the deadline and the peer, lets the caller make
 * progress, then sleeps on `word` unless it moved from `snap`. */
static int rt_wait_step(_Atomic uint32_t *word, _Atomic uint32_t *waiters, uint32_t snap,
                        const RtWait *w)
{
    /* the peer first: a poll (a deadline already passed) must see a death too, or a
     * wait made of polls, as wait() on a compiled schedule's result, never would */
    if (w && w->alive && !w->alive(w->arg))
        return DAFT_EPEER;
    if (w && ((w->intr && rt_intr) || (w->deadline_ns >= 0 && rt_now_ns() >= w->deadline_ns)))
        return DAFT_ETIMEDOUT;
    if (w && w->progress)
        w->progress(w->arg);
    /* A caller with a progress hook also waits for its own inbound channels: keep the
     * sleep short so it drains them promptly. */
    int64_t slice = w && w->progress ? 1000000 : RT_SLICE_NS;
    atomic_fetch_add(waiters, 1);
    if (atomic_load(word) == snap)
        rt_futex_wait(word, snap, rt_sleep_ns(w ? w->deadline_ns : -1, slice));
    atomic_fetch_sub(waiters, 1);
    return 0;
}

/* Waits until the writer may use one more slot. */
static int rt_ring_wait_space(RtRing *r, uint32_t head, const RtWait *w)
{
    if (r->free_until - head - 1 < r->nslots) /* 0 < free_until - head <= nslots (u32) */
        return 0;
    uint32_t free_now = rt_ring_space(r, head);
    if (free_now) {
        r->free_until = head + free_now;
        return 0;
    }
    int64_t spin_end = rt_now_ns() + RT_SPIN_NS;
    while (rt_ring_space(r, head) == 0) {
        if (rt_now_ns() < spin_end) {
            rt_cpu_relax(spin_end);
            continue;
        }
        uint32_t snap = atomic_load(&r->hdr->tail_seq);
        if (rt_ring_space(r, head) != 0)
            break;
        int rc = rt_wait_step(&r->hdr->tail_seq, &r->hdr->tail_waiters, snap, w);
        if (rc)
            return rc;
    }
    return 0;
}

static void rt_ring_publish(RtRing *r, uint32_t head)
{
    atomic_store_explicit(&r->hdr->head, head + 1, memory_order_seq_cst);
    if (atomic_load(&r->hdr->head_waiters))
        rt_futex_wake(&r->hdr->head, 1 << 30);
    if (r->bell)
        rt_bell_ring(r->bell);
    for (uint32_t i = 0; i < r->nmore; i++)
        rt_bell_ring(r->more_bells[i]);
}

int rt_ring_writev(RtRing *r, const RtPiece *pieces, int npieces, const RtWait *w)
{
    size_t len = 0;
    for (int i = 0; i < npieces; i++)
        len += pieces[i].n;
    if (len > RT_RING_MAX_MSG)
        return DAFT_ETOOBIG;
    int k = 0;         /* the piece being copied */
    size_t koff = 0;   /* bytes of it already copied */
    size_t off = 0;
    RtWait rest = w ? *w : (RtWait){-1, NULL, NULL, NULL, false};
    rest.intr = false; /* (an interrupt ends a write before its first chunk only) */
    do {
        uint32_t head = atomic_load_explicit(&r->hdr->head, memory_order_relaxed);
        int rc = rt_ring_wait_space(r, head, off == 0 || !w ? w : &rest);
        if (rc)
            return rc;
        size_t n = len - off < r->slot_size ? len - off : r->slot_size;
        RtSlot *s = rt_slot(r, head);
        s->len = (uint32_t)n;
        s->flags = (off == 0 ? RT_CHUNK_FIRST : 0) | (off + n == len ? RT_CHUNK_LAST : 0);
        for (size_t done = 0; done < n;) {
            while (pieces[k].n == koff) { /* (empty pieces too) */
                k++;
                koff = 0;
            }
            size_t m = pieces[k].n - koff < n - done ? pieces[k].n - koff : n - done;
            memcpy(s->data + done, (const uint8_t *)pieces[k].p + koff, m);
            done += m;
            koff += m;
        }
        off += n;
        atomic_store_explicit(&s->seq, head + 1, memory_order_release);
        rt_ring_publish(r, head);
    } while (off < len);
    return 0;
}

int rt_ring_reserve(RtRing *r, uint8_t **payload, const RtWait *w)
{
    uint32_t head = atomic_load_explicit(&r->hdr->head, memory_order_relaxed);
    int rc = rt_ring_wait_space(r, head, w);
    if (rc)
        return rc;
    *payload = rt_slot(r, head)->data;
    return 0;
}

void rt_ring_commit(RtRing *r, size_t len)
{
    uint32_t head = atomic_load_explicit(&r->hdr->head, memory_order_relaxed);
    RtSlot *s = rt_slot(r, head);
    s->len = (uint32_t)len;
    s->flags = RT_CHUNK_FIRST | RT_CHUNK_LAST;
    atomic_store_explicit(&s->seq, head + 1, memory_order_release);
    rt_ring_publish(r, head);
}

int rt_ring_write(RtRing *r, const void *data, size_t len, const RtWait *w)
{
    RtPiece one = {data, len, NULL};
    return rt_ring_writev(r, &one, 1, w);
}

void rt_ring_reader_init(RtRingReader *rd, RtRing *r, uint32_t idx)
{
    memset(rd, 0, sizeof *rd);
    rd->ring = r;
    rd->idx = idx;
}

void rt_ring_reader_free(RtRingReader *rd) { rt_buf_free(&rd->part); }

static void rt_ring_advance(RtRing *r, uint32_t idx, uint32_t cur)
{
    atomic_store_explicit(&r->hdr->rd[idx].cur, cur + 1, memory_order_seq_cst);
    atomic_fetch_add(&r->hdr->tail_seq, 1);
    if (atomic_load(&r->hdr->tail_waiters))
        rt_futex_wake(&r->hdr->tail_seq, 1 << 30);
}

int rt_ring_try_read(RtRingReader *rd, RtBuf *msg)
{
    RtRing *r = rd->ring;
    for (;;) {
        uint32_t cur = atomic_load_explicit(&r->hdr->rd[rd->idx].cur, memory_order_relaxed);
        RtSlot *s = rt_slot(r, cur);
        if (atomic_load_explicit(&s->seq, memory_order_acquire) != cur + 1)
            return 0;
        uint32_t n = s->len, flags = s->flags;
        if (n > r->slot_size)
            return DAFT_EPROTO;
        if (flags & RT_CHUNK_FIRST)
            rd->part.len = 0;
        bool whole = (flags & (RT_CHUNK_FIRST | RT_CHUNK_LAST)) == (RT_CHUNK_FIRST | RT_CHUNK_LAST);
        RtBuf *dst = whole ? msg : &rd->part;
        if (whole)
            msg->len = 0;
        if (rt_buf_put(dst, s->data, n))
            return DAFT_ENOMEM;
        rt_ring_advance(r, rd->idx, cur);
        if (whole)
            return 1;
        if (flags & RT_CHUNK_LAST) { /* hand the reassembled message over by swapping */
            RtBuf t = *msg;
            *msg = rd->part;
            rd->part = t;
            rd->part.len = 0;
            return 1;
        }
    }
}

int rt_ring_peek(RtRingReader *rd, const uint8_t **p, uint32_t *len)
{
    RtRing *r = rd->ring;
    uint32_t cur = atomic_load_explicit(&r->hdr->rd[rd->idx].cur, memory_order_relaxed);
    RtSlot *s = rt_slot(r, cur);
    if (atomic_load_explicit(&s->seq, memory_order_acquire) != cur + 1)
        return 0;
    if (s->len > r->slot_size)
        return DAFT_EPROTO;
    if ((s->flags & (RT_CHUNK_FIRST | RT_CHUNK_LAST)) != (RT_CHUNK_FIRST | RT_CHUNK_LAST))
        return 0;
    *p = s->data;
    *len = s->len;
    return 1;
}

void rt_ring_consume(RtRingReader *rd)
{
    RtRing *r = rd->ring;
    rt_ring_advance(r, rd->idx, atomic_load_explicit(&r->hdr->rd[rd->idx].cur, memory_order_relaxed));
}

int rt_ring_wait(RtRingReader *rd, const RtWait *w)
{
    RtRing *r = rd->ring;
    int64_t spin_end = rt_now_ns() + RT_SPIN_NS;
    for (;;) {
        if (rt_ring_ready(r, rd->idx))
            return 0;
        if (rt_now_ns() < spin_end) {
            rt_cpu_relax(spin_end);
            continue;
        }
        uint32_t snap = atomic_load(&r->hdr->head);
        /* head may trail the cursor (a chunk read before the writer published the head
         * past it): sleep on the head then too, as its next publish changes it; looping
         * instead would miss the deadline and a writer that died between the two stores */
        if ((int32_t)(snap - atomic_load(&r->hdr->rd[rd->idx].cur)) > 0)
            continue;
        int rc = rt_wait_step(&r->hdr->head, &r->hdr->head_waiters, snap, w);
        if (rc)
            return rc;
    }
}

int rt_ring_read(RtRingReader *rd, RtBuf *msg, const RtWait *w)
{
    for (;;) {
        int rc = rt_ring_try_read(rd, msg);
        if (rc)
            return rc;
        if ((rc = rt_ring_wait(rd, w)))
            return rc;
    }
}
