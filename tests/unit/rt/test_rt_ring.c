/* Ring buffer: empty/full, wrap-around, chunked messages, several readers (also in other
 * processes, one slow), a writer killed mid-message (the reader must get DAFT_EPEER, not
 * hang), timeouts. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "rt_internal.h"

static RtWait rt_wait_for(double s)
{
    RtWait w = {rt_deadline(s), NULL, NULL, NULL, false};
    return w;
}

static void test_empty_and_full(void **st)
{
    (void)st;
    RtRing r;
    assert_int_equal(rt_ring_create(&r, 4, 64, 1), 0);
    RtRingReader rd;
    rt_ring_reader_init(&rd, &r, 0);
    RtBuf m = {0};
    assert_int_equal(rt_ring_try_read(&rd, &m), 0); /* empty */
    RtWait w = rt_wait_for(0.05);
    assert_int_equal(rt_ring_read(&rd, &m, &w), DAFT_ETIMEDOUT);
    for (int i = 0; i < 4; i++)
        assert_int_equal(rt_ring_write(&r, &i, sizeof i, &w), 0);
    w = rt_wait_for(0.05);
    int x = 99;
    assert_int_equal(rt_ring_write(&r, &x, sizeof x, &w), DAFT_ETIMEDOUT); /* full */
    assert_int_equal(rt_ring_pending(&r, 0), 4);
    for (int i = 0; i < 4; i++) {
        assert_int_equal(rt_ring_try_read(&rd, &m), 1);
        assert_int_equal(m.len, sizeof(int));
        assert_memory_equal(m.p, &i, sizeof i);
    }
    assert_int_equal(rt_ring_try_read(&rd, &m), 0);
    rt_buf_free(&m);
    rt_ring_reader_free(&rd);
    rt_ring_destroy(&r);
}

static void test_wrap_around(void **st)
{
    (void)st;
    RtRing r;
    assert_int_equal(rt_ring_create(&r, 8, 64, 1), 0);
    RtRingReader rd;
    rt_ring_reader_init(&rd, &r, 0);
    RtBuf m = {0};
    RtWait w = rt_wait_for(1);
    char msg[64];
    for (int i = 0; i < 1000; i++) { /* many laps, varying sizes incl. 0 and full slot */
        size_t n = (size_t)(i % 65);
        memset(msg, 'a' + i % 26, sizeof msg);
        assert_int_equal(rt_ring_write(&r, msg, n, &w), 0);
        if (i % 3 == 0)
            assert_int_equal(rt_ring_write(&r, msg, n, &w), 0);
        assert_int_equal(rt_ring_read(&rd, &m, &w), 1);
        assert_int_equal(m.len, n);
        if (n)
            assert_int_equal(m.p[n - 1], 'a' + i % 26);
        if (i % 3 == 0)
            assert_int_equal(rt_ring_read(&rd, &m, &w), 1);
    }
    rt_buf_free(&m);
    rt_ring_reader_free(&rd);
    rt_ring_destroy(&r);
}

static void test_chunked(void **st)
{
    (void)st;
    RtRing r;
    assert_int_equal(rt_ring_create(&r, 4, 64, 1), 0);
    RtRingReader rd;
    rt_ring_reader_init(&rd, &r, 0);
    RtBuf m = {0};
    uint8_t big[200];
    for (size_t i = 0; i < sizeof big; i++)
        big[i] = (uint8_t)i;
    RtWait w = rt_wait_for(1);
    assert_int_equal(rt_ring_write(&r, big, sizeof big, &w), 0); /* 4 chunks: fills ring */
    assert_int_equal(rt_ring_try_read(&rd, &m), 1);
    assert_int_equal(m.len, sizeof big);
    assert_memory_equal(m.p, big, sizeof big);
    rt_buf_free(&m);
    rt_ring_reader_free(&rd);
    rt_ring_destroy(&r);
}

static void test_several_readers(void **st)
{
    (void)st;
    RtRing r;
    assert_int_equal(rt_ring_create(&r, 4, 64, 3), 0);
    RtRingReader rd[3];
    for (int i = 0; i < 3; i++)
        rt_ring_reader_init(&rd[i], &r, (uint32_t)i);
    RtBuf m = {0};
    RtWait w = rt_wait_for(0.05);
    for (int i = 0; i < 4; i++)
        assert_int_equal(rt_ring_write(&r, &i, sizeof i, &w), 0);
    /* Readers 0 and 1 consume everything; reader 2 only one: one slot frees. */
    for (int k = 0; k < 2; k++)
        for (int i = 0; i < 4; i++)
            assert_int_equal(rt_ring_try_read(&rd[k], &m), 1);
    assert_int_equal(rt_ring_try_read(&rd[2], &m), 1);
    int x = 4;
    assert_int_equal(rt_ring_write(&r, &x, sizeof x, &w), 0);
    assert_int_equal(rt_ring_write(&r, &x, sizeof x, &w), DAFT_ETIMEDOUT);
    for (int i = 1; i <= 4; i++) {
        assert_int_equal(rt_ring_try_read(&rd[2], &m), 1);
        assert_memory_equal(m.p, &i, sizeof i);
    }
    assert_int_equal(rt_ring_try_read(&rd[0], &m), 1);
    assert_memory_equal(m.p, &x, sizeof x);
    rt_buf_free(&m);
    for (int i = 0; i < 3; i++)
        rt_ring_reader_free(&rd[i]);
    rt_ring_destroy(&r);
}

/* Cross-process: a child writes 10,000 numbered messages, the parent checks order. */
static void test_cross_process(void **st)
{
    (void)st;
    RtRing r;
    assert_int_equal(rt_ring_create(&r, 16, 128, 1), 0);
    pid_t pid = fork();
    if (pid == 0) {
        RtWait w = rt_wait_for(10);
        for (uint32_t i = 0; i < 10000; i++)
            if (rt_ring_write(&r, &i, sizeof i, &w))
                _exit(1);
        _exit(0);
    }
    RtRingReader rd;
    rt_ring_reader_init(&rd, &r, 0);
    RtBuf m = {0};
    RtWait w = rt_wait_for(10);
    for (uint32_t i = 0; i < 10000; i++) {
        assert_int_equal(rt_ring_read(&rd, &m, &w), 1);
        uint32_t got;
        memcpy(&got, m.p, 4);
        assert_int_equal(got, i);
    }
    int status;
    waitpid(pid, &status, 0);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    rt_buf_free(&m);
    rt_ring_reader_free(&rd);
    rt_ring_destroy(&r);
}

/* Message i of test_cross_process_readers: i % 300 bytes (0 to 5 chunks of 64), each
 * byte a function of i and its position, so a slot overwritten too early shows. */
static size_t msg_len(uint32_t i) { return i % 300; }
static uint8_t msg_byte(uint32_t i, size_t j) { return (uint8_t)(i * 7u + j * 13u); }

/* Reads n messages as reader idx, one of them slow now and then; exits 0 if all are intact
 * and in order. */
static void check_reader(RtRing *r, uint32_t idx, uint32_t n, bool slow)
{
    RtRingReader rd;
    rt_ring_reader_init(&rd, r, idx);
    RtBuf m = {0};
    RtWait w = rt_wait_for(60);
    for (uint32_t i = 0; i < n; i++) {
        if (slow && i % 97 == 0)
            usleep(200);
        if (rt_ring_read(&rd, &m, &w) != 1 || m.len != msg_len(i))
            _exit(1);
        for (size_t j = 0; j < m.len; j++)
            if (m.p[j] != msg_byte(i, j))
                _exit(2);
    }
    _exit(0);
}

/* One writer, two reader processes (one slow), a ring of 4 slots and messages of 0 to 5
 * chunks, written whole, from pieces, and in place: every reader gets every message intact
 * and in order. The writer may only reuse a slot that the slowest reader has passed, and a
 * reader may only take a chunk once all of it is written. */
static void test_cross_process_readers(void **st)
{
    (void)st;
    enum { N = 2000 }; /* (~5,000 chunks: 20,000 messages took over 20 s beside 2 CPU hogs) */
    RtRing r;
    assert_int_equal(rt_ring_create(&r, 4, 64, 2), 0);
    pid_t kids[2];
    for (uint32_t k = 0; k < 2; k++)
        if ((kids[k] = fork()) == 0)
            check_reader(&r, k, N, k == 1);
    RtWait w = rt_wait_for(60);
    uint8_t buf[300];
    for (uint32_t i = 0; i < N; i++) {
        size_t n = msg_len(i);
        for (size_t j = 0; j < n; j++)
            buf[j] = msg_byte(i, j);
        if (i % 3 == 0 && n <= rt_ring_payload(&r)) {
            uint8_t *slot;
            assert_int_equal(rt_ring_reserve(&r, &slot, &w), 0);
            memcpy(slot, buf, n);
            rt_ring_commit(&r, n);
        } else if (i % 3 == 1) {
            RtPiece two[2] = {{buf, n / 3, NULL}, {buf + n / 3, n - n / 3, NULL}};
            assert_int_equal(rt_ring_writev(&r, two, 2, &w), 0);
        } else {
            assert_int_equal(rt_ring_write(&r, buf, n, &w), 0);
        }
    }
    for (int k = 0; k < 2; k++) {
        int status;
        assert_int_equal(waitpid(kids[k], &status, 0), kids[k]);
        assert_true(WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), 0);
    }
    rt_ring_destroy(&r);
}

static bool never_alive(void *arg)
{
    (void)arg;
    return false;
}

/* A writer that dies between storing a chunk's sequence number and publishing the head
 * leaves the head behind the reader's cursor once the chunk is read. A wait must still end
 * at its deadline, or when told the writer is dead, not loop for ever. (Writes the chunk as
 * rt_ring_writev does, minus the publish: the slot layout is u32 seq, len, flags, pad.) */
static void test_writer_died_before_publish(void **st)
{
    (void)st;
    RtRing r;
    assert_int_equal(rt_ring_create(&r, 4, 64, 1), 0);
    uint32_t *slot = (uint32_t *)r.slots;
    slot[1] = 5;
    slot[2] = 3; /* FIRST | LAST */
    memcpy(slot + 4, "hello", 5);
    __atomic_store_n(&slot[0], 1u, __ATOMIC_RELEASE);
    RtRingReader rd;
    rt_ring_reader_init(&rd, &r, 0);
    RtBuf m = {0};
    assert_int_equal(rt_ring_try_read(&rd, &m), 1);
    assert_memory_equal(m.p, "hello", 5);
    assert_int_equal(rt_ring_pending(&r, 0), 0);
    RtWait w = rt_wait_for(0.2);
    int64_t t0 = rt_now_ns();
    assert_int_equal(rt_ring_wait(&rd, &w), DAFT_ETIMEDOUT);
    assert_true(rt_now_ns() - t0 < 2000000000LL);
    RtWait dead = {rt_deadline(5), never_alive, NULL, NULL, false};
    assert_int_equal(rt_ring_wait(&rd, &dead), DAFT_EPEER);
    rt_buf_free(&m);
    rt_ring_reader_free(&rd);
    rt_ring_destroy(&r);
}

static bool pidfd_alive(void *arg)
{
    struct pollfd p = {*(int *)arg, POLLIN, 0};
    return poll(&p, 1, 0) == 0;
}

/* The writer is SIGKILLed in the middle of a chunked message (blocked on the full ring):
 * the reader gets the chunks that exist, then DAFT_EPEER — promptly, not a hang. */
static void test_writer_killed_mid_write(void **st)
{
    (void)st;
    RtRing r;
    assert_int_equal(rt_ring_create(&r, 4, 64, 1), 0);
    pid_t pid = fork();
    if (pid == 0) {
        static uint8_t big[64 * 10];
        RtWait w = rt_wait_for(30);
        rt_ring_write(&r, big, sizeof big, &w); /* blocks after 4 of 10 chunks */
        _exit(0);
    }
    int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
    assert_true(pidfd >= 0);
    while (rt_ring_pending(&r, 0) < 4) /* deterministic: wait until the ring is full */
        usleep(1000);
    kill(pid, SIGKILL);
    RtRingReader rd;
    rt_ring_reader_init(&rd, &r, 0);
    RtBuf m = {0};
    RtWait w = {rt_deadline(5), pidfd_alive, NULL, &pidfd, false};
    int64_t t0 = rt_now_ns();
    assert_int_equal(rt_ring_read(&rd, &m, &w), DAFT_EPEER);
    assert_true(rt_now_ns() - t0 < 1000000000LL);
    waitpid(pid, NULL, 0);
    close(pidfd);
    rt_buf_free(&m);
    rt_ring_reader_free(&rd);
    rt_ring_destroy(&r);
}

static void test_bad_params(void **st)
{
    (void)st;
    RtRing r;
    assert_int_equal(rt_ring_create(&r, 3, 64, 1), DAFT_EINVAL);  /* not a power of two */
    assert_int_equal(rt_ring_create(&r, 4, 64, 0), DAFT_EINVAL);
    assert_int_equal(rt_ring_create(&r, 4, 64, RT_RING_MAX_READERS + 1), DAFT_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty_and_full),
        cmocka_unit_test(test_wrap_around),
        cmocka_unit_test(test_chunked),
        cmocka_unit_test(test_several_readers),
        cmocka_unit_test(test_cross_process),
        cmocka_unit_test(test_cross_process_readers),
        cmocka_unit_test(test_writer_died_before_publish),
        cmocka_unit_test(test_writer_killed_mid_write),
        cmocka_unit_test(test_bad_params),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
