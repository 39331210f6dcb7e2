# --emit=ast writes to -o FILE like the other dumps; it printed to standard output and
# made no file.
. tests/cli/lib.sh
"$daftc" --emit=ast $ok > "$tmp/stdout"
expect "exit: 0" "$daftc" --emit=ast -o "$tmp/ast.txt" $ok
[ -s "$tmp/stdout" ] && cmp -s "$tmp/stdout" "$tmp/ast.txt" || { echo "FAIL: --emit=ast -o"; failures=$((failures + 1)); }
expect "daftc: error: cannot write '/dev/full': No space left on device
1 error generated.
exit: 1" "$daftc" --emit=ast -o /dev/full $ok
finish
