/* rt_chan.c — one channel interface over the two transports (shared-memory ring, TCP), so
 * the executor and the driver never care which one carries a message. */
#include "rt_internal.h"

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
