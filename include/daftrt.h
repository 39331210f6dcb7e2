/* daftrt.h — the daft runtime (libdaftrt): values, actors, Refs, the driver API.
 *
 * This is the ONLY public header of libdaftrt. Generated code, the REPL and the tests call
 * what is declared here and nothing else; every other symbol of the library is internal
 * (prefix rt_) and may change without notice.
 *
 * ---------------------------------------------------------------- runtime model (CPU)
 *
 * One process per actor; the driver is one more process.
 *  - Local mode (the default): daft_rt_spawn() forks one process per actor. The child
 *    inherits the class table registered so far, gets PR_SET_PDEATHSIG(SIGKILL) so it
 *    never outlives the driver, and the driver watches it through a pidfd so a death is
 *    noticed within ~20 ms and reported with its cause (signal or exit code).
 *  - MPI mode: started under mpirun/srun, rank 0 is the driver and each other rank hosts
 *    one actor. MPI is used only to exchange TCP addresses at start-up; no data goes
 *    through MPI. Worker ranks must call daft_rt_start() after registering classes.
 *  - Transport: same host → shared-memory rings (memfd, so nothing ever appears in
 *    /dev/shm; a writer spins briefly and then sleeps on a futex). DAFT_TRANSPORT=tcp (or
 *    MPI mode) → TCP sockets with the same message framing.
 *
 * Interpreted execution: daft_rt_call() appends a task message to the actor's control
 * queue and returns a DaftRef at once. Each actor runs its tasks one at a time in
 * submission order. A task's result stays in the producing actor's object table until it
 * is fetched (daft_rt_get) or released; results whose encoding is small (≤ 1 KiB) are sent
 * back with the completion notice, so a get of a small value costs no extra round trip.
 *
 * Ref passing (data moves actor to actor, never through the driver): when a task for
 * actor B takes a Ref produced by actor A (A ≠ B), the driver (1) makes sure a one-way
 * channel A→B exists (created on first use, shared memory or TCP), (2) appends a PUSH
 * order to A's control queue — after the task that produces the Ref, so A pushes the value
 * as soon as it exists — and (3) sends B the task, whose argument names the transfer. B
 * takes the value from the A→B channel when the task runs. A Ref produced by B itself is
 * passed without a copy. Channels are drained by the receiving actor whenever it waits,
 * so two actors pushing to each other cannot deadlock on full channels.
 *
 * Failures: an error raised by a method (daft_raise) becomes the value of its Ref; a task
 * that receives an error value as an argument does not run and produces that same error,
 * so errors flow along the dataflow graph and the graph stays usable. When an actor
 * process dies, every pending and later get that depends on it returns, within 1 s, an
 * error such as "actor 'w1' (Worker) died while running 'step': killed by signal 9".
 * No wait in the runtime is unbounded: every blocking wait wakes at least every 50 ms to
 * check that its peers are alive.
 *
 * Thread safety: a DaftRt is used by one driver thread at a time.
 *
 * Environment: DAFT_TRANSPORT=shm|tcp, DAFT_TRACE=path.json (Chrome trace with one track
 * per actor and the driver's calls).
 */
#ifndef DAFTRT_H
#define DAFTRT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define DAFT_API __attribute__((visibility("default")))

/* ================================================================ status codes */

/* Functions that can fail return 0 on success or one of these (negative). */
enum {
    DAFT_OK = 0,
    DAFT_EINVAL = -1,    /* bad argument (unknown actor, method index out of range, ...) */
    DAFT_ETIMEDOUT = -2, /* a timeout expired; nothing was consumed */
    DAFT_EPEER = -3,     /* the peer process died or the channel broke */
    DAFT_ENOMEM = -4,
    DAFT_ETOOBIG = -5,   /* message larger than a channel can carry */
    DAFT_ESYS = -6,      /* a system call failed (errno describes it) */
    DAFT_EPROTO = -7,    /* malformed message */
    DAFT_EINTR = -8,     /* the driver was interrupted (daft_rt_interrupt); nothing was consumed */
};

/* ================================================================ values */

/* Tensor element types. Same order and names as the front end's DaftDType
 * (f32, bf16, f16, i32, i64), so a cast between the two enums is valid. */
typedef enum DaftRtDtype {
    DAFT_RT_F32 = 0,
    DAFT_RT_BF16,
    DAFT_RT_F16,
    DAFT_RT_I32,
    DAFT_RT_I64,
    DAFT_RT_DTYPE_COUNT
} DaftRtDtype;

#define DAFT_MAX_RANK 8

/* A dense, contiguous, row-major tensor. `data` holds numel × dtype-size bytes and is
 * owned by the value that contains the tensor (a GPU tensor's memory may be shared by the
 * copies of that value: see below).
 *
 * `device` says where `data` lives: DAFT_DEVICE_HOST (0, so that a zero-initialised
 * tensor is a host tensor) or DAFT_DEVICE_GPU(ordinal) = ordinal + 1 for memory of that
 * CUDA device, allocated by the GPU runtime of the actor process that owns the value
 * (from its stream-ordered pool; only GPU builds make such tensors, and only in actor
 * processes — the driver never touches CUDA). For GPU tensors: daft_value_free returns the
 * memory to the pool (stream-ordered, no host sync) once no other value shares it;
 * daft_value_copy shares the device memory (a tensor's memory is read-only once it is a
 * value: to write, make a new tensor with daft_value_gpu_tensor and fill that);
 * daft_value_equal and daft_value_format work (equal copies both to the host);
 * daft_value_encode copies the data to the host and marks the encoding "was on GPU"
 * (bit 0x80 of the dtype byte), and decoding such an encoding in a process whose actor
 * has a GPU puts it back on that GPU (elsewhere — the driver, CPU actors — it becomes a
 * host tensor). */
#define DAFT_DEVICE_HOST 0
#define DAFT_DEVICE_GPU(ordinal) ((ordinal) + 1)
typedef struct DaftTensor {
    DaftRtDtype dtype;
    int rank;
    int64_t dims[DAFT_MAX_RANK];
    void *data;
    int device; /* DAFT_DEVICE_HOST or DAFT_DEVICE_GPU(cuda ordinal) */
} DaftTensor;
/* The CUDA ordinal of a GPU tensor, -1 for a host tensor. */
static inline int daft_tensor_gpu(const DaftTensor *t) { return t->device > 0 ? t->device - 1 : -1; }

/* An actor handle: 1, 2, ... in spawn order (0 is never a valid actor). */
typedef uint32_t DaftActor;

/* A distributed future: the result of one task. `id` is unique in the program run,
 * `owner` is the actor whose object table holds the value. */
typedef struct DaftRef {
    uint64_t id;
    DaftActor owner;
} DaftRef;

typedef enum DaftKind {
    DAFT_V_NONE = 0, /* no value (a method that returns nothing) */
    DAFT_V_I64,
    DAFT_V_F64,
    DAFT_V_BOOL,
    DAFT_V_STR,
    DAFT_V_TENSOR,
    DAFT_V_LIST,
    DAFT_V_ACTOR,
    DAFT_V_REF,
    DAFT_V_ERROR, /* a run-time error; the message names the actor, method and cause */
    DAFT_V_KIND_COUNT
} DaftKind;

/* A tagged value. A DaftValue owns whatever it points to (string bytes, tensor data, list
 * items, error message); release it with daft_value_free(). Copy with daft_value_copy(). */
typedef struct DaftValue {
    DaftKind kind;
    union {
        int64_t i64;
        double f64;
        bool b;
        struct { char *ptr; size_t len; } str;   /* NUL-terminated as well */
        DaftTensor tensor;
        struct { struct DaftValue *items; size_t len; } list;
        DaftActor actor;
        DaftRef ref;
        struct { char *msg; } error;
    } as;
} DaftValue;

/* Constructors. All copy their inputs; the results must be freed with daft_value_free. */
DAFT_API DaftValue daft_value_none(void);
DAFT_API DaftValue daft_value_i64(int64_t v);
DAFT_API DaftValue daft_value_f64(double v);
DAFT_API DaftValue daft_value_bool(bool v);
DAFT_API DaftValue daft_value_str(const char *s);
DAFT_API DaftValue daft_value_strn(const char *s, size_t len);
/* A tensor of the given shape; `data` (numel × element size bytes) is copied, or the
 * tensor is zero-filled when data is NULL. Returns an error value for a bad shape. */
DAFT_API DaftValue daft_value_tensor(DaftRtDtype dt, int rank, const int64_t *dims,
                                     const void *data);
/* A list of `len` items, all DAFT_V_NONE; fill v.as.list.items[i] (ownership moves in). */
DAFT_API DaftValue daft_value_list(size_t len);
DAFT_API DaftValue daft_value_actor(DaftActor a);
DAFT_API DaftValue daft_value_ref(DaftRef r);
/* An error value with a printf-formatted message. */
DAFT_API DaftValue daft_value_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Frees what v owns and sets it to DAFT_V_NONE. Safe on DAFT_V_NONE. */
DAFT_API void daft_value_free(DaftValue *v);
/* Deep copy: *dst receives a new value equal to *src (a GPU tensor shares the device memory
 * of src's, see DaftTensor). Returns DAFT_ENOMEM on failure. */
DAFT_API int daft_value_copy(DaftValue *dst, const DaftValue *src);
/* Structural equality (tensors compare dtype, shape and bytes; f64 compares bits). */
DAFT_API bool daft_value_equal(const DaftValue *a, const DaftValue *b);
/* Writes a short human-readable rendering (at most cap bytes incl. NUL); returns the
 * length it would have had, like snprintf. Tensors print dtype and shape only. */
DAFT_API int daft_value_format(const DaftValue *v, char *buf, size_t cap);

/* Element size in bytes, name ("f32", ...), or 0 / NULL for an invalid dtype. */
DAFT_API size_t daft_rt_dtype_size(DaftRtDtype dt);
DAFT_API const char *daft_rt_dtype_name(DaftRtDtype dt);
/* A tensor's type as daft writes it, "tensor<f32, [4, 8]>", like snprintf (SPEC 5.5's
 * messages). */
DAFT_API int daft_tensor_type_format(const DaftTensor *t, char *buf, size_t cap);
/* Its shape alone, "[4, 8]", like snprintf (collectives' messages). */
DAFT_API int daft_tensor_shape_format(const DaftTensor *t, char *buf, size_t cap);
/* The checks of a collective's inputs, one per member in rank order, that interpreted and
 * compiled collectives share with their texts (SPEC 12, 14.1): every input a tensor, of one
 * dtype and one shape (allgather: but for dimension 0, and at least one dimension;
 * reducescatter: dimension 0 divisible by n). kind is DaftCollKind's (daft/plan.h) allreduce,
 * allgather or reducescatter; fn its name. 0 when they fit, else -1 and "<fn>: <cause>" in
 * err. */
DAFT_API int daft_coll_check_inputs(int kind, const char *fn, const DaftValue *v, int n, char *err,
                                    size_t cap);
DAFT_API int64_t daft_tensor_numel(const DaftTensor *t);
DAFT_API size_t daft_tensor_nbytes(const DaftTensor *t);

/* Serialization (the channel wire format; little-endian, self-delimiting).
 * daft_value_encode: returns the encoded size; writes it to buf if it fits in cap (call
 * with cap = 0 to size the buffer). daft_value_decode: decodes one value from len bytes
 * into *out, stores the bytes consumed in *used (may be NULL); returns 0 or DAFT_EPROTO
 * for malformed or truncated input (never reads past len). */
DAFT_API size_t daft_value_encode(const DaftValue *v, void *buf, size_t cap);
DAFT_API int daft_value_decode(const void *buf, size_t len, DaftValue *out, size_t *used);

/* ================================================================ actor classes */

typedef struct DaftActorCtx DaftActorCtx;

/* A method: reads args[0..nargs), may update *state, writes its result to *out (left
 * DAFT_V_NONE for no result). Returns 0, or the value of daft_raise() to fail. Ref
 * arguments have already been resolved to values when a method runs. */
typedef int (*DaftMethodFn)(DaftActorCtx *ctx, void *state, const DaftValue *args,
                            int nargs, DaftValue *out);
/* Constructor: runs once in the actor process with the spawn arguments; state is
 * zero-filled, state_size bytes. Returns 0 or the value of daft_raise(). May be NULL. */
typedef int (*DaftInitFn)(DaftActorCtx *ctx, void *state, const DaftValue *args,
                          int nargs);
/* Destructor: runs when the actor stops normally. May be NULL. */
typedef void (*DaftFiniFn)(DaftActorCtx *ctx, void *state);

typedef struct DaftMethodDesc {
    const char *name;
    DaftMethodFn fn;
} DaftMethodDesc;

typedef struct DaftClassDesc {
    const char *name;
    size_t state_size;
    DaftInitFn init;
    DaftFiniFn fini;
    const DaftMethodDesc *methods; /* copied at registration */
    int nmethods;
} DaftClassDesc;

/* Raises an error from a method or init: the message becomes
 * "actor '<name>' (<Class>) method '<method>': <formatted cause>". Returns a non-zero code
 * for `return daft_raise(ctx, ...)`. */
DAFT_API int daft_raise(DaftActorCtx *ctx, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* The running actor's handle, its name, and the running method's name ("init" in init). */
DAFT_API DaftActor daft_ctx_actor(const DaftActorCtx *ctx);
DAFT_API const char *daft_ctx_actor_name(const DaftActorCtx *ctx);
DAFT_API const char *daft_ctx_method_name(const DaftActorCtx *ctx);

/* ---------------------------------------------------------------- GPU (actor side)
 *
 * Each GPU actor process has one GPU (cudaSetDevice at start), a compute stream on which
 * methods and the stdlib enqueue their work, and a communication stream for NCCL. CUDA
 * events order the two; nothing waits on the host except where a value goes to the CPU
 * (encoding, to_cpu, daft_ctx_gpu_sync). These work with ctx NULL too (driver code gets
 * -1 / NULL: the driver has no GPU). */

/* The CUDA ordinal of the actor's GPU, or -1 (CPU actor, driver, DAFT_DEVICE=cpu, or a
 * build without CUDA). */
DAFT_API int daft_ctx_gpu(const DaftActorCtx *ctx);
/* The actor's compute stream (a cudaStream_t), NULL without a GPU. User CUDA code of a
 * method enqueues its kernels here so that they are ordered with the stdlib and NCCL. */
DAFT_API void *daft_ctx_stream(const DaftActorCtx *ctx);
/* Blocks until all GPU work of this actor (compute and communication streams) is done;
 * 0, or DAFT_EPEER with the message in *err (may be NULL) on a CUDA or NCCL error. */
DAFT_API int daft_ctx_gpu_sync(const DaftActorCtx *ctx, DaftValue *err);
/* How many interpreted GPU transfers this actor process has sent (received = 0) or
 * received (received = 1) over NCCL so far: a GPU Ref passed to a task of a GPU actor on
 * another GPU of the node moves GPU to GPU over a lazily created 2-rank communicator,
 * without a host copy (DAFT_GPU_XFER=host in the driver's environment turns it off). 0
 * in CPU builds and CPU actors. */
DAFT_API int64_t daft_ctx_gpu_nccl_transfers(const DaftActorCtx *ctx, int received);
/* A tensor on the actor's GPU: `host` (numel × element size bytes, may be NULL) is copied
 * in; with host NULL the contents are UNINITIALISED (pool memory, no fill: for buffers
 * about to be overwritten, before the value is copied or handed to daft). An error value
 * without a GPU. */
DAFT_API DaftValue daft_value_gpu_tensor(const DaftActorCtx *ctx, DaftRtDtype dt, int rank,
                                         const int64_t *dims, const void *host);
/* Moves a GPU tensor (also inside lists) to the host in place (synchronous); a no-op for
 * other values. Returns 0 or DAFT_EPEER (v becomes an error value). */
DAFT_API int daft_value_to_host(DaftValue *v);
/* The GPU versions of the std.tensor functions (libdaftstd calls this when a tensor
 * argument is on the GPU, or for a creation function in a GPU actor): `fn` is the daft
 * name ("matmul", ...), the ABI that of daft/std.h. Returns DAFT_EINVAL with an error
 * value naming fn and the cause ("built without CUDA", ...) when it cannot serve it. */
DAFT_API int daft_rt_gpu_std(const char *fn, DaftActorCtx *ctx, const DaftValue *args,
                             int nargs, DaftValue *out);

/* Interpreted collectives over NCCL (SPEC.md §12), for libdaftgen's hidden collective task.
 * Every member of a communicator calls daft_ctx_nccl_collective for every operation on it,
 * in the same order. The member of rank 0 makes the communicator's NCCL unique id with
 * daft_ctx_nccl_id before its first operation; the driver hands it to the others, who
 * pass it with that first operation (`id`; NULL afterwards). An operation first exchanges
 * every member's dtype and shape (or its input's error), so that every member takes the
 * same decision: all run the NCCL operation, or all return the same error (mismatched
 * inputs never reach NCCL). It returns once the operation has finished on this GPU: a
 * member's death while others wait aborts the communicator, and they return an error
 * naming that actor. Results are tensors on the actor's GPU; an allgather whose inputs
 * differ in dimension 0 returns the list of the members' tensors (to be concatenated).
 * Return 0 and *out, or a negative code with *out an error value (without the actor's
 * name: the caller raises it). A failed input (an error value, from any member) is not an
 * error of the operation: 0 and *out that error, unchanged, on every member. */
#define DAFT_NCCL_ID_BYTES 128
typedef struct DaftNcclColl {
    uint64_t comm;            /* the driver's number of the communicator */
    const DaftActor *members; /* in rank order, the same list on every member */
    int n, rank;
    const uint8_t *id;        /* first operation only: rank 0's unique id */
    int kind, reduce, root;   /* numbered as daft/plan.h's DaftCollKind, DaftReduceOp */
} DaftNcclColl;
DAFT_API int daft_ctx_nccl_id(DaftActorCtx *ctx, uint8_t id[DAFT_NCCL_ID_BYTES], DaftValue *err);
DAFT_API int daft_ctx_nccl_collective(DaftActorCtx *ctx, const DaftNcclColl *op,
                                      const DaftValue *in, DaftValue *out);
/* collective.destroy on this member: its communicator `comm` goes (a no-op if absent). */
DAFT_API void daft_ctx_nccl_destroy(DaftActorCtx *ctx, uint64_t comm);

/* ================================================================ driver API */

typedef struct DaftRt DaftRt;

/* Where and how to spawn. A NULL DaftSpawnOpts means defaults. */
#define DAFT_SPAWN_ANY_GPU (-2)
typedef struct DaftSpawnOpts {
    const char *name; /* actor name used in messages; default "<Class>#<handle>" */
    int node;         /* MPI mode: rank to host the actor, -1 = next free */
    int gpu;          /* GPU: -1 = none (a CPU actor), DAFT_SPAWN_ANY_GPU = the next free
                       * GPU of the node, i >= 0 = CUDA ordinal i (`on gpu(i)`). A GPU
                       * actor's process selects its GPU (cudaSetDevice after the fork: the
                       * driver never touches CUDA) and creates its streams. Without
                       * DAFT_DEVICE=cpu an actor that cannot have its GPU fails to start
                       * ("could not start: no GPU available ...; set DAFT_DEVICE=cpu to run
                       * on the CPU"); with DAFT_DEVICE=cpu (and in MPI mode, for now) the
                       * field has no effect. */
} DaftSpawnOpts;

/* Creates the runtime (the one context object of a program). Under mpirun/srun it
 * initialises MPI for bootstrap only. argc/argv may be NULL. Returns NULL (after printing
 * the cause to stderr) on failure. */
DAFT_API DaftRt *daft_rt_init(int *argc, char ***argv);
/* Waits for the tasks submitted (up to 5 s, SPEC 15.7), then stops every actor (running
 * their fini) and waits for their processes (SIGKILL after 2 s; 20 s with a GPU actor),
 * writes the trace if DAFT_TRACE is set and frees everything: no processes, shared-memory
 * segments or sockets remain. Safe on NULL. */
DAFT_API void daft_rt_shutdown(DaftRt *rt);

/* Registers an actor class; returns its class id (0, 1, ...) or DAFT_EINVAL. Every process
 * of a program must register the same classes in the same order (generated code does
 * this before daft_rt_start); local actors inherit the table at spawn. */
DAFT_API int daft_rt_register_class(DaftRt *rt, const DaftClassDesc *desc);
/* Class id by name, method index by name; DAFT_EINVAL if unknown. */
DAFT_API int daft_rt_class_id(const DaftRt *rt, const char *name);
DAFT_API int daft_rt_method_index(const DaftRt *rt, int class_id, const char *method);
/* Before daft_rt_start, in every process that registers classes: the method runs even when
 * an argument is an error value, and receives it, instead of taking that error as its
 * result without running; and even when the actor's constructor failed (its state is then
 * as the constructor left it). For methods that must take part whatever their inputs (a
 * collective's member tells the others that its input failed). 0 or DAFT_EINVAL. */
DAFT_API int daft_rt_method_takes_errors(DaftRt *rt, int class_id, int method);

/* Call once all classes are registered. On the driver it returns 0 at once; on an MPI
 * worker rank it serves actors until the driver shuts down and then exits the process
 * (it does not return). Optional in local mode. */
DAFT_API int daft_rt_start(DaftRt *rt);
/* True on the driver (always true in local mode). */
DAFT_API bool daft_rt_is_driver(const DaftRt *rt);

/* Spawns an actor of class_id with constructor args (values; Refs are not allowed here).
 * Returns 0 and the handle in *out. The constructor runs asynchronously in the actor;
 * if it fails, every call on the actor returns its error. */
DAFT_API int daft_rt_spawn(DaftRt *rt, int class_id, const DaftValue *args, int nargs,
                           const DaftSpawnOpts *opts, DaftActor *out);
/* Submits method `method` of `actor` with args (plain values, or DAFT_V_REF values for
 * dataflow: a Ref argument is replaced by the value it resolves to before the method
 * runs; only top-level arguments are resolved). Returns at once with the result Ref in
 * *out. Calling a dead actor still returns a Ref, whose value is the death error. */
DAFT_API int daft_rt_call(DaftRt *rt, DaftActor actor, int method, const DaftValue *args,
                          int nargs, DaftRef *out);
/* Waits for ref and stores a copy of its value in *out: either the result or a
 * DAFT_V_ERROR value (application error, or death of an actor it depends on). A Ref may
 * be got any number of times until released. timeout_s < 0 waits without a time limit
 * (still waking on peer death). Returns 0, DAFT_ETIMEDOUT, DAFT_EINTR (daft_rt_interrupt), or
 * DAFT_EINVAL (unknown or released Ref). */
DAFT_API int daft_rt_get(DaftRt *rt, DaftRef ref, double timeout_s, DaftValue *out);
/* daft_rt_get for the driver operation `op` ("is_error", "error_text", ...), which the
 * report of a wait that lasts (DAFT_WAIT_REPORT, SPEC 14.3) and the errors name. */
DAFT_API int daft_rt_get_for(DaftRt *rt, DaftRef ref, double timeout_s, const char *op,
                             DaftValue *out);
/* Waits until at least num_returns of refs[0..n) are ready (value or error) or the timeout
 * expires; ready[i] (may be NULL) is set to 1 for each ready Ref, 0 otherwise. Returns the
 * number of ready Refs (possibly < num_returns after a timeout) or a negative code
 * (DAFT_EINTR: interrupted before num_returns were ready). */
DAFT_API int daft_rt_wait(DaftRt *rt, const DaftRef *refs, int n, int num_returns,
                          double timeout_s, uint8_t *ready);
/* The wait of get over a list (SPEC 10.3): until every one of refs[0..n) is ready, or one
 * of those ready holds an error, or the timeout expires. Returns 0 with *index = -1 when all
 * are ready (daft_rt_get then takes each at once), 0 with *index = the first in list order
 * of those holding an error at that moment (the one get raises), DAFT_ETIMEDOUT or
 * DAFT_EINTR with *index = the first not ready, or DAFT_EINVAL with *index = an unknown or
 * released Ref. Observes nothing (SPEC 14.2); a wait that lasts reports as op's (14.3). */
DAFT_API int daft_rt_wait_list(DaftRt *rt, const DaftRef *refs, int n, double timeout_s, const char *op,
                               int *index);
/* Takes the results and notices that have arrived, without waiting (a wait with timeout 0
 * looks only at what was taken before). Returns how many messages it took, or < 0. */
DAFT_API int daft_rt_poll(DaftRt *rt);
/* Drops the driver's hold on ref: the owner frees the value once every already submitted
 * task that uses it has taken it. Getting it afterwards returns DAFT_EINVAL. */
DAFT_API void daft_rt_release(DaftRt *rt, DaftRef ref);
/* SPEC 14.2's unobserved errors, each said at most once: daft_rt_error_observed notes that the
 * program looked at v (an error: get, is_error, error_text); daft_rt_warn_unobserved says
 * `daft: warning: unobserved error: MSG` unless an error of the same root cause was observed
 * or said before (the same death or failure stops every task and execution after it, each
 * with the note "(cannot run 'M')" or "(plan 'P' cannot run)"). For daft-gen's and daft-repl's
 * compiled-schedule results; task Refs do this in the runtime. rt may be NULL (just says it). */
DAFT_API void daft_rt_error_observed(DaftRt *rt, const DaftValue *v);
DAFT_API void daft_rt_warn_unobserved(DaftRt *rt, const char *msg);
/* Sends SIGKILL to an actor process (REPL "kill", tests). Its death is then handled like
 * any other. Returns 0, or DAFT_EINVAL for an unknown actor or in MPI mode (the driver
 * does not own remote processes). */
DAFT_API int daft_rt_kill(DaftRt *rt, DaftActor actor);
/* True while the actor's process is alive and its constructor has not failed. */
DAFT_API bool daft_rt_actor_alive(DaftRt *rt, DaftActor actor);
/* Why an actor is not alive: its death text or its init's error (SPEC 14.1), valid until
 * the runtime is freed; NULL while it is alive (driver only). */
DAFT_API const char *daft_rt_actor_failure(DaftRt *rt, DaftActor actor);
/* SPEC 14.3's report of a driver wait that lasts, for callers that wait in steps of their
 * own (daft-gen's wait over compiled-schedule results and Refs; daft-repl's waits, which
 * wake for Ctrl-C): names ref's method and actor as get's report does; `also` follows the
 * method's name ("" or a note). */
DAFT_API void daft_rt_report_wait(DaftRt *rt, const char *op, DaftRef ref, double waited_s, const char *also);
/* For wait's report: the first of n items not ready (ready[i] == 0), or n when every one is;
 * `also` gets the note on the others not ready (" (and 2 other Refs not ready)", or ""),
 * unless it is NULL with cap 0 (only the first is wanted). */
DAFT_API size_t daft_rt_wait_pending(const uint8_t *ready, size_t n, char *also, size_t cap);
/* The same for a result of compiled schedule `schedule` that a wait over several Refs waits
 * for: "wait has waited 60 s for a result of compiled schedule 'NAME'...". */
DAFT_API void daft_rt_report_wait_schedule(DaftRt *rt, const char *op, const char *schedule, double waited_s,
                                           const char *also);
/* The seconds after which a driver wait first reports (DAFT_WAIT_REPORT), then every twice
 * that; 0: never. */
DAFT_API double daft_rt_wait_report_s(const DaftRt *rt);
/* The CUDA ordinal of the actor's GPU, -1 (a CPU actor, DAFT_DEVICE=cpu), or -2 where the
 * driver does not know it (MPI mode: the actor's rank places it). */
DAFT_API int daft_rt_actor_gpu(DaftRt *rt, DaftActor actor);
/* The last API-misuse or system error message of this context ("" if none). */
DAFT_API const char *daft_rt_last_error(const DaftRt *rt);

/* Interrupts of the driver (SPEC 15.7; a compiled program's driver calls these from its
 * SIGINT and SIGTERM handlers). daft_rt_interrupt (async-signal-safe) sets the process's
 * interrupt flag: from then on every blocking wait of the driver — daft_rt_get and
 * daft_rt_wait, daft_rt_plan_result, daft_rt_plan_submit waiting for a free execution
 * slot — ends within a slice and returns DAFT_EINTR (nothing consumed), and
 * daft_rt_shutdown stops the actors at once: it does not wait for the tasks and compiled
 * executions in flight, and kills the actors still running one instead of asking them to
 * stop. The flag stays set until daft_rt_interrupt_clear. */
DAFT_API void daft_rt_interrupt(void);
DAFT_API bool daft_rt_interrupted(void);
DAFT_API void daft_rt_interrupt_clear(void);
/* Ends the process at once (async-signal-safe; for a second Ctrl-C or SIGTERM): kills the
 * actor processes this process forked (SIGKILL) and reaps them, removes the DAFT_TRACE
 * part files they may have written, then dies of signal sig (its default action). Never
 * returns. Under MPI the worker ranks are the launcher's to end. */
DAFT_API void daft_rt_abort(int sig) __attribute__((noreturn));

/* ================================================================ compiled execution
 *
 * A DaftPlan (daft/plan.h, built by daftc ahead of time or by daft_plan_build at run time)
 * is loaded onto live actors once; then each execution costs the driver one write per
 * input channel and one read per output channel — no task messages, no per-execution
 * allocation in the runtime. Each actor runs its op program once per execution,
 * executions in order. Channels are shared-memory rings sized for plan->inflight
 * executions (DAFT_TRANSPORT=tcp or MPI mode: one TCP connection per channel reader);
 * the driver writes inputs and reads outputs directly on them. COLLECTIVE ops run on the
 * CPU: each group gets a mesh of member-to-member channels, every member sends its value
 * to the others and reduces locally (allreduce sum/max/min/avg; allgather concatenates
 * tensors along dimension 0; reducescatter keeps the member's part of dimension 0;
 * broadcast takes the root's value; bf16/f16 reduce in f32).
 *
 * Several plans may be loaded on one actor at once, alongside interpreted calls: an
 * actor's plan never blocks it on a READ (a plan is resumable at any op), so the actor
 * runs whichever plan or task can make progress.
 *
 * Errors: an error value (raised by a method) flows through the channels like any value
 * and becomes the value of every output that depends on it; the plan stays usable. If a
 * member actor dies, the execution(s) in flight and all later ones return error values
 * naming the actor, the method it was running (when known) and the cause, within 1 s;
 * unload the plan, spawn replacements and load a new plan.
 *
 * GPU (builds with CUDA and NCCL; runtime/rt_gpu.h, rt_xnccl.c): a channel of transport
 * NCCL whose writer and readers are all GPU actors moves GPU tensors with ncclSend /
 * ncclRecv on the actors' communication streams (ordered with compute by CUDA events; no
 * host wait), on one communicator per plan created at the first execution (the unique id
 * made by its rank 0 travels on a shared-memory bootstrap channel, never through the
 * driver or MPI); receive buffers come from the stream-ordered pool. Per transfer the
 * writer also puts a 1-byte control value on the channel's ring — or the shape first
 * (`shape = auto`), or the value itself when it is not a GPU tensor of the planned shape
 * (e.g. an error), in which case neither side calls NCCL — so errors flow and no peer
 * waits in NCCL. A collective group of transport NCCL whose members are GPU actors gets
 * its own communicator (ncclAllReduce / AllGather / ReduceScatter / Broadcast). A dead
 * member aborts every communicator of the plan (ncclCommAbort). Otherwise (CPU actors,
 * DAFT_DEVICE=cpu, builds without CUDA) NCCL channels and groups use the CPU transports;
 * a GPU tensor written to a CPU channel is copied to the host first.
 *
 * Limits: at most 32 readers per channel; every host value is copied through the
 * channel (no zero-copy yet); NCCL only between local actors (not TCP / MPI mode). */

struct DaftPlan;
typedef struct DaftRtPlan DaftRtPlan;

/* on: every plan loaded from now on takes turns on its actors as plans with NCCL
 * communicators always do (SPEC.md §11.5): on each actor, executions of all such plans run
 * one at a time, whole, in the order the driver submitted them. Programs compiled by daftc
 * turn it on (daft_gen_main), and so does daft-repl; off by default for other drivers.
 * DAFT_PLAN_SEQUENCE in the environment overrides it: 0 off, any other value on. */
DAFT_API void daft_rt_sequence_plans(DaftRt *rt, bool on);

/* Loads `plan` with actors[i] playing plan->actors[i] (its class must be the one named by
 * plan->actors[i].cls and have every method the plan calls). The plan must stay alive
 * (not freed) until daft_rt_plan_unload. Returns 0 and *out, or DAFT_EINVAL with the
 * reason in daft_rt_last_error. */
DAFT_API int daft_rt_plan_load(DaftRt *rt, const struct DaftPlan *plan, const DaftActor *actors,
                               int nactors, DaftRtPlan **out);
/* Starts one execution with inputs[0..plan->ninputs) (in plan->inputs order). When
 * plan->inflight executions are already running, first waits for the oldest to finish
 * (its outputs are kept for daft_rt_plan_result), so the driver blocks rather than
 * fails. An input may be a Ref of this runtime (DAFT_V_REF from daft_rt_call): the
 * execution starts now and that input is written once the Ref's value is here (an error
 * value as it is), without waiting here; inputs are only read (copied where written
 * later). Returns 0, DAFT_ETIMEDOUT, DAFT_EINTR (interrupted while waiting for a free slot:
 * nothing submitted), or DAFT_EINVAL (wrong inputs, an unknown Ref). */
DAFT_API int daft_rt_plan_submit(DaftRt *rt, DaftRtPlan *p, const DaftValue *inputs, int ninputs,
                                 double timeout_s);
/* Waits for the oldest execution not yet returned and moves its outputs into
 * outputs[0..plan->noutputs) (plan->outputs order; caller frees them). Outputs may be
 * DAFT_V_ERROR values. Returns 0, DAFT_ETIMEDOUT or DAFT_EINTR (nothing consumed), or
 * DAFT_EINVAL (no execution submitted). */
DAFT_API int daft_rt_plan_result(DaftRt *rt, DaftRtPlan *p, double timeout_s, DaftValue *outputs,
                                 int noutputs);
/* SPEC 14.3's report of a wait for p's next result that lasts, for callers that wait in
 * steps of their own (daft-repl): "compiled schedule 'NAME' has waited 60 s for the results of
 * its execution 5; its actors (A#1, B#2) are alive". */
DAFT_API void daft_rt_plan_report_wait(DaftRtPlan *p, double waited_s);
/* A Ref (of the driver's own) that stands for output `out` of execution `exec` (0-based,
 * submitted and not yet returned) and gets a copy of it once the execution is received, so
 * that it can be another plan's input without waiting (daft_rt_plan_submit). Released with
 * daft_rt_release; an unload before that execution is received makes it an error. */
DAFT_API int daft_rt_plan_output_ref(DaftRt *rt, DaftRtPlan *p, uint64_t exec, int out, DaftRef *ref);
/* Executions submitted and not yet returned by daft_rt_plan_result. */
DAFT_API int daft_rt_plan_pending(const DaftRtPlan *p);
/* True once an execution failed in a way that breaks the plan itself (an actor died, one
 * could not load it, or an NCCL operation failed on one: SPEC §14.2): that execution and
 * all later ones give errors. Its actors that live can run a fresh load of the plan. */
DAFT_API bool daft_rt_plan_broken(const DaftRtPlan *p);
/* Stops the plan on every live member and frees it (pending results are dropped). Safe on
 * NULL. daft_rt_shutdown unloads every plan still loaded. */
DAFT_API void daft_rt_plan_unload(DaftRt *rt, DaftRtPlan *p);
/* The same at the end of a program, once every output was received: each live member first
 * finishes the executions submitted so far (its calls whose results feed no output, which
 * may still be queued, run too), then stops the plan. A broken plan is unloaded at once. */
DAFT_API void daft_rt_plan_finish(DaftRt *rt, DaftRtPlan *p);
/* DAFT_LOADED_PLANS (SPEC 11.2, 17): how many compiled plans a driver keeps loaded at once
 * (default 64). Returns it, or 0 when the variable is not a number >= 1, with the error
 * ("DAFT_LOADED_PLANS=abc is not a number of plans >= 1") in daft_rt_last_error. */
DAFT_API int daft_rt_loaded_plans_limit(DaftRt *rt);
/* While more than `limit` plans are loaded: the one, other than keep, loaded or submitted to
 * least recently among those with no execution pending (daft_rt_plan_pending), for the caller
 * to unload (daft_rt_plan_finish) before asking again. NULL when within the limit, or when
 * every other plan has executions in flight. */
DAFT_API DaftRtPlan *daft_rt_plan_lru(DaftRt *rt, const DaftRtPlan *keep, int limit);

#ifdef __cplusplus
}
#endif
#endif /* DAFTRT_H */
