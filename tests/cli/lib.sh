# Sourced by tests/cli/*.sh with daftc as $1. `expect WANT CMD...` runs CMD and compares
# its stderr and stdout, then "exit: N", with WANT (a string of lines); failures are
# counted and the script ends with `finish`. $tmp is a scratch folder, removed at exit.
daftc=$1
case $daftc in /*) ;; *) daftc=$PWD/$daftc ;; esac
ok=tests/cli/ok.daft
tmp=$(mktemp -d "${TMPDIR:-/tmp}/daft-cli.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT INT TERM
failures=0

expect() {
  want=$1
  shift
  got=$("$@" 2>&1; echo "exit: $?")
  if [ "$got" != "$want" ]; then
    echo "FAIL: $*"
    printf '%s\n' "$want" > "$tmp/want"
    printf '%s\n' "$got" > "$tmp/got"
    diff -u "$tmp/want" "$tmp/got"
    failures=$((failures + 1))
  fi
}

finish() {
  [ "$failures" = 0 ] || { echo "$failures failed"; exit 1; }
  exit 0
}
