# The object file's write errors are diagnostics (SPEC 18.1: exit status 1): writing it to a
# full disk aborted in LLVM ("LLVM ERROR: IO failure on output stream", exit 134).
. tests/cli/lib.sh
expect "daftc: error: cannot write '/dev/full': No space left on device
1 error generated.
exit: 1" "$daftc" --emit=obj -o /dev/full $ok
expect "daftc: error: cannot write '/proc/x.o': No such file or directory
1 error generated.
exit: 1" "$daftc" --emit=obj -o /proc/x.o $ok

# The object written from memory is complete: it links into a working executable.
expect "exit: 0" "$daftc" --emit=obj -o "$tmp/ok.o" $ok
expect "exit: 0" "$daftc" -o "$tmp/ok" $ok
expect "1 42
exit: 0" env DAFT_DEVICE=cpu "$tmp/ok"
finish
