# Input files that cannot be read are named with the reason.
. tests/cli/lib.sh
# fopen accepts a directory and fread fails with EISDIR: it said 'Input/output error'.
expect "daftc: error: cannot read 'tests/cli': Is a directory
1 error generated.
exit: 1" "$daftc" --check tests/cli
expect "daftc: error: cannot read 'tests/cli/none.daft': No such file or directory
1 error generated.
exit: 1" "$daftc" --check tests/cli/none.daft
finish
