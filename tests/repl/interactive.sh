#!/bin/sh
# usage: interactive.sh DAFT_REPL    (from the repository root)
#
# Drives the real terminal program through tmux (a pseudo-terminal): tab completion of a
# class and of a method, line editing (Ctrl-A, Left, Backspace, Ctrl-E), history (Up),
# a continuation line, Ctrl-C at the prompt, Ctrl-C during a blocking get (the session goes
# on), :kill and :quit. Every step polls capture-pane with a deadline; no fixed sleeps
# decide the outcome. Exit 77 (skipped) without tmux.
set -u
command -v tmux >/dev/null 2>&1 || { echo "tmux is not installed: skipped"; exit 77; }
repl=$1
tmp=$(mktemp -d "${TMPDIR:-/tmp}/daft-repl-tty.XXXXXX") || exit 1
sock=daft-repl-test-$$
tm() { tmux -L "$sock" "$@"; }
cleanup() { tm kill-server >/dev/null 2>&1; rm -rf "$tmp"; }
trap cleanup EXIT INT TERM

tm -f /dev/null new-session -d -s s -x 160 -y 60 \
  "env DAFT_DEVICE=cpu DAFT_REPL_HISTORY= TERM=xterm LSAN_OPTIONS=suppressions=$PWD/tests/repl/lsan.supp '$repl' tests/repl/interactive.daft; echo REPL-EXITED=\$?; sleep 600" ||
  { echo "tmux cannot start a session: skipped"; exit 77; }

screen() { tm capture-pane -t s -p -S -500 > "$tmp/screen" 2>/dev/null; }
fail() { echo "interactive: $1"; echo "---- screen ----"; cat "$tmp/screen"; exit 1; }
# wait_for MODE TEXT [COUNT] [SECONDS]: MODE x = a whole line, s = a substring; until the
# screen has at least COUNT such lines.
wait_for() {
  mode=$1 text=$2 count=${3:-1} secs=${4:-30}
  end=$(( $(date +%s) + secs ))
  while :; do
    screen
    n=$(grep -c -F -$mode -- "$text" "$tmp/screen")
    [ "$n" -ge "$count" ] && return 0
    [ "$(date +%s)" -ge "$end" ] && fail "timed out waiting for '$text' (x$count)"
    sleep 0.1
  done
}
send() { tm send-keys -t s "$@"; }
# wait_prompt: until the REPL waits for input again (its last line is an empty prompt). Keys
# typed while it is still busy are echoed by the terminal in cooked mode (a Tab as spaces),
# which garbles the line that a later wait_for looks for.
wait_prompt() {
  end=$(( $(date +%s) + 30 ))
  while :; do
    screen
    [ "$(grep -v '^ *$' "$tmp/screen" | tail -n 1)" = "daft>" ] && return 0
    [ "$(date +%s)" -ge "$end" ] && fail "timed out waiting for an empty prompt"
    sleep 0.1
  done
}

wait_for s "Type :help for help"
wait_prompt
# tab completion: a class name, then a method of an actor binding
send 'let w = spawn Sle' Tab
wait_for x 'daft> let w = spawn Sleeper'
send '(1)' '\;' Enter
wait_for x 'daft> let w = spawn Sleeper(1);'
wait_prompt
send 'get(w.pi' Tab
wait_for x 'daft> get(w.ping('
send '5))' Enter
wait_for x '1005'
wait_prompt
# editing: insert at the start, move, delete, end of line
send 'rint(123456)' C-a 'p' C-e Left BSpace BSpace '00' C-e '\;' Enter
wait_for x 'daft> print(123400);'
wait_for x '123400'
wait_prompt
# history: Up recalls the last input
send Up
wait_for x 'daft> print(123400);' 2
send Enter
wait_for x '123400' 2
wait_prompt
# a continuation line
send 'let xs = [1, 2,' Enter
wait_for x '....>'
send '3, 4]' '\;' Enter
wait_for x '....> 3, 4];'
wait_prompt
send 'print(len(xs) * 1111)' '\;' Enter
wait_for x '4444'
wait_prompt
# Ctrl-C at the prompt drops the line being typed
send 'this is not daft' C-c
wait_for x 'daft> ^C'
send 'print(5 * 5)' '\;' Enter
wait_for x '25'
wait_prompt
# Ctrl-C during a blocking get: the get fails, the session and the actor go on
send 'let h = w.hang()' '\;' Enter
wait_for x 'daft> let h = w.hang();'
wait_prompt
send 'get(h)' Enter
wait_for x 'daft> get(h)'
# the get is blocking: no new prompt comes after it (checked for a moment), then interrupt it
sleep 0.5
screen
after=$(sed -n '/^daft> get(h)$/,$p' "$tmp/screen" | tail -n +2 | grep -c '^daft>')
[ "$after" -eq 0 ] || fail "get(h) did not block (a new prompt came after it)"
send C-c
wait_for s 'daft: error: get: interrupted (Ctrl-C)'
wait_prompt
send ':actors' Enter
wait_for s 'Sleeper#1      Sleeper'
wait_prompt
send ':kill w' Enter
wait_for x 'killed Sleeper#1'
wait_prompt
send 'get(h)' Enter
wait_for s "daft: error: actor 'Sleeper#1' (Sleeper) died while running 'hang'"
wait_prompt
send 'let v = spawn Sleeper(2)' '\;' Enter
wait_for x 'daft> let v = spawn Sleeper(2);'
wait_prompt
send 'get(v.ping(7))' Enter
wait_for x '2007'
wait_prompt
send ':quit' Enter
wait_for x 'REPL-EXITED=0' 1 30
echo "interactive: ok"
exit 0
