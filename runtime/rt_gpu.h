/* rt_gpu.h — the GPU data plane's interface inside libdaftrt (internal, not installed).
 *
 * libdaftrt itself never links CUDA or NCCL: in a GPU build (DAFT_HAVE_GPU) the GPU code
 * lives in a shared object, libdaftgpu.so (runtime/rt_gpu.c, runtime/rt_nccl.c,
 * stdlib/cuda/std_gpu.c and the kernels of libdaftstd_cuda), which an ACTOR process
 * dlopens when it first needs its GPU (rt_gpu_load.c). So CPU-only programs, the driver,
 * CI machines without CUDA and daftc-linked executables need no CUDA library at all, and
 * CUDA is never initialised before a fork. The object exports one symbol,
 * daft_gpu_ops(), returning the table below. Without DAFT_HAVE_GPU, rt_gpu_load.c is
 * a stub whose every entry reports "built without CUDA".
 *
 * Conventions: functions return 0 or a negative DAFT_* code and write a message to
 * err[cap] (naming the CUDA / NCCL call and its error string). "Tensor" arguments are
 * DaftTensor of daftrt.h; device tensors have data on the process's GPU.
 */
#ifndef DAFT_RT_GPU_H
#define DAFT_RT_GPU_H

#include "daftrt.h"

#define RT_GPU_ABI 15
#define RT_NCCL_ID_BYTES 128 /* sizeof(ncclUniqueId) */

/* libdaftgpu.so does not link libdaftrt: its own copies of the tensor size helpers. */
static inline int64_t rtg_numel(const DaftTensor *t)
{
    int64_t n = 1;
    for (int i = 0; i < t->rank; i++)
        n *= t->dims[i];
    return n;
}
static inline size_t rtg_dtype_size(DaftRtDtype dt)
{
    static const size_t sz[DAFT_RT_DTYPE_COUNT] = {4, 2, 2, 4, 8};
    return (unsigned)dt < DAFT_RT_DTYPE_COUNT ? sz[dt] : 0;
}
static inline size_t rtg_nbytes(const DaftTensor *t) { return (size_t)rtg_numel(t) * rtg_dtype_size(t->dtype); }
static inline const char *rtg_dtype_name(DaftRtDtype dt)
{
    static const char *nm[DAFT_RT_DTYPE_COUNT] = {"f32", "bf16", "f16", "i32", "i64"};
    return (unsigned)dt < DAFT_RT_DTYPE_COUNT ? nm[dt] : "?";
}

/* A member's vote on launching a compiled plan's execution as one CUDA graph (RtGpuOps.iter_*,
 * rt_gpu_graph.h): every member launches only when all vote LAUNCH. BUSY (never a vote):
 * another plan's execution is in its graph here, paused; this one is not graphed (it votes
 * NOT_NOW and makes no other iter_* call). */
enum { RTGRAPH_NEVER = -1, RTGRAPH_NOT_NOW = 0, RTGRAPH_LAUNCH = 1, RTGRAPH_CHECK = 2, RTGRAPH_BUSY = 3 };

typedef struct RtGpuComm RtGpuComm; /* one NCCL communicator and its bookkeeping */

typedef struct RtGpuOps {
    int abi; /* RT_GPU_ABI */
    /* ---- process: select `device`, create the compute and communication streams, an
     * event pool and the stream-ordered memory pool (kept, not released to the OS). */
    int (*attach)(int device, char *err, size_t cap);
    int (*device)(void);         /* the attached device or -1 */
    void *(*stream)(void);       /* compute stream */
    int (*sync)(char *err, size_t cap); /* both streams; reports async errors */
    /* ---- memory (device tensors of the attached GPU) */
    /* t's dtype/rank/dims are set: allocate t->data (stream-ordered pool), set device. */
    int (*alloc)(DaftTensor *t, char *err, size_t cap);
    void (*free)(DaftTensor *t); /* stream-ordered after any pending send of it */
    int (*to_host)(const DaftTensor *t, void *dst, char *err, size_t cap);  /* sync */
    int (*from_host)(DaftTensor *t, const void *src, char *err, size_t cap); /* t allocated */
    int (*copy)(DaftTensor *dst, const DaftTensor *src, char *err, size_t cap); /* dst allocated */
    /* May a copy of a tensor value share its buffer (rt_gpu_tensor_dup)? Not in an actor
     * with CUDA graphs (DAFT_GPU_GRAPHS=1): they must see every copy (a kept copy of a
     * graphed result would otherwise be overwritten by the next replay). */
    bool (*may_share)(void);
    /* A new device tensor (t's shape; t->data set) holding the host bytes at src: copied on
     * a stream of its own, so it waits for the copy but not for the compute stream's queued
     * work (the CPU keeps running ahead of the GPU); the compute stream waits for it. */
    int (*upload)(DaftTensor *t, const void *src, char *err, size_t cap);
    /* Asynchronous device -> host copies, so that an actor handing a GPU result to a
     * channel does not wait for its GPU: host_alloc gives pinned host memory (host_free
     * returns it); download enqueues the copy of t into dst (pinned) after the compute work
     * so far and gives a token; download_done polls it: 1 copied (the token is spent), 0
     * not yet (wait false), < 0 failed (err set; the token is spent). */
    int (*host_alloc)(void **p, size_t n, char *err, size_t cap);
    void (*host_free)(void *p);
    int (*download)(const DaftTensor *t, void *dst, void **token, char *err, size_t cap);
    int (*download_done)(void *token, bool wait, char *err, size_t cap);
    /* DAFT_GPU_PROFILE=1: the GPU time of every std operation and NCCL group so far, per
     * name, printed on stderr under the heading `who` (the actor stops next). */
    void (*report)(const char *who);
    /* ---- the std.tensor functions on the GPU (daft/std.h ABI; fn = daft name) */
    int (*std_call)(const char *fn, DaftActorCtx *ctx, const DaftValue *args, int nargs,
                    DaftValue *out);
    /* ---- NCCL */
    int (*nccl_id)(uint8_t id[RT_NCCL_ID_BYTES], char *err, size_t cap);
    /* Creates a communicator of n ranks (blocking until every rank joined, but giving up
     * after timeout_s, or when alive(arg) turns false: then the init is aborted). */
    int (*comm_init)(RtGpuComm **out, const uint8_t id[RT_NCCL_ID_BYTES], int n, int rank,
                     double timeout_s, bool (*alive)(void *), void *arg, char *err, size_t cap);
    /* Point to point on the communication stream, after the compute stream's work so far
     * (event), grouped: group_start(); send/recv...; group_end(). recv allocates t (shape
     * set by the caller) from the pool; the compute stream waits for it (event). */
    int (*group_start)(void);
    int (*group_end)(RtGpuComm *c, char *err, size_t cap);
    int (*send)(RtGpuComm *c, const DaftTensor *t, int peer, char *err, size_t cap);
    int (*recv)(RtGpuComm *c, DaftTensor *t, int peer, char *err, size_t cap);
    /* Pre-posted receives (rt_xnccl.c): recv in a group of its own, "held": the compute
     * stream's joins with all communication (a host wait, daft_ctx_stream) leave it out, as
     * its sender may not have committed to sending, until release (its control value came;
     * from then on it is an ordinary receive). */
    int (*recv_held)(RtGpuComm *c, DaftTensor *t, int peer, char *err, size_t cap);
    /* The same inside the caller's open group (one with a send to the same peer: both
     * launched by its group_end, one NCCL kernel). */
    int (*recv_held_grouped)(RtGpuComm *c, DaftTensor *t, int peer, char *err, size_t cap);
    bool (*held_groupable)(RtGpuComm *c); /* may c's receives be posted that way? */
    void (*release)(RtGpuComm *c);
    /* Collective (kinds / reductions numbered as daft/plan.h) of member `in`; `out` (zeroed)
     * gets a new device tensor, or is used as it is when out->data is set (allocated by the
     * caller with the result's shape). Shapes follow rt_coll.c's CPU rules. on_compute: the next
     * computation reads `out`, so the collective runs on the compute stream (no waits
     * between streams); otherwise on the communication stream, overlapping compute. */
    int (*collective)(RtGpuComm *c, int kind, int reduce, int root, const DaftTensor *in,
                      DaftTensor *out, bool on_compute, char *err, size_t cap);
    /* ncclCommGetAsyncError + pending CUDA errors: 0 if fine. */
    int (*comm_check)(RtGpuComm *c, char *err, size_t cap);
    void (*comm_abort)(RtGpuComm *c); /* ncclCommAbort: never blocks on peers */
    void (*comm_destroy)(RtGpuComm *c); /* ncclCommDestroy after a successful finish */
    /* Waits (polling, never unbounded) for the work enqueued so far on both streams;
     * calls progress(arg) and alive(arg) every few ms; checks the communicators c[0..n)
     * for async errors. 0, DAFT_EPEER (alive false: comms aborted) or an error. */
    int (*wait)(RtGpuComm *const *c, int n, bool (*alive)(void *), void (*progress)(void *),
                void *arg, char *err, size_t cap);
    /* A copy between the device tensor t and host memory (to_device: host -> t), after the
     * compute stream's work so far, waited for like `wait` on c alone: another
     * communicator's abort does not fail it (an interpreted collective's own small buffers,
     * whose failure on one member would strand the others inside NCCL). */
    int (*comm_copy)(RtGpuComm *c, DaftTensor *t, void *host, bool to_device, bool (*alive)(void *),
                     void (*progress)(void *), void *arg, char *err, size_t cap);
    /* Called every few ms by every polling wait (to_host, sync): the actor's progress
     * (drains control messages, so that a death notice aborts the communicators). */
    void (*set_hook)(void (*fn)(void *), void *arg);
    /* ---- interpreted transfers (rt_gpu_load.c, rt_gpu_xfer_*): a NONBLOCKING
     * communicator that is only started here (it becomes usable once comm_poll says 1),
     * one send or receive per call (xfer: recv allocates t, shape set by the caller), and
     * comm_poll: 1 when the communicator is idle (the last xfer was launched; its data is
     * ordered before later compute-stream work), 0 still in progress, < 0 failed.
     * These communicators are not watched by wait/sync (their own polls report errors). */
    int (*comm_start)(RtGpuComm **out, const uint8_t id[RT_NCCL_ID_BYTES], int n, int rank,
                      char *err, size_t cap);
    int (*comm_poll)(RtGpuComm *c, char *err, size_t cap);
    int (*xfer)(RtGpuComm *c, DaftTensor *t, int peer, bool send, char *err, size_t cap);
    /* Who this process is, for the messages the GPU runtime prints itself ("actor 'a'"). */
    void (*set_name)(const char *who);
    /* DAFT_GPU_GRAPHS=1 (rt_gpu_graph.h): bracket one method call of a compiled plan's call
     * site `key` (args borrowed for the call); graph_end gets the result: 0, or < 0 with err
     * set (a graph could not be launched: the result is then wrong and must not be used). */
    void (*graph_begin)(uint64_t key, const DaftValue *args, int nargs);
    int (*graph_end)(DaftValue *result, char *err, size_t cap);
    void (*graph_forget)(uint32_t plan); /* plan `plan` (the keys' high half) was unloaded */
    /* Whole executions of a compiled plan as one graph (rt_gpu_graph.h's rtgraph_iter_*;
     * iter_begin answers RTGRAPH_NEVER when graphs are off) */
    int (*iter_begin)(uint64_t key, void (*on_diverge)(void *), void *arg);
    void (*iter_input)(const DaftValue *v);
    int (*iter_verdict)(void);
    int (*iter_go)(bool launch, char *err, size_t cap);
    void (*iter_end)(void);
    void (*iter_pause)(bool pause);
} RtGpuOps;

/* Inside libdaftgpu.so, for std_gpu.c (rt_gpu.c): the compute stream as it is (the
 * `stream` op joins all communication first), and the wait to call before compute reads
 * a tensor that NCCL may still be writing (a received or collective result). */
void *rtg_compute_stream(void);
void rtg_use(const DaftTensor *t);
/* DAFT_GPU_GRAPHS=1: the graphs of this process (NULL when off), through which std_gpu.c sends
 * every std operation; rtg_std_call_plain is the operation itself (std_gpu.c). */
struct RtGraphs *rtg_graphs(void);
int rtg_std_call_plain(const char *fn, const DaftValue *args, int nargs, DaftValue *out);
/* DAFT_GPU_PROFILE=1: brackets one std operation on the compute stream (a token, or NULL
 * when not profiling). */
void *rtg_prof_begin(const char *name);
void rtg_prof_end(void *token);
/* DAFT_GPU_PROFILE=host (rt_gpu_hprof.c): host time of a call, summed under `name`.
 * rtg_hprof_begin returns 0 when not profiling; rtg_hprof_end(name, 0) does nothing. */
bool rtg_hprof_on(void);
int64_t rtg_hprof_begin(void);
void rtg_hprof_end(const char *name, int64_t t0);
void rtg_hprof_report(const char *who, int dev);

/* rt_gpu_load.c (always in libdaftrt) ------------------------------------------------ */

/* The GPU table, loading libdaftgpu.so on first use; NULL with the reason in err. */
const RtGpuOps *rt_gpu_ops(char *err, size_t cap);
/* How long a GPU actor waits for the other members of an NCCL communicator (a compiled
 * plan's, or an interpreted transfer's peer) to take part: DAFT_NCCL_INIT_TIMEOUT seconds,
 * default 600 (as torch.distributed's NCCL default). They join when they get there, after
 * whatever they were given before; the wait is reported on stderr after 30 s and every
 * minute, and ends at once when a member dies. */
double rt_nccl_init_timeout(void);
/* The table if this process attached a GPU (a GPU actor), else NULL. Cheap. */
const RtGpuOps *rt_gpu_active(void);
/* True when DAFT_DEVICE=cpu (CPU-only mode, explicit). */
bool rt_gpu_cpu_mode(void);
/* Child side of spawn: attach GPU `gpu` (>= 0) or the next free (DAFT_SPAWN_ANY_GPU);
 * on failure the reason is kept for rt_gpu_start_error (the actor then fails to start). */
void rt_gpu_child_start(int gpu, const char *actor_name);
/* DAFT_GPU_PROFILE=1: this actor's GPU profile on stderr (before it stops). */
void rt_gpu_report(const char *actor_name);
/* The reason a GPU actor could not start, or NULL. */
const char *rt_gpu_start_error(void);
/* Driver side: the GPU an actor spawned with `requested` gets (-1: none), choosing the
 * next free ordinal for DAFT_SPAWN_ANY_GPU (counted from /proc/driver/nvidia/gpus or
 * CUDA_VISIBLE_DEVICES, without touching CUDA). `used` counts actors per ordinal. */
int rt_gpu_place(int requested);
/* The actor's progress hook for polling GPU waits (rt_exec.c sets it). */
void rt_gpu_set_progress(void (*fn)(void *), void *arg);
/* For rt_value.c: GPU tensors of this process. free releases to the pool (once no other
 * value shares the buffer); read copies to host memory (synchronous); dup makes a copy
 * that shares the device buffer (tensor values are never written once made); upload moves
 * a host tensor value that arrived with the "was on GPU" mark onto this process's GPU (if
 * it has one). */
void rt_gpu_tensor_free(DaftTensor *t);
/* Unit tests: this process's GPU is the table o (a fake GPU; NULL: none). */
void rt_gpu_set_active_for_test(const RtGpuOps *o);
int rt_gpu_tensor_read(const DaftTensor *t, void *dst);
int rt_gpu_tensor_dup(DaftTensor *dst, const DaftTensor *src);
void rt_gpu_tensor_upload(DaftValue *v);
/* For rt_value.c: in a GPU actor, a new tensor on its GPU holding the nb bytes at host
 * (a received message, still in the channel): true and *out set (a value, or an error
 * value if the GPU refused); false in other processes, which keep host tensors. */
bool rt_gpu_tensor_from_host(DaftRtDtype dt, int rank, const int64_t *dims, const void *host,
                             DaftValue *out);


/* Interpreted GPU transfers over NCCL (rt_gpu_load.c). The driver flags a PUSH "over
 * NCCL" when both ends are GPU actors on different GPUs of one node (shared-memory mode).
 * The owner then sends RT_M_XFER_NCCL on the actor-to-actor channel instead of the value:
 * u64 xfer, u8 has_id [128-byte NCCL unique id], u8 dtype, u32 rank, i64 dims[rank]; the
 * first one to a peer carries the unique id of a 2-rank communicator for that direction
 * (owner rank 0), which both ends create lazily; then ncclSend of the data. The receiver
 * queues the header (in order, per owner) and, when a task takes the transfer, posts
 * the receives up to it, in order. Waits poll, call peer_alive(arg, peer) (which drains
 * and says whether the peer lives) and give up after a deadline. */
struct RtBuf;
struct RtRd;
struct RtObjTab;
typedef bool (*RtGpuPeerAlive)(void *arg, DaftActor peer);
/* Owner side: true if v goes over NCCL to dest (the header is built into m, which the
 * caller sends on the channel before calling rt_gpu_xfer_send). */
bool rt_gpu_xfer_header(DaftActor dest, uint64_t xfer, const DaftValue *v, struct RtBuf *m);
/* Owner side, after the header was sent: the ncclSend (0, or < 0 and a message). */
int rt_gpu_xfer_send(DaftActor dest, const DaftValue *v, RtGpuPeerAlive alive, void *arg,
                     char *err, size_t cap);
/* Receiver side: queues a header read from r (after the message type); < 0 if malformed. */
int rt_gpu_xfer_file(DaftActor owner, struct RtRd *r);
/* Receiver side: true if transfer `xfer` from owner is queued; then receives every queued
 * transfer from owner up to it, in order, into xfers (error values on failure). */
bool rt_gpu_xfer_take(DaftActor owner, uint64_t xfer, struct RtObjTab *xfers, RtGpuPeerAlive alive,
                      void *arg);

#endif
