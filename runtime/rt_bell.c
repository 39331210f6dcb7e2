/* rt_bell.c — doorbells: one futex word per process that all its inbound channels ring.
 *
 * Why: a process reads from several rings (control queue, peers' transfers) but a futex
 * waits on one word. Writers bump `seq` after publishing and only pay for FUTEX_WAKE when
 * someone sleeps. Ordering (all seq_cst): the writer publishes, bumps seq, then reads
 * sleepers; the sleeper announces itself, then FUTEX_WAIT compares seq with its snapshot
 * taken before it last checked its rings, so a wake-up cannot be lost. */
#include "rt_internal.h"

void rt_bell_ring(RtBell *b)
{
    atomic_fetch_add(&b->seq, 1);
    if (atomic_load(&b->sleepers))
        rt_futex_wake(&b->seq, 1 << 30);
}

uint32_t rt_bell_snapshot(RtBell *b) { return atomic_load(&b->seq); }

void rt_bell_wait(RtBell *b, uint32_t snap, int64_t timeout_ns)
{
    if (timeout_ns <= 0)
        return;
    atomic_fetch_add(&b->sleepers, 1);
    if (atomic_load(&b->seq) == snap)
        rt_futex_wait(&b->seq, snap, timeout_ns);
    atomic_fetch_sub(&b->sleepers, 1);
}
