/* rt_internal.h — declarations shared by the files of libdaftrt. Not installed, not public:
 * everything here may change. Public API: include/daftrt.h. */
#ifndef DAFT_RT_INTERNAL_H
#define DAFT_RT_INTERNAL_H

#include "daftrt.h"

#include <poll.h>
#include <stdalign.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <sys/types.h>

#define RT_CACHE_LINE 64
#define RT_MAX_ACTORS 1024          /* bells page size; actor handles are < this */
#define RT_SLICE_NS (20 * 1000000LL) /* longest sleep before re-checking peers */
#define RT_INLINE_MAX 1024 /* results up to this size ride on the DONE notice */
#define RT_SPIN_NS 50000   /* a waiter spins (yielding) this long before a futex sleep */

/* ---------------------------------------------------------------- rt_util.c */

/* A growable byte buffer (channel messages, encodings). */
typedef struct RtBuf {
    uint8_t *p;
    size_t len, cap;
} RtBuf;

void rt_tune_malloc(void); /* heap settings for large tensors (rt_util.c) */

int rt_buf_reserve(RtBuf *b, size_t extra);
int rt_buf_put(RtBuf *b, const void *data, size_t n);
int rt_buf_u8(RtBuf *b, uint8_t v);
int rt_buf_u32(RtBuf *b, uint32_t v);
int rt_buf_u64(RtBuf *b, uint64_t v);
int rt_buf_str(RtBuf *b, const char *s); /* u32 length + bytes */
void rt_buf_free(RtBuf *b);

/* A bounds-checked reader over a byte range; once `bad` is set every read returns 0. */
typedef struct RtRd {
    const uint8_t *p;
    size_t len, off;
    bool bad;
} RtRd;

RtRd rt_rd(const void *p, size_t len);
const void *rt_rd_bytes(RtRd *r, size_t n);
uint8_t rt_rd_u8(RtRd *r);
uint32_t rt_rd_u32(RtRd *r);
uint64_t rt_rd_u64(RtRd *r);
/* Copies a u32-length string into dst (truncated to cap-1, NUL-terminated). */
void rt_rd_str(RtRd *r, char *dst, size_t cap);

int64_t rt_now_ns(void);
/* Absolute deadline for a timeout in seconds; < 0 means none (returns -1). */
int64_t rt_deadline(double timeout_s);
/* Nanoseconds to sleep now: min(slice, time to deadline), never negative. */
int64_t rt_sleep_ns(int64_t deadline_ns, int64_t slice_ns);
/* futex on a word of a MAP_SHARED mapping (not FUTEX_PRIVATE: it spans processes). */
int rt_futex_wait(_Atomic uint32_t *word, uint32_t expected, int64_t timeout_ns);
void rt_futex_wake(_Atomic uint32_t *word, int n);
/* ---------------------------------------------------------------- rt_signal.c */

/* Set by daft_rt_interrupt (a signal handler of the driver): the driver's waits end. (A
 * lock-free atomic: what a handler may write, C11 7.14.1.1.) */
extern _Atomic int rt_intr;
/* Whether a driver wait must end now: its deadline (-1: none) passed, or the driver was
 * interrupted; an interrupted wait ends as a timed-out one does, and the public call it
 * serves says DAFT_EINTR. */
static inline bool rt_wait_over(int64_t deadline_ns)
{
    return rt_intr || (deadline_ns >= 0 && rt_now_ns() >= deadline_ns);
}
/* The local actor processes that daft_rt_abort kills: forked (with the actor's handle, its
 * trace track) and reaped. */
void rt_kid_add(pid_t pid, int track);
void rt_kid_del(pid_t pid);
/* The driver's trace: daft_rt_abort removes its actors' part files. */
void rt_abort_note_trace(const char *path, const char *tag);

/* One step of a bounded spin that ends at spin_end (see rt_util.c for how and why). */
void rt_cpu_relax(int64_t spin_end);
/* snprintf into a fixed buffer, always NUL-terminated, never warns on truncation. */
void rt_fmt(char *dst, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Writes one stderr line prefixed with "daft: " (one write(2), so lines do not mix). */
void rt_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* One piece of a message gathered from several places (rt_ring_writev). */
typedef struct RtPiece {
    const void *p;
    size_t n;
    const DaftTensor *gpu; /* or the bytes of this GPU tensor (rt_pmsg.c reads them) */
} RtPiece;

/* ---------------------------------------------------------------- rt_value.c */

/* Appends the encoding of v to b (see daft_value_encode for the format). */
int rt_value_put(RtBuf *b, const DaftValue *v);
/* Encoding without copying large host tensors: their bytes stay where they are and are
 * recorded as splices (the encoding continues in b as if they were there); a sender writes
 * b and the splices together (rt_splice_pieces + rt_ring_writev), copying them once. */
#define RT_SPLICE_MIN 65536
typedef struct RtSplice {
    size_t at; /* offset in the encoding buffer where the bytes belong */
    const void *p;
    size_t n;
    const DaftTensor *gpu; /* a GPU tensor's bytes (p unused): read when written */
} RtSplice;
typedef struct RtSplices {
    RtSplice *v;
    int n, cap;
    bool host_only; /* GPU tensors are copied into the encoding as before (their senders
                     * have no device-to-ring path) */
} RtSplices;
/* Appends v's encoding to b and its large tensors to sp (reset sp->n to start a message). */
int rt_value_put_spliced(RtBuf *b, const DaftValue *v, RtSplices *sp);
int rt_splice_add(RtSplices *sp, size_t at, const void *p, size_t n, const DaftTensor *gpu);
/* The message as pieces (malloc'd; *npieces set), or NULL when out of memory. */
RtPiece *rt_splice_pieces(const RtBuf *b, const RtSplices *sp, int *npieces);
void rt_splices_free(RtSplices *sp);
/* Decodes one value at r's position. */
int rt_value_get(RtRd *r, DaftValue *out);

/* ---------------------------------------------------------------- rt_bell.c */

/* A doorbell: a futex word that every writer to one of a process's inbound channels bumps,
 * so that a process with many inbound channels can sleep on a single word. */
typedef struct RtBell {
    _Atomic uint32_t seq;
    _Atomic uint32_t sleepers;
    _Atomic uint32_t cur_method; /* compiled mode: method index + 1 being run, 0 if none */
    _Atomic uint32_t cur_plan;   /* ... and the plan it belongs to (for death messages) */
    _Atomic uint32_t tasks_begun; /* interpreted tasks (init included) the actor has begun */
    char pad[RT_CACHE_LINE - 20];
} RtBell;

void rt_bell_ring(RtBell *b);
uint32_t rt_bell_snapshot(RtBell *b);
/* Sleeps until the bell rings after `snap` was taken, or timeout_ns elapses. */
void rt_bell_wait(RtBell *b, uint32_t snap, int64_t timeout_ns);

/* ---------------------------------------------------------------- rt_ring.c */

/* A wait policy: an absolute deadline (or -1), a liveness check called at least every
 * slice while blocked (return false: give up with DAFT_EPEER), and a progress hook a
 * blocked writer calls so it keeps draining its own inbound channels. */
typedef bool (*RtAliveFn)(void *arg);
typedef struct RtWait {
    int64_t deadline_ns;
    RtAliveFn alive;
    void (*progress)(void *arg);
    void *arg;
    bool intr; /* a read of the driver's: an interrupt ends it as its deadline would */
} RtWait;

#define RT_RING_MAX_READERS 32

struct RtRingHdr;
/* A single-writer, multi-reader ring of fixed-size slots in a memfd mapping. A message
 * longer than one slot is split into consecutive slots (chunks). */
typedef struct RtRing {
    struct RtRingHdr *hdr;
    uint8_t *slots;
    size_t map_size;
    uint32_t nslots, slot_size, stride;
    int fd;         /* memfd, -1 once closed (the mapping keeps the memory) */
    RtBell *bell;   /* writer side: the reader's doorbell to ring after a write, or NULL */
    RtBell *more_bells[RT_RING_MAX_READERS]; /* further readers' doorbells */
    uint32_t nmore;
    uint32_t free_until; /* writer: slots before this sequence number are known free */
} RtRing;

/* One reader's view: its cursor index and a partly received chunked message. */
typedef struct RtRingReader {
    RtRing *ring;
    uint32_t idx;
    RtBuf part;
} RtRingReader;

int rt_ring_create(RtRing *r, uint32_t nslots, uint32_t slot_size, uint32_t nreaders);
/* Maps a ring from a memfd received from its creator (takes ownership of fd). */
int rt_ring_attach(RtRing *r, int fd);
void rt_ring_close_fd(RtRing *r);
void rt_ring_destroy(RtRing *r);
uint32_t rt_ring_payload(const RtRing *r);
uint32_t rt_ring_nreaders(const RtRing *r);
/* Writes one message (chunked if longer than a slot). Blocks while the ring is full,
 * following w. Returns 0, DAFT_ETIMEDOUT, DAFT_EPEER or DAFT_ETOOBIG (> 1 GiB). */
int rt_ring_write(RtRing *r, const void *data, size_t len, const RtWait *w);
/* Writes the concatenation of n host pieces (gpu NULL) as one message, copying each byte
 * once. */
int rt_ring_writev(RtRing *r, const RtPiece *pieces, int n, const RtWait *w);
/* A message of at most one slot written in place: rt_ring_reserve waits (following w) for
 * a free slot and gives its payload area (rt_ring_payload bytes); rt_ring_commit
 * publishes the first len bytes of it as one message. */
int rt_ring_reserve(RtRing *r, uint8_t **payload, const RtWait *w);
void rt_ring_commit(RtRing *r, size_t len);
void rt_ring_reader_init(RtRingReader *rd, RtRing *r, uint32_t idx);
void rt_ring_reader_free(RtRingReader *rd);
/* Non-blocking: 1 and the whole message in *msg (replacing its contents), 0 if no complete
 * message is available yet. */
int rt_ring_try_read(RtRingReader *rd, RtBuf *msg);
/* The next message when it is whole in one slot: *p points into the ring, valid until
 * rt_ring_consume, so the caller decodes it in place instead of copying it out first.
 * 1 if so; 0 if nothing has arrived or the message spans slots (rt_ring_try_read takes
 * it); < 0 on a malformed slot. */
int rt_ring_peek(RtRingReader *rd, const uint8_t **p, uint32_t *len);
void rt_ring_consume(RtRingReader *rd);
/* Blocking read following w: 1, or DAFT_ETIMEDOUT / DAFT_EPEER. */
int rt_ring_read(RtRingReader *rd, RtBuf *msg, const RtWait *w);
/* Blocks following w until reader rd has something unread: 0, DAFT_ETIMEDOUT or DAFT_EPEER. */
int rt_ring_wait(RtRingReader *rd, const RtWait *w);
/* Whether reader idx has a published chunk to read (what a waiting reader polls). */
bool rt_ring_ready(RtRing *r, uint32_t idx);
/* Number of published messages not yet consumed by reader idx. */
uint32_t rt_ring_pending(const RtRing *r, uint32_t idx);

/* ---------------------------------------------------------------- rt_pmsg.c */

/* A plan channel's outgoing message: the encoding and the large tensors spliced into it. */
typedef struct RtPmsgOut {
    RtBuf tx;
    RtSplices sp;
} RtPmsgOut;

/* Encodes [target][v]; with splice, large host tensors stay in place (shared memory only:
 * send with rt_pmsg_ring_write). */
int rt_pmsg_encode(RtPmsgOut *m, int32_t target, const DaftValue *v, bool splice);
int rt_pmsg_ring_write(RtRing *r, const RtPmsgOut *m, const RtWait *w);
void rt_pmsg_out_free(RtPmsgOut *m);
/* Decodes a message for reader idx: 1 and *out (replaced), 0 when it is addressed to
 * another reader, DAFT_EPROTO when malformed. */
int rt_pmsg_decode(const uint8_t *p, size_t n, uint32_t idx, DaftValue *out);
/* A message of a GPU actor being copied off its GPU before it goes to a ring. */
#define RT_PMSG_ASYNC_MAX 8
typedef struct RtPmsgAsync {
    uint8_t *buf; /* pinned */
    size_t cap, len;
    void *tok[RT_PMSG_ASYNC_MAX];
    int ntok;
    uint32_t target;
    bool busy;
} RtPmsgAsync;
/* Starts writing m without waiting for the GPU: 1 when m carries GPU tensors and their
 * copies were queued (finish it with rt_pmsg_async_finish), 0 when the caller should
 * write it the ordinary way (a host value, no GPU, or a is still busy). */
int rt_pmsg_async_start(RtPmsgAsync *a, const RtPmsgOut *m);
/* Writes the message to r once its copies are done: 1 written (or nothing was pending),
 * 0 not yet (wait false), < 0 the ring write failed. A failed copy sends an error value. */
int rt_pmsg_async_finish(RtPmsgAsync *a, RtRing *r, bool wait, const RtWait *w);
void rt_pmsg_async_free(RtPmsgAsync *a);
/* Non-blocking: the next message for rd's reader, decoded in place where it fits a slot
 * (scratch reassembles longer ones). 1, 0 (none yet), RT_PMSG_MALFORMED (a message was
 * taken that is not a value: the caller reports it), or < 0 when the ring is broken. */
#define RT_PMSG_MALFORMED 2
int rt_pmsg_ring_try(RtRingReader *rd, RtBuf *scratch, DaftValue *out);

/* ---------------------------------------------------------------- rt_tcp.c */

/* Listening socket on addr (NULL: 127.0.0.1) with an ephemeral port; *name receives
 * "host:port". */
int rt_tcp_listen(const char *host, char *name, size_t cap);
int rt_tcp_connect(const char *name, int64_t deadline_ns);
int rt_tcp_accept(int lfd);
/* Sends len bytes framed with a u32 length. A blocked send polls, calls w->progress and
 * w->alive every slice. */
int rt_tcp_send(int fd, const void *data, size_t len, const RtWait *w);
/* Non-blocking receive into rx; 1 and a whole message in *msg, 0 if none yet, DAFT_EPEER
 * on EOF or error. */
int rt_tcp_try_recv(int fd, RtBuf *rx, RtBuf *msg);
/* The first non-loopback IPv4 address of this host, or "127.0.0.1". */
void rt_tcp_host_addr(char *buf, size_t cap);
/* The per-job secret every TCP connection presents first (see rt_tcp.c). The driver makes
 * it (getrandom) before forking; MPI ranks receive it from rank 0 at bootstrap. */
#define RT_SECRET_LEN 32
int rt_tcp_secret_init(void);
void rt_tcp_secret_set(const uint8_t *secret);
const uint8_t *rt_tcp_secret(void); /* NULL until made or set */

/* ---------------------------------------------------------------- rt_chan.c */

/* A one-way channel between two processes: a shared-memory ring or a TCP socket. */
typedef enum { RT_CHAN_NONE = 0, RT_CHAN_SHM, RT_CHAN_TCP } RtChanKind;
typedef struct RtChan {
    RtChanKind kind;
    RtRing ring;      /* SHM */
    RtRingReader rd;  /* SHM reader side */
    int fd;           /* TCP (may be shared by the two directions of a connection) */
    RtBuf rx;         /* TCP bytes received but not yet a whole message */
    bool broken;
} RtChan;

int rt_chan_send(RtChan *c, const void *data, size_t len, const RtWait *w);
/* Sends m with the (host) tensors spliced into it, each byte copied once on shared memory. */
int rt_chan_sendv(RtChan *c, const RtBuf *m, const RtSplices *sp, const RtWait *w);
int rt_chan_try_recv(RtChan *c, RtBuf *msg);
void rt_chan_close(RtChan *c);

/* ---------------------------------------------------------------- rt_objtab.c */

typedef enum { RT_OBJ_PENDING = 1, RT_OBJ_READY, RT_OBJ_ERROR } RtObjState;

/* One entry: a Ref id with its state and (when known here) its value. Entries are
 * individually allocated so pointers stay valid until the entry is deleted. */
typedef struct RtObj {
    uint64_t id;
    RtObjState state;
    bool has_value;     /* value holds the result (READY/ERROR) */
    bool released;      /* the program dropped it; delete once no longer needed (driver:
                         * rt_obj_settle) */
    bool observed;      /* driver side: got, or passed on (SPEC 14.2) */
    bool fetching;      /* driver side: FETCH sent, its value not here yet (a get in slices,
                         * as the REPL's, must not ask again: each answer copies the value) */
    DaftValue value;
    DaftActor owner;
    int method;         /* producing method index (driver side), -1 for init */
    int32_t users;      /* driver side: plan executions whose inputs wait for it (a
                         * release meanwhile only marks it released) */
    bool free_sent;     /* driver side: released while its task ran; the owner was told to
                         * free the value, the entry waits for the task's completion */
    DaftActor *copies;  /* driver side: the other actors keeping a copy of the value for
                         * their later tasks (SPEC 15.2), told to free it with the owner */
    uint32_t ncopies;
    struct RtObj *next; /* hash chain */
} RtObj;

typedef struct RtObjTab {
    RtObj **buckets;
    size_t nbuckets, count;
} RtObjTab;

void rt_objtab_init(RtObjTab *t);
void rt_objtab_free(RtObjTab *t);
RtObj *rt_objtab_find(const RtObjTab *t, uint64_t id);
/* Inserts a PENDING entry (or returns the existing one); NULL on ENOMEM. */
RtObj *rt_objtab_add(RtObjTab *t, uint64_t id);
/* Moves *v into the entry (READY, or ERROR for an error value); *v becomes NONE. */
void rt_objtab_resolve(RtObj *o, DaftValue *v);
/* How many entries of this process became errors so far: a wait that must end at the first
 * error among many Refs (daft_rt_wait_list) looks for one only when this moved. */
extern uint64_t rt_objtab_errors;
/* Deletes the entry, freeing its value. */
void rt_objtab_del(RtObjTab *t, uint64_t id);
void rt_objtab_foreach(RtObjTab *t, void (*fn)(RtObj *o, void *arg), void *arg);
/* Driver (rt_calls.c): asks o's owner for its value unless it is here or asked for already
 * (true when asked now); drops one use, forgetting a released o after its last. */
bool rt_obj_fetch(DaftRt *rt, RtObj *o);
/* Driver: asks o's owner for its value, even while its task runs (the owner answers once
 * the task is done), unless it is here or asked for already. Sent before a plan's GO for a
 * Ref input, the FETCH keeps the call's place on the owner: asked for later, it would be
 * served after that execution on the owner (plans take turns), which waits for it. */
void rt_obj_prefetch(DaftRt *rt, RtObj *o);
/* Driver: asks dep's owner to send its value to actor `to` as transfer `xfer` (queued behind
 * the owner's earlier work; to == owner: kept aside on the owner under that id), over NCCL
 * between GPU actors on different GPUs if nccl_ok. Nonzero when no channel owner -> to could
 * be made (a peer died, or no fds): nothing was sent. */
struct RtActorRec;
int rt_push_ref(DaftRt *rt, const RtObj *dep, struct RtActorRec *owner, struct RtActorRec *to,
                uint64_t xfer, bool nccl_ok);
void rt_obj_unuse(DaftRt *rt, RtObj *o);
/* Driver: the entry of a Ref the program still holds, or NULL. A released entry stays until
 * no plan input needs it and, when nobody observed it, its value is known: then an error
 * in it is reported (`daft: warning: unobserved error: ...`) and the entry goes. */
RtObj *rt_obj_live(DaftRt *rt, uint64_t id);
void rt_obj_settle(DaftRt *rt, RtObj *o);
void rt_obj_report_unobserved(DaftRt *rt, RtObj *o);

/* ---------------------------------------------------------------- rt_launch.c */

typedef struct RtProc {
    pid_t pid;
    int pidfd;      /* readable once the process exits */
    bool exited;
    int status;     /* waitpid status once exited */
} RtProc;

/* Forks a child that dies with its parent (PR_SET_PDEATHSIG), ignores SIGINT (the driver
 * decides) and runs child_main(arg), then _exit(0). In the parent, fills *p (pid, pidfd)
 * and lists the child for daft_rt_abort (track: the actor's handle). */
int rt_launch_fork(RtProc *p, int track, void (*child_main)(void *arg), void *arg);
/* Non-blocking: true if the process has exited (reaps it and records the status). */
bool rt_launch_exited(RtProc *p);
/* Waits up to timeout_ns for exit, then SIGKILLs and reaps. */
void rt_launch_reap(RtProc *p, int64_t timeout_ns);
/* "killed by signal 9 (Killed)" / "exited with code 3" / "exited normally". */
void rt_launch_describe(int status, char *buf, size_t cap);
void rt_launch_close(RtProc *p);

/* ---------------------------------------------------------------- rt_trace.c */

typedef struct RtTrace {
    bool on;
    char path[512];
    RtBuf events; /* JSON objects, comma separated */
    int pid;      /* track id: 0 for the driver, actor handle otherwise */
    char name[96];
    char tag[40]; /* random, from the driver (inherited by forked actors): part-file names */
} RtTrace;

/* The driver (track 0, a name) reads DAFT_TRACE; an actor process (inheriting the
 * driver's settings) restarts with its own track; NULL name keeps the current one. */
void rt_trace_init(RtTrace *t, int track, const char *track_name);
/* One complete slice [t0, t1) on this process's track. */
void rt_trace_slice(RtTrace *t, const char *name, const char *cat, int64_t t0, int64_t t1);
/* Actor side: writes this process's events to path.<track>. */
void rt_trace_flush_part(RtTrace *t);
/* Driver side: merges the driver's events and parts 1..max_track into path. */
void rt_trace_merge(RtTrace *t, int max_track);
void rt_trace_free(RtTrace *t);
/* Appends s as a JSON string body (quotes, backslashes and control bytes escaped). */
void rt_json_str(RtBuf *b, const char *s);

/* ---------------------------------------------------------------- rt_stats.c */

/* What a row counts. WRITE/READ: one end of a compiled plan's channel (index: the channel);
 * COLL: a member's part in a compiled collective (index: its group); CALL: tasks the driver
 * sent an actor (peer); RESULT: values an actor (peer) sent the driver; XFER: Ref values an
 * actor (from) sent another (peer) over transport `index` (RtStatTransport). */
typedef enum {
    RT_STAT_WRITE, RT_STAT_READ, RT_STAT_COLL, RT_STAT_CALL, RT_STAT_RESULT, RT_STAT_XFER,
    RT_STAT_NKINDS
} RtStatKind;
typedef enum { RT_STAT_SHM, RT_STAT_TCP, RT_STAT_NCCL } RtStatTransport;
typedef enum { RT_STATS_OFF, RT_STATS_TABLE, RT_STATS_JSON } RtStatsMode;

typedef struct RtStatRow {
    uint32_t kind, from, plan, index, peer; /* from, peer: actors (0: the driver) */
    uint64_t n, bytes, ns; /* n: values delivered (a write to two readers: 2), calls;
                            * ns: WRITE time in the write; READ time waited for the value;
                            * COLL time in the operation; XFER time in the send */
} RtStatRow;

typedef struct RtStatPlan {
    uint32_t id;
    int nchannels, ngroups;
    char **labels;        /* channels, then groups */
} RtStatPlan;

typedef struct RtStats {
    RtStatsMode on;
    char path[4096];      /* RT_STATS_JSON: the file */
    RtStatRow *rows;
    int nrows, cap;
    int *hash;            /* [hcap] row index + 1 by key, 0 empty */
    int hcap;
    RtStatPlan *plans;    /* driver: the names of loaded plans' channels and groups */
    int nplans;
} RtStats;

void rt_stats_init(RtStats *s);    /* reads DAFT_STATS */
void rt_stats_restart(RtStats *s); /* an actor process: drops the driver's rows */
void rt_stats_free(RtStats *s);
uint64_t rt_stats_value_bytes(const DaftValue *v);
void rt_stats_add(RtStats *s, RtStatKind kind, uint32_t from, uint32_t plan, uint32_t index,
                  uint32_t peer, uint64_t count, uint64_t bytes, int64_t ns);
void rt_stats_call(DaftRt *rt, uint32_t actor, const DaftValue *args, int nargs);
/* Actor side: RT_M_STATS and the rows; driver side: adds them (after the type). */
void rt_stats_put(const RtStats *s, RtBuf *m);
void rt_stats_take(RtStats *s, RtRd *r);
/* Driver: names of plan `id`'s channels and groups (takes labels and its strings). */
void rt_stats_plan(RtStats *s, uint32_t id, int nchannels, int ngroups, char **labels);
void rt_stats_report(const DaftRt *rt);

/* ---------------------------------------------------------------- protocol (rt_proto) */

typedef enum {
    RT_M_INIT = 1, /* driver → actor: u32 cls, str name, u64 ref, u32 n, values */
    RT_M_TASK,     /* driver → actor: u64 ref, u32 method, u32 n, args (RtArgTag each) */
    RT_M_PUSH,     /* driver → actor: u64 ref, u32 dest, u64 xfer, u8 may go over NCCL */
    RT_M_FETCH,    /* driver → actor: u64 ref */
    RT_M_FREE,     /* driver → actor: u64 ref: free its value, or the copy kept of it */
    RT_M_ATTACH,   /* driver → actor: u32 peer, u8 out, str tcp addr (fd on the socket) */
    RT_M_DEAD,     /* driver → actor: u32 actor, str message prefix */
    RT_M_STOP,     /* driver → actor */
    RT_M_DONE,     /* actor → driver: u64 ref, u8 status, [value] */
    RT_M_VALUE,    /* actor → driver: u64 ref, value */
    RT_M_XFER,     /* actor → actor: u64 xfer, value */
    RT_M_HELLO,    /* actor → driver/actor over TCP: u32 actor, str listen addr */
    RT_M_PLAN_LOAD,   /* driver → actor: a compiled program and its channels (rt_xplan.c) */
    RT_M_PLAN_UNLOAD, /* driver → actor: u32 plan id, u64 from: stop before execution `from`
                       * (1-based; 0: at once) */
    RT_M_PLAN_HELLO,  /* TCP plan channel writer → reader: u32 plan, u32 channel, u32 reader */
    RT_M_XFER_NCCL,   /* actor → actor: a GPU tensor follows over NCCL (rt_gpu_load.c) */
    RT_M_PLAN_GO,     /* driver → actor: u32 plan id: one more execution may start (programs
                       * that do not begin with a read have nothing else to wait for) */
    RT_M_PLAN_FAILED, /* actor → driver: u32 plan id, u64 exec, str why: the actor could not
                       * load it (exec 0), or execution `exec` (1-based) failed there */
    RT_M_STATS,       /* actor → driver, as it stops: its DAFT_STATS rows (rt_stats_put) */
    RT_M_XFER_LOST,   /* actor → driver: u32 dest, u64 xfer, str why: a PUSH found no channel
                       * to dest (a TCP connection that failed); driver → dest: u32 owner,
                       * u64 xfer, str text: that transfer will not come (its value: an
                       * error with that text) */
} RtMsgType;

/* VALUE: a value; LOCAL: u64 ref, held here (its result, or the copy an earlier task kept);
 * XFER: u64 xfer, u32 owner, u64 keep: a transfer from owner, kept as the copy of Ref `keep`
 * for later tasks (0: not kept) */
typedef enum { RT_ARG_VALUE = 0, RT_ARG_LOCAL = 1, RT_ARG_XFER = 2 } RtArgTag;
typedef enum { RT_DONE_INLINE = 0, RT_DONE_ERROR = 1, RT_DONE_STORED = 2 } RtDoneStatus;

/* ---------------------------------------------------------------- classes, context */

typedef struct RtClass {
    char *name;
    size_t state_size;
    DaftInitFn init;
    DaftFiniFn fini;
    DaftMethodDesc *methods;
    char **method_names; /* owned copies */
    bool *takes_errors;  /* per method: runs with error arguments (daft_rt_method_takes_errors) */
    int nmethods;
} RtClass;

typedef enum { RT_MODE_SHM = 0, RT_MODE_TCP } RtMode;

/* The driver's record of one actor. */
typedef struct RtActorRec {
    DaftActor id;
    int cls;
    char name[64];
    RtProc proc;       /* local mode */
    int rank;          /* MPI mode: hosting rank, else 0 */
    int gpu;           /* its GPU: -1 none (CPU actor), >= 0 CUDA ordinal, -3 wanted but
                        * none free (the actor fails to start); see rt_gpu.h */
    bool dead, init_failed;
    bool kill_sent;    /* daft_rt_kill: every call sent so far was sent before its death */
    bool stop_sent;    /* told to stop (teardown): exiting normally then is no death, neither
                        * to trace nor to announce to the other actors */
    char death[256];   /* "actor 'w1' (Worker) died while running 'step': killed by ..." */
    char init_error[256]; /* init_failed: its init's error ("actor 'w1' (Worker) method 'init': ...") */
    RtChan ctl;        /* driver → actor */
    RtChan res;        /* actor → driver */
    int sock;          /* SHM: unix socket carrying channel fds; -1 otherwise */
    char addr[64];     /* TCP: the actor's listening address */
    bool notice_sent;  /* its death was announced to the other actors */
    uint8_t *out_ok;   /* [dest] = 1 once channel actor → dest exists */
    size_t out_cap;
    uint64_t *inflight; /* ref ids of submitted tasks not yet DONE, in order */
    int *inflight_m;    /* their method indices (-1 init, -2 push/fetch: not a task) */
    size_t inflight_head, inflight_len, inflight_cap;
    uint32_t tasks_done; /* completions received (against its bell's tasks_begun) */
} RtActorRec;

struct RtActorSelf; /* actor-side state, rt_exec.c */

struct DaftRt {
    bool is_driver;
    RtMode mode;
    bool mpi;
    int rank, nranks;
    RtClass *classes;
    int nclasses;
    RtActorRec **actors; /* [0] unused; handle = index; records never move */
    uint32_t nactors;   /* highest handle in use */
    uint32_t actors_cap;
    RtObjTab refs;      /* driver: every live Ref */
    uint64_t next_ref, next_xfer;
    RtBell *bells;      /* SHM: [0] driver, [h] actor h; shared by all local processes */
    size_t bells_size;
    RtBuf msg, out, small; /* scratch: received message, task being sent, short notices */
    RtSplices out_sp;      /* the large tensors of `out`, sent from where they are */
    int sending;        /* > 0 while a send is in progress (its progress hook must not send) */
    bool notices_due;   /* death notices wait until no send is in progress */
    RtBuf frees_due;    /* FREEs of Refs settled meanwhile (in a send's progress hook, as a
                         * completion arrives): owner u32, id u64 each; sent with the notices */
    RtBuf lost_due;     /* RT_M_XFER_LOST notices for readers, sent with the notices: each a
                         * u32 reader, then the message as sent (u32 length, bytes) */
    int *rank_fd;       /* MPI driver: [rank] connection from that worker rank, -1 if used */
    char (*rank_addr)[64];
    char err[512];
    RtTrace trace;
    RtStats stats;      /* DAFT_STATS: this process's counts (the driver's: everyone's) */
    char host[64];      /* TCP: address to listen on */
    int lfd;            /* TCP driver listening socket (-1 in SHM mode) */
    char laddr[64];
    pid_t driver_pid;
    struct RtActorSelf *self; /* set in an actor process */
    struct DaftRtPlan **plans; /* driver: loaded compiled plans */
    int nplans;
    uint64_t plan_clock;       /* driver: plan loads and submits so far (daft_rt_plan_lru) */
    struct DaftRtPlan *plan_loading; /* the plan whose PLAN_LOADs are being sent (not yet in plans) */
    uint32_t next_plan;
    bool sequence_plans; /* daft_rt_sequence_plans: every plan loaded takes turns */
    int64_t wait_report_ns; /* DAFT_WAIT_REPORT: a driver wait this long says so (0: never) */
    /* root causes of the errors the program observed or was told of (SPEC 14.2: each error is
     * reported at most once), as hashes of their texts (daft_rt_warn_unobserved) */
    uint64_t *errors_seen;
    size_t nerrors_seen, errors_seen_cap;
    bool started;
};

/* rt_driver.c */
void rt_set_err(DaftRt *rt, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
const char *rt_class_name(const DaftRt *rt, int cls);
const char *rt_method_name(const DaftRt *rt, int cls, int method);

/* rt_pump.c: the driver's side of the channels. */
/* Sends a control message to an actor; on a dead peer marks it dead and returns
 * DAFT_EPEER. While blocked it keeps reading every actor's results; an interrupt
 * (daft_rt_interrupt) ends such a wait before the message's first byte, unsent
 * (DAFT_ETIMEDOUT). */
int rt_drv_send(DaftRt *rt, RtActorRec *a, const RtBuf *m);
/* rt_drv_send of m with sp's tensors spliced in (rt_chan_sendv). */
int rt_drv_sendv(DaftRt *rt, RtActorRec *a, const RtBuf *m, const RtSplices *sp);
/* Reads and handles every available message from every actor; returns how many. */
int rt_drv_poll(DaftRt *rt);
/* rt_drv_poll, then the deaths of actors that exited: what a wait whose deadline has come takes
 * before it gives up, so that a result or a death that has already happened is seen. */
void rt_drv_take(DaftRt *rt);
/* Handles deaths, then sleeps until a message may have arrived, deadline or one slice. */
void rt_drv_wait(DaftRt *rt, int64_t deadline_ns);
/* The same, while the caller reads plan busy's outputs (rt_plans_drain leaves them). */
void rt_drv_wait_but(DaftRt *rt, int64_t deadline_ns, const struct DaftRtPlan *busy);
/* Records an actor's death: its pending Refs become errors naming the actor, the method
 * it was running and the cause; the other actors are told (see rt_drv_notices). */
void rt_drv_dead(DaftRt *rt, RtActorRec *a, const char *cause);
/* Records that an actor was never started (a placement that cannot be satisfied): it is
 * dead, and its death reads "actor 'W#1' (W) could not start: <cause>" (SPEC 10.1). */
void rt_drv_never_started(DaftRt *rt, RtActorRec *a, const char *cause);
/* Sends pending death notices (only when no send is in progress). */
void rt_drv_notices(DaftRt *rt);
/* Checks local actor processes for exit (pidfd) and handles deaths. */
void rt_drv_check_exits(DaftRt *rt);
int rt_drv_inflight_push(RtActorRec *a, uint64_t id, int method);
RtActorRec *rt_drv_actor(DaftRt *rt, DaftActor id);

/* rt_exec.c: the actor process main loop (never returns). In local mode it starts from a
 * forked child of the driver, which knows its name; in MPI mode from daft_rt_start on a
 * worker rank (name NULL: "actor#ID" until its init message names it). */
void rt_actor_main(DaftRt *rt, DaftActor self, const char *name, RtChan *ctl, RtChan *res,
                   int sock, int lfd, const char *laddr);

/* rt_xplan.c: the actor side of compiled execution. A plan is a resumable state machine
 * (program counter + slots) so that an actor never blocks on a READ: it runs whichever
 * of its plans and tasks can make progress, and several plans share one actor. */
typedef struct RtXPlan RtXPlan;
struct RtActorSelf;
/* Decodes an RT_M_PLAN_LOAD body (after the type) and maps its channels from fds read on
 * sock. NULL with a message in err on failure. */
RtXPlan *rt_xplan_load(struct RtActorSelf *s, DaftRt *rt, RtRd *r, int sock, char *err,
                       size_t cap);
/* Runs ops until a READ finds no data or one execution completes; true if it ran any. */
bool rt_xplan_step(struct RtActorSelf *s, RtXPlan *p);
/* True if the next op could run now. */
bool rt_xplan_ready(RtXPlan *p);
uint32_t rt_xplan_id(const RtXPlan *p);
const char *rt_xplan_name(const RtXPlan *p);
/* Stops the plan for good (unloaded, or a member died); a blocked write gives up. */
void rt_xplan_stop(RtXPlan *p);
/* One execution of a plan whose program does not begin with a read may start. */
void rt_xplan_go(RtXPlan *p);
/* The plan's executions on this actor take their turn in the order the driver submitted
 * them, among all such plans (it issues NCCL operations: see rt_plan_needs_go). */
bool rt_xplan_sequenced(const RtXPlan *p);
/* Takes the outputs that have arrived for every loaded plan but `busy` (rt_compiled.c):
 * whenever the driver blocks, so that no actor waits on it to make room. */
struct DaftRtPlan;
void rt_plans_drain(DaftRt *rt, const struct DaftRtPlan *busy);
/* TCP: takes the plan output connections waiting on the driver's listening socket; one
 * whose first message (hello) names a plan's channel goes to it (true), else the caller
 * keeps it (rt_await_hello: a connection that is not its child's). */
void rt_plans_accept(DaftRt *rt);
bool rt_plan_take_conn(DaftRt *rt, int fd, RtBuf *rx, const RtBuf *hello);
/* rt_exec.c: the turn of sequenced executions (the oldest GO not yet finished). */
bool rt_exec_plan_turn(struct RtActorSelf *s, uint32_t plan);
void rt_exec_plan_turn_done(struct RtActorSelf *s, uint32_t plan);
bool rt_xplan_stopped(const RtXPlan *p);
/* The driver unloads a plan that failed on another actor from execution `exec` (1-based;
 * 0: at once): the executions before it still complete here. */
void rt_xplan_stop_at(RtXPlan *p, uint64_t exec);
/* Told to stop at a later execution (rt_xplan_stop_at), it has executions before it to run. */
bool rt_xplan_owes_executions(const RtXPlan *p);
/* The plan failed on this actor by itself: stops it, and owes the driver why. */
void rt_xplan_fail(RtXPlan *p, const char *why);
/* Why the plan failed on this actor by itself (rt_xplan_fail, or an NCCL operation whose
 * failure aborted its communicators), and in *exec the execution (1-based) that failed,
 * once; NULL if it has not or the driver was told. */
const char *rt_xplan_take_failure(RtXPlan *p, uint64_t *exec);
bool rt_xplan_uses(const RtXPlan *p, DaftActor a);
/* TCP: hands a connection whose hello named (plan, ch, ridx) to the plan, with the bytes
 * already received on it (swapped out of *rx). False if the plan has no such end. */
bool rt_xplan_attach_tcp(RtXPlan *p, uint32_t ch, uint32_t ridx, int fd, RtBuf *rx);
/* TCP: the plan's reader connections, for poll. */
int rt_xplan_pollfds(const RtXPlan *p, struct pollfd *out, int max);
void rt_xplan_free(RtXPlan *p);
/* rt_compiled.c: static payload checks of plan channels (SPEC §14.1). rt_payload_str
 * renders like daft_payload_str (the runtime does not link libdaftplan); rt_value_payload_str
 * renders a value's type the same way ("tensor<f32, [64, 1024]>", "i64", "str", ...);
 * rt_payload_fits: kind, tensor dtype, rank and every static dim match (errors always fit:
 * they propagate; "any" and "none" accept everything). */
struct DaftPayload;
int rt_payload_str(const struct DaftPayload *p, char *buf, size_t cap);
int rt_value_payload_str(const DaftValue *v, char *buf, size_t cap);
bool rt_payload_fits(const struct DaftPayload *p, const DaftValue *v);
/* rt_exec.c services for it. */
void rt_exec_invoke(struct RtActorSelf *s, int method, const DaftValue *args, uint32_t n,
                    DaftValue *out);
void rt_exec_progress(void *self);
/* Waits for transfer `xfer` of a Ref's value from actor `owner` (a PUSH the driver queued
 * there; owner == this actor: kept aside by it); the owner's death gives its message. */
void rt_exec_take_xfer(struct RtActorSelf *s, uint64_t xfer, DaftActor owner, DaftValue *out);
/* The same without waiting: true with *out once the value (or the owner's death) is here;
 * rt_exec_xfer_ready says whether it is, taking nothing. */
bool rt_exec_try_xfer(struct RtActorSelf *s, uint64_t xfer, DaftActor owner, DaftValue *out);
bool rt_exec_xfer_ready(struct RtActorSelf *s, uint64_t xfer, DaftActor owner);
/* Transfer ids of a compiled plan's Ref inputs (rt_compiled.c) carry the plan's id: a reader
 * drops the values sent for a plan it no longer runs (executions that will not run after a
 * failure never read theirs). Other transfers' ids are small counts. */
#define RT_XFER_PLAN_BIT (1ull << 63)
static inline uint64_t rt_xfer_for_plan(uint32_t plan, uint64_t n)
{
    return RT_XFER_PLAN_BIT | (uint64_t)(plan & 0x7fffffffu) << 32 | (n & 0xffffffffu);
}
static inline uint32_t rt_xfer_plan(uint64_t xfer)
{
    return xfer & RT_XFER_PLAN_BIT ? (uint32_t)(xfer >> 32) & 0x7fffffffu : 0;
}
/* Receives one fd sent with SCM_RIGHTS on a unix socket; -1 on failure. */
int rt_recv_fd_sock(int sock);
/* rt_calls.c: sends one fd with SCM_RIGHTS. */
int rt_send_fd_sock(int sock, int fd);
/* rt_compiled.c: the name of loaded plan `id` (for death messages), or "?". */
const char *rt_plan_name(const DaftRt *rt, uint32_t id);
/* An actor could not load plan `id` (exec 0), or its execution `exec` (1-based) failed
 * there: the plan is broken from that execution on, whose results are errors, and it is
 * unloaded from every actor (after the executions before it; rt_compiled.c). */
void rt_plan_failed_on(DaftRt *rt, uint32_t id, const char *actor, uint64_t exec, const char *why);
/* Sends PLAN_UNLOAD for the plans that an actor could not load (from rt_drv_notices). */
void rt_plans_send_owed_unloads(DaftRt *rt);
/* rt_compiled.c: unloads every plan (shutdown). */
void rt_plans_unload_all(DaftRt *rt);
RtBell *rt_exec_bell(struct RtActorSelf *s);
RtTrace *rt_exec_trace(struct RtActorSelf *s);
/* DAFT_STATS counts and who counts them (this actor's id) */
RtStats *rt_exec_stats(struct RtActorSelf *s, uint32_t *self);
const char *rt_exec_method_name(struct RtActorSelf *s, int method);
const char *rt_exec_actor_name(struct RtActorSelf *s);
const char *rt_exec_actor_class(struct RtActorSelf *s);

/* rt_coll.c: CPU collectives. Kinds and reductions are numbered as in daft/plan.h
 * (checked in rt_compiled.c). */
enum { RT_COLL_ALLREDUCE = 0, RT_COLL_ALLGATHER, RT_COLL_REDUCESCATTER, RT_COLL_BROADCAST };
enum { RT_REDUCE_SUM = 0, RT_REDUCE_MAX, RT_REDUCE_MIN, RT_REDUCE_AVG };
/* Member `me`'s result of collective `kind` over inputs v[0..n) (by rank). */
DaftValue rt_coll_compute(int kind, int reduce, int root, const DaftValue *v, int n, int me,
                          const char *who);

/* rt_gcoll.c: interpreted collectives over NCCL on a GPU actor (daft_ctx_nccl_*). The
 * table of the actor's communicators is created on first use; alive(arg) drains the
 * actor's control messages and says whether every member still lives. */
typedef struct RtGcoll RtGcoll;
typedef bool (*RtGcollAlive)(void *arg);
int rt_gcoll_id(uint8_t id[DAFT_NCCL_ID_BYTES], char *err, size_t cap);
/* RT_GCOLL_STRANDED: this member failed where the others may be inside an NCCL operation
 * with it; only its end frees them, so the actor must stop (*out says why). */
enum { RT_GCOLL_STRANDED = -100 };
int rt_gcoll_run(RtGcoll **tab, const DaftNcclColl *op, const DaftValue *in, RtGcollAlive alive,
                 void (*progress)(void *), void *arg, DaftValue *out);
void rt_gcoll_peer_died(RtGcoll *t, DaftActor a, const char *why); /* aborts its communicators */
void rt_gcoll_sweep(RtGcoll *t);   /* destroys aborted ones: never call it inside a wait */
void rt_gcoll_destroy(RtGcoll *t, uint64_t key);

/* rt_mpi.c: bootstrap. */
bool rt_mpi_detect(void);
/* Initialises MPI, broadcasts rank 0's listening address and finalizes MPI: no data
 * ever goes through MPI. */
/* Sets rt->rank and rt->nranks; rank 0 opens rt->lfd and its address travels to every
 * rank (rt->laddr). Returns 0 or a negative code. */
int rt_mpi_bootstrap(DaftRt *rt, int *argc, char ***argv);

#endif
