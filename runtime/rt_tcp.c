/* rt_tcp.c — TCP channels: u32-length framed messages over non-blocking sockets.
 *
 * Used between hosts (MPI mode) and on one host with DAFT_TRANSPORT=tcp. Sockets are
 * non-blocking so that a sender blocked on a full socket keeps draining its own inbound
 * channels (w->progress) — two actors sending to each other never deadlock — and notices
 * a dead peer (EOF/EPIPE or w->alive).
 *
 * Authentication: every connection starts with the job secret (RT_SECRET_LEN random bytes
 * from getrandom, made by the driver before it forks; MPI mode: broadcast by the bootstrap).
 * rt_tcp_connect sends it first; rt_tcp_accept reads it (bounded wait), compares it in
 * constant time and refuses (closes) a connection that does not present it, before a
 * single message byte is parsed. Listeners bind to the given host only (127.0.0.1 unless
 * a multi-node MPI launch needs an external interface). */
#define _GNU_SOURCE
#include "rt_internal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#define RT_AUTH_NS 2000000000LL          /* a connector must present the secret within 2 s */
#define RT_TCP_MAX_MSG (1ULL << 30)      /* larger frames are malformed (as on the rings) */

static uint8_t rt_secret[RT_SECRET_LEN]; /* inherited by forked actors */
static bool rt_secret_ok;

int rt_tcp_secret_init(void)
{
    size_t got = 0;
    while (got < sizeof rt_secret) {
        ssize_t k = getrandom(rt_secret + got, sizeof rt_secret - got, 0);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return DAFT_ESYS;
        got += (size_t)k;
    }
    rt_secret_ok = true;
    return 0;
}

void rt_tcp_secret_set(const uint8_t *secret)
{
    memcpy(rt_secret, secret, sizeof rt_secret);
    rt_secret_ok = true;
}

const uint8_t *rt_tcp_secret(void) { return rt_secret_ok ? rt_secret : NULL; }

/* Constant-time comparison: the time taken does not depend on where the bytes differ. */
static bool rt_secret_equal(const uint8_t *a, const uint8_t *b)
{
    volatile uint8_t d = 0;
    for (size_t i = 0; i < RT_SECRET_LEN; i++)
        d |= (uint8_t)(a[i] ^ b[i]);
    return d == 0;
}

static void rt_tcp_tune(int fd)
{
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
}

int rt_tcp_listen(const char *host, char *name, size_t cap)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return DAFT_ESYS;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK); /* never INADDR_ANY: only the host named */
    if (host && inet_pton(AF_INET, host, &a.sin_addr) != 1) {
        close(fd);
        return DAFT_EINVAL;
    }
    socklen_t len = sizeof a;
    /* A plan's load makes the driver and an actor dial each other's listener for each of
     * their channels before either accepts: a backlog of 128 stalled plans of more channels
     * in connect (the kernel caps this at net.core.somaxconn). */
    if (bind(fd, (struct sockaddr *)&a, sizeof a) < 0 || listen(fd, SOMAXCONN) < 0 ||
        getsockname(fd, (struct sockaddr *)&a, &len) < 0) {
        close(fd);
        return DAFT_ESYS;
    }
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    rt_fmt(name, cap, "%s:%u", host ? host : "127.0.0.1", ntohs(a.sin_port));
    return fd;
}

int rt_tcp_connect(const char *name, int64_t deadline_ns)
{
    char host[64];
    const char *colon = strrchr(name, ':');
    if (!colon || (size_t)(colon - name) >= sizeof host)
        return DAFT_EINVAL;
    memcpy(host, name, (size_t)(colon - name));
    host[colon - name] = 0;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(colon + 1))};
    if (inet_pton(AF_INET, host, &a.sin_addr) != 1)
        return DAFT_EINVAL;
    for (;;) { /* retry briefly: the listener may not be accepting yet */
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
            return DAFT_ESYS;
        if (connect(fd, (struct sockaddr *)&a, sizeof a) == 0) {
            /* still blocking: the secret goes out whole, before any message */
            if (!rt_secret_ok || send(fd, rt_secret, sizeof rt_secret, MSG_NOSIGNAL) !=
                                     (ssize_t)sizeof rt_secret) {
                close(fd);
                return DAFT_ESYS;
            }
            rt_tcp_tune(fd);
            return fd;
        }
        int err = errno;
        close(fd);
        /* Every address handed out belongs to a socket that was listening before the
         * address was published, so a refusal means its owner is gone: retrying would
         * stall the caller (an actor told to reach a dead peer) for the whole deadline. */
        if (err == ECONNREFUSED)
            return DAFT_EPEER;
        if (deadline_ns >= 0 && rt_now_ns() > deadline_ns)
            return DAFT_ETIMEDOUT;
        usleep(10000);
    }
}

/* Reads the connector's secret (at most RT_AUTH_NS) and checks it; nothing else is read. */
static bool rt_tcp_auth(int fd)
{
    uint8_t got[RT_SECRET_LEN];
    size_t n = 0;
    int64_t deadline = rt_now_ns() + RT_AUTH_NS;
    while (n < sizeof got && rt_secret_ok) {
        int64_t left = deadline - rt_now_ns();
        if (left <= 0)
            return false;
        struct pollfd p = {fd, POLLIN, 0};
        if (poll(&p, 1, (int)(left / 1000000) + 1) < 0 && errno != EINTR)
            return false;
        ssize_t k = recv(fd, got + n, sizeof got - n, MSG_DONTWAIT);
        if (k == 0 || (k < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR))
            return false;
        if (k > 0)
            n += (size_t)k;
    }
    return n == sizeof got && rt_secret_equal(got, rt_secret);
}

int rt_tcp_accept(int lfd)
{
    for (;;) {
        struct sockaddr_in from;
        socklen_t flen = sizeof from;
        int fd = accept4(lfd, (struct sockaddr *)&from, &flen, SOCK_CLOEXEC);
        if (fd < 0)
            return errno == EAGAIN || errno == EWOULDBLOCK ? DAFT_ETIMEDOUT : DAFT_ESYS;
        if (rt_tcp_auth(fd)) {
            rt_tcp_tune(fd);
            return fd;
        }
        char ip[INET_ADDRSTRLEN] = "?";
        inet_ntop(AF_INET, &from.sin_addr, ip, sizeof ip);
        rt_log("refused a connection from %s:%u: it did not present the job secret", ip,
               ntohs(from.sin_port));
        close(fd);
    }
}

/* Blocks (in slices) until fd is writable, keeping the caller's other channels moving. */
static int rt_tcp_wait_out(int fd, const RtWait *w)
{
    if (w && ((w->intr && rt_intr) || (w->deadline_ns >= 0 && rt_now_ns() >= w->deadline_ns)))
        return DAFT_ETIMEDOUT;
    if (w && w->alive && !w->alive(w->arg))
        return DAFT_EPEER;
    if (w && w->progress)
        w->progress(w->arg);
    struct pollfd p = {fd, POLLOUT, 0};
    int64_t ns = rt_sleep_ns(w ? w->deadline_ns : -1, w && w->progress ? 1000000 : RT_SLICE_NS);
    poll(&p, 1, (int)(ns / 1000000) + 1);
    return 0;
}

int rt_tcp_send(int fd, const void *data, size_t len, const RtWait *w)
{
    if (len > 0xffffffffu)
        return DAFT_ETOOBIG;
    uint32_t n32 = (uint32_t)len;
    struct iovec iov[2] = {{&n32, 4}, {(void *)data, len}};
    size_t total = 4 + len, done = 0;
    RtWait rest = w ? *w : (RtWait){-1, NULL, NULL, NULL, false};
    rest.intr = false; /* (an interrupt ends a send before its first byte only) */
    while (done < total) {
        struct iovec v[2];
        int cnt = 0;
        size_t skip = done;
        for (int i = 0; i < 2; i++) {
            if (skip >= iov[i].iov_len) {
                skip -= iov[i].iov_len;
                continue;
            }
            v[cnt].iov_base = (uint8_t *)iov[i].iov_base + skip;
            v[cnt++].iov_len = iov[i].iov_len - skip;
            skip = 0;
        }
        struct msghdr m = {.msg_iov = v, .msg_iovlen = (size_t)cnt};
        ssize_t k = sendmsg(fd, &m, MSG_NOSIGNAL);
        if (k > 0) {
            done += (size_t)k;
            continue;
        }
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            int rc = rt_tcp_wait_out(fd, done == 0 || !w ? w : &rest);
            if (rc)
                return rc;
            continue;
        }
        return DAFT_EPEER;
    }
    return 0;
}

/* Moves one whole framed message from the front of rx into msg, if there is one. */
static int rt_tcp_take(RtBuf *rx, RtBuf *msg)
{
    if (rx->len < 4)
        return 0;
    uint32_t n;
    memcpy(&n, rx->p, 4);
    if (n > RT_TCP_MAX_MSG)
        return DAFT_EPROTO; /* corrupt frame: never buffer gigabytes on its word */
    if (rx->len - 4 < n)
        return 0;
    msg->len = 0;
    if (rt_buf_put(msg, rx->p + 4, n))
        return DAFT_ENOMEM;
    memmove(rx->p, rx->p + 4 + n, rx->len - 4 - n);
    rx->len -= 4 + (size_t)n;
    return 1;
}

int rt_tcp_try_recv(int fd, RtBuf *rx, RtBuf *msg)
{
    int rc = rt_tcp_take(rx, msg);
    if (rc)
        return rc;
    for (;;) {
        if (rt_buf_reserve(rx, 65536))
            return DAFT_ENOMEM;
        ssize_t k = recv(fd, rx->p + rx->len, rx->cap - rx->len, 0);
        if (k > 0) {
            rx->len += (size_t)k;
            if ((rc = rt_tcp_take(rx, msg)))
                return rc;
            continue;
        }
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return 0;
        return DAFT_EPEER; /* EOF or reset: the peer is gone */
    }
}

void rt_tcp_host_addr(char *buf, size_t cap)
{
    rt_fmt(buf, cap, "127.0.0.1");
    struct ifaddrs *ifs = NULL;
    if (getifaddrs(&ifs) < 0)
        return;
    for (struct ifaddrs *i = ifs; i; i = i->ifa_next) {
        if (!i->ifa_addr || i->ifa_addr->sa_family != AF_INET)
            continue;
        struct sockaddr_in *a = (struct sockaddr_in *)i->ifa_addr;
        if (ntohl(a->sin_addr.s_addr) >> 24 == 127)
            continue;
        inet_ntop(AF_INET, &a->sin_addr, buf, (socklen_t)cap);
        break;
    }
    freeifaddrs(ifs);
}
