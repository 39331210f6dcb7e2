/* rt_chan.c — one channel interface over the two transports (shared-memory ring, TCP), so
 * the executor and the driver never care which one carries a message. */
#include "rt_internal.h"

#include <stdlib.h>
#include <unistd.h>

int rt_chan_send(RtChan *c, const void *data, size_t len, const RtWait *w)
{
    if (c->broken)
        return DAFT_EPEER;
    int rc = c->kind == RT_CHAN_SHM ? rt_ring_write(&c->ring, data, len, w)
             : c->kind == RT_CHAN_TCP ? rt_tcp_send(c->fd, data, len, w)
                                      : DAFT_EINVAL;
    if (rc == DAFT_EPEER)
        c->broken = true;
    return rc;
}

int rt_chan_sendv(RtChan *c, const RtBuf *m, const RtSplices *sp, const RtWait *w)
{
    if (!sp || sp->n == 0)
        return rt_chan_send(c, m->p, m->len, w);
    if (c->broken)
        return DAFT_EPEER;
    int n = 0, rc;
    RtPiece *pc = rt_splice_pieces(m, sp, &n);
    if (!pc)
        return DAFT_ENOMEM;
    if (c->kind == RT_CHAN_SHM) {
        rc = rt_ring_writev(&c->ring, pc, n, w);
    } else { /* TCP: one contiguous frame */
        RtBuf flat = {0};
        rc = 0;
        for (int i = 0; i < n && !rc; i++)
            rc = rt_buf_put(&flat, pc[i].p, pc[i].n);
        rc = rc ? rc : c->kind == RT_CHAN_TCP ? rt_tcp_send(c->fd, flat.p, flat.len, w) : DAFT_EINVAL;
        rt_buf_free(&flat);
    }
    free(pc);
    if (rc == DAFT_EPEER)
        c->broken = true;
    return rc;
}

int rt_chan_try_recv(RtChan *c, RtBuf *msg)
{
    if (c->broken)
        return DAFT_EPEER;
    int rc = c->kind == RT_CHAN_SHM ? rt_ring_try_read(&c->rd, msg)
             : c->kind == RT_CHAN_TCP ? rt_tcp_try_recv(c->fd, &c->rx, msg)
                                      : 0;
    if (rc < 0)
        c->broken = true;
    return rc;
}

void rt_chan_close(RtChan *c)
{
    if (c->kind == RT_CHAN_SHM) {
        rt_ring_reader_free(&c->rd);
        rt_ring_destroy(&c->ring);
    } else if (c->kind == RT_CHAN_TCP && c->fd >= 0) {
        close(c->fd);
    }
    rt_buf_free(&c->rx);
    c->kind = RT_CHAN_NONE;
    c->fd = -1;
}
