# SPEC 18.1: kernel files after FILE.daft must exist in every mode (--check ignored a missing
# one, exit 0); --emit=obj writes FILE.o by default; -h is --help and is listed there.
. tests/cli/lib.sh
missing="daftc: error: cannot find linked file '$tmp/none.c'
1 error generated.
exit: 1"
expect "$missing" "$daftc" --check $ok "$tmp/none.c"
expect "$missing" "$daftc" --emit=ll -o "$tmp/ok.ll" $ok "$tmp/none.c"
expect "$missing" "$daftc" -o "$tmp/prog" $ok "$tmp/none.c"
echo 'int unused_kernel(void) { return 0; }' > "$tmp/k.c"
expect "exit: 0" "$daftc" --check $ok "$tmp/k.c"

# --emit=obj without -o: FILE.o in the current directory.
root=$PWD
expect "exit: 0" sh -c 'cd "$1" && "$0" --emit=obj "$2"' "$daftc" "$tmp" "$root/$ok"
[ -s "$tmp/ok.o" ] || { echo "FAIL: --emit=obj made no ok.o"; failures=$((failures + 1)); }

"$daftc" --help > "$tmp/help"
expect "exit: 0" sh -c '"$0" -h | cmp -s - "$1"' "$daftc" "$tmp/help"
grep -q '^  -h, --help ' "$tmp/help" || { echo "FAIL: --help does not list -h"; failures=$((failures + 1)); }
finish
