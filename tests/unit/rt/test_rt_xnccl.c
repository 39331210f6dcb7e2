/* The GPU section of a PLAN_LOAD (rt_xnccl_load): a communicator per pair of actors that an
 * NCCL channel joins, each channel naming its other ends by (communicator, rank). Written
 * here as rt_compiled.c writes it; malformed sections must be refused, never indexed. No
 * GPU is needed: parsing creates no communicator.
 *
 * Then the transfer protocol of one NCCL channel (rt_xnccl_write / rt_xnccl_try_read),
 * writer and reader in this process over a fake GPU table that logs the NCCL calls and
 * counts buffers: when the receive is posted, what crosses the ring, and that every
 * buffer is freed, with and without pre-posted receives (DAFT_NCCL_PREPOST). */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rt_internal.h"
#include "rt_xnccl.h"

#define NCHANS 6
#define NGROUPS 1

typedef struct Peer {
    uint32_t comm;
    int32_t rank;
} Peer;

typedef struct Comm {
    uint32_t boot, n;
    int32_t rank;
} Comm;

/* One NCCL channel of the section: static shape f32 [4, 8] (or the shape sent first). */
static void put_chan_meta(RtBuf *b, uint32_t ch, const Peer *peers, uint32_t npeers, bool meta_first)
{
    rt_buf_u32(b, ch);
    rt_buf_u32(b, npeers);
    for (uint32_t i = 0; i < npeers; i++) {
        rt_buf_u32(b, peers[i].comm);
        rt_buf_u32(b, (uint32_t)peers[i].rank);
    }
    rt_buf_u8(b, meta_first);
    rt_buf_u8(b, DAFT_RT_F32);
    rt_buf_u32(b, 2);             /* rank */
    rt_buf_u64(b, 4);
    rt_buf_u64(b, 8);
}

static void put_chan(RtBuf *b, uint32_t ch, const Peer *peers, uint32_t npeers)
{
    put_chan_meta(b, ch, peers, npeers, false);
}

static void put_comms(RtBuf *b, const Comm *c, uint32_t n)
{
    rt_buf_u32(b, n);
    for (uint32_t i = 0; i < n; i++) {
        rt_buf_u32(b, c[i].boot);
        rt_buf_u32(b, c[i].n);
        rt_buf_u32(b, (uint32_t)c[i].rank);
    }
}

static RtXNccl *load(RtBuf *b, char *err, size_t cap)
{
    RtRd r = rt_rd(b->p, b->len);
    return rt_xnccl_load(&r, NCHANS, NGROUPS, err, cap);
}

/* This actor is plan actor 1 of a pipeline 0 -> 1 -> 2 plus a group {0, 1, 2}: pair
 * communicators {0,1} (it is rank 1) and {1,2} (rank 0), and the group's (rank 1). */
static const Comm three[3] = {{3, 2, 1}, {4, 2, 0}, {5, 3, 1}};

static void test_pipeline_stage(void **st)
{
    (void)st;
    RtBuf b = {0};
    put_comms(&b, three, 3);
    rt_buf_u32(&b, 2);
    put_chan(&b, 0, (Peer[]){{0, 0}}, 1); /* reads channel 0 from actor 0 (rank 0 of comm 0) */
    put_chan(&b, 1, (Peer[]){{1, 1}}, 1); /* writes channel 1 to actor 2 (rank 1 of comm 1) */
    rt_buf_u32(&b, NGROUPS);
    rt_buf_u32(&b, 2);
    rt_buf_u8(&b, 0); /* prepost */
    char err[200] = "";
    RtXNccl *g = load(&b, err, sizeof err);
    assert_non_null(g);
    assert_true(rt_xnccl_chan(g, 0));
    assert_true(rt_xnccl_chan(g, 1));
    assert_false(rt_xnccl_chan(g, 2));
    assert_false(rt_xnccl_chan(g, NCHANS + 3));
    assert_int_equal(rt_xnccl_group(g, 0), 2);
    assert_int_equal(rt_xnccl_group(g, 1), -1);
    assert_true(rt_xnccl_setup_pending(g));
    assert_null(rt_xnccl_error(g));
    rt_xnccl_free(g);
    rt_buf_free(&b);
}

/* A writer with two readers, each over its own pair communicator. */
static void test_two_readers(void **st)
{
    (void)st;
    const Comm c[2] = {{3, 2, 0}, {4, 2, 0}};
    RtBuf b = {0};
    put_comms(&b, c, 2);
    rt_buf_u32(&b, 1);
    put_chan(&b, 2, (Peer[]){{0, 1}, {1, 1}}, 2);
    rt_buf_u32(&b, NGROUPS);
    rt_buf_u32(&b, (uint32_t)-1);
    rt_buf_u8(&b, 0); /* prepost */
    char err[200] = "";
    RtXNccl *g = load(&b, err, sizeof err);
    assert_non_null(g);
    assert_true(rt_xnccl_chan(g, 2));
    assert_int_equal(rt_xnccl_group(g, 0), -1);
    rt_xnccl_free(g);
    rt_buf_free(&b);
}

/* Each malformed peer list is refused with the same message. */
static void refused(const Comm *c, uint32_t nc, const Peer *peers, uint32_t npeers)
{
    RtBuf b = {0};
    put_comms(&b, c, nc);
    rt_buf_u32(&b, 1);
    put_chan(&b, 1, peers, npeers);
    rt_buf_u32(&b, NGROUPS);
    rt_buf_u32(&b, (uint32_t)-1);
    rt_buf_u8(&b, 0); /* prepost */
    char err[200] = "";
    assert_null(load(&b, err, sizeof err));
    assert_string_equal(err, "malformed GPU section");
    rt_buf_free(&b);
}

static void test_bad_peers(void **st)
{
    (void)st;
    const Comm outsider[2] = {{3, 2, 1}, {4, 2, -1}}; /* not a member of comm 1 */
    refused(three, 3, (Peer[]){{7, 0}}, 1);       /* no communicator 7 */
    refused(three, 3, (Peer[]){{0, 1}}, 1);       /* its own rank */
    refused(three, 3, (Peer[]){{0, 2}}, 1);       /* rank past the communicator's size */
    refused(three, 3, (Peer[]){{0, -1}}, 1);      /* negative rank */
    refused(outsider, 2, (Peer[]){{1, 0}}, 1);    /* a communicator it is not in */
    refused(three, 3, (Peer[]){{0, 0}}, 0);       /* no other end at all */
}

static void test_truncated_and_duplicate(void **st)
{
    (void)st;
    RtBuf b = {0};
    put_comms(&b, three, 3);
    rt_buf_u32(&b, 2);
    put_chan(&b, 0, (Peer[]){{0, 0}}, 1);
    put_chan(&b, 0, (Peer[]){{0, 0}}, 1); /* channel 0 twice */
    rt_buf_u32(&b, NGROUPS);
    rt_buf_u32(&b, 2);
    rt_buf_u8(&b, 0); /* prepost */
    char err[200] = "";
    assert_null(load(&b, err, sizeof err));
    rt_buf_free(&b);

    RtBuf t = {0};
    put_comms(&t, three, 3);
    rt_buf_u32(&t, 1);
    put_chan(&t, 0, (Peer[]){{0, 0}}, 1);
    rt_buf_u32(&t, NGROUPS);
    rt_buf_u32(&t, 2);
    rt_buf_u8(&t, 0); /* prepost */
    for (size_t len = 0; len < t.len; len++) { /* every cut short of the whole is refused */
        RtRd r = rt_rd(t.p, len);
        RtXNccl *g = rt_xnccl_load(&r, NCHANS, NGROUPS, err, sizeof err);
        assert_null(g);
    }
    rt_buf_free(&t);
}

/* ---------------------------------------------------------------- the transfer protocol */

/* The fake GPU: buffers are malloc'd; NCCL calls are logged in order as "W:send",
 * "R:recv", ... (who = the side whose RtXNccl is calling: set before each call). */
static struct {
    char log[1024];
    const char *who;
    int allocs, frees, aborts, sends, recvs, holds, releases;
    bool fail_alloc, fail_recv, no_grouping;
} F;

static void flog(const char *what)
{
    size_t n = strlen(F.log);
    snprintf(F.log + n, sizeof F.log - n, "%s%s:%s", n ? " " : "", F.who, what);
}

static int f_device(void) { return 0; }
static int f_alloc(DaftTensor *t, char *err, size_t cap)
{
    if (F.fail_alloc) {
        snprintf(err, cap, "out of device memory (fake)");
        return DAFT_ENOMEM;
    }
    int64_t n = 1;
    for (int i = 0; i < t->rank; i++)
        n *= t->dims[i];
    t->data = calloc((size_t)n, 4);
    t->device = DAFT_DEVICE_GPU(0);
    F.allocs++;
    return 0;
}
static void f_free(DaftTensor *t)
{
    if (!t->data)
        return;
    free(t->data);
    t->data = NULL;
    F.frees++;
}
static int f_nccl_id(uint8_t id[RT_NCCL_ID_BYTES], char *err, size_t cap)
{
    (void)err;
    (void)cap;
    memset(id, 7, RT_NCCL_ID_BYTES);
    return 0;
}
static int f_comm_init(RtGpuComm **out, const uint8_t id[RT_NCCL_ID_BYTES], int n, int rank,
                       double timeout_s, bool (*alive)(void *), void *arg, char *err, size_t cap)
{
    (void)id, (void)n, (void)rank, (void)timeout_s, (void)alive, (void)arg, (void)err, (void)cap;
    static char comm;
    *out = (RtGpuComm *)&comm;
    return 0;
}
static int f_group_start(void) { return 0; }
static int f_group_end(RtGpuComm *c, char *err, size_t cap)
{
    (void)c, (void)err, (void)cap;
    return 0;
}
static int f_send(RtGpuComm *c, const DaftTensor *t, int peer, char *err, size_t cap)
{
    (void)c, (void)peer, (void)err, (void)cap;
    assert_non_null(t->data);
    assert_int_equal(t->rank, 2); /* always the channel's static shape */
    assert_int_equal(t->dims[0] * t->dims[1], 32);
    flog("send");
    F.sends++;
    return 0;
}
static int f_recv(RtGpuComm *c, DaftTensor *t, int peer, char *err, size_t cap)
{
    (void)c, (void)peer;
    if (F.fail_recv) {
        snprintf(err, cap, "ncclRecv failed (fake)");
        return DAFT_EPEER;
    }
    flog("recv");
    F.recvs++;
    return f_alloc(t, err, cap);
}
static int held_recv(DaftTensor *t, const char *what, char *err, size_t cap)
{
    if (F.fail_recv) {
        snprintf(err, cap, "ncclRecv failed (fake)");
        return DAFT_EPEER;
    }
    flog(what);
    F.recvs++;
    F.holds++;
    return f_alloc(t, err, cap);
}
static int f_recv_held(RtGpuComm *c, DaftTensor *t, int peer, char *err, size_t cap)
{
    (void)c, (void)peer;
    return held_recv(t, "recv(held)", err, cap);
}
static int f_recv_held_grouped(RtGpuComm *c, DaftTensor *t, int peer, char *err, size_t cap)
{
    (void)c, (void)peer;
    return held_recv(t, "recv(held, in the send's group)", err, cap);
}
static bool f_held_groupable(RtGpuComm *c)
{
    (void)c;
    return !F.no_grouping;
}
static void f_release(RtGpuComm *c)
{
    (void)c;
    flog("release");
    F.releases++;
}
static void f_comm_abort(RtGpuComm *c)
{
    (void)c;
    F.aborts++;
}
static void f_comm_destroy(RtGpuComm *c) { (void)c; }

static const RtGpuOps fake = {
    .abi = RT_GPU_ABI, .device = f_device, .alloc = f_alloc, .free = f_free,
    .nccl_id = f_nccl_id, .comm_init = f_comm_init, .group_start = f_group_start,
    .group_end = f_group_end, .send = f_send, .recv = f_recv, .recv_held = f_recv_held,
    .recv_held_grouped = f_recv_held_grouped, .held_groupable = f_held_groupable, .release = f_release, .comm_abort = f_comm_abort,
    .comm_destroy = f_comm_destroy,
};

/* The shared-memory channels: one FIFO per channel (writer and reader share them). */
#define QCAP 8
static struct {
    DaftValue v[NCHANS][QCAP];
    int head[NCHANS], n[NCHANS];
} Q;

static void q_send(void *arg, uint32_t ch, int32_t target, const DaftValue *v)
{
    (void)arg;
    (void)target;
    assert_true(Q.n[ch] < QCAP);
    DaftValue *slot = &Q.v[ch][(Q.head[ch] + Q.n[ch]++) % QCAP];
    assert_int_equal(daft_value_copy(slot, v), 0);
}
static int q_try_read(void *arg, uint32_t ch, DaftValue *slot)
{
    (void)arg;
    if (!Q.n[ch])
        return 0;
    *slot = Q.v[ch][Q.head[ch]];
    Q.head[ch] = (Q.head[ch] + 1) % QCAP;
    Q.n[ch]--;
    return 1;
}
static bool q_alive(void *arg)
{
    (void)arg;
    return true;
}
static const RtXIo io = {q_send, q_try_read, q_alive, NULL};

/* Writer (actor 0) and reader (actor 1) of channel 0, static f32 [4, 8] (or shape first),
 * over their pair communicator (boot channel 1); both set up. */
static void pair(bool meta_first, bool prepost, RtXNccl **w, RtXNccl **r)
{
    memset(&F, 0, sizeof F);
    memset(&Q, 0, sizeof Q);
    for (int side = 0; side < 2; side++) {
        RtBuf b = {0};
        const Comm c = {1, 2, side};
        put_comms(&b, &c, 1);
        rt_buf_u32(&b, 1);
        put_chan_meta(&b, 0, (Peer[]){{0, 1 - side}}, 1, meta_first);
        rt_buf_u32(&b, NGROUPS);
        rt_buf_u32(&b, (uint32_t)-1);
        rt_buf_u8(&b, prepost); /* (the driver's decision, the same for both) */
        char err[200] = "";
        RtXNccl *g = load(&b, err, sizeof err);
        assert_non_null(g);
        rt_xnccl_use_ops(g, &fake);
        assert_int_equal(rt_xnccl_setup(g, &io), 1); /* (the writer, rank 0, goes first) */
        *(side ? r : w) = g;
        rt_buf_free(&b);
    }
}

static DaftValue gpu_tensor(void)
{
    DaftValue v = daft_value_none();
    v.kind = DAFT_V_TENSOR;
    v.as.tensor.dtype = DAFT_RT_F32;
    v.as.tensor.rank = 2;
    v.as.tensor.dims[0] = 4;
    v.as.tensor.dims[1] = 8;
    char err[100];
    assert_int_equal(f_alloc(&v.as.tensor, err, sizeof err), 0);
    return v;
}

/* Frees both sides: every buffer the fake GPU handed out is freed exactly once. */
static void done(RtXNccl *w, RtXNccl *r)
{
    int aborted = F.aborts; /* (before the frees, which abort every communicator) */
    F.who = "R";
    rt_xnccl_free(r);
    F.who = "W";
    rt_xnccl_free(w);
    assert_int_equal(F.allocs, F.frees); /* no buffer lost, none freed twice */
    if (!aborted) { /* every send met its receive; every held receive was released */
        assert_int_equal(F.sends, F.recvs);
        assert_int_equal(F.holds, F.releases);
    }
}

/* One pre-posted transfer of a tensor: the receive is posted (once) when the READ op is
 * reached, before the writer writes; the data then arrives in that buffer. */
static void tensor_transfer_prepost(RtXNccl *w, RtXNccl *r)
{
    DaftValue slot = daft_value_none();
    F.log[0] = 0;
    F.who = "R";
    assert_int_equal(rt_xnccl_try_read(r, &io, 0, &slot), 0);
    assert_int_equal(rt_xnccl_try_read(r, &io, 0, &slot), 0);
    assert_string_equal(F.log, "R:recv(held)");
    DaftValue x = gpu_tensor();
    F.who = "W";
    rt_xnccl_write(w, &io, 0, -1, &x, -1);
    assert_string_equal(F.log, "R:recv(held) W:send");
    F.who = "R";
    assert_int_equal(rt_xnccl_try_read(r, &io, 0, &slot), 1);
    assert_int_equal(slot.kind, DAFT_V_TENSOR);
    assert_int_equal(slot.as.tensor.dims[1], 8);
    assert_string_equal(F.log, "R:recv(held) W:send R:release");
    f_free(&slot.as.tensor);
    f_free(&x.as.tensor);
}

/* One transfer of v: the reader's READ is reached first (it posts, when it may), then the
 * writer writes, then the reader takes the value (returned). */
static DaftValue transfer(RtXNccl *w, RtXNccl *r, const DaftValue *v)
{
    DaftValue slot = daft_value_none();
    F.who = "R";
    assert_int_equal(rt_xnccl_try_read(r, &io, 0, &slot), 0);
    F.who = "W";
    rt_xnccl_write(w, &io, 0, -1, v, -1);
    F.who = "R";
    assert_int_equal(rt_xnccl_try_read(r, &io, 0, &slot), 1);
    return slot;
}

static void test_prepost_data(void **st)
{
    (void)st;
    RtXNccl *w, *r;
    pair(false, true, &w, &r);
    tensor_transfer_prepost(w, r);
    tensor_transfer_prepost(w, r);
    assert_null(rt_xnccl_error(r));
    assert_int_equal(F.aborts, 0);
    done(w, r);
}

/* Pre-posting, a value that is not a tensor of the static shape (an error here): it
 * crosses the ring as [value] and a buffer of the static shape satisfies the receive; the
 * reader frees what it received and gets the value. */
static void test_prepost_misfit(void **st)
{
    (void)st;
    RtXNccl *w, *r;
    pair(false, true, &w, &r);
    DaftValue e = daft_value_error("stage 1 failed: boom");
    DaftValue slot = transfer(w, r, &e);
    assert_int_equal(slot.kind, DAFT_V_ERROR);
    assert_string_equal(slot.as.error.msg, "stage 1 failed: boom");
    assert_string_equal(F.log, "R:recv(held) W:send R:release");
    assert_null(rt_xnccl_error(w));
    assert_null(rt_xnccl_error(r));
    assert_int_equal(F.aborts, 0);
    daft_value_free(&slot);
    daft_value_free(&e);
    assert_int_equal(F.allocs, 2); /* the receive's buffer and the writer's scratch */
    tensor_transfer_prepost(w, r); /* the next transfer still pairs up */
    int before = F.allocs;          /* a second misfit reuses the writer's scratch */
    e = daft_value_error("again");
    slot = transfer(w, r, &e);
    assert_string_equal(slot.as.error.msg, "again");
    assert_int_equal(F.allocs, before + 1); /* (the receive's buffer only) */
    daft_value_free(&slot);
    daft_value_free(&e);
    done(w, r);
}

/* Pre-posting, a writer that cannot take part (here: no memory for the buffer that would
 * satisfy the receive) sends its error bare; the reader, whose receive would never finish,
 * aborts its communicators and gets the error. */
static void test_prepost_writer_failed(void **st)
{
    (void)st;
    RtXNccl *w, *r;
    pair(false, true, &w, &r);
    DaftValue slot = daft_value_none();
    F.who = "R";
    assert_int_equal(rt_xnccl_try_read(r, &io, 0, &slot), 0);
    DaftValue e = daft_value_i64(3); /* a CPU value on a tensor channel */
    F.who = "W";
    F.fail_alloc = true;
    rt_xnccl_write(w, &io, 0, -1, &e, -1);
    F.fail_alloc = false;
    assert_string_equal(F.log, "R:recv(held)");
    assert_non_null(rt_xnccl_error(w));
    assert_int_equal(F.aborts, 1);
    F.who = "R";
    assert_int_equal(rt_xnccl_try_read(r, &io, 0, &slot), 1);
    assert_int_equal(slot.kind, DAFT_V_ERROR);
    assert_non_null(strstr(slot.as.error.msg, "out of device memory (fake)"));
    assert_int_equal(F.aborts, 2);
    assert_non_null(rt_xnccl_error(r));
    daft_value_free(&slot);
    done(w, r);
}

/* Pre-posting, a reader whose receive could not be posted (it failed, and aborted): the
 * writer's value still reaches it intact, not misread as shape metadata. */
static void test_prepost_reader_failed(void **st)
{
    (void)st;
    RtXNccl *w, *r;
    pair(false, true, &w, &r);
    DaftValue e = daft_value_error("stage 0 failed");
    F.fail_recv = true; /* (the reader's post fails: it aborts) */
    DaftValue slot = transfer(w, r, &e);
    F.fail_recv = false;
    assert_int_equal(F.aborts, 1);
    assert_non_null(strstr(rt_xnccl_error(r), "ncclRecv failed (fake)"));
    assert_int_equal(slot.kind, DAFT_V_ERROR);
    assert_string_equal(slot.as.error.msg, "stage 0 failed");
    daft_value_free(&slot);
    /* a tensor after that: the reader's failure, not a buffer */
    DaftValue x = gpu_tensor();
    slot = transfer(w, r, &x);
    assert_int_equal(slot.kind, DAFT_V_ERROR);
    assert_non_null(strstr(slot.as.error.msg, "ncclRecv failed (fake)"));
    daft_value_free(&slot);
    /* a failed reader posts nothing more; a writer's [value] is still its value */
    slot = transfer(w, r, &e);
    assert_int_equal(slot.kind, DAFT_V_ERROR);
    assert_string_equal(slot.as.error.msg, "stage 0 failed");
    daft_value_free(&slot);
    daft_value_free(&e);
    f_free(&x.as.tensor);
    done(w, r);
}

/* Pre-posting, a plan stopped with a receive posted and its control value never come: the
 * buffer is freed with the plan. */
static void test_prepost_untaken(void **st)
{
    (void)st;
    RtXNccl *w, *r;
    pair(false, true, &w, &r);
    DaftValue slot = daft_value_none();
    F.who = "R";
    assert_int_equal(rt_xnccl_try_read(r, &io, 0, &slot), 0);
    assert_int_equal(F.allocs, 1);
    assert_string_equal(F.log, "R:recv(held)");
    F.recvs--; /* (the plan stops here: no send will meet it, nothing releases it) */
    F.holds--;
    done(w, r);
}

/* Without pre-posting (the default), and on channels whose shape is sent first: the
 * receive is posted only once the control value is there; a value that is not a tensor
 * crosses the ring alone, with no NCCL operation on either side. */
static void test_post_after_control(void **st)
{
    (void)st;
    for (int meta = 0; meta < 2; meta++) {
        RtXNccl *w, *r;
        pair(meta, meta, &w, &r); /* (pre-posting has no effect on a shape-first channel) */
        DaftValue slot = daft_value_none();
        F.who = "R";
        assert_int_equal(rt_xnccl_try_read(r, &io, 0, &slot), 0);
        assert_string_equal(F.log, "");
        DaftValue e = daft_value_error("boom");
        F.who = "W";
        rt_xnccl_write(w, &io, 0, -1, &e, -1);
        F.who = "R";
        assert_int_equal(rt_xnccl_try_read(r, &io, 0, &slot), 1);
        assert_int_equal(slot.kind, DAFT_V_ERROR);
        assert_string_equal(F.log, "");
        daft_value_free(&slot);
        daft_value_free(&e);
        DaftValue x = gpu_tensor();
        F.who = "W";
        rt_xnccl_write(w, &io, 0, -1, &x, -1);
        F.who = "R";
        assert_int_equal(rt_xnccl_try_read(r, &io, 0, &slot), 1);
        assert_string_equal(F.log, "W:send R:recv");
        assert_int_equal(slot.kind, DAFT_V_TENSOR);
        f_free(&slot.as.tensor);
        f_free(&x.as.tensor);
        assert_int_equal(F.aborts, 0);
        done(w, r);
    }
}

/* A round trip a -> b -> a over one pair communicator (channel 0 there, 1 back), pre-posted:
 * a's write posts the receive of its next READ (channel 1) in the send's own group; that
 * READ then posts nothing more and takes the value. Without pre-posted receives, or when
 * the next NCCL operation is not that READ (next_read -1), nothing is fused. */
enum { FUSE_OK, FUSE_NOT_GROUPABLE, FUSE_RECV_FAILS };

static void round_trip(bool prepost, bool fuse, int how)
{
    memset(&F, 0, sizeof F);
    F.no_grouping = how == FUSE_NOT_GROUPABLE;
    memset(&Q, 0, sizeof Q);
    RtXNccl *g[2];
    for (int side = 0; side < 2; side++) {
        RtBuf b = {0};
        const Comm c = {1, 2, side};
        put_comms(&b, &c, 1);
        rt_buf_u32(&b, 2);
        put_chan(&b, 0, (Peer[]){{0, 1 - side}}, 1);
        put_chan(&b, 1, (Peer[]){{0, 1 - side}}, 1);
        rt_buf_u32(&b, NGROUPS);
        rt_buf_u32(&b, (uint32_t)-1);
        rt_buf_u8(&b, prepost);
        char err[200] = "";
        g[side] = load(&b, err, sizeof err);
        assert_non_null(g[side]);
        rt_xnccl_use_ops(g[side], &fake);
        assert_int_equal(rt_xnccl_setup(g[side], &io), 1);
        rt_buf_free(&b);
    }
    RtXNccl *a = g[0], *b = g[1];
    DaftValue x = gpu_tensor(), at_b = daft_value_none(), back = daft_value_none();
    F.log[0] = 0;
    F.who = "B";
    assert_int_equal(rt_xnccl_try_read(b, &io, 0, &at_b), 0);
    F.who = "A";
    F.fail_recv = how == FUSE_RECV_FAILS;
    rt_xnccl_write(a, &io, 0, -1, &x, fuse ? 1 : -1);
    F.fail_recv = false;
    F.who = "B";
    assert_int_equal(rt_xnccl_try_read(b, &io, 0, &at_b), 1);
    assert_int_equal(at_b.kind, DAFT_V_TENSOR);
    rt_xnccl_write(b, &io, 1, -1, &at_b, -1);
    F.who = "A";
    assert_int_equal(rt_xnccl_try_read(a, &io, 1, &back), 1);
    if (how == FUSE_RECV_FAILS) { /* the write failed: its READ holds the error, nothing hangs */
        assert_int_equal(back.kind, DAFT_V_ERROR);
        assert_non_null(strstr(back.as.error.msg, "ncclRecv failed (fake)"));
        assert_true(F.aborts > 0);
        daft_value_free(&back);
    } else {
        assert_int_equal(back.kind, DAFT_V_TENSOR);
    }
    if (how == FUSE_RECV_FAILS)
        assert_string_equal(F.log, "B:recv(held) A:send B:release B:send");
    else if (prepost && fuse && how == FUSE_OK)
        assert_string_equal(F.log, "B:recv(held) A:send A:recv(held, in the send's group) B:release "
                                   "B:send A:release");
    else if (prepost)
        assert_string_equal(F.log, "B:recv(held) A:send B:release B:send A:recv(held) A:release");
    else
        assert_string_equal(F.log, "A:send B:recv B:send A:recv");
    f_free(&x.as.tensor);
    f_free(&at_b.as.tensor);
    f_free(&back.as.tensor);
    done(a, b);
}

static void test_round_trip_fused(void **st)
{
    (void)st;
    round_trip(true, true, FUSE_OK);
    round_trip(true, false, FUSE_OK);
    round_trip(false, true, FUSE_OK);
    round_trip(true, true, FUSE_NOT_GROUPABLE); /* (a shared lane, no warm-up): as unfused */
    round_trip(true, true, FUSE_RECV_FAILS);
}

/* ---------------------------------------------------------------- collectives */

static int f_collective(RtGpuComm *c, int kind, int reduce, int root, const DaftTensor *in,
                        DaftTensor *out, bool on_compute, char *err, size_t cap)
{
    (void)c, (void)kind, (void)reduce, (void)root, (void)on_compute;
    flog("collective");
    *out = *in;
    out->data = NULL;
    return f_alloc(out, err, cap);
}

/* Member rank 0 of a group of two (communicator 0, boot channel 1), set up. */
static RtXNccl *group_member(void)
{
    memset(&F, 0, sizeof F);
    memset(&Q, 0, sizeof Q);
    RtBuf b = {0};
    const Comm c = {1, 2, 0};
    put_comms(&b, &c, 1);
    rt_buf_u32(&b, 0);       /* no NCCL channel */
    rt_buf_u32(&b, NGROUPS);
    rt_buf_u32(&b, 0);       /* group 0: communicator 0 */
    rt_buf_u8(&b, 0);
    char err[200] = "";
    RtXNccl *g = load(&b, err, sizeof err);
    assert_non_null(g);
    rt_buf_free(&b);
    static RtGpuOps ops;
    ops = fake;
    ops.collective = f_collective;
    rt_xnccl_use_ops(g, &ops);
    assert_int_equal(rt_xnccl_setup(g, &io), 1);
    daft_value_free(&Q.v[1][0]); /* (the unique id it sent rank 1) */
    F.who = "M";
    return g;
}

/* A member that cannot take part in a collective (its input failed, or is not a tensor on
 * its GPU) calls no NCCL operation, aborts its communicators, and keeps the reason, which
 * its plan then reports to the driver (rt_xplan_take_failure), as the other members are
 * inside the collective waiting for it. Its result is the input's error, unchanged. */
static void test_coll_member_cannot_take_part(void **st)
{
    (void)st;
    RtXNccl *g = group_member();
    DaftValue x = gpu_tensor();
    DaftValue res = rt_xnccl_coll(g, 0, 0, 0, 0, &x, false);
    assert_int_equal(res.kind, DAFT_V_TENSOR);
    assert_null(rt_xnccl_error(g));
    assert_string_equal(F.log, "M:collective");
    f_free(&res.as.tensor);

    DaftValue bad = daft_value_error("actor 'W#1', method 'f': boom");
    F.log[0] = 0;
    res = rt_xnccl_coll(g, 0, 0, 0, 0, &bad, false);
    assert_int_equal(res.kind, DAFT_V_ERROR);
    assert_string_equal(res.as.error.msg, "actor 'W#1', method 'f': boom");
    assert_string_equal(F.log, "");
    assert_int_equal(F.aborts, 1);
    assert_string_equal(rt_xnccl_error(g),
                        "NCCL collective: this member's input failed: actor 'W#1', method 'f': boom");
    daft_value_free(&res);
    res = rt_xnccl_coll(g, 0, 0, 0, 0, &x, false); /* later ones fail at once, the same way */
    assert_int_equal(res.kind, DAFT_V_ERROR);
    assert_string_equal(F.log, "");
    daft_value_free(&res);
    daft_value_free(&bad);
    f_free(&x.as.tensor);
    rt_xnccl_free(g);
    assert_int_equal(F.allocs, F.frees);

    g = group_member();
    DaftValue i = daft_value_i64(3);
    res = rt_xnccl_coll(g, 0, 0, 0, 0, &i, false);
    assert_int_equal(res.kind, DAFT_V_ERROR);
    assert_string_equal(F.log, "");
    assert_int_equal(F.aborts, 1);
    assert_string_equal(rt_xnccl_error(g), "NCCL collective: this member's input is not a tensor on its GPU");
    daft_value_free(&res);
    rt_xnccl_free(g);
    assert_int_equal(F.allocs, F.frees);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pipeline_stage),
        cmocka_unit_test(test_two_readers),
        cmocka_unit_test(test_bad_peers),
        cmocka_unit_test(test_truncated_and_duplicate),
        cmocka_unit_test(test_prepost_data),
        cmocka_unit_test(test_prepost_misfit),
        cmocka_unit_test(test_prepost_writer_failed),
        cmocka_unit_test(test_prepost_reader_failed),
        cmocka_unit_test(test_prepost_untaken),
        cmocka_unit_test(test_post_after_control),
        cmocka_unit_test(test_round_trip_fused),
        cmocka_unit_test(test_coll_member_cannot_take_part),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
