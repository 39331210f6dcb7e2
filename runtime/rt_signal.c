/* rt_signal.c — the driver's interrupts and aborts (SPEC 15.7; daftrt.h).
 *
 * Why a flag for the first Ctrl-C: the program must then end through its ordinary error
 * path, with the runtime intact, so the handler only sets rt_intr. Every blocking wait of
 * the driver checks it where it checks its deadline (rt_wait_over) and ends as if the
 * deadline had passed: nothing consumed, the state a timed-out wait leaves; the public
 * calls then say DAFT_EINTR, and daft_rt_shutdown stops the actors at once.
 *
 * Why an abort from the handler for a second Ctrl-C or SIGTERM: the driver may be
 * computing and reach no wait. daft_rt_abort makes only async-signal-safe calls: it kills
 * and reaps the actor processes listed in rt_kids (rt_launch.c keeps the list as it forks
 * and reaps them) and unlinks the trace's part files by names known in advance. */
#define _GNU_SOURCE
#include "rt_internal.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

_Atomic int rt_intr;

/* The local actor processes not reaped yet (0: a free slot). */
static volatile pid_t rt_kids[RT_MAX_ACTORS];
/* "PATH.part.TAG." while this driver writes a trace (else ""), and the highest track that
 * may have a part file: the actors' handles. */
static char rt_parts[640];
static volatile sig_atomic_t rt_parts_max;

void daft_rt_interrupt(void) { rt_intr = 1; }
bool daft_rt_interrupted(void) { return rt_intr != 0; }
void daft_rt_interrupt_clear(void) { rt_intr = 0; }

void rt_kid_add(pid_t pid, int track)
{
    for (int i = 0; i < RT_MAX_ACTORS; i++)
        if (!rt_kids[i]) {
            rt_kids[i] = pid;
            break;
        }
    if (track > rt_parts_max)
        rt_parts_max = track;
}

void rt_kid_del(pid_t pid)
{
    for (int i = 0; pid > 0 && i < RT_MAX_ACTORS; i++)
        if (rt_kids[i] == pid)
            rt_kids[i] = 0;
}

void rt_abort_note_trace(const char *path, const char *tag)
{
    rt_fmt(rt_parts, sizeof rt_parts, "%s.part.%s.", path, tag);
}

/* Appends the decimal v to buf[n..cap) (async-signal-safe). */
static size_t put_uint(char *buf, size_t n, size_t cap, unsigned v)
{
    char d[16];
    int k = 0;
    do
        d[k++] = (char)('0' + v % 10);
    while ((v /= 10) > 0);
    while (k > 0 && n + 1 < cap)
        buf[n++] = d[--k];
    buf[n] = 0;
    return n;
}

void daft_rt_abort(int sig)
{
    for (int i = 0; i < RT_MAX_ACTORS; i++)
        if (rt_kids[i] > 0)
            kill(rt_kids[i], SIGKILL);
    for (int i = 0; i < RT_MAX_ACTORS; i++)
        if (rt_kids[i] > 0) {
            while (waitpid(rt_kids[i], NULL, 0) < 0 && errno == EINTR)
                ;
            rt_kids[i] = 0;
        }
    if (rt_parts[0]) {
        char name[sizeof rt_parts + 16];
        size_t n = strlen(rt_parts);
        memcpy(name, rt_parts, n);
        for (int t = 1; t <= rt_parts_max; t++) {
            put_uint(name, n, sizeof name, (unsigned)t);
            unlink(name);
        }
    }
    struct sigaction dfl;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    sigaction(sig, &dfl, NULL);
    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, sig);
    sigprocmask(SIG_UNBLOCK, &s, NULL); /* (blocked while its handler runs) */
    raise(sig);
    _exit(128 + sig);
}
