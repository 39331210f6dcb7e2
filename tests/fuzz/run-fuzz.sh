#!/bin/sh
# Runs the libFuzzer binary for ctest (see README.md).
#
#   run-fuzz.sh FUZZER SECONDS [ARTIFACT_DIR]   fuzz for SECONDS, starting from a temporary
#                                               copy of corpus/ and regressions/ (the
#                                               committed files are never modified); crash,
#                                               leak and timeout inputs go to ARTIFACT_DIR
#   run-fuzz.sh FUZZER replay                   run every corpus and regression input once
#                                               under ASan + UBSan + LeakSanitizer
#
# Exit status: 0 clean, 77 (ctest: skipped) when FUZZER is not built, else the fuzzer's.
set -u
here=$(cd "$(dirname "$0")" && pwd)
fuzzer=$1
mode=${2:-60}

if [ ! -x "$fuzzer" ]; then
  echo "run-fuzz.sh: $fuzzer is not built (cmake --build <build> --target fuzz_frontend)"
  exit 77
fi

# Leaks are bugs; UB stops the run; report stacks.
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:allocator_may_return_null=0}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"

if [ "$mode" = replay ]; then
  # libFuzzer runs each file named on the command line once, in order.
  set -- $(find "$here/corpus" "$here/regressions" -type f ! -name README.md ! -name '.*' | sort)
  exec "$fuzzer" -timeout=25 -rss_limit_mb=2048 "$@"
fi

artifacts=${3:-$PWD/fuzz-artifacts}
mkdir -p "$artifacts"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/daft-fuzz.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT INT TERM
mkdir "$tmp/corpus"
cp "$here"/corpus/* "$tmp/corpus/"
find "$here/regressions" -type f ! -name README.md ! -name '.*' -exec cp {} "$tmp/corpus/" \;

# -timeout: a legitimate input may take seconds (regressions/scan_nested_comprehension.daft
# unrolls the scan's full 2^20-element budget: ~2 s alone under ASan + coverage), and ctest
# runs this beside other tests on a 2-core CI machine; 5 s failed there under load. The
# hangs this catches are unbounded (2^40 unrolls), so 25 s (as replay uses) loses none.
"$fuzzer" -max_total_time="$mode" -timeout=25 -rss_limit_mb=2048 -max_len=65536 \
  -dict="$here/daft.dict" -print_final_stats=1 -artifact_prefix="$artifacts/" \
  "$tmp/corpus"
rc=$?
if [ $rc -ne 0 ]; then
  echo "run-fuzz.sh: the fuzzer failed (exit $rc); reproducer in $artifacts/:"
  ls -l "$artifacts"
  echo "Replay it with: $fuzzer $artifacts/<file>; once fixed, copy it to tests/fuzz/regressions/."
fi
exit $rc
