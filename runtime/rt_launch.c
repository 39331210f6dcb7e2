/* rt_launch.c — forking actor processes and watching them through pidfds.
 *
 * Why pidfd: it becomes readable the moment the child exits, needs no SIGCHLD handler
 * (no global state), and cannot be confused by pid reuse. Why PR_SET_PDEATHSIG: the
 * kernel kills the child when the driver dies, whatever the cause, so no orphan survives. */
#define _GNU_SOURCE
#include "rt_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif

/* An actor reads nothing from the driver's standard input, and must not move it: a child
 * that ends through exit() (a C method, a fatal error) has the C library set the offset of a
 * seekable stdin, which it shares with the driver, back to where its copy of the driver's
 * stdio buffer stood, and daft-repl would read its script again. */
static void detach_stdin(void)
{
    int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (null < 0)
        return;
    dup2(null, STDIN_FILENO); /* (dup2 clears O_CLOEXEC on the copy) */
    if (null != STDIN_FILENO)
        close(null);
}

/* SPEC 15.7: an actor does not take the driver's Ctrl-C. A terminal sends SIGINT to its
 * whole foreground process group, the actors included; the driver decides what follows
 * (its interrupt, daft_rt_interrupt) and stops them. So an actor ignores SIGINT, and takes
 * SIGTERM plainly: the driver's handlers (inherited by fork) are never an actor's. The
 * two signals are blocked across the fork so that neither reaches the child before this. */
static void child_signals(const sigset_t *mask)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = SIG_IGN;
    sigaction(SIGINT, &sa, NULL);
    sa.sa_handler = SIG_DFL;
    sigaction(SIGTERM, &sa, NULL);
    daft_rt_interrupt_clear(); /* (the driver's interrupt is not the actor's) */
    sigprocmask(SIG_SETMASK, mask, NULL);
}

int rt_launch_fork(RtProc *p, int track, void (*child_main)(void *arg), void *arg)
{
    memset(p, 0, sizeof *p);
    p->pidfd = -1;
    pid_t parent = getpid();
    sigset_t block, old;
    sigemptyset(&block);
    sigaddset(&block, SIGINT);
    sigaddset(&block, SIGTERM);
    sigprocmask(SIG_BLOCK, &block, &old);
    pid_t pid = fork();
    if (pid < 0) {
        sigprocmask(SIG_SETMASK, &old, NULL);
        return DAFT_ESYS;
    }
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent) /* the parent died before prctl took effect */
            _exit(127);
        child_signals(&old);
        detach_stdin();
        child_main(arg);
        _exit(0);
    }
    rt_kid_add(pid, track); /* (before an abort can run: it kills the child too) */
    sigprocmask(SIG_SETMASK, &old, NULL);
    p->pid = pid;
    p->pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
    if (p->pidfd < 0) {
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        rt_kid_del(pid);
        p->pid = 0;
        return DAFT_ESYS;
    }
    return 0;
}

bool rt_launch_exited(RtProc *p)
{
    if (p->exited)
        return true;
    if (p->pid <= 0)
        return true;
    struct pollfd pfd = {p->pidfd, POLLIN, 0};
    if (poll(&pfd, 1, 0) <= 0)
        return false;
    int st = 0;
    rt_kid_del(p->pid); /* (it has exited: an abort has nothing to kill, pid reuse aside) */
    if (waitpid(p->pid, &st, WNOHANG) != p->pid)
        return false;
    p->exited = true;
    p->status = st;
    return true;
}

void rt_launch_reap(RtProc *p, int64_t timeout_ns)
{
    if (p->pid <= 0 || p->exited)
        return;
    struct pollfd pfd = {p->pidfd, POLLIN, 0};
    int ms = (int)(timeout_ns / 1000000);
    while (poll(&pfd, 1, ms) < 0 && errno == EINTR)
        ;
    if (!rt_launch_exited(p)) {
        kill(p->pid, SIGKILL);
        int st = 0;
        while (waitpid(p->pid, &st, 0) < 0 && errno == EINTR)
            ;
        rt_kid_del(p->pid);
        p->exited = true;
        p->status = st;
    }
}

void rt_launch_describe(int status, char *buf, size_t cap)
{
    if (WIFSIGNALED(status) && WTERMSIG(status) == SIGSEGV) /* (what the driver's own crash says) */
        rt_fmt(buf, cap, "killed by signal %d (%s: a stack overflow, as from recursion too deep, or a "
               "bad memory access in a C extern)", SIGSEGV, strsignal(SIGSEGV));
    else if (WIFSIGNALED(status))
        rt_fmt(buf, cap, "killed by signal %d (%s)", WTERMSIG(status), strsignal(WTERMSIG(status)));
    else if (WIFEXITED(status) && WEXITSTATUS(status))
        rt_fmt(buf, cap, "exited with code %d", WEXITSTATUS(status));
    else
        rt_fmt(buf, cap, "exited normally");
}

void rt_launch_close(RtProc *p)
{
    if (p->pidfd >= 0)
        close(p->pidfd);
    p->pidfd = -1;
}
