/* rt_gpu_load.c — libdaftrt's door to the GPU data plane (see rt_gpu.h): loads
 * libdaftgpu.so in an actor process that needs its GPU, places GPU actors (driver side,
 * without touching CUDA), and implements the public GPU functions of daftrt.h. In a build
 * without CUDA (no DAFT_HAVE_GPU) every GPU request fails with "built without CUDA". */
#define _GNU_SOURCE
#include "rt_gpu.h"
#include "rt_internal.h"

#include <dirent.h>
#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Interpreted GPU transfers (below): a transfer header queued from a peer, and a peer. */
typedef struct RtGxPend {
    uint64_t xfer;
    DaftTensor t;
    bool has_id;
    uint8_t id[RT_NCCL_ID_BYTES];
} RtGxPend;

typedef struct RtGxPeer {
    RtGpuComm *out, *in;
    bool out_broken, in_broken;
    RtGxPend *q;       /* queued headers from this peer, in arrival order */
    size_t qh, qn, qcap;
} RtGxPeer;

/* A device buffer held by more than one tensor value: its owners besides the first. */
typedef struct RtShared {
    void *data;     /* NULL: a free slot */
    uint32_t extra;
} RtShared;

/* This process's GPU side as libdaftrt sees it: one object. */
static struct {
    const RtGpuOps *ops;       /* the loaded table */
    const RtGpuOps *active;    /* set once this process attached its GPU */
    char start_err[512];       /* why this GPU actor could not start */
    char load_err[512];
    RtGxPeer *gx;              /* interpreted transfers, per peer actor */
    size_t ngx;
    int64_t gx_sent, gx_received;
    RtShared *shared;          /* open addressing by data pointer (rt_gpu_tensor_dup) */
    size_t nshared, capshared; /* capshared: 0 or a power of two */
} P;

bool rt_gpu_cpu_mode(void)
{
    const char *d = getenv("DAFT_DEVICE");
    return d && strcmp(d, "cpu") == 0;
}

const RtGpuOps *rt_gpu_ops(char *err, size_t cap)
{
    if (P.ops)
        return P.ops;
#ifndef DAFT_HAVE_GPU
    rt_fmt(P.load_err, sizeof P.load_err, "no GPU: built without CUDA (set DAFT_DEVICE=cpu to run on the CPU)");
#else
    const char *env = getenv("DAFT_GPU_LIB");
    const char *cands[3] = {env && *env ? env : NULL, DAFT_GPU_SO_PATH, "libdaftgpu.so"};
    P.load_err[0] = 0;
    for (int i = 0; i < 3 && !P.ops; i++) {
        if (!cands[i])
            continue;
        void *h = dlopen(cands[i], RTLD_NOW | RTLD_LOCAL);
        if (!h) {
            if (!P.load_err[0])
                rt_fmt(P.load_err, sizeof P.load_err, "cannot load the GPU runtime: %s (set DAFT_GPU_LIB)", dlerror());
            continue;
        }
        const RtGpuOps *(*get)(void) = (const RtGpuOps *(*)(void))dlsym(h, "daft_gpu_ops");
        const RtGpuOps *o = get ? get() : NULL;
        if (o && o->abi == RT_GPU_ABI)
            P.ops = o;
        else
            rt_fmt(P.load_err, sizeof P.load_err, "%s: not a matching GPU runtime (abi)", cands[i]);
    }
#endif
    if (!P.ops && err)
        rt_fmt(err, cap, "%s", P.load_err);
    return P.ops;
}

const RtGpuOps *rt_gpu_active(void) { return P.active; }
void rt_gpu_set_active_for_test(const RtGpuOps *o) { P.active = o; }
const char *rt_gpu_start_error(void) { return P.start_err[0] ? P.start_err : NULL; }

static void rt_gpu_hook(void *arg) { (void)arg; }

void rt_gpu_child_start(int gpu, const char *actor_name)
{
    if (gpu == -1 || rt_gpu_cpu_mode())
        return;
    if (gpu < 0) {
        rt_fmt(P.start_err, sizeof P.start_err,
               "no GPU available (gpus = 1); set DAFT_DEVICE=cpu to run on the CPU");
        return;
    }
    char e[400];
    const RtGpuOps *o = rt_gpu_ops(e, sizeof e);
    if (!o) {
        rt_fmt(P.start_err, sizeof P.start_err, "%s", e);
        return;
    }
    if (o->attach(gpu, e, sizeof e)) {
        rt_fmt(P.start_err, sizeof P.start_err, "GPU %d: %s; set DAFT_DEVICE=cpu to run on the CPU", gpu, e);
        return;
    }
    o->set_hook(rt_gpu_hook, NULL);
    char who[96];
    rt_fmt(who, sizeof who, "actor '%s'", actor_name ? actor_name : "?");
    o->set_name(who);
    P.active = o;
}

void rt_gpu_set_progress(void (*fn)(void *), void *arg)
{
    if (P.active)
        P.active->set_hook(fn, arg);
}

/* GPUs of this node without touching CUDA: CUDA_VISIBLE_DEVICES, else the driver's
 * /proc entries. */
static int rt_gpu_count(void)
{
    const char *v = getenv("CUDA_VISIBLE_DEVICES");
    if (v) {
        int n = 0;
        for (const char *p = v; *p; p++)
            n += *p == ',';
        return *v ? n + 1 : 0;
    }
    DIR *d = opendir("/proc/driver/nvidia/gpus");
    if (!d)
        return 0;
    int n = 0;
    for (struct dirent *e; (e = readdir(d));)
        n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

int rt_gpu_place(int requested)
{
    static int used[64];
    const int nused = 64;
    if (requested == -1 || rt_gpu_cpu_mode())
        return -1;
    if (requested >= 0) {
        if (requested < nused)
            used[requested]++;
        return requested;
    }
    int n = rt_gpu_count();
    n = n > nused ? nused : n;
    int best = -1;
    for (int i = 0; i < n; i++)
        if (best < 0 || used[i] < used[best])
            best = i;
    if (best < 0 || used[best] > 0)
        return -3; /* no free GPU: the actor fails to start */
    used[best]++;
    return best;
}

/* ---------------------------------------------------------------- public API */

int daft_ctx_gpu(const DaftActorCtx *ctx)
{
    return ctx && P.active ? P.active->device() : -1; /* driver-style calls (NULL): CPU */
}

void *daft_ctx_stream(const DaftActorCtx *ctx)
{
    return ctx && P.active ? P.active->stream() : NULL;
}

int daft_ctx_gpu_sync(const DaftActorCtx *ctx, DaftValue *err)
{
    (void)ctx;
    char e[400];
    if (!P.active || !P.active->sync(e, sizeof e))
        return 0;
    if (err)
        *err = daft_value_error("GPU: %s", e);
    return DAFT_EPEER;
}

DaftValue daft_value_gpu_tensor(const DaftActorCtx *ctx, DaftRtDtype dt, int rank,
                                const int64_t *dims, const void *host)
{
    (void)ctx;
    if (!P.active)
        return daft_value_error("gpu tensor: %s", rt_gpu_cpu_mode() ? "DAFT_DEVICE=cpu: no GPU"
                                                                   : "this actor has no GPU");
    DaftValue v = daft_value_tensor(dt, rank, dims, NULL); /* validates the shape */
    if (v.kind != DAFT_V_TENSOR)
        return v;
    free(v.as.tensor.data);
    v.as.tensor.data = NULL;
    char e[400];
    if (host ? P.active->upload(&v.as.tensor, host, e, sizeof e) : P.active->alloc(&v.as.tensor, e, sizeof e)) {
        daft_value_free(&v);
        return daft_value_error("gpu tensor: %s", e);
    }
    return v;
}

int daft_value_to_host(DaftValue *v)
{
    if (v->kind == DAFT_V_LIST) {
        int rc = 0;
        for (size_t i = 0; i < v->as.list.len; i++)
            rc |= daft_value_to_host(&v->as.list.items[i]);
        return rc ? DAFT_EPEER : 0;
    }
    if (v->kind != DAFT_V_TENSOR || !v->as.tensor.device)
        return 0;
    DaftTensor t = v->as.tensor;
    size_t nb = daft_tensor_nbytes(&t);
    void *h = malloc(nb ? nb : 1);
    char e[400] = "out of memory";
    if (!h || !P.active || P.active->to_host(&t, h, e, sizeof e)) {
        free(h);
        daft_value_free(v);
        *v = daft_value_error("copying a GPU tensor to the host: %s", P.active ? e : "no GPU here");
        return DAFT_EPEER;
    }
    rt_gpu_tensor_free(&t);
    v->as.tensor.data = h;
    v->as.tensor.device = DAFT_DEVICE_HOST;
    return 0;
}

int daft_rt_gpu_std(const char *fn, DaftActorCtx *ctx, const DaftValue *args, int nargs,
                    DaftValue *out)
{
    if (!P.active) {
        char e[400] = "";
        if (rt_gpu_cpu_mode())
            rt_fmt(e, sizeof e, "DAFT_DEVICE=cpu: GPU tensors are not available");
        else if (!rt_gpu_ops(e, sizeof e))
            ;
        else
            rt_fmt(e, sizeof e, "no GPU in this process (only actors spawned with a GPU have one)");
        *out = daft_value_error("%s: %s", fn, e);
        return DAFT_EINVAL;
    }
    return P.active->std_call(fn, ctx, args, nargs, out);
}

void rt_gpu_report(const char *actor_name)
{
    if (P.active)
        P.active->report(actor_name);
}

/* ---------------------------------------------------------------- for rt_value.c */

/* ---------------------------------------------------------------- shared device buffers
 * Tensor values are never written after they are made (std operations, NCCL receives and
 * kernels all return new tensors; kernels get const DaftTensor *), so a copy of a GPU
 * tensor (daft_value_copy: storing an argument in a field, returning a field, a get)
 * shares the device buffer instead of copying it: a 64 MiB weight copy cost ~40 µs of GPU
 * time and waited for whatever produced it. The buffer goes back when its last value is
 * freed. */

static size_t shared_slot(void *data)
{
    uint64_t h = (uint64_t)(uintptr_t)data * 0x9E3779B97F4A7C15ULL;
    size_t i = (size_t)(h ^ h >> 32) & (P.capshared - 1); /* (the product's high bits too:
                                                           * buffers are 2 MiB aligned) */
    while (P.shared[i].data && P.shared[i].data != data)
        i = (i + 1) & (P.capshared - 1);
    return i;
}

static bool shared_grow(void)
{
    size_t cap = P.capshared ? 2 * P.capshared : 64;
    RtShared *old = P.shared, *t = calloc(cap, sizeof *t);
    if (!t)
        return false;
    size_t oldcap = P.capshared;
    P.shared = t;
    P.capshared = cap;
    for (size_t i = 0; i < oldcap; i++)
        if (old[i].data)
            P.shared[shared_slot(old[i].data)] = old[i];
    free(old);
    return true;
}

/* One more owner of data; false if that could not be recorded (out of memory). */
static bool shared_add(void *data)
{
    if (2 * (P.nshared + 1) > P.capshared && !shared_grow())
        return false;
    RtShared *e = &P.shared[shared_slot(data)];
    if (!e->data) {
        e->data = data;
        e->extra = 0;
        P.nshared++;
    }
    e->extra++;
    return true;
}

/* Drops an owner of data if it has others: true then (the buffer stays). */
static bool shared_drop(void *data)
{
    if (!P.nshared)
        return false;
    size_t i = shared_slot(data);
    if (!P.shared[i].data || --P.shared[i].extra > 0)
        return P.shared[i].data != NULL;
    P.shared[i].data = NULL; /* one owner left: remove, re-placing the run after it */
    P.nshared--;
    size_t mask = P.capshared - 1;
    for (size_t j = (i + 1) & mask; P.shared[j].data; j = (j + 1) & mask) {
        RtShared e = P.shared[j];
        P.shared[j].data = NULL;
        P.shared[shared_slot(e.data)] = e;
    }
    return true;
}

void rt_gpu_tensor_free(DaftTensor *t)
{
    if (P.active && t->data && !shared_drop(t->data))
        P.active->free(t); /* elsewhere the memory cannot be ours: leave it */
    t->data = NULL;
}

int rt_gpu_tensor_read(const DaftTensor *t, void *dst)
{
    char e[400];
    if (!P.active || P.active->to_host(t, dst, e, sizeof e)) {
        rt_log("reading a GPU tensor: %s", P.active ? e : "no GPU in this process");
        return DAFT_EPEER;
    }
    return 0;
}

int rt_gpu_tensor_dup(DaftTensor *dst, const DaftTensor *src)
{
    char e[400];
    *dst = *src;
    bool may_share = P.active && (!P.active->may_share || P.active->may_share());
    if (may_share && src->data && shared_add(src->data))
        return 0;
    dst->data = NULL; /* (a buffer of its own) */
    if (!P.active || P.active->alloc(dst, e, sizeof e))
        return DAFT_ENOMEM;
    if (P.active->copy(dst, src, e, sizeof e)) {
        P.active->free(dst);
        return DAFT_ENOMEM;
    }
    return 0;
}

bool rt_gpu_tensor_from_host(DaftRtDtype dt, int rank, const int64_t *dims, const void *host,
                             DaftValue *out)
{
    if (!P.active)
        return false;
    *out = daft_value_gpu_tensor(NULL, dt, rank, dims, host);
    return true;
}

void rt_gpu_tensor_upload(DaftValue *v)
{
    if (!P.active || v->kind != DAFT_V_TENSOR || v->as.tensor.device)
        return;
    DaftTensor t = v->as.tensor;
    char e[400];
    t.data = NULL;
    if (P.active->upload(&t, v->as.tensor.data, e, sizeof e)) {
        P.active->free(&t); /* stays a host tensor */
        return;
    }
    free(v->as.tensor.data);
    v->as.tensor = t;
}

/* ---------------------------------------------------------------- interpreted transfers
 * (rt_gpu.h, "Interpreted GPU transfers over NCCL"). One 2-rank communicator per
 * direction and peer: out[peer] (this actor is rank 0, the sender), in[peer] (rank 1). */

double rt_nccl_init_timeout(void)
{
    const char *e = getenv("DAFT_NCCL_INIT_TIMEOUT");
    char *end = NULL;
    double s = e && *e ? strtod(e, &end) : 0.0;
    return end && !*end && s > 0.0 ? s : 600.0;
}

static RtGxPeer *rt_gx_peer(DaftActor p)
{
    if (p >= RT_MAX_ACTORS)
        return NULL;
    if (p >= P.ngx) {
        size_t n = (size_t)p + 8;
        RtGxPeer *x = realloc(P.gx, n * sizeof *x);
        if (!x)
            return NULL;
        memset(x + P.ngx, 0, (n - P.ngx) * sizeof *x);
        P.gx = x;
        P.ngx = n;
    }
    return &P.gx[p];
}

int64_t daft_ctx_gpu_nccl_transfers(const DaftActorCtx *ctx, int received)
{
    (void)ctx;
    return received ? P.gx_received : P.gx_sent;
}

/* Polls c until idle (1), failure or the peer's death / the deadline (< 0 + err). */
static int rt_gx_settle(RtGpuComm *c, DaftActor peer, RtGpuPeerAlive alive, void *arg,
                        char *err, size_t cap)
{
    /* The peer takes part when it gets to the transfer, after whatever it was given before:
     * wait as long as a compiled plan's members wait for each other, never silently. */
    double limit = rt_nccl_init_timeout();
    int64_t t0 = rt_now_ns(), deadline = t0 + (int64_t)(limit * 1e9), last = t0;
    int64_t report = t0 + 30000000000LL;
    for (;;) {
        int rc = P.active->comm_poll(c, err, cap);
        if (rc)
            return rc < 0 ? rc : 0;
        int64_t t = rt_now_ns();
        if (t - last > 1000000) {
            last = t;
            if (alive && !alive(arg, peer)) {
                rt_fmt(err, cap, "actor %u died", peer);
                return DAFT_EPEER;
            }
            if (t > report) {
                rt_log("waiting %lld s for actor %u to take part in a GPU transfer over NCCL; "
                       "giving up after %.0f s (DAFT_NCCL_INIT_TIMEOUT)",
                       (long long)((t - t0) / 1000000000), peer, limit);
                report = t + 60000000000LL;
            }
            if (t > deadline) {
                rt_fmt(err, cap, "timed out waiting for actor %u", peer);
                return DAFT_ETIMEDOUT;
            }
        }
        if (t - t0 > 200000) { /* (spin 200 us: a settled transfer answers at once) */
            struct timespec ts = {0, 10000};
            nanosleep(&ts, NULL);
        }
    }
}

bool rt_gpu_xfer_header(DaftActor dest, uint64_t xfer, const DaftValue *v, RtBuf *m)
{
    RtGxPeer *p = P.active ? rt_gx_peer(dest) : NULL;
    if (!p || p->out_broken || v->kind != DAFT_V_TENSOR ||
        daft_tensor_gpu(&v->as.tensor) != P.active->device() || P.active->device() < 0)
        return false;
    uint8_t id[RT_NCCL_ID_BYTES];
    bool first = !p->out;
    char e[256];
    if (first) {
        if (P.active->nccl_id(id, e, sizeof e) || P.active->comm_start(&p->out, id, 2, 0, e, sizeof e)) {
            p->out = NULL;
            p->out_broken = true; /* host path from now on */
            return false;
        }
    }
    const DaftTensor *t = &v->as.tensor;
    m->len = 0;
    rt_buf_u32(m, RT_M_XFER_NCCL);
    rt_buf_u64(m, xfer);
    rt_buf_u8(m, first);
    if (first)
        rt_buf_put(m, id, sizeof id);
    rt_buf_u8(m, (uint8_t)t->dtype);
    rt_buf_u32(m, (uint32_t)t->rank);
    for (int i = 0; i < t->rank; i++)
        rt_buf_u64(m, (uint64_t)t->dims[i]);
    return true;
}

int rt_gpu_xfer_send(DaftActor dest, const DaftValue *v, RtGpuPeerAlive alive, void *arg,
                     char *err, size_t cap)
{
    RtGxPeer *p = rt_gx_peer(dest);
    if (!p || !p->out)
        return DAFT_EINVAL;
    DaftTensor t = v->as.tensor;
    int rc = rt_gx_settle(p->out, dest, alive, arg, err, cap); /* created, previous send done */
    if (!rc)
        rc = P.active->xfer(p->out, &t, 1, true, err, cap);
    if (!rc)
        rc = rt_gx_settle(p->out, dest, alive, arg, err, cap); /* launched: the buffer's
                                                                  * free now follows it */
    if (rc) {
        P.active->comm_abort(p->out);
        p->out_broken = true;
        return rc;
    }
    P.gx_sent++;
    return 0;
}

int rt_gpu_xfer_file(DaftActor owner, RtRd *r)
{
    RtGxPeer *p = rt_gx_peer(owner);
    if (!p)
        return DAFT_EINVAL;
    RtGxPend x;
    memset(&x, 0, sizeof x);
    x.xfer = rt_rd_u64(r);
    x.has_id = rt_rd_u8(r);
    if (x.has_id) {
        const void *b = rt_rd_bytes(r, sizeof x.id);
        if (b)
            memcpy(x.id, b, sizeof x.id);
    }
    x.t.dtype = (DaftRtDtype)rt_rd_u8(r);
    x.t.rank = (int)rt_rd_u32(r);
    if (r->bad || x.t.rank < 0 || x.t.rank > DAFT_MAX_RANK || x.t.dtype >= DAFT_RT_DTYPE_COUNT)
        return DAFT_EPROTO;
    for (int i = 0; i < x.t.rank; i++)
        x.t.dims[i] = (int64_t)rt_rd_u64(r);
    if (r->bad)
        return DAFT_EPROTO;
    if (p->qh + p->qn == p->qcap) {
        if (p->qh) { /* compact */
            memmove(p->q, p->q + p->qh, p->qn * sizeof *p->q);
            p->qh = 0;
        }
        if (p->qn == p->qcap) {
            size_t n = p->qcap * 2 + 4;
            RtGxPend *q = realloc(p->q, n * sizeof *q);
            if (!q)
                return DAFT_ENOMEM;
            p->q = q;
            p->qcap = n;
        }
    }
    p->q[p->qh + p->qn++] = x;
    return 0;
}

/* Receives the queue's head transfer into *out (a GPU tensor or an error value). */
static void rt_gx_recv_one(RtGxPeer *p, DaftActor owner, RtGxPend *x, RtGpuPeerAlive alive,
                           void *arg, DaftValue *out)
{
    char e[300] = "";
    int rc = 0;
    if (p->in_broken || !P.active) {
        rc = DAFT_EPEER;
        rt_fmt(e, sizeof e, "an earlier NCCL transfer failed");
    } else if (x->has_id) {
        if (p->in) { /* a new communicator replaces the old one (cannot happen today) */
            P.active->comm_abort(p->in);
            P.active->comm_destroy(p->in);
            p->in = NULL;
        }
        rc = P.active->comm_start(&p->in, x->id, 2, 1, e, sizeof e);
    } else if (!p->in) {
        rc = DAFT_EPROTO;
        rt_fmt(e, sizeof e, "no NCCL communicator");
    }
    DaftTensor t = x->t;
    t.data = NULL;
    t.device = 0;
    if (!rc)
        rc = rt_gx_settle(p->in, owner, alive, arg, e, sizeof e);
    if (!rc)
        rc = P.active->xfer(p->in, &t, 0, false, e, sizeof e);
    if (!rc)
        rc = rt_gx_settle(p->in, owner, alive, arg, e, sizeof e);
    if (rc) {
        if (t.data)
            P.active->free(&t);
        if (p->in && !p->in_broken)
            P.active->comm_abort(p->in);
        p->in_broken = true;
        *out = daft_value_error("GPU transfer %llu from actor %u over NCCL failed: %s",
                                (unsigned long long)x->xfer, owner, e);
        return;
    }
    P.gx_received++;
    *out = daft_value_none();
    out->kind = DAFT_V_TENSOR;
    out->as.tensor = t;
}

bool rt_gpu_xfer_take(DaftActor owner, uint64_t xfer, RtObjTab *xfers, RtGpuPeerAlive alive,
                      void *arg)
{
    RtGxPeer *p = owner < P.ngx ? &P.gx[owner] : NULL;
    if (!p || !p->qn)
        return false;
    bool queued = false;
    for (size_t i = 0; i < p->qn && !queued; i++)
        queued = p->q[p->qh + i].xfer == xfer;
    if (!queued)
        return false;
    for (;;) {
        RtGxPend x = p->q[p->qh]; /* pop first: alive() may queue more (realloc) */
        p->qh++;
        p->qn--;
        if (!p->qn)
            p->qh = 0;
        DaftValue v;
        rt_gx_recv_one(p, owner, &x, alive, arg, &v);
        RtObj *o = rt_objtab_add(xfers, x.xfer);
        if (o)
            rt_objtab_resolve(o, &v);
        daft_value_free(&v);
        if (x.xfer == xfer)
            return true;
        p = &P.gx[owner]; /* alive() may have grown the table */
    }
}
