#!/bin/sh
# bench/scalar/compile_time.sh — daftc compile time (wall seconds, median of 3) for each
# examples/*.daft to a native executable: `daftc examples/X.daft -o TMP` (default -O2;
# includes compiling linked C kernels, the signature check, code generation and the link).
#
#   bench/scalar/compile_time.sh [DAFTC]   DAFTC: default $DAFTC, else build/compiler/daftc
set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
daftc=${1:-${DAFTC:-$root/build/compiler/daftc}}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/daft-ct.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT INT TERM
cd "$root" || exit 1
echo "| example | lines | runs (s) | median (s) |"
echo "|---|---|---|---|"
status=0
for f in examples/*.daft; do
  runs=""
  for i in 1 2 3; do
    t0=$(date +%s.%N)
    "$daftc" "$f" -o "$tmp/x" 2> "$tmp/err" || { echo "| $f | FAILED: $(head -n 1 "$tmp/err") |"; status=1; continue 2; }
    t1=$(date +%s.%N)
    runs="$runs $(echo "$t0 $t1" | awk '{printf "%.3f", $2 - $1}')"
  done
  med=$(echo $runs | tr ' ' '\n' | sort -n | sed -n 2p)
  echo "| $(basename "$f" .daft) | $(wc -l < "$f") | $(echo $runs | sed 's/ /, /g') | $med |"
done
echo "(load average: $(cut -d' ' -f1-3 /proc/loadavg))"
exit $status
