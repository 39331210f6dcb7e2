# Usage errors (exit status 2) say what is wrong: an option given without its =VALUE said
# "unknown option", and a second input that is no kernel file "more than one input file".
. tests/cli/lib.sh
usage="usage: daftc [options] FILE.daft (see daftc --help)
exit: 2"
expect "daftc: error: missing value for '--emit' (write --emit=ast, plan, ll or obj)
$usage" "$daftc" --emit $ok
expect "daftc: error: missing value for '--diagnostics-format' (write --diagnostics-format=text or json)
$usage" "$daftc" --diagnostics-format $ok
expect "daftc: error: missing value for '--error-limit' (write --error-limit=N, 0 for no limit)
$usage" "$daftc" --error-limit $ok
expect "daftc: error: invalid error limit '-3' (expected a number of errors, 0 for no limit)
$usage" "$daftc" --error-limit=-3 $ok
expect "daftc: error: unsupported input file type 'foo.txt' (inputs after FILE.daft are kernels: .c, .cu, .o, .a or .so)
$usage" "$daftc" --check $ok foo.txt
expect "daftc: error: more than one input file ('b.daft')
$usage" "$daftc" --check $ok b.daft
expect "daftc: error: unknown option '--bogus'
$usage" "$daftc" --bogus $ok
expect "daftc: error: missing file name after '-o'
$usage" "$daftc" $ok -o
finish
