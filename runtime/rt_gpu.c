/* rt_gpu.c — the GPU side of an actor process (part of libdaftgpu.so, see rt_gpu.h):
 * its device, its streams, device memory from the stream-ordered pool, copies, and NCCL
 * communicators (point to point and collectives).
 *
 * Streams and ordering: methods and the stdlib enqueue on the compute stream `cs`; NCCL
 * runs on communication streams, one per communicator (its "lane"). Before a send, the
 * lane waits for an event recorded on `cs` (the data is produced); after a receive, `cs`
 * waits for an event recorded on the lane before compute reads it (see "buffers in
 * flight" below: not at once, so that the compute stream runs on while NCCL works).
 *
 * Why NCCL work of two communicators may run at once without deadlock: every GPU issues
 * its NCCL operations in an order consistent with one global order (the planner's for
 * plans, the driver's for interpreted transfers), each communicator's operations run in
 * issue order on its lane, and a lane or cs only ever waits for work issued before. So
 * the oldest unfinished operation anywhere has every member's part issued and nothing
 * it waits for unfinished; NCCL kernels take a few SMs, so they run side by side.
 *
 * Device memory is taken from and returned to the pool in `cs` order (receive buffers are
 * taken in their lane's order); a buffer NCCL still uses is freed once NCCL is done with
 * it. Inputs from the host are copied on a stream of their own, `us`. Nothing here waits
 * on the host except to_host / sync / wait, which poll (never an unbounded blocking wait)
 * so that a dead peer or an NCCL error is noticed.
 */
#define _GNU_SOURCE
#include "rt_gpu.h"
#include "rt_gpu_graph.h"
#include "std_cuda.h"

#include <cuda_runtime_api.h>
#include <nccl.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>

#define RT_GPU_MAX_LANES 64

struct RtGpuComm {
    ncclComm_t comm;   /* the communicator operations run on */
    ncclComm_t parent; /* the nonblocking one it was split from (NULL: comm is it) */
    int n, rank;
    int lane;          /* its communication stream (G.lanes) */
    bool aborted, bad;
    bool warmed;       /* its connections were made at creation (blocking_split) */
};

/* A communication stream. Each communicator has its own (lanes are reused once their
 * communicator is gone; lane 0 is shared when there are too many), so that NCCL work of
 * two communicators can run at once: a pipeline stage receives micro-batch k + 1 from
 * the stage before while it sends k to the stage after. */
typedef struct RtLane {
    cudaStream_t s;
    cudaEvent_t joined_ev;       /* recorded on s when cs joins it */
    cudaEvent_t lag;             /* cs as of the lane's previous receive (recv_alloc) */
    bool lag_set;
    uint64_t ops, joined;        /* NCCL groups issued / joined into cs */
    bool taken;                  /* by a live communicator */
    bool held;                   /* group held_at is a held receive (g_recv_held) ... */
    uint64_t held_at;
    RtGpuComm *held_by;          /* ... of this communicator (lane 0 may be shared) */
    cudaEvent_t before_held;     /* recorded on s just before that receive */
} RtLane;

/* Device memory of a tensor: its address and size (as allocated). */
typedef struct RtBlock {
    void *p;
    size_t nb;
} RtBlock;

/* A buffer NCCL reads or writes, remembered until the compute stream may use or reuse it
 * (see "buffers in flight"). */
typedef struct Inflight {
    const void *p;
    cudaEvent_t ev;
    int lane;     /* the stream ev was recorded on */
    bool written; /* by NCCL (else only read) */
    bool held;    /* a held receive's buffer (g_recv_held): joins leave it in flight */
} Inflight;

/* DAFT_GPU_PROFILE=1: an interval of GPU work (two events on one stream), and the time of
 * each name summed once its intervals are over. */
typedef struct ProfSpan {
    const char *name;
    cudaEvent_t a, b;
    cudaStream_t s;
} ProfSpan;
typedef struct ProfSum {
    const char *name;
    int64_t count;
    double ms;
    double idle_ms; /* the stream's GPU idle between the previous span's end and this start */
} ProfSum;
#define RT_PROF_PENDING 2048
#define RT_PROF_NAMES 64

/* Everything this process's GPU side holds: one object, as the runtime's rule is. */
typedef struct RtGpuState {
    int dev;                          /* CUDA ordinal, -1 before attach */
    cudaStream_t cs, us;              /* compute, upload */
    cudaEvent_t c2m, done, u2c;
    RtLane lanes[RT_GPU_MAX_LANES];   /* communication streams; lanes[0] always exists */
    int nlanes;
    RtGpuComm **comms;                /* created (g_comm_init): their errors end every wait */
    int ncomms, capcomms;
    Inflight *fl;                     /* buffers in flight, FIFO: fl[0] is the oldest */
    int nfl, capfl;
    Inflight grp[64];                 /* buffers of the group being built (no event yet) */
    int ngrp;
    bool grp_full;                    /* more than grp holds: join all at the group's end */
    int grp_held_lane;                /* the group being built is a held receive there, or -1 */
    uint64_t grp_lanes;               /* bit i: the group being built has work on lane i */
    uint64_t grp_reads_cs;            /* bit i: ... that reads what cs produced (a send) */
    RtGpuComm *gcomms[64];            /* communicators of the group being built */
    int ngcomms;
    cudaEvent_t *evs;                 /* spare events */
    int nevs, capevs;
    RtBlock *deferred;                /* frees waiting for NCCL */
    int ndef, capdef;
    RtBlock *cache;                   /* freed blocks kept for cs allocations (DAFT_GPU_CACHE) */
    int ncache, capcache;
    size_t cache_bytes;
    RtBlock *owned;                   /* ... live blocks allocated on cs: hash table by address */
    size_t nowned, capowned;          /* (capowned a power of two, or 0) */
    int cache_on;                     /* 0 not yet read, 1 on, -1 off */
    bool xfer_used;                   /* interpreted transfers were used */
    void (*hook)(void *);             /* the actor's progress, called by polling waits */
    void *hook_arg;
    int prof;                         /* DAFT_GPU_PROFILE: 0 not yet read, 1 on, -1 off */
    ProfSpan *spans;                  /* recorded, not yet summed */
    int nspans;
    ProfSum sums[RT_PROF_NAMES];
    int nsums;
    int prof_open;                    /* spans begun and not yet ended */
    int coll_cs;                      /* DAFT_GPU_COLL_ON_COMPUTE: 0 not yet read, 1 on, -1 off */
    int no_overlap;                   /* DAFT_GPU_NO_OVERLAP: 0 not yet read, 1 set, -1 not */
    char who[96];                     /* "actor 'a'", for stall reports */
    cudaEvent_t std_done;             /* std_cuda's host waits (std_host_wait) */
    RtGraphs *graphs;                 /* DAFT_GPU_GRAPHS=1: CUDA graphs of method calls */
} RtGpuState;

static RtGpuState G = {.dev = -1, .grp_held_lane = -1};

static void gerr(char *err, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void gerr(char *err, size_t cap, const char *fmt, ...)
{
    if (!err || !cap)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, cap, fmt, ap);
    va_end(ap);
}

#define CU(call, what)                                                                   \
    do {                                                                                 \
        cudaError_t e_ = (call);                                                         \
        if (e_ != cudaSuccess) {                                                         \
            gerr(err, cap, "%s failed: %s", what, cudaGetErrorString(e_));               \
            return DAFT_EPEER;                                                           \
        }                                                                                \
    } while (0)

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* ---------------------------------------------------------------- process */

static int std_host_wait(cudaStream_t s, char *err, size_t cap);
/* A communication stream. DAFT_GPU_LANE_PRIORITY=1 (to measure) gives it the device's
 * highest priority: while backward's GEMMs fill every SM, an allreduce's blocks then get
 * the first SMs that free up instead of queueing behind the GEMM's next wave (W5 on 4
 * GPUs is bound by its chain of allreduces, bench/RESULTS.md). */
static bool lane_stream_create(cudaStream_t *s)
{
    const char *e = getenv("DAFT_GPU_LANE_PRIORITY");
    int least = 0, greatest = 0;
    if (e && !strcmp(e, "1") && cudaDeviceGetStreamPriorityRange(&least, &greatest) == cudaSuccess)
        return cudaStreamCreateWithPriority(s, cudaStreamNonBlocking, greatest) == cudaSuccess;
    return cudaStreamCreateWithFlags(s, cudaStreamNonBlocking) == cudaSuccess;
}

static int lane_take(void);
static void lane_give_back(RtGpuComm *c);

static int g_attach(int device, char *err, size_t cap)
{
    int n = 0;
    cudaError_t e = cudaGetDeviceCount(&n);
    if (e != cudaSuccess || n <= 0) {
        gerr(err, cap, "no GPU available (cudaGetDeviceCount: %s)",
             e != cudaSuccess ? cudaGetErrorString(e) : "0 devices");
        return DAFT_EINVAL;
    }
    if (device < 0 || device >= n) {
        gerr(err, cap, "no GPU %d on this node (%d visible)", device, n);
        return DAFT_EINVAL;
    }
    CU(cudaSetDevice(device), "cudaSetDevice");
    /* A wait for the GPU polls, sleeping ~10 us between polls once it has spun 200 us and
     * yielded 20 ms (poll_event). With Linux's default 50 us timer slack each such sleep
     * lasted ~60-100 us (measured on a 2-core host: 99 us; 44 with 1 us of slack). This
     * thread is the one that waits. */
    prctl(PR_SET_TIMERSLACK, 1000UL);
    CU(cudaStreamCreateWithFlags(&G.cs, cudaStreamNonBlocking), "cudaStreamCreate (compute)");
    CU(cudaEventCreateWithFlags(&G.c2m, cudaEventDisableTiming), "cudaEventCreate");
    if (lane_take() != 0)
        CU(cudaErrorMemoryAllocation, "cudaStreamCreate (communication)");
    CU(cudaEventCreateWithFlags(&G.done, cudaEventDisableTiming), "cudaEventCreate");
    CU(cudaEventCreateWithFlags(&G.std_done, cudaEventDisableTiming), "cudaEventCreate");
    std_cuda_set_wait(std_host_wait);
    CU(cudaStreamCreateWithFlags(&G.us, cudaStreamNonBlocking), "cudaStreamCreate (upload)");
    CU(cudaEventCreateWithFlags(&G.u2c, cudaEventDisableTiming), "cudaEventCreate");
    cudaMemPool_t pool;
    CU(cudaDeviceGetDefaultMemPool(&pool, device), "cudaDeviceGetDefaultMemPool");
    uint64_t keep = UINT64_MAX; /* a pool: freed blocks stay for the next allocation */
    CU(cudaMemPoolSetAttribute(pool, cudaMemPoolAttrReleaseThreshold, &keep), "cudaMemPoolSetAttribute");
    /* Uploads allocate on the upload stream, and memory is freed on the compute stream: an
     * upload must not be made to wait for the compute stream to reach a free (the pool's
     * internal dependencies); it takes other memory instead. */
    int no = 0;
    CU(cudaMemPoolSetAttribute(pool, cudaMemPoolReuseAllowInternalDependencies, &no), "cudaMemPoolSetAttribute");
    G.dev = device;
    return 0;
}

static int g_device(void) { return G.dev; }

/* ---------------------------------------------------------------- buffers in flight
 * Why: if the compute stream waited for each NCCL group as it was issued, a layer's
 * allreduce could not overlap the backward of the layer before it (DDP's overlap), nor a
 * pipeline stage's send its next micro-batch. So cs waits for a communication stream only
 * where it must:
 *   - before compute reads a buffer NCCL writes (a receive or a collective's result):
 *     g_use, called for every tensor argument of a std operation;
 *   - before a buffer NCCL reads or writes is reused: its free is deferred until NCCL is
 *     done with it (then it is freed in cs order, after every cs use so far).
 * Each such buffer is remembered with an event recorded on its lane after its group, in a
 * FIFO in issue order (on one lane, events complete in that order). Anything that hands
 * the stream to code outside daft (daft_ctx_stream), copies, and host waits join every
 * lane (join_lanes). Interpreted transfers (g_xfer) launch asynchronously: a process that
 * used them joins all lanes before every free, as a free always did. */

static void *grow(void *p, int *cap, int need, size_t size)
{
    if (need <= *cap)
        return p;
    int c = *cap ? 2 * *cap : 16;
    while (c < need)
        c *= 2;
    void *q = realloc(p, (size_t)c * size);
    if (!q)
        return NULL;
    *cap = c;
    return q;
}

/* A lane for a new communicator: a free one, a new one, or (all taken) the shared lane 0.
 * Returns its index, or -1 when even lane 0 cannot be made. */
static int lane_take(void)
{
    const char *one = getenv("DAFT_GPU_ONE_LANE"); /* every communicator on lane 0 (to measure) */
    if (G.nlanes && one && *one && strcmp(one, "0"))
        return 0;
    for (int i = 1; i < G.nlanes; i++)
        if (!G.lanes[i].taken) {
            G.lanes[i].taken = true;
            return i;
        }
    if (G.nlanes == RT_GPU_MAX_LANES)
        return 0;
    RtLane *l = &G.lanes[G.nlanes];
    memset(l, 0, sizeof *l);
    bool ok = lane_stream_create(&l->s);
    ok = ok && cudaEventCreateWithFlags(&l->joined_ev, cudaEventDisableTiming) == cudaSuccess;
    ok = ok && cudaEventCreateWithFlags(&l->lag, cudaEventDisableTiming) == cudaSuccess;
    if (!ok) { /* (a failed create must not fail later, unrelated operations) */
        cudaGetLastError();
        if (l->joined_ev)
            cudaEventDestroy(l->joined_ev);
        if (l->s)
            cudaStreamDestroy(l->s);
        return G.nlanes ? 0 : -1;
    }
    l->taken = true;
    return G.nlanes++;
}

/* The lane's next NCCL work follows the compute stream's work so far (the data it sends
 * was produced there, the buffers it receives into were allocated there). */
static void lane_after_compute(int lane)
{
    cudaEventRecord(G.c2m, G.cs);
    cudaStreamWaitEvent(G.lanes[lane].s, G.c2m, 0);
}

static void spare_event(cudaEvent_t ev)
{
    cudaEvent_t *v = grow(G.evs, &G.capevs, G.nevs + 1, sizeof *v);
    if (!v) {
        cudaEventDestroy(ev);
        return;
    }
    G.evs = v;
    G.evs[G.nevs++] = ev;
}

static bool in_flight(const void *p)
{
    for (int i = 0; i < G.nfl; i++)
        if (G.fl[i].p == p)
            return true;
    return false;
}

/* ---------------------------------------------------------------- block cache
 * Why: every std operation allocates its result and frees its dead inputs; through the
 * stream-ordered pool that is a cudaMallocAsync and a cudaFreeAsync, host time on the path
 * of a CPU that must keep ahead of its GPU (W7 at batch 32 is bound by it). So a block
 * allocated on cs and freed on cs is kept (at most RT_GPU_CACHE_BLOCKS blocks and
 * RT_GPU_CACHE_MAX bytes) and handed to the next cs allocation of the same size: both are
 * in cs order, so the reuse is as safe as the pool's. Only blocks this cache saw allocated
 * on cs are kept, at the size they were allocated with (`owned`): a block from the upload
 * stream or a lane goes back to the pool, whose reuse for those streams the cache must not
 * starve. Measured on 4 x H100 (bench/RESULTS.md, fifth session): 1-3 % faster wherever
 * runs repeat well (W6 and W5 on one GPU, W7 at batch 256). DAFT_GPU_CACHE=0 turns it off. */
#define RT_GPU_CACHE_MAX (1ULL << 30)
#define RT_GPU_CACHE_BLOCKS 256

static bool cache_enabled(void)
{
    if (!G.cache_on) {
        const char *e = getenv("DAFT_GPU_CACHE"); /* on unless "0" */
        G.cache_on = e && !strcmp(e, "0") ? -1 : 1;
    }
    return G.cache_on > 0;
}

static size_t owned_slot(const void *p)
{
    uint64_t x = (uint64_t)(uintptr_t)p * 0x9E3779B97F4A7C15ULL;
    return (size_t)(x >> 32) & (G.capowned - 1);
}

/* Remembers that p (nb bytes) was allocated on cs; without memory it is not remembered
 * (then its free goes to the pool, as without the cache). */
static void owned_put(void *p, size_t nb)
{
    if (2 * (G.nowned + 1) > G.capowned) {
        size_t cap = G.capowned ? 2 * G.capowned : 256;
        RtBlock *old = G.owned, *t = calloc(cap, sizeof *t);
        if (!t)
            return;
        size_t oldcap = G.capowned;
        G.owned = t;
        G.capowned = cap;
        for (size_t i = 0; i < oldcap; i++)
            if (old[i].p) {
                size_t k = owned_slot(old[i].p);
                while (t[k].p)
                    k = (k + 1) & (cap - 1);
                t[k] = old[i];
            }
        free(old);
    }
    size_t k = owned_slot(p);
    while (G.owned[k].p)
        k = (k + 1) & (G.capowned - 1);
    G.owned[k] = (RtBlock){p, nb};
    G.nowned++;
}

/* p's allocated size, forgetting it; 0 if p was not allocated on cs under the cache. */
static size_t owned_take(const void *p)
{
    if (!G.capowned)
        return 0;
    size_t mask = G.capowned - 1, i = owned_slot(p);
    while (G.owned[i].p && G.owned[i].p != p)
        i = (i + 1) & mask;
    if (!G.owned[i].p)
        return 0;
    size_t nb = G.owned[i].nb;
    for (size_t j = (i + 1) & mask; G.owned[j].p; j = (j + 1) & mask) {
        size_t k = owned_slot(G.owned[j].p); /* linear probing: close the gap at i */
        bool stays = i <= j ? (i < k && k <= j) : (i < k || k <= j);
        if (!stays) {
            G.owned[i] = G.owned[j];
            i = j;
        }
    }
    G.owned[i].p = NULL;
    G.nowned--;
    return nb;
}

/* A cached block of exactly nb bytes, or NULL (most recently freed first: still warm). */
static void *cache_take(size_t nb)
{
    for (int i = G.ncache - 1; i >= 0; i--)
        if (G.cache[i].nb == nb) {
            void *p = G.cache[i].p;
            G.cache[i] = G.cache[--G.ncache];
            G.cache_bytes -= nb;
            return p;
        }
    return NULL;
}

/* Every cached block back to the pool (a cs allocation failed: the pool may need them). */
static void cache_drain(void)
{
    for (int i = 0; i < G.ncache; i++)
        cudaFreeAsync(G.cache[i].p, G.cs);
    G.ncache = 0;
    G.cache_bytes = 0;
}

/* Frees b in cs order: into the cache when it is on, b was allocated on cs and there is
 * room; else to the pool. */
static void cs_free(RtBlock b)
{
    size_t nb = cache_enabled() ? owned_take(b.p) : 0;
    if (nb && G.ncache < RT_GPU_CACHE_BLOCKS && G.cache_bytes + nb <= RT_GPU_CACHE_MAX) {
        RtBlock *v = grow(G.cache, &G.capcache, G.ncache + 1, sizeof *v);
        if (v) {
            G.cache = v;
            G.cache[G.ncache++] = (RtBlock){b.p, nb};
            G.cache_bytes += nb;
            return;
        }
    }
    cudaFreeAsync(b.p, G.cs);
}

/* Frees, in cs order, the deferred buffers NCCL no longer uses. */
static void flush_deferred(void)
{
    int k = 0;
    for (int i = 0; i < G.ndef; i++) {
        if (in_flight(G.deferred[i].p))
            G.deferred[k++] = G.deferred[i];
        else
            cs_free(G.deferred[i]);
    }
    G.ndef = k;
}

/* Forgets the entries at and before fl[upto] on `lane` (every lane when lane < 0): done,
 * or cs already waits for them. */
static void drop_inflight(int upto, int lane)
{
    int k = 0;
    for (int i = 0; i < G.nfl; i++) {
        if (i <= upto && (lane < 0 || G.fl[i].lane == lane))
            spare_event(G.fl[i].ev);
        else
            G.fl[k++] = G.fl[i];
    }
    G.nfl = k;
}

static void sweep_inflight(void)
{
    /* a lane's entries complete in order: after its first unfinished one, none is asked */
    uint64_t busy = 0;
    int k = 0, n = G.nfl;
    for (int i = 0; i < n; i++) {
        uint64_t bit = 1ULL << G.fl[i].lane;
        if (!(busy & bit) && cudaEventQuery(G.fl[i].ev) == cudaSuccess) {
            spare_event(G.fl[i].ev);
            continue;
        }
        busy |= bit;
        G.fl[k++] = G.fl[i];
    }
    G.nfl = k;
    if (k < n)
        flush_deferred();
}

/* cs waits for everything issued on every lane so far, except a held receive that is its
 * lane's last work (g_recv_held): cs follows the work before it, and its buffer stays in
 * flight, so no wait of this process depends on a sender that has not committed yet. */
static void join_lanes(void)
{
    for (int i = 0; i < G.nlanes; i++) {
        RtLane *l = &G.lanes[i];
        if (l->held && l->ops == l->held_at) {
            if (l->joined + 1 < l->held_at) {
                cudaStreamWaitEvent(G.cs, l->before_held, 0);
                l->joined = l->held_at - 1;
            }
            continue;
        }
        if (l->joined == l->ops)
            continue;
        cudaEventRecord(l->joined_ev, l->s);
        cudaStreamWaitEvent(G.cs, l->joined_ev, 0);
        l->joined = l->ops;
    }
    int k = 0; /* every buffer in flight is joined now but a held receive's */
    for (int i = 0; i < G.nfl; i++) {
        if (G.fl[i].held && G.lanes[G.fl[i].lane].held)
            G.fl[k++] = G.fl[i];
        else
            spare_event(G.fl[i].ev);
    }
    G.nfl = k;
    flush_deferred();
}

/* The held receive on `lane` (if any) is an ordinary one from now on. */
static void lane_unhold(int lane)
{
    G.lanes[lane].held = false;
    G.lanes[lane].held_by = NULL;
    for (int i = 0; i < G.nfl; i++)
        if (G.fl[i].lane == lane)
            G.fl[i].held = false;
}

/* ... if it is c's (lane 0 may be shared by several communicators). */
static void lane_release(RtGpuComm *c)
{
    if (G.lanes[c->lane].held && G.lanes[c->lane].held_by == c)
        lane_unhold(c->lane);
}

/* A buffer the group being built hands to NCCL on `lane`. */
static void group_uses(const void *p, int lane, bool written)
{
    if (G.ngrp == (int)(sizeof G.grp / sizeof G.grp[0])) {
        G.grp_full = true;
        return;
    }
    G.grp[G.ngrp++] = (Inflight){p, NULL, lane, written, false};
}

/* A communicator the group being built uses (settled at the group's end). */
static void group_comm(RtGpuComm *c)
{
    for (int i = 0; i < G.ngcomms; i++)
        if (G.gcomms[i] == c)
            return;
    if (G.ngcomms < (int)(sizeof G.gcomms / sizeof G.gcomms[0]))
        G.gcomms[G.ngcomms++] = c;
}

/* After a group was launched: its buffers enter the FIFO (or, when that cannot be
 * recorded, cs simply waits for all lanes, as it would without overlap). */
static void group_launched(void)
{
    if (!G.no_overlap) /* (read once: getenv scans the environment, and this runs per group) */
        G.no_overlap = getenv("DAFT_GPU_NO_OVERLAP") ? 1 : -1;
    /* (a held receive is tracked even without overlap: joins leave it out, so only its
     * entry makes compute wait for it where it reads or frees its buffer) */
    bool ok = !G.grp_full && (G.no_overlap < 0 || G.grp_held_lane >= 0);
    Inflight *v = ok ? grow(G.fl, &G.capfl, G.nfl + G.ngrp, sizeof *G.fl) : NULL;
    if (v)
        G.fl = v;
    for (int i = 0; v && i < G.ngrp; i++) {
        cudaEvent_t ev = G.nevs ? G.evs[--G.nevs] : NULL;
        if (!ev && cudaEventCreateWithFlags(&ev, cudaEventDisableTiming) != cudaSuccess) {
            v = NULL;
            break;
        }
        cudaEventRecord(ev, G.lanes[G.grp[i].lane].s);
        G.grp[i].ev = ev;
        G.grp[i].held = G.grp_held_lane >= 0;
        G.fl[G.nfl++] = G.grp[i];
    }
    G.ngrp = 0;
    G.grp_full = false;
    if (!v) {
        if (G.grp_held_lane >= 0) /* (untracked, it cannot be left out of joins) */
            lane_unhold(G.grp_held_lane);
        join_lanes();
    }
}

/* Lane `lane` is about to read p (a send, a collective's input): if NCCL on another lane
 * writes it (a received value sent on, a collective's result reduced again), the lane
 * waits for that first. cs does not: it may never read p. */
static void lane_reads(int lane, const void *p)
{
    int k = -1;
    for (int i = 0; i < G.nfl; i++)
        if (G.fl[i].p == p && G.fl[i].written)
            k = i;
    if (k >= 0 && G.fl[k].lane != lane)
        cudaStreamWaitEvent(G.lanes[lane].s, G.fl[k].ev, 0);
}

/* Compute is about to read t: if NCCL writes it, cs waits for that (and, a lane being
 * one stream, for everything before it on that lane). */
static void g_use(const DaftTensor *t)
{
    int k = -1;
    for (int i = 0; i < G.nfl; i++)
        if (G.fl[i].p == t->data && G.fl[i].written)
            k = i;
    if (k < 0)
        return;
    cudaStreamWaitEvent(G.cs, G.fl[k].ev, 0);
    drop_inflight(k, G.fl[k].lane);
    flush_deferred();
}

void *rtg_compute_stream(void) { return (void *)G.cs; }

/* ---------------------------------------------------------------- profile (opt-in)
 * Why: the lent GPU machines have no Nsight Systems; this says where an actor's GPU time
 * goes, per operation, at the cost of two events per operation (and, every
 * RT_PROF_PENDING operations, a wait for the GPU to sum them). */
static bool prof_on(void)
{
    if (!G.prof) {
        const char *e = getenv("DAFT_GPU_PROFILE");
        G.prof = e && *e && strcmp(e, "0") && strcmp(e, "host") ? 1 : -1; /* host: rt_gpu_hprof.c */
        if (G.prof > 0 && !(G.spans = calloc(RT_PROF_PENDING, sizeof *G.spans)))
            G.prof = -1;
    }
    return G.prof > 0 && G.dev >= 0;
}

/* Polls an event for up to the deadline (a stream stuck on a dead peer never finishes). */
static bool prof_done(cudaEvent_t ev, int64_t deadline)
{
    for (;;) {
        cudaError_t e = cudaEventQuery(ev);
        if (e != cudaErrorNotReady)
            return e == cudaSuccess;
        if (now_ns() > deadline)
            return false;
        struct timespec ts = {0, 20000};
        nanosleep(&ts, NULL);
    }
}

/* The span before span i on its stream, in this batch, or -1. */
static int prof_prev_on_stream(int i)
{
    for (int j = i - 1; j >= 0 && j >= i - 64; j--)
        if (G.spans[j].s == G.spans[i].s)
            return j;
    return -1;
}

static void prof_sum(void)
{
    int64_t deadline = now_ns() + 2000000000LL;
    for (int i = 0; i < G.nspans; i++) {
        ProfSpan *sp = &G.spans[i];
        float ms = 0, idle = 0;
        if (prof_done(sp->b, deadline) && cudaEventElapsedTime(&ms, sp->a, sp->b) == cudaSuccess) {
            int k = 0;
            while (k < G.nsums && strcmp(G.sums[k].name, sp->name))
                k++;
            if (k == G.nsums && G.nsums < RT_PROF_NAMES)
                G.sums[G.nsums++] = (ProfSum){sp->name, 0, 0.0, 0.0};
            /* GPU idle before this span: the stream had nothing to do (its host was late)
             * or waited for another stream; spans on one stream are in stream order */
            int j = prof_prev_on_stream(i);
            if (j >= 0 && cudaEventElapsedTime(&idle, G.spans[j].b, sp->a) != cudaSuccess)
                idle = 0;
            if (k < G.nsums) {
                G.sums[k].count++;
                G.sums[k].ms += ms;
                G.sums[k].idle_ms += idle > 0 ? idle : 0;
            }
        }
    }
    for (int i = 0; i < G.nspans; i++) {
        cudaEventDestroy(G.spans[i].a);
        cudaEventDestroy(G.spans[i].b);
    }
    cudaGetLastError();
    G.nspans = 0;
}

static void *prof_begin(const char *name, cudaStream_t s)
{
    if (!prof_on())
        return NULL;
    if (G.nspans == RT_PROF_PENDING) {
        if (G.prof_open)
            return NULL; /* (summing would destroy an open span's events) */
        prof_sum();
    }
    ProfSpan *sp = &G.spans[G.nspans];
    if (cudaEventCreate(&sp->a) != cudaSuccess || cudaEventCreate(&sp->b) != cudaSuccess) {
        cudaGetLastError();
        return NULL;
    }
    sp->name = name;
    sp->s = s;
    cudaEventRecord(sp->a, s);
    G.nspans++;
    G.prof_open++;
    return sp;
}

static void prof_end(void *token, cudaStream_t s)
{
    if (!token)
        return;
    cudaEventRecord(((ProfSpan *)token)->b, s);
    G.prof_open--;
}

void *rtg_prof_begin(const char *name) { return prof_begin(name, G.cs); }
void rtg_prof_end(void *token) { prof_end(token, G.cs); }

static void g_report(const char *who)
{
    rtg_hprof_report(who, G.dev);
    if (G.graphs) {
        RtGraphStats st = rtgraph_stats(G.graphs);
        fprintf(stderr, "daft: CUDA graphs of %s: %llu call sites captured, %llu calls launched as "
                        "graphs, %llu sites given up after, %llu plan executions launched as one "
                        "graph\n", who, (unsigned long long)st.captured, (unsigned long long)st.launches,
                (unsigned long long)st.diverged, (unsigned long long)st.iter_launches);
    }
    if (!prof_on() || G.prof_open)
        return;
    prof_sum();
    double total = 0;
    for (int k = 0; k < G.nsums; k++)
        total += G.sums[k].ms;
    fprintf(stderr, "daft: GPU profile of %s (GPU %d; compute stream, and NCCL groups on the "
                    "communication stream; idle: the stream's GPU idle just before)\n"
                    "  %-18s %8s %11s %10s %6s %10s %9s\n",
            who, G.dev, "operation", "count", "total ms", "avg us", "share", "idle ms", "idle us");
    for (int k = 0; k < G.nsums; k++)
        fprintf(stderr, "  %-18s %8lld %11.3f %10.1f %5.1f%% %10.3f %9.2f\n", G.sums[k].name,
                (long long)G.sums[k].count, G.sums[k].ms, 1000.0 * G.sums[k].ms / (double)G.sums[k].count,
                total > 0 ? 100.0 * G.sums[k].ms / total : 0.0, G.sums[k].idle_ms,
                1000.0 * G.sums[k].idle_ms / (double)G.sums[k].count);
}

/* The compute stream for code outside daft (daft_ctx_stream): it cannot say which buffers
 * it reads, so it gets a stream that follows all communication. */
static void *g_stream(void)
{
    if (G.dev < 0)
        return NULL;
    if (G.graphs) /* (code outside daft is about to use device memory) */
        rtgraph_on_copy(G.graphs);
    join_lanes();
    return (void *)G.cs;
}

void rtg_use(const DaftTensor *t)
{
    int64_t t0 = rtg_hprof_begin();
    g_use(t);
    rtg_hprof_end("  use", t0);
}


static int comm_async(RtGpuComm *c, char *err, size_t cap)
{
    if (!c || c->aborted)
        return 0;
    ncclResult_t st = ncclSuccess;
    ncclResult_t r = ncclCommGetAsyncError(c->comm, &st);
    if (r != ncclSuccess || (st != ncclSuccess && st != ncclInProgress)) {
        gerr(err, cap, "NCCL asynchronous error: %s (%s)",
             ncclGetErrorString(r != ncclSuccess ? r : st), ncclGetLastError(c->comm));
        c->bad = true;
        return DAFT_EPEER;
    }
    return 0;
}

static int comm_check(RtGpuComm *c, char *err, size_t cap)
{
    int rc = comm_async(c, err, cap);
    if (rc)
        return rc;
    cudaError_t e = cudaPeekAtLastError();
    if (e != cudaSuccess) {
        gerr(err, cap, "CUDA error: %s", cudaGetErrorString(e));
        return DAFT_EPEER;
    }
    return 0;
}

/* Polls an event recorded on cs; between polls checks every communicator for errors and
 * an abort, and calls the hooks. */
/* A wait for the GPU that lasts this long is reported on stderr (and again at twice the
 * interval), naming the actor: a GPU that never finishes is almost always NCCL waiting for
 * a communicator member that did not issue its part (or issued it in another order). */
#define RT_GPU_STALL_NS (30LL * 1000000000LL)
#define RT_GPU_YIELD_NS (20LL * 1000000LL)

static void stall_report(int64_t seconds)
{
    fprintf(stderr,
            "daft: %s (GPU %d): waiting for its GPU for %lld s; %s\n",
            G.who[0] ? G.who : "a GPU actor", G.dev, (long long)seconds,
            G.ncomms ? "NCCL operations are unfinished: a member of one of its communicators "
                       "has not issued its part of an operation (or issued them in another order)"
                     : "no NCCL operation is involved (a kernel still running?)");
}

static void g_comm_abort(RtGpuComm *c);

static int poll_event(cudaEvent_t ev, RtGpuComm *const *cs, int ncs, bool (*alive)(void *),
                      void (*progress)(void *), void *arg, char *err, size_t cap)
{
    int64_t t0 = now_ns(), last = t0, report = t0 + RT_GPU_STALL_NS;
    for (;;) {
        cudaError_t e = cudaEventQuery(ev);
        if (e == cudaSuccess)
            return 0;
        if (e != cudaErrorNotReady) {
            gerr(err, cap, "CUDA error: %s", cudaGetErrorString(e));
            return DAFT_EPEER;
        }
        int64_t t = now_ns();
        if (t - t0 < 200000) /* spin 200 us, then yield, then poll every ~10 us */
            continue;
        if (t - last > 2000000) { /* every 2 ms: errors, peers, progress */
            last = t;
            /* a wait on given communicators (a new one's warm-up) looks at those only:
             * another plan's communicator, aborted because that plan was unloaded or
             * stopped and not yet destroyed, says nothing about this wait */
            RtGpuComm *const *ws = ncs > 0 ? cs : G.comms;
            int nws = ncs > 0 ? ncs : G.ncomms;
            for (int i = 0; i < nws; i++)
                if (ws[i] && comm_async(ws[i], err, cap))
                    return DAFT_EPEER;
            for (int i = 0; i < nws; i++)
                if (ws[i] && ws[i]->aborted) {
                    gerr(err, cap, "NCCL communicator aborted (a peer died)");
                    return DAFT_EPEER;
                }
            if (progress)
                progress(arg);
            else if (G.hook)
                G.hook(G.hook_arg);
            if (t > report) { /* never silent: say who waits, and for what */
                stall_report((t - t0) / 1000000000);
                report = t + 2 * RT_GPU_STALL_NS;
            }
            if (alive && !alive(arg)) {
                for (int i = 0; i < ncs; i++) /* (graphs holding one go first) */
                    g_comm_abort(cs[i]);
                gerr(err, cap, "a peer died: NCCL communicators aborted");
                return DAFT_EPEER;
            }
        }
        /* Yielding, not sleeping, for the first 20 ms: a 10 us nanosleep overshot to tens
         * of us on the lent H100 machines, so a wait for the GPU (W5's per-step loss, ~1.3
         * ms) ended that late and the GPU idled 66 us a step (DAFT_GPU_PROFILE's idle
         * column before the next kernel). PyTorch's default stream waits spin and yield
         * too. A longer wait is a stall or a peer: then sleep, not burn the CPU. */
        if (t - t0 < RT_GPU_YIELD_NS) {
            sched_yield();
            continue;
        }
        struct timespec ts = {0, 10000};
        nanosleep(&ts, NULL);
    }
}

/* std_cuda's waits for a scalar result, polled like every other wait of this process. */
static int std_host_wait(cudaStream_t s, char *err, size_t cap)
{
    cudaError_t e = cudaEventRecord(G.std_done, s);
    if (e != cudaSuccess) {
        gerr(err, cap, "cudaEventRecord failed: %s", cudaGetErrorString(e));
        return DAFT_EPEER;
    }
    return poll_event(G.std_done, NULL, 0, NULL, NULL, NULL, err, cap);
}

static void g_set_name(const char *who) { snprintf(G.who, sizeof G.who, "%s", who ? who : "?"); }

static void g_set_hook(void (*fn)(void *), void *arg)
{
    G.hook = fn;
    G.hook_arg = arg;
}

static int g_wait(RtGpuComm *const *c, int n, bool (*alive)(void *), void (*progress)(void *),
                  void *arg, char *err, size_t cap)
{
    if (G.dev < 0)
        return 0;
    join_lanes();
    CU(cudaEventRecord(G.done, G.cs), "cudaEventRecord");
    return poll_event(G.done, c, n, alive, progress, arg, err, cap);
}

static int g_sync(char *err, size_t cap)
{
    if (G.graphs) /* (a method waiting for its GPU work: the work must be there) */
        rtgraph_on_copy(G.graphs);
    return g_wait(NULL, 0, NULL, NULL, NULL, err, cap);
}

/* ---------------------------------------------------------------- memory */

/* t's memory from the pool, in stream s's order. */
static int alloc_on(DaftTensor *t, cudaStream_t s, char *err, size_t cap)
{
    if (G.dev < 0) {
        gerr(err, cap, "no GPU in this process");
        return DAFT_EINVAL;
    }
    size_t nb = rtg_nbytes(t), asked = nb ? nb : 16;
    bool cached = s == G.cs && cache_enabled();
    void *p = cached && G.ncache ? cache_take(asked) : NULL;
    cudaError_t e = p ? cudaSuccess : cudaMallocAsync(&p, asked, s);
    if (e != cudaSuccess && cached && G.ncache) { /* the cache may hold what the pool lacks */
        cudaGetLastError();
        cache_drain();
        e = cudaMallocAsync(&p, asked, s);
    }
    if (e != cudaSuccess) {
        cudaGetLastError();
        gerr(err, cap, "cudaMallocAsync of %zu bytes failed: %s", nb, cudaGetErrorString(e));
        return DAFT_ENOMEM;
    }
    if (cached)
        owned_put(p, asked);
    t->data = p;
    t->device = DAFT_DEVICE_GPU(G.dev);
    return 0;
}

static int g_alloc(DaftTensor *t, char *err, size_t cap)
{
    int from_graphs = G.graphs ? rtgraph_alloc(G.graphs, t) : 0;
    if (from_graphs > 0)
        return 0;
    if (from_graphs < 0) {
        gerr(err, cap, "no device memory can be allocated while a CUDA graph is captured");
        return DAFT_ENOMEM;
    }
    return alloc_on(t, G.cs, err, cap);
}

/* Device memory of nb bytes back, in cs order, once NCCL no longer uses it. */
static void free_block(void *p, size_t nb)
{
    if (G.xfer_used)
        join_lanes();
    sweep_inflight();
    RtBlock b = {p, nb ? nb : 16}; /* (the size alloc_on asked for) */
    RtBlock *d = in_flight(p) ? grow(G.deferred, &G.capdef, G.ndef + 1, sizeof *d) : NULL;
    if (d) {
        G.deferred = d;
        G.deferred[G.ndef++] = b;
    } else {
        if (in_flight(p)) /* (no memory to defer it) */
            join_lanes();
        if (in_flight(p))
            return; /* still read by a held group's send (g_recv_held_grouped): leak it */
        cs_free(b);
    }
}

static void g_free(DaftTensor *t)
{
    if (!t->data)
        return;
    if (G.graphs && rtgraph_on_free(G.graphs, t->data)) {
        t->data = NULL; /* a CUDA graph's buffer: the graph keeps it */
        return;
    }
    if (G.dev < 0 || daft_tensor_gpu(t) != G.dev)
        return; /* not ours (cannot happen in a well-formed program): leak, never crash */
    free_block(t->data, rtg_nbytes(t));
    t->data = NULL;
}

static int g_to_host(const DaftTensor *t, void *dst, char *err, size_t cap)
{
    size_t nb = rtg_nbytes(t);
    if (!nb)
        return 0;
    if (G.graphs)
        rtgraph_on_copy(G.graphs);
    g_use(t); /* (not every lane: a send still waiting for its receiver must not block this) */
    CU(cudaMemcpyAsync(dst, t->data, nb, cudaMemcpyDeviceToHost, G.cs), "cudaMemcpyAsync (to host)");
    CU(cudaEventRecord(G.done, G.cs), "cudaEventRecord");
    return poll_event(G.done, NULL, 0, NULL, NULL, NULL, err, cap);
}

static int g_from_host(DaftTensor *t, const void *src, char *err, size_t cap)
{
    size_t nb = rtg_nbytes(t);
    if (!nb)
        return 0;
    if (G.graphs)
        rtgraph_on_copy(G.graphs);
    CU(cudaMemcpyAsync(t->data, src, nb, cudaMemcpyHostToDevice, G.cs), "cudaMemcpyAsync (to GPU)");
    /* src is pageable and may be freed by the caller right after: wait for the copy */
    CU(cudaEventRecord(G.done, G.cs), "cudaEventRecord");
    return poll_event(G.done, NULL, 0, NULL, NULL, NULL, err, cap);
}

static int g_comm_copy(RtGpuComm *c, DaftTensor *t, void *host, bool to_device, bool (*alive)(void *),
                       void (*progress)(void *), void *arg, char *err, size_t cap)
{
    size_t nb = rtg_nbytes(t);
    if (!nb)
        return 0;
    if (G.graphs)
        rtgraph_on_copy(G.graphs);
    if (!to_device)
        g_use(t);
    CU(cudaMemcpyAsync(to_device ? t->data : host, to_device ? host : t->data, nb,
                       to_device ? cudaMemcpyHostToDevice : cudaMemcpyDeviceToHost, G.cs),
       "cudaMemcpyAsync");
    CU(cudaEventRecord(G.done, G.cs), "cudaEventRecord");
    RtGpuComm *cs[1] = {c};
    return poll_event(G.done, cs, 1, alive, progress, arg, err, cap);
}

static int g_upload(DaftTensor *t, const void *src, char *err, size_t cap)
{
    if (G.graphs)
        rtgraph_on_copy(G.graphs);
    int rc = alloc_on(t, G.us, err, cap);
    if (rc)
        return rc;
    size_t nb = rtg_nbytes(t);
    cudaError_t e = nb ? cudaMemcpyAsync(t->data, src, nb, cudaMemcpyHostToDevice, G.us) : cudaSuccess;
    /* cs follows us even when the copy failed: the caller frees t on cs */
    cudaError_t e2 = cudaEventRecord(G.u2c, G.us);
    if (e2 == cudaSuccess)
        e2 = cudaStreamWaitEvent(G.cs, G.u2c, 0);
    if (e != cudaSuccess || e2 != cudaSuccess) {
        gerr(err, cap, "copying %zu bytes to the GPU failed: %s", nb,
             cudaGetErrorString(e != cudaSuccess ? e : e2));
        return DAFT_EPEER;
    }
    /* src may be reused by the caller right after: wait for the copy (only) */
    return poll_event(G.u2c, NULL, 0, NULL, NULL, NULL, err, cap);
}

static int g_host_alloc(void **p, size_t n, char *err, size_t cap)
{
    CU(cudaHostAlloc(p, n ? n : 1, cudaHostAllocDefault), "cudaHostAlloc");
    return 0;
}

static void g_host_free(void *p)
{
    if (p)
        cudaFreeHost(p);
}

static int g_download(const DaftTensor *t, void *dst, void **token, char *err, size_t cap)
{
    if (G.graphs)
        rtgraph_on_copy(G.graphs);
    g_use(t);
    cudaEvent_t ev = G.nevs ? G.evs[--G.nevs] : NULL;
    if (!ev)
        CU(cudaEventCreateWithFlags(&ev, cudaEventDisableTiming), "cudaEventCreate");
    size_t nb = rtg_nbytes(t);
    cudaError_t e = nb ? cudaMemcpyAsync(dst, t->data, nb, cudaMemcpyDeviceToHost, G.cs) : cudaSuccess;
    if (e == cudaSuccess)
        e = cudaEventRecord(ev, G.cs);
    if (e != cudaSuccess) {
        spare_event(ev);
        gerr(err, cap, "cudaMemcpyAsync (to host) failed: %s", cudaGetErrorString(e));
        return DAFT_EPEER;
    }
    *token = (void *)ev;
    return 0;
}

static int g_download_done(void *token, bool wait, char *err, size_t cap)
{
    cudaEvent_t ev = (cudaEvent_t)token;
    int rc;
    if (wait) {
        rc = poll_event(ev, NULL, 0, NULL, NULL, NULL, err, cap) ? -1 : 1;
    } else {
        cudaError_t e = cudaEventQuery(ev);
        if (e == cudaErrorNotReady)
            return 0;
        rc = e == cudaSuccess ? 1 : -1;
        if (rc < 0)
            gerr(err, cap, "copying to the host: CUDA error: %s", cudaGetErrorString(e));
    }
    spare_event(ev);
    return rc;
}

static bool g_may_share(void) { return !G.graphs; }

static int g_copy(DaftTensor *dst, const DaftTensor *src, char *err, size_t cap)
{
    size_t nb = rtg_nbytes(src);
    if (G.graphs && rtgraph_copy(G.graphs, dst, src) > 0)
        return 0; /* (recorded, or answered by a whole iteration's graph) */
    g_use(src);
    if (nb)
        CU(cudaMemcpyAsync(dst->data, src->data, nb, cudaMemcpyDeviceToDevice, G.cs), "cudaMemcpyAsync (D2D)");
    return 0;
}

/* ---------------------------------------------------------------- CUDA graphs
 * DAFT_GPU_GRAPHS=1 (opt-in; off under DAFT_GPU_PROFILE=1, whose events a graph cannot hold):
 * the calls of a compiled plan's call site that repeat exactly are launched as one CUDA
 * graph (rt_gpu_graph.h says how and when). The backend of rt_gpu_graph.c: */

static int gb_call(void *arg, const char *fn, const DaftValue *args, int nargs, DaftValue *out)
{
    (void)arg;
    return rtg_std_call_plain(fn, args, nargs, out);
}
static int gb_alloc(void *arg, DaftTensor *t)
{
    char err[160];
    (void)arg;
    return alloc_on(t, G.cs, err, sizeof err);
}
static void gb_drop(void *arg, DaftValue *v)
{
    (void)arg;
    if (v->kind == DAFT_V_TENSOR)
        g_free(&v->as.tensor);
    else if (v->kind == DAFT_V_ERROR)
        free(v->as.error.msg);
    memset(v, 0, sizeof *v);
}
static void gb_release(void *arg, void *p, size_t nb)
{
    (void)arg;
    free_block(p, nb); /* (an orphan the host held may still be read by NCCL) */
}
static int gb_copy(void *arg, void *dst, const void *src, size_t nb)
{
    (void)arg;
    return nb && cudaMemcpyAsync(dst, src, nb, cudaMemcpyDeviceToDevice, G.cs) != cudaSuccess ? -1 : 0;
}
static void gb_use(void *arg, const DaftTensor *t)
{
    (void)arg;
    g_use(t);
}
static int gb_capture_begin(void *arg)
{
    (void)arg;
    if (cudaPeekAtLastError() != cudaSuccess)
        return -1; /* (an earlier error is comm_check's to report: a capture must not clear it) */
    /* a collective captured on the compute stream joins the lanes and frees what they no
     * longer read: all of that must happen now, outside the graph */
    join_lanes();
    /* thread-local: other threads (NCCL's) may call CUDA meanwhile */
    return cudaStreamBeginCapture(G.cs, cudaStreamCaptureModeThreadLocal) == cudaSuccess ? 0 : -1;
}
static int gb_capture_end(void *arg, bool ok, void **exec)
{
    (void)arg;
    cudaGraph_t graph = NULL;
    cudaError_t e = cudaStreamEndCapture(G.cs, &graph);
    cudaGraphExec_t ge = NULL;
    if (e == cudaSuccess && ok && graph)
        e = cudaGraphInstantiate(&ge, graph, 0);
    if (graph)
        cudaGraphDestroy(graph);
    if (e != cudaSuccess || !ok || !ge) {
        cudaGetLastError(); /* (a failed capture is not the stream's error) */
        return -1;
    }
    *exec = ge;
    return 0;
}
static int gb_launch(void *arg, void *exec)
{
    (void)arg;
    return cudaGraphLaunch((cudaGraphExec_t)exec, G.cs) == cudaSuccess ? 0 : -1;
}
static void gb_exec_free(void *arg, void *exec)
{
    (void)arg;
    cudaGraphExecDestroy((cudaGraphExec_t)exec);
}

static int g_collective(RtGpuComm *c, int kind, int reduce, int root, const DaftTensor *in,
                        DaftTensor *out, bool on_compute, char *err, size_t cap);
static int gb_coll(void *arg, void *comm, int kind, int reduce, int root, const DaftTensor *in,
                   DaftTensor *out, bool on_compute, char *err, size_t cap)
{
    (void)arg;
    return g_collective(comm, kind, reduce, root, in, out, on_compute, err, cap);
}

/* The graphs, if DAFT_GPU_GRAPHS=1 (made on first use). */
static RtGraphs *graphs(void)
{
    static const RtGraphBackend b = {NULL, gb_call, gb_alloc, gb_drop, gb_release, gb_copy, gb_use,
                                     gb_capture_begin, gb_capture_end, gb_launch, gb_exec_free,
                                     gb_coll};
    if (!G.graphs && G.dev >= 0 && !prof_on()) {
        const char *e = getenv("DAFT_GPU_GRAPHS");
        if (e && !strcmp(e, "1"))
            G.graphs = rtgraph_new(&b);
    }
    return G.graphs;
}

RtGraphs *rtg_graphs(void) { return G.graphs; }

static void g_graph_begin(uint64_t key, const DaftValue *args, int nargs)
{
    RtGraphs *g = graphs();
    if (g)
        rtgraph_begin(g, key, args, nargs);
}

static int g_graph_end(DaftValue *result, char *err, size_t cap)
{
    return G.graphs ? rtgraph_end(G.graphs, result, err, cap) : 0;
}

static void g_graph_forget(uint32_t plan)
{
    if (G.graphs)
        rtgraph_forget(G.graphs, plan);
}

static int g_iter_begin(uint64_t key, void (*on_diverge)(void *), void *arg)
{
    RtGraphs *g = graphs();
    return g ? rtgraph_iter_begin(g, key, on_diverge, arg) : RTGRAPH_NEVER;
}
static void g_iter_input(const DaftValue *v)
{
    if (G.graphs)
        rtgraph_iter_input(G.graphs, v);
}
static int g_iter_verdict(void) { return G.graphs ? rtgraph_iter_verdict(G.graphs) : RTGRAPH_NEVER; }
static int g_iter_go(bool launch, char *err, size_t cap)
{
    return G.graphs ? rtgraph_iter_go(G.graphs, launch, err, cap) : 0;
}
static void g_iter_end(void)
{
    if (G.graphs)
        rtgraph_iter_end(G.graphs);
}
static void g_iter_pause(bool pause)
{
    if (G.graphs)
        rtgraph_iter_pause(G.graphs, pause);
}

/* ---------------------------------------------------------------- NCCL */

static int g_nccl_id(uint8_t id[RT_NCCL_ID_BYTES], char *err, size_t cap)
{
    _Static_assert(sizeof(ncclUniqueId) == RT_NCCL_ID_BYTES, "ncclUniqueId size");
    ncclUniqueId u;
    ncclResult_t r = ncclGetUniqueId(&u);
    if (r != ncclSuccess) {
        gerr(err, cap, "ncclGetUniqueId failed: %s", ncclGetErrorString(r));
        return DAFT_EPEER;
    }
    memcpy(id, &u, sizeof u);
    return 0;
}

/* Nonblocking communicators: every call may return ncclInProgress; settle polls. */
static int settle(RtGpuComm *c, char *err, size_t cap)
{
    /* (microseconds as a rule; a finalize whose peer died might never settle: bounded) */
    int64_t deadline = now_ns() + 60LL * 1000000000LL;
    for (;;) {
        ncclResult_t st = ncclSuccess;
        ncclResult_t r = ncclCommGetAsyncError(c->comm, &st);
        if (r != ncclSuccess || (st != ncclSuccess && st != ncclInProgress)) {
            gerr(err, cap, "NCCL error: %s", ncclGetErrorString(r != ncclSuccess ? r : st));
            c->bad = true;
            return DAFT_EPEER;
        }
        if (st == ncclSuccess)
            return 0;
        if (now_ns() > deadline) {
            gerr(err, cap, "NCCL did not finish an operation's launch in 60 s");
            c->bad = true;
            return DAFT_EPEER;
        }
    }
}

/* Operations on a nonblocking communicator cost a thread per ncclGroupEnd (NCCL runs a
 * nonblocking group's launch on a new pthread and reports through the async error):
 * ~30 us each, which dominated small transfers. So once the nonblocking communicator
 * exists (its creation polled, so a member that never joins is noticed), every member
 * splits a BLOCKING child from it and runs its operations there; a blocking group end
 * just enqueues the kernels. The only host-side waits on peers in a blocking p2p group
 * are connection set-ups, so they are made here, at creation, by one grouped 1-byte
 * exchange with every other rank (all members do it in the same order). Set
 * DAFT_NCCL_NONBLOCKING=1 to keep the old behaviour (to measure it). The parent stays
 * until destroy/abort. A failed split fails the communicator's creation (every member
 * sees the failure or a member's death, as for the creation itself). */
static int blocking_split(RtGpuComm *c, int64_t deadline, bool (*alive)(void *), void *arg,
                          char *err, size_t cap)
{
    const char *nb = getenv("DAFT_NCCL_NONBLOCKING");
    if (nb && *nb && strcmp(nb, "0"))
        return 0;
    ncclConfig_t cfg = NCCL_CONFIG_INITIALIZER;
    cfg.blocking = 1;
    ncclComm_t child = NULL;
    ncclResult_t r = ncclCommSplit(c->comm, 0, c->rank, &child, &cfg);
    int64_t last = now_ns();
    for (;;) { /* a split of a nonblocking parent may complete asynchronously */
        if (r != ncclSuccess && r != ncclInProgress) {
            gerr(err, cap, "ncclCommSplit (blocking child) failed: %s", ncclGetErrorString(r));
            return DAFT_EPEER;
        }
        /* NCCL's split job stores the child when its init has ended (well or not) and
         * then reports the job's result on the parent: both must say success */
        ncclResult_t st = ncclSuccess;
        ncclResult_t q = ncclCommGetAsyncError(c->comm, &st);
        if (q != ncclSuccess || (st != ncclSuccess && st != ncclInProgress)) {
            r = q != ncclSuccess ? q : st;
            continue;
        }
        ncclComm_t ch = __atomic_load_n(&child, __ATOMIC_ACQUIRE);
        if (st == ncclSuccess && ch) {
            ncclResult_t cst = ncclSuccess;
            q = ncclCommGetAsyncError(ch, &cst);
            if (q != ncclSuccess || (cst != ncclSuccess && cst != ncclInProgress)) {
                r = q != ncclSuccess ? q : cst;
                continue;
            }
            if (cst == ncclSuccess)
                break;
        }
        if (st == ncclSuccess && !ch && deadline > now_ns() + 5000000000LL)
            deadline = now_ns() + 5000000000LL; /* parent done: the child must follow */
        bool dead = false;
        if (now_ns() - last > 2000000) {
            last = now_ns();
            dead = alive && !alive(arg);
        }
        if (dead || now_ns() > deadline) {
            gerr(err, cap, "NCCL communicator of %d ranks (rank %d): blocking split %s", c->n,
                 c->rank, dead ? "stopped: a member died" : "timed out");
            if (child)
                ncclCommAbort(child);
            return DAFT_EPEER;
        }
        struct timespec ts = {0, 20000};
        nanosleep(&ts, NULL);
    }
    c->parent = c->comm;
    c->comm = child;
    if (c->n < 2 || c->n > 16)
        return 0; /* large communicators connect on first use */
    void *buf = NULL;
    if (cudaMalloc(&buf, 2 * (size_t)c->n) != cudaSuccess) {
        cudaGetLastError();
        return 0;
    }
    /* after the compute stream's work (a collective may run there) and before any later
     * NCCL work there: this GPU's NCCL operations stay one after another */
    RtLane *l = &G.lanes[c->lane];
    lane_after_compute(c->lane);
    ncclGroupStart();
    for (int p = 0; p < c->n; p++)
        if (p != c->rank) {
            ncclSend((char *)buf + p, 1, ncclUint8, p, c->comm, l->s);
            ncclRecv((char *)buf + c->n + p, 1, ncclUint8, p, c->comm, l->s);
        }
    r = ncclGroupEnd();
    l->ops++;
    if (r != ncclSuccess) {
        gerr(err, cap, "NCCL connection warm-up failed: %s", ncclGetErrorString(r));
        return DAFT_EPEER; /* buf leaks: a kernel may still use it */
    }
    /* the peers are all here, so this is quick; polled all the same (a peer that dies
     * now must not leave us waiting): on its death poll_event aborts c */
    RtGpuComm *cc[1] = {c};
    cudaEventRecord(G.done, l->s);
    int rc = poll_event(G.done, cc, 1, alive, NULL, arg, err, cap);
    if (!rc) {
        cudaFree(buf);
        c->warmed = true;
    }
    return rc;
}

static int g_comm_start(RtGpuComm **out, const uint8_t id[RT_NCCL_ID_BYTES], int n, int rank,
                        char *err, size_t cap)
{
    *out = NULL;
    if (G.dev < 0) {
        gerr(err, cap, "no GPU in this process");
        return DAFT_EINVAL;
    }
    RtGpuComm *c = calloc(1, sizeof *c);
    if (!c)
        return DAFT_ENOMEM;
    c->n = n;
    c->rank = rank;
    c->lane = lane_take();
    if (c->lane < 0)
        c->lane = 0;
    ncclUniqueId u;
    memcpy(&u, id, sizeof u);
    ncclConfig_t cfg = NCCL_CONFIG_INITIALIZER;
    cfg.blocking = 0;
    /* Connections at creation, when every member is known to be here, not at a collective's
     * first call: NCCL makes those in the group end, on the host, waiting for every peer to
     * make its part. A member that cannot take part in a plan's first collective (its input
     * failed) would leave the others blocked there, out of reach of the driver's unload, and
     * the plan's reload waiting for them (2 x H200, compiled allreduce with a failed input).
     * (The user's own NCCL_RUNTIME_CONNECT wins; it is read at NCCL's first creation.) */
    setenv("NCCL_RUNTIME_CONNECT", "0", 0);
    ncclResult_t r = ncclCommInitRankConfig(&c->comm, n, u, rank, &cfg);
    if (r != ncclSuccess && r != ncclInProgress) {
        gerr(err, cap, "ncclCommInitRankConfig failed: %s", ncclGetErrorString(r));
        lane_give_back(c);
        free(c);
        return DAFT_EPEER;
    }
    /* Not in G.comms (g_comm_init adds it once created): the failures of an interpreted
     * transfer's communicator must not fail the actor's other waits. */
    *out = c;
    return 0;
}

static int g_comm_init(RtGpuComm **out, const uint8_t id[RT_NCCL_ID_BYTES], int n, int rank,
                       double timeout_s, bool (*alive)(void *), void *arg, char *err, size_t cap)
{
    RtGpuComm *c;
    int rc = g_comm_start(&c, id, n, rank, err, cap);
    if (rc)
        return rc;
    *out = NULL;
    ncclResult_t r;
    int64_t t0 = now_ns(), deadline = t0 + (int64_t)(timeout_s * 1e9), last = t0;
    int64_t report = t0 + RT_GPU_STALL_NS;
    for (;;) {
        ncclResult_t st = ncclInProgress;
        r = ncclCommGetAsyncError(c->comm, &st);
        if (r == ncclSuccess && st == ncclSuccess)
            break;
        bool dead = false;
        if (now_ns() - last > 2000000) {
            last = now_ns();
            dead = alive && !alive(arg);
        }
        if (now_ns() > report) { /* the others may be busy with earlier work: never silent */
            fprintf(stderr, "daft: %s (GPU %d): waiting %lld s for the other %d members of an "
                            "NCCL communicator (rank %d) to join; giving up after %.0f s "
                            "(DAFT_NCCL_INIT_TIMEOUT)\n",
                    G.who[0] ? G.who : "a GPU actor", G.dev,
                    (long long)((now_ns() - t0) / 1000000000), n - 1, rank, timeout_s);
            report = now_ns() + 2 * RT_GPU_STALL_NS;
        }
        if ((r != ncclSuccess || st != ncclInProgress) || dead || now_ns() > deadline) {
            gerr(err, cap, "NCCL communicator of %d ranks (rank %d) not created: %s", n, rank,
                 dead ? "a member died" : now_ns() > deadline ? "timed out waiting for the other members"
                                                               : ncclGetErrorString(r != ncclSuccess ? r : st));
            ncclCommAbort(c->comm);
            lane_give_back(c); /* (nothing was issued on it) */
            free(c);
            return DAFT_EPEER;
        }
        struct timespec ts = {0, 100000};
        nanosleep(&ts, NULL);
    }
    if (blocking_split(c, deadline, alive, arg, err, cap)) {
        if (!c->aborted) {
            ncclCommAbort(c->comm);
            if (c->parent)
                ncclCommAbort(c->parent);
        }
        free(c);
        return DAFT_EPEER;
    }
    RtGpuComm **v = grow(G.comms, &G.capcomms, G.ncomms + 1, sizeof *v);
    if (v) { /* (without memory: its errors still reach its own operations) */
        G.comms = v;
        G.comms[G.ncomms++] = c;
    }
    *out = c;
    return 0;
}

static void forget(RtGpuComm *c)
{
    for (int i = 0; i < G.ncomms; i++)
        if (G.comms[i] == c) {
            G.comms[i] = G.comms[--G.ncomms];
            break;
        }
}

/* The communicator's lane goes back for the next one, after cs follows its work (later
 * frees must not overtake it). */
static void lane_give_back(RtGpuComm *c)
{
    lane_release(c); /* (its communicator is gone: aborted, the receive ends) */
    if (c->lane <= 0)
        return;
    join_lanes();
    G.lanes[c->lane].taken = false;
    c->lane = 0;
}

static void g_comm_abort(RtGpuComm *c)
{
    if (!c || c->aborted)
        return;
    if (G.graphs) /* (NCCL's abort would wait forever for the graphs that hold c) */
        rtgraph_forget_comm(G.graphs, c);
    ncclCommAbort(c->comm);
    if (c->parent)
        ncclCommAbort(c->parent);
    c->aborted = true;
}

static void g_comm_destroy(RtGpuComm *c)
{
    if (!c)
        return;
    if (G.graphs)
        rtgraph_forget_comm(G.graphs, c);
    forget(c);
    if (!c->aborted) {
        if (c->bad) {
            ncclCommAbort(c->comm);
            if (c->parent)
                ncclCommAbort(c->parent);
        } else {
            ncclCommFinalize(c->comm);
            char e[64];
            if (settle(c, e, sizeof e))
                ncclCommAbort(c->comm); /* (a member gone mid-finalize: do not wait on it) */
            else
                ncclCommDestroy(c->comm);
            if (c->parent) {
                c->comm = c->parent;
                ncclCommFinalize(c->comm);
                if (settle(c, e, sizeof e))
                    ncclCommAbort(c->comm);
                else
                    ncclCommDestroy(c->comm);
            }
        }
    }
    lane_give_back(c); /* (an abort ends the communicator's kernels) */
    free(c);
}

static int g_group_start(void) { return ncclGroupStart() == ncclSuccess ? 0 : DAFT_EPEER; }

static int g_group_end(RtGpuComm *c, char *err, size_t cap)
{
    /* a lane that sends (or reduces) what cs produced follows the compute work so far:
     * NCCL takes the streams' dependencies when it launches the group, in ncclGroupEnd,
     * so one event covers the whole group; a lane that only receives waits for nothing */
    uint64_t lanes = G.grp_lanes ? G.grp_lanes : 1;
    int first = __builtin_ctzll(lanes);
    int64_t hp = rtg_hprof_begin(); /* (the parts of "nccl group end", DAFT_GPU_PROFILE=host) */
    for (int i = first; i < G.nlanes; i++)
        if (G.grp_reads_cs >> i & 1)
            lane_after_compute(i);
    G.grp_lanes = G.grp_reads_cs = 0;
    rtg_hprof_end("  lanes after compute", hp);
    /* (no span for a held receive: summing the spans would wait for its sender) */
    void *prof = G.grp_held_lane >= 0 ? NULL : prof_begin("(NCCL group)", G.lanes[first].s);
    hp = rtg_hprof_begin();
    ncclResult_t r = ncclGroupEnd();
    rtg_hprof_end("  ncclGroupEnd", hp);
    prof_end(prof, G.lanes[first].s);
    for (int i = first; i < G.nlanes; i++)
        if (lanes >> i & 1)
            G.lanes[i].ops++;
    if (r != ncclSuccess && r != ncclInProgress) {
        gerr(err, cap, "ncclGroupEnd failed: %s", ncclGetErrorString(r));
        G.ngrp = G.ngcomms = 0; /* whatever it queued comes before any later free */
        G.grp_full = false;
        if (G.grp_held_lane >= 0)
            lane_unhold(G.grp_held_lane);
        G.grp_held_lane = -1;
        join_lanes();
        return DAFT_EPEER;
    }
    int rc = 0;
    hp = rtg_hprof_begin();
    for (int i = 0; c && !rc && i < G.ngcomms; i++) /* every communicator of the group */
        rc = settle(G.gcomms[i], err, cap);
    if (c && !rc)
        rc = settle(c, err, cap);
    G.ngcomms = 0;
    rtg_hprof_end("  settle (async errors)", hp);
    hp = rtg_hprof_begin();
    if (rc) {
        G.ngrp = 0;
        G.grp_full = false;
        if (G.grp_held_lane >= 0) /* (whatever it queued comes before any later free) */
            lane_unhold(G.grp_held_lane);
        join_lanes();
    } else {
        group_launched(); /* cs waits for the received data where it reads it (g_use) */
    }
    G.grp_held_lane = -1;
    sweep_inflight();
    rtg_hprof_end("  events of the buffers", hp);
    return rc;
}

static ncclDataType_t nccl_type(DaftRtDtype dt)
{
    switch (dt) {
    case DAFT_RT_F32: return ncclFloat32;
    case DAFT_RT_BF16: return ncclBfloat16;
    case DAFT_RT_F16: return ncclFloat16;
    case DAFT_RT_I32: return ncclInt32;
    default: return ncclInt64;
    }
}

static int g_send(RtGpuComm *c, const DaftTensor *t, int peer, char *err, size_t cap)
{
    if (c->aborted) {
        gerr(err, cap, "NCCL communicator aborted");
        return DAFT_EPEER;
    }
    lane_reads(c->lane, t->data);
    group_comm(c);
    ncclResult_t r = ncclSend(t->data, rtg_nbytes(t), ncclUint8, peer, c->comm, G.lanes[c->lane].s);
    G.grp_lanes |= 1ULL << c->lane;
    G.grp_reads_cs |= 1ULL << c->lane;
    if (r != ncclSuccess && r != ncclInProgress) {
        gerr(err, cap, "ncclSend to rank %d failed: %s", peer, ncclGetErrorString(r));
        return DAFT_EPEER;
    }
    group_uses(t->data, c->lane, false);
    return 0;
}

/* A receive buffer, in the lane's order rather than cs's: a pipeline stage's receive of
 * its next input need not wait for the compute queued before it (allocated on cs, the
 * lane had to follow all of cs). The lane waits instead for cs as it was at the lane's
 * previous receive, so the pool reuses the buffers freed on cs by then (an event
 * dependency): with no dependency at all, every receive of a CPU running ahead took new
 * memory (W6 on 4 x H100: 295k samples/s instead of 378k). Its memory is freed in cs
 * order later, as any tensor's. */
static int recv_alloc(int lane, DaftTensor *t, char *err, size_t cap)
{
    RtLane *l = &G.lanes[lane];
    if (l->lag_set)
        cudaStreamWaitEvent(l->s, l->lag, 0);
    cudaEventRecord(l->lag, G.cs);
    l->lag_set = true;
    return alloc_on(t, l->s, err, cap);
}

static int g_recv(RtGpuComm *c, DaftTensor *t, int peer, char *err, size_t cap)
{
    if (c->aborted) {
        gerr(err, cap, "NCCL communicator aborted");
        return DAFT_EPEER;
    }
    int rc = recv_alloc(c->lane, t, err, cap);
    if (rc)
        return rc;
    group_comm(c);
    ncclResult_t r = ncclRecv(t->data, rtg_nbytes(t), ncclUint8, peer, c->comm, G.lanes[c->lane].s);
    G.grp_lanes |= 1ULL << c->lane;
    if (r != ncclSuccess && r != ncclInProgress) {
        gerr(err, cap, "ncclRecv from rank %d failed: %s", peer, ncclGetErrorString(r));
        cudaFreeAsync(t->data, G.lanes[c->lane].s); /* allocated in the lane's order */
        t->data = NULL;
        return DAFT_EPEER;
    }
    group_uses(t->data, c->lane, true);
    return 0;
}

/* May c's held receives go into a send's group (g_recv_held_grouped)? Only on a lane of its
 * own (lane 0 may be shared: other NCCL work would queue behind a kernel that waits for the
 * peer) and on a communicator connected at creation (else the group's end may wait for the
 * peer's next send, to connect). */
static bool g_held_groupable(RtGpuComm *c)
{
    return c->lane > 0 && c->warmed && !c->aborted && !c->bad;
}

/* A held receive (g_recv_held) in the open group, whose end launches it (and resets
 * grp_held_lane). In a group that also sends to the same peer (rt_xnccl_write posting the
 * next READ's receive), the send is part of the held kernel: joins leave it out too, and
 * its buffer's in-flight entry keeps its free back until the kernel is done. */
static int g_recv_held_grouped(RtGpuComm *c, DaftTensor *t, int peer, char *err, size_t cap)
{
    RtLane *l = &G.lanes[c->lane];
    bool hold = l->before_held ||
                cudaEventCreateWithFlags(&l->before_held, cudaEventDisableTiming) == cudaSuccess;
    if (!hold)
        cudaGetLastError(); /* (then an ordinary receive) */
    int rc = g_recv(c, t, peer, err, cap);
    if (!rc && hold) {
        cudaEventRecord(l->before_held, l->s); /* (ncclGroupEnd enqueues the receive) */
        lane_unhold(c->lane);
        l->held = true;
        l->held_at = l->ops + 1;
        l->held_by = c;
        G.grp_held_lane = c->lane;
    }
    return rc;
}

/* One receive in a group of its own that joins of cs with all communication leave out
 * (join_lanes) until g_release: rt_xnccl.c posts it before the sender has committed to
 * sending (pre-posted receives, DAFT_NCCL_PREPOST), and a wait of this process for other
 * work must not become a wait for that sender. Lane 0 shared by several communicators
 * (too many, or DAFT_GPU_ONE_LANE) may get other work after it: then joins include it. */
static int g_recv_held(RtGpuComm *c, DaftTensor *t, int peer, char *err, size_t cap)
{
    g_group_start();
    int rc = g_recv_held_grouped(c, t, peer, err, cap);
    int rc2 = g_group_end(c, rc ? NULL : err, cap);
    if (rc || rc2)
        lane_release(c);
    return rc ? rc : rc2;
}

static void g_release(RtGpuComm *c) { lane_release(c); }

/* A collective whose result the very next computation reads (tensor parallelism) gains
 * nothing from a communication stream: compute would wait for it at once. On the compute
 * stream it needs no events between the streams (two waits of a few microseconds each,
 * per collective, on the GPU's critical path). It follows whatever NCCL work is still on
 * the lanes (join_lanes), and lane work issued later follows it (g_group_end's event).
 * DAFT_GPU_COLL_ON_COMPUTE=0 keeps every collective on its lane (to measure). */
static int nccl_on_compute_end(RtGpuComm *c, ncclResult_t r, void *prof, char *err, size_t cap)
{
    prof_end(prof, G.cs);
    if (r != ncclSuccess && r != ncclInProgress) {
        gerr(err, cap, "ncclGroupEnd failed: %s", ncclGetErrorString(r));
        return DAFT_EPEER;
    }
    return settle(c, err, cap);
}

static bool coll_compute_allowed(void)
{
    if (!G.coll_cs) {
        const char *e = getenv("DAFT_GPU_COLL_ON_COMPUTE");
        G.coll_cs = e && *e && !strcmp(e, "0") ? -1 : 1;
    }
    return G.coll_cs > 0;
}

static int g_collective(RtGpuComm *c, int kind, int reduce, int root, const DaftTensor *in,
                        DaftTensor *out, bool on_compute, char *err, size_t cap)
{
    if (c->aborted) {
        gerr(err, cap, "NCCL communicator aborted");
        return DAFT_EPEER;
    }
    bool given = out->data != NULL; /* the caller allocated it, with the result's shape */
    if (!given) {
        *out = *in;
        out->data = NULL;
        out->device = 0;
    }
    int64_t n = rtg_numel(in);
    if (!given && kind == 1) { /* allgather: concatenate along dim 0 */
        if (in->rank < 1) {
            gerr(err, cap, "allgather needs a tensor of rank >= 1");
            return DAFT_EINVAL;
        }
        out->dims[0] *= c->n;
    } else if (!given && kind == 2) { /* reducescatter: member i keeps part i of dim 0 */
        if (in->rank < 1 || in->dims[0] % c->n) {
            gerr(err, cap, "reducescatter: dimension 0 (%lld) is not divisible by %d members",
                 in->rank < 1 ? 0LL : (long long)in->dims[0], c->n);
            return DAFT_EINVAL;
        }
        out->dims[0] /= c->n;
    }
    int rc = given ? 0 : g_alloc(out, err, cap);
    if (rc)
        return rc;
    ncclRedOp_t op = reduce == 1 ? ncclMax : reduce == 2 ? ncclMin : reduce == 3 ? ncclAvg : ncclSum;
    on_compute = on_compute && coll_compute_allowed();
    if (on_compute)
        join_lanes();
    cudaStream_t s = on_compute ? G.cs : G.lanes[c->lane].s;
    /* a broadcast's receivers may pass no input (only the root's is read): in place */
    const void *send = in->data ? in->data : out->data;
    if (!on_compute) {
        lane_reads(c->lane, send);
        group_comm(c);
        G.grp_lanes |= 1ULL << c->lane;
        G.grp_reads_cs |= 1ULL << c->lane; /* its input, and its output's allocation */
    }
    g_group_start();
    ncclDataType_t ty = nccl_type(in->dtype);
    ncclResult_t r;
    switch (kind) {
    case 0: r = ncclAllReduce(send, out->data, (size_t)n, ty, op, c->comm, s); break;
    case 1: r = ncclAllGather(send, out->data, (size_t)n, ty, c->comm, s); break;
    case 2: r = ncclReduceScatter(send, out->data, (size_t)(n / c->n), ty, op, c->comm, s); break;
    default: r = ncclBroadcast(send, out->data, (size_t)n, ty, root, c->comm, s); break;
    }
    if (r != ncclSuccess && r != ncclInProgress) {
        ncclGroupEnd();
        G.ngrp = G.ngcomms = 0;
        G.grp_lanes = G.grp_reads_cs = 0;
        G.lanes[c->lane].ops++; /* (whatever was queued there comes before later frees) */
        gerr(err, cap, "NCCL collective failed: %s", ncclGetErrorString(r));
        return DAFT_EPEER;
    }
    if (on_compute) { /* kernels launch in ncclGroupEnd: the span starts before it */
        void *prof = prof_begin("(NCCL on compute)", G.cs);
        return nccl_on_compute_end(c, ncclGroupEnd(), prof, err, cap);
    }
    group_uses(send, c->lane, false);
    group_uses(out->data, c->lane, true);
    return g_group_end(c, err, cap);
}

/* ---------------------------------------------------------------- interpreted transfers */


static int g_comm_poll(RtGpuComm *c, char *err, size_t cap)
{
    if (!c || c->aborted) {
        gerr(err, cap, "NCCL communicator aborted");
        return DAFT_EPEER;
    }
    ncclResult_t st = ncclInProgress;
    ncclResult_t r = ncclCommGetAsyncError(c->comm, &st);
    if (r != ncclSuccess || (st != ncclSuccess && st != ncclInProgress)) {
        gerr(err, cap, "NCCL error: %s", ncclGetErrorString(r != ncclSuccess ? r : st));
        c->bad = true;
        return DAFT_EPEER;
    }
    if (st == ncclInProgress)
        return 0;
    G.lanes[c->lane].ops++; /* a launched transfer is on its lane now: later cs work follows it */
    join_lanes();
    return 1;
}

static int g_xfer(RtGpuComm *c, DaftTensor *t, int peer, bool send, char *err, size_t cap)
{
    if (c->aborted) {
        gerr(err, cap, "NCCL communicator aborted");
        return DAFT_EPEER;
    }
    if (!send) {
        int rc = g_alloc(t, err, cap);
        if (rc)
            return rc;
    }
    G.xfer_used = true;
    lane_after_compute(c->lane); /* after the data was produced / the buffer allocated */
    cudaStream_t s = G.lanes[c->lane].s;
    ncclGroupStart();
    ncclResult_t r = send ? ncclSend(t->data, rtg_nbytes(t), ncclUint8, peer, c->comm, s)
                          : ncclRecv(t->data, rtg_nbytes(t), ncclUint8, peer, c->comm, s);
    ncclResult_t r2 = ncclGroupEnd();
    if ((r != ncclSuccess && r != ncclInProgress) || (r2 != ncclSuccess && r2 != ncclInProgress)) {
        gerr(err, cap, "%s %s rank %d failed: %s", send ? "ncclSend to" : "ncclRecv from",
             "peer", peer, ncclGetErrorString(r != ncclSuccess && r != ncclInProgress ? r : r2));
        c->bad = true;
        if (!send)
            g_free(t);
        return DAFT_EPEER;
    }
    return 0;
}

/* ---------------------------------------------------------------- host profile wrappers
 * DAFT_GPU_PROFILE=host (rt_gpu_hprof.c): the table's entries that cost host time on the
 * path of a compiled plan, timed; a std operation's own total is taken in std_gpu.c. */

#define HPROF(name, call)                                                                 \
    do {                                                                                  \
        int64_t hp_t0 = rtg_hprof_begin();                                                \
        int hp_rc = (call);                                                               \
        rtg_hprof_end(name, hp_t0);                                                       \
        return hp_rc;                                                                     \
    } while (0)

static int hp_alloc(DaftTensor *t, char *err, size_t cap)
{
    HPROF("  alloc", g_alloc(t, err, cap));
}
static void hp_free(DaftTensor *t)
{
    int64_t t0 = rtg_hprof_begin();
    g_free(t);
    rtg_hprof_end("  free", t0);
}
static int hp_group_end(RtGpuComm *c, char *err, size_t cap)
{
    HPROF("nccl group end", g_group_end(c, err, cap));
}
static int hp_send(RtGpuComm *c, const DaftTensor *t, int peer, char *err, size_t cap)
{
    HPROF("nccl send", g_send(c, t, peer, err, cap));
}
static int hp_recv(RtGpuComm *c, DaftTensor *t, int peer, char *err, size_t cap)
{
    HPROF("nccl recv (+alloc)", g_recv(c, t, peer, err, cap));
}
static int hp_recv_held(RtGpuComm *c, DaftTensor *t, int peer, char *err, size_t cap)
{
    HPROF("nccl recv held (+alloc)", g_recv_held(c, t, peer, err, cap));
}
static int hp_recv_held_grouped(RtGpuComm *c, DaftTensor *t, int peer, char *err, size_t cap)
{
    HPROF("nccl recv held, grouped", g_recv_held_grouped(c, t, peer, err, cap));
}
static int hp_collective(RtGpuComm *c, int kind, int reduce, int root, const DaftTensor *in,
                         DaftTensor *out, bool on_compute, char *err, size_t cap)
{
    HPROF("nccl collective", G.graphs ? rtgraph_coll(G.graphs, c, kind, reduce, root, in, out, on_compute, err, cap)
                                      : g_collective(c, kind, reduce, root, in, out, on_compute, err, cap));
}
static int hp_wait(RtGpuComm *const *c, int n, bool (*alive)(void *), void (*progress)(void *),
                   void *arg, char *err, size_t cap)
{
    HPROF("wait for the GPU", g_wait(c, n, alive, progress, arg, err, cap));
}
static int hp_to_host(const DaftTensor *t, void *dst, char *err, size_t cap)
{
    HPROF("copy to host (waits)", g_to_host(t, dst, err, cap));
}

/* ---------------------------------------------------------------- the table */

int rt_gpu_std_call(const char *fn, DaftActorCtx *ctx, const DaftValue *args, int nargs,
                    DaftValue *out); /* stdlib/cuda/std_gpu.c */

__attribute__((visibility("default"))) const RtGpuOps *daft_gpu_ops(void);
const RtGpuOps *daft_gpu_ops(void)
{
    static const RtGpuOps ops = {
        .abi = RT_GPU_ABI,
        .attach = g_attach,
        .device = g_device,
        .stream = g_stream,
        .sync = g_sync,
        .alloc = hp_alloc,
        .free = hp_free,
        .to_host = hp_to_host,
        .from_host = g_from_host,
        .copy = g_copy,
        .may_share = g_may_share,
        .upload = g_upload,
        .host_alloc = g_host_alloc,
        .host_free = g_host_free,
        .download = g_download,
        .download_done = g_download_done,
        .report = g_report,
        .std_call = rt_gpu_std_call,
        .nccl_id = g_nccl_id,
        .comm_init = g_comm_init,
        .group_start = g_group_start,
        .group_end = hp_group_end,
        .send = hp_send,
        .recv = hp_recv,
        .recv_held = hp_recv_held,
        .recv_held_grouped = hp_recv_held_grouped,
        .held_groupable = g_held_groupable,
        .release = g_release,
        .collective = hp_collective,
        .comm_check = comm_check,
        .comm_abort = g_comm_abort,
        .comm_destroy = g_comm_destroy,
        .wait = hp_wait,
        .comm_copy = g_comm_copy,
        .set_hook = g_set_hook,
        .comm_start = g_comm_start,
        .comm_poll = g_comm_poll,
        .xfer = g_xfer,
        .set_name = g_set_name,
        .graph_begin = g_graph_begin,
        .graph_end = g_graph_end,
        .graph_forget = g_graph_forget,
        .iter_begin = g_iter_begin,
        .iter_input = g_iter_input,
        .iter_verdict = g_iter_verdict,
        .iter_go = g_iter_go,
        .iter_end = g_iter_end,
        .iter_pause = g_iter_pause,
    };
    return &ops;
}
