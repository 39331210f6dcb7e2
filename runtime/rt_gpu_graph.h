/* rt_gpu_graph.h — CUDA graphs of a GPU actor's method calls in compiled plans
 * (DAFT_GPU_GRAPHS=1, opt-in; internal to libdaftgpu.so, and CUDA-free so that CI can test it
 * against a fake backend: tests/unit/rt/test_rt_gpu_graph.c; like all of libdaftgpu it uses
 * nothing of libdaftrt, daftrt.h's types aside).
 *
 * Why: on the lent H100 machines a cuBLAS launch costs the host 11-22 us, so at W7's batch 32
 * the host, not the GPU, sets the pace; the C SPMD peer replays a forward captured as a graph
 * 9-11 % faster than it launches it (bench/RESULTS.md, sixth session). A graph launches all
 * of a method's GPU work at once.
 *
 * How, per call site of a plan (its key): the site's first two calls run as usual and are
 * recorded: each std operation's name, its arguments (a tensor argument of the method, the
 * result of an earlier operation of the call, another device tensor such as a weight in a
 * field, or a scalar) and its result's shape. When two records agree, each operation's result
 * gets a buffer of its own (the arena) and each tensor argument a static copy, and the record
 * is captured into a CUDA graph. From then on the method body still runs on the host, so
 * nothing about it is assumed, but in "check" mode: each std operation is compared with the
 * record and answered with its arena buffer, launching nothing; at the end the arguments are
 * copied in, the graph launched and the result copied out to memory of its own. Anything
 * that differs (another operation, argument, shape or pointer, an operation's result kept
 * past the call, a copy to the host in the body) first runs the operations so far the usual
 * way into their arena buffers, and the rest of the call as usual; the site is then never
 * graphed again. A site is never graphed when its body keeps an operation's result (in a
 * field), calls a std operation outside the pure tensor ones (GRAPH_PURE_OPS), copies device
 * memory itself, passes a list, or returns anything but one operation's tensor or a
 * non-tensor value.
 *
 * Whole iterations (rtgraph_iter_*): the same, for all of one execution of a compiled plan on
 * this actor, its NCCL collectives included (rt_xplan.c decides which plans qualify and has
 * the members vote: a graph holding an NCCL operation must be launched by every member or by
 * none). The execution's "inputs" are the tensors it reads from channels, each copied into
 * its static copy as it comes; its results still held when it ends (kept in a field) are
 * answered with buffers of the host's own, filled from the arena once the graph ran. A check
 * that diverges tells the caller at once (on_diverge), before it runs anything, so that the
 * other members never wait for a vote behind GPU work that waits for them.
 */
#ifndef DAFT_RT_GPU_GRAPH_H
#define DAFT_RT_GPU_GRAPH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "daftrt.h"
#include "rt_gpu.h"

/* What the graphs need from the GPU runtime (rt_gpu.c; a fake in the unit test). Device work
 * is in compute-stream order. */
typedef struct RtGraphBackend {
    void *arg;
    /* the std operation on the GPU, as without graphs (its result allocated through alloc,
     * which rtgraph_alloc may answer) */
    int (*call)(void *arg, const char *fn, const DaftValue *args, int nargs, DaftValue *out);
    int (*alloc)(void *arg, DaftTensor *t); /* t's shape set: device memory outside any arena */
    void (*drop)(void *arg, DaftValue *v);  /* frees a std operation's result (or error) */
    void (*release)(void *arg, void *p, size_t nb); /* memory alloc gave (nb bytes), once NCCL
                                                      * no longer reads it */
    int (*copy)(void *arg, void *dst, const void *src, size_t nb); /* device to device */
    void (*use)(void *arg, const DaftTensor *t); /* compute waits for NCCL writing t, if any */
    int (*capture_begin)(void *arg);
    /* ends the capture; ok: instantiate it into *exec (0), else discard it */
    int (*capture_end)(void *arg, bool ok, void **exec);
    int (*launch)(void *arg, void *exec);
    void (*exec_free)(void *arg, void *exec);
    /* an NCCL collective (RtGpuOps.collective): out gets a new tensor, or is used when its
     * data is set; on_compute: on the compute stream (always so for a record run or captured) */
    int (*coll)(void *arg, void *comm, int kind, int reduce, int root, const DaftTensor *in,
                DaftTensor *out, bool on_compute, char *err, size_t cap);
} RtGraphBackend;

typedef struct RtGraphs RtGraphs;

typedef struct RtGraphStats {
    uint64_t launches;  /* calls answered by a graph */
    uint64_t captured;  /* sites captured */
    uint64_t diverged;  /* sites given up after they were ready to be captured */
    uint64_t iter_launches; /* executions of compiled plans launched as one graph */
} RtGraphStats;

RtGraphs *rtgraph_new(const RtGraphBackend *b);
void rtgraph_free(RtGraphs *g); /* every arena and graph (the process is done with them) */

/* Brackets one method call of a plan's call site `key` (args: its arguments, borrowed for
 * the call). rtgraph_end gets the method's result: 0, or < 0 with err set (a failed launch or
 * copy; the result is then unchanged and should be replaced by an error). */
void rtgraph_begin(RtGraphs *g, uint64_t key, const DaftValue *args, int nargs);
int rtgraph_end(RtGraphs *g, DaftValue *result, char *err, size_t cap);

/* A std operation of the body (every one goes through here while graphs are on). */
int rtgraph_std(RtGraphs *g, const char *fn, const DaftValue *args, int nargs, DaftValue *out);
/* The GPU runtime's allocation asks first: 1 when t got an arena buffer (an operation being
 * run into its buffer, or captured), 0 when it is the caller's to allocate, -1 when no
 * allocation may happen (during a capture: the caller fails it). */
int rtgraph_alloc(RtGraphs *g, DaftTensor *t);
/* The GPU runtime's free asks first: true when p is arena memory, which the caller must not
 * free (the site's graph reuses it). */
bool rtgraph_on_free(RtGraphs *g, const void *p);
/* Device memory is about to be copied or read by the host in a method body (not by a std
 * operation): a recorded call is then not graphed, a checked one runs its operations so far. */
void rtgraph_on_copy(RtGraphs *g);

/* ---- whole iterations of a compiled plan; key: (plan << 32) | 0xffffffff */
/* (the votes, RTGRAPH_NEVER ... RTGRAPH_BUSY, are rt_gpu.h's) */
/* Before the execution's first op. Returns this actor's vote when it is known now: NOT_NOW
 * (recording: the execution runs as usual) or NEVER (given up); or CHECK: the execution's
 * operations are only checked against the record, and the vote comes from
 * rtgraph_iter_verdict, or from on_diverge(arg) when the check fails before it or in it (the
 * vote is then NEVER; the operations so far run right after it returns, the rest as usual);
 * or BUSY: another execution is paused in its graph (only one at a time): this one runs as
 * usual, votes NOT_NOW and makes no other rtgraph_iter_* call. */
int rtgraph_iter_begin(RtGraphs *g, uint64_t key, void (*on_diverge)(void *), void *arg);
void rtgraph_iter_input(RtGraphs *g, const DaftValue *v); /* a value the execution read */
/* The collective hook (the GPU runtime's collective asks first while graphs are on). */
int rtgraph_coll(RtGraphs *g, void *comm, int kind, int reduce, int root, const DaftTensor *in,
                 DaftTensor *out, bool on_compute, char *err, size_t cap);
/* A device-to-device copy (a tensor value duplicated, as when a field keeps an argument):
 * 1 when it was done or will be (recorded, or answered in a whole iteration's check: dst is
 * filled once the graph ran), else 0: the caller copies (and a call site's record or check
 * treats it as rtgraph_on_copy does). */
int rtgraph_copy(RtGraphs *g, const DaftTensor *dst, const DaftTensor *src);
/* Where the execution's last operation has been issued and only its tail (writes, frees)
 * is left: this actor's vote (LAUNCH: checked and captured; NOT_NOW or NEVER as above). */
int rtgraph_iter_verdict(RtGraphs *g);
/* After the votes, for an actor that voted LAUNCH: launch (every member voted LAUNCH) or
 * else run the record as usual; then the kept results are filled. < 0: err set (the
 * execution's results are wrong: the plan must fail). */
int rtgraph_iter_go(RtGraphs *g, bool launch, char *err, size_t cap);
void rtgraph_iter_end(RtGraphs *g); /* after the tail */
/* The execution waits mid-way (for a channel): what runs meanwhile (tasks) runs as usual. */
void rtgraph_iter_pause(RtGraphs *g, bool pause);

/* The communicator `comm` is about to be aborted or destroyed: the graphs holding its
 * operations go first. NCCL's abort and destroy wait until no graph holds the communicator,
 * and a graph's hold ends only when it is destroyed (and its launches are done: the abort
 * ends their kernels). */
void rtgraph_forget_comm(RtGraphs *g, const void *comm);

RtGraphStats rtgraph_stats(const RtGraphs *g);
/* Plan `plan` was unloaded: its sites go, with their arenas and graphs (buffers the host
 * still holds are released at their free). */
void rtgraph_forget(RtGraphs *g, uint32_t plan);

#endif
