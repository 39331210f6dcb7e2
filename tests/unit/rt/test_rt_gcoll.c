/* Interpreted collectives over NCCL, actor side (rt_gcoll.c), without a GPU: every member
 * of a communicator is a thread of this process calling rt_gcoll_run, over a fake GPU table
 * whose "NCCL" collectives meet at a barrier. What NCCL would turn into a silent hang (a
 * member that stays out of a collective the others entered, or that enters a different
 * one) is a barrier that times out here, and fails the test. Checked: the values of every
 * kind, and that every member ends with the same result or the same error and has made
 * the same NCCL calls, when an input failed, is not a tensor, has another shape, and when
 * one member has no (fake) GPU memory for its result or cannot upload its input; that a
 * member whose GPU fails where the others are already inside NCCL stops (RT_GCOLL_STRANDED)
 * and its death, not a hang, ends their wait; that every buffer is freed once the
 * communicators are destroyed. The fake's launch records a member's part and its wait meets
 * the others, as NCCL kernels run after their launch. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "rt_gpu.h"
#include "rt_internal.h"

#define MAXN 4
#define BIG (64 * 1024) /* allocations of this many bytes or more fail on W.oom_rank */

/* ---------------------------------------------------------------- the fake GPU */

struct RtGpuComm {
    int rank;
    bool aborted;
};

typedef struct Part {
    int kind, reduce, root;
    DaftRtDtype dtype;
    int64_t count;
    const void *send;
    void *recv;
    bool pending;      /* launched, not yet waited for */
} Part;

static struct {
    int n;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int arrived;
    unsigned long phase;
    bool hung, mismatch;
    bool dead[MAXN];   /* stranded members: the actor would have stopped */
    Part part[MAXN];
    int calls[MAXN];   /* collectives entered, per rank */
    int oom_rank;      /* its allocations of BIG bytes or more fail (-1: none) */
    int copy_fail_rank, copy_fail_at; /* that rank's copy number copy_fail_at (from 1) fails */
    int copies[MAXN];
    atomic_int live;   /* buffers allocated and not freed */
} W = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER, .oom_rank = -1, .copy_fail_rank = -1};

static __thread int t_rank = -1;

static bool any_dead(void)
{
    for (int r = 0; r < W.n; r++)
        if (W.dead[r])
            return true;
    return false;
}

/* Every member meets here; false when a member died, or after 3 s without the others
 * (the NCCL hang: W.hung). */
static bool barrier(void)
{
    pthread_mutex_lock(&W.mu);
    if (any_dead()) {
        pthread_mutex_unlock(&W.mu);
        return false;
    }
    unsigned long ph = W.phase;
    if (++W.arrived == W.n) {
        W.arrived = 0;
        W.phase++;
        pthread_cond_broadcast(&W.cv);
        pthread_mutex_unlock(&W.mu);
        return true;
    }
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += 3;
    while (W.phase == ph && !W.hung && !any_dead())
        if (pthread_cond_timedwait(&W.cv, &W.mu, &ts) == ETIMEDOUT) {
            W.hung = true;
            pthread_cond_broadcast(&W.cv);
        }
    bool ok = W.phase != ph;
    if (!ok)
        W.arrived--; /* (left without the others) */
    pthread_mutex_unlock(&W.mu);
    return ok;
}

static size_t nbytes(const DaftTensor *t) { return (size_t)daft_tensor_numel(t) * daft_rt_dtype_size(t->dtype); }

static int f_device(void) { return t_rank; }

static int f_alloc(DaftTensor *t, char *err, size_t cap)
{
    size_t nb = nbytes(t);
    if (t_rank == W.oom_rank && nb >= BIG) {
        snprintf(err, cap, "out of device memory (fake)");
        return DAFT_ENOMEM;
    }
    t->data = malloc(nb ? nb : 1);
    t->device = t_rank + 1;
    atomic_fetch_add(&W.live, 1);
    return 0;
}

static void f_free(DaftTensor *t)
{
    if (!t->data)
        return;
    free(t->data);
    t->data = NULL;
    atomic_fetch_sub(&W.live, 1);
}

static int f_to_host(const DaftTensor *t, void *dst, char *err, size_t cap)
{
    (void)err, (void)cap;
    memcpy(dst, t->data, nbytes(t));
    return 0;
}

static int f_from_host(DaftTensor *t, const void *src, char *err, size_t cap)
{
    (void)err, (void)cap;
    memcpy(t->data, src, nbytes(t));
    return 0;
}

static int f_upload(DaftTensor *t, const void *src, char *err, size_t cap)
{
    int rc = f_alloc(t, err, cap);
    if (!rc)
        memcpy(t->data, src, nbytes(t));
    return rc;
}

static int f_comm_init(RtGpuComm **out, const uint8_t id[RT_NCCL_ID_BYTES], int n, int rank, double timeout_s,
                       bool (*alive)(void *), void *arg, char *err, size_t cap)
{
    (void)id, (void)n, (void)timeout_s, (void)alive, (void)arg, (void)err, (void)cap;
    *out = calloc(1, sizeof **out);
    (*out)->rank = rank;
    return 0;
}

static void f_comm_abort(RtGpuComm *c) { c->aborted = true; }
static void f_comm_destroy(RtGpuComm *c) { free(c); }

#define REDUCE(T)                                                                              \
    do {                                                                                       \
        T *o = dst;                                                                            \
        for (int64_t i = 0; i < count; i++) {                                                  \
            T acc = ((const T *)W.part[0].send)[off + i];                                      \
            for (int q = 1; q < W.n; q++) {                                                    \
                T x = ((const T *)W.part[q].send)[off + i];                                    \
                acc = reduce == 1 ? (x > acc ? x : acc) : reduce == 2 ? (x < acc ? x : acc) : (T)(acc + x); \
            }                                                                                  \
            o[i] = reduce == 3 ? (T)(acc / W.n) : acc;                                         \
        }                                                                                      \
    } while (0)

/* Member r's output of the collective every member has described in W.part. */
static void compute(int r, void *dst)
{
    const Part *p = &W.part[r];
    int kind = p->kind, reduce = p->reduce;
    size_t esz = daft_rt_dtype_size(p->dtype);
    int64_t count = p->count, off = 0;
    if (kind == 1) {
        for (int q = 0; q < W.n; q++)
            memcpy((char *)dst + (size_t)q * (size_t)count * esz, W.part[q].send, (size_t)count * esz);
        return;
    }
    if (kind == 3) {
        memcpy(dst, W.part[p->root].send, (size_t)count * esz);
        return;
    }
    if (kind == 2) {
        count /= W.n;
        off = count * r;
    }
    if (p->dtype == DAFT_RT_F32)
        REDUCE(float);
    else if (p->dtype == DAFT_RT_I32)
        REDUCE(int32_t);
    else
        REDUCE(int64_t);
}

/* Launching records this member's part; the wait meets the others and computes. */
static int f_collective(RtGpuComm *c, int kind, int reduce, int root, const DaftTensor *in, DaftTensor *out,
                        bool on_compute, char *err, size_t cap)
{
    (void)on_compute;
    if (c->aborted) {
        snprintf(err, cap, "NCCL communicator aborted (fake)");
        return DAFT_EPEER;
    }
    if (!out->data) {
        *out = *in;
        out->data = NULL;
        out->device = 0;
        if (kind == 1)
            out->dims[0] *= W.n;
        else if (kind == 2)
            out->dims[0] /= W.n;
        if (f_alloc(out, err, cap))
            return DAFT_ENOMEM;
    }
    int r = c->rank;
    W.part[r] = (Part){kind, reduce, root, in->dtype, daft_tensor_numel(in), in->data ? in->data : out->data,
                       out->data, true};
    W.calls[r]++;
    return 0;
}

static int f_wait(RtGpuComm *const *c, int n, bool (*alive)(void *), void (*progress)(void *), void *arg, char *err,
                  size_t cap)
{
    (void)n, (void)alive, (void)progress, (void)arg;
    int r = t_rank;
    if (!W.part[r].pending)
        return 0;
    W.part[r].pending = false;
    if (c[0]->aborted || !barrier()) {
        snprintf(err, cap, W.hung ? "fake NCCL: a member never joined" : "a member died (fake)");
        return DAFT_EPEER;
    }
    for (int q = 0; q < W.n; q++)
        if (W.part[q].kind != W.part[r].kind || W.part[q].count != W.part[r].count ||
            W.part[q].dtype != W.part[r].dtype || W.part[q].root != W.part[r].root ||
            W.part[q].reduce != W.part[r].reduce)
            W.mismatch = true;
    if (!W.mismatch)
        compute(r, W.part[r].recv);
    barrier(); /* nobody reuses its input before every member has read it */
    return 0;
}

static int f_comm_copy(RtGpuComm *c, DaftTensor *t, void *host, bool to_device, bool (*alive)(void *),
                       void (*progress)(void *), void *arg, char *err, size_t cap)
{
    (void)c, (void)alive, (void)progress, (void)arg;
    if (t_rank == W.copy_fail_rank && ++W.copies[t_rank] == W.copy_fail_at) {
        snprintf(err, cap, "cudaMemcpyAsync failed (fake)");
        return DAFT_EPEER;
    }
    memcpy(to_device ? t->data : host, to_device ? host : t->data, nbytes(t));
    return 0;
}

static const RtGpuOps fake = {
    .abi = RT_GPU_ABI, .device = f_device, .alloc = f_alloc, .free = f_free, .to_host = f_to_host,
    .from_host = f_from_host, .upload = f_upload, .comm_init = f_comm_init, .comm_abort = f_comm_abort,
    .comm_destroy = f_comm_destroy, .collective = f_collective, .wait = f_wait, .comm_copy = f_comm_copy,
};

/* ---------------------------------------------------------------- members */

static RtGcoll *tabs[MAXN];
static const DaftActor members[MAXN] = {1, 2, 3, 4};
static const uint8_t some_id[DAFT_NCCL_ID_BYTES] = {1};

typedef struct Member {
    int rank;
    DaftNcclColl op;
    DaftValue in, out;
    int rc;
} Member;

static bool alive(void *arg) { (void)arg; return true; }

static void *member_main(void *arg)
{
    Member *m = arg;
    t_rank = m->rank;
    m->rc = rt_gcoll_run(&tabs[m->rank], &m->op, &m->in, alive, NULL, NULL, &m->out);
    if (m->rc == RT_GCOLL_STRANDED) { /* rt_exec.c stops the actor: its death frees the others */
        pthread_mutex_lock(&W.mu);
        W.dead[m->rank] = true;
        pthread_cond_broadcast(&W.cv);
        pthread_mutex_unlock(&W.mu);
    }
    return NULL;
}

/* A tensor of rows x cols f32, element i = base + i, on member r's fake GPU (or the host). */
static DaftValue tensor(int r, int rows, int cols, float base, bool on_gpu)
{
    int64_t dims[2] = {rows, cols};
    DaftValue v = daft_value_tensor(DAFT_RT_F32, 2, dims, NULL);
    float *x = v.as.tensor.data;
    for (int64_t i = 0; i < (int64_t)rows * cols; i++)
        x[i] = base + (float)i;
    if (on_gpu) {
        DaftTensor t = v.as.tensor;
        t.data = NULL;
        int saved = t_rank;
        t_rank = r;
        assert_int_equal(f_upload(&t, x, NULL, 0), 0);
        t_rank = saved;
        free(v.as.tensor.data);
        v.as.tensor = t;
    }
    return v;
}

/* Runs one operation on n members (inputs given), and checks that nobody hung and that
 * every member made the same NCCL calls. */
static void run_on(uint64_t key, Member *ms, int n, int kind, int reduce, int root)
{
    pthread_t th[MAXN];
    W.n = n;
    W.arrived = 0;
    for (int r = 0; r < n; r++) {
        ms[r].rank = r;
        ms[r].op = (DaftNcclColl){key, members, n, r, some_id, kind, reduce, root};
        ms[r].out = daft_value_none();
        W.calls[r] = 0;
        assert_int_equal(pthread_create(&th[r], NULL, member_main, &ms[r]), 0);
    }
    for (int r = 0; r < n; r++)
        pthread_join(th[r], NULL);
    assert_false(W.hung);
    assert_false(W.mismatch);
    for (int r = 1; r < n && !any_dead(); r++)
        assert_int_equal(W.calls[r], W.calls[0]);
}

static void run(Member *ms, int n, int kind, int reduce, int root) { run_on((uint64_t)(100 + n), ms, n, kind, reduce, root); }

static float value_at(const DaftValue *v, int64_t i) { return ((const float *)v->as.tensor.data)[i]; }

static void release(Member *ms, int n)
{
    for (int r = 0; r < n; r++) {
        daft_value_free(&ms[r].in);
        daft_value_free(&ms[r].out);
    }
}

/* Every member's result is an error holding `needle` (the same text when `same`). */
static void all_fail(Member *ms, int n, const char *needle, bool same)
{
    for (int r = 0; r < n; r++) {
        assert_int_equal(ms[r].out.kind, DAFT_V_ERROR);
        if (!strstr(ms[r].out.as.error.msg, needle))
            fail_msg("rank %d: '%s' lacks '%s'", r, ms[r].out.as.error.msg, needle);
        if (same)
            assert_string_equal(ms[r].out.as.error.msg, ms[0].out.as.error.msg);
    }
}

/* ---------------------------------------------------------------- tests */

static void test_values(void **st)
{
    (void)st;
    for (int n = 1; n <= MAXN; n++) {
        Member ms[MAXN];
        /* allreduce sum: element i is sum over r of (10 r + i) */
        for (int r = 0; r < n; r++)
            ms[r].in = tensor(r, 4, 8, 10.0f * (float)r, true);
        run(ms, n, RT_COLL_ALLREDUCE, 0, 0);
        for (int r = 0; r < n; r++) {
            assert_int_equal(ms[r].rc, 0);
            assert_int_equal(ms[r].out.kind, DAFT_V_TENSOR);
            assert_int_equal(ms[r].out.as.tensor.dims[0], 4);
            for (int i = 0; i < 32; i++)
                assert_float_equal(value_at(&ms[r].out, i), 10.0f * (float)(n * (n - 1) / 2) + (float)(n * i), 1e-4);
        }
        release(ms, n);
        /* allgather of equal parts: [4n, 8], rank q's rows at 4q; inputs from the host */
        for (int r = 0; r < n; r++)
            ms[r].in = tensor(r, 4, 8, 100.0f * (float)r, false);
        run(ms, n, RT_COLL_ALLGATHER, 0, 0);
        for (int r = 0; r < n; r++) {
            assert_int_equal(ms[r].out.as.tensor.dims[0], 4 * n);
            for (int q = 0; q < n; q++)
                assert_float_equal(value_at(&ms[r].out, 32 * q + 5), 100.0f * (float)q + 5.0f, 0);
        }
        release(ms, n);
        /* allgather of r + 1 rows: the parts, one per member */
        for (int r = 0; r < n; r++)
            ms[r].in = tensor(r, r + 1, 8, 100.0f * (float)r, true);
        run(ms, n, RT_COLL_ALLGATHER, 0, 0);
        for (int r = 0; r < n; r++) {
            const DaftValue *o = &ms[r].out;
            if (n == 1) {
                assert_int_equal(o->kind, DAFT_V_TENSOR);
                continue;
            }
            assert_int_equal(o->kind, DAFT_V_LIST);
            assert_int_equal(o->as.list.len, n);
            for (int q = 0; q < n; q++) {
                assert_int_equal(o->as.list.items[q].as.tensor.dims[0], q + 1);
                assert_float_equal(value_at(&o->as.list.items[q], 3), 100.0f * (float)q + 3.0f, 0);
            }
        }
        release(ms, n);
        /* reducescatter max of [4n, 8]: rank r gets rows 4r.. of the largest (the last rank's) */
        for (int r = 0; r < n; r++)
            ms[r].in = tensor(r, 4 * n, 8, (float)r, true);
        run(ms, n, RT_COLL_REDUCESCATTER, 1, 0);
        for (int r = 0; r < n; r++) {
            assert_int_equal(ms[r].out.as.tensor.dims[0], 4);
            assert_float_equal(value_at(&ms[r].out, 0), (float)(n - 1) + (float)(32 * r), 0);
        }
        release(ms, n);
        /* broadcast from the last rank; the others' inputs have another shape and are not read */
        for (int r = 0; r < n; r++)
            ms[r].in = tensor(r, r == n - 1 ? 6 : 2, 8, 7.0f * (float)r, true);
        run(ms, n, RT_COLL_BROADCAST, 0, n - 1);
        for (int r = 0; r < n; r++) {
            assert_int_equal(ms[r].rc, 0);
            assert_int_equal(ms[r].out.as.tensor.dims[0], 6);
            assert_float_equal(value_at(&ms[r].out, 47), 7.0f * (float)(n - 1) + 47.0f, 0);
        }
        release(ms, n);
    }
}

/* What every member must refuse alike: no NCCL operation on the data, same error. */
static void test_refusals(void **st)
{
    (void)st;
    int n = 3;
    Member ms[MAXN];
    for (int r = 0; r < n; r++)
        ms[r].in = r == 1 ? daft_value_error("actor 'W#2' (W) method 'make': boom") : tensor(r, 4, 8, 0, true);
    run(ms, n, RT_COLL_ALLREDUCE, 0, 0);
    all_fail(ms, n, "actor 'W#2' (W) method 'make': boom", true);
    for (int r = 0; r < n; r++)
        assert_int_equal(ms[r].rc, 0); /* a failed input is not a failure of the operation */
    assert_int_equal(W.calls[0], 1);   /* the headers only */
    release(ms, n);
    /* a failed input and one that is not a tensor: the failed one wins */
    for (int r = 0; r < n; r++)
        ms[r].in = r == 0 ? daft_value_i64(3) : r == 2 ? daft_value_error("late") : tensor(r, 4, 8, 0, true);
    run(ms, n, RT_COLL_ALLREDUCE, 0, 0);
    all_fail(ms, n, "late", true);
    release(ms, n);
    for (int r = 0; r < n; r++)
        ms[r].in = r == 2 ? tensor(r, 5, 8, 0, true) : tensor(r, 4, 8, 0, true);
    run(ms, n, RT_COLL_ALLREDUCE, 0, 0);
    all_fail(ms, n, "allreduce: shapes differ: rank 0 has [4, 8], rank 2 has [5, 8]", true);
    release(ms, n);
    for (int r = 0; r < n; r++)
        ms[r].in = tensor(r, 4, 8, 0, true);
    run(ms, n, RT_COLL_REDUCESCATTER, 0, 0);
    all_fail(ms, n, "not divisible by the group size 3", true);
    release(ms, n);
    /* a broadcast reads only the root's input: a failed other input is ignored */
    for (int r = 0; r < n; r++)
        ms[r].in = r == 0 ? daft_value_error("not read") : tensor(r, 4, 8, 1, true);
    run(ms, n, RT_COLL_BROADCAST, 0, 1);
    for (int r = 0; r < n; r++)
        assert_int_equal(ms[r].out.kind, DAFT_V_TENSOR);
    release(ms, n);
}

/* One member without memory for its result, or for its input: every member gets an error,
 * nobody waits; then the communicator works again. */
static void test_one_member_fails(void **st)
{
    (void)st;
    int n = 3;
    Member ms[MAXN];
    static const struct {
        int kind, root;
        bool host_input;
        const char *needle;
    } cases[] = {
        {RT_COLL_ALLREDUCE, 0, false, "rank 1 has no GPU memory for its result"},
        {RT_COLL_ALLGATHER, 0, false, "rank 1 has no GPU memory for its result"},
        {RT_COLL_BROADCAST, 0, false, "rank 1 has no GPU memory for its result"},   /* a receiver */
        {RT_COLL_BROADCAST, 1, false, "rank 1 has no GPU memory for its result"},   /* the root */
        {RT_COLL_ALLREDUCE, 0, true, "rank 1 could not copy its input to its GPU"},
    };
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        for (int r = 0; r < n; r++) /* [128, 256] f32: 128 KiB, over BIG */
            ms[r].in = tensor(r, 128, 256, 0, !(cases[k].host_input && r == 1));
        W.oom_rank = 1;
        run(ms, n, cases[k].kind, 0, cases[k].root);
        W.oom_rank = -1;
        all_fail(ms, n, cases[k].needle, false);
        release(ms, n);
        for (int r = 0; r < n; r++)
            ms[r].in = tensor(r, 128, 256, 1, true);
        run(ms, n, cases[k].kind, 0, cases[k].root);
        for (int r = 0; r < n; r++)
            assert_int_equal(ms[r].rc, 0);
        release(ms, n);
    }
}

/* A copy of a communicator's own buffers fails on one member (its GPU is failing) at each
 * point of an operation: that member reports RT_GCOLL_STRANDED (rt_exec.c then stops the
 * actor), and its death, not a timeout, ends the others' wait with an error. */
static void test_stranded(void **st)
{
    (void)st;
    int n = 3;
    Member ms[MAXN];
    for (int at = 1; at <= 4; at++) { /* header up, headers down, flag up, flag down */
        for (int r = 0; r < n; r++)
            ms[r].in = tensor(r, 4, 8, 0, true);
        W.copy_fail_rank = 1;
        W.copy_fail_at = at;
        W.copies[1] = 0;
        run_on((uint64_t)(200 + at), ms, n, RT_COLL_BROADCAST, 0, 0);
        W.copy_fail_rank = -1;
        assert_int_equal(ms[1].rc, RT_GCOLL_STRANDED);
        assert_non_null(strstr(ms[1].out.as.error.msg, "cudaMemcpyAsync failed (fake)"));
        for (int r = 0; r < n; r += 2) {
            assert_int_equal(ms[r].rc, DAFT_EPEER);
            assert_non_null(strstr(ms[r].out.as.error.msg, "a member died (fake)"));
        }
        release(ms, n);
        memset(W.dead, 0, sizeof W.dead);
    }
}

/* Destroying the communicators frees every buffer the fake GPU handed out. */
static void test_destroy_frees(void **st)
{
    (void)st;
    t_rank = 0;
    for (int r = 0; r < MAXN; r++) {
        for (int n = 1; n <= MAXN; n++)
            rt_gcoll_destroy(tabs[r], (uint64_t)(100 + n));
        for (int at = 1; at <= 4; at++)
            rt_gcoll_destroy(tabs[r], (uint64_t)(200 + at));
    }
    assert_int_equal(atomic_load(&W.live), 0);
}

int main(void)
{
    rt_gpu_set_active_for_test(&fake);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_values),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_one_member_fails),
        cmocka_unit_test(test_stranded),
        cmocka_unit_test(test_destroy_frees),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    rt_gpu_set_active_for_test(NULL);
    return rc;
}
