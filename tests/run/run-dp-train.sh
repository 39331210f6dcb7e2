#!/bin/sh
# usage: run-dp-train.sh DAFTC REF [VAR=VALUE ...]   (from the repository root)
# Compiles examples/dp_train.daft, runs it with DAFT_DEVICE=cpu (and the given variables)
# and compares every "step S loss L" line with dp_train_ref (an independent C computation
# of the same math): relative difference at most 1e-4 (the program trains in f32).
set -u
daftc=$1 ref=$2
shift 2
tmp=$(mktemp -d "${TMPDIR:-/tmp}/daft-dp.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT INT TERM
"$daftc" examples/dp_train.daft -o "$tmp/prog" || { echo "daftc failed"; exit 1; }
"$ref" > "$tmp/ref" || { echo "reference failed"; exit 1; }
env "$@" DAFT_DEVICE=cpu timeout 60 "$tmp/prog" > "$tmp/out" 2> "$tmp/err"
st=$?
[ $st = 0 ] || { echo "dp_train exited with status $st"; cat "$tmp/err"; exit 1; }
paste -d' ' "$tmp/out" "$tmp/ref" | awk '
  NF != 8 || $1 != "step" || $5 != "step" || $2 != $6 { print "line " NR " malformed: " $0; bad = 1; next }
  { d = $4 - $8; if (d < 0) d = -d; m = $8 < 0 ? -$8 : $8;
    if (d > 1e-4 * m) { print "step " $2 ": loss " $4 ", reference " $8; bad = 1 } n++ }
  END { if (n != 20) { print n " steps compared, expected 20"; bad = 1 } exit bad }'
