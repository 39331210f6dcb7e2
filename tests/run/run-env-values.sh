#!/bin/sh
# usage: run-env-values.sh DAFTC    (from the repository root)
# SPEC 17: DAFT_DEVICE is cpu or gpu, DAFT_TRANSPORT auto, shm or tcp, DAFT_WAIT_REPORT a
# number of seconds; any other value is a start-up error (one line on stderr, exit status 1,
# nothing run); an empty value counts as unset (the default). Each case: the environment, then the exact stdout, stderr and status.
# DAFT_DEVICE=bogus, Cpu or empty used to run in GPU mode, DAFT_TRANSPORT=auto warned.
set -u
daftc=$1
tmp=$(mktemp -d "${TMPDIR:-/tmp}/daft-env.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT INT TERM
"$daftc" tests/run/env_values.daft -o "$tmp/prog" || { echo "daftc failed"; exit 1; }
fail=0
check() { # DEVICE TRANSPORT STDOUT STDERR STATUS
  env DAFT_DEVICE="$1" DAFT_TRANSPORT="$2" timeout 60 "$tmp/prog" > "$tmp/out" 2> "$tmp/err"
  st=$?
  if [ "$(cat "$tmp/out")" != "$3" ] || [ "$(cat "$tmp/err")" != "$4" ] || [ $st != "$5" ]; then
    echo "DAFT_DEVICE='$1' DAFT_TRANSPORT='$2': got status $st, stdout:"; cat "$tmp/out"
    echo "stderr:"; cat "$tmp/err"; echo "expected status $5, stdout '$3', stderr '$4'"
    fail=1
  fi
}
check cpu auto "ran 1" "" 0
check cpu "" "ran 1" "" 0
check "" shm "ran 1" "" 0
check gpu tcp "ran 1" "" 0
check bogus "" "" "daft: DAFT_DEVICE=bogus is not known (cpu, gpu)" 1
check Cpu auto "" "daft: DAFT_DEVICE=Cpu is not known (cpu, gpu)" 1
check cpu udp "" "daft: DAFT_TRANSPORT=udp is not known (auto, shm, tcp)" 1
# DAFT_WAIT_REPORT is a number of seconds >= 0: a typo used to be read by atof, so "abc"
# (0) silently turned the reports of long waits off and "1m" meant 1 s.
check_wr() { # VALUE STDOUT STDERR STATUS
  env DAFT_DEVICE=cpu DAFT_WAIT_REPORT="$1" timeout 60 "$tmp/prog" > "$tmp/out" 2> "$tmp/err"
  st=$?
  if [ "$(cat "$tmp/out")" != "$2" ] || [ "$(cat "$tmp/err")" != "$3" ] || [ $st != "$4" ]; then
    echo "DAFT_WAIT_REPORT='$1': got status $st, stdout:"; cat "$tmp/out"
    echo "stderr:"; cat "$tmp/err"; echo "expected status $4, stdout '$2', stderr '$3'"
    fail=1
  fi
}
check_wr 0 "ran 1" "" 0
check_wr 2.5 "ran 1" "" 0
check_wr "" "ran 1" "" 0
check_wr abc "" "daft: DAFT_WAIT_REPORT=abc is not a number of seconds (0: never)" 1
check_wr 1m "" "daft: DAFT_WAIT_REPORT=1m is not a number of seconds (0: never)" 1
check_wr -5 "" "daft: DAFT_WAIT_REPORT=-5 is not a number of seconds (0: never)" 1
exit $fail
