/* death_results_kept.c (death_idle_text's too) — an actor that kills itself or is killed,
 * and a driver that waits for that without the runtime's help (so the runtime learns of
 * the death only when it next sends or waits). */
#include <daft/gen.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <linux/sockios.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

int64_t t_pid(DaftActorCtx *ctx)
{
    (void)ctx;
    return getpid();
}

/* Dies once everything it wrote to its sockets has left them (a SIGKILL resets a
 * connection, and the kernel drops what it still held back), so that the driver's socket
 * holds all of its completions. */
int64_t t_die_now(DaftActorCtx *ctx)
{
    (void)ctx;
    for (int fd = 0; fd < 1024; fd++) {
        struct stat st;
        int queued = 0;
        if (fstat(fd, &st) || !S_ISSOCK(st.st_mode))
            continue;
        for (int i = 0; i < 60000 && !ioctl(fd, SIOCOUTQ, &queued) && queued > 0; i++)
            usleep(1000);
    }
    raise(SIGKILL);
    pause();
    return 0;
}

/* Waits until process `pid` (a child of the driver, not reaped yet) is a zombie. */
int64_t t_wait_dead(DaftActorCtx *ctx, int64_t pid)
{
    (void)ctx;
    char path[64], buf[256];
    snprintf(path, sizeof path, "/proc/%lld/stat", (long long)pid);
    for (int i = 0; i < 60000; i++) {
        FILE *f = fopen(path, "r");
        if (!f)
            return 1;
        size_t n = fread(buf, 1, sizeof buf - 1, f);
        fclose(f);
        buf[n] = 0;
        char *p = strrchr(buf, ')');
        if (p && p[1] == ' ' && (p[2] == 'Z' || p[2] == 'X'))
            return 1;
        usleep(1000);
    }
    return 0;
}

int64_t t_kill(DaftActorCtx *ctx, int64_t pid)
{
    (void)ctx;
    return kill((pid_t)pid, SIGKILL);
}
