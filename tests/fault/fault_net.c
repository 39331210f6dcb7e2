/* fault_net.c — access control and corrupt traffic (issue 9, points 5 and 6).
 *
 * With DAFT_TRANSPORT=tcp (set here) and then shm:
 *  - every TCP socket of the driver and its actors is bound to 127.0.0.1 (no wildcard, no
 *    IPv6 listener); unix sockets are unnamed; every memfd is owner-only (mode 0600);
 *    every process of the job has exactly one thread (ThreadSanitizer has nothing to see);
 *  - foreign connections to the driver's and to each actor's listening port — a wrong
 *    secret followed by forged HELLO / XFER / TASK frames, a silent connection, a short
 *    secret — are closed by the runtime, and no forged task runs (the 'mark' counter of
 *    each actor is still 0 afterwards); spawning and calls keep working meanwhile;
 *  - a connection that does present the job secret (positive control: the check is what
 *    tells them apart) is accepted, and then feeds an actor corrupt frames: malformed
 *    values, 300 random frames (fixed seed), a truncated frame, a 4 GiB length word. The
 *    actor survives each (ASan build: no memory error) and keeps serving calls.
 * Uses the internal header only to read the secret and the listening addresses. */
#include "fault_util.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/socket.h>

#include "rt_internal.h"

static int m_add(DaftActorCtx *ctx, void *st, const DaftValue *a, int n, DaftValue *out)
{
    (void)st;
    if (n != 2 || a[0].kind != DAFT_V_I64 || a[1].kind != DAFT_V_I64)
        return daft_raise(ctx, "add expects two i64");
    *out = daft_value_i64(a[0].as.i64 + a[1].as.i64);
    return 0;
}

static int m_mark(DaftActorCtx *ctx, void *st, const DaftValue *a, int n, DaftValue *out)
{
    (void)ctx; (void)a; (void)n;
    *out = daft_value_i64(++*(int64_t *)st);
    return 0;
}

static int m_peek(DaftActorCtx *ctx, void *st, const DaftValue *a, int n, DaftValue *out)
{
    (void)ctx; (void)a; (void)n;
    *out = daft_value_i64(*(int64_t *)st);
    return 0;
}

enum { M_ADD, M_MARK, M_PEEK };
static const DaftMethodDesc methods[] = {{"add", m_add}, {"mark", m_mark}, {"peek", m_peek}};
static const DaftClassDesc cls = {"N", sizeof(int64_t), NULL, NULL, methods, 3};

/* ---------------------------------------------------------------- helpers */

static int64_t call2(DaftRt *rt, DaftActor a, int m, DaftValue x, DaftValue y, int nargs)
{
    DaftValue args[2] = {x, y}, v;
    DaftRef r;
    FU_CHECK(daft_rt_call(rt, a, m, args, nargs, &r) == 0, "call: %s", daft_rt_last_error(rt));
    FU_CHECK(daft_rt_get(rt, r, 15.0, &v) == 0, "get (hang?)");
    FU_CHECK(v.kind == DAFT_V_I64, "call failed: %s", v.kind == DAFT_V_ERROR ? v.as.error.msg : "?");
    daft_rt_release(rt, r);
    return v.as.i64;
}

static int dial(const char *addr)
{
    char host[64];
    const char *colon = strrchr(addr, ':');
    FU_CHECK(colon && (size_t)(colon - addr) < sizeof host, "address %s", addr);
    memcpy(host, addr, (size_t)(colon - addr));
    host[colon - addr] = 0;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(colon + 1))};
    FU_CHECK(inet_pton(AF_INET, host, &a.sin_addr) == 1, "host %s", host);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    FU_CHECK(fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof a) == 0, "connect %s", addr);
    return fd;
}

static void put_frame(int fd, const RtBuf *body)
{
    uint32_t n = (uint32_t)body->len;
    /* the peer may already have closed us: MSG_NOSIGNAL, errors ignored */
    if (send(fd, &n, 4, MSG_NOSIGNAL) == 4 && body->len)
        (void)!send(fd, body->p, body->len, MSG_NOSIGNAL);
}

static void put_raw(int fd, const void *p, size_t n) { (void)!send(fd, p, n, MSG_NOSIGNAL); }

/* Forged frames: HELLO as actor `id`, an XFER of 42, a TASK calling 'mark'. */
static void forge(int fd, DaftActor id)
{
    RtBuf b = {0};
    rt_buf_u32(&b, RT_M_HELLO);
    rt_buf_u32(&b, id);
    rt_buf_str(&b, "127.0.0.1:1");
    put_frame(fd, &b);
    b.len = 0;
    rt_buf_u32(&b, RT_M_XFER);
    rt_buf_u64(&b, 1);
    DaftValue v = daft_value_i64(42);
    rt_value_put(&b, &v);
    put_frame(fd, &b);
    b.len = 0;
    rt_buf_u32(&b, RT_M_TASK);
    rt_buf_u64(&b, 999);
    rt_buf_u32(&b, M_MARK);
    rt_buf_u32(&b, 0);
    put_frame(fd, &b);
    rt_buf_free(&b);
}

/* True if the peer closed fd within ms (EOF or reset). */
static bool closed_within(int fd, int ms)
{
    int64_t end = fu_now_ns() + (int64_t)ms * 1000000;
    for (;;) {
        struct pollfd p = {fd, POLLIN, 0};
        int left = (int)((end - fu_now_ns()) / 1000000);
        if (left < 0)
            return false;
        if (poll(&p, 1, left) > 0) {
            char c[256];
            ssize_t k = recv(fd, c, sizeof c, MSG_DONTWAIT);
            if (k == 0 || (k < 0 && errno != EAGAIN && errno != EINTR))
                return true;
        }
    }
}

/* ---------------------------------------------------------------- access checks */

static void check_memfds(pid_t pid)
{
    char dir[64];
    snprintf(dir, sizeof dir, "/proc/%d/fd", (int)pid);
    DIR *d = opendir(dir);
    FU_CHECK(d != NULL, "%s", dir);
    for (struct dirent *e; (e = readdir(d));) {
        char path[400], link[256];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        ssize_t k = readlink(path, link, sizeof link - 1);
        if (k <= 0)
            continue;
        link[k] = 0;
        struct stat st;
        if (strncmp(link, "/memfd:", 7) == 0 && stat(path, &st) == 0)
            FU_CHECK((st.st_mode & 077) == 0, "pid %d %s has mode %o", (int)pid, link,
                     st.st_mode & 0777);
    }
    closedir(d);
}

/* Mapped memfds (rings keep their mapping after the fd is closed): /proc/PID/map_files. */
static int check_mapped_memfds(pid_t pid)
{
    char maps[64];
    snprintf(maps, sizeof maps, "/proc/%d/maps", (int)pid);
    FILE *f = fopen(maps, "r");
    char line[512];
    int n = 0;
    FU_CHECK(f != NULL, "%s", maps);
    while (fgets(line, sizeof line, f)) {
        if (!strstr(line, "/memfd:daft"))
            continue;
        char range[64], path[128];
        sscanf(line, "%63s", range);
        snprintf(path, sizeof path, "/proc/%d/map_files/%s", (int)pid, range);
        struct stat st;
        if (stat(path, &st) != 0)
            continue; /* map_files needs CAP_SYS_ADMIN on some kernels: skip */
        FU_CHECK((st.st_mode & 077) == 0, "pid %d mapping %s mode %o", (int)pid, line,
                 st.st_mode & 0777);
        n++;
    }
    fclose(f);
    return n;
}

static void check_sockets(pid_t pid, bool tcp)
{
    unsigned long ino[256];
    int ni = fu_fds(pid, "socket:", ino, 256);
    static FuTcp tab[4096];
    int nt = fu_tcp_table(tab, 4096), listening = 0;
    for (int i = 0; i < nt; i++)
        for (int k = 0; k < ni && k < 256; k++) {
            if (!tab[i].inode || tab[i].inode != ino[k])
                continue;
            FU_CHECK(!tab[i].v6, "pid %d has an IPv6 TCP socket", (int)pid);
            FU_CHECK(tab[i].laddr == FU_LOOPBACK_HEX, "pid %d: TCP socket on %08x, not 127.0.0.1",
                     (int)pid, tab[i].laddr);
            listening += tab[i].state == FU_TCP_LISTEN;
        }
    if (tcp)
        FU_CHECK(listening == 1, "pid %d has %d listening sockets", (int)pid, listening);
    /* unix sockets (fd passing) must be unnamed */
    FILE *f = fopen("/proc/net/unix", "r");
    char line[512];
    while (f && fgets(line, sizeof line, f)) {
        unsigned long inode;
        char path[256] = "";
        if (sscanf(line, "%*s %*s %*s %*s %*s %*s %lu %255s", &inode, path) < 1)
            continue;
        for (int k = 0; k < ni && k < 256; k++)
            FU_CHECK(!(inode == ino[k] && path[0] && path[0] != '@'), "named unix socket %s", path);
    }
    if (f)
        fclose(f);
}

static void check_process(pid_t pid, bool tcp)
{
    FU_CHECK(fu_threads(pid) == 1, "pid %d runs %d threads", (int)pid, fu_threads(pid));
    check_memfds(pid);
    check_sockets(pid, tcp);
}

/* ---------------------------------------------------------------- the TCP part */

static void tcp_part(void)
{
    setenv("DAFT_TRANSPORT", "tcp", 1);
    FuBaseline b;
    fu_begin(&b, false);
    DaftRt *rt = daft_rt_init(NULL, NULL);
    FU_CHECK(rt && daft_rt_register_class(rt, &cls) == 0, "init");
    FU_CHECK(rt_tcp_secret() != NULL, "no job secret");
    static const uint8_t zero[RT_SECRET_LEN];
    FU_CHECK(memcmp(rt_tcp_secret(), zero, RT_SECRET_LEN) != 0, "secret is all zero");
    DaftActor w[3];
    const char *names[3] = {"w0", "w1", "w2"};
    for (int i = 0; i < 2; i++) {
        DaftSpawnOpts o = {names[i], -1, -1};
        FU_CHECK(daft_rt_spawn(rt, 0, NULL, 0, &o, &w[i]) == 0, "spawn");
    }
    FU_CHECK(call2(rt, w[0], M_ADD, daft_value_i64(1), daft_value_i64(2), 2) == 3, "add");
    FU_CHECK(call2(rt, w[1], M_ADD, daft_value_i64(1), daft_value_i64(2), 2) == 3, "add");
    /* a Ref w0 -> w1 opens the actor-to-actor connection, so it is checked too */
    {
        DaftValue a1[2] = {daft_value_i64(5), daft_value_i64(5)}, v;
        DaftRef r1, r2;
        FU_CHECK(daft_rt_call(rt, w[0], M_ADD, a1, 2, &r1) == 0, "call");
        DaftValue a2[2] = {daft_value_ref(r1), daft_value_i64(1)};
        FU_CHECK(daft_rt_call(rt, w[1], M_ADD, a2, 2, &r2) == 0, "call");
        FU_CHECK(daft_rt_get(rt, r2, 10.0, &v) == 0 && v.as.i64 == 11, "ref passing");
    }
    fu_note_ports(&b);
    pid_t kids[8];
    int nk = fu_children(getpid(), kids, 8);
    FU_CHECK(nk == 2, "children %d", nk);
    check_process(getpid(), true);
    for (int i = 0; i < nk; i++)
        check_process(kids[i], true);
    printf("access (tcp): sockets on 127.0.0.1 only, memfds 0600, 1 thread per process\n");

    /* foreign connections to each actor's listener */
    for (int i = 0; i < 2; i++) {
        const char *addr = rt->actors[w[i]]->addr;
        int bad = dial(addr), silent = dial(addr), shortc = dial(addr);
        uint8_t wrong[RT_SECRET_LEN];
        memcpy(wrong, rt_tcp_secret(), RT_SECRET_LEN);
        wrong[RT_SECRET_LEN - 1] ^= 1; /* off by one bit */
        put_raw(bad, wrong, sizeof wrong);
        forge(bad, w[1 - i]);
        put_raw(shortc, rt_tcp_secret(), RT_SECRET_LEN / 2);
        shutdown(shortc, SHUT_WR);
        /* the actor refuses them while it works: calls go on meanwhile */
        FU_CHECK(call2(rt, w[i], M_ADD, daft_value_i64(i), daft_value_i64(1), 2) == i + 1, "call");
        FU_CHECK(closed_within(bad, 3000), "actor %s kept a wrong-secret connection", names[i]);
        FU_CHECK(closed_within(shortc, 3000), "actor %s kept a short-secret connection", names[i]);
        FU_CHECK(closed_within(silent, 5000), "actor %s kept a silent connection", names[i]);
        close(bad);
        close(silent);
        close(shortc);
    }
    /* foreign connections to the driver's listener, pretending to be the next actor */
    int dbad = dial(rt->laddr), dsilent = dial(rt->laddr);
    uint8_t junk[RT_SECRET_LEN];
    FuRng rng = fu_rng(7);
    for (size_t k = 0; k < sizeof junk; k++)
        junk[k] = (uint8_t)fu_next(&rng);
    put_raw(dbad, junk, sizeof junk);
    forge(dbad, 3);
    int64_t t0 = fu_now_ns();
    DaftSpawnOpts o3 = {names[2], -1, -1};
    FU_CHECK(daft_rt_spawn(rt, 0, NULL, 0, &o3, &w[2]) == 0, "spawn with foreign connections "
                                                             "queued: %s", daft_rt_last_error(rt));
    printf("access (tcp): spawn with 2 foreign connections queued took %lld ms\n",
           (long long)((fu_now_ns() - t0) / 1000000));
    FU_CHECK(closed_within(dbad, 3000), "driver kept a wrong-secret connection");
    FU_CHECK(closed_within(dsilent, 5000), "driver kept a silent connection");
    close(dbad);
    close(dsilent);
    /* no forged task ran anywhere; the new actor is the real one */
    for (int i = 0; i < 3; i++)
        FU_CHECK(call2(rt, w[i], M_PEEK, daft_value_none(), daft_value_none(), 0) == 0,
                 "a forged 'mark' ran on %s", names[i]);
    FU_CHECK(call2(rt, w[2], M_MARK, daft_value_none(), daft_value_none(), 0) == 1, "mark");
    printf("access (tcp): wrong, short and missing secrets refused by driver and actors; "
           "no forged task ran\n");

    /* positive control: the job secret is accepted ... */
    int good = dial(rt->actors[w[0]]->addr);
    put_raw(good, rt_tcp_secret(), RT_SECRET_LEN);
    FU_CHECK(call2(rt, w[0], M_ADD, daft_value_i64(1), daft_value_i64(1), 2) == 2, "call");
    FU_CHECK(!closed_within(good, 300), "a connection with the right secret was refused");
    /* ... and then corrupt frames do no harm */
    RtBuf m = {0};
    rt_buf_u32(&m, RT_M_HELLO);
    rt_buf_u32(&m, w[1]);
    rt_buf_str(&m, "");
    put_frame(good, &m);
    m.len = 0;
    rt_buf_u32(&m, RT_M_XFER);
    rt_buf_u64(&m, 77);
    rt_buf_u8(&m, 99); /* no such value kind */
    put_frame(good, &m);
    m.len = 0;
    rt_buf_u32(&m, RT_M_XFER);
    rt_buf_u64(&m, 78);
    rt_buf_u8(&m, DAFT_V_TENSOR);
    rt_buf_u8(&m, DAFT_RT_F32);
    rt_buf_u8(&m, 2);
    rt_buf_u64(&m, (uint64_t)1 << 40); /* a huge shape with no data behind it */
    rt_buf_u64(&m, (uint64_t)1 << 40);
    put_frame(good, &m);
    for (int k = 0; k < 300; k++) { /* random frames: types near the real ones */
        m.len = 0;
        uint32_t type = fu_next(&rng) % 4 == 0 ? fu_next(&rng) : RT_M_HELLO + fu_next(&rng) % 3;
        if (type == RT_M_HELLO + 1)
            type = RT_M_XFER;
        rt_buf_u32(&m, type);
        uint32_t len = fu_next(&rng) % 200;
        for (uint32_t q = 0; q < len; q++)
            rt_buf_u8(&m, (uint8_t)fu_next(&rng));
        put_frame(good, &m);
    }
    uint32_t trunc = 1000;
    put_raw(good, &trunc, 4);
    put_raw(good, "0123456789", 10);
    close(good); /* truncated frame, then EOF */
    long rss0 = fu_rss_kib(kids[0]);
    int huge = dial(rt->actors[w[1]]->addr);
    put_raw(huge, rt_tcp_secret(), RT_SECRET_LEN);
    uint32_t big = 0xfffffff0u;
    put_raw(huge, &big, 4);
    put_raw(huge, "abcdefgh", 8);
    FU_CHECK(call2(rt, w[0], M_ADD, daft_value_i64(2), daft_value_i64(2), 2) == 4, "after garbage");
    FU_CHECK(call2(rt, w[1], M_ADD, daft_value_i64(2), daft_value_i64(3), 2) == 5, "after 4 GiB frame");
    {
        DaftValue a1[2] = {daft_value_i64(1), daft_value_i64(1)}, v;
        DaftRef r1, r2;
        FU_CHECK(daft_rt_call(rt, w[0], M_ADD, a1, 2, &r1) == 0, "call");
        DaftValue a2[2] = {daft_value_ref(r1), daft_value_i64(1)};
        FU_CHECK(daft_rt_call(rt, w[1], M_ADD, a2, 2, &r2) == 0, "call");
        FU_CHECK(daft_rt_get(rt, r2, 10.0, &v) == 0 && v.kind == DAFT_V_I64 && v.as.i64 == 3,
                 "ref passing after garbage");
    }
    for (int i = 0; i < nk; i++) {
        long rss = fu_rss_kib(kids[i]);
        FU_CHECK(rss > 0 && rss - rss0 < 256 * 1024, "an actor's RSS grew to %ld KiB", rss);
    }
    close(huge);
    rt_buf_free(&m);
    printf("access (tcp): authenticated corrupt frames (malformed values, 300 random frames, "
           "truncated frame, 4 GiB length) survived\n");
    fu_note_ports(&b);
    daft_rt_shutdown(rt);
    fu_end(&b);
}

/* ---------------------------------------------------------------- the SHM part */

static void shm_part(void)
{
    setenv("DAFT_TRANSPORT", "shm", 1);
    FuBaseline b;
    fu_begin(&b, false);
    DaftRt *rt = daft_rt_init(NULL, NULL);
    FU_CHECK(rt && daft_rt_register_class(rt, &cls) == 0, "init");
    DaftActor w[2];
    for (int i = 0; i < 2; i++)
        FU_CHECK(daft_rt_spawn(rt, 0, NULL, 0, NULL, &w[i]) == 0, "spawn");
    DaftValue a1[2] = {daft_value_i64(5), daft_value_i64(5)}, v;
    DaftRef r1, r2;
    FU_CHECK(daft_rt_call(rt, w[0], M_ADD, a1, 2, &r1) == 0, "call");
    DaftValue a2[2] = {daft_value_ref(r1), daft_value_i64(1)};
    FU_CHECK(daft_rt_call(rt, w[1], M_ADD, a2, 2, &r2) == 0, "call");
    FU_CHECK(daft_rt_get(rt, r2, 10.0, &v) == 0 && v.as.i64 == 11, "ref passing");
    pid_t kids[8];
    int nk = fu_children(getpid(), kids, 8);
    check_process(getpid(), false);
    int mapped = check_mapped_memfds(getpid());
    for (int i = 0; i < nk; i++) {
        check_process(kids[i], false);
        mapped += check_mapped_memfds(kids[i]);
    }
    FU_CHECK(pc_count_dev_shm() == b.shm, "something appeared in /dev/shm");
    printf("access (shm): no TCP sockets, memfds 0600 (%d mappings checked), nothing in "
           "/dev/shm, 1 thread per process\n", mapped);
    daft_rt_shutdown(rt);
    fu_end(&b);
}

int main(void)
{
    setvbuf(stdout, NULL, _IONBF, 0);
    prctl(PR_SET_CHILD_SUBREAPER, 1);
    fu_where = "access tcp";
    fu_watchdog(90);
    tcp_part();
    fu_where = "access shm";
    fu_watchdog(30);
    shm_part();
    alarm(0);
    printf("access: passed\n");
    return 0;
}
