/* The GPU section of a PLAN_LOAD (rt_xnccl_load): a communicator per pair of actors that an
 * NCCL channel joins, each channel naming its other ends by (communicator, rank). Written
 * here as rt_compiled.c writes it; malformed sections must be refused, never indexed. No
 * GPU is needed: parsing creates no communicator. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

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

/* One NCCL channel of the section: static shape f32 [4, 8]. */
static void put_chan(RtBuf *b, uint32_t ch, const Peer *peers, uint32_t npeers)
{
    rt_buf_u32(b, ch);
    rt_buf_u32(b, npeers);
    for (uint32_t i = 0; i < npeers; i++) {
        rt_buf_u32(b, peers[i].comm);
        rt_buf_u32(b, (uint32_t)peers[i].rank);
    }
    rt_buf_u8(b, 0);              /* meta_first */
    rt_buf_u8(b, DAFT_RT_F32);
    rt_buf_u32(b, 2);             /* rank */
    rt_buf_u64(b, 4);
    rt_buf_u64(b, 8);
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
    char err[200] = "";
    assert_null(load(&b, err, sizeof err));
    rt_buf_free(&b);

    RtBuf t = {0};
    put_comms(&t, three, 3);
    rt_buf_u32(&t, 1);
    put_chan(&t, 0, (Peer[]){{0, 0}}, 1);
    rt_buf_u32(&t, NGROUPS);
    rt_buf_u32(&t, 2);
    for (size_t len = 0; len < t.len; len++) { /* every cut short of the whole is refused */
        RtRd r = rt_rd(t.p, len);
        RtXNccl *g = rt_xnccl_load(&r, NCHANS, NGROUPS, err, sizeof err);
        assert_null(g);
    }
    rt_buf_free(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pipeline_stage),
        cmocka_unit_test(test_two_readers),
        cmocka_unit_test(test_bad_peers),
        cmocka_unit_test(test_truncated_and_duplicate),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
