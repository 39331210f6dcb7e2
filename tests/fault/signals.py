#!/usr/bin/env python3
"""signals.py DAFTC DAFT_REPL SCENARIO — Ctrl-C, SIGTERM and get's early errors, end to end.

Compiles a program of tests/fault/signals/ with daftc, runs it (CPU-only) as a terminal would,
in a process group of its own with SIGINT and SIGTERM at their defaults (a shell's background
job would start with SIGINT ignored), signals it — the driver alone (`kill -INT PID`) or the
whole group (`kill -INT -PGID`, what a terminal's Ctrl-C does) — and checks what SPEC 15.7 and
10.3 say: the messages, the exit status (death by the signal), that it ends within a bound
(BOUND: a functional bound on "at once", not a measure), and that nothing is left: no process
of the program (this script is a child subreaper, so an actor the driver did not reap would be
its child, alive or a zombie), nothing new in /dev/shm, nothing in the run's TMPDIR but the
trace it asked for. Every wait is bounded; on any failure the whole group is killed.
"""
import ctypes
import os
import re
import selectors
import signal
import subprocess
import sys
import tempfile
import time

BOUND = 10.0  # seconds from the signal to the driver's exit
FAST = 3.0    # seconds from "ready" to get's error (the slow task runs for minutes)
ROOT = os.getcwd()
HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "signals")


class Fail(Exception):
    pass


def check(cond, what):
    if not cond:
        raise Fail(what)


class Run:
    """A program in a process group of its own; its stdout and stderr lines, timestamped."""

    def __init__(self, argv, env, stdin=None):
        def child():
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
        self.p = subprocess.Popen(argv, env=env, stdin=stdin if stdin is not None else subprocess.DEVNULL,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  start_new_session=True, preexec_fn=child)
        self.pgid = self.p.pid
        self.lines = {"out": [], "err": []}
        self.part = {"out": b"", "err": b""}
        self.sel = selectors.DefaultSelector()
        self.sel.register(self.p.stdout, selectors.EVENT_READ, "out")
        self.sel.register(self.p.stderr, selectors.EVENT_READ, "err")
        self.open = 2

    def pump(self, timeout):
        if not self.open:
            time.sleep(timeout)
            return
        for key, _ in self.sel.select(timeout):
            data = os.read(key.fileobj.fileno(), 65536)
            name = key.data
            if not data:
                self.sel.unregister(key.fileobj)
                self.open -= 1
                if self.part[name]:
                    self.lines[name].append((time.monotonic(), self.part[name].decode(errors="replace")))
                continue
            buf = self.part[name] + data
            *done, self.part[name] = buf.split(b"\n")
            now = time.monotonic()
            self.lines[name] += [(now, ln.decode(errors="replace")) for ln in done]

    def wait_line(self, name, pattern, timeout):
        """The time the first line of stream name matching pattern (a regex) was read."""
        end = time.monotonic() + timeout
        while True:
            for t, ln in self.lines[name]:
                if re.fullmatch(pattern, ln):
                    return t
            check(time.monotonic() < end, f"no line /{pattern}/ on std{name} within {timeout} s")
            check(self.open or self.p.poll() is None, f"the program ended without a line /{pattern}/ on std{name}")
            self.pump(0.05)

    def wait_exit(self, timeout):
        end = time.monotonic() + timeout
        while self.p.poll() is None:
            check(time.monotonic() < end, f"still running {timeout} s later")
            self.pump(0.02)
        t = time.monotonic()
        while self.open:
            self.pump(0.05)
        return self.p.returncode, t

    def signal(self, sig, group):
        if group:
            os.killpg(self.pgid, sig)
        else:
            os.kill(self.p.pid, sig)
        return time.monotonic()

    def text(self, name):
        return [ln for _, ln in self.lines[name]]

    def kill(self):
        try:
            os.killpg(self.pgid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def group_left(pgid):
    """Processes still in the group (zombies included)."""
    left = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                st = f.read()
        except OSError:
            continue
        fields = st[st.rindex(")") + 2:].split()
        if int(fields[2]) == pgid:
            left.append(f"{d} ({fields[0]})")
    return left


def reap_children():
    """Our children, zombies included (orphans come to us: we are a subreaper)."""
    found = []
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return found
        if pid == 0:  # one still running
            found.append("a running child")
            return found
        found.append(str(pid))


def shm():
    """/dev/shm entries that could be ours (as tests/support/proc_check.h: Open MPI's are not)."""
    foreign = ("vader", "sm_segment", "ompi", "pmix", "psm", "orte")
    try:
        return {e for e in os.listdir("/dev/shm") if not e.startswith(foreign)}
    except OSError:
        return set()


def nothing_left(run, tmp, shm_before, keep=()):
    left = group_left(run.pgid)
    kids = reap_children()
    check(not left, f"processes of the program left: {left}")
    check(not kids, f"children left (actors the driver did not reap): {kids}")
    new = shm() - shm_before
    check(not new, f"/dev/shm entries left: {sorted(new)}")
    files = sorted(set(os.listdir(tmp)) - set(keep))
    check(not files, f"files left in TMPDIR: {files}")


def compile_prog(daftc, name, out):
    src = os.path.relpath(os.path.join(HERE, name + ".daft"), ROOT)
    r = subprocess.run([daftc, src, "-o", out], capture_output=True, text=True)
    check(r.returncode == 0, f"daftc {src} failed:\n{r.stdout}{r.stderr}")


def expect_err(run, pattern):
    errs = run.text("err")
    check(any(re.fullmatch(pattern, ln) for ln in errs), f"stderr has no line /{pattern}/")


def no_err(run, pattern):
    errs = run.text("err")
    bad = [ln for ln in errs if re.search(pattern, ln)]
    check(not bad, f"stderr has unexpected lines: {bad}")


def interrupt(ctx, prog, group, expect, killed, env=None, after=0.3, sig=signal.SIGINT):
    """Signals the program once it is waiting; expects death by sig, the lines `expect` (regexes)
    and one `killed` line per actor named."""
    run = ctx.start([ctx.exe(prog)], env)
    run.wait_line("out", "ready", 60)
    time.sleep(after)  # (the driver is in its wait by now; a later signal only makes it so more)
    t = run.signal(sig, group)
    rc, t_exit = run.wait_exit(BOUND + 20)
    check(rc == -sig, f"exit status {rc}, expected death by signal {sig}")
    check(t_exit - t < BOUND, f"took {t_exit - t:.1f} s after the signal")
    for pat in expect:
        expect_err(run, pat)
    for actor, what in killed:
        expect_err(run, rf"daft: actor '{actor}' was running {what} when the program was interrupted: killed")
    # the actors ignored the terminal's SIGINT (they did not die of it); nothing waited 2 s
    no_err(run, r"signal 2|did not stop within|unobserved error")
    return run


class Ctx:
    def __init__(self, daftc, repl):
        self.daftc, self.repl = daftc, repl
        self.work = tempfile.mkdtemp(prefix="daft-signals.")
        self.tmp = os.path.join(self.work, "tmp")
        os.mkdir(self.tmp)
        self.runs = []
        self.shm = shm()

    def exe(self, name):
        out = os.path.join(self.work, name)
        if not os.path.exists(out):
            compile_prog(self.daftc, name, out)
        return out

    def env(self, extra=None):
        e = dict(os.environ, DAFT_DEVICE="cpu", TMPDIR=self.tmp, DAFT_STATS="", DAFT_TRACE="")
        e.update(extra or {})
        return e

    def start(self, argv, extra=None, stdin=None):
        run = Run(argv, self.env(extra), stdin)
        self.runs.append(run)
        return run

    def done(self, run, keep=()):
        nothing_left(run, self.tmp, self.shm, keep)

    def cleanup(self):
        for r in self.runs:
            r.kill()
            try:
                r.p.wait(5)
            except subprocess.TimeoutExpired:
                pass
        reap_children()
        subprocess.run(["rm", "-rf", self.work])


GET = r"daft: error: interrupted \(Ctrl-C\) in get, waiting for actor 'W#1' \(W\) method 'spin'"


def at(prog, line):
    return rf"  at \S*{prog}\.daft:{line}:\d+"


def sc_int_pid(c):
    run = interrupt(c, "spin", False, [GET, at("spin", 17)], [("W#1", "'spin'")])
    c.done(run)


def sc_int_group(c):
    trace = os.path.join(c.tmp, "trace.json")
    run = interrupt(c, "spin", True, [GET, at("spin", 17)], [("W#1", "'spin'")], {"DAFT_TRACE": trace})
    check(os.path.exists(trace), "no trace written after an interrupt")
    c.done(run, keep=["trace.json"])


def sc_int_group_tcp(c):
    run = interrupt(c, "spin", True, [GET, at("spin", 17)], [("W#1", "'spin'")], {"DAFT_TRANSPORT": "tcp"})
    c.done(run)


def sc_int_compiled(c):
    run = interrupt(c, "sched", True,
                    [r"daft: error: interrupted \(Ctrl-C\) in get, waiting for a result of compiled schedule 'two'",
                     at("sched", 27)], [("W#1", r"'spin' \(in a compiled plan\)")])
    c.done(run)


def sc_int_inflight(c):
    run = interrupt(c, "sched", True, [r"daft: error: interrupted \(Ctrl-C\)", at("sched", 23)],
                    [("W#1", r"'spin' \(in a compiled plan\)")], {"DAFT_SIG_MODE": "inflight"})
    check("not reached" not in run.text("out"), "the call waiting for a free slot went on")
    c.done(run)


def sc_int_wait(c):
    run = interrupt(c, "wait", True,
                    [r"daft: error: interrupted \(Ctrl-C\) in wait, waiting for actor 'W#1' \(W\) method 'spin'",
                     at("wait", 14)], [("W#1", "'spin'"), ("W#2", "'spin'")])
    c.done(run)


def sc_int_calls(c):
    """The driver waits for room in a busy actor's control channel (a call, not a get)."""
    run = interrupt(c, "calls", True, [r"daft: error: interrupted \(Ctrl-C\)", at("calls", 14)],
                    [("W#1", "'spin'")])
    c.done(run)


def sc_int_teardown(c):
    run = interrupt(c, "ends", True,
                    [r"daft: error: interrupted \(Ctrl-C\) while the program ended, waiting for its tasks"],
                    [("W#1", "'spin'")], after=1.0)
    c.done(run)


def sc_int_twice_loop(c):
    """The driver computes: the first Ctrl-C waits for its next runtime call, the second aborts."""
    run = c.start([c.exe("loop")])
    run.wait_line("out", "ready", 60)
    time.sleep(0.3)
    run.signal(signal.SIGINT, True)
    end = time.monotonic() + 1.0
    while time.monotonic() < end:
        run.pump(0.05)
    check(run.p.poll() is None, "the first Ctrl-C ended a driver that makes no runtime call")
    no_err(run, "interrupted")
    t = run.signal(signal.SIGINT, True)
    rc, t_exit = run.wait_exit(BOUND + 20)
    check(rc == -signal.SIGINT, f"exit status {rc}, expected death by SIGINT")
    check(t_exit - t < BOUND, f"took {t_exit - t:.1f} s after the second Ctrl-C")
    expect_err(run, r"daft: error: aborted by a second interrupt \(Ctrl-C\): the actors were killed")
    c.done(run)


def term(c, prog):
    run = interrupt(c, prog, False, [r"daft: error: terminated \(SIGTERM\): the actors were killed"], [],
                    sig=signal.SIGTERM)
    c.done(run)


def sc_term_get(c):
    term(c, "spin")


def sc_term_loop(c):
    term(c, "loop")


def failfast(c, mode, line):
    """get([slow, fails at once]) raises within FAST seconds; a list without errors keeps its order."""
    run = c.start([c.exe("failfast")], {"DAFT_SIG_MODE": mode})
    t = run.wait_line("out", "ready", 60)
    t_err = run.wait_line("err", r"daft: error: actor 'W#2' \(W\) method 'boom': boom 7", 60)
    check(t_err - t < FAST, f"get raised {t_err - t:.1f} s after the failed task was submitted")
    rc, _ = run.wait_exit(60)  # (the teardown waits 5 s for the slow task, then 2 s: SPEC 15.7)
    check(rc == 1, f"exit status {rc}, expected 1")
    check(run.text("out")[:2] == ["[24, 0, 295]", "ready"], f"stdout: {run.text('out')}")
    expect_err(run, at("failfast", line))
    c.done(run)


def sc_failfast(c):
    failfast(c, "tasks", 26)


def sc_failfast_compiled(c):
    failfast(c, "compiled", 32)


def sc_failfast_mixed(c):
    failfast(c, "mixed", 38)


def sc_failfast_repl(c):
    """The same in a daft-repl session, which goes on after the error."""
    src = os.path.relpath(os.path.join(HERE, "failfast.daft"), ROOT)
    with open(os.path.join(HERE, "failfast.script"), "rb") as script:
        run = c.start([c.repl, src], {"DAFT_REPL_HISTORY": ""}, stdin=script)
        t = run.wait_line("out", "ready", 60)
        t_err = run.wait_line("err", r"daft: error: actor 'W#2' \(W\) method 'boom': boom 7", 60)
        t_after = run.wait_line("out", "after", 60)
        rc, _ = run.wait_exit(60)
    check(t_err - t < FAST and t_after - t < FAST, f"get raised {t_err - t:.1f} s after the failed task was submitted")
    check(rc == 0, f"exit status {rc}")
    check(run.text("out")[:2] == ["[24, 0, 295]", "ready"], f"stdout: {run.text('out')}")
    c.done(run)


def main():
    if len(sys.argv) != 4:
        sys.exit("usage: signals.py DAFTC DAFT_REPL SCENARIO")
    daftc, repl, name = sys.argv[1:]
    fn = globals().get("sc_" + name.replace("-", "_"))
    if not fn:
        sys.exit(f"signals.py: no scenario {name}")
    libc = ctypes.CDLL(None, use_errno=True)
    PR_SET_CHILD_SUBREAPER = 36
    check(libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0, "cannot become a child subreaper")
    c = Ctx(os.path.abspath(daftc), os.path.abspath(repl))
    try:
        fn(c)
    except Fail as e:
        print(f"signals/{name}: FAILED: {e}")
        for r in c.runs:
            print("--- stdout:\n" + "\n".join(r.text("out")))
            print("--- stderr:\n" + "\n".join(r.text("err")))
        c.cleanup()
        sys.exit(1)
    c.cleanup()
    print(f"signals/{name}: ok")


if __name__ == "__main__":
    main()
