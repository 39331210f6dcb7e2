# Write errors of the dumps (--emit=ll|ast, --emit-plan), to -o FILE or to standard output,
# are errors naming the file and the reason, exit status 1 (SPEC 18.1); they were ignored
# (exit 0). --help's output is checked too.
. tests/cli/lib.sh
full="daftc: error: cannot write '/dev/full': No space left on device
1 error generated.
exit: 1"
for emit in --emit=ll --emit-plan --emit-plan=json; do
  expect "$full" "$daftc" $emit -o /dev/full $ok
done
expect "daftc: error: cannot write '/proc/x.ll': No such file or directory
1 error generated.
exit: 1" "$daftc" --emit=ll -o /proc/x.ll $ok

stdout_full="daftc: error: cannot write to standard output: No space left on device
1 error generated.
exit: 1"
for emit in --emit=ll --emit=ast --emit-plan --emit-plan=json --emit-plan=dot; do
  expect "$stdout_full" sh -c '"$0" "$1" "$2" > /dev/full' "$daftc" $emit $ok
done
expect "daftc: error: cannot write to standard output: No space left on device
exit: 1" sh -c '"$0" --help > /dev/full' "$daftc"
expect "exit: 1" sh -c '"$0" --diagnostics-format=json tests/diag/sema_arg_type.daft > /dev/full 2>&1' "$daftc"

# Dumps written with -o hold what standard output gets.
for emit in --emit=ll --emit-plan; do
  "$daftc" $emit $ok > "$tmp/stdout"
  expect "exit: 0" "$daftc" $emit -o "$tmp/file" $ok
  cmp -s "$tmp/stdout" "$tmp/file" || { echo "FAIL: $emit -o differs from stdout"; failures=$((failures + 1)); }
done
finish
