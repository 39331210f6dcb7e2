/* fault_util.h — helpers shared by the fault-injection, soak and access-control programs:
 * a fixed-seed RNG, a watchdog, and the leak checks every trial ends with (no child
 * process, nothing new in /dev/shm, no socket or memfd left open, none of the job's TCP
 * ports still listening or connected, nothing left in the trial's TMPDIR). Linux only. */
#ifndef DAFT_FAULT_UTIL_H
#define DAFT_FAULT_UTIL_H

#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "proc_check.h"

#define FU_FN static __attribute__((unused))

/* ---------------------------------------------------------------- failing */

static const char *fu_where = "?"; /* scenario + trial, for messages */

__attribute__((format(printf, 1, 2), noreturn)) FU_FN void fu_fail(const char *fmt, ...)
{
    char buf[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    fprintf(stderr, "FAIL [%s]: %s\n", fu_where, buf);
    fflush(stderr);
    _exit(1); /* the runtime's actors die with us (PR_SET_PDEATHSIG) */
}

#define FU_CHECK(cond, fmt, ...)                                                                   \
    do {                                                                                           \
        if (!(cond))                                                                               \
            fu_fail("%s:%d: %s: " fmt, __FILE__, __LINE__, #cond, ##__VA_ARGS__);                 \
    } while (0)

/* ---------------------------------------------------------------- time, rng, watchdog */

FU_FN int64_t fu_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

FU_FN void fu_sleep_us(int64_t us)
{
    struct timespec ts = {us / 1000000, (us % 1000000) * 1000};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

typedef struct FuRng {
    uint64_t s;
} FuRng;

FU_FN FuRng fu_rng(uint64_t seed) { return (FuRng){seed * 0x9E3779B97F4A7C15ULL + 1}; }

FU_FN uint32_t fu_next(FuRng *r) /* splitmix64 */
{
    uint64_t z = (r->s += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return (uint32_t)((z ^ (z >> 31)) >> 16);
}

FU_FN void fu_on_alarm(int sig)
{
    (void)sig;
    static const char m[] = "FAIL: watchdog expired (hang)\n";
    if (write(2, m, sizeof m - 1) < 0) {
    }
    _exit(2);
}

/* Every trial re-arms the watchdog: a hang anywhere fails the program, never the CI job. */
FU_FN void fu_watchdog(unsigned seconds)
{
    signal(SIGALRM, fu_on_alarm);
    alarm(seconds);
}

FU_FN int fu_env_int(const char *name, int dflt)
{
    const char *v = getenv(name);
    return v && *v ? atoi(v) : dflt;
}

/* ---------------------------------------------------------------- /proc */

/* Pids whose parent is ppid (live or zombie). Returns how many (≤ max). */
FU_FN int fu_children(pid_t ppid, pid_t *out, int max)
{
    DIR *d = opendir("/proc");
    int n = 0;
    if (!d)
        return 0;
    for (struct dirent *e; (e = readdir(d));) {
        if (e->d_name[0] < '1' || e->d_name[0] > '9')
            continue;
        char path[300], buf[512];
        snprintf(path, sizeof path, "/proc/%s/stat", e->d_name);
        FILE *f = fopen(path, "r");
        if (!f)
            continue;
        size_t k = fread(buf, 1, sizeof buf - 1, f);
        fclose(f);
        buf[k] = 0;
        const char *rp = strrchr(buf, ')'); /* comm may contain spaces */
        char st;
        int pp;
        if (rp && sscanf(rp + 1, " %c %d", &st, &pp) == 2 && pp == ppid && n < max)
            out[n++] = atoi(e->d_name);
    }
    closedir(d);
    return n;
}

/* 'R', 'S', 'Z', ... or 0 if the process does not exist. */
FU_FN char fu_proc_state(pid_t pid)
{
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    size_t k = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[k] = 0;
    const char *rp = strrchr(buf, ')');
    return rp && rp[1] == ' ' ? rp[2] : 0;
}

/* Resident set size of a process in KiB (/proc/PID/statm), -1 if unknown. */
FU_FN long fu_rss_kib(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/statm", (int)pid);
    FILE *f = fopen(path, "r");
    long size = 0, res = -1;
    if (!f)
        return -1;
    if (fscanf(f, "%ld %ld", &size, &res) != 2)
        res = -1;
    fclose(f);
    return res < 0 ? -1 : res * (sysconf(_SC_PAGESIZE) / 1024);
}

/* The "Threads:" line of /proc/PID/status. */
FU_FN int fu_threads(pid_t pid)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    int n = -1;
    if (!f)
        return -1;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "Threads: %d", &n) == 1)
            break;
    fclose(f);
    return n;
}

/* Open fds of pid whose link starts with prefix ("socket:", "/memfd:"); inodes of sockets
 * go to inodes[] when given. */
FU_FN int fu_fds(pid_t pid, const char *prefix, unsigned long *inodes, int max)
{
    char dir[64];
    snprintf(dir, sizeof dir, "/proc/%d/fd", (int)pid);
    DIR *d = opendir(dir);
    int n = 0;
    if (!d)
        return 0;
    for (struct dirent *e; (e = readdir(d));) {
        char path[400], link[256];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        ssize_t k = readlink(path, link, sizeof link - 1);
        if (k <= 0)
            continue;
        link[k] = 0;
        if (strncmp(link, prefix, strlen(prefix)) != 0)
            continue;
        if (inodes && n < max)
            sscanf(link, "socket:[%lu]", &inodes[n]);
        n++;
    }
    closedir(d);
    return n;
}

/* Memfd mappings of this process (a leaked ring stays mapped even with its fd closed). */
FU_FN int fu_memfd_maps(void)
{
    FILE *f = fopen("/proc/self/maps", "r");
    char line[512];
    int n = 0;
    if (!f)
        return 0;
    while (fgets(line, sizeof line, f))
        n += strstr(line, "/memfd:") != NULL;
    fclose(f);
    return n;
}

/* One /proc/net/tcp{,6} row. */
typedef struct FuTcp {
    uint32_t laddr; /* network order as printed by the kernel (hex of the u32) */
    unsigned lport, state;
    unsigned long inode;
    bool v6;
} FuTcp;

FU_FN int fu_tcp_table(FuTcp *out, int max)
{
    int n = 0;
    for (int v6 = 0; v6 < 2; v6++) {
        FILE *f = fopen(v6 ? "/proc/net/tcp6" : "/proc/net/tcp", "r");
        char line[512];
        if (!f)
            continue;
        if (!fgets(line, sizeof line, f)) { /* header */
            fclose(f);
            continue;
        }
        while (fgets(line, sizeof line, f) && n < max) {
            char local[64], remote[64];
            unsigned st;
            unsigned long inode;
            if (sscanf(line, " %*d: %63s %63s %x %*s %*s %*s %*s %*s %lu", local, remote, &st,
                       &inode) != 4)
                continue;
            char *colon = strrchr(local, ':');
            if (!colon)
                continue;
            FuTcp t = {0};
            t.lport = (unsigned)strtoul(colon + 1, NULL, 16);
            *colon = 0;
            t.laddr = v6 ? 0 : (uint32_t)strtoul(local, NULL, 16);
            t.state = st;
            t.inode = inode;
            t.v6 = v6;
            out[n++] = t;
        }
        fclose(f);
    }
    return n;
}

#define FU_TCP_ESTABLISHED 0x01
#define FU_TCP_LISTEN 0x0A
#define FU_LOOPBACK_HEX 0x0100007Fu /* 127.0.0.1 as /proc/net/tcp prints it (x86) */

/* Local ports of the TCP sockets that pid holds (listening or connected). */
FU_FN int fu_ports_of(pid_t pid, unsigned *ports, unsigned long *inodes, int max)
{
    unsigned long ino[256];
    int ni = fu_fds(pid, "socket:", ino, 256);
    static FuTcp tab[4096];
    int nt = fu_tcp_table(tab, 4096), n = 0;
    for (int i = 0; i < nt; i++)
        for (int k = 0; k < ni && k < 256; k++)
            if (tab[i].inode && tab[i].inode == ino[k] && !tab[i].v6 &&
                tab[i].laddr == FU_LOOPBACK_HEX && n < max) { /* fault/access: all are loopback */
                inodes[n] = tab[i].inode;
                ports[n++] = tab[i].lport;
            }
    return n;
}

/* ---------------------------------------------------------------- the leak check */

typedef struct FuBaseline {
    int shm, sockets, memfds, maps;
    char tmpdir[256];
    unsigned ports[512]; /* the job's TCP ports seen during the trial, and their sockets */
    unsigned long inodes[512];
    int nports;
} FuBaseline;

/* Points TMPDIR (and a trace file, when trace is true) at a fresh empty directory. */
FU_FN void fu_begin(FuBaseline *b, bool trace)
{
    memset(b, 0, sizeof *b);
    b->shm = pc_count_dev_shm();
    b->sockets = fu_fds(getpid(), "socket:", NULL, 0);
    b->memfds = fu_fds(getpid(), "/memfd:", NULL, 0);
    b->maps = fu_memfd_maps();
    snprintf(b->tmpdir, sizeof b->tmpdir, "%s/daft-fault.XXXXXX",
             getenv("FAULT_BASE_TMP") ? getenv("FAULT_BASE_TMP") : "/tmp");
    FU_CHECK(mkdtemp(b->tmpdir) != NULL, "mkdtemp");
    setenv("TMPDIR", b->tmpdir, 1);
    if (trace) {
        char t[300];
        snprintf(t, sizeof t, "%s/trace.json", b->tmpdir);
        setenv("DAFT_TRACE", t, 1);
    } else {
        unsetenv("DAFT_TRACE");
    }
}

/* Remembers the TCP ports the driver and its actors hold now (call mid-trial). */
FU_FN void fu_note_ports(FuBaseline *b)
{
    pid_t kids[256];
    int nk = fu_children(getpid(), kids, 256);
    b->nports += fu_ports_of(getpid(), b->ports + b->nports, b->inodes + b->nports, 512 - b->nports);
    for (int i = 0; i < nk && b->nports < 512; i++)
        b->nports += fu_ports_of(kids[i], b->ports + b->nports, b->inodes + b->nports, 512 - b->nports);
}

/* After daft_rt_shutdown: nothing of the job may remain. */
FU_FN void fu_end(FuBaseline *b)
{
    pid_t kids[64];
    int nk = fu_children(getpid(), kids, 64);
    FU_CHECK(nk == 0, "%d child process(es) left, first pid %d", nk, nk ? kids[0] : 0);
    FU_CHECK(pc_no_children(), "an unreaped child");
    FU_CHECK(pc_count_dev_shm() == b->shm, "/dev/shm gained %d entries", pc_count_dev_shm() - b->shm);
    int s = fu_fds(getpid(), "socket:", NULL, 0);
    FU_CHECK(s == b->sockets, "%d socket fd(s) left open", s - b->sockets);
    int m = fu_fds(getpid(), "/memfd:", NULL, 0);
    FU_CHECK(m == b->memfds, "%d memfd(s) left open", m - b->memfds);
    int mm = fu_memfd_maps();
    FU_CHECK(mm == b->maps, "%d memfd mapping(s) left", mm - b->maps);
    static FuTcp tab[4096];
    int nt = fu_tcp_table(tab, 4096);
    for (int i = 0; i < nt; i++)
        for (int k = 0; k < b->nports; k++)
            /* the same socket (inode), not just its port: once the job's socket is closed,
             * another program on the machine (a test running beside this one) may get the
             * same ephemeral port, as it did once in CI */
            FU_CHECK(!(tab[i].lport == b->ports[k] && tab[i].inode == b->inodes[k] && !tab[i].v6 &&
                       tab[i].laddr == FU_LOOPBACK_HEX &&
                       (tab[i].state == FU_TCP_LISTEN || tab[i].state == FU_TCP_ESTABLISHED)),
                     "port %u of the job is still open (state %x)", b->ports[k], tab[i].state);
    /* temp files: only the trace itself may be there */
    DIR *d = opendir(b->tmpdir);
    FU_CHECK(d != NULL, "tmpdir vanished");
    for (struct dirent *e; (e = readdir(d));) {
        if (e->d_name[0] == '.' && (!e->d_name[1] || (e->d_name[1] == '.' && !e->d_name[2])))
            continue;
        FU_CHECK(strcmp(e->d_name, "trace.json") == 0, "temporary file left: %s", e->d_name);
        char p[600];
        snprintf(p, sizeof p, "%s/%s", b->tmpdir, e->d_name);
        unlink(p);
    }
    closedir(d);
    rmdir(b->tmpdir);
    unsetenv("DAFT_TRACE");
}

#endif
