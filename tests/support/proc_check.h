/* proc_check.h — checks of what a test leaves behind, shared by the runtime's unit tests
 * (tests/unit/rt) and the fault programs (tests/fault): entries in /dev/shm, child
 * processes, and the monotonic clock their "within 1 s" assertions measure with.
 * Header-only (static inline) so each test program stays one source file. Linux only. */
#ifndef DAFT_TESTS_PROC_CHECK_H
#define DAFT_TESTS_PROC_CHECK_H

#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>

/* Entries in /dev/shm that could be ours (the runtime uses memfd and should add none). */
static inline int pc_count_dev_shm(void)
{
    DIR *d = opendir("/dev/shm");
    int n = 0;
    if (!d)
        return 0;
    /* Open MPI (another test may be running under mpirun) keeps its own segments here;
     * they are not ours. */
    static const char *foreign[] = {"vader", "sm_segment", "ompi", "pmix", "psm", "orte"};
    for (struct dirent *e; (e = readdir(d));) {
        bool mine = e->d_name[0] != '.';
        for (size_t i = 0; mine && i < sizeof foreign / sizeof *foreign; i++)
            mine = strncmp(e->d_name, foreign[i], strlen(foreign[i])) != 0;
        n += mine;
    }
    closedir(d);
    return n;
}

/* True when this process has no child at all, live or zombie (waitpid says ECHILD). */
static inline bool pc_no_children(void)
{
    errno = 0;
    pid_t p = waitpid(-1, NULL, WNOHANG);
    return p == -1 && errno == ECHILD;
}

static inline int64_t pc_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

#endif
