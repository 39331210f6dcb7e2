#!/bin/sh
# usage: run-one.sh DAFTC SOURCE.daft EXPECTED.plan   (from the repository root)
# Compares `daftc --emit-plan SOURCE` (stdout and stderr, then "exit: N") with EXPECTED.
# Flags come from a `// daftc-flags: ...` line in the source. For a successful plan it also
# checks that --emit-plan=json parses and --emit-plan=dot renders (when python3 and
# Graphviz are installed). With UPDATE=1 it rewrites EXPECTED instead.
daftc=$1 src=$2 expected=$3
flags=$(sed -n 's|^// daftc-flags: ||p' "$src" | head -n 1)
actual=$("$daftc" --emit-plan $flags "$src" 2>&1; echo "exit: $?")
if [ "${UPDATE:-0}" = 1 ]; then
  printf '%s\n' "$actual" > "$expected"
  exit 0
fi
printf '%s\n' "$actual" | diff -u "$expected" - || { echo "plan $src: output differs"; exit 1; }
case "$actual" in *"exit: 0") ;; *) exit 0 ;; esac
if command -v python3 >/dev/null 2>&1; then
  "$daftc" --emit-plan=json $flags "$src" | python3 -m json.tool >/dev/null ||
    { echo "plan $src: JSON does not parse"; exit 1; }
fi
if command -v dot >/dev/null 2>&1; then
  "$daftc" --emit-plan=dot $flags "$src" | dot -Tsvg >/dev/null ||
    { echo "plan $src: DOT does not render"; exit 1; }
fi
exit 0
