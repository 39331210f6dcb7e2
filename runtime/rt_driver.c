/* rt_driver.c — the runtime context: init and shutdown, the class table, spawning actor
 * processes (local fork or an MPI worker rank) and the worker side of daft_rt_start. */
#define _GNU_SOURCE
#include "rt_internal.h"
#include "rt_gpu.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#define RT_CTL_SLOTS 64
#define RT_CTL_SLOT 4096
#define RT_CONNECT_NS 10000000000LL /* a new actor must say hello within 10 s */

void rt_set_err(DaftRt *rt, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(rt->err, sizeof rt->err, fmt, ap);
    va_end(ap);
}

const char *daft_rt_last_error(const DaftRt *rt) { return rt ? rt->err : "no runtime"; }
bool daft_rt_is_driver(const DaftRt *rt) { return rt->is_driver; }

const char *rt_class_name(const DaftRt *rt, int cls)
{
    return cls >= 0 && cls < rt->nclasses ? rt->classes[cls].name : "?";
}

const char *rt_method_name(const DaftRt *rt, int cls, int method)
{
    if (method == -1)
        return "init";
    if (cls < 0 || cls >= rt->nclasses || method < 0 || method >= rt->classes[cls].nmethods)
        return "?";
    return rt->classes[cls].methods[method].name;
}

/* ---------------------------------------------------------------- init / classes */

static int rt_init_bells(DaftRt *rt)
{
    /* Created before any fork so every local actor maps it at the same address. */
    rt->bells_size = sizeof(RtBell) * RT_MAX_ACTORS;
    int fd = memfd_create("daft-bells", MFD_CLOEXEC);
    if (fd < 0 || fchmod(fd, 0600) < 0 || ftruncate(fd, (off_t)rt->bells_size) < 0) {
        if (fd >= 0)
            close(fd);
        return DAFT_ESYS;
    }
    void *p = mmap(NULL, rt->bells_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd);
    if (p == MAP_FAILED)
        return DAFT_ESYS;
    rt->bells = p;
    return 0;
}

/* Under MPI: accept one hello per worker rank, remembering its connection and address. */
static int rt_accept_ranks(DaftRt *rt)
{
    rt->rank_fd = calloc((size_t)rt->nranks, sizeof *rt->rank_fd);
    rt->rank_addr = calloc((size_t)rt->nranks, sizeof *rt->rank_addr);
    if (!rt->rank_fd || !rt->rank_addr)
        return DAFT_ENOMEM;
    for (int i = 0; i < rt->nranks; i++)
        rt->rank_fd[i] = -1;
    int64_t deadline = rt_now_ns() + 30 * 1000000000LL;
    for (int got = 1; got < rt->nranks;) {
        if (rt_now_ns() > deadline)
            return DAFT_ETIMEDOUT;
        struct pollfd p = {rt->lfd, POLLIN, 0};
        poll(&p, 1, 100);
        int fd = rt_tcp_accept(rt->lfd);
        if (fd < 0)
            continue;
        RtBuf rx = {0}, m = {0};
        int rc = 0;
        while ((rc = rt_tcp_try_recv(fd, &rx, &m)) == 0 && rt_now_ns() < deadline)
            poll(&(struct pollfd){fd, POLLIN, 0}, 1, 100);
        RtRd r = rt_rd(m.p, m.len);
        uint32_t type = rt_rd_u32(&r), rank = rt_rd_u32(&r);
        if (rc > 0 && type == RT_M_HELLO && rank > 0 && rank < (uint32_t)rt->nranks) {
            rt_rd_str(&r, rt->rank_addr[rank], sizeof rt->rank_addr[rank]);
            rt->rank_fd[rank] = fd;
            got++;
        } else {
            close(fd);
        }
        rt_buf_free(&rx);
        rt_buf_free(&m);
    }
    return 0;
}

/* SPEC 17: a variable's value must be one of `known` (an empty value counts as unset, so
 * the default); anything else is a start-up error, not a silent default. */
static bool rt_env_ok(const char *var, const char *const *known, const char *list)
{
    const char *v = getenv(var);
    if (!v || !*v)
        return true;
    for (; *known; known++)
        if (strcmp(v, *known) == 0)
            return true;
    rt_log("%s=%s is not known (%s)", var, v, list);
    return false;
}

/* A number of seconds >= 0, the whole value (a typo such as "1m" read as 1, or "abc" as
 * 0, would silently turn the reports of long waits off). */
static bool rt_env_seconds(const char *var, double dflt, double *out)
{
    const char *v = getenv(var);
    *out = dflt;
    if (!v || !*v)
        return true;
    char *end;
    errno = 0;
    double d = strtod(v, &end);
    if (end == v || *end || errno || !(d >= 0 && d <= 1e9)) {
        rt_log("%s=%s is not a number of seconds (0: never)", var, v);
        return false;
    }
    *out = d;
    return true;
}

static bool rt_env_check(void)
{
    static const char *const devices[] = {"cpu", "gpu", NULL};
    static const char *const transports[] = {"auto", "shm", "tcp", NULL};
    double wr;
    bool dev = rt_env_ok("DAFT_DEVICE", devices, "cpu, gpu");
    bool rep = rt_env_seconds("DAFT_WAIT_REPORT", 60.0, &wr);
    return rt_env_ok("DAFT_TRANSPORT", transports, "auto, shm, tcp") && dev && rep;
}

static int rt_init_transport(DaftRt *rt, int *argc, char ***argv)
{
    const char *tr = getenv("DAFT_TRANSPORT"); /* auto: shm on this one host (MPI: TCP) */
    if (tr && strcmp(tr, "tcp") == 0)
        rt->mode = RT_MODE_TCP;
    if (rt_mpi_detect()) {
        rt->mpi = true;
        rt->mode = RT_MODE_TCP;
        rt_tcp_host_addr(rt->host, sizeof rt->host);
        if (rt_mpi_bootstrap(rt, argc, argv))
            return DAFT_ESYS;
        rt->is_driver = rt->rank == 0;
        return rt->is_driver && rt->nranks > 1 ? rt_accept_ranks(rt) : 0;
    }
    rt_fmt(rt->host, sizeof rt->host, "127.0.0.1");
    if (rt_tcp_secret_init()) /* before any fork: local actors inherit it */
        return DAFT_ESYS;
    if (rt->mode == RT_MODE_TCP) {
        rt->lfd = rt_tcp_listen(rt->host, rt->laddr, sizeof rt->laddr);
        if (rt->lfd < 0)
            return DAFT_ESYS;
    }
    return 0;
}

DaftRt *daft_rt_init(int *argc, char ***argv)
{
    rt_tune_malloc();
    if (!rt_env_check())
        return NULL;
    DaftRt *rt = calloc(1, sizeof *rt);
    if (!rt)
        return NULL;
    rt->is_driver = true;
    rt->lfd = -1;
    rt->driver_pid = getpid();
    rt->next_ref = rt->next_xfer = 1;
    rt_objtab_init(&rt->refs);
    rt_stats_init(&rt->stats); /* (before the transport: MPI ranks become actors there) */
    double wr;
    rt_env_seconds("DAFT_WAIT_REPORT", 60.0, &wr); /* (checked above) */
    rt->wait_report_ns = (int64_t)(wr * 1e9);
    if (rt_init_bells(rt) || rt_init_transport(rt, argc, argv)) {
        rt_log("cannot start the runtime: %s", strerror(errno));
        daft_rt_shutdown(rt);
        return NULL;
    }
    rt_trace_init(&rt->trace, 0, "driver");
    return rt;
}

int daft_rt_register_class(DaftRt *rt, const DaftClassDesc *d)
{
    if (!d || !d->name || d->nmethods < 0 || (d->nmethods && !d->methods)) {
        rt_set_err(rt, "register_class: incomplete class description");
        return DAFT_EINVAL;
    }
    RtClass *cs = realloc(rt->classes, (size_t)(rt->nclasses + 1) * sizeof *cs);
    if (!cs)
        return DAFT_ENOMEM;
    rt->classes = cs;
    RtClass *c = &cs[rt->nclasses];
    memset(c, 0, sizeof *c);
    c->name = strdup(d->name);
    c->state_size = d->state_size;
    c->init = d->init;
    c->fini = d->fini;
    c->nmethods = d->nmethods;
    c->methods = calloc((size_t)d->nmethods + 1, sizeof *c->methods);
    c->method_names = calloc((size_t)d->nmethods + 1, sizeof *c->method_names);
    c->takes_errors = calloc((size_t)d->nmethods + 1, sizeof *c->takes_errors);
    if (!c->name || !c->methods || !c->method_names || !c->takes_errors)
        return DAFT_ENOMEM;
    for (int i = 0; i < d->nmethods; i++) {
        if (!d->methods[i].fn || !d->methods[i].name) {
            rt_set_err(rt, "register_class %s: method %d has no name or function", d->name, i);
            return DAFT_EINVAL;
        }
        c->method_names[i] = strdup(d->methods[i].name);
        c->methods[i].name = c->method_names[i];
        c->methods[i].fn = d->methods[i].fn;
    }
    return rt->nclasses++;
}

int daft_rt_method_takes_errors(DaftRt *rt, int class_id, int method)
{
    if (class_id < 0 || class_id >= rt->nclasses || method < 0 || method >= rt->classes[class_id].nmethods) {
        rt_set_err(rt, "method_takes_errors: no method %d in class %d", method, class_id);
        return DAFT_EINVAL;
    }
    rt->classes[class_id].takes_errors[method] = true;
    return 0;
}

int daft_rt_class_id(const DaftRt *rt, const char *name)
{
    for (int i = 0; i < rt->nclasses; i++)
        if (strcmp(rt->classes[i].name, name) == 0)
            return i;
    return DAFT_EINVAL;
}

int daft_rt_method_index(const DaftRt *rt, int cls, const char *method)
{
    if (cls < 0 || cls >= rt->nclasses)
        return DAFT_EINVAL;
    for (int i = 0; i < rt->classes[cls].nmethods; i++)
        if (strcmp(rt->classes[cls].methods[i].name, method) == 0)
            return i;
    return DAFT_EINVAL;
}

/* ---------------------------------------------------------------- spawning */

static RtActorRec *rt_new_actor(DaftRt *rt, int cls, const DaftSpawnOpts *o)
{
    if (rt->nactors + 1 >= RT_MAX_ACTORS) {
        rt_set_err(rt, "spawn: at most %d actors", RT_MAX_ACTORS - 1);
        return NULL;
    }
    if (rt->nactors + 1 >= rt->actors_cap) {
        uint32_t n = rt->actors_cap ? rt->actors_cap * 2 : 16;
        RtActorRec **p = realloc(rt->actors, n * sizeof *p);
        if (!p)
            return NULL;
        rt->actors = p;
        rt->actors_cap = n;
    }
    RtActorRec *a = calloc(1, sizeof *a);
    if (!a)
        return NULL;
    a->id = rt->nactors + 1;
    a->cls = cls;
    a->sock = -1;
    a->proc.pidfd = -1;
    a->ctl.fd = a->res.fd = -1;
    a->gpu = rt->mpi ? -1 : rt_gpu_place(o ? o->gpu : -1); /* no CUDA here: just a number */
    if (o && o->name && *o->name)
        rt_fmt(a->name, sizeof a->name, "%s", o->name);
    else
        rt_fmt(a->name, sizeof a->name, "%s#%u", rt->classes[cls].name, a->id);
    rt->actors[a->id] = a;
    rt->nactors = a->id;
    return a;
}

typedef struct RtForkArg {
    DaftRt *rt;
    RtActorRec *a;
    int sock;     /* child end of the fd-passing socket */
    int drv_sock; /* driver end: the child must not keep it */
} RtForkArg;

/* In the child: drop what belongs to the driver and to the other actors. */
static void rt_child_close_inherited(DaftRt *rt, RtActorRec *self)
{
    for (DaftActor i = 1; i <= rt->nactors; i++) {
        RtActorRec *a = rt->actors[i];
        if (a->sock >= 0)
            close(a->sock);
        rt_launch_close(&a->proc);
        if (a != self && a->ctl.kind == RT_CHAN_TCP)
            close(a->ctl.fd);
    }
    if (rt->lfd >= 0)
        close(rt->lfd);
    rt->lfd = -1;
}

static void rt_child_main(void *arg)
{
    RtForkArg *f = arg;
    DaftRt *rt = f->rt;
    RtActorRec *a = f->a;
    rt->is_driver = false;
    if (f->drv_sock >= 0)
        close(f->drv_sock);
    rt_child_close_inherited(rt, a);
    rt_gpu_child_start(a->gpu, a->name); /* cudaSetDevice + streams, after the fork */
    if (rt->mode == RT_MODE_SHM) {
        rt_ring_reader_init(&a->ctl.rd, &a->ctl.ring, 0);
        rt_actor_main(rt, a->id, a->name, &a->ctl, &a->res, f->sock, -1, NULL);
    }
    char addr[64];
    int lfd = rt_tcp_listen(rt->host, addr, sizeof addr);
    int fd = lfd < 0 ? -1 : rt_tcp_connect(rt->laddr, rt_now_ns() + RT_CONNECT_NS);
    if (fd < 0)
        _exit(3);
    RtBuf m = {0};
    rt_buf_u32(&m, RT_M_HELLO);
    rt_buf_u32(&m, a->id);
    rt_buf_str(&m, addr);
    RtChan ctl = {.kind = RT_CHAN_TCP, .fd = fd}, res = {.kind = RT_CHAN_TCP, .fd = fd};
    if (rt_chan_send(&ctl, m.p, m.len, NULL))
        _exit(3);
    rt_buf_free(&m);
    rt_actor_main(rt, a->id, a->name, &ctl, &res, -1, lfd, addr);
}

/* SHM: the two rings to and from the actor, before the fork so the child inherits them. */
static int rt_make_shm_chans(DaftRt *rt, RtActorRec *a, int sv[2])
{
    if (rt_ring_create(&a->ctl.ring, RT_CTL_SLOTS, RT_CTL_SLOT, 1))
        return DAFT_ESYS;
    a->ctl.kind = RT_CHAN_SHM; /* set at once: a failure below must still free the ring */
    if (rt_ring_create(&a->res.ring, RT_CTL_SLOTS, RT_CTL_SLOT, 1))
        return DAFT_ESYS;
    a->res.kind = RT_CHAN_SHM;
    a->ctl.ring.bell = &rt->bells[a->id];
    a->res.ring.bell = &rt->bells[0];
    rt_ring_close_fd(&a->ctl.ring);
    rt_ring_close_fd(&a->res.ring);
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
        return DAFT_ESYS;
    return 0;
}

/* TCP (local): wait for the child's hello on the driver's listening socket. */
static int rt_await_hello(DaftRt *rt, RtActorRec *a)
{
    int64_t deadline = rt_now_ns() + RT_CONNECT_NS;
    RtBuf m = {0};
    int rc = DAFT_ETIMEDOUT;
    while (rt_now_ns() < deadline && !rt_launch_exited(&a->proc)) {
        if (a->ctl.fd < 0) {
            poll(&(struct pollfd){rt->lfd, POLLIN, 0}, 1, 20);
            a->ctl.fd = a->res.fd = rt_tcp_accept(rt->lfd);
            if (a->ctl.fd == DAFT_ESYS && errno != EINTR && errno != ECONNABORTED) {
                rc = DAFT_ESYS; /* out of fds or memory: fail now, not after 10 s */
                a->ctl.fd = a->res.fd = -1;
                break;
            }
            if (a->ctl.fd < 0)
                a->ctl.fd = a->res.fd = -1;
            continue;
        }
        rc = rt_tcp_try_recv(a->ctl.fd, &a->res.rx, &m);
        if (rc > 0) {
            RtRd r = rt_rd(m.p, m.len);
            rc = rt_rd_u32(&r) == RT_M_HELLO && rt_rd_u32(&r) == a->id ? 0 : DAFT_EPROTO;
            rt_rd_str(&r, a->addr, sizeof a->addr);
            if (rc == 0)
                break;
        }
        if (rc < 0) { /* not our child's: a compiled plan's output channel (given to its
                       * plan), or left queued by an earlier child that died before its
                       * hello was read (dropped). Keep waiting for ours. */
            if (!rt_plan_take_conn(rt, a->ctl.fd, &a->res.rx, &m))
                close(a->ctl.fd);
            a->ctl.fd = a->res.fd = -1;
            a->res.rx.len = 0;
            rc = DAFT_ETIMEDOUT;
            continue;
        }
        poll(&(struct pollfd){a->ctl.fd, POLLIN, 0}, 1, 20);
    }
    rt_buf_free(&m);
    a->ctl.kind = a->res.kind = RT_CHAN_TCP;
    return rc;
}

static int rt_launch_local(DaftRt *rt, RtActorRec *a)
{
    int sv[2] = {-1, -1};
    if (rt->mode == RT_MODE_SHM && rt_make_shm_chans(rt, a, sv))
        return DAFT_ESYS;
    RtForkArg f = {rt, a, sv[1], sv[0]};
    int rc = rt_launch_fork(&a->proc, (int)a->id, rt_child_main, &f);
    if (sv[1] >= 0)
        close(sv[1]);
    a->sock = sv[0];
    if (rc)
        return rc;
    if (rt->mode == RT_MODE_SHM) {
        rt_ring_reader_init(&a->res.rd, &a->res.ring, 0);
        return 0;
    }
    return rt_await_hello(rt, a);
}

static int rt_launch_rank(DaftRt *rt, RtActorRec *a, int node)
{
    int rank = -1;
    for (int r = 1; r < rt->nranks && rank < 0; r++)
        if (rt->rank_fd[r] >= 0 && (node < 0 || node == r))
            rank = r;
    if (rank < 0) {
        rt_set_err(rt, "spawn %s: no free MPI rank%s (each worker rank hosts one actor)", a->name,
                   node >= 0 ? " with that number" : "");
        return DAFT_EINVAL;
    }
    a->rank = rank;
    a->ctl.kind = a->res.kind = RT_CHAN_TCP;
    a->ctl.fd = a->res.fd = rt->rank_fd[rank];
    rt->rank_fd[rank] = -1;
    rt_fmt(a->addr, sizeof a->addr, "%s", rt->rank_addr[rank]);
    return 0;
}

static int rt_send_init(DaftRt *rt, RtActorRec *a, const DaftValue *args, int nargs)
{
    RtBuf *m = &rt->out;
    m->len = 0;
    uint64_t ref = rt->next_ref++;
    rt_buf_u32(m, RT_M_INIT);
    rt_buf_u32(m, a->id);
    rt_buf_u32(m, (uint32_t)a->cls);
    rt_buf_str(m, a->name);
    rt_buf_u64(m, ref);
    rt_buf_u32(m, (uint32_t)nargs);
    for (int i = 0; i < nargs; i++) {
        rt_buf_u8(m, RT_ARG_VALUE);
        if (rt_value_put(m, &args[i]))
            return DAFT_ENOMEM;
    }
    rt_drv_inflight_push(a, ref, -1);
    return rt_drv_send(rt, a, m) == DAFT_ENOMEM ? DAFT_ENOMEM : 0;
}

int daft_rt_spawn(DaftRt *rt, int cls, const DaftValue *args, int nargs,
                  const DaftSpawnOpts *opts, DaftActor *out)
{
    if (!rt->is_driver || cls < 0 || cls >= rt->nclasses || nargs < 0 || (nargs && !args)) {
        rt_set_err(rt, "spawn: unknown class %d", cls);
        return DAFT_EINVAL;
    }
    for (int i = 0; i < nargs; i++)
        if (args[i].kind == DAFT_V_REF) {
            rt_set_err(rt, "spawn %s: constructor arguments must be values, not Refs",
                       rt->classes[cls].name);
            return DAFT_EINVAL;
        }
    RtActorRec *a = rt_new_actor(rt, cls, opts);
    if (!a)
        return DAFT_ENOMEM;
    int node = opts ? opts->node : -1;
    if (!rt->mpi && node > 0) { /* SPEC 10.1: the actor is dead, its calls say why */
        char why[96];
        rt_fmt(why, sizeof why, "no node %d: without MPI the program runs on one machine, node 0",
               node);
        rt_drv_never_started(rt, a, why);
        *out = a->id;
        return 0;
    }
    int64_t t0 = rt_now_ns();
    int rc = rt->mpi ? rt_launch_rank(rt, a, node) : rt_launch_local(rt, a);
    if (rc) {
        rt_set_err(rt, "spawn %s: cannot start the actor process (%s)", a->name,
                   rc == DAFT_ESYS ? strerror(errno) : "no hello from it");
        rt_drv_dead(rt, a, "failed to start");
        return rc;
    }
    rc = rt_send_init(rt, a, args, nargs);
    rt_trace_slice(&rt->trace, "spawn", "driver", t0, rt_now_ns());
    if (rt->stats.on && !rc) /* (the constructor's call) */
        rt_stats_call(rt, a->id, args, nargs);
    *out = a->id;
    return rc;
}

/* ---------------------------------------------------------------- start (MPI workers) */

int daft_rt_start(DaftRt *rt)
{
    if (rt->is_driver || rt->started)
        return 0;
    rt->started = true;
    char addr[64];
    int lfd = rt_tcp_listen(rt->host, addr, sizeof addr);
    int fd = lfd < 0 ? -1 : rt_tcp_connect(rt->laddr, rt_now_ns() + RT_CONNECT_NS);
    if (fd < 0) {
        rt_log("rank %d: cannot reach the driver at %s", rt->rank, rt->laddr);
        exit(1);
    }
    RtBuf m = {0};
    rt_buf_u32(&m, RT_M_HELLO);
    rt_buf_u32(&m, (uint32_t)rt->rank);
    rt_buf_str(&m, addr);
    RtChan ctl = {.kind = RT_CHAN_TCP, .fd = fd}, res = {.kind = RT_CHAN_TCP, .fd = fd};
    rt_chan_send(&ctl, m.p, m.len, NULL);
    rt_buf_free(&m);
    rt_trace_init(&rt->trace, 0, NULL);
    rt_actor_main(rt, 0, NULL, &ctl, &res, -1, lfd, addr);
    return 0;
}

/* ---------------------------------------------------------------- shutdown */

/* After an interrupt (daft_rt_interrupt) the actors stop at once (SPEC 15.7): one still
 * running a task or a compiled plan's method would read the stop only once it is done, so
 * it is killed, and stderr says so. (Under MPI the driver owns no process: it asks.) */
static void rt_kill_busy(DaftRt *rt)
{
    rt_drv_take(rt);
    for (DaftActor i = 1; i <= rt->nactors; i++) {
        RtActorRec *a = rt->actors[i];
        if (a->dead || rt->mpi || a->proc.pid <= 0 || rt_launch_exited(&a->proc))
            continue;
        uint32_t cm = rt->bells ? atomic_load(&rt->bells[a->id].cur_method) : 0;
        char what[300];
        if (a->inflight_len)
            rt_fmt(what, sizeof what, "'%s'", rt_method_name(rt, a->cls, a->inflight_m[a->inflight_head]));
        else if (cm) { /* (its plan may be unloaded by now: then it has no name here) */
            const char *m = rt_method_name(rt, a->cls, (int)cm - 1);
            const char *pn = rt_plan_name(rt, atomic_load(&rt->bells[a->id].cur_plan));
            if (strcmp(pn, "?"))
                rt_fmt(what, sizeof what, "'%s' (compiled plan '%s')", m, pn);
            else
                rt_fmt(what, sizeof what, "'%s' (in a compiled plan)", m);
        } else {
            continue;
        }
        rt_launch_reap(&a->proc, 0); /* (SIGKILL, and waits for it) */
        rt_log("actor '%s' was running %s when the program was interrupted: killed", a->name, what);
        /* (its Refs stay pending: no error of theirs is reported as unobserved, the line
         * above says what happened) */
        a->dead = true;
        rt_fmt(a->death, sizeof a->death, "actor '%s' (%s) was killed: the program was interrupted", a->name,
               rt_class_name(rt, a->cls));
        rt->notices_due = true; /* (the others learn of it, as of any death: nothing waits for it) */
    }
}

/* Asks every live actor to stop, then waits (draining their results so none blocks on a
 * full channel) before SIGKILL: 2 s, or 20 s when an actor has a GPU (tearing down its
 * NCCL communicators and CUDA context takes seconds; killed, it would also lose its
 * DAFT_TRACE part and DAFT_GPU_PROFILE report). A kill is said on stderr. */
static void rt_stop_actors(DaftRt *rt)
{
    if (rt_intr)
        rt_kill_busy(rt);
    RtBuf m = {0};
    rt_buf_u32(&m, RT_M_STOP);
    bool gpu = false;
    for (DaftActor i = 1; i <= rt->nactors; i++) {
        if (!rt->actors[i]->dead) {
            rt_drv_send(rt, rt->actors[i], &m);
            rt->actors[i]->stop_sent = true;
        }
        gpu |= rt->actors[i]->gpu >= 0;
    }
    rt_buf_free(&m);
    int grace_s = gpu ? 20 : 2;
    int64_t deadline = rt_now_ns() + grace_s * 1000000000LL;
    for (;;) {
        bool all = true;
        for (DaftActor i = 1; i <= rt->nactors; i++) {
            RtActorRec *a = rt->actors[i];
            if (rt->mpi)
                all = all && a->dead;
            else
                all = all && (a->proc.pid <= 0 || rt_launch_exited(&a->proc));
        }
        if (all || rt_now_ns() > deadline)
            break;
        rt_drv_wait(rt, rt_now_ns() + 5000000);
    }
    rt_drv_poll(rt); /* what they sent as they stopped (DAFT_STATS) */
    for (DaftActor i = 1; i <= rt->nactors; i++) {
        RtActorRec *a = rt->actors[i];
        if (!rt->mpi && a->proc.pid > 0 && !rt_launch_exited(&a->proc))
            rt_log("actor '%s' did not stop within %d s of the end of the program: killed", a->name,
                   grace_s);
        rt_launch_reap(&a->proc, 0);
    }
}

/* Tasks submitted to a live actor and not finished (the driver's fetches included: they
 * end soon after). */
static bool rt_tasks_running(const DaftRt *rt)
{
    for (DaftActor i = 1; i <= rt->nactors; i++)
        if (!rt->actors[i]->dead && rt->actors[i]->inflight_len > 0)
            return true;
    return false;
}

/* SPEC 15.7: the tasks already submitted finish before the actors are told to stop, so
 * that their errors can be reported and what they print is not lost; for up to 5 s, as
 * compiled executions get (gen_sched_shutdown), so that a task that never ends does not
 * hold the program. */
static void rt_wait_tasks(DaftRt *rt)
{
    int64_t deadline = rt_now_ns() + 5000000000LL;
    while (rt_tasks_running(rt) && !rt_wait_over(deadline)) /* (interrupted: not at all) */
        rt_drv_wait(rt, deadline);
}

static void rt_free_actor(RtActorRec *a)
{
    if (a->ctl.fd == a->res.fd)
        a->res.fd = -1; /* TCP: one connection carries both directions */
    rt_chan_close(&a->ctl);
    rt_chan_close(&a->res);
    if (a->sock >= 0)
        close(a->sock);
    rt_launch_close(&a->proc);
    free(a->out_ok);
    free(a->inflight);
    free(a->inflight_m);
    free(a);
}

static void rt_report_unobserved(RtObj *o, void *arg)
{
    rt_obj_report_unobserved(arg, o);
}

void daft_rt_shutdown(DaftRt *rt)
{
    if (!rt)
        return;
    if (rt->is_driver)
        rt_plans_unload_all(rt);
    if (rt->is_driver && rt->nactors) {
        rt_wait_tasks(rt);
        rt_stop_actors(rt); /* (an actor finishes what it has before it stops) */
    }
    if (rt->is_driver)
        rt_objtab_foreach(&rt->refs, rt_report_unobserved, rt);
    if (rt->is_driver)
        rt_stats_report(rt);
    rt_stats_free(&rt->stats);
    for (DaftActor i = 1; i <= rt->nactors; i++)
        rt_free_actor(rt->actors[i]);
    free(rt->actors);
    free(rt->errors_seen);
    if (rt->is_driver)
        rt_trace_merge(&rt->trace, (int)rt->nactors);
    rt_trace_free(&rt->trace);
    for (int i = 0; rt->rank_fd && i < rt->nranks; i++)
        if (rt->rank_fd[i] >= 0)
            close(rt->rank_fd[i]); /* unused worker ranks see EOF and exit */
    free(rt->rank_fd);
    free(rt->rank_addr);
    for (int i = 0; i < rt->nclasses; i++) {
        for (int k = 0; k < rt->classes[i].nmethods; k++)
            free(rt->classes[i].method_names[k]);
        free(rt->classes[i].method_names);
        free(rt->classes[i].takes_errors);
        free(rt->classes[i].methods);
        free(rt->classes[i].name);
    }
    free(rt->classes);
    rt_objtab_free(&rt->refs);
    free(rt->plans);
    if (rt->bells)
        munmap(rt->bells, rt->bells_size);
    if (rt->lfd >= 0)
        close(rt->lfd);
    rt_buf_free(&rt->msg);
    rt_buf_free(&rt->out);
    rt_splices_free(&rt->out_sp);
    rt_buf_free(&rt->small);
    rt_buf_free(&rt->frees_due);
    rt_buf_free(&rt->lost_due);
    free(rt);
}
