#!/bin/sh
# usage: run-one.sh DAFTC NAME   (from the repository root)
# Compares `daftc --check tests/diag/NAME.daft` (stdout and stderr, then "exit: N") with
# tests/diag/NAME.expected. With UPDATE=1 it rewrites the expected file instead.
daftc=$1 name=$2
dir=tests/diag
flags=$(sed -n 's|^// daftc-flags: ||p' "$dir/$name.daft" | head -n 1)
actual=$("$daftc" --check $flags "$dir/$name.daft" 2>&1; echo "exit: $?")
if [ "${UPDATE:-0}" = 1 ]; then
  printf '%s\n' "$actual" > "$dir/$name.expected"
  exit 0
fi
printf '%s\n' "$actual" | diff -u "$dir/$name.expected" - || { echo "diag/$name: output differs"; exit 1; }
