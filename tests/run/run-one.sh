#!/bin/sh
# usage: run-one.sh DAFTC NAME [VARIANT]    (from the repository root)
#
# End-to-end test of tests/run/NAME.daft (or examples/NAME.daft for NAME = examples/X):
#   NAME.daftc     the program must NOT compile: daftc's output and "exit: N" must equal it
#   NAME.ll        golden `daftc --emit=ll -O0` (target lines removed)
#   otherwise      compile with daftc (flags from a `// daftc-flags:` line), run the
#                  executable with DAFT_DEVICE=cpu and the variables of a
#                  `// daft-env: VAR=VALUE ...` line (which may set DAFT_DEVICE; @tmp in it is
#                  the test's scratch folder) and compare its stdout with
#                  NAME.expected; NAME.stderr (optional) lists lines that must appear in
#                  its stderr; NAME.exit (optional) the exit status (default 0);
#                  NAME.check (optional) a sh script given the stdout file, for outputs
#                  that are checked by a property rather than literally.
# A VARIANT runs the same program again with the variables of its `// daft-env-VARIANT:` line
# instead, against NAME.VARIANT.expected (and .stderr, .exit, .check).
# Expected files hold values computed independently of daft (by hand or by Python, see
# the comments in the tests). UPDATE=1 rewrites NAME.daftc and NAME.ll.
set -u
daftc=$1 name=$2 variant=${3:-}
case $name in
  examples/*) src=$name.daft; exp=tests/run/$(basename "$name").example ;;
  *) src=tests/run/$name.daft; exp=tests/run/$name ;;
esac
exp=$exp${variant:+.$variant}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/daft-run.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT INT TERM
flags=$(sed -n 's|^// daftc-flags: ||p' "$src" | head -n 1)
envs=$(sed -n "s|^// daft-env${variant:+-$variant}: ||p" "$src" | head -n 1 | sed "s|@tmp|$tmp|g")

if [ -f "$exp.daftc" ]; then
  actual=$("$daftc" $flags "$src" -o "$tmp/prog" 2>&1; echo "exit: $?")
  if [ "${UPDATE:-0}" = 1 ]; then printf '%s\n' "$actual" > "$exp.daftc"; exit 0; fi
  printf '%s\n' "$actual" | diff -u "$exp.daftc" - || { echo "run/$name: daftc output differs"; exit 1; }
  exit 0
fi

if [ -f "$exp.ll" ]; then
  "$daftc" --emit=ll -O0 $flags "$src" -o "$tmp/out.ll" || { echo "run/$name: daftc --emit=ll failed"; exit 1; }
  grep -v -e '^target datalayout' -e '^target triple' "$tmp/out.ll" > "$tmp/out.stable.ll"
  if [ "${UPDATE:-0}" = 1 ]; then cp "$tmp/out.stable.ll" "$exp.ll"; exit 0; fi
  diff -u "$exp.ll" "$tmp/out.stable.ll" || { echo "run/$name: IR differs"; exit 1; }
  exit 0
fi

"$daftc" $flags "$src" -o "$tmp/prog" || { echo "run/$name: daftc failed"; exit 1; }
env DAFT_DEVICE=cpu $envs timeout 200 "$tmp/prog" > "$tmp/stdout" 2> "$tmp/stderr"
status=$?
want_status=0
[ -f "$exp.exit" ] && want_status=$(cat "$exp.exit")
fail=0
if [ -f "$exp.check" ]; then
  sh "$exp.check" "$tmp/stdout" || { echo "run/$name: $exp.check failed"; fail=1; }
fi
if [ -f "$exp.expected" ]; then
  diff -u "$exp.expected" "$tmp/stdout" || { echo "run/$name: stdout differs"; fail=1; }
fi
if [ -f "$exp.stderr" ]; then
  while IFS= read -r line; do
    grep -qxF -- "$line" "$tmp/stderr" || { echo "run/$name: stderr lacks: $line"; fail=1; }
  done < "$exp.stderr"
fi
if [ "$status" != "$want_status" ]; then
  echo "run/$name: exit status $status, expected $want_status"; fail=1
fi
if [ $fail != 0 ]; then
  echo "--- stderr:"; cat "$tmp/stderr"
fi
exit $fail
