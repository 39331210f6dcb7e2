#!/bin/sh
# bench/scalar/run.sh — scalar codegen: the kernels of scalar.daft compiled by daftc (-O2,
# its default) against the same functions in C (scalar.c, cc -O2), each program run 5
# times, alternating; per kernel the median of the 5 in-process timings (seconds, the
# kernel alone: no runtime start-up). Results of both must agree (checked).
#
#   bench/scalar/run.sh [DAFTC]      DAFTC: default $DAFTC, else build/compiler/daftc
#
# Prints a table (kernel, result, daft s, C s, daft/C) and, for bench/run (workload C1),
# one line per kernel and side:  RESULT <tab> C1 <tab> daft|c <tab> KERNEL <tab> median_s <tab> S
# Exit status 1 when a build or run fails or the results differ.
set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
daftc=${1:-${DAFTC:-$root/build/compiler/daftc}}
reps=${SCALAR_REPS:-5}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/daft-scalar.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT INT TERM

"$daftc" "$here/scalar.daft" -o "$tmp/scalar_daft" || { echo "FAILED	daftc $here/scalar.daft"; exit 1; }
${CC:-cc} -O2 -ffp-contract=off "$here/scalar.c" -o "$tmp/scalar_c" || { echo "FAILED	cc scalar.c"; exit 1; }

i=0
while [ "$i" -lt "$reps" ]; do
  DAFT_DEVICE=cpu "$tmp/scalar_daft" | sed 's/^\[[^]]*\] //' | sed 's/^/daft /' >> "$tmp/runs" || exit 1
  "$tmp/scalar_c" | sed 's/^/c /' >> "$tmp/runs" || exit 1
  i=$((i + 1))
done

# runs: "side kernel result seconds"
awk -v reps="$reps" '
function median(key,   n, i, j, t, a) {
  n = cnt[key]
  for (i = 1; i <= n; i++) a[i] = v[key, i]
  for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
  return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
}
{
  key = $1 SUBSEP $2
  v[key, ++cnt[key]] = $4
  if (!($2 in seen)) { seen[$2] = 1; order[++nk] = $2 }
  res[$1, $2] = $3
}
END {
  bad = 0
  printf "| kernel | result | daft (s) | C -O2 (s) | daft/C |\n|---|---|---|---|---|\n"
  for (k = 1; k <= nk; k++) {
    name = order[k]; d = median("daft" SUBSEP name); c = median("c" SUBSEP name)
    if (res["daft", name] != res["c", name]) { bad = 1; printf "FAILED\t%s: daft %s, C %s\n", name, res["daft", name], res["c", name] }
    printf "| %s | %s | %.4f | %.4f | %.2f |\n", name, res["daft", name], d, c, d / c
    out = out sprintf("RESULT\tC1\tdaft\t%s\tmedian_s\t%.6f\nRESULT\tC1\tc\t%s\tmedian_s\t%.6f\n", name, d, name, c)
  }
  printf "(median of %d runs each)\n%s", reps, out
  exit bad
}' "$tmp/runs"
