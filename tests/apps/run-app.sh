#!/bin/sh
# usage: run-app.sh DAFTC NAME[:EXPECTED] [VAR=VALUE ...]     (from the repository root)
#
# End-to-end check of the application example examples/NAME.daft (issue 8): compile it with
# daftc, run it with DAFT_DEVICE=cpu (and the given variables), and compare its standard
# output with tests/apps/NAME.expected (computed independently by tests/apps/ref.py, never
# by daft) through tests/apps/compare.py (numbers within float tolerance, integers exact).
# Unless DAFT_SCHEDULE_COLLECTIVES=interpreted is given, it also requires (through
# DAFT_SCHEDULE_LOG=1 and DAFT_SCHEDULE_CHECK=1) that every compiled schedule of NAME ran as
# a compiled plan, the one daftc embedded, and not the interpreted fallback. With :EXPECTED
# the output is compared with tests/apps/EXPECTED.expected instead (a run with other
# variables); RESULT lines (timings, DAFT_APP_TIMING=1) are left out of the comparison.
set -u
daftc=$1 name=${2%%:*} expect=${2#*:}
shift 2
here=$(dirname "$0")
tmp=$(mktemp -d "${TMPDIR:-/tmp}/daft-app.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT INT TERM
"$daftc" "examples/$name.daft" -o "$tmp/prog" || { echo "apps/$name: daftc failed"; exit 1; }
env DAFT_SCHEDULE_LOG=1 DAFT_SCHEDULE_CHECK=1 "$@" DAFT_DEVICE=cpu timeout 50 "$tmp/prog" \
  > "$tmp/out" 2> "$tmp/err"
st=$?
fail=0
[ $st = 0 ] || { echo "apps/$name: exit status $st"; fail=1; }
grep -v '^RESULT' "$tmp/out" > "$tmp/checked"
python3 "$here/compare.py" "$here/$expect.expected" "$tmp/checked" || { echo "apps/$name: output differs from $here/$expect.expected"; fail=1; }
interp=0
for v in "$@"; do [ "$v" = DAFT_SCHEDULE_COLLECTIVES=interpreted ] && interp=1; done
# a compiled schedule called only from compiled schedules is traced into them (SPEC 11.3,
# rule 8) and never runs by itself: its callers are checked instead
inline_only() {
  awk -v s="$1" '
    /^(@[a-z]*\([A-Z_0-9]*\) *)*compiled schedule / { inc = 1 }
    inc == 0 && index($0, s "(") && $0 !~ ("schedule " s "\\(") { other = 1 }
    { n = gsub(/{/, "{"); m = gsub(/}/, "}"); depth += n - m; if (inc && depth == 0 && m) inc = 0 }
    END { exit other || depth != 0 }' "examples/$name.daft" # (unbalanced braces: check it)
}
for s in $(sed -n 's/^\(@[a-z]*([A-Z_0-9]*) *\)*compiled schedule \([A-Za-z_0-9]*\).*/\2/p' "examples/$name.daft"); do
  inline_only "$s" && continue
  if [ $interp = 0 ]; then
    grep -q "^daft: schedule '$s': compiled plan (embedded)" "$tmp/err" ||
      { echo "apps/$name: compiled schedule '$s' did not run as its embedded compiled plan"; fail=1; }
  else
    grep -q "^daft: schedule '$s': interpreted\|^daft: schedule '$s': compiled plan" "$tmp/err" ||
      { echo "apps/$name: schedule '$s' never ran"; fail=1; }
  fi
done
if [ $fail != 0 ]; then
  echo "--- stdout:"; cat "$tmp/out"; echo "--- stderr:"; cat "$tmp/err"
fi
exit $fail
