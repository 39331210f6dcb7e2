/* rt_xnccl.h — NCCL channels and collectives of compiled plans, actor side (rt_xnccl.c).
 * Internal to libdaftrt; used by rt_xplan.c only. */
#ifndef DAFT_RT_XNCCL_H
#define DAFT_RT_XNCCL_H

#include "rt_gpu.h"
#include "rt_internal.h"

/* How rt_xnccl.c uses the plan's shared-memory channels (rt_xplan.c provides them). */
typedef struct RtXIo {
    void (*send)(void *arg, uint32_t ch, int32_t target, const DaftValue *v);
    int (*try_read)(void *arg, uint32_t ch, DaftValue *slot); /* 1, 0 (none yet), < 0 */
    bool (*alive)(void *arg);                                  /* false: the plan stopped */
    void *arg;
} RtXIo;

typedef struct RtXNccl RtXNccl;

/* Parses the GPU section of a PLAN_LOAD (after the channel ends); NULL + err if malformed. */
RtXNccl *rt_xnccl_load(RtRd *r, uint32_t nchans, uint32_t ngroups, char *err, size_t cap);
void rt_xnccl_free(RtXNccl *g);      /* aborts and frees every communicator */
/* Waits (polling) for this actor's GPU work so far, noticing a member's death (io->alive:
 * the plan stops, its communicators are aborted): 0, or < 0 with err set. */
int rt_xnccl_wait_gpu(RtXNccl *g, const RtXIo *io, char *err, size_t cap);
void rt_xnccl_abort(RtXNccl *g);     /* ncclCommAbort on every communicator (never waits) */
bool rt_xnccl_chan(const RtXNccl *g, uint32_t ch); /* channel realised over NCCL */
int rt_xnccl_group(const RtXNccl *g, uint32_t grp); /* group's communicator or -1 (CPU mesh) */
/* Creates the communicators (once): 1 ready, 0 waiting for a unique id, < 0 failed. */
int rt_xnccl_setup(RtXNccl *g, const RtXIo *io);
bool rt_xnccl_setup_pending(const RtXNccl *g);
const char *rt_xnccl_error(const RtXNccl *g); /* NULL unless setup or an op failed */
/* WRITE on an NCCL channel: control value on the ring, then ncclSend to the reader(s). */
/* next_read: the channel of the READ that is the program's next NCCL operation after this
 * write, or -1; with pre-posted receives its receive goes into the write's NCCL group when
 * it comes from the same peer (one launch instead of two on the way back of a round trip). */
void rt_xnccl_write(RtXNccl *g, const RtXIo *io, uint32_t ch, int32_t target, const DaftValue *v,
                    int32_t next_read);
/* READ: 1 and the value (a GPU tensor being received, in stream order) in *slot; 0 if the
 * control value has not arrived yet (pre-posting: the receive is posted by the first call). */
int rt_xnccl_try_read(RtXNccl *g, const RtXIo *io, uint32_t ch, DaftValue *slot);
/* An execution ended and the next one begins with a read of NCCL channel ch: its receive is
 * posted now (held), when it pre-posts (static shape), not when that execution starts. */
void rt_xnccl_prepost_next(RtXNccl *g, uint32_t ch);
/* Unit tests: run against this GPU table instead of the process's (a fake one). */
void rt_xnccl_use_ops(RtXNccl *g, const RtGpuOps *ops);
/* COLLECTIVE over an NCCL group: the member's result (an error value on failure). */
DaftValue rt_xnccl_coll(RtXNccl *g, uint32_t grp, int kind, int reduce, int root, const DaftValue *in,
                        bool feeds_next); /* feeds_next: the next call reads the result */

#endif
