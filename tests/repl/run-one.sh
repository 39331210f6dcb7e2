#!/bin/sh
# usage: run-one.sh DAFT_REPL NAME    (from the repository root)
#
# A scripted REPL session: `daft-repl --echo tests/repl/NAME.daft < tests/repl/NAME.script`
# in CPU-only mode (DAFT_REPL_TEST_DEVICE=gpu: on GPUs), standard output and standard error together, must equal
# tests/repl/NAME.expected (the inputs appear after their prompts thanks to --echo).
# Lines of the form `:dot NAME FILE` or `:trace on FILE` may write under $REPL_TMP (the
# script is run with REPL_TMP replaced by a scratch directory). NAME.anywhere (optional)
# lists lines whose place in the transcript is a race (another process's standard error, a
# note printed when the driver happens to learn something): each must appear, and they are
# taken out before the comparison. NAME.env (optional) holds VAR=VALUE lines set in the
# session's environment. UPDATE=1 rewrites NAME.expected.
set -u
repl=$1 name=$2
dir=tests/repl
tmp=$(mktemp -d "${TMPDIR:-/tmp}/daft-repl-test.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT INT TERM
sed "s|\\\$REPL_TMP|$tmp|g" "$dir/$name.script" > "$tmp/script"
file=$dir/$name.daft
[ -f "$file" ] || file=
# (the transcript is the session's own: no statistics table an exported DAFT_STATS would add)
vars=
[ -f "$dir/$name.env" ] && vars=$(cat "$dir/$name.env")
env $vars DAFT_DEVICE=${DAFT_REPL_TEST_DEVICE:-cpu} DAFT_REPL_HISTORY= DAFT_STATS= timeout 160 "$repl" --echo $file < "$tmp/script" > "$tmp/out" 2>&1
status=$?
sed "s|$tmp|\\\$REPL_TMP|g" "$tmp/out" > "$tmp/actual"
echo "exit: $status" >> "$tmp/actual"
if [ -f "$dir/$name.anywhere" ]; then
  while IFS= read -r line; do
    grep -qxF -- "$line" "$tmp/actual" || { echo "repl/$name: missing line: $line"; cat "$tmp/actual"; exit 1; }
  done < "$dir/$name.anywhere"
  grep -vxF -f "$dir/$name.anywhere" "$tmp/actual" > "$tmp/ordered"
  mv "$tmp/ordered" "$tmp/actual"
fi
if [ -f "$dir/$name.check" ]; then
  sh "$dir/$name.check" "$tmp" || { echo "repl/$name: $name.check failed"; cat "$tmp/actual"; exit 1; }
fi
if [ "${UPDATE:-0}" = 1 ]; then cp "$tmp/actual" "$dir/$name.expected"; exit 0; fi
diff -u "$dir/$name.expected" "$tmp/actual" || { echo "repl/$name: transcript differs"; exit 1; }
# Teardown leaves no actor processes behind (SPEC §15.7).
exit 0
